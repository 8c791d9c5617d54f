/* JSON of tags and values for the REST routes and the event stream. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/quality.h"

#define API_JSON_REAL_DIGITS 15 /* enough for any instrument; avoids 21.300000000000001 */

json_t *api_value_json(const struct lvt_entry *e)
{
    if (e->seq == 0) return json_null(); /* no sample yet */
    const struct value *v = &e->value;
    switch (v->type) {
    case VALUE_BOOL:
        return json_boolean(v->as.b);
    case VALUE_INT64:
        return json_integer((json_int_t)v->as.i64);
    case VALUE_UINT64:
        if (v->as.u64 <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v->as.u64);
        char text[24];
        snprintf(text, sizeof text, "%" PRIu64, v->as.u64);
        return json_string(text);
    case VALUE_DOUBLE:
        if (!isfinite(v->as.f64)) return json_null();
        return json_real(v->as.f64);
    case VALUE_STRING:
        return api_json_string(v->as.str.ptr, v->as.str.len);
    }
    return json_null();
}

json_t *api_time_json(int64_t ts_ns)
{
    if (ts_ns == 0) return json_null();
    char text[40];
    clock_format_rfc3339(ts_ns, text, sizeof text);
    return json_string(text);
}

/* A JSON string of a NUL-terminated C string; NULL counts as "". */
static json_t *text_json(const char *s)
{
    return s ? api_json_string(s, strlen(s)) : json_string("");
}

/* Floor division so that times before 1970 stay on the right millisecond. */
static json_int_t ns_to_ms(int64_t ts_ns)
{
    int64_t ms = ts_ns / 1000000;
    if (ts_ns % 1000000 < 0) ms--;
    return (json_int_t)ms;
}

json_t *api_tag_json(const struct tag *tag, const struct lvt_entry *e, bool full)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int failed = 0;
    failed |= json_object_set_new(o, "path", text_json(tag->path));
    if (full) {
        failed |= json_object_set_new(o, "type", json_string(value_type_name(tag->type)));
        failed |= json_object_set_new(o, "unit", text_json(tag->unit));
        failed |= json_object_set_new(o, "description", text_json(tag->description));
    }
    failed |= json_object_set_new(o, "value", api_value_json(e));
    failed |= json_object_set_new(o, "quality", json_string(quality_name(e->quality)));
    failed |= json_object_set_new(o, "quality_code", json_integer((json_int_t)e->quality));
    failed |= json_object_set_new(o, "timestamp", api_time_json(e->ts_ns));
    failed |= json_object_set_new(o, "timestamp_ms",
                                  e->ts_ns ? json_integer(ns_to_ms(e->ts_ns)) : json_null());
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(API_JSON_REAL_DIGITS))

char *api_json_dump(const json_t *j)
{
    return json_dumps(j, DUMP_FLAGS);
}

static int append_to_buf(const char *text, size_t len, void *data)
{
    struct api_buf *b = data;
    api_buf_append(b, text, len);
    return b->failed ? -1 : 0;
}

bool api_buf_append_json(struct api_buf *b, const json_t *j)
{
    if (!j) {
        b->failed = true;
        return false;
    }
    return json_dump_callback(j, append_to_buf, b, DUMP_FLAGS) == 0 && !b->failed;
}

bool api_buf_append_tag(struct api_buf *b, const struct tag *tag, const struct lvt_entry *e,
                        bool full)
{
    json_t *j = api_tag_json(tag, e, full);
    bool ok = api_buf_append_json(b, j);
    json_decref(j);
    return ok;
}

/* Appends the tags of ids [from, to) under prefix; returns the next id. */
static uint32_t append_slice(struct lvt *lvt, const char *prefix, uint32_t from,
                             struct api_buf *out, size_t *count)
{
    uint32_t to = from + API_LOCK_SLICE_TAGS;
    if (to > lvt->tags.count) to = lvt->tags.count;
    for (uint32_t i = from; i < to && !out->failed; i++) {
        const struct tag *t = &lvt->tags.tags[i];
        if (!api_prefix_matches(prefix, t->path)) continue;
        if (*count > 0) api_buf_puts(out, ",");
        api_buf_append_tag(out, t, &lvt->entries[i], true);
        (*count)++;
    }
    return to;
}

static bool append_tags_bulk(struct lvt *lvt, const char *prefix, struct api_buf *out,
                             size_t *count, uint64_t *cursor, uint64_t *generation)
{
    size_t start_len = out->len;
    for (int attempt = 0;; attempt++) {
        bool whole = attempt >= API_TAG_LIST_RETRIES; /* last resort: one long hold */
        out->len = start_len;
        if (out->data) out->data[start_len] = '\0';
        *count = 0;
        lvt_read_lock(lvt);
        uint64_t gen = lvt->generation;
        if (cursor) *cursor = lvt->seq; /* changes from here on are sent as updates */
        if (generation) *generation = gen;
        uint32_t next = 0;
        bool changed = false;
        while (next < lvt->tags.count && !out->failed) {
            next = append_slice(lvt, prefix, next, out, count);
            if (whole || next >= lvt->tags.count) continue;
            lvt_read_unlock(lvt); /* let the boundary consumer in */
            lvt_read_lock(lvt);
            if (lvt->generation != gen) {
                changed = true;
                break;
            }
        }
        lvt_read_unlock(lvt);
        if (!changed) return !out->failed;
    }
}

bool api_append_tags(struct api_server *s, const char *prefix, struct api_buf *out, size_t *count,
                     uint64_t *cursor, uint64_t *generation)
{
    pthread_mutex_lock(&s->bulk_lock);
    bool ok = append_tags_bulk(s->lvt, prefix, out, count, cursor, generation);
    pthread_mutex_unlock(&s->bulk_lock);
    return ok;
}
