#include "shardd/net/codec/tcp_frame.h"

#include <zlib.h>

namespace shardd::net {

std::array<uint8_t, kTcpHeaderSize> encode_tcp_header(const TcpFrameHeader& h) {
  return {static_cast<uint8_t>(h.length >> 24), static_cast<uint8_t>(h.length >> 16),
          static_cast<uint8_t>(h.length >> 8),  static_cast<uint8_t>(h.length),
          h.flags,
          static_cast<uint8_t>(h.seq >> 24),    static_cast<uint8_t>(h.seq >> 16),
          static_cast<uint8_t>(h.seq >> 8),     static_cast<uint8_t>(h.seq)};
}

TcpFrameHeader decode_tcp_header(const uint8_t* p) {
  TcpFrameHeader h;
  h.length = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  h.flags = p[4];
  h.seq = (uint32_t{p[5]} << 24) | (uint32_t{p[6]} << 16) | (uint32_t{p[7]} << 8) | p[8];
  return h;
}

Status check_tcp_header(const TcpFrameHeader& h, uint32_t expected_seq, uint32_t max_body) {
  if (h.flags & ~kTcpKnownFlags) {
    return {ErrorCode::kProtocolError, "unknown flag bits " + std::to_string(h.flags)};
  }
  if (h.seq != expected_seq) {
    return {ErrorCode::kProtocolError, "frame seq " + std::to_string(h.seq) + ", expected " +
                                           std::to_string(expected_seq)};
  }
  if (h.length > max_body) {
    return {ErrorCode::kTooLarge, "frame of " + std::to_string(h.length) + " bytes exceeds " +
                                      std::to_string(max_body)};
  }
  return Status::Ok();
}

Status zlib_inflate(std::string_view in, size_t max_out, std::string* out) {
  out->clear();
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return Status::Internal("inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char chunk[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Status::BadRequest("corrupt zlib body");
    }
    size_t produced = sizeof chunk - zs.avail_out;
    if (out->size() + produced > max_out) {
      inflateEnd(&zs);
      out->clear();
      return {ErrorCode::kTooLarge, "inflated body exceeds " + std::to_string(max_out)};
    }
    out->append(chunk, produced);
    if (rc == Z_OK && zs.avail_in == 0 && produced == 0) {
      inflateEnd(&zs);
      return Status::BadRequest("truncated zlib body");
    }
  } while (rc != Z_STREAM_END);
  bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) return Status::BadRequest("bytes after the zlib stream");
  return Status::Ok();
}

void zlib_deflate(std::string_view in, std::string* out) {
  uLongf bound = compressBound(static_cast<uLong>(in.size()));
  out->resize(bound);
  compress2(reinterpret_cast<Bytef*>(out->data()), &bound,
            reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()),
            Z_BEST_SPEED);
  out->resize(bound);
}

}  // namespace shardd::net
