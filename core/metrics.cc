#include "metrics.h"

#include <cstdio>
#include <iterator>

namespace clusterlite {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(value * 1e6), std::memory_order_relaxed);
}

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string join_labels(const std::string& labels, const std::string& more) {
  if (labels.empty()) return more;
  return labels + "," + more;
}

}  // namespace

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + join_labels(labels, "le=\"" + le + "\"") + "} " + std::to_string(cumulative) + "\n";
  }
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + number(sum_micros_.load(std::memory_order_relaxed) / 1e6) + "\n";
  out += name + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

const char* route_label(Route route) {
  switch (route) {
    case Route::kCollection: return "/{table}";
    case Route::kItem: return "/{table}/{id}";
    case Route::kHistory: return "/{table}/{id}/history";
    case Route::kChanges: return "/_changes";
    case Route::kHealth: return "/healthz";
    case Route::kReady: return "/readyz";
    case Route::kMetrics: return "/metrics";
    case Route::kCluster: return "/_cluster";
    case Route::kAdmin: return "/_admin";
    case Route::kSchema: return "/_schema";
    case Route::kOpenApi: return "/openapi.json";
    case Route::kUi: return "/ui";
    default: return "other";
  }
}

const char* Metrics::method_label(int index) {
  static const char* kNames[kMethods] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "other"};
  return kNames[index];
}

namespace {
constexpr int kStatusCodes[] = {200, 201, 202, 204, 302, 400, 401, 403, 404, 405, 408,
                                 409, 413, 415, 431, 500, 503, 504, 0};
}

int Metrics::status_index(int status) {
  static_assert(std::size(kStatusCodes) == kStatuses);
  for (int i = 0; i < kStatuses - 1; ++i)
    if (kStatusCodes[i] == status) return i;
  return kStatuses - 1;  // any other
}

int Metrics::status_at(int index) { return kStatusCodes[index]; }

Metrics::Metrics()
    : batch_sizes_({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000}),
      batch_seconds_({0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1}),
      append_seconds_({0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}),
      apply_delay_({0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 60}) {
  for (int i = 0; i < static_cast<int>(Route::kCount); ++i)
    latency_.emplace_back(std::vector<double>{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5});
}

void Metrics::request(Route route, int method_index, int status, double seconds) {
  int r = static_cast<int>(route);
  requests_[(r * kMethods + method_index) * kStatuses + status_index(status)].fetch_add(1, std::memory_order_relaxed);
  latency_[r].observe(seconds);
}

void Metrics::render(std::string& out) const {
  out += "# HELP clusterlite_http_requests_total HTTP requests answered, by route, method and status.\n";
  out += "# TYPE clusterlite_http_requests_total counter\n";
  for (int r = 0; r < static_cast<int>(Route::kCount); ++r)
    for (int m = 0; m < kMethods; ++m)
      for (int s = 0; s < kStatuses; ++s) {
        uint64_t n = requests_[(r * kMethods + m) * kStatuses + s].load(std::memory_order_relaxed);
        if (!n) continue;
        std::string status = status_at(s) ? std::to_string(status_at(s)) : "other";
        out += "clusterlite_http_requests_total{route=\"" + std::string(route_label(static_cast<Route>(r))) +
               "\",method=\"" + method_label(m) + "\",status=\"" + status + "\"} " + std::to_string(n) + "\n";
      }
  out += "# HELP clusterlite_http_request_duration_seconds Time from request parsed to response handed to the "
         "HTTP server.\n";
  out += "# TYPE clusterlite_http_request_duration_seconds histogram\n";
  for (int r = 0; r < static_cast<int>(Route::kCount); ++r)
    latency_[r].render(out, "clusterlite_http_request_duration_seconds",
                       "route=\"" + std::string(route_label(static_cast<Route>(r))) + "\"");
  out += "# HELP clusterlite_log_append_failures_total Writes the event log certainly did not take (answered 503).\n";
  out += "# TYPE clusterlite_log_append_failures_total counter\n";
  out += "clusterlite_log_append_failures_total " + std::to_string(append_failures_.load()) + "\n";
  out += "# HELP clusterlite_log_append_unconfirmed_total Writes the event log did not confirm in time but may "
         "have written; each is answered once this node applies it, or 504 (outcome unknown).\n";
  out += "# TYPE clusterlite_log_append_unconfirmed_total counter\n";
  out += "clusterlite_log_append_unconfirmed_total " + std::to_string(append_unconfirmed_.load()) + "\n";
  // An unlabelled histogram with its HELP and TYPE lines.
  auto histogram = [&out](const Histogram& h, const std::string& name, const char* help) {
    out += "# HELP " + name + " " + help + "\n";
    out += "# TYPE " + name + " histogram\n";
    h.render(out, name, "");
  };
  histogram(batch_sizes_, "clusterlite_apply_batch_events", "Events per committed applier transaction.");
  histogram(batch_seconds_, "clusterlite_apply_batch_seconds", "Time to apply and commit one batch.");
  histogram(append_seconds_, "clusterlite_log_append_seconds",
            "Time from handing a write to the event log to its acknowledgement.");
  histogram(apply_delay_, "clusterlite_apply_delay_seconds",
            "Time from an event's timestamp to its commit on this node.");
}

}  // namespace clusterlite
