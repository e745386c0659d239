// Chat against the real binary over WebSocket and TCP: channels, history
// across a restart, offline whispers across a restart, many senders at once,
// moderation over admin HTTP. Runs twice (see CMakeLists.txt): SQLite +
// memory cache, and MariaDB + Redis (the recent window is then a Redis list).

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "it_common.h"
#include "shardd_test/db_env.h"

namespace shardd::test {
namespace {

test::DbServersEnv* const g_servers = test::DbServersEnv::install();
constexpr const char* kToken = "tok";

ShardOptions chat_shard(std::vector<std::string> extra = {}) {
  ShardOptions o;
  o.overrides = {"auth.kdf=pbkdf2",
                 "auth.pbkdf2_iterations=1000",
                 std::string("admin.token=") + kToken,
                 "auth.register_per_ip_per_min=1000",
                 "auth.ip_attempts_per_min=1000",
                 "limits.max_connections_per_ip=200"};
  for (auto& b : g_servers->backend_overrides("chat")) o.overrides.push_back(std::move(b));
  for (auto& e : extra) o.overrides.push_back(std::move(e));
  return o;
}

HttpResponse admin_post(const Shard& s, const std::string& path, const json& body) {
  return test::admin_post(s.admin_port(), kToken, path, body);
}

TEST(Chat, WorldZoneAndWhispersOverWebSocketAndTcp) {
  Shard s(chat_shard());
  s.start();
  WsClient ann;
  connect_ws(ann, s.ws_port());
  TcpClient bob;
  connect_tcp(bob, s.tcp_port());
  int64_t ann_id = login_as(ann, "ann");
  int64_t bob_id = login_as(bob, "bob");

  auto sent = ann.request("chat.send", {{"channel", "world"}, {"text", "hello all"}});
  ASSERT_TRUE(IsOk(sent));
  auto got = bob.recv_push("chat.msg");
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)["d"]["id"], (*sent)["d"]["id"]);
  EXPECT_EQ((*got)["d"]["from"]["name"], "ann");

  ASSERT_TRUE(IsOk(bob.request("zone.select", {{"zone", "main"}}, /*msgpack=*/true)));
  ASSERT_TRUE(IsOk(ann.request("zone.select", {{"zone", "main"}})));
  ASSERT_TRUE(IsOk(bob.request("chat.send", {{"channel", "zone"}, {"text", "zone talk"}}, true)));
  auto z = ann.recv_push("chat.msg");
  while (z && (*z)["d"]["channel"] != "zone") z = ann.recv_push("chat.msg");  // her own first
  ASSERT_TRUE(z);
  EXPECT_EQ((*z)["d"]["channel"], "zone");
  EXPECT_EQ((*z)["d"]["text"], "zone talk");

  ASSERT_TRUE(
      IsOk(ann.request("chat.send", {{"channel", "whisper"}, {"to", bob_id}, {"text", "psst"}})));
  auto w = bob.recv_push("chat.msg");
  ASSERT_TRUE(w);
  while (w && (*w)["d"]["channel"] != "whisper") w = bob.recv_push("chat.msg");
  ASSERT_TRUE(w);
  EXPECT_EQ((*w)["d"]["from"]["id"], ann_id);
  EXPECT_TRUE(IsError(ann.request("chat.send", {{"channel", "world"}, {"text", "[GM] hi"}}),
                      "TEXT_REJECTED"));
  EXPECT_GE(scrape(s.admin_port(), "shardd_chat_deliveries_total"), 5);
}

TEST(Chat, HistoryAndOfflineWhispersSurviveARestart) {
  Shard s(chat_shard({"chat.history_window=4", "chat.world_burst=50", "chat.world_per_min=6000"}));
  s.start();
  int64_t bob_id = 0;
  std::vector<int64_t> ids;
  {
    WsClient ann, bob;
    connect_ws(ann, s.ws_port());
    connect_ws(bob, s.ws_port());
    login_as(ann, "ann");
    bob_id = login_as(bob, "bob");
    ASSERT_TRUE(IsOk(bob.request("auth.logout")));
    for (int i = 0; i < 10; ++i) {
      auto r =
          ann.request("chat.send", {{"channel", "world"}, {"text", "msg " + std::to_string(i)}});
      ASSERT_TRUE(IsOk(r));
      ids.push_back((*r)["d"]["id"]);
    }
    auto off = ann.request(
        "chat.send", {{"channel", "whisper"}, {"to", bob_id}, {"text", "while you were out"}});
    ASSERT_TRUE(IsOk(off));
    EXPECT_EQ((*off)["d"]["offline"], true);
  }
  ASSERT_EQ(s.stop(), std::optional<int>(0));  // the drain writes what is unsaved
  s.start();
  WsClient bob;
  connect_ws(bob, s.ws_port());
  login_as(bob, "bob", false);
  auto w = bob.recv_push("chat.msg");
  ASSERT_TRUE(w);
  EXPECT_EQ((*w)["d"]["text"], "while you were out");
  EXPECT_EQ((*w)["d"]["offline"], true);
  // All ten, newest first in pages of three, from the window and the database.
  std::vector<int64_t> seen;
  int64_t before = 0;
  for (int page = 0; page < 6; ++page) {
    json q = {{"channel", "world"}, {"limit", 3}};
    if (before) q["before"] = before;
    auto h = bob.request("chat.history", q);
    ASSERT_TRUE(IsOk(h));
    const json& msgs = (*h)["d"]["messages"];
    for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) seen.push_back((*it)["id"]);
    if (!(*h)["d"]["more"].get<bool>()) break;
    before = msgs[0]["id"];
  }
  EXPECT_EQ(seen, std::vector<int64_t>(ids.rbegin(), ids.rend()));
  // New ids stay above the old ones after the restart.
  WsClient ann;
  connect_ws(ann, s.ws_port());
  login_as(ann, "ann", false);
  auto r = ann.request("chat.send", {{"channel", "world"}, {"text", "after restart"}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_GT((*r)["d"]["id"].get<int64_t>(), ids.back());
}

// Many players talk in one custom channel at once: every member gets every
// message exactly once, and in the same order.
TEST(Chat, ConcurrentSendersAllSeeTheSameOrder) {
  constexpr int kPlayers = 6;
  constexpr int kEach = 8;
  Shard s(chat_shard({"chat.custom_burst=100", "chat.custom_per_min=60000"}));
  s.start();
  std::vector<std::unique_ptr<WsClient>> players;
  for (int i = 0; i < kPlayers; ++i) {
    players.push_back(std::make_unique<WsClient>());
    connect_ws(*players.back(), s.ws_port());
    login_as(*players.back(), "talker_" + std::to_string(i));
    ASSERT_TRUE(IsOk(players.back()->request("chat.join", {{"channel", "lobby"}})));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPlayers; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kEach; ++k) {
        auto r = players[i]->request(
            "chat.send",
            {{"channel", "lobby"}, {"text", "p" + std::to_string(i) + " #" + std::to_string(k)}});
        if (!IsOk(r)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<std::vector<int64_t>> orders(kPlayers);
  for (int i = 0; i < kPlayers; ++i) {
    while (orders[i].size() < static_cast<size_t>(kPlayers * kEach)) {
      auto m = players[i]->recv_push("chat.msg", Ms(5000));
      if (!m) break;
      orders[i].push_back((*m)["d"]["id"]);
    }
    EXPECT_EQ(orders[i].size(), static_cast<size_t>(kPlayers * kEach)) << "player " << i;
    EXPECT_TRUE(std::is_sorted(orders[i].begin(), orders[i].end()));
    EXPECT_EQ(std::set<int64_t>(orders[i].begin(), orders[i].end()).size(), orders[i].size());
    EXPECT_EQ(orders[i], orders[0]);
  }
}

// Custom channels, history paging, text rules, a frozen channel and a
// deleted message, all over framed TCP (MessagePack for one player).
TEST(Chat, CustomChannelsPagingFreezeAndDeleteOverTcp) {
  Shard s(chat_shard({"chat.custom_burst=50", "chat.custom_per_min=6000",
                      "chat.moderators=[\"ann\"]", "chat.max_chars=40"}));
  s.start();
  TcpClient ann, bob;
  connect_tcp(ann, s.tcp_port());
  connect_tcp(bob, s.tcp_port());
  login_as(ann, "ann");
  login_as(bob, "bob");
  auto send = [](TcpClient& c, const std::string& text, bool msgpack = false) {
    return c.request("chat.send", {{"channel", "Trade"}, {"text", text}}, msgpack);
  };

  auto joined = ann.request("chat.join", {{"channel", "Trade"}});
  ASSERT_TRUE(IsOk(joined));
  EXPECT_EQ((*joined)["d"]["members"], 1);
  EXPECT_TRUE(IsError(send(bob, "let me in"), "FORBIDDEN"));  // not a member
  EXPECT_TRUE(IsError(bob.request("chat.history", {{"channel", "trade"}}), "FORBIDDEN"));
  auto two = bob.request("chat.join", {{"channel", "trade"}}, /*msgpack=*/true);
  ASSERT_TRUE(IsOk(two));
  EXPECT_EQ((*two)["d"]["members"], 2);
  auto chans = bob.request("chat.channels");
  ASSERT_TRUE(IsOk(chans));
  bool listed = false;
  for (const auto& c : (*chans)["d"]["channels"]) {
    listed = listed || (c["channel"] == "trade" && c["custom"] == true);
  }
  EXPECT_TRUE(listed);

  // Seven messages, read back three at a time, oldest first, ids rising.
  std::vector<int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    auto r = send(ann, "offer " + std::to_string(i));
    ASSERT_TRUE(IsOk(r));
    ids.push_back((*r)["d"]["id"]);
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  std::vector<int64_t> paged;
  std::optional<int64_t> before;
  for (int page = 0; page < 5; ++page) {
    json args = {{"channel", "trade"}, {"limit", 3}};
    if (before) args["before"] = *before;
    auto h = bob.request("chat.history", args, /*msgpack=*/true);
    ASSERT_TRUE(IsOk(h));
    const auto& msgs = (*h)["d"]["messages"];
    ASSERT_FALSE(msgs.empty());
    std::vector<int64_t> chunk;
    for (const auto& m : msgs) chunk.push_back(m["id"]);
    paged.insert(paged.begin(), chunk.begin(), chunk.end());
    before = chunk.front();
    if ((*h)["d"]["more"] == false) break;
  }
  EXPECT_EQ(paged, ids);

  // Text rules: whitespace folded, fake server text and long text refused.
  auto folded = send(bob, "  two   spaces\there ");
  ASSERT_TRUE(IsOk(folded));
  std::optional<json> got;
  for (int i = 0; i < 20 && !got; ++i) {
    auto m = ann.recv_push("chat.msg");
    if (!m) break;
    if ((*m)["d"]["id"] == (*folded)["d"]["id"]) got = m;
  }
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)["d"]["text"], "two spaces here");
  auto fake = send(bob, "[System] you won a prize");
  ASSERT_TRUE(IsError(fake, "TEXT_REJECTED"));
  EXPECT_EQ((*fake)["err"]["reason"], "fake_system");
  auto long_text = send(bob, std::string(41, 'x'));
  ASSERT_TRUE(IsError(long_text, "TEXT_REJECTED"));
  EXPECT_EQ((*long_text)["err"]["reason"], "too_long");
  EXPECT_EQ((*long_text)["err"]["max_chars"], 40);

  // Frozen: only a moderator speaks, until it thaws.
  auto freeze = admin_post(s, "/admin/chat/freeze", {{"channel", "trade"}, {"frozen", true}});
  ASSERT_EQ(freeze.status, 200) << freeze.body;
  EXPECT_TRUE(IsError(send(bob, "anyone?"), "CHANNEL_FROZEN"));
  EXPECT_TRUE(IsOk(send(ann, "the channel is frozen")));
  ASSERT_EQ(admin_post(s, "/admin/chat/freeze", {{"channel", "trade"}, {"frozen", false}}).status,
            200);
  EXPECT_TRUE(IsOk(send(bob, "thanks")));

  // A deleted message is pushed away and left out of history.
  auto del = admin_post(s, "/admin/chat/delete", {{"id", ids[6]}});
  ASSERT_EQ(del.status, 200) << del.body;
  auto removed = bob.recv_push("chat.deleted");
  ASSERT_TRUE(removed);
  EXPECT_EQ((*removed)["d"]["id"], ids[6]);
  EXPECT_EQ((*removed)["d"]["channel"], "trade");
  auto h = bob.request("chat.history", {{"channel", "trade"}});
  ASSERT_TRUE(IsOk(h));
  for (const auto& m : (*h)["d"]["messages"]) EXPECT_NE(m["id"], ids[6]);

  ASSERT_TRUE(IsOk(bob.request("chat.leave", {{"channel", "trade"}})));
  EXPECT_TRUE(IsError(bob.request("chat.leave", {{"channel", "trade"}}), "NOT_FOUND"));
  EXPECT_TRUE(IsError(send(bob, "bye"), "FORBIDDEN"));
}

// Channel limits answer FULL with the limit, and are counted.
TEST(Chat, ChannelLimitsAnswerFull) {
  Shard s(chat_shard({"chat.max_channel_members=1", "chat.max_channels=10"}));
  s.start();
  WsClient ann;
  TcpClient bob;
  connect_ws(ann, s.ws_port());
  connect_tcp(bob, s.tcp_port());
  login_as(ann, "ann");
  login_as(bob, "bob");
  ASSERT_TRUE(IsOk(ann.request("chat.join", {{"channel", "trade"}})));
  auto full = bob.request("chat.join", {{"channel", "trade"}});
  ASSERT_TRUE(IsError(full, "FULL"));
  EXPECT_EQ((*full)["err"]["limit"], 1);
  // world, trade and eight more are the ten channels the server may hold.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(IsOk(ann.request("chat.join", {{"channel", "chan" + std::to_string(i)}})));
  }
  auto many = bob.request("chat.join", {{"channel", "other"}});
  ASSERT_TRUE(IsError(many, "FULL"));
  EXPECT_EQ((*many)["err"]["limit"], 10);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_chat_refused_total{reason="full"})"), 2);
  EXPECT_TRUE(PingWorks(bob));
}

TEST(Chat, ModerationOverAdminHttp) {
  Shard s(chat_shard());
  s.start();
  WsClient ann;
  connect_ws(ann, s.ws_port());
  int64_t ann_id = login_as(ann, "ann");
  auto mute = admin_post(
      s, "/admin/chat/mute",
      {{"account_id", ann_id}, {"channel", "world"}, {"duration_s", 600}, {"reason", "cool off"}});
  ASSERT_EQ(mute.status, 200) << mute.body;
  auto pushed = ann.recv_push("chat.muted");
  ASSERT_TRUE(pushed);
  auto r = ann.request("chat.send", {{"channel", "world"}, {"text", "hey"}});
  ASSERT_TRUE(IsError(r, "MUTED"));
  EXPECT_EQ((*r)["err"]["reason"], "cool off");
  EXPECT_GT((*r)["err"]["until_ms"].get<int64_t>(), 0);
  ASSERT_EQ(
      admin_post(s, "/admin/chat/unmute", {{"account_id", ann_id}, {"channel", "world"}}).status,
      200);
  auto ok = ann.request("chat.send", {{"channel", "world"}, {"text", "hey"}});
  ASSERT_TRUE(IsOk(ok));
  auto del = admin_post(s, "/admin/chat/delete", {{"id", (*ok)["d"]["id"]}});
  ASSERT_EQ(del.status, 200) << del.body;
  auto gone = ann.recv_push("chat.deleted");
  ASSERT_TRUE(gone);
  EXPECT_EQ((*gone)["d"]["id"], (*ok)["d"]["id"]);
  // A deleted whisper reaches both sides, with the recipient as in chat.msg.
  WsClient bob;
  connect_ws(bob, s.ws_port());
  int64_t bob_id = login_as(bob, "bob");
  auto w = ann.request("chat.send", {{"channel", "whisper"}, {"to", bob_id}, {"text", "psst"}});
  ASSERT_TRUE(IsOk(w));
  ASSERT_TRUE(bob.recv_push("chat.msg"));
  ASSERT_EQ(admin_post(s, "/admin/chat/delete", {{"id", (*w)["d"]["id"]}}).status, 200);
  for (WsClient* side : {&ann, &bob}) {
    auto wd = side->recv_push("chat.deleted");
    ASSERT_TRUE(wd);
    EXPECT_EQ((*wd)["d"]["id"], (*w)["d"]["id"]);
    EXPECT_EQ((*wd)["d"]["channel"], "whisper");
    EXPECT_EQ((*wd)["d"]["to"], bob_id);
  }
  auto sys =
      admin_post(s, "/admin/chat/system", {{"channel", "system"}, {"text", "maintenance at 5"}});
  ASSERT_EQ(sys.status, 200) << sys.body;
  auto m = ann.recv_push("chat.msg");
  while (m && (*m)["d"]["channel"] != "system") m = ann.recv_push("chat.msg");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["d"]["system"], true);
  EXPECT_TRUE(s.wait_log("audit: chat mute account:" + std::to_string(ann_id), Ms(2000)));
  EXPECT_TRUE(PingWorks(ann));
}

}  // namespace
}  // namespace shardd::test
