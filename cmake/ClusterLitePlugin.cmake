# clusterlite_add_plugin(<name> SOURCES <src>... [LINK_LIBRARIES <lib>...])
#
# Builds an entity plugin: a shared object named <name>.so with hidden
# visibility, linked against the ClusterLite plugin API. In the ClusterLite
# tree it lands in build/plugins/; out of tree (after find_package(ClusterLite))
# it lands in ${CMAKE_BINARY_DIR}/plugins unless CLUSTERLITE_PLUGIN_OUTPUT_DIR
# says otherwise. Drop the .so into a node's plugins directory to load it.
function(clusterlite_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK_LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "clusterlite_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT DEFINED CLUSTERLITE_PLUGIN_OUTPUT_DIR)
    set(CLUSTERLITE_PLUGIN_OUTPUT_DIR ${CMAKE_BINARY_DIR}/plugins)
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ClusterLite::plugin_api ${ARG_LINK_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${CLUSTERLITE_PLUGIN_OUTPUT_DIR})
  # Without GNU unique symbols (which g++ emits for static data of inline
  # functions and templates) glibc can unload the plugin once the host drops
  # its last object; with them dlclose() silently keeps it mapped for good.
  target_compile_options(${name} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
endfunction()
