#include "node.h"

#include "eventlog/embedded_log.h"
#include "eventlog/kafka_log.h"
#include "log.h"
#include "snapshot/bootstrap.h"
#include "snapshot/snapshot_file.h"

#include <map>
#include <stdexcept>
#include <string>

namespace clusterlite {

namespace {

// What the applier tells after each commit goes to the completion hub (the
// writes waiting for their answer) and to the change stream.
class NodeListener : public ApplyListener {
 public:
  NodeListener(CompletionHub& hub, ChangeStream* changes) : hub_(hub), changes_(changes) {}
  void on_applied(std::vector<AppliedEvent> batch, const std::map<int32_t, int64_t>& next_offsets) override {
    if (changes_) changes_->publish(batch);
    hub_.on_applied(std::move(batch), next_offsets);
  }
  bool awaits(const std::string& event_id) const override { return hub_.awaits(event_id); }
  bool wants_changes() const override { return changes_ != nullptr; }

 private:
  CompletionHub& hub_;
  ChangeStream* changes_;
};

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
  if (config_.mode != Mode::kShared) {
    db_lock_ = std::make_unique<DatabaseLock>(config_.database.path);
    remove_stale_snapshot_files(config_.database.path);
  }
  open_store();
}

void Node::open_store() {
  store_ = std::make_unique<Store>(config_.database.path, config_.database.busy_timeout_ms,
                                   config_.database.read_connections, config_.database.cache_mb,
                                   /*sole_writer=*/config_.mode != Mode::kShared, config_.database.mmap_mb);
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

void Node::bootstrap_if_needed() {
  auto* kafka = dynamic_cast<KafkaLog*>(log_.get());
  if (!kafka || config_.mode != Mode::kReplica || config_.bootstrap.peers.empty()) return;
  const std::string& topic = config_.kafka.topic;
  std::map<int32_t, int64_t> stored;
  {
    SQLite::Statement q(store_->writer(), "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?");
    q.bind(1, topic);
    while (q.executeStep()) stored[q.getColumn(0).getInt()] = q.getColumn(1).getInt64();
  }
  SnapshotRequirements wanted;
  wanted.topic = topic;
  for (auto& p : registry_.current()->plugins()) wanted.tables[p.table_name] = p.version;
  std::string missing;  // the events this node needs that the log no longer holds
  wanted.log_bounds = [kafka] {
    std::map<int32_t, std::pair<int64_t, int64_t>> out;
    for (auto [p, b] : kafka->bounds()) out[p] = {b.first, b.end};
    return out;
  };
  for (auto [p, b] : kafka->bounds()) {
    int64_t next = stored.count(p) ? stored[p] : 0;
    if (next < b.first)
      missing += (missing.empty() ? "" : "; ") + std::string("partition ") + std::to_string(p) + " needs offset " +
                 std::to_string(next) + " but the log starts at " + std::to_string(b.first);
  }
  std::string reason;
  if (stored.empty())
    reason = "empty database";
  else if (config_.bootstrap.when_behind && !missing.empty())
    reason = "behind the log";
  else
    return;  // a behind database without when_behind: check_positions() says what to do
  const std::string state = stored.empty() ? "empty" : "behind the log (" + missing + ")";
  log::info("bootstrap", "this node's database is " + state + "; taking a snapshot from a peer");
  std::vector<std::string> refusals;
  auto fetched = fetch_snapshot(config_.bootstrap, config_.database.path, wanted, refusals);
  std::string answers;
  for (auto& r : refusals) answers += (answers.empty() ? "" : "; ") + r;
  if (!fetched) {
    if (stored.empty() && missing.empty()) {
      log::warn("bootstrap", "no peer gave a usable snapshot (" + answers +
                                 "); the log still starts at offset 0, so this node replays it from there");
      return;
    }
    throw std::runtime_error("cannot bootstrap: the log of topic '" + topic + "' no longer holds the events this " +
                             "node needs (" + missing + ") and no peer of bootstrap.peers gave a usable snapshot (" +
                             answers + ")");
  }
  store_.reset();
  install_snapshot(*fetched, config_.database.path, reason);
  open_store();
}

void Node::start() {
  check_database_log();
  log_ = make_event_log(config_);
  bootstrap_if_needed();
  if (auto* kafka = dynamic_cast<KafkaLog*>(log_.get()); kafka && config_.bootstrap.when_behind && fell_behind_)
    kafka->on_fell_behind(fell_behind_);
  hub_ = std::make_unique<CompletionHub>();
  // In shared mode a node applies only some partitions: its changes are not
  // the table's, so it serves no change stream.
  if (config_.mode != Mode::kShared)
    changes_ = std::make_unique<ChangeStream>(
        log_->topic(), ChangeStreamLimits{static_cast<size_t>(config_.changes.buffer_events),
                                          static_cast<size_t>(config_.changes.max_subscribers),
                                          static_cast<size_t>(config_.changes.max_backlog_bytes),
                                          std::chrono::milliseconds(config_.changes.heartbeat_ms)});
  listener_ = std::make_unique<NodeListener>(*hub_, changes_.get());
  // In replica mode no partition is ever taken away, so the next batch can be
  // read and decoded while one is applied.
  applier_ = std::make_unique<Applier>(*store_, registry_, *log_, config_.applier.max_batch, listener_.get(),
                                        &metrics_, /*read_ahead=*/config_.mode == Mode::kReplica);
  log_->keep_keys_where_they_are([applier = applier_.get()](const std::string& table) {
    return applier->partition_of(table);
  });
  applier_->start();
  if (changes_) {
    changes_->seed(applier_->applied());
    changes_->start();
  }
  reloader_ = std::make_unique<PluginReloader>(config_, registry_, *applier_);
  hub_->set_applied(applier_->applied());
  if (config_.mode == Mode::kShared)
    shared_progress_ = std::make_unique<SharedProgressWatcher>(config_.database.path, config_.database.busy_timeout_ms,
                                                               log_->topic(), *hub_);
  http_ = std::make_unique<HttpApi>(NodeServices{config_, *store_, registry_, *log_, *hub_, *applier_, metrics_, ui_,
                                                 [this] { return reloader_->reload(); }, changes_.get()});
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
  // Change streams never end by themselves: they end first.
  if (changes_) changes_->stop();
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
