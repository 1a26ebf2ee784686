#include "plugins/registry.h"

namespace clusterlite {

PluginSet::PluginSet(std::vector<LoadedPlugin> plugins) : plugins_(std::move(plugins)) {
  for (size_t i = 0; i < plugins_.size(); ++i) {
    const auto& p = plugins_[i];
    if (auto it = by_table_.find(p.table_name); it != by_table_.end())
      throw PluginError("plugin " + p.path + ": duplicate table name \"" + p.table_name + "\" (already served by " +
                        plugins_[it->second].path + ")");
    by_table_.emplace(p.table_name, i);
  }
}

const LoadedPlugin* PluginSet::find(std::string_view table) const {
  auto it = by_table_.find(table);
  return it == by_table_.end() ? nullptr : &plugins_[it->second];
}

std::vector<std::string> PluginSet::tables() const {
  std::vector<std::string> out;
  for (auto& [name, _] : by_table_) out.push_back(name);
  return out;
}

}  // namespace clusterlite
