#pragma once

// Small helpers shared by the in-process service tests (ServiceFixture).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shardd_test/service_fixture.h"

namespace shardd::testing {

// Configuration items that make password hashing cheap (tests only), plus `more`.
inline std::vector<std::string> cheap_auth(std::vector<std::string> more = {}) {
  std::vector<std::string> all = {"auth.kdf=pbkdf2", "auth.pbkdf2_iterations=1000",
                                  "auth.register_per_ip_per_min=1000"};
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

// The error code of a response ("" for a success or no response).
inline std::string code_of(const nlohmann::json& r) {
  return r.is_object() && r.contains("err") ? r["err"].value("code", "") : "";
}

inline bool is_ok(const nlohmann::json& r) {
  return r.is_object() && r.value("ok", false);
}

// Registers `name` (unless !fresh) with password "password1" and logs in;
// returns the account id (0 on failure, which also fails the test).
inline int64_t login_as(FakeClient& c, const std::string& name, bool fresh = true) {
  if (fresh) {
    nlohmann::json r = c.request("auth.register", {{"username", name}, {"password", "password1"}});
    EXPECT_TRUE(is_ok(r)) << r.dump();
  }
  nlohmann::json r = c.request("auth.login", {{"username", name}, {"password", "password1"}});
  EXPECT_TRUE(is_ok(r)) << r.dump();
  return r.is_object() && r.contains("d") ? r["d"].value("account_id", int64_t{0}) : 0;
}

}  // namespace shardd::testing
