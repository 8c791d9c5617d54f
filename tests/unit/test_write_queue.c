/* Tests of the drivers' write queue (src/drivers/write_queue.h) alone, with
 * a fake worker thread: jobs submitted from several threads are all run in
 * order of arrival and each caller gets its own result; the wake hook is
 * called once per queued job; a caller that times out while its job is
 * queued withdraws it ("nothing was written"); one that times out while the
 * worker runs it abandons it ("may still be applied") and the worker frees
 * it (ASan would report a leak or a use after free); write_queue_wait wakes
 * for a job and for stop; stopping ends queued jobs and later submits with
 * "device stopping", and write_queue_close waits for a caller whose job is
 * still running. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "drivers/write_queue.h"
#include "testlib.h"

#define LONG_TIMEOUT_MS 5000
#define SHORT_TIMEOUT_MS 50

static const struct write_queue_wording WORDING = {.busy_with = "a poll or other writes",
                                                   .answerer = "device's"};

struct test_job {
    struct write_job base;
    int id;
};

static struct test_job *new_job(int id)
{
    struct test_job *job = calloc(1, sizeof *job);
    if (job) job->id = id;
    return job;
}

/* ------------------------------------------------------- the fake worker */

struct fake_worker {
    struct write_queue *q;
    pthread_t thread;
    atomic_bool stop;
    atomic_int run_count;
    int order[64]; /* ids in the order run */
    /* hold: a taken job is kept running until release is set */
    atomic_bool hold, release, holding;
};

/* Runs jobs as a driver's worker would: sleep, take, run, finish. */
static void *fake_worker_main(void *arg)
{
    struct fake_worker *w = arg;
    while (!atomic_load(&w->stop)) {
        struct write_job *job = write_queue_take(w->q);
        if (!job) {
            write_queue_wait(w->q, clock_mono_ms() + 20);
            continue;
        }
        struct test_job *tj = (struct test_job *)job;
        if (atomic_load(&w->hold)) {
            atomic_store(&w->holding, true);
            while (!atomic_load(&w->release))
                clock_sleep_until_ms(clock_mono_ms() + 1);
        }
        int n = atomic_fetch_add(&w->run_count, 1);
        if (n < 64) w->order[n] = tj->id;
        job->result.written = true;
        job->result.read_back = true;
        job->result.value_read = value_int64(tj->id);
        snprintf(job->result.error, sizeof job->result.error, "ran %d", tj->id);
        write_queue_finish(w->q, job);
    }
    return NULL;
}

static void fake_worker_start(struct fake_worker *w, struct write_queue *q, bool hold)
{
    memset(w, 0, sizeof *w);
    w->q = q;
    atomic_store(&w->hold, hold);
    pthread_create(&w->thread, NULL, fake_worker_main, w);
}

static void fake_worker_join(struct fake_worker *w)
{
    atomic_store(&w->stop, true);
    atomic_store(&w->release, true);
    pthread_join(w->thread, NULL);
}

static void wake_count(void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
}

/* ----------------------------------------------------------- callers */

struct caller {
    struct write_queue *q;
    pthread_t thread;
    int first_id, count, timeout_ms;
    bool ok[16];
    struct driver_write_result out[16];
    int64_t took_ms;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    int64_t started = clock_mono_ms();
    for (int i = 0; i < c->count; i++) {
        struct test_job *job = new_job(c->first_id + i);
        c->ok[i] = write_queue_submit(c->q, &job->base, c->timeout_ms, &c->out[i]);
    }
    c->took_ms = clock_mono_ms() - started;
    return NULL;
}

static void caller_start(struct caller *c, struct write_queue *q, int first_id, int count,
                         int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->q = q;
    c->first_id = first_id;
    c->count = count;
    c->timeout_ms = timeout_ms;
    pthread_create(&c->thread, NULL, caller_main, c);
}

static unsigned writers_of(struct write_queue *q)
{
    pthread_mutex_lock(&q->lock);
    unsigned n = q->writers;
    pthread_mutex_unlock(&q->lock);
    return n;
}

/* Waits (up to 2 s) until n callers are inside write_queue_submit(). */
static bool wait_for_writers(struct write_queue *q, unsigned n)
{
    int64_t until = clock_mono_ms() + 2000;
    while (writers_of(q) != n && clock_mono_ms() < until)
        clock_sleep_until_ms(clock_mono_ms() + 1);
    return writers_of(q) == n;
}

/* ------------------------------------------------------------- tests */

static void test_submit_across_threads(void)
{
    struct write_queue q;
    atomic_int wakes = 0;
    write_queue_init(&q, WORDING, wake_count, &wakes);
    struct fake_worker w;
    fake_worker_start(&w, &q, false);
    struct caller c[4];
    for (int i = 0; i < 4; i++)
        caller_start(&c[i], &q, 100 * (i + 1), 8, LONG_TIMEOUT_MS);
    for (int i = 0; i < 4; i++)
        pthread_join(c[i].thread, NULL);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++) {
            char expected[32];
            snprintf(expected, sizeof expected, "ran %d", c[i].first_id + k);
            CHECK(c[i].ok[k]);
            CHECK(c[i].out[k].written && c[i].out[k].read_back);
            CHECK_EQ_INT(c[i].out[k].value_read.as.i64, c[i].first_id + k);
            CHECK_STR(c[i].out[k].error, expected);
        }
    CHECK_EQ_INT(atomic_load(&w.run_count), 32);
    CHECK_EQ_INT(atomic_load(&wakes), 32);
    /* Each caller's jobs ran in the order it submitted them. */
    for (int i = 0; i < 4; i++) {
        int last = -1;
        for (int n = 0; n < 32; n++)
            if (w.order[n] / 100 == i + 1) {
                CHECK(w.order[n] > last);
                last = w.order[n];
            }
    }
    fake_worker_join(&w);
    write_queue_close(&q);
    CHECK_EQ_INT(q.writers, 0);
    write_queue_destroy(&q);
}

static void test_timeout_while_queued_withdraws(void)
{
    struct write_queue q;
    write_queue_init(&q, WORDING, NULL, NULL);
    /* No worker: both jobs stay queued; the second times out first and is
     * withdrawn from behind the first, then the first from the head. */
    struct caller first, second;
    caller_start(&first, &q, 1, 1, 4 * SHORT_TIMEOUT_MS);
    CHECK(wait_for_writers(&q, 1));
    caller_start(&second, &q, 2, 1, SHORT_TIMEOUT_MS);
    pthread_join(second.thread, NULL);
    CHECK(!second.ok[0]);
    CHECK_STR(second.out[0].error, "timed out after 50 ms waiting for the device (busy with a "
                                   "poll or other writes): nothing was written");
    CHECK(second.took_ms >= SHORT_TIMEOUT_MS);
    pthread_mutex_lock(&q.lock);
    CHECK(q.head != NULL && q.head == q.tail && q.head->next == NULL);
    pthread_mutex_unlock(&q.lock);
    pthread_join(first.thread, NULL);
    CHECK(!first.ok[0]);
    CHECK_STR(first.out[0].error, "timed out after 200 ms waiting for the device (busy with a "
                                  "poll or other writes): nothing was written");
    CHECK(q.head == NULL && q.tail == NULL);
    CHECK_EQ_INT(q.writers, 0);
    CHECK(write_queue_take(&q) == NULL);
    write_queue_close(&q);
    write_queue_destroy(&q);
}

static void test_timeout_while_running_abandons(void)
{
    struct write_queue q;
    write_queue_init(&q, (struct write_queue_wording){"other requests or writes", "server's"}, NULL,
                     NULL);
    struct fake_worker w;
    fake_worker_start(&w, &q, true); /* holds the job it takes */
    struct caller c;
    caller_start(&c, &q, 7, 1, SHORT_TIMEOUT_MS);
    pthread_join(c.thread, NULL);
    CHECK(atomic_load(&w.holding));
    CHECK(!c.ok[0]);
    CHECK_STR(c.out[0].error, "timed out after 50 ms waiting for the server's answer: the write "
                              "may still be applied");
    CHECK(!c.out[0].written);
    CHECK_EQ_INT(q.writers, 0);
    /* The worker finishes the abandoned job: write_queue_finish frees it. */
    atomic_store(&w.release, true);
    int64_t until = clock_mono_ms() + 2000;
    while (atomic_load(&w.run_count) < 1 && clock_mono_ms() < until)
        clock_sleep_until_ms(clock_mono_ms() + 1);
    CHECK_EQ_INT(atomic_load(&w.run_count), 1);
    fake_worker_join(&w);
    write_queue_close(&q);
    write_queue_destroy(&q);
}

struct waiter {
    struct write_queue *q;
    pthread_t thread;
    int64_t wake_ms, took_ms;
};

static void *waiter_main(void *arg)
{
    struct waiter *wt = arg;
    int64_t started = clock_mono_ms();
    write_queue_wait(wt->q, wt->wake_ms);
    wt->took_ms = clock_mono_ms() - started;
    return NULL;
}

static void test_wait(void)
{
    struct write_queue q;
    write_queue_init(&q, WORDING, NULL, NULL);
    /* Times out. */
    int64_t started = clock_mono_ms();
    write_queue_wait(&q, started + 30);
    CHECK(clock_mono_ms() - started >= 30);
    /* Wakes for a job. */
    struct waiter wt = {.q = &q, .wake_ms = clock_mono_ms() + LONG_TIMEOUT_MS};
    pthread_create(&wt.thread, NULL, waiter_main, &wt);
    struct caller c;
    caller_start(&c, &q, 1, 1, SHORT_TIMEOUT_MS);
    pthread_join(wt.thread, NULL);
    CHECK(wt.took_ms < LONG_TIMEOUT_MS / 2);
    pthread_join(c.thread, NULL);
    /* Wakes for stop, and returns at once afterwards. */
    wt.wake_ms = clock_mono_ms() + LONG_TIMEOUT_MS;
    pthread_create(&wt.thread, NULL, waiter_main, &wt);
    clock_sleep_until_ms(clock_mono_ms() + 20);
    write_queue_stop(&q);
    pthread_join(wt.thread, NULL);
    CHECK(wt.took_ms < LONG_TIMEOUT_MS / 2);
    started = clock_mono_ms();
    write_queue_wait(&q, started + LONG_TIMEOUT_MS);
    CHECK(clock_mono_ms() - started < LONG_TIMEOUT_MS / 2);
    write_queue_close(&q);
    write_queue_destroy(&q);
}

static void test_close_fails_queued_and_waits(void)
{
    struct write_queue q;
    write_queue_init(&q, WORDING, NULL, NULL);
    /* No worker: two callers wait on queued jobs; close ends them. */
    struct caller a, b;
    caller_start(&a, &q, 1, 1, LONG_TIMEOUT_MS);
    caller_start(&b, &q, 2, 1, LONG_TIMEOUT_MS);
    CHECK(wait_for_writers(&q, 2));
    int64_t started = clock_mono_ms();
    write_queue_close(&q);
    CHECK(clock_mono_ms() - started < LONG_TIMEOUT_MS / 2);
    CHECK_EQ_INT(q.writers, 0);
    pthread_join(a.thread, NULL);
    pthread_join(b.thread, NULL);
    CHECK(!a.ok[0] && !b.ok[0]);
    CHECK_STR(a.out[0].error, "device stopping");
    CHECK_STR(b.out[0].error, "device stopping");
    /* Later submits end at once, the same way. */
    struct driver_write_result out;
    CHECK(!write_queue_submit(&q, &new_job(3)->base, LONG_TIMEOUT_MS, &out));
    CHECK_STR(out.error, "device stopping");
    CHECK(write_queue_take(&q) == NULL);
    write_queue_destroy(&q);
}

struct closer {
    struct write_queue *q;
    pthread_t thread;
    atomic_bool done;
};

static void *closer_main(void *arg)
{
    struct closer *cl = arg;
    write_queue_close(cl->q);
    atomic_store(&cl->done, true);
    return NULL;
}

static void test_close_waits_for_running_job(void)
{
    struct write_queue q;
    write_queue_init(&q, WORDING, NULL, NULL);
    struct fake_worker w;
    fake_worker_start(&w, &q, true);
    struct caller running, queued;
    caller_start(&running, &q, 1, 1, LONG_TIMEOUT_MS);
    int64_t until = clock_mono_ms() + 2000;
    while (!atomic_load(&w.holding) && clock_mono_ms() < until)
        clock_sleep_until_ms(clock_mono_ms() + 1);
    CHECK(atomic_load(&w.holding));
    caller_start(&queued, &q, 2, 1, LONG_TIMEOUT_MS);
    CHECK(wait_for_writers(&q, 2));
    /* Stop: the queued job ends at once, the running one is not touched. */
    write_queue_stop(&q);
    pthread_join(queued.thread, NULL);
    CHECK_STR(queued.out[0].error, "device stopping");
    struct closer cl = {.q = &q};
    pthread_create(&cl.thread, NULL, closer_main, &cl);
    clock_sleep_until_ms(clock_mono_ms() + SHORT_TIMEOUT_MS);
    CHECK(!atomic_load(&cl.done)); /* the running job's caller is still inside */
    atomic_store(&w.release, true);
    pthread_join(cl.thread, NULL);
    CHECK(atomic_load(&cl.done));
    pthread_join(running.thread, NULL);
    CHECK(running.ok[0]);
    CHECK_STR(running.out[0].error, "ran 1");
    CHECK_EQ_INT(atomic_load(&w.run_count), 1);
    fake_worker_join(&w);
    write_queue_destroy(&q);
}

int main(void)
{
    test_submit_across_threads();
    test_timeout_while_queued_withdraws();
    test_timeout_while_running_abandons();
    test_wait();
    test_close_fails_queued_and_waits();
    test_close_waits_for_running_job();
    return test_summary();
}
