/* The embedded historian: every tag's history, compressed, crash-safe and
 * fast to query. Fed from the IT side of the boundary, read by the API, the
 * CLI and the dashboard. See docs/historian.md for the user's view and
 * docs/architecture.md for the file layout.
 *
 * Storage, in short: samples are appended to a write-ahead log (fsync'd per
 * append under `strict`, every fsync_interval_ms under `batched`) and kept
 * in per-series heads in memory; a checkpoint writes the heads as
 * compressed chunks into an immutable segment file per retention group and
 * time partition, records the new set of segments in the manifest
 * (atomically, by rename) and deletes the log files the segments cover.
 * Compaction merges a partition's segments into one with full chunks;
 * retention deletes whole partitions by age and by size per group.
 *
 * Thread safety: every function may be called from any thread; appends are
 * serialised, reads run concurrently with appends. */
#ifndef AIRLOCK_HISTORIAN_HISTORIAN_H
#define AIRLOCK_HISTORIAN_HISTORIAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"
#include "historian/hist_agg.h"
#include "historian/hist_chunk.h"
#include "historian/hist_io.h"

#define HIST_NS_PER_MS 1000000LL
#define HIST_NS_PER_S 1000000000LL

enum hist_durability {
    HIST_DURABILITY_BATCHED = 0, /* fsync every fsync_interval_ms: that much may be lost */
    HIST_DURABILITY_STRICT,      /* hist_append returns once its samples are fsync'd */
};

/* Tags whose path starts with prefix belong to the group (the longest
 * matching prefix wins; a group with prefix "" takes the rest). Each group
 * has its own directory, partitions and limits. */
struct hist_retention_group {
    const char *name;   /* directory name: letters, digits, '_', '-' */
    const char *prefix; /* "" for every tag */
    int64_t max_age_ns; /* partitions older than this are deleted; 0 = keep */
    uint64_t max_bytes; /* oldest partitions deleted while over this; 0 = no limit */
};

struct hist_options {
    const char *dir; /* created if missing */
    enum hist_durability durability;
    uint32_t fsync_interval_ms;      /* batched: default 1000 */
    int64_t late_window_ns;          /* accept samples at most this much older than the
                                        series' newest; default 1 h */
    int64_t partition_ns;            /* time partitions (UTC-aligned); default 1 day */
    int64_t chunk_span_ns;           /* no chunk crosses a multiple of this; default 1 h */
    uint32_t chunk_max_samples;      /* default 8192 */
    uint32_t checkpoint_interval_ms; /* heads to segments at least this often; default 60000 */
    uint64_t head_max_bytes;         /* ...or when the heads hold more than this; default 64 MiB */
    uint64_t index_cache_bytes;      /* segment indexes kept in memory (read from disk on demand,
                                        least recently used dropped); default 64 MiB */
    const struct hist_retention_group *groups; /* NULL: one group "default", no limits */
    size_t group_count;
    const struct hist_io *io; /* NULL: the real file system */
    bool background;          /* a thread does fsyncs, checkpoints, compaction, retention
                                 (the gateway sets it; tests may call hist_maintain) */
};

/* Fills the defaults above (dir NULL, background false). */
void hist_options_init(struct hist_options *o);

struct historian;

/* Opens (or creates) the store at opt->dir and recovers: reads the
 * manifest, drops files it does not list, replays the log. NULL with a
 * message naming the file and the problem in err when the store cannot be
 * opened at all (a corrupt chunk does not stop it: it is reported in stats
 * and skipped by reads). */
struct historian *hist_open(const struct hist_options *opt, char *err, size_t err_len);

/* Flushes and fsyncs the log, writes a checkpoint when it can, stops the
 * background thread and frees everything. Safe with NULL. */
void hist_close(struct historian *h);

/* ---- series: a tag path and its type; ids persist across restarts ---- */

/* The id of the series for path, created when new. A path whose type
 * changed gets a new series (the old history stays readable under the old
 * series id; lookups by path give the newest). -1 on I/O error or out of
 * memory, with the reason in stats.last_error. */
int64_t hist_series(struct historian *h, const char *path, enum value_type type);
/* The newest series of path, or -1. */
int64_t hist_find_series(struct historian *h, const char *path);

struct hist_series_info {
    uint32_t id;
    enum value_type type;
    char path[256];
};
bool hist_series_info(struct historian *h, uint32_t id, struct hist_series_info *out);
/* Calls fn for the newest series of every path starting with prefix, in
 * path order;
 * stops early when fn returns false. */
void hist_list_series(struct historian *h, const char *prefix,
                      bool (*fn)(void *ctx, const struct hist_series_info *s), void *ctx);

/* ---- writing ---- */

struct hist_sample {
    uint32_t series;
    quality_t quality;
    int64_t ts_ns;
    struct value value; /* strings are copied by hist_append */
};

/* Appends n samples (any series, any order). A sample is rejected, counted
 * and logged (rate-limited) when its series is unknown, its value's type is
 * not the series' type, or it is older than the series' newest sample minus
 * late_window_ns. *accepted (when not NULL) receives the number accepted.
 * Under strict durability it returns once they are fsync'd in the log.
 * False when the log could not be written: the accepted samples are still
 * held in memory and written when the disk works again (see
 * stats.degraded); nothing accepted is dropped while memory lasts. */
bool hist_append(struct historian *h, const struct hist_sample *s, size_t n, size_t *accepted);

/* Writes and fsyncs whatever the log holds. False on I/O error. */
bool hist_sync(struct historian *h);

/* ---- reading: [from, to) in ns UTC ---- */

/* Appends the samples of series in [from, to) to out (type set by the
 * caller from hist_series_info), sorted by time, at most limit of them
 * (0 = no limit); *truncated (when not NULL) says whether more were left.
 * Corrupt chunks are skipped and counted. False on out of memory or when
 * series is unknown; why says which. */
bool hist_read_raw(struct historian *h, uint32_t series, int64_t from, int64_t to, size_t limit,
                   struct hist_columns *out, bool *truncated, char *why, size_t why_len);

/* Aggregates series over [from, to) in buckets of every ns (see
 * hist_agg.h). *out is malloc'd (*count buckets); the caller frees it.
 * Chunks that fit in one bucket are taken from their summaries. */
bool hist_aggregate(struct historian *h, uint32_t series, int64_t from, int64_t to, int64_t every,
                    enum hist_agg_kind kind, struct hist_bucket **out, size_t *count, char *why,
                    size_t why_len);

/* The value of series at time t (see hist_value_at in hist_agg.h). False
 * when there is no sample at or before t (why says so). A string value
 * points into *strings, which the caller clears with hist_columns_free. */
bool hist_value_at_time(struct historian *h, uint32_t series, int64_t t, enum hist_interp mode,
                        struct value *v, quality_t *q, int64_t *ts, struct hist_columns *strings,
                        char *why, size_t why_len);

/* ---- maintenance (the background thread calls these; tests may too) ---- */

/* Does what is due now: fsync (batched), checkpoint, compaction,
 * retention, retry after an I/O error. */
void hist_maintain(struct historian *h);
/* Writes every head to segments now. False on I/O error. */
bool hist_checkpoint(struct historian *h);
/* Merges the segments of every closed partition into one. */
bool hist_compact(struct historian *h);
/* Deletes partitions past their group's age and size limits; now_ns is
 * the current time (a parameter so tests can move it). */
bool hist_apply_retention(struct historian *h, int64_t now_ns);

struct hist_stats {
    uint64_t samples_accepted;
    uint64_t samples_rejected_late;
    uint64_t samples_rejected_other; /* unknown series, wrong type */
    uint64_t head_samples;           /* in memory, not yet in segments */
    uint64_t head_bytes;
    uint64_t log_bytes;         /* written to the log since start */
    uint64_t log_bytes_pending; /* accepted but not yet written (degraded) */
    uint64_t fsyncs;
    uint64_t checkpoints;
    uint64_t compactions;
    uint64_t partitions_deleted;
    uint64_t segments;
    uint64_t chunks;
    uint64_t points_on_disk;                  /* samples in segments */
    uint64_t bytes_on_disk;                   /* segments + log + manifest + series catalogue */
    uint64_t corrupt_chunks;                  /* found by reads or recovery */
    uint64_t log_records_dropped_at_recovery; /* torn tail records */
    uint64_t backpressure_waits; /* 50 ms waits of appends for a checkpoint to catch up */
    uint32_t series;
    bool degraded;         /* the last write or fsync failed */
    char last_error[256];  /* what and where, "" when none */
    int64_t last_error_ns; /* when, UTC */
};
void hist_get_stats(struct historian *h, struct hist_stats *out);

#endif
