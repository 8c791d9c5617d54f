/* Unit tests for the benchmark's Gorilla baseline (bench/gorilla.h): it must
 * be lossless and cost what the paper says (1 bit per regular timestamp, 1
 * bit per repeated value), or the comparison in bench_historian means
 * nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/gorilla.h"
#include "testlib.h"

/* Encodes and decodes; true when every time and value (by bit pattern) came
 * back. *bytes receives the encoded size. */
static bool round_trip(const int64_t *t, const double *v, size_t n, size_t *bytes)
{
    struct gorilla_bits b;
    gorilla_bits_init(&b);
    *bytes = gorilla_encode_series(&b, t, v, n);
    int64_t *t2 = calloc(n, sizeof *t2);
    double *v2 = calloc(n, sizeof *v2);
    bool ok = t2 && v2 && !b.oom && gorilla_decode_series(&b, t, n, t2, v2);
    for (size_t i = 0; ok && i < n; i++)
        ok = t2[i] == t[i] && gorilla_f64_bits(v2[i]) == gorilla_f64_bits(v[i]);
    free(t2);
    free(v2);
    gorilla_bits_free(&b);
    return ok;
}

static void test_constant_regular_series_costs_two_bits_per_point(void)
{
    enum { N = 7200 };
    static int64_t t[N];
    static double v[N];
    for (size_t i = 0; i < N; i++) {
        t[i] = 1767225600 + (int64_t)i; /* 2026-01-01, a window start */
        v[i] = 21.5;
    }
    size_t bytes = 0;
    CHECK(round_trip(t, v, N, &bytes));
    /* header 64 + 14 + 64 bits; the second point's delta-of-delta is 1 (the
     * first delta, from the window start, was 0): '10' + 7 bits; then 1 + 1
     * bit per point; rounded up to a byte */
    CHECK_EQ_INT(bytes, (64 + 14 + 64 + 9 + 1 + 2 * (N - 2) + 7) / 8);
}

static void test_irregular_times_and_special_values_round_trip(void)
{
    enum { N = 5000 };
    static int64_t t[N];
    static double v[N];
    uint64_t seed = 12345;
    int64_t now = 1767225600 - 3 * 3600 + 17;
    for (size_t i = 0; i < N; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        /* gaps from 1 s to several thousand, crossing many windows, and
         * every delta-of-delta bucket including the edges */
        static const int64_t steps[] = {1, 1, 1, 2, 65, 1, 257, 1, 2049, 1, 64, 128, 3000, 1};
        now += steps[(seed >> 33) % (sizeof steps / sizeof steps[0])];
        t[i] = now;
        switch ((seed >> 40) % 8) {
        case 0:
            v[i] = NAN;
            break;
        case 1:
            v[i] = -0.0;
            break;
        case 2:
            v[i] = INFINITY;
            break;
        case 3:
            v[i] = 5e-324;
            break;
        case 4:
            v[i] = (double)(seed >> 11);
            break;
        default:
            v[i] = (double)((int64_t)(seed >> 50) - 4000) / 100.0;
            break;
        }
    }
    size_t bytes = 0;
    CHECK(round_trip(t, v, N, &bytes));
    CHECK(bytes > 0);
}

static void test_delta_of_delta_bucket_edges(void)
{
    /* deltas chosen so that the delta-of-delta hits -63, 64, -255, 256,
     * -2047, 2048 and values just beyond */
    static const int64_t deltas[] = {100, 37, 101, 100, 356, 101, 2148, 101,  2150,
                                     100, 35, 100, 164, 100, 99,  3,    4000, 1};
    enum { N = sizeof deltas / sizeof deltas[0] + 1 };
    int64_t t[N];
    double v[N];
    t[0] = 1767225600;
    v[0] = 1.0;
    for (size_t i = 1; i < N; i++) {
        t[i] = t[i - 1] + deltas[i - 1];
        v[i] = v[i - 1] + 0.1;
    }
    size_t bytes = 0;
    CHECK(round_trip(t, v, N, &bytes));
}

static void test_decoder_rejects_truncated_stream(void)
{
    int64_t t[3] = {1767225600, 1767225601, 1767225602};
    double v[3] = {1.5, 2.25, -7.125};
    struct gorilla_bits b;
    gorilla_bits_init(&b);
    CHECK(gorilla_encode_series(&b, t, v, 3) > 0);
    b.len_bits -= 40;
    int64_t t2[3];
    double v2[3];
    CHECK(!gorilla_decode_series(&b, t, 3, t2, v2));
    gorilla_bits_free(&b);
}

int main(void)
{
    test_constant_regular_series_costs_two_bits_per_point();
    test_irregular_times_and_special_values_round_trip();
    test_delta_of_delta_bucket_edges();
    test_decoder_rejects_truncated_stream();
    return test_summary();
}
