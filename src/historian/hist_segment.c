/* Segment files (see hist_segment.h): the writer buffers encoded chunks and
 * flushes them in large writes, then appends a fixed-size index entry per
 * chunk and a footer; the reader validates header, footer and index on open
 * and reads chunks on demand with pread, so one reader serves many threads.
 *
 * Byte layout, all little-endian, every field serialised explicitly:
 *   header (32): magic u32 "AHSG", version u32, group_id u32, reserved u32,
 *                partition_start_ns i64, wal_upto u64
 *   chunks:      each as made by hist_chunk_encode
 *   index:       entry_count entries of SEG_ENTRY_BYTES:
 *                offset u64, size u32, series_id u32, type u32,
 *                payload_bytes u32, crc u32, count u32, good u32,
 *                uncertain u32, bad u32, t_min i64, t_max i64, min f64,
 *                max f64, sum f64, mean f64, m2 f64, first f64, last f64,
 *                t_first i64, t_last i64
 *   footer (32): index_offset u64, index_bytes u64, entry_count u32,
 *                index_crc u32 (CRC-32C of the index), footer_crc u32
 *                (CRC-32C of the footer's first 24 bytes), magic u32 "AHSF" */
#include "historian/hist_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"
#include "core/le.h"
#include "historian/hist_alloc.h"

#define SEG_MAGIC 0x47534841u        /* "AHSG" little-endian */
#define SEG_FOOTER_MAGIC 0x46534841u /* "AHSF" little-endian */
#define SEG_VERSION 1u
#define SEG_HEADER_BYTES 32u
#define SEG_FOOTER_BYTES 32u
#define SEG_ENTRY_BYTES 132u
#define SEG_FLUSH_BYTES ((size_t)1 << 20)

/* A heap copy of s through hist_malloc; NULL when out of memory. */
static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = hist_malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

/* ---- index entries ---- */

/* Serialises e into p[0..SEG_ENTRY_BYTES). */
static void entry_encode(uint8_t *p, const struct hist_seg_entry *e)
{
    const struct hist_chunk_header *h = &e->chunk;
    const struct hist_summary *s = &h->summary;
    put_u64le(p, e->offset);
    put_u32le(p + 8, e->size);
    put_u32le(p + 12, h->series_id);
    put_u32le(p + 16, (uint32_t)h->type);
    put_u32le(p + 20, h->payload_bytes);
    put_u32le(p + 24, h->crc);
    put_u32le(p + 28, s->count);
    put_u32le(p + 32, s->good);
    put_u32le(p + 36, s->uncertain);
    put_u32le(p + 40, s->bad);
    put_u64le(p + 44, (uint64_t)s->t_min);
    put_u64le(p + 52, (uint64_t)s->t_max);
    put_f64le(p + 60, s->min);
    put_f64le(p + 68, s->max);
    put_f64le(p + 76, s->sum);
    put_f64le(p + 84, s->mean);
    put_f64le(p + 92, s->m2);
    put_f64le(p + 100, s->first);
    put_f64le(p + 108, s->last);
    put_u64le(p + 116, (uint64_t)s->t_first);
    put_u64le(p + 124, (uint64_t)s->t_last);
}

/* Parses p[0..SEG_ENTRY_BYTES) into e. False when the type is unknown. */
static bool entry_decode(const uint8_t *p, struct hist_seg_entry *e)
{
    struct hist_chunk_header *h = &e->chunk;
    struct hist_summary *s = &h->summary;
    uint32_t type = get_u32le(p + 16);
    if (type > (uint32_t)VALUE_STRING) return false;
    e->offset = get_u64le(p);
    e->size = get_u32le(p + 8);
    h->series_id = get_u32le(p + 12);
    h->type = (enum value_type)type;
    h->payload_bytes = get_u32le(p + 20);
    h->crc = get_u32le(p + 24);
    s->count = get_u32le(p + 28);
    s->good = get_u32le(p + 32);
    s->uncertain = get_u32le(p + 36);
    s->bad = get_u32le(p + 40);
    s->t_min = (int64_t)get_u64le(p + 44);
    s->t_max = (int64_t)get_u64le(p + 52);
    s->min = get_f64le(p + 60);
    s->max = get_f64le(p + 68);
    s->sum = get_f64le(p + 76);
    s->mean = get_f64le(p + 84);
    s->m2 = get_f64le(p + 92);
    s->first = get_f64le(p + 100);
    s->last = get_f64le(p + 108);
    s->t_first = (int64_t)get_u64le(p + 116);
    s->t_last = (int64_t)get_u64le(p + 124);
    return true;
}

/* ---- writer ---- */

struct hist_segment_writer {
    const struct hist_io *io;
    int fd;
    char *tmp_path;
    struct hist_segment_meta meta;
    struct hc_buf out;      /* bytes not yet written to the file */
    uint64_t flushed_bytes; /* bytes already written to the file */
    struct hist_seg_entry *entries;
    size_t entry_count, entry_cap;
    bool failed; /* an add failed: only abort is allowed */
};

uint64_t hist_segw_points(const struct hist_segment_writer *w)
{
    uint64_t points = 0;
    for (size_t i = 0; i < w->entry_count; i++)
        points += w->entries[i].chunk.summary.count;
    return points;
}

/* Closes the writer's file (if open) and unlinks its temporary file. */
static void writer_discard_file(struct hist_segment_writer *w)
{
    int ignored;
    if (w->fd >= 0) {
        w->io->close(w->io, w->fd, &ignored);
        w->fd = -1;
    }
    w->io->unlink(w->io, w->tmp_path, &ignored);
}

/* Frees the writer's memory (the file must be closed already). */
static void writer_free(struct hist_segment_writer *w)
{
    hc_buf_free(&w->out);
    hist_free(w->entries);
    hist_free(w->tmp_path);
    hist_free(w);
}

struct hist_segment_writer *hist_segw_begin(const struct hist_io *io, const char *tmp_path,
                                            const struct hist_segment_meta *meta, char *err,
                                            size_t err_len)
{
    struct hist_segment_writer *w = hist_calloc(1, sizeof *w);
    if (!w) {
        errbuf_set(err, err_len, "segment %s: out of memory", tmp_path);
        return NULL;
    }
    w->io = io;
    w->fd = -1;
    w->meta = *meta;
    hc_buf_init(&w->out);
    w->tmp_path = copy_string(tmp_path);
    if (!w->tmp_path || !hc_buf_reserve(&w->out, SEG_FLUSH_BYTES + SEG_FLUSH_BYTES / 4)) {
        errbuf_set(err, err_len, "segment %s: out of memory", tmp_path);
        writer_free(w);
        return NULL;
    }
    int e = 0;
    w->fd = io->open(io, tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, &e);
    if (w->fd < 0) {
        errbuf_set(err, err_len, "segment %s: create: %s", tmp_path, strerror(e));
        writer_free(w);
        return NULL;
    }
    uint8_t header[SEG_HEADER_BYTES] = {0};
    put_u32le(header, SEG_MAGIC);
    put_u32le(header + 4, SEG_VERSION);
    put_u32le(header + 8, meta->group_id);
    put_u64le(header + 16, (uint64_t)meta->partition_start_ns);
    put_u64le(header + 24, meta->wal_upto);
    hc_buf_put(&w->out, header, sizeof header); /* cannot fail: reserved above */
    return w;
}

/* Writes the buffered bytes to the file. False with the reason in err. */
static bool writer_flush(struct hist_segment_writer *w, char *err, size_t err_len)
{
    if (w->out.len == 0) return true;
    int e = 0;
    if (!hist_io_write_all(w->io, w->fd, w->out.data, w->out.len, &e)) {
        errbuf_set(err, err_len, "segment %s: write: %s", w->tmp_path, strerror(e));
        return false;
    }
    w->flushed_bytes += w->out.len;
    w->out.len = 0;
    return true;
}

/* Makes room for one more index entry. False on out of memory. */
static bool writer_reserve_entry(struct hist_segment_writer *w)
{
    if (w->entry_count < w->entry_cap) return true;
    size_t cap = w->entry_cap ? w->entry_cap * 2 : 256;
    struct hist_seg_entry *grown = hist_realloc(w->entries, cap * sizeof *grown);
    if (!grown) return false;
    w->entries = grown;
    w->entry_cap = cap;
    return true;
}

/* Checks that a chunk of series_id starting at t_min may follow the last
 * one added. False with the reason in err. */
static bool writer_check_order(const struct hist_segment_writer *w, uint32_t series_id,
                               int64_t t_min, char *err, size_t err_len)
{
    if (w->entry_count == 0) return true;
    const struct hist_chunk_header *last = &w->entries[w->entry_count - 1].chunk;
    if (series_id > last->series_id) return true;
    if (series_id == last->series_id && t_min >= last->summary.t_min) return true;
    errbuf_set(err, err_len,
               "segment %s: chunk of series %u at t_min %lld out of order (after series %u at "
               "t_min %lld)",
               w->tmp_path, series_id, (long long)t_min, last->series_id,
               (long long)last->summary.t_min);
    return false;
}

/* Records the chunk just appended at out[start..) and flushes when the
 * buffer is full. False with the reason in err. */
static bool writer_commit_chunk(struct hist_segment_writer *w, size_t start,
                                const struct hist_chunk_header *header, char *err, size_t err_len)
{
    size_t size = w->out.len - start;
    if (size > UINT32_MAX) {
        errbuf_set(err, err_len, "segment %s: chunk of %zu bytes too large", w->tmp_path, size);
        return false;
    }
    struct hist_seg_entry *e = &w->entries[w->entry_count++];
    e->offset = w->flushed_bytes + start;
    e->size = (uint32_t)size;
    e->chunk = *header;
    if (w->out.len >= SEG_FLUSH_BYTES) return writer_flush(w, err, err_len);
    return true;
}

bool hist_segw_add(struct hist_segment_writer *w, uint32_t series_id, const struct hist_columns *c,
                   char *err, size_t err_len)
{
    if (w->failed) {
        errbuf_set(err, err_len, "segment %s: writer failed earlier", w->tmp_path);
        return false;
    }
    w->failed = true; /* until this add succeeds */
    if (c->count == 0) {
        errbuf_set(err, err_len, "segment %s: empty chunk for series %u", w->tmp_path, series_id);
        return false;
    }
    for (uint32_t i = 1; i < c->count; i++) {
        if (c->ts[i] < c->ts[i - 1]) {
            errbuf_set(err, err_len, "segment %s: samples of series %u not sorted by time",
                       w->tmp_path, series_id);
            return false;
        }
    }
    if (!writer_check_order(w, series_id, c->ts[0], err, err_len)) return false;
    if (!writer_reserve_entry(w)) {
        errbuf_set(err, err_len, "segment %s: out of memory", w->tmp_path);
        return false;
    }
    size_t start = w->out.len;
    struct hist_chunk_header header;
    if (!hist_chunk_encode(&w->out, series_id, c, &header)) {
        errbuf_set(err, err_len, "segment %s: out of memory encoding series %u", w->tmp_path,
                   series_id);
        return false;
    }
    if (!writer_commit_chunk(w, start, &header, err, err_len)) return false;
    w->failed = false;
    return true;
}

bool hist_segw_add_raw(struct hist_segment_writer *w, const struct hist_seg_entry *e,
                       const uint8_t *chunk, char *err, size_t err_len)
{
    if (w->failed) {
        errbuf_set(err, err_len, "segment %s: writer failed earlier", w->tmp_path);
        return false;
    }
    w->failed = true; /* until this add succeeds */
    struct hist_chunk_header header;
    char why[160];
    if (!hist_chunk_parse_header(chunk, e->size, &header, why, sizeof why)) {
        errbuf_set(err, err_len, "segment %s: copied chunk of series %u: %s", w->tmp_path,
                   e->chunk.series_id, why);
        return false;
    }
    if ((uint64_t)HIST_CHUNK_HEADER_BYTES + header.payload_bytes != e->size ||
        header.series_id != e->chunk.series_id || header.type != e->chunk.type ||
        header.crc != e->chunk.crc) {
        errbuf_set(err, err_len, "segment %s: copied chunk of series %u does not match its entry",
                   w->tmp_path, e->chunk.series_id);
        return false;
    }
    if (!writer_check_order(w, header.series_id, header.summary.t_min, err, err_len)) return false;
    if (!writer_reserve_entry(w)) {
        errbuf_set(err, err_len, "segment %s: out of memory", w->tmp_path);
        return false;
    }
    size_t start = w->out.len;
    if (!hc_buf_put(&w->out, chunk, e->size)) {
        errbuf_set(err, err_len, "segment %s: out of memory copying a chunk", w->tmp_path);
        return false;
    }
    if (!writer_commit_chunk(w, start, &header, err, err_len)) return false;
    w->failed = false;
    return true;
}

/* Appends the index and footer to the buffer. False on out of memory. */
static bool writer_append_index(struct hist_segment_writer *w)
{
    if ((uint64_t)w->entry_count > UINT32_MAX) return false;
    size_t index_bytes = w->entry_count * SEG_ENTRY_BYTES;
    if (!hc_buf_reserve(&w->out, index_bytes + SEG_FOOTER_BYTES)) return false;
    uint64_t index_offset = w->flushed_bytes + w->out.len;
    uint8_t *index = w->out.data + w->out.len;
    for (size_t i = 0; i < w->entry_count; i++)
        entry_encode(index + i * SEG_ENTRY_BYTES, &w->entries[i]);
    uint8_t *footer = index + index_bytes;
    put_u64le(footer, index_offset);
    put_u64le(footer + 8, index_bytes);
    put_u32le(footer + 16, (uint32_t)w->entry_count);
    put_u32le(footer + 20, hc_crc32c(0, index, index_bytes));
    put_u32le(footer + 24, hc_crc32c(0, footer, 24));
    put_u32le(footer + 28, SEG_FOOTER_MAGIC);
    w->out.len += index_bytes + SEG_FOOTER_BYTES;
    return true;
}

/* The directory part of path into dir ("." when none). */
static void directory_of(const char *path, char *dir, size_t dir_len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_len, ".");
    } else if (slash == path) {
        snprintf(dir, dir_len, "/");
    } else {
        snprintf(dir, dir_len, "%.*s", (int)(slash - path), path);
    }
}

/* Writes, syncs, closes and renames the file. False with the reason in err
 * (the caller cleans up). */
static bool writer_complete_file(struct hist_segment_writer *w, const char *final_path, char *err,
                                 size_t err_len)
{
    if (!writer_append_index(w)) {
        errbuf_set(err, err_len, "segment %s: out of memory writing the index", w->tmp_path);
        return false;
    }
    if (!writer_flush(w, err, err_len)) return false;
    int e = 0;
    if (w->io->fsync(w->io, w->fd, &e) != 0) {
        errbuf_set(err, err_len, "segment %s: fsync: %s", w->tmp_path, strerror(e));
        return false;
    }
    int fd = w->fd;
    w->fd = -1;
    if (w->io->close(w->io, fd, &e) != 0) {
        errbuf_set(err, err_len, "segment %s: close: %s", w->tmp_path, strerror(e));
        return false;
    }
    if (w->io->rename(w->io, w->tmp_path, final_path, &e) != 0) {
        errbuf_set(err, err_len, "segment %s: rename to %s: %s", w->tmp_path, final_path,
                   strerror(e));
        return false;
    }
    return true;
}

bool hist_segw_finish(struct hist_segment_writer *w, const char *final_path, uint64_t *bytes,
                      char *err, size_t err_len)
{
    if (w->failed) {
        errbuf_set(err, err_len, "segment %s: writer failed earlier", w->tmp_path);
        hist_segw_abort(w);
        return false;
    }
    if (!writer_complete_file(w, final_path, err, err_len)) {
        hist_segw_abort(w);
        return false;
    }
    uint64_t total = w->flushed_bytes;
    char dir[4096];
    directory_of(final_path, dir, sizeof dir);
    int e = 0;
    bool ok = hist_io_sync_dir(w->io, dir, &e);
    if (!ok) {
        /* The rename may not survive a crash: report failure and leave
         * nothing behind, so the caller keeps the log and retries. */
        int ignored;
        w->io->unlink(w->io, final_path, &ignored);
        errbuf_set(err, err_len, "segment %s: fsync of directory %s: %s", final_path, dir,
                   strerror(e));
    } else if (bytes) {
        *bytes = total;
    }
    writer_free(w);
    return ok;
}

void hist_segw_abort(struct hist_segment_writer *w)
{
    if (!w) return;
    writer_discard_file(w);
    writer_free(w);
}

/* ---- reader ---- */

struct hist_segment {
    const struct hist_io *io;
    int fd;
    char *path;
    struct hist_segment_meta meta;
    uint64_t file_bytes;
    uint64_t chunks_end; /* the index offset: chunks lie in [32, chunks_end) */
    size_t entry_count;
    uint64_t index_bytes; /* on disk */
    uint32_t index_crc;
    /* The index in memory, loaded on first use (index_lock) and dropped by
     * hist_seg_unload_index; a failed load is remembered with its reason. */
    pthread_mutex_t index_lock;
    bool index_loaded, index_failed;
    char index_error[256];
    _Atomic uint64_t last_use;
    struct hist_seg_entry *entries;
    /* max of t_max over the entries of the same series up to and including
     * i: non-decreasing within a series, so find can binary-search it. */
    int64_t *running_t_max;
};

/* A clock of index uses, for least-recently-used unloading. */
static _Atomic uint64_t index_use_clock;

void hist_seg_close(struct hist_segment *s)
{
    if (!s) return;
    int ignored;
    if (s->fd >= 0) s->io->close(s->io, s->fd, &ignored);
    hist_free(s->running_t_max);
    hist_free(s->entries);
    hist_free(s->path);
    pthread_mutex_destroy(&s->index_lock);
    hist_free(s);
}

/* Reads and checks the 32-byte header. False with the reason in err. */
static bool seg_read_header(struct hist_segment *s, char *err, size_t err_len)
{
    uint8_t header[SEG_HEADER_BYTES];
    int e = 0;
    if (!hist_io_pread_all(s->io, s->fd, header, sizeof header, 0, &e)) {
        errbuf_set(err, err_len, "segment %s: reading header: %s", s->path, strerror(e));
        return false;
    }
    if (get_u32le(header) != SEG_MAGIC) {
        errbuf_set(err, err_len, "segment %s: bad magic (not a segment file)", s->path);
        return false;
    }
    if (get_u32le(header + 4) != SEG_VERSION) {
        errbuf_set(err, err_len, "segment %s: unsupported version %u", s->path,
                   get_u32le(header + 4));
        return false;
    }
    s->meta.group_id = get_u32le(header + 8);
    s->meta.partition_start_ns = (int64_t)get_u64le(header + 16);
    s->meta.wal_upto = get_u64le(header + 24);
    return true;
}

/* Reads and checks the footer; sets index offset, size and CRC. */
static bool seg_read_footer(struct hist_segment *s, uint64_t *index_bytes, uint32_t *index_crc,
                            char *err, size_t err_len)
{
    uint8_t footer[SEG_FOOTER_BYTES];
    int e = 0;
    if (!hist_io_pread_all(s->io, s->fd, footer, sizeof footer,
                           (off_t)(s->file_bytes - SEG_FOOTER_BYTES), &e)) {
        errbuf_set(err, err_len, "segment %s: reading footer: %s", s->path, strerror(e));
        return false;
    }
    if (get_u32le(footer + 28) != SEG_FOOTER_MAGIC) {
        errbuf_set(err, err_len, "segment %s: bad footer magic (truncated or incomplete)", s->path);
        return false;
    }
    if (hc_crc32c(0, footer, 24) != get_u32le(footer + 24)) {
        errbuf_set(err, err_len, "segment %s: footer checksum mismatch", s->path);
        return false;
    }
    uint64_t index_offset = get_u64le(footer);
    uint64_t count = get_u32le(footer + 16);
    *index_bytes = get_u64le(footer + 8);
    *index_crc = get_u32le(footer + 20);
    uint64_t index_end = s->file_bytes - SEG_FOOTER_BYTES;
    if (index_offset < SEG_HEADER_BYTES || index_offset > index_end ||
        *index_bytes != index_end - index_offset || *index_bytes != count * SEG_ENTRY_BYTES) {
        errbuf_set(err, err_len,
                   "segment %s: index (offset %llu, %llu bytes, %llu entries) does not fit the "
                   "file of %llu bytes",
                   s->path, (unsigned long long)index_offset, (unsigned long long)*index_bytes,
                   (unsigned long long)count, (unsigned long long)s->file_bytes);
        return false;
    }
    s->chunks_end = index_offset;
    s->entry_count = (size_t)count;
    return true;
}

/* Checks entry i against the file and its predecessor. */
static bool seg_check_entry(const struct hist_segment *s, size_t i, char *err, size_t err_len)
{
    const struct hist_seg_entry *e = &s->entries[i];
    const struct hist_summary *sum = &e->chunk.summary;
    if (e->offset < SEG_HEADER_BYTES || e->offset > s->chunks_end ||
        e->size > s->chunks_end - e->offset ||
        (uint64_t)e->size != (uint64_t)HIST_CHUNK_HEADER_BYTES + e->chunk.payload_bytes) {
        errbuf_set(err, err_len,
                   "segment %s: index entry %zu (offset %llu, %u bytes) is out of bounds", s->path,
                   i, (unsigned long long)e->offset, e->size);
        return false;
    }
    if (sum->count == 0 || sum->t_min > sum->t_max) {
        errbuf_set(err, err_len, "segment %s: index entry %zu has an invalid summary", s->path, i);
        return false;
    }
    if (i > 0) {
        const struct hist_seg_entry *prev = &s->entries[i - 1];
        if (prev->chunk.series_id > e->chunk.series_id ||
            (prev->chunk.series_id == e->chunk.series_id &&
             prev->chunk.summary.t_min > sum->t_min)) {
            errbuf_set(err, err_len, "segment %s: index entry %zu out of order", s->path, i);
            return false;
        }
    }
    return true;
}

/* Reads, checks and parses the index. False with the reason in err. */
static bool seg_load_index(struct hist_segment *s, uint64_t index_bytes, uint32_t index_crc,
                           char *err, size_t err_len)
{
    uint8_t *index = hist_malloc((size_t)index_bytes);
    s->entries = hist_calloc(s->entry_count, sizeof *s->entries);
    s->running_t_max = hist_calloc(s->entry_count, sizeof *s->running_t_max);
    if (!index || !s->entries || !s->running_t_max) {
        errbuf_set(err, err_len, "segment %s: out of memory for %zu index entries", s->path,
                   s->entry_count);
        hist_free(index);
        return false;
    }
    int e = 0;
    if (!hist_io_pread_all(s->io, s->fd, index, (size_t)index_bytes, (off_t)s->chunks_end, &e)) {
        errbuf_set(err, err_len, "segment %s: reading index: %s", s->path, strerror(e));
        hist_free(index);
        return false;
    }
    if (hc_crc32c(0, index, (size_t)index_bytes) != index_crc) {
        errbuf_set(err, err_len, "segment %s: index checksum mismatch", s->path);
        hist_free(index);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < s->entry_count; i++) {
        if (!entry_decode(index + i * SEG_ENTRY_BYTES, &s->entries[i])) {
            errbuf_set(err, err_len, "segment %s: index entry %zu has an unknown value type",
                       s->path, i);
            ok = false;
        } else if (!seg_check_entry(s, i, err, err_len)) {
            ok = false;
        } else {
            int64_t t_max = s->entries[i].chunk.summary.t_max;
            bool same_series =
                i > 0 && s->entries[i - 1].chunk.series_id == s->entries[i].chunk.series_id;
            s->running_t_max[i] =
                same_series && s->running_t_max[i - 1] > t_max ? s->running_t_max[i - 1] : t_max;
        }
    }
    hist_free(index);
    return ok;
}

/* Opens path and checks header and footer, without reading the index. */
static struct hist_segment *open_segment(const struct hist_io *io, const char *path, char *err,
                                         size_t err_len)
{
    struct hist_segment *s = hist_calloc(1, sizeof *s);
    if (!s) {
        errbuf_set(err, err_len, "segment %s: out of memory", path);
        return NULL;
    }
    s->io = io;
    s->fd = -1;
    pthread_mutex_init(&s->index_lock, NULL);
    s->path = copy_string(path);
    if (!s->path) {
        errbuf_set(err, err_len, "segment %s: out of memory", path);
        hist_seg_close(s);
        return NULL;
    }
    int e = 0;
    s->fd = io->open(io, path, O_RDONLY | O_CLOEXEC, 0, &e);
    if (s->fd < 0) {
        errbuf_set(err, err_len, "segment %s: open: %s", path, strerror(e));
        hist_seg_close(s);
        return NULL;
    }
    off_t size = io->size(io, s->fd, &e);
    if (size < 0) {
        errbuf_set(err, err_len, "segment %s: size: %s", path, strerror(e));
        hist_seg_close(s);
        return NULL;
    }
    s->file_bytes = (uint64_t)size;
    if (s->file_bytes < SEG_HEADER_BYTES + SEG_FOOTER_BYTES) {
        errbuf_set(err, err_len, "segment %s: truncated (%llu bytes)", path,
                   (unsigned long long)s->file_bytes);
        hist_seg_close(s);
        return NULL;
    }
    if (!seg_read_header(s, err, err_len) ||
        !seg_read_footer(s, &s->index_bytes, &s->index_crc, err, err_len)) {
        hist_seg_close(s);
        return NULL;
    }
    return s;
}

/* Loads the index unless loaded (or known bad). True when it is in memory.
 * The segment is logically const: loading only fills a cache. */
static bool ensure_index(const struct hist_segment *cs)
{
    struct hist_segment *s = (struct hist_segment *)cs;
    atomic_store(&s->last_use, atomic_fetch_add(&index_use_clock, 1) + 1);
    pthread_mutex_lock(&s->index_lock);
    if (!s->index_loaded && !s->index_failed) {
        char err[256];
        if (seg_load_index(s, s->index_bytes, s->index_crc, err, sizeof err)) {
            s->index_loaded = true;
        } else {
            hist_free(s->entries);
            hist_free(s->running_t_max);
            s->entries = NULL;
            s->running_t_max = NULL;
            /* Out of memory is not the file's fault: try again next time. */
            if (!hist_is_out_of_memory(err)) s->index_failed = true;
            snprintf(s->index_error, sizeof s->index_error, "%s", err);
        }
    }
    bool loaded = s->index_loaded;
    pthread_mutex_unlock(&s->index_lock);
    return loaded;
}

struct hist_segment *hist_seg_open(const struct hist_io *io, const char *path, char *err,
                                   size_t err_len)
{
    struct hist_segment *s = open_segment(io, path, err, err_len);
    if (s && !ensure_index(s)) {
        errbuf_set(err, err_len, "%s", s->index_error);
        hist_seg_close(s);
        return NULL;
    }
    return s;
}

struct hist_segment *hist_seg_open_lazy(const struct hist_io *io, const char *path, char *err,
                                        size_t err_len)
{
    return open_segment(io, path, err, err_len);
}

const char *hist_seg_index_error(const struct hist_segment *s)
{
    ensure_index(s);
    return s->index_loaded ? NULL : s->index_error;
}

size_t hist_seg_index_memory(const struct hist_segment *s)
{
    return s->index_loaded ? s->entry_count * (sizeof *s->entries + sizeof *s->running_t_max) : 0;
}

uint64_t hist_seg_last_use(const struct hist_segment *s)
{
    return atomic_load(&s->last_use);
}

void hist_seg_unload_index(struct hist_segment *s)
{
    pthread_mutex_lock(&s->index_lock);
    hist_free(s->entries);
    hist_free(s->running_t_max);
    s->entries = NULL;
    s->running_t_max = NULL;
    s->index_loaded = false;
    pthread_mutex_unlock(&s->index_lock);
}

const struct hist_segment_meta *hist_seg_meta(const struct hist_segment *s)
{
    return &s->meta;
}

uint64_t hist_seg_bytes(const struct hist_segment *s)
{
    return s->file_bytes;
}

size_t hist_seg_entry_count(const struct hist_segment *s)
{
    return s->entry_count;
}

const struct hist_seg_entry *hist_seg_entries(const struct hist_segment *s)
{
    return ensure_index(s) ? s->entries : NULL;
}

/* The first index in [lo, hi) whose series id is >= series_id. */
static size_t lower_bound_series(const struct hist_segment *s, size_t lo, size_t hi,
                                 uint32_t series_id)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->entries[mid].chunk.series_id < series_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t hist_seg_find(const struct hist_segment *s, uint32_t series_id, int64_t from, int64_t to,
                     const struct hist_seg_entry **first)
{
    *first = NULL;
    if (from >= to || s->entry_count == 0 || !ensure_index(s)) return 0;
    size_t series_begin = lower_bound_series(s, 0, s->entry_count, series_id);
    size_t series_end = series_id == UINT32_MAX
                            ? s->entry_count
                            : lower_bound_series(s, series_begin, s->entry_count, series_id + 1);
    /* First entry with t_max >= from: the running max is monotone. */
    size_t lo = series_begin, hi = series_end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->running_t_max[mid] < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t run_begin = lo;
    /* First entry with t_min >= to: entries are sorted by t_min. */
    hi = series_end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->entries[mid].chunk.summary.t_min < to)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t run_end = lo;
    /* With overlapping chunks the run could end on chunks that finish
     * before from: trim them (never more than one step without overlap). */
    while (run_end > run_begin && s->entries[run_end - 1].chunk.summary.t_max < from)
        run_end--;
    if (run_end <= run_begin) return 0;
    *first = &s->entries[run_begin];
    return run_end - run_begin;
}

bool hist_seg_read_raw(const struct hist_segment *s, const struct hist_seg_entry *e, uint8_t *buf,
                       char *err, size_t err_len)
{
    if (e->offset < SEG_HEADER_BYTES || e->offset > s->chunks_end ||
        e->size > s->chunks_end - e->offset) {
        errbuf_set(err, err_len, "segment %s: chunk at offset %llu out of bounds", s->path,
                   (unsigned long long)e->offset);
        return false;
    }
    int error = 0;
    if (!hist_io_pread_all(s->io, s->fd, buf, e->size, (off_t)e->offset, &error)) {
        errbuf_set(err, err_len, "segment %s: reading chunk at offset %llu: %s", s->path,
                   (unsigned long long)e->offset, strerror(error));
        return false;
    }
    return true;
}

/* Checks that the chunk in buf is the one entry e describes. */
static bool chunk_matches_entry(const struct hist_segment *s, const struct hist_seg_entry *e,
                                const uint8_t *buf, char *err, size_t err_len)
{
    struct hist_chunk_header header;
    char why[160];
    if (!hist_chunk_parse_header(buf, e->size, &header, why, sizeof why)) {
        errbuf_set(err, err_len, "segment %s: chunk at offset %llu (series %u): %s", s->path,
                   (unsigned long long)e->offset, e->chunk.series_id, why);
        return false;
    }
    if (header.series_id != e->chunk.series_id || header.type != e->chunk.type ||
        header.crc != e->chunk.crc || header.payload_bytes != e->chunk.payload_bytes) {
        errbuf_set(err, err_len,
                   "segment %s: chunk at offset %llu (series %u) does not match its index entry",
                   s->path, (unsigned long long)e->offset, e->chunk.series_id);
        return false;
    }
    return true;
}

bool hist_seg_read_chunk(const struct hist_segment *s, const struct hist_seg_entry *e,
                         struct hist_columns *out, char *err, size_t err_len)
{
    if (out->type != e->chunk.type) {
        errbuf_set(err, err_len, "segment %s: chunk at offset %llu is %s, columns are %s", s->path,
                   (unsigned long long)e->offset, value_type_name(e->chunk.type),
                   value_type_name(out->type));
        return false;
    }
    uint8_t *buf = hist_malloc(e->size);
    if (!buf) {
        errbuf_set(err, err_len, "segment %s: out of memory reading a chunk", s->path);
        return false;
    }
    bool ok =
        hist_seg_read_raw(s, e, buf, err, err_len) && chunk_matches_entry(s, e, buf, err, err_len);
    if (ok) {
        char why[160];
        ok = hist_chunk_decode(buf, e->size, out, why, sizeof why);
        if (!ok)
            errbuf_set(err, err_len, "segment %s: chunk at offset %llu (series %u): %s", s->path,
                       (unsigned long long)e->offset, e->chunk.series_id, why);
    }
    hist_free(buf);
    return ok;
}
