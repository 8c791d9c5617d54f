/* GET /api/v1/alerts: the alerts of the OT monitor and the IT side
 * (monitor/alerts.h), newest first. Parameters (all optional): active (1:
 * active alerts only; 0: all, the default), since (alerts raised, repeated
 * or cleared at or after this time: RFC 3339, epoch ms or now-15m, as in
 * the history routes), kind (one of the alert kinds), subject (a device or
 * user name, exactly), limit (1..ALERTS_API_MAX_LIMIT, default
 * ALERTS_API_DEFAULT_LIMIT). The route needs the viewer role. docs/api.md
 * and docs/monitoring.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/history_format.h"
#include "core/clock.h"
#include "monitor/alerts.h"

#define ALERTS_API_DEFAULT_LIMIT 100
#define ALERTS_API_MAX_LIMIT 1000

struct alerts_params {
    struct alerts_filter filter;
    size_t limit;
};

/* An integer 1..max; false when not one. */
static bool parse_limit(const char *text, size_t max, size_t *out)
{
    if (!text || !*text || strlen(text) > 6) return false;
    size_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (size_t)(*p - '0');
    }
    if (v == 0 || v > max) return false;
    *out = v;
    return true;
}

/* Reads the query into *p; on a bad parameter queues 400 and returns false. */
static bool parse_params(struct MHD_Connection *c, struct alerts_params *p, enum MHD_Result *queued)
{
    bool bad = false;
    const char *active = api_query_arg(c, "active", &bad), *since = api_query_arg(c, "since", &bad);
    const char *kind = api_query_arg(c, "kind", &bad), *limit = api_query_arg(c, "limit", &bad);
    p->filter.subject = api_query_arg(c, "subject", &bad);
    p->limit = ALERTS_API_DEFAULT_LIMIT;
    const char *what = NULL;
    char why[200] = "";
    if (bad) {
        what = "a parameter";
        snprintf(why, sizeof why, "contains a NUL byte");
    } else if (active && strcmp(active, "1") != 0 && strcmp(active, "0") != 0 &&
               strcmp(active, "true") != 0 && strcmp(active, "false") != 0) {
        what = "active";
        snprintf(why, sizeof why, "expected 1 or 0");
    } else if (since &&
               !history_time_parse(since, clock_now_ns(), &p->filter.since_ns, why, sizeof why)) {
        what = "since";
    } else if (kind && !alert_kind_from_name(kind, &p->filter.kind)) {
        what = "kind";
        snprintf(why, sizeof why,
                 "expected one of latency_deviation, error_rate, response_pattern, "
                 "identity_changed, unknown_identity, write_refused, auth_failures");
    } else if (limit && !parse_limit(limit, ALERTS_API_MAX_LIMIT, &p->limit)) {
        what = "limit";
        snprintf(why, sizeof why, "expected an integer 1..%d", ALERTS_API_MAX_LIMIT);
    }
    if (what) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST, "invalid query parameter '%s': %s",
                                    what, why);
        return false;
    }
    p->filter.active_only = active && (strcmp(active, "1") == 0 || strcmp(active, "true") == 0);
    p->filter.by_kind = kind != NULL;
    return true;
}

static json_t *alert_json(const struct alert *a)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o,s:b,s:o,s:o,s:o,s:I}", "id", (json_int_t)a->id, "kind",
                     alert_kind_name(a->kind), "severity", alert_severity_name(a->severity),
                     "subject", api_json_string(a->subject, strlen(a->subject)), "message",
                     api_json_string(a->message, strlen(a->message)), "active", a->cleared_ns == 0,
                     "raised", api_time_json(a->raised_ns), "last", api_time_json(a->last_ns),
                     "cleared", api_time_json(a->cleared_ns), "count", (json_int_t)a->count);
}

/* Answers the request from alerts (NULL: the monitor is not running). */
enum MHD_Result api_alerts_respond(struct alerts *alerts, struct MHD_Connection *c)
{
    if (!alerts)
        return api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "alerts are unavailable: the OT monitor is not running");
    struct alerts_params p = {0};
    enum MHD_Result queued;
    if (!parse_params(c, &p, &queued)) return queued;
    struct alert *list = malloc(p.limit * sizeof *list);
    if (!list) return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    size_t total = alerts_list(alerts, &p.filter, list, p.limit);
    size_t shown = total < p.limit ? total : p.limit;
    size_t active = 0;
    alerts_counts(alerts, &active, NULL);
    json_t *items = json_array();
    for (size_t i = 0; items && i < shown; i++)
        if (json_array_append_new(items, alert_json(&list[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    free(list);
    json_t *body = items ? json_pack("{s:o,s:I,s:I,s:I,s:o}", "alerts", items, "count",
                                     (json_int_t)shown, "total", (json_int_t)total, "active",
                                     (json_int_t)active, "time", api_time_json(clock_now_ns()))
                         : NULL;
    if (!body) return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return api_respond_json(c, MHD_HTTP_OK, body);
}
