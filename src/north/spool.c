/* The store-and-forward spool of a publisher (see spool.h).
 *
 * Directory: segment files "spool-<16 hex digits seq>.seg" (seq grows by one
 * per new file) and "CURSOR". Everything little-endian.
 *
 * Segment file: 16-byte header ("ASPL", u32 version 1, u64 seq), then
 * records, one per spool_append batch:
 *   u32 magic 0x31525053 ("SPR1") | u32 payload length | u32 sample count |
 *   u32 CRC-32C of the payload | u32 CRC-32C of the previous 16 bytes |
 *   payload
 * The magic and the header CRC let a reader find the next record after a
 * damaged one (it searches the magic and checks both CRCs), so a flipped
 * byte costs one batch, not the rest of the file.
 *
 * Payload: uvarint sample count, uvarint path count, the path table (per
 * path: uvarint length, the bytes, a 0 byte, so a reader can point into the
 * record; paths hold no NUL), then per sample:
 *   tag byte:  bits 0-2 value type (enum value_type)
 *              bit 3    quality equals the previous sample's (else a
 *                       uvarint quality follows)
 *              bits 4-5 path: 0 the previous sample's, 1 the previous + 1,
 *                       2 a uvarint index into the path table follows
 *              bit 6    the value of a bool (0 for other types)
 *              bit 7    reserved, 0
 *   [path index] uvarint (path mode 2)
 *   ts delta     zigzag uvarint of ts - previous ts (mod 2^64)
 *   [quality]    uvarint (bit 3 clear)
 *   value        bool: none; int64: zigzag uvarint; uint64: uvarint;
 *                double: 8 bytes bit pattern; string: uvarint length + bytes
 * "Previous" starts as path 0, ts 0, quality 0 (Good) in every record. The
 * path table lists paths in order of first use, so a batch of distinct tags
 * costs no path bytes per sample.
 *
 * CURSOR (28 bytes): "ASPC", u32 version 1, u64 segment seq, u64 offset of
 * the first unacknowledged record in it, u32 CRC-32C of the first 24 bytes.
 * Written to CURSOR.tmp, fsync'd, renamed over CURSOR, directory fsync'd.
 * Segments older than the cursor's are wholly acknowledged (deleted at open
 * if still there); when the cursor's segment is gone, reading starts at the
 * next one. A missing or damaged cursor means reading from the oldest
 * segment: batches may come twice, never be lost.
 *
 * Durability: under strict, spool_append returns after the record is
 * fsync'd and spool_ack after the cursor is saved: after a crash nothing
 * appended is lost and nothing acknowledged comes back. Under batched, the
 * record is written at once (a killed process loses nothing) but fsync'd,
 * and the cursor saved, only by spool_maintain every fsync_interval_ms and
 * by spool_close: after a power loss the last interval's batches may be
 * lost, and after any crash the batches acknowledged since the last cursor
 * save are read again (sent twice).
 *
 * Reading: the read position is always in the oldest segment (segs[0]);
 * when it reaches the end of a segment that is no longer written, that file
 * is deleted. A new segment is started at the first append after open and
 * whenever the current one passes segment_bytes.
 *
 * Open scans every unacknowledged record (header and payload CRC) to count
 * what is pending. A damaged region followed by a valid record is skipped
 * (and counted) when peek reaches it; a damaged tail (a crash while
 * appending) is cut off the file at open and counted in corrupt_records.
 *
 * Write errors: a batch that could not be written stays in memory (the
 * "pending" buffer of whole records) and is written by the next append or
 * spool_maintain, after cutting the file back to its last complete record.
 * spool_peek serves the pending batches too (after everything on disk), so
 * order is kept while the disk fails. */
#include "north/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/le.h"
#include "historian/hist_alloc.h"
#include "historian/hist_codec.h"

#define SPOOL_DEFAULT_MAX_BYTES (1ull << 30)
#define SPOOL_DEFAULT_SEGMENT_BYTES (8ull << 20)
#define SPOOL_DEFAULT_FSYNC_INTERVAL_MS 1000u

#define SEG_MAGIC "ASPL"
#define SEG_VERSION 1u
#define SEG_HEADER_BYTES 16u
#define REC_MAGIC 0x31525053u
#define REC_HEADER_BYTES 20u
#define REC_MAX_PAYLOAD_BYTES 0x7fffffffu
#define CURSOR_MAGIC "ASPC"
#define CURSOR_VERSION 1u
#define CURSOR_BYTES 28u
#define CURSOR_NAME "CURSOR"
#define CURSOR_TMP_NAME "CURSOR.tmp"
/* Largest encoding of a sample without its string bytes: tag 1, path index
 * 10, ts 10, quality 5, value 10. */
#define SAMPLE_MAX_FIXED_BYTES 36u
/* Bytes read at a time when searching for the next record after damage. */
#define RESYNC_CHUNK_BYTES 16384u

#define TAG_TYPE_MASK 0x07u
#define TAG_QUALITY_SAME 0x08u
#define TAG_PATH_SHIFT 4
#define TAG_PATH_SAME 0u
#define TAG_PATH_NEXT 1u
#define TAG_PATH_INDEX 2u
#define TAG_BOOL_TRUE 0x40u
#define TAG_RESERVED 0x80u

/* One segment file; the counts are of its records not yet acknowledged. */
struct segment {
    uint64_t seq;
    uint64_t bytes; /* valid length: header + complete records written */
    uint64_t batches;
    uint64_t samples;
};

struct spool {
    const struct hist_io *io;
    char *dir;
    char *path_buf; /* room for dir + "/spool-<16 hex>.seg" */
    size_t path_cap;
    char *cursor_path; /* dir/CURSOR */
    char *cursor_tmp;  /* dir/CURSOR.tmp */
    uint64_t max_bytes, segment_bytes;
    enum hist_durability durability;
    uint32_t fsync_interval_ms;

    struct segment *segs; /* oldest first; the read position is in segs[0] */
    size_t seg_count, seg_cap;
    uint64_t next_seq;
    uint64_t disk_bytes, disk_batches, disk_samples; /* sums over segs */

    /* writing: the last segment when write_fd >= 0 */
    int write_fd;
    bool write_unsynced;         /* written since the last fsync */
    bool sync_failed;            /* the last fsync failed: the next flush fsyncs, asked or not */
    bool write_may_have_garbage; /* a failed write may have left bytes past its end */
    struct hc_buf pending;       /* whole records not yet in a file */
    uint64_t pending_batches, pending_samples;

    /* reading */
    int read_fd; /* open on segs[0] when >= 0 */
    uint64_t read_fd_seq;
    uint64_t read_off; /* in segs[0] */
    bool peeked, peek_in_memory;
    uint64_t peek_len; /* the peeked record's total bytes */
    uint32_t peek_count;
    uint8_t *read_buf;
    size_t read_cap;
    struct spool_sample *samples;
    size_t samples_cap;
    const char **table; /* decoded path table */
    size_t table_cap;

    /* encoding scratch */
    uint32_t *slots; /* hash table of path indices + 1 */
    size_t slot_cap;
    uint32_t *sample_path; /* per sample: its path index */
    const char **paths;    /* the table being built */
    uint32_t *path_lens;
    size_t scratch_cap;

    bool cursor_dirty; /* the read position moved since the last cursor save */
    int64_t last_sync_ms;

    uint64_t appended_samples, acked_samples, dropped_samples, corrupt_records;
    bool degraded;
    char last_error[256];
};

/* ---- small helpers ---- */

/* Reads a varint at *pos, advancing it; false when malformed or truncated. */
static inline bool read_uvarint(const uint8_t *in, size_t len, size_t *pos, uint64_t *v)
{
    if (*pos >= len) return false;
    if (in[*pos] < 0x80) {
        *v = in[(*pos)++];
        return true;
    }
    size_t used = hc_get_uvarint(in + *pos, len - *pos, v);
    if (used == 0) return false;
    *pos += used;
    return true;
}

static int64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Records a problem in last_error (and degraded when it is an I/O one). */
static void note_error(struct spool *s, bool io_failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_error(struct spool *s, bool io_failure, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
    va_end(ap);
    if (io_failure) s->degraded = true;
}

/* p (an array of *cap elements of size elem) grown to hold at least want:
 * the new array (*cap updated), or NULL on out of memory (p untouched). */
static void *grow_array(void *p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < want) {
        if (n > SIZE_MAX / 2 / elem) return NULL;
        n *= 2;
    }
    void *grown = hist_realloc(p, n * elem);
    if (grown) *cap = n;
    return grown;
}

/* GROW(array, cap, want): grows array in place; false on out of memory. */
#define GROW(array, cap, want)                                                                     \
    grow_into((void *)&(array), grow_array((array), &(cap), (want), sizeof *(array)))

/* Stores grown (when not NULL) through slot; false when NULL. */
static bool grow_into(void *slot, void *grown)
{
    if (!grown) return false;
    memcpy(slot, &grown, sizeof grown);
    return true;
}

/* The path of segment seq, in s->path_buf. */
static const char *segment_path(struct spool *s, uint64_t seq)
{
    snprintf(s->path_buf, s->path_cap, "%s/spool-%016" PRIx64 ".seg", s->dir, seq);
    return s->path_buf;
}

/* dir/name in a new allocation, or NULL. */
static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = hist_malloc(n);
    if (path) snprintf(path, n, "%s/%s", dir, name);
    return path;
}

/* True when name is exactly "spool-<16 hex digits>.seg"; sets *seq. */
static bool parse_segment_name(const char *name, uint64_t *seq)
{
    if (strncmp(name, "spool-", 6) != 0 || strlen(name) != 6 + 16 + 4) return false;
    if (strcmp(name + 22, ".seg") != 0) return false;
    uint64_t v = 0;
    for (int i = 6; i < 22; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *seq = v;
    return true;
}

/* ---- encoding ---- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h;
}

/* Makes the encoder's scratch arrays hold n samples. */
static bool reserve_encode_scratch(struct spool *s, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    if (slots > s->slot_cap) {
        uint32_t *grown = hist_realloc(s->slots, slots * sizeof *grown);
        if (!grown) return false;
        s->slots = grown;
        s->slot_cap = slots;
    }
    if (n > s->scratch_cap) {
        uint32_t *sp = hist_realloc(s->sample_path, n * sizeof *sp);
        if (!sp) return false;
        s->sample_path = sp;
        const char **pp = hist_realloc(s->paths, n * sizeof *pp);
        if (!pp) return false;
        s->paths = pp;
        uint32_t *pl = hist_realloc(s->path_lens, n * sizeof *pl);
        if (!pl) return false;
        s->path_lens = pl;
        s->scratch_cap = n;
    }
    return true;
}

/* Builds the path table of v[0..n) in the scratch arrays (*path_count
 * paths) and the payload bound in *bound. False on a sample that cannot be
 * spooled (NULL path, unknown type, too big) or out of memory. */
static bool build_path_table(struct spool *s, const struct spool_sample *v, size_t n,
                             size_t *path_count, uint64_t *bound)
{
    if (!reserve_encode_scratch(s, n)) return false;
    size_t slot_count = 16;
    while (slot_count < 2 * n)
        slot_count *= 2;
    memset(s->slots, 0, slot_count * sizeof *s->slots);
    size_t mask = slot_count - 1, count = 0;
    uint64_t total = 2 * HC_UVARINT_MAX_BYTES + (uint64_t)n * SAMPLE_MAX_FIXED_BYTES;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].path || (unsigned)v[i].value.type > VALUE_STRING) return false;
        if (v[i].value.type == VALUE_STRING) total += v[i].value.as.str.len;
        size_t len = strlen(v[i].path);
        if (len > REC_MAX_PAYLOAD_BYTES) return false;
        size_t slot = (size_t)hash_bytes(v[i].path, len) & mask;
        for (;;) {
            uint32_t at = s->slots[slot];
            if (at == 0) {
                s->paths[count] = v[i].path;
                s->path_lens[count] = (uint32_t)len;
                s->slots[slot] = (uint32_t)(count + 1);
                s->sample_path[i] = (uint32_t)count++;
                total += len + HC_UVARINT_MAX_BYTES + 1;
                break;
            }
            if (s->path_lens[at - 1] == len && memcmp(s->paths[at - 1], v[i].path, len) == 0) {
                s->sample_path[i] = at - 1;
                break;
            }
            slot = (slot + 1) & mask;
        }
        if (total > REC_MAX_PAYLOAD_BYTES) return false;
    }
    *path_count = count;
    *bound = total;
    return true;
}

/* Encodes one sample at p given the previous path index, ts and quality. */
static uint8_t *encode_sample(uint8_t *p, const struct spool_sample *v, uint32_t path,
                              uint32_t prev_path, int64_t prev_ts, quality_t prev_quality)
{
    uint8_t *tag = p++;
    unsigned t = (unsigned)v->value.type & TAG_TYPE_MASK;
    if (v->quality == prev_quality) t |= TAG_QUALITY_SAME;
    if (path == prev_path) {
        t |= TAG_PATH_SAME << TAG_PATH_SHIFT;
    } else if (path == prev_path + 1) {
        t |= TAG_PATH_NEXT << TAG_PATH_SHIFT;
    } else {
        t |= TAG_PATH_INDEX << TAG_PATH_SHIFT;
        p = put_uvarint_fast(p, path);
    }
    p = put_uvarint_fast(p, hc_zigzag((int64_t)((uint64_t)v->ts_ns - (uint64_t)prev_ts)));
    if (v->quality != prev_quality) p = put_uvarint_fast(p, v->quality);
    switch (v->value.type) {
    case VALUE_BOOL:
        if (v->value.as.b) t |= TAG_BOOL_TRUE;
        break;
    case VALUE_INT64:
        p = put_uvarint_fast(p, hc_zigzag(v->value.as.i64));
        break;
    case VALUE_UINT64:
        p = put_uvarint_fast(p, v->value.as.u64);
        break;
    case VALUE_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->value.as.f64, sizeof bits);
        put_u64le(p, bits);
        p += 8;
        break;
    }
    case VALUE_STRING:
        p = put_uvarint_fast(p, v->value.as.str.len);
        if (v->value.as.str.len) memcpy(p, v->value.as.str.ptr, v->value.as.str.len);
        p += v->value.as.str.len;
        break;
    }
    *tag = (uint8_t)t;
    return p;
}

/* Fills the 20-byte record header at rec for a payload right after it. */
static void seal_record(uint8_t *rec, size_t payload_len, uint32_t count)
{
    put_u32le(rec, REC_MAGIC);
    put_u32le(rec + 4, (uint32_t)payload_len);
    put_u32le(rec + 8, count);
    put_u32le(rec + 12, hc_crc32c(0, rec + REC_HEADER_BYTES, payload_len));
    put_u32le(rec + 16, hc_crc32c(0, rec, 16));
}

/* Appends the record of v[0..n) to s->pending. False (pending unchanged) on
 * a sample that cannot be spooled or out of memory. */
static bool encode_record(struct spool *s, const struct spool_sample *v, size_t n)
{
    if (n > UINT32_MAX || n > REC_MAX_PAYLOAD_BYTES / SAMPLE_MAX_FIXED_BYTES) return false;
    size_t path_count;
    uint64_t bound;
    if (!build_path_table(s, v, n, &path_count, &bound)) return false;
    if (!hc_buf_reserve(&s->pending, REC_HEADER_BYTES + (size_t)bound)) {
        s->pending.oom = false; /* this append failed; the pending records are intact */
        return false;
    }
    uint8_t *rec = s->pending.data + s->pending.len;
    uint8_t *payload = rec + REC_HEADER_BYTES;
    uint8_t *p = put_uvarint_fast(payload, n);
    p = put_uvarint_fast(p, path_count);
    for (size_t i = 0; i < path_count; i++) {
        p = put_uvarint_fast(p, s->path_lens[i]);
        memcpy(p, s->paths[i], s->path_lens[i]);
        p += s->path_lens[i];
        *p++ = 0;
    }
    uint32_t prev_path = 0;
    int64_t prev_ts = 0;
    quality_t prev_quality = QUALITY_GOOD;
    for (size_t i = 0; i < n; i++) {
        p = encode_sample(p, &v[i], s->sample_path[i], prev_path, prev_ts, prev_quality);
        prev_path = s->sample_path[i];
        prev_ts = v[i].ts_ns;
        prev_quality = v[i].quality;
    }
    size_t payload_len = (size_t)(p - payload);
    seal_record(rec, payload_len, (uint32_t)n);
    s->pending.len += REC_HEADER_BYTES + payload_len;
    return true;
}

/* ---- decoding ---- */

/* Decodes one sample at *pos into *out given the previous fields. */
static bool decode_sample(const uint8_t *in, size_t len, size_t *pos, struct spool_sample *out,
                          const char *const *table, uint64_t table_len, uint64_t *path,
                          int64_t *prev_ts, quality_t *prev_quality)
{
    if (*pos >= len) return false;
    unsigned tag = in[(*pos)++];
    unsigned type = tag & TAG_TYPE_MASK;
    unsigned path_mode = (tag >> TAG_PATH_SHIFT) & 3u;
    if ((tag & TAG_RESERVED) || type > VALUE_STRING) return false;
    if ((tag & TAG_BOOL_TRUE) && type != VALUE_BOOL) return false;
    uint64_t u;
    if (path_mode == TAG_PATH_NEXT) {
        (*path)++;
    } else if (path_mode == TAG_PATH_INDEX) {
        if (!read_uvarint(in, len, pos, &u)) return false;
        *path = u;
    } else if (path_mode != TAG_PATH_SAME) {
        return false;
    }
    if (*path >= table_len) return false;
    out->path = table[*path];
    if (!read_uvarint(in, len, pos, &u)) return false;
    out->ts_ns = (int64_t)((uint64_t)*prev_ts + (uint64_t)hc_unzigzag(u));
    *prev_ts = out->ts_ns;
    if (!(tag & TAG_QUALITY_SAME)) {
        if (!read_uvarint(in, len, pos, &u) || u > UINT32_MAX) return false;
        *prev_quality = (quality_t)u;
    }
    out->quality = *prev_quality;
    out->value.type = (enum value_type)type;
    switch (type) {
    case VALUE_BOOL:
        out->value.as.b = (tag & TAG_BOOL_TRUE) != 0;
        break;
    case VALUE_INT64:
        if (!read_uvarint(in, len, pos, &u)) return false;
        out->value.as.i64 = hc_unzigzag(u);
        break;
    case VALUE_UINT64:
        if (!read_uvarint(in, len, pos, &u)) return false;
        out->value.as.u64 = u;
        break;
    case VALUE_DOUBLE: {
        if (len - *pos < 8) return false;
        uint64_t bits = get_u64le(in + *pos);
        memcpy(&out->value.as.f64, &bits, sizeof bits);
        *pos += 8;
        break;
    }
    default: /* VALUE_STRING */
        if (!read_uvarint(in, len, pos, &u) || u > UINT32_MAX || u > len - *pos) return false;
        out->value.as.str.ptr = (const char *)in + *pos;
        out->value.as.str.len = (uint32_t)u;
        *pos += (size_t)u;
        break;
    }
    return true;
}

enum decode_result { DECODE_OK, DECODE_BAD, DECODE_OOM };

/* Decodes the payload in[0..len) of a record of count samples into
 * s->samples (strings and paths point into in). */
static enum decode_result decode_payload(struct spool *s, const uint8_t *in, size_t len,
                                         uint32_t count)
{
    size_t pos = 0;
    uint64_t n, table_len;
    if (!read_uvarint(in, len, &pos, &n) || n != count) return DECODE_BAD;
    if (!read_uvarint(in, len, &pos, &table_len)) return DECODE_BAD;
    /* Every path takes at least two bytes (length, NUL), every sample two
     * (tag, ts delta). */
    if (table_len > (len - pos) / 2 || n > (len - pos) / 2) return DECODE_BAD;
    if (n > 0 && table_len == 0) return DECODE_BAD;
    if (!GROW(s->table, s->table_cap, (size_t)table_len) ||
        !GROW(s->samples, s->samples_cap, (size_t)n))
        return DECODE_OOM;
    for (uint64_t i = 0; i < table_len; i++) {
        uint64_t plen;
        if (!read_uvarint(in, len, &pos, &plen) || plen >= len - pos) return DECODE_BAD;
        const char *p = (const char *)in + pos;
        if (p[plen] != 0 || memchr(p, 0, (size_t)plen) != NULL) return DECODE_BAD;
        s->table[i] = p;
        pos += (size_t)plen + 1;
    }
    uint64_t path = 0;
    int64_t prev_ts = 0;
    quality_t prev_quality = QUALITY_GOOD;
    for (uint64_t i = 0; i < n; i++)
        if (!decode_sample(in, len, &pos, &s->samples[i], s->table, table_len, &path, &prev_ts,
                           &prev_quality))
            return DECODE_BAD;
    return pos == len ? DECODE_OK : DECODE_BAD;
}

/* ---- reading records from a file ---- */

enum read_result { READ_VALID, READ_BAD, READ_IO_ERROR, READ_OOM };

/* Reads and checks the record at off of fd (whose valid data ends at end):
 * on READ_VALID the payload is in s->read_buf, *payload_len and *count set.
 * READ_BAD: no valid record starts there (damaged or cut short). */
static enum read_result read_record(struct spool *s, int fd, uint64_t off, uint64_t end,
                                    uint32_t *payload_len, uint32_t *count, int *err)
{
    if (off > end || end - off < REC_HEADER_BYTES) return READ_BAD;
    uint8_t h[REC_HEADER_BYTES];
    if (!hist_io_pread_all(s->io, fd, h, sizeof h, (off_t)off, err)) return READ_IO_ERROR;
    if (get_u32le(h) != REC_MAGIC || get_u32le(h + 16) != hc_crc32c(0, h, 16)) return READ_BAD;
    uint32_t len = get_u32le(h + 4);
    if (len > REC_MAX_PAYLOAD_BYTES || len > end - off - REC_HEADER_BYTES) return READ_BAD;
    if (!GROW(s->read_buf, s->read_cap, len ? len : 1)) return READ_OOM;
    if (!hist_io_pread_all(s->io, fd, s->read_buf, len, (off_t)(off + REC_HEADER_BYTES), err))
        return READ_IO_ERROR;
    if (hc_crc32c(0, s->read_buf, len) != get_u32le(h + 12)) return READ_BAD;
    *payload_len = len;
    *count = get_u32le(h + 8);
    return READ_VALID;
}

/* Finds the first valid record starting after from (and before end): sets
 * *found (end when there is none). */
static enum read_result find_next_record(struct spool *s, int fd, uint64_t from, uint64_t end,
                                         uint64_t *found, int *err)
{
    uint8_t chunk[RESYNC_CHUNK_BYTES];
    uint64_t pos = from + 1;
    while (pos < end && end - pos >= REC_HEADER_BYTES) {
        uint64_t avail = end - pos;
        size_t n = avail < sizeof chunk ? (size_t)avail : sizeof chunk;
        if (!hist_io_pread_all(s->io, fd, chunk, n, (off_t)pos, err)) return READ_IO_ERROR;
        for (size_t i = 0; i + 4 <= n; i++) {
            if (get_u32le(chunk + i) != REC_MAGIC) continue;
            uint32_t len, count;
            enum read_result r = read_record(s, fd, pos + i, end, &len, &count, err);
            if (r == READ_VALID) {
                *found = pos + i;
                return READ_VALID;
            }
            if (r != READ_BAD) return r;
        }
        if (n < 4) break;
        pos += n - 3; /* a magic may straddle chunks */
    }
    *found = end;
    return READ_VALID;
}

/* ---- the cursor ---- */

/* The read position to save: segs[0] and read_off, or (next_seq, header)
 * when there is no segment. */
static void cursor_position(const struct spool *s, uint64_t *seq, uint64_t *off)
{
    if (s->seg_count > 0) {
        *seq = s->segs[0].seq;
        *off = s->read_off;
    } else {
        *seq = s->next_seq;
        *off = SEG_HEADER_BYTES;
    }
}

/* Writes the cursor atomically (tmp, fsync, rename, directory fsync). */
static bool save_cursor(struct spool *s)
{
    uint64_t seq, off;
    cursor_position(s, &seq, &off);
    uint8_t c[CURSOR_BYTES];
    memcpy(c, CURSOR_MAGIC, 4);
    put_u32le(c + 4, CURSOR_VERSION);
    put_u64le(c + 8, seq);
    put_u64le(c + 16, off);
    put_u32le(c + 24, hc_crc32c(0, c, 24));

    const char *tmp = s->cursor_tmp;
    int e = 0, ignored;
    const char *step = "create";
    int fd = s->io->open(s->io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, &e);
    if (fd < 0) goto fail;
    step = "write";
    bool ok = hist_io_write_all(s->io, fd, c, sizeof c, &e);
    if (ok) {
        step = "fsync";
        ok = s->io->fsync(s->io, fd, &e) == 0;
    }
    if (s->io->close(s->io, fd, &ignored) != 0 && ok) {
        e = ignored;
        step = "close";
        ok = false;
    }
    if (!ok) goto fail;
    step = "rename";
    if (s->io->rename(s->io, tmp, s->cursor_path, &e) != 0) goto fail;
    step = "fsync the directory of";
    if (!hist_io_sync_dir(s->io, s->dir, &e)) goto fail;
    s->cursor_dirty = false;
    return true;
fail:
    note_error(s, true, "%s: cannot %s the cursor: %s", tmp, step, strerror(e));
    s->cursor_dirty = true;
    return false;
}

/* Reads CURSOR: true with *seq, *off when present and intact. */
static bool load_cursor(struct spool *s, uint64_t *seq, uint64_t *off, bool *damaged)
{
    *damaged = false;
    int e = 0, ignored;
    int fd = s->io->open(s->io, s->cursor_path, O_RDONLY, 0, &e);
    if (fd < 0) {
        *damaged = e != ENOENT;
        return false;
    }
    uint8_t c[CURSOR_BYTES];
    off_t size = s->io->size(s->io, fd, &e);
    bool ok = size == CURSOR_BYTES && hist_io_pread_all(s->io, fd, c, sizeof c, 0, &e) &&
              memcmp(c, CURSOR_MAGIC, 4) == 0 && get_u32le(c + 4) == CURSOR_VERSION &&
              get_u32le(c + 24) == hc_crc32c(0, c, 24);
    s->io->close(s->io, fd, &ignored);
    if (!ok) {
        *damaged = true;
        return false;
    }
    *seq = get_u64le(c + 8);
    *off = get_u64le(c + 16);
    return true;
}

/* ---- segments ---- */

static void close_read_fd(struct spool *s)
{
    if (s->read_fd < 0) return;
    int ignored;
    s->io->close(s->io, s->read_fd, &ignored);
    s->read_fd = -1;
}

/* The fd to read segs[0] with, opened when needed; -1 with last_error. */
static int read_fd_for_oldest(struct spool *s)
{
    uint64_t seq = s->segs[0].seq;
    if (s->read_fd >= 0 && s->read_fd_seq == seq) return s->read_fd;
    close_read_fd(s);
    int e = 0;
    const char *path = segment_path(s, seq);
    int fd = s->io->open(s->io, path, O_RDONLY, 0, &e);
    if (fd < 0) {
        note_error(s, true, "%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    s->read_fd = fd;
    s->read_fd_seq = seq;
    return fd;
}

/* True when the last segment is the one appended to. */
static bool writing_last(const struct spool *s)
{
    return s->write_fd >= 0 && s->seg_count > 0;
}

/* Stops appending to the current segment: cuts off what a failed write
 * left past its end and, when sync, fsyncs what it holds. */
static void retire_write_segment(struct spool *s, bool sync)
{
    if (s->write_fd < 0) return;
    int e = 0, ignored;
    const struct segment *w = &s->segs[s->seg_count - 1];
    if (s->write_may_have_garbage && s->io->ftruncate(s->io, s->write_fd, (off_t)w->bytes, &e) == 0)
        s->write_unsynced = true;
    if (sync && s->write_unsynced && s->io->fsync(s->io, s->write_fd, &e) != 0)
        note_error(s, true, "%s: cannot fsync: %s", segment_path(s, w->seq), strerror(e));
    s->io->close(s->io, s->write_fd, &ignored);
    s->write_fd = -1;
    s->write_unsynced = false;
    s->write_may_have_garbage = false;
}

/* Removes segs[0] from the list and deletes its file; its pending counts
 * go with it. The read position moves to the start of the next segment. */
static void remove_oldest_segment(struct spool *s)
{
    struct segment old = s->segs[0];
    if (s->seg_count == 1 && s->write_fd >= 0) retire_write_segment(s, false);
    if (s->read_fd_seq == old.seq) close_read_fd(s);
    s->disk_bytes -= old.bytes;
    s->disk_batches -= old.batches;
    s->disk_samples -= old.samples;
    memmove(s->segs, s->segs + 1, (s->seg_count - 1) * sizeof *s->segs);
    s->seg_count--;
    s->read_off = SEG_HEADER_BYTES;
    if (s->peeked && !s->peek_in_memory) s->peeked = false;
    s->cursor_dirty = true;
    int e = 0;
    const char *path = segment_path(s, old.seq);
    if (s->io->unlink(s->io, path, &e) != 0 && e != ENOENT)
        note_error(s, true, "%s: cannot delete: %s", path, strerror(e));
}

/* Creates the next segment file and makes it the one appended to. */
static bool start_segment(struct spool *s, int *err)
{
    if (!GROW(s->segs, s->seg_cap, s->seg_count + 1)) {
        *err = ENOMEM;
        return false;
    }
    uint64_t seq = s->next_seq;
    const char *path = segment_path(s, seq);
    int fd = s->io->open(s->io, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644, err);
    if (fd < 0) return false;
    uint8_t h[SEG_HEADER_BYTES];
    memcpy(h, SEG_MAGIC, 4);
    put_u32le(h + 4, SEG_VERSION);
    put_u64le(h + 8, seq);
    int ignored;
    if (!hist_io_write_all(s->io, fd, h, sizeof h, err) || s->io->fsync(s->io, fd, err) != 0 ||
        !hist_io_sync_dir(s->io, s->dir, err)) {
        s->io->close(s->io, fd, &ignored);
        s->io->unlink(s->io, segment_path(s, seq), &ignored);
        return false;
    }
    s->next_seq = seq + 1;
    s->segs[s->seg_count++] = (struct segment){.seq = seq, .bytes = SEG_HEADER_BYTES};
    s->disk_bytes += SEG_HEADER_BYTES;
    s->write_fd = fd;
    s->write_unsynced = false;
    s->write_may_have_garbage = false;
    return true;
}

/* Writes the pending records to the current segment (starting one when
 * needed), fsyncing when sync. False (pending kept) with last_error. */
static bool flush_pending(struct spool *s, bool sync)
{
    int e = 0;
    if (s->pending.len > 0) {
        if (writing_last(s) && s->segs[s->seg_count - 1].bytes >= s->segment_bytes)
            retire_write_segment(s, true);
        if (s->write_fd < 0 && !start_segment(s, &e)) {
            note_error(s, true, "%s: cannot start a segment: %s", segment_path(s, s->next_seq),
                       strerror(e));
            return false;
        }
        struct segment *w = &s->segs[s->seg_count - 1];
        if (s->write_may_have_garbage) {
            if (s->io->ftruncate(s->io, s->write_fd, (off_t)w->bytes, &e) != 0) {
                note_error(s, true, "%s: cannot cut back a failed write: %s",
                           segment_path(s, w->seq), strerror(e));
                return false;
            }
            s->write_may_have_garbage = false;
        }
        if (!hist_io_write_all(s->io, s->write_fd, s->pending.data, s->pending.len, &e)) {
            s->write_may_have_garbage = true;
            note_error(s, true, "%s: cannot write: %s", segment_path(s, w->seq), strerror(e));
            return false;
        }
        w->bytes += s->pending.len;
        w->batches += s->pending_batches;
        w->samples += s->pending_samples;
        s->disk_bytes += s->pending.len;
        s->disk_batches += s->pending_batches;
        s->disk_samples += s->pending_samples;
        s->pending.len = 0;
        s->pending_batches = s->pending_samples = 0;
        s->write_unsynced = true;
        /* A batch peeked from memory is now on disk, at the read position. */
        s->peek_in_memory = false;
    }
    if ((sync || s->sync_failed) && s->write_fd >= 0 && s->write_unsynced) {
        if (s->io->fsync(s->io, s->write_fd, &e) != 0) {
            s->sync_failed = true;
            note_error(s, true, "%s: cannot fsync: %s",
                       segment_path(s, s->segs[s->seg_count - 1].seq), strerror(e));
            return false;
        }
        s->write_unsynced = false;
        s->sync_failed = false;
    }
    s->degraded = false;
    return true;
}

/* Drops the oldest pending (in memory) record, counting its samples. */
static void drop_oldest_pending(struct spool *s)
{
    uint32_t len = get_u32le(s->pending.data + 4), count = get_u32le(s->pending.data + 8);
    size_t total = REC_HEADER_BYTES + (size_t)len;
    memmove(s->pending.data, s->pending.data + total, s->pending.len - total);
    s->pending.len -= total;
    s->pending_batches--;
    s->pending_samples -= count;
    s->dropped_samples += count;
    if (s->peeked && s->peek_in_memory) s->peeked = false;
}

/* Drops the oldest data until disk + memory fit max_bytes (the newest
 * record, the last in pending, always stays). Returns the samples dropped. */
static uint64_t make_room(struct spool *s, size_t newest_len)
{
    uint64_t before = s->dropped_samples;
    while (s->disk_bytes + s->pending.len > s->max_bytes && s->seg_count > 0) {
        s->dropped_samples += s->segs[0].samples;
        remove_oldest_segment(s);
    }
    while (s->disk_bytes + s->pending.len > s->max_bytes && s->pending.len > newest_len)
        drop_oldest_pending(s);
    return s->dropped_samples - before;
}

/* ---- open ---- */

/* mkdir -p through io; path (a copy of the directory) is changed and
 * restored. */
static bool make_dirs(const struct hist_io *io, char *path, int *err)
{
    size_t len = strlen(path);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        char saved = path[i];
        path[i] = 0;
        int e = 0;
        if (io->mkdir(io, path, 0755, &e) != 0 && e != EEXIST) {
            path[i] = saved;
            *err = e;
            return false;
        }
        path[i] = saved;
    }
    return true;
}

static int compare_segment_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct segment *)a)->seq, y = ((const struct segment *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Lists the segment files into s->segs, sorted. */
static bool list_segments(struct spool *s, char *err, size_t err_len)
{
    DIR *d = opendir(s->dir);
    if (!d) {
        snprintf(err, err_len, "%s: cannot list: %s", s->dir, strerror(errno));
        return false;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        uint64_t seq;
        if (!parse_segment_name(ent->d_name, &seq)) continue;
        if (!GROW(s->segs, s->seg_cap, s->seg_count + 1)) {
            closedir(d);
            snprintf(err, err_len, "%s: out of memory listing segments", s->dir);
            return false;
        }
        s->segs[s->seg_count++] = (struct segment){.seq = seq};
    }
    closedir(d);
    if (s->seg_count > 1) qsort(s->segs, s->seg_count, sizeof *s->segs, compare_segment_seq);
    return true;
}

/* Deletes file seq (at open: acknowledged, or not a valid segment). */
static bool delete_segment_file(struct spool *s, uint64_t seq, char *err, size_t err_len)
{
    int e = 0;
    const char *path = segment_path(s, seq);
    if (s->io->unlink(s->io, path, &e) != 0 && e != ENOENT) {
        snprintf(err, err_len, "%s: cannot delete: %s", path, strerror(e));
        return false;
    }
    return true;
}

/* Scans segment *g from start: counts its valid records, finds its valid
 * end, and cuts a damaged tail off the file. *keep false when the file is
 * not a segment at all (it is then deleted). */
static bool scan_segment(struct spool *s, struct segment *g, uint64_t start, bool *keep, char *err,
                         size_t err_len)
{
    *keep = true;
    int e = 0, ignored;
    const char *path = segment_path(s, g->seq);
    int fd = s->io->open(s->io, path, O_RDONLY, 0, &e);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
        return false;
    }
    off_t size = s->io->size(s->io, fd, &e);
    uint8_t h[SEG_HEADER_BYTES];
    bool ok = true;
    if (size < 0) {
        snprintf(err, err_len, "%s: cannot stat: %s", path, strerror(e));
        ok = false;
    } else if (size < (off_t)SEG_HEADER_BYTES) {
        *keep = false; /* created, never completed: holds nothing */
    } else if (!hist_io_pread_all(s->io, fd, h, sizeof h, 0, &e)) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(e));
        ok = false;
    } else if (memcmp(h, SEG_MAGIC, 4) != 0 || get_u32le(h + 4) != SEG_VERSION ||
               get_u64le(h + 8) != g->seq) {
        *keep = false;
        s->corrupt_records++;
    }
    uint64_t end = size > 0 ? (uint64_t)size : 0, pos = start, valid_end = start;
    if (start > end) pos = valid_end = end;
    while (ok && *keep && pos < end) {
        uint32_t len, count;
        enum read_result r = read_record(s, fd, pos, end, &len, &count, &e);
        if (r == READ_VALID) {
            pos += REC_HEADER_BYTES + (uint64_t)len;
            valid_end = pos;
            g->batches++;
            g->samples += count;
            continue;
        }
        if (r == READ_BAD) r = find_next_record(s, fd, pos, end, &pos, &e);
        if (r == READ_OOM) {
            snprintf(err, err_len, "%s: out of memory reading", path);
            ok = false;
        } else if (r == READ_IO_ERROR) {
            snprintf(err, err_len, "%s: cannot read: %s", path, strerror(e));
            ok = false;
        }
    }
    s->io->close(s->io, fd, &ignored);
    if (!ok) return false;
    if (!*keep) return delete_segment_file(s, g->seq, err, err_len);
    g->bytes = valid_end > end ? end : valid_end;
    if (g->bytes < end) { /* a damaged tail: cut it off so it is counted once */
        s->corrupt_records++;
        int wfd = s->io->open(s->io, path, O_WRONLY, 0, &e);
        if (wfd >= 0) {
            if (s->io->ftruncate(s->io, wfd, (off_t)g->bytes, &e) == 0)
                s->io->fsync(s->io, wfd, &e);
            s->io->close(s->io, wfd, &ignored);
        }
    }
    return true;
}

/* Finds the read position and the pending counts from the files. */
static bool recover(struct spool *s, char *err, size_t err_len)
{
    if (!list_segments(s, err, err_len)) return false;
    uint64_t cursor_seq = 0, cursor_off = SEG_HEADER_BYTES;
    bool damaged;
    if (!load_cursor(s, &cursor_seq, &cursor_off, &damaged)) {
        cursor_seq = 0;
        cursor_off = SEG_HEADER_BYTES;
        if (damaged) s->corrupt_records++;
    }
    int ignored;
    s->io->unlink(s->io, s->cursor_tmp, &ignored);
    uint64_t max_seq = cursor_seq;
    size_t kept = 0;
    bool first = true;
    for (size_t i = 0; i < s->seg_count; i++) {
        struct segment g = s->segs[i];
        if (g.seq > max_seq) max_seq = g.seq;
        if (g.seq < cursor_seq) { /* wholly acknowledged */
            if (!delete_segment_file(s, g.seq, err, err_len)) return false;
            continue;
        }
        uint64_t start = SEG_HEADER_BYTES;
        if (g.seq == cursor_seq && cursor_off > start) start = cursor_off;
        bool keep;
        if (!scan_segment(s, &g, start, &keep, err, err_len)) return false;
        if (!keep) continue;
        if (first) s->read_off = start < g.bytes ? start : g.bytes;
        first = false;
        s->segs[kept++] = g;
        s->disk_bytes += g.bytes;
        s->disk_batches += g.batches;
        s->disk_samples += g.samples;
    }
    s->seg_count = kept;
    if (kept == 0) s->read_off = SEG_HEADER_BYTES;
    s->next_seq = max_seq + 1;
    return true;
}

void spool_options_init(struct spool_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_bytes = SPOOL_DEFAULT_MAX_BYTES;
    o->segment_bytes = SPOOL_DEFAULT_SEGMENT_BYTES;
    o->durability = HIST_DURABILITY_BATCHED;
    o->fsync_interval_ms = SPOOL_DEFAULT_FSYNC_INTERVAL_MS;
}

static void free_spool(struct spool *s)
{
    hc_buf_free(&s->pending);
    hist_free(s->segs);
    hist_free(s->read_buf);
    hist_free(s->samples);
    hist_free(s->table);
    hist_free(s->slots);
    hist_free(s->sample_path);
    hist_free(s->paths);
    hist_free(s->path_lens);
    hist_free(s->path_buf);
    hist_free(s->cursor_path);
    hist_free(s->cursor_tmp);
    hist_free(s->dir);
    hist_free(s);
}

struct spool *spool_open(const struct spool_options *opt, char *err, size_t err_len)
{
    if (!opt->dir || !opt->dir[0]) {
        snprintf(err, err_len, "spool: no directory given");
        return NULL;
    }
    struct spool *s = hist_calloc(1, sizeof *s);
    size_t dir_len = strlen(opt->dir);
    char *dir = hist_malloc(dir_len + 1);
    size_t path_cap = dir_len + sizeof("/spool-0123456789abcdef.seg");
    char *path_buf = hist_malloc(path_cap);
    char *cursor_path = join_path(opt->dir, CURSOR_NAME);
    char *cursor_tmp = join_path(opt->dir, CURSOR_TMP_NAME);
    if (!s || !dir || !path_buf || !cursor_path || !cursor_tmp) {
        snprintf(err, err_len, "spool %s: out of memory", opt->dir);
        hist_free(s);
        hist_free(dir);
        hist_free(path_buf);
        hist_free(cursor_path);
        hist_free(cursor_tmp);
        return NULL;
    }
    memcpy(dir, opt->dir, dir_len + 1);
    s->dir = dir;
    s->path_buf = path_buf;
    s->path_cap = path_cap;
    s->cursor_path = cursor_path;
    s->cursor_tmp = cursor_tmp;
    s->io = opt->io ? opt->io : hist_io_posix();
    s->max_bytes = opt->max_bytes ? opt->max_bytes : SPOOL_DEFAULT_MAX_BYTES;
    s->segment_bytes = opt->segment_bytes ? opt->segment_bytes : SPOOL_DEFAULT_SEGMENT_BYTES;
    /* Dropping works by whole segments: a segment as big as the spool would
     * take the newest data with it. Keep room for at least 8 segments. */
    if (s->segment_bytes > s->max_bytes / 8)
        s->segment_bytes = s->max_bytes / 8 > 1024 ? s->max_bytes / 8 : 1024;
    s->durability = opt->durability;
    s->fsync_interval_ms = opt->fsync_interval_ms;
    s->write_fd = -1;
    s->read_fd = -1;
    hc_buf_init(&s->pending);
    int e = 0;
    if (!make_dirs(s->io, s->dir, &e)) {
        snprintf(err, err_len, "%s: cannot create: %s", s->dir, strerror(e));
        free_spool(s);
        return NULL;
    }
    if (!recover(s, err, err_len)) {
        free_spool(s);
        return NULL;
    }
    s->last_sync_ms = monotonic_ms();
    return s;
}

void spool_close(struct spool *s)
{
    if (!s) return;
    flush_pending(s, true);
    retire_write_segment(s, true);
    if (s->cursor_dirty) save_cursor(s);
    close_read_fd(s);
    free_spool(s);
}

/* ---- append, peek, ack ---- */

bool spool_append(struct spool *s, const struct spool_sample *v, size_t n, uint64_t *dropped)
{
    if (dropped) *dropped = 0;
    if (n == 0) return true;
    size_t before = s->pending.len;
    if (!encode_record(s, v, n)) {
        note_error(s, false, "spool %s: cannot encode a batch of %zu samples (out of memory?)",
                   s->dir, n);
        return false;
    }
    size_t record_len = s->pending.len - before;
    s->pending_batches++;
    s->pending_samples += n;
    s->appended_samples += n;
    uint64_t d = make_room(s, record_len);
    if (dropped) *dropped = d;
    return flush_pending(s, s->durability == HIST_DURABILITY_STRICT);
}

/* Decodes the peeked record from s->read_buf; on a bad payload counts it
 * and returns false with *bad. */
static bool finish_peek(struct spool *s, uint32_t len, uint32_t count,
                        const struct spool_sample **v, size_t *n, bool *bad)
{
    *bad = false;
    enum decode_result r = decode_payload(s, s->read_buf, len, count);
    if (r == DECODE_OOM) {
        note_error(s, false, "spool %s: out of memory reading a batch", s->dir);
        return false;
    }
    if (r == DECODE_BAD) {
        *bad = true;
        s->corrupt_records++;
        return false;
    }
    s->peeked = true;
    s->peek_len = REC_HEADER_BYTES + (uint64_t)len;
    s->peek_count = count;
    *v = s->samples;
    *n = count;
    return true;
}

/* Peeks the first pending (in memory) record. */
static bool peek_memory(struct spool *s, const struct spool_sample **v, size_t *n)
{
    if (s->pending.len == 0) return false;
    uint32_t len = get_u32le(s->pending.data + 4), count = get_u32le(s->pending.data + 8);
    if (!GROW(s->read_buf, s->read_cap, len ? len : 1)) {
        note_error(s, false, "spool %s: out of memory reading a batch", s->dir);
        return false;
    }
    memcpy(s->read_buf, s->pending.data + REC_HEADER_BYTES, len);
    bool bad;
    if (!finish_peek(s, len, count, v, n, &bad)) {
        if (bad) drop_oldest_pending(s); /* cannot happen: we encoded it */
        return false;
    }
    s->peek_in_memory = true;
    return true;
}

/* As spool.h says; false also when the oldest batch cannot be read now (an
 * I/O error: stats.degraded, or out of memory: stats.last_error), in which
 * case nothing moved and a later call reads it. */
bool spool_peek(struct spool *s, const struct spool_sample **v, size_t *n)
{
    s->peeked = false;
    s->peek_in_memory = false;
    for (;;) {
        if (s->seg_count == 0) return peek_memory(s, v, n);
        struct segment *g = &s->segs[0];
        if (s->read_off >= g->bytes) {
            if (s->seg_count == 1 && writing_last(s)) return peek_memory(s, v, n);
            /* Wholly read (acknowledged or skipped): the file goes. */
            remove_oldest_segment(s);
            continue;
        }
        int fd = read_fd_for_oldest(s);
        if (fd < 0) return false;
        uint32_t len = 0, count = 0;
        int e = 0;
        enum read_result r = read_record(s, fd, s->read_off, g->bytes, &len, &count, &e);
        if (r == READ_VALID) {
            bool bad;
            if (finish_peek(s, len, count, v, n, &bad)) return true;
            if (!bad) return false;
            /* A valid CRC over a payload we cannot decode: skip it whole. */
            s->read_off += REC_HEADER_BYTES + (uint64_t)len;
            if (g->batches > 0) g->batches--, s->disk_batches--;
            uint64_t k = count < g->samples ? count : g->samples;
            g->samples -= k;
            s->disk_samples -= k;
            s->cursor_dirty = true;
            continue;
        }
        if (r == READ_BAD) {
            s->corrupt_records++;
            r = find_next_record(s, fd, s->read_off, g->bytes, &s->read_off, &e);
            s->cursor_dirty = true;
        }
        if (r == READ_IO_ERROR) {
            note_error(s, true, "%s: cannot read: %s", segment_path(s, g->seq), strerror(e));
            return false;
        }
        if (r == READ_OOM) {
            note_error(s, false, "spool %s: out of memory reading a batch", s->dir);
            return false;
        }
    }
}

bool spool_ack(struct spool *s)
{
    if (!s->peeked) return false;
    s->peeked = false;
    s->acked_samples += s->peek_count;
    if (s->peek_in_memory) {
        s->peek_in_memory = false;
        uint32_t len = get_u32le(s->pending.data + 4);
        size_t total = REC_HEADER_BYTES + (size_t)len;
        memmove(s->pending.data, s->pending.data + total, s->pending.len - total);
        s->pending.len -= total;
        s->pending_batches--;
        s->pending_samples -= s->peek_count;
        return true;
    }
    /* The batch was at the read position, possibly in the segment after a
     * wholly read segs[0] (when it was peeked in memory, then written). */
    if (s->read_off >= s->segs[0].bytes && s->seg_count > 1) remove_oldest_segment(s);
    struct segment *g = &s->segs[0];
    s->read_off += s->peek_len;
    if (g->batches > 0) g->batches--, s->disk_batches--;
    uint64_t k = s->peek_count < g->samples ? s->peek_count : g->samples;
    g->samples -= k;
    s->disk_samples -= k;
    s->cursor_dirty = true;
    if (s->read_off >= g->bytes && !(s->seg_count == 1 && writing_last(s)))
        remove_oldest_segment(s);
    if (s->durability == HIST_DURABILITY_STRICT) return save_cursor(s);
    return true;
}

void spool_maintain(struct spool *s)
{
    int64_t now = monotonic_ms();
    bool due = s->durability == HIST_DURABILITY_STRICT || s->degraded ||
               now - s->last_sync_ms >= (int64_t)s->fsync_interval_ms;
    if (!due) return;
    if (!flush_pending(s, true)) return;
    if (s->cursor_dirty && !save_cursor(s)) return;
    s->last_sync_ms = now;
}

void spool_get_stats(const struct spool *s, struct spool_stats *out)
{
    memset(out, 0, sizeof *out);
    out->pending_batches = s->disk_batches + s->pending_batches;
    out->pending_samples = s->disk_samples + s->pending_samples;
    out->bytes = s->disk_bytes;
    out->appended_samples = s->appended_samples;
    out->acked_samples = s->acked_samples;
    out->dropped_samples = s->dropped_samples;
    out->corrupt_records = s->corrupt_records;
    out->degraded = s->degraded;
    memcpy(out->last_error, s->last_error, sizeof out->last_error);
}
