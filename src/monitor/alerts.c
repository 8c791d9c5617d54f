/* The alerts store (see alerts.h): an array of alerts in id order under one
 * mutex; audit records are appended after the mutex is released. */
#include "monitor/alerts.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "core/log.h"

struct alerts {
    pthread_mutex_t lock;
    struct alert *items; /* ids ascending */
    size_t count, capacity;
    int64_t next_id;
    int64_t event_quiet_ns;
    struct audit *audit;
};

static const char *const kind_names[ALERT_KIND_COUNT] = {
    [ALERT_LATENCY_DEVIATION] = "latency_deviation", [ALERT_ERROR_RATE] = "error_rate",
    [ALERT_RESPONSE_PATTERN] = "response_pattern",   [ALERT_IDENTITY_CHANGED] = "identity_changed",
    [ALERT_UNKNOWN_IDENTITY] = "unknown_identity",   [ALERT_WRITE_REFUSED] = "write_refused",
    [ALERT_AUTH_FAILURES] = "auth_failures",
};

const char *alert_severity_name(enum alert_severity s)
{
    switch (s) {
    case ALERT_INFO:
        return "info";
    case ALERT_WARNING:
        return "warning";
    case ALERT_CRITICAL:
        return "critical";
    }
    return "unknown";
}

const char *alert_kind_name(enum alert_kind k)
{
    return (unsigned)k < ALERT_KIND_COUNT ? kind_names[k] : "unknown";
}

bool alert_kind_from_name(const char *name, enum alert_kind *out)
{
    for (int k = 0; k < ALERT_KIND_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (enum alert_kind)k;
            return true;
        }
    return false;
}

bool alert_kind_is_event(enum alert_kind k)
{
    return k == ALERT_UNKNOWN_IDENTITY || k == ALERT_WRITE_REFUSED || k == ALERT_AUTH_FAILURES;
}

struct alerts *alerts_new(size_t capacity)
{
    struct alerts *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->capacity = capacity ? capacity : ALERTS_DEFAULT_CAPACITY;
    a->items = calloc(a->capacity, sizeof *a->items);
    if (!a->items) {
        free(a);
        return NULL;
    }
    a->next_id = 1;
    a->event_quiet_ns = ALERTS_DEFAULT_QUIET_NS;
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

void alerts_free(struct alerts *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->lock);
    free(a->items);
    free(a);
}

void alerts_set_audit(struct alerts *a, struct audit *audit)
{
    pthread_mutex_lock(&a->lock);
    a->audit = audit;
    pthread_mutex_unlock(&a->lock);
}

void alerts_set_event_quiet(struct alerts *a, int64_t quiet_ns)
{
    pthread_mutex_lock(&a->lock);
    a->event_quiet_ns = quiet_ns > 0 ? quiet_ns : ALERTS_DEFAULT_QUIET_NS;
    pthread_mutex_unlock(&a->lock);
}

/* What goes to the audit trail for one raise or clear, copied under the
 * lock and appended after it. */
struct audit_note {
    struct audit *audit;
    char object[32 + ALERT_SUBJECT_BYTES];
    char message[ALERT_MESSAGE_BYTES];
    const char *severity;
    const char *outcome;
    const char *old_value, *new_value, *reason;
    int64_t time_ns;
};

static void note_fill(struct audit_note *n, struct audit *audit, const struct alert *al,
                      const char *outcome, int64_t time_ns)
{
    n->audit = audit;
    snprintf(n->object, sizeof n->object, "%s/%s", alert_kind_name(al->kind), al->subject);
    snprintf(n->message, sizeof n->message, "%s", al->message);
    n->severity = alert_severity_name(al->severity);
    n->outcome = outcome;
    n->time_ns = time_ns;
}

static void note_append(const struct audit_note *n)
{
    if (!n->audit) return;
    char details[ALERT_MESSAGE_BYTES + 16];
    snprintf(details, sizeof details, "%s: %s", n->severity, n->message);
    struct audit_record rec = {
        .time_ns = n->time_ns,
        .actor = "system",
        .action = "alert",
        .object = n->object,
        .old_value = n->old_value,
        .new_value = n->new_value,
        .reason = n->reason,
        .outcome = n->outcome,
        .details = details,
    };
    char err[256];
    if (audit_append(n->audit, &rec, err, sizeof err) < 0)
        log_warn("monitor", "alert not recorded in the audit trail", "object=\"%s\" error=\"%s\"",
                 n->object, err);
}

/* text with double quotes and line breaks replaced, for a key="value". */
static void log_quotable(char *out, size_t len, const char *text)
{
    snprintf(out, len, "%s", text);
    for (char *p = out; *p; p++)
        if (*p == '"' || *p == '\n' || *p == '\r') *p = '\'';
}

/* The index of the active alert of kind and subject, or -1. Lock held. */
static long find_active(const struct alerts *a, enum alert_kind kind, const char *subject)
{
    for (size_t i = a->count; i-- > 0;) {
        const struct alert *al = &a->items[i];
        if (al->cleared_ns == 0 && al->kind == kind && strcmp(al->subject, subject) == 0)
            return (long)i;
    }
    return -1;
}

/* Makes room for one more alert: drops the oldest cleared one, else the
 * oldest. Lock held, store full. */
static void evict_one(struct alerts *a)
{
    size_t victim = 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i].cleared_ns != 0) {
            victim = i;
            break;
        }
    memmove(&a->items[victim], &a->items[victim + 1], (a->count - victim - 1) * sizeof *a->items);
    a->count--;
}

int64_t alerts_raise_event(struct alerts *a, const struct alert_event *ev)
{
    if (!a || !ev || (unsigned)ev->kind >= ALERT_KIND_COUNT) return 0;
    int64_t now = ev->time_ns ? ev->time_ns : clock_now_ns();
    char subject[ALERT_SUBJECT_BYTES];
    snprintf(subject, sizeof subject, "%s", ev->subject ? ev->subject : "");
    struct audit_note note = {0};
    int64_t id;
    pthread_mutex_lock(&a->lock);
    long i = find_active(a, ev->kind, subject);
    if (i >= 0) {
        struct alert *al = &a->items[i];
        al->count++;
        if (now > al->last_ns) al->last_ns = now;
        if (ev->severity > al->severity) al->severity = ev->severity;
        snprintf(al->message, sizeof al->message, "%s", ev->message ? ev->message : "");
        id = al->id;
    } else {
        if (a->count == a->capacity) evict_one(a);
        struct alert *al = &a->items[a->count++];
        memset(al, 0, sizeof *al);
        al->id = id = a->next_id++;
        al->kind = ev->kind;
        al->severity = ev->severity;
        memcpy(al->subject, subject, sizeof subject);
        snprintf(al->message, sizeof al->message, "%s", ev->message ? ev->message : "");
        al->raised_ns = al->last_ns = now;
        al->count = 1;
        note_fill(&note, a->audit, al, "raised", now);
        note.old_value = ev->old_value;
        note.new_value = ev->new_value;
    }
    pthread_mutex_unlock(&a->lock);
    if (i < 0) {
        char shown[ALERT_MESSAGE_BYTES];
        log_quotable(shown, sizeof shown, note.message);
        log_warn("monitor", "alert raised", "kind=%s subject=\"%s\" severity=%s message=\"%s\"",
                 alert_kind_name(ev->kind), subject, alert_severity_name(ev->severity), shown);
        note_append(&note);
    }
    return id;
}

int64_t alerts_raise(struct alerts *a, enum alert_kind kind, enum alert_severity severity,
                     const char *subject, const char *fmt, ...)
{
    char message[ALERT_MESSAGE_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    struct alert_event ev = {
        .kind = kind, .severity = severity, .subject = subject, .message = message};
    return alerts_raise_event(a, &ev);
}

bool alerts_clear(struct alerts *a, enum alert_kind kind, const char *subject, int64_t now_ns,
                  const char *why)
{
    if (!a) return false;
    int64_t now = now_ns ? now_ns : clock_now_ns();
    struct audit_note note = {0};
    pthread_mutex_lock(&a->lock);
    long i = find_active(a, kind, subject ? subject : "");
    if (i >= 0) {
        struct alert *al = &a->items[i];
        al->cleared_ns = now;
        note_fill(&note, a->audit, al, "cleared", now);
        note.reason = why;
    }
    pthread_mutex_unlock(&a->lock);
    if (i < 0) return false;
    char shown[ALERT_MESSAGE_BYTES];
    log_quotable(shown, sizeof shown, why ? why : "");
    log_info("monitor", "alert cleared", "kind=%s subject=\"%s\" why=\"%s\"", alert_kind_name(kind),
             subject ? subject : "", shown);
    note_append(&note);
    return true;
}

size_t alerts_expire(struct alerts *a, int64_t now_ns)
{
    if (!a) return 0;
    size_t cleared = 0;
    for (;;) {
        /* One at a time, so the audit append happens without the lock. */
        enum alert_kind kind = ALERT_KIND_COUNT;
        char subject[ALERT_SUBJECT_BYTES] = "";
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->count; i++) {
            const struct alert *al = &a->items[i];
            if (al->cleared_ns == 0 && alert_kind_is_event(al->kind) &&
                now_ns - al->last_ns >= a->event_quiet_ns) {
                kind = al->kind;
                memcpy(subject, al->subject, sizeof subject);
                break;
            }
        }
        pthread_mutex_unlock(&a->lock);
        if (kind == ALERT_KIND_COUNT) return cleared;
        if (alerts_clear(a, kind, subject, now_ns, "quiet period over")) cleared++;
    }
}

bool alerts_find_active(struct alerts *a, enum alert_kind kind, const char *subject,
                        struct alert *out)
{
    if (!a) return false;
    pthread_mutex_lock(&a->lock);
    long i = find_active(a, kind, subject ? subject : "");
    if (i >= 0 && out) *out = a->items[i];
    pthread_mutex_unlock(&a->lock);
    return i >= 0;
}

static bool matches(const struct alert *al, const struct alerts_filter *f)
{
    if (!f) return true;
    if (f->active_only && al->cleared_ns != 0) return false;
    if (f->since_ns && al->last_ns < f->since_ns && al->cleared_ns < f->since_ns) return false;
    if (f->subject && strcmp(al->subject, f->subject) != 0) return false;
    if (f->by_kind && al->kind != f->kind) return false;
    return true;
}

size_t alerts_list(struct alerts *a, const struct alerts_filter *f, struct alert *out, size_t cap)
{
    if (!a) return 0;
    size_t n = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = a->count; i-- > 0;) {
        if (!matches(&a->items[i], f)) continue;
        if (n < cap) out[n] = a->items[i];
        n++;
    }
    pthread_mutex_unlock(&a->lock);
    return n;
}

void alerts_counts(struct alerts *a, size_t *active, int64_t *raised_total)
{
    size_t n = 0;
    int64_t total = 0;
    if (a) {
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->count; i++)
            if (a->items[i].cleared_ns == 0) n++;
        total = a->next_id - 1;
        pthread_mutex_unlock(&a->lock);
    }
    if (active) *active = n;
    if (raised_total) *raised_total = total;
}
