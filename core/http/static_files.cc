#include "http/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace clusterlite {

namespace fs = std::filesystem;

bool is_safe_static_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxStaticNameBytes) return false;
  bool segment_start = true;
  for (char c : name) {
    if (c == '/') {
      if (segment_start) return false;  // leading '/' or "//"
      segment_start = true;
      continue;
    }
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                   c == '-' || c == '_';
    if (!allowed) return false;
    if (segment_start && c == '.') return false;  // ".", "..", hidden files
    segment_start = false;
  }
  return !segment_start;  // no trailing '/'
}

namespace {

// True when `path` is `root` itself or below it, compared segment by segment
// (so /srv/web-other is not inside /srv/web). Both are canonical.
bool is_inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p)
    if (p == path.end() || *p != *r) return false;
  return p != path.end();
}

const char* content_type_of(const fs::path& path) {
  auto ext = path.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

StaticFiles::StaticFiles(const std::string& directory) {
  if (directory.empty()) return;
  std::error_code ec;
  fs::path root = fs::canonical(directory, ec);
  if (ec || !fs::is_directory(root, ec))
    throw std::runtime_error("config key 'http.ui_directory': '" + directory + "' is not a directory");
  if (root == root.root_path())
    throw std::runtime_error("config key 'http.ui_directory': '" + directory + "' is the root directory");
  root_ = std::move(root);
}

std::optional<fs::path> StaticFiles::resolve(std::string_view name) const {
  if (root_.empty()) return std::nullopt;
  if (name.empty()) name = "index.html";
  if (!is_safe_static_name(name)) return std::nullopt;
  std::error_code ec;
  fs::path path = fs::canonical(root_ / fs::path(name), ec);
  if (ec || !is_inside(path, root_) || !fs::is_regular_file(path, ec) || ec) return std::nullopt;
  return path;
}

std::optional<StaticFiles::File> StaticFiles::read(std::string_view name) const {
  auto path = resolve(name);
  if (!path) return std::nullopt;
  // O_NOFOLLOW: the canonical path has no symlink, and one put there since is
  // not followed; O_NONBLOCK: a FIFO put there since does not block the open.
  int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  File file{{}, content_type_of(*path)};
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<size_t>(st.st_size) <= kMaxStaticFileBytes;
  if (ok) {
    file.body.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < file.body.size()) {
      ssize_t n = ::read(fd, file.body.data() + done, file.body.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    file.body.resize(done);  // a file that shrank meanwhile is served as it is now
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return file;
}

}  // namespace clusterlite
