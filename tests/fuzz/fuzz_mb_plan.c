/* libFuzzer target for the Modbus request planner (and the codec on its
 * output): builds limits and a point set from the input, plans it, and aborts
 * on any broken invariant: every point in exactly one request of its area and
 * wholly inside it, no request over the limits or past address 65535, each
 * request spanning only its points plus holes within the gap limit, the
 * request count minimal (exhaustive search for small sets), and a failed plan
 * left zeroed. Every point is then decoded from an exactly sized buffer of its
 * request, so ASan sees any read past a request.
 *
 * Input: 6 bytes of limits (max_registers, max_bits hi/lo, gap registers,
 * gap bits, flags), then 5 bytes per point (area/type, address hi/lo,
 * length-or-bit, order/tag type). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/mb_codec.h"
#include "drivers/modbus/mb_plan.h"

#define MAX_POINTS 512
#define EXHAUSTIVE_MAX_POINTS 6

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mb_plan: invariant broken: %s (line %d)\n", #cond, __LINE__);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

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

struct interval {
    uint32_t start, end;
};

static int compare_intervals(const void *pa, const void *pb)
{
    const struct interval *a = pa, *b = pb;
    return a->start < b->start ? -1 : a->start > b->start ? 1 : 0;
}

static struct interval interval_of(const struct mb_point *p)
{
    struct interval iv = {p->address, (uint32_t)p->address + mb_point_width(p)};
    return iv;
}

/* The end of the union of iv[0..n) (sorted here), or 0 when a hole between
 * them is wider than gap. */
static uint32_t covered_end(struct interval *iv, size_t n, uint32_t gap)
{
    qsort(iv, n, sizeof iv[0], compare_intervals);
    uint32_t end = iv[0].end;
    for (size_t k = 1; k < n; k++) {
        if (iv[k].start > end && iv[k].start - end > gap) return 0;
        if (iv[k].end > end) end = iv[k].end;
    }
    return end;
}

static void check_requests(const struct mb_point *pts, size_t n, const struct mb_plan_limits *l,
                           const struct mb_plan *plan, uint32_t *seen)
{
    static struct interval iv[MAX_POINTS];
    for (size_t r = 0; r < plan->request_count; r++) {
        const struct mb_request *q = &plan->requests[r];
        REQUIRE((unsigned)q->area <= MB_AREA_INPUT);
        REQUIRE(q->count >= 1 && q->count <= limit_of(q->area, l));
        REQUIRE((uint32_t)q->start + q->count <= 65536u);
        REQUIRE(q->member_count >= 1 && (size_t)q->first_member + q->member_count <= n);
        for (uint32_t k = 0; k < q->member_count; k++) {
            uint32_t i = plan->members[q->first_member + k];
            REQUIRE(i < n && plan->point_request[i] == r);
            seen[i]++;
            iv[k] = interval_of(&pts[i]);
        }
        uint32_t end = covered_end(iv, q->member_count, gap_of(q->area, l));
        REQUIRE(iv[0].start == q->start);
        REQUIRE(end == (uint32_t)q->start + q->count);
        if (r > 0) { /* area order, then address order */
            const struct mb_request *prev = &plan->requests[r - 1];
            REQUIRE(prev->area < q->area || (prev->area == q->area && prev->start <= q->start));
        }
    }
}

static void check_points(const struct mb_point *pts, size_t n, const struct mb_plan *plan,
                         const uint32_t *seen)
{
    for (size_t i = 0; i < n; i++) {
        REQUIRE(seen[i] == 1);
        REQUIRE(plan->point_request[i] < plan->request_count);
        const struct mb_request *q = &plan->requests[plan->point_request[i]];
        REQUIRE(q->area == pts[i].area);
        REQUIRE((uint32_t)q->start + plan->point_offset[i] == pts[i].address);
        REQUIRE((uint32_t)plan->point_offset[i] + mb_point_width(&pts[i]) <= q->count);
    }
}

/* ---- exhaustive minimum for small sets ---- */

struct search {
    const struct mb_point *pts;
    size_t n;
    const struct mb_plan_limits *l;
    size_t blocks[EXHAUSTIVE_MAX_POINTS][EXHAUSTIVE_MAX_POINTS];
    size_t sizes[EXHAUSTIVE_MAX_POINTS];
    size_t best;
};

static bool block_ok(const struct search *s, size_t b, bool final)
{
    struct interval iv[EXHAUSTIVE_MAX_POINTS];
    enum mb_area area = s->pts[s->blocks[b][0]].area;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t k = 0; k < s->sizes[b]; k++) {
        const struct mb_point *p = &s->pts[s->blocks[b][k]];
        if (p->area != area) return false;
        iv[k] = interval_of(p);
        if (iv[k].start < lo) lo = iv[k].start;
        if (iv[k].end > hi) hi = iv[k].end;
    }
    if (hi - lo > limit_of(area, s->l)) return false;
    /* Holes only at the end: a later point may fill one. */
    return !final || covered_end(iv, s->sizes[b], gap_of(area, s->l)) != 0;
}

static void search_from(struct search *s, size_t i, size_t nblocks)
{
    if (nblocks >= s->best) return;
    if (i == s->n) {
        for (size_t b = 0; b < nblocks; b++)
            if (!block_ok(s, b, true)) return;
        s->best = nblocks;
        return;
    }
    for (size_t b = 0; b <= nblocks; b++) {
        s->blocks[b][s->sizes[b]++] = i;
        if (block_ok(s, b, false)) search_from(s, i + 1, b == nblocks ? nblocks + 1 : nblocks);
        s->sizes[b]--;
    }
}

/* ---- decoding every point from its request ---- */

static void decode_all(const struct mb_point *pts, const struct mb_plan *plan, const uint8_t *fill,
                       size_t fill_len, const uint8_t *tag_types)
{
    char text[MB_STRING_MAX_BYTES + 1];
    for (size_t r = 0; r < plan->request_count; r++) {
        const struct mb_request *q = &plan->requests[r];
        uint16_t *regs = NULL;
        uint8_t *bits = NULL;
        if (bit_area(q->area))
            bits = malloc(q->count);
        else
            regs = malloc(q->count * sizeof *regs);
        REQUIRE(bits || regs);
        for (size_t k = 0; k < q->count; k++) {
            uint8_t b = fill_len ? fill[k % fill_len] : (uint8_t)k;
            if (bits) bits[k] = b & 1;
            if (regs) regs[k] = (uint16_t)(b << 8 | (uint8_t)(b * 31 + k));
        }
        for (uint32_t k = 0; k < q->member_count; k++) {
            uint32_t i = plan->members[q->first_member + k];
            struct tag tag = {.type = (enum value_type)(tag_types[i] % 5), .scale = {1, 0}};
            if (tag_types[i] & 0x80) tag.scale.gain = 0.5;
            struct value v;
            quality_t qual = mb_decode_point(&pts[i], &tag, regs, bits, plan->point_offset[i], &v,
                                             text, sizeof text);
            REQUIRE(v.type == tag.type);
            if (v.type == VALUE_STRING) REQUIRE(v.as.str.ptr != NULL);
            (void)qual;
        }
        free(regs);
        free(bits);
    }
}

static struct mb_plan_limits limits_from(const uint8_t *d, bool *valid_only)
{
    struct mb_plan_limits l = {
        .max_registers = d[0],
        .max_bits = (uint16_t)((d[1] << 8 | d[2]) & 0x0FFF),
        .max_gap_registers = d[3],
        .max_gap_bits = (uint16_t)(d[4] * 4),
    };
    *valid_only = (d[5] & 1) == 0;
    if (*valid_only) { /* mostly: keep the limits in range and the points planable */
        l.max_registers = (uint16_t)(1 + d[0] % MB_PLAN_MAX_REGISTERS);
        l.max_bits = (uint16_t)(1 + (d[1] << 8 | d[2]) % MB_PLAN_MAX_BITS);
    }
    return l;
}

static struct mb_point point_from(const uint8_t *d, const struct mb_plan_limits *l, bool valid_only)
{
    struct mb_point p = {
        .area = (enum mb_area)(d[0] & 3),
        .type = (enum mb_type)((d[0] >> 2) % 11), /* 10 is not a type */
        .address = (uint16_t)(d[1] << 8 | d[2]),
        .order = {(d[4] & 1) != 0, (d[4] & 2) != 0},
        .bit = (int8_t)((int)(d[3] % 18) - 1),
        .length = d[3],
    };
    if (!valid_only) return p;
    if (p.area == MB_AREA_COIL || p.area == MB_AREA_DISCRETE_INPUT) p.type = MB_TYPE_BOOL;
    if (p.type > MB_TYPE_STRING) p.type = MB_TYPE_UINT16;
    if (p.type != MB_TYPE_BOOL || bit_area(p.area)) p.bit = -1;
    if (p.bit > 15) p.bit = 15;
    if (p.type == MB_TYPE_STRING) p.length = (uint16_t)(1 + d[3] % l->max_registers);
    if (!bit_area(p.area) && mb_point_width(&p) > l->max_registers) p.type = MB_TYPE_INT16;
    uint32_t width = mb_point_width(&p);
    if ((uint32_t)p.address + width > 65536u) p.address = (uint16_t)(65536u - width);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) return 0;
    bool valid_only;
    struct mb_plan_limits l = limits_from(data, &valid_only);
    static struct mb_point pts[MAX_POINTS];
    static uint8_t tag_types[MAX_POINTS];
    size_t n = (size - 6) / 5;
    if (n > MAX_POINTS) n = MAX_POINTS;
    for (size_t i = 0; i < n; i++) {
        pts[i] = point_from(data + 6 + 5 * i, &l, valid_only);
        tag_types[i] = data[6 + 5 * i + 4] >> 2;
        if (data[6 + 5 * i + 4] & 0x80) tag_types[i] |= 0x80;
    }
    struct mb_plan plan;
    char why[256];
    if (!mb_plan_build(pts, n, &l, &plan, why, sizeof why)) {
        REQUIRE(!valid_only);
        REQUIRE(plan.request_count == 0 && plan.requests == NULL && plan.point_request == NULL &&
                plan.point_offset == NULL && plan.members == NULL && plan.point_count == 0);
        REQUIRE(why[0] != '\0' && memchr(why, '\0', sizeof why) != NULL);
        return 0;
    }
    REQUIRE(plan.point_count == n);
    REQUIRE(n == 0 || plan.request_count >= 1);
    REQUIRE(plan.request_count <= n);
    static uint32_t seen[MAX_POINTS];
    memset(seen, 0, sizeof seen);
    check_requests(pts, n, &l, &plan, seen);
    check_points(pts, n, &plan, seen);
    if (n >= 1 && n <= EXHAUSTIVE_MAX_POINTS) {
        struct search s = {.pts = pts, .n = n, .l = &l, .best = n + 1};
        search_from(&s, 0, 0);
        REQUIRE(plan.request_count == s.best);
    }
    REQUIRE(mb_plan_min_requests(pts, n, &l) == plan.request_count);
    decode_all(pts, &plan, data, size, tag_types);
    mb_plan_free(&plan);
    return 0;
}
