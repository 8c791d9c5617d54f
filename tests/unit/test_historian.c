/* Property tests of the historian at store level (historian.h): random
 * series of every value type, with gaps, duplicates, out-of-order samples
 * inside the late window, too-late samples and Bad/Uncertain qualities, are
 * appended and read back through heads, checkpoints, compaction and reopen,
 * and compared with a naive model kept here. Aggregates and value-at-time
 * are compared with naive computations of the semantics in hist_agg.h.
 * Also: series ids and type changes across reopen, retention by age, by
 * size and per group, and allocation failures injected one by one.
 *
 * The seed is printed; set AIRLOCK_TEST_SEED to reproduce a run. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "historian/hist_alloc.h"
#include "historian/hist_segment.h"
#include "historian/historian.h"
#include "testlib.h"

/* ---- seeded PRNG (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0). */
static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

/* True with probability percent / 100. */
static bool rng_chance(unsigned percent)
{
    return rng_below(100) < percent;
}

/* The seed from AIRLOCK_TEST_SEED, or one from the clock; printed. */
static uint64_t choose_seed(void)
{
    const char *env = getenv("AIRLOCK_TEST_SEED");
    uint64_t seed =
        env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_historian: seed %" PRIu64 " (set AIRLOCK_TEST_SEED to reproduce)\n", seed);
    return seed;
}

/* ---- temporary store directories ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it. */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a fresh directory under /tmp into out (PATH_MAX-ish). */
static void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/airlock-hist-XXXXXX");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
}

/* ---- the naive model ---- */

#define T0 ((int64_t)1700000000000000000) /* aligned to every partition size used here */
#define MAX_MODEL_SERIES 16

struct model_sample {
    int64_t ts;
    quality_t quality;
    struct value value; /* strings: malloc'd copy owned by the model */
};

struct model_series {
    char path[64];
    enum value_type type;
    uint32_t id;
    struct model_sample *samples; /* sorted by time, equal times in arrival order */
    size_t count, capacity;
    bool has_newest;
    int64_t newest;
    int64_t next_ts; /* generator state: where the series goes next */
};

struct model {
    struct model_series series[MAX_MODEL_SERIES];
    size_t series_count;
    uint64_t rejected_late; /* since the store was last opened */
    uint64_t accepted;      /* since the store was last opened */
};

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->series_count; i++) {
        struct model_series *s = &m->series[i];
        for (size_t k = 0; k < s->count; k++)
            if (s->type == VALUE_STRING) free((void *)s->samples[k].value.as.str.ptr);
        free(s->samples);
    }
    memset(m, 0, sizeof *m);
}

/* Index of the first sample with ts > t. */
static size_t model_upper_bound(const struct model_series *s, int64_t t)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->samples[mid].ts <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first sample with ts >= t. */
static size_t model_lower_bound(const struct model_series *s, int64_t t)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->samples[mid].ts < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Inserts a copy of sample (after every sample with the same or an earlier
 * time, so equal times keep arrival order). */
static void model_insert(struct model_series *s, int64_t ts, quality_t q, const struct value *v)
{
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? s->capacity * 2 : 64;
        s->samples = realloc(s->samples, s->capacity * sizeof *s->samples);
        if (!s->samples) exit(2);
    }
    size_t at = model_upper_bound(s, ts);
    memmove(&s->samples[at + 1], &s->samples[at], (s->count - at) * sizeof *s->samples);
    struct model_sample *m = &s->samples[at];
    m->ts = ts;
    m->quality = q;
    m->value = *v;
    if (v->type == VALUE_STRING) {
        char *copy = malloc(v->as.str.len + 1);
        if (!copy) exit(2);
        memcpy(copy, v->as.str.ptr, v->as.str.len);
        copy[v->as.str.len] = 0;
        m->value.as.str.ptr = copy;
    }
    s->count++;
}

/* The model's verdict on one appended sample, applied: true when the store
 * must accept it (not older than newest - late window). */
static bool model_offer(struct model *m, struct model_series *s, const struct hist_sample *x,
                        int64_t late_window_ns)
{
    if (s->has_newest && x->ts_ns < s->newest - late_window_ns) {
        m->rejected_late++;
        return false;
    }
    model_insert(s, x->ts_ns, x->quality, &x->value);
    if (!s->has_newest || x->ts_ns > s->newest) s->newest = x->ts_ns;
    s->has_newest = true;
    m->accepted++;
    return true;
}

/* ---- random samples ---- */

static const quality_t good_codes[] = {QUALITY_GOOD, QUALITY_GOOD_CLAMPED,
                                       QUALITY_GOOD_LOCAL_OVERRIDE};
static const quality_t uncertain_codes[] = {QUALITY_UNCERTAIN, QUALITY_UNCERTAIN_SUB_NORMAL,
                                            QUALITY_UNCERTAIN_LAST_USABLE_VALUE};
static const quality_t bad_codes[] = {QUALITY_BAD, QUALITY_BAD_COMMUNICATION_ERROR,
                                      QUALITY_BAD_SENSOR_FAILURE, QUALITY_BAD_TIMEOUT | 0x0400u};

static quality_t random_quality(void)
{
    unsigned r = (unsigned)rng_below(100);
    if (r < 80) return good_codes[rng_below(3)];
    if (r < 90) return uncertain_codes[rng_below(3)];
    return bad_codes[rng_below(4)];
}

/* A random value of type; strings point into buf (at least 40 bytes). */
static struct value random_value(enum value_type type, char *buf)
{
    switch (type) {
    case VALUE_BOOL:
        return value_bool(rng_chance(50));
    case VALUE_INT64:
        if (rng_chance(3)) return value_int64(rng_chance(50) ? INT64_MIN / 1024 : -1);
        return value_int64((int64_t)rng_below(2000001) - 1000000);
    case VALUE_UINT64:
        return value_uint64(rng_chance(5) ? (uint64_t)1 << 52 : rng_below(5000000));
    case VALUE_DOUBLE:
        if (rng_chance(2)) return value_double(-0.0);
        if (rng_chance(2)) return value_double(1e-310); /* subnormal */
        if (rng_chance(50))
            return value_double((double)((int64_t)rng_below(200001) - 100000) / 100.0);
        return value_double(((double)rng_next() / 18446744073709551616.0 - 0.5) * 2000.0);
    case VALUE_STRING: {
        static const char *words[] = {"RUN", "STOP", "FAULT", "", "maintenance mode", "ÄÖ"};
        struct value v = {.type = VALUE_STRING};
        if (rng_chance(70)) {
            const char *w = words[rng_below(6)];
            snprintf(buf, 40, "%s", w);
        } else {
            snprintf(buf, 40, "v%" PRIu64 "-%" PRIu64, rng_below(1000), rng_next());
        }
        v.as.str.ptr = buf;
        v.as.str.len = (uint32_t)strlen(buf);
        return v;
    }
    }
    return value_bool(false);
}

/* A timestamp for the next sample of s: mostly forward with jitter and
 * gaps, sometimes a duplicate, sometimes out of order inside the window,
 * sometimes (when allow_late) too late. */
static int64_t random_ts(struct model_series *s, int64_t late_window_ns, bool allow_late)
{
    unsigned r = (unsigned)rng_below(100);
    if (s->has_newest && r < 5) return s->newest; /* duplicate time */
    if (s->has_newest && r < 15)                  /* out of order, well inside the window */
        return s->newest - (int64_t)rng_below((uint64_t)late_window_ns / 2);
    if (s->has_newest && allow_late && r < 18) /* too late */
        return s->newest - late_window_ns - 1 - (int64_t)rng_below(5 * HIST_NS_PER_S);
    int64_t step = 50 * HIST_NS_PER_MS + (int64_t)rng_below(100 * HIST_NS_PER_MS);
    if (rng_chance(3)) step += (int64_t)rng_below(8 * HIST_NS_PER_S); /* a gap */
    if (s->next_ts < s->newest) s->next_ts = s->newest;
    s->next_ts += step;
    return s->next_ts;
}

/* Appends count random samples in random batches across every series of m,
 * checking the accepted counts against the model. */
static void append_random(struct historian *h, struct model *m, size_t count, int64_t window,
                          bool allow_late)
{
    struct hist_sample batch[16];
    char strings[16][40];
    size_t done = 0;
    while (done < count) {
        size_t n = 1 + (size_t)rng_below(16);
        if (n > count - done) n = count - done;
        size_t expect = 0;
        for (size_t i = 0; i < n; i++) {
            struct model_series *s = &m->series[rng_below(m->series_count)];
            batch[i].series = s->id;
            batch[i].quality = random_quality();
            batch[i].ts_ns = random_ts(s, window, allow_late);
            batch[i].value = random_value(s->type, strings[i]);
            if (model_offer(m, s, &batch[i], window)) expect++;
        }
        size_t accepted = 0;
        bool ok = hist_append(h, batch, n, &accepted);
        CHECK(ok);
        CHECK_EQ_INT(accepted, expect);
        done += n;
    }
}

/* ---- comparing reads with the model ---- */

static void describe_value(const struct value *v, char *out, size_t len)
{
    switch (v->type) {
    case VALUE_BOOL:
        snprintf(out, len, "bool %d", v->as.b);
        break;
    case VALUE_INT64:
        snprintf(out, len, "int64 %" PRId64, v->as.i64);
        break;
    case VALUE_UINT64:
        snprintf(out, len, "uint64 %" PRIu64, v->as.u64);
        break;
    case VALUE_DOUBLE:
        snprintf(out, len, "double %.17g", v->as.f64);
        break;
    case VALUE_STRING:
        snprintf(out, len, "string \"%.*s\"", (int)v->as.str.len, v->as.str.ptr);
        break;
    }
}

/* True when c[0..count) equals the model's samples [lo, lo + count); the
 * first difference is printed. */
static bool columns_match(const struct hist_columns *c, const struct model_series *s, size_t lo,
                          size_t count, const char *label)
{
    if (c->count != count) {
        fprintf(stderr, "%s: %s: %u samples read, %zu expected\n", label, s->path, c->count, count);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        const struct model_sample *want = &s->samples[lo + i];
        struct value got = hist_columns_value(c, (uint32_t)i);
        if (c->ts[i] != want->ts || c->quality[i] != want->quality ||
            !value_equal(&got, &want->value)) {
            char a[96], b[96];
            describe_value(&got, a, sizeof a);
            describe_value(&want->value, b, sizeof b);
            fprintf(stderr,
                    "%s: %s: sample %zu differs: got ts %" PRId64 " q %08x %s, want ts %" PRId64
                    " q %08x %s\n",
                    label, s->path, i, c->ts[i], c->quality[i], a, want->ts, want->quality, b);
            for (size_t k = i >= 2 ? i - 2 : 0; k < i + 3 && k < count; k++) {
                struct value g = hist_columns_value(c, (uint32_t)k);
                describe_value(&g, a, sizeof a);
                describe_value(&s->samples[lo + k].value, b, sizeof b);
                fprintf(stderr, "  [%zu] got %" PRId64 " %08x %s | want %" PRId64 " %08x %s\n", k,
                        c->ts[k] - T0, c->quality[k], a, s->samples[lo + k].ts - T0,
                        s->samples[lo + k].quality, b);
            }
            return false;
        }
    }
    return true;
}

/* Reads [from, to) (with limit) and compares with the model. */
static void check_range(struct historian *h, const struct model_series *s, int64_t from, int64_t to,
                        size_t limit, const char *label)
{
    struct hist_columns c;
    hist_columns_init(&c, s->type);
    bool truncated = true;
    char why[256] = "";
    bool ok = hist_read_raw(h, s->id, from, to, limit, &c, &truncated, why, sizeof why);
    CHECK(ok);
    if (!ok) fprintf(stderr, "%s: read_raw failed: %s\n", label, why);
    size_t lo = model_lower_bound(s, from), hi = model_lower_bound(s, to);
    if (to <= from) hi = lo;
    size_t want = hi - lo;
    bool want_truncated = limit && want > limit;
    if (want_truncated) want = limit;
    if (ok) {
        bool same = columns_match(&c, s, lo, want, label);
        CHECK(same);
        if (!same)
            fprintf(stderr, "%s: range [%" PRId64 ", %" PRId64 ") limit %zu\n", label, from - T0,
                    to - T0, limit);
        CHECK_EQ_INT(truncated, want_truncated);
    }
    hist_columns_free(&c);
}

/* ---- naive aggregates ---- */

/* Whether the model's result for kind can be checked exactly: any NaN or
 * infinite input makes min/max/sum order-dependent. */
static bool finite_value(const struct value *v)
{
    return isfinite(value_as_double(v));
}

enum expected_quality { EXPECT_GOOD, EXPECT_UNCERTAIN, EXPECT_NO_DATA };

struct naive_bucket {
    uint32_t count, good, uncertain, bad;
    double value; /* NaN when none */
    enum expected_quality quality;
    double scale; /* magnitude of the inputs, for the tolerance */
    bool checkable;
};

/* The bucket [b0, b1) of kind over s, as hist_agg.h defines it. */
static void naive_bucket(const struct model_series *s, enum hist_agg_kind kind, int64_t b0,
                         int64_t b1, struct naive_bucket *out)
{
    memset(out, 0, sizeof *out);
    out->value = NAN;
    out->checkable = s->type != VALUE_STRING;
    size_t lo = model_lower_bound(s, b0), hi = model_lower_bound(s, b1);
    double sum = 0, min = INFINITY, max = -INFINITY, first = NAN, last = NAN, maxabs = 0;
    for (size_t i = lo; i < hi; i++) {
        const struct model_sample *x = &s->samples[i];
        if (quality_is_bad(x->quality)) {
            out->bad++;
            continue;
        }
        if (quality_is_uncertain(x->quality))
            out->uncertain++;
        else
            out->good++;
        out->count++;
        if (!finite_value(&x->value)) out->checkable = false;
        double v = value_as_double(&x->value);
        sum += v;
        if (v < min) min = v;
        if (v > max) max = v;
        if (isnan(first)) first = v;
        last = v;
        if (fabs(v) > maxabs) maxabs = fabs(v);
    }
    bool time_weighted = kind == HIST_AGG_TWA || kind == HIST_AGG_INTEGRAL;
    if (out->count == 0 && !time_weighted) {
        out->quality = EXPECT_NO_DATA;
        if (kind == HIST_AGG_COUNT) out->value = 0;
        return;
    }
    out->quality = out->uncertain || out->bad ? EXPECT_UNCERTAIN : EXPECT_GOOD;
    double n = out->count, mean = n ? sum / n : NAN, m2 = 0;
    for (size_t i = lo; i < hi; i++) {
        const struct model_sample *x = &s->samples[i];
        if (quality_is_bad(x->quality)) continue;
        double d = value_as_double(&x->value) - mean;
        m2 += d * d;
    }
    out->scale = maxabs;
    switch (kind) {
    case HIST_AGG_COUNT:
        out->value = n;
        break;
    case HIST_AGG_MIN:
        out->value = min;
        break;
    case HIST_AGG_MAX:
        out->value = max;
        break;
    case HIST_AGG_AVG:
        out->value = mean;
        break;
    case HIST_AGG_SUM:
        out->value = sum;
        out->scale = maxabs * n;
        break;
    case HIST_AGG_STDDEV:
        out->value = sqrt(m2 / n);
        break;
    case HIST_AGG_FIRST:
        out->value = first;
        break;
    case HIST_AGG_LAST:
        out->value = last;
        break;
    case HIST_AGG_TWA:
    case HIST_AGG_INTEGRAL: {
        /* Sample and hold: the value in force at b0 is the last sample
         * before it (none when that one is Bad); a Bad sample ends the
         * holding; the last value holds to the bucket's end. Quality (as
         * hist_agg.c documents it): no data when nothing was held, Good
         * when every sample and held value was Good and the held time
         * covers the bucket, Uncertain otherwise. */
        bool holding = false, held_uncertain = false;
        quality_t held_quality = QUALITY_GOOD;
        double held = 0, integral = 0;
        int64_t held_ns = 0, t = b0;
        if (lo > 0 && !quality_is_bad(s->samples[lo - 1].quality)) {
            holding = true;
            held = value_as_double(&s->samples[lo - 1].value);
            held_quality = s->samples[lo - 1].quality;
            if (!finite_value(&s->samples[lo - 1].value)) out->checkable = false;
            if (fabs(held) > out->scale) out->scale = fabs(held);
        }
        for (size_t i = lo; i <= hi; i++) {
            int64_t until = i < hi ? s->samples[i].ts : b1;
            if (holding && until > t) {
                integral += held * ((double)(until - t) / 1e9);
                held_ns += until - t;
                if (quality_is_uncertain(held_quality)) held_uncertain = true;
            }
            t = until;
            if (i < hi) {
                holding = !quality_is_bad(s->samples[i].quality);
                held = value_as_double(&s->samples[i].value);
                held_quality = s->samples[i].quality;
            }
        }
        if (held_ns == 0)
            out->quality = EXPECT_NO_DATA;
        else if (held_uncertain || out->uncertain || out->bad || held_ns != b1 - b0)
            out->quality = EXPECT_UNCERTAIN;
        else
            out->quality = EXPECT_GOOD;
        if (held_ns == 0) {
            out->value = NAN;
        } else if (kind == HIST_AGG_INTEGRAL) {
            out->value = integral;
            out->scale *= (double)(b1 - b0) / 1e9;
        } else {
            out->value = held_ns ? integral / ((double)held_ns / 1e9) : NAN;
        }
        break;
    }
    }
}

static const char *const agg_names[] = {"count",  "min",   "max",  "avg", "sum",
                                        "stddev", "first", "last", "twa", "integral"};

/* Compares hist_aggregate of kind over [from, to) by every with the model. */
static void check_aggregate(struct historian *h, const struct model_series *s,
                            enum hist_agg_kind kind, int64_t from, int64_t to, int64_t every,
                            const char *label)
{
    struct hist_bucket *b = NULL;
    size_t count = 0;
    char why[256] = "";
    bool ok = hist_aggregate(h, s->id, from, to, every, kind, &b, &count, why, sizeof why);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "%s: aggregate %s failed: %s\n", label, agg_names[kind], why);
        return;
    }
    size_t want_count = (size_t)((to - from + every - 1) / every);
    CHECK_EQ_INT(count, want_count);
    int reported = 0;
    for (size_t k = 0; k < count && k < want_count; k++) {
        int64_t b0 = from + (int64_t)k * every, b1 = b0 + every < to ? b0 + every : to;
        struct naive_bucket nb;
        naive_bucket(s, kind, b0, b1, &nb);
        bool same = b[k].start_ns == b0 && b[k].count == nb.count && b[k].good == nb.good &&
                    b[k].uncertain == nb.uncertain && b[k].bad == nb.bad;
        if (nb.quality == EXPECT_NO_DATA)
            same = same && b[k].quality == QUALITY_BAD_NO_DATA;
        else if (nb.quality == EXPECT_UNCERTAIN)
            same = same && quality_is_uncertain(b[k].quality);
        else
            same = same && quality_is_good(b[k].quality);
        if (nb.checkable || kind == HIST_AGG_COUNT) {
            double tol = 1e-9 * (fabs(nb.value) + nb.scale) + 1e-300;
            if (isnan(nb.value))
                same = same && isnan(b[k].value);
            else
                same = same && fabs(b[k].value - nb.value) <= tol;
        }
        CHECK(same);
        if (!same && reported++ < 3)
            fprintf(stderr,
                    "%s: %s %s bucket %zu [%" PRId64 ", %" PRId64 "): got start %" PRId64
                    " count %u g/u/b %u/%u/%u value %.17g q %08x; want count %u g/u/b %u/%u/%u "
                    "value %.17g q %s\n",
                    label, s->path, agg_names[kind], k, b0 - T0, b1 - T0, b[k].start_ns - T0,
                    b[k].count, b[k].good, b[k].uncertain, b[k].bad, b[k].value, b[k].quality,
                    nb.count, nb.good, nb.uncertain, nb.bad, nb.value,
                    nb.quality == EXPECT_GOOD        ? "Good"
                    : nb.quality == EXPECT_UNCERTAIN ? "Uncertain"
                                                     : "Bad_NoData");
    }
    free(b);
}

/* Compares hist_value_at_time at t (both modes) with the model. */
static void check_value_at(struct historian *h, const struct model_series *s, int64_t t,
                           const char *label)
{
    size_t next = model_upper_bound(s, t);
    for (int mode = HIST_INTERP_PREVIOUS; mode <= HIST_INTERP_LINEAR; mode++) {
        struct value v = {0};
        quality_t q = 0;
        int64_t ts = 0;
        struct hist_columns strings;
        hist_columns_init(&strings, s->type);
        char why[256] = "";
        bool ok = hist_value_at_time(h, s->id, t, (enum hist_interp)mode, &v, &q, &ts, &strings,
                                     why, sizeof why);
        CHECK_EQ_INT(ok, next > 0);
        if (ok && next > 0) {
            const struct model_sample *p = &s->samples[next - 1];
            bool numeric = s->type != VALUE_BOOL && s->type != VALUE_STRING;
            bool same = ts == p->ts;
            if (mode == HIST_INTERP_PREVIOUS || !numeric) {
                same = same && value_equal(&v, &p->value) && q == p->quality;
            } else if (next < s->count && t > p->ts) {
                const struct model_sample *n = &s->samples[next];
                if (quality_is_bad(p->quality) || quality_is_bad(n->quality)) {
                    same = same && value_as_double(&v) == value_as_double(&p->value);
                } else if (finite_value(&p->value) && finite_value(&n->value)) {
                    double v0 = value_as_double(&p->value), v1 = value_as_double(&n->value);
                    double want = v0 + (v1 - v0) * ((double)(t - p->ts) / (double)(n->ts - p->ts));
                    double tol = 1e-9 * (fabs(v0) + fabs(v1)) + 1e-300;
                    same = same && v.type == VALUE_DOUBLE && fabs(v.as.f64 - want) <= tol;
                    bool want_uncertain =
                        quality_is_uncertain(p->quality) || quality_is_uncertain(n->quality);
                    same = same && (want_uncertain ? quality_is_uncertain(q) : quality_is_good(q));
                }
            }
            CHECK(same);
            if (!same) {
                char a[96], b[96];
                describe_value(&v, a, sizeof a);
                describe_value(&p->value, b, sizeof b);
                fprintf(stderr,
                        "%s: %s value_at %s t %" PRId64 ": got %s q %08x ts %" PRId64
                        "; previous sample %s q %08x ts %" PRId64 "\n",
                        label, s->path, mode ? "linear" : "previous", t - T0, a, q, ts - T0, b,
                        p->quality, p->ts - T0);
            }
        }
        hist_columns_free(&strings);
    }
}

/* A random instant around the model's data. */
static int64_t random_time(const struct model_series *s)
{
    int64_t lo = T0 - 2 * HIST_NS_PER_S;
    int64_t hi = (s->count ? s->samples[s->count - 1].ts : T0) + 2 * HIST_NS_PER_S;
    if (s->count && rng_chance(20)) return s->samples[rng_below(s->count)].ts; /* on a sample */
    return lo + (int64_t)rng_below((uint64_t)(hi - lo));
}

/* Everything a reader can ask, compared with the model. */
static void verify_store(struct historian *h, const struct model *m, const char *label)
{
    for (size_t i = 0; i < m->series_count; i++) {
        const struct model_series *s = &m->series[i];
        check_range(h, s, INT64_MIN / 2, INT64_MAX / 2, 0, label);
        for (int r = 0; r < 12; r++) {
            int64_t a = random_time(s), b = random_time(s);
            if (a > b) {
                int64_t t = a;
                a = b;
                b = t;
            }
            check_range(h, s, a, b + 1, r < 3 ? 1 + rng_below(50) : 0, label);
        }
        for (int kind = HIST_AGG_COUNT; kind <= HIST_AGG_INTEGRAL; kind++) {
            int64_t from = random_time(s), span = 1 + (int64_t)rng_below(60 * HIST_NS_PER_S);
            int64_t every = 1 + (int64_t)rng_below((uint64_t)span);
            if (rng_chance(30)) every = HIST_NS_PER_S * (1 + (int64_t)rng_below(5));
            if ((span + every - 1) / every > 5000) every = span / 5000 + 1;
            check_aggregate(h, s, (enum hist_agg_kind)kind, from, from + span, every, label);
        }
        for (int r = 0; r < 12; r++)
            check_value_at(h, s, random_time(s), label);
    }
    struct hist_stats st;
    hist_get_stats(h, &st);
    CHECK_EQ_INT(st.samples_rejected_late, m->rejected_late);
    CHECK_EQ_INT(st.samples_accepted, m->accepted);
    CHECK_EQ_INT(st.corrupt_chunks, 0);
}

/* Small chunks and partitions so a few thousand samples make many. */
static void small_options(struct hist_options *o, const char *dir)
{
    hist_options_init(o);
    o->dir = dir;
    o->durability = HIST_DURABILITY_BATCHED;
    o->late_window_ns = 3 * HIST_NS_PER_S;
    o->partition_ns = 10 * HIST_NS_PER_S;
    o->chunk_span_ns = 2 * HIST_NS_PER_S;
    o->chunk_max_samples = 16;
    o->checkpoint_interval_ms = 3600000; /* only when the test asks */
}

static struct historian *open_or_die(const struct hist_options *o)
{
    char err[256] = "";
    struct historian *h = hist_open(o, err, sizeof err);
    if (!h) fprintf(stderr, "hist_open(%s): %s\n", o->dir, err);
    CHECK(h != NULL);
    return h;
}

/* Creates the model's series in h (paths p/<i>/v, random types). */
static void create_series(struct historian *h, struct model *m, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct model_series *s = &m->series[m->series_count++];
        snprintf(s->path, sizeof s->path, "prop/s%zu/value", i);
        s->type = (enum value_type)(i < 5 ? i : rng_below(5));
        s->next_ts = T0 + (int64_t)rng_below(HIST_NS_PER_S);
        int64_t id = hist_series(h, s->path, s->type);
        CHECK(id >= 0);
        s->id = (uint32_t)id;
    }
}

/* ---- 1. round trips through heads, checkpoints, compaction, reopen ---- */

static void test_round_trip(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    struct hist_options o;
    small_options(&o, dir);
    struct model m = {0};
    struct historian *h = open_or_die(&o);
    if (!h) return;
    create_series(h, &m, 7);

    append_random(h, &m, 1500, o.late_window_ns, true);
    verify_store(h, &m, "heads only");

    CHECK(hist_checkpoint(h));
    verify_store(h, &m, "after checkpoint");

    append_random(h, &m, 1500, o.late_window_ns, true); /* late ones land in written ranges */
    verify_store(h, &m, "segments and heads");
    CHECK(hist_checkpoint(h));
    append_random(h, &m, 500, o.late_window_ns, true);
    CHECK(hist_checkpoint(h));
    verify_store(h, &m, "several checkpoints");

    CHECK(hist_compact(h));
    verify_store(h, &m, "after compaction");
    append_random(h, &m, 300, o.late_window_ns, true); /* left in the log at close */
    CHECK(hist_sync(h));
    hist_close(h);

    m.rejected_late = m.accepted = 0;
    h = open_or_die(&o);
    if (!h) goto out;
    for (size_t i = 0; i < m.series_count; i++) {
        CHECK_EQ_INT(hist_find_series(h, m.series[i].path), m.series[i].id);
        CHECK_EQ_INT(hist_series(h, m.series[i].path, m.series[i].type), m.series[i].id);
    }
    verify_store(h, &m, "after reopen");
    /* The newest time survives the restart: too-late samples stay rejected. */
    append_random(h, &m, 800, o.late_window_ns, true);
    verify_store(h, &m, "appends after reopen");
    CHECK(hist_checkpoint(h));
    CHECK(hist_compact(h));
    verify_store(h, &m, "compaction after reopen");

    /* A crash-free restart without a checkpoint: everything from the log. */
    append_random(h, &m, 200, o.late_window_ns, false);
    hist_close(h);
    m.rejected_late = m.accepted = 0;
    h = open_or_die(&o);
    if (h) verify_store(h, &m, "second reopen");
    hist_close(h);
out:
    model_free(&m);
    remove_tree(dir);
}

/* The smallest case of equal timestamps: one sample written to a segment,
 * one with the same time still in the head; arrival order must hold. */
static void test_equal_times_across_checkpoint(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    struct hist_options o;
    small_options(&o, dir);
    struct model m = {0};
    struct historian *h = open_or_die(&o);
    if (!h) goto out;
    struct model_series *s = &m.series[m.series_count++];
    snprintf(s->path, sizeof s->path, "equal/times/value");
    s->type = VALUE_DOUBLE;
    s->id = (uint32_t)hist_series(h, s->path, VALUE_DOUBLE);
    /* Written: 1 at T0, 2 at T0 + 1 s. Then in the head, in this order:
     * 3 at T0 + 1 s, 4, 5, 6 at T0 + 0.5 s, 7 at T0 and 8 at T0 - 0.5 s
     * (so the head starts before the segment's chunk). */
    static const int64_t offsets_ms[8] = {0, 1000, 1000, 500, 500, 500, 0, -500};
    for (int i = 0; i < 8; i++) {
        struct hist_sample x = {.series = s->id,
                                .ts_ns = T0 + offsets_ms[i] * HIST_NS_PER_MS,
                                .value = value_double(i + 1)};
        CHECK(hist_append(h, &x, 1, NULL));
        model_offer(&m, s, &x, o.late_window_ns);
        if (i == 1) CHECK(hist_checkpoint(h));
    }
    check_range(h, s, T0 - HIST_NS_PER_S, T0 + HIST_NS_PER_S + 1, 0,
                "equal times, segment then head");
    CHECK(hist_checkpoint(h));
    check_range(h, s, T0 - HIST_NS_PER_S, T0 + HIST_NS_PER_S + 1, 0, "equal times, two segments");
    CHECK(hist_compact(h));
    check_range(h, s, T0 - HIST_NS_PER_S, T0 + HIST_NS_PER_S + 1, 0, "equal times, compacted");
    hist_close(h);
out:
    model_free(&m);
    remove_tree(dir);
}

/* ---- 2. series ids, type changes, listing ---- */

struct list_ctx {
    char last_path[256];
    size_t count;
    bool sorted;
};

static bool list_one(void *ctx, const struct hist_series_info *s)
{
    struct list_ctx *c = ctx;
    if (c->count && strcmp(c->last_path, s->path) > 0) c->sorted = false;
    snprintf(c->last_path, sizeof c->last_path, "%s", s->path);
    c->count++;
    return true;
}

static void test_series_and_types(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    struct hist_options o;
    small_options(&o, dir);
    struct historian *h = open_or_die(&o);
    if (!h) goto out;
    const char *path = "site/area/tank_level";
    int64_t as_double = hist_series(h, path, VALUE_DOUBLE);
    CHECK(as_double >= 0);
    CHECK_EQ_INT(hist_series(h, path, VALUE_DOUBLE), as_double);
    struct hist_sample d = {.series = (uint32_t)as_double,
                            .quality = QUALITY_GOOD,
                            .ts_ns = T0,
                            .value = value_double(1.5)};
    size_t acc = 0;
    CHECK(hist_append(h, &d, 1, &acc) && acc == 1);

    int64_t as_int = hist_series(h, path, VALUE_INT64);
    CHECK(as_int >= 0 && as_int != as_double);
    CHECK_EQ_INT(hist_find_series(h, path), as_int);
    struct hist_sample i = {.series = (uint32_t)as_int,
                            .quality = QUALITY_GOOD,
                            .ts_ns = T0 + HIST_NS_PER_S,
                            .value = value_int64(42)};
    CHECK(hist_append(h, &i, 1, &acc) && acc == 1);
    /* A double sent to the int series is rejected (wrong type), not stored. */
    struct hist_sample wrong = d;
    wrong.series = (uint32_t)as_int;
    wrong.ts_ns = T0 + 2 * HIST_NS_PER_S;
    CHECK(hist_append(h, &wrong, 1, &acc));
    CHECK_EQ_INT(acc, 0);
    struct hist_sample unknown = d;
    unknown.series = 99999;
    CHECK(hist_append(h, &unknown, 1, &acc));
    CHECK_EQ_INT(acc, 0);
    struct hist_stats st;
    hist_get_stats(h, &st);
    CHECK_EQ_INT(st.samples_rejected_other, 2);
    CHECK_EQ_INT(st.samples_accepted, 2);
    CHECK(hist_series(h, "site/area/other", VALUE_STRING) >= 0);
    CHECK(hist_series(h, "alpha/b/c", VALUE_BOOL) >= 0);
    CHECK(hist_checkpoint(h));
    hist_close(h);

    h = open_or_die(&o);
    if (!h) goto out;
    CHECK_EQ_INT(hist_find_series(h, path), as_int);
    CHECK_EQ_INT(hist_series(h, path, VALUE_INT64), as_int);
    CHECK_EQ_INT(hist_find_series(h, "no/such/path"), -1);
    struct hist_series_info info;
    CHECK(hist_series_info(h, (uint32_t)as_double, &info));
    CHECK_EQ_INT(info.type, VALUE_DOUBLE);
    CHECK_STR(info.path, path);
    CHECK(hist_series_info(h, (uint32_t)as_int, &info));
    CHECK_EQ_INT(info.type, VALUE_INT64);
    CHECK(!hist_series_info(h, 99999, &info));

    /* Both histories stay readable under their own ids. */
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    char why[128];
    CHECK(hist_read_raw(h, (uint32_t)as_double, 0, INT64_MAX, 0, &c, NULL, why, sizeof why));
    CHECK(c.count == 1 && c.f64[0] == 1.5 && c.ts[0] == T0);
    hist_columns_free(&c);
    hist_columns_init(&c, VALUE_INT64);
    CHECK(hist_read_raw(h, (uint32_t)as_int, 0, INT64_MAX, 0, &c, NULL, why, sizeof why));
    CHECK(c.count == 1 && c.i64[0] == 42);
    hist_columns_free(&c);
    CHECK(!hist_read_raw(h, 99999, 0, INT64_MAX, 0, &c, NULL, why, sizeof why));

    /* Listing gives the newest series of each path (historian.c), while
     * stats count every series. */
    struct list_ctx lc = {.sorted = true};
    hist_list_series(h, "", list_one, &lc);
    hist_get_stats(h, &st);
    CHECK_EQ_INT(st.series, 4);
    CHECK_EQ_INT(lc.count, 3);
    CHECK(lc.sorted);
    memset(&lc, 0, sizeof lc);
    lc.sorted = true;
    hist_list_series(h, "site/area/", list_one, &lc);
    CHECK_EQ_INT(lc.count, 2); /* tank_level (as int64) and other */
    hist_close(h);
out:
    remove_tree(dir);
}

/* ---- 3. retention by age, by size, per group ---- */

struct partition_bytes {
    int64_t start;
    uint64_t bytes;
};

static struct partition_bytes found_parts[64];
static size_t found_part_count;
static const char *found_group;

/* Adds the size of each segment file of found_group to its partition. */
static int add_segment_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    size_t len = strlen(path);
    if (flag != FTW_F || len < 4 || strcmp(path + len - 4, ".seg") != 0) return 0;
    char needle[80];
    snprintf(needle, sizeof needle, "/%s/", found_group);
    if (!strstr(path, needle)) return 0;
    char err[256];
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), path, err, sizeof err);
    if (!seg) return 0;
    int64_t start = hist_seg_meta(seg)->partition_start_ns;
    hist_seg_close(seg);
    size_t i = 0;
    while (i < found_part_count && found_parts[i].start != start)
        i++;
    if (i == found_part_count) {
        if (found_part_count == 64) return 0;
        found_parts[found_part_count++] = (struct partition_bytes){start, 0};
    }
    found_parts[i].bytes += (uint64_t)st->st_size;
    return 0;
}

static int compare_parts(const void *a, const void *b)
{
    const struct partition_bytes *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Partitions of group under dir with their bytes on disk, oldest first. */
static size_t group_partitions(const char *dir, const char *group)
{
    found_part_count = 0;
    found_group = group;
    nftw(dir, add_segment_file, 16, FTW_PHYS);
    qsort(found_parts, found_part_count, sizeof found_parts[0], compare_parts);
    return found_part_count;
}

/* Expects the model's samples of s in [from, to) to be absent (gone) or
 * present exactly. */
static void check_gone(struct historian *h, const struct model_series *s, int64_t from, int64_t to,
                       const char *label)
{
    struct hist_columns c;
    hist_columns_init(&c, s->type);
    char why[128];
    CHECK(hist_read_raw(h, s->id, from, to, 0, &c, NULL, why, sizeof why));
    if (c.count) fprintf(stderr, "%s: %s still has %u samples\n", label, s->path, c.count);
    CHECK_EQ_INT(c.count, 0);
    hist_columns_free(&c);
}

static void test_retention(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    const int64_t part = 10 * HIST_NS_PER_S;
    struct hist_retention_group groups[3] = {
        {.name = "fast", .prefix = "fast/", .max_age_ns = 35 * HIST_NS_PER_S},
        {.name = "big", .prefix = "big/"},
        {.name = "rest", .prefix = ""},
    };
    struct hist_options o;
    small_options(&o, dir);
    o.groups = groups;
    o.group_count = 3;
    struct model m = {0};
    struct historian *h = open_or_die(&o);
    if (!h) goto out;
    const char *paths[3] = {"fast/a/x", "big/a/y", "other/a/z"};
    for (size_t i = 0; i < 3; i++) {
        struct model_series *s = &m.series[m.series_count++];
        snprintf(s->path, sizeof s->path, "%s", paths[i]);
        s->type = i == 2 ? VALUE_INT64 : VALUE_DOUBLE;
        int64_t id = hist_series(h, s->path, s->type);
        CHECK(id >= 0);
        s->id = (uint32_t)id;
    }
    /* 10 partitions of 100 samples per series. */
    for (int64_t k = 0; k < 1000; k++) {
        struct hist_sample x[3];
        for (size_t i = 0; i < 3; i++) {
            x[i].series = m.series[i].id;
            x[i].quality = QUALITY_GOOD;
            x[i].ts_ns = T0 + k * 100 * HIST_NS_PER_MS;
            x[i].value = i == 2 ? value_int64(k * 7) : value_double((double)k * 0.5 + (double)i);
            model_offer(&m, &m.series[i], &x[i], o.late_window_ns);
        }
        size_t acc = 0;
        CHECK(hist_append(h, x, 3, &acc) && acc == 3);
    }
    CHECK(hist_checkpoint(h));
    CHECK(hist_compact(h));
    const int64_t now = T0 + 100 * HIST_NS_PER_S;
    CHECK(hist_apply_retention(h, now));
    /* fast: cut at now - 35 s = T0 + 65 s; partitions ending by T0 + 60 s go,
     * those starting at T0 + 70 s or later stay; [60, 70) may go either way. */
    check_gone(h, &m.series[0], INT64_MIN / 2, T0 + 6 * part, "age retention");
    size_t keep_from = model_lower_bound(&m.series[0], T0 + 7 * part);
    check_range(h, &m.series[0], T0 + 7 * part, INT64_MAX / 2, 0, "age retention keeps");
    check_range(h, &m.series[1], INT64_MIN / 2, INT64_MAX / 2, 0, "other group untouched");
    check_range(h, &m.series[2], INT64_MIN / 2, INT64_MAX / 2, 0, "default group untouched");
    struct hist_stats st;
    hist_get_stats(h, &st);
    CHECK(st.partitions_deleted >= 6);
    (void)keep_from;
    hist_close(h);

    /* big: limit its bytes so that exactly its two oldest partitions go. */
    size_t parts = group_partitions(dir, "big");
    CHECK_EQ_INT(parts, 10);
    if (parts >= 3) {
        uint64_t total = 0;
        for (size_t i = 0; i < parts; i++)
            total += found_parts[i].bytes;
        groups[1].max_bytes = total - found_parts[0].bytes - found_parts[1].bytes / 2;
        h = open_or_die(&o);
        if (!h) goto out;
        CHECK(hist_apply_retention(h, now));
        int64_t third = found_parts[2].start;
        check_gone(h, &m.series[1], INT64_MIN / 2, third, "size retention");
        check_range(h, &m.series[1], third, INT64_MAX / 2, 0, "size retention keeps");
        check_range(h, &m.series[0], T0 + 7 * part, INT64_MAX / 2, 0, "fast after size");
        check_range(h, &m.series[2], INT64_MIN / 2, INT64_MAX / 2, 0, "default after size");
        hist_close(h);
        CHECK_EQ_INT(group_partitions(dir, "big"), parts - 2);
        CHECK_EQ_INT(group_partitions(dir, "rest"), 10);
    }
out:
    model_free(&m);
    remove_tree(dir);
}

/* ---- 4. allocation failures, one by one ---- */

#define ALLOC_MAX_STEPS 20000

/* Appends one sample of s at the next time, under injection at n; applies
 * the store's verdict to the model. True when the call succeeded without an
 * injected failure (the loop is done). */
static bool append_one_failing_at(struct historian *h, struct model *m, struct model_series *s,
                                  uint64_t n, int64_t *next_ts)
{
    char buf[40];
    struct hist_sample x = {.series = s->id, .quality = random_quality(), .ts_ns = *next_ts};
    x.value = random_value(s->type, buf);
    *next_ts += 10 * HIST_NS_PER_MS;
    size_t acc = 0;
    hist_alloc_fail_at(n, 1);
    bool ok = hist_append(h, &x, 1, &acc);
    uint64_t used = hist_alloc_count();
    hist_alloc_fail_at(0, 0);
    CHECK(acc <= 1);
    if (acc == 1) model_insert(s, x.ts_ns, x.quality, &x.value);
    if (acc == 1) m->accepted++;
    if (used < n) {
        CHECK(ok && acc == 1);
        return true;
    }
    return false;
}

/* Reads every series fully with no injection and compares. */
static void verify_all_raw(struct historian *h, const struct model *m, const char *label)
{
    for (size_t i = 0; i < m->series_count; i++)
        check_range(h, &m->series[i], INT64_MIN / 2, INT64_MAX / 2, 0, label);
}

static void test_alloc_failures(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    struct hist_options o;
    small_options(&o, dir);
    o.durability = HIST_DURABILITY_STRICT;
    struct model m = {0};
    struct historian *h = NULL;

    /* hist_open on an empty directory, then on a store with data. */
    for (int round = 0; round < 2; round++) {
        uint64_t n = 1;
        for (; n < ALLOC_MAX_STEPS; n++) {
            char err[256] = "";
            hist_alloc_fail_at(n, 1);
            h = hist_open(&o, err, sizeof err);
            uint64_t used = hist_alloc_count();
            hist_alloc_fail_at(0, 0);
            if (used < n) break;
            hist_close(h);
            h = NULL;
        }
        CHECK(h != NULL);
        if (!h) goto out;
        if (round == 0) {
            create_series(h, &m, 3);
            int64_t next_ts = T0;
            for (int k = 0; k < 300; k++)
                append_one_failing_at(h, &m, &m.series[k % 3], 0, &next_ts);
            CHECK(hist_checkpoint(h));
            for (int k = 0; k < 50; k++)
                append_one_failing_at(h, &m, &m.series[k % 3], 0, &next_ts);
            hist_close(h);
            m.accepted = 0;
            h = open_or_die(&o); /* a plain reopen first */
            if (!h) goto out;
            verify_all_raw(h, &m, "plain reopen before allocation failures");
            hist_close(h);
        }
    }
    verify_all_raw(h, &m, "open under allocation failures");

    /* hist_series creating a new series. */
    int64_t id = -1;
    for (uint64_t n = 1; n < ALLOC_MAX_STEPS; n++) {
        hist_alloc_fail_at(n, 1);
        id = hist_series(h, "alloc/new/series", VALUE_STRING);
        uint64_t used = hist_alloc_count();
        hist_alloc_fail_at(0, 0);
        if (used < n) break;
    }
    CHECK(id >= 0);
    CHECK_EQ_INT(hist_series(h, "alloc/new/series", VALUE_STRING), id);

    /* hist_append, for every type (strings are copied). */
    int64_t next_ts = T0 + 100 * HIST_NS_PER_S;
    for (size_t i = 0; i < m.series_count; i++) {
        uint64_t n = 1;
        while (n < ALLOC_MAX_STEPS && !append_one_failing_at(h, &m, &m.series[i], n, &next_ts))
            n++;
        CHECK(n < ALLOC_MAX_STEPS);
    }
    verify_all_raw(h, &m, "append under allocation failures");

    /* hist_checkpoint: each try with fresh samples in the heads. */
    {
        uint64_t n = 1;
        for (; n < ALLOC_MAX_STEPS; n++) {
            for (size_t i = 0; i < m.series_count; i++)
                append_one_failing_at(h, &m, &m.series[i], 0, &next_ts);
            hist_alloc_fail_at(n, 1);
            bool ok = hist_checkpoint(h);
            uint64_t used = hist_alloc_count();
            hist_alloc_fail_at(0, 0);
            if (n % 16 == 1) verify_all_raw(h, &m, "checkpoint under allocation failures");
            if (used < n) {
                CHECK(ok);
                break;
            }
        }
        CHECK(n < ALLOC_MAX_STEPS);
    }
    verify_all_raw(h, &m, "after checkpoint under allocation failures");

    /* hist_read_raw over segments and heads. */
    for (size_t i = 0; i < m.series_count; i++)
        append_one_failing_at(h, &m, &m.series[i], 0, &next_ts);
    for (size_t i = 0; i < m.series_count; i++) {
        const struct model_series *s = &m.series[i];
        uint64_t n = 1;
        for (; n < ALLOC_MAX_STEPS; n++) {
            struct hist_columns c;
            hist_columns_init(&c, s->type);
            char why[128];
            hist_alloc_fail_at(n, 1);
            bool ok =
                hist_read_raw(h, s->id, INT64_MIN / 2, INT64_MAX / 2, 0, &c, NULL, why, sizeof why);
            uint64_t used = hist_alloc_count();
            hist_alloc_fail_at(0, 0);
            if (ok) CHECK(columns_match(&c, s, 0, s->count, "read under allocation failures"));
            hist_columns_free(&c);
            if (used < n) {
                CHECK(ok);
                break;
            }
        }
        CHECK(n < ALLOC_MAX_STEPS);
    }

    /* hist_aggregate and hist_compact, for good measure. */
    for (uint64_t n = 1; n < ALLOC_MAX_STEPS; n++) {
        struct hist_bucket *b = NULL;
        size_t count = 0;
        char why[128];
        hist_alloc_fail_at(n, 1);
        bool ok = hist_aggregate(h, m.series[0].id, T0, T0 + 200 * HIST_NS_PER_S, HIST_NS_PER_S,
                                 HIST_AGG_TWA, &b, &count, why, sizeof why);
        uint64_t used = hist_alloc_count();
        hist_alloc_fail_at(0, 0);
        free(b);
        if (used < n) {
            CHECK(ok);
            break;
        }
    }
    for (uint64_t n = 1; n < ALLOC_MAX_STEPS; n++) {
        hist_alloc_fail_at(n, 1);
        bool ok = hist_compact(h);
        uint64_t used = hist_alloc_count();
        hist_alloc_fail_at(0, 0);
        if (used < n) {
            CHECK(ok);
            break;
        }
    }
    verify_all_raw(h, &m, "after compaction under allocation failures");

    hist_close(h);
    h = open_or_die(&o);
    if (h) verify_all_raw(h, &m, "reopen after allocation failures");
    hist_close(h);
out:
    model_free(&m);
    remove_tree(dir);
}

/* Background compaction of the partition still being written: many small
 * checkpoints (hist_maintain, as the background thread runs it) are merged
 * by size tiers, so the number of segments stays small, a merged segment is
 * not rewritten at every later checkpoint, and every sample reads back. */
static void test_background_compaction(void)
{
    char dir[64];
    make_temp_dir(dir, sizeof dir);
    struct hist_options o;
    hist_options_init(&o);
    o.dir = dir;
    o.checkpoint_interval_ms = 1; /* every hist_maintain call checkpoints and compacts */
    char err[256];
    struct historian *h = hist_open(&o, err, sizeof err);
    CHECK(h != NULL);
    if (!h) return;
    int64_t id = hist_series(h, "acme/site/area/line/tiered", VALUE_DOUBLE);
    CHECK(id >= 0);
    int64_t now = (int64_t)time(NULL) * 1000000000LL; /* an open partition */
    const int rounds = 200, per_round = 20;
    uint64_t most_segments = 0;
    for (int r = 0; r < rounds; r++) {
        struct hist_sample s[20];
        for (int i = 0; i < per_round; i++)
            s[i] = (struct hist_sample){.series = (uint32_t)id,
                                        .ts_ns = now + (int64_t)(r * per_round + i) * 1000000LL,
                                        .value = value_double(r * per_round + i)};
        CHECK(hist_append(h, s, per_round, NULL));
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
        hist_maintain(h);
        struct hist_stats st;
        hist_get_stats(h, &st);
        if (st.segments > most_segments) most_segments = st.segments;
    }
    struct hist_stats st;
    hist_get_stats(h, &st);
    CHECK(st.checkpoints >= (uint64_t)rounds / 2);
    CHECK(st.compactions > 0);
    /* Tiers of at most 8 segments: far fewer than one per checkpoint. */
    CHECK(most_segments < 2 * 8 + 2);
    /* Not rewritten at every checkpoint: fewer merges than checkpoints / 4. */
    CHECK(st.compactions < st.checkpoints / 4);
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    char why[256];
    CHECK(hist_read_raw(h, (uint32_t)id, now, now + HIST_NS_PER_S * 10, 0, &c, NULL, why,
                        sizeof why));
    CHECK_EQ_INT(c.count, rounds * per_round);
    bool exact = c.count == (uint32_t)(rounds * per_round);
    for (uint32_t i = 0; exact && i < c.count; i++)
        exact = c.ts[i] == now + (int64_t)i * 1000000LL && c.f64[i] == (double)i;
    CHECK(exact);
    hist_columns_free(&c);
    hist_close(h);
    remove_tree(dir);
}

int main(void)
{
    uint64_t seed = choose_seed();
    rng_state = seed;
    test_equal_times_across_checkpoint();
    test_round_trip();
    test_series_and_types();
    test_retention();
    test_background_compaction();
    test_alloc_failures();
    int rc = test_summary();
    if (rc) printf("test_historian: failed with seed %" PRIu64 "\n", seed);
    return rc;
}
