#include "http/connection_guard.h"

#include <sys/resource.h>

#include <algorithm>

#include "thread_name.h"

namespace clusterlite {

int fit_to_descriptor_limit(int wanted, int reserved, std::string& note) {
  const rlim_t needed = static_cast<rlim_t>(wanted) * 2 + static_cast<rlim_t>(reserved);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return wanted;
  long fits = (static_cast<long>(limit.rlim_cur) - reserved) / 2;
  int allowed = static_cast<int>(std::max(1L, fits));
  note = "http.max_connections is " + std::to_string(wanted) + ", but the descriptor limit (ulimit -n) is " +
         std::to_string(limit.rlim_cur) + ": this node takes at most " + std::to_string(allowed) +
         " client connections (two descriptors each); raise the limit to " + std::to_string(needed) + " for all";
  return allowed;
}

ConnectionGuard::ConnectionGuard(ConnectionLimits limits, Answer answer)
    : limits_(limits), answer_(std::move(answer)) {}

ConnectionGuard::~ConnectionGuard() { stop(); }

void ConnectionGuard::start() {
  // A few checks per shortest bound: a connection is closed at most a quarter
  // of its bound (and at most 250 ms) late.
  auto shortest = std::min({limits_.header_timeout, limits_.body_timeout, limits_.keepalive_timeout});
  auto interval = std::clamp(shortest / 4, std::chrono::milliseconds(20), std::chrono::milliseconds(250));
  thread_ = std::thread([this, interval] {
    name_this_thread("cl-http-guard");
    std::unique_lock lock(thread_mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, interval, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      sweep(Clock::now());
      lock.lock();
    }
  });
}

void ConnectionGuard::stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ConnectionGuard::admit() {
  if (open_.fetch_add(1) >= limits_.max_connections) {
    open_.fetch_sub(1);
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ConnectionGuard::add(ClientConnection* c) {
  std::lock_guard lock(mutex_);
  connections_.insert(c);
}

void ConnectionGuard::remove(ClientConnection* c) {
  {
    std::lock_guard lock(mutex_);
    connections_.erase(c);
  }
  open_.fetch_sub(1);
}

void ConnectionGuard::sweep(Clock::time_point now) {
  const int64_t t = ClientConnection::ticks(now);
  auto past = [t](int64_t since, std::chrono::milliseconds bound) {
    return since != 0 && t - since > std::chrono::duration_cast<Clock::duration>(bound).count();
  };
  auto ms = [](std::chrono::milliseconds bound) { return std::to_string(bound.count()) + " ms"; };
  std::lock_guard lock(mutex_);  // a connection cannot go while it is looked at
  for (ClientConnection* c : connections_) {
    if (c->closing_.load() || c->in_flight_.load() > 0) continue;  // its answer is being made
    int64_t body = c->body_since_.load();
    int64_t request = c->request_since_.load();
    std::string last_words;
    if (past(body, limits_.body_timeout)) {
      last_words = answer_(408, "the request body did not arrive within " + ms(limits_.body_timeout));
      body_timeouts_.fetch_add(1, std::memory_order_relaxed);
    } else if (body == 0 && past(request, limits_.header_timeout)) {
      // Nothing is answered on a connection that never sent a byte of a request.
      if (c->received_.load())
        last_words = answer_(408, "the request headers did not arrive within " + ms(limits_.header_timeout));
      header_timeouts_.fetch_add(1, std::memory_order_relaxed);
    } else if (body == 0 && request == 0 && past(c->idle_since_.load(), limits_.keepalive_timeout)) {
      idle_closed_.fetch_add(1, std::memory_order_relaxed);
    } else {
      continue;
    }
    c->closing_ = true;
    c->socket_.close(last_words);
  }
}

ConnectionGuard::Counts ConnectionGuard::counts() const {
  Counts c;
  c.open = static_cast<uint64_t>(std::max(0, open_.load()));
  c.refused = refused_.load(std::memory_order_relaxed);
  c.header_timeouts = header_timeouts_.load(std::memory_order_relaxed);
  c.body_timeouts = body_timeouts_.load(std::memory_order_relaxed);
  c.idle_closed = idle_closed_.load(std::memory_order_relaxed);
  return c;
}

ClientConnection::ClientConnection(std::shared_ptr<ConnectionGuard> guard, std::shared_ptr<ActiveConnections> active,
                                   int fd, Clock::time_point now)
    : guard_(std::move(guard)), active_(std::move(active)), socket_(fd) {
  request_since_ = ticks(now);
  idle_since_ = ticks(now);
  guard_->add(this);
}

ClientConnection::~ClientConnection() {
  active_->closed(mark_, ActiveConnections::Clock::now());
  guard_->remove(this);
}

void ClientConnection::input(Clock::time_point now) {
  received_ = true;
  int64_t none = 0;
  request_since_.compare_exchange_strong(none, ticks(now));
}

void ClientConnection::parsed(bool in_request, bool in_body, Clock::time_point now) {
  int64_t none = 0;
  if (in_request) {
    received_ = true;
    request_since_.compare_exchange_strong(none, ticks(now));
  }
  none = 0;
  if (in_body) body_since_.compare_exchange_strong(none, ticks(now));
}

void ClientConnection::request_taken(Clock::time_point now) {
  in_flight_.fetch_add(1);
  request_since_ = 0;
  body_since_ = 0;
  received_ = false;
  active_->request(mark_, now);
}

void ClientConnection::answered(Clock::time_point now) {
  idle_since_ = ticks(now);
  in_flight_.fetch_sub(1);
}

}  // namespace clusterlite
