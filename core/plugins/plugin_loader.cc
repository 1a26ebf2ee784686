#include "plugins/plugin_loader.h"

#include <boost/dll/import.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "eventlog/event_codec.h"
#include "log.h"

namespace clusterlite {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw PluginError("plugin " + path + ": " + reason);
}

std::string first_line(std::string text) {
  auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  return text;
}

// The dlerror text inside Boost.DLL's load error, which wraps it as
// "...load() failed (dlerror system message: <text>): <errno text>".
std::string dlerror_text(const std::string& what) {
  static const std::string kPrefix = "(dlerror system message: ";
  auto begin = what.find(kPrefix);
  auto end = what.rfind("):");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return first_line(what);
  return first_line(what.substr(begin + kPrefix.size(), end - begin - kPrefix.size()));
}

}  // namespace

LoadedPlugin load_plugin(const std::string& path, const rapidjson::Value& settings, const std::string& node_id) {
  if (!fs::exists(path)) fail(path, "file not found");
  boost::dll::shared_library lib;
  try {
    lib.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    fail(path, "cannot load shared object: " + dlerror_text(e.what()));
  }
  if (!lib.has("clusterlite_plugin_abi_version"))
    fail(path, "missing symbol clusterlite_plugin_abi_version (not built with CLUSTERLITE_PLUGIN?)");
  int abi = lib.get<int()>("clusterlite_plugin_abi_version")();
  if (abi != CLUSTERLITE_PLUGIN_ABI_VERSION)
    fail(path, "ABI version mismatch: plugin has " + std::to_string(abi) + ", host expects " +
                   std::to_string(CLUSTERLITE_PLUGIN_ABI_VERSION) + " (rebuild the plugin against this ClusterLite)");
  if (!lib.has("clusterlite_plugin_factory")) fail(path, "missing symbol clusterlite_plugin_factory");
  PluginFactory* factory = lib.get_alias<PluginFactory>("clusterlite_plugin_factory");

  std::string name = fs::path(path).stem().string();
  PluginContext ctx{settings, node_id, [name](LogLevel level, const std::string& message) {
                      log::write(level, "plugin " + name, message);
                    }};
  std::unique_ptr<TableOperations> made;
  try {
    made = factory(ctx);
  } catch (const std::exception& e) {
    fail(path, std::string("factory threw: ") + first_line(e.what()));
  } catch (...) {
    fail(path, "factory threw a non-standard exception");
  }
  if (!made) fail(path, "factory returned no object");
  std::string table;
  try {
    table = made->table_name();
  } catch (const std::exception& e) {
    fail(path, std::string("table_name() threw: ") + first_line(e.what()));
  }
  if (!is_valid_table_name(table))
    fail(path, "invalid table name \"" + table.substr(0, 80) + "\" (must match ^[a-z][a-z0-9_]{0,62}$)");

  // The deleter owns a reference to the library, so the code of the object's
  // destructor stays mapped until the object is gone.
  std::shared_ptr<TableOperations> owned(made.release(), [lib](TableOperations* p) mutable {
    delete p;
    lib.unload();
  });
  return {name, path, std::move(owned)};
}

std::vector<LoadedPlugin> load_plugins(const Config::Plugins& config, const std::string& node_id) {
  std::vector<std::string> names;
  if (config.load) {
    names = *config.load;
  } else {
    std::error_code ec;
    for (auto& entry : fs::directory_iterator(config.directory, ec)) {
      if (entry.path().extension() == ".so") names.push_back(entry.path().stem().string());
    }
    if (ec) throw PluginError("plugins directory " + config.directory + ": " + ec.message());
    std::sort(names.begin(), names.end());
  }
  // A configured plugin that will not be loaded is most likely a typo.
  for (auto& [name, pc] : config.configure) {
    if (std::find(names.begin(), names.end(), name) == names.end() && pc.enabled && !pc.optional)
      throw PluginError(
          "plugin " + (fs::path(config.directory) / (name + ".so")).string() +
          (config.load ? ": configured but not listed in plugins.load" : ": configured but file not found"));
  }

  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  std::vector<LoadedPlugin> loaded;
  std::map<std::string, std::string> table_owner;
  for (auto& name : names) {
    auto it = config.configure.find(name);
    bool enabled = it == config.configure.end() || it->second.enabled;
    bool optional = it != config.configure.end() && it->second.optional;
    std::string path = (fs::path(config.directory) / (name + ".so")).string();
    if (!enabled) {
      log::info("plugins", "plugin " + path + " disabled by config");
      continue;
    }
    const rapidjson::Value& settings = it != config.configure.end() && it->second.settings
                                           ? static_cast<const rapidjson::Value&>(*it->second.settings)
                                           : kEmpty;
    try {
      LoadedPlugin p = load_plugin(path, settings, node_id);
      std::string table = p.table->table_name();
      if (auto dup = table_owner.find(table); dup != table_owner.end())
        fail(path, "duplicate table name \"" + table + "\" (already served by " + dup->second + ")");
      table_owner[table] = path;
      log::info("plugins", "loaded " + path + " serving table " + table);
      loaded.push_back(std::move(p));
    } catch (const PluginError& e) {
      if (!optional) throw;
      log::warn("plugins", std::string(e.what()) + " (optional, skipped)");
    }
  }
  return loaded;
}

}  // namespace clusterlite
