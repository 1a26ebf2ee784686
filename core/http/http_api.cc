#include "http/http_api.h"

#include <pistache/http.h>
#include <pistache/listener.h>
#include <pistache/net.h>
#include <pistache/peer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cctype>
#include <cstring>
#include <sstream>
#include <thread>

#include <strings.h>

#include "apply/checksum.h"
#include "apply/idempotency.h"
#include "eventlog/event_codec.h"
#include "http/active_connections.h"
#include "http/connection_guard.h"
#include "http/guarded_transport.h"
#include "http/list_query.h"
#include "http/openapi.h"
#include "http/problem.h"
#include "http/request_head.h"
#include "http/responder.h"
#include "http/response_socket.h"
#include "http/routes.h"
#include "http/session_position.h"
#include "http/snapshot_endpoint.h"
#include "http/static_files.h"
#include "http/status_pages.h"
#include "http/url.h"
#include "http/work_queue.h"
#include "json.h"
#include "log.h"
#include "sha256.h"
#include "thread_name.h"
#include "timeutil.h"
#include "uuid.h"

namespace clusterlite {

using namespace Pistache;

struct HttpApi::State {
  explicit State(NodeServices s) : services(s), blocking(2), snapshots(kMaxSnapshotsAtOnce) {}
  NodeServices services;
  WorkQueue blocking;   // broker round trips and table scans
  WorkQueue snapshots;  // GET /_cluster/snapshot, one thread per snapshot being made or sent
  std::atomic<int> snapshots_taken{0};  // admitted and not yet done, at most kMaxSnapshotsAtOnce
  std::unique_ptr<Tcp::Listener> listener;
  std::shared_ptr<ConnectionGuard> guard;  // connection cap and request timeouts
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};  // requests taken and not yet answered
  std::shared_ptr<ActiveConnections> connections = std::make_shared<ActiveConnections>();  // sent a request lately
  std::atomic<int> awaiting_log{0};  // appends not yet acknowledged or refused by the log
  std::atomic<bool> stopped{false};
  OpenApiCache openapi;  // GET /openapi.json, built once per plugin set
  // Whether reads at the default consistency are served (check_readiness),
  // read again every kReadinessEvery by cl-readiness, and the lag behind it.
  std::atomic<bool> ready{true};
  std::atomic<int64_t> behind{0};
  std::mutex readiness_mutex;
  std::condition_variable readiness_wake;
  std::thread readiness_thread;
};

namespace {

// Descriptors kept for everything but client connections (SQLite, the log,
// Pistache's and the node's own).
constexpr int kReservedDescriptors = 512;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int http_status(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalid: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kConflict: return 409;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

enum class WriteKind { kCreate, kUpdate, kDelete };

// A plugin object; a request holds it until answered, so a reload that
// replaces the plugin never pulls it from under the request.
using PluginPtr = std::shared_ptr<TableOperations>;

std::string accepted_body(const std::string& event_id, int32_t partition, int64_t offset, const char* detail) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("event_id");
  w.String(event_id.c_str());
  if (partition >= 0) {
    w.Key("partition");
    w.Int(partition);
    w.Key("offset");
    w.Int64(offset);
  }
  w.Key("detail");
  w.String(detail);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// The `Location` of an entity: /{table}/{id}.
std::string entity_path(const std::string& table, const std::string& entity_id) {
  return "/" + table + "/" + url_encode(entity_id);
}

// 202: the event is in the log, not yet applied here. `Location` names the
// entity (for a create, the only way the client learns the new id).
void send_accepted(Responder& r, const std::string& table, const std::string& entity_id, const std::string& event_id,
                   int32_t partition, int64_t offset, const char* detail) {
  if (!entity_id.empty()) r.add_header("Location", entity_path(table, entity_id));
  r.send(202, accepted_body(event_id, partition, offset, detail));
}

class Router {
 public:
  explicit Router(HttpApi::State& state) : s_(state), cfg_(state.services.config) {}

  // `method`: the request's (also one Pistache does not know). `position`:
  // the ClusterLite-Position value read from the request's head before
  // Pistache parsed it (request_head.h), if it had one.
  void handle(const Http::Request& req, ResponderPtr r, const std::string& method,
              std::optional<std::string_view> position) {
    const std::string& path = req.resource();
    if (method == "OPTIONS") return preflight(req, *r);
    if (s_.draining) {
      r->add_header("Retry-After", "1");
      return r->problem(503, "the node is shutting down");
    }
    RouteMatch m = match_route(method, path);
    if (!m.route) {
      if (m.allow.empty()) return r->problem(404, "no such resource");
      r->set_route(m.allow_metric);
      if (m.allow_access != Access::kOpen && !authorized(req, false, *r)) return;
      r->add_header("Allow", m.allow);
      return r->problem(405, "method not allowed; allowed: " + m.allow);
    }
    const RouteSpec& route = *m.route;
    r->set_route(route.metric);
    if (route.access != Access::kOpen && !authorized(req, route.access == Access::kWrite, *r)) return;
    switch (route.endpoint) {
      case Endpoint::kHealth: return healthz(*r);
      case Endpoint::kReady: return readyz(r);
      case Endpoint::kMetrics: return metrics(r);
      case Endpoint::kClusterStatus: return cluster_status(r);
      case Endpoint::kChecksum: return checksum(std::string(m.params[0]), r);
      case Endpoint::kReloadPlugins: return reload_plugins(r);
      case Endpoint::kSnapshot: return snapshot(r);
      case Endpoint::kSchema: return r->send(200, schema_json(*s_.services.registry.current()));
      case Endpoint::kChanges: return changes(req, r);
      case Endpoint::kOpenApi: return r->send(200, *s_.openapi.get(s_.services.registry.current()));
      case Endpoint::kRedirectToUi:
        r->add_header("Location", "/ui/");
        return r->send(302, {}, "text/plain");
      case Endpoint::kUiFile: return static_file(m.params.empty() ? std::string_view{} : m.params[0], *r);
      default: break;
    }

    // /{table} and /{table}/{id}
    std::string table(m.params[0]);
    if (!is_valid_table_name(table)) return r->problem(404, "unknown table: " + table.substr(0, 64));
    // A table whose events this node holds is not served here until they are
    // applied: its rows may be missing events other nodes applied.
    if (PendingTable pending; s_.services.applier.is_pending(table, &pending)) return refuse_pending(pending, *r);
    // The request keeps the plugin it starts with, also across a reload.
    auto plugins = s_.services.registry.current();
    const LoadedPlugin* loaded = plugins->find(table);
    if (!loaded) return r->problem(404, "unknown table: " + table.substr(0, 64));
    const PluginPtr& plugin = loaded->table;
    const Position* brought = session_position(req, position, *r);
    if (!brought) return;
    const Position& session = *brought;
    if (route.endpoint == Endpoint::kList) return list(req, *loaded, table, session, r);
    if (route.endpoint == Endpoint::kCreate)
      return write(req, WriteKind::kCreate, *loaded, table, {}, session, r);
    std::string id;
    if (!decode_id(m.params[1], id)) return r->problem(400, "invalid id in path");
    if (route.endpoint == Endpoint::kGet) return get_one(req, plugin, id, session, r);
    if (route.endpoint == Endpoint::kHistory) return history(req, *loaded, table, id, session, r);
    write(req, route.endpoint == Endpoint::kUpdate ? WriteKind::kUpdate : WriteKind::kDelete, *loaded, table, id,
          session, r);
  }

 private:
  // 503 for a table this node holds events of: another node may serve it
  // (nginx retries idempotent requests there).
  static void refuse_pending(const PendingTable& pending, Responder& r) {
    r.add_header("Retry-After", "5");
    r.problem(503,
              "table " + pending.table + " is pending on this node: " + std::to_string(pending.held_events) +
                  " events wait for its plugin (" + pending.reason + ")",
              {},
              "\"pending_table\":\"" + pending.table + "\",\"held_events\":" +
                  std::to_string(pending.held_events) + ",\"needs_plugin_version\":" +
                  std::to_string(pending.needs_version));
  }

  // OPTIONS: the methods this path answers (its pattern's routes), for
  // `Allow` and a CORS preflight; 404 for a path no route has.
  void preflight(const Http::Request& req, Responder& r) {
    RouteMatch m = match_route("OPTIONS", req.resource());
    if (m.allow.empty()) return r.problem(404, "no such resource");
    r.set_route(m.allow_metric);
    r.add_header("Allow", m.allow);
    if (r.cors_allowed()) {
      r.add_header("Access-Control-Allow-Methods", m.allow);
      auto asked = request_header(req, "Access-Control-Request-Headers");
      r.add_header("Access-Control-Allow-Headers", asked ? *asked : "Content-Type, Authorization, Prefer");
      r.add_header("Access-Control-Max-Age", "600");
    }
    r.send(204, {}, "text/plain");
  }

  void healthz(Responder& r) {
    r.send(200, R"({"status":"ok"})");
  }

  // True when the request may proceed; otherwise answers 401 or 403.
  // Tokens are compared in constant time and never logged.
  bool authorized(const Http::Request& req, bool write, Responder& r) {
    const auto& auth = cfg_.auth;
    if (!auth.enabled()) return true;
    auto value = request_header(req, "Authorization");
    std::string token;
    if (value && value->size() > 7 && lower(value->substr(0, 7)) == "bearer ") token = value->substr(7);
    auto matches = [&](const std::vector<std::string>& list) {
      bool found = false;
      for (auto& t : list) {
        unsigned diff = t.size() ^ token.size();
        for (size_t i = 0; i < t.size(); ++i) diff |= static_cast<unsigned char>(t[i]) ^
                                                     static_cast<unsigned char>(i < token.size() ? token[i] : 0);
        found |= diff == 0;
      }
      return found;
    };
    bool can_write = !token.empty() && matches(auth.write_tokens);
    bool can_read = can_write || (!token.empty() && matches(auth.read_tokens));
    if (!can_read) {
      r.add_header("WWW-Authenticate", "Bearer realm=\"clusterlite\"");
      r.problem(401, token.empty() ? "missing bearer token" : "invalid token");
      return false;
    }
    if (write && !can_write) {
      r.problem(403, "this token may only read");
      return false;
    }
    return true;
  }

  // The operations documents ask the broker, so they are built on the blocking pool.
  void readyz(ResponderPtr r) {
    auto& state = s_;
    s_.blocking.post([&state, r] {
      auto report = readiness(state.services, state.draining);
      r->send(report.ready ? 200 : 503, report.json);
    });
  }

  void metrics(ResponderPtr r) {
    auto& state = s_;
    s_.blocking.post([&state, r] {
      r->send(200, metrics_text(state.services, *state.guard), "text/plain; version=0.0.4; charset=utf-8");
    });
  }

  void cluster_status(ResponderPtr r) {
    auto& state = s_;
    s_.blocking.post([&state, r] { r->send(200, cluster_status_json(state.services)); });
  }

  // POST /_admin/plugins/reload: on the blocking pool (it reads files and
  // waits for the applier).
  void reload_plugins(ResponderPtr r) {
    auto& state = s_;
    state.blocking.post([&state, r] {
      auto result = state.services.reload_plugins();
      if (result.ok) return r->send(200, result.json());
      r->problem(422, "plugin reload refused, nothing changed: " + result.error);
    });
  }

  // GET /_cluster/snapshot, on a thread of its own while it copies and sends.
  void snapshot(ResponderPtr r) {
    auto& state = s_;
    if (state.snapshots_taken.fetch_add(1) >= kMaxSnapshotsAtOnce) {
      state.snapshots_taken.fetch_sub(1);
      r->add_header("Retry-After", "5");
      return r->problem(503, "this node is already sending " + std::to_string(kMaxSnapshotsAtOnce) +
                                 " snapshots; retry later or ask another node");
    }
    bool queued = state.snapshots.post([&state, r] {
      serve_snapshot(state.services, *r, [&state] { return state.draining.load() || state.stopped.load(); });
      state.snapshots_taken.fetch_sub(1);
    });
    if (!queued) {
      state.snapshots_taken.fetch_sub(1);
      r->problem(503, "the node is shutting down");
    }
  }

  void checksum(std::string table, ResponderPtr r) {
    if (PendingTable pending; s_.services.applier.is_pending(table, &pending)) return refuse_pending(pending, *r);
    auto plugins = s_.services.registry.current();
    const LoadedPlugin* loaded = is_valid_table_name(table) ? plugins->find(table) : nullptr;
    if (!loaded) return r->problem(404, "unknown table: " + table.substr(0, 64));
    PluginPtr plugin = loaded->table;
    auto& state = s_;
    state.blocking.post([&state, plugin, table, r] {
      try {
        auto reader = state.services.store.read();
        auto sum = table_checksum(reader.db(), *plugin, state.services.log.topic());
        r->send(200, sum);
      } catch (const std::exception& e) {
        log::error("http", "checksum of " + table + " failed: " + e.what());
        r->problem(500, "checksum failed");
      }
    });
  }

  // A file of the web UI (StaticFiles confines it to http.ui_directory).
  void static_file(std::string_view name, Responder& r) {
    auto file = s_.services.ui.read(name);
    if (!file) return r.problem(404, "no such file");
    r.ui_document();
    r.add_header("Cache-Control", "no-cache");
    r.send(200, file->body, file->content_type);
  }

  // A read's ?consistency=: strong (catch up with the log first), local (the
  // default: this node's copy, refused with 503 while the node is not ready,
  // so nginx asks a node that is) or none (this node's copy, however far
  // behind). False after answering 400 or 503.
  bool strong(const Http::Request& req, Responder& r, bool& wants, std::string* param = nullptr) {
    wants = false;
    auto c = req.query().get("consistency");
    if (c && *c == "strong") {
      wants = true;
      if (param) *param = "&consistency=strong";
      return true;
    }
    if (c && *c == "none") {
      if (param) *param = "&consistency=none";
      return true;
    }
    if (c && *c != "local") {
      r.problem(400, "consistency must be \"local\", \"strong\" or \"none\"", "consistency");
      return false;
    }
    if (!s_.ready.load(std::memory_order_relaxed)) {
      r.add_header("Retry-After", "2");
      r.problem(503, "this node is catching up with the log: it is " + std::to_string(s_.behind.load()) +
                         " events behind (more than applier.max_ready_lag); another node may serve this, or ask "
                         "for this node's possibly stale copy with ?consistency=none");
      return false;
    }
    return true;
  }

  // The session position a request brings: the ClusterLite-Position header
  // (`lifted`, read from the head before Pistache parsed it, or a header
  // Pistache kept), the clusterlite_position cookie, or several of them,
  // merged; nullptr after answering 400 for a malformed one. A token of
  // another log (the cluster was built again on a new topic) is ignored.
  // What it returns lives on this thread until its next request: whatever
  // runs later copies it.
  const Position* session_position(const Http::Request& req, std::optional<std::string_view> lifted,
                                    Responder& r) {
    static const Position kNone;
    // A client sends the same token until it writes again: each thread keeps
    // the token it decoded last from each source, and what it decoded to.
    struct Decoded {
      std::string token, topic;
      Position position;
      PositionToken kind = PositionToken::kMalformed;
    };
    thread_local Decoded from_head, from_header, from_cookie;
    thread_local Position merged;
    const std::string& topic = s_.services.log.topic();
    const Position* session = &kNone;
    auto take = [&](Decoded& d, std::string_view token, const std::string& where) {
      if (token != d.token || topic != d.topic) {
        d.position.clear();
        d.kind = decode_position(token, topic, d.position);
        d.token.assign(token);
        d.topic = topic;
      }
      if (d.kind == PositionToken::kMalformed) {
        r.problem(400, where + " is not a ClusterLite position token (as a write answer gives it)", where);
        return false;
      }
      if (d.kind != PositionToken::kValid) return true;
      if (session == &kNone) {
        session = &d.position;
      } else {
        if (session != &merged) merged = *session;
        merge_position(merged, d.position);
        session = &merged;
      }
      return true;
    };
    static const std::string kHeader(kPositionHeader), kCookie(kPositionCookie);
    if (lifted && !take(from_head, *lifted, kHeader)) return nullptr;
    // Pistache's map hashes a lower-cased copy of the name it is asked for:
    // the few raw headers are compared in place instead.
    for (const auto& [name, raw] : req.headers().rawList())
      if (name.size() == kHeader.size() && strncasecmp(name.data(), kHeader.data(), kHeader.size()) == 0 &&
          !take(from_header, trim_field_value(raw.value()), kHeader))
        return nullptr;
    if (req.cookies().has(kCookie) && !take(from_cookie, req.cookies().get(kCookie).value, kCookie + " cookie"))
      return nullptr;
    return session;
  }

  // Whether this node has applied the session's position already (no waiter
  // is made for it then). Applied offsets only grow, so a position found
  // applied stays applied: each thread keeps, per hub, the highest it has
  // seen applied and asks the hub (a lock) only for a position beyond it.
  bool reached(const Position& session) const {
    if (session.empty()) return true;
    thread_local const CompletionHub* owner = nullptr;
    thread_local Position known;
    auto& hub = s_.services.hub;
    if (owner != &hub) {
      owner = &hub;
      known.clear();
    }
    auto covered = [&](const std::pair<const int32_t, int64_t>& entry) {
      auto it = known.find(entry.first);
      return it != known.end() && it->second >= entry.second;
    };
    if (std::all_of(session.begin(), session.end(), covered)) return true;
    if (!hub.has_applied(session)) return false;
    merge_position(known, session);
    return true;
  }

  // Runs `then` once this node has applied the session's position: at once
  // when it has (or there is none), else on the hub's thread when it gets
  // there; 503 with Retry-After when it does not within
  // http.strong_read_timeout_ms.
  void after_position(const Position& session, ResponderPtr r, std::function<void()> then) {
    if (reached(session)) return then();
    int timeout_ms = cfg_.http.strong_read_timeout_ms;
    s_.services.hub.when_applied(session, Clock::now() + std::chrono::milliseconds(timeout_ms),
                                 [r, then = std::move(then), timeout_ms](bool ok) {
                                   if (ok) return then();
                                   r->add_header("Retry-After", "1");
                                   r->problem(503, "this node did not reach the session's position (" +
                                                       std::string(kPositionHeader) + ") within " +
                                                       std::to_string(timeout_ms) + " ms");
                                 });
  }

  // Runs `then` now, or after this node caught up with the log's current end
  // (503 with Retry-After when it cannot within http.strong_read_timeout_ms).
  void with_consistency(bool strong, ResponderPtr r, std::function<void()> then) {
    if (!strong) return then();
    auto& state = s_;
    int timeout_ms = cfg_.http.strong_read_timeout_ms;
    state.blocking.post([&state, r, then = std::move(then), timeout_ms] {
      auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      auto ends = state.services.log.end_offsets(std::chrono::milliseconds(timeout_ms));
      if (!ends) {
        r->add_header("Retry-After", "1");
        return r->problem(503, "event log unreachable: cannot tell how far this node must catch up");
      }
      state.services.hub.when_applied(*ends, deadline, [r, then](bool ok) {
        if (ok) return then();
        r->add_header("Retry-After", "1");
        r->problem(503, "node did not catch up with the log in time");
      });
    });
  }

  // Runs `read` once this node has applied the session's position and, for a
  // strong read, the log's end.
  void read_when_ready(const Position& session, bool strong, ResponderPtr r, std::function<void()> read) {
    if (reached(session)) return with_consistency(strong, r, std::move(read));
    after_position(session, r, [router = *this, strong, r, read = std::move(read)]() mutable {
      router.with_consistency(strong, r, std::move(read));
    });
  }

  void get_one(const Http::Request& req, PluginPtr plugin, const std::string& id, const Position& session,
               ResponderPtr r) {
    bool wants_strong;
    if (!strong(req, *r, wants_strong)) return;
    auto& store = s_.services.store;
    read_when_ready(session, wants_strong, r, [&store, plugin, id, r] {
      std::optional<std::string> row;
      try {
        auto reader = store.read();
        row = plugin->get(reader.db(), id);
      } catch (const std::exception& e) {
        log::error("http", std::string("get failed: ") + e.what());
        return r->problem(500, "read failed");
      }
      if (!row) return r->problem(404, "not found: " + id.substr(0, 64));
      r->send(200, *row);
    });
  }

  // A page's `limit` and `after` query parameters; false after answering 400.
  bool page_params(const Http::Request& req, Responder& r, int& limit, std::string& after) {
    limit = kDefaultLimit;
    if (auto l = req.query().get("limit"); l && !parse_limit(*l, limit)) {
      r.problem(400, "limit must be an integer from 1 to " + std::to_string(kMaxLimit), "limit");
      return false;
    }
    after.clear();
    if (auto a = req.query().get("after"); a && !decode_id(*a, after)) {
      r.problem(400, "after must be an id", "after");
      return false;
    }
    return true;
  }

  // GET /{table}: a page in id order (get_all, as every plugin serves), or
  // a query (filters, search, another order) the plugin answers from its
  // indexes (TableOperations::query, ABI 3). The parameters and the cursor
  // are checked here, the same for every table (list_query.h).
  void list(const Http::Request& req, const LoadedPlugin& loaded, const std::string& table, const Position& session,
            ResponderPtr r) {
    std::vector<std::pair<std::string, std::string>> params;
    for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it)
      params.emplace_back(it->first, it->second);
    ListRequest request;
    ListParamError error;
    // A plugin built before queries (ABI 1 and 2) has no query fields and
    // takes the id order only (list_orders): its requests stay plain.
    if (!parse_list_request(params, table, loaded.fields, loaded.abi, request, error))
      return r->problem(400, error.message, error.parameter);
    bool wants_strong;
    std::string consistency;
    if (!strong(req, *r, wants_strong, &consistency)) return;
    auto& store = s_.services.store;
    PluginPtr plugin = loaded.table;
    read_when_ready(session, wants_strong, r, [&store, plugin, table, request, consistency, r] {
      std::vector<QueryRow> rows;
      try {
        auto reader = store.read();
        if (request.plain) {
          for (auto& row : plugin->get_all(reader.db(), request.query.after_id, request.limit + 1))
            rows.push_back({std::move(row.id), std::move(row.json), {}});
        } else {
          Query query = request.query;
          query.limit = request.limit + 1;
          Status status = plugin->query(reader.db(), query, rows);
          if (status.code() == StatusCode::kInvalid) {
            // A value that does not fit its field: the field is the parameter's name.
            return r->problem(400, status.message(), status.field());
          }
          if (!status.ok()) {
            log::error("http", "query of " + table + " failed: " + status.message());
            return r->problem(500, "read failed");
          }
        }
      } catch (const std::exception& e) {
        log::error("http", std::string("list failed: ") + e.what());
        return r->problem(500, "read failed");
      }
      bool more = static_cast<int>(rows.size()) > request.limit;
      if (more) rows.resize(request.limit);
      size_t bytes = 2;
      for (const auto& row : rows) bytes += row.json.size() + 1;
      std::string body;
      body.reserve(bytes);
      body.push_back('[');
      for (size_t i = 0; i < rows.size(); ++i) {
        if (i) body.push_back(',');
        body.append(rows[i].json);
      }
      body.push_back(']');
      if (more)
        r->add_header("Link", "</" + table + "?" +
                                  next_page_params(table, request, rows.back().id, rows.back().sort_value) +
                                  consistency + ">; rel=\"next\"");
      r->send(200, body);
    });
  }

  // GET /_changes?tables=a,b: this node's applied changes as Server-Sent
  // Events, from now or resumed after a position (Last-Event-ID, or ?after=
  // for clients that cannot set it); see http/change_stream.h.
  void changes(const Http::Request& req, ResponderPtr r) {
    ChangeStream* stream = s_.services.changes;
    if (!stream)
      return r->problem(501, "the change stream is not served in shared mode (each node applies only some "
                             "partitions there); subscribe to a replica node");
    std::set<std::string, std::less<>> tables;
    if (auto t = req.query().get("tables")) {
      std::string list;
      if (!percent_decode(*t, list)) return r->problem(400, "tables must be table names separated by commas", "tables");
      auto plugins = s_.services.registry.current();
      for (size_t at = 0; at <= list.size();) {
        size_t comma = std::min(list.find(',', at), list.size());
        std::string table = list.substr(at, comma - at);
        if (!is_valid_table_name(table))
          return r->problem(400, "tables must be table names separated by commas", "tables");
        if (!plugins->find(table)) return r->problem(404, "unknown table: " + table);
        tables.insert(std::move(table));
        at = comma + 1;
      }
    }
    std::string resume;
    if (auto h = request_header(req, "Last-Event-ID"))
      resume = *h;
    else if (auto a = req.query().get("after"); a && !percent_decode(*a, resume))
      return r->problem(400, "after must be a position from a stream's id field", "after");
    Position position;
    if (!resume.empty() &&
        decode_position(resume, s_.services.log.topic(), position) == PositionToken::kMalformed)
      return r->problem(400, "Last-Event-ID (or after) is not a position from a stream's id field", "Last-Event-ID");
    switch (stream->subscribe(r, std::move(tables), resume)) {
      case ChangeStream::Subscribed::kOk: return;
      case ChangeStream::Subscribed::kFull:
        r->add_header("Retry-After", "5");
        return r->problem(503, "this node serves its most change streams at once (changes.max_subscribers); retry "
                               "later or on another node");
      case ChangeStream::Subscribed::kStopped:
        r->add_header("Retry-After", "1");
        return r->problem(503, "the node is shutting down");
      case ChangeStream::Subscribed::kNoSocket:
        r->add_header("Retry-After", "1");
        return r->problem(503, "this connection cannot take a stream now; retry on a new connection");
    }
  }

  // GET /{table}/{id}/history: the events that changed the entity, oldest
  // first, paged like lists (limit, after = the last event id of a page,
  // Link: rel="next").
  void history(const Http::Request& req, const LoadedPlugin& loaded, const std::string& table,
               const std::string& id, const Position& session, ResponderPtr r) {
    if (!loaded.history)
      return r->problem(404, "table " + table + " keeps no history on this node (plugins.configure." + loaded.name +
                                 ".history)");
    int limit;
    std::string after;
    if (!page_params(req, *r, limit, after)) return;
    bool wants_strong;
    std::string consistency;
    if (!strong(req, *r, wants_strong, &consistency)) return;
    auto& store = s_.services.store;
    PluginPtr plugin = loaded.table;
    read_when_ready(session, wants_strong, r, [&store, plugin, table, id, after, limit, consistency, r] {
      std::vector<HistoryEntry> entries;
      bool exists = false;
      try {
        auto reader = store.read();
        if (!read_history(reader.db(), store.read_statements(), table, id, after, limit + 1, entries))
          return r->problem(400, "after must be the event_id of an entry of this entity's history", "after");
        if (entries.empty()) exists = plugin->get(reader.db(), id).has_value();
      } catch (const std::exception& e) {
        log::error("http", std::string("history read failed: ") + e.what());
        return r->problem(500, "read failed");
      }
      if (entries.empty() && after.empty() && !exists) return r->problem(404, "not found: " + id.substr(0, 64));
      bool more = entries.size() > static_cast<size_t>(limit);
      if (more) entries.resize(limit);
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.StartArray();
      for (const HistoryEntry& e : entries) {
        w.StartObject();
        w.Key("operation");
        w.String(e.operation.data(), e.operation.size());
        write_event_fields(w, e.event_id, e.timestamp, e.partition, e.offset, e.data);
        w.EndObject();
      }
      w.EndArray();
      if (more)
        r->add_header("Link", "</" + table + "/" + url_encode(id) + "/history?limit=" + std::to_string(limit) +
                                  "&after=" + url_encode(entries.back().event_id) +
                                  consistency + ">; rel=\"next\"");
      r->send(200, std::string(buf.GetString(), buf.GetSize()));
    });
  }

  // Checks content type, size and JSON of a write's body into `doc`.
  bool parse_body(const Http::Request& req, Responder& r, rapidjson::Document& doc) {
    const std::string& body = req.body();
    if (body.size() > cfg_.http.max_body_bytes) {
      r.problem(413, "request body is " + std::to_string(body.size()) + " bytes; the limit is " +
                         std::to_string(cfg_.http.max_body_bytes));
      return false;
    }
    auto type = request_header(req, "Content-Type");
    std::string mt = type ? lower(type->substr(0, type->find(';'))) : "";
    mt.erase(std::remove(mt.begin(), mt.end(), ' '), mt.end());
    if (mt != "application/json") {
      r.problem(415, "Content-Type must be application/json");
      return false;
    }
    if (auto error = parse_json_strict(body, doc); !error.empty()) {
      r.problem(400, error);
      return false;
    }
    return true;
  }

  // Appends through the node's log. While every connection that sent a
  // request lately waits for the log to acknowledge an append (HTTP/1.1 sends
  // one request at a time per connection), no other append can arrive before
  // one is acknowledged: then the log is told so, and sends what waits
  // without holding it for a batch (EventLog::nothing_more_coming).
  void append(const std::string& key, std::string value, AppendCallback done) {
    auto& state = s_;
    bool everyone_waits =
        state.awaiting_log.fetch_add(1) + 1 >= state.connections->active(ActiveConnections::Clock::now());
    state.services.log.append(key, std::move(value), [&state, done = std::move(done)](const AppendResult& res) {
      state.awaiting_log.fetch_sub(1);
      done(res);
    });
    if (everyone_waits) state.services.log.nothing_more_coming();
  }

  // A write taken from its request, while it waits for its turn.
  struct PendingWrite {
    WriteKind kind = WriteKind::kCreate;
    PluginPtr plugin;
    int plugin_version = 0;     // stamped on the event
    std::string schema_sha256;  // stamped on the event
    std::string table;
    std::string id;  // the entity's, for an update or a delete
    DatabaseEvent event;
    bool async = false;  // Prefer: respond-async
    Position session;    // the client's session position
    IdempotencyStamp idempotency;  // the request's Idempotency-Key, if any
  };
  using PendingWritePtr = std::shared_ptr<PendingWrite>;

  // Validates a write and builds its event (on the reactor, while the request
  // lives), then appends it once this node has applied the session's position.
  void write(const Http::Request& req, WriteKind kind, const LoadedPlugin& loaded, const std::string& table,
             const std::string& id, const Position& session, ResponderPtr r) {
    auto w = std::make_shared<PendingWrite>();
    const PluginPtr& plugin = loaded.table;
    w->kind = kind;
    w->plugin = plugin;
    w->plugin_version = loaded.version;
    w->schema_sha256 = loaded.schema_sha256;
    w->table = table;
    w->id = id;
    w->session = session;
    Status status;
    try {
      if (kind == WriteKind::kDelete) {
        status = plugin->delete_event(id, w->event);
      } else {
        rapidjson::Document body;
        if (!parse_body(req, *r, body)) return;
        status = kind == WriteKind::kCreate ? plugin->create_event(body, w->event)
                                            : plugin->update_event(id, body, w->event);
      }
    } catch (const std::exception& e) {
      log::error("http", "plugin for " + table + " threw building an event: " + e.what());
      return r->problem(500, "the plugin failed to build the event");
    }
    if (!status.ok()) return r->problem(http_status(status.code()), status.message(), status.field());
    if (!idempotency_stamp(req, kind, table, id, *r, w->idempotency)) return;
    auto prefer = request_header(req, "Prefer");
    w->async = prefer && lower(*prefer).find("respond-async") != std::string::npos;
    after_position(session, r, [router = *this, w, r]() mutable { router.check_then_append(w, r); });
  }

  // The Idempotency-Key of a write into `stamp` (left empty without one):
  // the key, the SHA-256 of the request (method, path and body, byte for
  // byte) and how long its outcome is kept; false after answering 400 for a
  // malformed key.
  bool idempotency_stamp(const Http::Request& req, WriteKind kind, const std::string& table, const std::string& id,
                         Responder& r, IdempotencyStamp& stamp) {
    auto key = request_header(req, "Idempotency-Key");
    if (!key) return true;
    if (!is_idempotency_key(*key)) {
      r.problem(400, "Idempotency-Key must be 1 to 255 printable ASCII characters", "Idempotency-Key");
      return false;
    }
    const char* method = kind == WriteKind::kCreate ? "POST" : kind == WriteKind::kUpdate ? "PUT" : "DELETE";
    std::string request = std::string(method) + " /" + table + (id.empty() ? "" : "/" + id) + "\n";
    if (kind != WriteKind::kDelete) request += req.body();
    stamp.key = *key;
    stamp.request_sha256 = sha256_hex(request);
    stamp.keep_seconds = static_cast<int64_t>(cfg_.idempotency.retention_hours) * 3600;
    return true;
  }

  // The outcome recorded for a write's Idempotency-Key on this node, if any;
  // nullopt also after answering 500 when it cannot tell (then *failed).
  std::optional<RecordedOutcome> recorded(const PendingWrite& w, Responder& r, bool* failed) {
    *failed = false;
    try {
      auto reader = s_.services.store.read();
      return read_outcome(reader.db(), s_.services.store.read_statements(), s_.services.store.idempotency_keys(),
                          w.table, w.idempotency.key);
    } catch (const std::exception& e) {
      log::error("http", std::string("reading an idempotency record failed: ") + e.what());
      r.problem(500, "read failed");
      *failed = true;
      return std::nullopt;
    }
  }

  // Answers a keyed write with the outcome recorded for its key: the first
  // request's answer, for it and for every retry (marked
  // Idempotency-Replayed: true); 422 when the key came with another request.
  static void send_recorded(Responder& r, const PendingWrite& w, const RecordedOutcome& o,
                            const std::string& event_id) {
    if (o.request_sha256 != w.idempotency.request_sha256)
      return r.problem(422,
                       "Idempotency-Key was used for another request (another method, path or body; event " +
                           o.event_id + "); use a new key for a new request",
                       "Idempotency-Key");
    if (o.event_id != event_id) r.add_header("Idempotency-Replayed", "true");
    if (!o.status.ok()) {
      int code = http_status(o.status.code());
      return r.problem(code, code == 500 ? "the plugin failed to apply the event" : o.status.message(),
                       o.status.field());
    }
    if (o.operation == Operation::kDelete) return r.send(204, {}, "application/json");
    if (!o.entity) return r.problem(500, "the entity was applied but cannot be read back");
    if (o.operation == Operation::kInsert) r.add_header("Location", entity_path(w.table, o.entity_id));
    r.send(o.operation == Operation::kInsert ? 201 : 200, *o.entity);
  }

  // Whether this node holds the entity of an update or delete; nullopt after
  // answering 500 when it cannot tell.
  std::optional<bool> holds(const PendingWrite& w, Responder& r) {
    try {
      auto reader = s_.services.store.read();
      return w.plugin->get(reader.db(), w.id).has_value();
    } catch (const std::exception& e) {
      log::error("http", std::string("existence check failed: ") + e.what());
      r.problem(500, "read failed");
      return std::nullopt;
    }
  }

  // An update or delete of an id this node does not hold is not refused on
  // this node's word alone: the entity may have been made through a node
  // ahead of this one. It is decided once this node has applied everything
  // the log held when it was asked (404 only if the id is absent then), or
  // answered 503 with Retry-After when the node cannot catch up in time.
  //
  // A keyed write whose key this node has recorded goes to the log too: a
  // retry of a delete finds its entity gone, and the log answers it with the
  // first delete's outcome.
  void check_then_append(const PendingWritePtr& w, ResponderPtr r) {
    if (w->kind == WriteKind::kCreate) return append_where_the_table_is(w, r);
    auto held = holds_or_recorded(*w, *r);
    if (!held) return;
    if (*held) return append_where_the_table_is(w, r);
    with_consistency(true, r, [router = *this, w, r]() mutable {
      auto held = router.holds_or_recorded(*w, *r);
      if (!held) return;
      if (!*held) return r->problem(404, "not found: " + w->id.substr(0, 64));
      router.append_where_the_table_is(w, r);
    });
  }

  // The log appends a table's event to the partition of the table's events
  // this node has applied (EventLog::keep_keys_where_they_are). When it has
  // applied none, the log may still hold some this node has not applied yet
  // (it is catching up, or the table is new on another node): the write then
  // waits until this node has applied the log's current end, so that it
  // knows, or answers 503 with Retry-After. Only a table with no event in the
  // log goes where its name's hash points. In shared mode a node applies only
  // the partitions its group gave it, so catching up would not tell it where
  // another node's tables are: it appends where it knows, else by the hash.
  void append_where_the_table_is(const PendingWritePtr& w, ResponderPtr r) {
    if (cfg_.mode == Mode::kShared || s_.services.applier.partition_of(w->table)) return append_write(w, r);
    with_consistency(true, r, [router = *this, w, r]() mutable { router.append_write(w, r); });
  }

  std::optional<bool> holds_or_recorded(const PendingWrite& w, Responder& r) {
    auto held = holds(w, r);
    if (!held || *held || !w.idempotency.present()) return held;
    bool failed;
    auto record = recorded(w, r, &failed);
    if (failed) return std::nullopt;
    return record.has_value();
  }

  // A write's answer carries the client's session position, moved past the
  // write's event: the header for the client, the cookie for browsers.
  static void add_position(Responder& r, const std::string& topic, Position session, int32_t partition,
                           int64_t offset) {
    if (partition >= 0 && offset >= 0) merge_position(session, {{partition, offset + 1}});
    if (session.empty()) return;
    std::string token = encode_position(topic, session);
    r.add_header(kPositionHeader, token);
    r.add_header("Set-Cookie", std::string(kPositionCookie) + "=" + token + "; Path=/; Max-Age=" +
                                   std::to_string(kPositionCookieSeconds) + "; SameSite=Lax; HttpOnly");
  }

  // 504: the log did not confirm the event in time but may have taken it (a
  // broker that wrote it and did not answer, a producer retry still under
  // way), and this node did not apply it within http.write_timeout_ms. Not a
  // failure: the client looks at the entity to learn the outcome.
  static void send_unknown(Responder& r, const PendingWrite& w, const std::string& entity_id,
                           const std::string& event_id) {
    if (!entity_id.empty()) r.add_header("Location", entity_path(w.table, entity_id));
    r.problem(504,
              "the event log did not confirm this write in time and may still have taken it: the outcome is "
              "unknown. Read the entity at Location to see whether it was applied",
              {}, "\"event_id\":\"" + event_id + "\"");
  }

  // Appends the write's event and answers: with the applier's verdict once
  // this node applied it, 202 past http.write_timeout_ms (or at once with
  // Prefer: respond-async), 503 when the log certainly did not take it, 504
  // when the log did not confirm it and it did not appear in time.
  void append_write(const PendingWritePtr& w, ResponderPtr r) {
    auto& sv = s_.services;
    w->event.id = new_uuid_v4();
    w->event.table_name = w->table;
    w->event.timestamp = format_rfc3339(std::chrono::system_clock::now());
    w->event.plugin_version = w->plugin_version;
    w->event.schema_sha256 = w->schema_sha256;
    std::string entity_id(w->event.entity_id());
    std::string value = encode_event(w->event, &w->idempotency);
    std::string event_id = w->event.id;
    const std::string& topic = sv.log.topic();
    auto& metrics = sv.metrics;
    if (w->async) {
      auto sent = Clock::now();
      append(w->table, std::move(value), [r, w, event_id, entity_id, &topic, &metrics, sent](const AppendResult& res) {
        if (res.ok) {
          metrics.appended(std::chrono::duration<double>(Clock::now() - sent).count());
          add_position(*r, topic, w->session, res.partition, res.offset);
          return send_accepted(*r, w->table, entity_id, event_id, res.partition, res.offset,
                               "accepted; applied asynchronously");
        }
        if (res.possibly_persisted) {
          metrics.append_unconfirmed();
          return send_unknown(*r, *w, entity_id, event_id);
        }
        metrics.append_failed();
        r->add_header("Retry-After", "1");
        r->problem(503, "event log unavailable, nothing was written: " + res.error);
      });
      return;
    }
    auto& store = sv.store;
    sv.hub.expect(event_id, [router = *this, &store, &topic, w, entity_id, event_id, r](const WriteOutcome& o) mutable {
      if (!o.applied && o.partition < 0) return send_unknown(*r, *w, entity_id, event_id);
      add_position(*r, topic, w->session, o.partition, o.offset);
      if (o.held)
        return send_accepted(*r, w->table, entity_id, event_id, o.partition, o.offset,
                             o.from_shared_file
                                 ? "accepted; held by the node that applies its partition of the shared database "
                                   "until that node runs a plugin for this table that can apply it"
                                 : "accepted; held on this node until it runs a plugin for this table that can apply "
                                   "it (nodes that do have applied it or will)");
      if (!o.applied)
        return send_accepted(*r, w->table, entity_id, event_id, o.partition, o.offset,
                             "accepted; not applied on this node within the write timeout");
      // A keyed write: the applier passes the key's earlier outcome when there
      // was one; in shared mode another node applied it, so read the record.
      if (o.earlier) return send_recorded(*r, *w, *o.earlier, event_id);
      if (w->idempotency.present() && o.from_shared_file) {
        bool failed;
        auto record = router.recorded(*w, *r, &failed);
        if (failed) return;
        if (record) return send_recorded(*r, *w, *record, event_id);
      }
      if (!o.status.ok()) {
        int code = http_status(o.status.code());
        return r->problem(code, code == 500 ? "the plugin failed to apply the event" : o.status.message(),
                          o.status.field());
      }
      if (w->kind == WriteKind::kDelete) return r->send(204, {}, "application/json");
      // Usually the applier read the entity back already; in shared mode
      // another node applied it, so read it here.
      std::optional<std::string> row = o.row;
      if (!row) {
        try {
          auto reader = store.read();
          row = w->plugin->get(reader.db(), entity_id);
        } catch (const std::exception& e) {
          log::error("http", std::string("read after write failed: ") + e.what());
        }
      }
      if (!row) return r->problem(500, "the entity was applied but cannot be read back");
      if (w->kind == WriteKind::kCreate) r->add_header("Location", entity_path(w->table, entity_id));
      r->send(w->kind == WriteKind::kCreate ? 201 : 200, *row);
    });
    auto& hub = sv.hub;
    auto timeout = std::chrono::milliseconds(cfg_.http.write_timeout_ms);
    auto sent = Clock::now();
    append(w->table, std::move(value), [&hub, &metrics, event_id, r, timeout, sent](const AppendResult& res) {
      if (res.ok) {
        metrics.appended(std::chrono::duration<double>(Clock::now() - sent).count());
        hub.arm(event_id, Clock::now() + timeout, res.partition, res.offset);
        return;
      }
      if (res.possibly_persisted) {
        // It may still be in the log: wait for the applier to meet it, and
        // answer 504 (outcome unknown) if it has not by the deadline.
        metrics.append_unconfirmed();
        hub.arm(event_id, Clock::now() + timeout, -1, -1);
        return;
      }
      metrics.append_failed();
      if (!hub.cancel(event_id)) return;
      r->add_header("Retry-After", "1");
      r->problem(503, "event log unavailable, nothing was written: " + res.error);
    });
  }

  HttpApi::State& s_;
  const Config& cfg_;
};

constexpr size_t kMaxHeaderBytes = 32 * 1024;

// Bytes of all request headers, typed (parsed by Pistache) and raw.
size_t header_bytes(const Http::Request& req) {
  size_t total = 0;
  for (const auto& [name, raw] : req.headers().rawList()) total += name.size() + raw.value().size() + 4;
  // Typed headers keep no raw text: write each out again to measure it, into
  // one reused stream per thread (a stream per header costs more than the check).
  thread_local std::ostringstream os;
  for (const auto& h : req.headers().list()) {
    os.str(std::string());
    os.clear();
    h->write(os);
    total += std::strlen(h->name()) + static_cast<size_t>(os.tellp()) + 4;
  }
  return total;
}

constexpr const char* kAtConnectionLimit =
    "this node has its most client connections open (http.max_connections); retry later";

class ApiHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(ApiHandler)
  explicit ApiHandler(std::shared_ptr<HttpApi::State> state) : state_(std::move(state)) {}

  // A new client connection: the parser Pistache reads it with (what
  // Http::Handler's own onConnection makes) and, while the guard has a slot,
  // its ClientConnection. Past http.max_connections it is answered 503 and
  // shut at once, before it can hold more than its one descriptor.
  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    peer->putData(Http::Handler::ParserData, std::make_shared<Http::RequestParser>(getMaxRequestSize()));
    std::string detail = kAtConnectionLimit;
    if (state_->guard->admit()) {
      auto c = std::make_shared<ClientConnection>(state_->guard, state_->connections, peer->fd(),
                                                  ClientConnection::Clock::now());
      if (c->socket().owns_descriptor()) return GuardedTransport::keep(*peer, std::move(c));
      detail = "this node has no file descriptor left for the connection; retry later";
    }
    close_socket(peer->fd(), closing_answer(state_->services.config.node_id, 503, detail));
  }

  // Pistache's Http::Handler::onInput, with the node's own answers for the
  // requests Pistache's parser refuses, which Pistache answers with a
  // plain-text body (a malformed Cookie header even with 500): problem+json
  // and `Connection: close` (what follows on the connection cannot be
  // trusted). A method Pistache does not know ("QUERY", "BREW") is answered
  // like one it knows that no route takes (PATCH): see serve_unknown_method.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    auto parser = getParser(peer);
    auto connection = GuardedTransport::connection_of(*peer);
    // Each path that ends the request resets the parser and the note.
    auto reset = [&] {
      parser->reset();
      if (connection) connection->receiving().clear();
    };
    try {
      if (!feed(*parser, std::string_view(buffer, len), connection.get())) {
        reset();
        return refuse(peer, 413, "the request is over " + std::to_string(getMaxRequestSize()) +
                                     " bytes (http.max_body_bytes plus 64 KiB of headers)");
      }
      if (parser->parse() != Http::Private::State::Done) return;
      parser->request.copyAddress(peer->address());
      peer->setIdle(false);
      const ClientConnection::Receiving* note = connection ? &connection->receiving() : nullptr;
      serve(parser->request, peer, connection, note ? note->lifted_position() : std::nullopt, {},
            note && more_arrived(parser->request, *note));
      reset();
    } catch (const Http::HttpError& e) {
      reset();
      if (serve_unknown_method(std::string_view(buffer, len), peer, connection)) return;
      int status = e.code() >= 400 && e.code() < 500 ? e.code() : 400;
      refuse(peer, status, std::string("the request cannot be parsed: ") + e.what());
    } catch (const std::bad_alloc&) {
      // Pistache sizes the body from Content-Length before reading it.
      reset();
      refuse(peer, 413, "the request's Content-Length is larger than this node takes");
    } catch (const std::length_error&) {
      // A negative Content-Length, read as a size.
      reset();
      refuse(peer, 400, "the request's Content-Length is not a body size");
    } catch (const std::exception& e) {
      // A header Pistache cannot parse (a Cookie header without "name=value"):
      // the request's fault, not the node's.
      reset();
      refuse(peer, 400, std::string("the request cannot be parsed: ") + e.what());
    }
  }

  // Gives `data` to the parser, and counts it in `connection`'s note; false
  // past the request size limit. When `data` starts a request and holds its
  // whole head, the head's ClusterLite-Position line is kept in the note
  // instead (request_head.h says why); a value over kMaxPositionBytes stays
  // in the request for the router to refuse.
  static bool feed(Http::RequestParser& parser, std::string_view data, ClientConnection* connection) {
    if (!connection) return parser.feed(data.data(), data.size());
    auto& note = connection->receiving();
    bool starts = note.received == 0;
    note.received += data.size();
    if (!starts) return parser.feed(data.data(), data.size());
    note.head = head_size(data);
    auto line = find_header_line(data.substr(0, note.head), kPositionHeader);
    if (!line || line->value.size() > kMaxPositionBytes) return parser.feed(data.data(), data.size());
    note.has_position = true;
    note.position.assign(line->value);
    return parser.feed(data.data(), line->begin) &&
           parser.feed(data.data() + line->end, data.size() - line->end);
  }

  // Whether more bytes arrived after the request just parsed: a pipelined
  // request, which the node does not take (Pistache 0.0.5 keeps nothing of
  // what follows a request). The answer to the first then closes the
  // connection, so that the client sends the rest again (RFC 9112, 9.3.2),
  // instead of waiting for answers that never come. Measured when the
  // request's first read held its whole head and its body is not chunked.
  static bool more_arrived(const Http::Request& req, const ClientConnection::Receiving& note) {
    if (note.head == 0 || note.received <= note.head) return false;
    auto length = req.headers().tryGet<Http::Header::ContentLength>();
    if (note.received <= note.head + (length ? length->value() : 0)) return false;
    return !req.headers().has<Http::Header::TransferEncoding>();
  }

  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
    auto peer = writer.getPeer();
    serve(req, peer, peer ? GuardedTransport::connection_of(*peer) : nullptr, std::nullopt);
  }

 private:
  // Answers a request the parser refused (no Request to answer with).
  void refuse(const std::shared_ptr<Tcp::Peer>& peer, int status, const std::string& detail) {
    state_->services.metrics.request(Route::kOther, Metrics::kOtherMethod, status, 0);
    std::string answer = closing_answer(state_->services.config.node_id, status, detail);
    size_t size = answer.size();
    peer->send(RawBuffer(std::move(answer), size));
  }

  // A request whose method Pistache does not know fails in its request line.
  // When `data` (what arrived) starts with such a request, whole, it is parsed
  // again with GET in the method's place and served under its own method, so
  // that the router answers it as any method without a route: 405 with
  // `Allow` (after the token check on a path that needs one), 404 for a path
  // no route has. False when `data` is not that.
  bool serve_unknown_method(std::string_view data, const std::shared_ptr<Tcp::Peer>& peer,
                            const std::shared_ptr<ClientConnection>& connection) {
    size_t space = data.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 32) return false;
    std::string method(data.substr(0, space));
    static constexpr std::string_view kTokenChars = "!#$%&'*+-.^_`|~";
    for (unsigned char c : method)
      if (!std::isalnum(c) && kTokenChars.find(static_cast<char>(c)) == std::string_view::npos) return false;
    for (auto known : {"OPTIONS", "GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"})
      if (method == known) return false;  // the request failed for another reason
    // Answered 405 from the request line and headers alone (parsed again as a
    // GET): its body, and any Cookie header Pistache cannot read, play no part,
    // and the body may not have arrived yet. The answer closes the connection,
    // so what is left of the body is never read as a request.
    std::string again = "GET" + head_without_body(data.substr(space));
    Http::RequestParser parser(getMaxRequestSize());
    try {
      if (!parser.feed(again.data(), again.size()) || parser.parse() != Http::Private::State::Done) return false;
    } catch (const std::exception&) {
      return false;
    }
    serve(parser.request, peer, connection, std::nullopt, method);
    return true;
  }

  // The request line and headers in `request` (from the target on), less
  // Cookie, Content-Length and Transfer-Encoding, and without the body; ""
  // when the headers are not complete.
  static std::string head_without_body(std::string_view request) {
    size_t end = request.find("\r\n\r\n");
    if (end == std::string_view::npos) return {};
    std::string out;
    size_t at = 0;
    while (at < end + 2) {
      size_t eol = request.find("\r\n", at);
      std::string_view line = request.substr(at, eol + 2 - at);
      bool dropped = false;
      for (const char* name : {"cookie:", "content-length:", "transfer-encoding:"})
        dropped = dropped || (line.size() >= std::strlen(name) && strncasecmp(line.data(), name, std::strlen(name)) == 0);
      if (!dropped) out.append(line);
      at = eol + 2;
    }
    return out + "\r\n";
  }

  // `connection`: the peer's (none when refused at the door). `position`:
  // the ClusterLite-Position value read from the request's head before
  // Pistache parsed it. `method`: the request's method when Pistache does
  // not know it. `last`: the answer closes the connection.
  void serve(const Http::Request& req, const std::shared_ptr<Tcp::Peer>& peer,
             std::shared_ptr<ClientConnection> connection, std::optional<std::string_view> position,
             const std::string& method = {}, bool last = false) {
    auto r = std::make_shared<Responder>(req, peer, connection, state_->services.config, state_->services.metrics,
                                         state_->in_flight);
    if (!method.empty()) r->unknown_method();
    if (last) r->close_connection();
    try {
      if (!connection) {  // refused at the door; this request came with it
        r->add_header("Retry-After", "1");
        return r->problem(503, kAtConnectionLimit);
      }
      // Pistache bounds only the whole request (body limit + 64 KiB), so a
      // request with a small body could carry ~1 MiB of headers: refuse it.
      size_t position_bytes = position ? kPositionHeader.size() + position->size() + 4 : 0;
      if (header_bytes(req) + position_bytes > kMaxHeaderBytes)
        return r->problem(431, "request headers exceed " + std::to_string(kMaxHeaderBytes) + " bytes");
      Router(*state_).handle(req, r, method.empty() ? std::string(Http::methodString(req.method())) : method,
                             position);
    } catch (const std::exception& e) {
      log::error("http", std::string("request failed: ") + e.what());
      r->problem(500, "internal error");
    }
  }

  std::shared_ptr<HttpApi::State> state_;
};

}  // namespace

HttpApi::HttpApi(NodeServices services) : state_(std::make_shared<State>(services)) {}

HttpApi::~HttpApi() { stop(); }

namespace {

constexpr auto kReadinessEvery = std::chrono::milliseconds(500);

// Whether the node serves reads at the default consistency: not while its
// lag is known to exceed applier.max_ready_lag (replaying, or far behind).
// While the log cannot be reached the last known lag decides: a node that had
// caught up goes on serving what it has, as when the broker is down.
void check_readiness(HttpApi::State& state) {
  auto report = readiness(state.services, state.draining);
  if (!report.lag_known) return;
  state.behind = report.lag;
  state.ready = report.lag <= state.services.config.applier.max_ready_lag;
}

}  // namespace

void HttpApi::start() {
  auto& cfg = state_->services.config;
  // Known before the first request, then kept current on a thread of its own
  // (asking the log for its end may take up to a second).
  check_readiness(*state_);
  state_->readiness_thread = std::thread([state = state_.get()] {
    name_this_thread("cl-readiness");
    std::unique_lock lock(state->readiness_mutex);
    while (!state->stopped) {
      state->readiness_wake.wait_for(lock, kReadinessEvery, [state] { return state->stopped.load(); });
      if (state->stopped) break;
      lock.unlock();
      check_readiness(*state);
      lock.lock();
    }
  });
  // Two descriptors per client connection (Pistache's and the ResponseSocket's
  // duplicate), beside those of SQLite, the log and the node's own threads.
  std::string note;
  ConnectionLimits limits{std::chrono::milliseconds(cfg.http.header_timeout_ms),
                          std::chrono::milliseconds(cfg.http.body_timeout_ms),
                          std::chrono::milliseconds(cfg.http.keepalive_timeout_ms),
                          fit_to_descriptor_limit(cfg.http.max_connections, kReservedDescriptors, note)};
  if (!note.empty()) log::warn("http", note);
  state_->guard = std::make_shared<ConnectionGuard>(
      limits, [node_id = cfg.node_id](int status, const std::string& detail) {
        return closing_answer(node_id, status, detail);
      });

  auto handler = Http::make_handler<ApiHandler>(state_);
  // Headers get 64 KiB beyond the body limit; larger requests are refused by Pistache.
  handler->setMaxRequestSize(cfg.http.max_body_bytes + 64 * 1024);
  handler->setMaxResponseSize(64 << 20);
  Address addr(cfg.http.address, Port(static_cast<uint16_t>(cfg.http.port)));
  state_->listener = std::make_unique<Tcp::Listener>(addr);
  // NoDelay: a response goes out at once, not after the peer ACKs the last one.
  state_->listener->init(cfg.http.threads, Flags<Tcp::Options>(Tcp::Options::ReuseAddr) | Tcp::Options::NoDelay);
  state_->listener->setHandler(handler);
  state_->listener->setTransportFactory([handler] { return std::make_shared<GuardedTransport>(handler); });
  try {
    state_->listener->bind();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + cfg.http.address + ":" + std::to_string(cfg.http.port) + " (" +
                             e.what() + "); set http.port (or CLUSTERLITE_HTTP_PORT) to a free port");
  }
  state_->listener->runThreaded();
  state_->guard->start();
}

uint16_t HttpApi::port() const { return static_cast<uint16_t>(state_->listener->getPort()); }

bool HttpApi::drain(std::chrono::milliseconds timeout) {
  state_->draining = true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool drained = state_->in_flight.load() == 0;
  // A response sent from another thread is queued for its reactor: give the
  // reactors a moment to write it before the endpoint shuts down.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return drained;
}

void HttpApi::stop() {
  if (state_->stopped.exchange(true)) return;
  {
    std::lock_guard lock(state_->readiness_mutex);
  }
  state_->readiness_wake.notify_all();
  if (state_->readiness_thread.joinable()) state_->readiness_thread.join();
  if (!state_->listener) return;
  state_->guard->stop();
  state_->listener->shutdown();
  // The listener owns the handler, which holds the state: drop it to break the cycle.
  state_->listener.reset();
  state_->blocking.stop();
  state_->snapshots.stop();
}

}  // namespace clusterlite
