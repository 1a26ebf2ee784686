// StaticFiles: the web UI's files, served at /ui/ from one directory and
// never from outside it.
//
// A request names a file by the rest of its path after "/ui/". The name is
// checked as text before the file system is touched (is_safe_static_name),
// then resolved: its canonical path, with every symlink followed, must lie
// inside the canonical UI directory and be a regular file. Anything else is
// "no such file" (the HTTP layer answers 404).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace clusterlite {

// Longest name accepted after /ui/, and the largest file served.
constexpr size_t kMaxStaticNameBytes = 255;
constexpr size_t kMaxStaticFileBytes = 64 << 20;  // the largest answer the node sends

// True when `name` may name a UI file: 1..kMaxStaticNameBytes bytes of
// segments separated by single '/', each segment made of letters, digits,
// '.', '-' and '_' and not starting with '.'. So no absolute name, no empty,
// "." or ".." segment, no hidden file, no percent escape, backslash, NUL or
// other control character.
bool is_safe_static_name(std::string_view name);

class StaticFiles {
 public:
  // `directory` is http.ui_directory; "" means the UI is not served. Throws
  // std::runtime_error naming the key when a configured directory is not an
  // existing directory.
  explicit StaticFiles(const std::string& directory);

  bool enabled() const { return !root_.empty(); }

  // The canonical path that a request for `name` (the path after "/ui/"; ""
  // is index.html) would serve, or nullopt when it is refused or missing.
  std::optional<std::filesystem::path> resolve(std::string_view name) const;

  struct File {
    std::string body;
    const char* content_type;
  };
  // The file for `name`, or nullopt when resolve() refuses it or it cannot
  // be read as a regular file of at most kMaxStaticFileBytes.
  std::optional<File> read(std::string_view name) const;

 private:
  std::filesystem::path root_;  // canonical; empty when the UI is not served
};

}  // namespace clusterlite
