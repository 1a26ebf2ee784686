// The clusterlite command line: --help, --version, --check-config, unknown
// flags, and configuration errors reported before anything starts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "command.h"
#include "node_process.h"

namespace fs = std::filesystem;
using namespace clusterlite::test;

namespace {

const std::string kSourceDir = CLUSTERLITE_TEST_SOURCE_DIR;

CommandResult run_clusterlite(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv{clusterlite_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, std::chrono::seconds(10));
}

}  // namespace

TEST(Cli, HelpListsTheFlags) {
  auto r = run_clusterlite({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"Usage: clusterlite", "--config FILE", "--check-config", "--help", "--version",
                           "--rebuild-to OUT.db", "--until TIME|P:O,...",
                           "CLUSTERLITE_HTTP_PORT", "CLUSTERLITE_WRITE_TOKENS", "docs/configuration.md"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from:\n" << r.out;
}

// --rebuild-to and --until: a usage error is one line and exit status 2,
// before any configuration is read or file written.
TEST(Cli, RebuildUsageErrorsExitTwo) {
  TempDir dir;
  const std::string out = dir.path() + "/out.db";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--rebuild-to", out}, "clusterlite: --rebuild-to needs --until TIME|P:O,..."},
      {{"--until", "0:1"}, "clusterlite: --until needs --rebuild-to OUT.db"},
      {{"--rebuild-to", out, "--until", "last tuesday"}, "clusterlite: --until 'last tuesday': not an RFC 3339 time"},
      {{"--rebuild-to", out, "--until="}, "clusterlite: --until needs a value"},
      {{"--rebuild-to=", "--until", "0:1"}, "clusterlite: --rebuild-to needs a file name"},
      {{"--rebuild-to", out, "--until", "0:1", "--check-config"}, "cannot be combined with --check-config"},
      {{"--config", dir.path() + "/missing.json", "--rebuild-to", out, "--until", "0:1,0:2"},
       "partition 0 is named twice"},
  };
  for (auto& [args, expected] : cases) {
    auto r = run_clusterlite(args);
    EXPECT_EQ(r.exit_code, 2) << expected;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, VersionIsTheProjectVersion) {
  auto r = run_clusterlite({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "clusterlite " CLUSTERLITE_TEST_VERSION "\n");
}

TEST(Cli, UnknownFlagExitsTwo) {
  auto r = run_clusterlite({"--verbose"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: unknown argument '--verbose' (see --help)\n");
  EXPECT_EQ(run_clusterlite({"--config"}).exit_code, 2) << "--config without a file";
}

TEST(Cli, CheckConfigSummarisesTheShippedStandaloneConfig) {
  std::string db = kSourceDir + "/var/standalone/clusterlite.db";
  bool db_existed = fs::exists(db);
  auto r = run_clusterlite({"--check-config", "--config", kSourceDir + "/config/standalone.json"},
                           {{"CLUSTERLITE_PLUGINS_DIR", plugins_directory()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "config OK: node standalone-1, standalone mode, database " + db +
                       ", 1 plugin(s): users(users, version 1)\n");
  EXPECT_EQ(fs::exists(db), db_existed) << "--check-config must not create the database";
}

// config/declared-tables.json: users and a products table the schema plugin
// serves from the declaration in the file (docs/entities.md).
TEST(Cli, CheckConfigSummarisesTheShippedDeclaredTablesConfig) {
  std::string db = kSourceDir + "/var/declared-tables/clusterlite.db";
  bool db_existed = fs::exists(db);
  auto r = run_clusterlite({"--check-config", "--config", kSourceDir + "/config/declared-tables.json"},
                           {{"CLUSTERLITE_PLUGINS_DIR", plugins_directory()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "config OK: node standalone-1, standalone mode, database " + db +
                       ", 2 plugin(s): schema(products, version 1) users(users, version 1)\n");
  EXPECT_EQ(fs::exists(db), db_existed) << "--check-config must not create the database";
}

// A declaration the schema plugin cannot serve: one line naming the plugin
// file, the table and the keyword, exit status 1.
TEST(Cli, CheckConfigRefusesABadDeclarationWithOneLine) {
  TempDir dir;
  std::ofstream(dir.path() + "/c.json") << R"({"node_id": "n1", "database": {"path": "db.sqlite"},
    "plugins": {"configure": {"schema": {"settings": {"tables": {"products": {
      "properties": {"sku": {"type": "string"}}, "oneOf": [{"required": ["sku"]}]}}}}}}})";
  auto r = run_clusterlite({"--check-config", "--config", dir.path() + "/c.json"},
                           {{"CLUSTERLITE_PLUGINS_DIR", plugins_directory()}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "clusterlite: plugin " + plugins_directory() +
                       "/schema.so: factory threw: table products: unsupported keyword \"oneOf\"\n");
}

// A config that parses but names a plugin the node cannot load: exit status 1
// (2 is for the config itself), nothing on stdout, one line on stderr naming
// the file and why; never a crash, even for a plugin that would corrupt the
// heap if it were called (the old std::string ABI). The other refusals are in
// plugin_startup_test.cc (BrokenPlugin.CheckConfigFailsWithTheSameLine).
TEST(Cli, CheckConfigWithAPluginItCannotLoadExitsOne) {
  TempDir dir;
  std::ofstream(dir.path() + "/c.json") << R"({"node_id":"n1","database":{"path":"db.sqlite"}})";
  std::string plugins = std::string(CLUSTERLITE_FIXTURE_PLUGINS_DIR) + "/old_string_abi";
  auto r = run_clusterlite({"--check-config", "--config", dir.path() + "/c.json"},
                           {{"CLUSTERLITE_PLUGINS_DIR", plugins}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "clusterlite: plugin " + plugins +
                       "/old_string_abi.so: built with the old std::string ABI (_GLIBCXX_USE_CXX11_ABI=0); this node "
                       "uses the C++11 std::string ABI (_GLIBCXX_USE_CXX11_ABI=1) (rebuild it without "
                       "-D_GLIBCXX_USE_CXX11_ABI)\n");
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite")) << "--check-config must not create the database";
}

TEST(Cli, CheckConfigAppliesEnvironmentOverrides) {
  TempDir dir;
  std::ofstream(dir.path() + "/c.json") << R"({"node_id":"file","database":{"path":"db.sqlite"}})";
  auto r = run_clusterlite({"--config", dir.path() + "/c.json", "--check-config"},
                           {{"CLUSTERLITE_PLUGINS_DIR", plugins_directory()},
                            {"CLUSTERLITE_NODE_ID", "env-node"},
                            {"CLUSTERLITE_DB_PATH", dir.path() + "/other.db"},
                            {"CLUSTERLITE_KAFKA_BROKERS", "127.0.0.1:1"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("node env-node, replica mode, database " + dir.path() + "/other.db"), std::string::npos)
      << r.out;
}

TEST(Cli, BadConfigNamesTheKeyAndExitsTwo) {
  TempDir dir;
  std::string path = dir.path() + "/bad.json";
  std::ofstream(path) << R"({"http": {"port": "8082"}})";
  auto r = run_clusterlite({"--check-config", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: " + path + ": config key 'http.port': must be an integer\n");

  std::ofstream(path) << R"({"http": {"prot": 8082}})";
  r = run_clusterlite({"--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: " + path + ": config key 'http.prot': unknown key\n");

  r = run_clusterlite({"--check-config", "--config", dir.path() + "/absent.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: cannot read config file " + dir.path() + "/absent.json\n");
}

TEST(Cli, InvalidEnvironmentOverrideExitsTwo) {
  auto r = run_clusterlite({"--check-config"}, {{"CLUSTERLITE_HTTP_PORT", "eighty"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: config key 'CLUSTERLITE_HTTP_PORT': must be a port number\n");
}

TEST(Cli, ReplicaModeWithoutBrokersExitsTwo) {
  auto r = run_clusterlite({"--check-config"}, {{"CLUSTERLITE_MODE", "replica"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "clusterlite: config key 'kafka.brokers': is required in replica mode\n");
}

// A database file belongs to one node (outside shared mode): a second node
// started on it, by mistake or by a launcher that lost track of the first,
// must stop before it applies anything, and leave the first serving.
TEST(Cli, SecondNodeOnTheSameDatabaseExitsAndChangesNothing) {
  NodeProcess first;
  auto created = first.request("POST", "/users", {{"Content-Type", "application/json"}},
                               R"({"name":"Ada Lock","email":"ada.lock@example.com"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto before = first.request("GET", "/_cluster/checksum/users");
  ASSERT_EQ(before.status, 200);

  // The same config: same database, same port; the database is checked first.
  auto r = run_clusterlite({"--config", first.config_path()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("database " + first.db_path() + " is in use by another ClusterLite node (pid " +
                       std::to_string(first.pid()) + ")"),
            std::string::npos)
      << r.err;

  ASSERT_TRUE(first.alive());
  EXPECT_EQ(first.request("GET", "/_cluster/checksum/users").body, before.body);
  EXPECT_EQ(first.stop(), 0) << first.output();

  // Once the first node is gone the database is free again.
  NodeOptions again;
  again.extra_config = R"({"database": {"path": ")" + first.db_path() + R"("}})";
  NodeProcess second(again);
  EXPECT_EQ(second.request("GET", "/_cluster/checksum/users").body, before.body);
}
