#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>

#include "shardd/core/status.h"

namespace shardd::services {

// How one service reaches another: through a small interface the other
// provides, never through its internals. A service provides its interface in
// start(); a service later in the one list of services finds it in its own
// start() (services start in list order, so dependencies point backwards:
// social uses account's, chat uses social's).
//
//   // social's start():
//   auto accounts = ctx.directory().find<account::Accounts>();
//   if (!accounts) return Status::Internal("social needs the account service");
//   ctx.directory().provide<social::Social>(impl_);
//
// An interface is identified by its C++ type; one provider per type.
//
// Thread-safety: all methods from any thread (a mutex guards the table).
class Directory {
 public:
  // BAD_REQUEST if `I` is already provided. REQUIRES: impl non-null.
  template <class I>
  Status provide(std::shared_ptr<I> impl) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = table_.try_emplace(std::type_index(typeid(I)), std::move(impl));
    if (!fresh) {
      return Status::BadRequest(std::string("interface provided twice: ") + typeid(I).name());
    }
    return Status::Ok();
  }
  // The provider of `I`, or null if none (yet).
  template <class I>
  std::shared_ptr<I> find() const {
    std::lock_guard lock(mu_);
    auto it = table_.find(std::type_index(typeid(I)));
    return it == table_.end() ? nullptr : std::static_pointer_cast<I>(it->second);
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::type_index, std::shared_ptr<void>> table_;  // guarded by mu_
};

}  // namespace shardd::services
