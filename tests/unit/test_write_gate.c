/* The write gate's decision (src/gate/write_gate.h): deny by default, each
 * limit refused with its reason, the order of the checks. */
#include <math.h>
#include <string.h>

#include "gate/write_gate.h"
#include "testlib.h"

#define SECOND_NS 1000000000LL

static struct write_policy policy(void)
{
    return (struct write_policy){.enabled = true,
                                 .role = WRITE_ROLE_OPERATOR,
                                 .has_min = true,
                                 .min = 0,
                                 .has_max = true,
                                 .max = 10,
                                 .max_step = 2,
                                 .min_interval_ms = 5000};
}

static struct write_request request(double v)
{
    return (struct write_request){.user_role = WRITE_ROLE_OPERATOR,
                                  .reason = "setpoint for batch 42",
                                  .requested = value_double(v),
                                  .tag_type = VALUE_DOUBLE,
                                  .has_current = true,
                                  .current = value_double(5),
                                  .current_quality = QUALITY_GOOD,
                                  .now_ns = 100 * SECOND_NS,
                                  .last_write_ns = 0};
}

static void test_deny_by_default(void)
{
    struct write_policy p = policy();
    struct write_request r = request(6);
    char why[160];
    CHECK_EQ_INT(write_gate_check(&p, false, &r, "bar", why, sizeof why),
                 WRITE_REFUSED_GLOBALLY_OFF);
    CHECK(strstr(why, "off") != NULL);
    CHECK_EQ_INT(write_gate_check(NULL, true, &r, "bar", why, sizeof why), WRITE_REFUSED_TAG_OFF);
    struct write_policy off = {0};
    CHECK_EQ_INT(write_gate_check(&off, true, &r, "bar", why, sizeof why), WRITE_REFUSED_TAG_OFF);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, "bar", why, sizeof why), WRITE_ALLOWED);
    CHECK_STR(write_verdict_name(WRITE_ALLOWED), "allowed");
    CHECK_STR(write_verdict_name(WRITE_REFUSED_ROLE), "refused_role");
}

static void test_role_and_reason(void)
{
    struct write_policy p = policy();
    struct write_request r = request(6);
    char why[160];
    r.user_role = WRITE_ROLE_VIEWER;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_ROLE);
    CHECK_STR(why, "role viewer may not write this tag (needs operator or above)");
    r.user_role = WRITE_ROLE_ADMIN; /* a higher role may */
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    p.role = WRITE_ROLE_ENGINEER;
    r.user_role = WRITE_ROLE_OPERATOR;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_ROLE);
    p = policy();
    r = request(6);
    r.reason = "  \t ";
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NO_REASON);
    r.reason = NULL;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NO_REASON);
}

static void test_types(void)
{
    struct write_policy p = policy();
    struct write_request r = request(6);
    char why[160];
    r.requested = value_bool(true);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_TYPE);
    r.requested = value_int64(6); /* an integer to a double tag is fine */
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    r.tag_type = VALUE_STRING;
    r.requested = (struct value){.type = VALUE_STRING, .as.str = {"x", 1}};
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_TYPE);
    /* bool tags take bools, no limits apply */
    r = request(0);
    r.tag_type = VALUE_BOOL;
    r.requested = value_bool(true);
    r.current = value_bool(false);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    r.requested = value_int64(1);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_TYPE);
    r = request(NAN);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NOT_FINITE);
    r = request(INFINITY);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NOT_FINITE);
}

static void test_limits(void)
{
    struct write_policy p = policy();
    char why[160];
    struct write_request r = request(-0.5);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, "bar", why, sizeof why), WRITE_REFUSED_BELOW_MIN);
    CHECK_STR(why, "-0.5 is below the minimum 0 bar");
    r = request(10.5);
    r.current = value_double(9.9);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, "bar", why, sizeof why), WRITE_REFUSED_ABOVE_MAX);
    CHECK_STR(why, "10.5 is above the maximum 10 bar");
    r = request(10); /* limits are inclusive */
    r.current = value_double(9);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, "bar", why, sizeof why), WRITE_ALLOWED);
    /* step from the current value (5): 7 is fine, 7.5 is not, 3 is fine */
    r = request(7);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    r = request(7.5);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_STEP);
    CHECK_STR(why, "a change of 2.5 is more than the largest step 2");
    r = request(3);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    /* a step limit without a Good current value refuses */
    r = request(6);
    r.current_quality = QUALITY_BAD_TIMEOUT;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NO_CURRENT);
    r.has_current = false;
    r.current_quality = QUALITY_GOOD;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NO_CURRENT);
    p.max_step = 0; /* no step limit: no current value needed */
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
}

static void test_interval(void)
{
    struct write_policy p = policy();
    char why[160];
    struct write_request r = request(6);
    r.last_write_ns = r.now_ns - 4 * SECOND_NS;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_TOO_SOON);
    CHECK_STR(why, "the last write was 4000 ms ago; at least 5000 ms must pass");
    r.last_write_ns = r.now_ns - 5 * SECOND_NS;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_ALLOWED);
    /* a clock stepping back never lets a write through early */
    r.last_write_ns = r.now_ns + SECOND_NS;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_TOO_SOON);
}

/* The first failing check is the one reported (role before limits). */
static void test_order(void)
{
    struct write_policy p = policy();
    char why[160];
    struct write_request r = request(99);
    r.user_role = WRITE_ROLE_VIEWER;
    r.reason = "";
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_ROLE);
    r.user_role = WRITE_ROLE_OPERATOR;
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, why, sizeof why), WRITE_REFUSED_NO_REASON);
    CHECK_EQ_INT(write_gate_check(&p, true, &r, NULL, NULL, 0), WRITE_REFUSED_NO_REASON);
}

int main(void)
{
    test_deny_by_default();
    test_role_and_reason();
    test_types();
    test_limits();
    test_interval();
    test_order();
    return test_summary();
}
