/* Gateway assembly: configuration -> tags, drivers, boundary, last-value
 * table, historian, MQTT publishers, HTTP API; and reload. */
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "api/api_tls.h"
#include "audit/audit.h"
#include "cli/version.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "drivers/driver.h"
#include "drivers/opcua/ua_driver.h"
#include "monitor/alerts.h"
#include "monitor/ot_monitor.h"
#include "north/north.h"
#include "oneway/link_receiver.h"
#include "oneway/link_sender.h"

#define BOUNDARY_CAPACITY_BATCHES 8192
#define BOUNDARY_SEND_WAIT_MS 200

/* What one configuration runs on the OT side. */
struct ot_side {
    struct config cfg;
    uint32_t *tag_ids; /* per device, per group, per tag: ids in the tag table */
    struct driver **drivers;
    size_t driver_count;
};

/* The historian and the map from the running tag ids to its series. */
struct history_side {
    struct historian *store;  /* NULL when history is disabled */
    int lock_fd;              /* flock'd <dir>/LOCK, -1 when none */
    pthread_mutex_t map_lock; /* guards series_of and tag_count */
    int64_t *series_of;       /* tag id -> series id, -1 when the historian refused it */
    uint32_t tag_count;
    struct hist_sample *scratch; /* the consumer's conversion buffer */
    size_t scratch_cap;
};

struct gateway {
    struct ot_side ot;
    struct history_side hist;
    struct north *north;        /* the MQTT publishers; replaced on reload */
    pthread_mutex_t north_lock; /* guards the north pointer (consumer, API, reload) */
    struct boundary *boundary;
    struct lvt *lvt;
    struct stats_registry stats;
    pthread_t consumer;
    atomic_bool consumer_stop;
    struct api_server *api;
    char *http_listen;
    bool http_listen_pinned; /* given on the command line: a reload keeps it */
    /* HTTPS settings of the running configuration (api_tls.h); strings owned. */
    struct api_tls_options tls;
    bool http_tls; /* the API serves HTTPS now */
    char *name;
    struct audit *audit; /* the caller's; may be NULL */
    int (*reload)(void *arg, const char *actor, char *message, size_t message_len);
    void *reload_arg;
    struct auth *auth; /* the caller's; may be NULL */
    /* One-way mode (docs/oneway.md). */
    enum gateway_mode mode;
    bool consumer_running;          /* not in OT mode: the link sender consumes */
    struct link_sender *sender;     /* OT mode */
    struct link_receiver *receiver; /* IT mode */
    uint32_t link_id;
    pthread_mutex_t install_lock; /* IT mode: a table from the link vs a reload */
    /* Held while the running drivers are used by a write from the API, and
     * while they are replaced (reload) or stopped: a write never reaches a
     * driver being torn down. */
    pthread_mutex_t write_lock;
    struct api_write_port write_port;
    uint64_t config_generation;        /* +1 per reload, under write_lock */
    struct alerts *alerts;             /* raised by the OT monitor and the API */
    struct ot_monitor_runner *monitor; /* NULL when monitor.enabled is false */
};

/* Converts batches b[0..n) to historian samples and appends them in one
 * call: under strict durability that is one fsync for all of them (group
 * commit), so the consumer keeps up with many devices. A failed append
 * leaves the samples in the historian's memory and shows as degraded in its
 * stats; the gateway carries on. */
static void record_history(struct history_side *hs, struct sample_batch *const *b, size_t n)
{
    if (!hs->store) return;
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += b[k]->count;
    if (total == 0) return;
    if (total > hs->scratch_cap) {
        struct hist_sample *grown = realloc(hs->scratch, total * sizeof *grown);
        if (!grown) {
            log_warn("history", "out of memory: samples not recorded", "count=%zu", total);
            return;
        }
        hs->scratch = grown;
        hs->scratch_cap = total;
    }
    size_t m = 0;
    pthread_mutex_lock(&hs->map_lock);
    for (size_t k = 0; k < n; k++)
        for (uint32_t i = 0; i < b[k]->count; i++) {
            const struct sample *smp = &b[k]->samples[i];
            if (smp->tag_id >= hs->tag_count || hs->series_of[smp->tag_id] < 0) continue;
            hs->scratch[m++] = (struct hist_sample){.series = (uint32_t)hs->series_of[smp->tag_id],
                                                    .quality = smp->quality,
                                                    .ts_ns = smp->ts_ns,
                                                    .value = smp->value};
        }
    pthread_mutex_unlock(&hs->map_lock);
    if (m > 0) hist_append(hs->store, hs->scratch, m, NULL);
}

/* Batches taken from the boundary at once (those already waiting). */
#define CONSUME_MAX_BATCHES 256

/* A batch the link receiver puts into the boundary (IT mode) to say that
 * every tag's value is in doubt from now on (loss, or the link went down):
 * its one sample's quality says which. The consumer turns it, in order with
 * the data around it, into one sample per tag: the last value with that
 * quality, stamped now (tags already Bad keep their quality). */
#define LINK_MARK_DEVICE UINT32_MAX

static void mark_all_uncertain(struct gateway *g, struct sample_batch *b)
{
    quality_t q = b->count ? b->samples[0].quality : LINK_QUALITY_LOSS;
    int64_t now = clock_now_ns();
    sample_batch_reset(b);
    b->device_index = 0;
    lvt_read_lock(g->lvt);
    for (uint32_t i = 0; i < g->lvt->tags.count; i++) {
        const struct lvt_entry *e = &g->lvt->entries[i];
        if (e->seq == 0 || quality_is_bad(e->quality) || e->quality == q) continue;
        sample_batch_add(b, i, now, q, &e->value);
    }
    lvt_read_unlock(g->lvt);
}

static void *consume_boundary(void *arg)
{
    struct gateway *g = arg;
    struct sample_batch *taken[CONSUME_MAX_BATCHES];
    for (;;) {
        struct sample_batch *b = boundary_receive(g->boundary, 100);
        if (!b) {
            if (atomic_load(&g->consumer_stop)) return NULL;
            continue;
        }
        size_t n = 0;
        do {
            if (b->device_index == LINK_MARK_DEVICE) mark_all_uncertain(g, b);
            lvt_apply_batch(g->lvt, b);
            taken[n++] = b;
        } while (n < CONSUME_MAX_BATCHES && (b = boundary_receive(g->boundary, 0)));
        record_history(&g->hist, taken, n);
        pthread_mutex_lock(&g->north_lock);
        north_publish(g->north, taken, n);
        pthread_mutex_unlock(&g->north_lock);
        for (size_t i = 0; i < n; i++)
            sample_batch_free(taken[i]);
    }
}

/* Waits (up to 1 s) until every batch sent so far has been taken. With
 * for_new_table in OT mode, what the link has not taken by then is
 * dropped (counted in the log): it must not be sent under the next tag
 * table. */
static void drain_boundary_for(struct gateway *g, bool for_new_table)
{
    for (int i = 0; i < 500; i++) {
        struct boundary_counters c;
        boundary_get_counters(g->boundary, &c);
        if (c.queued == 0) break;
        clock_sleep_until_ms(clock_mono_ms() + 2);
    }
    if (for_new_table && g->mode == GATEWAY_OT) {
        /* What the link did not take within the wait must not be sent
         * under the next tag table (ids would point at other tags). */
        uint64_t dropped = 0;
        struct sample_batch *b;
        while ((b = boundary_receive(g->boundary, 0))) {
            dropped += b->count;
            sample_batch_free(b);
        }
        if (dropped)
            log_warn("link", "samples of the previous configuration not sent (the link was behind)",
                     "samples=%llu", (unsigned long long)dropped);
    }
    /* The consumer may still hold the last batch it took: applying it takes
     * the LVT's write lock, so taking it once here waits for that. */
    pthread_rwlock_wrlock(&g->lvt->lock);
    pthread_rwlock_unlock(&g->lvt->lock);
}

static void drain_boundary(struct gateway *g)
{
    drain_boundary_for(g, false);
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

int gateway_history_lock(const char *dir, bool create, char *err, size_t err_len)
{
    if (create && !fs_make_dirs(dir)) {
        snprintf(err, err_len, "cannot create the history directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, err_len,
                     "the history in %s is in use by another airlock process (a running gateway, "
                     "query or export); stop it first",
                     dir);
        else
            snprintf(err, err_len, "cannot lock %s: %s", path, strerror(e));
        return -1;
    }
    return fd;
}

void gateway_history_options(const struct config *cfg, const char *dir,
                             struct hist_retention_group *groups, struct hist_options *o)
{
    const struct config_history *ch = &cfg->history;
    hist_options_init(o);
    o->dir = dir;
    o->durability = ch->strict ? HIST_DURABILITY_STRICT : HIST_DURABILITY_BATCHED;
    o->fsync_interval_ms = ch->fsync_interval_ms;
    o->late_window_ns = ch->late_window_ns;
    o->partition_ns = ch->partition_ns;
    o->chunk_span_ns = ch->chunk_span_ns;
    o->checkpoint_interval_ms = (uint32_t)(ch->checkpoint_interval_ns / HIST_NS_PER_MS);
    for (size_t i = 0; i < ch->group_count; i++)
        groups[i] = (struct hist_retention_group){.name = ch->groups[i].name,
                                                  .prefix = ch->groups[i].prefix,
                                                  .max_age_ns = ch->groups[i].max_age_ns,
                                                  .max_bytes = ch->groups[i].max_bytes};
    o->groups = ch->group_count ? groups : NULL;
    o->group_count = ch->group_count;
}

/* Opens the historian cfg asks for (nothing when disabled). */
static bool history_open(struct history_side *hs, const struct config *cfg, char *err,
                         size_t err_len)
{
    hs->lock_fd = -1;
    if (!cfg->history.enabled) {
        log_info("history", "disabled by the configuration", NULL);
        return true;
    }
    char dir[4096], why[512];
    if (!config_history_dir(cfg, dir, sizeof dir)) {
        snprintf(err, err_len, "the history directory path is too long");
        return false;
    }
    hs->lock_fd = gateway_history_lock(dir, true, why, sizeof why);
    if (hs->lock_fd < 0) {
        snprintf(err, err_len, "cannot open the history store in %s: %s", dir, why);
        return false;
    }
    struct hist_retention_group *groups =
        calloc(cfg->history.group_count ? cfg->history.group_count : 1, sizeof *groups);
    struct hist_options o;
    if (!groups) {
        snprintf(err, err_len, "out of memory opening the history store");
    } else {
        gateway_history_options(cfg, dir, groups, &o);
        o.background = true;
        hs->store = hist_open(&o, why, sizeof why);
        if (!hs->store) snprintf(err, err_len, "cannot open the history store in %s: %s", dir, why);
    }
    free(groups);
    if (!hs->store) {
        close(hs->lock_fd);
        hs->lock_fd = -1;
        return false;
    }
    return true;
}

static void history_close(struct history_side *hs)
{
    hist_close(hs->store);
    hs->store = NULL;
    if (hs->lock_fd >= 0) close(hs->lock_fd);
    hs->lock_fd = -1;
    free(hs->series_of);
    hs->series_of = NULL;
    hs->tag_count = 0;
    free(hs->scratch);
    hs->scratch = NULL;
    hs->scratch_cap = 0;
}

/* The series of every tag in tags (the historian creates new ones). NULL
 * only when out of memory; a tag the historian refuses maps to -1. */
static int64_t *history_map(struct history_side *hs, const struct tag_table *tags)
{
    int64_t *map = malloc((tags->count ? tags->count : 1) * sizeof *map);
    if (!map) return NULL;
    uint32_t refused = 0;
    for (uint32_t i = 0; i < tags->count; i++) {
        map[i] = hist_series(hs->store, tags->tags[i].path, tags->tags[i].type);
        refused += map[i] < 0;
    }
    if (refused)
        log_warn("history", "some tags have no series: their samples are not recorded", "tags=%u",
                 refused);
    return map;
}

/* Points the consumer at the series of the new tag set. */
static void history_swap_map(struct history_side *hs, int64_t *map, uint32_t count)
{
    pthread_mutex_lock(&hs->map_lock);
    int64_t *old = hs->series_of;
    hs->series_of = map;
    hs->tag_count = map ? count : 0;
    pthread_mutex_unlock(&hs->map_lock);
    free(old);
}

/* Replaces the running publishers with n (NULL: none) and stops the old
 * ones, which spool what they still hold. */
static void north_swap(struct gateway *g, struct north *n)
{
    pthread_mutex_lock(&g->north_lock);
    struct north *old = g->north;
    g->north = n;
    pthread_mutex_unlock(&g->north_lock);
    north_stop(old);
}

/* The publishers' status for the API (see api_context.north_status). */
static struct north_status *gateway_north_status(void *arg, size_t *count)
{
    struct gateway *g = arg;
    *count = 0;
    pthread_mutex_lock(&g->north_lock);
    size_t n = north_count(g->north);
    struct north_status *st = n ? calloc(n, sizeof *st) : NULL;
    if (st) *count = north_get_status(g->north, st, n);
    pthread_mutex_unlock(&g->north_lock);
    return st;
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

/* Maps tags to history series, starts cfg's publishers for them (none in
 * OT mode) and moves them into the LVT. The old publishers must be stopped
 * already (they share the spool directories). Takes the contents of *tags
 * on success; on failure nothing changed and *tags is still the caller's. */
static bool install_tags(struct gateway *g, const struct config *cfg, struct tag_table *tags,
                         char *err, size_t err_len)
{
    int64_t *series = NULL;
    uint32_t tag_count = tags->count;
    if (g->hist.store && !(series = history_map(&g->hist, tags))) {
        snprintf(err, err_len, "out of memory mapping tags to history series");
        return false;
    }
    struct north *north = NULL;
    if (g->mode != GATEWAY_OT && !(north = north_start(cfg, tags, err, err_len))) {
        free(series);
        return false;
    }
    if (!lvt_replace_tags(g->lvt, tags)) {
        snprintf(err, err_len, "out of memory building the last-value table");
        north_stop(north);
        free(series);
        return false;
    }
    if (g->hist.store) history_swap_map(&g->hist, series, tag_count);
    north_swap(g, north);
    return true;
}

static bool link_send_tags(struct gateway *g, const struct config *cfg, char *err, size_t err_len);

/* Builds the tag table for cfg, installs it (install_tags; in OT mode also
 * on the link, before any sample of it), and starts drivers. Takes cfg. On
 * failure nothing runs. */
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
    if (!install_tags(g, &ot.cfg, &tags, err, err_len)) {
        tag_table_clear(&tags);
        ot_stop(&ot);
        return false;
    }
    if (g->mode == GATEWAY_OT && !link_send_tags(g, &ot.cfg, err, err_len)) {
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

/* ---- The write port (the only way from the API to a device) ---- */

/* Finds the configured tag at path: its device and its number within the
 * device (group-then-tag order, as the driver counts). Call with
 * write_lock held. */
static const struct config_tag *find_config_tag(const struct config *cfg, const char *path,
                                                size_t *device, size_t *index)
{
    for (size_t d = 0; d < cfg->device_count; d++) {
        size_t k = 0;
        for (size_t gi = 0; gi < cfg->devices[d].group_count; gi++) {
            const struct config_poll_group *grp = &cfg->devices[d].groups[gi];
            for (size_t t = 0; t < grp->tag_count; t++, k++)
                if (strcmp(grp->tags[t].tag.path, path) == 0) {
                    *device = d;
                    *index = k;
                    return &grp->tags[t];
                }
        }
    }
    return NULL;
}

static bool gateway_write_lookup(void *arg, const char *path, struct api_write_target *out)
{
    struct gateway *g = arg;
    size_t d, k;
    pthread_mutex_lock(&g->write_lock);
    const struct config_tag *t = find_config_tag(&g->ot.cfg, path, &d, &k);
    if (t) {
        memset(out, 0, sizeof *out);
        out->globally_enabled = g->ot.cfg.write_gate_enabled;
        out->has_policy = t->write.enabled;
        out->policy = t->write;
        out->type = t->tag.type;
        snprintf(out->unit, sizeof out->unit, "%s", t->tag.unit ? t->tag.unit : "");
        snprintf(out->device, sizeof out->device, "%s", g->ot.cfg.devices[d].name);
        out->generation = g->config_generation;
    }
    pthread_mutex_unlock(&g->write_lock);
    return t != NULL;
}

static bool gateway_write_value(void *arg, const char *path, uint64_t generation,
                                const struct value *v, int timeout_ms, struct api_write_result *out)
{
    struct gateway *g = arg;
    size_t d, k;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g->write_lock);
    bool ok = false;
    const struct config_tag *t = find_config_tag(&g->ot.cfg, path, &d, &k);
    if (generation != g->config_generation) {
        /* The gate decided under the previous configuration. */
        snprintf(out->error, sizeof out->error,
                 "the configuration was reloaded while the write waited: nothing was written; "
                 "send it again");
    } else if (!t || d >= g->ot.driver_count) {
        snprintf(out->error, sizeof out->error, "the tag's device is not running");
    } else if (!g->ot.cfg.write_gate_enabled || !t->write.enabled) {
        /* A reload between the gate's decision and now turned it off. */
        snprintf(out->error, sizeof out->error,
                 "writes to this tag were switched off by a reload meanwhile: nothing was written");
    } else {
        struct driver_write_result r;
        memset(&r, 0, sizeof r);
        ok = driver_write(g->ot.drivers[d], k, v, timeout_ms, &r);
        out->written = r.written;
        out->read_back = r.read_back;
        out->value_read = r.value_read;
        out->quality_read = r.quality_read;
        snprintf(out->error, sizeof out->error, "%s", r.error);
    }
    pthread_mutex_unlock(&g->write_lock);
    return ok;
}

/* ---- One-way mode: the two ends of the link (docs/oneway.md) ---- */

static bool load_link_key(const struct config *cfg, uint8_t key[LINK_KEY_BYTES], char *err,
                          size_t err_len)
{
    char why[512];
    if (link_key_load_file(cfg->link.key_file, key, why, sizeof why) == LINK_OK) return true;
    snprintf(err, err_len, "link key: %s", why);
    return false;
}

/* OT mode: starts the sender with the LVT's table, or gives it the new one
 * (a new session whose BIRTH goes before any later sample). */
static bool link_send_tags(struct gateway *g, const struct config *cfg, char *err, size_t err_len)
{
    if (g->sender) {
        if (link_sender_set_tags(g->sender, &g->lvt->tags)) return true;
        snprintf(err, err_len, "out of memory copying the tag table for the link");
        return false;
    }
    const struct config_link *l = &cfg->link;
    struct link_sender_options o = {.destination = l->destination,
                                    .link_id = l->link_id,
                                    .datagram_bytes = l->datagram_bytes,
                                    .redundancy = l->redundancy,
                                    .rate_limit_datagrams_per_s = l->rate_limit_datagrams_per_s,
                                    .birth_interval_ms = l->birth_interval_ms,
                                    .heartbeat_interval_ms = l->heartbeat_interval_ms,
                                    .source = g->boundary,
                                    .stats = &g->stats};
    if (!load_link_key(cfg, o.key, err, err_len)) return false;
    g->sender = link_sender_start(&o, &g->lvt->tags, err, err_len);
    OPENSSL_cleanse(o.key, sizeof o.key);
    return g->sender != NULL;
}

/* A record by "system" about the link (object "link <id>"). */
static void link_audit(struct gateway *g, const char *action, const char *new_value,
                       const char *details)
{
    if (!g->audit) return;
    char object[32], err[256];
    snprintf(object, sizeof object, "link %u", g->link_id);
    struct audit_record r = {.actor = "system",
                             .action = action,
                             .object = object,
                             .new_value = new_value ? new_value : "",
                             .outcome = "detected",
                             .details = details ? details : ""};
    if (audit_append(g->audit, &r, err, sizeof err) < 0)
        log_error("audit", "cannot append to the audit trail", "action=%s error=\"%s\"", action,
                  err);
}

/* The receiver's callbacks (its thread). A table from the link replaces the
 * running one the way a reload does: the boundary drains first, so no
 * sample of the old table is applied to the new one. */
static bool link_on_tags(void *arg, struct tag_table *tags, uint64_t session_id, uint32_t epoch)
{
    struct gateway *g = arg;
    char err[512];
    pthread_mutex_lock(&g->install_lock);
    drain_boundary(g);
    north_swap(g, NULL);
    bool ok = install_tags(g, &g->ot.cfg, tags, err, sizeof err);
    pthread_mutex_unlock(&g->install_lock);
    if (!ok)
        log_error("gateway", "cannot install the tag table from the link",
                  "session=%016llx epoch=%u error=\"%s\"", (unsigned long long)session_id, epoch,
                  err);
    return ok;
}

static void link_on_batch(void *arg, struct sample_batch *batch)
{
    struct gateway *g = arg;
    boundary_send(g->boundary, batch);
}

static void link_on_mark(void *arg, quality_t quality)
{
    struct gateway *g = arg;
    struct sample_batch *b = sample_batch_new(1);
    struct value v = {.type = VALUE_BOOL};
    if (!b || !sample_batch_add(b, UINT32_MAX, 0, quality, &v)) {
        sample_batch_free(b);
        return;
    }
    b->device_index = LINK_MARK_DEVICE;
    boundary_send(g->boundary, b);
}

static void link_on_loss(void *arg, const char *ranges, uint64_t numbers)
{
    char details[64];
    snprintf(details, sizeof details, "datagrams=%llu", (unsigned long long)numbers);
    link_audit(arg, "link_loss", ranges, details);
}

static void link_on_state(void *arg, enum link_state state, const char *details)
{
    link_audit(arg, state == LINK_STATE_UP ? "link_up" : "link_down", link_state_name(state),
               details);
}

/* Stores the values of a device received over the link into *d, atomically
 * as the drivers do (the texts only when init: they are fixed for a set). */
static void link_store_device(struct device_stats *d, const struct link_device *src, bool init)
{
    if (init) {
        snprintf(d->name, sizeof d->name, "%s", src->name);
        snprintf(d->protocol, sizeof d->protocol, "%s", src->protocol);
        snprintf(d->endpoint, sizeof d->endpoint, "%s", src->endpoint);
    }
    atomic_store(&d->polls, src->polls);
    atomic_store(&d->requests, src->requests);
    atomic_store(&d->errors, src->errors);
    atomic_store(&d->exceptions, src->exceptions);
    atomic_store(&d->timeouts, src->timeouts);
    atomic_store(&d->reconnects, src->reconnects);
    atomic_store(&d->values, src->values);
    atomic_store(&d->skipped_polls, src->skipped_polls);
    for (int i = 0; i < LINK_DEVICE_BUCKETS; i++)
        atomic_store(&d->latency_bucket[i], src->latency_bucket[i]);
    atomic_store(&d->latency_sum_us, src->latency_sum_us);
    atomic_store(&d->latency_count, src->latency_count);
    atomic_store(&d->state, (int)src->state);
    atomic_store(&d->last_success_ns, src->last_success_ns);
    atomic_store(&d->last_error_ns, src->last_error_ns);
    pthread_mutex_lock(&d->error_lock);
    snprintf(d->last_error, sizeof d->last_error, "%s", src->last_error);
    pthread_mutex_unlock(&d->error_lock);
}

static void link_init_device(struct device_stats *d, size_t i, void *ctx)
{
    link_store_device(d, (const struct link_device *)ctx + i, true);
}

/* IT mode: the OT side's device statistics replace the registry's values.
 * The same devices (names, protocols, endpoints, in order): values updated
 * in place; otherwise a fresh set, filled before readers see it. */
static void link_on_devices(void *arg, const struct link_device *devices, size_t n)
{
    struct gateway *g = arg;
    struct stats_registry *r = &g->stats;
    pthread_mutex_lock(&r->lock);
    bool same = r->count == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(r->devices[i].name, devices[i].name) == 0 &&
               strcmp(r->devices[i].protocol, devices[i].protocol) == 0 &&
               strcmp(r->devices[i].endpoint, devices[i].endpoint) == 0;
    for (size_t i = 0; same && i < n; i++)
        link_store_device(&r->devices[i], &devices[i], false);
    pthread_mutex_unlock(&r->lock);
    if (same) return;
    if (!stats_registry_reset_init(r, n, link_init_device, (void *)devices))
        log_error("link", "out of memory installing device statistics", "devices=%zu", n);
    else
        log_info("link", "device set received", "devices=%zu", n);
}

static bool link_receive(struct gateway *g, const struct config *cfg, char *err, size_t err_len)
{
    const struct config_link *l = &cfg->link;
    struct link_receiver_options o = {.listen = l->listen,
                                      .link_id = l->link_id,
                                      .datagram_bytes = l->datagram_bytes,
                                      .heartbeat_timeout_ms = l->heartbeat_timeout_ms,
                                      .cb = {.on_tags = link_on_tags,
                                             .on_batch = link_on_batch,
                                             .on_mark_uncertain = link_on_mark,
                                             .on_loss = link_on_loss,
                                             .on_state = link_on_state,
                                             .on_devices = link_on_devices,
                                             .ctx = g}};
    /* The newest sender time accepted, kept across restarts (replays). */
    char state_file[4096];
    snprintf(state_file, sizeof state_file, "%s/link-%u.state",
             cfg->data_dir ? cfg->data_dir : "./data", (unsigned)l->link_id);
    if (fs_make_dirs(cfg->data_dir ? cfg->data_dir : "./data")) o.state_file = state_file;
    if (!load_link_key(cfg, o.key, err, err_len)) return false;
    g->receiver = link_receiver_start(&o, err, err_len);
    OPENSSL_cleanse(o.key, sizeof o.key);
    return g->receiver != NULL;
}

/* IT mode: keeps cfg (for the publishers), starts with an empty table and
 * the receiver. Takes cfg. */
static bool it_from_config(struct gateway *g, struct config *cfg, char *err, size_t err_len)
{
    g->ot.cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    struct tag_table empty;
    tag_table_init(&empty);
    if (!install_tags(g, &g->ot.cfg, &empty, err, err_len) ||
        !link_receive(g, &g->ot.cfg, err, err_len)) {
        tag_table_clear(&empty);
        north_swap(g, NULL);
        config_free(&g->ot.cfg);
        return false;
    }
    return true;
}

/* IT mode reload: the tag table stays (it comes from the link); the
 * publishers start again with the new configuration. Takes cfg. */
static bool it_reload(struct gateway *g, struct config *cfg, char *err, size_t err_len)
{
    struct tag_table tags;
    tag_table_init(&tags);
    pthread_mutex_lock(&g->install_lock);
    lvt_read_lock(g->lvt);
    bool ok = tag_table_reserve(&tags, g->lvt->tags.count);
    for (uint32_t i = 0; ok && i < g->lvt->tags.count; i++)
        ok = tag_table_add(&tags, &g->lvt->tags.tags[i]) == (int64_t)i;
    lvt_read_unlock(g->lvt);
    if (!ok) snprintf(err, err_len, "out of memory copying the tag table");
    if (ok) {
        drain_boundary(g);
        north_swap(g, NULL);
        ok = install_tags(g, cfg, &tags, err, err_len);
    }
    if (ok) {
        config_free(&g->ot.cfg);
        g->ot.cfg = *cfg;
        memset(cfg, 0, sizeof *cfg);
    } else {
        config_free(cfg);
    }
    pthread_mutex_unlock(&g->install_lock);
    tag_table_clear(&tags);
    return ok;
}

static bool link_settings_changed(const struct config_link *a, const struct config_link *b)
{
#define SAME_TEXT(x, y) (((x) == NULL && (y) == NULL) || ((x) && (y) && strcmp((x), (y)) == 0))
    return !(SAME_TEXT(a->destination, b->destination) && SAME_TEXT(a->listen, b->listen) &&
             SAME_TEXT(a->key_file, b->key_file) && a->link_id == b->link_id &&
             a->datagram_bytes == b->datagram_bytes && a->redundancy == b->redundancy &&
             a->rate_limit_datagrams_per_s == b->rate_limit_datagrams_per_s &&
             a->birth_interval_ms == b->birth_interval_ms &&
             a->heartbeat_interval_ms == b->heartbeat_interval_ms &&
             a->heartbeat_timeout_ms == b->heartbeat_timeout_ms);
#undef SAME_TEXT
}

bool gateway_link_status(struct gateway *g, struct link_receiver_status *out)
{
    if (!g->receiver) return false;
    link_receiver_get_status(g->receiver, out);
    return true;
}

static bool api_link_status(void *arg, struct link_receiver_status *out)
{
    return gateway_link_status(arg, out);
}

static bool start_api(struct gateway *g, char *err, size_t err_len)
{
    struct api_context ctx = {
        .lvt = g->lvt,
        .stats = &g->stats,
        .boundary = g->boundary,
        .historian = g->hist.store,
        .gateway_name = g->name,
        .version = AIRLOCK_VERSION,
        .north_status = gateway_north_status,
        .north_arg = g,
        .audit = g->audit,
        .auth = g->auth,
        .alerts = g->alerts,
        .write_port = g->mode == GATEWAY_IT ? NULL : &g->write_port,
        .reload = g->reload,
        .reload_arg = g->reload_arg,
        .link_status = g->mode == GATEWAY_IT ? api_link_status : NULL,
        .link_arg = g,
    };
    struct api_tls_material tls;
    if (!api_tls_prepare(&g->tls, g->http_listen, &tls, err, err_len)) return false;
    ctx.tls_cert_pem = tls.cert_pem;
    ctx.tls_key_pem = tls.key_pem;
    g->api = api_start(g->http_listen, &ctx, err, err_len);
    g->http_tls = g->api && tls.cert_pem;
    if (g->api && tls.generated)
        log_warn("api",
                 "made a self-signed HTTPS certificate: check its fingerprint in the browser",
                 "cert=%s fingerprint=%s", tls.cert_path, tls.fingerprint);
    else if (g->api && tls.cert_pem)
        log_info("api", "HTTPS certificate", "cert=%s fingerprint=%s", tls.cert_path,
                 tls.fingerprint);
    api_tls_material_free(&tls);
    return g->api != NULL;
}

/* Takes the HTTPS settings of cfg (copies); false on ENOMEM. */
static bool tls_settings_take(struct gateway *g, const struct config *cfg)
{
    struct api_tls_options t = {
        .mode = cfg->http_tls == CONFIG_HTTP_TLS_ON    ? API_TLS_ON
                : cfg->http_tls == CONFIG_HTTP_TLS_OFF ? API_TLS_OFF
                                                       : API_TLS_AUTO,
        .cert_file = cfg->http_cert_file ? strdup(cfg->http_cert_file) : NULL,
        .key_file = cfg->http_key_file ? strdup(cfg->http_key_file) : NULL,
        .allow_plain = cfg->http_allow_plain,
        .data_dir = strdup(cfg->data_dir ? cfg->data_dir : "./data"),
    };
    free((char *)g->tls.cert_file);
    free((char *)g->tls.key_file);
    free((char *)g->tls.data_dir);
    g->tls = t;
    return t.data_dir && (!cfg->http_cert_file || t.cert_file) &&
           (!cfg->http_key_file || t.key_file);
}

static void tls_settings_free(struct gateway *g)
{
    free((char *)g->tls.cert_file);
    free((char *)g->tls.key_file);
    free((char *)g->tls.data_dir);
    memset(&g->tls, 0, sizeof g->tls);
}

/* Whether cfg's HTTPS settings differ from the running ones. */
static bool tls_settings_changed(const struct gateway *g, const struct config *cfg)
{
    int mode = cfg->http_tls == CONFIG_HTTP_TLS_ON    ? API_TLS_ON
               : cfg->http_tls == CONFIG_HTTP_TLS_OFF ? API_TLS_OFF
                                                      : API_TLS_AUTO;
    const char *dd = cfg->data_dir ? cfg->data_dir : "./data";
    return (int)g->tls.mode != mode || g->tls.allow_plain != cfg->http_allow_plain ||
           !g->tls.cert_file != !cfg->http_cert_file || !g->tls.key_file != !cfg->http_key_file ||
           (g->tls.cert_file && strcmp(g->tls.cert_file, cfg->http_cert_file) != 0) ||
           (g->tls.key_file && strcmp(g->tls.key_file, cfg->http_key_file) != 0) ||
           !g->tls.data_dir || strcmp(g->tls.data_dir, dd) != 0;
}

/* Closes the boundary and joins its consumer (when one runs). */
static void stop_consumer(struct gateway *g)
{
    atomic_store(&g->consumer_stop, true);
    boundary_close(g->boundary);
    if (g->consumer_running) pthread_join(g->consumer, NULL);
    g->consumer_running = false;
}

/* The OT monitor over the device statistics (docs/monitoring.md); its state
 * lives in the data directory. Its settings take effect at start only. */
static bool start_monitor(struct gateway *g, const struct config *cfg, char *err, size_t err_len)
{
    if (!cfg->monitor.enabled) return true;
    struct ot_monitor_options o;
    ot_monitor_options_default(&o);
    o.learning_ns = (int64_t)cfg->monitor.learning_s * 1000000000LL;
    o.window_ns = (int64_t)cfg->monitor.window_s * 1000000000LL;
    g->monitor = ot_monitor_start(&g->stats, g->alerts, cfg->data_dir, &o, err, err_len);
    return g->monitor != NULL;
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
    pthread_mutex_init(&g->hist.map_lock, NULL);
    pthread_mutex_init(&g->north_lock, NULL);
    g->hist.lock_fd = -1;
    g->boundary = boundary_create(BOUNDARY_CAPACITY_BATCHES, BOUNDARY_SEND_WAIT_MS);
    g->lvt = lvt_create();
    g->name = strdup(cfg->name ? cfg->name : "airlock");
    g->http_listen = strdup(opt && opt->http_listen ? opt->http_listen : cfg->http_listen);
    g->http_listen_pinned = opt && opt->http_listen;
    bool tls_ok = tls_settings_take(g, cfg);
    g->audit = opt ? opt->audit : NULL;
    g->reload = opt ? opt->reload : NULL;
    g->reload_arg = opt ? opt->reload_arg : NULL;
    g->auth = opt ? opt->auth : NULL;
    g->mode = opt ? opt->mode : GATEWAY_FULL;
    g->link_id = cfg->link.link_id;
    pthread_mutex_init(&g->install_lock, NULL);
    pthread_mutex_init(&g->write_lock, NULL);
    g->write_port = (struct api_write_port){
        .lookup = gateway_write_lookup, .write = gateway_write_value, .arg = g};
    g->alerts = alerts_new(0);
    if (g->alerts) alerts_set_audit(g->alerts, g->audit);
    if (!g->boundary || !g->lvt || !g->name || !g->http_listen || !tls_ok || !g->alerts) {
        config_free(cfg);
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    /* OPC UA discovery: the tags under `browse:` folders and the server's
     * types and units must be in cfg before the tag table is built from it
     * (ua_driver.h: devices in parallel, each bounded by its timeout; the
     * result is cached for a start with the server down). */
    if (!ua_driver_prepare(cfg, err, err_len)) {
        config_free(cfg);
        goto fail;
    }
    /* OT mode runs the drivers and the link sender (the boundary's
     * consumer) only: no history, no consumer, no HTTP server. */
    if (g->mode != GATEWAY_OT && !history_open(&g->hist, cfg, err, err_len)) {
        config_free(cfg);
        goto fail;
    }
    if (!start_monitor(g, cfg, err, err_len)) {
        config_free(cfg);
        goto fail;
    }
    if (g->mode != GATEWAY_OT) {
        if (pthread_create(&g->consumer, NULL, consume_boundary, g) != 0) {
            config_free(cfg);
            snprintf(err, err_len, "cannot start the boundary consumer thread");
            goto fail;
        }
        g->consumer_running = true;
    }
    /* The API first: if its address is taken, nothing else starts. */
    if (!(opt && opt->no_http) && g->mode != GATEWAY_OT && !start_api(g, err, err_len)) {
        config_free(cfg);
        stop_consumer(g);
        goto fail;
    }
    if (!(g->mode == GATEWAY_IT ? it_from_config(g, cfg, err, err_len)
                                : ot_from_config(g, cfg, err, err_len))) {
        api_stop(g->api);
        link_sender_stop(g->sender);
        stop_consumer(g);
        goto fail;
    }
    malloc_trim(0); /* give back what parsing the configuration used */
    return g;
fail:
    ot_monitor_stop(g->monitor);
    alerts_free(g->alerts);
    north_swap(g, NULL);
    pthread_mutex_destroy(&g->north_lock);
    history_close(&g->hist);
    pthread_mutex_destroy(&g->hist.map_lock);
    boundary_destroy(g->boundary);
    lvt_destroy(g->lvt);
    stats_registry_destroy(&g->stats);
    free(g->name);
    free(g->http_listen);
    tls_settings_free(g);
    pthread_mutex_destroy(&g->write_lock);
    pthread_mutex_destroy(&g->install_lock);
    free(g);
    return NULL;
}

/* Whether the history section (or the directory it resolves to) differs;
 * the historian is opened once, at start. */
static bool history_settings_changed(const struct config *a, const struct config *b)
{
    char da[4096], db[4096];
    const struct config_history *x = &a->history, *y = &b->history;
    bool same = x->enabled == y->enabled && x->strict == y->strict &&
                x->fsync_interval_ms == y->fsync_interval_ms &&
                x->late_window_ns == y->late_window_ns && x->partition_ns == y->partition_ns &&
                x->chunk_span_ns == y->chunk_span_ns &&
                x->checkpoint_interval_ns == y->checkpoint_interval_ns &&
                x->group_count == y->group_count && config_history_dir(a, da, sizeof da) &&
                config_history_dir(b, db, sizeof db) && strcmp(da, db) == 0;
    for (size_t i = 0; same && i < x->group_count; i++)
        same = strcmp(x->groups[i].name, y->groups[i].name) == 0 &&
               strcmp(x->groups[i].prefix, y->groups[i].prefix) == 0 &&
               x->groups[i].max_age_ns == y->groups[i].max_age_ns &&
               x->groups[i].max_bytes == y->groups[i].max_bytes;
    return !same;
}

bool gateway_reload(struct gateway *g, struct config *cfg, char *err, size_t err_len)
{
    /* OPC UA discovery again (a reload re-discovers), while the old
     * configuration keeps running; see gateway_start. */
    if (!ua_driver_prepare(cfg, err, err_len)) {
        config_free(cfg);
        return false;
    }
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
    bool tls_changed = tls_settings_changed(g, cfg);
    if (history_settings_changed(&g->ot.cfg, cfg))
        log_warn("history", "history settings changed: they take effect at the next start", NULL);
    if (link_settings_changed(&g->ot.cfg.link, &cfg->link))
        log_warn("link", "link settings changed: they take effect at the next start", NULL);
    if (g->mode == GATEWAY_IT) {
        if (!it_reload(g, cfg, err, err_len)) {
            log_error("gateway", "reload failed", "error=\"%s\"", err);
            return false;
        }
        cfg = NULL;
    }

    pthread_mutex_lock(&g->write_lock);
    g->config_generation++;
    bool started = true;
    if (cfg) { /* FULL and OT: drivers stop and start again */
        ot_stop(&g->ot);
        drain_boundary_for(g, true);
        north_swap(g, NULL);
        started = ot_from_config(g, cfg, err, err_len);
    }
    pthread_mutex_unlock(&g->write_lock);
    if (!started) {
        log_error("gateway", "reload failed after stopping the old devices", "error=\"%s\"", err);
        return false;
    }
    if ((listen_changed || tls_changed) && g->api) {
        char *old = g->http_listen;
        struct api_tls_options old_tls = g->tls;
        memset(&g->tls, 0, sizeof g->tls);
        g->http_listen = strdup(listen_changed ? g->ot.cfg.http_listen : old);
        api_stop(g->api);
        char api_err[256] = "out of memory";
        if (!g->http_listen || !tls_settings_take(g, &g->ot.cfg) ||
            !start_api(g, api_err, sizeof api_err)) {
            log_error("gateway", "new HTTP settings refused, keeping the old ones",
                      "listen=%s error=\"%s\"", g->ot.cfg.http_listen, api_err);
            free(g->http_listen);
            tls_settings_free(g);
            g->http_listen = old;
            g->tls = old_tls;
            start_api(g, api_err, sizeof api_err);
        } else {
            free(old);
            free((char *)old_tls.cert_file);
            free((char *)old_tls.key_file);
            free((char *)old_tls.data_dir);
        }
    }
    malloc_trim(0);
    return true;
}

void gateway_stop(struct gateway *g)
{
    if (!g) return;
    api_stop(g->api);
    ot_monitor_stop(g->monitor);     /* before the statistics go; alerts after the API */
    link_receiver_stop(g->receiver); /* IT mode: nothing more comes from the link */
    g->receiver = NULL;
    pthread_mutex_lock(&g->write_lock);
    ot_stop(&g->ot);
    pthread_mutex_unlock(&g->write_lock);
    drain_boundary(g);
    link_sender_stop(g->sender); /* OT mode: after the boundary drained into it */
    g->sender = NULL;
    stop_consumer(g);
    north_swap(g, NULL);
    pthread_mutex_destroy(&g->north_lock);
    history_close(&g->hist);
    pthread_mutex_destroy(&g->hist.map_lock);
    boundary_destroy(g->boundary);
    lvt_destroy(g->lvt);
    alerts_free(g->alerts);
    stats_registry_destroy(&g->stats);
    free(g->name);
    free(g->http_listen);
    tls_settings_free(g);
    pthread_mutex_destroy(&g->write_lock);
    pthread_mutex_destroy(&g->install_lock);
    free(g);
}

struct historian *gateway_historian(struct gateway *g)
{
    return g->hist.store;
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

bool gateway_http_tls(struct gateway *g)
{
    return g->http_tls;
}
