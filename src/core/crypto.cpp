#include "shardd/core/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdint>

namespace shardd {

bool random_bytes(unsigned char* out, size_t n) {
  return n <= static_cast<size_t>(INT32_MAX) && RAND_bytes(out, static_cast<int>(n)) == 1;
}

Status random_token(std::string* out) {
  unsigned char bytes[32];
  if (!random_bytes(bytes, sizeof bytes)) {
    return Status::Unavailable("random number generator failed", 1000);
  }
  std::string s(44, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(s.data()), bytes, sizeof bytes);
  s.resize(static_cast<size_t>(n));
  for (char& ch : s) {
    if (ch == '+') ch = '-';
    if (ch == '/') ch = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  *out = std::move(s);
  return Status::Ok();
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* hex = "0123456789abcdef";
  std::string out(2 * sizeof md, '\0');
  for (size_t i = 0; i < sizeof md; ++i) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  return out;
}

}  // namespace shardd
