#include "node_process.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace clusterlite::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string clusterlite_binary() { return CLUSTERLITE_TEST_BINARY; }
std::string plugins_directory() { return CLUSTERLITE_TEST_PLUGINS_DIR; }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/clusterlite-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

// Merges `from` into `into`: objects key by key, anything else replaces.
void merge(rapidjson::Value& into, const rapidjson::Value& from, rapidjson::Document::AllocatorType& a) {
  if (!into.IsObject() || !from.IsObject()) {
    into.CopyFrom(from, a);
    return;
  }
  for (auto& m : from.GetObject()) {
    auto it = into.FindMember(m.name);
    if (it == into.MemberEnd())
      into.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
    else
      merge(it->value, m.value, a);
  }
}

std::string config_json(const NodeOptions& options, uint16_t port, const std::string& db_path) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  auto str = [&](const std::string& s) {
    return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  doc.AddMember("node_id", str(options.node_id), a);
  doc.AddMember("mode", str(options.mode), a);
  rapidjson::Value http(rapidjson::kObjectType);
  http.AddMember("address", "127.0.0.1", a);
  http.AddMember("port", port, a);
  doc.AddMember("http", http, a);
  rapidjson::Value database(rapidjson::kObjectType);
  database.AddMember("path", str(db_path), a);
  doc.AddMember("database", database, a);
  rapidjson::Value plugins(rapidjson::kObjectType);
  plugins.AddMember("directory", str(plugins_directory()), a);
  rapidjson::Value load(rapidjson::kArrayType);
  load.PushBack("users", a);
  plugins.AddMember("load", load, a);
  doc.AddMember("plugins", plugins, a);

  rapidjson::Document extra;
  extra.Parse(options.extra_config.c_str());
  if (extra.HasParseError() || !extra.IsObject())
    throw std::runtime_error("NodeOptions.extra_config is not a JSON object: " + options.extra_config);
  merge(doc, extra, a);

  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return buf.GetString();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

}  // namespace

NodeProcess::NodeProcess(NodeOptions options) {
  db_path_ = dir_.path() + "/node.db";
  config_path_ = dir_.path() + "/config.json";
  output_path_ = dir_.path() + "/node.log";
  // A free port can be taken by someone else before the node binds it: try a few.
  for (int attempt = 1;; ++attempt) {
    try {
      start(options);
      return;
    } catch (const std::runtime_error&) {
      kill();
      if (attempt == 3 || output().find("in use") == std::string::npos) throw;
    }
  }
}

NodeProcess::~NodeProcess() { kill(); }

void NodeProcess::start(const NodeOptions& options) {
  port_ = free_port();
  {
    std::ofstream out(config_path_, std::ios::trunc);
    out << config_json(options, port_, db_path_);
    if (!out) throw std::runtime_error("cannot write " + config_path_);
  }

  // Everything the child needs is prepared before fork: after it only
  // async-signal-safe calls run.
  std::string binary = clusterlite_binary();
  std::vector<std::string> args = {binary, "--config", config_path_};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "CLUSTERLITE_", 12) != 0) env.emplace_back(*e);
  for (auto& [k, v] : options.env) env.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();

  int out_fd = ::open(output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0) throw std::runtime_error("cannot open " + output_path_ + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The node dies with the test process, so a crashed test leaves nothing running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  pid_ = pid;

  auto deadline = Clock::now() + options.start_timeout;
  std::string last_error;
  while (Clock::now() < deadline) {
    if (auto code = wait_exit(std::chrono::milliseconds(0)))
      throw std::runtime_error("clusterlite exited with " + std::to_string(*code) + " during start-up:\n" + output());
    try {
      if (request("GET", "/healthz").status == 200) return;
    } catch (const std::runtime_error& e) {
      last_error = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("clusterlite did not answer /healthz within " +
                           std::to_string(options.start_timeout.count()) + " ms (" + last_error + "):\n" + output());
}

std::string NodeProcess::output() const { return read_file(output_path_); }

HttpResponse NodeProcess::request(std::string_view method, std::string_view target, const Headers& headers,
                                  std::string_view body) const {
  return http_request(port_, method, target, headers, body, std::chrono::seconds(10));
}

std::optional<int> NodeProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return decode_wait_status(status);
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return -1000;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool NodeProcess::alive() { return pid_ > 0 && !wait_exit(std::chrono::milliseconds(0)); }

int NodeProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) throw std::runtime_error("NodeProcess::stop: the node is not running");
  ::kill(pid_, SIGTERM);
  if (auto code = wait_exit(timeout)) return *code;
  kill();
  return -SIGKILL;
}

void NodeProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace clusterlite::test
