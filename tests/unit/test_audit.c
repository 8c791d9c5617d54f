/* Tests of the audit trail (audit/audit.h): append/verify round trip over
 * 1000 records, the chain across close/reopen, concurrent appends, the
 * canonical encoding byte for byte, the triggers, queries, CSV quoting, and
 * each kind of tampering done directly through SQLite with the triggers
 * dropped: verify must name the first bad record and the kind of damage. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "testlib.h"

#define RECORDS 1000
#define T0_NS 1795000000000000000LL /* 2026-11-18 */

static char base_dir[256];

static void make_dir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/test_audit_XXXXXX");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int64_t append_numbered(struct audit *a, int n)
{
    char object[64], old_value[32], new_value[32];
    snprintf(object, sizeof object, "acme/site/area/line/cell/valve%d", n % 7);
    snprintf(old_value, sizeof old_value, "%d", n);
    snprintf(new_value, sizeof new_value, "%d", n + 1);
    struct audit_record r = {
        .time_ns = T0_NS + (int64_t)n * 1000000000LL,
        .actor = n % 3 ? "alice" : "bob",
        .action = n % 2 ? "write" : "login",
        .object = object,
        .old_value = old_value,
        .new_value = new_value,
        .reason = "test, \"quoted\"",
        .outcome = "ok",
        .details = n % 10 ? NULL : "line one\nline two",
    };
    char err[256];
    int64_t id = audit_append(a, &r, err, sizeof err);
    if (id < 0) fprintf(stderr, "append failed: %s\n", err);
    return id;
}

static struct audit_verify_result verify_dir(const char *dir)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, AUDIT_FILE_NAME);
    struct audit_verify_result r;
    bool ok = audit_verify_file(path, &r, err, sizeof err);
    if (!ok) fprintf(stderr, "verify failed: %s\n", err);
    CHECK(ok);
    return r;
}

/* 1000 records in base_dir, verified; the chain survives close/reopen. */
static void test_round_trip(void)
{
    char err[256];
    struct audit *a = audit_open(base_dir, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    for (int i = 1; i <= RECORDS; i++)
        CHECK_EQ_INT(append_numbered(a, i), i);
    struct audit_verify_result r;
    CHECK(audit_verify(a, &r, err, sizeof err));
    CHECK_EQ_INT(r.damage, AUDIT_INTACT);
    CHECK_EQ_INT(r.count, RECORDS);
    CHECK_EQ_INT(r.last_id, RECORDS);
    uint8_t last_hash[AUDIT_HASH_BYTES];
    memcpy(last_hash, r.last_hash, sizeof last_hash);
    audit_close(a);

    r = verify_dir(base_dir);
    CHECK_EQ_INT(r.damage, AUDIT_INTACT);
    CHECK(memcmp(r.last_hash, last_hash, sizeof last_hash) == 0);

    /* Reopen, append one more: it chains to record 1000. */
    a = audit_open(base_dir, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    CHECK_EQ_INT(append_numbered(a, RECORDS + 1), RECORDS + 1);
    struct audit_list list;
    struct audit_filter f = {.limit = 1, .newest_first = true};
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 1);
    if (list.count == 1) {
        CHECK_EQ_INT(list.records[0].id, RECORDS + 1);
        CHECK(memcmp(list.records[0].prev_hash, last_hash, sizeof last_hash) == 0);
    }
    audit_list_free(&list);
    CHECK(audit_verify(a, &r, err, sizeof err));
    CHECK_EQ_INT(r.damage, AUDIT_INTACT);
    CHECK_EQ_INT(r.count, RECORDS + 1);
    audit_close(a);
}

/* Copies base_dir's trail into a fresh directory. */
static void copy_trail(char *dir, size_t cap)
{
    make_dir(dir, cap);
    char cmd[640];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/'", base_dir, AUDIT_FILE_NAME, dir);
    CHECK_EQ_INT(system(cmd), 0);
}

/* Runs SQL on dir's trail the way an attacker with the sqlite3 CLI would. */
static void tamper(const char *dir, const char *sql)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, AUDIT_FILE_NAME);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "tamper SQL failed: %s\n", msg ? msg : "?");
    CHECK_EQ_INT(rc, SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);
}

#define DROP_TRIGGERS "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"

/* Tampers with a copy of the trail and checks what verify says. */
static void expect_damage(const char *what, const char *sql, enum audit_damage damage,
                          int64_t bad_id)
{
    char dir[256];
    copy_trail(dir, sizeof dir);
    tamper(dir, sql);
    struct audit_verify_result r = verify_dir(dir);
    if (r.damage != damage || r.bad_id != bad_id)
        fprintf(stderr, "%s: got %s at %lld (%s)\n", what, audit_damage_name(r.damage),
                (long long)r.bad_id, r.detail);
    CHECK_EQ_INT(r.damage, damage);
    CHECK_EQ_INT(r.bad_id, bad_id);
    CHECK(r.detail[0] != '\0');
    remove_dir(dir);
}

/* SQL inserting a forged record at id with a correct hash over its own
 * contents and the given link (hex). */
static void forged_insert_sql(char *sql, size_t cap, int64_t id, const char *prev_hex)
{
    struct audit_record r = {
        .id = id,
        .time_ns = T0_NS + id * 1000000000LL,
        .actor = "mallory",
        .action = "write",
        .object = "acme/site/area/line/cell/valve1",
        .old_value = "1",
        .new_value = "100",
        .reason = "forged",
        .outcome = "ok",
    };
    audit_format_time(r.time_ns, r.time_text);
    uint8_t n = 0;
    for (int i = 0; i < AUDIT_HASH_BYTES; i++) {
        const char *h = prev_hex + 2 * i;
        sscanf(h, "%2hhx", &n);
        r.prev_hash[i] = n;
    }
    audit_record_hash(&r, r.hash);
    char hash_hex[AUDIT_HASH_HEX_BYTES];
    audit_hash_hex(r.hash, hash_hex);
    snprintf(sql, cap,
             DROP_TRIGGERS "INSERT INTO audit VALUES (%lld, %lld, '%s', 'mallory', 'write', "
                           "'acme/site/area/line/cell/valve1', '1', '100', 'forged', 'ok', '', "
                           "'%s', '%s');",
             (long long)id, (long long)r.time_ns, r.time_text, prev_hex, hash_hex);
}

/* Shifts ids >= from up by one (in two steps: ids are unique). */
#define SHIFT_UP_FROM_500                                                                          \
    "UPDATE audit SET id = -id WHERE id >= 500; UPDATE audit SET id = 1 - id WHERE id < 0;"

static void test_tampering(void)
{
    expect_damage("modify", DROP_TRIGGERS "UPDATE audit SET new_value = '999' WHERE id = 500;",
                  AUDIT_MODIFIED, 500);
    expect_damage("modify time",
                  DROP_TRIGGERS "UPDATE audit SET time_ns = time_ns + 1 WHERE id = 500;",
                  AUDIT_MODIFIED, 500);
    expect_damage("garbled hash", DROP_TRIGGERS "UPDATE audit SET hash = 'xyz' WHERE id = 500;",
                  AUDIT_MODIFIED, 500);
    expect_damage("delete", DROP_TRIGGERS "DELETE FROM audit WHERE id = 500;", AUDIT_DELETED, 500);
    expect_damage("delete range", DROP_TRIGGERS "DELETE FROM audit WHERE id BETWEEN 500 AND 510;",
                  AUDIT_DELETED, 500);
    expect_damage("delete first", DROP_TRIGGERS "DELETE FROM audit WHERE id = 1;", AUDIT_DELETED,
                  1);
    expect_damage("delete and renumber",
                  DROP_TRIGGERS "DELETE FROM audit WHERE id = 500;"
                                "UPDATE audit SET id = id - 1 WHERE id > 500;",
                  AUDIT_DELETED, 500);
    expect_damage("swap contents",
                  DROP_TRIGGERS
                  "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE id IN (500, 501);"
                  "UPDATE audit SET (time_ns, time, actor, action, object, old_value, new_value,"
                  " reason, outcome, details) = (SELECT time_ns, time, actor, action, object,"
                  " old_value, new_value, reason, outcome, details FROM t WHERE t.id = 1001 -"
                  " audit.id) WHERE id IN (500, 501);",
                  AUDIT_REORDERED, 500);
    expect_damage("swap whole rows",
                  DROP_TRIGGERS "UPDATE audit SET id = -1 WHERE id = 500;"
                                "UPDATE audit SET id = 500 WHERE id = 501;"
                                "UPDATE audit SET id = 501 WHERE id = -1;",
                  AUDIT_REORDERED, 500);

    /* A forged record in the middle, with a correct hash over its own
     * contents but a link that is not record 499's hash. */
    char sql[2048];
    forged_insert_sql(sql, sizeof sql, 500,
                      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    char full[4096];
    /* The triggers go first, then the shift, then the forged row. */
    snprintf(full, sizeof full, "%s" SHIFT_UP_FROM_500 "%s", DROP_TRIGGERS,
             sql + strlen(DROP_TRIGGERS));
    expect_damage("insert forged, bad link", full, AUDIT_INSERTED, 500);

    /* The same forged record linked correctly to record 499: the forgery
     * itself is consistent, but the record after it was written as 500. */
    char dir[256];
    copy_trail(dir, sizeof dir);
    struct audit_list list = {0};
    char err[256];
    struct audit *a = audit_open(dir, err, sizeof err);
    struct audit_filter f = {.from_ns = T0_NS + 499 * 1000000000LL, .limit = 1};
    CHECK(a && audit_query(a, &f, &list, err, sizeof err) && list.count == 1);
    char prev_hex[AUDIT_HASH_HEX_BYTES] = "";
    if (list.count == 1) {
        CHECK_EQ_INT(list.records[0].id, 499);
        audit_hash_hex(list.records[0].hash, prev_hex);
    }
    audit_list_free(&list);
    audit_close(a);
    remove_dir(dir);
    forged_insert_sql(sql, sizeof sql, 500, prev_hex);
    snprintf(full, sizeof full, "%s" SHIFT_UP_FROM_500 "%s", DROP_TRIGGERS,
             sql + strlen(DROP_TRIGGERS));
    expect_damage("insert forged, good link", full, AUDIT_INSERTED, 500);

    /* Record 500 rewritten with its hash recomputed: record 501 no longer
     * links to it, which is the first thing the chain can show. */
    forged_insert_sql(sql, sizeof sql, 500, prev_hex);
    snprintf(full, sizeof full, "%sDELETE FROM audit WHERE id = 500;%s", DROP_TRIGGERS,
             sql + strlen(DROP_TRIGGERS));
    expect_damage("rewrite with recomputed hash", full, AUDIT_INSERTED, 501);

    /* Cutting the last records is not visible in the chain alone: the last
     * hash differs from the one written down (docs/audit.md). */
    copy_trail(dir, sizeof dir);
    tamper(dir, DROP_TRIGGERS "DELETE FROM audit WHERE id > 990;");
    struct audit_verify_result r = verify_dir(dir);
    CHECK_EQ_INT(r.damage, AUDIT_INTACT);
    CHECK_EQ_INT(r.count, 990);
    remove_dir(dir);
}

static void test_triggers_refuse_edits(void)
{
    char dir[256], path[512];
    copy_trail(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, AUDIT_FILE_NAME);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE audit SET actor = 'x' WHERE id = 1", NULL, NULL, NULL) !=
          SQLITE_OK);
    CHECK(strstr(sqlite3_errmsg(db), "cannot be changed") != NULL);
    CHECK(sqlite3_exec(db, "DELETE FROM audit WHERE id = 1", NULL, NULL, NULL) != SQLITE_OK);
    CHECK(strstr(sqlite3_errmsg(db), "cannot be deleted") != NULL);
    /* Dropped triggers come back when the trail is opened again. */
    CHECK_EQ_INT(sqlite3_exec(db, DROP_TRIGGERS, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    audit_close(audit_open(dir, err, sizeof err));
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK(sqlite3_exec(db, "DELETE FROM audit WHERE id = 1", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(verify_dir(dir).damage, AUDIT_INTACT);
    remove_dir(dir);
}

struct worker {
    struct audit *a;
    int index;
    int failures;
};

#define THREADS 4
#define PER_THREAD 100

static void *append_worker(void *arg)
{
    struct worker *w = arg;
    char actor[16], err[256];
    snprintf(actor, sizeof actor, "thread%d", w->index);
    for (int i = 0; i < PER_THREAD; i++) {
        struct audit_record r = {.actor = actor, .action = "write", .outcome = "ok"};
        if (audit_append(w->a, &r, err, sizeof err) < 1) w->failures++;
    }
    return NULL;
}

static void test_concurrent_appends(void)
{
    char dir[256], err[256];
    make_dir(dir, sizeof dir);
    struct audit *a = audit_open(dir, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){a, i, 0};
        pthread_create(&threads[i], NULL, append_worker, &workers[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ_INT(workers[i].failures, 0);
    }
    struct audit_verify_result r;
    CHECK(audit_verify(a, &r, err, sizeof err));
    CHECK_EQ_INT(r.damage, AUDIT_INTACT);
    CHECK_EQ_INT(r.count, THREADS * PER_THREAD);
    struct audit_list list;
    struct audit_filter f = {.actor = "thread2"};
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, PER_THREAD);
    audit_list_free(&list);
    audit_close(a);
    remove_dir(dir);
}

static void test_encoding(void)
{
    /* Byte for byte: the layout docs/audit.md describes. */
    struct audit_record r = {.id = 1, .time_ns = 0x0102030405060708LL, .actor = "ab"};
    snprintf(r.time_text, sizeof r.time_text, "T");
    uint8_t buf[128];
    size_t n = audit_encode(&r, buf, sizeof buf);
    uint8_t want[128];
    size_t want_n = test_unhex("0000000000000001 0102030405060708"
                               "00000001 54"   /* time "T" */
                               "00000002 6162" /* actor "ab" */
                               "00000000 00000000 00000000 00000000 00000000 00000000 00000000",
                               want, sizeof want);
    CHECK_EQ_INT(n, want_n);
    if (n != want_n || memcmp(buf, want, n) != 0)
        test_dump_mismatch("encoding", buf, n, want, want_n);
    /* A short buffer gets the prefix and the needed length. */
    CHECK_EQ_INT(audit_encode(&r, buf, 4), want_n);

    /* ("ab", "c") and ("a", "bc") differ in encoding and hash. */
    struct audit_record x = {.id = 7, .actor = "ab", .action = "c"};
    struct audit_record y = {.id = 7, .actor = "a", .action = "bc"};
    uint8_t ex[128], ey[128], hx[AUDIT_HASH_BYTES], hy[AUDIT_HASH_BYTES];
    size_t nx = audit_encode(&x, ex, sizeof ex), ny = audit_encode(&y, ey, sizeof ey);
    CHECK_EQ_INT(nx, ny);
    CHECK(memcmp(ex, ey, nx) != 0);
    audit_record_hash(&x, hx);
    audit_record_hash(&y, hy);
    CHECK(memcmp(hx, hy, sizeof hx) != 0);
    /* NULL and "" are the same (stored as empty text). */
    struct audit_record z = {.id = 7, .actor = "ab", .action = "c", .object = ""};
    audit_record_hash(&z, hy);
    CHECK(memcmp(hx, hy, sizeof hx) == 0);

    /* Known answer: SHA-256 of 32 zero bytes followed by the encoding of an
     * all-empty record with id 1, time 0, empty time text (as computed by
     * Python's hashlib in tests/e2e/test_audit_cli.py's helper). */
    struct audit_record e = {.id = 1};
    uint8_t he[AUDIT_HASH_BYTES];
    audit_record_hash(&e, he);
    char hex[AUDIT_HASH_HEX_BYTES];
    audit_hash_hex(he, hex);
    /* hashlib.sha256(b"\0"*32 + (1).to_bytes(8,"big") + b"\0"*8 + b"\0"*36) */
    CHECK_STR(hex, "6a37b5aae10e597af0b93a67b62e42df61313bf30bed9abad7c8626e595518cb");

    char t[AUDIT_TIME_TEXT_BYTES];
    audit_format_time(1795000000123456789LL, t);
    CHECK_STR(t, "2026-11-18T11:06:40.123456789Z");
    audit_format_time(-1, t);
    CHECK_STR(t, "1969-12-31T23:59:59.999999999Z");
}

static void test_append_limits(void)
{
    char dir[256], err[256];
    make_dir(dir, sizeof dir);
    struct audit *a = audit_open(dir, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    char *big = malloc(AUDIT_MAX_FIELD_BYTES + 2);
    memset(big, 'x', AUDIT_MAX_FIELD_BYTES + 1);
    big[AUDIT_MAX_FIELD_BYTES + 1] = '\0';
    struct audit_record r = {.actor = "system", .action = "config_change", .details = big};
    CHECK_EQ_INT(audit_append(a, &r, err, sizeof err), -1);
    CHECK(strstr(err, "details") != NULL);
    big[AUDIT_MAX_FIELD_BYTES] = '\0';
    CHECK_EQ_INT(audit_append(a, &r, err, sizeof err), 1);
    free(big);
    struct audit_verify_result v;
    CHECK(audit_verify(a, &v, err, sizeof err));
    CHECK_EQ_INT(v.damage, AUDIT_INTACT);
    CHECK_EQ_INT(v.count, 1);
    audit_close(a);
    remove_dir(dir);
    CHECK(audit_open("/nonexistent/dir", err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/dir/audit.db") != NULL);
    struct audit_verify_result vr;
    CHECK(!audit_verify_file("/nonexistent/dir/audit.db", &vr, err, sizeof err));
}

static void test_queries(void)
{
    char err[256];
    struct audit *a = audit_open(base_dir, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    struct audit_list list;
    /* Records 1..1001: actor bob when n % 3 == 0, action write when odd. */
    struct audit_filter f = {.actor = "bob", .action = "write"};
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 167); /* odd multiples of 3 up to 1001 */
    for (size_t i = 0; i < list.count; i++)
        CHECK(list.records[i].id % 6 == 3);
    audit_list_free(&list);

    f = (struct audit_filter){
        .object_prefix = "acme/site/area/line/cell/valve3", .limit = 5, .offset = 2};
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 5);
    if (list.count == 5) {
        CHECK_EQ_INT(list.records[0].id, 17); /* 3, 10, then 17 */
        CHECK_STR(list.records[0].object, "acme/site/area/line/cell/valve3");
        CHECK_STR(list.records[0].reason, "test, \"quoted\"");
        CHECK_STR(list.records[0].time_text, "2026-11-18T11:06:57.000000000Z");
    }
    audit_list_free(&list);
    f = (struct audit_filter){.object_prefix = "acme/%"}; /* no wildcards */
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 0);
    audit_list_free(&list);

    f = (struct audit_filter){.from_ns = T0_NS + 10 * 1000000000LL,
                              .to_ns = T0_NS + 20 * 1000000000LL};
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 10);
    if (list.count == 10) {
        CHECK_EQ_INT(list.records[0].id, 10);
        CHECK_EQ_INT(list.records[9].id, 19);
    }
    audit_list_free(&list);
    f.newest_first = true;
    f.limit = 3;
    CHECK(audit_query(a, &f, &list, err, sizeof err));
    CHECK_EQ_INT(list.count, 3);
    if (list.count == 3) CHECK_EQ_INT(list.records[0].id, 19);
    audit_list_free(&list);
    audit_close(a);
}

static char *csv_of(const struct audit_record *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    audit_csv_record(f, r);
    fclose(f);
    return text;
}

static void test_csv(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    audit_csv_field(f, "plain");
    fputc('|', f);
    audit_csv_field(f, "a,b");
    fputc('|', f);
    audit_csv_field(f, "say \"hi\"");
    fputc('|', f);
    audit_csv_field(f, "two\nlines");
    fputc('|', f);
    audit_csv_field(f, "cr\r");
    fputc('|', f);
    audit_csv_field(f, NULL);
    fclose(f);
    CHECK_STR(text, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"|");
    free(text);

    /* Formulas a spreadsheet would evaluate are shown as text; numbers stay. */
    f = open_memstream(&text, &len);
    const char *cells[] = {"=HYPERLINK(\"http://x\",\"y\")",
                           "+1",
                           "@SUM(A1)",
                           "-5",
                           "-2.5e3",
                           "-cmd|' /C calc'!A0",
                           "\tx",
                           "a=b"};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        audit_csv_field(f, cells[i]);
        fputc('|', f);
    }
    fclose(f);
    CHECK_STR(text, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"|\"'+1\"|\"'@SUM(A1)\"|-5|-2.5e3|"
                    "\"'-cmd|' /C calc'!A0\"|\"'\tx\"|a=b|");
    free(text);

    struct audit_record r = {.id = 3,
                             .time_ns = 5,
                             .actor = "alice",
                             .action = "write",
                             .object = "x",
                             .new_value = "1,5",
                             .reason = "he said \"go\""};
    snprintf(r.time_text, sizeof r.time_text, "1970-01-01T00:00:00.000000005Z");
    memset(r.hash, 0xab, sizeof r.hash);
    text = csv_of(&r);
    CHECK_STR(text, "3,1970-01-01T00:00:00.000000005Z,5,alice,write,x,,\"1,5\",\"he said "
                    "\"\"go\"\"\",,,"
                    "0000000000000000000000000000000000000000000000000000000000000000,"
                    "abababababababababababababababababababababababababababababababab\r\n");
    free(text);
}

/* The configuration diff in reload records. */
static void test_text_diff(void)
{
    char *d = audit_text_diff("a\nb\nc\n", "a\nb\nc\n", 1024);
    CHECK_STR(d, "");
    free(d);
    d = audit_text_diff("a\nb\nc\n", "a\nB\nc\n", 1024);
    CHECK_STR(d, "@@ line 2: -1 +1 lines @@\n-b\n+B\n");
    free(d);
    d = audit_text_diff("a\n", "a\nx\ny\n", 1024);
    CHECK_STR(d, "@@ line 2: -0 +2 lines @@\n+x\n+y\n");
    free(d);
    d = audit_text_diff(NULL, "new\n", 1024);
    CHECK_STR(d, "@@ line 1: -0 +1 lines @@\n+new\n");
    free(d);
    /* cut at max_bytes, saying how much was left out */
    char big[4096];
    size_t n = 0;
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "l%d\n", i);
    d = audit_text_diff("", big, 256);
    CHECK(strlen(d) < 256);
    CHECK(strstr(d, "more lines)\n") != NULL);
    free(d);
}

int main(void)
{
    test_text_diff();
    make_dir(base_dir, sizeof base_dir);
    test_encoding();
    test_csv();
    test_round_trip();
    test_queries();
    test_tampering();
    test_triggers_refuse_edits();
    test_concurrent_appends();
    test_append_limits();
    remove_dir(base_dir);
    return test_summary();
}
