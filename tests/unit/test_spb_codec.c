/* Tests of the Sparkplug B codec (north/spb_codec.h): encode/decode round
 * trips of every value type (null, historical, alias only, quality, extreme
 * numbers, NaN and infinities, empty and multibyte strings), payload bytes
 * checked by hand against the protobuf wire format and the specification's
 * field numbers, decoding of what other implementations send (narrow
 * integers, UInt32 in long_value, Float, Text, DateTime, missing datatypes,
 * unsupported types skipped), malformed input, topics, ids and STATE.
 *
 * Two more modes serve tests/e2e/test_spb_interop.mjs, which checks our bytes
 * with a decoder we did not write (npm sparkplug-payload):
 *   AIRLOCK_SPB_DUMP_DIR=dir      writes the fixed payloads of
 *                                 write_interop_payloads() to files in dir
 *   AIRLOCK_SPB_DECODE_FILE=file  decodes file and prints it as JSON */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "north/sparkplug_b.pb-c.h"
#include "north/spb_codec.h"
#include "testlib.h"

static struct value value_text(const char *s)
{
    struct value v = {.type = VALUE_STRING};
    v.as.str.ptr = s;
    v.as.str.len = (uint32_t)strlen(s);
    return v;
}

static struct spb_metric metric_named(const char *name, uint64_t alias, struct value v)
{
    struct spb_metric m = {.name = name, .has_alias = true, .alias = alias, .type = v.type};
    m.value = v;
    m.has_timestamp = true;
    m.timestamp_ms = 1700000000000ull + alias;
    return m;
}

/* Encodes p; fails the test (and returns false) on error. */
static bool encode(const struct spb_payload *p, uint8_t **buf, size_t *len)
{
    char why[200] = "";
    bool ok = spb_encode(p, buf, len, why, sizeof why);
    if (!ok) fprintf(stderr, "encode failed: %s\n", why);
    CHECK(ok);
    return ok;
}

static bool same_metric(const struct spb_metric *a, const struct spb_metric *b)
{
    if ((a->name == NULL) != (b->name == NULL)) return false;
    if (a->name && strcmp(a->name, b->name) != 0) return false;
    if (a->has_alias != b->has_alias || (a->has_alias && a->alias != b->alias)) return false;
    if (a->type != b->type || a->is_null != b->is_null) return false;
    if (a->has_timestamp != b->has_timestamp ||
        (a->has_timestamp && a->timestamp_ms != b->timestamp_ms))
        return false;
    if (a->is_historical != b->is_historical) return false;
    if (a->has_quality != b->has_quality || (a->has_quality && a->quality != b->quality))
        return false;
    if (a->is_null) return true;
    if (a->type == VALUE_STRING)
        return a->value.as.str.len == b->value.as.str.len &&
               memcmp(a->value.as.str.ptr, b->value.as.str.ptr, a->value.as.str.len) == 0;
    return value_equal(&a->value, &b->value);
}

/* Encodes p, decodes the bytes and checks every field came back. */
static void check_round_trip(const struct spb_payload *p)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!encode(p, &buf, &len)) return;
    struct spb_decoded d;
    size_t skipped = 99;
    char why[200] = "";
    bool ok = spb_decode(buf, len, &d, &skipped, why, sizeof why);
    if (!ok) fprintf(stderr, "decode failed: %s\n", why);
    CHECK(ok);
    if (ok) {
        CHECK_EQ_INT(skipped, 0);
        CHECK(d.has_timestamp);
        CHECK_EQ_INT(d.timestamp_ms, p->timestamp_ms);
        CHECK_EQ_INT(d.has_seq, p->has_seq);
        if (p->has_seq) CHECK_EQ_INT(d.seq, p->seq);
        CHECK_EQ_INT(d.metric_count, p->metric_count);
        for (size_t i = 0; i < d.metric_count && i < p->metric_count; i++) {
            bool same = same_metric(&p->metrics[i], &d.metrics[i]);
            if (!same) fprintf(stderr, "metric %zu differs after the round trip\n", i);
            CHECK(same);
        }
        spb_decoded_free(&d);
    }
    free(buf);
}

static void test_round_trip_every_type(void)
{
    struct spb_metric m[] = {
        metric_named("bool/true", 1, value_bool(true)),
        metric_named("bool/false", 2, value_bool(false)),
        metric_named("int/zero", 3, value_int64(0)),
        metric_named("int/negative", 4, value_int64(-42)),
        metric_named("int/min", 5, value_int64(INT64_MIN)),
        metric_named("int/max", 6, value_int64(INT64_MAX)),
        metric_named("uint/max", 7, value_uint64(UINT64_MAX)),
        metric_named("uint/big", 8, value_uint64(UINT64_C(9007199254740993))), /* 2^53 + 1 */
        metric_named("double/pi", 9, value_double(3.141592653589793)),
        metric_named("double/negzero", 10, value_double(-0.0)),
        metric_named("double/nan", 11, value_double(NAN)),
        metric_named("double/inf", 12, value_double(INFINITY)),
        metric_named("double/-inf", 13, value_double(-INFINITY)),
        metric_named("double/tiny", 14, value_double(4.9406564584124654e-324)),
        metric_named("string/empty", 15, value_text("")),
        metric_named("string/utf8", 16,
                     value_text("Motorstrom \xc3\xa4 \xe2\x82\xac \xf0\x9f\x8f\xad")),
        metric_named("string/ascii", 17, value_text("running")),
    };
    struct spb_payload p = {.timestamp_ms = 1700000000123ull,
                            .has_seq = true,
                            .seq = 17,
                            .metrics = m,
                            .metric_count = sizeof m / sizeof m[0]};
    check_round_trip(&p);

    /* No seq (an NDEATH), no metrics at all. */
    struct spb_payload empty = {.timestamp_ms = 5};
    check_round_trip(&empty);
}

static void test_round_trip_null_historical_alias_quality(void)
{
    struct spb_metric m[6];
    m[0] = metric_named("null/double", 1, value_double(0));
    m[0].is_null = true;
    m[1] = metric_named("null/string", 2, value_text(""));
    m[1].is_null = true;
    m[2] = metric_named(NULL, 3, value_int64(-7)); /* alias only, as DDATA sends */
    m[2].is_historical = true;
    m[3] = metric_named(NULL, 4, value_double(1.5));
    m[3].has_quality = true;
    m[3].quality = QUALITY_BAD_COMMUNICATION_ERROR;
    m[4] = metric_named("q/uncertain", 5, value_bool(true));
    m[4].has_quality = true;
    m[4].quality = QUALITY_UNCERTAIN_LAST_USABLE_VALUE;
    m[5] = metric_named("q/good", 0, value_uint64(12));
    m[5].has_alias = false; /* name only */
    m[5].has_timestamp = false;
    m[5].has_quality = true;
    m[5].quality = QUALITY_GOOD;
    struct spb_payload p = {
        .timestamp_ms = 1, .has_seq = true, .seq = 255, .metrics = m, .metric_count = 6};
    check_round_trip(&p);

    /* The null metrics keep their datatype. */
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!encode(&p, &buf, &len)) return;
    struct spb_decoded d;
    CHECK(spb_decode(buf, len, &d, NULL, NULL, 0));
    CHECK_EQ_INT(d.metrics[0].type, VALUE_DOUBLE);
    CHECK_EQ_INT(d.metrics[1].type, VALUE_STRING);
    spb_decoded_free(&d);
    free(buf);
}

static void test_spb_datatype_of(void)
{
    CHECK_EQ_INT(spb_datatype_of(VALUE_BOOL), 11);
    CHECK_EQ_INT(spb_datatype_of(VALUE_INT64), 4);
    CHECK_EQ_INT(spb_datatype_of(VALUE_UINT64), 8);
    CHECK_EQ_INT(spb_datatype_of(VALUE_DOUBLE), 10);
    CHECK_EQ_INT(spb_datatype_of(VALUE_STRING), 12);
}

static void check_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    CHECK_EQ_INT(got_len, want_len);
    for (size_t i = 0; i < got_len && i < want_len; i++) {
        if (got[i] != want[i])
            fprintf(stderr, "byte %zu: 0x%02X, expected 0x%02X\n", i, got[i], want[i]);
        CHECK_EQ_INT(got[i], want[i]);
    }
}

/* Expected bytes worked out by hand from the protobuf encoding rules (tag =
 * field number << 3 | wire type; 0 varint, 1 fixed64, 2 length-delimited)
 * and the field numbers of the Sparkplug 3.0 schema. */
static void test_wire_bytes_by_hand(void)
{
    /* Payload{timestamp 1, metrics [Metric{name "a", alias 3, datatype Int64,
     * long_value 5}], seq 2}. */
    struct spb_metric m1 = {.name = "a", .has_alias = true, .alias = 3, .type = VALUE_INT64};
    m1.value = value_int64(5);
    struct spb_payload p1 = {
        .timestamp_ms = 1, .has_seq = true, .seq = 2, .metrics = &m1, .metric_count = 1};
    static const uint8_t want1[] = {
        0x08, 0x01,      /* Payload.timestamp (1, varint) = 1 */
        0x12, 0x09,      /* Payload.metrics (2, length 9) */
        0x0A, 0x01, 'a', /*   Metric.name (1) = "a" */
        0x10, 0x03,      /*   Metric.alias (2) = 3 */
        0x20, 0x04,      /*   Metric.datatype (4) = Int64 */
        0x58, 0x05,      /*   Metric.long_value (11) = 5 */
        0x18, 0x02,      /* Payload.seq (3) = 2 */
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    if (encode(&p1, &buf, &len)) check_bytes(buf, len, want1, sizeof want1);
    free(buf);

    /* Payload{timestamp 1000, metrics [Metric{alias 7, timestamp 10, datatype
     * Boolean, is_historical, properties {Quality: Int32 192, StatusCode:
     * UInt32 0}, boolean_value true}], seq 255}. */
    struct spb_metric m2 = {.has_alias = true,
                            .alias = 7,
                            .type = VALUE_BOOL,
                            .has_timestamp = true,
                            .timestamp_ms = 10,
                            .is_historical = true,
                            .has_quality = true,
                            .quality = QUALITY_GOOD};
    m2.value = value_bool(true);
    struct spb_payload p2 = {
        .timestamp_ms = 1000, .has_seq = true, .seq = 255, .metrics = &m2, .metric_count = 1};
    static const uint8_t want2[] = {
        0x08, 0xE8, 0x07,                                 /* Payload.timestamp = 1000 */
        0x12, 0x2E,                                       /* Payload.metrics, 46 bytes */
        0x10, 0x07,                                       /*   Metric.alias = 7 */
        0x18, 0x0A,                                       /*   Metric.timestamp (3) = 10 */
        0x20, 0x0B,                                       /*   Metric.datatype = Boolean (11) */
        0x28, 0x01,                                       /*   Metric.is_historical (5) = true */
        0x4A, 0x22,                                       /*   Metric.properties (9), 34 bytes */
        0x0A, 0x07, 'Q',  'u',  'a',  'l', 'i', 't', 'y', /* PropertySet.keys (1) */
        0x0A, 0x0A, 'S',  't',  'a',  't', 'u', 's', 'C',
        'o',  'd',  'e',  0x12, 0x05, /*     PropertySet.values (2), 5 bytes */
        0x08, 0x03,                   /*       PropertyValue.type (1) = Int32 */
        0x18, 0xC0, 0x01,             /*       PropertyValue.int_value (3) = 192 */
        0x12, 0x04,                   /*     PropertySet.values, 4 bytes */
        0x08, 0x07,                   /*       type = UInt32 */
        0x18, 0x00,                   /*       int_value = 0 (Good) */
        0x70, 0x01,                   /*   Metric.boolean_value (14) = true */
        0x18, 0xFF, 0x01,             /* Payload.seq = 255 */
    };
    if (encode(&p2, &buf, &len)) check_bytes(buf, len, want2, sizeof want2);
    free(buf);

    /* A double and a string: fixed64 little-endian and length-delimited. */
    struct spb_metric m3[2] = {{.has_alias = true, .alias = 1, .type = VALUE_DOUBLE},
                               {.has_alias = true, .alias = 2, .type = VALUE_STRING}};
    m3[0].value = value_double(1.0);
    m3[1].value = value_text("\xc3\xa4");
    struct spb_payload p3 = {.timestamp_ms = 0, .metrics = m3, .metric_count = 2};
    static const uint8_t want3[] = {
        0x08, 0x00,                                        /* timestamp 0 */
        0x12, 0x0D, 0x10, 0x01, 0x20, 0x0A,                /* alias 1, Double */
        0x69, 0,    0,    0,    0,    0,    0, 0xF0, 0x3F, /* double_value (13) = 1.0 */
        0x12, 0x08, 0x10, 0x02, 0x20, 0x0C,                /* alias 2, String */
        0x7A, 0x02, 0xC3, 0xA4,                            /* string_value (15) = "ä" */
    };
    if (encode(&p3, &buf, &len)) check_bytes(buf, len, want3, sizeof want3);
    free(buf);
}

/* Quality is sent as Ignition's Int32 code and the exact StatusCode. */
static void test_quality_properties(void)
{
    static const struct {
        quality_t q;
        uint32_t ignition;
    } cases[] = {
        {QUALITY_GOOD, 192}, {QUALITY_GOOD_CLAMPED, 192}, {QUALITY_UNCERTAIN_SUBSTITUTE_VALUE, 64},
        {QUALITY_BAD, 0},    {QUALITY_BAD_TIMEOUT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct spb_metric m = metric_named("x", 1, value_double(2));
        m.has_quality = true;
        m.quality = cases[i].q;
        struct spb_payload p = {.timestamp_ms = 1, .metrics = &m, .metric_count = 1};
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!encode(&p, &buf, &len)) continue;
        Airlock__Sparkplug__Payload *msg = airlock__sparkplug__payload__unpack(NULL, len, buf);
        CHECK(msg != NULL);
        if (msg) {
            const Airlock__Sparkplug__Payload__PropertySet *set = msg->metrics[0]->properties;
            CHECK(set != NULL);
            if (set && set->n_keys == 2 && set->n_values == 2) {
                CHECK_STR(set->keys[0], "Quality");
                CHECK_EQ_INT(set->values[0]->type, 3);
                CHECK_EQ_INT(set->values[0]->int_value, cases[i].ignition);
                CHECK_STR(set->keys[1], "StatusCode");
                CHECK_EQ_INT(set->values[1]->type, 7);
                CHECK_EQ_INT(set->values[1]->int_value, cases[i].q);
            } else {
                CHECK(false);
            }
            airlock__sparkplug__payload__free_unpacked(msg, NULL);
        }
        free(buf);
    }
}

/* Packs a payload built with the generated API (what another implementation
 * might send) and decodes it with spb_decode. */
static bool decode_foreign(Airlock__Sparkplug__Payload__Metric **metrics, size_t n,
                           struct spb_decoded *d, size_t *skipped)
{
    Airlock__Sparkplug__Payload p;
    airlock__sparkplug__payload__init(&p);
    p.has_timestamp = 1;
    p.timestamp = 42;
    p.n_metrics = n;
    p.metrics = metrics;
    size_t len = airlock__sparkplug__payload__get_packed_size(&p);
    uint8_t *buf = malloc(len ? len : 1);
    airlock__sparkplug__payload__pack(&p, buf);
    char why[200] = "";
    bool ok = spb_decode(buf, len, d, skipped, why, sizeof why);
    if (!ok) fprintf(stderr, "decode failed: %s\n", why);
    free(buf);
    return ok;
}

static void test_decode_other_implementations(void)
{
    enum { N = 14 };
    Airlock__Sparkplug__Payload__Metric pm[N], *ptrs[N];
    for (int i = 0; i < N; i++) {
        airlock__sparkplug__payload__metric__init(&pm[i]);
        pm[i].has_alias = 1;
        pm[i].alias = (uint64_t)i;
        pm[i].has_datatype = 1;
        ptrs[i] = &pm[i];
    }
    /* 0: Int8 -1 sign-extended to 32 bits; 1: Int16 -2 not extended. */
    pm[0].datatype = 1, pm[0].value_case = 10, pm[0].int_value = 0xFFFFFFFFu;
    pm[1].datatype = 2, pm[1].value_case = 10, pm[1].int_value = 0xFFFEu;
    /* 2: Int32 INT32_MIN; 3: UInt32 in long_value (Tahu, sparkplug-payload). */
    pm[2].datatype = 3, pm[2].value_case = 10, pm[2].int_value = 0x80000000u;
    pm[3].datatype = 7, pm[3].value_case = 11, pm[3].long_value = 4000000000u;
    /* 4: Float; 5: DateTime; 6: Text; 7: UInt8 */
    pm[4].datatype = 9, pm[4].value_case = 12, pm[4].float_value = 0.25f;
    pm[5].datatype = 13, pm[5].value_case = 11, pm[5].long_value = 1700000000000u;
    static char text[] = "a text";
    pm[6].datatype = 14, pm[6].value_case = 15, pm[6].string_value = text;
    pm[7].datatype = 5, pm[7].value_case = 10, pm[7].int_value = 200;
    /* 8: Bytes (skipped); 9: datatype Int64 but a string value (skipped). */
    static uint8_t bytes[] = {1, 2, 3};
    pm[8].datatype = 17, pm[8].value_case = 16, pm[8].bytes_value.len = 3;
    pm[8].bytes_value.data = bytes;
    pm[9].datatype = 4, pm[9].value_case = 15, pm[9].string_value = text;
    /* 10: no datatype, a boolean (inferred); 11: no name and no alias (skipped). */
    pm[10].has_datatype = 0, pm[10].value_case = 14, pm[10].boolean_value = 1;
    pm[11].has_alias = 0, pm[11].datatype = 11, pm[11].value_case = 14;
    /* 12: Int64 value, Quality property only (Ignition): 64 -> Uncertain. */
    pm[12].datatype = 4, pm[12].value_case = 11, pm[12].long_value = (uint64_t)-9;
    Airlock__Sparkplug__Payload__PropertySet set;
    Airlock__Sparkplug__Payload__PropertyValue qv, *qvp = &qv;
    static char qkey[] = "Quality";
    char *keys[] = {qkey};
    airlock__sparkplug__payload__property_set__init(&set);
    airlock__sparkplug__payload__property_value__init(&qv);
    qv.has_type = 1, qv.type = 3, qv.value_case = 3, qv.int_value = 64;
    set.n_keys = 1, set.keys = keys, set.n_values = 1, set.values = &qvp;
    pm[12].properties = &set;
    /* 13: a DataSet datatype with no value (skipped). */
    pm[13].datatype = 16;

    struct spb_decoded d;
    size_t skipped = 0;
    if (!decode_foreign(ptrs, N, &d, &skipped)) {
        CHECK(false);
        return;
    }
    CHECK_EQ_INT(skipped, 4);
    CHECK_EQ_INT(d.metric_count, 10);
    CHECK_EQ_INT(d.timestamp_ms, 42);
    CHECK(!d.has_seq);
    if (d.metric_count == 10) {
        struct spb_metric *m = d.metrics;
        CHECK_EQ_INT(m[0].type, VALUE_INT64);
        CHECK_EQ_INT(m[0].value.as.i64, -1);
        CHECK_EQ_INT(m[1].value.as.i64, -2);
        CHECK_EQ_INT(m[2].value.as.i64, INT32_MIN);
        CHECK_EQ_INT(m[3].type, VALUE_UINT64);
        CHECK_EQ_INT(m[3].value.as.u64, 4000000000u);
        CHECK_EQ_INT(m[4].type, VALUE_DOUBLE);
        CHECK_EQ_DBL(m[4].value.as.f64, 0.25, 0);
        CHECK_EQ_INT(m[5].type, VALUE_UINT64);
        CHECK_EQ_INT(m[5].value.as.u64, 1700000000000u);
        CHECK_EQ_INT(m[6].type, VALUE_STRING);
        CHECK_EQ_INT(m[6].value.as.str.len, 6);
        CHECK(memcmp(m[6].value.as.str.ptr, "a text", 6) == 0);
        CHECK_EQ_INT(m[7].value.as.u64, 200);
        CHECK_EQ_INT(m[8].alias, 10);
        CHECK_EQ_INT(m[8].type, VALUE_BOOL);
        CHECK(m[8].value.as.b);
        CHECK_EQ_INT(m[9].alias, 12);
        CHECK_EQ_INT(m[9].value.as.i64, -9);
        CHECK(m[9].has_quality);
        CHECK(quality_is_uncertain(m[9].quality));
        CHECK(!m[0].has_quality);
    }
    spb_decoded_free(&d);
}

static void test_decode_malformed(void)
{
    struct spb_decoded d;
    char why[200] = "";
    static const uint8_t garbage[] = {0xFF, 0xFF, 0xFF, 0xFF};
    CHECK(!spb_decode(garbage, sizeof garbage, &d, NULL, why, sizeof why));
    CHECK(why[0] != '\0');
    CHECK(d.metrics == NULL && d.internal == NULL);
    spb_decoded_free(&d); /* harmless after a failure */

    /* Every proper prefix of a valid payload that cuts a field is refused. */
    struct spb_metric m = metric_named("some/metric", 9, value_text("a value"));
    m.has_quality = true;
    struct spb_payload p = {
        .timestamp_ms = 77, .has_seq = true, .seq = 3, .metrics = &m, .metric_count = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!encode(&p, &buf, &len)) return;
    size_t refused = 0;
    for (size_t cut = 1; cut < len; cut++) {
        size_t skipped = 0;
        if (spb_decode(buf, cut, &d, &skipped, why, sizeof why)) {
            spb_decoded_free(&d);
        } else {
            refused++;
        }
    }
    CHECK(refused > 0);
    /* Cut inside the metric: never accepted. */
    CHECK(!spb_decode(buf, len - 3, &d, NULL, why, sizeof why));
    free(buf);

    /* An empty buffer is an empty payload (protobuf has no required fields). */
    CHECK(spb_decode(NULL, 0, &d, NULL, why, sizeof why));
    CHECK_EQ_INT(d.metric_count, 0);
    CHECK(!d.has_timestamp);
    spb_decoded_free(&d);
}

static void test_encode_refuses(void)
{
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 7;
    char why[200] = "";
    struct spb_metric m = metric_named(NULL, 0, value_int64(1));
    m.has_alias = false;
    struct spb_payload p = {.timestamp_ms = 1, .metrics = &m, .metric_count = 1};
    CHECK(!spb_encode(&p, &buf, &len, why, sizeof why));
    CHECK(buf == NULL && len == 0);
    CHECK(strstr(why, "neither a name nor an alias") != NULL);

    m = metric_named("typed", 1, value_int64(1));
    m.type = VALUE_DOUBLE; /* declared double, holds an int64 */
    CHECK(!spb_encode(&p, &buf, &len, why, sizeof why));
    CHECK(strstr(why, "typed") != NULL);

    struct value v = {.type = VALUE_STRING};
    v.as.str.ptr = "a\0b";
    v.as.str.len = 3;
    m = metric_named("nul", 1, v);
    CHECK(!spb_encode(&p, &buf, &len, why, sizeof why));

    m = metric_named("ok", 1, value_int64(1));
    p.has_seq = true;
    p.seq = 256;
    CHECK(!spb_encode(&p, &buf, &len, why, sizeof why));
    CHECK(strstr(why, "seq") != NULL);

    /* A string that is not NUL-terminated is copied by its length. */
    v.as.str.ptr = "abcdef";
    v.as.str.len = 3;
    m = metric_named("prefix", 1, v);
    p.seq = 0;
    check_round_trip(&p);
    if (encode(&p, &buf, &len)) {
        struct spb_decoded d;
        CHECK(spb_decode(buf, len, &d, NULL, NULL, 0));
        CHECK_EQ_INT(d.metrics[0].value.as.str.len, 3);
        spb_decoded_free(&d);
        free(buf);
    }
}

static void test_topics(void)
{
    char t[128];
    CHECK(spb_topic(t, sizeof t, "plant1", "NBIRTH", "airlock", NULL));
    CHECK_STR(t, "spBv1.0/plant1/NBIRTH/airlock");
    CHECK(spb_topic(t, sizeof t, "plant1", "NDEATH", "airlock", NULL));
    CHECK_STR(t, "spBv1.0/plant1/NDEATH/airlock");
    CHECK(spb_topic(t, sizeof t, "plant1", "NCMD", "airlock", NULL));
    CHECK_STR(t, "spBv1.0/plant1/NCMD/airlock");
    CHECK(spb_topic(t, sizeof t, "plant1", "NDATA", "airlock", NULL));
    CHECK(spb_topic(t, sizeof t, "plant1", "DDATA", "airlock", "skid1"));
    CHECK_STR(t, "spBv1.0/plant1/DDATA/airlock/skid1");
    CHECK(spb_topic(t, sizeof t, "plant1", "DBIRTH", "airlock", "skid 1 \xc3\xa4"));
    CHECK_STR(t, "spBv1.0/plant1/DBIRTH/airlock/skid 1 \xc3\xa4");
    CHECK(spb_topic(t, sizeof t, "g", "DDEATH", "e", "d"));
    CHECK(spb_topic(t, sizeof t, "g", "DCMD", "e", "d"));
    CHECK_STR(t, "spBv1.0/g/DCMD/e/d");

    CHECK(!spb_topic(t, sizeof t, "plant1", "DDATA", "airlock", NULL));    /* device needed */
    CHECK(!spb_topic(t, sizeof t, "plant1", "NDATA", "airlock", "skid1")); /* none allowed */
    CHECK(!spb_topic(t, sizeof t, "plant1", "STATE", "airlock", NULL));
    CHECK(!spb_topic(t, sizeof t, "plant1", "ndata", "airlock", NULL));
    CHECK(!spb_topic(t, sizeof t, "pl/ant", "NDATA", "airlock", NULL));
    CHECK(!spb_topic(t, sizeof t, "plant", "NDATA", "air+lock", NULL));
    CHECK(!spb_topic(t, sizeof t, "plant", "DDATA", "airlock", "sk#id"));
    CHECK(!spb_topic(t, sizeof t, "", "NDATA", "airlock", NULL));
    CHECK(!spb_topic(t, sizeof t, NULL, "NDATA", "airlock", NULL));
    CHECK_STR(t, "");
    /* Too small: exactly one byte short, then exactly right. */
    const char *want = "spBv1.0/plant1/NBIRTH/airlock";
    CHECK(!spb_topic(t, strlen(want), "plant1", "NBIRTH", "airlock", NULL));
    CHECK(spb_topic(t, strlen(want) + 1, "plant1", "NBIRTH", "airlock", NULL));
    CHECK_STR(t, want);

    CHECK(spb_state_topic(t, sizeof t, "scada"));
    CHECK_STR(t, "spBv1.0/STATE/scada");
    CHECK(!spb_state_topic(t, sizeof t, "sca/da"));
    CHECK(!spb_state_topic(t, sizeof t, ""));
    CHECK(!spb_state_topic(t, 10, "scada"));
}

static void test_ids(void)
{
    CHECK(spb_id_valid("plant1"));
    CHECK(spb_id_valid("Sparkplug B Devices"));
    CHECK(spb_id_valid("Gr\xc3\xbc\xc3\x9f"
                       "e-\xe2\x82\xac_\xf0\x9f\x8f\xad.1"));
    CHECK(!spb_id_valid(NULL));
    CHECK(!spb_id_valid(""));
    CHECK(!spb_id_valid("a/b"));
    CHECK(!spb_id_valid("a+b"));
    CHECK(!spb_id_valid("a#b"));
    CHECK(!spb_id_valid("tab\there"));
    CHECK(!spb_id_valid("del\x7f"));
    CHECK(!spb_id_valid("c1\xc2\x85"));       /* U+0085, a C1 control */
    CHECK(!spb_id_valid("bad\xff"));          /* not UTF-8 */
    CHECK(!spb_id_valid("\xc0\xaf"));         /* overlong '/' */
    CHECK(!spb_id_valid("\xed\xa0\x80"));     /* a surrogate */
    CHECK(!spb_id_valid("cut\xe2\x82"));      /* truncated sequence */
    CHECK(!spb_id_valid("\xf4\x90\x80\x80")); /* beyond U+10FFFF */

    char out[32];
    spb_id_sanitize("plant1", out, sizeof out);
    CHECK_STR(out, "plant1");
    spb_id_sanitize("a/b+c#d", out, sizeof out);
    CHECK_STR(out, "a_b_c_d");
    spb_id_sanitize("x\ty\xffz", out, sizeof out);
    CHECK_STR(out, "x_y_z");
    spb_id_sanitize("", out, sizeof out);
    CHECK_STR(out, "_");
    spb_id_sanitize(NULL, out, sizeof out);
    CHECK_STR(out, "_");
    spb_id_sanitize("Gr\xc3\xbc\xc3\x9f"
                    "e",
                    out, sizeof out);
    CHECK_STR(out, "Gr\xc3\xbc\xc3\x9f"
                   "e");
    CHECK(spb_id_valid(out));
    /* Truncation never cuts a character in two. */
    spb_id_sanitize("ab\xe2\x82\xac", out, 5);
    CHECK_STR(out, "ab");
    spb_id_sanitize("abcdef", out, 4);
    CHECK_STR(out, "abc");
    spb_id_sanitize("abc", out, 1);
    CHECK_STR(out, "");
    /* Whatever goes in, a non-empty result is valid. */
    static const char *const samples[] = {"/", "+#", "\x01\x02", "\xc0\xaf", "ok", "\xed\xa0\x80x"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        spb_id_sanitize(samples[i], out, sizeof out);
        CHECK(spb_id_valid(out));
    }
}

static bool parse_state_text(const char *s, bool *online, uint64_t *ts)
{
    return spb_parse_state((const uint8_t *)s, strlen(s), online, ts);
}

static void test_state(void)
{
    bool online = false;
    uint64_t ts = 0;
    CHECK(parse_state_text("{\"online\": true, \"timestamp\": 1700000000000}", &online, &ts));
    CHECK(online);
    CHECK_EQ_INT(ts, 1700000000000ll);
    CHECK(parse_state_text("{\"timestamp\":5,\"online\":false}", &online, &ts));
    CHECK(!online);
    CHECK_EQ_INT(ts, 5);
    CHECK(parse_state_text("{\"online\":true,\"timestamp\":12.0,\"extra\":[1]}", &online, &ts));
    CHECK_EQ_INT(ts, 12);

    online = true;
    ts = 99;
    CHECK(!parse_state_text("{\"online\": true}", &online, &ts));
    CHECK(!parse_state_text("{\"timestamp\": 1}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": \"true\", \"timestamp\": 1}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": 1, \"timestamp\": 1}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": true, \"timestamp\": -1}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": true, \"timestamp\": 1.5}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": true, \"timestamp\": \"1\"}", &online, &ts));
    CHECK(!parse_state_text("{\"online\": true, \"timestamp\": 1", &online, &ts));
    CHECK(!parse_state_text("ONLINE", &online, &ts)); /* Sparkplug 2.2 STATE */
    CHECK(!parse_state_text("[true, 1]", &online, &ts));
    CHECK(!parse_state_text("", &online, &ts));
    CHECK(!spb_parse_state(NULL, 0, &online, &ts));
    static const uint8_t with_nul[] = "{\"online\":true,\"timestamp\":1}\0junk";
    CHECK(!spb_parse_state(with_nul, sizeof with_nul - 1, &online, &ts));
    CHECK(online && ts == 99); /* untouched on failure */
}

/* ---- the interop modes (see the file comment) ---- */

static bool write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

static bool encode_to_file(const char *dir, const char *name, const struct spb_payload *p)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[200] = "";
    if (!spb_encode(p, &buf, &len, why, sizeof why)) {
        fprintf(stderr, "%s: %s\n", name, why);
        return false;
    }
    bool ok = write_file(dir, name, buf, len);
    free(buf);
    return ok;
}

/* The payloads test_spb_interop.mjs expects, value for value. */
static int write_interop_payloads(const char *dir)
{
    struct spb_metric birth[] = {
        metric_named("bdSeq", 1, value_uint64(3)),
        metric_named("Node Control/Rebirth", 2, value_bool(false)),
        metric_named("pumping/flow", 3, value_double(12.5)),
        metric_named("pumping/count", 4, value_int64(-123456789012)),
        metric_named("pumping/total", 5, value_uint64(UINT64_MAX)),
        metric_named("pumping/state", 6, value_text("l\xc3\xa4uft \xe2\x82\xac")),
        metric_named("pumping/empty", 7, value_text("")),
        metric_named("pumping/nan", 8, value_double(NAN)),
        metric_named("pumping/missing", 9, value_double(0)),
        metric_named("pumping/running", 10, value_bool(true)),
    };
    birth[2].has_quality = true;
    birth[2].quality = QUALITY_GOOD;
    birth[3].has_quality = true;
    birth[3].quality = QUALITY_UNCERTAIN_LAST_USABLE_VALUE;
    birth[8].is_null = true;
    birth[8].has_quality = true;
    birth[8].quality = QUALITY_BAD_COMMUNICATION_ERROR;
    struct spb_payload nbirth = {.timestamp_ms = 1700000000000ull,
                                 .has_seq = true,
                                 .seq = 0,
                                 .metrics = birth,
                                 .metric_count = sizeof birth / sizeof birth[0]};

    struct spb_metric data[] = {
        metric_named(NULL, 3, value_double(-0.5)),
        metric_named(NULL, 4, value_int64(7)),
    };
    data[0].is_historical = true;
    data[0].timestamp_ms = 1600000000000ull;
    data[1].has_quality = true;
    data[1].quality = QUALITY_BAD_TIMEOUT;
    struct spb_payload ddata = {.timestamp_ms = 1700000000500ull,
                                .has_seq = true,
                                .seq = 255,
                                .metrics = data,
                                .metric_count = 2};
    bool ok =
        encode_to_file(dir, "nbirth.bin", &nbirth) && encode_to_file(dir, "ddata.bin", &ddata);
    return ok ? 0 : 1;
}

static json_t *metric_json(const struct spb_metric *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", m->name ? json_string(m->name) : json_null());
    json_object_set_new(o, "alias",
                        m->has_alias ? json_integer((json_int_t)m->alias) : json_null());
    json_object_set_new(o, "type", json_string(value_type_name(m->type)));
    json_object_set_new(o, "is_null", json_boolean(m->is_null));
    json_object_set_new(o, "is_historical", json_boolean(m->is_historical));
    json_object_set_new(o, "timestamp",
                        m->has_timestamp ? json_integer((json_int_t)m->timestamp_ms) : json_null());
    json_object_set_new(o, "quality", m->has_quality ? json_integer(m->quality) : json_null());
    json_t *v = json_null();
    char digits[32];
    if (!m->is_null) {
        switch (m->type) {
        case VALUE_BOOL:
            v = json_boolean(m->value.as.b);
            break;
        case VALUE_INT64: /* as text: JSON numbers lose digits beyond 2^53 */
            snprintf(digits, sizeof digits, "%" PRId64, m->value.as.i64);
            v = json_string(digits);
            break;
        case VALUE_UINT64:
            snprintf(digits, sizeof digits, "%" PRIu64, m->value.as.u64);
            v = json_string(digits);
            break;
        case VALUE_DOUBLE:
            v = isfinite(m->value.as.f64) ? json_real(m->value.as.f64) : json_string("non-finite");
            break;
        case VALUE_STRING:
            v = json_stringn(m->value.as.str.ptr, m->value.as.str.len);
            break;
        }
    }
    json_object_set_new(o, "value", v);
    return o;
}

/* Decodes a file and prints it as one JSON object; 0 on success. */
static int decode_file_to_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct spb_decoded d;
    size_t skipped = 0;
    char why[200] = "";
    if (!spb_decode(buf, len, &d, &skipped, why, sizeof why)) {
        json_t *failure = json_pack("{s:b, s:s}", "ok", 0, "why", why);
        char *text = json_dumps(failure, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
        json_decref(failure);
        return 1;
    }
    json_t *root = json_object();
    json_object_set_new(root, "ok", json_true());
    json_object_set_new(root, "timestamp",
                        d.has_timestamp ? json_integer((json_int_t)d.timestamp_ms) : json_null());
    json_object_set_new(root, "seq", d.has_seq ? json_integer((json_int_t)d.seq) : json_null());
    json_object_set_new(root, "skipped", json_integer((json_int_t)skipped));
    json_t *metrics = json_array();
    for (size_t i = 0; i < d.metric_count; i++)
        json_array_append_new(metrics, metric_json(&d.metrics[i]));
    json_object_set_new(root, "metrics", metrics);
    char *text = json_dumps(root, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(root);
    spb_decoded_free(&d);
    return 0;
}

int main(void)
{
    const char *dump_dir = getenv("AIRLOCK_SPB_DUMP_DIR");
    if (dump_dir && *dump_dir) return write_interop_payloads(dump_dir);
    const char *decode_path = getenv("AIRLOCK_SPB_DECODE_FILE");
    if (decode_path && *decode_path) return decode_file_to_json(decode_path);

    test_spb_datatype_of();
    test_round_trip_every_type();
    test_round_trip_null_historical_alias_quality();
    test_wire_bytes_by_hand();
    test_quality_properties();
    test_decode_other_implementations();
    test_decode_malformed();
    test_encode_refuses();
    test_topics();
    test_ids();
    test_state();
    return test_summary();
}
