// Plugin loading in process, against real shared objects: the users plugin,
// one deliberately broken fixture per refusal (tests/fixtures/plugins) and a
// plugin built against the ABI 1 headers, which must keep loading. Every
// refusal is one line, "plugin <path>: <reason>", and leaves this process
// running with nothing of the plugin mapped. The same refusals seen through
// the clusterlite binary are in tests/integration/plugin_startup_test.cc and
// tests/integration/cli_test.cc.
#include "plugins/plugin_loader.h"
#include "../fixtures/plugins/refusals.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "apply/applier.h"
#include "eventlog/embedded_log.h"
#include "eventlog/event_codec.h"
#include "node_process.h"
#include "plugins/registry.h"
#include "store/store.h"

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

using FailureCase = fixture_plugins::Refusal;

class PluginFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(PluginFailure, ThrowsOneLineNamingTheFileAndTheReason) {
  auto [name, reason] = GetParam();
  std::string error = load_error(fixture(name));
  EXPECT_EQ(error, "plugin " + fixture(name) + ": " + reason);
  // Refused and unloaded again: nothing of it stays mapped.
  EXPECT_FALSE(mapped(fixture(name)));
}

TEST_P(PluginFailure, LoadPluginsStopsAtIt) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  try {
    load_plugins(plugins_config(dir.path()), "n1");
    FAIL() << "load_plugins accepted " << name;
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() + "/" + name + ".so: " + reason);
  }
}

// `optional` covers a missing file only: a plugin that is there and fails is
// an error like any other, named the same way.
TEST_P(PluginFailure, OptionalDoesNotSkipIt) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  ::testing::internal::CaptureStderr();
  try {
    load_plugins(plugins_config(dir.path(), R"({")" + std::string(name) + R"(":{"optional":true}})"), "n1");
    ::testing::internal::GetCapturedStderr();
    FAIL() << "load_plugins skipped or accepted the optional " << name;
  } catch (const PluginError& e) {
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(std::string(e.what()), "plugin " + dir.path() + "/" + name + ".so: " + reason);
    EXPECT_EQ(log.find("(optional, skipped)"), std::string::npos) << log;
  }
}

TEST_P(PluginFailure, DisabledPluginIsNotOpened) {
  auto [name, reason] = GetParam();
  PluginDir dir{users_so(), fixture(name)};
  auto loaded = load_plugins(plugins_config(dir.path(), R"({")" + std::string(name) + R"(":{"enabled":false}})"), "n1");
  EXPECT_EQ(names(loaded), std::vector<std::string>{"users"});
}

INSTANTIATE_TEST_SUITE_P(EachMode, PluginFailure, ::testing::ValuesIn(fixture_plugins::refusals()),
    [](const auto& info) { return std::string(info.param.fixture); });

// Anything named *.so in the plugins directory is a plugin to load: a
// directory or a dangling symbolic link of that name is refused with its
// reason (optional or not), never passed over.
class OddFile : public ::testing::Test {
 protected:
  // `name`.so in dir_ beside users.so: a directory, or a link to a file that does not exist.
  std::string make_directory(const std::string& name) {
    std::string path = dir_.path() + "/" + name + ".so";
    fs::create_directory(path);
    return path;
  }
  std::string make_dangling_link(const std::string& name, const std::string& target) {
    std::string path = dir_.path() + "/" + name + ".so";
    fs::create_symlink(target, path);
    return path;
  }
  std::string load_plugins_error(const std::string& configure_json = "{}") {
    try {
      load_plugins(plugins_config(dir_.path(), configure_json), "n1");
    } catch (const PluginError& e) {
      return e.what();
    }
    return "";
  }
  PluginDir dir_{users_so()};
};

TEST_F(OddFile, DirectoryNamedLikeAPluginIsRefused) {
  std::string path = make_directory("x");
  std::string expected = "plugin " + path + ": is a directory, not a shared object";
  EXPECT_EQ(load_error(path), expected);
  EXPECT_EQ(load_plugins_error(), expected);
  EXPECT_EQ(load_plugins_error(R"({"x":{"optional":true}})"), expected);
}

TEST_F(OddFile, DanglingSymbolicLinkIsRefusedNamingItsTarget) {
  std::string target = dir_.path() + "/builds/y-1.0.so";
  std::string path = make_dangling_link("y", target);
  std::string expected = "plugin " + path + ": symbolic link to " + target + ", which does not exist";
  EXPECT_EQ(load_error(path), expected);
  EXPECT_EQ(load_plugins_error(), expected);
  EXPECT_EQ(load_plugins_error(R"({"y":{"optional":true}})"), expected);
}

TEST_F(OddFile, RelativeDanglingLinkIsNamedAsWritten) {
  std::string path = make_dangling_link("y", "../gone/y.so");
  EXPECT_EQ(load_error(path), "plugin " + path + ": symbolic link to ../gone/y.so, which does not exist");
}

TEST_F(OddFile, SymbolicLinkToAPluginLoads) {
  fs::create_symlink(fixture("settings_echo"), dir_.path() + "/echo.so");
  auto loaded = load_plugins(plugins_config(dir_.path(), R"({"echo":{"settings":{"table":"echoes"}}})"), "n1");
  EXPECT_EQ(names(loaded), (std::vector<std::string>{"echo", "users"}));
  EXPECT_EQ(loaded[0].table_name, "echoes");
}

// The fixtures of the std::string ABI refusals are what they claim: the ABI 2
// one says string ABI 0 in its metadata, and the ABI 1 one (no metadata)
// imports old std::string symbols, the only sign the loader has of it. Called
// into, both abort the process with "free(): invalid pointer".
TEST(PluginLoader, OldStringAbiFixturesAreOld) {
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string kOldString("\0_ZNSs", 6);
  EXPECT_NE(bytes(fixture("abi1_old_string_abi")).find(kOldString), std::string::npos);
  EXPECT_NE(bytes(fixture("old_string_abi")).find(kOldString), std::string::npos);
  EXPECT_EQ(bytes(fixture("abi1_legacy")).find(kOldString), std::string::npos);
  EXPECT_EQ(bytes(users_so()).find(kOldString), std::string::npos);
}

TEST(PluginLoader, ElfFileThatIsNotASharedObjectIsRefused) {
  // A plugin's bytes with e_type ET_REL: what an object file renamed to .so looks like.
  test::TempDir dir;
  std::string path = dir.path() + "/object.so";
  fs::copy_file(fixture("settings_echo"), path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);  // e_type, little-endian on the machines this runs on
    f.put(static_cast<char>(1)).put(static_cast<char>(0));
  }
  EXPECT_EQ(load_error(path),
            "plugin " + path + ": an ELF file but not a shared object (build it as a MODULE or SHARED library)");
}

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

// A plugin built against the ABI 1 headers (tests/fixtures/plugins/abi1) keeps
// loading: as version 0, with its settings, log and table working.
TEST(LegacyPlugin, Abi1PluginLoadsAsVersion0) {
  PluginDir dir{users_so(), fixture("abi1_legacy")};
  ::testing::internal::CaptureStderr();
  auto loaded = load_plugins(plugins_config(dir.path()), "n9");
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(names(loaded), (std::vector<std::string>{"abi1_legacy", "users"}));
  const LoadedPlugin& legacy = loaded[0];
  EXPECT_EQ(legacy.abi, 1);
  EXPECT_EQ(legacy.version, 0);
  EXPECT_EQ(legacy.table_name, "legacy_notes");
  EXPECT_EQ(legacy.path, dir.path() + "/abi1_legacy.so");
  EXPECT_EQ(legacy.sha256.size(), 64u);
  EXPECT_EQ(loaded[1].abi, 3);
  EXPECT_EQ(loaded[1].version, 1);
  EXPECT_NE(log.find("[plugin abi1_legacy] legacy plugin of ABI 1 on node n9"), std::string::npos) << log;
  EXPECT_NE(log.find("abi1_legacy.so serving table legacy_notes (version 0, sha256 "), std::string::npos) << log;
}

// A plugin built against the ABI 2 headers (tests/fixtures/plugins/abi2),
// before queries: it loads with its version, is never asked for
// query_fields() (its vtable has no such slot), and pages with get_all.
TEST(LegacyPlugin, Abi2PluginLoadsWithoutQueries) {
  PluginDir dir{users_so(), fixture("abi2_legacy")};
  ::testing::internal::CaptureStderr();
  auto loaded = load_plugins(plugins_config(dir.path()), "n9");
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(names(loaded), (std::vector<std::string>{"abi2_legacy", "users"}));
  const LoadedPlugin& legacy = loaded[0];
  EXPECT_EQ(legacy.abi, 2);
  EXPECT_EQ(legacy.version, 1);
  EXPECT_EQ(legacy.table_name, "abi2_notes");
  EXPECT_TRUE(legacy.fields.filters.empty() && legacy.fields.search.empty() && legacy.fields.sorts.empty());
  EXPECT_EQ(loaded[1].fields.filters, (std::vector<std::string>{"email", "name"}));
  test::TempDir db_dir;
  SQLite::Database db(db_dir.path() + "/a.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  legacy.table->prepare_table(db, std::nullopt);
  EXPECT_TRUE(legacy.table->get_all(db, "", 10).empty());
}

TEST(LegacyPlugin, Abi1PluginRefusingItsSettingsIsAClearError) {
  PluginDir dir{fixture("abi1_legacy")};
  try {
    load_plugins(plugins_config(dir.path(), R"({"abi1_legacy":{"settings":{"colour":"blue"}}})"), "n1");
    FAIL() << "an unknown setting was accepted";
  } catch (const PluginError& e) {
    EXPECT_EQ(std::string(e.what()),
              "plugin " + dir.path() + "/abi1_legacy.so: factory threw: unknown setting: colour");
  }
}

TEST(LegacyPlugin, Abi1PluginBuildsEventsAndTheApplierAppliesThem) {
  test::TempDir dir;
  std::string path = dir.path() + "/legacy.db";
  Store store(path, 5000, 2);
  EmbeddedLog log(path, 5000);
  static const rapidjson::Value kNoSettings(rapidjson::kObjectType);
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(load_plugin(fixture("abi1_legacy"), kNoSettings, "n1"));
  PluginRegistry registry(std::move(plugins));
  std::shared_ptr<TableOperations> table = registry.current()->find("legacy_notes")->table;
  Applier applier(store, registry, log, 100, nullptr);
  // ABI 1 has no prepare_table: start() must make the table with create_table.
  applier.start();

  // The events as the host builds them: the plugin sets operation and data,
  // the host the id, table and timestamp (and the version, 0 here).
  auto append = [&](DatabaseEvent& event, const std::string& id, const std::string& timestamp) {
    event.id = id;
    event.table_name = "legacy_notes";
    event.timestamp = timestamp;
    event.plugin_version = 0;
    std::promise<AppendResult> done;
    log.append("legacy_notes", encode_event(event), [&done](const AppendResult& r) { done.set_value(r); });
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_TRUE(f.get().ok);
  };
  rapidjson::Document body;
  body.Parse(R"({"title":"written by a plugin of ABI 1"})");
  DatabaseEvent created;
  ASSERT_TRUE(table->create_event(body, created).ok());
  EXPECT_EQ(created.operation, Operation::kInsert);
  std::string id(created.entity_id());
  ASSERT_EQ(id.size(), 32u);
  append(created, "ev-1", "2026-01-02T03:04:05.000000Z");
  body.Parse(R"({"title":"and updated"})");
  DatabaseEvent updated;
  ASSERT_TRUE(table->update_event(id, body, updated).ok());
  append(updated, "ev-2", "2026-01-02T03:04:06.000000Z");
  body.Parse(R"({"title":7})");
  DatabaseEvent refused;
  Status invalid = table->create_event(body, refused);
  EXPECT_EQ(invalid.code(), StatusCode::kInvalid);
  EXPECT_EQ(invalid.field(), "title");

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto applied = applier.applied();
    if (applied.count(0) && applied[0] >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  applier.stop();
  EXPECT_EQ(applier.stats().applied, 2u);
  EXPECT_EQ(applier.stats().rejected, 0u);
  EXPECT_EQ(applier.stats().held, 0u);

  {
    auto db = open_connection(path, true, 1000);
    EXPECT_EQ(table->get(*db, id), R"({"id":")" + id +
                                       R"(","title":"and updated","created_at":"2026-01-02T03:04:05.000000Z",)"
                                       R"("updated_at":"2026-01-02T03:04:06.000000Z"})");
    auto rows = table->get_all(*db, "", 10);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].id, id);
    // The table is recorded as prepared by the plugin at version 0.
    SQLite::Statement q(*db, "SELECT plugin, version FROM _cl_plugins WHERE table_name = 'legacy_notes'");
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getString(), "abi1_legacy");
    EXPECT_EQ(q.getColumn(1).getInt(), 0);
  }
  // handle_upsert and handle_delete straight on the writer connection too.
  {
    SQLite::Transaction tx(store.writer());
    DatabaseEvent removed;
    ASSERT_TRUE(table->delete_event(id, removed).ok());
    removed.timestamp = "2026-01-02T03:04:07.000000Z";
    EXPECT_TRUE(table->handle_delete(store.writer(), removed).ok());
    EXPECT_EQ(table->handle_delete(store.writer(), removed).code(), StatusCode::kNotFound);
    EXPECT_FALSE(table->get(store.writer(), id).has_value());
    EXPECT_EQ(table->handle_upsert(store.writer(), created).code(), StatusCode::kOk);
    EXPECT_EQ(table->handle_upsert(store.writer(), created).code(), StatusCode::kConflict);
  }
  log.close();
}
