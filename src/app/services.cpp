#include "shardd/app/services.h"

#include <cstdlib>
#include <iostream>

#include "shardd/app/service_list.h"  // generated from src/services/CMakeLists.txt

namespace shardd::app {

const std::vector<services::ServiceDef>& service_defs() {
  static const std::vector<services::ServiceDef> defs = make_service_defs();
  return defs;
}

const config::Schema& config_schema() {
  static const config::Schema schema = [] {
    config::Schema s;
    for (const auto& def : service_defs()) {
      s.add_module(def.name);
      for (const config::SectionBase* section : def.config) {
        if (!s.add(*section)) {
          // Two modules claiming one section is a build mistake, found by
          // the first test that loads a configuration.
          std::cerr << "config section [" << section->name() << "] of " << def.name
                    << " is declared twice\n";
          std::abort();
        }
      }
    }
    return s;
  }();
  return schema;
}

}  // namespace shardd::app
