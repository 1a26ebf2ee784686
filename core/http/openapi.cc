#include "http/openapi.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <stdexcept>
#include <vector>

#include "http/list_query.h"
#include "http/openapi_contract.h"
#include "http/routes.h"

namespace clusterlite {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

// The contract's generic table paths and the sample entity's schemas they use.
constexpr const char* kCollection = "/{table}";
constexpr const char* kItem = "/{table}/{id}";
constexpr const char* kTableParameter = "#/components/parameters/Table";
constexpr const char* kSampleEntity = "User";
constexpr const char* kSampleCreate = "UserCreate";
constexpr const char* kSampleUpdate = "UserUpdate";
constexpr const char* kSchemaRef = "#/components/schemas/";
// The contract's paragraph about tables, replaced by what this document holds.
constexpr std::string_view kTablesParagraph = "Tables are served by entity plugins";

Value str(std::string_view s, Alloc& a) { return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a); }

Value& member(Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd()) throw std::logic_error(std::string("docs/openapi.yaml has no ") + name);
  return it->value;
}

// Points every "$ref" found in `refs` at its new target.
void rewrite_refs(Value& v, const std::map<std::string, std::string, std::less<>>& refs, Alloc& a) {
  if (v.IsObject()) {
    auto ref = v.FindMember("$ref");
    if (ref != v.MemberEnd() && ref->value.IsString()) {
      auto it = refs.find(std::string_view(ref->value.GetString(), ref->value.GetStringLength()));
      if (it != refs.end()) ref->value = str(it->second, a);
    }
    for (auto& m : v.GetObject()) rewrite_refs(m.value, refs, a);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) rewrite_refs(e, refs, a);
  }
}

std::map<std::string, std::string, std::less<>> sample_refs(const std::string& entity, const std::string& create,
                                                            const std::string& update) {
  std::string base = kSchemaRef;
  return {{base + kSampleEntity, base + entity},
          {base + kSampleCreate, base + create},
          {base + kSampleUpdate, base + update}};
}

// Whether `v` holds a "$ref" to `target`.
bool refers_to(const Value& v, std::string_view target) {
  if (!v.IsObject()) return false;
  auto ref = v.FindMember("$ref");
  return ref != v.MemberEnd() && ref->value.IsString() &&
         std::string_view(ref->value.GetString(), ref->value.GetStringLength()) == target;
}

// Replaces the path item's table parameter by `replacement` (or drops it for a null one).
void replace_table_parameter(Value& path, Value replacement, Alloc& a) {
  auto params = path.FindMember("parameters");
  if (params == path.MemberEnd() || !params->value.IsArray()) return;
  Value out(rapidjson::kArrayType);
  for (auto& p : params->value.GetArray()) {
    if (!refers_to(p, kTableParameter)) {
      out.PushBack(Value(p, a), a);
    } else if (!replacement.IsNull()) {
      out.PushBack(replacement, a);
    }
  }
  if (out.Empty())
    path.EraseMember(params);
  else
    params->value = out;
}

// Prefixes each operation's operationId with the table's name: "users.getEntity".
void prefix_operation_ids(Value& path, const std::string& table, Alloc& a) {
  for (auto& m : path.GetObject()) {
    if (!m.value.IsObject()) continue;
    auto id = m.value.FindMember("operationId");
    if (id == m.value.MemberEnd() || !id->value.IsString()) continue;
    id->value = str(table + "." + id->value.GetString(), a);
  }
}

void drop_response(Value& path, const char* method, const char* status) {
  auto op = path.FindMember(method);
  if (op == path.MemberEnd() || !op->value.IsObject()) return;
  auto responses = op->value.FindMember("responses");
  if (responses != op->value.MemberEnd() && responses->value.IsObject()) responses->value.EraseMember(status);
}

bool read_only(const Value& property) {
  if (!property.IsObject()) return false;
  auto it = property.FindMember("readOnly");
  return it != property.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

// The request schema derived from an entity schema: for a create, without the
// properties the server sets (readOnly); for an update, with them accepted
// (a read's answer may be sent back). Neither requires a readOnly property.
Value request_schema(const Value& entity, bool update, const std::string& table, Alloc& a) {
  Value out(entity, a);
  std::vector<std::string> server_set;
  if (auto props = out.FindMember("properties"); props != out.MemberEnd() && props->value.IsObject()) {
    for (auto it = props->value.MemberBegin(); it != props->value.MemberEnd();) {
      if (!read_only(it->value)) {
        ++it;
        continue;
      }
      server_set.emplace_back(it->name.GetString(), it->name.GetStringLength());
      if (update) {
        it->value.EraseMember("readOnly");
        ++it;
      } else {
        it = props->value.EraseMember(it);
      }
    }
  }
  if (auto req = out.FindMember("required"); req != out.MemberEnd() && req->value.IsArray()) {
    Value kept(rapidjson::kArrayType);
    for (auto& name : req->value.GetArray()) {
      bool drop = false;
      for (auto& s : server_set) drop |= name.IsString() && s == name.GetString();
      if (!drop) kept.PushBack(Value(name, a), a);
    }
    if (kept.Empty())
      out.EraseMember(req);
    else
      req->value = kept;
  }
  std::string title = table + (update ? " (update)" : " (create)");
  if (auto t = out.FindMember("title"); t != out.MemberEnd() && t->value.IsString())
    title = std::string(t->value.GetString()) + (update ? " (update)" : " (create)");
  out.EraseMember("title");
  out.AddMember("title", str(title, a), a);
  std::string description =
      update ? "What PUT /" + table + "/{id} takes: the entity's full new state. The properties the server sets "
                                      "(readOnly in the entity) may be sent back as a read answered them; the "
                                      "table's plugin checks them (the sample users plugin requires id to equal the "
                                      "URL's id and ignores the others)."
             : "What POST /" + table + " takes: the entity without the properties the server sets (readOnly in the "
                                       "entity).";
  out.EraseMember("description");
  out.AddMember("description", str(description, a), a);
  return out;
}

// The query parameters of a described table's list, from its plugin's
// `fields` and ABI: its orders as the order parameter's enum (list_orders),
// q only when it has search fields, and one parameter per filter, typed as
// the entity's property.
void add_query_parameters(Value& path, const QueryFields& fields, int abi, const Value& entity, Alloc& a) {
  auto get = path.FindMember("get");
  if (get == path.MemberEnd() || !get->value.IsObject()) return;
  auto params = get->value.FindMember("parameters");
  if (params == get->value.MemberEnd() || !params->value.IsArray()) return;
  Value orders(rapidjson::kArrayType);
  for (auto& o : list_orders(fields, abi)) orders.PushBack(str(o, a), a);
  Value out(rapidjson::kArrayType);
  for (auto& param : params->value.GetArray()) {
    auto name = param.IsObject() ? param.FindMember("name") : Value::MemberIterator();
    bool named = param.IsObject() && name != param.MemberEnd() && name->value.IsString();
    std::string_view n = named ? std::string_view(name->value.GetString(), name->value.GetStringLength()) : "";
    if (n == "q" && fields.search.empty()) continue;
    Value copy(param, a);
    if (n == "order") {
      Value schema(rapidjson::kObjectType);
      schema.AddMember("type", "string", a);
      schema.AddMember("enum", Value(orders, a), a);
      schema.AddMember("default", "id", a);
      copy.EraseMember("schema");
      copy.AddMember("schema", schema, a);
    }
    out.PushBack(copy, a);
  }
  const Value* props = nullptr;
  if (auto it = entity.FindMember("properties"); it != entity.MemberEnd() && it->value.IsObject()) props = &it->value;
  for (auto& f : fields.filters) {
    std::string type = "string";
    if (props)
      if (auto prop = props->FindMember(str(f, a)); prop != props->MemberEnd() && prop->value.IsObject())
        if (auto t = prop->value.FindMember("type"); t != prop->value.MemberEnd() && t->value.IsString())
          type = t->value.GetString();
    Value param(rapidjson::kObjectType), schema(rapidjson::kObjectType);
    schema.AddMember("type", str(type, a), a);
    if (type == "string") schema.AddMember("maxLength", 1024, a);
    param.AddMember("name", str(f, a), a);
    param.AddMember("in", "query", a);
    param.AddMember("description", str("Only entities whose " + f + " equals this value (from an index).", a), a);
    param.AddMember("schema", schema, a);
    out.PushBack(param, a);
  }
  params->value = out;
}

// Drops the operations that only answer 405: the contract lists them so that a
// reader sees what other methods get, but to a tool an operation is one the
// path serves. Here every other method answers 405 with `Allow` listing
// exactly the operations left.
void drop_not_allowed(Value& paths) {
  for (auto& path : paths.GetObject()) {
    if (!path.value.IsObject()) continue;
    for (auto it = path.value.MemberBegin(); it != path.value.MemberEnd();) {
      bool only_405 = false;
      if (it->value.IsObject()) {  // an operation (not the path's "parameters")
        auto responses = it->value.FindMember("responses");
        only_405 = responses != it->value.MemberEnd() && responses->value.IsObject() &&
                   responses->value.MemberCount() == 1 && responses->value.HasMember("405");
      }
      it = only_405 ? path.value.EraseMember(it) : it + 1;
    }
  }
}

// Whether the router gives /T and /T/{id} to the table routes (a table named
// like a literal route, "ui" or "healthz", is shadowed by it).
bool routable(const std::string& table) {
  auto list = match_route("GET", "/" + table);
  auto item = match_route("GET", "/" + table + "/x");
  return list.route && list.route->endpoint == Endpoint::kList && item.route && item.route->endpoint == Endpoint::kGet;
}

std::string join_code(const std::vector<std::string>& items, std::string_view before, std::string_view after) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += i + 1 == items.size() ? " and " : ", ";
    out.append("`").append(before).append(items[i]).append(after).append("`");
  }
  return out;
}

std::string describe_tables(const std::vector<std::string>& described, const std::vector<std::string>& generic,
                            const std::vector<std::string>& shadowed) {
  std::string out =
      "Generated by the node that served it, for the tables it serves now (GET /_schema lists them; a plugin "
      "reload changes this document). Every table answers the same statuses, headers and problem+json bodies. "
      "A method a path does not list here answers 405 with `Allow` naming the ones it does.";
  if (described.empty() && generic.empty()) out += " This node serves no table.";
  if (!described.empty())
    out += " Tables whose plugin describes its entity have paths of their own (" + join_code(described, "/", "") +
           ", each with `/{id}`), and their bodies' schemas in components/schemas: the entity (" +
           join_code(described, "", "") +
           ", what reads and writes answer), what a create takes (`<table>.create`: without the readOnly "
           "properties the server sets) and what an update takes (`<table>.update`).";
  if (!generic.empty())
    out += " Tables whose plugin does not describe its entity (" + join_code(generic, "", "") +
           ") are served at `/{table}` and `/{table}/{id}` with JSON objects as bodies.";
  if (!shadowed.empty())
    out += " Not reachable (a route of the node has their path): " + join_code(shadowed, "", "") + ".";
  return out;
}

// The contract's description with its paragraph on tables replaced by `tables`.
std::string description(std::string_view base, const std::string& tables) {
  size_t start = base.find(kTablesParagraph);
  if (start == std::string_view::npos) return std::string(base) + "\n\n" + tables;
  size_t end = base.find("\n\n", start);
  std::string out(base.substr(0, start));
  out += tables;
  if (end != std::string_view::npos) out += base.substr(end);
  return out;
}

}  // namespace

std::string openapi_json(const PluginSet& plugins) {
  rapidjson::Document doc;
  doc.Parse(kOpenApiContract);
  if (doc.HasParseError() || !doc.IsObject()) throw std::logic_error("the embedded docs/openapi.yaml is not JSON");
  Alloc& a = doc.GetAllocator();
  Value& paths = member(doc, "paths");
  Value& schemas = member(member(doc, "components"), "schemas");
  Value collection(member(paths, kCollection), a), item(member(paths, kItem), a);

  // The tables: described ones get paths of their own, the others share the generic ones.
  std::vector<std::string> described, generic, shadowed;
  Value table_paths(rapidjson::kObjectType);
  for (const auto& table : plugins.tables()) {
    const LoadedPlugin& p = *plugins.find(table);
    if (!routable(table)) {
      shadowed.push_back(table);
      continue;
    }
    rapidjson::Document entity;
    if (!p.schema.empty()) entity.Parse(p.schema.data(), p.schema.size());
    if (p.schema.empty() || entity.HasParseError() || !entity.IsObject()) {
      generic.push_back(table);
      continue;
    }
    described.push_back(table);
    std::string create = table + ".create", update = table + ".update";
    auto refs = sample_refs(table, create, update);
    for (auto [path, tmpl] : {std::pair{"/" + table, &collection}, std::pair{"/" + table + "/{id}", &item}}) {
      Value v(*tmpl, a);
      replace_table_parameter(v, Value(), a);
      prefix_operation_ids(v, table, a);
      rewrite_refs(v, refs, a);
      // The contract's list answers 404 for an unknown table only; this one is known.
      if (tmpl == &collection) {
        drop_response(v, "get", "404");
        add_query_parameters(v, p.fields, p.abi, entity, a);
      }
      table_paths.AddMember(str(path, a), v, a);
    }
    Value entity_value(entity, a);
    schemas.AddMember(str(create, a), request_schema(entity_value, false, table, a), a);
    schemas.AddMember(str(update, a), request_schema(entity_value, true, table, a), a);
    schemas.AddMember(str(table, a), entity_value, a);
  }

  // Paths: the tables' first, then the contract's own routes, then the generic table paths.
  Value out_paths(rapidjson::kObjectType);
  for (auto& m : table_paths.GetObject()) out_paths.AddMember(m.name, m.value, a);
  for (auto& m : paths.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name == kCollection || name == kItem) continue;
    out_paths.AddMember(Value(m.name, a), Value(m.value, a), a);
  }
  if (!generic.empty()) {
    auto refs = sample_refs("Entity", "Entity", "Entity");
    Value names(rapidjson::kArrayType);
    for (auto& t : generic) names.PushBack(str(t, a), a);
    for (auto [path, tmpl] : {std::pair{kCollection, &collection}, std::pair{kItem, &item}}) {
      Value param(rapidjson::kObjectType), schema(rapidjson::kObjectType);
      schema.AddMember("type", "string", a);
      schema.AddMember("enum", Value(names, a), a);
      param.AddMember("name", "table", a);
      param.AddMember("in", "path", a);
      param.AddMember("required", true, a);
      param.AddMember("description", "A table whose plugin does not describe its entity.", a);
      param.AddMember("schema", schema, a);
      Value v(*tmpl, a);
      replace_table_parameter(v, std::move(param), a);
      rewrite_refs(v, refs, a);
      out_paths.AddMember(str(path, a), v, a);
    }
    Value entity(rapidjson::kObjectType);
    entity.AddMember("type", "object", a);
    entity.AddMember("description", "An entity of a table whose plugin does not describe it (its schema is null "
                                    "in GET /_schema).",
                     a);
    schemas.AddMember("Entity", entity, a);
  }
  drop_not_allowed(out_paths);
  paths = out_paths;
  // The sample entity's schemas served the generic paths only.
  for (const char* name : {kSampleEntity, kSampleCreate, kSampleUpdate}) schemas.EraseMember(name);

  // Served from wherever the document was fetched (a node or the balancer).
  Value servers(rapidjson::kArrayType), here(rapidjson::kObjectType);
  here.AddMember("url", "/", a);
  here.AddMember("description", "The node or balancer that served this document", a);
  servers.PushBack(here, a);
  member(doc, "servers") = servers;
  Value& info = member(doc, "info");
  Value& base = member(info, "description");
  base = str(description(std::string_view(base.GetString(), base.GetStringLength()),
                         describe_tables(described, generic, shadowed)),
             a);

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

std::shared_ptr<const std::string> OpenApiCache::get(const std::shared_ptr<const PluginSet>& plugins) {
  std::lock_guard lock(mutex_);
  if (doc_ && key_.lock() == plugins) return doc_;
  doc_ = std::make_shared<const std::string>(openapi_json(*plugins));
  key_ = plugins;
  return doc_;
}

}  // namespace clusterlite
