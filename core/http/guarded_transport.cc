#include "http/guarded_transport.h"

#include <pistache/http.h>
#include <pistache/peer.h>

#include <string>

#include "http/connection_guard.h"

namespace clusterlite {

using namespace Pistache;

namespace {
const std::string kConnectionKey = "clusterlite.connection";
}

GuardedTransport::GuardedTransport(std::shared_ptr<Tcp::Handler> handler)
    : Tcp::Transport(handler), handler_(std::move(handler)) {}

std::shared_ptr<Aio::Handler> GuardedTransport::clone() const {
  return std::make_shared<GuardedTransport>(handler_->clone());
}

std::shared_ptr<ClientConnection> GuardedTransport::connection_of(const Tcp::Peer& peer) {
  return std::static_pointer_cast<ClientConnection>(peer.tryGetData(kConnectionKey));
}

void GuardedTransport::keep(Tcp::Peer& peer, std::shared_ptr<ClientConnection> connection) {
  peer.putData(kConnectionKey, std::move(connection));
}

void GuardedTransport::onReady(const Aio::FdSet& fds) {
  auto now = ClientConnection::Clock::now();
  readable_.clear();
  for (const auto& entry : fds) {
    if (!entry.isReadable()) continue;
    auto it = peers.find(static_cast<Fd>(entry.getTag().value()));
    if (it == peers.end()) continue;
    if (auto c = connection_of(*it->second)) {
      c->input(now);
      readable_.push_back(it->second);
    }
  }
  Tcp::Transport::onReady(fds);
  // What the parser holds now: part of a request (a pipelined one, after a
  // whole one was taken), or a request whose headers are complete.
  for (const auto& peer : readable_) {
    auto c = connection_of(*peer);
    if (!c) continue;
    auto parser = Http::Handler::getParser(peer);
    if (!parser) continue;
    auto step = parser->step()->id();
    c->parsed(step != Http::Private::RequestLineStep::Id, step == Http::Private::BodyStep::Id, now);
  }
  readable_.clear();
}

}  // namespace clusterlite
