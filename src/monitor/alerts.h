/* The alerts store: a bounded, thread-safe list of alerts about the OT side
 * (a device that answers differently, a changed device identity) and the IT
 * side (refused writes, repeated authentication failures), for the API
 * (GET /api/v1/alerts), the dashboard and the audit trail.
 *
 * An alert is identified by its kind and subject (a device or a user name).
 * Raising one that is already active for the same kind and subject does not
 * add an entry: it counts the repetition, moves last_ns and keeps the newer
 * message (de-duplication). An alert stays active until alerts_clear, or,
 * for the kinds that are events rather than conditions (write_refused,
 * auth_failures, unknown_identity), until it has been quiet for the event
 * quiet period (alerts_expire). Each new alert and each clearing appends a
 * record to the audit trail when one is set: actor "system", action
 * "alert", object "<kind>/<subject>", outcome "raised" or "cleared".
 *
 * The store keeps at most its capacity of alerts; when full the oldest
 * cleared alert makes room (the oldest of all when every one is active). */
#ifndef AIRLOCK_MONITOR_ALERTS_H
#define AIRLOCK_MONITOR_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERTS_DEFAULT_CAPACITY 1000
#define ALERTS_DEFAULT_QUIET_NS (600 * 1000000000LL) /* events clear after 10 min */
#define ALERT_SUBJECT_BYTES 128
#define ALERT_MESSAGE_BYTES 384

enum alert_severity {
    ALERT_INFO = 0,
    ALERT_WARNING,
    ALERT_CRITICAL,
};

enum alert_kind {
    ALERT_LATENCY_DEVIATION = 0, /* a device answers much slower or faster than its baseline */
    ALERT_ERROR_RATE,            /* failed requests (timeouts, bad frames) above the threshold */
    ALERT_RESPONSE_PATTERN,      /* exceptions or a latency distribution the baseline never had */
    ALERT_IDENTITY_CHANGED,      /* device identity differs from the one first recorded */
    ALERT_UNKNOWN_IDENTITY,      /* an identity never seen before was recorded (event) */
    ALERT_WRITE_REFUSED,         /* the write gate refused a write (event) */
    ALERT_AUTH_FAILURES,         /* repeated authentication failures (event) */
    ALERT_KIND_COUNT,
};

/* "info", "warning", "critical". */
const char *alert_severity_name(enum alert_severity s);
/* "latency_deviation", "error_rate", "response_pattern", "identity_changed",
 * "unknown_identity", "write_refused", "auth_failures". */
const char *alert_kind_name(enum alert_kind k);
/* The kind named name; false when there is none. */
bool alert_kind_from_name(const char *name, enum alert_kind *out);
/* Whether alerts of kind k are events (cleared by alerts_expire after a
 * quiet period) rather than conditions (cleared by alerts_clear). */
bool alert_kind_is_event(enum alert_kind k);

struct alert {
    int64_t id; /* 1, 2, 3... in the order alerts were first raised */
    enum alert_kind kind;
    enum alert_severity severity; /* the highest raised while active */
    char subject[ALERT_SUBJECT_BYTES];
    char message[ALERT_MESSAGE_BYTES]; /* the latest */
    int64_t raised_ns;                 /* UTC, first raise */
    int64_t last_ns;                   /* UTC, latest raise */
    int64_t cleared_ns;                /* UTC; 0 while active */
    uint64_t count;                    /* raises folded into this alert (>= 1) */
};

/* What alerts_raise_event raises. Texts are copied (cut to the field sizes
 * above); old_value and new_value only go to the audit record. */
struct alert_event {
    enum alert_kind kind;
    enum alert_severity severity;
    const char *subject; /* device or user; NULL is "" */
    const char *message;
    const char *old_value; /* e.g. the identity first recorded; may be NULL */
    const char *new_value; /* e.g. the identity now seen; may be NULL */
    int64_t time_ns;       /* UTC; 0: now */
};

struct alerts;
struct audit;

/* A store holding at most capacity alerts (0: ALERTS_DEFAULT_CAPACITY).
 * NULL on ENOMEM. */
struct alerts *alerts_new(size_t capacity);
/* NULL is accepted. */
void alerts_free(struct alerts *a);

/* Where raises and clears are recorded (NULL: nowhere). The trail must
 * outlive the store or be unset first. */
void alerts_set_audit(struct alerts *a, struct audit *audit);
/* How long an event alert stays active without a new raise (0: the
 * default). */
void alerts_set_event_quiet(struct alerts *a, int64_t quiet_ns);

/* Raises ev (see the de-duplication above). Returns the alert's id (a new
 * one, or that of the active alert it was folded into); 0 when a is NULL or
 * the kind is out of range. Thread-safe; the audit record is appended
 * outside the store's lock. */
int64_t alerts_raise_event(struct alerts *a, const struct alert_event *ev);
/* The same with the time now and a printf message. */
int64_t alerts_raise(struct alerts *a, enum alert_kind kind, enum alert_severity severity,
                     const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Clears the active alert of kind and subject at now_ns (0: now), with why
 * in the audit record (may be NULL). False when none is active. */
bool alerts_clear(struct alerts *a, enum alert_kind kind, const char *subject, int64_t now_ns,
                  const char *why);
/* Clears the event alerts whose last raise is older than the quiet period
 * at now_ns. Returns how many. */
size_t alerts_expire(struct alerts *a, int64_t now_ns);

/* Whether an alert of kind and subject is active; when so and out is not
 * NULL, copies it. */
bool alerts_find_active(struct alerts *a, enum alert_kind kind, const char *subject,
                        struct alert *out);

/* Filters of alerts_list; zero / NULL fields do not filter. */
struct alerts_filter {
    bool active_only;
    int64_t since_ns;    /* alerts raised, repeated or cleared at or after this time */
    const char *subject; /* exactly */
    bool by_kind;
    enum alert_kind kind;
};

/* Copies the alerts matching f (NULL: all), newest first (by id), into
 * out[0..cap). Returns how many match in all (may exceed cap). */
size_t alerts_list(struct alerts *a, const struct alerts_filter *f, struct alert *out, size_t cap);

/* Counts: active alerts, and alerts ever raised (ids handed out). */
void alerts_counts(struct alerts *a, size_t *active, int64_t *raised_total);

#endif
