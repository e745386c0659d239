#pragma once

// Guilds: lasting groups with roles (leader, officer, member), a message of
// the day and their own chat channel. Private to the social module.

#include <memory>

#include "groups.h"
#include "shardd/services/service.h"

namespace shardd::social {

class GuildsImpl;

// The guilds, on their own strand; see guilds.cpp. Registers the guild.* ops.
class Guilds {
 public:
  Guilds(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed);
  ~Guilds();
  // REQUIRES: the control thread, before serving.
  Status start();
  void reload(const Config& config);
  nlohmann::json status() const;

 private:
  std::shared_ptr<GuildsImpl> impl_;
};

}  // namespace shardd::social
