/* Bounded multi-producer, single-consumer queue of sample batches. */
#include "boundary/boundary.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct boundary {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct sample_batch *head, *tail;
    uint32_t queued, capacity;
    uint64_t queued_samples, max_samples;
    int send_wait_ms;
    bool closed;
    uint64_t batches_sent, samples_sent, batches_dropped, samples_dropped;
};

static void deadline_after_ms(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

struct boundary *boundary_create(uint32_t capacity, int send_wait_ms)
{
    struct boundary *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->not_empty, &attr);
    pthread_cond_init(&b->not_full, &attr);
    pthread_condattr_destroy(&attr);
    b->capacity = capacity ? capacity : 1;
    b->max_samples = BOUNDARY_DEFAULT_MAX_SAMPLES;
    b->send_wait_ms = send_wait_ms >= 0 ? send_wait_ms : 200;
    return b;
}

void boundary_destroy(struct boundary *b)
{
    if (!b) return;
    while (b->head) {
        struct sample_batch *next = b->head->next;
        sample_batch_free(b->head);
        b->head = next;
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->not_empty);
    pthread_cond_destroy(&b->not_full);
    free(b);
}

void boundary_set_max_samples(struct boundary *b, uint64_t max_samples)
{
    pthread_mutex_lock(&b->lock);
    b->max_samples = max_samples ? max_samples : 1;
    pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->lock);
}

/* Full: no room for one more batch, or for its samples (a batch bigger
 * than the whole limit still goes into an empty queue). */
static bool is_full(const struct boundary *b, const struct sample_batch *batch)
{
    return b->queued >= b->capacity ||
           (b->queued > 0 && b->queued_samples + batch->count > b->max_samples);
}

bool boundary_send(struct boundary *b, struct sample_batch *batch)
{
    struct timespec deadline;
    deadline_after_ms(&deadline, b->send_wait_ms);
    pthread_mutex_lock(&b->lock);
    while (!b->closed && is_full(b, batch)) {
        if (pthread_cond_timedwait(&b->not_full, &b->lock, &deadline) == ETIMEDOUT) break;
    }
    if (b->closed || is_full(b, batch)) {
        b->batches_dropped++;
        b->samples_dropped += batch->count;
        pthread_mutex_unlock(&b->lock);
        sample_batch_free(batch);
        return false;
    }
    batch->next = NULL;
    if (b->tail)
        b->tail->next = batch;
    else
        b->head = batch;
    b->tail = batch;
    b->queued++;
    b->queued_samples += batch->count;
    b->batches_sent++;
    b->samples_sent += batch->count;
    pthread_cond_signal(&b->not_empty);
    pthread_mutex_unlock(&b->lock);
    return true;
}

struct sample_batch *boundary_receive(struct boundary *b, int timeout_ms)
{
    struct timespec deadline;
    deadline_after_ms(&deadline, timeout_ms);
    pthread_mutex_lock(&b->lock);
    while (!b->head && !b->closed) {
        if (pthread_cond_timedwait(&b->not_empty, &b->lock, &deadline) == ETIMEDOUT) break;
    }
    struct sample_batch *batch = b->head;
    if (batch) {
        b->head = batch->next;
        if (!b->head) b->tail = NULL;
        b->queued--;
        b->queued_samples -= batch->count;
        batch->next = NULL;
        pthread_cond_signal(&b->not_full);
    }
    pthread_mutex_unlock(&b->lock);
    return batch;
}

void boundary_close(struct boundary *b)
{
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_cond_broadcast(&b->not_empty);
    pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->lock);
}

void boundary_reopen(struct boundary *b)
{
    pthread_mutex_lock(&b->lock);
    b->closed = false;
    pthread_mutex_unlock(&b->lock);
}

void boundary_get_counters(struct boundary *b, struct boundary_counters *out)
{
    pthread_mutex_lock(&b->lock);
    out->batches_sent = b->batches_sent;
    out->samples_sent = b->samples_sent;
    out->batches_dropped = b->batches_dropped;
    out->samples_dropped = b->samples_dropped;
    out->queued = b->queued;
    pthread_mutex_unlock(&b->lock);
}
