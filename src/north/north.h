/* The north side: every MQTT publisher of a configuration (docs/north.md).
 *
 * Each publisher (a UNS JSON publisher or a Sparkplug B edge node) has its
 * own thread, its own libmosquitto connection, a bounded in-memory queue and
 * an on-disk spool (src/north/spool.h). The gateway's boundary consumer
 * hands every batch to north_publish, which only copies the samples into
 * the queues and returns: it never waits for a broker. The publisher thread
 * publishes them, or appends them to its spool while publishing is not
 * possible (broker unreachable, primary host offline, queue overflowing),
 * and replays the spool, oldest first, when it is possible again.
 *
 * A configuration reload stops the publishers (what is pending goes to the
 * spools) and starts the new ones, which replay the spools. */
#ifndef AIRLOCK_NORTH_NORTH_H
#define AIRLOCK_NORTH_NORTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/sample.h"
#include "core/tag.h"

struct north;

/* Starts a publisher for every entry of cfg->north, for the tag set tags
 * (ids as the samples carry them; tag.device_index indexes cfg->devices).
 * Everything needed is copied: cfg and tags may be freed afterwards.
 * Brokers are connected in the background (an unreachable broker is not an
 * error: values are spooled). Returns NULL with a message in err only when
 * a spool cannot be opened or memory runs out; nothing runs then. With no
 * publishers configured the result is a valid, idle object. */
struct north *north_start(const struct config *cfg, const struct tag_table *tags, char *err,
                          size_t err_len);

/* Hands batches b[0..n) to every publisher (samples of tags it does not
 * select are skipped). Copies what it needs and returns without waiting
 * for any broker or disk. NULL n does nothing. */
void north_publish(struct north *n, struct sample_batch *const *b, size_t count);

/* Stops every publisher: waits briefly (up to about 2 s) for messages the
 * broker has not acknowledged yet, puts everything still pending into the
 * spools, says goodbye (Sparkplug NDEATH), disconnects and frees. Safe
 * with NULL. */
void north_stop(struct north *n);

enum north_state {
    NORTH_DISCONNECTED = 0,
    NORTH_CONNECTING,
    NORTH_WAITING_FOR_HOST,
    NORTH_CONNECTED,
};

/* "disconnected", "connecting", "waiting_for_host", "connected". */
const char *north_state_name(enum north_state s);

/* One publisher's status for /api/v1/health and /metrics. */
struct north_status {
    char name[64];
    char kind[16]; /* "uns" | "sparkplug" */
    char url[320];
    enum north_state state;
    char last_error[256];  /* "" when none */
    int64_t last_error_ns; /* 0 when none */
    uint64_t published;    /* samples acknowledged by the broker (or sent, at QoS 0) */
    uint64_t spooled;      /* samples pending in the spool */
    uint64_t dropped;      /* samples dropped: spool full (oldest first) */
    uint64_t spool_bytes;
    uint64_t reconnects; /* connection attempts after the first */
    char alarm[320];     /* "" when none: spool full or failing */
};

/* Number of publishers. 0 for NULL. */
size_t north_count(const struct north *n);

/* Copies the status of up to cap publishers into out; returns how many. */
size_t north_get_status(struct north *n, struct north_status *out, size_t cap);

#endif
