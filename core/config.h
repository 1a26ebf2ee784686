// Node configuration: one JSON file (comments allowed), then CLUSTERLITE_*
// environment overrides. Every key and its default is in docs/configuration.md.
#pragma once

#include <clusterlite/context.h>
#include <rapidjson/document.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace clusterlite {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Mode { kStandalone, kReplica, kShared };
const char* to_string(Mode mode);

struct PluginConfig {
  bool enabled = true;
  bool optional = false;
  // Whether its tables keep the history of each entity (_cl_history, GET
  // /{table}/{id}/history); unset: on for the users plugin, off for others.
  std::optional<bool> history;
  // The plugin's settings object, handed to its factory ({} when absent).
  std::shared_ptr<rapidjson::Document> settings;
};

struct Config {
  std::string node_id = "node-1";
  // Without an explicit "mode": standalone when kafka.brokers is empty, else replica.
  Mode mode = Mode::kStandalone;
  bool mode_explicit = false;

  struct Http {
    std::string address = "127.0.0.1";
    int port = 8082;
    int threads = 2;
    size_t max_body_bytes = 1 << 20;
    std::vector<std::string> cors_origins;  // empty: no CORS headers; "*": any origin
    int write_timeout_ms = 5000;            // wait for apply; past it a write answers 202
    int strong_read_timeout_ms = 5000;      // ?consistency=strong wait bound; past it 503
    std::string ui_directory;               // static web UI served at /ui/; empty: not served
    int header_timeout_ms = 5000;           // a request's headers must arrive within this, else 408
    int body_timeout_ms = 10000;            // and its body within this after them
    int keepalive_timeout_ms = 75000;       // an idle connection between requests is closed after this
    int max_connections = 4096;             // client connections at once; more are refused with 503
  } http;

  struct Database {
    std::string path = "clusterlite.db";
    int busy_timeout_ms = 5000;
    int read_connections = 4;
    int cache_mb = 16;  // the writer connection's page cache; filled as it is used
    int mmap_mb = 2048;  // how much of the file read connections map into memory (0: none)
  } database;

  struct Kafka {
    std::string brokers;  // comma-separated host:port; empty means standalone
    std::string topic = "db_events";
    int partitions = 3;
    int replication_factor = 1;
    // The topic's min.insync.replicas when the node creates it: how many
    // replicas must hold an event before the broker acknowledges it (acks=all).
    // Unset: 2 when replication_factor is 3 or more, else 1.
    std::optional<int> min_insync_replicas;
    std::string group_id = "clusterlite";  // shared mode's consumer group
    int request_timeout_ms = 5000;         // broker unreachable: 503 after this
    int64_t retention_ms = -1;             // retention.ms of a topic the node creates; -1: unlimited
    std::map<std::string, std::string> properties;  // passed to librdkafka as is
  } kafka;

  struct Applier {
    int max_batch = 1000;         // events per SQLite transaction at most
    int64_t max_ready_lag = 10000;  // /readyz fails while the lag exceeds this many events
  } applier;

  // GET /_changes (the change stream): how many of the latest changes are
  // kept for streams that resume, how many streams at once, how much a
  // stream may have waiting for a client that does not read, and how often
  // an idle stream gets a comment.
  struct Changes {
    int buffer_events = 10000;
    int max_subscribers = 1000;
    int64_t max_backlog_bytes = 1 << 20;
    int heartbeat_ms = 15000;
  } changes;

  // Idempotency-Key: how long, in event time, a key's outcome is kept for
  // retries. Stamped on each keyed event, so every node keeps it alike.
  struct Idempotency {
    int retention_hours = 24;
  } idempotency;
  // Where a replica-mode node takes a copy of its database from when it has
  // none, or (when_behind) when the log no longer holds the events it needs.
  struct Bootstrap {
    std::vector<std::string> peers;  // node URLs, "http://host:port", tried in order
    bool when_behind = false;        // also when the stored offsets fell off the log
    std::string token;               // sent to the peers (a write token) when they need one
    int timeout_ms = 600000;         // bound of one download, from request to last byte
  } bootstrap;

  // API tokens (Authorization: Bearer). With none configured the API is open.
  struct Auth {
    std::vector<std::string> read_tokens;   // may read tables
    std::vector<std::string> write_tokens;  // may read and write tables
    bool enabled() const { return !read_tokens.empty() || !write_tokens.empty(); }
  } auth;

  struct Plugins {
    std::string directory = "plugins";
    std::optional<std::vector<std::string>> load;  // explicit list; absent = every .so in directory
    std::map<std::string, PluginConfig> configure;
  } plugins;

  struct Log {
    LogLevel level = LogLevel::kInfo;
    bool json = false;
  } log;

  // Where relative paths were resolved from (the config file's directory).
  std::string base_dir = ".";
};

// Parses config text. Relative paths are resolved against `base_dir`.
// Throws ConfigError naming the key for unknown keys, wrong types and bad values.
Config parse_config(const std::string& text, const std::string& base_dir = ".");

// Reads and parses the file at `path` (relative paths resolve against its directory).
Config load_config_file(const std::string& path);

// Applies CLUSTERLITE_NODE_ID, CLUSTERLITE_MODE, CLUSTERLITE_HTTP_ADDRESS, CLUSTERLITE_HTTP_PORT,
// CLUSTERLITE_DB_PATH, CLUSTERLITE_KAFKA_BROKERS, CLUSTERLITE_KAFKA_TOPIC,
// CLUSTERLITE_PLUGINS_DIR, CLUSTERLITE_UI_DIR, CLUSTERLITE_READ_TOKENS and
// CLUSTERLITE_WRITE_TOKENS (comma-separated), CLUSTERLITE_BOOTSTRAP_PEERS
// (comma-separated), CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND (true/false) and
// CLUSTERLITE_BOOTSTRAP_TOKEN from `getenv`. Throws ConfigError
// on bad values.
void apply_env_overrides(Config& config, const std::function<const char*(const char*)>& getenv);

// Settles the default mode and checks keys against each other (replica and
// shared modes need brokers, standalone needs none). Throws ConfigError.
void finalize_config(Config& config);

}  // namespace clusterlite
