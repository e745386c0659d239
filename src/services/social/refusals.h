#pragma once

// How the social module (friends, blocks, parties, guilds) answers a refusal
// that ops would ask about: the request is answered, one log line names the
// op, the account and the reason, and the refusal is counted by the limit it
// hit (shardd_social_limit_hits_total{limit}) or, for BLOCKED, in
// shardd_social_blocked_total.

#include <array>
#include <cstring>
#include <string>

#include "shardd/core/metrics.h"
#include "shardd/gateway/router.h"
#include "shardd/services/social.h"
#include "social_log.h"

namespace shardd::social {

// Thread-safety: refuse() may be called from any strand (the counters are
// atomic; the set of them is fixed at construction).
class Refusals {
 public:
  // The `limit` labels, as documented in docs/operations.md.
  static constexpr std::array<const char*, 9> kLimits = {
      "friends",    "pending_requests",    "blocks",
      "queued_writes", "parties",          "party_size",
      "guild_size", "guild_queued_writes", "guild_pending_per_account"};

  // Registers the counters (the registry returns the same ones to every
  // component that asks).
  explicit Refusals(metrics::Registry& m)
      : blocked_(m.counter("shardd_social_blocked_total",
                           "Requests refused because the other player blocked the sender.")) {
    for (size_t i = 0; i < kLimits.size(); ++i) {
      limit_hits_[i] = &m.counter("shardd_social_limit_hits_total",
                                  "Social requests refused by a limit.", {{"limit", kLimits[i]}});
    }
  }

  // Answers `req` with `code` and `msg` (and `extra`), logs it and counts it.
  // REQUIRES: `limit` is nullptr (not a limit) or one of kLimits.
  void refuse(gateway::Request& req, const char* limit, ErrorCode code, const std::string& msg,
              const nlohmann::json* extra = nullptr) const {
    if (code == kBlocked) blocked_.inc();
    if (limit) {
      for (size_t i = 0; i < kLimits.size(); ++i) {
        if (std::strcmp(kLimits[i], limit) == 0) limit_hits_[i]->inc();
      }
    }
    lg().info("{} by account {} refused: {}", req.op(), req.account_id(), msg);
    req.fail(code, msg, extra);
  }

 private:
  metrics::Counter& blocked_;
  std::array<metrics::Counter*, kLimits.size()> limit_hits_{};
};

}  // namespace shardd::social
