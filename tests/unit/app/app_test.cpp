// The app's assembly: the one list of services, the configuration schema
// and the tables generated from it, checked against the shipped files.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "shardd/app/services.h"
#include "shardd/core/config.h"
#include "shardd_test/source_dir.h"

namespace shardd::app {
namespace {

std::string read(const std::string& rel) {
  std::ifstream in(::shardd::test::source_dir() + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AppTest, ShippedConfigsAreValid) {
  // The production example names certificate files under /etc/shardd that
  // this machine does not have: everything else in it must be valid.
  struct Shipped {
    const char* file;
    std::vector<std::string> overrides;
  };
  for (const Shipped& sh :
       {Shipped{"config/shardd.toml",  // its web_root is relative to the checkout
                {"ws.web_root=" + ::shardd::test::source_dir() + "/clients/web"}},
        Shipped{"config/shardd.production.toml",
                {"ws.tls=false", "tcp.tls=false", "ws.web_root="}}}) {
    const char* file = sh.file;
    Config c;
    std::vector<ConfigError> errors;
    Status st = load_config(::shardd::test::source_dir() + "/" + file, sh.overrides,
                            config_schema(), &c, &errors);
    EXPECT_TRUE(st.ok()) << file << ": " << st.to_string()
                         << (errors.empty() ? "" : " " + errors[0].key + ": " + errors[0].reason);
  }
}

TEST(AppTest, ServicesHaveUniqueNamesAndMigrationsNumberedFromOne) {
  std::set<std::string> names = {"store"};
  for (const auto& def : service_defs()) {
    EXPECT_TRUE(names.insert(def.name).second) << def.name;
    EXPECT_TRUE(def.create) << def.name;
    for (size_t i = 0; i < def.migrations.size(); ++i) {
      EXPECT_EQ(def.migrations[i].version, static_cast<int>(i) + 1) << def.name;
    }
  }
}

// docs/operations.md carries the key table `shardd config-keys` prints.
TEST(AppTest, OperationsMdHasTheGeneratedKeyTable) {
  std::string doc = read("docs/operations.md");
  std::string table = config::describe_markdown(config_schema());
  EXPECT_NE(doc.find(table), std::string::npos)
      << "docs/operations.md is out of date: run scripts/update-config-docs.sh";
}

// Every code of the one table (core's and every service's) is documented.
TEST(AppTest, EveryErrorCodeIsDocumentedInProtocolMd) {
  std::string doc = read("docs/protocol.md");
  ErrorTable table;
  for (const auto& def : service_defs()) {
    for (ErrorCode c : def.errors) EXPECT_TRUE(table.add(def.name, c)) << c.name();
  }
  for (const auto& e : table.entries()) {
    if (e.code == ErrorCode::kOk) continue;
    std::string row = "| `" + std::string(e.code.name()) + "`";
    EXPECT_NE(doc.find(row), std::string::npos) << "not in the error table: " << row;
  }
}

}  // namespace
}  // namespace shardd::app
