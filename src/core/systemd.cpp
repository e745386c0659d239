#include "shardd/core/systemd.h"

#include <string>
#include <systemd/sd-daemon.h>

namespace shardd::systemd {

void notify_ready() { sd_notify(0, "READY=1"); }
void notify_stopping() { sd_notify(0, "STOPPING=1"); }
void notify_reloading() { sd_notify(0, "RELOADING=1"); }
void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }

void notify_status(std::string_view status) {
  std::string msg = "STATUS=" + std::string(status);
  sd_notify(0, msg.c_str());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

}  // namespace shardd::systemd
