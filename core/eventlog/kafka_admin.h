// Topic administration through librdkafka's admin C API (the C++ classes have
// none): create the event topic if it is missing and learn its partitions.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace clusterlite {

struct TopicSpec {
  std::string name;
  int partitions = 3;
  int replication_factor = 1;
  int64_t retention_ms = -1;  // the topic's retention.ms; -1: unlimited
  int min_insync_replicas = 1;
};

// Creates `spec.name` with retention.ms = `spec.retention_ms`,
// min.insync.replicas and unclean.leader.election.enable=false unless it
// already exists (TOPIC_ALREADY_EXISTS counts as success), then waits until
// the broker reports every partition with a leader. Returns the topic's
// partition count, which is the existing one when the topic was there before;
// an existing topic with fewer replicas than `spec` asks for is logged as a
// warning.
// Throws std::runtime_error with a one-line reason when the broker does not
// answer within `timeout` or refuses the topic.
int ensure_topic(rd_kafka_t* handle, const TopicSpec& spec, std::chrono::milliseconds timeout);

// The topic's partition count as the cluster's metadata says now, or 0 when
// the broker does not answer within `timeout_ms`.
int current_partition_count(rd_kafka_t* handle, const std::string& topic, int timeout_ms);

}  // namespace clusterlite
