// The moment a rebuild (clusterlite --rebuild-to OUT.db --until ...) stops
// at: a time, or a next offset per partition. docs/design.md, "Point in time".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace clusterlite {

struct RebuildUntil {
  // A time: each partition is read up to, not including, its first event
  // whose own timestamp is later than this.
  std::optional<std::chrono::system_clock::time_point> time;
  // Offsets: for each listed partition, the first offset NOT included (the
  // events at offsets below it are). Unlisted partitions are read to the end
  // the log had when the rebuild began. Empty when `time` is set.
  std::map<int32_t, int64_t> offsets;
  std::string text;  // as the operator wrote it, for messages
};

// Parses --until: an RFC 3339 time with a date and a zone
// ("2026-12-07T05:00:00Z", "2026-12-07T07:00:00.5+02:00") or partition:offset
// pairs separated by commas ("0:1500,2:37"; decimal, no sign, no leading
// zero, each partition once). Throws std::invalid_argument with a one-line reason.
RebuildUntil parse_until(std::string_view text);

}  // namespace clusterlite
