#include "http/routes.h"

#include <array>

namespace clusterlite {

namespace {

constexpr std::array<RouteSpec, 20> kRoutes{{
    {"GET", "/healthz", Access::kOpen, Endpoint::kHealth, Route::kHealth},
    {"GET", "/readyz", Access::kOpen, Endpoint::kReady, Route::kReady},
    {"GET", "/metrics", Access::kOpen, Endpoint::kMetrics, Route::kMetrics},
    {"GET", "/_cluster/status", Access::kOpen, Endpoint::kClusterStatus, Route::kCluster},
    {"GET", "/_cluster/checksum/{table}", Access::kRead, Endpoint::kChecksum, Route::kCluster},
    {"GET", "/_cluster/snapshot", Access::kWrite, Endpoint::kSnapshot, Route::kCluster},
    {"POST", "/_admin/plugins/reload", Access::kWrite, Endpoint::kReloadPlugins, Route::kAdmin},
    {"GET", "/_schema", Access::kRead, Endpoint::kSchema, Route::kSchema},
    {"GET", "/_changes", Access::kRead, Endpoint::kChanges, Route::kChanges},
    {"GET", "/openapi.json", Access::kRead, Endpoint::kOpenApi, Route::kOpenApi},
    {"GET", "/", Access::kOpen, Endpoint::kRedirectToUi, Route::kUi},
    {"GET", "/ui", Access::kOpen, Endpoint::kRedirectToUi, Route::kUi},
    {"GET", "/ui/", Access::kOpen, Endpoint::kUiFile, Route::kUi},
    {"GET", "/ui/{file}", Access::kOpen, Endpoint::kUiFile, Route::kUi},
    {"GET", "/{table}", Access::kRead, Endpoint::kList, Route::kCollection},
    {"POST", "/{table}", Access::kWrite, Endpoint::kCreate, Route::kCollection},
    {"GET", "/{table}/{id}", Access::kRead, Endpoint::kGet, Route::kItem},
    {"PUT", "/{table}/{id}", Access::kWrite, Endpoint::kUpdate, Route::kItem},
    {"DELETE", "/{table}/{id}", Access::kWrite, Endpoint::kDelete, Route::kItem},
    {"GET", "/{table}/{id}/history", Access::kRead, Endpoint::kHistory, Route::kHistory},
}};

// Matches `path` against `pattern`: on success returns how many literal
// characters other than '/' the pattern has (the more, the more specific it
// is) and appends the placeholders' values to `params`; -1 otherwise.
int match_pattern(std::string_view pattern, std::string_view path, std::vector<std::string_view>& params) {
  size_t mark = params.size();
  int literals = 0;
  size_t pi = 0, qi = 0;  // positions in pattern and path
  while (pi < pattern.size()) {
    if (pattern[pi] != '{') {
      // Literal text up to the next placeholder (or the end) must match exactly.
      size_t end = pattern.find('{', pi);
      if (end == std::string_view::npos) end = pattern.size();
      std::string_view lit = pattern.substr(pi, end - pi);
      if (path.substr(qi, lit.size()) != lit) break;
      for (char c : lit) literals += c != '/';
      pi = end;
      qi += lit.size();
      continue;
    }
    size_t close = pattern.find('}', pi);
    bool rest = pattern.substr(pi, close - pi + 1) == "{file}";
    size_t end = rest ? path.size() : path.find('/', qi);
    if (end == std::string_view::npos) end = path.size();
    if (end == qi) break;  // an empty value
    params.push_back(path.substr(qi, end - qi));
    pi = close + 1;
    qi = end;
  }
  if (pi == pattern.size() && qi == path.size()) return literals;
  params.resize(mark);
  return -1;
}

}  // namespace

const char* to_string(Access access) {
  switch (access) {
    case Access::kOpen: return "open";
    case Access::kRead: return "read";
    case Access::kWrite: return "write";
  }
  return "?";
}

std::span<const RouteSpec> routes() { return kRoutes; }

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch best;
  int best_literals = -1;
  std::string_view best_pattern;
  std::vector<std::string_view> params;
  for (const auto& spec : kRoutes) {
    if (spec.pattern == best_pattern) continue;  // seen: its methods are collected below
    params.clear();
    int literals = match_pattern(spec.pattern, path, params);
    if (literals <= best_literals) continue;
    best_literals = literals;
    best_pattern = spec.pattern;
    best = RouteMatch{};
    best.params = params;
  }
  if (best_literals < 0) return best;
  // The routes of the winning pattern: the one for this method, or what an
  // `Allow` header lists.
  bool any_open = false;
  for (const auto& spec : kRoutes) {
    if (spec.pattern != best_pattern) continue;
    if (spec.method == method) best.route = &spec;
    best.allow.append(spec.method).append(", ");
    any_open |= spec.access == Access::kOpen;
    best.allow_metric = spec.metric;
  }
  best.allow += "OPTIONS";
  best.allow_access = any_open ? Access::kOpen : Access::kRead;
  if (best.route) best.allow.clear();
  return best;
}

}  // namespace clusterlite
