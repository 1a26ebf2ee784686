// find_header_line (request_head.h), checked against Pistache's own request
// parser: a request whose ClusterLite-Position line is taken out parses to
// the same request, less that header, and the value taken is the one
// Pistache reads. Unit test: the parser is Pistache's, no node runs.
#include "http/request_head.h"

#include <gtest/gtest.h>
#include <pistache/http.h>

#include <map>
#include <string>
#include <vector>

using namespace clusterlite;
using namespace Pistache;

namespace {

constexpr std::string_view kName = "ClusterLite-Position";

struct Parsed {
  std::string method, resource, body;
  std::map<std::string, std::string> raw;    // lower-cased name -> value
  std::vector<std::string> typed;            // names of the headers Pistache parsed into types
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What Pistache makes of `pieces`, fed in turn, as one request.
Parsed parse(const std::vector<std::string_view>& pieces) {
  Http::RequestParser parser(1 << 20);
  for (auto piece : pieces) EXPECT_TRUE(parser.feed(piece.data(), piece.size()));
  EXPECT_EQ(parser.parse(), Http::Private::State::Done);
  Parsed p;
  p.method = Http::methodString(parser.request.method());
  p.resource = parser.request.resource();
  p.body = parser.request.body();
  for (const auto& [name, raw] : parser.request.headers().rawList()) p.raw[lower(name)] = raw.value();
  for (const auto& h : parser.request.headers().list()) p.typed.emplace_back(h->name());
  return p;
}

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The request without its line parses to the request with it, less the
// header; the value is Pistache's (without the whitespace around it).
void expect_same_request_less_the_line(const std::string& request) {
  SCOPED_TRACE(request);
  auto line = find_header_line(request, kName);
  ASSERT_TRUE(line);
  std::string_view data(request);
  EXPECT_EQ(data.substr(line->end - 2, 2), "\r\n");
  Parsed whole = parse({data});
  Parsed less = parse({data.substr(0, line->begin), data.substr(line->end)});
  ASSERT_TRUE(whole.raw.count(lower(std::string(kName))));
  EXPECT_EQ(std::string(line->value), trimmed(whole.raw[lower(std::string(kName))]));
  EXPECT_EQ(less.method, whole.method);
  EXPECT_EQ(less.resource, whole.resource);
  EXPECT_EQ(less.body, whole.body);
  EXPECT_EQ(less.typed, whole.typed);
  whole.raw.erase(lower(std::string(kName)));
  less.raw.erase(lower(std::string(kName)));  // a second line of the name stays with Pistache
  EXPECT_EQ(less.raw, whole.raw);
}

}  // namespace

TEST(RequestHeadTest, TakesTheLineWhereverItIsInTheHead) {
  for (const std::string& request : {
           std::string("GET /users/1 HTTP/1.1\r\nClusterLite-Position: 1.0123456789abcdef.0-5\r\n\r\n"),
           std::string("GET /users/1 HTTP/1.1\r\nHost: x\r\nClusterLite-Position: 1.abc.0-5\r\n\r\n"),
           std::string("GET /users?limit=2 HTTP/1.1\r\nHost: x\r\nclusterlite-position: 1.abc.0-5\r\n"
                       "Accept: */*\r\nX-Other: y\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nCLUSTERLITE-POSITION:\t 1.abc.0-5 \t\r\nConnection: keep-alive\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nClusterLite-Position:\r\nHost: x\r\n\r\n"),  // empty: refused later
           std::string("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "ClusterLite-Position: 1.abc.0-5_1-9\r\nContent-Length: 2\r\n\r\n{}"),
           // Only the first of two: the second stays in the request, for the router to merge.
           std::string("GET / HTTP/1.1\r\nClusterLite-Position: 1.abc.0-1\r\nClusterLite-Position: 1.abc.0-2\r\n\r\n"),
       })
    expect_same_request_less_the_line(request);
  auto twice = find_header_line("GET / HTTP/1.1\r\nClusterLite-Position: a\r\nClusterLite-Position: b\r\n\r\n",
                                kName);
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->value, "a");
}

TEST(RequestHeadTest, LooksOnlyAtWholeHeadsAndOnlyAtTheirHeaderLines) {
  for (const std::string& data : {
           // No line of that name; names that only start or end like it.
           std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nClusterLite-Positions: 1.abc.0-5\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nX-ClusterLite-Position: 1.abc.0-5\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nClusterLite-Position : 1.abc.0-5\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\nClusterLite-Position\r\n\r\n"),
           // In the request line, the body, or the next request: not a header of this head.
           std::string("GET /ClusterLite-Position:x HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("POST /users HTTP/1.1\r\nContent-Length: 40\r\n\r\nx\r\nClusterLite-Position: 1.abc.0-5\r\n\r\n"),
           std::string("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nClusterLite-Position: 1.abc.0-5\r\n\r\n"),
           // The head is not whole: the line is left to Pistache.
           std::string("GET / HTTP/1.1\r\nClusterLite-Position: 1.abc.0-5\r\n"),
           std::string("GET / HTTP/1.1\r\nClusterLite-Position: 1.abc.0-5\r\n\r"),
           std::string("GET / HTTP/1.1\nClusterLite-Position: 1.abc.0-5\n\n"),
           std::string("\r\nClusterLite-Position: 1.abc.0-5\r\n\r\n"),
           std::string(),
       }) {
    EXPECT_FALSE(find_header_line(data, kName)) << data;
  }
}

TEST(RequestHeadTest, EveryCutOfARequestIsWholeOrLeftAlone) {
  // Cut after each byte: the first part holds the line only when it holds the
  // whole head, and then the rest of the request parses with it as before.
  const std::string request =
      "PUT /users/7 HTTP/1.1\r\nHost: x\r\nClusterLite-Position: 1.abc.0-5\r\nContent-Length: 11\r\n\r\n"
      "{\"a\":\"b\"}\r\n";
  size_t head = request.find("\r\n\r\n") + 4;
  for (size_t cut = 0; cut <= request.size(); ++cut) {
    std::string_view first = std::string_view(request).substr(0, cut);
    auto line = find_header_line(first, kName);
    EXPECT_EQ(line.has_value(), cut >= head) << cut;
    if (!line) continue;
    Parsed whole = parse({request});
    Parsed less = parse({first.substr(0, line->begin), first.substr(line->end), std::string_view(request).substr(cut)});
    EXPECT_EQ(less.body, whole.body);
    EXPECT_EQ(less.resource, whole.resource);
    EXPECT_EQ(less.raw.count("clusterlite-position"), 0u);
    EXPECT_EQ(line->value, "1.abc.0-5");
  }
}

TEST(RequestHeadTest, MeasuresTheHeadThroughItsBlankLine) {
  EXPECT_EQ(head_size("GET / HTTP/1.1\r\n\r\n"), 18u);
  EXPECT_EQ(head_size("GET / HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}\r\n\r\n"), 27u);
  EXPECT_EQ(head_size("GET / HTTP/1.1\r\nHost: x\r\n\r"), 0u);
  EXPECT_EQ(head_size("GET / HTTP/1.1\nHost: x\n\n"), 0u);
  EXPECT_EQ(head_size(""), 0u);
}
