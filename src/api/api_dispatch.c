/* The route table: every route of the HTTP API with the method it answers
 * and the least role it needs, in one place, and the pure matcher from a
 * request's method and path to a route (unit-tested and fuzzed). The access
 * check itself is done once, in api_server.c, from the matched route's
 * `need`; handlers never check roles. docs/api.md lists the same table. */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"

#define TAGS_PREFIX "/api/v1/tags/"
#define WRITE_SUFFIX "/write"

/* GET routes answer HEAD too. need 0: no authentication. */
const struct api_route api_routes[] = {
    {API_ROUTE_HEALTH, "GET", "/api/v1/health", API_SHAPE_EXACT, API_PUBLIC},
    {API_ROUTE_LOGIN, "POST", "/api/v1/login", API_SHAPE_EXACT, API_PUBLIC},
    {API_ROUTE_LOGOUT, "POST", "/api/v1/logout", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_SESSION, "GET", "/api/v1/session", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_TAGS, "GET", "/api/v1/tags", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_TAG_WRITE, "POST", TAGS_PREFIX, API_SHAPE_TAG_WRITE, AUTH_ROLE_OPERATOR},
    {API_ROUTE_TAG, "GET", TAGS_PREFIX, API_SHAPE_TAG, AUTH_ROLE_VIEWER},
    {API_ROUTE_STREAM, "GET", "/api/v1/stream", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_HISTORY, "GET", "/api/v1/history", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_HISTORY_AT, "GET", "/api/v1/history/at", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_ALERTS, "GET", "/api/v1/alerts", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_AUDIT, "GET", "/api/v1/audit", API_SHAPE_EXACT, AUTH_ROLE_ENGINEER},
    {API_ROUTE_USERS, "GET", "/api/v1/users", API_SHAPE_EXACT, AUTH_ROLE_ADMIN},
    {API_ROUTE_TOKENS, "GET", "/api/v1/tokens", API_SHAPE_EXACT, AUTH_ROLE_ADMIN},
    {API_ROUTE_METRICS, "GET", "/metrics", API_SHAPE_EXACT, AUTH_ROLE_VIEWER},
    {API_ROUTE_RELOAD, "POST", "/api/v1/reload", API_SHAPE_EXACT, AUTH_ROLE_ENGINEER},
    /* The dashboard's files: the application shell and its login form,
     * with no plant data in them (everything shown comes from the routes
     * above). */
    {API_ROUTE_ASSET, "GET", "/", API_SHAPE_ASSET, API_PUBLIC},
};
const size_t api_route_count = sizeof api_routes / sizeof api_routes[0];

const char *api_access_name(unsigned need)
{
    return need == API_PUBLIC ? "public" : auth_role_name((enum auth_role)need);
}

/* Whether path fits the route's shape; for tag routes *param receives the
 * tag path (not NUL-terminated when the route is a write: its length is
 * *param_len). */
static bool path_fits(const struct api_route *r, const char *path, size_t len, const char **param,
                      size_t *param_len)
{
    size_t plen = strlen(r->path);
    switch (r->shape) {
    case API_SHAPE_EXACT:
        return len == plen && memcmp(path, r->path, len) == 0;
    case API_SHAPE_TAG:
        if (len <= plen || memcmp(path, r->path, plen) != 0) return false;
        *param = path + plen;
        *param_len = len - plen;
        return true;
    case API_SHAPE_TAG_WRITE: {
        size_t slen = sizeof WRITE_SUFFIX - 1;
        if (len <= plen + slen || memcmp(path, r->path, plen) != 0 ||
            memcmp(path + len - slen, WRITE_SUFFIX, slen) != 0)
            return false;
        *param = path + plen;
        *param_len = len - plen - slen;
        return true;
    }
    case API_SHAPE_ASSET:
        return api_find_asset(path) != NULL;
    }
    return false;
}

/* GET routes take HEAD as well. */
static bool method_fits(const struct api_route *r, const char *method)
{
    if (strcmp(r->method, method) == 0) return true;
    return strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

enum api_match api_route_match(const char *method, const char *path, const struct api_route **route,
                               const char **param, size_t *param_len, char *allow, size_t allow_len)
{
    bool path_known = false, get_allowed = false, post_allowed = false;
    *route = NULL;
    *param = NULL;
    *param_len = 0;
    size_t len = strlen(path);
    for (size_t i = 0; i < api_route_count; i++) {
        const struct api_route *r = &api_routes[i];
        const char *p = NULL;
        size_t plen = 0;
        if (!path_fits(r, path, len, &p, &plen)) continue;
        if (method_fits(r, method)) {
            *route = r;
            *param = p;
            *param_len = plen;
            return API_MATCH_OK;
        }
        path_known = true;
        if (strcmp(r->method, "GET") == 0) get_allowed = true;
        if (strcmp(r->method, "POST") == 0) post_allowed = true;
    }
    if (!path_known) return API_MATCH_NOT_FOUND;
    if (allow && allow_len)
        snprintf(allow, allow_len, "%s%s%s", get_allowed ? "GET, HEAD" : "",
                 get_allowed && post_allowed ? ", " : "", post_allowed ? "POST" : "");
    return API_MATCH_METHOD;
}
