#pragma once

#include <vector>

#include "shardd/core/config_section.h"
#include "shardd/services/service.h"

namespace shardd::app {

// The one list of game services, in start order: SHARDD_SERVICES in
// src/services/CMakeLists.txt, generated into shardd/app/service_list.h.
// A module's migrations run in this order too, after the store's own.
const std::vector<services::ServiceDef>& service_defs();

// Core's configuration sections plus every service's.
const config::Schema& config_schema();

}  // namespace shardd::app
