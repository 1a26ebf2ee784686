// PluginContext: everything the host hands a plugin's factory.
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <string>

namespace clusterlite {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct PluginContext {
  // The plugin's "settings" object from the config file ({} when absent).
  // Valid only during the factory call: copy what you need.
  const rapidjson::Value& settings;
  // This node's id (config "node_id").
  std::string node_id;
  // Writes one line to the host's log, prefixed with the plugin name.
  std::function<void(LogLevel, const std::string&)> log;
};

}  // namespace clusterlite
