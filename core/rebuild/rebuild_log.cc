#include "rebuild/rebuild_log.h"

#include <clusterlite/event.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <thread>

#include "eventlog/event_codec.h"
#include "timeutil.h"

namespace clusterlite {
namespace {

// Finds the value of a record's first top-level "timestamp" member without
// building a document (a rebuild reads every event's time, and the applier
// parses the event again): a SAX parse that stops there. Iterative, so no
// nesting can exhaust the stack. It does not check the record: a time past
// the bound is confirmed with decode_event() (see RebuildLog::poll).
class TimestampFinder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TimestampFinder> {
 public:
  // The record's timestamp string, if its first top-level "timestamp" is a string.
  static std::optional<std::string> find(const std::string& record) {
    TimestampFinder finder;
    rapidjson::MemoryStream stream(record.data(), record.size());
    rapidjson::Reader reader;
    reader.Parse<rapidjson::kParseIterativeFlag>(stream, finder);
    return std::move(finder.found_);
  }

  bool StartObject() { return nest(); }
  bool StartArray() { return nest(); }
  bool EndObject(rapidjson::SizeType) { return --depth_, true; }
  bool EndArray(rapidjson::SizeType) { return --depth_, true; }
  bool Key(const char* text, rapidjson::SizeType length, bool) {
    value_is_timestamp_ = depth_ == 1 && std::string_view(text, length) == "timestamp";
    return true;
  }
  bool String(const char* text, rapidjson::SizeType length, bool) {
    if (!value_is_timestamp_) return true;
    found_.emplace(text, length);
    return false;  // found: stop parsing
  }
  // Any other value: a "timestamp" that is not a string means no time.
  bool Default() { return !value_is_timestamp_; }

 private:
  bool nest() {
    ++depth_;
    return !value_is_timestamp_;
  }
  int depth_ = 0;
  bool value_is_timestamp_ = false;
  std::optional<std::string> found_;
};

}  // namespace

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
    // fact in every copy of the log. A record is past the bound when it is a
    // readable event (decode_event() accepts it) stamped later; its time is
    // found first, cheaply, and only a time past the bound needs the check.
    for (auto& record : read_) {
      if (cut.count(record.partition)) continue;
      if (auto stamp = TimestampFinder::find(record.value)) {
        auto time = parse_rfc3339(*stamp);
        if (time && *time > *until_) {
          DatabaseEvent event;
          if (decode_event(record.value, event).empty()) {
            cut.insert(record.partition);
            reader_.stop_partition(record.partition);
            continue;
          }
        }
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
