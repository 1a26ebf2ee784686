// The one header an entity plugin includes. A plugin defines a factory and
// exports it, with the plugin's version, with CLUSTERLITE_PLUGIN:
//
//   std::unique_ptr<clusterlite::TableOperations>
//   make_widgets(const clusterlite::PluginContext& ctx) { ... }
//   CLUSTERLITE_PLUGIN(make_widgets, 1)
//
// The version is a whole number the plugin raises whenever the verdicts it
// reaches on events or the rows it writes change. Every event carries the
// version of the plugin that built it, and a node whose plugin is older than
// an event holds that table's events until it is upgraded (docs/plugins.md,
// "Versions"). A plugin keeps applying the events of its older versions the
// way those versions did: DatabaseEvent::plugin_version says which it is.
//
// The host reads the exported metadata (plain C, so it is safe to read from a
// library built with another compiler or standard library) before it imports
// the factory, and keeps the library loaded for as long as any object the
// factory made lives.
#pragma once

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include <clusterlite/context.h>
#include <clusterlite/event.h>
#include <clusterlite/status.h>
#include <clusterlite/table_operations.h>

#include <memory>
#include <vector>

// Bumped whenever a type in this directory changes layout or a virtual
// function is added, removed or reordered. The host also loads plugins of
// ABI 1 (built before plugin versions existed) and treats them as version 0,
// and plugins of ABI 2 (built before TableOperations::query_fields and
// query existed), whose tables page in id order only.
#define CLUSTERLITE_PLUGIN_ABI_VERSION 3

extern "C" {
// What a plugin says about itself; exported by CLUSTERLITE_PLUGIN through the
// function clusterlite_plugin_metadata().
struct clusterlite_plugin_info {
  int abi_version;       // CLUSTERLITE_PLUGIN_ABI_VERSION the plugin was built with
  int plugin_version;    // the plugin's own version, >= 1
  int cxx11_string_abi;  // _GLIBCXX_USE_CXX11_ABI when it was built (1 = the std::string of GCC 5 and later)
  int reserved;
};
}

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define CLUSTERLITE_CXX11_STRING_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define CLUSTERLITE_CXX11_STRING_ABI -1
#endif

namespace clusterlite {
using PluginFactory = std::unique_ptr<TableOperations>(const PluginContext&);
// A factory of a plugin that serves several tables (CLUSTERLITE_PLUGIN_TABLES).
using PluginTablesFactory = std::vector<std::unique_ptr<TableOperations>>(const PluginContext&);
}  // namespace clusterlite

// Exports `factory` (a function matching clusterlite::PluginFactory) under the
// alias `clusterlite_plugin_factory`, the ABI version as the C function
// `clusterlite_plugin_abi_version` and the metadata as `clusterlite_plugin_metadata`.
// `version` is the plugin's version: an integer literal from 1 to 1000000.
#define CLUSTERLITE_PLUGIN(factory, version) \
  CLUSTERLITE_PLUGIN_METADATA_(version)      \
  BOOST_DLL_ALIAS(factory, clusterlite_plugin_factory)

// The same for a plugin that serves several tables: `factory` matches
// clusterlite::PluginTablesFactory and returns one TableOperations per table
// (none: the plugin serves no table under its settings), exported under the
// alias `clusterlite_plugin_tables`.
#define CLUSTERLITE_PLUGIN_TABLES(factory, version) \
  CLUSTERLITE_PLUGIN_METADATA_(version)             \
  BOOST_DLL_ALIAS(factory, clusterlite_plugin_tables)

// The ABI version and the metadata; part of the two macros above.
#define CLUSTERLITE_PLUGIN_METADATA_(version)                                                         \
  static_assert((version) >= 1 && (version) <= 1000000, "plugin version must be from 1 to 1000000"); \
  extern "C" BOOST_SYMBOL_EXPORT int clusterlite_plugin_abi_version() {                              \
    return CLUSTERLITE_PLUGIN_ABI_VERSION;                                                            \
  }                                                                                                   \
  extern "C" BOOST_SYMBOL_EXPORT const struct clusterlite_plugin_info* clusterlite_plugin_metadata() { \
    static const struct clusterlite_plugin_info info = {CLUSTERLITE_PLUGIN_ABI_VERSION, (version),    \
                                                        CLUSTERLITE_CXX11_STRING_ABI, 0};             \
    return &info;                                                                                     \
  }
