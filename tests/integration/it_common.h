#pragma once

// Shared helpers of the integration tests (see tests/support for the harness).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shardd_test/harness.h"

namespace shardd::test {

inline ShardOptions with_sets(std::vector<std::string> overrides) {
  ShardOptions o;
  o.overrides = std::move(overrides);
  return o;
}

// `r` is an error response with this code.
inline ::testing::AssertionResult IsError(const std::optional<json>& r, const std::string& code) {
  if (!r) return ::testing::AssertionFailure() << "no response";
  if (!r->is_object() || r->value("ok", true) != false) {
    return ::testing::AssertionFailure() << "not an error response: " << r->dump();
  }
  std::string got = (*r)["err"].value("code", "");
  if (got != code) {
    return ::testing::AssertionFailure()
           << "error code " << got << ", expected " << code << ": " << r->dump();
  }
  if (!(*r)["err"].contains("msg") || !(*r)["err"]["msg"].is_string()) {
    return ::testing::AssertionFailure() << "error without msg: " << r->dump();
  }
  return ::testing::AssertionSuccess();
}

// `r` is a successful response.
inline ::testing::AssertionResult IsOk(const std::optional<json>& r) {
  if (!r) return ::testing::AssertionFailure() << "no response";
  if (!r->is_object() || r->value("ok", false) != true || !(*r)["d"].is_object()) {
    return ::testing::AssertionFailure() << "not an ok response: " << r->dump();
  }
  return ::testing::AssertionSuccess();
}

// Registers `name` (unless !fresh) with password "pass-word-1" and logs in
// on a WsClient or TcpClient; returns the account id (0 on failure, which
// also fails the test).
template <class Client>
int64_t login_as(Client& c, const std::string& name, bool fresh = true) {
  if (fresh) {
    auto r = c.request("auth.register", {{"username", name}, {"password", "pass-word-1"}});
    EXPECT_TRUE(IsOk(r)) << name;
  }
  auto r = c.request("auth.login", {{"username", name}, {"password", "pass-word-1"}});
  EXPECT_TRUE(IsOk(r)) << name;
  return r && IsOk(r) ? (*r)["d"].value("account_id", int64_t{0}) : 0;
}

// POST to an admin route with a bearer token.
inline HttpResponse admin_post(uint16_t admin_port, const std::string& token,
                               const std::string& path, const json& body) {
  return http_request("POST", admin_port, path, body.dump(),
                      {{"Authorization", "Bearer " + token}});
}

// A WebSocket client that connected and consumed sys.hello.
inline void connect_ws(WsClient& c, uint16_t port, const WsOptions& o = {}) {
  ASSERT_TRUE(c.connect(port, o)) << c.error() << " (HTTP " << c.http_status() << ")";
  auto hello = c.recv_push("sys.hello");
  ASSERT_TRUE(hello) << "no sys.hello";
}

inline void connect_tcp(TcpClient& c, uint16_t port, const TcpOptions& o = {}) {
  ASSERT_TRUE(c.connect(port, o)) << c.error();
  auto hello = c.recv_push("sys.hello");
  ASSERT_TRUE(hello) << "no sys.hello";
}

// A ping round trip works on this client.
inline ::testing::AssertionResult PingWorks(WsClient& c) {
  auto r = c.request("sys.ping", {{"t", "still-alive"}});
  if (!r) return ::testing::AssertionFailure() << "no ping response (" << c.error() << ")";
  if (r->value("ok", false) != true || (*r)["d"].value("t", "") != "still-alive") {
    return ::testing::AssertionFailure() << "bad ping response " << r->dump();
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult PingWorks(TcpClient& c) {
  auto r = c.request("sys.ping", {{"t", "still-alive"}});
  if (!r) return ::testing::AssertionFailure() << "no ping response (" << c.error() << ")";
  if (r->value("ok", false) != true || (*r)["d"].value("t", "") != "still-alive") {
    return ::testing::AssertionFailure() << "bad ping response " << r->dump();
  }
  return ::testing::AssertionSuccess();
}

// A brand-new WebSocket client can connect and ping (the server is unharmed).
inline ::testing::AssertionResult FreshClientWorks(uint16_t ws_port) {
  WsClient c;
  if (!c.connect(ws_port)) return ::testing::AssertionFailure() << "connect: " << c.error();
  if (!c.recv_push("sys.hello")) return ::testing::AssertionFailure() << "no hello";
  return PingWorks(c);
}

}  // namespace shardd::test
