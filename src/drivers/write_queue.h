/* The write queue of a device driver: callers (HTTP threads) hand writes to
 * the driver's worker thread and wait for the outcome with a timeout.
 *
 * The worker is the only one to use the device's connection, so a write is
 * queued, taken by the worker between its other requests, run and finished.
 * A caller that times out while its job is still queued withdraws it
 * (nothing was written); one that times out while the worker runs it
 * abandons it (the write may still be applied) and the worker frees it.
 * Stopping ends queued jobs with "device stopping" and waits until no
 * caller is inside write_queue_submit(), so the driver can then be freed.
 *
 * What a write is (registers, a Variant...) is the driver's: its job type
 * starts with a struct write_job, which the queue links and frees. */
#ifndef AIRLOCK_DRIVERS_WRITE_QUEUE_H
#define AIRLOCK_DRIVERS_WRITE_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/driver.h"

/* The first member of a driver's job (e.g. struct mb_write_job { struct
 * write_job base; ...}), allocated with malloc/calloc as one block. The
 * worker fills result between write_queue_take() and write_queue_finish(). */
struct write_job {
    struct write_job *next;
    enum { WRITE_JOB_QUEUED, WRITE_JOB_RUNNING, WRITE_JOB_DONE } state;
    bool abandoned; /* its caller gave up while it ran: the worker frees it */
    struct driver_write_result result;
};

/* How the timeout messages name what the worker may be busy with and who
 * answers: e.g. "a poll or other writes" and "device's" give "... waiting
 * for the device (busy with a poll or other writes): nothing was written"
 * and "... waiting for the device's answer: the write may still be
 * applied". Both strings must outlive the queue. */
struct write_queue_wording {
    const char *busy_with;
    const char *answerer;
};

struct write_queue {
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* the worker: a job arrived, or stopped */
    pthread_cond_t done_cond; /* callers: a job is done; write_queue_close: a caller left */
    struct write_job *head, *tail;
    unsigned writers; /* callers inside write_queue_submit() */
    bool closed;      /* write_queue_stop() was called: no job is queued any more */
    struct write_queue_wording wording;
    void (*wake_worker)(void *ctx); /* optional: called (under lock) when a job is queued */
    void *wake_ctx;
};

/* An open, empty queue. wake_worker (may be NULL) is called, with the
 * queue's lock held, each time a job is queued, for a worker that sleeps in
 * something else than write_queue_wait() (e.g. poll() on an eventfd); it
 * must not call back into the queue. */
void write_queue_init(struct write_queue *q, struct write_queue_wording wording,
                      void (*wake_worker)(void *ctx), void *wake_ctx);
/* Releases the lock and conditions. Nobody may use q any more (call
 * write_queue_close() first). */
void write_queue_destroy(struct write_queue *q);

/* Caller side. Takes ownership of job (its result zeroed): queues it, wakes
 * the worker and waits until it is done or timeout_ms have passed. Then
 * *out is the job's result; or, on timeout, out->error says whether nothing
 * was written (the job was still queued: withdrawn) or the write may still
 * be applied (the worker runs it: abandoned, the worker frees it); or, once
 * the queue is stopped, out->error is "device stopping". job is freed by
 * then, except an abandoned one. Returns out->written. */
bool write_queue_submit(struct write_queue *q, struct write_job *job, int timeout_ms,
                        struct driver_write_result *out);

/* Worker side. The oldest queued job, marked running, or NULL when none is
 * queued or the queue is stopped. Hand it back with write_queue_finish(). */
struct write_job *write_queue_take(struct write_queue *q);
/* Worker side. Hands job (its result filled) back to its caller, or frees
 * it when the caller gave up. job must not be used afterwards. */
void write_queue_finish(struct write_queue *q, struct write_job *job);
/* Worker side. Sleeps until the monotonic time wake_ms (clock_mono_ms()),
 * a queued job, or write_queue_stop(), whichever comes first. */
void write_queue_wait(struct write_queue *q, int64_t wake_ms);

/* Stopping, step one (before the worker is joined): later submits end with
 * "device stopping", the queued jobs end so as well, write_queue_take()
 * returns NULL and write_queue_wait() returns at once. A job the worker is
 * running is finished as usual. */
void write_queue_stop(struct write_queue *q);
/* Stopping, step two (once the worker is gone): stops the queue if not done
 * yet, ends anything still queued with "device stopping", and waits until
 * no caller is inside write_queue_submit(). Then q can be destroyed. */
void write_queue_close(struct write_queue *q);

#endif
