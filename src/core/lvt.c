/* Last-value table: dense array by tag id, rwlock, change ring. */
#include "core/lvt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lvt *lvt_create(void)
{
    struct lvt *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ring = calloc(LVT_RING_SIZE, sizeof *t->ring);
    if (!t->ring) {
        free(t);
        return NULL;
    }
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->wait_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->changed, &attr);
    pthread_condattr_destroy(&attr);
    tag_table_init(&t->tags);
    return t;
}

static void entry_clear(struct lvt_entry *e)
{
    if (e->value.type == VALUE_STRING) free((char *)e->value.as.str.ptr);
    memset(e, 0, sizeof *e);
    e->quality = QUALITY_BAD_WAITING_FOR_INITIAL_DATA;
}

static void entries_free(struct lvt_entry *entries, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        if (entries[i].value.type == VALUE_STRING) free((char *)entries[i].value.as.str.ptr);
    free(entries);
}

void lvt_destroy(struct lvt *t)
{
    if (!t) return;
    entries_free(t->entries, t->tags.count);
    tag_table_clear(&t->tags);
    free(t->ring);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->wait_lock);
    pthread_cond_destroy(&t->changed);
    free(t);
}

bool lvt_replace_tags(struct lvt *t, struct tag_table *tags)
{
    struct lvt_entry *entries = calloc(tags->count ? tags->count : 1, sizeof *entries);
    if (!entries) return false;
    for (uint32_t i = 0; i < tags->count; i++) entry_clear(&entries[i]);
    pthread_rwlock_wrlock(&t->lock);
    for (uint32_t i = 0; i < tags->count; i++) {
        const struct tag *old = tag_table_find(&t->tags, tags->tags[i].path);
        if (old && old->type == tags->tags[i].type) {
            entries[i] = t->entries[old->id]; /* moves an owned string too */
            memset(&t->entries[old->id], 0, sizeof t->entries[old->id]);
        }
    }
    entries_free(t->entries, t->tags.count);
    tag_table_clear(&t->tags);
    t->tags = *tags;
    tag_table_init(tags);
    t->entries = entries;
    t->generation++;
    /* Change ring ids refer to the old tag set: start a new epoch. */
    memset(t->ring, 0, LVT_RING_SIZE * sizeof *t->ring);
    pthread_rwlock_unlock(&t->lock);
    return true;
}

static void store_value(struct lvt_entry *e, const struct value *v)
{
    if (e->value.type == VALUE_STRING && v->type == VALUE_STRING &&
        value_equal(&e->value, v))
        return; /* same string: keep the copy */
    if (e->value.type == VALUE_STRING) free((char *)e->value.as.str.ptr);
    e->value = *v;
    if (v->type == VALUE_STRING) {
        char *copy = malloc(v->as.str.len + 1);
        if (!copy) { /* keep the table consistent: an empty string, Bad quality set by caller */
            e->value.as.str.ptr = NULL;
            e->value.as.str.len = 0;
            e->value.type = VALUE_STRING;
            return;
        }
        memcpy(copy, v->as.str.ptr, v->as.str.len);
        copy[v->as.str.len] = '\0';
        e->value.as.str.ptr = copy;
    }
}

void lvt_apply_batch(struct lvt *t, const struct sample_batch *b)
{
    pthread_rwlock_wrlock(&t->lock);
    for (uint32_t i = 0; i < b->count; i++) {
        const struct sample *s = &b->samples[i];
        if (s->tag_id >= t->tags.count) continue;
        struct lvt_entry *e = &t->entries[s->tag_id];
        store_value(e, &s->value);
        e->quality = s->quality;
        e->ts_ns = s->ts_ns;
        e->seq = ++t->seq;
        t->ring[e->seq & (LVT_RING_SIZE - 1)] = (struct lvt_change){e->seq, s->tag_id};
    }
    pthread_rwlock_unlock(&t->lock);
    atomic_fetch_add(&t->values_applied, b->count);
    pthread_mutex_lock(&t->wait_lock);
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->wait_lock);
}

bool lvt_changes_since(struct lvt *t, uint64_t *cursor,
                       void (*fn)(void *ctx, const struct tag *tag, const struct lvt_entry *e),
                       void *ctx)
{
    uint64_t from = *cursor, to = t->seq;
    bool complete = true;
    if (to > from && to - from > LVT_RING_SIZE) {
        complete = false;
        from = to - LVT_RING_SIZE;
    }
    for (uint64_t seq = from + 1; seq <= to; seq++) {
        const struct lvt_change *c = &t->ring[seq & (LVT_RING_SIZE - 1)];
        if (c->seq != seq) {
            complete = false; /* overwritten or from before a tag-set replacement */
            continue;
        }
        if (c->tag_id >= t->tags.count) continue;
        const struct lvt_entry *e = &t->entries[c->tag_id];
        if (e->seq != seq) continue; /* a later change of this tag follows */
        fn(ctx, &t->tags.tags[c->tag_id], e);
    }
    *cursor = to;
    return complete;
}

uint64_t lvt_wait(struct lvt *t, uint64_t seen, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->wait_lock);
    for (;;) {
        pthread_rwlock_rdlock(&t->lock);
        uint64_t seq = t->seq;
        pthread_rwlock_unlock(&t->lock);
        if (seq != seen) {
            pthread_mutex_unlock(&t->wait_lock);
            return seq;
        }
        if (pthread_cond_timedwait(&t->changed, &t->wait_lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&t->wait_lock);
            return seq;
        }
    }
}
