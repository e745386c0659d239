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
                "friend and block changes waiting for the database, and guild changes (a "
                "queue each; they run one at a time); beyond: `UNAVAILABLE`")
          .uint("party_max_size", &SocialConfig::party_max_size, 2, 100, kLive,
                "members of one party (pending invites count too)")
          .uint("party_invite_ttl_s", &SocialConfig::party_invite_ttl_s, 5, 86400, kLive,
                "how long a party invite can be accepted")
          .uint("max_parties", &SocialConfig::max_parties, 1, 10000000, kLive,
                "parties at once; `party.create` beyond: `FULL`")
          .uint("guild_max_members", &SocialConfig::guild_max_members, 1, 100000, kLive,
                "members of one guild")
          .uint("guild_max_pending", &SocialConfig::guild_max_pending, 1, 100000, kLive,
                "invites, and join requests, waiting per guild")
          .uint("guild_max_pending_per_account", &SocialConfig::guild_max_pending_per_account, 1,
                100000, kLive,
                "guild invites received and join requests sent that one account may have "
                "waiting (together)")
          .list("guild_name_blocklist", &SocialConfig::guild_name_blocklist, 4096, kLive,
                "words no guild name may contain (ignoring case)");
  return s;
}

}  // namespace shardd::social
