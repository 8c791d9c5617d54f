/* The historian store: open and recovery, series, appends to the log and
 * the heads, checkpoints, the background thread and statistics. Queries are
 * in hist_read.c, compaction and retention in hist_maint.c. */
#include "historian/historian.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "historian/hist_alloc.h"
#include "historian/historian_internal.h"

#define WAL_FLUSH_BYTES (4u << 20) /* write the log buffer out beyond this */
#define MAINTAIN_TICK_MS 100
#define RETENTION_EVERY_MS 60000
#define LATE_LOG_EVERY 1000   /* log one rejected sample in this many */
#define BACKPRESSURE_FACTOR 2 /* appends wait beyond this many times head_max_bytes */
#define BACKPRESSURE_WAIT_MS 2000

/* ---- small helpers ---- */

int64_t hist_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

int64_t hist_align(int64_t t, int64_t span)
{
    return hist_floor_div(t, span) * span;
}

int64_t hist_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * HIST_NS_PER_S + ts.tv_nsec;
}

int64_t hist_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hist_set_error(struct historian *h, bool locked, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!locked) pthread_mutex_lock(&h->lock);
    bool repeated = h->stats.degraded && strcmp(h->stats.last_error, msg) == 0;
    snprintf(h->stats.last_error, sizeof h->stats.last_error, "%s", msg);
    h->stats.last_error_ns = hist_now_ns();
    h->stats.degraded = true;
    if (!locked) pthread_mutex_unlock(&h->lock);
    if (!repeated) log_error("historian", "history degraded", "error=\"%s\"", msg);
}

/* Clears the degraded state after a write succeeded (lock held). */
static void clear_degraded(struct historian *h)
{
    if (!h->stats.degraded) return;
    h->stats.degraded = false;
    log_info("historian", "history writing again", "after=\"%s\"", h->stats.last_error);
}

void hist_options_init(struct hist_options *o)
{
    memset(o, 0, sizeof *o);
    o->durability = HIST_DURABILITY_BATCHED;
    o->fsync_interval_ms = 1000;
    o->late_window_ns = 3600 * HIST_NS_PER_S;
    o->partition_ns = 86400 * HIST_NS_PER_S;
    o->chunk_span_ns = 3600 * HIST_NS_PER_S;
    o->chunk_max_samples = 8192;
    o->checkpoint_interval_ms = 60000;
    o->head_max_bytes = 64u << 20;
    o->index_cache_bytes = 64u << 20;
}

/* ---- segment list ---- */

bool hist_segs_add(struct historian *h, struct hist_segment *seg, const char *group,
                   int64_t partition_start_ns, uint64_t segno, uint64_t points)
{
    if (h->seg_count == h->seg_capacity) {
        size_t cap = h->seg_capacity ? h->seg_capacity * 2 : 16;
        struct hist_seg_ref *grown = hist_realloc(h->segs, cap * sizeof *grown);
        if (!grown) return false;
        h->segs = grown;
        h->seg_capacity = cap;
    }
    struct hist_seg_ref *r = &h->segs[h->seg_count++];
    memset(r, 0, sizeof *r);
    r->seg = seg;
    snprintf(r->group, sizeof r->group, "%s", group);
    r->partition_start_ns = partition_start_ns;
    r->segno = segno;
    r->bytes = hist_seg_bytes(seg);
    r->points = points;
    if (segno >= h->next_segno) h->next_segno = segno + 1;
    return true;
}

void hist_trim_index_cache(struct historian *h)
{
    pthread_rwlock_wrlock(&h->segs_lock);
    uint64_t total = 0;
    for (size_t i = 0; i < h->seg_count; i++)
        total += hist_seg_index_memory(h->segs[i].seg);
    while (total > h->opt.index_cache_bytes) {
        size_t lru = SIZE_MAX;
        for (size_t i = 0; i < h->seg_count; i++)
            if (hist_seg_index_memory(h->segs[i].seg) &&
                (lru == SIZE_MAX ||
                 hist_seg_last_use(h->segs[i].seg) < hist_seg_last_use(h->segs[lru].seg)))
                lru = i;
        if (lru == SIZE_MAX) break;
        total -= hist_seg_index_memory(h->segs[lru].seg);
        hist_seg_unload_index(h->segs[lru].seg);
    }
    pthread_rwlock_unlock(&h->segs_lock);
}

void hist_segs_remove(struct historian *h, size_t i)
{
    hist_seg_close(h->segs[i].seg);
    hist_free(h->segs[i].bad);
    memmove(&h->segs[i], &h->segs[i + 1], (h->seg_count - i - 1) * sizeof *h->segs);
    h->seg_count--;
}

/* newest_ts of every series, at open, from the segment indexes, partitions
 * newest first: a series found in a partition has its newest sample there,
 * so older partitions are read only for the series not found yet (usually
 * none: a store with years of history reads the indexes of its newest
 * partition and stops). */
static void newest_from_segments(struct historian *h)
{
    uint32_t missing = 0;
    for (uint32_t id = 0; id < h->series_count; id++)
        missing += !h->series[id].has_newest;
    bool *known = hist_calloc(h->series_count ? h->series_count : 1, sizeof *known);
    if (!known) return;        /* the late window then starts from each series' first new sample */
    int64_t above = INT64_MAX; /* partitions below this are still to read */
    while (missing > 0) {
        int64_t partition = INT64_MIN;
        for (size_t i = 0; i < h->seg_count; i++)
            if (h->segs[i].partition_start_ns < above && h->segs[i].partition_start_ns > partition)
                partition = h->segs[i].partition_start_ns;
        if (partition == INT64_MIN) break;
        for (uint32_t id = 0; id < h->series_count; id++)
            known[id] = h->series[id].has_newest;
        for (size_t i = 0; i < h->seg_count; i++) {
            if (h->segs[i].partition_start_ns != partition) continue;
            const struct hist_seg_entry *e = hist_seg_entries(h->segs[i].seg);
            size_t n = e ? hist_seg_entry_count(h->segs[i].seg) : 0;
            for (size_t k = 0; k < n; k++) {
                uint32_t id = e[k].chunk.series_id;
                if (id >= h->series_count || known[id]) continue;
                struct hist_series *s = &h->series[id];
                if (!s->has_newest) missing--;
                if (!s->has_newest || e[k].chunk.summary.t_max > s->newest_ts) {
                    s->newest_ts = e[k].chunk.summary.t_max;
                    s->has_newest = true;
                }
            }
        }
        above = partition;
    }
    hist_free(known);
}

/* ---- heads ---- */

static uint64_t sample_bytes(const struct hist_sample *s)
{
    return 20 + (s->value.type == VALUE_STRING ? s->value.as.str.len : 0);
}

/* Puts an accepted sample into its series' head (lock held). */
static bool head_push(struct historian *h, struct hist_series *se, const struct hist_sample *s)
{
    if (!hist_columns_push(&se->head, s->ts_ns, s->quality, &s->value)) return false;
    if (!se->has_newest || s->ts_ns > se->newest_ts) {
        se->newest_ts = s->ts_ns;
        se->has_newest = true;
    }
    h->stats.head_samples++;
    h->stats.head_bytes += sample_bytes(s);
    return true;
}

static bool replay_sample(void *ctx, const struct hist_sample *s)
{
    struct historian *h = ctx;
    if (s->series >= h->series_count || h->series[s->series].type != s->value.type) {
        h->stats.samples_rejected_other++;
        return true; /* not ours (catalogue torn before it): skip */
    }
    return head_push(h, &h->series[s->series], s);
}

/* ---- open / close ---- */

static bool make_dir(const struct historian *h, const char *path, char *err, size_t err_len)
{
    int e = 0;
    if (h->io->mkdir(h->io, path, 0755, &e) == 0 || e == EEXIST) return true;
    snprintf(err, err_len, "%s: cannot create the directory: %s", path, strerror(e));
    return false;
}

static bool valid_group_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= HIST_GROUP_NAME_MAX || strcmp(name, "wal") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool setup_groups(struct historian *h, const struct hist_options *opt, char *err,
                         size_t err_len)
{
    bool has_default = false;
    for (size_t i = 0; i < opt->group_count; i++)
        if (opt->groups[i].prefix && opt->groups[i].prefix[0] == '\0') has_default = true;
    size_t n = opt->group_count + (has_default ? 0 : 1);
    h->groups = hist_calloc(n, sizeof *h->groups);
    if (!h->groups) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    for (size_t i = 0; i < opt->group_count; i++) {
        const struct hist_retention_group *g = &opt->groups[i];
        const char *prefix = g->prefix ? g->prefix : "";
        if (!g->name || !valid_group_name(g->name) || strlen(prefix) >= HIST_PATH_MAX) {
            snprintf(err, err_len,
                     "history group %zu: the name must be 1 to %d letters, digits, '_' or '-' "
                     "(not 'wal')",
                     i + 1, HIST_GROUP_NAME_MAX - 1);
            return false;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(h->groups[k].name, g->name) == 0) {
                snprintf(err, err_len, "history group '%s' is defined twice", g->name);
                return false;
            }
        snprintf(h->groups[i].name, sizeof h->groups[i].name, "%s", g->name);
        snprintf(h->groups[i].prefix, sizeof h->groups[i].prefix, "%s", prefix);
        h->groups[i].max_age_ns = g->max_age_ns;
        h->groups[i].max_bytes = g->max_bytes;
    }
    if (!has_default) snprintf(h->groups[n - 1].name, sizeof h->groups[n - 1].name, "default");
    h->group_count = n;
    for (size_t i = 0; i < n; i++) {
        char gdir[HIST_PATH_MAX + HIST_GROUP_NAME_MAX + 2];
        hist_group_dir(h, h->groups[i].name, gdir, sizeof gdir);
        if (!make_dir(h, gdir, err, err_len)) return false;
    }
    return true;
}

static bool check_options(const struct hist_options *o, char *err, size_t err_len)
{
    const char *bad = NULL;
    if (!o->dir || !o->dir[0] || strlen(o->dir) >= HIST_PATH_MAX - 64)
        bad = "dir must be a path of 1 to 960 bytes";
    else if (o->partition_ns <= 0 || o->chunk_span_ns <= 0)
        bad = "partition and chunk span must be positive";
    else if (o->partition_ns % o->chunk_span_ns != 0)
        bad = "the partition must be a whole number of chunk spans";
    else if (o->chunk_max_samples == 0)
        bad = "chunk_max_samples must be at least 1";
    else if (o->late_window_ns < 0)
        bad = "late_window must not be negative";
    if (bad) snprintf(err, err_len, "history options: %s", bad);
    return bad == NULL;
}

static void free_store(struct historian *h)
{
    for (size_t i = 0; i < h->seg_count; i++) {
        hist_seg_close(h->segs[i].seg);
        hist_free(h->segs[i].bad);
    }
    hist_free(h->segs);
    for (uint32_t i = 0; i < h->series_count; i++) {
        hist_columns_free(&h->series[i].head);
        hist_columns_free(&h->series[i].flushing);
    }
    hist_free(h->series);
    hist_free(h->path_index);
    strpool_clear(&h->paths);
    hist_free(h->groups);
    hist_free(h->scratch);
    hist_catalog_close(h);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->checkpoint_lock);
    pthread_rwlock_destroy(&h->segs_lock);
    pthread_cond_destroy(&h->wake);
    pthread_cond_destroy(&h->checkpoint_done);
    hist_free(h);
}

static void *background(void *arg);

struct historian *hist_open(const struct hist_options *opt, char *err, size_t err_len)
{
    if (!check_options(opt, err, err_len)) return NULL;
    struct historian *h = hist_calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_len, "out of memory opening the history");
        return NULL;
    }
    h->opt = *opt;
    h->opt.groups = NULL;
    h->io = opt->io ? opt->io : hist_io_posix();
    h->catalog_fd = -1;
    snprintf(h->dir, sizeof h->dir, "%s", opt->dir);
    snprintf(h->wal_dir, sizeof h->wal_dir, "%s/wal", h->dir);
    h->opt.dir = h->dir;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->checkpoint_lock, NULL);
    pthread_rwlock_init(&h->segs_lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    pthread_cond_init(&h->checkpoint_done, NULL);
    strpool_init(&h->paths);

    struct hist_wal_replay_stats rs = {0};
    if (!make_dir(h, h->dir, err, err_len) || !make_dir(h, h->wal_dir, err, err_len) ||
        !setup_groups(h, opt, err, err_len) || !hist_catalog_open(h, err, err_len) ||
        !hist_manifest_load(h, err, err_len))
        goto fail;
    newest_from_segments(h);
    hist_trim_index_cache(h);
    if (!hist_wal_replay(h->io, h->wal_dir, h->wal_upto, replay_sample, h, &rs, err, err_len))
        goto fail;
    h->stats.log_records_dropped_at_recovery = rs.torn_records;
    if (rs.torn_records)
        log_warn("historian", "torn log records dropped at recovery", "records=%llu dir=\"%s\"",
                 (unsigned long long)rs.torn_records, h->wal_dir);
    uint64_t seq = (rs.max_seq > h->wal_upto ? rs.max_seq : h->wal_upto) + 1;
    h->wal = hist_wal_open(h->io, h->wal_dir, seq, err, err_len);
    if (!h->wal) goto fail;
    h->last_fsync_ms = h->last_checkpoint_ms = h->last_compact_ms = hist_mono_ms();
    h->last_retention_ms = 0;
    if (opt->background) {
        if (pthread_create(&h->thread, NULL, background, h) != 0) {
            snprintf(err, err_len, "cannot start the history thread");
            hist_wal_close(h->wal);
            goto fail;
        }
        h->thread_running = true;
    }
    log_info("historian", "history opened",
             "dir=\"%s\" series=%u segments=%zu replayed_samples=%llu durability=%s", h->dir,
             h->series_count, h->seg_count, (unsigned long long)rs.samples,
             opt->durability == HIST_DURABILITY_STRICT ? "strict" : "batched");
    return h;
fail:
    free_store(h);
    return NULL;
}

void hist_close(struct historian *h)
{
    if (!h) return;
    if (h->thread_running) {
        atomic_store(&h->stop, true);
        pthread_mutex_lock(&h->lock);
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
    }
    hist_sync(h);
    hist_checkpoint(h);
    hist_wal_close(h->wal);
    free_store(h);
}

/* ---- series ---- */

int64_t hist_series(struct historian *h, const char *path, enum value_type type)
{
    pthread_mutex_lock(&h->lock);
    struct hist_series *se = hist_catalog_find(h, path);
    if (!se || se->type != type) se = hist_catalog_create(h, path, type);
    int64_t id = se ? (int64_t)se->id : -1;
    pthread_mutex_unlock(&h->lock);
    return id;
}

int64_t hist_find_series(struct historian *h, const char *path)
{
    pthread_mutex_lock(&h->lock);
    struct hist_series *se = hist_catalog_find(h, path);
    int64_t id = se ? (int64_t)se->id : -1;
    pthread_mutex_unlock(&h->lock);
    return id;
}

bool hist_series_info(struct historian *h, uint32_t id, struct hist_series_info *out)
{
    pthread_mutex_lock(&h->lock);
    bool ok = id < h->series_count;
    if (ok) {
        out->id = id;
        out->type = h->series[id].type;
        snprintf(out->path, sizeof out->path, "%s", h->series[id].path);
    }
    pthread_mutex_unlock(&h->lock);
    return ok;
}

static int compare_info(const void *a, const void *b)
{
    return strcmp(((const struct hist_series_info *)a)->path,
                  ((const struct hist_series_info *)b)->path);
}

void hist_list_series(struct historian *h, const char *prefix,
                      bool (*fn)(void *ctx, const struct hist_series_info *s), void *ctx)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    pthread_mutex_lock(&h->lock);
    struct hist_series_info *list =
        hist_calloc(h->series_count ? h->series_count : 1, sizeof *list);
    size_t n = 0;
    for (uint32_t i = 0; list && i < h->series_count; i++) {
        const struct hist_series *s = &h->series[i];
        if (plen && strncmp(s->path, prefix, plen) != 0) continue;
        if (hist_catalog_find(h, s->path) != s) continue; /* only the newest of a path */
        list[n].id = s->id;
        list[n].type = s->type;
        snprintf(list[n].path, sizeof list[n].path, "%s", s->path);
        n++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!list) return;
    qsort(list, n, sizeof *list, compare_info);
    for (size_t i = 0; i < n; i++)
        if (!fn(ctx, &list[i])) break;
    hist_free(list);
}

/* ---- appends ---- */

static bool ensure_scratch(struct historian *h, size_t n)
{
    if (n <= h->scratch_capacity) return true;
    struct hist_sample *grown = hist_realloc(h->scratch, n * sizeof *grown);
    if (!grown) return false;
    h->scratch = grown;
    h->scratch_capacity = n;
    return true;
}

/* Writes the log buffer out (lock held); fsyncs when sync. */
static bool flush_log(struct historian *h, bool sync)
{
    int e = 0;
    /* Series before the samples that name them. */
    if (sync && !hist_catalog_sync(h)) return false;
    size_t pending = hist_wal_pending_bytes(h->wal);
    if (!hist_wal_flush(h->wal, sync, &e)) {
        h->stats.log_bytes += pending - hist_wal_pending_bytes(h->wal);
        h->stats.log_bytes_pending = hist_wal_pending_bytes(h->wal);
        hist_set_error(h, true, "%s/wal-%016llx.log: cannot %s: %s", h->wal_dir,
                       (unsigned long long)hist_wal_seq(h->wal), sync ? "write and fsync" : "write",
                       strerror(e));
        return false;
    }
    h->stats.log_bytes += pending;
    h->wal_bytes_on_disk += pending;
    h->stats.log_bytes_pending = 0;
    if (sync) {
        h->stats.fsyncs++;
        h->last_fsync_ms = hist_mono_ms();
        clear_degraded(h);
    }
    return true;
}

/* Whether sample s may go into its series now (lock held). */
static bool accept(struct historian *h, const struct hist_sample *s)
{
    if (s->series >= h->series_count || h->series[s->series].type != s->value.type) {
        if (h->stats.samples_rejected_other++ % LATE_LOG_EVERY == 0)
            log_warn("historian", "sample rejected", "series=%u reason=\"%s\"", s->series,
                     s->series >= h->series_count ? "unknown series" : "type differs");
        return false;
    }
    const struct hist_series *se = &h->series[s->series];
    if (se->has_newest && s->ts_ns < se->newest_ts - h->opt.late_window_ns) {
        if (h->stats.samples_rejected_late++ % LATE_LOG_EVERY == 0)
            log_warn("historian", "late sample rejected",
                     "series=\"%s\" late_by_ms=%lld window_ms=%lld", se->path,
                     (long long)((se->newest_ts - s->ts_ns) / HIST_NS_PER_MS),
                     (long long)(h->opt.late_window_ns / HIST_NS_PER_MS));
        return false;
    }
    return true;
}

/* Back-pressure (lock held): while the samples waiting in memory are far
 * past head_max_bytes because checkpoints cannot keep up with the rate of
 * appends, the appender waits for the running checkpoint (at most
 * BACKPRESSURE_WAIT_MS each time), so memory stays bounded and the
 * gateway's boundary absorbs the burst. Never while the disk fails
 * (degraded): then memory is what keeps accepted samples. */
static void wait_for_checkpoint(struct historian *h)
{
    int64_t waited_ms = 0;
    while (h->checkpointing && !h->stats.degraded && waited_ms < BACKPRESSURE_WAIT_MS &&
           h->stats.head_bytes > BACKPRESSURE_FACTOR * h->opt.head_max_bytes) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->checkpoint_done, &h->lock, &until);
        waited_ms += 50;
        h->stats.backpressure_waits++;
    }
}

bool hist_append(struct historian *h, const struct hist_sample *s, size_t n, size_t *accepted)
{
    size_t ok_count = 0;
    bool ok = true;
    pthread_mutex_lock(&h->lock);
    wait_for_checkpoint(h);
    if (!ensure_scratch(h, n)) {
        hist_set_error(h, true, "out of memory appending %zu samples", n);
        pthread_mutex_unlock(&h->lock);
        if (accepted) *accepted = 0;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!accept(h, &s[i])) continue;
        if (!head_push(h, &h->series[s[i].series], &s[i])) {
            hist_set_error(h, true, "out of memory holding samples in memory");
            ok = false;
            break;
        }
        h->scratch[ok_count++] = s[i];
    }
    h->stats.samples_accepted += ok_count;
    if (ok_count && !hist_wal_append(h->wal, h->scratch, ok_count)) {
        /* Held in memory only: a checkpoint will still write them. */
        hist_set_error(h, true, "out of memory buffering the log");
        ok = false;
    }
    if (ok_count) {
        /* Written at once (one write per call): a crash of the process then
         * loses nothing; batched leaves only the fsync (power loss) for
         * later. A failed write keeps the bytes buffered and degraded set. */
        if (h->opt.durability == HIST_DURABILITY_STRICT)
            ok = flush_log(h, true) && ok;
        else if (!h->stats.degraded || hist_wal_pending_bytes(h->wal) >= WAL_FLUSH_BYTES)
            flush_log(h, false);
    }
    bool wake = h->stats.head_bytes > h->opt.head_max_bytes;
    if (wake && h->thread_running) pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    if (accepted) *accepted = ok_count;
    return ok;
}

bool hist_sync(struct historian *h)
{
    pthread_mutex_lock(&h->lock);
    bool ok = flush_log(h, true);
    pthread_mutex_unlock(&h->lock);
    return ok;
}

/* ---- checkpoint ---- */

bool hist_write_chunks(struct historian *h, struct hist_segment_writer *w, uint32_t series_id,
                       const struct hist_columns *c, uint32_t from, uint32_t to, char *err,
                       size_t err_len)
{
    struct hist_columns part;
    hist_columns_init(&part, c->type);
    bool ok = true;
    uint32_t start = from;
    while (ok && start < to) {
        int64_t span = hist_align(c->ts[start], h->opt.chunk_span_ns);
        uint32_t end = start + 1;
        while (end < to && end - start < h->opt.chunk_max_samples &&
               hist_align(c->ts[end], h->opt.chunk_span_ns) == span)
            end++;
        hist_columns_clear(&part);
        ok = hist_columns_append(&part, c, start, end);
        if (!ok)
            snprintf(err, err_len, "out of memory writing chunks");
        else
            ok = hist_segw_add(w, series_id, &part, err, err_len);
        start = end;
    }
    hist_columns_free(&part);
    return ok;
}

/* One segment being written by a checkpoint. */
struct pending_segment {
    uint32_t group;
    int64_t partition;
    uint64_t segno;
    uint64_t points;
    struct hist_segment_writer *w;
    char path[HIST_PATH_MAX + 128];
};

struct checkpoint {
    struct pending_segment *segs;
    size_t count, capacity;
};

static struct pending_segment *writer_for(struct historian *h, struct checkpoint *cp,
                                          uint32_t group, int64_t partition, char *err,
                                          size_t err_len)
{
    for (size_t i = 0; i < cp->count; i++)
        if (cp->segs[i].group == group && cp->segs[i].partition == partition) return &cp->segs[i];
    if (cp->count == cp->capacity) {
        size_t cap = cp->capacity ? cp->capacity * 2 : 4;
        struct pending_segment *grown = hist_realloc(cp->segs, cap * sizeof *grown);
        if (!grown) {
            snprintf(err, err_len, "out of memory in a checkpoint");
            return NULL;
        }
        cp->segs = grown;
        cp->capacity = cap;
    }
    struct pending_segment *p = &cp->segs[cp->count];
    memset(p, 0, sizeof *p);
    p->group = group;
    p->partition = partition;
    pthread_mutex_lock(&h->lock);
    p->segno = h->next_segno++;
    struct hist_segment_meta meta = {
        .group_id = group, .partition_start_ns = partition, .wal_upto = h->wal_upto};
    pthread_mutex_unlock(&h->lock);
    hist_segment_path(h, h->groups[group].name, partition, p->segno, p->path, sizeof p->path);
    char tmp[sizeof p->path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->path);
    p->w = hist_segw_begin(h->io, tmp, &meta, err, err_len);
    if (!p->w) return NULL;
    cp->count++;
    return p;
}

/* Writes the flushing columns of every series into segments. */
static bool write_flushing(struct historian *h, struct checkpoint *cp, char *err, size_t err_len)
{
    for (uint32_t id = 0; id < h->series_count; id++) {
        struct hist_series *se = &h->series[id];
        struct hist_columns *c = &se->flushing;
        if (c->count == 0) continue;
        if (!hist_columns_sort(c)) {
            snprintf(err, err_len, "out of memory sorting samples");
            return false;
        }
        uint32_t start = 0;
        while (start < c->count) {
            int64_t partition = hist_align(c->ts[start], h->opt.partition_ns);
            uint32_t end = start + 1;
            while (end < c->count && c->ts[end] < partition + h->opt.partition_ns)
                end++;
            struct pending_segment *p = writer_for(h, cp, se->group, partition, err, err_len);
            if (!p || !hist_write_chunks(h, p->w, id, c, start, end, err, err_len)) return false;
            start = end;
        }
    }
    return true;
}

/* Puts flushing samples back in front of the heads after a failure. */
static void restore_heads(struct historian *h)
{
    for (uint32_t id = 0; id < h->series_count; id++) {
        struct hist_series *se = &h->series[id];
        if (se->flushing.count == 0) continue;
        if (hist_columns_append(&se->flushing, &se->head, 0, se->head.count)) {
            struct hist_columns t = se->head;
            se->head = se->flushing;
            se->flushing = t;
        } else {
            /* Cannot merge: keep both in memory, head first in time is not
             * guaranteed but nothing is lost; reads see both. */
            continue;
        }
        hist_columns_clear(&se->flushing);
    }
}

static void abort_checkpoint(struct historian *h, struct checkpoint *cp, bool remove_finished)
{
    for (size_t i = 0; i < cp->count; i++) {
        if (cp->segs[i].w) {
            hist_segw_abort(cp->segs[i].w);
        } else if (remove_finished) {
            int e;
            h->io->unlink(h->io, cp->segs[i].path, &e);
        }
    }
    hist_free(cp->segs);
    cp->segs = NULL;
    cp->count = cp->capacity = 0;
}

/* Takes the heads for a checkpoint and rotates the log (lock held). The
 * samples taken are all in log files <= the returned seq. */
static bool take_heads(struct historian *h, uint64_t *upto)
{
    flush_log(h, true); /* a failure leaves them in memory: the segments will hold them */
    uint64_t old = hist_wal_seq(h->wal);
    char err[256];
    struct hist_wal *next = hist_wal_open(h->io, h->wal_dir, old + 1, err, sizeof err);
    if (!next) {
        hist_set_error(h, true, "cannot start a new log file: %s", err);
        return false;
    }
    if (hist_wal_pending_bytes(h->wal) > 0)
        log_warn("historian", "log bytes not written before rotation are kept in memory only",
                 "bytes=%zu", hist_wal_pending_bytes(h->wal));
    hist_wal_close(h->wal);
    h->wal = next;
    for (uint32_t id = 0; id < h->series_count; id++) {
        struct hist_series *se = &h->series[id];
        struct hist_columns t = se->flushing;
        se->flushing = se->head;
        se->head = t;
    }
    h->stats.head_samples = 0;
    h->stats.head_bytes = 0;
    h->checkpointing = true;
    *upto = old;
    return true;
}

static bool any_head_data(struct historian *h)
{
    for (uint32_t id = 0; id < h->series_count; id++)
        if (h->series[id].head.count) return true;
    return false;
}

bool hist_checkpoint(struct historian *h)
{
    pthread_mutex_lock(&h->checkpoint_lock);
    pthread_mutex_lock(&h->lock);
    uint64_t upto = 0;
    bool has_data = any_head_data(h);
    if (has_data && !hist_catalog_sync(h)) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_unlock(&h->checkpoint_lock);
        return false;
    }
    if (!has_data || !take_heads(h, &upto)) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_unlock(&h->checkpoint_lock);
        return !has_data;
    }
    pthread_mutex_unlock(&h->lock);

    /* Write the segments without holding lock: appends go on meanwhile. */
    struct checkpoint cp = {0};
    char err[512] = "";
    bool ok = write_flushing(h, &cp, err, sizeof err);
    struct hist_segment **opened = NULL;
    if (ok) {
        opened = hist_calloc(cp.count ? cp.count : 1, sizeof *opened);
        ok = opened != NULL;
        if (!ok) snprintf(err, sizeof err, "out of memory in a checkpoint");
    }
    for (size_t i = 0; ok && i < cp.count; i++) {
        uint64_t bytes = 0;
        cp.segs[i].points = hist_segw_points(cp.segs[i].w);
        ok = hist_segw_finish(cp.segs[i].w, cp.segs[i].path, &bytes, err, sizeof err);
        cp.segs[i].w = NULL;
    }
    for (size_t i = 0; ok && i < cp.count; i++) {
        opened[i] = hist_seg_open_lazy(h->io, cp.segs[i].path, err, sizeof err);
        ok = opened[i] != NULL;
    }

    /* Publish: segments, manifest and heads change together. */
    pthread_rwlock_wrlock(&h->segs_lock);
    pthread_mutex_lock(&h->lock);
    size_t old_count = h->seg_count;
    uint64_t old_upto = h->wal_upto;
    for (size_t i = 0; ok && i < cp.count; i++) {
        ok = hist_segs_add(h, opened[i], h->groups[cp.segs[i].group].name, cp.segs[i].partition,
                           cp.segs[i].segno, cp.segs[i].points);
        if (ok)
            opened[i] = NULL;
        else
            snprintf(err, sizeof err, "out of memory in a checkpoint");
    }
    if (ok) {
        h->wal_upto = upto;
        ok = hist_manifest_write(h, err, sizeof err);
    }
    if (!ok) {
        while (h->seg_count > old_count)
            hist_segs_remove(h, h->seg_count - 1);
        h->wal_upto = old_upto;
        restore_heads(h);
        hist_set_error(h, true, "checkpoint failed: %s", err);
    } else {
        /* Their arrays are given back rather than kept for the next
         * checkpoint: memory then holds one generation of heads, not two. */
        for (uint32_t id = 0; id < h->series_count; id++) {
            struct hist_series *se = &h->series[id];
            hist_columns_free(&se->flushing);
            hist_columns_init(&se->flushing, se->type);
        }
        h->stats.checkpoints++;
        clear_degraded(h);
    }
    h->checkpointing = false;
    pthread_cond_broadcast(&h->checkpoint_done);
    h->last_checkpoint_ms = hist_mono_ms();
    pthread_mutex_unlock(&h->lock);
    pthread_rwlock_unlock(&h->segs_lock);

    for (size_t i = 0; opened && i < cp.count; i++)
        if (opened[i]) hist_seg_close(opened[i]);
    hist_free(opened);
    abort_checkpoint(h, &cp, !ok);
    if (ok) {
        int e = 0;
        if (hist_wal_delete_upto(h->io, h->wal_dir, upto, &e)) {
            pthread_mutex_lock(&h->lock);
            h->wal_bytes_on_disk = hist_wal_file_bytes(h->wal);
            pthread_mutex_unlock(&h->lock);
        }
    }
    pthread_mutex_unlock(&h->checkpoint_lock);
    return ok;
}

/* ---- maintenance ---- */

void hist_maintain(struct historian *h)
{
    int64_t now = hist_mono_ms();
    pthread_mutex_lock(&h->lock);
    bool due_fsync = (h->opt.durability == HIST_DURABILITY_BATCHED &&
                      now - h->last_fsync_ms >= (int64_t)h->opt.fsync_interval_ms) ||
                     h->stats.degraded;
    if (due_fsync && (hist_wal_pending_bytes(h->wal) > 0 || h->stats.degraded ||
                      now - h->last_fsync_ms >= (int64_t)h->opt.fsync_interval_ms))
        flush_log(h, true);
    bool due_checkpoint = now - h->last_checkpoint_ms >= (int64_t)h->opt.checkpoint_interval_ms ||
                          h->stats.head_bytes > h->opt.head_max_bytes ||
                          (h->stats.degraded && now - h->last_checkpoint_ms >= 1000);
    pthread_mutex_unlock(&h->lock);
    if (due_checkpoint) {
        hist_checkpoint(h);
        h->last_checkpoint_ms = hist_mono_ms();
    }
    if (now - h->last_compact_ms >= (int64_t)h->opt.checkpoint_interval_ms) {
        hist_compact_due(h);
        h->last_compact_ms = hist_mono_ms();
    }
    hist_trim_index_cache(h);
    if (h->last_retention_ms == 0 || now - h->last_retention_ms >= RETENTION_EVERY_MS) {
        hist_apply_retention(h, hist_now_ns());
        h->last_retention_ms = hist_mono_ms();
    }
}

static void *background(void *arg)
{
    struct historian *h = arg;
    while (!atomic_load(&h->stop)) {
        pthread_mutex_lock(&h->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += MAINTAIN_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!atomic_load(&h->stop)) pthread_cond_timedwait(&h->wake, &h->lock, &until);
        pthread_mutex_unlock(&h->lock);
        if (!atomic_load(&h->stop)) hist_maintain(h);
    }
    return NULL;
}

/* ---- statistics ---- */

void hist_get_stats(struct historian *h, struct hist_stats *out)
{
    pthread_rwlock_rdlock(&h->segs_lock);
    pthread_mutex_lock(&h->lock);
    *out = h->stats;
    out->segments = h->seg_count;
    out->chunks = 0;
    out->points_on_disk = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < h->seg_count; i++) {
        out->chunks += hist_seg_entry_count(h->segs[i].seg);
        out->points_on_disk += h->segs[i].points;
        bytes += h->segs[i].bytes;
    }
    out->bytes_on_disk = bytes + h->wal_bytes_on_disk + h->catalog_bytes + h->manifest_bytes;
    out->log_bytes_pending = hist_wal_pending_bytes(h->wal);
    out->series = h->series_count;
    pthread_mutex_unlock(&h->lock);
    pthread_rwlock_unlock(&h->segs_lock);
}
