/* The Modbus request planner: turns the points of one poll group into the
 * fewest read requests the device limits allow. Pure (no I/O); computed once
 * when a device starts.
 *
 * Points are grouped by area (each area is its own function code: coils FC1,
 * discrete inputs FC2, holding registers FC3, input registers FC4), sorted by
 * address, and merged greedily: a point joins the current request when the
 * request, grown to cover it, stays within the size limit and the hole
 * between the request's end and the point's start is at most the gap limit.
 * Overlapping points (a bit and a register of the same address, two tags on
 * the same registers) share what they overlap. A point is never split across
 * requests. */
#ifndef AIRLOCK_MODBUS_MB_PLAN_H
#define AIRLOCK_MODBUS_MB_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/modbus/mb_point.h"

/* The protocol's limits for one read (Modbus Application Protocol 6.1-6.4). */
#define MB_PLAN_MAX_REGISTERS 125
#define MB_PLAN_MAX_BITS 2000

struct mb_plan_limits {
    uint16_t max_registers;     /* per request, 1..MB_PLAN_MAX_REGISTERS */
    uint16_t max_bits;          /* per request, 1..MB_PLAN_MAX_BITS */
    uint16_t max_gap_registers; /* unrequested registers a request may span */
    uint16_t max_gap_bits;      /* unrequested bits a request may span */
};

struct mb_request {
    enum mb_area area;
    uint16_t start; /* first address read */
    uint16_t count; /* registers or bits read */
    /* This request's points: plan.members[first_member .. first_member + member_count),
     * in address order. */
    uint32_t first_member;
    uint32_t member_count;
};

struct mb_plan {
    struct mb_request *requests; /* in area order, then address order */
    size_t request_count;
    size_t point_count;      /* the number of points planned */
    uint32_t *point_request; /* [point_count]: the request of point i (input order) */
    uint16_t *point_offset;  /* [point_count]: point i's first register/bit in its request */
    uint32_t *members;       /* [point_count]: point indices grouped by request */
};

/* Plans points[0..count). On success fills *out (which owns its arrays:
 * release with mb_plan_free) and returns true; count 0 gives an empty plan
 * with no requests. Fails, with *out zeroed and a reason naming the point in
 * why (if non-NULL), when the limits are outside their ranges, a point cannot
 * be decoded (mb_point_decodable), runs past address 65535, or is wider than
 * its area's request limit; or when memory runs out. */
bool mb_plan_build(const struct mb_point *points, size_t count, const struct mb_plan_limits *limits,
                   struct mb_plan *out, char *why, size_t why_len);

/* Frees the plan's arrays and zeroes it. Safe on a zeroed plan and NULL. */
void mb_plan_free(struct mb_plan *plan);

/* The number of requests per poll the planner needs for these points: the
 * greedy merge, which no other split of the points obeying the same size and
 * gap limits beats (tests/unit/test_mb_plan.c checks this against an
 * exhaustive search). 0 for no points; (size_t)-1 when the points cannot be
 * planned (as mb_plan_build fails). */
size_t mb_plan_min_requests(const struct mb_point *points, size_t count,
                            const struct mb_plan_limits *limits);

#endif
