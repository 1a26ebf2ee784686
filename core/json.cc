#include "json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>
#include <string_view>

namespace clusterlite {
namespace {

std::string check(const rapidjson::Value& v, int depth, int max_depth) {
  if (v.IsObject() || v.IsArray()) {
    if (depth >= max_depth) return "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  }
  if (v.IsObject()) {
    std::set<std::string_view> seen;
    for (auto& m : v.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (!seen.insert(key).second) return "duplicate key in JSON object: " + std::string(key.substr(0, 64));
      if (auto e = check(m.value, depth + 1, max_depth); !e.empty()) return e;
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray())
      if (auto err = check(e, depth + 1, max_depth); !err.empty()) return err;
  }
  return {};
}

}  // namespace

std::string parse_json_strict(std::string_view text, rapidjson::Document& doc, int max_depth) {
  // Iterative parsing: deep nesting cannot overflow the stack.
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError())
    return std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte " +
           std::to_string(doc.GetErrorOffset()) + ")";
  return check(doc, 0, max_depth);
}

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace clusterlite
