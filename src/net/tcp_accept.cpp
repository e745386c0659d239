#include <boost/asio/ssl.hpp>

#include "internal.h"
#include "tcp_connection.h"

// The framed-TCP side of accepting, in its own translation unit (like
// ws_accept_plain.cpp and ws_accept_tls.cpp) so the Beast templates of each
// transport compile in parallel.

namespace shardd::net {

namespace asio = boost::asio;
namespace ssl = asio::ssl;

void start_tcp(NetShared& shared, TransportMetrics& metrics, Socket s,
               ConnectionLimiter::Slot slot, std::string ip, uint16_t port,
               std::shared_ptr<ssl::context> tls) {
  std::optional<Status> refuse;
  bool refusing = !slot;
  if (refusing) refuse = Status(ErrorCode::kTooManyConnections, "connection limit reached");
  auto ex = s.get_executor();
  auto limiter = shared.limiter;
  if (tls) {
    using Stream = ssl::stream<Socket>;
    auto conn = std::make_shared<TcpConnection<Stream>>(shared, metrics, std::move(slot), ip, port,
                                                        Stream(std::move(s), *tls));
    asio::post(ex, [conn, tls, refuse, refusing, limiter] {
      conn->run(refuse);
      if (refusing) limiter->end_refusal();
    });
  } else {
    auto conn = std::make_shared<TcpConnection<Socket>>(shared, metrics, std::move(slot), ip, port,
                                                        std::move(s));
    asio::post(ex, [conn, refuse, refusing, limiter] {
      conn->run(refuse);
      if (refusing) limiter->end_refusal();
    });
  }
}

}  // namespace shardd::net
