#pragma once

// Private to the store module: the store's own schema migrations.

#include <vector>

#include "shardd/store/migration.h"

namespace shardd::store {

// The store's own migrations (module "store"), ascending by version.
// Append only: a released migration never changes.
const std::vector<Migration>& store_migrations();

}  // namespace shardd::store
