/* Unit tests of Modbus point names and widths (src/drivers/modbus/mb_point.c). */
#include <string.h>

#include "drivers/modbus/mb_point.h"
#include "testlib.h"

static uint16_t width_of(enum mb_area area, enum mb_type type, int bit, uint16_t length)
{
    struct mb_point p = {.area = area, .type = type, .bit = (int8_t)bit, .length = length};
    return mb_point_width(&p);
}

static void test_widths(void)
{
    CHECK_EQ_INT(width_of(MB_AREA_COIL, MB_TYPE_BOOL, -1, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_DISCRETE_INPUT, MB_TYPE_BOOL, -1, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_BOOL, 7, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_INPUT, MB_TYPE_BOOL, 15, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_INT16, -1, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_INPUT, MB_TYPE_UINT16, -1, 0), 1);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_INT32, -1, 0), 2);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_UINT32, -1, 0), 2);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_FLOAT32, -1, 0), 2);
    CHECK_EQ_INT(width_of(MB_AREA_INPUT, MB_TYPE_INT64, -1, 0), 4);
    CHECK_EQ_INT(width_of(MB_AREA_INPUT, MB_TYPE_UINT64, -1, 0), 4);
    CHECK_EQ_INT(width_of(MB_AREA_INPUT, MB_TYPE_FLOAT64, -1, 0), 4);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_STRING, -1, 1), 1);
    CHECK_EQ_INT(width_of(MB_AREA_HOLDING, MB_TYPE_STRING, -1, 123), 123);
}

static void test_area_names(void)
{
    static const char *const names[] = {"coil", "discrete_input", "holding", "input"};
    for (int i = 0; i < 4; i++) {
        enum mb_area a = MB_AREA_INPUT;
        CHECK(mb_area_from_name(names[i], &a));
        CHECK_EQ_INT(a, i);
        CHECK_STR(mb_area_name((enum mb_area)i), names[i]);
    }
    enum mb_area a = MB_AREA_HOLDING;
    CHECK(!mb_area_from_name("coils", &a));
    CHECK(!mb_area_from_name("", &a));
    CHECK(!mb_area_from_name("Coil", &a));
    CHECK(!mb_area_from_name(NULL, &a));
    CHECK_EQ_INT(a, MB_AREA_HOLDING); /* untouched on failure */
    CHECK_STR(mb_area_name((enum mb_area)99), "unknown");
}

static void test_type_names(void)
{
    static const char *const names[] = {"bool",  "int16",  "uint16",  "int32",   "uint32",
                                        "int64", "uint64", "float32", "float64", "string"};
    for (int i = 0; i < 10; i++) {
        enum mb_type t = MB_TYPE_BOOL;
        CHECK(mb_type_from_name(names[i], &t));
        CHECK_EQ_INT(t, i);
        CHECK_STR(mb_type_name((enum mb_type)i), names[i]);
    }
    enum mb_type t = MB_TYPE_INT16;
    CHECK(!mb_type_from_name("float", &t));
    CHECK(!mb_type_from_name("int", &t));
    CHECK(!mb_type_from_name("INT16", &t));
    CHECK(!mb_type_from_name(NULL, &t));
    CHECK_EQ_INT(t, MB_TYPE_INT16);
    CHECK_STR(mb_type_name((enum mb_type) - 1), "unknown");
}

static void check_order(const char *name, bool word_swap, bool byte_swap, const char *canonical)
{
    struct mb_order o = {true, true};
    bool ok = mb_order_from_name(name, &o);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  order '%s' refused\n", name);
        return;
    }
    CHECK_EQ_INT(o.word_swap, word_swap);
    CHECK_EQ_INT(o.byte_swap, byte_swap);
    CHECK_STR(mb_order_name(o), canonical);
}

static void test_orders(void)
{
    check_order("ABCD", false, false, "ABCD");
    check_order("CDAB", true, false, "CDAB");
    check_order("BADC", false, true, "BADC");
    check_order("DCBA", true, true, "DCBA");
    check_order("abcd", false, false, "ABCD");
    check_order("cdab", true, false, "CDAB");
    check_order("ABCDEFGH", false, false, "ABCD");
    check_order("GHEFCDAB", true, false, "CDAB");
    check_order("BADCFEHG", false, true, "BADC");
    check_order("HGFEDCBA", true, true, "DCBA");
    check_order("hgfedcba", true, true, "DCBA");

    struct mb_order o = {true, false};
    CHECK(!mb_order_from_name("ABDC", &o));
    CHECK(!mb_order_from_name("ABC", &o));
    CHECK(!mb_order_from_name("ABCDEFG", &o));
    CHECK(!mb_order_from_name("EFGHABCD", &o));
    CHECK(!mb_order_from_name("", &o));
    CHECK(!mb_order_from_name(NULL, &o));
    CHECK(o.word_swap && !o.byte_swap); /* untouched on failure */
}

int main(void)
{
    test_widths();
    test_area_names();
    test_type_names();
    test_orders();
    return test_summary();
}
