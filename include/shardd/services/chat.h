#pragma once

#include "shardd/core/error_code.h"
#include "shardd/services/service.h"

namespace shardd::chat {

// Chat channels, history, offline whispers, text rules, flood control and
// moderation (docs/protocol.md lists each op):
//   chat.send     {channel, to?, text, idem?}      -> {id, ts[, offline]}
//   chat.history  {channel, to?, before?, limit?}  -> {messages: [...], more}
//   chat.join     {channel}                        -> {channel, members}
//   chat.leave    {channel}                        -> {}
//   chat.channels {}                               -> {channels: [...]}
//   push chat.msg     {id, channel, from: {id, name}, text, ts[, to, zone, offline, system]}
//   push chat.deleted {id, channel[, to]}
//   push chat.muted   {channel, until_ms, reason}
// Channels: world, zone (the sender's zone), whisper (to an account),
// system (operators only), and named custom channels players join.
// Admin: /admin/chat/{mute,unmute,mutes,delete,system,freeze,purge}.
// Config: [chat]. Migrations: module "chat" (after social's).
services::ServiceDef service_def();

namespace defs {
inline constexpr ErrorDef kMuted{"MUTED", true,
                                 "the account may not speak there until err.until_ms "
                                 "(err.reason: flooding, new_account, or a moderator's reason)"};
inline constexpr ErrorDef kTextRejected{
    "TEXT_REJECTED", false,
    "chat text refused (err.reason: empty, too_long, fake_system, profanity)"};
inline constexpr ErrorDef kChannelFrozen{"CHANNEL_FROZEN", true,
                                         "only moderators may speak in this channel for now"};
}  // namespace defs

inline constexpr ErrorCode kMuted{defs::kMuted};
inline constexpr ErrorCode kTextRejected{defs::kTextRejected};
inline constexpr ErrorCode kChannelFrozen{defs::kChannelFrozen};

}  // namespace shardd::chat
