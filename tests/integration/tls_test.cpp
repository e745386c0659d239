// TLS: wss and TLS-framed TCP with a certificate generated for the run.

#include <iostream>

#include "it_common.h"

namespace shardd::test {
namespace {

ShardOptions tls_options(std::vector<std::string> extra = {}) {
  ShardOptions o;
  o.tls_cert = true;
  o.overrides = {"ws.tls=true", "tcp.tls=true"};
  for (auto& e : extra) o.overrides.push_back(std::move(e));
  return o;
}

TEST(Tls, WssHelloPingAndMsgpack) {
  Shard shard(tls_options());
  shard.start();
  WsOptions o;
  o.tls = true;
  o.ca_file = shard.tls().cert;  // the client verifies the server certificate
  WsClient c;
  ASSERT_TRUE(c.connect(shard.ws_port(), o)) << c.error();
  auto hello = c.recv_push("sys.hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["d"]["transport"], "wss");
  EXPECT_TRUE(PingWorks(c));
  ASSERT_TRUE(c.send_msgpack({{"op", "sys.ping"}, {"rid", 50}, {"d", {{"t", "secure"}}}}));
  auto m = c.recv();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->binary);
  EXPECT_EQ(m->j["rid"], 50);
  EXPECT_EQ(m->j["d"]["t"], "secure");

  // A plain WebSocket client cannot talk to the TLS port.
  WsClient plain;
  WsOptions po;
  po.timeout = Ms(2000);
  EXPECT_FALSE(plain.connect(shard.ws_port(), po));

  auto conns = scrape(shard.admin_port(), R"(shardd_connections{transport="wss"})");
  ASSERT_TRUE(conns);
  EXPECT_EQ(*conns, 1.0);
}

TEST(Tls, TlsTcpHelloAndPing) {
  Shard shard(tls_options());
  shard.start();
  TcpOptions o;
  o.tls = true;
  o.ca_file = shard.tls().cert;
  TcpClient c;
  ASSERT_TRUE(c.connect(shard.tcp_port(), o)) << c.error();
  auto hello = c.recv();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->seq, 1u);
  EXPECT_EQ(hello->j["d"]["transport"], "tls");
  EXPECT_TRUE(PingWorks(c));
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 9}, {"d", {{"t", "z"}}}}, true, true));
  auto r = c.recv_response(9);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["t"], "z");
  // Framing errors behave as on plain TCP.
  ASSERT_TRUE(c.send_frame(0x10, c.next_seq(), "{}"));
  auto close = c.recv_push("sys.close");
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "PROTOCOL_ERROR");
  EXPECT_TRUE(c.wait_closed(Ms(3000)));
}

TEST(Tls, OnlyTls12AndNewer) {
  Shard shard(tls_options());
  shard.start();
  for (uint16_t port : {shard.tcp_port(), shard.ws_port()}) {
    SCOPED_TRACE(port == shard.tcp_port() ? "tcp" : "wss");
    TcpOptions old;
    old.tls = true;
    old.tls_max_version = kTls1_1;
    TcpClient c;
    EXPECT_FALSE(c.connect(port, old)) << "TLS 1.1 handshake accepted";
    // The refusal comes from the server (an alert), not from our own library.
    EXPECT_NE(c.error().find("alert"), std::string::npos) << c.error();
    std::cout << "[   info   ] TLS 1.1 client: " << c.error() << "\n";

    TcpOptions v12;
    v12.tls = true;
    v12.tls_max_version = kTls1_2;
    TcpClient ok;
    EXPECT_TRUE(ok.connect(port, v12)) << ok.error();
  }
}

TEST(Tls, HandshakeTimeoutDropsSilentTlsClients) {
  Shard shard(tls_options({"limits.handshake_timeout_ms=500"}));
  shard.start();
  for (uint16_t port : {shard.ws_port(), shard.tcp_port()}) {
    SCOPED_TRACE(port == shard.tcp_port() ? "tcp" : "wss");
    RawSocket s;
    auto start = Clock::now();
    ASSERT_TRUE(s.connect(port));
    EXPECT_TRUE(s.wait_closed(Ms(3000))) << "silent TLS client never dropped";
    auto took = elapsed_ms(start);
    EXPECT_GE(took, 400);
    EXPECT_LE(took, 2500);
  }
  auto failed = scrape(shard.admin_port(), R"(shardd_handshake_failures_total{transport="wss"})");
  ASSERT_TRUE(failed);
  EXPECT_GE(*failed, 1.0);
}

}  // namespace
}  // namespace shardd::test
