#include "shardd/core/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace shardd {

std::string random_token() {
  unsigned char bytes[32];
  RAND_bytes(bytes, sizeof bytes);
  std::string s(44, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(s.data()), bytes, sizeof bytes);
  s.resize(static_cast<size_t>(n));
  for (char& ch : s) {
    if (ch == '+') ch = '-';
    if (ch == '/') ch = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
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
