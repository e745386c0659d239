#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "shardd/core/error_code.h"
#include "shardd/core/status.h"

namespace shardd::net {

// How one message body is encoded on the wire. Same envelope either way.
enum class Encoding : uint8_t { kJson, kMsgpack };

std::string_view encoding_name(Encoding e);

// Largest request id accepted (2^53 - 1, exact in JavaScript numbers).
inline constexpr uint64_t kMaxRid = (uint64_t{1} << 53) - 1;
inline constexpr size_t kMaxOpLength = 64;
inline constexpr size_t kMaxNestingDepth = 32;

// A decoded client request: {"op":"chat.send","rid":7,"d":{...}}.
struct Request {
  std::string op;
  std::optional<uint64_t> rid;  // set when the envelope carried a valid rid
  nlohmann::json d;             // always an object ({} when absent or null)
};

// Decodes one request envelope without throwing. Rejects (BAD_REQUEST):
// invalid JSON/MessagePack, nesting deeper than kMaxNestingDepth, binary
// values, a non-object envelope, a missing/invalid `op` ([a-z0-9_.], 1..64
// chars), a missing/invalid `rid` (integer 0..2^53-1), a non-object `d`.
// On failure `out->rid` is still set when the rid could be read, so the error
// response can name it. The caller has already checked the size limit.
Status decode_request(std::string_view bytes, Encoding encoding, Request* out);

// True if `op` is a well-formed op name.
bool valid_op_name(std::string_view op);

// Which output budget of its connection a frame is queued under (like Redis'
// client-output-buffer-limit classes).
//  kNormal: responses, chat, control notices. Bounded by
//           limits.write_queue_bytes / write_queue_messages; over them the
//           connection is dropped as a slow consumer.
//  kState:  bulk state refreshes (world updates, listings) that a newer one
//           supersedes. Bounded by limits.state_queue_hard_bytes: a frame
//           over it is dropped and the connection stays; a backlog above
//           limits.state_queue_soft_bytes for limits.state_queue_soft_s
//           closes it as a slow consumer.
enum class OutputClass : uint8_t { kNormal, kState };

std::string_view output_class_name(OutputClass c);

// One encoded outbound message: prefix(), then `bytes`, then `shared`, then
// `tail`, written back to back. For a broadcast the body is encoded once and
// shared: the prefix then holds only this recipient's envelope head (kept
// inside the frame, so a push to N sessions allocates nothing per recipient)
// and `tail` closes the envelope. Immutable once queued.
//
// Copying a frame (the replay buffer keeps one per push) copies the inline
// prefix and takes a reference on `shared`; it never allocates unless
// `bytes` is set.
struct OutFrame {
  // Bytes of the inline prefix area, and how many of them are kept free in
  // front of a head for prepend() (the TCP frame header is 9 bytes).
  static constexpr size_t kInlineBytes = 64;
  static constexpr size_t kFrontRoom = 16;

  std::string bytes;
  std::shared_ptr<const std::string> shared;
  std::string_view tail;  // static storage only
  Encoding encoding = Encoding::kJson;
  OutputClass cls = OutputClass::kNormal;

  std::string_view prefix() const {
    return {reinterpret_cast<const char*>(inline_.data()) + pre_begin_,
            static_cast<size_t>(pre_end_ - pre_begin_)};
  }
  // Makes `head` the prefix. Returns false (and leaves the frame as it was)
  // when it is longer than kInlineBytes - kFrontRoom; the caller then puts
  // it at the front of `bytes`.
  bool set_head(std::string_view head);
  // Puts `p` in front of everything already in the frame: inline when there
  // is room before the prefix, otherwise the prefix moves into `bytes`.
  void prepend(std::string_view p);
  // Drops the prefix.
  void clear_prefix() { pre_begin_ = pre_end_ = kFrontRoom; }

  size_t size() const {
    return (pre_end_ - pre_begin_) + bytes.size() + (shared ? shared->size() : 0) + tail.size();
  }
  // Appends the whole message, in order, to `out`.
  void append_to(std::string* out) const;
  std::string flat() const {
    std::string s;
    append_to(&s);
    return s;
  }

 private:
  // unsigned char: copying the unused part of the area is well defined.
  std::array<unsigned char, kInlineBytes> inline_;
  uint8_t pre_begin_ = kFrontRoom;
  uint8_t pre_end_ = kFrontRoom;
};

// Appends the encoding of `value` (JSON text with invalid UTF-8 replaced, or
// MessagePack) to `out`. Never throws.
void encode_value(Encoding encoding, const nlohmann::json& value, std::string* out);

// {"rid":N,"ok":true,"d":<d>}
void encode_ok(Encoding encoding, uint64_t rid, const nlohmann::json& d, OutFrame* out);
// {"rid":N|null,"ok":false,"err":{"code":"...","msg":"...", ...extra}}
// `extra` (may be null) must be an object; its members are added to err.
void encode_error(Encoding encoding, std::optional<uint64_t> rid, ErrorCode code,
                  std::string_view msg, const nlohmann::json* extra, OutFrame* out);
// {"op":"...","seq":N,"d":<d>}. REQUIRES: valid_op_name(op).
void encode_push(Encoding encoding, std::string_view op, uint64_t seq, const nlohmann::json& d,
                 OutFrame* out);
// Same push around a body encoded once for many recipients (see encode_value).
// REQUIRES: `body` was encoded with the same `encoding`.
void encode_push_shared(Encoding encoding, std::string_view op, uint64_t seq,
                        std::shared_ptr<const std::string> body, OutFrame* out);

// Parses an encoded response/push (clients, tests, bench). Throws nothing;
// returns a discarded value on error.
nlohmann::json decode_any(std::string_view bytes, Encoding encoding);

}  // namespace shardd::net
