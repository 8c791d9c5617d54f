/* Monitoring of the OT side: a baseline per device learned from periodic
 * snapshots of its statistics (core/stats.h), and alerts (monitor/alerts.h)
 * when a device starts answering differently or shows another identity.
 *
 * The core (ot_monitor_new .. ot_monitor_state_json) is pure logic: it is
 * given snapshots and their times and is deterministic, so it is tested
 * with synthetic series. ot_monitor_start runs it on a thread over a live
 * stats registry and keeps its state in <data_dir>/ot-baseline.json.
 *
 * Per device and per window (the time between two snapshots):
 *   latency   the mean poll latency of the window (latency_sum / count deltas)
 *   errors    failed requests that were not Modbus exceptions (timeouts, bad
 *             frames, resets) / requests
 *   exceptions  exception responses / requests
 *   buckets   the window's latency histogram
 * Learning lasts learning_ns from a device's first snapshot (longer while
 * fewer than OT_MONITOR_MIN_LEARNING_WINDOWS windows carried requests). The
 * baseline is then: mean and standard deviation of the windows' latency
 * means (Welford), error and exception rates over the whole period, and the
 * latency histogram of the whole period. It is not adapted afterwards (a
 * slow drift must not teach the monitor to accept an attack); delete the
 * device's entry in the state file to learn again.
 *
 * Checks, each on windows with at least min_requests requests (other
 * windows count neither way), raised after trigger_windows bad windows in
 * a row and cleared after clear_windows good windows in a row:
 *   latency_deviation (warning): mean > base + sigma_k * sd and > ratio *
 *     base and > base + min_delta_ms (slower), or the mirror (faster:
 *     < base - sigma_k * sd, < base / ratio, < base - min_delta_ms).
 *   error_rate (warning): rate > error_alert when the baseline rate was
 *     below error_quiet, else > max(error_alert, 3 x baseline rate).
 *   response_pattern (warning): exception rate > max(exception_alert,
 *     3 x baseline rate); or (with at least min_latency_samples polls) the
 *     window's latency histogram is far from the baseline's (total
 *     variation distance > histogram_distance and the median bucket moved
 *     by 2 buckets or more).
 * Identity (a text the driver sets: Modbus device identification, OPC UA
 * server certificate thumbprint): the first identity seen for a device is
 * recorded; a different one later raises identity_changed (critical, with
 * both), cleared when the recorded identity is seen again or the record is
 * reset. A first identity recorded while the monitor already knew other
 * devices' identities raises unknown_identity (info, an event). An empty
 * identity (not read yet, or the device has none) is ignored. */
#ifndef AIRLOCK_MONITOR_OT_MONITOR_H
#define AIRLOCK_MONITOR_OT_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stats.h"
#include "monitor/alerts.h"

#define OT_MONITOR_STATE_FILE "ot-baseline.json"
#define OT_MONITOR_MIN_LEARNING_WINDOWS 3
#define OT_MONITOR_IDENTITY_BYTES 192

struct ot_monitor_options {
    int64_t learning_ns;          /* default 300 s */
    int64_t window_ns;            /* snapshot interval (the thread's), default 10 s */
    unsigned trigger_windows;     /* bad windows in a row to raise, default 3 */
    unsigned clear_windows;       /* good windows in a row to clear, default 6 */
    uint64_t min_requests;        /* a window with fewer is not judged, default 3 */
    double latency_sigma_k;       /* default 4 */
    double latency_ratio;         /* default 2 */
    double latency_min_delta_ms;  /* default 2 */
    double error_quiet;           /* default 0.01 */
    double error_alert;           /* default 0.10 */
    double exception_alert;       /* default 0.05 */
    uint64_t min_latency_samples; /* for the histogram check, default 5 */
    double histogram_distance;    /* default 0.6 */
};

/* Fills o with the defaults above. */
void ot_monitor_options_default(struct ot_monitor_options *o);

/* One device's counters at one time (see struct device_stats). */
struct ot_device_sample {
    const char *name;
    uint64_t requests, errors, exceptions;
    uint64_t latency_bucket[STATS_LATENCY_BUCKETS + 1];
    uint64_t latency_sum_us, latency_count;
    const char *identity; /* "" or NULL: none known */
};

/* Reads s into out; identity is copied into id_buf (its getter takes the
 * device's error_lock) and out->identity points there. */
void ot_device_sample_read(struct device_stats *s, struct ot_device_sample *out, char *id_buf,
                           size_t id_len);

struct ot_monitor;

/* A monitor raising into alerts (which must outlive it). Options are
 * copied; NULL means the defaults. NULL on ENOMEM. */
struct ot_monitor *ot_monitor_new(const struct ot_monitor_options *opt, struct alerts *alerts);
void ot_monitor_free(struct ot_monitor *m);

/* Takes one snapshot of devices[0..count) at now_ns (UTC; increasing from
 * call to call). Devices are matched by name; a device whose counters went
 * backwards (its statistics were replaced by a reload) starts a new window
 * without a verdict. Returns false only on ENOMEM (nothing judged then). */
bool ot_monitor_observe(struct ot_monitor *m, const struct ot_device_sample *devices, size_t count,
                        int64_t now_ns);

/* What the monitor knows of a device, for tests and the API. */
struct ot_monitor_device_view {
    bool known;    /* the device was ever observed */
    bool learning; /* no baseline yet */
    unsigned learning_windows;
    double latency_mean_ms, latency_sd_ms;    /* baseline, when learned */
    double error_rate, exception_rate;        /* baseline */
    char identity[OT_MONITOR_IDENTITY_BYTES]; /* recorded, "" when none */
};
void ot_monitor_device(const struct ot_monitor *m, const char *name,
                       struct ot_monitor_device_view *out);

/* Whether the persistent state (identities, baselines) changed since the
 * last ot_monitor_state_json. */
bool ot_monitor_dirty(const struct ot_monitor *m);

/* The persistent state as JSON text (malloc'd; NULL on ENOMEM); clears the
 * dirty flag. Format: {"version":1,"devices":{"NAME":{"identity":...,
 * "identity_since":RFC3339,"baseline":{...}}}}. */
char *ot_monitor_state_json(struct ot_monitor *m);

/* Replaces the recorded identities and baselines by those of text (as
 * written by ot_monitor_state_json). A device whose record is absent from
 * text forgets its identity and baseline (learning again), and its
 * identity_changed alert is cleared (reset by the operator). False with
 * the reason in err when text is not such a document (nothing changed). */
bool ot_monitor_load_state(struct ot_monitor *m, const char *text, size_t len, int64_t now_ns,
                           char *err, size_t err_len);
/* Forgets every record (as loading an empty state). */
void ot_monitor_reset_all(struct ot_monitor *m, int64_t now_ns);

/* ---- the monitor thread ---- */

struct ot_monitor_runner;

/* Starts a thread that, every opt->window_ns, snapshots every device of
 * stats (under its lock) into a monitor raising into alerts, expires quiet
 * event alerts, and keeps the state in <data_dir>/ot-baseline.json: loaded
 * at start, written atomically (temporary file, fsync, rename) when it
 * changes, and loaded again when someone else changed or deleted it (so
 * deleting it resets every baseline and accepts the current identities).
 * data_dir is created when missing. NULL with the reason in err (an
 * unreadable or invalid state file, no thread). stats and alerts must
 * outlive the runner. */
struct ot_monitor_runner *ot_monitor_start(struct stats_registry *stats, struct alerts *alerts,
                                           const char *data_dir,
                                           const struct ot_monitor_options *opt, char *err,
                                           size_t err_len);
/* Stops the thread (within about 100 ms), writes the state and frees
 * everything. NULL is accepted. */
void ot_monitor_stop(struct ot_monitor_runner *r);

#endif
