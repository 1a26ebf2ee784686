// KafkaLog: the event log on Apache Kafka or Redpanda (librdkafka C++ API).
//
// Producer: idempotent (acks=all). A table's events go to the partition its
// earlier events are in (keep_keys_where_they_are); a table with none yet to
// the partition the murmur2 hash of its name picks over the current partition
// count, as Java clients do. Appends made while a batch is
// unacknowledged wait at a gate and follow as the next batch (see append()).
// One thread serves delivery reports and runs each AppendCallback with the
// partition and offset, or with an error once kafka.request_timeout_ms has
// passed.
//
// Consumer: in replica mode it assign()s every partition of the topic itself
// (group.id clusterlite-replica-<node id>, never committed to Kafka), starting
// at the offsets stored in the node's database. In shared mode it subscribes
// with kafka.group_id and the rebalance callback starts each assigned
// partition at the offset stored in the shared database. A stored offset must
// still be in the log: start() refuses a database that is behind the log's
// first record or ahead of its end, and a later fetch outside the log makes
// the node unready instead of jumping (auto.offset.reset=error).
//
// Partitions added to the topic: the probe thread reads the partition count
// every second; a node in replica mode then consumes the new partitions from
// their first offset, and in shared mode the group's next rebalance hands
// them out (metadata refreshed every second).
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "config.h"
#include "eventlog/event_log.h"

namespace clusterlite {

class KafkaLog : public EventLog {
 public:
  // The append gate (see KafkaLog::append): while appends queue up, at most one
  // batch per this interval goes to librdkafka, so under load each request to
  // the broker carries the appends of at least this long, unless the caller
  // says nothing more is coming (every client waits: nothing_more_coming()).
  // Measured on 2 CPUs with 64 clients (docs/benchmarks.md): through nginx,
  // where no node sees all clients wait, 7 ms made fewer and larger requests
  // and raised writes by about a sixth over 4 ms; 9 and 11 ms added more
  // latency than they saved. Writes through one node, whose clients all wait at
  // once, go when the last one arrives and do not wait for the interval.
  static constexpr std::chrono::milliseconds kGateInterval{7};

  // Connects to config.kafka.brokers, creates the topic if it is missing
  // (partitions, replication factor, kafka.retention_ms) and makes the
  // producer and consumer. Throws std::runtime_error with a one-line reason
  // when a kafka.properties entry is refused or the broker does not answer
  // within kafka.request_timeout_ms.
  // `gate_interval`: see kGateInterval; tests lengthen it.
  explicit KafkaLog(const Config& config, std::chrono::milliseconds gate_interval = kGateInterval);
  ~KafkaLog() override;

  const std::string& topic() const override { return topic_; }
  void append(const std::string& key, std::string value, AppendCallback done) override;
  void nothing_more_coming() override;
  void keep_keys_where_they_are(KnownPartition known) override { known_partition_ = std::move(known); }
  void start(StoredOffsets stored) override;
  void poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) override;
  std::optional<std::map<int32_t, int64_t>> end_offsets(std::chrono::milliseconds timeout) override;
  bool reachable() const override { return reachable_ && !fatal_; }
  void close() override;

  // Partitions of the topic, as last read from the cluster's metadata.
  int partition_count() const { return partitions_.load(); }

  // Where each partition of the log begins and ends now: the offset of its
  // first record still kept (0 until retention or DeleteRecords removed
  // some) and the offset the next record will get.
  struct Bounds {
    int64_t first = 0;
    int64_t end = 0;
  };
  // Asks the partition leaders, within kafka.request_timeout_ms. Throws
  // std::runtime_error naming the partition when they do not answer.
  std::map<int32_t, Bounds> bounds();

  // Called once, on the applier thread, when the next offset to apply of a
  // partition turns out to be no longer in the log while the node runs (the
  // node is unready from then on). It must not wait for the applier.
  void on_fell_behind(std::function<void()> callback) { fell_behind_ = std::move(callback); }

 private:
  class Callbacks;
  struct PendingAppend {
    std::string key;
    std::string value;
    std::unique_ptr<AppendCallback> done;
    std::chrono::steady_clock::time_point since;
  };
  struct Failed {
    std::unique_ptr<AppendCallback> done;
    std::string error;
  };
  // gate_mutex_ held: gives every waiting append to librdkafka; those it
  // refuses at once go to `failed`, to be called after the lock is released.
  void hand_over(std::vector<Failed>& failed);
  // Delivery report thread: one handed-over append was reported.
  void reported();
  static void fail(std::vector<Failed>& failed);
  // gate_mutex_ held: whether the waiting appends may go to librdkafka now.
  bool gate_open(std::chrono::steady_clock::time_point now) const;
  // Hands the waiting appends over when the gate opens by time.
  void gate_loop();
  void producer_loop();
  void probe_loop();
  void set_reachable(bool reachable, const std::string& why);
  // Probe thread: reads the topic's partition count; a larger one is taken
  // into partitions_ (appends and end offsets) and logged.
  void watch_partition_count();
  // Applier thread, in poll() (replica mode): assigns partitions added to
  // the topic since the last assignment, from their first offset; the
  // partitions assigned before keep their positions.
  void assign_added_partitions();
  // A connection error was seen: has the probe thread check the broker.
  void suspect(const std::string& why);
  // One attempt at end_offsets(); std::nullopt on any error.
  std::optional<std::map<int32_t, int64_t>> query_end_offsets(std::chrono::steady_clock::time_point deadline);
  // Start-up: every stored offset must lie within the log (between its first
  // and next offset), and a partition with nothing stored must still begin at
  // offset 0. Otherwise throws std::runtime_error naming each partition, what
  // happened to the log and what the operator can do.
  void check_positions();
  // Applier thread, in poll(), when no record is queued: if a partition's
  // log goes on past the next record this node would apply, wakes librdkafka's
  // fetcher with a request to that partition's broker. librdkafka 2.0.2 stops
  // fetching a partition while its local queue holds queued.min.messages
  // (100,000) records or queued.max.messages.kbytes, and looks at the queue
  // again only when its broker thread wakes, up to a second later (2.1 made
  // this fetch.queue.backoff.ms). A node catching up drains 100,000 events in
  // about a quarter of a second and then waited (docs/benchmarks.md, "Replay").
  void wake_fetcher();
  // Shared mode, inside consume(): positions newly assigned partitions at
  // their stored offsets, or gives up revoked ones.
  void rebalance(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                 std::vector<RdKafka::TopicPartition*>& partitions);

  const std::string topic_;
  const bool shared_;
  const std::string brokers_;
  const int request_timeout_ms_;
  std::atomic<int> partitions_{0};
  StoredOffsets stored_;
  KnownPartition known_partition_;  // set before the first append
  // Applier thread only (replica mode): the partitions assigned, and where
  // each began (its stored offset, or the beginning).
  std::map<int32_t, int64_t> assigned_from_;
  int assign_failed_at_ = 0;  // the partition count whose assignment last failed
  std::unique_ptr<Callbacks> callbacks_;  // outlives both handles
  std::unique_ptr<RdKafka::Producer> producer_;
  // producer_'s handle of topic_, for batched enqueues. Declared after
  // producer_ so that it goes first also when the constructor throws.
  struct TopicHandleDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
  };
  std::unique_ptr<rd_kafka_topic_t, TopicHandleDeleter> topic_handle_;
  std::mutex gate_mutex_;
  std::deque<PendingAppend> pending_;  // guarded by gate_mutex_: appends waiting at the gate
  int64_t in_flight_ = 0;              // guarded by gate_mutex_: handed to librdkafka, not yet reported
  bool gate_closed_ = false;           // guarded by gate_mutex_: close() took the last waiting appends
  std::chrono::steady_clock::time_point last_hand_over_;  // guarded by gate_mutex_
  const std::chrono::milliseconds gate_interval_;
  size_t last_batch_ = 0;  // guarded by gate_mutex_: appends in the last hand-over
  // guarded by gate_mutex_: nothing_more_coming() since the last hand-over
  bool nothing_more_coming_ = false;
  std::condition_variable gate_changed_;
  std::thread gate_thread_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  // Applier thread only (poll() and the rebalances inside it): the offset
  // after the last record taken from each partition, and wake_fetcher()'s pace.
  std::map<int32_t, int64_t> next_offsets_;
  std::chrono::steady_clock::time_point next_wake_;
  std::atomic<bool> reachable_{true};
  std::atomic<bool> fatal_{false};  // librdkafka reported a fatal error
  std::function<void()> fell_behind_;  // see on_fell_behind()
  std::atomic<bool> closing_{false};
  std::thread producer_thread_;  // serves delivery reports
  std::thread probe_thread_;     // finds the broker again after it was lost
  std::mutex probe_mutex_;
  std::condition_variable probe_wake_;
  std::string suspicion_;  // guarded by probe_mutex_: the last connection error not yet checked
  std::mutex close_mutex_;
  bool closed_ = false;  // guarded by close_mutex_

  // Applier thread only: the records of the poll() in progress, so that a
  // revocation inside consume() can drop those of partitions this node no
  // longer owns (their new owner re-reads them from the stored offsets).
  std::vector<LogRecord>* polling_out_ = nullptr;
  size_t polling_from_ = 0;
};

}  // namespace clusterlite
