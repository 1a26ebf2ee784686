#include "config.h"

#include <rapidjson/error/en.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "log.h"

namespace clusterlite {

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::kStandalone: return "standalone";
    case Mode::kReplica: return "replica";
    case Mode::kShared: return "shared";
  }
  return "?";
}

namespace {

using Value = rapidjson::Value;

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw ConfigError("config key '" + key + "': " + what);
}

// Walks one JSON object, handing each known key to its reader and rejecting the rest.
class ObjectReader {
 public:
  ObjectReader(const Value& v, std::string path) : v_(v), path_(std::move(path)) {
    if (!v.IsObject()) fail(path_.empty() ? "(root)" : path_, "must be an object");
  }

  std::string key(const char* name) const { return path_.empty() ? name : path_ + "." + name; }

  const Value* find(const char* name) {
    seen_.insert(name);
    auto it = v_.FindMember(name);
    return it == v_.MemberEnd() ? nullptr : &it->value;
  }

  void str(const char* name, std::string& out) {
    if (auto* v = find(name)) {
      if (!v->IsString()) fail(key(name), "must be a string");
      out.assign(v->GetString(), v->GetStringLength());
    }
  }
  void boolean(const char* name, bool& out) {
    if (auto* v = find(name)) {
      if (!v->IsBool()) fail(key(name), "must be true or false");
      out = v->GetBool();
    }
  }
  template <typename Int>
  void integer(const char* name, Int& out, long long min, long long max) {
    if (auto* v = find(name)) {
      if (!v->IsInt64()) fail(key(name), "must be an integer");
      long long n = v->GetInt64();
      if (n < min || n > max)
        fail(key(name), "must be between " + std::to_string(min) + " and " + std::to_string(max));
      out = static_cast<Int>(n);
    }
  }
  void strings(const char* name, std::vector<std::string>& out) {
    if (auto* v = find(name)) {
      if (!v->IsArray()) fail(key(name), "must be an array of strings");
      out.clear();
      for (auto& e : v->GetArray()) {
        if (!e.IsString()) fail(key(name), "must be an array of strings");
        out.emplace_back(e.GetString(), e.GetStringLength());
      }
    }
  }
  // Rejects keys no reader asked for.
  void finish() const {
    for (auto& m : v_.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      if (!seen_.count(name)) fail(key(name.c_str()), "unknown key");
    }
  }

 private:
  const Value& v_;
  std::string path_;
  std::set<std::string> seen_;
};

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

Mode parse_mode(const std::string& key, const std::string& text) {
  if (text == "standalone") return Mode::kStandalone;
  if (text == "replica") return Mode::kReplica;
  if (text == "shared") return Mode::kShared;
  fail(key, "must be \"standalone\", \"replica\" or \"shared\", not \"" + text + "\"");
}

void read_plugins(ObjectReader& root, Config::Plugins& out, const std::string& base_dir) {
  const Value* v = root.find("plugins");
  if (!v) {
    out.directory = resolve(base_dir, out.directory);
    return;
  }
  ObjectReader r(*v, "plugins");
  r.str("directory", out.directory);
  out.directory = resolve(base_dir, out.directory);
  if (r.find("load")) {
    std::vector<std::string> names;
    r.strings("load", names);
    out.load = std::move(names);
  }
  if (const Value* each = r.find("configure")) {
    if (!each->IsObject()) fail("plugins.configure", "must be an object of plugin names");
    for (auto& m : each->GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      ObjectReader p(m.value, "plugins.configure." + name);
      PluginConfig pc;
      p.boolean("enabled", pc.enabled);
      p.boolean("optional", pc.optional);
      if (p.find("history")) {
        bool history = false;
        p.boolean("history", history);
        pc.history = history;
      }
      pc.settings = std::make_shared<rapidjson::Document>(rapidjson::kObjectType);
      if (const Value* s = p.find("settings")) {
        if (!s->IsObject()) fail(p.key("settings"), "must be an object");
        pc.settings->CopyFrom(*s, pc.settings->GetAllocator());
      }
      p.finish();
      out.configure[name] = std::move(pc);
    }
  }
  r.finish();
}

}  // namespace

Config parse_config(const std::string& text, const std::string& base_dir) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag>(text.data(), text.size());
  if (doc.HasParseError())
    throw ConfigError(std::string("config is not valid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                      " (at byte " + std::to_string(doc.GetErrorOffset()) + ")");
  Config c;
  c.base_dir = base_dir;
  ObjectReader root(doc, "");
  root.str("node_id", c.node_id);
  std::string mode;
  root.str("mode", mode);
  if (!mode.empty()) {
    c.mode = parse_mode("mode", mode);
    c.mode_explicit = true;
  }
  if (const Value* v = root.find("http")) {
    ObjectReader r(*v, "http");
    r.str("address", c.http.address);
    r.integer("port", c.http.port, 0, 65535);
    r.integer("threads", c.http.threads, 1, 64);
    r.integer("max_body_bytes", c.http.max_body_bytes, 64, 64LL << 20);
    r.strings("cors_origins", c.http.cors_origins);
    r.integer("write_timeout_ms", c.http.write_timeout_ms, 1, 600000);
    r.integer("strong_read_timeout_ms", c.http.strong_read_timeout_ms, 1, 600000);
    r.str("ui_directory", c.http.ui_directory);
    r.integer("header_timeout_ms", c.http.header_timeout_ms, 100, 600000);
    r.integer("body_timeout_ms", c.http.body_timeout_ms, 100, 3600000);
    r.integer("keepalive_timeout_ms", c.http.keepalive_timeout_ms, 100, 3600000);
    r.integer("max_connections", c.http.max_connections, 1, 1000000);
    c.http.ui_directory = resolve(base_dir, c.http.ui_directory);
    r.finish();
  }
  if (const Value* v = root.find("database")) {
    ObjectReader r(*v, "database");
    r.str("path", c.database.path);
    r.integer("busy_timeout_ms", c.database.busy_timeout_ms, 0, 600000);
    r.integer("read_connections", c.database.read_connections, 1, 256);
    r.integer("cache_mb", c.database.cache_mb, 1, 65536);
    r.integer("mmap_mb", c.database.mmap_mb, 0, 1048576);
    r.finish();
  }
  c.database.path = resolve(base_dir, c.database.path);
  if (const Value* v = root.find("kafka")) {
    ObjectReader r(*v, "kafka");
    r.str("brokers", c.kafka.brokers);
    r.str("topic", c.kafka.topic);
    r.integer("partitions", c.kafka.partitions, 1, 10000);
    r.integer("replication_factor", c.kafka.replication_factor, 1, 100);
    if (r.find("min_insync_replicas")) {
      int min_isr = 1;
      r.integer("min_insync_replicas", min_isr, 1, 100);
      c.kafka.min_insync_replicas = min_isr;
    }
    r.str("group_id", c.kafka.group_id);
    r.integer("request_timeout_ms", c.kafka.request_timeout_ms, 100, 600000);
    r.integer("retention_ms", c.kafka.retention_ms, -1, 1LL << 60);
    if (c.kafka.retention_ms == 0) fail("kafka.retention_ms", "must be -1 (unlimited) or a positive number of ms");
    if (const Value* p = r.find("properties")) {
      if (!p->IsObject()) fail("kafka.properties", "must be an object of strings");
      for (auto& m : p->GetObject()) {
        std::string name(m.name.GetString(), m.name.GetStringLength());
        if (!m.value.IsString()) fail("kafka.properties." + name, "must be a string");
        c.kafka.properties[name] = std::string(m.value.GetString(), m.value.GetStringLength());
      }
    }
    r.finish();
    if (c.kafka.topic.empty()) fail("kafka.topic", "must not be empty");
  }
  if (const Value* v = root.find("applier")) {
    ObjectReader r(*v, "applier");
    r.integer("max_batch", c.applier.max_batch, 1, 100000);
    r.integer("max_ready_lag", c.applier.max_ready_lag, 0, 1LL << 50);
    r.finish();
  }
  if (const Value* v = root.find("changes")) {
    ObjectReader r(*v, "changes");
    r.integer("buffer_events", c.changes.buffer_events, 0, 10000000);
    r.integer("max_subscribers", c.changes.max_subscribers, 0, 100000);
    r.integer("max_backlog_bytes", c.changes.max_backlog_bytes, 4096, 1LL << 30);
    r.integer("heartbeat_ms", c.changes.heartbeat_ms, 100, 3600000);
    r.finish();
  }
  if (const Value* v = root.find("idempotency")) {
    ObjectReader r(*v, "idempotency");
    r.integer("retention_hours", c.idempotency.retention_hours, 1, 87600);
    r.finish();
  }
  if (const Value* v = root.find("bootstrap")) {
    ObjectReader r(*v, "bootstrap");
    r.strings("peers", c.bootstrap.peers);
    r.boolean("when_behind", c.bootstrap.when_behind);
    r.str("token", c.bootstrap.token);
    r.integer("timeout_ms", c.bootstrap.timeout_ms, 1000, 86400000);
    r.finish();
  }
  if (const Value* v = root.find("auth")) {
    ObjectReader r(*v, "auth");
    r.strings("read_tokens", c.auth.read_tokens);
    r.strings("write_tokens", c.auth.write_tokens);
    r.finish();
  }
  read_plugins(root, c.plugins, base_dir);
  if (const Value* v = root.find("log")) {
    ObjectReader r(*v, "log");
    std::string level;
    r.str("level", level);
    if (!level.empty() && !log::parse_level(level, c.log.level))
      fail("log.level", "must be \"debug\", \"info\", \"warn\" or \"error\"");
    std::string format;
    r.str("format", format);
    if (!format.empty() && format != "text" && format != "json") fail("log.format", "must be \"text\" or \"json\"");
    c.log.json = format == "json";
    r.finish();
  }
  root.finish();
  return c;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto dir = std::filesystem::absolute(path).parent_path().string();
  try {
    return parse_config(ss.str(), dir);
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

void apply_env_overrides(Config& c, const std::function<const char*(const char*)>& getenv) {
  auto env = [&](const char* name) -> std::optional<std::string> {
    const char* v = getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
  if (auto v = env("CLUSTERLITE_NODE_ID")) c.node_id = *v;
  if (auto v = env("CLUSTERLITE_MODE")) {
    c.mode = parse_mode("CLUSTERLITE_MODE", *v);
    c.mode_explicit = true;
  }
  if (auto v = env("CLUSTERLITE_HTTP_ADDRESS")) c.http.address = *v;
  if (auto v = env("CLUSTERLITE_HTTP_PORT")) {
    size_t used = 0;
    int port = -1;
    try {
      port = std::stoi(*v, &used);
    } catch (const std::exception&) {
    }
    if (used != v->size() || port < 0 || port > 65535) fail("CLUSTERLITE_HTTP_PORT", "must be a port number");
    c.http.port = port;
  }
  if (auto v = env("CLUSTERLITE_DB_PATH")) c.database.path = *v;
  if (auto v = env("CLUSTERLITE_KAFKA_BROKERS")) c.kafka.brokers = *v;
  if (auto v = env("CLUSTERLITE_KAFKA_TOPIC")) c.kafka.topic = *v;
  if (auto v = env("CLUSTERLITE_PLUGINS_DIR")) c.plugins.directory = *v;
  if (auto v = env("CLUSTERLITE_UI_DIR")) c.http.ui_directory = *v;
  // Comma-separated; spaces around each token are dropped ("a, b").
  auto tokens = [](const std::string& list) {
    std::vector<std::string> out;
    std::stringstream ss(list);
    for (std::string t; std::getline(ss, t, ',');) {
      auto first = t.find_first_not_of(" \t");
      if (first == std::string::npos) continue;
      out.push_back(t.substr(first, t.find_last_not_of(" \t") - first + 1));
    }
    return out;
  };
  if (auto v = env("CLUSTERLITE_READ_TOKENS")) c.auth.read_tokens = tokens(*v);
  if (auto v = env("CLUSTERLITE_WRITE_TOKENS")) c.auth.write_tokens = tokens(*v);
  if (auto v = env("CLUSTERLITE_BOOTSTRAP_PEERS")) c.bootstrap.peers = tokens(*v);
  if (auto v = env("CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND")) {
    if (*v != "true" && *v != "false") fail("CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND", "must be true or false");
    c.bootstrap.when_behind = *v == "true";
  }
  if (auto v = env("CLUSTERLITE_BOOTSTRAP_TOKEN")) c.bootstrap.token = *v;
}

void finalize_config(Config& c) {
  if (!c.mode_explicit) c.mode = c.kafka.brokers.empty() ? Mode::kStandalone : Mode::kReplica;
  if (c.mode != Mode::kStandalone && c.kafka.brokers.empty())
    fail("kafka.brokers", std::string("is required in ") + to_string(c.mode) + " mode");
  if (c.kafka.min_insync_replicas && *c.kafka.min_insync_replicas > c.kafka.replication_factor)
    fail("kafka.min_insync_replicas", "is " + std::to_string(*c.kafka.min_insync_replicas) +
                                          ", more than kafka.replication_factor (" +
                                          std::to_string(c.kafka.replication_factor) +
                                          "): the broker would refuse every write");
  if (!c.kafka.min_insync_replicas) c.kafka.min_insync_replicas = c.kafka.replication_factor >= 3 ? 2 : 1;
  if (c.node_id.empty() || c.node_id.size() > 64) fail("node_id", "must be 1 to 64 characters");
  for (char ch : c.node_id)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'))
      fail("node_id", "may contain only letters, digits, '-', '_' and '.'");
  if (c.database.path.empty()) fail("database.path", "must not be empty");
  for (auto& peer : c.bootstrap.peers)
    if (peer.rfind("http://", 0) != 0 || peer.size() <= 7)
      fail("bootstrap.peers", "each peer must be a node URL \"http://host:port\", not \"" + peer + "\"");
  // Shared mode's nodes share one database file: there is nothing to copy.
  if (!c.bootstrap.peers.empty() && c.mode != Mode::kReplica)
    fail("bootstrap.peers", std::string("only a replica-mode node bootstraps from a peer, not a ") +
                                to_string(c.mode) + "-mode node");
  if (c.bootstrap.when_behind && c.bootstrap.peers.empty())
    fail("bootstrap.when_behind", "needs bootstrap.peers to copy a snapshot from");
  for (unsigned char ch : c.bootstrap.token)
    if (ch <= 0x20 || ch >= 0x7F) fail("bootstrap.token", "must be printable ASCII without spaces");
  for (auto* list : {&c.auth.read_tokens, &c.auth.write_tokens})
    for (auto& t : *list) {
      const char* key = list == &c.auth.read_tokens ? "auth.read_tokens" : "auth.write_tokens";
      if (t.size() < 16) fail(key, "tokens must be at least 16 characters");
      // A token a client cannot send in "Authorization: Bearer <token>" would never match.
      for (unsigned char ch : t)
        if (ch <= 0x20 || ch >= 0x7F) fail(key, "tokens must be printable ASCII without spaces");
    }
}

}  // namespace clusterlite
