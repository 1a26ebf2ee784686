// KafkaLog against a real broker: the address comes from CLUSTERLITE_TEST_BROKERS
// (./scripts/test starts a broker and sets it). Each test uses its own topic.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "eventlog/kafka_admin.h"
#include "eventlog/kafka_log.h"

namespace clusterlite {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string test_brokers() {
  const char* v = std::getenv("CLUSTERLITE_TEST_BROKERS");
  return v ? v : "";
}

#define REQUIRE_BROKER()                                                                                    \
  ASSERT_FALSE(test_brokers().empty()) << "CLUSTERLITE_TEST_BROKERS is not set: run ./scripts/test, or "    \
                                          "./scripts/kafka start and export CLUSTERLITE_TEST_BROKERS=127.0.0.1:9092"

std::string unique_topic(const std::string& name) {
  static std::atomic<int> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch() / 1ms;
  return "cl_test_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(now) + "_" +
         std::to_string(counter++);
}

Config kafka_config(const std::string& topic, int partitions = 3, Mode mode = Mode::kReplica) {
  Config c;
  c.node_id = "test-" + topic;
  c.mode = mode;
  c.kafka.brokers = test_brokers();
  c.kafka.topic = topic;
  c.kafka.partitions = partitions;
  c.kafka.request_timeout_ms = 5000;
  return c;
}

// Collects append results and waits for them with a bound.
class Acks {
 public:
  AppendCallback callback(size_t index) {
    return [this, index](const AppendResult& r) {
      std::lock_guard lock(mutex_);
      results_[index] = r;
      done_.notify_all();
    };
  }
  bool wait_for(size_t count, std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    return done_.wait_for(lock, bound, [&] { return results_.size() >= count; });
  }
  std::map<size_t, AppendResult> results() {
    std::lock_guard lock(mutex_);
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::map<size_t, AppendResult> results_;
};

// Polls until `count` records arrived or `bound` passed.
std::vector<LogRecord> poll_until(EventLog& log, size_t count, std::chrono::milliseconds bound) {
  std::vector<LogRecord> out;
  auto deadline = Clock::now() + bound;
  while (out.size() < count && Clock::now() < deadline) log.poll(out, 1000, 200ms);
  return out;
}

// Kafka's Java partitioner for keyed records: murmur2 of the key bytes,
// made positive, modulo the partition count (Utils.murmur2 / toPositive).
int32_t java_partition(const std::string& key, int32_t partitions) {
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  int length = static_cast<int>(key.size());
  uint32_t h = 0x9747b28c ^ static_cast<uint32_t>(length);
  int i = 0;
  for (; i + 4 <= length; i += 4) {
    uint32_t k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (static_cast<uint32_t>(data[i + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length - i) {
    case 3: h ^= static_cast<uint32_t>(data[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(data[i + 1]) << 8; [[fallthrough]];
    case 1:
      h ^= data[i];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>((h & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

// A TCP port on 127.0.0.1 that nothing listens on.
int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}


// Topic administration the product never does, to stage a log that lost
// records: a raw librdkafka handle and its admin C API.
class Admin {
 public:
  Admin() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", test_brokers().c_str(), err, sizeof err);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    queue_ = rd_kafka_queue_new(handle_);
  }
  ~Admin() {
    rd_kafka_queue_destroy(queue_);
    rd_kafka_destroy(handle_);
  }

  // DeleteRecords: the partition's log then starts at `offset`.
  std::string delete_records_before(const std::string& topic, int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = offset;
    rd_kafka_DeleteRecords_t* request = rd_kafka_DeleteRecords_new(list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_DeleteRecords(handle_, &request, 1, nullptr, queue_);
    rd_kafka_DeleteRecords_destroy(request);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue_, 10000);
    std::string error = ev ? "" : "no answer within 10 s";
    if (ev && rd_kafka_event_error(ev)) error = rd_kafka_event_error_string(ev);
    if (ev && error.empty()) {
      const rd_kafka_topic_partition_list_t* out =
          rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
      if (out && out->cnt == 1 && out->elems[0].err) error = rd_kafka_err2str(out->elems[0].err);
    }
    if (ev) rd_kafka_event_destroy(ev);
    return error;
  }

  // DeleteTopics, then the same name again with `partitions` (retrying while
  // the broker still finishes the deletion).
  std::string recreate_topic(const std::string& topic, int partitions) {
    rd_kafka_DeleteTopic_t* request = rd_kafka_DeleteTopic_new(topic.c_str());
    rd_kafka_DeleteTopics(handle_, &request, 1, nullptr, queue_);
    rd_kafka_DeleteTopic_destroy(request);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue_, 10000);
    if (!ev) return "DeleteTopics: no answer within 10 s";
    rd_kafka_event_destroy(ev);
    auto deadline = Clock::now() + 20s;
    for (;;) {
      try {
        ensure_topic(handle_, {topic, partitions, 1}, 5s);
        return "";
      } catch (const std::runtime_error& e) {
        if (Clock::now() > deadline) return e.what();
      }
      std::this_thread::sleep_for(200ms);
    }
  }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
};

// Appends `values` to a fresh one-partition topic and closes the writer.
void write_records(const std::string& topic, size_t count) {
  KafkaLog writer(kafka_config(topic, 1));
  Acks acks;
  for (size_t i = 0; i < count; ++i) writer.append("users", std::to_string(i), acks.callback(i));
  ASSERT_TRUE(acks.wait_for(count, 10s));
  for (auto& [i, r] : acks.results()) ASSERT_TRUE(r.ok) << r.error;
  writer.close();
}

// What start() says for a database whose next offset of partition 0 is
// `stored`; "" when it starts.
std::string start_error(const std::string& topic, std::optional<int64_t> stored) {
  KafkaLog log(kafka_config(topic, 1));
  try {
    log.start([stored](int32_t) { return stored; });
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(KafkaLogTest, CreatesTheTopicWithTheConfiguredPartitions) {
  REQUIRE_BROKER();
  auto topic = unique_topic("create");
  KafkaLog log(kafka_config(topic, 5));
  EXPECT_EQ(log.partition_count(), 5);
  auto ends = log.end_offsets(5s);
  ASSERT_TRUE(ends.has_value());
  EXPECT_EQ(ends->size(), 5u);
  for (auto& [p, end] : *ends) EXPECT_EQ(end, 0) << "partition " << p;

  // An existing topic is used as it is, whatever the configuration says.
  KafkaLog again(kafka_config(topic, 2));
  EXPECT_EQ(again.partition_count(), 5);
}

// The producer's connection threads run under SCHED_BATCH so that the first
// message of a batch cannot preempt the hand-over of the rest (KafkaLog's
// on_producer_thread_start); the consumer's keep the default policy.
TEST(KafkaLogTest, OnlyTheProducersConnectionThreadsRunUnderSchedBatch) {
  REQUIRE_BROKER();
  KafkaLog log(kafka_config(unique_topic("sched"), 1));
  int batch = 0;
  int other = 0;
  // Each client has a bootstrap connection thread and one per broker; the
  // consumer may start its broker's thread a moment after the constructor returns.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    batch = other = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm_file(task.path() / "comm");
      std::string comm;
      std::getline(comm_file, comm);
      if (comm.rfind("rdk:broker", 0) != 0) continue;
      int policy = sched_getscheduler(std::stoi(task.path().filename().string()));
      if (policy < 0) continue;  // the thread ended meanwhile
      (policy == SCHED_BATCH ? batch : other) += 1;
    }
    if (batch >= 2 && other >= 2) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_GE(batch, 2);
  EXPECT_GE(other, 2);
}

TEST(KafkaLogTest, AppendIsAcknowledgedAndPolledInOrder) {
  REQUIRE_BROKER();
  auto topic = unique_topic("order");
  KafkaLog log(kafka_config(topic, 3));
  log.start([](int32_t) { return std::nullopt; });
  auto before = log.end_offsets(5s);
  ASSERT_TRUE(before.has_value());

  const std::vector<std::string> keys = {"users", "orders", "items"};
  const size_t n = 60;
  Acks acks;
  for (size_t i = 0; i < n; ++i) log.append(keys[i % keys.size()], "value-" + std::to_string(i), acks.callback(i));
  ASSERT_TRUE(acks.wait_for(n, 10s)) << "not every append was acknowledged within 10 s";

  std::map<std::pair<int32_t, int64_t>, size_t> by_position;
  for (auto& [i, r] : acks.results()) {
    ASSERT_TRUE(r.ok) << "append " << i << ": " << r.error;
    EXPECT_EQ(r.partition, java_partition(keys[i % keys.size()], 3)) << "key " << keys[i % keys.size()];
    EXPECT_GE(r.offset, 0);
    by_position[{r.partition, r.offset}] = i;
  }
  EXPECT_EQ(by_position.size(), n) << "two appends got the same partition and offset";

  auto records = poll_until(log, n, 15s);
  ASSERT_EQ(records.size(), n);
  std::map<int32_t, int64_t> last;
  std::map<int32_t, size_t> last_index;
  for (auto& rec : records) {
    auto it = by_position.find({rec.partition, rec.offset});
    ASSERT_NE(it, by_position.end()) << "polled a record that was not appended";
    size_t i = it->second;
    EXPECT_EQ(rec.key, keys[i % keys.size()]);
    EXPECT_EQ(rec.value, "value-" + std::to_string(i));
    // Per partition, offsets and append order both increase.
    if (last.count(rec.partition)) {
      EXPECT_GT(rec.offset, last[rec.partition]);
      EXPECT_GT(i, last_index[rec.partition]);
    }
    last[rec.partition] = rec.offset;
    last_index[rec.partition] = i;
  }

  auto after = log.end_offsets(5s);
  ASSERT_TRUE(after.has_value());
  int64_t grown = 0;
  for (auto& [p, end] : *after) {
    grown += end - (*before)[p];
    if (last.count(p)) EXPECT_EQ(end, last[p] + 1) << "partition " << p;
  }
  EXPECT_EQ(grown, static_cast<int64_t>(n));
}

TEST(KafkaLogTest, StartsAtTheStoredOffsets) {
  REQUIRE_BROKER();
  auto topic = unique_topic("stored");
  {
    KafkaLog writer(kafka_config(topic, 1));
    Acks acks;
    for (size_t i = 0; i < 10; ++i) writer.append("users", std::to_string(i), acks.callback(i));
    ASSERT_TRUE(acks.wait_for(10, 10s));
    writer.close();
  }
  KafkaLog log(kafka_config(topic, 1));
  log.start([](int32_t partition) -> std::optional<int64_t> {
    if (partition == 0) return 7;
    return std::nullopt;
  });
  auto records = poll_until(log, 3, 15s);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].offset, 7);
  EXPECT_EQ(records[0].value, "7");
  EXPECT_EQ(records[2].value, "9");
  std::vector<LogRecord> more;
  log.poll(more, 100, 300ms);
  EXPECT_TRUE(more.empty());
}

// librdkafka 2.0.2 stops fetching a partition while its local queue holds
// queued.min.messages records and, left alone, looks at it again only when its
// broker thread wakes, up to a second later. poll() wakes the fetcher when the
// queue is empty and the log has more. Here the queue holds one record and
// every fetch brings one (each record is its own batch, fetch.message.max.bytes
// is 1), so 30 records are 30 refills: about 15 s or more if each waited for
// the backoff, well under a second if each is woken.
TEST(KafkaLogTest, ADrainedQueueIsRefilledWithoutWaitingForLibrdkafkasBackoff) {
  REQUIRE_BROKER();
  auto topic = unique_topic("refill");
  const size_t n = 30;
  {
    KafkaLog writer(kafka_config(topic, 1));
    for (size_t i = 0; i < n; ++i) {  // one at a time: one record batch each
      Acks acks;
      writer.append("users", "value-" + std::to_string(i), acks.callback(0));
      ASSERT_TRUE(acks.wait_for(1, 10s));
      ASSERT_TRUE(acks.results()[0].ok) << acks.results()[0].error;
    }
    writer.close();
  }
  Config config = kafka_config(topic, 1);
  config.kafka.properties["queued.min.messages"] = "1";
  config.kafka.properties["fetch.message.max.bytes"] = "1";
  KafkaLog log(config);
  log.start([](int32_t) { return std::nullopt; });
  auto started = Clock::now();
  std::vector<LogRecord> records;
  // As the applier polls: up to 100 ms of waiting per call. Bounded at 60 s.
  while (records.size() < n && Clock::now() < started + 60s) log.poll(records, 1000, 100ms);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  ASSERT_EQ(records.size(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(records[i].value, "value-" + std::to_string(i));
  EXPECT_LT(took, 8s) << "polling " << n << " records, each a refill of the fetch queue, took " << took.count()
                      << " ms";
}

// Appends from several threads at once pass the gate that batches them: each
// is reported exactly once, those acknowledged in the order each thread made
// them, and closing the log with appends still waiting reports those too.
TEST(KafkaLogTest, ConcurrentAppendsAreReportedOnceInOrderAlsoWhenClosedWhileWaiting) {
  REQUIRE_BROKER();
  auto topic = unique_topic("gate");
  KafkaLog log(kafka_config(topic, 1));
  const size_t threads = 4;
  const size_t per_thread = 500;
  std::mutex mutex;
  std::map<size_t, std::vector<AppendResult>> reports;  // by append index
  std::vector<std::thread> writers;
  for (size_t t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      for (size_t i = 0; i < per_thread; ++i) {
        size_t index = t * per_thread + i;
        log.append("users", std::to_string(index), [&, index](const AppendResult& r) {
          std::lock_guard lock(mutex);
          reports[index].push_back(r);
        });
      }
    });
  for (auto& w : writers) w.join();
  log.close();  // some appends may still wait at the gate or be in flight

  std::lock_guard lock(mutex);
  ASSERT_EQ(reports.size(), threads * per_thread) << "an append was never reported";
  size_t acknowledged = 0;
  for (size_t t = 0; t < threads; ++t) {
    int64_t last = -1;
    for (size_t i = 0; i < per_thread; ++i) {
      auto& r = reports[t * per_thread + i];
      ASSERT_EQ(r.size(), 1u) << "append " << t * per_thread + i << " reported " << r.size() << " times";
      if (!r[0].ok) continue;
      ++acknowledged;
      EXPECT_GT(r[0].offset, last) << "thread " << t << " append " << i << " overtook an earlier one";
      last = r[0].offset;
    }
  }
  EXPECT_GT(acknowledged, 0u);

  // What was acknowledged is in the log once each, in the acknowledged order.
  KafkaLog reader(kafka_config(topic, 1));
  reader.start([](int32_t) { return std::nullopt; });
  auto records = poll_until(reader, acknowledged, 15s);
  ASSERT_EQ(records.size(), acknowledged);
  std::set<std::string> values;
  for (auto& rec : records) values.insert(rec.value);
  EXPECT_EQ(values.size(), acknowledged);

  Acks after;
  log.append("users", "late", after.callback(0));
  ASSERT_TRUE(after.wait_for(1, 1s));
  EXPECT_FALSE(after.results().at(0).ok) << "an append after close was taken";
}

// Appends that find a batch acknowledged wait at the gate for the rest of the
// interval (here 30 s, so only the 200 ms hold can release them), unless the
// caller says nothing more is coming: then they go at once.
TEST(KafkaLogTest, WaitingAppendsGoAtOnceWhenNothingMoreIsComing) {
  REQUIRE_BROKER();
  KafkaLog log(kafka_config(unique_topic("hint"), 1), /*gate_interval=*/30s);
  // The first append goes alone; the next two wait for it and go as a batch
  // of two, after which a lone append is no longer sent at once.
  Acks warm_up;
  for (size_t i = 0; i < 3; ++i) log.append("users", "w" + std::to_string(i), warm_up.callback(i));
  ASSERT_TRUE(warm_up.wait_for(3, 10s));

  // Times two appends from the first append to the second acknowledgement.
  auto two_appends = [&](bool hint) {
    Acks acks;
    auto started = Clock::now();
    log.append("users", "a", acks.callback(0));
    log.append("users", "b", acks.callback(1));
    if (hint) log.nothing_more_coming();
    EXPECT_TRUE(acks.wait_for(2, 10s));
    for (auto& [i, r] : acks.results()) EXPECT_TRUE(r.ok) << r.error;
    return Clock::now() - started;
  };
  auto held = two_appends(false);
  EXPECT_GE(held, 190ms) << "appends went before the interval without the hint";
  auto sent = two_appends(true);
  EXPECT_LT(sent, 150ms) << "the hint did not send the waiting appends";
}

// A database is only ever continued from where it stopped: a stored offset
// before the log's first record (events deleted) or after its end (another
// log) stops the start with the reason, and so does an empty database on a
// log whose first records are gone. Offsets within the log start.
TEST(KafkaLogTest, StartRefusesADatabaseThatDoesNotMatchTheLog) {
  REQUIRE_BROKER();
  auto topic = unique_topic("positions");
  write_records(topic, 5);
  Admin admin;
  ASSERT_EQ(admin.delete_records_before(topic, 0, 3), "");

  std::string behind = start_error(topic, 2);
  EXPECT_TRUE(contains(behind, "partition 0 of " + topic)) << behind;
  EXPECT_TRUE(contains(behind, "the next offset to apply, 2, is no longer in the log (it now starts at offset 3"))
      << behind;
  EXPECT_TRUE(contains(behind, "bootstrap.when_behind")) << behind;

  std::string ahead = start_error(topic, 6);
  EXPECT_TRUE(contains(ahead, "applied the events before offset 6 but the log ends at offset 5")) << ahead;
  EXPECT_TRUE(contains(ahead, "built from another log")) << ahead;

  std::string empty = start_error(topic, std::nullopt);
  EXPECT_TRUE(contains(empty, "the log starts at offset 3, not 0")) << empty;

  EXPECT_EQ(start_error(topic, 5), "") << "a database that applied the whole log must start";
  KafkaLog log(kafka_config(topic, 1));
  log.start([](int32_t) -> std::optional<int64_t> { return 3; });
  auto records = poll_until(log, 2, 15s);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 3);
  EXPECT_EQ(records[1].value, "4");
  EXPECT_TRUE(log.reachable());
}

// The topic replaced under a running consumer: its next offset is past the
// new log's end. The log reports itself unusable (the node leaves the load
// balancer) and hands out nothing of the new log, instead of jumping to its
// beginning.
TEST(KafkaLogTest, ALogReplacedUnderARunningConsumerStopsItInsteadOfJumping) {
  REQUIRE_BROKER();
  auto topic = unique_topic("replaced");
  write_records(topic, 5);
  KafkaLog log(kafka_config(topic, 1));
  log.start([](int32_t) -> std::optional<int64_t> { return std::nullopt; });
  ASSERT_EQ(poll_until(log, 5, 15s).size(), 5u);

  Admin admin;
  ASSERT_EQ(admin.recreate_topic(topic, 1), "");
  {
    KafkaLog writer(kafka_config(topic, 1));
    Acks acks;
    writer.append("users", "new-0", acks.callback(0));
    ASSERT_TRUE(acks.wait_for(1, 10s));
    ASSERT_TRUE(acks.results().at(0).ok) << acks.results().at(0).error;
    writer.close();
  }
  std::vector<LogRecord> seen;
  auto deadline = Clock::now() + 30s;
  while (log.reachable() && Clock::now() < deadline) log.poll(seen, 100, 200ms);
  EXPECT_FALSE(log.reachable()) << "the consumer went on after its position left the log";
  EXPECT_TRUE(seen.empty()) << "the consumer read " << seen.size() << " record(s) of the new log";
}

TEST(KafkaLogTest, UnreachableBrokerFailsStartWithinTheTimeout) {
  auto config = kafka_config(unique_topic("closed"));
  config.kafka.brokers = "127.0.0.1:" + std::to_string(closed_port());
  config.kafka.request_timeout_ms = 1500;
  auto start = Clock::now();
  try {
    KafkaLog log(config);
    FAIL() << "a KafkaLog without a broker was created";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create Kafka topic"), std::string::npos) << e.what();
  }
  EXPECT_LT(Clock::now() - start, 4s);
}

TEST(KafkaLogTest, RefusedAppendReportsFailure) {
  REQUIRE_BROKER();
  auto config = kafka_config(unique_topic("refused"));
  config.kafka.properties["message.max.bytes"] = "2000";
  KafkaLog log(config);
  Acks acks;
  log.append("users", std::string(10000, 'x'), acks.callback(0));
  ASSERT_TRUE(acks.wait_for(1, 5s));
  auto r = acks.results().at(0);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
}

TEST(KafkaLogTest, UnknownPropertyIsAnErrorNamingIt) {
  REQUIRE_BROKER();
  auto config = kafka_config(unique_topic("badprop"));
  config.kafka.properties["no.such.property"] = "1";
  try {
    KafkaLog log(config);
    FAIL() << "an unknown librdkafka property was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("kafka.properties.no.such.property"), std::string::npos) << e.what();
  }
}

// Shared mode: two consumers in one group split the partitions; with offsets
// stored after each poll (as the applier commits), every record is taken
// exactly once, also across the rebalance when the second member joins.
TEST(KafkaLogTest, SharedModeSplitsPartitionsAndTakesEachRecordOnce) {
  REQUIRE_BROKER();
  auto topic = unique_topic("shared");
  auto config_a = kafka_config(topic, 4, Mode::kShared);
  config_a.kafka.group_id = topic + "_group";
  auto config_b = config_a;
  config_b.node_id += "-b";

  std::mutex mutex;
  std::map<int32_t, int64_t> committed;  // the "shared database"
  std::map<std::pair<int32_t, int64_t>, int> taken;
  std::map<std::string, std::set<int32_t>> partitions_by_member;
  auto stored = [&](int32_t p) -> std::optional<int64_t> {
    std::lock_guard lock(mutex);
    auto it = committed.find(p);
    if (it == committed.end()) return std::nullopt;
    return it->second;
  };

  KafkaLog a(config_a);
  KafkaLog b(config_b);
  const size_t n = 200;
  std::atomic<bool> stop{false};
  auto consume = [&](KafkaLog& log, const std::string& name) {
    log.start(stored);
    while (!stop) {
      std::vector<LogRecord> batch;
      log.poll(batch, 50, 100ms);
      std::lock_guard lock(mutex);
      for (auto& r : batch) {
        taken[{r.partition, r.offset}] += 1;
        committed[r.partition] = r.offset + 1;
        partitions_by_member[name].insert(r.partition);
      }
    }
  };
  std::thread ta([&] { consume(a, "a"); });
  Acks acks;
  for (size_t i = 0; i < n / 2; ++i) a.append("key" + std::to_string(i % 16), std::to_string(i), acks.callback(i));
  std::thread tb([&] { consume(b, "b"); });
  for (size_t i = n / 2; i < n; ++i) {
    a.append("key" + std::to_string(i % 16), std::to_string(i), acks.callback(i));
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(acks.wait_for(n, 10s));
  std::set<std::pair<int32_t, int64_t>> appended;
  for (auto& [i, r] : acks.results()) {
    EXPECT_TRUE(r.ok) << "append " << i << ": " << r.error;
    if (r.ok) appended.insert({r.partition, r.offset});
  }
  auto deadline = Clock::now() + 30s;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (taken.size() >= n && partitions_by_member["b"].size() > 0) break;
    }
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  ta.join();
  tb.join();

  std::lock_guard lock(mutex);
  EXPECT_EQ(taken.size(), n);
  for (auto& pos : appended)
    EXPECT_TRUE(taken.count(pos)) << "never taken: partition " << pos.first << " offset " << pos.second
                                  << " (committed there: " << committed[pos.first] << ")";
  for (auto& [pos, times] : taken) EXPECT_EQ(times, 1) << "partition " << pos.first << " offset " << pos.second;
  EXPECT_FALSE(partitions_by_member["a"].empty());
  EXPECT_FALSE(partitions_by_member["b"].empty()) << "the second member never got a partition";
}

}  // namespace
}  // namespace clusterlite
