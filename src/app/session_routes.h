#pragma once

// Private to the app: operator routes over the gateway (sessions, notices,
// the error table). They belong to no service.

#include "shardd/admin/routes.h"
#include "shardd/gateway/gateway.h"

namespace shardd::app {

// GET /admin/sessions?account_id=&username=&ip=&limit=  and
// POST /admin/sessions/kick {session_id | account_id, msg?}.
// REQUIRES: before serving; `gateway` outlives the routes' traffic.
void add_session_routes(admin::Routes& admin, gateway::Gateway& gateway);

// POST /admin/announce {text, account_id?}: sys.notice {text, from:"server"}.
void add_announce_route(admin::Routes& admin, gateway::Gateway& gateway);

// GET /admin/errors: every error code (core's and the services').
void add_error_route(admin::Routes& admin, const gateway::Gateway& gateway);

}  // namespace shardd::app
