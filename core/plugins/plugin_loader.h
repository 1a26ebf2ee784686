// Loads entity plugins (.so files) and checks each before it serves a table.
#pragma once

#include <clusterlite/plugin.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config.h"

namespace clusterlite {

// A plugin that cannot be loaded. what() is one line naming the file and the reason.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedPlugin {
  std::string name;  // file name without ".so"
  std::string path;
  // Deleting the last reference unloads the library after the object is gone.
  std::shared_ptr<TableOperations> table;
};

// Loads one plugin file: opens it with RTLD_NOW, checks the ABI version,
// imports the factory, calls it with `settings`, and checks the table name.
// Throws PluginError.
LoadedPlugin load_plugin(const std::string& path, const rapidjson::Value& settings, const std::string& node_id);

// Loads the plugins the config asks for: every .so in plugins.directory, or
// only those in plugins.load; skips disabled ones. A failing plugin marked
// optional is skipped with a warning; any other failure throws PluginError.
// Duplicate table names throw too.
std::vector<LoadedPlugin> load_plugins(const Config::Plugins& config, const std::string& node_id);

}  // namespace clusterlite
