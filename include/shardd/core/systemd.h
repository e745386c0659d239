#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace shardd::systemd {

// Thin wrappers over sd_notify(3). All are no-ops when NOTIFY_SOCKET is unset
// (not started by systemd). Thread-safe.
void notify_ready();
void notify_stopping();
void notify_reloading();
void notify_status(std::string_view status);
void notify_watchdog();

// The watchdog interval systemd expects pings within (WatchdogSec=), if enabled
// for this process.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace shardd::systemd
