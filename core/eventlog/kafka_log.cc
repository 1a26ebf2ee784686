#include "eventlog/kafka_log.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include "eventlog/kafka_admin.h"
#include "log.h"
#include "thread_name.h"

namespace clusterlite {
namespace {

using Clock = std::chrono::steady_clock;

// How long close() lets queued appends reach the broker before it gives up on them.
constexpr int kMaxFlushMs = 5000;
// While the broker is unreachable, how often the probe thread asks it for
// metadata; also the bound of each such request.
constexpr auto kProbeInterval = std::chrono::seconds(1);
// librdkafka looks for timed-out messages once a second, so a failed append is
// reported up to this much after message.timeout.ms.
constexpr int kTimeoutScanMs = 1000;
// Pause between attempts to read the end offsets.
constexpr auto kEndOffsetsRetry = std::chrono::milliseconds(50);
// See wake_fetcher(): at most one wake-up request per this interval, each
// waiting at most kWakeTimeoutMs for its answer.
constexpr auto kWakeInterval = std::chrono::milliseconds(5);
constexpr int kWakeTimeoutMs = 100;
// The longest an append waits at the gate while the broker has not
// acknowledged the batch before it: then the gate opens, so a stalled broker
// cannot stretch a write beyond kafka.request_timeout_ms.
constexpr auto kGateHold = std::chrono::milliseconds(200);

enum class Origin { kCore, kUser };

// Sets one librdkafka property; `origin` says whether the value came from
// kafka.properties, so the error names the key the operator wrote.
void set(RdKafka::Conf& conf, const std::string& name, const std::string& value, Origin origin) {
  std::string errstr;
  if (conf.set(name, value, errstr) == RdKafka::Conf::CONF_OK) return;
  if (origin == Origin::kUser) throw std::runtime_error("config key kafka.properties." + name + ": " + errstr);
  throw std::runtime_error("librdkafka refused " + name + "=" + value + ": " + errstr);
}

template <typename Callback>
void set(RdKafka::Conf& conf, const std::string& name, Callback* callback) {
  std::string errstr;
  if (conf.set(name, callback, errstr) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("librdkafka refused " + name + ": " + errstr);
}

// The producer's connection threads run under SCHED_BATCH, which on Linux
// means a woken one never preempts the thread that woke it. hand_over() gives
// librdkafka a batch message by message, and the first message wakes the
// connection thread; with linger.ms 0 a thread that preempted hand_over() sent
// that message alone, and the next few too, each as its own produce request,
// until five were in flight (measured: a third of the log's record batches
// held a single record through one node; docs/benchmarks.md). Now the batch is
// queued before the thread runs, unless the other CPU picks it up at once.
// SCHED_BATCH needs no privilege; where it is refused the threads keep the
// default policy.
rd_kafka_resp_err_t on_producer_thread_start(rd_kafka_t*, rd_kafka_thread_type_t type, const char* name, void*) {
  if (type != RD_KAFKA_THREAD_BROKER) return RD_KAFKA_RESP_ERR_NO_ERROR;
  sched_param param{};
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      log::warn("kafka", std::string("cannot run producer thread ") + name + " under SCHED_BATCH: " +
                             std::strerror(errno) + "; batches may go out split");
    });
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_producer_new(rd_kafka_t* rk, const rd_kafka_conf_t*, void*, char*, size_t) {
  return rd_kafka_interceptor_add_on_thread_start(rk, "clusterlite", on_producer_thread_start, nullptr);
}

void add_producer_interceptors(rd_kafka_conf_t* conf);

// librdkafka copies a configuration when it makes the client, without its
// interceptors: this adds them to the copy.
rd_kafka_resp_err_t on_producer_conf_dup(rd_kafka_conf_t* copy, const rd_kafka_conf_t*, size_t, const char**,
                                         void*) {
  add_producer_interceptors(copy);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void add_producer_interceptors(rd_kafka_conf_t* conf) {
  rd_kafka_conf_interceptor_add_on_new(conf, "clusterlite", on_producer_new, nullptr);
  rd_kafka_conf_interceptor_add_on_conf_dup(conf, "clusterlite", on_producer_conf_dup, nullptr);
}

}  // namespace

// librdkafka's callbacks. Each catches everything: they run on librdkafka's
// or the log's threads, where an exception would end the process.
class KafkaLog::Callbacks : public RdKafka::DeliveryReportCb, public RdKafka::EventCb, public RdKafka::RebalanceCb {
 public:
  explicit Callbacks(KafkaLog& owner) : owner_(owner) {}

  // Producer thread (inside poll/flush): the broker acknowledged or the
  // message definitively failed (timeout, purge at close).
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<AppendCallback> done(static_cast<AppendCallback*>(message.msg_opaque()));
    if (!done) return;
    AppendResult result;
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      owner_.set_reachable(true, {});
      result = {true, message.partition(), message.offset(), {}};
    } else {
      result = {false, -1, -1, message.errstr(),
                message.status() != RdKafka::Message::MSG_STATUS_NOT_PERSISTED};
    }
    try {
      (*done)(result);
    } catch (const std::exception& e) {
      log::error("kafka", std::string("append callback threw: ") + e.what());
    }
    owner_.reported();
  }

  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.fatal()) {
          // The producer refuses every append from now on: report the node
          // unreachable so it leaves the load balancer until restarted.
          owner_.fatal_ = true;
          log::error("kafka", "fatal librdkafka error, restart the node: " + event.str());
        } else if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN || event.err() == RdKafka::ERR__TRANSPORT) {
          owner_.suspect(event.str());
        } else {
          log::warn("kafka", RdKafka::err2str(event.err()) + ": " + event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        // Connection failures arrive here at error severity and again as
        // error events, which set_reachable() reports once; warn is enough.
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING)
          log::warn("kafka", event.fac() + ": " + event.str());
        else
          log::debug("kafka", event.fac() + ": " + event.str());
        break;
      default:
        break;
    }
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    try {
      owner_.rebalance(consumer, err, partitions);
    } catch (const std::exception& e) {
      log::error("kafka", std::string("rebalance failed: ") + e.what());
    }
  }

 private:
  KafkaLog& owner_;
};

KafkaLog::KafkaLog(const Config& config, std::chrono::milliseconds gate_interval)
    : topic_(config.kafka.topic),
      shared_(config.mode == Mode::kShared),
      brokers_(config.kafka.brokers),
      request_timeout_ms_(config.kafka.request_timeout_ms),
      callbacks_(std::make_unique<Callbacks>(*this)),
      gate_interval_(gate_interval) {
  const std::string client_id = "clusterlite-" + config.node_id;
  auto common = [&](RdKafka::Conf& conf) {
    set(conf, "bootstrap.servers", config.kafka.brokers, Origin::kCore);
    set(conf, "client.id", client_id, Origin::kCore);
    // A restarted broker is found again within a second, not the default ten.
    set(conf, "reconnect.backoff.max.ms", "1000", Origin::kCore);
    set(conf, "event_cb", static_cast<RdKafka::EventCb*>(callbacks_.get()));
  };
  auto user = [&](RdKafka::Conf& conf) {
    for (auto& [name, value] : config.kafka.properties) set(conf, name, value, Origin::kUser);
  };
  std::string errstr;

  std::unique_ptr<RdKafka::Conf> pconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  common(*pconf);
  set(*pconf, "enable.idempotence", "true", Origin::kCore);
  set(*pconf, "acks", "all", Origin::kCore);
  // The gate in append() batches appends; what it hands over is sent at once.
  set(*pconf, "linger.ms", "0", Origin::kCore);
  int message_timeout_ms =
      std::max(request_timeout_ms_ - kTimeoutScanMs - static_cast<int>(kGateHold.count()), request_timeout_ms_ / 2);
  set(*pconf, "message.timeout.ms", std::to_string(message_timeout_ms), Origin::kCore);
  set(*pconf, "dr_cb", static_cast<RdKafka::DeliveryReportCb*>(callbacks_.get()));
  user(*pconf);
  add_producer_interceptors(pconf->c_ptr_global());
  producer_.reset(RdKafka::Producer::create(pconf.get(), errstr));
  if (!producer_) throw std::runtime_error("cannot create the Kafka producer: " + errstr);
  topic_handle_.reset(rd_kafka_topic_new(producer_->c_ptr(), topic_.c_str(), nullptr));
  if (!topic_handle_)
    throw std::runtime_error("cannot open topic " + topic_ + ": " + rd_kafka_err2str(rd_kafka_last_error()));

  try {
    partitions_ = ensure_topic(producer_->c_ptr(),
                               {config.kafka.topic, config.kafka.partitions, config.kafka.replication_factor,
                                config.kafka.retention_ms,
                                config.kafka.min_insync_replicas.value_or(config.kafka.replication_factor >= 3 ? 2 : 1)},
                               std::chrono::milliseconds(request_timeout_ms_));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (brokers: " + brokers_ + ")");
  }

  std::unique_ptr<RdKafka::Conf> cconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  common(*cconf);
  set(*cconf, "group.id", shared_ ? config.kafka.group_id : "clusterlite-replica-" + config.node_id, Origin::kCore);
  set(*cconf, "enable.auto.commit", "false", Origin::kCore);
  set(*cconf, "enable.auto.offset.store", "false", Origin::kCore);
  // Every partition starts at an explicit position (the stored offset, or the
  // beginning for a fresh database). A stored offset the log no longer has is
  // an error to report, never a silent jump to another position.
  set(*cconf, "auto.offset.reset", "error", Origin::kCore);
  // A fetch the broker holds for new records should end as soon as they
  // come, but measured, one now and then does not and ends only at this bound
  // (librdkafka's default 500 ms): every write waiting for this node's apply
  // then waits ~400 ms with it. 50 ms bounds that stall, for about 1% of one
  // CPU between an idle broker and three idle nodes (docs/design.md).
  set(*cconf, "fetch.wait.max.ms", "50", Origin::kCore);
  if (shared_) {
    set(*cconf, "rebalance_cb", static_cast<RdKafka::RebalanceCb*>(callbacks_.get()));
    // Partitions added to the topic join the group's assignment at the next
    // metadata refresh: within a second, not librdkafka's default 5 minutes.
    set(*cconf, "topic.metadata.refresh.interval.ms", "1000", Origin::kCore);
  }
  user(*cconf);
  consumer_.reset(RdKafka::KafkaConsumer::create(cconf.get(), errstr));
  if (!consumer_) throw std::runtime_error("cannot create the Kafka consumer: " + errstr);

  producer_thread_ = std::thread([this] {
    name_this_thread("cl-kafka-acks");
    producer_loop();
  });
  gate_thread_ = std::thread([this] {
    name_this_thread("cl-kafka-gate");
    gate_loop();
  });
  probe_thread_ = std::thread([this] {
    name_this_thread("cl-kafka-probe");
    probe_loop();
  });
  log::info("kafka", "connected to " + brokers_ + ", topic " + topic_ + " (" + std::to_string(partitions_.load()) +
                         " partitions, " + (shared_ ? "group " + config.kafka.group_id : "every partition") + ")");
}

KafkaLog::~KafkaLog() { close(); }

void KafkaLog::set_reachable(bool reachable, const std::string& why) {
  if (reachable_.exchange(reachable) == reachable) return;
  if (reachable)
    log::info("kafka", "broker " + brokers_ + " reachable again");
  else
    log::warn("kafka", "broker " + brokers_ + " unreachable: " + why);
}

void KafkaLog::producer_loop() {
  while (!closing_) producer_->poll(100);
}

bool KafkaLog::gate_open(Clock::time_point now) const {
  if (pending_.empty()) return false;
  if (in_flight_ == 0 && (nothing_more_coming_ || now >= last_hand_over_ + gate_interval_ ||
                          (pending_.size() == 1 && last_batch_ <= 1)))
    return true;
  return now - pending_.front().since >= kGateHold;
}

void KafkaLog::gate_loop() {
  std::unique_lock lock(gate_mutex_);
  while (!gate_closed_) {
    if (pending_.empty()) {
      gate_changed_.wait(lock);
      continue;
    }
    if (gate_open(Clock::now())) {
      std::vector<Failed> failed;
      hand_over(failed);
      lock.unlock();
      fail(failed);
      lock.lock();
      continue;
    }
    // Until the interval ends (nothing in flight) or, in any case, the oldest
    // append's hold.
    auto wake_at = pending_.front().since + kGateHold;
    if (in_flight_ == 0) wake_at = std::min(wake_at, last_hand_over_ + gate_interval_);
    gate_changed_.wait_until(lock, wake_at);
  }
}

void KafkaLog::suspect(const std::string& why) {
  std::lock_guard lock(probe_mutex_);
  suspicion_ = why;
  probe_wake_.notify_one();
}

void KafkaLog::probe_loop() {
  std::unique_lock lock(probe_mutex_);
  for (;;) {
    probe_wake_.wait_for(lock, kProbeInterval, [&] { return closing_ || !suspicion_.empty(); });
    if (closing_) return;
    const bool probe = !reachable_ || !suspicion_.empty();
    std::string why = suspicion_.empty() ? "no answer to a metadata request" : std::move(suspicion_);
    suspicion_.clear();
    lock.unlock();
    auto timeout_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kProbeInterval).count());
    if (probe) {
      // A connection error may be an idle connection the broker closed, which
      // librdkafka reopens on demand: only a broker that does not answer a
      // metadata request counts as unreachable. Nothing says when it answers
      // again while no record flows, so keep asking until it does.
      RdKafka::Metadata* md = nullptr;
      bool answered = producer_->metadata(false, nullptr, &md, timeout_ms) == RdKafka::ERR_NO_ERROR;
      delete md;
      set_reachable(answered, why);
    }
    if (reachable_) watch_partition_count();
    lock.lock();
  }
}

void KafkaLog::watch_partition_count() {
  auto timeout_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kProbeInterval).count());
  // Also refreshes librdkafka's own view of the topic, so that the producer
  // can append to a partition added just now.
  int now = current_partition_count(producer_->c_ptr(), topic_, timeout_ms);
  int before = partitions_.load();
  if (now <= before) return;  // unknown (0), or unchanged: Kafka never removes partitions
  partitions_.store(now);
  log::warn("kafka", "topic " + topic_ + " grew from " + std::to_string(before) + " to " + std::to_string(now) +
                         " partitions; this node now applies the new ones too. Tables keep appending to the "
                         "partition their events are in; a new table goes where its name's hash over " +
                         std::to_string(now) + " partitions points (docs/operations.md, \"Adding partitions\")");
}

void KafkaLog::append(const std::string& key, std::string value, AppendCallback done) {
  if (closing_) return done({false, -1, -1, "the node is shutting down"});
  // The gate: appends go to librdkafka as one batch once the batch before
  // has been acknowledged and the gate interval has passed since it was handed
  // over; until then they wait here. They go as soon as nothing is in flight
  // when the caller said nothing more is coming (nothing_more_coming()), and
  // after a batch of one an append that finds nothing in flight and nothing
  // waiting goes at once: a client writing one row after another, or clients
  // that all wait for their writes, are not held. librdkafka's idempotent
  // producer sends one request at a time per partition once a batch holds
  // several messages, and while that request is out it polls its socket
  // without blocking for as long as more messages are ready to send
  // (linger.ms passed), CPU the node and the broker need. Holding appends here
  // keeps its queue empty while a request is out, and the interval keeps
  // batches as large as linger.ms made them.
  std::vector<Failed> failed;
  {
    std::lock_guard lock(gate_mutex_);
    if (gate_closed_) return done({false, -1, -1, "the node is shutting down"});
    auto now = Clock::now();
    pending_.push_back({key, std::move(value), std::make_unique<AppendCallback>(std::move(done)), now});
    if (gate_open(now))
      hand_over(failed);
    else if (pending_.size() == 1)
      gate_changed_.notify_one();
  }
  fail(failed);
}

void KafkaLog::nothing_more_coming() {
  std::vector<Failed> failed;
  {
    std::lock_guard lock(gate_mutex_);
    if (gate_closed_ || pending_.empty()) return;
    nothing_more_coming_ = true;
    if (gate_open(Clock::now())) hand_over(failed);
  }
  fail(failed);
}

void KafkaLog::hand_over(std::vector<Failed>& failed) {
  // Grouped by partition, each group in append order is enqueued in one call;
  // librdkafka's connection thread, woken by the first message, usually finds
  // the rest queued and sends them as one request. A record's partition: the
  // one its table's events are in, as this node applied them, whatever the
  // partition count is now (docs/operations.md, "Adding partitions"); for a
  // table with none, the murmur2 hash of the key over the current count, as
  // librdkafka's murmur2_random partitioner (and Java clients) pick it.
  const int partitions = partitions_.load();
  std::map<int32_t, std::vector<PendingAppend*>> by_partition;
  for (auto& a : pending_) {
    std::optional<int32_t> known = known_partition_ ? known_partition_(a.key) : std::nullopt;
    int32_t partition = known && *known < partitions
                            ? *known
                            : rd_kafka_msg_partitioner_murmur2_random(topic_handle_.get(), a.key.data(),
                                                                      a.key.size(), partitions, nullptr, nullptr);
    by_partition[partition].push_back(&a);
  }
  for (auto& [partition, appends] : by_partition) {
    std::vector<rd_kafka_message_t> messages(appends.size());
    for (size_t i = 0; i < appends.size(); ++i) {
      messages[i] = {};
      messages[i].payload = appends[i]->value.data();
      messages[i].len = appends[i]->value.size();
      messages[i].key = appends[i]->key.data();
      messages[i].key_len = appends[i]->key.size();
      messages[i]._private = appends[i]->done.get();
    }
    rd_kafka_produce_batch(topic_handle_.get(), partition, RD_KAFKA_MSG_F_COPY, messages.data(),
                           static_cast<int>(messages.size()));
    for (size_t i = 0; i < appends.size(); ++i) {
      if (messages[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        appends[i]->done.release();  // owned by the delivery report now
        ++in_flight_;
      } else {
        failed.push_back({std::move(appends[i]->done), rd_kafka_err2str(messages[i].err)});
      }
    }
  }
  last_batch_ = pending_.size();
  pending_.clear();
  nothing_more_coming_ = false;
  last_hand_over_ = Clock::now();
}

void KafkaLog::reported() {
  std::vector<Failed> failed;
  {
    std::lock_guard lock(gate_mutex_);
    if (--in_flight_ == 0 && !pending_.empty()) {
      if (gate_open(Clock::now()))
        hand_over(failed);
      else
        gate_changed_.notify_one();
    }
  }
  fail(failed);
}

void KafkaLog::fail(std::vector<Failed>& failed) {
  for (auto& f : failed) {
    try {
      (*f.done)({false, -1, -1, f.error});
    } catch (const std::exception& e) {
      log::error("kafka", std::string("append callback threw: ") + e.what());
    }
  }
}

void KafkaLog::start(StoredOffsets stored) {
  stored_ = std::move(stored);
  check_positions();
  if (shared_) {
    RdKafka::ErrorCode err = consumer_->subscribe({topic_});
    if (err != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("cannot subscribe to " + topic_ + ": " + RdKafka::err2str(err));
    return;
  }
  std::vector<RdKafka::TopicPartition*> partitions;
  for (int32_t p = 0; p < partitions_; ++p) {
    assigned_from_[p] = stored_(p).value_or(RdKafka::Topic::OFFSET_BEGINNING);
    partitions.push_back(RdKafka::TopicPartition::create(topic_, p, assigned_from_[p]));
  }
  RdKafka::ErrorCode err = consumer_->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  if (err != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("cannot assign the partitions of " + topic_ + ": " + RdKafka::err2str(err));
}

void KafkaLog::rebalance(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                         std::vector<RdKafka::TopicPartition*>& partitions) {
  const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
  std::string names;
  for (auto* tp : partitions) names += (names.empty() ? "" : ",") + std::to_string(tp->partition());
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    for (auto* tp : partitions)
      tp->set_offset(stored_(tp->partition()).value_or(RdKafka::Topic::OFFSET_BEGINNING));
    RdKafka::Error* error = nullptr;
    RdKafka::ErrorCode code = RdKafka::ERR_NO_ERROR;
    if (cooperative)
      error = consumer->incremental_assign(partitions);
    else
      code = consumer->assign(partitions);
    if (error) {
      code = error->code();
      delete error;
    }
    if (code != RdKafka::ERR_NO_ERROR)
      log::error("kafka", "assigning partitions " + names + " failed: " + RdKafka::err2str(code));
    else
      log::info("kafka", "group assigned partitions [" + names + "] of " + topic_);
    return;
  }
  for (auto* tp : partitions) next_offsets_.erase(tp->partition());
  // Revoked (or an error): records of these partitions fetched by the poll in
  // progress are not committed yet; drop them so only the new owner applies them.
  if (polling_out_) {
    auto revoked = [&](const LogRecord& r) {
      return std::any_of(partitions.begin(), partitions.end(),
                         [&](RdKafka::TopicPartition* tp) { return tp->partition() == r.partition; });
    };
    polling_out_->erase(std::remove_if(polling_out_->begin() + static_cast<std::ptrdiff_t>(polling_from_),
                                       polling_out_->end(), revoked),
                        polling_out_->end());
  }
  if (cooperative) {
    if (RdKafka::Error* error = consumer->incremental_unassign(partitions)) {
      log::error("kafka", "unassigning partitions failed: " + error->str());
      delete error;
    }
  } else {
    consumer->unassign();
  }
  log::info("kafka", "group revoked partitions [" + names + "] of " + topic_);
}

void KafkaLog::assign_added_partitions() {
  const int partitions = partitions_.load();
  if (static_cast<int>(assigned_from_.size()) >= partitions) return;
  // The whole assignment again (assign() replaces it): each partition held
  // before continues after the last record poll() took from it, or where it
  // began; the added ones start at their first offset. This node never
  // applied a record of them: it did not know them.
  std::vector<RdKafka::TopicPartition*> list;
  std::string added;
  for (int32_t p = 0; p < partitions; ++p) {
    auto taken = next_offsets_.find(p);
    int64_t from = taken != next_offsets_.end() ? taken->second
                   : assigned_from_.count(p)   ? assigned_from_[p]
                                               : RdKafka::Topic::OFFSET_BEGINNING;
    if (!assigned_from_.count(p)) added += (added.empty() ? "" : ",") + std::to_string(p);
    list.push_back(RdKafka::TopicPartition::create(topic_, p, from));
  }
  RdKafka::ErrorCode err = consumer_->assign(list);
  RdKafka::TopicPartition::destroy(list);
  if (err != RdKafka::ERR_NO_ERROR) {
    // Tried again at the next poll; said once per change of the count.
    if (partitions != assign_failed_at_)
      log::error("kafka", "cannot assign the added partitions " + added + " of " + topic_ + ": " +
                              RdKafka::err2str(err) + "; retrying");
    assign_failed_at_ = partitions;
    return;
  }
  for (int32_t p = 0; p < partitions; ++p) assigned_from_.emplace(p, RdKafka::Topic::OFFSET_BEGINNING);
  log::info("kafka", "applying the added partitions " + added + " of " + topic_ + " from their first offset");
}

void KafkaLog::poll(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) {
  if (closing_) return;
  if (!shared_) assign_added_partitions();
  polling_out_ = &out;
  polling_from_ = out.size();
  // The first look does not wait: an empty queue while the log has more
  // wakes the fetcher (wake_fetcher()) before this thread waits for records.
  int timeout_ms = 0;
  bool waited = false;
  size_t taken = 0;
  while (taken < max) {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(timeout_ms));
    timeout_ms = 0;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() == RdKafka::ERR__TIMED_OUT) {
      if (taken > 0 || waited || wait.count() <= 0) break;
      wake_fetcher();
      timeout_ms = static_cast<int>(wait.count());
      waited = true;
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      if (m->err() == RdKafka::ERR__TRANSPORT || m->err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
        suspect(m->errstr());
      } else if (m->err() == RdKafka::ERR__AUTO_OFFSET_RESET) {
        // The next offset of a partition is outside the log (records deleted,
        // or the topic replaced while the node ran): nothing after it can be
        // applied in order. The node leaves the load balancer; at its next
        // start check_positions() says what happened and what to do.
        bool first = !fatal_.exchange(true);
        log::error("kafka", "partition " + std::to_string(m->partition()) + " of " + topic_ +
                                ": the next offset to apply is no longer in the log (" + m->errstr() +
                                "); this node stops applying it." +
                                (fell_behind_ ? "" : " Restart the node for a diagnosis"));
        if (first && fell_behind_) fell_behind_();
      } else {
        log::warn("kafka", "consumer: " + m->errstr());
      }
      break;
    }
    set_reachable(true, {});
    LogRecord record;
    record.partition = m->partition();
    record.offset = m->offset();
    if (m->key_pointer()) record.key.assign(static_cast<const char*>(m->key_pointer()), m->key_len());
    if (m->payload()) record.value.assign(static_cast<const char*>(m->payload()), m->len());
    next_offsets_[record.partition] = record.offset + 1;
    out.push_back(std::move(record));
    ++taken;
  }
  polling_out_ = nullptr;
}

void KafkaLog::wake_fetcher() {
  auto now = Clock::now();
  if (now < next_wake_) return;
  for (auto [partition, next] : next_offsets_) {
    int64_t low = -1;
    int64_t high = -1;
    // The end of the partition as of the last fetch answer: no request.
    if (consumer_->get_watermark_offsets(topic_, partition, &low, &high) != RdKafka::ERR_NO_ERROR || high <= next)
      continue;
    next_wake_ = now + kWakeInterval;
    // Any request to the partition's broker wakes its thread, which then
    // fetches again; the answer itself is not needed.
    consumer_->query_watermark_offsets(topic_, partition, &low, &high, kWakeTimeoutMs);
    return;
  }
}

std::map<int32_t, KafkaLog::Bounds> KafkaLog::bounds() {
  auto deadline = Clock::now() + std::chrono::milliseconds(request_timeout_ms_);
  std::map<int32_t, Bounds> out;
  for (int32_t p = 0; p < partitions_; ++p) {
    int64_t low = -1;
    int64_t high = -1;
    // A partition that just got its leader can briefly answer "not leader".
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      RdKafka::ErrorCode err =
          consumer_->query_watermark_offsets(topic_, p, &low, &high, static_cast<int>(std::max<int64_t>(left, 1)));
      if (err == RdKafka::ERR_NO_ERROR) break;
      if (Clock::now() + kEndOffsetsRetry >= deadline)
        throw std::runtime_error("cannot read the offsets of partition " + std::to_string(p) + " of " + topic_ +
                                 " (brokers: " + brokers_ + "): " + RdKafka::err2str(err));
      std::this_thread::sleep_for(kEndOffsetsRetry);
    }
    out[p] = {low, high};
  }
  return out;
}

void KafkaLog::check_positions() {
  std::string problems;
  for (auto [p, b] : bounds()) {
    std::string where = "partition " + std::to_string(p) + " of " + topic_ + ": ";
    std::optional<int64_t> next = stored_(p);
    if (next && *next < b.first) {
      problems += where + "the next offset to apply, " + std::to_string(*next) + ", is no longer in the log " +
                  "(it now starts at offset " + std::to_string(b.first) + "; the events in between were " +
                  "deleted by retention or DeleteRecords), so this node cannot catch up. Set bootstrap.peers and " +
                  "bootstrap.when_behind to have it copy a snapshot from a peer, or start it with an empty " +
                  "database and bootstrap.peers. ";
    } else if (next && *next > b.end) {
      problems += where + "the database has applied the events before offset " + std::to_string(*next) +
                  " but the log ends at offset " + std::to_string(b.end) + ": the database was built from " +
                  "another log (the topic was deleted and created again, or the broker lost its data). Start " +
                  "this node with an empty database to rebuild it from this log, or point it at its own topic. ";
    } else if (!next && b.first > 0) {
      problems += where + "the log starts at offset " + std::to_string(b.first) + ", not 0: its first events " +
                  "were deleted, so an empty database cannot be rebuilt from it. Set bootstrap.peers to have " +
                  "this node copy a snapshot from an up-to-date node. ";
    }
  }
  if (!problems.empty()) {
    problems.pop_back();
    throw std::runtime_error("the database does not match the event log: " + problems);
  }
}

std::optional<std::map<int32_t, int64_t>> KafkaLog::end_offsets(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  // An unreachable broker answers nothing: say so at once rather than at the
  // end of the timeout. Otherwise retry within the timeout: a partition that
  // just changed leader (or was just created) briefly answers "not leader".
  while (!closing_ && reachable_) {
    if (auto ends = query_end_offsets(deadline)) return ends;
    if (Clock::now() + kEndOffsetsRetry >= deadline) break;
    std::this_thread::sleep_for(kEndOffsetsRetry);
  }
  return std::nullopt;
}

std::optional<std::map<int32_t, int64_t>> KafkaLog::query_end_offsets(Clock::time_point deadline) {
  // offsetsForTimes with OFFSET_END asks the partition leaders for the log end
  // (the high watermark; this log has no transactions) and, unlike
  // query_watermark_offsets, keeps to its timeout when the broker is gone.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  std::vector<RdKafka::TopicPartition*> partitions;
  for (int32_t p = 0; p < partitions_; ++p)
    partitions.push_back(RdKafka::TopicPartition::create(topic_, p, RdKafka::Topic::OFFSET_END));
  RdKafka::ErrorCode err = producer_->offsetsForTimes(partitions, static_cast<int>(std::max<int64_t>(left, 1)));
  std::map<int32_t, int64_t> ends;
  for (auto* tp : partitions) {
    if (tp->err() != RdKafka::ERR_NO_ERROR || tp->offset() < 0) err = tp->err() ? tp->err() : RdKafka::ERR__FAIL;
    ends[tp->partition()] = tp->offset();
  }
  RdKafka::TopicPartition::destroy(partitions);
  if (err == RdKafka::ERR_NO_ERROR) return ends;
  log::debug("kafka", "end offsets unknown: " + RdKafka::err2str(err));
  return std::nullopt;
}

void KafkaLog::close() {
  std::lock_guard lock(close_mutex_);
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard probe_lock(probe_mutex_);
    closing_ = true;
    probe_wake_.notify_one();
  }
  if (probe_thread_.joinable()) probe_thread_.join();
  if (producer_thread_.joinable()) producer_thread_.join();
  if (producer_) {
    std::vector<Failed> failed;
    {
      std::lock_guard gate(gate_mutex_);
      gate_closed_ = true;
      if (!pending_.empty()) hand_over(failed);
      gate_changed_.notify_one();
    }
    if (gate_thread_.joinable()) gate_thread_.join();
    fail(failed);
    // Appends still queued get a bounded chance; the rest fail through their
    // callbacks (purge), so every AppendCallback runs once and destroy cannot hang.
    producer_->flush(std::min(request_timeout_ms_, kMaxFlushMs));
    if (producer_->outq_len() > 0) {
      log::warn("kafka", std::to_string(producer_->outq_len()) + " appends not acknowledged at close; dropping them");
      producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer_->flush(1000);
    }
  }
  topic_handle_.reset();
  if (consumer_) consumer_->close();
  consumer_.reset();
  producer_.reset();
}

}  // namespace clusterlite
