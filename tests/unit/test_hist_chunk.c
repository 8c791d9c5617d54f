/* Unit tests of historian columns, summaries and chunks
 * (historian/hist_chunk.h): column operations, hand-computed summaries and
 * their merging, bit-exact round trips of random columns of every type, a
 * flipped byte anywhere detected, truncation, header checks, and allocation
 * failures injected one by one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "historian/hist_alloc.h"
#include "historian/hist_chunk.h"
#include "testlib.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int64_t rng_range(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double double_of(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Doubles equal by bit pattern. */
static bool same_double(double a, double b)
{
    return bits_of(a) == bits_of(b);
}

static bool same_summary(const struct hist_summary *a, const struct hist_summary *b)
{
    return a->count == b->count && a->good == b->good && a->uncertain == b->uncertain &&
           a->bad == b->bad && a->t_min == b->t_min && a->t_max == b->t_max &&
           same_double(a->min, b->min) && same_double(a->max, b->max) &&
           same_double(a->sum, b->sum) && same_double(a->mean, b->mean) &&
           same_double(a->m2, b->m2) && same_double(a->first, b->first) &&
           same_double(a->last, b->last) && a->t_first == b->t_first && a->t_last == b->t_last;
}

/* Sample i of a and j of b hold the same time, quality and value (doubles
 * by bits, strings by bytes). */
static bool same_sample(const struct hist_columns *a, uint32_t i, const struct hist_columns *b,
                        uint32_t j)
{
    if (a->ts[i] != b->ts[j] || a->quality[i] != b->quality[j]) return false;
    struct value va = hist_columns_value(a, i), vb = hist_columns_value(b, j);
    if (a->type == VALUE_STRING)
        return va.as.str.len == vb.as.str.len &&
               memcmp(va.as.str.ptr, vb.as.str.ptr, va.as.str.len) == 0;
    return value_equal(&va, &vb);
}

static bool same_columns(const struct hist_columns *a, const struct hist_columns *b)
{
    if (a->type != b->type || a->count != b->count) return false;
    for (uint32_t i = 0; i < a->count; i++)
        if (!same_sample(a, i, b, i)) return false;
    return true;
}

static void push(struct hist_columns *c, int64_t ts, quality_t q, struct value v)
{
    CHECK(hist_columns_push(c, ts, q, &v));
}

static struct value string_value(const char *p, uint32_t len)
{
    struct value v = {.type = VALUE_STRING};
    v.as.str.ptr = p;
    v.as.str.len = len;
    return v;
}

static double random_double(void)
{
    switch (rng() % 8) {
    case 0:
        return double_of(rng()); /* any bits: NaNs, subnormals, infinities */
    case 1: {
        static const uint64_t special[] = {0x8000000000000000ull, 0x7FF0000000000000ull,
                                           0xFFF0000000000000ull, 0x7FF8000000000001ull,
                                           0x0000000000000001ull, 0xFFFFFFFFFFFFFFFFull};
        return double_of(special[rng() % 6]);
    }
    case 2:
        return (double)rng_range(-1000000, 1000000);
    default:
        return (double)rng_range(-100000, 100000) / 100.0; /* a sensor's decimals */
    }
}

static quality_t random_quality(void)
{
    uint64_t r = rng() % 10;
    return r < 7 ? QUALITY_GOOD : r < 8 ? QUALITY_UNCERTAIN_SUB_NORMAL : QUALITY_BAD_TIMEOUT;
}

/* Fills c (cleared first) with n random sorted samples of its type. */
static void random_columns(struct hist_columns *c, uint32_t n)
{
    static const char *const words[] = {"open", "closed", "", "fault\0code", "running slowly"};
    static const uint32_t word_lens[] = {4, 6, 0, 10, 14};
    hist_columns_clear(c);
    int64_t t = (int64_t)1700000000 * 1000000000 + rng_range(-1000000, 1000000);
    int64_t step = rng_range(1, 5000000000);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = rng() % 10;
        t += r < 7 ? step : r < 8 ? 0 : rng_range(1, 60000000000);
        struct value v;
        char buf[40];
        switch (c->type) {
        case VALUE_DOUBLE:
            v = value_double(random_double());
            break;
        case VALUE_INT64:
            v = value_int64(rng() % 4 ? rng_range(-1000, 1000) : (int64_t)rng());
            break;
        case VALUE_UINT64:
            v = value_uint64(rng() % 4 ? (uint64_t)rng_range(0, 1 << 20) : rng());
            break;
        case VALUE_BOOL:
            v = value_bool(rng() % 5 == 0);
            break;
        default: {
            if (rng() % 4 == 0) {
                uint32_t len = (uint32_t)rng_range(0, sizeof buf);
                for (uint32_t k = 0; k < len; k++)
                    buf[k] = (char)rng();
                v = string_value(buf, len);
            } else {
                size_t w = rng() % 5;
                v = string_value(words[w], word_lens[w]);
            }
            break;
        }
        }
        push(c, t, random_quality(), v);
    }
}

static void test_columns(void)
{
    struct hist_columns c, d;
    hist_columns_init(&c, VALUE_DOUBLE);
    CHECK_EQ_INT(c.count, 0);
    struct value wrong = value_int64(1);
    CHECK(!hist_columns_push(&c, 1, QUALITY_GOOD, &wrong)); /* type mismatch */
    CHECK_EQ_INT(c.count, 0);
    /* Out of order, with equal times: a stable sort. */
    push(&c, 30, QUALITY_GOOD, value_double(3));
    push(&c, 10, QUALITY_GOOD, value_double(1));
    push(&c, 20, QUALITY_BAD, value_double(2.0));
    push(&c, 10, QUALITY_UNCERTAIN, value_double(1.5));
    push(&c, 20, QUALITY_GOOD, value_double(2.5));
    CHECK(hist_columns_sort(&c));
    static const int64_t ts[] = {10, 10, 20, 20, 30};
    static const double vs[] = {1, 1.5, 2.0, 2.5, 3};
    static const quality_t qs[] = {QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_BAD, QUALITY_GOOD,
                                   QUALITY_GOOD};
    for (uint32_t i = 0; i < 5; i++) {
        CHECK_EQ_INT(c.ts[i], ts[i]);
        CHECK(c.f64[i] == vs[i]);
        CHECK_EQ_INT(c.quality[i], qs[i]);
    }
    struct value v = hist_columns_value(&c, 1);
    CHECK(v.type == VALUE_DOUBLE && v.as.f64 == 1.5);

    /* Append a range; type mismatch and bad ranges refused. */
    hist_columns_init(&d, VALUE_DOUBLE);
    CHECK(hist_columns_append(&d, &c, 1, 4));
    CHECK_EQ_INT(d.count, 3);
    CHECK(same_sample(&d, 0, &c, 1) && same_sample(&d, 2, &c, 3));
    CHECK(!hist_columns_append(&d, &c, 4, 6));
    CHECK(hist_columns_append(&d, &c, 2, 2));
    CHECK_EQ_INT(d.count, 3);
    hist_columns_clear(&d);
    CHECK_EQ_INT(d.count, 0);
    CHECK(d.capacity >= 3);
    hist_columns_free(&d);
    hist_columns_init(&d, VALUE_INT64);
    CHECK(!hist_columns_append(&d, &c, 0, 1));
    hist_columns_free(&d);
    hist_columns_free(&c);

    /* Strings are copied into the columns' pool. */
    hist_columns_init(&c, VALUE_STRING);
    char text[8] = "abc";
    push(&c, 1, QUALITY_GOOD, string_value(text, 3));
    push(&c, 2, QUALITY_GOOD, string_value("a\0b", 3));
    text[0] = 'X';
    v = hist_columns_value(&c, 0);
    CHECK(v.as.str.len == 3 && memcmp(v.as.str.ptr, "abc", 3) == 0);
    v = hist_columns_value(&c, 1);
    CHECK(v.as.str.len == 3 && memcmp(v.as.str.ptr, "a\0b", 3) == 0);
    hist_columns_init(&d, VALUE_STRING);
    CHECK(hist_columns_append(&d, &c, 0, 2));
    hist_columns_free(&c);
    v = hist_columns_value(&d, 1);
    CHECK(v.as.str.len == 3 && memcmp(v.as.str.ptr, "a\0b", 3) == 0);
    hist_columns_free(&d);

    /* Bool, int64, uint64 values. */
    hist_columns_init(&c, VALUE_UINT64);
    push(&c, 1, QUALITY_GOOD, value_uint64(UINT64_MAX));
    v = hist_columns_value(&c, 0);
    CHECK(v.type == VALUE_UINT64 && v.as.u64 == UINT64_MAX);
    hist_columns_free(&c);
    hist_columns_init(&c, VALUE_BOOL);
    push(&c, 1, QUALITY_GOOD, value_bool(true));
    v = hist_columns_value(&c, 0);
    CHECK(v.type == VALUE_BOOL && v.as.b);
    hist_columns_free(&c);
}

static void test_summaries(void)
{
    struct hist_columns c;
    struct hist_summary s;
    hist_columns_init(&c, VALUE_DOUBLE);
    hist_summary_of(&c, &s);
    CHECK_EQ_INT(s.count, 0);
    CHECK(isnan(s.min) && isnan(s.mean));
    /* Any order; the Bad sample is counted, never averaged. */
    push(&c, 50, QUALITY_GOOD, value_double(4));
    push(&c, 10, QUALITY_GOOD, value_double(2));
    push(&c, 30, QUALITY_BAD, value_double(1000));
    push(&c, 20, QUALITY_UNCERTAIN, value_double(6));
    push(&c, 5, QUALITY_BAD, value_double(-1000));
    push(&c, 50, QUALITY_GOOD, value_double(8));
    hist_summary_of(&c, &s);
    CHECK_EQ_INT(s.count, 6);
    CHECK_EQ_INT(s.good, 3);
    CHECK_EQ_INT(s.uncertain, 1);
    CHECK_EQ_INT(s.bad, 2);
    CHECK_EQ_INT(s.t_min, 5);
    CHECK_EQ_INT(s.t_max, 50);
    CHECK_EQ_DBL(s.min, 2, 0);
    CHECK_EQ_DBL(s.max, 8, 0);
    CHECK_EQ_DBL(s.sum, 20, 0);
    CHECK_EQ_DBL(s.mean, 5, 1e-15);
    CHECK_EQ_DBL(s.m2, 20, 1e-12); /* (1 + 9 + 1 + 9) */
    CHECK_EQ_DBL(s.first, 2, 0);
    CHECK_EQ_INT(s.t_first, 10);
    CHECK_EQ_DBL(s.last, 8, 0); /* tie at 50: the last in order */
    CHECK_EQ_INT(s.t_last, 50);

    /* Merging with an empty summary is the identity, both ways. */
    struct hist_summary empty, m;
    struct hist_columns none;
    hist_columns_init(&none, VALUE_DOUBLE);
    hist_summary_of(&none, &empty);
    m = s;
    hist_summary_merge(&m, &empty);
    CHECK(same_summary(&m, &s));
    m = empty;
    hist_summary_merge(&m, &s);
    CHECK(same_summary(&m, &s));

    /* Ties across merged summaries: first from the earlier (into), last
     * from the later (from), as if their samples came in that order. */
    struct hist_columns ca, cb;
    struct hist_summary sa, sb;
    hist_columns_init(&ca, VALUE_INT64);
    hist_columns_init(&cb, VALUE_INT64);
    push(&ca, 10, QUALITY_GOOD, value_int64(1));
    push(&ca, 20, QUALITY_GOOD, value_int64(2));
    push(&cb, 10, QUALITY_UNCERTAIN, value_int64(3));
    push(&cb, 20, QUALITY_GOOD, value_int64(4));
    hist_summary_of(&ca, &sa);
    hist_summary_of(&cb, &sb);
    hist_summary_merge(&sa, &sb);
    CHECK(sa.first == 1 && sa.last == 4 && sa.t_first == 10 && sa.t_last == 20);
    CHECK(sa.count == 4 && sa.good == 3 && sa.uncertain == 1 && sa.sum == 10 && sa.mean == 2.5);
    CHECK_EQ_DBL(sa.m2, 5, 1e-12);
    /* A summary with only Bad samples adds counts, not values. */
    hist_columns_clear(&cb);
    push(&cb, 5, QUALITY_BAD, value_int64(100));
    hist_summary_of(&cb, &sb);
    hist_summary_merge(&sa, &sb);
    CHECK(sa.count == 5 && sa.bad == 1 && sa.t_min == 5 && sa.max == 4 && sa.t_first == 10);
    hist_summary_merge(&sb, &sa); /* and the other way round takes them all */
    CHECK(sb.count == 6 && sb.bad == 2 && sb.max == 4 && sb.first == 1 && sb.m2 == sa.m2);
    hist_columns_free(&ca);
    hist_columns_free(&cb);

    /* Merging the summaries of the parts equals the summary of the whole. */
    for (int round = 0; round < 200; round++) {
        random_columns(&c, (uint32_t)rng_range(1, 200));
        for (uint32_t i = 0; i < c.count; i++)
            if (!isfinite(c.f64[i]) || fabs(c.f64[i]) > 1e7) c.f64[i] = (double)(i % 17);
        uint32_t cut = (uint32_t)rng_range(0, c.count);
        struct hist_columns a, b;
        hist_columns_init(&a, VALUE_DOUBLE);
        hist_columns_init(&b, VALUE_DOUBLE);
        CHECK(hist_columns_append(&a, &c, 0, cut));
        CHECK(hist_columns_append(&b, &c, cut, c.count));
        struct hist_summary sa, sb, whole;
        hist_summary_of(&a, &sa);
        hist_summary_of(&b, &sb);
        hist_summary_of(&c, &whole);
        hist_summary_merge(&sa, &sb);
        bool ok = sa.count == whole.count && sa.good == whole.good && sa.bad == whole.bad &&
                  sa.uncertain == whole.uncertain && sa.t_min == whole.t_min &&
                  sa.t_max == whole.t_max && same_double(sa.min, whole.min) &&
                  same_double(sa.max, whole.max) && same_double(sa.first, whole.first) &&
                  same_double(sa.last, whole.last) && sa.t_first == whole.t_first &&
                  sa.t_last == whole.t_last;
        if (whole.good + whole.uncertain > 0)
            ok = ok && fabs(sa.sum - whole.sum) <= 1e-9 * fmax(1, fabs(whole.sum)) &&
                 fabs(sa.mean - whole.mean) <= 1e-9 * fmax(1, fabs(whole.mean)) &&
                 fabs(sa.m2 - whole.m2) <= 1e-9 * fmax(1, fabs(whole.m2));
        CHECK(ok);
        hist_columns_free(&a);
        hist_columns_free(&b);
    }
    hist_columns_free(&c);

    /* Strings: counts and times, no value statistics. */
    hist_columns_init(&c, VALUE_STRING);
    push(&c, 7, QUALITY_GOOD, string_value("x", 1));
    push(&c, 9, QUALITY_BAD, string_value("y", 1));
    hist_summary_of(&c, &s);
    CHECK(s.count == 2 && s.good == 1 && s.bad == 1 && s.t_min == 7 && s.t_max == 9);
    CHECK(isnan(s.min) && isnan(s.sum) && isnan(s.first));
    CHECK_EQ_INT(s.t_first, 7);
    hist_columns_free(&c);
}

static const enum value_type all_types[] = {VALUE_BOOL, VALUE_INT64, VALUE_UINT64, VALUE_DOUBLE,
                                            VALUE_STRING};

static void test_round_trip(void)
{
    for (size_t t = 0; t < 5; t++) {
        struct hist_columns c, out;
        hist_columns_init(&c, all_types[t]);
        hist_columns_init(&out, all_types[t]);
        for (int round = 0; round < 60; round++) {
            uint32_t n = round < 5 ? (uint32_t)round + 1 : (uint32_t)rng_range(1, 3000);
            random_columns(&c, n);
            struct hc_buf buf;
            hc_buf_init(&buf);
            /* Something before the chunk in the buffer already. */
            CHECK(hc_buf_put(&buf, "xyz", 3));
            struct hist_chunk_header h;
            CHECK(hist_chunk_encode(&buf, 77, &c, &h));
            const uint8_t *chunk = buf.data + 3;
            size_t len = buf.len - 3;
            CHECK_EQ_INT(len, HIST_CHUNK_HEADER_BYTES + h.payload_bytes);
            struct hist_summary expect;
            hist_summary_of(&c, &expect);
            CHECK(same_summary(&h.summary, &expect));
            struct hist_chunk_header parsed;
            char why[160] = "";
            CHECK(
                hist_chunk_parse_header(chunk, HIST_CHUNK_HEADER_BYTES, &parsed, why, sizeof why));
            CHECK_EQ_INT(parsed.series_id, 77);
            CHECK_EQ_INT(parsed.type, all_types[t]);
            CHECK_EQ_INT(parsed.payload_bytes, h.payload_bytes);
            CHECK_EQ_INT(parsed.crc, h.crc);
            CHECK(same_summary(&parsed.summary, &expect));
            /* Decoding appends after what out holds; the strings outlive
             * the buffer. */
            hist_columns_clear(&out);
            uint32_t before = (uint32_t)rng_range(0, n < 3 ? n : 3);
            CHECK(hist_columns_append(&out, &c, 0, before));
            bool ok = hist_chunk_decode(chunk, len, &out, why, sizeof why);
            if (!ok) fprintf(stderr, "decode %s: %s\n", value_type_name(all_types[t]), why);
            CHECK(ok);
            hc_buf_free(&buf);
            CHECK_EQ_INT(out.count, before + c.count);
            bool same = out.count == before + c.count;
            for (uint32_t i = 0; same && i < c.count; i++)
                same = same_sample(&out, before + i, &c, i);
            CHECK(same);
        }
        hist_columns_free(&c);
        hist_columns_free(&out);
    }
}

/* Every single-byte corruption of a chunk is caught; out stays as it was. */
static void test_corruption(void)
{
    for (size_t t = 0; t < 5; t++) {
        struct hist_columns c, out, before;
        hist_columns_init(&c, all_types[t]);
        hist_columns_init(&out, all_types[t]);
        hist_columns_init(&before, all_types[t]);
        random_columns(&c, 300);
        CHECK(hist_columns_append(&out, &c, 0, 5));
        CHECK(hist_columns_append(&before, &c, 0, 5));
        struct hc_buf buf;
        hc_buf_init(&buf);
        CHECK(hist_chunk_encode(&buf, 1, &c, NULL));
        int missed = 0;
        for (size_t i = 0; i < buf.len; i++) {
            uint8_t flips[] = {0x01, 0x80, 0xFF};
            for (size_t f = 0; f < sizeof flips; f++) {
                buf.data[i] ^= flips[f];
                char why[160] = "";
                bool ok = hist_chunk_decode(buf.data, buf.len, &out, why, sizeof why);
                if (ok || why[0] == '\0') missed++;
                buf.data[i] ^= flips[f];
            }
        }
        CHECK_EQ_INT(missed, 0);
        CHECK(same_columns(&out, &before));
        /* Truncated anywhere: rejected. */
        int accepted = 0;
        for (size_t len = 0; len < buf.len; len++) {
            char why[160] = "";
            if (hist_chunk_decode(buf.data, len, &out, why, sizeof why) || why[0] == '\0')
                accepted++;
        }
        CHECK_EQ_INT(accepted, 0);
        CHECK(same_columns(&out, &before));
        /* The intact chunk still decodes, with trailing bytes after it. */
        CHECK(hc_buf_put(&buf, "trailing", 8));
        CHECK(hist_chunk_decode(buf.data, buf.len, &out, NULL, 0));
        CHECK_EQ_INT(out.count, 305);
        /* A chunk of another type is refused. */
        struct hist_columns other;
        hist_columns_init(&other, all_types[(t + 1) % 5]);
        char why[160] = "";
        CHECK(!hist_chunk_decode(buf.data, buf.len, &other, why, sizeof why));
        CHECK(strstr(why, "columns are") != NULL);
        CHECK_EQ_INT(other.count, 0);
        hist_columns_free(&other);
        hc_buf_free(&buf);
        hist_columns_free(&c);
        hist_columns_free(&out);
        hist_columns_free(&before);
    }
}

/* Writes v little-endian at p (n bytes). */
static void poke(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_header_checks(void)
{
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    push(&c, 100, QUALITY_GOOD, value_double(1));
    push(&c, 200, QUALITY_BAD, value_double(2));
    struct hc_buf buf;
    hc_buf_init(&buf);
    CHECK(hist_chunk_encode(&buf, 5, &c, NULL));
    /* The layout as documented. */
    CHECK(buf.data[0] == 'A' && buf.data[1] == 'H' && buf.data[2] == 'C' && buf.data[3] == 'K');
    CHECK(buf.data[4] == HIST_CHUNK_VERSION && buf.data[5] == 0 && buf.data[6] == VALUE_DOUBLE);
    CHECK(buf.data[8] == 5 && buf.data[12] == 2 && buf.data[24] == 1 && buf.data[32] == 1);
    struct {
        size_t offset;
        int bytes;
        uint64_t value;
        const char *reason;
    } cases[] = {
        {0, 4, 0x12345678, "magic"}, {4, 2, 2, "version"},  {6, 1, 9, "type"},
        {7, 1, 1, "reserved"},       {16, 4, 0, "payload"}, {16, 4, 0xFFFFFFFFu, "payload"},
        {12, 4, 0, "no samples"},    {12, 4, 3, "add up"},  {40, 8, 300, "t_min"},
        {112, 8, 50, "first/last"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t copy[HIST_CHUNK_HEADER_BYTES];
        memcpy(copy, buf.data, sizeof copy);
        poke(copy + cases[i].offset, cases[i].value, cases[i].bytes);
        char why[160] = "";
        struct hist_chunk_header h;
        CHECK(!hist_chunk_parse_header(copy, sizeof copy, &h, why, sizeof why));
        if (!strstr(why, cases[i].reason))
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, why, cases[i].reason);
        CHECK(strstr(why, cases[i].reason) != NULL);
    }
    char why[160] = "";
    CHECK(!hist_chunk_parse_header(buf.data, HIST_CHUNK_HEADER_BYTES - 1, NULL, why, sizeof why));
    CHECK(strstr(why, "truncated") != NULL);
    CHECK(hist_chunk_parse_header(buf.data, HIST_CHUNK_HEADER_BYTES, NULL, NULL, 0));
    /* A flipped payload bit is the checksum's to find. */
    buf.data[buf.len - 1] ^= 4;
    CHECK(!hist_chunk_decode(buf.data, buf.len, &c, why, sizeof why));
    CHECK(strstr(why, "checksum") != NULL);
    CHECK_EQ_INT(c.count, 2);
    hc_buf_free(&buf);
    /* Empty or unsorted columns are not encoded. */
    hc_buf_init(&buf);
    push(&c, 150, QUALITY_GOOD, value_double(3));
    CHECK(!hist_chunk_encode(&buf, 5, &c, NULL));
    CHECK_EQ_INT(buf.len, 0);
    hist_columns_clear(&c);
    CHECK(!hist_chunk_encode(&buf, 5, &c, NULL));
    hc_buf_free(&buf);
    hist_columns_free(&c);
}

/* Allocation failures, the nth one and all after it, for n = 1.. until the
 * operation succeeds: never a crash or a leak, the state left as it was. */
static void test_alloc_failures(void)
{
    for (size_t t = 0; t < 5; t++) {
        struct hist_columns c, out, copy;
        hist_columns_init(&c, all_types[t]);
        random_columns(&c, 500);
        /* Encode. */
        bool done = false;
        for (uint64_t n = 1; n < 1000 && !done; n++) {
            struct hc_buf buf;
            hc_buf_init(&buf);
            hist_alloc_fail_at(n, 1);
            done = hist_chunk_encode(&buf, 3, &c, NULL);
            hist_alloc_fail_at(0, 0);
            if (!done) CHECK_EQ_INT(buf.len, 0);
            hc_buf_free(&buf);
        }
        CHECK(done);
        /* Decode into columns holding a few samples already. */
        struct hc_buf buf;
        hc_buf_init(&buf);
        CHECK(hist_chunk_encode(&buf, 3, &c, NULL));
        done = false;
        for (uint64_t n = 1; n < 1000 && !done; n++) {
            hist_columns_init(&out, all_types[t]);
            hist_columns_init(&copy, all_types[t]);
            CHECK(hist_columns_append(&out, &c, 0, 3));
            CHECK(hist_columns_append(&copy, &c, 0, 3));
            char why[160] = "";
            hist_alloc_fail_at(n, 1);
            done = hist_chunk_decode(buf.data, buf.len, &out, why, sizeof why);
            hist_alloc_fail_at(0, 0);
            if (!done) {
                CHECK(same_columns(&out, &copy));
                CHECK(strstr(why, "out of memory") != NULL);
            } else {
                CHECK_EQ_INT(out.count, 503);
            }
            hist_columns_free(&out);
            hist_columns_free(&copy);
        }
        CHECK(done);
        hc_buf_free(&buf);
        /* Push, append and sort. */
        done = false;
        for (uint64_t n = 1; n < 100 && !done; n++) {
            hist_columns_init(&out, all_types[t]);
            hist_alloc_fail_at(n, 1);
            struct value v = hist_columns_value(&c, 0);
            bool pushed = hist_columns_push(&out, 1, QUALITY_GOOD, &v);
            bool appended = pushed && hist_columns_append(&out, &c, 0, c.count);
            hist_alloc_fail_at(0, 0);
            CHECK_EQ_INT(out.count, appended ? 1 + c.count : pushed ? 1 : 0);
            done = appended;
            hist_columns_free(&out);
        }
        CHECK(done);
        done = false;
        for (uint64_t n = 1; n < 100 && !done; n++) {
            hist_columns_init(&out, all_types[t]);
            hist_columns_init(&copy, all_types[t]);
            CHECK(hist_columns_append(&out, &c, 0, c.count));
            out.ts[0] = out.ts[c.count - 1] + 1; /* out of order */
            CHECK(hist_columns_append(&copy, &out, 0, out.count));
            hist_alloc_fail_at(n, 1);
            done = hist_columns_sort(&out);
            hist_alloc_fail_at(0, 0);
            if (!done) {
                CHECK(same_columns(&out, &copy));
            } else {
                CHECK(same_sample(&out, out.count - 1, &copy, 0));
                CHECK(same_sample(&out, 0, &copy, 1));
            }
            hist_columns_free(&out);
            hist_columns_free(&copy);
        }
        CHECK(done);
        hist_columns_free(&c);
    }
}

int main(void)
{
    test_columns();
    test_summaries();
    test_round_trip();
    test_corruption();
    test_header_checks();
    test_alloc_failures();
    return test_summary();
}
