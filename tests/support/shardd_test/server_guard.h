#pragma once

// Restarts a test database server (RedisServer, MariaDbServer) that a test
// stopped or killed, when the guard goes out of scope, including when an
// assertion ended the test early. Tests in one process share these servers,
// so one failed outage test must not fail every test after it.
//
//   RestartGuard guard(*g_servers->redis());
//   g_servers->redis()->kill_hard();
//   ASSERT_...;                       // the server is back either way

#include <cstdio>
#include <exception>

namespace shardd::test {

template <class Server>
class RestartGuard {
 public:
  explicit RestartGuard(Server& server) : server_(server) {}
  RestartGuard(const RestartGuard&) = delete;
  RestartGuard& operator=(const RestartGuard&) = delete;
  ~RestartGuard() {
    if (server_.running()) return;
    try {
      server_.start();
    } catch (const std::exception& e) {
      // Destructors must not throw; the next test using it reports the rest.
      std::fprintf(stderr, "RestartGuard: restart failed: %s\n", e.what());
    }
  }

 private:
  Server& server_;
};

}  // namespace shardd::test
