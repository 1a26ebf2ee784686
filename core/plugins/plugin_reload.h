// Live plugin loading: POST /_admin/plugins/reload and SIGHUP.
//
// A reload loads the plugin files the config names again (a file whose bytes
// did not change keeps its loaded plugin), and hands the new set to the
// applier, which prepares new tables and puts the set in force between two
// batches. Requests in flight finish on the plugin they began with; a
// replaced plugin's library is unloaded once its last object is gone. A
// reload that fails at any step changes nothing. A plugin whose file is gone
// is dropped: its table turns pending (its rows stay; later events are held).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "apply/applier.h"
#include "config.h"
#include "plugins/registry.h"

namespace clusterlite {

struct PluginReloadResult {
  bool ok = false;
  std::string error;  // one line, when !ok
  struct Change {
    std::string table;
    std::string plugin;  // file name without ".so"
    int version = 0;
    std::string sha256;
    std::string change;  // "loaded", "replaced", "unchanged" or "removed"
  };
  std::vector<Change> changes;
  // As JSON: {"reloaded": true, "plugins": [...]} or the error's problem detail.
  std::string json() const;
};

class PluginReloader {
 public:
  PluginReloader(const Config& config, PluginRegistry& registry, Applier& applier)
      : config_(config), registry_(registry), applier_(applier) {}

  // One reload at a time; a second caller waits for the first to finish.
  PluginReloadResult reload(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  const Config& config_;
  PluginRegistry& registry_;
  Applier& applier_;
  std::mutex mutex_;
};

}  // namespace clusterlite
