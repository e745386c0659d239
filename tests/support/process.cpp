// Temp dirs, child processes, raw sockets and the sd_notify stand-in.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "shardd_test/harness.h"

namespace fs = std::filesystem;

namespace shardd::test {

std::string shardd_binary() {
  if (const char* env = std::getenv("SHARDD_BIN"); env && *env) return env;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "shardd";
  return (self.parent_path().parent_path().parent_path() / "shardd").string();
}

// ---------------------------------------------------------------- sanitizers

std::vector<std::pair<std::string, std::string>> sanitizer_env(const std::string& log_prefix) {
  std::vector<std::pair<std::string, std::string>> env;
  for (const char* name : {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* inherited = std::getenv(name);
    std::string value =
        inherited != nullptr && *inherited != '\0' ? std::string(inherited) + ":" : "";
    env.emplace_back(name, value + "log_path=" + log_prefix);
  }
  return env;
}

std::string sanitizer_text_in(const std::string& output) {
  // GCC's UBSan runtime (libubsan) prints to stderr even with log_path set.
  static const char* const kMarkers[] = {
      ": runtime error: ",        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
      "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",  "SUMMARY: UndefinedBehaviorSanitizer"};
  size_t first = std::string::npos;
  for (const char* m : kMarkers) first = std::min(first, output.find(m));
  if (first == std::string::npos) return "";
  size_t line = output.rfind('\n', first);
  line = line == std::string::npos ? 0 : line + 1;
  return output.substr(line, 16000);
}

std::string read_sanitizer_reports(const std::string& log_prefix) {
  fs::path prefix(log_prefix);
  std::string stem = prefix.filename().string() + ".";
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(prefix.parent_path(), ec)) {
    std::string name = entry.path().filename().string();
    if (name.compare(0, stem.size(), stem) == 0) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) {
    std::string text = read_file(f.string());
    if (text.empty()) continue;
    out += "==== " + f.string() + " ====\n" + text;
    if (out.back() != '\n') out += '\n';
  }
  return out;
}

int64_t elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<Ms>(Clock::now() - start).count();
}

// ---------------------------------------------------------------- files

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/shardd-it-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  const char* keep = std::getenv("SHARDD_TEST_KEEP_TMP");
  if (keep && std::string(keep) == "1") return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string full = file(name);
  std::string tmp = full + ".writing";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, full);
  return full;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// ---------------------------------------------------------------- processes

namespace {

// fork + execve with stdout/stderr sent to files. Everything the child needs
// is prepared before fork().
int spawn_process(const std::vector<std::string>& argv,
                  const std::vector<std::pair<std::string, std::string>>& extra_env,
                  const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const auto& [k, v] : extra_env) {
      if (kv.compare(0, k.size() + 1, k + "=") == 0) overridden = true;
    }
    if (!overridden) env_store.push_back(std::move(kv));
  }
  for (const auto& [k, v] : extra_env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store = argv;
  std::vector<char*> args;
  for (auto& s : argv_store) args.push_back(s.data());
  args.push_back(nullptr);

  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    throw std::runtime_error("cannot create log files in " + out_path);
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    ::close(err_fd);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    // Child: die with the test process, get fresh stdio, no inherited fds.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  return pid;
}

// waitpid with a timeout; the decoded exit code (or -signal).
std::optional<int> wait_child(int pid, Ms timeout) {
  auto end = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return -WTERMSIG(status);
      return -1;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(Ms(5));
  }
}

std::string tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "...\n" + s.substr(s.size() - n);
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, Ms timeout,
                          const std::vector<std::pair<std::string, std::string>>& env) {
  TempDir tmp;
  std::vector<std::string> args = argv;
  if (!args.empty() && args[0].find('/') == std::string::npos) {
    // Resolve bare names on PATH (execve does not search).
    for (const char* dir : {"/usr/bin/", "/bin/", "/usr/local/bin/"}) {
      if (::access((dir + args[0]).c_str(), X_OK) == 0) {
        args[0] = dir + args[0];
        break;
      }
    }
  }
  std::string san_prefix = tmp.file("sanitizer");
  auto full_env = sanitizer_env(san_prefix);
  for (const auto& kv : env) full_env.push_back(kv);
  int pid = spawn_process(args, full_env, tmp.file("out"), tmp.file("err"));
  CommandResult r;
  auto code = wait_child(pid, timeout);
  if (!code) {
    ::kill(pid, SIGKILL);
    wait_child(pid, Ms(5000));
    r.timed_out = true;
    r.exit_code = -1000;
  } else {
    r.exit_code = *code;
  }
  r.out = read_file(tmp.file("out"));
  r.err = read_file(tmp.file("err"));
  r.sanitizer_report = read_sanitizer_reports(san_prefix) + sanitizer_text_in(r.err);
  if (!r.sanitizer_report.empty()) {
    ADD_FAILURE() << "sanitizer report from `" << args[0] << "`:\n" << r.sanitizer_report;
  }
  return r;
}

TlsFiles make_test_cert(const TempDir& dir) {
  TlsFiles f{dir.file("cert.pem"), dir.file("key.pem")};
  auto r = run_command(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", f.key, "-out", f.cert, "-days", "2", "-subj", "/CN=localhost",
       "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
      Ms(20000));
  if (r.exit_code != 0) {
    throw std::runtime_error("openssl req failed (" + std::to_string(r.exit_code) + "): " + r.err);
  }
  return f;
}

// ---------------------------------------------------------------- Shard

Shard::Shard(ShardOptions options) : options_(std::move(options)) {
  if (options_.tls_cert) tls_ = make_test_cert(dir_);
  write_config(options_.config_toml);
}

Shard::~Shard() {
  if (pid_ > 0 && !exit_code_) stop();
  if (std::string reports = sanitizer_reports(); !reports.empty()) {
    ADD_FAILURE() << "sanitizer report from shardd (pid " << pid_ << "):\n" << tail(reports, 30000);
  }
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- shardd log (" << dir_.file("shardd.stderr") << ") ----\n"
              << tail(log(), 12000) << "\n---- end of shardd log ----\n";
  }
}

void Shard::write_config(const std::string& toml) const {
  dir_.write("shardd.toml", toml);
}

std::optional<int> Shard::stop() {
  if (pid_ <= 0) return std::nullopt;
  if (exit_code_) return exit_code_;
  ::kill(pid_, SIGTERM);
  exit_code_ = wait_child(pid_, options_.stop_deadline);
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    exit_code_ = wait_child(pid_, Ms(5000));
  }
  return exit_code_;
}

std::string Shard::sanitizer_reports() const {
  std::string in_log = sanitizer_text_in(log());
  return read_sanitizer_reports(dir_.file("sanitizer")) +
         (in_log.empty() ? "" : "==== " + dir_.file("shardd.stderr") + " ====\n" + in_log);
}

void Shard::spawn() {
  std::vector<std::string> args = {shardd_binary(), "-c", config_path()};
  std::vector<std::string> sets = {"ws.port=0", "tcp.port=0", "admin.port=0", "ws.bind=127.0.0.1",
                                   "tcp.bind=127.0.0.1", "admin.bind=127.0.0.1",
                                   "server.data_dir=" + dir_.file("data"),
                                   "server.ports_file=" + ports_file(), "server.io_threads=2",
                                   "server.logic_threads=1", "server.storage_threads=1",
                                   // Bounds the SIGTERM drain of the destructor;
                                   // tests of the drain set their own.
                                   "server.shutdown_deadline_ms=3000"};
  if (options_.tls_cert) {
    sets.push_back("tls.cert_file=" + tls_.cert);
    sets.push_back("tls.key_file=" + tls_.key);
  }
  for (const auto& s : options_.overrides) sets.push_back(s);
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  // The test's own variables win over the harness's sanitizer settings.
  std::vector<std::pair<std::string, std::string>> env;
  for (auto& kv : sanitizer_env(dir_.file("sanitizer"))) {
    bool overridden = std::any_of(options_.env.begin(), options_.env.end(),
                                  [&](const auto& e) { return e.first == kv.first; });
    if (!overridden) env.push_back(std::move(kv));
  }
  for (const auto& kv : options_.env) env.push_back(kv);
  pid_ = spawn_process(args, env, dir_.file("shardd.stdout"), dir_.file("shardd.stderr"));
  exit_code_.reset();
}

void Shard::start(Ms timeout) {
  spawn();
  auto end = Clock::now() + timeout;
  for (;;) {
    if (file_exists(ports_file())) {
      json j = json::parse(read_file(ports_file()), nullptr, false);
      if (j.is_object() && j.contains("ws") && j.contains("admin")) {
        ports_.ws = j.value("ws", 0);
        ports_.tcp = j.value("tcp", 0);
        ports_.admin = j.value("admin", 0);
        ports_.pid = j.value("pid", 0);
        return;
      }
    }
    if (auto code = wait_child(pid_, Ms(0))) {
      exit_code_ = code;
      throw std::runtime_error("shardd exited with " + std::to_string(*code) +
                               " before writing its ports file; log:\n" + tail(log(), 8000));
    }
    if (Clock::now() >= end) {
      throw std::runtime_error("shardd did not write its ports file within " +
                               std::to_string(timeout.count()) + " ms; log:\n" + tail(log(), 8000));
    }
    std::this_thread::sleep_for(Ms(10));
  }
}

void Shard::signal(int sig) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

bool Shard::running() {
  if (pid_ <= 0 || exit_code_) return false;
  if (auto code = wait_child(pid_, Ms(0))) {
    exit_code_ = code;
    return false;
  }
  return true;
}

std::optional<int> Shard::wait_exit(Ms timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  exit_code_ = wait_child(pid_, timeout);
  return exit_code_;
}

std::string Shard::log() const {
  return read_file(dir_.file("shardd.stderr"));
}

bool Shard::wait_log(const std::string& needle, Ms timeout) const {
  return eventually([&] { return log().find(needle) != std::string::npos; }, timeout);
}

size_t Shard::count_log(const std::string& needle) const {
  std::string text = log();
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------- raw sockets

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

RawSocket::~RawSocket() {
  close();
}

void RawSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawSocket::connect(uint16_t port, int rcvbuf) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a = loopback(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close();
    return false;
  }
  return true;
}

bool RawSocket::send_all(const std::string& bytes, Ms timeout) {
  if (fd_ < 0) return false;
  auto end = Clock::now() + timeout;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left));
    if (p.revents & (POLLERR | POLLHUP)) return false;
  }
  return true;
}

bool RawSocket::wait_closed(Ms timeout) {
  if (fd_ < 0) return true;
  auto end = Clock::now() + timeout;
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now()).count();
    if (left < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r == 0) return false;
    if (r < 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
  }
}

std::string RawSocket::recv_some(Ms timeout, size_t max) {
  std::string out;
  if (fd_ < 0) return out;
  auto end = Clock::now() + timeout;
  std::vector<char> buf(max);
  while (out.size() < max) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now()).count();
    if (left < 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    ssize_t n = ::recv(fd_, buf.data(), max - out.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

PortHolder::PortHolder() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd_, 16) != 0) {
    throw std::runtime_error("PortHolder: cannot listen");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

PortHolder::~PortHolder() {
  if (fd_ >= 0) ::close(fd_);
}

uint16_t pick_free_port() {
  PortHolder h;
  return h.port();
}

bool port_accepts(uint16_t port) {
  RawSocket s;
  return s.connect(port);
}

// ---------------------------------------------------------------- NotifySocket

NotifySocket::NotifySocket(const std::string& path) : path_(path) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw std::runtime_error("notify socket path too long");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error("cannot bind notify socket " + path + ": " + std::strerror(errno));
  }
}

NotifySocket::~NotifySocket() {
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

bool NotifySocket::receive_one(Ms timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, timeout.count()))) <= 0) return false;
  char buf[4096];
  ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) return false;
  messages_.emplace_back(buf, static_cast<size_t>(n));
  return true;
}

namespace {
bool has_line(const std::string& msg, const std::string& line) {
  std::stringstream ss(msg);
  std::string l;
  while (std::getline(ss, l)) {
    if (l == line) return true;
  }
  return false;
}
}  // namespace

size_t NotifySocket::count(const std::string& line) const {
  size_t n = 0;
  for (const auto& m : messages_) n += has_line(m, line) ? 1 : 0;
  return n;
}

int NotifySocket::index_of(const std::string& line, size_t from) const {
  for (size_t i = from; i < messages_.size(); ++i) {
    if (has_line(messages_[i], line)) return static_cast<int>(i);
  }
  return -1;
}

bool NotifySocket::wait_for(const std::string& line, Ms timeout, size_t min_count) {
  auto end = Clock::now() + timeout;
  while (count(line) < min_count) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left.count() <= 0) return false;
    receive_one(left);
  }
  return true;
}

void NotifySocket::collect(Ms duration) {
  auto end = Clock::now() + duration;
  for (;;) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left.count() <= 0) return;
    receive_one(left);
  }
}

}  // namespace shardd::test
