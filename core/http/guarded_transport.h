// GuardedTransport: Pistache's TCP transport, which reads the client
// connections and feeds Pistache's HTTP parser, plus what ConnectionGuard
// needs to time requests: it tells each connection's ClientConnection when
// bytes arrive and how far the parser got with them. The node serves through
// it instead of Http::Endpoint's transport, whose own timeouts it leaves out
// (connection_guard.h says why).
#pragma once

#include <pistache/tcp.h>
#include <pistache/transport.h>

#include <memory>
#include <vector>

namespace clusterlite {

class ClientConnection;

class GuardedTransport : public Pistache::Tcp::Transport {
 public:
  explicit GuardedTransport(std::shared_ptr<Pistache::Tcp::Handler> handler);

  void onReady(const Pistache::Aio::FdSet& fds) override;
  std::shared_ptr<Pistache::Aio::Handler> clone() const override;

  // The ClientConnection kept in a peer's data (none for a refused one).
  static std::shared_ptr<ClientConnection> connection_of(const Pistache::Tcp::Peer& peer);
  static void keep(Pistache::Tcp::Peer& peer, std::shared_ptr<ClientConnection> connection);

 private:
  std::shared_ptr<Pistache::Tcp::Handler> handler_;
  std::vector<std::shared_ptr<Pistache::Tcp::Peer>> readable_;  // scratch of onReady
};

}  // namespace clusterlite
