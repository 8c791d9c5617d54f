/* Tests of the one-way link's sender and receiver over loopback UDP in one
 * process (oneway/link_sender.h, oneway/link_receiver.h): the tag table
 * (BIRTH) arrives before any sample is applied and every sample arrives
 * intact; heartbeats bring the link up and their absence takes it down (all
 * tags marked); a sender that skips sequence numbers on purpose gets exactly
 * those numbers reported lost; a receiver started after the sender learns
 * the table from the repeated BIRTH; a new tag table starts a new session;
 * redundancy and the rate limit are counted; a wrong key is refused and
 * counted; hostile datagrams (garbage, truncated, oversized, replayed, of
 * another link, of an older session) are counted and the receiver keeps
 * going; the OT side's device statistics (DEVICES) arrive after the
 * heartbeats, follow changes of counters, state and last error, and a new
 * device set replaces the old one. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/tag.h"
#include "oneway/link_receiver.h"
#include "oneway/link_sender.h"
#include "testlib.h"

#define LINK_ID 42
#define TAG_COUNT 50
#define MAX_LOST 4096

/* What the receiver's callbacks saw. */
struct seen {
    pthread_mutex_t lock;
    int tables;
    uint32_t table_tags;
    char first_path[TAG_PATH_MAX];
    uint64_t samples;
    uint64_t good_values; /* samples whose value matches what was sent */
    int marks_loss, marks_down;
    int ups, downs;
    int loss_reports;
    char last_loss[4096];
    int device_sets;
    size_t device_count;
    struct link_device devices[4];
};

static struct seen seen;

static bool on_tags(void *ctx, struct tag_table *tags, uint64_t session, uint32_t epoch)
{
    (void)ctx;
    (void)session;
    (void)epoch;
    pthread_mutex_lock(&seen.lock);
    seen.tables++;
    seen.table_tags = tags->count;
    snprintf(seen.first_path, sizeof seen.first_path, "%s", tags->count ? tags->tags[0].path : "");
    pthread_mutex_unlock(&seen.lock);
    return true;
}

/* The test's samples: tag i holds i * 1.5 (doubles), or "s<i>" (strings,
 * every 10th tag), at ts 1000 + i. */
static bool sample_as_sent(const struct sample *s)
{
    if (s->tag_id % 10 == 9) {
        char want[16];
        int n = snprintf(want, sizeof want, "s%u", s->tag_id);
        return s->value.type == VALUE_STRING && s->value.as.str.len == (uint32_t)n &&
               memcmp(s->value.as.str.ptr, want, (size_t)n) == 0;
    }
    return s->value.type == VALUE_DOUBLE && s->value.as.f64 == s->tag_id * 1.5 &&
           s->ts_ns == 1000 + (int64_t)s->tag_id && s->quality == QUALITY_GOOD;
}

static void on_batch(void *ctx, struct sample_batch *b)
{
    (void)ctx;
    pthread_mutex_lock(&seen.lock);
    for (uint32_t i = 0; i < b->count; i++) {
        seen.samples++;
        seen.good_values += sample_as_sent(&b->samples[i]);
    }
    pthread_mutex_unlock(&seen.lock);
    sample_batch_free(b);
}

static void on_mark(void *ctx, quality_t q)
{
    (void)ctx;
    pthread_mutex_lock(&seen.lock);
    if (q == LINK_QUALITY_DOWN)
        seen.marks_down++;
    else
        seen.marks_loss++;
    pthread_mutex_unlock(&seen.lock);
}

static void on_loss(void *ctx, const char *ranges, uint64_t numbers)
{
    (void)ctx;
    (void)numbers;
    pthread_mutex_lock(&seen.lock);
    seen.loss_reports++;
    snprintf(seen.last_loss, sizeof seen.last_loss, "%s", ranges);
    pthread_mutex_unlock(&seen.lock);
}

static void on_state(void *ctx, enum link_state st, const char *details)
{
    (void)ctx;
    (void)details;
    pthread_mutex_lock(&seen.lock);
    if (st == LINK_STATE_UP)
        seen.ups++;
    else
        seen.downs++;
    pthread_mutex_unlock(&seen.lock);
}

static void on_devices(void *ctx, const struct link_device *devices, size_t n)
{
    (void)ctx;
    pthread_mutex_lock(&seen.lock);
    seen.device_sets++;
    seen.device_count = n;
    for (size_t i = 0; i < n && i < 4; i++)
        seen.devices[i] = devices[i];
    pthread_mutex_unlock(&seen.lock);
}

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    memset((char *)&seen + sizeof seen.lock, 0, sizeof seen - sizeof seen.lock);
    pthread_mutex_unlock(&seen.lock);
}

static struct seen seen_get(void)
{
    pthread_mutex_lock(&seen.lock);
    struct seen copy = seen;
    pthread_mutex_unlock(&seen.lock);
    return copy;
}

static void make_key(uint8_t key[LINK_KEY_BYTES], char fill)
{
    uint8_t material[32];
    memset(material, fill, sizeof material);
    CHECK_EQ_INT(link_key_derive(material, sizeof material, key, NULL, 0), LINK_OK);
}

static void make_tags(struct tag_table *t, const char *prefix, uint32_t n)
{
    tag_table_init(t);
    for (uint32_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/area/line/cell/t%u", prefix, i);
        struct tag tag = {.type = i % 10 == 9 ? VALUE_STRING : VALUE_DOUBLE,
                          .path = path,
                          .unit = i % 2 ? "degC" : "",
                          .description = "",
                          .scale = {1, 0}};
        CHECK(tag_table_add(t, &tag) == (int64_t)i);
    }
}

/* One batch with a sample of every tag. */
static void send_round(struct boundary *b, uint32_t tags)
{
    struct sample_batch *batch = sample_batch_new(tags);
    for (uint32_t i = 0; i < tags; i++) {
        struct value v = value_double(i * 1.5);
        char text[16];
        if (i % 10 == 9) {
            int n = snprintf(text, sizeof text, "s%u", i);
            v = (struct value){.type = VALUE_STRING};
            v.as.str.ptr = text;
            v.as.str.len = (uint32_t)n;
        }
        CHECK(sample_batch_add(batch, i, 1000 + i, QUALITY_GOOD, &v));
    }
    CHECK(boundary_send(b, batch));
}

static struct link_receiver *start_receiver(const uint8_t key[LINK_KEY_BYTES], uint16_t port,
                                            uint32_t heartbeat_timeout_ms)
{
    char listen[64], err[256];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    struct link_receiver_options o = {.listen = listen,
                                      .link_id = LINK_ID,
                                      .heartbeat_timeout_ms = heartbeat_timeout_ms,
                                      .reorder_wait_ms = 100,
                                      .cb = {.on_tags = on_tags,
                                             .on_batch = on_batch,
                                             .on_mark_uncertain = on_mark,
                                             .on_loss = on_loss,
                                             .on_state = on_state,
                                             .on_devices = on_devices}};
    memcpy(o.key, key, LINK_KEY_BYTES);
    struct link_receiver *r = link_receiver_start(&o, err, sizeof err);
    if (!r) fprintf(stderr, "receiver: %s\n", err);
    CHECK(r != NULL);
    return r;
}

struct sender_setup {
    uint32_t redundancy;
    uint32_t rate;
    uint32_t birth_interval_ms;
    link_sender_skip_fn skip;
    void *skip_ctx;
    struct stats_registry *stats;
};

static struct link_sender *start_sender(const uint8_t key[LINK_KEY_BYTES], uint16_t port,
                                        struct boundary *b, const struct tag_table *tags,
                                        const struct sender_setup *su)
{
    char dest[64], err[256];
    snprintf(dest, sizeof dest, "127.0.0.1:%u", port);
    struct link_sender_options o = {.destination = dest,
                                    .link_id = LINK_ID,
                                    .redundancy = su ? su->redundancy : 1,
                                    .rate_limit_datagrams_per_s = su ? su->rate : 0,
                                    .birth_interval_ms =
                                        su && su->birth_interval_ms ? su->birth_interval_ms : 10000,
                                    .heartbeat_interval_ms = 50,
                                    .source = b,
                                    .skip = su ? su->skip : NULL,
                                    .skip_ctx = su ? su->skip_ctx : NULL,
                                    .stats = su ? su->stats : NULL};
    memcpy(o.key, key, LINK_KEY_BYTES);
    struct link_sender *s = link_sender_start(&o, tags, err, sizeof err);
    if (!s) fprintf(stderr, "sender: %s\n", err);
    CHECK(s != NULL);
    return s;
}

/* Waits up to timeout_ms for cond; returns it. */
#define WAIT_FOR(cond, timeout_ms)                                                                 \
    ({                                                                                             \
        int64_t until_ = clock_mono_ms() + (timeout_ms);                                           \
        while (!(cond) && clock_mono_ms() < until_)                                                \
            clock_sleep_until_ms(clock_mono_ms() + 5);                                             \
        (cond);                                                                                    \
    })

static struct link_receiver_status *status_of(struct link_receiver *r)
{
    static struct link_receiver_status st;
    link_receiver_get_status(r, &st);
    return &st;
}

/* A UDP port free now on loopback. */
static uint16_t free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_births_data_heartbeats(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'a');
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 1000);
    uint16_t port = link_receiver_port(r);
    CHECK(port != 0);
    struct boundary *b = boundary_create(64, 200);
    struct tag_table tags;
    make_tags(&tags, "t1/site", TAG_COUNT);
    struct link_sender *s = start_sender(key, port, b, &tags, NULL);
    CHECK(WAIT_FOR(seen_get().tables == 1, 3000));
    CHECK_EQ_INT(seen_get().table_tags, TAG_COUNT);
    CHECK_STR(seen_get().first_path, "t1/site/area/line/cell/t0");
    for (int i = 0; i < 20; i++)
        send_round(b, TAG_COUNT);
    CHECK(WAIT_FOR(seen_get().samples == 20 * TAG_COUNT, 3000));
    CHECK_EQ_INT(seen_get().good_values, 20 * TAG_COUNT);
    CHECK(WAIT_FOR(status_of(r)->state == LINK_STATE_UP, 2000));
    CHECK_EQ_INT(seen_get().ups, 1);
    CHECK(WAIT_FOR(status_of(r)->sender_datagrams > 0, 2000));
    struct link_receiver_status *st = status_of(r);
    CHECK_EQ_INT(st->lost, 0);
    CHECK_EQ_INT(st->bad_mac, 0);
    CHECK_EQ_INT(st->waiting_for_birth, 0);
    CHECK_EQ_INT(st->tags, TAG_COUNT);
    CHECK(st->have_tags);

    /* A new tag table: a new session, its BIRTH, then its samples. */
    struct tag_table other;
    make_tags(&other, "t2/site", 20);
    CHECK(link_sender_set_tags(s, &other));
    CHECK(WAIT_FOR(seen_get().tables == 2, 3000));
    CHECK_EQ_INT(seen_get().table_tags, 20);
    CHECK_STR(seen_get().first_path, "t2/site/area/line/cell/t0");
    send_round(b, 20);
    CHECK(WAIT_FOR(seen_get().samples == 20 * TAG_COUNT + 20, 3000));
    CHECK(WAIT_FOR(status_of(r)->restarts == 1, 1000));
    struct link_sender_counters c;
    link_sender_get_counters(s, &c);
    CHECK_EQ_INT(c.sessions, 2);
    CHECK_EQ_INT(c.samples, 20 * TAG_COUNT + 20);
    CHECK_EQ_INT(c.send_errors, 0);
    CHECK_EQ_INT(c.rate_drops, 0);

    /* The sender stops: no heartbeat, the link goes down, tags are marked. */
    link_sender_stop(s);
    CHECK(WAIT_FOR(status_of(r)->state == LINK_STATE_DOWN, 3000));
    CHECK(WAIT_FOR(seen_get().marks_down == 1, 1000));
    CHECK_EQ_INT(seen_get().downs, 1);
    CHECK_EQ_INT(status_of(r)->lost, 0);
    link_receiver_stop(r);
    boundary_destroy(b);
    tag_table_clear(&tags);
    tag_table_clear(&other);
}

/* Skips numbers 30..33, every 7th from 40 to 300, and 301. */
struct skipper {
    pthread_mutex_t lock;
    uint8_t skipped[MAX_LOST];
    uint64_t last_seq;
};

static bool skip_some(void *ctx, uint64_t session, uint64_t seq)
{
    (void)session;
    struct skipper *k = ctx;
    bool skip = (seq >= 30 && seq <= 33) || (seq >= 40 && seq <= 300 && seq % 7 == 0) || seq == 301;
    pthread_mutex_lock(&k->lock);
    if (seq < MAX_LOST) k->skipped[seq] = skip;
    if (seq > k->last_seq) k->last_seq = seq;
    pthread_mutex_unlock(&k->lock);
    return skip;
}

static void test_loss_accounting(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'b');
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 3000);
    struct boundary *b = boundary_create(1024, 200);
    struct tag_table tags;
    make_tags(&tags, "loss/site", 200); /* 200 doubles: about two datagrams a round */
    struct skipper k = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sender_setup su = {.skip = skip_some, .skip_ctx = &k};
    struct link_sender *s = start_sender(key, link_receiver_port(r), b, &tags, &su);
    CHECK(WAIT_FOR(seen_get().tables == 1, 3000));
    for (int i = 0; i < 200; i++) {
        send_round(b, 200);
        if (i % 20 == 0) clock_sleep_until_ms(clock_mono_ms() + 10);
    }
    /* Past 301, then the last heartbeat and the reorder wait. */
    CHECK(WAIT_FOR(status_of(r)->received > 320, 5000));
    link_sender_stop(s);
    clock_sleep_until_ms(clock_mono_ms() + 300);
    link_receiver_stop(r); /* flushes, reports the rest */
    /* The receiver's report is exactly the skipped numbers (1 .. last). */
    uint64_t expected = 0;
    for (uint64_t q = 1; q <= k.last_seq && q < MAX_LOST; q++)
        expected += k.skipped[q];
    CHECK(expected > 40);
    struct seen sn = seen_get();
    CHECK(sn.loss_reports >= 1);
    CHECK(sn.marks_loss >= 1);
    /* The last report holds the last range. */
    CHECK(strstr(sn.last_loss, "301") != NULL);
    tag_table_clear(&tags);
    boundary_destroy(b);

    /* The same again, checking every range: a receiver whose status is
     * read before it stops. */
    seen_reset();
    r = start_receiver(key, 0, 3000);
    b = boundary_create(1024, 200);
    make_tags(&tags, "loss/site", 200);
    struct skipper k2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    su.skip_ctx = &k2;
    s = start_sender(key, link_receiver_port(r), b, &tags, &su);
    CHECK(WAIT_FOR(seen_get().tables == 1, 3000));
    for (int i = 0; i < 200; i++)
        send_round(b, 200);
    CHECK(WAIT_FOR(status_of(r)->received > 320, 5000));
    clock_sleep_until_ms(clock_mono_ms() + 400); /* the reorder wait passes */
    struct link_receiver_status *st = status_of(r);
    uint8_t reported[MAX_LOST] = {0};
    uint64_t reported_numbers = 0;
    for (size_t i = 0; i < st->recent_count; i++)
        for (uint64_t q = st->recent[i].first; q <= st->recent[i].last && q < MAX_LOST; q++) {
            CHECK(!reported[q]); /* each number once */
            reported[q] = 1;
            reported_numbers++;
        }
    uint64_t highest = 0, mismatches = 0;
    pthread_mutex_lock(&k2.lock);
    for (uint64_t q = 1; q < MAX_LOST; q++)
        if (!k2.skipped[q] && q <= k2.last_seq) highest = q;
    for (uint64_t q = 1; q <= highest; q++)
        mismatches += reported[q] != k2.skipped[q];
    pthread_mutex_unlock(&k2.lock);
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(st->lost, reported_numbers);
    CHECK_EQ_INT(st->lost, 4 + 37 + 1);
    /* 30-33, then 42 49 ... 294 (37 numbers), and 301. */
    CHECK_EQ_INT(st->lost_ranges, 1 + 37 + 1);
    CHECK_EQ_INT(st->duplicates, 0);
    link_sender_stop(s);
    link_receiver_stop(r);
    tag_table_clear(&tags);
    boundary_destroy(b);
}

static void test_receiver_started_late(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'c');
    seen_reset();
    uint16_t port = free_udp_port();
    struct boundary *b = boundary_create(1024, 200);
    struct tag_table tags;
    make_tags(&tags, "late/site", TAG_COUNT);
    struct sender_setup su = {.birth_interval_ms = 1000};
    struct link_sender *s = start_sender(key, port, b, &tags, &su);
    for (int i = 0; i < 5; i++)
        send_round(b, TAG_COUNT); /* nobody listens yet */
    clock_sleep_until_ms(clock_mono_ms() + 250);
    struct link_receiver *r = start_receiver(key, port, 3000);
    /* Data before the repeated BIRTH waits; after it, it is applied. */
    int64_t until = clock_mono_ms() + 3000;
    while (seen_get().tables == 0 && clock_mono_ms() < until) {
        send_round(b, TAG_COUNT);
        clock_sleep_until_ms(clock_mono_ms() + 20);
    }
    CHECK_EQ_INT(seen_get().tables, 1);
    uint64_t before = seen_get().samples;
    send_round(b, TAG_COUNT);
    CHECK(WAIT_FOR(seen_get().samples >= before + TAG_COUNT, 2000));
    CHECK_EQ_INT(seen_get().good_values, seen_get().samples);
    /* The status is published after each burst of datagrams: wait for it. */
    CHECK(WAIT_FOR(status_of(r)->have_tags, 2000));
    struct link_receiver_status *st = status_of(r);
    CHECK(st->waiting_for_birth > 0); /* data came before the table */
    link_sender_stop(s);
    link_receiver_stop(r);
    tag_table_clear(&tags);
    boundary_destroy(b);
}

static void test_redundancy_and_rate_limit(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'd');
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 3000);
    struct boundary *b = boundary_create(4096, 200);
    struct tag_table tags;
    make_tags(&tags, "red/site", TAG_COUNT);
    struct sender_setup su = {.redundancy = 3};
    struct link_sender *s = start_sender(key, link_receiver_port(r), b, &tags, &su);
    CHECK(WAIT_FOR(seen_get().tables == 1, 3000));
    for (int i = 0; i < 50; i++)
        send_round(b, TAG_COUNT);
    CHECK(WAIT_FOR(seen_get().samples == 50 * TAG_COUNT, 3000));
    link_sender_stop(s);
    struct link_receiver_status *st = status_of(r);
    CHECK(WAIT_FOR(status_of(r)->duplicates == 2 * status_of(r)->received, 1000));
    CHECK_EQ_INT(st->lost, 0);
    CHECK_EQ_INT(seen_get().samples, 50 * TAG_COUNT); /* copies are not applied twice */
    link_receiver_stop(r);

    /* 100 datagrams/s and a flood: most DATA is dropped, counted, and the
     * receiver sees the gaps. */
    seen_reset();
    r = start_receiver(key, 0, 3000);
    su = (struct sender_setup){.rate = 100};
    int64_t started = clock_mono_ms();
    s = start_sender(key, link_receiver_port(r), b, &tags, &su);
    CHECK(WAIT_FOR(seen_get().tables == 1, 3000));
    int64_t t0 = clock_mono_ms();
    while (clock_mono_ms() - t0 < 1000) {
        send_round(b, TAG_COUNT);
        send_round(b, TAG_COUNT);
        clock_sleep_until_ms(clock_mono_ms() + 1);
    }
    clock_sleep_until_ms(clock_mono_ms() + 700); /* queue ages out, reorder wait */
    struct link_sender_counters c;
    link_sender_get_counters(s, &c);
    CHECK(c.rate_drops > 100);
    /* The rate over the time, the burst (10) and the first BIRTH. */
    CHECK(c.copies_sent <= (uint64_t)(100 * (clock_mono_ms() - started) / 1000 + 12));
    CHECK(WAIT_FOR(status_of(r)->lost > 0, 2000));
    link_sender_stop(s);
    link_receiver_stop(r);
    tag_table_clear(&tags);
    boundary_destroy(b);
}

static void test_wrong_key(void)
{
    uint8_t key[LINK_KEY_BYTES], other[LINK_KEY_BYTES];
    make_key(key, 'e');
    make_key(other, 'f');
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 3000);
    struct boundary *b = boundary_create(64, 200);
    struct tag_table tags;
    make_tags(&tags, "key/site", TAG_COUNT);
    struct link_sender *s = start_sender(other, link_receiver_port(r), b, &tags, NULL);
    send_round(b, TAG_COUNT);
    CHECK(WAIT_FOR(status_of(r)->bad_mac >= 3, 2000));
    link_sender_stop(s);
    struct link_receiver_status *st = status_of(r);
    CHECK_EQ_INT(st->received, 0);
    CHECK_EQ_INT(st->state, LINK_STATE_WAITING);
    CHECK(!st->have_tags);
    CHECK_EQ_INT(seen_get().tables, 0);
    CHECK_EQ_INT(seen_get().samples, 0);
    link_receiver_stop(r);
    tag_table_clear(&tags);
    boundary_destroy(b);
}

/* ---- hostile datagrams ----------------------------------------------------------- */

struct raw {
    int fd;
    struct sockaddr_in to;
};

static void raw_send(struct raw *w, const void *buf, size_t len)
{
    CHECK(sendto(w->fd, buf, len, 0, (struct sockaddr *)&w->to, sizeof w->to) == (ssize_t)len);
}

struct one_datagram {
    uint8_t buf[LINK_MAX_DATAGRAM_BYTES];
    size_t len;
};

static bool keep_one(void *ctx, const uint8_t *d, size_t len)
{
    struct one_datagram *o = ctx;
    memcpy(o->buf, d, len);
    o->len = len;
    return true;
}

static void test_hostile_datagrams(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'g');
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 3000);
    struct raw w = {.fd = socket(AF_INET, SOCK_DGRAM, 0),
                    .to = {.sin_family = AF_INET,
                           .sin_port = htons(link_receiver_port(r)),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
    CHECK(w.fd >= 0);
    struct link_encoder enc, other_link, old;
    int64_t now = clock_now_ns();
    CHECK_EQ_INT(link_encoder_init(&enc, key, LINK_ID, 1000, 0, NULL, 0), LINK_OK);
    CHECK_EQ_INT(link_encoder_init(&other_link, key, LINK_ID + 1, 2000, 0, NULL, 0), LINK_OK);
    CHECK_EQ_INT(link_encoder_init(&old, key, LINK_ID, 3000, 0, NULL, 0), LINK_OK);
    struct one_datagram *d = calloc(1, sizeof *d);
    struct link_birth_tag bt = {.id = 0, .type = VALUE_DOUBLE, .path = "h/a/b/c", .path_len = 7};
    CHECK_EQ_INT(link_encode_birth(&enc, &bt, 1, 1, now, keep_one, d, NULL, 0), LINK_OK);
    raw_send(&w, d->buf, d->len);
    CHECK(WAIT_FOR(seen_get().tables == 1, 2000));

    /* Garbage of many sizes, a truncated and an altered datagram. */
    uint8_t junk[2000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    raw_send(&w, junk, 1);
    raw_send(&w, junk, 51);
    raw_send(&w, junk, 52);
    raw_send(&w, junk, 700);
    raw_send(&w, junk, 2000); /* over the 1400-byte limit */
    struct sample smp = {.tag_id = 0, .ts_ns = now, .value = value_double(1.0)};
    size_t len, taken;
    CHECK_EQ_INT(link_encode_data(&enc, &smp, 1, now, d->buf, sizeof d->buf, &len, &taken, NULL, 0),
                 LINK_OK);
    raw_send(&w, d->buf, len - 1);
    d->buf[40] ^= 1;
    raw_send(&w, d->buf, len);
    d->buf[40] ^= 1;
    /* Shorter than header + MAC (1, 51) and over the limit (2000): size;
     * the others fail the HMAC. */
    CHECK(WAIT_FOR(status_of(r)->bad_mac == 4 && status_of(r)->malformed == 3, 2000));
    /* The valid one, then replayed twice: applied once. */
    raw_send(&w, d->buf, len);
    raw_send(&w, d->buf, len);
    raw_send(&w, d->buf, len);
    CHECK(WAIT_FOR(status_of(r)->duplicates == 2, 2000));
    CHECK(WAIT_FOR(seen_get().samples == 1, 2000));
    /* Another link with the same key. */
    CHECK_EQ_INT(
        link_encode_data(&other_link, &smp, 1, now, d->buf, sizeof d->buf, &len, &taken, NULL, 0),
        LINK_OK);
    raw_send(&w, d->buf, len);
    CHECK(WAIT_FOR(status_of(r)->other_link == 1, 2000));
    /* An older session (sent earlier than the current one's datagrams). */
    CHECK_EQ_INT(link_encode_data(&old, &smp, 1, now - 1000000000, d->buf, sizeof d->buf, &len,
                                  &taken, NULL, 0),
                 LINK_OK);
    raw_send(&w, d->buf, len);
    CHECK(WAIT_FOR(status_of(r)->replayed == 1, 2000));
    /* A sample of the wrong type for its tag, and of an unknown tag. */
    struct sample bad[2] = {{.tag_id = 0, .ts_ns = now, .value = value_int64(5)},
                            {.tag_id = 9, .ts_ns = now, .value = value_double(2.0)}};
    CHECK_EQ_INT(link_encode_data(&enc, bad, 2, now, d->buf, sizeof d->buf, &len, &taken, NULL, 0),
                 LINK_OK);
    raw_send(&w, d->buf, len);
    CHECK(WAIT_FOR(status_of(r)->samples_invalid == 2, 2000));
    /* Still working. */
    CHECK_EQ_INT(link_encode_data(&enc, &smp, 1, now, d->buf, sizeof d->buf, &len, &taken, NULL, 0),
                 LINK_OK);
    raw_send(&w, d->buf, len);
    CHECK(WAIT_FOR(seen_get().samples == 2, 2000));
    /* birth, data, the bad samples, data; 15 datagrams in all */
    CHECK(WAIT_FOR(status_of(r)->received == 4 && status_of(r)->datagrams == 15, 1000));
    CHECK_EQ_INT(status_of(r)->lost, 0);
    link_receiver_stop(r);
    link_encoder_clear(&enc);
    link_encoder_clear(&other_link);
    link_encoder_clear(&old);
    free(d);
    close(w.fd);
}

/* The newest sender time survives a restart of the receiver (state file):
 * a recording of an old session replayed right after the restart is
 * refused, the real sender's next datagram is taken. */
static void test_replay_after_restart(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'r');
    seen_reset();
    char dir[] = "/tmp/airlock-test-link-XXXXXX", state[128], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(state, sizeof state, "%s/link.state", dir);
    struct link_receiver_options o = {.listen = "127.0.0.1:0",
                                      .link_id = LINK_ID,
                                      .heartbeat_timeout_ms = 3000,
                                      .reorder_wait_ms = 100,
                                      .state_file = state,
                                      .cb = {.on_tags = on_tags,
                                             .on_batch = on_batch,
                                             .on_mark_uncertain = on_mark,
                                             .on_loss = on_loss,
                                             .on_state = on_state,
                                             .on_devices = on_devices}};
    memcpy(o.key, key, LINK_KEY_BYTES);
    struct link_encoder recorded, live;
    int64_t now = clock_now_ns();
    CHECK_EQ_INT(link_encoder_init(&recorded, key, LINK_ID, 4000, 0, NULL, 0), LINK_OK);
    CHECK_EQ_INT(link_encoder_init(&live, key, LINK_ID, 5000, 0, NULL, 0), LINK_OK);
    struct one_datagram *old = calloc(1, sizeof *old), *d = calloc(1, sizeof *d);
    struct link_birth_tag bt = {.id = 0, .type = VALUE_DOUBLE, .path = "r/a/b/c", .path_len = 7};
    /* What an attacker recorded earlier: a birth of another session. */
    CHECK_EQ_INT(
        link_encode_birth(&recorded, &bt, 1, 1, now - 5000000000LL, keep_one, old, NULL, 0),
        LINK_OK);

    struct link_receiver *r = link_receiver_start(&o, err, sizeof err);
    CHECK(r != NULL);
    if (!r) return;
    struct raw w = {.fd = socket(AF_INET, SOCK_DGRAM, 0),
                    .to = {.sin_family = AF_INET,
                           .sin_port = htons(link_receiver_port(r)),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
    CHECK_EQ_INT(link_encode_birth(&live, &bt, 1, 1, now, keep_one, d, NULL, 0), LINK_OK);
    raw_send(&w, d->buf, d->len);
    CHECK(WAIT_FOR(seen_get().tables == 1, 2000));
    link_receiver_stop(r); /* keeps the newest sender time in the file */

    r = link_receiver_start(&o, err, sizeof err);
    CHECK(r != NULL);
    if (!r) return;
    w.to.sin_port = htons(link_receiver_port(r));
    raw_send(&w, old->buf, old->len); /* the replay, first after the restart */
    CHECK(WAIT_FOR(status_of(r)->replayed == 1, 2000));
    CHECK_EQ_INT(seen_get().tables, 1);
    CHECK_EQ_INT(link_encode_birth(&live, &bt, 1, 1, now + 1000000, keep_one, d, NULL, 0), LINK_OK);
    raw_send(&w, d->buf, d->len); /* the real sender goes on */
    CHECK(WAIT_FOR(seen_get().tables == 2, 2000));
    link_receiver_stop(r);
    link_encoder_clear(&recorded);
    link_encoder_clear(&live);
    free(old);
    free(d);
    close(w.fd);
    unlink(state);
    rmdir(dir);
}

static void test_bad_options(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'h');
    char err[256] = "";
    struct boundary *b = boundary_create(4, 200);
    struct link_sender_options so = {.destination = "no-port", .source = b};
    memcpy(so.key, key, sizeof key);
    CHECK(link_sender_start(&so, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "host:port") != NULL);
    so.destination = "127.0.0.1:9";
    so.redundancy = 9;
    CHECK(link_sender_start(&so, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "redundancy") != NULL);
    struct link_receiver_options ro = {.listen = "127.0.0.1:0", .datagram_bytes = 100};
    CHECK(link_receiver_start(&ro, err, sizeof err) == NULL);
    CHECK(strstr(err, "size limit") != NULL);
    /* The port is taken. */
    seen_reset();
    struct link_receiver *r = start_receiver(key, 0, 3000);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", link_receiver_port(r));
    ro = (struct link_receiver_options){.listen = listen};
    CHECK(link_receiver_start(&ro, err, sizeof err) == NULL);
    CHECK(strstr(err, "in use") != NULL);
    link_receiver_stop(r);
    boundary_destroy(b);
}

/* ---- the `link:` configuration section ------------------------------------------ */

/* Loads text; returns the formatted error ("" when it loaded). */
static const char *load_error(const char *text, struct config *out)
{
    static char msg[1024];
    struct config_error err;
    msg[0] = '\0';
    if (!config_load_string(text, strlen(text), "t.yaml", out, &err))
        config_error_format(&err, msg, sizeof msg);
    return msg;
}

static void test_config_link(void)
{
    char dir[] = "/tmp/airlock-link-XXXXXX", key[64], open_key[64], short_key[64], text[1024];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(key, sizeof key, "%s/key", dir);
    snprintf(open_key, sizeof open_key, "%s/open", dir);
    snprintf(short_key, sizeof short_key, "%s/short", dir);
    FILE *f = fopen(key, "w");
    fputs("0123456789abcdef0123456789abcdef0123\n", f);
    fclose(f);
    chmod(key, 0600);
    f = fopen(open_key, "w");
    fputs("0123456789abcdef0123456789abcdef0123\n", f);
    fclose(f);
    chmod(open_key, 0644);
    f = fopen(short_key, "w");
    fputs("too short\n", f);
    fclose(f);
    chmod(short_key, 0600);
    struct config cfg;
    struct config_error err;

    snprintf(text, sizeof text,
             "link:\n  destination: 10.0.0.2:7400\n  key_file: %s\n  redundancy: 2\n"
             "  rate_limit_datagrams_per_s: 5000\n",
             key);
    CHECK_STR(load_error(text, &cfg), "");
    CHECK(cfg.link.present);
    CHECK_STR(cfg.link.destination, "10.0.0.2:7400");
    CHECK_EQ_INT(cfg.link.redundancy, 2);
    CHECK_EQ_INT(cfg.link.rate_limit_datagrams_per_s, 5000);
    CHECK_EQ_INT(cfg.link.link_id, 1);
    CHECK_EQ_INT(cfg.link.datagram_bytes, 1400);
    CHECK_EQ_INT(cfg.link.heartbeat_interval_ms, 1000);
    CHECK(config_link_check(&cfg, CONFIG_LINK_OT, &err));
    CHECK(!config_link_check(&cfg, CONFIG_LINK_IT, &err));
    CHECK(strstr(err.message, "expected 'listen'") != NULL);
    CHECK_EQ_INT(err.line, 2);
    CHECK(!config_link_check(&cfg, CONFIG_LINK_NONE, &err));
    config_free(&cfg);

    snprintf(text, sizeof text,
             "devices: []\nlink:\n  listen: 0.0.0.0:7400\n  key_file: %s\n  link_id: 9\n", key);
    CHECK_STR(load_error(text, &cfg), "");
    CHECK(config_link_check(&cfg, CONFIG_LINK_IT, &err));
    CHECK(!config_link_check(&cfg, CONFIG_LINK_OT, &err));
    CHECK_EQ_INT(cfg.link.link_id, 9);
    CHECK_EQ_INT(cfg.link.heartbeat_timeout_ms, 3000);
    config_free(&cfg);
    CHECK_STR(load_error("gateway: {name: x}\n", &cfg), "");
    CHECK(config_link_check(&cfg, CONFIG_LINK_NONE, &err));
    CHECK(!config_link_check(&cfg, CONFIG_LINK_IT, &err));
    CHECK(strstr(err.message, "missing section 'link'") != NULL);
    config_free(&cfg);

    const struct {
        const char *yaml_fmt; /* %s: a key file */
        const char *file;
        const char *error;
    } bad[] = {
        {"link:\n  destination: a:1\n  listen: b:2\n  key_file: %s\n", key, "t.yaml:3:3: "},
        {"link:\n  key_file: %s\n", key, "missing required key 'destination'"},
        {"link:\n  destination: a:1\n", key, "missing required key 'key_file'"},
        {"link:\n  listen: b:2\n  key_file: %s\n  redundancy: 2\n", key,
         "t.yaml:4:3: unexpected key 'redundancy'"},
        {"link:\n  destination: a:1\n  key_file: %s\n  heartbeat_timeout_ms: 10\n", key,
         "unexpected key 'heartbeat_timeout_ms'"},
        {"link:\n  destination: nowhere\n  key_file: %s\n", key, "t.yaml:2:16: expected host:port"},
        {"link:\n  destination: a:1\n  key_file: %s\n", open_key, "chmod 600"},
        {"link:\n  destination: a:1\n  key_file: %s\n", short_key, "at least 32 needed"},
        {"link:\n  destination: a:1\n  key_file: %s/none\n", dir, "No such file"},
        {"link:\n  destination: a:1\n  key_file: %s\n  datagram_bytes: 100\n", key,
         "expected an integer 600..65507"},
        {"link:\n  destination: a:1\n  key_file: %s\n  redundancy: 9\n", key,
         "expected an integer 1..8"},
        {"link:\n  destination: a:1\n  key_file: %s\n  bogus: 1\n", key, "unknown key 'bogus'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, bad[i].yaml_fmt, bad[i].file);
        const char *msg = load_error(text, &cfg);
        if (!strstr(msg, bad[i].error))
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, msg, bad[i].error);
        CHECK(strstr(msg, bad[i].error) != NULL);
    }
    /* An IT configuration with devices is refused at the device. */
    snprintf(text, sizeof text,
             "link:\n  listen: 0.0.0.0:7400\n  key_file: %s\ndevices:\n  - name: d\n"
             "    protocol: modbus-tcp\n    host: 127.0.0.1\n    namespace: a/b/c/d/e\n"
             "    poll_groups:\n      - name: g\n        tags:\n          - {name: t, area: "
             "holding, address: 0, type: uint16}\n",
             key);
    CHECK_STR(load_error(text, &cfg), "");
    CHECK(!config_link_check(&cfg, CONFIG_LINK_IT, &err));
    CHECK_EQ_INT(err.line, 5);
    CHECK(strstr(err.message, "unexpected device") != NULL);
    config_free(&cfg);

    /* The examples load with a key file in place of theirs. */
    static const char *const examples[] = {"examples/oneway-ot.yaml", "examples/oneway-it.yaml"};
    char root[512];
    const char *this_file = __FILE__, *end = strstr(this_file, "/tests/unit/");
    snprintf(root, sizeof root, "%.*s", end ? (int)(end - this_file) : 1, end ? this_file : ".");
    for (size_t i = 0; i < 2; i++) {
        char path[1024], body[16384], *at;
        snprintf(path, sizeof path, "%s/%s", root, examples[i]);
        f = fopen(path, "r");
        CHECK(f != NULL);
        if (!f) continue;
        size_t n = fread(body, 1, sizeof body - 1, f);
        fclose(f);
        body[n] = '\0';
        CHECK((at = strstr(body, "key_file: link.key")) != NULL);
        if (!at) continue;
        snprintf(text, sizeof text, "key_file: %s", key);
        char fixed[17000];
        snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - body), body, text,
                 at + strlen("key_file: link.key"));
        CHECK_STR(load_error(fixed, &cfg), "");
        CHECK(config_link_check(&cfg, i == 0 ? CONFIG_LINK_OT : CONFIG_LINK_IT, &err));
        config_free(&cfg);
    }
    unlink(key);
    unlink(open_key);
    unlink(short_key);
    rmdir(dir);
}

/* Names device i of a registry (as the gateway does before drivers start). */
static void name_device(struct device_stats *d, const char *name, const char *protocol)
{
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->protocol, sizeof d->protocol, "%s", protocol);
    snprintf(d->endpoint, sizeof d->endpoint, "127.0.0.1:502 unit 1");
}

static bool seen_device(size_t i, const char *name, int state, uint64_t polls, const char *error)
{
    struct seen s = seen_get();
    return s.device_count > i && strcmp(s.devices[i].name, name) == 0 &&
           s.devices[i].state == state && s.devices[i].polls == polls &&
           strcmp(s.devices[i].last_error, error) == 0;
}

static void test_device_statistics(void)
{
    uint8_t key[LINK_KEY_BYTES];
    make_key(key, 'd');
    seen_reset();
    struct stats_registry reg;
    stats_registry_init(&reg);
    struct device_stats *d = stats_registry_reset(&reg, 3);
    name_device(&d[0], "plc1", "modbus-tcp");
    name_device(&d[1], "plc2", "modbus-tcp");
    name_device(&d[2], "ua1", "opcua");
    atomic_store(&d[0].state, DEVICE_CONNECTED);
    atomic_store(&d[0].polls, 17);
    atomic_store(&d[0].last_success_ns, 1780000000000000000);
    device_stats_observe_latency(&d[0], 3000000); /* 3 ms: the 5 ms bucket */
    atomic_store(&d[1].state, DEVICE_BACKOFF);
    device_stats_set_error(&d[1], "connect: Connection refused");

    struct link_receiver *r = start_receiver(key, 0, 1000);
    struct boundary *b = boundary_create(64, 200);
    struct tag_table tags;
    make_tags(&tags, "dev/site", 5);
    struct sender_setup su = {.redundancy = 1, .stats = &reg};
    struct link_sender *s = start_sender(key, link_receiver_port(r), b, &tags, &su);

    /* The set arrives with the heartbeats, in order, every field. */
    CHECK(WAIT_FOR(seen_device(0, "plc1", DEVICE_CONNECTED, 17, ""), 3000));
    struct seen got = seen_get();
    CHECK_EQ_INT(got.device_count, 3);
    CHECK_STR(got.devices[1].name, "plc2");
    CHECK_STR(got.devices[1].last_error, "connect: Connection refused");
    CHECK_EQ_INT(got.devices[1].state, DEVICE_BACKOFF);
    CHECK(got.devices[1].last_error_ns > 0);
    CHECK_STR(got.devices[2].protocol, "opcua");
    CHECK_STR(got.devices[2].endpoint, "127.0.0.1:502 unit 1");
    CHECK(got.devices[0].last_success_ns == 1780000000000000000);
    CHECK_EQ_INT(got.devices[0].latency_count, 1);
    CHECK_EQ_INT(got.devices[0].latency_sum_us, 3000);
    CHECK_EQ_INT(got.devices[0].latency_bucket[3], 1);
    CHECK(WAIT_FOR(status_of(r)->device_sets >= 2, 2000)); /* one per heartbeat */
    CHECK_EQ_INT(status_of(r)->devices, 3);

    /* Changes follow: counters, state, last error. */
    atomic_store(&d[0].polls, 18);
    atomic_store(&d[1].state, DEVICE_CONNECTED);
    device_stats_set_error(&d[1], "timeout");
    CHECK(WAIT_FOR(seen_device(1, "plc2", DEVICE_CONNECTED, 0, "timeout"), 3000));
    CHECK(seen_device(0, "plc1", DEVICE_CONNECTED, 18, ""));

    /* A new set (a reload on the OT side) replaces the old one. */
    d = stats_registry_reset(&reg, 1);
    name_device(&d[0], "plc9", "modbus-tcp");
    CHECK(WAIT_FOR(seen_get().device_count == 1 && seen_device(0, "plc9", DEVICE_STARTING, 0, ""),
                   3000));

    struct link_sender_counters c;
    link_sender_get_counters(s, &c);
    CHECK(c.devices >= 3);
    CHECK(c.datagrams >= c.devices + c.heartbeats + c.birth_datagrams);
    CHECK_EQ_INT(status_of(r)->malformed, 0);
    link_sender_stop(s);
    link_receiver_stop(r);
    boundary_destroy(b);
    tag_table_clear(&tags);
    stats_registry_destroy(&reg);
}

int main(void)
{
    pthread_mutex_init(&seen.lock, NULL);
    log_set_level(LOG_WARN);
    test_births_data_heartbeats();
    test_loss_accounting();
    test_receiver_started_late();
    test_redundancy_and_rate_limit();
    test_wrong_key();
    test_hostile_datagrams();
    test_replay_after_restart();
    test_bad_options();
    test_config_link();
    test_device_statistics();
    return test_summary();
}
