// The chat service's rules, in process (ServiceFixture with the account,
// social and chat services: real gateway, SQLite store, fake sessions, a
// FakeClock the test moves for flood windows, mutes and retention).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "shardd/services/account.h"
#include "shardd/services/chat.h"
#include "shardd/services/social.h"
#include "shardd_test/service_helpers.h"

namespace shardd::chat {
namespace {

using json = nlohmann::json;
using shardd::testing::FakeClient;
using shardd::testing::ServiceFixture;
using namespace std::chrono_literals;

std::vector<services::ServiceDef> defs() {
  return {account::service_def(), social::service_def(), service_def()};
}

using shardd::testing::cheap_auth;
using shardd::testing::code_of;
bool ok(const json& r) {
  return shardd::testing::is_ok(r);
}
int64_t login(FakeClient& c, const std::string& name, bool fresh = true) {
  return shardd::testing::login_as(c, name, fresh);
}

json send(FakeClient& c, const std::string& channel, const std::string& text, json extra = {}) {
  json d = {{"channel", channel}, {"text", text}};
  if (extra.is_object()) d.update(extra);
  return c.request("chat.send", d);
}

// The next chat.msg (skipping other pushes).
json next_msg(FakeClient& c, std::chrono::milliseconds wait = 3s) {
  return c.wait_push("chat.msg", wait);
}

TEST(ChatServiceTest, WorldMessagesReachEveryoneWithOneIdAndHistoryPages) {
  ServiceFixture f(defs(), cheap_auth({"chat.world_burst=100", "chat.world_per_min=10000",
                                       "chat.history_window=3", "chat.repeat_limit=100"}));
  auto ann = f.connect();
  auto bob = f.connect();
  int64_t ann_id = login(*ann, "ann");
  login(*bob, "bob");
  json r = send(*ann, "world", "hello  world ");
  ASSERT_TRUE(ok(r)) << r.dump();
  int64_t id = r["d"]["id"];
  for (FakeClient* c : {bob.get(), ann.get()}) {
    json m = next_msg(*c);
    ASSERT_FALSE(m.is_null());
    EXPECT_EQ(m["d"]["id"], id);
    EXPECT_EQ(m["d"]["channel"], "world");
    EXPECT_EQ(m["d"]["text"], "hello world") << "spaces collapsed";
    EXPECT_EQ(m["d"]["from"]["id"], ann_id);
    EXPECT_EQ(m["d"]["from"]["name"], "ann");
    EXPECT_GT(m["seq"].get<int64_t>(), 0) << "chat.msg is replayable";
  }
  // Seven more; pages of two walk back through the cached window (3) and
  // then the database, with stable order and no gaps.
  std::vector<int64_t> ids = {id};
  for (int i = 1; i <= 7; ++i) {
    json s = send(*ann, "world", "line " + std::to_string(i));
    ASSERT_TRUE(ok(s));
    ASSERT_GT(s["d"]["id"].get<int64_t>(), ids.back()) << "ids increase";
    ids.push_back(s["d"]["id"]);
  }
  std::vector<int64_t> seen;
  int64_t before = 0;
  for (int page = 0; page < 10; ++page) {
    json q = {{"channel", "world"}, {"limit", 2}};
    if (before) q["before"] = before;
    json h = bob->request("chat.history", q);
    ASSERT_TRUE(ok(h)) << h.dump();
    auto msgs = h["d"]["messages"];
    for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) seen.push_back((*it)["id"]);
    if (!h["d"]["more"].get<bool>()) break;
    ASSERT_FALSE(msgs.empty());
    before = msgs[0]["id"];
  }
  std::vector<int64_t> expect(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, expect);
  json newest = bob->request("chat.history", {{"channel", "world"}, {"limit", 1}});
  EXPECT_EQ(newest["d"]["messages"][0]["text"], "line 7");
}

TEST(ChatServiceTest, ZoneAndCustomChannelsReachOnlyTheirMembers) {
  ServiceFixture f(defs(), cheap_auth(), "[[zones]]\nid = \"a\"\n[[zones]]\nid = \"b\"\n");
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  login(*ann, "ann");
  login(*bob, "bob");
  login(*cat, "cat");
  EXPECT_EQ(code_of(send(*ann, "zone", "nobody")), "NOT_FOUND") << "no zone yet";
  ASSERT_TRUE(ok(ann->request("zone.select", {{"zone", "a"}})));
  ASSERT_TRUE(ok(bob->request("zone.select", {{"zone", "a"}})));
  ASSERT_TRUE(ok(cat->request("zone.select", {{"zone", "b"}})));
  ASSERT_TRUE(ok(send(*ann, "zone", "in zone a")));
  json m = next_msg(*bob);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["channel"], "zone");
  EXPECT_EQ(m["d"]["zone"], "a");
  EXPECT_TRUE(next_msg(*cat, 300ms).is_null());

  EXPECT_EQ(code_of(send(*ann, "Trade", "sell")), "FORBIDDEN") << "join first";
  json j = ann->request("chat.join", {{"channel", "Trade"}});
  ASSERT_TRUE(ok(j)) << j.dump();
  EXPECT_EQ(j["d"]["channel"], "trade");
  ASSERT_TRUE(ok(cat->request("chat.join", {{"channel", "trade"}})));
  EXPECT_EQ(code_of(ann->request("chat.join", {{"channel", "world"}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(ann->request("chat.join", {{"channel", "no spaces"}})), "BAD_REQUEST");
  ASSERT_TRUE(ok(send(*ann, "trade", "selling swords")));
  m = next_msg(*cat);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["channel"], "trade");
  EXPECT_TRUE(next_msg(*bob, 300ms).is_null());
  json ch = ann->request("chat.channels");
  ASSERT_EQ(ch["d"]["channels"].size(), 3u);  // world, zone, trade
  ASSERT_TRUE(ok(cat->request("chat.leave", {{"channel", "trade"}})));
  EXPECT_EQ(code_of(cat->request("chat.leave", {{"channel", "trade"}})), "NOT_FOUND");
  EXPECT_EQ(code_of(cat->request("chat.history", {{"channel", "trade"}})), "FORBIDDEN");
}

TEST(ChatServiceTest, JoinedChannelsComeBackAtTheNextLogin) {
  ServiceFixture f(defs(), cheap_auth({"chat.max_joined_channels=2"}));
  auto ann = f.connect();
  login(*ann, "ann");
  ASSERT_TRUE(ok(ann->request("chat.join", {{"channel", "one"}})));
  ASSERT_TRUE(ok(ann->request("chat.join", {{"channel", "two"}})));
  json full = ann->request("chat.join", {{"channel", "three"}});
  EXPECT_EQ(code_of(full), "FULL");
  EXPECT_EQ(full["err"]["limit"], 2);
  ASSERT_TRUE(ok(ann->request("auth.logout")));
  login(*ann, "ann", false);
  // Joined again from the database once the login's load ran.
  json ch;
  for (int i = 0; i < 50; ++i) {
    ch = ann->request("chat.channels");
    if (ch["d"]["channels"].size() == 3u) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(ch["d"]["channels"].size(), 3u) << ch.dump();
  EXPECT_TRUE(ok(send(*ann, "two", "still here")));
}

TEST(ChatServiceTest, WhispersOnlineOfflineAndBlocked) {
  ServiceFixture f(defs(), cheap_auth({"chat.max_offline_whispers=2"}));
  auto ann = f.connect();
  auto bob = f.connect();
  int64_t ann_id = login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  json r = send(*ann, "whisper", "psst", {{"to", bob_id}});
  ASSERT_TRUE(ok(r)) << r.dump();
  json m = next_msg(*bob);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["channel"], "whisper");
  EXPECT_EQ(m["d"]["to"], bob_id);
  EXPECT_EQ(m["d"]["from"]["id"], ann_id);
  EXPECT_FALSE(next_msg(*ann).is_null()) << "the sender sees it too";
  EXPECT_EQ(code_of(send(*ann, "whisper", "x", {{"to", ann_id}})), "BAD_REQUEST");
  EXPECT_EQ(code_of(send(*ann, "whisper", "x")), "BAD_REQUEST");
  EXPECT_EQ(code_of(send(*ann, "whisper", "x", {{"to", 99999}})), "NOT_FOUND");

  // Offline: stored (two at most), then shown in order at the next login.
  ASSERT_TRUE(ok(bob->request("auth.logout")));
  json first = send(*ann, "whisper", "first", {{"to", bob_id}});
  ASSERT_TRUE(ok(first)) << first.dump();
  EXPECT_EQ(first["d"]["offline"], true);
  ASSERT_TRUE(ok(send(*ann, "whisper", "second", {{"to", bob_id}})));
  json third = send(*ann, "whisper", "third", {{"to", bob_id}});
  EXPECT_EQ(code_of(third), "FULL") << third.dump();
  bob->take_pushes();  // a clean slate
  login(*bob, "bob", false);
  json a = next_msg(*bob);
  json b = next_msg(*bob);
  ASSERT_FALSE(a.is_null());
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(a["d"]["text"], "first");
  EXPECT_EQ(a["d"]["offline"], true);
  EXPECT_EQ(b["d"]["text"], "second");
  // Shown once: a later login has nothing waiting.
  ASSERT_TRUE(ok(bob->request("auth.logout")));
  login(*bob, "bob", false);
  EXPECT_TRUE(next_msg(*bob, 300ms).is_null());
  // The conversation's history has all three that were accepted.
  json h = bob->request("chat.history", {{"channel", "whisper"}, {"to", ann_id}});
  ASSERT_TRUE(ok(h)) << h.dump();
  EXPECT_EQ(h["d"]["messages"].size(), 3u);

  ASSERT_TRUE(ok(bob->request("social.block", {{"account", ann_id}})));
  EXPECT_EQ(code_of(send(*ann, "whisper", "hello?", {{"to", bob_id}})), "BLOCKED");
}

TEST(ChatServiceTest, TextRulesAndTheWordFilter) {
  std::string words = ::testing::TempDir() + "chat_words.txt";
  { std::ofstream(words) << "# test list\ndarn\n"; }
  ServiceFixture f(defs(), cheap_auth({"chat.max_chars=20", "chat.wordlist_file=" + words,
                                       "chat.repeat_limit=100"}));
  auto ann = f.connect();
  login(*ann, "ann");
  json fake = send(*ann, "world", "[System] free gold");
  EXPECT_EQ(code_of(fake), "TEXT_REJECTED");
  EXPECT_EQ(fake["err"]["reason"], "fake_system");
  json longer = send(*ann, "world", std::string(21, 'x'));
  EXPECT_EQ(longer["err"]["reason"], "too_long");
  EXPECT_EQ(longer["err"]["max_chars"], 20);
  EXPECT_EQ(send(*ann, "world", " \u200B ")["err"]["reason"], "empty");
  ASSERT_TRUE(ok(send(*ann, "world", "oh D4RN it")));
  EXPECT_EQ(next_msg(*ann)["d"]["text"], "oh **** it");
  ASSERT_TRUE(f.reload(cheap_auth({"chat.max_chars=20", "chat.wordlist_file=" + words,
                                   "chat.profanity=reject", "chat.repeat_limit=100"})));
  json rejected;
  for (int i = 0; i < 50; ++i) {  // the reload reaches the strand shortly
    rejected = send(*ann, "world", "darn");
    if (code_of(rejected) == "TEXT_REJECTED") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(rejected["err"]["reason"], "profanity") << rejected.dump();
}

TEST(ChatServiceTest, FloodControlLimitsRepeatsAndMutes) {
  ServiceFixture f(defs(),
                   cheap_auth({"chat.world_per_min=60", "chat.world_burst=3", "chat.repeat_limit=2",
                               "chat.flood_strikes=3", "chat.flood_mute_s=120"}));
  auto ann = f.connect();
  login(*ann, "ann");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ok(send(*ann, "world", "m" + std::to_string(i))));
  json limited = send(*ann, "world", "m3");
  ASSERT_EQ(code_of(limited), "RATE_LIMITED") << limited.dump();
  EXPECT_GT(limited["err"]["retry_after_ms"].get<int64_t>(), 0);
  EXPECT_LE(limited["err"]["retry_after_ms"].get<int64_t>(), 1001);
  f.clock().advance(3s);  // three tokens back
  ASSERT_TRUE(ok(send(*ann, "world", "same")));
  ASSERT_TRUE(ok(send(*ann, "world", "same")));
  json repeated = send(*ann, "world", "same");
  EXPECT_EQ(code_of(repeated), "RATE_LIMITED");
  EXPECT_EQ(repeated["err"]["reason"], "repeated");
  // The third strike mutes for flooding.
  json muted = send(*ann, "world", "same");
  ASSERT_EQ(code_of(muted), "MUTED") << muted.dump();
  EXPECT_EQ(muted["err"]["reason"], "flooding");
  EXPECT_EQ(muted["err"]["until_ms"], f.clock().now_ms() + 120000);
  EXPECT_FALSE(ann->wait_push("chat.muted").is_null());
  EXPECT_EQ(code_of(send(*ann, "world", "other")), "MUTED");
  // Logging out and in again does not end it.
  ASSERT_TRUE(ok(ann->request("auth.logout")));
  login(*ann, "ann", false);
  json again = send(*ann, "world", "back again");
  ASSERT_EQ(code_of(again), "MUTED") << again.dump();
  EXPECT_EQ(again["err"]["reason"], "flooding");
  f.clock().advance(121s);
  EXPECT_TRUE(ok(send(*ann, "world", "calm now")));
}

TEST(ChatServiceTest, NewAccountsWaitForWorldChat) {
  ServiceFixture f(defs(), cheap_auth({"chat.new_account_world_mute_min=10"}));
  auto ann = f.connect();
  login(*ann, "ann");
  json r = send(*ann, "world", "hi");
  ASSERT_EQ(code_of(r), "MUTED");
  EXPECT_EQ(r["err"]["reason"], "new_account");
  f.clock().advance(601s);
  EXPECT_TRUE(ok(send(*ann, "world", "hi")));
}

TEST(ChatServiceTest, IdempotentSendsAreDeliveredOnce) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  login(*ann, "ann");
  json a = send(*ann, "world", "once", {{"idem", "k-1"}});
  json b = send(*ann, "world", "once", {{"idem", "k-1"}});
  ASSERT_TRUE(ok(a));
  ASSERT_TRUE(ok(b));
  EXPECT_EQ(a["d"]["id"], b["d"]["id"]);
  EXPECT_FALSE(next_msg(*ann).is_null());
  EXPECT_TRUE(next_msg(*ann, 300ms).is_null());
}

TEST(ChatServiceTest, ModerationMuteDeleteSystemFreezeAndRetention) {
  ServiceFixture f(defs(), cheap_auth({"chat.moderators=[\"Mod_1\"]", "chat.retention_days=1"}));
  auto ann = f.connect();
  auto mod = f.connect();
  int64_t ann_id = login(*ann, "ann");
  login(*mod, "mod_1");
  json r = f.admin("POST", "/admin/chat/mute",
                   {{"account_id", ann_id}, {"duration_s", 60}, {"reason", "spam"}});
  ASSERT_EQ(r["status"], 200) << r.dump();
  json pushed = ann->wait_push("chat.muted");
  ASSERT_FALSE(pushed.is_null());
  EXPECT_EQ(pushed["d"]["reason"], "spam");
  json muted = send(*ann, "world", "hello");
  ASSERT_EQ(code_of(muted), "MUTED");
  EXPECT_EQ(muted["err"]["reason"], "spam");
  EXPECT_EQ(f.admin("GET", "/admin/chat/mutes", json::object())["body"]["mutes"].size(), 1u);
  ASSERT_EQ(f.admin("POST", "/admin/chat/unmute", {{"account_id", ann_id}})["status"], 200);
  json sent = send(*ann, "world", "hello");
  ASSERT_TRUE(ok(sent)) << sent.dump();

  // Delete: members are told, history forgets it.
  int64_t id = sent["d"]["id"];
  ASSERT_EQ(f.admin("POST", "/admin/chat/delete", {{"id", id}})["status"], 200);
  json del = mod->wait_push("chat.deleted");
  ASSERT_FALSE(del.is_null());
  EXPECT_EQ(del["d"]["id"], id);
  EXPECT_TRUE(ann->request("chat.history", {{"channel", "world"}})["d"]["messages"].empty());
  EXPECT_EQ(f.admin("POST", "/admin/chat/delete", {{"id", id}})["status"], 404);

  // System text reaches everyone online.
  mod->take_pushes();
  json sys =
      f.admin("POST", "/admin/chat/system", {{"channel", "system"}, {"text", "restart at 5"}});
  ASSERT_EQ(sys["status"], 200) << sys.dump();
  json m = next_msg(*mod);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["channel"], "system");
  EXPECT_EQ(m["d"]["system"], true);
  EXPECT_EQ(m["d"]["from"]["id"], 0);
  EXPECT_EQ(code_of(send(*ann, "system", "me too")), "FORBIDDEN");

  // Freeze: only moderators speak.
  ASSERT_EQ(
      f.admin("POST", "/admin/chat/freeze", {{"channel", "world"}, {"frozen", true}})["status"],
      200);
  EXPECT_EQ(code_of(send(*ann, "world", "hello?")), "CHANNEL_FROZEN");
  EXPECT_TRUE(ok(send(*mod, "world", "calm down")));
  ASSERT_EQ(
      f.admin("POST", "/admin/chat/freeze", {{"channel", "world"}, {"frozen", false}})["status"],
      200);
  EXPECT_TRUE(ok(send(*ann, "world", "thanks")));

  // Retention: everything is older than a day two days later.
  f.clock().advance(std::chrono::hours(49));
  json purged = f.admin("POST", "/admin/chat/purge", json::object());
  ASSERT_EQ(purged["status"], 200) << purged.dump();
  EXPECT_GE(purged["body"]["deleted"].get<int64_t>(), 3);
  EXPECT_TRUE(ann->request("chat.history", {{"channel", "system"}})["d"]["messages"].empty());
}

}  // namespace
}  // namespace shardd::chat

namespace shardd::chat {
namespace {

TEST(ChatServiceTest, PartyChatReachesThePartyOnly) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  auto cat = f.connect();
  login(*ann, "ann");
  login(*bob, "bob");
  login(*cat, "cat");
  EXPECT_EQ(code_of(send(*ann, "party", "anyone?")), "NOT_FOUND");
  json created = ann->request("party.create", {{"open", true}});
  ASSERT_TRUE(ok(created));
  int64_t pid = created["d"]["party"]["id"];
  ASSERT_TRUE(ok(bob->request("party.accept", {{"party", pid}})));
  // The membership reaches chat shortly after the answer.
  json sent;
  for (int i = 0; i < 50; ++i) {
    sent = send(*bob, "party", "ready when you are");
    if (ok(sent)) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(ok(sent)) << sent.dump();
  json m = next_msg(*ann);
  while (!m.is_null() && m["d"]["channel"] != "party") m = next_msg(*ann);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["text"], "ready when you are");
  EXPECT_TRUE(next_msg(*cat, 300ms).is_null());
  json h = ann->request("chat.history", {{"channel", "party"}});
  ASSERT_TRUE(ok(h));
  EXPECT_EQ(h["d"]["messages"].size(), 1u);
  ASSERT_TRUE(ok(bob->request("party.leave")));
  json after;
  for (int i = 0; i < 50; ++i) {
    after = send(*bob, "party", "bye");
    if (code_of(after) == "NOT_FOUND") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(code_of(after), "NOT_FOUND");
}

}  // namespace
}  // namespace shardd::chat

namespace shardd::chat {
namespace {

TEST(ChatServiceTest, GuildChatReachesOnlineMembersAndSurvivesARelogin) {
  ServiceFixture f(defs(), cheap_auth());
  auto ann = f.connect();
  auto bob = f.connect();
  login(*ann, "ann");
  int64_t bob_id = login(*bob, "bob");
  json g = ann->request("guild.create", {{"name", "Chatters"}, {"tag", "CH"}});
  ASSERT_TRUE(ok(g)) << g.dump();
  ASSERT_TRUE(ok(ann->request("guild.invite", {{"account", bob_id}})));
  ASSERT_TRUE(ok(bob->request("guild.accept", {{"guild", g["d"]["guild"]["id"]}})));
  // Bob logs in again: his guild is read at login and the channel follows.
  ASSERT_TRUE(ok(bob->request("auth.logout")));
  login(*bob, "bob", false);
  json sent;
  for (int i = 0; i < 50; ++i) {
    sent = send(*bob, "guild", "hello guild");
    if (ok(sent)) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(ok(sent)) << sent.dump();
  json m = next_msg(*ann);
  while (!m.is_null() && m["d"]["channel"] != "guild") m = next_msg(*ann);
  ASSERT_FALSE(m.is_null());
  EXPECT_EQ(m["d"]["text"], "hello guild");
}

}  // namespace
}  // namespace shardd::chat
