#include "apply/completion_hub.h"

#include "thread_name.h"

namespace clusterlite {

CompletionHub::CompletionHub()
    : thread_([this] {
        name_this_thread("cl-completions");
        run();
      }) {}

CompletionHub::~CompletionHub() { shutdown(); }

void CompletionHub::expect(const std::string& event_id, std::function<void(const WriteOutcome&)> done) {
  std::lock_guard lock(mutex_);
  writes_[event_id] = WriteWaiter{std::move(done), std::nullopt, -1, -1};
}

void CompletionHub::arm(const std::string& event_id, Clock::time_point deadline, int32_t partition, int64_t offset) {
  std::lock_guard lock(mutex_);
  auto it = writes_.find(event_id);
  if (it == writes_.end()) return;
  it->second.deadline = deadline;
  it->second.partition = partition;
  it->second.offset = offset;
  // The hub rescans every write before it sleeps, so it needs waking only if
  // this deadline comes before the one it sleeps until. Under load it never
  // does (each deadline is later than the ones armed before it), so an
  // acknowledged write costs the hub no wake-up.
  if (deadline < sleeps_until_) {
    changed_ = true;
    wake_.notify_one();
  }
}

bool CompletionHub::cancel(const std::string& event_id) {
  std::lock_guard lock(mutex_);
  return writes_.erase(event_id) > 0;
}

bool CompletionHub::reached(const std::map<int32_t, int64_t>& targets) const {
  for (auto& [partition, target] : targets) {
    auto it = applied_.find(partition);
    int64_t have = it == applied_.end() ? 0 : it->second;
    if (have < target) return false;
  }
  return true;
}

bool CompletionHub::has_applied(const std::map<int32_t, int64_t>& targets) const {
  std::lock_guard lock(mutex_);
  return reached(targets);
}

void CompletionHub::when_applied(std::map<int32_t, int64_t> targets, Clock::time_point deadline,
                                 std::function<void(bool)> done) {
  {
    std::lock_guard lock(mutex_);
    if (!reached(targets) && !stopping_) {
      offset_waiters_.push_back({std::move(targets), deadline, std::move(done)});
      changed_ = true;
      wake_.notify_one();
      return;
    }
  }
  done(!stopping_);
}

void CompletionHub::on_applied(std::vector<AppliedEvent> batch, const std::map<int32_t, int64_t>& next_offsets) {
  // The batch's writes are answered here, on the reporting thread, right
  // after the commit: a hand-over to the hub's thread would cost each batch
  // two more thread switches. Strong reads may run a query: they stay on the
  // hub's thread.
  std::vector<std::pair<std::function<void(const WriteOutcome&)>, WriteOutcome>> answers;
  {
    std::lock_guard lock(mutex_);
    for (auto& [partition, offset] : next_offsets) {
      auto [it, inserted] = applied_.emplace(partition, offset);
      if (!inserted && it->second < offset) it->second = offset;
    }
    for (auto& applied : batch) {
      auto it = writes_.find(applied.event_id);
      if (it == writes_.end()) continue;
      answers.emplace_back(std::move(it->second.done),
                           WriteOutcome{!applied.held, applied.held, std::move(applied.status), applied.partition,
                                        applied.offset, std::move(applied.row), std::move(applied.earlier),
                                        applied.from_shared_file});
      writes_.erase(it);
    }
    if (!offset_waiters_.empty()) {
      changed_ = true;
      wake_.notify_one();
    }
  }
  for (auto& [done, outcome] : answers) done(outcome);
}

bool CompletionHub::awaits(const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  return writes_.count(event_id) > 0;
}

void CompletionHub::set_applied(const std::map<int32_t, int64_t>& next_offsets) {
  std::lock_guard lock(mutex_);
  applied_ = next_offsets;
}

std::vector<CompletionHub::ArmedWrite> CompletionHub::armed_writes() const {
  std::lock_guard lock(mutex_);
  std::vector<ArmedWrite> out;
  for (auto& [event_id, w] : writes_)
    if (w.deadline) out.push_back({event_id, w.partition, w.offset});
  return out;
}

bool CompletionHub::has_waiters() const {
  std::lock_guard lock(mutex_);
  return !writes_.empty() || !offset_waiters_.empty();
}

size_t CompletionHub::pending_writes() const {
  std::lock_guard lock(mutex_);
  return writes_.size();
}

void CompletionHub::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void CompletionHub::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_ = false;
    // Collect everything that is due into ready_, then run it unlocked.
    auto now = Clock::now();
    std::optional<Clock::time_point> next_deadline;
    for (auto it = writes_.begin(); it != writes_.end();) {
      auto& w = it->second;
      if (stopping_ || (w.deadline && *w.deadline <= now)) {
        WriteOutcome outcome{false, false, Status::Ok(), w.partition, w.offset, std::nullopt};
        ready_.push_back([done = std::move(w.done), outcome] { done(outcome); });
        it = writes_.erase(it);
        continue;
      }
      if (w.deadline && (!next_deadline || *w.deadline < *next_deadline)) next_deadline = w.deadline;
      ++it;
    }
    for (auto it = offset_waiters_.begin(); it != offset_waiters_.end();) {
      bool ok = reached(it->targets);
      if (ok || stopping_ || it->deadline <= now) {
        ready_.push_back([done = std::move(it->done), ok] { done(ok); });
        it = offset_waiters_.erase(it);
        continue;
      }
      if (!next_deadline || it->deadline < *next_deadline) next_deadline = it->deadline;
      ++it;
    }
    if (!ready_.empty()) {
      auto ready = std::move(ready_);
      ready_.clear();
      lock.unlock();
      for (auto& fn : ready) fn();
      lock.lock();
      continue;
    }
    if (stopping_) return;
    auto has_work = [&] { return stopping_ || changed_; };
    sleeps_until_ = next_deadline.value_or(Clock::time_point::max());
    if (next_deadline)
      wake_.wait_until(lock, *next_deadline, has_work);
    else
      wake_.wait(lock, has_work);
    sleeps_until_ = Clock::time_point::min();
  }
}

}  // namespace clusterlite
