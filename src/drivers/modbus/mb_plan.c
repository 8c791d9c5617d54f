/* The Modbus request planner: sort the points of a poll group by area and
 * address, then merge them greedily into read requests. See mb_plan.h. */
#include "drivers/modbus/mb_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errbuf.h"
#include "drivers/modbus/mb_codec.h"

/* One point as the planner sees it: [start, end) in its area. */
struct span_entry {
    uint32_t start;
    uint32_t end;
    uint32_t index; /* in the caller's array */
    enum mb_area area;
};

static bool is_bit_area(enum mb_area a)
{
    return a == MB_AREA_COIL || a == MB_AREA_DISCRETE_INPUT;
}

static uint32_t area_limit(enum mb_area a, const struct mb_plan_limits *l)
{
    return is_bit_area(a) ? l->max_bits : l->max_registers;
}

static uint32_t area_gap(enum mb_area a, const struct mb_plan_limits *l)
{
    return is_bit_area(a) ? l->max_gap_bits : l->max_gap_registers;
}

/* Area, then address, then input order (so equal addresses plan the same way
 * every time). */
static int compare_entries(const void *pa, const void *pb)
{
    const struct span_entry *a = pa, *b = pb;
    if (a->area != b->area) return a->area < b->area ? -1 : 1;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    if (a->index != b->index) return a->index < b->index ? -1 : 1;
    return 0;
}

static bool check_limits(const struct mb_plan_limits *l, char *why, size_t why_len)
{
    if (l->max_registers < 1 || l->max_registers > MB_PLAN_MAX_REGISTERS) {
        errbuf_set(why, why_len, "max_registers_per_request %u is outside 1..%d", l->max_registers,
                   MB_PLAN_MAX_REGISTERS);
        return false;
    }
    if (l->max_bits < 1 || l->max_bits > MB_PLAN_MAX_BITS) {
        errbuf_set(why, why_len, "max_bits_per_request %u is outside 1..%d", l->max_bits,
                   MB_PLAN_MAX_BITS);
        return false;
    }
    return true;
}

/* Checks point i and describes it as a span. Points are numbered from 1 in
 * messages. */
static bool make_entry(const struct mb_point *p, size_t i, const struct mb_plan_limits *l,
                       struct span_entry *e, char *why, size_t why_len)
{
    char reason[160];
    if (!mb_point_decodable(p, reason, sizeof reason)) {
        errbuf_set(why, why_len, "tag #%zu: %s", i + 1, reason);
        return false;
    }
    uint32_t width = mb_point_width(p);
    const char *unit = is_bit_area(p->area) ? "bits" : "registers";
    if (width < 1 || (uint32_t)p->address + width > 65536u) {
        errbuf_set(why, why_len, "tag #%zu (%s %u, %s): its %u %s run past address 65535", i + 1,
                   mb_area_name(p->area), p->address, mb_type_name(p->type), width, unit);
        return false;
    }
    uint32_t limit = area_limit(p->area, l);
    if (width > limit) {
        errbuf_set(why, why_len,
                   "tag #%zu (%s %u, %s): %u %s do not fit one request (max_%s_per_request is %u)",
                   i + 1, mb_area_name(p->area), p->address, mb_type_name(p->type), width, unit,
                   unit, limit);
        return false;
    }
    e->start = p->address;
    e->end = p->address + width;
    e->index = (uint32_t)i;
    e->area = p->area;
    return true;
}

/* True when entry e may join request r, which currently ends at r_end. */
static bool joins_request(const struct mb_request *r, uint32_t r_end, const struct span_entry *e,
                          const struct mb_plan_limits *l)
{
    if (r->area != e->area) return false;
    uint32_t end = e->end > r_end ? e->end : r_end;
    if (end - r->start > area_limit(e->area, l)) return false;
    return e->start <= r_end + area_gap(e->area, l);
}

/* The greedy merge over sorted entries; fills the plan's arrays and returns
 * the number of requests. */
static size_t merge_requests(const struct span_entry *entries, size_t count,
                             const struct mb_plan_limits *l, struct mb_plan *plan)
{
    size_t nreq = 0;
    uint32_t cur_end = 0;
    for (size_t k = 0; k < count; k++) {
        const struct span_entry *e = &entries[k];
        struct mb_request *cur = nreq ? &plan->requests[nreq - 1] : NULL;
        if (cur && joins_request(cur, cur_end, e, l)) {
            if (e->end > cur_end) cur_end = e->end;
        } else {
            if (cur) cur->count = (uint16_t)(cur_end - cur->start);
            cur = &plan->requests[nreq++];
            cur->area = e->area;
            cur->start = (uint16_t)e->start;
            cur->first_member = (uint32_t)k;
            cur->member_count = 0;
            cur_end = e->end;
        }
        cur->member_count++;
        plan->members[k] = e->index;
        plan->point_request[e->index] = (uint32_t)(nreq - 1);
        plan->point_offset[e->index] = (uint16_t)(e->start - cur->start);
    }
    if (nreq) plan->requests[nreq - 1].count = (uint16_t)(cur_end - plan->requests[nreq - 1].start);
    return nreq;
}

bool mb_plan_build(const struct mb_point *points, size_t count, const struct mb_plan_limits *limits,
                   struct mb_plan *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (!check_limits(limits, why, why_len)) return false;
    if (count == 0) return true;
    if (count > UINT32_MAX) {
        errbuf_set(why, why_len, "too many tags in one group (%zu)", count);
        return false;
    }
    struct span_entry *entries = malloc(count * sizeof *entries);
    out->requests = malloc(count * sizeof *out->requests);
    out->point_request = malloc(count * sizeof *out->point_request);
    out->point_offset = malloc(count * sizeof *out->point_offset);
    out->members = malloc(count * sizeof *out->members);
    if (!entries || !out->requests || !out->point_request || !out->point_offset || !out->members) {
        errbuf_set(why, why_len, "out of memory planning %zu tags", count);
        goto fail;
    }
    for (size_t i = 0; i < count; i++)
        if (!make_entry(&points[i], i, limits, &entries[i], why, why_len)) goto fail;
    qsort(entries, count, sizeof *entries, compare_entries);
    out->point_count = count;
    out->request_count = merge_requests(entries, count, limits, out);
    free(entries);
    struct mb_request *shrunk = realloc(out->requests, out->request_count * sizeof *shrunk);
    if (shrunk) out->requests = shrunk;
    return true;
fail:
    free(entries);
    mb_plan_free(out);
    return false;
}

void mb_plan_free(struct mb_plan *plan)
{
    if (!plan) return;
    free(plan->requests);
    free(plan->point_request);
    free(plan->point_offset);
    free(plan->members);
    memset(plan, 0, sizeof *plan);
}

size_t mb_plan_min_requests(const struct mb_point *points, size_t count,
                            const struct mb_plan_limits *limits)
{
    struct mb_plan plan;
    if (!mb_plan_build(points, count, limits, &plan, NULL, 0)) return (size_t)-1;
    size_t n = plan.request_count;
    mb_plan_free(&plan);
    return n;
}
