// ActiveConnections: how many connections sent a request lately, i.e. in the
// current or the previous period of time (kPeriod long).
//
// The HTTP API compares it with the appends waiting for the log: when every
// active connection waits for one, no other append can come before the log
// acknowledges one (HTTP/1.1 sends one request at a time per connection), so
// there is nothing to wait for (EventLog::nothing_more_coming). Connections
// that stay idle, such as the spare ones a proxy keeps open, drop out after
// one or two periods.
//
// Thread-safe. Each connection keeps a Mark; calls for one Mark must not
// overlap (a connection's requests come from its reactor thread, and closed()
// runs once, after its last request).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>

namespace clusterlite {

class ActiveConnections {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kPeriod{1000};

  // Per connection: the period of its latest request.
  struct Mark {
    int64_t period = std::numeric_limits<int64_t>::min();  // none yet
  };

  // A request arrived on the connection of `mark`.
  void request(Mark& mark, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    advance(now);
    if (mark.period == current_) return;
    if (mark.period == current_ - 1) --seen_[slot(current_ - 1)];
    ++seen_[slot(current_)];
    mark.period = current_;
  }

  // The connection of `mark` closed.
  void closed(const Mark& mark, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    advance(now);
    if (mark.period == current_ || mark.period == current_ - 1) --seen_[slot(mark.period)];
  }

  // Connections whose latest request came in this period or the one before.
  int active(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    advance(now);
    return seen_[0] + seen_[1];
  }

 private:
  static int slot(int64_t period) { return static_cast<int>(period & 1); }

  // mutex_ held: moves to the period of `now`; connections last seen before
  // the previous period are no longer counted.
  void advance(Clock::time_point now) {
    int64_t period = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) / kPeriod;
    if (period <= current_) return;
    if (period == current_ + 1) {
      seen_[slot(period)] = 0;  // held the period before the previous one
    } else {
      seen_[0] = seen_[1] = 0;
    }
    current_ = period;
  }

  std::mutex mutex_;
  int64_t current_ = 0;
  int seen_[2] = {0, 0};  // connections last seen in the period of that parity (current and previous)
};

}  // namespace clusterlite
