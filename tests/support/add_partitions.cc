// clusterlite-add-partitions: raises a topic's partition count, as an
// operator's `kafka-topics.sh --alter --partitions N` would, through
// librdkafka's admin API (CreatePartitions). The partitions-added tests use it.
// Usage:
//   clusterlite-add-partitions <bootstrap servers> <topic> <total partitions>
// Exit status 0 once the topic has that many partitions, 1 when the broker
// refused or did not answer, 2 on bad arguments.
#include <cstdio>
#include <cstdlib>

#include "admin_tool.h"

int main(int argc, char** argv) {
  char* end = nullptr;
  long total = argc == 4 ? std::strtol(argv[3], &end, 10) : 0;
  if (argc != 4 || *end != '\0' || total < 1 || total > 100000) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic> <total partitions, 1..100000>\n", argv[0]);
    return 2;
  }
  rd_kafka_t* rk = admin_tool::client(argv[1]);
  if (!rk) return 2;
  char err[512];
  rd_kafka_NewPartitions_t* change = rd_kafka_NewPartitions_new(argv[2], static_cast<size_t>(total), err, sizeof err);
  if (!change) {
    std::fprintf(stderr, "%s\n", err);
    rd_kafka_destroy(rk);
    return 2;
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = admin_tool::options(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, 20000);
  rd_kafka_CreatePartitions(rk, &change, 1, options, queue);

  int status = 1;
  if (rd_kafka_event_t* ev = admin_tool::answer(queue, argv[1], 30000)) {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &count);
    status = admin_tool::topic_errors(results, count) ? 1 : 0;
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewPartitions_destroy(change);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  if (status == 0) std::printf("topic %s now has %ld partitions\n", argv[2], total);
  return status;
}
