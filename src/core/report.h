/* Report-by-exception for one tag on the OT side: decides whether a new
 * reading becomes a sample, given what was last reported.
 *
 * Rules: the first reading is always reported; a change of quality is always
 * reported (Good -> Bad -> Good transitions are never lost); while a tag stays
 * non-Good nothing more is reported; while it stays Good, a new value is
 * reported when it passes the tag's deadband (every reading when the tag has
 * no deadband). */
#ifndef AIRLOCK_CORE_REPORT_H
#define AIRLOCK_CORE_REPORT_H

#include <stdbool.h>

#include "core/quality.h"
#include "core/sample.h"
#include "core/tag.h"

struct report_state {
    struct value last_value; /* a string's bytes are held in last_string */
    quality_t last_quality;
    bool reported;
    char *last_string;
};

/* True when (v, q) must be reported for tag given st. Pure. */
bool report_needed(const struct tag *tag, const struct report_state *st, const struct value *v,
                   quality_t q);

/* If report_needed, appends the sample to batch and remembers it in st.
 * Returns true when a sample was appended. */
bool report_reading(struct sample_batch *batch, const struct tag *tag, uint32_t tag_id,
                    struct report_state *st, const struct value *v, quality_t q, int64_t ts_ns);

/* Reports quality q for a failed read, keeping the last value (or a zero
 * value of the tag's type if nothing was reported yet). */
bool report_failure(struct sample_batch *batch, const struct tag *tag, uint32_t tag_id,
                    struct report_state *st, quality_t q, int64_t ts_ns);

/* Frees what st holds. */
void report_state_clear(struct report_state *st);

#endif
