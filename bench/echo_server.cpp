// shardd_bench_echo: the reference WebSocket echo server.
//
// Does what an asynchronous Boost.Beast WebSocket server minimally does per
// message: read a message, write the same bytes back. One io_context per
// thread (like shardd's IoPool); the acceptor runs on the first context and
// hands connections to the contexts round-robin.
//
// The WebSocket stream is configured like shardd's WsConnection (same stream
// type, TCP_NODELAY, handshake timeout 5 s, no idle timer, no keep-alive pings,
// no compression, 64 KiB message limit), so the comparison measures what
// shardd does on top of Beast, not a different Beast setup.
//
// Pipelining: a session keeps reading while earlier messages are still being
// written (Beast allows one read and one write outstanding at a time). Read
// messages wait in a fixed ring of kQueueSlots buffers; when the ring is full
// reading pauses until a write completes, so a client that does not read its
// answers is throttled by TCP instead of growing memory.
//
// Usage: shardd_bench_echo [--port P] [--threads N] [--bind ADDR]
// Prints "port P" (the bound port) as the first line on stdout. SIGINT/SIGTERM
// stop it.

#include <array>
#include <iostream>
#include <memory>
#include <thread>
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
using TcpStream = beast::basic_stream<tcp, Executor>;

constexpr size_t kQueueSlots = 16;

class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  explicit EchoSession(Socket&& socket) : ws_(TcpStream(std::move(socket))) {}

  void run() {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream has its own timer
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.auto_fragment(false);
    ws_.read_message_max(64 * 1024);
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->do_read();
    });
  }

 private:
  struct Slot {
    beast::flat_buffer buffer;
    bool text = true;
  };

  void do_read() {
    if (count_ == kQueueSlots || done_) return;  // resumed by on_write
    reading_ = true;
    Slot& s = ring_[(head_ + count_) % kQueueSlots];
    ws_.async_read(s.buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (ec) {  // closed by the peer or failed: let pending writes end by themselves
      done_ = true;
      return;
    }
    ring_[(head_ + count_) % kQueueSlots].text = ws_.got_text();
    ++count_;
    if (!writing_) do_write();
    do_read();
  }

  void do_write() {
    writing_ = true;
    Slot& s = ring_[head_];
    ws_.text(s.text);
    ws_.async_write(
        s.buffer.data(),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      done_ = true;
      return;
    }
    Slot& s = ring_[head_];
    s.buffer.consume(s.buffer.size());
    head_ = (head_ + 1) % kQueueSlots;
    --count_;
    if (count_ > 0) do_write();
    if (!reading_) do_read();
  }

  websocket::stream<TcpStream> ws_;
  std::array<Slot, kQueueSlots> ring_;
  size_t head_ = 0;   // oldest message not yet written
  size_t count_ = 0;  // messages read and not yet written
  bool reading_ = false;
  bool writing_ = false;
  bool done_ = false;
};

class EchoServer {
 public:
  explicit EchoServer(size_t threads) {
    for (size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
    acceptor_.emplace(*contexts_[0]);
    signals_.emplace(*contexts_[0], SIGINT, SIGTERM);
  }

  // Binds and listens; returns the bound port or 0 (message on stderr).
  uint16_t listen(const std::string& bind, uint16_t port) {
    return listen_on(*acceptor_, bind, port, "echo");
  }

  void run() {
    signals_->async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      for (auto& c : contexts_) c->stop();
    });
    do_accept();
    std::vector<std::thread> threads;
    for (size_t i = 1; i < contexts_.size(); ++i) {
      threads.emplace_back([this, i] { contexts_[i]->run(); });
    }
    contexts_[0]->run();
    for (auto& c : contexts_) c->stop();
    for (auto& t : threads) t.join();
  }

 private:
  void do_accept() {
    asio::io_context& target = *contexts_[next_++ % contexts_.size()];
    acceptor_->async_accept(target, [this](beast::error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto ex = socket.get_executor();
        auto session = std::make_shared<EchoSession>(std::move(socket));
        asio::post(ex, [session] { session->run(); });
      }
      do_accept();
    });
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<Executor>> guards_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::signal_set> signals_;
  size_t next_ = 0;
};

}  // namespace
}  // namespace shardd::bench

int main(int argc, char** argv) {
  uint16_t port = 0;
  size_t threads = 1;
  std::string bind = "127.0.0.1";
  CLI::App app{"Reference Boost.Beast WebSocket echo server"};
  app.add_option("--port", port, "Port (0: any free port)")->capture_default_str();
  app.add_option("--threads", threads, "io threads (one io_context each)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{256}));
  app.add_option("--bind", bind, "Address to listen on")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  shardd::bench::raise_nofile_limit();
  shardd::bench::EchoServer server(threads);
  uint16_t bound = server.listen(bind, port);
  if (bound == 0) return 1;
  std::cout << "port " << bound << std::endl;
  server.run();
  return 0;
}
