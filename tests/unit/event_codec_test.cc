// Unit tests of the event wire format (core/event_codec): round trips, the
// original Go system's events, and a reason for every malformed input.
#include "eventlog/event_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "json.h"

using namespace clusterlite;

namespace {

// A well-formed event with `field` replaced by the raw JSON `value` (or removed when empty).
std::string event_with(const std::string& field, const std::string& value) {
  std::string fields[][2] = {{"id", R"("6f1c2a1e-0d7b-4c8e-9a51-3b2f7c9d8e01")"},
                             {"operation", R"("INSERT")"},
                             {"table_name", R"("users")"},
                             {"data", R"({"id":"u1","name":"Ann","email":"ann@example.com"})"},
                             {"timestamp", R"("2024-11-30T15:04:05.123456789+01:00")"}};
  std::string out = "{";
  for (auto& [name, raw] : fields) {
    std::string v = name == field ? value : raw;
    if (v.empty()) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + name + "\":" + v;
  }
  return out + "}";
}

}  // namespace

TEST(EventCodec, RoundTrips) {
  DatabaseEvent in;
  in.id = "6f1c2a1e-0d7b-4c8e-9a51-3b2f7c9d8e01";
  in.operation = Operation::kUpdate;
  in.table_name = "users";
  in.timestamp = "2026-11-27T05:23:00.123456Z";
  auto& a = in.data.GetAllocator();
  in.data.AddMember("id", "u1", a);
  in.data.AddMember("name", "Zoë \"quoted\" \\ name", a);
  in.data.AddMember("count", 42, a);

  for (Operation op : {Operation::kInsert, Operation::kUpdate, Operation::kDelete}) {
    in.operation = op;
    std::string wire = encode_event(in);
    DatabaseEvent out;
    ASSERT_EQ(decode_event(wire, out), "") << wire;
    EXPECT_EQ(out.id, in.id);
    EXPECT_EQ(out.operation, op);
    EXPECT_EQ(out.table_name, in.table_name);
    EXPECT_EQ(out.timestamp, in.timestamp);
    EXPECT_EQ(to_json(out.data), to_json(in.data));
    EXPECT_EQ(out.entity_id(), "u1");
    EXPECT_EQ(encode_event(out), wire);
  }
}

TEST(EventCodec, WritesTheWireFieldNames) {
  DatabaseEvent e;
  e.id = "e1";
  e.operation = Operation::kDelete;
  e.table_name = "users";
  e.timestamp = "2026-11-27T05:23:00Z";
  e.data.AddMember("id", "u1", e.data.GetAllocator());
  EXPECT_EQ(
      encode_event(e),
      R"({"id":"e1","operation":"DELETE","table_name":"users","data":{"id":"u1"},"timestamp":"2026-11-27T05:23:00Z"})");
}

TEST(EventCodec, DecodesTheOriginalGoEvents) {
  // The Go system wrote time.RFC3339Nano in local time: nanoseconds and an
  // offset. The decoded event carries the same instant in UTC.
  for (auto [ts, utc] : std::initializer_list<std::pair<const char*, const char*>>{
           {"2024-11-30T15:04:05.123456789+01:00", "2024-11-30T14:04:05.123456789Z"},
           {"2024-11-30T15:04:05Z", "2024-11-30T15:04:05Z"},
           {"2024-11-30T15:04:05.5-07:30", "2024-11-30T22:34:05.5Z"},
           {"2024-11-30T15:04:05.123456789Z", "2024-11-30T15:04:05.123456789Z"}}) {
    DatabaseEvent out;
    EXPECT_EQ(decode_event(event_with("timestamp", std::string("\"") + ts + "\""), out), "") << ts;
    EXPECT_EQ(out.timestamp, utc);
    EXPECT_EQ(out.operation, Operation::kInsert);
    EXPECT_EQ(out.table_name, "users");
    EXPECT_EQ(out.entity_id(), "u1");
  }
}

TEST(EventCodec, IgnoresUnknownFields) {
  std::string wire = event_with("id", R"("e1")");
  wire.insert(1, R"("origin_node":"node-7","version":3,"extra":{"nested":[1,2]},)");
  DatabaseEvent out;
  ASSERT_EQ(decode_event(wire, out), "") << wire;
  EXPECT_EQ(out.id, "e1");
  EXPECT_EQ(out.entity_id(), "u1");
}

TEST(EventCodec, GivesAReasonForEveryMalformedEvent) {
  struct Case {
    std::string input;
    std::string reason_contains;
  };
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100000; ++i) deep += "}";
  const Case cases[] = {
      {"", "invalid JSON"},
      {"not json", "invalid JSON"},
      {"{\"id\":", "invalid JSON"},
      {event_with("id", R"("e1")") + " trailing", "invalid JSON"},
      {"[]", "must be a JSON object"},
      {R"("a string")", "must be a JSON object"},
      {"42", "must be a JSON object"},
      {"null", "must be a JSON object"},
      {event_with("id", ""), "missing field: id"},
      {event_with("operation", ""), "missing field: operation"},
      {event_with("table_name", ""), "missing field: table_name"},
      {event_with("timestamp", ""), "missing field: timestamp"},
      {event_with("data", ""), "missing field: data"},
      {event_with("id", "7"), "id must be a string"},
      {event_with("operation", "null"), "operation must be a string"},
      {event_with("table_name", "[\"users\"]"), "table_name must be a string"},
      {event_with("timestamp", "1732975445"), "timestamp must be a string"},
      {event_with("data", "[]"), "data must be an object"},
      {event_with("data", R"("{}")"), "data must be an object"},
      {event_with("data", "null"), "data must be an object"},
      {event_with("operation", R"("UPSERT")"), "unknown operation"},
      {event_with("operation", R"("insert")"), "unknown operation"},
      {event_with("operation", R"("")"), "unknown operation"},
      {event_with("table_name", R"("Users")"), "invalid table_name"},
      {event_with("table_name", R"("")"), "invalid table_name"},
      {event_with("table_name", R"("1users")"), "invalid table_name"},
      {event_with("table_name", R"("_cl_log")"), "invalid table_name"},
      {event_with("table_name", R"("users; DROP TABLE users")"), "invalid table_name"},
      {event_with("table_name", "\"" + std::string(64, 'a') + "\""), "invalid table_name"},
      {event_with("timestamp", R"("yesterday")"), "timestamp"},
      {event_with("timestamp", R"("2024-11-30 15:04:05Z")"), "timestamp"},
      {event_with("timestamp", R"("2024-11-30T15:04:05")"), "timestamp"},
      {event_with("timestamp", R"("2024-02-30T15:04:05Z")"), "timestamp"},
      {event_with("data", "{\"name\":\"\xff\xfe\"}"), "invalid"},
      {event_with("data", "{\"name\":\"\xc0\xaf\"}"), "invalid"},
      {event_with("data", R"({"name":"\ud800"})"), "surrogate"},
      {event_with("id", "\"e\xed\xa0\x80\""), "invalid"},
      {R"({"id":"e1","id":"e2","operation":"INSERT","table_name":"users","data":{},"timestamp":"2024-11-30T15:04:05Z"})",
       "duplicate key"},
      {event_with("data", R"({"id":"u1","id":"u2"})"), "duplicate key"},
      {event_with("data", deep), "nested deeper"},
  };
  for (const auto& c : cases) {
    DatabaseEvent out;
    std::string reason = decode_event(c.input, out);
    std::string shown = c.input.substr(0, 120);
    EXPECT_FALSE(reason.empty()) << shown;
    EXPECT_NE(reason.find(c.reason_contains), std::string::npos) << shown << " -> " << reason;
    EXPECT_EQ(reason.find('\n'), std::string::npos) << "the reason is one line: " << reason;
  }
}

TEST(EventCodec, TableNames) {
  for (const char* ok : {"users", "a", "a_b_9", "order_items2"}) EXPECT_TRUE(is_valid_table_name(ok)) << ok;
  EXPECT_TRUE(is_valid_table_name(std::string(63, 'z')));
  for (const char* bad :
       {"", "Users", "_users", "9users", "user-s", "user s", "users/1", "us\xc3\xa9rs", "..", "_cl_offsets"})
    EXPECT_FALSE(is_valid_table_name(bad)) << bad;
  EXPECT_FALSE(is_valid_table_name(std::string(64, 'z')));
  EXPECT_FALSE(is_valid_table_name(std::string("us\0ers", 6)));
}

// The nesting limit counts brackets outside strings only: brackets and
// escaped quotes inside strings do not move it, and the limit itself is allowed.
TEST(StrictJson, NestingLimitCountsOnlyRealBrackets) {
  auto nested = [](int levels) {
    return std::string(static_cast<size_t>(levels), '[') + "1" + std::string(static_cast<size_t>(levels), ']');
  };
  rapidjson::Document doc;
  EXPECT_EQ(parse_json_strict(nested(32), doc), "");
  EXPECT_EQ(parse_json_strict(nested(33), doc), "JSON nested deeper than 32 levels");
  EXPECT_EQ(parse_json_strict(nested(3), doc, 3), "");
  EXPECT_EQ(parse_json_strict(nested(4), doc, 3), "JSON nested deeper than 3 levels");

  std::string brackets_in_string = R"({"a":")" + std::string(100, '[') + std::string(100, '{') + R"("})";
  EXPECT_EQ(parse_json_strict(brackets_in_string, doc), "");
  // An escaped quote does not end the string: the brackets after it are text.
  std::string escaped = R"({"a":"\")" + std::string(100, '[') + R"("})";
  EXPECT_EQ(parse_json_strict(escaped, doc), "");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["a"].GetStringLength(), 101u);
  // An escaped backslash does end before the quote, so these brackets count.
  std::string after_backslash = R"({"a":"\\",)" + std::string(40, '[');
  EXPECT_EQ(parse_json_strict(after_backslash, doc), "JSON nested deeper than 32 levels");
  // Unbalanced closing brackets are the parser's to refuse.
  EXPECT_NE(parse_json_strict("]]]]{}", doc).find("invalid JSON"), std::string::npos);
}

TEST(EventCodec, CarriesThePluginVersionAndSchemaFingerprintWhenSet) {
  DatabaseEvent in;
  in.id = "e1";
  in.operation = Operation::kInsert;
  in.table_name = "users";
  in.timestamp = "2026-11-27T05:23:00Z";
  in.data.AddMember("id", "u1", in.data.GetAllocator());
  // Unset (version 0, no schema): the wire format of the original system, byte for byte.
  EXPECT_EQ(encode_event(in).find("plugin_version"), std::string::npos);
  EXPECT_EQ(encode_event(in).find("schema_sha256"), std::string::npos);
  in.plugin_version = 3;
  in.schema_sha256 = "0123456789abcdef";
  std::string wire = encode_event(in);
  EXPECT_NE(wire.find(R"("plugin_version":3,"schema_sha256":"0123456789abcdef")"), std::string::npos) << wire;
  DatabaseEvent out;
  ASSERT_EQ(decode_event(wire, out), "") << wire;
  EXPECT_EQ(out.plugin_version, 3);
  EXPECT_EQ(out.schema_sha256, "0123456789abcdef");
  // Decoding into a reused event clears what the previous one had.
  ASSERT_EQ(decode_event(event_with("id", R"("e2")"), out), "");
  EXPECT_EQ(out.plugin_version, 0);
  EXPECT_EQ(out.schema_sha256, "");
}

TEST(EventCodec, RefusesABadPluginVersionOrSchemaFingerprint) {
  for (const char* bad : {R"("plugin_version":-1,)", R"("plugin_version":1000001,)", R"("plugin_version":"2",)",
                          R"("plugin_version":1.5,)", R"("schema_sha256":"0123",)", R"("schema_sha256":7,)",
                          R"("schema_sha256":"0123456789ABCDEF",)", R"("schema_sha256":"0123456789abcdeg",)"}) {
    std::string wire = event_with("id", R"("e1")");
    wire.insert(1, bad);
    DatabaseEvent out;
    std::string reason = decode_event(wire, out);
    EXPECT_TRUE(reason.find("plugin_version") != std::string::npos || reason.find("schema_sha256") != std::string::npos)
        << bad << " -> " << reason;
  }
}

TEST(EventCodec, CarriesAnIdempotencyStampWhenGiven) {
  DatabaseEvent in;
  in.id = "e1";
  in.table_name = "users";
  in.timestamp = "2026-11-27T05:23:00Z";
  in.data.AddMember("id", "u1", in.data.GetAllocator());
  IdempotencyStamp none;
  EXPECT_EQ(encode_event(in, &none), encode_event(in));  // no key: no field
  EXPECT_EQ(encode_event(in).find("idempotency"), std::string::npos);
  IdempotencyStamp stamp{"order-42 \"retry\"", std::string(64, 'a'), 86400};
  std::string wire = encode_event(in, &stamp);
  DatabaseEvent out;
  IdempotencyStamp got;
  ASSERT_EQ(decode_event(wire, out, nullptr, &got), "") << wire;
  EXPECT_EQ(got.key, stamp.key);
  EXPECT_EQ(got.request_sha256, stamp.request_sha256);
  EXPECT_EQ(got.keep_seconds, 86400);
  // Decoding an event without one clears the stamp.
  ASSERT_EQ(decode_event(event_with("id", R"("e2")"), out, nullptr, &got), "");
  EXPECT_FALSE(got.present());
}

TEST(EventCodec, RefusesABadIdempotencyStamp) {
  const std::string sha(64, 'b');
  for (std::string bad : {std::string(R"("idempotency":"k",)"), std::string(R"("idempotency":{},)"),
                          R"("idempotency":{"key":"","request_sha256":")" + sha + R"(","keep_seconds":1},)",
                          R"("idempotency":{"key":")" + std::string(256, 'k') + R"(","request_sha256":")" + sha +
                              R"(","keep_seconds":1},)",
                          R"("idempotency":{"key":"a\u0001","request_sha256":")" + sha + R"(","keep_seconds":1},)",
                          std::string(R"("idempotency":{"key":"k","request_sha256":"abc","keep_seconds":1},)"),
                          R"("idempotency":{"key":"k","request_sha256":")" + sha + R"(","keep_seconds":0},)",
                          R"("idempotency":{"key":"k","request_sha256":")" + sha + R"(","keep_seconds":"9"},)",
                          R"("idempotency":{"key":"k","request_sha256":")" + sha + R"("},)"}) {
    std::string wire = event_with("id", R"("e1")");
    wire.insert(1, bad);
    DatabaseEvent out;
    IdempotencyStamp got;
    std::string reason = decode_event(wire, out, nullptr, &got);
    EXPECT_NE(reason.find("idempotency"), std::string::npos) << bad << " -> " << reason;
  }
  EXPECT_TRUE(is_idempotency_key(" ~"));
  EXPECT_FALSE(is_idempotency_key("tab\there"));
  EXPECT_FALSE(is_idempotency_key("\xc3\xa9"));
}
