#pragma once

// Password hashing and secure tokens for the account service.

#include <cstdint>
#include <string>
#include <string_view>

#include "account_config.h"
#include "shardd/core/status.h"

namespace shardd::account {

// Hashes with the configured KDF and a fresh 16-byte salt. The result carries
// the algorithm and its parameters so they can be raised later:
//   scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>
//   pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>
// Slow by design (tens of milliseconds): run it on the crypto pool only.
// Fails (INTERNAL, nothing in *out) for parameters the KDF cannot use (scrypt
// N not a power of two, ...), when the random generator fails (UNAVAILABLE) or
// when the derivation fails: a failed derivation is never stored as a hash.
Status hash_password(std::string_view password, const AuthConfig& config, std::string* out);

// hash_password, then verify_password of the result: the hash is only
// returned if it verifies (guards a rehash at login against anything that
// would lock the player out).
Status hash_password_checked(std::string_view password, const AuthConfig& config,
                             std::string* out);

// Checks `password` against an encoded hash in constant time (for the hash
// comparison). *needs_rehash is set when the hash was made with other
// parameters than `config` (rehash after a successful login). A malformed
// encoding verifies as false.
bool verify_password(std::string_view password, std::string_view encoded, const AuthConfig& config,
                     bool* needs_rehash);

}  // namespace shardd::account
