/* Tests of the alerts store (monitor/alerts.h): de-duplication of an active
 * kind+subject, clearing and raising anew, expiry of event kinds only after
 * their quiet period, eviction when full (cleared first), the list filters,
 * the audit records of raises and clears (and none for repetitions), and
 * raises from several threads at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "monitor/alerts.h"
#include "testlib.h"

#define T0_NS 1795000000000000000LL /* 2026-11-18 */
#define S_NS 1000000000LL

static int64_t raise_at(struct alerts *a, enum alert_kind kind, enum alert_severity sev,
                        const char *subject, const char *message, int64_t t)
{
    struct alert_event ev = {
        .kind = kind, .severity = sev, .subject = subject, .message = message, .time_ns = t};
    return alerts_raise_event(a, &ev);
}

static void test_names(void)
{
    for (int k = 0; k < ALERT_KIND_COUNT; k++) {
        enum alert_kind back;
        CHECK(alert_kind_from_name(alert_kind_name((enum alert_kind)k), &back));
        CHECK_EQ_INT(back, k);
    }
    enum alert_kind unused;
    CHECK(!alert_kind_from_name("nope", &unused));
    CHECK(!alert_kind_from_name(NULL, &unused));
    CHECK_STR(alert_kind_name(ALERT_IDENTITY_CHANGED), "identity_changed");
    CHECK_STR(alert_severity_name(ALERT_CRITICAL), "critical");
    CHECK(alert_kind_is_event(ALERT_WRITE_REFUSED));
    CHECK(alert_kind_is_event(ALERT_AUTH_FAILURES));
    CHECK(!alert_kind_is_event(ALERT_LATENCY_DEVIATION));
}

static void test_dedup_and_clear(void)
{
    struct alerts *a = alerts_new(0);
    int64_t id = raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "pump", "first", T0_NS);
    CHECK_EQ_INT(id, 1);
    CHECK_EQ_INT(raise_at(a, ALERT_ERROR_RATE, ALERT_CRITICAL, "pump", "second", T0_NS + S_NS), 1);
    CHECK_EQ_INT(raise_at(a, ALERT_ERROR_RATE, ALERT_INFO, "pump", "third", T0_NS + 2 * S_NS), 1);
    struct alert al;
    CHECK(alerts_find_active(a, ALERT_ERROR_RATE, "pump", &al));
    CHECK_EQ_INT(al.count, 3);
    CHECK_EQ_INT(al.raised_ns, T0_NS);
    CHECK_EQ_INT(al.last_ns, T0_NS + 2 * S_NS);
    CHECK_EQ_INT(al.severity, ALERT_CRITICAL); /* the highest stays */
    CHECK_STR(al.message, "third");
    /* Another subject or another kind is another alert. */
    CHECK_EQ_INT(raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "tank", "x", T0_NS), 2);
    CHECK_EQ_INT(raise_at(a, ALERT_LATENCY_DEVIATION, ALERT_WARNING, "pump", "x", T0_NS), 3);
    size_t active;
    int64_t total;
    alerts_counts(a, &active, &total);
    CHECK_EQ_INT(active, 3);
    CHECK_EQ_INT(total, 3);
    /* Clearing, then raising again, gives a new alert. */
    CHECK(alerts_clear(a, ALERT_ERROR_RATE, "pump", T0_NS + 10 * S_NS, "back in band"));
    CHECK(!alerts_clear(a, ALERT_ERROR_RATE, "pump", T0_NS + 11 * S_NS, NULL));
    CHECK(!alerts_find_active(a, ALERT_ERROR_RATE, "pump", NULL));
    CHECK_EQ_INT(raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "pump", "again", T0_NS + 20 * S_NS),
                 4);
    struct alert list[8];
    CHECK_EQ_INT(alerts_list(a, NULL, list, 8), 4);
    CHECK_EQ_INT(list[0].id, 4); /* newest first */
    CHECK_EQ_INT(list[3].id, 1);
    CHECK_EQ_INT(list[3].cleared_ns, T0_NS + 10 * S_NS);
    /* The printf form and a NULL subject. */
    CHECK(alerts_raise(a, ALERT_AUTH_FAILURES, ALERT_WARNING, NULL, "%d failures", 5) == 5);
    CHECK(alerts_find_active(a, ALERT_AUTH_FAILURES, "", &al));
    CHECK_STR(al.message, "5 failures");
    CHECK_EQ_INT(alerts_raise_event(a, NULL), 0);
    struct alert_event bad = {.kind = ALERT_KIND_COUNT};
    CHECK_EQ_INT(alerts_raise_event(a, &bad), 0);
    CHECK_EQ_INT(alerts_raise_event(NULL, &bad), 0);
    alerts_free(a);
}

static void test_long_texts_are_cut(void)
{
    struct alerts *a = alerts_new(4);
    char subject[400], message[1000];
    memset(subject, 's', sizeof subject - 1);
    subject[sizeof subject - 1] = '\0';
    memset(message, 'm', sizeof message - 1);
    message[sizeof message - 1] = '\0';
    raise_at(a, ALERT_WRITE_REFUSED, ALERT_WARNING, subject, message, T0_NS);
    struct alert al;
    CHECK(alerts_list(a, NULL, &al, 1) == 1);
    CHECK_EQ_INT(strlen(al.subject), ALERT_SUBJECT_BYTES - 1);
    CHECK_EQ_INT(strlen(al.message), ALERT_MESSAGE_BYTES - 1);
    /* The cut subject still de-duplicates. */
    CHECK_EQ_INT(raise_at(a, ALERT_WRITE_REFUSED, ALERT_WARNING, subject, "m", T0_NS), al.id);
    alerts_free(a);
}

static void test_expiry(void)
{
    struct alerts *a = alerts_new(0);
    alerts_set_event_quiet(a, 60 * S_NS);
    raise_at(a, ALERT_WRITE_REFUSED, ALERT_WARNING, "alice", "refused", T0_NS);
    raise_at(a, ALERT_LATENCY_DEVIATION, ALERT_WARNING, "pump", "slow", T0_NS);
    raise_at(a, ALERT_WRITE_REFUSED, ALERT_WARNING, "alice", "refused", T0_NS + 30 * S_NS);
    CHECK_EQ_INT(alerts_expire(a, T0_NS + 89 * S_NS), 0); /* quiet since +30 s only */
    CHECK_EQ_INT(alerts_expire(a, T0_NS + 90 * S_NS), 1);
    CHECK(!alerts_find_active(a, ALERT_WRITE_REFUSED, "alice", NULL));
    /* Conditions never expire. */
    CHECK_EQ_INT(alerts_expire(a, T0_NS + 100000 * S_NS), 0);
    CHECK(alerts_find_active(a, ALERT_LATENCY_DEVIATION, "pump", NULL));
    alerts_free(a);
}

static void test_eviction_and_filters(void)
{
    struct alerts *a = alerts_new(3);
    raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "d1", "m", T0_NS);
    raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "d2", "m", T0_NS + S_NS);
    raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "d3", "m", T0_NS + 2 * S_NS);
    alerts_clear(a, ALERT_ERROR_RATE, "d2", T0_NS + 3 * S_NS, NULL);
    /* Full: the cleared d2 goes first, although d1 is older. */
    raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "d4", "m", T0_NS + 4 * S_NS);
    struct alert list[8];
    CHECK_EQ_INT(alerts_list(a, NULL, list, 8), 3);
    CHECK_STR(list[0].subject, "d4");
    CHECK_STR(list[1].subject, "d3");
    CHECK_STR(list[2].subject, "d1");
    /* All active: the oldest goes. */
    raise_at(a, ALERT_ERROR_RATE, ALERT_WARNING, "d5", "m", T0_NS + 5 * S_NS);
    CHECK_EQ_INT(alerts_list(a, NULL, list, 8), 3);
    CHECK_STR(list[2].subject, "d3");
    /* Filters. */
    alerts_clear(a, ALERT_ERROR_RATE, "d3", T0_NS + 6 * S_NS, NULL);
    raise_at(a, ALERT_LATENCY_DEVIATION, ALERT_WARNING, "d5", "m", T0_NS + 7 * S_NS);
    CHECK_EQ_INT(alerts_list(a, NULL, list, 8), 3); /* d3 (cleared) evicted */
    struct alerts_filter f = {.active_only = true};
    CHECK_EQ_INT(alerts_list(a, &f, list, 8), 3);
    f = (struct alerts_filter){.subject = "d5"};
    CHECK_EQ_INT(alerts_list(a, &f, list, 8), 2);
    f = (struct alerts_filter){.subject = "d5", .by_kind = true, .kind = ALERT_ERROR_RATE};
    CHECK_EQ_INT(alerts_list(a, &f, list, 8), 1);
    f = (struct alerts_filter){.since_ns = T0_NS + 5 * S_NS};
    CHECK_EQ_INT(alerts_list(a, &f, list, 8), 2);   /* d5 twice; d4 last raised at +4 s */
    CHECK_EQ_INT(alerts_list(a, NULL, list, 1), 3); /* the total, however few are copied */
    CHECK_STR(list[0].subject, "d5");
    alerts_free(a);
}

struct audit_seen {
    int count;
    char objects[8][160];
    char outcomes[8][16];
    char new_values[8][64];
};

static bool collect(const struct audit_record *rec, void *ctx)
{
    struct audit_seen *s = ctx;
    if (s->count < 8) {
        snprintf(s->objects[s->count], sizeof s->objects[0], "%s/%s", rec->action, rec->object);
        snprintf(s->outcomes[s->count], sizeof s->outcomes[0], "%s", rec->outcome);
        snprintf(s->new_values[s->count], sizeof s->new_values[0], "%s", rec->new_value);
    }
    s->count++;
    return true;
}

static void test_audit_records(void)
{
    char dir[] = "/tmp/test_alerts_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char err[256];
    struct audit *au = audit_open(dir, err, sizeof err);
    CHECK(au != NULL);
    struct alerts *a = alerts_new(0);
    alerts_set_audit(a, au);
    struct alert_event ev = {.kind = ALERT_IDENTITY_CHANGED,
                             .severity = ALERT_CRITICAL,
                             .subject = "pump",
                             .message = "identity changed",
                             .old_value = "Vendor A",
                             .new_value = "Vendor B",
                             .time_ns = T0_NS};
    alerts_raise_event(a, &ev);
    ev.time_ns += S_NS;
    alerts_raise_event(a, &ev); /* a repetition: no record */
    alerts_clear(a, ALERT_IDENTITY_CHANGED, "pump", T0_NS + 2 * S_NS, "back");
    struct audit_seen seen = {0};
    CHECK(audit_query_each(au, NULL, collect, &seen, err, sizeof err));
    CHECK_EQ_INT(seen.count, 2);
    CHECK_STR(seen.objects[0], "alert/identity_changed/pump");
    CHECK_STR(seen.outcomes[0], "raised");
    CHECK_STR(seen.new_values[0], "Vendor B");
    CHECK_STR(seen.objects[1], "alert/identity_changed/pump");
    CHECK_STR(seen.outcomes[1], "cleared");
    struct audit_verify_result vr;
    CHECK(audit_verify(au, &vr, err, sizeof err));
    CHECK_EQ_INT(vr.damage, AUDIT_INTACT);
    alerts_set_audit(a, NULL);
    alerts_free(a);
    audit_close(au);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

#define THREADS 4
#define RAISES 2000

static void *raiser(void *arg)
{
    struct alerts *a = arg;
    for (int i = 0; i < RAISES; i++) {
        alerts_raise(a, ALERT_AUTH_FAILURES, ALERT_WARNING, "mallory", "failure %d", i);
        if (i % 100 == 0) {
            struct alert list[4];
            alerts_list(a, NULL, list, 4);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct alerts *a = alerts_new(0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, raiser, a);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct alert al;
    CHECK(alerts_find_active(a, ALERT_AUTH_FAILURES, "mallory", &al));
    CHECK_EQ_INT(al.count, THREADS * RAISES);
    CHECK_EQ_INT(alerts_list(a, NULL, NULL, 0), 1);
    alerts_free(a);
}

int main(void)
{
    test_names();
    test_dedup_and_clear();
    test_long_texts_are_cut();
    test_expiry();
    test_eviction_and_filters();
    test_audit_records();
    test_threads();
    return test_summary();
}
