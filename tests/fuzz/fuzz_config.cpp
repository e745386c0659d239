// libFuzzer: the configuration loader. Input: TOML text, then after a NUL
// byte one `--set key=value` override per line. The schema is core's sections
// plus the account module's ([auth], [[zones]]: tables, lists, secrets). A
// configuration that loads must render to TOML that loads again and renders
// the same.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "services/account/account_config.h"
#include "shardd/core/config.h"

namespace {

const shardd::config::Schema& schema() {
  static const shardd::config::Schema s = [] {
    shardd::config::Schema x;
    x.add_module("account");
    x.add(shardd::account::auth_section());
    x.add(shardd::account::zones_section());
    return x;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shardd;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nul = in.find('\0');
  std::string_view toml = in.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) {
    std::string_view rest = in.substr(nul + 1);
    while (!rest.empty() && overrides.size() < 16) {
      auto nl = rest.find('\n');
      overrides.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
    }
  }
  Config cfg;
  std::vector<ConfigError> errors;
  Status st = parse_config(toml, "fuzz.toml", overrides, schema(), &cfg, &errors);
  if (!st.ok()) {
    SHARDD_FUZZ_CHECK(!errors.empty());
    return 0;
  }
  std::string rendered = render_config(cfg);
  Config again;
  std::vector<ConfigError> errors2;
  Status st2 = parse_config(rendered, "rendered.toml", {}, schema(), &again, &errors2);
  if (!st2.ok()) {
    std::fprintf(stderr, "rendered config does not load: %s\n%s\n", st2.message().c_str(),
                 rendered.c_str());
    for (const auto& e : errors2)
      std::fprintf(stderr, "  %s: %s\n", e.key.c_str(), e.reason.c_str());
  }
  SHARDD_FUZZ_CHECK(st2.ok());
  SHARDD_FUZZ_CHECK(render_config(again) == rendered);
  return 0;
}
