/* A tiny unit-test harness: CHECK macros count failures and print where they
 * happened; main() ends with `return test_summary();`, which prints
 * "N passed, N failed" and returns non-zero when anything failed. */
#ifndef AIRLOCK_TESTLIB_H
#define AIRLOCK_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_checks_passed, test_checks_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_checks_passed++;                                                                  \
        } else {                                                                                   \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ == check_b_) {                                                                \
            test_checks_passed++;                                                                  \
        } else {                                                                                   \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, check_a_, check_b_);                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_DBL(a, b, eps)                                                                    \
    do {                                                                                           \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                     \
        if (fabs(check_a_ - check_b_) <= (eps)) {                                                  \
            test_checks_passed++;                                                                  \
        } else {                                                                                   \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%.17g != %.17g)\n", __FILE__,          \
                    __LINE__, #a, #b, check_a_, check_b_);                                         \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {                             \
            test_checks_passed++;                                                                  \
        } else {                                                                                   \
            test_checks_failed++;                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,        \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                              \
                    check_b_ ? check_b_ : "(null)");                                               \
        }                                                                                          \
    } while (0)

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_checks_passed, test_checks_failed);
    return test_checks_failed ? 1 : 0;
}

#endif
