/* Columns, summaries and chunks of the historian (see hist_chunk.h).
 *
 * Chunk layout, all integers little-endian, doubles as their IEEE-754 bits:
 *
 *   offset size field
 *        0    4 magic HIST_CHUNK_MAGIC ("AHCK")
 *        4    2 version HIST_CHUNK_VERSION
 *        6    1 value type (enum value_type)
 *        7    1 reserved, 0
 *        8    4 series id
 *       12    4 count (all samples)
 *       16    4 payload bytes (after the header)
 *       20    4 CRC-32C of the header with this field zero, then the payload
 *       24    4 good
 *       28    4 uncertain
 *       32    4 bad
 *       36    4 reserved, 0
 *       40    8 t_min            48  8 t_max
 *       56    8 min              64  8 max
 *       72    8 sum              80  8 mean
 *       88    8 m2               96  8 first
 *      104    8 last            112  8 t_first
 *      120    8 t_last          128    payload
 *
 * Payload: the codec blocks for timestamps (hc_encode_ts), qualities
 * (hc_encode_u32) and values (by type), back to back, nothing else. */
#include "historian/hist_chunk.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/le.h"
#include "historian/hist_alloc.h"

/* Largest payload a chunk header may announce (a sanity bound: real chunks
 * are a few kilobytes). */
#define CHUNK_MAX_PAYLOAD_BYTES (1u << 30)

/* ------------------------------------------------------------------ columns */

void hist_columns_init(struct hist_columns *c, enum value_type type)
{
    memset(c, 0, sizeof *c);
    c->type = type;
    strpool_init(&c->strings);
}

void hist_columns_free(struct hist_columns *c)
{
    hist_free(c->ts);
    hist_free(c->quality);
    hist_free(c->f64);
    hist_free(c->i64);
    hist_free(c->b);
    hist_free(c->str);
    hist_free(c->str_len);
    strpool_clear(&c->strings);
    hist_columns_init(c, c->type);
}

void hist_columns_clear(struct hist_columns *c)
{
    c->count = 0;
    strpool_clear(&c->strings);
}

/* Grows *p to hold cap items of size bytes; false (p unchanged) on failure. */
static bool grow_array(void **p, uint32_t cap, size_t size)
{
    void *n = hist_realloc(*p, (size_t)cap * size);
    if (!n) return false;
    *p = n;
    return true;
}

bool hist_columns_reserve(struct hist_columns *c, uint32_t more)
{
    if (more <= c->capacity - c->count) return true;
    if (more > UINT32_MAX - c->count) return false;
    uint64_t need = (uint64_t)c->count + more;
    uint64_t cap = c->capacity ? (uint64_t)c->capacity * 2 : 16;
    if (cap < need) cap = need;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    uint32_t new_cap = (uint32_t)cap;
    /* Each array grown on its own: a failure leaves the ones already grown
     * bigger but capacity (what callers see) still the old one. */
    bool ok = grow_array((void **)&c->ts, new_cap, sizeof *c->ts) &&
              grow_array((void **)&c->quality, new_cap, sizeof *c->quality);
    if (ok) {
        switch (c->type) {
        case VALUE_DOUBLE:
            ok = grow_array((void **)&c->f64, new_cap, sizeof *c->f64);
            break;
        case VALUE_INT64:
        case VALUE_UINT64:
            ok = grow_array((void **)&c->i64, new_cap, sizeof *c->i64);
            break;
        case VALUE_BOOL:
            ok = grow_array((void **)&c->b, new_cap, sizeof *c->b);
            break;
        case VALUE_STRING:
            ok = grow_array((void **)&c->str, new_cap, sizeof *c->str) &&
                 grow_array((void **)&c->str_len, new_cap, sizeof *c->str_len);
            break;
        }
    }
    if (ok) c->capacity = new_cap;
    return ok;
}

bool hist_columns_push(struct hist_columns *c, int64_t ts, quality_t q, const struct value *v)
{
    if (v->type != c->type) return false;
    if (!hist_columns_reserve(c, 1)) return false;
    uint32_t i = c->count;
    switch (c->type) {
    case VALUE_DOUBLE:
        c->f64[i] = v->as.f64;
        break;
    case VALUE_INT64:
        c->i64[i] = v->as.i64;
        break;
    case VALUE_UINT64:
        c->i64[i] = (int64_t)v->as.u64;
        break;
    case VALUE_BOOL:
        c->b[i] = v->as.b ? 1 : 0;
        break;
    case VALUE_STRING: {
        const char *copy = strpool_copy_len(&c->strings, v->as.str.ptr ? v->as.str.ptr : "",
                                            v->as.str.ptr ? v->as.str.len : 0);
        if (!copy) return false;
        c->str[i] = copy;
        c->str_len[i] = v->as.str.ptr ? v->as.str.len : 0;
        break;
    }
    }
    c->ts[i] = ts;
    c->quality[i] = q;
    c->count = i + 1;
    return true;
}

struct value hist_columns_value(const struct hist_columns *c, uint32_t i)
{
    struct value v;
    memset(&v, 0, sizeof v);
    v.type = c->type;
    switch (c->type) {
    case VALUE_DOUBLE:
        v.as.f64 = c->f64[i];
        break;
    case VALUE_INT64:
        v.as.i64 = c->i64[i];
        break;
    case VALUE_UINT64:
        v.as.u64 = (uint64_t)c->i64[i];
        break;
    case VALUE_BOOL:
        v.as.b = c->b[i] != 0;
        break;
    case VALUE_STRING:
        v.as.str.ptr = c->str[i];
        v.as.str.len = c->str_len[i];
        break;
    }
    return v;
}

/* The value at i as a double (bool 0/1, integers converted; NaN for
 * strings). */
static double column_double(const struct hist_columns *c, uint32_t i)
{
    switch (c->type) {
    case VALUE_DOUBLE:
        return c->f64[i];
    case VALUE_INT64:
        return (double)c->i64[i];
    case VALUE_UINT64:
        return (double)(uint64_t)c->i64[i];
    case VALUE_BOOL:
        return c->b[i] ? 1.0 : 0.0;
    case VALUE_STRING:
        break;
    }
    return NAN;
}

struct sort_key {
    int64_t ts;
    uint32_t index;
};

/* Orders by time, then by original position (which makes qsort stable). */
static int compare_sort_keys(const void *pa, const void *pb)
{
    const struct sort_key *a = pa, *b = pb;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Rearranges array (n items of size bytes) so that item i becomes the old
 * item keys[i].index, through scratch (room for n items). */
static void permute(void *array, size_t size, const struct sort_key *keys, uint32_t n,
                    void *scratch)
{
    if (!array) return;
    uint8_t *src = array, *dst = scratch;
    for (uint32_t i = 0; i < n; i++)
        memcpy(dst + (size_t)i * size, src + (size_t)keys[i].index * size, size);
    memcpy(array, scratch, (size_t)n * size);
}

bool hist_columns_sort(struct hist_columns *c)
{
    uint32_t n = c->count;
    uint32_t i = 1;
    while (i < n && c->ts[i - 1] <= c->ts[i])
        i++;
    if (i >= n) return true; /* already sorted: the usual case */
    struct sort_key *keys = hist_malloc((size_t)n * sizeof *keys);
    void *scratch = hist_malloc((size_t)n * sizeof(int64_t));
    if (!keys || !scratch) {
        hist_free(keys);
        hist_free(scratch);
        return false;
    }
    for (i = 0; i < n; i++) {
        keys[i].ts = c->ts[i];
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, compare_sort_keys);
    permute(c->ts, sizeof *c->ts, keys, n, scratch);
    permute(c->quality, sizeof *c->quality, keys, n, scratch);
    switch (c->type) {
    case VALUE_DOUBLE:
        permute(c->f64, sizeof *c->f64, keys, n, scratch);
        break;
    case VALUE_INT64:
    case VALUE_UINT64:
        permute(c->i64, sizeof *c->i64, keys, n, scratch);
        break;
    case VALUE_BOOL:
        permute(c->b, sizeof *c->b, keys, n, scratch);
        break;
    case VALUE_STRING:
        permute(c->str, sizeof *c->str, keys, n, scratch);
        permute(c->str_len, sizeof *c->str_len, keys, n, scratch);
        break;
    }
    hist_free(keys);
    hist_free(scratch);
    return true;
}

bool hist_columns_append(struct hist_columns *dst, const struct hist_columns *src, uint32_t from,
                         uint32_t to)
{
    if (dst->type != src->type || from > to || to > src->count) return false;
    uint32_t n = to - from, at = dst->count;
    if (n == 0) return true;
    if (!hist_columns_reserve(dst, n)) return false;
    switch (dst->type) {
    case VALUE_DOUBLE:
        memcpy(dst->f64 + at, src->f64 + from, (size_t)n * sizeof *dst->f64);
        break;
    case VALUE_INT64:
    case VALUE_UINT64:
        memcpy(dst->i64 + at, src->i64 + from, (size_t)n * sizeof *dst->i64);
        break;
    case VALUE_BOOL:
        memcpy(dst->b + at, src->b + from, (size_t)n * sizeof *dst->b);
        break;
    case VALUE_STRING:
        for (uint32_t i = 0; i < n; i++) {
            /* On failure dst->count is untouched: the strings copied so far
             * stay in the pool unused until it is cleared. */
            const char *copy =
                strpool_copy_len(&dst->strings, src->str[from + i], src->str_len[from + i]);
            if (!copy) return false;
            dst->str[at + i] = copy;
            dst->str_len[at + i] = src->str_len[from + i];
        }
        break;
    }
    memcpy(dst->ts + at, src->ts + from, (size_t)n * sizeof *dst->ts);
    memcpy(dst->quality + at, src->quality + from, (size_t)n * sizeof *dst->quality);
    dst->count = at + n;
    return true;
}

/* ---------------------------------------------------------------- summaries */

/* An empty summary: no samples, value statistics NaN, times 0. */
static void summary_empty(struct hist_summary *s)
{
    memset(s, 0, sizeof *s);
    s->min = s->max = s->sum = s->mean = s->m2 = NAN;
    s->first = s->last = NAN;
}

/* Adds one usable value (Welford's update) at time ts to s, whose usable
 * count before the call is n. */
static void summary_add_usable(struct hist_summary *s, uint32_t n, int64_t ts, double v)
{
    if (n == 0) {
        s->min = s->max = s->sum = s->mean = v;
        s->m2 = 0.0;
        s->first = s->last = v;
        s->t_first = s->t_last = ts;
        return;
    }
    s->min = fmin(s->min, v);
    s->max = fmax(s->max, v);
    s->sum += v;
    double delta = v - s->mean;
    s->mean += delta / (double)(n + 1);
    s->m2 += delta * (v - s->mean);
    if (ts < s->t_first) {
        s->first = v;
        s->t_first = ts;
    }
    if (ts >= s->t_last) {
        s->last = v;
        s->t_last = ts;
    }
}

void hist_summary_add(struct hist_summary *s, int64_t ts, quality_t q, double v)
{
    if (s->count == 0) s->t_min = s->t_max = ts;
    if (ts < s->t_min) s->t_min = ts;
    if (ts > s->t_max) s->t_max = ts;
    s->count++;
    if (quality_is_bad(q)) {
        s->bad++;
        return;
    }
    summary_add_usable(s, s->good + s->uncertain, ts, v);
    if (quality_is_good(q))
        s->good++;
    else
        s->uncertain++;
}

void hist_summary_of(const struct hist_columns *c, struct hist_summary *out)
{
    summary_empty(out);
    for (uint32_t i = 0; i < c->count; i++)
        hist_summary_add(out, c->ts[i], c->quality[i], column_double(c, i));
}

void hist_summary_merge(struct hist_summary *into, const struct hist_summary *from)
{
    if (from->count == 0) return;
    if (into->count == 0) {
        *into = *from;
        return;
    }
    uint64_t na = (uint64_t)into->good + into->uncertain;
    uint64_t nb = (uint64_t)from->good + from->uncertain;
    into->count += from->count;
    into->good += from->good;
    into->uncertain += from->uncertain;
    into->bad += from->bad;
    if (from->t_min < into->t_min) into->t_min = from->t_min;
    if (from->t_max > into->t_max) into->t_max = from->t_max;
    if (nb == 0) return;
    if (na == 0) {
        into->min = from->min;
        into->max = from->max;
        into->sum = from->sum;
        into->mean = from->mean;
        into->m2 = from->m2;
        into->first = from->first;
        into->last = from->last;
        into->t_first = from->t_first;
        into->t_last = from->t_last;
        return;
    }
    /* Chan, Golub and LeVeque's pairwise combination of mean and M2. */
    double n = (double)(na + nb);
    double delta = from->mean - into->mean;
    into->mean += delta * ((double)nb / n);
    into->m2 += from->m2 + delta * delta * ((double)na * (double)nb / n);
    into->min = fmin(into->min, from->min);
    into->max = fmax(into->max, from->max);
    into->sum += from->sum;
    if (from->t_first < into->t_first) {
        into->first = from->first;
        into->t_first = from->t_first;
    }
    if (from->t_last >= into->t_last) {
        into->last = from->last;
        into->t_last = from->t_last;
    }
}

/* ------------------------------------------------------------------- chunks */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_TYPE 6
#define OFF_RESERVED8 7
#define OFF_SERIES 8
#define OFF_COUNT 12
#define OFF_PAYLOAD 16
#define OFF_CRC 20
#define OFF_GOOD 24
#define OFF_UNCERTAIN 28
#define OFF_BAD 32
#define OFF_RESERVED32 36
#define OFF_T_MIN 40
#define OFF_T_MAX 48
#define OFF_MIN 56
#define OFF_MAX 64
#define OFF_SUM 72
#define OFF_MEAN 80
#define OFF_M2 88
#define OFF_FIRST 96
#define OFF_LAST 104
#define OFF_T_FIRST 112
#define OFF_T_LAST 120

/* Writes h (crc included) as the fixed header at p. */
static void write_header(uint8_t *p, const struct hist_chunk_header *h)
{
    const struct hist_summary *s = &h->summary;
    memset(p, 0, HIST_CHUNK_HEADER_BYTES);
    put_u32le(p + OFF_MAGIC, HIST_CHUNK_MAGIC);
    put_u16(p + OFF_VERSION, HIST_CHUNK_VERSION);
    p[OFF_TYPE] = (uint8_t)h->type;
    put_u32le(p + OFF_SERIES, h->series_id);
    put_u32le(p + OFF_COUNT, s->count);
    put_u32le(p + OFF_PAYLOAD, h->payload_bytes);
    put_u32le(p + OFF_CRC, h->crc);
    put_u32le(p + OFF_GOOD, s->good);
    put_u32le(p + OFF_UNCERTAIN, s->uncertain);
    put_u32le(p + OFF_BAD, s->bad);
    put_u64le(p + OFF_T_MIN, (uint64_t)s->t_min);
    put_u64le(p + OFF_T_MAX, (uint64_t)s->t_max);
    put_f64le(p + OFF_MIN, s->min);
    put_f64le(p + OFF_MAX, s->max);
    put_f64le(p + OFF_SUM, s->sum);
    put_f64le(p + OFF_MEAN, s->mean);
    put_f64le(p + OFF_M2, s->m2);
    put_f64le(p + OFF_FIRST, s->first);
    put_f64le(p + OFF_LAST, s->last);
    put_u64le(p + OFF_T_FIRST, (uint64_t)s->t_first);
    put_u64le(p + OFF_T_LAST, (uint64_t)s->t_last);
}

/* CRC-32C of the chunk: header (crc field taken as zero), then payload. */
static uint32_t chunk_crc(const uint8_t *header, const uint8_t *payload, size_t payload_bytes)
{
    uint8_t copy[HIST_CHUNK_HEADER_BYTES];
    memcpy(copy, header, sizeof copy);
    memset(copy + OFF_CRC, 0, 4);
    uint32_t crc = hc_crc32c(0, copy, sizeof copy);
    return hc_crc32c(crc, payload, payload_bytes);
}

/* Appends the value block of c to out. */
static bool encode_values(struct hc_buf *out, const struct hist_columns *c)
{
    switch (c->type) {
    case VALUE_DOUBLE:
        return hc_encode_f64(out, c->f64, c->count);
    case VALUE_INT64:
    case VALUE_UINT64:
        return hc_encode_i64(out, c->i64, c->count);
    case VALUE_BOOL:
        return hc_encode_bool(out, c->b, c->count);
    case VALUE_STRING:
        return hc_encode_str(out, c->str, c->str_len, c->count);
    }
    return false;
}

bool hist_chunk_encode(struct hc_buf *out, uint32_t series_id, const struct hist_columns *c,
                       struct hist_chunk_header *header)
{
    if (c->count == 0 || (unsigned)c->type > VALUE_STRING) return false;
    for (uint32_t i = 1; i < c->count; i++)
        if (c->ts[i] < c->ts[i - 1]) return false; /* not sorted: a caller's bug */
    size_t start = out->len;
    uint8_t zero[HIST_CHUNK_HEADER_BYTES] = {0};
    if (!hc_buf_put(out, zero, sizeof zero) || !hc_encode_ts(out, c->ts, c->count) ||
        !hc_encode_u32(out, c->quality, c->count) || !encode_values(out, c) ||
        out->len - start - HIST_CHUNK_HEADER_BYTES > CHUNK_MAX_PAYLOAD_BYTES) {
        out->len = start;
        return false;
    }
    struct hist_chunk_header h;
    h.series_id = series_id;
    h.type = c->type;
    h.payload_bytes = (uint32_t)(out->len - start - HIST_CHUNK_HEADER_BYTES);
    h.crc = 0;
    hist_summary_of(c, &h.summary);
    uint8_t *p = out->data + start;
    write_header(p, &h);
    h.crc = chunk_crc(p, p + HIST_CHUNK_HEADER_BYTES, h.payload_bytes);
    put_u32le(p + OFF_CRC, h.crc);
    if (header) *header = h;
    return true;
}

/* Formats a reason into why (when given) and returns false. */
static bool fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool hist_chunk_parse_header(const uint8_t *buf, size_t len, struct hist_chunk_header *h, char *why,
                             size_t why_len)
{
    if (len < HIST_CHUNK_HEADER_BYTES)
        return fail(why, why_len, "chunk truncated: %zu bytes, header needs %d", len,
                    HIST_CHUNK_HEADER_BYTES);
    if (get_u32le(buf + OFF_MAGIC) != HIST_CHUNK_MAGIC)
        return fail(why, why_len, "bad chunk magic 0x%08x", (unsigned)get_u32le(buf + OFF_MAGIC));
    if (get_u16(buf + OFF_VERSION) != HIST_CHUNK_VERSION)
        return fail(why, why_len, "unsupported chunk version %u",
                    (unsigned)get_u16(buf + OFF_VERSION));
    if (buf[OFF_TYPE] > VALUE_STRING)
        return fail(why, why_len, "bad chunk value type %u", (unsigned)buf[OFF_TYPE]);
    if (buf[OFF_RESERVED8] != 0 || get_u32le(buf + OFF_RESERVED32) != 0)
        return fail(why, why_len, "reserved chunk header bytes not zero");
    struct hist_chunk_header out;
    struct hist_summary *s = &out.summary;
    out.type = (enum value_type)buf[OFF_TYPE];
    out.series_id = get_u32le(buf + OFF_SERIES);
    out.payload_bytes = get_u32le(buf + OFF_PAYLOAD);
    out.crc = get_u32le(buf + OFF_CRC);
    s->count = get_u32le(buf + OFF_COUNT);
    s->good = get_u32le(buf + OFF_GOOD);
    s->uncertain = get_u32le(buf + OFF_UNCERTAIN);
    s->bad = get_u32le(buf + OFF_BAD);
    s->t_min = (int64_t)get_u64le(buf + OFF_T_MIN);
    s->t_max = (int64_t)get_u64le(buf + OFF_T_MAX);
    s->min = get_f64le(buf + OFF_MIN);
    s->max = get_f64le(buf + OFF_MAX);
    s->sum = get_f64le(buf + OFF_SUM);
    s->mean = get_f64le(buf + OFF_MEAN);
    s->m2 = get_f64le(buf + OFF_M2);
    s->first = get_f64le(buf + OFF_FIRST);
    s->last = get_f64le(buf + OFF_LAST);
    s->t_first = (int64_t)get_u64le(buf + OFF_T_FIRST);
    s->t_last = (int64_t)get_u64le(buf + OFF_T_LAST);
    /* Three blocks of at least one byte each (their scheme ids). */
    if (out.payload_bytes < 3 || out.payload_bytes > CHUNK_MAX_PAYLOAD_BYTES)
        return fail(why, why_len, "bad chunk payload size %u", (unsigned)out.payload_bytes);
    if (s->count == 0) return fail(why, why_len, "chunk with no samples");
    if ((uint64_t)s->good + s->uncertain + s->bad != s->count)
        return fail(why, why_len, "chunk quality counts %u+%u+%u do not add up to %u",
                    (unsigned)s->good, (unsigned)s->uncertain, (unsigned)s->bad,
                    (unsigned)s->count);
    if (s->t_min > s->t_max) return fail(why, why_len, "chunk t_min after t_max");
    if (s->good + s->uncertain > 0 &&
        (s->t_first < s->t_min || s->t_first > s->t_last || s->t_last > s->t_max))
        return fail(why, why_len, "chunk first/last times outside its time range");
    if (h) *h = out;
    return true;
}

/* The value array of out at index at, where a value block decodes to. */
static bool decode_values(const uint8_t *in, size_t len, uint32_t n, struct hist_columns *out,
                          uint32_t at, size_t *used)
{
    switch (out->type) {
    case VALUE_DOUBLE:
        return hc_decode_f64(in, len, n, out->f64 + at, used);
    case VALUE_INT64:
    case VALUE_UINT64:
        return hc_decode_i64(in, len, n, out->i64 + at, used);
    case VALUE_BOOL:
        return hc_decode_bool(in, len, n, out->b + at, used);
    case VALUE_STRING:
        return hc_decode_str(in, len, n, out->str + at, out->str_len + at, used);
    }
    return false;
}

/* Decodes the payload of a chunk whose header h was parsed, into out's
 * spare capacity, and commits it (out->count grows) only when all is well.
 * The block decoders may allocate and do not tell out of memory from
 * malformed input, so their failures name both. */
static bool decode_payload(const struct hist_chunk_header *h, const uint8_t *payload,
                           struct hist_columns *out, char *why, size_t why_len)
{
    const struct hist_summary *s = &h->summary;
    uint32_t n = s->count, at = out->count;
    size_t len = h->payload_bytes, pos = 0, used = 0;
    if (out->type != h->type)
        return fail(why, why_len, "chunk holds %s, columns are %s", value_type_name(h->type),
                    value_type_name(out->type));
    if (!hist_columns_reserve(out, n)) return fail(why, why_len, "out of memory");
    if (!hc_decode_ts(payload, len, n, out->ts + at, &used) || used > len)
        return fail(why, why_len, "malformed timestamp block (or out of memory)");
    pos += used;
    if (!hc_decode_u32(payload + pos, len - pos, n, out->quality + at, &used) || used > len - pos)
        return fail(why, why_len, "malformed quality block (or out of memory)");
    pos += used;
    if (!decode_values(payload + pos, len - pos, n, out, at, &used) || used > len - pos)
        return fail(why, why_len, "malformed value block (or out of memory)");
    pos += used;
    if (pos != len) return fail(why, why_len, "%zu bytes left after the chunk's blocks", len - pos);
    const int64_t *ts = out->ts + at;
    if (ts[0] != s->t_min || ts[n - 1] != s->t_max)
        return fail(why, why_len, "chunk timestamps do not match its time range");
    for (uint32_t i = 1; i < n; i++)
        if (ts[i] < ts[i - 1]) return fail(why, why_len, "chunk timestamps not in order");
    if (out->type == VALUE_STRING) {
        /* The decoded strings point into the input: copy them into the pool.
         * On failure out->count is untouched (copies made stay in the pool
         * unused until it is cleared). */
        for (uint32_t i = at; i < at + n; i++) {
            const char *copy = strpool_copy_len(&out->strings, out->str[i], out->str_len[i]);
            if (!copy) return fail(why, why_len, "out of memory");
            out->str[i] = copy;
        }
    }
    out->count = at + n;
    return true;
}

bool hist_chunk_decode_unchecked(const uint8_t *buf, size_t len, struct hist_columns *out,
                                 char *why, size_t why_len)
{
    struct hist_chunk_header h;
    if (!hist_chunk_parse_header(buf, len, &h, why, why_len)) return false;
    if (len - HIST_CHUNK_HEADER_BYTES < h.payload_bytes)
        return fail(why, why_len, "chunk truncated: %zu payload bytes of %u",
                    len - HIST_CHUNK_HEADER_BYTES, (unsigned)h.payload_bytes);
    return decode_payload(&h, buf + HIST_CHUNK_HEADER_BYTES, out, why, why_len);
}

bool hist_chunk_decode(const uint8_t *buf, size_t len, struct hist_columns *out, char *why,
                       size_t why_len)
{
    struct hist_chunk_header h;
    if (!hist_chunk_parse_header(buf, len, &h, why, why_len)) return false;
    if (len - HIST_CHUNK_HEADER_BYTES < h.payload_bytes)
        return fail(why, why_len, "chunk truncated: %zu payload bytes of %u",
                    len - HIST_CHUNK_HEADER_BYTES, (unsigned)h.payload_bytes);
    const uint8_t *payload = buf + HIST_CHUNK_HEADER_BYTES;
    uint32_t crc = chunk_crc(buf, payload, h.payload_bytes);
    if (crc != h.crc)
        return fail(why, why_len, "chunk checksum mismatch (stored 0x%08x, computed 0x%08x)",
                    (unsigned)h.crc, (unsigned)crc);
    return decode_payload(&h, payload, out, why, why_len);
}
