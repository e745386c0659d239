#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shardd/core/status.h"

namespace shardd::net {

// Framed TCP transport: every frame is
//   u32 length | u8 flags | u32 seq | body[length]      (big-endian)
// `length` counts the body only. flags: bit0 = MessagePack body (else JSON),
// bit1 = zlib-compressed body; any other bit set is a protocol error. Each
// direction numbers its frames from 1; the server rejects a client frame whose
// seq is not exactly one more than the previous one.
inline constexpr size_t kTcpHeaderSize = 9;
inline constexpr uint8_t kTcpFlagMsgpack = 0x01;
inline constexpr uint8_t kTcpFlagZlib = 0x02;
inline constexpr uint8_t kTcpKnownFlags = kTcpFlagMsgpack | kTcpFlagZlib;

struct TcpFrameHeader {
  uint32_t length = 0;
  uint8_t flags = 0;
  uint32_t seq = 0;
};

std::array<uint8_t, kTcpHeaderSize> encode_tcp_header(const TcpFrameHeader& h);
TcpFrameHeader decode_tcp_header(const uint8_t* p);  // REQUIRES: kTcpHeaderSize readable bytes

// Checks a received header before its body is read (so an oversize body is
// never allocated). PROTOCOL_ERROR for unknown flags or a seq other than
// `expected_seq`, TOO_LARGE when length > max_body.
Status check_tcp_header(const TcpFrameHeader& h, uint32_t expected_seq, uint32_t max_body);

// zlib (RFC 1950) helpers. inflate fails with TOO_LARGE as soon as the output
// would exceed `max_out` (no zip bombs) and BAD_REQUEST on corrupt input.
Status zlib_inflate(std::string_view in, size_t max_out, std::string* out);
void zlib_deflate(std::string_view in, std::string* out);

}  // namespace shardd::net
