/* Sparkplug B payloads and topics (contracts in spb_codec.h): the encoder
 * and decoder over the protoc-c code generated from sparkplug_b.proto, topic
 * building, STATE parsing and the rules for ids. Pure functions, no I/O.
 *
 * Datatypes follow spec 3.0 6.4.16: Int8..Int32, UInt8..UInt32 in int_value
 * (signed ones as two's complement), Int64, UInt64, DateTime in long_value.
 * Some implementations (Tahu Java, the npm sparkplug-payload) put UInt32 in
 * long_value: the decoder reads integers from either field. */
#include "north/spb_codec.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errbuf.h"
#include "north/sparkplug_b.pb-c.h"

typedef Airlock__Sparkplug__Payload pb_payload;
typedef Airlock__Sparkplug__Payload__Metric pb_metric;
typedef Airlock__Sparkplug__Payload__PropertySet pb_property_set;
typedef Airlock__Sparkplug__Payload__PropertyValue pb_property_value;

/* Every datatype code the decoder understands (spec 6.4.16). */
enum spb_code {
    CODE_INT8 = 1,
    CODE_INT16 = 2,
    CODE_INT32 = 3,
    CODE_INT64 = 4,
    CODE_UINT8 = 5,
    CODE_UINT16 = 6,
    CODE_UINT32 = 7,
    CODE_UINT64 = 8,
    CODE_FLOAT = 9,
    CODE_DOUBLE = 10,
    CODE_BOOLEAN = 11,
    CODE_STRING = 12,
    CODE_DATETIME = 13,
    CODE_TEXT = 14,
};

/* The property names of quality, and Ignition's quality codes (OPC DA). */
#define PROP_QUALITY "Quality"
#define PROP_STATUS_CODE "StatusCode"
#define IGNITION_GOOD 192
#define IGNITION_UNCERTAIN 64
#define IGNITION_BAD 0

#define SPB_NAMESPACE "spBv1.0"
#define SPB_SEQ_MAX 255u

enum spb_datatype spb_datatype_of(enum value_type t)
{
    switch (t) {
    case VALUE_BOOL:
        return SPB_BOOLEAN;
    case VALUE_INT64:
        return SPB_INT64;
    case VALUE_UINT64:
        return SPB_UINT64;
    case VALUE_DOUBLE:
        return SPB_DOUBLE;
    case VALUE_STRING:
        return SPB_STRING;
    }
    return SPB_DOUBLE;
}

static bool value_type_valid(enum value_type t)
{
    return t == VALUE_BOOL || t == VALUE_INT64 || t == VALUE_UINT64 || t == VALUE_DOUBLE ||
           t == VALUE_STRING;
}

/* Ignition's Int32 quality (192 Good, 64 Uncertain, 0 Bad) of a StatusCode. */
static int32_t ignition_quality_of(quality_t q)
{
    if (quality_is_good(q)) return IGNITION_GOOD;
    if (quality_is_uncertain(q)) return IGNITION_UNCERTAIN;
    return IGNITION_BAD;
}

/* The StatusCode of an OPC DA style quality (the top two bits of the low
 * byte: 11 Good, 01 Uncertain, otherwise Bad). */
static quality_t quality_of_ignition(uint64_t code)
{
    switch (code & 0xC0u) {
    case 0xC0u:
        return QUALITY_GOOD;
    case 0x40u:
        return QUALITY_UNCERTAIN;
    default:
        return QUALITY_BAD;
    }
}

/* ---- encoding ---- */

/* Everything one encode allocates besides the output: the protobuf-c
 * messages (pointers into these arrays) and NUL-terminated string copies. */
struct encode_scratch {
    pb_metric *metrics;
    pb_metric **metric_ptrs;
    pb_property_set *property_sets;
    pb_property_value *property_values; /* two per metric with quality */
    pb_property_value **property_ptrs;  /* idem */
    char *strings;                      /* string values, each NUL-terminated */
};

static void encode_scratch_free(struct encode_scratch *s)
{
    free(s->metrics);
    free(s->metric_ptrs);
    free(s->property_sets);
    free(s->property_values);
    free(s->property_ptrs);
    free(s->strings);
}

/* Checks one metric; false with a reason naming it (index i). Adds the bytes
 * its string value needs (with the NUL) to *string_bytes. */
static bool metric_check(const struct spb_metric *m, size_t i, size_t *string_bytes, char *why,
                         size_t why_len)
{
    if (!m->name && !m->has_alias) {
        errbuf_set(why, why_len, "metric %zu has neither a name nor an alias", i);
        return false;
    }
    if (!value_type_valid(m->type)) {
        errbuf_set(why, why_len, "metric %zu (%s) has an unknown value type %d", i,
                   m->name ? m->name : "alias", (int)m->type);
        return false;
    }
    if (m->is_null) return true;
    if (m->value.type != m->type) {
        errbuf_set(why, why_len, "metric %zu (%s) is declared %s but holds a %s value", i,
                   m->name ? m->name : "alias", value_type_name(m->type),
                   value_type_name(m->value.type));
        return false;
    }
    if (m->type == VALUE_STRING) {
        const char *s = m->value.as.str.ptr;
        uint32_t n = m->value.as.str.len;
        if (n > 0 && (!s || memchr(s, '\0', n))) {
            errbuf_set(why, why_len, "metric %zu (%s) has a string value with a NUL byte", i,
                       m->name ? m->name : "alias");
            return false;
        }
        *string_bytes += (size_t)n + 1;
    }
    return true;
}

/* Fills the PropertySet of quality q: Quality (Int32) and StatusCode (UInt32). */
static void fill_quality(pb_property_set *set, pb_property_value *values, pb_property_value **ptrs,
                         quality_t q)
{
    static char quality_key[] = PROP_QUALITY;
    static char status_key[] = PROP_STATUS_CODE;
    static char *keys[] = {quality_key, status_key};

    airlock__sparkplug__payload__property_value__init(&values[0]);
    values[0].has_type = 1;
    values[0].type = CODE_INT32;
    values[0].value_case = AIRLOCK__SPARKPLUG__PAYLOAD__PROPERTY_VALUE__VALUE_INT_VALUE;
    values[0].int_value = (uint32_t)ignition_quality_of(q);

    airlock__sparkplug__payload__property_value__init(&values[1]);
    values[1].has_type = 1;
    values[1].type = CODE_UINT32;
    values[1].value_case = AIRLOCK__SPARKPLUG__PAYLOAD__PROPERTY_VALUE__VALUE_INT_VALUE;
    values[1].int_value = q;

    ptrs[0] = &values[0];
    ptrs[1] = &values[1];
    airlock__sparkplug__payload__property_set__init(set);
    set->n_keys = 2;
    set->keys = keys;
    set->n_values = 2;
    set->values = ptrs;
}

/* Fills the protobuf metric pm from m (already checked); string values are
 * copied to *string_cursor, which advances. */
static void fill_metric(pb_metric *pm, const struct spb_metric *m, char **string_cursor)
{
    airlock__sparkplug__payload__metric__init(pm);
    pm->name = (char *)m->name; /* only read while packing */
    pm->has_alias = m->has_alias;
    pm->alias = m->alias;
    pm->has_timestamp = m->has_timestamp;
    pm->timestamp = m->timestamp_ms;
    pm->has_datatype = 1;
    pm->datatype = (uint32_t)spb_datatype_of(m->type);
    if (m->is_historical) pm->has_is_historical = pm->is_historical = 1;
    if (m->is_null) {
        pm->has_is_null = pm->is_null = 1;
        return;
    }
    switch (m->type) {
    case VALUE_BOOL:
        pm->value_case = AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE;
        pm->boolean_value = m->value.as.b;
        break;
    case VALUE_INT64:
        pm->value_case = AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_LONG_VALUE;
        pm->long_value = (uint64_t)m->value.as.i64;
        break;
    case VALUE_UINT64:
        pm->value_case = AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_LONG_VALUE;
        pm->long_value = m->value.as.u64;
        break;
    case VALUE_DOUBLE:
        pm->value_case = AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE;
        pm->double_value = m->value.as.f64;
        break;
    case VALUE_STRING: {
        char *copy = *string_cursor;
        uint32_t n = m->value.as.str.len;
        if (n > 0) memcpy(copy, m->value.as.str.ptr, n);
        copy[n] = '\0';
        *string_cursor += (size_t)n + 1;
        pm->value_case = AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_STRING_VALUE;
        pm->string_value = copy;
        break;
    }
    }
}

bool spb_encode(const struct spb_payload *p, uint8_t **out, size_t *len, char *why, size_t why_len)
{
    *out = NULL;
    *len = 0;
    if (p->metric_count > 0 && !p->metrics) {
        errbuf_set(why, why_len, "metric_count is %zu but metrics is NULL", p->metric_count);
        return false;
    }
    if (p->has_seq && p->seq > SPB_SEQ_MAX) {
        errbuf_set(why, why_len, "seq %llu is beyond 255", (unsigned long long)p->seq);
        return false;
    }
    size_t string_bytes = 0, with_quality = 0;
    for (size_t i = 0; i < p->metric_count; i++) {
        if (!metric_check(&p->metrics[i], i, &string_bytes, why, why_len)) return false;
        if (p->metrics[i].has_quality) with_quality++;
    }

    size_t n = p->metric_count;
    struct encode_scratch s = {0};
    s.metrics = malloc((n ? n : 1) * sizeof *s.metrics);
    s.metric_ptrs = malloc((n ? n : 1) * sizeof *s.metric_ptrs);
    s.property_sets = malloc((with_quality ? with_quality : 1) * sizeof *s.property_sets);
    s.property_values = malloc((with_quality ? with_quality : 1) * 2 * sizeof *s.property_values);
    s.property_ptrs = malloc((with_quality ? with_quality : 1) * 2 * sizeof *s.property_ptrs);
    s.strings = malloc(string_bytes ? string_bytes : 1);
    if (!s.metrics || !s.metric_ptrs || !s.property_sets || !s.property_values ||
        !s.property_ptrs || !s.strings) {
        encode_scratch_free(&s);
        errbuf_set(why, why_len, "out of memory");
        return false;
    }

    char *string_cursor = s.strings;
    size_t q = 0;
    for (size_t i = 0; i < n; i++) {
        const struct spb_metric *m = &p->metrics[i];
        fill_metric(&s.metrics[i], m, &string_cursor);
        if (m->has_quality) {
            fill_quality(&s.property_sets[q], &s.property_values[2 * q], &s.property_ptrs[2 * q],
                         m->quality);
            s.metrics[i].properties = &s.property_sets[q];
            q++;
        }
        s.metric_ptrs[i] = &s.metrics[i];
    }

    pb_payload payload;
    airlock__sparkplug__payload__init(&payload);
    payload.has_timestamp = 1;
    payload.timestamp = p->timestamp_ms;
    payload.has_seq = p->has_seq;
    payload.seq = p->seq;
    payload.n_metrics = n;
    payload.metrics = s.metric_ptrs;

    size_t size = airlock__sparkplug__payload__get_packed_size(&payload);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        encode_scratch_free(&s);
        errbuf_set(why, why_len, "out of memory");
        return false;
    }
    size_t packed = airlock__sparkplug__payload__pack(&payload, buf);
    encode_scratch_free(&s);
    if (packed != size) {
        free(buf);
        errbuf_set(why, why_len, "protobuf packing wrote %zu bytes, expected %zu", packed, size);
        return false;
    }
    *out = buf;
    *len = size;
    return true;
}

/* ---- decoding ---- */

/* The integer a metric carries in int_value or long_value; false if none. */
static bool metric_raw_integer(const pb_metric *pm, uint64_t *raw)
{
    if (pm->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_INT_VALUE) {
        *raw = pm->int_value;
        return true;
    }
    if (pm->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_LONG_VALUE) {
        *raw = pm->long_value;
        return true;
    }
    return false;
}

/* The low `bits` bits of raw as a two's complement signed number. */
static int64_t sign_extend(uint64_t raw, unsigned bits)
{
    if (bits < 64) {
        uint64_t mask = (UINT64_C(1) << bits) - 1;
        uint64_t sign = UINT64_C(1) << (bits - 1);
        raw &= mask;
        if (raw & sign) return -(int64_t)((~raw & mask) + 1);
        return (int64_t)raw;
    }
    if (raw <= (uint64_t)INT64_MAX) return (int64_t)raw;
    return -(int64_t)(~raw) - 1;
}

/* The datatype of a metric: as declared, or guessed from its value field
 * when the sender left it out (allowed in DATA and CMD messages). 0 when
 * neither says. */
static uint32_t metric_datatype(const pb_metric *pm)
{
    if (pm->has_datatype) return pm->datatype;
    switch (pm->value_case) {
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_INT_VALUE:
        return CODE_UINT32;
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_LONG_VALUE:
        return CODE_UINT64;
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_FLOAT_VALUE:
        return CODE_FLOAT;
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE:
        return CODE_DOUBLE;
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE:
        return CODE_BOOLEAN;
    case AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_STRING_VALUE:
        return CODE_STRING;
    default:
        return 0;
    }
}

/* Our value type for a scalar Sparkplug datatype; false for the others. */
static bool value_type_of_code(uint32_t code, enum value_type *t)
{
    switch (code) {
    case CODE_INT8:
    case CODE_INT16:
    case CODE_INT32:
    case CODE_INT64:
        *t = VALUE_INT64;
        return true;
    case CODE_UINT8:
    case CODE_UINT16:
    case CODE_UINT32:
    case CODE_UINT64:
    case CODE_DATETIME:
        *t = VALUE_UINT64;
        return true;
    case CODE_FLOAT:
    case CODE_DOUBLE:
        *t = VALUE_DOUBLE;
        return true;
    case CODE_BOOLEAN:
        *t = VALUE_BOOL;
        return true;
    case CODE_STRING:
    case CODE_TEXT:
        *t = VALUE_STRING;
        return true;
    default:
        return false;
    }
}

/* Reads the value of pm (datatype code, not null) into *v; false when the
 * value field does not match the datatype. */
static bool metric_value(const pb_metric *pm, uint32_t code, struct value *v)
{
    uint64_t raw = 0;
    switch (code) {
    case CODE_INT8:
    case CODE_INT16:
    case CODE_INT32:
    case CODE_INT64: {
        if (!metric_raw_integer(pm, &raw)) return false;
        unsigned bits = code == CODE_INT8    ? 8
                        : code == CODE_INT16 ? 16
                        : code == CODE_INT32 ? 32
                                             : 64;
        *v = value_int64(sign_extend(raw, bits));
        return true;
    }
    case CODE_UINT8:
    case CODE_UINT16:
    case CODE_UINT32:
    case CODE_UINT64:
    case CODE_DATETIME:
        if (!metric_raw_integer(pm, &raw)) return false;
        *v = value_uint64(raw);
        return true;
    case CODE_FLOAT:
    case CODE_DOUBLE:
        if (pm->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_FLOAT_VALUE) {
            *v = value_double((double)pm->float_value);
            return true;
        }
        if (pm->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE) {
            *v = value_double(pm->double_value);
            return true;
        }
        return false;
    case CODE_BOOLEAN:
        if (pm->value_case != AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE)
            return false;
        *v = value_bool(pm->boolean_value != 0);
        return true;
    case CODE_STRING:
    case CODE_TEXT: {
        if (pm->value_case != AIRLOCK__SPARKPLUG__PAYLOAD__METRIC__VALUE_STRING_VALUE ||
            !pm->string_value)
            return false;
        size_t n = strlen(pm->string_value);
        if (n > UINT32_MAX) return false;
        v->type = VALUE_STRING;
        v->as.str.ptr = pm->string_value;
        v->as.str.len = (uint32_t)n;
        return true;
    }
    default:
        return false;
    }
}

/* The integer of a property value (int_value or long_value); false if none. */
static bool property_raw_integer(const pb_property_value *pv, uint64_t *raw)
{
    if (!pv || (pv->has_is_null && pv->is_null)) return false;
    if (pv->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__PROPERTY_VALUE__VALUE_INT_VALUE) {
        *raw = pv->int_value;
        return true;
    }
    if (pv->value_case == AIRLOCK__SPARKPLUG__PAYLOAD__PROPERTY_VALUE__VALUE_LONG_VALUE) {
        *raw = pv->long_value;
        return true;
    }
    return false;
}

/* Quality from the properties StatusCode (preferred, exact) or Quality. */
static void metric_quality(const pb_property_set *set, struct spb_metric *m)
{
    if (!set) return;
    size_t n = set->n_keys < set->n_values ? set->n_keys : set->n_values;
    bool has_status = false, has_ignition = false;
    uint64_t status = 0, ignition = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = set->keys[i];
        if (!key) continue;
        if (strcmp(key, PROP_STATUS_CODE) == 0)
            has_status = property_raw_integer(set->values[i], &status);
        else if (strcmp(key, PROP_QUALITY) == 0)
            has_ignition = property_raw_integer(set->values[i], &ignition);
    }
    if (has_status) {
        m->has_quality = true;
        m->quality = (quality_t)status;
    } else if (has_ignition) {
        m->has_quality = true;
        m->quality = quality_of_ignition(ignition);
    }
}

/* Converts one protobuf metric; false when it is to be skipped (no name nor
 * alias, a datatype we do not map, or a value that does not match it). */
static bool decode_metric(const pb_metric *pm, struct spb_metric *m)
{
    memset(m, 0, sizeof *m);
    if (!pm->name && !pm->has_alias) return false;
    uint32_t code = metric_datatype(pm);
    enum value_type type;
    if (!value_type_of_code(code, &type)) return false;
    m->name = pm->name;
    m->has_alias = pm->has_alias;
    m->alias = pm->alias;
    m->type = type;
    m->value.type = type;
    m->has_timestamp = pm->has_timestamp;
    m->timestamp_ms = pm->timestamp;
    m->is_historical = pm->has_is_historical && pm->is_historical;
    m->is_null = pm->has_is_null && pm->is_null;
    if (!m->is_null && !metric_value(pm, code, &m->value)) return false;
    metric_quality(pm->properties, m);
    return true;
}

bool spb_decode(const uint8_t *buf, size_t len, struct spb_decoded *out, size_t *skipped, char *why,
                size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (skipped) *skipped = 0;
    static const uint8_t empty[1] = {0};
    pb_payload *msg = airlock__sparkplug__payload__unpack(NULL, len, buf ? buf : empty);
    if (!msg) {
        errbuf_set(why, why_len, "not a Sparkplug B payload (%zu bytes that do not decode)", len);
        return false;
    }
    out->metrics = calloc(msg->n_metrics ? msg->n_metrics : 1, sizeof *out->metrics);
    if (!out->metrics) {
        airlock__sparkplug__payload__free_unpacked(msg, NULL);
        errbuf_set(why, why_len, "out of memory");
        return false;
    }
    out->internal = msg;
    out->has_timestamp = msg->has_timestamp;
    out->timestamp_ms = msg->timestamp;
    out->has_seq = msg->has_seq;
    out->seq = msg->seq;
    for (size_t i = 0; i < msg->n_metrics; i++) {
        if (decode_metric(msg->metrics[i], &out->metrics[out->metric_count]))
            out->metric_count++;
        else if (skipped)
            (*skipped)++;
    }
    return true;
}

void spb_decoded_free(struct spb_decoded *d)
{
    if (!d) return;
    free(d->metrics);
    if (d->internal) airlock__sparkplug__payload__free_unpacked(d->internal, NULL);
    memset(d, 0, sizeof *d);
}

/* ---- topics and ids ---- */

/* Length of the UTF-8 sequence at s (1..4) with its code point in *cp, or 0
 * when s does not start a well-formed sequence (overlong forms, surrogates
 * and code points beyond U+10FFFF are not). s is NUL-terminated. */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, min = 0x80, *cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, min = 0x800, *cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, min = 0x10000, *cp = c & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        *cp = (*cp << 6) | (s[i] & 0x3Fu);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
    return n;
}

/* Characters an id may not hold: the topic separators and wildcards, and
 * control characters (MQTT says topics should not have them; the issue says
 * they never leak into a topic). */
static bool id_char_allowed(uint32_t cp)
{
    if (cp == '/' || cp == '+' || cp == '#') return false;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
    return true;
}

bool spb_id_valid(const char *id)
{
    if (!id || !*id) return false;
    const unsigned char *s = (const unsigned char *)id;
    while (*s) {
        uint32_t cp;
        size_t n = utf8_sequence(s, &cp);
        if (n == 0 || !id_char_allowed(cp)) return false;
        s += n;
    }
    return true;
}

void spb_id_sanitize(const char *in, char *out, size_t cap)
{
    if (!out || cap == 0) return;
    size_t used = 0;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    while (*s) {
        uint32_t cp;
        size_t n = utf8_sequence(s, &cp);
        if (n == 0 || !id_char_allowed(cp)) {
            if (used + 1 >= cap) break;
            out[used++] = '_';
            s += n ? n : 1;
            continue;
        }
        if (used + n >= cap) break; /* never cut a character in two */
        memcpy(out + used, s, n);
        used += n;
        s += n;
    }
    if (used == 0 && cap >= 2) out[used++] = '_';
    out[used] = '\0';
}

/* True for the message types of a device ("D..."), false for the node's;
 * *known false when type is none of the eight. */
static bool message_type_is_device(const char *type, bool *known)
{
    static const char *const node_types[] = {"NBIRTH", "NDEATH", "NDATA", "NCMD"};
    static const char *const device_types[] = {"DBIRTH", "DDEATH", "DDATA", "DCMD"};
    *known = true;
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(type, node_types[i]) == 0) return false;
        if (strcmp(type, device_types[i]) == 0) return true;
    }
    *known = false;
    return false;
}

bool spb_topic(char *out, size_t cap, const char *group, const char *type, const char *edge_node,
               const char *device)
{
    if (!out || cap == 0) return false;
    out[0] = '\0';
    if (!type || !spb_id_valid(group) || !spb_id_valid(edge_node)) return false;
    bool known;
    bool for_device = message_type_is_device(type, &known);
    if (!known) return false;
    int n;
    if (for_device) {
        if (!spb_id_valid(device)) return false;
        n = snprintf(out, cap, SPB_NAMESPACE "/%s/%s/%s/%s", group, type, edge_node, device);
    } else {
        if (device) return false; /* node messages have no device level */
        n = snprintf(out, cap, SPB_NAMESPACE "/%s/%s/%s", group, type, edge_node);
    }
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return false;
    }
    return true;
}

bool spb_state_topic(char *out, size_t cap, const char *host_id)
{
    if (!out || cap == 0) return false;
    out[0] = '\0';
    if (!spb_id_valid(host_id)) return false;
    int n = snprintf(out, cap, SPB_NAMESPACE "/STATE/%s", host_id);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* A JSON number that is a whole number of milliseconds >= 0. */
static bool json_timestamp(const json_t *j, uint64_t *ms)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (v < 0) return false;
        *ms = (uint64_t)v;
        return true;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!isfinite(d) || d < 0 || d >= 18446744073709551616.0 || floor(d) != d) return false;
        *ms = (uint64_t)d;
        return true;
    }
    return false;
}

bool spb_parse_state(const uint8_t *buf, size_t len, bool *online, uint64_t *timestamp_ms)
{
    if (!buf && len > 0) return false;
    json_error_t err;
    json_t *root = json_loadb(buf ? (const char *)buf : "", len, 0, &err);
    if (!root) return false;
    bool ok = false;
    json_t *on = json_object_get(root, "online");
    json_t *ts = json_object_get(root, "timestamp");
    uint64_t ms = 0;
    if (json_is_object(root) && json_is_boolean(on) && json_timestamp(ts, &ms)) {
        *online = json_is_true(on);
        *timestamp_ms = ms;
        ok = true;
    }
    json_decref(root);
    return ok;
}
