/* The historian's write-ahead log (see hist_wal.h).
 *
 * File: 16-byte header ("AHWL", u32 version, u64 seq, little-endian), then
 * records: u32 payload length | u32 CRC-32C of the payload | payload.
 *
 * Payload (version 1): uvarint sample count, then per sample:
 *   tag byte:  bits 0-2 value type (enum value_type, 0..4)
 *              bit 3    quality equals the previous sample's (else a
 *                       uvarint quality follows)
 *              bits 4-5 series: 0 same as previous, 1 previous + 1,
 *                       2 zigzag uvarint delta from previous follows
 *              bit 6    the value of a bool (0 for other types)
 *              bit 7    reserved, 0
 *   [series delta]  zigzag uvarint (series mode 2)
 *   ts delta        zigzag uvarint of ts - previous ts (mod 2^64)
 *   [quality]       uvarint (bit 3 clear)
 *   value           bool: none (in the tag); int64: zigzag uvarint;
 *                   uint64: uvarint; double: 8 bytes little-endian bit
 *                   pattern; string: uvarint length + bytes
 * "Previous" starts as series 0, ts 0, quality 0 (Good) in every record,
 * so each record decodes alone.
 *
 * Writing: appends encode into one memory buffer of whole records; a flush
 * writes it with O_APPEND. When a write fails (or is cut short) part of the
 * buffer may have reached the file: the whole buffer is kept, and the next
 * flush first truncates the file back to the last boundary known to end a
 * complete record, then writes the buffer again. So no torn record is ever
 * left in the middle of a file and every record appears once. */
#include "historian/hist_wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/le.h"
#include "historian/hist_alloc.h"
#include "historian/hist_codec.h"

#define WAL_MAGIC "AHWL"
#define WAL_VERSION 1u
#define WAL_HEADER_BYTES 16u
#define WAL_RECORD_HEADER_BYTES 8u
/* Largest encoding of a sample without its string bytes: tag 1, series 5,
 * ts 10, quality 5, value 10 (a string's length varint is 5). */
#define WAL_SAMPLE_MAX_FIXED_BYTES 32u
/* A record payload is at most this big (its length is a u32, and a reader
 * must be able to hold it). */
#define WAL_RECORD_MAX_PAYLOAD_BYTES 0x7fffffffu

#define TAG_TYPE_MASK 0x07u
#define TAG_QUALITY_SAME 0x08u
#define TAG_SERIES_SHIFT 4
#define TAG_SERIES_SAME 0u
#define TAG_SERIES_NEXT 1u
#define TAG_SERIES_DELTA 2u
#define TAG_BOOL_TRUE 0x40u
#define TAG_RESERVED 0x80u

struct hist_wal {
    const struct hist_io *io;
    char *dir;
    int fd;
    uint64_t seq;
    struct hc_buf pending;      /* whole records not yet known to be in the file */
    uint64_t file_bytes;        /* file length up to the last complete record written */
    bool file_may_have_garbage; /* a failed write may have left bytes past file_bytes */
    bool unsynced_data;         /* written since the last successful fsync */
    bool sync_failed;           /* the last fsync failed: the next flush fsyncs, asked or not */
    bool dir_synced;            /* the directory entry of the file is durable */
};

/* ---- little-endian and varint helpers ---- */

/* ---- payload encoding ---- */

/* Encodes one sample at p (room for WAL_SAMPLE_MAX_FIXED_BYTES plus the
 * string's bytes), given the previous sample's fields; returns the end. */
static inline uint8_t *encode_sample(uint8_t *p, const struct hist_sample *s, uint32_t prev_series,
                                     int64_t prev_ts, quality_t prev_quality)
{
    uint8_t *tag = p++;
    unsigned t = (unsigned)s->value.type & TAG_TYPE_MASK;
    if (s->quality == prev_quality) t |= TAG_QUALITY_SAME;
    if (s->series == prev_series) {
        t |= TAG_SERIES_SAME << TAG_SERIES_SHIFT;
    } else if (prev_series != UINT32_MAX && s->series == prev_series + 1u) {
        t |= TAG_SERIES_NEXT << TAG_SERIES_SHIFT;
    } else {
        t |= TAG_SERIES_DELTA << TAG_SERIES_SHIFT;
        p = put_uvarint_fast(p, hc_zigzag((int64_t)s->series - (int64_t)prev_series));
    }
    p = put_uvarint_fast(p, hc_zigzag((int64_t)((uint64_t)s->ts_ns - (uint64_t)prev_ts)));
    if (s->quality != prev_quality) p = put_uvarint_fast(p, s->quality);
    switch (s->value.type) {
    case VALUE_BOOL:
        if (s->value.as.b) t |= TAG_BOOL_TRUE;
        break;
    case VALUE_INT64:
        p = put_uvarint_fast(p, hc_zigzag(s->value.as.i64));
        break;
    case VALUE_UINT64:
        p = put_uvarint_fast(p, s->value.as.u64);
        break;
    case VALUE_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &s->value.as.f64, sizeof bits);
        put_u64le(p, bits);
        p += 8;
        break;
    }
    case VALUE_STRING:
        p = put_uvarint_fast(p, s->value.as.str.len);
        if (s->value.as.str.len) memcpy(p, s->value.as.str.ptr, s->value.as.str.len);
        p += s->value.as.str.len;
        break;
    }
    *tag = (uint8_t)t;
    return p;
}

/* Bytes the payload of s[0..n) needs at most. False when it would not fit
 * in a record. */
static bool payload_bound(const struct hist_sample *s, size_t n, size_t *bound)
{
    if (n > WAL_RECORD_MAX_PAYLOAD_BYTES / WAL_SAMPLE_MAX_FIXED_BYTES) return false;
    size_t total = HC_UVARINT_MAX_BYTES + n * WAL_SAMPLE_MAX_FIXED_BYTES;
    for (size_t i = 0; i < n; i++) {
        if (s[i].value.type == VALUE_STRING) {
            total += s[i].value.as.str.len;
            if (total > WAL_RECORD_MAX_PAYLOAD_BYTES) return false;
        }
    }
    *bound = total;
    return true;
}

/* Encodes the payload of s[0..n) at p (room for payload_bound bytes);
 * returns the end. */
static uint8_t *encode_payload_at(uint8_t *p, const struct hist_sample *s, size_t n)
{
    p = put_uvarint_fast(p, n);
    uint32_t prev_series = 0;
    int64_t prev_ts = 0;
    quality_t prev_quality = QUALITY_GOOD;
    for (size_t i = 0; i < n; i++) {
        p = encode_sample(p, &s[i], prev_series, prev_ts, prev_quality);
        prev_series = s[i].series;
        prev_ts = s[i].ts_ns;
        prev_quality = s[i].quality;
    }
    return p;
}

bool hist_wal_encode_payload(struct hc_buf *out, const struct hist_sample *s, size_t n)
{
    size_t bound;
    if (!payload_bound(s, n, &bound)) return false;
    if (!hc_buf_reserve(out, bound)) return false;
    uint8_t *end = encode_payload_at(out->data + out->len, s, n);
    out->len = (size_t)(end - out->data);
    return true;
}

/* ---- payload decoding ---- */

/* Reads a varint at *pos, advancing it; false when malformed or truncated. */
static inline bool read_uvarint(const uint8_t *in, size_t len, size_t *pos, uint64_t *v)
{
    if (*pos >= len) return false;
    if (in[*pos] < 0x80) { /* the common one-byte case */
        *v = in[(*pos)++];
        return true;
    }
    size_t used = hc_get_uvarint(in + *pos, len - *pos, v);
    if (used == 0) return false;
    *pos += used;
    return true;
}

/* Decodes one sample at *pos into *s given the previous fields. */
static bool decode_sample(const uint8_t *in, size_t len, size_t *pos, struct hist_sample *s,
                          uint32_t prev_series, int64_t prev_ts, quality_t prev_quality)
{
    if (*pos >= len) return false;
    unsigned tag = in[(*pos)++];
    unsigned type = tag & TAG_TYPE_MASK;
    unsigned series_mode = (tag >> TAG_SERIES_SHIFT) & 3u;
    if ((tag & TAG_RESERVED) || type > VALUE_STRING) return false;
    if ((tag & TAG_BOOL_TRUE) && type != VALUE_BOOL) return false;

    uint64_t u;
    if (series_mode == TAG_SERIES_SAME) {
        s->series = prev_series;
    } else if (series_mode == TAG_SERIES_NEXT) {
        if (prev_series == UINT32_MAX) return false;
        s->series = prev_series + 1u;
    } else if (series_mode == TAG_SERIES_DELTA) {
        if (!read_uvarint(in, len, pos, &u)) return false;
        int64_t delta = hc_unzigzag(u);
        if (delta < -(int64_t)UINT32_MAX || delta > (int64_t)UINT32_MAX) return false;
        int64_t series = (int64_t)prev_series + delta;
        if (series < 0 || series > (int64_t)UINT32_MAX) return false;
        s->series = (uint32_t)series;
    } else {
        return false;
    }

    if (!read_uvarint(in, len, pos, &u)) return false;
    s->ts_ns = (int64_t)((uint64_t)prev_ts + (uint64_t)hc_unzigzag(u));

    if (tag & TAG_QUALITY_SAME) {
        s->quality = prev_quality;
    } else {
        if (!read_uvarint(in, len, pos, &u) || u > UINT32_MAX) return false;
        s->quality = (quality_t)u;
    }

    s->value.type = (enum value_type)type;
    switch (type) {
    case VALUE_BOOL:
        s->value.as.b = (tag & TAG_BOOL_TRUE) != 0;
        break;
    case VALUE_INT64:
        if (!read_uvarint(in, len, pos, &u)) return false;
        s->value.as.i64 = hc_unzigzag(u);
        break;
    case VALUE_UINT64:
        if (!read_uvarint(in, len, pos, &u)) return false;
        s->value.as.u64 = u;
        break;
    case VALUE_DOUBLE: {
        if (len - *pos < 8) return false;
        uint64_t bits = get_u64le(in + *pos);
        memcpy(&s->value.as.f64, &bits, sizeof bits);
        *pos += 8;
        break;
    }
    default: /* VALUE_STRING */
        if (!read_uvarint(in, len, pos, &u) || u > UINT32_MAX || u > len - *pos) return false;
        s->value.as.str.ptr = (const char *)in + *pos;
        s->value.as.str.len = (uint32_t)u;
        *pos += (size_t)u;
        break;
    }
    return true;
}

/* Decodes a payload, calling fn per sample when fn is not NULL (NULL only
 * validates). *stopped (when not NULL) says whether fn returned false. */
static bool decode_payload(const uint8_t *in, size_t len,
                           bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx,
                           bool *stopped)
{
    if (stopped) *stopped = false;
    size_t pos = 0;
    uint64_t count;
    if (!read_uvarint(in, len, &pos, &count)) return false;
    /* Every sample takes at least two bytes (tag, ts delta). */
    if (count > (len - pos) / 2) return false;
    struct hist_sample s = {0};
    uint32_t prev_series = 0;
    int64_t prev_ts = 0;
    quality_t prev_quality = QUALITY_GOOD;
    for (uint64_t i = 0; i < count; i++) {
        if (!decode_sample(in, len, &pos, &s, prev_series, prev_ts, prev_quality)) return false;
        prev_series = s.series;
        prev_ts = s.ts_ns;
        prev_quality = s.quality;
        if (fn && !fn(ctx, &s)) {
            if (stopped) *stopped = true;
            return false;
        }
    }
    return pos == len; /* trailing bytes mean the record is not ours */
}

bool hist_wal_decode_payload(const uint8_t *in, size_t len,
                             bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx)
{
    return decode_payload(in, len, fn, ctx, NULL);
}

/* ---- file names ---- */

/* dir/wal-<seq>.log in a new allocation, or NULL. */
static char *wal_path(const char *dir, uint64_t seq)
{
    size_t n = strlen(dir) + sizeof("/wal-0123456789abcdef.log");
    char *path = hist_malloc(n);
    if (path) snprintf(path, n, "%s/wal-%016" PRIx64 ".log", dir, seq);
    return path;
}

/* True when name is exactly "wal-<16 hex digits>.log"; sets *seq. */
static bool parse_wal_name(const char *name, uint64_t *seq)
{
    if (strncmp(name, "wal-", 4) != 0 || strlen(name) != 4 + 16 + 4) return false;
    if (strcmp(name + 20, ".log") != 0) return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return false;
        }
        v = v << 4 | d;
    }
    *seq = v;
    return true;
}

static int compare_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the seqs of dir's log files, sorted. A missing dir has none.
 * False with *err (ENOMEM, or opendir's errno). */
static bool list_wal_files(const char *dir, uint64_t **seqs_out, size_t *count_out, int *err)
{
    *seqs_out = NULL;
    *count_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return true;
        *err = errno;
        return false;
    }
    uint64_t *seqs = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t seq;
        if (!parse_wal_name(e->d_name, &seq)) continue;
        if (count == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            uint64_t *grown = hist_realloc(seqs, new_cap * sizeof(*seqs));
            if (!grown) {
                hist_free(seqs);
                closedir(d);
                *err = ENOMEM;
                return false;
            }
            seqs = grown;
            cap = new_cap;
        }
        seqs[count++] = seq;
    }
    closedir(d);
    if (count > 1) qsort(seqs, count, sizeof(*seqs), compare_seq);
    *seqs_out = seqs;
    *count_out = count;
    return true;
}

/* ---- writer ---- */

struct hist_wal *hist_wal_open(const struct hist_io *io, const char *dir, uint64_t seq, char *err,
                               size_t err_len)
{
    struct hist_wal *w = hist_calloc(1, sizeof(*w));
    char *path = wal_path(dir, seq);
    size_t dir_len = strlen(dir);
    char *dir_copy = hist_malloc(dir_len + 1);
    if (!w || !path || !dir_copy) {
        snprintf(err, err_len, "write-ahead log %s: out of memory", dir);
        goto fail;
    }
    memcpy(dir_copy, dir, dir_len + 1);
    int e = 0;
    int fd = io->open(io, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644, &e);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(e));
        goto fail;
    }
    uint8_t header[WAL_HEADER_BYTES];
    memcpy(header, WAL_MAGIC, 4);
    put_u32le(header + 4, WAL_VERSION);
    put_u64le(header + 8, seq);
    if (!hist_io_write_all(io, fd, header, sizeof header, &e)) {
        snprintf(err, err_len, "%s: cannot write the header: %s", path, strerror(e));
        int ignored;
        io->close(io, fd, &ignored);
        io->unlink(io, path, &ignored); /* a headerless file would count as torn */
        goto fail;
    }
    w->io = io;
    w->dir = dir_copy;
    w->fd = fd;
    w->seq = seq;
    hc_buf_init(&w->pending);
    w->file_bytes = WAL_HEADER_BYTES;
    hist_free(path);
    return w;
fail:
    hist_free(dir_copy);
    hist_free(path);
    hist_free(w);
    return NULL;
}

void hist_wal_close(struct hist_wal *w)
{
    if (!w) return;
    int e;
    hist_wal_flush(w, false, &e);
    w->io->close(w->io, w->fd, &e);
    hc_buf_free(&w->pending);
    hist_free(w->dir);
    hist_free(w);
}

uint64_t hist_wal_seq(const struct hist_wal *w)
{
    return w->seq;
}

bool hist_wal_append(struct hist_wal *w, const struct hist_sample *s, size_t n)
{
    size_t bound;
    if (!payload_bound(s, n, &bound)) return false;
    struct hc_buf *b = &w->pending;
    if (!hc_buf_reserve(b, WAL_RECORD_HEADER_BYTES + bound)) {
        b->oom = false; /* this append failed; the buffered records are intact */
        return false;
    }
    uint8_t *record = b->data + b->len;
    uint8_t *payload = record + WAL_RECORD_HEADER_BYTES;
    uint8_t *end = encode_payload_at(payload, s, n);
    size_t payload_len = (size_t)(end - payload);
    put_u32le(record, (uint32_t)payload_len);
    put_u32le(record + 4, hc_crc32c(0, payload, payload_len));
    b->len += WAL_RECORD_HEADER_BYTES + payload_len;
    return true;
}

/* Makes the file end at the last complete record again after a failed
 * write may have left part of the buffer in it. */
static bool drop_partial_write(struct hist_wal *w, int *err)
{
    if (!w->file_may_have_garbage) return true;
    if (w->io->ftruncate(w->io, w->fd, (off_t)w->file_bytes, err) != 0) return false;
    w->file_may_have_garbage = false;
    return true;
}

/* fsyncs the file (and, the first time, its directory). */
static bool sync_file(struct hist_wal *w, int *err)
{
    if (w->io->fsync(w->io, w->fd, err) != 0 ||
        (!w->dir_synced && !hist_io_sync_dir(w->io, w->dir, err))) {
        w->sync_failed = true;
        return false;
    }
    w->dir_synced = true;
    w->unsynced_data = false;
    w->sync_failed = false;
    return true;
}

bool hist_wal_flush(struct hist_wal *w, bool sync, int *err)
{
    struct hc_buf *b = &w->pending;
    if (b->len > 0) {
        if (!drop_partial_write(w, err)) return false;
        if (!hist_io_write_all(w->io, w->fd, b->data, b->len, err)) {
            w->file_may_have_garbage = true;
            return false;
        }
        w->file_bytes += b->len;
        b->len = 0;
        w->unsynced_data = true;
    }
    if (w->sync_failed || (sync && (w->unsynced_data || !w->dir_synced))) return sync_file(w, err);
    return true;
}

size_t hist_wal_pending_bytes(const struct hist_wal *w)
{
    return w->pending.len;
}

uint64_t hist_wal_file_bytes(const struct hist_wal *w)
{
    return w->file_bytes;
}

/* ---- maintenance ---- */

bool hist_wal_delete_upto(const struct hist_io *io, const char *dir, uint64_t upto, int *err)
{
    uint64_t *seqs;
    size_t count;
    if (!list_wal_files(dir, &seqs, &count, err)) return false;
    bool ok = true, deleted_any = false;
    for (size_t i = 0; i < count && seqs[i] <= upto; i++) {
        char *path = wal_path(dir, seqs[i]);
        if (!path) {
            *err = ENOMEM;
            ok = false;
            break;
        }
        int r = io->unlink(io, path, err);
        hist_free(path);
        if (r != 0) {
            ok = false;
            break;
        }
        deleted_any = true;
    }
    hist_free(seqs);
    if (deleted_any) {
        int sync_err = 0;
        if (!hist_io_sync_dir(io, dir, &sync_err) && ok) {
            *err = sync_err;
            ok = false;
        }
    }
    return ok;
}

/* ---- replay ---- */

/* Reads the whole file dir/wal-<seq>.log into a new allocation. */
static bool read_wal_file(const struct hist_io *io, const char *dir, uint64_t seq, uint8_t **data,
                          size_t *len, char *err, size_t err_len)
{
    *data = NULL;
    *len = 0;
    char *path = wal_path(dir, seq);
    if (!path) {
        snprintf(err, err_len, "write-ahead log %s: out of memory", dir);
        return false;
    }
    int e = 0;
    int fd = io->open(io, path, O_RDONLY, 0, &e);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
        hist_free(path);
        return false;
    }
    bool ok = false;
    uint8_t *buf = NULL;
    off_t size = io->size(io, fd, &e);
    if (size < 0) {
        snprintf(err, err_len, "%s: cannot stat: %s", path, strerror(e));
    } else if ((uint64_t)size > SIZE_MAX - 1) {
        snprintf(err, err_len, "%s: too large", path);
    } else if (!(buf = hist_malloc((size_t)size))) {
        snprintf(err, err_len, "%s: out of memory reading %lld bytes", path, (long long)size);
    } else if (!hist_io_pread_all(io, fd, buf, (size_t)size, 0, &e)) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(e));
    } else {
        ok = true;
    }
    io->close(io, fd, &e);
    hist_free(path);
    if (!ok) {
        hist_free(buf);
        return false;
    }
    *data = buf;
    *len = (size_t)size;
    return true;
}

/* Walks the records of one file's bytes. False when fn stopped. */
static bool replay_records(const uint8_t *data, size_t len, uint64_t seq,
                           bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx,
                           struct hist_wal_replay_stats *stats)
{
    if (len < WAL_HEADER_BYTES || memcmp(data, WAL_MAGIC, 4) != 0 ||
        get_u32le(data + 4) != WAL_VERSION || get_u64le(data + 8) != seq) {
        stats->torn_records++;
        return true;
    }
    size_t pos = WAL_HEADER_BYTES;
    while (pos < len) {
        if (len - pos < WAL_RECORD_HEADER_BYTES) {
            stats->torn_records++;
            break;
        }
        uint32_t payload_len = get_u32le(data + pos);
        uint32_t crc = get_u32le(data + pos + 4);
        const uint8_t *payload = data + pos + WAL_RECORD_HEADER_BYTES;
        if (payload_len > len - pos - WAL_RECORD_HEADER_BYTES ||
            hc_crc32c(0, payload, payload_len) != crc ||
            !decode_payload(payload, payload_len, NULL, NULL, NULL)) {
            stats->torn_records++;
            break;
        }
        bool stopped = false;
        uint64_t count = 0;
        hc_get_uvarint(payload, payload_len, &count); /* validated above */
        decode_payload(payload, payload_len, fn, ctx, &stopped);
        if (stopped) return false;
        stats->records++;
        stats->samples += count;
        pos += WAL_RECORD_HEADER_BYTES + payload_len;
    }
    return true;
}

bool hist_wal_replay(const struct hist_io *io, const char *dir, uint64_t after_seq,
                     bool (*fn)(void *ctx, const struct hist_sample *s), void *ctx,
                     struct hist_wal_replay_stats *stats, char *err, size_t err_len)
{
    struct hist_wal_replay_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof(*stats));
    uint64_t *seqs;
    size_t count;
    int e = 0;
    if (!list_wal_files(dir, &seqs, &count, &e)) {
        snprintf(err, err_len, "%s: cannot list the write-ahead log: %s", dir,
                 e == ENOMEM ? "out of memory" : strerror(e));
        return false;
    }
    if (count > 0) stats->max_seq = seqs[count - 1];
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        if (seqs[i] <= after_seq) continue;
        uint8_t *data;
        size_t len;
        if (!read_wal_file(io, dir, seqs[i], &data, &len, err, err_len)) {
            ok = false;
            break;
        }
        stats->files++;
        if (!replay_records(data, len, seqs[i], fn, ctx, stats)) {
            snprintf(err, err_len, "write-ahead log replay stopped by the caller");
            ok = false;
        }
        hist_free(data);
    }
    hist_free(seqs);
    return ok;
}
