#pragma once

// The chat module's configuration: [chat].

#include <cstdint>
#include <string>
#include <vector>

#include "shardd/core/config_section.h"

namespace shardd::chat {

struct ChatConfig {
  uint32_t max_chars = 500;             // per message, after cleaning
  std::string profanity = "mask";       // mask | reject | off
  std::string wordlist_file;            // "" = no words
  std::vector<std::string> moderators;  // usernames who may speak in frozen channels

  uint32_t history_window = 100;  // recent messages per channel kept in the cache
  uint32_t retention_days = 30;   // messages older than this are deleted
  uint32_t max_offline_whispers = 100;
  uint32_t max_joined_channels = 10;
  uint32_t max_channel_members = 5000;  // custom channels
  uint32_t max_channels = 10000;        // live channels (world, zones, custom)

  uint32_t world_per_min = 12;
  uint32_t world_burst = 3;
  uint32_t zone_per_min = 30;
  uint32_t zone_burst = 5;
  uint32_t custom_per_min = 30;
  uint32_t custom_burst = 5;
  uint32_t whisper_per_min = 60;
  uint32_t whisper_burst = 10;
  uint32_t party_per_min = 90;
  uint32_t party_burst = 15;

  uint32_t repeat_limit = 2;  // identical messages in a row within repeat_window_s
  uint32_t repeat_window_s = 30;
  uint32_t flood_strikes = 5;  // refusals within flood_window_s before an auto-mute
  uint32_t flood_window_s = 30;
  uint32_t flood_mute_s = 300;
  uint32_t new_account_world_mute_min = 0;

  uint32_t flush_ms = 50;        // messages are written in batches this often
  uint32_t max_unsaved = 50000;  // messages sent but not yet written
};

const config::Section<ChatConfig>& chat_section();

}  // namespace shardd::chat
