// KafkaReader: reads the node's Kafka topic for a rebuild with a consumer of
// its own. It assign()s the partitions it reads at offset 0 (no consumer
// group joins, no offset is ever committed), never creates the topic and
// produces nothing, so it changes nothing the nodes see.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "rebuild/log_reader.h"

namespace clusterlite {

class KafkaReader : public LogReader {
 public:
  // Connects to config.kafka.brokers (with kafka.properties), finds the topic
  // and reads each partition's range. Throws std::runtime_error when the topic
  // does not exist or the broker does not answer within kafka.request_timeout_ms.
  explicit KafkaReader(const Config& config);
  ~KafkaReader() override;

  const std::string& topic() const override { return topic_; }
  std::string describe() const override { return "topic '" + topic_ + "' on " + brokers_; }
  const std::map<int32_t, PartitionRange>& ranges() const override { return ranges_; }
  void start(const std::map<int32_t, int64_t>& stops) override;
  void read(std::vector<LogRecord>& out, size_t max, std::chrono::milliseconds wait) override;
  void stop_partition(int32_t partition) override;
  bool done() const override { return reading_.empty(); }
  std::string last_problem() const override;

 private:
  class Events;
  // The partition is read to its stop (or stopped): no more fetches for it.
  void finish(int32_t partition);
  // See KafkaLog::wake_fetcher(): librdkafka 2.0.2 stops fetching a partition
  // while its local queue is full and looks again up to a second later; a
  // request to the partition's broker makes it look at once.
  void wake_fetcher();
  void note_problem(const std::string& problem);

  const std::string topic_;
  const std::string brokers_;
  const int request_timeout_ms_;
  std::unique_ptr<Events> events_;  // outlives consumer_
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<int32_t, PartitionRange> ranges_;
  std::map<int32_t, int64_t> stops_;  // every partition read
  std::map<int32_t, int64_t> next_;   // the offset after the last record taken, per partition read
  std::set<int32_t> reading_;         // partitions not yet read to their stop
  std::chrono::steady_clock::time_point next_wake_;
  mutable std::mutex problem_mutex_;
  std::string problem_;  // guarded by problem_mutex_
};

}  // namespace clusterlite
