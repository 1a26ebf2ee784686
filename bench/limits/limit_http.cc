// clusterlite-limit-http: a Pistache 0.0.5 server with a trivial handler,
// configured like a ClusterLite node (core/http/http_api.cc), to measure what the
// HTTP layer alone can serve on this machine.
//
// Every request gets 200 with a small fixed JSON body, the same headers a
// node's /healthz answer carries (Content-Type, X-ClusterLite-Node) and the
// node's keep-alive handling: a request without a Connection header is kept
// alive when it is HTTP/1.1 (Pistache 0.0.5 would announce Connection: Close).
//
//   clusterlite-limit-http [--address 127.0.0.1] [--port 0] [--threads 2]
//                          [--pistache-connection-default]
//
// Prints "listening on <address>:<port>" once it accepts connections and
// stops cleanly on SIGTERM or SIGINT.

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

using namespace Pistache;

namespace {

constexpr const char* kBody = R"({"status":"ok"})";
// The node's defaults (core/config.h): 1 MiB body limit, 2 reactor threads.
constexpr size_t kMaxBodyBytes = 1 << 20;

// A response header with a name chosen at run time, as the node sends its own
// headers (Pistache 0.0.5 sends only typed headers).
class TextHeader : public Http::Header::Header {
 public:
  TextHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }
#endif

 private:
  std::string name_;
  std::string value_;
};

class TrivialHandler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(TrivialHandler)
  explicit TrivialHandler(bool fix_connection) : fix_connection_(fix_connection) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter writer) override {
    auto& h = writer.headers();
    h.add(std::make_shared<TextHeader>("X-ClusterLite-Node", "limit"));
    h.add(std::make_shared<TextHeader>("Content-Type", "application/json"));
    if (fix_connection_) {
      // Same rule as the node's Responder.
      bool keep_alive = true;
      if (auto c = req.headers().tryGet<Http::Header::Connection>())
        keep_alive = c->control() != Http::ConnectionControl::Close;
      else if (req.version() == Http::Version::Http10)
        keep_alive = false;
      h.remove<Http::Header::Connection>();
      h.add<Http::Header::Connection>(keep_alive ? Http::ConnectionControl::KeepAlive
                                                 : Http::ConnectionControl::Close);
    }
    writer.send(Http::Code::Ok, kBody);
  }

 private:
  bool fix_connection_;
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::cerr << "clusterlite-limit-http: " << msg << "\n";
  std::cerr << "usage: clusterlite-limit-http [--address A] [--port P] [--threads N] "
               "[--pistache-connection-default]\n";
  std::exit(2);
}

long number(const char* s, long lo, long hi, const char* what) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) usage((std::string(what) + " out of range").c_str());
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  long port = 0, threads = 2;
  bool fix_connection = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--address") address = value();
    else if (a == "--port") port = number(value(), 0, 65535, "--port");
    else if (a == "--threads") threads = number(value(), 1, 64, "--threads");
    else if (a == "--pistache-connection-default") fix_connection = false;
    else if (a == "-h" || a == "--help") usage(nullptr);
    else usage(("unknown option " + a).c_str());
  }

  // Block the stop signals in every thread (the reactors inherit the mask);
  // the main thread waits for them with sigwait.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    Address addr(address, Port(static_cast<uint16_t>(port)));
    auto endpoint = std::make_shared<Http::Endpoint>(addr);
    // The node's options (HttpApi::start).
    auto opts = Http::Endpoint::options()
                    .threads(static_cast<int>(threads))
                    .flags(Tcp::Options::ReuseAddr)
                    .maxRequestSize(kMaxBodyBytes + 64 * 1024)
                    .maxResponseSize(64 << 20)
                    .headerTimeout(std::chrono::seconds(10))
                    .bodyTimeout(std::chrono::seconds(30))
                    .keepaliveTimeout(std::chrono::seconds(75));
    endpoint->init(opts);
    endpoint->setHandler(Http::make_handler<TrivialHandler>(fix_connection));
    endpoint->serveThreaded();
    std::printf("listening on %s:%u threads=%ld connection_fix=%s\n", address.c_str(),
                static_cast<unsigned>(static_cast<uint16_t>(endpoint->getPort())), threads,
                fix_connection ? "on" : "off");
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    std::fprintf(stderr, "clusterlite-limit-http: %s, stopping\n", strsignal(sig));
    endpoint->shutdown();
    endpoint.reset();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clusterlite-limit-http: %s\n", e.what());
    return 1;
  }
  return 0;
}
