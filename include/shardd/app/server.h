#pragma once

#include <string>
#include <vector>

namespace shardd::app {

struct CommandLine {
  std::string config_path = "config/shardd.toml";
  std::vector<std::string> overrides;  // --set key=value, in order
};

// Exit codes of the shardd commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // could not start (port in use, TLS files, ...)
inline constexpr int kExitConfigError = 2;   // invalid configuration or command line

// `shardd` / `shardd run`: serves until SIGTERM/SIGINT, then drains and
// returns kExitOk. Configuration errors are printed (one line per key) and
// return kExitConfigError before anything listens.
int run_server(const CommandLine& cmd);

// `shardd check-config`: validates and prints the effective configuration.
int check_config(const CommandLine& cmd);

// `shardd config-keys`: every configuration key as the Markdown table of
// docs/operations.md (generated from the declarations).
int print_config_keys();

// `shardd version`.
int print_version();

// `shardd migrate`: applies pending schema migrations and prints what ran;
// with `status_only`, lists every migration and whether it is applied.
int migrate(const CommandLine& cmd, bool status_only);

// `shardd backup --out PATH` / `shardd restore --in PATH`.
int backup(const CommandLine& cmd, const std::string& out_path);
int restore(const CommandLine& cmd, const std::string& in_path);

}  // namespace shardd::app
