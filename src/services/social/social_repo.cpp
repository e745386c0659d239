#include "social_repo.h"

#include <charconv>

#include "shardd/services/social.h"

namespace shardd::social {
namespace {

using store::DbConnection;
using store::DbStatus;
using store::Rows;
using store::Stmt;
using store::StoreContext;

constexpr Stmt kIsFriend{"social_repo.is_friend",
                         "SELECT 1 FROM social_friends WHERE account_id = ? AND friend_id = ?"};
constexpr Stmt kCountFriends{"social_repo.count_friends",
                             "SELECT COUNT(*) FROM social_friends WHERE account_id = ?"};
constexpr Stmt kAddFriend{"social_repo.add_friend",
                          "INSERT INTO social_friends (account_id, friend_id, since_ms) "
                          "VALUES (?, ?, ?)"};
constexpr Stmt kDelFriend{"social_repo.del_friend",
                          "DELETE FROM social_friends WHERE (account_id = ? AND friend_id = ?) "
                          "OR (account_id = ? AND friend_id = ?)"};
constexpr Stmt kHasRequest{"social_repo.has_request",
                           "SELECT 1 FROM social_friend_requests WHERE from_id = ? AND to_id = ?"};
constexpr Stmt kCountOutgoing{"social_repo.count_outgoing",
                              "SELECT COUNT(*) FROM social_friend_requests WHERE from_id = ?"};
constexpr Stmt kCountIncoming{"social_repo.count_incoming",
                              "SELECT COUNT(*) FROM social_friend_requests WHERE to_id = ?"};
constexpr Stmt kAddRequest{"social_repo.add_request",
                           "INSERT INTO social_friend_requests (from_id, to_id, created_ms) "
                           "VALUES (?, ?, ?)"};
constexpr Stmt kDelRequest{"social_repo.del_request",
                           "DELETE FROM social_friend_requests WHERE from_id = ? AND to_id = ?"};
constexpr Stmt kDelRequests{"social_repo.del_requests",
                            "DELETE FROM social_friend_requests WHERE (from_id = ? AND to_id = ?) "
                            "OR (from_id = ? AND to_id = ?)"};
constexpr Stmt kIsBlocked{"social_repo.is_blocked",
                          "SELECT 1 FROM social_blocks WHERE account_id = ? AND blocked_id = ?"};
constexpr Stmt kCountBlocks{"social_repo.count_blocks",
                            "SELECT COUNT(*) FROM social_blocks WHERE account_id = ?"};
constexpr Stmt kAddBlock{"social_repo.add_block",
                         "INSERT INTO social_blocks (account_id, blocked_id, created_ms) "
                         "VALUES (?, ?, ?)"};
constexpr Stmt kDelBlock{"social_repo.del_block",
                         "DELETE FROM social_blocks WHERE account_id = ? AND blocked_id = ?"};
constexpr Stmt kListFriends{"social_repo.list_friends",
                            "SELECT f.friend_id, f.since_ms, s.seen_ms FROM social_friends f "
                            "LEFT JOIN social_last_seen s ON s.account_id = f.friend_id "
                            "WHERE f.account_id = ? ORDER BY f.since_ms, f.friend_id"};
constexpr Stmt kListIncoming{"social_repo.list_incoming",
                             "SELECT from_id, created_ms FROM social_friend_requests "
                             "WHERE to_id = ? ORDER BY created_ms, from_id"};
constexpr Stmt kListOutgoing{"social_repo.list_outgoing",
                             "SELECT to_id, created_ms FROM social_friend_requests "
                             "WHERE from_id = ? ORDER BY created_ms, to_id"};
constexpr Stmt kListBlocks{"social_repo.list_blocks",
                           "SELECT blocked_id, created_ms FROM social_blocks "
                           "WHERE account_id = ? ORDER BY created_ms, blocked_id"};
constexpr Stmt kBlockedBy{"social_repo.blocked_by",
                          "SELECT account_id FROM social_blocks WHERE blocked_id = ?"};
constexpr Stmt kLastSeen{"social_repo.last_seen",
                         "INSERT INTO social_last_seen (account_id, seen_ms) VALUES (?, ?) "
                         "ON CONFLICT (account_id) DO UPDATE SET seen_ms = excluded.seen_ms",
                         "INSERT INTO social_last_seen (account_id, seen_ms) VALUES (?, ?) "
                         "ON DUPLICATE KEY UPDATE seen_ms = VALUES(seen_ms)"};

// True if the query returns a row; errors go to *st.
bool exists(DbConnection& c, const Stmt& stmt, int64_t x, int64_t y, DbStatus* st) {
  Rows rows;
  *st = c.query(stmt, {x, y}, &rows);
  return st->ok() && !rows.empty();
}

int64_t count(DbConnection& c, const Stmt& stmt, int64_t x, DbStatus* st) {
  Rows rows;
  *st = c.query(stmt, {x}, &rows);
  return st->ok() && !rows.empty() ? store::as_int(rows.rows[0][0]) : 0;
}

// Makes a and b friends (both rows) and drops requests both ways.
DbStatus befriend(DbConnection& c, int64_t a, int64_t b, int64_t now_ms) {
  DbStatus st = c.exec(kDelRequests, {a, b, b, a});
  if (st.ok()) st = c.exec(kAddFriend, {a, b, now_ms});
  if (st.ok()) st = c.exec(kAddFriend, {b, a, now_ms});
  return st;
}

std::vector<Dated> dated(const Rows& rows) {
  std::vector<Dated> out;
  out.reserve(rows.rows.size());
  for (const auto& r : rows.rows) out.push_back({store::as_int(r[0]), store::as_int(r[1])});
  return out;
}

}  // namespace

DbStatus SocialRepo::request_friend(StoreContext& ctx, int64_t a, int64_t b, const Limits& limits,
                                    int64_t now_ms, RequestOutcome* out) {
  return ctx.transaction([&](DbConnection& c) {
    DbStatus st;
    if (exists(c, kIsBlocked, b, a, &st)) return (*out = RequestOutcome::kBlockedByThem), st;
    if (st.ok() && exists(c, kIsBlocked, a, b, &st))
      return (*out = RequestOutcome::kYouBlocked), st;
    if (st.ok() && exists(c, kIsFriend, a, b, &st)) {
      return (*out = RequestOutcome::kAlreadyFriends), st;
    }
    if (st.ok() && exists(c, kHasRequest, a, b, &st)) {
      return (*out = RequestOutcome::kAlreadyPending), st;
    }
    if (!st.ok()) return st;
    if (count(c, kCountFriends, a, &st) >= limits.max_friends) {
      return (*out = RequestOutcome::kYourFriendsFull), st;
    }
    if (st.ok() && exists(c, kHasRequest, b, a, &st)) {
      // They asked first: this request is an acceptance.
      if (count(c, kCountFriends, b, &st) >= limits.max_friends) {
        return (*out = RequestOutcome::kTheirFriendsFull), st;
      }
      if (!st.ok()) return st;
      *out = RequestOutcome::kAccepted;
      return befriend(c, a, b, now_ms);
    }
    if (!st.ok()) return st;
    if (count(c, kCountOutgoing, a, &st) >= limits.max_pending) {
      return (*out = RequestOutcome::kYourPendingFull), st;
    }
    if (st.ok() && count(c, kCountIncoming, b, &st) >= limits.max_pending) {
      return (*out = RequestOutcome::kTheirPendingFull), st;
    }
    if (!st.ok()) return st;
    *out = RequestOutcome::kSent;
    return c.exec(kAddRequest, {a, b, now_ms});
  });
}

DbStatus SocialRepo::accept(StoreContext& ctx, int64_t a, int64_t b, const Limits& limits,
                            int64_t now_ms, AcceptOutcome* out) {
  return ctx.transaction([&](DbConnection& c) {
    DbStatus st;
    if (!exists(c, kHasRequest, b, a, &st)) return (*out = AcceptOutcome::kNoRequest), st;
    if (count(c, kCountFriends, a, &st) >= limits.max_friends) {
      return (*out = AcceptOutcome::kYourFriendsFull), st;
    }
    if (st.ok() && count(c, kCountFriends, b, &st) >= limits.max_friends) {
      return (*out = AcceptOutcome::kTheirFriendsFull), st;
    }
    if (!st.ok()) return st;
    *out = AcceptOutcome::kAccepted;
    return befriend(c, a, b, now_ms);
  });
}

DbStatus SocialRepo::decline(StoreContext& ctx, int64_t a, int64_t b, bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus st = c.exec(kDelRequest, {b, a}, &r);
    *found = st.ok() && r.affected > 0;
    return st;
  });
}

DbStatus SocialRepo::remove(StoreContext& ctx, int64_t a, int64_t b, RemoveOutcome* out) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus st = c.exec(kDelFriend, {a, b, b, a}, &r);
    if (!st.ok()) return st;
    if (r.affected > 0) {
      *out = RemoveOutcome::kRemovedFriend;
      return st;
    }
    st = c.exec(kDelRequest, {a, b}, &r);
    *out = st.ok() && r.affected > 0 ? RemoveOutcome::kCancelledRequest : RemoveOutcome::kNothing;
    return st;
  });
}

DbStatus SocialRepo::block(StoreContext& ctx, int64_t a, int64_t b, const Limits& limits,
                           int64_t now_ms, BlockOutcome* out, bool* were_friends) {
  *were_friends = false;
  return ctx.transaction([&](DbConnection& c) {
    DbStatus st;
    if (exists(c, kIsBlocked, a, b, &st)) return (*out = BlockOutcome::kAlreadyBlocked), st;
    if (st.ok() && count(c, kCountBlocks, a, &st) >= limits.max_blocks) {
      return (*out = BlockOutcome::kFull), st;
    }
    if (!st.ok()) return st;
    *out = BlockOutcome::kNewlyBlocked;
    store::ExecResult r;
    st = c.exec(kAddBlock, {a, b, now_ms});
    if (st.ok()) st = c.exec(kDelFriend, {a, b, b, a}, &r);
    *were_friends = st.ok() && r.affected > 0;
    if (st.ok()) st = c.exec(kDelRequests, {a, b, b, a});
    return st;
  });
}

DbStatus SocialRepo::unblock(StoreContext& ctx, int64_t a, int64_t b, bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus st = c.exec(kDelBlock, {a, b}, &r);
    *found = st.ok() && r.affected > 0;
    return st;
  });
}

DbStatus SocialRepo::list_friends(StoreContext& ctx, int64_t a, std::vector<FriendRow>* friends,
                                  std::vector<Dated>* incoming, std::vector<Dated>* outgoing) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kListFriends, {a}, &rows);
  if (!st.ok()) return st;
  for (const auto& r : rows.rows) {
    friends->push_back({store::as_int(r[0]), store::as_int(r[1]), store::as_int(r[2])});
  }
  st = c->query(kListIncoming, {a}, &rows);
  if (!st.ok()) return st;
  *incoming = dated(rows);
  st = c->query(kListOutgoing, {a}, &rows);
  if (!st.ok()) return st;
  *outgoing = dated(rows);
  return st;
}

DbStatus SocialRepo::list_blocks(StoreContext& ctx, int64_t a, std::vector<Dated>* blocks) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kListBlocks, {a}, &rows);
  if (st.ok()) *blocks = dated(rows);
  return st;
}

DbStatus SocialRepo::load_graph(StoreContext& ctx, int64_t a, Graph* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kListFriends, {a}, &rows);
  if (!st.ok()) return st;
  for (const auto& r : rows.rows) out->friends.push_back(store::as_int(r[0]));
  st = c->query(kListBlocks, {a}, &rows);
  if (!st.ok()) return st;
  for (const auto& r : rows.rows) out->blocks.push_back(store::as_int(r[0]));
  st = c->query(kBlockedBy, {a}, &rows);
  if (!st.ok()) return st;
  for (const auto& r : rows.rows) out->blocked_by.push_back(store::as_int(r[0]));
  return st;
}

DbStatus SocialRepo::is_blocked(StoreContext& ctx, int64_t by, int64_t who, bool* blocked) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  *blocked = exists(*c, kIsBlocked, by, who, &st);
  return st;
}

DbStatus SocialRepo::write_last_seen(DbConnection& c, const store::WriteBehind::Batch& batch) {
  for (const auto& [key, value] : batch) {
    int64_t id = 0;
    int64_t ms = 0;
    std::from_chars(key.data(), key.data() + key.size(), id);
    std::from_chars(value.data(), value.data() + value.size(), ms);
    if (id <= 0) continue;
    DbStatus st = c.exec(kLastSeen, {id, ms});
    if (!st.ok()) return st;
  }
  return DbStatus::Ok();
}

DbStatus find_block(StoreContext& ctx, int64_t by, int64_t who, bool* blocked) {
  return SocialRepo::is_blocked(ctx, by, who, blocked);
}

}  // namespace shardd::social
