// Shared mode: writes waiting in this node's CompletionHub are answered when
// another node's applier (simulated here by writing its committed rows into
// the shared database file) has applied their offsets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/Statement.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "apply/completion_hub.h"
#include "apply/shared_progress.h"
#include "store/store.h"

namespace clusterlite {
namespace {

using namespace std::chrono_literals;

class SharedProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("clusterlite_shared_progress_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "shared.db").string();
    store_ = std::make_unique<Store>(path_, 2000, 1);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // What another node's applier commits: the next offset of a partition and,
  // for a rejected event, its row in _cl_rejected.
  void commit_elsewhere(int32_t partition, int64_t next_offset) {
    SQLite::Statement q(store_->writer(),
                        "INSERT INTO _cl_offsets (topic, partition, next_offset) VALUES ('t', ?, ?) "
                        "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset");
    q.bind(1, partition);
    q.bind(2, static_cast<int64_t>(next_offset));
    q.exec();
  }
  void reject_elsewhere(int32_t partition, int64_t offset, StatusCode code, const std::string& reason) {
    SQLite::Statement q(store_->writer(),
                        "INSERT INTO _cl_rejected (topic, partition, offset, event_id, table_name, status, reason, "
                        "payload, rejected_at) VALUES ('t', ?, ?, 'e', 'users', ?, ?, '', '2026-01-01T00:00:00Z')");
    q.bind(1, partition);
    q.bind(2, static_cast<int64_t>(offset));
    q.bind(3, static_cast<int>(code));
    q.bind(4, reason);
    q.exec();
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

// Collects write outcomes by event id.
class Outcomes {
 public:
  std::function<void(const WriteOutcome&)> callback(const std::string& id) {
    return [this, id](const WriteOutcome& o) {
      std::lock_guard lock(mutex_);
      got_[id] = o;
      cv_.notify_all();
    };
  }
  std::optional<WriteOutcome> wait(const std::string& id, std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, bound, [&] { return got_.count(id) > 0; })) return std::nullopt;
    return got_[id];
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, WriteOutcome> got_;
};

TEST_F(SharedProgressTest, AnswersWritesAppliedByAnotherNodeWithTheirVerdict) {
  CompletionHub hub;
  SharedProgressWatcher watcher(path_, 2000, "t", hub);
  Outcomes outcomes;
  auto deadline = Clock::now() + 10s;
  hub.expect("ok", outcomes.callback("ok"));
  hub.arm("ok", deadline, 0, 10);
  hub.expect("conflict", outcomes.callback("conflict"));
  hub.arm("conflict", deadline, 1, 3);
  hub.expect("later", outcomes.callback("later"));
  hub.arm("later", deadline, 0, 11);

  reject_elsewhere(1, 3, StatusCode::kConflict, "email is already in use");
  commit_elsewhere(0, 11);
  commit_elsewhere(1, 4);

  auto ok = outcomes.wait("ok", 3s);
  ASSERT_TRUE(ok.has_value()) << "a write applied by another node was not answered";
  EXPECT_TRUE(ok->applied);
  EXPECT_TRUE(ok->status.ok());
  EXPECT_EQ(ok->partition, 0);
  EXPECT_EQ(ok->offset, 10);

  auto conflict = outcomes.wait("conflict", 3s);
  ASSERT_TRUE(conflict.has_value());
  EXPECT_TRUE(conflict->applied);
  EXPECT_EQ(conflict->status.code(), StatusCode::kConflict);
  EXPECT_EQ(conflict->status.message(), "email is already in use");

  // Offset 11 of partition 0 is not applied yet: still waiting.
  EXPECT_FALSE(outcomes.wait("later", 200ms).has_value());
  commit_elsewhere(0, 12);
  auto later = outcomes.wait("later", 3s);
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(later->applied);
  EXPECT_TRUE(later->status.ok());
  watcher.stop();
}

TEST_F(SharedProgressTest, StrongReadsSeeOffsetsAppliedByAnotherNode) {
  CompletionHub hub;
  SharedProgressWatcher watcher(path_, 2000, "t", hub);
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<bool> result;
  hub.when_applied({{0, 5}, {2, 1}}, Clock::now() + 10s, [&](bool ok) {
    std::lock_guard lock(mutex);
    result = ok;
    cv.notify_all();
  });
  commit_elsewhere(0, 5);
  commit_elsewhere(2, 1);
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, 3s, [&] { return result.has_value(); }));
  EXPECT_TRUE(*result);
}

TEST_F(SharedProgressTest, UnappliedWriteTimesOut) {
  CompletionHub hub;
  SharedProgressWatcher watcher(path_, 2000, "t", hub);
  Outcomes outcomes;
  hub.expect("w", outcomes.callback("w"));
  hub.arm("w", Clock::now() + 300ms, 0, 0);
  auto o = outcomes.wait("w", 3s);
  ASSERT_TRUE(o.has_value());
  EXPECT_FALSE(o->applied);
}

}  // namespace
}  // namespace clusterlite
