// Connection-level protections: handshake timeout, connection limits, slow
// consumers.

#include <iostream>

#include "it_common.h"

namespace shardd::test {
namespace {

TEST(Limits, HandshakeTimeoutDropsHalfOpenWebSocket) {
  Shard shard(with_sets({"limits.handshake_timeout_ms=500"}));
  shard.start();
  RawSocket s;
  auto start = Clock::now();
  ASSERT_TRUE(s.connect(shard.ws_port()));
  EXPECT_TRUE(s.wait_closed(Ms(3000))) << "connection that never sent a request was kept";
  auto took = elapsed_ms(start);
  EXPECT_GE(took, 400);
  EXPECT_LE(took, 2000);
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Limits, HandshakeTimeoutDropsSlowloris) {
  Shard shard(with_sets({"limits.handshake_timeout_ms=500"}));
  shard.start();
  // A valid upgrade request, dribbled one byte every 40 ms (would take > 8 s).
  std::string req =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  RawSocket s;
  auto start = Clock::now();
  ASSERT_TRUE(s.connect(shard.ws_port()));
  bool dropped = false;
  for (char ch : req) {
    if (!s.send_all(std::string(1, ch), Ms(500))) {
      dropped = true;
      break;
    }
    if (s.wait_closed(Ms(40))) {
      dropped = true;
      break;
    }
  }
  auto took = elapsed_ms(start);
  EXPECT_TRUE(dropped) << "slowloris client completed its handshake";
  EXPECT_GE(took, 400);
  EXPECT_LE(took, 2000) << "dropped only after " << took << " ms";
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Limits, MaxConnectionsRefusesPolitelyAndRecovers) {
  Shard shard(with_sets({"limits.max_connections=3"}));
  shard.start();
  WsClient a, b;
  connect_ws(a, shard.ws_port());
  connect_ws(b, shard.ws_port());
  TcpClient t;
  connect_tcp(t, shard.tcp_port());

  WsClient extra;
  EXPECT_FALSE(extra.connect(shard.ws_port()));
  EXPECT_EQ(extra.http_status(), 503) << extra.error();
  EXPECT_NE(extra.http_body().find("TOO_MANY_CONNECTIONS"), std::string::npos) << extra.http_body();

  TcpClient extra_tcp;
  ASSERT_TRUE(extra_tcp.connect(shard.tcp_port())) << extra_tcp.error();
  auto close = extra_tcp.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close) << "refused TCP client got no sys.close";
  EXPECT_EQ((*close)["d"]["code"], "TOO_MANY_CONNECTIONS");
  EXPECT_TRUE(extra_tcp.wait_closed(Ms(3000)));

  // The admitted sessions are unaffected.
  EXPECT_TRUE(PingWorks(a));
  EXPECT_TRUE(PingWorks(t));

  // Once one leaves, a new client gets in.
  b.close();
  EXPECT_TRUE(eventually(
      [&] {
        WsClient c;
        return c.connect(shard.ws_port()) && c.recv_push("sys.hello").has_value();
      },
      Ms(3000), Ms(100)));
  auto refused = scrape(shard.admin_port(), R"(shardd_connections_refused_total{transport="ws"})");
  ASSERT_TRUE(refused);
  EXPECT_GE(*refused, 1.0);
}

TEST(Limits, MaxConnectionsPerIp) {
  Shard shard(with_sets({"limits.max_connections_per_ip=2"}));
  shard.start();
  WsClient a, b;
  connect_ws(a, shard.ws_port());
  connect_ws(b, shard.ws_port());

  WsClient third;
  EXPECT_FALSE(third.connect(shard.ws_port()));
  EXPECT_EQ(third.http_status(), 503);
  EXPECT_NE(third.http_body().find("TOO_MANY_CONNECTIONS"), std::string::npos);

  TcpClient tcp_third;
  ASSERT_TRUE(tcp_third.connect(shard.tcp_port()));
  auto close = tcp_third.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "TOO_MANY_CONNECTIONS");

  // Another source address (127.0.0.2 is loopback too) has its own quota.
  WsOptions other;
  other.source_ip = "127.0.0.2";
  WsClient c;
  connect_ws(c, shard.ws_port(), other);
  EXPECT_TRUE(PingWorks(c));

  a.close();
  EXPECT_TRUE(eventually(
      [&] {
        WsClient d;
        return d.connect(shard.ws_port()) && d.recv_push("sys.hello").has_value();
      },
      Ms(3000), Ms(100)));
}

std::string tcp_frame(uint8_t flags, uint32_t seq, const std::string& body) {
  uint32_t len = static_cast<uint32_t>(body.size());
  std::string out = {
      static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
      static_cast<char>(len),       static_cast<char>(flags),     static_cast<char>(seq >> 24),
      static_cast<char>(seq >> 16), static_cast<char>(seq >> 8),  static_cast<char>(seq)};
  return out + body;
}

std::vector<std::string> slow_consumer_sets() {
  return {"limits.write_queue_bytes=65536", "limits.write_queue_messages=64",
          "limits.rate_per_sec=1000000", "limits.rate_burst=1000000",
          "limits.rate_strikes_to_close=1000000"};
}

double rss(uint16_t admin_port) {
  auto v = scrape(admin_port, "process_resident_memory_bytes");
  return v ? *v : -1;
}

constexpr double kMiB = 1024.0 * 1024.0;
// Each test below asks for ~100 MB of responses; a server that buffered them
// would grow by that much. Allow allocator noise.
constexpr double kMaxRssGrowth = 24 * kMiB;
constexpr int kMaxPings = 3500;

TEST(Limits, SlowTcpReaderIsDisconnectedAndMemoryStaysFlat) {
  Shard shard(with_sets(slow_consumer_sets()));
  shard.start();
  {
    TcpClient warm;  // first allocations of the session path
    connect_tcp(warm, shard.tcp_port());
    ASSERT_TRUE(PingWorks(warm));
  }
  double before = rss(shard.admin_port());
  ASSERT_GT(before, 0);

  RawSocket s;
  ASSERT_TRUE(s.connect(shard.tcp_port(), /*rcvbuf=*/4096));
  std::string t(30000, 'x');
  int sent = 0;
  bool failed = false;
  auto start = Clock::now();
  for (uint32_t seq = 1; seq <= kMaxPings; ++seq) {
    json req = {{"op", "sys.ping"}, {"rid", seq}, {"d", {{"t", t}}}};
    if (!s.send_all(tcp_frame(0, seq, req.dump()), Ms(5000))) {
      failed = true;
      break;
    }
    ++sent;
  }
  EXPECT_TRUE(failed) << "sent " << sent << " pings (" << sent * 30 / 1024
                      << " MB of replies) without being disconnected";
  EXPECT_LE(elapsed_ms(start), 30000);
  EXPECT_TRUE(eventually(
      [&] {
        auto v = scrape(shard.admin_port(),
                        R"(shardd_slow_consumer_disconnects_total{transport="tcp"})");
        return v && *v == 1.0;
      },
      Ms(3000)));
  double after = rss(shard.admin_port());
  std::cout << "[   info   ] disconnected after " << sent << " pings; RSS " << before / kMiB
            << " -> " << after / kMiB << " MiB\n";
  EXPECT_LT(after - before, kMaxRssGrowth)
      << "RSS grew from " << before / kMiB << " MiB to " << after / kMiB << " MiB";
  EXPECT_TRUE(eventually(
      [&] {
        auto v = scrape(shard.admin_port(), R"(shardd_connections{transport="tcp"})");
        return v && *v == 0.0;
      },
      Ms(3000)));
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Limits, SlowWebSocketReaderIsDisconnectedAndMemoryStaysFlat) {
  Shard shard(with_sets(slow_consumer_sets()));
  shard.start();
  ASSERT_TRUE(FreshClientWorks(shard.ws_port()));  // warm up
  double before = rss(shard.admin_port());
  ASSERT_GT(before, 0);

  WsOptions o;
  o.rcvbuf = 4096;
  WsClient c;
  connect_ws(c, shard.ws_port(), o);
  c.pause_reading();
  std::string t(30000, 'y');
  int sent = 0;
  bool failed = false;
  for (int i = 0; i < kMaxPings; ++i) {
    if (!c.send_json({{"op", "sys.ping"}, {"rid", c.next_rid()}, {"d", {{"t", t}}}}, Ms(5000))) {
      failed = true;
      break;
    }
    ++sent;
  }
  EXPECT_TRUE(failed) << "sent " << sent << " pings without being disconnected";
  EXPECT_TRUE(eventually(
      [&] {
        auto v =
            scrape(shard.admin_port(), R"(shardd_slow_consumer_disconnects_total{transport="ws"})");
        return v && *v == 1.0;
      },
      Ms(3000)));
  // The same drop, seen by the session: one reason, counted in both places.
  EXPECT_TRUE(eventually(
      [&] {
        return scrape(shard.admin_port(), R"(shardd_disconnects_total{reason="SLOW_CONSUMER"})") ==
                   1.0 &&
               scrape(shard.admin_port(), R"(shardd_errors_total{code="SLOW_CONSUMER"})") == 1.0;
      },
      Ms(3000)));
  double after = rss(shard.admin_port());
  std::cout << "[   info   ] disconnected after " << sent << " pings; RSS " << before / kMiB
            << " -> " << after / kMiB << " MiB\n";
  EXPECT_LT(after - before, kMaxRssGrowth)
      << "RSS grew from " << before / kMiB << " MiB to " << after / kMiB << " MiB";
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

}  // namespace
}  // namespace shardd::test
