/* UNS JSON topics and payloads (src/north/uns.c): sanitizing, every value
 * type, non-finite doubles, quality names, metadata, and buffers too small. */
#include <math.h>
#include <string.h>

#include "north/uns.h"
#include "testlib.h"

static void test_topics(void)
{
    char t[128];
    CHECK(uns_topic(t, sizeof t, "uns", "acme/plant1/utilities/pumping/skid1/motor_current"));
    CHECK_STR(t, "uns/acme/plant1/utilities/pumping/skid1/motor_current");
    CHECK(uns_topic(t, sizeof t, "a+b", "x#/y\x01z/+"));
    CHECK_STR(t, "a_b/x_/y_z/_");
    CHECK(uns_topic(t, sizeof t, "uns", "a//b/"));
    CHECK_STR(t, "uns/a/_/b/_");
    CHECK(uns_topic(t, sizeof t, "", "a/b"));
    CHECK_STR(t, "a/b");
    CHECK(uns_topic(t, sizeof t, NULL, "a/b"));
    CHECK_STR(t, "a/b");
    CHECK(uns_topic(t, sizeof t, "pre/fix", "a/b"));
    CHECK_STR(t, "pre/fix/a/b");
    /* Valid UTF-8 stays, invalid bytes and DEL do not. */
    CHECK(uns_topic(t, sizeof t, "uns", "caf\xC3\xA9/x\xFFy\x7F"));
    CHECK_STR(t, "uns/caf\xC3\xA9/x_y_");
    /* Too small: false and an empty string. */
    CHECK(!uns_topic(t, 6, "uns", "a/b/c"));
    CHECK_STR(t, "");
    CHECK(uns_topic(t, 8, "uns", "a/b"));
    CHECK_STR(t, "uns/a/b");
}

static void check_value(struct value v, const char *expect)
{
    char buf[256];
    size_t len = 0;
    CHECK(uns_value_json(buf, sizeof buf, &len, &v, 1700000000123456789LL, 0));
    CHECK_STR(buf, expect);
    CHECK_EQ_INT(len, strlen(expect));
}

static void test_values(void)
{
    check_value(value_bool(true),
                "{\"value\":true,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_bool(false),
                "{\"value\":false,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_int64(-42),
                "{\"value\":-42,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(
        value_uint64(18446744073709551615ULL),
        "{\"value\":18446744073709551615,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_double(0.1),
                "{\"value\":0.1,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_double(12.0),
                "{\"value\":12,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_double(1.0 / 3.0),
                "{\"value\":0.33333333333333331,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_double(NAN),
                "{\"value\":null,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    check_value(value_double(-INFINITY),
                "{\"value\":null,\"timestamp\":1700000000123,\"quality\":\"Good\"}");
    struct value s = {.type = VALUE_STRING};
    s.as.str.ptr = "a\"b\\c\n\x01\xC3\xA9\xFF";
    s.as.str.len = (uint32_t)strlen(s.as.str.ptr);
    check_value(s, "{\"value\":\"a\\\"b\\\\c\\u000a\\u0001\xC3\xA9\xEF\xBF\xBD\",\"timestamp\":"
                   "1700000000123,\"quality\":\"Good\"}");
    /* An embedded NUL is escaped, not a terminator. */
    s.as.str.ptr = "x\0y";
    s.as.str.len = 3;
    check_value(s, "{\"value\":\"x\\u0000y\",\"timestamp\":1700000000123,\"quality\":\"Good\"}");
}

static void test_quality_and_time(void)
{
    char buf[256];
    size_t len;
    struct value v = value_double(NAN);
    CHECK(uns_value_json(buf, sizeof buf, &len, &v, -1, QUALITY_BAD_COMMUNICATION_ERROR));
    CHECK_STR(buf, "{\"value\":null,\"timestamp\":-1,\"quality\":\"Bad_CommunicationError\"}");
    v = value_int64(1);
    CHECK(uns_value_json(buf, sizeof buf, &len, &v, 5000000, QUALITY_UNCERTAIN_LAST_USABLE_VALUE));
    CHECK_STR(buf, "{\"value\":1,\"timestamp\":5,\"quality\":\"Uncertain_LastUsableValue\"}");
    /* Too small for the payload: false. */
    CHECK(!uns_value_json(buf, 20, &len, &v, 0, 0));
    CHECK_EQ_INT(len, 0);
}

static void test_metadata(void)
{
    char buf[512];
    size_t len;
    CHECK(uns_meta_json(buf, sizeof buf, &len, "acme/p/a/l/c/temp", VALUE_DOUBLE, "degC",
                        "Oil \"inlet\" temperature", "skid1"));
    CHECK_STR(buf, "{\"path\":\"acme/p/a/l/c/temp\",\"type\":\"double\",\"unit\":\"degC\","
                   "\"description\":\"Oil \\\"inlet\\\" temperature\",\"device\":\"skid1\"}");
    CHECK_EQ_INT(len, strlen(buf));
    CHECK(uns_meta_json(buf, sizeof buf, &len, "a/b", VALUE_BOOL, NULL, NULL, NULL));
    CHECK_STR(buf, "{\"path\":\"a/b\",\"type\":\"bool\",\"unit\":\"\",\"description\":\"\","
                   "\"device\":\"\"}");
    CHECK(!uns_meta_json(buf, 30, &len, "a/b", VALUE_BOOL, "", "", ""));
}

int main(void)
{
    test_topics();
    test_values();
    test_quality_and_time();
    test_metadata();
    return test_summary();
}
