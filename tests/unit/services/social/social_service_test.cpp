// The social service's rules, in process (ServiceFixture with the account
// and social services: real gateway, SQLite store, fake sessions, FakeClock).
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "shardd/services/account.h"
#include "shardd/services/social.h"
#include "shardd_test/service_helpers.h"

namespace shardd::social {
namespace {

using json = nlohmann::json;
using shardd::testing::FakeClient;
using shardd::testing::ServiceFixture;
using namespace std::chrono_literals;

std::vector<services::ServiceDef> defs() {
  return {account::service_def(), service_def()};
}

using shardd::testing::cheap_auth;
using shardd::testing::code_of;
bool ok(const json& r) {
  return shardd::testing::is_ok(r);
}
int64_t login(FakeClient& c, const std::string& name, bool fresh = true) {
  return shardd::testing::login_as(c, name, fresh);
}

// Waits for a friend.update about `account` matching `pred`.
json wait_update(FakeClient& c, int64_t account, const std::function<bool(const json&)>& pred) {
  for (int i = 0; i < 20; ++i) {
    json p = c.wait_push("friend.update");
    if (p.is_null()) return p;
    if (p["d"]["account"] == account && pred(p["d"])) return p;
  }
  return nullptr;
}

// Makes a and b friends (a asks, b accepts).
void befriend(FakeClient& a, FakeClient& b, int64_t b_id, int64_t a_id) {
  ASSERT_TRUE(ok(a.request("friend.request", {{"account", b_id}})));
  json r = b.request("friend.accept", {{"account", a_id}});
  ASSERT_TRUE(ok(r)) << r.dump();
}

TEST(SocialServiceTest, RequestAcceptAndPresenceFollowsTheFriend) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");

  json sent = ann->request("friend.request", {{"username", "BOB"}});
  ASSERT_TRUE(ok(sent)) << sent.dump();
  EXPECT_EQ(sent["d"]["state"], "pending");
  EXPECT_EQ(sent["d"]["account"], bob_id);
  json asked = bob->wait_push("friend.request");
  ASSERT_FALSE(asked.is_null());
  EXPECT_EQ(asked["d"]["from"]["account"], ann_id);
  EXPECT_EQ(asked["d"]["from"]["name"], "ann");
  EXPECT_GT(asked["seq"].get<int64_t>(), 0) << "friend.request is replayable";

  json list = bob->request("friend.list");
  ASSERT_TRUE(ok(list));
  ASSERT_EQ(list["d"]["incoming"].size(), 1u);
  EXPECT_EQ(list["d"]["incoming"][0]["account"], ann_id);
  EXPECT_EQ(ann->request("friend.list")["d"]["outgoing"][0]["account"], bob_id);

  json acc = bob->request("friend.accept", {{"account", ann_id}});
  ASSERT_TRUE(ok(acc)) << acc.dump();
  EXPECT_EQ(acc["d"]["friend"]["account"], ann_id);
  EXPECT_EQ(acc["d"]["friend"]["online"], true);
  json up = wait_update(*ann, bob_id, [](const json& d) { return d["state"] == "friend"; });
  ASSERT_FALSE(up.is_null());
  EXPECT_EQ(up["d"]["online"], true);
  EXPECT_EQ(up["seq"], 0) << "friend.update is not replayed";

  // Zone changes and logouts reach the friend.
  ASSERT_TRUE(ok(bob->request("zone.select", {{"zone", "main"}})));
  ASSERT_FALSE(
      wait_update(*ann, bob_id, [](const json& d) { return d["zone"] == "main"; }).is_null());
  list = ann->request("friend.list");
  ASSERT_EQ(list["d"]["friends"].size(), 1u);
  EXPECT_EQ(list["d"]["friends"][0]["zone"], "main");
  EXPECT_EQ(list["d"]["friends"][0]["online"], true);
  EXPECT_TRUE(list["d"]["incoming"].empty());

  f.clock().advance(10s);
  int64_t at = f.clock().now_ms();
  ASSERT_TRUE(ok(bob->request("auth.logout")));
  json off = wait_update(*ann, bob_id, [](const json& d) { return d["online"] == false; });
  ASSERT_FALSE(off.is_null());
  EXPECT_EQ(off["d"]["last_seen_ms"], at);
  EXPECT_EQ(off["d"]["name"], "bob");

  // Logging in again is announced once the friend's graph is loaded.
  ASSERT_TRUE(ok(bob->request("auth.login", {{"username", "bob"}, {"password", "password1"}})));
  ASSERT_FALSE(
      wait_update(*ann, bob_id, [](const json& d) { return d["online"] == true; }).is_null());
}

TEST(SocialServiceTest, CrossedRequestsMakeFriendsAndRemoveTellsTheOther) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  ASSERT_EQ(ann->request("friend.request", {{"account", bob_id}})["d"]["state"], "pending");
  ASSERT_EQ(ann->request("friend.request", {{"account", bob_id}})["d"]["state"], "pending")
      << "asking twice is harmless";
  json cross = bob->request("friend.request", {{"account", ann_id}});
  ASSERT_TRUE(ok(cross)) << cross.dump();
  EXPECT_EQ(cross["d"]["state"], "friends");
  ASSERT_FALSE(
      wait_update(*ann, bob_id, [](const json& d) { return d["state"] == "friend"; }).is_null());

  json rm = bob->request("friend.remove", {{"account", ann_id}});
  ASSERT_TRUE(ok(rm)) << rm.dump();
  EXPECT_EQ(rm["d"]["removed"], "friend");
  ASSERT_FALSE(
      wait_update(*ann, bob_id, [](const json& d) { return d["state"] == "removed"; }).is_null());
  EXPECT_TRUE(ann->request("friend.list")["d"]["friends"].empty());
  EXPECT_EQ(code_of(bob->request("friend.remove", {{"account", ann_id}})), "NOT_FOUND");

  // friend.remove also withdraws one's own request; decline drops theirs.
  ASSERT_TRUE(ok(ann->request("friend.request", {{"account", bob_id}})));
  EXPECT_EQ(ann->request("friend.remove", {{"account", bob_id}})["d"]["removed"], "request");
  EXPECT_TRUE(bob->request("friend.list")["d"]["incoming"].empty());
  ASSERT_TRUE(ok(ann->request("friend.request", {{"account", bob_id}})));
  ASSERT_TRUE(ok(bob->request("friend.decline", {{"account", ann_id}})));
  EXPECT_EQ(code_of(bob->request("friend.decline", {{"account", ann_id}})), "NOT_FOUND");
  EXPECT_EQ(code_of(bob->request("friend.accept", {{"account", ann_id}})), "NOT_FOUND");
}

TEST(SocialServiceTest, LimitsAreEnforcedWithFull) {
  ServiceFixture f(defs(), cheap_auth({"social.max_friends=1", "social.max_pending_requests=1",
                                       "social.max_blocks=1"}));
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  int64_t cat_id = login(*cat, "cat");

  ASSERT_TRUE(ok(ann->request("friend.request", {{"account", bob_id}})));
  json second = ann->request("friend.request", {{"account", cat_id}});
  EXPECT_EQ(code_of(second), "FULL") << second.dump();
  EXPECT_EQ(second["err"]["limit"], 1);
  // Bob's one incoming slot is taken by ann.
  EXPECT_EQ(code_of(cat->request("friend.request", {{"account", bob_id}})), "FULL");

  ASSERT_TRUE(ok(bob->request("friend.accept", {{"account", ann_id}})));
  // Ann has her one friend: she can neither ask nor be accepted by another.
  EXPECT_EQ(code_of(ann->request("friend.request", {{"account", cat_id}})), "FULL");
  ASSERT_TRUE(ok(cat->request("friend.request", {{"account", ann_id}})));
  EXPECT_EQ(code_of(ann->request("friend.accept", {{"account", cat_id}})), "FULL");

  ASSERT_TRUE(ok(ann->request("social.block", {{"account", cat_id}})));
  EXPECT_EQ(code_of(ann->request("social.block", {{"account", bob_id}})), "FULL");
  EXPECT_NE(f.metrics_text().find("shardd_social_limit_hits_total{limit=\"friends\"}"),
            std::string::npos);
}

TEST(SocialServiceTest, BlockEndsFriendshipAndRefusesRequests) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  befriend(*ann, *bob, bob_id, ann_id);

  ASSERT_TRUE(ok(bob->request("social.block", {{"account", ann_id}})));
  ASSERT_FALSE(
      wait_update(*ann, bob_id, [](const json& d) { return d["state"] == "removed"; }).is_null());
  EXPECT_TRUE(bob->request("friend.list")["d"]["friends"].empty());
  json refused = ann->request("friend.request", {{"account", bob_id}});
  EXPECT_EQ(code_of(refused), "BLOCKED") << refused.dump();
  EXPECT_EQ(code_of(bob->request("friend.request", {{"account", ann_id}})), "FORBIDDEN");
  ASSERT_TRUE(ok(bob->request("social.block", {{"account", ann_id}})))
      << "blocking twice is harmless";

  json blocks = bob->request("social.blocks");
  ASSERT_EQ(blocks["d"]["blocks"].size(), 1u);
  EXPECT_EQ(blocks["d"]["blocks"][0]["account"], ann_id);
  EXPECT_EQ(blocks["d"]["blocks"][0]["name"], "ann");

  ASSERT_TRUE(ok(bob->request("social.unblock", {{"account", ann_id}})));
  EXPECT_EQ(code_of(bob->request("social.unblock", {{"account", ann_id}})), "NOT_FOUND");
  EXPECT_TRUE(ok(ann->request("friend.request", {{"account", bob_id}})));
}

TEST(SocialServiceTest, BadTargetsAreRefused) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  EXPECT_EQ(code_of(ann->request("friend.list")), "UNAUTHORIZED");
  int64_t ann_id = login(*ann, "ann");
  EXPECT_EQ(code_of(ann->request("friend.request", {{"account", ann_id}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("friend.request", {{"account", 999999}})), "NOT_FOUND");
  EXPECT_EQ(code_of(ann->request("friend.request", {{"username", "nobody"}})), "NOT_FOUND");
  EXPECT_EQ(code_of(ann->request("friend.request", {})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("friend.request", {{"account", 2}, {"username", "x"}})),
            "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("friend.request", {{"account", "2"}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("social.block", {{"account", 0}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("social.block", {{"account", 424242}})), "NOT_FOUND");
  EXPECT_EQ(code_of(ann->request("social.block", {{"account", ann_id}})), "BAD_REQUEST");
}

}  // namespace
}  // namespace shardd::social

namespace shardd::social {
namespace {

json party_of(const json& r) {
  return r["d"]["party"];
}

// The next party.update whose party satisfies `pred` (null party: left).
json wait_party(FakeClient& c, const std::function<bool(const json&)>& pred) {
  for (int i = 0; i < 20; ++i) {
    json p = c.wait_push("party.update");
    if (p.is_null()) return p;
    if (pred(p["d"]["party"])) return p;
  }
  return nullptr;
}

TEST(PartyTest, InviteAcceptLeadKickAndLeave) {
  ServiceFixture f(defs(), cheap_auth({"social.party_max_size=3"}));
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  auto dan = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  int64_t cat_id = login(*cat, "cat");
  int64_t dan_id = login(*dan, "dan");

  EXPECT_EQ(code_of(ann->request("party.invite", {{"account", bob_id}})), "NOT_FOUND");
  json created = ann->request("party.create");
  ASSERT_TRUE(ok(created)) << created.dump();
  int64_t pid = party_of(created)["id"];
  EXPECT_EQ(party_of(created)["leader"], ann_id);
  EXPECT_EQ(code_of(ann->request("party.create")), "BAD_REQUEST") << "one party per account";
  EXPECT_EQ(code_of(ann->request("party.invite", {{"account", ann_id}})), "BAD_REQUEST");

  ASSERT_TRUE(ok(ann->request("party.invite", {{"account", bob_id}})));
  json inv = bob->wait_push("party.invite");
  ASSERT_FALSE(inv.is_null());
  EXPECT_EQ(inv["d"]["party"], pid);
  EXPECT_EQ(inv["d"]["from"]["name"], "ann");
  EXPECT_EQ(code_of(cat->request("party.accept", {{"party", pid}})), "FORBIDDEN") << "no invite";
  json joined = bob->request("party.accept", {{"party", pid}});
  ASSERT_TRUE(ok(joined)) << joined.dump();
  EXPECT_EQ(party_of(joined)["members"].size(), 2u);
  ASSERT_FALSE(wait_party(*ann, [](const json& p) { return p["members"].size() == 2; }).is_null());
  EXPECT_EQ(code_of(bob->request("party.invite", {{"account", cat_id}})), "FORBIDDEN")
      << "invite-only: the leader invites";

  // Two invites pending plus two members would exceed three.
  ASSERT_TRUE(ok(ann->request("party.invite", {{"account", cat_id}})));
  json full = ann->request("party.invite", {{"account", dan_id}});
  EXPECT_EQ(code_of(full), "FULL") << full.dump();
  EXPECT_EQ(full["err"]["limit"], 3);
  EXPECT_NE(f.metrics_text().find("shardd_social_limit_hits_total{limit=\"party_size\"} 1\n"),
            std::string::npos);
  ASSERT_TRUE(ok(cat->request("party.decline", {{"party", pid}})));
  EXPECT_EQ(code_of(cat->request("party.decline", {{"party", pid}})), "NOT_FOUND");

  ASSERT_TRUE(ok(bob->request("party.ready", {{"ready", true}})));
  ASSERT_FALSE(wait_party(*ann, [](const json& p) {
                 return p["members"].size() == 2 && p["members"][1]["ready"] == true;
               }).is_null());
  EXPECT_EQ(code_of(bob->request("party.kick", {{"account", ann_id}})), "FORBIDDEN");
  ASSERT_TRUE(ok(ann->request("party.promote", {{"account", bob_id}})));
  ASSERT_FALSE(wait_party(*ann, [&](const json& p) { return p["leader"] == bob_id; }).is_null());
  ASSERT_TRUE(ok(bob->request("party.kick", {{"account", ann_id}})));
  json gone = ann->wait_push("party.update");
  for (int i = 0; i < 5 && !gone.is_null() && !gone["d"]["party"].is_null(); ++i) {
    gone = ann->wait_push("party.update");
  }
  ASSERT_FALSE(gone.is_null());
  EXPECT_EQ(gone["d"]["reason"], "kicked");
  EXPECT_TRUE(ann->request("party.info")["d"]["party"].is_null());
  ASSERT_TRUE(ok(bob->request("party.leave")));
  EXPECT_EQ(code_of(bob->request("party.leave")), "NOT_FOUND");
  EXPECT_EQ(code_of(cat->request("party.accept", {{"party", pid}})), "NOT_FOUND") << "disbanded";
}

TEST(PartyTest, TheLeadPassesToSomeoneOnlineAndBlocksHold) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  int64_t cat_id = login(*cat, "cat");
  json created = ann->request("party.create", {{"open", true}});
  int64_t pid = party_of(created)["id"];
  ASSERT_TRUE(ok(bob->request("party.accept", {{"party", pid}}))) << "open: no invite needed";
  // The leader logs out: still a member (offline), bob leads.
  ASSERT_TRUE(ok(ann->request("auth.logout")));
  json led = wait_party(*bob, [&](const json& p) { return p["leader"] == bob_id; });
  ASSERT_FALSE(led.is_null());
  EXPECT_EQ(led["d"]["party"]["members"][0]["online"], false);
  // Ann comes back: in the party again, not leading.
  login(*ann, "ann", false);
  json info = ann->request("party.info");
  ASSERT_FALSE(info["d"]["party"].is_null()) << info.dump();
  EXPECT_EQ(info["d"]["party"]["leader"], bob_id);

  ASSERT_TRUE(ok(cat->request("social.block", {{"account", bob_id}})));
  EXPECT_EQ(code_of(bob->request("party.invite", {{"account", cat_id}})), "BLOCKED");
  EXPECT_NE(f.metrics_text().find("\nshardd_social_blocked_total 1\n"), std::string::npos);
  // Everyone goes offline: the party ends.
  ASSERT_TRUE(ok(ann->request("auth.logout")));
  ASSERT_TRUE(ok(bob->request("auth.logout")));
  login(*ann, "ann", false);
  EXPECT_TRUE(ann->request("party.info")["d"]["party"].is_null());
  (void)ann_id;
}

// Many players race into an open party: it never exceeds its size, and
// members leaving at once never leave it without a leader.
TEST(PartyTest, RacingJoinsAndLeavesKeepTheRules) {
  constexpr int kPlayers = 10;
  ServiceFixture f(defs(), cheap_auth({"social.party_max_size=4"}));
  auto lead = f.connect();
  login(*lead, "leader");
  int64_t pid = party_of(lead->request("party.create", {{"open", true}}))["id"];
  std::vector<std::unique_ptr<FakeClient>> players;
  for (int i = 0; i < kPlayers; ++i) {
    players.push_back(f.connect());
    login(*players.back(), "player_" + std::to_string(i));
  }
  std::atomic<int> joined{0}, full{0};
  std::vector<std::thread> threads;
  for (auto& p : players) {
    threads.emplace_back([&, c = p.get()] {
      json r = c->request("party.accept", {{"party", pid}});
      if (ok(r)) ++joined;
      if (code_of(r) == "FULL") ++full;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(joined.load(), 3);
  EXPECT_EQ(full.load(), kPlayers - 3);
  json info = lead->request("party.info");
  ASSERT_EQ(info["d"]["party"]["members"].size(), 4u);

  // The leader and two members leave at once: the one left leads.
  threads.clear();
  std::vector<FakeClient*> leaving = {lead.get()};
  FakeClient* stays = nullptr;
  for (auto& p : players) {
    if (!ok(p->request("party.info")) || p->request("party.info")["d"]["party"].is_null()) continue;
    if (leaving.size() < 3) {
      leaving.push_back(p.get());
    } else {
      stays = p.get();
    }
  }
  ASSERT_NE(stays, nullptr);
  for (FakeClient* c : leaving) threads.emplace_back([c] { c->request("party.leave"); });
  for (auto& t : threads) t.join();
  json left = stays->request("party.info");
  ASSERT_FALSE(left["d"]["party"].is_null());
  EXPECT_EQ(left["d"]["party"]["members"].size(), 1u);
  EXPECT_EQ(left["d"]["party"]["leader"], left["d"]["party"]["members"][0]["account"]);
}

}  // namespace
}  // namespace shardd::social

namespace shardd::social {
namespace {

json guild_of(const json& r) {
  return r["d"]["guild"];
}

TEST(GuildTest, CreateInviteRequestRolesAndDisband) {
  ServiceFixture f(defs(), cheap_auth({"social.guild_max_members=3",
                                       "social.guild_name_blocklist=[\"badword\"]"}));
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  auto dan = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  int64_t cat_id = login(*cat, "cat");
  int64_t dan_id = login(*dan, "dan");

  EXPECT_EQ(code_of(ann->request("guild.create", {{"name", "ab"}, {"tag", "AB"}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("guild.create", {{"name", "My badword guild"}, {"tag", "AB"}})),
            "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("guild.create", {{"name", "Knights"}, {"tag", "K!"}})),
            "BAD_REQUEST");
  json g = ann->request("guild.create", {{"name", "Knights of Ni"}, {"tag", "NI"}});
  ASSERT_TRUE(ok(g)) << g.dump();
  int64_t gid = guild_of(g)["id"];
  EXPECT_EQ(guild_of(g)["leader"], ann_id);
  EXPECT_EQ(guild_of(g)["members"], 1);
  EXPECT_EQ(code_of(bob->request("guild.create", {{"name", "KNIGHTS OF NI"}, {"tag", "xy"}})),
            "GUILD_NAME_TAKEN");
  EXPECT_EQ(code_of(bob->request("guild.create", {{"name", "Other"}, {"tag", "ni"}})),
            "GUILD_NAME_TAKEN");

  // Invite and accept.
  ASSERT_TRUE(ok(ann->request("guild.invite", {{"account", bob_id}})));
  json inv = bob->wait_push("guild.invite");
  ASSERT_FALSE(inv.is_null());
  EXPECT_EQ(inv["d"]["guild"], gid);
  json joined = bob->request("guild.accept", {{"guild", gid}});
  ASSERT_TRUE(ok(joined)) << joined.dump();
  EXPECT_EQ(guild_of(joined)["members"], 2);
  EXPECT_EQ(code_of(bob->request("guild.invite", {{"account", cat_id}})), "FORBIDDEN")
      << "members do not invite";

  // A join request, approved by an officer.
  ASSERT_TRUE(ok(ann->request("guild.set_role", {{"account", bob_id}, {"role", "officer"}})));
  ASSERT_TRUE(ok(cat->request("guild.join_request", {{"guild", gid}})));
  json asked = bob->wait_push("guild.request");
  ASSERT_FALSE(asked.is_null());
  EXPECT_EQ(asked["d"]["from"]["account"], cat_id);
  ASSERT_TRUE(ok(bob->request("guild.approve", {{"account", cat_id}})));
  json members = cat->request("guild.members");
  ASSERT_TRUE(ok(members)) << members.dump();
  ASSERT_EQ(members["d"]["members"].size(), 3u);
  EXPECT_EQ(members["d"]["members"][0]["role"], "leader");
  EXPECT_EQ(members["d"]["members"][1]["role"], "officer");
  EXPECT_EQ(members["d"]["members"][2]["online"], true);
  // Full at three.
  ASSERT_TRUE(ok(dan->request("guild.join_request", {{"guild", gid}})));
  json full = ann->request("guild.approve", {{"account", dan_id}});
  EXPECT_EQ(code_of(full), "FULL") << full.dump();
  EXPECT_NE(f.metrics_text().find("shardd_social_limit_hits_total{limit=\"guild_size\"} 1\n"),
            std::string::npos);

  // Officers kick members, not the leader; the motd reaches everyone.
  EXPECT_EQ(code_of(bob->request("guild.kick", {{"account", ann_id}})), "FORBIDDEN");
  ASSERT_TRUE(ok(bob->request("guild.motd", {{"text", "raid at 8"}})));
  json upd;
  for (int i = 0; i < 10; ++i) {
    upd = cat->wait_push("guild.update");
    if (upd.is_null() || guild_of(upd)["motd"] == "raid at 8") break;
  }
  ASSERT_FALSE(upd.is_null());
  ASSERT_TRUE(ok(bob->request("guild.kick", {{"account", cat_id}})));
  EXPECT_TRUE(cat->request("guild.info")["d"]["guild"].is_null());
  EXPECT_EQ(code_of(cat->request("guild.members")), "NOT_FOUND");

  // The leader passes the lead, then leaves; bob disbands.
  ASSERT_TRUE(ok(ann->request("guild.set_role", {{"account", bob_id}, {"role", "leader"}})));
  EXPECT_EQ(guild_of(bob->request("guild.info"))["leader"], bob_id);
  EXPECT_EQ(code_of(ann->request("guild.disband")), "FORBIDDEN");
  ASSERT_TRUE(ok(ann->request("guild.leave")));
  ASSERT_TRUE(ok(bob->request("guild.disband")));
  EXPECT_TRUE(bob->request("guild.info")["d"]["guild"].is_null());
  EXPECT_EQ(code_of(dan->request("guild.info", {{"guild", gid}})), "NOT_FOUND");
}

TEST(GuildTest, TheLastLeaderLeavingPassesTheLead) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  int64_t gid = guild_of(ann->request("guild.create", {{"name", "Solo"}, {"tag", "SO"}}))["id"];
  ASSERT_TRUE(ok(bob->request("guild.join_request", {{"guild", gid}})));
  ASSERT_TRUE(ok(ann->request("guild.approve", {{"account", bob_id}})));
  json left = ann->request("guild.leave");
  ASSERT_TRUE(ok(left));
  EXPECT_EQ(left["d"]["disbanded"], false);
  EXPECT_EQ(guild_of(bob->request("guild.info"))["leader"], bob_id);
  json last = bob->request("guild.leave");
  EXPECT_EQ(last["d"]["disbanded"], true);
}

TEST(GuildTest, AnAccountsWaitingInvitesAndRequestsAreCapped) {
  ServiceFixture f(defs(), cheap_auth({"social.guild_max_pending_per_account=2"}));
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  auto dan = f.connect();
  login(*ann, "ann");
  login(*bob, "bob");
  login(*cat, "cat");
  int64_t dan_id = login(*dan, "dan");
  std::vector<int64_t> guilds;
  guilds.push_back(
      guild_of(ann->request("guild.create", {{"name", "Alpha"}, {"tag", "AA"}}))["id"]);
  guilds.push_back(
      guild_of(bob->request("guild.create", {{"name", "Bravo"}, {"tag", "BB"}}))["id"]);
  guilds.push_back(
      guild_of(cat->request("guild.create", {{"name", "Charlie"}, {"tag", "CC"}}))["id"]);
  // One invite received and one request sent fill dan's two.
  ASSERT_TRUE(ok(ann->request("guild.invite", {{"account", dan_id}})));
  ASSERT_TRUE(ok(dan->request("guild.join_request", {{"guild", guilds[1]}})));
  json mine = dan->request("guild.join_request", {{"guild", guilds[2]}});
  EXPECT_EQ(code_of(mine), "FULL") << mine.dump();
  EXPECT_EQ(mine["err"]["limit"], 2);
  json theirs = cat->request("guild.invite", {{"account", dan_id}});
  EXPECT_EQ(code_of(theirs), "FULL") << theirs.dump();
  EXPECT_NE(f.metrics_text().find(
                "shardd_social_limit_hits_total{limit=\"guild_pending_per_account\"} 2\n"),
            std::string::npos);
  // He sees what fills them.
  json pending = dan->request("guild.pending");
  ASSERT_TRUE(ok(pending)) << pending.dump();
  ASSERT_EQ(pending["d"]["invites"].size(), 1u);
  EXPECT_EQ(pending["d"]["invites"][0]["guild"], guilds[0]);
  EXPECT_EQ(pending["d"]["invites"][0]["name"], "Alpha");
  ASSERT_EQ(pending["d"]["requests"].size(), 1u);
  EXPECT_EQ(pending["d"]["requests"][0]["tag"], "BB");
  EXPECT_EQ(pending["d"]["max"], 2);
  // Declining an invite or withdrawing a request makes room again.
  ASSERT_TRUE(ok(dan->request("guild.decline", {{"guild", guilds[0]}})));
  EXPECT_TRUE(ok(cat->request("guild.invite", {{"account", dan_id}})));
  ASSERT_TRUE(ok(dan->request("guild.withdraw", {{"guild", guilds[1]}})));
  EXPECT_EQ(code_of(dan->request("guild.withdraw", {{"guild", guilds[1]}})), "NOT_FOUND");
  EXPECT_TRUE(ok(dan->request("guild.join_request", {{"guild", guilds[2]}})));
  EXPECT_EQ(dan->request("guild.pending")["d"]["requests"].size(), 1u);
}

}  // namespace
}  // namespace shardd::social
