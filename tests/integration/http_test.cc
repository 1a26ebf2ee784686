// The REST API of a real `clusterlite` process (standalone mode, free port,
// fresh database): every status code of the API, the bad-input list (each
// answered with its problem+json and leaving the database unchanged), paging,
// CORS, keep-alive, and a clean exit on SIGTERM.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "node_process.h"

using namespace clusterlite::test;
using namespace std::chrono_literals;

namespace {

const char* kNodeId = "http-test-node";
const char* kOrigin = "http://ui.example";

const Headers kJson = {{"Content-Type", "application/json"}};

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string user_json(const std::string& name, const std::string& email) {
  return R"({"name":")" + name + R"(","email":")" + email + R"("})";
}

// A whole `POST /users` as a client writes it, making user `name` with
// `email`; `headers`: more header lines, each "Name: value\r\n".
std::string raw_create(const std::string& name, const std::string& email, const std::string& headers = {}) {
  std::string body = user_json(name, email);
  return "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Sends `bytes` in the pieces cut at `cuts`, each in a write of its own with
// a pause between (TCP_NODELAY: the node reads them one by one).
void send_in_pieces(HttpConnection& c, std::string_view bytes, std::vector<size_t> cuts) {
  size_t from = 0;
  cuts.push_back(bytes.size());
  for (size_t cut : cuts) {
    c.send_raw(bytes.substr(from, cut - from));
    from = cut;
    std::this_thread::sleep_for(20ms);
  }
}

// What a bad request must not change: the table's digest and row count as the
// node reports them, and the row counts of the file itself.
struct Snapshot {
  std::string checksum;
  int64_t users = -1;
  int64_t log = -1;
  int64_t rejected = -1;
  bool operator==(const Snapshot&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  return os << "{checksum " << s.checksum << ", users " << s.users << ", _cl_log " << s.log << ", _cl_rejected "
            << s.rejected << "}";
}

class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NodeOptions options;
    options.node_id = kNodeId;
    options.extra_config = std::string(R"({"http": {"cors_origins": [")") + kOrigin + R"("]}})";
    node_ = std::make_unique<NodeProcess>(options);
  }
  static void TearDownTestSuite() {
    if (node_ && node_->alive()) EXPECT_EQ(node_->stop(), 0) << node_->output();
    node_.reset();
  }
  void TearDown() override {
    ASSERT_TRUE(node_->alive()) << "the node died:\n" << node_->output();
    EXPECT_EQ(request("GET", "/healthz").status, 200);
  }

  // A request to the shared node; every response must name the node.
  static HttpResponse request(std::string_view method, std::string_view target, const Headers& headers = {},
                              std::string_view body = {}) {
    HttpResponse r = node_->request(method, target, headers, body);
    EXPECT_EQ(r.header("X-ClusterLite-Node"), kNodeId) << method << " " << target << " -> " << r.status;
    return r;
  }

  static std::string create_user(const std::string& name, const std::string& email) {
    auto r = request("POST", "/users", kJson, user_json(name, email));
    EXPECT_EQ(r.status, 201) << r.body;
    auto doc = parse(r.body);
    if (!doc.IsObject() || !doc.HasMember("id")) return {};
    return doc["id"].GetString();
  }

  static int64_t count_rows(SQLite::Database& db, const std::string& table) {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM " + table);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  static Snapshot snapshot() {
    Snapshot s;
    auto r = request("GET", "/_cluster/checksum/users");
    EXPECT_EQ(r.status, 200) << r.body;
    s.checksum = r.body;
    SQLite::Database db(node_->db_path(), SQLite::OPEN_READONLY);
    db.setBusyTimeout(2000);
    s.users = count_rows(db, "users");
    s.log = count_rows(db, "_cl_log");
    s.rejected = count_rows(db, "_cl_rejected");
    return s;
  }

  // Checks an RFC 9457 problem response with `status`.
  static void expect_problem(const HttpResponse& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << " -> " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json") << what;
    auto doc = parse(r.body);
    ASSERT_TRUE(doc.IsObject()) << what << ": " << r.body;
    ASSERT_TRUE(doc.HasMember("type") && doc["type"].IsString()) << what << ": " << r.body;
    ASSERT_TRUE(doc.HasMember("title") && doc["title"].IsString()) << what << ": " << r.body;
    ASSERT_TRUE(doc.HasMember("status") && doc["status"].IsInt()) << what << ": " << r.body;
    ASSERT_TRUE(doc.HasMember("detail") && doc["detail"].IsString()) << what << ": " << r.body;
    EXPECT_EQ(doc["status"].GetInt(), status) << what;
    EXPECT_GT(doc["detail"].GetStringLength(), 0u) << what;
  }

  // Sends a request that must fail with `status` and leave the database as it was.
  static HttpResponse expect_rejected(std::string_view method, std::string_view target, const Headers& headers,
                                      std::string_view body, int status) {
    std::string what =
        std::string(method) + " " + std::string(target.substr(0, 80)) + " " + std::string(body.substr(0, 80));
    Snapshot before = snapshot();
    HttpResponse r = request(method, target, headers, body);
    expect_problem(r, status, what);
    EXPECT_EQ(snapshot(), before) << what;
    return r;
  }

  static std::unique_ptr<NodeProcess> node_;
};

std::unique_ptr<NodeProcess> HttpApiTest::node_;

TEST_F(HttpApiTest, CreateAnswers201WithLocationAndTheEntity) {
  Snapshot before = snapshot();
  auto r = request("POST", "/users", kJson, user_json("Ann Example", "ann.create@example.com"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  auto doc = parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << r.body;
  std::string id = doc["id"].GetString();
  EXPECT_EQ(r.header("Location"), "/users/" + id);
  EXPECT_STREQ(doc["name"].GetString(), "Ann Example");
  EXPECT_STREQ(doc["email"].GetString(), "ann.create@example.com");
  EXPECT_STREQ(doc["created_at"].GetString(), doc["updated_at"].GetString());

  // Read-your-writes: the entity is there as soon as the 201 arrives.
  auto got = request("GET", r.header("Location"));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, r.body);
  Snapshot after = snapshot();
  EXPECT_EQ(after.users, before.users + 1);
  EXPECT_EQ(after.log, before.log + 1);
  EXPECT_EQ(after.rejected, before.rejected);
}

// The value of the sample `name` (with its labels, as written) at /metrics; -1 when absent.
double metric(const std::string& text, const std::string& name) {
  size_t at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

TEST_F(HttpApiTest, MetricsCountEachWriteAndItsDelays) {
  auto before = request("GET", "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.header("Content-Type").substr(0, 10), "text/plain");
  create_user("Meg Metrics", "meg.metrics@example.com");
  auto after = request("GET", "/metrics").body;
  for (const char* name : {"clusterlite_log_append_seconds_count", "clusterlite_apply_delay_seconds_count",
                           "clusterlite_events_applied_total", "clusterlite_apply_batch_events_count",
                           R"(clusterlite_http_requests_total{route="/{table}",method="POST",status="201"})"}) {
    double was = std::max(0.0, metric(before.body, name));
    EXPECT_EQ(metric(after, name), was + 1) << name << " in\n" << after;
  }
  // The write was acknowledged and applied within the test's timeouts, so
  // both delays sit below the histograms' last finite bound.
  EXPECT_EQ(metric(after, R"(clusterlite_log_append_seconds_bucket{le="5"})"),
            metric(after, "clusterlite_log_append_seconds_count"));
  EXPECT_EQ(metric(after, R"(clusterlite_apply_delay_seconds_bucket{le="60"})"),
            metric(after, "clusterlite_apply_delay_seconds_count"));
}

TEST_F(HttpApiTest, GetListUpdateAndDelete) {
  std::string id = create_user("Bob", "bob.crud@example.com");
  ASSERT_FALSE(id.empty());

  auto list = request("GET", "/users");
  EXPECT_EQ(list.status, 200);
  auto items = parse(list.body);
  ASSERT_TRUE(items.IsArray()) << list.body;
  bool found = false;
  for (auto& u : items.GetArray()) found |= u["id"].GetString() == id;
  EXPECT_TRUE(found);

  auto put = request("PUT", "/users/" + id, kJson, user_json("Bob Renamed", "bob.renamed@example.com"));
  ASSERT_EQ(put.status, 200) << put.body;
  auto updated = parse(put.body);
  EXPECT_STREQ(updated["id"].GetString(), id.c_str());
  EXPECT_STREQ(updated["name"].GetString(), "Bob Renamed");
  EXPECT_STREQ(updated["email"].GetString(), "bob.renamed@example.com");
  EXPECT_GE(std::string(updated["updated_at"].GetString()), std::string(updated["created_at"].GetString()));
  EXPECT_EQ(request("GET", "/users/" + id).body, put.body);

  auto del = request("DELETE", "/users/" + id);
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  expect_problem(request("GET", "/users/" + id), 404, "GET deleted");
  expect_rejected("DELETE", "/users/" + id, {}, {}, 404);
  expect_rejected("PUT", "/users/" + id, kJson, user_json("Bob", "bob.crud@example.com"), 404);
}

TEST_F(HttpApiTest, RespondAsyncAnswers202AfterTheLogTookTheEvent) {
  auto r = request("POST", "/users", {{"Content-Type", "application/json"}, {"Prefer", "respond-async"}},
                   user_json("Async", "async@example.com"));
  ASSERT_EQ(r.status, 202) << r.body;
  auto doc = parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << r.body;
  EXPECT_TRUE(doc.HasMember("event_id"));
  std::string location = r.header("Location");
  ASSERT_EQ(location.rfind("/users/", 0), 0u) << location;
  // The event is applied shortly after; wait for it, bounded.
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    status = request("GET", location).status;
    if (status != 200) std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpApiTest, MalformedAndInvalidBodiesAre400) {
  const std::string bodies[] = {
      "",
      "{",
      "not json",
      R"({"name":"A","email":"a@example.com"} trailing)",
      "[]",
      R"([{"name":"A","email":"a@example.com"}])",
      R"("a string")",
      "42",
      "null",
      "{}",
      R"({"name":5,"email":"a@example.com"})",
      R"({"name":null,"email":"a@example.com"})",
      R"({"name":["A"],"email":"a@example.com"})",
      R"({"name":"A","email":5})",
      R"({"name":"A","email":{"at":"example.com"}})",
      R"({"email":"a@example.com"})",
      R"({"name":"A"})",
      R"({"name":"","email":"a@example.com"})",
      R"({"name":"   ","email":"a@example.com"})",
      R"({"name":"A\nB","email":"a@example.com"})",
      user_json(std::string(201, 'n'), "a@example.com"),
      user_json(std::string(10000, 'n'), "a@example.com"),
      R"({"name":"A","email":"a@example.com","admin":true})",
      R"({"name":"A","email":"a@example.com","id":"chosen-id"})",
      R"({"name":"A","email":"a@example.com","created_at":"2020-01-01T00:00:00Z"})",
      R"({"name":"A","name":"B","email":"a@example.com"})",
      "{\"name\":\"\xff\xfe\",\"email\":\"a@example.com\"}",
      R"({"name":"\ud800","email":"a@example.com"})",
      std::string(1000, '[') + std::string(1000, ']'),
  };
  for (const auto& body : bodies) expect_rejected("POST", "/users", kJson, body, 400);
}

TEST_F(HttpApiTest, InvalidEmailsAre400) {
  for (const char* email : {"", "plain", "@example.com", "a@", "a@example", "a@@example.com", "a b@example.com",
                            "a@exa mple.com", ".a@example.com", "a..b@example.com", "a@-example.com", "a@example..com",
                            "<a@example.com>", "a@example.com' OR '1'='1"}) {
    auto r = expect_rejected("POST", "/users", kJson, user_json("A", email), 400);
    auto doc = parse(r.body);
    ASSERT_TRUE(doc.IsObject());
    EXPECT_TRUE(doc.HasMember("field") && std::string(doc["field"].GetString()) == "email") << email << r.body;
  }
}

TEST_F(HttpApiTest, UpdateWithABadBodyIs400) {
  std::string id = create_user("Carol", "carol@example.com");
  ASSERT_FALSE(id.empty());
  for (const std::string& body :
       {std::string("{"), std::string("[]"), std::string(R"({"name":"","email":"c@example.com"})"),
        user_json("Carol", "not-an-email"), std::string(R"({"id":"other","name":"C","email":"c@example.com"})"),
        std::string(R"({"name":"C","email":"c@example.com","role":"x"})")})
    expect_rejected("PUT", "/users/" + id, kJson, body, 400);
}

TEST_F(HttpApiTest, BadQueryParametersAre400) {
  for (const char* q : {"limit=0", "limit=-1", "limit=1001", "limit=abc", "limit=", "limit=10x", "limit=1.5",
                        "limit=99999999999999999999", "after=%ZZ", "after=%00", "after=%", "consistency=eventual"})
    expect_rejected("GET", std::string("/users?") + q, {}, {}, 400);
}

TEST_F(HttpApiTest, BadIdEncodingIs400) {
  std::string long_id(257, 'x');
  for (const std::string& id : {std::string("%ZZ"), std::string("%"), std::string("abc%2"), std::string("a%2Fb"),
                                std::string("%2F"), std::string("%00"), std::string("a%00b"), std::string("a%0Ab"),
                                std::string("%7F"), std::string("%FF"), std::string("%C0%AF"), long_id}) {
    expect_rejected("GET", "/users/" + id, {}, {}, 400);
    expect_rejected("PUT", "/users/" + id, kJson, user_json("A", "a@example.com"), 400);
    expect_rejected("DELETE", "/users/" + id, {}, {}, 400);
  }
}

TEST_F(HttpApiTest, UnknownTablesIdsAndPathsAre404) {
  for (const char* path : {"/nosuch", "/nosuch/1", "/Users", "/users%2Fx", "/_cl_log", "/_cl_offsets/0", "/users/a/b",
                           "/users/a/b/c", "/users/", "/users//", "//users", "/users/missing-id/"})
    expect_rejected("GET", path, {}, {}, 404);
  expect_rejected("POST", "/nosuch", kJson, user_json("A", "a@example.com"), 404);
  expect_rejected("POST", "/users/a/b", kJson, user_json("A", "a@example.com"), 404);
  expect_rejected("GET", "/users/00000000-0000-4000-8000-000000000000", {}, {}, 404);
  expect_rejected("PUT", "/users/00000000-0000-4000-8000-000000000000", kJson, user_json("A", "a@example.com"), 404);
  expect_rejected("DELETE", "/users/00000000-0000-4000-8000-000000000000", {}, {}, 404);
}

TEST_F(HttpApiTest, StrangeIdsAreAnsweredAndChangeNothing) {
  // Each is a well-formed id that no user has: 404, never SQL, never a path.
  for (const char* id : {"%22quoted%22", "%27", "%27%20OR%201%3D1%20--", "'%20OR%201=1%20--", "..", "%2E%2E",
                         "1%3B%20DROP%20TABLE%20users", "%25", "*", "users"}) {
    std::string target = std::string("/users/") + id;
    expect_rejected("GET", target, {}, {}, 404);
    expect_rejected("PUT", target, kJson, user_json("A", "strange@example.com"), 404);
    expect_rejected("DELETE", target, {}, {}, 404);
  }
  // A raw quote in the request target is not valid HTTP; either way nothing changes.
  Snapshot before = snapshot();
  auto r = request("GET", "/users/\"quoted\"");
  EXPECT_TRUE(r.status == 400 || r.status == 404) << r.status;
  EXPECT_EQ(snapshot(), before);
  // The table is still there and intact.
  EXPECT_EQ(request("GET", "/users?limit=1").status, 200);
}

struct Case405 {
  const char* method;
  const char* target;
  const char* allow;
};

TEST_F(HttpApiTest, UnsupportedMethodsAre405WithAllow) {
  const Case405 cases[] = {
      {"PATCH", "/users", "GET, POST, OPTIONS"},
      {"PUT", "/users", "GET, POST, OPTIONS"},
      {"DELETE", "/users", "GET, POST, OPTIONS"},
      {"POST", "/users/some-id", "GET, PUT, DELETE, OPTIONS"},
      {"PATCH", "/users/some-id", "GET, PUT, DELETE, OPTIONS"},
      {"POST", "/healthz", "GET, OPTIONS"},
      {"DELETE", "/_cluster/checksum/users", "GET, OPTIONS"},
  };
  for (const auto& c : cases) {
    auto r = expect_rejected(c.method, c.target, kJson, user_json("A", "a@example.com"), 405);
    EXPECT_EQ(r.header("Allow"), c.allow) << c.method << " " << c.target;
  }
}

TEST_F(HttpApiTest, MethodsHttpDoesNotDefineAre405WithAllowToo) {
  // Pistache's parser refuses a method it does not know (it answered a
  // plain-text 400): the node answers it as any method without a route.
  const Case405 cases[] = {
      {"BREW", "/users", "GET, POST, OPTIONS"},
      {"QUERY", "/users/some-id", "GET, PUT, DELETE, OPTIONS"},
      {"QUERY", "/healthz", "GET, OPTIONS"},
      {"M-SEARCH", "/openapi.json", "GET, OPTIONS"},
  };
  for (const auto& c : cases) {
    auto r = expect_rejected(c.method, c.target, kJson, user_json("A", "a@example.com"), 405);
    EXPECT_EQ(r.header("Allow"), c.allow) << c.method << " " << c.target;
  }
  expect_rejected("BREW", "/no/such/path", {}, {}, 404);
  // The connection goes on: the request was read whole.
  HttpConnection c(node_->port());
  EXPECT_EQ(c.request("QUERY", "/users").status, 405);
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

// The node reads ClusterLite-Position from a request head that arrives whole
// before Pistache parses the request (request_head.h), and leaves it to
// Pistache otherwise: the answer is the same however the bytes arrive, and
// nothing of one request's position stays for the next on the connection.
TEST_F(HttpApiTest, APositionIsReadHoweverTheRequestArrives) {
  auto made = request("POST", "/users", kJson, user_json("Pos", "pos-arrival@example.com"));
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string token = made.header("ClusterLite-Position");
  ASSERT_FALSE(token.empty());
  const std::string id = parse(made.body)["id"].GetString();
  HttpConnection c(node_->port());
  for (const std::string& value : {token, std::string("nonsense"), std::string("  ") + token + "\t"}) {
    bool valid = value != "nonsense";
    const std::string get = "GET /users/" + id + " HTTP/1.1\r\nHost: x\r\nClusterLite-Position: " + value + "\r\n\r\n";
    size_t line = get.find("ClusterLite"), head = get.size();
    for (const std::vector<size_t>& cuts : std::vector<std::vector<size_t>>{
             {}, {line + 5}, {line - 2}, {head - 1}, {3, line, line + 30, head - 2}}) {
      SCOPED_TRACE(value + ", " + std::to_string(cuts.size()) + " cut(s)");
      send_in_pieces(c, get, cuts);
      auto r = c.read_response();
      if (valid) {
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_NE(r.body.find(id), std::string::npos) << r.body;
      } else {
        expect_problem(r, 400, "malformed position");
        EXPECT_EQ(parse(r.body)["field"].GetString(), std::string("ClusterLite-Position")) << r.body;
      }
      // The next request on the connection brings no position and is answered as such.
      auto plain = c.request("GET", "/users/" + id);
      EXPECT_EQ(plain.status, 200) << plain.body;
    }
  }
  // A write whose head arrives whole before its body: the position read from
  // the head is kept until the body is in, and a malformed one writes nothing.
  auto post = [&](const std::string& value, const std::string& email) {
    std::string bytes = raw_create("Split", email, "ClusterLite-Position: " + value + "\r\n");
    size_t head = bytes.find("\r\n\r\n") + 4;
    send_in_pieces(c, bytes, {head, head + 5});
    return c.read_response();
  };
  Snapshot before = snapshot();
  expect_problem(post("nonsense", "split-refused@example.com"), 400, "malformed position, body later");
  EXPECT_EQ(snapshot(), before);
  auto written = post(token, "split-written@example.com");
  EXPECT_EQ(written.status, 201) << written.body;
  EXPECT_FALSE(written.header("ClusterLite-Position").empty());
  // Then a split write without one: the last request's position is not its.
  std::string bytes = raw_create("Split", "split-plain@example.com");
  send_in_pieces(c, bytes, {bytes.find("\r\n\r\n") + 4});
  EXPECT_EQ(c.read_response().status, 201);
  // Over kMaxPositionBytes the header stays with Pistache, and is refused as before.
  expect_problem(c.request("GET", "/users/" + id, {{"ClusterLite-Position", token + std::string(1100, '0')}}), 400,
                 "oversized position");
}

// Requests pipelined behind another in what arrived are not taken (Pistache
// keeps nothing after a request): the first is answered with
// `Connection: close`, so the client knows to send the rest again, and what
// it did not answer changed nothing.
TEST_F(HttpApiTest, PipelinedRequestsAreDeclinedWithConnectionClose) {
  auto get = [](const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"; };
  auto post = [](const std::string& email) { return raw_create("Piped", email); };
  {
    HttpConnection c(node_->port());
    c.send_raw(get("/healthz") + get("/users?limit=1"));
    auto first = c.read_response();
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(lower(first.header("Connection")), "close");
  }
  Snapshot before = snapshot();
  {
    HttpConnection c(node_->port());
    c.send_raw(post("piped-1@example.com") + post("piped-2@example.com"));
    auto first = c.read_response();
    EXPECT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(lower(first.header("Connection")), "close");
  }
  {
    // The head in one read, then the body and the next request in another.
    HttpConnection c(node_->port());
    std::string one = post("piped-3@example.com");
    send_in_pieces(c, one + get("/healthz"), {one.find("\r\n\r\n") + 4});
    auto first = c.read_response();
    EXPECT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(lower(first.header("Connection")), "close");
  }
  Snapshot after = snapshot();
  EXPECT_EQ(after.users, before.users + 2);  // piped-1 and piped-3, not piped-2
  auto listed = request("GET", "/users?email=piped-2@example.com");
  EXPECT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body, "[]");
  // One request per read keeps the connection, with a body too.
  HttpConnection c(node_->port());
  for (int i = 0; i < 3; ++i) {
    c.send_raw(post("piped-keep-" + std::to_string(i) + "@example.com"));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(lower(r.header("Connection")), "keep-alive");
  }
}

TEST_F(HttpApiTest, HeadIs405WithoutABody) {
  HttpConnection c(node_->port());
  c.send_raw("HEAD /users HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.read_response(true);
  EXPECT_EQ(head.status, 405);
  EXPECT_EQ(head.header("Allow"), "GET, POST, OPTIONS");
  // No body followed the head: the next answer on the connection is whole and in order.
  auto next = c.request("GET", "/healthz");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, R"({"status":"ok"})");
}

TEST_F(HttpApiTest, RequestsTheParserRefusesAreProblemJson) {
  // A Cookie header without name=value failed inside Pistache's parser with
  // a plain-text 500 on every path; Content-Type a parser cannot read, a
  // plain-text 415. Both are the request's fault, answered as problem+json.
  struct Case {
    Headers headers;
    int status;
  };
  const Case cases[] = {
      {{{"Cookie", "abc"}}, 400},
      {{{"Cookie", "clusterlite_position"}}, 400},
      {{{"Content-Type", "application/jsonp"}}, 415},
  };
  for (const auto& c : cases) {
    for (const char* target : {"/healthz", "/users"}) {
      HttpConnection conn(node_->port());
      auto r = conn.request("POST", target, c.headers, user_json("A", "parser@example.com"));
      expect_problem(r, c.status, c.headers[0].first + ": " + c.headers[0].second + " " + target);
      EXPECT_EQ(r.header("X-ClusterLite-Node"), kNodeId);
      EXPECT_EQ(lower(r.header("Connection")), "close");
    }
  }
}

TEST_F(HttpApiTest, ProblemTextCutInsideACharacterIsStillUtf8) {
  // "not found: <id>" keeps 64 bytes of the id; the plugin's "unknown field:
  // <name>" 64 bytes of the name. Both cut 'é' in two: the body held a lone
  // byte, which no JSON parser takes as UTF-8 (schemathesis found it).
  std::string long_name = std::string(63, 'a') + "\xC3\xA9";
  auto missing = request("GET", "/users/" + std::string(63, 'a') + "%C3%A9");
  auto unknown_field = request("POST", "/users", kJson,
                               R"({"name":"A","email":"utf8@example.com",")" + long_name + R"(":1})");
  for (const auto* r : {&missing, &unknown_field}) {
    EXPECT_TRUE(r->status == 404 || r->status == 400) << r->status;
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(r->body.c_str(), r->body.size());
    EXPECT_FALSE(doc.HasParseError()) << r->status << " " << r->body;
  }
}

TEST_F(HttpApiTest, OpenApiDescribesTheUsersTable) {
  auto r = request("GET", "/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  auto doc = parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << r.body.substr(0, 200);
  EXPECT_STREQ(doc["openapi"].GetString(), "3.1.0");
  ASSERT_TRUE(doc["paths"].HasMember("/users"));
  ASSERT_TRUE(doc["paths"].HasMember("/users/{id}"));
  EXPECT_TRUE(doc["paths"].HasMember("/healthz"));
  EXPECT_FALSE(doc["paths"].HasMember("/{table}"));
  EXPECT_TRUE(doc["components"]["schemas"].HasMember("users.create"));
  // Built once per plugin set: the same bytes again.
  EXPECT_EQ(request("GET", "/openapi.json").body, r.body);
}

TEST_F(HttpApiTest, DuplicateEmailIs409AndChangesNoEntity) {
  std::string first = create_user("Dora", "dora@example.com");
  std::string second = create_user("Eve", "eve@example.com");
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  for (const char* email : {"dora@example.com", "DORA@example.com", "Dora@Example.COM"}) {
    Snapshot before = snapshot();
    auto r = request("POST", "/users", kJson, user_json("Other", email));
    expect_problem(r, 409, email);
    auto doc = parse(r.body);
    EXPECT_TRUE(doc.IsObject() && doc.HasMember("field") && std::string(doc["field"].GetString()) == "email");
    Snapshot after = snapshot();
    // The event went through the log and was rejected there; no entity changed.
    EXPECT_EQ(after.users, before.users);
    EXPECT_EQ(after.log, before.log + 1);
    EXPECT_EQ(after.rejected, before.rejected + 1);
    EXPECT_EQ(parse(after.checksum)["checksum"], parse(before.checksum)["checksum"]);
  }
  auto r = request("PUT", "/users/" + second, kJson, user_json("Eve", "DORA@EXAMPLE.COM"));
  expect_problem(r, 409, "PUT taking another user's email");
  EXPECT_STREQ(parse(request("GET", "/users/" + second).body)["email"].GetString(), "eve@example.com");
}

TEST_F(HttpApiTest, NonJsonContentTypesAre415) {
  const std::string body = user_json("A", "type@example.com");
  for (const Headers& headers :
       {Headers{}, Headers{{"Content-Type", "text/plain"}}, Headers{{"Content-Type", "application/xml"}},
        Headers{{"Content-Type", "application/x-www-form-urlencoded"}},
        Headers{{"Content-Type", "multipart/form-data; boundary=x"}}}) {
    expect_rejected("POST", "/users", headers, body, 415);
  }
  std::string id = create_user("Type", "type.put@example.com");
  expect_rejected("PUT", "/users/" + id, {{"Content-Type", "text/plain"}}, body, 415);
  // Pistache 0.0.5 cannot parse this media type and refuses the request
  // while parsing it; the node answers that with problem+json too.
  expect_rejected("POST", "/users", {{"Content-Type", "application/jsonp"}}, body, 415);
  // Parameters and case do not matter.
  auto r = request("POST", "/users", {{"Content-Type", "Application/JSON; charset=utf-8"}}, body);
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(HttpApiTest, PreflightAndCorsHeaders) {
  auto r = request("OPTIONS", "/users",
                   {{"Origin", kOrigin},
                    {"Access-Control-Request-Method", "POST"},
                    {"Access-Control-Request-Headers", "content-type"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("Access-Control-Allow-Origin"), kOrigin);
  // The methods the path serves, no others (it listed every method on every path).
  EXPECT_EQ(r.header("Allow"), "GET, POST, OPTIONS");
  EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
  EXPECT_NE(r.header("Access-Control-Allow-Headers").find("content-type"), std::string::npos);
  EXPECT_NE(r.header("Vary").find("Origin"), std::string::npos);
  for (auto [path, allow] : {std::pair{"/users/some-id", "GET, PUT, DELETE, OPTIONS"},
                             std::pair{"/healthz", "GET, OPTIONS"},
                             std::pair{"/_admin/plugins/reload", "POST, OPTIONS"}}) {
    auto pre = request("OPTIONS", path, {{"Origin", kOrigin}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(pre.status, 204) << path;
    EXPECT_EQ(pre.header("Allow"), allow) << path;
    EXPECT_EQ(pre.header("Access-Control-Allow-Methods"), allow) << path;
  }
  // A path no route has.
  expect_problem(request("OPTIONS", "/users/some-id/more"), 404, "OPTIONS /users/some-id/more");

  auto get = request("GET", "/users?limit=1", {{"Origin", kOrigin}});
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("Access-Control-Allow-Origin"), kOrigin);
  EXPECT_NE(get.header("Access-Control-Expose-Headers").find("Location"), std::string::npos);

  // An origin that is not configured gets no CORS grant.
  auto other =
      request("OPTIONS", "/users", {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_FALSE(other.has_header("Access-Control-Allow-Origin"));
  EXPECT_FALSE(other.has_header("Access-Control-Allow-Methods"));
  EXPECT_FALSE(
      request("GET", "/users?limit=1", {{"Origin", "http://evil.example"}}).has_header("Access-Control-Allow-Origin"));
}

TEST_F(HttpApiTest, PagingWalksEveryUserOnceWithLinkNext) {
  for (int i = 0; i < 23; ++i)
    ASSERT_FALSE(create_user("Page " + std::to_string(i), "page" + std::to_string(i) + "@example.com").empty());
  auto all = parse(request("GET", "/users?limit=1000").body);
  ASSERT_TRUE(all.IsArray());
  std::vector<std::string> expected;
  for (auto& u : all.GetArray()) expected.push_back(u["id"].GetString());
  ASSERT_GE(expected.size(), 23u);
  EXPECT_TRUE(std::is_sorted(expected.begin(), expected.end()));

  std::vector<std::string> walked;
  std::string target = "/users?limit=7";
  int pages = 0;
  while (!target.empty() && pages < 100) {
    auto r = request("GET", target);
    ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    auto page = parse(r.body);
    ASSERT_TRUE(page.IsArray());
    EXPECT_LE(page.Size(), 7u);
    for (auto& u : page.GetArray()) walked.push_back(u["id"].GetString());
    ++pages;
    std::string link = r.header("Link");
    if (link.empty()) {
      target.clear();
      continue;
    }
    EXPECT_NE(link.find("rel=\"next\""), std::string::npos) << link;
    auto lt = link.find('<'), gt = link.find('>');
    ASSERT_TRUE(lt != std::string::npos && gt != std::string::npos && lt < gt) << link;
    target = link.substr(lt + 1, gt - lt - 1);
    EXPECT_EQ(target.rfind("/users?", 0), 0u) << target;
  }
  EXPECT_EQ(walked, expected);
  EXPECT_EQ(pages, static_cast<int>((expected.size() + 6) / 7));

  // Without ?limit= a page holds at most 100.
  auto first = parse(request("GET", "/users").body);
  EXPECT_LE(first.Size(), 100u);
  auto past_end = request("GET", "/users?after=" + expected.back());
  EXPECT_EQ(past_end.status, 200);
  EXPECT_EQ(past_end.body, "[]");
  EXPECT_FALSE(past_end.has_header("Link"));
}

TEST_F(HttpApiTest, KeepAliveWithoutAConnectionHeader) {
  HttpConnection c(node_->port());
  c.send_raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto first = c.read_response();
  EXPECT_EQ(first.status, 200);
  EXPECT_NE(first.header("Connection").find("eep-"), std::string::npos) << first.header("Connection");
  EXPECT_FALSE(c.peer_closed(200ms)) << "the node closed a keep-alive connection";
  c.send_raw("GET /users?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto second = c.read_response();
  EXPECT_EQ(second.status, 200);
  // A write and an error on the same connection too.
  auto created = c.request("POST", "/users", kJson, user_json("Kept", "kept.alive@example.com"));
  EXPECT_EQ(created.status, 201) << created.body;
  auto bad = c.request("POST", "/users", kJson, "{");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);

  // Connection: close and HTTP/1.0 without keep-alive are answered with
  // "Connection: Close", so the client closes; Pistache 0.0.5 itself keeps
  // the socket until its keep-alive timeout.
  HttpConnection closing(node_->port());
  auto closed = closing.request("GET", "/healthz", {{"Connection", "close"}});
  EXPECT_EQ(closed.status, 200);
  EXPECT_NE(lower(closed.header("Connection")).find("close"), std::string::npos) << closed.header("Connection");
  HttpConnection old(node_->port());
  old.send_raw("GET /healthz HTTP/1.0\r\n\r\n");
  auto answer = old.read_response();
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(lower(answer.header("Connection")).find("close"), std::string::npos) << answer.header("Connection");
}

TEST_F(HttpApiTest, AnIdleKeepAliveConnectionIsNotTimedOut) {
  // Past the node's 10 s header timeout, an answered connection waiting for
  // its next request is idle, not a request that timed out (no 408, no close).
  HttpConnection c(node_->port());
  auto created = c.request("POST", "/users", kJson, user_json("Idle", "idle.keepalive@example.com"));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_FALSE(c.peer_closed(11s)) << "the node closed an idle keep-alive connection";
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

TEST_F(HttpApiTest, TransportAbuseDoesNotHurtTheNode) {
  struct Case {
    std::string bytes;
    // Whether any answer must be a 4xx.
    bool client_error = true;
  };
  const Case cases[] = {
      {std::string("\x00\x01\x02garbage\r\n\r\n", 15)},
      {"GET\r\n\r\n"},
      {"GET /users HTTP/9.9\r\n\r\n"},
      {"BREW /users HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"GET /users HTTP/1.1\r\nNo colon here\r\n\r\n"},
      {"GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n"},
      {"POST /users HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":"},
      // Pistache 0.0.5 fails on it inside its parser (a plain-text 500, now a 400).
      {"POST /users HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}"},
      {"POST /users HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
      {"POST /users HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
       "POST /users HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n{"},
  };
  Snapshot before = snapshot();
  for (const auto& c : cases) {
    // None of these is answered by closing the connection, so each waits out a short bound.
    std::string answer = raw_exchange(node_->port(), c.bytes, 500ms);
    std::string shown = c.bytes.substr(0, 60) + " -> " + answer.substr(0, 200);
    if (!answer.empty()) EXPECT_EQ(answer.rfind("HTTP/1.", 0), 0u) << shown;
    EXPECT_EQ(answer.find("HTTP/1.1 2"), std::string::npos) << shown;
    for (size_t at = answer.find("HTTP/1."); at != std::string::npos; at = answer.find("HTTP/1.", at + 1)) {
      char digit = answer.size() > at + 9 ? answer[at + 9] : '?';
      EXPECT_TRUE(c.client_error ? digit == '4' : (digit == '4' || digit == '5')) << shown;
    }
    ASSERT_TRUE(node_->alive()) << node_->output();
  }
  EXPECT_EQ(snapshot(), before);
}

// Body limits need their own node: the shared one keeps the default 1 MiB.
TEST(HttpBodyLimit, BodiesOverTheLimitAre413AndChangeNothing) {
  NodeOptions options;
  options.node_id = kNodeId;
  options.extra_config = R"({"http": {"max_body_bytes": 1024}})";
  NodeProcess node(options);
  auto counts = [&] {
    SQLite::Database db(node.db_path(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT (SELECT COUNT(*) FROM users) || '/' || (SELECT COUNT(*) FROM _cl_log)");
    q.executeStep();
    return q.getColumn(0).getString() + " " + node.request("GET", "/_cluster/checksum/users").body;
  };
  std::string before = counts();

  std::string big = user_json(std::string(2000, 'n'), "big@example.com");
  auto r = node.request("POST", "/users", kJson, big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  EXPECT_EQ(r.header("X-ClusterLite-Node"), kNodeId);
  auto doc = parse(r.body);
  ASSERT_TRUE(doc.IsObject()) << r.body;
  EXPECT_EQ(doc["status"].GetInt(), 413);
  // The limit is checked before the content type and the JSON.
  EXPECT_EQ(node.request("POST", "/users", {{"Content-Type", "text/plain"}}, std::string(2000, 'x')).status, 413);
  auto put = node.request("PUT", "/users/some-id", kJson, big);
  EXPECT_EQ(put.status, 413) << put.body;
  // Far over the limit it is refused while it is read, before routing (as
  // problem+json too: it was Pistache's plain text); the node stays up.
  std::string huge(300 * 1024, 'x');
  HttpConnection c(node.port(), 5s);
  try {
    c.send_raw("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(huge.size()) + "\r\n\r\n" + huge);
  } catch (const std::runtime_error&) {
    // The node may stop reading once it has refused the request.
  }
  auto refused = c.read_response();
  EXPECT_EQ(refused.status, 413);
  EXPECT_EQ(refused.header("Content-Type"), "application/problem+json") << refused.body;
  EXPECT_EQ(refused.header("X-ClusterLite-Node"), kNodeId);
  EXPECT_EQ(lower(refused.header("Connection")), "close");
  EXPECT_EQ(counts(), before);

  // Just under the limit is fine.
  auto ok = node.request("POST", "/users", kJson, user_json(std::string(150, 'n'), "small@example.com"));
  EXPECT_EQ(ok.status, 201) << ok.body;
  ASSERT_TRUE(node.alive()) << node.output();
  EXPECT_EQ(node.stop(), 0) << node.output();
}

// An answer larger than the socket's buffers, to a client that does not read
// yet, arrives whole, and later answers on the connection (a read, and a write
// answered from the applier's thread) follow it. (Pistache 0.0.5 does not take
// pipelined requests, so each request here waits for the previous answer.)
TEST(HttpLargeResponses, ASlowReaderGetsTheWholeAnswerAndTheNextOnesInOrder) {
  TempDir ui;
  // Larger than a loopback socket's send and receive buffers together.
  std::string big(24 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  std::ofstream(ui.path() + "/big.json", std::ios::binary) << big;
  NodeOptions options;
  options.extra_config = R"({"http": {"ui_directory": ")" + ui.path() + R"("}})";
  NodeProcess node(options);

  HttpConnection c(node.port(), 30s);
  c.send_raw("GET /ui/big.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::this_thread::sleep_for(300ms);  // the socket fills up meanwhile
  auto first = c.read_response();
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.body.size(), big.size());
  EXPECT_TRUE(first.body == big) << "the body arrived changed";
  auto second = c.request("GET", "/healthz");
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.header("X-ClusterLite-Node"), "test-node");
  auto created = c.request("POST", "/users", kJson, user_json("After Big", "after.big@example.com"));
  EXPECT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(node.alive()) << node.output();
  EXPECT_EQ(node.stop(), 0) << node.output();
}

TEST(HttpShutdown, SigtermStopsTheNodeCleanly) {
  NodeProcess node;
  auto r = node.request("POST", "/users", kJson, user_json("Last", "last@example.com"));
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(node.stop(), 0) << node.output();
  EXPECT_FALSE(node.alive());
  // What was answered 201 is in the file after the stop.
  SQLite::Database db(node.db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM users WHERE email = 'last@example.com'").getInt(), 1);
}

}  // namespace
