#include "eventlog/event_codec.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "json.h"
#include "timeutil.h"

namespace clusterlite {

bool is_schema_fingerprint(std::string_view text) {
  if (text.size() != 16) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_valid_table_name(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool is_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

namespace {

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string encode_event(const DatabaseEvent& event, const IdempotencyStamp* idempotency) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("id");
  w.String(event.id.data(), event.id.size());
  w.Key("operation");
  w.String(to_string(event.operation));
  w.Key("table_name");
  w.String(event.table_name.data(), event.table_name.size());
  w.Key("data");
  event.data.Accept(w);
  w.Key("timestamp");
  w.String(event.timestamp.data(), event.timestamp.size());
  // Only events of a versioned plugin carry a version: what older nodes and
  // other producers write stays byte for byte as it was.
  if (event.plugin_version > 0) {
    w.Key("plugin_version");
    w.Int(event.plugin_version);
  }
  if (!event.schema_sha256.empty()) {
    w.Key("schema_sha256");
    w.String(event.schema_sha256.data(), event.schema_sha256.size());
  }
  if (idempotency && idempotency->present()) {
    w.Key("idempotency");
    w.StartObject();
    w.Key("key");
    w.String(idempotency->key.data(), idempotency->key.size());
    w.Key("request_sha256");
    w.String(idempotency->request_sha256.data(), idempotency->request_sha256.size());
    w.Key("keep_seconds");
    w.Int64(idempotency->keep_seconds);
    w.EndObject();
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {

bool string_member(const rapidjson::Value& obj, const char* name, std::string& out, std::string& error) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    error = std::string("missing field: ") + name;
    return false;
  }
  if (!it->value.IsString()) {
    error = std::string("field ") + name + " must be a string";
    return false;
  }
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return true;
}

}  // namespace

std::string decode_event(std::string_view bytes, DatabaseEvent& out, std::chrono::system_clock::time_point* written_at,
                         IdempotencyStamp* idempotency) {
  if (idempotency) *idempotency = {};
  out.id.clear();
  out.table_name.clear();
  out.timestamp.clear();
  out.operation = Operation::kInsert;
  out.plugin_version = 0;
  out.schema_sha256.clear();
  // The whole event is parsed into out.data's own allocator; its "data" member
  // then becomes out.data without being copied.
  rapidjson::Document& doc = out.data;
  auto failed = [&](std::string error) {
    out.data.SetObject();
    return error;
  };
  if (auto error = parse_json_strict(bytes, doc); !error.empty()) return failed(std::move(error));
  if (!doc.IsObject()) return failed("event must be a JSON object");
  std::string error, op;
  if (!string_member(doc, "id", out.id, error) || !string_member(doc, "operation", op, error) ||
      !string_member(doc, "table_name", out.table_name, error) ||
      !string_member(doc, "timestamp", out.timestamp, error))
    return failed(std::move(error));
  if (op == "INSERT")
    out.operation = Operation::kInsert;
  else if (op == "UPDATE")
    out.operation = Operation::kUpdate;
  else if (op == "DELETE")
    out.operation = Operation::kDelete;
  else
    return failed("unknown operation: " + op.substr(0, 32));
  if (!is_valid_table_name(out.table_name)) return failed("invalid table_name");
  auto time = parse_rfc3339(out.timestamp);
  if (!time) return failed("timestamp is not RFC 3339");
  // Producers other than the nodes may write any offset ("+02:00"): the event
  // is applied with its time in UTC, the same text on every node.
  out.timestamp = to_utc_rfc3339(out.timestamp, *time);
  if (auto v = doc.FindMember("plugin_version"); v != doc.MemberEnd()) {
    if (!v->value.IsInt() || v->value.GetInt() < 0 || v->value.GetInt() > kMaxPluginVersion)
      return failed("plugin_version must be an integer from 0 to " + std::to_string(kMaxPluginVersion));
    out.plugin_version = v->value.GetInt();
  }
  if (auto h = doc.FindMember("schema_sha256"); h != doc.MemberEnd()) {
    if (!h->value.IsString() || !is_schema_fingerprint({h->value.GetString(), h->value.GetStringLength()}))
      return failed("schema_sha256 must be 16 lowercase hex digits");
    out.schema_sha256.assign(h->value.GetString(), h->value.GetStringLength());
  }
  if (auto i = doc.FindMember("idempotency"); i != doc.MemberEnd()) {
    const rapidjson::Value& v = i->value;
    // MemberEnd() is defined only on objects: check the kind before looking in.
    if (!v.IsObject()) return failed("idempotency must be an object with key, request_sha256 and keep_seconds");
    auto key = v.FindMember("key");
    auto request = v.FindMember("request_sha256");
    auto keep = v.FindMember("keep_seconds");
    if (key == v.MemberEnd() || !key->value.IsString() ||
        !is_idempotency_key({key->value.GetString(), key->value.GetStringLength()}))
      return failed("idempotency.key must be 1 to 255 printable ASCII characters");
    if (request == v.MemberEnd() || !request->value.IsString() ||
        !is_sha256_hex({request->value.GetString(), request->value.GetStringLength()}))
      return failed("idempotency.request_sha256 must be 64 lowercase hex digits");
    if (keep == v.MemberEnd() || !keep->value.IsInt64() || keep->value.GetInt64() < 1 ||
        keep->value.GetInt64() > kMaxIdempotencyKeepSeconds)
      return failed("idempotency.keep_seconds must be an integer from 1 to " +
                    std::to_string(kMaxIdempotencyKeepSeconds));
    if (idempotency) {
      idempotency->key.assign(key->value.GetString(), key->value.GetStringLength());
      idempotency->request_sha256.assign(request->value.GetString(), request->value.GetStringLength());
      idempotency->keep_seconds = keep->value.GetInt64();
    }
  }
  if (!doc.HasMember("data")) return failed("missing field: data");
  rapidjson::Value& data = doc["data"];
  if (!data.IsObject()) return failed("field data must be an object");
  rapidjson::Value entity(std::move(data));
  static_cast<rapidjson::Value&>(doc) = std::move(entity);
  if (written_at) *written_at = *time;
  return {};
}

}  // namespace clusterlite
