#include "rebuild/until.h"

#include <charconv>
#include <limits>

#include "timeutil.h"

namespace clusterlite {
namespace {

constexpr const char* kForms =
    "an RFC 3339 time with a date and a zone (2026-12-07T05:00:00Z) or partition:offset pairs (0:1500,2:37)";

// A decimal number without sign or leading zero, at most `max`.
std::optional<int64_t> number(std::string_view digits, int64_t max) {
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  int64_t value = 0;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (err != std::errc() || end != digits.data() + digits.size() || value < 0 || value > max) return std::nullopt;
  return value;
}

std::invalid_argument bad(std::string_view text, const std::string& why) {
  return std::invalid_argument("--until '" + std::string(text) + "': " + why);
}

}  // namespace

RebuildUntil parse_until(std::string_view text) {
  if (text.empty()) throw std::invalid_argument(std::string("--until needs a value: ") + kForms);
  RebuildUntil until;
  until.text = std::string(text);
  // Offsets are digits, colons and commas only; anything else must be a time.
  if (text.find_first_not_of("0123456789:,") != std::string_view::npos) {
    until.time = parse_rfc3339(text);
    if (!until.time) throw bad(text, std::string("not ") + kForms);
    return until;
  }
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string_view pair =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    size_t colon = pair.find(':');
    if (colon == std::string_view::npos || pair.find(':', colon + 1) != std::string_view::npos)
      throw bad(text, "'" + std::string(pair) + "' is not partition:offset; expected " + kForms);
    auto partition = number(pair.substr(0, colon), std::numeric_limits<int32_t>::max());
    auto offset = number(pair.substr(colon + 1), std::numeric_limits<int64_t>::max());
    if (!partition || !offset)
      throw bad(text, "'" + std::string(pair) +
                          "' is not partition:offset (decimal numbers without sign or leading zero); expected " +
                          kForms);
    if (!until.offsets.emplace(static_cast<int32_t>(*partition), *offset).second)
      throw bad(text, "partition " + std::to_string(*partition) + " is named twice");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return until;
}

}  // namespace clusterlite
