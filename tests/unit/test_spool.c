/* Unit tests of the publisher's store-and-forward spool (north/spool.h):
 * round trips of every value type through append/peek/ack, in order and
 * once; restarts (acknowledged batches never come back under strict);
 * max_bytes (the oldest dropped and counted exactly, the newest kept); torn
 * tails at every byte of the last record; a flipped byte at every position
 * of a middle record; EIO/ENOSPC and short writes (the batch is kept and
 * written later, once); power cuts at random writes under strict (every
 * acknowledged append survives, in order, none twice); allocation failures
 * injected one by one in open, append and peek. Batches are generated from
 * their number, so a batch read back is checked field by field. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_alloc.h"
#include "historian/hist_io.h"
#include "north/spool.h"
#include "testlib.h"

#define MAX_BATCH 48
#define TS_PER_BATCH 1000000

static char test_dir[64];
static char long_path[1500];

/* ---- helpers ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty directory test_dir/name in dir. */
static void fresh_dir(char *dir, size_t cap, const char *name)
{
    snprintf(dir, cap, "%s/%s", test_dir, name);
    remove_dir(dir);
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A generated batch and the storage of its strings. */
struct batch {
    struct spool_sample s[MAX_BATCH];
    size_t n;
    char strings[MAX_BATCH][40];
};

static const char *const test_paths[] = {
    "acme/plant1/utilities/pumping/skid1/motor_current",
    "acme/plant1/utilities/pumping/skid1/running",
    "x",
    long_path,
    "acme/plant1/line2/state",
    "\xc3\xbc"
    "tf-8/\xc3\xb1"
    "ame",
};
#define TEST_PATH_COUNT (sizeof test_paths / sizeof test_paths[0])

static const quality_t test_qualities[] = {QUALITY_GOOD,
                                           QUALITY_GOOD,
                                           QUALITY_GOOD,
                                           QUALITY_UNCERTAIN_LAST_USABLE_VALUE,
                                           QUALITY_BAD_COMMUNICATION_ERROR,
                                           0xFFFFFFFFu};

/* Batch number b: 1..max_n samples of every type; sample 0's timestamp is
 * b * TS_PER_BATCH so a batch read back names itself. */
static void make_batch(uint64_t b, size_t max_n, struct batch *out)
{
    uint64_t st = b * 7919 + 17;
    out->n = 1 + (size_t)(splitmix(&st) % max_n);
    for (size_t i = 0; i < out->n; i++) {
        struct spool_sample *s = &out->s[i];
        uint64_t r = splitmix(&st);
        s->path = test_paths[(b + i * i) % TEST_PATH_COUNT];
        s->ts_ns = i == 0 ? (int64_t)(b * TS_PER_BATCH) : (int64_t)splitmix(&st);
        s->quality = test_qualities[r % 6];
        switch ((b + i) % 5) {
        case 0:
            s->value = value_bool((r >> 8) & 1);
            break;
        case 1:
            s->value = value_int64((int64_t)splitmix(&st));
            break;
        case 2:
            s->value = value_uint64(splitmix(&st));
            break;
        case 3: {
            static const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, 1e-310, 3.25};
            uint64_t bits = splitmix(&st);
            double d;
            if ((r >> 8) % 3 == 0) {
                d = specials[(r >> 16) % 6];
            } else if ((r >> 8) % 3 == 1) {
                d = NAN;
            } else {
                memcpy(&d, &bits, sizeof d);
            }
            s->value = value_double(d);
            break;
        }
        default: {
            uint32_t len = (uint32_t)((r >> 8) % sizeof out->strings[i]);
            if ((r >> 20) % 4 == 0) len = 0;
            for (uint32_t k = 0; k < len; k++)
                out->strings[i][k] = (char)(splitmix(&st) % 7 == 0 ? 0 : splitmix(&st));
            s->value = (struct value){.type = VALUE_STRING};
            s->value.as.str.ptr = out->strings[i];
            s->value.as.str.len = len;
            break;
        }
        }
    }
}

static bool sample_equal(const struct spool_sample *a, const struct spool_sample *b)
{
    if (strcmp(a->path, b->path) != 0 || a->ts_ns != b->ts_ns || a->quality != b->quality ||
        a->value.type != b->value.type)
        return false;
    switch (a->value.type) {
    case VALUE_BOOL:
        return a->value.as.b == b->value.as.b;
    case VALUE_INT64:
        return a->value.as.i64 == b->value.as.i64;
    case VALUE_UINT64:
        return a->value.as.u64 == b->value.as.u64;
    case VALUE_DOUBLE:
        return memcmp(&a->value.as.f64, &b->value.as.f64, sizeof(double)) == 0;
    case VALUE_STRING:
        return a->value.as.str.len == b->value.as.str.len &&
               (a->value.as.str.len == 0 ||
                memcmp(a->value.as.str.ptr, b->value.as.str.ptr, a->value.as.str.len) == 0);
    }
    return false;
}

/* The batch number of samples read back when they match make_batch's
 * batch exactly; UINT64_MAX otherwise. */
static uint64_t identify(const struct spool_sample *v, size_t n, size_t max_n)
{
    if (n == 0 || v[0].ts_ns < 0 || v[0].ts_ns % TS_PER_BATCH != 0) return UINT64_MAX;
    uint64_t b = (uint64_t)v[0].ts_ns / TS_PER_BATCH;
    struct batch want;
    make_batch(b, max_n, &want);
    if (want.n != n) return UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (!sample_equal(&v[i], &want.s[i])) return UINT64_MAX;
    return b;
}

static bool append_batch(struct spool *s, uint64_t b, size_t max_n, uint64_t *dropped)
{
    struct batch batch;
    make_batch(b, max_n, &batch);
    return spool_append(s, batch.s, batch.n, dropped);
}

/* Peeks and acknowledges everything: the batch numbers read, in order, go
 * to ids (up to cap; the count is returned). A batch that does not match
 * its generator is recorded as UINT64_MAX. */
static size_t drain(struct spool *s, size_t max_n, uint64_t *ids, size_t cap)
{
    size_t count = 0;
    const struct spool_sample *v;
    size_t n;
    while (spool_peek(s, &v, &n)) {
        uint64_t b = identify(v, n, max_n);
        if (count < cap) ids[count] = b;
        count++;
        if (!spool_ack(s)) break;
    }
    return count;
}

static struct spool *open_spool(const char *dir, enum hist_durability d, uint64_t max_bytes,
                                uint64_t segment_bytes, const struct hist_io *io)
{
    struct spool_options o;
    spool_options_init(&o);
    o.dir = dir;
    o.durability = d;
    if (max_bytes) o.max_bytes = max_bytes;
    if (segment_bytes) o.segment_bytes = segment_bytes;
    o.io = io;
    char err[256] = "";
    struct spool *s = spool_open(&o, err, sizeof err);
    if (!s) fprintf(stderr, "spool_open: %s\n", err);
    return s;
}

/* Segment files in dir. */
static int count_segments(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -c '^spool-.*\\.seg$'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static bool check_ids(const uint64_t *ids, size_t count, uint64_t first, uint64_t last)
{
    if (count != last - first + 1) return false;
    for (size_t i = 0; i < count; i++)
        if (ids[i] != first + i) return false;
    return true;
}

/* ---- tests ---- */

static void test_round_trip(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "round-trip");
    struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 4096, NULL);
    CHECK(s != NULL);
    if (!s) return;
    const struct spool_sample *v;
    size_t n;
    CHECK(!spool_peek(s, &v, &n)); /* empty */
    CHECK(!spool_ack(s));          /* nothing peeked */
    uint64_t samples = 0;
    for (uint64_t b = 0; b < 400; b++) {
        struct batch batch;
        make_batch(b, MAX_BATCH, &batch);
        uint64_t dropped = 99;
        CHECK(spool_append(s, batch.s, batch.n, &dropped));
        CHECK_EQ_INT(dropped, 0);
        samples += batch.n;
    }
    struct spool_stats st;
    spool_get_stats(s, &st);
    CHECK_EQ_INT(st.pending_batches, 400);
    CHECK_EQ_INT(st.pending_samples, samples);
    CHECK_EQ_INT(st.appended_samples, samples);
    CHECK(st.bytes > 4096 * 3);
    CHECK(count_segments(dir) > 3);

    /* A peek without an ack returns the same batch again. */
    CHECK(spool_peek(s, &v, &n));
    CHECK_EQ_INT(identify(v, n, MAX_BATCH), 0);
    CHECK(spool_peek(s, &v, &n));
    CHECK_EQ_INT(identify(v, n, MAX_BATCH), 0);

    /* Appends between peeks do not disturb reading. */
    uint64_t ids[600];
    size_t count = 0;
    for (uint64_t b = 400; b < 500; b++) {
        CHECK(spool_peek(s, &v, &n));
        ids[count++] = identify(v, n, MAX_BATCH);
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
        CHECK(spool_ack(s));
    }
    count += drain(s, MAX_BATCH, ids + count, 600 - count);
    CHECK(check_ids(ids, count, 0, 499));
    spool_get_stats(s, &st);
    CHECK_EQ_INT(st.pending_batches, 0);
    CHECK_EQ_INT(st.pending_samples, 0);
    CHECK_EQ_INT(st.acked_samples, st.appended_samples);
    CHECK_EQ_INT(st.corrupt_records, 0);
    CHECK(!st.degraded);
    CHECK(!spool_peek(s, &v, &n));
    CHECK(count_segments(dir) <= 1); /* acknowledged segments are deleted */

    /* An empty batch is accepted and stores nothing. */
    CHECK(spool_append(s, NULL, 0, NULL));
    CHECK(!spool_peek(s, &v, &n));
    spool_close(s);
    spool_close(NULL);

    /* Reopened: nothing comes back. */
    s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 4096, NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(!spool_peek(s, &v, &n));
    spool_close(s);
    remove_dir(dir);
}

/* Batches of 1000 distinct doubles: the path table makes the per-sample
 * cost small (no path bytes per sample). */
static void test_compact_encoding(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "compact");
    struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
    CHECK(s != NULL);
    if (!s) return;
    enum { N = 1000 };
    static char names[N][64];
    static struct spool_sample batch[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "acme/plant1/area%d/line/cell/tag%d", i / 100, i);
        batch[i] = (struct spool_sample){.path = names[i],
                                         .value = value_double(i * 0.5),
                                         .ts_ns = 1700000000000000000 + i,
                                         .quality = QUALITY_GOOD};
    }
    struct spool_stats before, after;
    spool_get_stats(s, &before);
    for (int r = 0; r < 10; r++)
        CHECK(spool_append(s, batch, N, NULL));
    spool_get_stats(s, &after);
    uint64_t per_batch = (after.bytes - before.bytes - 16) / 10;
    /* The path table (~40 bytes a path) + 8-byte doubles + a few bytes. */
    CHECK(per_batch < N * (40 + 8 + 4));
    const struct spool_sample *v;
    size_t n;
    int read = 0;
    while (spool_peek(s, &v, &n)) {
        CHECK_EQ_INT(n, N);
        bool same = true;
        for (int i = 0; i < N && n == N; i++)
            same = same && sample_equal(&v[i], &batch[i]);
        CHECK(same);
        CHECK(spool_ack(s));
        read++;
    }
    CHECK_EQ_INT(read, 10);
    spool_close(s);
    remove_dir(dir);
}

static void test_reopen(enum hist_durability d)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, d == HIST_DURABILITY_STRICT ? "reopen-strict" : "reopen-batched");
    struct spool *s = open_spool(dir, d, 0, 2048, NULL);
    CHECK(s != NULL);
    if (!s) return;
    for (uint64_t b = 0; b < 100; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    const struct spool_sample *v;
    size_t n;
    for (int i = 0; i < 40; i++) {
        CHECK(spool_peek(s, &v, &n));
        CHECK(spool_ack(s));
    }
    CHECK(spool_peek(s, &v, &n)); /* peeked, not acknowledged: comes back */
    spool_close(s);

    s = open_spool(dir, d, 0, 2048, NULL);
    CHECK(s != NULL);
    if (!s) return;
    struct spool_stats st;
    spool_get_stats(s, &st);
    CHECK_EQ_INT(st.pending_batches, 60);
    CHECK_EQ_INT(st.corrupt_records, 0);
    for (int i = 0; i < 20; i++) {
        CHECK(spool_peek(s, &v, &n));
        CHECK_EQ_INT(identify(v, n, MAX_BATCH), 40 + i);
        CHECK(spool_ack(s));
    }
    for (uint64_t b = 100; b < 110; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    spool_maintain(s);
    spool_close(s);

    s = open_spool(dir, d, 0, 2048, NULL);
    CHECK(s != NULL);
    if (!s) return;
    uint64_t ids[200];
    size_t count = drain(s, MAX_BATCH, ids, 200);
    CHECK(check_ids(ids, count, 60, 109));
    spool_close(s);
    remove_dir(dir);
}

/* Under strict, the cursor is saved by every ack: a process that stops
 * without spool_close (simulated: the files are copied while the spool is
 * open) never reads an acknowledged batch again. */
static void test_strict_ack_without_close(void)
{
    char dir[128], copy[160];
    fresh_dir(dir, sizeof dir, "strict-noclose");
    snprintf(copy, sizeof copy, "%s-copy", dir);
    remove_dir(copy);
    struct spool *s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 0, NULL);
    CHECK(s != NULL);
    if (!s) return;
    for (uint64_t b = 0; b < 50; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    const struct spool_sample *v;
    size_t n;
    for (int i = 0; i < 23; i++) {
        CHECK(spool_peek(s, &v, &n));
        CHECK(spool_ack(s));
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", dir, copy);
    CHECK(system(cmd) == 0);
    spool_close(s);

    s = open_spool(copy, HIST_DURABILITY_STRICT, 0, 0, NULL);
    CHECK(s != NULL);
    if (!s) return;
    uint64_t ids[100];
    size_t count = drain(s, MAX_BATCH, ids, 100);
    CHECK(check_ids(ids, count, 23, 49));
    spool_close(s);
    remove_dir(copy);
    remove_dir(dir);
}

static void test_max_bytes(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "max-bytes");
    const uint64_t max_bytes = 40000, segment_bytes = 5000;
    struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, max_bytes, segment_bytes, NULL);
    CHECK(s != NULL);
    if (!s) return;
    uint64_t appended = 0, dropped_total = 0;
    const struct spool_sample *v;
    size_t n;
    bool bounded = true;
    for (uint64_t b = 0; b < 600; b++) {
        struct batch batch;
        make_batch(b, MAX_BATCH, &batch);
        uint64_t dropped = 0;
        CHECK(spool_append(s, batch.s, batch.n, &dropped));
        appended += batch.n;
        dropped_total += dropped;
        struct spool_stats st;
        spool_get_stats(s, &st);
        bounded = bounded && st.bytes <= max_bytes;
        /* Read and acknowledge a few now and then: dropping must cope with
         * a read position inside the oldest segment. */
        if (b % 50 == 10) {
            CHECK(spool_peek(s, &v, &n));
            CHECK(identify(v, n, MAX_BATCH) != UINT64_MAX);
            CHECK(spool_ack(s));
            appended -= n;
        }
    }
    CHECK(bounded);
    CHECK(dropped_total > 0);
    struct spool_stats st;
    spool_get_stats(s, &st);
    CHECK_EQ_INT(st.dropped_samples, dropped_total);
    CHECK_EQ_INT(st.pending_samples + dropped_total, appended);

    /* What is left is the newest batches, contiguous up to the last one. */
    uint64_t ids[600];
    size_t count = drain(s, MAX_BATCH, ids, 600);
    CHECK(count > 10);
    CHECK(count > 0 && check_ids(ids, count, 600 - count, 599));
    uint64_t read_samples = 0;
    for (size_t i = 0; i < count && i < 600; i++) {
        struct batch batch;
        make_batch(ids[i] == UINT64_MAX ? 0 : ids[i], MAX_BATCH, &batch);
        read_samples += batch.n;
    }
    CHECK_EQ_INT(read_samples + dropped_total, appended);

    /* A batch bigger than max_bytes alone is kept (the newest data is). */
    static char big[5000];
    memset(big, 'x', sizeof big);
    struct spool_sample one = {.path = "big", .ts_ns = 7, .quality = QUALITY_GOOD};
    one.value = (struct value){.type = VALUE_STRING};
    one.value.as.str.ptr = big;
    one.value.as.str.len = sizeof big;
    struct spool *tiny = s;
    spool_close(tiny);
    s = open_spool(dir, HIST_DURABILITY_BATCHED, 3000, 1000, NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(append_batch(s, 1, MAX_BATCH, NULL));
    uint64_t dropped = 0;
    CHECK(spool_append(s, &one, 1, &dropped));
    struct batch first;
    make_batch(1, MAX_BATCH, &first);
    CHECK_EQ_INT(dropped, first.n);
    CHECK(spool_peek(s, &v, &n));
    CHECK(n == 1 && v[0].value.as.str.len == sizeof big);
    CHECK(spool_ack(s));
    CHECK(!spool_peek(s, &v, &n));
    spool_close(s);
    remove_dir(dir);
}

/* Reads a whole file; NULL when it cannot. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return data;
}

static bool write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Writes batches 0..count-1 in one segment of dir and returns that file's
 * bytes, with the offsets where records start in starts[0..count]
 * (starts[count] is the file's length). */
static uint8_t *one_segment_of(const char *dir, uint64_t count, size_t *len, size_t *starts)
{
    struct spool *s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 0, NULL);
    if (!s) return NULL;
    for (uint64_t b = 0; b < count; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    spool_close(s);
    char path[256];
    snprintf(path, sizeof path, "%s/spool-%016x.seg", dir, 1);
    uint8_t *data = read_file(path, len);
    if (!data) return NULL;
    size_t pos = 16;
    for (uint64_t i = 0; i < count; i++) {
        starts[i] = pos;
        pos += 20 + le32(data + pos + 4);
    }
    starts[count] = pos;
    CHECK_EQ_INT(pos, *len);
    return data;
}

static void test_torn_tail(void)
{
    char src[128], dir[128], seg[256];
    fresh_dir(src, sizeof src, "torn-src");
    fresh_dir(dir, sizeof dir, "torn");
    size_t len, starts[6];
    uint8_t *data = one_segment_of(src, 5, &len, starts);
    CHECK(data != NULL);
    if (!data) return;
    snprintf(seg, sizeof seg, "%s/spool-%016x.seg", dir, 1);
    int bad_cuts = 0;
    for (size_t cut = starts[4]; cut < len; cut++) {
        remove_dir(dir);
        mkdir(dir, 0755);
        write_file(seg, data, cut);
        struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
        CHECK(s != NULL);
        if (!s) return;
        struct spool_stats st;
        spool_get_stats(s, &st);
        /* The tail was cut off the file, so a later open counts nothing. */
        size_t after_len = 0;
        uint8_t *after = read_file(seg, &after_len);
        free(after);
        uint64_t ids[10];
        size_t count = drain(s, MAX_BATCH, ids, 10);
        bool ok = check_ids(ids, count, 0, 3) && st.pending_batches == 4 &&
                  st.corrupt_records == (cut > starts[4] ? 1u : 0u) && after &&
                  after_len == starts[4];
        if (!ok) {
            fprintf(stderr, "torn at %zu: %zu batches, %" PRIu64 " corrupt, file %zu bytes\n", cut,
                    count, st.corrupt_records, after_len);
            bad_cuts++;
        }
        spool_close(s);
    }
    CHECK_EQ_INT(bad_cuts, 0);
    free(data);
    remove_dir(src);
    remove_dir(dir);
}

static void test_flipped_byte(void)
{
    char src[128], dir[128], seg[256];
    fresh_dir(src, sizeof src, "flip-src");
    fresh_dir(dir, sizeof dir, "flip");
    size_t len, starts[6];
    uint8_t *data = one_segment_of(src, 5, &len, starts);
    CHECK(data != NULL);
    if (!data) return;
    snprintf(seg, sizeof seg, "%s/spool-%016x.seg", dir, 1);
    int bad = 0;
    for (size_t at = starts[2]; at < starts[3]; at++) {
        remove_dir(dir);
        mkdir(dir, 0755);
        data[at] ^= 0x20;
        write_file(seg, data, len);
        data[at] ^= 0x20;
        struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
        CHECK(s != NULL);
        if (!s) return;
        uint64_t ids[10];
        size_t count = drain(s, MAX_BATCH, ids, 10);
        struct spool_stats st;
        spool_get_stats(s, &st);
        bool ok = count == 4 && ids[0] == 0 && ids[1] == 1 && ids[2] == 3 && ids[3] == 4 &&
                  st.corrupt_records == 1;
        if (!ok) {
            fprintf(stderr, "flipped byte at %zu: %zu batches, %" PRIu64 " corrupt\n", at, count,
                    st.corrupt_records);
            bad++;
        }
        spool_close(s);
    }
    CHECK_EQ_INT(bad, 0);

    /* A damaged segment header: the file is not ours, counted. */
    remove_dir(dir);
    mkdir(dir, 0755);
    data[0] ^= 1;
    write_file(seg, data, len);
    struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
    CHECK(s != NULL);
    if (s) {
        struct spool_stats st;
        spool_get_stats(s, &st);
        CHECK_EQ_INT(st.corrupt_records, 1);
        CHECK_EQ_INT(st.pending_batches, 0);
        spool_close(s);
    }
    /* A damaged cursor: reading starts over from the oldest batch. */
    remove_dir(dir);
    data[0] ^= 1;
    s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
    if (s) {
        for (uint64_t b = 0; b < 5; b++)
            CHECK(append_batch(s, b, MAX_BATCH, NULL));
        const struct spool_sample *v;
        size_t n;
        CHECK(spool_peek(s, &v, &n) && spool_ack(s));
        spool_close(s);
    }
    char cursor[256];
    snprintf(cursor, sizeof cursor, "%s/CURSOR", dir);
    size_t clen;
    uint8_t *c = read_file(cursor, &clen);
    CHECK(c != NULL && clen == 28);
    if (c) {
        c[10] ^= 4;
        write_file(cursor, c, clen);
        free(c);
    }
    s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 0, NULL);
    CHECK(s != NULL);
    if (s) {
        uint64_t ids[10];
        size_t count = drain(s, MAX_BATCH, ids, 10);
        CHECK(check_ids(ids, count, 0, 4));
        spool_close(s);
    }
    free(data);
    remove_dir(src);
    remove_dir(dir);
}

static void test_write_errors(int error)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, error == EIO ? "eio" : "enospc");
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    CHECK(f != NULL);
    if (!f) return;
    struct spool *s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 3000, hist_io_faults_io(f));
    CHECK(s != NULL);
    if (!s) return;
    for (uint64_t b = 0; b < 5; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));

    /* Writes fail: the batch is refused but held. */
    hist_io_faults_arm(f, HIST_IO_WRITE, 1, UINT32_MAX, error);
    CHECK(!append_batch(s, 5, MAX_BATCH, NULL));
    struct spool_stats st;
    spool_get_stats(s, &st);
    CHECK(st.degraded);
    CHECK(st.last_error[0] != 0);
    CHECK_EQ_INT(st.pending_batches, 6);
    spool_maintain(s); /* still failing */
    spool_get_stats(s, &st);
    CHECK(st.degraded);

    /* Disk back: maintain writes it. */
    hist_io_faults_disarm(f);
    spool_maintain(s);
    spool_get_stats(s, &st);
    CHECK(!st.degraded);
    CHECK(append_batch(s, 6, MAX_BATCH, NULL));

    /* fsync fails under strict: refused, held, then written once. */
    hist_io_faults_arm(f, HIST_IO_FSYNC, 1, 1, error);
    CHECK(!append_batch(s, 7, MAX_BATCH, NULL));
    spool_maintain(s);
    spool_get_stats(s, &st);
    CHECK(!st.degraded);

    /* A short write leaves part of a record: cut off before the retry. */
    hist_io_faults_short_write(f, 1);
    hist_io_faults_arm(f, HIST_IO_WRITE, 2, 1, error);
    CHECK(!append_batch(s, 8, MAX_BATCH, NULL));
    spool_maintain(s);

    /* While the disk fails, batches still come out in order from memory. */
    for (uint64_t b = 9; b < 12; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    uint64_t ids[40];
    size_t count = 0;
    const struct spool_sample *v;
    size_t n;
    for (int i = 0; i < 12; i++) {
        CHECK(spool_peek(s, &v, &n));
        ids[count++] = identify(v, n, MAX_BATCH);
        CHECK(spool_ack(s));
    }
    hist_io_faults_arm(f, HIST_IO_WRITE, 1, UINT32_MAX, error);
    CHECK(!append_batch(s, 12, MAX_BATCH, NULL));
    CHECK(!append_batch(s, 13, MAX_BATCH, NULL));
    CHECK(spool_peek(s, &v, &n)); /* from memory */
    ids[count++] = identify(v, n, MAX_BATCH);
    hist_io_faults_disarm(f);
    CHECK(append_batch(s, 14, MAX_BATCH, NULL)); /* writes 12, 13, 14 */
    CHECK(spool_ack(s));                         /* acknowledges 12, now on disk */
    count += drain(s, MAX_BATCH, ids + count, 40 - count);
    CHECK(check_ids(ids, count, 0, 14));

    /* Again, the peeked batch acknowledged while still in memory. */
    hist_io_faults_arm(f, HIST_IO_WRITE, 1, UINT32_MAX, error);
    CHECK(!append_batch(s, 15, MAX_BATCH, NULL));
    CHECK(!append_batch(s, 16, MAX_BATCH, NULL));
    CHECK(spool_peek(s, &v, &n));
    CHECK_EQ_INT(identify(v, n, MAX_BATCH), 15);
    CHECK(spool_ack(s));
    hist_io_faults_disarm(f);
    spool_maintain(s);
    spool_close(s);

    s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 3000, NULL);
    CHECK(s != NULL);
    if (s) {
        count = drain(s, MAX_BATCH, ids, 40);
        CHECK(check_ids(ids, count, 16, 16));
        spool_get_stats(s, &st);
        CHECK_EQ_INT(st.corrupt_records, 0);
        spool_close(s);
    }
    hist_io_faults_free(f);
    remove_dir(dir);
}

/* Power cuts at random writes under strict: after reopening, exactly the
 * batches whose append returned true and that were not acknowledged (ack
 * returned true) come back, in order. */
static void test_power_cuts(void)
{
    uint64_t seed = 12345;
    int failures = 0;
    for (int round = 0; round < 40; round++) {
        char dir[128];
        fresh_dir(dir, sizeof dir, "power");
        struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
        if (!f) return;
        struct spool *s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 1500, hist_io_faults_io(f));
        CHECK(s != NULL);
        if (!s) return;
        hist_io_faults_power_cut_after_writes(f, 1 + (uint32_t)(splitmix(&seed) % 250));
        uint64_t appended[400];
        size_t appended_count = 0, acked = 0, next = 0;
        bool dead = false, ack_failed = false;
        while (!dead && appended_count < 400) {
            if (splitmix(&seed) % 3 != 0) {
                if (append_batch(s, next, MAX_BATCH, NULL))
                    appended[appended_count++] = next;
                else
                    dead = true;
                next++;
            } else if (acked < appended_count) {
                const struct spool_sample *v;
                size_t n;
                if (!spool_peek(s, &v, &n)) {
                    dead = true;
                } else {
                    if (identify(v, n, MAX_BATCH) != appended[acked]) failures++;
                    if (spool_ack(s))
                        acked++;
                    else
                        dead = ack_failed = true;
                }
            }
        }
        spool_close(s);
        hist_io_faults_free(f);

        s = open_spool(dir, HIST_DURABILITY_STRICT, 0, 1500, NULL);
        CHECK(s != NULL);
        if (!s) return;
        uint64_t ids[400];
        size_t count = drain(s, MAX_BATCH, ids, 400);
        /* A failed ack (the cursor could not be saved) may or may not
         * have acknowledged its batch. */
        size_t first = acked;
        if (ack_failed && count + acked + 1 == appended_count) first++;
        bool ok = count == appended_count - first;
        for (size_t i = 0; ok && i < count; i++)
            ok = ids[i] == appended[first + i];
        struct spool_stats st;
        spool_get_stats(s, &st);
        if (!ok || st.corrupt_records != 0) {
            fprintf(stderr, "power cut round %d: %zu appended, %zu acked, %zu read back\n", round,
                    appended_count, acked, count);
            failures++;
        }
        spool_close(s);
        remove_dir(dir);
    }
    CHECK_EQ_INT(failures, 0);
}

static void test_alloc_failures(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "alloc");
    struct spool *s = open_spool(dir, HIST_DURABILITY_BATCHED, 0, 2000, NULL);
    CHECK(s != NULL);
    if (!s) return;
    for (uint64_t b = 0; b < 20; b++)
        CHECK(append_batch(s, b, MAX_BATCH, NULL));
    spool_close(s);

    /* open (of a spool with data: listing and scanning allocate) */
    s = NULL;
    int attempts = 0;
    for (uint64_t n = 1; n < 200 && !s; n++) {
        char err[256] = "";
        struct spool_options o;
        spool_options_init(&o);
        o.dir = dir;
        o.segment_bytes = 2000;
        hist_alloc_fail_at(n, 1);
        s = spool_open(&o, err, sizeof err);
        hist_alloc_fail_at(0, 0);
        if (!s) CHECK(strstr(err, "out of memory") != NULL);
        attempts++;
    }
    CHECK(s != NULL);
    CHECK(attempts > 3);
    if (!s) return;

    /* peek (nothing allocated for reading yet) */
    const struct spool_sample *v = NULL;
    size_t n = 0;
    bool got = false;
    for (uint64_t k = 1; k < 100 && !got; k++) {
        hist_alloc_fail_at(k, 1);
        got = spool_peek(s, &v, &n);
        hist_alloc_fail_at(0, 0);
    }
    CHECK(got);
    CHECK(got && identify(v, n, MAX_BATCH) == 0);
    CHECK(spool_ack(s));

    /* append (a larger batch than before: buffers must grow) */
    struct spool_sample big[300];
    for (int i = 0; i < 300; i++) {
        big[i] = (struct spool_sample){.path = test_paths[i % TEST_PATH_COUNT],
                                       .value = value_int64(i),
                                       .ts_ns = (int64_t)(20 * TS_PER_BATCH) + i,
                                       .quality = QUALITY_GOOD};
    }
    big[0].ts_ns = 77; /* not a generated batch */
    bool appended = false;
    struct spool_stats before;
    spool_get_stats(s, &before);
    for (uint64_t k = 1; k < 100 && !appended; k++) {
        hist_alloc_fail_at(k, 1);
        appended = spool_append(s, big, 300, NULL);
        hist_alloc_fail_at(0, 0);
        struct spool_stats st;
        spool_get_stats(s, &st);
        if (!appended) CHECK_EQ_INT(st.pending_batches, before.pending_batches);
    }
    CHECK(appended);

    uint64_t ids[40];
    size_t count = 0;
    bool big_seen = false;
    while (spool_peek(s, &v, &n)) {
        if (n == 300 && v[0].ts_ns == 77) {
            CHECK(!big_seen);
            big_seen = true;
            bool same = true;
            for (int i = 0; i < 300; i++)
                same = same && sample_equal(&v[i], &big[i]);
            CHECK(same);
        } else if (count < 40) {
            ids[count++] = identify(v, n, MAX_BATCH);
        }
        CHECK(spool_ack(s));
    }
    CHECK(big_seen);
    CHECK(check_ids(ids, count, 1, 19));
    spool_close(s);
    remove_dir(dir);
}

int main(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/airlock-spool-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    memset(long_path, 'p', sizeof long_path - 1);
    for (size_t i = 10; i < sizeof long_path - 1; i += 10)
        long_path[i] = '/';
    test_round_trip();
    test_compact_encoding();
    test_reopen(HIST_DURABILITY_STRICT);
    test_reopen(HIST_DURABILITY_BATCHED);
    test_strict_ack_without_close();
    test_max_bytes();
    test_torn_tail();
    test_flipped_byte();
    test_write_errors(EIO);
    test_write_errors(ENOSPC);
    test_power_cuts();
    test_alloc_failures();
    remove_dir(test_dir);
    return test_summary();
}
