#include "plugins/registry.h"

namespace clusterlite {

PluginRegistry::PluginRegistry(std::vector<LoadedPlugin> plugins) {
  for (auto& p : plugins) add(std::move(p));
}

void PluginRegistry::add(LoadedPlugin plugin) {
  std::string table = plugin.table->table_name();
  if (auto it = by_table_.find(table); it != by_table_.end())
    throw PluginError("plugin " + plugin.path + ": duplicate table name \"" + table + "\"");
  by_table_[table] = plugin.table.get();
  plugins_.push_back(std::move(plugin));
}

TableOperations* PluginRegistry::find(std::string_view table) const {
  auto it = by_table_.find(table);
  return it == by_table_.end() ? nullptr : it->second;
}

std::vector<std::string> PluginRegistry::tables() const {
  std::vector<std::string> out;
  for (auto& [name, _] : by_table_) out.push_back(name);
  return out;
}

}  // namespace clusterlite
