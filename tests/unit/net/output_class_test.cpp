// Output classes of a connection's write queue (OutputClass), against the
// real TcpConnection and WsConnection over loopback: a client that stops
// reading gets its kState frames dropped (counted, connection open) while
// its kNormal answers still queue and arrive once it reads again; a kState
// backlog held above the soft limit for state_queue_soft_s closes the
// connection as a slow consumer; the per-class accounting returns to zero
// once the queue is written.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include "net/internal.h"
#include "shardd/net/output_batch.h"
#include "shardd_test/fake_clock.h"

namespace shardd::net {
namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Kernel buffers are kept small on both sides so that a client that does not
// read backs the output up into the connection's queue quickly.
constexpr int kSocketBuffer = 4096;
constexpr size_t kStateFrameBytes = 2000;

// Answers every message "re:<message>" (kNormal), from inside the read turn
// as the gateway does.
class EchoHandler final : public ConnectionHandler {
 public:
  void on_message(std::string_view body, Encoding encoding) override {
    OutFrame f;
    f.bytes = "re:" + std::string(body);
    f.encoding = encoding;
    if (auto c = conn.lock()) replies_queued += c->send(std::move(f)) ? 1 : 0;
    ++received;  // last: a test that sees it also sees replies_queued
  }
  void on_bad_frame(const Status&, bool) override {}
  void on_idle() override {}
  void on_closed(std::string_view) override { closed = true; }

  std::weak_ptr<Connection> conn;
  std::atomic<int> received{0};
  std::atomic<int> replies_queued{0};
  std::atomic<bool> closed{false};
};

// The test's side of one connection: blocking, on the test thread.
class Client {
 public:
  virtual ~Client() = default;
  virtual void send(const std::string& text) = 0;
  // The next message; nullopt once the connection is gone.
  virtual std::optional<std::string> read() = 0;
};

class TcpClient final : public Client {
 public:
  TcpClient(asio::io_context& io, uint16_t port) : s_(io) {
    s_.open(tcp::v4());
    s_.set_option(asio::socket_base::receive_buffer_size(kSocketBuffer));
    s_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& text) override {
    auto len = static_cast<uint32_t>(text.size());
    uint32_t seq = ++seq_;
    std::string frame = {
        static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
        static_cast<char>(len),       static_cast<char>(0),         static_cast<char>(seq >> 24),
        static_cast<char>(seq >> 16), static_cast<char>(seq >> 8),  static_cast<char>(seq)};
    asio::write(s_, asio::buffer(frame + text));
  }
  std::optional<std::string> read() override {
    unsigned char hdr[9];
    boost::system::error_code ec;
    asio::read(s_, asio::buffer(hdr), ec);
    if (ec) return std::nullopt;
    size_t len = (size_t{hdr[0]} << 24) | (size_t{hdr[1]} << 16) | (size_t{hdr[2]} << 8) | hdr[3];
    std::string body(len, '\0');
    asio::read(s_, asio::buffer(body), ec);
    if (ec) return std::nullopt;
    return body;
  }

 private:
  tcp::socket s_;
  uint32_t seq_ = 0;
};

class WsClient final : public Client {
 public:
  WsClient(asio::io_context& io, uint16_t port) : ws_(io) {
    auto& s = ws_.next_layer();
    s.open(tcp::v4());
    s.set_option(asio::socket_base::receive_buffer_size(kSocketBuffer));
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    ws_.handshake("127.0.0.1", "/ws");
  }
  void send(const std::string& text) override {
    ws_.text(true);
    ws_.write(asio::buffer(text));
  }
  std::optional<std::string> read() override {
    boost::beast::flat_buffer buf;
    boost::system::error_code ec;
    ws_.read(buf, ec);
    if (ec) return std::nullopt;
    return boost::beast::buffers_to_string(buf.data());
  }

 private:
  websocket::stream<tcp::socket> ws_;
};

enum class Kind { kTcp, kWs };
void PrintTo(Kind k, std::ostream* os) {
  *os << (k == Kind::kTcp ? "tcp" : "ws");
}

// One io thread running the real connection code, accepting one connection.
class OutputClassTest : public ::testing::TestWithParam<Kind> {
 protected:
  OutputClassTest()
      : limiter_(std::make_shared<ConnectionLimiter>(limits_)),
        shared_(
            limits_, [this](const std::shared_ptr<Connection>& c) { return on_open(c); }, limiter_),
        tm_(registry_, GetParam() == Kind::kTcp ? "tcp" : "ws"),
        env_{shared_, tm_, [](std::string_view) { return true; }, "/ws", false, ""} {
    limits_.state_queue_soft_s = 3600;
    shared_.clock = &clock_;
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs `fn` on the io thread and returns its result.
  template <class F>
  auto on_io(F&& fn) {
    std::packaged_task<decltype(fn())()> task(std::forward<F>(fn));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  template <class Pred>
  bool wait_for(Pred done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    return done();
  }

  ~OutputClassTest() override {
    client_.reset();  // the server's read fails and the connection finishes
    wait_for([this] { return !opened_ || handler_->closed.load(); });
    on_io([this] { conn_.reset(); });
    wait_for([this] { return shared_.live_connections.load() == 0; });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  std::shared_ptr<ConnectionHandler> on_open(const std::shared_ptr<Connection>& c) {
    auto h = std::make_shared<EchoHandler>();
    h->conn = c;
    conn_ = std::static_pointer_cast<ConnectionBase>(c);
    handler_ = h;
    opened_ = true;
    return h;
  }

  // Accepts one client through the real accept path (start_tcp / start_ws).
  void connect() {
    tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    uint16_t port = acceptor.local_endpoint().port();
    std::promise<Socket> accepted;
    acceptor.async_accept(io_, [&](boost::system::error_code ec, Socket s) {
      EXPECT_FALSE(ec) << ec.message();
      accepted.set_value(std::move(s));
    });
    auto fut = accepted.get_future();
    if (GetParam() == Kind::kTcp) {
      client_ = std::make_unique<TcpClient>(client_io_, port);
    } else {
      std::thread t([&] { client_ = std::make_unique<WsClient>(client_io_, port); });
      start(fut.get());
      t.join();
      ASSERT_TRUE(wait_for([this] { return opened_.load(); }));
      return;
    }
    start(fut.get());
    ASSERT_TRUE(wait_for([this] { return opened_.load(); }));
  }

  void start(Socket s) {
    s.set_option(asio::socket_base::send_buffer_size(kSocketBuffer));
    s.set_option(tcp::no_delay(true));
    const char* reason = nullptr;
    auto slot = limiter_->try_acquire("127.0.0.1", &reason);
    ASSERT_TRUE(slot);
    if (GetParam() == Kind::kTcp) {
      start_tcp(shared_, tm_, std::move(s), std::move(*slot), "127.0.0.1", 1, nullptr);
    } else {
      start_ws(env_, std::move(s), std::move(slot), "127.0.0.1", 1, nullptr);
    }
  }

  // Queues `n` kState frames, each from its own handler (as pushes from
  // other threads arrive), so the connection writes between them and the
  // kernel buffers fill. Returns how many were queued.
  int push_state(int n) {
    std::atomic<int> queued{0};
    std::promise<void> done;
    for (int i = 0; i < n; ++i) {
      asio::post(io_, [this, i, n, &queued, &done] {
        OutFrame f;
        f.bytes = "st:" + std::to_string(i) + ":" + std::string(kStateFrameBytes, 's');
        f.cls = OutputClass::kState;
        if (conn_ && conn_->send(std::move(f))) ++queued;
        if (i == n - 1) done.set_value();
      });
    }
    done.get_future().wait();
    return queued.load();
  }

  uint64_t dropped() const { return tm_.state_dropped.value(); }
  size_t state_queued() {
    return on_io([this] { return conn_ ? conn_->class_queued_bytes(OutputClass::kState) : 0; });
  }

  // Reads until the message `want`; counts the kState frames read before it.
  bool read_until(const std::string& want, int* state_frames) {
    for (;;) {
      auto m = client_->read();
      if (!m) return false;
      if (*m == want) return true;
      if (m->rfind("st:", 0) == 0) ++*state_frames;
    }
  }

  LiveLimits limits_;
  testing::FakeClock clock_;  // the soft limit's window; the idle timer runs on real time
  metrics::Registry registry_;
  std::shared_ptr<ConnectionLimiter> limiter_;
  NetShared shared_;
  TransportMetrics tm_;
  WsFrontEnv env_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      io_.get_executor()};
  std::thread thread_;
  asio::io_context client_io_;
  std::unique_ptr<Client> client_;
  // Set on the io thread when the connection opens, before opened_.
  std::shared_ptr<ConnectionBase> conn_;
  std::shared_ptr<EchoHandler> handler_;
  std::atomic<bool> opened_{false};
};

TEST_P(OutputClassTest, StateFloodIsDroppedWhileAnswersStillArrive) {
  limits_.state_queue_hard_bytes = 32 * 1024;
  limits_.state_queue_soft_bytes = 16 * 1024;
  connect();

  const int flood = 400;  // 800 KB of state for a client that reads nothing
  int queued = push_state(flood);
  EXPECT_GT(queued, 0);
  EXPECT_LT(queued, flood);
  EXPECT_EQ(dropped(), static_cast<uint64_t>(flood - queued));
  EXPECT_LE(state_queued(), 32u * 1024);
  EXPECT_FALSE(handler_->closed);

  // A request sent now still gets its answer queued (kNormal has its own
  // room), and once the client reads, it arrives after the state frames
  // that were queued: none of those was lost, none of the dropped sent.
  client_->send("ping1");
  ASSERT_TRUE(wait_for([this] { return handler_->received == 1; }));
  EXPECT_EQ(handler_->replies_queued, 1);
  int state_frames = 0;
  ASSERT_TRUE(read_until("re:ping1", &state_frames));
  EXPECT_EQ(state_frames, queued);
  EXPECT_FALSE(handler_->closed);

  // Everything was written: the accounting is back to zero.
  EXPECT_TRUE(wait_for([this] {
    return on_io([this] { return conn_->queued_bytes() == 0; }) && state_queued() == 0;
  }));
  client_->send("ping2");
  state_frames = 0;
  ASSERT_TRUE(read_until("re:ping2", &state_frames));
  EXPECT_EQ(state_frames, 0);

  std::string text = registry_.render();
  EXPECT_NE(
      text.find("shardd_output_dropped_total{class=\"state\"} " + std::to_string(flood - queued)),
      std::string::npos)
      << text;
  EXPECT_EQ(tm_.slow_consumer.value(), 0u);
  EXPECT_EQ(on_io([this] { return conn_->drop_code(); }), ErrorCode::kOk);
}

TEST_P(OutputClassTest, AFullWriteQueueDropsStateFramesButNotTheConnection) {
  // The whole queue is smaller than the state budget: kState frames fill it
  // and are then dropped; a kNormal answer is still queued.
  limits_.write_queue_bytes = 16 * 1024;
  limits_.state_queue_hard_bytes = 1024 * 1024;
  limits_.state_queue_soft_bytes = 1024 * 1024;
  connect();
  int queued = push_state(200);
  EXPECT_LT(queued, 200);
  EXPECT_GT(dropped(), 0u);
  EXPECT_LE(on_io([this] { return conn_->queued_bytes(); }), 16u * 1024);
  client_->send("ping");
  ASSERT_TRUE(wait_for([this] { return handler_->received == 1; }));
  EXPECT_EQ(handler_->replies_queued, 1);
  int state_frames = 0;
  ASSERT_TRUE(read_until("re:ping", &state_frames));
  EXPECT_EQ(state_frames, queued);
  EXPECT_FALSE(handler_->closed);
  EXPECT_EQ(tm_.slow_consumer.value(), 0u);
}

TEST_P(OutputClassTest, StateBacklogAboveTheSoftLimitForTooLongCloses) {
  limits_.state_queue_hard_bytes = 64 * 1024;
  limits_.state_queue_soft_bytes = 8 * 1024;
  limits_.state_queue_soft_s = 1;
  connect();
  push_state(100);
  EXPECT_GT(state_queued(), 8u * 1024);
  // Above the soft limit, but not for long yet: more output is still taken.
  client_->send("ping");
  ASSERT_TRUE(wait_for([this] { return handler_->received == 1; }));
  EXPECT_EQ(handler_->replies_queued, 1);
  EXPECT_FALSE(handler_->closed);

  clock_.advance(1200ms);
  EXPECT_FALSE(handler_->closed) << "the limit is checked when output is queued";
  push_state(1);
  ASSERT_TRUE(wait_for([this] { return handler_->closed.load(); }));
  EXPECT_EQ(on_io([this] { return conn_->drop_code(); }), ErrorCode::kSlowConsumer);
  EXPECT_EQ(tm_.slow_consumer.value(), 1u);
  EXPECT_TRUE(wait_for([this] {
    return on_io([this] {
             return conn_->queued_bytes() + conn_->class_queued_bytes(OutputClass::kState);
           }) == 0;
  })) << "the discarded frames left the accounting";
  // The client sees the connection end (after what the kernel had buffered).
  int state_frames = 0;
  EXPECT_FALSE(read_until("never", &state_frames));
}

TEST_P(OutputClassTest, NormalOutputOverTheQueueLimitStillDropsTheConnection) {
  limits_.write_queue_bytes = 16 * 1024;
  connect();
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    refused = !on_io([this] {
      OutFrame f;
      f.bytes = std::string(kStateFrameBytes, 'n');
      return conn_->send(std::move(f));
    });
  }
  EXPECT_TRUE(refused);
  ASSERT_TRUE(wait_for([this] { return handler_->closed.load(); }));
  EXPECT_EQ(on_io([this] { return conn_->drop_code(); }), ErrorCode::kSlowConsumer);
  EXPECT_EQ(dropped(), 0u);
}

// A frame queued while an OutputBatch is open (a fan-out handler) is
// written when the batch closes, still inside that handler, not one or more
// passes through the executor's queue later. The frame's head travels in its
// inline prefix (as a shared push's does), behind the TCP header.
TEST_P(OutputClassTest, AnOutputBatchWritesBeforeItsHandlerReturns) {
  connect();
  std::promise<std::optional<std::string>> got;
  auto got_future = got.get_future();
  std::thread reader([&] { got.set_value(client_->read()); });
  bool arrived_in_handler = on_io([&] {
    {
      OutputBatch batch;
      OutFrame f;
      EXPECT_TRUE(f.set_head("head:"));
      f.shared = std::make_shared<const std::string>("body");
      f.tail = "!";
      EXPECT_TRUE(conn_->send(std::move(f)));
    }
    return got_future.wait_for(3s) == std::future_status::ready;
  });
  reader.join();
  EXPECT_TRUE(arrived_in_handler);
  auto text = got_future.get();
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "head:body!");
}

INSTANTIATE_TEST_SUITE_P(Transports, OutputClassTest, ::testing::Values(Kind::kTcp, Kind::kWs),
                         [](const ::testing::TestParamInfo<Kind>& i) {
                           return std::string(i.param == Kind::kTcp ? "Tcp" : "Ws");
                         });

}  // namespace
}  // namespace shardd::net
