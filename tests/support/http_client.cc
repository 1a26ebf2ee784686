#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace clusterlite::test {

using Clock = std::chrono::steady_clock;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("http client: " + what); }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits until `fd` is ready for `events`; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

bool HttpResponse::has_header(std::string_view name) const { return headers.count(lower(name)) > 0; }

HttpConnection::HttpConnection(uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      int e = errno;
      ::close(fd_);
      fail("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(e));
    }
    bool ready = wait_fd(fd_, POLLOUT, Clock::now() + timeout_);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (!ready || err != 0) {
      ::close(fd_);
      fail("connect to 127.0.0.1:" + std::to_string(port) + ": " + (ready ? std::strerror(err) : "timed out"));
    }
  }
}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void HttpConnection::send_raw(std::string_view bytes) {
  auto deadline = Clock::now() + timeout_;
  while (!bytes.empty()) {
    if (!wait_fd(fd_, POLLOUT, deadline)) fail("send timed out");
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

bool HttpConnection::fill() {
  auto deadline = Clock::now() + timeout_;
  for (;;) {
    if (!wait_fd(fd_, POLLIN, deadline)) fail("no response within " + std::to_string(timeout_.count()) + " ms");
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ECONNRESET) return false;
    fail(std::string("recv: ") + std::strerror(errno));
  }
}

HttpResponse HttpConnection::read_response(bool head_request) {
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > (1 << 20)) fail("response head larger than 1 MiB");
    if (!fill())
      fail("connection closed before a complete response head (got " + std::to_string(buffer_.size()) + " bytes)");
  }
  std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);

  HttpResponse r;
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) fail("bad status line: " + status_line);
  r.status = std::atoi(status_line.substr(9, 3).c_str());
  r.reason = status_line.size() > 13 ? status_line.substr(13) : "";
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string_view line(head.data() + pos, next - pos);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) fail("bad header line: " + std::string(line));
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    auto [it, inserted] = r.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
    pos = next + 2;
  }

  bool no_body = head_request || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
  if (no_body) return r;
  if (lower(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos)
        if (!fill()) fail("connection closed inside a chunked body");
      size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
      buffer_.erase(0, eol + 2);
      while (buffer_.size() < size + 2)
        if (!fill()) fail("connection closed inside a chunk");
      r.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
      if (size == 0) return r;
    }
  }
  if (r.has_header("content-length")) {
    size_t length = std::stoul(r.header("content-length"));
    while (buffer_.size() < length)
      if (!fill())
        fail("connection closed after " + std::to_string(buffer_.size()) + " of " + std::to_string(length) +
             " body bytes");
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }
  // No length: the body runs until the connection closes.
  while (fill()) {
  }
  r.body.swap(buffer_);
  buffer_.clear();
  return r;
}

HttpResponse HttpConnection::request(std::string_view method, std::string_view target, const Headers& headers,
                                     std::string_view body) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false, has_length = false;
  for (auto& [name, value] : headers) {
    has_host |= lower(name) == "host";
    has_length |= lower(name) == "content-length";
    req.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_host) req.append("Host: 127.0.0.1\r\n");
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT"))
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n").append(body);
  send_raw(req);
  return read_response(method == "HEAD");
}

std::string HttpConnection::read_until_close() {
  auto deadline = Clock::now() + timeout_;
  while (wait_fd(fd_, POLLIN, deadline)) {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    break;
  }
  std::string out;
  out.swap(buffer_);
  return out;
}

bool HttpConnection::peer_closed(std::chrono::milliseconds wait) {
  auto deadline = Clock::now() + wait;
  while (wait_fd(fd_, POLLIN, deadline)) {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    return true;  // reset
  }
  return false;
}

HttpResponse http_request(uint16_t port, std::string_view method, std::string_view target, const Headers& headers,
                          std::string_view body, std::chrono::milliseconds timeout) {
  HttpConnection c(port, timeout);
  return c.request(method, target, headers, body);
}

std::string raw_exchange(uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  HttpConnection c(port, timeout);
  try {
    c.send_raw(bytes);
  } catch (const std::runtime_error&) {
    // The server may close before taking everything; what it answered still counts.
  }
  return c.read_until_close();
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    ::close(fd);
    fail(std::string("bind to a free port: ") + std::strerror(e));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace clusterlite::test
