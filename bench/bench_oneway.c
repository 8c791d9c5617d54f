/* Benchmark: one-way link throughput (docs/oneway.md) between two network
 * namespaces joined by a veth pair, as `airlock ot` and `airlock it` would
 * run on two hosts.
 *
 * This program runs itself twice, in two roles (`ip netns exec`):
 *  - send (OT namespace): a generator thread puts batches of 1,000 doubles
 *    (10,000 tags, one poll's timestamp per batch) into a boundary as fast
 *    as it takes them, or at --rate values/s; link_sender encodes and sends
 *    them (HMAC-SHA256 per datagram, 1400-byte datagrams);
 *  - receive (IT namespace): link_receiver verifies, decodes and hands the
 *    samples to a counting sink.
 * Each role reports its counters and the CPU it used (user + system time,
 * in % of one core: the sender's over its run, generator thread included;
 * the receiver's over the time data arrived, idle time before and after
 * included in the numerator). When namespaces cannot be created (not
 * root), both roles run on loopback in this namespace, and the output says
 * so.
 *
 * Rows: the maximum rate (what the receiver got, and the loss), then the
 * target rate of 1,000,000 values/s offered (loss should be 0), both with
 * redundancy 1, and 1,000,000 values/s with redundancy 2.
 *
 * Usage: bench_oneway [seconds per row]   (default 5) */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "boundary/boundary.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/tag.h"
#include "oneway/link_receiver.h"
#include "oneway/link_sender.h"

#define TAGS 10000u
#define BATCH 1000u
#define PORT 7500
#define LINK_ID 1

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void bench_key(uint8_t key[LINK_KEY_BYTES])
{
    uint8_t material[32];
    memset(material, 'b', sizeof material);
    link_key_derive(material, sizeof material, key, NULL, 0);
}

static void make_tags(struct tag_table *t)
{
    tag_table_init(t);
    tag_table_reserve(t, TAGS);
    for (uint32_t i = 0; i < TAGS; i++) {
        char path[64];
        snprintf(path, sizeof path, "bench/site/area/line%u/cell/v%u", i / 1000, i);
        struct tag tag = {.type = VALUE_DOUBLE, .path = path, .unit = "", .description = ""};
        tag_table_add(t, &tag);
    }
}

/* ---- send role --------------------------------------------------------------------- */

static int role_send(const char *dest, double seconds, uint64_t rate, uint32_t redundancy)
{
    uint8_t key[LINK_KEY_BYTES];
    bench_key(key);
    struct tag_table tags;
    make_tags(&tags);
    struct boundary *b = boundary_create(1024, 200);
    struct link_sender_options o = {.destination = dest,
                                    .link_id = LINK_ID,
                                    .redundancy = redundancy,
                                    .heartbeat_interval_ms = 100,
                                    .source = b};
    memcpy(o.key, key, sizeof key);
    char err[256];
    struct link_sender *s = link_sender_start(&o, &tags, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_oneway send: %s\n", err);
        return 1;
    }
    clock_sleep_until_ms(clock_mono_ms() + 300); /* the BIRTH first */
    double cpu0 = cpu_seconds();
    int64_t t0 = clock_mono_ns(), end = t0 + (int64_t)(seconds * 1e9);
    uint64_t offered = 0, dropped = 0;
    uint32_t next_tag = 0;
    for (int64_t now = t0; now < end; now = clock_mono_ns()) {
        if (rate) { /* paced: never ahead of rate * elapsed */
            int64_t due = t0 + (int64_t)((double)offered / (double)rate * 1e9);
            if (due > now) {
                struct timespec ts = {.tv_sec = 0, .tv_nsec = due - now};
                nanosleep(&ts, NULL);
            }
        }
        struct sample_batch *batch = sample_batch_new(BATCH);
        int64_t ts_ns = clock_now_ns();
        for (uint32_t i = 0; i < BATCH; i++) {
            struct value v = value_double((double)(offered + i) * 0.25);
            sample_batch_add(batch, next_tag, ts_ns, QUALITY_GOOD, &v);
            next_tag = (next_tag + 1) % TAGS;
        }
        offered += BATCH;
        if (!boundary_send(b, batch)) dropped += BATCH;
    }
    double wall = (double)(clock_mono_ns() - t0) / 1e9;
    clock_sleep_until_ms(clock_mono_ms() + 200);
    struct link_sender_counters c;
    link_sender_get_counters(s, &c);
    double cpu = cpu_seconds() - cpu0;
    link_sender_stop(s);
    boundary_destroy(b);
    tag_table_clear(&tags);
    printf("role=send offered=%" PRIu64 " boundary_dropped=%" PRIu64 " samples=%" PRIu64
           " datagrams=%" PRIu64 " copies=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f cpu=%.3f\n",
           offered, dropped, c.samples, c.datagrams, c.copies_sent, c.bytes, wall, cpu);
    return 0;
}

/* ---- receive role ------------------------------------------------------------------ */

static _Atomic uint64_t received_samples;
static _Atomic int64_t first_ns, last_ns;

static bool sink_tags(void *ctx, struct tag_table *tags, uint64_t session, uint32_t epoch)
{
    (void)ctx;
    (void)tags;
    (void)session;
    (void)epoch;
    return true;
}

static void sink_batch(void *ctx, struct sample_batch *batch)
{
    (void)ctx;
    int64_t now = clock_mono_ns();
    int64_t zero = 0;
    atomic_compare_exchange_strong(&first_ns, &zero, now);
    atomic_store(&last_ns, now);
    atomic_fetch_add(&received_samples, batch->count);
    sample_batch_free(batch);
}

static int role_receive(const char *listen, double seconds)
{
    uint8_t key[LINK_KEY_BYTES];
    bench_key(key);
    struct link_receiver_options o = {.listen = listen,
                                      .link_id = LINK_ID,
                                      .max_tags = TAGS,
                                      .cb = {.on_tags = sink_tags, .on_batch = sink_batch}};
    memcpy(o.key, key, sizeof key);
    char err[256];
    double cpu0 = cpu_seconds();
    int64_t t0 = clock_mono_ns();
    struct link_receiver *r = link_receiver_start(&o, err, sizeof err);
    if (!r) {
        fprintf(stderr, "bench_oneway receive: %s\n", err);
        return 1;
    }
    /* The sender starts 0.5 s after us and runs `seconds` after its BIRTH;
     * then the reorder wait reports the last gaps. */
    clock_sleep_until_ms(clock_mono_ms() + (int64_t)(seconds * 1000) + 2500);
    struct link_receiver_status *st = malloc(sizeof *st);
    if (!st) return 1;
    link_receiver_get_status(r, st);
    double wall = (double)(clock_mono_ns() - t0) / 1e9, cpu = cpu_seconds() - cpu0;
    link_receiver_stop(r);
    double active = (double)(atomic_load(&last_ns) - atomic_load(&first_ns)) / 1e9;
    printf("role=receive received=%" PRIu64 " lost=%" PRIu64 " duplicates=%" PRIu64 " bad=%" PRIu64
           " datagrams=%" PRIu64 " active=%.3f seconds=%.3f cpu=%.3f\n",
           atomic_load(&received_samples), st->lost, st->duplicates,
           st->bad_mac + st->malformed + st->other_link, st->datagrams, active, wall, cpu);
    free(st);
    return 0;
}

/* ---- the driver: namespaces, roles, table ------------------------------------------- */

static char ns_ot[32], ns_it[32], veth_ot[16], veth_it[16];
static bool use_namespaces;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char quiet[1100];
    snprintf(quiet, sizeof quiet, "%s >/dev/null 2>&1", cmd);
    return system(quiet);
}

static void namespaces_down(void)
{
    if (!use_namespaces) return;
    sh("ip netns del %s", ns_ot);
    sh("ip netns del %s", ns_it);
}

static bool namespaces_up(void)
{
    int pid = (int)getpid();
    snprintf(ns_ot, sizeof ns_ot, "bot%d", pid);
    snprintf(ns_it, sizeof ns_it, "bit%d", pid);
    snprintf(veth_ot, sizeof veth_ot, "bo%d", pid % 1000000);
    snprintf(veth_it, sizeof veth_it, "bi%d", pid % 1000000);
    if (sh("ip netns add %s", ns_ot) != 0) return false;
    use_namespaces = true;
    bool ok = sh("ip netns add %s", ns_it) == 0 &&
              sh("ip link add %s type veth peer name %s", veth_ot, veth_it) == 0 &&
              sh("ip link set %s netns %s", veth_ot, ns_ot) == 0 &&
              sh("ip link set %s netns %s", veth_it, ns_it) == 0 &&
              sh("ip -n %s addr add 10.78.0.1/24 dev %s", ns_ot, veth_ot) == 0 &&
              sh("ip -n %s addr add 10.78.0.2/24 dev %s", ns_it, veth_it) == 0 &&
              sh("ip -n %s link set %s up", ns_ot, veth_ot) == 0 &&
              sh("ip -n %s link set %s up", ns_it, veth_it) == 0 &&
              sh("ip -n %s link set lo up", ns_ot) == 0 &&
              sh("ip -n %s link set lo up", ns_it) == 0;
    if (!ok) {
        namespaces_down();
        use_namespaces = false;
    }
    return ok;
}

struct role_result {
    bool ok;
    uint64_t offered, boundary_dropped, samples, datagrams, copies, bytes;
    uint64_t received, lost, duplicates, bad;
    double seconds, cpu, active;
};

static bool parse_value(const char *line, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p) return false;
    *out = strtod(p + strlen(pat), NULL);
    return true;
}

static FILE *start_role(const char *self, const char *ns, const char *args)
{
    char cmd[1024];
    if (use_namespaces)
        snprintf(cmd, sizeof cmd, "ip netns exec %s %s %s", ns, self, args);
    else
        snprintf(cmd, sizeof cmd, "%s %s", self, args);
    return popen(cmd, "r");
}

static void read_role(FILE *f, struct role_result *r)
{
    char line[1024];
    memset(r, 0, sizeof *r);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "role=", 5) != 0) continue;
        char padded[1100];
        snprintf(padded, sizeof padded, " %s", line);
        double v;
        r->ok = true;
#define FIELD(name, dst)                                                                           \
    if (parse_value(padded, name, &v)) dst = v
        FIELD("offered", r->offered);
        FIELD("boundary_dropped", r->boundary_dropped);
        FIELD("samples", r->samples);
        FIELD("datagrams", r->datagrams);
        FIELD("copies", r->copies);
        FIELD("bytes", r->bytes);
        FIELD("received", r->received);
        FIELD("lost", r->lost);
        FIELD("duplicates", r->duplicates);
        FIELD("bad", r->bad);
        FIELD("seconds", r->seconds);
        FIELD("cpu", r->cpu);
        FIELD("active", r->active);
#undef FIELD
    }
    if (f) pclose(f);
}

static void run_row(const char *self, double seconds, uint64_t rate, uint32_t redundancy)
{
    const char *it_addr = use_namespaces ? "10.78.0.2" : "127.0.0.1";
    char args[256];
    snprintf(args, sizeof args, "--role receive --listen %s:%d --seconds %.1f", it_addr, PORT,
             seconds);
    FILE *rx = start_role(self, ns_it, args);
    clock_sleep_until_ms(clock_mono_ms() + 500);
    snprintf(args, sizeof args,
             "--role send --dest %s:%d --seconds %.1f --rate %" PRIu64 " --redundancy %u", it_addr,
             PORT, seconds, rate, redundancy);
    FILE *tx = start_role(self, ns_ot, args);
    struct role_result s, r;
    read_role(tx, &s);
    read_role(rx, &r);
    if (!s.ok || !r.ok) {
        printf("| %s, redundancy %u | failed (see stderr) | | | | |\n",
               rate ? "paced" : "maximum rate", redundancy);
        return;
    }
    double values_per_s = r.active > 0 ? (double)r.received / r.active : 0;
    double loss =
        s.samples
            ? 100.0 * (double)(s.samples - (r.received < s.samples ? r.received : s.samples)) /
                  (double)s.samples
            : 0;
    char offered[64];
    if (rate)
        snprintf(offered, sizeof offered, "%" PRIu64 "/s", rate);
    else
        snprintf(offered, sizeof offered, "max (%.0f/s)", (double)s.offered / s.seconds);
    printf("| redundancy %u, offered %s | %.0f | %.3f %% (%" PRIu64 " datagrams lost) | %.0f %% "
           "| %.0f %% | %s |\n",
           redundancy, offered, values_per_s, loss, r.lost, 100.0 * s.cpu / s.seconds,
           100.0 * r.cpu / (r.active > 0 ? r.active : 1),
           values_per_s >= 1e6 ? ">= 1,000,000: pass" : ">= 1,000,000: FAIL");
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "Usage: bench_oneway [seconds per row]\n");
    return 2;
}

int main(int argc, char **argv)
{
    log_set_level(LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "--role") == 0) {
        const char *role = argc > 2 ? argv[2] : "", *addr = NULL;
        double seconds = 5;
        uint64_t rate = 0;
        uint32_t redundancy = 1;
        for (int i = 3; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--listen") || !strcmp(argv[i], "--dest")) addr = argv[i + 1];
            if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
            if (!strcmp(argv[i], "--rate")) rate = strtoull(argv[i + 1], NULL, 10);
            if (!strcmp(argv[i], "--redundancy")) redundancy = (uint32_t)atoi(argv[i + 1]);
        }
        if (!addr) return usage();
        if (strcmp(role, "send") == 0) return role_send(addr, seconds, rate, redundancy);
        if (strcmp(role, "receive") == 0) return role_receive(addr, seconds);
        return usage();
    }
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    if (seconds <= 0) return usage();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    if (namespaces_up())
        printf("Between two network namespaces joined by a veth pair (10.78.0.1 -> 10.78.0.2), "
               "%.0f s per row; 1400-byte datagrams, HMAC-SHA256 on each.\n\n",
               seconds);
    else
        printf("Network namespaces could not be created (not root?): both sides on LOOPBACK in "
               "one namespace, %.0f s per row; 1400-byte datagrams, HMAC-SHA256 on each.\n\n",
               seconds);
    printf("| run | values/s received | loss | CPU, sender | CPU, receiver | target |\n"
           "| --- | --- | --- | --- | --- | --- |\n");
    run_row(self, seconds, 0, 1);
    run_row(self, seconds, 1000000, 1);
    run_row(self, seconds, 1000000, 2);
    namespaces_down();
    return 0;
}
