// GET /openapi.json's document (openapi_json), built from the embedded
// docs/openapi.yaml and a plugin set, without a server: concrete paths and
// schemas for described tables, the generic paths for the others, every
// reference resolvable, and the cache keyed by the plugin set.
#include "http/openapi.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <set>
#include <string>
#include <vector>

#include "json.h"

using namespace clusterlite;

namespace {

// The users plugin's entity schema as it describes itself (plugins/users/users_table.cc).
const char* kUsersSchema =
    R"({"type":"object","title":"User","properties":{)"
    R"("id":{"type":"string","format":"uuid","readOnly":true},)"
    R"("name":{"type":"string","minLength":1,"maxLength":200},)"
    R"("email":{"type":"string","format":"email","maxLength":254},)"
    R"("created_at":{"type":"string","format":"date-time","readOnly":true},)"
    R"("updated_at":{"type":"string","format":"date-time","readOnly":true}},)"
    R"("required":["id","name","email"],"additionalProperties":false,"x-unique":["email"]})";

LoadedPlugin plugin(const std::string& table, const std::string& schema) {
  LoadedPlugin p;
  p.name = table;
  p.path = "/plugins/" + table + ".so";
  p.table_name = table;
  p.abi = 2;
  p.version = 1;
  p.schema = schema;
  return p;
}

rapidjson::Document build(std::vector<LoadedPlugin> plugins) {
  PluginSet set(std::move(plugins));
  rapidjson::Document doc;
  std::string text = openapi_json(set);
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError());
  return doc;
}

const rapidjson::Value* at(const rapidjson::Value& doc, const std::string& pointer) {
  return rapidjson::Pointer(pointer.c_str()).Get(doc);
}

std::string at_string(const rapidjson::Value& doc, const std::string& pointer) {
  auto v = at(doc, pointer);
  return v && v->IsString() ? v->GetString() : "<none at " + pointer + ">";
}

std::set<std::string> names(const rapidjson::Value* object) {
  std::set<std::string> out;
  if (object && object->IsObject())
    for (auto& m : object->GetObject()) out.insert(m.name.GetString());
  return out;
}

// Every "$ref" in `v`, as JSON pointers into the document.
void refs(const rapidjson::Value& v, std::vector<std::string>& out) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      if (std::string(m.name.GetString()) == "$ref" && m.value.IsString()) out.push_back(m.value.GetString());
      refs(m.value, out);
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) refs(e, out);
  }
}

const char* kMethods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

}  // namespace

TEST(OpenApiTest, ADescribedTableGetsPathsAndSchemasOfItsOwn) {
  auto doc = build({plugin("users", kUsersSchema)});
  EXPECT_EQ(at_string(doc, "/openapi"), "3.1.0");
  auto paths = names(at(doc, "/paths"));
  EXPECT_TRUE(paths.count("/users") && paths.count("/users/{id}"));
  EXPECT_FALSE(paths.count("/{table}") || paths.count("/{table}/{id}")) << "no table without a schema";
  for (const char* p : {"/healthz", "/readyz", "/metrics", "/_cluster/status", "/_cluster/checksum/{table}", "/_schema",
                        "/openapi.json", "/_admin/plugins/reload", "/", "/ui", "/ui/", "/ui/{file}"})
    EXPECT_TRUE(paths.count(p)) << p;

  // Bodies: the entity answers, the create and update schemas are asked for.
  const std::string users = "/paths/~1users";
  const std::string item = "/paths/~1users~1{id}";
  EXPECT_EQ(at_string(doc, users + "/post/requestBody/content/application~1json/schema/$ref"),
            "#/components/schemas/users.create");
  EXPECT_EQ(at_string(doc, users + "/post/responses/201/content/application~1json/schema/$ref"),
            "#/components/schemas/users");
  EXPECT_EQ(at_string(doc, users + "/get/responses/200/content/application~1json/schema/items/$ref"),
            "#/components/schemas/users");
  EXPECT_EQ(at_string(doc, item + "/put/requestBody/content/application~1json/schema/$ref"),
            "#/components/schemas/users.update");
  EXPECT_EQ(at_string(doc, item + "/get/responses/200/content/application~1json/schema/$ref"),
            "#/components/schemas/users");
  EXPECT_EQ(at_string(doc, users + "/post/operationId"), "users.createEntity");
  // Every status of the generic contract is there, with its headers.
  EXPECT_EQ(names(at(doc, users + "/post/responses")),
            (std::set<std::string>{"201", "202", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503",
                                   "504"}));
  EXPECT_EQ(names(at(doc, item + "/delete/responses")),
            (std::set<std::string>{"202", "204", "400", "401", "403", "404", "422", "500", "503", "504"}));
  // The contract's list answers 404 for an unknown table; this table is known.
  EXPECT_EQ(names(at(doc, users + "/get/responses")), (std::set<std::string>{"200", "400", "401", "500", "503"}));
  EXPECT_TRUE(at(doc, users + "/post/responses/201/headers/Location"));
  EXPECT_TRUE(at(doc, users + "/post/responses/201/headers/ClusterLite-Position"));
  // The table parameter is gone from the concrete paths; the id stays.
  std::vector<std::string> params;
  refs(*at(doc, item + "/parameters"), params);
  EXPECT_EQ(params, std::vector<std::string>{"#/components/parameters/Id"});
  EXPECT_EQ(at(doc, users + "/parameters"), nullptr);

  // The entity exactly as the plugin describes it.
  rapidjson::Document entity;
  entity.Parse(kUsersSchema);
  EXPECT_EQ(*at(doc, "/components/schemas/users"), entity);
  // A create: without the readOnly properties, which it does not require either.
  EXPECT_EQ(names(at(doc, "/components/schemas/users.create/properties")), (std::set<std::string>{"name", "email"}));
  EXPECT_EQ(to_json(*at(doc, "/components/schemas/users.create/required")), R"(["name","email"])");
  EXPECT_FALSE(at(doc, "/components/schemas/users.create/additionalProperties")->GetBool());
  // An update: the readOnly properties are accepted (a read's answer sent back), not required.
  EXPECT_EQ(names(at(doc, "/components/schemas/users.update/properties")),
            (std::set<std::string>{"id", "name", "email", "created_at", "updated_at"}));
  EXPECT_EQ(at(doc, "/components/schemas/users.update/properties/id/readOnly"), nullptr);
  EXPECT_EQ(at_string(doc, "/components/schemas/users.update/properties/created_at/format"), "date-time");
  EXPECT_EQ(to_json(*at(doc, "/components/schemas/users.update/required")), R"(["name","email"])");
  // The contract's sample schemas are not carried over.
  auto schemas = names(at(doc, "/components/schemas"));
  EXPECT_FALSE(schemas.count("User") || schemas.count("UserCreate") || schemas.count("UserUpdate"));
  EXPECT_TRUE(schemas.count("Problem"));
  EXPECT_EQ(at_string(doc, "/servers/0/url"), "/");
  std::string description = at_string(doc, "/info/description");
  EXPECT_EQ(description.find("sample `users` plugin's schemas"), std::string::npos) << description;
  EXPECT_NE(description.find("`/users`"), std::string::npos) << description;
}

TEST(OpenApiTest, OperationsThatOnlyAnswer405AreLeftOut) {
  auto doc = build({plugin("users", kUsersSchema)});
  EXPECT_EQ(names(at(doc, "/paths/~1users")), (std::set<std::string>{"get", "post", "options"}));
  EXPECT_EQ(names(at(doc, "/paths/~1users~1{id}")), (std::set<std::string>{"parameters", "get", "put", "delete",
                                                                              "options"}));
  EXPECT_EQ(names(at(doc, "/paths/~1healthz")), (std::set<std::string>{"get", "options"}));
  for (auto& path : at(doc, "/paths")->GetObject())
    for (const char* method : kMethods) {
      auto op = path.value.FindMember(method);
      if (op == path.value.MemberEnd()) continue;
      auto responses = names(&op->value["responses"]);
      EXPECT_NE(responses, std::set<std::string>{"405"}) << path.name.GetString() << " " << method;
    }
}

TEST(OpenApiTest, TablesWithoutASchemaShareTheGenericPaths) {
  auto doc = build({plugin("users", kUsersSchema), plugin("notes", ""), plugin("tags", "")});
  auto paths = names(at(doc, "/paths"));
  EXPECT_TRUE(paths.count("/users") && paths.count("/{table}") && paths.count("/{table}/{id}"));
  EXPECT_FALSE(paths.count("/notes"));
  const rapidjson::Value* table = at(doc, "/paths/~1{table}/parameters/0");
  ASSERT_TRUE(table && table->IsObject());
  EXPECT_EQ(at_string(*table, "/name"), "table");
  EXPECT_EQ(to_json(*at(*table, "/schema/enum")), R"(["notes","tags"])");
  EXPECT_EQ(at_string(doc, "/paths/~1{table}/post/requestBody/content/application~1json/schema/$ref"),
            "#/components/schemas/Entity");
  EXPECT_EQ(at_string(doc, "/components/schemas/Entity/type"), "object");
  EXPECT_EQ(at_string(doc, "/paths/~1{table}~1{id}/parameters/1/$ref"), "#/components/parameters/Id");
}

TEST(OpenApiTest, ATableARouteShadowsIsNamedNotPathed) {
  // /ui is the UI's redirect, /ui/{id} its files: a table "ui" cannot be reached.
  auto doc = build({plugin("ui", kUsersSchema)});
  EXPECT_EQ(at_string(doc, "/paths/~1ui/get/operationId"), "uiNoSlash");
  EXPECT_EQ(at(doc, "/components/schemas/ui"), nullptr);
  EXPECT_NE(at_string(doc, "/info/description").find("Not reachable"), std::string::npos);
}

TEST(OpenApiTest, EveryReferenceResolvesAndEveryOperationIdIsUnique) {
  std::vector<std::vector<LoadedPlugin>> sets = {
      {}, {plugin("users", kUsersSchema), plugin("items", kUsersSchema), plugin("notes", "")}};
  for (const auto& set : sets) {
    auto doc = build(set);
    std::vector<std::string> all;
    refs(doc, all);
    EXPECT_FALSE(all.empty());
    for (auto& ref : all) {
      ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
      EXPECT_NE(at(doc, ref.substr(1)), nullptr) << "dangling " << ref;
    }
    std::set<std::string> ids;
    for (auto& path : at(doc, "/paths")->GetObject())
      for (const char* method : kMethods) {
        auto op = path.value.FindMember(method);
        if (op == path.value.MemberEnd() || !op->value.HasMember("operationId")) continue;
        EXPECT_TRUE(ids.insert(op->value["operationId"].GetString()).second) << op->value["operationId"].GetString();
      }
  }
}

TEST(OpenApiTest, TheEmbeddedContractIsOpenApi31) {
  auto doc = build({});
  EXPECT_EQ(at_string(doc, "/openapi"), "3.1.0");
  // OpenAPI 3.0's `nullable` became a "null" type.
  EXPECT_EQ(to_json(*at(doc, "/components/schemas/Schemas/properties/tables/items/properties/schema/type")),
            R"(["object","null"])");
  EXPECT_NE(at_string(doc, "/info/description").find("serves no table"), std::string::npos);
}

TEST(OpenApiTest, TheCacheBuildsOncePerPluginSet) {
  OpenApiCache cache;
  auto first = std::make_shared<const PluginSet>(std::vector<LoadedPlugin>{plugin("users", kUsersSchema)});
  auto a = cache.get(first);
  EXPECT_EQ(cache.get(first), a) << "the same set: the same document, not built again";
  // A reload puts a new set in force: the document follows it.
  auto second =
      std::make_shared<const PluginSet>(std::vector<LoadedPlugin>{plugin("users", kUsersSchema), plugin("notes", "")});
  auto b = cache.get(second);
  EXPECT_NE(b, a);
  EXPECT_NE(b->find("\"/{table}\""), std::string::npos);
  EXPECT_EQ(a->find("\"/{table}\""), std::string::npos);
  EXPECT_EQ(cache.get(second), b);
}
