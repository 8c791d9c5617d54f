/* The in-process one-way boundary between the OT zone and the IT zone.
 *
 * OT-side code (drivers) can only send sample batches; IT-side code can only
 * receive them. There is no call that carries anything from IT to OT: the
 * write gate (a later, separate, audited path) is the only way back.
 *
 * The queue is bounded. The OT side never waits on the IT side for long:
 * when the queue stays full for send_wait_ms (default 200 ms) the batch is
 * dropped and counted, as a data diode would, rather than stalling polls. */
#ifndef AIRLOCK_BOUNDARY_BOUNDARY_H
#define AIRLOCK_BOUNDARY_BOUNDARY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/sample.h"

struct boundary;

struct boundary_counters {
    uint64_t batches_sent;
    uint64_t samples_sent;
    uint64_t batches_dropped;
    uint64_t samples_dropped;
    uint32_t queued; /* batches waiting now */
};

/* Samples the queue holds at most by default (about 40 MB of samples):
 * the queue is bounded by batches and by samples, so big batches cannot
 * pile up memory while the IT side is slow. */
#define BOUNDARY_DEFAULT_MAX_SAMPLES 1000000u

/* A boundary holding at most capacity batches (and
 * BOUNDARY_DEFAULT_MAX_SAMPLES samples). NULL on ENOMEM. */
struct boundary *boundary_create(uint32_t capacity, int send_wait_ms);
/* Changes the bound on queued samples. */
void boundary_set_max_samples(struct boundary *b, uint64_t max_samples);
/* Frees queued batches too. No sender or receiver may be active. */
void boundary_destroy(struct boundary *b);

/* OT side. Takes ownership of batch in every case. Returns false when the
 * batch was dropped (queue full past the wait, or boundary closed). */
bool boundary_send(struct boundary *b, struct sample_batch *batch);

/* IT side. The oldest batch, or NULL after timeout_ms or once closed and
 * empty. The caller owns and frees the batch. */
struct sample_batch *boundary_receive(struct boundary *b, int timeout_ms);

/* Wakes receivers; later sends are dropped. Queued batches can still be
 * received. */
void boundary_close(struct boundary *b);
/* Re-opens after boundary_close (used across a configuration reload). */
void boundary_reopen(struct boundary *b);

void boundary_get_counters(struct boundary *b, struct boundary_counters *out);

#endif
