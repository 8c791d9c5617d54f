/* The one-way link's datagram format and the receiver's loss accounting, as
 * pure functions over buffers (no sockets; the sender and receiver loops are
 * elsewhere). docs/oneway.md gives the byte layout.
 *
 * A datagram is a 36-byte header (magic "AL", version, type, link id, sender
 * session id, sequence number, sender time, payload length), a payload, and
 * the first 16 bytes of HMAC-SHA256 under a pre-shared key over everything
 * before it. Types: BIRTH (a part of the tag table: id, path, type, unit),
 * DATA (samples), HEARTBEAT (birth epoch and the sender's counters), DEVICES
 * (a part of the OT side's device statistics). Every multi-byte integer is
 * little-endian.
 *
 * The decoder verifies the HMAC (constant-time) before it looks at any other
 * byte, then checks every length against the bytes left. The receiver window
 * (link_rx_*) classifies accepted sequence numbers and reports each missed
 * number exactly once. */
#ifndef AIRLOCK_ONEWAY_LINK_CODEC_H
#define AIRLOCK_ONEWAY_LINK_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sample.h"
#include "core/stats.h"
#include "core/value.h"

#define LINK_VERSION 1
#define LINK_HEADER_BYTES 36
#define LINK_MAC_BYTES 16 /* HMAC-SHA256 truncated to its first 16 bytes */
#define LINK_OVERHEAD_BYTES (LINK_HEADER_BYTES + LINK_MAC_BYTES)
#define LINK_KEY_BYTES 32
/* Smallest pre-shared secret accepted (bytes of key material). */
#define LINK_KEY_MIN_MATERIAL_BYTES 32

/* Datagram size limits: the default fits an Ethernet MTU (1500) with IPv4
 * and UDP headers and room to spare; the maximum is UDP's over IPv4; the
 * minimum leaves room for the largest BIRTH entry (255-byte path and unit). */
#define LINK_DEFAULT_DATAGRAM_BYTES 1400
#define LINK_MAX_DATAGRAM_BYTES 65507
#define LINK_MIN_DATAGRAM_BYTES 600

/* Longest path and unit a BIRTH entry carries (one length byte each). */
#define LINK_NAME_MAX_BYTES 255

enum link_type {
    LINK_BIRTH = 1,
    LINK_DATA = 2,
    LINK_HEARTBEAT = 3,
    LINK_DEVICES = 4,
};

enum link_status {
    LINK_OK = 0,
    LINK_ERR_ARGUMENT,  /* a caller's mistake: bad size limit, key too short, NULL */
    LINK_ERR_TOO_LARGE, /* encoder: one item does not fit an empty datagram */
    LINK_ERR_CRYPTO,    /* OpenSSL failed */
    LINK_ERR_NO_MEMORY, /* allocation failed */
    LINK_ERR_SIZE,      /* datagram shorter than header + MAC, or over the limit */
    LINK_ERR_MAC,       /* HMAC mismatch: wrong key, tampered or corrupt */
    LINK_ERR_MAGIC,     /* authenticated but not an airlock link datagram */
    LINK_ERR_VERSION,   /* a version this code does not speak */
    LINK_ERR_LINK_ID,   /* from another link */
    LINK_ERR_TYPE,      /* unknown datagram type */
    LINK_ERR_MALFORMED, /* a payload field out of bounds or invalid (see err) */
};

/* "ok", "mac mismatch", ... Static string. */
const char *link_status_name(enum link_status s);

/* ---- Keys ------------------------------------------------------------------------ */

/* Derives the 32-byte link key from secret material (at least
 * LINK_KEY_MIN_MATERIAL_BYTES bytes): HMAC-SHA256 with the fixed label
 * "airlock one-way link key v1" as key over the material. */
enum link_status link_key_derive(const uint8_t *material, size_t len, uint8_t key[LINK_KEY_BYTES],
                                 char *err, size_t err_len);

/* Reads a key file (at most 4096 bytes; trailing spaces and newlines are not
 * part of the secret) and derives the key from its contents. Fails with a
 * reason naming the file when it cannot be read, is too long or holds fewer
 * than LINK_KEY_MIN_MATERIAL_BYTES bytes. */
enum link_status link_key_load_file(const char *path, uint8_t key[LINK_KEY_BYTES], char *err,
                                    size_t err_len);

/* A random session id (OpenSSL's RAND_bytes); false only if that fails. */
bool link_random_session_id(uint64_t *out);

/* ---- HMAC ------------------------------------------------------------------------ */

/* A keyed HMAC-SHA256 context, reused for every datagram. Not thread-safe. */
struct link_mac {
    void *ctx; /* EVP_MAC_CTX * */
};

enum link_status link_mac_init(struct link_mac *m, const uint8_t key[LINK_KEY_BYTES]);
void link_mac_clear(struct link_mac *m);
/* The truncated tag of data[0..len) into out. */
enum link_status link_mac_compute(struct link_mac *m, const uint8_t *data, size_t len,
                                  uint8_t out[LINK_MAC_BYTES]);

/* ---- Encoder --------------------------------------------------------------------- */

struct link_encoder {
    struct link_mac mac;
    uint32_t link_id;
    uint64_t session_id;
    uint64_t next_sequence; /* the first datagram of a session is number 1 */
    size_t max_datagram_bytes;
    uint64_t datagrams_sent; /* datagrams encoded (redundant copies are the same datagram) */
    uint64_t samples_sent;   /* samples packed into DATA datagrams */
};

/* Prepares an encoder. max_datagram_bytes 0 means the default; otherwise it
 * must lie in [LINK_MIN_DATAGRAM_BYTES, LINK_MAX_DATAGRAM_BYTES]. session_id
 * should come from link_random_session_id() at every start of the sender. */
enum link_status link_encoder_init(struct link_encoder *enc, const uint8_t key[LINK_KEY_BYTES],
                                   uint32_t link_id, uint64_t session_id, size_t max_datagram_bytes,
                                   char *err, size_t err_len);
void link_encoder_clear(struct link_encoder *enc);

/* Encodes one DATA datagram into out (out_cap must be at least the
 * encoder's max_datagram_bytes) packing as many of samples[0..n) as fit, in
 * order; *taken says how many (at least 1 when n > 0). Its length goes to
 * *out_len and it gets the next sequence number. sent_ns is the sender's UTC
 * clock. Fails with LINK_ERR_TOO_LARGE (nothing encoded, no number used)
 * when samples[0] alone does not fit (a long string), LINK_ERR_ARGUMENT for
 * n == 0, an invalid value type, or a small out_cap. */
enum link_status link_encode_data(struct link_encoder *enc, const struct sample *samples, size_t n,
                                  int64_t sent_ns, uint8_t *out, size_t out_cap, size_t *out_len,
                                  size_t *taken, char *err, size_t err_len);

/* Called with each finished datagram; returning false stops the encoding. */
typedef bool (*link_emit_fn)(void *ctx, const uint8_t *datagram, size_t len);

/* Encodes all of samples[0..n) as consecutive DATA datagrams and hands each
 * to emit. A sample too large for a datagram fails the call with
 * LINK_ERR_TOO_LARGE before any datagram is emitted for it (those before it
 * were emitted). LINK_ERR_ARGUMENT when emit stops early. */
enum link_status link_encode_data_all(struct link_encoder *enc, const struct sample *samples,
                                      size_t n, int64_t sent_ns, link_emit_fn emit, void *ctx,
                                      char *err, size_t err_len);

/* One tag as BIRTH carries it. Path and unit need not be NUL-terminated. */
struct link_birth_tag {
    uint32_t id;
    enum value_type type;
    const char *path;
    uint32_t path_len; /* 1..LINK_NAME_MAX_BYTES */
    const char *unit;
    uint32_t unit_len; /* 0..LINK_NAME_MAX_BYTES */
};

/* Encodes the whole tag table tags[0..n) as BIRTH datagrams (parts 0..p-1 of
 * p, each self-contained) under the given birth epoch (change it whenever the
 * table changes) and hands each to emit. n may be 0 (one empty part).
 * LINK_ERR_TOO_LARGE when a path or unit exceeds LINK_NAME_MAX_BYTES, a path
 * is empty, or the table needs more than 65535 parts; nothing is emitted. */
enum link_status link_encode_birth(struct link_encoder *enc, const struct link_birth_tag *tags,
                                   size_t n, uint32_t epoch, int64_t sent_ns, link_emit_fn emit,
                                   void *ctx, char *err, size_t err_len);

/* Encodes a HEARTBEAT with the epoch, the tag count and the encoder's
 * counters as they are before this datagram. */
enum link_status link_encode_heartbeat(struct link_encoder *enc, uint32_t epoch, uint32_t tag_count,
                                       int64_t sent_ns, uint8_t *out, size_t out_cap,
                                       size_t *out_len, char *err, size_t err_len);

/* Longest texts of a DEVICES entry: the sizes of struct device_stats's
 * fields (core/stats.h) less their NUL. */
#define LINK_DEVICE_NAME_MAX_BYTES 63
#define LINK_DEVICE_PROTOCOL_MAX_BYTES 23
#define LINK_DEVICE_ENDPOINT_MAX_BYTES 159
#define LINK_DEVICE_ERROR_MAX_BYTES 255
/* Latency histogram buckets carried: STATS_LATENCY_BUCKETS and +Inf. */
#define LINK_DEVICE_BUCKETS (STATS_LATENCY_BUCKETS + 1)
/* The most devices a DEVICES set holds (u16 counts). */
#define LINK_DEVICES_MAX 65535u

/* One device's statistics as DEVICES carries them: a plain copy of struct
 * device_stats (no atomics, no lock). Texts are NUL-terminated; name is not
 * empty; name, protocol and endpoint hold no control characters. */
struct link_device {
    char name[LINK_DEVICE_NAME_MAX_BYTES + 1];
    char protocol[LINK_DEVICE_PROTOCOL_MAX_BYTES + 1];
    char endpoint[LINK_DEVICE_ENDPOINT_MAX_BYTES + 1];
    char last_error[LINK_DEVICE_ERROR_MAX_BYTES + 1];
    uint8_t state; /* enum device_state, at most DEVICE_STOPPED */
    uint64_t polls, requests, errors, exceptions, timeouts, reconnects, values, skipped_polls;
    uint64_t latency_count, latency_sum_us;
    uint64_t latency_bucket[LINK_DEVICE_BUCKETS];
    int64_t last_success_ns, last_error_ns; /* UTC; 0: never */
};

/* Copies the statistics of *s into *out (counters read one by one with
 * atomic loads, last error under its lock; texts cut to their size). */
void link_device_from_stats(struct device_stats *s, struct link_device *out);

/* Encodes the device set devices[0..n) as DEVICES datagrams (parts 0..p-1
 * of p, each self-contained, in order: part i starts at entry "first")
 * under the snapshot number (the receiver applies a set once all its parts
 * arrived, and never one older than the last applied of the session) and
 * hands each to emit. n may be 0 (one empty part). A last error too long
 * for an empty datagram is cut (at a UTF-8 character boundary) so the entry
 * fits. LINK_ERR_ARGUMENT when n exceeds LINK_DEVICES_MAX or an entry is
 * invalid (empty name, control character, a text without its NUL, a state
 * beyond DEVICE_STOPPED); nothing is emitted then. */
enum link_status link_encode_devices(struct link_encoder *enc, const struct link_device *devices,
                                     size_t n, uint32_t snapshot, int64_t sent_ns,
                                     link_emit_fn emit, void *ctx, char *err, size_t err_len);

/* ---- Decoder --------------------------------------------------------------------- */

struct link_header {
    uint8_t version;
    enum link_type type;
    uint32_t link_id;
    uint64_t session_id;
    uint64_t sequence;
    int64_t sent_ns;
    uint32_t payload_bytes;
};

struct link_birth_info {
    uint32_t epoch;
    uint32_t tag_total; /* tags in the whole table (all parts) */
    uint16_t part;      /* 0-based, < parts */
    uint16_t parts;
};

struct link_devices_info {
    uint32_t snapshot;
    uint16_t device_total; /* devices in the whole set (all parts) */
    uint16_t part;         /* 0-based, < parts */
    uint16_t parts;
    uint16_t first; /* index in the set of this part's first entry */
};

struct link_heartbeat {
    uint32_t epoch;
    uint32_t tag_count;
    uint64_t datagrams_sent;
    uint64_t samples_sent;
};

/* A decoded datagram. Arrays belong to the decoder and string pointers
 * (sample strings, paths, units; not device texts, which are copied) point
 * into the datagram's bytes: both stay
 * valid until the next link_decode or until those bytes change. */
struct link_datagram {
    struct link_header header;
    /* LINK_DATA */
    struct sample *samples;
    uint32_t sample_count;
    /* LINK_BIRTH */
    struct link_birth_info birth;
    struct link_birth_tag *tags;
    uint32_t tag_count;
    /* LINK_HEARTBEAT */
    struct link_heartbeat heartbeat;
    /* LINK_DEVICES: entries first..first+device_count-1 of the set */
    struct link_devices_info devices_info;
    struct link_device *devices;
    uint32_t device_count;
};

struct link_decoder {
    struct link_mac mac;
    uint32_t link_id;
    size_t max_datagram_bytes;
    struct sample *samples; /* room for the most a datagram of the limit can hold */
    uint32_t samples_cap;
    struct link_birth_tag *tags;
    uint32_t tags_cap;
    struct link_device *devices;
    uint32_t devices_cap;
};

/* Prepares a decoder for one link (datagrams of other links are refused).
 * max_datagram_bytes as for the encoder; the decoder allocates its arrays
 * here, sized for that limit, and never again. */
enum link_status link_decoder_init(struct link_decoder *dec, const uint8_t key[LINK_KEY_BYTES],
                                   uint32_t link_id, size_t max_datagram_bytes, char *err,
                                   size_t err_len);
void link_decoder_clear(struct link_decoder *dec);

/* Authenticates and decodes one datagram. On failure returns the reason, fills
 * err with what and at which byte offset, and *out is unspecified. Nothing
 * but the size is looked at before the HMAC has been verified. */
enum link_status link_decode(struct link_decoder *dec, const uint8_t *buf, size_t len,
                             struct link_datagram *out, char *err, size_t err_len);

/* ---- Receiver bookkeeping -------------------------------------------------------- */

/* How many sequence numbers behind the highest one are still tracked. */
#define LINK_RX_WINDOW 1024

enum link_rx_verdict {
    LINK_RX_FIRST,     /* the first datagram seen: accept */
    LINK_RX_NEW,       /* above the highest number so far: accept */
    LINK_RX_REORDERED, /* below the highest, within the window, not seen yet: accept */
    LINK_RX_RESTART,   /* a new sender session: the old one was flushed; accept */
    LINK_RX_DUPLICATE, /* seen already: drop */
    LINK_RX_STALE,     /* behind the window, before the session's first number, or
                          from the previous session: drop (cannot tell if seen) */
};

/* Called once per maximal run of missed numbers of a session, in increasing
 * order; every missed number is reported exactly once. */
typedef void (*link_rx_lost_fn)(void *ctx, uint64_t session_id, uint64_t first, uint64_t last);

struct link_rx_window {
    bool started;
    uint64_t session_id;
    uint64_t previous_session_id;
    bool has_previous_session;
    uint64_t low_mark; /* numbers below it are stale: the session's first one seen,
                          raised to the highest by link_rx_flush */
    uint64_t highest;
    uint64_t seen[LINK_RX_WINDOW / 64]; /* bit (seq % LINK_RX_WINDOW) set: received */
    bool pending;                       /* a run of lost numbers not reported yet */
    uint64_t pending_first, pending_last;
    link_rx_lost_fn on_lost;
    void *on_lost_ctx;
    /* Counters over the life of the window (all sessions). */
    uint64_t received;   /* accepted datagrams */
    uint64_t duplicates; /* LINK_RX_DUPLICATE */
    uint64_t reordered;  /* LINK_RX_REORDERED (also counted in received) */
    uint64_t stale;      /* LINK_RX_STALE */
    uint64_t lost;       /* numbers reported lost */
    uint64_t restarts;   /* LINK_RX_RESTART */
};

void link_rx_init(struct link_rx_window *rx, link_rx_lost_fn on_lost, void *ctx);

/* Classifies an authenticated datagram's (session, sequence). A number is
 * reported lost when it leaves the window (LINK_RX_WINDOW numbers behind the
 * highest) without having arrived, so a datagram reordered within the window
 * is never counted lost; a run of missed numbers is reported as one range
 * when the number after it leaves the window. A jump of more than the window
 * reports the numbers that never entered it at once. */
enum link_rx_verdict link_rx_accept(struct link_rx_window *rx, uint64_t session_id,
                                    uint64_t sequence);

/* Reports every number still missing in the window (below the highest) as
 * lost now, e.g. at shutdown or after a long silence; later arrivals of them
 * become LINK_RX_STALE. */
void link_rx_flush(struct link_rx_window *rx);

const char *link_rx_verdict_name(enum link_rx_verdict v);

#endif
