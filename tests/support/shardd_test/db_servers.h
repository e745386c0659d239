#pragma once

// Private MariaDB and Redis servers for the store tests: own data directory in
// a temp folder, 127.0.0.1 on a free port, stopped (and the folder removed)
// when the object dies. They can be killed and restarted to test failures.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shardd::test {

class ChildServer {
 public:
  ChildServer() = default;
  ~ChildServer();
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  // SIGKILL, no clean shutdown (a crash).
  void kill_hard();
  // SIGTERM and wait.
  void stop();

 protected:
  void make_dir(const char* prefix);
  // fork/exec argv with stdout/stderr appended to dir/<log>.
  void spawn(const std::vector<std::string>& argv, const std::string& log);
  std::string log_tail(const std::string& log) const;

  std::string dir_;
  bool keep_dir_ = false;  // the folder outlives the object (a template)
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

class RedisServer : public ChildServer {
 public:
  // Starts redis-server and waits until it answers PING (throws on failure).
  void start();
};

class MariaDbServer : public ChildServer {
 public:
  static constexpr const char* kUser = "shardd";
  static constexpr const char* kPassword = "shardd-test-pw";
  static constexpr const char* kDatabase = "shardd_test";

  // First call: copies the prepared data directory (kDatabase and kUser
  // already made, see template_dir()) into a fresh folder and starts
  // mariadbd on it; waits until it accepts connections. Later calls restart
  // on the same datadir (same port). Throws on failure.
  void start();
  // The prepared data directory every instance copies: made once (under a
  // file lock, so parallel test processes share it) by mariadb-install-db, a
  // first start that creates kDatabase and kUser, and a clean shutdown.
  // $SHARDD_TEST_MARIADB_TEMPLATE (scripts/test.sh: build/mariadb-template)
  // or /tmp/shardd-mariadb-template-<uid>.
  static std::string template_dir();
  std::string socket() const { return dir_ + "/mysqld.sock"; }
  // The server also accepts TLS with this self-signed certificate (CN and
  // SAN 127.0.0.1); clients verify against the same file.
  std::string tls_cert() const { return dir_ + "/tls-cert.pem"; }
  // Runs SQL as root over the socket (throws on failure).
  void admin_sql(const std::string& sql) const;

  // Builds a template in `dir` (the first start() does, see template_dir()).
  static void make_template(const std::string& dir);

 private:
  // mariadb-install-db, a TLS certificate, first start, database and user.
  void install_fresh(const std::string& tmp);
  // Starts mariadbd on dir_/data and waits until it accepts connections.
  void launch(const std::string& tmp);
  bool installed_ = false;
};

uint16_t free_port();

}  // namespace shardd::test
