#include "apply/shared_progress.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "log.h"
#include "store/store.h"
#include "thread_name.h"

namespace clusterlite {
namespace {

constexpr auto kScanInterval = std::chrono::milliseconds(5);

// The Status the applier recorded in _cl_rejected (its code, reason and field).
Status rejected_status(int code, std::string reason, std::string field) {
  switch (static_cast<StatusCode>(code)) {
    case StatusCode::kInvalid: return Status::Invalid(std::move(reason), std::move(field));
    case StatusCode::kNotFound: return Status::NotFound(std::move(reason));
    case StatusCode::kConflict: return Status::Conflict(std::move(reason), std::move(field));
    default: return Status::Internal(std::move(reason));
  }
}

}  // namespace

SharedProgressWatcher::SharedProgressWatcher(const std::string& db_path, int busy_timeout_ms, std::string topic,
                                             CompletionHub& hub)
    : db_(open_connection(db_path, true, busy_timeout_ms)), topic_(std::move(topic)), hub_(hub) {
  thread_ = std::thread([this] {
    name_this_thread("cl-shared-watch");
    run();
  });
}

SharedProgressWatcher::~SharedProgressWatcher() { stop(); }

void SharedProgressWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void SharedProgressWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kScanInterval, [&] { return stopping_; })) {
    if (!hub_.has_waiters()) {
      previous_.clear();
      continue;
    }
    lock.unlock();
    try {
      scan();
    } catch (const std::exception& e) {
      log::warn("shared-progress", std::string("reading the shared offsets failed: ") + e.what());
    }
    lock.lock();
  }
}

void SharedProgressWatcher::scan() {
  std::map<int32_t, int64_t> offsets;
  std::vector<AppliedEvent> covered;
  {
    // One read transaction: offsets and verdicts from the same snapshot.
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::DEFERRED);
    SQLite::Statement q(*db_, "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?");
    q.bind(1, topic_);
    while (q.executeStep()) offsets[q.getColumn(0).getInt()] = q.getColumn(1).getInt64();

    SQLite::Statement verdict(
        *db_, "SELECT status, reason, field FROM _cl_rejected WHERE topic = ? AND partition = ? AND offset = ?");
    // A node without the table's plugin holds the event instead of applying it.
    SQLite::Statement held(*db_, "SELECT 1 FROM _cl_held WHERE topic = ? AND partition = ? AND offset = ?");
    for (auto& w : hub_.armed_writes()) {
      auto it = previous_.find(w.partition);
      if (it == previous_.end() || w.offset >= it->second) continue;
      Status status;
      verdict.bind(1, topic_);
      verdict.bind(2, w.partition);
      verdict.bind(3, static_cast<int64_t>(w.offset));
      if (verdict.executeStep())
        status = rejected_status(verdict.getColumn(0).getInt(), verdict.getColumn(1).getString(),
                                 verdict.getColumn(2).getString());
      verdict.reset();
      held.bind(1, topic_);
      held.bind(2, w.partition);
      held.bind(3, static_cast<int64_t>(w.offset));
      bool is_held = held.executeStep();
      held.reset();
      covered.push_back({w.event_id, w.partition, w.offset, std::move(status), std::nullopt});
      covered.back().from_shared_file = true;
      covered.back().held = is_held;
    }
  }
  hub_.on_applied(std::move(covered), offsets);
  previous_ = std::move(offsets);
}

}  // namespace clusterlite
