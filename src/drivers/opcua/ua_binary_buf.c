/* The slow paths of ua_buf.h: growing a heap writer, and the arena's
 * chunks. Everything else there is inline. */
#include <stdlib.h>

#include "drivers/opcua/ua_buf.h"

/* The first heap allocation of a writer. */
#define UA_WRITER_FIRST_BYTES 256u
#define UA_ARENA_DEFAULT_CHUNK_BYTES (64u * 1024u)

void ua_writer_init(struct ua_writer *w, size_t limit_bytes)
{
    *w = (struct ua_writer){.limit_bytes = limit_bytes, .heap = true};
}

void ua_writer_init_fixed(struct ua_writer *w, void *buf, size_t cap)
{
    *w = (struct ua_writer){.data = buf, .cap = buf ? cap : 0, .limit_bytes = buf ? cap : 0};
}

void ua_writer_free(struct ua_writer *w)
{
    if (w->heap) {
        free(w->data);
        *w = (struct ua_writer){.limit_bytes = w->limit_bytes, .heap = true};
    } else {
        ua_writer_reset(w);
    }
}

uint8_t *ua_writer_release(struct ua_writer *w, size_t *len)
{
    if (!w->heap || w->failed || !w->data) {
        if (len) *len = 0;
        return NULL;
    }
    uint8_t *p = w->data;
    if (len) *len = w->len;
    *w = (struct ua_writer){.limit_bytes = w->limit_bytes, .heap = true};
    return p;
}

bool ua_writer_grow(struct ua_writer *w, size_t n)
{
    if (w->failed) return false;
    if (n > w->limit_bytes || w->len > w->limit_bytes - n)
        return ua_writer_fail(w, "message size limit reached");
    if (!w->heap) return ua_writer_fail(w, "buffer full");
    size_t need = w->len + n;
    size_t cap = w->cap ? w->cap : UA_WRITER_FIRST_BYTES;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > w->limit_bytes) cap = w->limit_bytes;
    if (cap == 0) return ua_writer_fail(w, "message size limit reached");
    uint8_t *p = realloc(w->data, cap);
    if (!p) return ua_writer_fail(w, "out of memory");
    w->data = p;
    w->cap = cap;
    return true;
}

struct ua_arena_chunk {
    struct ua_arena_chunk *next;
    size_t bytes; /* of the whole chunk, header included */
    /* data follows, aligned by the header's size (16 bytes) */
};

#define UA_ARENA_HEADER_BYTES                                                                      \
    ((sizeof(struct ua_arena_chunk) + UA_ARENA_ALIGN - 1) & ~(size_t)(UA_ARENA_ALIGN - 1))

void ua_arena_init(struct ua_arena *a, size_t chunk_bytes, size_t limit_bytes)
{
    *a = (struct ua_arena){
        .chunk_bytes = chunk_bytes ? chunk_bytes : UA_ARENA_DEFAULT_CHUNK_BYTES,
        .limit_bytes = limit_bytes,
    };
}

void *ua_arena_alloc_slow(struct ua_arena *a, size_t size)
{
    size_t rounded = (size + (UA_ARENA_ALIGN - 1)) & ~(size_t)(UA_ARENA_ALIGN - 1);
    if (size == 0 || rounded < size || rounded > SIZE_MAX - UA_ARENA_HEADER_BYTES) {
        a->failed = true;
        return NULL;
    }
    /* Requests larger than a quarter chunk get a chunk of their own, so the
     * free space of the current chunk is not thrown away for them. */
    bool own = rounded > a->chunk_bytes / 4;
    size_t bytes = UA_ARENA_HEADER_BYTES + (own ? rounded : a->chunk_bytes);
    if (bytes > a->limit_bytes || a->allocated_bytes > a->limit_bytes - bytes) {
        a->failed = true;
        return NULL;
    }
    struct ua_arena_chunk *c = malloc(bytes);
    if (!c) {
        a->failed = true;
        return NULL;
    }
    c->bytes = bytes;
    a->allocated_bytes += bytes;
    uint8_t *data = (uint8_t *)c + UA_ARENA_HEADER_BYTES;
    if (own && a->chunks) {
        /* Keep the current chunk as the one allocations continue from. */
        c->next = a->chunks->next;
        a->chunks->next = c;
        return data;
    }
    c->next = a->chunks;
    a->chunks = c;
    a->next = data + rounded;
    a->end = (uint8_t *)c + bytes;
    return data;
}

void ua_arena_reset(struct ua_arena *a)
{
    struct ua_arena_chunk *keep = NULL;
    size_t standard = UA_ARENA_HEADER_BYTES + a->chunk_bytes;
    for (struct ua_arena_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        if (!keep && c->bytes == standard) {
            keep = c;
            continue;
        }
        free(c);
    }
    a->chunks = keep;
    a->failed = false;
    if (keep) {
        keep->next = NULL;
        a->allocated_bytes = keep->bytes;
        a->next = (uint8_t *)keep + UA_ARENA_HEADER_BYTES;
        a->end = (uint8_t *)keep + keep->bytes;
    } else {
        a->allocated_bytes = 0;
        a->next = a->end = NULL;
    }
}

void ua_arena_free(struct ua_arena *a)
{
    for (struct ua_arena_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    ua_arena_init(a, a->chunk_bytes, a->limit_bytes);
}
