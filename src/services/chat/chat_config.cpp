#include "chat_config.h"

namespace shardd::chat {

using config::kLive;
using config::kRestart;
using config::Section;

const Section<ChatConfig>& chat_section() {
  static const auto s =
      Section<ChatConfig>("chat", "chat channels, history, text rules, flood control")
          .uint("max_chars", &ChatConfig::max_chars, 1, 4000, kLive,
                "longest message in characters (code points), after cleaning")
          .one_of("profanity", &ChatConfig::profanity, {"mask", "reject", "off"}, kLive,
                  "words from `wordlist_file` in a message: replaced by `*` (`mask`), the "
                  "message refused with `TEXT_REJECTED` (`reject`), or not checked")
          .text("wordlist_file", &ChatConfig::wordlist_file, 0, 4096, kLive,
                "the profanity word list (UTF-8, one per line, `#` comments; `*` at an end "
                "matches inside words); read at start and on SIGHUP; empty: no words")
          .list("moderators", &ChatConfig::moderators, 1000, kLive,
                "usernames that may speak in frozen channels")
          .uint("history_window", &ChatConfig::history_window, 1, 10000, kLive,
                "recent messages per channel kept in the cache (a Redis list with Redis) for "
                "`chat.history`; older pages come from the database")
          .uint("retention_days", &ChatConfig::retention_days, 1, 36500, kLive,
                "messages older than this are deleted (hourly job)")
          .uint("max_offline_whispers", &ChatConfig::max_offline_whispers, 0, 100000, kLive,
                "whispers kept for an offline player; beyond: `FULL`")
          .uint("max_joined_channels", &ChatConfig::max_joined_channels, 0, 1000, kLive,
                "custom channels one account may be in")
          .uint("max_channel_members", &ChatConfig::max_channel_members, 1, 1000000, kLive,
                "members of one custom channel")
          .uint("max_channels", &ChatConfig::max_channels, 10, 10000000, kRestart,
                "live channels at once (world, zones, custom); a new custom channel beyond: "
                "`FULL`")
          .uint("world_per_min", &ChatConfig::world_per_min, 1, 100000, kLive,
                "messages per minute one player may send to `world` (token bucket)")
          .uint("world_burst", &ChatConfig::world_burst, 1, 10000, kLive, "its burst")
          .uint("zone_per_min", &ChatConfig::zone_per_min, 1, 100000, kLive,
                "messages per minute to `zone`")
          .uint("zone_burst", &ChatConfig::zone_burst, 1, 10000, kLive, "its burst")
          .uint("custom_per_min", &ChatConfig::custom_per_min, 1, 100000, kLive,
                "messages per minute to each custom channel")
          .uint("custom_burst", &ChatConfig::custom_burst, 1, 10000, kLive, "its burst")
          .uint("whisper_per_min", &ChatConfig::whisper_per_min, 1, 100000, kLive,
                "whispers per minute")
          .uint("whisper_burst", &ChatConfig::whisper_burst, 1, 10000, kLive, "its burst")
          .uint("party_per_min", &ChatConfig::party_per_min, 1, 100000, kLive,
                "messages per minute to `party` and to `guild` (looser than `world`)")
          .uint("party_burst", &ChatConfig::party_burst, 1, 10000, kLive, "its burst")
          .uint("repeat_limit", &ChatConfig::repeat_limit, 1, 1000, kLive,
                "the same text may be sent this many times in a row within `repeat_window_s`")
          .uint("repeat_window_s", &ChatConfig::repeat_window_s, 1, 86400, kLive,
                "window of the repeat rule")
          .uint("flood_strikes", &ChatConfig::flood_strikes, 1, 1000, kLive,
                "refused messages (rate, repeats) within `flood_window_s` that mute a player")
          .uint("flood_window_s", &ChatConfig::flood_window_s, 1, 86400, kLive,
                "window of the flood rule")
          .uint("flood_mute_s", &ChatConfig::flood_mute_s, 1, 31536000, kLive,
                "length of the automatic mute (`MUTED`, reason `flooding`)")
          .uint("new_account_world_mute_min", &ChatConfig::new_account_world_mute_min, 0, 525600,
                kLive, "accounts younger than this may not speak in `world` (0: off)")
          .uint("flush_ms", &ChatConfig::flush_ms, 1, 10000, kLive,
                "messages are written to the database in batches at least this often")
          .uint("max_unsaved", &ChatConfig::max_unsaved, 100, 10000000, kRestart,
                "messages sent but not yet written; beyond: `UNAVAILABLE`");
  return s;
}

}  // namespace shardd::chat
