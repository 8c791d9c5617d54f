/* libFuzzer target for the OPC UA binary encoding (drivers/opcua/ua_types.h).
 * Decodes the input as a Variant, a DataValue, a NodeId, an ExpandedNodeId,
 * a DiagnosticInfo and an array of the built-in type named by the first
 * byte, and parses it as NodeId text. Invariants (any violation aborts):
 * a failure names a reason at an offset inside the input and leaves the
 * nesting depth at 0; the arena never passes its limit; whatever decoded
 * re-encodes (except reserved type ids, which encoders must refuse), the
 * encoding decodes to an equal value, and encoding that again gives the
 * same bytes; a parsed NodeId text formats to a text that parses back to
 * the same NodeId. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/opcua/ua_types.h"

#define ARENA_LIMIT (8u * 1024u * 1024u)
#define WRITER_LIMIT (64u * 1024u * 1024u)

static void check(int cond)
{
    if (!cond) abort();
}

static void check_failure(const struct ua_reader *r, size_t size)
{
    check(r->failed && r->fail_reason != NULL);
    check(r->fail_offset <= size);
    check(r->depth == 0);
}

typedef bool (*decode_fn)(struct ua_reader *, struct ua_arena *, void *);
typedef bool (*encode_fn)(struct ua_writer *, const void *);
typedef bool (*equal_fn)(const void *, const void *);

/* The public functions behind one signature each. */
static bool dec_variant(struct ua_reader *r, struct ua_arena *a, void *out)
{
    return ua_decode_variant(r, a, out);
}
static bool dec_datavalue(struct ua_reader *r, struct ua_arena *a, void *out)
{
    return ua_decode_datavalue(r, a, out);
}
static bool dec_diag(struct ua_reader *r, struct ua_arena *a, void *out)
{
    return ua_decode_diagnostic_info(r, a, out);
}
static bool dec_nodeid(struct ua_reader *r, struct ua_arena *a, void *out)
{
    (void)a;
    return ua_decode_nodeid(r, out);
}
static bool dec_expanded(struct ua_reader *r, struct ua_arena *a, void *out)
{
    (void)a;
    return ua_decode_expanded_nodeid(r, out);
}
static bool enc_variant(struct ua_writer *w, const void *v)
{
    return ua_encode_variant(w, v);
}
static bool enc_datavalue(struct ua_writer *w, const void *v)
{
    return ua_encode_datavalue(w, v);
}
static bool enc_diag(struct ua_writer *w, const void *v)
{
    return ua_encode_diagnostic_info(w, v);
}
static bool enc_nodeid(struct ua_writer *w, const void *v)
{
    return ua_encode_nodeid(w, v);
}
static bool enc_expanded(struct ua_writer *w, const void *v)
{
    return ua_encode_expanded_nodeid(w, v);
}
static bool eq_variant(const void *a, const void *b)
{
    return ua_variant_equal(a, b);
}
static bool eq_datavalue(const void *a, const void *b)
{
    return ua_datavalue_equal(a, b);
}
static bool eq_diag(const void *a, const void *b)
{
    return ua_diagnostic_info_equal(a, b);
}
static bool eq_nodeid(const void *a, const void *b)
{
    return ua_nodeid_equal(a, b);
}
static bool eq_expanded(const void *a, const void *b)
{
    return ua_expanded_nodeid_equal(a, b);
}

struct codec {
    decode_fn decode;
    encode_fn encode;
    equal_fn equal;
};

static const struct codec codecs[] = {
    {dec_variant, enc_variant, eq_variant},
    {dec_datavalue, enc_datavalue, eq_datavalue},
    {dec_diag, enc_diag, eq_diag},
    {dec_nodeid, enc_nodeid, eq_nodeid},
    {dec_expanded, enc_expanded, eq_expanded},
};

/* Room for the largest of the decoded structures. */
union any_value {
    struct ua_variant v;
    struct ua_datavalue dv;
    struct ua_diagnostic_info di;
    struct ua_nodeid n;
    struct ua_expanded_nodeid x;
};

/* Re-encodes a decoded value and checks the round trip. */
static void round_trip(const struct codec *c, const void *decoded, struct ua_arena *a)
{
    struct ua_writer w1, w2;
    ua_writer_init(&w1, WRITER_LIMIT);
    ua_writer_init(&w2, WRITER_LIMIT);
    if (!c->encode(&w1, decoded)) {
        /* Only reserved type ids (26..31) may be decoded but not encoded. */
        check(w1.fail_reason && strcmp(w1.fail_reason, "Variant: reserved type id") == 0);
    } else {
        union any_value again;
        struct ua_reader r;
        ua_reader_init(&r, w1.data, w1.len);
        check(c->decode(&r, a, &again));
        check(ua_reader_remaining(&r) == 0);
        check(c->equal(decoded, &again));
        check(c->encode(&w2, &again));
        check(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0);
    }
    ua_writer_free(&w1);
    ua_writer_free(&w2);
}

static void fuzz_codec(const struct codec *c, const uint8_t *data, size_t size, struct ua_arena *a)
{
    /* Consecutive values until the input ends or one fails. */
    struct ua_reader r;
    ua_reader_init(&r, data, size);
    for (int i = 0; i < 8 && ua_reader_remaining(&r) > 0; i++) {
        union any_value v;
        size_t before = r.pos;
        if (!c->decode(&r, a, &v)) {
            check_failure(&r, size);
            break;
        }
        check(r.pos > before && r.pos <= size && r.depth == 0);
        round_trip(c, &v, a);
        check(a->allocated_bytes <= ARENA_LIMIT);
    }
    ua_arena_reset(a);
}

static void fuzz_array(const uint8_t *data, size_t size, struct ua_arena *a)
{
    if (size < 1) return;
    unsigned type = 1 + data[0] % UA_TYPE_MAX_RESERVED;
    struct ua_reader r;
    ua_reader_init(&r, data + 1, size - 1);
    void *elems;
    int32_t count;
    if (!ua_decode_array(&r, a, type, &elems, &count)) {
        check_failure(&r, size - 1);
    } else {
        check(count >= -1 && (count <= 0) == (elems == NULL));
        if (type <= UA_TYPE_MAX_KNOWN) {
            /* Compare through a Variant array holding the elements. */
            struct ua_variant v = ua_variant_array(type, elems, count);
            struct ua_writer w;
            ua_writer_init(&w, WRITER_LIMIT);
            if (ua_encode_array(&w, type, elems, count)) {
                struct ua_reader r2;
                ua_reader_init(&r2, w.data, w.len);
                void *again;
                int32_t count2;
                check(ua_decode_array(&r2, a, type, &again, &count2));
                struct ua_variant v2 = ua_variant_array(type, again, count2);
                check(ua_variant_equal(&v, &v2));
            } else {
                check(w.fail_reason && strcmp(w.fail_reason, "Variant: reserved type id") == 0);
            }
            ua_writer_free(&w);
        }
    }
    check(a->allocated_bytes <= ARENA_LIMIT);
    ua_arena_reset(a);
}

static void fuzz_text(const uint8_t *data, size_t size, struct ua_arena *a)
{
    struct ua_nodeid n;
    char why[128];
    if (ua_nodeid_parse((const char *)data, size, a, &n, why, sizeof why)) {
        size_t need = ua_nodeid_format(&n, NULL, 0);
        char *text = malloc(need + 1);
        check(text != NULL);
        check(ua_nodeid_format(&n, text, need + 1) == need);
        struct ua_nodeid again;
        check(ua_nodeid_parse(text, need, a, &again, why, sizeof why));
        check(ua_nodeid_equal(&n, &again));
        free(text);
    } else {
        check(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
    }
    struct ua_expanded_nodeid x;
    if (ua_expanded_nodeid_parse((const char *)data, size, a, &x, why, sizeof why)) {
        char text[256];
        size_t need = ua_expanded_nodeid_format(&x, text, sizeof text);
        if (need < sizeof text) {
            struct ua_expanded_nodeid again;
            check(ua_expanded_nodeid_parse(text, need, a, &again, why, sizeof why));
            check(ua_expanded_nodeid_equal(&x, &again));
        }
    }
    ua_arena_reset(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        fuzz_codec(&codecs[i], data, size, &a);
    fuzz_array(data, size, &a);
    fuzz_text(data, size, &a);
    ua_arena_free(&a);
    return 0;
}
