// The node's operations documents: GET /readyz, GET /metrics and
// GET /_cluster/status, built from its services. Each asks the broker for the
// log's end (bounded), so callers build them off the reactor threads.
#pragma once

#include <string>

#include "http/connection_guard.h"
#include "http/http_api.h"

namespace clusterlite {

struct Readiness {
  bool ready = false;  // log reachable, lag within applier.max_ready_lag, not draining
  int64_t lag = 0;     // events behind the log, over every partition
  bool lag_known = false;  // the log answered, so `lag` is current
  std::string json;    // {"ready", "log_reachable", "lag", "max_lag", "pending_tables"}
};
Readiness readiness(const NodeServices& services, bool draining);

// Prometheus text format 0.0.4: the node's own counters and histograms, the
// applier's, the connection guard's, the plugins and the per-partition state.
std::string metrics_text(const NodeServices& services, const ConnectionGuard& guard);

// {"node_id", "mode", "topic", "log_reachable", "partitions", "events_applied",
//  "events_rejected", "data_origin", "plugins", "pending_tables"}; "data_origin"
// says whether the database was built from the log or from a peer's snapshot
// (which peer, at which offsets, when).
std::string cluster_status_json(const NodeServices& services);

// GET /_schema: {"tables": [{"table", "plugin", "version", "schema_sha256",
// "schema"}]}, one per loaded table in name order; "schema" is the entity's
// JSON Schema object, or null for a table whose plugin does not describe it.
std::string schema_json(const PluginSet& plugins);

}  // namespace clusterlite
