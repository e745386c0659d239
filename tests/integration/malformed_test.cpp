// Malformed input against every op and every admin route. The list comes
// from the server itself (GET /admin/ops lists each route with its declared
// fields), so an op added later is covered without touching this test. Each
// field of each op is sent missing, null, as every wrong JSON type, huge,
// negative and as invalid UTF-8 (MessagePack: JSON text cannot carry it).
// Every request must be answered, never with INTERNAL (a server bug), and
// the server must keep serving.

#include <algorithm>
#include <functional>
#include <limits>

#include "it_common.h"

namespace shardd::test {
namespace {

constexpr const char* kToken = "fuzz-token";

// A value of the field's own type that passes its checks, so that one
// broken field at a time can be tried. Numbers are far from any real id.
json valid_value(const json& field) {
  std::string type = field["type"];
  if (type == "string") {
    if (field.contains("choices")) return field["choices"][0];
    int64_t n = std::clamp<int64_t>(3, field.value("min", 0), field.value("max", 3));
    return std::string(static_cast<size_t>(n), 'a');
  }
  if (type == "integer") {
    return std::clamp<int64_t>(1000000, field.value("min", 0), field.value("max", 1000000));
  }
  if (type == "boolean") return true;
  if (type == "number") return 1.5;
  if (type == "array") return json::array();
  if (type == "object") return json::object();
  return 1;
}

// Broken versions of one field (JSON-representable ones).
std::vector<json> broken_values(const json& field) {
  std::string type = field["type"];
  std::vector<json> out = {nullptr};
  if (type != "string") out.push_back("x");
  if (type != "integer" && type != "number") out.push_back(5);
  if (type != "number") out.push_back(2.5);
  if (type != "boolean") out.push_back(true);
  if (type != "array") out.push_back(json::array({1, 2}));
  if (type != "object") out.push_back(json{{"k", "v"}});
  out.push_back(-1);
  out.push_back(std::numeric_limits<int64_t>::min());
  out.push_back(std::numeric_limits<uint64_t>::max());
  out.push_back(std::string(60000, 'h'));  // huge, within the frame limit
  json many = json::array();
  for (int i = 0; i < 5000; ++i) many.push_back(i);
  out.push_back(many);
  return out;
}

struct Variant {
  std::string what;
  json d;
};

// Every broken request for one op or route: each field missing or broken,
// the others valid. Ops without fields get junk members.
std::vector<Variant> variants(const json& fields) {
  json base = json::object();
  for (const auto& f : fields) base[f["name"].get<std::string>()] = valid_value(f);
  std::vector<Variant> out = {{"valid", base}};
  for (const auto& f : fields) {
    std::string name = f["name"];
    json missing = base;
    missing.erase(name);
    out.push_back({name + " missing", missing});
    for (const auto& v : broken_values(f)) {
      json d = base;
      d[name] = v;
      out.push_back({name + " = " + v.dump().substr(0, 40), d});
    }
  }
  if (fields.empty()) {
    json junk = {{"x", "\u202e"}, {"y", -1}, {"z", json::array({nullptr})}};
    out.push_back({"junk members", junk});
  }
  return out;
}

// {"op":op,"rid":rid,"d":{<field>: "\xff\xfe"}} as MessagePack.
std::string msgpack_with_bad_utf8(const std::string& op, uint64_t rid, const std::string& field) {
  json env = {{"op", op}, {"rid", rid}, {"d", {{field, "@@"}}}};
  std::vector<uint8_t> bytes = json::to_msgpack(env);
  std::string s(bytes.begin(), bytes.end());
  auto pos = s.rfind("@@");
  s[pos] = '\xff';
  s[pos + 1] = '\xfe';
  return s;
}

class Player {
 public:
  Player(const Shard& s, std::string name) : shard_(s), name_(std::move(name)) {}

  // Connected and logged in (again, if an earlier request logged it out or
  // got it kicked).
  WsClient& ready() {
    if (!client_ || client_->closed()) {
      client_ = std::make_unique<WsClient>();
      connect_ws(*client_, shard_.ws_port());
      logged_in_ = false;
    }
    if (!logged_in_) {
      auto r = client_->request("auth.login", {{"username", name_}, {"password", "pass-word-1"}});
      EXPECT_TRUE(IsOk(r)) << "re-login of " << name_;
      logged_in_ = true;
    }
    return *client_;
  }
  void register_once() {
    WsClient c;
    connect_ws(c, shard_.ws_port());
    ASSERT_TRUE(
        IsOk(c.request("auth.register", {{"username", name_}, {"password", "pass-word-1"}})));
  }
  void maybe_logged_out() { logged_in_ = false; }

 private:
  const Shard& shard_;
  std::string name_;
  std::unique_ptr<WsClient> client_;
  bool logged_in_ = false;
};

TEST(MalformedInput, EveryOpAndAdminRouteAnswersEveryBrokenField) {
  Shard shard(with_sets({std::string("admin.token=") + kToken, "auth.scrypt_n=1024",
                         "limits.rate_per_sec=1000000", "limits.rate_burst=1000000",
                         "limits.bad_messages_to_close=1000000",
                         "auth.account_attempts_per_min=100000", "auth.ip_attempts_per_min=100000",
                         "auth.register_per_ip_per_min=100000", "auth.display_name_cooldown_s=0"}));
  shard.start();
  auto ops_r = http_get(shard.admin_port(), "/admin/ops",
                        {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(ops_r.status, 200) << ops_r.body;
  json ops = json::parse(ops_r.body);
  ASSERT_GE(ops["ops"].size(), 10u);
  ASSERT_GE(ops["admin"].size(), 6u);

  Player player(shard, "fuzzer");
  player.register_once();
  size_t requests = 0;
  for (const auto& op : ops["ops"]) {
    std::string name = op["op"];
    for (const auto& v : variants(op["args"])) {
      WsClient& c = player.ready();
      auto r = c.request(name, v.d, Ms(10000));
      ++requests;
      ASSERT_TRUE(r) << name << " (" << v.what << "): no answer";
      EXPECT_FALSE(IsError(r, "INTERNAL")) << name << " (" << v.what << "): " << r->dump();
      if (((name == "auth.logout" || name == "account.delete") && IsOk(r)) ||
          IsError(r, "UNAUTHORIZED")) {
        player.maybe_logged_out();
      }
    }
    // Invalid UTF-8 in each string field, as MessagePack.
    for (const auto& f : op["args"]) {
      if (f["type"] != "string") continue;
      WsClient& c = player.ready();
      uint64_t rid = c.next_rid();
      ASSERT_TRUE(c.send_binary(msgpack_with_bad_utf8(name, rid, f["name"])));
      auto r = c.recv_response(rid, Ms(10000));
      ++requests;
      ASSERT_TRUE(r) << name << " (" << f["name"] << " invalid UTF-8): no answer";
      EXPECT_TRUE(IsError(r, "BAD_REQUEST")) << name << ": " << r->dump();
    }
  }

  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", std::string("Bearer ") + kToken}};
  for (const auto& route : ops["admin"]) {
    std::string method = route["method"], path = route["path"];
    for (const auto& v : variants(route["args"])) {
      auto r = http_request(method, shard.admin_port(), path, v.d.dump(), auth, Ms(10000));
      ++requests;
      ASSERT_NE(r.status, 0) << method << " " << path << " (" << v.what << "): " << r.error;
      EXPECT_NE(r.status, 500) << method << " " << path << " (" << v.what << "): " << r.body;
      EXPECT_TRUE(r.status == 200 || r.status == 400 || r.status == 404)
          << method << " " << path << " (" << v.what << "): " << r.status << " " << r.body;
    }
    std::string bad_utf8 = "{\"x\":\"\xff\xfe\"}";
    auto r = http_request(method, shard.admin_port(), path, bad_utf8, auth);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    auto not_object = http_request(method, shard.admin_port(), path, "[1,2]", auth);
    EXPECT_EQ(not_object.status, 400) << path;
    requests += 2;
  }

  RecordProperty("requests", std::to_string(requests));
  EXPECT_TRUE(shard.running()) << shard.log();
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
  EXPECT_TRUE(PingWorks(player.ready()));
  std::string metrics = http_get(shard.admin_port(), "/metrics").body;
  EXPECT_EQ(metrics.find("shardd_internal_errors_total{"), std::string::npos)
      << "an exception reached the barrier";
  EXPECT_EQ(shard.count_log("internal error"), 0u) << shard.log();
}

}  // namespace
}  // namespace shardd::test
