/* Tests of the OT monitor (monitor/ot_monitor.h) with synthetic series of
 * device counters and explicit times (no sleeps in the core's tests):
 * learning, a latency deviation raised once after the trigger windows and
 * cleared after the clear windows, the error-rate and response-pattern
 * checks kept apart, identity recording / change / return / news, counters
 * that restart, the state as JSON (round trip, reset by removing a record,
 * refusal of bad documents); and the thread over a stats registry with its
 * state file (persisted identity, change across a restart, reset by
 * deleting the file). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/stats.h"
#include "monitor/alerts.h"
#include "monitor/ot_monitor.h"
#include "testlib.h"

#define T0_NS 1795000000000000000LL /* 2026-11-18 */
#define S_NS 1000000000LL
#define WINDOW_NS (10 * S_NS)

/* A synthetic device: counters that only grow, like device_stats. */
struct dev {
    struct ot_device_sample s;
    char name[32];
    char identity[OT_MONITOR_IDENTITY_BYTES];
};

static void dev_init(struct dev *d, const char *name, const char *identity)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->identity, sizeof d->identity, "%s", identity ? identity : "");
    d->s.name = d->name;
    d->s.identity = d->identity;
}

/* polls poll cycles of latency_ms each, requests_per_poll requests each;
 * failures (not exceptions) and exceptions among those requests. */
static void dev_poll(struct dev *d, unsigned polls, double latency_ms, unsigned requests_per_poll,
                     unsigned failures, unsigned exceptions)
{
    for (unsigned p = 0; p < polls; p++) {
        int i = 0;
        while (i < STATS_LATENCY_BUCKETS && latency_ms > stats_latency_bounds_ms[i])
            i++;
        d->s.latency_bucket[i]++;
        d->s.latency_sum_us += (uint64_t)llround(latency_ms * 1000);
        d->s.latency_count++;
    }
    d->s.requests += (uint64_t)polls * requests_per_poll;
    d->s.errors += failures + exceptions;
    d->s.exceptions += exceptions;
}

struct fixture {
    struct alerts *alerts;
    struct ot_monitor *mon;
    struct dev dev;
    int64_t now;
};

static void fixture_init(struct fixture *f, const char *identity)
{
    struct ot_monitor_options o;
    ot_monitor_options_default(&o);
    o.learning_ns = 60 * S_NS;
    o.window_ns = WINDOW_NS;
    f->alerts = alerts_new(0);
    f->mon = ot_monitor_new(&o, f->alerts);
    dev_init(&f->dev, "pump", identity);
    f->now = T0_NS;
}

static void fixture_free(struct fixture *f)
{
    ot_monitor_free(f->mon);
    alerts_free(f->alerts);
}

/* One window: 10 polls at latency_ms with jitter j (alternating +/-), 4
 * requests per poll, then a snapshot. */
static void window(struct fixture *f, double latency_ms, double jitter, unsigned failures,
                   unsigned exceptions)
{
    for (int i = 0; i < 10; i++)
        dev_poll(&f->dev, 1, latency_ms + (i % 2 ? jitter : -jitter), 4, 0, 0);
    dev_poll(&f->dev, 0, 0, 0, failures, exceptions);
    f->now += WINDOW_NS;
    CHECK(ot_monitor_observe(f->mon, &f->dev.s, 1, f->now));
}

static void learn(struct fixture *f)
{
    CHECK(ot_monitor_observe(f->mon, &f->dev.s, 1, f->now)); /* the first snapshot */
    for (int i = 0; i < 6; i++)
        window(f, 5.0, 0.5, 0, 0);
}

static size_t alerts_of(struct fixture *f, enum alert_kind kind, bool active_only)
{
    struct alerts_filter filter = {.by_kind = true, .kind = kind, .active_only = active_only};
    return alerts_list(f->alerts, &filter, NULL, 0);
}

static void test_learning(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    struct ot_monitor_device_view v;
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(!v.known);
    CHECK(ot_monitor_observe(f.mon, &f.dev.s, 1, f.now));
    for (int i = 0; i < 5; i++)
        window(&f, 5.0, 0.5, 0, 0);
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(v.known);
    CHECK(v.learning); /* 50 s of 60 */
    CHECK_EQ_INT(v.learning_windows, 5);
    window(&f, 5.0, 0.5, 0, 0);
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(!v.learning);
    CHECK_EQ_DBL(v.latency_mean_ms, 5.0, 1e-9);
    CHECK_EQ_DBL(v.latency_sd_ms, 0.0, 1e-9); /* each window's mean is exactly 5 ms */
    CHECK_EQ_DBL(v.error_rate, 0.0, 1e-12);
    CHECK(ot_monitor_dirty(f.mon)); /* a baseline to persist */
    fixture_free(&f);

    /* A device silent during learning keeps learning past the period. */
    fixture_init(&f, NULL);
    CHECK(ot_monitor_observe(f.mon, &f.dev.s, 1, f.now));
    for (int i = 0; i < 10; i++) {
        f.now += WINDOW_NS;
        CHECK(ot_monitor_observe(f.mon, &f.dev.s, 1, f.now));
    }
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(v.learning);
    for (int i = 0; i < 3; i++)
        window(&f, 5.0, 0, 0, 0);
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(!v.learning);
    fixture_free(&f);
}

static void test_latency_raises_once_and_clears(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    learn(&f);
    /* Normal windows: nothing. */
    for (int i = 0; i < 5; i++)
        window(&f, 5.2, 0.5, 0, 0);
    CHECK_EQ_INT(alerts_list(f.alerts, NULL, NULL, 0), 0);
    /* Two slow windows are not enough; the third raises. */
    window(&f, 40, 1, 0, 0);
    window(&f, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, false), 0);
    window(&f, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, true), 1);
    struct alert al;
    CHECK(alerts_find_active(f.alerts, ALERT_LATENCY_DEVIATION, "pump", &al));
    CHECK(strstr(al.message, "much slower") != NULL);
    CHECK_EQ_INT(al.severity, ALERT_WARNING);
    /* Staying slow: still one alert, counting the windows. */
    for (int i = 0; i < 4; i++)
        window(&f, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, false), 1);
    CHECK(alerts_find_active(f.alerts, ALERT_LATENCY_DEVIATION, "pump", &al));
    CHECK_EQ_INT(al.count, 5);
    /* Recovery: five good windows keep it, the sixth clears it. */
    for (int i = 0; i < 5; i++)
        window(&f, 5, 0.5, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, true), 1);
    window(&f, 5, 0.5, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, true), 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, false), 1);
    /* A bad window between good ones restarts the count. */
    window(&f, 40, 1, 0, 0);
    window(&f, 40, 1, 0, 0);
    window(&f, 5, 0.5, 0, 0);
    window(&f, 40, 1, 0, 0);
    window(&f, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, true), 0);
    /* Much faster is a deviation too. */
    for (int i = 0; i < 3; i++)
        window(&f, 0.3, 0, 0, 0);
    CHECK(alerts_find_active(f.alerts, ALERT_LATENCY_DEVIATION, "pump", &al));
    CHECK(strstr(al.message, "much faster") != NULL);
    /* No other check fired along the way (the histogram moved too, but that
     * is the latency alert's news). */
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, false), 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_RESPONSE_PATTERN, false), 0);
    fixture_free(&f);
}

static void test_small_changes_stay_quiet(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    learn(&f);
    /* 2x slower but less than the minimum delta of 2 ms from 5 ms? No: 9 ms
     * is 4 ms more, but not 2x. */
    for (int i = 0; i < 10; i++)
        window(&f, 9, 0.5, 0, 0);
    CHECK_EQ_INT(alerts_list(f.alerts, NULL, NULL, 0), 0);
    /* An error now and then (2.5 % of 40 requests) is under 10 %. */
    for (int i = 0; i < 10; i++)
        window(&f, 5, 0.5, 1, 0);
    CHECK_EQ_INT(alerts_list(f.alerts, NULL, NULL, 0), 0);
    fixture_free(&f);
}

static void test_error_rate_and_exceptions_apart(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    learn(&f);
    /* 20 % timeouts: error_rate, not response_pattern. */
    for (int i = 0; i < 3; i++)
        window(&f, 5, 0.5, 8, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, true), 1);
    CHECK_EQ_INT(alerts_of(&f, ALERT_RESPONSE_PATTERN, false), 0);
    struct alert al;
    CHECK(alerts_find_active(f.alerts, ALERT_ERROR_RATE, "pump", &al));
    CHECK(strstr(al.message, "20.0 %") != NULL);
    for (int i = 0; i < 6; i++)
        window(&f, 5, 0.5, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, true), 0);
    /* 25 % exceptions: response_pattern, not error_rate. */
    for (int i = 0; i < 3; i++)
        window(&f, 5, 0.5, 0, 10);
    CHECK_EQ_INT(alerts_of(&f, ALERT_RESPONSE_PATTERN, true), 1);
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, true), 0);
    CHECK(alerts_find_active(f.alerts, ALERT_RESPONSE_PATTERN, "pump", &al));
    CHECK(strstr(al.message, "exception") != NULL);
    /* A window with too few requests counts neither way. */
    for (int i = 0; i < 20; i++) {
        f.now += WINDOW_NS;
        ot_monitor_observe(f.mon, &f.dev.s, 1, f.now);
    }
    CHECK_EQ_INT(alerts_of(&f, ALERT_RESPONSE_PATTERN, true), 1);
    fixture_free(&f);
}

static void test_noisy_baseline_error_rate(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    CHECK(ot_monitor_observe(f.mon, &f.dev.s, 1, f.now));
    for (int i = 0; i < 6; i++)
        window(&f, 5, 0.5, 2, 0); /* 5 % failures while learning */
    struct ot_monitor_device_view v;
    ot_monitor_device(f.mon, "pump", &v);
    CHECK_EQ_DBL(v.error_rate, 0.05, 1e-12);
    /* 12.5 % is above 10 % but under 3 x 5 %: quiet. */
    for (int i = 0; i < 5; i++)
        window(&f, 5, 0.5, 5, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, false), 0);
    for (int i = 0; i < 3; i++)
        window(&f, 5, 0.5, 8, 0); /* 20 % */
    CHECK_EQ_INT(alerts_of(&f, ALERT_ERROR_RATE, true), 1);
    fixture_free(&f);
}

static void test_histogram_shift(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    CHECK(ot_monitor_observe(f.mon, &f.dev.s, 1, f.now));
    for (int i = 0; i < 6; i++)
        window(&f, 2.0, 0, 0, 0); /* every poll in the (1, 2.5] bucket */
    /* Same mean (about 2.4 ms), a different shape: 60 % fast, 40 % slow. */
    for (int w = 0; w < 3; w++) {
        dev_poll(&f.dev, 6, 0.3, 4, 0, 0);
        dev_poll(&f.dev, 4, 5.5, 4, 0, 0);
        f.now += WINDOW_NS;
        ot_monitor_observe(f.mon, &f.dev.s, 1, f.now);
    }
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, false), 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_RESPONSE_PATTERN, true), 1);
    struct alert al;
    CHECK(alerts_find_active(f.alerts, ALERT_RESPONSE_PATTERN, "pump", &al));
    CHECK(strstr(al.message, "distribution") != NULL);
    fixture_free(&f);
}

static void test_identity(void)
{
    struct fixture f;
    fixture_init(&f, "ACME;P-100;1.0");
    learn(&f);
    struct ot_monitor_device_view v;
    ot_monitor_device(f.mon, "pump", &v);
    CHECK_STR(v.identity, "ACME;P-100;1.0");
    CHECK_EQ_INT(alerts_list(f.alerts, NULL, NULL, 0), 0); /* first sight at start: no news */
    /* Changed: critical, with both identities. */
    snprintf(f.dev.identity, sizeof f.dev.identity,
             "Evil\x01"
             "Corp;P-100;6.6");
    window(&f, 5, 0.5, 0, 0);
    struct alert al;
    CHECK(alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", &al));
    CHECK_EQ_INT(al.severity, ALERT_CRITICAL);
    CHECK(strstr(al.message, "ACME;P-100;1.0") != NULL);
    CHECK(strstr(al.message, "Evil?Corp;P-100;6.6") != NULL); /* control byte replaced */
    /* The same different identity again: not raised again. */
    window(&f, 5, 0.5, 0, 0);
    CHECK(alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", &al));
    CHECK_EQ_INT(al.count, 1);
    /* Yet another: the same alert, updated. */
    snprintf(f.dev.identity, sizeof f.dev.identity, "Third");
    window(&f, 5, 0.5, 0, 0);
    CHECK(alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", &al));
    CHECK_EQ_INT(al.count, 2);
    CHECK(strstr(al.message, "Third") != NULL);
    /* No identity (not read yet) changes nothing. */
    f.dev.identity[0] = '\0';
    window(&f, 5, 0.5, 0, 0);
    CHECK(alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));
    /* The recorded one is back: cleared. The record never moved. */
    snprintf(f.dev.identity, sizeof f.dev.identity, "ACME;P-100;1.0");
    window(&f, 5, 0.5, 0, 0);
    CHECK(!alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));
    ot_monitor_device(f.mon, "pump", &v);
    CHECK_STR(v.identity, "ACME;P-100;1.0");
    CHECK_EQ_INT(alerts_of(&f, ALERT_IDENTITY_CHANGED, false), 1);

    /* A device that shows up later with an identity is news (info). */
    struct dev newcomer;
    dev_init(&newcomer, "newcomer", "Other;X;2");
    struct ot_device_sample both[2] = {f.dev.s, newcomer.s};
    f.now += WINDOW_NS;
    ot_monitor_observe(f.mon, both, 2, f.now);
    CHECK(alerts_find_active(f.alerts, ALERT_UNKNOWN_IDENTITY, "newcomer", &al));
    CHECK_EQ_INT(al.severity, ALERT_INFO);
    fixture_free(&f);

    /* A learned device that shows its first identity late is news too. */
    fixture_init(&f, NULL);
    learn(&f);
    snprintf(f.dev.identity, sizeof f.dev.identity, "Late;L;1");
    window(&f, 5, 0.5, 0, 0);
    CHECK(alerts_find_active(f.alerts, ALERT_UNKNOWN_IDENTITY, "pump", NULL));
    CHECK(!alerts_find_active(f.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));
    fixture_free(&f);
}

static void test_counters_restart(void)
{
    struct fixture f;
    fixture_init(&f, NULL);
    learn(&f);
    /* A reload replaced the statistics: every counter back to zero. */
    struct dev fresh;
    dev_init(&fresh, "pump", NULL);
    f.now += WINDOW_NS;
    CHECK(ot_monitor_observe(f.mon, &fresh.s, 1, f.now));
    CHECK_EQ_INT(alerts_list(f.alerts, NULL, NULL, 0), 0);
    struct ot_monitor_device_view v;
    ot_monitor_device(f.mon, "pump", &v);
    CHECK(!v.learning); /* the baseline stays */
    /* Windows go on from the new counters. */
    f.dev = fresh;
    f.dev.s.name = f.dev.name;
    f.dev.s.identity = f.dev.identity;
    for (int i = 0; i < 3; i++)
        window(&f, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&f, ALERT_LATENCY_DEVIATION, true), 1);
    fixture_free(&f);
}

static void test_state_round_trip(void)
{
    struct fixture f;
    fixture_init(&f, "ACME;P-100;1.0");
    learn(&f);
    char *text = ot_monitor_state_json(f.mon);
    CHECK(text != NULL);
    CHECK(!ot_monitor_dirty(f.mon));
    CHECK(strstr(text, "\"pump\"") != NULL);

    /* A new monitor from the state: no learning, the same identity. */
    struct fixture g;
    fixture_init(&g, "ACME;P-100;1.0");
    char err[256];
    CHECK(ot_monitor_load_state(g.mon, text, strlen(text), g.now, err, sizeof err));
    struct ot_monitor_device_view v, w;
    ot_monitor_device(f.mon, "pump", &v);
    ot_monitor_device(g.mon, "pump", &w);
    CHECK(!w.learning);
    CHECK_STR(w.identity, v.identity);
    CHECK_EQ_DBL(w.latency_mean_ms, v.latency_mean_ms, 1e-12);
    CHECK_EQ_DBL(w.latency_sd_ms, v.latency_sd_ms, 1e-12);
    /* It judges at once: three slow windows after the first snapshot. */
    CHECK(ot_monitor_observe(g.mon, &g.dev.s, 1, g.now));
    for (int i = 0; i < 3; i++)
        window(&g, 40, 1, 0, 0);
    CHECK_EQ_INT(alerts_of(&g, ALERT_LATENCY_DEVIATION, true), 1);
    /* Another identity after the restart: changed. */
    snprintf(g.dev.identity, sizeof g.dev.identity, "Other");
    window(&g, 40, 1, 0, 0);
    CHECK(alerts_find_active(g.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));
    /* The operator removes the device's record: alerts cleared, learning
     * again, the current identity recorded at the next snapshot. */
    const char *empty = "{\"version\": 1, \"devices\": {}}";
    CHECK(ot_monitor_load_state(g.mon, empty, strlen(empty), g.now, err, sizeof err));
    CHECK(!alerts_find_active(g.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));
    CHECK(!alerts_find_active(g.alerts, ALERT_LATENCY_DEVIATION, "pump", NULL));
    ot_monitor_device(g.mon, "pump", &w);
    CHECK(w.learning);
    window(&g, 40, 1, 0, 0);
    ot_monitor_device(g.mon, "pump", &w);
    CHECK_STR(w.identity, "Other");
    CHECK(!alerts_find_active(g.alerts, ALERT_IDENTITY_CHANGED, "pump", NULL));

    /* Bad documents are refused and change nothing. */
    const char *bad[] = {
        "",
        "[]",
        "{\"version\": 2, \"devices\": {}}",
        "{\"version\": 1, \"devices\": []}",
        "{\"version\": 1, \"devices\": {\"pump\": {\"identity\": 5}}}",
        "{\"version\": 1, \"devices\": {\"pump\": {\"identity\": \"x\", \"baseline\": {}}}}",
        ("{\"version\": 1, \"devices\": {\"pump\": {\"identity\": \"x\", \"baseline\": "
         "{\"latency_windows\": 3, \"latency_mean_ms\": 1, \"latency_sd_ms\": 0, "
         "\"error_rate\": 0, \"exception_rate\": 0, \"latency_buckets\": [1, 2]}}}}"),
        ("{\"version\": 1, \"devices\": {\"pump\": {\"identity\": \"a\"}, \"pump\": "
         "{\"identity\": \"b\"}}}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(!ot_monitor_load_state(g.mon, bad[i], strlen(bad[i]), g.now, err, sizeof err));
        CHECK(err[0] != '\0');
    }
    ot_monitor_device(g.mon, "pump", &w);
    CHECK_STR(w.identity, "Other");
    free(text);
    fixture_free(&f);
    fixture_free(&g);
}

/* ---- the configuration's monitor section ---- */

static void test_config_section(void)
{
    struct config cfg;
    struct config_error err;
    const char *none = "gateway: {name: x}\n";
    CHECK(config_load_string(none, strlen(none), "t.yaml", &cfg, &err));
    CHECK(cfg.monitor.enabled);
    CHECK_EQ_INT(cfg.monitor.learning_s, 300);
    CHECK_EQ_INT(cfg.monitor.window_s, 10);
    config_free(&cfg);
    const char *set = "monitor:\n  enabled: false\n  learning_s: 5\n  window_s: 1\n";
    CHECK(config_load_string(set, strlen(set), "t.yaml", &cfg, &err));
    CHECK(!cfg.monitor.enabled);
    CHECK_EQ_INT(cfg.monitor.learning_s, 5);
    CHECK_EQ_INT(cfg.monitor.window_s, 1);
    config_free(&cfg);
    const char *bad[] = {"monitor:\n  window_s: 0\n", "monitor:\n  learning: 5\n",
                         "monitor:\n  enabled: maybe\n", "monitor: 5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!config_load_string(bad[i], strlen(bad[i]), "t.yaml", &cfg, &err));
        CHECK(err.line >= 1 && err.message[0] != '\0');
    }
    CHECK(!config_load_string(bad[0], strlen(bad[0]), "t.yaml", &cfg, &err));
    CHECK_EQ_INT(err.line, 2);
    CHECK(strstr(err.message, "window_s") != NULL);
}

/* ---- the thread and its state file ---- */

static bool wait_for(bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 400; i++) {
        if (cond(arg)) return true;
        usleep(10000);
    }
    return false;
}

struct file_wait {
    const char *path;
    const char *needle;
};

static bool file_contains(void *arg)
{
    const struct file_wait *w = arg;
    FILE *f = fopen(w->path, "r");
    if (!f) return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, w->needle) != NULL;
}

struct alert_wait {
    struct alerts *alerts;
    enum alert_kind kind;
    bool active;
};

static bool alert_state(void *arg)
{
    const struct alert_wait *w = arg;
    return alerts_find_active(w->alerts, w->kind, "pump", NULL) == w->active;
}

static void test_runner(void)
{
    char dir[] = "/tmp/test_ot_monitor_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char data_dir[300], path[340];
    snprintf(data_dir, sizeof data_dir, "%s/data", dir); /* created by the runner */
    snprintf(path, sizeof path, "%s/%s", data_dir, OT_MONITOR_STATE_FILE);
    struct stats_registry reg;
    stats_registry_init(&reg);
    struct device_stats *d = stats_registry_reset(&reg, 1);
    snprintf(d->name, sizeof d->name, "pump");
    device_stats_set_identity(d, "ACME;P-100;1.0");
    struct alerts *alerts = alerts_new(0);
    struct ot_monitor_options o;
    ot_monitor_options_default(&o);
    o.window_ns = 20 * 1000000LL;
    char err[512];
    struct ot_monitor_runner *r = ot_monitor_start(&reg, alerts, data_dir, &o, err, sizeof err);
    CHECK(r != NULL);
    struct file_wait fw = {path, "ACME;P-100;1.0"};
    CHECK(wait_for(file_contains, &fw));
    ot_monitor_stop(r);

    /* Restarted with another identity: changed. */
    device_stats_set_identity(d, "Evil;P-100;6.6");
    r = ot_monitor_start(&reg, alerts, data_dir, &o, err, sizeof err);
    CHECK(r != NULL);
    struct alert_wait aw = {alerts, ALERT_IDENTITY_CHANGED, true};
    CHECK(wait_for(alert_state, &aw));
    /* Deleting the file resets: the alert clears and the new identity is
     * recorded. */
    CHECK(unlink(path) == 0);
    aw.active = false;
    CHECK(wait_for(alert_state, &aw));
    fw.needle = "Evil;P-100;6.6";
    CHECK(wait_for(file_contains, &fw));
    ot_monitor_stop(r);

    /* A broken state file stops the start, naming the file. */
    FILE *f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    err[0] = '\0';
    CHECK(ot_monitor_start(&reg, alerts, data_dir, &o, err, sizeof err) == NULL);
    CHECK(strstr(err, OT_MONITOR_STATE_FILE) != NULL);

    alerts_free(alerts);
    stats_registry_destroy(&reg);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    test_learning();
    test_latency_raises_once_and_clears();
    test_small_changes_stay_quiet();
    test_error_rate_and_exceptions_apart();
    test_noisy_baseline_error_rate();
    test_histogram_shift();
    test_identity();
    test_counters_restart();
    test_state_round_trip();
    test_config_section();
    test_runner();
    return test_summary();
}
