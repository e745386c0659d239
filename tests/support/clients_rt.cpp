// Blocking client of the HTTP fallback transport (/rt/) for the integration
// tests: plain HTTP requests for open/send/poll/close, and a Beast parser
// reading the chunked server-sent event stream incrementally.

#include <boost/beast/http.hpp>
#include <deque>

#include "client_util.h"

namespace shardd::test {

using namespace client_util;  // NOLINT(google-build-using-namespace): internal helpers
namespace http = beast::http;

struct RtClient::Impl {
  uint16_t port = 0;
  Mode mode = Mode::kPoll;
  HttpResponse open_res;
  std::string id;
  std::string secret;
  json hello;
  uint64_t last_event = 0;
  std::deque<json> inbox;

  // The event stream.
  asio::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buf;
  std::optional<http::response_parser<http::empty_body>> parser;
  std::string sse;  // received, not yet parsed
  std::string end_code;
  bool reading = false;
  bool stream_done = false;
  // The parser keeps a reference to its chunk callback: it lives here.
  std::function<size_t(std::uint64_t, std::string_view, beast::error_code&)> on_chunk =
      [this](std::uint64_t, std::string_view body, beast::error_code&) {
        sse.append(body);
        return body.size();
      };

  std::string auth() const { return "Bearer " + secret; }

  // Queues the events numbered `first`, first+1, … that are new.
  void take_events(uint64_t first, const json& events) {
    for (const auto& e : events) {
      if (first > last_event) {
        inbox.push_back(e);
        last_event = first;
      }
      ++first;
    }
  }

  // Parses the complete events in `sse`.
  void parse_sse() {
    size_t end;
    while ((end = sse.find("\n\n")) != std::string::npos) {
      std::string block = sse.substr(0, end);
      sse.erase(0, end + 2);
      std::string event, data;
      uint64_t no = 0;
      size_t pos = 0;
      while (pos <= block.size()) {
        size_t nl = block.find('\n', pos);
        std::string line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? block.size() + 1 : nl + 1;
        if (line.rfind("id: ", 0) == 0) no = std::stoull(line.substr(4));
        if (line.rfind("event: ", 0) == 0) event = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += (data.empty() ? "" : "\n") + line.substr(6);
      }
      if (event == "end") {
        end_code = json::parse(data, nullptr, false).value("code", "?");
        continue;
      }
      if (no > last_event) {
        inbox.push_back(json::parse(data, nullptr, false));
        last_event = no;
      }
    }
  }

  void start_read() {
    if (reading || stream_done || !stream) return;
    reading = true;
    http::async_read_some(*stream, buf, *parser, [this](beast::error_code ec, size_t) {
      reading = false;
      if (ec || parser->is_done()) stream_done = true;
      parse_sse();
    });
  }

  // Waits for more messages (one poll, or stream data) for up to `timeout`.
  void fetch(Ms timeout, RtClient& self) {
    if (mode == Mode::kPoll) {
      self.poll_once(last_event, timeout);
      return;
    }
    const size_t before = inbox.size();
    start_read();
    run_until(io, timeout, [&] {
      if (!reading) start_read();
      return inbox.size() > before || stream_done;
    });
  }
};

RtClient::RtClient() : impl_(std::make_unique<Impl>()) {}
// A polite client: the server does not wait for it at shutdown.
RtClient::~RtClient() {
  drop_stream();
  if (!impl_->id.empty()) http_request("POST", impl_->port, "/rt/" + impl_->id + "/close", "",
                                       {{"Authorization", impl_->auth()}}, Ms(1000));
}

bool RtClient::open(uint16_t port, Mode mode, Ms timeout) {
  impl_->port = port;
  impl_->mode = mode;
  impl_->open_res = http_request("POST", port, "/rt/open", "", {}, timeout);
  if (impl_->open_res.status != 200) return false;
  json j = json::parse(impl_->open_res.body, nullptr, false);
  if (!j.is_object()) return false;
  impl_->id = j.value("transport", "");
  impl_->secret = j.value("secret", "");
  impl_->hello = j.value("hello", json::object());
  impl_->last_event = j.value("last_event", uint64_t{0});
  if (mode == Mode::kStream) return open_stream(impl_->last_event, timeout) == 200;
  return !impl_->id.empty();
}

const HttpResponse& RtClient::open_response() const { return impl_->open_res; }
const std::string& RtClient::id() const { return impl_->id; }
const std::string& RtClient::secret() const { return impl_->secret; }
const json& RtClient::hello() const { return impl_->hello; }
uint64_t RtClient::last_event() const { return impl_->last_event; }
const std::string& RtClient::stream_end() const { return impl_->end_code; }

HttpResponse RtClient::send_body(const std::string& body, bool ack, Ms timeout) {
  std::string target = "/rt/" + impl_->id + "/send";
  if (ack) target += "?ack=" + std::to_string(impl_->last_event);
  return http_request("POST", impl_->port, target, body, {{"Authorization", impl_->auth()}},
                      timeout);
}

HttpResponse RtClient::poll_once(uint64_t last, Ms timeout) {
  auto r = http_get(impl_->port,
                    "/rt/" + impl_->id + "/events?poll=1&last=" + std::to_string(last),
                    {{"Authorization", impl_->auth()}}, timeout);
  if (r.status == 200) {
    json j = json::parse(r.body, nullptr, false);
    if (j.is_object() && j["events"].is_array()) {
      const uint64_t through = j.value("last_event", uint64_t{0});
      impl_->take_events(through + 1 - j["events"].size(), j["events"]);
    }
  }
  return r;
}

int RtClient::open_stream(std::optional<uint64_t> last_event_id, Ms timeout) {
  drop_stream();
  auto& im = *impl_;
  im.stream = std::make_unique<beast::tcp_stream>(im.io);
  im.buf.clear();
  im.sse.clear();
  im.end_code.clear();
  im.stream_done = false;
  if (open_and_connect(im.io, im.stream->socket(), im.port, "", 0, timeout)) return 0;
  // The secret goes in the query here, as a browser's EventSource sends it.
  http::request<http::empty_body> req{http::verb::get, "/rt/" + im.id + "/events?s=" + im.secret,
                                      11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(im.port));
  if (last_event_id) req.set("Last-Event-ID", std::to_string(*last_event_id));
  im.parser.emplace();
  im.parser->body_limit(boost::none);
  im.parser->on_chunk_body(im.on_chunk);
  std::optional<beast::error_code> result;
  http::async_write(*im.stream, req, [&](beast::error_code ec, size_t) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_read_header(*im.stream, im.buf, *im.parser,
                            [&](beast::error_code e2, size_t) { result = e2; });
  });
  if (!run_until(im.io, timeout, [&] { return result.has_value(); }) || *result) return 0;
  return im.parser->get().result_int();
}

void RtClient::drop_stream() {
  auto& im = *impl_;
  if (!im.stream) return;
  beast::error_code ec;
  im.stream->socket().close(ec);
  run_until(im.io, Ms(500), [&] { return !im.reading; });
  im.stream.reset();
  im.parser.reset();
  im.reading = false;
  im.stream_done = true;
}

HttpResponse RtClient::close_transport() {
  return http_request("POST", impl_->port, "/rt/" + impl_->id + "/close", "",
                      {{"Authorization", impl_->auth()}});
}

std::optional<json> RtClient::recv(Ms timeout) {
  auto end = Clock::now() + timeout;
  while (impl_->inbox.empty()) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left <= Ms(0)) return std::nullopt;
    impl_->fetch(left, *this);
    if (impl_->mode == Mode::kStream && impl_->stream_done && impl_->inbox.empty()) {
      return std::nullopt;
    }
  }
  json j = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return j;
}

std::optional<json> RtClient::recv_response(uint64_t rid, Ms timeout) {
  auto end = Clock::now() + timeout;
  while (true) {
    for (auto it = impl_->inbox.begin(); it != impl_->inbox.end(); ++it) {
      if (it->is_object() && it->contains("rid") && (*it)["rid"] == rid && !it->contains("op")) {
        json j = std::move(*it);
        impl_->inbox.erase(it);
        return j;
      }
    }
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left <= Ms(0)) return std::nullopt;
    const size_t before = impl_->inbox.size();
    impl_->fetch(left, *this);
    if (impl_->inbox.size() == before && impl_->mode == Mode::kStream && impl_->stream_done) {
      return std::nullopt;
    }
  }
}

std::optional<json> RtClient::recv_push(const std::string& op, Ms timeout) {
  auto end = Clock::now() + timeout;
  while (true) {
    for (auto it = impl_->inbox.begin(); it != impl_->inbox.end(); ++it) {
      if (it->is_object() && it->value("op", "") == op) {
        json j = std::move(*it);
        impl_->inbox.erase(it);
        return j;
      }
    }
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left <= Ms(0)) return std::nullopt;
    const size_t before = impl_->inbox.size();
    impl_->fetch(left, *this);
    if (impl_->inbox.size() == before && impl_->mode == Mode::kStream && impl_->stream_done) {
      return std::nullopt;
    }
  }
}

std::optional<json> RtClient::request(const std::string& op, const json& d, Ms timeout) {
  const uint64_t rid = next_rid();
  auto r = send_body(json{{"op", op}, {"rid", rid}, {"d", d}}.dump(), false, timeout);
  if (r.status != 202) return std::nullopt;
  return recv_response(rid, timeout);
}

}  // namespace shardd::test
