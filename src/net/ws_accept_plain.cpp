#include "ws_front.h"

// ws: the plain-TCP instantiation of the WebSocket front and WsConnection.

namespace shardd::net {

void start_ws_plain(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                    std::string ip, uint16_t port) {
  auto ex = s.get_executor();
  auto front = std::make_shared<ws_front::HttpFront<TcpStream>>(
      env, TcpStream(std::move(s)), std::move(slot), std::move(ip), port);
  boost::asio::post(ex, [front] { front->run(); });
}

void start_ws(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
              std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls) {
  if (tls) {
    start_ws_tls(env, std::move(s), std::move(slot), std::move(ip), port, std::move(tls));
  } else {
    start_ws_plain(env, std::move(s), std::move(slot), std::move(ip), port);
  }
}

}  // namespace shardd::net
