// HttpApi: the REST API of one node on Pistache. Routes requests to plugins,
// appends writes to the event log and answers once this node applied them.
// It knows nothing of Kafka or SQLite beyond the interfaces it is given.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "apply/applier.h"
#include "apply/completion_hub.h"
#include "config.h"
#include "eventlog/event_log.h"
#include "http/change_stream.h"
#include "http/static_files.h"
#include "metrics.h"
#include "plugins/plugin_reload.h"
#include "plugins/registry.h"
#include "store/store.h"

namespace clusterlite {

struct NodeServices {
  const Config& config;
  Store& store;
  const PluginRegistry& registry;
  EventLog& log;
  CompletionHub& hub;
  const Applier& applier;
  Metrics& metrics;
  const StaticFiles& ui;
  std::function<PluginReloadResult()> reload_plugins;  // POST /_admin/plugins/reload
  ChangeStream* changes;  // GET /_changes; null in shared mode
};

class HttpApi {
 public:
  explicit HttpApi(NodeServices services);
  ~HttpApi();

  // Binds and starts serving on the configured address and port (0 picks a
  // free port). Throws if the address cannot be bound.
  void start();
  // The bound port.
  uint16_t port() const;
  // From now on answers every new request with 503, so no new write starts,
  // and waits up to `timeout` for the requests already taken to be answered.
  // Returns false if some were still waiting when the timeout passed.
  bool drain(std::chrono::milliseconds timeout);
  // Stops accepting and closes connections. Idempotent.
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace clusterlite
