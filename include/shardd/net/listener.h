#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

#include "shardd/core/io_pool.h"
#include "shardd/core/status.h"

namespace shardd::net {

// A TCP acceptor that hands each accepted socket, already bound to an io
// context chosen round-robin from `pool`, to `on_accept` (called on the
// acceptor's context). Running out of descriptors (EMFILE/ENFILE) pauses
// accepting for 100 ms instead of spinning.
//
// Thread-safety: open()/start()/stop() REQUIRE the acceptor's context or a
// time before that context runs; port() is safe anywhere after open().
// A TCP socket bound to one io_context (no type-erased executor on the hot path).
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                                boost::asio::io_context::executor_type>;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using OnAccept = std::function<void(Socket socket)>;

  Listener(boost::asio::io_context& accept_context, IoPool& pool, std::string name,
           OnAccept on_accept);

  // Binds and listens on bind:port (port 0 picks a free port). UNAVAILABLE
  // with the address and the OS error when that fails.
  Status open(const std::string& bind, uint16_t port);
  void start();
  void stop();
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, Socket socket);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  IoPool& pool_;
  std::string name_;
  OnAccept on_accept_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace shardd::net
