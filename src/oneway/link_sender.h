/* The OT side of the one-way link (`airlock ot`): takes sample batches from
 * the in-process boundary, packs them into DATA datagrams (link_codec.h) and
 * sends them on a connected UDP socket. It only sends: it never binds a
 * listening port and never reads the socket (docs/oneway.md).
 *
 * One thread. Besides DATA it sends the tag table as BIRTH datagrams at start,
 * every birth interval and whenever the table changes, and a HEARTBEAT every
 * heartbeat interval, followed by the device statistics (DEVICES) of the
 * stats registry given in the options, if any. A change of the tag table
 * also starts a new session (a new random session id, numbers from 1), so
 * that the receiver never applies samples to the wrong table: a session is
 * bound to one table.
 *
 * Redundancy k sends every datagram k times (the same bytes). A rate limit
 * (datagrams per second on the wire, copies included; a token bucket) holds
 * DATA datagrams in a short queue: what waits longer than
 * LINK_SENDER_QUEUE_MAX_MS, or does not fit the queue, is dropped and
 * counted; the receiver sees the gap as loss. BIRTH and HEARTBEAT are sent
 * at once and count against the bucket. The drivers are never blocked: the
 * boundary between them and this thread drops batches itself when the
 * sender falls behind. */
#ifndef AIRLOCK_ONEWAY_LINK_SENDER_H
#define AIRLOCK_ONEWAY_LINK_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "boundary/boundary.h"
#include "core/stats.h"
#include "core/tag.h"
#include "oneway/link_codec.h"

#define LINK_SENDER_DEFAULT_BIRTH_INTERVAL_MS 10000u
#define LINK_SENDER_DEFAULT_HEARTBEAT_INTERVAL_MS 1000u
#define LINK_SENDER_DEFAULT_STATS_INTERVAL_MS 60000u
#define LINK_SENDER_MAX_REDUNDANCY 8u
/* How long a rate-limited DATA datagram may wait for its turn. */
#define LINK_SENDER_QUEUE_MAX_MS 500u

/* Test hook: return true to leave datagram number seq of the session unsent
 * (as if the network lost every copy). */
typedef bool (*link_sender_skip_fn)(void *ctx, uint64_t session_id, uint64_t seq);

struct link_sender_options {
    const char *destination; /* "host:port", "[v6]:port" */
    uint8_t key[LINK_KEY_BYTES];
    uint32_t link_id;
    size_t datagram_bytes;               /* 0: LINK_DEFAULT_DATAGRAM_BYTES */
    uint32_t redundancy;                 /* copies of each datagram, 1..8; 0: 1 */
    uint32_t rate_limit_datagrams_per_s; /* 0: unlimited */
    uint32_t birth_interval_ms;          /* 0: default */
    uint32_t heartbeat_interval_ms;      /* 0: default */
    uint32_t stats_interval_ms;          /* counters logged this often; 0: default */
    struct boundary *source;             /* the batches to send (this thread receives them) */
    /* The OT side's device statistics, sent after every heartbeat (read
     * under its lock); NULL: no DEVICES datagrams. */
    struct stats_registry *stats;
    link_sender_skip_fn skip; /* NULL in production */
    void *skip_ctx;
};

/* Counters since start. */
struct link_sender_counters {
    uint64_t datagrams;       /* datagrams made (a redundant copy is the same datagram) */
    uint64_t data_datagrams;  /* of which DATA */
    uint64_t birth_datagrams; /* of which BIRTH */
    uint64_t heartbeats;      /* of which HEARTBEAT */
    uint64_t devices;         /* of which DEVICES */
    uint64_t copies_sent;     /* datagrams handed to the kernel, copies included */
    uint64_t samples;         /* samples in DATA datagrams made */
    uint64_t bytes;           /* bytes handed to the kernel (UDP payload), copies included */
    uint64_t rate_drops;      /* DATA datagrams dropped by the rate limit (never sent) */
    uint64_t send_errors;     /* copies the kernel refused (sendmmsg errors) */
    uint64_t samples_refused; /* samples that fit no datagram (a long string) */
    uint64_t sessions;        /* sessions started (1 + tag table changes) */
    uint64_t session_id;      /* the current one */
    uint32_t epoch;           /* the current tag table's birth epoch */
};

struct link_sender;

/* Resolves "host:port" (or "[v6]:port") for a UDP socket: a numeric
 * address, or a host name (first result). passive: for bind (the receiver).
 * False with the reason in err. */
bool link_address_resolve(const char *host_port, bool passive, struct sockaddr_storage *out,
                          socklen_t *out_len, char *err, size_t err_len);

/* Opens the socket (socket + connect: nothing listens), copies tags (the
 * first BIRTH goes out at once) and starts the thread. NULL with the reason
 * in err (bad destination, key or size, no socket). */
struct link_sender *link_sender_start(const struct link_sender_options *opt,
                                      const struct tag_table *tags, char *err, size_t err_len);

/* Replaces the tag table (copied): the sender starts a new session with the
 * next epoch and sends its BIRTH before any sample taken from the boundary
 * after this call. False when out of memory (the old table stays). */
bool link_sender_set_tags(struct link_sender *s, const struct tag_table *tags);

void link_sender_get_counters(struct link_sender *s, struct link_sender_counters *out);

/* Sends what the boundary still holds (until it is empty or closed), then
 * stops the thread, logs the counters and frees everything. NULL is fine. */
void link_sender_stop(struct link_sender *s);

#endif
