// The route table and its matcher (match_route), without a server.
#include "http/routes.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace clusterlite;

namespace {

std::string matched(std::string_view method, std::string_view path) {
  auto m = match_route(method, path);
  if (!m.route) return m.allow.empty() ? "none" : "405 " + m.allow;
  std::string out = std::string(m.route->pattern);
  for (auto p : m.params) out += " [" + std::string(p) + "]";
  return out;
}

}  // namespace

TEST(RoutesTest, LiteralRoutesWinOverTablePlaceholders) {
  EXPECT_EQ(matched("GET", "/healthz"), "/healthz");
  EXPECT_EQ(matched("GET", "/readyz"), "/readyz");
  EXPECT_EQ(matched("GET", "/metrics"), "/metrics");
  EXPECT_EQ(matched("GET", "/_cluster/status"), "/_cluster/status");
  EXPECT_EQ(matched("GET", "/_cluster/checksum/users"), "/_cluster/checksum/{table} [users]");
  EXPECT_EQ(matched("GET", "/"), "/");
  EXPECT_EQ(matched("GET", "/ui"), "/ui");
  EXPECT_EQ(matched("GET", "/ui/"), "/ui/");
  EXPECT_EQ(matched("GET", "/ui/app.js"), "/ui/{file} [app.js]");
  EXPECT_EQ(matched("GET", "/ui/css/site.css"), "/ui/{file} [css/site.css]");
  EXPECT_EQ(matched("GET", "/ui//etc/passwd"), "/ui/{file} [/etc/passwd]");
  EXPECT_EQ(matched("GET", "/users"), "/{table} [users]");
  EXPECT_EQ(matched("POST", "/users"), "/{table} [users]");
  EXPECT_EQ(matched("GET", "/users/42"), "/{table}/{id} [users] [42]");
  EXPECT_EQ(matched("DELETE", "/users/a%2Fb"), "/{table}/{id} [users] [a%2Fb]");
  EXPECT_EQ(matched("GET", "/healthzz"), "/{table} [healthzz]");
  EXPECT_EQ(matched("GET", "/openapi.json"), "/openapi.json");
  EXPECT_EQ(matched("GET", "/openapi"), "/{table} [openapi]");
}

TEST(RoutesTest, EmptySegmentsAndDeepPathsMatchNothing) {
  for (const char* path : {"", "//users", "/users/", "/users//", "/users/42/", "/users/42/x", "/_cluster/checksum/",
                           "/_cluster/checksum/a/b", "users", "/_cluster/status/"})
    EXPECT_EQ(matched("GET", path), "none") << path;
}

TEST(RoutesTest, AnotherMethodOnAKnownPathListsTheAllowedOnes) {
  auto m = match_route("PATCH", "/users/42");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allow, "GET, PUT, DELETE, OPTIONS");
  EXPECT_EQ(m.allow_access, Access::kRead);
  EXPECT_EQ(matched("POST", "/healthz"), "405 GET, OPTIONS");
  EXPECT_EQ(match_route("POST", "/healthz").allow_access, Access::kOpen);
  EXPECT_EQ(matched("DELETE", "/users"), "405 GET, POST, OPTIONS");
  EXPECT_EQ(matched("HEAD", "/ui/app.js"), "405 GET, OPTIONS");
  // OPTIONS has no route: it gets the path's methods (what the node's preflight answers).
  EXPECT_EQ(matched("OPTIONS", "/users"), "405 GET, POST, OPTIONS");
  EXPECT_EQ(matched("OPTIONS", "/_admin/plugins/reload"), "405 POST, OPTIONS");
  EXPECT_EQ(matched("QUERY", "/openapi.json"), "405 GET, OPTIONS");
  EXPECT_EQ(matched("OPTIONS", "/users/42/x"), "none");
}

TEST(RoutesTest, WhatDescribesTheTablesNeedsAReadToken) {
  // Like the tables themselves: /_schema and /openapi.json name every table.
  for (const char* path : {"/_schema", "/openapi.json"}) {
    auto m = match_route("GET", path);
    ASSERT_NE(m.route, nullptr) << path;
    EXPECT_EQ(m.route->access, Access::kRead) << path;
  }
  EXPECT_EQ(match_route("GET", "/openapi.json").route->endpoint, Endpoint::kOpenApi);
}

TEST(RoutesTest, OnlyHealthMetricsStatusAndTheUiAreOpen) {
  std::set<std::string> open;
  for (const auto& r : routes())
    if (r.access == Access::kOpen) open.insert(std::string(r.method) + " " + std::string(r.pattern));
  EXPECT_EQ(open, (std::set<std::string>{"GET /healthz", "GET /readyz", "GET /metrics", "GET /_cluster/status", "GET /",
                                         "GET /ui", "GET /ui/", "GET /ui/{file}"}));
  for (const auto& r : routes())
    if (r.method != "GET") EXPECT_EQ(r.access, Access::kWrite) << r.method << " " << r.pattern;
}
