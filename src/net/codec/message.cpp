#include "shardd/net/codec/message.h"

#include <charconv>

namespace shardd::net {
namespace {

using json = nlohmann::json;

// SAX handler that builds the DOM like json::parse but stops at a nesting
// limit (MessagePack parsing in nlohmann recurses per level, so this also keeps
// hostile input from exhausting the stack) and refuses binary values.
class BoundedDomSax {
 public:
  explicit BoundedDomSax(json& result) : dom_(result, /*allow_exceptions=*/false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t&) {
    error_ = "binary values are not supported";
    return false;
  }
  bool start_object(std::size_t n) {
    if (++depth_ > kMaxNestingDepth) return too_deep();
    return dom_.start_object(n);
  }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (++depth_ > kMaxNestingDepth) return too_deep();
    return dom_.start_array(n);
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    if (error_.empty()) error_ = ex.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool too_deep() {
    error_ = "nesting deeper than " + std::to_string(kMaxNestingDepth);
    return false;
  }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  size_t depth_ = 0;
  std::string error_;
};

bool parse_bounded(std::string_view bytes, Encoding enc, json* out, std::string* error) {
  BoundedDomSax sax(*out);
  bool ok;
  if (enc == Encoding::kJson) {
    ok = json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::json, true);
  } else {
    auto b = reinterpret_cast<const uint8_t*>(bytes.data());
    ok = json::sax_parse(b, b + bytes.size(), &sax, json::input_format_t::msgpack, true);
  }
  if (!ok) {
    *error = sax.error().empty() ? "malformed input" : sax.error();
    return false;
  }
  return true;
}

void append_msgpack_str(std::string_view s, std::string* out) {
  // REQUIRES: s.size() <= 255 (op names and fixed keys).
  if (s.size() < 32) {
    out->push_back(static_cast<char>(0xa0 | s.size()));
  } else {
    out->push_back(static_cast<char>(0xd9));
    out->push_back(static_cast<char>(s.size()));
  }
  out->append(s);
}

void append_msgpack_uint(uint64_t v, std::string* out) {
  json::to_msgpack(json(v), nlohmann::detail::output_adapter<char>(*out));
}

void append_uint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

constexpr std::string_view kJsonTail = "}";

}  // namespace

std::string_view encoding_name(Encoding e) { return e == Encoding::kJson ? "json" : "msgpack"; }

bool valid_op_name(std::string_view op) {
  if (op.empty() || op.size() > kMaxOpLength) return false;
  for (char c : op) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status decode_request(std::string_view bytes, Encoding encoding, Request* out) {
  out->rid.reset();
  out->op.clear();
  json doc;
  std::string error;
  if (!parse_bounded(bytes, encoding, &doc, &error)) {
    return Status::BadRequest("invalid " + std::string(encoding_name(encoding)) + ": " + error);
  }
  if (!doc.is_object()) return Status::BadRequest("envelope must be an object");
  auto rid = doc.find("rid");
  if (rid != doc.end() && rid->is_number_unsigned() && rid->get<uint64_t>() <= kMaxRid) {
    out->rid = rid->get<uint64_t>();
  } else if (rid != doc.end() && rid->is_number_integer() && rid->get<int64_t>() >= 0 &&
             static_cast<uint64_t>(rid->get<int64_t>()) <= kMaxRid) {
    out->rid = static_cast<uint64_t>(rid->get<int64_t>());
  }
  auto op = doc.find("op");
  if (op == doc.end() || !op->is_string()) return Status::BadRequest("missing string field 'op'");
  const auto& op_str = op->get_ref<const std::string&>();
  if (!valid_op_name(op_str)) {
    return Status::BadRequest("'op' must be 1-64 characters of a-z 0-9 _ .");
  }
  if (!out->rid) return Status::BadRequest("missing or invalid 'rid' (integer 0..2^53-1)");
  auto d = doc.find("d");
  if (d == doc.end() || d->is_null()) {
    out->d = json::object();
  } else if (d->is_object()) {
    out->d = std::move(*d);
  } else {
    return Status::BadRequest("'d' must be an object");
  }
  out->op = op_str;
  return Status::Ok();
}

void encode_value(Encoding encoding, const json& value, std::string* out) {
  if (encoding == Encoding::kJson) {
    nlohmann::detail::serializer<json> s(nlohmann::detail::output_adapter<char>(*out), ' ',
                                         json::error_handler_t::replace);
    s.dump(value, false, false, 0);
  } else {
    json::to_msgpack(value, nlohmann::detail::output_adapter<char>(*out));
  }
}

void encode_ok(Encoding encoding, uint64_t rid, const json& d, OutFrame* out) {
  out->encoding = encoding;
  out->shared.reset();
  out->tail = {};
  std::string& b = out->bytes;
  b.clear();
  if (encoding == Encoding::kJson) {
    b.append(R"({"rid":)");
    append_uint(rid, &b);
    b.append(R"(,"ok":true,"d":)");
    encode_value(encoding, d, &b);
    b.push_back('}');
  } else {
    b.push_back(static_cast<char>(0x83));
    append_msgpack_str("rid", &b);
    append_msgpack_uint(rid, &b);
    append_msgpack_str("ok", &b);
    b.push_back(static_cast<char>(0xc3));
    append_msgpack_str("d", &b);
    encode_value(encoding, d, &b);
  }
}

void encode_error(Encoding encoding, std::optional<uint64_t> rid, ErrorCode code,
                  std::string_view msg, const json* extra, OutFrame* out) {
  json err = json::object();
  if (extra && extra->is_object()) err = *extra;
  err["code"] = error_code_name(code);
  err["msg"] = msg;
  json env = json::object();
  env["rid"] = rid ? json(*rid) : json(nullptr);
  env["ok"] = false;
  env["err"] = std::move(err);
  out->encoding = encoding;
  out->shared.reset();
  out->tail = {};
  out->bytes.clear();
  encode_value(encoding, env, &out->bytes);
}

namespace {
void push_head(Encoding encoding, std::string_view op, uint64_t seq, std::string* b) {
  b->clear();
  if (encoding == Encoding::kJson) {
    b->append(R"({"op":")");
    b->append(op);  // valid_op_name: nothing to escape
    b->append(R"(","seq":)");
    append_uint(seq, b);
    b->append(R"(,"d":)");
  } else {
    b->push_back(static_cast<char>(0x83));
    append_msgpack_str("op", b);
    append_msgpack_str(op, b);
    append_msgpack_str("seq", b);
    append_msgpack_uint(seq, b);
    append_msgpack_str("d", b);
  }
}
}  // namespace

void encode_push(Encoding encoding, std::string_view op, uint64_t seq, const json& d,
                 OutFrame* out) {
  out->encoding = encoding;
  out->shared.reset();
  out->tail = {};
  push_head(encoding, op, seq, &out->bytes);
  encode_value(encoding, d, &out->bytes);
  if (encoding == Encoding::kJson) out->bytes.append(kJsonTail);
}

void encode_push_shared(Encoding encoding, std::string_view op, uint64_t seq,
                        std::shared_ptr<const std::string> body, OutFrame* out) {
  out->encoding = encoding;
  push_head(encoding, op, seq, &out->bytes);
  out->shared = std::move(body);
  out->tail = encoding == Encoding::kJson ? kJsonTail : std::string_view();
}

json decode_any(std::string_view bytes, Encoding encoding) {
  json doc;
  std::string error;
  if (!parse_bounded(bytes, encoding, &doc, &error)) return json(json::value_t::discarded);
  return doc;
}

}  // namespace shardd::net
