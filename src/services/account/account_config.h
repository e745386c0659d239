#pragma once

// The account module's configuration: [auth] and [[zones]].

#include <cstdint>
#include <string>
#include <vector>

#include "shardd/core/config_section.h"

namespace shardd::account {

struct AuthConfig {
  std::string kdf = "scrypt";  // scrypt | pbkdf2 (parameters are stored with each hash)
  uint32_t scrypt_n = 32768;   // power of two
  uint32_t scrypt_r = 8;
  uint32_t scrypt_p = 1;
  uint32_t pbkdf2_iterations = 600000;
  uint32_t crypto_threads = 2;  // password hashing pool
  uint32_t token_ttl_s = 7 * 24 * 3600;
  uint32_t account_attempts_per_min = 5;
  uint32_t ip_attempts_per_min = 20;
  uint32_t register_per_ip_per_min = 10;
  uint32_t max_tokens_per_account = 10;
  uint32_t display_name_cooldown_s = 86400;
  std::vector<std::string> name_blocklist;
};

struct ZoneConfig {
  std::string id;
  std::string name;  // "": the id
  uint32_t capacity = 1000;
  std::string map = "world";
  bool maintenance = false;
};

struct ZonesConfig {
  std::vector<ZoneConfig> zones;  // none configured: the one zone "main"
};

const config::Section<AuthConfig>& auth_section();
const config::Section<ZonesConfig>& zones_section();

}  // namespace shardd::account
