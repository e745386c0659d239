// The account module's configuration sections: [auth] and [[zones]].
#include "services/account/account_config.h"

#include <gtest/gtest.h>

#include "shardd/core/config.h"

namespace shardd::account {
namespace {

struct Parsed {
  Status status;
  Config config;
  std::vector<ConfigError> errors;
};

const config::Schema& schema() {
  static const config::Schema s = [] {
    config::Schema x;
    x.add(auth_section());
    x.add(zones_section());
    return x;
  }();
  return s;
}

Parsed parse(std::string_view text, std::vector<std::string> overrides = {}) {
  Parsed p;
  p.status = parse_config(text, "test.toml", overrides, schema(), &p.config, &p.errors);
  return p;
}

bool has_error(const Parsed& p, const std::string& key, const std::string& fragment) {
  for (const auto& e : p.errors) {
    if (e.key == key && e.reason.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(AccountConfigTest, ScryptNMustBeAPowerOfTwo) {
  // A value that passes the range check but not the KDF: once it stored
  // all-zero hashes, and rehashed live accounts into garbage on SIGHUP.
  Parsed p = parse("", {"auth.scrypt_n=3000"});
  EXPECT_FALSE(p.status.ok());
  EXPECT_TRUE(has_error(p, "auth.scrypt_n", "power of two"));
  EXPECT_TRUE(parse("", {"auth.scrypt_n=4096"}).status.ok());
  Parsed mem = parse("", {"auth.scrypt_n=1048576", "auth.scrypt_r=16"});
  EXPECT_TRUE(has_error(mem, "auth.scrypt_n", "1 GiB"));
  EXPECT_EQ(auth_section().of(parse("", {"auth.scrypt_n=4096"}).config).scrypt_n, 4096u);
}

TEST(AccountConfigTest, WhatIsPrintedIsWhatRuns) {
  // No [[zones]]: the one default zone, in the config itself and in its
  // rendering (check-config used to print zones = [] and then run "main").
  for (const char* text : {"", "zones = []\n"}) {
    Parsed p = parse(text);
    ASSERT_TRUE(p.status.ok()) << p.status.to_string();
    const auto& zones = zones_section().of(p.config).zones;
    ASSERT_EQ(zones.size(), 1u);
    EXPECT_EQ(zones[0].id, "main");
    std::string rendered = render_config(p.config);
    EXPECT_NE(rendered.find("id = 'main'"), std::string::npos) << rendered;
    Parsed again = parse(rendered);
    ASSERT_TRUE(again.status.ok()) << again.status.to_string() << rendered;
    EXPECT_EQ(zones_section().of(again.config).zones.size(), 1u);
  }
}

TEST(AccountConfigTest, ZonesAreValidated) {
  Parsed p = parse(R"([[zones]]
id = "Bad Id"
[[zones]]
id = "a"
capacity = 0
[[zones]]
id = "b"
[[zones]]
id = "b"
)");
  EXPECT_TRUE(has_error(p, "zones[0].id", "a-z 0-9"));
  EXPECT_TRUE(has_error(p, "zones[1].capacity", "not in [1, 10000000]"));
  Parsed dup = parse("[[zones]]\nid = \"b\"\n[[zones]]\nid = \"b\"\n");
  EXPECT_TRUE(has_error(dup, "zones[1].id", "duplicate zone id 'b'"));
  Parsed named = parse("[[zones]]\nid = \"b\"\n");
  ASSERT_TRUE(named.status.ok());
  EXPECT_EQ(zones_section().of(named.config).zones[0].name, "b");  // the id when unnamed
}

TEST(AccountConfigTest, ZonesAndAuthReloadLive) {
  Parsed a = parse("[[zones]]\nid = \"a\"\ncapacity = 10\n");
  Parsed b = parse(
      "[auth]\ntoken_ttl_s = 60\ncrypto_threads = 4\n[[zones]]\nid = \"a\"\ncapacity = "
      "20\nmaintenance = true\n[[zones]]\nid = \"b\"\n");
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  ConfigDiff d = diff_config(a.config, b.config);
  EXPECT_FALSE(d.live.empty());
  ASSERT_EQ(d.restart_required.size(), 1u);
  EXPECT_EQ(d.restart_required[0], "auth.crypto_threads: 2 -> 4");
  Config merged = merge_live(a.config, b.config);
  const auto& zones = zones_section().of(merged).zones;
  ASSERT_EQ(zones.size(), 2u);
  EXPECT_EQ(zones[0].capacity, 20u);
  EXPECT_TRUE(zones[0].maintenance);
  EXPECT_EQ(auth_section().of(merged).token_ttl_s, 60u);
  EXPECT_EQ(auth_section().of(merged).crypto_threads, 2u);
}

}  // namespace
}  // namespace shardd::account
