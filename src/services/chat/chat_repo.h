#pragma once

// The chat tables (migrations.cpp) and the recent window of each channel in
// the cache (a capped list "chatwin:<channel>", a Redis list with Redis).
//
// The chat service runs every write and every history read of this file one
// at a time, in order (its log queue), so a history read sees every message
// that was answered before it and the cached window never has a gap (see
// StoreContext::list_append_after_commit).
//
// Every function runs on a storage thread inside a StoreContext.

#include <cstdint>
#include <string>
#include <vector>

#include "shardd/store/store.h"

namespace shardd::chat {

struct StoredMessage {
  int64_t id = 0;
  std::string channel;    // storage key ("world", "zone:eu-1", "c:trade", "w:3:9", "system")
  int64_t sender_id = 0;  // 0: the server (system messages)
  std::string sender_name;
  int64_t recipient_id = 0;  // whispers
  std::string body;
  int64_t ts = 0;
};

struct Mute {
  int64_t account_id = 0;
  std::string channel;  // "" = every channel
  int64_t until_ms = 0;
  std::string reason;
};

class ChatRepo {
 public:
  // Writes a batch (one transaction; a message already written is skipped,
  // so a batch can be written again) and appends each channel's messages to
  // its cached window (kept at `window` entries), or, with `window` 0, drops
  // the windows of the channels it touched.
  static store::DbStatus insert(store::StoreContext& ctx, const std::vector<StoredMessage>& batch,
                                size_t window);
  // Up to `limit` messages of `channel` older than `before` (0: the newest),
  // oldest first; *more when older ones exist. Served from the cached window
  // when it holds them (rebuilding it from the database after a miss).
  static store::DbStatus history(store::StoreContext& ctx, const std::string& channel,
                                 int64_t before, size_t limit, size_t window,
                                 std::vector<StoredMessage>* out, bool* more);
  // Marks a message deleted (history no longer returns it) and drops the
  // channel's cached window. *channel: its channel key ("" if not found);
  // *recipient: a whisper's recipient (0 for other messages).
  static store::DbStatus remove(store::StoreContext& ctx, int64_t id, std::string* channel,
                                int64_t* recipient);

  // A whisper to an offline player, durable: FULL-style refusal (*full) when
  // the recipient already has `max` waiting.
  static store::DbStatus store_offline(store::StoreContext& ctx, const StoredMessage& m,
                                       uint32_t max, size_t window, bool* full);
  // The recipient's waiting whispers, in order.
  static store::DbStatus offline(store::StoreContext& ctx, int64_t recipient,
                                 std::vector<StoredMessage>* out);
  // Clears the recipient's waiting whispers up to message id `upto` (shown).
  static store::DbStatus drop_offline(store::StoreContext& ctx, int64_t recipient, int64_t upto);

  static store::DbStatus joined(store::StoreContext& ctx, int64_t account,
                                std::vector<std::string>* channels);
  // *full when the account is already in `max` channels.
  static store::DbStatus join(store::StoreContext& ctx, int64_t account, const std::string& name,
                              int64_t now_ms, uint32_t max, bool* full);
  static store::DbStatus leave(store::StoreContext& ctx, int64_t account, const std::string& name,
                               bool* found);

  static store::DbStatus set_mute(store::StoreContext& ctx, const Mute& m);
  static store::DbStatus clear_mute(store::StoreContext& ctx, int64_t account,
                                    const std::string& channel, bool* found);
  // Mutes in force at `now_ms` (of one account, or all when account is 0).
  static store::DbStatus mutes(store::StoreContext& ctx, int64_t account, int64_t now_ms,
                               std::vector<Mute>* out);

  static store::DbStatus set_frozen(store::StoreContext& ctx, const std::string& channel,
                                    bool frozen, int64_t now_ms);
  static store::DbStatus frozen(store::StoreContext& ctx, std::vector<std::string>* out);

  static store::DbStatus audit(store::StoreContext& ctx, int64_t now_ms, const std::string& action,
                               const std::string& target, const std::string& detail);

  // Deletes up to `limit` messages (and waiting whispers) older than
  // `cutoff_ms`; *deleted counts the messages.
  static store::DbStatus purge(store::StoreContext& ctx, int64_t cutoff_ms, int64_t limit,
                               uint64_t* deleted);
  static store::DbStatus max_id(store::StoreContext& ctx, int64_t* out);
};

}  // namespace shardd::chat
