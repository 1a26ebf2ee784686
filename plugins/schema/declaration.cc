#include "declaration.h"

#include <rapidjson/internal/regex.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "pattern.h"
#include "validation.h"

namespace schema {

using rapidjson::Document;
using rapidjson::Value;

namespace {

constexpr int kMaxVersion = 1000000;
constexpr size_t kMaxPatternLength = 1000;
constexpr unsigned long kMaxRepeat = 1000;

const std::set<std::string> kTopKeywords = {"type",  "properties",  "required", "additionalProperties",
                                            "title", "description", "x-unique", "x-version",
                                            "x-filter", "x-search",   "x-sort"};
const std::set<std::string> kPropertyKeywords = {
    "type",     "enum",     "const",   "default",          "minLength",        "maxLength",  "pattern",
    "format",   "minimum",  "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems",
    "maxItems", "items",    "properties", "required",      "additionalProperties", "title",  "description"};
const std::set<std::string> kStringKeywords = {"minLength", "maxLength", "pattern", "format"};
const std::set<std::string> kNumberKeywords = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                               "multipleOf"};
const std::set<std::string> kArrayKeywords = {"minItems", "maxItems", "items"};
const std::set<std::string> kObjectKeywords = {"properties", "required", "additionalProperties"};

std::string str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A name as it appears in a message: quoted, cut short, control characters
// shown as '?', so the message stays one line.
std::string shown(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out += c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c);
  }
  if (s.size() > 64) out += "...";
  return out + "\"";
}

bool valid_property_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

bool kind_of(const std::string& type, Kind* kind) {
  static const std::map<std::string, Kind> kKinds = {{"string", Kind::kString},   {"integer", Kind::kInteger},
                                                     {"number", Kind::kNumber},   {"boolean", Kind::kBoolean},
                                                     {"array", Kind::kArray},     {"object", Kind::kObject}};
  auto it = kKinds.find(type);
  if (it == kKinds.end()) return false;
  *kind = it->second;
  return true;
}

std::string column_type(Kind kind) {
  switch (kind) {
    case Kind::kString: return "TEXT";
    case Kind::kInteger: return "INTEGER";
    case Kind::kNumber: return "REAL";
    case Kind::kBoolean: return "BOOLEAN_INTEGER";
    case Kind::kArray: return "JSON_ARRAY_TEXT";
    case Kind::kObject: return "JSON_OBJECT_TEXT";
  }
  return "TEXT";
}

// Why `p` cannot be a declared pattern, or "" when it can. The syntax is that
// of RapidJSON's regular expressions (pattern.h), read by Pattern for
// top-level properties and by RapidJSON's engine for nested ones, so both
// must take it; an unbalanced "(" would trip an assertion inside RapidJSON's
// parser, so the shape is checked before either sees the pattern.
std::string pattern_problem(const std::string& p) {
  if (p.empty()) return "is empty";
  if (p.size() > kMaxPatternLength) return "is longer than " + std::to_string(kMaxPatternLength) + " characters";
  if (p.find('\0') != std::string::npos) return "contains a NUL character";
  int depth = 0;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return "has a \")\" without its \"(\"";
    } else if (c == '{') {
      size_t end = p.find('}', i);
      if (end == std::string::npos) return "has a \"{\" without its \"}\"";
      std::string inner = p.substr(i + 1, end - i - 1);
      for (size_t at = 0; at < inner.size();) {
        size_t digits = at;
        while (digits < inner.size() && std::isdigit(static_cast<unsigned char>(inner[digits]))) ++digits;
        if (digits > at && (digits - at > 6 || std::stoul(inner.substr(at, digits - at)) > kMaxRepeat))
          return "repeats more than " + std::to_string(kMaxRepeat) + " times";
        at = digits < inner.size() ? digits + 1 : digits;
      }
    }
  }
  if (in_class) return "has a \"[\" without its \"]\"";
  if (depth > 0) return "has a \"(\" without its \")\"";
  const std::string supported =
      "; the syntax is RapidJSON's: literals, ., [a-z], [^a-z], (...), |, ?, *, +, {n,m}, ^, $ and the escapes "
      "\\. \\* \\+ \\? \\| \\^ \\$ \\( \\) \\[ \\] \\{ \\} \\\\ \\t \\n \\r \\f \\v (not \\d, \\w, \\s, \\- or \\/)";
  std::string why;
  auto compiled = Pattern::compile(p, &why);
  if (!compiled) return why + supported;
  if (compiled->repeats_empty())
    return "repeats with *, + or {n,} something that can match nothing (as \"(a*)*\" or \"(a?)+\" do), which "
           "RapidJSON's validator cannot check; write it without the inner repeat (\"a*\")";
  rapidjson::internal::Regex re(p.c_str());
  if (!re.IsValid()) return "is not a regular expression RapidJSON's validator supports" + supported;
  return "";
}

// Checks one declaration; `path` names the schema being checked in messages.
class Checker {
 public:
  explicit Checker(const std::string& table) : table_(table) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw std::invalid_argument("table " + table_ + ": " + (path.empty() ? "" : "property " + path + ": ") + what);
  }

  void check_top(const Value& s, Declaration& out) {
    if (!s.IsObject()) fail("", "the declaration must be a JSON Schema object");
    for (auto& m : s.GetObject()) {
      std::string key = str(m.name);
      if (kTopKeywords.count(key)) continue;
      if (key == "readOnly") fail("", "\"readOnly\" is not supported on a table");
      if (key == "default") fail("", "\"default\" is supported on properties, not on a table");
      fail("", "unsupported keyword " + shown(key));
    }
    auto type = s.FindMember("type");
    if (type != s.MemberEnd() && !(type->value.IsString() && str(type->value) == "object"))
      fail("", "\"type\" must be \"object\"");
    for (const char* k : {"title", "description"}) {
      auto it = s.FindMember(k);
      if (it != s.MemberEnd() && !it->value.IsString()) fail("", "\"" + std::string(k) + "\" must be a string");
    }

    auto props = s.FindMember("properties");
    if (props == s.MemberEnd() || !props->value.IsObject())
      fail("", "\"properties\" is required: an object of property schemas");
    if (props->value.MemberCount() == 0) fail("", "\"properties\" must declare at least one property");
    std::map<std::string, std::string> seen;  // lower-case name -> name
    for (auto& m : props->value.GetObject()) {
      std::string name = str(m.name);
      if (!valid_property_name(name))
        fail("", "property name " + shown(name) + " must match ^[A-Za-z][A-Za-z0-9_]{0,62}$");
      std::string low = lower(name);
      if (low == "id" || low == "created_at" || low == "updated_at")
        fail("", "property " + shown(name) + " is reserved: id, created_at and updated_at are set by the server");
      if (auto it = seen.find(low); it != seen.end())
        fail("", "properties " + shown(it->second) + " and " + shown(name) +
                     " differ only in case (column names ignore case)");
      seen[low] = name;
      Property p;
      p.name = name;
      check_schema(m.value, name, true, &p.kind);
      p.column_type = column_type(p.kind);
      if (auto d = m.value.FindMember("default"); d != m.value.MemberEnd()) {
        auto copy = std::make_shared<Document>();
        copy->CopyFrom(d->value, copy->GetAllocator());
        p.default_value = std::move(copy);
      }
      out.properties.push_back(std::move(p));
    }
    std::sort(out.properties.begin(), out.properties.end(),
              [](const Property& a, const Property& b) { return a.name < b.name; });

    out.required = names(s, "required", "", props->value);
    for (auto& r : out.required)
      for (auto& p : out.properties)
        if (p.name == r) p.required = true;
    out.unique = names(s, "x-unique", "", props->value);
    for (auto& u : out.unique)
      for (auto& p : out.properties)
        if (p.name == u) {
          if (p.kind == Kind::kArray || p.kind == Kind::kObject)
            fail("", "\"x-unique\" names " + shown(u) + ", an " + kind_name(p.kind) +
                         ": only string, integer, number and boolean properties can be unique");
          p.unique = true;
        }
    std::sort(out.unique.begin(), out.unique.end());

    if (auto ap = s.FindMember("additionalProperties"); ap != s.MemberEnd()) {
      check_additional(ap->value, "");
      out.additional = ap->value.IsObject() || ap->value.GetBool();
    }
    check_queries(s, props->value, out);
    if (auto v = s.FindMember("x-version"); v != s.MemberEnd()) {
      if (!v->value.IsInt() || v->value.GetInt() < 1 || v->value.GetInt() > kMaxVersion)
        fail("", "\"x-version\" must be an integer from 1 to " + std::to_string(kMaxVersion));
      out.version = v->value.GetInt();
    }
  }

 private:
  // x-filter, x-search and x-sort: the fields queries may use, each backed
  // by an index the plugin makes (SchemaTable::prepare_table).
  void check_queries(const Value& s, const Value& props, Declaration& out) {
    auto kind_of_property = [&](const std::string& name) {
      for (auto& p : out.properties)
        if (p.name == name) return &p;
      return static_cast<Property*>(nullptr);
    };
    out.filters = names(s, "x-filter", "", props);
    for (auto& f : out.filters) {
      Kind k = kind_of_property(f)->kind;
      if (k == Kind::kArray || k == Kind::kObject)
        fail("", "\"x-filter\" names " + shown(f) + ", an " + kind_name(k) +
                     ": only string, integer, number and boolean properties can be filters");
    }
    out.search = names(s, "x-search", "", props);
    for (auto& f : out.search)
      if (kind_of_property(f)->kind != Kind::kString)
        fail("", "\"x-search\" names " + shown(f) + ": only string properties can be searched");
    auto sorts = s.FindMember("x-sort");
    if (sorts == s.MemberEnd()) return;
    if (!sorts->value.IsArray()) fail("", "\"x-sort\" must be an array of property names");
    for (auto& v : sorts->value.GetArray()) {
      if (!v.IsString()) fail("", "\"x-sort\" must be an array of property names");
      std::string name = str(v);
      if (std::find(out.sorts.begin(), out.sorts.end(), name) != out.sorts.end())
        fail("", "\"x-sort\" names " + shown(name) + " twice");
      out.sorts.push_back(name);
      if (name == "created_at" || name == "updated_at") continue;
      const Property* p = kind_of_property(name);
      if (!p) fail("", "\"x-sort\" names " + shown(name) + ", which is not in \"properties\" (nor created_at or updated_at)");
      if (p->kind != Kind::kString && p->kind != Kind::kInteger && p->kind != Kind::kNumber)
        fail("", "\"x-sort\" names " + shown(name) + ", a " + kind_name(p->kind) +
                     ": only string, integer and number properties can be sorted by");
      if (std::find(out.required.begin(), out.required.end(), name) == out.required.end())
        fail("", "\"x-sort\" names " + shown(name) + ", which is not required: a sort field must always have a value");
    }
  }

  // The names listed by `keyword` ("required", "x-unique") of schema `s`:
  // strings, each once, each a key of `props`.
  std::vector<std::string> names(const Value& s, const char* keyword, const std::string& path, const Value& props) {
    std::vector<std::string> out;
    auto it = s.FindMember(keyword);
    if (it == s.MemberEnd()) return out;
    std::string k = std::string("\"") + keyword + "\"";
    if (!it->value.IsArray()) fail(path, k + " must be an array of property names");
    for (auto& v : it->value.GetArray()) {
      if (!v.IsString()) fail(path, k + " must be an array of property names");
      std::string name = str(v);
      if (!props.IsObject() || !props.HasMember(v))
        fail(path, k + " names " + shown(name) + ", which is not in \"properties\"");
      if (std::find(out.begin(), out.end(), name) != out.end()) fail(path, k + " names " + shown(name) + " twice");
      out.push_back(name);
    }
    return out;
  }

  void check_additional(const Value& v, const std::string& path) {
    if (v.IsBool()) return;
    if (!v.IsObject()) fail(path, "\"additionalProperties\" must be true, false or a schema object");
    check_schema(v, path.empty() ? "(additional)" : path + ".(additional)", false, nullptr);
  }

  // A property's schema (top: a top-level property, whose type decides its
  // column), or one nested in it (items, properties, additionalProperties).
  void check_schema(const Value& s, const std::string& path, bool top, Kind* kind_out) {
    if (!s.IsObject()) fail(path, "must be a schema object");
    for (auto& m : s.GetObject()) {
      std::string key = str(m.name);
      if (kPropertyKeywords.count(key)) continue;
      if (key == "readOnly")
        fail(path, "\"readOnly\" is not supported on declared properties: only id, created_at and updated_at are "
                   "read-only (set by the server)");
      if (key == "x-unique" || key == "x-version" || key == "x-filter" || key == "x-search" || key == "x-sort")
        fail(path, "\"" + key + "\" belongs at the top of the table's declaration");
      fail(path, "unsupported keyword " + shown(key));
    }
    std::optional<Kind> kind;
    auto type = s.FindMember("type");
    if (type == s.MemberEnd()) {
      if (top) fail(path, "\"type\" is required: string, integer, number, boolean, array or object");
    } else {
      Kind k;
      if (!type->value.IsString() || !kind_of(str(type->value), &k))
        fail(path, "\"type\" must be one of string, integer, number, boolean, array, object (a single name)");
      kind = k;
    }
    if (kind_out) *kind_out = kind.value_or(Kind::kString);
    if (kind) {
      for (auto& m : s.GetObject()) {
        std::string key = str(m.name);
        const std::set<std::string>* applies = nullptr;
        const char* what = nullptr;
        if (kStringKeywords.count(key)) applies = &kStringKeywords, what = "string";
        if (kNumberKeywords.count(key)) applies = &kNumberKeywords, what = "integer and number";
        if (kArrayKeywords.count(key)) applies = &kArrayKeywords, what = "array";
        if (kObjectKeywords.count(key)) applies = &kObjectKeywords, what = "object";
        if (!applies) continue;
        bool ok = (applies == &kStringKeywords && *kind == Kind::kString) ||
                  (applies == &kNumberKeywords && (*kind == Kind::kInteger || *kind == Kind::kNumber)) ||
                  (applies == &kArrayKeywords && *kind == Kind::kArray) ||
                  (applies == &kObjectKeywords && *kind == Kind::kObject);
        if (!ok)
          fail(path, "\"" + key + "\" applies to " + what + " properties, not to " + kind_name(*kind));
      }
    }
    for (const char* k : {"title", "description", "format"}) {
      auto it = s.FindMember(k);
      if (it != s.MemberEnd() && !it->value.IsString()) fail(path, "\"" + std::string(k) + "\" must be a string");
    }
    for (const char* k : {"minLength", "maxLength", "minItems", "maxItems"}) {
      auto it = s.FindMember(k);
      // RapidJSON reads these as 32-bit counts and ignores anything else.
      if (it != s.MemberEnd() && !(it->value.IsUint64() && it->value.GetUint64() <= 0xFFFFFFFFull))
        fail(path, "\"" + std::string(k) + "\" must be an integer from 0 to 4294967295");
    }
    for (const char* k : {"minimum", "maximum"}) {
      auto it = s.FindMember(k);
      if (it != s.MemberEnd() && !it->value.IsNumber()) fail(path, "\"" + std::string(k) + "\" must be a number");
    }
    for (auto [k, bound] : {std::pair{"exclusiveMinimum", "minimum"}, std::pair{"exclusiveMaximum", "maximum"}}) {
      auto it = s.FindMember(k);
      if (it == s.MemberEnd()) continue;
      if (it->value.IsBool()) {
        if (!s.HasMember(bound))
          fail(path, "\"" + std::string(k) + "\" as true or false (draft 4) needs \"" + bound +
                         "\"; or give the bound itself as a number");
      } else if (!it->value.IsNumber()) {
        fail(path, "\"" + std::string(k) + "\" must be a number");
      }
    }
    if (auto it = s.FindMember("multipleOf"); it != s.MemberEnd())
      if (!it->value.IsNumber() || !(it->value.GetDouble() > 0.0))
        fail(path, "\"multipleOf\" must be a number greater than 0");
    if (auto it = s.FindMember("pattern"); it != s.MemberEnd()) {
      if (!it->value.IsString()) fail(path, "\"pattern\" must be a string");
      if (std::string why = pattern_problem(str(it->value)); !why.empty())
        fail(path, "\"pattern\" " + shown(str(it->value)) + " " + why);
    }
    if (auto it = s.FindMember("enum"); it != s.MemberEnd())
      if (!it->value.IsArray() || it->value.Empty()) fail(path, "\"enum\" must be a non-empty array of values");
    if (s.HasMember("enum") && s.HasMember("const")) fail(path, "use \"enum\" or \"const\", not both");
    if (!top && s.HasMember("default")) fail(path, "\"default\" is supported on top-level properties only");
    if (auto it = s.FindMember("items"); it != s.MemberEnd()) {
      if (!it->value.IsObject()) fail(path, "\"items\" must be a schema object (one schema for every item)");
      check_schema(it->value, path + "[]", false, nullptr);
    }
    auto props = s.FindMember("properties");
    if (props != s.MemberEnd()) {
      if (!props->value.IsObject()) fail(path, "\"properties\" must be an object of property schemas");
      for (auto& m : props->value.GetObject()) check_schema(m.value, path + "." + str(m.name), false, nullptr);
    }
    static const Value kNoProperties(rapidjson::kObjectType);
    names(s, "required", path, props != s.MemberEnd() ? props->value : kNoProperties);
    if (auto ap = s.FindMember("additionalProperties"); ap != s.MemberEnd()) check_additional(ap->value, path);
  }

  const std::string& table_;
};

// Rewrites a checked schema (recursively) into what RapidJSON 1.1, a draft 4
// validator, checks the same way: const as a one-value enum, a numeric
// exclusiveMinimum/exclusiveMaximum (draft 6 and later) as the bound plus
// the draft 4 boolean.
void rewrite_for_validator(Value& s, Document::AllocatorType& a) {
  if (!s.IsObject()) return;
  if (auto c = s.FindMember("const"); c != s.MemberEnd() && !s.HasMember("enum")) {
    Value values(rapidjson::kArrayType);
    values.PushBack(Value(c->value, a), a);
    s.AddMember("enum", values, a);
  }
  for (auto [k, bound, lower_bound] :
       {std::tuple{"exclusiveMinimum", "minimum", true}, std::tuple{"exclusiveMaximum", "maximum", false}}) {
    auto ex = s.FindMember(k);
    if (ex == s.MemberEnd() || !ex->value.IsNumber()) continue;
    Value limit(ex->value, a);
    auto b = s.FindMember(bound);
    bool exclusive_is_stricter =
        b == s.MemberEnd() || (lower_bound ? limit.GetDouble() >= b->value.GetDouble()
                                           : limit.GetDouble() <= b->value.GetDouble());
    s.RemoveMember(k);
    if (exclusive_is_stricter) {
      s.RemoveMember(bound);
      s.AddMember(Value(bound, a), limit, a);
      s.AddMember(Value(k, a), Value(true), a);
    }
  }
  if (auto items = s.FindMember("items"); items != s.MemberEnd()) rewrite_for_validator(items->value, a);
  if (auto ap = s.FindMember("additionalProperties"); ap != s.MemberEnd()) rewrite_for_validator(ap->value, a);
  if (auto props = s.FindMember("properties"); props != s.MemberEnd() && props->value.IsObject())
    for (auto& m : props->value.GetObject()) rewrite_for_validator(m.value, a);
}

Value string_value(const char* s, Document::AllocatorType& a) { return Value(s, a); }

Value server_property(const char* format, const char* description, Document::AllocatorType& a) {
  Value v(rapidjson::kObjectType);
  v.AddMember("type", "string", a);
  v.AddMember("format", string_value(format, a), a);
  v.AddMember("readOnly", true, a);
  v.AddMember("description", string_value(description, a), a);
  return v;
}

Value name_array(const std::vector<std::string>& names, Document::AllocatorType& a) {
  Value out(rapidjson::kArrayType);
  for (auto& n : names) out.PushBack(Value(n.c_str(), static_cast<rapidjson::SizeType>(n.size()), a), a);
  return out;
}

void write_canonical(const Value& v, rapidjson::Writer<rapidjson::StringBuffer>& w) {
  if (v.IsObject()) {
    std::vector<const Value::Member*> members;
    for (auto& m : v.GetObject()) members.push_back(&m);
    std::sort(members.begin(), members.end(), [](const Value::Member* a, const Value::Member* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    w.StartObject();
    for (auto* m : members) {
      w.Key(m->name.GetString(), m->name.GetStringLength());
      write_canonical(m->value, w);
    }
    w.EndObject();
  } else if (v.IsArray()) {
    w.StartArray();
    for (auto& e : v.GetArray()) write_canonical(e, w);
    w.EndArray();
  } else {
    v.Accept(w);
  }
}

}  // namespace

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kString: return "string";
    case Kind::kInteger: return "integer";
    case Kind::kNumber: return "number";
    case Kind::kBoolean: return "boolean";
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "?";
}

const Property* Declaration::find(const std::string& name) const {
  for (auto& p : properties)
    if (p.name == name) return &p;
  return nullptr;
}

bool is_valid_table_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return name.rfind("sqlite_", 0) != 0;
}

std::string canonical_json(const Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  write_canonical(value, w);
  return {buf.GetString(), buf.GetSize()};
}

Declaration parse_declaration(const std::string& table, const Value& schema) {
  if (!is_valid_table_name(table))
    throw std::invalid_argument("table " + shown(table) +
                                ": a table name must match ^[a-z][a-z0-9_]{0,62}$ (and not begin with sqlite_)");
  Declaration out;
  out.table = table;
  Checker checker(table);
  checker.check_top(schema, out);

  // What the validator checks: the declaration, rewritten, with the fields the
  // server sets admitted (a request's are dealt with before validation; an
  // event's id is checked on its own) and unknown keys refused unless declared.
  out.validation = std::make_shared<Document>();
  auto& v = *out.validation;
  auto& va = v.GetAllocator();
  v.CopyFrom(schema, va);
  v.RemoveMember("x-unique");
  v.RemoveMember("x-version");
  for (const char* k : {"x-filter", "x-search", "x-sort"}) v.RemoveMember(k);
  rewrite_for_validator(v, va);
  auto& vprops = v["properties"];
  Value id_schema(rapidjson::kObjectType);
  id_schema.AddMember("type", "string", va);
  vprops.AddMember("id", id_schema, va);
  vprops.AddMember("created_at", Value(rapidjson::kObjectType), va);
  vprops.AddMember("updated_at", Value(rapidjson::kObjectType), va);
  if (!v.HasMember("additionalProperties")) v.AddMember("additionalProperties", false, va);

  // Each default must pass its own property's schema (and fit its column).
  for (auto& p : out.properties) {
    if (!p.has_default()) continue;
    std::string why = check_value(vprops[p.name.c_str()], p, *p.default_value);
    if (!why.empty()) checker.fail(p.name, "\"default\" does not match the property's schema: " + why);
  }

  // The entity schema served to clients: the declaration, the server's fields
  // marked read-only, and every default of the plugin made explicit.
  Document served;
  auto& a = served.GetAllocator();
  served.SetObject();
  served.AddMember("type", "object", a);
  for (const char* k : {"title", "description"})
    if (auto it = schema.FindMember(k); it != schema.MemberEnd()) served.AddMember(Value(k, a), Value(it->value, a), a);
  Value props(rapidjson::kObjectType);
  props.AddMember("id", server_property("uuid", "Set by the server: a UUIDv7, so ids created later sort later.", a), a);
  for (auto& m : schema["properties"].GetObject()) props.AddMember(Value(m.name, a), Value(m.value, a), a);
  props.AddMember("created_at",
                  server_property("date-time", "Set by the server: the time of the creating event.", a), a);
  props.AddMember("updated_at", server_property("date-time", "Set by the server: the time of the latest event.", a),
                  a);
  served.AddMember("properties", props, a);
  std::vector<std::string> required = out.required;
  std::sort(required.begin(), required.end());
  served.AddMember("required", name_array(required, a), a);
  if (auto ap = schema.FindMember("additionalProperties"); ap != schema.MemberEnd())
    served.AddMember("additionalProperties", Value(ap->value, a), a);
  else
    served.AddMember("additionalProperties", false, a);
  served.AddMember("x-unique", name_array(out.unique, a), a);
  served.AddMember("x-version", out.version, a);
  out.entity_schema = canonical_json(served);
  return out;
}

}  // namespace schema
