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
};

// Creates `spec.name` with retention.ms = `spec.retention_ms` unless it
// already exists (TOPIC_ALREADY_EXISTS counts as success), then waits until
// the broker reports every partition with a leader. Returns the topic's
// partition count, which is the existing one when the topic was there before.
// Throws std::runtime_error with a one-line reason when the broker does not
// answer within `timeout` or refuses the topic.
int ensure_topic(rd_kafka_t* handle, const TopicSpec& spec, std::chrono::milliseconds timeout);

}  // namespace clusterlite
