/* REST routes: GET /api/v1/health, /api/v1/tags and /api/v1/tags/{path}.
 * (History routes are in api_history.c.) */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/stats.h"

/* One device of the health report. Call with the registry lock held. */
static json_t *device_json(struct device_stats *d)
{
    char last_error[sizeof d->last_error];
    device_stats_get_error(d, last_error, sizeof last_error);
    int state = atomic_load(&d->state);
    return json_pack("{s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:I}", "name",
                     api_json_string(d->name, strnlen(d->name, sizeof d->name)), "protocol",
                     api_json_string(d->protocol, strnlen(d->protocol, sizeof d->protocol)),
                     "endpoint",
                     api_json_string(d->endpoint, strnlen(d->endpoint, sizeof d->endpoint)),
                     "state", device_state_name((enum device_state)state), "last_error",
                     last_error[0] ? api_json_string(last_error, strlen(last_error)) : json_null(),
                     "last_success", api_time_json(atomic_load(&d->last_success_ns)),
                     "last_error_time", api_time_json(atomic_load(&d->last_error_ns)), "reconnects",
                     (json_int_t)atomic_load(&d->reconnects));
}

/* A device counts against health unless it is connected or disabled on
 * purpose. */
static bool device_healthy(struct device_stats *d)
{
    int state = atomic_load(&d->state);
    return state == DEVICE_CONNECTED || state == DEVICE_DISABLED;
}

/* The devices array; *all_healthy tells whether every device is fine. */
static json_t *devices_json(struct stats_registry *r, bool *all_healthy)
{
    json_t *devices = json_array();
    *all_healthy = true;
    if (!r || !devices) return devices;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->count; i++) {
        if (!device_healthy(&r->devices[i])) *all_healthy = false;
        json_array_append_new(devices, device_json(&r->devices[i]));
    }
    pthread_mutex_unlock(&r->lock);
    return devices;
}

static json_t *boundary_json(struct boundary *b)
{
    struct boundary_counters c = {0};
    if (b) boundary_get_counters(b, &c);
    return json_pack("{s:I,s:I,s:I}", "samples_sent", (json_int_t)c.samples_sent, "samples_dropped",
                     (json_int_t)c.samples_dropped, "queued", (json_int_t)c.queued);
}

enum MHD_Result api_route_health(struct api_server *s, struct MHD_Connection *c)
{
    bool healthy;
    json_t *devices = devices_json(s->stats, &healthy);
    int64_t started_ns = s->stats ? s->stats->started_ns : s->started_ns;
    int64_t uptime_s = (clock_now_ns() - started_ns) / 1000000000LL;
    lvt_read_lock(s->lvt);
    uint32_t tag_count = s->lvt->tags.count;
    lvt_read_unlock(s->lvt);
    bool history_degraded = false;
    json_t *history = api_history_health_json(s, &history_degraded);
    if (history_degraded) healthy = false;
    bool north_degraded = false;
    json_t *north = api_north_health_json(s, &north_degraded);
    if (north_degraded) healthy = false;
    json_t *body = json_pack(
        "{s:s,s:o,s:o,s:I,s:o,s:o,s:I,s:o,s:o,s:o}", "status", healthy ? "ok" : "degraded",
        "gateway", api_json_string(s->gateway_name, strlen(s->gateway_name)), "version",
        api_json_string(s->version, strlen(s->version)), "uptime_s",
        (json_int_t)(uptime_s > 0 ? uptime_s : 0), "time", api_time_json(clock_now_ns()), "devices",
        devices, "tags", (json_int_t)tag_count, "boundary", boundary_json(s->boundary), "history",
        history, "north", north);
    if (!body) return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return api_respond_json(c, MHD_HTTP_OK, body);
}

enum MHD_Result api_route_tags(struct api_server *s, struct MHD_Connection *c)
{
    char prefix[TAG_PATH_MAX];
    enum MHD_Result queued;
    if (!api_query_prefix(c, prefix, sizeof prefix, &queued)) return queued;
    struct api_buf b;
    api_buf_init(&b);
    size_t count = 0;
    api_buf_puts(&b, "{\"tags\":[");
    api_append_tags(s, prefix, &b, &count, NULL, NULL);
    api_buf_printf(&b, "],\"count\":%zu}", count);
    return api_respond_buf(c, MHD_HTTP_OK, "application/json", &b);
}

enum MHD_Result api_route_tag(struct api_server *s, struct MHD_Connection *c, const char *path)
{
    char why[160];
    if (!tag_path_valid(path, why, sizeof why))
        return api_respond_error(c, MHD_HTTP_NOT_FOUND, "no such tag: not a valid tag path (%s)",
                                 why);
    lvt_read_lock(s->lvt);
    const struct tag *t = tag_table_find(&s->lvt->tags, path);
    json_t *body = t ? api_tag_json(t, &s->lvt->entries[t->id], true) : NULL;
    lvt_read_unlock(s->lvt);
    if (!t) /* the path passed tag_path_valid: only safe characters are echoed */
        return api_respond_error(c, MHD_HTTP_NOT_FOUND, "no tag with path %s", path);
    if (!body) return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return api_respond_json(c, MHD_HTTP_OK, body);
}
