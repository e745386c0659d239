#include "account_config.h"

#include <set>

namespace shardd::account {

using config::kLive;
using config::kRestart;
using config::Section;

const Section<AuthConfig>& auth_section() {
  static const auto s =
      Section<AuthConfig>("auth", "accounts and login")
          .one_of("kdf", &AuthConfig::kdf, {"scrypt", "pbkdf2"}, kLive,
                  "password hash for new passwords; old hashes are upgraded at the next "
                  "successful login")
          .uint("scrypt_n", &AuthConfig::scrypt_n, 1024, 1048576, kLive,
                "scrypt cost N, a power of two (32768 with r=8: ~32 MiB and tens of ms per "
                "hash); 128·N·r must be ≤ 1 GiB")
          .uint("scrypt_r", &AuthConfig::scrypt_r, 1, 32, kLive, "scrypt block size")
          .uint("scrypt_p", &AuthConfig::scrypt_p, 1, 16, kLive, "scrypt parallelism")
          .uint("pbkdf2_iterations", &AuthConfig::pbkdf2_iterations, 1000, 10000000, kLive,
                "PBKDF2-HMAC-SHA256 cost")
          .uint("crypto_threads", &AuthConfig::crypto_threads, 1, 64, kRestart,
                "password hashing pool (at most 256 hashes queued; beyond: `UNAVAILABLE`)")
          .uint("token_ttl_s", &AuthConfig::token_ttl_s, 1, 31536000, kLive,
                "lifetime of login tokens (`auth.token`)")
          .uint("account_attempts_per_min", &AuthConfig::account_attempts_per_min, 1, 100000, kLive,
                "failed logins per account name per minute before `RATE_LIMITED`")
          .uint("ip_attempts_per_min", &AuthConfig::ip_attempts_per_min, 1, 100000, kLive,
                "failed logins per source address per minute")
          .uint("register_per_ip_per_min", &AuthConfig::register_per_ip_per_min, 1, 100000, kLive,
                "registrations per source address per minute")
          .uint("max_tokens_per_account", &AuthConfig::max_tokens_per_account, 1, 1000, kLive,
                "live login tokens per account; a new login revokes the oldest beyond this")
          .uint("display_name_cooldown_s", &AuthConfig::display_name_cooldown_s, 0, 31536000, kLive,
                "least time between two `account.set_display_name` of an account")
          .list("name_blocklist", &AuthConfig::name_blocklist, 4096, kLive,
                "words no display name may contain (ignoring case)")
          .check([](const AuthConfig& c, config::Errors& e) {
            if ((c.scrypt_n & (c.scrypt_n - 1)) != 0) {
              e.add("scrypt_n", "must be a power of two (1024, 2048, ..., 1048576), not " +
                                    std::to_string(c.scrypt_n));
            } else if (uint64_t{128} * c.scrypt_n * c.scrypt_r > (uint64_t{1} << 30)) {
              e.add("scrypt_n",
                    "128 x scrypt_n x scrypt_r bytes (memory per hash) must be at most 1 GiB");
            }
          });
  return s;
}

namespace {

const Section<ZoneConfig>& zone_section() {
  static const auto s =
      Section<ZoneConfig>("zone", "one zone")
          .text("id", &ZoneConfig::id, 1, 32, kLive, "1–32 of `a-z 0-9 _ -`, unique")
          .text("name", &ZoneConfig::name, 0, 64, kLive, "shown to players; empty = the id")
          .uint("capacity", &ZoneConfig::capacity, 1, 10000000, kLive, "most players")
          .text("map", &ZoneConfig::map, 1, 64, kLive, "the map it runs")
          .flag("maintenance", &ZoneConfig::maintenance, kLive,
                "closed to new players (`MAINTENANCE`); players inside stay")
          .check([](const ZoneConfig& z, config::Errors& e) {
            bool valid = !z.id.empty();
            for (char c : z.id) {
              valid = valid &&
                      ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
            }
            if (!valid) e.add("id", "must be 1-32 characters of a-z 0-9 _ -");
          });
  return s;
}

}  // namespace

const Section<ZonesConfig>& zones_section() {
  static const auto s =
      Section<ZonesConfig>("zones", "zones players choose from")
          .tables("", &ZonesConfig::zones, zone_section(), 1024, kLive,
                  "the zones; with none (or `zones = []`) the one zone `main` runs. SIGHUP "
                  "applies capacity, maintenance, names and new zones live; a zone removed "
                  "from the file stays until restart, closed to new players")
          .default_doc("one zone `main`")
          .check([](const ZonesConfig& c, config::Errors& e) {
            std::set<std::string> seen;
            for (size_t i = 0; i < c.zones.size(); ++i) {
              if (!seen.insert(c.zones[i].id).second) {
                e.add("[" + std::to_string(i) + "].id",
                      "duplicate zone id '" + c.zones[i].id + "'");
              }
            }
          })
          .finish_with([](ZonesConfig& c) {
            if (c.zones.empty())
              c.zones.push_back(ZoneConfig{"main", "Main", 1000, "world", false});
            for (auto& z : c.zones) {
              if (z.name.empty()) z.name = z.id;
            }
          });
  return s;
}

}  // namespace shardd::account
