#include "rt_http.h"

#include <nlohmann/json.hpp>

namespace shardd::net {

namespace {

bool id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

RtTarget parse_rt_target(std::string_view target) {
  RtTarget out;
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) out.query = target.substr(q + 1);
  if (path.substr(0, kRtPrefix.size()) != kRtPrefix) return {};
  path.remove_prefix(kRtPrefix.size());
  if (path == "open") {
    out.route = RtRoute::kOpen;
    return out;
  }
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 64) return {};
  std::string_view id = path.substr(0, slash);
  for (char c : id) {
    if (!id_char(c)) return {};
  }
  std::string_view what = path.substr(slash + 1);
  if (what == "events") {
    out.route = RtRoute::kEvents;
  } else if (what == "send") {
    out.route = RtRoute::kSend;
  } else if (what == "close") {
    out.route = RtRoute::kClose;
  } else {
    return {};
  }
  out.id = id;
  return out;
}

std::string_view query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k == key) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
  }
  return {};
}

bool parse_event_no(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > (uint64_t{1} << 53) - 1) return false;
  *out = v;
  return true;
}

Status split_send_body(std::string_view body, size_t max_batch, size_t max_message,
                       std::vector<std::string_view>* out) {
  out->clear();
  body = trim(body);
  if (body.empty()) return Status::BadRequest("empty body: send one request or an array of them");
  // Validity first, by nlohmann's SAX acceptor (iterative: deep nesting costs
  // memory bounded by the body, not stack). The scan below then only has to
  // find the top-level commas of valid JSON.
  // nlohmann's reader takes a NUL byte for the end of the text (and JSON
  // never contains one): refused, or "[1]\0[2]" would split into two.
  if (body.find('\0') != std::string_view::npos ||
      !nlohmann::json::accept(body.begin(), body.end())) {
    return Status::BadRequest("the body is not valid JSON");
  }
  auto add = [&](std::string_view m) -> Status {
    if (out->size() >= max_batch) {
      return {ErrorCode::kTooLarge,
              "more than " + std::to_string(max_batch) + " requests in one send (http.max_batch)"};
    }
    if (m.size() > max_message) {
      return {ErrorCode::kTooLarge, "a request is over " + std::to_string(max_message) +
                                        " bytes (limits.max_frame_bytes)"};
    }
    out->push_back(m);
    return Status::Ok();
  };
  if (body.front() != '[') return add(body);
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 1;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) {  // the end of the outer array (the last character)
        std::string_view last = trim(body.substr(start, i - start));
        if (!last.empty()) {
          Status st = add(last);
          if (!st.ok()) return st;
        }
        break;
      }
    } else if (c == ',' && depth == 1) {
      Status st = add(trim(body.substr(start, i - start)));
      if (!st.ok()) return st;
      start = i + 1;
    }
  }
  if (out->empty()) return Status::BadRequest("empty batch");
  return Status::Ok();
}

void append_sse_event(std::string& out, uint64_t no, std::string_view text) {
  out += "id: ";
  out += std::to_string(no);
  out += '\n';
  // Compact JSON has no raw line breaks; any other text is split into data
  // lines at CR, LF and CRLF, which the reader joins back with LF.
  while (true) {
    const size_t brk = text.find_first_of("\r\n");
    out += "data: ";
    out += text.substr(0, brk);
    out += '\n';
    if (brk == std::string_view::npos) break;
    const size_t skip = (text[brk] == '\r' && brk + 1 < text.size() && text[brk + 1] == '\n') ? 2 : 1;
    text.remove_prefix(brk + skip);
  }
  out += '\n';
}

std::string poll_body(uint64_t last, const std::vector<RtEvent>& events) {
  size_t n = 32;
  for (const auto& e : events) n += e.text->size() + 1;
  std::string out;
  out.reserve(n);
  out += "{\"last_event\":";
  out += std::to_string(events.empty() ? last : events.back().no);
  out += ",\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) {
    if (i) out += ',';
    out += *events[i].text;
  }
  out += "]}";
  return out;
}

std::string open_body(std::string_view id, std::string_view secret, const RtEvent& hello_event) {
  // The hello is the server's own JSON: parsing it cannot fail short of a bug.
  auto hello = nlohmann::json::parse(*hello_event.text, nullptr, false);
  nlohmann::json d = hello.is_object() && hello.contains("d") ? hello["d"] : nlohmann::json::object();
  nlohmann::json body = {{"transport", id},
                         {"secret", secret},
                         {"last_event", hello_event.no},
                         {"hello", std::move(d)}};
  return body.dump();
}

std::string rt_error_body(ErrorCode code, std::string_view msg) {
  nlohmann::json body = {{"err", {{"code", std::string(error_code_name(code))}, {"msg", msg}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shardd::net
