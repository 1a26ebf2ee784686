// LogReader: a read-only reader of a node's event log for a rebuild. It
// learns where each partition begins and ends once, when it is opened, then
// reads each partition from its first record up to a stop offset. It never
// writes to the log, creates a topic, commits a consumer offset or opens the
// node's database for writing, so it can run beside a live node.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "eventlog/event_log.h"

namespace clusterlite {

// A partition's first offset still in the log and its end (the next offset
// to be written), when the reader was opened.
struct PartitionRange {
  int64_t first = 0;
  int64_t end = 0;
};

class LogReader {
 public:
  virtual ~LogReader() = default;

  // The log's name in the offsets table: the Kafka topic, or "_embedded".
  virtual const std::string& topic() const = 0;
  // How messages name the log: "topic 'db_events' on 127.0.0.1:9092".
  virtual std::string describe() const = 0;
  // Every partition's range when the reader was opened.
  virtual const std::map<int32_t, PartitionRange>& ranges() const = 0;

  // Begins reading each partition of `stops` at offset 0, up to and not
  // including its stop; a partition absent or with a stop of 0 is not read.
  // Every stop lies within its partition's range. Throws std::runtime_error.
  virtual void start(const std::map<int32_t, int64_t>& stops) = 0;
  // Appends up to `max` records, in offset order within each partition and
  // none at or past its stop, waiting up to `wait` for the first. Throws
  // std::runtime_error when the log cannot be read. One thread at a time.
  virtual void read(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) = 0;
  // Ends reading `partition` before its stop; its records not yet returned
  // are never returned. Same thread as read().
  virtual void stop_partition(int32_t partition) = 0;
  // Whether every partition was read up to its stop or stopped. Same thread as read().
  virtual bool done() const = 0;
  // The last transient problem seen (a broker not answering...), or "".
  // Any thread.
  virtual std::string last_problem() const { return {}; }
};

// The reader of the log `config` names: the Kafka topic (replica and shared
// modes) or the embedded log in the database of a standalone node. Throws
// std::runtime_error with a one-line reason (no such topic or database, a
// broker that does not answer within kafka.request_timeout_ms...).
std::unique_ptr<LogReader> open_log_reader(const Config& config);

}  // namespace clusterlite
