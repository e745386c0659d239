// Framed TCP transport: u32 length | u8 flags | u32 seq | body.

#include "it_common.h"

namespace shardd::test {
namespace {

TEST(Tcp, HelloThenPingWithNumberedFrames) {
  Shard shard(with_sets({"limits.heartbeat_ms=7000"}));
  shard.start();
  TcpClient c;
  ASSERT_TRUE(c.connect(shard.tcp_port())) << c.error();
  auto hello = c.recv();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->seq, 1u) << "server frames are numbered from 1";
  EXPECT_EQ(hello->flags, 0) << "JSON, uncompressed by default";
  EXPECT_EQ(hello->length, hello->body.size());
  EXPECT_EQ(hello->j.value("op", ""), "sys.hello");
  EXPECT_EQ(hello->j.value("seq", -1), 0) << "connection notices are not replayed: seq 0";
  EXPECT_EQ(hello->j["d"].value("transport", ""), "tcp");
  EXPECT_EQ(hello->j["d"].value("heartbeat_ms", 0), 7000);

  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", 42}}}}));
  auto r = c.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->seq, 2u);
  ASSERT_TRUE(IsOk(r->j));
  EXPECT_EQ(r->j["rid"], 1);
  EXPECT_EQ(r->j["d"]["t"], 42);
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 10 + i}}));
    auto f = c.recv();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->seq, 3u + i);
    EXPECT_EQ(f->j["rid"], 10 + i);
  }
}

TEST(Tcp, MsgpackFlag) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 5}, {"d", {{"t", "packed"}}}},
                          /*msgpack=*/true));
  auto f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->flags & 0x01, 0x01) << "MessagePack request must get a MessagePack answer";
  ASSERT_FALSE(f->j.is_discarded());
  EXPECT_EQ(f->j["rid"], 5);
  EXPECT_EQ(f->j["ok"], true);
  EXPECT_EQ(f->j["d"]["t"], "packed");
  // Switch back to JSON.
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 6}}));
  f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->flags & 0x01, 0);
  EXPECT_EQ(f->j["rid"], 6);
}

TEST(Tcp, ZlibFlagOnRequests) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  std::string t(20000, 'q');
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", t}}}}, false, true));
  auto r = c.recv_response(1);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["t"], t);
  // zlib + MessagePack together.
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 2}, {"d", {{"t", t}}}}, true, true));
  auto f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->flags & 0x01, 0x01);
  EXPECT_EQ(f->j["rid"], 2);
  EXPECT_EQ(f->j["d"]["t"], t);
}

TEST(Tcp, CompressesLargeOutboundFramesWhenConfigured) {
  Shard shard(with_sets({"tcp.compress_min_bytes=512"}));
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  std::string t(8000, 'a');
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", t}}}}));
  auto f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->flags & 0x02, 0x02) << "large frame not compressed";
  EXPECT_LT(f->body.size(), 1000u);
  EXPECT_EQ(f->j["d"]["t"], t);
  // Small frames stay plain.
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", 2}}));
  f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->flags & 0x02, 0);
  EXPECT_EQ(f->j["rid"], 2);
}

TEST(Tcp, CorruptZlibBodyIsBadRequestAndConnectionStays) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  ASSERT_TRUE(c.send_frame(0x02, c.next_seq(), "this is not zlib"));
  auto f = c.recv();
  ASSERT_TRUE(f);
  EXPECT_TRUE(IsError(f->j, "BAD_REQUEST"));
  EXPECT_TRUE(f->j["rid"].is_null());
  EXPECT_TRUE(PingWorks(c));
}

TEST(Tcp, MalformedBodiesAnswerBadRequest) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  struct Case {
    const char* name;
    uint8_t flags;
    std::string body;
    json rid;
  };
  std::vector<Case> cases = {
      {"bad json", 0, "{\"op\":", nullptr},
      {"bad msgpack", 1, std::string("\xc1", 1), nullptr},
      {"array", 0, "[]", nullptr},
      {"missing rid", 0, R"({"op":"sys.ping"})", nullptr},
      {"bad op", 0, R"({"op":"DROP TABLE","rid":3})", 3},
      {"d not object", 0, R"({"op":"sys.ping","rid":4,"d":"x"})", 4},
      {"empty body", 0, "", nullptr},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ASSERT_TRUE(c.send_frame(tc.flags, c.next_seq(), tc.body));
    auto f = c.recv();
    ASSERT_TRUE(f) << "no answer";
    EXPECT_EQ(f->flags & 0x01, tc.flags & 0x01);
    EXPECT_TRUE(IsError(f->j, "BAD_REQUEST"));
    EXPECT_EQ(f->j["rid"], tc.rid);
  }
  EXPECT_TRUE(PingWorks(c));
  auto r = c.request("nope.op");
  EXPECT_TRUE(IsError(r, "UNKNOWN_OP"));
  EXPECT_TRUE(PingWorks(c));
}

// Sends a frame that breaks the framing rules and expects sys.close
// PROTOCOL_ERROR followed by the server closing the connection.
void expect_protocol_close(TcpClient& c, uint8_t flags, uint32_t seq) {
  ASSERT_TRUE(c.send_frame(flags, seq, R"({"op":"sys.ping","rid":99})"));
  auto close = c.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close) << "no sys.close";
  EXPECT_EQ((*close)["d"]["code"], "PROTOCOL_ERROR");
  EXPECT_TRUE((*close)["d"]["msg"].is_string());
  EXPECT_TRUE(c.wait_closed(Ms(3000))) << "server did not close the connection";
  for (const auto& f : c.skipped()) {
    EXPECT_NE(f.j.value("rid", json()), json(99)) << "the offending frame was processed";
  }
}

TEST(Tcp, UnknownFlagBitsCloseWithProtocolError) {
  Shard shard;
  shard.start();
  for (uint8_t flags : {uint8_t{0x04}, uint8_t{0x80}, uint8_t{0x05}}) {
    SCOPED_TRACE(static_cast<int>(flags));
    TcpClient c;
    connect_tcp(c, shard.tcp_port());
    ASSERT_TRUE(PingWorks(c));
    expect_protocol_close(c, flags, c.next_seq());
  }
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Tcp, SequenceGapClosesWithProtocolError) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  ASSERT_TRUE(PingWorks(c));  // seq 1
  expect_protocol_close(c, 0, 3);
}

TEST(Tcp, SequenceRepeatClosesWithProtocolError) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  ASSERT_TRUE(PingWorks(c));  // seq 1
  expect_protocol_close(c, 0, 1);
}

TEST(Tcp, FirstFrameMustHaveSeqOne) {
  Shard shard;
  shard.start();
  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  expect_protocol_close(c, 0, 0);
}

TEST(Tcp, OversizeFrameClosesWithTooLargeAndServerIsUnharmed) {
  Shard shard(with_sets({"limits.max_frame_bytes=4096"}));
  shard.start();
  TcpClient bystander;
  connect_tcp(bystander, shard.tcp_port());

  TcpClient c;
  connect_tcp(c, shard.tcp_port());
  // The header alone announces 100 MB: refused before any body arrives.
  ASSERT_TRUE(c.send_frame(0, c.next_seq(), "", 100u * 1024 * 1024));
  auto close = c.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "TOO_LARGE");
  EXPECT_TRUE(c.wait_closed(Ms(3000)));

  // A zlib bomb: small on the wire, over the limit once inflated.
  TcpClient z;
  connect_tcp(z, shard.tcp_port());
  json bomb = {{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", std::string(1 << 20, '0')}}}};
  ASSERT_TRUE(z.send_json(bomb, false, true));
  close = z.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "TOO_LARGE");
  EXPECT_TRUE(z.wait_closed(Ms(3000)));

  EXPECT_TRUE(PingWorks(bystander));
  TcpClient fresh;
  connect_tcp(fresh, shard.tcp_port());
  EXPECT_TRUE(PingWorks(fresh));
}

TEST(Tcp, HeartbeatTimeout) {
  Shard shard(with_sets({"limits.heartbeat_ms=300", "limits.heartbeat_misses=2"}));
  shard.start();
  TcpClient c;
  auto start = Clock::now();
  connect_tcp(c, shard.tcp_port());
  auto close = c.recv_push("sys.close", Ms(3000));
  auto took = elapsed_ms(start);
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "HEARTBEAT_TIMEOUT");
  EXPECT_GE(took, 500);
  EXPECT_LE(took, 2000);
  EXPECT_TRUE(c.wait_closed(Ms(3000)));
}

}  // namespace
}  // namespace shardd::test
