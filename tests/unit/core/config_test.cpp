#include "shardd/core/config.h"

#include <algorithm>
#include <fstream>
#include <gtest/gtest.h>

namespace shardd {
namespace {

struct Parsed {
  Status status;
  Config config;
  std::vector<ConfigError> errors;
};

// A module's section, declared the way services declare theirs.
struct WidgetConfig {
  uint32_t size = 3;
  std::string mode = "fast";
  std::string secret_key;
  struct Part {
    std::string id;
    uint32_t weight = 1;
  };
  std::vector<Part> parts;
};

const config::Section<WidgetConfig::Part>& part_section() {
  static const auto s =
      config::Section<WidgetConfig::Part>("part", "one part")
          .text("id", &WidgetConfig::Part::id, 1, 8, config::kLive, "part id")
          .uint("weight", &WidgetConfig::Part::weight, 1, 100, config::kLive, "weight")
          .check([](const WidgetConfig::Part& p, config::Errors& e) {
            if (p.id.empty()) e.add("id", "required");
          });
  return s;
}

const config::Section<WidgetConfig>& widget_section() {
  static const auto s =
      config::Section<WidgetConfig>("widget", "a test module")
          .uint("size", &WidgetConfig::size, 1, 10, config::kLive, "how big")
          .one_of("mode", &WidgetConfig::mode, {"fast", "slow"}, config::kRestart, "how")
          .text("secret_key", &WidgetConfig::secret_key, 0, 64, config::kLive, "a secret")
          .secret()
          .tables("parts", &WidgetConfig::parts, part_section(), 4, config::kLive, "parts")
          .check([](const WidgetConfig& c, config::Errors& e) {
            if (c.size > 5 && c.mode == "fast") e.add("size", "fast widgets are at most 5");
          })
          .finish_with([](WidgetConfig& c) {
            if (c.parts.empty()) c.parts.push_back({"default", 1});
          });
  return s;
}

const config::Schema& widget_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    s.add(widget_section());
    s.add_module("widget");
    return s;
  }();
  return schema;
}

Parsed parse(std::string_view text, std::vector<std::string> overrides = {},
             const config::Schema& schema = config::Schema()) {
  Parsed p;
  p.status = parse_config(text, "test.toml", overrides, schema, &p.config, &p.errors);
  return p;
}

Parsed parse_w(std::string_view text, std::vector<std::string> overrides = {}) {
  return parse(text, std::move(overrides), widget_schema());
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
  // A service's module is known only when the schema has the service.
  EXPECT_TRUE(has_error(parse("[log.levels]\nwidget = \"debug\"\n"), "log.levels.widget",
                        "unknown module"));
  EXPECT_TRUE(parse_w("[log.levels]\nwidget = \"debug\"\n").status.ok());
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

// Found by fuzz_config: an override with invalid UTF-8 used to load and then
// render a document that was not TOML.
TEST(ConfigTest, OverridesMustBeUtf8) {
  Parsed p = parse("", {"ws.allowed_origins=\xff\xfe.net", "server.name=caf\xc3\xa9"});
  EXPECT_FALSE(p.status.ok());
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].reason.find("not valid UTF-8"), std::string::npos);
  Parsed ok = parse("", {"server.name=caf\xc3\xa9"});
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.config.server.name, "caf\xc3\xa9");
}

// Found by fuzz_config (UBSan): a number far out of range, or inf/nan, was
// cast to a 64-bit integer while writing the error message.
TEST(ConfigTest, HugeAndNonFiniteNumbersAreOutOfRange) {
  for (const char* v : {"-221e24", "1e300", "inf", "-inf", "nan"}) {
    Parsed p = parse(std::string("[cache]\nttl_jitter = ") + v + "\n");
    EXPECT_TRUE(has_error(p, "cache.ttl_jitter", "out of range")) << v;
  }
  Parsed q = parse("", {"cache.ttl_jitter=-221e24"});
  EXPECT_TRUE(has_error(q, "cache.ttl_jitter", "out of range"));
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

TEST(ConfigTest, MetricsTokenNeedsAToken) {
  Parsed p = parse("", {"admin.metrics_require_token=true"});
  EXPECT_TRUE(has_error(p, "admin.metrics_require_token", "admin.token"));
  EXPECT_TRUE(parse("", {"admin.metrics_require_token=true", "admin.token=t"}).status.ok());
}

TEST(ConfigTest, ModuleSectionsAreKnownOnlyThroughTheSchema) {
  // Core does not know [widget]: without its declaration it is an unknown key.
  EXPECT_TRUE(has_error(parse("[widget]\nsize = 2\n"), "widget", "unknown key"));
  Parsed p = parse_w("[widget]\nsize = 2\n[[widget.parts]]\nid = \"a\"\nweight = 7\n");
  ASSERT_TRUE(p.status.ok()) << p.status.to_string() << (p.errors.empty() ? "" : p.errors[0].key);
  const WidgetConfig& w = widget_section().of(p.config);
  EXPECT_EQ(w.size, 2u);
  EXPECT_EQ(w.mode, "fast");
  ASSERT_EQ(w.parts.size(), 1u);
  EXPECT_EQ(w.parts[0].weight, 7u);
  // Not in the file: the declared defaults, and finish_with's derived ones.
  Parsed d = parse_w("");
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(widget_section().of(d.config).size, 3u);
  ASSERT_EQ(widget_section().of(d.config).parts.size(), 1u);
  EXPECT_EQ(widget_section().of(d.config).parts[0].id, "default");
}

TEST(ConfigTest, ModuleKeysAreCheckedLikeCoreKeys) {
  Parsed p = parse_w("[widget]\nsize = 11\nmode = \"odd\"\nnope = 1\n");
  EXPECT_TRUE(has_error(p, "widget.size", "not in [1, 10]"));
  EXPECT_TRUE(has_error(p, "widget.mode", "is not one of fast, slow"));
  EXPECT_TRUE(has_error(p, "widget.nope", "unknown key"));
  // Tables: each element's keys and checks, with the element named.
  Parsed t = parse_w("[[widget.parts]]\nweight = 500\n[[widget.parts]]\nid = \"b\"\nx = 1\n");
  EXPECT_TRUE(has_error(t, "widget.parts[0].weight", "not in [1, 100]"));
  EXPECT_TRUE(has_error(t, "widget.parts[1].x", "unknown key"));
  Parsed missing = parse_w("[[widget.parts]]\nweight = 5\n");
  EXPECT_TRUE(has_error(missing, "widget.parts[0].id", "required"));
  // The section's cross-key check.
  EXPECT_TRUE(has_error(parse_w("", {"widget.size=7"}), "widget.size", "at most 5"));
  EXPECT_TRUE(parse_w("", {"widget.size=7", "widget.mode=slow"}).status.ok());
  // --set reaches module keys; tables cannot be set that way.
  EXPECT_TRUE(has_error(parse_w("", {"widget.parts=1"}), "widget.parts", "--set"));
  EXPECT_TRUE(has_error(parse_w("", {"widget.nope=1"}), "widget.nope", "unknown key"));
}

TEST(ConfigTest, ModuleSectionsRenderDiffAndMergeLive) {
  Parsed a = parse_w("[widget]\nsecret_key = \"hunter2\"\n");
  ASSERT_TRUE(a.status.ok());
  std::string text = render_config(a.config);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("[widget]"), std::string::npos) << text;
  Parsed again = parse_w(text);
  ASSERT_TRUE(again.status.ok()) << (again.errors.empty() ? "" : again.errors[0].key);

  Parsed b = parse_w(
      "[widget]\nsize = 4\nmode = \"slow\"\nsecret_key = \"x\"\n"
      "[[widget.parts]]\nid = \"p\"\n");
  ConfigDiff d = diff_config(a.config, b.config);
  auto has = [](const std::vector<std::string>& v, const std::string& line) {
    return std::find(v.begin(), v.end(), line) != v.end();
  };
  EXPECT_TRUE(has(d.live, "widget.size: 3 -> 4"));
  EXPECT_TRUE(has(d.live, "widget.secret_key: (hidden) -> (hidden)"));
  EXPECT_TRUE(has(d.restart_required, "widget.mode: 'fast' -> 'slow'"))
      << (d.restart_required.empty() ? "" : d.restart_required[0]);
  Config merged = merge_live(a.config, b.config);
  const WidgetConfig& m = widget_section().of(merged);
  EXPECT_EQ(m.size, 4u);        // live
  EXPECT_EQ(m.mode, "fast");    // needs a restart
  ASSERT_EQ(m.parts.size(), 1u);
  EXPECT_EQ(m.parts[0].id, "p");  // live tables too
  // The running configuration was not touched (values are not shared).
  EXPECT_EQ(widget_section().of(a.config).size, 3u);
}

TEST(ConfigTest, KeyTableComesFromTheDeclarations) {
  std::string md = config::describe_markdown(widget_schema());
  EXPECT_NE(md.find("| `ws.port` | int | 7100 | 0–65535 | no |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `widget.size` | int | 3 | 1–10 | yes | how big |"), std::string::npos);
  EXPECT_NE(md.find("| `[[widget.parts]]` | tables |"), std::string::npos);
  EXPECT_NE(md.find("| `widget.parts.weight` | int | 1 | 1–100 | yes | weight |"),
            std::string::npos);
  // A section name can only be declared once.
  config::Schema s;
  EXPECT_TRUE(s.add(widget_section()));
  EXPECT_FALSE(s.add(widget_section()));
  EXPECT_FALSE(s.add(config::Section<WidgetConfig>("limits", "clash")));
}

}  // namespace
}  // namespace shardd
