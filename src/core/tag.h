/* The tag model: a named, typed point of plant data.
 *
 * A tag is named by an ISA-95 Unified Namespace path,
 * enterprise/site/area/line/cell/name (2 to 8 segments are accepted so that
 * site- or area-level points fit; 6 is the convention). It has a value type,
 * an engineering unit, linear scaling from the raw device value, a deadband
 * and a description. Which device produces it and how (register, node id) is
 * the driver's business and lives in the device configuration, not here.
 *
 * A tag_table owns every tag of a running configuration; a tag's id is its
 * index there, dense from 0, and is what samples carry. */
#ifndef AIRLOCK_CORE_TAG_H
#define AIRLOCK_CORE_TAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strpool.h"
#include "core/value.h"

#define TAG_PATH_MAX 256
#define TAG_PATH_MIN_SEGMENTS 2
#define TAG_PATH_MAX_SEGMENTS 8

/* eng = raw * gain + offset. The identity is {1, 0}. */
struct scaling {
    double gain;
    double offset;
};

enum deadband_kind {
    DEADBAND_NONE = 0, /* every sample is reported */
    DEADBAND_ABSOLUTE, /* reported when |new - last| > deadband (0: on any change) */
    DEADBAND_PERCENT,  /* reported when |new - last| > deadband% of (eng_max - eng_min) */
};

struct tag {
    uint32_t id;
    uint32_t device_index; /* index of the producing device in the configuration */
    enum value_type type;
    enum deadband_kind deadband_kind;
    char *path;
    char *unit;        /* "" when none; UCUM-style symbols suggested: "degC", "bar", "m3/h" */
    char *description; /* "" when none */
    struct scaling scale;
    double eng_min, eng_max;
    double deadband;
    bool has_range; /* eng_min/eng_max are set (needed for percent deadband) */
};

struct tag_table {
    struct tag *tags;
    uint32_t count;
    uint32_t capacity;
    uint32_t *index;        /* open-addressing hash of path -> id+1 (0 = empty) */
    uint32_t index_slots;   /* power of two */
    struct strpool strings; /* every tag's path, unit and description */
};

void tag_table_init(struct tag_table *t);
/* Frees every tag and the table's storage; the table is left empty. */
void tag_table_clear(struct tag_table *t);

/* Makes room for count tags in all, so that adding them allocates nothing
 * but their strings (no growth by doubling). False when out of memory. */
bool tag_table_reserve(struct tag_table *t, uint32_t count);

/* Adds a copy of *tag (path, unit and description are copied; id is
 * assigned). Returns the new id, or -1 when the path is already present
 * (errno EEXIST) or memory ran out (errno ENOMEM). */
int64_t tag_table_add(struct tag_table *t, const struct tag *tag);

/* The tag with this path, or NULL. */
const struct tag *tag_table_find(const struct tag_table *t, const char *path);

/* Checks a Unified Namespace path: 2..8 segments separated by '/', each
 * segment 1..64 characters from [A-Za-z0-9_.-], total under TAG_PATH_MAX. On
 * failure writes a reason to why (if non-NULL) and returns false. */
bool tag_path_valid(const char *path, char *why, size_t why_len);

static inline double scaling_apply(const struct scaling *s, double raw)
{
    return raw * s->gain + s->offset;
}

/* Inverse of scaling_apply (for writes). gain must be non-zero. */
static inline double scaling_invert(const struct scaling *s, double eng)
{
    return (eng - s->offset) / s->gain;
}

/* True when a new value of this tag must be reported given the last reported
 * one: always for DEADBAND_NONE, for non-numeric types when the value
 * changed, and for numeric types when the change exceeds the deadband. */
bool tag_deadband_exceeded(const struct tag *tag, const struct value *last,
                           const struct value *now);

#endif
