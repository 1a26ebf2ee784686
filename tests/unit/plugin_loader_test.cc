// Plugin loading in process, against real shared objects: the users plugin and
// one deliberately broken fixture per failure mode (tests/fixtures/plugins).
// The same failures seen through the clusterlite binary are in
// tests/integration/plugin_startup_test.cc.
#include "plugins/plugin_loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "node_process.h"
#include "plugins/registry.h"

namespace fs = std::filesystem;
using namespace clusterlite;

namespace {

const std::string kFixtures = CLUSTERLITE_FIXTURE_PLUGINS_DIR;

std::string fixture(const std::string& name) { return kFixtures + "/" + name + "/" + name + ".so"; }
std::string users_so() { return test::plugins_directory() + "/users.so"; }

// The PluginError load_plugin throws for `path`, or "" when it loads.
std::string load_error(const std::string& path) {
  rapidjson::Value settings(rapidjson::kObjectType);
  try {
    load_plugin(path, settings, "n1");
  } catch (const PluginError& e) {
    return e.what();
  }
  return "";
}

// A plugins section whose per-plugin entries are given as JSON text.
Config::Plugins plugins_config(const std::string& directory, const std::string& configure_json = "{}") {
  Config c = parse_config(R"({"plugins":{"directory":")" + directory + R"(","configure":)" + configure_json + "}}");
  return c.plugins;
}

// A directory holding copies of the given plugin files.
class PluginDir {
 public:
  explicit PluginDir(std::initializer_list<std::string> files) {
    for (auto& f : files) fs::copy_file(f, fs::path(dir_.path()) / fs::path(f).filename());
  }
  const std::string& path() const { return dir_.path(); }

 private:
  test::TempDir dir_;
};

// True when the shared object at `path` is mapped into this process.
// Whether the plugin of file `path` is mapped: the loader maps an in-memory
// copy of the file, named "memfd:clusterlite-plugin-<name>" in /proc/self/maps.
bool mapped(const std::string& path) {
  std::string copy = "/memfd:clusterlite-plugin-" + std::filesystem::path(path).stem().string() + " (deleted)";
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= copy.size() && line.compare(line.size() - copy.size(), copy.size(), copy) == 0) return true;
  return false;
}

std::vector<std::string> names(const std::vector<LoadedPlugin>& plugins) {
  std::vector<std::string> out;
  for (auto& p : plugins) out.push_back(p.name);
  return out;
}

}  // namespace

struct FailureCase {
  const char* fixture;
  const char* reason;
};

class PluginFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(PluginFailure, ThrowsOneLineNamingTheFileAndTheReason) {
  auto [name, reason] = GetParam();
  std::string error = load_error(fixture(name));
  EXPECT_EQ(error.rfind("plugin " + fixture(name) + ": ", 0), 0u) << error;
  EXPECT_NE(error.find(reason), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST_P(PluginFailure, LoadPluginsStopsAtIt) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  try {
    load_plugins(plugins_config(dir.path()), "n1");
    FAIL() << "load_plugins accepted " << name;
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/" + name + ".so: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

TEST_P(PluginFailure, OptionalPluginIsSkippedWithAWarning) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  ::testing::internal::CaptureStderr();
  auto loaded = load_plugins(plugins_config(dir.path(), R"({")" + std::string(name) + R"(":{"optional":true}})"), "n1");
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(names(loaded), std::vector<std::string>{"users"});
  EXPECT_NE(log.find(" warn [plugins] "), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(reason)), std::string::npos) << log;
  EXPECT_NE(log.find("(optional, skipped)"), std::string::npos) << log;
}

TEST_P(PluginFailure, DisabledPluginIsNotOpened) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  auto loaded = load_plugins(plugins_config(dir.path(), R"({")" + std::string(name) + R"(":{"enabled":false}})"), "n1");
  EXPECT_EQ(names(loaded), std::vector<std::string>{"users"});
}

INSTANTIATE_TEST_SUITE_P(
    EachMode, PluginFailure,
    ::testing::Values(FailureCase{"abi_mismatch", "ABI version mismatch: plugin has 42, host expects 1"},
                      FailureCase{"no_abi_symbol", "missing symbol clusterlite_plugin_abi_version"},
                      FailureCase{"missing_factory", "missing symbol clusterlite_plugin_factory"},
                      FailureCase{"factory_throws", "factory threw: cannot reach the widget service"},
                      FailureCase{"factory_returns_null", "factory returned no object"},
                      FailureCase{"bad_table_name", "invalid table name \"Users!\""},
                      FailureCase{"not_a_library", "cannot load shared object"}),
    [](const auto& info) { return std::string(info.param.fixture); });

TEST(PluginLoader, MissingFileIsNamed) {
  test::TempDir dir;
  std::string path = dir.path() + "/ghost.so";
  EXPECT_EQ(load_error(path), "plugin " + path + ": file not found");
}

TEST(PluginLoader, ConfiguredPluginWithoutFileIsAnError) {
  PluginDir dir{users_so()};
  try {
    load_plugins(plugins_config(dir.path(), R"({"ghost":{}})"), "n1");
    FAIL() << "a configured but absent plugin was accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() + "/ghost.so: configured but file not found");
  }
}

TEST(PluginLoader, ListedPluginWithoutFileIsAnError) {
  PluginDir dir{users_so()};
  Config::Plugins config = plugins_config(dir.path());
  config.load = std::vector<std::string>{"users", "ghost"};
  try {
    load_plugins(config, "n1");
    FAIL() << "a listed but absent plugin was accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() + "/ghost.so: file not found");
  }
}

TEST(PluginLoader, OptionalMissingPluginIsSkipped) {
  PluginDir dir{users_so()};
  Config::Plugins config = plugins_config(dir.path(), R"({"ghost":{"optional":true}})");
  config.load = std::vector<std::string>{"users", "ghost"};
  ::testing::internal::CaptureStderr();
  auto loaded = load_plugins(config, "n1");
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(names(loaded), std::vector<std::string>{"users"});
  EXPECT_NE(log.find("ghost.so not found (optional, skipped)"), std::string::npos) << log;
}

TEST(PluginLoader, DuplicateTableNameNamesBothFiles) {
  PluginDir dir{users_so(), fixture("duplicate_table")};
  try {
    load_plugins(plugins_config(dir.path()), "n1");
    FAIL() << "two plugins serving users were accepted";
  } catch (const PluginError& e) {
    // Files load in name order: duplicate_table.so first, then users.so.
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() +
                                         "/users.so: duplicate table name \"users\" (already served by " + dir.path() +
                                         "/duplicate_table.so)");
  }
}

TEST(PluginLoader, EveryLibraryInTheDirectoryLoadsByDefault) {
  PluginDir dir{users_so(), fixture("settings_echo")};
  std::ofstream(dir.path() + "/README.txt") << "not a plugin: no .so suffix\n";
  auto loaded = load_plugins(plugins_config(dir.path(), R"({"settings_echo":{"settings":{"table":"gadgets"}}})"), "n1");
  EXPECT_EQ(names(loaded), (std::vector<std::string>{"settings_echo", "users"}));
  EXPECT_EQ(loaded[0].table->table_name(), "gadgets");
}

TEST(PluginLoader, ExplicitLoadListRestrictsLoading) {
  PluginDir dir{users_so(), fixture("abi_mismatch"), fixture("factory_throws")};
  Config c = parse_config(R"({"plugins":{"directory":")" + dir.path() + R"(","load":["users"]}})");
  EXPECT_EQ(names(load_plugins(c.plugins, "n1")), std::vector<std::string>{"users"});
}

TEST(PluginLoader, SettingsAndNodeIdReachTheFactory) {
  PluginDir dir{fixture("settings_echo")};
  ::testing::internal::CaptureStderr();
  auto loaded = load_plugins(
      plugins_config(dir.path(), R"({"settings_echo":{"settings":{"table":"gadgets","greeting":"hello"}}})"), "n7");
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].table->table_name(), "gadgets");
  EXPECT_NE(log.find("[plugin settings_echo] greeting=hello node=n7"), std::string::npos) << log;
}

TEST(PluginLoader, FactoryRejectingItsSettingsIsAClearError) {
  PluginDir dir{users_so()};
  try {
    load_plugins(plugins_config(dir.path(), R"({"users":{"settings":{"colour":"blue"}}})"), "n1");
    FAIL() << "an unknown setting was accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() + "/users.so: factory threw: unknown setting: colour");
  }
  try {
    load_plugins(plugins_config(dir.path(), R"({"users":{"settings":{"max_name_length":"ten"}}})"), "n1");
    FAIL() << "an ill-typed setting was accepted";
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("factory threw: setting max_name_length must be an integer"),
              std::string::npos)
        << e.what();
  }
}

TEST(PluginLoader, UsersMaxNameLengthSettingTakesEffect) {
  PluginDir dir{users_so()};
  auto loaded = load_plugins(plugins_config(dir.path(), R"({"users":{"settings":{"max_name_length":5}}})"), "n1");
  ASSERT_EQ(loaded.size(), 1u);
  rapidjson::Document body;
  DatabaseEvent event;
  body.Parse(R"({"name":"Alice","email":"a@example.com"})");
  EXPECT_TRUE(loaded[0].table->create_event(body, event).ok());
  body.Parse(R"({"name":"Alice B","email":"a@example.com"})");
  Status s = loaded[0].table->create_event(body, event);
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_EQ(s.field(), "name");
}

TEST(PluginLoader, LibraryStaysLoadedWhileItsObjectLives) {
  PluginDir dir{users_so()};
  std::string so = dir.path() + "/users.so";
  std::shared_ptr<TableOperations> table;
  {
    PluginRegistry registry(load_plugins(plugins_config(dir.path()), "n1"));
    table = registry.current()->plugins().at(0).table;
  }
  // The registry and the LoadedPlugin are gone; the object's vtable and code
  // live in users.so, which must still be mapped.
  EXPECT_TRUE(mapped(so));
  EXPECT_EQ(table->table_name(), "users");
  DatabaseEvent event;
  EXPECT_TRUE(table->delete_event("abc", event).ok());
  EXPECT_EQ(event.operation, Operation::kDelete);
  EXPECT_EQ(event.entity_id(), "abc");
  // The last reference unloads the library after destroying the object.
  table.reset();
  EXPECT_FALSE(mapped(so));
}

TEST(PluginLoader, ConfiguredPluginMissingFromTheLoadListIsAnError) {
  PluginDir dir{users_so(), fixture("settings_echo")};
  Config c = parse_config(R"({"plugins":{"directory":")" + dir.path() +
                          R"(","load":["users"],"configure":{"settings_echo":{"settings":{"table":"t"}}}}})");
  try {
    load_plugins(c.plugins, "n1");
    FAIL() << "a configured plugin left out of plugins.load was accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()),
              "plugin " + dir.path() + "/settings_echo.so: configured but not listed in plugins.load");
  }
}

TEST(PluginLoader, NotASharedObjectIsRefusedBeforeLoading) {
  std::string path = fixture("not_a_library");
  EXPECT_EQ(load_error(path), "plugin " + path + ": not an ELF shared object");
}
