// Node: one ClusterLite process. Wires the config, the store, the plugins,
// the event log, the applier and the HTTP API together, and owns their
// start-up and shutdown order.
#pragma once

#include <functional>
#include <memory>

#include "apply/applier.h"
#include "apply/completion_hub.h"
#include "apply/shared_progress.h"
#include "config.h"
#include "eventlog/event_log.h"
#include "http/http_api.h"
#include "http/static_files.h"
#include "metrics.h"
#include "plugins/plugin_reload.h"
#include "plugins/registry.h"
#include "store/store.h"

namespace clusterlite {

class Node {
 public:
  // Opens the database and loads the plugins. Throws PluginError, ConfigError
  // or std::runtime_error with a one-line reason.
  explicit Node(Config config);
  ~Node();

  // Connects the event log, creates plugin tables, starts applying and
  // serving HTTP. Throws if any part cannot start.
  void start();

  // Stops accepting requests, answers those in flight, commits what was
  // applied and closes the log. Idempotent.
  void stop();

  // Loads new and changed plugins without a restart (also what
  // POST /_admin/plugins/reload and SIGHUP do). Call after start().
  PluginReloadResult reload_plugins() { return reloader_->reload(); }

  // With bootstrap.when_behind: `restart` is called (once, on the applier
  // thread) when the log no longer holds the next events this node needs
  // while it runs. The host then stops this node and starts a new one from
  // the same config, which takes a peer's snapshot at start-up. Call before
  // start(); `restart` must not wait for the node.
  void on_fell_behind(std::function<void()> restart) { fell_behind_ = std::move(restart); }

  uint16_t http_port() const { return http_->port(); }
  const Config& config() const { return config_; }

 private:
  // A database applies one log; its offsets table names the log it was built
  // from. Throws std::runtime_error when it names only other logs: a node
  // pointed at another topic would apply that topic's events over the rows of
  // the first. Runs before the log is opened, so a refused start creates no
  // topic on the broker.
  void check_database_log();

  // Replica mode with bootstrap.peers: replaces an empty database, or with
  // bootstrap.when_behind one whose next offsets are no longer in the log,
  // with a peer's snapshot (snapshot/bootstrap.h). Without a usable snapshot
  // an empty database replays the log when it still starts at offset 0;
  // otherwise throws std::runtime_error naming each partition's missing
  // events and each peer's answer.
  void bootstrap_if_needed();
  void open_store();

  Config config_;
  StaticFiles ui_;  // checked before anything is opened
  Metrics metrics_;
  std::unique_ptr<DatabaseLock> db_lock_;  // replica and standalone modes
  std::unique_ptr<Store> store_;
  PluginRegistry registry_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<CompletionHub> hub_;
  std::unique_ptr<ChangeStream> changes_;  // replica and standalone modes
  std::unique_ptr<ApplyListener> listener_;  // the hub, and the change stream when there is one
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<PluginReloader> reloader_;
  std::unique_ptr<SharedProgressWatcher> shared_progress_;  // shared mode only
  std::unique_ptr<HttpApi> http_;
  std::function<void()> fell_behind_;
  bool stopped_ = false;
};

// Creates the event log the config asks for (embedded or Kafka).
std::unique_ptr<EventLog> make_event_log(const Config& config);

}  // namespace clusterlite
