/* Device statistics helpers. */
#include "core/stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

const double stats_latency_bounds_ms[STATS_LATENCY_BUCKETS] = {0.5, 1,   2.5, 5,    10,   25,
                                                               50,  100, 250, 500, 1000, 5000};

void device_stats_observe_latency(struct device_stats *s, int64_t latency_ns)
{
    double ms = (double)latency_ns / 1e6;
    int i = 0;
    while (i < STATS_LATENCY_BUCKETS && ms > stats_latency_bounds_ms[i]) i++;
    atomic_fetch_add(&s->latency_bucket[i], 1);
    atomic_fetch_add(&s->latency_sum_us, (uint64_t)(latency_ns / 1000));
    atomic_fetch_add(&s->latency_count, 1);
}

void device_stats_set_error(struct device_stats *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->error_lock);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&s->error_lock);
    atomic_store(&s->last_error_ns, clock_now_ns());
}

void device_stats_get_error(struct device_stats *s, char *buf, size_t len)
{
    pthread_mutex_lock(&s->error_lock);
    snprintf(buf, len, "%s", s->last_error);
    pthread_mutex_unlock(&s->error_lock);
}

void device_stats_set_identity(struct device_stats *s, const char *identity)
{
    pthread_mutex_lock(&s->error_lock);
    snprintf(s->identity, sizeof s->identity, "%s", identity ? identity : "");
    pthread_mutex_unlock(&s->error_lock);
}

void device_stats_get_identity(struct device_stats *s, char *buf, size_t len)
{
    pthread_mutex_lock(&s->error_lock);
    snprintf(buf, len, "%s", s->identity);
    pthread_mutex_unlock(&s->error_lock);
}

const char *device_state_name(enum device_state st)
{
    switch (st) {
    case DEVICE_STARTING: return "starting";
    case DEVICE_CONNECTED: return "connected";
    case DEVICE_DEGRADED: return "degraded";
    case DEVICE_BACKOFF: return "backoff";
    case DEVICE_DISABLED: return "disabled";
    case DEVICE_STOPPED: return "stopped";
    }
    return "unknown";
}

void stats_registry_init(struct stats_registry *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->started_ns = clock_now_ns();
}

static void free_devices(struct device_stats *d, size_t count)
{
    for (size_t i = 0; i < count; i++) pthread_mutex_destroy(&d[i].error_lock);
    free(d);
}

struct device_stats *stats_registry_reset(struct stats_registry *r, size_t count)
{
    return stats_registry_reset_init(r, count, NULL, NULL);
}

struct device_stats *stats_registry_reset_init(struct stats_registry *r, size_t count,
                                               device_stats_init_fn init, void *ctx)
{
    struct device_stats *d = calloc(count ? count : 1, sizeof *d);
    if (!d) return NULL;
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_init(&d[i].error_lock, NULL);
        if (init) init(&d[i], i, ctx);
    }
    pthread_mutex_lock(&r->lock);
    struct device_stats *old = r->devices;
    size_t old_count = r->count;
    r->devices = d;
    r->count = count;
    pthread_mutex_unlock(&r->lock);
    free_devices(old, old_count);
    return d;
}

void stats_registry_destroy(struct stats_registry *r)
{
    free_devices(r->devices, r->count);
    pthread_mutex_destroy(&r->lock);
    memset(r, 0, sizeof *r);
}
