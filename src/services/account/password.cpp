#include "password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <vector>

#include "shardd/core/crypto.h"

namespace shardd::account {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string b64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool unb64(std::string_view in, std::vector<unsigned char>* out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 1024) return false;
  out->assign(3 * in.size() / 4, 0);
  int len = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
  if (len < 0) return false;
  size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out->resize(static_cast<size_t>(len) - pad);
  return true;
}

bool derive_scrypt(std::string_view pw, const unsigned char* salt, size_t salt_len, uint64_t n,
                   uint64_t r, uint64_t p, unsigned char* out, size_t out_len) {
  uint64_t maxmem = 128 * n * r * (p + 1) + (1 << 20);
  return EVP_PBE_scrypt(pw.data(), pw.size(), salt, salt_len, n, r, p, maxmem, out, out_len) == 1;
}

bool derive_pbkdf2(std::string_view pw, const unsigned char* salt, size_t salt_len, uint32_t iter,
                   unsigned char* out, size_t out_len) {
  return PKCS5_PBKDF2_HMAC(pw.data(), static_cast<int>(pw.size()), salt, static_cast<int>(salt_len),
                           static_cast<int>(iter), EVP_sha256(), static_cast<int>(out_len),
                           out) == 1;
}

// What this build accepts for scrypt (also for stored hashes): N a power of
// two in [2, 2^22], r and p in [1, 64].
bool valid_scrypt_params(uint64_t n, uint64_t r, uint64_t p) {
  return n >= 2 && n <= (1u << 22) && (n & (n - 1)) == 0 && r >= 1 && r <= 64 && p >= 1 && p <= 64;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool to_u64(std::string_view s, uint64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Status hash_password(std::string_view password, const AuthConfig& c, std::string* out) {
  unsigned char salt[kSaltBytes];
  if (!random_bytes(salt, sizeof salt)) {
    return Status::Unavailable("random number generator failed", 1000);
  }
  unsigned char derived[kHashBytes];
  if (c.kdf == "pbkdf2") {
    if (c.pbkdf2_iterations < 1 ||
        !derive_pbkdf2(password, salt, sizeof salt, c.pbkdf2_iterations, derived, sizeof derived)) {
      return Status::Internal("PBKDF2 derivation failed");
    }
    *out = "pbkdf2-sha256$" + std::to_string(c.pbkdf2_iterations) + "$" + b64(salt, sizeof salt) +
           "$" + b64(derived, sizeof derived);
    return Status::Ok();
  }
  if (!valid_scrypt_params(c.scrypt_n, c.scrypt_r, c.scrypt_p)) {
    return Status::Internal("invalid scrypt parameters N=" + std::to_string(c.scrypt_n) + " r=" +
                            std::to_string(c.scrypt_r) + " p=" + std::to_string(c.scrypt_p));
  }
  if (!derive_scrypt(password, salt, sizeof salt, c.scrypt_n, c.scrypt_r, c.scrypt_p, derived,
                     sizeof derived)) {
    return Status::Internal("scrypt derivation failed");
  }
  *out = "scrypt$" + std::to_string(c.scrypt_n) + "$" + std::to_string(c.scrypt_r) + "$" +
         std::to_string(c.scrypt_p) + "$" + b64(salt, sizeof salt) + "$" +
         b64(derived, sizeof derived);
  return Status::Ok();
}

Status hash_password_checked(std::string_view password, const AuthConfig& c, std::string* out) {
  std::string h;
  Status st = hash_password(password, c, &h);
  if (!st.ok()) return st;
  bool ignored = false;
  if (!verify_password(password, h, c, &ignored)) {
    return Status::Internal("a fresh password hash did not verify");
  }
  *out = std::move(h);
  return Status::Ok();
}

bool verify_password(std::string_view password, std::string_view encoded, const AuthConfig& c,
                     bool* needs_rehash) {
  *needs_rehash = false;
  auto parts = split(encoded, '$');
  std::vector<unsigned char> salt, expected;
  unsigned char out[kHashBytes];
  if (parts.size() == 6 && parts[0] == "scrypt") {
    uint64_t n = 0, r = 0, p = 0;
    if (!to_u64(parts[1], &n) || !to_u64(parts[2], &r) || !to_u64(parts[3], &p)) return false;
    if (!valid_scrypt_params(n, r, p)) return false;
    if (!unb64(parts[4], &salt) || !unb64(parts[5], &expected) || expected.size() != kHashBytes) {
      return false;
    }
    if (!derive_scrypt(password, salt.data(), salt.size(), n, r, p, out, sizeof out)) return false;
    *needs_rehash = c.kdf != "scrypt" || n != c.scrypt_n || r != c.scrypt_r || p != c.scrypt_p;
  } else if (parts.size() == 4 && parts[0] == "pbkdf2-sha256") {
    uint64_t iter = 0;
    if (!to_u64(parts[1], &iter) || iter < 1 || iter > 100000000) return false;
    if (!unb64(parts[2], &salt) || !unb64(parts[3], &expected) || expected.size() != kHashBytes) {
      return false;
    }
    if (!derive_pbkdf2(password, salt.data(), salt.size(), static_cast<uint32_t>(iter), out,
                       sizeof out)) {
      return false;
    }
    *needs_rehash = c.kdf != "pbkdf2" || iter != c.pbkdf2_iterations;
  } else {
    return false;
  }
  return CRYPTO_memcmp(out, expected.data(), kHashBytes) == 0;
}

}  // namespace shardd::account
