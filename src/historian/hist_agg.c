/* Aggregation of history into time buckets, and value-at-time (see
 * hist_agg.h).
 *
 * Each bucket accumulates a hist_summary (counts, min, max, sum, Welford mean
 * and M2, first and last by time), fed sample by sample from columns or
 * merged whole from chunk summaries (Chan et al.), so both paths give the
 * same statistics.
 *
 * twa and integral follow one "value in force" through the samples in time
 * order: a usable sample's value holds from its time until the next sample
 * (of any quality) or, for the last one, until the end of the query range
 * `to`; a Bad sample holds nothing (the time until the next usable sample
 * is not counted); samples before `from` only set the value in force at
 * `from`. Held time is split across buckets at their edges. Per bucket:
 *   twa      = sum(value x held ns) / held ns    (NaN when nothing held)
 *   integral = sum(value x held ns) / 1e9        (value x s; NaN likewise)
 * quality Bad_NoData when nothing was held in the bucket; Good when every
 * sample in it and every value held in it was Good and the held time covers
 * the whole bucket; Uncertain otherwise.
 *
 * For the other kinds, a bucket with no usable sample has value NaN and
 * quality Bad_NoData, except count, whose value is always the count (0). */
#include "historian/hist_agg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"
#include "historian/hist_alloc.h"

struct hist_agg {
    enum hist_agg_kind kind;
    int64_t from, to, every;
    size_t bucket_count;
    struct hist_summary *buckets;
    /* twa / integral only: per bucket, sum of value x held ns, held ns, and
     * whether an Uncertain value was held in it. */
    double *weighted_sum;
    int64_t *held_ns;
    uint8_t *held_uncertain;
    /* The value in force after the samples fed so far (twa / integral). */
    bool holding;
    bool hold_uncertain;
    double hold_value;
    int64_t hold_since;
    /* The bucket the last sample fell in, to skip a division per sample. */
    bool cached;
    size_t cached_bucket;
    int64_t cached_start, cached_end;
};

static const char *const agg_names[] = {
    [HIST_AGG_COUNT] = "count",       [HIST_AGG_MIN] = "min",   [HIST_AGG_MAX] = "max",
    [HIST_AGG_AVG] = "avg",           [HIST_AGG_SUM] = "sum",   [HIST_AGG_STDDEV] = "stddev",
    [HIST_AGG_FIRST] = "first",       [HIST_AGG_LAST] = "last", [HIST_AGG_TWA] = "twa",
    [HIST_AGG_INTEGRAL] = "integral",
};

#define AGG_KIND_COUNT (sizeof agg_names / sizeof agg_names[0])

const char *hist_agg_name(enum hist_agg_kind kind)
{
    if ((unsigned)kind >= AGG_KIND_COUNT) return "?";
    return agg_names[kind];
}

bool hist_agg_from_name(const char *name, enum hist_agg_kind *out)
{
    if (!name) return false;
    for (size_t i = 0; i < AGG_KIND_COUNT; i++) {
        if (strcmp(name, agg_names[i]) == 0) {
            *out = (enum hist_agg_kind)i;
            return true;
        }
    }
    return false;
}

static bool is_time_weighted(enum hist_agg_kind kind)
{
    return kind == HIST_AGG_TWA || kind == HIST_AGG_INTEGRAL;
}

struct hist_agg *hist_agg_new(enum hist_agg_kind kind, int64_t from, int64_t to, int64_t every,
                              char *why, size_t why_len)
{
    if ((unsigned)kind >= AGG_KIND_COUNT) {
        errbuf_set(why, why_len, "unknown aggregate %d", (int)kind);
        return NULL;
    }
    if (to <= from) {
        errbuf_set(why, why_len, "empty time range: to must be after from");
        return NULL;
    }
    if (every <= 0) {
        errbuf_set(why, why_len, "bucket width must be positive");
        return NULL;
    }
    uint64_t span = (uint64_t)to - (uint64_t)from;
    uint64_t n = span / (uint64_t)every + (span % (uint64_t)every != 0);
    if (n > HIST_AGG_MAX_BUCKETS) {
        errbuf_set(why, why_len, "too many buckets (%llu, at most %u)", (unsigned long long)n,
                   HIST_AGG_MAX_BUCKETS);
        return NULL;
    }
    struct hist_agg *a = hist_calloc(1, sizeof *a);
    if (!a) goto oom;
    a->kind = kind;
    a->from = from;
    a->to = to;
    a->every = every;
    a->bucket_count = (size_t)n;
    a->buckets = hist_calloc((size_t)n, sizeof *a->buckets);
    if (!a->buckets) goto oom;
    if (is_time_weighted(kind)) {
        a->weighted_sum = hist_calloc((size_t)n, sizeof *a->weighted_sum);
        a->held_ns = hist_calloc((size_t)n, sizeof *a->held_ns);
        a->held_uncertain = hist_calloc((size_t)n, sizeof *a->held_uncertain);
        if (!a->weighted_sum || !a->held_ns || !a->held_uncertain) goto oom;
    }
    return a;
oom:
    hist_agg_free(a);
    errbuf_set(why, why_len, "out of memory");
    return NULL;
}

void hist_agg_free(struct hist_agg *a)
{
    if (!a) return;
    hist_free(a->buckets);
    hist_free(a->weighted_sum);
    hist_free(a->held_ns);
    hist_free(a->held_uncertain);
    hist_free(a);
}

size_t hist_agg_bucket_count(const struct hist_agg *a)
{
    return a->bucket_count;
}

/* The bucket of time t, which must lie in [from, to). */
static size_t bucket_of(const struct hist_agg *a, int64_t t)
{
    return (size_t)(((uint64_t)t - (uint64_t)a->from) / (uint64_t)a->every);
}

static int64_t bucket_start(const struct hist_agg *a, size_t k)
{
    return (int64_t)((uint64_t)a->from + (uint64_t)k * (uint64_t)a->every);
}

/* The end of bucket k (exclusive), cut at to. */
static int64_t bucket_end(const struct hist_agg *a, size_t k)
{
    uint64_t offset = ((uint64_t)k + 1) * (uint64_t)a->every;
    if (offset >= (uint64_t)a->to - (uint64_t)a->from) return a->to;
    return (int64_t)((uint64_t)a->from + offset);
}

/* The value of c[i] as a double (bool 0/1, integers converted, strings
 * NaN). */
static double column_as_double(const struct hist_columns *c, uint32_t i)
{
    switch (c->type) {
    case VALUE_DOUBLE:
        return c->f64[i];
    case VALUE_INT64:
        return (double)c->i64[i];
    case VALUE_UINT64:
        return (double)(uint64_t)c->i64[i];
    case VALUE_BOOL:
        return c->b[i] ? 1.0 : 0.0;
    case VALUE_STRING:
        break;
    }
    return NAN;
}

/* The bucket of t in [from, to), through the one-bucket cache. */
static size_t locate_bucket(struct hist_agg *a, int64_t t)
{
    if (a->cached && t >= a->cached_start && t < a->cached_end) return a->cached_bucket;
    size_t k = bucket_of(a, t);
    a->cached = true;
    a->cached_bucket = k;
    a->cached_start = bucket_start(a, k);
    a->cached_end = bucket_end(a, k);
    return k;
}

/* Credits value held over [t0, t1) (clipped to the range) to the buckets it
 * overlaps. */
static void credit_held(struct hist_agg *a, int64_t t0, int64_t t1, double value, bool uncertain)
{
    if (t0 < a->from) t0 = a->from;
    if (t1 > a->to) t1 = a->to;
    if (t0 >= t1) return;
    size_t k = locate_bucket(a, t0);
    if (t1 <= a->cached_end) { /* the usual case: within one bucket */
        a->weighted_sum[k] += value * (double)(t1 - t0);
        a->held_ns[k] += t1 - t0;
        if (uncertain) a->held_uncertain[k] = 1;
        return;
    }
    while (t0 < t1) {
        int64_t end = bucket_end(a, k);
        if (end > t1) end = t1;
        int64_t held = end - t0;
        a->weighted_sum[k] += value * (double)held;
        a->held_ns[k] += held;
        if (uncertain) a->held_uncertain[k] = 1;
        t0 = end;
        k++;
    }
}

/* Moves the value in force past a sample at t with quality q and value v. */
static void advance_hold(struct hist_agg *a, int64_t t, quality_t q, double v)
{
    if (a->holding) credit_held(a, a->hold_since, t, a->hold_value, a->hold_uncertain);
    if (quality_is_bad(q)) {
        a->holding = false;
        return;
    }
    a->holding = true;
    a->hold_value = v;
    a->hold_since = t;
    a->hold_uncertain = quality_is_uncertain(q);
}

void hist_agg_add_columns(struct hist_agg *a, const struct hist_columns *c, uint32_t from,
                          uint32_t to)
{
    bool weighted = is_time_weighted(a->kind);
    if (to > c->count) to = c->count;
    for (uint32_t i = from; i < to; i++) {
        int64_t t = c->ts[i];
        if (t >= a->to) continue;
        quality_t q = c->quality[i];
        double v = column_as_double(c, i);
        if (weighted) advance_hold(a, t, q, v);
        if (t < a->from) continue;
        hist_summary_add(&a->buckets[locate_bucket(a, t)], t, q, v);
    }
}

bool hist_agg_summary_fits(const struct hist_agg *a, const struct hist_summary *s)
{
    if (is_time_weighted(a->kind)) return false;
    if (s->count == 0) return true;
    if (s->t_min < a->from || s->t_max >= a->to || s->t_min > s->t_max) return false;
    return bucket_of(a, s->t_min) == bucket_of(a, s->t_max);
}

void hist_agg_add_summary(struct hist_agg *a, const struct hist_summary *s)
{
    if (s->count == 0 || !hist_agg_summary_fits(a, s)) return;
    hist_summary_merge(&a->buckets[bucket_of(a, s->t_min)], s);
}

/* Value and quality of a time-weighted bucket k, with the value still in
 * force at the end of the fed samples extended to the end of the range. */
static void finish_time_weighted(const struct hist_agg *a, size_t k, struct hist_bucket *b)
{
    int64_t start = bucket_start(a, k), end = bucket_end(a, k);
    double weighted_sum = a->weighted_sum[k];
    int64_t held_ns = a->held_ns[k];
    bool uncertain = a->held_uncertain[k] != 0;
    if (a->holding && a->hold_since < end) {
        int64_t t0 = a->hold_since > start ? a->hold_since : start;
        weighted_sum += a->hold_value * (double)(end - t0);
        held_ns += end - t0;
        uncertain = uncertain || a->hold_uncertain;
    }
    if (held_ns == 0) {
        b->value = NAN;
        b->quality = QUALITY_BAD_NO_DATA;
        return;
    }
    b->value = a->kind == HIST_AGG_TWA ? weighted_sum / (double)held_ns : weighted_sum / 1e9;
    bool whole = held_ns == end - start;
    b->quality = (uncertain || b->uncertain || b->bad || !whole) ? QUALITY_UNCERTAIN : QUALITY_GOOD;
}

void hist_agg_finish(const struct hist_agg *a, struct hist_bucket *out)
{
    for (size_t k = 0; k < a->bucket_count; k++) {
        const struct hist_summary *s = &a->buckets[k];
        struct hist_bucket *b = &out[k];
        uint32_t usable = s->good + s->uncertain;
        b->start_ns = bucket_start(a, k);
        b->count = usable;
        b->good = s->good;
        b->uncertain = s->uncertain;
        b->bad = s->bad;
        if (is_time_weighted(a->kind)) {
            finish_time_weighted(a, k, b);
            continue;
        }
        if (usable == 0) {
            b->value = a->kind == HIST_AGG_COUNT ? 0.0 : NAN;
            b->quality = QUALITY_BAD_NO_DATA;
            continue;
        }
        b->quality = (s->uncertain || s->bad) ? QUALITY_UNCERTAIN : QUALITY_GOOD;
        switch (a->kind) {
        case HIST_AGG_COUNT:
            b->value = (double)usable;
            break;
        case HIST_AGG_MIN:
            b->value = s->min;
            break;
        case HIST_AGG_MAX:
            b->value = s->max;
            break;
        case HIST_AGG_AVG:
            b->value = s->mean;
            break;
        case HIST_AGG_SUM:
            b->value = s->sum;
            break;
        case HIST_AGG_STDDEV:
            b->value = sqrt(fmax(s->m2, 0.0) / (double)usable);
            break;
        case HIST_AGG_FIRST:
            b->value = s->first;
            break;
        case HIST_AGG_LAST:
            b->value = s->last;
            break;
        case HIST_AGG_TWA:
        case HIST_AGG_INTEGRAL:
            break;
        }
    }
}

/* 0 Good, 1 Uncertain, 2 Bad. */
static int severity(quality_t q)
{
    return quality_is_bad(q) ? 2 : quality_is_uncertain(q) ? 1 : 0;
}

bool hist_value_at(const struct hist_columns *c, int64_t t, enum hist_interp mode, struct value *v,
                   quality_t *q, int64_t *ts)
{
    /* The first index whose time is after t; the previous sample is the one
     * before it. */
    uint32_t lo = 0, hi = c->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->ts[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return false;
    uint32_t prev = lo - 1;
    *ts = c->ts[prev];
    *q = c->quality[prev];
    *v = hist_columns_value(c, prev);
    bool numeric = c->type == VALUE_DOUBLE || c->type == VALUE_INT64 || c->type == VALUE_UINT64;
    if (mode != HIST_INTERP_LINEAR || !numeric) return true;
    /* Linear on a numeric series: always a double. */
    double v0 = column_as_double(c, prev);
    *v = value_double(v0);
    uint32_t next = lo;
    if (c->ts[prev] == t || next >= c->count) return true;
    if (quality_is_bad(c->quality[prev]) || quality_is_bad(c->quality[next])) return true;
    double v1 = column_as_double(c, next);
    double fraction = (double)((uint64_t)t - (uint64_t)c->ts[prev]) /
                      (double)((uint64_t)c->ts[next] - (uint64_t)c->ts[prev]);
    *v = value_double(v0 + (v1 - v0) * fraction);
    if (severity(c->quality[next]) > severity(*q)) *q = c->quality[next];
    return true;
}
