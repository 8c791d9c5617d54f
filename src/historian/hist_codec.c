/* Column codecs of the historian (contract in hist_codec.h).
 *
 * Block layouts (all integers little-endian; "varint" is LEB128, "zz" a
 * zigzag varint; "packed(n, w)" is n values of w bits packed into
 * little-endian 64-bit words, groups of 64 values filling exactly w words,
 * the last partial group truncated to ceil(k * w / 8) bytes):
 *
 *  Integer bodies, shared by the int64 codec and the decimal doubles:
 *   FOR:   zz base, u8 w, packed(n, w) of (v - base)
 *   DELTA: zz first, zz min_delta, u8 w, packed(n, w) of (delta - min_delta),
 *          where the first packed value is 0 and the others are the wrapped
 *          differences of consecutive values
 *   RLE:   varint runs, then per run: zz (value - previous run value, the
 *          first relative to 0), varint (count - 1)
 *
 *  timestamps: 0x10 raw: n x 8 bytes
 *              0x11 dod-rle: zz t0, varint runs, per run of equal deltas:
 *                   zz (delta - previous run delta), varint (count - 1)
 *              0x12 dod-pack: zz t0, zz d1, u8 w, packed(n - 2, w) of zz(dod)
 *  doubles:    0x20 raw: n x 8 bytes          0x25 const: 8 bytes
 *              0x21/0x22/0x23 alp-for/alp-delta/alp-rle: u8 e, u8 f,
 *                   varint exceptions, integer body (FOR/DELTA/RLE), then
 *                   the exception positions as varint gaps, then their raw
 *                   8-byte values; value = (double)(d * 10^f) / 10^e
 *              0x24 xor: Gorilla-style bit stream (first value 64 bits,
 *                   then '0' same, '10' + bits in the previous window,
 *                   '11' + 6 bits leading zeros + 6 bits (length - 1) + bits)
 *  int64:      0x30 raw, 0x31 const (zz), 0x32 for, 0x33 delta, 0x34 rle
 *  bool:       0x40 rle: u8 first value, varint runs, varint (length - 1)
 *              each; 0x41 bits: packed(n, 1)
 *  uint32:     0x50 rle: varint runs, per run varint value, varint
 *              (count - 1); 0x51 for: varint base, u8 w, packed(n, w)
 *  strings:    0x60 dict: varint entries, per entry varint length + bytes,
 *              u8 w, packed(n, w) of entry indices
 *
 * Decoders validate every count, width and length before touching the
 * packed data, and unpack whole 64-value groups with a width-specialised
 * loop. This code assumes a little-endian host. */
#include "historian/hist_codec.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "historian/hist_alloc.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hist_codec.c assumes a little-endian host"
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HC_HAVE_SSE42_CRC 1
#endif

enum {
    SCHEME_TS_RAW = 0x10,
    SCHEME_TS_DOD_RLE = 0x11,
    SCHEME_TS_DOD_PACK = 0x12,
    SCHEME_F64_RAW = 0x20,
    SCHEME_F64_ALP_FOR = 0x21,
    SCHEME_F64_ALP_DELTA = 0x22,
    SCHEME_F64_ALP_RLE = 0x23,
    SCHEME_F64_XOR = 0x24,
    SCHEME_F64_CONST = 0x25,
    SCHEME_I64_RAW = 0x30,
    SCHEME_I64_CONST = 0x31,
    SCHEME_I64_FOR = 0x32,
    SCHEME_I64_DELTA = 0x33,
    SCHEME_I64_RLE = 0x34,
    SCHEME_BOOL_RLE = 0x40,
    SCHEME_BOOL_BITS = 0x41,
    SCHEME_U32_RLE = 0x50,
    SCHEME_U32_FOR = 0x51,
    SCHEME_STR_DICT = 0x60,
};

/* Integer body kinds (see the layouts above). */
enum int_body { BODY_FOR, BODY_DELTA, BODY_RLE };

/* Largest n any decoder accepts: keeps n * 64 bits within size_t. */
#define HC_MAX_ITEMS (SIZE_MAX / 16)

/* ---------------------------------------------------------------- buffers */

void hc_buf_init(struct hc_buf *b)
{
    memset(b, 0, sizeof *b);
}

void hc_buf_free(struct hc_buf *b)
{
    hist_free(b->data);
    hc_buf_init(b);
}

bool hc_buf_reserve(struct hc_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (extra <= b->cap - b->len) return true;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    uint8_t *p = hist_realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

bool hc_buf_put(struct hc_buf *b, const void *p, size_t n)
{
    if (!hc_buf_reserve(b, n)) return false;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

/* ---------------------------------------------------------------- varints */

size_t hc_put_uvarint(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

size_t hc_get_uvarint(const uint8_t *in, size_t len, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < HC_UVARINT_MAX_BYTES; i++) {
        uint8_t b = in[i];
        if (i == 9 && b > 1) return 0; /* more than 64 bits */
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Bits needed to hold x (0 for 0). */
static inline unsigned bit_width(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/* Bytes hc_put_uvarint writes for v. */
static inline size_t uvarint_len(uint64_t v)
{
    return (bit_width(v | 1) + 6) / 7;
}

static inline uint8_t *write_uvarint(uint8_t *p, uint64_t v)
{
    return p + hc_put_uvarint(p, v);
}

static inline uint8_t *write_zigzag(uint8_t *p, int64_t v)
{
    return p + hc_put_uvarint(p, hc_zigzag(v));
}

/* A bounds-checked cursor over a block being decoded. */
struct reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
};

static inline bool read_u8(struct reader *r, uint8_t *v)
{
    if (r->pos >= r->len) return false;
    *v = r->in[r->pos++];
    return true;
}

static inline bool read_uvarint(struct reader *r, uint64_t *v)
{
    size_t k = hc_get_uvarint(r->in + r->pos, r->len - r->pos, v);
    r->pos += k;
    return k != 0;
}

static inline bool read_zigzag(struct reader *r, uint64_t *v)
{
    uint64_t u;
    if (!read_uvarint(r, &u)) return false;
    *v = (uint64_t)hc_unzigzag(u);
    return true;
}

/* Takes the next n bytes; false when fewer remain. */
static inline bool read_bytes(struct reader *r, size_t n, const uint8_t **p)
{
    if (n > r->len - r->pos) return false;
    *p = r->in + r->pos;
    r->pos += n;
    return true;
}

/* ---------------------------------------------------------------- CRC-32C */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
#ifdef HC_HAVE_SSE42_CRC
static bool crc32c_hw;
#endif

/* Builds the slicing-by-8 tables for the reflected polynomial 0x82F63B78. */
static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc32c_table[t][i] =
                (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
#ifdef HC_HAVE_SSE42_CRC
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* Software CRC over an inverted register, 8 bytes per step. */
static uint32_t crc32c_soft(uint32_t c, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc32c_table[7][w & 0xff] ^ crc32c_table[6][(w >> 8) & 0xff] ^
            crc32c_table[5][(w >> 16) & 0xff] ^ crc32c_table[4][(w >> 24) & 0xff] ^
            crc32c_table[3][(w >> 32) & 0xff] ^ crc32c_table[2][(w >> 40) & 0xff] ^
            crc32c_table[1][(w >> 48) & 0xff] ^ crc32c_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
    return c;
}

#ifdef HC_HAVE_SSE42_CRC
/* The same with the SSE4.2 crc32 instruction. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t c, const uint8_t *p,
                                                               size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t hc_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    const uint8_t *p = data;
#ifdef HC_HAVE_SSE42_CRC
    if (crc32c_hw) return ~crc32c_sse42(~crc, p, len);
#endif
    return ~crc32c_soft(~crc, p, len);
}

/* ---------------------------------------------------------------- bit packing */

/* Bytes of packed(n, w). n must be at most HC_MAX_ITEMS. */
static inline size_t packed_bytes(size_t n, unsigned w)
{
    return (n / 64) * w * 8 + ((n % 64) * w + 7) / 8;
}

/* Packs count (<= 64) values of w bits (already below 2^w) at p; returns the
 * end. Values past count in v are overwritten with 0. */
static uint8_t *pack_group(uint64_t *v, size_t count, unsigned w, uint8_t *p)
{
    if (w == 0) return p;
    for (size_t i = count; i < 64; i++)
        v[i] = 0;
    uint64_t words[64];
    memset(words, 0, (size_t)w * 8);
    for (unsigned i = 0; i < 64; i++) {
        unsigned bit = i * w, word = bit >> 6, shift = bit & 63;
        words[word] |= v[i] << shift;
        if (shift + w > 64) words[word + 1] |= v[i] >> (64 - shift);
    }
    size_t bytes = count == 64 ? (size_t)w * 8 : (count * w + 7) / 8;
    memcpy(p, words, bytes);
    return p + bytes;
}

/* Unpacks 64 values of a constant width W from W words. */
static inline __attribute__((always_inline)) void unpack64_width(const uint64_t *words,
                                                                 uint64_t *out, const unsigned w)
{
    const uint64_t mask = w == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (w & 63)) - 1);
    for (unsigned i = 0; i < 64; i++) {
        unsigned bit = i * w, word = bit >> 6, shift = bit & 63;
        uint64_t x = words[word] >> shift;
        if (shift + w > 64) x |= words[word + 1] << (64 - shift);
        out[i] = x & mask;
    }
}

#define UNPACK_CASE(W)                                                                             \
    case (W):                                                                                      \
        unpack64_width(words, out, (W));                                                           \
        return;
#define UNPACK_CASE4(B) UNPACK_CASE(B) UNPACK_CASE(B + 1) UNPACK_CASE(B + 2) UNPACK_CASE(B + 3)
#define UNPACK_CASE16(B)                                                                           \
    UNPACK_CASE4(B) UNPACK_CASE4(B + 4) UNPACK_CASE4(B + 8) UNPACK_CASE4(B + 12)

/* Unpacks 64 values of w (1..64) bits from w words. */
static void unpack64(const uint64_t *words, uint64_t *out, unsigned w)
{
    switch (w) {
        UNPACK_CASE16(1)
        UNPACK_CASE16(17)
        UNPACK_CASE16(33)
        UNPACK_CASE16(49)
    default:
        memset(out, 0, 64 * sizeof *out);
        return;
    }
}

/* Unpacks group g (64 values, or count < 64 for the last one) of a packed
 * run starting at p into out[0..count). The caller has checked that
 * packed_bytes of the whole run are readable. */
static inline void unpack_group(const uint8_t *p, size_t g, size_t count, unsigned w, uint64_t *out)
{
    uint64_t words[64];
    if (w == 0) {
        memset(out, 0, count * sizeof *out);
        return;
    }
    const uint8_t *src = p + g * w * 8;
    if (count == 64) {
        memcpy(words, src, (size_t)w * 8);
        unpack64(words, out, w);
        return;
    }
    uint64_t tmp[64];
    memset(words, 0, (size_t)w * 8);
    memcpy(words, src, (count * w + 7) / 8);
    unpack64(words, tmp, w);
    memcpy(out, tmp, count * sizeof *out);
}

/* ---------------------------------------------------------------- integer bodies */

/* The cheapest integer body for a series and its exact size in bytes. */
struct int_plan {
    enum int_body body;
    size_t bytes;
    uint64_t base;      /* FOR: minimum; DELTA: first value */
    uint64_t min_delta; /* DELTA */
    unsigned width;     /* FOR / DELTA */
    size_t runs;        /* RLE */
    bool constant;      /* every value equal */
};

/* Chooses between FOR, DELTA and RLE for v[0..n) (values compared as
 * int64, differences wrapping mod 2^64). */
static void plan_ints(const int64_t *v, size_t n, struct int_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->body = BODY_FOR;
    plan->bytes = 2;
    plan->constant = true;
    if (n == 0) return;
    int64_t lo = v[0], hi = v[0], dlo = 0, dhi = 0;
    size_t runs = 1, rle_bytes = uvarint_len(hc_zigzag(v[0])), run_start = 0;
    int64_t run_value = v[0];
    for (size_t i = 1; i < n; i++) {
        int64_t x = v[i];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        int64_t d = (int64_t)((uint64_t)x - (uint64_t)v[i - 1]);
        if (i == 1 || d < dlo) dlo = i == 1 ? d : dlo < d ? dlo : d;
        if (i == 1 || d > dhi) dhi = i == 1 ? d : dhi > d ? dhi : d;
        if (x != run_value) {
            rle_bytes += uvarint_len(i - run_start - 1);
            rle_bytes += uvarint_len(hc_zigzag((int64_t)((uint64_t)x - (uint64_t)run_value)));
            runs++;
            run_start = i;
            run_value = x;
        }
    }
    rle_bytes += uvarint_len(n - run_start - 1) + uvarint_len(runs);
    plan->constant = runs == 1;

    unsigned for_width = bit_width((uint64_t)hi - (uint64_t)lo);
    size_t for_bytes = uvarint_len(hc_zigzag(lo)) + 1 + packed_bytes(n, for_width);
    plan->body = BODY_FOR;
    plan->bytes = for_bytes;
    plan->base = (uint64_t)lo;
    plan->width = for_width;
    if (n > 1) {
        /* The first packed value is 0: always within [0, 2^width). */
        unsigned delta_width = bit_width((uint64_t)dhi - (uint64_t)dlo);
        size_t delta_bytes = uvarint_len(hc_zigzag(v[0])) + uvarint_len(hc_zigzag(dlo)) + 1 +
                             packed_bytes(n, delta_width);
        if (delta_bytes < plan->bytes) {
            plan->body = BODY_DELTA;
            plan->bytes = delta_bytes;
            plan->base = (uint64_t)v[0];
            plan->min_delta = (uint64_t)dlo;
            plan->width = delta_width;
        }
    }
    if (rle_bytes < plan->bytes) {
        plan->body = BODY_RLE;
        plan->bytes = rle_bytes;
        plan->runs = runs;
    }
}

/* Writes the body planned for v[0..n) at p (room for plan->bytes); returns
 * the end. */
static uint8_t *write_ints(uint8_t *p, const int64_t *v, size_t n, const struct int_plan *plan)
{
    uint64_t group[64];
    switch (plan->body) {
    case BODY_FOR:
        p = write_zigzag(p, (int64_t)plan->base);
        *p++ = (uint8_t)plan->width;
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < count; j++)
                group[j] = (uint64_t)v[i + j] - plan->base;
            p = pack_group(group, count, plan->width, p);
        }
        return p;
    case BODY_DELTA:
        p = write_zigzag(p, (int64_t)plan->base);
        p = write_zigzag(p, (int64_t)plan->min_delta);
        *p++ = (uint8_t)plan->width;
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < count; j++) {
                size_t k = i + j;
                group[j] = k == 0 ? 0 : (uint64_t)v[k] - (uint64_t)v[k - 1] - plan->min_delta;
            }
            p = pack_group(group, count, plan->width, p);
        }
        return p;
    case BODY_RLE: {
        p = write_uvarint(p, plan->runs);
        uint64_t previous = 0;
        size_t start = 0;
        for (size_t i = 1; i <= n; i++) {
            if (i < n && v[i] == v[start]) continue;
            p = write_zigzag(p, (int64_t)((uint64_t)v[start] - previous));
            p = write_uvarint(p, i - start - 1);
            previous = (uint64_t)v[start];
            start = i;
        }
        return p;
    }
    }
    return p;
}

/* A validated integer body being decoded 64 values at a time. */
struct int_stream {
    enum int_body body;
    size_t n, done;
    unsigned width;
    const uint8_t *packed;
    uint64_t base;      /* FOR: base; DELTA: last value produced */
    uint64_t min_delta; /* DELTA */
    struct reader runs; /* RLE: the remaining runs */
    uint64_t run_value;
    uint64_t run_left;
};

/* Opens the body of kind `body` holding n values at r, validates all of it
 * and moves r past it. */
static bool open_ints(struct reader *r, enum int_body body, size_t n, struct int_stream *s)
{
    memset(s, 0, sizeof *s);
    s->body = body;
    s->n = n;
    if (n > HC_MAX_ITEMS) return false;
    if (body == BODY_RLE) {
        uint64_t runs, total = 0;
        if (!read_uvarint(r, &runs) || runs > n) return false;
        size_t start = r->pos;
        for (uint64_t i = 0; i < runs; i++) {
            uint64_t diff, count;
            if (!read_uvarint(r, &diff) || !read_uvarint(r, &count)) return false;
            if (count >= n - total) return false; /* count + 1 values must remain */
            total += count + 1;
        }
        if (total != n) return false;
        s->runs = (struct reader){r->in, r->pos, start};
        return true;
    }
    uint64_t first;
    uint8_t width;
    if (!read_zigzag(r, &first)) return false;
    if (body == BODY_DELTA && !read_zigzag(r, &s->min_delta)) return false;
    if (!read_u8(r, &width) || width > 64) return false;
    s->width = width;
    s->base = body == BODY_DELTA ? first - s->min_delta : first;
    return read_bytes(r, packed_bytes(n, width), &s->packed);
}

/* Produces the next count values (64, or what is left for the last call). */
static inline void read_ints(struct int_stream *s, uint64_t *out, size_t count)
{
    switch (s->body) {
    case BODY_FOR:
        unpack_group(s->packed, s->done / 64, count, s->width, out);
        for (size_t j = 0; j < count; j++)
            out[j] += s->base;
        break;
    case BODY_DELTA: {
        unpack_group(s->packed, s->done / 64, count, s->width, out);
        uint64_t value = s->base, step = s->min_delta;
        for (size_t j = 0; j < count; j++) {
            value += out[j] + step;
            out[j] = value;
        }
        s->base = value;
        break;
    }
    case BODY_RLE:
        for (size_t j = 0; j < count;) {
            if (s->run_left == 0) {
                uint64_t diff = 0, length = 0;
                read_uvarint(&s->runs, &diff); /* validated by open_ints */
                read_uvarint(&s->runs, &length);
                s->run_value += (uint64_t)hc_unzigzag(diff);
                s->run_left = length + 1;
            }
            size_t take = count - j < s->run_left ? count - j : (size_t)s->run_left;
            for (size_t k = 0; k < take; k++)
                out[j + k] = s->run_value;
            j += take;
            s->run_left -= take;
        }
        break;
    }
    s->done += count;
}

/* Decodes a whole body of n values into out. */
static void read_all_ints(struct int_stream *s, uint64_t *out)
{
    for (size_t i = 0; i < s->n; i += 64)
        read_ints(s, out + i, s->n - i < 64 ? s->n - i : 64);
}

/* ---------------------------------------------------------------- encoder helpers */

/* Reserves bytes at the end of out and returns where to write them, or NULL
 * when out of memory (out unchanged apart from oom). */
static uint8_t *begin_block(struct hc_buf *out, size_t bytes)
{
    if (!hc_buf_reserve(out, bytes)) return NULL;
    return out->data + out->len;
}

/* Appends a raw block: the scheme byte then bytes copied from p. */
static bool put_raw_block(struct hc_buf *out, uint8_t scheme, const void *p, size_t bytes)
{
    uint8_t *w = begin_block(out, 1 + bytes);
    if (!w) return false;
    w[0] = scheme;
    if (bytes) memcpy(w + 1, p, bytes);
    out->len += 1 + bytes;
    return true;
}

/* Reads a raw block of n items of item_size bytes after the scheme byte. */
static bool get_raw_block(const uint8_t *in, size_t len, size_t n, size_t item_size, void *out,
                          size_t *used)
{
    if (n > (len - 1) / item_size) return false;
    if (n) memcpy(out, in + 1, n * item_size);
    *used = 1 + n * item_size;
    return true;
}

/* ---------------------------------------------------------------- timestamps */

bool hc_encode_ts(struct hc_buf *out, const int64_t *ts, size_t n)
{
    if (n == 0) return put_raw_block(out, SCHEME_TS_RAW, NULL, 0);
    size_t head = uvarint_len(hc_zigzag(ts[0]));
    size_t runs = 0, run_bytes = 0, run_start = 1;
    uint64_t run_delta = 0, previous_run_delta = 0, dod_bits = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t delta = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (i >= 2) {
            uint64_t previous = (uint64_t)ts[i - 1] - (uint64_t)ts[i - 2];
            dod_bits |= hc_zigzag((int64_t)(delta - previous));
        }
        if (i == 1 || delta != run_delta) {
            if (i > 1) {
                run_bytes += uvarint_len(hc_zigzag((int64_t)(run_delta - previous_run_delta)));
                run_bytes += uvarint_len(i - run_start - 1);
                previous_run_delta = run_delta;
            }
            runs++;
            run_start = i;
            run_delta = delta;
        }
    }
    if (n > 1) {
        run_bytes += uvarint_len(hc_zigzag((int64_t)(run_delta - previous_run_delta)));
        run_bytes += uvarint_len(n - run_start - 1);
    }
    size_t rle_size = 1 + head + uvarint_len(runs) + run_bytes;
    unsigned width = bit_width(dod_bits);
    size_t pack_size = SIZE_MAX;
    if (n >= 2)
        pack_size = 1 + head +
                    uvarint_len(hc_zigzag((int64_t)((uint64_t)ts[1] - (uint64_t)ts[0]))) + 1 +
                    packed_bytes(n - 2, width);
    size_t raw_size = 1 + n * 8;
    if (raw_size <= rle_size && raw_size <= pack_size)
        return put_raw_block(out, SCHEME_TS_RAW, ts, n * 8);

    /* Regular series: prefer run lengths even when a zero-width pack ties. */
    bool use_rle = n < 2 || rle_size <= pack_size + 2;
    size_t size = use_rle ? rle_size : pack_size;
    uint8_t *p = begin_block(out, size);
    if (!p) return false;
    if (use_rle) {
        *p++ = SCHEME_TS_DOD_RLE;
        p = write_zigzag(p, ts[0]);
        p = write_uvarint(p, runs);
        uint64_t previous = 0;
        size_t start = 1;
        for (size_t i = 2; i <= n; i++) {
            uint64_t run = (uint64_t)ts[start] - (uint64_t)ts[start - 1];
            if (i < n && (uint64_t)ts[i] - (uint64_t)ts[i - 1] == run) continue;
            p = write_zigzag(p, (int64_t)(run - previous));
            p = write_uvarint(p, i - start - 1);
            previous = run;
            start = i;
        }
    } else {
        *p++ = SCHEME_TS_DOD_PACK;
        p = write_zigzag(p, ts[0]);
        p = write_zigzag(p, (int64_t)((uint64_t)ts[1] - (uint64_t)ts[0]));
        *p++ = (uint8_t)width;
        uint64_t group[64];
        for (size_t i = 2; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < count; j++) {
                size_t k = i + j;
                uint64_t d1 = (uint64_t)ts[k] - (uint64_t)ts[k - 1];
                uint64_t d0 = (uint64_t)ts[k - 1] - (uint64_t)ts[k - 2];
                group[j] = hc_zigzag((int64_t)(d1 - d0));
            }
            p = pack_group(group, count, width, p);
        }
    }
    out->len += size;
    return true;
}

/* Decodes the body of a dod-rle block. */
static bool decode_ts_rle(struct reader *r, size_t n, int64_t *ts)
{
    uint64_t t, runs, delta = 0;
    if (!read_zigzag(r, &t) || !read_uvarint(r, &runs)) return false;
    if (n == 0 || runs > n - 1) return false;
    ts[0] = (int64_t)t;
    size_t i = 1;
    for (uint64_t run = 0; run < runs; run++) {
        uint64_t change, count;
        if (!read_zigzag(r, &change) || !read_uvarint(r, &count)) return false;
        if (count >= n - i) return false;
        delta += change;
        size_t end = i + (size_t)count + 1;
        for (; i < end; i++) {
            t += delta;
            ts[i] = (int64_t)t;
        }
    }
    return i == n;
}

/* Decodes the body of a dod-pack block. */
static bool decode_ts_pack(struct reader *r, size_t n, int64_t *ts)
{
    uint64_t t, delta;
    uint8_t width;
    const uint8_t *packed;
    if (n < 2 || !read_zigzag(r, &t) || !read_zigzag(r, &delta) || !read_u8(r, &width) ||
        width > 64 || !read_bytes(r, packed_bytes(n - 2, width), &packed))
        return false;
    ts[0] = (int64_t)t;
    t += delta;
    ts[1] = (int64_t)t;
    uint64_t *dods = (uint64_t *)(ts + 2);
    for (size_t i = 0; i < n - 2; i += 64)
        unpack_group(packed, i / 64, n - 2 - i < 64 ? n - 2 - i : 64, width, dods + i);
    for (size_t i = 2; i < n; i++) {
        delta += (uint64_t)hc_unzigzag((uint64_t)ts[i]);
        t += delta;
        ts[i] = (int64_t)t;
    }
    return true;
}

bool hc_decode_ts(const uint8_t *in, size_t len, size_t n, int64_t *ts, size_t *used)
{
    if (len < 1 || n > HC_MAX_ITEMS) return false;
    struct reader r = {in, len, 1};
    bool ok;
    switch (in[0]) {
    case SCHEME_TS_RAW:
        return get_raw_block(in, len, n, 8, ts, used);
    case SCHEME_TS_DOD_RLE:
        ok = decode_ts_rle(&r, n, ts);
        break;
    case SCHEME_TS_DOD_PACK:
        ok = decode_ts_pack(&r, n, ts);
        break;
    default:
        return false;
    }
    if (ok) *used = r.pos;
    return ok;
}

/* ---------------------------------------------------------------- int64 */

bool hc_encode_i64(struct hc_buf *out, const int64_t *v, size_t n)
{
    if (n == 0) return put_raw_block(out, SCHEME_I64_RAW, NULL, 0);
    struct int_plan plan;
    plan_ints(v, n, &plan);
    if (plan.constant) {
        uint8_t *p = begin_block(out, 1 + HC_UVARINT_MAX_BYTES);
        if (!p) return false;
        p[0] = SCHEME_I64_CONST;
        out->len += (size_t)(write_zigzag(p + 1, v[0]) - p);
        return true;
    }
    if (plan.bytes >= n * 8) return put_raw_block(out, SCHEME_I64_RAW, v, n * 8);
    uint8_t *p = begin_block(out, 1 + plan.bytes);
    if (!p) return false;
    static const uint8_t scheme_of_body[] = {SCHEME_I64_FOR, SCHEME_I64_DELTA, SCHEME_I64_RLE};
    p[0] = scheme_of_body[plan.body];
    write_ints(p + 1, v, n, &plan);
    out->len += 1 + plan.bytes;
    return true;
}

bool hc_decode_i64(const uint8_t *in, size_t len, size_t n, int64_t *v, size_t *used)
{
    if (len < 1 || n > HC_MAX_ITEMS) return false;
    struct reader r = {in, len, 1};
    enum int_body body;
    switch (in[0]) {
    case SCHEME_I64_RAW:
        return get_raw_block(in, len, n, 8, v, used);
    case SCHEME_I64_CONST: {
        uint64_t x;
        if (!read_zigzag(&r, &x)) return false;
        for (size_t i = 0; i < n; i++)
            v[i] = (int64_t)x;
        *used = r.pos;
        return true;
    }
    case SCHEME_I64_FOR:
        body = BODY_FOR;
        break;
    case SCHEME_I64_DELTA:
        body = BODY_DELTA;
        break;
    case SCHEME_I64_RLE:
        body = BODY_RLE;
        break;
    default:
        return false;
    }
    struct int_stream s;
    if (!open_ints(&r, body, n, &s)) return false;
    read_all_ints(&s, (uint64_t *)v);
    *used = r.pos;
    return true;
}

/* ---------------------------------------------------------------- doubles */

static const double pow10_double[19] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                        1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
static const uint64_t pow10_int[19] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull};

#define ALP_MAX_EXPONENT 18
#define ALP_SAMPLES 32

static inline uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Finds the integer d with (double)d / 10^e == v bit for bit; false when
 * there is none (NaN, infinities, -0.0, too many digits, too large). */
static inline bool decimal_of(double v, unsigned e, int64_t *d)
{
    double x = v * pow10_double[e];
    double magnitude = fabs(x);
    if (!(magnitude < 9007199254740992.0)) return false; /* 2^53, also rejects NaN */
    /* Round to nearest: below 2^52, adding 2^52 leaves no fraction bits;
     * from 2^52 on every double is an integer already. */
    double rounded = magnitude < 4503599627370496.0
                         ? (magnitude + 4503599627370496.0) - 4503599627370496.0
                         : magnitude;
    int64_t k = (int64_t)rounded;
    if (x < 0) k = -k;
    if (bits_of((double)k / pow10_double[e]) != bits_of(v)) return false;
    *d = k;
    return true;
}

/* Picks the exponent from a sample of the block: the one with the smallest
 * estimated size (exceptions at 80 bits, others at the sample's range). */
static unsigned choose_exponent(const double *v, size_t n)
{
    size_t step = n > ALP_SAMPLES ? n / ALP_SAMPLES : 1;
    size_t best_cost = SIZE_MAX;
    unsigned best = 0;
    for (unsigned e = 0; e <= ALP_MAX_EXPONENT; e++) {
        size_t exceptions = 0, fits = 0;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; i < n; i += step) {
            int64_t d;
            if (decimal_of(v[i], e, &d)) {
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
                fits++;
            } else {
                exceptions++;
            }
        }
        size_t width = fits ? bit_width((uint64_t)hi - (uint64_t)lo) : 0;
        size_t cost = fits * width + exceptions * 80;
        if (cost < best_cost) {
            best_cost = cost;
            best = e;
        }
        if (exceptions == 0) break; /* larger exponents only widen the integers */
    }
    return best;
}

/* The decimal form of a block: integers (exceptions replaced by a neighbour)
 * and the positions of the exceptions. */
struct alp_form {
    unsigned exponent, factor;
    int64_t *ints;
    size_t *exceptions;
    size_t exception_count;
    struct int_plan plan;
    size_t bytes; /* whole block, scheme byte included */
};

/* Computes the decimal form of v[0..n), n > 0. False when out of memory. */
static bool alp_analyse(const double *v, size_t n, struct alp_form *form)
{
    memset(form, 0, sizeof *form);
    form->ints = hist_malloc(n * sizeof *form->ints);
    form->exceptions = hist_malloc(n * sizeof *form->exceptions);
    if (!form->ints || !form->exceptions) return false;
    unsigned e = choose_exponent(v, n);
    form->exponent = e;
    size_t first_fit = SIZE_MAX;
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d;
        if (decimal_of(v[i], e, &d)) {
            if (first_fit == SIZE_MAX) first_fit = i;
            last = d;
        } else {
            form->exceptions[form->exception_count++] = i;
            d = last;
        }
        form->ints[i] = d;
    }
    if (first_fit == SIZE_MAX) {
        form->bytes = SIZE_MAX;
        return true;
    }
    for (size_t i = 0; i < first_fit; i++)
        form->ints[i] = form->ints[first_fit];
    /* Trailing decimal zeros common to every integer become the factor. */
    while (form->factor < ALP_MAX_EXPONENT) {
        int64_t divisor = (int64_t)pow10_int[form->factor + 1];
        size_t i = 0;
        while (i < n && form->ints[i] % divisor == 0)
            i++;
        if (i < n) break;
        form->factor++;
    }
    if (form->factor) {
        int64_t divisor = (int64_t)pow10_int[form->factor];
        for (size_t i = 0; i < n; i++)
            form->ints[i] /= divisor;
    }
    plan_ints(form->ints, n, &form->plan);
    /* scheme, exponent, factor, exception count, integers, exceptions */
    size_t bytes = 3 + uvarint_len(form->exception_count) + form->plan.bytes;
    size_t previous_end = 0;
    for (size_t k = 0; k < form->exception_count; k++) {
        bytes += uvarint_len(form->exceptions[k] - previous_end) + 8;
        previous_end = form->exceptions[k] + 1;
    }
    form->bytes = bytes;
    return true;
}

static void alp_free(struct alp_form *form)
{
    hist_free(form->ints);
    hist_free(form->exceptions);
}

/* Writes the block of an analysed form at p (room for form->bytes). */
static void alp_write(uint8_t *p, const double *v, const struct alp_form *form, size_t n)
{
    static const uint8_t scheme_of_body[] = {SCHEME_F64_ALP_FOR, SCHEME_F64_ALP_DELTA,
                                             SCHEME_F64_ALP_RLE};
    *p++ = scheme_of_body[form->plan.body];
    *p++ = (uint8_t)form->exponent;
    *p++ = (uint8_t)form->factor;
    p = write_uvarint(p, form->exception_count);
    p = write_ints(p, form->ints, n, &form->plan);
    size_t previous_end = 0;
    for (size_t k = 0; k < form->exception_count; k++) {
        p = write_uvarint(p, form->exceptions[k] - previous_end);
        previous_end = form->exceptions[k] + 1;
    }
    for (size_t k = 0; k < form->exception_count; k++) {
        memcpy(p, &v[form->exceptions[k]], 8);
        p += 8;
    }
}

/* A little-endian bit writer for the XOR scheme. */
struct bit_writer {
    uint8_t *p;
    uint64_t acc;
    unsigned fill;
};

/* Appends the low count (0..64) bits of bits (the others must be 0). */
static inline void put_bits(struct bit_writer *w, uint64_t bits, unsigned count)
{
    if (count == 0) return;
    w->acc |= bits << w->fill;
    if (w->fill + count >= 64) {
        memcpy(w->p, &w->acc, 8);
        w->p += 8;
        unsigned taken = 64 - w->fill;
        w->acc = taken < 64 ? bits >> taken : 0;
        w->fill = w->fill + count - 64;
    } else {
        w->fill += count;
    }
}

static uint8_t *finish_bits(struct bit_writer *w)
{
    size_t bytes = (w->fill + 7) / 8;
    memcpy(w->p, &w->acc, bytes);
    return w->p + bytes;
}

/* Bytes the XOR scheme may need at most for n values. */
static size_t xor_bound(size_t n)
{
    return 1 + 8 + n * 10 + 8;
}

/* Writes the XOR block of v[0..n) at p; returns the end. */
static uint8_t *xor_write(uint8_t *p, const double *v, size_t n)
{
    *p++ = SCHEME_F64_XOR;
    struct bit_writer w = {p, 0, 0};
    uint64_t previous = bits_of(v[0]);
    put_bits(&w, previous, 64);
    unsigned window_lead = 0, window_trail = 0;
    bool window = false;
    for (size_t i = 1; i < n; i++) {
        uint64_t bits = bits_of(v[i]), x = bits ^ previous;
        previous = bits;
        if (x == 0) {
            put_bits(&w, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (window && lead >= window_lead && trail >= window_trail) {
            put_bits(&w, 1, 2); /* '1' then '0' */
            put_bits(&w, x >> window_trail, 64 - window_lead - window_trail);
        } else {
            unsigned length = 64 - lead - trail;
            put_bits(&w, 3, 2);
            put_bits(&w, lead | (uint64_t)(length - 1) << 6, 12);
            put_bits(&w, x >> trail, length);
            window = true;
            window_lead = lead;
            window_trail = trail;
        }
    }
    return finish_bits(&w);
}

/* A bounds-checked bit reader over in[0..len). */
struct bit_reader {
    const uint8_t *in;
    size_t len;
    size_t bit;
};

/* Reads count (1..64) bits; false past the end. */
static inline bool get_bits(struct bit_reader *r, unsigned count, uint64_t *v)
{
    if (count > r->len * 8 - r->bit) return false;
    size_t byte = r->bit / 8;
    unsigned shift = r->bit % 8;
    uint8_t window[9] = {0};
    size_t avail = r->len - byte < 9 ? r->len - byte : 9;
    memcpy(window, r->in + byte, avail);
    uint64_t lo;
    memcpy(&lo, window, 8);
    uint64_t x = lo >> shift;
    if (shift && shift + count > 64) x |= (uint64_t)window[8] << (64 - shift);
    if (count < 64) x &= ((uint64_t)1 << count) - 1;
    *v = x;
    r->bit += count;
    return true;
}

static bool decode_f64_xor(const uint8_t *in, size_t len, size_t n, double *v, size_t *used)
{
    if (n == 0) return false;
    struct bit_reader r = {in + 1, len - 1, 0};
    uint64_t previous, x, flag;
    if (!get_bits(&r, 64, &previous)) return false;
    v[0] = double_of(previous);
    unsigned window_lead = 0, window_length = 0;
    for (size_t i = 1; i < n; i++) {
        if (!get_bits(&r, 1, &flag)) return false;
        if (flag) {
            if (!get_bits(&r, 1, &flag)) return false;
            if (flag) {
                uint64_t header;
                if (!get_bits(&r, 12, &header)) return false;
                window_lead = header & 63;
                window_length = (unsigned)(header >> 6) + 1;
                if (window_lead + window_length > 64) return false;
            } else if (window_length == 0) {
                return false;
            }
            if (!get_bits(&r, window_length, &x)) return false;
            previous ^= x << (64 - window_lead - window_length);
        }
        v[i] = double_of(previous);
    }
    *used = 1 + (r.bit + 7) / 8;
    return true;
}

bool hc_encode_f64(struct hc_buf *out, const double *v, size_t n)
{
    if (n == 0) return put_raw_block(out, SCHEME_F64_RAW, NULL, 0);
    if (n > HC_MAX_ITEMS) return false;
    uint64_t first = bits_of(v[0]);
    size_t same = 1;
    while (same < n && bits_of(v[same]) == first)
        same++;
    if (same == n) return put_raw_block(out, SCHEME_F64_CONST, &first, 8);

    struct alp_form form;
    bool ok = alp_analyse(v, n, &form);
    if (!ok) {
        alp_free(&form);
        out->oom = true;
        return false;
    }
    size_t raw_size = 1 + n * 8;
    if (form.exception_count > 0 && form.bytes > 3 + 2 * n) {
        /* Many exceptions: XOR may do better. */
        uint8_t *p = begin_block(out, xor_bound(n));
        if (!p) {
            alp_free(&form);
            return false;
        }
        size_t xor_size = (size_t)(xor_write(p, v, n) - p);
        if (xor_size < form.bytes && xor_size < raw_size) {
            out->len += xor_size;
            alp_free(&form);
            return true;
        }
    }
    if (form.bytes >= raw_size) {
        alp_free(&form);
        return put_raw_block(out, SCHEME_F64_RAW, v, n * 8);
    }
    uint8_t *p = begin_block(out, form.bytes);
    if (p) {
        alp_write(p, v, &form, n);
        out->len += form.bytes;
    }
    alp_free(&form);
    return p != NULL;
}

static bool decode_f64_alp(const uint8_t *in, size_t len, size_t n, double *v, size_t *used)
{
    struct reader r = {in, len, 1};
    uint8_t exponent, factor;
    uint64_t exception_count;
    if (!read_u8(&r, &exponent) || !read_u8(&r, &factor) || exponent > ALP_MAX_EXPONENT ||
        factor > ALP_MAX_EXPONENT || !read_uvarint(&r, &exception_count) || exception_count > n)
        return false;
    static const enum int_body body_of_scheme[] = {BODY_FOR, BODY_DELTA, BODY_RLE};
    struct int_stream s;
    if (!open_ints(&r, body_of_scheme[in[0] - SCHEME_F64_ALP_FOR], n, &s)) return false;
    /* Validate the exception positions before decoding anything. */
    struct reader positions = r;
    size_t next = 0;
    for (uint64_t k = 0; k < exception_count; k++) {
        uint64_t gap = 0;
        if (!read_uvarint(&r, &gap) || gap >= n - next) return false;
        next += (size_t)gap + 1;
    }
    const uint8_t *raw;
    if (!read_bytes(&r, (size_t)exception_count * 8, &raw)) return false;

    const double scale = pow10_double[exponent];
    const uint64_t multiplier = pow10_int[factor];
    uint64_t group[64];
    for (size_t i = 0; i < n; i += 64) {
        size_t count = n - i < 64 ? n - i : 64;
        read_ints(&s, group, count);
        for (size_t j = 0; j < count; j++)
            v[i + j] = (double)(int64_t)(group[j] * multiplier) / scale;
    }
    next = 0;
    for (uint64_t k = 0; k < exception_count; k++) {
        uint64_t gap = 0;
        read_uvarint(&positions, &gap); /* validated above */
        next += (size_t)gap;
        memcpy(&v[next], raw + k * 8, 8);
        next++;
    }
    *used = r.pos;
    return true;
}

bool hc_decode_f64(const uint8_t *in, size_t len, size_t n, double *v, size_t *used)
{
    if (len < 1 || n > HC_MAX_ITEMS) return false;
    switch (in[0]) {
    case SCHEME_F64_RAW:
        return get_raw_block(in, len, n, 8, v, used);
    case SCHEME_F64_CONST: {
        uint64_t bits;
        if (len < 9) return false;
        memcpy(&bits, in + 1, 8);
        for (size_t i = 0; i < n; i++)
            v[i] = double_of(bits);
        *used = 9;
        return true;
    }
    case SCHEME_F64_ALP_FOR:
    case SCHEME_F64_ALP_DELTA:
    case SCHEME_F64_ALP_RLE:
        return decode_f64_alp(in, len, n, v, used);
    case SCHEME_F64_XOR:
        return decode_f64_xor(in, len, n, v, used);
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- booleans */

bool hc_encode_bool(struct hc_buf *out, const uint8_t *v, size_t n)
{
    size_t runs = n ? 1 : 0, run_bytes = 0, start = 0;
    for (size_t i = 1; i < n; i++) {
        if (!v[i] != !v[i - 1]) {
            run_bytes += uvarint_len(i - start - 1);
            runs++;
            start = i;
        }
    }
    if (n) run_bytes += uvarint_len(n - start - 1);
    size_t rle_size = 2 + uvarint_len(runs) + run_bytes;
    size_t bits_size = 1 + packed_bytes(n, 1);
    size_t size = rle_size <= bits_size ? rle_size : bits_size;
    uint8_t *p = begin_block(out, size);
    if (!p) return false;
    if (rle_size <= bits_size) {
        *p++ = SCHEME_BOOL_RLE;
        *p++ = n && v[0] ? 1 : 0;
        p = write_uvarint(p, runs);
        start = 0;
        for (size_t i = 1; i <= n; i++) {
            if (i < n && !v[i] == !v[start]) continue;
            p = write_uvarint(p, i - start - 1);
            start = i;
        }
    } else {
        *p++ = SCHEME_BOOL_BITS;
        uint64_t group[64];
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < count; j++)
                group[j] = v[i + j] ? 1 : 0;
            p = pack_group(group, count, 1, p);
        }
    }
    out->len += size;
    return true;
}

bool hc_decode_bool(const uint8_t *in, size_t len, size_t n, uint8_t *v, size_t *used)
{
    if (len < 1 || n > HC_MAX_ITEMS) return false;
    struct reader r = {in, len, 1};
    if (in[0] == SCHEME_BOOL_BITS) {
        const uint8_t *packed;
        if (!read_bytes(&r, packed_bytes(n, 1), &packed)) return false;
        uint64_t group[64];
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            unpack_group(packed, i / 64, count, 1, group);
            for (size_t j = 0; j < count; j++)
                v[i + j] = (uint8_t)group[j];
        }
        *used = r.pos;
        return true;
    }
    if (in[0] != SCHEME_BOOL_RLE) return false;
    uint8_t value;
    uint64_t runs;
    if (!read_u8(&r, &value) || value > 1 || !read_uvarint(&r, &runs) || runs > n) return false;
    size_t i = 0;
    for (uint64_t k = 0; k < runs; k++) {
        uint64_t length;
        if (!read_uvarint(&r, &length) || length >= n - i) return false;
        memset(v + i, value, (size_t)length + 1);
        i += (size_t)length + 1;
        value ^= 1;
    }
    if (i != n) return false;
    *used = r.pos;
    return true;
}

/* ---------------------------------------------------------------- uint32 */

bool hc_encode_u32(struct hc_buf *out, const uint32_t *v, size_t n)
{
    size_t runs = n ? 1 : 0, rle_bytes = 0, start = 0;
    uint32_t lo = n ? v[0] : 0, hi = lo;
    for (size_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        if (v[i] != v[i - 1]) {
            rle_bytes += uvarint_len(v[start]) + uvarint_len(i - start - 1);
            runs++;
            start = i;
        }
    }
    if (n) rle_bytes += uvarint_len(v[start]) + uvarint_len(n - start - 1);
    size_t rle_size = 1 + uvarint_len(runs) + rle_bytes;
    unsigned width = bit_width(hi - lo);
    size_t for_size = 2 + uvarint_len(lo) + packed_bytes(n, width);
    /* A constant column: prefer run lengths even when a zero-width pack ties. */
    bool use_rle = rle_size <= for_size + 2;
    size_t size = use_rle ? rle_size : for_size;
    uint8_t *p = begin_block(out, size);
    if (!p) return false;
    if (use_rle) {
        *p++ = SCHEME_U32_RLE;
        p = write_uvarint(p, runs);
        start = 0;
        for (size_t i = 1; i <= n; i++) {
            if (i < n && v[i] == v[start]) continue;
            p = write_uvarint(p, v[start]);
            p = write_uvarint(p, i - start - 1);
            start = i;
        }
    } else {
        *p++ = SCHEME_U32_FOR;
        p = write_uvarint(p, lo);
        *p++ = (uint8_t)width;
        uint64_t group[64];
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < count; j++)
                group[j] = v[i + j] - lo;
            p = pack_group(group, count, width, p);
        }
    }
    out->len += size;
    return true;
}

bool hc_decode_u32(const uint8_t *in, size_t len, size_t n, uint32_t *v, size_t *used)
{
    if (len < 1 || n > HC_MAX_ITEMS) return false;
    struct reader r = {in, len, 1};
    if (in[0] == SCHEME_U32_FOR) {
        uint64_t base;
        uint8_t width;
        const uint8_t *packed;
        if (!read_uvarint(&r, &base) || base > UINT32_MAX || !read_u8(&r, &width) || width > 32 ||
            !read_bytes(&r, packed_bytes(n, width), &packed))
            return false;
        uint64_t group[64];
        for (size_t i = 0; i < n; i += 64) {
            size_t count = n - i < 64 ? n - i : 64;
            unpack_group(packed, i / 64, count, width, group);
            for (size_t j = 0; j < count; j++)
                v[i + j] = (uint32_t)(group[j] + base);
        }
        *used = r.pos;
        return true;
    }
    if (in[0] != SCHEME_U32_RLE) return false;
    uint64_t runs;
    if (!read_uvarint(&r, &runs) || runs > n) return false;
    size_t i = 0;
    for (uint64_t k = 0; k < runs; k++) {
        uint64_t value, length;
        if (!read_uvarint(&r, &value) || value > UINT32_MAX || !read_uvarint(&r, &length) ||
            length >= n - i)
            return false;
        for (size_t end = i + (size_t)length + 1; i < end; i++)
            v[i] = (uint32_t)value;
    }
    if (i != n) return false;
    *used = r.pos;
    return true;
}

/* ---------------------------------------------------------------- strings */

static uint64_t hash_bytes(const char *s, uint32_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

bool hc_encode_str(struct hc_buf *out, const char *const *s, const uint32_t *lens, size_t n)
{
    if (n > HC_MAX_ITEMS / 2) return false;
    size_t slots = 16;
    while (slots < n * 2)
        slots *= 2;
    /* slot_of holds entry + 1 (0 = empty); entry_first the first index of
     * each distinct string; index the entry of every string. */
    uint32_t *slot_of = hist_calloc(slots, sizeof *slot_of);
    size_t *entry_first = hist_malloc((n ? n : 1) * sizeof *entry_first);
    uint32_t *index = hist_malloc((n ? n : 1) * sizeof *index);
    bool ok = false;
    if (!slot_of || !entry_first || !index || n > UINT32_MAX) goto done;
    size_t entries = 0, dict_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t slot = (size_t)hash_bytes(s[i], lens[i]) & (slots - 1);
        for (;;) {
            uint32_t e = slot_of[slot];
            if (e == 0) {
                slot_of[slot] = (uint32_t)entries + 1;
                entry_first[entries] = i;
                index[i] = (uint32_t)entries++;
                dict_bytes += uvarint_len(lens[i]) + lens[i];
                break;
            }
            size_t f = entry_first[e - 1];
            if (lens[f] == lens[i] && (lens[i] == 0 || memcmp(s[f], s[i], lens[i]) == 0)) {
                index[i] = e - 1;
                break;
            }
            slot = (slot + 1) & (slots - 1);
        }
    }
    unsigned width = bit_width(entries ? entries - 1 : 0);
    size_t size = 2 + uvarint_len(entries) + dict_bytes + packed_bytes(n, width);
    uint8_t *p = begin_block(out, size);
    if (!p) goto done;
    *p++ = SCHEME_STR_DICT;
    p = write_uvarint(p, entries);
    for (size_t e = 0; e < entries; e++) {
        size_t f = entry_first[e];
        p = write_uvarint(p, lens[f]);
        if (lens[f]) memcpy(p, s[f], lens[f]);
        p += lens[f];
    }
    *p++ = (uint8_t)width;
    uint64_t group[64];
    for (size_t i = 0; i < n; i += 64) {
        size_t count = n - i < 64 ? n - i : 64;
        for (size_t j = 0; j < count; j++)
            group[j] = index[i + j];
        p = pack_group(group, count, width, p);
    }
    out->len += size;
    ok = true;
done:
    hist_free(slot_of);
    hist_free(entry_first);
    hist_free(index);
    return ok;
}

bool hc_decode_str(const uint8_t *in, size_t len, size_t n, const char **s, uint32_t *lens,
                   size_t *used)
{
    if (len < 1 || in[0] != SCHEME_STR_DICT || n > HC_MAX_ITEMS) return false;
    struct reader r = {in, len, 1};
    uint64_t entries;
    if (!read_uvarint(&r, &entries) || entries > len || (n > 0 && entries == 0) ||
        entries > (uint64_t)n)
        return false;
    /* Offsets (into in) and lengths of the entries. */
    size_t *offsets = hist_malloc((entries ? (size_t)entries : 1) * sizeof *offsets);
    uint32_t *lengths = hist_malloc((entries ? (size_t)entries : 1) * sizeof *lengths);
    bool ok = false;
    if (!offsets || !lengths) goto done;
    for (size_t e = 0; e < entries; e++) {
        uint64_t length;
        const uint8_t *bytes;
        if (!read_uvarint(&r, &length) || length > UINT32_MAX ||
            !read_bytes(&r, (size_t)length, &bytes))
            goto done;
        offsets[e] = (size_t)(bytes - in);
        lengths[e] = (uint32_t)length;
    }
    uint8_t width;
    const uint8_t *packed;
    if (!read_u8(&r, &width) || width > 32 || !read_bytes(&r, packed_bytes(n, width), &packed))
        goto done;
    uint64_t group[64];
    for (size_t i = 0; i < n; i += 64) {
        size_t count = n - i < 64 ? n - i : 64;
        unpack_group(packed, i / 64, count, width, group);
        for (size_t j = 0; j < count; j++) {
            if (group[j] >= entries) goto done;
            s[i + j] = (const char *)in + offsets[group[j]];
            lens[i + j] = lengths[group[j]];
        }
    }
    *used = r.pos;
    ok = true;
done:
    hist_free(offsets);
    hist_free(lengths);
    return ok;
}

const char *hc_scheme_name(uint8_t scheme_byte)
{
    switch (scheme_byte) {
    case SCHEME_TS_RAW:
        return "ts-raw";
    case SCHEME_TS_DOD_RLE:
        return "dod-rle";
    case SCHEME_TS_DOD_PACK:
        return "dod-pack";
    case SCHEME_F64_RAW:
        return "raw";
    case SCHEME_F64_ALP_FOR:
        return "alp-for";
    case SCHEME_F64_ALP_DELTA:
        return "alp-delta";
    case SCHEME_F64_ALP_RLE:
        return "alp-rle";
    case SCHEME_F64_XOR:
        return "xor";
    case SCHEME_F64_CONST:
        return "f64-const";
    case SCHEME_I64_RAW:
        return "i64-raw";
    case SCHEME_I64_CONST:
        return "i64-const";
    case SCHEME_I64_FOR:
        return "i64-for";
    case SCHEME_I64_DELTA:
        return "i64-delta";
    case SCHEME_I64_RLE:
        return "i64-rle";
    case SCHEME_BOOL_RLE:
        return "bool-rle";
    case SCHEME_BOOL_BITS:
        return "bool-bits";
    case SCHEME_U32_RLE:
        return "u32-rle";
    case SCHEME_U32_FOR:
        return "u32-for";
    case SCHEME_STR_DICT:
        return "str-dict";
    default:
        return "?";
    }
}
