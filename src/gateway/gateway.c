/* Gateway assembly: configuration -> tags, drivers, boundary, last-value
 * table, HTTP API; and reload. */
#include "gateway/gateway.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/version.h"
#include "core/clock.h"
#include "core/log.h"
#include "drivers/driver.h"

#define BOUNDARY_CAPACITY_BATCHES 8192
#define BOUNDARY_SEND_WAIT_MS 200

/* What one configuration runs on the OT side. */
struct ot_side {
    struct config cfg;
    uint32_t *tag_ids; /* per device, per group, per tag: ids in the tag table */
    struct driver **drivers;
    size_t driver_count;
};

struct gateway {
    struct ot_side ot;
    struct boundary *boundary;
    struct lvt *lvt;
    struct stats_registry stats;
    pthread_t consumer;
    atomic_bool consumer_stop;
    struct api_server *api;
    char *http_listen;
    bool http_listen_pinned; /* given on the command line: a reload keeps it */
    char *name;
};

static void *consume_boundary(void *arg)
{
    struct gateway *g = arg;
    for (;;) {
        struct sample_batch *b = boundary_receive(g->boundary, 100);
        if (b) {
            lvt_apply_batch(g->lvt, b);
            sample_batch_free(b);
        } else if (atomic_load(&g->consumer_stop)) {
            return NULL;
        }
    }
}

/* Waits until every batch sent so far has been applied. */
static void drain_boundary(struct gateway *g)
{
    for (int i = 0; i < 500; i++) {
        struct boundary_counters c;
        boundary_get_counters(g->boundary, &c);
        if (c.queued == 0) break;
        clock_sleep_until_ms(clock_mono_ms() + 2);
    }
    /* The consumer may still hold the last batch it took: applying it takes
     * the LVT's write lock, so taking it once here waits for that. */
    pthread_rwlock_wrlock(&g->lvt->lock);
    pthread_rwlock_unlock(&g->lvt->lock);
}

static bool build_tags(const struct config *cfg, struct tag_table *tags, uint32_t **ids_out,
                       char *err, size_t err_len)
{
    size_t n = config_tag_count(cfg);
    uint32_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids || n > UINT32_MAX / 4 || !tag_table_reserve(tags, (uint32_t)n)) {
        free(ids);
        goto nomem;
    }
    size_t k = 0;
    for (size_t d = 0; d < cfg->device_count; d++)
        for (size_t gi = 0; gi < cfg->devices[d].group_count; gi++) {
            const struct config_poll_group *grp = &cfg->devices[d].groups[gi];
            for (size_t t = 0; t < grp->tag_count; t++) {
                int64_t id = tag_table_add(tags, &grp->tags[t].tag);
                if (id < 0) {
                    snprintf(err, err_len, "tag '%s': duplicate or out of memory",
                             grp->tags[t].tag.path);
                    free(ids);
                    tag_table_clear(tags);
                    return false;
                }
                ids[k++] = (uint32_t)id;
            }
        }
    *ids_out = ids;
    return true;
nomem:
    snprintf(err, err_len, "out of memory building the tag table");
    return false;
}

static void ot_stop(struct ot_side *ot)
{
    for (size_t i = 0; i < ot->driver_count; i++)
        driver_stop(ot->drivers[i]);
    free(ot->drivers);
    free(ot->tag_ids);
    config_free(&ot->cfg);
    memset(ot, 0, sizeof *ot);
}

/* Starts the drivers of ot->cfg (tag ids already assigned). */
static bool ot_start(struct gateway *g, struct ot_side *ot, char *err, size_t err_len)
{
    const struct config *cfg = &ot->cfg;
    struct device_stats *stats = stats_registry_reset(&g->stats, cfg->device_count);
    ot->drivers = calloc(cfg->device_count ? cfg->device_count : 1, sizeof *ot->drivers);
    if (!stats || !ot->drivers) {
        snprintf(err, err_len, "out of memory starting devices");
        return false;
    }
    size_t first_tag = 0;
    for (size_t d = 0; d < cfg->device_count; d++) {
        const struct config_device *dev = &cfg->devices[d];
        struct driver_env env = {
            .boundary = g->boundary,
            .stats = &stats[d],
            .device_index = (uint32_t)d,
            .tag_ids = ot->tag_ids + first_tag,
        };
        for (size_t gi = 0; gi < dev->group_count; gi++)
            first_tag += dev->groups[gi].tag_count;
        ot->drivers[d] = driver_start(dev, &env, err, err_len);
        if (!ot->drivers[d]) return false;
        ot->driver_count = d + 1;
    }
    return true;
}

/* Builds the tag table for cfg, moves it into the LVT, and starts drivers.
 * Takes cfg. On failure nothing runs. */
static bool ot_from_config(struct gateway *g, struct config *cfg, char *err, size_t err_len)
{
    struct ot_side ot = {.cfg = *cfg};
    memset(cfg, 0, sizeof *cfg);
    struct tag_table tags;
    tag_table_init(&tags);
    if (!build_tags(&ot.cfg, &tags, &ot.tag_ids, err, err_len)) {
        config_free(&ot.cfg);
        return false;
    }
    if (!lvt_replace_tags(g->lvt, &tags)) {
        snprintf(err, err_len, "out of memory building the last-value table");
        tag_table_clear(&tags);
        ot_stop(&ot);
        return false;
    }
    if (!ot_start(g, &ot, err, err_len)) {
        ot_stop(&ot);
        return false;
    }
    g->ot = ot;
    return true;
}

static bool start_api(struct gateway *g, char *err, size_t err_len)
{
    struct api_context ctx = {
        .lvt = g->lvt,
        .stats = &g->stats,
        .boundary = g->boundary,
        .gateway_name = g->name,
        .version = AIRLOCK_VERSION,
    };
    g->api = api_start(g->http_listen, &ctx, err, err_len);
    return g->api != NULL;
}

struct gateway *gateway_start(struct config *cfg, const struct gateway_options *opt, char *err,
                              size_t err_len)
{
    struct gateway *g = calloc(1, sizeof *g);
    if (!g) {
        config_free(cfg);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    stats_registry_init(&g->stats);
    g->boundary = boundary_create(BOUNDARY_CAPACITY_BATCHES, BOUNDARY_SEND_WAIT_MS);
    g->lvt = lvt_create();
    g->name = strdup(cfg->name ? cfg->name : "airlock");
    g->http_listen = strdup(opt && opt->http_listen ? opt->http_listen : cfg->http_listen);
    g->http_listen_pinned = opt && opt->http_listen;
    if (!g->boundary || !g->lvt || !g->name || !g->http_listen) {
        config_free(cfg);
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    if (pthread_create(&g->consumer, NULL, consume_boundary, g) != 0) {
        config_free(cfg);
        snprintf(err, err_len, "cannot start the boundary consumer thread");
        goto fail;
    }
    /* The API first: if its address is taken, nothing else starts. */
    if (!(opt && opt->no_http) && !start_api(g, err, err_len)) {
        config_free(cfg);
        atomic_store(&g->consumer_stop, true);
        boundary_close(g->boundary);
        pthread_join(g->consumer, NULL);
        goto fail;
    }
    if (!ot_from_config(g, cfg, err, err_len)) {
        api_stop(g->api);
        atomic_store(&g->consumer_stop, true);
        boundary_close(g->boundary);
        pthread_join(g->consumer, NULL);
        goto fail;
    }
    malloc_trim(0); /* give back what parsing the configuration used */
    return g;
fail:
    boundary_destroy(g->boundary);
    lvt_destroy(g->lvt);
    stats_registry_destroy(&g->stats);
    free(g->name);
    free(g->http_listen);
    free(g);
    return NULL;
}

bool gateway_reload(struct gateway *g, struct config *cfg, char *err, size_t err_len)
{
    /* Check what can be checked before stopping anything: the tag table. */
    struct tag_table probe;
    tag_table_init(&probe);
    uint32_t *probe_ids = NULL;
    if (!build_tags(cfg, &probe, &probe_ids, err, err_len)) {
        config_free(cfg);
        return false;
    }
    tag_table_clear(&probe);
    free(probe_ids);

    bool listen_changed = !g->http_listen_pinned && strcmp(cfg->http_listen, g->http_listen) != 0;

    ot_stop(&g->ot);
    drain_boundary(g);
    if (!ot_from_config(g, cfg, err, err_len)) {
        log_error("gateway", "reload failed after stopping the old devices", "error=\"%s\"", err);
        return false;
    }
    if (listen_changed && g->api) {
        char *old = g->http_listen;
        g->http_listen = strdup(g->ot.cfg.http_listen);
        api_stop(g->api);
        char api_err[256];
        if (!g->http_listen || !start_api(g, api_err, sizeof api_err)) {
            log_error("gateway", "new HTTP address refused, keeping the old one",
                      "listen=%s error=\"%s\"", g->ot.cfg.http_listen, api_err);
            free(g->http_listen);
            g->http_listen = old;
            start_api(g, api_err, sizeof api_err);
        } else {
            free(old);
        }
    }
    malloc_trim(0);
    return true;
}

void gateway_stop(struct gateway *g)
{
    if (!g) return;
    api_stop(g->api);
    ot_stop(&g->ot);
    drain_boundary(g);
    atomic_store(&g->consumer_stop, true);
    boundary_close(g->boundary);
    pthread_join(g->consumer, NULL);
    boundary_destroy(g->boundary);
    lvt_destroy(g->lvt);
    stats_registry_destroy(&g->stats);
    free(g->name);
    free(g->http_listen);
    free(g);
}

struct lvt *gateway_lvt(struct gateway *g)
{
    return g->lvt;
}

struct stats_registry *gateway_stats(struct gateway *g)
{
    return &g->stats;
}

struct boundary *gateway_boundary(struct gateway *g)
{
    return g->boundary;
}

const char *gateway_http_listen(struct gateway *g)
{
    return g->http_listen;
}
