#pragma once

// Opening a benchmark server's listening socket (the echo reference and the
// fan-out floor).

#include <cstdint>
#include <iostream>
#include <string>

#include "external_includes.h"

namespace shardd::bench {

// Opens, binds (SO_REUSEADDR) and listens on `bind`:`port` (0: any free
// port). Returns the bound port, or 0 after a message on stderr naming `who`.
inline uint16_t listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& bind,
                          uint16_t port, const char* who) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind, ec);
  if (ec) {
    std::cerr << who << ": bad bind address " << bind << "\n";
    return 0;
  }
  asio::ip::tcp::endpoint ep(addr, port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << who << ": cannot listen on " << bind << ":" << port << ": " << ec.message()
              << "\n";
    return 0;
  }
  return acceptor.local_endpoint().port();
}

}  // namespace shardd::bench
