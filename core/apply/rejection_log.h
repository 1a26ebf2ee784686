// RejectionLog: the log lines of rejected events, bounded. A replay of a log
// with many bad events would otherwise write one line each (hundreds of
// thousands); _cl_rejected and clusterlite_events_rejected_total keep every
// one. The first kFirstLines rejections of each kind (table and status) are
// logged in full; after that, at most one line per kind and interval counts
// those not shown.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace clusterlite {

class RejectionLog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kFirstLines = 5;
  static constexpr std::chrono::seconds kInterval{60};

  // One rejected event. `kind` is its status's name ("conflict").
  void note(std::string_view table, std::string_view kind, int32_t partition, int64_t offset,
            std::string_view message, Clock::time_point now = Clock::now());
  // Writes the counts of the kinds whose interval passed (the applier calls
  // it after each batch); with `all`, of every kind (at stop).
  void flush(Clock::time_point now = Clock::now(), bool all = false);

 private:
  struct Kind {
    uint64_t total = 0;
    uint64_t unshown = 0;  // since the last line
    Clock::time_point last_line{};
  };
  std::map<std::pair<std::string, std::string>, Kind, std::less<>> kinds_;
};

}  // namespace clusterlite
