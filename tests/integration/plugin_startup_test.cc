// The clusterlite binary with broken, optional, disabled, configured and
// legacy plugins: each bad plugin stops start-up and fails --check-config
// with one line on stderr naming the file and the reason, and exit status 1
// (never a crash), also when it is optional: `optional` covers a missing file
// only, which the node skips. Plugin settings from the config file change what
// the plugin accepts, and a plugin built for ABI 1 still serves its table.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>

#include "command.h"
#include "../fixtures/plugins/refusals.h"
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

// The same config, checked with --check-config instead of run.
CommandResult check_config(const TempDir& dir, const std::string& plugins_json) {
  std::string config = dir.path() + "/config.json";
  std::ofstream(config) << R"({"node_id":"n1","http":{"address":"127.0.0.1","port":0},)"
                        << R"("database":{"path":"db.sqlite"},"plugins":)" << plugins_json << "}";
  return run_command({clusterlite_binary(), "--check-config", "--config", config}, {}, std::chrono::seconds(10));
}

// Expects `r` to be a refusal: exit status 1 (not a signal, not a hang), and
// `line` the one line on stderr.
void expect_refused(const CommandResult& r, const std::string& line) {
  ASSERT_FALSE(r.timed_out) << "it started instead of refusing: " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, line + "\n");
}


}  // namespace

using FailureCase = fixture_plugins::Refusal;

class BrokenPlugin : public ::testing::TestWithParam<FailureCase> {};

TEST_P(BrokenPlugin, NodeExitsWithOneLineNamingTheFileAndTheReason) {
  auto [name, reason] = GetParam();
  TempDir dir;
  auto r = run_node(dir, R"({"directory":")" + kFixtures + "/" + name + R"("})");
  expect_refused(r, "clusterlite: plugin " + fixture(name) + ": " + reason);
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite")) << "a node that refused to start created its database";
}

TEST_P(BrokenPlugin, OptionalDoesNotLetTheNodeStart) {
  auto [name, reason] = GetParam();
  TempDir dir;
  auto r = run_node(dir, R"({"directory":")" + kFixtures + "/" + name + R"(","configure":{")" + name +
                             R"(":{"optional":true}}})");
  expect_refused(r, "clusterlite: plugin " + fixture(name) + ": " + reason);
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite")) << "a node that refused to start created its database";
}

TEST_P(BrokenPlugin, CheckConfigFailsWithTheSameLine) {
  auto [name, reason] = GetParam();
  TempDir dir;
  auto r = check_config(dir, R"({"directory":")" + kFixtures + "/" + name + R"(","configure":{")" + name +
                                 R"(":{"optional":true}}})");
  expect_refused(r, "clusterlite: plugin " + fixture(name) + ": " + reason);
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(EachMode, BrokenPlugin, ::testing::ValuesIn(fixture_plugins::refusals()),
    [](const auto& info) { return std::string(info.param.fixture); });

// Anything named *.so in the plugins directory is a plugin: a directory or a
// dangling symbolic link of that name stops start-up, optional or not.
TEST(PluginStartup, DirectoryNamedLikeAPluginStopsStartUpAndFailsCheckConfig) {
  TempDir dir;
  fs::create_directories(dir.path() + "/plugins/x.so");
  std::string line = "clusterlite: plugin " + dir.path() + "/plugins/x.so: is a directory, not a shared object";
  expect_refused(run_node(dir, R"({"directory":"plugins"})"), line);
  expect_refused(check_config(dir, R"({"directory":"plugins"})"), line);
  expect_refused(check_config(dir, R"({"directory":"plugins","configure":{"x":{"optional":true}}})"), line);
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite"));
}

TEST(PluginStartup, DanglingSymbolicLinkStopsStartUpAndFailsCheckConfig) {
  TempDir dir;
  fs::create_directory(dir.path() + "/plugins");
  fs::create_symlink(dir.path() + "/releases/y-2.so", dir.path() + "/plugins/y.so");
  std::string line = "clusterlite: plugin " + dir.path() + "/plugins/y.so: symbolic link to " + dir.path() +
                     "/releases/y-2.so, which does not exist";
  expect_refused(run_node(dir, R"({"directory":"plugins"})"), line);
  expect_refused(check_config(dir, R"({"directory":"plugins"})"), line);
  expect_refused(check_config(dir, R"({"directory":"plugins","configure":{"y":{"optional":true}}})"), line);
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite"));
}

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

// `optional` is no excuse for a plugin that is there and refuses its settings.
TEST(PluginStartup, OptionalPluginWithABadSettingStopsStartUp) {
  TempDir dir;
  std::string plugins = R"({"directory":")" + plugins_directory() + R"(","load":["users"],)" +
                        R"("configure":{"users":{"optional":true,"settings":{"max_name_length":"x"}}}})";
  std::string line = "clusterlite: plugin " + plugins_directory() +
                     "/users.so: factory threw: setting max_name_length must be an integer from 1 to 100000";
  expect_refused(check_config(dir, plugins), line);
  expect_refused(run_node(dir, plugins), line);
  EXPECT_FALSE(fs::exists(dir.path() + "/db.sqlite"));
}

TEST(PluginStartup, OptionalPluginMissingItsRequiredSettingStopsStartUp) {
  TempDir dir;
  std::string plugins = R"({"directory":")" + kFixtures + R"(/settings_echo",)" +
                        R"("configure":{"settings_echo":{"optional":true,"settings":{"greeting":"hi"}}}})";
  std::string line =
      "clusterlite: plugin " + fixture("settings_echo") + ": factory threw: setting \"table\" (string) is required";
  expect_refused(check_config(dir, plugins), line);
  expect_refused(run_node(dir, plugins), line);
}

TEST(PluginStartup, OptionalBrokenPluginBesideAGoodOneStopsStartUp) {
  TempDir dir;
  fs::create_directory(dir.path() + "/plugins");
  fs::copy_file(plugins_directory() + "/users.so", dir.path() + "/plugins/users.so");
  fs::copy_file(fixture("factory_throws"), dir.path() + "/plugins/factory_throws.so");
  auto r = run_node(dir, R"({"directory":"plugins","load":["factory_throws","users"],)"
                         R"("configure":{"factory_throws":{"optional":true}}})");
  expect_refused(r, "clusterlite: plugin " + dir.path() +
                        "/plugins/factory_throws.so: factory threw: cannot reach the widget service");
}

// A missing file is what `optional` is for: the node starts without it.
TEST(PluginStartup, OptionalMissingPluginIsSkippedAndTheNodeServes) {
  TempDir dir;
  std::string plugins = R"({"directory":")" + plugins_directory() +
                        R"(","load":["users","ghost"],"configure":{"ghost":{"optional":true}}})";
  auto check = check_config(dir, plugins);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(" 1 plugin(s): users(users, version 1)\n"), std::string::npos) << check.out;
  EXPECT_NE(check.err.find("ghost.so not found (optional, skipped)"), std::string::npos) << check.err;

  NodeOptions options;
  options.extra_config = R"({"plugins":)" + plugins + "}";
  NodeProcess node(options);
  EXPECT_NE(node.output().find("plugin " + plugins_directory() + "/ghost.so not found (optional, skipped)"),
            std::string::npos)
      << node.output();
  EXPECT_EQ(node.request("GET", "/users").status, 200);
  EXPECT_EQ(node.stop(), 0);
}

// A plugin built against the ABI 1 headers, before plugins had versions,
// loads as version 0 and serves its table through the real node.
TEST(PluginStartup, PluginOfAbi1StillServes) {
  TempDir plugins;
  fs::copy_file(plugins_directory() + "/users.so", plugins.path() + "/users.so");
  fs::copy_file(fixture("abi1_legacy"), plugins.path() + "/abi1_legacy.so");
  std::string section = R"({"directory":")" + plugins.path() + R"(","load":["abi1_legacy","users"]})";

  TempDir dir;
  auto check = check_config(dir, section);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(" 2 plugin(s): abi1_legacy(legacy_notes, version 0) users(users, version 1)\n"),
            std::string::npos)
      << check.out;

  NodeOptions options;
  options.extra_config = R"({"plugins":)" + section + "}";
  NodeProcess node(options);
  Headers json{{"Content-Type", "application/json"}};
  auto created = node.request("POST", "/legacy_notes", json, R"({"title":"from an old plugin"})");
  ASSERT_EQ(created.status, 201) << created.body;
  rapidjson::Document doc;
  doc.Parse(created.body.c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("id") && doc["id"].IsString()) << created.body;
  std::string id = doc["id"].GetString();
  EXPECT_NE(created.body.find(R"("title":"from an old plugin")"), std::string::npos) << created.body;
  auto updated = node.request("PUT", "/legacy_notes/" + id, json, R"({"title":"still served"})");
  EXPECT_EQ(updated.status, 200) << updated.body;
  auto got = node.request("GET", "/legacy_notes/" + id);
  EXPECT_EQ(got.status, 200);
  EXPECT_NE(got.body.find(R"("title":"still served")"), std::string::npos) << got.body;
  auto refused = node.request("POST", "/legacy_notes", json, R"({"title":""})");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(node.request("DELETE", "/legacy_notes/" + id).status, 204);
  EXPECT_EQ(node.request("GET", "/legacy_notes/" + id).status, 404);
  // It has no query(): only the id order, which /_schema says.
  auto newest = node.request("GET", "/legacy_notes?order=-id");
  EXPECT_EQ(newest.status, 400) << newest.body;
  EXPECT_NE(newest.body.find(R"("field":"order")"), std::string::npos) << newest.body;
  EXPECT_EQ(node.request("GET", "/legacy_notes?order=id").status, 200);
  EXPECT_NE(node.request("GET", "/_schema").body.find(R"("table":"legacy_notes","plugin":"abi1_legacy","version":0,"schema_sha256":"","schema":null,"filters":[],"search":[],"orders":["id"])"),
            std::string::npos);
  EXPECT_EQ(node.request("GET", "/users").status, 200);
  EXPECT_EQ(node.stop(), 0) << node.output();
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
