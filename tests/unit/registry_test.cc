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

TEST(PluginRegistry, FindsThePluginServingATable) {
  PluginRegistry registry;
  auto users = load_users();
  TableOperations* table = users.table.get();
  registry.add(std::move(users));
  EXPECT_EQ(registry.find("users"), table);
  EXPECT_EQ(registry.find("Users"), nullptr);
  EXPECT_EQ(registry.find("user"), nullptr);
  EXPECT_EQ(registry.find("users "), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
  EXPECT_EQ(registry.tables(), std::vector<std::string>{"users"});
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].name, "users");
}

TEST(PluginRegistry, EmptyRegistryFindsNothing) {
  PluginRegistry registry;
  EXPECT_EQ(registry.find("users"), nullptr);
  EXPECT_TRUE(registry.tables().empty());
}

TEST(PluginRegistry, DuplicateTableIsAnErrorNamingTheFile) {
  PluginRegistry registry;
  registry.add(load_users());
  auto second = load_users();
  std::string path = second.path;
  try {
    registry.add(std::move(second));
    FAIL() << "a second plugin for table users was accepted";
  } catch (const PluginError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("duplicate table name \"users\""), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  // The first registration still serves the table.
  EXPECT_EQ(registry.plugins().size(), 1u);
  EXPECT_NE(registry.find("users"), nullptr);
}

TEST(PluginRegistry, ConstructorRejectsDuplicates) {
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(load_users());
  plugins.push_back(load_users());
  EXPECT_THROW(PluginRegistry{std::move(plugins)}, PluginError);
}
