// Configuration parsing (core/config): defaults, errors naming the key,
// environment overrides, relative paths and finalize_config.
#include "config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "node_process.h"

using namespace clusterlite;

namespace {

// The ConfigError message for `text`, or "" when it parses.
std::string parse_error(const std::string& text) {
  try {
    parse_config(text, "/base");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Applies `vars` as the whole environment.
void apply_env(Config& c, const std::map<std::string, std::string>& vars) {
  apply_env_overrides(c, [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string finalize_error(Config c) {
  try {
    finalize_config(c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, EmptyObjectGivesTheDocumentedDefaults) {
  Config c = parse_config("{}", "/base");
  EXPECT_EQ(c.node_id, "node-1");
  EXPECT_FALSE(c.mode_explicit);
  EXPECT_EQ(c.http.address, "127.0.0.1");
  EXPECT_EQ(c.http.port, 8082);
  EXPECT_EQ(c.http.threads, 2);
  EXPECT_EQ(c.http.max_body_bytes, 1u << 20);
  EXPECT_TRUE(c.http.cors_origins.empty());
  EXPECT_EQ(c.http.write_timeout_ms, 5000);
  EXPECT_EQ(c.http.strong_read_timeout_ms, 5000);
  EXPECT_EQ(c.http.ui_directory, "");
  EXPECT_EQ(c.http.header_timeout_ms, 5000);
  EXPECT_EQ(c.http.body_timeout_ms, 10000);
  EXPECT_EQ(c.http.keepalive_timeout_ms, 75000);
  EXPECT_EQ(c.http.max_connections, 4096);
  EXPECT_EQ(c.database.path, "/base/clusterlite.db");
  EXPECT_EQ(c.database.busy_timeout_ms, 5000);
  EXPECT_EQ(c.database.read_connections, 4);
  EXPECT_EQ(c.database.mmap_mb, 2048);
  EXPECT_EQ(c.kafka.brokers, "");
  EXPECT_EQ(c.kafka.topic, "db_events");
  EXPECT_EQ(c.kafka.partitions, 3);
  EXPECT_EQ(c.kafka.replication_factor, 1);
  EXPECT_EQ(c.kafka.group_id, "clusterlite");
  EXPECT_EQ(c.kafka.request_timeout_ms, 5000);
  EXPECT_TRUE(c.kafka.properties.empty());
  EXPECT_EQ(c.applier.max_batch, 1000);
  EXPECT_EQ(c.applier.max_ready_lag, 10000);
  EXPECT_FALSE(c.auth.enabled());
  EXPECT_EQ(c.plugins.directory, "/base/plugins");
  EXPECT_FALSE(c.plugins.load.has_value());
  EXPECT_TRUE(c.plugins.configure.empty());
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_FALSE(c.log.json);
  EXPECT_EQ(c.base_dir, "/base");
}

TEST(Config, EveryKeyIsRead) {
  Config c = parse_config(R"({
    "node_id": "n2", "mode": "shared",
    "http": {"address": "0.0.0.0", "port": 9000, "threads": 4, "max_body_bytes": 4096,
             "cors_origins": ["https://a.example"], "write_timeout_ms": 100,
             "strong_read_timeout_ms": 200, "ui_directory": "web", "header_timeout_ms": 300,
             "body_timeout_ms": 400, "keepalive_timeout_ms": 500, "max_connections": 600},
    "database": {"path": "/data/db.sqlite", "busy_timeout_ms": 10, "read_connections": 8, "mmap_mb": 0},
    "kafka": {"brokers": "k1:9092,k2:9092", "topic": "t", "partitions": 6, "replication_factor": 3,
              "min_insync_replicas": 3, "group_id": "g", "request_timeout_ms": 1000, "properties": {"security.protocol": "SSL"}},
    "applier": {"max_batch": 50, "max_ready_lag": 7},
    "auth": {"read_tokens": ["rrrrrrrrrrrrrrrr"], "write_tokens": ["wwwwwwwwwwwwwwww"]},
    "plugins": {"directory": "/p", "load": ["users"],
                "configure": {"users": {"enabled": false, "optional": true, "settings": {"max_name_length": 9}}}},
    "log": {"level": "debug", "format": "json"}
  })",
                          "/base");
  EXPECT_EQ(c.node_id, "n2");
  EXPECT_EQ(c.mode, Mode::kShared);
  EXPECT_TRUE(c.mode_explicit);
  EXPECT_EQ(c.http.address, "0.0.0.0");
  EXPECT_EQ(c.http.port, 9000);
  EXPECT_EQ(c.http.threads, 4);
  EXPECT_EQ(c.http.max_body_bytes, 4096u);
  EXPECT_EQ(c.http.cors_origins, std::vector<std::string>{"https://a.example"});
  EXPECT_EQ(c.http.write_timeout_ms, 100);
  EXPECT_EQ(c.http.strong_read_timeout_ms, 200);
  EXPECT_EQ(c.http.ui_directory, "/base/web");
  EXPECT_EQ(c.http.header_timeout_ms, 300);
  EXPECT_EQ(c.http.body_timeout_ms, 400);
  EXPECT_EQ(c.http.keepalive_timeout_ms, 500);
  EXPECT_EQ(c.http.max_connections, 600);
  EXPECT_EQ(c.database.path, "/data/db.sqlite");
  EXPECT_EQ(c.database.busy_timeout_ms, 10);
  EXPECT_EQ(c.database.read_connections, 8);
  EXPECT_EQ(c.database.mmap_mb, 0);
  EXPECT_EQ(c.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.kafka.topic, "t");
  EXPECT_EQ(c.kafka.partitions, 6);
  EXPECT_EQ(c.kafka.replication_factor, 3);
  EXPECT_EQ(c.kafka.min_insync_replicas, 3);
  EXPECT_EQ(c.kafka.group_id, "g");
  EXPECT_EQ(c.kafka.request_timeout_ms, 1000);
  EXPECT_EQ(c.kafka.properties.at("security.protocol"), "SSL");
  EXPECT_EQ(c.applier.max_batch, 50);
  EXPECT_EQ(c.applier.max_ready_lag, 7);
  EXPECT_EQ(c.auth.read_tokens, std::vector<std::string>{"rrrrrrrrrrrrrrrr"});
  EXPECT_EQ(c.auth.write_tokens, std::vector<std::string>{"wwwwwwwwwwwwwwww"});
  EXPECT_EQ(c.plugins.directory, "/p");
  EXPECT_EQ(c.plugins.load, std::vector<std::string>{"users"});
  const PluginConfig& users = c.plugins.configure.at("users");
  EXPECT_FALSE(users.enabled);
  EXPECT_TRUE(users.optional);
  EXPECT_EQ((*users.settings)["max_name_length"].GetInt(), 9);
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_TRUE(c.log.json);
}

TEST(Config, CommentsAndTrailingCommasAreAllowed) {
  Config c = parse_config(R"({
    // the node's name
    "node_id": "n3", /* block comment */
    "http": {"port": 9001,},
  })");
  EXPECT_EQ(c.node_id, "n3");
  EXPECT_EQ(c.http.port, 9001);
}

TEST(Config, InvalidJsonSaysWhere) {
  std::string e = parse_error(R"({"node_id": })");
  EXPECT_NE(e.find("config is not valid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("at byte 12"), std::string::npos) << e;
  EXPECT_NE(parse_error("[]").find("config key '(root)': must be an object"), std::string::npos);
}

struct KeyCase {
  const char* json;
  const char* message;
};

class ConfigKeyError : public ::testing::TestWithParam<KeyCase> {};

TEST_P(ConfigKeyError, NamesTheKey) { EXPECT_EQ(parse_error(GetParam().json), GetParam().message); }

INSTANTIATE_TEST_SUITE_P(
    WrongType, ConfigKeyError,
    ::testing::Values(
        KeyCase{R"({"node_id": 1})", "config key 'node_id': must be a string"},
        KeyCase{R"({"mode": true})", "config key 'mode': must be a string"},
        KeyCase{R"({"http": []})", "config key 'http': must be an object"},
        KeyCase{R"({"http": {"address": 1}})", "config key 'http.address': must be a string"},
        KeyCase{R"({"http": {"port": "8082"}})", "config key 'http.port': must be an integer"},
        KeyCase{R"({"http": {"port": 80.5}})", "config key 'http.port': must be an integer"},
        KeyCase{R"({"http": {"threads": null}})", "config key 'http.threads': must be an integer"},
        KeyCase{R"({"http": {"max_body_bytes": "1M"}})", "config key 'http.max_body_bytes': must be an integer"},
        KeyCase{R"({"http": {"cors_origins": "*"}})", "config key 'http.cors_origins': must be an array of strings"},
        KeyCase{R"({"http": {"cors_origins": [1]}})", "config key 'http.cors_origins': must be an array of strings"},
        KeyCase{R"({"http": {"write_timeout_ms": "5s"}})", "config key 'http.write_timeout_ms': must be an integer"},
        KeyCase{R"({"http": {"strong_read_timeout_ms": false}})",
                "config key 'http.strong_read_timeout_ms': must be an integer"},
        KeyCase{R"({"http": {"ui_directory": ["web"]}})", "config key 'http.ui_directory': must be a string"},
        KeyCase{R"({"database": "x.db"})", "config key 'database': must be an object"},
        KeyCase{R"({"database": {"path": 3}})", "config key 'database.path': must be a string"},
        KeyCase{R"({"database": {"busy_timeout_ms": "1"}})",
                "config key 'database.busy_timeout_ms': must be an integer"},
        KeyCase{R"({"database": {"read_connections": 1.5}})",
                "config key 'database.read_connections': must be an integer"},
        KeyCase{R"({"database": {"mmap_mb": -1}})", "config key 'database.mmap_mb': must be between 0 and 1048576"},
        KeyCase{R"({"kafka": {"brokers": ["a:9092"]}})", "config key 'kafka.brokers': must be a string"},
        KeyCase{R"({"kafka": {"topic": 1}})", "config key 'kafka.topic': must be a string"},
        KeyCase{R"({"kafka": {"partitions": "3"}})", "config key 'kafka.partitions': must be an integer"},
        KeyCase{R"({"kafka": {"replication_factor": "1"}})",
                "config key 'kafka.replication_factor': must be an integer"},
        KeyCase{R"({"kafka": {"min_insync_replicas": "2"}})",
                "config key 'kafka.min_insync_replicas': must be an integer"},
        KeyCase{R"({"kafka": {"min_insync_replicas": 0}})",
                "config key 'kafka.min_insync_replicas': must be between 1 and 100"},
        KeyCase{R"({"kafka": {"group_id": 1}})", "config key 'kafka.group_id': must be a string"},
        KeyCase{R"({"kafka": {"request_timeout_ms": "1"}})",
                "config key 'kafka.request_timeout_ms': must be an integer"},
        KeyCase{R"({"kafka": {"properties": []}})", "config key 'kafka.properties': must be an object of strings"},
        KeyCase{R"({"kafka": {"properties": {"linger.ms": 5}}})",
                "config key 'kafka.properties.linger.ms': must be a string"},
        KeyCase{R"({"applier": {"max_batch": "10"}})", "config key 'applier.max_batch': must be an integer"},
        KeyCase{R"({"applier": {"max_ready_lag": "10"}})", "config key 'applier.max_ready_lag': must be an integer"},
        KeyCase{R"({"auth": {"read_tokens": "t"}})", "config key 'auth.read_tokens': must be an array of strings"},
        KeyCase{R"({"auth": {"write_tokens": [1]}})", "config key 'auth.write_tokens': must be an array of strings"},
        KeyCase{R"({"plugins": []})", "config key 'plugins': must be an object"},
        KeyCase{R"({"plugins": {"directory": 1}})", "config key 'plugins.directory': must be a string"},
        KeyCase{R"({"plugins": {"load": "users"}})", "config key 'plugins.load': must be an array of strings"},
        KeyCase{R"({"plugins": {"configure": []}})",
                "config key 'plugins.configure': must be an object of plugin names"},
        KeyCase{R"({"plugins": {"configure": {"users": true}}})",
                "config key 'plugins.configure.users': must be an object"},
        KeyCase{R"({"plugins": {"configure": {"users": {"enabled": "no"}}}})",
                "config key 'plugins.configure.users.enabled': must be true or false"},
        KeyCase{R"({"plugins": {"configure": {"users": {"optional": 1}}}})",
                "config key 'plugins.configure.users.optional': must be true or false"},
        KeyCase{R"({"plugins": {"configure": {"users": {"settings": []}}}})",
                "config key 'plugins.configure.users.settings': must be an object"},
        KeyCase{R"({"log": {"level": 1}})", "config key 'log.level': must be a string"},
        KeyCase{R"({"log": {"format": true}})", "config key 'log.format': must be a string"}));

INSTANTIATE_TEST_SUITE_P(
    UnknownKey, ConfigKeyError,
    ::testing::Values(KeyCase{R"({"node": "n1"})", "config key 'node': unknown key"},
                      KeyCase{R"({"http": {"prot": 8082}})", "config key 'http.prot': unknown key"},
                      KeyCase{R"({"database": {"file": "x"}})", "config key 'database.file': unknown key"},
                      KeyCase{R"({"kafka": {"broker": "a:1"}})", "config key 'kafka.broker': unknown key"},
                      KeyCase{R"({"applier": {"batch": 1}})", "config key 'applier.batch': unknown key"},
                      KeyCase{R"({"auth": {"tokens": []}})", "config key 'auth.tokens': unknown key"},
                      KeyCase{R"({"plugins": {"dir": "p"}})", "config key 'plugins.dir': unknown key"},
                      KeyCase{R"({"plugins": {"configure": {"users": {"setting": {}}}}})",
                              "config key 'plugins.configure.users.setting': unknown key"},
                      KeyCase{R"({"log": {"colour": "red"}})", "config key 'log.colour': unknown key"}));

INSTANTIATE_TEST_SUITE_P(
    BadValue, ConfigKeyError,
    ::testing::Values(
        KeyCase{R"({"mode": "cluster"})",
                "config key 'mode': must be \"standalone\", \"replica\" or \"shared\", not \"cluster\""},
        KeyCase{R"({"http": {"port": 65536}})", "config key 'http.port': must be between 0 and 65535"},
        KeyCase{R"({"http": {"port": -1}})", "config key 'http.port': must be between 0 and 65535"},
        KeyCase{R"({"http": {"threads": 0}})", "config key 'http.threads': must be between 1 and 64"},
        KeyCase{R"({"http": {"threads": 65}})", "config key 'http.threads': must be between 1 and 64"},
        KeyCase{R"({"http": {"max_body_bytes": 63}})",
                "config key 'http.max_body_bytes': must be between 64 and 67108864"},
        KeyCase{R"({"http": {"write_timeout_ms": 0}})",
                "config key 'http.write_timeout_ms': must be between 1 and 600000"},
        KeyCase{R"({"http": {"strong_read_timeout_ms": 600001}})",
                "config key 'http.strong_read_timeout_ms': must be between 1 and 600000"},
        KeyCase{R"({"http": {"header_timeout_ms": 99}})",
                "config key 'http.header_timeout_ms': must be between 100 and 600000"},
        KeyCase{R"({"http": {"body_timeout_ms": 3600001}})",
                "config key 'http.body_timeout_ms': must be between 100 and 3600000"},
        KeyCase{R"({"http": {"keepalive_timeout_ms": 0}})",
                "config key 'http.keepalive_timeout_ms': must be between 100 and 3600000"},
        KeyCase{R"({"http": {"max_connections": 0}})",
                "config key 'http.max_connections': must be between 1 and 1000000"},
        KeyCase{R"({"database": {"busy_timeout_ms": -1}})",
                "config key 'database.busy_timeout_ms': must be between 0 and 600000"},
        KeyCase{R"({"database": {"read_connections": 0}})",
                "config key 'database.read_connections': must be between 1 and 256"},
        KeyCase{R"({"kafka": {"topic": ""}})", "config key 'kafka.topic': must not be empty"},
        KeyCase{R"({"kafka": {"partitions": 0}})", "config key 'kafka.partitions': must be between 1 and 10000"},
        KeyCase{R"({"kafka": {"replication_factor": 101}})",
                "config key 'kafka.replication_factor': must be between 1 and 100"},
        KeyCase{R"({"kafka": {"request_timeout_ms": 99}})",
                "config key 'kafka.request_timeout_ms': must be between 100 and 600000"},
        KeyCase{R"({"applier": {"max_batch": 100001}})",
                "config key 'applier.max_batch': must be between 1 and 100000"},
        KeyCase{R"({"applier": {"max_ready_lag": -1}})",
                "config key 'applier.max_ready_lag': must be between 0 and 1125899906842624"},
        KeyCase{R"({"log": {"level": "verbose"}})",
                "config key 'log.level': must be \"debug\", \"info\", \"warn\" or \"error\""},
        KeyCase{R"({"log": {"format": "xml"}})", "config key 'log.format': must be \"text\" or \"json\""}));

TEST(Config, RelativePathsResolveAgainstTheBaseDirectory) {
  Config c = parse_config(R"({"database":{"path":"data/n.db"},"plugins":{"directory":"../plugins"},
                              "http":{"ui_directory":"./web"}})",
                          "/etc/clusterlite");
  EXPECT_EQ(c.database.path, "/etc/clusterlite/data/n.db");
  EXPECT_EQ(c.plugins.directory, "/etc/plugins");
  EXPECT_EQ(c.http.ui_directory, "/etc/clusterlite/web");
  Config abs = parse_config(R"({"database":{"path":"/var/lib/n.db"},"plugins":{"directory":"/opt/p"}})", "/etc");
  EXPECT_EQ(abs.database.path, "/var/lib/n.db");
  EXPECT_EQ(abs.plugins.directory, "/opt/p");
}

TEST(Config, FileRelativePathsResolveAgainstTheFilesDirectory) {
  test::TempDir dir;
  std::ofstream(dir.path() + "/node.json") << R"({"database":{"path":"n.db"}})";
  Config c = load_config_file(dir.path() + "/node.json");
  EXPECT_EQ(c.database.path, dir.path() + "/n.db");
  EXPECT_EQ(c.plugins.directory, dir.path() + "/plugins");
  EXPECT_EQ(c.base_dir, dir.path());
}

TEST(Config, FileErrorsNameTheFile) {
  test::TempDir dir;
  std::ofstream(dir.path() + "/bad.json") << R"({"http":{"prot":1}})";
  try {
    load_config_file(dir.path() + "/bad.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + "/bad.json: config key 'http.prot': unknown key");
  }
  try {
    load_config_file(dir.path() + "/absent.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read config file " + dir.path() + "/absent.json");
  }
}

TEST(Config, EnvironmentOverridesTheFile) {
  Config c = parse_config(R"({"node_id":"from-file","http":{"port":1000}})");
  apply_env(c, {{"CLUSTERLITE_NODE_ID", "from-env"},
                {"CLUSTERLITE_MODE", "replica"},
                {"CLUSTERLITE_HTTP_ADDRESS", "0.0.0.0"},
                {"CLUSTERLITE_HTTP_PORT", "9100"},
                {"CLUSTERLITE_DB_PATH", "/data/x.db"},
                {"CLUSTERLITE_KAFKA_BROKERS", "redpanda:9092"},
                {"CLUSTERLITE_KAFKA_TOPIC", "events"},
                {"CLUSTERLITE_PLUGINS_DIR", "/opt/plugins"},
                {"CLUSTERLITE_UI_DIR", "/opt/web"},
                {"CLUSTERLITE_READ_TOKENS", "aaaaaaaaaaaaaaaa,, bbbbbbbbbbbbbbbb\t, "},
                {"CLUSTERLITE_WRITE_TOKENS", "cccccccccccccccc"}});
  EXPECT_EQ(c.node_id, "from-env");
  EXPECT_EQ(c.mode, Mode::kReplica);
  EXPECT_TRUE(c.mode_explicit);
  EXPECT_EQ(c.http.address, "0.0.0.0");
  EXPECT_EQ(c.http.port, 9100);
  EXPECT_EQ(c.database.path, "/data/x.db");
  EXPECT_EQ(c.kafka.brokers, "redpanda:9092");
  EXPECT_EQ(c.kafka.topic, "events");
  EXPECT_EQ(c.plugins.directory, "/opt/plugins");
  EXPECT_EQ(c.http.ui_directory, "/opt/web");
  EXPECT_EQ(c.auth.read_tokens, (std::vector<std::string>{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}));
  EXPECT_EQ(c.auth.write_tokens, std::vector<std::string>{"cccccccccccccccc"});
}

TEST(Config, NoEnvironmentChangesNothing) {
  Config c = parse_config(R"({"node_id":"from-file","http":{"port":1000}})");
  apply_env(c, {});
  EXPECT_EQ(c.node_id, "from-file");
  EXPECT_EQ(c.http.port, 1000);
  EXPECT_FALSE(c.mode_explicit);
}

TEST(Config, InvalidEnvironmentValuesNameTheVariable) {
  for (const char* port : {"http", "80x", "", "-1", "65536", "99999999999"}) {
    Config c;
    try {
      apply_env(c, {{"CLUSTERLITE_HTTP_PORT", port}});
      ADD_FAILURE() << "accepted CLUSTERLITE_HTTP_PORT=" << port;
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), "config key 'CLUSTERLITE_HTTP_PORT': must be a port number") << port;
    }
  }
  Config c;
  try {
    apply_env(c, {{"CLUSTERLITE_MODE", "cluster"}});
    ADD_FAILURE() << "accepted CLUSTERLITE_MODE=cluster";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'CLUSTERLITE_MODE'"), std::string::npos) << e.what();
  }
}

TEST(Config, FinalizeSettlesTheDefaultMode) {
  Config standalone = parse_config("{}");
  finalize_config(standalone);
  EXPECT_EQ(standalone.mode, Mode::kStandalone);

  Config replica = parse_config(R"({"kafka":{"brokers":"127.0.0.1:9092"}})");
  finalize_config(replica);
  EXPECT_EQ(replica.mode, Mode::kReplica);

  Config shared = parse_config(R"({"mode":"shared","kafka":{"brokers":"127.0.0.1:9092"}})");
  finalize_config(shared);
  EXPECT_EQ(shared.mode, Mode::kShared);

  // An explicit standalone mode ignores configured brokers.
  Config explicit_standalone = parse_config(R"({"mode":"standalone","kafka":{"brokers":"127.0.0.1:9092"}})");
  finalize_config(explicit_standalone);
  EXPECT_EQ(explicit_standalone.mode, Mode::kStandalone);
}

TEST(Config, FinalizeRejectsInconsistentSettings) {
  EXPECT_EQ(finalize_error(parse_config(R"({"mode":"replica"})")),
            "config key 'kafka.brokers': is required in replica mode");
  EXPECT_EQ(finalize_error(parse_config(R"({"mode":"shared"})")),
            "config key 'kafka.brokers': is required in shared mode");
  EXPECT_EQ(finalize_error(parse_config(R"({"node_id":""})")), "config key 'node_id': must be 1 to 64 characters");
  EXPECT_EQ(finalize_error(parse_config(R"({"node_id":")" + std::string(65, 'n') + "\"}")),
            "config key 'node_id': must be 1 to 64 characters");
  EXPECT_EQ(finalize_error(parse_config(R"({"node_id":"node 1"})")),
            "config key 'node_id': may contain only letters, digits, '-', '_' and '.'");
  EXPECT_EQ(finalize_error(parse_config(R"({"database":{"path":""}})")),
            "config key 'database.path': must not be empty");
  EXPECT_EQ(finalize_error(parse_config(R"({"auth":{"write_tokens":["short"]}})")),
            "config key 'auth.write_tokens': tokens must be at least 16 characters");
  EXPECT_EQ(finalize_error(parse_config(R"({"node_id":"n-1_a.b"})")), "");
  EXPECT_EQ(finalize_error(parse_config(R"({"kafka":{"replication_factor":2,"min_insync_replicas":3}})")),
            "config key 'kafka.min_insync_replicas': is 3, more than kafka.replication_factor (2): the broker "
            "would refuse every write");
}

TEST(Config, MinInsyncReplicasDefaultsToTwoFromAReplicationFactorOfThree) {
  for (auto [json, expected] : {std::pair<const char*, int>{R"({})", 1},
                                {R"({"kafka":{"replication_factor":2}})", 1},
                                {R"({"kafka":{"replication_factor":3}})", 2},
                                {R"({"kafka":{"replication_factor":5}})", 2},
                                {R"({"kafka":{"replication_factor":3,"min_insync_replicas":3}})", 3}}) {
    Config c = parse_config(json);
    finalize_config(c);
    EXPECT_EQ(c.kafka.min_insync_replicas, expected) << json;
  }
}

TEST(Config, ATokenNoClientCouldSendIsAnError) {
  for (const char* token : {"with space inside-0123", "tab\tinside-0123456", "non-ascii-\xc3\xa9-01234567"}) {
    Config c = parse_config("{}");
    c.auth.write_tokens = {token};
    try {
      finalize_config(c);
      FAIL() << "accepted " << token;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("auth.write_tokens"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("printable ASCII without spaces"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, BootstrapAndRetentionKeys) {
  Config defaults = parse_config("{}");
  EXPECT_TRUE(defaults.bootstrap.peers.empty());
  EXPECT_FALSE(defaults.bootstrap.when_behind);
  EXPECT_EQ(defaults.bootstrap.token, "");
  EXPECT_EQ(defaults.bootstrap.timeout_ms, 600000);
  EXPECT_EQ(defaults.kafka.retention_ms, -1);

  Config c = parse_config(R"({"kafka": {"brokers": "k:9092", "retention_ms": 604800000},
    "bootstrap": {"peers": ["http://10.0.0.1:8091", "http://node-2:8091/"], "when_behind": true,
                  "token": "tttttttttttttttt", "timeout_ms": 5000}})");
  EXPECT_EQ(c.kafka.retention_ms, 604800000);
  EXPECT_EQ(c.bootstrap.peers, (std::vector<std::string>{"http://10.0.0.1:8091", "http://node-2:8091/"}));
  EXPECT_TRUE(c.bootstrap.when_behind);
  EXPECT_EQ(c.bootstrap.token, "tttttttttttttttt");
  EXPECT_EQ(c.bootstrap.timeout_ms, 5000);
  EXPECT_EQ(finalize_error(c), "");

  apply_env(c, {{"CLUSTERLITE_BOOTSTRAP_PEERS", "http://a:1, http://b:2"},
                {"CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND", "false"},
                {"CLUSTERLITE_BOOTSTRAP_TOKEN", "uuuuuuuuuuuuuuuu"}});
  EXPECT_EQ(c.bootstrap.peers, (std::vector<std::string>{"http://a:1", "http://b:2"}));
  EXPECT_FALSE(c.bootstrap.when_behind);
  EXPECT_EQ(c.bootstrap.token, "uuuuuuuuuuuuuuuu");
}

TEST(Config, BadBootstrapAndRetentionValuesNameTheKey) {
  EXPECT_EQ(parse_error(R"({"kafka": {"retention_ms": 0}})"),
            "config key 'kafka.retention_ms': must be -1 (unlimited) or a positive number of ms");
  EXPECT_EQ(parse_error(R"({"kafka": {"retention_ms": -2}})"),
            "config key 'kafka.retention_ms': must be between -1 and 1152921504606846976");
  EXPECT_EQ(parse_error(R"({"bootstrap": {"peers": "http://a:1"}})"),
            "config key 'bootstrap.peers': must be an array of strings");
  EXPECT_EQ(parse_error(R"({"bootstrap": {"peer": []}})"), "config key 'bootstrap.peer': unknown key");
  EXPECT_EQ(parse_error(R"({"bootstrap": {"timeout_ms": 10}})"),
            "config key 'bootstrap.timeout_ms': must be between 1000 and 86400000");

  auto replica = [](const std::string& bootstrap) {
    return parse_config(R"({"kafka": {"brokers": "k:9092"}, "bootstrap": )" + bootstrap + "}");
  };
  EXPECT_EQ(finalize_error(replica(R"({"peers": ["https://a:1"]})")),
            "config key 'bootstrap.peers': each peer must be a node URL \"http://host:port\", not \"https://a:1\"");
  EXPECT_EQ(finalize_error(replica(R"({"when_behind": true})")),
            "config key 'bootstrap.when_behind': needs bootstrap.peers to copy a snapshot from");
  EXPECT_EQ(finalize_error(replica(R"({"peers": ["http://a:1"], "token": "has space"})")),
            "config key 'bootstrap.token': must be printable ASCII without spaces");
  Config shared = parse_config(R"({"mode": "shared", "kafka": {"brokers": "k:9092"},
                                   "bootstrap": {"peers": ["http://a:1"]}})");
  EXPECT_EQ(finalize_error(shared),
            "config key 'bootstrap.peers': only a replica-mode node bootstraps from a peer, not a shared-mode node");

  Config c;
  try {
    apply_env(c, {{"CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND", "yes"}});
    ADD_FAILURE() << "accepted CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND=yes";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "config key 'CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND': must be true or false");
  }
}
