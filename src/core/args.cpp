#include "shardd/core/args.h"

#include <cmath>
#include <limits>

#include "shardd/core/utf8.h"

namespace shardd::args {

using json = nlohmann::json;

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kString:
      return "string";
    case Type::kInt:
      return "integer";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kObject:
      return "object";
    case Type::kArray:
      return "array";
    case Type::kAny:
      return "any";
  }
  return "any";
}

Field str(std::string name, int64_t min_chars, int64_t max_chars) {
  return {std::move(name), Type::kString, true, min_chars, max_chars, {}};
}
Field integer(std::string name, int64_t min, int64_t max) {
  return {std::move(name), Type::kInt, true, min, max, {}};
}
Field boolean(std::string name) {
  return {std::move(name), Type::kBool, true, 0, 0, {}};
}
Field number(std::string name) {
  return {std::move(name), Type::kNumber, true, 0, 0, {}};
}
Field one_of(std::string name, std::vector<std::string> choices) {
  return {std::move(name), Type::kString, true, 0, 0, std::move(choices)};
}
Field array(std::string name, int64_t max_elements) {
  return {std::move(name), Type::kArray, true, 0, max_elements, {}};
}
Field object(std::string name, int64_t max_members) {
  return {std::move(name), Type::kObject, true, 0, max_members, {}};
}
Field any(std::string name) {
  return {std::move(name), Type::kAny, true, 0, 0, {}};
}
Field optional(Field f) {
  f.required = false;
  return f;
}

namespace {

std::string quoted(const std::string& name) {
  return "'" + name + "'";
}

Status bad(const Field& f, const std::string& what) {
  return Status::BadRequest(quoted(f.name) + " " + what);
}

Status check_field(const Field& f, const json& v) {
  switch (f.type) {
    case Type::kAny:
      return Status::Ok();
    case Type::kBool:
      return v.is_boolean() ? Status::Ok() : bad(f, "must be true or false");
    case Type::kNumber:
      if (!v.is_number()) return bad(f, "must be a number");
      if (v.is_number_float() && !std::isfinite(v.get<double>())) {
        return bad(f, "must be a finite number");
      }
      return Status::Ok();
    case Type::kInt: {
      std::string range =
          "must be an integer in [" + std::to_string(f.min) + ", " + std::to_string(f.max) + "]";
      if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return bad(f, range);
        auto i = static_cast<int64_t>(u);
        return i >= f.min && i <= f.max ? Status::Ok() : bad(f, range);
      }
      if (v.is_number_integer()) {
        auto i = v.get<int64_t>();
        return i >= f.min && i <= f.max ? Status::Ok() : bad(f, range);
      }
      return bad(f, range);
    }
    case Type::kString: {
      if (!v.is_string()) return bad(f, "must be a string");
      const auto& s = v.get_ref<const std::string&>();
      if (!utf8::valid(s)) return bad(f, "is not valid UTF-8");
      if (!f.choices.empty()) {
        for (const auto& c : f.choices) {
          if (s == c) return Status::Ok();
        }
        std::string list;
        for (const auto& c : f.choices) list += (list.empty() ? "" : ", ") + c;
        return bad(f, "must be one of: " + list);
      }
      // Cheap bound first: a string of more bytes than 4 * max cannot fit.
      auto n = static_cast<int64_t>(s.size() > static_cast<size_t>(4 * f.max) ? s.size()
                                                                              : utf8::length(s));
      if (n < f.min || n > f.max) {
        return bad(
            f, "must be " + std::to_string(f.min) + "-" + std::to_string(f.max) + " characters");
      }
      return Status::Ok();
    }
    case Type::kArray:
      if (!v.is_array()) return bad(f, "must be an array");
      if (static_cast<int64_t>(v.size()) > f.max) {
        return bad(f, "must have at most " + std::to_string(f.max) + " elements");
      }
      return Status::Ok();
    case Type::kObject:
      if (!v.is_object()) return bad(f, "must be an object");
      if (static_cast<int64_t>(v.size()) > f.max) {
        return bad(f, "must have at most " + std::to_string(f.max) + " members");
      }
      return Status::Ok();
  }
  return Status::Ok();
}

const json* find(const json& d, std::string_view name) {
  if (!d.is_object()) return nullptr;
  auto it = d.find(name);
  if (it == d.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Status check(const json& d, const Schema& schema) {
  if (!d.is_object()) return Status::BadRequest("arguments must be an object");
  for (const Field& f : schema) {
    auto it = d.find(f.name);
    if (it == d.end()) {
      if (f.required) return Status::BadRequest("missing field " + quoted(f.name));
      continue;
    }
    const json* v = &*it;  // null included: a declared field is never null
    Status st = check_field(f, *v);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

const std::string& str(const json& d, std::string_view name) {
  static const std::string kEmpty;
  const json* v = find(d, name);
  return v && v->is_string() ? v->get_ref<const std::string&>() : kEmpty;
}

std::string str_or(const json& d, std::string_view name, std::string def) {
  const json* v = find(d, name);
  return v && v->is_string() ? v->get<std::string>() : std::move(def);
}

int64_t int_of(const json& d, std::string_view name) {
  return int_or(d, name, 0);
}

int64_t int_or(const json& d, std::string_view name, int64_t def) {
  const json* v = find(d, name);
  if (!v) return def;
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  if (v->is_number_unsigned()) {
    auto u = v->get<uint64_t>();
    return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? def
                                                                          : static_cast<int64_t>(u);
  }
  return def;
}

bool bool_or(const json& d, std::string_view name, bool def) {
  const json* v = find(d, name);
  return v && v->is_boolean() ? v->get<bool>() : def;
}

bool has(const json& d, std::string_view name) {
  return find(d, name) != nullptr;
}

json describe(const Schema& schema) {
  json out = json::array();
  for (const Field& f : schema) {
    json j = {{"name", f.name}, {"type", type_name(f.type)}, {"required", f.required}};
    if (f.type == Type::kInt || (f.type == Type::kString && f.choices.empty())) {
      j["min"] = f.min;
      j["max"] = f.max;
    } else if (f.type == Type::kArray || f.type == Type::kObject) {
      j["max"] = f.max;
    }
    if (!f.choices.empty()) j["choices"] = f.choices;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace shardd::args
