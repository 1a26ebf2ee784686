// PluginRegistry: table name -> the plugin that serves it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plugins/plugin_loader.h"

namespace clusterlite {

class PluginRegistry {
 public:
  PluginRegistry() = default;
  explicit PluginRegistry(std::vector<LoadedPlugin> plugins);

  // Adds a plugin; throws PluginError when its table is already served.
  void add(LoadedPlugin plugin);

  // The plugin serving `table`, or nullptr.
  TableOperations* find(std::string_view table) const;

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  std::vector<std::string> tables() const;

 private:
  std::vector<LoadedPlugin> plugins_;
  std::map<std::string, TableOperations*, std::less<>> by_table_;
};

}  // namespace clusterlite
