#pragma once

// Private to the app: the admin routes over the gateway's sessions.

#include "shardd/admin/admin_server.h"
#include "shardd/gateway/gateway.h"

namespace shardd::app {

// GET /admin/sessions?account_id=&username=&ip=&limit=  and
// POST /admin/sessions/kick {session_id | account_id, msg?}.
// REQUIRES: before admin.start(); `gateway` outlives `admin`'s traffic.
void add_session_routes(admin::AdminServer& admin, gateway::Gateway& gateway);

}  // namespace shardd::app
