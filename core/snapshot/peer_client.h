// PeerClient: the few HTTP/1.1 GET requests a bootstrapping node sends to a
// peer (GET /readyz, GET /_cluster/snapshot), over plain TCP, every wait
// bounded by a deadline. Peers are "http://host:port" URLs; no TLS.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace clusterlite {

class PeerResponse {
 public:
  // Connects to `base_url`, sends GET `path` (with "Authorization: Bearer
  // <token>" when `token` is not empty) and reads the status line and the
  // headers. Throws std::runtime_error with a one-line reason (bad URL, no
  // connection, malformed answer, deadline passed).
  PeerResponse(const std::string& base_url, const std::string& path, const std::string& token,
               std::chrono::steady_clock::time_point deadline);
  ~PeerResponse();
  PeerResponse(const PeerResponse&) = delete;
  PeerResponse& operator=(const PeerResponse&) = delete;

  int status() const { return status_; }
  // A header's value (names compare case-insensitively).
  std::optional<std::string> header(const std::string& name) const;

  // Hands the body to `sink` piece by piece until `limit` bytes came or the
  // peer closed the connection; returns the bytes read. Throws
  // std::runtime_error when the deadline passes or the connection fails.
  uint64_t read_body(const std::function<void(const char*, size_t)>& sink, uint64_t limit);

 private:
  // Waits until the socket is readable (or writable); throws past the deadline.
  void wait(bool for_write);
  // Closes the socket also when the constructor throws half-way.
  struct Socket {
    int fd = -1;
    ~Socket();
  };
  Socket socket_;
  std::chrono::steady_clock::time_point deadline_;
  int status_ = 0;
  std::map<std::string, std::string> headers_;  // lower-case names
  std::string rest_;  // body bytes read together with the head
};

}  // namespace clusterlite
