#include "shardd/core/config.h"

#include <fstream>
#include <gtest/gtest.h>

namespace shardd {
namespace {

struct Parsed {
  Status status;
  Config config;
  std::vector<ConfigError> errors;
};

Parsed parse(std::string_view text, std::vector<std::string> overrides = {}) {
  Parsed p;
  p.status = parse_config(text, "test.toml", overrides, &p.config, &p.errors);
  return p;
}

bool has_error(const Parsed& p, const std::string& key, const std::string& fragment) {
  for (const auto& e : p.errors) {
    if (e.key == key && e.reason.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(ConfigTest, EmptyFileGivesDocumentedDefaults) {
  Parsed p = parse("");
  ASSERT_TRUE(p.status.ok()) << p.status.to_string();
  EXPECT_EQ(p.config.ws.port, 7100u);
  EXPECT_EQ(p.config.tcp.port, 7101u);
  EXPECT_EQ(p.config.admin.port, 7180u);
  EXPECT_EQ(p.config.admin.bind, "127.0.0.1");
  EXPECT_EQ(p.config.ws.path, "/ws");
  EXPECT_EQ(p.config.limits.max_frame_bytes, 65536u);
  EXPECT_EQ(p.config.limits.heartbeat_ms, 5000u);
  EXPECT_EQ(p.config.limits.handshake_timeout_ms, 5000u);
  EXPECT_GE(p.config.io_thread_count(), 1u);
  EXPECT_GE(p.config.logic_thread_count(), 1u);
}

TEST(ConfigTest, ShippedDevConfigIsValid) {
  Config c;
  std::vector<ConfigError> errors;
  Status st = load_config(std::string(SHARDD_SOURCE_DIR) + "/config/shardd.toml", {}, &c, &errors);
  EXPECT_TRUE(st.ok()) << st.to_string() << (errors.empty() ? "" : errors[0].key + errors[0].reason);
}

TEST(ConfigTest, UnknownKeysAreRejectedWithTheirName) {
  Parsed p = parse("[ws]\nprot = 1\n[nosuch]\nx = 1\n");
  EXPECT_FALSE(p.status.ok());
  EXPECT_TRUE(has_error(p, "ws.prot", "unknown key"));
  EXPECT_TRUE(has_error(p, "nosuch", "unknown key"));
}

TEST(ConfigTest, WrongTypesAreRejected) {
  Parsed p = parse("[ws]\nport = \"7100\"\nenabled = 1\n[limits]\nrate_per_sec = \"fast\"\n");
  EXPECT_TRUE(has_error(p, "ws.port", "expected an integer"));
  EXPECT_TRUE(has_error(p, "ws.enabled", "expected true or false"));
  EXPECT_TRUE(has_error(p, "limits.rate_per_sec", "expected a number"));
}

TEST(ConfigTest, OutOfRangeValuesAreRejectedWithTheRange) {
  Parsed p = parse("[ws]\nport = 70000\n[limits]\nmax_frame_bytes = 10\n");
  EXPECT_TRUE(has_error(p, "ws.port", "not in [0, 65535]"));
  EXPECT_TRUE(has_error(p, "limits.max_frame_bytes", "out of range"));
}

TEST(ConfigTest, EnumeratedStringsAreChecked) {
  Parsed p = parse("[log]\nformat = \"xml\"\nlevel = \"loud\"\n");
  EXPECT_TRUE(has_error(p, "log.format", "not one of human, json"));
  EXPECT_TRUE(has_error(p, "log.level", "not one of"));
}

TEST(ConfigTest, PerModuleLogLevels) {
  Parsed ok = parse("[log.levels]\nnet = \"debug\"\n");
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.config.log.levels.at("net"), "debug");
  Parsed bad = parse("[log.levels]\nnetwork = \"debug\"\ngateway = \"chatty\"\n");
  EXPECT_TRUE(has_error(bad, "log.levels.network", "unknown module"));
  EXPECT_TRUE(has_error(bad, "log.levels.gateway", "expected one of"));
}

TEST(ConfigTest, SyntaxErrorsNameTheLine) {
  Parsed p = parse("[ws]\nport = = 3\n");
  ASSERT_FALSE(p.status.ok());
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].reason.find("line 2"), std::string::npos) << p.errors[0].reason;
}

TEST(ConfigTest, AllErrorsAreReportedNotJustTheFirst) {
  Parsed p = parse("[ws]\nport = -1\n[tcp]\nport = 99999\nbogus = true\n");
  EXPECT_EQ(p.errors.size(), 3u);
}

TEST(ConfigTest, OverridesApplyInOrderAndParseTomlValues) {
  Parsed p = parse("[ws]\nport = 1\n", {"ws.port=2", "ws.port=3", "log.level=debug",
                                        "limits.rate_per_sec=2.5", "ws.enabled=false",
                                        "server.name=\"quoted name\"", "log.levels.net=trace",
                                        "ws.allowed_origins=https://a.example,https://b.example"});
  ASSERT_TRUE(p.status.ok()) << (p.errors.empty() ? "" : p.errors[0].key + ": " + p.errors[0].reason);
  EXPECT_EQ(p.config.ws.port, 3u);
  EXPECT_EQ(p.config.log.level, "debug");
  EXPECT_DOUBLE_EQ(p.config.limits.rate_per_sec, 2.5);
  EXPECT_FALSE(p.config.ws.enabled);
  EXPECT_EQ(p.config.server.name, "quoted name");
  EXPECT_EQ(p.config.log.levels.at("net"), "trace");
  ASSERT_EQ(p.config.ws.allowed_origins.size(), 2u);
  EXPECT_EQ(p.config.ws.allowed_origins[1], "https://b.example");
}

TEST(ConfigTest, StringOverrideKeepsNumericLookingText) {
  Parsed p = parse("", {"server.name=123"});
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.config.server.name, "123");
}

TEST(ConfigTest, BadOverridesAreRejected) {
  Parsed p = parse("", {"ws.nope=1", "noequals", "ws.port=abc"});
  EXPECT_TRUE(has_error(p, "ws.nope", "unknown key"));
  EXPECT_TRUE(has_error(p, "noequals", "section.key=value"));
  EXPECT_TRUE(has_error(p, "ws.port", "expected an integer"));
}

TEST(ConfigTest, TlsNeedsReadableCertificateAndKey) {
  Parsed p = parse("[ws]\ntls = true\n");
  EXPECT_TRUE(has_error(p, "tls.cert_file", "required"));
  EXPECT_TRUE(has_error(p, "tls.key_file", "required"));
  Parsed q = parse("[ws]\ntls = true\n[tls]\ncert_file = \"/nonexistent.pem\"\n"
                   "key_file = \"/nonexistent.key\"\n");
  EXPECT_TRUE(has_error(q, "tls.cert_file", "cannot read"));
}

TEST(ConfigTest, PortClashesAreRejected) {
  Parsed p = parse("[tcp]\nport = 7100\n");
  EXPECT_TRUE(has_error(p, "tcp.port", "clashes with ws.port"));
  EXPECT_TRUE(parse("[tcp]\nport = 0\n[ws]\nport = 0\n[admin]\nport = 0\n").status.ok());
}

TEST(ConfigTest, RenderRoundTripsAndHidesTheToken) {
  Parsed p = parse("[admin]\ntoken = \"s3cret\"\n[limits]\nrate_burst = 7\n");
  ASSERT_TRUE(p.status.ok());
  std::string text = render_config(p.config);
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  EXPECT_NE(text.find("rate_burst = 7"), std::string::npos);
  // Every rendered key parses back (token aside, which is a placeholder).
  Parsed again = parse(text);
  ASSERT_TRUE(again.status.ok()) << (again.errors.empty() ? "" : again.errors[0].key);
  EXPECT_EQ(again.config.limits.rate_burst, 7u);
}

TEST(ConfigTest, DiffSeparatesLiveAndRestartKeys) {
  Parsed a = parse("");
  Parsed b = parse("[limits]\nmax_frame_bytes = 1024\n[ws]\nport = 9000\n");
  ConfigDiff d = diff_config(a.config, b.config);
  ASSERT_EQ(d.live.size(), 1u);
  EXPECT_EQ(d.live[0], "limits.max_frame_bytes: 65536 -> 1024");
  ASSERT_EQ(d.restart_required.size(), 1u);
  EXPECT_EQ(d.restart_required[0], "ws.port: 7100 -> 9000");

  Config merged = merge_live(a.config, b.config);
  EXPECT_EQ(merged.limits.max_frame_bytes, 1024u);
  EXPECT_EQ(merged.ws.port, 7100u);
}

TEST(ConfigTest, ScryptNMustBeAPowerOfTwo) {
  // A value that passes the range check but not the KDF: once it stored
  // all-zero hashes, and rehashed live accounts into garbage on SIGHUP.
  Parsed p = parse("", {"auth.scrypt_n=3000"});
  EXPECT_FALSE(p.status.ok());
  EXPECT_TRUE(has_error(p, "auth.scrypt_n", "power of two"));
  EXPECT_TRUE(parse("", {"auth.scrypt_n=4096"}).status.ok());
  Parsed mem = parse("", {"auth.scrypt_n=1048576", "auth.scrypt_r=16"});
  EXPECT_TRUE(has_error(mem, "auth.scrypt_n", "1 GiB"));
}

TEST(ConfigTest, MetricsTokenNeedsAToken) {
  Parsed p = parse("", {"admin.metrics_require_token=true"});
  EXPECT_TRUE(has_error(p, "admin.metrics_require_token", "admin.token"));
  EXPECT_TRUE(parse("", {"admin.metrics_require_token=true", "admin.token=t"}).status.ok());
}

TEST(ConfigTest, WhatIsPrintedIsWhatRuns) {
  // No [[zones]]: the one default zone, in the config itself and in its
  // rendering (check-config used to print zones = [] and then run "main").
  for (const char* text : {"", "zones = []\n"}) {
    Parsed p = parse(text);
    ASSERT_TRUE(p.status.ok()) << p.status.to_string();
    ASSERT_EQ(p.config.zones.size(), 1u);
    EXPECT_EQ(p.config.zones[0].id, "main");
    std::string rendered = render_config(p.config);
    EXPECT_NE(rendered.find("id = 'main'"), std::string::npos) << rendered;
    Parsed again = parse(rendered);
    ASSERT_TRUE(again.status.ok()) << again.status.to_string() << rendered;
    EXPECT_EQ(again.config.zones.size(), 1u);
  }
}

}  // namespace
}  // namespace shardd
