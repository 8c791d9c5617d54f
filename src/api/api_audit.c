/* GET /api/v1/audit: the audit trail, filtered, as JSON or CSV. Read-only:
 * there is no route that changes or deletes a record. Parameters (all
 * optional): from, to (RFC 3339 or relative, as in the history routes),
 * actor, action (exact), object (prefix), limit (1..AUDIT_API_MAX_LIMIT,
 * default AUDIT_API_DEFAULT_LIMIT), offset, order (newest | oldest,
 * default newest), format (json | csv). docs/api.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/history_format.h"
#include "audit/audit.h"
#include "core/clock.h"

#define AUDIT_API_DEFAULT_LIMIT 100
#define AUDIT_API_MAX_LIMIT 10000

/* A non-negative integer up to max; false when not one. */
static bool parse_count(const char *text, int64_t max, int64_t *out)
{
    if (!text || !*text || strlen(text) > 12) return false;
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

struct audit_params {
    struct audit_filter filter;
    bool csv;
};

/* Reads the query into *p; on a bad parameter queues 400 and returns false. */
static bool parse_params(struct MHD_Connection *c, struct audit_params *p, enum MHD_Result *queued)
{
    bool bad = false;
    const char *from = api_query_arg(c, "from", &bad), *to = api_query_arg(c, "to", &bad);
    const char *limit = api_query_arg(c, "limit", &bad), *offset = api_query_arg(c, "offset", &bad);
    const char *order = api_query_arg(c, "order", &bad), *format = api_query_arg(c, "format", &bad);
    p->filter.actor = api_query_arg(c, "actor", &bad);
    p->filter.action = api_query_arg(c, "action", &bad);
    p->filter.object_prefix = api_query_arg(c, "object", &bad);
    const char *what = NULL;
    char why[200] = "";
    int64_t now = clock_now_ns();
    p->filter.limit = AUDIT_API_DEFAULT_LIMIT;
    p->filter.newest_first = true;
    if (bad) {
        what = "a parameter";
        snprintf(why, sizeof why, "contains a NUL byte");
    } else if (from && !history_time_parse(from, now, &p->filter.from_ns, why, sizeof why)) {
        what = "from";
    } else if (to && !history_time_parse(to, now, &p->filter.to_ns, why, sizeof why)) {
        what = "to";
    } else if (limit && (!parse_count(limit, AUDIT_API_MAX_LIMIT, &p->filter.limit) ||
                         p->filter.limit == 0)) {
        what = "limit";
        snprintf(why, sizeof why, "expected an integer 1..%d", AUDIT_API_MAX_LIMIT);
    } else if (offset && !parse_count(offset, INT64_C(1000000000000), &p->filter.offset)) {
        what = "offset";
        snprintf(why, sizeof why, "expected a non-negative integer");
    } else if (order && strcmp(order, "newest") != 0 && strcmp(order, "oldest") != 0) {
        what = "order";
        snprintf(why, sizeof why, "expected newest or oldest");
    } else if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0) {
        what = "format";
        snprintf(why, sizeof why, "expected json or csv");
    }
    if (what) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST, "invalid query parameter '%s': %s",
                                    what, why);
        return false;
    }
    if (order) p->filter.newest_first = strcmp(order, "newest") == 0;
    p->csv = format && strcmp(format, "csv") == 0;
    return true;
}

/* A JSON string of an audit text (NULL and "" become null). */
static json_t *text_or_null(const char *t)
{
    return t && *t ? api_json_string(t, strlen(t)) : json_null();
}

static json_t *record_json(const struct audit_record *r)
{
    char hash[AUDIT_HASH_HEX_BYTES];
    audit_hash_hex(r->hash, hash);
    return json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "id", (json_int_t)r->id,
                     "time", r->time_text, "actor", text_or_null(r->actor), "action",
                     text_or_null(r->action), "object", text_or_null(r->object), "old_value",
                     text_or_null(r->old_value), "new_value", text_or_null(r->new_value), "reason",
                     text_or_null(r->reason), "outcome", text_or_null(r->outcome), "details",
                     text_or_null(r->details), "time_ns", json_integer(r->time_ns), "hash", hash);
}

enum MHD_Result api_route_audit(struct api_server *s, struct MHD_Connection *c)
{
    if (!s->audit)
        return api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "the audit trail is unavailable (see the gateway's log)");
    struct audit_params p = {0};
    enum MHD_Result queued;
    if (!parse_params(c, &p, &queued)) return queued;
    struct audit_list list = {0};
    char err[256];
    if (!audit_query(s->audit, &p.filter, &list, err, sizeof err))
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "cannot read the audit trail: %s", err);
    if (p.csv) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem) {
            audit_list_free(&list);
            return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        }
        audit_csv_header(mem);
        for (size_t i = 0; i < list.count; i++)
            audit_csv_record(mem, &list.records[i]);
        fclose(mem);
        audit_list_free(&list);
        struct api_buf b = {.data = text, .len = len, .cap = len + 1, .failed = text == NULL};
        return api_respond_buf(c, MHD_HTTP_OK, "text/csv; charset=utf-8", &b);
    }
    json_t *records = json_array();
    for (size_t i = 0; records && i < list.count; i++)
        json_array_append_new(records, record_json(&list.records[i]));
    size_t count = list.count;
    audit_list_free(&list);
    return api_respond_json(c, MHD_HTTP_OK,
                            json_pack("{s:o,s:I,s:I,s:I}", "records", records, "count",
                                      (json_int_t)count, "limit", (json_int_t)p.filter.limit,
                                      "offset", (json_int_t)p.filter.offset));
}
