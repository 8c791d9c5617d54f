/* Authentication of HTTP requests (API tokens and browser sessions), the
 * access check against the route table, CSRF protection, and the routes
 * that manage a session: POST /api/v1/login, POST /api/v1/logout,
 * GET /api/v1/session, plus the admin listings GET /api/v1/users and
 * GET /api/v1/tokens. Logins, failed logins and lockouts go to the audit
 * trail; docs/api.md ("Authentication") describes the rules. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api/api_internal.h"
#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"
#include "monitor/alerts.h"

/* ------------------------------------------------------------ helpers */

void api_peer_text(struct MHD_Connection *c, char *out, size_t len)
{
    snprintf(out, len, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

bool api_audit(struct api_server *s, const char *actor, const char *action, const char *object,
               const char *old_value, const char *new_value, const char *reason,
               const char *outcome, const char *details)
{
    if (!s->audit) return false;
    struct audit_record r = {.actor = actor,
                             .action = action,
                             .object = object ? object : "",
                             .old_value = old_value ? old_value : "",
                             .new_value = new_value ? new_value : "",
                             .reason = reason ? reason : "",
                             .outcome = outcome,
                             .details = details ? details : ""};
    char err[512];
    if (audit_append(s->audit, &r, err, sizeof err) >= 0) return true;
    log_error("audit", "cannot append to the audit trail", "action=%s error=\"%s\"", action, err);
    return false;
}

void api_actor_text(const struct api_request *req, char *out, size_t len)
{
    if (req->via == API_CRED_TOKEN)
        snprintf(out, len, "%s (token %lld)", req->who.user, (long long)req->who.token_id);
    else
        snprintf(out, len, "%s", req->who.user);
}

/* The Set-Cookie value that sets (id non-NULL) or clears the session. */
static void session_cookie(const struct api_server *s, const char *id, char *out, size_t len)
{
    if (id)
        snprintf(out, len, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
                 API_SESSION_COOKIE, id, (long long)(AUTH_SESSION_MAX_NS / 1000000000LL),
                 s->tls ? "; Secure" : "");
    else
        snprintf(out, len, "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
                 API_SESSION_COOKIE, s->tls ? "; Secure" : "");
}

/* 401 with the challenge; clear_cookie also drops a dead session cookie. */
static enum MHD_Result unauthorized(struct api_server *s, struct MHD_Connection *c,
                                    const char *message, bool clear_cookie)
{
    struct MHD_Response *r = api_error_response(MHD_HTTP_UNAUTHORIZED, message);
    if (r) {
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"airlock\"");
        if (clear_cookie) {
            char cookie[160];
            session_cookie(s, NULL, cookie, sizeof cookie);
            MHD_add_response_header(r, "Set-Cookie", cookie);
        }
    }
    return api_queue(c, MHD_HTTP_UNAUTHORIZED, r);
}

/* True for methods that change state (need CSRF protection with cookies). */
static bool state_changing(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* The host[:port] part of an Origin header ("https://h:1/" -> "h:1"). */
static bool origin_host(const char *origin, char *out, size_t len)
{
    const char *p = strstr(origin, "://");
    if (!p) return false;
    p += 3;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= len) return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* A request made with the session cookie must carry the session's CSRF
 * token, and, when the browser says where it comes from, come from this
 * server's own origin. */
static bool csrf_ok(struct MHD_Connection *c, const char *expected, const char **why)
{
    const char *sent = MHD_lookup_connection_value(c, MHD_HEADER_KIND, API_CSRF_HEADER);
    size_t n = strlen(expected);
    if (!sent || strlen(sent) != n || CRYPTO_memcmp(sent, expected, n) != 0) {
        *why = "missing or wrong CSRF token (send the csrf_token of GET /api/v1/session in the "
               "X-CSRF-Token header)";
        return false;
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    char from[256];
    if (origin && strcmp(origin, "null") != 0 &&
        (!host || !origin_host(origin, from, sizeof from) || strcasecmp(from, host) != 0)) {
        *why = "cross-origin request refused";
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ the check */

/* What the request's credentials proved. */
enum authn {
    AUTHN_OK,
    AUTHN_NONE,        /* no credentials */
    AUTHN_BAD_SCHEME,  /* an Authorization header that is not Bearer */
    AUTHN_BAD_TOKEN,   /* unknown, revoked or its owner disabled */
    AUTHN_BAD_SESSION, /* unknown or expired session */
};

/* Checks the token or session cookie of the request; on AUTHN_OK fills
 * req->via / req->who and, for a session, req->session_id and req->csrf
 * (and records the session's activity, in the same lookup). */
static enum authn authenticate(struct api_server *s, struct MHD_Connection *c,
                               struct api_request *req, int64_t now)
{
    char err[256];
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, API_SESSION_COOKIE);
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) != 0) return AUTHN_BAD_SCHEME;
        const char *token = authz + 7;
        while (*token == ' ')
            token++;
        if (auth_token_verify(s->auth, token, now, &req->who, err, sizeof err) != AUTH_OK) {
            log_warn("auth", "request with an invalid API token refused", "peer=%s reason=\"%s\"",
                     req->peer, err);
            api_note_auth_failure(s, req, "invalid API tokens");
            return AUTHN_BAD_TOKEN;
        }
        req->via = API_CRED_TOKEN;
        if (strlen(token) < sizeof req->token) snprintf(req->token, sizeof req->token, "%s", token);
        return AUTHN_OK;
    }
    if (cookie) {
        if (strlen(cookie) >= sizeof req->session_id ||
            auth_session_use(s->auth, cookie, now, &req->who, req->csrf, err, sizeof err) !=
                AUTH_OK) {
            api_note_auth_failure(s, req, "invalid session cookies");
            return AUTHN_BAD_SESSION;
        }
        snprintf(req->session_id, sizeof req->session_id, "%s", cookie);
        req->via = API_CRED_SESSION;
        return AUTHN_OK;
    }
    return AUTHN_NONE;
}

bool api_authorize(struct api_server *s, struct MHD_Connection *c, const char *method,
                   struct api_request *req, enum MHD_Result *queued)
{
    unsigned need = req->route->need;
    int64_t now = clock_now_ns();
    if (need == API_PUBLIC) {
        /* Health tells more to someone logged in; never refused. */
        if (req->route->id == API_ROUTE_HEALTH && s->auth &&
            authenticate(s, c, req, now) != AUTHN_OK)
            req->via = API_CRED_NONE;
        return true;
    }
    if (!s->auth) {
        *queued = api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "authentication unavailable: the users database could not "
                                    "be opened (see the gateway's log)");
        return false;
    }
    switch (authenticate(s, c, req, now)) {
    case AUTHN_OK:
        break;
    case AUTHN_NONE:
        req->refusal = "refused_unauthenticated";
        *queued = unauthorized(s, c,
                               "authentication required: log in (POST /api/v1/login) or send an "
                               "API token as 'Authorization: Bearer <token>'",
                               false);
        return false;
    case AUTHN_BAD_SCHEME:
        req->refusal = "refused_unauthenticated";
        *queued = unauthorized(s, c,
                               "unsupported authorization scheme: send an API token as "
                               "'Authorization: Bearer <token>'",
                               false);
        return false;
    case AUTHN_BAD_TOKEN:
        req->refusal = "refused_unauthenticated";
        *queued = unauthorized(s, c, "invalid or revoked API token", false);
        return false;
    case AUTHN_BAD_SESSION:
        req->refusal = "refused_unauthenticated";
        *queued = unauthorized(s, c, "session expired or unknown: log in again", true);
        return false;
    }
    if (!auth_role_allows(req->who.role, (enum auth_role)need)) {
        req->refusal = "refused_role";
        *queued = api_respond_error(
            c, MHD_HTTP_FORBIDDEN, "forbidden: this needs the role %s; %s has the role %s",
            api_access_name(need), req->who.user, auth_role_name(req->who.role));
        return false;
    }
    const char *why = NULL;
    if (req->via == API_CRED_SESSION && state_changing(method) && !csrf_ok(c, req->csrf, &why)) {
        req->refusal = "refused_csrf";
        log_warn("auth", "request refused by the CSRF check", "peer=%s user=%s reason=\"%s\"",
                 req->peer, req->who.user, why);
        *queued = api_respond_error(c, MHD_HTTP_FORBIDDEN, "%s", why);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ login */

/* A user name fit to be recorded: what the client sent when it is a valid
 * name, otherwise a placeholder (raw client bytes never reach the trail). */
static void claimed_name(const char *name, char *out, size_t len)
{
    bool ok = name && *name && strlen(name) <= AUTH_NAME_MAX;
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '_' || *p == '-' || *p == '@';
    snprintf(out, len, "%s", ok ? name : "(invalid name)");
}

/* Records a failed login and, when it just locked the account, the lock. */
static void login_failed(struct api_server *s, const struct api_request *req, const char *name,
                         enum auth_login_result result, int64_t now)
{
    char actor[AUTH_NAME_MAX + 16], details[128];
    claimed_name(name, actor, sizeof actor);
    snprintf(details, sizeof details, "from=%s", req->peer);
    log_warn("auth", "login failed", "user=%s peer=%s reason=%s", actor, req->peer,
             auth_login_result_name(result));
    api_audit(s, actor, "login_failed", actor, NULL, NULL, NULL, auth_login_result_name(result),
              details);
    api_note_auth_failure(s, req, "failed logins");
    if (result != AUTH_LOGIN_BAD_PASSWORD) return;
    struct auth_user_info info;
    char err[256];
    if (auth_user_get(s->auth, name, &info, err, sizeof err) == AUTH_OK &&
        info.locked_until_ns > now) {
        log_warn("auth", "account locked after repeated failed logins",
                 "user=%s failures=%d locked_for_s=%lld", actor, AUTH_LOCKOUT_FAILURES,
                 (long long)(AUTH_LOCKOUT_NS / 1000000000LL));
        snprintf(details, sizeof details, "from=%s failures=%d locked_for_s=%lld", req->peer,
                 AUTH_LOCKOUT_FAILURES, (long long)(AUTH_LOCKOUT_NS / 1000000000LL));
        api_audit(s, "system", "account_locked", actor, NULL, NULL, NULL, "locked", details);
        alerts_raise(s->alerts, ALERT_AUTH_FAILURES, ALERT_WARNING, actor,
                     "account %s locked after %d failed logins (last from %s)", actor,
                     AUTH_LOCKOUT_FAILURES, req->peer);
    }
}

/* Reads {"user": ..., "password": ...} from the body. */
static bool parse_login(const struct api_request *req, json_t **doc, const char **user,
                        const char **password, const char **why)
{
    json_error_t jerr;
    *doc = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!*doc || !json_is_object(*doc)) {
        *why = "the body must be a JSON object {\"user\": ..., \"password\": ...}";
        return false;
    }
    *user = json_string_value(json_object_get(*doc, "user"));
    *password = json_string_value(json_object_get(*doc, "password"));
    if (!*user || !*password) {
        *why = "\"user\" and \"password\" (strings) are required";
        return false;
    }
    return true;
}

static bool content_type_json(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && strncasecmp(ct, "application/json", 16) == 0;
}

enum MHD_Result api_route_login(struct api_server *s, struct MHD_Connection *c,
                                struct api_request *req)
{
    if (!s->auth)
        return api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "authentication unavailable: the users database could not be "
                                 "opened (see the gateway's log)");
    if (!content_type_json(c))
        return api_respond_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "send the credentials as Content-Type: application/json");
    json_t *doc = NULL;
    const char *user = NULL, *password = NULL, *why = NULL;
    if (!parse_login(req, &doc, &user, &password, &why)) {
        json_decref(doc);
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", why);
    }
    /* Each check costs ~32 MiB and ~0.1 s of one core: a flood of logins
     * must not take the gateway's memory or every core. */
    if (atomic_fetch_add(&s->logins_in_flight, 1) >= API_MAX_LOGINS_IN_FLIGHT) {
        atomic_fetch_sub(&s->logins_in_flight, 1);
        json_decref(doc);
        struct MHD_Response *r =
            api_error_response(MHD_HTTP_TOO_MANY_REQUESTS, "too many logins at once; retry");
        if (r) MHD_add_response_header(r, "Retry-After", "1");
        return api_queue(c, MHD_HTTP_TOO_MANY_REQUESTS, r);
    }
    int64_t now = clock_now_ns();
    struct auth_principal who;
    char err[256];
    enum auth_login_result result = auth_login(s->auth, user, password, now, &who, err, sizeof err);
    atomic_fetch_sub(&s->logins_in_flight, 1);
    if (result != AUTH_LOGIN_OK) {
        login_failed(s, req, user, result, now);
        json_decref(doc);
        if (result == AUTH_LOGIN_ERROR)
            return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                     "the login could not be checked (see the gateway's log)");
        /* One answer for every reason, so user names cannot be probed. */
        return unauthorized(s, c,
                            "invalid user name or password (or the account is locked or "
                            "disabled)",
                            false);
    }
    json_decref(doc);
    char id[AUTH_SECRET_TEXT_SIZE], csrf[AUTH_SECRET_TEXT_SIZE];
    if (auth_session_create(s->auth, who.user, now, id, csrf, err, sizeof err) != AUTH_OK) {
        log_error("auth", "cannot create a session", "user=%s error=\"%s\"", who.user, err);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot create a session");
    }
    char details[128];
    snprintf(details, sizeof details, "from=%s", req->peer);
    log_info("auth", "login", "user=%s role=%s peer=%s", who.user, auth_role_name(who.role),
             req->peer);
    api_audit(s, who.user, "login", who.user, NULL, NULL, NULL, "ok", details);
    struct MHD_Response *r = api_json_response(json_pack(
        "{s:s,s:s,s:s,s:I,s:I}", "user", who.user, "role", auth_role_name(who.role), "csrf_token",
        csrf, "idle_timeout_s", (json_int_t)(AUTH_SESSION_IDLE_NS / 1000000000LL), "max_age_s",
        (json_int_t)(AUTH_SESSION_MAX_NS / 1000000000LL)));
    if (!r) return MHD_NO;
    char cookie[160];
    session_cookie(s, id, cookie, sizeof cookie);
    MHD_add_response_header(r, "Set-Cookie", cookie);
    return api_queue(c, MHD_HTTP_OK, r);
}

enum MHD_Result api_route_logout(struct api_server *s, struct MHD_Connection *c,
                                 struct api_request *req)
{
    if (req->via != API_CRED_SESSION)
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                 "only a browser session logs out; API tokens are revoked with "
                                 "'airlock token revoke'");
    char err[256];
    auth_session_destroy(s->auth, req->session_id, err, sizeof err);
    char details[128];
    snprintf(details, sizeof details, "from=%s", req->peer);
    api_audit(s, req->who.user, "logout", req->who.user, NULL, NULL, NULL, "ok", details);
    log_info("auth", "logout", "user=%s peer=%s", req->who.user, req->peer);
    struct MHD_Response *r = api_json_response(json_pack("{s:b}", "logged_out", 1));
    if (!r) return MHD_NO;
    char cookie[160];
    session_cookie(s, NULL, cookie, sizeof cookie);
    MHD_add_response_header(r, "Set-Cookie", cookie);
    return api_queue(c, MHD_HTTP_OK, r);
}

enum MHD_Result api_route_session(struct MHD_Connection *c, const struct api_request *req)
{
    const char *csrf = req->via == API_CRED_SESSION ? req->csrf : "";
    json_t *body = json_pack(
        "{s:s,s:s,s:s,s:o,s:o}", "user", req->who.user, "role", auth_role_name(req->who.role),
        "via", req->via == API_CRED_TOKEN ? "token" : "session", "csrf_token",
        csrf[0] ? json_string(csrf) : json_null(), "token_id",
        req->via == API_CRED_TOKEN ? json_integer(req->who.token_id) : json_null());
    return api_respond_json(c, MHD_HTTP_OK, body);
}

/* ------------------------------------------------------------ admin listings */

enum MHD_Result api_route_users(struct api_server *s, struct MHD_Connection *c)
{
    struct auth_user_info *users = NULL;
    size_t n = 0;
    char err[256];
    if (auth_user_list(s->auth, &users, &n, err, sizeof err) != AUTH_OK)
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list users");
    int64_t now = clock_now_ns();
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        const struct auth_user_info *u = &users[i];
        json_array_append_new(
            list,
            json_pack(
                "{s:s,s:s,s:b,s:i,s:o,s:o,s:o}", "name", u->name, "role", auth_role_name(u->role),
                "disabled", u->disabled, "failed_logins", u->failed_count, "locked_until",
                u->locked_until_ns > now ? api_time_json(u->locked_until_ns) : json_null(),
                "created", api_time_json(u->created_ns), "changed", api_time_json(u->changed_ns)));
    }
    free(users);
    return api_respond_json(c, MHD_HTTP_OK,
                            json_pack("{s:o,s:I}", "users", list, "count", (json_int_t)n));
}

enum MHD_Result api_route_tokens(struct api_server *s, struct MHD_Connection *c)
{
    struct auth_token_info *tokens = NULL;
    size_t n = 0;
    char err[256];
    if (auth_token_list(s->auth, &tokens, &n, err, sizeof err) != AUTH_OK)
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot list tokens");
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        const struct auth_token_info *t = &tokens[i];
        json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o}", "id",
                                              (json_int_t)t->id, "name", t->name, "user", t->user,
                                              "role", auth_role_name(t->role), "created",
                                              api_time_json(t->created_ns), "last_used",
                                              api_time_json(t->last_used_ns), "revoked",
                                              api_time_json(t->revoked_ns)));
    }
    free(tokens);
    return api_respond_json(c, MHD_HTTP_OK,
                            json_pack("{s:o,s:I}", "tokens", list, "count", (json_int_t)n));
}

void api_audit_refused_write(struct api_server *s, struct api_request *req, const char *url)
{
    char path[TAG_PATH_MAX], why[160];
    size_t n = req->param_len < sizeof path ? req->param_len : sizeof path - 1;
    memcpy(path, url + req->param_offset, n);
    path[n] = '\0';
    if (!tag_path_valid(path, why, sizeof why)) snprintf(path, sizeof path, "(invalid path)");
    const char *outcome = req->refusal ? req->refusal : "refused";
    char details[192];
    if (req->via != API_CRED_NONE) {
        char actor[AUTH_NAME_MAX + 32];
        api_actor_text(req, actor, sizeof actor);
        snprintf(details, sizeof details, "from=%s", req->peer);
        api_audit(s, actor, "write", path, NULL, NULL, NULL, outcome, details);
        alerts_raise(s->alerts, ALERT_WRITE_REFUSED, ALERT_WARNING, req->who.user,
                     "write to %s refused (%s)", path, outcome);
        return;
    }
    /* Without credentials anyone can send these: at most one record a
     * second, which counts the ones in between. */
    int64_t now = clock_now_ns();
    pthread_mutex_lock(&s->refusal_lock);
    bool record = now - s->refusal_audited_ns >= 1000000000LL;
    uint64_t skipped = s->refusals_unrecorded;
    if (record) {
        s->refusal_audited_ns = now;
        s->refusals_unrecorded = 0;
    } else {
        s->refusals_unrecorded++;
    }
    pthread_mutex_unlock(&s->refusal_lock);
    log_warn("gate", "write without valid credentials refused", "peer=%s tag=%s", req->peer, path);
    if (!record) return;
    snprintf(details, sizeof details, "from=%s; %llu more such refusals in the second before",
             req->peer, (unsigned long long)skipped);
    api_audit(s, "anonymous", "write", path, NULL, NULL, NULL, outcome, details);
}

void api_note_auth_failure(struct api_server *s, const struct api_request *req, const char *what)
{
    int64_t now = clock_now_ns();
    bool raise = false;
    unsigned count = 0;
    pthread_mutex_lock(&s->refusal_lock);
    struct api_failure_count *slot = NULL, *oldest = &s->failures[0];
    for (size_t i = 0; i < API_FAILURE_PEERS && !slot; i++) {
        struct api_failure_count *f = &s->failures[i];
        if (strcmp(f->peer, req->peer) == 0)
            slot = f;
        else if (f->window_start_ns < oldest->window_start_ns)
            oldest = f;
    }
    if (!slot) {
        slot = oldest;
        snprintf(slot->peer, sizeof slot->peer, "%s", req->peer);
        slot->count = 0;
        slot->window_start_ns = now;
    }
    if (now - slot->window_start_ns > API_FAILURE_WINDOW_NS) {
        slot->window_start_ns = now;
        slot->count = 0;
    }
    count = ++slot->count;
    raise = count == API_FAILURE_ALERT_COUNT;
    pthread_mutex_unlock(&s->refusal_lock);
    if (!raise) return;
    char subject[80];
    snprintf(subject, sizeof subject, "client %s", req->peer);
    log_warn("auth", "repeated authentication failures", "peer=%s what=\"%s\" count=%u", req->peer,
             what, count);
    alerts_raise(s->alerts, ALERT_AUTH_FAILURES, ALERT_WARNING, subject,
                 "%u %s from %s within %lld s", count, what, req->peer,
                 (long long)(API_FAILURE_WINDOW_NS / 1000000000LL));
}

bool api_credential_still_valid(struct api_server *s, enum api_credential via, const char *secret)
{
    if (!s->auth || !secret[0]) return false;
    struct auth_principal who;
    char err[256];
    int64_t now = clock_now_ns();
    if (via == API_CRED_TOKEN)
        return auth_token_verify(s->auth, secret, now, &who, err, sizeof err) == AUTH_OK;
    if (via == API_CRED_SESSION)
        return auth_session_verify(s->auth, secret, now, &who, NULL, err, sizeof err) == AUTH_OK;
    return false;
}

/* ------------------------------------------------------------ reload */

enum MHD_Result api_route_reload(struct api_server *s, struct MHD_Connection *c,
                                 struct api_request *req)
{
    if (!s->reload) return api_respond_error(c, MHD_HTTP_CONFLICT, "this gateway cannot reload");
    char actor[AUTH_NAME_MAX + 32], message[1024] = "";
    api_actor_text(req, actor, sizeof actor);
    int outcome = s->reload(s->reload_arg, actor, message, sizeof message);
    static const char *const names[] = {"ok", "refused", "failed", "no_file", "unavailable"};
    static const unsigned statuses[] = {MHD_HTTP_OK, MHD_HTTP_UNPROCESSABLE_CONTENT,
                                        MHD_HTTP_INTERNAL_SERVER_ERROR, MHD_HTTP_CONFLICT,
                                        MHD_HTTP_SERVICE_UNAVAILABLE};
    if (outcome < 0 || outcome > API_RELOAD_UNAVAILABLE) outcome = API_RELOAD_FAILED;
    if (outcome == API_RELOAD_OK)
        return api_respond_json(c, MHD_HTTP_OK, json_pack("{s:s}", "outcome", "ok"));
    json_t *body =
        json_pack("{s:{s:i,s:o},s:s}", "error", "code", (int)statuses[outcome], "message",
                  api_json_string(message, strlen(message)), "outcome", names[outcome]);
    return api_respond_json(c, statuses[outcome], body);
}
