/* Tests of the Modbus value codec (drivers/modbus/mb_codec.h): every wire
 * type in every byte/word order against known register vectors, encode/decode
 * round trips over random values, strings, bits, the conversion to tag values
 * (scaling, out-of-range), decoding failures and exception names. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "drivers/modbus/mb_codec.h"
#include "testlib.h"

/* The four orders, named by their 32-bit spelling. */
static const struct mb_order ABCD = {false, false};
static const struct mb_order CDAB = {true, false};
static const struct mb_order BADC = {false, true};
static const struct mb_order DCBA = {true, true};

static struct mb_point reg_point(enum mb_type t, struct mb_order o)
{
    struct mb_point p = {.area = MB_AREA_HOLDING, .type = t, .order = o, .bit = -1};
    return p;
}

static struct tag tag_of(enum value_type t, double gain, double offset)
{
    struct tag tag = {.type = t, .scale = {gain, offset}};
    return tag;
}

/* Decodes n registers as type t in order o; fails the test on error. */
static struct mb_raw decode(enum mb_type t, struct mb_order o, const uint16_t *regs, size_t n)
{
    struct mb_point p = reg_point(t, o);
    struct mb_raw raw;
    memset(&raw, 0, sizeof raw);
    char why[128] = "";
    bool ok = mb_decode_registers(&p, regs, n, &raw, NULL, 0, why, sizeof why);
    if (!ok) fprintf(stderr, "decode failed: %s\n", why);
    CHECK(ok);
    return raw;
}

/* Encodes raw as type t in order o and compares with the expected registers. */
static void check_encodes_to(enum mb_type t, struct mb_order o, struct mb_raw raw,
                             const uint16_t *expect, size_t n)
{
    struct mb_point p = reg_point(t, o);
    uint16_t regs[4] = {0};
    char why[128] = "";
    bool ok = mb_encode_registers(&p, &raw, regs, n, why, sizeof why);
    if (!ok) fprintf(stderr, "encode failed: %s\n", why);
    CHECK(ok);
    for (size_t i = 0; i < n; i++) {
        if (regs[i] != expect[i])
            fprintf(stderr, "%s order %d/%d register %zu: 0x%04X, expected 0x%04X\n",
                    mb_type_name(t), o.word_swap, o.byte_swap, i, regs[i], expect[i]);
        CHECK_EQ_INT(regs[i], expect[i]);
    }
}

static struct mb_raw raw_int(int64_t i)
{
    struct mb_raw r = {.kind = MB_RAW_INT};
    r.as.i = i;
    return r;
}
static struct mb_raw raw_uint(uint64_t u)
{
    struct mb_raw r = {.kind = MB_RAW_UINT};
    r.as.u = u;
    return r;
}
static struct mb_raw raw_float(double f)
{
    struct mb_raw r = {.kind = MB_RAW_FLOAT};
    r.as.f = f;
    return r;
}
static struct mb_raw raw_bool(bool b)
{
    struct mb_raw r = {.kind = MB_RAW_BOOL};
    r.as.b = b;
    return r;
}

struct vector {
    struct mb_order order;
    uint16_t regs[4];
};

static void test_float32_vectors(void)
{
    /* 123.456f is 0x42F6E979. */
    float f = 123.456f;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    CHECK_EQ_INT(bits, 0x42F6E979u);
    const struct vector v[] = {{ABCD, {0x42F6, 0xE979}},
                               {CDAB, {0xE979, 0x42F6}},
                               {BADC, {0xF642, 0x79E9}},
                               {DCBA, {0x79E9, 0xF642}}};
    for (size_t i = 0; i < 4; i++) {
        struct mb_raw r = decode(MB_TYPE_FLOAT32, v[i].order, v[i].regs, 2);
        CHECK_EQ_INT(r.kind, MB_RAW_FLOAT);
        CHECK(r.as.f == (double)f);
        check_encodes_to(MB_TYPE_FLOAT32, v[i].order, raw_float(f), v[i].regs, 2);
    }
}

static void test_float64_vectors(void)
{
    /* 123.456 as an IEEE 754 double is 0x405EDD2F1A9FBE77: bytes A..H are
     * 40 5E DD 2F 1A 9F BE 77. */
    double d = 123.456;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    CHECK(bits == UINT64_C(0x405EDD2F1A9FBE77));
    const struct vector v[] = {
        {ABCD, {0x405E, 0xDD2F, 0x1A9F, 0xBE77}}, /* ABCDEFGH */
        {CDAB, {0xBE77, 0x1A9F, 0xDD2F, 0x405E}}, /* GHEFCDAB */
        {BADC, {0x5E40, 0x2FDD, 0x9F1A, 0x77BE}}, /* BADCFEHG */
        {DCBA, {0x77BE, 0x9F1A, 0x2FDD, 0x5E40}}, /* HGFEDCBA */
    };
    for (size_t i = 0; i < 4; i++) {
        struct mb_raw r = decode(MB_TYPE_FLOAT64, v[i].order, v[i].regs, 4);
        CHECK(r.as.f == d);
        check_encodes_to(MB_TYPE_FLOAT64, v[i].order, raw_float(d), v[i].regs, 4);
    }
    /* -1.5 is 0xBFF8000000000000. */
    const uint16_t minus[4] = {0xBFF8, 0, 0, 0};
    CHECK(decode(MB_TYPE_FLOAT64, ABCD, minus, 4).as.f == -1.5);
}

static void test_int16_vectors(void)
{
    const uint16_t minus_two[] = {0xFFFE}, minus_two_swapped[] = {0xFEFF};
    const uint16_t most_negative[] = {0x8000}, u[] = {0x1234}, u_swapped[] = {0x3412};
    for (int w = 0; w < 2; w++) { /* word swap has no effect on one register */
        struct mb_order plain = {w != 0, false}, swapped = {w != 0, true};
        CHECK_EQ_INT(decode(MB_TYPE_INT16, plain, minus_two, 1).as.i, -2);
        CHECK_EQ_INT(decode(MB_TYPE_INT16, swapped, minus_two_swapped, 1).as.i, -2);
        CHECK_EQ_INT(decode(MB_TYPE_INT16, plain, most_negative, 1).as.i, -32768);
        CHECK_EQ_INT(decode(MB_TYPE_UINT16, plain, minus_two, 1).as.u, 65534);
        CHECK_EQ_INT(decode(MB_TYPE_UINT16, plain, u, 1).as.u, 0x1234);
        CHECK_EQ_INT(decode(MB_TYPE_UINT16, swapped, u_swapped, 1).as.u, 0x1234);
        check_encodes_to(MB_TYPE_INT16, plain, raw_int(-2), minus_two, 1);
        check_encodes_to(MB_TYPE_INT16, swapped, raw_int(-2), minus_two_swapped, 1);
        check_encodes_to(MB_TYPE_UINT16, swapped, raw_uint(0x1234), u_swapped, 1);
    }
    CHECK_EQ_INT(decode(MB_TYPE_INT16, ABCD, u, 1).kind, MB_RAW_INT);
    CHECK_EQ_INT(decode(MB_TYPE_UINT16, ABCD, u, 1).kind, MB_RAW_UINT);
}

static void test_int32_vectors(void)
{
    const struct vector minus_two[] = {{ABCD, {0xFFFF, 0xFFFE}},
                                       {CDAB, {0xFFFE, 0xFFFF}},
                                       {BADC, {0xFFFF, 0xFEFF}},
                                       {DCBA, {0xFEFF, 0xFFFF}}};
    const struct vector u[] = {{ABCD, {0x1234, 0x5678}},
                               {CDAB, {0x5678, 0x1234}},
                               {BADC, {0x3412, 0x7856}},
                               {DCBA, {0x7856, 0x3412}}};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(decode(MB_TYPE_INT32, minus_two[i].order, minus_two[i].regs, 2).as.i, -2);
        check_encodes_to(MB_TYPE_INT32, minus_two[i].order, raw_int(-2), minus_two[i].regs, 2);
        CHECK_EQ_INT(decode(MB_TYPE_UINT32, u[i].order, u[i].regs, 2).as.u, 0x12345678);
        CHECK_EQ_INT(decode(MB_TYPE_INT32, u[i].order, u[i].regs, 2).as.i, 0x12345678);
        check_encodes_to(MB_TYPE_UINT32, u[i].order, raw_uint(0x12345678), u[i].regs, 2);
    }
    const uint16_t min32[] = {0x8000, 0x0000};
    CHECK_EQ_INT(decode(MB_TYPE_INT32, ABCD, min32, 2).as.i, INT32_MIN);
    CHECK(decode(MB_TYPE_UINT32, ABCD, min32, 2).as.u == 0x80000000u);
}

static void test_int64_vectors(void)
{
    const struct vector u[] = {
        {ABCD, {0x0102, 0x0304, 0x0506, 0x0708}}, /* ABCDEFGH */
        {CDAB, {0x0708, 0x0506, 0x0304, 0x0102}}, /* GHEFCDAB */
        {BADC, {0x0201, 0x0403, 0x0605, 0x0807}}, /* BADCFEHG */
        {DCBA, {0x0807, 0x0605, 0x0403, 0x0201}}, /* HGFEDCBA */
    };
    const struct vector minus_two[] = {{ABCD, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}},
                                       {CDAB, {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}},
                                       {BADC, {0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF}},
                                       {DCBA, {0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF}}};
    const uint64_t value = UINT64_C(0x0102030405060708);
    for (size_t i = 0; i < 4; i++) {
        CHECK(decode(MB_TYPE_UINT64, u[i].order, u[i].regs, 4).as.u == value);
        CHECK(decode(MB_TYPE_INT64, u[i].order, u[i].regs, 4).as.i == (int64_t)value);
        check_encodes_to(MB_TYPE_UINT64, u[i].order, raw_uint(value), u[i].regs, 4);
        check_encodes_to(MB_TYPE_INT64, u[i].order, raw_int((int64_t)value), u[i].regs, 4);
        CHECK_EQ_INT(decode(MB_TYPE_INT64, minus_two[i].order, minus_two[i].regs, 4).as.i, -2);
        check_encodes_to(MB_TYPE_INT64, minus_two[i].order, raw_int(-2), minus_two[i].regs, 4);
    }
    const uint16_t min64[] = {0x8000, 0, 0, 0}, max64[] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    CHECK(decode(MB_TYPE_INT64, ABCD, min64, 4).as.i == INT64_MIN);
    CHECK(decode(MB_TYPE_UINT64, ABCD, max64, 4).as.u == UINT64_MAX);
    check_encodes_to(MB_TYPE_INT64, ABCD, raw_int(INT64_MIN), min64, 4);
    check_encodes_to(MB_TYPE_UINT64, ABCD, raw_uint(UINT64_MAX), max64, 4);
}

static void test_register_bools(void)
{
    struct mb_point p = reg_point(MB_TYPE_BOOL, ABCD);
    struct mb_raw raw;
    const uint16_t reg[] = {0x8005};
    const bool expect[16] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    for (int bit = 0; bit < 16; bit++) {
        p.bit = (int8_t)bit;
        CHECK(mb_decode_registers(&p, reg, 1, &raw, NULL, 0, NULL, 0));
        CHECK_EQ_INT(raw.kind, MB_RAW_BOOL);
        CHECK_EQ_INT(raw.as.b, expect[bit]);
    }
    /* With byte_swap, bit numbers count in the swapped (true) value. */
    const uint16_t swapped[] = {0x0100};
    p.order = BADC;
    p.bit = 0;
    CHECK(mb_decode_registers(&p, swapped, 1, &raw, NULL, 0, NULL, 0) && raw.as.b);
    p.bit = 8;
    CHECK(mb_decode_registers(&p, swapped, 1, &raw, NULL, 0, NULL, 0) && !raw.as.b);
    /* Bit -1: the whole register is non-zero. */
    const uint16_t zero[] = {0};
    p.order = ABCD;
    p.bit = -1;
    CHECK(mb_decode_registers(&p, reg, 1, &raw, NULL, 0, NULL, 0) && raw.as.b);
    CHECK(mb_decode_registers(&p, zero, 1, &raw, NULL, 0, NULL, 0) && !raw.as.b);

    /* Encoding a bit keeps the register's other bits. */
    uint16_t word[1] = {0x8005};
    p.bit = 1;
    struct mb_raw on = raw_bool(true), off = raw_bool(false);
    CHECK(mb_encode_registers(&p, &on, word, 1, NULL, 0));
    CHECK_EQ_INT(word[0], 0x8007);
    p.bit = 15;
    CHECK(mb_encode_registers(&p, &off, word, 1, NULL, 0));
    CHECK_EQ_INT(word[0], 0x0007);
    p.order = BADC;
    p.bit = 8;
    word[0] = 0;
    CHECK(mb_encode_registers(&p, &on, word, 1, NULL, 0));
    CHECK_EQ_INT(word[0], 0x0001);
    p.bit = -1;
    p.order = ABCD;
    CHECK(mb_encode_registers(&p, &on, word, 1, NULL, 0));
    CHECK_EQ_INT(word[0], 1);
}

static void test_bits(void)
{
    struct mb_point coil = {.area = MB_AREA_COIL, .type = MB_TYPE_BOOL, .bit = -1};
    struct mb_point input = coil;
    input.area = MB_AREA_DISCRETE_INPUT;
    const uint8_t bits[] = {0, 1, 7};
    struct mb_raw raw;
    CHECK(mb_decode_bits(&coil, bits, 1, &raw, NULL, 0) && raw.kind == MB_RAW_BOOL && !raw.as.b);
    CHECK(mb_decode_bits(&coil, bits + 1, 1, &raw, NULL, 0) && raw.as.b);
    CHECK(mb_decode_bits(&input, bits + 2, 1, &raw, NULL, 0) && raw.as.b);
    char why[128] = "";
    CHECK(!mb_decode_bits(&coil, bits, 0, &raw, why, sizeof why));
    CHECK(why[0] != '\0');
    struct mb_point holding = reg_point(MB_TYPE_BOOL, ABCD);
    CHECK(!mb_decode_bits(&holding, bits, 1, &raw, NULL, 0));
    uint16_t regs[1] = {0};
    CHECK(!mb_decode_registers(&coil, regs, 1, &raw, NULL, 0, NULL, 0));

    uint8_t out[1] = {9};
    struct mb_raw on = raw_bool(true), off = raw_bool(false);
    CHECK(mb_encode_bits(&coil, &on, out, 1, NULL, 0) && out[0] == 1);
    CHECK(mb_encode_bits(&coil, &off, out, 1, NULL, 0) && out[0] == 0);
    CHECK(!mb_encode_bits(&holding, &on, out, 1, NULL, 0));
}

/* Encodes s into a string point of len registers in order o and decodes it. */
static bool string_round_trip(const char *s, uint16_t len, struct mb_order o, char *text,
                              size_t text_len, struct mb_raw *raw)
{
    struct mb_point p = reg_point(MB_TYPE_STRING, o);
    p.length = len;
    struct mb_raw in = {.kind = MB_RAW_STRING};
    in.as.str.ptr = s;
    in.as.str.len = (uint32_t)strlen(s);
    uint16_t regs[MB_STRING_MAX_REGISTERS];
    if (!mb_encode_registers(&p, &in, regs, len, NULL, 0)) return false;
    return mb_decode_registers(&p, regs, len, raw, text, text_len, NULL, 0);
}

/* Decodes a string point over the given registers; returns success. */
static bool decode_string(const uint16_t *regs, uint16_t len, struct mb_order o, char *text,
                          size_t text_len, char *why, size_t why_len)
{
    struct mb_point p = reg_point(MB_TYPE_STRING, o);
    p.length = len;
    struct mb_raw raw;
    bool ok = mb_decode_registers(&p, regs, len, &raw, text, text_len, why, why_len);
    if (ok) {
        CHECK(raw.kind == MB_RAW_STRING && raw.as.str.ptr == text);
        CHECK_EQ_INT(raw.as.str.len, strlen(text));
    }
    return ok;
}

static void test_strings(void)
{
    char text[MB_STRING_MAX_BYTES + 1];
    char why[128];
    const uint16_t hello[] = {0x4845, 0x4C4C, 0x4F00}; /* "HELLO\0" */
    CHECK(decode_string(hello, 3, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "HELLO");
    CHECK(decode_string(hello, 3, CDAB, text, sizeof text, NULL, 0)); /* word swap: no effect */
    CHECK_STR(text, "HELLO");
    const uint16_t hello_swapped[] = {0x4548, 0x4C4C, 0x004F};
    CHECK(decode_string(hello_swapped, 3, BADC, text, sizeof text, NULL, 0));
    CHECK_STR(text, "HELLO");
    const uint16_t padded[] = {0x2041, 0x4220, 0x2020, 0x2020}; /* " AB     " */
    CHECK(decode_string(padded, 4, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, " AB");
    const uint16_t nul_inside[] = {0x4100, 0x4242}; /* "A\0BB": stops at the NUL */
    CHECK(decode_string(nul_inside, 2, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "A");
    const uint16_t empty[] = {0x0000, 0x4141};
    CHECK(decode_string(empty, 2, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "");
    const uint16_t spaces[] = {0x2020};
    CHECK(decode_string(spaces, 1, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "");
    const uint16_t full[] = {0x4142, 0x4344}; /* no terminator at all */
    CHECK(decode_string(full, 2, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "ABCD");
    const uint16_t utf8[] = {0xC3A9, 0xE282, 0xAC00}; /* "é€" */
    CHECK(decode_string(utf8, 3, ABCD, text, sizeof text, NULL, 0));
    CHECK_STR(text, "\xC3\xA9\xE2\x82\xAC");
    const uint16_t four_byte[] = {0xF09F, 0x988A}; /* U+1F60A */
    CHECK(decode_string(four_byte, 2, ABCD, text, sizeof text, NULL, 0));

    /* Invalid UTF-8: a stray 0xFF, a lone continuation byte, an overlong
     * NUL, a surrogate, above U+10FFFF, and a sequence cut by the end. */
    const uint16_t bad[][2] = {{0x41FF, 0x4100}, {0x8041, 0x0000}, {0xC080, 0x0000},
                               {0xEDA0, 0x8000}, {0xF490, 0x8080}, {0x41E2, 0x8200}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK(!decode_string(bad[i], 2, ABCD, text, sizeof text, why, sizeof why));
        CHECK(strstr(why, "UTF-8") != NULL);
    }

    /* The text buffer must hold the string and its NUL. */
    CHECK(!decode_string(full, 2, ABCD, text, 4, why, sizeof why));
    CHECK(decode_string(full, 2, ABCD, text, 5, NULL, 0));
    CHECK(!decode_string(full, 2, ABCD, NULL, 0, NULL, 0));

    /* Round trips, including the longest string. */
    struct mb_raw raw;
    CHECK(string_round_trip("PUMP-01", 4, ABCD, text, sizeof text, &raw));
    CHECK_STR(text, "PUMP-01");
    CHECK(string_round_trip("PUMP-01", 4, BADC, text, sizeof text, &raw));
    CHECK_STR(text, "PUMP-01");
    char longest[MB_STRING_MAX_BYTES + 1];
    for (int i = 0; i < MB_STRING_MAX_BYTES; i++)
        longest[i] = (char)('a' + i % 26);
    longest[MB_STRING_MAX_BYTES] = '\0';
    CHECK(string_round_trip(longest, MB_STRING_MAX_REGISTERS, DCBA, text, sizeof text, &raw));
    CHECK_STR(text, longest);
    CHECK_EQ_INT(raw.as.str.len, MB_STRING_MAX_BYTES);
    CHECK(!string_round_trip("TOO LONG", 3, ABCD, text, sizeof text, &raw));
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

static unsigned type_registers(enum mb_type t)
{
    struct mb_point p = reg_point(t, ABCD);
    return mb_point_width(&p);
}

/* Any register pattern decodes and re-encodes to the same registers (for
 * floats: except NaNs, whose payload may not survive). */
static void test_register_round_trips(void)
{
    const enum mb_type types[] = {MB_TYPE_INT16, MB_TYPE_UINT16, MB_TYPE_INT32,   MB_TYPE_UINT32,
                                  MB_TYPE_INT64, MB_TYPE_UINT64, MB_TYPE_FLOAT32, MB_TYPE_FLOAT64};
    const struct mb_order orders[] = {ABCD, CDAB, BADC, DCBA};
    int mismatches = 0;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (size_t o = 0; o < 4; o++) {
            struct mb_point p = reg_point(types[t], orders[o]);
            unsigned n = type_registers(types[t]);
            for (int k = 0; k < 20000; k++) {
                uint16_t regs[4], again[4];
                uint64_t r = rng_next();
                for (unsigned i = 0; i < 4; i++)
                    regs[i] = (uint16_t)(r >> (16 * i));
                struct mb_raw raw;
                if (!mb_decode_registers(&p, regs, n, &raw, NULL, 0, NULL, 0)) {
                    mismatches++;
                    continue;
                }
                if (raw.kind == MB_RAW_FLOAT && isnan(raw.as.f)) continue;
                if (!mb_encode_registers(&p, &raw, again, n, NULL, 0) ||
                    memcmp(regs, again, n * sizeof regs[0]) != 0)
                    mismatches++;
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Random values encode and decode back to themselves, in every order. */
static void test_value_round_trips(void)
{
    const struct mb_order orders[] = {ABCD, CDAB, BADC, DCBA};
    int mismatches = 0;
    for (size_t o = 0; o < 4; o++) {
        for (int k = 0; k < 20000; k++) {
            uint64_t r = rng_next();
            uint16_t regs[4];
            struct mb_raw back;
            struct {
                enum mb_type type;
                struct mb_raw raw;
            } cases[] = {
                {MB_TYPE_INT16, raw_int((int16_t)(uint16_t)r)},
                {MB_TYPE_UINT16, raw_uint((uint16_t)r)},
                {MB_TYPE_INT32, raw_int((int32_t)(uint32_t)r)},
                {MB_TYPE_UINT32, raw_uint((uint32_t)r)},
                {MB_TYPE_INT64, raw_int((int64_t)r)},
                {MB_TYPE_UINT64, raw_uint(r)},
                {MB_TYPE_FLOAT32, raw_float((float)((double)(int64_t)r / 1e9))},
                {MB_TYPE_FLOAT64, raw_float((double)(int64_t)r / 3.0e7)},
            };
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                struct mb_point p = reg_point(cases[c].type, orders[o]);
                unsigned n = type_registers(cases[c].type);
                bool ok = mb_encode_registers(&p, &cases[c].raw, regs, n, NULL, 0) &&
                          mb_decode_registers(&p, regs, n, &back, NULL, 0, NULL, 0) &&
                          back.kind == cases[c].raw.kind &&
                          memcmp(&back.as, &cases[c].raw.as, sizeof back.as.u) == 0;
                if (!ok) mismatches++;
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    /* Special floats survive in both widths. */
    const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, FLT_MIN, FLT_MAX, -FLT_MAX};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        for (int wide = 0; wide < 2; wide++) {
            enum mb_type t = wide ? MB_TYPE_FLOAT64 : MB_TYPE_FLOAT32;
            struct mb_point p = reg_point(t, DCBA);
            uint16_t regs[4];
            struct mb_raw in = raw_float(specials[i]), back;
            CHECK(mb_encode_registers(&p, &in, regs, 4, NULL, 0));
            CHECK(mb_decode_registers(&p, regs, 4, &back, NULL, 0, NULL, 0));
            CHECK(memcmp(&back.as.f, &specials[i], sizeof(double)) == 0);
        }
    }
    struct mb_point p32 = reg_point(MB_TYPE_FLOAT32, ABCD);
    uint16_t regs[2];
    struct mb_raw nan_raw = raw_float(NAN), back;
    CHECK(mb_encode_registers(&p32, &nan_raw, regs, 2, NULL, 0));
    CHECK(mb_decode_registers(&p32, regs, 2, &back, NULL, 0, NULL, 0) && isnan(back.as.f));
}

static void test_encode_errors(void)
{
    uint16_t regs[4];
    char why[128];
    struct mb_point i16 = reg_point(MB_TYPE_INT16, ABCD), u16 = reg_point(MB_TYPE_UINT16, ABCD);
    struct mb_point u64 = reg_point(MB_TYPE_UINT64, ABCD), i64 = reg_point(MB_TYPE_INT64, ABCD);
    struct mb_point f32 = reg_point(MB_TYPE_FLOAT32, ABCD);
    struct mb_raw r;
    r = raw_int(32767);
    CHECK(mb_encode_registers(&i16, &r, regs, 1, NULL, 0));
    r = raw_int(32768);
    CHECK(!mb_encode_registers(&i16, &r, regs, 1, why, sizeof why));
    CHECK(strstr(why, "int16") != NULL);
    r = raw_int(-32769);
    CHECK(!mb_encode_registers(&i16, &r, regs, 1, NULL, 0));
    r = raw_uint(65535);
    CHECK(mb_encode_registers(&u16, &r, regs, 1, NULL, 0));
    r = raw_uint(65536);
    CHECK(!mb_encode_registers(&u16, &r, regs, 1, NULL, 0));
    r = raw_int(-1);
    CHECK(!mb_encode_registers(&u16, &r, regs, 1, NULL, 0));
    CHECK(!mb_encode_registers(&u64, &r, regs, 4, NULL, 0));
    r = raw_uint(UINT64_MAX);
    CHECK(!mb_encode_registers(&i64, &r, regs, 4, NULL, 0));
    r = raw_float(1.5);
    CHECK(!mb_encode_registers(&i16, &r, regs, 1, NULL, 0)); /* integers only */
    r = raw_float(1e39);
    CHECK(!mb_encode_registers(&f32, &r, regs, 2, why, sizeof why));
    r = raw_int(7);
    CHECK(mb_encode_registers(&f32, &r, regs, 2, NULL, 0)); /* an integer for a float: fine */
    CHECK(!mb_encode_registers(&f32, &r, regs, 1, why, sizeof why)); /* too few registers */
    CHECK(strstr(why, "2 registers") != NULL);
    struct mb_raw s = {.kind = MB_RAW_STRING};
    s.as.str.ptr = "x";
    s.as.str.len = 1;
    CHECK(!mb_encode_registers(&i16, &s, regs, 1, NULL, 0));
}

static void test_decode_errors(void)
{
    uint16_t regs[4] = {0};
    struct mb_raw raw;
    char why[128] = "";
    struct mb_point p = reg_point(MB_TYPE_FLOAT64, ABCD);
    CHECK(!mb_decode_registers(&p, regs, 3, &raw, NULL, 0, why, sizeof why));
    CHECK(strstr(why, "4 registers") != NULL);
    CHECK(!mb_decode_registers(&p, NULL, 4, &raw, NULL, 0, NULL, 0));

    /* Points the codec cannot decode. */
    struct mb_point bad[6];
    bad[0] = (struct mb_point){.area = MB_AREA_COIL, .type = MB_TYPE_INT16, .bit = -1};
    bad[1] = reg_point(MB_TYPE_BOOL, ABCD);
    bad[1].bit = 16;
    bad[2] = reg_point(MB_TYPE_INT16, ABCD);
    bad[2].bit = 3;
    bad[3] = reg_point(MB_TYPE_STRING, ABCD);
    bad[3].length = 0;
    bad[4] = reg_point(MB_TYPE_STRING, ABCD);
    bad[4].length = MB_STRING_MAX_REGISTERS + 1;
    bad[5] = reg_point((enum mb_type)42, ABCD);
    for (size_t i = 0; i < 6; i++) {
        why[0] = '\0';
        CHECK(!mb_point_decodable(&bad[i], why, sizeof why));
        CHECK(why[0] != '\0');
        CHECK(!mb_decode_registers(&bad[i], regs, 4, &raw, NULL, 0, NULL, 0));
    }
    struct mb_point coil_bit = {.area = MB_AREA_COIL, .type = MB_TYPE_BOOL, .bit = 2};
    CHECK(!mb_point_decodable(&coil_bit, NULL, 0));
    struct mb_point ok = reg_point(MB_TYPE_BOOL, ABCD);
    ok.bit = 15;
    CHECK(mb_point_decodable(&ok, NULL, 0));
}

static void test_to_value_identity(void)
{
    struct value v;
    struct tag t_i = tag_of(VALUE_INT64, 1, 0), t_u = tag_of(VALUE_UINT64, 1, 0);
    struct tag t_d = tag_of(VALUE_DOUBLE, 1, 0), t_b = tag_of(VALUE_BOOL, 1, 0);
    struct mb_raw r = raw_int(-7);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_INT64 && v.as.i64 == -7);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_d, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_DOUBLE && v.as.f64 == -7.0);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_b, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_BOOL && v.as.b);
    r = raw_uint(UINT64_C(18446744073709551000));
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_u, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_UINT64 && v.as.u64 == UINT64_C(18446744073709551000));
    r = raw_bool(true);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    CHECK(v.as.i64 == 1);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_d, &v), QUALITY_GOOD);
    CHECK(v.as.f64 == 1.0);
    r = raw_float(2.5);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    CHECK_EQ_INT(v.as.i64, 3); /* halves round away from zero */
    r = raw_float(-2.5);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    CHECK_EQ_INT(v.as.i64, -3);
    r = raw_float(0.25);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_b, &v), QUALITY_GOOD);
    CHECK(v.as.b);
    r = raw_float(123.456f);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_d, &v), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, 123.456, 1e-4);
}

static void test_to_value_scaled(void)
{
    struct value v;
    struct tag t = tag_of(VALUE_DOUBLE, 0.1, -10);
    struct mb_raw r = raw_int(1234);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_DOUBLE);
    CHECK_EQ_DBL(v.as.f64, 113.4, 1e-9);
    r = raw_uint(65535);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t, &v), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, 6543.5, 1e-9);
    struct tag gain_only = tag_of(VALUE_DOUBLE, 2, 0), offset_only = tag_of(VALUE_DOUBLE, 1, 5);
    r = raw_int(-4);
    CHECK_EQ_INT(mb_raw_to_value(&r, &gain_only, &v), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, -8, 0);
    CHECK_EQ_INT(mb_raw_to_value(&r, &offset_only, &v), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, 1, 0);
    /* A scaled value into an integer tag is rounded to nearest. */
    struct tag t_i = tag_of(VALUE_INT64, 0.5, 0);
    r = raw_int(5);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_INT64 && v.as.i64 == 3);
    /* Scaling that overflows a double. */
    struct tag huge = tag_of(VALUE_DOUBLE, 1e308, 0);
    r = raw_uint(UINT64_MAX);
    CHECK_EQ_INT(mb_raw_to_value(&r, &huge, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(isinf(v.as.f64));
}

static void test_to_value_out_of_range(void)
{
    struct value v;
    struct tag t_i = tag_of(VALUE_INT64, 1, 0), t_u = tag_of(VALUE_UINT64, 1, 0);
    struct tag t_d = tag_of(VALUE_DOUBLE, 1, 0), t_b = tag_of(VALUE_BOOL, 1, 0);
    struct mb_raw r = raw_uint((uint64_t)INT64_MAX + 1);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.type == VALUE_INT64 && v.as.i64 == INT64_MAX);
    r = raw_uint((uint64_t)INT64_MAX);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_GOOD);
    r = raw_int(-5);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_u, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.type == VALUE_UINT64 && v.as.u64 == 0);
    r = raw_float(NAN);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_d, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.type == VALUE_DOUBLE && isnan(v.as.f64)); /* kept */
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK_EQ_INT(v.as.i64, 0);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_b, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(!v.as.b);
    r = raw_float(-INFINITY);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_d, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(isinf(v.as.f64) && v.as.f64 < 0);
    r = raw_float(1e30);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.as.i64 == INT64_MAX);
    r = raw_float(-1e30);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_i, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.as.i64 == INT64_MIN);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_u, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.as.u64 == 0);
    r = raw_float(1e30);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_u, &v), QUALITY_BAD_OUT_OF_RANGE);
    CHECK(v.as.u64 == UINT64_MAX);
    r = raw_float(-0.4); /* rounds to zero: in range */
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_u, &v), QUALITY_GOOD);
    CHECK(v.as.u64 == 0);

    /* Strings only go to string tags, and vice versa. */
    struct tag t_s = tag_of(VALUE_STRING, 1, 0);
    struct mb_raw s = {.kind = MB_RAW_STRING};
    s.as.str.ptr = "abc";
    s.as.str.len = 3;
    CHECK_EQ_INT(mb_raw_to_value(&s, &t_s, &v), QUALITY_GOOD);
    CHECK(v.type == VALUE_STRING && v.as.str.len == 3 && v.as.str.ptr == s.as.str.ptr);
    CHECK_EQ_INT(mb_raw_to_value(&s, &t_d, &v), QUALITY_BAD_CONFIGURATION_ERROR);
    CHECK(v.type == VALUE_DOUBLE && v.as.f64 == 0);
    r = raw_int(1);
    CHECK_EQ_INT(mb_raw_to_value(&r, &t_s, &v), QUALITY_BAD_CONFIGURATION_ERROR);
    CHECK(v.type == VALUE_STRING && v.as.str.len == 0 && v.as.str.ptr != NULL);
}

/* mb_decode_point, the driver's call, at an offset inside a request buffer. */
static void test_decode_point(void)
{
    uint16_t regs[16] = {0};
    uint8_t bits[8] = {0, 0, 0, 1, 0, 0, 0, 0};
    char text[MB_STRING_MAX_BYTES + 1];
    struct value v;
    struct tag t_d = tag_of(VALUE_DOUBLE, 1, 0), t_scaled = tag_of(VALUE_DOUBLE, 0.01, 0);
    struct tag t_b = tag_of(VALUE_BOOL, 1, 0), t_s = tag_of(VALUE_STRING, 1, 0);
    regs[5] = 0xE979; /* float32 123.456 in CDAB at offset 5 */
    regs[6] = 0x42F6;
    struct mb_point f = reg_point(MB_TYPE_FLOAT32, CDAB);
    CHECK_EQ_INT(mb_decode_point(&f, &t_d, regs, NULL, 5, &v, NULL, 0), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, 123.456, 1e-4);
    regs[2] = 0xFF38; /* int16 -200, scaled by 0.01 */
    struct mb_point i = reg_point(MB_TYPE_INT16, ABCD);
    CHECK_EQ_INT(mb_decode_point(&i, &t_scaled, regs, NULL, 2, &v, NULL, 0), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, -2.0, 1e-12);
    struct mb_point coil = {.area = MB_AREA_COIL, .type = MB_TYPE_BOOL, .bit = -1};
    CHECK_EQ_INT(mb_decode_point(&coil, &t_b, NULL, bits, 3, &v, NULL, 0), QUALITY_GOOD);
    CHECK(v.type == VALUE_BOOL && v.as.b);
    CHECK_EQ_INT(mb_decode_point(&coil, &t_b, NULL, bits, 4, &v, NULL, 0), QUALITY_GOOD);
    CHECK(!v.as.b);
    regs[10] = 0x4F4B; /* "OK" */
    struct mb_point s = reg_point(MB_TYPE_STRING, ABCD);
    s.length = 2;
    CHECK_EQ_INT(mb_decode_point(&s, &t_s, regs, NULL, 10, &v, text, sizeof text), QUALITY_GOOD);
    CHECK(v.type == VALUE_STRING && v.as.str.len == 2 && memcmp(v.as.str.ptr, "OK", 2) == 0);
    regs[10] = 0xFFFE; /* not UTF-8 */
    CHECK_EQ_INT(mb_decode_point(&s, &t_s, regs, NULL, 10, &v, text, sizeof text),
                 QUALITY_BAD_DECODING_ERROR);
    CHECK(v.type == VALUE_STRING && v.as.str.len == 0 && v.as.str.ptr != NULL);
    CHECK_EQ_INT(mb_decode_point(&f, &t_d, NULL, bits, 0, &v, NULL, 0), QUALITY_BAD_DECODING_ERROR);
    CHECK(v.type == VALUE_DOUBLE);
    struct mb_point bad = reg_point(MB_TYPE_BOOL, ABCD);
    bad.bit = 20;
    CHECK_EQ_INT(mb_decode_point(&bad, &t_b, regs, NULL, 0, &v, NULL, 0),
                 QUALITY_BAD_DECODING_ERROR);
}

/* The simulator's direction: tag value -> raw -> registers -> tag value. */
static void test_value_to_registers(void)
{
    char why[128];
    struct mb_raw raw, back;
    uint16_t regs[4];
    struct value v;
    struct tag t = tag_of(VALUE_DOUBLE, 0.1, -10);
    struct mb_point i16 = reg_point(MB_TYPE_INT16, BADC);
    struct value eng = value_double(113.4);
    CHECK(mb_raw_from_value(&i16, &t, &eng, &raw, why, sizeof why));
    CHECK(raw.kind == MB_RAW_UINT && raw.as.u == 1234);
    CHECK(mb_encode_registers(&i16, &raw, regs, 1, NULL, 0));
    CHECK_EQ_INT(regs[0], 0xD204);
    CHECK(mb_decode_registers(&i16, regs, 1, &back, NULL, 0, NULL, 0));
    CHECK_EQ_INT(mb_raw_to_value(&back, &t, &v), QUALITY_GOOD);
    CHECK_EQ_DBL(v.as.f64, 113.4, 1e-9);
    struct value low = value_double(-20.0); /* raw -100 */
    CHECK(mb_raw_from_value(&i16, &t, &low, &raw, NULL, 0));
    CHECK(raw.kind == MB_RAW_INT && raw.as.i == -100);

    struct tag ident_u = tag_of(VALUE_UINT64, 1, 0);
    struct mb_point u64 = reg_point(MB_TYPE_UINT64, DCBA);
    struct value big = value_uint64(UINT64_MAX - 1);
    CHECK(mb_raw_from_value(&u64, &ident_u, &big, &raw, NULL, 0));
    CHECK(raw.kind == MB_RAW_UINT && raw.as.u == UINT64_MAX - 1); /* exact, not via double */
    struct tag ident_b = tag_of(VALUE_BOOL, 1, 0);
    struct mb_point coil = {.area = MB_AREA_COIL, .type = MB_TYPE_BOOL, .bit = -1};
    struct value on = value_bool(true);
    CHECK(mb_raw_from_value(&coil, &ident_b, &on, &raw, NULL, 0));
    CHECK(raw.kind == MB_RAW_BOOL && raw.as.b);
    struct value nan = value_double(NAN);
    struct tag ident_d = tag_of(VALUE_DOUBLE, 1, 0);
    CHECK(!mb_raw_from_value(&i16, &ident_d, &nan, &raw, why, sizeof why));
    struct mb_point f32 = reg_point(MB_TYPE_FLOAT32, ABCD);
    CHECK(mb_raw_from_value(&f32, &ident_d, &nan, &raw, NULL, 0));
    struct value str = {.type = VALUE_STRING};
    str.as.str.ptr = "x";
    str.as.str.len = 1;
    CHECK(!mb_raw_from_value(&i16, &ident_d, &str, &raw, NULL, 0));
    struct tag zero_gain = tag_of(VALUE_DOUBLE, 0, 1);
    CHECK(!mb_raw_from_value(&i16, &zero_gain, &eng, &raw, NULL, 0));
}

static void test_exception_names(void)
{
    CHECK_STR(mb_exception_name(1), "IllegalFunction");
    CHECK_STR(mb_exception_name(2), "IllegalDataAddress");
    CHECK_STR(mb_exception_name(3), "IllegalDataValue");
    CHECK_STR(mb_exception_name(4), "ServerDeviceFailure");
    CHECK_STR(mb_exception_name(5), "Acknowledge");
    CHECK_STR(mb_exception_name(6), "ServerDeviceBusy");
    CHECK_STR(mb_exception_name(8), "MemoryParityError");
    CHECK_STR(mb_exception_name(10), "GatewayPathUnavailable");
    CHECK_STR(mb_exception_name(11), "GatewayTargetDeviceFailedToRespond");
    CHECK_STR(mb_exception_name(7), "Exception7");
    CHECK_STR(mb_exception_name(0), "Exception0");
    CHECK_STR(mb_exception_name(255), "Exception255");
    CHECK_STR(mb_exception_name(-1), "Exception-1");
}

int main(void)
{
    test_float32_vectors();
    test_float64_vectors();
    test_int16_vectors();
    test_int32_vectors();
    test_int64_vectors();
    test_register_bools();
    test_bits();
    test_strings();
    test_register_round_trips();
    test_value_round_trips();
    test_encode_errors();
    test_decode_errors();
    test_to_value_identity();
    test_to_value_scaled();
    test_to_value_out_of_range();
    test_decode_point();
    test_value_to_registers();
    test_exception_names();
    return test_summary();
}
