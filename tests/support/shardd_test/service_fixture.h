#pragma once

// In-process service test fixture: the real gateway, a real SQLite store
// (memory cache) in a private directory, real logic and storage pools, a
// FakeClock, and fake sessions (connections that live in memory: the test
// writes requests into the real gateway and reads what it sends back).
//
//   ServiceFixture f({account::service_def()}, {"auth.scrypt_n=1024"});
//   auto c = f.connect();
//   nlohmann::json r = c->request("auth.register", {{"username","ann"},{"password","..."}});
//   f.clock().advance(std::chrono::hours(25));
//
// Everything runs on real threads; request() waits (bounded) for the answer.
// REQUIRES: clients are destroyed before their fixture (declare them after it).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shardd/services/service.h"
#include "shardd_test/fake_clock.h"

namespace shardd::testing {

class FakeConnection;

// One fake client session. Thread-safe.
class FakeClient {
 public:
  ~FakeClient();
  // Sends {"op","rid","d"} and waits up to `timeout` for the response with
  // that rid: the whole response object ({"rid","ok","d"|"err"}), or null on
  // timeout.
  nlohmann::json request(const std::string& op, const nlohmann::json& d = nlohmann::json::object(),
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the next push named `op` (skipping others, which stay queued
  // for later calls); null on timeout.
  nlohmann::json wait_push(const std::string& op,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Pushes received and not yet taken by wait_push.
  std::vector<nlohmann::json> pushes();
  // Same, and forgets them (a test's clean slate).
  std::vector<nlohmann::json> take_pushes();
  // The connection was closed by the server (close/abort).
  bool closed();
  // Drops the connection as if the network failed.
  void drop();

 private:
  friend class ServiceFixture;
  friend class FakeConnection;
  struct State;
  std::shared_ptr<State> state_;
};

class ServiceFixture {
 public:
  // `overrides`: configuration --set items (e.g. cheap KDF parameters);
  // `config_toml`: file text (e.g. [[zones]]).
  ServiceFixture(std::vector<services::ServiceDef> defs, std::vector<std::string> overrides = {},
                 std::string config_toml = "");
  ~ServiceFixture();
  ServiceFixture(const ServiceFixture&) = delete;
  ServiceFixture& operator=(const ServiceFixture&) = delete;

  std::unique_ptr<FakeClient> connect(const std::string& remote_ip = "192.0.2.1");
  FakeClock& clock();
  const Config& config() const;
  // Applies a new configuration as SIGHUP does (live keys only) and tells
  // every service. Returns false (and changes nothing) if it is invalid.
  bool reload(std::vector<std::string> overrides, std::string config_toml = "");
  // Calls an admin route a service added, as the admin server would (args
  // checked against its schema): {"status": N, "body": {...}}, null on timeout.
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const nlohmann::json& args = nlohmann::json::object());
  // The text of GET /metrics (the fixture's registry).
  std::string metrics_text();
  gateway::Gateway& gateway();
  store::Store& store();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardd::testing
