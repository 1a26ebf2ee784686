// What the admin command-line tools share (clusterlite-delete-topics in
// bench/tools, clusterlite-delete-records and clusterlite-add-partitions
// here): a librdkafka client of the brokers, the request's options, and the
// wait for its answer, each printing why it failed on stderr.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstddef>
#include <cstdio>

namespace admin_tool {

// A client of `brokers`, or null after printing why.
inline rd_kafka_t* client(const char* brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "%s\n", err);
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) std::fprintf(stderr, "%s\n", err);
  return rk;
}

// Options of an `op` request whose broker side gets `timeout_ms`.
inline rd_kafka_AdminOptions_t* options(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms) {
  char err[512];
  rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, err, sizeof err);
  return o;
}

// The answer on `queue` within `wait_ms`, or null after printing why (no
// answer, or an error of the whole request).
inline rd_kafka_event_t* answer(rd_kafka_queue_t* queue, const char* brokers, int wait_ms) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, wait_ms);
  if (!ev) {
    std::fprintf(stderr, "no answer from %s within %d s\n", brokers, wait_ms / 1000);
    return nullptr;
  }
  if (rd_kafka_event_error(ev)) {
    std::fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    return nullptr;
  }
  return ev;
}

// Prints the error of each topic result but `ignored`; how many it printed.
inline int topic_errors(const rd_kafka_topic_result_t** results, size_t count,
                        rd_kafka_resp_err_t ignored = RD_KAFKA_RESP_ERR_NO_ERROR) {
  int errors = 0;
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == ignored) continue;
    const char* message = rd_kafka_topic_result_error_string(results[i]);
    std::fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(results[i]),
                 message && *message ? message : rd_kafka_err2str(e));
    ++errors;
  }
  return errors;
}

}  // namespace admin_tool
