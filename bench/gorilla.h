/* Gorilla compression (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory
 * Time Series Database", VLDB 2015, section 4.1), written for the historian
 * benchmark as the classic baseline. Header-only: the benchmark and its unit
 * test include it.
 *
 * As the paper describes it, a series is cut into blocks aligned to two-hour
 * windows. Each block starts with its window start (64 bits), then:
 *  - timestamps (whole seconds): the first as a 14-bit delta from the window
 *    start, then delta-of-delta D coded as '0' (D = 0), '10' + 7 bits
 *    (-63..64), '110' + 9 bits (-255..256), '1110' + 12 bits (-2047..2048),
 *    else '1111' + 32 bits;
 *  - values (doubles): the first raw (64 bits), then the XOR with the
 *    previous value coded as '0' (XOR = 0), or '1' then either '0' + the
 *    meaningful bits inside the previous block of meaningful bits (when they
 *    fit in it), or '1' + 5 bits of leading zeros + 6 bits of meaningful
 *    length (64 written as 0) + the meaningful bits.
 * Timestamp and value of each point are interleaved in one bit stream, and
 * a block is rounded up to whole bytes. The paper keeps the number of points
 * outside the stream; so does this (the caller passes n to the decoder).
 * Nothing else is stored: no quality, no index, so the baseline is, if
 * anything, favoured. */
#ifndef AIRLOCK_BENCH_GORILLA_H
#define AIRLOCK_BENCH_GORILLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GORILLA_WINDOW_S 7200 /* block alignment: two hours */

/* A growable bit stream, most significant bit first. */
struct gorilla_bits {
    uint8_t *data;
    size_t cap_bytes;
    uint64_t len_bits;
    bool oom;
};

static inline void gorilla_bits_init(struct gorilla_bits *b)
{
    memset(b, 0, sizeof *b);
}

static inline void gorilla_bits_free(struct gorilla_bits *b)
{
    free(b->data);
    gorilla_bits_init(b);
}

/* Appends the low count bits of v (count 0..64). Sets oom on failure. */
static inline void gorilla_put(struct gorilla_bits *b, uint64_t v, unsigned count)
{
    if (count == 0 || b->oom) return;
    size_t need = (size_t)((b->len_bits + count + 7) / 8) + 8;
    if (need > b->cap_bytes) {
        size_t cap = b->cap_bytes ? b->cap_bytes * 2 : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        memset(p + b->cap_bytes, 0, cap - b->cap_bytes);
        b->data = p;
        b->cap_bytes = cap;
    }
    for (unsigned i = count; i-- > 0;) {
        if ((v >> i) & 1u) b->data[b->len_bits >> 3] |= (uint8_t)(0x80u >> (b->len_bits & 7));
        b->len_bits++;
    }
}

/* Pads to a whole byte (the end of a block). */
static inline void gorilla_align(struct gorilla_bits *b)
{
    unsigned rem = (unsigned)(b->len_bits & 7);
    if (rem) gorilla_put(b, 0, 8 - rem);
}

/* A reader over a bit stream; reading past the end sets overrun. */
struct gorilla_reader {
    const uint8_t *data;
    uint64_t len_bits;
    uint64_t pos;
    bool overrun;
};

static inline uint64_t gorilla_get(struct gorilla_reader *r, unsigned count)
{
    uint64_t v = 0;
    if (r->pos + count > r->len_bits) {
        r->overrun = true;
        return 0;
    }
    for (unsigned i = 0; i < count; i++, r->pos++)
        v = (v << 1) | ((r->data[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
    return v;
}

static inline unsigned gorilla_clz64(uint64_t v)
{
    return v ? (unsigned)__builtin_clzll(v) : 64;
}

static inline unsigned gorilla_ctz64(uint64_t v)
{
    return v ? (unsigned)__builtin_ctzll(v) : 64;
}

static inline uint64_t gorilla_f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double gorilla_bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static inline int64_t gorilla_window_start(int64_t t_s)
{
    int64_t w = t_s / GORILLA_WINDOW_S;
    if (t_s % GORILLA_WINDOW_S < 0) w--;
    return w * GORILLA_WINDOW_S;
}

/* Appends one block for points [0, n) (n >= 1, times in seconds, strictly
 * increasing, all in the window of t_s[0]). */
static inline void gorilla_encode_block(struct gorilla_bits *b, const int64_t *t_s, const double *v,
                                        size_t n)
{
    int64_t window = gorilla_window_start(t_s[0]);
    gorilla_put(b, (uint64_t)window, 64);
    gorilla_put(b, (uint64_t)(t_s[0] - window), 14);
    gorilla_put(b, gorilla_f64_bits(v[0]), 64);
    int64_t prev_t = t_s[0], prev_delta = t_s[0] - window;
    uint64_t prev_v = gorilla_f64_bits(v[0]);
    unsigned prev_lead = 65, prev_trail = 0; /* 65: no window of meaningful bits yet */
    for (size_t i = 1; i < n; i++) {
        int64_t delta = t_s[i] - prev_t, dod = delta - prev_delta;
        if (dod == 0)
            gorilla_put(b, 0, 1);
        else if (dod >= -63 && dod <= 64)
            gorilla_put(b, (2u << 7) | ((uint64_t)dod & 0x7F), 9);
        else if (dod >= -255 && dod <= 256)
            gorilla_put(b, (6u << 9) | ((uint64_t)dod & 0x1FF), 12);
        else if (dod >= -2047 && dod <= 2048)
            gorilla_put(b, (14u << 12) | ((uint64_t)dod & 0xFFF), 16);
        else {
            gorilla_put(b, 15, 4);
            gorilla_put(b, (uint64_t)dod & 0xFFFFFFFFu, 32);
        }
        prev_t = t_s[i];
        prev_delta = delta;

        uint64_t cur = gorilla_f64_bits(v[i]), x = cur ^ prev_v;
        prev_v = cur;
        if (x == 0) {
            gorilla_put(b, 0, 1);
            continue;
        }
        unsigned lead = gorilla_clz64(x), trail = gorilla_ctz64(x);
        if (lead > 31) lead = 31; /* 5 bits */
        if (prev_lead <= 64 && lead >= prev_lead && trail >= prev_trail) {
            gorilla_put(b, 2, 2); /* '10' */
            gorilla_put(b, x >> prev_trail, 64 - prev_lead - prev_trail);
        } else {
            unsigned meaningful = 64 - lead - trail;
            gorilla_put(b, 3, 2); /* '11' */
            gorilla_put(b, lead, 5);
            gorilla_put(b, meaningful & 63u, 6);
            gorilla_put(b, x >> trail, meaningful);
            prev_lead = lead;
            prev_trail = trail;
        }
    }
    gorilla_align(b);
}

/* Sign-extends the low bits of v. */
static inline int64_t gorilla_sext(uint64_t v, unsigned bits)
{
    uint64_t m = 1ull << (bits - 1);
    v &= (1ull << bits) - 1;
    return (int64_t)((v ^ m) - m);
}

/* A bits-wide delta-of-delta field whose range is -(2^(bits-1) - 1) ..
 * 2^(bits-1). */
static inline int64_t gorilla_dod_field(uint64_t v, unsigned bits)
{
    int64_t d = gorilla_sext(v, bits);
    return d == -(int64_t)(1ull << (bits - 1)) ? -d : d;
}

/* Decodes one block of n points from r (left after the block's padding).
 * False on a malformed or truncated stream. */
static inline bool gorilla_decode_block(struct gorilla_reader *r, size_t n, int64_t *t_s, double *v)
{
    int64_t window = (int64_t)gorilla_get(r, 64);
    int64_t delta = (int64_t)gorilla_get(r, 14);
    t_s[0] = window + delta;
    uint64_t prev_v = gorilla_get(r, 64);
    v[0] = gorilla_bits_f64(prev_v);
    unsigned lead = 0, trail = 0;
    bool have_window = false;
    for (size_t i = 1; i < n && !r->overrun; i++) {
        /* The 7/9/12-bit ranges are -63..64 etc.: the bit pattern of the
         * lowest two's-complement value stands for the highest. */
        int64_t dod;
        if (gorilla_get(r, 1) == 0)
            dod = 0;
        else if (gorilla_get(r, 1) == 0)
            dod = gorilla_dod_field(gorilla_get(r, 7), 7);
        else if (gorilla_get(r, 1) == 0)
            dod = gorilla_dod_field(gorilla_get(r, 9), 9);
        else if (gorilla_get(r, 1) == 0)
            dod = gorilla_dod_field(gorilla_get(r, 12), 12);
        else
            dod = gorilla_sext(gorilla_get(r, 32), 32);
        delta += dod;
        t_s[i] = t_s[i - 1] + delta;

        if (gorilla_get(r, 1) == 0) {
            v[i] = gorilla_bits_f64(prev_v);
            continue;
        }
        if (gorilla_get(r, 1) == 1) {
            lead = (unsigned)gorilla_get(r, 5);
            unsigned meaningful = (unsigned)gorilla_get(r, 6);
            if (meaningful == 0) meaningful = 64;
            if (lead + meaningful > 64) return false;
            trail = 64 - lead - meaningful;
            have_window = true;
        } else if (!have_window) {
            return false;
        }
        prev_v ^= gorilla_get(r, 64 - lead - trail) << trail;
        v[i] = gorilla_bits_f64(prev_v);
    }
    r->pos = (r->pos + 7) & ~(uint64_t)7;
    return !r->overrun && r->pos <= r->len_bits;
}

/* Encodes a whole series (times in seconds, strictly increasing) as
 * consecutive blocks, one per two-hour window. Returns the bytes used, or 0
 * on out of memory. */
static inline size_t gorilla_encode_series(struct gorilla_bits *b, const int64_t *t_s,
                                           const double *v, size_t n)
{
    uint64_t start_bits = b->len_bits;
    size_t i = 0;
    while (i < n) {
        int64_t window = gorilla_window_start(t_s[i]);
        size_t j = i + 1;
        while (j < n && t_s[j] < window + GORILLA_WINDOW_S)
            j++;
        gorilla_encode_block(b, t_s + i, v + i, j - i);
        i = j;
    }
    return b->oom ? 0 : (size_t)((b->len_bits - start_bits) / 8);
}

/* Decodes a series written by gorilla_encode_series; the caller passes the
 * times it expects so block boundaries are known (as the paper's store
 * knows its blocks), and gets the values and times decoded from the stream.
 * False when the stream is malformed. */
static inline bool gorilla_decode_series(const struct gorilla_bits *b, const int64_t *expect_t_s,
                                         size_t n, int64_t *t_s, double *v)
{
    struct gorilla_reader r = {.data = b->data, .len_bits = b->len_bits};
    size_t i = 0;
    while (i < n) {
        int64_t window = gorilla_window_start(expect_t_s[i]);
        size_t j = i + 1;
        while (j < n && expect_t_s[j] < window + GORILLA_WINDOW_S)
            j++;
        if (!gorilla_decode_block(&r, j - i, t_s + i, v + i)) return false;
        i = j;
    }
    return true;
}

#endif
