/* Benchmark: publishing to MQTT (docs/north.md) through a real mosquitto on
 * loopback, measured at a subscriber in this process (libmosquitto).
 *
 * Processes started here: `airlock sim --bench-devices N` (holding registers
 * counting up), mosquitto on a free port, and `airlock run -c <generated
 * config>` for each phase (history off, so the figures are those of
 * publishing). Every reading is a sample (no deadband), so the offered load
 * is devices x registers x 1000 / interval_ms values per second.
 *
 * Phases, each printed as a Markdown table row:
 *  1. UNS JSON throughput: values/s received (one message per value).
 *  2. Sparkplug B throughput: DDATA metrics/s received (decoded with the
 *     project's spb_decode).
 *  3. Spool replay: the broker is down while the gateway collects for a
 *     while (Sparkplug), then started: historical metrics/s received from
 *     the first historical DDATA to the last.
 *  4. Latency at 50,000 values/s (1 device x 1,000 registers every 20 ms),
 *     Sparkplug and UNS: subscriber receipt time minus the sample's
 *     timestamp (epoch ms: a resolution of 1 ms), p50 and p99; with the
 *     CPU the gateway and the broker used (share of one core), and for UNS
 *     the same at QoS 0 for comparison.
 *
 * Usage: bench_north AIRLOCK_BIN [seconds per phase] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"
#include "north/spb_codec.h"

#define SIM_DEVICES 10
#define REGISTERS 1000
#define LATENCY_BUCKETS 100000 /* 0.1 ms each: up to 10 s */

static const char *airlock_bin;
static const char *publish_qos = "1"; /* the publishers' qos in the next phase */
static int phase;                     /* each phase has its own data directory (and spool) */
static char work_dir[] = "/tmp/airlock-bench-north-XXXXXX";

/* mosquitto on 127.0.0.1:port, its files in work_dir; 0 on failure. */
static pid_t start_broker(int port)
{
    char conf[512], log[512];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", work_dir);
    snprintf(log, sizeof log, "%s/mosquitto.log", work_dir);
    FILE *f = fopen(conf, "w");
    if (!f) return 0;
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            "max_inflight_messages 0\nset_tcp_nodelay true\nlog_type error\n%s",
            port, getuid() == 0 ? "user root\n" : "");
    fclose(f);
    char *argv[] = {"/usr/sbin/mosquitto", "-c", conf, NULL};
    pid_t pid = spawn(argv, log);
    if (!wait_port(port, 10000)) {
        stop_process(pid, 1000);
        return 0;
    }
    return pid;
}

/* Writes the gateway configuration: devices x REGISTERS uint16 tags polled
 * every interval_ms, history off, one publisher `bench` of kind uns or
 * sparkplug (group bench, edge node bench) to 127.0.0.1:broker_port. */
static bool write_config(const char *path, int devices, int sim_base, int interval_ms,
                         bool sparkplug, int broker_port, int http_port)
{
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f,
            "gateway: {name: bench, log_level: warn, data_dir: \"%s/data%d\"}\n"
            "history: {enabled: false}\nhttp: {listen: \"127.0.0.1:%d\"}\n"
            "north:\n  - name: bench\n    kind: %s\n    url: mqtt://127.0.0.1:%d\n    qos: %s\n",
            work_dir, ++phase, http_port, sparkplug ? "sparkplug" : "uns", broker_port,
            publish_qos);
    if (sparkplug) fprintf(f, "    group_id: bench\n    edge_node: bench\n");
    fprintf(f, "    spool: {max_size: 512MB}\ndevices:\n");
    for (int d = 0; d < devices; d++) {
        fprintf(f,
                "  - name: dev%d\n    protocol: modbus-tcp\n    host: 127.0.0.1\n    port: %d\n"
                "    timeout_ms: 2000\n    namespace: bench/site/area/line/dev%d\n"
                "    poll_groups:\n      - name: all\n        interval_ms: %d\n        tags:\n",
                d, sim_base + d, d, interval_ms);
        for (int r = 0; r < REGISTERS; r++)
            fprintf(f, "          - {name: r%d, area: holding, address: %d, type: uint16}\n", r, r);
    }
    return fclose(f) == 0;
}

/* `airlock run -c <config>`; waits for its HTTP port. */
static pid_t start_gateway(const char *config, int http_port)
{
    char log[512];
    snprintf(log, sizeof log, "%s/airlock.log", work_dir);
    char *argv[] = {(char *)airlock_bin, "run", "-c", (char *)config, NULL};
    pid_t pid = spawn(argv, log);
    if (!wait_port(http_port, 30000)) {
        stop_process(pid, 2000);
        return 0;
    }
    return pid;
}

/* The first publisher's "spooled" and "state" from /api/v1/health. */
static bool publisher_status(int http_port, uint64_t *spooled, char *state, size_t state_len)
{
    char *body = http_get(http_port, "/api/v1/health");
    if (!body) return false;
    json_t *root = json_loads(body, 0, NULL);
    free(body);
    json_t *pub = root ? json_array_get(json_object_get(root, "north"), 0) : NULL;
    bool ok = pub != NULL;
    if (ok) {
        *spooled = (uint64_t)json_integer_value(json_object_get(pub, "spooled"));
        const char *s = json_string_value(json_object_get(pub, "state"));
        snprintf(state, state_len, "%s", s ? s : "?");
    }
    json_decref(root);
    return ok;
}

/* The gateway's and the broker's CPU over the last live phase's window, in
 * share of one core. */
static double last_gateway_cpu, last_broker_cpu;

/* ------------------------------------------------------------ subscriber */

struct counter {
    bool sparkplug;
    _Atomic uint64_t values;
    _Atomic uint64_t historical;
    _Atomic int64_t first_historical_us;
    _Atomic int64_t last_historical_us;
    _Atomic bool record_latency;
    _Atomic uint64_t latency_count;
    _Atomic uint64_t latency[LATENCY_BUCKETS]; /* 0.1 ms buckets */
};

static void record_latency(struct counter *c, int64_t now, uint64_t ts_ms)
{
    int64_t lat = now - (int64_t)ts_ms * 1000; /* us */
    int64_t bucket = lat < 0 ? 0 : lat / 100;
    if (bucket >= LATENCY_BUCKETS) bucket = LATENCY_BUCKETS - 1;
    atomic_fetch_add(&c->latency[bucket], 1);
    atomic_fetch_add(&c->latency_count, 1);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    struct counter *c = arg;
    int64_t now = now_us();
    bool lat = atomic_load(&c->record_latency);
    if (!c->sparkplug) {
        atomic_fetch_add(&c->values, 1);
        if (lat) {
            const char *p = memmem(msg->payload, (size_t)msg->payloadlen, "\"timestamp\":", 12);
            if (p) record_latency(c, now, strtoull(p + 12, NULL, 10));
        }
        return;
    }
    if (!strstr(msg->topic, "/DDATA/")) return;
    struct spb_decoded d;
    size_t skipped = 0;
    char why[128];
    if (!spb_decode(msg->payload, (size_t)msg->payloadlen, &d, &skipped, why, sizeof why)) return;
    uint64_t hist = 0;
    for (size_t i = 0; i < d.metric_count; i++) {
        if (d.metrics[i].is_historical)
            hist++;
        else if (lat && d.metrics[i].has_timestamp)
            record_latency(c, now, d.metrics[i].timestamp_ms);
    }
    atomic_fetch_add(&c->values, d.metric_count);
    if (hist) {
        int64_t zero = 0;
        atomic_compare_exchange_strong(&c->first_historical_us, &zero, now);
        atomic_store(&c->last_historical_us, now);
        atomic_fetch_add(&c->historical, hist);
    }
    spb_decoded_free(&d);
}

/* A subscriber to topic at QoS 0 with its network loop in a thread. */
static struct mosquitto *subscribe(int port, const char *topic, struct counter *c)
{
    struct mosquitto *m = mosquitto_new(NULL, true, c);
    if (!m) return NULL;
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_subscribe(m, NULL, topic, 0) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(m);
        return NULL;
    }
    return m;
}

static void unsubscribe(struct mosquitto *m)
{
    if (!m) return;
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, true);
    mosquitto_destroy(m);
}

/* The latency (ms) below which q of the recorded samples fall. */
static double latency_quantile(struct counter *c, double q)
{
    uint64_t total = atomic_load(&c->latency_count), seen = 0;
    if (!total) return -1;
    for (size_t i = 0; i < LATENCY_BUCKETS; i++) {
        seen += atomic_load(&c->latency[i]);
        if ((double)seen >= q * (double)total) return (double)(i + 1) / 10.0;
    }
    return (double)LATENCY_BUCKETS / 10.0;
}

/* ------------------------------------------------------------ phases */

struct env {
    int sim_base;
    int broker_port;
    pid_t broker;
    int seconds;
};

/* Throughput (or latency) of one publisher kind: values/s received over
 * the measuring window after a 3 s warm-up. */
static double run_live(struct env *e, bool sparkplug, int devices, int interval_ms,
                       struct counter *c)
{
    char config[512];
    snprintf(config, sizeof config, "%s/airlock.yaml", work_dir);
    int http_port = free_port();
    if (!write_config(config, devices, e->sim_base, interval_ms, sparkplug, e->broker_port,
                      http_port))
        return -1;
    memset(c, 0, sizeof *c);
    c->sparkplug = sparkplug;
    struct mosquitto *sub = subscribe(e->broker_port, sparkplug ? "spBv1.0/#" : "uns/#", c);
    pid_t gw = start_gateway(config, http_port);
    if (!sub || !gw) {
        fprintf(stderr, "bench_north: subscriber or gateway did not start (see %s)\n", work_dir);
        unsubscribe(sub);
        stop_process(gw, 5000);
        return -1;
    }
    sleep_ms(3000);
    atomic_store(&c->record_latency, true);
    uint64_t v0 = atomic_load(&c->values);
    int64_t t0 = now_us();
    double g0 = cpu_seconds(gw), b0 = cpu_seconds(e->broker);
    sleep_ms(e->seconds * 1000);
    uint64_t v1 = atomic_load(&c->values);
    int64_t t1 = now_us();
    double window_s = (double)(t1 - t0) / 1e6;
    last_gateway_cpu = (cpu_seconds(gw) - g0) / window_s;
    last_broker_cpu = (cpu_seconds(e->broker) - b0) / window_s;
    atomic_store(&c->record_latency, false);
    stop_process(gw, 15000);
    unsubscribe(sub);
    return (double)(v1 - v0) / ((double)(t1 - t0) / 1e6);
}

/* Spool replay (Sparkplug): fills the spool for fill_s with the broker
 * down, starts it, returns historical metrics/s from the first historical
 * DDATA to the last; *spooled_out is what was pending at the restart. */
static double run_replay(struct env *e, int devices, int interval_ms, int fill_s, struct counter *c,
                         uint64_t *spooled_out, double *connect_s)
{
    char config[512];
    snprintf(config, sizeof config, "%s/airlock.yaml", work_dir);
    int http_port = free_port();
    stop_process(e->broker, 5000);
    e->broker = 0;
    if (!write_config(config, devices, e->sim_base, interval_ms, true, e->broker_port, http_port))
        return -1;
    pid_t gw = start_gateway(config, http_port);
    if (!gw) return -1;
    sleep_ms(fill_s * 1000);
    uint64_t spooled = 0;
    char state[64] = "";
    publisher_status(http_port, &spooled, state, sizeof state);
    *spooled_out = spooled;
    memset(c, 0, sizeof *c);
    c->sparkplug = true;
    int64_t up = now_us();
    e->broker = start_broker(e->broker_port);
    struct mosquitto *sub = e->broker ? subscribe(e->broker_port, "spBv1.0/#", c) : NULL;
    double rate = -1;
    if (sub) {
        for (int waited = 0; waited < 120000; waited += 100) {
            if (spooled && atomic_load(&c->historical) >= spooled) break;
            if (publisher_status(http_port, &spooled, state, sizeof state) && spooled == 0 &&
                strcmp(state, "connected") == 0 && waited > 2000)
                break;
            sleep_ms(100);
        }
        int64_t first = atomic_load(&c->first_historical_us);
        int64_t last = atomic_load(&c->last_historical_us);
        uint64_t hist = atomic_load(&c->historical);
        *connect_s = first ? (double)(first - up) / 1e6 : -1;
        if (last > first) rate = (double)hist / ((double)(last - first) / 1e6);
    }
    stop_process(gw, 15000);
    unsubscribe(sub);
    return rate;
}

/* Whether the phase named name runs: all of them unless
 * AIRLOCK_BENCH_PHASES lists some (comma-separated: uns, sparkplug,
 * replay, latency-sparkplug, latency-uns, latency-uns-qos0). */
static bool phase_wanted(const char *name)
{
    const char *list = getenv("AIRLOCK_BENCH_PHASES");
    if (!list || !*list) return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return true;
    return false;
}

static const char *verdict(bool ok)
{
    return ok ? "pass" : "FAIL";
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s AIRLOCK_BIN [seconds per phase]\n", argv[0]);
        return 2;
    }
    airlock_bin = argv[1];
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    if (!mkdtemp(work_dir)) {
        perror("mkdtemp");
        return 1;
    }
    mosquitto_lib_init();
    struct env e = {.seconds = seconds > 0 ? seconds : 10};
    e.sim_base = 22000 + (int)(getpid() % 4000);
    char devs[16], regs[16], base[16];
    snprintf(devs, sizeof devs, "%d", SIM_DEVICES);
    snprintf(regs, sizeof regs, "%d", REGISTERS);
    snprintf(base, sizeof base, "%d", e.sim_base);
    char *sim_argv[] = {(char *)airlock_bin,
                        "sim",
                        "--bench-devices",
                        devs,
                        "--bench-registers",
                        regs,
                        "--port-base",
                        base,
                        NULL};
    pid_t sim = spawn(sim_argv, NULL);
    e.broker_port = free_port();
    e.broker = start_broker(e.broker_port);
    struct counter *c = calloc(1, sizeof *c);
    if (!c || !wait_port(e.sim_base + SIM_DEVICES - 1, 10000) || !e.broker) {
        fprintf(stderr, "bench_north: simulator or mosquitto did not start\n");
        stop_process(sim, 2000);
        stop_process(e.broker, 2000);
        return 1;
    }

    printf("| measurement | offered | result | target |\n| --- | --- | --- | --- |\n");
    fflush(stdout);
    if (phase_wanted("uns")) {
        double uns = run_live(&e, false, 5, 10, c);
        printf("| UNS JSON, values/s received (QoS 1, one message per value) | up to %d/s | "
               "%.0f | |\n",
               5 * REGISTERS * 100, uns);
        fflush(stdout);
    }
    if (phase_wanted("sparkplug")) {
        double spb = run_live(&e, true, SIM_DEVICES, 10, c);
        printf("| Sparkplug B, DDATA metrics/s received | up to %d/s | %.0f | >= 500,000: %s |\n",
               SIM_DEVICES * REGISTERS * 100, spb, verdict(spb >= 500000));
        fflush(stdout);
    }
    if (phase_wanted("replay")) {
        uint64_t spooled = 0;
        double connect_s = -1;
        double replay = run_replay(&e, 2, 10, e.seconds, c, &spooled, &connect_s);
        printf(
            "| spool replay (Sparkplug, historical metrics/s; %llu spooled, first after %.2f s) | "
            "| %.0f | >= 200,000: %s |\n",
            (unsigned long long)spooled, connect_s, replay, verdict(replay >= 200000));
        fflush(stdout);
    }
    double rate, p50, p99;
    if (phase_wanted("latency-sparkplug")) {
        rate = run_live(&e, true, 1, 20, c);
        p50 = latency_quantile(c, 0.5);
        p99 = latency_quantile(c, 0.99);
        printf("| Sparkplug latency at 50,000 values/s (%.0f/s received; CPU: gateway %.0f %%, "
               "broker %.0f %%), p50 / p99 | 50,000/s | %.1f ms / %.1f ms | p99 < 10 ms: %s |\n",
               rate, last_gateway_cpu * 100, last_broker_cpu * 100, p50, p99,
               verdict(p99 >= 0 && p99 < 10));
        fflush(stdout);
    }
    if (phase_wanted("latency-uns")) {
        rate = run_live(&e, false, 1, 20, c);
        p50 = latency_quantile(c, 0.5);
        p99 = latency_quantile(c, 0.99);
        printf("| UNS latency at 50,000 values/s, QoS 1 (%.0f/s received; CPU: gateway %.0f %%, "
               "broker %.0f %%), p50 / p99 | 50,000/s | %.1f ms / %.1f ms | p99 < 10 ms: %s |\n",
               rate, last_gateway_cpu * 100, last_broker_cpu * 100, p50, p99,
               verdict(p99 >= 0 && p99 < 10));
        fflush(stdout);
    }
    /* The same at QoS 0: what the broker's per-message cost allows
     * without acknowledgements (no delivery guarantee: for comparison). */
    if (phase_wanted("latency-uns-qos0")) {
        publish_qos = "0";
        rate = run_live(&e, false, 1, 20, c);
        publish_qos = "1";
        p50 = latency_quantile(c, 0.5);
        p99 = latency_quantile(c, 0.99);
        printf("| UNS latency at 50,000 values/s, QoS 0 (%.0f/s received; CPU: gateway %.0f %%, "
               "broker %.0f %%), p50 / p99 | 50,000/s | %.1f ms / %.1f ms | (comparison) |\n",
               rate, last_gateway_cpu * 100, last_broker_cpu * 100, p50, p99);
    }

    stop_process(e.broker, 5000);
    stop_process(sim, 5000);
    free(c);
    mosquitto_lib_cleanup();
    if (!getenv("AIRLOCK_BENCH_KEEP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work_dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_north: could not remove %s\n", work_dir);
    } else {
        fprintf(stderr, "bench_north: kept %s\n", work_dir);
    }
    return 0;
}
