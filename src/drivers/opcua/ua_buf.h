/* Byte buffers for the OPC UA binary protocol: a bounds-checked reader, a
 * writer (growable heap buffer or the caller's fixed memory) and an arena
 * (bump allocator) for what decoding one message produces.
 *
 * All multi-byte scalars are little-endian (OPC UA Part 6, 5.2.2). The reader
 * and the writer have a sticky failure flag: after the first failure every
 * read returns 0 / NULL and every write does nothing, so a decoder can read a
 * whole structure and test for failure once at the end. The first failure is
 * kept with its byte offset and a short static reason ("String: length past
 * the end"), for error messages. Nothing here does I/O. */
#ifndef AIRLOCK_OPCUA_UA_BUF_H
#define AIRLOCK_OPCUA_UA_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/le.h"

/* ------------------------------------------------------------------ reader */

/* Reads data[0..len) front to back. data is never written nor freed; values
 * that point into it (ua_read_bytes, zero-copy strings) are valid while the
 * caller keeps data alive. */
struct ua_reader {
    const uint8_t *data;
    size_t len;
    size_t pos; /* next byte to read; never > len */
    /* Nesting level of the decoders of recursive types (Variant, DataValue,
     * DiagnosticInfo); 0 outside them. Managed by ua_types.h's decoders. */
    unsigned depth;
    bool failed;
    size_t fail_offset;      /* where the first failure was detected */
    const char *fail_reason; /* static string; NULL while !failed */
};

static inline void ua_reader_init(struct ua_reader *r, const void *data, size_t len)
{
    r->data = (const uint8_t *)data;
    r->len = len;
    r->pos = 0;
    r->depth = 0;
    r->failed = false;
    r->fail_offset = 0;
    r->fail_reason = NULL;
}

/* Marks the reader failed at offset with reason (static string), unless it
 * already failed (the first failure is kept). Returns false, so a decoder
 * can `return ua_reader_fail_at(...)`. */
static inline bool ua_reader_fail_at(struct ua_reader *r, size_t offset, const char *reason)
{
    if (!r->failed) {
        r->failed = true;
        r->fail_offset = offset;
        r->fail_reason = reason;
    }
    return false;
}

/* ua_reader_fail_at at the current position. */
static inline bool ua_reader_fail(struct ua_reader *r, const char *reason)
{
    return ua_reader_fail_at(r, r->pos, reason);
}

static inline bool ua_reader_ok(const struct ua_reader *r)
{
    return !r->failed;
}

/* Bytes left to read (0 after a failure). */
static inline size_t ua_reader_remaining(const struct ua_reader *r)
{
    return r->failed ? 0 : r->len - r->pos;
}

/* True when n more bytes can be read; otherwise fails the reader with
 * "truncated" and returns false. */
static inline bool ua_reader_need(struct ua_reader *r, size_t n)
{
    if (r->failed) return false;
    if (r->len - r->pos < n) return ua_reader_fail(r, "truncated");
    return true;
}

/* Returns a pointer to the next n bytes (zero-copy, into data) and skips
 * them; NULL (reader failed) when fewer than n remain. Never NULL on
 * success, even for n == 0. */
static inline const uint8_t *ua_read_bytes(struct ua_reader *r, size_t n)
{
    if (!ua_reader_need(r, n)) return NULL;
    if (!r->data) return (const uint8_t *)""; /* an empty reader over NULL */
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

/* Skips n bytes; false (reader failed) when fewer remain. */
static inline bool ua_read_skip(struct ua_reader *r, size_t n)
{
    return ua_read_bytes(r, n) != NULL;
}

/* Makes sub a reader over the next n bytes and skips them in r; on failure
 * sub is an empty, failed reader. Sub's failure offsets are relative to its
 * own start (add base - r->data to convert). */
static inline bool ua_reader_sub(struct ua_reader *r, size_t n, struct ua_reader *sub)
{
    const uint8_t *p = ua_read_bytes(r, n);
    ua_reader_init(sub, p, p ? n : 0);
    if (!p) ua_reader_fail(sub, "truncated");
    sub->depth = r->depth;
    return p != NULL;
}

/* Scalar readers: return the value, or 0 with the reader failed when too few
 * bytes remain (or it already failed). */
static inline uint8_t ua_read_u8(struct ua_reader *r)
{
    if (!ua_reader_need(r, 1)) return 0;
    return r->data[r->pos++];
}

/* Boolean: one byte; any non-zero byte is true (Part 6, 5.2.2.1). */
static inline bool ua_read_bool(struct ua_reader *r)
{
    return ua_read_u8(r) != 0;
}

static inline int8_t ua_read_i8(struct ua_reader *r)
{
    return (int8_t)ua_read_u8(r);
}

static inline uint16_t ua_read_u16(struct ua_reader *r)
{
    if (!ua_reader_need(r, 2)) return 0;
    const uint8_t *p = r->data + r->pos;
    r->pos += 2;
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline int16_t ua_read_i16(struct ua_reader *r)
{
    return (int16_t)ua_read_u16(r);
}

static inline uint32_t ua_read_u32(struct ua_reader *r)
{
    if (!ua_reader_need(r, 4)) return 0;
    uint32_t v = get_u32le(r->data + r->pos);
    r->pos += 4;
    return v;
}

static inline int32_t ua_read_i32(struct ua_reader *r)
{
    return (int32_t)ua_read_u32(r);
}

static inline uint64_t ua_read_u64(struct ua_reader *r)
{
    if (!ua_reader_need(r, 8)) return 0;
    uint64_t v = get_u64le(r->data + r->pos);
    r->pos += 8;
    return v;
}

static inline int64_t ua_read_i64(struct ua_reader *r)
{
    return (int64_t)ua_read_u64(r);
}

/* Float and Double: IEEE-754 bit patterns (NaN payloads kept). */
static inline float ua_read_float(struct ua_reader *r)
{
    uint32_t bits = ua_read_u32(r);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline double ua_read_double(struct ua_reader *r)
{
    uint64_t bits = ua_read_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ------------------------------------------------------------------ writer */

/* Appends to data[0..len). Two modes:
 *  - heap (ua_writer_init): data is malloc'd and grows as needed, never past
 *    limit_bytes; free it with ua_writer_free (or take it with
 *    ua_writer_release);
 *  - fixed (ua_writer_init_fixed): the caller's memory, never grown.
 * A write that would pass the limit (or a failed malloc) fails the writer:
 * nothing more is written and len stays where it was before that write. */
struct ua_writer {
    uint8_t *data;
    size_t len;         /* bytes written */
    size_t cap;         /* bytes available at data */
    size_t limit_bytes; /* the most len may ever reach */
    bool heap;          /* data is ours (malloc'd) */
    bool failed;
    const char *fail_reason; /* static string; NULL while !failed */
};

/* Heap mode: an empty writer that may grow up to limit_bytes. Allocates
 * nothing until the first write. */
void ua_writer_init(struct ua_writer *w, size_t limit_bytes);

/* Fixed mode over buf[0..cap); buf must outlive the writer's use. */
void ua_writer_init_fixed(struct ua_writer *w, void *buf, size_t cap);

/* Frees a heap writer's buffer (no-op in fixed mode) and leaves an empty
 * writer with the same mode and limit. */
void ua_writer_free(struct ua_writer *w);

/* Forgets what was written and any failure; keeps the buffer for reuse. */
static inline void ua_writer_reset(struct ua_writer *w)
{
    w->len = 0;
    w->failed = false;
    w->fail_reason = NULL;
}

/* Heap mode: hands the buffer (len bytes written, caller frees with free())
 * to the caller and leaves the writer empty. Returns NULL when nothing was
 * ever allocated, the writer failed, or in fixed mode. */
uint8_t *ua_writer_release(struct ua_writer *w, size_t *len);

/* Marks the writer failed with reason (static string) unless it already
 * failed. Returns false. */
static inline bool ua_writer_fail(struct ua_writer *w, const char *reason)
{
    if (!w->failed) {
        w->failed = true;
        w->fail_reason = reason;
    }
    return false;
}

static inline bool ua_writer_ok(const struct ua_writer *w)
{
    return !w->failed;
}

/* Slow path of ua_writer_space: grows a heap buffer to hold n more bytes
 * (and allocates the first buffer even for n == 0). */
bool ua_writer_grow(struct ua_writer *w, size_t n);

/* Returns a pointer to n writable bytes at the end and counts them as
 * written; NULL (writer failed) when they do not fit. */
static inline uint8_t *ua_writer_space(struct ua_writer *w, size_t n)
{
    if (w->failed) return NULL;
    if ((w->cap - w->len < n || !w->data) && !ua_writer_grow(w, n)) return NULL;
    uint8_t *p = w->data + w->len;
    w->len += n;
    return p;
}

/* Appends n bytes from p (p may be NULL when n is 0). */
static inline bool ua_write_bytes(struct ua_writer *w, const void *p, size_t n)
{
    uint8_t *dst = ua_writer_space(w, n);
    if (!dst) return false;
    if (n) memcpy(dst, p, n);
    return true;
}

/* Scalar writers: false (writer failed) when there is no room. */
static inline bool ua_write_u8(struct ua_writer *w, uint8_t v)
{
    uint8_t *p = ua_writer_space(w, 1);
    if (!p) return false;
    p[0] = v;
    return true;
}

/* Boolean: 1 for true, 0 for false (Part 6, 5.2.2.1). */
static inline bool ua_write_bool(struct ua_writer *w, bool v)
{
    return ua_write_u8(w, v ? 1 : 0);
}

static inline bool ua_write_i8(struct ua_writer *w, int8_t v)
{
    return ua_write_u8(w, (uint8_t)v);
}

static inline bool ua_write_u16(struct ua_writer *w, uint16_t v)
{
    uint8_t *p = ua_writer_space(w, 2);
    if (!p) return false;
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return true;
}

static inline bool ua_write_i16(struct ua_writer *w, int16_t v)
{
    return ua_write_u16(w, (uint16_t)v);
}

static inline bool ua_write_u32(struct ua_writer *w, uint32_t v)
{
    uint8_t *p = ua_writer_space(w, 4);
    if (!p) return false;
    put_u32le(p, v);
    return true;
}

static inline bool ua_write_i32(struct ua_writer *w, int32_t v)
{
    return ua_write_u32(w, (uint32_t)v);
}

static inline bool ua_write_u64(struct ua_writer *w, uint64_t v)
{
    uint8_t *p = ua_writer_space(w, 8);
    if (!p) return false;
    put_u64le(p, v);
    return true;
}

static inline bool ua_write_i64(struct ua_writer *w, int64_t v)
{
    return ua_write_u64(w, (uint64_t)v);
}

static inline bool ua_write_float(struct ua_writer *w, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return ua_write_u32(w, bits);
}

static inline bool ua_write_double(struct ua_writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return ua_write_u64(w, bits);
}

/* Reserves n zeroed bytes to be filled in later (a length or size field
 * known only once the rest is written) and returns their offset; on failure
 * returns SIZE_MAX (the writer failed). */
static inline size_t ua_write_reserve(struct ua_writer *w, size_t n)
{
    uint8_t *p = ua_writer_space(w, n);
    if (!p) return SIZE_MAX;
    memset(p, 0, n);
    return (size_t)(p - w->data);
}

/* Overwrites the 4 bytes at offset (inside what was written, e.g. from
 * ua_write_reserve) with v, little-endian. Fails the writer when offset is
 * out of range (e.g. SIZE_MAX from a failed reserve). */
static inline bool ua_write_patch_u32(struct ua_writer *w, size_t offset, uint32_t v)
{
    if (w->failed) return false;
    if (offset > w->len || w->len - offset < 4) return ua_writer_fail(w, "patch out of range");
    put_u32le(w->data + offset, v);
    return true;
}

/* ------------------------------------------------------------------- arena */

/* A bump allocator for everything one decoded message holds (arrays,
 * nested values), freed at once. Allocations come from chunks of
 * chunk_bytes (a larger request gets a chunk of its own). The arena never
 * holds more than limit_bytes of chunks in total, so a hostile length field
 * cannot make it allocate without bound: an allocation past the limit fails
 * (returns NULL, sets failed) and the decoder reports it. */
struct ua_arena_chunk;
struct ua_arena {
    struct ua_arena_chunk *chunks; /* newest first */
    uint8_t *next, *end;           /* free space in the newest chunk */
    size_t chunk_bytes;
    size_t limit_bytes;
    size_t allocated_bytes; /* chunks held now, headers included */
    bool failed;            /* an allocation was refused since the last reset */
};

/* Alignment of every ua_arena_alloc result (enough for int64, double and
 * pointers). */
#define UA_ARENA_ALIGN 8u

/* An empty arena (nothing allocated yet). chunk_bytes 0 picks 64 KiB. */
void ua_arena_init(struct ua_arena *a, size_t chunk_bytes, size_t limit_bytes);

/* Frees everything except one standard chunk, kept for the next message;
 * every pointer the arena returned becomes invalid. Clears failed. */
void ua_arena_reset(struct ua_arena *a);

/* Frees everything; the arena can be used again (as after init). */
void ua_arena_free(struct ua_arena *a);

/* Slow path of ua_arena_alloc: a new chunk. */
void *ua_arena_alloc_slow(struct ua_arena *a, size_t size);

/* size bytes aligned to UA_ARENA_ALIGN, uninitialised; NULL (and failed
 * set) when size is 0, the limit would be passed or malloc fails. */
static inline void *ua_arena_alloc(struct ua_arena *a, size_t size)
{
    size_t rounded = (size + (UA_ARENA_ALIGN - 1)) & ~(size_t)(UA_ARENA_ALIGN - 1);
    if (size && rounded >= size && (uintptr_t)a->end - (uintptr_t)a->next >= rounded) {
        void *p = a->next;
        a->next += rounded;
        return p;
    }
    return ua_arena_alloc_slow(a, size);
}

/* count elements of elem_size bytes, zeroed; NULL (failed set) on overflow,
 * limit or malloc failure. count 0 returns NULL without failing. */
static inline void *ua_arena_alloc_array(struct ua_arena *a, size_t count, size_t elem_size)
{
    if (count == 0) return NULL;
    if (elem_size && count > SIZE_MAX / elem_size) {
        a->failed = true;
        return NULL;
    }
    void *p = ua_arena_alloc(a, count * elem_size);
    if (p) memset(p, 0, count * elem_size);
    return p;
}

#endif
