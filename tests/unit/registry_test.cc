// Unit tests of PluginRegistry (core/registry): lookup by table name and the
// duplicate-table error, with the real users plugin loaded from its .so.
#include "plugins/registry.h"

#include <gtest/gtest.h>

#include "node_process.h"

using namespace clusterlite;

namespace {

LoadedPlugin load_users() {
  static const rapidjson::Value kNoSettings(rapidjson::kObjectType);
  return load_plugin(test::plugins_directory() + "/users.so", kNoSettings, "test-node");
}

}  // namespace

TEST(PluginSet, FindsThePluginServingATable) {
  auto users = load_users();
  TableOperations* table = users.table.get();
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(std::move(users));
  PluginSet set(std::move(plugins));
  ASSERT_NE(set.find("users"), nullptr);
  EXPECT_EQ(set.find("users")->table.get(), table);
  EXPECT_EQ(set.find("users")->version, 1);
  EXPECT_EQ(set.find("users")->abi, 3);
  EXPECT_EQ(set.find("users")->sha256.size(), 64u);
  EXPECT_EQ(set.find("Users"), nullptr);
  EXPECT_EQ(set.find("user"), nullptr);
  EXPECT_EQ(set.find("users "), nullptr);
  EXPECT_EQ(set.find(""), nullptr);
  EXPECT_EQ(set.tables(), std::vector<std::string>{"users"});
  ASSERT_EQ(set.plugins().size(), 1u);
  EXPECT_EQ(set.plugins()[0].name, "users");
}

TEST(PluginSet, EmptySetFindsNothing) {
  PluginRegistry registry;
  EXPECT_EQ(registry.current()->find("users"), nullptr);
  EXPECT_TRUE(registry.current()->tables().empty());
}

TEST(PluginSet, DuplicateTableIsAnErrorNamingBothFiles) {
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(load_users());
  plugins.push_back(load_users());
  std::string path = plugins[1].path;
  try {
    PluginSet set(std::move(plugins));
    FAIL() << "a second plugin for table users was accepted";
  } catch (const PluginError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("duplicate table name \"users\""), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(PluginRegistry, ReplaceLeavesHoldersOfTheOldSetTheirPlugin) {
  std::vector<LoadedPlugin> first;
  first.push_back(load_users());
  PluginRegistry registry(std::move(first));
  auto held = registry.current();
  std::weak_ptr<TableOperations> old_table = held->find("users")->table;
  std::vector<LoadedPlugin> second;
  second.push_back(load_users());
  registry.replace(std::make_shared<const PluginSet>(std::move(second)));
  // A request that began before the replace still has its plugin, alive.
  EXPECT_FALSE(old_table.expired());
  EXPECT_NE(registry.current()->find("users")->table, held->find("users")->table);
  held.reset();
  // Its last user let go: the old plugin is gone.
  EXPECT_TRUE(old_table.expired());
}
