// PluginRegistry: table name -> the plugin that serves it.
//
// The plugins a node serves with form one immutable PluginSet; a reload
// (POST /_admin/plugins/reload, SIGHUP) builds a new set and replaces the
// whole of it at once. A request takes the current set when it starts and
// keeps it until it is answered, so it finishes on the plugin it began with;
// a replaced plugin's library stays loaded until its last user lets go.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugins/plugin_loader.h"

namespace clusterlite {

class PluginSet {
 public:
  PluginSet() = default;
  // Throws PluginError naming the file when two plugins serve one table.
  explicit PluginSet(std::vector<LoadedPlugin> plugins);

  // The plugin serving `table`, or nullptr.
  const LoadedPlugin* find(std::string_view table) const;
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  std::vector<std::string> tables() const;

 private:
  std::vector<LoadedPlugin> plugins_;
  std::map<std::string, size_t, std::less<>> by_table_;  // index into plugins_
};

class PluginRegistry {
 public:
  PluginRegistry() : current_(std::make_shared<const PluginSet>()) {}
  explicit PluginRegistry(std::vector<LoadedPlugin> plugins)
      : current_(std::make_shared<const PluginSet>(std::move(plugins))) {}
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // The set in force now; hold it for as long as a plugin of it is used.
  std::shared_ptr<const PluginSet> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // Puts `next` in force; users of the previous set keep theirs.
  void replace(std::shared_ptr<const PluginSet> next) {
    std::lock_guard lock(mutex_);
    current_.swap(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const PluginSet> current_;  // guarded by mutex_
};

}  // namespace clusterlite
