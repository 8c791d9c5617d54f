/* Segment files: immutable sets of chunks, written once, read many times.
 *
 * Layout (little-endian):
 *   header  32 bytes: magic "AHSG", version, group id, partition start (ns),
 *           wal_upto (the log seq whose samples this segment includes)
 *   chunks  hist_chunk after hist_chunk, sorted by (series id, t_min)
 *   index   one entry per chunk: offset, size and the chunk's header
 *           (series, type, summary), CRC-32C over the index
 *   footer  32 bytes: index offset, entry count, index CRC, magic
 *
 * A writer writes to a temporary name, fsyncs, renames to the final name
 * and fsyncs the directory, so a segment either exists whole or not at all.
 * A reader loads the index into memory on open (validating its CRC) and
 * reads chunks on demand, checking each chunk's CRC. */
#ifndef AIRLOCK_HISTORIAN_HIST_SEGMENT_H
#define AIRLOCK_HISTORIAN_HIST_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "historian/hist_chunk.h"
#include "historian/hist_io.h"

struct hist_segment_meta {
    uint32_t group_id;
    int64_t partition_start_ns;
    uint64_t wal_upto;
};

struct hist_seg_entry {
    uint64_t offset;
    uint32_t size; /* header + payload */
    struct hist_chunk_header chunk;
};

struct hist_segment_writer;

/* Starts writing tmp_path. NULL with the reason in err. */
struct hist_segment_writer *hist_segw_begin(const struct hist_io *io, const char *tmp_path,
                                            const struct hist_segment_meta *meta, char *err,
                                            size_t err_len);
/* Encodes and writes c (sorted by time, 1..chunk_max samples) as one chunk
 * of series_id. Chunks must come in (series id, time) order. False with
 * the reason in err (the writer must then be aborted). */
bool hist_segw_add(struct hist_segment_writer *w, uint32_t series_id, const struct hist_columns *c,
                   char *err, size_t err_len);
/* Copies an already encoded chunk (from another segment, for compaction). */
bool hist_segw_add_raw(struct hist_segment_writer *w, const struct hist_seg_entry *e,
                       const uint8_t *chunk, char *err, size_t err_len);
/* Samples in the chunks added so far. */
uint64_t hist_segw_points(const struct hist_segment_writer *w);
/* Writes index and footer, fsyncs, renames to final_path, fsyncs its
 * directory and frees w. False with the reason in err (w is freed and the
 * temporary file removed either way). *bytes receives the file size. */
bool hist_segw_finish(struct hist_segment_writer *w, const char *final_path, uint64_t *bytes,
                      char *err, size_t err_len);
/* Closes and removes the temporary file. Safe with NULL. */
void hist_segw_abort(struct hist_segment_writer *w);

struct hist_segment;

/* Opens path and loads its index. NULL with the reason in err (bad magic,
 * truncated, index CRC mismatch). */
struct hist_segment *hist_seg_open(const struct hist_io *io, const char *path, char *err,
                                   size_t err_len);
/* Opens path checking only header and footer; the index is read (and its
 * CRC checked) on first use by hist_seg_entries or hist_seg_find, so a
 * store with years of segments opens without reading their indexes. */
struct hist_segment *hist_seg_open_lazy(const struct hist_io *io, const char *path, char *err,
                                        size_t err_len);
/* NULL when the index is (or could be) loaded; else why it cannot be. */
const char *hist_seg_index_error(const struct hist_segment *s);
/* Bytes the index holds in memory now (0 when not loaded). */
size_t hist_seg_index_memory(const struct hist_segment *s);
/* A stamp of the last use of the index (larger = more recent). */
uint64_t hist_seg_last_use(const struct hist_segment *s);
/* Drops the index from memory (it is read again when next needed). The
 * caller makes sure no thread is using entries of this segment. */
void hist_seg_unload_index(struct hist_segment *s);
void hist_seg_close(struct hist_segment *s);

const struct hist_segment_meta *hist_seg_meta(const struct hist_segment *s);
uint64_t hist_seg_bytes(const struct hist_segment *s);
/* The number of chunks (from the footer: no index read needed). */
size_t hist_seg_entry_count(const struct hist_segment *s);
/* The index, loaded if needed; NULL when it cannot be read (see
 * hist_seg_index_error). Valid until hist_seg_unload_index or close. */
const struct hist_seg_entry *hist_seg_entries(const struct hist_segment *s);

/* The entries of series_id whose [t_min, t_max] meets [from, to): *first
 * points at the first, the return value is how many (contiguous). */
size_t hist_seg_find(const struct hist_segment *s, uint32_t series_id, int64_t from, int64_t to,
                     const struct hist_seg_entry **first);

/* Reads the raw bytes of entry e into buf (e->size bytes). False with the
 * reason in err on I/O error. */
bool hist_seg_read_raw(const struct hist_segment *s, const struct hist_seg_entry *e, uint8_t *buf,
                       char *err, size_t err_len);
/* Reads, checks and decodes entry e, appending its samples to out. False
 * with the reason in err when the chunk is corrupt or unreadable (out
 * unchanged). */
bool hist_seg_read_chunk(const struct hist_segment *s, const struct hist_seg_entry *e,
                         struct hist_columns *out, char *err, size_t err_len);

#endif
