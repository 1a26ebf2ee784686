#include "http/session_position.h"

#include <charconv>
#include <cstdio>

namespace clusterlite {

namespace {

constexpr std::string_view kVersion = "1";
constexpr int32_t kMaxPartition = 1 << 20;
constexpr int64_t kMaxOffset = int64_t{1} << 62;

// FNV-1a, 64 bits, in 16 hex digits: names a log without spelling it out.
std::string topic_tag(const std::string& topic) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : topic) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

// Parses a whole decimal number of `text` into `value` within [0, max].
template <typename Int>
bool number(std::string_view text, Int max, Int& value) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return false;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  return err == std::errc() && end == text.data() + text.size() && value >= 0 && value <= max;
}

}  // namespace

void merge_position(Position& into, const Position& other) {
  for (auto& [partition, offset] : other) {
    auto [it, inserted] = into.emplace(partition, offset);
    if (!inserted && it->second < offset) it->second = offset;
  }
}

std::string encode_position(const std::string& topic, const Position& position) {
  std::string out(kVersion);
  out.append(".").append(topic_tag(topic)).append(".");
  bool first = true;
  for (auto& [partition, offset] : position) {
    if (!first) out.push_back('_');
    first = false;
    out.append(std::to_string(partition)).append("-").append(std::to_string(offset));
  }
  return out;
}

PositionToken decode_position(std::string_view token, const std::string& topic, Position& out) {
  if (token.size() > kMaxPositionBytes) return PositionToken::kMalformed;
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.substr(0, dot1) != kVersion) return PositionToken::kMalformed;
  std::string_view tag = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view entries = token.substr(dot2 + 1);
  if (tag.size() != 16) return PositionToken::kMalformed;
  for (char c : tag)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return PositionToken::kMalformed;
  Position read;
  while (!entries.empty()) {
    auto end = entries.find('_');
    std::string_view entry = entries.substr(0, end);
    auto dash = entry.find('-');
    int32_t partition = 0;
    int64_t offset = 0;
    if (dash == std::string_view::npos || !number(entry.substr(0, dash), kMaxPartition, partition) ||
        !number(entry.substr(dash + 1), kMaxOffset, offset) || !read.emplace(partition, offset).second)
      return PositionToken::kMalformed;
    if (end == std::string_view::npos) break;
    entries.remove_prefix(end + 1);
    if (entries.empty()) return PositionToken::kMalformed;  // a trailing '_'
  }
  if (read.empty()) return PositionToken::kMalformed;
  if (tag != topic_tag(topic)) return PositionToken::kOtherLog;
  merge_position(out, read);
  return PositionToken::kValid;
}

}  // namespace clusterlite
