#include "http/status_pages.h"

#include <SQLiteCpp/Statement.h>
#include <rapidjson/stringbuffer.h>
#include <SQLiteCpp/Statement.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <map>
#include <optional>

#include "http/list_query.h"
#include "log.h"
#include "snapshot/snapshot_file.h"

namespace clusterlite {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Lag per partition: log end minus applied offset, or nullopt if the log did not answer.
// Per partition, the next offset applied to this node's database. In shared
// mode the file is the nodes' together and each applies some partitions: the
// shared _cl_offsets have every partition, this node's applier only its own.
std::map<int32_t, int64_t> applied_offsets(const NodeServices& sv) {
  auto applied = sv.applier.applied();
  if (sv.config.mode != Mode::kShared) return applied;
  try {
    auto reader = sv.store.read();
    SQLite::Statement q(reader.db(), "SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?");
    q.bind(1, sv.log.topic());
    while (q.executeStep()) {
      auto& at = applied[q.getColumn(0).getInt()];
      at = std::max(at, q.getColumn(1).getInt64());
    }
  } catch (const std::exception& e) {
    log::warn("http", std::string("reading the shared offsets failed: ") + e.what());
  }
  return applied;
}

std::optional<std::map<int32_t, int64_t>> lag(const NodeServices& sv, std::chrono::milliseconds timeout) {
  auto ends = sv.log.end_offsets(timeout);
  if (!ends) return std::nullopt;
  auto applied = applied_offsets(sv);
  std::map<int32_t, int64_t> out;
  for (auto& [p, end] : *ends) out[p] = std::max<int64_t>(0, end - (applied.count(p) ? applied[p] : 0));
  return out;
}

// The tables this node holds events of, as a JSON array.
void write_pending(JsonWriter& w, const std::vector<PendingTable>& pending) {
  w.StartArray();
  for (auto& t : pending) {
    w.StartObject();
    w.Key("table");
    w.String(t.table.c_str());
    w.Key("held_events");
    w.Uint64(t.held_events);
    w.Key("needs_plugin_version");
    w.Int(t.needs_version);
    w.Key("reason");
    w.String(t.reason.c_str());
    w.EndObject();
  }
  w.EndArray();
}

// A label value in Prometheus text format: backslash, quote and newline escaped.
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// Appends one metric family in Prometheus text format: HELP, TYPE and its
// samples, each a label set ("" for none) and a value.
void append_metric(std::string& out, const char* name, const char* type, const char* help,
                   const std::map<std::string, uint64_t>& samples) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  for (auto& [labels, value] : samples)
    out.append(name).append(labels).append(" ").append(std::to_string(value)).append("\n");
}

std::map<std::string, uint64_t> per_partition(const std::map<int32_t, int64_t>& values) {
  std::map<std::string, uint64_t> out;
  for (auto& [p, v] : values) out["{partition=\"" + std::to_string(p) + "\"}"] = static_cast<uint64_t>(v);
  return out;
}

}  // namespace

Readiness readiness(const NodeServices& sv, bool draining) {
  int64_t max_lag = sv.config.applier.max_ready_lag;
  bool reachable = sv.log.reachable();
  auto lags = lag(sv, std::chrono::milliseconds(1000));
  int64_t total = 0;
  if (lags)
    for (auto& [_, l] : *lags) total += l;
  Readiness out;
  out.ready = reachable && lags && total <= max_lag && !draining;
  out.lag = total;
  out.lag_known = lags.has_value();
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("ready");
  w.Bool(out.ready);
  w.Key("log_reachable");
  w.Bool(reachable && lags);
  w.Key("lag");
  w.Int64(total);
  w.Key("max_lag");
  w.Int64(max_lag);
  // Pending tables do not make the node unready: it serves its other
  // tables, and refuses the pending ones with 503 itself.
  w.Key("pending_tables");
  write_pending(w, sv.applier.pending());
  w.EndObject();
  out.json.assign(buf.GetString(), buf.GetSize());
  return out;
}

std::string metrics_text(const NodeServices& sv, const ConnectionGuard& guard) {
  std::string out;
  sv.metrics.render(out);
  auto stats = sv.applier.stats();
  append_metric(out, "clusterlite_events_applied_total", "counter", "Events applied by this node.",
                {{"", stats.applied}});
  append_metric(out, "clusterlite_events_rejected_total", "counter",
                "Events rejected (recorded in _cl_rejected) by this node.", {{"", stats.rejected}});
  append_metric(out, "clusterlite_apply_commit_failures_total", "counter",
                "Applier transactions that failed and were retried.", {{"", stats.failed_commits}});
  append_metric(out, "clusterlite_wal_checkpoints_total", "counter",
                "Checkpoints of the SQLite WAL run by the node's checkpointer thread.", {{"", sv.store.checkpoints()}});
  append_metric(out, "clusterlite_apply_fenced_batches_total", "counter",
                "Batches applied again with a savepoint per event because the plugin refused an event.",
                {{"", stats.fenced_batches}});
  append_metric(out, "clusterlite_events_held_total", "counter",
                "Events held for a table this node has no plugin (or too old a plugin) for.", {{"", stats.held}});
  append_metric(out, "clusterlite_held_events_released_total", "counter",
                "Held events applied (or rejected) once a plugin that can apply them was loaded.",
                {{"", stats.released}});
  if (sv.changes) {
    auto c = sv.changes->stats();
    append_metric(out, "clusterlite_change_subscribers", "gauge", "Change streams (GET /_changes) open on this node.",
                  {{"", c.subscribers}});
    append_metric(out, "clusterlite_change_subscribers_dropped_total", "counter",
                  "Change streams closed because their client did not read (changes.max_backlog_bytes).",
                  {{"", c.dropped_slow}});
    append_metric(out, "clusterlite_change_stream_resets_total", "counter",
                  "Change streams that began with event: reset (resumed from a position no longer held).",
                  {{"", c.resets}});
    append_metric(out, "clusterlite_change_buffer_events", "gauge",
                  "Changes this node keeps for streams that resume (changes.buffer_events at most).",
                  {{"", c.buffered}});
  }
  append_metric(out, "clusterlite_idempotent_replays_total", "counter",
                "Retried events (an Idempotency-Key recorded earlier) that this node did not apply again.",
                {{"", stats.replayed}});
  std::map<std::string, uint64_t> misrouted;
  for (auto& t : sv.applier.misrouted()) misrouted["{table=\"" + label(t.table) + "\"}"] = t.misrouted_events;
  append_metric(out, "clusterlite_events_misrouted_total", "counter",
                "Events of a table that arrived on another partition than the table's first one: the table's "
                "events are not in one order (docs/events.md, \"Misrouted events\").",
                misrouted);
  std::map<std::string, uint64_t> held;
  for (auto& t : sv.applier.pending()) held["{table=\"" + label(t.table) + "\"}"] = t.held_events;
  append_metric(out, "clusterlite_held_events", "gauge",
                "Events this node holds per pending table (the table is served by other nodes meanwhile).", held);
  std::map<std::string, uint64_t> plugin_info;
  for (auto& p : sv.registry.current()->plugins())
    plugin_info["{table=\"" + label(p.table_name) + "\",plugin=\"" + label(p.name) + "\",version=\"" +
                std::to_string(p.version) + "\",sha256=\"" + p.sha256 + "\"}"] = 1;
  append_metric(out, "clusterlite_plugin_info", "gauge", "The plugins this node runs (value 1).", plugin_info);
  append_metric(out, "clusterlite_pending_writes", "gauge", "Writes waiting for this node to apply them.",
                {{"", sv.hub.pending_writes()}});
  auto connections = guard.counts();
  append_metric(out, "clusterlite_http_connections", "gauge",
                "Client connections open (each holds two file descriptors).", {{"", connections.open}});
  append_metric(out, "clusterlite_http_connection_limit", "gauge",
                "Most client connections open at once: http.max_connections, or fewer when the descriptor "
                "limit is lower.",
                {{"", static_cast<uint64_t>(guard.limits().max_connections)}});
  append_metric(out, "clusterlite_http_connections_refused_total", "counter",
                "Connections answered 503 and closed at once because the connection limit was reached.",
                {{"", connections.refused}});
  append_metric(out, "clusterlite_http_request_timeouts_total", "counter",
                "Connections closed because a request's headers (http.header_timeout_ms) or body "
                "(http.body_timeout_ms) did not arrive in time.",
                {{"{phase=\"headers\"}", connections.header_timeouts}, {"{phase=\"body\"}", connections.body_timeouts}});
  append_metric(out, "clusterlite_http_idle_connections_closed_total", "counter",
                "Connections closed after http.keepalive_timeout_ms without a request.",
                {{"", connections.idle_closed}});
  append_metric(out, "clusterlite_log_reachable", "gauge", "1 when the event log answered recently.",
                {{"", sv.log.reachable() ? 1 : 0}});
  append_metric(out, "clusterlite_applied_offset", "gauge", "Next offset to apply, per partition.",
                per_partition(applied_offsets(sv)));
  if (auto lags = lag(sv, std::chrono::milliseconds(1000)))
    append_metric(out, "clusterlite_consumer_lag", "gauge", "Events in the log not yet applied, per partition.",
                  per_partition(*lags));
  return out;
}

// Where the database's data came from: {"source": "log"} for a database
// built by applying the log from its start, or {"source": "snapshot", "peer",
// "topic", "offsets": {"0": next offset, ...}, "sha256", "bytes", "taken_at",
// "installed_at", "reason"} for one that started from a peer's snapshot.
static void write_data_origin(JsonWriter& w, Store& store) {
  w.StartObject();
  try {
    auto reader = store.read();
    SQLite::Statement q(reader.db(),
                        "SELECT peer, topic, offsets, sha256, bytes, taken_at, installed_at, reason "
                        "FROM _cl_snapshot_origin WHERE id = 1");
    if (!q.executeStep()) {
      w.Key("source");
      w.String("log");
      w.EndObject();
      return;
    }
    w.Key("source");
    w.String("snapshot");
    for (int i : {0, 1}) {
      w.Key(q.getColumnName(i));
      w.String(q.getColumn(i).getString().c_str());
    }
    w.Key("offsets");
    w.StartObject();
    for (auto& [p, o] : parse_offsets(q.getColumn(2).getString()).value_or(std::map<int32_t, int64_t>{})) {
      w.Key(std::to_string(p).c_str());
      w.Int64(o);
    }
    w.EndObject();
    w.Key("sha256");
    w.String(q.getColumn(3).getString().c_str());
    w.Key("bytes");
    w.Int64(q.getColumn(4).getInt64());
    for (int i : {5, 6, 7}) {
      w.Key(q.getColumnName(i));
      w.String(q.getColumn(i).getString().c_str());
    }
  } catch (const std::exception& e) {
    w.Key("error");
    w.String(e.what());
  }
  w.EndObject();
}

std::string cluster_status_json(const NodeServices& sv) {
  auto applied = applied_offsets(sv);
  auto stats = sv.applier.stats();
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("node_id");
  w.String(sv.config.node_id.c_str());
  w.Key("mode");
  w.String(to_string(sv.config.mode));
  w.Key("topic");
  w.String(sv.log.topic().c_str());
  w.Key("log_reachable");
  w.Bool(sv.log.reachable());
  auto ends = sv.log.end_offsets(std::chrono::milliseconds(500));
  w.Key("partitions");
  w.StartArray();
  std::map<int32_t, int64_t> all = applied;
  if (ends)
    for (auto& [p, _] : *ends) all.emplace(p, 0);
  for (auto& [p, next] : all) {
    w.StartObject();
    w.Key("partition");
    w.Int(p);
    w.Key("applied_offset");
    w.Int64(next);
    if (ends && ends->count(p)) {
      int64_t end = ends->at(p);
      w.Key("log_end");
      w.Int64(end);
      w.Key("lag");
      w.Int64(std::max<int64_t>(0, end - next));
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("events_applied");
  w.Uint64(stats.applied);
  w.Key("events_rejected");
  w.Uint64(stats.rejected);
  w.Key("data_origin");
  write_data_origin(w, sv.store);
  w.Key("plugins");
  w.StartArray();
  for (auto& p : sv.registry.current()->plugins()) {
    w.StartObject();
    w.Key("name");
    w.String(p.name.c_str());
    w.Key("table");
    w.String(p.table_name.c_str());
    w.Key("version");
    w.Int(p.version);
    w.Key("abi");
    w.Int(p.abi);
    w.Key("sha256");
    w.String(p.sha256.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("pending_tables");
  write_pending(w, sv.applier.pending());
  // Tables whose events arrived on more than one partition (docs/events.md).
  w.Key("misrouted_tables");
  w.StartArray();
  for (auto& t : sv.applier.misrouted()) {
    w.StartObject();
    w.Key("table");
    w.String(t.table.c_str());
    w.Key("partitions");
    w.StartArray();
    for (int32_t p : t.partitions) w.Int(p);
    w.EndArray();
    w.Key("misrouted_events");
    w.Uint64(t.misrouted_events);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string schema_json(const PluginSet& plugins) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("tables");
  w.StartArray();
  for (auto& table : plugins.tables()) {
    const LoadedPlugin& p = *plugins.find(table);
    w.StartObject();
    w.Key("table");
    w.String(p.table_name.c_str());
    w.Key("plugin");
    w.String(p.name.c_str());
    w.Key("version");
    w.Int(p.version);
    w.Key("schema_sha256");
    w.String(p.schema_sha256.c_str());
    w.Key("schema");
    // Checked to be a JSON object when the plugin was loaded.
    if (p.schema.empty())
      w.Null();
    else
      w.RawValue(p.schema.data(), p.schema.size(), rapidjson::kObjectType);
    // What GET /{table} takes besides limit and the cursors: ?field=value
    // for each filter, ?q= over the search fields, ?order= one of orders.
    auto names = [&](const char* key, const std::vector<std::string>& list) {
      w.Key(key);
      w.StartArray();
      for (auto& n : list) w.String(n.c_str(), static_cast<rapidjson::SizeType>(n.size()));
      w.EndArray();
    };
    names("filters", p.fields.filters);
    names("search", p.fields.search);
    names("orders", list_orders(p.fields, p.abi));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace clusterlite
