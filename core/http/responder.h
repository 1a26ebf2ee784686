// Responder: the one answer to a request, sent from whichever thread has it,
// with the headers every answer carries (the node's id, security headers,
// CORS for allowed origins, the keep-alive answer); and closing_answer(),
// the whole answer written before a connection is closed.
#pragma once

#include <pistache/http.h>
#include <pistache/peer.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "config.h"
#include "http/connection_guard.h"
#include "http/problem.h"
#include "http/response_socket.h"
#include "metrics.h"

namespace clusterlite {

// Security headers. Every answer: the browser must not guess another type
// than Content-Type says. API answers are data, never a page: nothing may be
// loaded by them or frame them. UI files may load only the UI's own files,
// with no inline script or style, and may not be framed.
inline constexpr const char* kApiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'";
inline constexpr const char* kUiContentSecurityPolicy =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";
// The value of header `name` of a request, whether Pistache parsed it into a
// typed header or kept it raw.
std::optional<std::string> request_header(const Pistache::Http::Request& req, const std::string& name);

// A whole answer that ends its connection: the guard's 408 for a request
// that did not arrive in time, and the 503 of a connection refused at the door.
std::string closing_answer(const std::string& node_id, int status, const std::string& detail);

// Sends exactly one response to a request, from whichever thread has it:
// adds the node header, CORS headers and the keep-alive answer (Pistache
// 0.0.5's default closes connections of HTTP/1.1 clients that send no
// `Connection` header).
class Responder {
 public:
  // `in_flight`, and the request's connection (none when it was refused),
  // count this request until its response is sent.
  Responder(const Pistache::Http::Request& req, std::weak_ptr<Pistache::Tcp::Peer> peer,
            std::shared_ptr<ClientConnection> connection, const Config& config, Metrics& metrics,
            std::atomic<int>& in_flight)
      : peer_(std::move(peer)),
        connection_(std::move(connection)),
        config_(config),
        metrics_(metrics),
        in_flight_(in_flight),
        started_(std::chrono::steady_clock::now()),
        reactor_(std::this_thread::get_id()),
        http10_(req.version() == Pistache::Http::Version::Http10),
        head_(req.method() == Pistache::Http::Method::Head) {
    in_flight_.fetch_add(1);
    if (connection_) connection_->request_taken(started_);
    switch (req.method()) {
      case Pistache::Http::Method::Get: method_ = 0; break;
      case Pistache::Http::Method::Post: method_ = 1; break;
      case Pistache::Http::Method::Put: method_ = 2; break;
      case Pistache::Http::Method::Delete: method_ = 3; break;
      case Pistache::Http::Method::Options: method_ = 4; break;
      default: method_ = Metrics::kOtherMethod;
    }
    keep_alive_ = true;
    if (auto c = req.headers().tryGet<Pistache::Http::Header::Connection>())
      keep_alive_ = c->control() != Pistache::Http::ConnectionControl::Close;
    else if (http10_)
      keep_alive_ = false;
    if (!config.http.cors_origins.empty()) {
      if (auto origin = request_header(req, "Origin")) {
        auto& allowed = config.http.cors_origins;
        if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end())
          cors_origin_ = "*";
        else if (std::find(allowed.begin(), allowed.end(), *origin) != allowed.end())
          cors_origin_ = *origin;
      }
    }
  }

  bool cors_allowed() const { return !cors_origin_.empty(); }
  // Answers with the web UI's security headers instead of the API's.
  void ui_document() { ui_document_ = true; }
  // A request whose method Pistache does not know (parsed again as a GET):
  // counted under "other" in /metrics.
  // Its answer closes the connection: what is left of its body is not read.
  void unknown_method() {
    method_ = Metrics::kOtherMethod;
    head_ = false;
    close_connection();
  }
  // The answer says `Connection: close`.
  void close_connection() { keep_alive_ = false; }
  // The route kind this request is counted under in /metrics.
  void set_route(Route route) { route_ = route; }

  // `name` and `value` come from ClusterLite or from a header of the request
  // (which cannot hold a line break), never from a body.
  void add_header(std::string_view name, std::string_view value) {
    headers_.append(name).append(": ").append(value).append("\r\n");
  }

  void send(int status, const std::string& body = {}, const char* content_type = "application/json") {
    if (sent_.exchange(true)) return;
    std::string out = head_text(status, body.empty() ? nullptr : content_type, body.size(), body.size());
    // An answer to HEAD has no body, whatever its Content-Length says.
    if (!head_) out.append(body);
    // Counted before sending, so a client that saw the answer sees it counted.
    metrics_.request(route_, method_, status,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    auto peer = peer_.lock();
    // An answer made on another thread (a write's, on the applier or
    // cl-completions) goes straight to the socket. The reactor's own answers
    // (reads, errors) still go through Pistache's queue: Pistache reads a
    // connection until nothing more has arrived, so an answer sent at once
    // would let a fast client's next request keep the reactor on its
    // connection while the others wait (measured: the p99 of GET by id rose
    // from 3 to 21 ms, of a page of users to 1.9 s).
    if (connection_ && std::this_thread::get_id() != reactor_) {
      connection_->socket().send(out, [&peer](std::string_view rest) {
        if (peer) peer->send(Pistache::RawBuffer(rest.data(), rest.size()));
      });
    } else if (peer) {
      size_t size = out.size();
      peer->send(Pistache::RawBuffer(std::move(out), size));
    }
    done();
  }

  // A streamed answer (GET /_changes): the status line and headers of a 200
  // with `content_type`, `Connection: close` and no length, for the caller to
  // write to stream_socket() with the body after it; the request counts as
  // answered for everything else. "" (nothing done) when the request has no
  // socket of its own or was answered already.
  std::string stream_head(const char* content_type) {
    if (!connection_ || !connection_->socket().direct() || sent_.exchange(true)) return {};
    keep_alive_ = false;
    add_header("Cache-Control", "no-cache");
    add_header("X-Accel-Buffering", "no");
    metrics_.request(route_, method_, 200,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    return head_text(200, content_type, std::nullopt);
  }
  ResponseSocket* stream_socket() { return connection_ ? &connection_->socket() : nullptr; }
  // Ends a streamed answer: closes the connection.
  void end_stream() {
    if (!connection_ || streamed_.exchange(true)) return;
    connection_->socket().close({});
    done();
  }

  // Sends `length` bytes of file `file_fd` as the body (a snapshot), with
  // Content-Length and "Connection: close", straight to the client's socket,
  // then ends the connection. Blocks: call it off the reactor threads, on a
  // request that has a connection. Gives up when the client takes nothing
  // for `stall` or `cancelled()` says so. False when the body was not sent
  // whole (the client saw a short body and a closed connection).
  bool send_file(int status, int file_fd, uint64_t length, const char* content_type, std::chrono::milliseconds stall,
                 const std::function<bool()>& cancelled) {
    if (!connection_ || std::this_thread::get_id() == reactor_ || !connection_->socket().direct()) {
      // No socket of its own to write to: nothing was sent yet, so say so.
      problem(503, "this connection cannot take a streamed answer now; retry on a new connection");
      return false;
    }
    if (sent_.exchange(true)) return false;
    keep_alive_ = false;
    std::string head = head_text(status, content_type, length);
    metrics_.request(route_, method_, status,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    bool whole = connection_->socket().send_file(head, file_fd, head_ ? 0 : length, stall, cancelled);
    connection_->socket().close({});
    done();
    return whole;
  }

  ~Responder() {
    if (!sent_) done();
  }

  void problem(int status, std::string_view detail, std::string_view field = {}, std::string_view extra = {}) {
    send(status, problem_json(status, detail, field, extra), "application/problem+json");
  }

 private:
  // The status line and headers of an answer with a body of `length` bytes
  // of `content_type` (none when null), with room for `room` more bytes; no
  // length: the body ends when the connection closes (a stream).
  std::string head_text(int status, const char* content_type, std::optional<uint64_t> length, size_t room = 0) {
    add_header("X-ClusterLite-Node", config_.node_id);
    if (content_type) add_header("Content-Type", content_type);
    add_header("X-Content-Type-Options", "nosniff");
    if (ui_document_) {
      add_header("Content-Security-Policy", kUiContentSecurityPolicy);
      add_header("X-Frame-Options", "DENY");
      add_header("Referrer-Policy", "no-referrer");
    } else {
      add_header("Content-Security-Policy", kApiContentSecurityPolicy);
    }
    if (!cors_origin_.empty()) {
      add_header("Access-Control-Allow-Origin", cors_origin_);
      add_header("Access-Control-Expose-Headers", "Location, Link, X-ClusterLite-Node, ClusterLite-Position");
      if (cors_origin_ != "*") add_header("Vary", "Origin");
    }
    // A connection answered "Connection: close" stays open until the client
    // closes its end or Pistache's keep-alive timeout passes.
    add_header("Connection", keep_alive_ ? "keep-alive" : "close");
    const char* reason = Pistache::Http::codeString(static_cast<Pistache::Http::Code>(status));
    std::string out;
    out.reserve(64 + headers_.size() + room);
    out.append(http10_ ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status)).append(" ");
    out.append(reason && *reason ? reason : "Status").append("\r\n").append(headers_);
    if (length) out.append("Content-Length: ").append(std::to_string(*length)).append("\r\n");
    return out.append("\r\n");
  }

  // The request is answered: from now on its connection waits for the next one.
  void done() {
    if (connection_) connection_->answered(std::chrono::steady_clock::now());
    in_flight_.fetch_sub(1);
  }

  std::weak_ptr<Pistache::Tcp::Peer> peer_;
  std::shared_ptr<ClientConnection> connection_;
  const Config& config_;
  Metrics& metrics_;
  std::atomic<int>& in_flight_;
  std::chrono::steady_clock::time_point started_;
  std::thread::id reactor_;  // the reactor thread that took the request
  bool http10_ = false;
  bool head_ = false;  // a HEAD request
  Route route_ = Route::kOther;
  int method_ = Metrics::kOtherMethod;
  bool keep_alive_ = true;
  bool ui_document_ = false;
  std::string cors_origin_;
  std::string headers_;  // "Name: value\r\n" each
  std::atomic<bool> sent_{false};
  std::atomic<bool> streamed_{false};  // a streamed answer ended
};
using ResponderPtr = std::shared_ptr<Responder>;

}  // namespace clusterlite
