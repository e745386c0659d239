#pragma once

// The HTTP front of a WebSocket listener: TLS handshake (wss), HTTP requests,
// then either the upgrade into a WsConnection or plain answers (/healthz, the
// browser client under /play/, the HTTP fallback transport under /rt/,
// refusals). Plain answers keep the connection open (HTTP/1.1 keep-alive) for
// up to kMaxRequests requests, each to arrive within the handshake timeout;
// refusals close it. A `/rt/{id}/events` request attaches the front to its
// transport as an EventSink (rt_transport.h): a long poll until it is
// answered, an event stream until either side ends it. Internal to shardd_net. Each Stream type is
// instantiated in its own translation unit (ws_accept_plain.cpp,
// ws_accept_tls.cpp) so the heavy Beast templates compile in parallel.

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <optional>
#include <string>

#include "internal.h"
#include "rt_http.h"
#include "rt_transport.h"
#include "shardd/core/log.h"
#include "static_files.h"
#include "ws_connection.h"

namespace shardd::net {

namespace ws_front {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

inline spdlog::logger& ws_front_log() {
  static spdlog::logger& l = log::get("net");
  return l;
}

template <class Stream>
class HttpFront final : public EventSink, public std::enable_shared_from_this<HttpFront<Stream>> {
 public:
  using Env = WsFrontEnv;
  static constexpr bool kTls = !std::is_same_v<Stream, TcpStream>;

  HttpFront(Env& env, Stream&& stream, std::optional<ConnectionLimiter::Slot> slot, std::string ip,
            uint16_t port)
      : env_(env),
        stream_(std::move(stream)),
        slot_(std::move(slot)),
        ip_(std::move(ip)),
        port_(port),
        refusing_(!slot_),
        ex_(beast::get_lowest_layer(stream_).get_executor()),
        poll_timer_(ex_) {}

  ~HttpFront() {
    if (refusing_) env_.shared.limiter->end_refusal();
  }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    if constexpr (!std::is_same_v<Stream, TcpStream>) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->fail("TLS handshake", ec);
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

 private:
  std::chrono::milliseconds handshake_timeout() const {
    return std::chrono::milliseconds(
        env_.shared.limits.handshake_timeout_ms.load(std::memory_order_relaxed));
  }

  // Requests one connection may make before it is closed (a page load makes
  // a handful; a client that wants more opens another connection).
  static constexpr int kMaxRequests = 100;

  void do_read() {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    http::async_read_header(stream_, buf_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_read(ec);
                            });
  }

  void fail(const char* what, beast::error_code ec) {
    env_.metrics.handshake_failed.inc();
    ws_front_log().debug("{} {}:{} {} failed: {}", "ws", ip_, port_, what, ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  void on_read(beast::error_code ec) {
    keep_alive_ = false;  // until a plain GET answer says otherwise
    if (ec == http::error::header_limit) {
      env_.metrics.handshake_failed.inc();
      return respond(http::status::request_header_fields_too_large, "request headers over 8 KiB\n");
    }
    if (ec) {
      // A kept-alive connection the client lets go idle, or closes, after
      // its last answer is not a failed handshake.
      if (requests_ > 0 && (ec == http::error::end_of_stream || ec == beast::error::timeout)) {
        beast::get_lowest_layer(stream_).socket().close(ec);
        return;
      }
      return fail("HTTP request", ec);
    }
    {
      std::string_view target = parser_->get().target();
      std::string_view path = target.substr(0, target.find('?'));
      if (env_.rt && path.substr(0, kRtPrefix.size()) == kRtPrefix) return on_rt_header();
    }
    if (!parser_->is_done()) {
      return respond(http::status::payload_too_large, "request bodies are not accepted here\n");
    }
    auto req = parser_->release();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req)) {
      if (path != env_.path) return respond(http::status::not_found, "no websocket at this path\n");
      if (!slot_) return respond(http::status::service_unavailable, "TOO_MANY_CONNECTIONS\n");
      auto origin = req[http::field::origin];
      if (!origin.empty() && !same_origin(origin, req[http::field::host], kTls) &&
          !env_.origin_allowed(origin)) {
        ws_front_log().info("ws {}:{} origin '{}' not allowed", ip_, port_, std::string(origin));
        return respond(http::status::forbidden, "origin not allowed\n");
      }
      if constexpr (kTls) {
        auto conn = std::make_shared<WsConnection<Stream>>(
            env_.shared, env_.metrics, std::move(*slot_), kTls, ip_, port_, std::move(stream_));
        slot_.reset();
        conn->run(std::move(req), WsOptions{env_.permessage_deflate});
      } else {
        // The HTTP stream's timer is not needed past the upgrade: the
        // connection writes to the socket itself.
        beast::get_lowest_layer(stream_).expires_never();
        auto conn = std::make_shared<WsConnection<Socket>>(
            env_.shared, env_.metrics, std::move(*slot_), kTls, ip_, port_,
            beast::get_lowest_layer(stream_).release_socket());
        slot_.reset();
        conn->run(std::move(req), WsOptions{env_.permessage_deflate});
      }
      return;
    }
    bool head = req.method() == http::verb::head;
    ++requests_;
    keep_alive_ = req.keep_alive() && !refusing_ && requests_ < kMaxRequests;
    if (req.method() != http::verb::get && !head) {
      keep_alive_ = false;
      return respond(http::status::method_not_allowed, "method not allowed\n");
    }
    if (path == "/healthz") return respond(http::status::ok, "ok\n", head);
    if (path == "/" || path == "/play" || path.substr(0, kPlayPrefix.size()) == kPlayPrefix) {
      return serve_play(req, path, head);
    }
    respond(http::status::not_found, "not found\n", head);
  }

  // The browser client: `/` and `/play` lead to `/play/`; files come from
  // ws.web_root with an ETag (revalidated on every load: Cache-Control
  // no-cache, so an upgrade shows at once) and the client's CSP.
  void serve_play(const http::request<http::empty_body>& req, std::string_view path, bool head) {
    if (env_.web_root.empty()) {
      return respond(http::status::not_found,
                     "no browser client is served here (ws.web_root is not set)\n", head);
    }
    if (path == "/" || path == "/play") return redirect(http::status::found, "/play/");
    StaticLookup f = lookup_static(env_.web_root, path);
    if (f.kind == StaticLookup::Kind::kAddSlash) {
      return redirect(http::status::moved_permanently, std::string(path) + "/");
    }
    if (f.kind != StaticLookup::Kind::kFile)
      return respond(http::status::not_found, "not found\n", head);
    auto inm = req[http::field::if_none_match];
    if (!inm.empty() && etag_matches(inm, f.etag)) {
      res_.emplace(http::status::not_modified, 11);
      play_headers(*res_, f.etag);
      return write(*res_);
    }
    beast::error_code ec;
    http::file_body::value_type body;
    body.open(f.file.c_str(), beast::file_mode::scan, ec);
    if (ec) return respond(http::status::not_found, "not found\n", head);
    file_res_.emplace(http::status::ok, 11);
    play_headers(*file_res_, f.etag);
    file_res_->set(http::field::content_type, f.content_type);
    if (head) {
      file_res_->content_length(f.size);
    } else {
      file_res_->body() = std::move(body);
      file_res_->prepare_payload();
    }
    write(*file_res_);
  }

  template <class Res>
  void play_headers(Res& res, const std::string& etag) {
    common_headers(res);
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", kPlayCsp);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
  }

  template <class Res>
  void common_headers(Res& res) {
    res.set(http::field::server, std::string(kServerName) + "/" + kVersion);
    res.keep_alive(keep_alive_);
    if (!cors_origin_.empty()) {
      res.set(http::field::access_control_allow_origin, cors_origin_);
      res.set(http::field::vary, "Origin");
    }
  }

  void redirect(http::status status, std::string location) {
    res_.emplace(status, 11);
    common_headers(*res_);
    res_->set(http::field::location, location);
    res_->set(http::field::content_type, "text/plain");
    res_->body() = "see " + location + "\n";
    res_->prepare_payload();
    write(*res_);
  }

  // `head`: the answer to a HEAD request (headers of the GET answer, no body).
  void respond(http::status status, std::string body, bool head = false) {
    if (status != http::status::ok && status != http::status::not_found) keep_alive_ = false;
    res_.emplace(status, 11);
    common_headers(*res_);
    res_->set(http::field::content_type, "text/plain");
    if (head) {
      res_->content_length(body.size());
    } else {
      res_->body() = std::move(body);
      res_->prepare_payload();
    }
    write(*res_);
  }

  // Writes the answer, then reads the next request or closes. `after_write_`
  // (if set) learns whether the answer was written.
  template <class Res>
  void write(Res& res) {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    http::async_write(
        stream_, res, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
          self->res_.reset();
          self->file_res_.reset();
          if (auto after = std::move(self->after_write_)) {
            self->after_write_ = nullptr;
            after(!ec);
          }
          if (!ec && self->keep_alive_) return self->do_read();
          beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
          beast::get_lowest_layer(self->stream_).socket().close(ec);
        });
  }

  Env& env_;
  Stream stream_;
  std::optional<ConnectionLimiter::Slot> slot_;  // empty: refusing (over the limit)
  std::string ip_;
  uint16_t port_;
  const bool refusing_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::file_body>> file_res_;
  bool keep_alive_ = false;
  int requests_ = 0;
  std::string cors_origin_;  // a cross-origin /rt/ request's allowed Origin ("" otherwise)
  std::function<void(bool written)> after_write_;

  // ------------------------------------------------ the HTTP fallback transport
  // (a request on /rt/: see rt_transport.h and docs/protocol.md)

  enum class RtMode : uint8_t { kNone, kOpen, kPoll, kStream };

  void on_rt_header() {
    ++requests_;
    auto& h = parser_->get();
    keep_alive_ = h.keep_alive() && !refusing_ && requests_ < kMaxRequests;
    cors_origin_.clear();
    auto origin = h[http::field::origin];
    if (!origin.empty() && !same_origin(origin, h[http::field::host], kTls)) {
      if (!env_.origin_allowed(origin)) {
        ws_front_log().info("rt {}:{} origin '{}' not allowed", ip_, port_, std::string(origin));
        return rt_error(http::status::forbidden, ErrorCode::kForbidden, "origin not allowed");
      }
      cors_origin_ = std::string(origin);
    }
    if (h.method() == http::verb::options) return rt_preflight();
    const RtTarget t = parse_rt_target(h.target());
    if (t.route == RtRoute::kNone) {
      return rt_error(http::status::not_found, ErrorCode::kNotFound,
                      "no such /rt/ route (open, {id}/events, {id}/send, {id}/close)");
    }
    const bool get = t.route == RtRoute::kEvents;
    if (h.method() != (get ? http::verb::get : http::verb::post)) {
      return rt_error(http::status::method_not_allowed, ErrorCode::kBadRequest,
                      get ? "use GET" : "use POST");
    }
    if (get) {
      if (!parser_->is_done()) {
        return rt_error(http::status::payload_too_large, ErrorCode::kTooLarge,
                        "this request takes no body");
      }
      return rt_dispatch(h, "");
    }
    // The body is read only now that the route is known, under its limit
    // (a declared length over it is refused before reading; a chunked body
    // is cut off when it gets there).
    const uint32_t limit = env_.shared.limits.http_max_body_bytes.load(std::memory_order_relaxed);
    if (auto n = parser_->content_length(); n && *n > limit) {
      env_.rt_metrics->too_large.inc();
      return rt_error(http::status::payload_too_large, ErrorCode::kTooLarge,
                      "body over " + std::to_string(limit) + " bytes (http.max_body_bytes)");
    }
    body_parser_.emplace(std::move(*parser_));
    parser_.reset();
    body_parser_->body_limit(limit);
    if (body_parser_->is_done())
      return rt_dispatch(body_parser_->get(), body_parser_->get().body());
    http::async_read(stream_, buf_, *body_parser_,
                     [self = this->shared_from_this(), limit](beast::error_code ec, std::size_t) {
                       if (ec == http::error::body_limit) {
                         return self->rt_error(
                             http::status::payload_too_large, ErrorCode::kTooLarge,
                             "body over " + std::to_string(limit) + " bytes (http.max_body_bytes)");
                       }
                       if (ec) return self->fail("HTTP request body", ec);
                       auto& req = self->body_parser_->get();
                       self->rt_dispatch(req, req.body());
                     });
  }

  template <class Header>
  void rt_dispatch(const Header& h, std::string_view body) {
    const RtTarget t = parse_rt_target(h.target());
    if (t.route == RtRoute::kOpen) return rt_open();
    auto tr = env_.rt->find(t.id);
    if (!tr) {
      return rt_error(http::status::not_found, ErrorCode::kSessionExpired,
                      "no such transport (closed or expired): open a new one and sys.resume");
    }
    std::string_view secret = query_param(t.query, "s");
    std::string_view auth = h[http::field::authorization];
    if (auth.size() > 7 && beast::iequals(auth.substr(0, 7), "Bearer ")) secret = auth.substr(7);
    if (!tr->secret_matches(secret)) {
      return rt_error(http::status::forbidden, ErrorCode::kUnauthorized,
                      "wrong or missing transport secret");
    }
    if (t.route == RtRoute::kClose) {
      boost::asio::post(tr->executor(), [tr] { tr->close_by_client(); });
      return rt_json(http::status::ok, "{\"closed\":true}");
    }
    uint64_t last = 0;
    std::string_view last_text = t.route == RtRoute::kSend ? query_param(t.query, "ack")
                                                           : std::string_view(h["Last-Event-ID"]);
    if (last_text.empty() && t.route == RtRoute::kEvents) last_text = query_param(t.query, "last");
    if (!last_text.empty() && !parse_event_no(last_text, &last)) {
      return rt_error(http::status::bad_request, ErrorCode::kBadRequest,
                      "the last event number must be an integer");
    }
    if (t.route == RtRoute::kSend)
      return rt_send(std::move(tr), body, last_text.empty() ? 0 : last);
    const bool poll = query_param(t.query, "poll") == "1";
    rt_ = std::move(tr);
    rt_answered_ = false;
    rt_last_ = last;
    auto self = std::shared_ptr<EventSink>(this->shared_from_this());
    if (poll) {
      rt_mode_ = RtMode::kPoll;
      poll_timer_.expires_after(std::chrono::milliseconds(
          env_.shared.limits.http_poll_wait_ms.load(std::memory_order_relaxed)));
      poll_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (ec || self->rt_mode_ != RtMode::kPoll || self->rt_answered_) return;
        self->rt_answered_ = true;
        boost::asio::post(self->rt_->executor(), [t = self->rt_, s = self.get()] { t->detach(s); });
        self->rt_finish_json(http::status::ok, poll_body(self->rt_last_, {}));
      });
      boost::asio::post(rt_->executor(), [t = rt_, self, last] { t->attach(self, false, last); });
      return;
    }
    rt_stream_start(std::move(self), last);
  }

  // POST /rt/open: a new transport on this socket's executor, its sys.hello
  // returned as the answer.
  void rt_open() {
    if (refusing_) {
      return rt_error(http::status::service_unavailable, ErrorCode::kTooManyConnections,
                      "too many connections");
    }
    const char* reason = nullptr;
    auto slot = env_.shared.limiter->try_acquire(ip_, &reason);
    if (!slot) {
      env_.rt_metrics->refused_limit.inc();
      return rt_error(http::status::service_unavailable, ErrorCode::kTooManyConnections,
                      std::string(reason) + " reached");
    }
    std::string id;
    if (!new_rt_credentials(&id, &open_secret_).ok()) {
      return rt_error(http::status::service_unavailable, ErrorCode::kUnavailable,
                      "random number generator failed");
    }
    auto tr = std::make_shared<RtTransport>(env_.shared, *env_.rt_metrics, std::move(*slot), kTls,
                                            ip_, port_, ex_, *env_.rt, std::move(id), open_secret_);
    if (!tr->start()) {
      env_.rt_metrics->refused_limit.inc();
      return rt_error(http::status::too_many_requests, ErrorCode::kTooManyConnections,
                      "too many HTTP transports from this address (http.max_sessions_per_ip)");
    }
    rt_ = tr;
    rt_mode_ = RtMode::kOpen;
    rt_answered_ = false;
    rt_last_ = 0;
    tr->attach(std::shared_ptr<EventSink>(this->shared_from_this()), false, 0);
  }

  void rt_send(std::shared_ptr<RtTransport> tr, std::string_view body, uint64_t ack) {
    std::vector<std::string_view> parts;
    Status st =
        split_send_body(body, env_.shared.limits.http_max_batch.load(std::memory_order_relaxed),
                        env_.shared.limits.max_frame_bytes.load(std::memory_order_relaxed), &parts);
    if (!st.ok()) {
      if (st.code() == ErrorCode::kTooLarge) env_.rt_metrics->too_large.inc();
      return rt_error(st.code() == ErrorCode::kTooLarge ? http::status::payload_too_large
                                                        : http::status::bad_request,
                      st.code(), st.message());
    }
    std::vector<std::string> messages(parts.begin(), parts.end());
    const size_t n = messages.size();
    boost::asio::post(tr->executor(), [tr, ack, m = std::move(messages)] {
      if (ack) tr->ack(ack);
      tr->receive(m);
    });
    rt_json(http::status::accepted, "{\"accepted\":" + std::to_string(n) + "}");
  }

  void rt_stream_start(std::shared_ptr<EventSink> self, uint64_t last) {
    rt_mode_ = RtMode::kStream;
    keep_alive_ = false;  // the stream is the rest of this connection
    sse_res_.emplace(http::status::ok, 11);
    common_headers(*sse_res_);
    sse_res_->set(http::field::content_type, "text/event-stream");
    sse_res_->set(http::field::cache_control, "no-store");
    sse_res_->set("X-Accel-Buffering", "no");  // proxies: do not hold events back
    sse_res_->chunked(true);
    sse_sr_.emplace(*sse_res_);
    sse_writing_ = true;
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    http::async_write_header(stream_, *sse_sr_,
                             [self = this->shared_from_this(), sink = std::move(self), last](
                                 beast::error_code ec, std::size_t) {
                               self->sse_writing_ = false;
                               if (ec) {
                                 self->rt_mode_ = RtMode::kNone;
                                 self->rt_.reset();
                                 return self->fail("event stream", ec);
                               }
                               // From here the stream lasts as long as the client keeps it: a
                               // pending read notices when it goes away.
                               beast::get_lowest_layer(self->stream_).expires_never();
                               self->sse_watch();
                               boost::asio::post(
                                   self->rt_->executor(),
                                   [t = self->rt_, sink, last] { t->attach(sink, true, last); });
                               if (self->sse_end_) self->sse_close();
                             });
  }

  void sse_watch() {
    stream_.async_read_some(boost::asio::buffer(sse_drain_), [self = this->shared_from_this()](
                                                                 beast::error_code ec,
                                                                 std::size_t) {
      if (!ec) return self->sse_watch();  // a client has nothing to say here
      if (self->rt_mode_ != RtMode::kStream) return;
      if (!self->sse_end_) {
        self->sse_end_ = SinkEnd::kReplaced;  // gone: nothing more is written
        boost::asio::post(self->rt_->executor(), [t = self->rt_, s = self.get()] { t->detach(s); });
      }
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

  // Ends the event stream: a last `event: end` naming why, the final chunk,
  // then the connection closes.
  void sse_close() {
    if (sse_writing_ || sse_closing_) return;
    sse_closing_ = true;
    sse_buf_.clear();
    const char* code = "REPLACED";
    if (*sse_end_ == SinkEnd::kClosed || *sse_end_ == SinkEnd::kLost) code = "SESSION_EXPIRED";
    if (*sse_end_ == SinkEnd::kAhead) code = "BAD_REQUEST";
    sse_buf_ = std::string("event: end\ndata: {\"code\":\"") + code + "\"}\n\n";
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    boost::asio::async_write(stream_, http::make_chunk(boost::asio::buffer(sse_buf_)),
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->close_quietly();
                               boost::asio::async_write(self->stream_, http::make_chunk_last(),
                                                        [self](beast::error_code, std::size_t) {
                                                          self->close_quietly();
                                                        });
                             });
  }

  void close_quietly() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

 public:
  // EventSink (on this front's executor, posted by the transport).
  void deliver(std::shared_ptr<RtTransport> t, uint64_t token,
               std::vector<RtEvent> events) override {
    auto report = [t, token](bool ok) {
      boost::asio::post(t->executor(), [t, token, ok] { t->delivered(token, ok); });
    };
    if (t != rt_ || events.empty()) return report(false);
    if (rt_mode_ == RtMode::kOpen || rt_mode_ == RtMode::kPoll) {
      if (rt_answered_) return report(false);
      rt_answered_ = true;
      poll_timer_.cancel();
      std::string body = rt_mode_ == RtMode::kOpen ? open_body(t->rt_id(), open_secret_, events[0])
                                                   : poll_body(rt_last_, events);
      open_secret_.clear();
      after_write_ = std::move(report);
      return rt_finish_json(http::status::ok, std::move(body));
    }
    if (rt_mode_ != RtMode::kStream || sse_end_ || sse_writing_) return report(false);
    sse_buf_.clear();
    for (const RtEvent& e : events) append_sse_event(sse_buf_, e.no, *e.text);
    sse_writing_ = true;
    boost::asio::async_write(
        stream_, http::make_chunk(boost::asio::buffer(sse_buf_)),
        [self = this->shared_from_this(), report](beast::error_code ec, std::size_t) {
          self->sse_writing_ = false;
          report(!ec);
          if (ec) return self->close_quietly();
          if (self->sse_end_) self->sse_close();
        });
  }

  void end(SinkEnd why) override {
    if (rt_mode_ == RtMode::kStream) {
      if (sse_end_) return;
      sse_end_ = why;
      return sse_close();
    }
    if ((rt_mode_ != RtMode::kOpen && rt_mode_ != RtMode::kPoll) || rt_answered_) return;
    rt_answered_ = true;
    poll_timer_.cancel();
    switch (why) {
      case SinkEnd::kReplaced:
        return rt_finish_json(http::status::ok, poll_body(rt_last_, {}));
      case SinkEnd::kClosed:
        return rt_error(http::status::gone, ErrorCode::kSessionExpired,
                        "the transport was closed: open a new one and sys.resume");
      case SinkEnd::kLost:
        return rt_error(http::status::gone, ErrorCode::kSessionExpired,
                        "events after " + std::to_string(rt_last_) +
                            " are no longer held: open a new transport and sys.resume");
      case SinkEnd::kAhead:
        return rt_error(http::status::bad_request, ErrorCode::kBadRequest,
                        "last event " + std::to_string(rt_last_) + " was never sent");
    }
  }

  Connection::Executor sink_executor() const override { return ex_; }

 private:
  void rt_finish_json(http::status status, std::string body) {
    rt_mode_ = RtMode::kNone;
    rt_.reset();
    rt_json(status, std::move(body));
  }

  void rt_json(http::status status, std::string body) {
    res_.emplace(status, 11);
    common_headers(*res_);
    res_->set(http::field::content_type, "application/json");
    res_->set(http::field::cache_control, "no-store");
    res_->body() = std::move(body);
    res_->prepare_payload();
    write(*res_);
  }

  void rt_error(http::status status, ErrorCode code, std::string_view msg) {
    // The connection stays only for a clean miss (404/410) whose request was
    // read whole: an unread body would be taken for the next request.
    if ((status != http::status::not_found && status != http::status::gone) ||
        (parser_ && !parser_->is_done())) {
      keep_alive_ = false;
    }
    rt_mode_ = RtMode::kNone;
    rt_.reset();
    rt_json(status, rt_error_body(code, msg));
  }

  void rt_preflight() {
    res_.emplace(http::status::no_content, 11);
    common_headers(*res_);
    res_->set(http::field::access_control_allow_methods, "GET, POST");
    res_->set(http::field::access_control_allow_headers,
              "Authorization, Content-Type, Last-Event-ID");
    res_->set(http::field::access_control_max_age, "600");
    res_->prepare_payload();
    write(*res_);
  }

  std::optional<http::request_parser<http::string_body>> body_parser_;
  std::shared_ptr<RtTransport> rt_;  // the transport this request works for
  RtMode rt_mode_ = RtMode::kNone;
  bool rt_answered_ = false;       // the poll (or open) has its answer
  uint64_t rt_last_ = 0;           // the client's last event
  std::string open_secret_;        // kOpen: the new transport's secret, for the answer
  const Connection::Executor ex_;  // the socket's
  boost::asio::steady_timer poll_timer_;
  std::optional<http::response<http::empty_body>> sse_res_;
  std::optional<http::response_serializer<http::empty_body>> sse_sr_;
  std::string sse_buf_;
  std::array<char, 512> sse_drain_{};
  bool sse_writing_ = false;
  bool sse_closing_ = false;
  std::optional<SinkEnd> sse_end_;
};

}  // namespace ws_front

// Start the front for one accepted socket (on its executor). See start_ws.
void start_ws_plain(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                    std::string ip, uint16_t port);
void start_ws_tls(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                  std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace shardd::net
