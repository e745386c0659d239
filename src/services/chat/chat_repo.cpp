#include "chat_repo.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace shardd::chat {
namespace {

using json = nlohmann::json;
using store::DbConnection;
using store::DbStatus;
using store::Rows;
using store::Stmt;
using store::StoreContext;

#define SHARDD_CHAT_COLS "id, channel, sender_id, sender_name, recipient_id, body, ts"

constexpr Stmt kInsert{"chat_repo.insert", "INSERT INTO chat_messages (" SHARDD_CHAT_COLS
                                           ") VALUES (?, ?, ?, ?, ?, ?, ?)"};
constexpr Stmt kInsertOnce{
    "chat_repo.insert_once",
    "INSERT OR IGNORE INTO chat_messages (" SHARDD_CHAT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT IGNORE INTO chat_messages (" SHARDD_CHAT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)"};
constexpr Stmt kNewest{"chat_repo.newest", "SELECT " SHARDD_CHAT_COLS
                                           " FROM chat_messages WHERE channel = ? AND deleted = 0 "
                                           "ORDER BY id DESC LIMIT ?"};
constexpr Stmt kBefore{"chat_repo.before",
                       "SELECT " SHARDD_CHAT_COLS
                       " FROM chat_messages WHERE channel = ? AND deleted = 0 AND "
                       "id < ? ORDER BY id DESC LIMIT ?"};
constexpr Stmt kChannelOf{
    "chat_repo.channel_of",
    "SELECT channel, COALESCE(recipient_id, 0) FROM chat_messages WHERE id = ? AND deleted = 0"};
constexpr Stmt kDelete{"chat_repo.delete", "UPDATE chat_messages SET deleted = 1 WHERE id = ?"};
constexpr Stmt kCountOffline{"chat_repo.count_offline",
                             "SELECT COUNT(*) FROM chat_offline WHERE recipient_id = ?"};
constexpr Stmt kAddOffline{
    "chat_repo.add_offline",
    "INSERT INTO chat_offline (recipient_id, message_id, ts) VALUES (?, ?, ?)"};
constexpr Stmt kOffline{"chat_repo.offline",
                        "SELECT m.id, m.channel, m.sender_id, m.sender_name, m.recipient_id, "
                        "m.body, m.ts FROM chat_offline o JOIN chat_messages m ON m.id = "
                        "o.message_id WHERE o.recipient_id = ? AND m.deleted = 0 ORDER BY m.id"};
constexpr Stmt kDropOffline{"chat_repo.drop_offline",
                            "DELETE FROM chat_offline WHERE recipient_id = ? AND message_id <= ?"};
constexpr Stmt kJoined{"chat_repo.joined",
                       "SELECT channel FROM chat_joined WHERE account_id = ? ORDER BY joined_ms, "
                       "channel"};
constexpr Stmt kCountJoined{"chat_repo.count_joined",
                            "SELECT COUNT(*) FROM chat_joined WHERE account_id = ?"};
constexpr Stmt kIsJoined{"chat_repo.is_joined",
                         "SELECT 1 FROM chat_joined WHERE account_id = ? AND channel = ?"};
constexpr Stmt kJoin{"chat_repo.join",
                     "INSERT INTO chat_joined (account_id, channel, joined_ms) VALUES (?, ?, ?)"};
constexpr Stmt kLeave{"chat_repo.leave",
                      "DELETE FROM chat_joined WHERE account_id = ? AND channel = ?"};
constexpr Stmt kDelMute{"chat_repo.del_mute",
                        "DELETE FROM chat_mutes WHERE account_id = ? AND channel = ?"};
constexpr Stmt kAddMute{"chat_repo.add_mute",
                        "INSERT INTO chat_mutes (account_id, channel, until_ms, reason) "
                        "VALUES (?, ?, ?, ?)"};
constexpr Stmt kMutesOf{"chat_repo.mutes_of",
                        "SELECT account_id, channel, until_ms, reason FROM chat_mutes WHERE "
                        "account_id = ? AND until_ms > ? ORDER BY channel"};
constexpr Stmt kAllMutes{"chat_repo.mutes",
                         "SELECT account_id, channel, until_ms, reason FROM chat_mutes WHERE "
                         "until_ms > ? ORDER BY account_id, channel LIMIT 10000"};
constexpr Stmt kUnfreeze{"chat_repo.unfreeze", "DELETE FROM chat_frozen WHERE channel = ?"};
constexpr Stmt kFreeze{"chat_repo.freeze",
                       "INSERT INTO chat_frozen (channel, since_ms) VALUES (?, ?)"};
constexpr Stmt kFrozen{"chat_repo.frozen", "SELECT channel FROM chat_frozen ORDER BY channel"};
constexpr Stmt kAudit{"chat_repo.audit",
                      "INSERT INTO chat_audit (ts, action, target, detail) VALUES (?, ?, ?, ?)"};
constexpr Stmt kPurgeMessages{
    "chat_repo.purge",
    "DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages WHERE ts < ? LIMIT ?)",
    "DELETE FROM chat_messages WHERE ts < ? LIMIT ?"};
constexpr Stmt kPurgeOffline{"chat_repo.purge_offline", "DELETE FROM chat_offline WHERE ts < ?"};
constexpr Stmt kMaxId{"chat_repo.max_id", "SELECT MAX(id) FROM chat_messages"};

#undef SHARDD_CHAT_COLS

std::string window_key(const std::string& channel) {
  return "chatwin:" + channel;
}

std::string pack(const StoredMessage& m) {
  auto bytes = json::to_msgpack(json{{"i", m.id},
                                     {"c", m.channel},
                                     {"f", m.sender_id},
                                     {"n", m.sender_name},
                                     {"r", m.recipient_id},
                                     {"b", m.body},
                                     {"t", m.ts}});
  return std::string(bytes.begin(), bytes.end());
}

bool unpack(const std::string& bytes, StoredMessage* m) {
  json j = json::from_msgpack(bytes, true, false);
  if (!j.is_object()) return false;
  auto num = [&j](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{0};
  };
  auto str = [&j](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  m->id = num("i");
  m->channel = str("c");
  m->sender_id = num("f");
  m->sender_name = str("n");
  m->recipient_id = num("r");
  m->body = str("b");
  m->ts = num("t");
  return m->id > 0;
}

StoredMessage from_row(const std::vector<store::Value>& r) {
  return StoredMessage{store::as_int(r[0]),    store::as_string(r[1]), store::as_int(r[2]),
                       store::as_string(r[3]), store::as_int(r[4]),    store::as_string(r[5]),
                       store::as_int(r[6])};
}

// Rows come newest first; appends them to *out oldest first.
void append_oldest_first(const Rows& rows, std::vector<StoredMessage>* out) {
  for (auto it = rows.rows.rbegin(); it != rows.rows.rend(); ++it) out->push_back(from_row(*it));
}

}  // namespace

DbStatus ChatRepo::insert(StoreContext& ctx, const std::vector<StoredMessage>& batch,
                          size_t window) {
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    for (const auto& m : batch) {
      DbStatus s = c.exec(
          kInsertOnce, {m.id, m.channel, m.sender_id, m.sender_name, m.recipient_id, m.body, m.ts});
      if (!s.ok()) return s;
    }
    return DbStatus::Ok();
  });
  if (!st.ok()) return st;
  std::map<std::string, std::vector<std::string>> per_channel;
  for (const auto& m : batch) per_channel[m.channel].push_back(pack(m));
  for (const auto& [channel, values] : per_channel) {
    if (window > 0) {
      ctx.list_append_after_commit(window_key(channel), values, window);
    } else {
      ctx.list_erase(window_key(channel));
    }
  }
  return st;
}

DbStatus ChatRepo::history(StoreContext& ctx, const std::string& channel, int64_t before,
                           size_t limit, size_t window, std::vector<StoredMessage>* out,
                           bool* more) {
  out->clear();
  *more = false;
  std::vector<std::string> cached;
  std::vector<StoredMessage> win;
  bool whole = false;  // the window holds every message of the channel
  if (ctx.list_get(window_key(channel), &cached)) {
    for (const auto& v : cached) {
      StoredMessage m;
      if (unpack(v, &m)) win.push_back(std::move(m));
    }
    whole = cached.size() < window;
  } else {
    DbConnection* c = nullptr;
    DbStatus st = ctx.db(&c);
    if (!st.ok()) return st;
    Rows rows;
    st = c->query(kNewest, {channel, static_cast<int64_t>(window)}, &rows);
    if (!st.ok()) return st;
    append_oldest_first(rows, &win);
    whole = win.size() < window;
    std::vector<std::string> packed;
    packed.reserve(win.size());
    for (const auto& m : win) packed.push_back(pack(m));
    ctx.list_replace(window_key(channel), packed);
  }
  // From the window: the newest `limit` older than `before`.
  auto end = before > 0
                 ? std::lower_bound(win.begin(), win.end(), before,
                                    [](const StoredMessage& m, int64_t b) { return m.id < b; })
                 : win.end();
  size_t available = static_cast<size_t>(end - win.begin());
  if (available > limit) {
    out->assign(end - static_cast<ptrdiff_t>(limit), end);
    *more = true;
    return DbStatus::Ok();
  }
  if (whole) {
    out->assign(win.begin(), end);
    return DbStatus::Ok();
  }
  // Older than the window reaches: the database.
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  int64_t upto = before > 0 ? before : INT64_MAX;
  st = c->query(kBefore, {channel, upto, static_cast<int64_t>(limit + 1)}, &rows);
  if (!st.ok()) return st;
  *more = rows.rows.size() > limit;
  if (*more) rows.rows.pop_back();
  append_oldest_first(rows, out);
  return st;
}

DbStatus ChatRepo::remove(StoreContext& ctx, int64_t id, std::string* channel, int64_t* recipient) {
  channel->clear();
  *recipient = 0;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kChannelOf, {id}, &rows);
    if (!s.ok() || rows.empty()) return s;
    *channel = store::as_string(rows.rows[0][0]);
    *recipient = store::as_int(rows.rows[0][1]);
    return c.exec(kDelete, {id});
  });
  if (st.ok() && !channel->empty()) ctx.list_erase(window_key(*channel));
  return st;
}

DbStatus ChatRepo::store_offline(StoreContext& ctx, const StoredMessage& m, uint32_t max,
                                 size_t window, bool* full) {
  *full = false;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kCountOffline, {m.recipient_id}, &rows);
    if (!s.ok()) return s;
    if (!rows.empty() && store::as_int(rows.rows[0][0]) >= max) {
      *full = true;
      return s;
    }
    s = c.exec(kInsert,
               {m.id, m.channel, m.sender_id, m.sender_name, m.recipient_id, m.body, m.ts});
    if (s.ok()) s = c.exec(kAddOffline, {m.recipient_id, m.id, m.ts});
    return s;
  });
  if (st.ok() && !*full) ctx.list_append_after_commit(window_key(m.channel), {pack(m)}, window);
  return st;
}

DbStatus ChatRepo::offline(StoreContext& ctx, int64_t recipient, std::vector<StoredMessage>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kOffline, {recipient}, &rows);
  for (const auto& r : rows.rows) out->push_back(from_row(r));
  return st;
}

DbStatus ChatRepo::drop_offline(StoreContext& ctx, int64_t recipient, int64_t upto) {
  return ctx.transaction([&](DbConnection& c) { return c.exec(kDropOffline, {recipient, upto}); });
}

DbStatus ChatRepo::joined(StoreContext& ctx, int64_t account, std::vector<std::string>* channels) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kJoined, {account}, &rows);
  for (const auto& r : rows.rows) channels->push_back(store::as_string(r[0]));
  return st;
}

DbStatus ChatRepo::join(StoreContext& ctx, int64_t account, const std::string& name, int64_t now_ms,
                        uint32_t max, bool* full) {
  *full = false;
  return ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kIsJoined, {account, name}, &rows);
    if (!s.ok() || !rows.empty()) return s;  // already in it
    s = c.query(kCountJoined, {account}, &rows);
    if (!s.ok()) return s;
    if (!rows.empty() && store::as_int(rows.rows[0][0]) >= max) {
      *full = true;
      return s;
    }
    return c.exec(kJoin, {account, name, now_ms});
  });
}

DbStatus ChatRepo::leave(StoreContext& ctx, int64_t account, const std::string& name, bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus s = c.exec(kLeave, {account, name}, &r);
    *found = s.ok() && r.affected > 0;
    return s;
  });
}

DbStatus ChatRepo::set_mute(StoreContext& ctx, const Mute& m) {
  return ctx.transaction([&](DbConnection& c) {
    DbStatus s = c.exec(kDelMute, {m.account_id, m.channel});
    if (s.ok()) s = c.exec(kAddMute, {m.account_id, m.channel, m.until_ms, m.reason});
    return s;
  });
}

DbStatus ChatRepo::clear_mute(StoreContext& ctx, int64_t account, const std::string& channel,
                              bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus s = c.exec(kDelMute, {account, channel}, &r);
    *found = s.ok() && r.affected > 0;
    return s;
  });
}

DbStatus ChatRepo::mutes(StoreContext& ctx, int64_t account, int64_t now_ms,
                         std::vector<Mute>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st =
      account ? c->query(kMutesOf, {account, now_ms}, &rows) : c->query(kAllMutes, {now_ms}, &rows);
  for (const auto& r : rows.rows) {
    out->push_back(
        {store::as_int(r[0]), store::as_string(r[1]), store::as_int(r[2]), store::as_string(r[3])});
  }
  return st;
}

DbStatus ChatRepo::set_frozen(StoreContext& ctx, const std::string& channel, bool frozen,
                              int64_t now_ms) {
  return ctx.transaction([&](DbConnection& c) {
    DbStatus s = c.exec(kUnfreeze, {channel});
    if (s.ok() && frozen) s = c.exec(kFreeze, {channel, now_ms});
    return s;
  });
}

DbStatus ChatRepo::frozen(StoreContext& ctx, std::vector<std::string>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kFrozen, {}, &rows);
  for (const auto& r : rows.rows) out->push_back(store::as_string(r[0]));
  return st;
}

DbStatus ChatRepo::audit(StoreContext& ctx, int64_t now_ms, const std::string& action,
                         const std::string& target, const std::string& detail) {
  return ctx.transaction([&](DbConnection& c) {
    return c.exec(kAudit, {now_ms, action, target, detail});
  });
}

DbStatus ChatRepo::purge(StoreContext& ctx, int64_t cutoff_ms, int64_t limit, uint64_t* deleted) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus s = c.exec(kPurgeMessages, {cutoff_ms, limit}, &r);
    *deleted = r.affected;
    if (s.ok()) s = c.exec(kPurgeOffline, {cutoff_ms});
    return s;
  });
}

DbStatus ChatRepo::max_id(StoreContext& ctx, int64_t* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kMaxId, {}, &rows);
  *out = st.ok() && !rows.empty() ? store::as_int(rows.rows[0][0]) : 0;
  return st;
}

}  // namespace shardd::chat
