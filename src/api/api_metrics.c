/* GET /metrics: Prometheus text exposition format 0.0.4 of the device
 * statistics, the last-value table, the boundary and the historian; plus the values/s
 * sampler that keeps a short per-device history of the values counter. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/stats.h"
#include "oneway/link_receiver.h"

/* --- values/s over a sliding window --- */

void api_rate_init(struct api_rate_tracker *tr)
{
    tr->series = NULL;
    tr->count = 0;
}

void api_rate_free(struct api_rate_tracker *tr)
{
    free(tr->series);
    api_rate_init(tr);
}

static const struct api_rate_series *find_series(const struct api_rate_series *series, size_t count,
                                                 const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(series[i].name, name) == 0) return &series[i];
    return NULL;
}

static void series_push(struct api_rate_series *s, uint64_t count, int64_t now_ms)
{
    unsigned last = (s->next + API_RATE_WINDOW_SAMPLES - 1) % API_RATE_WINDOW_SAMPLES;
    if (s->n > 0 && count < s->count[last]) s->n = 0; /* counter reset: start over */
    s->t_ms[s->next] = now_ms;
    s->count[s->next] = count;
    s->next = (s->next + 1) % API_RATE_WINDOW_SAMPLES;
    if (s->n < API_RATE_WINDOW_SAMPLES) s->n++;
}

bool api_rate_update(struct api_rate_tracker *tr, const char *const *names, const uint64_t *counts,
                     size_t n, int64_t now_ms)
{
    struct api_rate_series *fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh) return false;
    for (size_t i = 0; i < n; i++) {
        const struct api_rate_series *old = find_series(tr->series, tr->count, names[i]);
        if (old) {
            fresh[i] = *old;
        } else {
            snprintf(fresh[i].name, sizeof fresh[i].name, "%s", names[i]);
        }
        series_push(&fresh[i], counts[i], now_ms);
    }
    free(tr->series);
    tr->series = fresh;
    tr->count = n;
    return true;
}

double api_rate_get(const struct api_rate_tracker *tr, const char *name)
{
    const struct api_rate_series *s = find_series(tr->series, tr->count, name);
    if (!s || s->n < 2) return 0;
    unsigned newest = (s->next + API_RATE_WINDOW_SAMPLES - 1) % API_RATE_WINDOW_SAMPLES;
    unsigned oldest = (s->next + API_RATE_WINDOW_SAMPLES - s->n) % API_RATE_WINDOW_SAMPLES;
    int64_t dt_ms = s->t_ms[newest] - s->t_ms[oldest];
    if (dt_ms <= 0) return 0;
    return (double)(s->count[newest] - s->count[oldest]) * 1000.0 / (double)dt_ms;
}

/* --- the sampler thread --- */

/* Reads every device's values counter and feeds the tracker. */
static void sample_values(struct api_server *s)
{
    struct stats_registry *r = s->stats;
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    char(*names)[64] = calloc(n ? n : 1, sizeof *names);
    const char **name_ptrs = calloc(n ? n : 1, sizeof *name_ptrs);
    uint64_t *counts = calloc(n ? n : 1, sizeof *counts);
    if (names && name_ptrs && counts) {
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%s", r->devices[i].name);
            name_ptrs[i] = names[i];
            counts[i] = atomic_load(&r->devices[i].values);
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (names && name_ptrs && counts) {
        pthread_mutex_lock(&s->sampler_lock);
        api_rate_update(&s->rates, name_ptrs, counts, n, clock_mono_ms());
        pthread_mutex_unlock(&s->sampler_lock);
    }
    free(names);
    free(name_ptrs);
    free(counts);
}

static void *sampler_main(void *arg)
{
    struct api_server *s = arg;
    pthread_mutex_lock(&s->sampler_lock);
    while (!atomic_load(&s->stopping)) {
        pthread_mutex_unlock(&s->sampler_lock);
        sample_values(s);
        pthread_mutex_lock(&s->sampler_lock);
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += API_SAMPLER_INTERVAL_MS / 1000;
        while (!atomic_load(&s->stopping) &&
               pthread_cond_timedwait(&s->sampler_wake, &s->sampler_lock, &deadline) == 0) {
        }
    }
    pthread_mutex_unlock(&s->sampler_lock);
    return NULL;
}

bool api_sampler_start(struct api_server *s)
{
    if (!s->stats) return true; /* nothing to sample */
    s->sampler_running = pthread_create(&s->sampler, NULL, sampler_main, s) == 0;
    return s->sampler_running;
}

void api_sampler_stop(struct api_server *s)
{
    if (!s->sampler_running) return;
    pthread_mutex_lock(&s->sampler_lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->sampler_wake);
    pthread_mutex_unlock(&s->sampler_lock);
    pthread_join(s->sampler, NULL);
    s->sampler_running = false;
}

/* --- exposition --- */

static void family_header(struct api_buf *b, const char *name, const char *type, const char *help)
{
    api_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void device_label(struct api_buf *b, const struct device_stats *d)
{
    api_buf_puts(b, "device=\"");
    char name[sizeof d->name + 1];
    snprintf(name, sizeof name, "%.*s", (int)sizeof d->name, d->name);
    api_prom_label_escape(b, name);
    api_buf_puts(b, "\"");
}

struct device_counter {
    const char *name;
    const char *help;
    size_t offset; /* of an _Atomic uint64_t in struct device_stats */
};

static const struct device_counter device_counters[] = {
    {"airlock_polls_total", "Poll cycles completed (any outcome).",
     offsetof(struct device_stats, polls)},
    {"airlock_requests_total", "Protocol requests sent to the device.",
     offsetof(struct device_stats, requests)},
    {"airlock_request_errors_total", "Failed requests (timeouts, exceptions, bad frames).",
     offsetof(struct device_stats, errors)},
    {"airlock_modbus_exceptions_total", "Modbus exception responses (subset of errors).",
     offsetof(struct device_stats, exceptions)},
    {"airlock_timeouts_total", "Requests that timed out (subset of errors).",
     offsetof(struct device_stats, timeouts)},
    {"airlock_reconnects_total", "Reconnections to the device.",
     offsetof(struct device_stats, reconnects)},
    {"airlock_values_total", "Values read with Good quality.",
     offsetof(struct device_stats, values)},
    {"airlock_skipped_polls_total", "Poll cycles started late by more than one interval.",
     offsetof(struct device_stats, skipped_polls)},
};

static uint64_t load_counter(struct device_stats *d, size_t offset)
{
    return atomic_load((_Atomic uint64_t *)((char *)d + offset));
}

static void render_device_counters(struct api_buf *b, struct device_stats *devs, size_t n)
{
    for (size_t k = 0; k < sizeof device_counters / sizeof device_counters[0]; k++) {
        const struct device_counter *dc = &device_counters[k];
        family_header(b, dc->name, "counter", dc->help);
        for (size_t i = 0; i < n; i++) {
            api_buf_printf(b, "%s{", dc->name);
            device_label(b, &devs[i]);
            api_buf_printf(b, "} %llu\n", (unsigned long long)load_counter(&devs[i], dc->offset));
        }
    }
}

static void render_device_up(struct api_buf *b, struct device_stats *devs, size_t n)
{
    family_header(b, "airlock_device_up", "gauge",
                  "1 when the device answered its last poll (connected or degraded), else 0.");
    for (size_t i = 0; i < n; i++) {
        int state = atomic_load(&devs[i].state);
        api_buf_puts(b, "airlock_device_up{");
        device_label(b, &devs[i]);
        api_buf_printf(b, "} %d\n", state == DEVICE_CONNECTED || state == DEVICE_DEGRADED);
    }
}

static void render_latency(struct api_buf *b, struct device_stats *d)
{
    static const char *name = "airlock_poll_latency_seconds";
    uint64_t cumulative = 0;
    for (int i = 0; i <= STATS_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load(&d->latency_bucket[i]);
        api_buf_printf(b, "%s_bucket{", name);
        device_label(b, d);
        if (i < STATS_LATENCY_BUCKETS)
            api_buf_printf(b, ",le=\"%g\"} %llu\n", stats_latency_bounds_ms[i] / 1000.0,
                           (unsigned long long)cumulative);
        else
            api_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
    }
    api_buf_printf(b, "%s_sum{", name);
    device_label(b, d);
    api_buf_printf(b, "} %.6f\n", (double)atomic_load(&d->latency_sum_us) / 1e6);
    /* _count equals the +Inf bucket even while a poll is being recorded. */
    api_buf_printf(b, "%s_count{", name);
    device_label(b, d);
    api_buf_printf(b, "} %llu\n", (unsigned long long)cumulative);
}

static void render_rates(struct api_server *s, struct api_buf *b, struct device_stats *devs,
                         size_t n)
{
    family_header(b, "airlock_values_per_second", "gauge",
                  "Values read per second over the last 10 s.");
    pthread_mutex_lock(&s->sampler_lock);
    for (size_t i = 0; i < n; i++) {
        char name[sizeof devs[i].name + 1];
        snprintf(name, sizeof name, "%.*s", (int)sizeof devs[i].name, devs[i].name);
        api_buf_puts(b, "airlock_values_per_second{");
        device_label(b, &devs[i]);
        api_buf_printf(b, "} %.3f\n", api_rate_get(&s->rates, name));
    }
    pthread_mutex_unlock(&s->sampler_lock);
}

static void render_devices(struct api_server *s, struct api_buf *b)
{
    static struct stats_registry empty = {.count = 0};
    struct stats_registry *r = s->stats ? s->stats : &empty;
    if (s->stats) pthread_mutex_lock(&r->lock);
    render_device_counters(b, r->devices, r->count);
    render_device_up(b, r->devices, r->count);
    family_header(b, "airlock_poll_latency_seconds", "histogram",
                  "Duration of a whole poll cycle.");
    for (size_t i = 0; i < r->count; i++)
        render_latency(b, &r->devices[i]);
    render_rates(s, b, r->devices, r->count);
    if (s->stats) pthread_mutex_unlock(&r->lock);
}

static void render_gauge_u64(struct api_buf *b, const char *name, const char *type,
                             const char *help, uint64_t v)
{
    family_header(b, name, type, help);
    api_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void render_gateway(struct api_server *s, struct api_buf *b)
{
    struct boundary_counters bc = {0};
    if (s->boundary) boundary_get_counters(s->boundary, &bc);
    lvt_read_lock(s->lvt);
    uint32_t tags = s->lvt->tags.count;
    lvt_read_unlock(s->lvt);
    render_gauge_u64(b, "airlock_lvt_values_applied_total", "counter",
                     "Samples applied to the last-value table.",
                     atomic_load(&s->lvt->values_applied));
    render_gauge_u64(b, "airlock_boundary_samples_sent_total", "counter",
                     "Samples passed from the OT side to the IT side.", bc.samples_sent);
    render_gauge_u64(b, "airlock_boundary_samples_dropped_total", "counter",
                     "Samples dropped at the boundary because the IT side fell behind.",
                     bc.samples_dropped);
    render_gauge_u64(b, "airlock_boundary_queue_batches", "gauge",
                     "Sample batches waiting in the boundary queue.", bc.queued);
    render_gauge_u64(b, "airlock_tags", "gauge", "Tags in the running configuration.", tags);
    int64_t started_ns = s->stats ? s->stats->started_ns : s->started_ns;
    family_header(b, "airlock_uptime_seconds", "gauge", "Seconds since the gateway started.");
    api_buf_printf(b, "airlock_uptime_seconds %.3f\n", (double)(clock_now_ns() - started_ns) / 1e9);
    render_gauge_u64(b, "airlock_http_streams", "gauge", "Open /api/v1/stream connections.",
                     (uint64_t)atomic_load(&s->streams));
    family_header(b, "airlock_info", "gauge", "Gateway name and version (always 1).");
    api_buf_puts(b, "airlock_info{gateway=\"");
    api_prom_label_escape(b, s->gateway_name);
    api_buf_puts(b, "\",version=\"");
    api_prom_label_escape(b, s->version);
    api_buf_puts(b, "\"} 1\n");
}

/* One-way mode, IT side: the airlock_link_* families (docs/oneway.md). */
static void render_link(struct api_server *s, struct api_buf *b)
{
    struct link_receiver_status *st = s->link_status ? malloc(sizeof *st) : NULL;
    if (!st || !s->link_status(s->link_arg, st)) {
        free(st);
        return;
    }
    const struct {
        const char *name, *type, *help;
        uint64_t value;
    } f[] = {
        {"airlock_link_up", "gauge", "1 when heartbeats arrive from the OT side.",
         st->state == LINK_STATE_UP},
        {"airlock_link_tags", "gauge", "Tags of the table learned from the link.", st->tags},
        {"airlock_link_datagrams_total", "counter", "UDP datagrams read.", st->datagrams},
        {"airlock_link_bytes_total", "counter", "Bytes of the UDP datagrams read.", st->bytes},
        {"airlock_link_received_total", "counter", "Datagrams accepted (not duplicates or stale).",
         st->received},
        {"airlock_link_duplicates_total", "counter", "Datagrams seen already (redundant copies).",
         st->duplicates},
        {"airlock_link_reordered_total", "counter", "Datagrams accepted out of order.",
         st->reordered},
        {"airlock_link_stale_total", "counter", "Datagrams too old to tell: dropped.", st->stale},
        {"airlock_link_lost_total", "counter", "Sequence numbers reported lost.", st->lost},
        {"airlock_link_lost_ranges_total", "counter", "Runs of lost sequence numbers.",
         st->lost_ranges},
        {"airlock_link_restarts_total", "counter", "New sender sessions.", st->restarts},
        {"airlock_link_bad_mac_total", "counter", "Datagrams whose HMAC did not verify.",
         st->bad_mac},
        {"airlock_link_malformed_total", "counter", "Authenticated datagrams that were invalid.",
         st->malformed},
        {"airlock_link_other_link_total", "counter", "Datagrams of another link id.",
         st->other_link},
        {"airlock_link_replayed_total", "counter", "Datagrams of an older session (replay).",
         st->replayed},
        {"airlock_link_waiting_for_birth_total", "counter",
         "DATA datagrams dropped before their tag table was complete.", st->waiting_for_birth},
        {"airlock_link_samples_total", "counter", "Samples received and applied.", st->samples},
        {"airlock_link_samples_invalid_total", "counter",
         "Samples with an unknown tag id or the wrong type.", st->samples_invalid},
        {"airlock_link_downs_total", "counter", "Times the link went down (no heartbeat).",
         st->link_downs},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        render_gauge_u64(b, f[i].name, f[i].type, f[i].help, f[i].value);
    free(st);
}

void api_metrics_render(struct api_server *s, struct api_buf *out)
{
    render_devices(s, out);
    render_gateway(s, out);
    api_history_metrics_render(s, out);
    api_north_metrics_render(s, out);
    render_link(s, out);
}

enum MHD_Result api_route_metrics(struct api_server *s, struct MHD_Connection *c)
{
    struct api_buf b;
    api_buf_init(&b);
    api_metrics_render(s, &b);
    return api_respond_buf(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &b);
}
