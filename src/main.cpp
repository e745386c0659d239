#include <CLI/CLI.hpp>

#include "shardd/app/server.h"
#include "shardd/version.h"

int main(int argc, char** argv) {
  shardd::app::CommandLine cmd;
  CLI::App app{"shardd: MMORPG server daemon"};
  app.set_version_flag("--version", std::string(shardd::kServerName) + " " + shardd::kVersion);
  app.add_option("-c,--config", cmd.config_path, "TOML configuration file")
      ->capture_default_str();
  app.add_option("--set", cmd.overrides, "Override a setting: section.key=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->take_all();
  auto* run = app.add_subcommand("run", "Serve players (the default)");
  auto* check = app.add_subcommand("check-config", "Validate and print the effective configuration");
  auto* version = app.add_subcommand("version", "Print version and build information");
  for (auto* sub : {run, check, version}) sub->fallthrough();
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : shardd::app::kExitConfigError;
  }
  if (*version) return shardd::app::print_version();
  if (*check) return shardd::app::check_config(cmd);
  return shardd::app::run_server(cmd);
}
