// A digest of one table's content, for comparing replicas.
#pragma once

#include <SQLiteCpp/Database.h>
#include <clusterlite/table_operations.h>

#include <string>

namespace clusterlite {

// Reads the whole table through the plugin (in id order, one read
// transaction) and returns JSON: {"table", "rows", "checksum", "offsets"},
// where offsets are the applied offsets of `topic` in the same snapshot.
// Replicas that applied the same offsets report the same checksum.
std::string table_checksum(SQLite::Database& db, TableOperations& plugin, const std::string& topic);

}  // namespace clusterlite
