#include "plugins/plugin_reload.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "log.h"

namespace clusterlite {

std::string PluginReloadResult::json() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("reloaded");
  w.Bool(ok);
  if (!ok) {
    w.Key("error");
    w.String(error.c_str());
  }
  w.Key("plugins");
  w.StartArray();
  for (auto& c : changes) {
    w.StartObject();
    w.Key("table");
    w.String(c.table.c_str());
    w.Key("plugin");
    w.String(c.plugin.c_str());
    w.Key("version");
    w.Int(c.version);
    w.Key("sha256");
    w.String(c.sha256.c_str());
    w.Key("change");
    w.String(c.change.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

PluginReloadResult PluginReloader::reload(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  PluginReloadResult result;
  auto before = registry_.current();
  std::shared_ptr<const PluginSet> next;
  try {
    next = std::make_shared<const PluginSet>(load_plugins(config_.plugins, config_.node_id, before->plugins()));
  } catch (const std::exception& e) {
    result.error = e.what();
    log::error("plugins", "reload refused, nothing changed: " + result.error);
    return result;
  }
  for (auto& p : next->plugins()) {
    const LoadedPlugin* old = before->find(p.table_name);
    const char* change = !old ? "loaded" : old->table == p.table ? "unchanged" : "replaced";
    result.changes.push_back({p.table_name, p.name, p.version, p.sha256, change});
  }
  for (auto& p : before->plugins())
    if (!next->find(p.table_name)) result.changes.push_back({p.table_name, p.name, p.version, p.sha256, "removed"});
  if (auto error = applier_.install(next, timeout); !error.empty()) {
    result.error = error;
    log::error("plugins", "reload refused, nothing changed: " + error);
    return result;
  }
  result.ok = true;
  for (auto& c : result.changes)
    if (c.change != "unchanged")
      log::info("plugins", "reload: table " + c.table + " " + c.change + " (" + c.plugin + ".so version " +
                               std::to_string(c.version) + ")");
  return result;
}

}  // namespace clusterlite
