/* Sample batches with a chunked string arena (no realloc, so string pointers
 * handed out earlier stay valid). */
#include "core/sample.h"

#include <stdlib.h>
#include <string.h>

struct string_chunk {
    struct string_chunk *next;
    uint32_t used, size;
    char data[];
};

#define STRING_CHUNK_MIN 4096u

struct sample_batch *sample_batch_new(uint32_t capacity)
{
    struct sample_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (capacity == 0) capacity = 16;
    b->samples = malloc(capacity * sizeof *b->samples);
    if (!b->samples) {
        free(b);
        return NULL;
    }
    b->capacity = capacity;
    return b;
}

static void free_strings(struct string_chunk *c)
{
    while (c) {
        struct string_chunk *next = c->next;
        free(c);
        c = next;
    }
}

void sample_batch_free(struct sample_batch *b)
{
    if (!b) return;
    free_strings(b->strings);
    free(b->samples);
    free(b);
}

void sample_batch_reset(struct sample_batch *b)
{
    free_strings(b->strings);
    b->strings = NULL;
    b->count = 0;
}

static const char *copy_string(struct sample_batch *b, const char *s, uint32_t len)
{
    struct string_chunk *c = b->strings;
    if (!c || c->size - c->used < len) {
        uint32_t size = len > STRING_CHUNK_MIN ? len : STRING_CHUNK_MIN;
        c = malloc(sizeof *c + size);
        if (!c) return NULL;
        c->size = size;
        c->used = 0;
        c->next = b->strings;
        b->strings = c;
    }
    char *dst = c->data + c->used;
    if (len) memcpy(dst, s, len);
    c->used += len;
    return dst;
}

bool sample_batch_add(struct sample_batch *b, uint32_t tag_id, int64_t ts_ns, quality_t quality,
                      const struct value *v)
{
    if (b->count == b->capacity) {
        uint32_t cap = b->capacity * 2;
        struct sample *s = realloc(b->samples, cap * sizeof *s);
        if (!s) return false;
        b->samples = s;
        b->capacity = cap;
    }
    struct sample *s = &b->samples[b->count];
    s->tag_id = tag_id;
    s->ts_ns = ts_ns;
    s->quality = quality;
    s->value = *v;
    if (v->type == VALUE_STRING) {
        const char *copy = copy_string(b, v->as.str.ptr, v->as.str.len);
        if (!copy) return false;
        s->value.as.str.ptr = copy;
    }
    b->count++;
    return true;
}
