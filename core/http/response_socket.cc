#include "http/response_socket.h"

#include <fcntl.h>
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

void ResponseSocket::send(std::string_view response, const std::function<void(std::string_view)>& queue) {
  std::lock_guard lock(mutex_);
  if (queued_ || fd_ < 0) {
    queue(response);
    return;
  }
  size_t sent = 0;
  while (sent < response.size()) {
    ssize_t n = ::send(fd_, response.data() + sent, response.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      queued_ = true;
      queue(response.substr(sent));
      return;
    } else {
      return;  // the client is gone; Pistache sees it on its side and closes
    }
  }
}

long ResponseSocket::try_send(std::string_view data) {
  std::lock_guard lock(mutex_);
  if (queued_ || fd_ < 0) return -1;
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return static_cast<long>(sent);
}

void ResponseSocket::limit_send_buffer(int bytes) {
  if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
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
