#include <CLI/CLI.hpp>

#include "shardd/app/server.h"
#include "shardd/version.h"

#ifdef SHARDD_TEST_FAULTS
#include "test_faults.h"
#endif

int main(int argc, char** argv) {
  shardd::app::CommandLine cmd;
  CLI::App app{"shardd: MMORPG server daemon"};
  app.set_version_flag("--version", std::string(shardd::kServerName) + " " + shardd::kVersion);
  app.add_option("-c,--config", cmd.config_path, "TOML configuration file")->capture_default_str();
  app.add_option("--set", cmd.overrides, "Override a setting: section.key=value (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  auto* run = app.add_subcommand("run", "Serve players (the default)");
  auto* check =
      app.add_subcommand("check-config", "Validate and print the effective configuration");
  auto* version = app.add_subcommand("version", "Print version and build information");
  auto* keys = app.add_subcommand("config-keys", "Print every configuration key (Markdown table)");
  auto* migrate = app.add_subcommand("migrate", "Apply pending schema migrations");
  bool migrate_status = false;
  migrate->add_flag("--status", migrate_status, "List migrations and whether each is applied");
  auto* backup = app.add_subcommand("backup", "Write a consistent backup of the database");
  std::string backup_out;
  backup->add_option("--out", backup_out, "Backup file to write")->required();
  auto* restore = app.add_subcommand("restore", "Load a backup into an empty database");
  std::string restore_in;
  restore->add_option("--in", restore_in, "Backup file to read")->required();
  for (auto* sub : {run, check, version, keys, migrate, backup, restore}) sub->fallthrough();
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : shardd::app::kExitConfigError;
  }
  if (*version) return shardd::app::print_version();
  if (*keys) return shardd::app::print_config_keys();
  if (*check) return shardd::app::check_config(cmd);
  if (*migrate) return shardd::app::migrate(cmd, migrate_status);
  if (*backup) return shardd::app::backup(cmd, backup_out);
  if (*restore) return shardd::app::restore(cmd, restore_in);
#ifdef SHARDD_TEST_FAULTS
  shardd::plant_test_fault_from_env();
#endif
  return shardd::app::run_server(cmd);
}
