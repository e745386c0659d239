#pragma once

// Test harness for integration tests that drive the real `shardd` binary:
// temp dirs, the shardd child process, and small blocking clients (WebSocket,
// framed TCP, HTTP, raw sockets) with timeouts. Beast/Asio stay out of this
// header so test files compile quickly.

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shardd_test/source_dir.h"

namespace shardd::test {

using json = nlohmann::json;
using Ms = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Path of the shardd executable under test: $SHARDD_BIN when set, else the
// `shardd` of the build this test executable belongs to (<build>/shardd, two
// folders above <build>/tests/integration/). scripts/test.sh sets SHARDD_BIN
// to run the normal build's integration tests against a sanitizer build.
std::string shardd_binary();

// Milliseconds since `start`.
int64_t elapsed_ms(Clock::time_point start);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// destroyed (kept when SHARDD_TEST_KEEP_TMP=1).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Writes `content` to path()/name (atomically: temp file + rename). Returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
bool file_exists(const std::string& path);

// Runs a command to completion (argv[0] is the program), capturing stdout and
// stderr. exit_code is -signal if it died of a signal, -1000 on timeout (the
// child is then killed).
// A sanitizer report the child wrote is returned in `sanitizer_report` and
// also fails the current test (see sanitizer_env()).
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
  std::string sanitizer_report;
};
CommandResult run_command(const std::vector<std::string>& argv, Ms timeout,
                          const std::vector<std::pair<std::string, std::string>>& env = {});

// Sanitizer output of child processes. A sanitizer build of shardd writes its
// ASan/LSan/UBSan/TSan reports to stderr by default, where nobody reads them
// once a test passed. Every child the harness starts gets `log_path=<prefix>`
// appended to ASAN_OPTIONS, LSAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS (the
// values inherited from the test's environment are kept), so each report lands
// in <prefix>.<pid>; read_sanitizer_reports() collects them. For a binary
// built without sanitizers the variables are ignored.
std::vector<std::pair<std::string, std::string>> sanitizer_env(const std::string& log_prefix);
// The contents of every <prefix>.* file, with a header line per file; empty
// when there is none.
std::string read_sanitizer_reports(const std::string& log_prefix);
// The part of a child's stderr from the first sanitizer report line on ("" if
// none): GCC's UBSan runtime ignores log_path and always writes to stderr.
std::string sanitizer_text_in(const std::string& output);

// A self-signed certificate (CN=localhost, SAN 127.0.0.1) made with the
// openssl CLI. Throws std::runtime_error if openssl fails.
struct TlsFiles {
  std::string cert;
  std::string key;
};
TlsFiles make_test_cert(const TempDir& dir);

struct Ports {
  uint16_t ws = 0;
  uint16_t tcp = 0;
  uint16_t admin = 0;
  int pid = 0;
};

struct ShardOptions {
  // Contents of the config file written to <dir>/shardd.toml.
  std::string config_toml = "[server]\nname = \"shardd-it\"\n";
  // --set overrides, added after the harness's own (ports 0, 127.0.0.1,
  // data_dir and ports_file inside the temp dir).
  std::vector<std::string> overrides;
  // Extra environment variables for the child.
  std::vector<std::pair<std::string, std::string>> env;
  // Generates a test certificate and sets tls.cert_file / tls.key_file.
  bool tls_cert = false;
  // How long the destructor waits after SIGTERM before SIGKILL. Sanitizer
  // builds shut down slowly (LSan scans the heap at exit).
  Ms stop_deadline = Ms(20000);
};

// One shardd child process with its own temp dir. The destructor stops it if
// it is still running (SIGTERM, then SIGKILL after `stop_deadline`), fails the
// current test if the server wrote any sanitizer report (see sanitizer_env)
// and, if the test failed, prints the tail of its log. The child also dies
// with the test process (PR_SET_PDEATHSIG).
class Shard {
 public:
  explicit Shard(ShardOptions options = {});
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Starts shardd and waits (up to `timeout`) for its ports file. Throws
  // std::runtime_error (with the captured log) if it exits or times out.
  void start(Ms timeout = Ms(10000));
  // Starts shardd without waiting for anything (for tests of startup failures).
  void spawn();

  const Ports& ports() const { return ports_; }
  uint16_t ws_port() const { return ports_.ws; }
  uint16_t tcp_port() const { return ports_.tcp; }
  uint16_t admin_port() const { return ports_.admin; }
  int pid() const { return pid_; }
  const TempDir& dir() const { return dir_; }
  std::string config_path() const { return dir_.file("shardd.toml"); }
  std::string ports_file() const { return dir_.file("ports.json"); }
  const TlsFiles& tls() const { return tls_; }

  // Replaces the config file (for SIGHUP tests).
  void write_config(const std::string& toml) const;
  void signal(int sig) const;
  bool running();
  // The exit code once it exited (-signal if killed), or nullopt on timeout.
  std::optional<int> wait_exit(Ms timeout);
  // Everything shardd wrote to stderr so far.
  std::string log() const;
  // Waits until the log contains `needle`.
  bool wait_log(const std::string& needle, Ms timeout) const;
  // Number of occurrences of `needle` in the log.
  size_t count_log(const std::string& needle) const;
  // SIGTERM, wait up to stop_deadline, then SIGKILL. Returns the exit code
  // (-signal when killed). Called by the destructor when still running.
  std::optional<int> stop();
  // Sanitizer reports the server wrote so far ("" when none).
  std::string sanitizer_reports() const;

 private:
  ShardOptions options_;
  TempDir dir_;
  TlsFiles tls_;
  Ports ports_;
  int pid_ = -1;
  std::optional<int> exit_code_;
};

// ---------------------------------------------------------------- HTTP

struct HttpResponse {
  int status = 0;  // 0: no response (connection failed / timeout)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;
  std::string header(const std::string& name) const;  // case-insensitive, "" if absent
};

// GET http://127.0.0.1:port/target, Connection: close.
HttpResponse http_get(uint16_t port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      Ms timeout = Ms(5000));
// Any method (HEAD reads the headers only); a non-empty body is sent as
// application/json.
HttpResponse http_request(const std::string& method, uint16_t port, const std::string& target,
                          const std::string& body = "",
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          Ms timeout = Ms(5000));

// Prometheus text helpers. `series` is the full name with labels exactly as
// rendered, e.g. `shardd_connections{transport="ws"}`.
std::optional<double> metric_value(const std::string& text, const std::string& series);
bool has_metric_family(const std::string& text, const std::string& family);
// GET /metrics and read one series; nullopt when absent or unreachable.
std::optional<double> scrape(uint16_t admin_port, const std::string& series);

// ---------------------------------------------------------------- WebSocket

struct WsOptions {
  std::string path = "/ws";
  std::string origin;  // sent as Origin when not empty
  bool tls = false;
  std::string ca_file;  // TLS: verify the server against this cert (else no verification)
  bool permessage_deflate = false;
  std::string source_ip;  // bind the client socket to this local address
  int rcvbuf = 0;         // SO_RCVBUF for the client socket (0: default)
  Ms timeout = Ms(5000);
};

// One received WebSocket message, decoded.
struct WsMessage {
  bool binary = false;
  std::string data;
  json j;  // text: JSON; binary: MessagePack (discarded if it does not decode)
};

class WsClient {
 public:
  WsClient();
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects and completes the upgrade. Returns false on failure; then
  // error() describes it and http_status()/http_body() hold the server's
  // answer if it refused the upgrade with an HTTP response.
  bool connect(uint16_t port, const WsOptions& options = {});
  const std::string& error() const;
  int http_status() const;
  const std::string& http_body() const;
  // A header of the 101 (or refusal) response.
  std::string response_header(const std::string& name) const;

  bool send_text(const std::string& text, Ms timeout = Ms(5000));
  bool send_binary(const std::string& bytes, Ms timeout = Ms(5000));
  bool send_json(const json& j, Ms timeout = Ms(5000)) { return send_text(j.dump(), timeout); }
  bool send_msgpack(const json& j, Ms timeout = Ms(5000));

  // Next message, or nullopt on timeout or once the connection is closed.
  std::optional<WsMessage> recv(Ms timeout = Ms(5000));
  // Next message that is a response with this rid (pushes and other responses
  // before it are kept in pushes_seen()).
  std::optional<json> recv_response(uint64_t rid, Ms timeout = Ms(5000));
  // Next push with this op (earlier messages are skipped but recorded).
  std::optional<json> recv_push(const std::string& op, Ms timeout = Ms(5000));
  const std::vector<json>& skipped() const;

  // Sends {"op":op,"rid":next,"d":d} as JSON text and waits for its response.
  std::optional<json> request(const std::string& op, const json& d = json::object(),
                              Ms timeout = Ms(5000));

  // Reads (and records) messages until the server closes the connection.
  // Returns true if it closed within the timeout.
  bool wait_closed(Ms timeout = Ms(5000));
  bool closed() const;
  // Close code the server sent (0 if none / not closed by a close frame).
  int close_code() const;
  std::string close_reason() const;
  // Messages received while waiting for the close.
  const std::vector<json>& received_before_close() const;

  // Stops reading from the socket (slow consumer tests).
  void pause_reading();
  // Sends a close frame (1000) and waits for the server's reply.
  void close(Ms timeout = Ms(3000));
  // Sends a close frame with `code` (any value, valid or not) and returns the
  // code of the server's close frame (0 if none came).
  int close_with_code(uint16_t code, Ms timeout = Ms(3000));
  // Drops the TCP connection without a close frame.
  void drop();
  uint64_t next_rid() { return ++rid_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t rid_ = 0;
};

// ---------------------------------------------------------------- HTTP fallback

// A client of the HTTP fallback transport (/rt/, docs/protocol.md): POST
// /rt/open, requests by POST /rt/{id}/send, and what the server sends from a
// long poll (kPoll) or a server-sent event stream (kStream). Blocking, like
// the other clients; the stream is read only inside its own calls.
class RtClient {
 public:
  enum class Mode { kPoll, kStream };
  RtClient();
  ~RtClient();
  RtClient(const RtClient&) = delete;
  RtClient& operator=(const RtClient&) = delete;

  // POST /rt/open. On success hello() holds the sys.hello data.
  bool open(uint16_t port, Mode mode = Mode::kPoll, Ms timeout = Ms(5000));
  // The raw answer of the last open() (status 0 when it did not connect).
  const HttpResponse& open_response() const;
  const std::string& id() const;
  const std::string& secret() const;
  const json& hello() const;
  // The highest event number received so far (what the next poll sends as `last`).
  uint64_t last_event() const;

  // POST /rt/{id}/send with this exact body (`ack` = last_event() when set).
  HttpResponse send_body(const std::string& body, bool ack = false, Ms timeout = Ms(5000));
  // Sends one request {"op","rid","d"} and waits for its response.
  std::optional<json> request(const std::string& op, const json& d = json::object(),
                              Ms timeout = Ms(5000));
  // Next message from the server (a poll, or the stream), nullopt on timeout.
  std::optional<json> recv(Ms timeout = Ms(5000));
  std::optional<json> recv_response(uint64_t rid, Ms timeout = Ms(5000));
  std::optional<json> recv_push(const std::string& op, Ms timeout = Ms(5000));

  // One GET /rt/{id}/events?poll=1&last=<last> (the server answers when it
  // has events, or after http.poll_wait_ms); its raw answer. New events in
  // it are queued for recv().
  HttpResponse poll_once(uint64_t last, Ms timeout = Ms(30000));
  // Opens the event stream with this Last-Event-ID (nullopt: none). Returns
  // the HTTP status (200), or 0 if it did not connect.
  int open_stream(std::optional<uint64_t> last_event_id, Ms timeout = Ms(5000));
  // The stream's `event: end` code once the server ended it ("" until then).
  const std::string& stream_end() const;
  // Drops the event stream's TCP connection (a broken network).
  void drop_stream();
  // POST /rt/{id}/close.
  HttpResponse close_transport();
  uint64_t next_rid() { return ++rid_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t rid_ = 0;
};

// ---------------------------------------------------------------- framed TCP

struct TcpFrame {
  uint32_t length = 0;
  uint8_t flags = 0;
  uint32_t seq = 0;
  std::string body;   // as received (still compressed when flags & 2)
  std::string plain;  // body after zlib inflate (== body if not compressed)
  json j;             // decoded plain body (JSON or MessagePack per flags)
};

// TLS protocol versions (OpenSSL's numbering) for TcpOptions::tls_max_version.
inline constexpr int kTls1_1 = 0x0302;
inline constexpr int kTls1_2 = 0x0303;

struct TcpOptions {
  bool tls = false;
  std::string ca_file;
  std::string source_ip;
  int tls_max_version = 0;  // e.g. TLS1_1_VERSION to test refusal; 0: library default
  Ms timeout = Ms(5000);
};

class TcpClient {
 public:
  TcpClient();
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool connect(uint16_t port, const TcpOptions& options = {});
  const std::string& error() const;

  // Sends one frame with an explicit header (length = body.size() unless given).
  bool send_frame(uint8_t flags, uint32_t seq, const std::string& body,
                  std::optional<uint32_t> length = std::nullopt, Ms timeout = Ms(5000));
  // Sends JSON (or MessagePack, or zlib-compressed) with the next seq.
  bool send_json(const json& j, bool msgpack = false, bool zlib = false, Ms timeout = Ms(5000));
  bool send_raw(const std::string& bytes, Ms timeout = Ms(5000));
  uint32_t next_seq() { return ++seq_; }

  std::optional<TcpFrame> recv(Ms timeout = Ms(5000));
  std::optional<json> recv_response(uint64_t rid, Ms timeout = Ms(5000));
  std::optional<json> recv_push(const std::string& op, Ms timeout = Ms(5000));
  std::optional<json> request(const std::string& op, const json& d = json::object(),
                              bool msgpack = false, Ms timeout = Ms(5000));
  // All frames received so far that were not returned (skipped by recv_*).
  const std::vector<TcpFrame>& skipped() const;

  // Reads until EOF/reset. True if the server closed within the timeout.
  bool wait_closed(Ms timeout = Ms(5000));
  bool closed() const;
  uint64_t next_rid() { return ++rid_; }
  void drop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t seq_ = 0;
  uint64_t rid_ = 0;
};

// ---------------------------------------------------------------- raw sockets

// A blocking TCP socket to 127.0.0.1 for low-level tests (half-open
// connections, slowloris, slow readers).
class RawSocket {
 public:
  RawSocket() = default;
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connect(uint16_t port, int rcvbuf = 0);
  // Sends everything; false on error (EPIPE/ECONNRESET) or if the send buffer
  // stayed full for `timeout`.
  bool send_all(const std::string& bytes, Ms timeout = Ms(5000));
  // Waits until the peer closes (recv returns 0 or an error), discarding data.
  bool wait_closed(Ms timeout);
  // Reads what is available within timeout (up to max bytes).
  std::string recv_some(Ms timeout, size_t max = 65536);
  int fd() const { return fd_; }
  void close();

 private:
  int fd_ = -1;
};

// A TCP listener on 127.0.0.1 with an OS-chosen port (port-in-use tests).
class PortHolder {
 public:
  PortHolder();
  ~PortHolder();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A free port on 127.0.0.1 right now (bound then released).
uint16_t pick_free_port();
// True if something accepts TCP connections on 127.0.0.1:port.
bool port_accepts(uint16_t port);

// ---------------------------------------------------------------- systemd

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  const std::string& path() const { return path_; }
  // Waits until `min_count` datagrams containing the line `line` (e.g.
  // "READY=1") have arrived; every datagram received is kept in order.
  bool wait_for(const std::string& line, Ms timeout, size_t min_count = 1);
  // Receives for `duration` and keeps everything.
  void collect(Ms duration);
  const std::vector<std::string>& messages() const { return messages_; }
  size_t count(const std::string& line) const;
  // Index of the first message containing `line` at or after `from`, or -1.
  int index_of(const std::string& line, size_t from = 0) const;

 private:
  bool receive_one(Ms timeout);
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

// Repeats `pred` until it is true or the timeout passes.
template <class Pred>
bool eventually(Pred pred, Ms timeout, Ms step = Ms(20)) {
  auto end = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(step);
  }
}

}  // namespace shardd::test
