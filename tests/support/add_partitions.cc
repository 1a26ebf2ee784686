// clusterlite-add-partitions: raises a topic's partition count, as an
// operator's `kafka-topics.sh --alter --partitions N` would, through
// librdkafka's admin API (CreatePartitions). The partitions-added tests use it.
// Usage:
//   clusterlite-add-partitions <bootstrap servers> <topic> <total partitions>
// Exit status 0 once the topic has that many partitions, 1 when the broker
// refused or did not answer, 2 on bad arguments.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  char* end = nullptr;
  long total = argc == 4 ? std::strtol(argv[3], &end, 10) : 0;
  if (argc != 4 || *end != '\0' || total < 1 || total > 100000) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic> <total partitions, 1..100000>\n", argv[0]);
    return 2;
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "%s\n", err);
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "%s\n", err);
    return 2;
  }
  rd_kafka_NewPartitions_t* change = rd_kafka_NewPartitions_new(argv[2], static_cast<size_t>(total), err, sizeof err);
  if (!change) {
    std::fprintf(stderr, "%s\n", err);
    rd_kafka_destroy(rk);
    return 2;
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
  rd_kafka_AdminOptions_set_request_timeout(options, 20000, err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(options, 20000, err, sizeof err);
  rd_kafka_CreatePartitions(rk, &change, 1, options, queue);

  int status = 0;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 30000);
  if (!ev) {
    std::fprintf(stderr, "no answer from %s within 30 s\n", argv[1]);
    status = 1;
  } else if (rd_kafka_event_error(ev)) {
    std::fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
    status = 1;
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &count);
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      const char* message = rd_kafka_topic_result_error_string(results[i]);
      std::fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(results[i]),
                   message && *message ? message : rd_kafka_err2str(e));
      status = 1;
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewPartitions_destroy(change);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  if (status == 0) std::printf("topic %s now has %ld partitions\n", argv[2], total);
  return status;
}
