#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "shardd/core/args.h"

namespace shardd::admin {

// Answers an admin route: HTTP status and a JSON body. Call it once, from any
// thread; a route whose Respond is dropped unanswered is answered 500.
using Respond = std::function<void(int status, nlohmann::json body)>;

// `args`: the request's parsed JSON body ({} when empty) with the query
// string's parameters added, already checked against the route's schema.
using RouteHandler = std::function<void(const nlohmann::json& args, Respond respond)>;

// Where services add their operator routes (token-protected /admin/...).
// The admin server implements it; services see only this interface.
//
// Thread-safety: add_route() only while the server is assembled.
class Routes {
 public:
  virtual ~Routes() = default;
  // REQUIRES: path starts with /admin/; (method, path) not taken. A body
  // that is not a JSON object or breaks `schema` is answered 400 before the
  // handler runs; a handler that throws is answered 500 (exception barrier).
  virtual void add_route(std::string method, std::string path, args::Schema schema,
                         RouteHandler handler) = 0;
};

}  // namespace shardd::admin
