/* The write queue shared by the drivers: a FIFO of jobs under one mutex,
 * with a condition for the worker (work) and one for the callers (done).
 * See write_queue.h. */
#include "drivers/write_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

#define STOPPING "device stopping"

void write_queue_init(struct write_queue *q, struct write_queue_wording wording,
                      void (*wake_worker)(void *ctx), void *wake_ctx)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work_cond, &monotonic);
    pthread_cond_init(&q->done_cond, &monotonic);
    pthread_condattr_destroy(&monotonic);
    q->wording = wording;
    q->wake_worker = wake_worker;
    q->wake_ctx = wake_ctx;
}

void write_queue_destroy(struct write_queue *q)
{
    pthread_cond_destroy(&q->work_cond);
    pthread_cond_destroy(&q->done_cond);
    pthread_mutex_destroy(&q->lock);
}

/* Absolute CLOCK_MONOTONIC time of the monotonic millisecond ms. */
static struct timespec mono_timespec(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    return ts;
}

/* Unlinks job, still queued, from q (lock held). */
static void withdraw(struct write_queue *q, struct write_job *job)
{
    struct write_job **link = &q->head, *prev = NULL;
    while (*link != job) {
        prev = *link;
        link = &(*link)->next;
    }
    *link = job->next;
    if (q->tail == job) q->tail = prev;
    job->next = NULL;
}

bool write_queue_submit(struct write_queue *q, struct write_job *job, int timeout_ms,
                        struct driver_write_result *out)
{
    memset(out, 0, sizeof *out);
    int64_t deadline_ms = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct timespec until = mono_timespec(deadline_ms);
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        snprintf(out->error, sizeof out->error, STOPPING);
        free(job);
        return false;
    }
    job->next = NULL;
    job->state = WRITE_JOB_QUEUED;
    job->abandoned = false;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->writers++;
    pthread_cond_signal(&q->work_cond);
    if (q->wake_worker) q->wake_worker(q->wake_ctx);
    while (job->state != WRITE_JOB_DONE && clock_mono_ms() < deadline_ms)
        pthread_cond_timedwait(&q->done_cond, &q->lock, &until);
    if (job->state == WRITE_JOB_DONE) {
        *out = job->result;
    } else if (job->state == WRITE_JOB_QUEUED) {
        /* Still waiting behind the worker's other work: withdraw it. */
        withdraw(q, job);
        snprintf(out->error, sizeof out->error,
                 "timed out after %d ms waiting for the device (busy with %s): nothing was "
                 "written",
                 timeout_ms, q->wording.busy_with);
    } else {
        job->abandoned = true; /* the worker frees it */
        snprintf(out->error, sizeof out->error,
                 "timed out after %d ms waiting for the %s answer: the write may still be "
                 "applied",
                 timeout_ms, q->wording.answerer);
        job = NULL;
    }
    q->writers--;
    pthread_cond_broadcast(&q->done_cond);
    pthread_mutex_unlock(&q->lock);
    free(job);
    return out->written;
}

struct write_job *write_queue_take(struct write_queue *q)
{
    pthread_mutex_lock(&q->lock);
    struct write_job *job = q->closed ? NULL : q->head;
    if (job) {
        q->head = job->next;
        if (!q->head) q->tail = NULL;
        job->next = NULL;
        job->state = WRITE_JOB_RUNNING;
    }
    pthread_mutex_unlock(&q->lock);
    return job;
}

void write_queue_finish(struct write_queue *q, struct write_job *job)
{
    pthread_mutex_lock(&q->lock);
    if (job->abandoned) {
        free(job);
    } else {
        job->state = WRITE_JOB_DONE;
        pthread_cond_broadcast(&q->done_cond);
    }
    pthread_mutex_unlock(&q->lock);
}

void write_queue_wait(struct write_queue *q, int64_t wake_ms)
{
    struct timespec until = mono_timespec(wake_ms);
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->closed && clock_mono_ms() < wake_ms)
        pthread_cond_timedwait(&q->work_cond, &q->lock, &until);
    pthread_mutex_unlock(&q->lock);
}

/* Closes q and ends every queued job with "device stopping" (lock held). */
static void stop_locked(struct write_queue *q)
{
    q->closed = true;
    for (struct write_job *job = q->head, *next; job; job = next) {
        next = job->next;
        job->next = NULL;
        snprintf(job->result.error, sizeof job->result.error, STOPPING);
        job->state = WRITE_JOB_DONE;
    }
    q->head = q->tail = NULL;
    pthread_cond_broadcast(&q->done_cond);
    pthread_cond_broadcast(&q->work_cond);
}

void write_queue_stop(struct write_queue *q)
{
    pthread_mutex_lock(&q->lock);
    stop_locked(q);
    pthread_mutex_unlock(&q->lock);
}

void write_queue_close(struct write_queue *q)
{
    pthread_mutex_lock(&q->lock);
    stop_locked(q);
    while (q->writers > 0)
        pthread_cond_wait(&q->done_cond, &q->lock);
    pthread_mutex_unlock(&q->lock);
}
