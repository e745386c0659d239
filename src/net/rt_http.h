#pragma once

// Pure helpers of the HTTP fallback transport (docs/protocol.md, "HTTP
// fallback"): request targets, send bodies and the formats of what goes down
// (server-sent events, long-poll answers, errors). No I/O; unit-tested, and
// split_send_body is fuzzed (tests/fuzz/fuzz_rt_body.cpp).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardd/core/error_code.h"
#include "shardd/core/status.h"

namespace shardd::net {

// Where /rt/ requests start; the rest of the path names the transport.
inline constexpr std::string_view kRtPrefix = "/rt/";

// One message of an HTTP transport's event log: its number (1, 2, 3 … per
// transport, responses and pushes alike) and its JSON text.
struct RtEvent {
  uint64_t no = 0;
  std::shared_ptr<const std::string> text;
};

enum class RtRoute : uint8_t { kNone, kOpen, kEvents, kSend, kClose };

struct RtTarget {
  RtRoute route = RtRoute::kNone;
  std::string_view id;     // the transport id (kEvents, kSend, kClose)
  std::string_view query;  // after '?', "" when none
};

// Reads "/rt/open", "/rt/{id}/events", "/rt/{id}/send" or "/rt/{id}/close",
// each with an optional query. kNone for anything else, including ids that are
// not 1-64 characters of base64url (A-Z a-z 0-9 - _).
RtTarget parse_rt_target(std::string_view target);

// The value of `key` in a query string ("" when absent or empty). Values are
// taken as they are (ids, secrets and numbers need no percent-decoding).
std::string_view query_param(std::string_view query, std::string_view key);

// A decimal integer 0 … 2^53−1 (an event number), nothing else.
bool parse_event_no(std::string_view s, uint64_t* out);

// Splits a send body into messages: one JSON value (a request), or a JSON
// array of them (a batch). The whole body must be valid JSON (checked by
// nlohmann's SAX reader, without building it); each message keeps its exact
// text, so the gateway sees what a WebSocket client would have sent. Errors:
// BAD_REQUEST (not JSON, empty batch), TOO_LARGE (more than `max_batch`
// messages, or one over `max_message` bytes).
Status split_send_body(std::string_view body, size_t max_batch, size_t max_message,
                       std::vector<std::string_view>* out);

// Appends one server-sent event: "id: <no>\ndata: <text>\n\n" (a text with
// line breaks becomes several data lines, as the format requires).
void append_sse_event(std::string& out, uint64_t no, std::string_view text);

// A long poll's answer: {"last_event":N,"events":[<text>,...]}; N is the
// number of the last event in it (or `last` when there is none).
std::string poll_body(uint64_t last, const std::vector<RtEvent>& events);

// The answer to POST /rt/open: the transport's id and secret, the sys.hello
// data (`hello_event`'s "d") and its event number.
std::string open_body(std::string_view id, std::string_view secret, const RtEvent& hello_event);

// {"err":{"code":"...","msg":"..."}}, the envelope's error shape.
std::string rt_error_body(ErrorCode code, std::string_view msg);

}  // namespace shardd::net
