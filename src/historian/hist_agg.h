/* Aggregation of history into time buckets, and value-at-time: pure
 * functions over sorted columns and chunk summaries, no I/O.
 *
 * Buckets are [from + k * every, from + (k + 1) * every) for k = 0.. until
 * to (the last one is cut at to). Value aggregates use usable samples
 * (quality not Bad, see hist_chunk.h):
 *   count     usable samples
 *   min, max  of usable values
 *   avg       arithmetic mean
 *   sum       sum
 *   stddev    population standard deviation
 *   first     value of the earliest usable sample in the bucket
 *   last      value of the latest usable sample
 *   twa       time-weighted average, each value holding until the next
 *             sample (step, "sample and hold"); the value in force at the
 *             bucket's start (the last sample before it) counts from the
 *             start; a Bad sample ends the holding of the value before it
 *   integral  the twa's integral over the held time, in value x seconds
 *
 * Each bucket says which quality its samples had: Good when every sample in
 * it was Good; Uncertain when some were Uncertain, or Bad ones were left
 * out; Bad_NoData (0x809B0000) when it had no usable sample (value NaN,
 * except count, which is 0). For twa and integral: Bad_NoData when no value
 * was held in the bucket; Good when every sample and every value held in it
 * was Good and the held time covers the whole bucket; Uncertain otherwise.
 * A held value lasts until the next sample or, for the last one, the end of
 * the query range. */
#ifndef AIRLOCK_HISTORIAN_HIST_AGG_H
#define AIRLOCK_HISTORIAN_HIST_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "historian/hist_chunk.h"

#define QUALITY_BAD_NO_DATA 0x809B0000u

/* The most buckets one aggregate query may ask for. */
#define HIST_AGG_MAX_BUCKETS 1000000u

enum hist_agg_kind {
    HIST_AGG_COUNT = 0,
    HIST_AGG_MIN,
    HIST_AGG_MAX,
    HIST_AGG_AVG,
    HIST_AGG_SUM,
    HIST_AGG_STDDEV,
    HIST_AGG_FIRST,
    HIST_AGG_LAST,
    HIST_AGG_TWA,
    HIST_AGG_INTEGRAL,
};

/* "count", "min", "max", "avg", "sum", "stddev", "first", "last", "twa",
 * "integral". */
const char *hist_agg_name(enum hist_agg_kind kind);
bool hist_agg_from_name(const char *name, enum hist_agg_kind *out);

struct hist_bucket {
    int64_t start_ns;
    uint32_t count; /* usable samples */
    uint32_t good, uncertain, bad;
    double value;      /* NaN when it has none */
    quality_t quality; /* as above */
};

struct hist_agg;

/* An accumulator for [from, to) in buckets of every ns. NULL when the
 * arguments are invalid (to <= from, every <= 0, more than
 * HIST_AGG_MAX_BUCKETS buckets) or out of memory; why says which. */
struct hist_agg *hist_agg_new(enum hist_agg_kind kind, int64_t from, int64_t to, int64_t every,
                              char *why, size_t why_len);
void hist_agg_free(struct hist_agg *a);

size_t hist_agg_bucket_count(const struct hist_agg *a);

/* Feeds samples c[from..to), which must come in time order across all
 * calls (the caller merges chunks). Samples before the range only set the
 * value in force at its start (for twa/integral); samples at or after its
 * end are ignored. */
void hist_agg_add_columns(struct hist_agg *a, const struct hist_columns *c, uint32_t from,
                          uint32_t to);

/* Whether a chunk with summary s can be accounted from its summary alone:
 * the kind is not twa/integral and [t_min, t_max] lies inside one bucket.
 * When true, hist_agg_add_summary may take it in any order relative to
 * other summaries; it must still not overlap samples fed as columns. */
bool hist_agg_summary_fits(const struct hist_agg *a, const struct hist_summary *s);
void hist_agg_add_summary(struct hist_agg *a, const struct hist_summary *s);

/* Writes the buckets (hist_agg_bucket_count of them) to out. */
void hist_agg_finish(const struct hist_agg *a, struct hist_bucket *out);

enum hist_interp {
    HIST_INTERP_PREVIOUS = 0, /* the last sample at or before t */
    HIST_INTERP_LINEAR,       /* between the samples around t (numeric types) */
};

/* The value at time t from sorted columns c holding at least the samples
 * around t: the last sample at or before t (previous), or the straight line
 * between it and the next one (linear, always as a double; previous for
 * bool and string, and where either neighbour is Bad). *q is the worse of the qualities used,
 * *ts the time of the previous sample. False when there is no sample at or
 * before t. */
bool hist_value_at(const struct hist_columns *c, int64_t t, enum hist_interp mode, struct value *v,
                   quality_t *q, int64_t *ts);

#endif
