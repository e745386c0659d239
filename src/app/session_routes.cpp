#include "session_routes.h"

#include "shardd/core/log.h"

namespace shardd::app {

using json = nlohmann::json;

namespace {

json to_json(const gateway::SessionInfo& i) {
  return {{"session_id", i.id},
          {"account_id", i.account_id},
          {"username", i.account_id ? json(i.username) : json()},
          {"transport", i.transport},
          {"remote_ip", i.remote_ip},
          {"state", i.in_grace ? "grace" : "connected"},
          {"started_ms", i.started_ms}};
}

}  // namespace

void add_session_routes(admin::Routes& admin, gateway::Gateway& gw) {
  admin.add_route(
      "GET", "/admin/sessions",
      {args::optional(args::integer("account_id", 1, INT64_MAX)),
       args::optional(args::str("username", 1, 24)), args::optional(args::str("ip", 1, 64)),
       args::optional(args::integer("limit", 1, 1000))},
      [&gw](const json& q, admin::Respond respond) {
        gateway::SessionFilter f;
        f.account_id = args::int_or(q, "account_id", 0);
        f.username = args::str_or(q, "username", "");
        f.remote_ip = args::str_or(q, "ip", "");
        auto limit = static_cast<size_t>(args::int_or(q, "limit", 100));
        auto list = gw.sessions(f, limit + 1);
        bool more = list.size() > limit;
        if (more) list.pop_back();
        json out = json::array();
        for (const auto& i : list) out.push_back(to_json(i));
        respond(200, {{"sessions", std::move(out)}, {"truncated", more}});
      });
  admin.add_route("POST", "/admin/sessions/kick",
                  {args::optional(args::integer("session_id", 1, INT64_MAX)),
                   args::optional(args::integer("account_id", 1, INT64_MAX)),
                   args::optional(args::str("msg", 0, 200))},
                  [&gw](const json& b, admin::Respond respond) {
                    int64_t sid = args::int_or(b, "session_id", 0);
                    int64_t account = args::int_or(b, "account_id", 0);
                    std::string msg = args::str_or(b, "msg", "");
                    if ((sid == 0) == (account == 0)) {
                      return respond(400, {{"error", "give one of session_id or account_id"}});
                    }
                    std::vector<uint64_t> ids;
                    if (sid != 0) {
                      ids.push_back(static_cast<uint64_t>(sid));
                    } else {
                      gateway::SessionFilter f;
                      f.account_id = account;
                      for (const auto& i : gw.sessions(f, 1000)) ids.push_back(i.id);
                    }
                    json kicked = json::array();
                    for (uint64_t id : ids) {
                      if (gw.kick(id, msg)) kicked.push_back(id);
                    }
                    if (kicked.empty()) return respond(404, {{"error", "no such session"}});
                    log::get("admin").warn("operator kicked session(s) {} ({})", kicked.dump(),
                                           msg.empty() ? "no message" : msg);
                    respond(200, {{"kicked", std::move(kicked)}});
                  });
}

void add_announce_route(admin::Routes& admin, gateway::Gateway& gw) {
  const gateway::PushOp* notice = &gw.push_op("sys.notice");
  // POST /admin/announce {text, account_id?}: sys.notice {text, from} to
  // every session, or to the sessions of one logged-in account.
  admin.add_route(
      "POST", "/admin/announce",
      {args::str("text", 1, 4096), args::optional(args::integer("account_id", 1, INT64_MAX))},
      [&gw, notice](const json& body, admin::Respond respond) {
        json d = {{"text", args::str(body, "text")}, {"from", "server"}};
        int64_t account = args::int_or(body, "account_id", 0);
        if (account == 0) {
          size_t n = gw.broadcast(*notice, d, false);
          return respond(200, {{"sent", n}});
        }
        gateway::SessionFilter f;
        f.account_id = account;
        for (const auto& info : gw.sessions(f, 1)) {
          if (auto s = gw.find_session(info.id)) {
            s->post_push(*notice, d);
            return respond(200, {{"sent", 1}, {"session", s->id()}});
          }
        }
        respond(404, {{"error", "account not online"}});
      });
}

void add_error_route(admin::Routes& admin, const gateway::Gateway& gw) {
  // GET /admin/errors: the table of error codes on the wire.
  admin.add_route("GET", "/admin/errors", {}, [&gw](const json&, admin::Respond respond) {
    json out = json::array();
    for (const auto& e : gw.error_table().entries()) {
      if (e.code == ErrorCode::kOk) continue;
      out.push_back({{"code", std::string(e.code.name())},
                     {"retryable", e.code.retryable()},
                     {"module", e.module},
                     {"doc", std::string(e.code.doc())}});
    }
    respond(200, {{"errors", std::move(out)}});
  });
}

}  // namespace shardd::app
