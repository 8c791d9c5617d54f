/* The publishers in /api/v1/health ("north" list) and in /metrics (the
 * airlock_north_* families), as docs/north.md describes them. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

static struct north_status *north_snapshot(struct api_server *s, size_t *count)
{
    *count = 0;
    if (!s->north_status) return NULL;
    return s->north_status(s->north_arg, count);
}

static json_t *text_or_null(const char *text)
{
    return text[0] ? api_json_string(text, strlen(text)) : json_null();
}

static json_t *publisher_json(const struct north_status *st)
{
    return json_pack("{s:o,s:s,s:o,s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:o}", "name",
                     api_json_string(st->name, strlen(st->name)), "kind", st->kind, "url",
                     api_json_string(st->url, strlen(st->url)), "state",
                     north_state_name(st->state), "last_error", text_or_null(st->last_error),
                     "last_error_time", api_time_json(st->last_error_ns), "published",
                     (json_int_t)st->published, "spooled", (json_int_t)st->spooled, "dropped",
                     (json_int_t)st->dropped, "spool_bytes", (json_int_t)st->spool_bytes, "alarm",
                     text_or_null(st->alarm));
}

json_t *api_north_health_json(struct api_server *s, bool *degraded)
{
    *degraded = false;
    size_t n;
    struct north_status *st = north_snapshot(s, &n);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        if (st[i].state != NORTH_CONNECTED || st[i].alarm[0]) *degraded = true;
        json_array_append_new(list, publisher_json(&st[i]));
    }
    free(st);
    return list;
}

/* One family: a value per publisher. */
static void render_family(struct api_buf *b, const struct north_status *st, size_t n,
                          const char *name, const char *type, const char *help,
                          uint64_t (*get)(const struct north_status *))
{
    api_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t i = 0; i < n; i++) {
        api_buf_printf(b, "%s{publisher=\"", name);
        api_prom_label_escape(b, st[i].name);
        api_buf_printf(b, "\"} %llu\n", (unsigned long long)get(&st[i]));
    }
}

static uint64_t get_published(const struct north_status *st)
{
    return st->published;
}
static uint64_t get_spooled(const struct north_status *st)
{
    return st->spooled;
}
static uint64_t get_spool_bytes(const struct north_status *st)
{
    return st->spool_bytes;
}
static uint64_t get_dropped(const struct north_status *st)
{
    return st->dropped;
}
static uint64_t get_connected(const struct north_status *st)
{
    return st->state == NORTH_CONNECTED;
}
static uint64_t get_reconnects(const struct north_status *st)
{
    return st->reconnects;
}

void api_north_metrics_render(struct api_server *s, struct api_buf *out)
{
    size_t n;
    struct north_status *st = north_snapshot(s, &n);
    if (n == 0) {
        free(st);
        return;
    }
    render_family(out, st, n, "airlock_north_published_total", "counter",
                  "Samples published and acknowledged by the broker.", get_published);
    render_family(out, st, n, "airlock_north_spooled_samples", "gauge",
                  "Samples waiting in the publisher's spool.", get_spooled);
    render_family(out, st, n, "airlock_north_spool_bytes", "gauge",
                  "Bytes of the publisher's spool on disk.", get_spool_bytes);
    render_family(out, st, n, "airlock_north_dropped_samples_total", "counter",
                  "Samples dropped because the spool was full (oldest first).", get_dropped);
    render_family(out, st, n, "airlock_north_connected", "gauge",
                  "1 when the publisher is connected and publishing.", get_connected);
    render_family(out, st, n, "airlock_north_reconnects_total", "counter",
                  "Connection attempts after the first.", get_reconnects);
    free(st);
}
