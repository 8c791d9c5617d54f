/* History over HTTP: GET /api/v1/history (raw samples or aggregate buckets,
 * JSON or CSV), GET /api/v1/history/at (the value at a time), and the
 * historian's part of /api/v1/health and /metrics. Parameters are checked
 * here; texts come from history_format.c; the data from the historian. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/history_format.h"
#include "core/clock.h"

#define HISTORY_CSV_TYPE "text/csv; charset=utf-8"

/* A query parameter (NULL when absent); *bad when it holds a NUL byte. */
/* What both history routes need: the series of ?tag= and its facts. */
struct history_target {
    char path[TAG_PATH_MAX];
    uint32_t series;
    enum value_type type;
    char unit[128];
};

/* Looks up ?tag=; on failure queues the answer (400/404) into *queued. */
static bool find_target(struct api_server *s, struct MHD_Connection *c, struct history_target *t,
                        enum MHD_Result *queued)
{
    bool bad = false;
    const char *tag = api_query_arg(c, "tag", &bad);
    char why[160];
    if (!s->historian) {
        *queued = api_respond_error(c, MHD_HTTP_NOT_FOUND,
                                    "history is disabled in this gateway's configuration");
        return false;
    }
    if (!tag || bad || !*tag) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "missing query parameter 'tag': expected a tag path like "
                                    "enterprise/site/area/line/cell/name");
        return false;
    }
    if (!tag_path_valid(tag, why, sizeof why)) {
        *queued =
            api_respond_error(c, MHD_HTTP_NOT_FOUND, "no such tag: not a valid tag path (%s)", why);
        return false;
    }
    int64_t id = hist_find_series(s->historian, tag);
    struct hist_series_info info;
    if (id < 0 || !hist_series_info(s->historian, (uint32_t)id, &info)) {
        /* the path passed tag_path_valid: only safe characters are echoed */
        *queued = api_respond_error(c, MHD_HTTP_NOT_FOUND, "no history for tag %s", tag);
        return false;
    }
    snprintf(t->path, sizeof t->path, "%s", tag);
    t->series = (uint32_t)id;
    t->type = info.type;
    t->unit[0] = '\0';
    lvt_read_lock(s->lvt);
    const struct tag *live = tag_table_find(&s->lvt->tags, tag);
    if (live && live->unit) snprintf(t->unit, sizeof t->unit, "%s", live->unit);
    lvt_read_unlock(s->lvt);
    return true;
}

/* Reads time parameter name into *ns (unchanged when absent). */
static bool time_arg(struct MHD_Connection *c, const char *name, int64_t now_ns, int64_t *ns,
                     enum MHD_Result *queued)
{
    bool bad = false;
    const char *text = api_query_arg(c, name, &bad);
    char why[200];
    if (!text && !bad) return true;
    if (!bad && history_time_parse(text, now_ns, ns, why, sizeof why)) return true;
    *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST, "invalid query parameter '%s': %s", name,
                                bad ? "contains a NUL byte" : why);
    return false;
}

struct history_request {
    int64_t from, to, every;
    bool aggregate;
    enum hist_agg_kind kind;
    uint32_t limit;
    bool csv;
};

static bool wants_csv(struct MHD_Connection *c, const char *format)
{
    if (format) return strcmp(format, "csv") == 0;
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return accept && strstr(accept, "text/csv") != NULL;
}

static bool parse_shape(struct MHD_Connection *c, struct history_request *r,
                        enum MHD_Result *queued)
{
    bool bad = false;
    const char *agg = api_query_arg(c, "agg", &bad), *every = api_query_arg(c, "every", &bad);
    const char *limit = api_query_arg(c, "limit", &bad), *format = api_query_arg(c, "format", &bad);
    if (bad) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST, "a query parameter has a NUL byte");
        return false;
    }
    r->limit = HISTORY_DEFAULT_LIMIT;
    if (limit && !history_limit_parse(limit, &r->limit)) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "invalid query parameter 'limit': expected an integer 1..%u",
                                    HISTORY_MAX_LIMIT);
        return false;
    }
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "invalid query parameter 'format': expected csv or json");
        return false;
    }
    r->csv = wants_csv(c, format);
    r->aggregate = agg != NULL;
    if (agg && !hist_agg_from_name(agg, &r->kind)) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "invalid query parameter 'agg': expected one of count, min, "
                                    "max, avg, sum, stddev, first, last, twa, integral");
        return false;
    }
    if (every && !agg) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "query parameter 'every' needs 'agg' (the aggregate to "
                                    "compute per bucket)");
        return false;
    }
    r->every = 0;
    if (every && !history_every_parse(every, &r->every)) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "invalid query parameter 'every': expected a positive "
                                    "duration like 1h, 15m, 10s or 500ms");
        return false;
    }
    return true;
}

static bool parse_request(struct MHD_Connection *c, struct history_request *r,
                          enum MHD_Result *queued)
{
    int64_t now = clock_now_ns();
    r->to = now;
    if (!time_arg(c, "to", now, &r->to, queued)) return false;
    r->from = r->to - HISTORY_DEFAULT_RANGE_NS;
    if (!time_arg(c, "from", now, &r->from, queued)) return false;
    if (r->to <= r->from) {
        *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                    "invalid time range: 'to' must be after 'from'");
        return false;
    }
    if (!parse_shape(c, r, queued)) return false;
    if (r->aggregate && r->every == 0) r->every = r->to - r->from; /* one bucket */
    if (r->aggregate) {
        uint64_t buckets = history_bucket_count(r->from, r->to, r->every);
        if (buckets > r->limit || buckets > HIST_AGG_MAX_BUCKETS) {
            *queued = api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                        "too many buckets: %" PRIu64
                                        " for this range and 'every' (at most %u; use a longer "
                                        "'every', a shorter range or a higher 'limit')",
                                        buckets, r->limit);
            return false;
        }
    }
    return true;
}

/* Queues the text written to mem (closed here) with content_type. */
static enum MHD_Result respond_stream(struct MHD_Connection *c, FILE *mem, char **text, size_t *len,
                                      const char *content_type)
{
    bool failed = ferror(mem) != 0;
    if (fclose(mem) != 0) failed = true;
    if (failed || !*text) {
        free(*text);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    struct api_buf b = {.data = *text, .len = *len, .cap = *len + 1};
    return api_respond_buf(c, MHD_HTTP_OK, content_type, &b);
}

static enum MHD_Result answer_raw(struct api_server *s, struct MHD_Connection *c,
                                  const struct history_target *t, const struct history_request *r)
{
    struct hist_columns cols;
    hist_columns_init(&cols, t->type);
    bool truncated = false;
    char why[256];
    if (!hist_read_raw(s->historian, t->series, r->from, r->to, r->limit, &cols, &truncated, why,
                       sizeof why)) {
        hist_columns_free(&cols);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "history read failed: %s", why);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        hist_columns_free(&cols);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    struct history_meta m = {t->path, t->type, t->unit, r->from, r->to};
    if (r->csv)
        history_write_raw_csv(mem, NULL, &cols, true);
    else
        history_write_raw_json(mem, &m, &cols, truncated);
    hist_columns_free(&cols);
    return respond_stream(c, mem, &text, &len, r->csv ? HISTORY_CSV_TYPE : "application/json");
}

static enum MHD_Result answer_aggregate(struct api_server *s, struct MHD_Connection *c,
                                        const struct history_target *t,
                                        const struct history_request *r)
{
    struct hist_bucket *buckets = NULL;
    size_t n = 0;
    char why[256];
    if (!hist_aggregate(s->historian, t->series, r->from, r->to, r->every, r->kind, &buckets, &n,
                        why, sizeof why))
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "history aggregate failed: %s",
                                 why);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        free(buckets);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    struct history_meta m = {t->path, t->type, t->unit, r->from, r->to};
    if (r->csv)
        history_write_buckets_csv(mem, NULL, buckets, n, true);
    else
        history_write_buckets_json(mem, &m, r->kind, r->every, buckets, n);
    free(buckets);
    return respond_stream(c, mem, &text, &len, r->csv ? HISTORY_CSV_TYPE : "application/json");
}

enum MHD_Result api_route_history(struct api_server *s, struct MHD_Connection *c)
{
    struct history_target t;
    struct history_request r;
    enum MHD_Result queued;
    if (!find_target(s, c, &t, &queued) || !parse_request(c, &r, &queued)) return queued;
    return r.aggregate ? answer_aggregate(s, c, &t, &r) : answer_raw(s, c, &t, &r);
}

enum MHD_Result api_route_history_at(struct api_server *s, struct MHD_Connection *c)
{
    struct history_target t;
    enum MHD_Result queued;
    if (!find_target(s, c, &t, &queued)) return queued;
    int64_t now = clock_now_ns(), at = now;
    if (!time_arg(c, "t", now, &at, &queued)) return queued;
    bool bad = false;
    const char *interp = api_query_arg(c, "interp", &bad);
    enum hist_interp mode = HIST_INTERP_PREVIOUS;
    if (interp && !bad && strcmp(interp, "linear") == 0)
        mode = HIST_INTERP_LINEAR;
    else if (bad || (interp && strcmp(interp, "previous") != 0))
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST,
                                 "invalid query parameter 'interp': expected previous or linear");
    struct hist_columns strings;
    hist_columns_init(&strings, t.type);
    struct value v;
    quality_t q;
    int64_t ts;
    char why[256];
    if (!hist_value_at_time(s->historian, t.series, at, mode, &v, &q, &ts, &strings, why,
                            sizeof why)) {
        hist_columns_free(&strings);
        return api_respond_error(c, MHD_HTTP_NOT_FOUND, "no value of %s at that time: %s", t.path,
                                 why);
    }
    char *text = NULL, stamp[40];
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        hist_columns_free(&strings);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    fputs("{\"tag\":", mem);
    history_write_json_string(mem, t.path, strlen(t.path));
    fprintf(mem, ",\"t\":\"%s\"", clock_format_rfc3339(at, stamp, sizeof stamp));
    fprintf(mem,
            ",\"interp\":\"%s\",\"value\":", mode == HIST_INTERP_LINEAR ? "linear" : "previous");
    history_write_value_json(mem, &v);
    fprintf(mem, ",\"quality\":\"%s\"", history_quality_name(q));
    fprintf(mem, ",\"timestamp\":\"%s\"}", clock_format_rfc3339(ts, stamp, sizeof stamp));
    hist_columns_free(&strings);
    return respond_stream(c, mem, &text, &len, "application/json");
}

json_t *api_history_health_json(struct api_server *s, bool *degraded)
{
    *degraded = false;
    if (!s->historian) return json_pack("{s:s}", "status", "disabled");
    struct hist_stats st;
    hist_get_stats(s->historian, &st);
    *degraded = st.degraded;
    size_t err_len = strnlen(st.last_error, sizeof st.last_error);
    return json_pack(
        "{s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "status", st.degraded ? "degraded" : "ok",
        "last_error", err_len ? api_json_string(st.last_error, err_len) : json_null(),
        "last_error_time", api_time_json(st.last_error_ns), "samples_accepted",
        (json_int_t)st.samples_accepted, "rejected_late", (json_int_t)st.samples_rejected_late,
        "rejected_other", (json_int_t)st.samples_rejected_other, "bytes_on_disk",
        (json_int_t)st.bytes_on_disk, "points_on_disk", (json_int_t)st.points_on_disk, "series",
        (json_int_t)st.series);
}

static void history_metric(struct api_buf *b, const char *name, const char *type, const char *help,
                           uint64_t v)
{
    api_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                   (unsigned long long)v);
}

void api_history_metrics_render(struct api_server *s, struct api_buf *b)
{
    history_metric(b, "airlock_history_enabled", "gauge",
                   "1 when the embedded historian records samples, else 0.", s->historian != NULL);
    if (!s->historian) return;
    struct hist_stats st;
    hist_get_stats(s->historian, &st);
    history_metric(b, "airlock_history_samples_accepted_total", "counter",
                   "Samples stored by the historian.", st.samples_accepted);
    api_buf_puts(b, "# HELP airlock_history_samples_rejected_total Samples the historian refused "
                    "(late: older than the late window; other: unknown series or wrong type).\n"
                    "# TYPE airlock_history_samples_rejected_total counter\n");
    api_buf_printf(b, "airlock_history_samples_rejected_total{reason=\"late\"} %llu\n",
                   (unsigned long long)st.samples_rejected_late);
    api_buf_printf(b, "airlock_history_samples_rejected_total{reason=\"other\"} %llu\n",
                   (unsigned long long)st.samples_rejected_other);
    history_metric(b, "airlock_history_bytes_on_disk", "gauge",
                   "Bytes of the store on disk (segments, log, manifest, catalogue).",
                   st.bytes_on_disk);
    history_metric(b, "airlock_history_points_on_disk", "gauge", "Samples held in segments.",
                   st.points_on_disk);
    history_metric(b, "airlock_history_head_samples", "gauge",
                   "Samples in memory not yet written to segments.", st.head_samples);
    history_metric(b, "airlock_history_series", "gauge", "Series known to the historian.",
                   st.series);
    history_metric(b, "airlock_history_degraded", "gauge",
                   "1 when the last write or fsync of the history failed, else 0.", st.degraded);
    history_metric(b, "airlock_history_fsyncs_total", "counter", "fsync calls on the log.",
                   st.fsyncs);
    history_metric(b, "airlock_history_checkpoints_total", "counter",
                   "Checkpoints (heads written to segments).", st.checkpoints);
    history_metric(b, "airlock_history_compactions_total", "counter", "Partition compactions.",
                   st.compactions);
    history_metric(b, "airlock_history_partitions_deleted_total", "counter",
                   "Partitions deleted by retention.", st.partitions_deleted);
    history_metric(b, "airlock_history_corrupt_chunks_total", "counter",
                   "Chunks that failed their checksum (skipped by reads).", st.corrupt_chunks);
}
