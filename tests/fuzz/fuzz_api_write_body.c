/* libFuzzer target for the body of POST /api/v1/tags/{path}/write as the
 * route reads it: the bytes go through jansson's json_loadb (duplicate keys
 * refused, as api_write.c does), the "value" member (or the whole document
 * when it is not an object) through api_write_value_parse for every tag
 * type, and each parsed value through the write gate under a fixed policy.
 * The raw bytes also go through api_json_string (error messages and audit
 * texts). Invariants (any violation aborts):
 * - a parsed value has the tag's type; bools come only from JSON booleans,
 *   integers only from integers or integral numbers (never negative for
 *   uint64), doubles are finite; string tags are never writable; a refusal
 *   always says why in a NUL-terminated text;
 * - the gate allows only values inside [min, max] and within max_step of
 *   the current value, and never a value whose type differs from the tag's;
 * - api_json_string always gives valid UTF-8 of at least the input's
 *   length, equal to the input when it was valid UTF-8. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "gate/write_gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 16384 /* API_MAX_BODY_BYTES */
#define POLICY_MIN (-100.0)
#define POLICY_MAX 1000.0
#define POLICY_STEP 50.0
#define CURRENT 500

static void check(int cond)
{
    if (!cond) abort();
}

static const enum value_type types[] = {VALUE_BOOL, VALUE_INT64, VALUE_UINT64, VALUE_DOUBLE,
                                        VALUE_STRING};

/* The gate's answer for v (parsed for a tag of type) must respect the policy. */
static void check_gate(const struct value *v, enum value_type type)
{
    struct write_policy policy = {.enabled = true,
                                  .role = WRITE_ROLE_OPERATOR,
                                  .has_min = type != VALUE_BOOL,
                                  .has_max = type != VALUE_BOOL,
                                  .min = POLICY_MIN,
                                  .max = POLICY_MAX,
                                  .max_step = type != VALUE_BOOL ? POLICY_STEP : 0};
    struct write_request req = {.user_role = WRITE_ROLE_OPERATOR,
                                .reason = "fuzz",
                                .requested = *v,
                                .tag_type = type,
                                .has_current = true,
                                .current_quality = QUALITY_GOOD,
                                .now_ns = 1000000000000LL};
    switch (type) {
    case VALUE_BOOL:
        req.current = value_bool(false);
        break;
    case VALUE_INT64:
        req.current = value_int64(CURRENT);
        break;
    case VALUE_UINT64:
        req.current = value_uint64(CURRENT);
        break;
    default:
        req.current = value_double(CURRENT);
        break;
    }
    char why[256];
    why[0] = 'q';
    enum write_verdict verdict = write_gate_check(&policy, true, &req, "unit", why, sizeof why);
    check(memchr(why, '\0', sizeof why) != NULL);
    if (verdict != WRITE_ALLOWED) {
        check(why[0] != '\0');
        return;
    }
    check(v->type == type);
    if (type == VALUE_BOOL) return;
    double d = value_as_double(v);
    check(isfinite(d));
    check(d >= POLICY_MIN && d <= POLICY_MAX);
    check(fabs(d - CURRENT) <= POLICY_STEP);
}

static void check_parse(const json_t *j)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        enum value_type type = types[i];
        struct value v;
        memset(&v, 0xA5, sizeof v);
        char why[160];
        memset(why, 'w', sizeof why);
        if (!api_write_value_parse(j, type, &v, why, sizeof why)) {
            check(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
            /* The route hands the gate a value of no writable type. */
            struct value none = {.type = VALUE_STRING};
            check_gate(&none, type);
            continue;
        }
        check(v.type == type);
        switch (type) {
        case VALUE_BOOL:
            check(json_is_boolean(j) && v.as.b == json_is_true(j));
            break;
        case VALUE_INT64:
            check(json_is_number(j));
            if (json_is_integer(j))
                check(v.as.i64 == json_integer_value(j));
            else
                check((double)v.as.i64 == json_real_value(j));
            break;
        case VALUE_UINT64:
            check(json_is_number(j));
            if (json_is_integer(j)) {
                check(json_integer_value(j) >= 0);
                check(v.as.u64 == (uint64_t)json_integer_value(j));
            } else {
                check(json_real_value(j) >= 0 && (double)v.as.u64 == json_real_value(j));
            }
            break;
        case VALUE_DOUBLE:
            check(json_is_number(j) && isfinite(v.as.f64));
            check(v.as.f64 == json_number_value(j));
            break;
        case VALUE_STRING:
            check(0); /* never writable */
            break;
        }
        char text[64];
        api_value_text(&v, text, sizeof text);
        check(text[0] != '\0' && memchr(text, '\0', sizeof text) != NULL);
        char small[4];
        api_value_text(&v, small, sizeof small);
        check(small[3] == '\0' || strlen(small) < sizeof small);
        check_gate(&v, type);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    json_error_t err;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (doc) {
        const json_t *value = json_is_object(doc) ? json_object_get(doc, "value") : doc;
        if (value) check_parse(value);
        json_decref(doc);
    }

    json_t *s = api_json_string((const char *)data, size);
    check(s != NULL);
    size_t n = json_string_length(s);
    const char *t = json_string_value(s);
    check(n >= size && api_utf8_valid(t, n));
    if (api_utf8_valid((const char *)data, size)) check(n == size && memcmp(t, data, size) == 0);
    json_decref(s);
    return 0;
}
