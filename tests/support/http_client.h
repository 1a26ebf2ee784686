// A blocking HTTP/1.1 client for tests: plain TCP to 127.0.0.1, every read and
// write bounded by a timeout so a misbehaving server fails the test instead
// of hanging it. Errors (connect refused, timeout, malformed response) throw
// std::runtime_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clusterlite::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string reason;
  // Header names lower-cased; a repeated header keeps its values joined by ", ".
  std::map<std::string, std::string> headers;
  std::string body;

  // The value of header `name` (any case), or "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

// One TCP connection to 127.0.0.1:port; requests on it reuse the connection.
class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request (adds Host, and Content-Length when `body` is not empty
  // or the method is POST/PUT, unless given in `headers`) and reads the response.
  HttpResponse request(std::string_view method, std::string_view target, const Headers& headers = {},
                       std::string_view body = {});

  // Writes `bytes` exactly as given.
  void send_raw(std::string_view bytes);
  // Reads one response; `head_request` means no body follows.
  HttpResponse read_response(bool head_request = false);
  // Reads until the peer closes the connection or the timeout passes; returns what arrived.
  std::string read_until_close();
  // True when the peer closed the connection within `wait` (no data may arrive meanwhile).
  bool peer_closed(std::chrono::milliseconds wait);

 private:
  // Reads more bytes into buffer_; false when the peer closed.
  bool fill();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

// One request on a fresh connection.
HttpResponse http_request(uint16_t port, std::string_view method, std::string_view target, const Headers& headers = {},
                          std::string_view body = {}, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Sends raw bytes on a fresh connection and returns everything received until
// the peer closes or `timeout` passes (for transport abuse).
std::string raw_exchange(uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A TCP port on 127.0.0.1 that was free when asked (bound to port 0, then released).
uint16_t free_port();

}  // namespace clusterlite::test
