/* Private to src/api: the server object, limits, the pure text helpers
 * (tested in tests/unit/test_api.c) and the route handlers each file of the
 * module provides. Nothing outside src/api includes this. */
#ifndef AIRLOCK_API_API_INTERNAL_H
#define AIRLOCK_API_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/web_assets.h"
#include "auth/auth.h"
#include "core/lvt.h"
#include "core/tag.h"

/* Limits. */
#define API_MAX_URI_BYTES 2048          /* longer request targets get 414 */
#define API_MAX_CONNECTIONS 256         /* concurrent connections, all clients */
#define API_MAX_CONNECTIONS_PER_IP 128  /* one client cannot take every slot */
#define API_MAX_STREAMS 192             /* concurrent event streams (each holds a thread) */
#define API_CONNECTION_TIMEOUT_S 30     /* idle connections are closed after this */
#define API_MEMORY_PER_CONNECTION 32768 /* request line + headers must fit */
#define API_STREAM_BLOCK_BYTES 16384    /* what the event stream hands MHD at once */
#define API_STREAM_MIN_INTERVAL_MS 250  /* at most one update event per interval */
#define API_STREAM_KEEPALIVE_MS 15000   /* a comment line when nothing else was sent */
#define API_STREAM_RETRY_MS 3000        /* reconnect delay suggested to EventSource */
#define API_STREAM_RECHECK_MS 2000      /* an open stream checks its credential this often */
#define API_STOP_CHECK_MS 250           /* how often blocking code looks at the stop flag */
#define API_RATE_WINDOW_SAMPLES 11      /* one per second: a 10 s window for values/s */
#define API_SAMPLER_INTERVAL_MS 1000
#define API_LOCK_SLICE_TAGS 2048   /* tags serialised per hold of the LVT read lock */
#define API_TAG_LIST_RETRIES 3     /* tag set replaced while listing: start over this often */
#define API_MAX_BODY_BYTES 16384   /* request bodies (login, write); larger ones get 413 */
#define API_MAX_LOGINS_IN_FLIGHT 4 /* concurrent password checks (each ~32 MiB, ~0.1 s) */
#define API_SESSION_COOKIE "airlock_session"
#define API_CSRF_HEADER "X-CSRF-Token"

/* --- The route table (api_dispatch.c) --- */

enum api_route_id {
    API_ROUTE_HEALTH,
    API_ROUTE_LOGIN,
    API_ROUTE_LOGOUT,
    API_ROUTE_SESSION,
    API_ROUTE_TAGS,
    API_ROUTE_TAG,
    API_ROUTE_TAG_WRITE,
    API_ROUTE_STREAM,
    API_ROUTE_HISTORY,
    API_ROUTE_HISTORY_AT,
    API_ROUTE_ALERTS,
    API_ROUTE_AUDIT,
    API_ROUTE_USERS,
    API_ROUTE_TOKENS,
    API_ROUTE_METRICS,
    API_ROUTE_RELOAD,
    API_ROUTE_ASSET,
};

enum api_route_shape {
    API_SHAPE_EXACT,     /* the path exactly */
    API_SHAPE_TAG,       /* path + a tag path */
    API_SHAPE_TAG_WRITE, /* path + a tag path + "/write" */
    API_SHAPE_ASSET,     /* a file of the embedded dashboard */
};

#define API_PUBLIC 0u /* a route's need: no authentication */

struct api_route {
    enum api_route_id id;
    const char *method; /* "GET" (HEAD too) or "POST" */
    const char *path;
    enum api_route_shape shape;
    unsigned need; /* API_PUBLIC or the least enum auth_role allowed */
};

extern const struct api_route api_routes[];
extern const size_t api_route_count;

enum api_match {
    API_MATCH_OK,
    API_MATCH_NOT_FOUND, /* no route has this path */
    API_MATCH_METHOD,    /* the path exists, not with this method */
};

/* Finds the route for method and path (already percent-decoded). On
 * API_MATCH_OK *route is set and, for tag routes, *param / *param_len give
 * the tag path inside path (not NUL-terminated). On API_MATCH_METHOD allow
 * (when non-NULL) receives the Allow header's value. Pure. */
enum api_match api_route_match(const char *method, const char *path, const struct api_route **route,
                               const char **param, size_t *param_len, char *allow,
                               size_t allow_len);
/* "public", "viewer", ... for a route's need. */
const char *api_access_name(unsigned need);

/* How a request proved who it is. */
enum api_credential {
    API_CRED_NONE = 0,
    API_CRED_TOKEN,   /* Authorization: Bearer alk_... */
    API_CRED_SESSION, /* the session cookie (browser) */
};

/* Per-request state (MHD's *req_cls), from the URI callback to the
 * completion callback. */
struct api_request {
    bool uri_too_long;
    bool started; /* the first call (headers) was handled */
    const struct api_route *route;
    size_t param_offset, param_len; /* the tag path inside the URL */
    enum api_credential via;
    struct auth_principal who;
    char session_id[AUTH_SECRET_TEXT_SIZE];
    char csrf[AUTH_SECRET_TEXT_SIZE]; /* the session's CSRF token */
    char token[64];                   /* the API token presented (for streams to check it again) */
    char *body;                       /* the request body, NUL-terminated (POST) */
    size_t body_len;
    bool body_too_large;
    char peer[64];       /* the client's address, for logs and the audit trail */
    const char *refusal; /* why api_authorize refused: "refused_unauthenticated", ... */
};

/* A growable text buffer. On allocation failure it stops growing and sets
 * failed; later appends do nothing, so callers check once at the end. */
struct api_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    bool failed;
};

void api_buf_init(struct api_buf *b);
void api_buf_free(struct api_buf *b);
void api_buf_append(struct api_buf *b, const char *bytes, size_t len);
void api_buf_puts(struct api_buf *b, const char *s);
void api_buf_printf(struct api_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Per-device values/s over a sliding window, fed once per second by the
 * sampler. Series are matched by device name, so a reload keeps the
 * history of devices that stay. */
struct api_rate_series {
    char name[64];
    int64_t t_ms[API_RATE_WINDOW_SAMPLES];
    uint64_t count[API_RATE_WINDOW_SAMPLES];
    unsigned n;    /* samples held, up to API_RATE_WINDOW_SAMPLES */
    unsigned next; /* where the next sample goes */
};

struct api_rate_tracker {
    struct api_rate_series *series;
    size_t count;
};

void api_rate_init(struct api_rate_tracker *tr);
void api_rate_free(struct api_rate_tracker *tr);
/* Records counts[i] of device names[i] at now_ms. Devices not named are
 * forgotten; a counter that went backwards restarts its series. Returns
 * false on ENOMEM (the tracker is then unchanged). */
bool api_rate_update(struct api_rate_tracker *tr, const char *const *names, const uint64_t *counts,
                     size_t n, int64_t now_ms);
/* The rate of the named device over its window, 0 when unknown or when
 * fewer than two samples are held. */
double api_rate_get(const struct api_rate_tracker *tr, const char *name);

/* Failed credentials per client address, for the "repeated authentication
 * failures" alert: API_FAILURE_ALERT_COUNT within API_FAILURE_WINDOW_NS. */
#define API_FAILURE_PEERS 64
#define API_FAILURE_ALERT_COUNT 5
#define API_FAILURE_WINDOW_NS (60LL * 1000000000)
struct api_failure_count {
    char peer[64];
    int64_t window_start_ns;
    unsigned count;
};

/* When a tag was last written (the write gate's minimum interval). */
struct api_last_write {
    char path[TAG_PATH_MAX];
    int64_t at_ns;
};

/* The running server. */
struct api_server {
    struct MHD_Daemon *daemon;
    struct lvt *lvt;
    struct stats_registry *stats;
    struct boundary *boundary;
    struct historian *historian; /* NULL when history is disabled */
    struct north_status *(*north_status)(void *arg, size_t *count); /* may be NULL */
    void *north_arg;
    bool (*link_status)(void *arg, struct link_receiver_status *out); /* may be NULL */
    void *link_arg;
    char *gateway_name; /* owned copies */
    char *version;
    uint16_t port;
    atomic_bool stopping;
    atomic_int streams; /* open event streams */
    int64_t started_ns; /* uptime fallback when there is no stats registry */

    pthread_t sampler;
    bool sampler_running;
    /* Held by whoever serialises many tags (listings, snapshots, large
     * updates): one bulk reader at a time leaves the LVT read lock free
     * between slices, so the boundary consumer (the only writer) gets in
     * even though glibc's default rwlock prefers readers. */
    pthread_mutex_t bulk_lock;

    struct auth *auth;     /* may be NULL: every authenticated route answers 503 */
    struct audit *audit;   /* may be NULL */
    struct alerts *alerts; /* may be NULL: GET /api/v1/alerts answers 503 */
    bool tls;              /* serving HTTPS (cookies get Secure) */
    char *tls_cert_pem;    /* owned copies while the daemon runs */
    char *tls_key_pem;
    struct api_write_port write_port; /* a copy; lookup NULL when writes are impossible */
    int (*reload)(void *arg, const char *actor, char *message, size_t message_len);
    void *reload_arg;
    pthread_mutex_t write_lock;         /* one write at a time (gate check to read-back) */
    struct api_last_write *last_writes; /* per tag path: the last allowed write */
    size_t last_write_count, last_write_cap;
    atomic_int logins_in_flight;
    pthread_mutex_t refusal_lock;                         /* guards the fields below */
    struct api_failure_count failures[API_FAILURE_PEERS]; /* per client address */
    int64_t refusal_audited_ns;   /* the last anonymous write refusal recorded */
    uint64_t refusals_unrecorded; /* anonymous refusals since, not recorded one by one */

    pthread_mutex_t sampler_lock; /* guards rates and wakes the sampler */
    pthread_cond_t sampler_wake;
    struct api_rate_tracker rates;
};

/* --- Pure text helpers (api_text.c) --- */

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool api_utf8_valid(const char *s, size_t len);

/* Decodes %XX escapes of s in place and returns the new length. An escape
 * that is not two hex digits, and %00 (which would cut the string short and
 * make "/api/v1/health%00junk" look like "/api/v1/health"), are left as
 * they are, so such a path matches no route. */
size_t api_percent_decode(char *s);
/* A JSON string of s[0..len): invalid UTF-8 bytes become U+FFFD, so raw
 * bytes from a device never break the document. NULL only on ENOMEM. */
json_t *api_json_string(const char *s, size_t len);

/* Checks a ?prefix= value (decoded) and copies it into out without a
 * trailing '/'. An empty value means "everything" (out becomes "").
 * Otherwise it must be 1..8 segments of [A-Za-z0-9_.-] as in a tag path.
 * On failure writes the reason (which never quotes the input) to why. */
bool api_prefix_parse(const char *raw, size_t raw_len, char *out, size_t out_len, char *why,
                      size_t why_len);
/* True when path is prefix or lies under it, matching whole segments:
 * "a/b" matches "a/b" and "a/b/c", not "a/bc". "" matches everything. */
bool api_prefix_matches(const char *prefix, const char *path);

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port. On failure writes
 * a reason to why and returns false. */
bool api_listen_addr_parse(const char *addr, char *host, size_t host_len, uint16_t *port, char *why,
                           size_t why_len);

/* Appends s as a Prometheus label value (backslash, quote and newline
 * escaped), without the surrounding quotes. */
void api_prom_label_escape(struct api_buf *b, const char *s);

/* --- JSON of tags (api_json.c) --- */

/* One tag as JSON. full adds type, unit and description (snapshots and
 * GET routes); without it the object carries what changes: path, value,
 * quality, quality_code, timestamp, timestamp_ms. NULL on ENOMEM. Call with
 * the LVT read lock held. */
json_t *api_tag_json(const struct tag *tag, const struct lvt_entry *e, bool full);
/* The value of e as JSON: typed, null before the first sample and for
 * NaN/Inf, a decimal string for uint64 above INT64_MAX. */
json_t *api_value_json(const struct lvt_entry *e);
/* An RFC 3339 UTC string with ms, or null for 0. */
json_t *api_time_json(int64_t ts_ns);
/* Compact text of j (doubles with 15 significant digits); malloc'd, NULL on
 * ENOMEM. Does not take j. */
char *api_json_dump(const json_t *j);

/* Appends the compact JSON text of j to b (b->failed on error). */
bool api_buf_append_json(struct api_buf *b, const json_t *j);
/* Appends one tag object (see api_tag_json) to b. Call with the read lock. */
bool api_buf_append_tag(struct api_buf *b, const struct tag *tag, const struct lvt_entry *e,
                        bool full);
/* Appends every tag under prefix as full JSON objects separated by commas
 * (no brackets) and stores how many in *count. Holds s->bulk_lock and takes
 * the LVT read lock in slices of API_LOCK_SLICE_TAGS tags so the boundary
 * consumer never waits long, and starts over if the tag set is replaced meanwhile. When cursor /
 * generation are non-NULL they receive the change sequence and tag-set
 * generation the listing starts from. Returns false on ENOMEM. */
bool api_append_tags(struct api_server *s, const char *prefix, struct api_buf *out, size_t *count,
                     uint64_t *cursor, uint64_t *generation);

/* --- Responses (api_server.c) --- */

/* Adds the headers every response carries (nosniff, frame denial, no
 * referrer). */
void api_add_common_headers(struct MHD_Response *r);
/* Responses not yet queued, for callers that add headers (Set-Cookie,
 * WWW-Authenticate, Retry-After) first; NULL on ENOMEM. api_json_response
 * takes body in every case. api_queue queues r (NULL: MHD_NO) and drops
 * the caller's reference. */
struct MHD_Response *api_json_response(json_t *body);
struct MHD_Response *api_error_response(unsigned status, const char *message);
enum MHD_Result api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
/* Queues body (taken in every case) as application/json. */
enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *body);
/* Queues the text in b (taken in every case) with content_type. */
enum MHD_Result api_respond_buf(struct MHD_Connection *c, unsigned status, const char *content_type,
                                struct api_buf *b);
/* Queues {"error": {"code": status, "message": ...}}. The message must not
 * quote raw request bytes; it is made valid UTF-8 anyway. */
enum MHD_Result api_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The decoded value of query parameter name, NULL when absent; sets *bad
 * when the value holds a NUL byte (the caller answers 400). */
const char *api_query_arg(struct MHD_Connection *c, const char *name, bool *bad);
/* Reads the ?prefix= argument into out (see api_prefix_parse). On a bad
 * value queues a 400 naming the parameter, stores the queue result in
 * *queued and returns false. */
bool api_query_prefix(struct MHD_Connection *c, char *out, size_t out_len, enum MHD_Result *queued);

/* --- Authentication (api_auth.c) --- */

/* Establishes who sends the request (token or session cookie) and whether
 * the route allows it: fills req->via / req->who and returns true, or
 * queues 401 / 403 / 503 (result in *queued) and returns false. Checks the
 * CSRF token and Origin of state-changing requests made with a session. */
bool api_authorize(struct api_server *s, struct MHD_Connection *c, const char *method,
                   struct api_request *req, enum MHD_Result *queued);
/* The client's address as text into out ("127.0.0.1", "::1", "?"). */
void api_peer_text(struct MHD_Connection *c, char *out, size_t len);
/* Appends one record to the audit trail; false when there is none or the
 * append failed (logged at level error). */
bool api_audit(struct api_server *s, const char *actor, const char *action, const char *object,
               const char *old_value, const char *new_value, const char *reason,
               const char *outcome, const char *details);
/* Records a write that api_authorize refused (no credentials, role, CSRF):
 * with who and the refusal; anonymous ones at most once a second, with a
 * count of those in between. url is the request's path. */
void api_audit_refused_write(struct api_server *s, struct api_request *req, const char *url);
/* Counts a failed login or token from req's client; at the
 * API_FAILURE_ALERT_COUNT-th within the window raises an auth_failures
 * alert (monitor/alerts.h) naming the address. */
void api_note_auth_failure(struct api_server *s, const struct api_request *req, const char *what);
/* Whether the credential a request was authorised with (token text or
 * session id, by via) is still good now: not revoked, not expired, its user
 * not disabled. */
bool api_credential_still_valid(struct api_server *s, enum api_credential via, const char *secret);
/* The actor of a request for the audit trail: "user" or "user (token N)". */
void api_actor_text(const struct api_request *req, char *out, size_t len);

/* --- Writes (api_write.c) --- */

/* A value as text for logs and the audit trail ("true", "42", "12.5"). */
void api_value_text(const struct value *v, char *out, size_t len);
/* Converts the JSON "value" of a write to the tag's type: booleans for bool
 * tags, integers (or integral numbers) for int64 / uint64, any number for
 * double; strings are never writable. false with a reason otherwise. */
bool api_write_value_parse(const json_t *j, enum value_type type, struct value *out, char *why,
                           size_t why_len);

/* --- Routes --- */
enum MHD_Result api_route_login(struct api_server *s, struct MHD_Connection *c,
                                struct api_request *req); /* api_auth.c */
enum MHD_Result api_route_logout(struct api_server *s, struct MHD_Connection *c,
                                 struct api_request *req); /* api_auth.c */
enum MHD_Result api_route_session(struct MHD_Connection *c,
                                  const struct api_request *req);                 /* api_auth.c */
enum MHD_Result api_route_users(struct api_server *s, struct MHD_Connection *c);  /* api_auth.c */
enum MHD_Result api_route_tokens(struct api_server *s, struct MHD_Connection *c); /* api_auth.c */
enum MHD_Result api_route_audit(struct api_server *s, struct MHD_Connection *c);  /* api_audit.c */
enum MHD_Result api_route_reload(struct api_server *s, struct MHD_Connection *c,
                                 struct api_request *req); /* api_auth.c */
/* GET /api/v1/alerts from alerts (NULL: 503). api_alerts.c */
enum MHD_Result api_alerts_respond(struct alerts *alerts, struct MHD_Connection *c);
enum MHD_Result api_route_tag_write(struct api_server *s, struct MHD_Connection *c,
                                    struct api_request *req, const char *path); /* api_write.c */
/* Anonymous callers get only status, version and time. api_routes.c */
enum MHD_Result api_route_health(struct api_server *s, struct MHD_Connection *c,
                                 const struct api_request *req);
enum MHD_Result api_route_tags(struct api_server *s, struct MHD_Connection *c); /* api_routes.c */
enum MHD_Result api_route_tag(struct api_server *s, struct MHD_Connection *c,
                              const char *path); /* api_routes.c */
/* The stream ends within API_STREAM_RECHECK_MS once req's token is revoked,
 * its session ends or its user is disabled. api_stream.c */
enum MHD_Result api_route_stream(struct api_server *s, struct MHD_Connection *c, bool head,
                                 const struct api_request *req);
enum MHD_Result api_route_metrics(struct api_server *s,
                                  struct MHD_Connection *c); /* api_metrics.c */
enum MHD_Result api_route_history(struct api_server *s,
                                  struct MHD_Connection *c); /* api_history.c */
enum MHD_Result api_route_history_at(struct api_server *s,
                                     struct MHD_Connection *c); /* api_history.c */
/* The "history" object of /api/v1/health; *degraded tells whether the
 * historian reports a write problem. api_history.c */
json_t *api_history_health_json(struct api_server *s, bool *degraded);
/* The airlock_history_* families of /metrics. api_history.c */
void api_history_metrics_render(struct api_server *s, struct api_buf *out);
/* The "north" list of /api/v1/health; *degraded tells whether a
 * publisher is not connected or has an alarm. api_north.c */
json_t *api_north_health_json(struct api_server *s, bool *degraded);
/* The airlock_north_* families of /metrics. api_north.c */
void api_north_metrics_render(struct api_server *s, struct api_buf *out);
/* The embedded file for url ("/" means "/index.html"), or NULL. */
const struct web_asset *api_find_asset(const char *url); /* api_static.c */
enum MHD_Result api_route_asset(struct MHD_Connection *c,
                                const struct web_asset *a); /* api_static.c */

/* --- Metrics (api_metrics.c) --- */

/* Writes the whole Prometheus exposition into out. */
void api_metrics_render(struct api_server *s, struct api_buf *out);
/* Starts / stops the once-a-second values/s sampler. */
bool api_sampler_start(struct api_server *s);
void api_sampler_stop(struct api_server *s);

#endif
