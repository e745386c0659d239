#include "shardd/net/codec/tcp_frame.h"

#include <gtest/gtest.h>

namespace shardd::net {
namespace {

TEST(TcpFrameTest, HeaderIsBigEndian) {
  auto h = encode_tcp_header({0x01020304, 0x03, 0x0a0b0c0d});
  const uint8_t expect[] = {1, 2, 3, 4, 3, 0x0a, 0x0b, 0x0c, 0x0d};
  ASSERT_EQ(h.size(), sizeof expect);
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(h[i], expect[i]) << i;
  TcpFrameHeader back = decode_tcp_header(h.data());
  EXPECT_EQ(back.length, 0x01020304u);
  EXPECT_EQ(back.flags, 3);
  EXPECT_EQ(back.seq, 0x0a0b0c0du);
}

TEST(TcpFrameTest, HeaderChecks) {
  EXPECT_TRUE(check_tcp_header({10, 0, 1}, 1, 100).ok());
  EXPECT_TRUE(check_tcp_header({100, kTcpFlagMsgpack | kTcpFlagZlib, 5}, 5, 100).ok());

  Status flags = check_tcp_header({10, 0x04, 1}, 1, 100);
  EXPECT_EQ(flags.code(), ErrorCode::kProtocolError);
  EXPECT_NE(flags.message().find("flag"), std::string::npos);
  EXPECT_EQ(check_tcp_header({10, 0x80, 1}, 1, 100).code(), ErrorCode::kProtocolError);

  Status gap = check_tcp_header({10, 0, 3}, 2, 100);
  EXPECT_EQ(gap.code(), ErrorCode::kProtocolError);
  EXPECT_NE(gap.message().find("expected 2"), std::string::npos);
  EXPECT_EQ(check_tcp_header({10, 0, 1}, 2, 100).code(), ErrorCode::kProtocolError);  // repeat

  EXPECT_EQ(check_tcp_header({101, 0, 1}, 1, 100).code(), ErrorCode::kTooLarge);
  EXPECT_EQ(check_tcp_header({0xffffffff, 0, 1}, 1, 100).code(), ErrorCode::kTooLarge);
}

TEST(TcpFrameTest, ZlibRoundTrip) {
  std::string plain(10000, 'x');
  plain += "tail";
  std::string packed;
  zlib_deflate(plain, &packed);
  EXPECT_LT(packed.size(), plain.size() / 10);
  std::string back;
  ASSERT_TRUE(zlib_inflate(packed, 1 << 20, &back).ok());
  EXPECT_EQ(back, plain);
}

TEST(TcpFrameTest, InflateStopsAtTheLimit) {
  std::string bomb_plain(10 * 1024 * 1024, '\0');
  std::string bomb;
  zlib_deflate(bomb_plain, &bomb);
  std::string out;
  Status st = zlib_inflate(bomb, 64 * 1024, &out);
  EXPECT_EQ(st.code(), ErrorCode::kTooLarge);
  EXPECT_TRUE(out.empty());
}

TEST(TcpFrameTest, InflateRejectsCorruptTruncatedAndTrailing) {
  std::string packed;
  zlib_deflate("hello world hello world", &packed);
  std::string out;
  EXPECT_EQ(zlib_inflate("not zlib at all", 1024, &out).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(zlib_inflate(packed.substr(0, packed.size() - 3), 1024, &out).code(),
            ErrorCode::kBadRequest);
  EXPECT_EQ(zlib_inflate(packed + "xx", 1024, &out).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(zlib_inflate("", 1024, &out).code(), ErrorCode::kBadRequest);
}

}  // namespace
}  // namespace shardd::net
