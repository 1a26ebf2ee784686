// clusterlite-delete-topics: deletes the named topics from a Kafka cluster.
// bench/run removes the topics of a run with it when the run ends, so repeated
// runs do not fill the local broker's disk. Usage:
//   clusterlite-delete-topics <bootstrap servers> <topic>...
// Exit status 0 when every topic was deleted or did not exist, 1 otherwise.
#include <cstdio>
#include <vector>

#include "admin_tool.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic>...\n", argv[0]);
    return 2;
  }
  rd_kafka_t* rk = admin_tool::client(argv[1]);
  if (!rk) return 2;
  std::vector<rd_kafka_DeleteTopic_t*> topics;
  for (int i = 2; i < argc; ++i) topics.push_back(rd_kafka_DeleteTopic_new(argv[i]));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = admin_tool::options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, 15000);
  rd_kafka_DeleteTopics(rk, topics.data(), topics.size(), options, queue);

  int status = 1;
  if (rd_kafka_event_t* ev = admin_tool::answer(queue, argv[1], 20000)) {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &count);
    // A topic that is not there is as good as deleted.
    status = admin_tool::topic_errors(results, count, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) ? 1 : 0;
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteTopic_destroy_array(topics.data(), topics.size());
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return status;
}
