/* The store-and-forward spool of a publisher: samples that could not be
 * published yet (broker unreachable, primary host offline) wait here, on
 * disk, and are read back oldest first once publishing works again.
 *
 * A spool is a directory of numbered segment files of batches (one batch
 * per spool_append call, CRC-checked records, written through the
 * historian's I/O layer so tests can inject faults), plus a cursor file
 * saying how far reading has been acknowledged. It survives restarts: what
 * was appended and not acknowledged is read again after spool_open.
 *
 * Durability follows the historian's: strict (spool_append returns once
 * fsync'd) or batched (fsync every fsync_interval_ms, by spool_maintain).
 * When appending would pass max_bytes, the oldest batches are dropped (whole
 * segment files), counted in stats and reported by spool_append's return;
 * the newest data is always kept.
 *
 * Not thread-safe: one publisher thread owns a spool. */
#ifndef AIRLOCK_NORTH_SPOOL_H
#define AIRLOCK_NORTH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"
#include "historian/hist_io.h"
#include "historian/historian.h" /* enum hist_durability */

struct spool_options {
    const char *dir;                 /* created if missing */
    uint64_t max_bytes;              /* default 1 GiB */
    uint64_t segment_bytes;          /* a new segment file beyond this; default 8 MiB */
    enum hist_durability durability; /* default batched */
    uint32_t fsync_interval_ms;      /* default 1000 */
    const struct hist_io *io;        /* NULL: the real file system */
};
void spool_options_init(struct spool_options *o);

/* One spooled sample: a tag by its UNS path (stable across restarts and
 * reloads, unlike tag ids), its value (value.type is the tag's type),
 * timestamp and quality. */
struct spool_sample {
    const char *path;
    struct value value;
    int64_t ts_ns;
    quality_t quality;
};

struct spool;

/* Opens or creates the spool in opt->dir and finds the oldest unread
 * batch. NULL with a message naming the file and the problem. A torn last
 * record (crash while appending) is dropped and counted. */
struct spool *spool_open(const struct spool_options *opt, char *err, size_t err_len);
/* Writes and fsyncs what is pending, saves the cursor, frees. Safe with NULL. */
void spool_close(struct spool *s);

/* Appends one batch of n samples (strings and paths are copied). Returns
 * false when it could not be written (I/O error: the batch is still held in
 * memory and written by a later spool_maintain, see stats.degraded) or on
 * out of memory. *dropped (when not NULL) receives how many old samples
 * were dropped to stay under max_bytes. */
bool spool_append(struct spool *s, const struct spool_sample *v, size_t n, uint64_t *dropped);

/* The oldest batch not yet acknowledged, without removing it: false when
 * the spool is empty. The samples (and their strings) stay valid until the
 * next spool_peek, spool_ack or spool_close. A corrupt record is skipped
 * (counted in stats.corrupt_records) and the next one is returned. */
bool spool_peek(struct spool *s, const struct spool_sample **v, size_t *n);
/* Acknowledges the batch last returned by spool_peek (it was published):
 * it is never returned again, also after a restart (the cursor is saved
 * with the durability policy). Segment files wholly acknowledged are
 * deleted. */
bool spool_ack(struct spool *s);

/* Does what is due now: fsync under batched, retries after an I/O error,
 * saves the cursor. */
void spool_maintain(struct spool *s);

struct spool_stats {
    uint64_t pending_batches;
    uint64_t pending_samples;
    uint64_t bytes;            /* on disk */
    uint64_t appended_samples; /* since open */
    uint64_t acked_samples;    /* since open */
    uint64_t dropped_samples;  /* since open: dropped because the spool was full */
    uint64_t corrupt_records;  /* since open: skipped */
    bool degraded;             /* the last write or fsync failed */
    char last_error[256];
};
void spool_get_stats(const struct spool *s, struct spool_stats *out);

#endif
