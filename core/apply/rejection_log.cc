#include "apply/rejection_log.h"

#include "log.h"

namespace clusterlite {

void RejectionLog::note(std::string_view table, std::string_view kind, int32_t partition, int64_t offset,
                        std::string_view message, Clock::time_point now) {
  Kind& k = kinds_[{std::string(table), std::string(kind)}];
  ++k.total;
  if (k.total <= kFirstLines) {
    std::string line = "rejected event at " + std::to_string(partition) + "/" + std::to_string(offset) + " (table " +
                       std::string(table) + "): " + std::string(message);
    if (k.total == kFirstLines)
      line += " (further rejections of this kind are counted once a minute; _cl_rejected holds each one)";
    log::warn("applier", line);
    k.last_line = now;
    return;
  }
  ++k.unshown;
  flush(now);
}

void RejectionLog::flush(Clock::time_point now, bool all) {
  for (auto& [key, k] : kinds_) {
    if (k.unshown == 0 || (!all && now - k.last_line < kInterval)) continue;
    log::warn("applier", std::to_string(k.unshown) + " more events of table " + key.first + " rejected (" +
                             key.second + ") since the last line, " + std::to_string(k.total) +
                             " in all; see _cl_rejected");
    k.unshown = 0;
    k.last_line = now;
  }
}

}  // namespace clusterlite
