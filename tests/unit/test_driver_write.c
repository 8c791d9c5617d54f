/* Tests of driver_write() (src/drivers/driver.h) on the Modbus driver, with
 * the demo plant simulator as the device over real TCP on loopback (ports
 * 15480..15485, manual clock so the model never overwrites what we write):
 * holding registers of each kind (uint16, scaled int16, float32 in every
 * word order, uint32) and a coil are written; the simulator's registers hold
 * the encoded value, the read-back equals and is published into the
 * boundary; tags that cannot be written (input register, string, a bit of a
 * register, wrong value type, unknown tag number) are refused with a clear
 * error; an exception from the device is named; a device that stops
 * answering or refuses connections gives an error within the timeout; four
 * threads writing at once all complete; driver_stop() while a write waits
 * returns promptly and the write ends with "device stopping"; OPC UA
 * devices say writes are not implemented. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boundary/boundary.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/stats.h"
#include "drivers/driver.h"
#include "sim/sim.h"
#include "testlib.h"

#define PORT_BASE 15480
#define WRITE_TIMEOUT_MS 3000

/* Tag numbers (group-then-tag order) of the filler device below. */
enum {
    T_U16 = 0,
    T_SCALED,
    T_F_ABCD,
    T_F_CDAB,
    T_F_BADC,
    T_F_DCBA,
    T_U32,
    T_COIL,
    T_PARALLEL0, /* ..T_PARALLEL0 + 3 */
    T_STATUS_BIT = T_PARALLEL0 + 4,
    T_INPUT, /* group "slow" from here */
    T_UNMAPPED,
    T_SERIAL,
    T_NO_POLICY,
    T_COUNT,
};

static const char *filler_yaml =
    "devices:\n"
    "  - name: filler\n"
    "    host: 127.0.0.1\n"
    "    port: %u\n"
    "    unit_id: %u\n"
    "    timeout_ms: %u\n"
    "    retries: 0\n"
    "    backoff_initial_ms: 100\n"
    "    backoff_max_ms: 200\n"
    "    max_gap_registers: 0\n"
    "    namespace: test/line1/filler\n"
    "    poll_groups:\n"
    "      - name: fast\n"
    "        interval_ms: 100\n"
    "        tags:\n"
    "          - {name: u16, area: holding, address: 20, type: uint16, write: {enabled: true}}\n"
    "          - {name: scaled, area: holding, address: 21, type: int16,\n"
    "             scale: {gain: 0.1, offset: -5}, write: {}}\n"
    "          - {name: f_abcd, area: holding, address: 22, type: float32, order: ABCD, write: "
    "{}}\n"
    "          - {name: f_cdab, area: holding, address: 24, type: float32, order: CDAB, write: "
    "{}}\n"
    "          - {name: f_badc, area: holding, address: 26, type: float32, order: BADC, write: "
    "{}}\n"
    "          - {name: f_dcba, area: holding, address: 28, type: float32, order: DCBA, write: "
    "{}}\n"
    "          - {name: u32, area: holding, address: 30, type: uint32, write: {}}\n"
    "          - {name: coil, area: coil, address: 7, type: bool, write: {}}\n"
    "          - {name: p0, area: holding, address: 10, type: uint16, write: {}}\n"
    "          - {name: p1, area: holding, address: 11, type: uint16, write: {}}\n"
    "          - {name: p2, area: holding, address: 12, type: uint16, write: {}}\n"
    "          - {name: p3, area: holding, address: 13, type: uint16, write: {}}\n"
    "          - {name: status_bit, area: holding, address: 1, type: bool, bit: 0}\n"
    "      - name: slow\n"
    "        interval_ms: 60000\n"
    "        tags:\n"
    "          - {name: input, area: input, address: 0, type: uint16}\n"
    "          - {name: unmapped, area: holding, address: 200, type: uint16, write: {}}\n"
    "          - {name: serial, area: holding, address: 9000, type: string, length: 8}\n"
    "          - {name: no_policy, area: holding, address: 14, type: uint16}\n";

static struct sim_plant *plant;

/* One driver over one configured device, with its boundary and stats. */
struct rig {
    struct config cfg;
    struct boundary *boundary;
    struct stats_registry stats;
    uint32_t tag_ids[T_COUNT];
    struct driver *driver;
};

static bool device_address(const char *name, uint16_t *port, uint8_t *unit)
{
    for (size_t i = 0; i < sim_device_count(plant); i++) {
        struct sim_device_info info;
        if (sim_device_info(plant, i, &info) && strcmp(info.name, name) == 0) {
            *port = info.port;
            *unit = info.unit_id;
            return true;
        }
    }
    return false;
}

/* Loads the filler configuration aimed at device `name` and starts it. */
static bool rig_start(struct rig *r, const char *name, unsigned timeout_ms)
{
    memset(r, 0, sizeof *r);
    uint16_t port;
    uint8_t unit;
    if (!device_address(name, &port, &unit)) return false;
    char yaml[4096];
    snprintf(yaml, sizeof yaml, filler_yaml, port, unit, timeout_ms);
    struct config_error err;
    if (!config_load_string(yaml, strlen(yaml), "write.yaml", &r->cfg, &err)) {
        char buf[1024];
        config_error_format(&err, buf, sizeof buf);
        fprintf(stderr, "config: %s\n", buf);
        return false;
    }
    r->boundary = boundary_create(4096, 0);
    stats_registry_init(&r->stats);
    struct device_stats *ds = stats_registry_reset(&r->stats, 1);
    for (uint32_t i = 0; i < T_COUNT; i++)
        r->tag_ids[i] = 1000 + i;
    struct driver_env env = {
        .boundary = r->boundary, .stats = ds, .device_index = 0, .tag_ids = r->tag_ids};
    char why[256];
    r->driver = driver_start(&r->cfg.devices[0], &env, why, sizeof why);
    if (!r->driver) fprintf(stderr, "driver_start: %s\n", why);
    return r->driver != NULL;
}

static enum device_state rig_state(struct rig *r)
{
    return (enum device_state)atomic_load(&r->stats.devices[0].state);
}

/* Waits (up to 3 s) until the device has been polled successfully. */
static bool rig_wait_connected(struct rig *r)
{
    int64_t until = clock_mono_ms() + 3000;
    while (clock_mono_ms() < until) {
        enum device_state s = rig_state(r);
        if (s == DEVICE_CONNECTED || s == DEVICE_DEGRADED) return true;
        clock_sleep_until_ms(clock_mono_ms() + 10);
    }
    return false;
}

static void rig_stop(struct rig *r)
{
    driver_stop(r->driver);
    r->driver = NULL;
    for (struct sample_batch *b; (b = boundary_receive(r->boundary, 0)) != NULL;)
        sample_batch_free(b);
    boundary_destroy(r->boundary);
    stats_registry_destroy(&r->stats);
    config_free(&r->cfg);
}

/* True when the boundary carries (within 1 s) the read-back of tag number t:
 * a batch of that one sample (a poll's batch holds the whole group), with
 * value v and Good quality. Drains what it reads. */
static bool published(struct rig *r, size_t t, const struct value *v)
{
    int64_t until = clock_mono_ms() + 1000;
    bool found = false;
    while (!found && clock_mono_ms() < until) {
        struct sample_batch *b = boundary_receive(r->boundary, 50);
        if (!b) continue;
        for (uint32_t i = 0; i < b->count; i++)
            if (b->count == 1 && b->samples[i].tag_id == r->tag_ids[t] &&
                value_equal(&b->samples[i].value, v) && quality_is_good(b->samples[i].quality))
                found = true;
        sample_batch_free(b);
    }
    return found;
}

static void registers_of(const char *device, enum mb_area area, uint16_t address, uint16_t count,
                         uint16_t *out)
{
    memset(out, 0xEE, count * sizeof *out);
    CHECK(sim_read_registers(plant, device, area, address, count, out));
}

/* Writes v to tag t and expects success with an exact read-back. */
static void expect_written(struct rig *r, size_t t, struct value v, const struct value *expect)
{
    struct driver_write_result res;
    bool ok = driver_write(r->driver, t, &v, WRITE_TIMEOUT_MS, &res);
    if (!ok) fprintf(stderr, "  tag %zu: %s\n", t, res.error);
    CHECK(ok);
    CHECK(res.written);
    CHECK(res.read_back);
    CHECK(res.read_back_matches);
    CHECK(quality_is_good(res.quality_read));
    CHECK_STR(res.error, "");
    CHECK(value_equal(&res.value_read, expect));
    if (!value_equal(&res.value_read, expect))
        fprintf(stderr, "  tag %zu read back %.17g, want %.17g\n", t,
                value_as_double(&res.value_read), value_as_double(expect));
    CHECK(published(r, t, expect));
}

static void test_write_holding_and_coil(void)
{
    struct rig r;
    if (!rig_start(&r, "filler", 1000)) {
        CHECK(false);
        return;
    }
    CHECK(rig_wait_connected(&r));
    uint16_t regs[2];

    struct value u16 = value_uint64(54321);
    expect_written(&r, T_U16, u16, &u16);
    registers_of("filler", MB_AREA_HOLDING, 20, 1, regs);
    CHECK_EQ_INT(regs[0], 54321);

    /* int16, eng = raw * 0.1 - 5: 12.3 -> raw 173; -20 -> raw -150. */
    struct value want = value_double(173 * 0.1 - 5);
    expect_written(&r, T_SCALED, value_double(12.3), &want);
    registers_of("filler", MB_AREA_HOLDING, 21, 1, regs);
    CHECK_EQ_INT(regs[0], 173);
    want = value_double(-150 * 0.1 - 5);
    expect_written(&r, T_SCALED, value_double(-20), &want);
    registers_of("filler", MB_AREA_HOLDING, 21, 1, regs);
    CHECK_EQ_INT(regs[0], (uint16_t)-150);

    /* float32 12.5 = 0x41480000 in each word order. */
    static const struct {
        size_t tag;
        uint16_t address, r0, r1;
    } floats[] = {
        {T_F_ABCD, 22, 0x4148, 0x0000},
        {T_F_CDAB, 24, 0x0000, 0x4148},
        {T_F_BADC, 26, 0x4841, 0x0000},
        {T_F_DCBA, 28, 0x0000, 0x4841},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        struct value f = value_double(12.5);
        expect_written(&r, floats[i].tag, f, &f);
        registers_of("filler", MB_AREA_HOLDING, floats[i].address, 2, regs);
        CHECK_EQ_INT(regs[0], floats[i].r0);
        CHECK_EQ_INT(regs[1], floats[i].r1);
    }
    /* A value float32 cannot hold exactly reads back as the nearest float. */
    want = value_double((double)(float)0.1);
    expect_written(&r, T_F_CDAB, value_double(0.1), &want);

    struct value u32 = value_uint64(0x12345678u);
    expect_written(&r, T_U32, u32, &u32);
    registers_of("filler", MB_AREA_HOLDING, 30, 2, regs);
    CHECK_EQ_INT(regs[0], 0x1234);
    CHECK_EQ_INT(regs[1], 0x5678);

    struct value on = value_bool(true), off = value_bool(false);
    expect_written(&r, T_COIL, on, &on);
    registers_of("filler", MB_AREA_COIL, 7, 1, regs);
    CHECK_EQ_INT(regs[0], 1);
    expect_written(&r, T_COIL, off, &off);
    registers_of("filler", MB_AREA_COIL, 7, 1, regs);
    CHECK_EQ_INT(regs[0], 0);

    /* Polls still work after writes. */
    uint64_t polls = atomic_load(&r.stats.devices[0].polls);
    clock_sleep_until_ms(clock_mono_ms() + 300);
    CHECK(atomic_load(&r.stats.devices[0].polls) > polls);
    CHECK(rig_state(&r) == DEVICE_CONNECTED || rig_state(&r) == DEVICE_DEGRADED);
    rig_stop(&r);
}

/* Expects driver_write to fail with an error containing each of the needles. */
static void expect_refused(struct rig *r, size_t t, struct value v, const char *needle,
                           const char *needle2)
{
    struct driver_write_result res;
    memset(&res, 0x5A, sizeof res);
    CHECK(!driver_write(r->driver, t, &v, WRITE_TIMEOUT_MS, &res));
    CHECK(!res.written);
    CHECK(!res.read_back);
    bool named = strstr(res.error, needle) && (!needle2 || strstr(res.error, needle2));
    CHECK(named);
    if (!named) fprintf(stderr, "  tag %zu: error \"%s\", wanted \"%s\"\n", t, res.error, needle);
}

static void test_refusals(void)
{
    struct rig r;
    if (!rig_start(&r, "filler", 1000)) {
        CHECK(false);
        return;
    }
    CHECK(rig_wait_connected(&r));
    uint16_t before[1];
    registers_of("filler", MB_AREA_HOLDING, 20, 1, before);
    expect_refused(&r, T_INPUT, value_uint64(1), "test/line1/filler/input",
                   "only holding registers and coils can be written");
    expect_refused(&r, T_SERIAL, value_uint64(1), "string tags cannot be written", NULL);
    expect_refused(&r, T_STATUS_BIT, value_bool(true), "bit 0 of holding register 1",
                   "not supported");
    expect_refused(&r, T_NO_POLICY, value_uint64(1), "test/line1/filler/no_policy",
                   "no enabled write policy");
    expect_refused(&r, T_U16, value_double(1.0), "the value is a double", "holds a uint64");
    expect_refused(&r, T_U16, value_uint64(70000), "cannot write to tag 'test/line1/filler/u16'",
                   NULL);
    expect_refused(&r, T_COUNT, value_uint64(1), "no tag number 17 (it has 17 tags)", NULL);
    expect_refused(&r, 1u << 30, value_uint64(1), "no tag number", NULL);
    /* Refusals are decided before any request reaches the device (polls may
     * have run meanwhile: compare the register, not the counter). */
    uint16_t after[1];
    registers_of("filler", MB_AREA_HOLDING, 20, 1, after);
    CHECK_EQ_INT(after[0], before[0]);

    /* The device answers a write outside its map with an exception. */
    struct driver_write_result res;
    struct value v = value_uint64(5);
    CHECK(!driver_write(r.driver, T_UNMAPPED, &v, WRITE_TIMEOUT_MS, &res));
    CHECK(!res.written);
    CHECK(strstr(res.error, "refused") && strstr(res.error, "IllegalDataAddress"));
    /* ...and the connection is still good for the next write. */
    struct value ok = value_uint64(77);
    expect_written(&r, T_U16, ok, &ok);
    rig_stop(&r);

    /* A disabled device has no worker. */
    struct config cfg;
    struct config_error err;
    const char *yaml = "devices:\n"
                       "  - {name: off, host: 127.0.0.1, port: 1, namespace: a/b, enabled: false,\n"
                       "     poll_groups: [{tags: [{name: x, area: holding, address: 0, "
                       "type: uint16, write: {}}]}]}\n";
    CHECK(config_load_string(yaml, strlen(yaml), "off.yaml", &cfg, &err));
    struct boundary *b = boundary_create(4, 0);
    struct stats_registry reg;
    stats_registry_init(&reg);
    uint32_t id = 1;
    struct driver_env env = {.boundary = b, .stats = stats_registry_reset(&reg, 1), .tag_ids = &id};
    char why[256];
    struct driver *d = driver_start(&cfg.devices[0], &env, why, sizeof why);
    CHECK(d != NULL);
    CHECK(!driver_write(d, 0, &v, 100, &res));
    CHECK(strstr(res.error, "disabled") != NULL);
    driver_stop(d);
    CHECK(!driver_write(NULL, 0, &v, 100, &res));
    CHECK(strstr(res.error, "not running") != NULL);
    boundary_destroy(b);
    stats_registry_destroy(&reg);
    config_free(&cfg);
}

static void test_opcua_no_policy(void)
{
    struct config cfg;
    struct config_error err;
    const char *yaml = "devices:\n"
                       "  - {name: ua, protocol: opcua, endpoint: \"opc.tcp://127.0.0.1:1\",\n"
                       "     namespace: a/b, enabled: false,\n"
                       "     groups: [{tags: [{name: x, node: \"ns=2;s=X\"}]}]}\n";
    bool loaded = config_load_string(yaml, strlen(yaml), "ua.yaml", &cfg, &err);
    CHECK(loaded);
    if (!loaded) {
        fprintf(stderr, "  %d:%d %s\n", err.line, err.col, err.message);
        return;
    }
    struct boundary *b = boundary_create(4, 0);
    struct stats_registry reg;
    stats_registry_init(&reg);
    uint32_t id = 1;
    struct driver_env env = {.boundary = b, .stats = stats_registry_reset(&reg, 1), .tag_ids = &id};
    char why[256];
    struct driver *d = driver_start(&cfg.devices[0], &env, why, sizeof why);
    CHECK(d != NULL);
    struct driver_write_result res;
    struct value v = value_double(1);
    CHECK(!driver_write(d, 0, &v, 100, &res));
    CHECK_STR(res.error, "tag 'a/b/x' has no enabled write policy ('write:' in the configuration)");
    driver_stop(d);
    boundary_destroy(b);
    stats_registry_destroy(&reg);
    config_free(&cfg);
}

/* A device that stops answering, then refuses connections. */
static void test_device_down(void)
{
    struct rig r;
    if (!rig_start(&r, "tank", 300)) {
        CHECK(false);
        return;
    }
    CHECK(rig_wait_connected(&r));
    struct value v = value_uint64(9);
    struct driver_write_result res;
    CHECK(sim_set_fault(plant, "tank", "offline", true));
    int64_t t0 = clock_mono_ms();
    CHECK(!driver_write(r.driver, T_U16, &v, 2000, &res));
    int64_t took = clock_mono_ms() - t0;
    CHECK(took < 2000 + 200);
    CHECK(!res.written);
    CHECK(res.error[0] != '\0');
    fprintf(stderr, "  offline: %lld ms: %s\n", (long long)took, res.error);
    /* A caller timeout shorter than the device's: the call still ends in time. */
    t0 = clock_mono_ms();
    CHECK(!driver_write(r.driver, T_U16, &v, 100, &res));
    took = clock_mono_ms() - t0;
    CHECK(took < 100 + 100);
    CHECK(res.error[0] != '\0');
    CHECK(sim_set_fault(plant, "tank", "offline", false));

    CHECK(sim_set_fault(plant, "tank", "refuse", true));
    clock_sleep_until_ms(clock_mono_ms() + 400); /* the poll notices */
    t0 = clock_mono_ms();
    CHECK(!driver_write(r.driver, T_U16, &v, 2000, &res));
    took = clock_mono_ms() - t0;
    CHECK(took < 2000 + 200);
    CHECK(strstr(res.error, "not connected") != NULL);
    fprintf(stderr, "  refused: %lld ms: %s\n", (long long)took, res.error);
    CHECK(sim_set_fault(plant, "tank", "refuse", false));

    /* Back again: the next write goes through (after the back-off). */
    int64_t until = clock_mono_ms() + 3000;
    bool written = false;
    while (!written && clock_mono_ms() < until) {
        written = driver_write(r.driver, T_U16, &v, 2000, &res);
        if (!written) clock_sleep_until_ms(clock_mono_ms() + 50);
    }
    CHECK(written && res.read_back && res.read_back_matches);
    rig_stop(&r);
}

struct writer_arg {
    struct rig *rig;
    size_t tag;
    int writes, ok;
};

static void *writer(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < a->writes; i++) {
        struct value v = value_uint64((uint64_t)(a->tag * 1000 + (size_t)i));
        struct driver_write_result res;
        if (driver_write(a->rig->driver, a->tag, &v, 5000, &res) && res.read_back &&
            res.read_back_matches && value_equal(&res.value_read, &v))
            a->ok++;
        else
            fprintf(stderr, "  writer %zu: %s\n", a->tag, res.error);
    }
    return NULL;
}

static void test_concurrent_writes(void)
{
    struct rig r;
    if (!rig_start(&r, "filler", 1000)) {
        CHECK(false);
        return;
    }
    CHECK(rig_wait_connected(&r));
    pthread_t threads[4];
    struct writer_arg args[4];
    for (size_t i = 0; i < 4; i++) {
        args[i] = (struct writer_arg){.rig = &r, .tag = T_PARALLEL0 + i, .writes = 25};
        pthread_create(&threads[i], NULL, writer, &args[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ_INT(args[i].ok, 25);
    }
    uint16_t regs[4];
    registers_of("filler", MB_AREA_HOLDING, 10, 4, regs);
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(regs[i], (T_PARALLEL0 + i) * 1000 + 24);
    rig_stop(&r);
}

struct waiting_write {
    struct rig *rig;
    bool returned, result;
    int64_t returned_ms;
    struct driver_write_result res;
};

static void *wait_write(void *p)
{
    struct waiting_write *w = p;
    struct value v = value_uint64(3);
    w->result = driver_write(w->rig->driver, T_U16, &v, 20000, &w->res);
    w->returned_ms = clock_mono_ms();
    return NULL;
}

/* driver_stop() while a write waits behind a poll that hangs on a silent
 * device: both return promptly, the write with "device stopping". */
static void test_stop_while_waiting(void)
{
    struct rig r;
    if (!rig_start(&r, "tank", 5000)) {
        CHECK(false);
        return;
    }
    CHECK(rig_wait_connected(&r));
    CHECK(sim_set_fault(plant, "tank", "offline", true));
    clock_sleep_until_ms(clock_mono_ms() + 300); /* a poll is now waiting for an answer */
    struct waiting_write w = {.rig = &r};
    pthread_t t;
    pthread_create(&t, NULL, wait_write, &w);
    clock_sleep_until_ms(clock_mono_ms() + 200);
    int64_t stop_at = clock_mono_ms();
    driver_stop(r.driver);
    int64_t stopped = clock_mono_ms();
    r.driver = NULL;
    pthread_join(t, NULL);
    CHECK(stopped - stop_at < 1000);
    CHECK(w.returned_ms - stop_at < 1000);
    CHECK(!w.result);
    CHECK(strstr(w.res.error, "device stopping") != NULL);
    fprintf(stderr, "  stop: %lld ms, write: \"%s\"\n", (long long)(stopped - stop_at),
            w.res.error);
    CHECK(sim_set_fault(plant, "tank", "offline", false));
    rig_stop(&r);
}

int main(void)
{
    struct sim_options o;
    sim_options_init(&o);
    o.port_base = PORT_BASE;
    o.manual_clock = true;
    char err[256];
    plant = sim_start(&o, err, sizeof err);
    if (!plant) {
        fprintf(stderr, "sim_start: %s\n", err);
        return 1;
    }
    test_write_holding_and_coil();
    test_refusals();
    test_opcua_no_policy();
    test_device_down();
    test_concurrent_writes();
    test_stop_while_waiting();
    sim_stop(plant);
    return test_summary();
}
