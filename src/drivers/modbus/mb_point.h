/* How a tag sits in a Modbus device: the register area, address, wire type,
 * byte/word order, bit and string length. Pure data shared by the config
 * loader, the request planner, the value codec and the driver. */
#ifndef AIRLOCK_MODBUS_MB_POINT_H
#define AIRLOCK_MODBUS_MB_POINT_H

#include <stdbool.h>
#include <stdint.h>

/* Function codes for reading each area: 1, 2, 3, 4. */
enum mb_area {
    MB_AREA_COIL = 0,       /* 0xxxx, FC 1, 1 bit */
    MB_AREA_DISCRETE_INPUT, /* 1xxxx, FC 2, 1 bit */
    MB_AREA_HOLDING,        /* 4xxxx, FC 3, 16-bit register */
    MB_AREA_INPUT,          /* 3xxxx, FC 4, 16-bit register */
};

enum mb_type {
    MB_TYPE_BOOL = 0, /* a coil / discrete input, or one bit of a register (see bit) */
    MB_TYPE_INT16,
    MB_TYPE_UINT16,
    MB_TYPE_INT32,
    MB_TYPE_UINT32,
    MB_TYPE_INT64,
    MB_TYPE_UINT64,
    MB_TYPE_FLOAT32,
    MB_TYPE_FLOAT64,
    MB_TYPE_STRING, /* length registers, two ASCII/UTF-8 bytes each, NUL/space padded */
};

/* Byte and word order of multi-register values, as the letters of the bytes
 * in the order they arrive, A being the most significant:
 *   32-bit: ABCD (big endian), CDAB (word swap), BADC (byte swap), DCBA (both)
 *   64-bit: ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA, respectively.
 * Represented as two independent swaps applied to the big-endian layout. */
struct mb_order {
    bool word_swap; /* registers arrive least significant first */
    bool byte_swap; /* the two bytes inside each register are swapped */
};

struct mb_point {
    enum mb_area area;
    uint16_t address; /* 0-based protocol address (config's 1-based is converted) */
    enum mb_type type;
    struct mb_order order;
    int8_t bit;      /* 0..15 for a bool taken from a register bit, else -1 */
    uint16_t length; /* registers, for MB_TYPE_STRING */
};

/* Number of 16-bit registers (register areas) or bits (bit areas) the point
 * occupies. */
uint16_t mb_point_width(const struct mb_point *p);

/* Registers a numeric wire type occupies (1, 2 or 4); 0 for bool and
 * string, whose width depends on the point. */
uint16_t mb_type_registers(enum mb_type t);

const char *mb_area_name(enum mb_area a); /* "coil", "discrete_input", "holding", "input" */
const char *mb_type_name(enum mb_type t); /* "bool", "int16", ... "string" */
bool mb_area_from_name(const char *name, enum mb_area *out);
bool mb_type_from_name(const char *name, enum mb_type *out);
/* Accepts ABCD/CDAB/BADC/DCBA and the 64-bit spellings (case-insensitive). */
bool mb_order_from_name(const char *name, struct mb_order *out);
/* "ABCD", "CDAB", "BADC", "DCBA". */
const char *mb_order_name(struct mb_order o);

#endif
