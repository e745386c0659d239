#pragma once

#include <vector>

#include "shardd/store/migration.h"

namespace shardd::social {

// Version 1: friends, friend requests, blocks, last seen. Version 2: guilds.
const std::vector<store::Migration>& migrations();

}  // namespace shardd::social
