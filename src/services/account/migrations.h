#pragma once

#include <vector>

#include "shardd/store/migration.h"

namespace shardd::account {

// Versions 1 (accounts, tokens) and 2 (display names, deletion).
const std::vector<store::Migration>& migrations();

}  // namespace shardd::account
