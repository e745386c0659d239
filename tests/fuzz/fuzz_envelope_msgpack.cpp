// libFuzzer: the client envelope decoder on MessagePack binary frames.
#include "envelope_roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  shardd::fuzz::envelope_roundtrip(data, size, shardd::net::Encoding::kMsgpack);
  return 0;
}
