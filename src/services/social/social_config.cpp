#include "social_config.h"

namespace shardd::social {

using config::kLive;
using config::kRestart;
using config::Section;

const Section<SocialConfig>& social_section() {
  static const auto s =
      Section<SocialConfig>("social", "friends, blocks and presence")
          .uint("max_friends", &SocialConfig::max_friends, 1, 100000, kLive,
                "friends per account (`friend.request`/`friend.accept` beyond it: `FULL`)")
          .uint("max_pending_requests", &SocialConfig::max_pending_requests, 1, 100000, kLive,
                "friend requests an account may have waiting, sent and received each")
          .uint("max_blocks", &SocialConfig::max_blocks, 1, 100000, kLive,
                "accounts one account may block")
          .uint("max_queued_writes", &SocialConfig::max_queued_writes, 1, 1000000, kRestart,
                "friend and block changes waiting for the database (they run one at a time); "
                "beyond: `UNAVAILABLE`");
  return s;
}

}  // namespace shardd::social
