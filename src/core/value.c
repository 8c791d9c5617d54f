/* Typed values: names, comparison and conversion. */
#include "core/value.h"

#include <math.h>
#include <string.h>

static const char *const value_type_names[] = {"bool", "int64", "uint64", "double", "string"};

const char *value_type_name(enum value_type t)
{
    if ((unsigned)t < sizeof value_type_names / sizeof value_type_names[0])
        return value_type_names[t];
    return "unknown";
}

bool value_type_from_name(const char *name, enum value_type *out)
{
    for (unsigned i = 0; i < sizeof value_type_names / sizeof value_type_names[0]; i++) {
        if (strcmp(value_type_names[i], name) == 0) {
            *out = (enum value_type)i;
            return true;
        }
    }
    return false;
}

double value_as_double(const struct value *v)
{
    switch (v->type) {
    case VALUE_BOOL: return v->as.b ? 1.0 : 0.0;
    case VALUE_INT64: return (double)v->as.i64;
    case VALUE_UINT64: return (double)v->as.u64;
    case VALUE_DOUBLE: return v->as.f64;
    case VALUE_STRING: break;
    }
    return NAN;
}

bool value_equal(const struct value *a, const struct value *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case VALUE_BOOL: return a->as.b == b->as.b;
    case VALUE_INT64: return a->as.i64 == b->as.i64;
    case VALUE_UINT64: return a->as.u64 == b->as.u64;
    case VALUE_DOUBLE: return memcmp(&a->as.f64, &b->as.f64, sizeof(double)) == 0;
    case VALUE_STRING:
        return a->as.str.len == b->as.str.len &&
               (a->as.str.len == 0 || memcmp(a->as.str.ptr, b->as.str.ptr, a->as.str.len) == 0);
    }
    return false;
}
