// clusterlite-visprobe: a paced visibility probe for a ClusterLite cluster.
//
//   clusterlite-visprobe --nodes 127.0.0.1:8091,127.0.0.1:8092,127.0.0.1:8093
//                        [--rate 1000] [--duration 20] [--workers 64]
//
// Open-loop pacing: write i is due at start + i / rate, whatever happened to
// the writes before it. A pool of worker threads takes the writes in order,
// each waits until its write is due, sends it (POST /users with a unique
// email) to node i % nodes, and after the 201 polls GET /users/{id} on every
// other node until each answers 200 (one round over the pending nodes, then a
// 1 ms sleep, --poll-sleep-us; after 10 s the write counts as an error).
// Every worker keeps one HTTP/1.1 keep-alive connection per node.
//
// Per write it records the acknowledgement latency (sending the POST until
// the 201) and the visible-on-all latency (sending the POST until the last
// node answered 200). A write that starts more than 5 ms after it was due
// counts as late: when the workers cannot keep up, the late count and the
// achieved rate show it instead of the probe silently slowing down.
//
// Prints a summary to stderr and one machine-readable line to stdout:
//   RESULT writes=.. ok=.. rate=.. late=.. late_max_us=.. errors=.. polls=..
//          ack_p50_us=.. ack_p99_us=.. ack_max_us=.. vis_p50_us=.. vis_p99_us=.. vis_max_us=..
// Exits 0 when the run completed (errors are reported, not fatal), 2 on bad
// options.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

long long micros_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<Micros>(to - from).count();
}

struct Endpoint {
  std::string host;
  std::string port;
};

struct Options {
  std::vector<Endpoint> nodes;
  double rate = 1000;        // writes per second
  double duration_s = 20;    // seconds of writes
  int workers = 64;          // worker threads
  // Sleep between polling rounds: the probe's resolution. Shorter sleeps make
  // the probe itself a load that grows exactly when the cluster is slow.
  int poll_sleep_us = 1000;
  double give_up_s = 10;     // a write not visible everywhere by then is an error
  long long late_us = 5000;    // a write starting later than this after its due time is late
  std::string run;           // makes the emails unique across runs
};

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one keep-alive connection, one request at a time.
// It reads the status line, Content-Length and the body; that is all the
// node's answers need.

struct Response {
  int status = 0;
  std::string body;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

class HttpConnection {
 public:
  explicit HttpConnection(Endpoint ep) : ep_(std::move(ep)) {}
  ~HttpConnection() { close_fd(); }
  HttpConnection(HttpConnection&& o) noexcept
      : ep_(std::move(o.ep_)), fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  HttpConnection& operator=(HttpConnection&&) = delete;

  // Sends one request and reads its response. A request on a reused
  // connection that fails before any answer (the server closed an idle
  // keep-alive connection) is retried once on a new connection.
  std::optional<Response> request(std::string_view method, std::string_view path, std::string_view body,
                                  std::string& error) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = fd_ >= 0;
      if (!reused && !connect_fd(error)) return std::nullopt;
      if (auto r = exchange(method, path, body, error)) return r;
      close_fd();
      if (!reused) break;
    }
    return std::nullopt;
  }

 private:
  bool connect_fd(std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(ep_.host.c_str(), ep_.port.c_str(), &hints, &res);
    if (rc != 0) {
      error = "resolve " + ep_.host + ": " + gai_strerror(rc);
      return false;
    }
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        fd_ = fd;
        break;
      }
      ::close(fd);
    }
    freeaddrinfo(res);
    if (fd_ < 0) error = "connect " + ep_.host + ":" + ep_.port + ": " + std::strerror(errno);
    return fd_ >= 0;
  }

  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  std::optional<Response> exchange(std::string_view method, std::string_view path, std::string_view body,
                                   std::string& error) {
    std::string req;
    req.reserve(160 + body.size());
    req.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(ep_.host);
    req.append("\r\n");
    if (!body.empty()) {
      req.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size()));
      req.append("\r\n");
    }
    req.append("\r\n").append(body);
    if (!send_all(req, error)) return std::nullopt;
    return read_response(error);
  }

  bool send_all(std::string_view data, std::string& error) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = std::string("send: ") + std::strerror(errno);
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Appends what the socket has to buf_; false on close, error or timeout.
  bool fill(std::string& error) {
    char chunk[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      error = n == 0 ? "connection closed by the server" : std::string("recv: ") + std::strerror(errno);
      return false;
    }
  }

  std::optional<Response> read_response(std::string& error) {
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(error)) return std::nullopt;
    }
    std::string_view head(buf_.data(), header_end);
    Response r;
    // Status line: HTTP/1.1 201 Created
    size_t sp = head.find(' ');
    if (head.substr(0, 5) != "HTTP/" || sp == std::string_view::npos) {
      error = "malformed status line";
      return std::nullopt;
    }
    r.status = std::atoi(std::string(head.substr(sp + 1, 3)).c_str());
    size_t content_length = 0;
    bool close_after = false;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, next == std::string_view::npos ? head.npos : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (iequals(name, "Content-Length")) content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
        if (iequals(name, "Connection") && iequals(value, "close")) close_after = true;
        if (iequals(name, "Transfer-Encoding")) {
          error = "chunked responses are not supported";
          return std::nullopt;
        }
      }
      pos = next;
    }
    size_t total = header_end + 4 + content_length;
    while (buf_.size() < total) {
      if (!fill(error)) return std::nullopt;
    }
    r.body.assign(buf_, header_end + 4, content_length);
    buf_.erase(0, total);
    if (close_after) close_fd();
    return r;
  }

  Endpoint ep_;
  int fd_ = -1;
  std::string buf_;
};

// The value of the first "id" member of a JSON object the node wrote
// (the created user); empty when there is none.
std::string extract_id(std::string_view body) {
  size_t key = body.find("\"id\"");
  if (key == std::string_view::npos) return {};
  size_t i = key + 4;
  while (i < body.size() && (body[i] == ' ' || body[i] == ':')) ++i;
  if (i >= body.size() || body[i] != '"') return {};
  size_t end = body.find('"', i + 1);
  if (end == std::string_view::npos) return {};
  return std::string(body.substr(i + 1, end - i - 1));
}

// ---------------------------------------------------------------------------
// The probe.

struct Sample {
  long long ack_us;
  long long visible_us;
};

struct WorkerResult {
  std::vector<Sample> samples;
  long long late = 0;
  long long late_max_us = 0;
  long long errors = 0;
  long long polls = 0;  // GET requests sent while waiting for visibility
  Clock::time_point last_send{};
};

class Probe {
 public:
  explicit Probe(const Options& o)
      : opt_(o), total_(static_cast<long long>(o.rate * o.duration_s)), results_(static_cast<size_t>(o.workers)) {}

  void run() {
    start_ = Clock::now() + std::chrono::milliseconds(50);  // time for the threads to start
    std::vector<std::thread> threads;
    for (int w = 0; w < opt_.workers; ++w) threads.emplace_back([this, w] { work(results_[static_cast<size_t>(w)]); });
    for (auto& t : threads) t.join();
  }

  void report() const {
    std::vector<long long> ack, vis;
    long long late = 0, late_max = 0, errors = 0, polls = 0;
    Clock::time_point last = start_;
    for (const auto& r : results_) {
      for (const auto& s : r.samples) {
        ack.push_back(s.ack_us);
        vis.push_back(s.visible_us);
      }
      late += r.late;
      late_max = std::max(late_max, r.late_max_us);
      errors += r.errors;
      polls += r.polls;
      last = std::max(last, r.last_send);
    }
    // The writes were due over (total - 1) / rate seconds; sending them took
    // as long or, when the probe fell behind, longer.
    double span_s = static_cast<double>(micros_between(start_, last)) / 1e6;
    double rate = total_ > 1 && span_s > 0 ? static_cast<double>(total_ - 1) / span_s : 0;
    std::sort(ack.begin(), ack.end());
    std::sort(vis.begin(), vis.end());
    std::fprintf(stderr,
                 "visprobe: %lld writes at %.0f/s target (%.1f/s achieved) over %zu node(s), %d workers: "
                 "%zu visible everywhere, %lld errors, %lld started more than %.1f ms late\n",
                 total_, opt_.rate, rate, opt_.nodes.size(), opt_.workers, vis.size(), errors, late,
                 opt_.late_us / 1000.0);
    std::printf(
        "RESULT writes=%lld ok=%zu rate=%.1f late=%lld late_max_us=%lld errors=%lld polls=%lld ack_p50_us=%lld "
        "ack_p99_us=%lld ack_max_us=%lld vis_p50_us=%lld vis_p99_us=%lld vis_max_us=%lld\n",
        total_, vis.size(), rate, late, late_max, errors, polls, pct(ack, 50), pct(ack, 99), pct(ack, 100),
        pct(vis, 50), pct(vis, 99), pct(vis, 100));
    std::fflush(stdout);
  }

 private:
  // Nearest rank: the value at p % of the way through the sorted values.
  static long long pct(const std::vector<long long>& sorted, double p) {
    if (sorted.empty()) return 0;
    double k = p / 100.0 * static_cast<double>(sorted.size() - 1);
    size_t i = std::min(sorted.size() - 1, static_cast<size_t>(k + 0.5));
    return sorted[i];
  }

  Clock::time_point due(long long i) const {
    return start_ + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(i) / opt_.rate));
  }

  void error(const std::string& what) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (errors_printed_++ < 10) std::fprintf(stderr, "visprobe: %s\n", what.c_str());
  }

  void work(WorkerResult& out) {
    std::vector<HttpConnection> conns;
    conns.reserve(opt_.nodes.size());
    for (const auto& ep : opt_.nodes) conns.emplace_back(ep);
    for (long long i = next_.fetch_add(1); i < total_; i = next_.fetch_add(1)) {
      Clock::time_point at = due(i);
      std::this_thread::sleep_until(at);
      Clock::time_point t0 = Clock::now();
      long long late = micros_between(at, t0);
      if (late > opt_.late_us) ++out.late;
      out.late_max_us = std::max(out.late_max_us, late);
      out.last_send = t0;
      if (auto s = write_and_poll(conns, i, t0, out.polls)) {
        out.samples.push_back(*s);
      } else {
        ++out.errors;
      }
    }
  }

  // One write through node i % nodes, then polls of the other nodes until
  // each serves it. Times are from t0, just before sending the write.
  std::optional<Sample> write_and_poll(std::vector<HttpConnection>& conns, long long i, Clock::time_point t0,
                                       long long& polls) {
    size_t writer = static_cast<size_t>(i) % conns.size();
    std::string body = "{\"name\":\"Probe\",\"email\":\"probe-" + opt_.run + "-" + std::to_string(i) +
                       "@bench.example\"}";
    std::string err;
    auto r = conns[writer].request("POST", "/users", body, err);
    Clock::time_point t_ack = Clock::now();
    if (!r || r->status != 201) {
      error("write " + std::to_string(i) + ": " + (r ? "answered " + std::to_string(r->status) + " " + r->body : err));
      return std::nullopt;
    }
    std::string id = extract_id(r->body);
    if (id.empty()) {
      error("write " + std::to_string(i) + ": no id in " + r->body);
      return std::nullopt;
    }
    std::string path = "/users/" + id;
    std::vector<size_t> pending;
    for (size_t n = 0; n < conns.size(); ++n)
      if (n != writer) pending.push_back(n);
    Clock::time_point t_all = t_ack;
    Clock::time_point give_up =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.give_up_s));
    while (!pending.empty()) {
      if (Clock::now() > give_up) {
        error("user " + id + " not visible on " + std::to_string(pending.size()) + " node(s) after " +
              std::to_string(opt_.give_up_s) + " s");
        return std::nullopt;
      }
      std::vector<size_t> still;
      for (size_t n : pending) {
        ++polls;
        auto g = conns[n].request("GET", path, {}, err);
        if (g && g->status == 200) {
          t_all = Clock::now();
        } else {
          still.push_back(n);
        }
      }
      pending.swap(still);
      if (!pending.empty()) std::this_thread::sleep_for(Micros(opt_.poll_sleep_us));
    }
    return Sample{micros_between(t0, t_ack), micros_between(t0, t_all)};
  }

  const Options& opt_;
  const long long total_;
  Clock::time_point start_;
  std::atomic<long long> next_{0};
  std::vector<WorkerResult> results_;
  std::mutex error_mu_;
  int errors_printed_ = 0;
};

// ---------------------------------------------------------------------------
// Options.

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "clusterlite-visprobe: %s\n", msg);
  std::fprintf(stderr,
               "usage: clusterlite-visprobe --nodes host:port[,host:port...] [--rate WRITES_PER_S] "
               "[--duration S] [--workers N] [--poll-sleep-us US] [--run ID]\n");
  std::exit(2);
}

std::vector<Endpoint> parse_nodes(const std::string& list) {
  std::vector<Endpoint> nodes;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t colon = item.rfind(':');
    if (item.empty() || colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      usage(("bad node '" + item + "' (want host:port)").c_str());
    nodes.push_back({item.substr(0, colon), item.substr(colon + 1)});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return nodes;
}

double positive(const char* name, const char* value) {
  char* end = nullptr;
  double v = std::strtod(value, &end);
  if (end == value || *end != '\0' || !(v > 0)) usage((std::string(name) + " must be a positive number").c_str());
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(nullptr);
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--nodes") o.nodes = parse_nodes(v);
    else if (a == "--rate") o.rate = positive("--rate", v);
    else if (a == "--duration") o.duration_s = positive("--duration", v);
    else if (a == "--workers") o.workers = static_cast<int>(positive("--workers", v));
    else if (a == "--poll-sleep-us") o.poll_sleep_us = static_cast<int>(positive("--poll-sleep-us", v));
    else if (a == "--run") o.run = v;
    else usage(("unknown option " + a).c_str());
  }
  if (o.nodes.empty()) usage("--nodes is required");
  if (o.workers < 1) usage("--workers must be at least 1");
  if (o.run.empty()) {
    o.run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-" +
            std::to_string(getpid());
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  Probe probe(opt);
  probe.run();
  probe.report();
  return 0;
}
