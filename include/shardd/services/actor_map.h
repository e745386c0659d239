#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "shardd/services/actor.h"

namespace shardd::services {

// Keyed actors: one State and one strand per key (a chat channel, a room, a
// map cell, a matchmaking queue), created on first use and bounded in
// number. Work for a key runs on that key's strand, so keys run in parallel
// on the logic pool and each key's state needs no lock.
//
//   ActorMap<std::string, Channel> channels(ctx.logic(), 10000,
//                                           [](const std::string& id) { return Channel{id}; });
//   channels.post_or_create(id, [self, req = std::move(req)](Channel* ch, auto entry) mutable {
//     if (!ch) return req.fail(kTooManyChannels, "...");  // refused: max_keys reached
//     ...                                                 // on the channel's strand
//   });
//
// `entry` is the key's EntryPtr: hold it across asynchronous steps (storage
// completing on entry->strand) and check entry->retired before touching
// entry->state again. The map must outlive the work posted to it: keep it in
// an Actor and capture the actor (shared_from_this()) in the work.
//
// The work always runs exactly once: with the key's state on its strand, or,
// when the key cannot be had (post() of a missing key, post_or_create() at
// max_keys), with null pointers at once on the caller's thread, so work that
// carries a client request can always answer it. Work may be move-only.
//
// A key is removed by retire(), called from its own strand (typically when
// its state became empty). Work that was already on its way to the retired
// state is sent on to the key's next incarnation, so nothing runs against a
// removed state and no key ever has two live states.
//
// Thread-safety: post()/post_or_create()/size() from any thread (a mutex
// guards only the directory, never a State); retire() on the key's strand.
template <class Key, class State, class Hash = std::hash<Key>>
class ActorMap {
 public:
  struct Entry {
    Entry(Strand s, Key k, State st)
        : strand(std::move(s)), key(std::move(k)), state(std::move(st)) {}
    Strand strand;
    Key key;
    State state;
    bool retired = false;  // strand only
  };
  using EntryPtr = std::shared_ptr<Entry>;
  using Factory = std::function<State(const Key&)>;

  ActorMap(boost::asio::io_context& logic, size_t max_keys, Factory make)
      : logic_(logic), max_keys_(max_keys), make_(std::move(make)) {}
  ActorMap(const ActorMap&) = delete;
  ActorMap& operator=(const ActorMap&) = delete;

  // Runs `fn(State*, EntryPtr)` on the key's strand if the key exists; if
  // it does not, `fn(nullptr, nullptr)` now, and returns false.
  template <class Fn>
  bool post(const Key& key, Fn fn) {
    return dispatch(key, std::move(fn), false);
  }
  // Same, creating the key's state first if needed; when the key is new and
  // max_keys keys exist, `fn(nullptr, nullptr)` now, and returns false.
  template <class Fn>
  bool post_or_create(const Key& key, Fn fn) {
    return dispatch(key, std::move(fn), true);
  }

  // Removes the key. REQUIRES: on the key's strand (inside its Fn).
  void retire(Entry& entry) {
    entry.retired = true;
    std::lock_guard lock(mu_);
    auto it = map_.find(entry.key);
    if (it != map_.end() && it->second.get() == &entry) map_.erase(it);
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  template <class Fn>
  bool dispatch(const Key& key, Fn fn, bool create) {
    EntryPtr e;
    {
      std::lock_guard lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        e = it->second;
      } else if (create && map_.size() < max_keys_) {
        e = std::make_shared<Entry>(boost::asio::make_strand(logic_), key, make_(key));
        map_.emplace(key, e);
      }
    }
    if (!e) {
      fn(static_cast<State*>(nullptr), EntryPtr());
      return false;
    }
    boost::asio::post(e->strand, [this, e, fn = std::move(fn), create]() mutable {
      if (e->retired) {
        // Retired after we picked it: go to the key's next incarnation.
        dispatch(e->key, std::move(fn), create);
        return;
      }
      fn(&e->state, e);
    });
    return true;
  }

  boost::asio::io_context& logic_;
  const size_t max_keys_;
  const Factory make_;
  mutable std::mutex mu_;
  std::unordered_map<Key, EntryPtr, Hash> map_;  // guarded by mu_
};

}  // namespace shardd::services
