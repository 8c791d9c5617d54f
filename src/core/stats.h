/* Per-device collection statistics, written by drivers (OT side) with atomic
 * counters and read by /metrics and /api/v1/health (IT side). Read-only to
 * the IT side; in one-way mode they will cross the link as telemetry. */
#ifndef AIRLOCK_CORE_STATS_H
#define AIRLOCK_CORE_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Poll latency histogram upper bounds in milliseconds; a final +Inf bucket
 * follows. */
#define STATS_LATENCY_BUCKETS 12
extern const double stats_latency_bounds_ms[STATS_LATENCY_BUCKETS];

enum device_state {
    DEVICE_STARTING = 0,
    DEVICE_CONNECTED,  /* last poll succeeded */
    DEVICE_DEGRADED,   /* connected, but some requests of the last poll failed */
    DEVICE_BACKOFF,    /* failed; waiting before reconnecting */
    DEVICE_DISABLED,
    DEVICE_STOPPED,
};

struct device_stats {
    char name[64];
    char protocol[24];
    char endpoint[160]; /* "127.0.0.1:5020 unit 1" */
    _Atomic uint64_t polls;       /* poll cycles completed (any outcome) */
    _Atomic uint64_t requests;    /* protocol requests sent */
    _Atomic uint64_t errors;      /* failed requests (timeouts, exceptions, bad frames) */
    _Atomic uint64_t exceptions;  /* Modbus exception responses (subset of errors) */
    _Atomic uint64_t timeouts;    /* subset of errors */
    _Atomic uint64_t reconnects;
    _Atomic uint64_t values;      /* values read (samples produced with Good quality) */
    _Atomic uint64_t skipped_polls; /* cycles started late by more than one interval */
    _Atomic uint64_t latency_bucket[STATS_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t latency_count;
    _Atomic int state; /* enum device_state */
    _Atomic int64_t last_success_ns;
    _Atomic int64_t last_error_ns;
    pthread_mutex_t error_lock;
    char last_error[256]; /* guarded by error_lock */
    /* What the device says it is (Modbus device identification, OPC UA
     * server certificate thumbprint): "" when unknown. Guarded by error_lock;
     * read by the OT monitor (monitor/ot_monitor.h). */
    char identity[192];
};

/* Records a poll-cycle latency. */
void device_stats_observe_latency(struct device_stats *s, int64_t latency_ns);
/* Sets last_error (and last_error_ns to now). */
void device_stats_set_error(struct device_stats *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copies last_error into buf. */
void device_stats_get_error(struct device_stats *s, char *buf, size_t len);
/* Sets identity (NULL: none), cut to its size. */
void device_stats_set_identity(struct device_stats *s, const char *identity);
/* Copies identity into buf ("" when none). */
void device_stats_get_identity(struct device_stats *s, char *buf, size_t len);
const char *device_state_name(enum device_state st); /* "connected", ... */

/* The set of devices of the running configuration. Replaced on reload under
 * its lock; readers hold the lock while they read. */
struct stats_registry {
    pthread_mutex_t lock;
    struct device_stats *devices; /* array of count */
    size_t count;
    int64_t started_ns;
};

void stats_registry_init(struct stats_registry *r);
/* Replaces the device set with count fresh, zeroed entries (names to be filled
 * by the caller while it holds no lock: entries are not visible to anyone
 * else before the drivers start). Returns the array, or NULL on ENOMEM. */
struct device_stats *stats_registry_reset(struct stats_registry *r, size_t count);
/* The same, but init (when not NULL) fills each fresh entry i before the set
 * becomes visible to readers (for where readers already run: the IT side of
 * a one-way link, which copies the OT side's devices). */
typedef void (*device_stats_init_fn)(struct device_stats *d, size_t i, void *ctx);
struct device_stats *stats_registry_reset_init(struct stats_registry *r, size_t count,
                                               device_stats_init_fn init, void *ctx);
void stats_registry_destroy(struct stats_registry *r);

#endif
