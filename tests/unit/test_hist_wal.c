/* Unit tests of the historian's write-ahead log: payload round trips of
 * every value type, append/flush/replay bit-exact, torn tails at every
 * byte, corrupt records, several files in seq order, deleting old files,
 * injected write and fsync errors and short writes (nothing lost, nothing
 * twice, no torn record in the middle), and allocation failures injected
 * one by one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_alloc.h"
#include "historian/hist_codec.h"
#include "historian/hist_io.h"
#include "historian/hist_wal.h"
#include "testlib.h"

static char test_dir[64];

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* Samples with their strings owned (deep copies), to compare against. */
struct sample_list {
    struct hist_sample *items;
    size_t count, cap;
};

static void list_clear(struct sample_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].value.type == VALUE_STRING) free((void *)l->items[i].value.as.str.ptr);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static void list_push(struct sample_list *l, const struct hist_sample *s)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = realloc(l->items, l->cap * sizeof(*l->items));
        if (!l->items) abort();
    }
    struct hist_sample copy = *s;
    if (s->value.type == VALUE_STRING) {
        char *p = malloc(s->value.as.str.len + 1u);
        if (!p) abort();
        if (s->value.as.str.len) memcpy(p, s->value.as.str.ptr, s->value.as.str.len);
        copy.value.as.str.ptr = p;
    }
    l->items[l->count++] = copy;
}

static bool collect(void *ctx, const struct hist_sample *s)
{
    list_push(ctx, s);
    return true;
}

/* Bit-exact equality (doubles by bit pattern, strings by bytes). */
static bool sample_equal(const struct hist_sample *a, const struct hist_sample *b)
{
    if (a->series != b->series || a->quality != b->quality || a->ts_ns != b->ts_ns ||
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

/* True when got[from..from+n) equals want[0..n). */
static bool samples_match(const struct sample_list *got, size_t from,
                          const struct hist_sample *want, size_t n)
{
    if (got->count < from + n) return false;
    for (size_t i = 0; i < n; i++)
        if (!sample_equal(&got->items[from + i], &want[i])) return false;
    return true;
}

static const char string_pool[] = "abc\0def\0\0\xff\x80 sensor/1 a somewhat longer string value";

/* A random sample of any type, edge cases often. */
static struct hist_sample random_sample(int64_t *ts)
{
    struct hist_sample s = {0};
    uint64_t r = rng_next();
    switch (r % 4) {
    case 0:
        s.series = (uint32_t)(rng_next() % 8);
        break;
    case 1:
        s.series = (uint32_t)rng_next();
        break;
    case 2:
        s.series = UINT32_MAX - (uint32_t)(rng_next() % 3);
        break;
    default:
        s.series = (uint32_t)(rng_next() % 100000);
    }
    static const quality_t qualities[] = {QUALITY_GOOD, QUALITY_BAD_TIMEOUT, QUALITY_UNCERTAIN,
                                          0xFFFFFFFFu};
    s.quality = qualities[(r >> 8) % 4];
    switch ((r >> 16) % 5) {
    case 0:
        *ts = (int64_t)((uint64_t)*ts + 1000000000u);
        break;
    case 1:
        *ts = (int64_t)((uint64_t)*ts - rng_next() % 5000000000ull); /* decreasing */
        break;
    case 2:
        *ts = (int64_t)rng_next();
        break;
    case 3:
        *ts = (r >> 20) & 1 ? INT64_MAX : INT64_MIN;
        break;
    default:
        *ts = (int64_t)((uint64_t)*ts + rng_next() % 1000);
    }
    s.ts_ns = *ts;
    uint64_t v = rng_next();
    switch ((r >> 24) % 5) {
    case 0:
        s.value = value_bool((v & 1) != 0);
        break;
    case 1: {
        static const int64_t edges[] = {0, -1, 1, INT64_MIN, INT64_MAX, 63, -64, 64};
        s.value = value_int64((v & 8) ? edges[v % 8] : (int64_t)rng_next());
        break;
    }
    case 2: {
        static const uint64_t edges[] = {0, 1, UINT64_MAX, 127, 128, 1ull << 63};
        s.value = value_uint64((v & 8) ? edges[v % 6] : rng_next());
        break;
    }
    case 3: {
        double d;
        if (v % 4 == 0) {
            uint64_t bits = rng_next(); /* any bit pattern: NaN payloads, subnormals, -0 */
            memcpy(&d, &bits, sizeof d);
        } else if (v % 4 == 1) {
            static const double edges[] = {0.0, -0.0, INFINITY, -INFINITY, 1e-310, 21.5};
            d = edges[(v >> 8) % 6];
        } else {
            d = (double)(int64_t)(rng_next() % 100000) / 100.0;
        }
        s.value = value_double(d);
        break;
    }
    default: {
        size_t off = (size_t)(v % sizeof(string_pool));
        size_t len = (size_t)((v >> 16) % (sizeof(string_pool) - off));
        s.value.type = VALUE_STRING;
        s.value.as.str.ptr = string_pool + off;
        s.value.as.str.len = (uint32_t)len; /* may be 0 */
    }
    }
    return s;
}

static void path_of(char *out, size_t len, const char *dir, uint64_t seq)
{
    snprintf(out, len, "%s/wal-%016" PRIx64 ".log", dir, seq);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Removes every file of dir (not recursive) and dir itself. */
static void remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* A fresh empty directory under the test directory. */
static void fresh_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", test_dir, name);
    remove_dir(out);
    if (mkdir(out, 0755) != 0) perror(out);
}

static struct hist_wal_replay_stats replay_all(const struct hist_io *io, const char *dir,
                                               uint64_t after, struct sample_list *out, bool *ok)
{
    struct hist_wal_replay_stats st;
    char err[256] = "";
    *ok = hist_wal_replay(io, dir, after, collect, out, &st, err, sizeof err);
    if (!*ok) fprintf(stderr, "replay: %s\n", err);
    return st;
}

static struct hist_wal *open_wal(const struct hist_io *io, const char *dir, uint64_t seq)
{
    char err[256] = "";
    struct hist_wal *w = hist_wal_open(io, dir, seq, err, sizeof err);
    if (!w) fprintf(stderr, "open: %s\n", err);
    return w;
}

/* ---- tests ---- */

static void test_payload_round_trip(void)
{
    struct hc_buf buf;
    hc_buf_init(&buf);
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(rng_next() % 60);
        struct hist_sample batch[60];
        int64_t ts = (int64_t)rng_next();
        for (size_t i = 0; i < n; i++)
            batch[i] = random_sample(&ts);
        buf.len = 0;
        CHECK(hist_wal_encode_payload(&buf, batch, n));
        struct sample_list got = {0};
        CHECK(hist_wal_decode_payload(buf.data, buf.len, collect, &got));
        CHECK_EQ_INT(got.count, n);
        CHECK(samples_match(&got, 0, batch, n));
        /* Every strict prefix is malformed (no record decodes from part of itself). */
        bool prefix_rejected = true;
        for (size_t cut = 0; cut < buf.len; cut++)
            if (hist_wal_decode_payload(buf.data, cut, NULL, NULL)) prefix_rejected = false;
        CHECK(prefix_rejected);
        list_clear(&got);
    }
    /* A regular series costs few bytes per sample. */
    struct hist_sample regular[100];
    for (int i = 0; i < 100; i++)
        regular[i] = (struct hist_sample){
            .series = (uint32_t)i, .ts_ns = 1700000000000000000LL, .value = value_bool(i & 1)};
    buf.len = 0;
    CHECK(hist_wal_encode_payload(&buf, regular, 100));
    CHECK(buf.len <= 1 + 8 + 100 * 2);
    /* Malformed inputs. */
    static const uint8_t reserved_bit[] = {1, 0x80, 0};
    static const uint8_t bad_type[] = {1, 0x05, 0};
    static const uint8_t trailing[] = {0, 0};
    static const uint8_t huge_count[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    static const uint8_t bool_bit_on_int[] = {1, 0x41, 0, 0};
    static const uint8_t string_too_long[] = {1, 0x0c, 0, 5, 'a'};
    CHECK(!hist_wal_decode_payload(reserved_bit, sizeof reserved_bit, NULL, NULL));
    CHECK(!hist_wal_decode_payload(bad_type, sizeof bad_type, NULL, NULL));
    CHECK(!hist_wal_decode_payload(trailing, sizeof trailing, NULL, NULL));
    CHECK(!hist_wal_decode_payload(huge_count, sizeof huge_count, NULL, NULL));
    CHECK(!hist_wal_decode_payload(bool_bit_on_int, sizeof bool_bit_on_int, NULL, NULL));
    CHECK(!hist_wal_decode_payload(string_too_long, sizeof string_too_long, NULL, NULL));
    CHECK(!hist_wal_decode_payload(NULL, 0, NULL, NULL));
    static const uint8_t empty_record[] = {0};
    CHECK(hist_wal_decode_payload(empty_record, 1, NULL, NULL));
    hc_buf_free(&buf);
}

/* Random batches through append/flush/close/replay, bit-exact. */
static void test_file_round_trip(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "roundtrip");
    const struct hist_io *io = hist_io_posix();
    struct hist_wal *w = open_wal(io, dir, 7);
    CHECK(w != NULL);
    if (!w) return;
    CHECK_EQ_INT(hist_wal_seq(w), 7);
    CHECK_EQ_INT(hist_wal_file_bytes(w), 16);
    struct sample_list want = {0};
    size_t records = 0;
    int64_t ts = 0;
    for (int batch = 0; batch < 200; batch++) {
        size_t n = (size_t)(rng_next() % 40);
        struct hist_sample s[40];
        for (size_t i = 0; i < n; i++) {
            s[i] = random_sample(&ts);
            list_push(&want, &s[i]);
        }
        CHECK(hist_wal_append(w, s, n));
        records++;
        if (batch % 17 == 0) {
            int err = 0;
            CHECK(hist_wal_flush(w, batch % 34 == 0, &err));
            CHECK_EQ_INT(hist_wal_pending_bytes(w), 0);
        }
    }
    CHECK(hist_wal_pending_bytes(w) > 0);
    uint64_t before_close = hist_wal_file_bytes(w) + hist_wal_pending_bytes(w);
    hist_wal_close(w);
    char path[256];
    path_of(path, sizeof path, dir, 7);
    CHECK_EQ_INT(file_size(path), before_close);

    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(io, dir, 0, &got, &ok);
    CHECK(ok);
    CHECK_EQ_INT(st.files, 1);
    CHECK_EQ_INT(st.records, records);
    CHECK_EQ_INT(st.samples, want.count);
    CHECK_EQ_INT(st.torn_records, 0);
    CHECK_EQ_INT(st.max_seq, 7);
    CHECK_EQ_INT(got.count, want.count);
    CHECK(samples_match(&got, 0, want.items, want.count));
    list_clear(&got);
    list_clear(&want);
    remove_dir(dir);
}

/* Writes a log with three records of known samples and returns the file's
 * record boundaries in bounds[0..3] (bounds[0] = 16, end of header). */
static void write_three_records(const char *dir, uint64_t seq, struct hist_sample rec[3][4],
                                long long bounds[4])
{
    struct hist_wal *w = open_wal(hist_io_posix(), dir, seq);
    if (!w) return;
    bounds[0] = 16;
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 4; i++)
            rec[r][i] = (struct hist_sample){.series = (uint32_t)(seq * 10 + (uint64_t)r),
                                             .quality = QUALITY_GOOD,
                                             .ts_ns = (int64_t)(seq * 1000 + (uint64_t)(r * 4 + i)),
                                             .value = value_double(r + i * 0.5)};
        hist_wal_append(w, rec[r], 4);
        int err;
        hist_wal_flush(w, false, &err);
        bounds[r + 1] = (long long)hist_wal_file_bytes(w);
    }
    hist_wal_close(w);
}

static void test_torn_tail(void)
{
    char dir[128], path[256];
    fresh_dir(dir, sizeof dir, "torn");
    struct hist_sample rec[3][4];
    long long bounds[4];
    write_three_records(dir, 1, rec, bounds);
    path_of(path, sizeof path, dir, 1);
    CHECK_EQ_INT(file_size(path), bounds[3]);
    int cases = 0, good = 0;
    for (long long cut = bounds[2]; cut < bounds[3]; cut++) {
        write_three_records(dir, 1, rec, bounds);
        if (truncate(path, cut) != 0) perror("truncate");
        struct sample_list got = {0};
        bool ok;
        struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
        cases++;
        bool exact = ok && got.count == 8 && samples_match(&got, 0, rec[0], 4) &&
                     samples_match(&got, 4, rec[1], 4) && st.records == 2 &&
                     st.torn_records == (cut == bounds[2] ? 0u : 1u);
        if (exact) good++;
        list_clear(&got);
    }
    CHECK(cases > 10);
    CHECK_EQ_INT(good, cases);

    /* A file cut inside its header is skipped and counted as torn. */
    write_three_records(dir, 1, rec, bounds);
    if (truncate(path, 10) != 0) perror("truncate");
    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok);
    CHECK_EQ_INT(got.count, 0);
    CHECK_EQ_INT(st.torn_records, 1);
    CHECK_EQ_INT(st.files, 1);
    list_clear(&got);
    remove_dir(dir);
}

/* Flips one byte of the file at off. */
static void flip_byte(const char *path, long long off)
{
    FILE *fp = fopen(path, "r+b");
    if (!fp) return;
    fseek(fp, (long)off, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, (long)off, SEEK_SET);
    fputc(c ^ 0x20, fp);
    fclose(fp);
}

static void test_flipped_byte(void)
{
    char dir[128], path[256];
    fresh_dir(dir, sizeof dir, "flip");
    struct hist_sample rec[3][4];
    long long bounds[4];
    path_of(path, sizeof path, dir, 1);
    write_three_records(dir, 1, rec, bounds);
    /* A flip anywhere in record 2 (header or payload) stops the file there. */
    int cases = 0, good = 0;
    for (long long off = bounds[1]; off < bounds[2]; off++) {
        write_three_records(dir, 1, rec, bounds);
        flip_byte(path, off);
        struct sample_list got = {0};
        bool ok;
        struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
        cases++;
        if (ok && got.count == 4 && samples_match(&got, 0, rec[0], 4) && st.torn_records == 1 &&
            st.records == 1)
            good++;
        list_clear(&got);
    }
    CHECK(cases > 10);
    CHECK_EQ_INT(good, cases);
    /* A flipped header byte skips the file. */
    write_three_records(dir, 1, rec, bounds);
    flip_byte(path, 9);
    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok && got.count == 0 && st.torn_records == 1);
    list_clear(&got);
    remove_dir(dir);
}

static bool stop_after_five(void *ctx, const struct hist_sample *s)
{
    (void)s;
    int *calls = ctx;
    return ++*calls < 5;
}

static void test_multiple_files_and_delete(void)
{
    char dir[128], path[256];
    fresh_dir(dir, sizeof dir, "multi");
    static const uint64_t seqs[] = {0x20, 3, 0x1000000000ull, 9, 4};
    struct hist_sample rec[5][3][4];
    long long bounds[4];
    for (int i = 0; i < 5; i++)
        write_three_records(dir, seqs[i], rec[i], bounds);
    /* Files that are not logs are left alone. */
    char other[256];
    snprintf(other, sizeof other, "%s/wal-00000000000000zz.log", dir);
    fclose(fopen(other, "w"));
    snprintf(other, sizeof other, "%s/segment-1.seg", dir);
    fclose(fopen(other, "w"));

    static const int order[] = {1, 4, 3, 0, 2}; /* indices of seqs, ascending */
    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok);
    CHECK_EQ_INT(st.files, 5);
    CHECK_EQ_INT(st.records, 15);
    CHECK_EQ_INT(st.max_seq, 0x1000000000ull);
    bool in_order = got.count == 60;
    for (int k = 0; k < 5 && in_order; k++)
        for (int r = 0; r < 3; r++)
            if (!samples_match(&got, (size_t)(k * 12 + r * 4), rec[order[k]][r], 4))
                in_order = false;
    CHECK(in_order);
    list_clear(&got);

    /* after_seq skips files with seq <= it. */
    st = replay_all(hist_io_posix(), dir, 9, &got, &ok);
    CHECK(ok);
    CHECK_EQ_INT(st.files, 2);
    CHECK_EQ_INT(st.max_seq, 0x1000000000ull);
    CHECK(got.count == 24 && samples_match(&got, 0, rec[0][0], 4) &&
          samples_match(&got, 12, rec[2][0], 4));
    list_clear(&got);

    /* fn returning false stops the replay. */
    int calls = 0;
    char err[128] = "";
    ok = hist_wal_replay(hist_io_posix(), dir, 0, stop_after_five, &calls, NULL, err, sizeof err);
    CHECK(!ok);
    CHECK_EQ_INT(calls, 5);
    CHECK(err[0] != 0);

    int e = 0;
    CHECK(hist_wal_delete_upto(hist_io_posix(), dir, 9, &e));
    for (int i = 0; i < 5; i++) {
        path_of(path, sizeof path, dir, seqs[i]);
        CHECK_EQ_INT(file_size(path) >= 0, seqs[i] > 9);
    }
    snprintf(other, sizeof other, "%s/wal-00000000000000zz.log", dir);
    CHECK(file_size(other) == 0);
    st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok && st.files == 2 && got.count == 24);
    list_clear(&got);
    CHECK(hist_wal_delete_upto(hist_io_posix(), dir, UINT64_MAX, &e));
    st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok && st.files == 0 && st.max_seq == 0 && got.count == 0);
    remove_dir(dir);
}

/* Appends batch number b (4 double samples of series b) and remembers it. */
static void append_batch(struct hist_wal *w, int b, struct sample_list *want)
{
    struct hist_sample s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct hist_sample){.series = (uint32_t)b,
                                    .quality = QUALITY_GOOD,
                                    .ts_ns = (int64_t)b * 100 + i,
                                    .value = value_double(b * 1.25 + i)};
        list_push(want, &s[i]);
    }
    CHECK(hist_wal_append(w, s, 4));
}

/* Replays dir and checks that it returns want exactly (each once, in order). */
static void check_replay_exact(const char *dir, const struct sample_list *want)
{
    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok);
    CHECK_EQ_INT(st.torn_records, 0);
    CHECK_EQ_INT(got.count, want->count);
    CHECK(samples_match(&got, 0, want->items, want->count));
    list_clear(&got);
}

static void test_write_errors(int error)
{
    char dir[128], path[256];
    fresh_dir(dir, sizeof dir, "write-errors");
    path_of(path, sizeof path, dir, 1);
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    struct hist_wal *w = open_wal(hist_io_faults_io(f), dir, 1);
    CHECK(w != NULL);
    if (!w) {
        hist_io_faults_free(f);
        return;
    }
    struct sample_list want = {0};
    int err = 0;
    append_batch(w, 1, &want);
    CHECK(hist_wal_flush(w, true, &err));
    uint64_t good_bytes = hist_wal_file_bytes(w);

    /* The disk fails: appends keep working, flushes fail and keep the data. */
    hist_io_faults_arm(f, HIST_IO_WRITE, 1, UINT32_MAX, error);
    for (int b = 2; b < 6; b++) {
        append_batch(w, b, &want);
        err = 0;
        CHECK(!hist_wal_flush(w, b % 2 == 0, &err));
        CHECK_EQ_INT(err, error);
        CHECK(hist_wal_pending_bytes(w) > 0);
        CHECK_EQ_INT(hist_wal_file_bytes(w), good_bytes);
    }
    CHECK_EQ_INT(file_size(path), good_bytes);
    /* Space comes back: one flush writes everything, once. */
    hist_io_faults_disarm(f);
    append_batch(w, 6, &want);
    CHECK(hist_wal_flush(w, true, &err));
    CHECK_EQ_INT(hist_wal_pending_bytes(w), 0);
    CHECK_EQ_INT(file_size(path), hist_wal_file_bytes(w));
    hist_wal_close(w);
    check_replay_exact(dir, &want);
    list_clear(&want);
    hist_io_faults_free(f);
    remove_dir(dir);
}

static void test_short_write_recovery(void)
{
    char dir[128], path[256];
    fresh_dir(dir, sizeof dir, "short-write");
    path_of(path, sizeof path, dir, 1);
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    struct hist_wal *w = open_wal(hist_io_faults_io(f), dir, 1);
    if (!w) {
        hist_io_faults_free(f);
        return;
    }
    struct sample_list want = {0};
    int err = 0;
    append_batch(w, 1, &want);
    CHECK(hist_wal_flush(w, false, &err));
    uint64_t good_bytes = hist_wal_file_bytes(w);
    /* Half of the buffer reaches the file, then the disk is full. */
    append_batch(w, 2, &want);
    append_batch(w, 3, &want);
    append_batch(w, 4, &want); /* three equal records: half of them ends inside one */
    size_t pending = hist_wal_pending_bytes(w);
    hist_io_faults_short_write(f, 1);
    hist_io_faults_arm(f, HIST_IO_WRITE, 2, UINT32_MAX, ENOSPC);
    err = 0;
    CHECK(!hist_wal_flush(w, false, &err));
    CHECK_EQ_INT(err, ENOSPC);
    CHECK_EQ_INT(file_size(path), good_bytes + pending / 2); /* a torn record at the end */
    CHECK_EQ_INT(hist_wal_file_bytes(w), good_bytes);
    /* Replay now sees batch 1 and stops at the torn record... */
    struct sample_list got = {0};
    bool ok;
    struct hist_wal_replay_stats st = replay_all(hist_io_posix(), dir, 0, &got, &ok);
    CHECK(ok && st.torn_records == 1 && got.count >= 4 && samples_match(&got, 0, want.items, 4));
    list_clear(&got);
    /* ...and after recovery there is no torn record in the middle. */
    hist_io_faults_disarm(f);
    append_batch(w, 5, &want);
    CHECK(hist_wal_flush(w, false, &err));
    CHECK_EQ_INT(file_size(path), hist_wal_file_bytes(w));
    hist_wal_close(w);
    check_replay_exact(dir, &want);

    /* A failed truncate keeps the flush failing rather than writing after garbage. */
    w = open_wal(hist_io_faults_io(f), dir, 2);
    list_clear(&want);
    append_batch(w, 1, &want);
    hist_io_faults_short_write(f, 1);
    hist_io_faults_arm(f, HIST_IO_WRITE, 2, 1, EIO);
    CHECK(!hist_wal_flush(w, false, &err));
    hist_io_faults_arm(f, HIST_IO_FTRUNCATE, 1, 1, EIO);
    CHECK(!hist_wal_flush(w, false, &err));
    CHECK(hist_wal_pending_bytes(w) > 0);
    CHECK(hist_wal_flush(w, false, &err));
    hist_wal_close(w);
    CHECK(hist_wal_delete_upto(hist_io_posix(), dir, 1, &err));
    check_replay_exact(dir, &want);
    list_clear(&want);
    hist_io_faults_free(f);
    remove_dir(dir);
}

static void test_fsync_failure(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "fsync");
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    struct hist_wal *w = open_wal(hist_io_faults_io(f), dir, 1);
    if (!w) {
        hist_io_faults_free(f);
        return;
    }
    struct sample_list want = {0};
    int err = 0;
    append_batch(w, 1, &want);
    hist_io_faults_arm(f, HIST_IO_FSYNC, 1, 1, EIO);
    err = 0;
    CHECK(!hist_wal_flush(w, true, &err));
    CHECK_EQ_INT(err, EIO);
    CHECK_EQ_INT(hist_wal_pending_bytes(w), 0); /* written, only not durable */
    uint32_t fsyncs = hist_io_faults_calls(f, HIST_IO_FSYNC);
    /* The next flush fsyncs again, even unasked and with nothing new. */
    CHECK(hist_wal_flush(w, false, &err));
    CHECK(hist_io_faults_calls(f, HIST_IO_FSYNC) > fsyncs);
    fsyncs = hist_io_faults_calls(f, HIST_IO_FSYNC);
    /* Nothing new and nothing failed: no fsync. */
    CHECK(hist_wal_flush(w, true, &err));
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_FSYNC), fsyncs);
    append_batch(w, 2, &want);
    CHECK(hist_wal_flush(w, false, &err));
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_FSYNC), fsyncs);
    CHECK(hist_wal_flush(w, true, &err));
    CHECK_EQ_INT(hist_io_faults_calls(f, HIST_IO_FSYNC), fsyncs + 1);
    hist_wal_close(w);
    check_replay_exact(dir, &want);
    list_clear(&want);

    /* Open fails cleanly when the file cannot be created or its header written. */
    char err_text[256] = "";
    hist_io_faults_arm(f, HIST_IO_OPEN, 1, 1, EACCES);
    CHECK(hist_wal_open(hist_io_faults_io(f), dir, 5, err_text, sizeof err_text) == NULL);
    CHECK(strstr(err_text, "wal-0000000000000005.log") != NULL);
    hist_io_faults_arm(f, HIST_IO_WRITE, 1, 1, ENOSPC);
    CHECK(hist_wal_open(hist_io_faults_io(f), dir, 5, err_text, sizeof err_text) == NULL);
    char path[256];
    path_of(path, sizeof path, dir, 5);
    CHECK_EQ_INT(file_size(path), -1); /* no headerless file left behind */
    hist_io_faults_free(f);
    remove_dir(dir);
}

/* A read error during replay is reported with the file's name. */
static void test_replay_read_error(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "read-error");
    struct hist_sample rec[3][4];
    long long bounds[4];
    write_three_records(dir, 3, rec, bounds);
    struct hist_io_faults *f = hist_io_faults_new(hist_io_posix());
    if (!f) return;
    hist_io_faults_arm(f, HIST_IO_PREAD, 1, 1, EIO);
    struct sample_list got = {0};
    char err[256] = "";
    CHECK(!hist_wal_replay(hist_io_faults_io(f), dir, 0, collect, &got, NULL, err, sizeof err));
    CHECK(strstr(err, "wal-0000000000000003.log") != NULL);
    list_clear(&got);
    hist_io_faults_free(f);
    remove_dir(dir);
}

/* Allocation number n = 1, 2, ... fails (and every later one) until the
 * operation succeeds: never a crash, never a leak (ASan), consistent state. */
static void test_alloc_failures(void)
{
    char dir[128];
    fresh_dir(dir, sizeof dir, "alloc");
    struct hist_sample batch[50];
    int64_t ts = 0;
    for (int i = 0; i < 50; i++)
        batch[i] = random_sample(&ts);

    /* open */
    struct hist_wal *w = NULL;
    int opened_at = 0;
    for (int n = 1; n < 100 && !w; n++) {
        char err[256] = "";
        hist_alloc_fail_at((uint64_t)n, 1);
        w = hist_wal_open(hist_io_posix(), dir, 1, err, sizeof err);
        hist_alloc_fail_at(0, 0);
        if (!w) CHECK(strstr(err, "out of memory") != NULL);
        opened_at = n;
    }
    CHECK(w != NULL);
    CHECK(opened_at > 1);
    if (!w) return;

    /* append: a failed one buffers nothing; the buffer grows step by step. */
    struct sample_list want = {0};
    int failures = 0;
    for (int round = 0; round < 12; round++) {
        size_t before = hist_wal_pending_bytes(w);
        hist_alloc_fail_at(1, 1);
        bool ok = hist_wal_append(w, batch, 50);
        hist_alloc_fail_at(0, 0);
        if (!ok) {
            failures++;
            CHECK_EQ_INT(hist_wal_pending_bytes(w), before);
            CHECK(hist_wal_append(w, batch, 50)); /* memory came back */
        }
        for (int i = 0; i < 50; i++)
            list_push(&want, &batch[i]);
    }
    CHECK(failures > 0);
    hist_wal_close(w);

    /* replay */
    struct hist_sample rec[3][4];
    long long bounds[4];
    write_three_records(dir, 2, rec, bounds);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 4; j++)
            list_push(&want, &rec[i][j]);
    bool done = false;
    for (int n = 1; n < 100 && !done; n++) {
        struct sample_list got = {0};
        char err[256] = "";
        struct hist_wal_replay_stats st;
        hist_alloc_fail_at((uint64_t)n, 1);
        done = hist_wal_replay(hist_io_posix(), dir, 0, collect, &got, &st, err, sizeof err);
        hist_alloc_fail_at(0, 0);
        if (done) {
            CHECK(n > 2);
            CHECK_EQ_INT(got.count, want.count);
            CHECK(samples_match(&got, 0, want.items, want.count));
        } else {
            CHECK(strstr(err, "out of memory") != NULL);
        }
        list_clear(&got);
    }
    CHECK(done);

    /* delete_upto */
    done = false;
    for (int n = 1; n < 100 && !done; n++) {
        int e = 0;
        hist_alloc_fail_at((uint64_t)n, 1);
        done = hist_wal_delete_upto(hist_io_posix(), dir, 1, &e);
        hist_alloc_fail_at(0, 0);
        if (!done) CHECK_EQ_INT(e, ENOMEM);
    }
    CHECK(done);
    list_clear(&want);
    remove_dir(dir);
}

int main(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/airlock-hist-wal-XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_payload_round_trip();
    test_file_round_trip();
    test_torn_tail();
    test_flipped_byte();
    test_multiple_files_and_delete();
    test_write_errors(EIO);
    test_write_errors(ENOSPC);
    test_short_write_recovery();
    test_fsync_failure();
    test_replay_read_error();
    test_alloc_failures();
    remove_dir(test_dir);
    return test_summary();
}
