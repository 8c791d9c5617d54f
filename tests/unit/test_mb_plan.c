/* Tests of the Modbus request planner (drivers/modbus/mb_plan.h): merging,
 * gaps, the protocol limits, areas, overlaps, wide points, input order, bad
 * input; then a randomized property test of the plan's invariants and of its
 * request count against an exhaustive search for the fewest requests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/mb_codec.h"
#include "drivers/modbus/mb_plan.h"
#include "testlib.h"

static const struct mb_plan_limits DEFAULT_LIMITS = {125, 2000, 16, 64};

static struct mb_point reg(enum mb_area area, uint16_t address, enum mb_type type)
{
    struct mb_point p = {.area = area, .address = address, .type = type, .bit = -1};
    if (type == MB_TYPE_STRING) p.length = 1;
    return p;
}

static struct mb_point holding(uint16_t address, enum mb_type type)
{
    return reg(MB_AREA_HOLDING, address, type);
}

static struct mb_point coil(uint16_t address)
{
    return reg(MB_AREA_COIL, address, MB_TYPE_BOOL);
}

static struct mb_point string_at(uint16_t address, uint16_t length)
{
    struct mb_point p = holding(address, MB_TYPE_STRING);
    p.length = length;
    return p;
}

/* Plans and checks the result is as expected: requests as {area, start,
 * count} triples. */
struct expect {
    enum mb_area area;
    uint16_t start, count;
};

static void check_plan(const struct mb_point *pts, size_t n, const struct mb_plan_limits *l,
                       const struct expect *want, size_t want_count, struct mb_plan *out)
{
    char why[256] = "";
    bool ok = mb_plan_build(pts, n, l, out, why, sizeof why);
    if (!ok) fprintf(stderr, "plan failed: %s\n", why);
    CHECK(ok);
    CHECK_EQ_INT(out->request_count, want_count);
    CHECK_EQ_INT(out->point_count, n);
    for (size_t r = 0; r < want_count && r < out->request_count; r++) {
        CHECK_EQ_INT(out->requests[r].area, want[r].area);
        CHECK_EQ_INT(out->requests[r].start, want[r].start);
        CHECK_EQ_INT(out->requests[r].count, want[r].count);
    }
    CHECK_EQ_INT(mb_plan_min_requests(pts, n, l), want_count);
}

static void test_empty(void)
{
    struct mb_plan plan;
    memset(&plan, 0xAB, sizeof plan);
    CHECK(mb_plan_build(NULL, 0, &DEFAULT_LIMITS, &plan, NULL, 0));
    CHECK_EQ_INT(plan.request_count, 0);
    CHECK_EQ_INT(plan.point_count, 0);
    CHECK(plan.requests == NULL && plan.point_request == NULL && plan.members == NULL);
    mb_plan_free(&plan);
    mb_plan_free(&plan);
    mb_plan_free(NULL);
    CHECK_EQ_INT(mb_plan_min_requests(NULL, 0, &DEFAULT_LIMITS), 0);
}

static void test_contiguous_merge(void)
{
    const struct mb_point pts[] = {holding(0, MB_TYPE_INT16), holding(1, MB_TYPE_INT32),
                                   holding(3, MB_TYPE_FLOAT64), holding(7, MB_TYPE_UINT16)};
    const struct expect want[] = {{MB_AREA_HOLDING, 0, 8}};
    struct mb_plan plan;
    check_plan(pts, 4, &DEFAULT_LIMITS, want, 1, &plan);
    const uint16_t offsets[] = {0, 1, 3, 7};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(plan.point_request[i], 0);
        CHECK_EQ_INT(plan.point_offset[i], offsets[i]);
        CHECK_EQ_INT(plan.members[i], i);
    }
    CHECK_EQ_INT(plan.requests[0].first_member, 0);
    CHECK_EQ_INT(plan.requests[0].member_count, 4);
    mb_plan_free(&plan);
}

static void test_gaps(void)
{
    struct mb_plan plan;
    /* Register 0, then register 17: a hole of 16 = max_gap_registers: merged. */
    const struct mb_point within[] = {holding(0, MB_TYPE_INT16), holding(17, MB_TYPE_INT16)};
    const struct expect one[] = {{MB_AREA_HOLDING, 0, 18}};
    check_plan(within, 2, &DEFAULT_LIMITS, one, 1, &plan);
    CHECK_EQ_INT(plan.point_offset[1], 17);
    mb_plan_free(&plan);
    /* Register 18: a hole of 17: split. */
    const struct mb_point beyond[] = {holding(0, MB_TYPE_INT16), holding(18, MB_TYPE_INT16)};
    const struct expect two[] = {{MB_AREA_HOLDING, 0, 1}, {MB_AREA_HOLDING, 18, 1}};
    check_plan(beyond, 2, &DEFAULT_LIMITS, two, 2, &plan);
    CHECK_EQ_INT(plan.point_request[1], 1);
    CHECK_EQ_INT(plan.point_offset[1], 0);
    mb_plan_free(&plan);
    /* max_gap 0: only touching points merge. */
    struct mb_plan_limits tight = {125, 2000, 0, 0};
    const struct mb_point touching[] = {holding(0, MB_TYPE_INT32),
                                        holding(2, MB_TYPE_INT16),
                                        holding(4, MB_TYPE_INT16),
                                        coil(0),
                                        coil(1),
                                        coil(3)};
    const struct expect split[] = {{MB_AREA_COIL, 0, 2},
                                   {MB_AREA_COIL, 3, 1},
                                   {MB_AREA_HOLDING, 0, 3},
                                   {MB_AREA_HOLDING, 4, 1}};
    check_plan(touching, 6, &tight, split, 4, &plan);
    mb_plan_free(&plan);
    /* Bits: a hole of 64 merges, 65 splits. */
    const struct mb_point bits_within[] = {coil(0), coil(65)};
    const struct expect bits_one[] = {{MB_AREA_COIL, 0, 66}};
    check_plan(bits_within, 2, &DEFAULT_LIMITS, bits_one, 1, &plan);
    mb_plan_free(&plan);
    const struct mb_point bits_beyond[] = {coil(0), coil(66)};
    const struct expect bits_two[] = {{MB_AREA_COIL, 0, 1}, {MB_AREA_COIL, 66, 1}};
    check_plan(bits_beyond, 2, &DEFAULT_LIMITS, bits_two, 2, &plan);
    mb_plan_free(&plan);
}

static void test_register_limit(void)
{
    struct mb_point pts[126];
    for (uint16_t i = 0; i < 126; i++)
        pts[i] = holding((uint16_t)(1000 + i), MB_TYPE_UINT16);
    struct mb_plan plan;
    const struct expect want[] = {{MB_AREA_HOLDING, 1000, 125}, {MB_AREA_HOLDING, 1125, 1}};
    check_plan(pts, 125, &DEFAULT_LIMITS, want, 1, &plan);
    mb_plan_free(&plan);
    check_plan(pts, 126, &DEFAULT_LIMITS, want, 2, &plan);
    CHECK_EQ_INT(plan.point_request[124], 0);
    CHECK_EQ_INT(plan.point_request[125], 1);
    mb_plan_free(&plan);

    /* A picky device: 10 registers per request. */
    struct mb_plan_limits picky = {10, 2000, 16, 64};
    const struct expect tens[] = {
        {MB_AREA_HOLDING, 1000, 10}, {MB_AREA_HOLDING, 1010, 10}, {MB_AREA_HOLDING, 1020, 5}};
    check_plan(pts, 25, &picky, tens, 3, &plan);
    mb_plan_free(&plan);
    /* ...where a float64 at 1008 does not fit after 1000..1007 and starts its own. */
    struct mb_point mixed[9];
    for (uint16_t i = 0; i < 8; i++)
        mixed[i] = holding((uint16_t)(1000 + i), MB_TYPE_UINT16);
    mixed[8] = holding(1008, MB_TYPE_FLOAT64);
    const struct expect mixed_want[] = {{MB_AREA_HOLDING, 1000, 8}, {MB_AREA_HOLDING, 1008, 4}};
    check_plan(mixed, 9, &picky, mixed_want, 2, &plan);
    mb_plan_free(&plan);
}

static void test_bit_limit(void)
{
    static struct mb_point pts[2001];
    for (uint16_t i = 0; i < 2001; i++)
        pts[i] = coil(i);
    struct mb_plan plan;
    const struct expect want[] = {{MB_AREA_COIL, 0, 2000}, {MB_AREA_COIL, 2000, 1}};
    check_plan(pts, 2000, &DEFAULT_LIMITS, want, 1, &plan);
    mb_plan_free(&plan);
    check_plan(pts, 2001, &DEFAULT_LIMITS, want, 2, &plan);
    CHECK_EQ_INT(plan.point_request[1999], 0);
    CHECK_EQ_INT(plan.point_offset[1999], 1999);
    CHECK_EQ_INT(plan.point_request[2000], 1);
    CHECK_EQ_INT(plan.point_offset[2000], 0);
    mb_plan_free(&plan);
    for (uint16_t i = 0; i < 2001; i++)
        pts[i].area = MB_AREA_DISCRETE_INPUT;
    const struct expect inputs[] = {{MB_AREA_DISCRETE_INPUT, 0, 2000},
                                    {MB_AREA_DISCRETE_INPUT, 2000, 1}};
    check_plan(pts, 2001, &DEFAULT_LIMITS, inputs, 2, &plan);
    mb_plan_free(&plan);
}

static void test_areas_never_merge(void)
{
    const struct mb_point pts[] = {
        reg(MB_AREA_INPUT, 0, MB_TYPE_INT16),         reg(MB_AREA_HOLDING, 0, MB_TYPE_INT16),
        reg(MB_AREA_DISCRETE_INPUT, 0, MB_TYPE_BOOL), reg(MB_AREA_COIL, 0, MB_TYPE_BOOL),
        reg(MB_AREA_HOLDING, 1, MB_TYPE_INT16),       reg(MB_AREA_INPUT, 1, MB_TYPE_INT16)};
    const struct expect want[] = {{MB_AREA_COIL, 0, 1},
                                  {MB_AREA_DISCRETE_INPUT, 0, 1},
                                  {MB_AREA_HOLDING, 0, 2},
                                  {MB_AREA_INPUT, 0, 2}};
    struct mb_plan plan;
    check_plan(pts, 6, &DEFAULT_LIMITS, want, 4, &plan);
    CHECK_EQ_INT(plan.point_request[0], 3);
    CHECK_EQ_INT(plan.point_request[1], 2);
    CHECK_EQ_INT(plan.point_request[2], 1);
    CHECK_EQ_INT(plan.point_request[3], 0);
    CHECK_EQ_INT(plan.point_request[4], 2);
    CHECK_EQ_INT(plan.point_request[5], 3);
    mb_plan_free(&plan);
}

static void test_overlaps(void)
{
    /* Bits of register 5, the register itself twice, and an int32 over 4..5. */
    struct mb_point bit3 = holding(5, MB_TYPE_BOOL), bit15 = holding(5, MB_TYPE_BOOL);
    bit3.bit = 3;
    bit15.bit = 15;
    const struct mb_point pts[] = {bit3, holding(5, MB_TYPE_INT16), holding(5, MB_TYPE_UINT16),
                                   holding(4, MB_TYPE_INT32), bit15};
    const struct expect want[] = {{MB_AREA_HOLDING, 4, 2}};
    struct mb_plan plan;
    check_plan(pts, 5, &DEFAULT_LIMITS, want, 1, &plan);
    const uint16_t offsets[] = {1, 1, 1, 0, 1};
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ_INT(plan.point_offset[i], offsets[i]);
    /* Members in address order, ties in input order. */
    const uint32_t members[] = {3, 0, 1, 2, 4};
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ_INT(plan.members[i], members[i]);
    mb_plan_free(&plan);
    /* A short point inside a long one adds nothing. */
    const struct mb_point inside[] = {string_at(10, 20), holding(15, MB_TYPE_FLOAT64),
                                      holding(29, MB_TYPE_INT16)};
    const struct expect inside_want[] = {{MB_AREA_HOLDING, 10, 20}};
    check_plan(inside, 3, &DEFAULT_LIMITS, inside_want, 1, &plan);
    CHECK_EQ_INT(plan.point_offset[1], 5);
    CHECK_EQ_INT(plan.point_offset[2], 19);
    mb_plan_free(&plan);
}

static void test_wide_points(void)
{
    struct mb_plan plan;
    /* 123 int16 at 0..122, then a float64 at 123: 0..126 would be 127
     * registers, so the float64 starts its own request, never split. */
    struct mb_point pts[124];
    for (uint16_t i = 0; i < 123; i++)
        pts[i] = holding(i, MB_TYPE_INT16);
    pts[123] = holding(123, MB_TYPE_FLOAT64);
    const struct expect want[] = {{MB_AREA_HOLDING, 0, 123}, {MB_AREA_HOLDING, 123, 4}};
    check_plan(pts, 124, &DEFAULT_LIMITS, want, 2, &plan);
    CHECK_EQ_INT(plan.point_request[123], 1);
    CHECK_EQ_INT(plan.point_offset[123], 0);
    mb_plan_free(&plan);
    /* A float64 at 121 ends at 124: fits. */
    pts[121] = holding(121, MB_TYPE_FLOAT64);
    const struct expect fits[] = {{MB_AREA_HOLDING, 0, 125}, {MB_AREA_HOLDING, 123, 4}};
    check_plan(pts, 124, &DEFAULT_LIMITS, fits, 2, &plan);
    mb_plan_free(&plan);

    /* A 123-register string is fine; 125 too. */
    const struct mb_point long_strings[] = {string_at(0, 123), string_at(200, 125)};
    const struct expect long_want[] = {{MB_AREA_HOLDING, 0, 123}, {MB_AREA_HOLDING, 200, 125}};
    check_plan(long_strings, 2, &DEFAULT_LIMITS, long_want, 2, &plan);
    mb_plan_free(&plan);

    /* Wider than the device's limit: a clear error naming the tag. */
    struct mb_plan_limits picky = {10, 2000, 16, 64};
    const struct mb_point too_wide[] = {holding(0, MB_TYPE_INT16), string_at(40, 20)};
    char why[256] = "";
    memset(&plan, 0xAB, sizeof plan);
    CHECK(!mb_plan_build(too_wide, 2, &picky, &plan, why, sizeof why));
    CHECK(strstr(why, "tag #2") != NULL);
    CHECK(strstr(why, "max_registers_per_request is 10") != NULL);
    CHECK(plan.requests == NULL && plan.request_count == 0 && plan.point_request == NULL);
    mb_plan_free(&plan);
    CHECK_EQ_INT(mb_plan_min_requests(too_wide, 2, &picky), (size_t)-1);
    struct mb_plan_limits four_bits = {125, 4, 0, 0};
    const struct mb_point a_coil[] = {coil(7)};
    CHECK(mb_plan_build(a_coil, 1, &four_bits, &plan, NULL, 0));
    mb_plan_free(&plan);
}

static void test_random_order(void)
{
    struct mb_point sorted[40], shuffled[40];
    size_t at[40];
    for (uint16_t i = 0; i < 40; i++) {
        sorted[i] = holding((uint16_t)(i * 5), i % 3 ? MB_TYPE_FLOAT32 : MB_TYPE_INT64);
        if (i % 7 == 0) sorted[i].area = MB_AREA_INPUT;
        at[i] = i;
    }
    uint32_t seed = 12345;
    for (size_t i = 39; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 16) % (i + 1);
        size_t t = at[i];
        at[i] = at[j];
        at[j] = t;
    }
    for (size_t i = 0; i < 40; i++)
        shuffled[i] = sorted[at[i]];
    struct mb_plan a, b;
    struct mb_plan_limits l = {30, 2000, 3, 0};
    CHECK(mb_plan_build(sorted, 40, &l, &a, NULL, 0));
    CHECK(mb_plan_build(shuffled, 40, &l, &b, NULL, 0));
    CHECK_EQ_INT(a.request_count, b.request_count);
    for (size_t r = 0; r < a.request_count && r < b.request_count; r++) {
        CHECK_EQ_INT(a.requests[r].area, b.requests[r].area);
        CHECK_EQ_INT(a.requests[r].start, b.requests[r].start);
        CHECK_EQ_INT(a.requests[r].count, b.requests[r].count);
    }
    for (size_t i = 0; i < 40; i++) {
        CHECK_EQ_INT(b.point_request[i], a.point_request[at[i]]);
        CHECK_EQ_INT(b.point_offset[i], a.point_offset[at[i]]);
    }
    mb_plan_free(&a);
    mb_plan_free(&b);
}

static void test_bad_input(void)
{
    struct mb_plan plan;
    char why[256];
    const struct mb_point one[] = {holding(0, MB_TYPE_INT16)};
    const struct mb_plan_limits bad_limits[] = {
        {0, 2000, 0, 0}, {126, 2000, 0, 0}, {125, 0, 0, 0}, {125, 2001, 0, 0}};
    const char *names[] = {"max_registers_per_request", "max_registers_per_request",
                           "max_bits_per_request", "max_bits_per_request"};
    for (size_t i = 0; i < 4; i++) {
        why[0] = '\0';
        CHECK(!mb_plan_build(one, 1, &bad_limits[i], &plan, why, sizeof why));
        CHECK(strstr(why, names[i]) != NULL);
        CHECK(!mb_plan_build(NULL, 0, &bad_limits[i], &plan, NULL, 0));
    }
    /* Running past the last address. */
    const struct mb_point last_ok[] = {holding(65535, MB_TYPE_INT16), coil(65535),
                                       holding(65532, MB_TYPE_UINT64)};
    CHECK(mb_plan_build(last_ok, 3, &DEFAULT_LIMITS, &plan, NULL, 0));
    mb_plan_free(&plan);
    const struct mb_point past[] = {holding(65535, MB_TYPE_INT32)};
    CHECK(!mb_plan_build(past, 1, &DEFAULT_LIMITS, &plan, why, sizeof why));
    CHECK(strstr(why, "65535") != NULL);
    /* Undecodable points. */
    struct mb_point bad[4] = {reg(MB_AREA_COIL, 0, MB_TYPE_INT16), string_at(0, 0),
                              holding(0, MB_TYPE_INT16), holding(0, MB_TYPE_BOOL)};
    bad[2].area = (enum mb_area)9;
    bad[3].bit = 16;
    for (size_t i = 0; i < 4; i++) {
        why[0] = '\0';
        const struct mb_point pts[] = {holding(3, MB_TYPE_INT16), bad[i]};
        CHECK(!mb_plan_build(pts, 2, &DEFAULT_LIMITS, &plan, why, sizeof why));
        CHECK(strstr(why, "tag #2") != NULL);
        CHECK(plan.request_count == 0 && plan.requests == NULL);
    }
}

/* ---- property test ---- */

static uint64_t rng_state = UINT64_C(0x243F6A8885A308D3);
static uint32_t rng_below(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(0x2545F4914F6CDD1D)) >> 32) % n;
}

static bool bit_area(enum mb_area a)
{
    return a == MB_AREA_COIL || a == MB_AREA_DISCRETE_INPUT;
}

static uint32_t limit_of(enum mb_area a, const struct mb_plan_limits *l)
{
    return bit_area(a) ? l->max_bits : l->max_registers;
}

static uint32_t gap_of(enum mb_area a, const struct mb_plan_limits *l)
{
    return bit_area(a) ? l->max_gap_bits : l->max_gap_registers;
}

/* A random point that fits the limits, near base. */
static struct mb_point random_point(uint32_t base, uint32_t spread, const struct mb_plan_limits *l)
{
    struct mb_point p = {.area = (enum mb_area)rng_below(4), .bit = -1};
    uint32_t limit = limit_of(p.area, l);
    if (bit_area(p.area)) {
        p.type = MB_TYPE_BOOL;
    } else {
        p.type = (enum mb_type)rng_below(MB_TYPE_STRING + 1);
        if (p.type == MB_TYPE_BOOL) p.bit = (int8_t)(rng_below(17) - 1);
        if (p.type == MB_TYPE_STRING) p.length = (uint16_t)(1 + rng_below(limit));
        if (mb_point_width(&p) > limit) p.type = MB_TYPE_INT16;
    }
    uint32_t addr = base + rng_below(spread);
    uint32_t width = mb_point_width(&p);
    if (addr + width > 65536u) addr = 65536u - width;
    p.address = (uint16_t)addr;
    return p;
}

struct interval {
    uint32_t start, end;
};

static int compare_intervals(const void *pa, const void *pb)
{
    const struct interval *a = pa, *b = pb;
    return a->start < b->start ? -1 : a->start > b->start ? 1 : 0;
}

/* The span of the points in set[0..n) if they share an area, else 0; the
 * bound that holds for every part of a block too (holes do not: a point
 * added later may fill one). */
static uint32_t block_span(const struct mb_point *pts, const size_t *set, size_t n)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t k = 0; k < n; k++) {
        if (pts[set[k]].area != pts[set[0]].area) return 0;
        uint32_t start = pts[set[k]].address, end = start + mb_point_width(&pts[set[k]]);
        if (start < lo) lo = start;
        if (end > hi) hi = end;
    }
    return hi - lo;
}

/* True when the points in set[0..n) may be read by one request: same area,
 * span within the limit, every hole between them within the gap limit. */
static bool block_feasible(const struct mb_point *pts, const size_t *set, size_t n,
                           const struct mb_plan_limits *l)
{
    struct interval iv[64];
    enum mb_area area = pts[set[0]].area;
    uint32_t span = block_span(pts, set, n);
    if (span == 0 || span > limit_of(area, l)) return false;
    for (size_t k = 0; k < n; k++) {
        iv[k].start = pts[set[k]].address;
        iv[k].end = iv[k].start + mb_point_width(&pts[set[k]]);
    }
    qsort(iv, n, sizeof iv[0], compare_intervals);
    uint32_t end = iv[0].end;
    for (size_t k = 1; k < n; k++) {
        if (iv[k].start > end && iv[k].start - end > gap_of(area, l)) return false;
        if (iv[k].end > end) end = iv[k].end;
    }
    return true;
}

/* Exhaustive search over every partition of the points into feasible
 * blocks (branch and bound on the block count and on area and span); the
 * fewest blocks. */
struct search {
    const struct mb_point *pts;
    size_t n;
    const struct mb_plan_limits *l;
    size_t blocks[8][8];
    size_t sizes[8];
    size_t best;
};

static void search_from(struct search *s, size_t i, size_t nblocks)
{
    if (nblocks >= s->best) return;
    if (i == s->n) {
        for (size_t b = 0; b < nblocks; b++)
            if (!block_feasible(s->pts, s->blocks[b], s->sizes[b], s->l)) return;
        s->best = nblocks;
        return;
    }
    for (size_t b = 0; b <= nblocks && b < 8; b++) {
        s->blocks[b][s->sizes[b]++] = i;
        uint32_t span = block_span(s->pts, s->blocks[b], s->sizes[b]);
        if (span > 0 && span <= limit_of(s->pts[i].area, s->l))
            search_from(s, i + 1, b == nblocks ? nblocks + 1 : nblocks);
        s->sizes[b]--;
    }
}

static size_t fewest_requests(const struct mb_point *pts, size_t n, const struct mb_plan_limits *l)
{
    struct search s = {.pts = pts, .n = n, .l = l, .best = n + 1};
    search_from(&s, 0, 0);
    return s.best;
}

/* Checks every invariant of a plan; returns the number of violations. */
static int plan_violations(const struct mb_point *pts, size_t n, const struct mb_plan_limits *l,
                           const struct mb_plan *plan)
{
    int bad = 0;
    if (plan->point_count != n) return 1;
    static uint32_t seen[4096];
    memset(seen, 0, sizeof seen);
    for (size_t r = 0; r < plan->request_count; r++) {
        const struct mb_request *q = &plan->requests[r];
        if (q->count < 1 || q->count > limit_of(q->area, l)) bad++;
        if ((uint32_t)q->start + q->count > 65536u) bad++;
        if (q->member_count < 1 || (size_t)q->first_member + q->member_count > n) {
            bad++;
            continue;
        }
        /* The request spans exactly its points plus holes within max gap. */
        struct interval iv[4096];
        for (uint32_t k = 0; k < q->member_count; k++) {
            uint32_t i = plan->members[q->first_member + k];
            if (i >= n || plan->point_request[i] != r) {
                bad++;
                continue;
            }
            seen[i]++;
            iv[k].start = pts[i].address;
            iv[k].end = iv[k].start + mb_point_width(&pts[i]);
        }
        qsort(iv, q->member_count, sizeof iv[0], compare_intervals);
        if (iv[0].start != q->start) bad++;
        uint32_t end = iv[0].end;
        for (uint32_t k = 1; k < q->member_count; k++) {
            if (iv[k].start > end && iv[k].start - end > gap_of(q->area, l)) bad++;
            if (iv[k].end > end) end = iv[k].end;
        }
        if (end != (uint32_t)q->start + q->count) bad++;
    }
    /* Every point in exactly one request of its area, whole. */
    for (size_t i = 0; i < n; i++) {
        if (seen[i] != 1) bad++;
        uint32_t r = plan->point_request[i];
        if (r >= plan->request_count) {
            bad++;
            continue;
        }
        const struct mb_request *q = &plan->requests[r];
        if (q->area != pts[i].area) bad++;
        if ((uint32_t)q->start + plan->point_offset[i] != pts[i].address) bad++;
        if ((uint32_t)plan->point_offset[i] + mb_point_width(&pts[i]) > q->count) bad++;
    }
    return bad;
}

#ifndef PROPERTY_TRIALS
#define PROPERTY_TRIALS 4000
#endif

static void test_properties(void)
{
    int violations = 0, not_minimal = 0, failures = 0;
    static struct mb_point pts[4096];
    for (int trial = 0; trial < PROPERTY_TRIALS; trial++) {
        bool small = trial % 2 == 0;
        struct mb_plan_limits l = {
            .max_registers = (uint16_t)(1 + rng_below(small ? 12 : 125)),
            .max_bits = (uint16_t)(1 + rng_below(small ? 12 : 2000)),
            .max_gap_registers = (uint16_t)rng_below(small ? 4 : 40),
            .max_gap_bits = (uint16_t)rng_below(small ? 4 : 200),
        };
        size_t n = small ? 1 + rng_below(8) : 1 + rng_below(trial % 10 == 1 ? 4096 : 200);
        uint32_t base = rng_below(8) == 0 ? 65536u - 300 : rng_below(60000);
        uint32_t spread = small ? 1 + rng_below(trial % 4 ? 12 : 40) : 1 + rng_below(3000);
        for (size_t i = 0; i < n; i++)
            pts[i] = random_point(base, spread, &l);
        struct mb_plan plan;
        char why[256];
        if (!mb_plan_build(pts, n, &l, &plan, why, sizeof why)) {
            fprintf(stderr, "plan failed: %s\n", why);
            failures++;
            continue;
        }
        violations += plan_violations(pts, n, &l, &plan);
        if (small && plan.request_count != fewest_requests(pts, n, &l)) {
            not_minimal++;
            if (not_minimal == 1) {
                fprintf(stderr, "not minimal: %zu requests, limits %u/%u gaps %u/%u\n",
                        plan.request_count, l.max_registers, l.max_bits, l.max_gap_registers,
                        l.max_gap_bits);
                for (size_t i = 0; i < n; i++)
                    fprintf(stderr, "  %s %u width %u\n", mb_area_name(pts[i].area), pts[i].address,
                            mb_point_width(&pts[i]));
            }
        }
        mb_plan_free(&plan);
    }
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(violations, 0);
    CHECK_EQ_INT(not_minimal, 0);
}

int main(void)
{
    test_empty();
    test_contiguous_merge();
    test_gaps();
    test_register_limit();
    test_bit_limit();
    test_areas_never_merge();
    test_overlaps();
    test_wide_points();
    test_random_order();
    test_bad_input();
    test_properties();
    return test_summary();
}
