#pragma once

#include <memory>
#include <spdlog/spdlog.h>
#include <string>
#include <string_view>

#include "shardd/core/config.h"

namespace shardd::log {

// One spdlog logger per module (core's modules, see log_modules(), and each
// service's, by its module name), all writing to one stderr sink in the
// configured format. Thread-safe after init().

// Creates the sink and the module loggers. Call once, before any thread starts.
void init(const LogConfig& config);

// Applies new levels (live reload). Thread-safe.
void apply_levels(const LogConfig& config);

// The logger of a module (created on first use, with its configured level).
// The returned reference stays valid for the life of the process.
spdlog::logger& get(std::string_view module);

// Flushes every sink (before exit).
void flush();

}  // namespace shardd::log
