#include "snapshot/peer_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace clusterlite {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxHead = 64 * 1024;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

PeerResponse::PeerResponse(const std::string& base_url, const std::string& path, const std::string& token,
                           Clock::time_point deadline)
    : deadline_(deadline) {
  // http://host[:port][/]
  if (base_url.rfind("http://", 0) != 0) throw std::runtime_error("not an http:// URL");
  std::string authority = base_url.substr(7);
  if (auto slash = authority.find('/'); slash != std::string::npos) {
    if (authority.find_first_not_of('/', slash) != std::string::npos)
      throw std::runtime_error("a peer URL has no path: http://host:port");
    authority.resize(slash);
  }
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty()) throw std::runtime_error("no host or port in the URL");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  for (addrinfo* a = found; a && socket_.fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    socket_.fd = fd;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      ::close(fd);
      socket_.fd = -1;
      continue;
    }
    wait(true);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_error = std::strerror(err);
      ::close(fd);
      socket_.fd = -1;
    }
  }
  if (socket_.fd < 0) throw std::runtime_error("cannot connect: " + last_error);

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += "\r\n";
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(socket_.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      wait(true);
    } else {
      throw std::runtime_error("cannot send the request: " + std::string(std::strerror(errno)));
    }
  }

  std::string head;
  size_t end = std::string::npos;
  char buf[8192];
  while ((end = head.find("\r\n\r\n")) == std::string::npos) {
    if (head.size() > kMaxHead) throw std::runtime_error("the answer's headers exceed 64 KiB");
    ssize_t n = ::recv(socket_.fd, buf, sizeof buf, 0);
    if (n > 0) {
      head.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      throw std::runtime_error("the peer closed the connection before its answer's headers ended");
    } else if (errno == EAGAIN || errno == EINTR) {
      wait(false);
    } else {
      throw std::runtime_error("cannot read the answer: " + std::string(std::strerror(errno)));
    }
  }
  rest_ = head.substr(end + 4);
  head.resize(end);
  // "HTTP/1.1 200 OK"
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    throw std::runtime_error("not an HTTP answer");
  try {
    status_ = std::stoi(status_line.substr(9, 3));
  } catch (const std::exception&) {
    throw std::runtime_error("not an HTTP answer");
  }
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    if (auto colon = line.find(':'); colon != std::string::npos)
      headers_[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    pos = next + 2;
  }
}

PeerResponse::~PeerResponse() = default;

PeerResponse::Socket::~Socket() {
  if (fd >= 0) ::close(fd);
}

std::optional<std::string> PeerResponse::header(const std::string& name) const {
  auto it = headers_.find(lower(name));
  if (it == headers_.end()) return std::nullopt;
  return it->second;
}

void PeerResponse::wait(bool for_write) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    if (left <= 0) throw std::runtime_error("no answer within the time allowed (bootstrap.timeout_ms)");
    pollfd p{socket_.fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) throw std::runtime_error("poll failed: " + std::string(std::strerror(errno)));
  }
}

uint64_t PeerResponse::read_body(const std::function<void(const char*, size_t)>& sink, uint64_t limit) {
  uint64_t got = 0;
  if (!rest_.empty()) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(rest_.size(), limit));
    sink(rest_.data(), take);
    got += take;
    rest_.clear();
  }
  std::string buf(1 << 16, '\0');
  while (got < limit) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), limit - got));
    ssize_t n = ::recv(socket_.fd, buf.data(), want, 0);
    if (n > 0) {
      sink(buf.data(), static_cast<size_t>(n));
      got += static_cast<uint64_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      wait(false);
    } else {
      throw std::runtime_error("the connection failed: " + std::string(std::strerror(errno)));
    }
  }
  return got;
}

}  // namespace clusterlite
