// EmbeddedReader: reads the embedded log (table _cl_log) of a standalone
// node's database for a rebuild, on a read-only connection of its own. Each
// read is a short read transaction, so a node running on the database goes
// on writing and checkpointing meanwhile.
#pragma once

#include <SQLiteCpp/Database.h>

#include <memory>

#include "rebuild/log_reader.h"

namespace clusterlite {

class EmbeddedReader : public LogReader {
 public:
  // Throws std::runtime_error when the database does not exist or holds no
  // embedded log.
  EmbeddedReader(const std::string& db_path, int busy_timeout_ms);

  const std::string& topic() const override { return topic_; }
  std::string describe() const override;
  const std::map<int32_t, PartitionRange>& ranges() const override { return ranges_; }
  void start(const std::map<int32_t, int64_t>& stops) override;
  void read(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) override;
  void stop_partition(int32_t partition) override;
  bool done() const override { return next_ >= stop_; }

 private:
  const std::string topic_;
  const std::string path_;
  std::unique_ptr<SQLite::Database> db_;
  std::map<int32_t, PartitionRange> ranges_;  // partition 0 only
  int64_t next_ = 0;  // next offset to read
  int64_t stop_ = 0;  // first offset not to read
};

}  // namespace clusterlite
