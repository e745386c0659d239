#pragma once

// Decodes one client envelope the way a connection does and checks that what
// was accepted re-encodes stably: encode(decode(encode(d))) == encode(d), in
// both encodings (byte comparison, so NaN from MessagePack compares too).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "shardd/net/codec/message.h"

namespace shardd::fuzz {

inline void envelope_roundtrip(const uint8_t* data, size_t size, net::Encoding encoding) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  net::Request req;
  Status st = net::decode_request(bytes, encoding, &req);
  if (!st.ok()) {
    SHARDD_FUZZ_CHECK(st.code() == ErrorCode::kBadRequest);
    return;
  }
  SHARDD_FUZZ_CHECK(net::valid_op_name(req.op));
  SHARDD_FUZZ_CHECK(req.rid.has_value() && *req.rid <= net::kMaxRid);
  SHARDD_FUZZ_CHECK(req.d.is_object());
  for (net::Encoding e : {net::Encoding::kJson, net::Encoding::kMsgpack}) {
    std::string once;
    net::encode_value(e, req.d, &once);
    nlohmann::json back = net::decode_any(once, e);
    SHARDD_FUZZ_CHECK(!back.is_discarded());
    std::string twice;
    net::encode_value(e, back, &twice);
    SHARDD_FUZZ_CHECK(once == twice);
  }
  // A response to it encodes without throwing.
  net::OutFrame frame;
  net::encode_ok(encoding, *req.rid, req.d, &frame);
  SHARDD_FUZZ_CHECK(frame.size() > 0);
}

}  // namespace shardd::fuzz
