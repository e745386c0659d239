#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "shardd/core/status.h"

namespace shardd {

// Fills out[0..n) from OpenSSL's CSPRNG (RAND_bytes). Returns false if the
// generator failed; the caller must not use the buffer then.
[[nodiscard]] bool random_bytes(unsigned char* out, size_t n);
// 256 random bits, base64url without padding (43 chars), into *out.
// UNAVAILABLE if the random generator failed: a token never comes from
// uninitialised or predictable memory.
[[nodiscard]] Status random_token(std::string* out);
// Lower-case hex SHA-256. Tokens are stored and looked up by this.
std::string sha256_hex(std::string_view data);

}  // namespace shardd
