// The clusterlite binary with broken, optional, disabled and configured
// plugins: each bad plugin stops start-up with one line on stderr naming the
// file and the reason; optional ones are skipped and the node serves; plugin
// settings from the config file change what the plugin accepts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "command.h"
#include "node_process.h"

namespace fs = std::filesystem;
using namespace clusterlite::test;

namespace {

const std::string kFixtures = CLUSTERLITE_FIXTURE_PLUGINS_DIR;

std::string fixture(const std::string& name) { return kFixtures + "/" + name + "/" + name + ".so"; }

// Writes a config using `plugins_json` as its plugins section into `dir` and
// runs the node with it. A node that starts instead of failing is killed
// after the timeout (and the result says timed_out).
CommandResult run_node(const TempDir& dir, const std::string& plugins_json) {
  std::string config = dir.path() + "/config.json";
  std::ofstream(config) << R"({"node_id":"n1","http":{"address":"127.0.0.1","port":0},)"
                        << R"("database":{"path":"db.sqlite"},"plugins":)" << plugins_json << "}";
  return run_command({clusterlite_binary(), "--config", config}, {}, std::chrono::seconds(10));
}

}  // namespace

struct FailureCase {
  const char* fixture;
  const char* reason;
};

class BrokenPlugin : public ::testing::TestWithParam<FailureCase> {};

TEST_P(BrokenPlugin, NodeExitsWithOneLineNamingTheFileAndTheReason) {
  auto [name, reason] = GetParam();
  TempDir dir;
  auto r = run_node(dir, R"({"directory":")" + kFixtures + "/" + name + R"("})");
  ASSERT_FALSE(r.timed_out) << "the node started with a broken plugin: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto err = lines(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0].rfind("clusterlite: plugin " + fixture(name) + ": ", 0), 0u) << err[0];
  EXPECT_NE(err[0].find(reason), std::string::npos) << err[0];
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite")) << "a node that refused to start created its database";
}

INSTANTIATE_TEST_SUITE_P(
    EachMode, BrokenPlugin,
    ::testing::Values(FailureCase{"abi_mismatch", "ABI version mismatch: plugin has 42, host expects 1"},
                      FailureCase{"no_abi_symbol", "missing symbol clusterlite_plugin_abi_version"},
                      FailureCase{"missing_factory", "missing symbol clusterlite_plugin_factory"},
                      FailureCase{"factory_throws", "factory threw: cannot reach the widget service"},
                      FailureCase{"factory_returns_null", "factory returned no object"},
                      FailureCase{"bad_table_name", "invalid table name \"Users!\""},
                      FailureCase{"not_a_library", "cannot load shared object"}),
    [](const auto& info) { return std::string(info.param.fixture); });

TEST(PluginStartup, MissingListedPluginStopsStartUp) {
  TempDir dir;
  auto r = run_node(dir, R"({"directory":")" + plugins_directory() + R"(","load":["users","ghost"]})");
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto err = lines(r.err);
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(err.back(), "clusterlite: plugin " + plugins_directory() + "/ghost.so: file not found");
}

TEST(PluginStartup, DuplicateTableStopsStartUp) {
  TempDir dir;
  fs::create_directory(dir.path() + "/plugins");
  fs::copy_file(plugins_directory() + "/users.so", dir.path() + "/plugins/users.so");
  fs::copy_file(fixture("duplicate_table"), dir.path() + "/plugins/duplicate_table.so");
  auto r = run_node(dir, R"({"directory":"plugins"})");
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto err = lines(r.err);
  ASSERT_FALSE(err.empty());
  // The relative directory resolves against the config file's directory.
  EXPECT_EQ(err.back(), "clusterlite: plugin " + dir.path() + "/plugins/users.so: duplicate table name \"users\" " +
                            "(already served by " + dir.path() + "/plugins/duplicate_table.so)");
}

TEST(PluginStartup, UnknownSettingStopsStartUp) {
  TempDir dir;
  auto r = run_node(dir, R"({"directory":")" + plugins_directory() +
                             R"(","load":["users"],"configure":{"users":{"settings":{"colour":"blue"}}}})");
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto err = lines(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0], "clusterlite: plugin " + plugins_directory() + "/users.so: factory threw: unknown setting: colour");
}

TEST(PluginStartup, OptionalBrokenPluginIsSkippedAndTheNodeServes) {
  // The users plugin from this build plus a broken optional one beside it.
  TempDir plugins;
  fs::copy_file(plugins_directory() + "/users.so", plugins.path() + "/users.so");
  fs::copy_file(fixture("factory_throws"), plugins.path() + "/factory_throws.so");
  NodeOptions options;
  options.extra_config = R"({"plugins":{"directory":")" + plugins.path() +
                         R"(","load":["factory_throws","users"],"configure":{"factory_throws":{"optional":true}}}})";
  NodeProcess node(options);
  EXPECT_NE(node.output().find(" warn [plugins] "), std::string::npos) << node.output();
  EXPECT_NE(node.output().find("factory_throws.so: factory threw: cannot reach the widget service (optional, skipped)"),
            std::string::npos)
      << node.output();
  EXPECT_EQ(node.request("GET", "/users").status, 200);
  EXPECT_EQ(node.stop(), 0);
}

TEST(PluginStartup, DisabledBrokenPluginIsNotLoaded) {
  TempDir plugins;
  fs::copy_file(plugins_directory() + "/users.so", plugins.path() + "/users.so");
  fs::copy_file(fixture("abi_mismatch"), plugins.path() + "/abi_mismatch.so");
  NodeOptions options;
  options.extra_config = R"({"plugins":{"directory":")" + plugins.path() +
                         R"(","load":["abi_mismatch","users"],"configure":{"abi_mismatch":{"enabled":false}}}})";
  NodeProcess node(options);
  EXPECT_EQ(node.output().find("ABI version mismatch"), std::string::npos) << node.output();
  EXPECT_EQ(node.request("GET", "/users").status, 200);
  EXPECT_EQ(node.stop(), 0);
}

TEST(PluginStartup, SettingFromTheConfigReachesTheUsersPlugin) {
  NodeOptions options;
  options.extra_config = R"({"plugins":{"configure":{"users":{"settings":{"max_name_length":5}}}}})";
  NodeProcess node(options);
  Headers json{{"Content-Type", "application/json"}};
  EXPECT_EQ(node.request("POST", "/users", json, R"({"name":"Alice","email":"alice@example.com"})").status, 201);
  auto r = node.request("POST", "/users", json, R"({"name":"Alice B","email":"alice.b@example.com"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("\"field\":\"name\""), std::string::npos) << r.body;
  EXPECT_EQ(node.stop(), 0);
}
