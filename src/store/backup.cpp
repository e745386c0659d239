#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shardd/core/log.h"
#include "shardd/store/store.h"
#include "drivers.h"

extern char** environ;

namespace shardd::store {
namespace {

// A [client] option file readable only by us, deleted on scope exit.
class DefaultsFile {
 public:
  explicit DefaultsFile(const MysqlConfig& c) {
    char tmpl[] = "/tmp/shardd-mysql-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return;
    path_ = tmpl;
    fchmod(fd, 0600);
    std::string body = "[client]\nuser=" + c.user + "\npassword=" + c.password + "\n";
    if (!c.socket.empty()) {
      body += "socket=" + c.socket + "\n";
    } else {
      body += "host=" + c.host + "\nport=" + std::to_string(c.port) + "\nprotocol=tcp\n";
    }
    if (c.tls) {
      body += "ssl\n";
      if (!c.tls_ca.empty()) body += "ssl-ca=" + c.tls_ca + "\nssl-verify-server-cert\n";
    }
    body += "default-character-set=utf8mb4\n";
    ssize_t n = write(fd, body.data(), body.size());
    close(fd);
    if (n != static_cast<ssize_t>(body.size())) path_.clear();
  }
  ~DefaultsFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string find_tool(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
      std::string p = std::string(dir) + n;
      if (access(p.c_str(), X_OK) == 0) return p;
    }
  }
  return {};
}

// Runs argv with stdin/stdout redirected to files ("" = inherit); stderr is
// captured and returned in *err. Returns the exit status (-1: spawn failed).
int run_tool(const std::vector<std::string>& argv, const std::string& in_file,
             const std::string& out_file, std::string* err) {
  std::string err_file = "/tmp/shardd-tool-err-" + std::to_string(getpid());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!in_file.empty()) posix_spawn_file_actions_addopen(&fa, 0, in_file.c_str(), O_RDONLY, 0);
  if (!out_file.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
  }
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *err = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream e(err_file);
  err->assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  unlink(err_file.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

constexpr Stmt kSqliteTables{"backup.tables",
                             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                             "NOT LIKE 'sqlite_%'",
                             "SELECT count(*) FROM information_schema.tables WHERE table_schema "
                             "= DATABASE()"};

}  // namespace

Status Store::backup(const std::string& out_path) {
  auto& lg = log::get("store");
  if (config_.store.backend == "sqlite") {
    std::error_code ec;
    std::filesystem::remove(out_path, ec);
    DbStatus st = sqlite_backup(config_.sqlite_path(), out_path, /*standalone=*/true);
    if (!st.ok()) return Status(ErrorCode::kUnavailable, st.message());
    lg.info("backup: {} -> {}", config_.sqlite_path(), out_path);
    return Status::Ok();
  }
  std::string dump = find_tool({"mariadb-dump", "mysqldump"});
  if (dump.empty()) return Status::Unavailable("backup: mariadb-dump not found (apt-get install mariadb-client)");
  DefaultsFile defaults(config_.mysql);
  if (defaults.path().empty()) return Status::Internal("backup: cannot write a defaults file");
  // The dump goes to a file we create 0600 first (mariadb-dump's own
  // --result-file would follow the umask).
  std::error_code rec;
  std::filesystem::remove(out_path, rec);
  if (DbStatus cs = create_private_file(out_path); !cs.ok()) {
    return Status::Unavailable("backup: " + cs.message());
  }
  std::string err;
  int rc = run_tool({dump, "--defaults-extra-file=" + defaults.path(), "--single-transaction",
                     "--skip-lock-tables", "--no-tablespaces", "--hex-blob", "--routines",
                     config_.mysql.database},
                    "", out_path, &err);
  if (rc != 0) return Status::Unavailable("backup: mariadb-dump failed (" + std::to_string(rc) + "): " + err);
  lg.info("backup: mysql {} -> {}", config_.mysql.database, out_path);
  return Status::Ok();
}

Status Store::restore(const std::string& in_path) {
  if (access(in_path.c_str(), R_OK) != 0) return Status::BadRequest("restore: cannot read " + in_path);
  int64_t tables = -1;
  DbStatus st = run_sync([&](StoreContext& ctx) {
    DbConnection* c = nullptr;
    DbStatus s = ctx.db(&c);
    if (!s.ok()) return s;
    Rows rows;
    s = c->query(kSqliteTables, {}, &rows);
    if (s.ok() && !rows.empty()) tables = as_int(rows.rows[0][0]);
    return s;
  });
  if (!st.ok()) return Status(ErrorCode::kUnavailable, "restore: " + st.message());
  if (tables != 0) {
    return Status::BadRequest("restore: the database is not empty (" + std::to_string(tables) +
                              " tables); restore only into an empty database");
  }
  close_idle_connections();  // no connection may hold the old (empty) file open
  auto& lg = log::get("store");
  if (config_.store.backend == "sqlite") {
    // Copy the backup's pages into the (empty) database with the backup API.
    DbStatus bs = sqlite_backup(in_path, config_.sqlite_path(), /*standalone=*/false);
    if (!bs.ok()) return Status(ErrorCode::kUnavailable, "restore: " + bs.message());
    lg.info("restore: {} -> {}", in_path, config_.sqlite_path());
    return Status::Ok();
  }
  std::string client = find_tool({"mariadb", "mysql"});
  if (client.empty()) return Status::Unavailable("restore: mariadb client not found (apt-get install mariadb-client)");
  DefaultsFile defaults(config_.mysql);
  if (defaults.path().empty()) return Status::Internal("restore: cannot write a defaults file");
  std::string err;
  int rc = run_tool({client, "--defaults-extra-file=" + defaults.path(), config_.mysql.database},
                    in_path, "", &err);
  if (rc != 0) return Status::Unavailable("restore: mariadb failed (" + std::to_string(rc) + "): " + err);
  lg.info("restore: {} -> mysql {}", in_path, config_.mysql.database);
  return Status::Ok();
}

}  // namespace shardd::store
