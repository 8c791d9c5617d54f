/* Unit tests of the core model: quality codes, tag paths, the tag table,
 * scaling, deadbands, report-by-exception (quality transitions), sample
 * batches, the boundary queue and the last-value table. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "boundary/boundary.h"
#include "core/clock.h"
#include "core/lvt.h"
#include "core/quality.h"
#include "core/report.h"
#include "core/sample.h"
#include "core/strpool.h"
#include "core/tag.h"
#include "testlib.h"

static void test_quality(void)
{
    CHECK_STR(quality_name(QUALITY_GOOD), "Good");
    CHECK_STR(quality_name(QUALITY_BAD_COMMUNICATION_ERROR), "Bad_CommunicationError");
    CHECK_STR(quality_name(QUALITY_BAD_NO_COMMUNICATION), "Bad_NoCommunication");
    CHECK_STR(quality_name(QUALITY_BAD_CONFIGURATION_ERROR), "Bad_ConfigurationError");
    CHECK_STR(quality_name(QUALITY_UNCERTAIN_LAST_USABLE_VALUE), "Uncertain_LastUsableValue");
    /* Info bits in the low word do not change the name; unknown sub-codes fall
     * back to the severity. */
    CHECK_STR(quality_name(QUALITY_BAD_TIMEOUT | 0x0400u), "Bad_Timeout");
    CHECK_STR(quality_name(0x80FF0000u), "Bad");
    CHECK_STR(quality_name(0x40FF0000u), "Uncertain");
    CHECK(quality_is_good(QUALITY_GOOD_CLAMPED));
    CHECK(quality_is_uncertain(QUALITY_UNCERTAIN_SENSOR_NOT_ACCURATE));
    CHECK(quality_is_bad(QUALITY_BAD_DEVICE_FAILURE));
    CHECK(!quality_is_bad(QUALITY_UNCERTAIN));
    quality_t q;
    CHECK(quality_from_name("Bad_Timeout", &q) && q == QUALITY_BAD_TIMEOUT);
    CHECK(!quality_from_name("Splendid", &q));
}

static void test_paths(void)
{
    char why[128];
    CHECK(tag_path_valid("acme/plant1/utilities/pumping/skid1/motor_current", why, sizeof why));
    CHECK(tag_path_valid("site/name", why, sizeof why));
    CHECK(!tag_path_valid("single", why, sizeof why));
    CHECK(strstr(why, "segments") != NULL);
    CHECK(!tag_path_valid("a//b", why, sizeof why));
    CHECK(!tag_path_valid("/a/b", why, sizeof why));
    CHECK(!tag_path_valid("a/b/", why, sizeof why));
    CHECK(!tag_path_valid("a/b+/c", why, sizeof why));
    CHECK(!tag_path_valid("a/#/c", why, sizeof why));
    CHECK(!tag_path_valid("a/b c", why, sizeof why));
    CHECK(!tag_path_valid("a/b\n", why, sizeof why));
    CHECK(!tag_path_valid("a/b/c/d/e/f/g/h/i", why, sizeof why));
    CHECK(!tag_path_valid("", why, sizeof why));
}

static void test_tag_table(void)
{
    struct tag_table t;
    tag_table_init(&t);
    char path[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(path, sizeof path, "acme/site/area/line/cell/t%d", i);
        struct tag tag = {.path = path, .type = VALUE_DOUBLE, .unit = "bar", .scale = {1, 0}};
        CHECK_EQ_INT(tag_table_add(&t, &tag), i);
    }
    struct tag dup = {.path = "acme/site/area/line/cell/t7", .type = VALUE_DOUBLE};
    CHECK_EQ_INT(tag_table_add(&t, &dup), -1);
    const struct tag *found = tag_table_find(&t, "acme/site/area/line/cell/t777");
    CHECK(found && found->id == 777);
    CHECK_STR(found ? found->unit : NULL, "bar");
    CHECK(tag_table_find(&t, "acme/site/area/line/cell/t1000") == NULL);
    tag_table_clear(&t);
    CHECK_EQ_INT(t.count, 0);

    /* Reserved up front: adding allocates no tag array or index again. */
    CHECK(tag_table_reserve(&t, 5000));
    struct tag *array = t.tags;
    uint32_t *index = t.index;
    for (int i = 0; i < 5000; i++) {
        snprintf(path, sizeof path, "acme/site/area/line/r%d", i);
        struct tag tag = {.path = path, .type = VALUE_INT64, .description = "a counter"};
        CHECK_EQ_INT(tag_table_add(&t, &tag), i);
    }
    CHECK(t.tags == array && t.index == index);
    found = tag_table_find(&t, "acme/site/area/line/r4999");
    CHECK(found && found->id == 4999);
    CHECK_STR(found ? found->unit : NULL, ""); /* NULL unit is stored as "" */
    CHECK_STR(found ? found->description : NULL, "a counter");
    tag_table_clear(&t);
}

static void test_strpool(void)
{
    struct strpool p;
    strpool_init(&p);
    char *strings[3000];
    char text[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(text, sizeof text, "string-%d", i);
        strings[i] = strpool_copy(&p, text);
        CHECK(strings[i] != NULL);
    }
    /* A long one gets its own block and the shared block stays in use. */
    static char long_text[40000];
    memset(long_text, 'x', sizeof long_text - 1);
    char *big = strpool_copy(&p, long_text);
    char *after = strpool_copy(&p, "after");
    CHECK(big && strlen(big) == sizeof long_text - 1);
    CHECK_STR(after, "after");
    for (int i = 0; i < 3000; i++) {
        snprintf(text, sizeof text, "string-%d", i);
        CHECK_STR(strings[i], text);
    }
    CHECK_STR(strpool_copy(&p, NULL), "");
    CHECK_STR(strpool_copy_len(&p, "abcdef", 3), "abc");
    char *room = strpool_alloc(&p, 4);
    CHECK(room && room[4] == '\0');
    CHECK(p.bytes >= 3000 * 12 + sizeof long_text);
    strpool_clear(&p);
    CHECK(p.head == NULL && p.bytes == 0);
    strpool_clear(&p); /* clear twice is fine */
}

static void test_scaling_and_deadband(void)
{
    /* 4-20 mA style: raw 0..27648 -> -50..150 degC. */
    struct scaling s = {.gain = 200.0 / 27648.0, .offset = -50};
    CHECK_EQ_DBL(scaling_apply(&s, 0), -50, 1e-9);
    CHECK_EQ_DBL(scaling_apply(&s, 27648), 150, 1e-9);
    CHECK_EQ_DBL(scaling_invert(&s, 25), 27648.0 * 75 / 200, 1e-9);

    struct tag t = {.type = VALUE_DOUBLE, .deadband_kind = DEADBAND_ABSOLUTE, .deadband = 0.5};
    struct value a = value_double(10), b = value_double(10.4), c = value_double(10.6);
    CHECK(!tag_deadband_exceeded(&t, &a, &b));
    CHECK(tag_deadband_exceeded(&t, &a, &c));
    t.deadband_kind = DEADBAND_PERCENT; /* 1 % of a 0..100 span = 1.0 */
    t.deadband = 1;
    t.has_range = true;
    t.eng_min = 0;
    t.eng_max = 100;
    CHECK(!tag_deadband_exceeded(&t, &a, &c));
    struct value d = value_double(11.01);
    CHECK(tag_deadband_exceeded(&t, &a, &d));
    t.deadband_kind = DEADBAND_ABSOLUTE; /* 0: any change */
    t.deadband = 0;
    CHECK(!tag_deadband_exceeded(&t, &a, &a));
    CHECK(tag_deadband_exceeded(&t, &a, &b));
    t.deadband_kind = DEADBAND_NONE; /* every reading */
    CHECK(tag_deadband_exceeded(&t, &a, &a));
    struct tag bt = {.type = VALUE_BOOL, .deadband_kind = DEADBAND_ABSOLUTE, .deadband = 5};
    struct value f = value_bool(false), tr = value_bool(true);
    CHECK(tag_deadband_exceeded(&bt, &f, &tr));
    CHECK(!tag_deadband_exceeded(&bt, &f, &f));
}

static void test_quality_transitions(void)
{
    struct tag t = {.type = VALUE_DOUBLE, .deadband_kind = DEADBAND_ABSOLUTE, .deadband = 1};
    struct report_state st = {0};
    struct sample_batch *b = sample_batch_new(4);
    struct value v = value_double(5);
    CHECK(report_reading(b, &t, 3, &st, &v, QUALITY_GOOD, 100)); /* first: reported */
    v = value_double(5.5);
    CHECK(!report_reading(b, &t, 3, &st, &v, QUALITY_GOOD, 200));            /* inside deadband */
    CHECK(report_failure(b, &t, 3, &st, QUALITY_BAD_TIMEOUT, 300));          /* Good -> Bad */
    CHECK(!report_failure(b, &t, 3, &st, QUALITY_BAD_TIMEOUT, 400));         /* still Bad: quiet */
    CHECK(report_failure(b, &t, 3, &st, QUALITY_BAD_NO_COMMUNICATION, 450)); /* other Bad */
    v = value_double(5.2);
    CHECK(report_reading(b, &t, 3, &st, &v, QUALITY_GOOD, 500)); /* Bad -> Good, in deadband */
    CHECK_EQ_INT(b->count, 4);
    CHECK_EQ_INT(b->samples[1].quality, QUALITY_BAD_TIMEOUT);
    CHECK_EQ_DBL(b->samples[1].value.as.f64, 5.0, 0); /* the last value is kept */
    CHECK_EQ_INT(b->samples[1].ts_ns, 300);           /* stamped when the failure happened */
    CHECK_EQ_INT(b->samples[3].quality, QUALITY_GOOD);

    /* Strings: reported on change, the copy survives the batch. */
    struct tag s = {.type = VALUE_STRING, .deadband_kind = DEADBAND_ABSOLUTE};
    struct report_state ss = {0};
    char buf[8] = "FW 1.2";
    struct value sv = {.type = VALUE_STRING, .as.str = {buf, 6}};
    CHECK(report_reading(b, &s, 4, &ss, &sv, QUALITY_GOOD, 600));
    buf[5] = '3';
    CHECK(report_reading(b, &s, 4, &ss, &sv, QUALITY_GOOD, 700));
    CHECK(!report_reading(b, &s, 4, &ss, &sv, QUALITY_GOOD, 800));
    CHECK(memcmp(b->samples[4].value.as.str.ptr, "FW 1.2", 6) == 0);
    /* A failure reports the last string with the Bad quality (the state's
     * own copy is passed back in: it must not be freed before it is read). */
    CHECK(report_failure(b, &s, 4, &ss, QUALITY_BAD_TIMEOUT, 850));
    CHECK_EQ_INT(b->samples[b->count - 1].value.as.str.len, 6);
    CHECK(memcmp(b->samples[b->count - 1].value.as.str.ptr, "FW 1.3", 6) == 0);
    CHECK(report_reading(b, &s, 4, &ss, &sv, QUALITY_GOOD, 860)); /* Bad -> Good */
    /* A tag that never had a value reports Bad with a zero of its type. */
    struct report_state fresh = {0};
    CHECK(report_failure(b, &s, 5, &fresh, QUALITY_BAD_NO_COMMUNICATION, 900));
    CHECK_EQ_INT(b->samples[b->count - 1].value.type, VALUE_STRING);
    report_state_clear(&ss);
    report_state_clear(&fresh);
    report_state_clear(&st);
    sample_batch_free(b);
}

struct producer_arg {
    struct boundary *b;
    int id;
};

static void *producer(void *arg)
{
    struct producer_arg *p = arg;
    for (int i = 0; i < 200; i++) {
        struct sample_batch *batch = sample_batch_new(2);
        struct value v = value_int64(i);
        sample_batch_add(batch, (uint32_t)p->id, i, QUALITY_GOOD, &v);
        boundary_send(p->b, batch);
    }
    return NULL;
}

static void test_boundary(void)
{
    struct boundary *b = boundary_create(1000, 1000);
    pthread_t th[4];
    struct producer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct producer_arg){b, i};
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    int64_t next[4] = {0};
    int received = 0;
    while (received < 800) {
        struct sample_batch *batch = boundary_receive(b, 1000);
        if (!batch) break;
        int id = (int)batch->samples[0].tag_id;
        CHECK_EQ_INT(batch->samples[0].value.as.i64, next[id]); /* per-producer order kept */
        next[id]++;
        received++;
        sample_batch_free(batch);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(received, 800);
    struct boundary_counters c;
    boundary_get_counters(b, &c);
    CHECK_EQ_INT(c.samples_sent, 800);
    CHECK_EQ_INT(c.samples_dropped, 0);
    /* Full queue: the OT side is not held up for long; the drop is counted. */
    struct boundary *small = boundary_create(1, 10);
    struct value v = value_int64(1);
    struct sample_batch *x = sample_batch_new(1), *y = sample_batch_new(1);
    sample_batch_add(x, 0, 0, QUALITY_GOOD, &v);
    sample_batch_add(y, 0, 0, QUALITY_GOOD, &v);
    CHECK(boundary_send(small, x));
    int64_t t0 = clock_mono_ms();
    CHECK(!boundary_send(small, y));
    CHECK(clock_mono_ms() - t0 < 1000);
    boundary_get_counters(small, &c);
    CHECK_EQ_INT(c.samples_dropped, 1);
    boundary_close(small);
    struct sample_batch *left = boundary_receive(small, 10);
    CHECK(left != NULL);
    sample_batch_free(left);
    CHECK(boundary_receive(small, 10) == NULL);
    boundary_destroy(small);
    boundary_destroy(b);

    /* Bounded by samples too: big batches cannot pile up. */
    struct boundary *by_samples = boundary_create(100, 0);
    boundary_set_max_samples(by_samples, 10);
    struct sample_batch *six[3];
    for (int i = 0; i < 3; i++) {
        six[i] = sample_batch_new(6);
        for (int k = 0; k < 6; k++)
            sample_batch_add(six[i], 0, 0, QUALITY_GOOD, &v);
    }
    CHECK(boundary_send(by_samples, six[0]));  /* 6 queued */
    CHECK(!boundary_send(by_samples, six[1])); /* 12 > 10: dropped, counted */
    boundary_get_counters(by_samples, &c);
    CHECK_EQ_INT(c.samples_dropped, 6);
    struct sample_batch *got = boundary_receive(by_samples, 10);
    CHECK(got != NULL);
    sample_batch_free(got);
    CHECK(boundary_send(by_samples, six[2])); /* room again */
    boundary_destroy(by_samples);
}

struct change_log {
    int count;
    uint32_t ids[16];
};

static void on_change(void *ctx, const struct tag *tag, const struct lvt_entry *e)
{
    (void)e;
    struct change_log *log = ctx;
    if (log->count < 16) log->ids[log->count] = tag->id;
    log->count++;
}

static void test_lvt(void)
{
    struct lvt *lvt = lvt_create();
    struct tag_table t;
    tag_table_init(&t);
    struct tag a = {.path = "s/a/x", .type = VALUE_DOUBLE};
    struct tag s = {.path = "s/a/name", .type = VALUE_STRING};
    tag_table_add(&t, &a);
    tag_table_add(&t, &s);
    CHECK(lvt_replace_tags(lvt, &t));
    CHECK_EQ_INT(t.count, 0);
    CHECK_EQ_INT(lvt->entries[0].quality, QUALITY_BAD_WAITING_FOR_INITIAL_DATA);

    struct sample_batch *b = sample_batch_new(4);
    struct value v = value_double(1.5);
    struct value sv = {.type = VALUE_STRING, .as.str = {"pump", 4}};
    sample_batch_add(b, 0, 10, QUALITY_GOOD, &v);
    sample_batch_add(b, 1, 11, QUALITY_GOOD, &sv);
    v = value_double(2.5);
    sample_batch_add(b, 0, 12, QUALITY_GOOD, &v);
    sample_batch_add(b, 99, 12, QUALITY_GOOD, &v); /* unknown id: ignored */
    lvt_apply_batch(lvt, b);
    sample_batch_free(b);

    lvt_read_lock(lvt);
    CHECK_EQ_DBL(lvt->entries[0].value.as.f64, 2.5, 0);
    CHECK_EQ_INT(lvt->entries[0].ts_ns, 12);
    CHECK(memcmp(lvt->entries[1].value.as.str.ptr, "pump", 4) == 0);
    uint64_t cursor = 0;
    struct change_log log = {0};
    CHECK(lvt_changes_since(lvt, &cursor, on_change, &log));
    CHECK_EQ_INT(log.count, 2); /* tag 0 once (its latest change), tag 1 once */
    CHECK_EQ_INT(log.ids[0], 1);
    CHECK_EQ_INT(log.ids[1], 0);
    log.count = 0;
    CHECK(lvt_changes_since(lvt, &cursor, on_change, &log));
    CHECK_EQ_INT(log.count, 0);
    lvt_read_unlock(lvt);
    CHECK_EQ_INT(lvt_wait(lvt, cursor, 10), cursor); /* nothing new: times out */

    /* Replacing the tag set keeps values of paths that remain. */
    struct tag_table t2;
    tag_table_init(&t2);
    struct tag n = {.path = "s/a/new", .type = VALUE_INT64};
    tag_table_add(&t2, &n);
    tag_table_add(&t2, &s);
    CHECK(lvt_replace_tags(lvt, &t2));
    lvt_read_lock(lvt);
    CHECK_EQ_INT(lvt->tags.count, 2);
    CHECK(memcmp(lvt->entries[1].value.as.str.ptr, "pump", 4) == 0);
    CHECK_EQ_INT(lvt->entries[0].quality, QUALITY_BAD_WAITING_FOR_INITIAL_DATA);
    log.count = 0;
    CHECK(!lvt_changes_since(lvt, &cursor - 0, on_change, &log) || log.count == 0);
    lvt_read_unlock(lvt);
    lvt_destroy(lvt);
}

int main(void)
{
    test_quality();
    test_paths();
    test_tag_table();
    test_strpool();
    test_scaling_and_deadband();
    test_quality_transitions();
    test_boundary();
    test_lvt();
    return test_summary();
}
