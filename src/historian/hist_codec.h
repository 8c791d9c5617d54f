/* Column codecs of the historian: pure functions over byte buffers, no I/O.
 *
 * A chunk stores each column (timestamps, qualities, values) as one block
 * made by an encoder here. Every block starts with a one-byte scheme id, so
 * the encoder may pick the best scheme per block and the decoder needs no
 * outside hint. Everything is lossless: decode(encode(x)) == x bit for bit
 * (doubles compared by bit pattern: -0.0, NaN payloads, infinities,
 * subnormals all come back as they went in).
 *
 * Schemes (see docs/historian.md for the byte layouts):
 *  - timestamps: delta-of-delta, zigzag, with run lengths for the regular
 *    case (a 1 s series costs a few bytes per block, not per sample);
 *  - doubles: decimal-to-integer where lossless (v == (double)d / 10^e for an
 *    integer d, with e from 0..18, the idea behind ALP), then
 *    frame-of-reference or delta bit packing of the integers; values that
 *    do not fit (exceptions) are stored apart; a block where most do not fit
 *    falls back to XOR (Gorilla-style) or raw 8-byte values, whichever is
 *    smaller;
 *  - int64 / uint64 (the same codec on bit patterns): delta + zigzag + bit
 *    packing, or frame-of-reference, or a constant;
 *  - bool: run lengths;
 *  - uint32 (qualities): run lengths of (value, count);
 *  - strings: a dictionary of distinct strings plus bit-packed indices.
 *
 * Contract of every decoder: reads only in[0..len), writes exactly n items,
 * sets *used to the bytes of the block, and returns false (output then
 * unspecified) on any malformed input, whatever the bytes. Encoders append to
 * a growable buffer and return false only when out of memory. */
#ifndef AIRLOCK_HISTORIAN_HIST_CODEC_H
#define AIRLOCK_HISTORIAN_HIST_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. oom is set (and sticks) when growing failed. */
struct hc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool oom;
};

void hc_buf_init(struct hc_buf *b);
void hc_buf_free(struct hc_buf *b);
/* Ensures room for extra more bytes. False (and oom set) on failure. */
bool hc_buf_reserve(struct hc_buf *b, size_t extra);
/* Appends n bytes; false on out of memory. */
bool hc_buf_put(struct hc_buf *b, const void *p, size_t n);

/* LEB128 unsigned varints and zigzag, shared with the write-ahead log. */
#define HC_UVARINT_MAX_BYTES 10
/* Writes v to out (room for HC_UVARINT_MAX_BYTES); returns bytes written. */
size_t hc_put_uvarint(uint8_t *out, uint64_t v);
/* Reads a varint from in[0..len); returns bytes read, 0 when malformed or
 * truncated. */
size_t hc_get_uvarint(const uint8_t *in, size_t len, uint64_t *v);
static inline uint64_t hc_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t hc_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* CRC-32C (Castagnoli), for chunks and log records. Start with crc = 0. */
uint32_t hc_crc32c(uint32_t crc, const void *data, size_t len);

bool hc_encode_ts(struct hc_buf *out, const int64_t *ts, size_t n);
bool hc_decode_ts(const uint8_t *in, size_t len, size_t n, int64_t *ts, size_t *used);

bool hc_encode_f64(struct hc_buf *out, const double *v, size_t n);
bool hc_decode_f64(const uint8_t *in, size_t len, size_t n, double *v, size_t *used);

/* int64; for uint64 pass the same bits (arithmetic wraps mod 2^64). */
bool hc_encode_i64(struct hc_buf *out, const int64_t *v, size_t n);
bool hc_decode_i64(const uint8_t *in, size_t len, size_t n, int64_t *v, size_t *used);

/* One byte per value, 0 or 1 (any non-zero input encodes as 1). */
bool hc_encode_bool(struct hc_buf *out, const uint8_t *v, size_t n);
bool hc_decode_bool(const uint8_t *in, size_t len, size_t n, uint8_t *v, size_t *used);

bool hc_encode_u32(struct hc_buf *out, const uint32_t *v, size_t n);
bool hc_decode_u32(const uint8_t *in, size_t len, size_t n, uint32_t *v, size_t *used);

/* Strings as (pointer, length) pairs; bytes may be anything, NUL included.
 * The decoder points s[i] into in (not NUL-terminated), so the results live
 * as long as the input buffer. */
bool hc_encode_str(struct hc_buf *out, const char *const *s, const uint32_t *lens, size_t n);
bool hc_decode_str(const uint8_t *in, size_t len, size_t n, const char **s, uint32_t *lens,
                   size_t *used);

/* The scheme a block uses (its first byte), named for statistics and
 * benchmarks: "dod-rle", "alp-for", "xor", "raw", ... "?" when unknown. */
const char *hc_scheme_name(uint8_t scheme_byte);

#endif
