// GET /{table}'s query parameters and keyset cursors (core/http/list_query):
// parsing, the 400s naming the parameter, and cursors that round-trip and
// are refused when malformed or made for another table, order or filter set.
#include "http/list_query.h"

#include <gtest/gtest.h>

#include <tuple>

using namespace clusterlite;

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

const QueryFields kUsers{{"email", "name"}, {"name", "email"}, {"created_at", "updated_at"}};

ListRequest parse_ok(const Params& params, const QueryFields& fields = kUsers, const std::string& table = "users") {
  ListRequest out;
  ListParamError error;
  EXPECT_TRUE(parse_list_request(params, table, fields, 3, out, error)) << error.message;
  return out;
}

ListParamError parse_error(const Params& params, const QueryFields& fields = kUsers,
                           const std::string& table = "users") {
  ListRequest out;
  ListParamError error;
  EXPECT_FALSE(parse_list_request(params, table, fields, 3, out, error));
  return error;
}

TEST(ListQuery, NoParametersIsThePlainIdOrder) {
  auto r = parse_ok({});
  EXPECT_TRUE(r.plain);
  EXPECT_EQ(r.limit, 100);
  EXPECT_EQ(r.order, "id");
  EXPECT_EQ(r.query.after_id, "");
  EXPECT_EQ(next_page_params("users", r, "abc", ""), "limit=100&after=abc");
}

TEST(ListQuery, LimitAndAfterWorkAsBefore) {
  auto r = parse_ok({{"limit", "7"}, {"after", "a%20b+c"}, {"consistency", "strong"}});
  EXPECT_TRUE(r.plain);
  EXPECT_EQ(r.limit, 7);
  EXPECT_EQ(r.query.after_id, "a b+c");  // as before: no + for a space in ids
  EXPECT_EQ(parse_error({{"after", "a%2Fb"}}).parameter, "after");
  EXPECT_EQ(parse_error({{"limit", "0"}}).parameter, "limit");
  EXPECT_EQ(parse_error({{"limit", "1001"}}).parameter, "limit");
  EXPECT_EQ(parse_error({{"limit", "5x"}}).parameter, "limit");
  EXPECT_EQ(parse_error({{"after", ""}}).parameter, "after");
  EXPECT_EQ(parse_error({{"after", "%zz"}}).parameter, "after");
  // A plugin that cannot be queried (ABI 2, or none declared) still pages.
  EXPECT_TRUE(parse_ok({{"after", "x"}, {"order", "id"}}, QueryFields{}).plain);
}

TEST(ListQuery, FiltersSearchAndOrder) {
  auto r = parse_ok({{"name", "Ada+L"}, {"email", "ada%40example.org"}, {"q", "ad"}, {"order", "-created_at"}});
  EXPECT_FALSE(r.plain);
  ASSERT_EQ(r.query.equal.size(), 2u);
  // Sorted by field name, decoded ('+' is a space).
  EXPECT_EQ(r.query.equal[0], (std::pair<std::string, std::string>{"email", "ada@example.org"}));
  EXPECT_EQ(r.query.equal[1], (std::pair<std::string, std::string>{"name", "Ada L"}));
  EXPECT_EQ(r.query.search, "ad");
  EXPECT_EQ(r.query.order, "created_at");
  EXPECT_TRUE(r.query.descending);
  EXPECT_EQ(r.link_params, "email=ada%40example.org&name=Ada%20L&q=ad&order=-created_at");
  auto newest = parse_ok({{"order", "-id"}});
  EXPECT_FALSE(newest.plain);
  EXPECT_EQ(newest.query.order, "id");
  EXPECT_TRUE(newest.query.descending);
  // Filters in the id order page with after, as the plain list does.
  auto by_email = parse_ok({{"email", "a@b.org"}});
  EXPECT_EQ(next_page_params("users", by_email, "id1", ""), "limit=100&email=a%40b.org&after=id1");
}

TEST(ListQuery, BadParametersNameTheParameter) {
  auto unknown = parse_error({{"colour", "red"}});
  EXPECT_EQ(unknown.parameter, "colour");
  EXPECT_EQ(unknown.message, "unknown or unindexed field: colour (this table filters by email, name)");
  // created_at is sortable, not a filter.
  EXPECT_EQ(parse_error({{"created_at", "2026"}}).parameter, "created_at");
  auto order = parse_error({{"order", "name"}});
  EXPECT_EQ(order.parameter, "order");
  EXPECT_EQ(order.message,
            "order must be one of id, -id, created_at, -created_at, updated_at, -updated_at (a leading - is "
            "descending)");
  EXPECT_EQ(parse_error({{"order", ""}}).parameter, "order");
  EXPECT_EQ(parse_error({{"q", "a"}}, QueryFields{}).parameter, "q");
  EXPECT_EQ(parse_error({{"q", "a%01"}}).parameter, "q");
  EXPECT_EQ(parse_error({{"q", std::string(257, 'a')}}).parameter, "q");
  EXPECT_EQ(parse_error({{"email", "%ff"}}).parameter, "email");  // not UTF-8
  EXPECT_EQ(parse_error({{"email", "%4"}}).parameter, "email");
  EXPECT_EQ(parse_error({{"email", "x"}}, QueryFields{}).message,
            "unknown or unindexed field: email (this table cannot be filtered)");
  EXPECT_EQ(parse_error({{"order", "-id"}, {"after", "x"}}).parameter, "after");
  EXPECT_EQ(parse_error({{"cursor", "c1.e30"}, {"after", "x"}}).parameter, "cursor");
  // A parameter given twice has no one meaning.
  for (auto [twice, first, second] : std::initializer_list<std::tuple<const char*, const char*, const char*>>{
           {"order", "id", "-id"}, {"email", "a", "b"}, {"limit", "1", "2"}, {"q", "a", "b"}, {"after", "x", "y"}}) {
    auto e = parse_error({{twice, first}, {twice, second}});
    EXPECT_EQ(e.parameter, twice);
    EXPECT_EQ(e.message, std::string(twice) + " is given more than once");
  }
}

TEST(ListQuery, CursorRoundTrips) {
  ListCursor c{"users", "-created_at", "0123456789abcdef", R"("2026-01-02T03:04:05Z")", "0190-id"};
  std::string token = encode_cursor(c);
  EXPECT_EQ(token.rfind("c1.", 0), 0u);
  EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", 0),
            std::string::npos);
  ListCursor d;
  ASSERT_TRUE(decode_cursor(token, d));
  EXPECT_EQ(d.table, c.table);
  EXPECT_EQ(d.order, c.order);
  EXPECT_EQ(d.fingerprint, c.fingerprint);
  EXPECT_EQ(d.sort_value, c.sort_value);
  EXPECT_EQ(d.id, c.id);
  // Numbers and the id orders (no sort value).
  ListCursor n{"products", "price_cents", "f", "1234", "x"};
  ASSERT_TRUE(decode_cursor(encode_cursor(n), d));
  EXPECT_EQ(d.sort_value, "1234");
  ListCursor byid{"users", "-id", "f", "", "x"};
  ASSERT_TRUE(decode_cursor(encode_cursor(byid), d));
  EXPECT_EQ(d.sort_value, "");
}

TEST(ListQuery, MalformedCursorsAreRefused) {
  ListCursor d;
  for (std::string bad : {"", "c1.", "c2.e30", "c1.!!!", "c1.e30", /* {} */ "c1.bnVsbA" /* null */,
                          "c1.eyJ0IjoxfQ" /* {"t":1} */})
    EXPECT_FALSE(decode_cursor(bad, d)) << bad;
  std::string good = encode_cursor({"users", "-id", "f", "", "x"});
  EXPECT_FALSE(decode_cursor(good.substr(0, good.size() - 3), d));
  EXPECT_FALSE(decode_cursor(good + "A", d));
  // An object value, or a member too many.
  ListCursor obj{"users", "created_at", "f", "{}", "x"};
  EXPECT_FALSE(decode_cursor(encode_cursor(obj), d));
  EXPECT_EQ(parse_error({{"order", "-id"}, {"cursor", "nonsense"}}).parameter, "cursor");
}

TEST(ListQuery, ForeignCursorsAreRefused) {
  auto first = parse_ok({{"order", "-created_at"}, {"q", "ad"}});
  std::string params = next_page_params("users", first, "id9", R"("2026-01-01T00:00:00Z")");
  auto at = params.find("cursor=");
  ASSERT_NE(at, std::string::npos);
  std::string cursor = params.substr(at + 7);
  EXPECT_EQ(params.substr(0, at), "limit=100&q=ad&order=-created_at&");

  auto next = parse_ok({{"order", "-created_at"}, {"q", "ad"}, {"cursor", cursor}});
  EXPECT_EQ(next.query.after_id, "id9");
  EXPECT_EQ(next.query.after_value, R"("2026-01-01T00:00:00Z")");

  auto other_order = parse_error({{"order", "created_at"}, {"q", "ad"}, {"cursor", cursor}});
  EXPECT_EQ(other_order.parameter, "cursor");
  EXPECT_EQ(other_order.message, "cursor belongs to order=-created_at, not order=created_at");
  auto other_table =
      parse_error({{"order", "-created_at"}, {"q", "ad"}, {"cursor", cursor}}, kUsers, "people");
  EXPECT_EQ(other_table.message, "cursor belongs to table users, not people");
  auto other_search = parse_error({{"order", "-created_at"}, {"q", "bo"}, {"cursor", cursor}});
  EXPECT_EQ(other_search.parameter, "cursor");
  // An id order's cursor with no id... and a sort order's cursor without a value.
  std::string no_value = encode_cursor({"users", "created_at", first.fingerprint, "", "x"});
  EXPECT_EQ(parse_error({{"order", "created_at"}, {"q", "ad"}, {"cursor", no_value}}).parameter, "cursor");
}

}  // namespace
