// RFC 3339 timestamps, the form the event wire format uses.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace clusterlite {

// "2026-11-27T05:23:00.123456Z" (UTC, microseconds).
std::string format_rfc3339(std::chrono::system_clock::time_point tp);

// Accepts RFC 3339 with an optional fraction (1 to 9 digits) and a "Z" or
// "+hh:mm"/"-hh:mm" offset, as the original Go system writes (time.RFC3339Nano).
// Years from 1700 to 2200. Returns std::nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// The same instant written in UTC: "2026-11-27T07:23:00.5+02:00" becomes
// "2026-11-27T05:23:00.5Z" (the fraction kept as written; "t" and "z" upper
// case). `text` must be what parse_rfc3339 accepted, and `at` its result. The
// applier stores event times this way, so every node keeps the same text
// whatever offset the producer wrote.
std::string to_utc_rfc3339(std::string_view text, std::chrono::system_clock::time_point at);

}  // namespace clusterlite
