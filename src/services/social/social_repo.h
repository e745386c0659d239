#pragma once

// The social tables (migrations.cpp). Every change runs in one transaction
// that checks the rules (blocks, limits, what already exists) against the
// rows themselves, so the outcome is exact however requests interleave; the
// service also runs graph changes one at a time (social_service.cpp).
//
// Every function runs on a storage thread inside a StoreContext.

#include <cstdint>
#include <vector>

#include "shardd/store/store.h"
#include "shardd/store/write_behind.h"

namespace shardd::social {

struct Limits {
  uint32_t max_friends = 0;
  uint32_t max_pending = 0;
  uint32_t max_blocks = 0;
};

// What friend.request did (a -> b).
enum class RequestOutcome : uint8_t {
  kSent,              // request stored
  kAlreadyPending,    // a already asked b
  kAlreadyFriends,    // nothing to do
  kAccepted,          // b had asked a: they are friends now
  kBlockedByThem,     // b blocked a
  kYouBlocked,        // a blocked b
  kYourFriendsFull,   // a has max_friends
  kTheirFriendsFull,  // b has max_friends (only when accepting b's request)
  kYourPendingFull,   // a has max_pending outgoing requests
  kTheirPendingFull,  // b has max_pending incoming requests
};

// What friend.accept did (a accepts b's request).
enum class AcceptOutcome : uint8_t {
  kAccepted,
  kNoRequest,
  kYourFriendsFull,
  kTheirFriendsFull,
};

// What friend.remove did (a removes b).
enum class RemoveOutcome : uint8_t { kRemovedFriend, kCancelledRequest, kNothing };

enum class BlockOutcome : uint8_t { kNewlyBlocked, kAlreadyBlocked, kFull };

struct FriendRow {
  int64_t id = 0;
  int64_t since_ms = 0;
  int64_t last_seen_ms = 0;  // 0: never seen offline since this was recorded
};
struct Dated {
  int64_t id = 0;
  int64_t ms = 0;
};
// What the service keeps in memory for an online account.
struct Graph {
  std::vector<int64_t> friends;
  std::vector<int64_t> blocks;      // accounts it blocked
  std::vector<int64_t> blocked_by;  // accounts that blocked it
};

class SocialRepo {
 public:
  static store::DbStatus request_friend(store::StoreContext& ctx, int64_t a, int64_t b,
                                        const Limits& limits, int64_t now_ms, RequestOutcome* out);
  static store::DbStatus accept(store::StoreContext& ctx, int64_t a, int64_t b,
                                const Limits& limits, int64_t now_ms, AcceptOutcome* out);
  // Deletes b's request to a; *found false if there was none.
  static store::DbStatus decline(store::StoreContext& ctx, int64_t a, int64_t b, bool* found);
  static store::DbStatus remove(store::StoreContext& ctx, int64_t a, int64_t b, RemoveOutcome* out);
  // Blocking also ends a friendship and drops requests both ways
  // (*were_friends tells whether there was one).
  static store::DbStatus block(store::StoreContext& ctx, int64_t a, int64_t b, const Limits& limits,
                               int64_t now_ms, BlockOutcome* out, bool* were_friends);
  static store::DbStatus unblock(store::StoreContext& ctx, int64_t a, int64_t b, bool* found);

  static store::DbStatus list_friends(store::StoreContext& ctx, int64_t a,
                                      std::vector<FriendRow>* friends, std::vector<Dated>* incoming,
                                      std::vector<Dated>* outgoing);
  static store::DbStatus list_blocks(store::StoreContext& ctx, int64_t a,
                                     std::vector<Dated>* blocks);
  static store::DbStatus load_graph(store::StoreContext& ctx, int64_t a, Graph* out);
  // Whether `by` blocked `who` (uncached; for accounts not in memory).
  static store::DbStatus is_blocked(store::StoreContext& ctx, int64_t by, int64_t who,
                                    bool* blocked);

  // Write-behind flush of social_last_seen: batch of (account id, Unix ms).
  static store::DbStatus write_last_seen(store::DbConnection& c,
                                         const store::WriteBehind::Batch& batch);
};

}  // namespace shardd::social
