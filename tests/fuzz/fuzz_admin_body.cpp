// libFuzzer: an admin route's arguments from an untrusted request body and
// query string (src/admin/request_args.cpp), against schemas that use every
// field type the admin routes declare. Input: query, '\n', body.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin/request_args.h"
#include "fuzz_common.h"

namespace {

using namespace shardd;

const args::Schema& schema(size_t i) {
  static const args::Schema schemas[] = {
      {args::str("username", 1, 32), args::optional(args::integer("limit", 1, 500)),
       args::optional(args::integer("offset", 0, 1000000))},
      {args::integer("session", 0, (int64_t{1} << 53) - 1),
       args::optional(args::str("reason", 0, 200)), args::optional(args::boolean("notify"))},
      {args::str("text", 1, 500),
       args::optional(args::one_of("level", {"info", "warn", "critical"})),
       args::optional(args::number("ttl_s"))},
      {args::optional(args::array("accounts", 100)), args::optional(args::object("meta", 20)),
       args::optional(args::any("extra"))},
  };
  return schemas[i % 4];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto nl = in.find('\n');
  std::string_view query = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? "" : in.substr(nl + 1);
  const args::Schema& s = schema(data[0]);
  nlohmann::json out;
  Status st = admin::request_args(body, query, s, &out);
  if (st.ok()) {
    // What a handler reads is there, with the declared type.
    SHARDD_FUZZ_CHECK(out.is_object());
    SHARDD_FUZZ_CHECK(args::check(out, s).ok());
  } else {
    SHARDD_FUZZ_CHECK(st.code() == ErrorCode::kBadRequest && !st.message().empty());
  }
  (void)admin::unescape_query(query);
  return 0;
}
