// libFuzzer: a framed-TCP byte stream as the connection reads it: 9-byte
// header, header check (flags, seq, size) before the body is read, zlib
// inflate with its output limit, then the envelope decoder. Frames follow one
// another until the stream ends or a frame is refused (the connection would
// close).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "shardd/net/codec/message.h"
#include "shardd/net/codec/tcp_frame.h"

namespace {

// The server's defaults (limits.max_message_bytes).
constexpr uint32_t kMaxBody = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shardd::net;
  size_t pos = 0;
  uint32_t expected_seq = 1;
  while (size - pos >= kTcpHeaderSize) {
    TcpFrameHeader h = decode_tcp_header(data + pos);
    SHARDD_FUZZ_CHECK(encode_tcp_header(h) ==
                      (std::array<uint8_t, kTcpHeaderSize>{
                          data[pos], data[pos + 1], data[pos + 2], data[pos + 3], data[pos + 4],
                          data[pos + 5], data[pos + 6], data[pos + 7], data[pos + 8]}));
    pos += kTcpHeaderSize;
    // The fuzzer rarely guesses the sequence; let it through half the time
    // by taking the frame's own seq as the expected one.
    if (h.seq % 2 == 0) expected_seq = h.seq;
    if (!check_tcp_header(h, expected_seq, kMaxBody).ok()) return 0;
    SHARDD_FUZZ_CHECK(h.length <= kMaxBody && (h.flags & ~kTcpKnownFlags) == 0);
    if (size - pos < h.length) return 0;  // the rest of the body never arrives
    std::string_view body(reinterpret_cast<const char*>(data + pos), h.length);
    pos += h.length;
    ++expected_seq;
    std::string inflated;
    if (h.flags & kTcpFlagZlib) {
      if (!zlib_inflate(body, kMaxBody, &inflated).ok()) return 0;
      SHARDD_FUZZ_CHECK(inflated.size() <= kMaxBody);
      std::string again;
      zlib_deflate(inflated, &again);
      std::string back;
      SHARDD_FUZZ_CHECK(zlib_inflate(again, kMaxBody, &back).ok() && back == inflated);
      body = inflated;
    }
    Request req;
    (void)decode_request(body, (h.flags & kTcpFlagMsgpack) ? Encoding::kMsgpack : Encoding::kJson,
                         &req);
  }
  return 0;
}
