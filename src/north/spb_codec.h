/* Sparkplug B payloads and topics (Eclipse Sparkplug 3.0): pure functions,
 * no I/O. Payloads are protobuf messages of the schema in
 * src/north/sparkplug_b.proto (written by this project from the
 * specification, compiled by protoc-c at build time).
 *
 * Only what an edge node sends and receives is covered: payloads with a
 * timestamp, a seq and scalar metrics (name and/or alias, datatype, value or
 * null, timestamp, is_historical, properties "Quality" (Int32, OPC DA style:
 * 192 Good, 64 Uncertain, 0 Bad, as Ignition reads it) and "StatusCode"
 * (UInt32, the full OPC UA StatusCode)), and the decoding of NCMD / DCMD
 * payloads. */
#ifndef AIRLOCK_NORTH_SPB_CODEC_H
#define AIRLOCK_NORTH_SPB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"

/* Sparkplug datatypes used (spec 6.4.16). */
enum spb_datatype {
    SPB_INT64 = 4,
    SPB_UINT64 = 8,
    SPB_DOUBLE = 10,
    SPB_BOOLEAN = 11,
    SPB_STRING = 12,
};

/* The Sparkplug datatype of a value type (bool -> Boolean, int64 -> Int64,
 * uint64 -> UInt64, double -> Double, string -> String). */
enum spb_datatype spb_datatype_of(enum value_type t);

struct spb_metric {
    const char *name; /* NULL to send by alias only (DDATA after a birth) */
    bool has_alias;
    uint64_t alias;
    enum value_type type;
    struct value value; /* ignored when is_null */
    bool is_null;
    bool has_timestamp;
    uint64_t timestamp_ms; /* epoch ms, UTC */
    bool is_historical;
    bool has_quality;
    quality_t quality; /* sent as properties Quality and StatusCode */
};

struct spb_payload {
    uint64_t timestamp_ms;
    bool has_seq;
    uint64_t seq; /* 0..255 */
    const struct spb_metric *metrics;
    size_t metric_count;
};

/* Encodes p; *out is malloc'd (free it), *len its size. False on out of
 * memory or an invalid metric (why says which). */
bool spb_encode(const struct spb_payload *p, uint8_t **out, size_t *len, char *why, size_t why_len);

/* A decoded payload (NCMD, DCMD, or any other for tests). Strings point into
 * memory owned by the decoded object: free with spb_decoded_free. */
struct spb_decoded {
    uint64_t timestamp_ms;
    bool has_timestamp;
    bool has_seq;
    uint64_t seq;
    struct spb_metric *metrics;
    size_t metric_count;
    void *internal; /* the protobuf-c message */
};

/* Decodes any Sparkplug B payload. Metrics of datatypes other than the
 * scalar ones above (and Int8..UInt32, Float, which are widened to
 * int64/uint64/double) are skipped and counted in *skipped. False with a
 * reason on malformed input (whatever the bytes: this parses what arrives
 * from the network). */
bool spb_decode(const uint8_t *buf, size_t len, struct spb_decoded *out, size_t *skipped, char *why,
                size_t why_len);
void spb_decoded_free(struct spb_decoded *d);

/* Topic "spBv1.0/<group>/<type>/<edge_node>[/<device>]" into out; type is
 * "NBIRTH", "NDEATH", "NDATA", "NCMD", "DBIRTH", "DDEATH", "DDATA", "DCMD".
 * False when it does not fit or an id is not valid (see spb_id_valid). */
bool spb_topic(char *out, size_t cap, const char *group, const char *type, const char *edge_node,
               const char *device);

/* The STATE topic of a primary host: "spBv1.0/STATE/<host_id>". */
bool spb_state_topic(char *out, size_t cap, const char *host_id);

/* Parses a STATE payload (Sparkplug 3.0 JSON: {"online": bool,
 * "timestamp": ms}). False when malformed. */
bool spb_parse_state(const uint8_t *buf, size_t len, bool *online, uint64_t *timestamp_ms);

/* Group ids, edge node ids and device ids: non-empty UTF-8 without '/',
 * '+', '#' (spec 3.0 rules for topic id elements). */
bool spb_id_valid(const char *id);

/* Makes a valid id out of any text (invalid characters become '_'). */
void spb_id_sanitize(const char *in, char *out, size_t cap);

#endif
