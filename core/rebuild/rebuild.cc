#include "rebuild/rebuild.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "apply/applier.h"
#include "plugins/registry.h"
#include "rebuild/log_reader.h"
#include "rebuild/rebuild_log.h"
#include "store/store.h"

namespace clusterlite {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How often the rebuild looks at the applier's progress (and for signals).
constexpr auto kTick = std::chrono::milliseconds(20);
// How often the progress line is redrawn.
constexpr auto kDrawInterval = std::chrono::milliseconds(250);
// The rebuild gives up when neither reading nor applying moved for this long
// (or for three times kafka.request_timeout_ms, if that is longer).
constexpr auto kStallBound = std::chrono::seconds(15);

// The files SQLite keeps beside a database.
const char* const kSideFiles[] = {"-wal", "-shm", "-journal"};

bool path_taken(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// The temporary database and its side files, removed unless kept.
class TempDatabase {
 public:
  explicit TempDatabase(fs::path path) : path_(std::move(path)) {}
  ~TempDatabase() {
    if (kept_) return;
    std::error_code ec;
    fs::remove(path_, ec);
    for (const char* side : kSideFiles) fs::remove(path_.string() + side, ec);
  }
  const fs::path& path() const { return path_; }
  void keep() { kept_ = true; }

 private:
  fs::path path_;
  bool kept_ = false;
};

// Moves `from` to `to` unless `to` exists (atomically: never over a file that
// appeared meanwhile), and makes the new name durable.
void move_into_place(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST) throw RebuildError(to.string() + " was created while the rebuild ran; it was left as it is");
    // A file system without RENAME_NOREPLACE: a hard link also refuses an existing name.
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
      throw RebuildError("cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(err));
    if (::link(from.c_str(), to.c_str()) != 0) {
      err = errno;
      if (err == EEXIST) throw RebuildError(to.string() + " was created while the rebuild ran; it was left as it is");
      throw RebuildError("cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(err));
    }
    ::unlink(from.c_str());
  }
  fs::path dir = to.parent_path().empty() ? fs::path(".") : to.parent_path();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string offsets_text(const std::map<int32_t, int64_t>& offsets) {
  std::string out;
  for (auto [p, o] : offsets) out += (out.empty() ? "" : ",") + std::to_string(p) + ":" + std::to_string(o);
  return out.empty() ? "(no partition)" : out;
}

// Per partition, where reading ends: the end of the log now, or the offset
// --until names. Refuses partitions and offsets the log does not have, and a
// log whose first records were deleted.
std::map<int32_t, int64_t> stop_offsets(const LogReader& reader, const RebuildUntil& until) {
  const auto& ranges = reader.ranges();
  std::map<int32_t, int64_t> stops;
  for (auto& [p, range] : ranges) stops[p] = range.end;
  for (auto [p, offset] : until.offsets) {
    auto it = ranges.find(p);
    if (it == ranges.end())
      throw RebuildError("--until names partition " + std::to_string(p) + ", but " + reader.describe() + " has " +
                         std::to_string(ranges.size()) + " partition(s), 0 to " +
                         std::to_string(static_cast<int64_t>(ranges.size()) - 1));
    if (offset > it->second.end)
      throw RebuildError("--until asks for partition " + std::to_string(p) + " up to offset " +
                         std::to_string(offset) + ", but it ends at offset " + std::to_string(it->second.end) +
                         " in " + reader.describe() + ": the log does not hold that moment yet");
    stops[p] = offset;
  }
  for (auto [p, stop] : stops) {
    int64_t first = ranges.at(p).first;
    if (stop > 0 && first > 0)
      throw RebuildError("partition " + std::to_string(p) + " of " + reader.describe() + " starts at offset " +
                         std::to_string(first) + ", not 0: its first events were deleted (retention or " +
                         "DeleteRecords), so the log no longer holds the database as it was. Keep the topic's " +
                         "retention unlimited");
  }
  return stops;
}

std::string format_seconds(double seconds) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(seconds < 10 ? 2 : 1);
  s << seconds;
  return s.str();
}

// The output's temporary name beside it, after checking that OUT.db can be
// made there: it does not exist (nor a file SQLite would take as part of it)
// and its directory does.
fs::path temporary_name(const fs::path& out, const std::string& as_given) {
  if (out.empty() || out.filename().empty() || out.filename() == "." || out.filename() == "..")
    throw RebuildError("--rebuild-to needs a file name, not '" + as_given + "'");
  if (path_taken(out))
    throw RebuildError(out.string() + " exists; a rebuild never overwrites a file: name a new one");
  for (const char* side : kSideFiles)
    if (path_taken(out.string() + side))
      throw RebuildError(out.string() + side + " exists beside the new database and SQLite would take it as part " +
                         "of it; move it away first");
  const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw RebuildError("directory " + dir.string() + " of " + out.string() + " does not exist");
  fs::path temp = dir / ("." + out.filename().string() + ".rebuild-" + std::to_string(::getpid()));
  if (path_taken(temp))
    throw RebuildError(temp.string() + " exists (left by a rebuild that was killed?); delete it first");
  return temp;
}

// The progress line on standard error, redrawn in place.
class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t ceiling, Clock::time_point started)
      : enabled_(enabled), ceiling_(ceiling), started_(started) {}
  ~ProgressLine() { clear(); }
  void draw(uint64_t read, uint64_t applied, Clock::time_point now) {
    if (!enabled_ || now < next_) return;
    std::cerr << "\r\x1b[Krebuild: " << read << " of at most " << ceiling_ << " events read, " << applied
              << " applied"
              << (ceiling_ > 0 ? " (" + std::to_string(applied * 100 / static_cast<uint64_t>(ceiling_)) + "%)" : "")
              << ", " << format_seconds(std::chrono::duration<double>(now - started_).count()) << " s" << std::flush;
    drawn_ = true;
    next_ = now + kDrawInterval;
  }
  void clear() {
    if (drawn_) std::cerr << "\r\x1b[K" << std::flush;
    drawn_ = false;
  }

 private:
  const bool enabled_;
  const int64_t ceiling_;
  const Clock::time_point started_;
  Clock::time_point next_ = started_ + kDrawInterval;
  bool drawn_ = false;
};

// Waits until the applier has committed every record `log` handed over and
// the log has no more up to the bound. Throws RebuildError when reading or a
// commit fails, when nothing moves for the stall bound, or on a stop signal.
void wait_until_replayed(Applier& applier, const RebuildLog& log, const LogReader& reader, const Config& config,
                         const RebuildOptions& options, ProgressLine& line) {
  const auto stall_bound = std::max<std::chrono::milliseconds>(
      kStallBound, std::chrono::milliseconds(3 * config.kafka.request_timeout_ms));
  uint64_t last_seen = 0;
  auto last_change = Clock::now();
  for (;;) {
    auto progress = log.progress();
    auto stats = applier.stats();
    if (!progress.failure.empty()) throw RebuildError(progress.failure);
    if (stats.failed_commits > 0)
      throw RebuildError("a commit into the new database failed (the reason is logged above); nothing was written");
    if (progress.finished) {
      auto applied = applier.applied();
      bool all = true;
      for (auto [p, next] : progress.next)
        if (auto it = applied.find(p); it == applied.end() || it->second < next) all = false;
      if (all) return;
    }
    const auto now = Clock::now();
    const uint64_t done = stats.applied + stats.rejected + stats.held;
    if (progress.records + done != last_seen) {
      last_seen = progress.records + done;
      last_change = now;
    } else if (now - last_change > stall_bound) {
      std::string problem = reader.last_problem();
      throw RebuildError("nothing was read from " + reader.describe() + " for " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(stall_bound).count()) +
                         " s" + (problem.empty() ? "" : " (" + problem + ")") + "; nothing was written");
    }
    line.draw(progress.records, done, now);
    if (!options.wait_for_signal) {
      std::this_thread::sleep_for(kTick);
    } else if (int sig = options.wait_for_signal(kTick)) {
      throw RebuildError(std::string("interrupted by ") +
                         (sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal") +
                         "; nothing was written");
    }
  }
}

// Makes the finished database one self-contained file: the WAL copied in and
// removed, the file synced, before it gets its name.
void finish_file(const fs::path& temp, int busy_timeout_ms) {
  try {
    SQLite::Database db(temp.string(), SQLite::OPEN_READWRITE, busy_timeout_ms);
    db.exec("PRAGMA synchronous=FULL");
    std::string mode = db.execAndGet("PRAGMA journal_mode=DELETE").getString();
    if (mode != "delete") throw std::runtime_error("the journal mode stayed " + mode);
  } catch (const std::exception& e) {
    throw RebuildError("cannot finish " + temp.string() + ": " + e.what());
  }
}

}  // namespace

RebuildResult rebuild(const Config& config, const RebuildOptions& options) {
  const auto started = Clock::now();
  const fs::path out(options.out_path);
  TempDatabase temp(temporary_name(out, options.out_path));

  // The plugins first, as a node loads them: a rebuild that cannot apply its
  // tables fails before it reads anything.
  std::vector<LoadedPlugin> plugins = load_plugins(config.plugins, config.node_id);
  std::unique_ptr<LogReader> reader = open_log_reader(config);
  const std::string source = reader->describe();
  const auto stops = stop_offsets(*reader, options.until);
  int64_t ceiling = 0;  // events to read at most
  for (auto [p, stop] : stops) ceiling += stop;
  reader->start(stops);

  RebuildResult result;
  std::vector<PendingTable> held_tables;
  {
    std::unique_ptr<Store> store;
    try {
      store = std::make_unique<Store>(temp.path().string(), config.database.busy_timeout_ms, /*read_connections=*/0,
                                      config.database.cache_mb);
      // The file is renamed into place only once complete and synced
      // (finish_file()): a crash before that leaves nothing anybody reads, so
      // the commits need not wait for the disk.
      store->writer().exec("PRAGMA synchronous=OFF");
    } catch (const std::exception& e) {
      throw RebuildError("cannot create " + temp.path().string() + ": " + e.what());
    }
    // After the store: plugins keep statements on its connection, so they go first.
    PluginRegistry registry(std::move(plugins));
    RebuildLog log(*reader, options.until.time);
    Applier applier(*store, registry, log, config.applier.max_batch, /*listener=*/nullptr, /*metrics=*/nullptr,
                    /*read_ahead=*/true);
    applier.start();
    ProgressLine line(options.show_progress, ceiling, started);
    wait_until_replayed(applier, log, *reader, config, options, line);
    line.clear();
    held_tables = applier.pending();
    applier.stop();
    auto stats = applier.stats();
    result.applied = stats.applied;
    result.rejected = stats.rejected;
    result.held = stats.held;
    result.events = stats.applied + stats.rejected + stats.held;
    auto progress = log.progress();
    for (auto [p, stop] : stops) {
      auto it = progress.next.find(p);
      result.stopped_at[p] = it == progress.next.end() ? 0 : it->second;
    }
  }
  reader.reset();
  finish_file(temp.path(), config.database.busy_timeout_ms);
  move_into_place(temp.path(), out);
  temp.keep();

  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::string held;
  if (!held_tables.empty()) {
    for (auto& t : held_tables) held += (held.empty() ? "" : ", ") + t.table;
    held = " (held: events of table(s) " + held + ", which no plugin serves here; they are in _cl_held)";
  }
  result.summary = "rebuilt " + out.string() + " as of --until " + options.until.text + " from " + source + ": " +
                   std::to_string(result.events) + " events in " + format_seconds(result.seconds) + " s (" +
                   std::to_string(static_cast<uint64_t>(result.events / std::max(result.seconds, 1e-6))) +
                   " events/s): " + std::to_string(result.applied) + " applied, " + std::to_string(result.rejected) +
                   " rejected, " + std::to_string(result.held) + " held" + held + "; stopped at " +
                   offsets_text(result.stopped_at);
  return result;
}

}  // namespace clusterlite
