/* The IT side's HTTP server: the REST API under /api/v1/, server-sent events
 * (/api/v1/stream), history queries (/api/v1/history), Prometheus metrics
 * (/metrics) and the embedded dashboard.
 *
 * It only reads: the last-value table, the device statistics, the
 * boundary's counters and the historian. Nothing here reaches the OT side. Routes, response
 * shapes and limits are documented in docs/api.md. */
#ifndef AIRLOCK_API_API_H
#define AIRLOCK_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "boundary/boundary.h"
#include "core/quality.h"
#include "core/value.h"
#include "gate/write_gate.h"
#include "historian/historian.h"
#include "core/lvt.h"
#include "core/stats.h"
#include "north/north.h"

struct alerts;
struct audit;
struct auth;
struct link_receiver_status;

/* What the write route needs to know about a tag (from the running
 * configuration). */
struct api_write_target {
    bool globally_enabled;      /* `write_gate: {enabled: true}` */
    bool has_policy;            /* the tag has a `write:` policy */
    struct write_policy policy; /* valid when has_policy */
    enum value_type type;
    char unit[64];
    char device[64];
    uint64_t generation; /* of the configuration this came from (for write) */
};

/* What a write did on the device. */
struct api_write_result {
    bool written;            /* the device acknowledged the write */
    bool read_back;          /* the value was read back afterwards */
    struct value value_read; /* the read-back value (not a string) */
    quality_t quality_read;
    char error[256]; /* why not, when !written or !read_back */
};

/* The only path from the IT side to a device, provided by the gateway; the
 * route calls write only after the write gate allowed the request. Both
 * functions are called from the server's threads. */
struct api_write_port {
    /* false when there is no tag at path */
    bool (*lookup)(void *arg, const char *path, struct api_write_target *out);
    /* false with out->error when the device did not take the value, or
     * when the configuration changed since lookup gave generation (the
     * gate's decision was about the old one: nothing is written) */
    bool (*write)(void *arg, const char *path, uint64_t generation, const struct value *v,
                  int timeout_ms, struct api_write_result *out);
    void *arg;
};

/* What a reload asked for through the API did. */
enum api_reload_outcome {
    API_RELOAD_OK = 0,
    API_RELOAD_REFUSED,     /* the file is invalid: the running configuration is kept */
    API_RELOAD_FAILED,      /* valid, but it could not be applied */
    API_RELOAD_NO_FILE,     /* nothing to reload (the demo plant) */
    API_RELOAD_UNAVAILABLE, /* another reload is running, or no answer in time */
};

struct api_context {
    struct lvt *lvt;              /* the IT side's last-value table (read-only here) */
    struct stats_registry *stats; /* device statistics (read-only here); may be NULL */
    struct boundary *boundary;    /* only for boundary_get_counters; may be NULL */
    struct historian *historian;  /* history queries and stats; NULL: history disabled */
    const char *gateway_name;
    const char *version;
    /* The publishers' status (docs/north.md): a malloc'd array the caller
     * frees, its length in *count; NULL with *count 0 when there are none.
     * May be NULL (no publishers). Called from the server's threads. */
    struct north_status *(*north_status)(void *arg, size_t *count);
    void *north_arg;
    /* Who may do what (users, tokens, sessions) and where logins and
     * writes are recorded; both may be NULL (no users: every route but
     * health answers 401; no audit: nothing recorded). Must outlive the
     * server. */
    struct audit *audit;
    struct auth *auth;
    /* The alerts store (monitor/alerts.h) served by GET /api/v1/alerts;
     * NULL: the route answers 503. Must outlive the server. */
    struct alerts *alerts;
    /* Writes to devices; NULL: none possible (the route says so). */
    const struct api_write_port *write_port;
    /* One-way mode, IT side (docs/oneway.md): fills *out with the link's
     * state and returns true; NULL (or false) when there is no link. Shown
     * as "link" in /api/v1/health and airlock_link_* in /metrics. Called
     * from the server's threads. */
    bool (*link_status)(void *arg, struct link_receiver_status *out);
    void *link_arg;
    /* POST /api/v1/reload: reloads the configuration file as SIGHUP does,
     * recorded in the audit trail with actor as who asked; blocks until
     * done. Returns an enum api_reload_outcome, with a message (the
     * error with file:line:col when refused). NULL: no reload possible. */
    int (*reload)(void *arg, const char *actor, char *message, size_t message_len);
    void *reload_arg;
    /* HTTPS: PEM certificate and private key (api_tls.h); both NULL for
     * plain HTTP. Copied by api_start. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

struct api_server;

/* Starts listening on listen_addr, "HOST:PORT" where HOST is an IPv4
 * address, a bracketed IPv6 address ("[::1]:8080") or a host name, and
 * serves requests from internal threads until api_stop. The context is
 * copied (its strings too); the lvt, stats, boundary and historian it
 * points to must outlive the server. Port 0 picks a free port (see api_port).
 * Returns NULL with a message in err (naming the address and the reason,
 * e.g. "cannot listen on 127.0.0.1:8080: Address already in use") on
 * failure; nothing is left running then. */
struct api_server *api_start(const char *listen_addr, const struct api_context *ctx, char *err,
                             size_t err_len);

/* Stops the server: open event streams end (within 250 ms), connections are
 * closed, threads joined and everything freed. Returns within about 1 s.
 * NULL is accepted and does nothing. */
void api_stop(struct api_server *s);

/* The TCP port the server listens on (useful after asking for port 0). */
uint16_t api_port(const struct api_server *s);

#endif
