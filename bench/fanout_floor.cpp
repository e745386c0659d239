// shardd_bench_fanout_floor: the floor under any server that writes each
// delivery of a fan-out with its own system call.
//
// A single-threaded Boost.Beast WebSocket server speaking the protocol of the
// Node `ws` reference (bench/fanout/ws_broadcast.mjs): every message a client
// sends ({"op":"chat.send","d":{"text":...}}) is parsed, one chat.msg text of
// the same shape is serialized once, and it is written to every connected
// client with one synchronous Beast write each. Beast puts the frame header in
// front of the shared payload and the kernel gets one sendmsg per recipient.
//
// There is nothing else: no write queue, no output limits, no sessions,
// accounts, sequence numbers, replay or metrics, no allocation per delivery.
// That is less user-space work per delivery than any real server does, so its
// deliveries per server CPU-second bound what a server can reach on this
// machine while it writes every delivery as soon as it exists (which is what
// keeps the latency low at rates where one client gets one message at a time).
// It is not a usable server: a client that stops reading blocks everyone once
// its socket buffer is full.
//
// Usage: shardd_bench_fanout_floor [--port P] [--bind ADDR]
// Prints "port P" (the bound port) as the first line on stdout. SIGINT/SIGTERM
// stop it.

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "external_includes.h"
#include "listen.h"

namespace shardd::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;

class FloorServer;

class FloorSession : public std::enable_shared_from_this<FloorSession> {
 public:
  FloorSession(FloorServer& server, Socket&& socket) : server_(server), ws_(std::move(socket)) {}

  void run() {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.auto_fragment(false);
    ws_.read_message_max(64 * 1024);
    ws_.text(true);
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->joined();
    });
  }

  // One blocking write of `payload` as a text message. False once the client
  // is gone.
  bool deliver(const std::string& payload) {
    beast::error_code ec;
    ws_.write(asio::buffer(payload), ec);
    return !ec;
  }

  size_t index = 0;  // position in FloorServer::sessions_

 private:
  void joined();
  void do_read();

  FloorServer& server_;
  websocket::stream<Socket> ws_;
  beast::flat_buffer buffer_;
};

class FloorServer {
 public:
  FloorServer() : ctx_(1), acceptor_(ctx_), signals_(ctx_, SIGINT, SIGTERM) {}

  // Binds and listens; returns the bound port or 0 (message on stderr).
  uint16_t listen(const std::string& bind, uint16_t port) {
    return listen_on(acceptor_, bind, port, "floor");
  }

  void run() {
    signals_.async_wait([this](beast::error_code ec, int) {
      if (!ec) ctx_.stop();
    });
    do_accept();
    ctx_.run();
  }

  void add(std::shared_ptr<FloorSession> s) {
    s->index = sessions_.size();
    sessions_.push_back(std::move(s));
  }

  void remove(FloorSession& s) {
    if (s.index >= sessions_.size() || sessions_[s.index].get() != &s) return;
    size_t i = s.index;
    sessions_[i] = std::move(sessions_.back());
    sessions_[i]->index = i;
    sessions_.pop_back();
  }

  // A client's message: serialize the chat.msg once and write it to everyone.
  void on_message(std::string_view text) {
    auto in = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (in.is_discarded()) return;
    std::string said;
    if (in.is_object()) {
      auto d = in.find("d");
      if (d != in.end() && d->is_object()) {
        auto t = d->find("text");
        if (t != d->end() && t->is_string()) said = t->get<std::string>();
      }
    }
    nlohmann::json d{{"id", ++id_},
                     {"channel", "bench"},
                     {"from", {{"id", 1}, {"name", "sender"}}},
                     {"text", said},
                     {"ts", std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()}};
    payload_ = nlohmann::json{{"op", "chat.msg"}, {"seq", 0}, {"d", std::move(d)}}.dump();
    // Index loop: a failed write removes that session (swap with the last).
    for (size_t i = 0; i < sessions_.size();) {
      if (sessions_[i]->deliver(payload_)) {
        ++i;
      } else {
        remove(*sessions_[i]);
      }
    }
  }

 private:
  void do_accept() {
    acceptor_.async_accept(ctx_, [this](beast::error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<FloorSession>(*this, std::move(socket))->run();
      }
      do_accept();
    });
  }

  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  std::vector<std::shared_ptr<FloorSession>> sessions_;
  std::string payload_;
  uint64_t id_ = 0;
};

void FloorSession::joined() {
  server_.add(shared_from_this());
  do_read();
}

void FloorSession::do_read() {
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) {
      self->server_.remove(*self);
      return;
    }
    auto data = self->buffer_.cdata();
    self->server_.on_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    self->buffer_.consume(self->buffer_.size());
    self->do_read();
  });
}

}  // namespace
}  // namespace shardd::bench

int main(int argc, char** argv) {
  uint16_t port = 0;
  std::string bind = "127.0.0.1";
  CLI::App app{"Fan-out floor: one synchronous WebSocket write per delivery, nothing else"};
  app.add_option("--port", port, "Port (0: any free port)")->capture_default_str();
  app.add_option("--bind", bind, "Address to listen on")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  shardd::bench::raise_nofile_limit();
  shardd::bench::FloorServer server;
  uint16_t bound = server.listen(bind, port);
  if (bound == 0) return 1;
  std::cout << "port " << bound << std::endl;
  server.run();
  return 0;
}
