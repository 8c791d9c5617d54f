/* The publisher runtime: one thread per publisher running its libmosquitto
 * client from its own poll loop (so it decides when to reconnect and what
 * the Will is), a queue fed by north_publish, the spool, and the
 * bookkeeping that takes data off the spool only once the broker has
 * acknowledged it. What a message looks like is the business of the kinds
 * (north_uns.c, north_spb.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "north/north_internal.h"
#include "north/spb_codec.h"

struct north {
    struct north_model model;
    struct publisher *pubs;
    size_t count;
};

/* libmosquitto is initialised while any north instance exists (two exist
 * for a moment during a reload) and cleaned up after the last: its TLS
 * set-up (made at the first TLS connection) is freed only by the cleanup. */
static pthread_mutex_t mosquitto_users_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned mosquitto_users;

/* libmosquitto 2.0 sets up its TLS globals at the first TLS connection
 * without a lock: two publishers connecting at once would both do it (one
 * copy leaks). Connecting is non-blocking, so holding this costs little. */
static pthread_mutex_t tls_connect_lock = PTHREAD_MUTEX_INITIALIZER;

static void mosquitto_use(void)
{
    pthread_mutex_lock(&mosquitto_users_lock);
    if (mosquitto_users++ == 0) mosquitto_lib_init();
    pthread_mutex_unlock(&mosquitto_users_lock);
}

static void mosquitto_release(void)
{
    pthread_mutex_lock(&mosquitto_users_lock);
    if (--mosquitto_users == 0) mosquitto_lib_cleanup();
    pthread_mutex_unlock(&mosquitto_users_lock);
}

const char *north_state_name(enum north_state s)
{
    switch (s) {
    case NORTH_CONNECTING:
        return "connecting";
    case NORTH_WAITING_FOR_HOST:
        return "waiting_for_host";
    case NORTH_CONNECTED:
        return "connected";
    case NORTH_DISCONNECTED:
        break;
    }
    return "disconnected";
}

int64_t north_epoch_ms(int64_t ts_ns)
{
    int64_t ms = ts_ns / 1000000;
    if (ts_ns % 1000000 < 0) ms--;
    return ms;
}

void north_set_error(struct publisher *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->status_lock);
    bool repeated = strcmp(p->status.last_error, msg) == 0;
    snprintf(p->status.last_error, sizeof p->status.last_error, "%s", msg);
    p->status.last_error_ns = clock_now_ns();
    pthread_mutex_unlock(&p->status_lock);
    if (!repeated)
        log_warn("north", "publisher problem", "publisher=%s error=\"%s\"", p->name, msg);
}

bool north_metrics_reserve(struct publisher *p, size_t n)
{
    if (n <= p->metrics_cap) return true;
    size_t cap = p->metrics_cap ? p->metrics_cap : 64;
    while (cap < n)
        cap *= 2;
    struct spb_metric *grown = realloc(p->metrics, cap * sizeof *grown);
    if (!grown) return false;
    p->metrics = grown;
    p->metrics_cap = cap;
    return true;
}

/* --- The MQTT connection --- */

/* What rc means, in words: errno's text for MOSQ_ERR_ERRNO, a text for the
 * codes libmosquitto 2.0 has none for, and for TLS failures the library's
 * own error line (e.g. "certificate verify failed"). Valid until the next
 * call in this thread. */
static const char *mqtt_error_text(struct publisher *p, int rc)
{
    static _Thread_local char text[256];
    if (rc == MOSQ_ERR_ERRNO) return strerror(errno);
    if (rc == MOSQ_ERR_KEEPALIVE) return "no answer from the broker within the keep-alive period";
    if (rc == MOSQ_ERR_TLS && p->lib_error[0]) {
        snprintf(text, sizeof text, "TLS error: %s", p->lib_error);
        return text;
    }
    return mosquitto_strerror(rc);
}

/* Keeps libmosquitto's error lines: they name the TLS problem that the
 * return codes only call "A TLS error occurred". */
static void on_log(struct mosquitto *mosq, void *arg, int level, const char *line)
{
    (void)mosq;
    struct publisher *p = arg;
    if (level & MOSQ_LOG_ERR) snprintf(p->lib_error, sizeof p->lib_error, "%s", line);
}

bool north_mqtt_publish(struct publisher *p, const char *topic, const void *payload, size_t len,
                        int qos, bool retain)
{
    if (!p->mosq || !p->connected) return false;
    int rc = mosquitto_publish(p->mosq, NULL, topic, (int)len, payload, qos, retain);
    if (rc == MOSQ_ERR_SUCCESS) {
        p->sent++;
        return true;
    }
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
        /* A QoS 1 message is queued in the client before it is written:
         * when the write fails it stays there and is resent after a
         * reconnect (then acknowledged), so it counts as sent. */
        if (qos > 0) p->sent++;
        if (!p->connection_lost)
            north_set_error(p, "connection lost while publishing: %s", mqtt_error_text(p, rc));
        p->connection_lost = true;
        return false;
    }
    north_set_error(p, "publish to %s refused: %s", topic, mosquitto_strerror(rc));
    return false;
}

bool north_mqtt_subscribe(struct publisher *p, const char *topic)
{
    if (!p->mosq) return false;
    int rc = mosquitto_subscribe(p->mosq, NULL, topic, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        north_set_error(p, "subscribe to %s failed: %s", topic, mosquitto_strerror(rc));
        return false;
    }
    return true;
}

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    struct publisher *p = arg;
    if (rc == 0) {
        p->connected = true;
        p->backoff_ms = NORTH_BACKOFF_INITIAL_MS;
        return;
    }
    north_set_error(p, "the broker refused the connection: %s", mosquitto_connack_string(rc));
    p->connection_lost = true;
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    struct publisher *p = arg;
    if (rc != 0 && !p->connection_lost)
        north_set_error(p, "connection to %s:%u lost: %s", p->host, p->port,
                        mqtt_error_text(p, rc));
    p->connection_lost = true;
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    (void)mosq;
    (void)mid;
    struct publisher *p = arg;
    p->acked++;
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m)
{
    (void)mosq;
    struct publisher *p = arg;
    if (p->ops->message) p->ops->message(p, m);
}

/* Reconnects the kept session's client (keep_session): libmosquitto
 * closes what is left of the old socket and, after CONNACK, resends every
 * message the broker has not acknowledged, with DUP, before anything new. */
static void connection_restart_session(struct publisher *p)
{
    if (p->tls) pthread_mutex_lock(&tls_connect_lock);
    int rc = mosquitto_reconnect_async(p->mosq);
    if (p->tls) pthread_mutex_unlock(&tls_connect_lock);
    if (rc != MOSQ_ERR_SUCCESS) {
        north_set_error(p, "cannot connect to %s:%u: %s", p->host, p->port, mqtt_error_text(p, rc));
        p->connection_lost = true;
    }
}

/* Starts a connection attempt (non-blocking connect); its outcome arrives
 * through on_connect or as an error from the loop. */
static void connection_start(struct publisher *p, int64_t now_ms)
{
    if (p->connect_attempts++ > 0) {
        pthread_mutex_lock(&p->status_lock);
        p->status.reconnects++;
        pthread_mutex_unlock(&p->status_lock);
    }
    p->connect_started_ms = now_ms;
    p->attempt_active = true;
    p->lib_error[0] = '\0';
    if (p->keep_session && p->mosq) {
        connection_restart_session(p);
        return;
    }
    p->sent = p->acked = 0;
    p->mosq = mosquitto_new(p->client_id, !p->keep_session, p);
    if (!p->mosq) {
        north_set_error(p, "cannot create the MQTT client: %s", strerror(errno));
        p->connection_lost = true;
        return;
    }
    mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         p->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    /* A small window: libmosquitto walks its in-flight list on every
     * publish and every PUBACK, so thousands in flight cost more than the
     * network (the rest wait in its queue, appended at no cost). */
    mosquitto_max_inflight_messages_set(p->mosq, NORTH_MQTT_INFLIGHT_WINDOW);
    /* Values go out as soon as they are published (latency). */
    mosquitto_int_option(p->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    mosquitto_message_callback_set(p->mosq, on_message);
    mosquitto_log_callback_set(p->mosq, on_log);
    int rc = MOSQ_ERR_SUCCESS;
    if (p->username) rc = mosquitto_username_pw_set(p->mosq, p->username, p->password);
    if (rc == MOSQ_ERR_SUCCESS && p->tls)
        rc = mosquitto_tls_set(p->mosq, p->ca_file, p->ca_file ? NULL : "/etc/ssl/certs",
                               p->cert_file, p->key_file, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        north_set_error(p, "MQTT client settings refused: %s", mosquitto_strerror(rc));
        p->connection_lost = true;
        return;
    }
    if (p->ops->prepare_connect && !p->ops->prepare_connect(p)) {
        p->connection_lost = true;
        return;
    }
    if (p->tls) pthread_mutex_lock(&tls_connect_lock);
    rc = mosquitto_connect_async(p->mosq, p->host, p->port, (int)p->keepalive_s);
    if (p->tls) pthread_mutex_unlock(&tls_connect_lock);
    if (rc != MOSQ_ERR_SUCCESS) {
        north_set_error(p, "cannot connect to %s:%u: %s", p->host, p->port, mqtt_error_text(p, rc));
        p->connection_lost = true;
    }
}

/* --- Items: the queue, the spool, the acknowledgements --- */

static void items_free(struct north_item *it)
{
    while (it) {
        struct north_item *next = it->next;
        free(it);
        it = next;
    }
}

/* Appends v[0..n) to spool in batches of at most spool_batch_max. */
static void spool_append_batches(struct publisher *p, struct spool *spool,
                                 const struct spool_sample *v, size_t n)
{
    for (size_t at = 0; at < n;) {
        size_t len = n - at < p->spool_batch_max ? n - at : p->spool_batch_max;
        uint64_t dropped = 0;
        if (!spool_append(spool, v + at, len, &dropped)) {
            struct spool_stats st;
            spool_get_stats(spool, &st);
            north_set_error(p, "spool write failed: %s", st.last_error);
        }
        if (dropped)
            log_error("north", "spool full: oldest samples dropped",
                      "publisher=%s dropped=%" PRIu64, p->name, dropped);
        at += len;
    }
}

/* Appends the items of list (in order) to spool. */
static void spool_items_to(struct publisher *p, struct spool *spool, const struct north_item *list)
{
    size_t total = 0;
    for (const struct north_item *it = list; it; it = it->next)
        total += it->count;
    if (total == 0) return;
    struct spool_sample *v = malloc(total * sizeof *v);
    if (!v) {
        north_set_error(p, "out of memory spooling %zu samples: they are lost", total);
        return;
    }
    size_t k = 0;
    for (const struct north_item *it = list; it; it = it->next)
        for (size_t i = 0; i < it->count; i++) {
            const struct north_sample *s = &it->samples[i];
            v[k++] = (struct spool_sample){.path = p->model->tags.tags[s->tag].path,
                                           .value = s->value,
                                           .ts_ns = s->ts_ns,
                                           .quality = s->quality};
        }
    spool_append_batches(p, spool, v, k);
    p->spooling = true;
    free(v);
}

/* Appends the items of list to the publisher's spool as one batch. */
static void spool_items(struct publisher *p, const struct north_item *list)
{
    spool_items_to(p, p->spool, list);
}

/* Remembers the last value of every sample's tag (copying strings). */
static void remember_last_values(struct publisher *p, const struct north_item *it)
{
    for (size_t i = 0; i < it->count; i++) {
        const struct north_sample *s = &it->samples[i];
        struct north_last *l = &p->last[s->tag];
        l->has = true;
        l->quality = s->quality;
        l->ts_ns = s->ts_ns;
        l->value = s->value;
        if (s->value.type != VALUE_STRING) continue;
        size_t need = (size_t)s->value.as.str.len + 1;
        if (need > l->str_cap) {
            char *grown = realloc(l->str, need);
            if (!grown) {
                l->has = false;
                continue;
            }
            l->str = grown;
            l->str_cap = need;
        }
        if (s->value.as.str.len) memcpy(l->str, s->value.as.str.ptr, s->value.as.str.len);
        l->str[s->value.as.str.len] = '\0';
        l->value.as.str.ptr = l->str;
    }
}

/* Moves what north_publish queued to the thread's hand (in order). */
static struct north_item *take_queue(struct publisher *p, size_t *samples)
{
    pthread_mutex_lock(&p->queue_lock);
    struct north_item *list = p->queue_head;
    *samples = p->queued_samples;
    p->queue_head = p->queue_tail = NULL;
    p->queued_samples = 0;
    pthread_mutex_unlock(&p->queue_lock);
    for (struct north_item *it = list; it; it = it->next)
        remember_last_values(p, it);
    return list;
}

/* Held items: taken from the queue, not yet published or spooled. */
struct held {
    struct north_item *head, *tail;
    size_t samples;
};

static void held_append(struct held *h, struct north_item *list, size_t samples)
{
    if (!list) return;
    if (h->tail)
        h->tail->next = list;
    else
        h->head = list;
    while (list->next)
        list = list->next;
    h->tail = list;
    h->samples += samples;
}

static void held_spool(struct publisher *p, struct held *h)
{
    spool_items(p, h->head);
    items_free(h->head);
    *h = (struct held){0};
}

static uint64_t unacked_messages(const struct publisher *p)
{
    return p->sent - p->acked;
}

/* Publishes held items directly while that is allowed (connected, ready,
 * nothing spooled ahead of them, room for more unacknowledged messages);
 * spools them when it is not; spills them all to the spool when too many
 * wait. */
static void process_held(struct publisher *p, struct held *h)
{
    if (!h->head) return;
    /* While a replayed batch waits for its acknowledgement, live batches
     * wait here: appended now, they could make a full spool drop the batch
     * in flight (it would then be counted as dropped although delivered). */
    if (p->ready && p->spooling && p->replay_in_flight && h->samples <= NORTH_QUEUE_SPILL_SAMPLES)
        return;
    if (!p->ready || p->spooling || h->samples > NORTH_QUEUE_SPILL_SAMPLES) {
        if (p->ready && !p->spooling)
            log_warn("north", "publishing cannot keep up: spilling to the spool",
                     "publisher=%s samples=%zu", p->name, h->samples);
        held_spool(p, h);
        return;
    }
    while (h->head && unacked_messages(p) < NORTH_MAX_UNACKED_MESSAGES && p->ready &&
           !p->connection_lost) {
        struct north_item *it = h->head;
        h->head = it->next;
        if (!h->head) h->tail = NULL;
        h->samples -= it->count;
        it->next = NULL;
        p->ops->publish_live(p, it);
        it->ack_target = p->sent;
        if (p->unacked_tail)
            p->unacked_tail->next = it;
        else
            p->unacked_head = it;
        p->unacked_tail = it;
    }
}

/* Frees what the broker acknowledged; acknowledges the replayed batch. */
static void process_acks(struct publisher *p)
{
    while (p->unacked_head && p->acked >= p->unacked_head->ack_target) {
        struct north_item *it = p->unacked_head;
        p->unacked_head = it->next;
        if (!p->unacked_head) p->unacked_tail = NULL;
        p->published_samples += it->count;
        free(it);
    }
    if (p->replay_in_flight && p->acked >= p->replay_target) {
        spool_ack(p->replay_spool);
        p->published_samples += p->replay_count;
        p->replay_in_flight = false;
    }
}

static bool spool_has_pending(const struct spool *s)
{
    struct spool_stats st;
    spool_get_stats(s, &st);
    return st.pending_batches > 0;
}

/* Sends the next spooled batch when the previous one is acknowledged;
 * leaves spooling mode once the spool is empty. */
static void replay_step(struct publisher *p)
{
    if (!p->ready || !p->spooling || p->replay_in_flight || p->connection_lost) return;
    if (unacked_messages(p) >= NORTH_MAX_UNACKED_MESSAGES) return;
    const struct spool_sample *v;
    size_t n;
    /* What was unacknowledged at a stop is older than the spool's data. */
    p->replay_spool = spool_has_pending(p->unacked_spool) ? p->unacked_spool
                      : spool_has_pending(p->spool)       ? p->spool
                                                          : NULL;
    if (p->replay_spool && !spool_peek(p->replay_spool, &v, &n)) return; /* retried later */
    if (!p->replay_spool) {
        p->spooling = false;
        log_info("north", "spool replayed: live publishing", "publisher=%s", p->name);
        return;
    }
    p->ops->publish_spooled(p, v, n);
    p->replay_target = p->sent;
    p->replay_count = n;
    p->replay_in_flight = true;
}

/* Ends the connection (lost, refused, timed out or asked for): what the
 * broker has not acknowledged goes to the spool, and the next attempt is
 * scheduled after the back-off. */
static void connection_drop(struct publisher *p, int64_t now_ms)
{
    if (p->connected) log_info("north", "disconnected from the broker", "publisher=%s", p->name);
    /* A failed write ends the connection before we read what the broker
     * sent before it went away: read those acknowledgements now (until the
     * socket reports the end), or their messages would be sent again. */
    for (int i = 0; i < 64 && p->mosq && p->connected && mosquitto_socket(p->mosq) >= 0; i++)
        if (mosquitto_loop_read(p->mosq, 1) != MOSQ_ERR_SUCCESS) break;
    process_acks(p);
    p->attempt_active = false;
    p->connected = p->ready = false;
    p->connection_lost = false;
    p->host_online = false;
    if (!p->keep_session) {
        /* A new client and a clean session next time: what the broker has
         * not acknowledged is sent again from the spool (after the BIRTH). */
        if (p->mosq) mosquitto_destroy(p->mosq);
        p->mosq = NULL;
        p->replay_in_flight = false; /* peeked again after reconnecting */
        if (p->unacked_head) {
            spool_items(p, p->unacked_head);
            items_free(p->unacked_head);
            p->unacked_head = p->unacked_tail = NULL;
        }
        p->sent = p->acked = 0;
    }
    /* keep_session: the client keeps the unacknowledged messages (live
     * batches and the replayed batch in flight) and resends them with DUP
     * on reconnect; their acknowledgements arrive then. */
    p->next_connect_ms = now_ms + p->backoff_ms;
    p->backoff_ms =
        p->backoff_ms * 2 > NORTH_BACKOFF_MAX_MS ? NORTH_BACKOFF_MAX_MS : p->backoff_ms * 2;
}

void north_request_reconnect(struct publisher *p)
{
    if (!p->mosq) return;
    if (p->connected && p->ops->goodbye) p->ops->goodbye(p);
    mosquitto_disconnect(p->mosq);
    p->connection_lost = true;
    p->backoff_ms = NORTH_BACKOFF_INITIAL_MS;
}

/* Holds back (on) or flushes (off) what is written to the broker socket:
 * the messages published in one pass of the loop (a batch, or what the
 * PUBACKs just read released) leave in a few full segments instead of one
 * segment each, which costs the broker and us a wake-up per message. */
static void socket_cork(struct publisher *p, bool on)
{
    int sock = p->mosq ? mosquitto_socket(p->mosq) : -1;
    if (on) {
        if (sock < 0 || p->corked_fd == sock) return;
        int one = 1;
        if (setsockopt(sock, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0) p->corked_fd = sock;
        return;
    }
    /* Only the socket we corked: after a reconnect the number may be
     * another descriptor's. */
    if (p->corked_fd >= 0 && p->corked_fd == sock) {
        int zero = 0;
        (void)setsockopt(sock, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
    }
    p->corked_fd = -1;
}

/* Waits up to timeout_ms for the socket or a wake-up, then lets
 * libmosquitto read, write and keep the connection alive. */
static void wait_and_service(struct publisher *p, int timeout_ms)
{
    struct pollfd fds[2] = {{.fd = p->wake_fds[0], .events = POLLIN}};
    nfds_t nfds = 1;
    int sock = p->mosq && p->attempt_active ? mosquitto_socket(p->mosq) : -1;
    if (sock >= 0) {
        fds[1] = (struct pollfd){.fd = sock, .events = POLLIN};
        if (mosquitto_want_write(p->mosq)) fds[1].events |= POLLOUT;
        nfds = 2;
    }
    if (poll(fds, nfds, timeout_ms) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
        char drain[64];
        atomic_store(&p->wake_pending, false);
        while (read(p->wake_fds[0], drain, sizeof drain) > 0) {
        }
    }
    if (!p->mosq || !p->attempt_active) return;
    if (p->connected) socket_cork(p, true); /* flushed at the end of the loop's pass */
    int rc = MOSQ_ERR_SUCCESS;
    if (nfds == 2 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
        /* Acknowledge the broker's segments at once: a broker with Nagle's
         * algorithm on holds the last PUBACKs of a burst until our delayed
         * ACK (40 ms), which would stall every replayed batch. Linux resets
         * the flag after a while, hence every time. */
        int one = 1;
        (void)setsockopt(sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        rc = mosquitto_loop_read(p->mosq, 1);
    }
    if (rc == MOSQ_ERR_SUCCESS && nfds == 2 && (fds[1].revents & POLLOUT))
        rc = mosquitto_loop_write(p->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_misc(p->mosq);
    if (rc != MOSQ_ERR_SUCCESS && !p->connection_lost) {
        north_set_error(p, "connection to %s:%u: %s", p->host, p->port, mqtt_error_text(p, rc));
        p->connection_lost = true;
    }
}

static void update_status(struct publisher *p)
{
    struct spool_stats st, unacked;
    spool_get_stats(p->spool, &st);
    spool_get_stats(p->unacked_spool, &unacked);
    st.pending_samples += unacked.pending_samples;
    st.bytes += unacked.bytes;
    st.dropped_samples += unacked.dropped_samples;
    if (unacked.degraded && !st.degraded) {
        st.degraded = true;
        memcpy(st.last_error, unacked.last_error, sizeof st.last_error);
    }
    enum north_state state = NORTH_DISCONNECTED;
    if (p->attempt_active) state = p->connected ? NORTH_CONNECTED : NORTH_CONNECTING;
    if (p->connected && !p->ready && p->primary_host) state = NORTH_WAITING_FOR_HOST;
    pthread_mutex_lock(&p->status_lock);
    bool new_drop = st.dropped_samples > p->status.dropped;
    p->status.state = state;
    p->status.published = p->published_samples;
    p->status.spooled = st.pending_samples;
    p->status.dropped = st.dropped_samples;
    p->status.spool_bytes = st.bytes;
    if (st.degraded)
        snprintf(p->status.alarm, sizeof p->status.alarm, "spool write failing: %s", st.last_error);
    else if (st.dropped_samples)
        snprintf(p->status.alarm, sizeof p->status.alarm,
                 "spool full: %" PRIu64 " oldest samples dropped", st.dropped_samples);
    else
        p->status.alarm[0] = '\0';
    pthread_mutex_unlock(&p->status_lock);
    if (new_drop)
        log_error("north", "alarm: spool full, oldest data dropped",
                  "publisher=%s dropped_total=%" PRIu64, p->name, st.dropped_samples);
}

static bool stop_requested(struct publisher *p)
{
    pthread_mutex_lock(&p->queue_lock);
    bool stop = p->stopping;
    pthread_mutex_unlock(&p->queue_lock);
    return stop;
}

/* After a stop request: lets the broker acknowledge what is in flight
 * (briefly), spools everything else, says goodbye and disconnects. */
static void publisher_shutdown(struct publisher *p, struct held *h)
{
    int64_t deadline = clock_mono_ms() + NORTH_STOP_ACK_WAIT_MS;
    while (p->mosq && p->connected && !p->connection_lost &&
           (p->unacked_head || p->replay_in_flight) && clock_mono_ms() < deadline) {
        wait_and_service(p, 20);
        socket_cork(p, false);
        process_acks(p);
    }
    size_t samples = 0;
    struct north_item *taken = take_queue(p, &samples); /* before samples is read */
    held_append(h, taken, samples);
    if (p->unacked_head) {
        /* Published live, not acknowledged: older than anything in the
         * spool (live batches are published only while it is empty), so
         * they go to the spool replayed first. */
        spool_items_to(p, p->unacked_spool, p->unacked_head);
        items_free(p->unacked_head);
        p->unacked_head = p->unacked_tail = NULL;
    }
    held_spool(p, h);
    if (p->mosq) {
        if (p->connected && !p->connection_lost && p->ops->goodbye) p->ops->goodbye(p);
        mosquitto_disconnect(p->mosq);
        for (int i = 0; i < 5 && mosquitto_want_write(p->mosq); i++)
            mosquitto_loop_write(p->mosq, 1);
        mosquitto_destroy(p->mosq);
        p->mosq = NULL;
    }
    p->connected = p->ready = false;
    update_status(p);
}

/* Whether the loop has work it can do without waiting for the network. */
static bool work_ready(const struct publisher *p, const struct held *h)
{
    if (!p->ready || p->connection_lost) return false;
    if (p->replay_in_flight) return p->acked >= p->replay_target;
    if (p->spooling) return unacked_messages(p) < NORTH_MAX_UNACKED_MESSAGES;
    return h->head && unacked_messages(p) < NORTH_MAX_UNACKED_MESSAGES;
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    struct held held = {0};
    while (!stop_requested(p)) {
        int64_t now = clock_mono_ms();
        if (!p->attempt_active && now >= p->next_connect_ms) connection_start(p, now);
        if (p->attempt_active && !p->connected && !p->connection_lost &&
            now - p->connect_started_ms > NORTH_CONNECT_TIMEOUT_MS) {
            north_set_error(p, "connecting to %s:%u timed out", p->host, p->port);
            p->connection_lost = true;
        }
        if (!p->connection_lost) wait_and_service(p, work_ready(p, &held) ? 0 : NORTH_POLL_MS);
        if (p->connected && !p->ready && !p->connection_lost && !p->ops_connected_done) {
            p->ops_connected_done = true;
            log_info("north", "connected to the broker",
                     "publisher=%s host=%s port=%u unacked=%" PRIu64, p->name, p->host, p->port,
                     unacked_messages(p));
            p->ops->connected(p);
        }
        if (p->connection_lost) {
            connection_drop(p, clock_mono_ms());
            p->ops_connected_done = false;
        }
        size_t samples = 0;
        struct north_item *taken = take_queue(p, &samples); /* before samples is read */
        held_append(&held, taken, samples);
        process_acks(p);
        process_held(p, &held); /* spools live batches between replayed ones */
        replay_step(p);
        if (p->connected && p->ops->tick) p->ops->tick(p, clock_mono_ms());
        spool_maintain(p->spool);
        spool_maintain(p->unacked_spool);
        update_status(p);
        socket_cork(p, false);
    }
    socket_cork(p, false);
    publisher_shutdown(p, &held);
    return NULL;
}

/* --- Starting and stopping --- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* True when path is prefix or lies under it (whole segments). */
static bool path_under(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    if (n == 0) return true;
    return strncmp(prefix, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool model_build(struct north_model *m, const struct config *cfg,
                        const struct tag_table *tags)
{
    tag_table_init(&m->tags);
    if (!tag_table_reserve(&m->tags, tags->count ? tags->count : 1)) return false;
    for (uint32_t i = 0; i < tags->count; i++)
        if (tag_table_add(&m->tags, &tags->tags[i]) != (int64_t)i) return false;
    m->devices = calloc(cfg->device_count ? cfg->device_count : 1, sizeof *m->devices);
    if (!m->devices) return false;
    m->device_count = cfg->device_count;
    for (size_t d = 0; d < cfg->device_count; d++) {
        const struct config_device *dev = &cfg->devices[d];
        struct north_device *nd = &m->devices[d];
        nd->name = strdup(dev->name ? dev->name : "device");
        nd->namespace_path = strdup(dev->namespace_prefix ? dev->namespace_prefix : "");
        size_t cap = (nd->name ? strlen(nd->name) : 0) + 8;
        nd->spb_id = malloc(cap);
        if (!nd->name || !nd->namespace_path || !nd->spb_id) return false;
        spb_id_sanitize(nd->name, nd->spb_id, cap);
    }
    return true;
}

static void model_free(struct north_model *m)
{
    tag_table_clear(&m->tags);
    for (size_t d = 0; d < m->device_count; d++) {
        free(m->devices[d].name);
        free(m->devices[d].spb_id);
        free(m->devices[d].namespace_path);
    }
    free(m->devices);
    memset(m, 0, sizeof *m);
}

/* Copies the settings of one publisher and applies the defaults. */
static bool publisher_settings(struct publisher *p, const struct config *cfg,
                               const struct config_north *c)
{
    const char *gateway = cfg->name ? cfg->name : "airlock";
    char client_id[256];
    snprintf(client_id, sizeof client_id, "airlock-%s-%s", gateway, c->name);
    p->name = strdup(c->name);
    p->host = strdup(c->host ? c->host : "127.0.0.1");
    p->client_id = strdup(c->client_id ? c->client_id : client_id);
    p->username = dup_or_null(c->username);
    p->password = dup_or_null(c->password);
    p->ca_file = dup_or_null(c->ca_file);
    p->cert_file = dup_or_null(c->cert_file);
    p->key_file = dup_or_null(c->key_file);
    p->prefix = strdup(c->prefix ? c->prefix : "uns");
    p->meta_prefix = strdup(c->meta_prefix ? c->meta_prefix : "uns-meta");
    p->group_id = strdup(c->group_id ? c->group_id : "airlock");
    p->edge_node = malloc(strlen(c->edge_node ? c->edge_node : gateway) + 8);
    p->primary_host = dup_or_null(c->primary_host);
    if (!p->name || !p->host || !p->client_id || !p->prefix || !p->meta_prefix || !p->group_id ||
        !p->edge_node || (c->username && !p->username) || (c->password && !p->password) ||
        (c->ca_file && !p->ca_file) || (c->cert_file && !p->cert_file) ||
        (c->key_file && !p->key_file) || (c->primary_host && !p->primary_host))
        return false;
    const char *edge = c->edge_node ? c->edge_node : gateway;
    spb_id_sanitize(edge, p->edge_node, strlen(edge) + 8);
    p->port = c->port ? c->port : (c->tls ? 8883 : 1883);
    p->tls = c->tls;
    p->retain = c->retain;
    p->protocol = c->protocol == 5 ? 5 : 4;
    p->qos = c->qos == 0 ? 0 : 1;
    p->keepalive_s = c->keepalive_s ? c->keepalive_s : 30;
    p->heartbeat_s = c->heartbeat_s;
    p->is_sparkplug = c->kind == CONFIG_NORTH_SPARKPLUG;
    p->spool_batch_max = p->is_sparkplug ? NORTH_SPOOL_BATCH_SPARKPLUG : NORTH_SPOOL_BATCH_UNS;
    p->keep_session = !p->is_sparkplug && p->qos > 0;
    p->ops = p->is_sparkplug ? &north_spb_ops : &north_uns_ops;
    pthread_mutex_lock(&p->status_lock);
    snprintf(p->status.name, sizeof p->status.name, "%s", c->name);
    snprintf(p->status.kind, sizeof p->status.kind, "%s", p->is_sparkplug ? "sparkplug" : "uns");
    snprintf(p->status.url, sizeof p->status.url, "%s://%s:%u", c->tls ? "mqtts" : "mqtt", p->host,
             p->port);
    pthread_mutex_unlock(&p->status_lock);
    return true;
}

static bool publisher_select_tags(struct publisher *p, const struct config_north *c)
{
    const struct tag_table *tags = &p->model->tags;
    p->selected = calloc(tags->count ? tags->count : 1, sizeof *p->selected);
    p->last = calloc(tags->count ? tags->count : 1, sizeof *p->last);
    if (!p->selected || !p->last) return false;
    for (uint32_t i = 0; i < tags->count; i++) {
        bool keep = c->tag_prefix_count == 0;
        for (size_t k = 0; !keep && k < c->tag_prefix_count; k++)
            keep = path_under(c->tag_prefixes[k], tags->tags[i].path);
        p->selected[i] = keep;
    }
    return true;
}

static bool publisher_open_spool(struct publisher *p, const struct config *cfg,
                                 const struct config_north *c, char *err, size_t err_len)
{
    char dir[4096], why[512];
    if (!config_north_spool_dir(cfg, c, dir, sizeof dir)) {
        snprintf(err, err_len, "publisher %s: the spool directory path is too long", c->name);
        return false;
    }
    if (!fs_make_dirs(dir)) {
        snprintf(err, err_len, "publisher %s: cannot create the spool directory %s: %s", c->name,
                 dir, strerror(errno));
        return false;
    }
    struct spool_options o;
    spool_options_init(&o);
    o.dir = dir;
    if (c->spool_max_bytes) o.max_bytes = c->spool_max_bytes;
    o.durability = c->spool_strict ? HIST_DURABILITY_STRICT : HIST_DURABILITY_BATCHED;
    if (c->spool_fsync_interval_ms) o.fsync_interval_ms = c->spool_fsync_interval_ms;
    /* A full spool drops whole segment files, oldest first: small segments
     * (a sixteenth of the limit) so that a drop takes little. */
    uint64_t segment = o.max_bytes / 16;
    if (segment < NORTH_SPOOL_SEGMENT_MIN) segment = NORTH_SPOOL_SEGMENT_MIN;
    if (segment < o.segment_bytes) o.segment_bytes = segment;
    p->spool = spool_open(&o, why, sizeof why);
    if (!p->spool) {
        snprintf(err, err_len, "publisher %s: cannot open the spool in %s: %s", c->name, dir, why);
        return false;
    }
    char unacked_dir[4200];
    snprintf(unacked_dir, sizeof unacked_dir, "%s/unacked", dir);
    o.dir = unacked_dir;
    p->unacked_spool = spool_open(&o, why, sizeof why);
    if (!p->unacked_spool) {
        snprintf(err, err_len, "publisher %s: cannot open the spool in %s: %s", c->name,
                 unacked_dir, why);
        return false;
    }
    p->spooling = spool_has_pending(p->spool) || spool_has_pending(p->unacked_spool);
    if (p->spooling) {
        struct spool_stats st, unacked;
        spool_get_stats(p->spool, &st);
        spool_get_stats(p->unacked_spool, &unacked);
        log_info("north", "spool holds data from before: it is replayed first",
                 "publisher=%s samples=%" PRIu64, p->name,
                 st.pending_samples + unacked.pending_samples);
    }
    return true;
}

/* Frees what publisher_init set up (thread already joined). */
static void publisher_free(struct publisher *p)
{
    spool_close(p->spool);
    spool_close(p->unacked_spool);
    items_free(p->queue_head);
    items_free(p->unacked_head);
    if (p->last)
        for (uint32_t i = 0; i < p->model->tags.count; i++)
            free(p->last[i].str);
    free(p->last);
    free(p->selected);
    free(p->metrics);
    free(p->payload);
    char **strings[] = {&p->name,     &p->host,      &p->client_id,   &p->username, &p->password,
                        &p->ca_file,  &p->cert_file, &p->key_file,    &p->prefix,   &p->meta_prefix,
                        &p->group_id, &p->edge_node, &p->primary_host};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    if (p->wake_fds[0] >= 0) close(p->wake_fds[0]);
    if (p->wake_fds[1] >= 0) close(p->wake_fds[1]);
    pthread_mutex_destroy(&p->queue_lock);
    pthread_mutex_destroy(&p->status_lock);
}

static bool publisher_init(struct publisher *p, const struct north_model *m,
                           const struct config *cfg, const struct config_north *c, char *err,
                           size_t err_len)
{
    p->model = m;
    p->wake_fds[0] = p->wake_fds[1] = -1;
    p->corked_fd = -1;
    pthread_mutex_init(&p->queue_lock, NULL);
    pthread_mutex_init(&p->status_lock, NULL);
    p->backoff_ms = NORTH_BACKOFF_INITIAL_MS;
    p->payload = malloc(NORTH_PAYLOAD_MAX);
    if (!p->payload || !publisher_settings(p, cfg, c) || !publisher_select_tags(p, c) ||
        pipe2(p->wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, err_len, "publisher %s: out of memory or descriptors", c->name);
        return false;
    }
    return publisher_open_spool(p, cfg, c, err, err_len);
}

static void publisher_wake(struct publisher *p)
{
    if (atomic_exchange(&p->wake_pending, true)) return;
    char one = 1;
    if (write(p->wake_fds[1], &one, 1) < 0) atomic_store(&p->wake_pending, false);
}

struct north *north_start(const struct config *cfg, const struct tag_table *tags, char *err,
                          size_t err_len)
{
    struct north *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, err_len, "out of memory starting the publishers");
        return NULL;
    }
    mosquitto_use();
    if (cfg->north_count == 0) return n;
    n->pubs = calloc(cfg->north_count, sizeof *n->pubs);
    if (!n->pubs || !model_build(&n->model, cfg, tags)) {
        snprintf(err, err_len, "out of memory starting the publishers");
        free(n->pubs);
        model_free(&n->model);
        free(n);
        mosquitto_release();
        return NULL;
    }
    for (size_t i = 0; i < cfg->north_count; i++) {
        n->count = i + 1;
        if (!publisher_init(&n->pubs[i], &n->model, cfg, &cfg->north[i], err, err_len)) {
            north_stop(n);
            return NULL;
        }
    }
    for (size_t i = 0; i < n->count; i++) {
        struct publisher *p = &n->pubs[i];
        if (pthread_create(&p->thread, NULL, publisher_main, p) != 0) {
            snprintf(err, err_len, "publisher %s: cannot start its thread", p->name);
            north_stop(n);
            return NULL;
        }
        p->thread_started = true;
        log_info("north", "publisher started", "publisher=%s kind=%s url=%s", p->name,
                 p->status.kind, p->status.url);
    }
    return n;
}

/* One item with the samples of b[0..n) that p selects; NULL when none (or
 * out of memory, logged). */
static struct north_item *item_build(const struct publisher *p, struct sample_batch *const *b,
                                     size_t count)
{
    uint32_t tag_count = p->model->tags.count;
    size_t n = 0, string_bytes = 0;
    for (size_t k = 0; k < count; k++)
        for (uint32_t i = 0; i < b[k]->count; i++) {
            const struct sample *s = &b[k]->samples[i];
            if (s->tag_id >= tag_count || !p->selected[s->tag_id]) continue;
            n++;
            if (s->value.type == VALUE_STRING) string_bytes += s->value.as.str.len;
        }
    if (n == 0) return NULL;
    struct north_item *it = malloc(sizeof *it + n * sizeof it->samples[0] + string_bytes + 1);
    if (!it) {
        log_error("north", "out of memory: samples not published", "publisher=%s count=%zu",
                  p->name, n);
        return NULL;
    }
    it->next = NULL;
    it->ack_target = 0;
    it->count = n;
    char *strings = (char *)&it->samples[n];
    size_t m = 0;
    for (size_t k = 0; k < count; k++)
        for (uint32_t i = 0; i < b[k]->count; i++) {
            const struct sample *s = &b[k]->samples[i];
            if (s->tag_id >= tag_count || !p->selected[s->tag_id]) continue;
            struct north_sample *d = &it->samples[m++];
            *d = (struct north_sample){
                .tag = s->tag_id, .quality = s->quality, .ts_ns = s->ts_ns, .value = s->value};
            if (s->value.type == VALUE_STRING) {
                if (s->value.as.str.len) memcpy(strings, s->value.as.str.ptr, s->value.as.str.len);
                d->value.as.str.ptr = strings;
                strings += s->value.as.str.len;
            }
        }
    return it;
}

void north_publish(struct north *n, struct sample_batch *const *b, size_t count)
{
    if (!n) return;
    for (size_t i = 0; i < n->count; i++) {
        struct publisher *p = &n->pubs[i];
        struct north_item *it = item_build(p, b, count);
        if (!it) continue;
        pthread_mutex_lock(&p->queue_lock);
        if (p->queue_tail)
            p->queue_tail->next = it;
        else
            p->queue_head = it;
        p->queue_tail = it;
        p->queued_samples += it->count;
        pthread_mutex_unlock(&p->queue_lock);
        publisher_wake(p);
    }
}

void north_stop(struct north *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->count; i++) {
        struct publisher *p = &n->pubs[i];
        if (!p->thread_started) continue;
        pthread_mutex_lock(&p->queue_lock);
        p->stopping = true;
        pthread_mutex_unlock(&p->queue_lock);
        publisher_wake(p);
    }
    for (size_t i = 0; i < n->count; i++) {
        struct publisher *p = &n->pubs[i];
        if (p->thread_started) pthread_join(p->thread, NULL);
        if (p->thread_started) log_info("north", "publisher stopped", "publisher=%s", p->name);
        publisher_free(p);
    }
    free(n->pubs);
    model_free(&n->model);
    free(n);
    mosquitto_release();
}

size_t north_count(const struct north *n)
{
    return n ? n->count : 0;
}

size_t north_get_status(struct north *n, struct north_status *out, size_t cap)
{
    if (!n) return 0;
    size_t k = 0;
    for (; k < n->count && k < cap; k++) {
        struct publisher *p = &n->pubs[k];
        pthread_mutex_lock(&p->status_lock);
        out[k] = p->status;
        pthread_mutex_unlock(&p->status_lock);
    }
    return k;
}
