#include "shardd/gateway/router.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include "shardd/core/worker_pool.h"
#include <deque>

#include "shardd/gateway/gateway.h"

namespace shardd::gateway {
namespace {

using json = nlohmann::json;

// Stands in for a network connection: records what the session sends.
class RecordingConnection final : public net::Connection {
 public:
  explicit RecordingConnection(Executor ex)
      : Connection(1, net::Transport::kWs, false, "127.0.0.1", 5555, ex) {}
  bool send(net::OutFrame&& f) override {
    std::string bytes = f.bytes;
    if (f.shared) bytes += *f.shared;
    bytes += f.tail;
    sent.push_back(net::decode_any(bytes, f.encoding));
    classes.push_back(f.cls);
    return true;
  }
  void close(uint16_t code, std::string_view reason) override {
    close_code = code;
    close_reason = std::string(reason);
  }
  void abort(std::string_view) override { aborted = true; }
  size_t queued_bytes() const override { return 0; }

  std::vector<json> sent;
  std::vector<net::OutputClass> classes;  // of each frame in `sent`
  uint16_t close_code = 0;
  std::string close_reason;
  bool aborted = false;
};

class GatewayTest : public ::testing::Test {
 protected:
  GatewayTest() : gateway_(config_, limits_, metrics_) {}
  ~GatewayTest() override {
    pool_.join();
    // The net layer ends every connection with on_closed; do the same so the
    // session releases its binding (and LeakSanitizer sees nothing left).
    if (handler_) on_io([h = handler_] { h->on_closed("test end"); });
    handler_.reset();
    io_.restart();
    io_.run_for(std::chrono::milliseconds(20));
  }

  // Runs `fn` on the session's io thread (as the net layer does) and then
  // everything it posted there.
  template <class F>
  void on_io(F&& fn) {
    boost::asio::post(io_, std::forward<F>(fn));
    io_.restart();
    io_.poll();
  }
  // Connects a session; returns its handler.
  std::shared_ptr<net::ConnectionHandler> connect() {
    conn_ = std::make_shared<RecordingConnection>(io_.get_executor());
    on_io([this] { handler_ = gateway_.handler_factory()(conn_); });
    return handler_;
  }
  Session& session() {
    auto s = gateway_.find_session(conn_->sent.at(0)["d"]["session"].get<uint64_t>());
    EXPECT_TRUE(s) << "session gone";
    return *s;
  }
  void send(const std::string& text) {
    on_io([this, text] { handler_->on_message(text, net::Encoding::kJson); });
  }
  void send(const json& j) { send(j.dump()); }
  // Runs posted work until `n` frames were sent or 10 s passed.
  void wait_for(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (conn_->sent.size() < n && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
  }
  const json& last() { return conn_->sent.back(); }

  WorkerPool pool_{"logic", 2, nullptr};  // service strands; outlives the gateway's routes
  Config config_;
  net::LiveLimits limits_;
  metrics::Registry metrics_;
  Gateway gateway_;
  boost::asio::io_context io_;
  std::shared_ptr<RecordingConnection> conn_;
  std::shared_ptr<net::ConnectionHandler> handler_;
};

TEST(RouterTest, AddFindAndRejects) {
  metrics::Registry m;
  Router r(m);
  EXPECT_TRUE(r.add("game.move", {}, [](Request&& q) { q.ok(); }).ok());
  EXPECT_EQ(r.add("game.move", {}, [](Request&& q) { q.ok(); }).code(), ErrorCode::kBadRequest);
  EXPECT_EQ(r.add("Game.Move", {}, [](Request&& q) { q.ok(); }).code(), ErrorCode::kBadRequest);
  ASSERT_NE(r.find("game.move"), nullptr);
  EXPECT_EQ(r.find("game.move")->op, "game.move");
  EXPECT_EQ(r.find("game.jump"), nullptr);
}

TEST_F(GatewayTest, HelloIsTheFirstPush) {
  connect();
  ASSERT_EQ(conn_->sent.size(), 1u);
  EXPECT_EQ(last()["op"], "sys.hello");
  EXPECT_EQ(last()["seq"], 0);  // a connection notice: never replayed, no number
  EXPECT_EQ(last()["d"]["heartbeat_ms"], 5000);
  EXPECT_EQ(last()["d"]["max_frame"], 65536);
  EXPECT_EQ(gateway_.session_count(), 1u);
}

TEST_F(GatewayTest, PingEchoesTAndServerTime) {
  connect();
  send(json{{"op", "sys.ping"}, {"rid", 5}, {"d", {{"t", 77}}}});
  ASSERT_EQ(conn_->sent.size(), 2u);
  EXPECT_EQ(last()["rid"], 5);
  EXPECT_EQ(last()["ok"], true);
  EXPECT_EQ(last()["d"]["t"], 77);
  EXPECT_GT(last()["d"]["server_time_ms"].get<int64_t>(), 1700000000000);
  // The answer has exactly these two members, whatever else the request held.
  send(json{{"op", "sys.ping"}, {"rid", 6}, {"d", {{"a", 1}, {"t", "x"}, {"z", {1, 2}}}}});
  EXPECT_EQ(last()["d"].size(), 2u) << last().dump();
  EXPECT_EQ(last()["d"]["t"], "x");
  send(json{{"op", "sys.ping"}, {"rid", 7}, {"d", {{"a", 1}}}});
  EXPECT_EQ(last()["d"].size(), 2u) << last().dump();
  EXPECT_TRUE(last()["d"]["t"].is_null());
  EXPECT_TRUE(last()["d"].contains("server_time_ms"));
  send(json{{"op", "sys.ping"}, {"rid", 8}});
  EXPECT_EQ(last()["d"].size(), 2u) << last().dump();
}

TEST_F(GatewayTest, UnknownOpKeepsTheSessionOpen) {
  connect();
  send(json{{"op", "no.such"}, {"rid", 1}});
  EXPECT_EQ(last()["err"]["code"], "UNKNOWN_OP");
  send(json{{"op", "sys.ping"}, {"rid", 2}});
  EXPECT_EQ(last()["ok"], true) << last().dump();
  EXPECT_EQ(conn_->close_code, 0);
}

TEST_F(GatewayTest, AuthGate) {
  int calls = 0;
  ASSERT_TRUE(gateway_.router()
                  .add("game.act", {},
                       [&](Request&& r) {
                         ++calls;
                         r.ok({{"done", true}});
                       })
                  .ok());
  connect();
  send(json{{"op", "game.act"}, {"rid", 1}});
  EXPECT_EQ(last()["err"]["code"], "UNAUTHORIZED");
  EXPECT_EQ(calls, 0);
  on_io([this] { EXPECT_FALSE(session().login(1, "tester").empty()); });
  send(json{{"op", "game.act"}, {"rid", 2}});
  EXPECT_EQ(last()["d"]["done"], true);
  EXPECT_EQ(calls, 1);
}

TEST_F(GatewayTest, StrandRoutesRunOffTheSessionThreadAndReplyBack) {
  auto strand = boost::asio::make_strand(pool_);
  std::atomic<bool> on_io_thread{true};
  RouteOptions opts;
  opts.requires_auth = false;
  opts.executor = strand;
  ASSERT_TRUE(gateway_.router()
                  .add("svc.work", opts,
                       [&](Request&& r) {
                         on_io_thread = r.session().executor().running_in_this_thread();
                         r.ok({{"n", r.d()["n"].get<int>() * 2}});
                       })
                  .ok());
  connect();
  send(json{{"op", "svc.work"}, {"rid", 3}, {"d", {{"n", 21}}}});
  wait_for(2);
  ASSERT_EQ(conn_->sent.size(), 2u);
  EXPECT_FALSE(on_io_thread);
  EXPECT_EQ(last()["rid"], 3);
  EXPECT_EQ(last()["d"]["n"], 42);
}

TEST_F(GatewayTest, AHandlerThatNeverRepliesAnswersInternal) {
  RouteOptions opts;
  opts.requires_auth = false;
  ASSERT_TRUE(gateway_.router().add("svc.lazy", opts, [](Request&&) {}).ok());
  connect();
  send(json{{"op", "svc.lazy"}, {"rid", 8}});
  EXPECT_EQ(last()["rid"], 8);
  EXPECT_EQ(last()["err"]["code"], "INTERNAL");
}

TEST_F(GatewayTest, RateLimitAnswersThenCloses) {
  limits_.rate_burst = 2;
  limits_.rate_per_sec = 0.5;
  limits_.rate_strikes_to_close = 3;
  connect();
  send(json{{"op", "sys.ping"}, {"rid", 1}});
  send(json{{"op", "sys.ping"}, {"rid", 2}});
  EXPECT_EQ(last()["ok"], true);
  send(json{{"op", "sys.ping"}, {"rid", 3}});
  EXPECT_EQ(last()["rid"], 3);
  EXPECT_EQ(last()["err"]["code"], "RATE_LIMITED");
  EXPECT_GT(last()["err"]["retry_after_ms"].get<int>(), 0);
  EXPECT_EQ(conn_->close_code, 0);
  send(json{{"op", "sys.ping"}, {"rid", 4}});
  send(json{{"op", "sys.ping"}, {"rid", 5}});
  EXPECT_EQ(last()["op"], "sys.close");
  EXPECT_EQ(last()["d"]["code"], "RATE_LIMITED");
  EXPECT_EQ(conn_->close_code, 4001);
  EXPECT_TRUE(session().closing());
}

TEST_F(GatewayTest, MalformedMessagesAnswerBadRequestThenClose) {
  limits_.bad_messages_to_close = 3;
  connect();
  send(std::string("{oops"));
  EXPECT_EQ(last()["err"]["code"], "BAD_REQUEST");
  EXPECT_TRUE(last()["rid"].is_null());
  send(json{{"op", "sys.ping"}, {"rid", 9}, {"d", 5}});
  EXPECT_EQ(last()["rid"], 9);
  EXPECT_EQ(last()["err"]["code"], "BAD_REQUEST");
  send(json{{"op", "sys.ping"}, {"rid", 10}});
  EXPECT_EQ(last()["ok"], true);  // still usable
  send(std::string("[]"));
  EXPECT_EQ(last()["op"], "sys.close");
  EXPECT_EQ(last()["d"]["code"], "PROTOCOL_ERROR");
  EXPECT_EQ(conn_->close_code, 4002);
}

TEST_F(GatewayTest, FatalFrameErrorsClose) {
  connect();
  on_io([this] { handler_->on_bad_frame(Status(ErrorCode::kTooLarge, "frame too big"), true); });
  EXPECT_EQ(last()["op"], "sys.close");
  EXPECT_EQ(last()["d"]["code"], "TOO_LARGE");
  EXPECT_EQ(conn_->close_code, 1009);
}

TEST_F(GatewayTest, IdleSessionIsClosedWithHeartbeatTimeout) {
  connect();
  on_io([this] { handler_->on_idle(); });
  EXPECT_EQ(last()["d"]["code"], "HEARTBEAT_TIMEOUT");
  EXPECT_EQ(conn_->close_code, 4000);
}

TEST_F(GatewayTest, InflightRequestsAreCapped) {
  std::deque<Request> held;
  RouteOptions opts;
  opts.requires_auth = false;
  ASSERT_TRUE(gateway_.router()
                  .add("svc.hold", opts, [&](Request&& r) { held.push_back(std::move(r)); })
                  .ok());
  limits_.rate_burst = 1000;
  connect();
  for (int i = 0; i < 64; ++i) send(json{{"op", "svc.hold"}, {"rid", i}});
  EXPECT_EQ(conn_->sent.size(), 1u);  // only the hello
  send(json{{"op", "svc.hold"}, {"rid", 64}});
  EXPECT_EQ(last()["err"]["code"], "RATE_LIMITED");
  on_io([&] {
    held.front().ok();
    held.pop_front();
  });
  send(json{{"op", "svc.hold"}, {"rid", 65}});
  EXPECT_EQ(held.size(), 64u);
  on_io([&] {
    for (auto& r : held) r.ok();
  });
}

TEST_F(GatewayTest, PushesCountSeqPerSessionAndFollowTheClientEncoding) {
  const PushOp& op = gateway_.push_op("test.event");
  connect();
  on_io([&] { session().push(op, {{"a", 1}}); });
  EXPECT_EQ(last()["seq"], 1);  // the hello took no number
  auto mp = json::to_msgpack(json{{"op", "sys.ping"}, {"rid", 1}});
  on_io([&] {
    handler_->on_message(std::string_view(reinterpret_cast<const char*>(mp.data()), mp.size()),
                         net::Encoding::kMsgpack);
  });
  EXPECT_EQ(last()["rid"], 1);  // decoded from MessagePack by the recorder
  on_io([&] { session().push(op, {{"a", 2}}); });
  EXPECT_EQ(last()["seq"], 2);
  EXPECT_EQ(last()["d"]["a"], 2);
}

TEST_F(GatewayTest, DrainTellsEverySessionAndClosesWith1001) {
  connect();
  EXPECT_EQ(gateway_.drain("maintenance"), 1u);
  wait_for(3);
  ASSERT_EQ(conn_->sent.size(), 3u);
  EXPECT_EQ(conn_->sent[1]["op"], "sys.shutdown");
  EXPECT_EQ(conn_->sent[1]["d"]["reason"], "maintenance");
  EXPECT_EQ(conn_->sent[1]["d"]["reconnect_after_ms"], 5000);
  EXPECT_EQ(conn_->sent[2]["d"]["code"], "SHUTTING_DOWN");
  EXPECT_EQ(conn_->close_code, 1001);
}

TEST_F(GatewayTest, ClosedSessionLeavesTheRegistry) {
  connect();
  EXPECT_EQ(gateway_.session_count(), 1u);
  on_io([this] { handler_->on_closed("peer went away"); });
  EXPECT_EQ(gateway_.session_count(), 0u);
}

TEST_F(GatewayTest, DeclaredArgumentsAreCheckedBeforeTheHandler) {
  int calls = 0;
  RouteOptions opts;
  opts.requires_auth = false;
  opts.args = {args::str("zone", 1, 8), args::optional(args::integer("n", 0, 9))};
  ASSERT_TRUE(gateway_.router()
                  .add("svc.args", opts,
                       [&](Request&& r) {
                         ++calls;
                         r.ok({{"zone", args::str(r.d(), "zone")}});
                       })
                  .ok());
  connect();
  send(json{{"op", "svc.args"}, {"rid", 1}, {"d", {{"zone", 5}}}});
  EXPECT_EQ(last()["err"]["code"], "BAD_REQUEST");
  EXPECT_EQ(last()["err"]["msg"], "'zone' must be a string");
  send(json{{"op", "svc.args"}, {"rid", 2}, {"d", {{"zone", "x"}, {"n", 10}}}});
  EXPECT_EQ(last()["err"]["msg"], "'n' must be an integer in [0, 9]");
  send(json{{"op", "svc.args"}, {"rid", 3}});
  EXPECT_EQ(last()["err"]["msg"], "missing field 'zone'");
  EXPECT_EQ(calls, 0);
  send(json{{"op", "svc.args"}, {"rid", 4}, {"d", {{"zone", "eu"}}}});
  EXPECT_EQ(last()["d"]["zone"], "eu");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(conn_->close_code, 0) << "argument errors do not count as malformed messages";
  json ops = gateway_.router().describe();
  bool listed = false;
  for (const auto& o : ops) {
    if (o["op"] == "svc.args") {
      listed = true;
      EXPECT_EQ(o["args"].size(), 2u);
      EXPECT_EQ(o["auth"], false);
    }
  }
  EXPECT_TRUE(listed) << ops.dump();
}

TEST_F(GatewayTest, AHandlerThatThrowsAnswersInternalAndTheSessionGoesOn) {
  RouteOptions inline_opts;
  inline_opts.requires_auth = false;
  RouteOptions strand_opts = inline_opts;
  strand_opts.executor = boost::asio::make_strand(pool_);
  auto thrower = [](Request&& r) {
    json d = r.d();
    int64_t n = d.at("n").get<int64_t>();  // throws on a string: the bug under test
    r.ok({{"n", n}});
  };
  ASSERT_TRUE(gateway_.router().add("svc.inline_bug", inline_opts, thrower).ok());
  ASSERT_TRUE(gateway_.router().add("svc.strand_bug", strand_opts, thrower).ok());
  connect();
  send(json{{"op", "svc.inline_bug"}, {"rid", 1}, {"d", {{"n", "1"}}}});
  EXPECT_EQ(last()["rid"], 1);
  EXPECT_EQ(last()["err"]["code"], "INTERNAL");
  EXPECT_EQ(last()["err"]["msg"], "internal error") << "no what() on the wire";
  send(json{{"op", "svc.strand_bug"}, {"rid", 2}, {"d", {{"n", "1"}}}});
  wait_for(3);
  EXPECT_EQ(last()["rid"], 2);
  EXPECT_EQ(last()["err"]["code"], "INTERNAL");
  send(json{{"op", "svc.inline_bug"}, {"rid", 3}, {"d", {{"n", 5}}}});
  EXPECT_EQ(last()["d"]["n"], 5);
  EXPECT_EQ(metrics_.counter("shardd_internal_errors_total", "", {{"op", "svc.inline_bug"}}).value(),
            1u);
  EXPECT_EQ(metrics_.counter("shardd_internal_errors_total", "", {{"op", "svc.strand_bug"}}).value(),
            1u);
  EXPECT_EQ(conn_->close_code, 0);
}

TEST_F(GatewayTest, ErrorsTotalHasNoOkSeriesAndCountsCloses) {
  connect();
  on_io([this] { handler_->on_idle(); });
  std::string text = metrics_.render();
  EXPECT_EQ(text.find(R"(shardd_errors_total{code="OK"})"), std::string::npos);
  EXPECT_NE(text.find(R"(shardd_errors_total{code="HEARTBEAT_TIMEOUT"} 1)"), std::string::npos)
      << text;
}

TEST_F(GatewayTest, SessionsAreListedAndAnOperatorCanKickOne) {
  connect();
  uint64_t sid = conn_->sent.at(0)["d"]["session"];
  on_io([this] { EXPECT_FALSE(session().login(9, "Tester").empty()); });
  SessionFilter by_name;
  by_name.username = "TESTER";
  auto list = gateway_.sessions(by_name, 10);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, sid);
  EXPECT_EQ(list[0].account_id, 9);
  EXPECT_EQ(list[0].transport, "ws");
  EXPECT_EQ(list[0].remote_ip, "127.0.0.1");
  EXPECT_FALSE(list[0].in_grace);
  SessionFilter other;
  other.account_id = 10;
  EXPECT_TRUE(gateway_.sessions(other, 10).empty());

  EXPECT_FALSE(gateway_.kick(sid + 1000, "nope"));
  EXPECT_TRUE(gateway_.kick(sid, "spamming"));
  wait_for(3);
  ASSERT_GE(conn_->sent.size(), 3u);
  EXPECT_EQ(conn_->sent[1]["op"], "sys.kicked");
  EXPECT_EQ(conn_->sent[1]["d"]["reason"], "kicked_by_operator");
  EXPECT_EQ(conn_->sent[1]["d"]["msg"], "spamming");
  EXPECT_EQ(conn_->sent[2]["d"]["code"], "KICKED");
  EXPECT_EQ(conn_->close_code, 4004);
}

TEST_F(GatewayTest, PushOptionsAreFixedByTheFirstRegistration) {
  PushOptions state;
  state.replayable = false;
  state.output = OutputClass::kState;
  const PushOp& pos = gateway_.push_op("test.positions", state);
  EXPECT_FALSE(pos.replayable);
  EXPECT_EQ(pos.output, OutputClass::kState);
  // Again with the same options: the same op. With other options: an error
  // is logged and the first registration stays.
  EXPECT_EQ(&gateway_.push_op("test.positions", state), &pos);
  EXPECT_EQ(&gateway_.push_op("test.positions"), &pos);
  EXPECT_EQ(pos.output, OutputClass::kState);
  EXPECT_FALSE(pos.replayable);
  const PushOp& chat = gateway_.push_op("test.chat");
  EXPECT_TRUE(chat.replayable);
  EXPECT_EQ(chat.output, OutputClass::kNormal);
  // A kState push may be dropped, so it is never replayable.
  PushOptions bad;
  bad.output = OutputClass::kState;
  const PushOp& listing = gateway_.push_op("test.listing", bad);
  EXPECT_FALSE(listing.replayable);
  EXPECT_EQ(listing.output, OutputClass::kState);
  EXPECT_FALSE(gateway_.push_op("sys.hello").replayable);
}

TEST_F(GatewayTest, NonReplayablePushesCarrySeq0AndAreNotReplayedAfterAResume) {
  const PushOp& chat = gateway_.push_op("test.chat");
  PushOptions state;
  state.replayable = false;
  state.output = OutputClass::kState;
  const PushOp& pos = gateway_.push_op("test.positions", state);
  connect();
  std::string token;
  on_io([&] { token = session().login(3, "x"); });
  ASSERT_FALSE(token.empty());
  on_io([&] {
    session().push(chat, {{"n", 1}});
    session().push(pos, {{"x", 1}});
    session().push(chat, {{"n", 2}});
    session().push(pos, {{"x", 2}});
  });
  ASSERT_EQ(conn_->sent.size(), 5u);
  EXPECT_EQ(conn_->sent[1]["seq"], 1);
  EXPECT_EQ(conn_->sent[2]["seq"], 0);
  EXPECT_EQ(conn_->sent[3]["seq"], 2);
  EXPECT_EQ(conn_->sent[4]["seq"], 0);
  EXPECT_EQ(conn_->classes[1], OutputClass::kNormal);
  EXPECT_EQ(conn_->classes[2], OutputClass::kState);
  EXPECT_EQ(conn_->classes[0], OutputClass::kNormal);  // sys.hello

  // The connection drops; while the session waits for a resume, replayable
  // pushes are kept and the others are not even numbered.
  std::shared_ptr<Session> s = gateway_.find_session(conn_->sent.at(0)["d"]["session"]);
  ASSERT_TRUE(s);
  on_io([this] { handler_->on_closed("network gone"); });
  on_io([&] {
    s->push(pos, {{"x", 3}});
    s->push(chat, {{"n", 3}});
  });

  // The client processed up to seq 1 and resumes on a new connection: seq 2
  // and 3 come back, no position update does.
  auto conn2 = std::make_shared<RecordingConnection>(io_.get_executor());
  std::shared_ptr<net::ConnectionHandler> handler2;
  on_io([&] { handler2 = gateway_.handler_factory()(conn2); });
  on_io([&] {
    handler2->on_message(
        json{{"op", "sys.resume"}, {"rid", 1}, {"d", {{"resume_token", token}, {"last_seq", 1}}}}
            .dump(),
        net::Encoding::kJson);
  });
  ASSERT_EQ(conn2->sent.size(), 4u);  // hello, the answer, two replayed pushes
  EXPECT_EQ(conn2->sent[1]["rid"], 1);
  EXPECT_EQ(conn2->sent[1]["d"]["resync"], false);
  EXPECT_EQ(conn2->sent[1]["d"]["replayed"], 2);
  EXPECT_EQ(conn2->sent[1]["d"]["last_seq"], 3);
  EXPECT_EQ(conn2->sent[2]["op"], "test.chat");
  EXPECT_EQ(conn2->sent[2]["seq"], 2);
  EXPECT_EQ(conn2->sent[3]["op"], "test.chat");
  EXPECT_EQ(conn2->sent[3]["seq"], 3);
  EXPECT_EQ(conn2->sent[3]["d"]["n"], 3);

  // After the resume, numbering goes on; state refreshes still carry 0.
  on_io([&] {
    s->push(pos, {{"x", 4}});
    s->push(chat, {{"n", 4}});
  });
  ASSERT_EQ(conn2->sent.size(), 6u);
  EXPECT_EQ(conn2->sent[4]["seq"], 0);
  EXPECT_EQ(conn2->classes[4], OutputClass::kState);
  EXPECT_EQ(conn2->sent[5]["seq"], 4);
  on_io([&] { handler2->on_closed("test end"); });
}

TEST_F(GatewayTest, PushNumbersContinueAcrossTheLogin) {
  const PushOp& op = gateway_.push_op("test.event");
  connect();
  on_io([&] { session().push(op, {{"a", 1}}); });  // seq 1, before the login
  on_io([this] { EXPECT_FALSE(session().login(3, "x").empty()); });
  on_io([&] { session().push(op, {{"a", 2}}); });  // seq 2
  EXPECT_EQ(last()["seq"], 2);
}

}  // namespace
}  // namespace shardd::gateway
