/* POST /api/v1/tags/{path}/write: the write gate's HTTP side. The body is
 * {"value": ..., "reason": "..."}; the route takes the tag's policy from the
 * gateway, asks the write gate (src/gate/write_gate.h), and only when it
 * allows has the gateway's driver write and read back. Every attempt,
 * allowed or refused, becomes one audit record with who, old value, new
 * value, reason and outcome. Writes are serialised (one at a time): they
 * are rare, and the step and interval rules need a stable "current". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/clock.h"
#include "core/log.h"
#include "monitor/alerts.h"

#define WRITE_TIMEOUT_MS 5000

void api_value_text(const struct value *v, char *out, size_t len)
{
    switch (v->type) {
    case VALUE_BOOL:
        snprintf(out, len, "%s", v->as.b ? "true" : "false");
        return;
    case VALUE_INT64:
        snprintf(out, len, "%lld", (long long)v->as.i64);
        return;
    case VALUE_UINT64:
        snprintf(out, len, "%llu", (unsigned long long)v->as.u64);
        return;
    case VALUE_DOUBLE:
        snprintf(out, len, "%.17g", v->as.f64);
        return;
    case VALUE_STRING:
        snprintf(out, len, "(string)");
        return;
    }
    snprintf(out, len, "?");
}

bool api_write_value_parse(const json_t *j, enum value_type type, struct value *out, char *why,
                           size_t why_len)
{
    switch (type) {
    case VALUE_BOOL:
        if (!json_is_boolean(j)) break;
        *out = value_bool(json_is_true(j));
        return true;
    case VALUE_INT64:
    case VALUE_UINT64: {
        if (json_is_integer(j)) {
            json_int_t i = json_integer_value(j);
            if (type == VALUE_UINT64 && i < 0) {
                snprintf(why, why_len, "the tag is unsigned: a negative value cannot be written");
                return false;
            }
            *out = type == VALUE_INT64 ? value_int64(i) : value_uint64((uint64_t)i);
            return true;
        }
        if (json_is_real(j)) {
            double d = json_real_value(j);
            if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e15 &&
                (type == VALUE_INT64 || d >= 0)) {
                *out = type == VALUE_INT64 ? value_int64((int64_t)d) : value_uint64((uint64_t)d);
                return true;
            }
            snprintf(why, why_len, "the tag holds integers: %.17g is not one", d);
            return false;
        }
        break;
    }
    case VALUE_DOUBLE:
        if (!json_is_number(j)) break;
        *out = value_double(json_number_value(j));
        return true;
    case VALUE_STRING:
        snprintf(why, why_len, "string tags cannot be written through the write gate");
        return false;
    }
    snprintf(why, why_len, "\"value\" must be %s for this %s tag",
             type == VALUE_BOOL ? "true or false" : "a number", value_type_name(type));
    return false;
}

/* The HTTP status of a refusal. */
static unsigned refusal_status(enum write_verdict v)
{
    switch (v) {
    case WRITE_REFUSED_GLOBALLY_OFF:
    case WRITE_REFUSED_TAG_OFF:
    case WRITE_REFUSED_ROLE:
        return MHD_HTTP_FORBIDDEN;
    case WRITE_REFUSED_NO_REASON:
    case WRITE_REFUSED_TYPE:
    case WRITE_REFUSED_NOT_FINITE:
        return MHD_HTTP_BAD_REQUEST;
    case WRITE_REFUSED_TOO_SOON:
        return MHD_HTTP_TOO_MANY_REQUESTS;
    default:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    }
}

/* The last allowed write of path (0: none). Call with write_lock. */
static int64_t *last_write_slot(struct api_server *s, const char *path)
{
    for (size_t i = 0; i < s->last_write_count; i++)
        if (strcmp(s->last_writes[i].path, path) == 0) return &s->last_writes[i].at_ns;
    if (s->last_write_count == s->last_write_cap) {
        size_t cap = s->last_write_cap ? s->last_write_cap * 2 : 16;
        struct api_last_write *grown = realloc(s->last_writes, cap * sizeof *grown);
        if (!grown) return NULL;
        s->last_writes = grown;
        s->last_write_cap = cap;
    }
    struct api_last_write *w = &s->last_writes[s->last_write_count++];
    snprintf(w->path, sizeof w->path, "%s", path);
    w->at_ns = 0;
    return &w->at_ns;
}

/* {"error": {...}, "verdict": v, "path": p} */
static enum MHD_Result respond_refused(struct MHD_Connection *c, unsigned status,
                                       const char *verdict, const char *path, const char *message)
{
    json_t *body = json_pack("{s:{s:i,s:o},s:s,s:o}", "error", "code", (int)status, "message",
                             api_json_string(message, strlen(message)), "verdict", verdict, "path",
                             path ? api_json_string(path, strlen(path)) : json_null());
    return api_respond_json(c, status, body);
}

/* The request's parts: value (JSON) and reason. */
struct write_body {
    json_t *doc;
    const json_t *value;
    const char *reason;
};

static bool parse_body(const struct api_request *req, struct write_body *b, const char **why)
{
    json_error_t jerr;
    b->doc = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!b->doc || !json_is_object(b->doc)) {
        *why = "the body must be a JSON object {\"value\": ..., \"reason\": \"...\"}";
        return false;
    }
    b->value = json_object_get(b->doc, "value");
    const json_t *reason = json_object_get(b->doc, "reason");
    if (!b->value) {
        *why = "\"value\" is required";
        return false;
    }
    if (reason && !json_is_string(reason)) {
        *why = "\"reason\" must be a string";
        return false;
    }
    b->reason = reason ? json_string_value(reason) : "";
    return true;
}

/* What the tag holds now (for the step rule and the audit's old value). */
static void current_of(struct api_server *s, const char *path, struct write_request *w,
                       char *old_text, size_t old_len)
{
    snprintf(old_text, old_len, "(none)");
    lvt_read_lock(s->lvt);
    const struct tag *t = tag_table_find(&s->lvt->tags, path);
    if (t) {
        const struct lvt_entry *e = &s->lvt->entries[t->id];
        if (e->seq != 0 && e->value.type != VALUE_STRING) {
            w->has_current = true;
            w->current = e->value;
            w->current_quality = e->quality;
            api_value_text(&e->value, old_text, old_len);
        }
    }
    lvt_read_unlock(s->lvt);
}

enum MHD_Result api_route_tag_write(struct api_server *s, struct MHD_Connection *c,
                                    struct api_request *req, const char *path)
{
    char actor[AUTH_NAME_MAX + 32], why[256], details[512];
    api_actor_text(req, actor, sizeof actor);
    char safe_path[TAG_PATH_MAX];
    bool path_ok = tag_path_valid(path, why, sizeof why);
    snprintf(safe_path, sizeof safe_path, "%s", path_ok ? path : "(invalid path)");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        api_audit(s, actor, "write", safe_path, NULL, NULL, NULL, "refused_malformed",
                  "not Content-Type: application/json");
        return api_respond_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "send the write as Content-Type: application/json");
    }
    struct write_body body = {0};
    const char *bad = NULL;
    if (!parse_body(req, &body, &bad)) {
        json_decref(body.doc);
        api_audit(s, actor, "write", safe_path, NULL, NULL, NULL, "refused_malformed", bad);
        return api_respond_error(c, MHD_HTTP_BAD_REQUEST, "%s", bad);
    }
    /* Fail closed: a write nobody could prove afterwards does not happen. */
    if (!s->audit) {
        json_decref(body.doc);
        log_error("gate", "write refused: the audit trail is unavailable", "tag=%s", safe_path);
        return respond_refused(c, MHD_HTTP_SERVICE_UNAVAILABLE, "refused_no_audit_trail", NULL,
                               "writes are refused while the audit trail is unavailable (see "
                               "the gateway's log)");
    }
    struct api_write_target target = {0};
    if (!path_ok || !s->write_port.lookup ||
        !s->write_port.lookup(s->write_port.arg, path, &target)) {
        const char *message = s->write_port.lookup ? "no such tag"
                                                   : "this gateway cannot write to devices "
                                                     "(one-way mode)";
        api_audit(s, actor, "write", safe_path, NULL, NULL, body.reason, "refused_unknown_tag",
                  message);
        json_decref(body.doc);
        return respond_refused(c, MHD_HTTP_NOT_FOUND, "refused_unknown_tag", NULL, message);
    }

    struct write_request w = {.user_role = (enum write_role)(req->who.role - 1),
                              .reason = body.reason,
                              .tag_type = target.type};
    char old_text[64], new_text[64];
    current_of(s, path, &w, old_text, sizeof old_text);
    char type_why[160] = "";
    bool typed =
        api_write_value_parse(body.value, target.type, &w.requested, type_why, sizeof type_why);
    if (typed) {
        api_value_text(&w.requested, new_text, sizeof new_text);
    } else {
        /* A value of no writable type: the gate refuses it at its type
         * step, after the switch, policy, role and reason checks. */
        w.requested = (struct value){.type = VALUE_STRING};
        snprintf(new_text, sizeof new_text, "(not a %s)", value_type_name(target.type));
    }

    pthread_mutex_lock(&s->write_lock);
    int64_t *last = last_write_slot(s, path);
    w.now_ns = clock_now_ns();
    w.last_write_ns = last ? *last : 0;
    enum write_verdict verdict =
        write_gate_check(target.has_policy ? &target.policy : NULL, target.globally_enabled, &w,
                         target.unit, why, sizeof why);
    if (verdict == WRITE_REFUSED_TYPE && !typed) snprintf(why, sizeof why, "%s", type_why);
    if (verdict != WRITE_ALLOWED) {
        pthread_mutex_unlock(&s->write_lock);
        const char *name = write_verdict_name(verdict);
        log_warn("gate", "write refused", "user=%s tag=%s verdict=%s reason=\"%s\"", actor,
                 safe_path, name, why);
        alerts_raise(s->alerts, ALERT_WRITE_REFUSED, ALERT_WARNING, req->who.user,
                     "write to %s refused (%s): %s", path, name, why);
        api_audit(s, actor, "write", path, old_text, new_text, body.reason, name, why);
        json_decref(body.doc);
        return respond_refused(c, refusal_status(verdict), name, path, why);
    }
    /* Fail closed: the allowed attempt is in the trail before anything
     * reaches the device; the outcome record follows the write. */
    if (!api_audit(s, actor, "write", path, old_text, new_text, body.reason, "allowed",
                   "allowed by the gate; the outcome record follows")) {
        pthread_mutex_unlock(&s->write_lock);
        json_decref(body.doc);
        return respond_refused(c, MHD_HTTP_SERVICE_UNAVAILABLE, "refused_no_audit_trail", path,
                               "the write could not be recorded in the audit trail: nothing "
                               "was written");
    }
    if (last) *last = w.now_ns;
    struct api_write_result result = {0};
    bool done = s->write_port.write(s->write_port.arg, path, target.generation, &w.requested,
                                    WRITE_TIMEOUT_MS, &result);
    pthread_mutex_unlock(&s->write_lock);

    char read_text[64] = "";
    if (result.read_back) api_value_text(&result.value_read, read_text, sizeof read_text);
    const char *outcome;
    if (!done || !result.written)
        outcome = "failed";
    else if (!result.read_back)
        outcome = "written_not_read_back";
    else if (value_as_double(&result.value_read) != value_as_double(&w.requested) &&
             !value_equal(&result.value_read, &w.requested))
        outcome = "written_read_back_differs";
    else
        outcome = "ok";
    snprintf(details, sizeof details, "device=%s read_back=%s%s%s", target.device,
             result.read_back ? read_text : "(none)", result.error[0] ? " error=" : "",
             result.error);
    log_info("gate", "write", "user=%s tag=%s old=%s new=%s outcome=%s", actor, path, old_text,
             new_text, outcome);
    bool recorded =
        api_audit(s, actor, "write", path, old_text, new_text, body.reason, outcome, details);
    json_decref(body.doc);
    if (!done || !result.written)
        return respond_refused(c, MHD_HTTP_BAD_GATEWAY, "failed", path,
                               result.error[0] ? result.error
                                               : "the device did not take the value");
    struct lvt_entry e = {.value = result.value_read, .quality = result.quality_read, .seq = 1};
    json_t *out = json_pack(
        "{s:b,s:o,s:s,s:o,s:o,s:o,s:s,s:o}", "audited", recorded, "path",
        api_json_string(path, strlen(path)), "outcome", outcome, "old_value",
        w.has_current ? json_string(old_text) : json_null(), "requested", json_string(new_text),
        "read_back", result.read_back ? api_value_json(&e) : json_null(), "read_back_quality",
        result.read_back ? quality_name(result.quality_read) : "none", "error",
        result.error[0] ? api_json_string(result.error, strlen(result.error)) : json_null());
    return api_respond_json(c, MHD_HTTP_OK, out);
}
