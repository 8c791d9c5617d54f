/* Queries: raw ranges, aggregates and the value at a time.
 *
 * A query gathers its sources: the chunks of the series (from every
 * segment) and its samples in memory (heads), each with a time range. They
 * are sorted by start and swept in clusters of overlapping ranges; clusters
 * are disjoint in time, so a cluster's samples, sorted, follow the previous
 * cluster's. A cluster that is one chunk lying inside one bucket of an
 * aggregate is taken from the chunk's summary without decoding it.
 * segs_lock is held shared for the whole query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "historian/hist_alloc.h"
#include "historian/historian_internal.h"

struct source {
    int64_t t_min, t_max;
    size_t seg;                     /* index into h->segs; unused for heads */
    const struct hist_seg_entry *e; /* NULL: the heads */
    size_t order;                   /* arrival order: segment order, then heads */
};

struct sources {
    struct source *v;
    size_t count, capacity;
    struct hist_columns heads; /* the series' samples in memory within the query range */
};

static bool push_source(struct sources *s, struct source src)
{
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 64;
        struct source *grown = hist_realloc(s->v, cap * sizeof *grown);
        if (!grown) return false;
        s->v = grown;
        s->capacity = cap;
    }
    src.order = s->count;
    s->v[s->count++] = src;
    return true;
}

static int compare_sources(const void *a, const void *b)
{
    const struct source *x = a, *y = b;
    if (x->t_min != y->t_min) return x->t_min < y->t_min ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void sources_free(struct sources *s)
{
    hist_free(s->v);
    hist_columns_free(&s->heads);
}

/* Copies the in-memory samples of se in [from, to) (lock held). */
static bool copy_heads(const struct hist_series *se, int64_t from, int64_t to,
                       struct hist_columns *out)
{
    const struct hist_columns *parts[2] = {&se->flushing, &se->head};
    for (int p = 0; p < 2; p++) {
        const struct hist_columns *c = parts[p];
        for (uint32_t i = 0; i < c->count; i++) {
            if (c->ts[i] < from || c->ts[i] >= to) continue;
            struct value v = hist_columns_value(c, i);
            if (!hist_columns_push(out, c->ts[i], c->quality[i], &v)) return false;
        }
    }
    return true;
}

/* Reports once a segment whose index cannot be read (its data is skipped;
 * out of memory is retried and not reported). */
static void report_bad_index(struct historian *h, size_t seg)
{
    struct hist_seg_ref *r = &h->segs[seg];
    const char *why = hist_seg_index_error(r->seg);
    if (!why || hist_is_out_of_memory(why)) return;
    pthread_mutex_lock(&h->lock);
    bool first = !r->index_reported;
    r->index_reported = true;
    if (first) h->stats.corrupt_chunks += hist_seg_entry_count(r->seg);
    pthread_mutex_unlock(&h->lock);
    if (first) hist_set_error(h, false, "segment index unreadable, its chunks skipped: %s", why);
}

/* Gathers the sources of series in [from, to) (segs_lock held shared).
 * False on out of memory or an unknown series. */
static bool gather(struct historian *h, uint32_t series, int64_t from, int64_t to,
                   struct sources *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&h->lock);
    if (series >= h->series_count) {
        pthread_mutex_unlock(&h->lock);
        snprintf(why, why_len, "no series %u", series);
        return false;
    }
    const struct hist_series *se = &h->series[series];
    hist_columns_init(&out->heads, se->type);
    bool ok = copy_heads(se, from, to, &out->heads);
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; ok && i < h->seg_count; i++) {
        const struct hist_seg_entry *first;
        size_t n = hist_seg_find(h->segs[i].seg, series, from, to, &first);
        if (n == 0) report_bad_index(h, i);
        for (size_t k = 0; ok && k < n; k++)
            ok = push_source(out, (struct source){.t_min = first[k].chunk.summary.t_min,
                                                  .t_max = first[k].chunk.summary.t_max,
                                                  .seg = i,
                                                  .e = &first[k]});
    }
    if (ok && out->heads.count) {
        int64_t lo = out->heads.ts[0], hi = lo;
        for (uint32_t i = 1; i < out->heads.count; i++) {
            if (out->heads.ts[i] < lo) lo = out->heads.ts[i];
            if (out->heads.ts[i] > hi) hi = out->heads.ts[i];
        }
        ok = push_source(out, (struct source){.t_min = lo, .t_max = hi, .e = NULL});
    }
    if (!ok) {
        sources_free(out);
        snprintf(why, why_len, "out of memory");
        return false;
    }
    if (out->count > 1) qsort(out->v, out->count, sizeof *out->v, compare_sources);
    return true;
}

/* Reports a corrupt chunk once. */
static void report_corrupt(struct historian *h, size_t seg, const struct hist_seg_entry *e,
                           const char *why)
{
    struct hist_seg_ref *r = &h->segs[seg];
    size_t index = (size_t)(e - hist_seg_entries(r->seg));
    pthread_mutex_lock(&h->lock);
    if (!r->bad) r->bad = hist_calloc(hist_seg_entry_count(r->seg), 1);
    bool first = !r->bad || !r->bad[index];
    if (r->bad) r->bad[index] = 1;
    if (first) h->stats.corrupt_chunks++;
    pthread_mutex_unlock(&h->lock);
    if (first) hist_set_error(h, false, "corrupt chunk skipped: %s", why);
}

static bool is_sorted(const struct hist_columns *c, uint32_t from)
{
    for (uint32_t i = from + 1; i < c->count; i++)
        if (c->ts[i] < c->ts[i - 1]) return false;
    return true;
}

/* Keeps only out[from..) samples in [lo, hi), in place. */
static void keep_range(struct hist_columns *c, uint32_t from, int64_t lo, int64_t hi)
{
    uint32_t w = from;
    for (uint32_t i = from; i < c->count; i++) {
        if (c->ts[i] < lo || c->ts[i] >= hi) continue;
        if (w != i) {
            c->ts[w] = c->ts[i];
            c->quality[w] = c->quality[i];
            switch (c->type) {
            case VALUE_DOUBLE:
                c->f64[w] = c->f64[i];
                break;
            case VALUE_INT64:
            case VALUE_UINT64:
                c->i64[w] = c->i64[i];
                break;
            case VALUE_BOOL:
                c->b[w] = c->b[i];
                break;
            case VALUE_STRING:
                c->str[w] = c->str[i];
                c->str_len[w] = c->str_len[i];
                break;
            }
        }
        w++;
    }
    c->count = w;
}

/* Sorts c[from..) by time, stably. */
static bool sort_tail(struct hist_columns *c, uint32_t from)
{
    if (is_sorted(c, from)) return true;
    if (from == 0) return hist_columns_sort(c);
    struct hist_columns tail;
    hist_columns_init(&tail, c->type);
    bool ok = hist_columns_append(&tail, c, from, c->count) && hist_columns_sort(&tail);
    if (ok) {
        c->count = from;
        ok = hist_columns_append(c, &tail, 0, tail.count);
    }
    hist_columns_free(&tail);
    return ok;
}

static int compare_order(const void *a, const void *b)
{
    const struct source *x = *(const struct source *const *)a;
    const struct source *y = *(const struct source *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends the samples of sources v[a..b) within [lo, hi) to out, sorted
 * by time; samples with equal times keep their arrival order (segments in
 * segment order, then memory), whatever the sources' start times. False on
 * out of memory (a corrupt chunk is reported and skipped, not an error). */
static bool load_cluster(struct historian *h, struct sources *s, size_t a, size_t b, int64_t lo,
                         int64_t hi, struct hist_columns *out)
{
    uint32_t start = out->count;
    const struct source *one[1];
    const struct source **by_order = b - a == 1 ? one : hist_malloc((b - a) * sizeof *by_order);
    if (!by_order) return false;
    for (size_t i = a; i < b; i++)
        by_order[i - a] = &s->v[i];
    if (b - a > 1) qsort(by_order, b - a, sizeof *by_order, compare_order);
    bool ok = true;
    for (size_t i = 0; ok && i < b - a; i++) {
        const struct source *src = by_order[i];
        if (!src->e) {
            ok = hist_columns_append(out, &s->heads, 0, s->heads.count);
            continue;
        }
        char why[300];
        if (hist_seg_read_chunk(h->segs[src->seg].seg, src->e, out, why, sizeof why)) continue;
        if (hist_is_out_of_memory(why))
            ok = false;
        else
            report_corrupt(h, src->seg, src->e, why);
    }
    if (by_order != one) hist_free(by_order);
    if (!ok) {
        out->count = start;
        return false;
    }
    bool inside = true;
    for (size_t i = a; i < b; i++)
        if (s->v[i].t_min < lo || s->v[i].t_max >= hi) inside = false;
    if (!inside) keep_range(out, start, lo, hi);
    return sort_tail(out, start);
}

/* End of the cluster starting at v[a]: the first source not overlapping. */
static size_t cluster_end(const struct sources *s, size_t a)
{
    int64_t reach = s->v[a].t_max;
    size_t b = a + 1;
    while (b < s->count && s->v[b].t_min <= reach) {
        if (s->v[b].t_max > reach) reach = s->v[b].t_max;
        b++;
    }
    return b;
}

static bool check_type(struct historian *h, uint32_t series, const struct hist_columns *out,
                       char *why, size_t why_len)
{
    struct hist_series_info info;
    if (!hist_series_info(h, series, &info)) {
        snprintf(why, why_len, "no series %u", series);
        return false;
    }
    if (info.type != out->type) {
        snprintf(why, why_len, "series %u holds %s values, not %s", series,
                 value_type_name(info.type), value_type_name(out->type));
        return false;
    }
    return true;
}

bool hist_read_raw(struct historian *h, uint32_t series, int64_t from, int64_t to, size_t limit,
                   struct hist_columns *out, bool *truncated, char *why, size_t why_len)
{
    if (truncated) *truncated = false;
    if (!check_type(h, series, out, why, why_len)) return false;
    if (to <= from) return true;
    pthread_rwlock_rdlock(&h->segs_lock);
    struct sources s;
    bool ok = gather(h, series, from, to, &s, why, why_len);
    bool gathered = ok;
    uint32_t base = out->count;
    for (size_t a = 0; ok && a < s.count;) {
        size_t b = cluster_end(&s, a);
        ok = load_cluster(h, &s, a, b, from, to, out);
        if (!ok) snprintf(why, why_len, "out of memory");
        a = b;
        if (ok && limit && out->count - base > limit) break;
    }
    pthread_rwlock_unlock(&h->segs_lock);
    if (ok && limit && out->count - base > limit) {
        out->count = base + (uint32_t)limit;
        if (truncated) *truncated = true;
    }
    if (gathered) sources_free(&s);
    return ok;
}

/* The latest time P such that every sample at or before t is at or after
 * P or absent: the greatest t_max of sources wholly at or before t, or the
 * smallest t_min of those straddling t. INT64_MIN when nothing starts at
 * or before t. */
static int64_t previous_bound(const struct sources *s, int64_t t)
{
    int64_t p = INT64_MIN;
    for (size_t i = 0; i < s->count; i++) {
        const struct source *src = &s->v[i];
        if (src->t_min > t) continue;
        int64_t cand = src->t_max <= t ? src->t_max : src->t_min;
        if (cand > p) p = cand;
    }
    return p;
}

/* Loads the samples at or before t that could be the last one (and, when
 * next, the first one after t) into out, sorted. */
static bool load_around(struct historian *h, uint32_t series, int64_t t, bool next,
                        struct hist_columns *out, char *why, size_t why_len)
{
    struct sources all;
    if (!gather(h, series, INT64_MIN, INT64_MAX, &all, why, why_len)) return false;
    int64_t lo = previous_bound(&all, t);
    int64_t hi = t + 1;
    if (next) {
        int64_t n = INT64_MAX;
        for (size_t i = 0; i < all.count; i++)
            if (all.v[i].t_max > t) {
                int64_t cand = all.v[i].t_min > t ? all.v[i].t_min : all.v[i].t_max;
                if (cand < n) n = cand;
            }
        hi = n == INT64_MAX ? INT64_MAX : n + 1;
    }
    sources_free(&all);
    if (lo == INT64_MIN && !next) return true;
    if (lo == INT64_MIN) lo = t;
    struct sources s;
    if (!gather(h, series, lo, hi, &s, why, why_len)) return false;
    bool ok = true;
    for (size_t a = 0; ok && a < s.count;) {
        size_t b = cluster_end(&s, a);
        ok = load_cluster(h, &s, a, b, lo, hi, out);
        a = b;
    }
    sources_free(&s);
    if (!ok) snprintf(why, why_len, "out of memory");
    return ok;
}

bool hist_aggregate(struct historian *h, uint32_t series, int64_t from, int64_t to, int64_t every,
                    enum hist_agg_kind kind, struct hist_bucket **out, size_t *count, char *why,
                    size_t why_len)
{
    *out = NULL;
    *count = 0;
    struct hist_series_info info;
    if (!hist_series_info(h, series, &info)) {
        snprintf(why, why_len, "no series %u", series);
        return false;
    }
    struct hist_agg *agg = hist_agg_new(kind, from, to, every, why, why_len);
    if (!agg) return false;
    struct hist_columns buf;
    hist_columns_init(&buf, info.type);
    bool ok = true;
    pthread_rwlock_rdlock(&h->segs_lock);
    if (kind == HIST_AGG_TWA || kind == HIST_AGG_INTEGRAL) {
        /* The value in force at from: the last sample before it. */
        ok = load_around(h, series, from - 1, false, &buf, why, why_len);
        if (ok && buf.count) hist_agg_add_columns(agg, &buf, buf.count - 1, buf.count);
        hist_columns_clear(&buf);
    }
    struct sources s;
    ok = ok && gather(h, series, from, to, &s, why, why_len);
    bool gathered = ok;
    for (size_t a = 0; ok && a < s.count;) {
        size_t b = cluster_end(&s, a);
        if (b == a + 1 && s.v[a].e && hist_agg_summary_fits(agg, &s.v[a].e->chunk.summary)) {
            hist_agg_add_summary(agg, &s.v[a].e->chunk.summary);
        } else {
            hist_columns_clear(&buf);
            ok = load_cluster(h, &s, a, b, from, to, &buf);
            if (ok)
                hist_agg_add_columns(agg, &buf, 0, buf.count);
            else
                snprintf(why, why_len, "out of memory");
        }
        a = b;
    }
    pthread_rwlock_unlock(&h->segs_lock);
    if (gathered) sources_free(&s);
    hist_columns_free(&buf);
    if (ok) {
        size_t n = hist_agg_bucket_count(agg);
        *out = hist_malloc(n * sizeof **out);
        if (*out) {
            hist_agg_finish(agg, *out);
            *count = n;
        } else {
            ok = false;
            snprintf(why, why_len, "out of memory");
        }
    }
    hist_agg_free(agg);
    return ok;
}

bool hist_value_at_time(struct historian *h, uint32_t series, int64_t t, enum hist_interp mode,
                        struct value *v, quality_t *q, int64_t *ts, struct hist_columns *strings,
                        char *why, size_t why_len)
{
    struct hist_series_info info;
    if (!hist_series_info(h, series, &info)) {
        snprintf(why, why_len, "no series %u", series);
        return false;
    }
    hist_columns_free(strings);
    hist_columns_init(strings, info.type);
    pthread_rwlock_rdlock(&h->segs_lock);
    bool ok = load_around(h, series, t, mode == HIST_INTERP_LINEAR, strings, why, why_len);
    pthread_rwlock_unlock(&h->segs_lock);
    if (!ok) return false;
    if (!hist_value_at(strings, t, mode, v, q, ts)) {
        snprintf(why, why_len, "no sample at or before that time");
        return false;
    }
    return true;
}
