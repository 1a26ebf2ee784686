#include "validation.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string_view>

namespace schema {

using rapidjson::Value;

namespace {

std::string json_text(const Value& v, size_t limit = 200) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  std::string out(buf.GetString(), buf.GetSize());
  if (out.size() > limit) out = out.substr(0, limit) + "...";
  return out;
}

std::string number_text(const Value* schema, const char* keyword) {
  if (!schema || !schema->IsObject()) return "?";
  auto it = schema->FindMember(keyword);
  return it == schema->MemberEnd() ? "?" : json_text(it->value);
}

bool flag(const Value* schema, const char* keyword) {
  if (!schema || !schema->IsObject()) return false;
  auto it = schema->FindMember(keyword);
  return it != schema->MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

std::string a_type(const Value* schema) {
  if (schema && schema->IsObject())
    if (auto it = schema->FindMember("type"); it != schema->MemberEnd() && it->value.IsString()) {
      std::string_view t(it->value.GetString(), it->value.GetStringLength());
      if (t == "string") return "a string";
      if (t == "integer") return "an integer (a whole number)";
      if (t == "number") return "a number";
      if (t == "boolean") return "true or false";
      if (t == "array") return "an array";
      if (t == "object") return "an object";
    }
  return "of another type";
}

// A name cut short for a message, control characters shown as '?'.
std::string shown(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c);
  }
  if (s.size() > 64) out += "...";
  return out;
}

// The validator's verdict as a Problem. `schema` is the schema it ran with,
// `data` the value it checked.
template <typename ValidatorType>
Problem describe(const ValidatorType& validator, const Value& schema, const Value& data) {
  std::string keyword = validator.GetInvalidSchemaKeyword() ? validator.GetInvalidSchemaKeyword() : "";
  auto where = validator.GetInvalidDocumentPointer();
  const Value* sub = validator.GetInvalidSchemaPointer().Get(schema);
  // The path of the offending value in the entity (sku, dims.width, tags[2]),
  // and its top-level field.
  Problem p;
  std::string path;
  const Value* at = &data;
  for (size_t i = 0; i < where.GetTokenCount(); ++i) {
    const auto& t = where.GetTokens()[i];
    std::string_view name(t.name, t.length);
    if (at && at->IsArray()) {
      path += "[" + std::string(name) + "]";
      at = t.index < at->Size() ? &(*at)[t.index] : nullptr;
    } else {
      path += (path.empty() ? "" : ".") + shown(name);
      if (at && at->IsObject()) {
        auto it = at->FindMember(Value(rapidjson::StringRef(t.name, t.length)));
        at = it != at->MemberEnd() ? &it->value : nullptr;
      } else {
        at = nullptr;
      }
    }
    if (i == 0) p.field = std::string(name);
  }
  if (keyword == "required") {
    // The first required key the object lacks, in the declaration's order.
    if (sub && sub->IsObject() && at && at->IsObject())
      if (auto req = sub->FindMember("required"); req != sub->MemberEnd() && req->value.IsArray())
        for (auto& r : req->value.GetArray())
          if (r.IsString() && !at->HasMember(r)) {
            std::string missing(r.GetString(), r.GetStringLength());
            path += (path.empty() ? "" : ".") + shown(missing);
            if (p.field.empty()) p.field = missing;
            break;
          }
    p.message = path + " is required";
    return p;
  }
  if (keyword == "additionalProperties") {
    p.message = "unknown field: " + path;
    return p;
  }
  std::string subject = path.empty() ? "value" : path;
  if (keyword == "type") {
    p.message = subject + " must be " + a_type(sub);
  } else if (keyword == "minLength") {
    std::string n = number_text(sub, "minLength");
    p.message = n == "1" ? subject + " must not be empty" : subject + " must be at least " + n + " characters long";
  } else if (keyword == "maxLength") {
    p.message = subject + " must be at most " + number_text(sub, "maxLength") + " characters long";
  } else if (keyword == "pattern") {
    std::string pattern = number_text(sub, "pattern");
    p.message = subject + " must match the pattern " + pattern;
  } else if (keyword == "minimum") {
    p.message = subject + (flag(sub, "exclusiveMinimum") ? " must be greater than " : " must be at least ") +
                number_text(sub, "minimum");
  } else if (keyword == "maximum") {
    p.message = subject + (flag(sub, "exclusiveMaximum") ? " must be less than " : " must be at most ") +
                number_text(sub, "maximum");
  } else if (keyword == "multipleOf") {
    p.message = subject + " must be a multiple of " + number_text(sub, "multipleOf");
  } else if (keyword == "enum") {
    if (sub && sub->IsObject() && sub->HasMember("const"))
      p.message = subject + " must be " + number_text(sub, "const");
    else
      p.message = subject + " must be one of " + number_text(sub, "enum");
  } else if (keyword == "minItems") {
    p.message = subject + " must have at least " + number_text(sub, "minItems") + " items";
  } else if (keyword == "maxItems") {
    p.message = subject + " must have at most " + number_text(sub, "maxItems") + " items";
  } else {
    p.message = subject + " is not valid (" + (keyword.empty() ? "schema" : keyword) + ")";
  }
  return p;
}

// Whether `v` holds a "pattern" or "patternProperties" key at any depth.
bool holds_patterns(const Value& v) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject())
      if (m.name == "pattern" || m.name == "patternProperties" || holds_patterns(m.value)) return true;
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray())
      if (holds_patterns(e)) return true;
  }
  return false;
}

}  // namespace

rapidjson::Document Validator::without_top_level_patterns(const Value& schema, std::vector<TopLevelPattern>& taken) {
  rapidjson::Document copy;
  copy.CopyFrom(schema, copy.GetAllocator());
  auto props = copy.IsObject() ? copy.FindMember("properties") : copy.MemberEnd();
  if (props == copy.MemberEnd() || !props->value.IsObject()) return copy;
  for (auto& m : props->value.GetObject()) {
    if (!m.value.IsObject()) continue;
    auto p = m.value.FindMember("pattern");
    if (p == m.value.MemberEnd() || !p->value.IsString()) continue;
    std::string why;
    auto compiled = Pattern::compile({p->value.GetString(), p->value.GetStringLength()}, &why);
    if (!compiled) continue;  // RapidJSON's validator keeps it
    taken.push_back({std::string(m.name.GetString(), m.name.GetStringLength()), std::move(compiled),
                     json_text(p->value)});
    m.value.RemoveMember(p);
  }
  return copy;
}

Validator::Validator(const Value& schema)
    : schema_(without_top_level_patterns(schema, patterns_)), compiled_(schema_), serialize_(holds_patterns(schema_)) {}

Problem Validator::check(const Value& entity) const {
  if (!entity.IsObject()) return {"body must be a JSON object", ""};
  {
    std::unique_lock lock(mutex_, std::defer_lock);
    if (serialize_) lock.lock();
    rapidjson::SchemaValidator validator(compiled_);
    if (!entity.Accept(validator)) return describe(validator, schema_, entity);
  }
  for (const TopLevelPattern& p : patterns_) {
    auto it = entity.FindMember(rapidjson::StringRef(p.property.data(), p.property.size()));
    if (it == entity.MemberEnd() || !it->value.IsString()) continue;
    if (!p.pattern->search({it->value.GetString(), it->value.GetStringLength()}))
      return {shown(p.property) + " must match the pattern " + p.source_json, p.property};
  }
  for (auto& m : entity.GetObject())
    if (has_nul(m.name) || has_nul(m.value))
      return {shown(std::string_view(m.name.GetString(), m.name.GetStringLength())) +
                  " must not contain the NUL character (\\u0000)",
              std::string(m.name.GetString(), m.name.GetStringLength())};
  return {};
}

std::string check_value(const Value& property_schema, const Property& p, const Value& value) {
  rapidjson::SchemaDocument compiled(property_schema);
  rapidjson::SchemaValidator validator(compiled);
  if (!value.Accept(validator)) return describe(validator, property_schema, value).message;
  if (has_nul(value)) return "strings must not contain the NUL character (\\u0000)";
  return storage_problem(p, value);
}

std::string storage_problem(const Property& p, const Value& value) {
  if (p.kind == Kind::kInteger && value.IsNumber() && !value.IsInt64())
    return p.name + " must be from -9223372036854775808 to 9223372036854775807";
  return "";
}

bool has_nul(const Value& value) {
  if (value.IsString())
    return std::string_view(value.GetString(), value.GetStringLength()).find('\0') != std::string_view::npos;
  if (value.IsArray()) {
    for (auto& v : value.GetArray())
      if (has_nul(v)) return true;
  } else if (value.IsObject()) {
    for (auto& m : value.GetObject())
      if (has_nul(m.name) || has_nul(m.value)) return true;
  }
  return false;
}

}  // namespace schema
