#pragma once

// Parties: small groups that play together (lobby rooms and ladder queues
// use them later). Private to the social module.

#include <memory>

#include "groups.h"
#include "shardd/services/service.h"

namespace shardd::social {

class PartiesImpl;

// The parties, on their own strand; see parties.cpp. Registers the party.*
// ops and tells membership changes to `feed`.
class Parties {
 public:
  Parties(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed);
  ~Parties();
  // REQUIRES: the control thread, before serving.
  Status start();
  void reload(const Config& config);
  nlohmann::json status() const;

 private:
  std::shared_ptr<PartiesImpl> impl_;
};

}  // namespace shardd::social
