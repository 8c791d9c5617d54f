/* The write gate's decision (write_gate.h). */
#include "gate/write_gate.h"

#include <ctype.h>
#include <math.h>

#include "core/errbuf.h"

const char *write_verdict_name(enum write_verdict v)
{
    switch (v) {
    case WRITE_ALLOWED:
        return "allowed";
    case WRITE_REFUSED_GLOBALLY_OFF:
        return "refused_globally_off";
    case WRITE_REFUSED_TAG_OFF:
        return "refused_tag_off";
    case WRITE_REFUSED_ROLE:
        return "refused_role";
    case WRITE_REFUSED_NO_REASON:
        return "refused_no_reason";
    case WRITE_REFUSED_TYPE:
        return "refused_type";
    case WRITE_REFUSED_NOT_FINITE:
        return "refused_not_finite";
    case WRITE_REFUSED_BELOW_MIN:
        return "refused_below_min";
    case WRITE_REFUSED_ABOVE_MAX:
        return "refused_above_max";
    case WRITE_REFUSED_STEP:
        return "refused_step";
    case WRITE_REFUSED_NO_CURRENT:
        return "refused_no_current";
    case WRITE_REFUSED_TOO_SOON:
        return "refused_too_soon";
    }
    return "refused";
}

static const char *role_name(enum write_role r)
{
    switch (r) {
    case WRITE_ROLE_VIEWER:
        return "viewer";
    case WRITE_ROLE_OPERATOR:
        return "operator";
    case WRITE_ROLE_ENGINEER:
        return "engineer";
    case WRITE_ROLE_ADMIN:
        return "admin";
    }
    return "?";
}

static bool reason_given(const char *reason)
{
    if (!reason) return false;
    for (const char *c = reason; *c; c++)
        if (!isspace((unsigned char)*c)) return true;
    return false;
}

/* Whether a value of type have may be written to a tag of type want:
 * numbers to numeric tags, bool to bool tags; strings never. */
static bool type_fits(enum value_type want, enum value_type have)
{
    if (want == VALUE_STRING || have == VALUE_STRING) return false;
    if (want == VALUE_BOOL || have == VALUE_BOOL) return want == have;
    return true;
}

static enum write_verdict refuse(enum write_verdict v, char *why, size_t why_len, const char *fmt,
                                 double a, double b, const char *unit)
{
    errbuf_set(why, why_len, fmt, a, b, unit && *unit ? " " : "", unit ? unit : "");
    return v;
}

enum write_verdict write_gate_check(const struct write_policy *policy, bool globally_enabled,
                                    const struct write_request *req, const char *unit, char *why,
                                    size_t why_len)
{
    if (!globally_enabled) {
        errbuf_set(why, why_len, "writes are off for this gateway (write_gate.enabled: false)");
        return WRITE_REFUSED_GLOBALLY_OFF;
    }
    if (!policy || !policy->enabled) {
        errbuf_set(why, why_len, "writing this tag is not enabled in the configuration");
        return WRITE_REFUSED_TAG_OFF;
    }
    if (req->user_role < policy->role) {
        errbuf_set(why, why_len, "role %s may not write this tag (needs %s or above)",
                   role_name(req->user_role), role_name(policy->role));
        return WRITE_REFUSED_ROLE;
    }
    if (!reason_given(req->reason)) {
        errbuf_set(why, why_len, "a reason is required for every write");
        return WRITE_REFUSED_NO_REASON;
    }
    if (!type_fits(req->tag_type, req->requested.type)) {
        errbuf_set(why, why_len, "a %s value cannot be written to a %s tag",
                   value_type_name(req->requested.type), value_type_name(req->tag_type));
        return WRITE_REFUSED_TYPE;
    }
    if (req->tag_type != VALUE_BOOL) {
        double v = value_as_double(&req->requested);
        if (!isfinite(v)) {
            errbuf_set(why, why_len, "the value is not a finite number");
            return WRITE_REFUSED_NOT_FINITE;
        }
        if (policy->has_min && v < policy->min)
            return refuse(WRITE_REFUSED_BELOW_MIN, why, why_len,
                          "%.10g is below the minimum %.10g%s%s", v, policy->min, unit);
        if (policy->has_max && v > policy->max)
            return refuse(WRITE_REFUSED_ABOVE_MAX, why, why_len,
                          "%.10g is above the maximum %.10g%s%s", v, policy->max, unit);
        if (policy->max_step > 0) {
            if (!req->has_current || !quality_is_good(req->current_quality)) {
                errbuf_set(why, why_len,
                           "a step limit applies and the tag has no Good current value to "
                           "compare with");
                return WRITE_REFUSED_NO_CURRENT;
            }
            double step = fabs(v - value_as_double(&req->current));
            if (!(step <= policy->max_step))
                return refuse(WRITE_REFUSED_STEP, why, why_len,
                              "a change of %.10g is more than the largest step %.10g%s%s", step,
                              policy->max_step, unit);
        }
    }
    if (policy->min_interval_ms > 0 && req->last_write_ns > 0) {
        int64_t since_ms = (req->now_ns - req->last_write_ns) / 1000000;
        if (since_ms < (int64_t)policy->min_interval_ms) {
            errbuf_set(why, why_len, "the last write was %lld ms ago; at least %u ms must pass",
                       (long long)(since_ms < 0 ? 0 : since_ms), policy->min_interval_ms);
            return WRITE_REFUSED_TOO_SOON;
        }
    }
    errbuf_set(why, why_len, "allowed");
    return WRITE_ALLOWED;
}
