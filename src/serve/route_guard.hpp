#pragma once
// The guard every HTTP route runs in (server.cpp): nothing a handler throws leaves it as
// anything but a JSON error, so one bad request cannot take the server down.
#include <functional>

#include <nlohmann/json_fwd.hpp>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace drshym::serve {

using RouteHandler = std::function<void(const httplib::Request&, httplib::Response&)>;

// Runs handler(req, res). A drshym::Error becomes {"error": {"code", "message"}} with the error
// table's status (a 503 also gets Retry-After: retry_after_s() unless the handler set one);
// any other std::exception a JSON 500 "internal" (logged with the method and path).
void run_guarded(const RouteHandler& handler, const httplib::Request& req, httplib::Response& res,
                 const std::function<int()>& retry_after_s);

// The one way a route answers with JSON: the status and the body, pretty-printed.
void send_json(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace drshym::serve
