#pragma once

// Declared arguments of a request (the "d" object of a client op) or of an
// admin request body, checked before the handler runs.
//
// A route declares its fields once:
//   args::Schema{args::str("zone", 1, 32), args::optional(args::integer("limit", 1, 50))}
// and the gateway (or the admin server) checks every request against it: a
// missing required field, a wrong JSON type, a number out of range, a string
// of the wrong length, invalid UTF-8 or a value outside a fixed set is
// answered BAD_REQUEST naming the field, and the handler never sees it. After
// the check, the readers below cannot throw for the fields the schema
// declares. The same declarations are listed by GET /admin/ops, which the
// malformed-input test uses to exercise every field of every op.
//
// Members that the schema does not declare are ignored. A declared field is
// either absent or of its type: `null` is a wrong type (except for kAny).
// Thread-safety: schemas are immutable values; everything here is safe from
// any thread.

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shardd/core/status.h"

namespace shardd::args {

enum class Type : uint8_t { kString, kInt, kBool, kNumber, kObject, kArray, kAny };
std::string_view type_name(Type t);

struct Field {
  std::string name;
  Type type = Type::kAny;
  bool required = true;
  // kInt: the value range. kString: the length range, in code points.
  // kArray / kObject: the most elements / members (min unused).
  int64_t min = 0;
  int64_t max = 0;
  std::vector<std::string> choices;  // kString: the allowed values (empty: any)
};

using Schema = std::vector<Field>;

Field str(std::string name, int64_t min_chars, int64_t max_chars);
Field integer(std::string name, int64_t min, int64_t max);
Field boolean(std::string name);
Field number(std::string name);
Field one_of(std::string name, std::vector<std::string> choices);
Field array(std::string name, int64_t max_elements);
Field object(std::string name, int64_t max_members);
Field any(std::string name);
Field optional(Field f);

// OK, or BAD_REQUEST naming the first field that breaks the schema. `d` that
// is not an object is BAD_REQUEST too. Never throws.
Status check(const nlohmann::json& d, const Schema& schema);

// Readers for checked values. `name` must be declared in the schema with the
// matching type; optional fields return `def` when absent or null.
const std::string& str(const nlohmann::json& d, std::string_view name);
std::string str_or(const nlohmann::json& d, std::string_view name, std::string def);
int64_t int_of(const nlohmann::json& d, std::string_view name);
int64_t int_or(const nlohmann::json& d, std::string_view name, int64_t def);
bool bool_or(const nlohmann::json& d, std::string_view name, bool def);
// True if the field is present and not null.
bool has(const nlohmann::json& d, std::string_view name);

// The schema as JSON: [{"name","type","required","min","max","choices"}].
nlohmann::json describe(const Schema& schema);

}  // namespace shardd::args
