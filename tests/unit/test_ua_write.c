/* Tests of OPC UA writes without a server (drivers/opcua/ua_driver.h; the
 * end-to-end test against node-opcua is tests/e2e/test_opcua_write.mjs):
 * the value-to-Variant conversion for every writable built-in type (range
 * limits at both ends, integers from doubles, exactness into Double and
 * Float, Booleans from 0/1, refusals of strings, NaN and the types airlock
 * does not write, each with its message); the Write type of DataTypes;
 * `write:` on OPC UA tags in the configuration (accepted with the Modbus
 * keys, a string tag refused); and driver_write on an OPC UA device:
 * refusals before anything is queued (no policy, wrong value type, unknown
 * tag number, disabled device), a server that refuses connections (named,
 * with the next attempt), a server that never answers (the write times out
 * with nothing written), and driver_stop() while a write waits (both end
 * promptly, the write with "device stopping"). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/stats.h"
#include "drivers/driver.h"
#include "drivers/opcua/ua_driver.h"
#include "testlib.h"

/* ------------------------------------------------- value to Variant */

/* Converts v to type and checks the outcome: ok, or the message. */
static struct ua_variant convert_ok(struct value v, unsigned type)
{
    struct ua_variant out;
    char why[200] = "";
    bool ok = ua_driver_value_to_variant(&v, type, &out, why, sizeof why);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  %s: %s\n", ua_type_name(type), why);
    CHECK_EQ_INT(out.type, type);
    CHECK(!out.is_array);
    return out;
}

static void convert_refused(struct value v, unsigned type, const char *want)
{
    struct ua_variant out;
    char why[200] = "";
    CHECK(!ua_driver_value_to_variant(&v, type, &out, why, sizeof why));
    CHECK_STR(why, want);
}

static void test_integers(void)
{
    CHECK_EQ_INT(convert_ok(value_int64(-128), UA_TYPE_SBYTE).as.sbyte, -128);
    CHECK_EQ_INT(convert_ok(value_uint64(127), UA_TYPE_SBYTE).as.sbyte, 127);
    convert_refused(value_int64(128), UA_TYPE_SBYTE,
                    "128 is out of range for the node's data type SByte (-128 to 127)");
    convert_refused(value_int64(-129), UA_TYPE_SBYTE,
                    "-129 is out of range for the node's data type SByte (-128 to 127)");
    CHECK_EQ_INT(convert_ok(value_uint64(255), UA_TYPE_BYTE).as.byte, 255);
    convert_refused(value_double(300), UA_TYPE_BYTE,
                    "300 is out of range for the node's data type Byte (0 to 255)");
    convert_refused(value_int64(-1), UA_TYPE_BYTE,
                    "-1 is out of range for the node's data type Byte (0 to 255)");
    CHECK_EQ_INT(convert_ok(value_int64(-32768), UA_TYPE_INT16).as.int16, -32768);
    convert_refused(value_int64(32768), UA_TYPE_INT16,
                    "32768 is out of range for the node's data type Int16 (-32768 to 32767)");
    CHECK_EQ_INT(convert_ok(value_double(65535), UA_TYPE_UINT16).as.uint16, 65535);
    convert_refused(value_uint64(65536), UA_TYPE_UINT16,
                    "65536 is out of range for the node's data type UInt16 (0 to 65535)");
    CHECK_EQ_INT(convert_ok(value_double(-7), UA_TYPE_INT32).as.int32, -7);
    CHECK_EQ_INT(convert_ok(value_int64(INT32_MIN), UA_TYPE_INT32).as.int32, INT32_MIN);
    convert_refused(value_int64((int64_t)INT32_MAX + 1), UA_TYPE_INT32,
                    "2147483648 is out of range for the node's data type Int32 (-2147483648 to "
                    "2147483647)");
    CHECK(convert_ok(value_uint64(UINT32_MAX), UA_TYPE_UINT32).as.uint32 == UINT32_MAX);
    convert_refused(value_int64(-3), UA_TYPE_UINT32,
                    "-3 is out of range for the node's data type UInt32 (0 to 4294967295)");
    CHECK(convert_ok(value_int64(INT64_MIN), UA_TYPE_INT64).as.int64 == INT64_MIN);
    convert_refused(value_uint64((uint64_t)INT64_MAX + 1), UA_TYPE_INT64,
                    "9223372036854775808 is out of range for the node's data type Int64 "
                    "(-9223372036854775808 to 9223372036854775807)");
    CHECK(convert_ok(value_uint64(UINT64_MAX), UA_TYPE_UINT64).as.uint64 == UINT64_MAX);
    CHECK(convert_ok(value_double(-9223372036854775808.0), UA_TYPE_INT64).as.int64 == INT64_MIN);
    convert_refused(value_double(18446744073709551616.0), UA_TYPE_UINT64,
                    "1.8446744073709552e+19 is not an integer (the node's data type is UInt64)");
    convert_refused(value_double(2.5), UA_TYPE_INT32,
                    "2.5 is not an integer (the node's data type is Int32)");
    CHECK_EQ_INT(convert_ok(value_bool(true), UA_TYPE_UINT16).as.uint16, 1);
    CHECK_EQ_INT(convert_ok(value_double(-0.0), UA_TYPE_BYTE).as.byte, 0);
}

static void test_floats_and_booleans(void)
{
    CHECK_EQ_DBL(convert_ok(value_double(7.25), UA_TYPE_DOUBLE).as.f64, 7.25, 0);
    CHECK_EQ_DBL(convert_ok(value_int64(-42), UA_TYPE_DOUBLE).as.f64, -42, 0);
    CHECK_EQ_DBL(convert_ok(value_uint64(1ull << 53), UA_TYPE_DOUBLE).as.f64, 9007199254740992.0,
                 0);
    convert_refused(value_uint64((1ull << 53) + 1), UA_TYPE_DOUBLE,
                    "9007199254740993 has no exact Double value");
    convert_refused(value_int64(INT64_MAX), UA_TYPE_DOUBLE,
                    "9223372036854775807 has no exact Double value");
    CHECK(convert_ok(value_double(0.1), UA_TYPE_FLOAT).as.f32 == 0.1f); /* rounded */
    CHECK(convert_ok(value_double(-1.5), UA_TYPE_FLOAT).as.f32 == -1.5f);
    CHECK(convert_ok(value_int64(16777216), UA_TYPE_FLOAT).as.f32 == 16777216.0f);
    convert_refused(value_int64(16777217), UA_TYPE_FLOAT, "16777217 has no exact Float value");
    convert_refused(value_double(1e39), UA_TYPE_FLOAT,
                    "1e+39 is out of range for the node's data type Float");
    convert_refused(value_double(NAN), UA_TYPE_DOUBLE, "nan is not a finite number");
    convert_refused(value_double(-INFINITY), UA_TYPE_FLOAT, "-inf is not a finite number");
    convert_refused(value_double(INFINITY), UA_TYPE_INT32, "inf is not a finite number");

    CHECK(convert_ok(value_bool(true), UA_TYPE_BOOLEAN).as.boolean);
    CHECK(!convert_ok(value_bool(false), UA_TYPE_BOOLEAN).as.boolean);
    CHECK(convert_ok(value_uint64(1), UA_TYPE_BOOLEAN).as.boolean);
    CHECK(!convert_ok(value_double(0), UA_TYPE_BOOLEAN).as.boolean);
    convert_refused(value_int64(2), UA_TYPE_BOOLEAN, "2 is not a Boolean (true, false, 0 or 1)");
    convert_refused(value_double(0.5), UA_TYPE_BOOLEAN,
                    "0.5 is not a Boolean (true, false, 0 or 1)");
}

static void test_unwritable_types(void)
{
    struct value s = {.type = VALUE_STRING};
    s.as.str.ptr = "on";
    s.as.str.len = 2;
    convert_refused(s, UA_TYPE_INT32, "a string cannot be written (the node's data type is Int32)");
    const char *only = ": only Boolean, integer (SByte to UInt64), Float and Double nodes can be "
                       "written";
    char want[200];
    const unsigned types[] = {UA_TYPE_STRING, UA_TYPE_DATETIME, UA_TYPE_STATUSCODE,
                              UA_TYPE_BYTESTRING, UA_TYPE_EXTENSIONOBJECT};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(want, sizeof want, "the node's data type is %s%s", ua_type_name(types[i]), only);
        convert_refused(value_double(1), types[i], want);
    }
    snprintf(want, sizeof want, "the node's data type is not known%s", only);
    convert_refused(value_double(1), 0, want);
}

static void test_write_type_of_datatype(void)
{
    for (unsigned t = UA_TYPE_BOOLEAN; t <= UA_TYPE_DOUBLE; t++) {
        struct ua_nodeid id = ua_nodeid_numeric(0, t);
        CHECK_EQ_INT(ua_driver_write_type_of_datatype(&id), t);
    }
    const struct {
        uint32_t id;
        unsigned want;
    } cases[] = {
        {290, UA_TYPE_DOUBLE}, /* Duration */
        {289, UA_TYPE_UINT32}, /* Counter */
        {288, UA_TYPE_UINT32}, /* IntegerId */
        {12, 0},               /* String */
        {13, 0},               /* DateTime */
        {26, 0},               /* Number: the value decides */
        {27, 0},               /* Integer */
        {29, 0},               /* Enumeration */
        {294, 0},              /* UtcTime */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ua_nodeid id = ua_nodeid_numeric(0, cases[i].id);
        CHECK_EQ_INT(ua_driver_write_type_of_datatype(&id), cases[i].want);
    }
    struct ua_nodeid custom = ua_nodeid_numeric(2, UA_TYPE_DOUBLE);
    CHECK_EQ_INT(ua_driver_write_type_of_datatype(&custom), 0);
    struct ua_nodeid named = ua_nodeid_string(0, "Double");
    CHECK_EQ_INT(ua_driver_write_type_of_datatype(&named), 0);
}

/* ---------------------------------------------------- configuration */

static bool load(const char *yaml, struct config *cfg, struct config_error *err)
{
    return config_load_string(yaml, strlen(yaml), "ua.yaml", cfg, err);
}

static void test_config(void)
{
    struct config cfg;
    struct config_error err;
    const char *yaml = "devices:\n"
                       "  - {name: ua, protocol: opcua, endpoint: \"opc.tcp://127.0.0.1:1\",\n"
                       "     namespace: a/b,\n"
                       "     groups: [{tags: [\n"
                       "       {name: sp, node: \"ns=1;s=SP\", write: {role: engineer, min: 0,\n"
                       "        max: 10, max_step: 2, min_interval_ms: 500}},\n"
                       "       {name: on, node: \"ns=1;s=On\", type: bool, write: {}},\n"
                       "       {name: ro, path: /Objects/1:RO}]}]}\n";
    bool loaded = load(yaml, &cfg, &err);
    CHECK(loaded);
    if (!loaded) {
        fprintf(stderr, "  %d:%d %s\n", err.line, err.col, err.message);
        return;
    }
    const struct config_tag *t = cfg.devices[0].groups[0].tags;
    CHECK(t[0].write.enabled);
    CHECK_EQ_INT(t[0].write.role, WRITE_ROLE_ENGINEER);
    CHECK(t[0].write.has_min && t[0].write.min == 0 && t[0].write.has_max && t[0].write.max == 10);
    CHECK_EQ_DBL(t[0].write.max_step, 2, 0);
    CHECK_EQ_INT(t[0].write.min_interval_ms, 500);
    CHECK(t[1].write.enabled && t[1].write.role == WRITE_ROLE_OPERATOR);
    CHECK(!t[2].write.enabled);
    config_free(&cfg);

    const char *string_tag = "devices:\n"
                             "  - {name: ua, protocol: opcua, endpoint: \"opc.tcp://h:1\",\n"
                             "     namespace: a/b,\n"
                             "     groups: [{tags: [{name: s, node: \"ns=1;s=S\", type: string,\n"
                             "                       write: {}}]}]}\n";
    CHECK(!load(string_tag, &cfg, &err));
    CHECK_STR(err.message, "string tags cannot be written through the write gate");
    CHECK_EQ_INT(err.line, 5);

    const char *bool_limits = "devices:\n"
                              "  - {name: ua, protocol: opcua, endpoint: \"opc.tcp://h:1\",\n"
                              "     namespace: a/b,\n"
                              "     groups: [{tags: [{name: s, node: \"ns=1;s=S\", type: bool,\n"
                              "                       write: {max: 1}}]}]}\n";
    CHECK(!load(bool_limits, &cfg, &err));
    CHECK(strstr(err.message, "a bool tag takes no min, max or max_step") != NULL);
}

/* ---------------------------------------------------- driver_write */

/* One OPC UA device at endpoint with two tags (the first writable, double;
 * the second without a policy). */
struct rig {
    struct config cfg;
    struct boundary *boundary;
    struct stats_registry stats;
    uint32_t tag_ids[2];
    struct driver *driver;
};

static bool rig_start(struct rig *r, const char *endpoint, bool enabled, unsigned timeout_ms)
{
    memset(r, 0, sizeof *r);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "devices:\n"
             "  - {name: ua, protocol: opcua, endpoint: \"%s\", namespace: a/b,\n"
             "     enabled: %s, timeout_ms: %u, backoff_initial_ms: 20000,\n"
             "     backoff_max_ms: 20000,\n"
             "     groups: [{tags: [{name: sp, node: \"ns=1;s=SP\", write: {}},\n"
             "                      {name: ro, node: \"ns=1;s=RO\"}]}]}\n",
             endpoint, enabled ? "true" : "false", timeout_ms);
    struct config_error err;
    if (!load(yaml, &r->cfg, &err)) {
        fprintf(stderr, "  config: %d:%d %s\n", err.line, err.col, err.message);
        return false;
    }
    r->boundary = boundary_create(64, 0);
    stats_registry_init(&r->stats);
    r->tag_ids[0] = 1;
    r->tag_ids[1] = 2;
    struct driver_env env = {.boundary = r->boundary,
                             .stats = stats_registry_reset(&r->stats, 1),
                             .tag_ids = r->tag_ids};
    char why[256];
    r->driver = driver_start(&r->cfg.devices[0], &env, why, sizeof why);
    if (!r->driver) fprintf(stderr, "  driver_start: %s\n", why);
    return r->driver != NULL;
}

static void rig_stop(struct rig *r)
{
    driver_stop(r->driver);
    boundary_destroy(r->boundary);
    stats_registry_destroy(&r->stats);
    config_free(&r->cfg);
}

/* A listening socket on 127.0.0.1 that never accepts: connections complete
 * (the kernel's backlog) and nothing is ever answered. */
static int silent_server(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static uint16_t closed_port(void)
{
    uint16_t port = 0;
    int fd = silent_server(&port);
    if (fd >= 0) close(fd);
    return port;
}

static void test_refusals(void)
{
    struct rig r;
    if (!rig_start(&r, "opc.tcp://127.0.0.1:1", false, 500)) {
        CHECK(false);
        return;
    }
    struct driver_write_result res;
    struct value v = value_double(1);
    CHECK(!driver_write(r.driver, 1, &v, 100, &res));
    CHECK_STR(res.error,
              "tag 'a/b/ro' has no enabled write policy ('write:' in the configuration)");
    struct value wrong = value_int64(1);
    CHECK(!driver_write(r.driver, 0, &wrong, 100, &res));
    CHECK_STR(res.error, "the value is a int64, tag 'a/b/sp' holds a double");
    CHECK(!driver_write(r.driver, 2, &v, 100, &res));
    CHECK_STR(res.error, "device 'ua' has no tag number 2 (it has 2 tags)");
    CHECK(!driver_write(r.driver, 0, &v, 100, &res));
    CHECK_STR(res.error, "device 'ua' is disabled");
    CHECK(!res.written && !res.read_back);
    rig_stop(&r);
}

static void test_connection_refused(void)
{
    char url[64];
    snprintf(url, sizeof url, "opc.tcp://127.0.0.1:%u", (unsigned)closed_port());
    struct rig r;
    if (!rig_start(&r, url, true, 1000)) {
        CHECK(false);
        return;
    }
    struct driver_write_result res;
    struct value v = value_double(2.5);
    int64_t t0 = clock_mono_ms();
    CHECK(!driver_write(r.driver, 0, &v, 3000, &res));
    CHECK(clock_mono_ms() - t0 < 2500);
    CHECK(!res.written);
    CHECK(strncmp(res.error, "the device is not connected (connect: cannot connect to 127.0.0.1",
                  64) == 0);
    CHECK(strstr(res.error, "; next attempt in ") != NULL);
    fprintf(stderr, "  refused: \"%s\"\n", res.error);
    rig_stop(&r);
}

struct waiting_write {
    struct driver *driver;
    int timeout_ms;
    bool result;
    struct driver_write_result res;
    int64_t returned_ms;
};

static void *wait_write(void *arg)
{
    struct waiting_write *w = arg;
    struct value v = value_double(3);
    w->result = driver_write(w->driver, 0, &v, w->timeout_ms, &w->res);
    w->returned_ms = clock_mono_ms();
    return NULL;
}

/* A server that never answers: the worker waits in its connection's first
 * step (timeout 4 s), so a write with a short timeout is withdrawn unsent;
 * then driver_stop() while a long write waits ends both promptly. */
static void test_silent_server_and_stop(void)
{
    uint16_t port;
    int listener = silent_server(&port);
    CHECK(listener >= 0);
    if (listener < 0) return;
    char url[64];
    snprintf(url, sizeof url, "opc.tcp://127.0.0.1:%u", (unsigned)port);
    struct rig r;
    if (!rig_start(&r, url, true, 4000)) {
        CHECK(false);
        close(listener);
        return;
    }
    clock_sleep_until_ms(clock_mono_ms() + 200); /* the worker is now waiting for an ACK */
    struct waiting_write quick = {.driver = r.driver, .timeout_ms = 300};
    int64_t t0 = clock_mono_ms();
    wait_write(&quick);
    CHECK(!quick.result && !quick.res.written);
    CHECK(quick.returned_ms - t0 >= 290 && quick.returned_ms - t0 < 1500);
    CHECK_STR(quick.res.error, "timed out after 300 ms waiting for the device (busy with other "
                               "requests or writes): nothing was written");

    struct waiting_write slow = {.driver = r.driver, .timeout_ms = 10000};
    pthread_t t;
    pthread_create(&t, NULL, wait_write, &slow);
    clock_sleep_until_ms(clock_mono_ms() + 200);
    int64_t stop_at = clock_mono_ms();
    driver_stop(r.driver);
    int64_t stopped = clock_mono_ms();
    pthread_join(t, NULL);
    CHECK(stopped - stop_at < 1000);
    CHECK(slow.returned_ms - stop_at < 1000);
    CHECK(!slow.result && !slow.res.written);
    CHECK_STR(slow.res.error, "device stopping");
    fprintf(stderr, "  stop: %lld ms, write: \"%s\"\n", (long long)(stopped - stop_at),
            slow.res.error);
    r.driver = NULL;
    rig_stop(&r);
    close(listener);
}

int main(void)
{
    test_integers();
    test_floats_and_booleans();
    test_unwritable_types();
    test_write_type_of_datatype();
    test_config();
    test_refusals();
    test_connection_refused();
    test_silent_server_and_stop();
    return test_summary();
}
