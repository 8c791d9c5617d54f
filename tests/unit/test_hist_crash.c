/* Crash tests of the historian: a child process appends a deterministic
 * series (several series and types, derivable from the sample index) and
 * runs maintenance, checkpoints and compactions at random, reporting each
 * acknowledged count on a pipe; the parent kills it with SIGKILL after a
 * random delay, reopens the store and checks that nothing is corrupt, every
 * acknowledged sample is there exactly (strict durability), and what is
 * there is exactly a prefix of the sequence (no garbage, no duplicates).
 * The next round continues the sequence on the same directory.
 *
 * A second variant under batched durability checks the same consistency
 * and that a killed process loses no acknowledged sample either: batched
 * writes the log at every append and defers only the fsync, so only a
 * power loss (not simulated here) can cost up to fsync_interval_ms. The seed is printed; set
 * AIRLOCK_TEST_SEED to reproduce a run (the kill timing still varies). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "historian/historian.h"
#include "testlib.h"

#define STRICT_ROUNDS 60
#define BATCHED_ROUNDS 20
#define POWER_ROUNDS 30 /* per durability */
#define SERIES_COUNT 4
#define T0 ((int64_t)1700000000000000000)
#define STEP_NS (10 * HIST_NS_PER_MS)
#define BATCHED_FSYNC_MS 50

/* ---- seeded PRNG (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * HIST_NS_PER_S + t.tv_nsec;
}

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

/* ---- the deterministic sequence ---- */

static const char *const series_paths[SERIES_COUNT] = {"crash/line1/flow", "crash/line1/count",
                                                       "crash/line1/running", "crash/line1/state"};
static const enum value_type series_types[SERIES_COUNT] = {VALUE_DOUBLE, VALUE_INT64, VALUE_BOOL,
                                                           VALUE_STRING};

/* Sample number i of the whole sequence: series i % 4, its (i / 4)th
 * sample. Strings are written into buf (32 bytes). */
static void sequence_sample(uint64_t i, const uint32_t *ids, struct hist_sample *out, char *buf)
{
    uint64_t k = i % SERIES_COUNT, j = i / SERIES_COUNT;
    out->series = ids[k];
    out->ts_ns = T0 + (int64_t)j * STEP_NS;
    out->quality = j % 23 == 0  ? QUALITY_BAD_COMMUNICATION_ERROR
                   : j % 7 == 0 ? QUALITY_UNCERTAIN_LAST_USABLE_VALUE
                                : QUALITY_GOOD;
    switch (k) {
    case 0:
        out->value = value_double((double)j * 0.1 - 250.0);
        break;
    case 1:
        out->value = value_int64((int64_t)(j * j) - 5000);
        break;
    case 2:
        out->value = value_bool((j / 3) % 2 == 1);
        break;
    default:
        if (j % 11 == 0)
            buf[0] = 0;
        else
            snprintf(buf, 32, "state-%" PRIu64, j % 50);
        out->value = (struct value){.type = VALUE_STRING};
        out->value.as.str.ptr = buf;
        out->value.as.str.len = (uint32_t)strlen(buf);
        break;
    }
}

static void crash_options(struct hist_options *o, const char *dir, enum hist_durability d)
{
    hist_options_init(o);
    o->dir = dir;
    o->durability = d;
    o->fsync_interval_ms = BATCHED_FSYNC_MS;
    o->partition_ns = 2 * HIST_NS_PER_S;
    o->chunk_span_ns = 500 * HIST_NS_PER_MS;
    o->chunk_max_samples = 32;
    o->checkpoint_interval_ms = 20;
    o->head_max_bytes = 4096;
    o->background = false;
}

/* What the child reports after each acknowledged append. */
struct ack {
    uint64_t acked;   /* samples 0..acked-1 are acknowledged */
    uint64_t durable; /* samples 0..durable-1 are known fsync'd (strict: all acked) */
    int64_t at_ns;    /* CLOCK_MONOTONIC */
};

/* The child: opens the store, appends from sample start on, forever, and
 * reports each acknowledgement on fd. With power, the I/O goes through the
 * fault wrapper, which simulates a power loss at a random write (what was
 * not fsync'd is lost, every later call fails); the writer then stops and
 * waits to be killed. Never returns. */
static void run_writer(const char *dir, enum hist_durability d, uint64_t start, uint64_t seed,
                       int fd, bool power)
{
    rng_state = seed;
    struct hist_options o;
    crash_options(&o, dir, d);
    struct hist_io_faults *faults = NULL;
    if (power) {
        faults = hist_io_faults_new(hist_io_posix());
        if (!faults) _exit(3);
        o.io = hist_io_faults_io(faults);
        hist_io_faults_power_cut_after_writes(faults, 1 + (uint32_t)rng_below(400));
    }
    char err[256];
    struct historian *h = hist_open(&o, err, sizeof err);
    if (!h && power) pause(); /* the power went out while opening */
    if (!h) _exit(4);
    uint32_t ids[SERIES_COUNT];
    for (int k = 0; k < SERIES_COUNT; k++) {
        int64_t id = hist_series(h, series_paths[k], series_types[k]);
        if (id < 0 && power) pause();
        if (id < 0) _exit(5);
        ids[k] = (uint32_t)id;
    }
    uint64_t next = start, durable = start;
    for (;;) {
        struct hist_sample batch[8];
        char strings[8][32];
        size_t n = 1 + (size_t)rng_below(8), accepted = 0;
        for (size_t i = 0; i < n; i++)
            sequence_sample(next + i, ids, &batch[i], strings[i]);
        bool ok = hist_append(h, batch, n, &accepted) && accepted == n;
        if (!ok && power) pause(); /* the power is out: wait for the kill */
        if (!ok) _exit(6);
        next += n;
        if (d == HIST_DURABILITY_STRICT) durable = next;
        struct ack a = {next, durable, mono_ns()};
        if (write(fd, &a, sizeof a) != (ssize_t)sizeof a) _exit(7);
        uint64_t r = rng_below(1000);
        struct hist_stats before, after;
        hist_get_stats(h, &before);
        if (r < 20)
            hist_maintain(h);
        else if (r < 25)
            hist_checkpoint(h);
        else if (r < 27)
            hist_compact(h);
        else if (r < 29)
            hist_sync(h);
        hist_get_stats(h, &after);
        /* An fsync that worked made everything appended before it durable. */
        if (after.fsyncs > before.fsyncs && !after.degraded) durable = next;
        /* Batched accepts into memory while the disk fails; after a power
         * loss there is no point: stop at the first failure seen. */
        if (power && after.degraded) pause();
    }
}

/* The acks read so far (and a record cut across reads). */
struct ack_reader {
    uint8_t partial[sizeof(struct ack)];
    size_t partial_len;
    struct ack *all;
    size_t count, capacity;
};

/* Reads whatever acks are available on fd into r, waiting at most wait_ms
 * for some. False at end of file (the writer is gone). */
static bool read_acks(int fd, struct ack_reader *r, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0) return true;
    uint8_t buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got <= 0) return got < 0 && errno == EINTR;
    for (ssize_t i = 0; i < got; i++) {
        r->partial[r->partial_len++] = buf[i];
        if (r->partial_len < sizeof(struct ack)) continue;
        if (r->count == r->capacity) {
            r->capacity = r->capacity ? 2 * r->capacity : 1024;
            r->all = realloc(r->all, r->capacity * sizeof *r->all);
            if (!r->all) exit(2);
        }
        memcpy(&r->all[r->count++], r->partial, sizeof(struct ack));
        r->partial_len = 0;
    }
    return true;
}

/* Opens the store and checks it holds exactly samples 0..P-1 of the
 * sequence for some P; returns P (or UINT64_MAX when it is inconsistent). */
static uint64_t verify_prefix(const char *dir, enum hist_durability d, int round)
{
    struct hist_options o;
    crash_options(&o, dir, d);
    char err[256] = "";
    struct historian *h = hist_open(&o, err, sizeof err);
    CHECK(h != NULL);
    if (!h) {
        fprintf(stderr, "round %d: hist_open failed: %s\n", round, err);
        return UINT64_MAX;
    }
    struct hist_stats st;
    hist_get_stats(h, &st);
    uint32_t ids[SERIES_COUNT] = {0};
    uint64_t per_series[SERIES_COUNT] = {0};
    bool consistent = true;
    for (int k = 0; k < SERIES_COUNT && consistent; k++) {
        int64_t id = hist_find_series(h, series_paths[k]);
        if (id < 0) continue; /* killed before it was created */
        ids[k] = (uint32_t)id;
        struct hist_columns c;
        hist_columns_init(&c, series_types[k]);
        char why[256] = "";
        if (!hist_read_raw(h, ids[k], INT64_MIN / 2, INT64_MAX / 2, 0, &c, NULL, why, sizeof why)) {
            fprintf(stderr, "round %d: read %s failed: %s\n", round, series_paths[k], why);
            consistent = false;
        }
        for (uint32_t j = 0; j < c.count && consistent; j++) {
            struct hist_sample want;
            char buf[32];
            sequence_sample((uint64_t)j * SERIES_COUNT + (uint64_t)k, ids, &want, buf);
            struct value got = hist_columns_value(&c, j);
            if (c.ts[j] != want.ts_ns || c.quality[j] != want.quality ||
                !value_equal(&got, &want.value)) {
                fprintf(stderr,
                        "round %d: %s sample %u is not the sequence's (ts %+" PRId64
                        " ns, want %+" PRId64 "): garbage or a duplicate\n",
                        round, series_paths[k], j, c.ts[j] - T0, want.ts_ns - T0);
                consistent = false;
            }
        }
        per_series[k] = c.count;
        hist_columns_free(&c);
    }
    uint64_t total = 0;
    for (int k = 0; k < SERIES_COUNT; k++)
        total += per_series[k];
    /* A prefix of the global sequence: series k has every i < total with
     * i % 4 == k. */
    for (int k = 0; k < SERIES_COUNT && consistent; k++) {
        uint64_t want =
            total > (uint64_t)k ? (total - (uint64_t)k + SERIES_COUNT - 1) / SERIES_COUNT : 0;
        if (per_series[k] != want) {
            fprintf(stderr,
                    "round %d: not a prefix: %s has %" PRIu64 " samples, %" PRIu64
                    " expected for %" PRIu64 " in all\n",
                    round, series_paths[k], per_series[k], want, total);
            consistent = false;
        }
    }
    CHECK(consistent);
    CHECK_EQ_INT(st.corrupt_chunks, 0);
    if (st.corrupt_chunks) fprintf(stderr, "round %d: %s\n", round, st.last_error);
    hist_close(h);
    return consistent ? total : UINT64_MAX;
}

struct crash_summary {
    int rounds;
    uint64_t samples;
    uint64_t max_lost;        /* acknowledged samples missing after a kill */
    int64_t max_loss_ns;      /* wall time between the first lost ack and the kill */
    uint64_t beyond_acked;    /* rounds where unacknowledged samples survived */
    uint64_t torn_recoveries; /* rounds ending with less than acknowledged */
};

/* Runs rounds kill-and-recover rounds on dir. */
static void crash_rounds(const char *dir, enum hist_durability d, int rounds, bool power,
                         struct crash_summary *sum)
{
    uint64_t found = 0;
    memset(sum, 0, sizeof *sum);
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        if (pipe(fds) != 0) exit(2);
        uint64_t child_seed = rng_next();
        int delay_ms = (int)rng_below(201);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) exit(2);
        if (pid == 0) {
            close(fds[0]);
            run_writer(dir, d, found, child_seed, fds[1], power);
        }
        close(fds[1]);
        struct ack_reader r = {0};
        int64_t deadline = mono_ns() + delay_ms * HIST_NS_PER_MS;
        for (int64_t now = mono_ns(); now < deadline; now = mono_ns()) {
            int wait = (int)((deadline - now) / HIST_NS_PER_MS) + 1;
            if (!read_acks(fds[0], &r, wait)) break;
        }
        kill(pid, SIGKILL);
        int64_t killed_at = mono_ns();
        int status = 0;
        waitpid(pid, &status, 0);
        while (read_acks(fds[0], &r, 100))
            ;
        close(fds[0]);
        bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        CHECK(killed);
        if (!killed)
            fprintf(stderr, "round %d: the writer ended by itself (status %d)\n", round, status);
        uint64_t acked = r.count ? r.all[r.count - 1].acked : found;
        uint64_t durable = r.count ? r.all[r.count - 1].durable : found;

        uint64_t now_found = verify_prefix(dir, d, round);
        if (now_found == UINT64_MAX) {
            fprintf(stderr, "round %d: stopping (store inconsistent)\n", round);
            free(r.all);
            return;
        }
        CHECK(now_found >= found); /* what a previous round found never goes away */
        /* Whatever was known fsync'd survives a power loss (and a kill). */
        CHECK(now_found >= durable);
        if (now_found < durable)
            fprintf(stderr, "round %d: %" PRIu64 " fsync'd, only %" PRIu64 " recovered\n", round,
                    durable, now_found);
        if (d == HIST_DURABILITY_STRICT) {
            CHECK(now_found >= acked);
            if (now_found < acked)
                fprintf(stderr, "round %d: %" PRIu64 " acknowledged, only %" PRIu64 " recovered\n",
                        round, acked, now_found);
        }
        if (now_found > acked) sum->beyond_acked++;
        if (now_found < acked) {
            sum->torn_recoveries++;
            if (acked - now_found > sum->max_lost) sum->max_lost = acked - now_found;
            /* The window: from the first lost acknowledgement to the kill
             * (or, after a power loss, to the last acknowledgement, which
             * is when the writer saw the disk go). */
            int64_t end = power && r.count ? r.all[r.count - 1].at_ns : killed_at;
            for (size_t i = 0; i < r.count; i++)
                if (r.all[i].acked > now_found) {
                    int64_t loss = end - r.all[i].at_ns;
                    if (loss > sum->max_loss_ns) sum->max_loss_ns = loss;
                    break;
                }
        }
        found = now_found;
        free(r.all);
        sum->rounds++;
    }
    sum->samples = found;
}

static void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/airlock-crash-XXXXXX");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
}

int main(void)
{
    const char *env = getenv("AIRLOCK_TEST_SEED");
    uint64_t seed =
        env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    printf("test_hist_crash: seed %" PRIu64 " (set AIRLOCK_TEST_SEED to reproduce)\n", seed);
    rng_state = seed;

    char dir[64];
    struct crash_summary sum;
    make_temp_dir(dir, sizeof dir);
    crash_rounds(dir, HIST_DURABILITY_STRICT, STRICT_ROUNDS, false, &sum);
    CHECK_EQ_INT(sum.rounds, STRICT_ROUNDS);
    printf("strict: %d SIGKILLs, %" PRIu64 " samples in the end, %" PRIu64
           " rounds kept unacknowledged samples, %" PRIu64 " lost acknowledged ones\n",
           sum.rounds, sum.samples, sum.beyond_acked, sum.torn_recoveries);
    CHECK(sum.samples > 0);
    remove_tree(dir);

    make_temp_dir(dir, sizeof dir);
    crash_rounds(dir, HIST_DURABILITY_BATCHED, BATCHED_ROUNDS, false, &sum);
    CHECK_EQ_INT(sum.rounds, BATCHED_ROUNDS);
    /* A process crash loses nothing under batched: the log is written at
     * every append (only its fsync waits). */
    CHECK_EQ_INT(sum.max_lost, 0);
    printf("batched (fsync every %d ms, maintenance from the writer's loop): %d SIGKILLs, %" PRIu64
           " samples in the end; %" PRIu64 " rounds lost acknowledged samples, at most %" PRIu64
           " samples, acknowledged at most %.1f ms before the kill\n",
           BATCHED_FSYNC_MS, sum.rounds, sum.samples, sum.torn_recoveries, sum.max_lost,
           (double)sum.max_loss_ns / 1e6);
    remove_tree(dir);

    /* Simulated power losses (the fault wrapper cuts every file back to
     * what was fsync'd at a random write): under strict nothing
     * acknowledged is lost; under batched what was acknowledged before the
     * last fsync stays, and the loss is what came after it. */
    make_temp_dir(dir, sizeof dir);
    crash_rounds(dir, HIST_DURABILITY_STRICT, POWER_ROUNDS, true, &sum);
    CHECK_EQ_INT(sum.rounds, POWER_ROUNDS);
    CHECK_EQ_INT(sum.max_lost, 0);
    printf("strict, power loss: %d rounds, %" PRIu64 " samples in the end, no acknowledged loss\n",
           sum.rounds, sum.samples);
    remove_tree(dir);
    make_temp_dir(dir, sizeof dir);
    crash_rounds(dir, HIST_DURABILITY_BATCHED, POWER_ROUNDS, true, &sum);
    CHECK_EQ_INT(sum.rounds, POWER_ROUNDS);
    /* The documented window: what the last fsync_interval_ms brought (the
     * writer here runs maintenance itself, a few times per interval; a
     * margin covers the time between its calls). */
    CHECK(sum.max_loss_ns <= 4 * BATCHED_FSYNC_MS * HIST_NS_PER_MS);
    printf("batched, power loss (fsync every %d ms): %d rounds; %" PRIu64
           " rounds lost acknowledged samples, at most %" PRIu64
           " samples, acknowledged at most %.1f ms before the power went\n",
           BATCHED_FSYNC_MS, sum.rounds, sum.torn_recoveries, sum.max_lost,
           (double)sum.max_loss_ns / 1e6);
    remove_tree(dir);

    int rc = test_summary();
    if (rc) printf("test_hist_crash: failed with seed %" PRIu64 "\n", seed);
    return rc;
}
