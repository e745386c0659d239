#include "shardd/net/listener.h"

#include "shardd/core/log.h"

namespace shardd::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Listener::Listener(asio::io_context& accept_context, IoPool& pool, std::string name,
                   OnAccept on_accept)
    : acceptor_(accept_context),
      backoff_(accept_context),
      pool_(pool),
      name_(std::move(name)),
      on_accept_(std::move(on_accept)) {}

Status Listener::open(const std::string& bind, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(bind, ec);
  if (ec) return Status::BadRequest(name_ + ": bad bind address '" + bind + "'");
  tcp::endpoint ep(addr, port);
  std::string where = name_ + " on " + bind + ":" + std::to_string(port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("cannot listen " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void Listener::start() { do_accept(); }

void Listener::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  backoff_.cancel();
  acceptor_.close(ec);
}

void Listener::do_accept() {
  if (stopped_) return;
  acceptor_.async_accept(pool_.next(), [self = shared_from_this()](
                                           boost::system::error_code ec, Socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(boost::system::error_code ec, Socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    static spdlog::logger& lg = log::get("net");
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_memory ||
        ec == asio::error::no_buffer_space) {
      lg.warn("{}: accept failed ({}), pausing accepts for 100 ms", name_, ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([self = shared_from_this()](boost::system::error_code wec) {
        if (!wec) self->do_accept();
      });
      return;
    }
    lg.debug("{}: accept error: {}", name_, ec.message());
  } else {
    on_accept_(std::move(socket));
  }
  do_accept();
}

}  // namespace shardd::net
