/* libFuzzer target for the one-way link codec (oneway/link_codec.h).
 *
 * 1. The input as a datagram under a fixed key: almost always an HMAC
 *    failure, except for seeds (real datagrams made with that key).
 * 2. The input minus its last 16 bytes as the authenticated part, with the
 *    HMAC computed over it and appended, so the parser behind the HMAC is
 *    reached. A DATA or HEARTBEAT datagram that decodes re-encodes to exactly
 *    its bytes (the format has one encoding per content), and so does a
 *    DEVICES datagram holding a whole set; BIRTH entries point inside the
 *    datagram; DEVICES texts are terminated, names not empty, states and
 *    entry ranges valid; a failure always says why.
 * 3. The input as (session, sequence) pairs for the receiver window: within
 *    a session no number is both accepted and reported lost, none twice, and
 *    the counters add up.
 * Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/link_codec.h"

#define FUZZ_LINK_ID 7

static void check(int cond)
{
    if (!cond) abort();
}

static uint8_t key[LINK_KEY_BYTES];
static struct link_decoder dec;
static struct link_mac mac;
static uint8_t work[LINK_MAX_DATAGRAM_BYTES];
static uint8_t again[LINK_MAX_DATAGRAM_BYTES];

static void setup(void)
{
    static int done;
    if (done) return;
    done = 1;
    uint8_t material[32];
    memset(material, 'k', sizeof material); /* the seed corpus uses this key */
    check(link_key_derive(material, sizeof material, key, NULL, 0) == LINK_OK);
    check(link_decoder_init(&dec, key, FUZZ_LINK_ID, LINK_MAX_DATAGRAM_BYTES, NULL, 0) == LINK_OK);
    check(link_mac_init(&mac, key) == LINK_OK);
}

static int inside(const void *p, size_t len, const uint8_t *buf, size_t buf_len)
{
    const uint8_t *q = p;
    return len == 0 || (q >= buf && q + len <= buf + buf_len);
}

/* Takes the single datagram link_encode_devices emits for a whole set. */
struct emitted {
    int count;
    size_t len;
};

static bool emit_once(void *ctx, const uint8_t *datagram, size_t len)
{
    struct emitted *em = ctx;
    em->count++;
    em->len = len;
    if (len <= sizeof again) memcpy(again, datagram, len);
    return true;
}

static int text_ok(const char *text, size_t size, int may_be_empty)
{
    size_t n = strnlen(text, size);
    if (n == size || (!may_be_empty && n == 0)) return 0;
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)text[i] < 0x20 || (uint8_t)text[i] == 0x7F) return 0;
    return 1;
}

static void check_reencodes(const struct link_datagram *d, const uint8_t *buf, size_t len)
{
    struct link_encoder enc;
    check(link_encoder_init(&enc, key, d->header.link_id, d->header.session_id,
                            LINK_MAX_DATAGRAM_BYTES, NULL, 0) == LINK_OK);
    enc.next_sequence = d->header.sequence;
    size_t out_len = 0, taken = 0;
    if (d->header.type == LINK_DATA) {
        check(link_encode_data(&enc, d->samples, d->sample_count, d->header.sent_ns, again,
                               sizeof again, &out_len, &taken, NULL, 0) == LINK_OK);
        check(taken == d->sample_count);
    } else if (d->header.type == LINK_DEVICES) {
        struct emitted em = {0};
        check(link_encode_devices(&enc, d->devices, d->device_count, d->devices_info.snapshot,
                                  d->header.sent_ns, emit_once, &em, NULL, 0) == LINK_OK);
        check(em.count == 1);
        out_len = em.len;
    } else {
        enc.datagrams_sent = d->heartbeat.datagrams_sent;
        enc.samples_sent = d->heartbeat.samples_sent;
        check(link_encode_heartbeat(&enc, d->heartbeat.epoch, d->heartbeat.tag_count,
                                    d->header.sent_ns, again, sizeof again, &out_len, NULL,
                                    0) == LINK_OK);
    }
    check(out_len == len && memcmp(again, buf, len) == 0);
    link_encoder_clear(&enc);
}

static void decode_and_check(const uint8_t *buf, size_t len)
{
    struct link_datagram d;
    char err[256];
    err[0] = '\0';
    enum link_status st = link_decode(&dec, buf, len, &d, err, sizeof err);
    if (st != LINK_OK) {
        check(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        return;
    }
    check(len >= LINK_OVERHEAD_BYTES && d.header.payload_bytes == len - LINK_OVERHEAD_BYTES);
    switch (d.header.type) {
    case LINK_DATA:
        check(d.sample_count >= 1 && d.sample_count <= dec.samples_cap);
        for (uint32_t i = 0; i < d.sample_count; i++) {
            const struct sample *s = &d.samples[i];
            check((unsigned)s->value.type <= VALUE_STRING);
            if (s->value.type == VALUE_STRING)
                check(inside(s->value.as.str.ptr, s->value.as.str.len, buf, len));
        }
        check_reencodes(&d, buf, len);
        break;
    case LINK_HEARTBEAT:
        check_reencodes(&d, buf, len);
        break;
    case LINK_DEVICES: {
        const struct link_devices_info *v = &d.devices_info;
        check(v->part < v->parts && (uint32_t)v->first + d.device_count <= v->device_total);
        check(d.device_count <= dec.devices_cap && (d.device_count > 0 || v->device_total == 0));
        for (uint32_t i = 0; i < d.device_count; i++) {
            const struct link_device *e = &d.devices[i];
            check(text_ok(e->name, sizeof e->name, 0) &&
                  text_ok(e->protocol, sizeof e->protocol, 1));
            check(text_ok(e->endpoint, sizeof e->endpoint, 1));
            check(strnlen(e->last_error, sizeof e->last_error) < sizeof e->last_error);
            check(e->state <= DEVICE_STOPPED);
        }
        if (v->parts == 1 && d.device_count == v->device_total) check_reencodes(&d, buf, len);
        break;
    }
    case LINK_BIRTH:
        check(d.birth.part < d.birth.parts && d.tag_count <= d.birth.tag_total);
        for (uint32_t i = 0; i < d.tag_count; i++) {
            const struct link_birth_tag *t = &d.tags[i];
            check(t->path_len >= 3 && t->path_len <= LINK_NAME_MAX_BYTES);
            check(inside(t->path, t->path_len, buf, len) && inside(t->unit, t->unit_len, buf, len));
        }
        break;
    }
}

/* Per-session state of each number in a small range. */
enum { SEQ_RANGE = 4096 };
static uint8_t seq_state[SEQ_RANGE]; /* 0 unknown, 1 accepted, 2 reported lost */
static int window_broken;

static void on_lost(void *ctx, uint64_t session, uint64_t first, uint64_t last)
{
    (void)ctx;
    (void)session;
    if (first > last || last >= SEQ_RANGE) {
        window_broken = 1;
        return;
    }
    for (uint64_t s = first; s <= last; s++) {
        if (seq_state[s] != 0) window_broken = 1;
        seq_state[s] = 2;
    }
}

static void fuzz_window(const uint8_t *data, size_t size)
{
    struct link_rx_window rx;
    memset(seq_state, 0, sizeof seq_state);
    window_broken = 0;
    link_rx_init(&rx, on_lost, NULL);
    uint64_t calls = 0;
    for (size_t i = 0; i + 3 <= size; i += 3) {
        uint64_t session = data[i] >> 6; /* mostly one session, sometimes another */
        uint64_t seq = (uint64_t)(data[i + 1] | data[i + 2] << 8) % SEQ_RANGE;
        uint64_t lost_before = rx.lost;
        enum link_rx_verdict v = link_rx_accept(&rx, session, seq);
        calls++;
        if (v == LINK_RX_RESTART) {
            /* The old session's gaps were reported (flushed) before the reset. */
            memset(seq_state, 0, sizeof seq_state);
        }
        if (v == LINK_RX_FIRST || v == LINK_RX_NEW || v == LINK_RX_REORDERED ||
            v == LINK_RX_RESTART) {
            check(seq_state[seq] == 0);
            seq_state[seq] = 1;
        }
        if (v == LINK_RX_DUPLICATE) check(seq_state[seq] == 1);
        check(rx.lost >= lost_before);
        check(!window_broken);
    }
    link_rx_flush(&rx);
    check(!window_broken);
    check(rx.received + rx.duplicates + rx.stale == calls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size > LINK_MAX_DATAGRAM_BYTES) return 0;
    decode_and_check(data, size);
    if (size >= LINK_OVERHEAD_BYTES) {
        size_t body = size - LINK_MAC_BYTES;
        memcpy(work, data, body);
        check(link_mac_compute(&mac, work, body, work + body) == LINK_OK);
        decode_and_check(work, size);
    }
    fuzz_window(data, size);
    return 0;
}
