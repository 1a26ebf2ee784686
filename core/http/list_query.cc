#include "http/list_query.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "json.h"
#include "http/url.h"
#include "sha256.h"

namespace clusterlite {
namespace {

constexpr size_t kMaxValueBytes = 1024;
constexpr size_t kMaxSearchBytes = 256;
constexpr size_t kMaxCursorBytes = 4096;
constexpr std::string_view kCursorPrefix = "c1.";

constexpr const char* kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 63]);
  return out;
}

bool unbase64url(std::string_view in, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* at = std::strchr(kBase64Url, c);
    if (c == '\0' || !at) return false;
    acc = (acc << 6) | static_cast<uint32_t>(at - kBase64Url);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Left-over bits must be zero padding of the last byte (one encoding per value).
  return bits < 6 && (acc & ((1u << bits) - 1)) == 0;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
}

// A parameter name as a message shows it: at most 64 bytes, printable.
std::string shown(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    out.push_back(c < 0x20 || c >= 0x7F ? '?' : static_cast<char>(c));
  }
  return out;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool fail(ListParamError& error, std::string message, std::string parameter) {
  error = {std::move(message), std::move(parameter)};
  return false;
}

}  // namespace

bool is_reserved_list_parameter(std::string_view name) {
  return name == "limit" || name == "after" || name == "cursor" || name == "order" || name == "q" ||
         name == "consistency";
}

std::vector<std::string> list_orders(const QueryFields& fields, int abi) {
  std::vector<std::string> out = {"id"};
  if (abi < 3) return out;  // no query(): the id order only
  out.push_back("-id");
  for (auto& s : fields.sorts) {
    if (s == "id") continue;
    out.push_back(s);
    out.push_back("-" + s);
  }
  return out;
}

bool parse_limit(std::string_view value, int& limit) {
  std::string text(value);
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1 || v > kMaxLimit) return false;
  limit = static_cast<int>(v);
  return true;
}

std::string encode_cursor(const ListCursor& c) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("t");
  w.String(c.table.c_str(), static_cast<rapidjson::SizeType>(c.table.size()));
  w.Key("o");
  w.String(c.order.c_str(), static_cast<rapidjson::SizeType>(c.order.size()));
  w.Key("f");
  w.String(c.fingerprint.c_str(), static_cast<rapidjson::SizeType>(c.fingerprint.size()));
  if (!c.sort_value.empty()) {
    w.Key("v");
    w.RawValue(c.sort_value.data(), c.sort_value.size(), rapidjson::kStringType);
  }
  w.Key("i");
  w.String(c.id.c_str(), static_cast<rapidjson::SizeType>(c.id.size()));
  w.EndObject();
  return std::string(kCursorPrefix) + base64url(std::string_view(buf.GetString(), buf.GetSize()));
}

bool decode_cursor(std::string_view token, ListCursor& out) {
  if (token.size() > kMaxCursorBytes || token.substr(0, kCursorPrefix.size()) != kCursorPrefix) return false;
  std::string text;
  if (!unbase64url(token.substr(kCursorPrefix.size()), text)) return false;
  rapidjson::Document doc;
  if (!parse_json_strict(text, doc, 4).empty() || !doc.IsObject()) return false;
  auto string_member = [&](const char* name, std::string& into) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return false;
    into.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
  };
  ListCursor c;
  if (!string_member("t", c.table) || !string_member("o", c.order) || !string_member("f", c.fingerprint) ||
      !string_member("i", c.id))
    return false;
  if (c.id.empty() || c.id.size() > kMaxIdBytes) return false;
  size_t members = 4;
  if (auto v = doc.FindMember("v"); v != doc.MemberEnd()) {
    if (!(v->value.IsString() || v->value.IsNumber() || v->value.IsBool())) return false;
    c.sort_value = to_json(v->value);
    ++members;
  }
  if (doc.MemberCount() != members) return false;
  out = std::move(c);
  return true;
}

bool parse_list_request(const std::vector<std::pair<std::string, std::string>>& params, const std::string& table,
                        const QueryFields& fields, int abi, ListRequest& out, ListParamError& error) {
  out = ListRequest{};
  out.limit = kDefaultLimit;
  std::map<std::string, std::string> filters;  // sorted: the fingerprint and the Link list them in one order
  std::string cursor_token, after;
  bool has_cursor = false, has_after = false;
  out.order = "id";
  std::set<std::string> seen;
  for (auto& [name, raw] : params) {
    if (name == "consistency") continue;  // read by the router
    // Twice the same parameter (?order=id&order=-id, ?email=a&email=b) has
    // no one meaning: refused rather than one of them picked.
    if (!seen.insert(name).second) return fail(error, shown(name) + " is given more than once", shown(name));
    std::string value;
    if (!decode_query_value(raw, value) || !is_valid_utf8(value))
      return fail(error, shown(name) + " is not a percent-encoded UTF-8 value", shown(name));
    if (name == "limit") {
      if (!parse_limit(value, out.limit))
        return fail(error, "limit must be an integer from 1 to " + std::to_string(kMaxLimit), "limit");
    } else if (name == "after") {
      // As before queries existed: percent-decoded without '+' for a space.
      if (!decode_id(raw, after)) return fail(error, "after must be an id", "after");
      has_after = true;
    } else if (name == "cursor") {
      cursor_token = value;
      has_cursor = true;
    } else if (name == "order") {
      if (auto orders = list_orders(fields, abi); !contains(orders, value))
        return fail(error, "order must be one of " + join(orders) + " (a leading - is descending)", "order");
      out.order = value;
    } else if (name == "q") {
      if (fields.search.empty())
        return fail(error, "table " + table + " has no searchable fields: q is not supported", "q");
      if (value.size() > kMaxSearchBytes || has_control(value))
        return fail(error, "q must be at most " + std::to_string(kMaxSearchBytes) + " bytes of text", "q");
      out.query.search = value;
    } else {
      if (!contains(fields.filters, name)) {
        std::string known = fields.filters.empty() ? "this table cannot be filtered"
                                                   : "this table filters by " + join(fields.filters);
        return fail(error, "unknown or unindexed field: " + shown(name) + " (" + known + ")", shown(name));
      }
      if (value.size() > kMaxValueBytes)
        return fail(error, name + " must be at most " + std::to_string(kMaxValueBytes) + " bytes", name);
      filters[name] = value;
    }
  }
  if (has_after && has_cursor) return fail(error, "after and cursor cannot be used together", "cursor");
  bool id_order = out.order == "id";
  if (has_after && !id_order)
    return fail(error, "after pages the id order only; use the cursor of the Link header for order=" + out.order,
                "after");

  // The filters and the search, as the Link repeats them and the cursor's fingerprint covers them.
  std::string canonical;
  for (auto& [name, value] : filters) {
    out.query.equal.emplace_back(name, value);
    if (!out.link_params.empty()) out.link_params += '&';
    out.link_params += name + "=" + url_encode(value);
    canonical += name + '=' + value + '\0';
  }
  if (!out.query.search.empty()) {
    if (!out.link_params.empty()) out.link_params += '&';
    out.link_params += "q=" + url_encode(out.query.search);
    canonical += "q=" + out.query.search + '\0';
  }
  out.fingerprint = sha256_hex(canonical).substr(0, 16);
  if (!id_order) {
    if (!out.link_params.empty()) out.link_params += '&';
    out.link_params += "order=" + url_encode(out.order);
  }
  out.query.descending = out.order[0] == '-';
  out.query.order = out.query.descending ? out.order.substr(1) : out.order;
  out.query.limit = out.limit;
  out.plain = id_order && filters.empty() && out.query.search.empty();

  if (has_after) out.query.after_id = after;
  if (has_cursor) {
    ListCursor c;
    if (!decode_cursor(cursor_token, c))
      return fail(error, "cursor is malformed: pass the cursor of a Link header unchanged", "cursor");
    if (c.table != table)
      return fail(error, "cursor belongs to table " + shown(c.table) + ", not " + table, "cursor");
    if (c.order != out.order)
      return fail(error, "cursor belongs to order=" + shown(c.order) + ", not order=" + out.order, "cursor");
    if (c.fingerprint != out.fingerprint)
      return fail(error, "cursor belongs to other filters or another search than this request's", "cursor");
    bool by_id = out.query.order == "id";
    if (by_id != c.sort_value.empty()) return fail(error, "cursor is malformed: its sort value does not fit", "cursor");
    out.query.after_id = c.id;
    out.query.after_value = c.sort_value;
  }
  return true;
}

std::string next_page_params(const std::string& table, const ListRequest& request, const std::string& last_id,
                             const std::string& last_sort_value) {
  std::string out = "limit=" + std::to_string(request.limit);
  if (!request.link_params.empty()) out += "&" + request.link_params;
  if (request.order == "id") return out + "&after=" + url_encode(last_id);
  ListCursor c{table, request.order, request.fingerprint, last_sort_value, last_id};
  return out + "&cursor=" + encode_cursor(c);
}

}  // namespace clusterlite
