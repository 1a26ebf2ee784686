// Metrics: counters and histograms kept with atomics on the hot paths and
// rendered in the Prometheus text format at /metrics.
#pragma once

#include <array>
#include <deque>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace clusterlite {

// A histogram with fixed upper bounds; observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of metric `name` with `labels`
  // (e.g. `route="/{table}"`, or "" for none).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> sum_micros_{0};        // sum of observations x 1e6
};

// What the HTTP layer counts, per route kind.
enum class Route : int {
  kCollection,
  kItem,
  kHistory,
  kChanges,
  kHealth,
  kReady,
  kMetrics,
  kCluster,
  kAdmin,
  kSchema,
  kOpenApi,
  kUi,
  kOther,
  kCount
};
const char* route_label(Route route);

class Metrics {
 public:
  Metrics();

  // One finished HTTP request.
  void request(Route route, int method_index, int status, double seconds);
  // A write the event log refused (broker down, timeout, ...).
  void append_failed() { append_failures_.fetch_add(1, std::memory_order_relaxed); }
  // A write the event log did not confirm in time but may have written.
  void append_unconfirmed() { append_unconfirmed_.fetch_add(1, std::memory_order_relaxed); }
  // Time from handing a write to the event log to the log's acknowledgement.
  void appended(double seconds) { append_seconds_.observe(seconds); }
  // Time from an event's timestamp (when its node accepted the write) to its
  // commit here: how far this node's database trails the writes.
  void apply_delay(double seconds) { apply_delay_.observe(seconds < 0 ? 0 : seconds); }  // clocks may differ
  // One committed applier batch.
  void batch(size_t events, double seconds) {
    batch_sizes_.observe(static_cast<double>(events));
    batch_seconds_.observe(seconds);
  }

  // The request counters and histograms in Prometheus text format.
  void render(std::string& out) const;

  static constexpr int kMethods = 6;  // GET POST PUT DELETE OPTIONS other
  static constexpr int kOtherMethod = kMethods - 1;
  static const char* method_label(int index);

 private:
  static constexpr int kStatuses = 19;
  static int status_index(int status);
  static int status_at(int index);

  std::array<std::atomic<uint64_t>, static_cast<int>(Route::kCount) * kMethods * kStatuses> requests_{};
  std::deque<Histogram> latency_;  // per route (deque: Histogram cannot move)
  std::atomic<uint64_t> append_failures_{0};
  std::atomic<uint64_t> append_unconfirmed_{0};
  Histogram batch_sizes_;
  Histogram batch_seconds_;
  Histogram append_seconds_;
  Histogram apply_delay_;
};

}  // namespace clusterlite
