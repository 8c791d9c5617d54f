/* Tests of the demo plant simulator (sim/sim.h): fault syntax; determinism
 * for a seed; counters that never go back; faults that change behaviour;
 * the real Modbus TCP servers on loopback (ports 15320..15325 and 15340..)
 * read and written with libmodbus, an implementation we did not write, and
 * with raw sockets for pipelining, partial frames and garbage input; the
 * bench mode; bind failures; the generated configuration against
 * examples/demo-plant.yaml, and loaded by the gateway's configuration loader
 * with every tag decoded by the gateway's codec from the served registers. */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config.h"
#include "core/clock.h"
#include "drivers/modbus/mb_codec.h"
#include "drivers/modbus/mb_frame.h"
#include "sim/sim.h"
#include "testlib.h"

#define PORT_BASE 15320
#define PORT_BASE_2 15340
#define BENCH_PORT_BASE 15360

/* Every mapped block of the plant, to compare whole register images. */
static const struct {
    const char *device;
    enum mb_area area;
    uint16_t start, count;
} blocks[] = {
    {"pump", MB_AREA_INPUT, 0, 32},          {"pump", MB_AREA_COIL, 0, 16},
    {"pump", MB_AREA_DISCRETE_INPUT, 0, 16}, {"pump", MB_AREA_HOLDING, 9000, 16},
    {"tank", MB_AREA_HOLDING, 0, 32},        {"tank", MB_AREA_COIL, 0, 8},
    {"tank", MB_AREA_DISCRETE_INPUT, 0, 8},  {"meter", MB_AREA_INPUT, 0, 40},
    {"meter", MB_AREA_HOLDING, 100, 4},      {"filler", MB_AREA_HOLDING, 0, 32},
    {"filler", MB_AREA_COIL, 0, 8},          {"filler", MB_AREA_DISCRETE_INPUT, 0, 8},
    {"tt101", MB_AREA_INPUT, 0, 8},          {"tt102", MB_AREA_INPUT, 0, 8},
};

static struct sim_plant *start_model(uint64_t seed, const char *fault)
{
    struct sim_options o;
    sim_options_init(&o);
    o.seed = seed;
    o.model_only = true;
    char err[256];
    if (fault) {
        CHECK(sim_fault_parse(fault, &o.faults[0], err, sizeof err));
        o.fault_count = 1;
    }
    struct sim_plant *p = sim_start(&o, err, sizeof err);
    if (!p) fprintf(stderr, "sim_start: %s\n", err);
    CHECK(p != NULL);
    return p;
}

static double value(struct sim_plant *p, const char *device, const char *point)
{
    double v = -1e300;
    CHECK(sim_read_value(p, device, point, &v));
    return v;
}

/* True when every block of a and b holds the same values. */
static bool same_registers(struct sim_plant *a, struct sim_plant *b)
{
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        uint16_t ra[64], rb[64];
        if (!sim_read_registers(a, blocks[i].device, blocks[i].area, blocks[i].start,
                                blocks[i].count, ra) ||
            !sim_read_registers(b, blocks[i].device, blocks[i].area, blocks[i].start,
                                blocks[i].count, rb))
            return false;
        if (memcmp(ra, rb, blocks[i].count * sizeof ra[0]) != 0) return false;
    }
    return true;
}

static void test_fault_parse(void)
{
    struct sim_fault_spec f;
    char err[256];
    CHECK(sim_fault_parse("tank:offline@30-60", &f, err, sizeof err));
    CHECK_STR(f.device, "tank");
    CHECK_EQ_INT(f.kind, SIM_FAULT_OFFLINE);
    CHECK_EQ_DBL(f.start_s, 30, 0);
    CHECK_EQ_DBL(f.end_s, 60, 0);
    CHECK(sim_fault_parse("pump:bearing-wear@1.5", &f, err, sizeof err));
    CHECK_EQ_DBL(f.start_s, 1.5, 0);
    CHECK(f.end_s < 0);
    CHECK(sim_fault_parse("tt102:drift", &f, err, sizeof err));
    CHECK_EQ_DBL(f.start_s, 0, 0);
    CHECK(sim_fault_parse("meter:refuse@0-2", &f, err, sizeof err));
    CHECK(sim_fault_parse("filler:garbage", &f, err, sizeof err));
    CHECK(sim_fault_parse("pump:exception@5", &f, err, sizeof err));
    const char *bad[] = {"tank",
                         "tank:",
                         ":offline",
                         "tank:melting",
                         "tank:offline@",
                         "tank:offline@x",
                         "tank:offline@5-3",
                         "tank:offline@5-5",
                         "tank:offline@-1",
                         "tank:offline@1-",
                         "ta nk:offline",
                         "tank:offline@1-2-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(!sim_fault_parse(bad[i], &f, err, sizeof err));
        CHECK(strstr(err, bad[i]) != NULL); /* the message names the bad spec */
    }
    enum sim_fault_kind k;
    CHECK(sim_fault_kind_from_name("garbage", &k) && k == SIM_FAULT_GARBAGE);
    CHECK_STR(sim_fault_kind_name(SIM_FAULT_BEARING_WEAR), "bearing-wear");
}

static void test_start_errors(void)
{
    struct sim_options o;
    char err[256];
    sim_options_init(&o);
    o.model_only = true;
    sim_fault_parse("nosuch:offline", &o.faults[0], err, sizeof err);
    o.fault_count = 1;
    CHECK(sim_start(&o, err, sizeof err) == NULL);
    CHECK(strstr(err, "nosuch") != NULL);
    sim_fault_parse("tank:bearing-wear", &o.faults[0], err, sizeof err);
    CHECK(sim_start(&o, err, sizeof err) == NULL);
    CHECK(strstr(err, "bearing-wear") != NULL);
    sim_options_init(&o);
    o.port_base = 65533; /* six devices do not fit */
    CHECK(sim_start(&o, err, sizeof err) == NULL);
    sim_options_init(&o);
    o.bench_devices = 2;
    o.bench_registers = 0;
    CHECK(sim_start(&o, err, sizeof err) == NULL);
}

static void test_determinism(void)
{
    struct sim_plant *a = start_model(42, NULL), *b = start_model(42, NULL);
    struct sim_plant *c = start_model(43, NULL);
    if (!a || !b || !c) return;
    CHECK(same_registers(a, b));
    sim_advance(a, 3000);
    for (int i = 0; i < 3; i++)
        sim_advance(b, 1000);
    sim_advance(c, 3000);
    CHECK_EQ_DBL(sim_time_s(a), 300.0, 1e-9);
    CHECK(same_registers(a, b));
    CHECK(!same_registers(a, c));
    /* The values are plausible after five minutes. */
    CHECK(value(a, "pump", "running") == 1);
    double flow = value(a, "pump", "flow");
    CHECK(flow > 40 && flow < 130);
    double current = value(a, "pump", "motor_current");
    CHECK(current > 5 && current < 60);
    double level = value(a, "tank", "level");
    CHECK(level > 0 && level < 100);
    CHECK(value(a, "meter", "active_power") > 15);
    CHECK_EQ_DBL(value(a, "meter", "voltage"), 400, 10);
    double t101 = value(a, "tt101", "temperature");
    CHECK(t101 > 50 && t101 < 75);
    CHECK_EQ_DBL(value(a, "tt102", "temperature"), 7, 1.5);
    sim_stop(a);
    sim_stop(b);
    sim_stop(c);
}

/* Over 40 simulated minutes: counters never decrease; good units are
 * counted only while the filler runs; the level stays in range and cycles;
 * the pump stops on schedule. */
static void test_counters_and_physics(void)
{
    struct sim_plant *p = start_model(7, NULL);
    if (!p) return;
    double energy = value(p, "meter", "energy_total");
    double counter = value(p, "meter", "energy_counter");
    double wh = value(p, "meter", "energy_total_wh");
    double good = value(p, "filler", "good_count"), reject = value(p, "filler", "reject_count");
    double run_time = value(p, "pump", "run_time");
    double level_min = 100, level_max = 0;
    bool monotonic = true, counted_only_running = true, saw_stop = false, saw_idle = false;
    for (int step = 0; step < 24000; step++) {
        double state_before = value(p, "filler", "machine_state");
        double good_before = good, reject_before = reject;
        sim_advance(p, 1);
        double e = value(p, "meter", "energy_total"), c = value(p, "meter", "energy_counter");
        double w = value(p, "meter", "energy_total_wh"), rt = value(p, "pump", "run_time");
        good = value(p, "filler", "good_count");
        reject = value(p, "filler", "reject_count");
        if (e < energy || c < counter || w < wh || rt < run_time || good < good_before ||
            reject < reject_before)
            monotonic = false;
        if (state_before != 1 && (good != good_before || reject != reject_before))
            counted_only_running = false;
        energy = e;
        counter = c;
        wh = w;
        run_time = rt;
        double level = value(p, "tank", "level");
        if (level < level_min) level_min = level;
        if (level > level_max) level_max = level;
        if (value(p, "pump", "running") == 0 && step > 100) saw_stop = true;
        if (state_before == 2) saw_idle = true;
    }
    CHECK(monotonic);
    CHECK(counted_only_running);
    CHECK(saw_stop);
    CHECK(saw_idle);
    CHECK(level_min >= 0 && level_min < 35);
    CHECK(level_max <= 100 && level_max > 75);
    /* 2400 s at up to 120 units/min, minus stops; about 1.5 % rejects. */
    CHECK(good > 2500 && good < 4800);
    CHECK(reject > 0 && reject < good * 0.04);
    /* Three energy registers agree. */
    CHECK_EQ_DBL(counter, energy, 0.1);
    CHECK_EQ_DBL(wh / 1000.0, energy, 0.002);
    CHECK(energy > 1234567.8 + 10);
    sim_stop(p);
}

static void test_model_faults(void)
{
    /* Bearing wear from 60 s: same seed, same noise, more vibration and heat. */
    struct sim_plant *healthy = start_model(3, NULL);
    struct sim_plant *worn = start_model(3, "pump:bearing-wear@60");
    /* Drift on tt102 from 100 s to 400 s: the reading moves away by the drift alone. */
    struct sim_plant *drifting = start_model(3, "tt102:drift@100-400");
    if (!healthy || !worn || !drifting) return;
    sim_advance(healthy, 10800); /* 1080 s: running, 1020 s of wear */
    sim_advance(worn, 10800);
    sim_advance(drifting, 3000); /* t = 300 s: 200 s of drift */
    CHECK(value(worn, "pump", "vibration") > value(healthy, "pump", "vibration") + 2.0);
    CHECK(value(worn, "pump", "bearing_temperature") >
          value(healthy, "pump", "bearing_temperature") + 3.0);
    CHECK(value(worn, "pump", "vibration_alarm") == 1);
    CHECK(value(healthy, "pump", "vibration_alarm") == 0);
    CHECK(sim_fault_active(worn, "pump", "bearing-wear"));
    struct sim_plant *ref = start_model(3, NULL);
    sim_advance(ref, 3000);
    double drift = value(drifting, "tt102", "temperature") - value(ref, "tt102", "temperature");
    CHECK_EQ_DBL(drift, 0.005 * 200, 0.01);
    sim_advance(drifting, 1100); /* past 400 s: recalibrated */
    sim_advance(ref, 1100);
    CHECK_EQ_DBL(value(drifting, "tt102", "temperature"), value(ref, "tt102", "temperature"), 1e-6);
    /* Scheduled offline window [1, 2) s on the tank. */
    struct sim_plant *s = start_model(3, "tank:offline@1-2");
    CHECK(!sim_fault_active(s, "tank", "offline"));
    sim_advance(s, 10);
    CHECK(sim_fault_active(s, "tank", "offline"));
    sim_advance(s, 9);
    CHECK(sim_fault_active(s, "tank", "offline"));
    sim_advance(s, 1);
    CHECK(!sim_fault_active(s, "tank", "offline"));
    /* Manual switches; unsupported kinds refused. */
    CHECK(sim_set_fault(s, "meter", "garbage", true));
    CHECK(sim_fault_active(s, "meter", "garbage"));
    CHECK(sim_set_fault(s, "meter", "garbage", false));
    CHECK(!sim_fault_active(s, "meter", "garbage"));
    CHECK(!sim_set_fault(s, "meter", "bearing-wear", true));
    CHECK(!sim_set_fault(s, "nosuch", "offline", true));
    CHECK(!sim_set_fault(s, "meter", "nosuch", true));
    sim_stop(healthy);
    sim_stop(worn);
    sim_stop(drifting);
    sim_stop(ref);
    sim_stop(s);
}

static modbus_t *client(uint16_t port, int timeout_ms)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    CHECK(ctx != NULL);
    if (!ctx) return NULL;
    modbus_set_slave(ctx, 1);
    modbus_set_response_timeout(ctx, 0, (uint32_t)timeout_ms * 1000);
    if (modbus_connect(ctx) != 0) {
        modbus_free(ctx);
        return NULL;
    }
    return ctx;
}

static void drop(modbus_t *ctx)
{
    if (!ctx) return;
    modbus_close(ctx);
    modbus_free(ctx);
}

static struct sim_plant *start_server(uint16_t port_base, bool manual)
{
    struct sim_options o;
    sim_options_init(&o);
    o.port_base = port_base;
    o.manual_clock = manual;
    o.seed = 11;
    char err[256];
    struct sim_plant *p = sim_start(&o, err, sizeof err);
    if (!p) fprintf(stderr, "sim_start: %s\n", err);
    CHECK(p != NULL);
    return p;
}

/* Reads with libmodbus and compares with what the simulator says it serves. */
static void test_libmodbus_reads(struct sim_plant *p)
{
    modbus_t *pump = client(PORT_BASE, 1000);
    CHECK(pump != NULL);
    if (!pump) return;
    sim_advance(p, 600);
    uint16_t got[32], want[32];
    CHECK_EQ_INT(modbus_read_input_registers(pump, 0, 14, got), 14);
    CHECK(sim_read_registers(p, "pump", MB_AREA_INPUT, 0, 14, want));
    CHECK(memcmp(got, want, sizeof got[0] * 14) == 0);
    CHECK_EQ_DBL(modbus_get_float_abcd(got + 6), value(p, "pump", "flow"), 1e-4);
    CHECK_EQ_DBL((int16_t)got[4] * 0.1, value(p, "pump", "bearing_temperature"), 1e-9);
    uint8_t bits[16];
    CHECK_EQ_INT(modbus_read_bits(pump, 0, 2, bits), 2);
    CHECK_EQ_INT(bits[0], 1); /* run_enable */
    CHECK_EQ_INT(bits[1], (int)value(p, "pump", "running"));
    CHECK_EQ_INT(modbus_read_input_bits(pump, 0, 16, bits), 16);
    CHECK_EQ_INT(modbus_read_registers(pump, 9000, 8, got), 8);
    char serial[17] = {0};
    for (int i = 0; i < 8; i++) {
        serial[2 * i] = (char)(got[i] >> 8);
        serial[2 * i + 1] = (char)got[i];
    }
    CHECK_STR(serial, "P101-24-0042187");
    /* Unmapped addresses and the wrong unit give exceptions. */
    CHECK_EQ_INT(modbus_read_registers(pump, 100, 1, got), -1);
    CHECK_EQ_INT(errno, EMBXILADD);
    CHECK_EQ_INT(modbus_read_input_registers(pump, 30, 3, got), -1); /* straddles the end */
    CHECK_EQ_INT(errno, EMBXILADD);
    modbus_set_slave(pump, 7);
    CHECK_EQ_INT(modbus_read_input_registers(pump, 0, 1, got), -1);
    CHECK_EQ_INT(errno, EMBXGTAR);
    modbus_set_slave(pump, 1);
    CHECK_EQ_INT(modbus_read_input_registers(pump, 0, 1, got), 1);
    drop(pump);

    /* Other byte orders: tt102 float32 CDAB, tank float32 BADC / int32 CDAB, meter uint64. */
    modbus_t *tt = client(PORT_BASE + 5, 1000), *tank = client(PORT_BASE + 1, 1000);
    modbus_t *meter = client(PORT_BASE + 2, 1000);
    CHECK(tt && tank && meter);
    if (tt && tank && meter) {
        CHECK_EQ_INT(modbus_read_input_registers(tt, 0, 2, got), 2);
        CHECK_EQ_DBL(modbus_get_float_cdab(got), value(p, "tt102", "temperature"), 1e-5);
        CHECK_EQ_INT(modbus_read_registers(tank, 0, 4, got), 4);
        CHECK_EQ_DBL(modbus_get_float_badc(got), value(p, "tank", "level"), 1e-5);
        CHECK_EQ_DBL((int32_t)((uint32_t)got[3] << 16 | got[2]), value(p, "tank", "volume"), 0);
        CHECK_EQ_INT(modbus_read_input_registers(meter, 0, 20, got), 20);
        uint64_t wh = 0;
        for (int i = 3; i >= 0; i--)
            wh = wh << 16 | got[14 + i];
        CHECK_EQ_DBL((double)wh, value(p, "meter", "energy_total_wh"), 0);
        uint32_t counter = (uint32_t)got[13] << 16 | got[12];
        CHECK_EQ_DBL(counter * 0.1, value(p, "meter", "energy_counter"), 1e-6);
    }
    drop(tt);
    drop(tank);
    drop(meter);
}

static void test_libmodbus_writes(struct sim_plant *p)
{
    modbus_t *tank = client(PORT_BASE + 1, 1000), *pump = client(PORT_BASE, 1000);
    modbus_t *filler = client(PORT_BASE + 3, 1000);
    CHECK(tank && pump && filler);
    if (!tank || !pump || !filler) {
        drop(tank);
        drop(pump);
        drop(filler);
        return;
    }
    CHECK_EQ_INT(modbus_write_register(tank, 6, 700), 1);
    CHECK_EQ_DBL(value(p, "tank", "level_high_setpoint"), 70, 1e-9);
    const uint16_t setpoints[] = {750, 250};
    CHECK_EQ_INT(modbus_write_registers(tank, 6, 2, setpoints), 2);
    CHECK_EQ_DBL(value(p, "tank", "level_low_setpoint"), 25, 1e-9);
    CHECK_EQ_INT(modbus_write_register(tank, 100, 1), -1); /* unmapped */
    CHECK_EQ_INT(errno, EMBXILADD);
    /* Stopping the pump through its run_enable coil: the model follows. */
    CHECK_EQ_INT(modbus_write_bit(pump, 0, 0), 1);
    sim_advance(p, 100);
    CHECK_EQ_DBL(value(p, "pump", "running"), 0, 0);
    CHECK(value(p, "pump", "flow") < 1);
    const uint8_t on[] = {1};
    CHECK_EQ_INT(modbus_write_bits(pump, 0, 1, on), 1);
    sim_advance(p, 100);
    CHECK_EQ_DBL(value(p, "pump", "run_enable"), 1, 0);
    /* The filler's speed setpoint and stop request. */
    CHECK_EQ_INT(modbus_write_register(filler, 8, 90), 1);
    CHECK_EQ_DBL(value(p, "filler", "speed_setpoint"), 90, 0);
    CHECK_EQ_INT(modbus_write_bit(filler, 0, 1), 1);
    sim_advance(p, 1);
    CHECK_EQ_DBL(value(p, "filler", "machine_state"), 0, 0);
    CHECK_EQ_INT(modbus_write_bit(filler, 0, 0), 1);
    drop(tank);
    drop(pump);
    drop(filler);
}

static void test_libmodbus_faults(struct sim_plant *p)
{
    uint16_t regs[8];
    /* exception: ServerDeviceBusy. */
    modbus_t *m = client(PORT_BASE + 2, 300);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(sim_set_fault(p, "meter", "exception", true));
    CHECK_EQ_INT(modbus_read_input_registers(m, 0, 2, regs), -1);
    CHECK_EQ_INT(errno, EMBXSBUSY);
    CHECK(sim_set_fault(p, "meter", "exception", false));
    CHECK_EQ_INT(modbus_read_input_registers(m, 0, 2, regs), 2);

    /* garbage: every answer is rejected by libmodbus. */
    CHECK(sim_set_fault(p, "meter", "garbage", true));
    int failures = 0;
    for (int i = 0; i < 12; i++) {
        drop(m);
        m = client(PORT_BASE + 2, 200);
        if (m && modbus_read_input_registers(m, 0, 2, regs) == -1) failures++;
    }
    CHECK_EQ_INT(failures, 12);
    CHECK(sim_set_fault(p, "meter", "garbage", false));
    drop(m);
    m = client(PORT_BASE + 2, 1000);
    CHECK(m && modbus_read_input_registers(m, 0, 2, regs) == 2);

    /* offline: connections accepted, requests time out; then it answers again. */
    CHECK(sim_set_fault(p, "meter", "offline", true));
    modbus_t *late = client(PORT_BASE + 2, 300);
    CHECK(late != NULL); /* still accepts */
    int64_t t0 = clock_mono_ms();
    CHECK_EQ_INT(modbus_read_input_registers(m, 0, 2, regs), -1);
    CHECK_EQ_INT(errno, ETIMEDOUT);
    CHECK(clock_mono_ms() - t0 >= 250);
    CHECK(sim_set_fault(p, "meter", "offline", false));
    CHECK_EQ_INT(modbus_read_input_registers(m, 0, 2, regs), 2);
    drop(late);

    /* refuse: the listening socket closes (and connections with it). */
    CHECK(sim_set_fault(p, "meter", "refuse", true));
    CHECK_EQ_INT(modbus_read_input_registers(m, 0, 2, regs), -1);
    drop(m);
    m = client(PORT_BASE + 2, 300);
    CHECK(m == NULL);
    CHECK(sim_set_fault(p, "meter", "refuse", false));
    m = client(PORT_BASE + 2, 1000);
    CHECK(m && modbus_read_input_registers(m, 0, 2, regs) == 2);
    drop(m);
}

/* A device disappears and comes back on a schedule of simulated time. */
static void test_scheduled_refuse(void)
{
    struct sim_options o;
    sim_options_init(&o);
    o.port_base = PORT_BASE_2;
    o.manual_clock = true;
    char err[256];
    CHECK(sim_fault_parse("filler:refuse@1-2", &o.faults[0], err, sizeof err));
    o.fault_count = 1;
    struct sim_plant *p = sim_start(&o, err, sizeof err);
    CHECK(p != NULL);
    if (!p) return;
    modbus_t *m = client(PORT_BASE_2 + 3, 500);
    CHECK(m != NULL);
    drop(m);
    sim_advance(p, 15);
    m = client(PORT_BASE_2 + 3, 500);
    CHECK(m == NULL);
    drop(m);
    sim_advance(p, 10);
    m = client(PORT_BASE_2 + 3, 500);
    CHECK(m != NULL);
    drop(m);
    /* A second plant on the same ports cannot start, and says which port. */
    struct sim_plant *clash = sim_start(&o, err, sizeof err);
    CHECK(clash == NULL);
    CHECK(strstr(err, "15340") != NULL);
    sim_stop(clash);
    int64_t t0 = clock_mono_ms();
    sim_stop(p);
    CHECK(clock_mono_ms() - t0 < 1000);
}

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads exactly one response ADU (header first, then the rest). */
static size_t read_adu(int fd, uint8_t *buf)
{
    size_t have = 0, need = 6;
    while (have < need) {
        ssize_t n = recv(fd, buf + have, need - have, 0);
        if (n <= 0) return 0;
        have += (size_t)n;
        if (have == 6) need = 6u + (size_t)(buf[4] << 8 | buf[5]);
        if (need > MB_FRAME_MAX_ADU_BYTES) return 0;
    }
    return have;
}

static void test_raw_sockets(void)
{
    int fd = raw_connect(PORT_BASE);
    CHECK(fd >= 0);
    if (fd < 0) return;
    /* Three pipelined requests in one write: three answers, in order. */
    uint8_t out[512], in[300];
    size_t n = mb_frame_encode_read_request(out, sizeof out, 101, 1, 4, 0, 10);
    n += mb_frame_encode_read_request(out + n, sizeof out - n, 102, 1, 1, 0, 2);
    n += mb_frame_encode_read_request(out + n, sizeof out - n, 103, 1, 3, 9000, 8);
    CHECK_EQ_INT(send(fd, out, n, 0), (ssize_t)n);
    for (uint16_t tid = 101; tid <= 103; tid++) {
        size_t len = read_adu(fd, in);
        struct mb_frame_response rsp;
        CHECK_EQ_INT(mb_frame_parse_response(in, len, &rsp).status, MB_FRAME_COMPLETE);
        CHECK_EQ_INT(rsp.header.transaction_id, tid);
        CHECK(!rsp.is_exception);
    }
    /* One request byte by byte. */
    n = mb_frame_encode_read_request(out, sizeof out, 104, 1, 4, 2, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(send(fd, out + i, 1, 0), 1);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    size_t len = read_adu(fd, in);
    struct mb_frame_response rsp;
    CHECK_EQ_INT(mb_frame_parse_response(in, len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.header.transaction_id, 104);
    /* An unsupported function (Report Server ID): IllegalFunction, and the
     * connection stays. (Function 43/14 is answered: test_mb_devid.c.) */
    const uint8_t fc17[] = {0, 105, 0, 0, 0, 2, 1, 0x11};
    send(fd, fc17, sizeof fc17, 0);
    len = read_adu(fd, in);
    CHECK_EQ_INT(mb_frame_parse_response(in, len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(rsp.is_exception);
    CHECK_EQ_INT(rsp.exception, MB_FRAME_EX_ILLEGAL_FUNCTION);
    /* Quantity 0: IllegalDataValue. */
    const uint8_t qty0[] = {0, 106, 0, 0, 0, 6, 1, 3, 0, 0, 0, 0};
    send(fd, qty0, sizeof qty0, 0);
    len = read_adu(fd, in);
    CHECK_EQ_INT(mb_frame_parse_response(in, len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.exception, MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* Broken framing (protocol id 5): the server closes the connection. */
    const uint8_t junk[] = {0, 1, 0, 5, 0, 6, 1, 3, 0, 0, 0, 1};
    send(fd, junk, sizeof junk, 0);
    CHECK_EQ_INT(recv(fd, in, sizeof in, 0), 0);
    close(fd);

    /* Fifty clients at once, each answered. */
    int fds[50];
    for (int i = 0; i < 50; i++) {
        fds[i] = raw_connect(PORT_BASE + (uint16_t)(i % 6));
        CHECK(fds[i] >= 0);
    }
    for (int i = 0; i < 50; i++) {
        if (fds[i] < 0) continue;
        n = mb_frame_encode_read_request(out, sizeof out, (uint16_t)i, 1, 3, 9000, 4);
        send(fds[i], out, n, 0);
    }
    int answered = 0;
    for (int i = 0; i < 50; i++) {
        if (fds[i] < 0) continue;
        len = read_adu(fds[i], in);
        if (mb_frame_parse_response(in, len, &rsp).status == MB_FRAME_COMPLETE &&
            rsp.header.transaction_id == i && !rsp.is_exception)
            answered++;
        close(fds[i]);
    }
    CHECK_EQ_INT(answered, 50);
}

static void test_bench(void)
{
    struct sim_options o;
    sim_options_init(&o);
    o.port_base = BENCH_PORT_BASE;
    o.bench_devices = 3;
    o.bench_registers = 1000;
    o.manual_clock = true;
    char err[256];
    struct sim_plant *p = sim_start(&o, err, sizeof err);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT(sim_device_count(p), 3);
    struct sim_device_info info;
    CHECK(sim_device_info(p, 2, &info));
    CHECK_STR(info.name, "bench0002");
    CHECK_EQ_INT(info.port, BENCH_PORT_BASE + 2);
    sim_advance(p, 5);
    modbus_t *m = client(BENCH_PORT_BASE + 2, 1000);
    CHECK(m != NULL);
    if (m) {
        uint16_t regs[125];
        CHECK_EQ_INT(modbus_read_registers(m, 875, 125, regs), 125);
        CHECK_EQ_INT(regs[0], 5 + 875);
        CHECK_EQ_INT(regs[124], 5 + 999);
        sim_advance(p, 1);
        CHECK_EQ_INT(modbus_read_registers(m, 875, 1, regs), 1);
        CHECK_EQ_INT(regs[0], 6 + 875);
        CHECK_EQ_INT(modbus_read_registers(m, 990, 11, regs), -1);
        CHECK_EQ_INT(errno, EMBXILADD);
        drop(m);
    }
    char *yaml = sim_config_yaml(&o);
    CHECK(yaml && strstr(yaml, "name: bench0002") && strstr(yaml, "port: 15362") &&
          strstr(yaml, "{name: r00999, area: holding, address: 999, type: uint16}"));
    free(yaml);
    sim_stop(p);
}

/* The YAML is well formed, names every point, and examples/demo-plant.yaml
 * is exactly what --print-config prints for the defaults. */
static void test_config_yaml(void)
{
    struct sim_options o;
    sim_options_init(&o);
    char *yaml = sim_config_yaml(&o);
    CHECK(yaml != NULL);
    if (!yaml) return;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
    int scalars_name = 0;
    bool ok = true, prev_was_name_key = false;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            ok = false;
            break;
        }
        bool done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            if (prev_was_name_key) scalars_name++;
            prev_was_name_key = strcmp(v, "name") == 0;
        }
        yaml_event_delete(&ev);
        if (done) break;
    }
    yaml_parser_delete(&parser);
    CHECK(ok);
    /* 1 gateway name + 6 devices + 12 groups + 64 points. */
    CHECK_EQ_INT(scalars_name, 1 + 6 + 12 + 64);
    CHECK(strstr(yaml, "namespace: acme/plant1/packaging/line1/filler") != NULL);
    CHECK(strstr(yaml, "scale: {raw: [0, 27648], eng: [-50, 150]}") != NULL);
    CHECK(strstr(yaml, "order: GHEFCDAB") != NULL);

    /* examples/demo-plant.yaml, found from this file's path. */
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strstr(path, "tests/unit/test_sim.c");
    if (!slash) {
        printf("skipping the examples/demo-plant.yaml comparison: no source path\n");
        free(yaml);
        return;
    }
    strcpy(slash, "examples/demo-plant.yaml");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        size_t len = strlen(yaml);
        char *file = malloc(len + 2);
        size_t got = fread(file, 1, len + 1, f);
        fclose(f);
        CHECK_EQ_INT(got, len);
        CHECK(got == len && memcmp(file, yaml, len) == 0);
        if (got != len || memcmp(file, yaml, len) != 0)
            fprintf(stderr, "%s differs from `airlock sim --print-config`; regenerate it\n", path);
        free(file);
    }
    free(yaml);
}

/* Decodes one configured tag from the served registers with the gateway's
 * codec; false when the registers cannot be read. */
static bool decode_served(struct sim_plant *p, const char *device, const struct config_tag *ct,
                          struct value *v, char *text, size_t text_len)
{
    uint16_t regs[128];
    uint8_t bits[1];
    uint16_t width = mb_point_width(&ct->point);
    if (!sim_read_registers(p, device, ct->point.area, ct->point.address, width, regs))
        return false;
    bits[0] = (uint8_t)regs[0];
    quality_t q = mb_decode_point(&ct->point, &ct->tag, regs, bits, 0, v, text, text_len);
    return quality_is_good(q);
}

/* The gateway's loader accepts the generated configuration, and every tag it
 * describes decodes (with the gateway's codec) to the value the model wrote. */
static void test_config_matches_served(void)
{
    struct sim_options o;
    sim_options_init(&o);
    char *yaml = sim_config_yaml(&o);
    struct config cfg;
    struct config_error err;
    bool loaded = yaml && config_load_string(yaml, strlen(yaml), "<sim>", &cfg, &err);
    CHECK(loaded);
    free(yaml);
    if (!loaded) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return;
    }
    CHECK_EQ_INT(cfg.device_count, 6);
    CHECK_EQ_INT(config_tag_count(&cfg), 64);
    struct sim_plant *p = start_model(5, NULL);
    if (p) sim_advance(p, 1234);
    size_t checked = 0, strings = 0;
    for (size_t d = 0; p && d < cfg.device_count; d++) {
        const struct config_device *dev = &cfg.devices[d];
        CHECK_EQ_INT(dev->port, 5020 + d);
        for (size_t g = 0; g < dev->group_count; g++) {
            for (size_t t = 0; t < dev->groups[g].tag_count; t++) {
                const struct config_tag *ct = &dev->groups[g].tags[t];
                const char *name = strrchr(ct->tag.path, '/') + 1;
                struct value v;
                char text[MB_STRING_MAX_BYTES + 1];
                bool ok = decode_served(p, dev->name, ct, &v, text, sizeof text);
                CHECK(ok);
                if (!ok) {
                    fprintf(stderr, "cannot decode %s\n", ct->tag.path);
                    continue;
                }
                if (v.type == VALUE_STRING) {
                    CHECK(v.as.str.len > 0);
                    strings++;
                    continue;
                }
                double want = value(p, dev->name, name), got = value_as_double(&v);
                double tolerance = 1e-6 * (fabs(want) > 1 ? fabs(want) : 1);
                if (ct->point.type == MB_TYPE_FLOAT32) tolerance *= 10;
                CHECK_EQ_DBL(got, want, tolerance);
                checked++;
            }
        }
    }
    CHECK_EQ_INT(checked + strings, 64);
    CHECK_EQ_INT(strings, 10);
    sim_stop(p);
    config_free(&cfg);
}

/* With the real clock the models advance by themselves. */
static void test_real_clock(void)
{
    struct sim_plant *p = start_server(PORT_BASE_2, false);
    if (!p) return;
    struct timespec ts = {0, 350 * 1000000L};
    nanosleep(&ts, NULL);
    double t = sim_time_s(p);
    CHECK(t >= 0.2 && t <= 1.0);
    int64_t t0 = clock_mono_ms();
    sim_stop(p);
    CHECK(clock_mono_ms() - t0 < 1000);
}

int main(void)
{
    test_fault_parse();
    test_start_errors();
    test_determinism();
    test_counters_and_physics();
    test_model_faults();
    test_config_yaml();
    test_config_matches_served();
    struct sim_plant *p = start_server(PORT_BASE, true);
    if (p) {
        test_libmodbus_reads(p);
        test_libmodbus_writes(p);
        test_libmodbus_faults(p);
        test_raw_sockets();
        int64_t t0 = clock_mono_ms();
        sim_stop(p);
        CHECK(clock_mono_ms() - t0 < 1000);
    }
    test_scheduled_refuse();
    test_bench();
    test_real_clock();
    return test_summary();
}
