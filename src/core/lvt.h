/* The last-value table: the IT side's current value of every tag.
 *
 * Fed only from the boundary (one consumer thread calls lvt_apply_batch);
 * read by the API, the stream and the dashboard. Each applied sample gets a
 * change sequence number; a ring of recent changes lets streaming clients
 * catch up without scanning every tag. Readers take the read lock and then
 * use lvt->tags and lvt->entries directly. */
#ifndef AIRLOCK_CORE_LVT_H
#define AIRLOCK_CORE_LVT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/tag.h"

struct lvt_entry {
    struct value value; /* strings are owned by the table */
    quality_t quality;  /* Bad_WaitingForInitialData until the first sample */
    int64_t ts_ns;      /* source timestamp of the value, 0 before the first sample */
    uint64_t seq;       /* change sequence of the last update, 0 = never */
};

struct lvt_change {
    uint64_t seq;
    uint32_t tag_id;
};

#define LVT_RING_SIZE 65536u /* power of two */

struct lvt {
    pthread_rwlock_t lock;
    struct tag_table tags; /* owned */
    struct lvt_entry *entries;
    uint64_t seq;        /* last assigned change sequence */
    uint64_t generation; /* bumped whenever the tag set is replaced */
    struct lvt_change *ring; /* LVT_RING_SIZE recent changes; ring[seq % size] */
    pthread_mutex_t wait_lock;
    pthread_cond_t changed;
    _Atomic uint64_t values_applied; /* total samples applied since start */
};

/* A new empty table, NULL on ENOMEM. */
struct lvt *lvt_create(void);
void lvt_destroy(struct lvt *t);

/* Replaces the tag set; takes the contents of *tags (left empty). Entries of
 * paths present before and after (with the same type) keep their value.
 * Returns false on ENOMEM (then nothing changed and *tags is untouched). */
bool lvt_replace_tags(struct lvt *t, struct tag_table *tags);

/* Applies every sample of b (samples with unknown tag ids are ignored), then
 * wakes waiters. Only the boundary consumer calls this. */
void lvt_apply_batch(struct lvt *t, const struct sample_batch *b);

static inline void lvt_read_lock(struct lvt *t)
{
    pthread_rwlock_rdlock(&t->lock);
}
static inline void lvt_read_unlock(struct lvt *t)
{
    pthread_rwlock_unlock(&t->lock);
}

/* With the read lock held: calls fn for each tag whose latest change has a
 * sequence above *cursor (each tag once, in change order), then sets *cursor
 * to the current sequence. Returns false when the ring no longer holds every
 * change since *cursor (the caller should resend a full snapshot); *cursor is
 * still advanced. */
bool lvt_changes_since(struct lvt *t, uint64_t *cursor,
                       void (*fn)(void *ctx, const struct tag *tag, const struct lvt_entry *e),
                       void *ctx);

/* Waits until the sequence passes seen or timeout_ms elapses; returns the
 * current sequence. */
uint64_t lvt_wait(struct lvt *t, uint64_t seen, int timeout_ms);

#endif
