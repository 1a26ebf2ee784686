#include "log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "timeutil.h"

namespace clusterlite::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<Format> g_format{Format::kText};
std::mutex g_mutex;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void configure(LogLevel min_level, Format format) {
  g_min_level = static_cast<int>(min_level);
  g_format = format;
}

bool enabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, LogLevel& out) {
  for (auto level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == level_name(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

void write(LogLevel level, std::string_view component, std::string_view message) {
  if (!enabled(level)) return;
  std::string line;
  std::string now = format_rfc3339(std::chrono::system_clock::now());
  if (g_format == Format::kJson) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("time");
    w.String(now.data(), now.size());
    w.Key("level");
    w.String(level_name(level));
    w.Key("component");
    w.String(component.data(), component.size());
    w.Key("msg");
    w.String(message.data(), message.size());
    w.EndObject();
    line.assign(buf.GetString(), buf.GetSize());
  } else {
    line.reserve(now.size() + component.size() + message.size() + 16);
    line.append(now).append(" ").append(level_name(level)).append(" [").append(component).append("] ").append(message);
  }
  line.push_back('\n');
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace clusterlite::log
