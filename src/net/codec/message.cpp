#include "shardd/net/codec/message.h"

#include <charconv>
#include <cstring>

#include "shardd/core/utf8.h"

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
  if (enc == Encoding::kJson && bytes.find('\0') != std::string_view::npos) {
    *error = "malformed input (a NUL byte)";  // see decode_request
    return false;
  }
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

// MessagePack's smallest encoding of an unsigned integer (as nlohmann writes it).
void append_msgpack_uint(uint64_t v, std::string* out) {
  auto be = [out](uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  };
  if (v < 0x80) {
    out->push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    out->push_back(static_cast<char>(0xcc));
    be(v, 1);
  } else if (v <= 0xffff) {
    out->push_back(static_cast<char>(0xcd));
    be(v, 2);
  } else if (v <= 0xffffffff) {
    out->push_back(static_cast<char>(0xce));
    be(v, 4);
  } else {
    out->push_back(static_cast<char>(0xcf));
    be(v, 8);
  }
}

void append_uint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

constexpr std::string_view kJsonTail = "}";
// Longest envelope around "d" apart from the op name: {"rid":<2^64>,"ok":true,"d":...}.
constexpr size_t kMaxEnvelopeHead = 48;

}  // namespace

std::string_view encoding_name(Encoding e) {
  return e == Encoding::kJson ? "json" : "msgpack";
}

std::string_view output_class_name(OutputClass c) {
  return c == OutputClass::kState ? "state" : "normal";
}

bool valid_op_name(std::string_view op) {
  if (op.empty() || op.size() > kMaxOpLength) return false;
  for (char c : op) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

namespace {

// SAX handler for a request envelope. The envelope's own fields are read
// straight from the parser's events (no DOM, no allocation for them); only
// the value of "d" is built as a DOM, into the caller's Request, with a
// reused stack. Same limits as parse_bounded: nesting depth (counted from the
// envelope, so "d" is depth 2) and no binary values. Semantic problems (a bad
// op, rid or d) are recorded and reported after the whole input has parsed,
// so that malformed input is always reported as such and a valid rid is
// known for the error response. Duplicate keys: the last one wins, as in a
// DOM.
class EnvelopeSax {
 public:
  EnvelopeSax(Request* out, Encoding encoding) : out_(out), encoding_(encoding) { stack().clear(); }

  bool null() {
    if (dom_) return value(json());
    field_scalar(/*is_null=*/true);
    return true;
  }
  bool boolean(bool v) {
    if (dom_) return value(json(v));
    field_scalar(false);
    return true;
  }
  bool number_integer(json::number_integer_t v) {
    if (dom_) return value(json(v));
    if (at_field() && key_ == Key::kRid) {
      set_rid(v >= 0 ? static_cast<uint64_t>(v) : kMaxRid + 1);
    } else {
      field_scalar(false);
    }
    return true;
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (dom_) return value(json(v));
    if (at_field() && key_ == Key::kRid) {
      set_rid(v);
    } else {
      field_scalar(false);
    }
    return true;
  }
  bool number_float(json::number_float_t v, const json::string_t& text) {
    // JSON text only: an integer literal too big for 64 bits arrives here as
    // a double and would come back changed; refuse it rather than round it.
    if (encoding_ == Encoding::kJson && text.find_first_of(".eE") == std::string::npos) {
      big_integer_ = true;
    }
    if (dom_) return value(json(v));
    field_scalar(false);
    return true;
  }
  bool string(json::string_t& v) {
    // JSON text is checked by the parser; MessagePack strings are not.
    if (encoding_ == Encoding::kMsgpack && !utf8::valid(v)) bad_utf8_ = true;
    if (dom_) return value(json(std::move(v)));
    if (at_field() && key_ == Key::kOp) {
      out_->op.assign(v);
      op_ok_ = true;
    } else {
      field_scalar(false);
    }
    return true;
  }
  bool binary(json::binary_t&) {
    error_ = "binary values are not supported";
    return false;
  }
  bool start_object(std::size_t) {
    if (!enter()) return false;
    if (dom_) return push(json::object());
    if (depth_ == 1) {
      envelope_ = true;
    } else if (depth_ == 2 && envelope_ && key_ == Key::kD) {
      dom_ = true;  // capture "d" into out_->d
      dom_depth_ = depth_;
      out_->d = json::object();
      stack().push_back(&out_->d);
    } else if (depth_ == 2) {
      container_field();
    }
    return true;
  }
  bool start_array(std::size_t) {
    if (!enter()) return false;
    if (dom_) return push(json::array());
    if (depth_ == 1) {
      not_object_ = true;
    } else if (depth_ == 2) {
      container_field();
    }
    return true;
  }
  bool end_object() { return leave(); }
  bool end_array() { return leave(); }
  bool key(json::string_t& k) {
    if (encoding_ == Encoding::kMsgpack && !utf8::valid(k)) bad_utf8_ = true;
    if (dom_) {
      pending_ = &(*stack().back())[std::move(k)];
      return true;
    }
    if (depth_ == 1 && envelope_) {
      key_ = k == "op" ? Key::kOp : k == "rid" ? Key::kRid : k == "d" ? Key::kD : Key::kOther;
    }
    return true;
  }
  // The library's own message names its internals and quotes the input;
  // clients get ours, with the byte position only.
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) {
    if (error_.empty()) {
      error_ = (encoding_ == Encoding::kJson ? "not valid JSON (at byte "
                                             : "not valid MessagePack "
                                               "(at byte ") +
               std::to_string(position) + ")";
    }
    return false;
  }

  const std::string& error() const { return error_; }

  // After a successful parse: the envelope's verdict.
  Status finish() {
    if (not_object_ || !envelope_) return Status::BadRequest("envelope must be an object");
    if (big_integer_) return Status::BadRequest("integers must fit in 64 bits");
    if (bad_utf8_) return Status::BadRequest("a MessagePack string is not valid UTF-8");
    if (!op_ok_) return Status::BadRequest("missing string field 'op'");
    if (!valid_op_name(out_->op)) {
      return Status::BadRequest("'op' must be 1-64 characters of a-z 0-9 _ .");
    }
    if (!out_->rid) return Status::BadRequest("missing or invalid 'rid' (integer 0..2^53-1)");
    if (d_ == DState::kBad) return Status::BadRequest("'d' must be an object");
    if (d_ != DState::kObject) out_->d = json::object();
    return Status::Ok();
  }

 private:
  enum class Key : uint8_t { kNone, kOp, kRid, kD, kOther };
  enum class DState : uint8_t { kAbsent, kObject, kBad };

  static std::vector<json*>& stack() {
    thread_local std::vector<json*> s;  // grows to the nesting limit once per thread
    return s;
  }

  bool at_field() const { return depth_ == 1 && envelope_; }

  // A scalar outside "d": the envelope's field (or the whole document).
  void field_scalar(bool is_null) {
    if (depth_ == 0) {
      not_object_ = true;
      return;
    }
    if (!at_field()) return;  // inside an ignored member's value
    wrong_value(is_null ? DState::kAbsent : DState::kBad);
  }
  // An object or array as the value of an envelope field other than "d"'s object.
  void container_field() {
    if (envelope_) wrong_value(DState::kBad);
  }
  // The current envelope field has a value of the wrong type: op is bad, rid
  // is dropped, and "d" becomes `d_state`.
  void wrong_value(DState d_state) {
    switch (key_) {
      case Key::kOp:
        op_ok_ = false;
        break;
      case Key::kRid:
        out_->rid.reset();
        break;
      case Key::kD:
        d_ = d_state;
        break;
      default:
        break;
    }
  }
  void set_rid(uint64_t v) {
    if (v <= kMaxRid) {
      out_->rid = v;
    } else {
      out_->rid.reset();
    }
  }

  bool enter() {
    if (++depth_ > kMaxNestingDepth) {
      error_ = "nesting deeper than " + std::to_string(kMaxNestingDepth);
      return false;
    }
    return true;
  }
  bool leave() {
    --depth_;
    if (dom_) {
      stack().pop_back();
      if (depth_ < dom_depth_) {
        dom_ = false;
        d_ = DState::kObject;
      }
    }
    return true;
  }
  // Adds a scalar to the container being built.
  bool value(json&& v) {
    json* parent = stack().back();
    if (parent->is_array()) {
      parent->emplace_back(std::move(v));
    } else {
      *pending_ = std::move(v);
    }
    return true;
  }
  // Adds a container and makes it the one being built.
  bool push(json&& v) {
    json* parent = stack().back();
    json* child;
    if (parent->is_array()) {
      parent->emplace_back(std::move(v));
      child = &parent->back();
    } else {
      *pending_ = std::move(v);
      child = pending_;
    }
    stack().push_back(child);
    return true;
  }

  Request* out_;
  const Encoding encoding_;
  bool big_integer_ = false;
  // A MessagePack string (value or key) that is not UTF-8. Not a parse error:
  // the message is read to the end so that the answer can name its rid.
  bool bad_utf8_ = false;
  size_t depth_ = 0;
  bool envelope_ = false;    // the document is an object
  bool not_object_ = false;  // ... or it is not
  bool op_ok_ = false;
  Key key_ = Key::kNone;
  DState d_ = DState::kAbsent;
  bool dom_ = false;  // building "d"
  size_t dom_depth_ = 0;
  json* pending_ = nullptr;  // the member a key() just named
  std::string error_;
};

}  // namespace

Status decode_request(std::string_view bytes, Encoding encoding, Request* out) {
  out->rid.reset();
  out->op.clear();
  // nlohmann's reader stops at a NUL byte as if the text ended there, so
  // `{...}\0anything` would pass. JSON text never contains one.
  if (encoding == Encoding::kJson && bytes.find('\0') != std::string_view::npos) {
    return Status::BadRequest("malformed input (a NUL byte)");
  }
  EnvelopeSax sax(out, encoding);
  bool ok;
  if (encoding == Encoding::kJson) {
    ok = json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::json, true);
  } else {
    auto b = reinterpret_cast<const uint8_t*>(bytes.data());
    ok = json::sax_parse(b, b + bytes.size(), &sax, json::input_format_t::msgpack, true);
  }
  if (!ok) {
    out->rid.reset();  // nothing of a malformed message is trusted
    out->d = json();
    return Status::BadRequest(sax.error().empty() ? "malformed input" : sax.error());
  }
  return sax.finish();
}

namespace {
// nlohmann writes through a heap-allocated output adapter, and a string it
// appends to grows step by step. Each thread therefore encodes into one
// scratch string behind one adapter, both reused, and the caller's string
// grows once, to the exact size.
struct EncodeScratch {
  std::string buf;
  nlohmann::detail::output_adapter_t<char> adapter =
      std::make_shared<nlohmann::detail::output_string_adapter<char, std::string>>(buf);
};

// The encoding of `value` in this thread's scratch buffer, valid until the
// next call on this thread.
const std::string& encode_scratch(Encoding encoding, const json& value) {
  thread_local EncodeScratch scratch;
  std::string& buf = scratch.buf;
  if (buf.capacity() > 64 * 1024) std::string().swap(buf);  // do not pin a burst's memory
  buf.clear();
  if (encoding == Encoding::kJson) {
    nlohmann::detail::serializer<json> s(scratch.adapter, ' ', json::error_handler_t::replace);
    s.dump(value, false, false, 0);
  } else {
    nlohmann::detail::binary_writer<json, char>(scratch.adapter).write_msgpack(value);
  }
  return buf;
}

}  // namespace

void encode_value(Encoding encoding, const json& value, std::string* out) {
  out->append(encode_scratch(encoding, value));
}

void encode_ok(Encoding encoding, uint64_t rid, const json& d, OutFrame* out) {
  out->encoding = encoding;
  out->shared.reset();
  out->tail = {};
  out->clear_prefix();
  const std::string& body = encode_scratch(encoding, d);
  std::string& b = out->bytes;
  b.clear();
  b.reserve(body.size() + kMaxEnvelopeHead);  // one allocation
  if (encoding == Encoding::kJson) {
    b.append(R"({"rid":)");
    append_uint(rid, &b);
    b.append(R"(,"ok":true,"d":)");
    b.append(body);
    b.push_back('}');
  } else {
    b.push_back(static_cast<char>(0x83));
    append_msgpack_str("rid", &b);
    append_msgpack_uint(rid, &b);
    append_msgpack_str("ok", &b);
    b.push_back(static_cast<char>(0xc3));
    append_msgpack_str("d", &b);
    b.append(body);
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
  out->clear_prefix();
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

bool OutFrame::set_head(std::string_view head) {
  if (head.size() > kInlineBytes - kFrontRoom) return false;
  std::memcpy(inline_.data() + kFrontRoom, head.data(), head.size());
  pre_begin_ = kFrontRoom;
  pre_end_ = static_cast<uint8_t>(kFrontRoom + head.size());
  return true;
}

void OutFrame::prepend(std::string_view p) {
  if (p.size() <= pre_begin_) {
    pre_begin_ = static_cast<uint8_t>(pre_begin_ - p.size());
    std::memcpy(inline_.data() + pre_begin_, p.data(), p.size());
    return;
  }
  std::string front;
  front.reserve(p.size() + (pre_end_ - pre_begin_) + bytes.size());
  front.append(p);
  front.append(prefix());
  front.append(bytes);
  bytes = std::move(front);
  clear_prefix();
}

void OutFrame::append_to(std::string* out) const {
  out->reserve(out->size() + size());
  out->append(prefix());
  out->append(bytes);
  if (shared) out->append(*shared);
  out->append(tail);
}

void encode_push(Encoding encoding, std::string_view op, uint64_t seq, const json& d,
                 OutFrame* out) {
  out->encoding = encoding;
  out->shared.reset();
  out->tail = {};
  out->clear_prefix();
  const std::string& body = encode_scratch(encoding, d);
  out->bytes.reserve(body.size() + kMaxEnvelopeHead + kMaxOpLength);
  push_head(encoding, op, seq, &out->bytes);
  out->bytes.append(body);
  if (encoding == Encoding::kJson) out->bytes.append(kJsonTail);
}

void encode_push_shared(Encoding encoding, std::string_view op, uint64_t seq,
                        std::shared_ptr<const std::string> body, OutFrame* out) {
  // The head is built in a per-thread scratch string and copied into the
  // frame: after the first push on a thread this allocates nothing.
  thread_local std::string head;
  push_head(encoding, op, seq, &head);
  out->encoding = encoding;
  out->bytes.clear();
  if (!out->set_head(head)) {
    out->clear_prefix();
    out->bytes = head;
  }
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
