/* A running gateway assembled from a configuration: the OT side (one driver
 * per device), the one-way boundary, and the IT side (boundary consumer into
 * the last-value table, HTTP API). Also handles a configuration reload:
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

struct gateway;

struct gateway_options {
    const char
        *http_listen; /* overrides the configuration's http.listen when non-NULL, also on reload */
    bool no_http;     /* start no HTTP server (benchmarks) */
};

/* Starts everything for cfg, taking ownership of its contents (cfg is left
 * zeroed) on success and on failure. NULL with a message in err when
 * something cannot start (HTTP address in use, a device's plan invalid). */
struct gateway *gateway_start(struct config *cfg, const struct gateway_options *opt, char *err,
                              size_t err_len);

/* Replaces the running configuration with cfg (taking ownership in every
 * case). On failure the old configuration keeps running and err says why. */
bool gateway_reload(struct gateway *g, struct config *cfg, char *err, size_t err_len);

/* Stops drivers, drains the boundary, stops the API; frees everything. */
void gateway_stop(struct gateway *g);

/* For benchmarks and tests. */
struct lvt *gateway_lvt(struct gateway *g);
struct stats_registry *gateway_stats(struct gateway *g);
struct boundary *gateway_boundary(struct gateway *g);
/* The HTTP address being served ("127.0.0.1:8080"). */
const char *gateway_http_listen(struct gateway *g);

#endif
