// libFuzzer: the HTTP fallback transport's untrusted inputs that are parsed
// before they reach the gateway (src/net/rt_http.cpp): a send body split into
// messages, a request target, and the event-stream formatting of any text.
// Input: byte 0 = max_batch (1-16), the rest = body (and target, and text).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "net/rt_http.h"

using namespace shardd;
using namespace shardd::net;

namespace {

// The data lines of one formatted event, joined back with LF.
std::string sse_data(const std::string& event) {
  std::string out;
  size_t pos = 0;
  bool first = true;
  while (pos < event.size()) {
    size_t nl = event.find('\n', pos);
    std::string_view line(event.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.substr(0, 6) == "data: ") {
      if (!first) out += '\n';
      out += line.substr(6);
      first = false;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t max_batch = 1 + data[0] % 16;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<std::string_view> parts;
  Status st = split_send_body(body, max_batch, 1024, &parts);
  if (st.ok()) {
    SHARDD_FUZZ_CHECK(!parts.empty() && parts.size() <= max_batch);
    std::string joined = "[";
    const char* prev_end = body.data();
    for (std::string_view p : parts) {
      SHARDD_FUZZ_CHECK(p.size() <= 1024);
      SHARDD_FUZZ_CHECK(nlohmann::json::accept(p.begin(), p.end()));
      // Each message is a piece of the body, in order, without overlap.
      SHARDD_FUZZ_CHECK(p.data() >= prev_end && p.data() + p.size() <= body.data() + body.size());
      prev_end = p.data() + p.size();
      if (joined.size() > 1) joined += ',';
      joined += p;
    }
    joined += ']';
    // The split loses nothing: a batch is exactly its messages.
    auto whole = nlohmann::json::parse(body, nullptr, false);
    auto again = nlohmann::json::parse(joined, nullptr, false);
    SHARDD_FUZZ_CHECK(!whole.is_discarded() && !again.is_discarded());
    if (whole.is_array()) {
      SHARDD_FUZZ_CHECK(whole == again);
    } else {
      SHARDD_FUZZ_CHECK(parts.size() == 1 && again.size() == 1 && again[0] == whole);
    }
  } else {
    SHARDD_FUZZ_CHECK(st.code() == ErrorCode::kBadRequest || st.code() == ErrorCode::kTooLarge);
    SHARDD_FUZZ_CHECK(!st.message().empty());
  }

  RtTarget t = parse_rt_target(body);
  if (t.route != RtRoute::kNone && t.route != RtRoute::kOpen) {
    SHARDD_FUZZ_CHECK(!t.id.empty() && t.id.size() <= 64);
    SHARDD_FUZZ_CHECK(t.id.find_first_of("/?.%") == std::string_view::npos);
  }
  uint64_t no = 0;
  if (parse_event_no(query_param(t.query, "last"), &no)) {
    SHARDD_FUZZ_CHECK(no < (uint64_t{1} << 53));
  }

  // An event carries any text intact (line breaks normalised to LF).
  std::string event;
  append_sse_event(event, 7, body);
  SHARDD_FUZZ_CHECK(event.size() >= 2 && event.compare(event.size() - 2, 2, "\n\n") == 0);
  std::string expect;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r') {
      expect += '\n';
      if (i + 1 < body.size() && body[i + 1] == '\n') ++i;
    } else {
      expect += body[i];
    }
  }
  SHARDD_FUZZ_CHECK(sse_data(event) == expect);
  return 0;
}
