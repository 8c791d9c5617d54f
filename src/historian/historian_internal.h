/* The historian's private state, shared by historian.c (open, append,
 * checkpoint), hist_catalog.c (series), hist_manifest.c (the list of
 * segments), hist_read.c (queries) and hist_maint.c (compaction,
 * retention). Not for use outside src/historian.
 *
 * Locks: segs_lock (rwlock) guards the segment list; lock (mutex) guards
 * the series, their heads, the log and the counters. Order: segs_lock
 * before lock. Readers hold segs_lock shared for the whole query, so a
 * segment is never closed under them; publishing new segments (checkpoint,
 * compaction, retention) takes it exclusively. */
#ifndef AIRLOCK_HISTORIAN_HISTORIAN_INTERNAL_H
#define AIRLOCK_HISTORIAN_HISTORIAN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/strpool.h"
#include "historian/hist_segment.h"
#include "historian/hist_wal.h"
#include "historian/historian.h"

#define HIST_PATH_MAX 1024
#define HIST_GROUP_NAME_MAX 64

struct hist_series {
    uint32_t id;
    enum value_type type;
    const char *path; /* in the catalogue's pool */
    uint32_t group;   /* index into h->groups */
    bool has_newest;
    int64_t newest_ts;            /* newest sample seen: the late window counts from it */
    struct hist_columns head;     /* accepted since the last checkpoint began, arrival order */
    struct hist_columns flushing; /* being written by a checkpoint (count 0 otherwise) */
};

struct hist_group {
    char name[HIST_GROUP_NAME_MAX];
    char prefix[HIST_PATH_MAX];
    int64_t max_age_ns;
    uint64_t max_bytes;
};

/* A live segment file. */
struct hist_seg_ref {
    struct hist_segment *seg;
    char group[HIST_GROUP_NAME_MAX];
    int64_t partition_start_ns;
    uint64_t segno;
    uint64_t bytes;
    uint64_t points;
    uint8_t *bad;        /* per entry: already reported corrupt (lazily allocated) */
    bool index_reported; /* its index could not be read, and that was reported */
};

struct historian {
    struct hist_options opt;
    const struct hist_io *io;
    char dir[HIST_PATH_MAX];
    char wal_dir[HIST_PATH_MAX + 8];

    pthread_mutex_t lock;
    pthread_rwlock_t segs_lock;

    /* series catalogue (lock) */
    struct hist_series *series;
    uint32_t series_count, series_capacity;
    uint32_t *path_index; /* open addressing: newest series id + 1 of a path */
    uint32_t path_slots;
    struct strpool paths;
    int catalog_fd;
    bool catalog_dirty; /* series written but not yet fsync'd */

    struct hist_group *groups;
    size_t group_count;

    /* segments (segs_lock) */
    struct hist_seg_ref *segs;
    size_t seg_count, seg_capacity;
    uint64_t next_segno;
    uint64_t wal_upto; /* log files <= this are covered by segments */

    /* the log (lock) */
    struct hist_wal *wal;
    struct hist_sample *scratch; /* accepted samples of one append */
    size_t scratch_capacity;
    int64_t last_fsync_ms, last_checkpoint_ms, last_compact_ms, last_retention_ms;
    bool checkpointing;              /* a checkpoint is between taking the heads and publishing */
    pthread_mutex_t checkpoint_lock; /* one checkpoint / compaction / retention at a time */

    struct hist_stats stats; /* (lock) */
    uint64_t wal_bytes_on_disk;
    uint64_t catalog_bytes, manifest_bytes;

    /* background thread */
    pthread_t thread;
    bool thread_running;
    atomic_bool stop;
    pthread_cond_t wake;
    pthread_cond_t checkpoint_done; /* broadcast when a checkpoint ends (lock) */
};

/* Records an error (what and where) and marks the store degraded. Takes
 * lock itself unless locked is true. */
void hist_set_error(struct historian *h, bool locked, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- hist_catalog.c ---- */
/* Loads dir/series.cat (torn tail ignored) and opens it for appends. */
bool hist_catalog_open(struct historian *h, char *err, size_t err_len);
void hist_catalog_close(struct historian *h);
/* Newest series of path or NULL (lock held). */
struct hist_series *hist_catalog_find(struct historian *h, const char *path);
/* Creates a series (lock held); NULL with the error recorded. */
struct hist_series *hist_catalog_create(struct historian *h, const char *path,
                                        enum value_type type);
/* fsyncs the catalogue if series were added since the last time (lock
 * held). False with the error recorded. */
bool hist_catalog_sync(struct historian *h);
/* The retention group of a path (longest matching prefix). */
uint32_t hist_group_of(const struct historian *h, const char *path);

/* ---- hist_manifest.c ---- */
/* Reads dir/MANIFEST into h->segs (opening each segment), h->wal_upto and
 * h->next_segno; removes segment files it does not list. A missing
 * manifest is an empty store. */
bool hist_manifest_load(struct historian *h, char *err, size_t err_len);
/* Writes h's current segment list atomically (segs_lock held exclusively).
 * False with *err_text filled on failure (the old manifest stays). */
bool hist_manifest_write(struct historian *h, char *err, size_t err_len);
/* The file name of a segment: dir/<group>/<partition UTC>-<segno>.seg. */
void hist_segment_path(const struct historian *h, const char *group, int64_t partition_start_ns,
                       uint64_t segno, char *out, size_t out_len);
/* The directory of a group. */
void hist_group_dir(const struct historian *h, const char *group, char *out, size_t out_len);

/* ---- hist_read.c ---- */
/* Appends the samples of series s in [from, to) from segments and heads
 * (segs_lock held shared), unsorted but with segment data first in segment
 * order then heads; used by reads and compaction. */

/* ---- shared helpers ---- */
int64_t hist_floor_div(int64_t a, int64_t b);
/* Start of the partition (or chunk span) of t: floor(t / span) * span. */
int64_t hist_align(int64_t t, int64_t span);
int64_t hist_now_ns(void);
int64_t hist_mono_ms(void);

/* Writes the sorted samples c (one series) into chunks on w: a new chunk at
 * every chunk_span boundary and every chunk_max_samples. Used by
 * checkpoint and compaction. */
bool hist_write_chunks(struct historian *h, struct hist_segment_writer *w, uint32_t series_id,
                       const struct hist_columns *c, uint32_t from, uint32_t to, char *err,
                       size_t err_len);

/* Background compaction: closed partitions whole, open ones size-tiered. */
bool hist_compact_due(struct historian *h);

/* Adds a segment to h->segs (segs_lock held exclusively). */
bool hist_segs_add(struct historian *h, struct hist_segment *seg, const char *group,
                   int64_t partition_start_ns, uint64_t segno, uint64_t points);
/* Drops the least recently used segment indexes from memory while they
 * hold more than opt.index_cache_bytes (takes segs_lock exclusively). */
void hist_trim_index_cache(struct historian *h);
/* Removes segment i (closing it; the file stays) (segs_lock exclusive). */
void hist_segs_remove(struct historian *h, size_t i);

#endif
