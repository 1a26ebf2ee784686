// clusterlite-delete-records: deletes the records of every partition of a
// topic up to its current end, with Kafka's DeleteRecords (librdkafka's admin
// API), as retention would once it passed them. The snapshot tests trim the
// log past a stopped node's offsets with it. Usage:
//   clusterlite-delete-records <bootstrap servers> <topic>
// Prints "partition P: log starts at O" for each partition; exit status 0
// when every partition was trimmed, 1 otherwise, 2 on bad arguments.
#include <cstdio>

#include "admin_tool.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <bootstrap servers> <topic>\n", argv[0]);
    return 2;
  }
  rd_kafka_t* rk = admin_tool::client(argv[1]);
  if (!rk) return 2;
  int status = 0;
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, argv[2], nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, topic, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err) {
    std::fprintf(stderr, "no metadata for topic %s: %s\n", argv[2],
                 rd_kafka_err2str(e ? e : md && md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__FAIL));
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(rk);
    return 1;
  }
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
  for (int i = 0; i < md->topics[0].partition_cnt; ++i)
    rd_kafka_topic_partition_list_add(offsets, argv[2], md->topics[0].partitions[i].id)->offset =
        RD_KAFKA_OFFSET_END;  // everything before the partition's end
  rd_kafka_metadata_destroy(md);
  rd_kafka_DeleteRecords_t* request = rd_kafka_DeleteRecords_new(offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = admin_tool::options(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS, 15000);
  rd_kafka_DeleteRecords(rk, &request, 1, options, queue);
  rd_kafka_event_t* ev = admin_tool::answer(queue, argv[1], 20000);
  if (!ev) {
    status = 1;
  } else {
    const rd_kafka_topic_partition_list_t* result =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    for (int i = 0; result && i < result->cnt; ++i) {
      const rd_kafka_topic_partition_t& p = result->elems[i];
      if (p.err) {
        std::fprintf(stderr, "partition %d: %s\n", p.partition, rd_kafka_err2str(p.err));
        status = 1;
      } else {
        std::printf("partition %d: log starts at %lld\n", p.partition, static_cast<long long>(p.offset));
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteRecords_destroy(request);
  rd_kafka_queue_destroy(queue);
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(rk);
  return status;
}
