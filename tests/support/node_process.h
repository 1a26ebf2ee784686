// NodeProcess: runs the real `clusterlite` executable of this build as a child
// process for tests, on a free port, with its database in a fresh temporary
// directory, and stops it with SIGTERM or SIGKILL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "http_client.h"

namespace clusterlite::test {

// The clusterlite binary and the plugins directory of the build the tests belong to.
std::string clusterlite_binary();
std::string plugins_directory();

// A directory under $TMPDIR (or /tmp), removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct NodeOptions {
  std::string node_id = "test-node";
  std::string mode = "standalone";
  // A JSON object merged into the generated config (objects merge key by key,
  // anything else replaces), e.g. R"({"http": {"max_body_bytes": 1024}})".
  std::string extra_config = "{}";
  // Environment variables set for the child, beside the inherited ones
  // (inherited CLUSTERLITE_* variables are dropped so they cannot override the config).
  std::map<std::string, std::string> env;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(15);
};

class NodeProcess {
 public:
  // Writes the config (node_id, mode, http.address 127.0.0.1 and a free port,
  // database.path in a fresh temporary directory, plugins.directory of this
  // build loading "users") and starts the node; returns once GET /healthz
  // answers 200. Throws std::runtime_error, with the node's stderr, when it
  // exits or does not become healthy within options.start_timeout.
  explicit NodeProcess(NodeOptions options = {});
  // Kills the node with SIGKILL if it still runs.
  ~NodeProcess();
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  uint16_t port() const { return port_; }
  const std::string& db_path() const { return db_path_; }
  const std::string& config_path() const { return config_path_; }
  const std::string& dir() const { return dir_.path(); }
  pid_t pid() const { return pid_; }
  // True while the process has not exited (reaps it when it has).
  bool alive();

  // Everything the node wrote to stdout and stderr so far.
  std::string output() const;

  // One request on a fresh connection to the node.
  HttpResponse request(std::string_view method, std::string_view target, const Headers& headers = {},
                       std::string_view body = {}) const;

  // Sends SIGTERM and waits up to `timeout` for the exit. Returns the exit
  // code, or -(signal number) when a signal ended it; on timeout kills it with
  // SIGKILL and returns -SIGKILL.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Sends SIGKILL and reaps the process.
  void kill();

 private:
  void start(const NodeOptions& options);
  // Waits up to `timeout` for the child to exit; the exit as stop() reports it, or nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  TempDir dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string db_path_;
  std::string config_path_;
  std::string output_path_;
};

}  // namespace clusterlite::test
