// Friends, blocks and presence against the real binary, over WebSocket and
// TCP. Runs twice (see CMakeLists.txt): SQLite + memory cache, and MariaDB +
// Redis started once for the whole executable.

#include <atomic>
#include <thread>

#include "it_common.h"
#include "shardd_test/db_env.h"

namespace shardd::test {
namespace {

test::DbServersEnv* const g_servers = test::DbServersEnv::install();

ShardOptions social_shard(std::vector<std::string> extra = {}) {
  ShardOptions o;
  o.overrides = {"auth.kdf=pbkdf2", "auth.pbkdf2_iterations=1000", "admin.token=tok",
                 "auth.register_per_ip_per_min=1000", "auth.ip_attempts_per_min=1000"};
  for (auto& b : g_servers->backend_overrides("social")) o.overrides.push_back(std::move(b));
  for (auto& e : extra) o.overrides.push_back(std::move(e));
  return o;
}

// The next push `op` whose `d` satisfies `pred` (others are skipped).
template <class Client>
std::optional<json> next_push(Client& c, const std::string& op,
                              const std::function<bool(const json&)>& pred) {
  for (int i = 0; i < 20; ++i) {
    auto p = c.recv_push(op);
    if (!p) return std::nullopt;
    if (pred((*p)["d"])) return p;
  }
  return std::nullopt;
}

// The next friend.update about `account` for which `pred` holds.
template <class Client>
std::optional<json> next_update(Client& c, int64_t account,
                                const std::function<bool(const json&)>& pred) {
  return next_push(c, "friend.update",
                   [&](const json& d) { return d["account"] == account && pred(d); });
}

// Three logged-in players: ann and cat over WebSocket, bob over TCP.
struct ThreePlayers {
  explicit ThreePlayers(const Shard& s) {
    connect_ws(ann, s.ws_port());
    connect_tcp(bob, s.tcp_port());
    connect_ws(cat, s.ws_port());
    ann_id = login_as(ann, "ann");
    bob_id = login_as(bob, "bob");
    cat_id = login_as(cat, "cat");
  }
  WsClient ann;
  TcpClient bob;
  WsClient cat;
  int64_t ann_id = 0, bob_id = 0, cat_id = 0;
};

TEST(Social, FriendsAndPresenceAcrossWebSocketAndTcp) {
  Shard s(social_shard());
  s.start();
  WsClient ann;
  connect_ws(ann, s.ws_port());
  TcpClient bob;
  connect_tcp(bob, s.tcp_port());
  int64_t ann_id = login_as(ann, "ann");
  int64_t bob_id = login_as(bob, "bob");

  auto sent = ann.request("friend.request", {{"username", "bob"}});
  ASSERT_TRUE(IsOk(sent));
  EXPECT_EQ((*sent)["d"]["state"], "pending");
  auto asked = bob.recv_push("friend.request");
  ASSERT_TRUE(asked);
  EXPECT_EQ((*asked)["d"]["from"]["account"], ann_id);

  auto acc = bob.request("friend.accept", {{"account", ann_id}}, /*msgpack=*/true);
  ASSERT_TRUE(IsOk(acc));
  EXPECT_EQ((*acc)["d"]["friend"]["name"], "ann");
  ASSERT_TRUE(next_update(ann, bob_id, [](const json& d) { return d["online"] == true; }));

  ASSERT_TRUE(IsOk(bob.request("zone.select", {{"zone", "main"}})));
  ASSERT_TRUE(next_update(ann, bob_id, [](const json& d) { return d["zone"] == "main"; }));
  ASSERT_TRUE(IsOk(bob.request("account.set_display_name", {{"name", "Bobby"}})));
  ASSERT_TRUE(next_update(ann, bob_id, [](const json& d) { return d["name"] == "Bobby"; }));

  auto list = ann.request("friend.list");
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ((*list)["d"]["friends"].size(), 1u);
  EXPECT_EQ((*list)["d"]["friends"][0]["name"], "Bobby");
  EXPECT_EQ((*list)["d"]["friends"][0]["online"], true);

  ASSERT_TRUE(IsOk(bob.request("auth.logout")));
  auto off = next_update(ann, bob_id, [](const json& d) { return d["online"] == false; });
  ASSERT_TRUE(off);
  EXPECT_GT((*off)["d"]["last_seen_ms"].get<int64_t>(), 0);
  EXPECT_GT(scrape(s.admin_port(), "shardd_social_presence_pushes_total"), 3);
}

TEST(Social, PendingRequestsAndBlocksSurviveARestart) {
  Shard s(social_shard());
  s.start();
  int64_t ann_id = 0, bob_id = 0, cat_id = 0;
  {
    WsClient ann, bob, cat;
    connect_ws(ann, s.ws_port());
    connect_ws(bob, s.ws_port());
    connect_ws(cat, s.ws_port());
    ann_id = login_as(ann, "ann");
    bob_id = login_as(bob, "bob");
    cat_id = login_as(cat, "cat");
    ASSERT_TRUE(IsOk(bob.request("auth.logout")));
    ASSERT_TRUE(IsOk(ann.request("friend.request", {{"account", bob_id}})));
    ASSERT_TRUE(
        IsOk(bob.request("auth.login", {{"username", "bob"}, {"password", "pass-word-1"}})));
    ASSERT_TRUE(IsOk(bob.request("social.block", {{"account", cat_id}})));
  }
  ASSERT_EQ(s.stop(), std::optional<int>(0));
  s.start();
  WsClient bob, cat;
  connect_ws(bob, s.ws_port());
  connect_ws(cat, s.ws_port());
  login_as(bob, "bob", false);
  login_as(cat, "cat", false);
  auto list = bob.request("friend.list");
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ((*list)["d"]["incoming"].size(), 1u);
  EXPECT_EQ((*list)["d"]["incoming"][0]["account"], ann_id);
  EXPECT_EQ((*list)["d"]["incoming"][0]["name"], "ann");
  auto blocks = bob.request("social.blocks");
  ASSERT_TRUE(IsOk(blocks));
  ASSERT_EQ((*blocks)["d"]["blocks"].size(), 1u);
  EXPECT_EQ((*blocks)["d"]["blocks"][0]["account"], cat_id);
  EXPECT_TRUE(IsError(cat.request("friend.request", {{"account", bob_id}}), "BLOCKED"));
  EXPECT_TRUE(IsOk(bob.request("friend.accept", {{"account", ann_id}})));
}

// Many players ask one player at once: exactly max_pending_requests get in.
TEST(Social, ConcurrentRequestsNeverExceedTheLimit) {
  constexpr int kPlayers = 8;
  constexpr int kLimit = 3;
  Shard s(social_shard({"social.max_pending_requests=" + std::to_string(kLimit)}));
  s.start();
  WsClient target;
  connect_ws(target, s.ws_port());
  int64_t target_id = login_as(target, "target");
  std::vector<std::unique_ptr<WsClient>> players;
  for (int i = 0; i < kPlayers; ++i) {
    players.push_back(std::make_unique<WsClient>());
    connect_ws(*players.back(), s.ws_port());
    login_as(*players.back(), "player_" + std::to_string(i));
  }
  std::atomic<int> sent{0}, full{0}, other{0};
  std::vector<std::thread> threads;
  for (auto& p : players) {
    threads.emplace_back([&, c = p.get()] {
      auto r = c->request("friend.request", {{"account", target_id}});
      if (IsOk(r)) {
        ++sent;
      } else if (IsError(r, "FULL")) {
        ++full;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sent.load(), kLimit);
  EXPECT_EQ(full.load(), kPlayers - kLimit);
  EXPECT_EQ(other.load(), 0);
  auto list = target.request("friend.list");
  ASSERT_TRUE(IsOk(list));
  EXPECT_EQ((*list)["d"]["incoming"].size(), static_cast<size_t>(kLimit));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_social_limit_hits_total{limit="pending_requests"})"),
            kPlayers - kLimit);
}

// Players race into an open party over real connections: it never exceeds
// its size; the members then talk in the party channel.
TEST(Social, PartyRaceAndPartyChat) {
  constexpr int kPlayers = 8;
  Shard s(social_shard({"social.party_max_size=4"}));
  s.start();
  WsClient lead;
  connect_ws(lead, s.ws_port());
  login_as(lead, "leader");
  auto created = lead.request("party.create", {{"open", true}});
  ASSERT_TRUE(IsOk(created));
  int64_t pid = (*created)["d"]["party"]["id"];
  std::vector<std::unique_ptr<TcpClient>> players;
  for (int i = 0; i < kPlayers; ++i) {
    players.push_back(std::make_unique<TcpClient>());
    connect_tcp(*players.back(), s.tcp_port());
    login_as(*players.back(), "racer_" + std::to_string(i));
  }
  std::atomic<int> joined{0}, full{0};
  std::vector<std::thread> threads;
  for (auto& p : players) {
    threads.emplace_back([&, c = p.get()] {
      auto r = c->request("party.accept", {{"party", pid}});
      if (IsOk(r)) ++joined;
      if (IsError(r, "FULL")) ++full;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(joined.load(), 3);
  EXPECT_EQ(full.load(), kPlayers - 3);
  auto info = lead.request("party.info");
  ASSERT_TRUE(IsOk(info));
  EXPECT_EQ((*info)["d"]["party"]["members"].size(), 4u);
  EXPECT_EQ(scrape(s.admin_port(), "shardd_party_members"), 4);

  // Party chat reaches the members (membership reaches chat just after).
  std::optional<json> sent;
  for (int i = 0; i < 50; ++i) {
    sent = lead.request("chat.send", {{"channel", "party"}, {"text", "gg"}});
    if (IsOk(sent)) break;
    std::this_thread::sleep_for(Ms(20));
  }
  ASSERT_TRUE(IsOk(sent));
  int got = 0;
  for (auto& p : players) {
    auto m = p->recv_push("chat.msg", Ms(300));
    while (m && (*m)["d"]["channel"] != "party") m = p->recv_push("chat.msg", Ms(300));
    if (m) ++got;
  }
  EXPECT_EQ(got, 3);
}

// Players race for one guild name, then for the last seats of a guild,
// over real connections: one name wins, the guild never exceeds its cap.
TEST(Social, GuildRacesKeepNamesUniqueAndTheCap) {
  constexpr int kPlayers = 8;
  Shard s(social_shard({"social.guild_max_members=4", "limits.max_connections_per_ip=100"}));
  s.start();
  std::vector<std::unique_ptr<TcpClient>> players;
  std::vector<int64_t> ids;
  for (int i = 0; i < kPlayers; ++i) {
    players.push_back(std::make_unique<TcpClient>());
    connect_tcp(*players.back(), s.tcp_port());
    ids.push_back(login_as(*players.back(), "gracer_" + std::to_string(i)));
  }
  std::atomic<int> created{0}, taken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPlayers; ++i) {
    threads.emplace_back([&, c = players[i].get(), i] {
      // The same name in different cases, each with its own tag.
      auto r = c->request("guild.create", {{"name", i % 2 ? "Iron Wolves" : "IRON WOLVES"},
                                           {"tag", "W" + std::to_string(i)}});
      if (IsOk(r)) ++created;
      if (IsError(r, "GUILD_NAME_TAKEN")) ++taken;
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(taken.load(), kPlayers - 1);

  // The winner invites everyone else; they all accept at once.
  TcpClient* leader = nullptr;
  int64_t gid = 0;
  for (auto& p : players) {
    auto info = p->request("guild.info");
    if (IsOk(info) && !(*info)["d"]["guild"].is_null()) {
      leader = p.get();
      gid = (*info)["d"]["guild"]["id"];
    }
  }
  ASSERT_NE(leader, nullptr);
  std::vector<TcpClient*> others;
  for (size_t i = 0; i < players.size(); ++i) {
    if (players[i].get() == leader) continue;
    others.push_back(players[i].get());
    ASSERT_TRUE(IsOk(leader->request("guild.invite", {{"account", ids[i]}})));
  }
  std::atomic<int> joined{0}, full{0};
  for (TcpClient* c : others) {
    threads.emplace_back([&, c] {
      auto r = c->request("guild.accept", {{"guild", gid}});
      if (IsOk(r)) ++joined;
      if (IsError(r, "FULL")) ++full;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(joined.load(), 3);
  EXPECT_EQ(full.load(), kPlayers - 1 - 3);
  auto members = leader->request("guild.members");
  ASSERT_TRUE(IsOk(members));
  EXPECT_EQ((*members)["d"]["members"].size(), 4u);
}

// Guilds are stored: members, roles and the message of the day survive a
// restart, and names stay unique across it.
TEST(Social, GuildsSurviveARestart) {
  Shard s(social_shard());
  s.start();
  int64_t gid = 0, bob_id = 0;
  {
    WsClient ann, bob;
    connect_ws(ann, s.ws_port());
    connect_ws(bob, s.ws_port());
    login_as(ann, "ann");
    bob_id = login_as(bob, "bob");
    auto g = ann.request("guild.create", {{"name", "Iron Wolves"}, {"tag", "IW"}});
    ASSERT_TRUE(IsOk(g));
    gid = (*g)["d"]["guild"]["id"];
    ASSERT_TRUE(IsOk(bob.request("guild.join_request", {{"guild", gid}})));
    ASSERT_TRUE(IsOk(ann.request("guild.approve", {{"account", bob_id}})));
    ASSERT_TRUE(IsOk(ann.request("guild.set_role", {{"account", bob_id}, {"role", "officer"}})));
    ASSERT_TRUE(IsOk(ann.request("guild.motd", {{"text", "welcome"}})));
  }
  ASSERT_EQ(s.stop(), std::optional<int>(0));
  s.start();
  WsClient bob, cat;
  connect_ws(bob, s.ws_port());
  connect_ws(cat, s.ws_port());
  login_as(bob, "bob", false);
  login_as(cat, "cat");
  auto info = bob.request("guild.info");
  ASSERT_TRUE(IsOk(info));
  EXPECT_EQ((*info)["d"]["guild"]["id"], gid);
  EXPECT_EQ((*info)["d"]["guild"]["motd"], "welcome");
  EXPECT_EQ((*info)["d"]["guild"]["members"], 2);
  auto members = bob.request("guild.members");
  ASSERT_TRUE(IsOk(members));
  EXPECT_EQ((*members)["d"]["members"][1]["role"], "officer");
  EXPECT_TRUE(IsError(cat.request("guild.create", {{"name", "iron wolves"}, {"tag", "ZZ"}}),
                      "GUILD_NAME_TAKEN"));
  // Public info for others: no message of the day.
  auto other = cat.request("guild.info", {{"guild", gid}});
  ASSERT_TRUE(IsOk(other));
  EXPECT_FALSE((*other)["d"]["guild"].contains("motd"));

  // Moderators: read it, replace the message of the day, disband it.
  const std::vector<std::pair<std::string, std::string>> auth = {{"Authorization", "Bearer tok"}};
  auto read = http_request("GET", s.admin_port(),
                           "/admin/guilds/info?guild_id=" + std::to_string(gid), "", auth);
  ASSERT_EQ(read.status, 200) << read.body;
  auto body = json::parse(read.body);
  EXPECT_EQ(body["guild"]["motd"], "welcome");
  ASSERT_EQ(body["members"].size(), 2u);
  EXPECT_EQ(body["members"][1]["account"], bob_id);
  EXPECT_EQ(body["members"][1]["online"], true);
  EXPECT_EQ(
      http_request("GET", s.admin_port(), "/admin/guilds/info?guild_id=999999", "", auth).status,
      404);
  auto motd =
      admin_post(s.admin_port(), "tok", "/admin/guilds/motd", {{"guild_id", gid}, {"text", ""}});
  ASSERT_EQ(motd.status, 200) << motd.body;
  auto upd = next_push(bob, "guild.update", [](const json& d) { return d["guild"]["motd"] == ""; });
  ASSERT_TRUE(upd);
  auto gone = admin_post(s.admin_port(), "tok", "/admin/guilds/disband",
                         {{"guild_id", gid}, {"reason", "offensive name"}});
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(json::parse(gone.body)["members"], 2);
  auto told = next_push(bob, "guild.update", [](const json& d) { return d["guild"].is_null(); });
  ASSERT_TRUE(told);
  EXPECT_EQ((*told)["d"]["reason"], "disbanded");
  EXPECT_TRUE((*bob.request("guild.info"))["d"]["guild"].is_null());
  EXPECT_TRUE(s.wait_log("audit: guild disband guild:" + std::to_string(gid), Ms(2000)));
  EXPECT_EQ(admin_post(s.admin_port(), "tok", "/admin/guilds/disband", {{"guild_id", gid}}).status,
            404);
  // The name is free again.
  EXPECT_TRUE(IsOk(cat.request("guild.create", {{"name", "Iron Wolves"}, {"tag", "IW"}})));
}

// The party life over both transports: invite-only rules, decline, blocks,
// promote, kick, and the lead passing on when the leader leaves or logs out.
TEST(Social, PartyInvitesKicksAndLeaderHandOff) {
  Shard s(social_shard());
  s.start();
  ThreePlayers p(s);
  WsClient& ann = p.ann;
  TcpClient& bob = p.bob;
  WsClient& cat = p.cat;
  const int64_t ann_id = p.ann_id, bob_id = p.bob_id, cat_id = p.cat_id;

  auto created = ann.request("party.create", {{"open", false}});
  ASSERT_TRUE(IsOk(created));
  int64_t pid = (*created)["d"]["party"]["id"];
  EXPECT_TRUE(IsError(bob.request("party.accept", {{"party", pid}}), "FORBIDDEN"));
  EXPECT_TRUE(IsError(bob.request("party.decline", {{"party", pid}}), "NOT_FOUND"));

  // Invite, decline: the invite is gone.
  ASSERT_TRUE(IsOk(ann.request("party.invite", {{"account", bob_id}})));
  auto inv = bob.recv_push("party.invite");
  ASSERT_TRUE(inv);
  EXPECT_EQ((*inv)["d"]["party"], pid);
  EXPECT_EQ((*inv)["d"]["from"]["account"], ann_id);
  EXPECT_GT((*inv)["seq"].get<int64_t>(), 0);  // numbered: replayed after a resume
  ASSERT_TRUE(IsOk(bob.request("party.decline", {{"party", pid}})));
  EXPECT_TRUE(IsError(bob.request("party.accept", {{"party", pid}}), "FORBIDDEN"));

  // A player who blocked you cannot be invited.
  ASSERT_TRUE(IsOk(cat.request("social.block", {{"account", ann_id}})));
  EXPECT_TRUE(IsError(ann.request("party.invite", {{"account", cat_id}}), "BLOCKED"));
  ASSERT_TRUE(IsOk(cat.request("social.unblock", {{"account", ann_id}})));

  ASSERT_TRUE(IsOk(ann.request("party.invite", {{"account", bob_id}})));
  auto joined = bob.request("party.accept", {{"party", pid}});
  ASSERT_TRUE(IsOk(joined));
  EXPECT_EQ((*joined)["d"]["party"]["members"].size(), 2u);
  EXPECT_TRUE(IsError(bob.request("party.create"), "BAD_REQUEST"));  // one party per account
  // Invite-only: only the leader invites, kicks and promotes.
  EXPECT_TRUE(IsError(bob.request("party.invite", {{"account", cat_id}}), "FORBIDDEN"));
  EXPECT_TRUE(IsError(bob.request("party.kick", {{"account", ann_id}}), "FORBIDDEN"));
  EXPECT_TRUE(IsError(ann.request("party.kick", {{"account", cat_id}}), "NOT_FOUND"));

  ASSERT_TRUE(IsOk(ann.request("party.promote", {{"account", bob_id}})));
  auto info = ann.request("party.info");
  ASSERT_TRUE(IsOk(info));
  EXPECT_EQ((*info)["d"]["party"]["leader"], bob_id);
  ASSERT_TRUE(IsOk(bob.request("party.kick", {{"account", ann_id}})));
  auto gone = next_push(ann, "party.update", [](const json& d) { return d["party"].is_null(); });
  ASSERT_TRUE(gone);
  EXPECT_EQ((*gone)["d"]["reason"], "kicked");
  ASSERT_TRUE(IsOk(bob.request("party.leave")));
  auto none = bob.request("party.info");
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE((*none)["d"]["party"].is_null());

  // An open party: the lead passes in joining order to an online member.
  auto open = ann.request("party.create", {{"open", true}});
  ASSERT_TRUE(IsOk(open));
  int64_t open_id = (*open)["d"]["party"]["id"];
  ASSERT_TRUE(IsOk(bob.request("party.accept", {{"party", open_id}})));
  ASSERT_TRUE(IsOk(cat.request("party.accept", {{"party", open_id}})));
  ASSERT_TRUE(IsOk(ann.request("party.leave")));
  auto after_leave = cat.request("party.info");
  ASSERT_TRUE(IsOk(after_leave));
  EXPECT_EQ((*after_leave)["d"]["party"]["leader"], bob_id);
  EXPECT_EQ((*after_leave)["d"]["party"]["members"].size(), 2u);
  ASSERT_TRUE(IsOk(bob.request("auth.logout")));
  std::optional<json> after_logout;
  for (int i = 0; i < 50; ++i) {
    after_logout = cat.request("party.info");
    if (IsOk(after_logout) && (*after_logout)["d"]["party"]["leader"] == cat_id) break;
    std::this_thread::sleep_for(Ms(20));
  }
  ASSERT_TRUE(IsOk(after_logout));
  EXPECT_EQ((*after_logout)["d"]["party"]["leader"], cat_id);
  bool bob_offline = false;
  for (const auto& m : (*after_logout)["d"]["party"]["members"]) {
    if (m["account"] == bob_id) bob_offline = m["online"] == false;
  }
  EXPECT_TRUE(bob_offline);
}

// Guild invitations and join requests answered both ways, the permissions
// of each role, the lead handed over, and a disband.
TEST(Social, GuildRolesRequestsAndDisband) {
  Shard s(social_shard());
  s.start();
  ThreePlayers p(s);
  WsClient& ann = p.ann;
  TcpClient& bob = p.bob;
  WsClient& cat = p.cat;
  const int64_t ann_id = p.ann_id, bob_id = p.bob_id, cat_id = p.cat_id;

  auto g = ann.request("guild.create", {{"name", "Night Owls"}, {"tag", "OWL"}});
  ASSERT_TRUE(IsOk(g));
  int64_t gid = (*g)["d"]["guild"]["id"];
  EXPECT_TRUE(IsError(bob.request("guild.members"), "NOT_FOUND"));

  ASSERT_TRUE(IsOk(ann.request("guild.invite", {{"account", bob_id}})));
  auto inv = bob.recv_push("guild.invite");
  ASSERT_TRUE(inv);
  EXPECT_EQ((*inv)["d"]["guild"], gid);
  ASSERT_TRUE(IsOk(bob.request("guild.decline", {{"guild", gid}})));
  EXPECT_TRUE(IsError(bob.request("guild.accept", {{"guild", gid}}), "NOT_FOUND"));

  ASSERT_TRUE(IsOk(cat.request("guild.join_request", {{"guild", gid}})));
  auto req = ann.recv_push("guild.request");
  ASSERT_TRUE(req);
  EXPECT_EQ((*req)["d"]["from"]["account"], cat_id);
  ASSERT_TRUE(IsOk(ann.request("guild.reject", {{"account", cat_id}})));
  EXPECT_TRUE(IsError(ann.request("guild.approve", {{"account", cat_id}}), "NOT_FOUND"));

  ASSERT_TRUE(IsOk(cat.request("guild.join_request", {{"guild", gid}})));
  ASSERT_TRUE(IsOk(ann.request("guild.approve", {{"account", cat_id}})));
  ASSERT_TRUE(IsOk(bob.request("guild.join_request", {{"guild", gid}})));
  ASSERT_TRUE(IsOk(ann.request("guild.approve", {{"account", bob_id}})));

  // A member may not kick, invite, set the motd or change roles.
  EXPECT_TRUE(IsError(cat.request("guild.kick", {{"account", bob_id}}), "FORBIDDEN"));
  EXPECT_TRUE(IsError(cat.request("guild.motd", {{"text", "hi"}}), "FORBIDDEN"));
  EXPECT_TRUE(IsError(cat.request("guild.set_role", {{"account", bob_id}, {"role", "officer"}}),
                      "FORBIDDEN"));
  // An officer kicks members, not the leader.
  ASSERT_TRUE(IsOk(ann.request("guild.set_role", {{"account", cat_id}, {"role", "officer"}})));
  EXPECT_TRUE(IsError(cat.request("guild.kick", {{"account", ann_id}}), "FORBIDDEN"));
  ASSERT_TRUE(IsOk(cat.request("guild.kick", {{"account", bob_id}})));
  auto kicked = next_push(bob, "guild.update", [](const json& d) { return d["guild"].is_null(); });
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["d"]["reason"], "kicked");

  ASSERT_TRUE(IsOk(cat.request("guild.motd", {{"text", "raid at 8"}})));
  EXPECT_TRUE(next_push(ann, "guild.update", [](const json& d) {
    return d["guild"].is_object() && d["guild"]["motd"] == "raid at 8";
  }));

  // The lead handed over: the old leader is an officer and may not disband.
  ASSERT_TRUE(IsOk(ann.request("guild.set_role", {{"account", cat_id}, {"role", "leader"}})));
  EXPECT_TRUE(IsError(ann.request("guild.disband"), "FORBIDDEN"));
  auto members = ann.request("guild.members");
  ASSERT_TRUE(IsOk(members));
  ASSERT_EQ((*members)["d"]["members"].size(), 2u);
  EXPECT_EQ((*members)["d"]["members"][0]["role"], "officer");
  EXPECT_EQ((*members)["d"]["members"][1]["role"], "leader");
  ASSERT_TRUE(IsOk(cat.request("guild.disband")));
  auto disbanded =
      next_push(ann, "guild.update", [](const json& d) { return d["guild"].is_null(); });
  ASSERT_TRUE(disbanded);
  EXPECT_EQ((*disbanded)["d"]["reason"], "disbanded");
  auto info = ann.request("guild.info");
  ASSERT_TRUE(IsOk(info));
  EXPECT_TRUE((*info)["d"]["guild"].is_null());
  EXPECT_TRUE(IsError(ann.request("guild.info", {{"guild", gid}}), "NOT_FOUND"));
  // The name is free again.
  EXPECT_TRUE(IsOk(bob.request("guild.create", {{"name", "Night Owls"}, {"tag", "OWL"}})));
}

// What an account waits for in guilds, over both transports: invites made
// while it was offline, its join requests, the per-account cap, withdrawing,
// and a block refusing guild invites.
TEST(Social, GuildInvitesAndRequestsWaitingPerAccount) {
  Shard s(social_shard({"social.guild_max_pending_per_account=2"}));
  s.start();
  ThreePlayers p(s);
  auto a = p.ann.request("guild.create", {{"name", "Alpha Wing"}, {"tag", "AW"}});
  auto c = p.cat.request("guild.create", {{"name", "Cat Club"}, {"tag", "CAT"}});
  ASSERT_TRUE(IsOk(a));
  ASSERT_TRUE(IsOk(c));
  int64_t alpha = (*a)["d"]["guild"]["id"], club = (*c)["d"]["guild"]["id"];
  // Bob is offline when ann invites him; he finds it at his next login.
  ASSERT_TRUE(IsOk(p.bob.request("auth.logout")));
  ASSERT_TRUE(IsOk(p.ann.request("guild.invite", {{"account", p.bob_id}})));
  login_as(p.bob, "bob", false);
  auto pending = p.bob.request("guild.pending");
  ASSERT_TRUE(IsOk(pending));
  ASSERT_EQ((*pending)["d"]["invites"].size(), 1u);
  EXPECT_EQ((*pending)["d"]["invites"][0]["guild"], alpha);
  EXPECT_EQ((*pending)["d"]["invites"][0]["tag"], "AW");
  // One request more fills his two; a third is refused either way.
  ASSERT_TRUE(IsOk(p.bob.request("guild.join_request", {{"guild", club}})));
  auto mine = p.bob.request("guild.join_request", {{"guild", alpha}});
  ASSERT_TRUE(IsError(mine, "FULL"));
  EXPECT_EQ((*mine)["err"]["limit"], 2);
  EXPECT_TRUE(IsOk(p.bob.request("guild.withdraw", {{"guild", club}})));
  EXPECT_TRUE(IsError(p.bob.request("guild.withdraw", {{"guild", club}}), "NOT_FOUND"));
  ASSERT_TRUE(IsOk(p.cat.request("guild.invite", {{"account", p.bob_id}})));
  WsClient dan;
  connect_ws(dan, s.ws_port());
  login_as(dan, "dan");
  auto d = dan.request("guild.create", {{"name", "Dan Den"}, {"tag", "DD"}});
  ASSERT_TRUE(IsOk(d));
  auto theirs = dan.request("guild.invite", {{"account", p.bob_id}});
  ASSERT_TRUE(IsError(theirs, "FULL"));
  EXPECT_EQ(scrape(s.admin_port(),
                   R"(shardd_social_limit_hits_total{limit="guild_pending_per_account"})"),
            2);
  // A block refuses guild invites (checked before anything else).
  ASSERT_TRUE(IsOk(p.ann.request("social.block", {{"account", p.cat_id}})));
  EXPECT_TRUE(IsError(p.cat.request("guild.invite", {{"account", p.ann_id}}), "BLOCKED"));
  EXPECT_EQ(scrape(s.admin_port(), "shardd_social_blocked_total"), 1);
}

TEST(Social, ErrorsNameTheProblem) {
  Shard s(social_shard());
  s.start();
  WsClient ann;
  connect_ws(ann, s.ws_port());
  EXPECT_TRUE(IsError(ann.request("friend.list"), "UNAUTHORIZED"));
  int64_t ann_id = login_as(ann, "ann");
  EXPECT_TRUE(IsError(ann.request("friend.request", {{"account", ann_id}}), "BAD_REQUEST"));
  EXPECT_TRUE(IsError(ann.request("friend.request", {{"username", "ghost"}}), "NOT_FOUND"));
  EXPECT_TRUE(IsError(ann.request("friend.accept", {{"account", 777}}), "NOT_FOUND"));
  EXPECT_TRUE(IsError(ann.request("friend.decline", {{"account", 777}}), "NOT_FOUND"));
  EXPECT_TRUE(IsError(ann.request("friend.remove", {{"account", 777}}), "NOT_FOUND"));
  EXPECT_TRUE(IsError(ann.request("social.unblock", {{"account", 777}}), "NOT_FOUND"));
  auto bad = ann.request("social.block", {{"account", "seven"}});
  ASSERT_TRUE(IsError(bad, "BAD_REQUEST"));
  EXPECT_NE((*bad)["err"]["msg"].get<std::string>().find("account"), std::string::npos);
  EXPECT_TRUE(PingWorks(ann));
}

}  // namespace
}  // namespace shardd::test
