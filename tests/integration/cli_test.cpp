// Command line: version, check-config, startup failures.

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "it_common.h"

namespace shardd::test {
namespace {

CommandResult shardd(const std::vector<std::string>& args, Ms timeout = Ms(10000)) {
  std::vector<std::string> argv = {shardd_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

// Writes `toml` to a temp file and runs check-config on it.
CommandResult check_config(const TempDir& dir, const std::string& toml,
                           const std::vector<std::string>& sets = {}) {
  std::string path = dir.write("check.toml", toml);
  std::vector<std::string> args = {"check-config", "-c", path};
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  return shardd(args);
}

bool has_line_starting(const std::string& text, const std::string& prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, prefix.size(), prefix) == 0) return true;
    pos = end + 1;
  }
  return false;
}

TEST(Cli, Version) {
  auto r = shardd({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("shardd 0.1.0", 0), 0u) << r.out;
  for (const char* lib : {"boost ", "OpenSSL ", "SQLite 3.", "MariaDB client ", "hiredis "}) {
    EXPECT_NE(r.out.find(lib), std::string::npos) << lib << " missing from:\n" << r.out;
  }
}

TEST(Cli, CheckConfigOfAnEmptyFilePrintsTheZoneThatRuns) {
  TempDir dir;
  auto r = check_config(dir, "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[[zones]]"), std::string::npos) << r.out;
  EXPECT_TRUE(has_line_starting(r.out, "id = 'main'") || has_line_starting(r.out, "id = \"main\""))
      << r.out;
}

TEST(Cli, CheckConfigPrintsTheEffectiveConfiguration) {
  TempDir dir;
  auto r = check_config(dir, "[server]\nname = \"from-file\"\n[limits]\nheartbeat_ms = 1234\n",
                        {"limits.max_frame_bytes=2048", "ws.allowed_origins=https://a.example"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("[limits]"), std::string::npos) << out;
  EXPECT_TRUE(has_line_starting(out, "name = 'from-file'") ||
              has_line_starting(out, "name = \"from-file\""))
      << out;
  EXPECT_TRUE(has_line_starting(out, "heartbeat_ms = 1234")) << out;
  EXPECT_TRUE(has_line_starting(out, "max_frame_bytes = 2048")) << out;
  // Defaults are filled in.
  EXPECT_TRUE(has_line_starting(out, "rate_burst = 100")) << out;
  EXPECT_TRUE(has_line_starting(out, "heartbeat_misses = 3")) << out;
  EXPECT_NE(out.find("https://a.example"), std::string::npos) << out;
  // The output is itself a valid configuration.
  auto again = check_config(dir, out);
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST(Cli, CheckConfigHidesTheAdminToken) {
  TempDir dir;
  auto r = check_config(dir, "[admin]\ntoken = \"do-not-print-me\"\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("do-not-print-me"), std::string::npos);
}

struct BadConfig {
  const char* name;
  std::string toml;
  std::vector<std::string> sets;
  std::string expected_line;  // prefix of a stderr line
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadConfig& c, std::ostream* os) {
  *os << c.name;
}

class CliBadConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(CliBadConfig, CheckConfigExits2AndNamesTheKey) {
  const BadConfig& c = GetParam();
  TempDir dir;
  auto r = check_config(dir, c.toml, c.sets);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(has_line_starting(r.err, c.expected_line))
      << "expected a line starting with '" << c.expected_line << "' in:\n"
      << r.err;
  EXPECT_EQ(r.out.find("[limits]"), std::string::npos) << "printed a config although invalid";
}

INSTANTIATE_TEST_SUITE_P(
    Errors, CliBadConfig,
    ::testing::Values(
        BadConfig{"unknown_key",
                  "[limits]\nmax_frame_bytez = 100\n",
                  {},
                  "config error: limits.max_frame_bytez: unknown key"},
        BadConfig{"unknown_section", "[nosuch]\nx = 1\n", {}, "config error: nosuch: unknown key"},
        BadConfig{"wrong_type",
                  "[limits]\nheartbeat_ms = \"fast\"\n",
                  {},
                  "config error: limits.heartbeat_ms: expected an integer"},
        BadConfig{"wrong_type_bool",
                  "[ws]\ntls = \"yes\"\n",
                  {},
                  "config error: ws.tls: expected true or false"},
        BadConfig{"out_of_range_low",
                  "[limits]\nmax_frame_bytes = 100\n",
                  {},
                  "config error: limits.max_frame_bytes: out of range"},
        BadConfig{
            "out_of_range_high", "[ws]\nport = 70000\n", {}, "config error: ws.port: out of range"},
        BadConfig{"bad_choice", "[log]\nformat = \"xml\"\n", {}, "config error: log.format:"},
        BadConfig{
            "set_unknown_key", "", {"limits.nope=1"}, "config error: limits.nope: unknown key"},
        BadConfig{"set_wrong_type",
                  "",
                  {"limits.heartbeat_ms=abc"},
                  "config error: limits.heartbeat_ms: expected an integer"},
        BadConfig{"set_out_of_range",
                  "",
                  {"limits.write_queue_bytes=10"},
                  "config error: limits.write_queue_bytes: out of range"},
        BadConfig{"set_malformed", "", {"no-equals-sign"}, "config error: no-equals-sign:"},
        BadConfig{
            "tls_without_cert", "[ws]\ntls = true\n", {}, "config error: tls.cert_file: required"},
        BadConfig{
            "tls_unreadable_cert",
            "",
            {"tcp.tls=true", "tls.cert_file=/nonexistent/c.pem", "tls.key_file=/nonexistent/k.pem"},
            "config error: tls.cert_file: cannot read"},
        BadConfig{"port_clash",
                  "[ws]\nport = 7300\n[tcp]\nport = 7300\n",
                  {},
                  "config error: tcp.port: clashes with ws.port"},
        BadConfig{"not_toml", "[limits\nmax_frame_bytes = ", {}, "config error: "},
        BadConfig{"scrypt_n_not_power_of_two",
                  "",
                  {"auth.scrypt_n=3000"},
                  "config error: auth.scrypt_n: must be a power of two"},
        BadConfig{"metrics_token_without_token",
                  "[admin]\nmetrics_require_token = true\n",
                  {},
                  "config error: admin.metrics_require_token: needs admin.token"},
        BadConfig{"state_soft_over_hard",
                  "",
                  {"limits.state_queue_soft_bytes=300000", "limits.state_queue_hard_bytes=200000"},
                  "config error: limits.state_queue_soft_bytes: must be at most"},
        BadConfig{"state_soft_s_out_of_range",
                  "",
                  {"limits.state_queue_soft_s=0"},
                  "config error: limits.state_queue_soft_s: out of range"}),
    [](const ::testing::TestParamInfo<BadConfig>& p) { return std::string(p.param.name); });

TEST(Cli, CheckConfigReportsEveryError) {
  TempDir dir;
  auto r = check_config(dir, "[limits]\nheartbeat_ms = \"x\"\nmax_frame_bytes = 1\nwat = 2\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has_line_starting(r.err, "config error: limits.heartbeat_ms:")) << r.err;
  EXPECT_TRUE(has_line_starting(r.err, "config error: limits.max_frame_bytes:")) << r.err;
  EXPECT_TRUE(has_line_starting(r.err, "config error: limits.wat:")) << r.err;
}

TEST(Cli, MissingConfigFile) {
  auto r = shardd({"check-config", "-c", "/nonexistent/shardd.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
}

TEST(Cli, UnknownCommandLineOption) {
  auto r = shardd({"--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
}

TEST(Cli, InvalidConfigExits2AndListensNowhere) {
  uint16_t port = pick_free_port();
  ShardOptions o;
  o.config_toml = "[limits]\nheartbeat_ms = -5\n";
  o.overrides = {"ws.port=" + std::to_string(port)};
  Shard shard(o);
  shard.spawn();
  auto code = shard.wait_exit(Ms(5000));
  ASSERT_TRUE(code) << "shardd kept running with an invalid config";
  EXPECT_EQ(*code, 2);
  EXPECT_NE(shard.log().find("config error: limits.heartbeat_ms"), std::string::npos)
      << shard.log();
  EXPECT_FALSE(file_exists(shard.ports_file()));
  EXPECT_FALSE(port_accepts(port)) << "something listens on the configured port";
}

TEST(Cli, PortInUseExits1) {
  for (const char* key : {"ws.port", "tcp.port", "admin.port"}) {
    SCOPED_TRACE(key);
    PortHolder held;
    ShardOptions o;
    o.overrides = {std::string(key) + "=" + std::to_string(held.port())};
    Shard shard(o);
    shard.spawn();
    auto code = shard.wait_exit(Ms(5000));
    ASSERT_TRUE(code) << "shardd kept running although its port is taken";
    EXPECT_EQ(*code, 1);
    EXPECT_NE(shard.log().find("cannot listen"), std::string::npos) << shard.log();
    EXPECT_NE(shard.log().find(std::to_string(held.port())), std::string::npos);
    EXPECT_FALSE(file_exists(shard.ports_file()));
  }
}

TEST(Cli, JsonLogFormat) {
  Shard shard(with_sets({"log.format=json"}));
  shard.start();
  ASSERT_TRUE(FreshClientWorks(shard.ws_port()));
  shard.signal(SIGTERM);
  ASSERT_EQ(shard.wait_exit(Ms(5000)), 0);
  std::string text = shard.log();
  size_t lines = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    ++lines;
    json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not a JSON line: " << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("module") &&
                j.contains("msg"))
        << line;
  }
  EXPECT_GE(lines, 3u);
  EXPECT_NE(text.find("\"msg\":\"ready: ws="), std::string::npos);
}

// The shipped unit passes systemd's own checker with no warning, and its
// sysusers entry parses.
TEST(Cli, SystemdUnitVerifies) {
  TempDir dir;
  std::string unit = read_file(::shardd::test::source_dir() + "/config/systemd/shardd.service");
  for (size_t p; (p = unit.find("/usr/local/bin/shardd")) != std::string::npos;) {
    unit.replace(p, 21, shardd_binary());  // verify wants the executable to exist
  }
  std::string path = dir.write("shardd.service", unit);
  auto r = run_command({"systemd-analyze", "verify", path}, Ms(30000));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "") << "systemd-analyze warned";
  EXPECT_EQ(unit.find("DynamicUser=yes"), std::string::npos)
      << "a dynamic user cannot be in the config file's group";
  auto u = run_command({"systemd-sysusers", "--dry-run",
                        ::shardd::test::source_dir() + "/config/systemd/shardd.sysusers"},
                       Ms(10000));
  EXPECT_EQ(u.exit_code, 0) << u.err;
}

// The documented install (config 0640 root:shardd in a 0750 root:shardd
// directory) is readable by the service user, and by no one else. The
// service user is played by uid/gid numbers no account uses.
TEST(Cli, TheDocumentedConfigPermissionsLetTheServiceReadIt) {
  if (::geteuid() != 0) {
    GTEST_FAIL() << "needs root (as scripts/test.sh runs): it changes file owners";
  }
  TempDir dir;
  const std::string uid = "64123", gid = "64124", stranger = "64125";
  std::string etc = dir.file("etc");
  ASSERT_EQ(::mkdir(etc.c_str(), 0750), 0);
  ASSERT_EQ(::chown(etc.c_str(), 0, 64124), 0);
  std::string conf = etc + "/shardd.toml";
  {
    std::ofstream f(conf);
    f << "[admin]\ntoken = \"secret\"\n";
  }
  ASSERT_EQ(::chmod(conf.c_str(), 0640), 0);
  ASSERT_EQ(::chown(conf.c_str(), 0, 64124), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  auto as = [&](const std::string& u, const std::string& g) {
    return run_command({"setpriv", "--reuid=" + u, "--regid=" + g, "--clear-groups",
                        shardd_binary(), "check-config", "-c", conf},
                       Ms(10000));
  };
  auto service = as(uid, gid);
  EXPECT_EQ(service.exit_code, 0) << service.err;
  auto other = as(stranger, stranger);
  EXPECT_EQ(other.exit_code, 2) << "another user must not read the secrets";
  EXPECT_NE(other.err.find("cannot open"), std::string::npos) << other.err;
}

}  // namespace
}  // namespace shardd::test
