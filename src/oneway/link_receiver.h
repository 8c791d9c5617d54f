/* The IT side of the one-way link (`airlock it`): binds a UDP socket,
 * receives datagrams (recvmmsg) and never sends anything. Each datagram is
 * authenticated and decoded (link_codec.h), classified by the receiver
 * window (duplicates, reordering, loss), and then:
 *
 * - BIRTH parts of a session are collected until the whole tag table is
 *   known (ids 0..total-1, each once, unique paths); the table is then handed
 *   to on_tags. A session is bound to one table (the sender starts a new
 *   session when its table changes), so DATA is applied only under the table
 *   of its own session; DATA of a session whose table is not complete yet is
 *   counted as "waiting for birth" and dropped.
 * - DATA samples (known id, the type the BIRTH gave) go to on_batch.
 * - HEARTBEAT keeps the link up; none for heartbeat_timeout_ms: link down.
 * - DEVICES parts of one snapshot are collected until the whole device set
 *   is known (every entry once, unique names) and then handed to
 *   on_devices; a snapshot older than the last one handed over in the same
 *   session (reordered) is ignored, and an incomplete one is dropped when a
 *   newer one starts.
 *
 * Loss: a missing sequence number is reported when it leaves the window or
 * when no datagram filled it within reorder_wait_ms after a later one
 * arrived, whichever is first; each number exactly once. Each report calls
 * on_mark_uncertain (which tags the lost data held cannot be known) and is
 * kept in the recent ranges; on_loss gets the ranges aggregated at most
 * once per second (for the audit trail).
 *
 * Replay: a datagram of an unknown session whose sender time is not later
 * than the newest sender time of the current session is refused (a
 * recording of an older session), counted as replayed. */
#ifndef AIRLOCK_ONEWAY_LINK_RECEIVER_H
#define AIRLOCK_ONEWAY_LINK_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/sample.h"
#include "core/tag.h"
#include "oneway/link_codec.h"

#define LINK_RECEIVER_DEFAULT_HEARTBEAT_TIMEOUT_MS 3000u
#define LINK_RECEIVER_DEFAULT_REORDER_WAIT_MS 500u
#define LINK_RECEIVER_DEFAULT_MAX_TAGS 1000000u
#define LINK_RECEIVER_DEFAULT_STATS_INTERVAL_MS 60000u
/* Largest device set accepted (DEVICES): bounds what a set may allocate. */
#define LINK_RECEIVER_MAX_DEVICES 4096u
/* Lost ranges kept for /api/v1/health. */
#define LINK_RECEIVER_RECENT_RANGES 256
/* Quality given to every tag when loss is detected: the value shown is the
 * last one received, which may have changed in the lost data. */
#define LINK_QUALITY_LOSS QUALITY_UNCERTAIN_LAST_USABLE_VALUE
/* Quality given to every tag when the link goes down. */
#define LINK_QUALITY_DOWN QUALITY_UNCERTAIN_NO_COMMUNICATION_LAST_USABLE_VALUE

enum link_state {
    LINK_STATE_WAITING = 0, /* nothing received yet */
    LINK_STATE_UP,          /* heartbeats arrive */
    LINK_STATE_DOWN,        /* no heartbeat for heartbeat_timeout_ms */
};

const char *link_state_name(enum link_state s);

struct link_receiver_callbacks {
    /* A complete tag table for a new session (or a new epoch): takes the
     * contents of *tags (ids 0..count-1 as the sender's samples carry
     * them) when it returns true. Called from the receiver's thread; no
     * batch of the new session is delivered before it returns. false: the
     * table could not be used; its DATA waits, the next BIRTH tries again. */
    bool (*on_tags)(void *ctx, struct tag_table *tags, uint64_t session_id, uint32_t epoch);
    /* Samples of the current table; the callee owns the batch. */
    void (*on_batch)(void *ctx, struct sample_batch *batch);
    /* Loss detected (or, with LINK_QUALITY_DOWN, the link went down): every
     * tag's value is now in doubt until its next sample. Delivered in order
     * with on_batch. */
    void (*on_mark_uncertain)(void *ctx, quality_t quality);
    /* For the audit trail, at most once per second: the lost ranges since
     * the last call ("12-15,40"; cut with "...(+N ranges)" when long) and
     * how many numbers they hold. */
    void (*on_loss)(void *ctx, const char *ranges, uint64_t numbers);
    /* The link went up (first heartbeat, or after down) or down. */
    void (*on_state)(void *ctx, enum link_state state, const char *details);
    /* The OT side's device statistics: a complete set (n may be 0), in the
     * sender's order, names unique. The array is the receiver's (valid
     * during the call). */
    void (*on_devices)(void *ctx, const struct link_device *devices, size_t n);
    void *ctx;
};

struct link_receiver_options {
    const char *listen; /* "host:port" to bind ("0.0.0.0:7400", "[::]:7400") */
    uint8_t key[LINK_KEY_BYTES];
    uint32_t link_id;
    size_t datagram_bytes;         /* the largest accepted; 0: LINK_DEFAULT_DATAGRAM_BYTES */
    uint32_t heartbeat_timeout_ms; /* 0: default */
    uint32_t reorder_wait_ms;      /* 0: default */
    uint32_t max_tags;             /* largest table accepted; 0: default */
    uint32_t stats_interval_ms;    /* counters logged this often; 0: default */
    /* Where the newest sender time accepted is kept across restarts (at
     * most a second behind), so that recordings of old datagrams replayed
     * just after a restart are refused too; NULL: not kept (only while the
     * receiver runs). */
    const char *state_file;
    struct link_receiver_callbacks cb;
};

struct link_lost_range {
    uint64_t session_id;
    uint64_t first, last;
    int64_t detected_ns; /* UTC */
};

/* What /api/v1/health and /metrics show. */
struct link_receiver_status {
    enum link_state state;
    uint32_t link_id;
    char listen[128];
    uint64_t session_id; /* of the last datagram accepted; 0 before */
    bool have_tags;      /* the current session's table is installed */
    uint32_t epoch;      /* of the installed table */
    uint32_t tags;
    int64_t last_datagram_ns;  /* UTC of the last authenticated datagram, 0: never */
    int64_t last_heartbeat_ns; /* UTC, 0: never */
    /* The sender's counters from its last heartbeat. */
    uint64_t sender_datagrams, sender_samples;
    /* Counters since start. */
    uint64_t datagrams;         /* UDP datagrams read */
    uint64_t bytes;             /* their bytes */
    uint64_t received;          /* accepted by the window (not duplicates, not stale) */
    uint64_t duplicates;        /* redundant copies and replays within the session */
    uint64_t reordered;         /* accepted out of order */
    uint64_t stale;             /* too old to tell: dropped */
    uint64_t lost;              /* sequence numbers reported lost */
    uint64_t lost_ranges;       /* runs of them */
    uint64_t restarts;          /* new sender sessions */
    uint64_t bad_mac;           /* wrong key, altered or not ours */
    uint64_t malformed;         /* authenticated but invalid (or wrong size) */
    uint64_t other_link;        /* another link id */
    uint64_t replayed;          /* an older session's datagram (sender time) */
    uint64_t waiting_for_birth; /* DATA datagrams before their table was complete */
    uint64_t samples;           /* samples delivered */
    uint64_t samples_invalid;   /* unknown tag id or wrong type: dropped */
    uint64_t births_installed;  /* tag tables installed */
    uint64_t link_downs;
    uint64_t device_sets; /* DEVICES sets handed to on_devices */
    uint32_t devices;     /* devices in the last of them */
    /* The newest lost ranges, oldest first. */
    size_t recent_count;
    struct link_lost_range recent[LINK_RECEIVER_RECENT_RANGES];
};

struct link_receiver;

/* Binds the socket and starts the thread. NULL with the reason in err
 * (address in use, bad key or size). */
struct link_receiver *link_receiver_start(const struct link_receiver_options *opt, char *err,
                                          size_t err_len);

/* The UDP port bound (useful after asking for port 0). */
uint16_t link_receiver_port(const struct link_receiver *r);

void link_receiver_get_status(struct link_receiver *r, struct link_receiver_status *out);

/* Stops the thread (reporting what is still missing in the window as lost),
 * closes the socket and frees everything. NULL is fine. */
void link_receiver_stop(struct link_receiver *r);

#endif
