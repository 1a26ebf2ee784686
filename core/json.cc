#include "json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <string_view>

namespace clusterlite {
namespace {

// The length of the valid UTF-8 sequence that starts at s[i] (1 to 4), or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  int n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n >= s.size()) return 0;
  for (int k = 1; k <= n; ++k) {
    unsigned char cc = s[i + k];
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return static_cast<size_t>(n) + 1;
}

}  // namespace

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Eight ASCII bytes at a time: the common case in JSON strings.
    if (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

std::string check(const rapidjson::Value& v, int depth, int max_depth) {
  // \u escapes can spell lone surrogates, which RapidJSON turns into invalid UTF-8.
  if (v.IsString() && !is_valid_utf8({v.GetString(), v.GetStringLength()})) return "invalid UTF-8 in a JSON string";
  if (v.IsObject() || v.IsArray()) {
    if (depth >= max_depth) return "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  }
  if (v.IsObject()) {
    // Small objects (every entity) are checked for duplicate keys pairwise,
    // without allocating; large ones through a set.
    constexpr rapidjson::SizeType kPairwiseMembers = 16;
    const bool pairwise = v.MemberCount() <= kPairwiseMembers;
    std::set<std::string_view> seen;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string_view key(m->name.GetString(), m->name.GetStringLength());
      if (!is_valid_utf8(key)) return "invalid UTF-8 in a JSON key";
      bool duplicate = false;
      if (pairwise) {
        for (auto o = v.MemberBegin(); o != m && !duplicate; ++o)
          duplicate = key == std::string_view(o->name.GetString(), o->name.GetStringLength());
      } else {
        duplicate = !seen.insert(key).second;
      }
      if (duplicate) return "duplicate key in JSON object: " + std::string(key.substr(0, 64));
      if (auto e = check(m->value, depth + 1, max_depth); !e.empty()) return e;
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray())
      if (auto err = check(e, depth + 1, max_depth); !err.empty()) return err;
  }
  return {};
}

}  // namespace

namespace {

// Whether `text` opens more than `max_depth` arrays and objects inside each
// other, counting brackets outside strings. It looks at the brackets only:
// malformed text is for the parser to refuse.
bool nested_deeper_than(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::string parse_json_strict(std::string_view text, rapidjson::Document& doc, int max_depth) {
  // RapidJSON's recursive parser is the fast one, and the scan before it bounds
  // its recursion, so deep nesting cannot overflow the stack. UTF-8 is
  // checked once, by check() over every string and key after parsing: bytes
  // outside strings are syntax errors anyway, and \u escapes can spell lone
  // surrogates that RapidJSON's own validation lets through.
  // Counting the opening brackets is vectorised and settles most texts; only
  // those with more brackets than the limit (some may be inside strings) are scanned.
  auto opening = std::count(text.begin(), text.end(), '{') + std::count(text.begin(), text.end(), '[');
  if (opening > max_depth && nested_deeper_than(text, max_depth)) {
    doc.SetObject();
    return "JSON nested deeper than " + std::to_string(max_depth) + " levels";
  }
  doc.Parse(text.data(), text.size());
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
