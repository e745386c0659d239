#pragma once

#include "shardd/core/log.h"

namespace shardd::social {

// The social module's logger ("social").
inline spdlog::logger& lg() {
  static spdlog::logger& l = log::get("social");
  return l;
}

}  // namespace shardd::social
