// Fuzzes the web UI's file lookup (StaticFiles) with request names against a
// real directory tree: a UI directory holding files, a subdirectory, a
// symlink that stays inside, and symlinks to a secret file and a secret
// directory beside it and to /etc. The property: whatever the name, a file
// that is served is a regular file inside the UI directory, and no secret is
// ever read.
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "http/static_files.h"

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSecret = "SECRET-OUTSIDE-THE-UI";

struct Tree {
  fs::path base;
  fs::path web;
  clusterlite::StaticFiles* files = nullptr;
};

void put(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

Tree& tree() {
  static Tree t = [] {
    Tree made;
    // Under $TMPDIR (scripts/fuzz points it into build/fuzz and empties it):
    // libFuzzer's exit at the time limit skips atexit handlers.
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/clusterlite-static-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data())) std::abort();
    made.base = fs::canonical(pattern);
    made.web = made.base / "web";
    put(made.web / "index.html", "index");
    put(made.web / "app.js", "app");
    put(made.web / "css" / "site.css", "css");
    put(made.base / "web-secret" / "token.txt", kSecret);
    put(made.base / "secret.txt", kSecret);
    fs::create_symlink("app.js", made.web / "alias.js");
    fs::create_symlink("../secret.txt", made.web / "up.txt");
    fs::create_symlink(made.base / "secret.txt", made.web / "abs.txt");
    fs::create_directory_symlink(made.base / "web-secret", made.web / "secret");
    fs::create_directory_symlink("/etc", made.web / "etc");
    made.files = new clusterlite::StaticFiles(made.web.string());
    return made;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Tree& t = tree();
  std::string_view name(reinterpret_cast<const char*>(data), size);
  auto path = t.files->resolve(name);
  if (path) {
    // Checked here independently of StaticFiles' own test: the canonical
    // path, as text, starts with the UI directory and a '/'.
    std::error_code ec;
    if (fs::canonical(*path, ec) != *path || ec) std::abort();
    std::string prefix = t.web.string() + "/";
    if (path->string().compare(0, prefix.size(), prefix) != 0) std::abort();
    if (!fs::is_regular_file(*path, ec)) std::abort();
    if (!name.empty() && !clusterlite::is_safe_static_name(name)) std::abort();
  }
  auto file = t.files->read(name);
  if (file) {
    if (!path) std::abort();
    if (file->body.find(kSecret) != std::string::npos) std::abort();
  }
  return 0;
}
