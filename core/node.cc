#include "node.h"

#include "eventlog/embedded_log.h"
#include "eventlog/kafka_log.h"
#include "log.h"

#include <stdexcept>
#include <string>

namespace clusterlite {

namespace {

// How an error message names a log.
std::string log_name(const std::string& topic) {
  return topic == EmbeddedLog::kTopic ? "the embedded log of standalone mode" : "topic '" + topic + "'";
}

}  // namespace

std::unique_ptr<EventLog> make_event_log(const Config& config) {
  if (config.mode == Mode::kStandalone)
    return std::make_unique<EmbeddedLog>(config.database.path, config.database.busy_timeout_ms);
  return std::make_unique<KafkaLog>(config);
}

Node::Node(Config config) : config_(std::move(config)), ui_(config_.http.ui_directory) {
  // Plugins first: a node that cannot serve its tables leaves no database behind.
  registry_.replace(std::make_shared<const PluginSet>(load_plugins(config_.plugins, config_.node_id)));
  // Shared mode is several nodes on one file by design (Kafka's group splits
  // the partitions among them); any other database belongs to one node.
  if (config_.mode != Mode::kShared) db_lock_ = std::make_unique<DatabaseLock>(config_.database.path);
  store_ = std::make_unique<Store>(config_.database.path, config_.database.busy_timeout_ms,
                                   config_.database.read_connections, config_.database.cache_mb,
                                   /*sole_writer=*/config_.mode != Mode::kShared);
}

Node::~Node() { stop(); }

void Node::check_database_log() {
  const bool standalone = config_.mode == Mode::kStandalone;
  const std::string topic = standalone ? EmbeddedLog::kTopic : config_.kafka.topic;
  SQLite::Statement q(store_->writer(), "SELECT DISTINCT topic FROM _cl_offsets ORDER BY topic");
  std::string held;
  while (q.executeStep()) {
    std::string t = q.getColumn(0).getString();
    if (t == topic) return;
    held += (held.empty() ? "" : ", ") + log_name(t);
  }
  if (held.empty()) return;
  const std::string wanted = log_name(topic);
  throw std::runtime_error("the database does not match the event log: it was built from " + held +
                           ", and this node is configured for " + wanted + " (" +
                           (standalone ? "mode" : "kafka.topic") +
                           "). Point the node back at the log its database came from, or start it with an empty "
                           "database to build one from " + wanted);
}

void Node::start() {
  check_database_log();
  log_ = make_event_log(config_);
  hub_ = std::make_unique<CompletionHub>();
  // In replica mode no partition is ever taken away, so the next batch can be
  // read and decoded while one is applied.
  applier_ = std::make_unique<Applier>(*store_, registry_, *log_, config_.applier.max_batch, hub_.get(),
                                        &metrics_, /*read_ahead=*/config_.mode == Mode::kReplica);
  log_->keep_keys_where_they_are([applier = applier_.get()](const std::string& table) {
    return applier->partition_of(table);
  });
  applier_->start();
  reloader_ = std::make_unique<PluginReloader>(config_, registry_, *applier_);
  hub_->set_applied(applier_->applied());
  if (config_.mode == Mode::kShared)
    shared_progress_ = std::make_unique<SharedProgressWatcher>(config_.database.path, config_.database.busy_timeout_ms,
                                                               log_->topic(), *hub_);
  http_ = std::make_unique<HttpApi>(NodeServices{config_, *store_, registry_, *log_, *hub_, *applier_, metrics_, ui_,
                                                 [this] { return reloader_->reload(); }});
  http_->start();
  log::info("node", "node " + config_.node_id + " serving on " + config_.http.address + ":" +
                        std::to_string(http_->port()) + " (" + to_string(config_.mode) + " mode, database " +
                        config_.database.path + ")");
}

void Node::stop() {
  if (stopped_) return;
  stopped_ = true;
  // New requests are refused first, so nothing new is appended; requests
  // already taken finish (a write waits for its apply, bounded by the write
  // timeout plus the broker timeout) and are answered; then the listener
  // closes, the applier commits its batch and the log flushes and closes.
  if (http_ &&
      !http_->drain(std::chrono::milliseconds(config_.http.write_timeout_ms + config_.kafka.request_timeout_ms)))
    log::warn("node", "stopping with requests still unanswered");
  if (http_) http_->stop();
  if (applier_) applier_->stop();
  if (shared_progress_) shared_progress_->stop();
  if (hub_) hub_->shutdown();
  if (log_) log_->close();
  log::info("node", "node " + config_.node_id + " stopped");
}

}  // namespace clusterlite
