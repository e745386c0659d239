// CorkStream under a Beast WebSocket stream, over a real loopback TCP pair:
// writes collected in the cork window reach the peer in one write, writes
// outside it go straight through, and reads_started() tells a read the
// WebSocket stream answered from its own buffer from one that went to the
// socket (the connection writes its batch at once in the second case).

#include "net/cork_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace shardd::net {
namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

// A connected loopback pair: `server` is the accepted side.
struct SocketPair {
  asio::io_context io;
  tcp::socket client{io};
  tcp::socket server{io};

  SocketPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    client.set_option(tcp::no_delay(true));
    server.set_option(tcp::no_delay(true));
  }
};

// Runs `io` until `done` holds or 5 s pass; true if it held.
template <class Pred>
bool run_until(asio::io_context& io, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return done();
}

// Reads exactly `n` bytes from `s` (blocking).
std::string read_exactly(tcp::socket& s, size_t n) {
  std::string out(n, '\0');
  asio::read(s, asio::buffer(out));
  return out;
}

TEST(CorkStreamTest, CorkedWritesReachThePeerInOneWrite) {
  SocketPair p;
  CorkStream<tcp::socket> cork(std::move(p.server));
  int completed = 0;
  cork.cork();
  for (const char* part : {"ab", "cde", "f"}) {
    asio::async_write(cork, asio::buffer(std::string_view(part)),
                      [&](boost::system::error_code ec, size_t) {
                        EXPECT_FALSE(ec);
                        ++completed;
                      });
  }
  ASSERT_TRUE(run_until(p.io, [&] { return completed == 3; }));
  // Nothing has reached the socket yet: every byte waits in the cork buffer.
  EXPECT_EQ(cork.corked_bytes(), 6u);
  EXPECT_EQ(p.client.available(), 0u);

  size_t uncorked = 0;
  bool done = false;
  cork.async_uncork([&](boost::system::error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    uncorked = n;
    done = true;
  });
  ASSERT_TRUE(run_until(p.io, [&] { return done; }));
  EXPECT_EQ(uncorked, 6u);
  EXPECT_FALSE(cork.corked());
  EXPECT_EQ(read_exactly(p.client, 6), "abcdef");
}

TEST(CorkStreamTest, WritesOutsideTheWindowGoStraightThrough) {
  SocketPair p;
  CorkStream<tcp::socket> cork(std::move(p.server));
  bool done = false;
  asio::async_write(cork, asio::buffer(std::string_view("hello")),
                    [&](boost::system::error_code ec, size_t n) {
                      EXPECT_FALSE(ec);
                      EXPECT_EQ(n, 5u);
                      done = true;
                    });
  ASSERT_TRUE(run_until(p.io, [&] { return done; }));
  EXPECT_EQ(cork.corked_bytes(), 0u);
  EXPECT_EQ(read_exactly(p.client, 5), "hello");
}

TEST(CorkStreamTest, UncorkWithNothingCollectedCompletesWithZeroBytes) {
  SocketPair p;
  CorkStream<tcp::socket> cork(std::move(p.server));
  cork.cork();
  bool done = false;
  cork.async_uncork([&](boost::system::error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 0u);
    done = true;
  });
  ASSERT_TRUE(run_until(p.io, [&] { return done; }));
  EXPECT_FALSE(cork.corked());
}

// Two WebSocket messages arriving in one TCP segment: the first read goes to
// the socket and brings both; the second is answered from the WebSocket
// stream's buffer, without a read on the layer below. A third read has
// nothing buffered and goes to the socket again.
TEST(CorkStreamTest, ReadsStartedCountsOnlyReadsThatReachTheLayerBelow) {
  SocketPair p;
  websocket::stream<CorkStream<tcp::socket>> server(std::move(p.server));
  websocket::stream<tcp::socket> client(std::move(p.client));

  bool accepted = false;
  server.async_accept([&](boost::system::error_code ec) {
    EXPECT_FALSE(ec);
    accepted = true;
  });
  std::thread client_thread([&] { client.handshake("127.0.0.1", "/"); });
  ASSERT_TRUE(run_until(p.io, [&] { return accepted; }));
  client_thread.join();

  // Two client frames, each with a 6-byte header (2 + the mask), written
  // one after the other; the server reads only once both have arrived.
  client.text(true);
  client.write(asio::buffer(std::string_view("one")));
  client.write(asio::buffer(std::string_view("two")));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.next_layer().next_layer().available() < 2 * (6 + 3) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(server.next_layer().next_layer().available(), 2u * (6 + 3));

  boost::beast::flat_buffer buf;
  std::vector<std::string> got;
  // The completion runs later, from p.io: it captures only what outlives
  // this test body's loop (not a local of the lambda).
  auto read_one = [&] {
    server.async_read(buf, [&](boost::system::error_code ec, size_t) {
      EXPECT_FALSE(ec);
      got.push_back(boost::beast::buffers_to_string(buf.data()));
      buf.consume(buf.size());
    });
  };

  const size_t before = server.next_layer().reads_started();
  read_one();
  ASSERT_TRUE(run_until(p.io, [&] { return got.size() == 1; }));
  const size_t after_first = server.next_layer().reads_started();
  EXPECT_GT(after_first, before);

  read_one();
  EXPECT_EQ(server.next_layer().reads_started(), after_first)
      << "the second message was already buffered: no read on the layer below";
  ASSERT_TRUE(run_until(p.io, [&] { return got.size() == 2; }));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));

  bool third = false;
  server.async_read(buf, [&](boost::system::error_code, size_t) { third = true; });
  EXPECT_GT(server.next_layer().reads_started(), after_first)
      << "nothing buffered: the read goes to the socket";
  client.next_layer().close();
  ASSERT_TRUE(run_until(p.io, [&] { return third; }));
}

// Beast echoes a peer's close code 5000-65535 (it only refuses the reserved
// codes below 3000). RFC 6455 section 7.4 wants such a connection failed with
// 1002; fail_close_echo turns the echo into that.
uint16_t echo_of_close_code(uint16_t code, bool fail_invalid) {
  SocketPair p;
  websocket::stream<CorkStream<tcp::socket>> server(std::move(p.server));
  websocket::stream<tcp::socket> client(std::move(p.client));
  if (fail_invalid) {
    server.control_callback([&server](websocket::frame_type kind, std::string_view) {
      if (kind == websocket::frame_type::close && server.reason().code >= 5000) {
        server.next_layer().fail_close_echo(1002);
      }
    });
  }
  bool accepted = false, handshaken = false;
  server.async_accept([&](boost::system::error_code ec) {
    EXPECT_FALSE(ec);
    accepted = true;
  });
  client.async_handshake("localhost", "/", [&](boost::system::error_code ec) {
    EXPECT_FALSE(ec);
    handshaken = true;
  });
  EXPECT_TRUE(run_until(p.io, [&] { return accepted && handshaken; }));
  boost::beast::flat_buffer buf;
  bool server_done = false, client_done = false;
  server.async_read(buf, [&](boost::system::error_code ec, size_t) {
    EXPECT_EQ(ec, websocket::error::closed);
    server_done = true;
  });
  client.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), "bye"),
                     [&](boost::system::error_code) { client_done = true; });
  EXPECT_TRUE(run_until(p.io, [&] { return server_done && client_done; }));
  return client.reason().code;
}

TEST(CorkStreamTest, AnInvalidCloseCodeIsAnswered1002) {
  EXPECT_EQ(echo_of_close_code(5000, /*fail_invalid=*/false), 5000) << "Beast's own behaviour";
  EXPECT_EQ(echo_of_close_code(5000, true), 1002);
  EXPECT_EQ(echo_of_close_code(65535, true), 1002);
  EXPECT_EQ(echo_of_close_code(4999, true), 4999) << "3000-4999 are valid codes";
  EXPECT_EQ(echo_of_close_code(1000, true), 1000);
}

}  // namespace
}  // namespace shardd::net
