#include "apply/checksum.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <optional>

namespace clusterlite {
namespace {

// 128-bit FNV-1a style digest from two independent 64-bit lanes. Not
// cryptographic: it detects replicas that differ, it does not resist forgery.
struct Digest {
  uint64_t a = 0xcbf29ce484222325ULL;
  uint64_t b = 0x84222325cbf29ce4ULL;
  void add(std::string_view s) {
    for (unsigned char c : s) {
      a = (a ^ c) * 0x100000001b3ULL;
      b = (b ^ c) * 0x100000001b3ULL;
      b ^= b >> 29;
    }
    a = (a ^ 0xff) * 0x100000001b3ULL;  // record separator
    b = (b ^ 0xfe) * 0x100000001b3ULL;
  }
  std::string hex() const {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                  static_cast<unsigned long long>(b));
    return buf;
  }
};

}  // namespace

std::string table_checksum(SQLite::Database& db, TableOperations& plugin, const std::string& topic) {
  // One consistent snapshot for every page: a Store::Reader is inside a read
  // transaction already; any other connection gets one here.
  std::optional<SQLite::Transaction> snapshot;
  if (sqlite3_get_autocommit(db.getHandle())) snapshot.emplace(db);
  Digest digest;
  uint64_t rows = 0;
  std::string after;
  for (;;) {
    auto page = plugin.get_all(db, after, 1000);
    for (auto& row : page) {
      digest.add(row.json);
      ++rows;
    }
    if (page.size() < 1000) break;
    after = page.back().id;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("table");
  auto name = plugin.table_name();
  w.String(name.c_str());
  w.Key("rows");
  w.Uint64(rows);
  w.Key("checksum");
  w.String(digest.hex().c_str());
  w.Key("offsets");
  w.StartObject();
  SQLite::Statement q(db, "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ? ORDER BY partition");
  q.bind(1, topic);
  while (q.executeStep()) {
    w.Key(std::to_string(q.getColumn(0).getInt()).c_str());
    w.Int64(q.getColumn(1).getInt64());
  }
  w.EndObject();
  w.EndObject();
  if (snapshot) snapshot->commit();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace clusterlite
