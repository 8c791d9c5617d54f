/* The HTTP server: listen socket, libmicrohttpd daemon, request dispatch,
 * limits and the response helpers every route uses. One thread per
 * connection, so a long event stream never blocks other requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/log.h"

#define API_LISTEN_BACKLOG 128
void api_add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

/* Queues a response and drops our reference to it. */
enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A response owning text (freed by MHD, or here on failure). */
static struct MHD_Response *text_response(char *text, size_t len, const char *content_type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return NULL;
    }
    api_add_common_headers(r);
    MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'");
    return r;
}

static struct MHD_Response *json_response(char *text)
{
    return text_response(text, strlen(text), "application/json");
}

enum MHD_Result api_respond_buf(struct MHD_Connection *c, unsigned status, const char *content_type,
                                struct api_buf *b)
{
    if (b->failed || !b->data) {
        api_buf_free(b);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    struct MHD_Response *r = text_response(b->data, b->len, content_type);
    api_buf_init(b); /* the text now belongs to the response */
    return api_queue(c, status, r);
}

struct MHD_Response *api_json_response(json_t *body)
{
    char *text = body ? api_json_dump(body) : NULL;
    json_decref(body);
    return text ? json_response(text) : NULL;
}

enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = body ? api_json_dump(body) : NULL;
    json_decref(body);
    if (!text) return MHD_NO; /* out of memory: MHD closes the connection */
    return api_queue(c, status, json_response(text));
}

/* {"error": {"code": status, "message": message}}, NULL on ENOMEM. */
static json_t *error_body(unsigned status, const char *message)
{
    return json_pack("{s:{s:i,s:o*}}", "error", "code", (int)status, "message",
                     api_json_string(message, strlen(message)));
}

struct MHD_Response *api_error_response(unsigned status, const char *message)
{
    json_t *body = error_body(status, message);
    char *text = body ? api_json_dump(body) : NULL;
    json_decref(body);
    return text ? json_response(text) : NULL;
}

enum MHD_Result api_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return api_queue(c, status, api_error_response(status, message));
}

static enum MHD_Result respond_method_not_allowed(struct MHD_Connection *c, const char *allow)
{
    char message[160];
    snprintf(message, sizeof message, "method not allowed: this resource answers %s", allow);
    struct MHD_Response *r = api_error_response(MHD_HTTP_METHOD_NOT_ALLOWED, message);
    if (r) MHD_add_response_header(r, "Allow", allow);
    return api_queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

const char *api_query_arg(struct MHD_Connection *c, const char *name, bool *bad)
{
    const char *raw = NULL;
    size_t len = 0;
    if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &raw, &len) !=
            MHD_YES ||
        !raw)
        return NULL;
    if (strlen(raw) != len) *bad = true;
    return raw;
}

bool api_query_prefix(struct MHD_Connection *c, char *out, size_t out_len, enum MHD_Result *queued)
{
    const char *raw = NULL;
    size_t raw_len = 0;
    out[0] = '\0';
    if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "prefix", strlen("prefix"), &raw,
                                      &raw_len) != MHD_YES ||
        !raw)
        return true; /* absent (or "?prefix" with no value): everything */
    char why[160];
    if (strlen(raw) != raw_len) {
        snprintf(why, sizeof why, "contains a NUL byte");
    } else if (api_prefix_parse(raw, raw_len, out, out_len, why, sizeof why)) {
        return true;
    }
    *queued =
        api_respond_error(c, MHD_HTTP_BAD_REQUEST, "invalid query parameter 'prefix': %s", why);
    return false;
}

/* Creates the request's state (MHD stores the result in *req_cls) and
 * notes a request target over the limit; the access handler then answers
 * 414. NULL on ENOMEM: the handler then refuses the request. */
static void *log_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    struct api_request *req = calloc(1, sizeof *req);
    if (!req) return NULL;
    req->uri_too_long = strlen(uri) > API_MAX_URI_BYTES;
    api_peer_text(c, req->peer, sizeof req->peer);
    return req;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct api_request *req = *req_cls;
    if (!req) return;
    free(req->body);
    OPENSSL_cleanse(req->session_id, sizeof req->session_id);
    OPENSSL_cleanse(req->token, sizeof req->token);
    OPENSSL_cleanse(req->csrf, sizeof req->csrf);
    free(req);
    *req_cls = NULL;
}

/* Calls the matched route's handler (authorised already). */
static enum MHD_Result dispatch(struct api_server *s, struct MHD_Connection *c,
                                struct api_request *req, const char *url, bool head)
{
    switch (req->route->id) {
    case API_ROUTE_HEALTH:
        return api_route_health(s, c, req);
    case API_ROUTE_LOGIN:
        return api_route_login(s, c, req);
    case API_ROUTE_LOGOUT:
        return api_route_logout(s, c, req);
    case API_ROUTE_SESSION:
        return api_route_session(c, req);
    case API_ROUTE_TAGS:
        return api_route_tags(s, c);
    case API_ROUTE_TAG:
        return api_route_tag(s, c, url + req->param_offset);
    case API_ROUTE_TAG_WRITE: {
        char path[TAG_PATH_MAX];
        if (req->param_len >= sizeof path)
            return api_respond_error(c, MHD_HTTP_NOT_FOUND, "no such tag: path too long");
        memcpy(path, url + req->param_offset, req->param_len);
        path[req->param_len] = '\0';
        return api_route_tag_write(s, c, req, path);
    }
    case API_ROUTE_STREAM:
        return api_route_stream(s, c, head, req);
    case API_ROUTE_HISTORY:
        return api_route_history(s, c);
    case API_ROUTE_HISTORY_AT:
        return api_route_history_at(s, c);
    case API_ROUTE_ALERTS:
        return api_alerts_respond(s->alerts, c);
    case API_ROUTE_AUDIT:
        return api_route_audit(s, c);
    case API_ROUTE_USERS:
        return api_route_users(s, c);
    case API_ROUTE_TOKENS:
        return api_route_tokens(s, c);
    case API_ROUTE_METRICS:
        return api_route_metrics(s, c);
    case API_ROUTE_RELOAD:
        return api_route_reload(s, c, req);
    case API_ROUTE_ASSET:
        return api_route_asset(c, api_find_asset(url));
    }
    return api_respond_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
}

/* The first call of a request (headers only): method, route, credentials
 * and role. Returns true when the request may go on (its body, if any, is
 * read next); otherwise a response is queued (*queued). */
static bool begin_request(struct api_server *s, struct MHD_Connection *c, const char *url,
                          const char *method, struct api_request *req, enum MHD_Result *queued)
{
    req->started = true;
    if (req->uri_too_long) {
        *queued = api_respond_error(c, MHD_HTTP_URI_TOO_LONG, "request target longer than %d bytes",
                                    API_MAX_URI_BYTES);
        return false;
    }
    if (atomic_load(&s->stopping)) {
        *queued = api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "server is stopping");
        return false;
    }
    const char *param = NULL;
    size_t param_len = 0;
    char allow[64] = "";
    switch (api_route_match(method, url, &req->route, &param, &param_len, allow, sizeof allow)) {
    case API_MATCH_OK:
        break;
    case API_MATCH_METHOD:
        *queued = respond_method_not_allowed(c, allow);
        return false;
    case API_MATCH_NOT_FOUND:
        *queued = api_respond_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
        return false;
    }
    req->param_offset = param ? (size_t)(param - url) : 0;
    req->param_len = param_len;
    if (api_authorize(s, c, method, req, queued)) return true;
    if (req->route->id == API_ROUTE_TAG_WRITE) api_audit_refused_write(s, req, url);
    return false;
}

/* Appends a chunk of the request body (bounded by API_MAX_BODY_BYTES). */
static void take_body(struct api_request *req, const char *data, size_t len)
{
    if (req->body_too_large) return;
    if (req->body_len + len > API_MAX_BODY_BYTES) {
        req->body_too_large = true;
        return;
    }
    char *grown = realloc(req->body, req->body_len + len + 1);
    if (!grown) {
        req->body_too_large = true;
        return;
    }
    memcpy(grown + req->body_len, data, len);
    req->body = grown;
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    struct api_server *s = cls;
    (void)version;
    struct api_request *req = *req_cls;
    if (!req) return MHD_NO; /* out of memory at the start of the request */
    if (!req->started) {
        enum MHD_Result queued = MHD_NO;
        if (!begin_request(s, c, url, method, req, &queued)) return queued;
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) return MHD_YES; /* the body follows */
    } else if (*upload_data_size > 0) {
        take_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->body_too_large) {
        if (req->route->id == API_ROUTE_TAG_WRITE) {
            req->refusal = "refused_malformed";
            api_audit_refused_write(s, req, url);
        }
        return api_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than %d bytes",
                                 API_MAX_BODY_BYTES);
    }
    return dispatch(s, c, req, url, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        message[--n] = '\0';
    for (char *p = message; *p; p++)
        if (*p == '"' || *p == '\n') *p = '\'';
    log_debug("api", "libmicrohttpd", "detail=\"%s\"", message);
}

static void describe_errno(int err, const char *addr, const char *what, char *out, size_t len)
{
    char text[128];
    const char *reason = strerror_r(err, text, sizeof text);
    snprintf(out, len, "cannot listen on %s: %s%s", addr, what, reason);
}

/* A bound, listening, non-blocking socket for host:port, or -1 with err. */
static int open_listen_socket(const char *addr, const char *host, uint16_t port, char *err,
                              size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "cannot listen on %s: cannot resolve the host: %s", addr,
                 gai_strerror(rc));
        return -1;
    }
    int fd = -1, last_errno = 0;
    const char *step = "";
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            step = "socket: ";
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, API_LISTEN_BACKLOG) != 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
            last_errno = errno;
            step = "";
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) describe_errno(last_errno ? last_errno : EADDRNOTAVAIL, addr, step, err, err_len);
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Whether fd is still the listening socket we bound to port: when the
 * daemon fails to start, libmicrohttpd may or may not have closed it, and
 * closing a number another thread reused would be worse than a leak. */
static bool still_our_listener(int fd, uint16_t port)
{
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        return false;
    return bound_port(fd) == port;
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    return api_percent_decode(uri);
}

/* TLS 1.2 and 1.3 only, GnuTLS's default ciphers otherwise. */
#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

static struct MHD_Daemon *start_daemon(struct api_server *s, int fd)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (s->tls)
        return MHD_start_daemon(
            flags | MHD_USE_TLS, 0, NULL, NULL, handle_request, s, MHD_OPTION_HTTPS_MEM_CERT,
            s->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem, MHD_OPTION_HTTPS_PRIORITIES,
            API_TLS_PRIORITIES, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_LISTEN_SOCKET,
            (MHD_socket)fd, MHD_OPTION_URI_LOG_CALLBACK, log_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
            request_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS_PER_IP,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MEMORY_PER_CONNECTION,
            MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
            MHD_OPTION_END);
    return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                            log_mhd, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_URI_LOG_CALLBACK, log_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                            request_completed, NULL, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)API_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)API_MAX_CONNECTIONS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)API_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)API_MEMORY_PER_CONNECTION, MHD_OPTION_STRICT_FOR_CLIENT, 1,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
}

static void server_free(struct api_server *s)
{
    pthread_mutex_destroy(&s->bulk_lock);
    pthread_mutex_destroy(&s->write_lock);
    pthread_mutex_destroy(&s->refusal_lock);
    free(s->last_writes);
    pthread_mutex_destroy(&s->sampler_lock);
    pthread_cond_destroy(&s->sampler_wake);
    api_rate_free(&s->rates);
    free(s->gateway_name);
    free(s->version);
    free(s->tls_cert_pem);
    if (s->tls_key_pem) {
        OPENSSL_cleanse(s->tls_key_pem, strlen(s->tls_key_pem));
        free(s->tls_key_pem);
    }
    free(s);
}

static struct api_server *server_new(const struct api_context *ctx)
{
    struct api_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->lvt = ctx->lvt;
    s->stats = ctx->stats;
    s->boundary = ctx->boundary;
    s->historian = ctx->historian;
    s->north_status = ctx->north_status;
    s->north_arg = ctx->north_arg;
    s->link_status = ctx->link_status;
    s->link_arg = ctx->link_arg;
    s->auth = ctx->auth;
    s->audit = ctx->audit;
    s->alerts = ctx->alerts;
    if (ctx->write_port) s->write_port = *ctx->write_port;
    s->reload = ctx->reload;
    s->reload_arg = ctx->reload_arg;
    pthread_mutex_init(&s->write_lock, NULL);
    pthread_mutex_init(&s->refusal_lock, NULL);
    s->gateway_name = strdup(ctx->gateway_name ? ctx->gateway_name : "airlock");
    s->version = strdup(ctx->version ? ctx->version : "unknown");
    s->started_ns = clock_now_ns();
    pthread_mutex_init(&s->bulk_lock, NULL);
    pthread_mutex_init(&s->sampler_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->sampler_wake, &attr);
    pthread_condattr_destroy(&attr);
    api_rate_init(&s->rates);
    if (ctx->tls_cert_pem && ctx->tls_key_pem) {
        s->tls = true;
        s->tls_cert_pem = strdup(ctx->tls_cert_pem);
        s->tls_key_pem = strdup(ctx->tls_key_pem);
    }
    if (!s->gateway_name || !s->version || (s->tls && (!s->tls_cert_pem || !s->tls_key_pem))) {
        server_free(s);
        return NULL;
    }
    return s;
}

struct api_server *api_start(const char *listen_addr, const struct api_context *ctx, char *err,
                             size_t err_len)
{
    char host[256], why[128];
    uint16_t port;
    if (!listen_addr || !ctx || !ctx->lvt) {
        snprintf(err, err_len, "cannot start the HTTP server: no address or no last-value table");
        return NULL;
    }
    if (!api_listen_addr_parse(listen_addr, host, sizeof host, &port, why, sizeof why)) {
        snprintf(err, err_len, "invalid HTTP listen address \"%.200s\": %s", listen_addr, why);
        return NULL;
    }
    struct api_server *s = server_new(ctx);
    if (!s) {
        snprintf(err, err_len, "cannot start the HTTP server on %s: out of memory", listen_addr);
        return NULL;
    }
    int fd = open_listen_socket(listen_addr, host, port, err, err_len);
    if (fd < 0) {
        server_free(s);
        return NULL;
    }
    s->port = bound_port(fd);
    s->daemon = start_daemon(s, fd);
    if (!s->daemon) {
        if (still_our_listener(fd, s->port)) close(fd);
        snprintf(err, err_len, "cannot listen on %s: the HTTP%s daemon did not start%s",
                 listen_addr, s->tls ? "S" : "",
                 s->tls ? " (is the certificate or key unusable? see the debug log)" : "");
        server_free(s);
        return NULL;
    }
    if (!api_sampler_start(s)) {
        MHD_stop_daemon(s->daemon);
        snprintf(err, err_len, "cannot start the HTTP server on %s: no sampler thread",
                 listen_addr);
        server_free(s);
        return NULL;
    }
    log_info("api", "HTTP server listening", "listen=%s port=%u scheme=%s", listen_addr,
             (unsigned)s->port, s->tls ? "https" : "http");
    return s;
}

void api_stop(struct api_server *s)
{
    if (!s) return;
    atomic_store(&s->stopping, true); /* streams see it within API_STOP_CHECK_MS */
    api_sampler_stop(s);
    MHD_stop_daemon(s->daemon); /* joins every connection thread; closes the socket */
    server_free(s);
}

uint16_t api_port(const struct api_server *s)
{
    return s ? s->port : 0;
}
