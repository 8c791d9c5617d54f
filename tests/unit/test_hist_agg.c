/* Unit tests of historian aggregation (historian/hist_agg.h): every
 * aggregate on a hand-computed series (empty buckets, Bad samples, samples
 * exactly on bucket edges, the value in force before `from`), value-at-time,
 * allocation failures, and a property test against a naive computation
 * written here, through both the columns path and the chunk-summary path. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "historian/hist_agg.h"
#include "historian/hist_alloc.h"
#include "testlib.h"

#define S 1000000000LL /* ns per second */

static void push_double(struct hist_columns *c, int64_t ts, quality_t q, double v)
{
    struct value val = value_double(v);
    CHECK(hist_columns_push(c, ts, q, &val));
}

/* Runs kind over c (fed in one call) and writes its buckets to out (room
 * for max); returns the bucket count. */
static size_t run_agg(enum hist_agg_kind kind, const struct hist_columns *c, int64_t from,
                      int64_t to, int64_t every, struct hist_bucket *out, size_t max)
{
    char why[128];
    struct hist_agg *a = hist_agg_new(kind, from, to, every, why, sizeof why);
    CHECK(a != NULL);
    if (!a) return 0;
    size_t n = hist_agg_bucket_count(a);
    CHECK(n <= max);
    hist_agg_add_columns(a, c, 0, c->count);
    if (n <= max) hist_agg_finish(a, out);
    hist_agg_free(a);
    return n;
}

static void test_names(void)
{
    for (int k = HIST_AGG_COUNT; k <= HIST_AGG_INTEGRAL; k++) {
        enum hist_agg_kind back;
        CHECK(hist_agg_from_name(hist_agg_name((enum hist_agg_kind)k), &back));
        CHECK_EQ_INT(back, k);
    }
    enum hist_agg_kind kind;
    CHECK_STR(hist_agg_name(HIST_AGG_TWA), "twa");
    CHECK(hist_agg_from_name("stddev", &kind) && kind == HIST_AGG_STDDEV);
    CHECK(!hist_agg_from_name("median", &kind));
    CHECK(!hist_agg_from_name(NULL, &kind));
}

static void test_invalid_arguments(void)
{
    char why[128] = "";
    CHECK(hist_agg_new(HIST_AGG_AVG, 10, 10, 1, why, sizeof why) == NULL);
    CHECK(strstr(why, "range") != NULL);
    CHECK(hist_agg_new(HIST_AGG_AVG, 0, 10, 0, why, sizeof why) == NULL);
    CHECK(strstr(why, "width") != NULL);
    CHECK(hist_agg_new(HIST_AGG_AVG, 0, 10, -5, why, sizeof why) == NULL);
    CHECK(hist_agg_new(HIST_AGG_AVG, 0, (int64_t)HIST_AGG_MAX_BUCKETS + 1, 1, why, sizeof why) ==
          NULL);
    CHECK(strstr(why, "buckets") != NULL);
    /* Exactly the maximum is fine; the last bucket is cut at to. */
    struct hist_agg *a = hist_agg_new(HIST_AGG_AVG, 0, HIST_AGG_MAX_BUCKETS, 1, why, sizeof why);
    CHECK(a && hist_agg_bucket_count(a) == HIST_AGG_MAX_BUCKETS);
    hist_agg_free(a);
    a = hist_agg_new(HIST_AGG_AVG, 0, 25, 10, why, sizeof why);
    CHECK(a && hist_agg_bucket_count(a) == 3);
    hist_agg_free(a);
    /* The whole int64 range does not overflow. */
    a = hist_agg_new(HIST_AGG_COUNT, INT64_MIN, INT64_MAX, INT64_MAX, why, sizeof why);
    CHECK(a && hist_agg_bucket_count(a) == 3);
    hist_agg_free(a);
}

/* The series of the hand-computed examples, buckets of 10 s over [0, 40 s):
 *   -5 s 100 Good (before from)   0 s 1 Good (on the edge)   4 s 3 Good
 *   10 s 5 Uncertain (edge)      15 s 7 Bad                 18 s 2 Good
 *   (nothing in [20 s, 30 s))    35 s 4 Good                40 s 99 Good (at to) */
static void hand_series(struct hist_columns *c)
{
    hist_columns_init(c, VALUE_DOUBLE);
    push_double(c, -5 * S, QUALITY_GOOD, 100);
    push_double(c, 0, QUALITY_GOOD, 1);
    push_double(c, 4 * S, QUALITY_GOOD, 3);
    push_double(c, 10 * S, QUALITY_UNCERTAIN_SUB_NORMAL, 5);
    push_double(c, 15 * S, QUALITY_BAD_SENSOR_FAILURE, 7);
    push_double(c, 18 * S, QUALITY_GOOD, 2);
    push_double(c, 35 * S, QUALITY_GOOD, 4);
    push_double(c, 40 * S, QUALITY_GOOD, 99);
}

static void check_values(enum hist_agg_kind kind, const double expected[4])
{
    struct hist_columns c;
    hand_series(&c);
    struct hist_bucket b[8];
    size_t n = run_agg(kind, &c, 0, 40 * S, 10 * S, b, 8);
    CHECK_EQ_INT(n, 4);
    for (size_t k = 0; k < 4 && k < n; k++) {
        CHECK_EQ_INT(b[k].start_ns, (int64_t)k * 10 * S);
        if (isnan(expected[k])) {
            if (!isnan(b[k].value))
                fprintf(stderr, "%s bucket %zu: %g, expected NaN\n", hist_agg_name(kind), k,
                        b[k].value);
            CHECK(isnan(b[k].value));
        } else {
            if (fabs(b[k].value - expected[k]) > 1e-12)
                fprintf(stderr, "%s bucket %zu: %.17g, expected %.17g\n", hist_agg_name(kind), k,
                        b[k].value, expected[k]);
            CHECK_EQ_DBL(b[k].value, expected[k], 1e-12);
        }
    }
    hist_columns_free(&c);
}

static void test_hand_computed(void)
{
    struct hist_columns c;
    hand_series(&c);
    struct hist_bucket b[8];
    CHECK_EQ_INT(run_agg(HIST_AGG_COUNT, &c, 0, 40 * S, 10 * S, b, 8), 4);
    /* Counts and qualities. */
    CHECK_EQ_INT(b[0].count, 2);
    CHECK_EQ_INT(b[0].good, 2);
    CHECK_EQ_INT(b[0].bad, 0);
    CHECK_EQ_INT(b[0].quality, QUALITY_GOOD);
    CHECK_EQ_INT(b[1].count, 2);
    CHECK_EQ_INT(b[1].good, 1);
    CHECK_EQ_INT(b[1].uncertain, 1);
    CHECK_EQ_INT(b[1].bad, 1);
    CHECK_EQ_INT(b[1].quality, QUALITY_UNCERTAIN);
    CHECK_EQ_INT(b[2].count, 0);
    CHECK_EQ_INT(b[2].quality, QUALITY_BAD_NO_DATA);
    CHECK_EQ_DBL(b[2].value, 0, 0);
    CHECK_EQ_INT(b[3].count, 1);
    CHECK_EQ_INT(b[3].quality, QUALITY_GOOD);
    hist_columns_free(&c);

    check_values(HIST_AGG_COUNT, (const double[]){2, 2, 0, 1});
    check_values(HIST_AGG_MIN, (const double[]){1, 2, NAN, 4});
    check_values(HIST_AGG_MAX, (const double[]){3, 5, NAN, 4});
    check_values(HIST_AGG_AVG, (const double[]){2, 3.5, NAN, 4});
    check_values(HIST_AGG_SUM, (const double[]){4, 7, NAN, 4});
    check_values(HIST_AGG_STDDEV, (const double[]){1, 1.5, NAN, 0});
    check_values(HIST_AGG_FIRST, (const double[]){1, 5, NAN, 4});
    check_values(HIST_AGG_LAST, (const double[]){3, 2, NAN, 4});
    /* Held: 1 over [0,4), 3 over [4,10) | 5 over [10,15), nothing over the
     * Bad sample's [15,18), 2 over [18,20) | 2 over [20,30) | 2 over
     * [30,35), 4 over [35,40) until to. */
    check_values(HIST_AGG_TWA, (const double[]){2.2, 29.0 / 7.0, 2, 3});
    check_values(HIST_AGG_INTEGRAL, (const double[]){22, 29, 20, 30});

    hand_series(&c);
    CHECK_EQ_INT(run_agg(HIST_AGG_TWA, &c, 0, 40 * S, 10 * S, b, 8), 4);
    CHECK_EQ_INT(b[0].quality, QUALITY_GOOD);
    CHECK_EQ_INT(b[1].quality, QUALITY_UNCERTAIN); /* Uncertain and Bad samples */
    CHECK_EQ_INT(b[2].quality, QUALITY_GOOD);      /* a Good value held throughout */
    CHECK_EQ_INT(b[2].count, 0);
    CHECK_EQ_INT(b[3].quality, QUALITY_GOOD);
    hist_columns_free(&c);
}

static void test_value_in_force(void)
{
    struct hist_columns c;
    struct hist_bucket b[4];
    hist_columns_init(&c, VALUE_DOUBLE);
    push_double(&c, -5 * S, QUALITY_GOOD, 100);
    push_double(&c, 5 * S, QUALITY_GOOD, 0);
    CHECK_EQ_INT(run_agg(HIST_AGG_TWA, &c, 0, 10 * S, 10 * S, b, 4), 1);
    CHECK_EQ_DBL(b[0].value, 50, 1e-12);
    CHECK_EQ_INT(b[0].count, 1);
    CHECK_EQ_INT(b[0].quality, QUALITY_GOOD);
    CHECK_EQ_INT(run_agg(HIST_AGG_INTEGRAL, &c, 0, 10 * S, 10 * S, b, 4), 1);
    CHECK_EQ_DBL(b[0].value, 500, 1e-9);
    /* The earlier sample is not part of the bucket's ordinary aggregates. */
    CHECK_EQ_INT(run_agg(HIST_AGG_AVG, &c, 0, 10 * S, 10 * S, b, 4), 1);
    CHECK_EQ_DBL(b[0].value, 0, 0);

    /* Only a sample before the range: it holds over every bucket. */
    hist_columns_clear(&c);
    push_double(&c, -1 * S, QUALITY_UNCERTAIN, 7);
    CHECK_EQ_INT(run_agg(HIST_AGG_TWA, &c, 0, 30 * S, 10 * S, b, 4), 3);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_DBL(b[k].value, 7, 0);
        CHECK_EQ_INT(b[k].count, 0);
        CHECK_EQ_INT(b[k].quality, QUALITY_UNCERTAIN); /* an Uncertain value held */
    }
    CHECK_EQ_INT(run_agg(HIST_AGG_MAX, &c, 0, 30 * S, 10 * S, b, 4), 3);
    CHECK(isnan(b[0].value) && b[0].quality == QUALITY_BAD_NO_DATA);

    /* A Bad sample before from: nothing in force until the next usable one;
     * the bucket is only partly covered, so Uncertain. */
    hist_columns_clear(&c);
    push_double(&c, -5 * S, QUALITY_GOOD, 100);
    push_double(&c, -1 * S, QUALITY_BAD, 100);
    push_double(&c, 5 * S, QUALITY_GOOD, 4);
    CHECK_EQ_INT(run_agg(HIST_AGG_TWA, &c, 0, 10 * S, 10 * S, b, 4), 1);
    CHECK_EQ_DBL(b[0].value, 4, 0);
    CHECK_EQ_INT(b[0].quality, QUALITY_UNCERTAIN);
    CHECK_EQ_INT(run_agg(HIST_AGG_INTEGRAL, &c, 0, 10 * S, 10 * S, b, 4), 1);
    CHECK_EQ_DBL(b[0].value, 20, 1e-12);

    /* No sample at all: NaN and Bad_NoData for every kind but count. */
    hist_columns_clear(&c);
    for (int k = HIST_AGG_COUNT; k <= HIST_AGG_INTEGRAL; k++) {
        CHECK_EQ_INT(run_agg((enum hist_agg_kind)k, &c, 0, 10 * S, 5 * S, b, 4), 2);
        CHECK_EQ_INT(b[1].quality, QUALITY_BAD_NO_DATA);
        CHECK(k == HIST_AGG_COUNT ? b[1].value == 0 : isnan(b[1].value));
    }

    /* Only Bad samples in a bucket: no data, counted as bad. */
    push_double(&c, 2 * S, QUALITY_BAD, 1);
    CHECK_EQ_INT(run_agg(HIST_AGG_AVG, &c, 0, 10 * S, 5 * S, b, 4), 2);
    CHECK_EQ_INT(b[0].bad, 1);
    CHECK_EQ_INT(b[0].count, 0);
    CHECK(isnan(b[0].value) && b[0].quality == QUALITY_BAD_NO_DATA);
    hist_columns_free(&c);
}

static void test_last_bucket_cut(void)
{
    /* [0, 25) in buckets of 10: the last is [20, 25); a value held from 22
     * counts until 25 only. */
    struct hist_columns c;
    struct hist_bucket b[4];
    hist_columns_init(&c, VALUE_INT64);
    struct value v = value_int64(10);
    CHECK(hist_columns_push(&c, 20, QUALITY_GOOD, &v));
    v = value_int64(-2);
    CHECK(hist_columns_push(&c, 22, QUALITY_GOOD, &v));
    CHECK_EQ_INT(run_agg(HIST_AGG_INTEGRAL, &c, 0, 25, 10, b, 4), 3);
    CHECK_EQ_INT(b[2].start_ns, 20);
    CHECK_EQ_DBL(b[2].value, (10.0 * 2 - 2.0 * 3) / 1e9, 1e-20);
    CHECK_EQ_INT(b[2].quality, QUALITY_GOOD);
    CHECK_EQ_INT(run_agg(HIST_AGG_TWA, &c, 0, 25, 10, b, 4), 3);
    CHECK_EQ_DBL(b[2].value, 14.0 / 5.0, 1e-12);
    CHECK(isnan(b[0].value) && b[1].quality == QUALITY_BAD_NO_DATA);
    hist_columns_free(&c);
}

static void test_value_at(void)
{
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    push_double(&c, 10, QUALITY_GOOD, 1.0);
    push_double(&c, 20, QUALITY_UNCERTAIN, 3.0);
    push_double(&c, 30, QUALITY_BAD, 100.0);
    push_double(&c, 40, QUALITY_GOOD, 5.0);
    struct value v;
    quality_t q;
    int64_t ts;
    CHECK(!hist_value_at(&c, 9, HIST_INTERP_PREVIOUS, &v, &q, &ts));
    CHECK(!hist_value_at(&c, 9, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(hist_value_at(&c, 10, HIST_INTERP_PREVIOUS, &v, &q, &ts));
    CHECK(v.type == VALUE_DOUBLE && v.as.f64 == 1.0 && q == QUALITY_GOOD && ts == 10);
    CHECK(hist_value_at(&c, 15, HIST_INTERP_PREVIOUS, &v, &q, &ts));
    CHECK(v.as.f64 == 1.0 && ts == 10);
    CHECK(hist_value_at(&c, 15, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK_EQ_DBL(v.as.f64, 2.0, 1e-15);
    CHECK_EQ_INT(q, QUALITY_UNCERTAIN); /* the worse of the two */
    CHECK_EQ_INT(ts, 10);
    /* A Bad neighbour: previous. */
    CHECK(hist_value_at(&c, 25, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.as.f64 == 3.0 && q == QUALITY_UNCERTAIN && ts == 20);
    CHECK(hist_value_at(&c, 35, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.as.f64 == 100.0 && q == QUALITY_BAD && ts == 30);
    /* After the last sample: it holds. */
    CHECK(hist_value_at(&c, 1000, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.as.f64 == 5.0 && ts == 40);
    hist_columns_free(&c);

    /* Integers interpolate as doubles; bool and string only previous. */
    hist_columns_init(&c, VALUE_INT64);
    struct value iv = value_int64(0);
    CHECK(hist_columns_push(&c, 0, QUALITY_GOOD, &iv));
    iv = value_int64(10);
    CHECK(hist_columns_push(&c, 100, QUALITY_GOOD, &iv));
    CHECK(hist_value_at(&c, 25, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.type == VALUE_DOUBLE && v.as.f64 == 2.5);
    CHECK(hist_value_at(&c, 25, HIST_INTERP_PREVIOUS, &v, &q, &ts));
    CHECK(v.type == VALUE_INT64 && v.as.i64 == 0);
    hist_columns_free(&c);

    hist_columns_init(&c, VALUE_BOOL);
    struct value bv = value_bool(false);
    CHECK(hist_columns_push(&c, 0, QUALITY_GOOD, &bv));
    bv = value_bool(true);
    CHECK(hist_columns_push(&c, 100, QUALITY_GOOD, &bv));
    CHECK(hist_value_at(&c, 99, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.type == VALUE_BOOL && !v.as.b && ts == 0);
    hist_columns_free(&c);

    hist_columns_init(&c, VALUE_STRING);
    struct value sv = {.type = VALUE_STRING};
    sv.as.str.ptr = "open";
    sv.as.str.len = 4;
    CHECK(hist_columns_push(&c, 5, QUALITY_GOOD, &sv));
    CHECK(hist_value_at(&c, 6, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK(v.type == VALUE_STRING && v.as.str.len == 4 && memcmp(v.as.str.ptr, "open", 4) == 0);
    hist_columns_free(&c);

    /* Equal times: the last of them. */
    hist_columns_init(&c, VALUE_DOUBLE);
    push_double(&c, 10, QUALITY_GOOD, 1);
    push_double(&c, 10, QUALITY_GOOD, 2);
    push_double(&c, 20, QUALITY_GOOD, 4);
    CHECK(hist_value_at(&c, 10, HIST_INTERP_PREVIOUS, &v, &q, &ts));
    CHECK(v.as.f64 == 2);
    CHECK(hist_value_at(&c, 15, HIST_INTERP_LINEAR, &v, &q, &ts));
    CHECK_EQ_DBL(v.as.f64, 3, 1e-15);
    hist_columns_free(&c);
}

static void test_alloc_failures(void)
{
    for (int kind = HIST_AGG_AVG; kind <= HIST_AGG_TWA; kind += HIST_AGG_TWA - HIST_AGG_AVG) {
        bool done = false;
        for (uint64_t n = 1; n < 20 && !done; n++) {
            char why[64] = "";
            hist_alloc_fail_at(n, 1);
            struct hist_agg *a =
                hist_agg_new((enum hist_agg_kind)kind, 0, 100, 10, why, sizeof why);
            hist_alloc_fail_at(0, 0);
            if (a) {
                done = true;
                hist_agg_free(a);
            } else {
                CHECK(strstr(why, "out of memory") != NULL);
            }
        }
        CHECK(done);
    }
}

/* ------------------------------------------------------------ property test */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int64_t rng_range(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static bool usable(quality_t q)
{
    return !quality_is_bad(q);
}

/* The naive value of kind over bucket [bs, be) of the query [from, to), and
 * its quality; straight from the definitions, one pass per bucket. */
static void naive_bucket(enum hist_agg_kind kind, const struct hist_columns *c, int64_t to,
                         int64_t bs, int64_t be, double *value, quality_t *quality, uint32_t *count)
{
    double vals[4096];
    uint32_t n = 0, unc = 0, bad = 0;
    for (uint32_t i = 0; i < c->count; i++) {
        if (c->ts[i] < bs || c->ts[i] >= be) continue;
        if (!usable(c->quality[i])) {
            bad++;
            continue;
        }
        if (quality_is_uncertain(c->quality[i])) unc++;
        vals[n++] = c->f64[i];
    }
    *count = n;
    if (kind == HIST_AGG_TWA || kind == HIST_AGG_INTEGRAL) {
        double weighted = 0;
        int64_t held = 0;
        bool held_unc = false;
        for (uint32_t i = 0; i < c->count; i++) {
            if (!usable(c->quality[i]) || c->ts[i] >= to) continue;
            int64_t until = i + 1 < c->count ? c->ts[i + 1] : to;
            if (until > to) until = to;
            int64_t a = c->ts[i] > bs ? c->ts[i] : bs, b = until < be ? until : be;
            if (a >= b) continue;
            weighted += c->f64[i] * (double)(b - a);
            held += b - a;
            if (quality_is_uncertain(c->quality[i])) held_unc = true;
        }
        if (held == 0) {
            *value = NAN;
            *quality = QUALITY_BAD_NO_DATA;
            return;
        }
        *value = kind == HIST_AGG_TWA ? weighted / (double)held : weighted / 1e9;
        *quality = (unc || bad || held_unc || held != be - bs) ? QUALITY_UNCERTAIN : QUALITY_GOOD;
        return;
    }
    if (n == 0) {
        *value = kind == HIST_AGG_COUNT ? 0 : NAN;
        *quality = QUALITY_BAD_NO_DATA;
        return;
    }
    *quality = (unc || bad) ? QUALITY_UNCERTAIN : QUALITY_GOOD;
    double sum = 0, mn = vals[0], mx = vals[0];
    for (uint32_t i = 0; i < n; i++) {
        sum += vals[i];
        if (vals[i] < mn) mn = vals[i];
        if (vals[i] > mx) mx = vals[i];
    }
    double mean = sum / n, ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (vals[i] - mean) * (vals[i] - mean);
    switch (kind) {
    case HIST_AGG_COUNT:
        *value = n;
        break;
    case HIST_AGG_MIN:
        *value = mn;
        break;
    case HIST_AGG_MAX:
        *value = mx;
        break;
    case HIST_AGG_AVG:
        *value = mean;
        break;
    case HIST_AGG_SUM:
        *value = sum;
        break;
    case HIST_AGG_STDDEV:
        *value = sqrt(ss / n);
        break;
    case HIST_AGG_FIRST:
        *value = vals[0];
        break;
    case HIST_AGG_LAST:
        *value = vals[n - 1];
        break;
    default:
        break;
    }
}

static bool close_enough(double got, double want)
{
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

static int property_failures;

static void compare_buckets(const char *path, enum hist_agg_kind kind, const struct hist_columns *c,
                            int64_t from, int64_t to, int64_t every, const struct hist_bucket *b,
                            size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int64_t bs = from + (int64_t)k * every, be = bs + every < to ? bs + every : to;
        double want;
        quality_t wq;
        uint32_t wcount;
        naive_bucket(kind, c, to, bs, be, &want, &wq, &wcount);
        bool ok = b[k].start_ns == bs && close_enough(b[k].value, want) && b[k].quality == wq &&
                  b[k].count == wcount;
        if (!ok && property_failures++ < 10)
            fprintf(stderr, "%s %s bucket %zu: %.17g q %08x n %u, want %.17g q %08x n %u\n", path,
                    hist_agg_name(kind), k, b[k].value, (unsigned)b[k].quality,
                    (unsigned)b[k].count, want, (unsigned)wq, (unsigned)wcount);
        CHECK(ok);
    }
}

/* A random sorted series: gaps, equal times, all three qualities. */
static void random_series(struct hist_columns *c, int64_t t0, uint32_t n)
{
    hist_columns_clear(c);
    int64_t t = t0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = rng() % 100;
        t += r < 10 ? 0 : r < 90 ? rng_range(1, 3 * S) : rng_range(3 * S, 40 * S);
        uint64_t qr = rng() % 100;
        quality_t q = qr < 70 ? QUALITY_GOOD : qr < 85 ? QUALITY_UNCERTAIN : QUALITY_BAD_TIMEOUT;
        push_double(c, t, q, (double)rng_range(-5000, 5000) / 100.0);
    }
}

static void test_property(void)
{
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    const int64_t base = 1700000000LL * S;
    for (int round = 0; round < 200; round++) {
        uint32_t n = (uint32_t)rng_range(0, 300);
        random_series(&c, base + rng_range(-20, 20) * S, n);
        int64_t from = base + rng_range(0, 30) * S + rng_range(0, S);
        int64_t every = rng_range(1, 60) * S / (rng() % 2 ? 1 : 7);
        int64_t to = from + rng_range(1, 40) * every - rng_range(0, every - 1);
        for (int kind = HIST_AGG_COUNT; kind <= HIST_AGG_INTEGRAL; kind++) {
            char why[128];
            struct hist_agg *a =
                hist_agg_new((enum hist_agg_kind)kind, from, to, every, why, sizeof why);
            CHECK(a != NULL);
            if (!a) continue;
            size_t nb = hist_agg_bucket_count(a);
            /* Fed in random pieces. */
            for (uint32_t i = 0; i < c.count;) {
                uint32_t j = i + (uint32_t)rng_range(1, 50);
                if (j > c.count) j = c.count;
                hist_agg_add_columns(a, &c, i, j);
                i = j;
            }
            struct hist_bucket *b = calloc(nb, sizeof *b);
            hist_agg_finish(a, b);
            compare_buckets("columns", (enum hist_agg_kind)kind, &c, from, to, every, b, nb);
            hist_agg_free(a);
            free(b);
        }
    }
    hist_columns_free(&c);
}

/* The summary path: the samples inside [from, to) cut into pieces that each
 * fit one bucket (cut only where time moves on), fed as summaries in shuffled
 * order, must agree with the columns path. */
static void test_summary_path(void)
{
    struct hist_columns c, piece;
    hist_columns_init(&c, VALUE_DOUBLE);
    hist_columns_init(&piece, VALUE_DOUBLE);
    const int64_t base = 1700000000LL * S;
    for (int round = 0; round < 200; round++) {
        random_series(&c, base, (uint32_t)rng_range(1, 300));
        int64_t from = base + rng_range(0, 10) * S;
        int64_t every = rng_range(5, 120) * S;
        int64_t to = from + rng_range(1, 30) * every;
        for (int kind = HIST_AGG_COUNT; kind <= HIST_AGG_LAST; kind++) {
            char why[128];
            struct hist_agg *by_cols =
                hist_agg_new((enum hist_agg_kind)kind, from, to, every, why, sizeof why);
            struct hist_agg *by_sums =
                hist_agg_new((enum hist_agg_kind)kind, from, to, every, why, sizeof why);
            CHECK(by_cols && by_sums);
            if (!by_cols || !by_sums) {
                hist_agg_free(by_cols);
                hist_agg_free(by_sums);
                continue;
            }
            hist_agg_add_columns(by_cols, &c, 0, c.count);
            struct hist_summary sums[300];
            size_t nsums = 0;
            uint32_t i = 0;
            while (i < c.count && c.ts[i] < from)
                i++;
            while (i < c.count && c.ts[i] < to) {
                uint32_t j = i + 1;
                int64_t bucket_end = from + ((c.ts[i] - from) / every + 1) * every;
                uint32_t limit = i + (uint32_t)rng_range(1, 40);
                while (j < c.count && c.ts[j] < to && c.ts[j] < bucket_end &&
                       (j < limit || c.ts[j] == c.ts[j - 1]))
                    j++;
                hist_columns_clear(&piece);
                CHECK(hist_columns_append(&piece, &c, i, j));
                hist_summary_of(&piece, &sums[nsums]);
                CHECK(hist_agg_summary_fits(by_sums, &sums[nsums]));
                nsums++;
                i = j;
            }
            for (size_t k = nsums; k > 1; k--) { /* Fisher-Yates */
                size_t r = (size_t)(rng() % k);
                struct hist_summary tmp = sums[k - 1];
                sums[k - 1] = sums[r];
                sums[r] = tmp;
            }
            for (size_t k = 0; k < nsums; k++)
                hist_agg_add_summary(by_sums, &sums[k]);
            size_t nb = hist_agg_bucket_count(by_cols);
            struct hist_bucket *b1 = calloc(nb, sizeof *b1), *b2 = calloc(nb, sizeof *b2);
            hist_agg_finish(by_cols, b1);
            hist_agg_finish(by_sums, b2);
            for (size_t k = 0; k < nb; k++) {
                bool ok = close_enough(b2[k].value, b1[k].value) &&
                          b1[k].quality == b2[k].quality && b1[k].count == b2[k].count &&
                          b1[k].good == b2[k].good && b1[k].uncertain == b2[k].uncertain &&
                          b1[k].bad == b2[k].bad && b1[k].start_ns == b2[k].start_ns;
                if (!ok && property_failures++ < 10)
                    fprintf(stderr, "summary path %s bucket %zu: %.17g vs %.17g\n",
                            hist_agg_name((enum hist_agg_kind)kind), k, b2[k].value, b1[k].value);
                CHECK(ok);
            }
            compare_buckets("summaries", (enum hist_agg_kind)kind, &c, from, to, every, b2, nb);
            free(b1);
            free(b2);
            hist_agg_free(by_cols);
            hist_agg_free(by_sums);
        }
    }
    hist_columns_free(&c);
    hist_columns_free(&piece);
}

static void test_summary_fits(void)
{
    char why[64];
    struct hist_agg *a = hist_agg_new(HIST_AGG_AVG, 0, 100, 10, why, sizeof why);
    struct hist_agg *t = hist_agg_new(HIST_AGG_TWA, 0, 100, 10, why, sizeof why);
    struct hist_summary s;
    memset(&s, 0, sizeof s);
    s.count = s.good = 1;
    s.t_min = 10;
    s.t_max = 19;
    CHECK(hist_agg_summary_fits(a, &s));
    CHECK(!hist_agg_summary_fits(t, &s)); /* twa needs the samples */
    s.t_max = 20;
    CHECK(!hist_agg_summary_fits(a, &s)); /* spans two buckets */
    s.t_min = -1;
    s.t_max = 5;
    CHECK(!hist_agg_summary_fits(a, &s)); /* starts before from */
    s.t_min = 95;
    s.t_max = 100;
    CHECK(!hist_agg_summary_fits(a, &s)); /* reaches to */
    hist_agg_free(a);
    hist_agg_free(t);
}

int main(void)
{
    test_names();
    test_invalid_arguments();
    test_hand_computed();
    test_value_in_force();
    test_last_bucket_cut();
    test_value_at();
    test_alloc_failures();
    test_summary_fits();
    test_property();
    test_summary_path();
    return test_summary();
}
