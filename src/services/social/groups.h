#pragma once

// The social module's social::Groups: parties and guilds tell their
// membership changes here, and it passes them to the subscribed services.

#include <memory>
#include <vector>

#include "shardd/services/social.h"

namespace shardd::social {

// Thread-safety: subscribe() before serving (control thread); tell() from
// any strand afterwards (the listener list no longer changes).
class GroupFeed final : public Groups {
 public:
  void subscribe(std::shared_ptr<GroupListener> listener) override {
    listeners_.push_back(std::move(listener));
  }
  void tell(const GroupChange& change) const {
    for (const auto& l : listeners_) l->on_group(change);
  }

 private:
  std::vector<std::shared_ptr<GroupListener>> listeners_;
};

}  // namespace shardd::social
