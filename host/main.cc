// The clusterlite executable: parses the command line, loads the config,
// runs a Node until SIGTERM or SIGINT, and exits 0 after a clean stop; or,
// with --rebuild-to, rebuilds the database as of a moment into a new file.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <memory>
#include <string>

#include "config.h"
#include "http/routes.h"
#include "http/static_files.h"
#include "log.h"
#include "node.h"
#include "plugins/plugin_loader.h"
#include "rebuild/rebuild.h"

#ifndef CLUSTERLITE_VERSION
#define CLUSTERLITE_VERSION "0.0.0"
#endif

namespace {

const char* kUsage = R"(Usage: clusterlite [--config FILE] [--check-config] [--routes] [--help] [--version]
       clusterlite [--config FILE] --rebuild-to OUT.db --until TIME|P:O,...

Runs one ClusterLite node: a REST API over SQLite, kept in sync with the
other nodes through a shared event log (Kafka, Redpanda, or an embedded log).

  --config FILE    configuration file (JSON, comments allowed); default: none,
                   built-in defaults plus CLUSTERLITE_* environment variables
  --check-config   load and check the configuration and the plugins, print a
                   summary, and exit (0 when valid)
  --routes         print the HTTP routes (method, path, the token each
                   needs when API tokens are configured) as JSON, and exit
  --rebuild-to OUT.db
                   replay the node's log (its Kafka topic, or a standalone
                   node's embedded log) into the new SQLite file OUT.db as the
                   database was at --until, with the plugins of the config,
                   and exit (0 when built); never overwrites a file
  --until TIME|P:O,...
                   the moment: an RFC 3339 time (2026-12-07T05:00:00Z), each
                   partition up to its first event stamped later; or
                   partition:offset pairs (0:1500,2:37), the events at offsets
                   below each (partitions not named: up to their current end)
  --help           show this help
  --version        show the version

A rebuild prints one summary line; on a terminal it also shows its progress
on standard error. See docs/operations.md, "Undoing a change".

Environment overrides: CLUSTERLITE_NODE_ID, CLUSTERLITE_MODE,
CLUSTERLITE_HTTP_ADDRESS, CLUSTERLITE_HTTP_PORT, CLUSTERLITE_DB_PATH,
CLUSTERLITE_KAFKA_BROKERS, CLUSTERLITE_KAFKA_TOPIC, CLUSTERLITE_PLUGINS_DIR,
CLUSTERLITE_UI_DIR, CLUSTERLITE_READ_TOKENS, CLUSTERLITE_WRITE_TOKENS,
CLUSTERLITE_BOOTSTRAP_PEERS, CLUSTERLITE_BOOTSTRAP_WHEN_BEHIND,
CLUSTERLITE_BOOTSTRAP_TOKEN. Every key is documented in docs/configuration.md.

Signals: SIGTERM or SIGINT stop the node (exit 0); SIGHUP reloads the plugins;
SIGUSR1 stops the node and starts it again in the same process (what a node
with bootstrap.when_behind does itself when its next events left the log).
)";

// The route table as a JSON array, one route per line.
void print_routes() {
  std::cout << "[\n";
  auto all = clusterlite::routes();
  for (size_t i = 0; i < all.size(); ++i)
    std::cout << R"(  {"method": ")" << all[i].method << R"(", "path": ")" << all[i].pattern << R"(", "access": ")"
              << clusterlite::to_string(all[i].access) << "\"}" << (i + 1 < all.size() ? ",\n" : "\n");
  std::cout << "]\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace clusterlite;
  std::string config_path;
  bool check_only = false;
  std::optional<std::string> rebuild_to;
  std::optional<std::string> until;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "clusterlite " << CLUSTERLITE_VERSION << "\n";
      return 0;
    } else if (arg == "--routes") {
      print_routes();
      return 0;
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--rebuild-to" && i + 1 < argc) {
      rebuild_to = argv[++i];
    } else if (arg.rfind("--rebuild-to=", 0) == 0) {
      rebuild_to = arg.substr(13);
    } else if (arg == "--until" && i + 1 < argc) {
      until = argv[++i];
    } else if (arg.rfind("--until=", 0) == 0) {
      until = arg.substr(8);
    } else {
      std::cerr << "clusterlite: unknown argument '" << arg << "' (see --help)\n";
      return 2;
    }
  }

  RebuildOptions rebuild_options;
  if (rebuild_to || until) {
    std::string usage_error;
    if (!rebuild_to)
      usage_error = "--until needs --rebuild-to OUT.db";
    else if (!until)
      usage_error = "--rebuild-to needs --until TIME|P:O,... (an RFC 3339 time or partition:offset pairs)";
    else if (rebuild_to->empty())
      usage_error = "--rebuild-to needs a file name";
    else if (check_only)
      usage_error = "--rebuild-to cannot be combined with --check-config";
    if (usage_error.empty()) {
      try {
        rebuild_options.until = parse_until(*until);
      } catch (const std::invalid_argument& e) {
        usage_error = e.what();
      }
    }
    if (!usage_error.empty()) {
      std::cerr << "clusterlite: " << usage_error << " (see --help)\n";
      return 2;
    }
    rebuild_options.out_path = *rebuild_to;
  }

  // Block the signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Config config;
  try {
    config = config_path.empty() ? parse_config("{}") : load_config_file(config_path);
    apply_env_overrides(config, [](const char* name) { return std::getenv(name); });
    finalize_config(config);
  } catch (const std::exception& e) {
    std::cerr << "clusterlite: " << e.what() << "\n";
    return 2;
  }
  const auto log_format = config.log.json ? log::Format::kJson : log::Format::kText;
  if (rebuild_to) {
    // A rebuild reports rejected and held events in its summary; the log
    // says only what went wrong (or everything, at debug).
    log::configure(config.log.level == LogLevel::kDebug ? LogLevel::kDebug : LogLevel::kError, log_format);
    rebuild_options.show_progress = ::isatty(STDERR_FILENO) == 1;
    rebuild_options.wait_for_signal = [&stop_signals](std::chrono::milliseconds timeout) {
      timespec wait{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1000000};
      int sig = sigtimedwait(&stop_signals, nullptr, &wait);
      return sig > 0 ? sig : 0;
    };
    try {
      std::cout << rebuild(config, rebuild_options).summary << "\n";
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "clusterlite: rebuild failed: " << e.what() << "\n";
      return 1;
    }
  }
  log::configure(config.log.level, log_format);

  try {
    if (check_only) {
      StaticFiles ui(config.http.ui_directory);
      auto plugins = load_plugins(config.plugins, config.node_id);
      std::cout << "config OK: node " << config.node_id << ", " << to_string(config.mode) << " mode, database "
                << config.database.path << ", " << plugins.size() << " plugin(s):";
      for (auto& p : plugins) std::cout << " " << p.name << "(" << p.table_name << ", version " << p.version << ")";
      std::cout << "\n";
      return 0;
    }
    // SIGUSR1: the node asks to be started again (bootstrap.when_behind: its
    // next events fell off the log while it ran, and a new start takes a
    // peer's snapshot).
    auto start_node = [&config] {
      auto node = std::make_unique<Node>(config);
      node->on_fell_behind([] { ::kill(::getpid(), SIGUSR1); });
      node->start();
      return node;
    };
    auto node = start_node();
    int sig = 0;
    for (;;) {
      sigwait(&stop_signals, &sig);
      if (sig == SIGUSR1) {
        log::warn("node", "the log no longer holds the next events this node needs; starting the node again "
                          "to take a snapshot from a peer (bootstrap.when_behind)");
        node->stop();
        node.reset();
        node = start_node();
        continue;
      }
      if (sig != SIGHUP) break;
      // SIGHUP: load new and changed plugins, as POST /_admin/plugins/reload does.
      log::info("node", "received SIGHUP, reloading plugins");
      auto result = node->reload_plugins();
      if (result.ok) log::info("node", "plugins reloaded");
    }
    log::info("node", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
    node->stop();
  } catch (const std::exception& e) {
    std::cerr << "clusterlite: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
