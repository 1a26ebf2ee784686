// RebuildLog: the event log a rebuild's Applier reads. It hands over the
// records of a LogReader up to the --until bound, so the rebuild applies them
// with the node's own applier: the same plugins, transactions, rejections and
// held events as a node, nothing written a second way. Appending is refused.
//
// With a time, each partition ends before its first event whose own
// timestamp is later than the time (a record that is not a readable event has
// no time and never ends a partition; the applier rejects it, as a node does).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "eventlog/event_log.h"
#include "rebuild/log_reader.h"

namespace clusterlite {

class RebuildLog : public EventLog {
 public:
  // `reader` has been start()ed. `until`: the time bound, if any.
  RebuildLog(LogReader& reader, std::optional<std::chrono::system_clock::time_point> until);

  const std::string& topic() const override { return reader_.topic(); }
  void append(const std::string& key, std::string value, AppendCallback done) override;
  void start(StoredOffsets) override {}
  // Called by the applier's threads, one at a time. A read failure is kept
  // (failure()) and ends the reading.
  void poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) override;
  std::optional<std::map<int32_t, int64_t>> end_offsets(std::chrono::milliseconds timeout) override;
  bool reachable() const override { return true; }
  void close() override {}

  // What the applier has been handed so far; any thread.
  struct Progress {
    uint64_t records = 0;                  // records handed over
    std::map<int32_t, int64_t> next;       // per partition: the offset after the last record handed over
    std::set<int32_t> cut;                 // partitions ended by the time bound
    bool finished = false;                 // every record up to the bound has been handed over
    std::string failure;                   // why reading failed, or ""
  };
  Progress progress() const;

 private:
  LogReader& reader_;
  const std::optional<std::chrono::system_clock::time_point> until_;
  std::vector<LogRecord> read_;  // the poll()ing thread's buffer
  mutable std::mutex mutex_;
  Progress progress_;  // guarded by mutex_
};

}  // namespace clusterlite
