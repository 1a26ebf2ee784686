// The point-in-time rebuild: `clusterlite --config FILE --rebuild-to OUT.db
// --until TIME|P:O,...` replays the node's log (its Kafka topic, or the
// embedded log of a standalone node's database) into a new SQLite file as it
// was at that moment, with the plugins the config loads and the node's own
// applier. docs/design.md, "Point in time"; docs/operations.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "config.h"
#include "rebuild/until.h"

namespace clusterlite {

// A rebuild that could not be made; what() is one line. Nothing is left behind.
class RebuildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RebuildOptions {
  std::string out_path;  // must not exist; its directory must
  RebuildUntil until;
  // Redraw one progress line on standard error (when it is a terminal).
  bool show_progress = false;
  // Waits up to the given time for a stop signal and returns its number, or
  // 0 if none came. A signal ends the rebuild with a RebuildError. Unset: no
  // signals are looked for.
  std::function<int(std::chrono::milliseconds)> wait_for_signal;
};

struct RebuildResult {
  uint64_t events = 0;  // records replayed: applied + rejected + held
  uint64_t applied = 0;
  uint64_t rejected = 0;
  uint64_t held = 0;
  // Per partition of the log, the first offset not replayed: `--until` with
  // these offsets would rebuild the same file.
  std::map<int32_t, int64_t> stopped_at;
  double seconds = 0;    // from the start of rebuild() to OUT.db in place
  std::string summary;   // the one line the command prints
};

// Builds OUT.db under a temporary name beside it (".OUT.db.rebuild-<pid>"),
// then moves it into place, never over an existing file. Throws RebuildError,
// PluginError or std::runtime_error with a one-line reason; the temporary
// file is removed then.
RebuildResult rebuild(const Config& config, const RebuildOptions& options);

}  // namespace clusterlite
