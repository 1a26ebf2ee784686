// Loads entity plugins (.so files) and checks each before it serves a table.
#pragma once

#include <clusterlite/plugin.h>

#include <memory>
#include <optional>
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
  std::string table_name;  // what table->table_name() said when it was loaded
  int abi = 0;             // the ABI it was built for (1, 2 or 3)
  int version = 0;         // the table's version (the plugin's unless it says otherwise); 0 for ABI 1
  std::string sha256;      // of the file's bytes, as loaded
  std::string schema;         // the entity's JSON Schema (entity_schema()), "" when not described
  std::string schema_sha256;  // the first 16 hex digits of its SHA-256; "" without a schema
  QueryFields fields;          // what GET /{table} may filter, search and sort by (ABI 3; none before)
  bool history = false;       // the table keeps each entity's history (plugins.configure.<name>.history)
  // Deleting the last reference unloads the library after the object is gone.
  std::shared_ptr<TableOperations> table;
};

// Checks that `path` names a shared object this node can load: a regular
// file (or a symbolic link to one) holding an ELF shared object of this
// node's class and machine. Returns its bytes; throws PluginError naming the
// file and what is wrong (a directory, a dangling link, another architecture...).
std::string read_plugin_file(const std::string& path);

// Loads one plugin file: reads and checks it (read_plugin_file), loads those
// very bytes (from a private in-memory copy, so a file replaced or rewritten
// later never changes a loaded plugin), checks the ABI and the metadata the
// header exports (ABI version, plugin version, std::string ABI), calls the
// factory with `settings`, and checks each table's name, version and schema.
// One LoadedPlugin per table the file serves (CLUSTERLITE_PLUGIN_TABLES can
// serve several). Throws PluginError.
std::vector<LoadedPlugin> load_plugin_file(const std::string& path, const rapidjson::Value& settings,
                                           const std::string& node_id);
// The same for a file that serves exactly one table.
LoadedPlugin load_plugin(const std::string& path, const rapidjson::Value& settings, const std::string& node_id);

// The plugin files the config asks for, in load order: every .so in
// plugins.directory (sorted), or those named by plugins.load.
std::vector<std::string> plugin_names(const Config::Plugins& config);

// Loads the plugins the config asks for: every .so in plugins.directory, or
// only those in plugins.load; skips disabled ones, and optional ones whose
// file is missing. Any other failure throws PluginError, also for an optional
// plugin: a file that is there but cannot be loaded, or a plugin that refuses
// its settings, is never skipped. Duplicate table names throw too. A plugin
// of `keep` whose file still has the same bytes is taken over as it is
// instead of being loaded again.
std::vector<LoadedPlugin> load_plugins(const Config::Plugins& config, const std::string& node_id,
                                       const std::vector<LoadedPlugin>& keep = {});

}  // namespace clusterlite
