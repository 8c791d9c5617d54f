/* Tests of the OPC UA binary encoding (drivers/opcua/ua_buf.h, ua_types.h):
 * the buffers (reader failure rules, writer growth and limits, arena
 * limits); byte-exact vectors written from OPC UA Part 6 5.2 (the spec's
 * Int32, Float, String, Guid and NodeId examples, a Variant Int32 array,
 * a multi-dimensional array, a DataValue and a DiagnosticInfo with every
 * mask bit); round trips of every built-in type as scalar and array;
 * truncation at every offset; hostile lengths, counts and nesting; the
 * NodeId text forms; DateTime and StatusCode helpers; conversion to
 * airlock's values; and a throughput figure for DataValue decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/opcua/ua_types.h"
#include "testlib.h"

#define ARENA_LIMIT (16u * 1024u * 1024u)

static bool bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Checks that the writer holds exactly want. */
#define CHECK_WRITTEN(w, ...)                                                                      \
    do {                                                                                           \
        const uint8_t want_[] = {__VA_ARGS__};                                                     \
        CHECK(ua_writer_ok(w));                                                                    \
        bool same_ = bytes_equal((w)->data, (w)->len, want_, sizeof want_);                        \
        CHECK(same_);                                                                              \
        if (!same_) test_dump_mismatch(#w, (w)->data, (w)->len, want_, sizeof want_);              \
    } while (0)

/* ------------------------------------------------------------------ buffers */

static void test_reader(void)
{
    const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x00, 0xFF};
    struct ua_reader r;
    ua_reader_init(&r, buf, sizeof buf);
    CHECK_EQ_INT(ua_read_u8(&r), 0x01);
    CHECK_EQ_INT(ua_read_u16(&r), 0x0302);
    CHECK_EQ_INT(ua_read_u32(&r), 0x07060504);
    CHECK_EQ_INT(ua_reader_remaining(&r), 4);
    CHECK(ua_read_bool(&r));  /* 0x08: any non-zero is true */
    CHECK(ua_read_bool(&r));  /* 0x09 */
    CHECK(!ua_read_bool(&r)); /* 0x00 */
    CHECK_EQ_INT(ua_read_i8(&r), -1);
    CHECK(ua_reader_ok(&r));
    CHECK_EQ_INT(ua_reader_remaining(&r), 0);
    /* Past the end: 0, failed at offset 11, and sticky. */
    CHECK_EQ_INT(ua_read_u32(&r), 0);
    CHECK(!ua_reader_ok(&r));
    CHECK_EQ_INT(r.fail_offset, 11);
    CHECK_STR(r.fail_reason, "truncated");
    ua_reader_fail(&r, "second failure");
    CHECK_STR(r.fail_reason, "truncated");
    CHECK(ua_read_bytes(&r, 0) == NULL);

    /* A failed read does not move the position; later reads fail too. */
    ua_reader_init(&r, buf, 3);
    CHECK_EQ_INT(ua_read_u16(&r), 0x0201);
    CHECK_EQ_INT(ua_read_u16(&r), 0);
    CHECK_EQ_INT(r.pos, 2);
    CHECK_EQ_INT(ua_read_u8(&r), 0);
    CHECK_EQ_INT(r.fail_offset, 2);

    /* Zero-copy bytes, skip, sub-readers. */
    ua_reader_init(&r, buf, sizeof buf);
    const uint8_t *p = ua_read_bytes(&r, 3);
    CHECK(p == buf);
    CHECK(ua_read_skip(&r, 2));
    struct ua_reader sub;
    CHECK(ua_reader_sub(&r, 4, &sub));
    CHECK_EQ_INT(ua_read_u32(&sub), 0x09080706);
    CHECK_EQ_INT(ua_read_u8(&sub), 0);
    CHECK(!ua_reader_ok(&sub));
    CHECK(ua_reader_ok(&r));
    CHECK(!ua_reader_sub(&r, 3, &sub));
    CHECK(!ua_reader_ok(&sub));

    /* An empty reader over NULL. */
    ua_reader_init(&r, NULL, 0);
    CHECK(ua_read_bytes(&r, 0) != NULL);
    CHECK_EQ_INT(ua_read_u8(&r), 0);
    CHECK(!ua_reader_ok(&r));

    /* 64-bit and floating point, spec figures: Float -6.5 is C0D00000. */
    const uint8_t f[] = {0x00, 0x00, 0xD0, 0xC0, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F};
    ua_reader_init(&r, f, sizeof f);
    CHECK_EQ_DBL(ua_read_float(&r), -6.5, 0);
    CHECK_EQ_DBL(ua_read_double(&r), 1.5, 0);
    CHECK(ua_reader_ok(&r));
}

static void test_writer(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 1000);
    CHECK(ua_write_i32(&w, 1000000000)); /* Part 6 figure: 00 CA 9A 3B */
    CHECK(ua_write_float(&w, -6.5f));
    CHECK(ua_write_bool(&w, true));
    CHECK(ua_write_i16(&w, -2));
    CHECK(ua_write_u64(&w, 0x0102030405060708ull));
    CHECK_WRITTEN(&w, 0x00, 0xCA, 0x9A, 0x3B, 0x00, 0x00, 0xD0, 0xC0, 0x01, 0xFE, 0xFF, 0x08, 0x07,
                  0x06, 0x05, 0x04, 0x03, 0x02, 0x01);

    /* Reserve and patch a length. */
    ua_writer_reset(&w);
    size_t at = ua_write_reserve(&w, 4);
    CHECK_EQ_INT(at, 0);
    CHECK(ua_write_u8(&w, 0xAA));
    CHECK(ua_write_patch_u32(&w, at, (uint32_t)w.len));
    CHECK_WRITTEN(&w, 0x05, 0x00, 0x00, 0x00, 0xAA);
    CHECK(!ua_write_patch_u32(&w, 2, 0)); /* past what was written */
    CHECK(!ua_writer_ok(&w));
    CHECK_STR(w.fail_reason, "patch out of range");

    /* Growth up to the limit, then a sticky failure with len unchanged. */
    ua_writer_reset(&w);
    for (int i = 0; i < 250; i++)
        CHECK(ua_write_u32(&w, (uint32_t)i));
    CHECK_EQ_INT(w.len, 1000);
    CHECK(!ua_write_u8(&w, 1));
    CHECK_EQ_INT(w.len, 1000);
    CHECK_STR(w.fail_reason, "message size limit reached");
    CHECK(!ua_write_u8(&w, 1));
    CHECK_EQ_INT(ua_write_reserve(&w, 4), SIZE_MAX);
    CHECK(!ua_write_patch_u32(&w, SIZE_MAX, 1));
    CHECK(ua_writer_release(&w, NULL) == NULL); /* failed */
    ua_writer_free(&w);

    /* Release hands the buffer over. */
    ua_writer_init(&w, 64);
    CHECK(ua_write_u16(&w, 0xBEEF));
    size_t len = 0;
    uint8_t *taken = ua_writer_release(&w, &len);
    CHECK(taken != NULL);
    CHECK_EQ_INT(len, 2);
    if (taken) CHECK_EQ_INT(taken[0], 0xEF);
    free(taken);
    CHECK_EQ_INT(w.len, 0);
    CHECK(w.data == NULL);
    ua_writer_free(&w);

    /* Fixed mode. */
    uint8_t mem[6];
    ua_writer_init_fixed(&w, mem, sizeof mem);
    CHECK(ua_write_u32(&w, 7));
    CHECK(!ua_write_u32(&w, 8));
    CHECK_EQ_INT(w.len, 4);
    CHECK(ua_writer_release(&w, NULL) == NULL);
    ua_writer_reset(&w);
    CHECK(ua_write_u16(&w, 1) && ua_write_u32(&w, 2));
    CHECK_EQ_INT(w.len, 6);
    CHECK(w.data == mem);
    ua_writer_free(&w); /* no-op for the caller's memory */

    /* A zero limit writes nothing, not even zero bytes into no buffer. */
    ua_writer_init(&w, 0);
    CHECK(!ua_write_bytes(&w, NULL, 0));
    ua_writer_free(&w);
}

static void test_arena(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 1024, 8192);
    char *p1 = ua_arena_alloc(&a, 3);
    char *p2 = ua_arena_alloc(&a, 8);
    CHECK(p1 && p2);
    CHECK(((uintptr_t)p1 % UA_ARENA_ALIGN) == 0 && ((uintptr_t)p2 % UA_ARENA_ALIGN) == 0);
    CHECK(p2 >= p1 + 3);
    memset(p1, 1, 3);
    memset(p2, 2, 8);
    /* A large request gets its own chunk; the small ones continue after. */
    char *big = ua_arena_alloc(&a, 3000);
    CHECK(big != NULL);
    char *p3 = ua_arena_alloc(&a, 8);
    CHECK(p3 == p2 + 8);
    /* Past the limit: NULL and failed, the arena still usable. */
    CHECK(ua_arena_alloc(&a, 6000) == NULL);
    CHECK(a.failed);
    CHECK(a.allocated_bytes <= 8192);
    CHECK(ua_arena_alloc_array(&a, SIZE_MAX / 2, 4) == NULL);
    CHECK(ua_arena_alloc_array(&a, 0, 4) == NULL);
    int *zeros = ua_arena_alloc_array(&a, 10, sizeof(int));
    CHECK(zeros && zeros[0] == 0 && zeros[9] == 0);
    /* Reset keeps one standard chunk for the next message. */
    ua_arena_reset(&a);
    CHECK(!a.failed);
    CHECK(a.allocated_bytes > 0 && a.allocated_bytes < 2048);
    CHECK(ua_arena_alloc(&a, 16) != NULL);
    ua_arena_free(&a);
    CHECK_EQ_INT(a.allocated_bytes, 0);
    CHECK(ua_arena_alloc(&a, 16) != NULL);
    ua_arena_free(&a);
}

/* ------------------------------------------------------ spec byte vectors */

static void test_spec_strings_and_guid(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 4096);
    /* Part 6 figure: the String "水Boy" (6 bytes of UTF-8). */
    CHECK(ua_encode_string(&w, ua_string_from_cstr("\xE6\xB0\xB4"
                                                   "Boy")));
    CHECK_WRITTEN(&w, 0x06, 0x00, 0x00, 0x00, 0xE6, 0xB0, 0xB4, 0x42, 0x6F, 0x79);
    ua_writer_reset(&w);
    CHECK(ua_encode_string(&w, UA_STRING_NULL));
    CHECK(ua_encode_string(&w, ua_string_from_cstr("")));
    CHECK_WRITTEN(&w, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00);

    struct ua_reader r;
    ua_reader_init(&r, w.data, w.len);
    struct ua_string s1 = UA_STRING_NULL, s2 = UA_STRING_NULL;
    CHECK(ua_decode_string(&r, &s1) && ua_decode_string(&r, &s2));
    CHECK(ua_string_is_null(s1));
    CHECK(!ua_string_is_null(s2) && s2.length == 0);
    CHECK(!ua_string_equal(s1, s2));

    /* Part 6 figure: Guid 72962B91-FA75-4AE6-8D28-B404DC7DAF63. */
    struct ua_guid g;
    CHECK(ua_guid_parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63", 36, &g));
    ua_writer_reset(&w);
    CHECK(ua_encode_guid(&w, &g));
    CHECK_WRITTEN(&w, 0x91, 0x2B, 0x96, 0x72, 0x75, 0xFA, 0xE6, 0x4A, 0x8D, 0x28, 0xB4, 0x04, 0xDC,
                  0x7D, 0xAF, 0x63);
    char text[37];
    ua_guid_format(&g, text);
    CHECK_STR(text, "72962b91-fa75-4ae6-8d28-b404dc7daf63");
    struct ua_guid g2;
    ua_reader_init(&r, w.data, w.len);
    CHECK(ua_decode_guid(&r, &g2));
    CHECK(memcmp(&g, &g2, sizeof g) == 0);
    ua_writer_free(&w);
}

static void test_spec_nodeids(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 4096);
    /* Part 6 figures: two-byte i=72, four-byte ns=5;i=1025, string
     * ns=1;s=Hot水. */
    struct ua_nodeid n = ua_nodeid_numeric(0, 72);
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x00, 0x48);
    ua_writer_reset(&w);
    n = ua_nodeid_numeric(5, 1025);
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x01, 0x05, 0x01, 0x04);
    ua_writer_reset(&w);
    n = ua_nodeid_string(1, "Hot\xE6\xB0\xB4");
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x48, 0x6F, 0x74, 0xE6, 0xB0, 0xB4);
    /* The full numeric form when the short ones do not fit. */
    ua_writer_reset(&w);
    n = ua_nodeid_numeric(0x1234, 0x12345678);
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x02, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12);
    ua_writer_reset(&w);
    n = ua_nodeid_numeric(0, 256); /* too big for two bytes */
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x01, 0x00, 0x00, 0x01);
    ua_writer_reset(&w);
    n = ua_nodeid_numeric(256, 1); /* namespace too big for four bytes */
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x02, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00);
    /* Guid and opaque. */
    ua_writer_reset(&w);
    n = (struct ua_nodeid){.ns = 1, .type = UA_NODEID_GUID};
    CHECK(ua_guid_parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63", 36, &n.id.guid));
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x04, 0x01, 0x00, 0x91, 0x2B, 0x96, 0x72, 0x75, 0xFA, 0xE6, 0x4A, 0x8D, 0x28,
                  0xB4, 0x04, 0xDC, 0x7D, 0xAF, 0x63);
    ua_writer_reset(&w);
    n = (struct ua_nodeid){.ns = 2, .type = UA_NODEID_BYTESTRING};
    n.id.string = (struct ua_string){"\x01\x02", 2};
    CHECK(ua_encode_nodeid(&w, &n));
    CHECK_WRITTEN(&w, 0x05, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02);

    /* Decoding every form, including numeric forms an encoder could have
     * shortened. */
    const uint8_t forms[] = {0x00, 0x48, 0x01, 0x05, 0x01, 0x04, 0x02, 0x00, 0x00, 0x48, 0x00,
                             0x00, 0x00, 0x05, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02};
    struct ua_reader r;
    ua_reader_init(&r, forms, sizeof forms);
    struct ua_nodeid d;
    CHECK(ua_decode_nodeid(&r, &d));
    CHECK(d.ns == 0 && d.type == UA_NODEID_NUMERIC && d.id.numeric == 72);
    CHECK(ua_decode_nodeid(&r, &d));
    CHECK(d.ns == 5 && d.id.numeric == 1025);
    CHECK(ua_decode_nodeid(&r, &d));
    struct ua_nodeid i72 = ua_nodeid_numeric(0, 72);
    CHECK(ua_nodeid_equal(&d, &i72));
    CHECK(ua_decode_nodeid(&r, &d));
    CHECK(ua_nodeid_equal(&d, &n));
    CHECK_EQ_INT(ua_reader_remaining(&r), 0);

    /* ExpandedNodeId: i=72 with a namespace URI and a server index. */
    ua_writer_reset(&w);
    struct ua_expanded_nodeid x = {ua_nodeid_numeric(0, 72), ua_string_from_cstr("urn:x"), 3};
    CHECK(ua_encode_expanded_nodeid(&w, &x));
    CHECK_WRITTEN(&w, 0xC0, 0x48, 0x05, 0x00, 0x00, 0x00, 'u', 'r', 'n', ':', 'x', 0x03, 0x00, 0x00,
                  0x00);
    ua_reader_init(&r, w.data, w.len);
    struct ua_expanded_nodeid xd;
    CHECK(ua_decode_expanded_nodeid(&r, &xd));
    CHECK(ua_expanded_nodeid_equal(&x, &xd));
    /* The same flags are refused in a plain NodeId. */
    ua_reader_init(&r, w.data, w.len);
    CHECK(!ua_decode_nodeid(&r, &d));
    CHECK_EQ_INT(r.fail_offset, 0);
    /* Without flags an ExpandedNodeId is just the NodeId. */
    ua_writer_reset(&w);
    x = (struct ua_expanded_nodeid){ua_nodeid_numeric(5, 1025), UA_STRING_NULL, 0};
    CHECK(ua_encode_expanded_nodeid(&w, &x));
    CHECK_WRITTEN(&w, 0x01, 0x05, 0x01, 0x04);
    ua_writer_free(&w);
}

static void test_spec_structures(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 4096);
    struct ua_reader r;

    struct ua_qualified_name q = {2, ua_string_from_cstr("Foo")};
    CHECK(ua_encode_qualified_name(&w, &q));
    CHECK_WRITTEN(&w, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 'F', 'o', 'o');

    ua_writer_reset(&w);
    struct ua_localized_text t = {ua_string_from_cstr("en"), ua_string_from_cstr("Hi")};
    CHECK(ua_encode_localized_text(&w, &t));
    CHECK_WRITTEN(&w, 0x03, 0x02, 0x00, 0x00, 0x00, 'e', 'n', 0x02, 0x00, 0x00, 0x00, 'H', 'i');
    ua_writer_reset(&w);
    t.locale = UA_STRING_NULL;
    CHECK(ua_encode_localized_text(&w, &t));
    CHECK_WRITTEN(&w, 0x02, 0x02, 0x00, 0x00, 0x00, 'H', 'i');
    ua_writer_reset(&w);
    t.text = UA_STRING_NULL;
    CHECK(ua_encode_localized_text(&w, &t));
    CHECK_WRITTEN(&w, 0x00);
    const uint8_t bad_lt[] = {0x04};
    struct ua_localized_text td;
    ua_reader_init(&r, bad_lt, sizeof bad_lt);
    CHECK(!ua_decode_localized_text(&r, &td));
    CHECK_STR(r.fail_reason, "LocalizedText: unknown mask bits");

    /* ExtensionObject: type i=1, binary body of 3 bytes, kept zero-copy. */
    ua_writer_reset(&w);
    struct ua_extension_object e = {ua_nodeid_numeric(0, 1), UA_EXTENSION_OBJECT_BINARY,
                                    (struct ua_string){"\x0A\x0B\x0C", 3}};
    CHECK(ua_encode_extension_object(&w, &e));
    CHECK_WRITTEN(&w, 0x00, 0x01, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0x0B, 0x0C);
    ua_reader_init(&r, w.data, w.len);
    struct ua_extension_object ed;
    CHECK(ua_decode_extension_object(&r, &ed));
    CHECK(ed.encoding == UA_EXTENSION_OBJECT_BINARY && ed.body.length == 3);
    CHECK(ed.body.data == (const char *)w.data + 7);
    ua_writer_reset(&w);
    e = (struct ua_extension_object){ua_nodeid_numeric(0, 1), UA_EXTENSION_OBJECT_NO_BODY,
                                     UA_STRING_NULL};
    CHECK(ua_encode_extension_object(&w, &e));
    CHECK_WRITTEN(&w, 0x00, 0x01, 0x00);
    const uint8_t bad_eo[] = {0x00, 0x01, 0x03};
    ua_reader_init(&r, bad_eo, sizeof bad_eo);
    CHECK(!ua_decode_extension_object(&r, &ed));
    CHECK_EQ_INT(r.fail_offset, 2);
    CHECK_STR(r.fail_reason, "ExtensionObject: unknown body encoding");
    ua_writer_free(&w);
}

static void test_spec_variants(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 4096);
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_reader r;
    struct ua_variant d;

    /* Scalars: empty, Double 1.5, StatusCode BadTimeout. */
    struct ua_variant v = {0};
    CHECK(ua_encode_variant(&w, &v));
    v = ua_variant_double(1.5);
    CHECK(ua_encode_variant(&w, &v));
    v = (struct ua_variant){.type = UA_TYPE_STATUSCODE};
    v.as.status = UA_STATUS_BAD_TIMEOUT;
    CHECK(ua_encode_variant(&w, &v));
    CHECK_WRITTEN(&w, 0x00, 0x0B, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0x13, 0x00, 0x00, 0x0A, 0x80);

    /* An Int32 array [1, 2, 3]: mask 0x86, length, values. */
    ua_writer_reset(&w);
    int32_t ints[] = {1, 2, 3};
    v = ua_variant_array(UA_TYPE_INT32, ints, 3);
    CHECK(ua_encode_variant(&w, &v));
    CHECK_WRITTEN(&w, 0x86, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                  0x03, 0x00, 0x00, 0x00);
    ua_reader_init(&r, w.data, w.len);
    CHECK(ua_decode_variant(&r, &a, &d));
    CHECK(d.type == UA_TYPE_INT32 && d.is_array && d.array_length == 3);
    CHECK(d.as.array && ((int32_t *)d.as.array)[2] == 3);
    CHECK(ua_variant_equal(&v, &d));

    /* A 2x2 Byte matrix: mask 0xC3, length 4, values, dimensions [2, 2]. */
    ua_writer_reset(&w);
    uint8_t matrix[] = {1, 2, 3, 4};
    int32_t dims[] = {2, 2};
    v = ua_variant_array(UA_TYPE_BYTE, matrix, 4);
    v.dims = dims;
    v.dims_count = 2;
    CHECK(ua_encode_variant(&w, &v));
    CHECK_WRITTEN(&w, 0xC3, 0x04, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x02, 0x00, 0x00, 0x00,
                  0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00);
    ua_reader_init(&r, w.data, w.len);
    CHECK(ua_decode_variant(&r, &a, &d));
    CHECK(d.dims_count == 2 && d.dims[0] == 2 && d.dims[1] == 2);
    CHECK(ua_variant_equal(&v, &d));
    /* Dimensions that do not multiply to the length are refused both ways. */
    dims[1] = 3;
    ua_writer_reset(&w);
    CHECK(!ua_encode_variant(&w, &v));
    const uint8_t bad_dims[] = {0xC3, 0x04, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x02, 0x00,
                                0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00};
    ua_reader_init(&r, bad_dims, sizeof bad_dims);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_EQ_INT(r.fail_offset, 9);
    CHECK_STR(r.fail_reason, "Variant: ArrayDimensions do not match the array length");
    /* A zero dimension means no values. */
    const uint8_t zero_dim[] = {0xC3, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
                                0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00};
    ua_reader_init(&r, zero_dim, sizeof zero_dim);
    CHECK(ua_decode_variant(&r, &a, &d));
    CHECK(d.array_length == 0 && d.dims_count == 2 && d.dims[1] == 5);

    /* Null array, dimensions without an array, a scalar Variant in a
     * Variant, an array of Null, a reserved type id (read as ByteString). */
    const uint8_t null_array[] = {0x86, 0xFF, 0xFF, 0xFF, 0xFF};
    ua_reader_init(&r, null_array, sizeof null_array);
    CHECK(ua_decode_variant(&r, &a, &d));
    CHECK(d.is_array && d.array_length == -1 && d.as.array == NULL);
    ua_writer_reset(&w);
    CHECK(ua_encode_variant(&w, &d));
    CHECK(bytes_equal(w.data, w.len, null_array, sizeof null_array));
    const uint8_t dims_no_array[] = {0x46, 0x01, 0x00, 0x00, 0x00};
    ua_reader_init(&r, dims_no_array, sizeof dims_no_array);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "Variant: ArrayDimensions without an array");
    const uint8_t scalar_variant[] = {0x18, 0x00};
    ua_reader_init(&r, scalar_variant, sizeof scalar_variant);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "Variant: a scalar Variant in a Variant");
    const uint8_t null_type_array[] = {0x80, 0x00, 0x00, 0x00, 0x00};
    ua_reader_init(&r, null_type_array, sizeof null_type_array);
    CHECK(!ua_decode_variant(&r, &a, &d));
    const uint8_t reserved[] = {0x1A, 0x02, 0x00, 0x00, 0x00, 0xAB, 0xCD};
    ua_reader_init(&r, reserved, sizeof reserved);
    CHECK(ua_decode_variant(&r, &a, &d));
    CHECK(d.type == 26 && d.as.string.length == 2);
    ua_writer_reset(&w);
    CHECK(!ua_encode_variant(&w, &d)); /* encoders shall not use 26..31 */
    CHECK_STR(w.fail_reason, "Variant: reserved type id");
    /* Type ids 32..63 fit in the mask but do not exist. */
    const uint8_t type63[] = {0x3F, 0x00, 0x00, 0x00, 0x00};
    ua_reader_init(&r, type63, sizeof type63);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "Variant: unknown type id");
    const uint8_t type63_array[] = {0xBF, 0x01, 0x00, 0x00, 0x00, 0x00};
    ua_reader_init(&r, type63_array, sizeof type63_array);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "Variant: unknown type id");
    void *elems;
    int32_t count;
    ua_reader_init(&r, type63_array + 1, 4);
    CHECK(!ua_decode_array(&r, &a, 0, &elems, &count));
    ua_reader_init(&r, type63_array + 1, 4);
    CHECK(!ua_decode_scalar(&r, &a, 40, &count));
    ua_writer_reset(&w);
    CHECK(!ua_encode_array(&w, 26, NULL, 0));

    ua_arena_free(&a);
    ua_writer_free(&w);
}

static void test_spec_datavalue_and_diagnostics(void)
{
    struct ua_writer w;
    ua_writer_init(&w, 4096);
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_reader r;

    /* Every mask bit: Value, Status, SourceTimestamp, SourcePicoseconds,
     * ServerTimestamp, ServerPicoseconds, in that order. */
    struct ua_datavalue dv = {
        .mask = 0x3F,
        .value = ua_variant_int32(42),
        .status = UA_STATUS_BAD_NODE_ID_UNKNOWN,
        .source_timestamp = 0x0102030405060708,
        .source_picoseconds = 100,
        .server_timestamp = 0x1112131415161718,
        .server_picoseconds = 9999,
    };
    CHECK(ua_encode_datavalue(&w, &dv));
    CHECK_WRITTEN(&w, 0x3F, 0x06, 0x2A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x34, 0x80, 0x08, 0x07, 0x06,
                  0x05, 0x04, 0x03, 0x02, 0x01, 0x64, 0x00, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13,
                  0x12, 0x11, 0x0F, 0x27);
    struct ua_datavalue dd;
    ua_reader_init(&r, w.data, w.len);
    CHECK(ua_decode_datavalue(&r, &a, &dd));
    CHECK(ua_datavalue_equal(&dv, &dd));
    CHECK_EQ_INT(dd.value.as.int32, 42);
    CHECK_EQ_INT(dd.server_picoseconds, 9999);

    /* Picoseconds >= 10000 are read as 9999; absent fields are 0. */
    const uint8_t pico[] = {0x10, 0x10, 0x27};
    ua_reader_init(&r, pico, sizeof pico);
    CHECK(ua_decode_datavalue(&r, &a, &dd));
    CHECK_EQ_INT(dd.source_picoseconds, 9999);
    CHECK_EQ_INT(dd.status, 0);
    CHECK_EQ_INT(dd.source_timestamp, 0);
    CHECK_EQ_INT(dd.value.type, UA_TYPE_NULL);
    const uint8_t unknown_bits[] = {0x40};
    ua_reader_init(&r, unknown_bits, sizeof unknown_bits);
    CHECK(!ua_decode_datavalue(&r, &a, &dd));
    CHECK_STR(r.fail_reason, "DataValue: unknown mask bits");
    /* An empty DataValue is one byte. */
    ua_writer_reset(&w);
    dv = (struct ua_datavalue){0};
    CHECK(ua_encode_datavalue(&w, &dv));
    CHECK_WRITTEN(&w, 0x00);

    /* DiagnosticInfo with every field and an inner one. */
    ua_writer_reset(&w);
    struct ua_diagnostic_info inner = {.mask = UA_DIAG_HAS_SYMBOLIC_ID, .symbolic_id = 5};
    struct ua_diagnostic_info di = {
        .mask = 0x7F,
        .symbolic_id = 1,
        .namespace_uri = 2,
        .locale = 3,
        .localized_text = 4,
        .additional_info = ua_string_from_cstr("x"),
        .inner_status = UA_STATUS_BAD,
        .inner = &inner,
    };
    CHECK(ua_encode_diagnostic_info(&w, &di));
    CHECK_WRITTEN(&w, 0x7F, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
                  0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 'x', 0x00, 0x00, 0x00, 0x80, 0x01,
                  0x05, 0x00, 0x00, 0x00);
    struct ua_diagnostic_info dd2;
    ua_reader_init(&r, w.data, w.len);
    CHECK(ua_decode_diagnostic_info(&r, &a, &dd2));
    CHECK(ua_diagnostic_info_equal(&di, &dd2));
    CHECK(dd2.inner && dd2.inner->symbolic_id == 5 && dd2.inner->locale == -1);
    ua_arena_free(&a);
    ua_writer_free(&w);
}

/* ------------------------------------------------------------ round trips */

/* One sample value of every built-in type, in its C type. */
struct samples {
    bool boolean;
    int8_t sbyte;
    uint8_t byte;
    int16_t int16;
    uint16_t uint16;
    int32_t int32;
    uint32_t uint32;
    int64_t int64;
    uint64_t uint64;
    float f32;
    double f64;
    struct ua_string string;
    int64_t datetime;
    struct ua_guid guid;
    struct ua_string bytestring;
    struct ua_string xml;
    struct ua_nodeid nodeid;
    struct ua_expanded_nodeid expanded;
    uint32_t status;
    struct ua_qualified_name qname;
    struct ua_localized_text ltext;
    struct ua_extension_object ext;
    struct ua_datavalue datavalue;
    struct ua_variant variant;
    struct ua_diagnostic_info diag;
    struct ua_diagnostic_info diag_inner;
};

static void make_samples(struct samples *s)
{
    memset(s, 0, sizeof *s);
    s->boolean = true;
    s->sbyte = -5;
    s->byte = 200;
    s->int16 = -300;
    s->uint16 = 60000;
    s->int32 = -70000;
    s->uint32 = 4000000000u;
    s->int64 = -5000000000000LL;
    s->uint64 = 18000000000000000000ull;
    s->f32 = 3.25f;
    s->f64 = -2.5e-300;
    s->string = ua_string_from_cstr("hello, \xE6\xB0\xB4");
    s->datetime = 133485408000000000LL;
    ua_guid_parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63", 36, &s->guid);
    s->bytestring = (struct ua_string){"\x00\x01\xFF", 3};
    s->xml = ua_string_from_cstr("<a b=\"c\"/>");
    s->nodeid = ua_nodeid_string(3, "Pump.Speed");
    s->expanded = (struct ua_expanded_nodeid){ua_nodeid_numeric(0, 2253),
                                              ua_string_from_cstr("http://x/"), 7};
    s->status = UA_STATUS_BAD_SESSION_ID_INVALID | 0x0400u;
    s->qname = (struct ua_qualified_name){4, ua_string_from_cstr("Speed")};
    s->ltext =
        (struct ua_localized_text){ua_string_from_cstr("de"), ua_string_from_cstr("Drehzahl")};
    s->ext = (struct ua_extension_object){ua_nodeid_numeric(0, 887), UA_EXTENSION_OBJECT_BINARY,
                                          (struct ua_string){"\x01\x02\x03\x04", 4}};
    s->datavalue =
        (struct ua_datavalue){.mask = UA_DATAVALUE_HAS_VALUE | UA_DATAVALUE_HAS_SOURCE_TIMESTAMP |
                                      UA_DATAVALUE_HAS_STATUS,
                              .value = ua_variant_double(21.5),
                              .status = UA_STATUS_UNCERTAIN,
                              .source_timestamp = 133485408000000001LL};
    s->variant = ua_variant_string(ua_string_from_cstr("inner"));
    s->diag_inner = (struct ua_diagnostic_info){.mask = UA_DIAG_HAS_INNER_STATUS,
                                                .inner_status = UA_STATUS_BAD_TIMEOUT};
    s->diag = (struct ua_diagnostic_info){.mask = UA_DIAG_HAS_ADDITIONAL_INFO |
                                                  UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO,
                                          .additional_info = ua_string_from_cstr("why"),
                                          .inner = &s->diag_inner};
}

static const void *sample_of(const struct samples *s, unsigned type)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        return &s->boolean;
    case UA_TYPE_SBYTE:
        return &s->sbyte;
    case UA_TYPE_BYTE:
        return &s->byte;
    case UA_TYPE_INT16:
        return &s->int16;
    case UA_TYPE_UINT16:
        return &s->uint16;
    case UA_TYPE_INT32:
        return &s->int32;
    case UA_TYPE_UINT32:
        return &s->uint32;
    case UA_TYPE_INT64:
        return &s->int64;
    case UA_TYPE_UINT64:
        return &s->uint64;
    case UA_TYPE_FLOAT:
        return &s->f32;
    case UA_TYPE_DOUBLE:
        return &s->f64;
    case UA_TYPE_STRING:
        return &s->string;
    case UA_TYPE_DATETIME:
        return &s->datetime;
    case UA_TYPE_GUID:
        return &s->guid;
    case UA_TYPE_BYTESTRING:
        return &s->bytestring;
    case UA_TYPE_XMLELEMENT:
        return &s->xml;
    case UA_TYPE_NODEID:
        return &s->nodeid;
    case UA_TYPE_EXPANDEDNODEID:
        return &s->expanded;
    case UA_TYPE_STATUSCODE:
        return &s->status;
    case UA_TYPE_QUALIFIEDNAME:
        return &s->qname;
    case UA_TYPE_LOCALIZEDTEXT:
        return &s->ltext;
    case UA_TYPE_EXTENSIONOBJECT:
        return &s->ext;
    case UA_TYPE_DATAVALUE:
        return &s->datavalue;
    case UA_TYPE_VARIANT:
        return &s->variant;
    default:
        return &s->diag;
    }
}

/* A scalar Variant of type holding value (pointer members point at it). */
static struct ua_variant scalar_variant(unsigned type, const void *value)
{
    struct ua_variant v = {.type = (uint8_t)type};
    switch (type) {
    case UA_TYPE_NODEID:
    case UA_TYPE_EXPANDEDNODEID:
    case UA_TYPE_QUALIFIEDNAME:
    case UA_TYPE_LOCALIZEDTEXT:
    case UA_TYPE_EXTENSIONOBJECT:
    case UA_TYPE_DATAVALUE:
    case UA_TYPE_DIAGNOSTICINFO:
        v.as.array = (void *)value;
        break;
    default:
        memcpy(&v.as, value, ua_type_size(type));
        break;
    }
    return v;
}

/* Encodes v, decodes it, checks it is equal and re-encodes to the same
 * bytes; then checks every shorter prefix fails cleanly. */
static void round_trip_variant(const struct ua_variant *v, struct ua_arena *a)
{
    struct ua_writer w, w2;
    ua_writer_init(&w, 1 << 20);
    ua_writer_init(&w2, 1 << 20);
    CHECK(ua_encode_variant(&w, v));
    struct ua_reader r;
    ua_reader_init(&r, w.data, w.len);
    struct ua_variant d;
    bool ok = ua_decode_variant(&r, a, &d);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  type %u: %s at %zu\n", v->type, r.fail_reason, r.fail_offset);
    CHECK_EQ_INT(ua_reader_remaining(&r), 0);
    CHECK(ua_variant_equal(v, &d));
    CHECK(ua_encode_variant(&w2, &d));
    CHECK(bytes_equal(w.data, w.len, w2.data, w2.len));
    for (size_t cut = 0; cut < w.len; cut++) {
        ua_reader_init(&r, w.data, cut);
        CHECK(!ua_decode_variant(&r, a, &d));
        CHECK(r.fail_reason != NULL);
        CHECK(r.fail_offset <= cut);
        CHECK_EQ_INT(r.depth, 0);
    }
    ua_writer_free(&w);
    ua_writer_free(&w2);
}

static void test_round_trip_every_type(void)
{
    struct samples s;
    make_samples(&s);
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    for (unsigned type = 1; type <= UA_TYPE_MAX_KNOWN; type++) {
        const void *value = sample_of(&s, type);
        size_t size = ua_type_size(type);
        if (type != UA_TYPE_VARIANT) {
            struct ua_variant v = scalar_variant(type, value);
            round_trip_variant(&v, &a);
        }
        /* An array of three, and the same as a 3x1 matrix. */
        _Alignas(16) char elems[3 * sizeof(struct ua_datavalue)];
        for (int i = 0; i < 3; i++)
            memcpy(elems + (size_t)i * size, value, size);
        struct ua_variant arr = ua_variant_array(type, elems, 3);
        round_trip_variant(&arr, &a);
        int32_t dims[] = {3, 1};
        arr.dims = dims;
        arr.dims_count = 2;
        round_trip_variant(&arr, &a);
        struct ua_variant empty = ua_variant_array(type, NULL, 0);
        round_trip_variant(&empty, &a);

        /* Outside a Variant: ua_encode_array / ua_decode_array. */
        struct ua_writer w;
        ua_writer_init(&w, 1 << 16);
        CHECK(ua_encode_array(&w, type, elems, 3));
        struct ua_reader r;
        ua_reader_init(&r, w.data, w.len);
        void *got = NULL;
        int32_t count = 0;
        CHECK(ua_decode_array(&r, &a, type, &got, &count));
        CHECK_EQ_INT(count, 3);
        struct ua_variant back = ua_variant_array(type, got, count);
        arr.dims_count = 0;
        CHECK(ua_variant_equal(&arr, &back));
        ua_writer_free(&w);
        ua_arena_reset(&a);
    }

    /* Nested: a Variant array of Variants of different types, inside a
     * DataValue inside a Variant. */
    struct ua_variant mixed[4] = {ua_variant_double(1.0),
                                  ua_variant_string(UA_STRING_NULL),
                                  ua_variant_array(UA_TYPE_INT32, &s.int32, 1),
                                  {0}};
    struct ua_datavalue dv = {.mask = UA_DATAVALUE_HAS_VALUE,
                              .value = ua_variant_array(UA_TYPE_VARIANT, mixed, 4)};
    struct ua_variant outer = {.type = UA_TYPE_DATAVALUE};
    outer.as.datavalue = &dv;
    round_trip_variant(&outer, &a);

    /* NaN and -0.0 survive bit for bit. */
    double odd[] = {-0.0, __builtin_nan("0x12345")};
    struct ua_variant odd_v = ua_variant_array(UA_TYPE_DOUBLE, odd, 2);
    round_trip_variant(&odd_v, &a);
    ua_arena_free(&a);
}

/* ---------------------------------------------------------- hostile input */

static void test_hostile_lengths(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 4096, 64 * 1024);
    struct ua_reader r;
    struct ua_variant d;
    struct ua_string s;

    const uint8_t neg2[] = {0xFE, 0xFF, 0xFF, 0xFF};
    ua_reader_init(&r, neg2, sizeof neg2);
    CHECK(!ua_decode_string(&r, &s));
    CHECK_STR(r.fail_reason, "String: negative length");
    const uint8_t huge[] = {0xFF, 0xFF, 0xFF, 0x7F, 'a'};
    ua_reader_init(&r, huge, sizeof huge);
    CHECK(!ua_decode_string(&r, &s));
    CHECK_EQ_INT(r.fail_offset, 0);
    CHECK_STR(r.fail_reason, "String: length past the end");

    /* Arrays claiming 2^31 - 1 elements, and -2. */
    const uint8_t big_array[] = {0x86, 0xFF, 0xFF, 0xFF, 0x7F, 1, 0, 0, 0};
    ua_reader_init(&r, big_array, sizeof big_array);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_EQ_INT(r.fail_offset, 1);
    CHECK_STR(r.fail_reason, "array: length past the end");
    CHECK_EQ_INT(a.allocated_bytes, 0);
    const uint8_t neg_array[] = {0x86, 0xFE, 0xFF, 0xFF, 0xFF};
    ua_reader_init(&r, neg_array, sizeof neg_array);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "array: negative length");
    void *elems;
    int32_t count;
    ua_reader_init(&r, big_array + 1, sizeof big_array - 1);
    CHECK(!ua_decode_array(&r, &a, UA_TYPE_DIAGNOSTICINFO, &elems, &count));

    /* A legitimate-looking array whose decoded form passes the arena
     * limit: 20,000 empty Variants (one byte each on the wire). */
    size_t n = 20000;
    uint8_t *buf = calloc(1, 5 + n);
    buf[0] = 0x98;
    put_u32le(buf + 1, (uint32_t)n);
    ua_reader_init(&r, buf, 5 + n);
    CHECK(!ua_decode_variant(&r, &a, &d));
    CHECK_STR(r.fail_reason, "decoded data past the arena limit");
    CHECK(a.allocated_bytes <= 64 * 1024);
    ua_arena_reset(&a);
    /* With room it decodes. */
    struct ua_arena big;
    ua_arena_init(&big, 0, ARENA_LIMIT);
    ua_reader_init(&r, buf, 5 + n);
    CHECK(ua_decode_variant(&r, &big, &d));
    CHECK_EQ_INT(d.array_length, (int64_t)n);
    ua_arena_free(&big);
    free(buf);

    /* NodeId with an unknown encoding. */
    const uint8_t bad_nodeid[] = {0x06, 0x00};
    struct ua_nodeid nid;
    ua_reader_init(&r, bad_nodeid, sizeof bad_nodeid);
    CHECK(!ua_decode_nodeid(&r, &nid));
    CHECK_STR(r.fail_reason, "NodeId: unknown encoding");
    ua_arena_free(&a);
}

static void test_hostile_nesting(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_reader r;
    uint8_t buf[512];

    /* Variant arrays of one Variant, `levels` deep, ending in an empty one. */
    for (int levels = 30; levels <= 40; levels++) {
        size_t len = 0;
        for (int i = 0; i < levels - 1; i++) {
            buf[len++] = 0x98;
            put_u32le(buf + len, 1);
            len += 4;
        }
        buf[len++] = 0x00;
        struct ua_variant d;
        ua_reader_init(&r, buf, len);
        bool ok = ua_decode_variant(&r, &a, &d);
        CHECK_EQ_INT(ok, levels <= UA_MAX_NESTING_DEPTH);
        if (!ok) CHECK_STR(r.fail_reason, "Variant: nesting too deep");
        CHECK_EQ_INT(r.depth, 0);
        if (ok) {
            /* Re-encodes to the same bytes. */
            struct ua_writer w;
            ua_writer_init(&w, 4096);
            CHECK(ua_encode_variant(&w, &d));
            CHECK(bytes_equal(w.data, w.len, buf, len));
            ua_writer_free(&w);
        }
    }

    /* DiagnosticInfo with inner ones, `levels` deep. */
    for (int levels = 31; levels <= 33; levels++) {
        memset(buf, 0x40, (size_t)levels - 1);
        buf[levels - 1] = 0x00;
        struct ua_diagnostic_info d;
        ua_reader_init(&r, buf, (size_t)levels);
        bool ok = ua_decode_diagnostic_info(&r, &a, &d);
        CHECK_EQ_INT(ok, levels <= UA_MAX_NESTING_DEPTH);
        if (!ok) CHECK_STR(r.fail_reason, "DiagnosticInfo: nesting too deep");
    }

    /* DataValue -> Variant(DataValue) -> ... alternating. */
    size_t len = 0;
    for (int i = 0; i < 40; i++) {
        buf[len++] = 0x01; /* DataValue with a value */
        buf[len++] = 0x17; /* Variant holding a DataValue */
    }
    buf[len++] = 0x00;
    struct ua_datavalue dv;
    ua_reader_init(&r, buf, len);
    CHECK(!ua_decode_datavalue(&r, &a, &dv));
    CHECK(strstr(r.fail_reason, "nesting too deep") != NULL);
    ua_arena_free(&a);
}

/* ------------------------------------------------------------ text forms */

static void check_parse_ok(const char *text, const char *canonical)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, 1 << 20);
    struct ua_nodeid n;
    char why[128] = "";
    bool ok = ua_nodeid_parse(text, strlen(text), &a, &n, why, sizeof why);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  \"%s\": %s\n", text, why);
    char out[256];
    size_t len = ua_nodeid_format(&n, out, sizeof out);
    CHECK_STR(out, canonical);
    CHECK_EQ_INT(len, strlen(canonical));
    /* The canonical form parses to the same NodeId. */
    struct ua_nodeid again;
    CHECK(ua_nodeid_parse(out, len, &a, &again, NULL, 0));
    CHECK(ua_nodeid_equal(&n, &again));
    ua_arena_free(&a);
}

static void check_parse_fails(const char *text)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, 1 << 20);
    struct ua_nodeid n;
    char why[128] = "";
    bool ok = ua_nodeid_parse(text, strlen(text), &a, &n, why, sizeof why);
    CHECK(!ok);
    if (ok) fprintf(stderr, "  \"%s\" parsed\n", text);
    CHECK(why[0] != '\0');
    ua_arena_free(&a);
}

static void test_nodeid_text(void)
{
    check_parse_ok("i=85", "i=85");
    check_parse_ok("ns=0;i=85", "i=85");
    check_parse_ok("ns=2;s=Pump.Speed", "ns=2;s=Pump.Speed");
    check_parse_ok("ns=65535;i=4294967295", "ns=65535;i=4294967295");
    check_parse_ok("ns=1;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63",
                   "ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63");
    check_parse_ok("ns=1;b=M/RbKBsRVkePCePcx24oRA==", "ns=1;b=M/RbKBsRVkePCePcx24oRA==");
    check_parse_ok("b=AQI", "b=AQI=");
    check_parse_ok("s=a;b=c", "s=a;b=c"); /* everything after s= */
    check_parse_ok("ns=3;s=\xE6\xB0\xB4 x", "ns=3;s=\xE6\xB0\xB4 x");

    struct ua_arena a;
    ua_arena_init(&a, 0, 1 << 20);
    struct ua_nodeid n;
    CHECK(ua_nodeid_parse("ns=2;s=Pump.Speed", 17, &a, &n, NULL, 0));
    CHECK(n.ns == 2 && n.type == UA_NODEID_STRING &&
          ua_string_equal_cstr(n.id.string, "Pump.Speed"));
    CHECK(ua_nodeid_parse("ns=1;b=M/RbKBsRVkePCePcx24oRA==", 31, &a, &n, NULL, 0));
    CHECK(n.type == UA_NODEID_BYTESTRING && n.id.string.length == 16);
    CHECK_EQ_INT((uint8_t)n.id.string.data[0], 0x33);
    /* Only len bytes are read. */
    CHECK(ua_nodeid_parse("i=123456", 4, &a, &n, NULL, 0));
    CHECK_EQ_INT(n.id.numeric, 12);

    const char *bad[] = {"",
                         "85",
                         "i=",
                         "i=-1",
                         "i=+1",
                         "i=4294967296",
                         "i=12a",
                         "i= 1",
                         " i=1",
                         "ns=;i=1",
                         "ns=65536;i=1",
                         "ns=-1;i=1",
                         "ns=1i=1",
                         "ns=1",
                         "ns=1;",
                         "ns=1;x=1",
                         "s=",
                         "g=72962b91-fa75-4ae6-8d28-b404dc7daf6",
                         "g={72962b91-fa75-4ae6-8d28-b404dc7daf63}",
                         "g=72962b91+fa75-4ae6-8d28-b404dc7daf63",
                         "g=7296zb91-fa75-4ae6-8d28-b404dc7daf63",
                         "b=",
                         "b=@@@@",
                         "b=A",
                         "b=AQ=",
                         "b=A===",
                         "I=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_parse_fails(bad[i]);

    /* ExpandedNodeId forms. */
    struct ua_expanded_nodeid x;
    const char *xt = "svr=2;nsu=http://x.org/UA/;s=Foo";
    CHECK(ua_expanded_nodeid_parse(xt, strlen(xt), &a, &x, NULL, 0));
    CHECK_EQ_INT(x.server_index, 2);
    CHECK(ua_string_equal_cstr(x.namespace_uri, "http://x.org/UA/"));
    CHECK(ua_string_equal_cstr(x.nodeid.id.string, "Foo"));
    char out[128];
    ua_expanded_nodeid_format(&x, out, sizeof out);
    CHECK_STR(out, xt);
    CHECK(ua_expanded_nodeid_parse("ns=4;i=5", 8, &a, &x, NULL, 0));
    CHECK(x.nodeid.ns == 4 && ua_string_is_null(x.namespace_uri) && x.server_index == 0);
    ua_expanded_nodeid_format(&x, out, sizeof out);
    CHECK_STR(out, "ns=4;i=5");
    char why[128];
    CHECK(!ua_expanded_nodeid_parse("nsu=urn:a;ns=1;i=2", 18, &a, &x, why, sizeof why));
    CHECK(!ua_expanded_nodeid_parse("nsu=;i=2", 8, &a, &x, why, sizeof why));
    CHECK(!ua_expanded_nodeid_parse("svr=x;i=2", 9, &a, &x, why, sizeof why));

    /* Formatting into a short buffer truncates and reports the length. */
    n = ua_nodeid_string(12, "LongIdentifier");
    char small[8];
    size_t need = ua_nodeid_format(&n, small, sizeof small);
    CHECK_EQ_INT(need, strlen("ns=12;s=LongIdentifier"));
    CHECK_STR(small, "ns=12;s");
    ua_arena_free(&a);
}

/* ---------------------------------------------------- helpers and values */

static void test_datetime(void)
{
    CHECK_EQ_INT(ua_datetime_to_unix_ns(UA_DATETIME_UNIX_EPOCH), 0);
    CHECK_EQ_INT(ua_datetime_from_unix_ns(0), UA_DATETIME_UNIX_EPOCH);
    /* 2024-01-01T00:00:00Z = 1704067200 s. */
    int64_t dt = 133485408000000000LL;
    CHECK_EQ_INT(ua_datetime_to_unix_ns(dt), 1704067200000000000LL);
    CHECK_EQ_INT(ua_datetime_from_unix_ns(1704067200000000000LL), dt);
    /* Sub-100 ns parts are truncated towards the past. */
    CHECK_EQ_INT(ua_datetime_from_unix_ns(1704067200000000099LL), dt);
    CHECK_EQ_INT(ua_datetime_from_unix_ns(-1), UA_DATETIME_UNIX_EPOCH - 1);
    /* MinValue / MaxValue and the platform's range. */
    CHECK_EQ_INT(ua_datetime_to_unix_ns(0), INT64_MIN);
    CHECK_EQ_INT(ua_datetime_to_unix_ns(-5), INT64_MIN);
    CHECK_EQ_INT(ua_datetime_to_unix_ns(INT64_MAX), INT64_MAX);
    CHECK_EQ_INT(ua_datetime_to_unix_ns(1), INT64_MIN); /* 1601, before 1677 */
    CHECK_EQ_INT(ua_datetime_to_unix_ns(INT64_MAX - 1), INT64_MAX);
    CHECK_EQ_INT(ua_datetime_from_unix_ns(INT64_MIN), 0);
    CHECK_EQ_INT(ua_datetime_from_unix_ns(INT64_MAX), INT64_MAX);
    int64_t early = ua_datetime_from_unix_ns(INT64_MIN + 1);
    CHECK(early > 0);
    CHECK(ua_datetime_to_unix_ns(early) <= INT64_MIN + 100);
}

static void test_status_names(void)
{
    CHECK_STR(ua_status_name(0), "Good");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_SESSION_ID_INVALID), "BadSessionIdInvalid");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID), "BadSecureChannelIdInvalid");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_TIMEOUT), "BadTimeout");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_NODE_ID_UNKNOWN), "BadNodeIdUnknown");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_USER_ACCESS_DENIED), "BadUserAccessDenied");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_IDENTITY_TOKEN_INVALID), "BadIdentityTokenInvalid");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_CERTIFICATE_UNTRUSTED), "BadCertificateUntrusted");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_TOO_MANY_PUBLISH_REQUESTS), "BadTooManyPublishRequests");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_NO_SUBSCRIPTION), "BadNoSubscription");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_SEQUENCE_NUMBER_UNKNOWN), "BadSequenceNumberUnknown");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE), "BadTcpMessageTooLarge");
    CHECK_STR(ua_status_name(UA_STATUS_BAD_SECURITY_CHECKS_FAILED), "BadSecurityChecksFailed");
    CHECK_STR(ua_status_name(0x408F0000u), "UncertainNoCommunicationLastUsableValue");
    /* Info bits are ignored; unknown codes give their severity. */
    CHECK_STR(ua_status_name(UA_STATUS_BAD_TIMEOUT | 0x0400u), "BadTimeout");
    CHECK_STR(ua_status_name(0x80FF0000u), "Bad");
    CHECK_STR(ua_status_name(0x40FF0000u), "Uncertain");
    CHECK(!ua_status_is_known(0x80FF0000u));
    CHECK(ua_status_is_known(UA_STATUS_BAD_TIMEOUT));
    char buf[64];
    CHECK_STR(ua_status_format(UA_STATUS_BAD_TIMEOUT, buf, sizeof buf), "BadTimeout (0x800A0000)");
    CHECK(ua_status_is_bad(UA_STATUS_BAD_TIMEOUT) && !ua_status_is_good(UA_STATUS_BAD_TIMEOUT));
    CHECK(ua_status_is_uncertain(0x40920000u));
    /* The quality codes airlock uses match the same table. */
    CHECK_STR(ua_status_name(0x80310000u), "BadNoCommunication");
    CHECK_STR(ua_type_name(UA_TYPE_DIAGNOSTICINFO), "DiagnosticInfo");
    CHECK_STR(ua_type_name(27), "Reserved");
}

static void test_to_value(void)
{
    struct value out;
    const char *why = NULL;
    struct ua_variant v = ua_variant_double(2.5);
    CHECK(ua_variant_to_value(&v, &out, &why));
    CHECK(out.type == VALUE_DOUBLE && out.as.f64 == 2.5);
    v = (struct ua_variant){.type = UA_TYPE_FLOAT};
    v.as.f32 = 0.1f;
    CHECK(ua_variant_to_value(&v, &out, &why));
    CHECK(out.type == VALUE_DOUBLE && out.as.f64 == (double)0.1f);
    v = (struct ua_variant){.type = UA_TYPE_SBYTE};
    v.as.sbyte = -3;
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_INT64 && out.as.i64 == -3);
    v = (struct ua_variant){.type = UA_TYPE_UINT64};
    v.as.uint64 = UINT64_MAX;
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_UINT64 &&
          out.as.u64 == UINT64_MAX);
    v = (struct ua_variant){.type = UA_TYPE_UINT16};
    v.as.uint16 = 65535;
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_UINT64 && out.as.u64 == 65535);
    v = ua_variant_boolean(true);
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_BOOL && out.as.b);
    v = ua_variant_string(ua_string_from_cstr("abc"));
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_STRING && out.as.str.len == 3 &&
          memcmp(out.as.str.ptr, "abc", 3) == 0);
    v = ua_variant_string(UA_STRING_NULL);
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_STRING && out.as.str.len == 0);
    v = (struct ua_variant){.type = UA_TYPE_DATETIME};
    v.as.datetime = 133485408000000000LL;
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_INT64 &&
          out.as.i64 == 1704067200000000000LL);
    struct ua_localized_text lt = {ua_string_from_cstr("en"), ua_string_from_cstr("Open")};
    v = (struct ua_variant){.type = UA_TYPE_LOCALIZEDTEXT};
    v.as.localized_text = &lt;
    CHECK(ua_variant_to_value(&v, &out, &why) && out.type == VALUE_STRING && out.as.str.len == 4);

    int32_t ints[] = {1, 2};
    v = ua_variant_array(UA_TYPE_INT32, ints, 2);
    CHECK(!ua_variant_to_value(&v, &out, &why));
    CHECK_STR(why, "array");
    v = (struct ua_variant){0};
    CHECK(!ua_variant_to_value(&v, &out, &why));
    CHECK_STR(why, "empty");
    v = (struct ua_variant){.type = UA_TYPE_GUID};
    CHECK(!ua_variant_to_value(&v, &out, &why));
    CHECK_STR(why, "unsupported type");
}

/* --------------------------------------------------------------- speed */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decodes an array of 10,000 DataValues (a Double and a source timestamp,
 * the common Publish case) repeatedly and prints the rate. No assertion on
 * time: this runs under sanitizers and on shared machines. */
static void test_throughput(void)
{
    enum { N = 10000 };
    struct ua_datavalue *src = calloc(N, sizeof *src);
    for (int i = 0; i < N; i++) {
        src[i].mask = UA_DATAVALUE_HAS_VALUE | UA_DATAVALUE_HAS_SOURCE_TIMESTAMP;
        src[i].value = ua_variant_double(i * 0.5);
        src[i].source_timestamp = 133485408000000000LL + i;
    }
    struct ua_writer w;
    ua_writer_init(&w, 1 << 24);
    CHECK(ua_encode_array(&w, UA_TYPE_DATAVALUE, src, N));
    CHECK_EQ_INT(w.len, 4 + N * 18);

    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    int rounds = 0;
    double t0 = now_s(), elapsed;
    do {
        struct ua_reader r;
        ua_reader_init(&r, w.data, w.len);
        void *got;
        int32_t count;
        CHECK(ua_decode_array(&r, &a, UA_TYPE_DATAVALUE, &got, &count));
        CHECK_EQ_INT(count, N);
        if (rounds == 0) {
            const struct ua_datavalue *dv = got;
            CHECK(ua_datavalue_equal(&dv[N - 1], &src[N - 1]));
        }
        ua_arena_reset(&a);
        rounds++;
        elapsed = now_s() - t0;
    } while (elapsed < 0.3);
    printf("DataValue decoding: %.1f million values/s (%d x %d values in %.3f s)\n",
           rounds * (double)N / elapsed / 1e6, rounds, N, elapsed);
    ua_arena_free(&a);
    ua_writer_free(&w);
    free(src);
}

int main(void)
{
    test_reader();
    test_writer();
    test_arena();
    test_spec_strings_and_guid();
    test_spec_nodeids();
    test_spec_structures();
    test_spec_variants();
    test_spec_datavalue_and_diagnostics();
    test_round_trip_every_type();
    test_hostile_lengths();
    test_hostile_nesting();
    test_nodeid_text();
    test_datetime();
    test_status_names();
    test_to_value();
    test_throughput();
    return test_summary();
}
