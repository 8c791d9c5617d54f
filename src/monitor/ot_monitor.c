/* The OT monitor's core (see ot_monitor.h): per-device windows, baselines,
 * checks with hysteresis, identities, and the persistent state as JSON.
 * No threads, no files, no clock: everything comes in through the calls. */
#include "monitor/ot_monitor.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define BUCKETS (STATS_LATENCY_BUCKETS + 1)
#define STATE_VERSION 1

enum check { CHECK_LATENCY = 0, CHECK_ERRORS, CHECK_PATTERN, CHECK_COUNT };

static const enum alert_kind check_kind[CHECK_COUNT] = {
    [CHECK_LATENCY] = ALERT_LATENCY_DEVIATION,
    [CHECK_ERRORS] = ALERT_ERROR_RATE,
    [CHECK_PATTERN] = ALERT_RESPONSE_PATTERN,
};

enum verdict { VERDICT_NONE = -1, VERDICT_GOOD = 0, VERDICT_BAD = 1 };

struct counters {
    uint64_t requests, errors, exceptions;
    uint64_t bucket[BUCKETS];
    uint64_t sum_us, count;
};

/* A check's run of windows. */
struct check_state {
    unsigned bad, good; /* windows in a row */
    bool active;        /* its alert is raised */
};

struct baseline {
    bool learned;
    int64_t learned_ns;
    unsigned latency_windows; /* windows that had polls; 0: no latency baseline */
    double latency_mean_ms, latency_sd_ms;
    double error_rate, exception_rate;
    double bucket_share[BUCKETS]; /* of all polls of the learning period */
};

/* What learning has gathered so far. */
struct learning {
    int64_t since_ns;
    unsigned windows;         /* windows with at least min_requests requests */
    unsigned latency_windows; /* windows with polls (Welford over their means) */
    double latency_mean, latency_m2;
    uint64_t requests, errors, exceptions;
    uint64_t bucket[BUCKETS];
};

struct device {
    char name[sizeof((struct device_stats *)0)->name];
    bool have_prev;
    struct counters prev;
    int64_t first_seen_ns;
    bool from_state; /* its record came from a loaded state */
    struct learning learn;
    struct baseline base;
    struct check_state checks[CHECK_COUNT];
    char identity[OT_MONITOR_IDENTITY_BYTES]; /* recorded; "" when none */
    int64_t identity_since_ns;
    char reported[OT_MONITOR_IDENTITY_BYTES]; /* the different identity last alerted on */
    bool identity_alert;
};

struct ot_monitor {
    struct ot_monitor_options opt;
    struct alerts *alerts;
    struct device *devices;
    size_t count, cap;
    bool dirty;
    bool started;
    int64_t started_ns;    /* first snapshot */
    size_t loaded_records; /* devices in the last loaded state */
};

void ot_monitor_options_default(struct ot_monitor_options *o)
{
    *o = (struct ot_monitor_options){
        .learning_ns = 300 * 1000000000LL,
        .window_ns = 10 * 1000000000LL,
        .trigger_windows = 3,
        .clear_windows = 6,
        .min_requests = 3,
        .latency_sigma_k = 4,
        .latency_ratio = 2,
        .latency_min_delta_ms = 2,
        .error_quiet = 0.01,
        .error_alert = 0.10,
        .exception_alert = 0.05,
        .min_latency_samples = 5,
        .histogram_distance = 0.6,
    };
}

void ot_device_sample_read(struct device_stats *s, struct ot_device_sample *out, char *id_buf,
                           size_t id_len)
{
    memset(out, 0, sizeof *out);
    out->name = s->name;
    out->requests = atomic_load(&s->requests);
    out->errors = atomic_load(&s->errors);
    out->exceptions = atomic_load(&s->exceptions);
    for (int i = 0; i < BUCKETS; i++)
        out->latency_bucket[i] = atomic_load(&s->latency_bucket[i]);
    out->latency_sum_us = atomic_load(&s->latency_sum_us);
    out->latency_count = atomic_load(&s->latency_count);
    device_stats_get_identity(s, id_buf, id_len);
    out->identity = id_buf;
}

struct ot_monitor *ot_monitor_new(const struct ot_monitor_options *opt, struct alerts *alerts)
{
    struct ot_monitor *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (opt)
        m->opt = *opt;
    else
        ot_monitor_options_default(&m->opt);
    if (m->opt.trigger_windows == 0) m->opt.trigger_windows = 1;
    if (m->opt.clear_windows == 0) m->opt.clear_windows = 1;
    m->alerts = alerts;
    return m;
}

void ot_monitor_free(struct ot_monitor *m)
{
    if (!m) return;
    free(m->devices);
    free(m);
}

static struct device *find_device(const struct ot_monitor *m, const char *name, size_t hint)
{
    if (hint < m->count && strcmp(m->devices[hint].name, name) == 0) return &m->devices[hint];
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->devices[i].name, name) == 0) return &m->devices[i];
    return NULL;
}

static struct device *add_device(struct ot_monitor *m, const char *name, int64_t now_ns)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        struct device *grown = realloc(m->devices, cap * sizeof *grown);
        if (!grown) return NULL;
        m->devices = grown;
        m->cap = cap;
    }
    struct device *d = &m->devices[m->count++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->first_seen_ns = now_ns;
    d->learn.since_ns = now_ns;
    return d;
}

static void counters_of(const struct ot_device_sample *s, struct counters *c)
{
    c->requests = s->requests;
    c->errors = s->errors;
    c->exceptions = s->exceptions;
    memcpy(c->bucket, s->latency_bucket, sizeof c->bucket);
    c->sum_us = s->latency_sum_us;
    c->count = s->latency_count;
}

/* now - before, or false when any counter went backwards. */
static bool counters_delta(const struct counters *now, const struct counters *before,
                           struct counters *delta)
{
    if (now->requests < before->requests || now->errors < before->errors ||
        now->exceptions < before->exceptions || now->sum_us < before->sum_us ||
        now->count < before->count)
        return false;
    for (int i = 0; i < BUCKETS; i++) {
        if (now->bucket[i] < before->bucket[i]) return false;
        delta->bucket[i] = now->bucket[i] - before->bucket[i];
    }
    delta->requests = now->requests - before->requests;
    delta->errors = now->errors - before->errors;
    delta->exceptions = now->exceptions - before->exceptions;
    delta->sum_us = now->sum_us - before->sum_us;
    delta->count = now->count - before->count;
    return true;
}

/* Failed requests that were not exception responses. */
static uint64_t comm_errors(const struct counters *w)
{
    return w->errors > w->exceptions ? w->errors - w->exceptions : 0;
}

static double window_latency_ms(const struct counters *w)
{
    return (double)w->sum_us / (double)w->count / 1000.0;
}

/* ---- learning ---- */

static void learn_window(struct ot_monitor *m, struct device *d, const struct counters *w)
{
    struct learning *l = &d->learn;
    if (w->requests >= m->opt.min_requests) {
        l->windows++;
        l->requests += w->requests;
        l->errors += comm_errors(w);
        l->exceptions += w->exceptions;
    }
    if (w->count > 0) {
        double x = window_latency_ms(w);
        l->latency_windows++;
        double delta = x - l->latency_mean;
        l->latency_mean += delta / l->latency_windows;
        l->latency_m2 += delta * (x - l->latency_mean);
        for (int i = 0; i < BUCKETS; i++)
            l->bucket[i] += w->bucket[i];
    }
}

static void finish_learning(struct ot_monitor *m, struct device *d, int64_t now_ns)
{
    const struct learning *l = &d->learn;
    struct baseline *b = &d->base;
    memset(b, 0, sizeof *b);
    b->learned = true;
    b->learned_ns = now_ns;
    b->latency_windows = l->latency_windows;
    b->latency_mean_ms = l->latency_mean;
    b->latency_sd_ms = l->latency_windows > 1 ? sqrt(l->latency_m2 / (l->latency_windows - 1)) : 0;
    b->error_rate = l->requests ? (double)l->errors / (double)l->requests : 0;
    b->exception_rate = l->requests ? (double)l->exceptions / (double)l->requests : 0;
    uint64_t total = 0;
    for (int i = 0; i < BUCKETS; i++)
        total += l->bucket[i];
    for (int i = 0; i < BUCKETS; i++)
        b->bucket_share[i] = total ? (double)l->bucket[i] / (double)total : 0;
    m->dirty = true;
}

static bool learning_done(const struct ot_monitor *m, const struct device *d, int64_t now_ns)
{
    return now_ns - d->learn.since_ns >= m->opt.learning_ns &&
           d->learn.windows >= OT_MONITOR_MIN_LEARNING_WINDOWS;
}

/* ---- checks ---- */

static enum verdict check_latency(const struct ot_monitor *m, const struct device *d,
                                  const struct counters *w, char *msg, size_t len)
{
    const struct baseline *b = &d->base;
    if (w->count == 0 || b->latency_windows == 0) return VERDICT_NONE;
    double x = window_latency_ms(w), base = b->latency_mean_ms, sd = b->latency_sd_ms;
    const struct ot_monitor_options *o = &m->opt;
    bool slower = x > base + o->latency_sigma_k * sd && x > o->latency_ratio * base &&
                  x > base + o->latency_min_delta_ms;
    bool faster = x < base - o->latency_sigma_k * sd && x < base / o->latency_ratio &&
                  x < base - o->latency_min_delta_ms;
    snprintf(msg, len,
             "poll latency %.2f ms (mean of %llu polls in the last window), baseline %.2f ms "
             "+/- %.2f ms: %s",
             x, (unsigned long long)w->count, base, sd,
             slower   ? "much slower"
             : faster ? "much faster"
                      : "within the band");
    return slower || faster ? VERDICT_BAD : VERDICT_GOOD;
}

static double error_threshold(const struct ot_monitor *m, double baseline_rate, double alert,
                              double quiet)
{
    (void)m;
    if (baseline_rate < quiet) return alert;
    return 3 * baseline_rate > alert ? 3 * baseline_rate : alert;
}

static enum verdict check_errors(const struct ot_monitor *m, const struct device *d,
                                 const struct counters *w, char *msg, size_t len)
{
    if (w->requests < m->opt.min_requests) return VERDICT_NONE;
    double rate = (double)comm_errors(w) / (double)w->requests;
    double limit = error_threshold(m, d->base.error_rate, m->opt.error_alert, m->opt.error_quiet);
    snprintf(msg, len,
             "%.1f %% of requests failed in the last window (%llu of %llu: timeouts, bad "
             "frames), baseline %.1f %%, threshold %.1f %%",
             100 * rate, (unsigned long long)comm_errors(w), (unsigned long long)w->requests,
             100 * d->base.error_rate, 100 * limit);
    return rate > limit ? VERDICT_BAD : VERDICT_GOOD;
}

/* The bucket holding the median of a distribution given as counts. */
static int median_bucket(const double *share)
{
    double acc = 0;
    for (int i = 0; i < BUCKETS; i++) {
        acc += share[i];
        if (acc >= 0.5) return i;
    }
    return BUCKETS - 1;
}

/* "<= 2.5" or "> 5000" for histogram bucket i. */
static const char *bucket_label(int i, char *buf, size_t len)
{
    if (i < STATS_LATENCY_BUCKETS)
        snprintf(buf, len, "<= %g", stats_latency_bounds_ms[i]);
    else
        snprintf(buf, len, "> %g", stats_latency_bounds_ms[STATS_LATENCY_BUCKETS - 1]);
    return buf;
}

/* The exception rate, and the latency histogram's shape unless the mean
 * already deviates (latency_bad: that is latency_deviation's alert). */
static enum verdict check_pattern(const struct ot_monitor *m, const struct device *d,
                                  const struct counters *w, bool latency_bad, char *msg, size_t len)
{
    const struct baseline *b = &d->base;
    enum verdict v = VERDICT_NONE;
    msg[0] = '\0';
    if (w->requests >= m->opt.min_requests) {
        double rate = (double)w->exceptions / (double)w->requests;
        double limit = error_threshold(m, b->exception_rate, m->opt.exception_alert, 0.01);
        v = VERDICT_GOOD;
        if (rate > limit) {
            v = VERDICT_BAD;
            snprintf(msg, len,
                     "%.1f %% of requests answered with a Modbus exception in the last window "
                     "(%llu of %llu), baseline %.1f %%",
                     100 * rate, (unsigned long long)w->exceptions, (unsigned long long)w->requests,
                     100 * b->exception_rate);
        }
    }
    if (!latency_bad && w->count >= m->opt.min_latency_samples && b->latency_windows > 0) {
        double share[BUCKETS], distance = 0;
        for (int i = 0; i < BUCKETS; i++) {
            share[i] = (double)w->bucket[i] / (double)w->count;
            distance += fabs(share[i] - b->bucket_share[i]);
        }
        distance /= 2;
        int now_median = median_bucket(share), base_median = median_bucket(b->bucket_share);
        int moved = abs(now_median - base_median);
        if (v == VERDICT_NONE) v = VERDICT_GOOD;
        if (distance > m->opt.histogram_distance && moved >= 2) {
            if (v != VERDICT_BAD) {
                char now_text[24], base_text[24];
                snprintf(msg, len,
                         "latency distribution changed: median poll %s ms, baseline %s ms "
                         "(distance %.2f)",
                         bucket_label(now_median, now_text, sizeof now_text),
                         bucket_label(base_median, base_text, sizeof base_text), distance);
            }
            v = VERDICT_BAD;
        }
    }
    if (v == VERDICT_GOOD) snprintf(msg, len, "answers like its baseline");
    return v;
}

/* Advances check c by one window's verdict; raises or clears its alert. */
static void step_check(struct ot_monitor *m, struct device *d, enum check c, enum verdict v,
                       const char *msg, int64_t now_ns)
{
    struct check_state *s = &d->checks[c];
    if (v == VERDICT_NONE) return;
    if (v == VERDICT_BAD) {
        s->bad++;
        s->good = 0;
        if (s->active || s->bad >= m->opt.trigger_windows) {
            s->active = true;
            struct alert_event ev = {.kind = check_kind[c],
                                     .severity = ALERT_WARNING,
                                     .subject = d->name,
                                     .message = msg,
                                     .time_ns = now_ns};
            alerts_raise_event(m->alerts, &ev);
        }
    } else {
        s->good++;
        s->bad = 0;
        if (s->active && s->good >= m->opt.clear_windows) {
            s->active = false;
            alerts_clear(m->alerts, check_kind[c], d->name, now_ns, msg);
        }
    }
}

static void judge_window(struct ot_monitor *m, struct device *d, const struct counters *w,
                         int64_t now_ns)
{
    char msg[ALERT_MESSAGE_BYTES];
    enum verdict latency = check_latency(m, d, w, msg, sizeof msg);
    step_check(m, d, CHECK_LATENCY, latency, msg, now_ns);
    step_check(m, d, CHECK_ERRORS, check_errors(m, d, w, msg, sizeof msg), msg, now_ns);
    step_check(m, d, CHECK_PATTERN, check_pattern(m, d, w, latency == VERDICT_BAD, msg, sizeof msg),
               msg, now_ns);
}

/* Clears every alert of d's checks (its baseline is gone). */
static void reset_checks(struct ot_monitor *m, struct device *d, int64_t now_ns, const char *why)
{
    for (int c = 0; c < CHECK_COUNT; c++) {
        if (d->checks[c].active) alerts_clear(m->alerts, check_kind[c], d->name, now_ns, why);
        d->checks[c] = (struct check_state){0};
    }
}

/* ---- identity ---- */

/* Copies src into dst (cut to len) with every byte outside printable ASCII
 * replaced by '?': identities go into JSON, logs and messages. */
static void copy_printable(char *dst, size_t len, const char *src)
{
    size_t n = 0;
    for (; src[n] && n + 1 < len; n++)
        dst[n] = src[n] >= 0x20 && src[n] < 0x7f ? src[n] : '?';
    dst[n] = '\0';
}

/* Whether a first identity recorded for d now is news: d was added after
 * the monitor's first learning period, is missing from a saved state that
 * had others, or had none during its own learning. */
static bool identity_is_news(const struct ot_monitor *m, const struct device *d)
{
    return d->base.learned || (m->loaded_records > 0 && !d->from_state) ||
           d->first_seen_ns - m->started_ns >= m->opt.learning_ns;
}

static void check_identity(struct ot_monitor *m, struct device *d, const char *raw, int64_t now_ns)
{
    if (!raw || !raw[0]) return;
    if (strcmp(raw, "(none)") == 0) {
        /* No identification: nothing for a device that never had one; a
         * change for one that had (a replaced device must not slip by by
         * refusing function 43). */
        if (!d->identity[0]) return;
        raw = "(none: the device no longer answers device identification)";
    }
    /* Printable ASCII only: it goes into JSON, logs and messages. */
    char seen[OT_MONITOR_IDENTITY_BYTES];
    copy_printable(seen, sizeof seen, raw);
    if (!d->identity[0]) {
        snprintf(d->identity, sizeof d->identity, "%s", seen);
        d->identity_since_ns = now_ns;
        m->dirty = true;
        if (identity_is_news(m, d)) {
            char msg[ALERT_MESSAGE_BYTES];
            snprintf(msg, sizeof msg, "first identity recorded for %.60s: %.250s", d->name, seen);
            struct alert_event ev = {.kind = ALERT_UNKNOWN_IDENTITY,
                                     .severity = ALERT_INFO,
                                     .subject = d->name,
                                     .message = msg,
                                     .new_value = seen,
                                     .time_ns = now_ns};
            alerts_raise_event(m->alerts, &ev);
        }
        return;
    }
    if (strcmp(d->identity, seen) == 0) {
        if (d->identity_alert) {
            d->identity_alert = false;
            d->reported[0] = '\0';
            alerts_clear(m->alerts, ALERT_IDENTITY_CHANGED, d->name, now_ns,
                         "the recorded identity answers again");
        }
        return;
    }
    if (d->identity_alert && strcmp(d->reported, seen) == 0) return;
    char msg[ALERT_MESSAGE_BYTES];
    snprintf(msg, sizeof msg, "identity changed: recorded \"%.150s\", now \"%.150s\"", d->identity,
             seen);
    struct alert_event ev = {.kind = ALERT_IDENTITY_CHANGED,
                             .severity = ALERT_CRITICAL,
                             .subject = d->name,
                             .message = msg,
                             .old_value = d->identity,
                             .new_value = seen,
                             .time_ns = now_ns};
    alerts_raise_event(m->alerts, &ev);
    d->identity_alert = true;
    snprintf(d->reported, sizeof d->reported, "%s", seen);
}

/* ---- snapshots ---- */

bool ot_monitor_observe(struct ot_monitor *m, const struct ot_device_sample *devices, size_t count,
                        int64_t now_ns)
{
    if (!m->started) {
        m->started = true;
        m->started_ns = now_ns;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ot_device_sample *s = &devices[i];
        if (!s->name || !s->name[0]) continue;
        struct device *d = find_device(m, s->name, i);
        if (!d && !(d = add_device(m, s->name, now_ns))) return false;
        struct counters now, w;
        counters_of(s, &now);
        bool window = d->have_prev && counters_delta(&now, &d->prev, &w);
        d->prev = now;
        d->have_prev = true;
        if (window) {
            if (!d->base.learned) {
                learn_window(m, d, &w);
                if (learning_done(m, d, now_ns)) finish_learning(m, d, now_ns);
            } else {
                judge_window(m, d, &w, now_ns);
            }
        }
        check_identity(m, d, s->identity, now_ns);
    }
    return true;
}

void ot_monitor_device(const struct ot_monitor *m, const char *name,
                       struct ot_monitor_device_view *out)
{
    memset(out, 0, sizeof *out);
    const struct device *d = find_device(m, name, 0);
    if (!d) return;
    out->known = true;
    out->learning = !d->base.learned;
    out->learning_windows = d->learn.windows;
    out->latency_mean_ms = d->base.latency_mean_ms;
    out->latency_sd_ms = d->base.latency_sd_ms;
    out->error_rate = d->base.error_rate;
    out->exception_rate = d->base.exception_rate;
    memcpy(out->identity, d->identity, sizeof out->identity);
}

/* ---- persistent state ---- */

bool ot_monitor_dirty(const struct ot_monitor *m)
{
    return m->dirty;
}

static json_t *time_json(int64_t ns)
{
    char text[40];
    return ns ? json_string(clock_format_rfc3339(ns, text, sizeof text)) : json_null();
}

static json_t *baseline_json(const struct baseline *b)
{
    json_t *shares = json_array();
    for (int i = 0; shares && i < BUCKETS; i++)
        json_array_append_new(shares, json_real(b->bucket_share[i]));
    return json_pack("{s:o,s:i,s:f,s:f,s:f,s:f,s:o*}", "learned_at", time_json(b->learned_ns),
                     "latency_windows", (int)b->latency_windows, "latency_mean_ms",
                     b->latency_mean_ms, "latency_sd_ms", b->latency_sd_ms, "error_rate",
                     b->error_rate, "exception_rate", b->exception_rate, "latency_buckets", shares);
}

char *ot_monitor_state_json(struct ot_monitor *m)
{
    json_t *devices = json_object();
    json_t *doc = json_pack("{s:i,s:o*}", "version", STATE_VERSION, "devices", devices);
    if (!doc) return NULL;
    for (size_t i = 0; i < m->count; i++) {
        const struct device *d = &m->devices[i];
        json_t *rec = json_pack("{s:s,s:o}", "identity", d->identity, "identity_since",
                                time_json(d->identity_since_ns));
        if (rec && d->base.learned) json_object_set_new(rec, "baseline", baseline_json(&d->base));
        if (!rec || json_object_set_new(devices, d->name, rec) != 0) {
            json_decref(doc);
            return NULL;
        }
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
    json_decref(doc);
    if (text) m->dirty = false;
    return text;
}

/* Parses an RFC 3339 UTC time as written by time_json ("...Z"); 0 when it
 * is not one. */
static int64_t parse_time(const json_t *j)
{
    const char *s = json_string_value(j);
    struct tm tm = {0};
    int ms = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000000LL + (int64_t)ms * 1000000LL;
}

static bool read_baseline(const json_t *j, struct baseline *b, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    if (!j || json_is_null(j)) return true;
    json_t *shares = NULL;
    int windows = 0;
    json_error_t e;
    if (json_unpack_ex((json_t *)j, &e, 0, "{s:i,s:F,s:F,s:F,s:F,s:o}", "latency_windows", &windows,
                       "latency_mean_ms", &b->latency_mean_ms, "latency_sd_ms", &b->latency_sd_ms,
                       "error_rate", &b->error_rate, "exception_rate", &b->exception_rate,
                       "latency_buckets", &shares) != 0) {
        snprintf(why, why_len, "baseline: %.120s", e.text);
        return false;
    }
    if (windows < 0 || !json_is_array(shares) || json_array_size(shares) != BUCKETS) {
        snprintf(why, why_len,
                 "baseline: latency_windows negative or latency_buckets not %d numbers", BUCKETS);
        return false;
    }
    for (int i = 0; i < BUCKETS; i++) {
        const json_t *v = json_array_get(shares, (size_t)i);
        if (!json_is_number(v)) {
            snprintf(why, why_len, "baseline: latency_buckets[%d] is not a number", i);
            return false;
        }
        b->bucket_share[i] = json_number_value(v);
    }
    b->latency_windows = (unsigned)windows;
    b->learned_ns = parse_time(json_object_get(j, "learned_at"));
    b->learned = true;
    return true;
}

/* Forgets d's identity and baseline: it learns again from now. */
static void forget_device(struct ot_monitor *m, struct device *d, int64_t now_ns)
{
    if (d->identity_alert)
        alerts_clear(m->alerts, ALERT_IDENTITY_CHANGED, d->name, now_ns,
                     "identity record reset by the operator");
    reset_checks(m, d, now_ns, "baseline reset by the operator");
    d->identity[0] = d->reported[0] = '\0';
    d->identity_alert = false;
    d->identity_since_ns = 0;
    d->base = (struct baseline){0};
    d->learn = (struct learning){.since_ns = now_ns};
    d->from_state = false;
}

bool ot_monitor_load_state(struct ot_monitor *m, const char *text, size_t len, int64_t now_ns,
                           char *err, size_t err_len)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, err_len, "line %d column %d: %s", je.line, je.column, je.text);
        return false;
    }
    json_t *devices = json_object_get(doc, "devices");
    json_t *version = json_object_get(doc, "version");
    if (!json_is_object(doc) || !json_is_integer(version) ||
        json_integer_value(version) != STATE_VERSION || !json_is_object(devices)) {
        snprintf(err, err_len, "expected {\"version\": %d, \"devices\": {...}}", STATE_VERSION);
        json_decref(doc);
        return false;
    }
    /* Check every record before changing anything. */
    size_t n = json_object_size(devices);
    struct baseline *bases = calloc(n ? n : 1, sizeof *bases);
    if (!bases) {
        json_decref(doc);
        snprintf(err, err_len, "out of memory");
        return false;
    }
    const char *name;
    json_t *rec;
    size_t k = 0;
    bool ok = true;
    json_object_foreach(devices, name, rec)
    {
        char why[160] = "";
        const json_t *id = json_object_get(rec, "identity");
        if (!json_is_object(rec) || !json_is_string(id) ||
            strlen(name) >= sizeof m->devices[0].name ||
            !read_baseline(json_object_get(rec, "baseline"), &bases[k], why, sizeof why)) {
            snprintf(err, err_len, "device \"%.64s\": %s", name,
                     why[0] ? why : "expected {\"identity\": TEXT, ...} and a name under 64 bytes");
            ok = false;
            break;
        }
        k++;
    }
    if (ok) {
        for (size_t i = 0; i < m->count; i++)
            if (!json_object_get(devices, m->devices[i].name))
                forget_device(m, &m->devices[i], now_ns);
        k = 0;
        json_object_foreach(devices, name, rec)
        {
            struct device *d = find_device(m, name, 0);
            if (!d && !(d = add_device(m, name, now_ns))) {
                snprintf(err, err_len, "out of memory");
                ok = false;
                break;
            }
            const char *identity = json_string_value(json_object_get(rec, "identity"));
            if (strcmp(d->identity, identity) != 0 || !identity[0]) {
                if (d->identity_alert)
                    alerts_clear(m->alerts, ALERT_IDENTITY_CHANGED, d->name, now_ns,
                                 "identity record replaced by the operator");
                d->identity_alert = false;
                d->reported[0] = '\0';
                copy_printable(d->identity, sizeof d->identity, identity);
            }
            d->identity_since_ns = parse_time(json_object_get(rec, "identity_since"));
            if (!bases[k].learned && d->base.learned) {
                reset_checks(m, d, now_ns, "baseline reset by the operator");
                d->learn = (struct learning){.since_ns = now_ns};
            }
            d->base = bases[k++];
            d->from_state = true;
        }
        m->loaded_records = json_object_size(devices);
        m->dirty = false;
    }
    free(bases);
    json_decref(doc);
    return ok;
}

void ot_monitor_reset_all(struct ot_monitor *m, int64_t now_ns)
{
    for (size_t i = 0; i < m->count; i++)
        forget_device(m, &m->devices[i], now_ns);
    m->loaded_records = 0;
    m->dirty = true;
}
