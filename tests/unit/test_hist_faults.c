/* Fault tests of the historian: with the fault-injecting I/O wrapper
 * (hist_io_faults_* in hist_io.h) as its file system, log writes fail with
 * EIO or ENOSPC, are cut short, fsyncs fail, a checkpoint's segment write
 * runs out of space and a rename fails. Each time the failing call reports
 * it, the store says it is degraded with an error naming the file and the
 * cause, keeps accepting samples in memory and reading them back; once the
 * faults are cleared it recovers, and after a reopen on the real file
 * system every accepted sample is there exactly once. Last, a byte flipped
 * in a chunk of a segment file is detected and skipped while the rest of the
 * store stays readable. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "historian/hist_segment.h"
#include "historian/historian.h"
#include "testlib.h"

#define T0 ((int64_t)1700000000000000000)
#define STEP_NS (100 * HIST_NS_PER_MS)

static const char *const series_paths[2] = {"faults/pump/pressure", "faults/pump/mode"};
static const enum value_type series_types[2] = {VALUE_DOUBLE, VALUE_STRING};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything under it. */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/airlock-faults-XXXXXX");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
}

/* Sample j of series k (strings into buf, 32 bytes). */
static void expected_sample(int k, uint32_t j, uint32_t id, struct hist_sample *out, char *buf)
{
    out->series = id;
    out->ts_ns = T0 + (int64_t)j * STEP_NS;
    out->quality = j % 13 == 0 ? QUALITY_UNCERTAIN : QUALITY_GOOD;
    if (k == 0) {
        out->value = value_double(3.0 + (double)(j % 97) * 0.01);
    } else {
        snprintf(buf, 32, "mode-%u", j % 5);
        out->value = (struct value){.type = VALUE_STRING};
        out->value.as.str.ptr = buf;
        out->value.as.str.len = (uint32_t)strlen(buf);
    }
}

/* A store under test and what it has accepted. */
struct store {
    char dir[64];
    struct hist_options opt;
    struct hist_io_faults *faults;
    struct historian *h;
    uint32_t ids[2];
    uint32_t accepted[2]; /* series k holds samples 0..accepted[k]-1 */
};

static bool store_open(struct store *s)
{
    char err[256] = "";
    s->h = hist_open(&s->opt, err, sizeof err);
    if (!s->h) fprintf(stderr, "hist_open(%s): %s\n", s->dir, err);
    CHECK(s->h != NULL);
    if (!s->h) return false;
    for (int k = 0; k < 2; k++) {
        int64_t id = hist_series(s->h, series_paths[k], series_types[k]);
        CHECK(id >= 0);
        s->ids[k] = (uint32_t)id;
    }
    return true;
}

/* A fresh store on the fault wrapper (strict durability unless changed). */
static bool store_begin(struct store *s, enum hist_durability d)
{
    memset(s, 0, sizeof *s);
    make_temp_dir(s->dir, sizeof s->dir);
    s->faults = hist_io_faults_new(hist_io_posix());
    CHECK(s->faults != NULL);
    hist_options_init(&s->opt);
    s->opt.dir = s->dir;
    s->opt.durability = d;
    s->opt.partition_ns = 20 * HIST_NS_PER_S;
    s->opt.chunk_span_ns = 5 * HIST_NS_PER_S;
    s->opt.chunk_max_samples = 16;
    s->opt.checkpoint_interval_ms = 3600000;
    s->opt.io = hist_io_faults_io(s->faults);
    return store_open(s);
}

/* Appends rounds batches of one sample per series; true when every
 * hist_append reported success. Every sample must be accepted either way. */
static bool store_append(struct store *s, int rounds)
{
    bool all_ok = true;
    for (int r = 0; r < rounds; r++) {
        struct hist_sample batch[2];
        char bufs[2][32];
        for (int k = 0; k < 2; k++)
            expected_sample(k, s->accepted[k], s->ids[k], &batch[k], bufs[k]);
        size_t accepted = 0;
        if (!hist_append(s->h, batch, 2, &accepted)) all_ok = false;
        CHECK_EQ_INT(accepted, 2);
        if (accepted == 2) {
            s->accepted[0]++;
            s->accepted[1]++;
        }
    }
    return all_ok;
}

/* Reads each series whole and checks it holds exactly the accepted
 * samples, in order; skip_from..skip_to (times) of series skip_series are
 * expected to be missing (a corrupt chunk), -1 for none. */
static void store_check(struct store *s, const char *label, int skip_series, int64_t skip_from,
                        int64_t skip_to)
{
    for (int k = 0; k < 2; k++) {
        struct hist_columns c;
        hist_columns_init(&c, series_types[k]);
        char why[256] = "";
        bool ok = hist_read_raw(s->h, s->ids[k], INT64_MIN / 2, INT64_MAX / 2, 0, &c, NULL, why,
                                sizeof why);
        CHECK(ok);
        if (!ok) fprintf(stderr, "%s: read failed: %s\n", label, why);
        uint32_t got = 0;
        bool same = true;
        for (uint32_t j = 0; j < s->accepted[k] && same; j++) {
            struct hist_sample want;
            char buf[32];
            expected_sample(k, j, s->ids[k], &want, buf);
            if (k == skip_series && want.ts_ns >= skip_from && want.ts_ns <= skip_to) continue;
            struct value v = got < c.count ? hist_columns_value(&c, got) : (struct value){0};
            if (got >= c.count || c.ts[got] != want.ts_ns || c.quality[got] != want.quality ||
                !value_equal(&v, &want.value)) {
                fprintf(stderr, "%s: %s: sample %u (time +%" PRId64 " ms) missing or wrong\n",
                        label, series_paths[k], j, (int64_t)((want.ts_ns - T0) / HIST_NS_PER_MS));
                same = false;
            }
            got++;
        }
        if (same && got != c.count) {
            fprintf(stderr, "%s: %s: %u samples read, %u expected (duplicates?)\n", label,
                    series_paths[k], c.count, got);
            same = false;
        }
        CHECK(same);
        hist_columns_free(&c);
    }
}

/* Expects the store degraded with an error naming a file and the cause. */
static void expect_degraded(struct store *s, int error, const char *label)
{
    struct hist_stats st;
    hist_get_stats(s->h, &st);
    CHECK(st.degraded);
    const char *cause = strerror(error);
    bool names_cause = strstr(st.last_error, cause) != NULL ||
                       strstr(st.last_error, error == ENOSPC ? "ENOSPC" : "EIO") != NULL;
    bool names_file = strchr(st.last_error, '/') != NULL;
    CHECK(names_cause);
    CHECK(names_file);
    printf("%s: degraded=%d last_error \"%s\"\n", label, st.degraded, st.last_error);
}

static void expect_healthy(struct store *s, const char *label)
{
    struct hist_stats st;
    hist_get_stats(s->h, &st);
    CHECK(!st.degraded);
    if (st.degraded) fprintf(stderr, "%s: still degraded: %s\n", label, st.last_error);
    CHECK_EQ_INT(st.log_bytes_pending, 0);
}

/* Closes, reopens on the real file system, checks everything is there
 * exactly once, and removes the store. */
static void store_finish(struct store *s, const char *label)
{
    hist_close(s->h);
    s->h = NULL;
    s->opt.io = NULL;
    if (store_open(s)) {
        store_check(s, label, -1, 0, 0);
        struct hist_stats st;
        hist_get_stats(s->h, &st);
        CHECK_EQ_INT(st.corrupt_chunks, 0);
        hist_close(s->h);
    }
    hist_io_faults_free(s->faults);
    remove_tree(s->dir);
}

/* Log writes or fsyncs failing with error: appends report it, are held,
 * and reach the disk once the fault is gone. */
static void test_log_fault(enum hist_io_op op, int error, const char *label)
{
    struct store s;
    if (!store_begin(&s, HIST_DURABILITY_STRICT)) return;
    CHECK(store_append(&s, 30));
    hist_io_faults_arm(s.faults, op, 1, UINT32_MAX, error);
    CHECK(!store_append(&s, 1));
    expect_degraded(&s, error, label);
    CHECK(!store_append(&s, 20)); /* still accepted, held in memory */
    store_check(&s, label, -1, 0, 0);
    CHECK(!hist_sync(s.h));
    struct hist_stats st;
    hist_get_stats(s.h, &st);
    CHECK(st.samples_accepted == 2u * s.accepted[0]);
    if (op == HIST_IO_WRITE) CHECK(st.log_bytes_pending > 0);

    hist_io_faults_disarm(s.faults);
    hist_maintain(s.h);
    CHECK(hist_sync(s.h));
    expect_healthy(&s, label);
    CHECK(store_append(&s, 10));
    store_check(&s, label, -1, 0, 0);
    CHECK(hist_checkpoint(s.h));
    CHECK(store_append(&s, 5)); /* some left in the log at close */
    store_finish(&s, label);
}

/* Short writes: one cut short and continued is no error; one cut short and
 * then out of space leaves a torn record that must not surface twice. */
static void test_short_writes(void)
{
    struct store s;
    if (!store_begin(&s, HIST_DURABILITY_STRICT)) return;
    CHECK(store_append(&s, 10));
    hist_io_faults_short_write(s.faults, 1);
    CHECK(store_append(&s, 3));
    expect_healthy(&s, "short write continued");
    store_check(&s, "short write continued", -1, 0, 0);

    hist_io_faults_short_write(s.faults, 1);
    hist_io_faults_arm(s.faults, HIST_IO_WRITE, 2, UINT32_MAX, ENOSPC);
    CHECK(!store_append(&s, 1));
    expect_degraded(&s, ENOSPC, "short write then ENOSPC");
    CHECK(!store_append(&s, 5));
    store_check(&s, "short write then ENOSPC", -1, 0, 0);
    hist_io_faults_disarm(s.faults);
    hist_maintain(s.h);
    CHECK(hist_sync(s.h));
    expect_healthy(&s, "short write then ENOSPC");
    CHECK(store_append(&s, 5));
    store_finish(&s, "short write then ENOSPC, reopened");

    /* Same, but reopen without a checkpoint or a clean close having seen
     * the faults cleared: the half-written record stays torn on disk. */
    if (!store_begin(&s, HIST_DURABILITY_STRICT)) return;
    CHECK(store_append(&s, 10));
    hist_io_faults_short_write(s.faults, 1);
    hist_io_faults_arm(s.faults, HIST_IO_WRITE, 2, UINT32_MAX, ENOSPC);
    CHECK(!store_append(&s, 1));
    hist_io_faults_disarm(s.faults);
    CHECK(hist_sync(s.h));
    CHECK(store_append(&s, 5));
    store_finish(&s, "torn record then recovery, reopened");
}

/* A checkpoint that fails (out of space writing the segment, or a failing
 * rename) reports it, loses nothing and succeeds once the fault is gone. */
static void test_checkpoint_fault(enum hist_io_op op, int error, const char *label)
{
    struct store s;
    if (!store_begin(&s, HIST_DURABILITY_STRICT)) return;
    CHECK(store_append(&s, 200));
    hist_io_faults_arm(s.faults, op, 1, UINT32_MAX, error);
    CHECK(!hist_checkpoint(s.h));
    expect_degraded(&s, error, label);
    store_check(&s, label, -1, 0, 0);
    bool appended = store_append(&s, 20); /* fails only when writes fail */
    if (op == HIST_IO_WRITE) CHECK(!appended);
    store_check(&s, label, -1, 0, 0);
    CHECK(!hist_checkpoint(s.h));

    hist_io_faults_disarm(s.faults);
    hist_maintain(s.h);
    CHECK(hist_sync(s.h));
    CHECK(hist_checkpoint(s.h));
    expect_healthy(&s, label);
    struct hist_stats st;
    hist_get_stats(s.h, &st);
    CHECK_EQ_INT(st.head_samples, 0);
    CHECK_EQ_INT(st.points_on_disk, 2u * s.accepted[0]);
    store_check(&s, label, -1, 0, 0);
    CHECK(store_append(&s, 10));
    store_finish(&s, label);
}

/* ---- a flipped byte in a chunk ---- */

static char found_segment[512];

static int find_segment(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t len = strlen(path);
    if (flag == FTW_F && len > 4 && strcmp(path + len - 4, ".seg") == 0 && !found_segment[0])
        snprintf(found_segment, sizeof found_segment, "%s", path);
    return 0;
}

static void test_flipped_byte(void)
{
    struct store s;
    if (!store_begin(&s, HIST_DURABILITY_BATCHED)) return;
    s.opt.io = NULL;
    hist_close(s.h);
    if (!store_open(&s)) goto out;
    CHECK(store_append(&s, 150)); /* 15 s: one partition, several chunks per series */
    CHECK(hist_checkpoint(s.h));
    hist_close(s.h);
    s.h = NULL;

    found_segment[0] = 0;
    nftw(s.dir, find_segment, 16, FTW_PHYS);
    CHECK(found_segment[0] != 0);
    if (!found_segment[0]) goto out;
    char err[256] = "";
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), found_segment, err, sizeof err);
    CHECK(seg != NULL);
    if (!seg) {
        fprintf(stderr, "hist_seg_open(%s): %s\n", found_segment, err);
        goto out;
    }
    /* The middle chunk of the double series. */
    const struct hist_seg_entry *first = NULL;
    size_t n = hist_seg_find(seg, s.ids[0], INT64_MIN / 2, INT64_MAX / 2, &first);
    CHECK(n >= 3);
    if (n < 3) {
        hist_seg_close(seg);
        goto out;
    }
    struct hist_seg_entry victim = first[n / 2];
    hist_seg_close(seg);
    off_t at = (off_t)victim.offset + HIST_CHUNK_HEADER_BYTES +
               (off_t)(victim.size - HIST_CHUNK_HEADER_BYTES) / 2;
    int fd = open(found_segment, O_RDWR);
    CHECK(fd >= 0);
    uint8_t byte = 0;
    CHECK(pread(fd, &byte, 1, at) == 1);
    byte ^= 0x20;
    CHECK(pwrite(fd, &byte, 1, at) == 1);
    close(fd);

    if (!store_open(&s)) goto out;
    int64_t lost_from = victim.chunk.summary.t_min, lost_to = victim.chunk.summary.t_max;
    store_check(&s, "flipped byte", 0, lost_from, lost_to);
    struct hist_stats st;
    hist_get_stats(s.h, &st);
    CHECK(st.corrupt_chunks > 0);
    printf("flipped byte at %s+%lld: corrupt_chunks=%" PRIu64 " last_error \"%s\"\n", found_segment,
           (long long)at, st.corrupt_chunks, st.last_error);
    /* Aggregates over the damaged range still answer for the rest. Buckets
     * finer than a chunk make it decode the chunks (a chunk inside one
     * bucket may be counted from its summary, which is intact). */
    struct hist_bucket *b = NULL;
    size_t count = 0;
    char why[256] = "";
    CHECK(hist_aggregate(s.h, s.ids[0], T0, T0 + 15 * HIST_NS_PER_S, STEP_NS, HIST_AGG_COUNT, &b,
                         &count, why, sizeof why));
    uint64_t counted = 0;
    for (size_t i = 0; b && i < count; i++)
        counted += b[i].count;
    CHECK_EQ_INT(counted, 150 - victim.chunk.summary.count);
    free(b);
    hist_close(s.h);
    s.h = NULL;
out:
    hist_io_faults_free(s.faults);
    remove_tree(s.dir);
}

/* A flipped byte in a segment's index: the store still opens (indexes are
 * read on demand), the segment's chunks are reported and skipped, the
 * samples of the other segments read back. And with an index cache of one
 * byte, every maintenance drops every index: reads load them again and are
 * still exact. */
static void test_damaged_index_and_tiny_cache(void)
{
    struct store s;
    if (!store_begin(&s, HIST_DURABILITY_BATCHED)) return;
    s.opt.io = NULL;
    s.opt.index_cache_bytes = 1;
    hist_close(s.h);
    if (!store_open(&s)) goto out;
    CHECK(store_append(&s, 100)); /* 10 s: the first segment */
    CHECK(hist_checkpoint(s.h));
    found_segment[0] = 0;
    nftw(s.dir, find_segment, 16, FTW_PHYS);
    char first_segment[512];
    snprintf(first_segment, sizeof first_segment, "%s", found_segment);
    CHECK(store_append(&s, 50)); /* 5 s more: a second segment */
    CHECK(hist_checkpoint(s.h));
    for (int i = 0; i < 3; i++) {
        hist_maintain(s.h); /* drops the indexes: the cache holds 1 byte */
        store_check(&s, "tiny index cache", -1, 0, 0);
    }
    hist_close(s.h);
    s.h = NULL;
    CHECK(first_segment[0] != 0);
    if (!first_segment[0]) goto out;

    /* Flip a byte in the last index entry of the first segment. */
    int fd = open(first_segment, O_RDWR);
    CHECK(fd >= 0);
    off_t size = lseek(fd, 0, SEEK_END);
    off_t at = size - 32 - 40;
    uint8_t byte = 0;
    CHECK(pread(fd, &byte, 1, at) == 1);
    byte ^= 0x01;
    CHECK(pwrite(fd, &byte, 1, at) == 1);
    close(fd);

    if (!store_open(&s)) goto out;
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    char why[256] = "";
    CHECK(hist_read_raw(s.h, s.ids[0], INT64_MIN / 2, INT64_MAX / 2, 0, &c, NULL, why, sizeof why));
    CHECK_EQ_INT(c.count, 50); /* the second segment's samples */
    hist_columns_free(&c);
    struct hist_stats st;
    hist_get_stats(s.h, &st);
    CHECK(st.corrupt_chunks > 0);
    CHECK(strstr(st.last_error, "index") != NULL);
    printf("damaged index: corrupt_chunks=%" PRIu64 " last_error \"%s\"\n", st.corrupt_chunks,
           st.last_error);
    hist_close(s.h);
    s.h = NULL;
out:
    hist_io_faults_free(s.faults);
    remove_tree(s.dir);
}

int main(void)
{
    test_log_fault(HIST_IO_WRITE, EIO, "EIO on log writes");
    test_log_fault(HIST_IO_WRITE, ENOSPC, "ENOSPC on log writes");
    test_log_fault(HIST_IO_FSYNC, EIO, "fsync failure");
    test_short_writes();
    test_checkpoint_fault(HIST_IO_WRITE, ENOSPC, "ENOSPC during checkpoint");
    test_checkpoint_fault(HIST_IO_RENAME, EIO, "EIO on rename");
    test_flipped_byte();
    test_damaged_index_and_tiny_cache();
    return test_summary();
}
