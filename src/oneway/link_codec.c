/* The one-way link datagram codec and receiver window (link_codec.h).
 * Layout in docs/oneway.md; the constants below are its field offsets. */
#include "oneway/link_codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/errbuf.h"
#include "core/le.h"
#include "core/tag.h"

/* Header field offsets. */
#define OFF_MAGIC 0
#define OFF_VERSION 2
#define OFF_TYPE 3
#define OFF_LINK_ID 4
#define OFF_SESSION 8
#define OFF_SEQUENCE 16
#define OFF_SENT_NS 24
#define OFF_PAYLOAD_LEN 32

#define MAGIC0 'A'
#define MAGIC1 'L'

/* DATA: u16 count, then samples. A sample starts with a flags byte. */
#define DATA_PREFIX_BYTES 2
#define SAMPLE_TYPE_MASK 0x07u
#define SAMPLE_QUALITY_FLAG 0x08u
#define SAMPLE_RESERVED_MASK 0xF0u
#define SAMPLE_MIN_BYTES 4 /* flags, tag id, ts delta, one value byte */

/* BIRTH: u32 epoch, u32 tag total, u16 part, u16 parts, u16 count, entries. */
#define BIRTH_PREFIX_BYTES 14
#define BIRTH_ENTRY_MIN_BYTES 7 /* id, type, path len, "a/b", unit len */
#define BIRTH_MAX_PARTS 65535u

#define HEARTBEAT_PAYLOAD_BYTES 24

/* DEVICES: u32 snapshot, u16 device total, u16 part, u16 parts, u16 first,
 * u16 count, entries. An entry: name, protocol, endpoint (each a length byte
 * and bytes), state, the 10 counters and the bucket count (u8) with its
 * buckets as varints, the two times (zigzag varints), the last error (a
 * length byte and bytes). */
#define DEVICES_PREFIX_BYTES 14
#define DEVICE_COUNTERS 10
/* name len, 1 name byte, protocol len, endpoint len, state, counters,
 * bucket count, buckets, two times, error len */
#define DEVICE_ENTRY_MIN_BYTES (5 + DEVICE_COUNTERS + 1 + LINK_DEVICE_BUCKETS + 2 + 1)
#define DEVICES_MAX_PARTS 65535u

#define MAX_PER_DATAGRAM 65535u /* u16 counts */

static const char key_label[] = "airlock one-way link key v1";

const char *link_status_name(enum link_status s)
{
    switch (s) {
    case LINK_OK:
        return "ok";
    case LINK_ERR_ARGUMENT:
        return "invalid argument";
    case LINK_ERR_TOO_LARGE:
        return "item too large for a datagram";
    case LINK_ERR_CRYPTO:
        return "crypto failure";
    case LINK_ERR_NO_MEMORY:
        return "out of memory";
    case LINK_ERR_SIZE:
        return "bad datagram size";
    case LINK_ERR_MAC:
        return "mac mismatch";
    case LINK_ERR_MAGIC:
        return "bad magic";
    case LINK_ERR_VERSION:
        return "unsupported version";
    case LINK_ERR_LINK_ID:
        return "wrong link id";
    case LINK_ERR_TYPE:
        return "unknown type";
    case LINK_ERR_MALFORMED:
        return "malformed payload";
    }
    return "unknown status";
}

/* ---- Keys and HMAC ------------------------------------------------------------- */

enum link_status link_key_derive(const uint8_t *material, size_t len, uint8_t key[LINK_KEY_BYTES],
                                 char *err, size_t err_len)
{
    if (!material || len < LINK_KEY_MIN_MATERIAL_BYTES) {
        errbuf_set(err, err_len, "key material has %zu bytes, at least %d needed", len,
                   LINK_KEY_MIN_MATERIAL_BYTES);
        return LINK_ERR_ARGUMENT;
    }
    size_t out_len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key_label, sizeof key_label - 1, material,
                   len, key, LINK_KEY_BYTES, &out_len) ||
        out_len != LINK_KEY_BYTES) {
        ERR_clear_error();
        errbuf_set(err, err_len, "HMAC-SHA256 key derivation failed");
        return LINK_ERR_CRYPTO;
    }
    return LINK_OK;
}

enum link_status link_key_load_file(const char *path, uint8_t key[LINK_KEY_BYTES], char *err,
                                    size_t err_len)
{
    enum { cap = 4096 };
    uint8_t buf[cap + 1];
    FILE *f = fopen(path, "rb");
    if (!f) {
        errbuf_set(err, err_len, "%s: %s", path, strerror(errno));
        return LINK_ERR_ARGUMENT;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    bool read_error = ferror(f) != 0;
    fclose(f);
    enum link_status st = LINK_ERR_ARGUMENT;
    if (read_error) {
        errbuf_set(err, err_len, "%s: read error", path);
    } else if (n > cap) {
        errbuf_set(err, err_len, "%s: longer than %d bytes", path, cap);
    } else {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                         buf[n - 1] == '\t'))
            n--;
        if (n < LINK_KEY_MIN_MATERIAL_BYTES)
            errbuf_set(err, err_len, "%s: key has %zu bytes, at least %d needed", path, n,
                       LINK_KEY_MIN_MATERIAL_BYTES);
        else
            st = link_key_derive(buf, n, key, err, err_len);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return st;
}

bool link_random_session_id(uint64_t *out)
{
    uint8_t b[8];
    if (RAND_bytes(b, sizeof b) != 1) {
        ERR_clear_error();
        return false;
    }
    *out = get_u64le(b);
    return true;
}

enum link_status link_mac_init(struct link_mac *m, const uint8_t key[LINK_KEY_BYTES])
{
    m->ctx = NULL;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    EVP_MAC_free(alg);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx, key, LINK_KEY_BYTES, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ERR_clear_error();
        return LINK_ERR_CRYPTO;
    }
    m->ctx = ctx;
    return LINK_OK;
}

void link_mac_clear(struct link_mac *m)
{
    EVP_MAC_CTX_free(m->ctx);
    m->ctx = NULL;
}

enum link_status link_mac_compute(struct link_mac *m, const uint8_t *data, size_t len,
                                  uint8_t out[LINK_MAC_BYTES])
{
    uint8_t full[32];
    size_t full_len = 0;
    /* A NULL key re-initialises with the key given to link_mac_init. */
    bool ok = m->ctx && EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 &&
              EVP_MAC_update(m->ctx, data, len) == 1 &&
              EVP_MAC_final(m->ctx, full, &full_len, sizeof full) == 1 && full_len == sizeof full;
    if (!ok) {
        ERR_clear_error();
        return LINK_ERR_CRYPTO;
    }
    memcpy(out, full, LINK_MAC_BYTES);
    OPENSSL_cleanse(full, sizeof full);
    return LINK_OK;
}

/* ---- Varints ------------------------------------------------------------------- */

static inline size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ---- Encoder ------------------------------------------------------------------- */

static enum link_status check_limit(size_t *limit, char *err, size_t err_len)
{
    if (*limit == 0) *limit = LINK_DEFAULT_DATAGRAM_BYTES;
    if (*limit < LINK_MIN_DATAGRAM_BYTES || *limit > LINK_MAX_DATAGRAM_BYTES) {
        errbuf_set(err, err_len, "datagram size limit %zu outside %d..%d", *limit,
                   LINK_MIN_DATAGRAM_BYTES, LINK_MAX_DATAGRAM_BYTES);
        return LINK_ERR_ARGUMENT;
    }
    return LINK_OK;
}

enum link_status link_encoder_init(struct link_encoder *enc, const uint8_t key[LINK_KEY_BYTES],
                                   uint32_t link_id, uint64_t session_id, size_t max_datagram_bytes,
                                   char *err, size_t err_len)
{
    memset(enc, 0, sizeof *enc);
    enum link_status st = check_limit(&max_datagram_bytes, err, err_len);
    if (st != LINK_OK) return st;
    if (link_mac_init(&enc->mac, key) != LINK_OK) {
        errbuf_set(err, err_len, "cannot set up HMAC-SHA256");
        return LINK_ERR_CRYPTO;
    }
    enc->link_id = link_id;
    enc->session_id = session_id;
    enc->next_sequence = 1;
    enc->max_datagram_bytes = max_datagram_bytes;
    return LINK_OK;
}

void link_encoder_clear(struct link_encoder *enc)
{
    link_mac_clear(&enc->mac);
}

/* Writes the header for a payload of payload_len bytes already at
 * out[LINK_HEADER_BYTES..], appends the MAC, assigns the sequence number. */
static enum link_status seal(struct link_encoder *enc, enum link_type type, int64_t sent_ns,
                             uint8_t *out, size_t payload_len, size_t *out_len, char *err,
                             size_t err_len)
{
    out[OFF_MAGIC] = MAGIC0;
    out[OFF_MAGIC + 1] = MAGIC1;
    out[OFF_VERSION] = LINK_VERSION;
    out[OFF_TYPE] = (uint8_t)type;
    put_u32le(out + OFF_LINK_ID, enc->link_id);
    put_u64le(out + OFF_SESSION, enc->session_id);
    put_u64le(out + OFF_SEQUENCE, enc->next_sequence);
    put_u64le(out + OFF_SENT_NS, (uint64_t)sent_ns);
    put_u32le(out + OFF_PAYLOAD_LEN, (uint32_t)payload_len);
    size_t body = LINK_HEADER_BYTES + payload_len;
    if (link_mac_compute(&enc->mac, out, body, out + body) != LINK_OK) {
        errbuf_set(err, err_len, "HMAC-SHA256 failed");
        return LINK_ERR_CRYPTO;
    }
    enc->next_sequence++;
    enc->datagrams_sent++;
    *out_len = body + LINK_MAC_BYTES;
    return LINK_OK;
}

/* The limit for one datagram written into a buffer of out_cap bytes. */
static enum link_status datagram_room(const struct link_encoder *enc, const uint8_t *out,
                                      size_t out_cap, size_t *room, char *err, size_t err_len)
{
    if (!out || out_cap < enc->max_datagram_bytes) {
        errbuf_set(err, err_len, "output buffer of %zu bytes, %zu needed", out_cap,
                   enc->max_datagram_bytes);
        return LINK_ERR_ARGUMENT;
    }
    *room = enc->max_datagram_bytes;
    return LINK_OK;
}

/* Encoded size of a sample after one with prev_ts and prev_quality; 0 when
 * its value type is unknown or a string has no bytes behind it. */
static size_t sample_size(const struct sample *s, int64_t prev_ts, quality_t prev_quality)
{
    size_t n = 1 + uvarint_len(s->tag_id) +
               uvarint_len(zigzag((int64_t)((uint64_t)s->ts_ns - (uint64_t)prev_ts)));
    if (s->quality != prev_quality) n += 4;
    switch (s->value.type) {
    case VALUE_BOOL:
        return n + 1;
    case VALUE_INT64:
        return n + uvarint_len(zigzag(s->value.as.i64));
    case VALUE_UINT64:
        return n + uvarint_len(s->value.as.u64);
    case VALUE_DOUBLE:
        return n + 8;
    case VALUE_STRING:
        if (s->value.as.str.len > 0 && !s->value.as.str.ptr) return 0;
        return n + uvarint_len(s->value.as.str.len) + s->value.as.str.len;
    }
    return 0;
}

static uint8_t *put_sample(uint8_t *p, const struct sample *s, int64_t prev_ts,
                           quality_t prev_quality)
{
    bool quality_changed = s->quality != prev_quality;
    *p++ = (uint8_t)((unsigned)s->value.type | (quality_changed ? SAMPLE_QUALITY_FLAG : 0));
    p = put_uvarint_fast(p, s->tag_id);
    p = put_uvarint_fast(p, zigzag((int64_t)((uint64_t)s->ts_ns - (uint64_t)prev_ts)));
    if (quality_changed) {
        put_u32le(p, s->quality);
        p += 4;
    }
    switch (s->value.type) {
    case VALUE_BOOL:
        *p++ = s->value.as.b ? 1 : 0;
        break;
    case VALUE_INT64:
        p = put_uvarint_fast(p, zigzag(s->value.as.i64));
        break;
    case VALUE_UINT64:
        p = put_uvarint_fast(p, s->value.as.u64);
        break;
    case VALUE_DOUBLE:
        put_f64le(p, s->value.as.f64);
        p += 8;
        break;
    case VALUE_STRING:
        p = put_uvarint_fast(p, s->value.as.str.len);
        if (s->value.as.str.len) memcpy(p, s->value.as.str.ptr, s->value.as.str.len);
        p += s->value.as.str.len;
        break;
    }
    return p;
}

enum link_status link_encode_data(struct link_encoder *enc, const struct sample *samples, size_t n,
                                  int64_t sent_ns, uint8_t *out, size_t out_cap, size_t *out_len,
                                  size_t *taken, char *err, size_t err_len)
{
    *taken = 0;
    *out_len = 0;
    size_t room;
    enum link_status st = datagram_room(enc, out, out_cap, &room, err, err_len);
    if (st != LINK_OK) return st;
    if (n == 0 || !samples) {
        errbuf_set(err, err_len, "no samples to encode");
        return LINK_ERR_ARGUMENT;
    }
    const size_t end = room - LINK_MAC_BYTES;
    size_t pos = LINK_HEADER_BYTES + DATA_PREFIX_BYTES;
    int64_t prev_ts = sent_ns;
    quality_t prev_quality = QUALITY_GOOD;
    size_t count = 0;
    while (count < n && count < MAX_PER_DATAGRAM) {
        const struct sample *s = &samples[count];
        size_t size = sample_size(s, prev_ts, prev_quality);
        if (size == 0) {
            errbuf_set(err, err_len, "sample %zu (tag %u): invalid value (type %d)", count,
                       s->tag_id, (int)s->value.type);
            return LINK_ERR_ARGUMENT;
        }
        if (size > end - pos) break;
        pos = (size_t)(put_sample(out + pos, s, prev_ts, prev_quality) - out);
        prev_ts = s->ts_ns;
        prev_quality = s->quality;
        count++;
    }
    if (count == 0) {
        errbuf_set(err, err_len,
                   "sample of tag %u needs %zu bytes, a DATA datagram of %zu bytes holds %zu",
                   samples[0].tag_id, sample_size(&samples[0], sent_ns, QUALITY_GOOD), room,
                   end - LINK_HEADER_BYTES - DATA_PREFIX_BYTES);
        return LINK_ERR_TOO_LARGE;
    }
    out[LINK_HEADER_BYTES] = (uint8_t)count;
    out[LINK_HEADER_BYTES + 1] = (uint8_t)(count >> 8);
    st = seal(enc, LINK_DATA, sent_ns, out, pos - LINK_HEADER_BYTES, out_len, err, err_len);
    if (st != LINK_OK) return st;
    enc->samples_sent += count;
    *taken = count;
    return LINK_OK;
}

enum link_status link_encode_data_all(struct link_encoder *enc, const struct sample *samples,
                                      size_t n, int64_t sent_ns, link_emit_fn emit, void *ctx,
                                      char *err, size_t err_len)
{
    uint8_t *buf = malloc(enc->max_datagram_bytes);
    if (!buf) {
        errbuf_set(err, err_len, "out of memory");
        return LINK_ERR_NO_MEMORY;
    }
    enum link_status st = LINK_OK;
    size_t done = 0;
    while (done < n) {
        size_t len, taken;
        st = link_encode_data(enc, samples + done, n - done, sent_ns, buf, enc->max_datagram_bytes,
                              &len, &taken, err, err_len);
        if (st != LINK_OK) break;
        if (!emit(ctx, buf, len)) {
            errbuf_set(err, err_len, "stopped by the caller after %zu samples", done + taken);
            st = LINK_ERR_ARGUMENT;
            break;
        }
        done += taken;
    }
    free(buf);
    return st;
}

/* Encoded size of a BIRTH entry; 0 when it cannot be encoded. */
static size_t birth_entry_size(const struct link_birth_tag *t)
{
    if (t->path_len == 0 || t->path_len > LINK_NAME_MAX_BYTES || !t->path) return 0;
    if (t->unit_len > LINK_NAME_MAX_BYTES || (t->unit_len && !t->unit)) return 0;
    if ((unsigned)t->type > VALUE_STRING) return 0;
    return uvarint_len(t->id) + 1 + 1 + t->path_len + 1 + t->unit_len;
}

/* How many entries from tags[start..n) fit one BIRTH datagram of room bytes. */
static size_t birth_fit(const struct link_birth_tag *tags, size_t start, size_t n, size_t room)
{
    size_t pos = LINK_HEADER_BYTES + BIRTH_PREFIX_BYTES, end = room - LINK_MAC_BYTES, k = start;
    while (k < n && k - start < MAX_PER_DATAGRAM) {
        size_t size = birth_entry_size(&tags[k]);
        if (size > end - pos) break;
        pos += size;
        k++;
    }
    return k - start;
}

static uint8_t *put_birth_entry(uint8_t *p, const struct link_birth_tag *t)
{
    p = put_uvarint_fast(p, t->id);
    *p++ = (uint8_t)t->type;
    *p++ = (uint8_t)t->path_len;
    memcpy(p, t->path, t->path_len);
    p += t->path_len;
    *p++ = (uint8_t)t->unit_len;
    if (t->unit_len) memcpy(p, t->unit, t->unit_len);
    return p + t->unit_len;
}

enum link_status link_encode_birth(struct link_encoder *enc, const struct link_birth_tag *tags,
                                   size_t n, uint32_t epoch, int64_t sent_ns, link_emit_fn emit,
                                   void *ctx, char *err, size_t err_len)
{
    if (n > UINT32_MAX || (n && !tags)) {
        errbuf_set(err, err_len, "tag table of %zu entries", n);
        return LINK_ERR_ARGUMENT;
    }
    for (size_t i = 0; i < n; i++) {
        if (birth_entry_size(&tags[i]) == 0) {
            errbuf_set(err, err_len,
                       "tag %u: path of %u bytes (1..%d), unit of %u bytes (0..%d) or type %d "
                       "cannot be sent",
                       tags[i].id, tags[i].path_len, LINK_NAME_MAX_BYTES, tags[i].unit_len,
                       LINK_NAME_MAX_BYTES, (int)tags[i].type);
            return LINK_ERR_TOO_LARGE;
        }
    }
    const size_t room = enc->max_datagram_bytes;
    size_t parts = 0;
    for (size_t start = 0; start < n; start += birth_fit(tags, start, n, room))
        parts++;
    if (parts == 0) parts = 1;
    if (parts > BIRTH_MAX_PARTS) {
        errbuf_set(err, err_len, "tag table needs %zu BIRTH datagrams, at most %u", parts,
                   BIRTH_MAX_PARTS);
        return LINK_ERR_TOO_LARGE;
    }
    uint8_t *buf = malloc(room);
    if (!buf) {
        errbuf_set(err, err_len, "out of memory");
        return LINK_ERR_NO_MEMORY;
    }
    enum link_status st = LINK_OK;
    size_t start = 0;
    for (size_t part = 0; part < parts && st == LINK_OK; part++) {
        size_t count = birth_fit(tags, start, n, room);
        uint8_t *p = buf + LINK_HEADER_BYTES;
        put_u32le(p, epoch);
        put_u32le(p + 4, (uint32_t)n);
        p[8] = (uint8_t)part;
        p[9] = (uint8_t)(part >> 8);
        p[10] = (uint8_t)parts;
        p[11] = (uint8_t)(parts >> 8);
        p[12] = (uint8_t)count;
        p[13] = (uint8_t)(count >> 8);
        p += BIRTH_PREFIX_BYTES;
        for (size_t i = start; i < start + count; i++)
            p = put_birth_entry(p, &tags[i]);
        size_t len;
        st = seal(enc, LINK_BIRTH, sent_ns, buf, (size_t)(p - buf) - LINK_HEADER_BYTES, &len, err,
                  err_len);
        if (st == LINK_OK && !emit(ctx, buf, len)) {
            errbuf_set(err, err_len, "stopped by the caller at part %zu", part);
            st = LINK_ERR_ARGUMENT;
        }
        start += count;
    }
    free(buf);
    return st;
}

enum link_status link_encode_heartbeat(struct link_encoder *enc, uint32_t epoch, uint32_t tag_count,
                                       int64_t sent_ns, uint8_t *out, size_t out_cap,
                                       size_t *out_len, char *err, size_t err_len)
{
    *out_len = 0;
    size_t room;
    enum link_status st = datagram_room(enc, out, out_cap, &room, err, err_len);
    if (st != LINK_OK) return st;
    uint8_t *p = out + LINK_HEADER_BYTES;
    put_u32le(p, epoch);
    put_u32le(p + 4, tag_count);
    put_u64le(p + 8, enc->datagrams_sent);
    put_u64le(p + 16, enc->samples_sent);
    return seal(enc, LINK_HEARTBEAT, sent_ns, out, HEARTBEAT_PAYLOAD_BYTES, out_len, err, err_len);
}

/* ---- DEVICES ------------------------------------------------------------------- */

static void put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void link_device_from_stats(struct device_stats *s, struct link_device *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%.*s", (int)strnlen(s->name, sizeof s->name), s->name);
    snprintf(out->protocol, sizeof out->protocol, "%.*s",
             (int)strnlen(s->protocol, sizeof s->protocol), s->protocol);
    snprintf(out->endpoint, sizeof out->endpoint, "%.*s",
             (int)strnlen(s->endpoint, sizeof s->endpoint), s->endpoint);
    device_stats_get_error(s, out->last_error, sizeof out->last_error);
    int state = atomic_load(&s->state);
    out->state = state < 0 || state > DEVICE_STOPPED ? DEVICE_STOPPED : (uint8_t)state;
    out->polls = atomic_load(&s->polls);
    out->requests = atomic_load(&s->requests);
    out->errors = atomic_load(&s->errors);
    out->exceptions = atomic_load(&s->exceptions);
    out->timeouts = atomic_load(&s->timeouts);
    out->reconnects = atomic_load(&s->reconnects);
    out->values = atomic_load(&s->values);
    out->skipped_polls = atomic_load(&s->skipped_polls);
    out->latency_count = atomic_load(&s->latency_count);
    out->latency_sum_us = atomic_load(&s->latency_sum_us);
    for (int i = 0; i < LINK_DEVICE_BUCKETS; i++)
        out->latency_bucket[i] = atomic_load(&s->latency_bucket[i]);
    out->last_success_ns = atomic_load(&s->last_success_ns);
    out->last_error_ns = atomic_load(&s->last_error_ns);
}

/* The ten counters in wire order. */
static void device_counters(const struct link_device *d, uint64_t out[DEVICE_COUNTERS])
{
    const uint64_t c[DEVICE_COUNTERS] = {
        d->polls,      d->requests, d->errors,        d->exceptions,    d->timeouts,
        d->reconnects, d->values,   d->skipped_polls, d->latency_count, d->latency_sum_us};
    memcpy(out, c, sizeof c);
}

static bool text_printable(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)p[i] < 0x20 || (uint8_t)p[i] == 0x7F) return false;
    return true;
}

/* The entry's text lengths, or false when it cannot be encoded. */
static bool device_texts(const struct link_device *d, size_t len[4])
{
    len[0] = strnlen(d->name, sizeof d->name);
    len[1] = strnlen(d->protocol, sizeof d->protocol);
    len[2] = strnlen(d->endpoint, sizeof d->endpoint);
    len[3] = strnlen(d->last_error, sizeof d->last_error);
    return len[0] > 0 && len[0] < sizeof d->name && len[1] < sizeof d->protocol &&
           len[2] < sizeof d->endpoint && len[3] < sizeof d->last_error &&
           text_printable(d->name, len[0]) && text_printable(d->protocol, len[1]) &&
           text_printable(d->endpoint, len[2]) && d->state <= DEVICE_STOPPED;
}

/* Encoded size of an entry whose last error is error_len bytes long. */
static size_t device_entry_size(const struct link_device *d, const size_t len[4], size_t error_len)
{
    uint64_t c[DEVICE_COUNTERS];
    device_counters(d, c);
    size_t n = 3 + len[0] + len[1] + len[2] + 1 + 1 + 1 + error_len;
    for (int i = 0; i < DEVICE_COUNTERS; i++)
        n += uvarint_len(c[i]);
    for (int i = 0; i < LINK_DEVICE_BUCKETS; i++)
        n += uvarint_len(d->latency_bucket[i]);
    return n + uvarint_len(zigzag(d->last_success_ns)) + uvarint_len(zigzag(d->last_error_ns));
}

/* The last error's length once cut so that the entry fits room bytes (at
 * a UTF-8 character boundary). */
static size_t device_error_fit(const struct link_device *d, const size_t len[4], size_t room)
{
    size_t fixed = device_entry_size(d, len, 0);
    size_t keep = len[3];
    if (fixed + keep <= room) return keep;
    keep = room > fixed ? room - fixed : 0;
    while (keep > 0 && ((uint8_t)d->last_error[keep] & 0xC0) == 0x80)
        keep--;
    return keep;
}

static uint8_t *put_text(uint8_t *p, const char *text, size_t len)
{
    *p++ = (uint8_t)len;
    if (len) memcpy(p, text, len);
    return p + len;
}

static uint8_t *put_device_entry(uint8_t *p, const struct link_device *d, const size_t len[4],
                                 size_t error_len)
{
    p = put_text(p, d->name, len[0]);
    p = put_text(p, d->protocol, len[1]);
    p = put_text(p, d->endpoint, len[2]);
    *p++ = d->state;
    uint64_t c[DEVICE_COUNTERS];
    device_counters(d, c);
    for (int i = 0; i < DEVICE_COUNTERS; i++)
        p = put_uvarint_fast(p, c[i]);
    *p++ = LINK_DEVICE_BUCKETS;
    for (int i = 0; i < LINK_DEVICE_BUCKETS; i++)
        p = put_uvarint_fast(p, d->latency_bucket[i]);
    p = put_uvarint_fast(p, zigzag(d->last_success_ns));
    p = put_uvarint_fast(p, zigzag(d->last_error_ns));
    return put_text(p, d->last_error, error_len);
}

/* How many entries from devices[start..n) fit one DEVICES datagram of room
 * bytes (at least one: an entry with its error cut always fits). */
static size_t devices_fit(const struct link_device *devices, size_t start, size_t n, size_t room)
{
    size_t pos = LINK_HEADER_BYTES + DEVICES_PREFIX_BYTES, end = room - LINK_MAC_BYTES;
    size_t k = start, len[4];
    while (k < n) {
        (void)device_texts(&devices[k], len);
        size_t size = k == start ? device_entry_size(&devices[k], len,
                                                     device_error_fit(&devices[k], len, end - pos))
                                 : device_entry_size(&devices[k], len, len[3]);
        if (size > end - pos) break;
        pos += size;
        k++;
    }
    return k - start;
}

enum link_status link_encode_devices(struct link_encoder *enc, const struct link_device *devices,
                                     size_t n, uint32_t snapshot, int64_t sent_ns,
                                     link_emit_fn emit, void *ctx, char *err, size_t err_len)
{
    if (n > LINK_DEVICES_MAX || (n && !devices)) {
        errbuf_set(err, err_len, "device set of %zu entries (at most %u)", n, LINK_DEVICES_MAX);
        return LINK_ERR_ARGUMENT;
    }
    size_t len[4];
    for (size_t i = 0; i < n; i++) {
        if (!device_texts(&devices[i], len)) {
            errbuf_set(err, err_len,
                       "device %zu: empty name, control character, text without its end or "
                       "state %u cannot be sent",
                       i, devices[i].state);
            return LINK_ERR_ARGUMENT;
        }
    }
    const size_t room = enc->max_datagram_bytes;
    size_t parts = 0;
    for (size_t start = 0, k; start < n; start += k) {
        k = devices_fit(devices, start, n, room);
        if (k == 0) { /* cannot happen: LINK_MIN_DATAGRAM_BYTES leaves room */
            errbuf_set(err, err_len, "device %zu does not fit a datagram", start);
            return LINK_ERR_TOO_LARGE;
        }
        parts++;
    }
    if (parts == 0) parts = 1;
    uint8_t *buf = malloc(room);
    if (!buf) {
        errbuf_set(err, err_len, "out of memory");
        return LINK_ERR_NO_MEMORY;
    }
    enum link_status st = LINK_OK;
    size_t start = 0;
    for (size_t part = 0; part < parts && st == LINK_OK; part++) {
        size_t count = devices_fit(devices, start, n, room);
        uint8_t *p = buf + LINK_HEADER_BYTES;
        put_u32le(p, snapshot);
        put_u16le(p + 4, (uint16_t)n);
        put_u16le(p + 6, (uint16_t)part);
        put_u16le(p + 8, (uint16_t)parts);
        put_u16le(p + 10, (uint16_t)start);
        put_u16le(p + 12, (uint16_t)count);
        p += DEVICES_PREFIX_BYTES;
        const size_t end = room - LINK_MAC_BYTES;
        for (size_t i = start; i < start + count; i++) {
            (void)device_texts(&devices[i], len);
            size_t error_len =
                i == start ? device_error_fit(&devices[i], len, end - (size_t)(p - buf)) : len[3];
            p = put_device_entry(p, &devices[i], len, error_len);
        }
        size_t out_len;
        st = seal(enc, LINK_DEVICES, sent_ns, buf, (size_t)(p - buf) - LINK_HEADER_BYTES, &out_len,
                  err, err_len);
        if (st == LINK_OK && !emit(ctx, buf, out_len)) {
            errbuf_set(err, err_len, "stopped by the caller at part %zu", part);
            st = LINK_ERR_ARGUMENT;
        }
        start += count;
    }
    free(buf);
    return st;
}

/* ---- Decoder ------------------------------------------------------------------- */

enum link_status link_decoder_init(struct link_decoder *dec, const uint8_t key[LINK_KEY_BYTES],
                                   uint32_t link_id, size_t max_datagram_bytes, char *err,
                                   size_t err_len)
{
    memset(dec, 0, sizeof *dec);
    enum link_status st = check_limit(&max_datagram_bytes, err, err_len);
    if (st != LINK_OK) return st;
    size_t payload = max_datagram_bytes - LINK_OVERHEAD_BYTES;
    size_t samples = (payload - DATA_PREFIX_BYTES) / SAMPLE_MIN_BYTES;
    size_t tags = (payload - BIRTH_PREFIX_BYTES) / BIRTH_ENTRY_MIN_BYTES;
    size_t devices = (payload - DEVICES_PREFIX_BYTES) / DEVICE_ENTRY_MIN_BYTES;
    dec->samples = calloc(samples, sizeof *dec->samples);
    dec->tags = calloc(tags, sizeof *dec->tags);
    dec->devices = calloc(devices, sizeof *dec->devices);
    if (!dec->samples || !dec->tags || !dec->devices) {
        link_decoder_clear(dec);
        errbuf_set(err, err_len, "out of memory");
        return LINK_ERR_NO_MEMORY;
    }
    if (link_mac_init(&dec->mac, key) != LINK_OK) {
        link_decoder_clear(dec);
        errbuf_set(err, err_len, "cannot set up HMAC-SHA256");
        return LINK_ERR_CRYPTO;
    }
    dec->samples_cap = (uint32_t)samples;
    dec->tags_cap = (uint32_t)tags;
    dec->devices_cap = (uint32_t)devices;
    dec->link_id = link_id;
    dec->max_datagram_bytes = max_datagram_bytes;
    return LINK_OK;
}

void link_decoder_clear(struct link_decoder *dec)
{
    link_mac_clear(&dec->mac);
    free(dec->samples);
    free(dec->tags);
    free(dec->devices);
    dec->samples = NULL;
    dec->tags = NULL;
    dec->devices = NULL;
    dec->samples_cap = dec->tags_cap = dec->devices_cap = 0;
}

/* A bounds-checked reader over the payload; offsets in messages are from the
 * start of the datagram. The first failure writes err and sticks. */
struct rd {
    const uint8_t *buf;
    size_t pos, end;
    bool failed;
    char *err;
    size_t err_len;
};

static bool rd_fail(struct rd *r, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool rd_fail(struct rd *r, size_t at, const char *fmt, ...)
{
    if (r->failed) return false;
    r->failed = true;
    if (r->err && r->err_len) {
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        errbuf_set(r->err, r->err_len, "%s at offset %zu", what, at);
    }
    return false;
}

static bool rd_need(struct rd *r, size_t n, const char *what)
{
    if (r->failed) return false;
    if (n > r->end - r->pos)
        return rd_fail(r, r->pos, "%s truncated (%zu bytes needed, %zu left)", what, n,
                       r->end - r->pos);
    return true;
}

static bool rd_u8(struct rd *r, uint8_t *v, const char *what)
{
    if (!rd_need(r, 1, what)) return false;
    *v = r->buf[r->pos++];
    return true;
}

static bool rd_u16(struct rd *r, uint16_t *v, const char *what)
{
    if (!rd_need(r, 2, what)) return false;
    *v = (uint16_t)(r->buf[r->pos] | r->buf[r->pos + 1] << 8);
    r->pos += 2;
    return true;
}

static bool rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    if (!rd_need(r, 4, what)) return false;
    *v = get_u32le(r->buf + r->pos);
    r->pos += 4;
    return true;
}

static bool rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    if (!rd_need(r, 8, what)) return false;
    *v = get_u64le(r->buf + r->pos);
    r->pos += 8;
    return true;
}

/* A LEB128 varint in its shortest form, at most 64 bits. */
static bool rd_uvarint(struct rd *r, uint64_t *v, const char *what)
{
    if (r->failed) return false;
    size_t start = r->pos;
    uint64_t x = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (r->pos >= r->end)
            return rd_fail(r, start, "%s varint truncated (%zu bytes left)", what, r->end - start);
        uint8_t b = r->buf[r->pos++];
        if (shift == 63 && b > 1) return rd_fail(r, start, "%s varint exceeds 64 bits", what);
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0)
                return rd_fail(r, start, "%s varint not in its shortest form", what);
            break;
        }
    }
    *v = x;
    return true;
}

static bool rd_u32_varint(struct rd *r, uint32_t *v, const char *what)
{
    size_t start = r->pos;
    uint64_t x;
    if (!rd_uvarint(r, &x, what)) return false;
    if (x > UINT32_MAX)
        return rd_fail(r, start, "%s %llu exceeds 32 bits", what, (unsigned long long)x);
    *v = (uint32_t)x;
    return true;
}

static bool decode_sample(struct rd *r, uint32_t index, struct sample *s, int64_t *prev_ts,
                          quality_t *prev_quality)
{
    size_t at = r->pos;
    uint8_t flags;
    if (!rd_u8(r, &flags, "sample flags")) return false;
    if (flags & SAMPLE_RESERVED_MASK)
        return rd_fail(r, at, "sample %u: reserved flag bits 0x%02x set", index, flags);
    unsigned type = flags & SAMPLE_TYPE_MASK;
    if (type > VALUE_STRING) return rd_fail(r, at, "sample %u: unknown value type %u", index, type);
    uint64_t delta;
    if (!rd_u32_varint(r, &s->tag_id, "sample tag id") || !rd_uvarint(r, &delta, "sample ts delta"))
        return false;
    s->ts_ns = (int64_t)((uint64_t)*prev_ts + (uint64_t)unzigzag(delta));
    s->quality = *prev_quality;
    if (flags & SAMPLE_QUALITY_FLAG) {
        size_t q_at = r->pos;
        if (!rd_u32(r, &s->quality, "sample quality")) return false;
        if (s->quality == *prev_quality)
            return rd_fail(r, q_at, "sample %u: quality present but unchanged", index);
    }
    s->value.type = (enum value_type)type;
    size_t v_at = r->pos;
    switch (s->value.type) {
    case VALUE_BOOL: {
        uint8_t b;
        if (!rd_u8(r, &b, "bool value")) return false;
        if (b > 1) return rd_fail(r, v_at, "sample %u: bool value %u", index, b);
        s->value.as.b = b == 1;
        break;
    }
    case VALUE_INT64: {
        uint64_t u;
        if (!rd_uvarint(r, &u, "int64 value")) return false;
        s->value.as.i64 = unzigzag(u);
        break;
    }
    case VALUE_UINT64:
        if (!rd_uvarint(r, &s->value.as.u64, "uint64 value")) return false;
        break;
    case VALUE_DOUBLE:
        if (!rd_need(r, 8, "double value")) return false;
        s->value.as.f64 = get_f64le(r->buf + r->pos);
        r->pos += 8;
        break;
    case VALUE_STRING: {
        uint64_t len;
        if (!rd_uvarint(r, &len, "string length")) return false;
        if (len > r->end - r->pos)
            return rd_fail(r, v_at, "sample %u: string of %llu bytes, %zu left", index,
                           (unsigned long long)len, r->end - r->pos);
        s->value.as.str.ptr = (const char *)r->buf + r->pos;
        s->value.as.str.len = (uint32_t)len;
        r->pos += (size_t)len;
        break;
    }
    }
    *prev_ts = s->ts_ns;
    *prev_quality = s->quality;
    return true;
}

static enum link_status decode_data(struct link_decoder *dec, struct rd *r,
                                    struct link_datagram *out)
{
    size_t at = r->pos;
    uint16_t count;
    if (!rd_u16(r, &count, "DATA sample count")) return LINK_ERR_MALFORMED;
    if (count == 0) {
        rd_fail(r, at, "DATA without samples");
        return LINK_ERR_MALFORMED;
    }
    if ((size_t)count * SAMPLE_MIN_BYTES > r->end - r->pos || count > dec->samples_cap) {
        rd_fail(r, at, "DATA claims %u samples, %zu bytes left", count, r->end - r->pos);
        return LINK_ERR_MALFORMED;
    }
    int64_t prev_ts = out->header.sent_ns;
    quality_t prev_quality = QUALITY_GOOD;
    for (uint32_t i = 0; i < count; i++)
        if (!decode_sample(r, i, &dec->samples[i], &prev_ts, &prev_quality))
            return LINK_ERR_MALFORMED;
    out->samples = dec->samples;
    out->sample_count = count;
    return LINK_OK;
}

static bool unit_bytes_valid(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] == 0x7F) return false;
    return true;
}

static bool decode_birth_entry(struct rd *r, uint32_t index, struct link_birth_tag *t)
{
    size_t at = r->pos;
    uint8_t type, path_len, unit_len;
    if (!rd_u32_varint(r, &t->id, "BIRTH tag id") || !rd_u8(r, &type, "BIRTH value type"))
        return false;
    if (type > VALUE_STRING)
        return rd_fail(r, r->pos - 1, "BIRTH entry %u: unknown value type %u", index, type);
    t->type = (enum value_type)type;
    if (!rd_u8(r, &path_len, "BIRTH path length") || !rd_need(r, path_len, "BIRTH path"))
        return false;
    char path[LINK_NAME_MAX_BYTES + 1], why[128];
    memcpy(path, r->buf + r->pos, path_len);
    path[path_len] = '\0';
    if (memchr(path, '\0', path_len) || !tag_path_valid(path, why, sizeof why))
        return rd_fail(r, at, "BIRTH entry %u: invalid path (%s)", index,
                       memchr(path, '\0', path_len) ? "NUL byte" : why);
    t->path = (const char *)r->buf + r->pos;
    t->path_len = path_len;
    r->pos += path_len;
    if (!rd_u8(r, &unit_len, "BIRTH unit length") || !rd_need(r, unit_len, "BIRTH unit"))
        return false;
    if (!unit_bytes_valid(r->buf + r->pos, unit_len))
        return rd_fail(r, r->pos, "BIRTH entry %u: control character in unit", index);
    t->unit = (const char *)r->buf + r->pos;
    t->unit_len = unit_len;
    r->pos += unit_len;
    return true;
}

static enum link_status decode_birth(struct link_decoder *dec, struct rd *r,
                                     struct link_datagram *out)
{
    size_t at = r->pos;
    struct link_birth_info *b = &out->birth;
    uint16_t count;
    if (!rd_u32(r, &b->epoch, "BIRTH epoch") || !rd_u32(r, &b->tag_total, "BIRTH tag total") ||
        !rd_u16(r, &b->part, "BIRTH part") || !rd_u16(r, &b->parts, "BIRTH parts") ||
        !rd_u16(r, &count, "BIRTH entry count"))
        return LINK_ERR_MALFORMED;
    if (b->parts == 0 || b->part >= b->parts) {
        rd_fail(r, at + 8, "BIRTH part %u of %u", b->part, b->parts);
        return LINK_ERR_MALFORMED;
    }
    if (count > b->tag_total) {
        rd_fail(r, at + 12, "BIRTH part holds %u entries of a table of %u", count, b->tag_total);
        return LINK_ERR_MALFORMED;
    }
    if ((size_t)count * BIRTH_ENTRY_MIN_BYTES > r->end - r->pos || count > dec->tags_cap) {
        rd_fail(r, at + 12, "BIRTH claims %u entries, %zu bytes left", count, r->end - r->pos);
        return LINK_ERR_MALFORMED;
    }
    for (uint32_t i = 0; i < count; i++)
        if (!decode_birth_entry(r, i, &dec->tags[i])) return LINK_ERR_MALFORMED;
    out->tags = dec->tags;
    out->tag_count = count;
    return LINK_OK;
}

/* A text of a DEVICES entry: a length byte (at most max) and the bytes, no
 * NUL and, when printable, no control character; copied NUL-terminated. */
static bool decode_device_text(struct rd *r, uint32_t index, const char *what, size_t max,
                               bool printable, char *out)
{
    size_t at = r->pos;
    uint8_t len;
    if (!rd_u8(r, &len, what)) return false;
    if (len > max)
        return rd_fail(r, at, "DEVICES entry %u: %s of %u bytes, at most %zu", index, what, len,
                       max);
    if (!rd_need(r, len, what)) return false;
    const uint8_t *p = r->buf + r->pos;
    if (memchr(p, '\0', len))
        return rd_fail(r, at, "DEVICES entry %u: NUL byte in %s", index, what);
    if (printable && !unit_bytes_valid(p, len))
        return rd_fail(r, at, "DEVICES entry %u: control character in %s", index, what);
    memcpy(out, p, len);
    out[len] = '\0';
    r->pos += len;
    return true;
}

static bool decode_device_entry(struct rd *r, uint32_t index, struct link_device *d)
{
    memset(d, 0, sizeof *d);
    size_t at = r->pos;
    if (!decode_device_text(r, index, "device name", LINK_DEVICE_NAME_MAX_BYTES, true, d->name))
        return false;
    if (d->name[0] == '\0') return rd_fail(r, at, "DEVICES entry %u: empty device name", index);
    if (!decode_device_text(r, index, "device protocol", LINK_DEVICE_PROTOCOL_MAX_BYTES, true,
                            d->protocol) ||
        !decode_device_text(r, index, "device endpoint", LINK_DEVICE_ENDPOINT_MAX_BYTES, true,
                            d->endpoint))
        return false;
    at = r->pos;
    if (!rd_u8(r, &d->state, "device state")) return false;
    if (d->state > DEVICE_STOPPED)
        return rd_fail(r, at, "DEVICES entry %u: unknown device state %u", index, d->state);
    uint64_t *counters[DEVICE_COUNTERS] = {
        &d->polls,      &d->requests, &d->errors,        &d->exceptions,    &d->timeouts,
        &d->reconnects, &d->values,   &d->skipped_polls, &d->latency_count, &d->latency_sum_us};
    for (int i = 0; i < DEVICE_COUNTERS; i++)
        if (!rd_uvarint(r, counters[i], "device counter")) return false;
    at = r->pos;
    uint8_t buckets;
    if (!rd_u8(r, &buckets, "latency bucket count")) return false;
    if (buckets != LINK_DEVICE_BUCKETS)
        return rd_fail(r, at, "DEVICES entry %u: %u latency buckets, this code has %d", index,
                       buckets, LINK_DEVICE_BUCKETS);
    for (int i = 0; i < LINK_DEVICE_BUCKETS; i++)
        if (!rd_uvarint(r, &d->latency_bucket[i], "latency bucket")) return false;
    uint64_t success, error;
    if (!rd_uvarint(r, &success, "last success time") || !rd_uvarint(r, &error, "last error time"))
        return false;
    d->last_success_ns = unzigzag(success);
    d->last_error_ns = unzigzag(error);
    return decode_device_text(r, index, "last error", LINK_DEVICE_ERROR_MAX_BYTES, false,
                              d->last_error);
}

static enum link_status decode_devices(struct link_decoder *dec, struct rd *r,
                                       struct link_datagram *out)
{
    size_t at = r->pos;
    struct link_devices_info *v = &out->devices_info;
    uint16_t count;
    if (!rd_u32(r, &v->snapshot, "DEVICES snapshot") ||
        !rd_u16(r, &v->device_total, "DEVICES device total") ||
        !rd_u16(r, &v->part, "DEVICES part") || !rd_u16(r, &v->parts, "DEVICES parts") ||
        !rd_u16(r, &v->first, "DEVICES first entry") || !rd_u16(r, &count, "DEVICES entry count"))
        return LINK_ERR_MALFORMED;
    if (v->parts == 0 || v->part >= v->parts) {
        rd_fail(r, at + 6, "DEVICES part %u of %u", v->part, v->parts);
        return LINK_ERR_MALFORMED;
    }
    if ((uint32_t)v->first + count > v->device_total || (count == 0 && v->device_total != 0)) {
        rd_fail(r, at + 10, "DEVICES entries %u..%u+%u of a set of %u", v->first, v->first, count,
                v->device_total);
        return LINK_ERR_MALFORMED;
    }
    if ((size_t)count * DEVICE_ENTRY_MIN_BYTES > r->end - r->pos || count > dec->devices_cap) {
        rd_fail(r, at + 12, "DEVICES claims %u entries, %zu bytes left", count, r->end - r->pos);
        return LINK_ERR_MALFORMED;
    }
    for (uint32_t i = 0; i < count; i++)
        if (!decode_device_entry(r, i, &dec->devices[i])) return LINK_ERR_MALFORMED;
    out->devices = dec->devices;
    out->device_count = count;
    return LINK_OK;
}

static enum link_status decode_heartbeat(struct rd *r, struct link_datagram *out)
{
    struct link_heartbeat *h = &out->heartbeat;
    if (!rd_u32(r, &h->epoch, "HEARTBEAT epoch") ||
        !rd_u32(r, &h->tag_count, "HEARTBEAT tag count") ||
        !rd_u64(r, &h->datagrams_sent, "HEARTBEAT datagrams sent") ||
        !rd_u64(r, &h->samples_sent, "HEARTBEAT samples sent"))
        return LINK_ERR_MALFORMED;
    return LINK_OK;
}

enum link_status link_decode(struct link_decoder *dec, const uint8_t *buf, size_t len,
                             struct link_datagram *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!buf || len < LINK_OVERHEAD_BYTES || len > dec->max_datagram_bytes) {
        errbuf_set(err, err_len, "datagram of %zu bytes, expected %d..%zu", buf ? len : 0,
                   LINK_OVERHEAD_BYTES, dec->max_datagram_bytes);
        return LINK_ERR_SIZE;
    }
    /* Authenticate first: nothing else is read from an unauthenticated datagram. */
    const size_t body = len - LINK_MAC_BYTES;
    uint8_t want[LINK_MAC_BYTES];
    if (link_mac_compute(&dec->mac, buf, body, want) != LINK_OK) {
        errbuf_set(err, err_len, "HMAC-SHA256 failed");
        return LINK_ERR_CRYPTO;
    }
    if (CRYPTO_memcmp(want, buf + body, LINK_MAC_BYTES) != 0) {
        errbuf_set(err, err_len, "HMAC mismatch over bytes 0..%zu (wrong key or altered)", body);
        return LINK_ERR_MAC;
    }

    struct link_header *h = &out->header;
    if (buf[OFF_MAGIC] != MAGIC0 || buf[OFF_MAGIC + 1] != MAGIC1) {
        errbuf_set(err, err_len, "bad magic 0x%02x%02x at offset 0", buf[0], buf[1]);
        return LINK_ERR_MAGIC;
    }
    h->version = buf[OFF_VERSION];
    if (h->version != LINK_VERSION) {
        errbuf_set(err, err_len, "version %u at offset %d, this code speaks %d", h->version,
                   OFF_VERSION, LINK_VERSION);
        return LINK_ERR_VERSION;
    }
    uint8_t type = buf[OFF_TYPE];
    if (type < LINK_BIRTH || type > LINK_DEVICES) {
        errbuf_set(err, err_len, "unknown datagram type %u at offset %d", type, OFF_TYPE);
        return LINK_ERR_TYPE;
    }
    h->type = (enum link_type)type;
    h->link_id = get_u32le(buf + OFF_LINK_ID);
    if (h->link_id != dec->link_id) {
        errbuf_set(err, err_len, "link id %u at offset %d, this receiver is link %u", h->link_id,
                   OFF_LINK_ID, dec->link_id);
        return LINK_ERR_LINK_ID;
    }
    h->session_id = get_u64le(buf + OFF_SESSION);
    h->sequence = get_u64le(buf + OFF_SEQUENCE);
    h->sent_ns = (int64_t)get_u64le(buf + OFF_SENT_NS);
    h->payload_bytes = get_u32le(buf + OFF_PAYLOAD_LEN);
    if (h->payload_bytes != body - LINK_HEADER_BYTES) {
        errbuf_set(err, err_len, "payload length %u at offset %d, the datagram holds %zu",
                   h->payload_bytes, OFF_PAYLOAD_LEN, body - LINK_HEADER_BYTES);
        return LINK_ERR_MALFORMED;
    }

    struct rd r = {
        .buf = buf, .pos = LINK_HEADER_BYTES, .end = body, .err = err, .err_len = err_len};
    enum link_status st = LINK_ERR_TYPE;
    switch (h->type) {
    case LINK_DATA:
        st = decode_data(dec, &r, out);
        break;
    case LINK_BIRTH:
        st = decode_birth(dec, &r, out);
        break;
    case LINK_HEARTBEAT:
        st = decode_heartbeat(&r, out);
        break;
    case LINK_DEVICES:
        st = decode_devices(dec, &r, out);
        break;
    }
    if (st == LINK_OK && r.pos != r.end) {
        rd_fail(&r, r.pos, "%zu bytes after the last field", r.end - r.pos);
        st = LINK_ERR_MALFORMED;
    }
    return st;
}

/* ---- Receiver window ----------------------------------------------------------- */

const char *link_rx_verdict_name(enum link_rx_verdict v)
{
    switch (v) {
    case LINK_RX_FIRST:
        return "first";
    case LINK_RX_NEW:
        return "new";
    case LINK_RX_REORDERED:
        return "reordered";
    case LINK_RX_RESTART:
        return "restart";
    case LINK_RX_DUPLICATE:
        return "duplicate";
    case LINK_RX_STALE:
        return "stale";
    }
    return "unknown";
}

void link_rx_init(struct link_rx_window *rx, link_rx_lost_fn on_lost, void *ctx)
{
    memset(rx, 0, sizeof *rx);
    rx->on_lost = on_lost;
    rx->on_lost_ctx = ctx;
}

static bool rx_seen(const struct link_rx_window *rx, uint64_t seq)
{
    unsigned i = (unsigned)(seq % LINK_RX_WINDOW);
    return rx->seen[i / 64] >> (i % 64) & 1;
}

static void rx_mark(struct link_rx_window *rx, uint64_t seq, bool seen)
{
    unsigned i = (unsigned)(seq % LINK_RX_WINDOW);
    uint64_t bit = UINT64_C(1) << (i % 64);
    if (seen)
        rx->seen[i / 64] |= bit;
    else
        rx->seen[i / 64] &= ~bit;
}

/* Reports the pending run of lost numbers, if any. */
static void rx_settle(struct link_rx_window *rx)
{
    if (!rx->pending) return;
    rx->pending = false;
    rx->lost += rx->pending_last - rx->pending_first + 1;
    if (rx->on_lost)
        rx->on_lost(rx->on_lost_ctx, rx->session_id, rx->pending_first, rx->pending_last);
}

/* Numbers first..last (increasing across calls) are lost: extends the
 * pending run or starts a new one. */
static void rx_lose(struct link_rx_window *rx, uint64_t first, uint64_t last)
{
    if (rx->pending && rx->pending_last + 1 == first) {
        rx->pending_last = last;
        return;
    }
    rx_settle(rx);
    rx->pending = true;
    rx->pending_first = first;
    rx->pending_last = last;
}

/* Numbers [first, last] leave the window: the missing ones are lost. */
static void rx_retire(struct link_rx_window *rx, uint64_t first, uint64_t last)
{
    if (first < rx->low_mark) first = rx->low_mark;
    for (uint64_t s = first; s <= last && s >= first; s++) {
        if (rx_seen(rx, s))
            rx_settle(rx);
        else
            rx_lose(rx, s, s);
        if (s == UINT64_MAX) break;
    }
}

/* Moves the highest number from rx->highest to seq (> rx->highest). */
static void rx_advance(struct link_rx_window *rx, uint64_t seq)
{
    const uint64_t h = rx->highest, w = LINK_RX_WINDOW;
    /* After the move the window is (seq - w, seq]: numbers at or below
     * seq - w leave it (or never enter it). */
    if (seq >= w) {
        uint64_t out_last = seq - w;
        uint64_t old_first = h >= w - 1 ? h - (w - 1) : 0;
        if (old_first <= h && old_first <= out_last)
            rx_retire(rx, old_first, out_last < h ? out_last : h);
        if (out_last > h) rx_lose(rx, h + 1, out_last);
    }
    uint64_t in_first = seq >= w && seq - w + 1 > h + 1 ? seq - w + 1 : h + 1;
    for (uint64_t s = in_first; s < seq; s++)
        rx_mark(rx, s, false);
    rx_mark(rx, seq, true);
    rx->highest = seq;
}

static void rx_start(struct link_rx_window *rx, uint64_t session_id, uint64_t seq)
{
    rx->started = true;
    rx->session_id = session_id;
    rx->low_mark = seq;
    rx->highest = seq;
    rx->pending = false;
    memset(rx->seen, 0, sizeof rx->seen);
    rx_mark(rx, seq, true);
    rx->received++;
}

enum link_rx_verdict link_rx_accept(struct link_rx_window *rx, uint64_t session_id,
                                    uint64_t sequence)
{
    if (!rx->started) {
        rx_start(rx, session_id, sequence);
        return LINK_RX_FIRST;
    }
    if (session_id != rx->session_id) {
        if (rx->has_previous_session && session_id == rx->previous_session_id) {
            rx->stale++;
            return LINK_RX_STALE;
        }
        link_rx_flush(rx);
        rx->previous_session_id = rx->session_id;
        rx->has_previous_session = true;
        rx->restarts++;
        rx_start(rx, session_id, sequence);
        return LINK_RX_RESTART;
    }
    if (sequence > rx->highest) {
        rx_advance(rx, sequence);
        rx->received++;
        return LINK_RX_NEW;
    }
    if (sequence < rx->low_mark || rx->highest - sequence >= LINK_RX_WINDOW) {
        rx->stale++;
        return LINK_RX_STALE;
    }
    if (rx_seen(rx, sequence)) {
        rx->duplicates++;
        return LINK_RX_DUPLICATE;
    }
    rx_mark(rx, sequence, true);
    rx->received++;
    rx->reordered++;
    return LINK_RX_REORDERED;
}

void link_rx_flush(struct link_rx_window *rx)
{
    if (!rx->started) return;
    const uint64_t h = rx->highest;
    uint64_t first = h >= LINK_RX_WINDOW - 1 ? h - (LINK_RX_WINDOW - 1) : 0;
    if (h > 0) rx_retire(rx, first, h - 1);
    rx_settle(rx);
    rx->low_mark = h;
}
