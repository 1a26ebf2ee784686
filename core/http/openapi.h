// GET /openapi.json: the API this node serves now, as an OpenAPI 3.1
// document built from docs/openapi.yaml (embedded at build time, see
// cmake/openapi_embed.py) and the tables of a plugin set.
//
// The operations routes, the shared parameters, headers, responses and the
// problem+json body are the contract's own. Each table whose plugin
// describes its entity (TableOperations::entity_schema()) gets concrete
// paths, /T and /T/{id}, with every status and header of the contract's
// generic /{table} and /{table}/{id}, and three schemas in
// components/schemas: "T" (the entity, what reads and writes answer),
// "T.create" (the entity without its readOnly properties) and "T.update"
// (the entity with its readOnly properties accepted, as a GET body sent
// back). Tables without a schema share the generic /{table} paths, their
// table parameter limited to those tables and their bodies plain objects.
// Left out: the operations that only answer 405 (a tool would take them for
// operations the path serves; every method not listed answers 405 with
// `Allow`), and a table's own list's 404 (the contract's is an unknown
// table's). servers is "/": wherever the document was fetched from.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "plugins/registry.h"

namespace clusterlite {

// The document for `plugins` (compact JSON).
std::string openapi_json(const PluginSet& plugins);

// The document of the plugin set in force, built once per set: a reload puts
// a new set in force (PluginRegistry::current() changes), and the next request
// builds the document again. Thread-safe.
class OpenApiCache {
 public:
  std::shared_ptr<const std::string> get(const std::shared_ptr<const PluginSet>& plugins);

 private:
  std::mutex mutex_;
  std::weak_ptr<const PluginSet> key_;  // the set doc_ was built for (weak: a replaced set may go)
  std::shared_ptr<const std::string> doc_;
};

}  // namespace clusterlite
