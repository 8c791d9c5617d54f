/* Samples and sample batches: what crosses the boundary from OT to IT.
 *
 * A sample is {tag id, timestamp in ns since the Unix epoch (UTC), value,
 * quality}. Drivers fill a batch per poll (or per notification) and hand it
 * to the boundary, which takes ownership. String values are copied into the
 * batch's own arena, so a batch is self-contained and can be serialised. */
#ifndef AIRLOCK_CORE_SAMPLE_H
#define AIRLOCK_CORE_SAMPLE_H

#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"

struct sample {
    uint32_t tag_id;
    quality_t quality;
    int64_t ts_ns;
    struct value value;
};

struct string_chunk;

struct sample_batch {
    uint32_t count;
    uint32_t capacity;
    struct sample *samples;
    uint32_t device_index;       /* which device produced it */
    struct string_chunk *strings; /* arena for string values; pointers stay valid */
    struct sample_batch *next;   /* queue link, owned by whoever holds the batch */
};

/* A new empty batch with room for capacity samples (grows as needed).
 * NULL when out of memory. */
struct sample_batch *sample_batch_new(uint32_t capacity);
void sample_batch_free(struct sample_batch *b);
/* Empties the batch, keeping its storage. */
void sample_batch_reset(struct sample_batch *b);

/* Appends a sample. A string value is copied into the batch. Returns false
 * (batch unchanged) when out of memory. */
bool sample_batch_add(struct sample_batch *b, uint32_t tag_id, int64_t ts_ns, quality_t quality,
                      const struct value *v);

#endif
