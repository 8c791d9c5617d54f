/* Columns, summaries and chunks of the historian: pure functions, no I/O.
 *
 * A chunk holds the samples of one series over a short time range (never
 * more than chunk_max_samples, never across a chunk_span boundary), sorted by
 * time, as three codec blocks (timestamps, qualities, values) behind a fixed
 * header. The header carries a summary so that aggregates over long ranges
 * read headers, not samples, and a CRC-32C over the whole chunk.
 *
 * Value aggregates use the "usable" samples: those whose quality is not Bad
 * (Good or Uncertain). Bad samples are counted, never averaged. Values are
 * taken as doubles (bool 0/1, int64/uint64 converted); string series have
 * counts and times but no value statistics (min/max/... are NaN). */
#ifndef AIRLOCK_HISTORIAN_HIST_CHUNK_H
#define AIRLOCK_HISTORIAN_HIST_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/strpool.h"
#include "core/value.h"
#include "historian/hist_codec.h"

/* Samples of one series as parallel arrays. Only the value array of type
 * is used. Strings pushed are copied into the columns' own pool. */
struct hist_columns {
    enum value_type type;
    uint32_t count;
    uint32_t capacity;
    int64_t *ts;        /* ns since the Unix epoch, UTC */
    quality_t *quality; /* OPC UA StatusCode */
    double *f64;        /* VALUE_DOUBLE */
    int64_t *i64;       /* VALUE_INT64, and VALUE_UINT64 as bit patterns */
    uint8_t *b;         /* VALUE_BOOL: 0/1 */
    const char **str;   /* VALUE_STRING: bytes (not NUL-terminated)... */
    uint32_t *str_len;  /* ...and their lengths */
    struct strpool strings;
};

void hist_columns_init(struct hist_columns *c, enum value_type type);
void hist_columns_free(struct hist_columns *c);
/* Empties c (keeps its arrays; frees its strings). */
void hist_columns_clear(struct hist_columns *c);
/* Room for count more samples. False on out of memory (c unchanged). */
bool hist_columns_reserve(struct hist_columns *c, uint32_t more);
/* Appends one sample; v->type must equal c->type. Strings are copied. False
 * on out of memory (c unchanged). */
bool hist_columns_push(struct hist_columns *c, int64_t ts, quality_t q, const struct value *v);
/* The value at index i as a struct value (strings point into c). */
struct value hist_columns_value(const struct hist_columns *c, uint32_t i);
/* Stable sort by timestamp (samples with equal times keep their order).
 * False on out of memory (c unchanged). */
bool hist_columns_sort(struct hist_columns *c);
/* Appends src[from..to) to dst (same type). False on out of memory. */
bool hist_columns_append(struct hist_columns *dst, const struct hist_columns *src, uint32_t from,
                         uint32_t to);

struct hist_summary {
    uint32_t count;     /* all samples */
    uint32_t good;      /* Good quality */
    uint32_t uncertain; /* Uncertain quality */
    uint32_t bad;       /* Bad quality (count = good + uncertain + bad) */
    int64_t t_min;      /* over all samples */
    int64_t t_max;
    /* Over usable (good + uncertain) samples; NaN when none or a string
     * series. mean and m2 combine exactly-enough across chunks (Chan et al.):
     * stddev = sqrt(m2 / n) (population). */
    double min, max, sum, mean, m2;
    double first, last;      /* values of the earliest / latest usable sample */
    int64_t t_first, t_last; /* their times (ties: the first / last in order) */
};

/* Adds one sample (value as a double, see above) to s. An empty summary
 * is one from hist_summary_of of no samples. */
void hist_summary_add(struct hist_summary *s, int64_t ts, quality_t q, double v);
/* The summary of c (any order). */
void hist_summary_of(const struct hist_columns *c, struct hist_summary *out);
/* Combines from into into (either may be empty, count 0). */
void hist_summary_merge(struct hist_summary *into, const struct hist_summary *from);

#define HIST_CHUNK_MAGIC 0x4B434841u /* "AHCK" little-endian */
#define HIST_CHUNK_VERSION 1
#define HIST_CHUNK_HEADER_BYTES 128

struct hist_chunk_header {
    uint32_t series_id;
    enum value_type type;
    uint32_t payload_bytes; /* after the header */
    uint32_t crc;           /* CRC-32C of the header (crc field zero) and payload */
    struct hist_summary summary;
};

/* Appends one chunk of c (which must be sorted by time and hold 1 to
 * UINT32_MAX samples) for series_id to out; fills *header when not NULL.
 * False on out of memory (or when c is empty or unsorted); out->len is then
 * back where it was. */
bool hist_chunk_encode(struct hc_buf *out, uint32_t series_id, const struct hist_columns *c,
                       struct hist_chunk_header *header);

/* Reads and checks the fixed header at buf[0..len) (magic, version, type,
 * sizes, summary consistency); does not check the CRC. False with a reason
 * in why on anything wrong. */
bool hist_chunk_parse_header(const uint8_t *buf, size_t len, struct hist_chunk_header *h, char *why,
                             size_t why_len);

/* Checks the CRC of the chunk at buf[0..len) and appends its samples to out
 * (whose type must be the chunk's). False with a reason in why when the
 * chunk is corrupt (checksum, malformed block, count mismatch) or on out of
 * memory; out is then unchanged. */
bool hist_chunk_decode(const uint8_t *buf, size_t len, struct hist_columns *out, char *why,
                       size_t why_len);

/* For the fuzzer only: hist_chunk_decode without the CRC check, so that
 * arbitrary bytes reach the block decoders. Never use it on stored data. */
bool hist_chunk_decode_unchecked(const uint8_t *buf, size_t len, struct hist_columns *out,
                                 char *why, size_t why_len);

#endif
