#include "http/response_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace clusterlite {

void close_socket(int fd, std::string_view last_words) {
  size_t sent = 0;
  while (sent < last_words.size()) {
    ssize_t n = ::send(fd, last_words.data() + sent, last_words.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      sent += static_cast<size_t>(n);
    else if (!(n < 0 && errno == EINTR))
      break;
  }
  ::shutdown(fd, SHUT_RDWR);
}

ResponseSocket::ResponseSocket(int fd) : fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)) {}

ResponseSocket::~ResponseSocket() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// Writes as much of `data` to `fd` as it takes without blocking: the bytes
// taken, or -1 when the client is gone (reset or closed).
long send_some(int fd, std::string_view data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      sent += static_cast<size_t>(n);
    else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    else
      return -1;
  }
  return static_cast<long>(sent);
}

}  // namespace

void ResponseSocket::send(std::string_view response, const std::function<void(std::string_view)>& queue) {
  std::lock_guard lock(mutex_);
  if (queued_ || fd_ < 0) {
    queue(response);
    return;
  }
  long sent = send_some(fd_, response);
  // Gone: Pistache sees it on its side and closes. Full: the rest goes to
  // Pistache's queue, and so does every later response.
  if (sent >= 0 && static_cast<size_t>(sent) < response.size()) {
    queued_ = true;
    queue(response.substr(static_cast<size_t>(sent)));
  }
}

long ResponseSocket::try_send(std::string_view data) {
  std::lock_guard lock(mutex_);
  if (queued_ || fd_ < 0) return -1;
  return send_some(fd_, data);
}

void ResponseSocket::limit_send_buffer(int bytes) {
  if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

bool ResponseSocket::send_file(std::string_view head, int file_fd, uint64_t length, std::chrono::milliseconds stall,
                               const std::function<bool()>& cancelled) {
  std::lock_guard lock(mutex_);
  if (queued_ || fd_ < 0) return false;
  using Clock = std::chrono::steady_clock;
  auto last_progress = Clock::now();
  // Waits until the socket takes more; false when it should give up.
  auto writable = [&]() {
    for (;;) {
      if (cancelled()) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(last_progress + stall - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLOUT, 0};
      int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (rc > 0) return (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
      if (rc < 0 && errno != EINTR) return false;
    }
  };
  size_t sent = 0;
  while (sent < head.size()) {
    ssize_t n = ::send(fd_, head.data() + sent, head.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      last_progress = Clock::now();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!writable()) return false;
    } else {
      return false;
    }
  }
  off_t offset = 0;
  while (static_cast<uint64_t>(offset) < length) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - static_cast<uint64_t>(offset), 1 << 20));
    ssize_t n = ::sendfile(fd_, file_fd, &offset, chunk);
    if (n > 0) {
      last_progress = Clock::now();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!writable()) return false;
    } else {
      return false;  // the client is gone, or the file is shorter than said (n == 0)
    }
  }
  return true;
}

bool ResponseSocket::close(std::string_view last_words) {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return false;
  close_socket(fd_, queued_ ? std::string_view{} : last_words);
  return true;
}

bool ResponseSocket::direct() const {
  std::lock_guard lock(mutex_);
  return !queued_ && fd_ >= 0;
}

}  // namespace clusterlite
