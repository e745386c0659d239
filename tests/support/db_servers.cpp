#include "shardd_test/db_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace shardd::test {

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

ChildServer::~ChildServer() {
  stop();
  if (!dir_.empty() && !keep_dir_ && !getenv("SHARDD_TEST_KEEP_TMP")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void ChildServer::make_dir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = buf.data();
}

void ChildServer::spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::string log_path = dir_ + "/" + log;
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
}

std::string ChildServer::log_tail(const std::string& log) const {
  std::ifstream in(dir_ + "/" + log);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

void ChildServer::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ChildServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill_hard();
}

void RedisServer::start() {
  if (dir_.empty()) {
    make_dir("shardd-redis");
    port_ = free_port();
  }
  spawn({"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
         "", "--appendonly", "no", "--dir", dir_, "--daemonize", "no"},
        "redis.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    timeval tv{0, 200000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      bool ok = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
      redisFree(c);
      if (ok) return;
    } else if (c) {
      redisFree(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("redis-server did not start:\n" + log_tail("redis.log"));
}

std::string MariaDbServer::template_dir() {
  if (const char* env = std::getenv("SHARDD_TEST_MARIADB_TEMPLATE"); env != nullptr && *env) {
    return env;
  }
  return "/tmp/shardd-mariadb-template-" + std::to_string(::getuid());
}

namespace {

std::string mariadb_tmp(const std::string& dir) {
  // Its own temp directory: servers installed or running side by side (ctest
  // -j) would otherwise share /tmp for their temporary tables, and
  // mariadb-install-db fails when another one deletes a file it made.
  std::string tmp = dir + "/tmp";
  ::mkdir(tmp.c_str(), 0700);
  return tmp;
}

// Makes template_dir() once: install, first start, database and user, clean
// stop, then a `ready` marker. Parallel callers wait on the lock.
void ensure_mariadb_template() {
  namespace fs = std::filesystem;
  const std::string tpl = MariaDbServer::template_dir();
  if (fs::exists(tpl + "/ready")) return;
  int lock = ::open((tpl + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0) throw std::runtime_error("cannot open " + tpl + ".lock");
  ::flock(lock, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  if (fs::exists(tpl + "/ready")) return;
  std::error_code ec;
  fs::remove_all(tpl, ec);  // a half-made one
  fs::create_directories(tpl);
  MariaDbServer::make_template(tpl);
  std::ofstream(tpl + "/ready") << "ok\n";
}

}  // namespace

void MariaDbServer::make_template(const std::string& dir) {
  MariaDbServer maker;
  maker.dir_ = dir;
  maker.keep_dir_ = true;
  maker.port_ = free_port();
  maker.install_fresh(mariadb_tmp(dir));
  maker.stop();
  if (maker.pid_ > 0) throw std::runtime_error("template mariadbd did not stop");
}

void MariaDbServer::install_fresh(const std::string& tmp) {
  std::string cmd = "/usr/bin/mariadb-install-db --no-defaults --datadir=" + dir_ +
                    "/data --tmpdir=" + tmp +
                    " --user=root --auth-root-authentication-method=normal "
                    "--skip-test-db --skip-name-resolve > " +
                    dir_ + "/install.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error("mariadb-install-db failed:\n" + log_tail("install.log"));
  }
  std::string tls =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 3650 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
      "-keyout " +
      dir_ + "/tls-key.pem -out " + tls_cert() + " >> " + dir_ + "/install.log 2>&1";
  if (std::system(tls.c_str()) != 0) {
    throw std::runtime_error("openssl failed:\n" + log_tail("install.log"));
  }
  installed_ = true;
  launch(tmp);
  admin_sql(std::string("CREATE DATABASE ") + kDatabase +
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
  admin_sql(std::string("CREATE USER '") + kUser + "'@'%' IDENTIFIED BY '" + kPassword + "'");
  admin_sql(std::string("GRANT ALL ON ") + kDatabase + ".* TO '" + kUser + "'@'%'");
}

void MariaDbServer::start() {
  if (dir_.empty()) {
    make_dir("shardd-mariadb");
    port_ = free_port();
  }
  std::string tmp = mariadb_tmp(dir_);
  if (!installed_) {
    ensure_mariadb_template();
    namespace fs = std::filesystem;
    const std::string tpl = template_dir();
    fs::copy(tpl + "/data", dir_ + "/data", fs::copy_options::recursive);
    fs::copy_file(tpl + "/tls-key.pem", dir_ + "/tls-key.pem");
    fs::copy_file(tpl + "/tls-cert.pem", tls_cert());
    installed_ = true;
  }
  launch(tmp);
}

void MariaDbServer::launch(const std::string& tmp) {
  spawn({"/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + dir_ + "/data",
         "--port=" + std::to_string(port_), "--bind-address=127.0.0.1", "--socket=" + socket(),
         "--pid-file=" + dir_ + "/mysqld.pid", "--tmpdir=" + tmp, "--user=root",
         "--skip-name-resolve", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
         "--skip-log-bin", "--max-connections=300", "--log-error=" + dir_ + "/error.log",
         "--ssl-cert=" + tls_cert(), "--ssl-key=" + dir_ + "/tls-key.pem"},
        "mysqld.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    MYSQL* my = mysql_init(nullptr);
    unsigned int t = 1;
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    bool ok = mysql_real_connect(my, nullptr, "root", "", nullptr, 0, socket().c_str(), 0);
    mysql_close(my);
    if (ok) break;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("mariadbd exited:\n" + log_tail("error.log"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("mariadbd did not accept connections:\n" + log_tail("error.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void MariaDbServer::admin_sql(const std::string& sql) const {
  MYSQL* my = mysql_init(nullptr);
  if (!mysql_real_connect(my, nullptr, "root", "", nullptr, 0, socket().c_str(), 0) ||
      mysql_real_query(my, sql.data(), sql.size()) != 0) {
    std::string err = mysql_error(my);
    mysql_close(my);
    throw std::runtime_error("admin sql failed: " + sql + ": " + err);
  }
  if (MYSQL_RES* r = mysql_store_result(my)) mysql_free_result(r);
  mysql_close(my);
}

}  // namespace shardd::test
