#pragma once

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>
#include <vector>

#include "shardd/gateway/session.h"
#include "shardd/net/output_batch.h"

namespace shardd::services {

// One push to many sessions (a chat channel's members, a player's online
// friends): the body is encoded once (SharedBody: the same bytes for every
// recipient) and the recipients are grouped by io executor, so sending to
// N sessions costs one post per io thread, not one per session, and their
// connections are written together at the end of it (net::OutputBatch).
//
//   Fanout out(*chat_msg, std::make_shared<const gateway::SharedBody>(d));
//   for (auto& [id, weak] : members) out.add(weak.lock());
//   out.send();
//
// Thread-safety: one Fanout is used by one thread; send() may be called from
// any thread (each push runs on its session's executor).
class Fanout {
 public:
  Fanout(const gateway::PushOp& op, std::shared_ptr<const gateway::SharedBody> body)
      : op_(&op), body_(std::move(body)) {}

  // Adds a recipient (null: ignored).
  void add(std::shared_ptr<gateway::Session> s) {
    if (!s) return;
    auto ex = s->executor();
    for (auto& g : groups_) {
      if (g.first == ex) {
        g.second.push_back(std::move(s));
        ++count_;
        return;
      }
    }
    groups_.emplace_back(ex, std::vector<std::shared_ptr<gateway::Session>>{std::move(s)});
    ++count_;
  }
  size_t size() const { return count_; }

  // Posts the pushes (one handler per executor). Returns the recipients.
  size_t send() {
    for (auto& [ex, sessions] : groups_) {
      boost::asio::post(ex, [op = op_, body = body_, sessions = std::move(sessions)] {
        net::OutputBatch batch;
        for (const auto& s : sessions) s->push(*op, body);
      });
    }
    groups_.clear();
    size_t n = count_;
    count_ = 0;
    return n;
  }

 private:
  const gateway::PushOp* op_;
  std::shared_ptr<const gateway::SharedBody> body_;
  std::vector<std::pair<gateway::Session::Executor, std::vector<std::shared_ptr<gateway::Session>>>>
      groups_;
  size_t count_ = 0;
};

}  // namespace shardd::services
