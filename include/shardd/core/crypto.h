#pragma once

#include <string>
#include <string_view>

namespace shardd {

// 256 random bits (OpenSSL RAND_bytes), base64url without padding: 43 chars.
std::string random_token();
// Lower-case hex SHA-256. Tokens are stored and looked up by this.
std::string sha256_hex(std::string_view data);

}  // namespace shardd
