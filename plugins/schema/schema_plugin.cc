// The schema plugin: serves the tables declared in the config file,
//
//   "plugins": {"configure": {"schema": {"settings": {"tables": {
//     "products": { JSON Schema of a product, see docs/entities.md } }}}}}
//
// one SchemaTable per declared table. Without declared tables it serves
// none, so schema.so may sit in any plugins directory.
#include <clusterlite/plugin.h>

#include <stdexcept>

#include "declaration.h"
#include "schema_table.h"

namespace {

std::vector<std::unique_ptr<clusterlite::TableOperations>> make_tables(const clusterlite::PluginContext& ctx) {
  std::vector<std::unique_ptr<clusterlite::TableOperations>> tables;
  if (!ctx.settings.IsObject()) throw std::invalid_argument("settings must be an object");
  for (auto& m : ctx.settings.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (key != "tables")
      throw std::invalid_argument("unknown setting: " + key + " (the schema plugin takes \"tables\")");
  }
  auto declared = ctx.settings.FindMember("tables");
  if (declared == ctx.settings.MemberEnd()) return tables;
  if (!declared->value.IsObject())
    throw std::invalid_argument("setting tables must be an object: table name -> JSON Schema");
  std::string summary;
  for (auto& m : declared->value.GetObject()) {
    std::string table(m.name.GetString(), m.name.GetStringLength());
    auto declaration = schema::parse_declaration(table, m.value);
    summary += (summary.empty() ? "" : ", ") + table + " (version " + std::to_string(declaration.version) + ")";
    tables.push_back(std::make_unique<schema::SchemaTable>(std::move(declaration)));
  }
  if (tables.empty())
    ctx.log(clusterlite::LogLevel::kInfo, "no tables declared");
  else
    ctx.log(clusterlite::LogLevel::kInfo, "declared tables: " + summary);
  return tables;
}

}  // namespace

CLUSTERLITE_PLUGIN_TABLES(make_tables, 1)
