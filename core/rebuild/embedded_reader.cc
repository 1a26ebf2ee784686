#include "rebuild/embedded_reader.h"

#include <SQLiteCpp/Statement.h>

#include <filesystem>
#include <stdexcept>

#include "eventlog/embedded_log.h"

namespace clusterlite {

EmbeddedReader::EmbeddedReader(const std::string& db_path, int busy_timeout_ms)
    : topic_(EmbeddedLog::kTopic), path_(db_path) {
  // Opening read-only never creates the file, but say plainly why it is missing.
  if (!std::filesystem::is_regular_file(path_))
    throw std::runtime_error("database " + path_ + " does not exist: a standalone node's rebuild reads the embedded " +
                             "log in its database (database.path)");
  try {
    db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READONLY, busy_timeout_ms);
    SQLite::Statement has_log(*db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cl_log'");
    if (!has_log.executeStep())
      throw std::runtime_error("database " + path_ + " holds no embedded log (table _cl_log): it is not the " +
                               "database of a standalone ClusterLite node");
    SQLite::Statement range(*db_, "SELECT COALESCE(MIN(offset), 0), COALESCE(MAX(offset) + 1, 0) FROM _cl_log");
    range.executeStep();
    ranges_[0] = {range.getColumn(0).getInt64(), range.getColumn(1).getInt64()};
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot read the embedded log in " + path_ + ": " + e.what());
  }
}

std::string EmbeddedReader::describe() const { return "the embedded log of " + path_; }

void EmbeddedReader::start(const std::map<int32_t, int64_t>& stops) {
  auto it = stops.find(0);
  next_ = 0;
  stop_ = it == stops.end() ? 0 : it->second;
}

void EmbeddedReader::read(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds) {
  if (done() || max == 0) return;
  try {
    SQLite::Statement q(*db_,
                        "SELECT offset, key, value FROM _cl_log WHERE offset >= ? AND offset < ? ORDER BY offset "
                        "LIMIT ?");
    q.bind(1, static_cast<int64_t>(next_));
    q.bind(2, static_cast<int64_t>(stop_));
    q.bind(3, static_cast<int64_t>(max));
    size_t found = 0;
    while (q.executeStep()) {
      LogRecord r;
      r.partition = 0;
      r.offset = q.getColumn(0).getInt64();
      r.key = q.getColumn(1).getString();
      auto blob = q.getColumn(2);
      r.value.assign(static_cast<const char*>(blob.getBlob()), static_cast<size_t>(blob.getBytes()));
      next_ = r.offset + 1;
      out.push_back(std::move(r));
      ++found;
    }
    // The embedded log only ever grows, so the records below stop_ that were
    // there when the reader opened are still there.
    if (found == 0)
      throw std::runtime_error("the embedded log in " + path_ + " no longer holds offset " + std::to_string(next_));
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("reading the embedded log in " + path_ + " failed: " + e.what());
  }
}

void EmbeddedReader::stop_partition(int32_t partition) {
  if (partition == 0) stop_ = next_;
}

}  // namespace clusterlite
