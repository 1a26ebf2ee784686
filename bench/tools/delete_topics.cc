// clusterlite-delete-topics: deletes the named topics from a Kafka cluster.
// bench/run removes the topics of a run with it when the run ends, so repeated
// runs do not fill the local broker's disk. Usage:
//   clusterlite-delete-topics <bootstrap servers> <topic>...
// Exit status 0 when every topic was deleted or did not exist, 1 otherwise.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <memory>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic>...\n", argv[0]);
    return 2;
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "%s\n", err);
    return 2;
  }
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "%s\n", err);
    return 2;
  }
  std::vector<rd_kafka_DeleteTopic_t*> topics;
  for (int i = 2; i < argc; ++i) topics.push_back(rd_kafka_DeleteTopic_new(argv[i]));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, 15000, err, sizeof err);
  rd_kafka_DeleteTopics(rk, topics.data(), topics.size(), options, queue);

  int status = 0;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 20000);
  if (!ev) {
    std::fprintf(stderr, "no answer from %s within 20 s\n", argv[1]);
    status = 1;
  } else if (rd_kafka_event_error(ev)) {
    std::fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
    status = 1;
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &count);
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
      std::fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(results[i]), rd_kafka_err2str(e));
      status = 1;
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteTopic_destroy_array(topics.data(), topics.size());
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return status;
}
