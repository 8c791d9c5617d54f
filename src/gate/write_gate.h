/* The write gate's decision: the only way a value goes from the IT side to a
 * device (issue 6, ../shared/DESIGN.md). Pure: given the tag's write policy
 * (from the configuration), who asks, what the tag holds now and what is
 * asked, it says allowed or refused with the reason, and nothing else. The
 * caller (the HTTP route) records every attempt in the audit trail, asks the
 * driver to write, reads back and reports the outcome.
 *
 * Deny by default: writes are off globally unless the configuration turns
 * them on, and off for every tag that has no `write:` policy enabling it. */
#ifndef AIRLOCK_GATE_WRITE_GATE_H
#define AIRLOCK_GATE_WRITE_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/value.h"

/* Roles in order of privilege; the same order as the users' roles (a
 * higher role may do everything a lower one may). */
enum write_role {
    WRITE_ROLE_VIEWER = 0,
    WRITE_ROLE_OPERATOR = 1,
    WRITE_ROLE_ENGINEER = 2,
    WRITE_ROLE_ADMIN = 3,
};

/* One tag's `write:` policy. Limits apply to numeric tags (bool tags take
 * true/false, strings are never writable through the gate). */
struct write_policy {
    bool enabled;          /* default false */
    enum write_role role;  /* the least role allowed; default operator */
    bool has_min, has_max; /* engineering limits of the value written */
    double min, max;
    double max_step;          /* largest |new - current| (0: no limit) */
    uint32_t min_interval_ms; /* between two allowed writes of this tag (0: none) */
};

/* What the gate decided. */
enum write_verdict {
    WRITE_ALLOWED = 0,
    WRITE_REFUSED_GLOBALLY_OFF, /* writes are off for the whole gateway */
    WRITE_REFUSED_TAG_OFF,      /* no enabled policy for this tag */
    WRITE_REFUSED_ROLE,         /* the user's role is below the policy's */
    WRITE_REFUSED_NO_REASON,    /* a reason is required */
    WRITE_REFUSED_TYPE,         /* the value's type does not fit the tag */
    WRITE_REFUSED_NOT_FINITE,   /* NaN or infinity */
    WRITE_REFUSED_BELOW_MIN,
    WRITE_REFUSED_ABOVE_MAX,
    WRITE_REFUSED_STEP,       /* too far from the current value */
    WRITE_REFUSED_NO_CURRENT, /* a step limit needs a Good current value */
    WRITE_REFUSED_TOO_SOON,   /* within min_interval_ms of the last write */
};

/* A short stable name ("allowed", "refused_role", ...) for logs and the
 * audit trail. */
const char *write_verdict_name(enum write_verdict v);

struct write_request {
    enum write_role user_role;
    const char *reason;       /* required: non-empty after trimming blanks */
    struct value requested;   /* already parsed to the tag's type where possible */
    enum value_type tag_type; /* the tag's value type */
    bool has_current;         /* the tag has a last value */
    struct value current;     /* the last value (for the step limit) */
    quality_t current_quality;
    int64_t now_ns;        /* UTC */
    int64_t last_write_ns; /* the last allowed write of this tag, 0 if none */
};

/* The decision for req under policy (NULL: the tag has none) with writes
 * globally on or off. why (when not NULL) receives one line a person can
 * read, e.g. "12.5 is above the maximum 10 (bar)". Checks, in order:
 * global switch, tag policy, role, reason, type, finite, min, max, step,
 * interval. */
enum write_verdict write_gate_check(const struct write_policy *policy, bool globally_enabled,
                                    const struct write_request *req, const char *unit, char *why,
                                    size_t why_len);

#endif
