// The routes a node serves, in one table: the router matches requests
// against it and takes from it which token a route needs; `clusterlite
// --routes` prints it, and the security tests check every route in it. A new
// endpoint is a new row, so it cannot be added without saying who may call it.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics.h"

namespace clusterlite {

// Who may call a route when API tokens are configured (without tokens every
// route is open).
enum class Access {
  kOpen,   // anyone: health, readiness, metrics, cluster status, the UI's files
  kRead,   // a read or a write token (also what describes the tables: /_schema, /openapi.json)
  kWrite,  // a write token
};
const char* to_string(Access access);

// What a route does; the router dispatches on it.
enum class Endpoint {
  kHealth,
  kReady,
  kMetrics,
  kClusterStatus,
  kChecksum,
  kSnapshot,
  kReloadPlugins,
  kSchema,
  kOpenApi,
  kRedirectToUi,
  kUiFile,
  kList,
  kCreate,
  kGet,
  kUpdate,
  kDelete,
  kHistory,
  kChanges,
};

struct RouteSpec {
  std::string_view method;   // "GET", "POST", "PUT" or "DELETE"
  std::string_view pattern;  // literal segments and placeholders: "{table}" and "{id}"
                             // match one non-empty segment, "{file}" the non-empty rest
  Access access;
  Endpoint endpoint;
  Route metric;  // the route label in /metrics
};

// Every route, in no particular order (matching prefers the pattern with the
// most literal text).
std::span<const RouteSpec> routes();

struct RouteMatch {
  const RouteSpec* route = nullptr;  // the route for this method and path
  // When the path matches a pattern but no route of it takes this method:
  // the pattern's methods for an `Allow` header ("GET, POST, OPTIONS"), the
  // least access among them, and its metric label. Empty when nothing matched.
  std::string allow;
  Access allow_access = Access::kOpen;
  Route allow_metric = Route::kOther;
  // The placeholders' raw (still percent-encoded) values, in pattern order.
  std::vector<std::string_view> params;
};

// Matches `path` (the request target without its query) against the table.
// The matching pattern with the most literal text wins; `params` view `path`.
RouteMatch match_route(std::string_view method, std::string_view path);

}  // namespace clusterlite
