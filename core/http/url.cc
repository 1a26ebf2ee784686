#include "http/url.h"

#include <cctype>

#include "json.h"

namespace clusterlite {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (in[i] != '%') {
      out.push_back(in[i]);
    } else {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return true;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) { return decode(in, out, false); }

bool decode_query_value(std::string_view in, std::string& out) { return decode(in, out, true); }

std::string url_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool decode_id(std::string_view raw, std::string& id) {
  if (!percent_decode(raw, id) || id.empty() || id.size() > kMaxIdBytes || !is_valid_utf8(id)) return false;
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7F || c == '/') return false;
  return true;
}

}  // namespace clusterlite
