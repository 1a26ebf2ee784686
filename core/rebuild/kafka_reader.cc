#include "rebuild/kafka_reader.h"

#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "log.h"

namespace clusterlite {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRetryPause = std::chrono::milliseconds(50);
// At most one wake-up request per this interval (see wake_fetcher()).
constexpr auto kWakeInterval = std::chrono::milliseconds(5);
constexpr int kWakeTimeoutMs = 100;

void set(RdKafka::Conf& conf, const std::string& name, const std::string& value, bool from_config) {
  std::string errstr;
  if (conf.set(name, value, errstr) == RdKafka::Conf::CONF_OK) return;
  if (from_config) throw std::runtime_error("config key kafka.properties." + name + ": " + errstr);
  throw std::runtime_error("librdkafka refused " + name + "=" + value + ": " + errstr);
}

int left_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(left, 1));
}

}  // namespace

// librdkafka's errors and log lines: kept as the reader's last problem (the
// rebuild names it if the log stops yielding records) and logged at debug.
class KafkaReader::Events : public RdKafka::EventCb {
 public:
  explicit Events(KafkaReader& owner) : owner_(owner) {}
  void event_cb(RdKafka::Event& event) override {
    try {
      if (event.type() == RdKafka::Event::EVENT_ERROR) {
        owner_.note_problem(RdKafka::err2str(event.err()) + ": " + event.str());
      } else if (event.type() == RdKafka::Event::EVENT_LOG) {
        log::debug("kafka", event.fac() + ": " + event.str());
      }
    } catch (...) {
      // A callback must not throw into librdkafka.
    }
  }

 private:
  KafkaReader& owner_;
};

KafkaReader::KafkaReader(const Config& config)
    : topic_(config.kafka.topic),
      brokers_(config.kafka.brokers),
      request_timeout_ms_(config.kafka.request_timeout_ms),
      events_(std::make_unique<Events>(*this)) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string errstr;
  set(*conf, "bootstrap.servers", brokers_, false);
  set(*conf, "client.id", "clusterlite-rebuild-" + config.node_id, false);
  // Required by librdkafka even with assign(); no group is joined and
  // nothing is committed under it.
  set(*conf, "group.id", "clusterlite-rebuild-" + config.node_id + "-" + std::to_string(::getpid()), false);
  set(*conf, "enable.auto.commit", "false", false);
  set(*conf, "enable.auto.offset.store", "false", false);
  // Offset 0 is checked to be in the log before reading; if it goes away
  // meanwhile, that is an error, never a jump to another position.
  set(*conf, "auto.offset.reset", "error", false);
  set(*conf, "enable.partition.eof", "true", false);
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(events_.get()), errstr) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("librdkafka refused event_cb: " + errstr);
  for (auto& [name, value] : config.kafka.properties) set(*conf, name, value, true);
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), errstr));
  if (!consumer_) throw std::runtime_error("cannot create a Kafka consumer: " + errstr);

  // The topic's partitions, from the metadata of every topic: asking for the
  // one topic could have a broker that auto-creates topics create it.
  auto deadline = Clock::now() + std::chrono::milliseconds(request_timeout_ms_);
  int partitions = -1;
  for (;;) {
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode err = consumer_->metadata(true, nullptr, &raw, left_ms(deadline));
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (err == RdKafka::ERR_NO_ERROR) {
      partitions = 0;
      for (const auto* t : *md->topics())
        if (t->topic() == topic_ && t->err() == RdKafka::ERR_NO_ERROR)
          partitions = static_cast<int>(t->partitions()->size());
      break;
    }
    if (Clock::now() + kRetryPause >= deadline)
      throw std::runtime_error("the broker does not answer (brokers: " + brokers_ + "): " + RdKafka::err2str(err));
    std::this_thread::sleep_for(kRetryPause);
  }
  if (partitions <= 0)
    throw std::runtime_error("topic '" + topic_ + "' does not exist on " + brokers_ +
                             " (kafka.topic): there is no log to rebuild from");
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = -1, high = -1;
    // A partition that just got its leader can briefly answer "not leader".
    for (;;) {
      RdKafka::ErrorCode err = consumer_->query_watermark_offsets(topic_, p, &low, &high, left_ms(deadline));
      if (err == RdKafka::ERR_NO_ERROR) break;
      if (Clock::now() + kRetryPause >= deadline)
        throw std::runtime_error("cannot read the offsets of partition " + std::to_string(p) + " of " + describe() +
                                 ": " + RdKafka::err2str(err));
      std::this_thread::sleep_for(kRetryPause);
    }
    ranges_[p] = {low, high};
  }
}

KafkaReader::~KafkaReader() {
  if (consumer_) consumer_->close();
}

void KafkaReader::start(const std::map<int32_t, int64_t>& stops) {
  std::vector<RdKafka::TopicPartition*> partitions;
  for (auto [p, stop] : stops) {
    if (stop <= 0) continue;
    stops_[p] = stop;
    next_[p] = 0;
    reading_.insert(p);
    partitions.push_back(RdKafka::TopicPartition::create(topic_, p, 0));
  }
  if (partitions.empty()) return;
  RdKafka::ErrorCode err = consumer_->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  if (err != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("cannot assign the partitions of " + describe() + ": " + RdKafka::err2str(err));
}

void KafkaReader::finish(int32_t partition) {
  if (!reading_.erase(partition)) return;
  std::vector<RdKafka::TopicPartition*> tp{RdKafka::TopicPartition::create(topic_, partition)};
  consumer_->pause(tp);  // a failure only costs fetches whose records are dropped
  RdKafka::TopicPartition::destroy(tp);
}

void KafkaReader::stop_partition(int32_t partition) { finish(partition); }

void KafkaReader::read(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) {
  // As KafkaLog::poll(): the first look does not wait, so an empty queue
  // while a partition has more wakes the fetcher before this waits.
  int timeout_ms = 0;
  bool waited = false;
  size_t taken = 0;
  while (taken < max && !reading_.empty()) {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(timeout_ms));
    timeout_ms = 0;
    const int32_t p = m->partition();
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        if (!reading_.count(p)) continue;  // fetched before the partition was finished
        const int64_t stop = stops_[p];
        if (m->offset() >= stop) {
          finish(p);
          continue;
        }
        LogRecord record;
        record.partition = p;
        record.offset = m->offset();
        if (m->key_pointer()) record.key.assign(static_cast<const char*>(m->key_pointer()), m->key_len());
        if (m->payload()) record.value.assign(static_cast<const char*>(m->payload()), m->len());
        next_[p] = record.offset + 1;
        out.push_back(std::move(record));
        ++taken;
        if (next_[p] >= stop) finish(p);
        continue;
      }
      case RdKafka::ERR__PARTITION_EOF:
        // The partition ends here; a log with gaps in its offsets (a
        // compacted topic) may hold no record at stop - 1.
        if (reading_.count(p) && m->offset() >= stops_[p]) finish(p);
        continue;
      case RdKafka::ERR__TIMED_OUT:
        if (taken > 0 || waited || wait.count() <= 0) return;
        wake_fetcher();
        timeout_ms = static_cast<int>(wait.count());
        waited = true;
        continue;
      case RdKafka::ERR__AUTO_OFFSET_RESET:
        throw std::runtime_error("partition " + std::to_string(p) + " of " + describe() +
                                 ": offset " + std::to_string(next_[p]) +
                                 " is no longer in the log (records were deleted while the rebuild read them): " +
                                 m->errstr());
      case RdKafka::ERR__TRANSPORT:
      case RdKafka::ERR__ALL_BROKERS_DOWN:
      case RdKafka::ERR__RESOLVE:
        // librdkafka reconnects by itself; the rebuild gives up if no record
        // comes for long (see rebuild.cc).
        note_problem(m->errstr());
        if (taken > 0 || waited) return;
        timeout_ms = static_cast<int>(wait.count());
        waited = true;
        continue;
      default:
        throw std::runtime_error("reading " + describe() + " failed: " + m->errstr());
    }
  }
}

void KafkaReader::wake_fetcher() {
  auto now = Clock::now();
  if (now < next_wake_) return;
  for (int32_t p : reading_) {
    int64_t low = -1, high = -1;
    if (consumer_->get_watermark_offsets(topic_, p, &low, &high) != RdKafka::ERR_NO_ERROR || high <= next_[p])
      continue;
    next_wake_ = now + kWakeInterval;
    consumer_->query_watermark_offsets(topic_, p, &low, &high, kWakeTimeoutMs);
    return;
  }
}

void KafkaReader::note_problem(const std::string& problem) {
  std::lock_guard lock(problem_mutex_);
  problem_ = problem;
}

std::string KafkaReader::last_problem() const {
  std::lock_guard lock(problem_mutex_);
  return problem_;
}

}  // namespace clusterlite
