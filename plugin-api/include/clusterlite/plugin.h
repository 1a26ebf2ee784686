// The one header an entity plugin includes. A plugin defines a factory and
// exports it with CLUSTERLITE_PLUGIN:
//
//   std::unique_ptr<clusterlite::TableOperations>
//   make_widgets(const clusterlite::PluginContext& ctx) { ... }
//   CLUSTERLITE_PLUGIN(make_widgets)
//
// The host checks the exported ABI version before it imports the factory, and
// keeps the library loaded for as long as any object the factory made lives.
#pragma once

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include <clusterlite/context.h>
#include <clusterlite/event.h>
#include <clusterlite/status.h>
#include <clusterlite/table_operations.h>

#include <memory>

// Bumped whenever a type in this directory changes layout or a virtual
// function is added, removed or reordered.
#define CLUSTERLITE_PLUGIN_ABI_VERSION 1

namespace clusterlite {
using PluginFactory = std::unique_ptr<TableOperations>(const PluginContext&);
}  // namespace clusterlite

// Exports `factory` (a function matching clusterlite::PluginFactory) under the
// alias `clusterlite_plugin_factory`, and the ABI version as the C symbol
// `clusterlite_plugin_abi_version`.
#define CLUSTERLITE_PLUGIN(factory)                                      \
  extern "C" BOOST_SYMBOL_EXPORT int clusterlite_plugin_abi_version() { \
    return CLUSTERLITE_PLUGIN_ABI_VERSION;                               \
  }                                                                      \
  BOOST_DLL_ALIAS(factory, clusterlite_plugin_factory)
