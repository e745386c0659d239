#pragma once

// Parties: small groups that play together (lobby rooms and ladder queues
// use them later). Private to the social module.

#include <memory>

#include "shardd/services/service.h"

namespace shardd::social {

class PartiesImpl;

// The parties, on their own strand; see parties.cpp. Registers the party.*
// ops and provides social::Groups (membership changes) to later services.
class Parties {
 public:
  explicit Parties(services::ServiceContext& ctx);
  ~Parties();
  // REQUIRES: the control thread, before serving.
  Status start();
  void reload(const Config& config);
  nlohmann::json status() const;

 private:
  std::shared_ptr<PartiesImpl> impl_;
};

}  // namespace shardd::social
