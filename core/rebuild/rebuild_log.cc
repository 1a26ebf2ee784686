#include "rebuild/rebuild_log.h"

#include <clusterlite/event.h>

#include <thread>

#include "eventlog/event_codec.h"

namespace clusterlite {

RebuildLog::RebuildLog(LogReader& reader, std::optional<std::chrono::system_clock::time_point> until)
    : reader_(reader), until_(until) {
  progress_.finished = reader_.done();
}

void RebuildLog::append(const std::string&, std::string, AppendCallback done) {
  done({false, -1, -1, "a rebuild does not append to the log"});
}

void RebuildLog::poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) {
  {
    std::lock_guard lock(mutex_);
    if (progress_.finished || !progress_.failure.empty()) {
      // Nothing more will come: wait as a log with no new record would, but
      // briefly, so the applier neither spins nor keeps the rebuild from ending.
      std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(20)));
      return;
    }
  }
  read_.clear();
  std::string failure;
  try {
    reader_.read(read_, max, wait);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  std::set<int32_t> cut;
  const size_t first = out.size();
  if (until_) {
    // The event's own timestamp decides, never the broker's: it is the same
    // fact in every copy of the log.
    DatabaseEvent event;
    std::chrono::system_clock::time_point written_at;
    for (auto& record : read_) {
      if (cut.count(record.partition)) continue;
      if (decode_event(record.value, event, &written_at).empty() && written_at > *until_) {
        cut.insert(record.partition);
        reader_.stop_partition(record.partition);
        continue;
      }
      out.push_back(std::move(record));
    }
  } else {
    for (auto& record : read_) out.push_back(std::move(record));
  }
  std::lock_guard lock(mutex_);
  for (size_t i = first; i < out.size(); ++i) progress_.next[out[i].partition] = out[i].offset + 1;
  progress_.records += out.size() - first;
  progress_.cut.insert(cut.begin(), cut.end());
  progress_.failure = failure;
  progress_.finished = failure.empty() && reader_.done();
}

std::optional<std::map<int32_t, int64_t>> RebuildLog::end_offsets(std::chrono::milliseconds) {
  std::map<int32_t, int64_t> ends;
  for (auto& [p, range] : reader_.ranges()) ends[p] = range.end;
  return ends;
}

RebuildLog::Progress RebuildLog::progress() const {
  std::lock_guard lock(mutex_);
  return progress_;
}

}  // namespace clusterlite
