/* REST routes: GET /api/v1/health, /api/v1/tags and /api/v1/tags/{path}.
 * (History routes are in api_history.c.) */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/stats.h"
#include "oneway/link_receiver.h"

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

/* One-way mode, IT side: the link's state, counters and newest lost
 * ranges (docs/oneway.md); *degraded unless it is up. NULL without a link. */
static json_t *link_health_json(struct api_server *s, bool *degraded)
{
    *degraded = false;
    struct link_receiver_status *st = s->link_status ? malloc(sizeof *st) : NULL;
    if (!st || !s->link_status(s->link_arg, st)) {
        free(st);
        return NULL;
    }
    *degraded = st->state != LINK_STATE_UP;
    char session[24];
    snprintf(session, sizeof session, "%016llx", (unsigned long long)st->session_id);
    json_t *o = json_pack(
        "{s:s,s:I,s:s,s:s,s:b,s:I,s:I,s:o,s:o,s:I,s:I}", "state", link_state_name(st->state),
        "link_id", (json_int_t)st->link_id, "listen", st->listen, "session", session, "tags_known",
        st->have_tags, "epoch", (json_int_t)st->epoch, "tags", (json_int_t)st->tags,
        "last_datagram", api_time_json(st->last_datagram_ns), "last_heartbeat",
        api_time_json(st->last_heartbeat_ns), "sender_datagrams", (json_int_t)st->sender_datagrams,
        "sender_samples", (json_int_t)st->sender_samples);
    const struct {
        const char *name;
        uint64_t value;
    } counters[] = {
        {"datagrams", st->datagrams},
        {"bytes", st->bytes},
        {"received", st->received},
        {"duplicates", st->duplicates},
        {"reordered", st->reordered},
        {"stale", st->stale},
        {"lost", st->lost},
        {"lost_range_count", st->lost_ranges},
        {"restarts", st->restarts},
        {"bad_mac", st->bad_mac},
        {"malformed", st->malformed},
        {"other_link", st->other_link},
        {"replayed", st->replayed},
        {"waiting_for_birth", st->waiting_for_birth},
        {"samples", st->samples},
        {"samples_invalid", st->samples_invalid},
        {"births_installed", st->births_installed},
        {"link_downs", st->link_downs},
        {"device_sets", st->device_sets},
        {"devices", st->devices},
    };
    json_t *ranges = json_array();
    for (size_t i = 0; o && ranges && i < st->recent_count; i++) {
        const struct link_lost_range *r = &st->recent[i];
        char rs[24];
        snprintf(rs, sizeof rs, "%016llx", (unsigned long long)r->session_id);
        json_array_append_new(ranges, json_pack("{s:s,s:I,s:I,s:o}", "session", rs, "first",
                                                (json_int_t)r->first, "last", (json_int_t)r->last,
                                                "detected", api_time_json(r->detected_ns)));
    }
    for (size_t i = 0; o && i < sizeof counters / sizeof counters[0]; i++)
        json_object_set_new(o, counters[i].name, json_integer((json_int_t)counters[i].value));
    if (o && ranges)
        json_object_set_new(o, "lost_ranges", ranges);
    else
        json_decref(ranges);
    free(st);
    return o;
}

enum MHD_Result api_route_health(struct api_server *s, struct MHD_Connection *c,
                                 const struct api_request *req)
{
    if (req->via == API_CRED_NONE) {
        /* Anonymous: whether the gateway is up and well, nothing about the
         * plant (device names and addresses need a login). */
        bool all_ok;
        json_decref(devices_json(s->stats, &all_ok));
        bool degraded = false;
        json_decref(api_history_health_json(s, &degraded));
        all_ok = all_ok && !degraded;
        json_decref(api_north_health_json(s, &degraded));
        all_ok = all_ok && !degraded;
        json_decref(link_health_json(s, &degraded));
        all_ok = all_ok && !degraded;
        return api_respond_json(c, MHD_HTTP_OK,
                                json_pack("{s:s,s:o,s:o,s:b}", "status", all_ok ? "ok" : "degraded",
                                          "version",
                                          api_json_string(s->version, strlen(s->version)), "time",
                                          api_time_json(clock_now_ns()), "authenticated", 0));
    }
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
    bool link_degraded = false;
    json_t *link = link_health_json(s, &link_degraded);
    if (link_degraded) healthy = false;
    json_t *body = json_pack(
        "{s:s,s:o,s:o,s:I,s:o,s:o,s:I,s:o,s:o,s:o}", "status", healthy ? "ok" : "degraded",
        "gateway", api_json_string(s->gateway_name, strlen(s->gateway_name)), "version",
        api_json_string(s->version, strlen(s->version)), "uptime_s",
        (json_int_t)(uptime_s > 0 ? uptime_s : 0), "time", api_time_json(clock_now_ns()), "devices",
        devices, "tags", (json_int_t)tag_count, "boundary", boundary_json(s->boundary), "history",
        history, "north", north);
    if (body && link)
        json_object_set_new(body, "link", link);
    else
        json_decref(link);
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

/* The tag's write policy when a write could be allowed (writes on for the
 * gateway and an enabled policy for the tag), else null: what a client
 * needs to offer a write at all. The gate still decides each request. */
static json_t *write_policy_json(struct api_server *s, const char *path)
{
    struct api_write_target t;
    if (!s->write_port.lookup || !s->write_port.lookup(s->write_port.arg, path, &t) ||
        !t.globally_enabled || !t.has_policy || !t.policy.enabled)
        return json_null();
    static const char *const roles[] = {"viewer", "operator", "engineer", "admin"};
    const struct write_policy *w = &t.policy;
    json_t *j = json_pack("{s:s}", "role", (unsigned)w->role < 4 ? roles[w->role] : "admin");
    if (!j) return json_null();
    if (w->has_min) json_object_set_new(j, "min", json_real(w->min));
    if (w->has_max) json_object_set_new(j, "max", json_real(w->max));
    if (w->max_step > 0) json_object_set_new(j, "max_step", json_real(w->max_step));
    if (w->min_interval_ms > 0)
        json_object_set_new(j, "min_interval_ms", json_integer(w->min_interval_ms));
    return j;
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
    json_object_set_new(body, "write", write_policy_json(s, path));
    return api_respond_json(c, MHD_HTTP_OK, body);
}
