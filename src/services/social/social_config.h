#pragma once

// The social module's configuration: [social].

#include <cstdint>
#include <string>
#include <vector>

#include "shardd/core/config_section.h"

namespace shardd::social {

struct SocialConfig {
  uint32_t max_friends = 200;          // friends per account
  uint32_t max_pending_requests = 50;  // friend requests waiting, per account, each direction
  uint32_t max_blocks = 500;           // blocked accounts per account
  uint32_t max_queued_writes = 10000;  // graph changes waiting for the database
  uint32_t party_max_size = 5;
  uint32_t party_invite_ttl_s = 60;
  uint32_t max_parties = 100000;
  uint32_t guild_max_members = 100;
  uint32_t guild_max_pending = 50;              // invites, and join requests, per guild
  uint32_t guild_max_pending_per_account = 20;  // invites received + join requests sent
  std::vector<std::string> guild_name_blocklist;
};

const config::Section<SocialConfig>& social_section();

}  // namespace shardd::social
