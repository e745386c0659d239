// libFuzzer: the client envelope decoder on JSON text frames.
#include "envelope_roundtrip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  shardd::fuzz::envelope_roundtrip(data, size, shardd::net::Encoding::kJson);
  return 0;
}
