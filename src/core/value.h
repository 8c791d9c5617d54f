/* A typed value: what a tag holds (bool, int64, uint64, double, string).
 * Strings in a value point into storage owned by whoever holds the value (a
 * sample batch's string arena, or the last-value table); a value never owns. */
#ifndef AIRLOCK_CORE_VALUE_H
#define AIRLOCK_CORE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum value_type {
    VALUE_BOOL = 0,
    VALUE_INT64,
    VALUE_UINT64,
    VALUE_DOUBLE,
    VALUE_STRING,
};

struct value {
    enum value_type type;
    union {
        bool b;
        int64_t i64;
        uint64_t u64;
        double f64;
        struct {
            const char *ptr; /* not NUL-terminated necessarily; see len */
            uint32_t len;
        } str;
    } as;
};

/* "bool", "int64", "uint64", "double", "string". Static string. */
const char *value_type_name(enum value_type t);
/* Parses a name as above; false if unknown. */
bool value_type_from_name(const char *name, enum value_type *out);

/* The value as a double (bool: 0/1; string: NaN). */
double value_as_double(const struct value *v);

/* True when both have the same type and the same content (strings by bytes,
 * doubles by bit pattern so NaN equals NaN). */
bool value_equal(const struct value *a, const struct value *b);

/* Convenience constructors. */
static inline struct value value_bool(bool b)
{
    struct value v = {.type = VALUE_BOOL};
    v.as.b = b;
    return v;
}
static inline struct value value_int64(int64_t i)
{
    struct value v = {.type = VALUE_INT64};
    v.as.i64 = i;
    return v;
}
static inline struct value value_uint64(uint64_t u)
{
    struct value v = {.type = VALUE_UINT64};
    v.as.u64 = u;
    return v;
}
static inline struct value value_double(double d)
{
    struct value v = {.type = VALUE_DOUBLE};
    v.as.f64 = d;
    return v;
}

#endif
