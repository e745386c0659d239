#pragma once

#include <vector>

#include "shardd/store/migration.h"

namespace shardd::chat {

// Version 1: messages, offline whispers, joined channels, mutes, frozen
// channels, the moderation audit log.
const std::vector<store::Migration>& migrations();

}  // namespace shardd::chat
