/* A running gateway assembled from a configuration: the OT side (one driver
 * per device), the one-way boundary, and the IT side (boundary consumer into
 * the last-value table, the historian and the MQTT publishers, HTTP API).
 * Also handles a configuration reload:
 * drivers stop, the boundary drains, the tag set is swapped, drivers start
 * again; the HTTP server keeps running unless its address changed. */
#ifndef AIRLOCK_GATEWAY_GATEWAY_H
#define AIRLOCK_GATEWAY_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/lvt.h"
#include "core/stats.h"
#include "historian/historian.h"

struct gateway;

struct audit;
struct auth;

/* What a process runs (docs/oneway.md for the two halves of one-way mode). */
enum gateway_mode {
    GATEWAY_FULL = 0, /* `airlock run`: both zones, the in-process boundary between them */
    GATEWAY_OT,       /* `airlock ot`: drivers -> boundary -> link sender (cfg->link.destination);
                         no HTTP server, no historian, no publishers: nothing listens */
    GATEWAY_IT,       /* `airlock it`: link receiver (cfg->link.listen) -> boundary -> the IT
                         side (last values, historian, publishers, HTTP API); no drivers */
};

struct gateway_options {
    enum gateway_mode mode;
    const char
        *http_listen; /* overrides the configuration's http.listen when non-NULL, also on reload */
    bool no_http;     /* start no HTTP server (benchmarks) */
    /* The audit trail (logins, writes, link loss, alerts) and the users
     * database the HTTP API authenticates against; owned by the caller and
     * must outlive the gateway. NULL audit: nothing is recorded. NULL auth:
     * the API refuses every request but health (there is nobody to log in). */
    struct audit *audit;
    struct auth *auth;
    /* POST /api/v1/reload (see api.h): the caller's reload; NULL: none. */
    int (*reload)(void *arg, const char *actor, char *message, size_t message_len);
    void *reload_arg;
};

/* Starts everything for cfg, taking ownership of its contents (cfg is left
 * zeroed) on success and on failure. NULL with a message in err when
 * something cannot start (HTTP address in use, a device's plan invalid, the
 * history store cannot be opened: the message names its directory). */
struct gateway *gateway_start(struct config *cfg, const struct gateway_options *opt, char *err,
                              size_t err_len);

/* Replaces the running configuration with cfg (taking ownership in every
 * case). On failure the old configuration keeps running and err says why. */
bool gateway_reload(struct gateway *g, struct config *cfg, char *err, size_t err_len);

/* Stops drivers, drains the boundary, stops the API; frees everything. */
void gateway_stop(struct gateway *g);

/* IT mode: the link's state (false in other modes). */
struct link_receiver_status;
bool gateway_link_status(struct gateway *g, struct link_receiver_status *out);

/* For benchmarks and tests. */
struct lvt *gateway_lvt(struct gateway *g);
struct stats_registry *gateway_stats(struct gateway *g);
struct boundary *gateway_boundary(struct gateway *g);
/* The HTTP address being served ("127.0.0.1:8080"). */
const char *gateway_http_listen(struct gateway *g);
/* Whether the HTTP API serves HTTPS (http.tls; api/api_tls.h). */
bool gateway_http_tls(struct gateway *g);
/* The open historian, NULL when history is disabled. */
struct historian *gateway_historian(struct gateway *g);

/* Takes the advisory lock that keeps two processes off one history
 * directory: flock(LOCK_EX | LOCK_NB) on <dir>/LOCK, creating dir (and its
 * parents) first when create is true. Returns the descriptor to close when
 * done, or -1 with the reason in err (another process holds it, or an I/O
 * error). The gateway holds it while it runs; query and export take it too. */
int gateway_history_lock(const char *dir, bool create, char *err, size_t err_len);

/* Fills *o from cfg's history section for the store in dir; groups must
 * have room for cfg->history.group_count entries (they point into cfg).
 * background is left false. */
void gateway_history_options(const struct config *cfg, const char *dir,
                             struct hist_retention_group *groups, struct hist_options *o);

#endif
