/* Report-by-exception decisions for tag readings. */
#include "core/report.h"

#include <stdlib.h>
#include <string.h>

bool report_needed(const struct tag *tag, const struct report_state *st, const struct value *v,
                   quality_t q)
{
    if (!st->reported || q != st->last_quality) return true;
    if (!quality_is_good(q)) return false;
    return tag_deadband_exceeded(tag, &st->last_value, v);
}

bool report_reading(struct sample_batch *batch, const struct tag *tag, uint32_t tag_id,
                    struct report_state *st, const struct value *v, quality_t q, int64_t ts_ns)
{
    if (!report_needed(tag, st, v, q)) return false;
    if (!sample_batch_add(batch, tag_id, ts_ns, q, v)) return false;
    st->reported = true;
    st->last_quality = q;
    if (v->type != VALUE_STRING) {
        st->last_value = *v;
        return true;
    }
    /* report_failure passes the remembered string itself: it is already
     * held (and realloc could free it before it is copied). */
    if (st->last_string && v->as.str.ptr == st->last_string) {
        st->last_value = *v;
        return true;
    }
    char *copy = realloc(st->last_string, v->as.str.len + 1);
    if (!copy) { /* remember the quality; the next reading compares against "" */
        st->last_value.type = VALUE_STRING;
        st->last_value.as.str.len = 0;
        st->last_value.as.str.ptr = st->last_string ? st->last_string : "";
        return true;
    }
    if (v->as.str.len) memcpy(copy, v->as.str.ptr, v->as.str.len);
    copy[v->as.str.len] = '\0';
    st->last_string = copy;
    st->last_value = *v;
    st->last_value.as.str.ptr = copy;
    return true;
}

bool report_failure(struct sample_batch *batch, const struct tag *tag, uint32_t tag_id,
                    struct report_state *st, quality_t q, int64_t ts_ns)
{
    struct value v = st->last_value;
    if (!st->reported) {
        memset(&v, 0, sizeof v);
        v.type = tag->type;
        if (v.type == VALUE_STRING) v.as.str.ptr = "";
    }
    return report_reading(batch, tag, tag_id, st, &v, q, ts_ns);
}

void report_state_clear(struct report_state *st)
{
    free(st->last_string);
    memset(st, 0, sizeof *st);
}
