// API tokens against a real node: every route with no token, a wrong token, a
// read-only token and a read-write token; open routes stay open; tokens never
// reach the log.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "http_client.h"
#include "node_process.h"

using namespace clusterlite::test;

namespace {

const std::string kReadToken = "read-token-0123456789abcdef";
const std::string kWriteToken = "write-token-0123456789abcdef";

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NodeOptions options;
    options.extra_config = R"({"auth": {"read_tokens": [")" + kReadToken + R"("], "write_tokens": [")" + kWriteToken +
                           R"("]}})";
    node_ = std::make_unique<NodeProcess>(options);
  }
  static void TearDownTestSuite() { node_.reset(); }

  static Headers with(const std::string& token) {
    Headers h{{"Content-Type", "application/json"}};
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return h;
  }

  // A user id created with the write token.
  static std::string make_user(const std::string& email) {
    auto r = node_->request("POST", "/users", with(kWriteToken), R"({"name":"Auth","email":")" + email + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    auto location = r.header("Location");
    return location.substr(location.rfind('/') + 1);
  }

  static std::unique_ptr<NodeProcess> node_;
};
std::unique_ptr<NodeProcess> AuthTest::node_;

struct Expect {
  int none, wrong, read, write;
};

TEST_F(AuthTest, EachRouteWithEachKindOfToken) {
  std::string id = make_user("auth.base@example.com");
  int n = 0;
  auto check = [&](const char* method, const std::string& target, bool has_body, Expect e) {
    for (auto [token, expected] : {std::pair{std::string(), e.none}, std::pair{std::string("not-the-token-at-all"), e.wrong},
                                   std::pair{kReadToken, e.read}, std::pair{kWriteToken, e.write}}) {
      std::string body = has_body ? R"({"name":"T","email":"auth)" + std::to_string(++n) + R"(@example.com"})" : "";
      auto r = node_->request(method, target, with(token), body);
      EXPECT_EQ(r.status, expected) << method << " " << target << " token=" << (token.empty() ? "(none)" : token)
                                    << " " << r.body;
      if (r.status == 401) EXPECT_NE(r.header("WWW-Authenticate").find("Bearer"), std::string::npos);
    }
  };
  check("GET", "/users", false, {401, 401, 200, 200});
  check("POST", "/users", true, {401, 401, 403, 201});
  check("GET", "/users/" + id, false, {401, 401, 200, 200});
  check("PUT", "/users/" + id, true, {401, 401, 403, 200});
  check("GET", "/_cluster/checksum/users", false, {401, 401, 200, 200});
  // The last request deletes: no, wrong and read tokens first, then write.
  check("DELETE", "/users/" + id, false, {401, 401, 403, 204});
  // Open routes.
  for (const char* open : {"/healthz", "/readyz", "/metrics", "/_cluster/status"})
    EXPECT_EQ(node_->request("GET", open).status, 200) << open;
}

TEST_F(AuthTest, RefusedWritesChangeNothing) {
  auto before = node_->request("GET", "/_cluster/checksum/users", with(kReadToken)).body;
  EXPECT_EQ(node_->request("POST", "/users", with(kReadToken), R"({"name":"No","email":"no@example.com"})").status,
            403);
  EXPECT_EQ(node_->request("POST", "/users", with(""), R"({"name":"No","email":"no@example.com"})").status, 401);
  EXPECT_EQ(node_->request("GET", "/_cluster/checksum/users", with(kReadToken)).body, before);
}

TEST_F(AuthTest, TokensNeverReachTheLog) {
  make_user("auth.log@example.com");
  node_->request("GET", "/users", with("a-wrong-token-that-must-not-be-logged"));
  std::string log = node_->output();
  EXPECT_EQ(log.find(kReadToken), std::string::npos);
  EXPECT_EQ(log.find(kWriteToken), std::string::npos);
  EXPECT_EQ(log.find("a-wrong-token-that-must-not-be-logged"), std::string::npos);
}

}  // namespace
