/* Tests of the one-way link datagram codec and receiver window
 * (oneway/link_codec.h): round trips of DATA (every value type, strings,
 * extreme values), BIRTH (one and many parts) and HEARTBEAT; size limits;
 * a tampered byte anywhere, a wrong key, a wrong link and every truncation
 * fail authentication; DEVICES round trips (many parts, extreme counters,
 * the last error cut to fit the smallest datagram at a UTF-8 boundary, the
 * empty set) and invalid sets refused before anything is emitted;
 * malformed payloads behind a valid HMAC name what and
 * where; key derivation and key files; the receiver's duplicate, reordering,
 * gap and restart accounting, including 5 % random loss whose reported gaps
 * are exactly the dropped numbers. Prints encode+decode throughput. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/le.h"
#include "oneway/link_codec.h"
#include "testlib.h"

#define LINK_ID 7
#define T0 INT64_C(1780000000000000000)

static uint8_t test_key[LINK_KEY_BYTES];

static void make_key(uint8_t key[LINK_KEY_BYTES], char fill)
{
    uint8_t material[40];
    memset(material, fill, sizeof material);
    CHECK_EQ_INT(link_key_derive(material, sizeof material, key, NULL, 0), LINK_OK);
}

static struct sample smp(uint32_t tag, int64_t ts, quality_t q, struct value v)
{
    struct sample s = {.tag_id = tag, .quality = q, .ts_ns = ts, .value = v};
    return s;
}

static struct value str_value(const char *p, uint32_t len)
{
    struct value v = {.type = VALUE_STRING};
    v.as.str.ptr = p;
    v.as.str.len = len;
    return v;
}

static bool sample_equal(const struct sample *a, const struct sample *b)
{
    return a->tag_id == b->tag_id && a->ts_ns == b->ts_ns && a->quality == b->quality &&
           value_equal(&a->value, &b->value);
}

static bool contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* Collects emitted datagrams. */
struct capture {
    uint8_t *bufs[4096];
    size_t lens[4096];
    size_t count;
};

static bool capture_emit(void *ctx, const uint8_t *d, size_t len)
{
    struct capture *c = ctx;
    if (c->count >= 4096) return false;
    c->bufs[c->count] = malloc(len);
    memcpy(c->bufs[c->count], d, len);
    c->lens[c->count++] = len;
    return true;
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->bufs[i]);
    c->count = 0;
}

static void test_data_round_trip(void)
{
    struct link_encoder enc;
    struct link_decoder dec;
    char err[256] = "";
    CHECK_EQ_INT(
        link_encoder_init(&enc, test_key, LINK_ID, 0x1122334455667788u, 0, err, sizeof err),
        LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    static const char text[] = "pump 3 tripped: überlast";
    double negzero = -0.0;
    struct sample in[] = {
        smp(0, T0, QUALITY_GOOD, value_bool(true)),
        smp(1, T0 + 1, QUALITY_GOOD, value_bool(false)),
        smp(2, T0 - 5000, QUALITY_BAD_TIMEOUT, value_int64(INT64_MIN)),
        smp(3, T0, QUALITY_BAD_TIMEOUT, value_int64(INT64_MAX)),
        smp(4, T0, QUALITY_UNCERTAIN, value_int64(-1)),
        smp(5, 0, QUALITY_GOOD, value_uint64(UINT64_MAX)),
        smp(UINT32_MAX, INT64_MIN, QUALITY_GOOD, value_uint64(0)),
        smp(6, INT64_MAX, 0xFFFFFFFFu, value_double(3.14159)),
        smp(7, T0, QUALITY_GOOD, value_double(NAN)),
        smp(8, T0, QUALITY_GOOD, value_double(negzero)),
        smp(9, T0, QUALITY_GOOD, value_double(-INFINITY)),
        smp(10, T0, QUALITY_GOOD, str_value(text, sizeof text - 1)),
        smp(11, T0, QUALITY_GOOD, str_value(NULL, 0)),
        smp(12, T0, QUALITY_GOOD, str_value("a\0b", 3)),
    };
    const size_t n = sizeof in / sizeof in[0];
    uint8_t buf[LINK_DEFAULT_DATAGRAM_BYTES];
    size_t len, taken;
    CHECK_EQ_INT(
        link_encode_data(&enc, in, n, T0 + 99, buf, sizeof buf, &len, &taken, err, sizeof err),
        LINK_OK);
    CHECK_EQ_INT(taken, n);
    CHECK(len <= LINK_DEFAULT_DATAGRAM_BYTES);
    CHECK(buf[0] == 'A' && buf[1] == 'L' && buf[2] == LINK_VERSION && buf[3] == LINK_DATA);
    CHECK_EQ_INT(get_u32le(buf + 32), len - LINK_OVERHEAD_BYTES);

    struct link_datagram d;
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(d.header.type, LINK_DATA);
    CHECK_EQ_INT(d.header.link_id, LINK_ID);
    CHECK(d.header.session_id == 0x1122334455667788u);
    CHECK_EQ_INT(d.header.sequence, 1);
    CHECK_EQ_INT(d.header.sent_ns, T0 + 99);
    CHECK_EQ_INT(d.sample_count, n);
    for (size_t i = 0; i < n && i < d.sample_count; i++) {
        if (!sample_equal(&d.samples[i], &in[i])) fprintf(stderr, "sample %zu differs\n", i);
        CHECK(sample_equal(&d.samples[i], &in[i]));
    }
    /* Strings point into the datagram. */
    CHECK((const uint8_t *)d.samples[11].value.as.str.ptr > buf &&
          (const uint8_t *)d.samples[11].value.as.str.ptr < buf + len);

    /* The next datagram gets the next number; counters follow. */
    CHECK_EQ_INT(link_encode_data(&enc, in, 1, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(d.header.sequence, 2);
    CHECK_EQ_INT(enc.datagrams_sent, 2);
    CHECK_EQ_INT(enc.samples_sent, n + 1);
    /* Argument errors use no number. */
    CHECK_EQ_INT(link_encode_data(&enc, in, 0, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    CHECK_EQ_INT(link_encode_data(&enc, in, 1, T0, buf, 100, &len, &taken, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    struct sample bad = smp(1, T0, 0, value_bool(true));
    bad.value.type = (enum value_type)9;
    CHECK_EQ_INT(
        link_encode_data(&enc, &bad, 1, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
        LINK_ERR_ARGUMENT);
    CHECK_EQ_INT(enc.next_sequence, 3);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

/* Many samples over several datagrams at a given limit; all decode back. */
static void check_many(size_t limit, size_t n)
{
    struct link_encoder enc;
    struct link_decoder dec;
    char err[256] = "";
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 1, limit, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, limit, err, sizeof err), LINK_OK);
    struct sample *in = calloc(n, sizeof *in);
    static const char words[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < n; i++) {
        int64_t ts = T0 + (int64_t)i * 1000000 - (i % 7 == 0 ? 5000000 : 0);
        quality_t q = i % 50 == 0 ? QUALITY_BAD_NO_COMMUNICATION : QUALITY_GOOD;
        switch (i % 5) {
        case 0:
            in[i] = smp((uint32_t)i, ts, q, value_double((double)i * 0.25));
            break;
        case 1:
            in[i] = smp((uint32_t)i, ts, q, value_int64(-(int64_t)i * 1000));
            break;
        case 2:
            in[i] = smp((uint32_t)i, ts, q, value_uint64(i));
            break;
        case 3:
            in[i] = smp((uint32_t)i, ts, q, value_bool(i & 8));
            break;
        default:
            in[i] = smp((uint32_t)i, ts, q, str_value(words, (uint32_t)(i % 37)));
            break;
        }
    }
    struct capture cap = {0};
    CHECK_EQ_INT(link_encode_data_all(&enc, in, n, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK(cap.count > 1);
    size_t got = 0;
    bool all_fit = true, all_equal = true, seq_ok = true;
    for (size_t k = 0; k < cap.count; k++) {
        all_fit &= cap.lens[k] <= limit;
        struct link_datagram d;
        if (link_decode(&dec, cap.bufs[k], cap.lens[k], &d, err, sizeof err) != LINK_OK) {
            fprintf(stderr, "datagram %zu: %s\n", k, err);
            all_equal = false;
            continue;
        }
        seq_ok &= d.header.sequence == k + 1;
        for (uint32_t i = 0; i < d.sample_count && got < n; i++, got++)
            all_equal &= sample_equal(&d.samples[i], &in[got]);
    }
    /* Each datagram but the last is full: the next sample would not fit. */
    CHECK(cap.lens[0] > limit - 40);
    CHECK(all_fit);
    CHECK(all_equal);
    CHECK(seq_ok);
    CHECK_EQ_INT(got, n);
    CHECK_EQ_INT(enc.samples_sent, n);
    CHECK_EQ_INT(enc.datagrams_sent, cap.count);
    capture_free(&cap);
    free(in);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

static void test_size_limits(void)
{
    check_many(LINK_DEFAULT_DATAGRAM_BYTES, 5000);
    check_many(LINK_MIN_DATAGRAM_BYTES, 3000);
    check_many(LINK_MAX_DATAGRAM_BYTES, 40000);

    char err[256] = "";
    struct link_encoder enc;
    CHECK_EQ_INT(
        link_encoder_init(&enc, test_key, 1, 1, LINK_MIN_DATAGRAM_BYTES - 1, err, sizeof err),
        LINK_ERR_ARGUMENT);
    CHECK(contains(err, "599"));
    CHECK_EQ_INT(
        link_encoder_init(&enc, test_key, 1, 1, LINK_MAX_DATAGRAM_BYTES + 1, err, sizeof err),
        LINK_ERR_ARGUMENT);
    struct link_decoder dec;
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, 1, 100, err, sizeof err), LINK_ERR_ARGUMENT);

    /* Room for a string at the default limit: 1400 - 52 overhead - 2 count
     * - 5 (flags, tag id 0, ts delta 0, 2-byte length) = 1341 bytes. */
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, 1, 1, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, 1, 0, err, sizeof err), LINK_OK);
    static char big[70000];
    memset(big, 'x', sizeof big);
    uint8_t buf[LINK_MAX_DATAGRAM_BYTES];
    size_t len, taken;
    struct sample s = smp(0, T0, QUALITY_GOOD, str_value(big, 1341));
    CHECK_EQ_INT(link_encode_data(&enc, &s, 1, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(len, LINK_DEFAULT_DATAGRAM_BYTES);
    struct link_datagram d;
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(d.samples[0].value.as.str.len, 1341);
    s.value.as.str.len = 1342;
    err[0] = '\0';
    CHECK_EQ_INT(link_encode_data(&enc, &s, 1, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_ERR_TOO_LARGE);
    CHECK(contains(err, "tag 0 needs 1347 bytes"));
    CHECK_EQ_INT(taken, 0);
    CHECK_EQ_INT(enc.next_sequence, 2);
    /* In a run: the samples before the big one are emitted, then the error. */
    struct sample run[3] = {smp(1, T0, 0, value_bool(true)), smp(2, T0, 0, value_bool(false)), s};
    struct capture cap = {0};
    CHECK_EQ_INT(link_encode_data_all(&enc, run, 3, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_TOO_LARGE);
    CHECK_EQ_INT(cap.count, 1);
    capture_free(&cap);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);

    /* At the maximum limit a 60000-byte string travels. */
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, 1, 1, LINK_MAX_DATAGRAM_BYTES, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, 1, LINK_MAX_DATAGRAM_BYTES, err, sizeof err),
                 LINK_OK);
    s.value.as.str.len = 60000;
    CHECK_EQ_INT(link_encode_data(&enc, &s, 1, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(d.samples[0].value.as.str.len, 60000);
    CHECK(memcmp(d.samples[0].value.as.str.ptr, big, 60000) == 0);
    /* A decoder with a smaller limit refuses the big datagram by size. */
    struct link_decoder small;
    CHECK_EQ_INT(link_decoder_init(&small, test_key, 1, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decode(&small, buf, len, &d, err, sizeof err), LINK_ERR_SIZE);
    link_decoder_clear(&small);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

static void test_birth(void)
{
    char err[256] = "";
    struct link_encoder enc;
    struct link_decoder dec;
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 5, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);

    /* 300 tags with long paths: several parts. */
    enum { n = 300 };
    static char paths[n][128];
    static struct link_birth_tag tags[n];
    static const char *units[] = {"degC", "bar", "", "m3/h", "°C"};
    for (uint32_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i],
                 "acme/plant_north/area-%u/line_%u/cell.%u/some_rather_long_tag_name_%u", i % 3,
                 i % 11, i % 5, i);
        tags[i] = (struct link_birth_tag){.id = i * 3,
                                          .type = (enum value_type)(i % 5),
                                          .path = paths[i],
                                          .path_len = (uint32_t)strlen(paths[i]),
                                          .unit = units[i % 5],
                                          .unit_len = (uint32_t)strlen(units[i % 5])};
    }
    struct capture cap = {0};
    CHECK_EQ_INT(link_encode_birth(&enc, tags, n, 42, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK(cap.count >= 10);
    uint32_t next = 0;
    bool ok = true;
    for (size_t k = 0; k < cap.count; k++) {
        struct link_datagram d;
        CHECK(cap.lens[k] <= LINK_DEFAULT_DATAGRAM_BYTES);
        if (link_decode(&dec, cap.bufs[k], cap.lens[k], &d, err, sizeof err) != LINK_OK) {
            fprintf(stderr, "birth %zu: %s\n", k, err);
            ok = false;
            continue;
        }
        ok &= d.header.type == LINK_BIRTH && d.birth.epoch == 42 && d.birth.tag_total == n &&
              d.birth.part == k && d.birth.parts == cap.count && d.tag_count > 0;
        for (uint32_t i = 0; i < d.tag_count && next < n; i++, next++) {
            const struct link_birth_tag *t = &d.tags[i], *w = &tags[next];
            ok &= t->id == w->id && t->type == w->type && t->path_len == w->path_len &&
                  memcmp(t->path, w->path, w->path_len) == 0 && t->unit_len == w->unit_len &&
                  memcmp(t->unit, w->unit, w->unit_len) == 0;
        }
    }
    CHECK(ok);
    CHECK_EQ_INT(next, n);
    capture_free(&cap);

    /* An empty table is one empty part. */
    CHECK_EQ_INT(link_encode_birth(&enc, NULL, 0, 43, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(cap.count, 1);
    struct link_datagram d;
    CHECK_EQ_INT(link_decode(&dec, cap.bufs[0], cap.lens[0], &d, err, sizeof err), LINK_OK);
    CHECK(d.birth.parts == 1 && d.birth.part == 0 && d.tag_count == 0 && d.birth.epoch == 43);
    capture_free(&cap);

    /* Names that cannot travel: nothing is emitted. */
    static char longpath[300];
    memset(longpath, 'a', sizeof longpath);
    longpath[1] = '/';
    struct link_birth_tag badtags[2] = {tags[0], tags[1]};
    badtags[1].path = longpath;
    badtags[1].path_len = 256;
    uint64_t seq_before = enc.next_sequence;
    CHECK_EQ_INT(link_encode_birth(&enc, badtags, 2, 1, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_TOO_LARGE);
    CHECK(contains(err, "path of 256 bytes"));
    badtags[1].path_len = 0;
    CHECK_EQ_INT(link_encode_birth(&enc, badtags, 2, 1, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_TOO_LARGE);
    CHECK_EQ_INT(cap.count, 0);
    CHECK_EQ_INT(enc.next_sequence, seq_before);
    /* The longest path and unit fit the smallest datagram. */
    struct link_encoder small;
    struct link_decoder small_dec;
    CHECK_EQ_INT(
        link_encoder_init(&small, test_key, LINK_ID, 5, LINK_MIN_DATAGRAM_BYTES, err, sizeof err),
        LINK_OK);
    CHECK_EQ_INT(
        link_decoder_init(&small_dec, test_key, LINK_ID, LINK_MIN_DATAGRAM_BYTES, err, sizeof err),
        LINK_OK);
    /* 255 bytes in 6 segments of 40 to 50 characters. */
    memset(longpath, 'a', sizeof longpath);
    for (int i = 40; i < 255; i += 41)
        longpath[i] = '/';
    badtags[1].path = longpath;
    badtags[1].path_len = 255;
    badtags[1].unit = longpath;
    badtags[1].unit_len = 255;
    badtags[1].id = UINT32_MAX;
    CHECK_EQ_INT(link_encode_birth(&small, badtags, 2, 1, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(cap.count, 2);
    for (size_t k = 0; k < cap.count; k++) {
        CHECK_EQ_INT(link_decode(&small_dec, cap.bufs[k], cap.lens[k], &d, err, sizeof err),
                     LINK_OK);
        if (k == 1)
            CHECK(d.tag_count == 1 && d.tags[0].path_len == 255 && d.tags[0].id == UINT32_MAX);
    }
    capture_free(&cap);
    link_encoder_clear(&small);
    link_decoder_clear(&small_dec);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

static void test_heartbeat(void)
{
    char err[256] = "";
    struct link_encoder enc;
    struct link_decoder dec;
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 9, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    enc.datagrams_sent = 123456789012u;
    enc.samples_sent = 987654321098765u;
    uint8_t buf[LINK_DEFAULT_DATAGRAM_BYTES];
    size_t len;
    CHECK_EQ_INT(link_encode_heartbeat(&enc, 77, 1500, T0, buf, sizeof buf, &len, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(len, LINK_OVERHEAD_BYTES + 24);
    struct link_datagram d;
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(d.header.type, LINK_HEARTBEAT);
    CHECK_EQ_INT(d.heartbeat.epoch, 77);
    CHECK_EQ_INT(d.heartbeat.tag_count, 1500);
    CHECK(d.heartbeat.datagrams_sent == 123456789012u);
    CHECK(d.heartbeat.samples_sent == 987654321098765u);
    CHECK_EQ_INT(enc.datagrams_sent, 123456789013u);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

/* Every altered byte, every truncation, a wrong key and a wrong link fail. */
static void test_authentication(void)
{
    char err[256] = "";
    struct link_encoder enc;
    struct link_decoder dec;
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 9, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    struct sample in[3] = {smp(1, T0, 0, value_double(1.5)),
                           smp(2, T0, QUALITY_BAD, str_value("hello", 5)),
                           smp(3, T0 + 7, 0, value_int64(-9))};
    uint8_t buf[LINK_DEFAULT_DATAGRAM_BYTES + 1];
    size_t len, taken;
    CHECK_EQ_INT(link_encode_data(&enc, in, 3, T0, buf, sizeof buf, &len, &taken, err, sizeof err),
                 LINK_OK);
    struct link_datagram d;
    int tamper_failures = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            enum link_status st = link_decode(&dec, buf, len, &d, err, sizeof err);
            if (st != LINK_ERR_MAC) tamper_failures++;
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_EQ_INT(tamper_failures, 0);
    CHECK(contains(err, "HMAC mismatch"));
    CHECK_EQ_INT(link_decode(&dec, buf, len, &d, err, sizeof err), LINK_OK);

    int trunc_failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        enum link_status st = link_decode(&dec, buf, cut, &d, err, sizeof err);
        if (st != (cut < LINK_OVERHEAD_BYTES ? LINK_ERR_SIZE : LINK_ERR_MAC)) trunc_failures++;
    }
    CHECK_EQ_INT(trunc_failures, 0);
    buf[len] = 0;
    CHECK_EQ_INT(link_decode(&dec, buf, len + 1, &d, err, sizeof err), LINK_ERR_MAC);
    CHECK_EQ_INT(link_decode(&dec, NULL, 0, &d, err, sizeof err), LINK_ERR_SIZE);

    uint8_t other_key[LINK_KEY_BYTES];
    make_key(other_key, 'z');
    struct link_decoder wrong;
    CHECK_EQ_INT(link_decoder_init(&wrong, other_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decode(&wrong, buf, len, &d, err, sizeof err), LINK_ERR_MAC);
    link_decoder_clear(&wrong);
    /* Same key, another link: authenticated, but refused by id. */
    CHECK_EQ_INT(link_decoder_init(&wrong, test_key, LINK_ID + 1, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decode(&wrong, buf, len, &d, err, sizeof err), LINK_ERR_LINK_ID);
    CHECK(contains(err, "link id 7 at offset 4"));
    link_decoder_clear(&wrong);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

/* Hand-built datagrams with a valid HMAC: the parser behind it. */
struct forge {
    uint8_t buf[LINK_DEFAULT_DATAGRAM_BYTES];
    size_t len;
    struct link_mac mac;
};

static void forge_begin(struct forge *f, uint8_t type)
{
    memset(f->buf, 0, sizeof f->buf);
    f->buf[0] = 'A';
    f->buf[1] = 'L';
    f->buf[2] = LINK_VERSION;
    f->buf[3] = type;
    put_u32le(f->buf + 4, LINK_ID);
    put_u64le(f->buf + 16, 1);
    put_u64le(f->buf + 24, (uint64_t)T0);
    f->len = LINK_HEADER_BYTES;
}

static void forge_bytes(struct forge *f, const char *hex)
{
    f->len += test_unhex(hex, f->buf + f->len, sizeof f->buf - f->len);
}

static enum link_status forge_decode(struct forge *f, struct link_decoder *dec, char *err,
                                     size_t err_len, bool fix_length)
{
    if (fix_length) put_u32le(f->buf + 32, (uint32_t)(f->len - LINK_HEADER_BYTES));
    link_mac_compute(&f->mac, f->buf, f->len, f->buf + f->len);
    struct link_datagram d;
    return link_decode(dec, f->buf, f->len + LINK_MAC_BYTES, &d, err, err_len);
}

static void expect_malformed(struct link_decoder *dec, struct forge *f, uint8_t type,
                             const char *payload_hex, enum link_status want, const char *want_text)
{
    char err[256] = "";
    forge_begin(f, type);
    forge_bytes(f, payload_hex);
    enum link_status st = forge_decode(f, dec, err, sizeof err, true);
    if (st != want || !contains(err, want_text))
        fprintf(stderr, "payload %s: got %s \"%s\", want %s \"%s\"\n", payload_hex,
                link_status_name(st), err, link_status_name(want), want_text);
    CHECK_EQ_INT(st, want);
    CHECK(contains(err, want_text));
}

static void test_malformed(void)
{
    char err[256] = "";
    struct link_decoder dec;
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    struct forge f;
    CHECK_EQ_INT(link_mac_init(&f.mac, test_key), LINK_OK);

    /* A valid one first: one bool sample, tag 5, ts = sent time. */
    expect_malformed(&dec, &f, LINK_DATA, "0100 00 05 00 01", LINK_OK, "");
    /* Header fields. */
    forge_begin(&f, LINK_DATA);
    forge_bytes(&f, "0100 00 05 00 01");
    f.buf[0] = 'X';
    CHECK_EQ_INT(forge_decode(&f, &dec, err, sizeof err, true), LINK_ERR_MAGIC);
    forge_begin(&f, LINK_DATA);
    forge_bytes(&f, "0100 00 05 00 01");
    f.buf[2] = 2;
    CHECK_EQ_INT(forge_decode(&f, &dec, err, sizeof err, true), LINK_ERR_VERSION);
    CHECK(contains(err, "version 2 at offset 2"));
    expect_malformed(&dec, &f, 0, "", LINK_ERR_TYPE, "type 0 at offset 3");
    expect_malformed(&dec, &f, 5, "", LINK_ERR_TYPE, "type 5 at offset 3");
    forge_begin(&f, LINK_DATA);
    forge_bytes(&f, "0100 00 05 00 01");
    put_u32le(f.buf + 32, 5);
    CHECK_EQ_INT(forge_decode(&f, &dec, err, sizeof err, false), LINK_ERR_MALFORMED);
    CHECK(contains(err, "payload length 5 at offset 32"));

    /* DATA payloads (offsets count from the datagram start; payload at 36). */
    expect_malformed(&dec, &f, LINK_DATA, "", LINK_ERR_MALFORMED, "count truncated");
    expect_malformed(&dec, &f, LINK_DATA, "0000", LINK_ERR_MALFORMED,
                     "DATA without samples at offset 36");
    expect_malformed(&dec, &f, LINK_DATA, "0200 00 05 00 01", LINK_ERR_MALFORMED,
                     "claims 2 samples");
    expect_malformed(&dec, &f, LINK_DATA, "FFFF 00 05 00 01", LINK_ERR_MALFORMED, "claims 65535");
    expect_malformed(&dec, &f, LINK_DATA, "0100 10 05 00 01", LINK_ERR_MALFORMED,
                     "reserved flag bits 0x10 set at offset 38");
    expect_malformed(&dec, &f, LINK_DATA, "0100 05 05 00 01", LINK_ERR_MALFORMED,
                     "unknown value type 5 at offset 38");
    expect_malformed(&dec, &f, LINK_DATA, "0100 00 05 00 02", LINK_ERR_MALFORMED,
                     "bool value 2 at offset 41");
    expect_malformed(&dec, &f, LINK_DATA, "0100 00 85 00 01", LINK_ERR_MALFORMED,
                     "shortest form at offset 39");
    expect_malformed(&dec, &f, LINK_DATA, "0100 00 8080808010 00", LINK_ERR_MALFORMED,
                     "exceeds 32 bits at offset 39");
    expect_malformed(&dec, &f, LINK_DATA, "0100 01 05 00 FFFFFFFFFFFFFFFFFF02", LINK_ERR_MALFORMED,
                     "exceeds 64 bits at offset 41");
    expect_malformed(&dec, &f, LINK_DATA, "0100 01 05 00 FF", LINK_ERR_MALFORMED,
                     "varint truncated");
    expect_malformed(&dec, &f, LINK_DATA, "0100 08 05 00 00000000 01", LINK_ERR_MALFORMED,
                     "quality present but unchanged at offset 41");
    expect_malformed(&dec, &f, LINK_DATA, "0100 08 05 00 0000", LINK_ERR_MALFORMED,
                     "quality truncated");
    expect_malformed(&dec, &f, LINK_DATA, "0100 03 05 00 000000", LINK_ERR_MALFORMED,
                     "double value truncated");
    expect_malformed(&dec, &f, LINK_DATA, "0100 04 05 00 05 6162", LINK_ERR_MALFORMED,
                     "string of 5 bytes, 2 left at offset 41");
    expect_malformed(&dec, &f, LINK_DATA, "0100 00 05 00 01 00", LINK_ERR_MALFORMED,
                     "1 bytes after the last field at offset 42");
    /* BIRTH: epoch, total, part, parts, count, entries. */
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 03 03 612F62 00",
                     LINK_OK, "");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0100 0100 0100 05 03 03 612F62 00",
                     LINK_ERR_MALFORMED, "part 1 of 1 at offset 44");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0000 0000", LINK_ERR_MALFORMED,
                     "part 0 of 0");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 00000000 0000 0100 0100 05 03 03 612F62 00",
                     LINK_ERR_MALFORMED, "1 entries of a table of 0");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 09000000 0000 0100 0200 05 03 03 612F62 00",
                     LINK_ERR_MALFORMED, "claims 2 entries");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 07 03 612F62 00",
                     LINK_ERR_MALFORMED, "unknown value type 7 at offset 51");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 03 03 61 2F 2F 00",
                     LINK_ERR_MALFORMED, "invalid path");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 03 03 61 00 62 00",
                     LINK_ERR_MALFORMED, "NUL byte");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 03 09 612F62 00",
                     LINK_ERR_MALFORMED, "BIRTH path truncated");
    expect_malformed(&dec, &f, LINK_BIRTH,
                     "01000000 01000000 0000 0100 0100 05 03 03 612F62 02 410A", LINK_ERR_MALFORMED,
                     "control character in unit at offset 57");
    expect_malformed(&dec, &f, LINK_BIRTH, "01000000 01000000 0000 0100 0100 05 03 03 612F62 05 41",
                     LINK_ERR_MALFORMED, "BIRTH unit truncated");
    /* DEVICES: snapshot, total, part, parts, first, count, entries (the
     * entry starts at offset 50: name length, "a", protocol, endpoint,
     * state at 54, 10 counters, bucket count at 65, 13 buckets, 2 times,
     * error length at 81). */
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_OK, "");
    expect_malformed(&dec, &f, LINK_DEVICES, "01000000 0000 0000 0100 0000 0000", LINK_OK, "");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0000 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "DEVICES part 0 of 0 at offset 42");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0100 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "part 1 of 1");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0100 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "entries 1..1+1 of a set of 1 at offset 46");
    expect_malformed(&dec, &f, LINK_DEVICES, "01000000 0100 0000 0100 0000 0000",
                     LINK_ERR_MALFORMED, "of a set of 1");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0900 0000 0100 0000 0200 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "claims 2 entries");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 FFFF 0000 0100 0000 FFFF 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "claims 65535 entries");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 40 "
                     "61616161616161616161616161616161616161616161616161616161616161616161616161616"
                     "161616161616161616161616161616161616161616161616161 00 00 01 "
                     "00000000000000000000 0D 00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "device name of 64 bytes, at most 63 at offset 50");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 00 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00 00",
                     LINK_ERR_MALFORMED, "empty device name at offset 50");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 0A 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "control character in device name at offset 50");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 01 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "NUL byte in device protocol at offset 52");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 06 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED, "unknown device state 6 at offset 54");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0C "
                     "000000000000000000000000 00 00 00 00",
                     LINK_ERR_MALFORMED, "12 latency buckets, this code has 13 at offset 65");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 80000000000000000000 0D "
                     "00000000000000000000000000 00 00 00",
                     LINK_ERR_MALFORMED,
                     "device counter varint not in its shortest form at offset 55");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 03 0A0D09",
                     LINK_OK, "");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 02 6100",
                     LINK_ERR_MALFORMED, "NUL byte in last error at offset 81");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 05 61",
                     LINK_ERR_MALFORMED, "last error truncated");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 1E "
                     "656565656565656565656565656565656565656565656565656565656565 01 0000",
                     LINK_ERR_MALFORMED, "device counter varint truncated");
    expect_malformed(&dec, &f, LINK_DEVICES,
                     "01000000 0100 0000 0100 0000 0100 01 61 00 00 01 00000000000000000000 0D "
                     "00000000000000000000000000 00 00 00 00",
                     LINK_ERR_MALFORMED, "1 bytes after the last field");
    /* HEARTBEAT: exactly 24 bytes. */
    expect_malformed(&dec, &f, LINK_HEARTBEAT, "010000000200000003000000000000000400000000000000",
                     LINK_OK, "");
    expect_malformed(&dec, &f, LINK_HEARTBEAT, "0100000002000000030000000000000004000000000000",
                     LINK_ERR_MALFORMED, "samples sent truncated");
    expect_malformed(&dec, &f, LINK_HEARTBEAT, "01000000020000000300000000000000040000000000000000",
                     LINK_ERR_MALFORMED, "1 bytes after the last field");
    link_mac_clear(&f.mac);
    link_decoder_clear(&dec);
}

/* ---- DEVICES ---- */

static void fill_device(struct link_device *d, uint32_t i)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "plc-%03u", i);
    snprintf(d->protocol, sizeof d->protocol, "%s", i % 2 ? "modbus-tcp" : "opcua");
    snprintf(d->endpoint, sizeof d->endpoint, "10.0.%u.%u:502 unit %u", i / 250, i % 250, i % 7);
    if (i % 3) snprintf(d->last_error, sizeof d->last_error, "timeout after 1000 ms (%u)", i);
    d->state = (uint8_t)(i % (DEVICE_STOPPED + 1));
    d->polls = i * 1000003u;
    d->requests = i % 5 == 0 ? UINT64_MAX : i * 7u;
    d->errors = i;
    d->exceptions = i / 2;
    d->timeouts = i / 3;
    d->reconnects = i % 4;
    d->values = (uint64_t)i << 40;
    d->skipped_polls = 1;
    d->latency_count = 12345;
    d->latency_sum_us = 987654321;
    for (int b = 0; b < LINK_DEVICE_BUCKETS; b++)
        d->latency_bucket[b] = (uint64_t)b * i;
    d->last_success_ns = i % 4 == 0 ? 0 : T0 + i;
    d->last_error_ns = i % 6 == 5 ? INT64_MIN : -(int64_t)i;
}

static bool device_fields_equal(const struct link_device *a, const struct link_device *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->protocol, b->protocol) == 0 &&
           strcmp(a->endpoint, b->endpoint) == 0 && strcmp(a->last_error, b->last_error) == 0 &&
           a->state == b->state && a->polls == b->polls && a->requests == b->requests &&
           a->errors == b->errors && a->exceptions == b->exceptions && a->timeouts == b->timeouts &&
           a->reconnects == b->reconnects && a->values == b->values &&
           a->skipped_polls == b->skipped_polls && a->latency_count == b->latency_count &&
           a->latency_sum_us == b->latency_sum_us &&
           memcmp(a->latency_bucket, b->latency_bucket, sizeof a->latency_bucket) == 0 &&
           a->last_success_ns == b->last_success_ns && a->last_error_ns == b->last_error_ns;
}

/* Decodes the captured parts of one set into out[] (by their first index)
 * and checks the part bookkeeping. */
static size_t decode_device_parts(struct link_decoder *dec, struct capture *cap, uint32_t snapshot,
                                  size_t total, struct link_device *out, size_t max_bytes)
{
    char err[256] = "";
    size_t filled = 0;
    for (size_t k = 0; k < cap->count; k++) {
        struct link_datagram d;
        CHECK(cap->lens[k] <= max_bytes);
        if (link_decode(dec, cap->bufs[k], cap->lens[k], &d, err, sizeof err) != LINK_OK) {
            fprintf(stderr, "devices part %zu: %s\n", k, err);
            CHECK(false);
            continue;
        }
        CHECK_EQ_INT(d.header.type, LINK_DEVICES);
        CHECK_EQ_INT(d.devices_info.snapshot, snapshot);
        CHECK_EQ_INT(d.devices_info.device_total, total);
        CHECK_EQ_INT(d.devices_info.part, k);
        CHECK_EQ_INT(d.devices_info.parts, cap->count);
        CHECK_EQ_INT(d.devices_info.first, filled);
        CHECK(total == 0 || d.device_count > 0);
        for (uint32_t i = 0; i < d.device_count && filled < total; i++)
            out[filled++] = d.devices[i];
    }
    return filled;
}

static void test_devices(void)
{
    char err[256] = "";
    struct link_encoder enc;
    struct link_decoder dec;
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 11, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);

    /* 40 devices at the default size: several parts, exact round trip. */
    enum { n = 40 };
    static struct link_device devs[n], got[n];
    for (uint32_t i = 0; i < n; i++)
        fill_device(&devs[i], i);
    /* The longest texts and a 255-byte error. */
    memset(devs[7].name, 'n', LINK_DEVICE_NAME_MAX_BYTES);
    memset(devs[7].protocol, 'p', LINK_DEVICE_PROTOCOL_MAX_BYTES);
    memset(devs[7].endpoint, 'e', LINK_DEVICE_ENDPOINT_MAX_BYTES);
    memset(devs[7].last_error, 'x', LINK_DEVICE_ERROR_MAX_BYTES);
    struct capture cap = {0};
    CHECK_EQ_INT(link_encode_devices(&enc, devs, n, 3, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK(cap.count >= 2);
    CHECK_EQ_INT(decode_device_parts(&dec, &cap, 3, n, got, LINK_DEFAULT_DATAGRAM_BYTES), n);
    bool same = true;
    for (uint32_t i = 0; i < n; i++)
        same &= device_fields_equal(&devs[i], &got[i]);
    CHECK(same);
    CHECK_EQ_INT(enc.datagrams_sent, cap.count);
    capture_free(&cap);

    /* The empty set: one part without entries. */
    CHECK_EQ_INT(link_encode_devices(&enc, NULL, 0, 4, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(cap.count, 1);
    CHECK_EQ_INT(decode_device_parts(&dec, &cap, 4, 0, got, LINK_DEFAULT_DATAGRAM_BYTES), 0);
    capture_free(&cap);

    /* The smallest datagram and the largest entry: the last error is cut,
     * not in the middle of a 2-byte character; everything else intact. */
    struct link_encoder small;
    struct link_decoder small_dec;
    CHECK_EQ_INT(
        link_encoder_init(&small, test_key, LINK_ID, 12, LINK_MIN_DATAGRAM_BYTES, err, sizeof err),
        LINK_OK);
    CHECK_EQ_INT(
        link_decoder_init(&small_dec, test_key, LINK_ID, LINK_MIN_DATAGRAM_BYTES, err, sizeof err),
        LINK_OK);
    struct link_device big = devs[7];
    big.polls = big.requests = big.errors = big.values = big.latency_sum_us = UINT64_MAX;
    for (int b = 0; b < LINK_DEVICE_BUCKETS; b++)
        big.latency_bucket[b] = UINT64_MAX;
    big.last_success_ns = INT64_MAX;
    big.last_error_ns = INT64_MIN;
    for (int i = 0; i + 1 < LINK_DEVICE_ERROR_MAX_BYTES; i += 2)
        memcpy(big.last_error + i, "\xc3\xa9", 2); /* "é" */
    big.last_error[LINK_DEVICE_ERROR_MAX_BYTES - 1] = 'z';
    struct link_device pair[2] = {big, devs[1]};
    CHECK_EQ_INT(link_encode_devices(&small, pair, 2, 9, T0, capture_emit, &cap, err, sizeof err),
                 LINK_OK);
    CHECK_EQ_INT(cap.count, 2);
    CHECK_EQ_INT(decode_device_parts(&small_dec, &cap, 9, 2, got, LINK_MIN_DATAGRAM_BYTES), 2);
    size_t cut = strlen(got[0].last_error);
    CHECK(cut > 0 && cut < strlen(big.last_error) && cut % 2 == 0);
    CHECK(strncmp(got[0].last_error, big.last_error, cut) == 0);
    struct link_device expect = big;
    snprintf(expect.last_error, sizeof expect.last_error, "%s", got[0].last_error);
    CHECK(device_fields_equal(&expect, &got[0]));
    CHECK(device_fields_equal(&devs[1], &got[1]));
    capture_free(&cap);
    link_encoder_clear(&small);
    link_decoder_clear(&small_dec);

    /* Entries that cannot be sent: nothing is emitted, no number used. */
    uint64_t before = enc.next_sequence;
    struct link_device bad = devs[2];
    bad.name[0] = '\0';
    CHECK_EQ_INT(link_encode_devices(&enc, &bad, 1, 5, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    CHECK(contains(err, "device 0"));
    bad = devs[2];
    bad.endpoint[2] = '\n';
    CHECK_EQ_INT(link_encode_devices(&enc, &bad, 1, 5, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    bad = devs[2];
    bad.state = DEVICE_STOPPED + 1;
    CHECK_EQ_INT(link_encode_devices(&enc, &bad, 1, 5, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    bad = devs[2];
    memset(bad.protocol, 'p', sizeof bad.protocol); /* no NUL */
    CHECK_EQ_INT(link_encode_devices(&enc, &bad, 1, 5, T0, capture_emit, &cap, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    CHECK_EQ_INT(link_encode_devices(&enc, devs, LINK_DEVICES_MAX + 1u, 5, T0, capture_emit, &cap,
                                     err, sizeof err),
                 LINK_ERR_ARGUMENT);
    CHECK_EQ_INT(cap.count, 0);
    CHECK(enc.next_sequence == before);
    link_encoder_clear(&enc);
    link_decoder_clear(&dec);
}

static void test_keys(void)
{
    char err[256] = "";
    uint8_t a[LINK_KEY_BYTES], b[LINK_KEY_BYTES];
    const char *secret = "0123456789abcdef0123456789abcdef-secret";
    CHECK_EQ_INT(link_key_derive((const uint8_t *)secret, 31, a, err, sizeof err),
                 LINK_ERR_ARGUMENT);
    CHECK(contains(err, "31 bytes"));
    CHECK_EQ_INT(link_key_derive((const uint8_t *)secret, strlen(secret), a, err, sizeof err),
                 LINK_OK);
    char path[] = "/tmp/airlock_link_key_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\r\n \n", secret);
    fclose(f);
    CHECK_EQ_INT(link_key_load_file(path, b, err, sizeof err), LINK_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    f = fopen(path, "w");
    fprintf(f, "short secret\n");
    fclose(f);
    CHECK_EQ_INT(link_key_load_file(path, b, err, sizeof err), LINK_ERR_ARGUMENT);
    CHECK(contains(err, path) && contains(err, "12 bytes"));
    f = fopen(path, "w");
    for (int i = 0; i < 5000; i++)
        fputc('k', f);
    fclose(f);
    CHECK_EQ_INT(link_key_load_file(path, b, err, sizeof err), LINK_ERR_ARGUMENT);
    CHECK(contains(err, "longer than 4096"));
    unlink(path);
    CHECK_EQ_INT(link_key_load_file(path, b, err, sizeof err), LINK_ERR_ARGUMENT);
    CHECK(contains(err, "No such file"));
    uint64_t s1 = 0, s2 = 0;
    CHECK(link_random_session_id(&s1) && link_random_session_id(&s2) && s1 != s2);
}

/* ---- Receiver ------------------------------------------------------------------ */

struct lost_log {
    uint64_t first[100000], last[100000], session[100000];
    size_t count;
};

static void log_lost(void *ctx, uint64_t session, uint64_t first, uint64_t last)
{
    struct lost_log *l = ctx;
    if (l->count < 100000) {
        l->first[l->count] = first;
        l->last[l->count] = last;
        l->session[l->count] = session;
    }
    l->count++;
}

static void test_rx_basics(void)
{
    static struct lost_log log;
    struct link_rx_window rx;
    memset(&log, 0, sizeof log);
    link_rx_init(&rx, log_lost, &log);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 10), LINK_RX_FIRST);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 11), LINK_RX_NEW);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 11), LINK_RX_DUPLICATE);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 10), LINK_RX_DUPLICATE);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 9), LINK_RX_STALE); /* before the first seen */
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 15), LINK_RX_NEW);  /* 12..14 missing */
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 13), LINK_RX_REORDERED);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 13), LINK_RX_DUPLICATE);
    CHECK_EQ_INT(log.count, 0); /* nothing left the window yet */
    /* Move the window past 14: 12 and 14 are reported, separately. */
    for (uint64_t s = 16; s <= 14 + LINK_RX_WINDOW; s++)
        link_rx_accept(&rx, 1, s);
    CHECK_EQ_INT(log.count, 1); /* 12 is reported once 13 leaves; 14 still pending */
    CHECK(log.first[0] == 12 && log.last[0] == 12);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 15 + LINK_RX_WINDOW), LINK_RX_NEW);
    CHECK_EQ_INT(log.count, 2);
    CHECK(log.first[1] == 14 && log.last[1] == 14);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, 14), LINK_RX_STALE); /* behind the window */
    CHECK_EQ_INT(rx.lost, 2);
    CHECK_EQ_INT(rx.duplicates, 3);
    CHECK_EQ_INT(rx.reordered, 1);
    CHECK_EQ_INT(rx.stale, 2);

    /* A jump by far more than the window: one range for all of it. */
    uint64_t h = rx.highest;
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 5000), LINK_RX_NEW);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 4000), LINK_RX_REORDERED);
    link_rx_flush(&rx);
    CHECK_EQ_INT(log.count, 4);
    CHECK(log.first[2] == h + 1 && log.last[2] == h + 3999);
    CHECK(log.first[3] == h + 4001 && log.last[3] == h + 4999);
    CHECK_EQ_INT(rx.lost, 2 + 4998);
    /* After a flush, a late arrival of a flushed number is stale. */
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 4500), LINK_RX_STALE);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 5001), LINK_RX_NEW);
    link_rx_flush(&rx);
    CHECK_EQ_INT(log.count, 4);

    /* Restart: a new session flushes the old one's gaps. */
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 5003), LINK_RX_NEW); /* h+5002 missing */
    CHECK_EQ_INT(link_rx_accept(&rx, 2, 1), LINK_RX_RESTART);
    CHECK_EQ_INT(log.count, 5);
    CHECK(log.session[4] == 1 && log.first[4] == h + 5002 && log.last[4] == h + 5002);
    CHECK_EQ_INT(link_rx_accept(&rx, 1, h + 5004), LINK_RX_STALE); /* old session, late */
    CHECK_EQ_INT(link_rx_accept(&rx, 2, 2), LINK_RX_NEW);
    CHECK_EQ_INT(link_rx_accept(&rx, 2, 4), LINK_RX_NEW);
    CHECK_EQ_INT(link_rx_accept(&rx, 3, 1), LINK_RX_RESTART);
    CHECK_EQ_INT(log.count, 6);
    CHECK(log.session[5] == 2 && log.first[5] == 3 && log.last[5] == 3);
    CHECK_EQ_INT(rx.restarts, 2);
    /* Sequence numbers near the top of the range. */
    CHECK_EQ_INT(link_rx_accept(&rx, 4, UINT64_MAX - 3), LINK_RX_RESTART);
    CHECK_EQ_INT(link_rx_accept(&rx, 4, UINT64_MAX), LINK_RX_NEW);
    link_rx_flush(&rx);
    CHECK(log.first[6] == UINT64_MAX - 2 && log.last[6] == UINT64_MAX - 1);
}

/* xorshift64*: a fixed, reproducible pseudo-random sequence. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

/* 5 % loss, some reordering (within 200) and duplicates: the reported ranges
 * cover exactly the dropped numbers, each once. */
static void test_rx_random_loss(void)
{
    enum { n = 200000 };
    static bool dropped[n + 1], reported[n + 1];
    static uint64_t order[n + n / 10];
    static struct lost_log log;
    memset(&log, 0, sizeof log);
    size_t m = 0, drops = 0;
    for (uint64_t s = 1; s <= n; s++) {
        dropped[s] = s > 1 && s < n && rng() % 100 < 5;
        if (dropped[s]) {
            drops++;
            continue;
        }
        order[m++] = s;
        if (rng() % 100 < 3) order[m++] = s; /* network or redundancy duplicate */
    }
    /* Local reordering: swap with a neighbour up to 200 places later. */
    for (size_t i = 0; i + 200 < m; i++)
        if (rng() % 100 < 2) {
            size_t j = i + 1 + rng() % 200;
            uint64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    /* Keep the first and the last in place so that the whole range is
     * spanned (the first seen starts the session). */
    for (size_t i = 0; i < m; i++)
        if (order[i] == 1) order[i] = order[0], order[0] = 1;
    for (size_t i = 0; i < m; i++)
        if (order[i] == n) order[i] = order[m - 1], order[m - 1] = n;

    struct link_rx_window rx;
    link_rx_init(&rx, log_lost, &log);
    size_t accepted = 0;
    for (size_t i = 0; i < m; i++) {
        enum link_rx_verdict v = link_rx_accept(&rx, 42, order[i]);
        if (v == LINK_RX_FIRST || v == LINK_RX_NEW || v == LINK_RX_REORDERED) accepted++;
    }
    link_rx_flush(&rx);
    bool twice = false, outside = false;
    for (size_t k = 0; k < log.count && k < 100000; k++)
        for (uint64_t s = log.first[k]; s <= log.last[k]; s++) {
            if (s > n) {
                outside = true;
                break;
            }
            twice |= reported[s];
            reported[s] = true;
        }
    size_t mismatches = 0;
    for (uint64_t s = 1; s <= n; s++)
        mismatches += dropped[s] != reported[s];
    printf("random loss: %zu sent of %d, %zu dropped, %zu loss reports, %llu duplicates, %llu "
           "reordered\n",
           m, n, drops, log.count, (unsigned long long)rx.duplicates,
           (unsigned long long)rx.reordered);
    CHECK(!twice);
    CHECK(!outside);
    CHECK_EQ_INT(mismatches, 0);
    CHECK_EQ_INT(rx.lost, drops);
    CHECK_EQ_INT(accepted, n - drops);
    CHECK_EQ_INT(rx.received, n - drops);
    CHECK_EQ_INT(rx.received + rx.duplicates + rx.stale, m);
    CHECK(rx.reordered > 0 && rx.duplicates > 0);
}

/* ---- Throughput (printed only) ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
    struct link_decoder dec;
    uint64_t values;
    bool ok;
};

static bool bench_emit(void *ctx, const uint8_t *d, size_t len)
{
    struct bench *b = ctx;
    struct link_datagram out;
    if (link_decode(&b->dec, d, len, &out, NULL, 0) != LINK_OK) b->ok = false;
    b->values += out.sample_count;
    return true;
}

static void test_throughput(void)
{
    enum { batch = 1000, rounds = 500 };
    static struct sample in[batch];
    for (uint32_t i = 0; i < batch; i++)
        in[i] = smp(i, T0 + i * 1000, QUALITY_GOOD, value_double(20.0 + i * 0.01));
    struct link_encoder enc;
    struct bench b = {.ok = true};
    char err[256];
    CHECK_EQ_INT(link_encoder_init(&enc, test_key, LINK_ID, 3, 0, err, sizeof err), LINK_OK);
    CHECK_EQ_INT(link_decoder_init(&b.dec, test_key, LINK_ID, 0, err, sizeof err), LINK_OK);
    double t = now_s();
    for (int r = 0; r < rounds; r++)
        link_encode_data_all(&enc, in, batch, T0 + r, bench_emit, &b, err, sizeof err);
    t = now_s() - t;
    CHECK(b.ok);
    CHECK_EQ_INT(b.values, (uint64_t)batch * rounds);
    printf("throughput: %.2f M values/s encode+decode (doubles, %llu datagrams of <= %d bytes, "
           "%.1f values each)\n",
           (double)b.values / t / 1e6, (unsigned long long)enc.datagrams_sent,
           LINK_DEFAULT_DATAGRAM_BYTES, (double)b.values / (double)enc.datagrams_sent);
    link_encoder_clear(&enc);
    link_decoder_clear(&b.dec);
}

int main(void)
{
    make_key(test_key, 'k');
    test_data_round_trip();
    test_size_limits();
    test_birth();
    test_heartbeat();
    test_devices();
    test_authentication();
    test_malformed();
    test_keys();
    test_rx_basics();
    test_rx_random_loss();
    test_throughput();
    return test_summary();
}
