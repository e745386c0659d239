// The account service's rules, in process (ServiceFixture: real gateway,
// SQLite store and pools, fake sessions, a FakeClock the test moves).
#include <gtest/gtest.h>

#include "shardd/services/account.h"
#include "shardd_test/service_fixture.h"

namespace shardd::account {
namespace {

using json = nlohmann::json;
using shardd::testing::FakeClient;
using shardd::testing::ServiceFixture;
using namespace std::chrono_literals;

// Cheap password hashing keeps the tests fast.
const std::vector<std::string> kCheap = {"auth.kdf=pbkdf2", "auth.pbkdf2_iterations=1000"};

std::vector<std::string> cheap(std::vector<std::string> more = {}) {
  std::vector<std::string> all = kCheap;
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

std::string code_of(const json& r) {
  return r.is_object() && r.contains("err") ? r["err"].value("code", "") : "";
}

json registered_login(FakeClient& c, const std::string& name, const std::string& pw = "password1") {
  json r = c.request("auth.register", {{"username", name}, {"password", pw}});
  EXPECT_TRUE(r.value("ok", false)) << r.dump();
  r = c.request("auth.login", {{"username", name}, {"password", pw}});
  EXPECT_TRUE(r.value("ok", false)) << r.dump();
  return r;
}

TEST(AccountServiceTest, RegisterLoginAndZoneSelect) {
  ServiceFixture f({service_def()}, cheap());
  auto c = f.connect();
  json login = registered_login(*c, "ann");
  EXPECT_EQ(login["d"]["username"], "ann");
  EXPECT_EQ(login["d"]["zones"][0]["id"], "main");
  EXPECT_EQ(login["d"]["zones"][0]["band"], "low");
  json sel = c->request("zone.select", {{"zone", "main"}});
  ASSERT_TRUE(sel.value("ok", false)) << sel.dump();
  EXPECT_EQ(sel["d"]["population"], 1);
  EXPECT_EQ(code_of(c->request("zone.select", {{"zone", "nope"}})), "NOT_FOUND");
}

TEST(AccountServiceTest, DisplayNameCooldownFollowsTheClock) {
  ServiceFixture f({service_def()}, cheap({"auth.display_name_cooldown_s=3600"}));
  auto c = f.connect();
  registered_login(*c, "bob");
  ASSERT_TRUE(c->request("account.set_display_name", {{"name", "Bobby"}}).value("ok", false));
  json again = c->request("account.set_display_name", {{"name", "Robert"}});
  ASSERT_EQ(code_of(again), "RATE_LIMITED") << again.dump();
  EXPECT_EQ(again["err"]["retry_after_ms"], 3600 * 1000);
  f.clock().advance(1800s);
  json half = c->request("account.set_display_name", {{"name", "Robert"}});
  ASSERT_EQ(code_of(half), "RATE_LIMITED");
  EXPECT_EQ(half["err"]["retry_after_ms"], 1800 * 1000);
  f.clock().advance(1800s);
  json ok = c->request("account.set_display_name", {{"name", "Robert"}});
  EXPECT_TRUE(ok.value("ok", false)) << ok.dump();
}

TEST(AccountServiceTest, FailedLoginThrottleOpensAfterAMinute) {
  ServiceFixture f({service_def()},
                   cheap({"auth.account_attempts_per_min=2", "auth.ip_attempts_per_min=100"}));
  auto c = f.connect();
  ASSERT_TRUE(c->request("auth.register", {{"username", "cat"}, {"password", "password1"}})
                  .value("ok", false));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(code_of(c->request("auth.login", {{"username", "cat"}, {"password", "wrong-pass"}})),
              "BAD_CREDENTIALS");
  }
  json limited = c->request("auth.login", {{"username", "cat"}, {"password", "password1"}});
  ASSERT_EQ(code_of(limited), "RATE_LIMITED") << limited.dump();
  EXPECT_GT(limited["err"]["retry_after_ms"].get<int64_t>(), 0);
  EXPECT_LE(limited["err"]["retry_after_ms"].get<int64_t>(), 60001);
  f.clock().advance(61s);
  EXPECT_TRUE(c->request("auth.login", {{"username", "cat"}, {"password", "password1"}})
                  .value("ok", false));
}

TEST(AccountServiceTest, BanEndsAtItsTimeAndKicksTheSession) {
  ServiceFixture f({service_def()}, cheap());
  auto c = f.connect();
  json login = registered_login(*c, "dan");
  int64_t id = login["d"]["account_id"];
  json ban = f.admin("POST", "/admin/accounts/ban",
                     {{"account_id", id}, {"duration_s", 600}, {"reason", "spam"}});
  ASSERT_EQ(ban["status"], 200) << ban.dump();
  EXPECT_EQ(ban["body"]["kicked"], true);
  json kicked = c->wait_push("sys.kicked");
  EXPECT_EQ(kicked["d"]["reason"], "banned");
  auto c2 = f.connect();
  json refused = c2->request("auth.login", {{"username", "dan"}, {"password", "password1"}});
  ASSERT_EQ(code_of(refused), "BANNED");
  EXPECT_EQ(refused["err"]["until_ms"], f.clock().now_ms() + 600 * 1000);
  f.clock().advance(601s);
  EXPECT_TRUE(c2->request("auth.login", {{"username", "dan"}, {"password", "password1"}})
                  .value("ok", false));
  EXPECT_EQ(
      f.admin("POST", "/admin/accounts/ban", {{"username", "nobody"}, {"duration_s", 5}})["status"],
      404);
}

TEST(AccountServiceTest, ZonesReloadLiveAndPlayersHearOfIt) {
  const std::string two = "[[zones]]\nid = \"a\"\ncapacity = 4\n[[zones]]\nid = \"b\"\n";
  ServiceFixture f({service_def()}, cheap(), two);
  auto c = f.connect();
  registered_login(*c, "eve");
  // a goes into maintenance, b's capacity changes, c is new.
  ASSERT_TRUE(f.reload({},
                       "[[zones]]\nid = \"a\"\ncapacity = 4\nmaintenance = true\n"
                       "[[zones]]\nid = \"b\"\ncapacity = 7\n[[zones]]\nid = \"c\"\n"));
  json ua = c->wait_push("zone.update");
  ASSERT_FALSE(ua.is_null()) << "no zone.update";
  EXPECT_EQ(ua["seq"], 0) << "zone.update is a state refresh: not numbered, not replayed";
  std::map<std::string, json> seen = {{ua["d"]["zone"]["id"], ua["d"]["zone"]}};
  for (json u = c->wait_push("zone.update", 1s); !u.is_null();
       u = c->wait_push("zone.update", 1s)) {
    seen[u["d"]["zone"]["id"]] = u["d"]["zone"];
  }
  ASSERT_TRUE(seen.count("a") && seen.count("c")) << json(seen).dump();
  EXPECT_EQ(seen["a"]["status"], "maintenance");
  EXPECT_EQ(seen["c"]["status"], "open");
  EXPECT_FALSE(seen.count("b")) << "b's status and band did not change";
  json list = c->request("zone.list");
  ASSERT_EQ(list["d"]["zones"].size(), 3u);
  EXPECT_EQ(list["d"]["zones"][1]["capacity"], 7);
  EXPECT_EQ(code_of(c->request("zone.select", {{"zone", "a"}})), "MAINTENANCE");
  EXPECT_TRUE(c->request("zone.select", {{"zone", "c"}}).value("ok", false));
  // A zone dropped from the file closes to newcomers; it is still listed.
  ASSERT_TRUE(f.reload({}, "[[zones]]\nid = \"b\"\n"));
  auto c2 = f.connect();
  registered_login(*c2, "fay");
  json closed = c2->request("zone.select", {{"zone", "a"}});
  EXPECT_EQ(code_of(closed), "NOT_FOUND") << closed.dump();
  // An invalid reload changes nothing.
  EXPECT_FALSE(f.reload({}, "[[zones]]\nid = \"B B\"\n"));
}

TEST(AccountServiceTest, PopulationBandChangesArePushed) {
  ServiceFixture f({service_def()}, cheap(), "[[zones]]\nid = \"small\"\ncapacity = 2\n");
  auto a = f.connect();
  registered_login(*a, "gus");
  auto b = f.connect();
  registered_login(*b, "hal");
  ASSERT_TRUE(a->request("zone.select", {{"zone", "small"}}).value("ok", false));
  json u1 = b->wait_push("zone.update");
  ASSERT_FALSE(u1.is_null());
  EXPECT_EQ(u1["d"]["zone"]["band"], "medium");  // 1 of 2
  ASSERT_EQ(a->wait_push("zone.update")["d"]["zone"]["band"], "medium");
  ASSERT_TRUE(b->request("zone.select", {{"zone", "small"}}).value("ok", false));
  json u2 = a->wait_push("zone.update");
  ASSERT_FALSE(u2.is_null());
  EXPECT_EQ(u2["d"]["zone"]["band"], "full");
  EXPECT_EQ(u2["d"]["zone"]["status"], "full");
  EXPECT_NE(f.metrics_text().find("shardd_zone_updates_total 2"), std::string::npos);
}

}  // namespace
}  // namespace shardd::account
