/* Private to src/north's runtime (north.c, north_uns.c, north_spb.c): the
 * publisher object and what each kind of publisher provides. The runtime
 * (north.c) owns the thread, queue, connection and spool; a kind only turns
 * samples into MQTT messages and reacts to its own topics. */
#ifndef AIRLOCK_NORTH_NORTH_INTERNAL_H
#define AIRLOCK_NORTH_NORTH_INTERNAL_H

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "north/north.h"
#include "north/spool.h"

/* Limits. */
#define NORTH_QUEUE_SPILL_SAMPLES 200000 /* queued beyond this: spilled to the spool */
/* Spooled batches are at most this many samples, so a replayed batch (all
 * handed to the MQTT client at once, then acknowledged as a whole) stays
 * small: a UNS message per sample; Sparkplug packs a batch into a few DDATA. */
#define NORTH_SPOOL_BATCH_UNS 4096
#define NORTH_SPOOL_BATCH_SPARKPLUG 32768
#define NORTH_MAX_UNACKED_MESSAGES 4096 /* published, awaiting PUBACK */
#define NORTH_MQTT_INFLIGHT_WINDOW 256  /* of those, sent and not yet acknowledged */
#define NORTH_BACKOFF_INITIAL_MS 1000
#define NORTH_BACKOFF_MAX_MS 30000
#define NORTH_CONNECT_TIMEOUT_MS 10000
#define NORTH_STOP_ACK_WAIT_MS 2000
#define NORTH_POLL_MS 100
#define NORTH_PAYLOAD_MAX 65536 /* one UNS JSON payload */
#define NORTH_SPOOL_SEGMENT_MIN (64u << 10)

/* One copied sample: tag is an id of the north's tag table. */
struct north_sample {
    uint32_t tag;
    quality_t quality;
    int64_t ts_ns;
    struct value value; /* strings point into the item's own storage */
};

/* A batch on its way through a publisher: queued, then published and
 * waiting for the broker's acknowledgements (ack_target), or spooled. */
struct north_item {
    struct north_item *next;
    uint64_t ack_target; /* acked counter value at which every message is acknowledged */
    size_t count;
    struct north_sample samples[];
};

/* The last value of a tag (UNS heartbeat, Sparkplug BIRTH). */
struct north_last {
    bool has;
    quality_t quality;
    int64_t ts_ns;
    struct value value;
    char *str; /* owned copy of a string value */
    size_t str_cap;
};

/* A device as the north sees it. */
struct north_device {
    char *name;           /* as configured */
    char *spb_id;         /* sanitized Sparkplug device id */
    char *namespace_path; /* enterprise/site/... prefix of its tags */
};

/* What every publisher shares: the tag set and devices (read-only). */
struct north_model {
    struct tag_table tags;
    struct north_device *devices;
    size_t device_count;
};

struct publisher;

/* What a kind of publisher does; every hook runs on the publisher thread. */
struct north_kind_ops {
    /* Before each connection attempt (the Sparkplug Will). False: give up
     * this attempt (last_error says why). */
    bool (*prepare_connect)(struct publisher *p);
    /* Right after CONNACK: subscribe, publish metadata or BIRTHs, and set
     * p->ready when live publishing may start. */
    void (*connected)(struct publisher *p);
    /* Publish a batch of live samples. */
    void (*publish_live)(struct publisher *p, const struct north_item *it);
    /* Publish a batch read back from the spool. */
    void (*publish_spooled)(struct publisher *p, const struct spool_sample *v, size_t n);
    /* A message arrived on a subscribed topic. */
    void (*message)(struct publisher *p, const struct mosquitto_message *m);
    /* Periodic work (heartbeat, rebirth). */
    void (*tick)(struct publisher *p, int64_t now_ms);
    /* Before a clean disconnect (Sparkplug NDEATH). */
    void (*goodbye)(struct publisher *p);
};

extern const struct north_kind_ops north_uns_ops;
extern const struct north_kind_ops north_spb_ops;

struct publisher {
    const struct north_model *model;
    const struct north_kind_ops *ops;
    /* Settings (owned copies). */
    char *name, *host, *client_id, *username, *password, *ca_file, *cert_file, *key_file;
    char *prefix, *meta_prefix, *group_id, *edge_node, *primary_host;
    uint16_t port;
    bool tls, retain;
    int protocol, qos;
    uint32_t keepalive_s, heartbeat_s;
    bool is_sparkplug;
    size_t spool_batch_max; /* NORTH_SPOOL_BATCH_* */
    bool *selected;         /* by tag id */

    pthread_t thread;
    bool thread_started;

    /* The queue, filled by north_publish. */
    pthread_mutex_t queue_lock;
    struct north_item *queue_head, *queue_tail;
    size_t queued_samples;
    bool stopping;
    int wake_fds[2]; /* pipe: north_publish and north_stop wake the thread */
    atomic_bool wake_pending;

    /* Thread-only state. */
    int corked_fd;       /* the broker socket while TCP_CORK is on, else -1 */
    char lib_error[160]; /* libmosquitto's last error log line (TLS details) */
    struct spool *spool;
    /* Live batches that were published but not acknowledged when the
     * publisher stopped during an outage: older than anything in spool, so
     * replayed before it (a subdirectory "unacked" of the spool directory). */
    struct spool *unacked_spool;
    struct spool *replay_spool; /* the spool of the batch in flight */
    struct mosquitto *mosq;
    /* UNS keeps one MQTT session (clean session off, a stable client id) for
     * the life of the publisher: libmosquitto resends what the broker has
     * not acknowledged, with DUP, after a reconnect. Sparkplug requires a
     * clean session: unacknowledged batches go to the spool instead. */
    bool keep_session;
    bool attempt_active;     /* between connection_start and connection_drop */
    bool connected;          /* CONNACK accepted */
    bool connection_lost;    /* set by callbacks, handled by the loop */
    bool ops_connected_done; /* the kind's connected hook ran for this connection */
    bool ready;              /* live data may be published */
    bool spooling;           /* the spool holds data: live goes behind it */
    int64_t connect_started_ms, next_connect_ms;
    uint32_t backoff_ms;
    uint64_t connect_attempts;
    uint64_t sent, acked; /* QoS 1 messages of this connection */
    struct north_item *unacked_head, *unacked_tail;
    bool replay_in_flight;
    uint64_t replay_target;
    size_t replay_count;
    struct north_last *last; /* by tag id */
    uint64_t published_samples;
    uint64_t skipped_samples;
    int64_t next_heartbeat_ms;
    /* Sparkplug. */
    uint64_t bd_seq; /* of the current (or next) connection */
    uint8_t seq;     /* next message seq */
    bool host_online;
    bool rebirth_requested;
    bool host_went_offline;
    struct spb_metric *metrics; /* scratch for payloads */
    size_t metrics_cap;
    char *payload; /* NORTH_PAYLOAD_MAX bytes of scratch */

    /* Status, read by the API. */
    pthread_mutex_t status_lock;
    struct north_status status;
};

/* Publishes one message on the current connection. QoS 1 messages are
 * counted in p->sent (their PUBACKs in p->acked). False when the client
 * refused it (not connected, out of memory): the caller's data is then
 * handled as unsent by the connection-lost path. */
bool north_mqtt_publish(struct publisher *p, const char *topic, const void *payload, size_t len,
                        int qos, bool retain);
/* Subscribes on the current connection (QoS 1). */
bool north_mqtt_subscribe(struct publisher *p, const char *topic);
/* Records an error for the status (and logs it at warn). */
void north_set_error(struct publisher *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ends the current connection now: publish a goodbye, disconnect, and
 * reconnect after the back-off (used when the primary host goes offline). */
void north_request_reconnect(struct publisher *p);
/* Makes sure p->metrics holds at least n entries. False when out of memory. */
bool north_metrics_reserve(struct publisher *p, size_t n);
/* Epoch ms from ns (floor). */
int64_t north_epoch_ms(int64_t ts_ns);

#endif
