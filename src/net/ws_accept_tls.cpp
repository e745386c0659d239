#include "ws_front.h"

// wss: the TLS instantiation of the WebSocket front and WsConnection.

namespace shardd::net {

void start_ws_tls(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                  std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls) {
  auto ex = s.get_executor();
  auto front = std::make_shared<ws_front::HttpFront<TlsStream>>(
      env, TlsStream(TcpStream(std::move(s)), *tls), std::move(slot), std::move(ip), port);
  boost::asio::post(ex, [front, tls] { front->run(); });
}

}  // namespace shardd::net
