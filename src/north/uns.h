/* Unified Namespace JSON: topics and payloads of the UNS publisher
 * (docs/north.md, "UNS JSON"). Pure functions over caller buffers, no I/O,
 * so they are unit-tested (tests/unit/test_uns.c) without a broker. */
#ifndef AIRLOCK_NORTH_UNS_H
#define AIRLOCK_NORTH_UNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"

/* Writes "<prefix>/<path>" into out (NUL-terminated), every level
 * sanitized: '+', '#', NUL, other control characters and invalid UTF-8
 * bytes become '_', an empty level becomes '_'; '/' only separates levels.
 * An empty or NULL prefix gives just the path. False when it does not fit
 * in cap (out then holds an empty string). */
bool uns_topic(char *out, size_t cap, const char *prefix, const char *path);

/* The value payload {"value": ..., "timestamp": <epoch ms>, "quality": "<name>"}
 * into out (NUL-terminated), its length in *len. Non-finite doubles become
 * null; strings are escaped (invalid UTF-8 becomes U+FFFD). False when it
 * does not fit in cap. */
bool uns_value_json(char *out, size_t cap, size_t *len, const struct value *v, int64_t ts_ns,
                    quality_t quality);

/* The retained metadata payload {"path", "type", "unit", "description",
 * "device"} into out, its length in *len. NULL strings are written as "".
 * False when it does not fit in cap. */
bool uns_meta_json(char *out, size_t cap, size_t *len, const char *path, enum value_type type,
                   const char *unit, const char *description, const char *device);

#endif
