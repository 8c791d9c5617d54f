/* The one-way link's sender (link_sender.h): boundary -> DATA/BIRTH/HEARTBEAT
 * datagrams -> a connected UDP socket that is never read. */
#include "oneway/link_sender.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/clock.h"
#include "core/errbuf.h"
#include "core/le.h"
#include "core/log.h"

/* Batches taken from the boundary at once, and the samples they may hold
 * together before they are encoded. */
#define TAKE_MAX_BATCHES 256
#define TAKE_MAX_SAMPLES 65536u
/* Datagrams encoded before they are sent when there is no rate limit. */
#define UNLIMITED_QUEUE_SLOTS 64u
#define LIMITED_QUEUE_MAX_SLOTS 4096u
/* Messages per sendmmsg call. */
#define SEND_VECTOR 256u
/* Longest sleep of the thread: how quickly it notices stop. */
#define IDLE_WAIT_MS 100
#define SNDBUF_BYTES (4 << 20)
/* Send errors are logged at most this often. */
#define ERROR_LOG_INTERVAL_MS 10000
/* Where a datagram carries its sequence number (docs/oneway.md, header). */
#define LINK_SEQUENCE_OFFSET 16

/* The tag table as BIRTH carries it, with its own copy of the strings. */
struct birth_table {
    struct link_birth_tag *tags;
    size_t count;
    char *strings;
};

/* One encoded DATA datagram waiting to be sent. */
struct slot {
    uint8_t *bytes;
    uint32_t len;
    int64_t queued_ms;
};

struct link_sender {
    int fd;
    struct link_sender_options opt;
    struct link_encoder enc;
    pthread_t thread;
    atomic_bool stop;

    pthread_mutex_t lock;          /* guards pending and counters */
    struct birth_table *pending;   /* a new table from link_sender_set_tags */
    pthread_cond_t pending_taken;  /* signalled when the thread takes pending */
    struct link_sender_counters c; /* copied out under lock */

    /* The thread's own state. */
    struct birth_table table;
    uint32_t epoch;
    struct slot *slots;
    uint8_t *slot_memory;
    size_t slot_cap, head, queued;
    double tokens;
    int64_t tokens_ms;
    uint8_t *control;            /* buffer for one BIRTH or HEARTBEAT datagram */
    struct link_device *devices; /* the snapshot being sent */
    size_t devices_cap;
    uint32_t devices_snapshot;
    struct sample *staging;
    size_t staging_cap;
    struct mmsghdr vec[SEND_VECTOR];
    struct iovec iov[SEND_VECTOR];
    int64_t last_error_log_ms;
    uint64_t errors_unlogged;
};

/* ---- addresses ----------------------------------------------------------------- */

bool link_address_resolve(const char *host_port, bool passive, struct sockaddr_storage *out,
                          socklen_t *out_len, char *err, size_t err_len)
{
    char host[300];
    const char *colon = host_port ? strrchr(host_port, ':') : NULL;
    size_t host_len = colon ? (size_t)(colon - host_port) : 0;
    if (!colon || host_len == 0 || host_len >= sizeof host || colon[1] == '\0') {
        errbuf_set(err, err_len, "'%s': expected host:port", host_port ? host_port : "");
        return false;
    }
    memcpy(host, host_port, host_len);
    host[host_len] = '\0';
    if (host[0] == '[' && host_len >= 2 && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        errbuf_set(err, err_len, "'%s': %s", host_port, rc ? gai_strerror(rc) : "no address");
        return false;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

/* ---- the tag table ------------------------------------------------------------- */

static void birth_table_free(struct birth_table *t)
{
    if (!t) return;
    free(t->tags);
    free(t->strings);
    memset(t, 0, sizeof *t);
}

/* A unit longer than a BIRTH entry holds is cut at a character boundary. */
static uint32_t unit_len_for_birth(const char *unit)
{
    size_t n = unit ? strlen(unit) : 0;
    if (n <= LINK_NAME_MAX_BYTES) return (uint32_t)n;
    n = LINK_NAME_MAX_BYTES;
    while (n > 0 && ((unsigned char)unit[n] & 0xC0) == 0x80)
        n--;
    return (uint32_t)n;
}

static bool birth_table_copy(struct birth_table *out, const struct tag_table *tags)
{
    memset(out, 0, sizeof *out);
    size_t bytes = 1;
    uint32_t n = tags ? tags->count : 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += strlen(tags->tags[i].path) + unit_len_for_birth(tags->tags[i].unit);
    out->tags = calloc(n ? n : 1, sizeof *out->tags);
    out->strings = malloc(bytes);
    if (!out->tags || !out->strings) {
        birth_table_free(out);
        return false;
    }
    char *p = out->strings;
    for (uint32_t i = 0; i < n; i++) {
        const struct tag *t = &tags->tags[i];
        size_t path_len = strlen(t->path);
        uint32_t unit_len = unit_len_for_birth(t->unit);
        memcpy(p, t->path, path_len);
        out->tags[i] = (struct link_birth_tag){
            .id = t->id, .type = t->type, .path = p, .path_len = (uint32_t)path_len};
        p += path_len;
        if (unit_len) memcpy(p, t->unit, unit_len);
        out->tags[i].unit = p;
        out->tags[i].unit_len = unit_len;
        p += unit_len;
    }
    out->count = n;
    return true;
}

/* ---- sending ------------------------------------------------------------------- */

static void count(struct link_sender *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->lock);
    *field += n;
    pthread_mutex_unlock(&s->lock);
}

static void note_send_error(struct link_sender *s, int e, unsigned copies)
{
    count(s, &s->c.send_errors, copies);
    s->errors_unlogged += copies;
    int64_t now = clock_mono_ms();
    if (now - s->last_error_log_ms < ERROR_LOG_INTERVAL_MS) return;
    log_warn("link", "datagrams not sent", "destination=%s error=\"%s\" refused=%llu",
             s->opt.destination, strerror(e), (unsigned long long)s->errors_unlogged);
    s->errors_unlogged = 0;
    s->last_error_log_ms = now;
}

/* Sends messages vec[0..n) (sendmmsg; a refused message is counted and
 * skipped). */
static void send_vector(struct link_sender *s, unsigned n)
{
    unsigned done = 0;
    uint64_t bytes = 0, sent = 0;
    while (done < n) {
        int r = sendmmsg(s->fd, s->vec + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            note_send_error(s, errno, 1);
            done++;
            continue;
        }
        for (unsigned i = done; i < done + (unsigned)r; i++)
            bytes += s->vec[i].msg_len;
        sent += (unsigned)r;
        done += (unsigned)r;
    }
    pthread_mutex_lock(&s->lock);
    s->c.copies_sent += sent;
    s->c.bytes += bytes;
    pthread_mutex_unlock(&s->lock);
}

static void vec_set(struct link_sender *s, unsigned i, const uint8_t *bytes, size_t len)
{
    s->iov[i] = (struct iovec){.iov_base = (void *)bytes, .iov_len = len};
    memset(&s->vec[i], 0, sizeof s->vec[i]);
    s->vec[i].msg_hdr.msg_iov = &s->iov[i];
    s->vec[i].msg_hdr.msg_iovlen = 1;
}

/* The bucket gains rate tokens per second up to a burst of a tenth of a
 * second (at least one datagram with its copies). */
static void refill_tokens(struct link_sender *s, int64_t now_ms)
{
    uint32_t rate = s->opt.rate_limit_datagrams_per_s;
    if (rate == 0) return;
    double burst = (double)rate / 10.0;
    if (burst < s->opt.redundancy) burst = s->opt.redundancy;
    s->tokens += (double)rate * (double)(now_ms - s->tokens_ms) / 1000.0;
    if (s->tokens > burst) s->tokens = burst;
    s->tokens_ms = now_ms;
}

/* Sends one control datagram (BIRTH, HEARTBEAT) k times at once, unless the
 * test hook skips its number. */
static void send_control(struct link_sender *s, const uint8_t *bytes, size_t len, uint64_t seq)
{
    if (s->opt.skip && s->opt.skip(s->opt.skip_ctx, s->enc.session_id, seq)) return;
    for (unsigned c = 0; c < s->opt.redundancy; c++)
        vec_set(s, c, bytes, len);
    send_vector(s, s->opt.redundancy);
    s->tokens -= s->opt.redundancy;
}

/* Sends up to n queued DATA datagrams from the head, each k times (all
 * datagrams of a round once, then again: copies are spread out). */
static void send_queued(struct link_sender *s, size_t n)
{
    const unsigned k = s->opt.redundancy;
    while (n > 0) {
        size_t round = n < SEND_VECTOR / k ? n : SEND_VECTOR / k;
        unsigned m = 0;
        for (unsigned c = 0; c < k; c++)
            for (size_t i = 0; i < round; i++) {
                const struct slot *sl = &s->slots[(s->head + i) % s->slot_cap];
                vec_set(s, m++, sl->bytes, sl->len);
            }
        send_vector(s, m);
        s->head = (s->head + round) % s->slot_cap;
        s->queued -= round;
        n -= round;
    }
}

static void drop_head(struct link_sender *s, size_t n)
{
    s->head = (s->head + n) % s->slot_cap;
    s->queued -= n;
    count(s, &s->c.rate_drops, n);
}

/* Sends what the rate limit allows (everything without one, or with force)
 * and drops what waited too long. */
static void pump(struct link_sender *s, bool force)
{
    if (s->queued == 0) return;
    if (s->opt.rate_limit_datagrams_per_s == 0 || force) {
        send_queued(s, s->queued);
        return;
    }
    int64_t now = clock_mono_ms();
    refill_tokens(s, now);
    size_t expired = 0;
    while (expired < s->queued &&
           s->slots[(s->head + expired) % s->slot_cap].queued_ms + LINK_SENDER_QUEUE_MAX_MS < now)
        expired++;
    if (expired) drop_head(s, expired);
    double allowed = s->tokens / s->opt.redundancy;
    size_t n = allowed < 1 ? 0 : (size_t)allowed;
    if (n > s->queued) n = s->queued;
    if (n == 0) return;
    s->tokens -= (double)n * s->opt.redundancy;
    send_queued(s, n);
}

/* ---- encoding ------------------------------------------------------------------ */

static bool emit_birth(void *ctx, const uint8_t *datagram, size_t len)
{
    struct link_sender *s = ctx;
    send_control(s, datagram, len, get_u64le(datagram + LINK_SEQUENCE_OFFSET));
    count(s, &s->c.birth_datagrams, 1);
    count(s, &s->c.datagrams, 1);
    return true;
}

static void send_birth(struct link_sender *s)
{
    char err[256];
    pump(s, true); /* DATA encoded before this BIRTH goes first */
    enum link_status st = link_encode_birth(&s->enc, s->table.tags, s->table.count, s->epoch,
                                            clock_now_ns(), emit_birth, s, err, sizeof err);
    if (st != LINK_OK) log_error("link", "cannot send the tag table", "error=\"%s\"", err);
}

static void send_heartbeat(struct link_sender *s)
{
    char err[256];
    size_t len;
    pump(s, false);
    uint64_t seq = s->enc.next_sequence;
    if (link_encode_heartbeat(&s->enc, s->epoch, (uint32_t)s->table.count, clock_now_ns(),
                              s->control, s->enc.max_datagram_bytes, &len, err,
                              sizeof err) != LINK_OK) {
        log_error("link", "cannot encode a heartbeat", "error=\"%s\"", err);
        return;
    }
    send_control(s, s->control, len, seq);
    pthread_mutex_lock(&s->lock);
    s->c.heartbeats++;
    s->c.datagrams++;
    pthread_mutex_unlock(&s->lock);
}

static bool emit_devices(void *ctx, const uint8_t *datagram, size_t len)
{
    struct link_sender *s = ctx;
    send_control(s, datagram, len, get_u64le(datagram + LINK_SEQUENCE_OFFSET));
    pthread_mutex_lock(&s->lock);
    s->c.devices++;
    s->c.datagrams++;
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Copies the registry's devices (under its lock) into s->devices; their
 * count, or SIZE_MAX when out of memory. */
static size_t snapshot_devices(struct link_sender *s)
{
    struct stats_registry *reg = s->opt.stats;
    pthread_mutex_lock(&reg->lock);
    size_t n = reg->count;
    if (n > LINK_DEVICES_MAX) n = LINK_DEVICES_MAX;
    if (n > s->devices_cap) {
        struct link_device *grown = realloc(s->devices, n * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&reg->lock);
            return SIZE_MAX;
        }
        s->devices = grown;
        s->devices_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        link_device_from_stats(&reg->devices[i], &s->devices[i]);
    pthread_mutex_unlock(&reg->lock);
    /* A name the codec refuses (empty, control characters) is made
     * printable rather than holding back the whole set. */
    for (size_t i = 0; i < n; i++) {
        struct link_device *d = &s->devices[i];
        if (!d->name[0]) snprintf(d->name, sizeof d->name, "device-%zu", i);
        char *texts[] = {d->name, d->protocol, d->endpoint};
        for (size_t t = 0; t < 3; t++)
            for (char *c = texts[t]; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7F) *c = '?';
    }
    return n;
}

/* Sends the device statistics (after a heartbeat). */
static void send_devices(struct link_sender *s)
{
    if (!s->opt.stats) return;
    char err[256];
    size_t n = snapshot_devices(s);
    if (n == SIZE_MAX) {
        log_error("link", "out of memory copying device statistics", NULL);
        return;
    }
    s->devices_snapshot++;
    if (link_encode_devices(&s->enc, s->devices, n, s->devices_snapshot, clock_now_ns(),
                            emit_devices, s, err, sizeof err) != LINK_OK)
        log_error("link", "cannot send device statistics", "error=\"%s\"", err);
}

/* Room for one more DATA datagram at the tail of the queue: without a rate
 * limit a full queue is sent; with one, its oldest datagram is dropped. */
static struct slot *tail_slot(struct link_sender *s)
{
    if (s->queued == s->slot_cap) {
        if (s->opt.rate_limit_datagrams_per_s == 0)
            pump(s, true);
        else
            drop_head(s, 1);
    }
    return &s->slots[(s->head + s->queued) % s->slot_cap];
}

/* Encodes samples[0..n) into DATA datagrams at the tail of the queue. */
static void encode_samples(struct link_sender *s, const struct sample *samples, size_t n)
{
    char err[256];
    int64_t sent_ns = clock_now_ns();
    size_t done = 0;
    while (done < n) {
        struct slot *sl = tail_slot(s);
        uint64_t seq = s->enc.next_sequence;
        size_t len = 0, taken = 0;
        enum link_status st =
            link_encode_data(&s->enc, samples + done, n - done, sent_ns, sl->bytes,
                             s->enc.max_datagram_bytes, &len, &taken, err, sizeof err);
        if (st != LINK_OK) {
            /* The first sample fits no datagram (or is invalid): skip it. */
            log_warn("link", "sample not sent", "error=\"%s\"", err);
            count(s, &s->c.samples_refused, 1);
            done++;
            continue;
        }
        done += taken;
        pthread_mutex_lock(&s->lock);
        s->c.datagrams++;
        s->c.data_datagrams++;
        s->c.samples += taken;
        pthread_mutex_unlock(&s->lock);
        if (s->opt.skip && s->opt.skip(s->opt.skip_ctx, s->enc.session_id, seq)) continue;
        sl->len = (uint32_t)len;
        sl->queued_ms = clock_mono_ms();
        s->queued++;
    }
}

/* Encodes the samples of batches b[0..n) (one sample array when there are
 * several) and frees the batches. */
static void encode_batches(struct link_sender *s, struct sample_batch **b, size_t n)
{
    if (n == 1) {
        encode_samples(s, b[0]->samples, b[0]->count);
    } else {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += b[i]->count;
        if (total > s->staging_cap) {
            struct sample *grown = realloc(s->staging, total * sizeof *grown);
            if (grown) {
                s->staging = grown;
                s->staging_cap = total;
            }
        }
        if (total <= s->staging_cap) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                memcpy(s->staging + k, b[i]->samples, b[i]->count * sizeof *s->staging);
                k += b[i]->count;
            }
            encode_samples(s, s->staging, total);
        } else {
            for (size_t i = 0; i < n; i++)
                encode_samples(s, b[i]->samples, b[i]->count);
        }
    }
    for (size_t i = 0; i < n; i++)
        sample_batch_free(b[i]);
}

/* ---- the thread ---------------------------------------------------------------- */

/* Installs a table given by link_sender_set_tags: what was encoded under the
 * old session is sent first, then a new session starts with its BIRTH. */
static bool take_pending_table(struct link_sender *s)
{
    pthread_mutex_lock(&s->lock);
    struct birth_table *next = s->pending;
    s->pending = NULL;
    pthread_cond_broadcast(&s->pending_taken);
    pthread_mutex_unlock(&s->lock);
    if (!next) return false;
    pump(s, true);
    birth_table_free(&s->table);
    s->table = *next;
    free(next);
    uint64_t session;
    if (!link_random_session_id(&session)) session = s->enc.session_id + 1;
    s->enc.session_id = session;
    s->enc.next_sequence = 1;
    s->enc.datagrams_sent = 0;
    s->enc.samples_sent = 0;
    s->epoch++;
    pthread_mutex_lock(&s->lock);
    s->c.sessions++;
    s->c.session_id = session;
    s->c.epoch = s->epoch;
    pthread_mutex_unlock(&s->lock);
    log_info("link", "tag table changed: new session", "session=%016llx epoch=%u tags=%zu",
             (unsigned long long)session, s->epoch, s->table.count);
    return true;
}

static void log_counters(struct link_sender *s, const char *msg)
{
    struct link_sender_counters c;
    link_sender_get_counters(s, &c);
    log_info("link", msg,
             "datagrams=%llu samples=%llu copies_sent=%llu bytes=%llu rate_drops=%llu "
             "send_errors=%llu samples_refused=%llu",
             (unsigned long long)c.datagrams, (unsigned long long)c.samples,
             (unsigned long long)c.copies_sent, (unsigned long long)c.bytes,
             (unsigned long long)c.rate_drops, (unsigned long long)c.send_errors,
             (unsigned long long)c.samples_refused);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void *sender_main(void *arg)
{
    struct link_sender *s = arg;
    struct sample_batch *taken[TAKE_MAX_BATCHES];
    int64_t now = clock_mono_ms();
    int64_t next_birth = now, next_heartbeat = now, next_stats = now + s->opt.stats_interval_ms;
    for (;;) {
        bool stopping = atomic_load(&s->stop);
        if (take_pending_table(s)) next_birth = clock_mono_ms();
        now = clock_mono_ms();
        if (now >= next_birth) {
            send_birth(s);
            next_birth = now + s->opt.birth_interval_ms;
        }
        if (now >= next_heartbeat) {
            send_heartbeat(s);
            send_devices(s);
            next_heartbeat = now + s->opt.heartbeat_interval_ms;
        }
        if (now >= next_stats) {
            log_counters(s, "link sender counters");
            next_stats = now + s->opt.stats_interval_ms;
        }
        int64_t due = min64(min64(next_birth, next_heartbeat), next_stats);
        if (s->queued) due = min64(due, now + 5); /* rate-limited datagrams wait */
        int wait = stopping ? 0 : (int)(due - now < 0 ? 0 : min64(due - now, IDLE_WAIT_MS));
        size_t n = 0, samples = 0;
        struct sample_batch *b = boundary_receive(s->opt.source, wait);
        while (b) {
            taken[n++] = b;
            samples += b->count;
            if (n == TAKE_MAX_BATCHES || samples >= TAKE_MAX_SAMPLES) break;
            b = boundary_receive(s->opt.source, 0);
        }
        if (n) encode_batches(s, taken, n);
        pump(s, false);
        if (stopping && n == 0) break;
    }
    pump(s, true);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------ */

static int open_socket(const struct link_sender_options *o, char *err, size_t err_len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (!link_address_resolve(o->destination, false, &addr, &addr_len, err, err_len)) return -1;
    int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errbuf_set(err, err_len, "cannot create a UDP socket: %s", strerror(errno));
        return -1;
    }
    int sndbuf = SNDBUF_BYTES, rcvbuf = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* Never read: the smallest receive buffer the kernel allows. */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        errbuf_set(err, err_len, "cannot address %s: %s", o->destination, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void sender_free(struct link_sender *s)
{
    if (s->fd >= 0) close(s->fd);
    link_encoder_clear(&s->enc);
    if (s->pending) birth_table_free(s->pending);
    free(s->pending);
    birth_table_free(&s->table);
    free(s->slots);
    free(s->slot_memory);
    free(s->control);
    free(s->devices);
    free(s->staging);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->pending_taken);
    OPENSSL_cleanse(&s->opt.key, sizeof s->opt.key);
    free((char *)s->opt.destination);
    free(s);
}

static bool check_options(struct link_sender_options *o, char *err, size_t err_len)
{
    if (o->redundancy == 0) o->redundancy = 1;
    if (o->birth_interval_ms == 0) o->birth_interval_ms = LINK_SENDER_DEFAULT_BIRTH_INTERVAL_MS;
    if (o->heartbeat_interval_ms == 0)
        o->heartbeat_interval_ms = LINK_SENDER_DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (o->stats_interval_ms == 0) o->stats_interval_ms = LINK_SENDER_DEFAULT_STATS_INTERVAL_MS;
    if (o->datagram_bytes == 0) o->datagram_bytes = LINK_DEFAULT_DATAGRAM_BYTES;
    if (!o->source || !o->destination) {
        errbuf_set(err, err_len, "no boundary or no destination");
        return false;
    }
    if (o->redundancy > LINK_SENDER_MAX_REDUNDANCY) {
        errbuf_set(err, err_len, "redundancy %u above %u", o->redundancy,
                   LINK_SENDER_MAX_REDUNDANCY);
        return false;
    }
    return true;
}

/* The queue: a few datagrams without a rate limit; with one, what the rate
 * lets out in LINK_SENDER_QUEUE_MAX_MS. */
static bool alloc_queue(struct link_sender *s)
{
    size_t cap = UNLIMITED_QUEUE_SLOTS;
    uint32_t rate = s->opt.rate_limit_datagrams_per_s;
    if (rate) {
        cap = (size_t)rate * LINK_SENDER_QUEUE_MAX_MS / 1000 / s->opt.redundancy;
        if (cap < 16) cap = 16;
        if (cap > LIMITED_QUEUE_MAX_SLOTS) cap = LIMITED_QUEUE_MAX_SLOTS;
    }
    size_t size = s->enc.max_datagram_bytes;
    s->slot_cap = cap;
    s->slots = calloc(cap, sizeof *s->slots);
    s->slot_memory = malloc(cap * size);
    s->control = malloc(size);
    if (!s->slots || !s->slot_memory || !s->control) return false;
    for (size_t i = 0; i < cap; i++)
        s->slots[i].bytes = s->slot_memory + i * size;
    return true;
}

struct link_sender *link_sender_start(const struct link_sender_options *opt,
                                      const struct tag_table *tags, char *err, size_t err_len)
{
    struct link_sender *s = calloc(1, sizeof *s);
    if (!s) {
        errbuf_set(err, err_len, "out of memory");
        return NULL;
    }
    s->fd = -1;
    s->opt = *opt;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->pending_taken, NULL);
    bool valid = check_options(&s->opt, err, err_len);
    s->opt.destination = valid ? strdup(opt->destination) : NULL;
    if (!s->opt.destination) {
        if (valid) errbuf_set(err, err_len, "out of memory");
        sender_free(s);
        return NULL;
    }
    uint64_t session;
    if (!link_random_session_id(&session)) {
        errbuf_set(err, err_len, "no random session id (OpenSSL RAND_bytes failed)");
        sender_free(s);
        return NULL;
    }
    char why[256];
    if (link_encoder_init(&s->enc, s->opt.key, s->opt.link_id, session, s->opt.datagram_bytes, why,
                          sizeof why) != LINK_OK) {
        errbuf_set(err, err_len, "link: %s", why);
        sender_free(s);
        return NULL;
    }
    if (!alloc_queue(s) || !birth_table_copy(&s->table, tags)) {
        errbuf_set(err, err_len, "out of memory");
        sender_free(s);
        return NULL;
    }
    s->fd = open_socket(&s->opt, err, err_len);
    if (s->fd < 0) {
        sender_free(s);
        return NULL;
    }
    s->epoch = 1;
    s->c.sessions = 1;
    s->c.session_id = session;
    s->c.epoch = 1;
    s->tokens = s->opt.redundancy;
    s->tokens_ms = clock_mono_ms();
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        errbuf_set(err, err_len, "cannot start the link sender thread");
        sender_free(s);
        return NULL;
    }
    log_info("link", "sending",
             "destination=%s link_id=%u session=%016llx tags=%zu datagram_bytes=%zu "
             "redundancy=%u rate_limit=%u",
             s->opt.destination, s->opt.link_id, (unsigned long long)session, s->table.count,
             s->enc.max_datagram_bytes, s->opt.redundancy, s->opt.rate_limit_datagrams_per_s);
    return s;
}

bool link_sender_set_tags(struct link_sender *s, const struct tag_table *tags)
{
    struct birth_table *t = malloc(sizeof *t);
    if (!t || !birth_table_copy(t, tags)) {
        free(t);
        return false;
    }
    pthread_mutex_lock(&s->lock);
    struct birth_table *old = s->pending;
    s->pending = t;
    /* Return only once the thread has switched: every batch it takes from
     * the boundary from now on goes out under the new session. */
    while (s->pending == t)
        pthread_cond_wait(&s->pending_taken, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (old) birth_table_free(old);
    free(old);
    return true;
}

void link_sender_get_counters(struct link_sender *s, struct link_sender_counters *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->c;
    pthread_mutex_unlock(&s->lock);
}

void link_sender_stop(struct link_sender *s)
{
    if (!s) return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    log_counters(s, "link sender stopped");
    sender_free(s);
}
