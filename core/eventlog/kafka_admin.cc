#include "eventlog/kafka_admin.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <thread>

#include "log.h"

namespace clusterlite {
namespace {

using Clock = std::chrono::steady_clock;

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, Deleter<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>>;
using OptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, Deleter<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_t, rd_kafka_queue_destroy>>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_t, rd_kafka_event_destroy>>;

void destroy_metadata(const rd_kafka_metadata_t* md) { rd_kafka_metadata_destroy(md); }
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, decltype(&destroy_metadata)>;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

[[noreturn]] void fail(const TopicSpec& spec, const std::string& why) {
  throw std::runtime_error("cannot create Kafka topic " + spec.name + ": " + why);
}

// Sends CreateTopics; returns normally when the topic exists afterwards.
void create_topic(rd_kafka_t* handle, const TopicSpec& spec, Clock::time_point deadline) {
  char errstr[512];
  NewTopicPtr topic(
      rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, spec.replication_factor, errstr, sizeof errstr));
  if (!topic) fail(spec, errstr);
  // The settings the log's guarantees rest on (docs/operations.md): the log
  // is trimmed only as kafka.retention_ms says (unlimited by default: nodes
  // that fall behind it need a peer's snapshot); an event is acknowledged
  // (acks=all) once min.insync.replicas replicas hold it; and a replica that
  // missed acknowledged events never becomes leader.
  const std::string retention = std::to_string(spec.retention_ms);
  const std::string min_isr = std::to_string(spec.min_insync_replicas);
  for (auto [key, value] : {std::pair<const char*, const char*>{"retention.ms", retention.c_str()},
                            {"min.insync.replicas", min_isr.c_str()},
                            {"unclean.leader.election.enable", "false"}})
    if (rd_kafka_NewTopic_set_config(topic.get(), key, value)) fail(spec, std::string("cannot set ") + key);

  OptionsPtr options(rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  int timeout = remaining_ms(deadline);
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout, errstr, sizeof errstr) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout, errstr, sizeof errstr))
    fail(spec, errstr);

  QueuePtr queue(rd_kafka_queue_new(handle));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(handle, topics, 1, options.get(), queue.get());
  // The admin request times out by itself; the extra second only covers the
  // hand-over of its result.
  EventPtr event(rd_kafka_queue_poll(queue.get(), timeout + 1000));
  if (!event) fail(spec, "no answer from the broker within " + std::to_string(timeout) + " ms");
  if (rd_kafka_event_error(event.get()))
    fail(spec, rd_kafka_event_error_string(event.get()));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (!result) fail(spec, "unexpected admin result");
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      log::info("kafka", "created topic " + spec.name + " with " + std::to_string(spec.partitions) +
                             " partitions, replication factor " + std::to_string(spec.replication_factor) +
                             ", min.insync.replicas " + std::to_string(spec.min_insync_replicas));
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      fail(spec, msg && *msg ? msg : rd_kafka_err2str(err));
    }
  }
}

struct TopicShape {
  int partitions = 0;      // 0: unknown, or some partition has no leader yet
  int fewest_replicas = 0;  // the smallest replica count of any partition
};

// The topic's partitions once every one has a leader, and their replicas.
TopicShape topic_shape(rd_kafka_t* handle, const std::string& name, int timeout_ms, bool need_leaders) {
  std::unique_ptr<rd_kafka_topic_t, Deleter<rd_kafka_topic_t, rd_kafka_topic_destroy>> topic(
      rd_kafka_topic_new(handle, name.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(handle, 0, topic.get(), &raw, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  MetadataPtr md(raw, &destroy_metadata);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (name != t.topic || t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt == 0) continue;
    TopicShape shape{t.partition_cnt, t.partitions[0].replica_cnt};
    for (int p = 0; p < t.partition_cnt; ++p) {
      if (need_leaders && t.partitions[p].leader < 0) return {};
      shape.fewest_replicas = std::min(shape.fewest_replicas, t.partitions[p].replica_cnt);
    }
    return shape;
  }
  return {};
}

}  // namespace

int ensure_topic(rd_kafka_t* handle, const TopicSpec& spec, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  create_topic(handle, spec, deadline);
  for (;;) {
    int timeout_ms = std::max(remaining_ms(deadline), 100);
    if (TopicShape shape = topic_shape(handle, spec.name, timeout_ms, true); shape.partitions > 0) {
      int n = shape.partitions;
      if (n != spec.partitions)
        log::warn("kafka", "topic " + spec.name + " has " + std::to_string(n) + " partitions (configured " +
                               std::to_string(spec.partitions) + "); using " + std::to_string(n));
      if (shape.fewest_replicas < spec.replication_factor)
        log::warn("kafka", "topic " + spec.name + " has partitions with " + std::to_string(shape.fewest_replicas) +
                               " replica(s) (configured kafka.replication_factor " +
                               std::to_string(spec.replication_factor) +
                               "); the node does not change an existing topic: raise it with Kafka's tools "
                               "(docs/operations.md)");
      return n;
    }
    if (Clock::now() >= deadline) fail(spec, "the topic's partitions have no leader yet");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int current_partition_count(rd_kafka_t* handle, const std::string& topic, int timeout_ms) {
  return topic_shape(handle, topic, timeout_ms, false).partitions;
}

}  // namespace clusterlite
