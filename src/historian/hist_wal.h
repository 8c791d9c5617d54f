/* The historian's write-ahead log.
 *
 * Files dir/wal-<seq>.log (seq: 16 hex digits, increasing). A file is a
 * 16-byte header (magic "AHWL", version, seq) and records:
 *     u32 payload length | u32 CRC-32C of the payload | payload
 * (little-endian). A payload is a batch of samples: a count, then per
 * sample its series id, timestamp (zigzag delta from the previous one in
 * the record), quality and value, as varints where that is smaller (see
 * docs/historian.md). A record is written whole or, after a crash, found
 * torn or with a bad CRC at the end of the file: replay stops that file
 * there and counts it.
 *
 * Appends only fill a memory buffer; hist_wal_flush writes it (and fsyncs
 * when asked). A failed write keeps the unwritten bytes for the next try,
 * so nothing accepted is lost while memory lasts. Not thread-safe: the
 * historian serialises calls. */
#ifndef AIRLOCK_HISTORIAN_HIST_WAL_H
#define AIRLOCK_HISTORIAN_HIST_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "historian/hist_io.h"
#include "historian/historian.h"

struct hist_wal;

/* Creates dir/wal-<seq>.log (truncating a leftover of that name) and
 * writes its header. NULL with the reason in err. */
struct hist_wal *hist_wal_open(const struct hist_io *io, const char *dir, uint64_t seq, char *err,
                               size_t err_len);
/* Flushes (without fsync) what it can and closes. Safe with NULL. */
void hist_wal_close(struct hist_wal *w);

uint64_t hist_wal_seq(const struct hist_wal *w);

/* Encodes n samples as one record into the buffer. False only on out of
 * memory (nothing buffered then). */
bool hist_wal_append(struct hist_wal *w, const struct hist_sample *s, size_t n);

/* Writes the buffer to the file, then fsyncs when sync. False with *err
 * set when the write or fsync failed (the unwritten part stays buffered;
 * after a failed fsync the next flush fsyncs again). */
bool hist_wal_flush(struct hist_wal *w, bool sync, int *err);

/* Bytes buffered and not yet written. */
size_t hist_wal_pending_bytes(const struct hist_wal *w);
/* Bytes written to the current file (header included). */
uint64_t hist_wal_file_bytes(const struct hist_wal *w);

/* Deletes the log files of dir with seq <= upto (after a checkpoint made
 * them redundant) and fsyncs dir. False with *err on failure. */
bool hist_wal_delete_upto(const struct hist_io *io, const char *dir, uint64_t upto, int *err);

struct hist_wal_replay_stats {
    uint64_t files;
    uint64_t records;
    uint64_t samples;
    uint64_t torn_records; /* records cut short or failing their CRC (the rest of that file is
                              skipped) */
    uint64_t max_seq;      /* highest seq seen (0 when none) */
};

/* Calls fn for each sample of each log file in dir whose seq > after_seq,
 * in seq and record order (strings point into a buffer valid during the
 * call). fn returning false stops the replay (replay then returns false).
 * False with err set when a file cannot be read at all. */
bool hist_wal_replay(const struct hist_io *io, const char *dir, uint64_t after_seq,
                     bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx,
                     struct hist_wal_replay_stats *stats, char *err, size_t err_len);

/* Pure: encodes n samples as one record payload (no length/CRC) appended
 * to out, and decodes a payload; decode calls fn per sample and returns
 * false on malformed input (or fn returning false). Exposed for tests and
 * fuzzing. */
bool hist_wal_encode_payload(struct hc_buf *out, const struct hist_sample *s, size_t n);
bool hist_wal_decode_payload(const uint8_t *in, size_t len,
                             bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx);

#endif
