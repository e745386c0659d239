#pragma once

// The arguments of one admin route call, built from untrusted HTTP input
// without Beast so the parsing can be unit-tested and fuzzed
// (tests/fuzz/fuzz_admin_body.cpp).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shardd/core/args.h"
#include "shardd/core/status.h"

namespace shardd::admin {

// `body` (empty, or a JSON object of at most the server's 64 KiB limit) plus
// the query string `a=1&b=x` (percent-escapes and '+' decoded; a parameter is
// an integer when `schema` declares that field as one and it reads as one,
// else a string; a parameter named like a body member replaces it), checked
// against `schema`. BAD_REQUEST with the message the client gets on failure;
// `out` is complete only on success. Never throws.
Status request_args(std::string_view body, std::string_view query, const args::Schema& schema,
                    nlohmann::json* out);

// Percent-decoding of one query component ('+' is a space).
std::string unescape_query(std::string_view in);

}  // namespace shardd::admin
