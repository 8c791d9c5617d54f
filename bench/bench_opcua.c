/* Benchmark: the OPC UA client (docs/opcua.md, docs/benchmarks.md).
 *
 * Part 1, always: decoding speed of Publish responses, the hot path of a
 * subscription. A PublishResponse carrying one DataChangeNotification of N
 * MonitoredItemNotifications (a Double value, status, source timestamp: what
 * a PLC's subscription sends) is encoded once, then decoded repeatedly with
 * ua_decode_publish_response on one core; values/s = N x decodes / time.
 *
 * Part 2, when given the airlock binary: values/s received by a running
 * gateway from the node-opcua test server (tests/e2e/peers/opcua_server.mjs)
 * with ITEMS monitored items sampled every 100 ms, the CPU of the gateway and
 * of the server measured separately (the server, in JavaScript, is usually
 * the limit), and the gateway's memory per monitored item (resident memory
 * with ITEMS items minus with 10 items, divided by the difference).
 *
 * Usage: bench_opcua [AIRLOCK_BIN [ITEMS [SECONDS]]] */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_proc.h"
#include "drivers/opcua/ua_buf.h"
#include "drivers/opcua/ua_services.h"
#include "drivers/opcua/ua_types.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------- part 1: decoding */

/* A PublishResponse body (type id first) with n Double values. */
static uint8_t *encode_publish_response(size_t n, size_t *len)
{
    struct ua_writer body, w;
    ua_writer_init(&body, 64u << 20);
    ua_write_i32(&body, (int32_t)n); /* MonitoredItems */
    int64_t ticks = ua_datetime_from_unix_ns(1764633600000000000LL);
    for (size_t i = 0; i < n; i++) {
        ua_write_u32(&body, (uint32_t)i); /* client handle */
        struct ua_datavalue dv = {
            .mask = UA_DATAVALUE_HAS_VALUE | UA_DATAVALUE_HAS_SOURCE_TIMESTAMP,
            .source_timestamp = ticks + (int64_t)i,
            .value = ua_variant_double(20.0 + (double)i / 7.0),
        };
        ua_encode_datavalue(&body, &dv);
    }
    ua_write_i32(&body, -1); /* DiagnosticInfos */

    ua_writer_init(&w, 64u << 20);
    struct ua_nodeid type = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_PUBLISH_RESPONSE);
    ua_encode_nodeid(&w, &type);
    /* ResponseHeader: timestamp, request handle, service result, no
     * diagnostics, no string table, no additional header. */
    ua_write_i64(&w, ticks);
    ua_write_u32(&w, 7);
    ua_write_u32(&w, 0);
    ua_write_u8(&w, 0);
    ua_write_i32(&w, -1);
    struct ua_extension_object none = {.type_id = ua_nodeid_numeric(0, 0)};
    ua_encode_extension_object(&w, &none);
    ua_write_u32(&w, 1);  /* subscription id */
    ua_write_i32(&w, 1);  /* available sequence numbers */
    ua_write_u32(&w, 42); /* ... */
    ua_write_bool(&w, false);
    ua_write_u32(&w, 42); /* NotificationMessage: sequence number, publish time */
    ua_write_i64(&w, ticks);
    ua_write_i32(&w, 1); /* one NotificationData */
    struct ua_extension_object dcn = {
        .type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION),
        .encoding = 1,
        .body = {(const char *)body.data, (int32_t)body.len},
    };
    ua_encode_extension_object(&w, &dcn);
    ua_write_i32(&w, 0);  /* results */
    ua_write_i32(&w, -1); /* diagnostic infos */
    ua_writer_free(&body);
    if (w.failed) {
        fprintf(stderr, "bench_opcua: encoding failed: %s\n", w.fail_reason);
        exit(1);
    }
    return ua_writer_release(&w, len);
}

/* Decodes a response of n values for about seconds; values/s. */
static double decode_rate(size_t n, double seconds)
{
    size_t len = 0;
    uint8_t *msg = encode_publish_response(n, &len);
    struct ua_arena arena;
    ua_arena_init(&arena, 1u << 20, 256u << 20);
    uint64_t values = 0;
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 16; k++) {
            struct ua_reader r;
            ua_reader_init(&r, msg, len);
            struct ua_publish_response resp;
            uint32_t status = ua_decode_publish_response(&r, &arena, &resp);
            if (status != 0 || resp.message.values_count != n) {
                fprintf(stderr, "bench_opcua: decode failed (0x%08x, %zu values)\n", status,
                        resp.message.values_count);
                exit(1);
            }
            values += resp.message.values_count;
            ua_arena_reset(&arena);
        }
        t1 = now_s();
    }
    ua_arena_free(&arena);
    free(msg);
    return (double)values / (t1 - t0);
}

/* ------------------------------------------------- part 2: end to end */

static char work_dir[] = "/tmp/airlock-bench-opcua-XXXXXX";

/* The node-opcua test server with `items` Bulk variables changing every
 * 100 ms (its output in work_dir/server.log); waits up to 3 minutes for
 * its port (node-opcua builds a large address space slowly). */
static pid_t start_server(int port, int items)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "exec node tests/e2e/peers/opcua_server.mjs --port %d --pki %s/server-pki --bulk %d "
             "--rate-ms 100 --trust-all-clients >>%s/server.log 2>&1 & echo $!",
             port, work_dir, items, work_dir);
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    char line[256];
    pid_t pid = fgets(line, sizeof line, f) ? (pid_t)atoi(line) : 0;
    pclose(f);
    if (pid <= 0) return 0;
    if (!wait_port(port, 180000)) {
        stop_process(pid, 2000);
        return 0;
    }
    return pid;
}

struct e2e_result {
    double values_per_s;
    double gateway_cpu, server_cpu; /* share of one core */
    long gateway_rss_kb;
};

/* The gateway's boundary.samples_sent and its device's state. */
static bool gateway_counters(int http_port, uint64_t *samples, char *state, size_t state_len)
{
    char *body = http_get(http_port, "/api/v1/health");
    if (!body) return false;
    json_t *root = json_loads(body, 0, NULL);
    free(body);
    json_t *dev = root ? json_array_get(json_object_get(root, "devices"), 0) : NULL;
    bool ok = dev != NULL;
    if (ok) {
        *samples = (uint64_t)json_integer_value(
            json_object_get(json_object_get(root, "boundary"), "samples_sent"));
        const char *st = json_string_value(json_object_get(dev, "state"));
        snprintf(state, state_len, "%s", st ? st : "?");
    }
    json_decref(root);
    return ok;
}

/* Runs `airlock run` subscribed to Bulk.0..items-1 (100 ms sampling and
 * publishing) for seconds after a warm-up; false when it did not work. */
static bool run_gateway(const char *airlock, int server_port, pid_t server, int items, int seconds,
                        struct e2e_result *r)
{
    static int run;
    char config[512], log[512];
    snprintf(config, sizeof config, "%s/airlock-%d.yaml", work_dir, ++run);
    snprintf(log, sizeof log, "%s/airlock.log", work_dir);
    int http_port = free_port();
    FILE *f = fopen(config, "w");
    if (!f) return false;
    fprintf(f,
            "gateway: {name: bench, log_level: warn, data_dir: \"%s/data%d\"}\n"
            "history: {enabled: false}\nhttp: {listen: \"127.0.0.1:%d\"}\n"
            "devices:\n  - name: ua\n    protocol: opcua\n"
            "    endpoint: opc.tcp://127.0.0.1:%d/airlock\n    timeout_ms: 30000\n"
            "    namespace: bench/site/area/line/ua\n    groups:\n      - name: bulk\n"
            "        interval_ms: 100\n        sampling_ms: 100\n        tags:\n",
            work_dir, run, http_port, server_port);
    for (int i = 0; i < items; i++)
        fprintf(f, "          - {name: b%d, node: \"ns=1;s=Bulk.%d\", type: double}\n", i, i);
    if (fclose(f) != 0) return false;
    char *argv[] = {(char *)airlock, "run", "-c", config, NULL};
    pid_t gw = spawn(argv, log);
    bool ok = wait_port(http_port, 60000);
    uint64_t s0 = 0, s1 = 0;
    char state[64] = "";
    /* Connected, subscribed, values flowing: then 5 s of warm-up. */
    for (int waited = 0; ok && waited < 120000; waited += 500) {
        if (gateway_counters(http_port, &s0, state, sizeof state) &&
            strcmp(state, "connected") == 0 && s0 >= (uint64_t)items)
            break;
        sleep_ms(500);
    }
    ok = ok && strcmp(state, "connected") == 0;
    if (ok) {
        sleep_ms(5000);
        double g0 = cpu_seconds(gw), v0 = cpu_seconds(server);
        int64_t t0 = now_us();
        gateway_counters(http_port, &s0, state, sizeof state);
        sleep_ms(seconds * 1000);
        gateway_counters(http_port, &s1, state, sizeof state);
        double window = (double)(now_us() - t0) / 1e6;
        r->values_per_s = (double)(s1 - s0) / window;
        r->gateway_cpu = (cpu_seconds(gw) - g0) / window;
        r->server_cpu = (cpu_seconds(server) - v0) / window;
        r->gateway_rss_kb = rss_kb(gw);
    } else {
        fprintf(stderr, "bench_opcua: the gateway did not connect (state %s; see %s)\n", state,
                log);
    }
    stop_process(gw, 15000);
    return ok;
}

int main(int argc, char **argv)
{
    printf("| measurement | result | target |\n| --- | --- | --- |\n");
    static const size_t sizes[] = {100, 1000, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double rate = decode_rate(sizes[i], 2.0);
        printf("| Publish response decoding, %zu Double values per message, one core | %.1f M "
               "values/s | >= 5 M: %s |\n",
               sizes[i], rate / 1e6, rate >= 5e6 ? "pass" : "FAIL");
        fflush(stdout);
    }
    if (argc < 2) return 0;
    const char *airlock = argv[1];
    int items = argc > 2 ? atoi(argv[2]) : 10000;
    int seconds = argc > 3 ? atoi(argv[3]) : 10;
    if (items < 20) items = 20;
    if (seconds < 1) seconds = 10;
    if (!mkdtemp(work_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int port = free_port();
    pid_t server = start_server(port, items);
    if (!server) {
        fprintf(stderr, "bench_opcua: the node-opcua server did not start (see %s)\n", work_dir);
        return 1;
    }
    struct e2e_result big = {0}, small = {0};
    bool ok = run_gateway(airlock, port, server, items, seconds, &big) &&
              run_gateway(airlock, port, server, 10, 3, &small);
    if (ok) {
        printf("| values/s received from node-opcua, %d items sampled every 100 ms (offered "
               "%d/s) | %.0f | (the server is the limit: its CPU below) |\n",
               items, items * 10, big.values_per_s);
        printf("| CPU while receiving: gateway / node-opcua server | %.1f %% / %.0f %% of a core "
               "| |\n",
               big.gateway_cpu * 100, big.server_cpu * 100);
        printf("| gateway CPU per million values | %.2f s | |\n",
               big.values_per_s > 0 ? big.gateway_cpu / big.values_per_s * 1e6 : -1);
        printf("| gateway memory: %d items / 10 items; per monitored item | %.1f MB / %.1f MB; "
               "%.0f bytes | |\n",
               items, (double)big.gateway_rss_kb / 1024, (double)small.gateway_rss_kb / 1024,
               (double)(big.gateway_rss_kb - small.gateway_rss_kb) * 1024 / (items - 10));
    }
    stop_process(server, 10000);
    if (!getenv("AIRLOCK_BENCH_KEEP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work_dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_opcua: could not remove %s\n", work_dir);
    }
    return ok ? 0 : 1;
}
