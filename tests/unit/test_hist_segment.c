/* Unit tests of historian segment files: write and read back every value
 * type bit-exact, find against a brute-force scan, copying raw chunks,
 * corruption (flipped bytes, truncation), injected I/O faults and injected
 * allocation failures. Files live in a mkdtemp directory under /tmp. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "historian/hist_alloc.h"
#include "historian/hist_chunk.h"
#include "historian/hist_io.h"
#include "historian/hist_segment.h"
#include "testlib.h"

#define MAX_CHUNKS 512

static char test_dir[64];

/* A chunk the test wrote, kept to compare with what is read back. */
struct expected_chunk {
    uint32_t series_id;
    struct hist_columns cols;
};

struct expected_set {
    struct expected_chunk chunks[MAX_CHUNKS];
    size_t count;
};

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64*: deterministic pseudo-random numbers. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

static void path_in_test_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", test_dir, name);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A random value of type t, with the awkward cases (NaN payloads, -0.0,
 * infinities, subnormals, extreme integers, strings with NUL bytes). */
static struct value random_value(enum value_type t, char *str_buf, size_t i)
{
    switch (t) {
    case VALUE_BOOL:
        return value_bool(rng_below(4) == 0);
    case VALUE_INT64: {
        uint64_t pick = rng_below(10);
        if (pick == 0) return value_int64(INT64_MIN);
        if (pick == 1) return value_int64(INT64_MAX);
        return value_int64((int64_t)(i * 3) - (int64_t)rng_below(100));
    }
    case VALUE_UINT64:
        return value_uint64(rng_below(3) == 0 ? UINT64_MAX - rng_below(5) : rng_below(1000));
    case VALUE_DOUBLE: {
        uint64_t pick = rng_below(20);
        if (pick == 0) {
            uint64_t bits = 0x7FF8000000000000ull | rng_below(1000); /* NaN with payload */
            double d;
            memcpy(&d, &bits, sizeof d);
            return value_double(d);
        }
        if (pick == 1) return value_double(-0.0);
        if (pick == 2) return value_double(1.0 / 0.0);
        if (pick == 3) return value_double(4.9e-324);
        if (pick < 12) return value_double((double)(int64_t)rng_below(100000) / 100.0);
        uint64_t bits = rng_next();
        double d;
        memcpy(&d, &bits, sizeof d);
        return value_double(d);
    }
    case VALUE_STRING: {
        uint32_t len = (uint32_t)rng_below(12);
        for (uint32_t k = 0; k < len; k++)
            str_buf[k] = (char)(rng_below(3) == 0 ? 0 : 'a' + (int)rng_below(4));
        struct value v = {.type = VALUE_STRING};
        v.as.str.ptr = str_buf;
        v.as.str.len = len;
        return v;
    }
    }
    return value_bool(false);
}

/* Fills c (initialised, of its type) with n samples from t0 on, sorted by
 * time, with random gaps and qualities. */
static void fill_columns(struct hist_columns *c, uint32_t n, int64_t t0)
{
    static const quality_t qualities[] = {QUALITY_GOOD, QUALITY_UNCERTAIN_LAST_USABLE_VALUE,
                                          QUALITY_BAD_COMMUNICATION_ERROR};
    char str_buf[16];
    int64_t t = t0;
    for (uint32_t i = 0; i < n; i++) {
        quality_t q = rng_below(8) == 0 ? qualities[rng_below(3)] : QUALITY_GOOD;
        struct value v = random_value(c->type, str_buf, i);
        CHECK(hist_columns_push(c, t, q, &v));
        t += rng_below(4) == 0 ? (int64_t)rng_below(5000) : 1000; /* ties allowed */
    }
}

/* True when a and b hold the same samples bit for bit. */
static bool columns_equal(const struct hist_columns *a, const struct hist_columns *b)
{
    if (a->type != b->type || a->count != b->count) return false;
    for (uint32_t i = 0; i < a->count; i++) {
        if (a->ts[i] != b->ts[i] || a->quality[i] != b->quality[i]) return false;
        switch (a->type) {
        case VALUE_BOOL:
            if ((a->b[i] != 0) != (b->b[i] != 0)) return false;
            break;
        case VALUE_INT64:
        case VALUE_UINT64:
            if (a->i64[i] != b->i64[i]) return false;
            break;
        case VALUE_DOUBLE:
            if (memcmp(&a->f64[i], &b->f64[i], sizeof(double)) != 0) return false;
            break;
        case VALUE_STRING:
            if (a->str_len[i] != b->str_len[i] || memcmp(a->str[i], b->str[i], a->str_len[i]) != 0)
                return false;
            break;
        }
    }
    return true;
}

static void expected_free(struct expected_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        hist_columns_free(&set->chunks[i].cols);
    set->count = 0;
}

/* Makes chunks for series 1, 3, 5, ... (series_count of them), each of a
 * type chosen by its id, 1..max_chunks chunks of 1..max_samples samples with
 * non-overlapping, increasing time ranges. */
static void make_chunks(struct expected_set *set, uint32_t series_count, uint32_t max_chunks,
                        uint32_t max_samples)
{
    set->count = 0;
    for (uint32_t s = 0; s < series_count; s++) {
        uint32_t series_id = 1 + 2 * s;
        enum value_type type = (enum value_type)(s % 5);
        uint32_t chunks = 1 + (uint32_t)rng_below(max_chunks);
        int64_t t = 1700000000000000000LL + (int64_t)rng_below(1000000);
        for (uint32_t k = 0; k < chunks && set->count < MAX_CHUNKS; k++) {
            struct expected_chunk *ec = &set->chunks[set->count++];
            ec->series_id = series_id;
            hist_columns_init(&ec->cols, type);
            uint32_t n = rng_below(6) == 0 ? 1 : 1 + (uint32_t)rng_below(max_samples);
            fill_columns(&ec->cols, n, t);
            t = ec->cols.ts[ec->cols.count - 1] + 1 + (int64_t)rng_below(100000);
        }
    }
}

/* Writes set to final_path through io. True when every step succeeded; on
 * failure err holds the reason of the step that failed. */
static bool write_segment(const struct hist_io *io, const struct expected_set *set,
                          const char *tmp_path, const char *final_path, uint64_t *bytes, char *err,
                          size_t err_len)
{
    struct hist_segment_meta meta = {
        .group_id = 7, .partition_start_ns = 1700000000000000000LL, .wal_upto = 4242};
    struct hist_segment_writer *w = hist_segw_begin(io, tmp_path, &meta, err, err_len);
    if (!w) return false;
    for (size_t i = 0; i < set->count; i++) {
        if (!hist_segw_add(w, set->chunks[i].series_id, &set->chunks[i].cols, err, err_len)) {
            hist_segw_abort(w);
            return false;
        }
    }
    return hist_segw_finish(w, final_path, bytes, err, err_len);
}

/* Copies the file src to dst, optionally only its first keep bytes. */
static void copy_file(const char *src, const char *dst, long keep)
{
    FILE *in = fopen(src, "rb");
    FILE *out = fopen(dst, "wb");
    CHECK(in && out);
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return;
    }
    char buf[65536];
    long left = keep < 0 ? LONG_MAX : keep;
    size_t n;
    while (left > 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        if ((long)n > left) n = (size_t)left;
        fwrite(buf, 1, n, out);
        left -= (long)n;
    }
    fclose(in);
    fclose(out);
}

/* XORs the byte at offset of path with mask. */
static void flip_byte(const char *path, long offset, uint8_t mask)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, offset, SEEK_SET);
    int c = fgetc(f);
    fseek(f, offset, SEEK_SET);
    fputc((uint8_t)c ^ mask, f);
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- tests ---- */

/* Every chunk of seg equals the matching expected chunk, bit for bit. */
static void check_segment_matches(const struct hist_segment *seg, const struct expected_set *set)
{
    CHECK_EQ_INT(hist_seg_entry_count(seg), set->count);
    const struct hist_seg_entry *entries = hist_seg_entries(seg);
    size_t mismatches = 0;
    for (size_t i = 0; i < set->count && i < hist_seg_entry_count(seg); i++) {
        const struct expected_chunk *ec = &set->chunks[i];
        const struct hist_seg_entry *e = &entries[i];
        struct hist_columns got;
        hist_columns_init(&got, ec->cols.type);
        char err[256] = "";
        bool ok = hist_seg_read_chunk(seg, e, &got, err, sizeof err);
        if (!ok) fprintf(stderr, "read_chunk %zu: %s\n", i, err);
        if (!ok || e->chunk.series_id != ec->series_id || e->chunk.type != ec->cols.type ||
            e->chunk.summary.count != ec->cols.count || e->chunk.summary.t_min != ec->cols.ts[0] ||
            e->chunk.summary.t_max != ec->cols.ts[ec->cols.count - 1] ||
            !columns_equal(&got, &ec->cols))
            mismatches++;
        hist_columns_free(&got);
    }
    CHECK_EQ_INT(mismatches, 0);
}

static void test_roundtrip_every_type(struct expected_set *set)
{
    char tmp[128], final[128], err[256] = "";
    path_in_test_dir(tmp, sizeof tmp, "rt.tmp");
    path_in_test_dir(final, sizeof final, "rt.seg");
    make_chunks(set, 80, 6, 4000);
    uint64_t bytes = 0;
    bool ok = write_segment(hist_io_posix(), set, tmp, final, &bytes, err, sizeof err);
    if (!ok) fprintf(stderr, "write_segment: %s\n", err);
    CHECK(ok);
    CHECK(!file_exists(tmp));
    CHECK_EQ_INT(bytes, file_size(final));
    CHECK(bytes > (1u << 20)); /* several flushes happened */

    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (!seg) {
        fprintf(stderr, "open: %s\n", err);
        return;
    }
    CHECK_EQ_INT(hist_seg_meta(seg)->group_id, 7);
    CHECK_EQ_INT(hist_seg_meta(seg)->partition_start_ns, 1700000000000000000LL);
    CHECK_EQ_INT(hist_seg_meta(seg)->wal_upto, 4242);
    CHECK_EQ_INT(hist_seg_bytes(seg), bytes);
    check_segment_matches(seg, set);
    hist_seg_close(seg);
}

struct reader_job {
    const struct hist_segment *seg;
    const struct expected_set *set;
    size_t start;
    size_t mismatches;
};

/* Reads every chunk, starting at job->start, and counts differences. */
static void *reader_thread(void *arg)
{
    struct reader_job *job = arg;
    size_t n = hist_seg_entry_count(job->seg);
    for (size_t k = 0; k < n; k++) {
        size_t i = (job->start + k) % n;
        struct hist_columns got;
        hist_columns_init(&got, job->set->chunks[i].cols.type);
        char err[256];
        if (!hist_seg_read_chunk(job->seg, &hist_seg_entries(job->seg)[i], &got, err, sizeof err) ||
            !columns_equal(&got, &job->set->chunks[i].cols))
            job->mismatches++;
        hist_columns_free(&got);
    }
    return NULL;
}

/* One open segment read by several threads at once. */
static void test_concurrent_reads(const struct expected_set *set)
{
    char final[128], err[256] = "";
    path_in_test_dir(final, sizeof final, "rt.seg");
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (!seg) return;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct reader_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct reader_job){.seg = seg, .set = set, .start = (size_t)t * 37};
        CHECK(pthread_create(&threads[t], NULL, reader_thread, &jobs[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK_EQ_INT(jobs[t].mismatches, 0);
    }
    hist_seg_close(seg);
}

/* The brute-force answer: the indexes of entries of series meeting
 * [from, to), as first and count (after checking they are contiguous). */
static void brute_force_find(const struct hist_seg_entry *entries, size_t n, uint32_t series,
                             int64_t from, int64_t to, size_t *first, size_t *last_plus_one,
                             size_t *matches)
{
    *first = SIZE_MAX;
    *last_plus_one = 0;
    *matches = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hist_seg_entry *e = &entries[i];
        if (e->chunk.series_id != series || e->chunk.summary.t_max < from ||
            e->chunk.summary.t_min >= to || from >= to)
            continue;
        if (*first == SIZE_MAX) *first = i;
        *last_plus_one = i + 1;
        (*matches)++;
    }
}

/* Random ranges against a brute-force scan. Without overlapping chunks the
 * run must be exactly the matches; with overlap it must start at the first
 * match, end at the last and stay within the series. */
static void check_find_random(const struct hist_segment *seg, uint32_t max_series, int queries,
                              bool exact)
{
    const struct hist_seg_entry *entries = hist_seg_entries(seg);
    size_t n = hist_seg_entry_count(seg);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].chunk.summary.t_min < lo) lo = entries[i].chunk.summary.t_min;
        if (entries[i].chunk.summary.t_max > hi) hi = entries[i].chunk.summary.t_max;
    }
    int64_t span = hi - lo + 2;
    int wrong = 0;
    for (int q = 0; q < queries; q++) {
        uint32_t series = (uint32_t)rng_below(max_series + 2);
        int64_t from = lo - 1 + (int64_t)rng_below((uint64_t)span);
        int64_t to = rng_below(10) == 0 ? from : from + (int64_t)rng_below((uint64_t)span / 4);
        if (rng_below(20) == 0) {
            from = INT64_MIN;
            to = INT64_MAX;
        }
        const struct hist_seg_entry *first = NULL;
        size_t got = hist_seg_find(seg, series, from, to, &first);
        size_t want_first, want_end, matches;
        brute_force_find(entries, n, series, from, to, &want_first, &want_end, &matches);
        if (matches == 0) {
            if (got != 0) wrong++;
            continue;
        }
        if (exact && matches != want_end - want_first) wrong++; /* must be contiguous */
        if (!first || got != want_end - want_first || (size_t)(first - entries) != want_first) {
            if (wrong < 3)
                fprintf(stderr, "find(%u, %lld, %lld): got %zu at %td, want %zu at %zu\n", series,
                        (long long)from, (long long)to, got, first ? first - entries : -1,
                        want_end - want_first, want_first);
            wrong++;
        }
    }
    CHECK_EQ_INT(wrong, 0);
}

static void test_find(const struct expected_set *set)
{
    char final[128], err[256] = "";
    path_in_test_dir(final, sizeof final, "rt.seg");
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (!seg) return;
    check_find_random(seg, 2 * 60 + 1, 5000, true);
    /* Exact edges: [t_min, t_min + 1) hits the chunk; [.., t_min) does not. */
    const struct hist_seg_entry *e = &hist_seg_entries(seg)[set->count / 2], *first = NULL;
    CHECK(hist_seg_find(seg, e->chunk.series_id, e->chunk.summary.t_min, e->chunk.summary.t_min + 1,
                        &first) >= 1);
    CHECK(first == e || (first && first->chunk.summary.t_max >= e->chunk.summary.t_min));
    CHECK(hist_seg_find(seg, e->chunk.series_id, e->chunk.summary.t_max, e->chunk.summary.t_max + 1,
                        &first) >= 1);
    CHECK(hist_seg_find(seg, 2, INT64_MIN, INT64_MAX, &first) == 0); /* no such series */
    CHECK(first == NULL);
    hist_seg_close(seg);
}

/* Chunks of one series that overlap in time (allowed, if unusual). */
static void test_find_overlapping(void)
{
    struct expected_set *set = calloc(1, sizeof *set);
    int64_t t_min = 1000;
    for (uint32_t k = 0; k < 40; k++) {
        struct expected_chunk *ec = &set->chunks[set->count++];
        ec->series_id = 9;
        hist_columns_init(&ec->cols, VALUE_INT64);
        uint32_t n = 1 + (uint32_t)rng_below(50);
        struct value v = value_int64(5);
        int64_t t = t_min;
        for (uint32_t i = 0; i < n; i++) {
            CHECK(hist_columns_push(&ec->cols, t, QUALITY_GOOD, &v));
            t += (int64_t)rng_below(rng_below(4) == 0 ? 3000 : 30);
        }
        t_min += (int64_t)rng_below(200);
    }
    char tmp[128], final[128], err[256] = "";
    path_in_test_dir(tmp, sizeof tmp, "ov.tmp");
    path_in_test_dir(final, sizeof final, "ov.seg");
    CHECK(write_segment(hist_io_posix(), set, tmp, final, NULL, err, sizeof err));
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (seg) {
        check_segment_matches(seg, set);
        check_find_random(seg, 10, 3000, false);
        hist_seg_close(seg);
    }
    unlink(final);
    expected_free(set);
    free(set);
}

static void test_add_raw(const struct expected_set *set)
{
    char src_path[128], tmp[128], final[128], err[256] = "";
    path_in_test_dir(src_path, sizeof src_path, "rt.seg");
    path_in_test_dir(tmp, sizeof tmp, "copy.tmp");
    path_in_test_dir(final, sizeof final, "copy.seg");
    struct hist_segment *src = hist_seg_open(hist_io_posix(), src_path, err, sizeof err);
    CHECK(src != NULL);
    if (!src) return;
    struct hist_segment_meta meta = {.group_id = 1, .partition_start_ns = 5, .wal_upto = 6};
    struct hist_segment_writer *w = hist_segw_begin(hist_io_posix(), tmp, &meta, err, sizeof err);
    CHECK(w != NULL);
    const struct hist_seg_entry *entries = hist_seg_entries(src);
    size_t n = hist_seg_entry_count(src), copied = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i += 2) { /* every other chunk */
        uint8_t *buf = malloc(entries[i].size);
        ok = hist_seg_read_raw(src, &entries[i], buf, err, sizeof err) &&
             hist_segw_add_raw(w, &entries[i], buf, err, sizeof err);
        free(buf);
        copied++;
    }
    CHECK(ok);
    if (!ok) fprintf(stderr, "add_raw: %s\n", err);
    CHECK(hist_segw_finish(w, final, NULL, err, sizeof err));
    struct hist_segment *copy = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(copy != NULL);
    if (copy) {
        CHECK_EQ_INT(hist_seg_entry_count(copy), copied);
        CHECK_EQ_INT(hist_seg_meta(copy)->wal_upto, 6);
        size_t mismatches = 0;
        for (size_t k = 0; k < hist_seg_entry_count(copy); k++) {
            const struct hist_seg_entry *e = &hist_seg_entries(copy)[k];
            const struct expected_chunk *ec = &set->chunks[2 * k];
            struct hist_columns got;
            hist_columns_init(&got, e->chunk.type);
            if (!hist_seg_read_chunk(copy, e, &got, err, sizeof err) ||
                !columns_equal(&got, &ec->cols) || e->chunk.crc != entries[2 * k].chunk.crc)
                mismatches++;
            hist_columns_free(&got);
        }
        CHECK_EQ_INT(mismatches, 0);
        hist_seg_close(copy);
    }
    unlink(final);

    /* A chunk that does not parse, and one out of order, are refused. */
    w = hist_segw_begin(hist_io_posix(), tmp, &meta, err, sizeof err);
    CHECK(w != NULL);
    uint8_t *buf = malloc(entries[0].size);
    CHECK(hist_seg_read_raw(src, &entries[0], buf, err, sizeof err));
    buf[0] ^= 0xFF;
    err[0] = 0;
    CHECK(!hist_segw_add_raw(w, &entries[0], buf, err, sizeof err));
    CHECK(strstr(err, tmp) != NULL);
    hist_segw_abort(w);
    CHECK(!file_exists(tmp));
    buf[0] ^= 0xFF;
    w = hist_segw_begin(hist_io_posix(), tmp, &meta, err, sizeof err);
    uint8_t *buf2 = malloc(entries[1].size);
    CHECK(hist_seg_read_raw(src, &entries[1], buf2, err, sizeof err));
    CHECK(hist_segw_add_raw(w, &entries[1], buf2, err, sizeof err));
    err[0] = 0;
    CHECK(!hist_segw_add_raw(w, &entries[0], buf, err, sizeof err)); /* goes backwards */
    CHECK(strstr(err, "order") != NULL);
    hist_segw_abort(w);
    CHECK(!file_exists(tmp));
    free(buf);
    free(buf2);
    hist_seg_close(src);
}

static void test_add_out_of_order(void)
{
    char tmp[128], err[256] = "";
    path_in_test_dir(tmp, sizeof tmp, "order.tmp");
    struct hist_segment_meta meta = {0};
    struct hist_columns a, b;
    hist_columns_init(&a, VALUE_DOUBLE);
    hist_columns_init(&b, VALUE_DOUBLE);
    fill_columns(&a, 10, 5000000);
    fill_columns(&b, 10, 1000);
    struct hist_segment_writer *w = hist_segw_begin(hist_io_posix(), tmp, &meta, err, sizeof err);
    CHECK(hist_segw_add(w, 4, &a, err, sizeof err));
    CHECK(!hist_segw_add(w, 4, &b, err, sizeof err)); /* earlier time, same series */
    CHECK(strstr(err, "order") != NULL);
    hist_segw_abort(w);
    w = hist_segw_begin(hist_io_posix(), tmp, &meta, err, sizeof err);
    CHECK(hist_segw_add(w, 4, &b, err, sizeof err));
    CHECK(!hist_segw_add(w, 3, &a, err, sizeof err)); /* lower series id */
    CHECK(strstr(err, "order") != NULL);
    hist_segw_abort(w);
    CHECK(!file_exists(tmp));
    hist_columns_free(&a);
    hist_columns_free(&b);
}

static void test_corruption(const struct expected_set *set)
{
    char final[128], bad[128], err[256] = "";
    path_in_test_dir(final, sizeof final, "rt.seg");
    path_in_test_dir(bad, sizeof bad, "bad.seg");
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (!seg) return;
    size_t n = hist_seg_entry_count(seg);
    struct hist_seg_entry victim = hist_seg_entries(seg)[n / 3];
    size_t victim_index = n / 3;
    uint64_t index_offset = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hist_seg_entry *e = &hist_seg_entries(seg)[i];
        if (e->offset + e->size > index_offset) index_offset = e->offset + e->size;
    }
    hist_seg_close(seg);

    /* A flipped byte in a chunk's payload, then in its header. */
    long targets[2] = {(long)(victim.offset + victim.size - 1), (long)victim.offset + 20};
    for (int t = 0; t < 2; t++) {
        copy_file(final, bad, -1);
        flip_byte(bad, targets[t], 0x10);
        seg = hist_seg_open(hist_io_posix(), bad, err, sizeof err);
        CHECK(seg != NULL);
        if (!seg) continue;
        size_t failures = 0, failed_at = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            struct hist_columns got;
            hist_columns_init(&got, set->chunks[i].cols.type);
            err[0] = 0;
            if (!hist_seg_read_chunk(seg, &hist_seg_entries(seg)[i], &got, err, sizeof err)) {
                failures++;
                failed_at = i;
                CHECK(strstr(err, bad) != NULL);
                CHECK_EQ_INT(got.count, 0); /* out unchanged */
            } else if (!columns_equal(&got, &set->chunks[i].cols)) {
                failures += 1000;
            }
            hist_columns_free(&got);
        }
        CHECK_EQ_INT(failures, 1);
        CHECK_EQ_INT(failed_at, victim_index);
        hist_seg_close(seg);
    }

    /* A flipped byte anywhere in the index, the footer or the header. */
    long size = file_size(final);
    long spots[] = {(long)index_offset,
                    (long)index_offset + 77,
                    size - 40,
                    size - 33,
                    size - 32,
                    size - 20,
                    size - 1,
                    0,
                    4};
    for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
        copy_file(final, bad, -1);
        flip_byte(bad, spots[k], 0x01);
        err[0] = 0;
        seg = hist_seg_open(hist_io_posix(), bad, err, sizeof err);
        CHECK(seg == NULL);
        CHECK(strstr(err, bad) != NULL);
        hist_seg_close(seg);
    }
    copy_file(final, bad, -1);
    flip_byte(bad, (long)index_offset + 3, 0x40);
    seg = hist_seg_open(hist_io_posix(), bad, err, sizeof err);
    CHECK(seg == NULL);
    CHECK(strstr(err, "index checksum") != NULL);

    /* Truncation at many offsets. */
    int opened = 0;
    for (long keep = 0; keep < size; keep += 1 + (long)rng_below((uint64_t)size / 150)) {
        copy_file(final, bad, keep);
        seg = hist_seg_open(hist_io_posix(), bad, err, sizeof err);
        if (seg) opened++;
        hist_seg_close(seg);
    }
    for (long keep = size - 200; keep < size; keep++) {
        copy_file(final, bad, keep);
        seg = hist_seg_open(hist_io_posix(), bad, err, sizeof err);
        if (seg) opened++;
        hist_seg_close(seg);
    }
    CHECK_EQ_INT(opened, 0);
    CHECK(!hist_seg_open(hist_io_posix(), "/nonexistent/x.seg", err, sizeof err));
    CHECK(strstr(err, "/nonexistent/x.seg") != NULL);
    unlink(bad);
}

/* Writing under one armed fault fails with a reason naming the file and
 * leaves neither the temporary nor the final file. */
static void expect_write_failure(struct hist_io_faults *faults, const struct expected_set *set,
                                 const char *what)
{
    char tmp[128], final[128], err[256] = "";
    path_in_test_dir(tmp, sizeof tmp, "fault.tmp");
    path_in_test_dir(final, sizeof final, "fault.seg");
    bool ok = write_segment(hist_io_faults_io(faults), set, tmp, final, NULL, err, sizeof err);
    hist_io_faults_disarm(faults);
    if (ok) fprintf(stderr, "fault %s: write succeeded\n", what);
    CHECK(!ok);
    CHECK(strstr(err, tmp) != NULL || strstr(err, final) != NULL);
    CHECK(!file_exists(tmp));
    CHECK(!file_exists(final));
}

static void test_io_faults(const struct expected_set *set, const struct expected_set *small)
{
    struct hist_io_faults *faults = hist_io_faults_new(hist_io_posix());
    CHECK(faults != NULL);
    if (!faults) return;
    /* EIO on the first write: during an add (big) or during finish (small). */
    hist_io_faults_arm(faults, HIST_IO_WRITE, 1, UINT32_MAX, EIO);
    expect_write_failure(faults, set, "EIO first write");
    hist_io_faults_arm(faults, HIST_IO_WRITE, 1, UINT32_MAX, EIO);
    expect_write_failure(faults, small, "EIO small");
    hist_io_faults_arm(faults, HIST_IO_WRITE, 2, UINT32_MAX, ENOSPC);
    expect_write_failure(faults, set, "ENOSPC second write");
    hist_io_faults_arm(faults, HIST_IO_WRITE, 3, 1, ENOSPC);
    expect_write_failure(faults, set, "ENOSPC third write");
    /* A short write that cannot continue. */
    hist_io_faults_short_write(faults, 1);
    hist_io_faults_arm(faults, HIST_IO_WRITE, 2, UINT32_MAX, ENOSPC);
    expect_write_failure(faults, set, "short write");
    hist_io_faults_arm(faults, HIST_IO_FSYNC, 1, 1, EIO);
    expect_write_failure(faults, small, "fsync");
    hist_io_faults_arm(faults, HIST_IO_FSYNC, 2, 1, EIO); /* the directory's */
    expect_write_failure(faults, small, "directory fsync");
    hist_io_faults_arm(faults, HIST_IO_RENAME, 1, 1, EIO);
    expect_write_failure(faults, small, "rename");
    hist_io_faults_arm(faults, HIST_IO_OPEN, 1, 1, EACCES);
    expect_write_failure(faults, small, "open");

    /* A short write alone is retried: the segment comes out whole. */
    char tmp[128], final[128], err[256] = "";
    path_in_test_dir(tmp, sizeof tmp, "short.tmp");
    path_in_test_dir(final, sizeof final, "short.seg");
    hist_io_faults_short_write(faults, 2);
    CHECK(write_segment(hist_io_faults_io(faults), set, tmp, final, NULL, err, sizeof err));
    hist_io_faults_disarm(faults);
    struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
    CHECK(seg != NULL);
    if (seg) {
        check_segment_matches(seg, set);
        hist_seg_close(seg);
    }

    /* Read errors: open fails with a reason; a chunk read fails alone. */
    hist_io_faults_arm(faults, HIST_IO_PREAD, 1, 1, EIO);
    err[0] = 0;
    seg = hist_seg_open(hist_io_faults_io(faults), final, err, sizeof err);
    CHECK(seg == NULL);
    CHECK(strstr(err, final) != NULL);
    hist_io_faults_disarm(faults);
    seg = hist_seg_open(hist_io_faults_io(faults), final, err, sizeof err);
    CHECK(seg != NULL);
    if (seg) {
        hist_io_faults_arm(faults, HIST_IO_PREAD, 1, 1, EIO);
        struct hist_columns got;
        hist_columns_init(&got, set->chunks[0].cols.type);
        CHECK(!hist_seg_read_chunk(seg, &hist_seg_entries(seg)[0], &got, err, sizeof err));
        CHECK(strstr(err, final) != NULL);
        CHECK(hist_seg_read_chunk(seg, &hist_seg_entries(seg)[0], &got, err, sizeof err));
        CHECK(columns_equal(&got, &set->chunks[0].cols));
        hist_columns_free(&got);
        hist_seg_close(seg);
    }
    hist_io_faults_disarm(faults);
    unlink(final);
    hist_io_faults_free(faults);
}

static void test_alloc_failures(const struct expected_set *small)
{
    char tmp[128], final[128], err[256];
    path_in_test_dir(tmp, sizeof tmp, "oom.tmp");
    path_in_test_dir(final, sizeof final, "oom.seg");
    bool done = false;
    int leftovers = 0;
    uint64_t n;
    for (n = 1; !done && n < 10000; n++) {
        hist_alloc_fail_at(n, 1);
        done = write_segment(hist_io_posix(), small, tmp, final, NULL, err, sizeof err);
        hist_alloc_fail_at(0, 0);
        if (!done && (file_exists(tmp) || file_exists(final))) leftovers++;
    }
    CHECK(done);
    CHECK(n > 2); /* some allocations were made and failed */
    CHECK_EQ_INT(leftovers, 0);

    done = false;
    for (n = 1; !done && n < 10000; n++) {
        hist_alloc_fail_at(n, 1);
        struct hist_segment *seg = hist_seg_open(hist_io_posix(), final, err, sizeof err);
        bool all_read = seg != NULL;
        for (size_t i = 0; seg && all_read && i < hist_seg_entry_count(seg); i++) {
            struct hist_columns got;
            hist_columns_init(&got, small->chunks[i].cols.type);
            all_read = hist_seg_read_chunk(seg, &hist_seg_entries(seg)[i], &got, err, sizeof err);
            hist_columns_free(&got);
        }
        hist_seg_close(seg);
        hist_alloc_fail_at(0, 0);
        done = all_read;
    }
    CHECK(done);
    CHECK(n > 2);
    unlink(final);
}

/* Removes every file of the test directory, then the directory. */
static void remove_test_dir(void)
{
    DIR *d = opendir(test_dir);
    if (d) {
        struct dirent *de;
        char path[512];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", test_dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    CHECK(rmdir(test_dir) == 0);
}

int main(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/airlock_seg_XXXXXX");
    if (!mkdtemp(test_dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct expected_set *set = calloc(1, sizeof *set);
    struct expected_set *small = calloc(1, sizeof *small);
    test_roundtrip_every_type(set);
    test_find(set);
    test_concurrent_reads(set);
    test_find_overlapping();
    test_add_raw(set);
    test_add_out_of_order();
    test_corruption(set);
    make_chunks(small, 6, 2, 40);
    test_io_faults(set, small);
    test_alloc_failures(small);
    expected_free(set);
    expected_free(small);
    free(set);
    free(small);
    remove_test_dir();
    return test_summary();
}
