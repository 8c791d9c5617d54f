/* Names and sizes of Modbus points: register areas, wire types, byte/word
 * orders. Pure functions, no allocation. See mb_point.h. */
#include "drivers/modbus/mb_point.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static const char *const area_names[] = {
    [MB_AREA_COIL] = "coil",
    [MB_AREA_DISCRETE_INPUT] = "discrete_input",
    [MB_AREA_HOLDING] = "holding",
    [MB_AREA_INPUT] = "input",
};
#define AREA_COUNT (sizeof area_names / sizeof area_names[0])

static const char *const type_names[] = {
    [MB_TYPE_BOOL] = "bool",     [MB_TYPE_INT16] = "int16",     [MB_TYPE_UINT16] = "uint16",
    [MB_TYPE_INT32] = "int32",   [MB_TYPE_UINT32] = "uint32",   [MB_TYPE_INT64] = "int64",
    [MB_TYPE_UINT64] = "uint64", [MB_TYPE_FLOAT32] = "float32", [MB_TYPE_FLOAT64] = "float64",
    [MB_TYPE_STRING] = "string",
};
#define TYPE_COUNT (sizeof type_names / sizeof type_names[0])

/* Spellings of the four orders, indexed by word_swap * 2 + byte_swap. */
static const char *const order_names_32[] = {"ABCD", "BADC", "CDAB", "DCBA"};
static const char *const order_names_64[] = {"ABCDEFGH", "BADCFEHG", "GHEFCDAB", "HGFEDCBA"};

uint16_t mb_type_registers(enum mb_type t)
{
    switch (t) {
    case MB_TYPE_INT16:
    case MB_TYPE_UINT16:
        return 1;
    case MB_TYPE_INT32:
    case MB_TYPE_UINT32:
    case MB_TYPE_FLOAT32:
        return 2;
    case MB_TYPE_INT64:
    case MB_TYPE_UINT64:
    case MB_TYPE_FLOAT64:
        return 4;
    case MB_TYPE_BOOL:
    case MB_TYPE_STRING:
        break;
    }
    return 0;
}

/* Width in registers (register areas) or bits (bit areas). A bool is one
 * bit of a bit area or one register (one of its bits) of a register area. */
uint16_t mb_point_width(const struct mb_point *p)
{
    if (p->type == MB_TYPE_BOOL) return 1;
    if (p->type == MB_TYPE_STRING) return p->length;
    return mb_type_registers(p->type);
}

/* Static name of an area; "unknown" for a value outside the enum. */
const char *mb_area_name(enum mb_area a)
{
    return (unsigned)a < AREA_COUNT ? area_names[a] : "unknown";
}

/* Static name of a type; "unknown" for a value outside the enum. */
const char *mb_type_name(enum mb_type t)
{
    return (unsigned)t < TYPE_COUNT ? type_names[t] : "unknown";
}

/* Exact (lower-case) area name to enum; false and *out untouched if unknown. */
bool mb_area_from_name(const char *name, enum mb_area *out)
{
    if (!name) return false;
    for (size_t i = 0; i < AREA_COUNT; i++) {
        if (strcmp(name, area_names[i]) == 0) {
            *out = (enum mb_area)i;
            return true;
        }
    }
    return false;
}

/* Exact (lower-case) type name to enum; false and *out untouched if unknown. */
bool mb_type_from_name(const char *name, enum mb_type *out)
{
    if (!name) return false;
    for (size_t i = 0; i < TYPE_COUNT; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum mb_type)i;
            return true;
        }
    }
    return false;
}

/* Any 32- or 64-bit spelling, case-insensitive; false and *out untouched if
 * unknown. */
bool mb_order_from_name(const char *name, struct mb_order *out)
{
    if (!name) return false;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, order_names_32[i]) == 0 || strcasecmp(name, order_names_64[i]) == 0) {
            out->word_swap = (i & 2) != 0;
            out->byte_swap = (i & 1) != 0;
            return true;
        }
    }
    return false;
}

/* The 32-bit spelling of an order (static string). */
const char *mb_order_name(struct mb_order o)
{
    return order_names_32[(o.word_swap ? 2 : 0) + (o.byte_swap ? 1 : 0)];
}
