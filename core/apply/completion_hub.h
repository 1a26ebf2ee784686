// CompletionHub: turns applied batches into answers for waiting requests.
// A write registers its event id before appending; when this node's applier
// commits that event (in shared mode: or another node's, as reported by the
// SharedProgressWatcher) the hub calls back with the verdict. Strong reads wait
// for per-partition offsets. An applied write is answered on the thread that
// reports its batch (the applier's, right after the commit; its callback only
// queues the response for the connection's reactor). Deadlines and strong
// reads run on the hub's own thread, never on the applier's or a reactor's.
#pragma once

#include <clusterlite/status.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "apply/applier.h"

namespace clusterlite {

using Clock = std::chrono::steady_clock;

struct WriteOutcome {
  bool applied = false;  // false: the deadline passed first (or the hub shut down), or held
  bool held = false;     // in the log, held on this node for want of a plugin (or a newer version of it)
  Status status;         // the apply verdict when applied
  // Where the event is in the log; -1 when not applied and the log never
  // confirmed it (its outcome is unknown).
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string> row;  // the entity as applied, when the applier read it back
  // An Idempotency-Key's earlier outcome, when the key was live (AppliedEvent::earlier).
  std::shared_ptr<const RecordedOutcome> earlier;
  bool from_shared_file = false;  // only the verdict is known (another node applied it)
};

class CompletionHub : public ApplyListener {
 public:
  CompletionHub();
  ~CompletionHub() override;

  // Registers interest in event `event_id`; `done` runs once. No deadline yet:
  // call arm() once the log acknowledged the event, or cancel() if it refused.
  void expect(const std::string& event_id, std::function<void(const WriteOutcome&)> done);
  // Starts the deadline of a registered event (no-op if already answered):
  // at `partition`/`offset` when the log acknowledged it, -1/-1 when the log
  // did not confirm it but may have taken it.
  void arm(const std::string& event_id, Clock::time_point deadline, int32_t partition, int64_t offset);
  // Drops a registration; true if it was still waiting (then `done` never runs).
  bool cancel(const std::string& event_id);

  // Whether every partition p in `targets` has applied up to (not including)
  // targets[p] already: the cheap check before when_applied().
  bool has_applied(const std::map<int32_t, int64_t>& targets) const;

  // Calls done(true) once every partition p in `targets` has applied up to
  // (not including) targets[p], or done(false) at the deadline.
  void when_applied(std::map<int32_t, int64_t> targets, Clock::time_point deadline, std::function<void(bool)> done);

  // ApplyListener, called by the applier thread (and, in shared mode, by the
  // SharedProgressWatcher). Applied offsets only move forward.
  void on_applied(std::vector<AppliedEvent> batch, const std::map<int32_t, int64_t>& next_offsets) override;
  bool awaits(const std::string& event_id) const override;

  struct ArmedWrite {
    std::string event_id;
    int32_t partition = -1;
    int64_t offset = -1;
  };
  // The writes that the log acknowledged and that still wait for their verdict.
  std::vector<ArmedWrite> armed_writes() const;
  // Whether any write or strong read waits.
  bool has_waiters() const;

  // Seeds the applied offsets (before the applier starts).
  void set_applied(const std::map<int32_t, int64_t>& next_offsets);

  // Answers every waiter as timed out and stops the thread. Idempotent.
  void shutdown();

  size_t pending_writes() const;

 private:
  struct WriteWaiter {
    std::function<void(const WriteOutcome&)> done;
    std::optional<Clock::time_point> deadline;
    int32_t partition = -1;
    int64_t offset = -1;
  };
  struct OffsetWaiter {
    std::map<int32_t, int64_t> targets;
    Clock::time_point deadline;
    std::function<void(bool)> done;
  };
  void run();
  bool reached(const std::map<int32_t, int64_t>& targets) const;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool changed_ = false;  // a deadline, waiter or applied offset arrived since the last scan
  // While the hub sleeps: the time it wakes by itself (max: no deadline);
  // min while it runs (it rescans everything before sleeping again).
  Clock::time_point sleeps_until_ = Clock::time_point::min();
  std::unordered_map<std::string, WriteWaiter> writes_;
  std::vector<OffsetWaiter> offset_waiters_;
  std::map<int32_t, int64_t> applied_;
  std::deque<std::function<void()>> ready_;  // callbacks to run outside the lock
  std::thread thread_;
};

}  // namespace clusterlite
