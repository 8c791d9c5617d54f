/* Private to src/sim: the plant's runtime structures shared by its files.
 *
 *   sim_devices.c  the plant's device definitions: register blocks, points,
 *                  poll groups, namespaces (the single source for the
 *                  served maps, the generated YAML and the docs)
 *   sim_regmap.c   register storage per device and typed encode/decode with
 *                  byte/word order and scaling
 *   sim_model.c    the physical models, one step at a time
 *   sim_fault.c    fault names, parsing and schedules
 *   sim_handler.c  one Modbus request against a device's registers, and the
 *                  garbage fault's corruption of a response
 *   sim_server.c   the epoll loop: listeners, connections, the model timer
 *   sim_config.c   the gateway YAML for what is served
 *   sim_plant.c    the public API of sim.h
 */
#ifndef AIRLOCK_SIM_SIM_INTERNAL_H
#define AIRLOCK_SIM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/modbus/mb_frame.h"
#include "drivers/modbus/mb_point.h"
#include "sim/sim.h"

/* ---- deterministic random numbers (splitmix64) ---- */

struct sim_rng {
    uint64_t state;
};

static inline uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double sim_rng_uniform(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Approximately standard normal (Irwin-Hall of four uniforms, rescaled):
 * plain arithmetic, so identical everywhere. */
static inline double sim_rng_normal(struct sim_rng *r)
{
    double s = sim_rng_uniform(r) + sim_rng_uniform(r) + sim_rng_uniform(r) + sim_rng_uniform(r);
    return (s - 2.0) * 1.7320508075688772;
}

/* A stream seed derived from the user's seed and a stream number. */
static inline struct sim_rng sim_rng_stream(uint64_t seed, uint64_t stream)
{
    struct sim_rng r = {seed ^ (stream * 0xD1B54A32D192ED03ull)};
    sim_rng_next(&r);
    return r;
}

/* ---- device definitions ---- */

/* Byte/word order of multi-register values (see mb_point.h). */
enum sim_order { SIM_ORDER_ABCD = 0, SIM_ORDER_CDAB, SIM_ORDER_BADC, SIM_ORDER_DCBA };

enum sim_role {
    SIM_ROLE_MEASURED = 0, /* the model writes it every step */
    SIM_ROLE_SETPOINT,     /* written once with initial; clients may write; the model reads it */
    SIM_ROLE_CONSTANT,     /* written once (text or initial) */
};

struct sim_point_def {
    const char *name;
    enum mb_area area;
    uint16_t address; /* 0-based */
    enum mb_type type;
    enum sim_order order;
    int8_t bit;      /* bool in a register area: bit 0..15 */
    uint16_t length; /* strings: registers */
    const char *unit;
    const char *description;
    struct {
        double gain; /* eng = raw * gain + offset; gain 0 means no scaling */
        double offset;
    } scale;
    struct {
        bool set; /* written as {raw: [..], eng: [..]} instead of gain/offset */
        double raw_lo, raw_hi, eng_lo, eng_hi;
    } span;
    struct {
        bool set;
        double lo, hi;
    } range;
    const char *deadband; /* NULL, or as written in YAML: "0.05", "0.5%" */
    enum sim_role role;
    int var;          /* index into sim_device.vars */
    double initial;   /* setpoints and numeric constants */
    const char *text; /* string constants */
    uint8_t group;    /* index into the device's groups */
};

struct sim_block_def {
    enum mb_area area;
    uint16_t start;
    uint32_t count;
};

struct sim_group_def {
    const char *name;
    uint32_t interval_ms;
};

struct sim_device_def {
    const char *name;
    const char *title;
    const char *ns; /* enterprise/site/area/line/cell */
    const struct sim_group_def *groups;
    size_t group_count;
    const struct sim_block_def *blocks;
    size_t block_count;
    const struct sim_point_def *points;
    size_t point_count;
    const char *physics; /* one paragraph, for --help and docs */
    bool supports_wear;
    bool supports_drift;
};

enum sim_plant_device {
    SIM_DEV_PUMP = 0,
    SIM_DEV_TANK,
    SIM_DEV_METER,
    SIM_DEV_FILLER,
    SIM_DEV_TT101,
    SIM_DEV_TT102,
    SIM_PLANT_DEVICE_COUNT,
};

extern const struct sim_device_def sim_plant_defs[SIM_PLANT_DEVICE_COUNT];

/* Model variables of each device (sim_device.vars indices). */
enum {
    PUMP_CURRENT = 0,
    PUMP_VIBRATION,
    PUMP_BEARING_TEMP,
    PUMP_PRESSURE,
    PUMP_FLOW,
    PUMP_SPEED,
    PUMP_RUN_TIME,
    PUMP_POWER,
    PUMP_VIB_ALARM,
    PUMP_TEMP_ALARM,
    PUMP_TRIPPED,
    PUMP_RUN_ENABLE,
    PUMP_RUNNING,
    PUMP_LOCAL_MODE,
    PUMP_OVERTEMP,
};
enum {
    TANK_LEVEL = 0,
    TANK_VOLUME,
    TANK_INLET_POS,
    TANK_OUTLET_POS,
    TANK_HIGH_SP,
    TANK_LOW_SP,
    TANK_INFLOW,
    TANK_OUTFLOW,
    TANK_INLET_OPEN,
    TANK_OUTLET_OPEN,
    TANK_HIGH_SWITCH,
    TANK_LOW_SWITCH,
};
enum {
    METER_VOLTAGE = 0,
    METER_CURRENT,
    METER_POWER,
    METER_PF,
    METER_FREQUENCY,
    METER_ENERGY_KWH,
    METER_ENERGY_WH,
    METER_REACTIVE,
    METER_CT_RATIO,
};
enum {
    FILLER_STATE = 0,
    FILLER_GUARD_CLOSED,
    FILLER_PRODUCT_LOW,
    FILLER_GOOD,
    FILLER_REJECT,
    FILLER_SPEED,
    FILLER_SPEED_SP,
    FILLER_FAULT_CODE,
    FILLER_STOP_REQUEST,
    FILLER_INFEED_PRESENT,
    FILLER_OUTFEED_BLOCKED,
};
enum {
    TT_TEMPERATURE = 0,
    TT_SENSOR_FAULT,
    TT_OUT_OF_RANGE,
    TT_RESISTANCE,
};
#define SIM_MAX_VARS 16

/* Machine states of the filler (machine_state register). */
enum filler_state {
    FILLER_STOPPED = 0,
    FILLER_RUNNING = 1,
    FILLER_IDLE = 2,
    FILLER_FAULT = 3,
    FILLER_CHANGEOVER = 4,
};

/* The definition of a named device of the plant, or NULL. */
const struct sim_device_def *sim_plant_def_find(const char *name);
/* The point of def with this name, or NULL. */
const struct sim_point_def *sim_point_find(const struct sim_device_def *def, const char *name);

/* ---- runtime devices and register storage ---- */

struct sim_block {
    enum mb_area area;
    uint16_t start;
    uint32_t count;
    uint16_t *values; /* bits are stored as 0/1 */
};

struct sim_conn;

struct sim_device {
    char name[SIM_DEVICE_NAME_MAX];
    char title[128];
    const struct sim_device_def *def; /* NULL for bench devices */
    uint16_t port;
    uint8_t unit_id;
    struct sim_block *blocks;
    size_t block_count;
    uint16_t *storage; /* every block's values, one allocation */
    double vars[SIM_MAX_VARS];
    struct sim_rng rng;         /* model noise and events */
    struct sim_rng garbage_rng; /* the garbage fault's choices */
    bool fault_manual[SIM_FAULT_KIND_COUNT];
    bool fault_active[SIM_FAULT_KIND_COUNT];
    double fault_elapsed_s[SIM_FAULT_KIND_COUNT]; /* time active since it last became active */
    /* Read Device Identification: VendorName, ProductCode, MajorMinorRevision
     * (see struct sim_identity_spec); devid_none: answers IllegalFunction. */
    bool devid_none;
    char devid[3][SIM_IDENTITY_TEXT_MAX];
    /* Server state, touched only by the server thread. */
    int listen_fd;
    bool accept_paused; /* listener unwatched after accept() ran out of descriptors */
    struct sim_conn *conns;
    size_t conn_count;
};

/* Allocates storage for the blocks (zeroed). False on ENOMEM. */
bool sim_device_init_blocks(struct sim_device *d, const struct sim_block_def *defs, size_t count);
void sim_device_free_blocks(struct sim_device *d);

/* The values of [address, address + count) of an area when they all lie in
 * one block, else NULL (the request is for an unmapped address). */
uint16_t *sim_device_span(struct sim_device *d, enum mb_area area, uint32_t address,
                          uint32_t count);

/* Registers (or bits) a point occupies. */
uint16_t sim_point_width(const struct sim_point_def *p);
/* Writes eng (engineering units) as p's raw wire value, scaled and clamped to
 * the type's range. Ignores points whose span is unmapped. */
void sim_point_store(struct sim_device *d, const struct sim_point_def *p, double eng);
/* Writes a string point, NUL-padded to its length. */
void sim_point_store_text(struct sim_device *d, const struct sim_point_def *p, const char *text);
/* Reads p back in engineering units (NaN for strings and unmapped points). */
double sim_point_load(struct sim_device *d, const struct sim_point_def *p);

/* "ABCD"..; 64-bit types get their eight-letter spellings. */
const char *sim_order_name(enum sim_order o, enum mb_type type);
const char *sim_area_name(enum mb_area a);
const char *sim_type_name(enum mb_type t);

/* ---- the plant ---- */

struct sim_model;
struct sim_server;

struct sim_plant {
    struct sim_options opt;
    char host[64];
    struct sim_device *devices;
    size_t device_count;
    struct sim_model *model;
    uint64_t steps;       /* simulated time = steps * opt.step_ms */
    pthread_mutex_t lock; /* guards everything above except opt and host */
    pthread_cond_t synced;
    uint64_t request_gen; /* bumped by API calls that need the server to act */
    uint64_t applied_gen; /* set by the server once it has acted */
    struct sim_server *server;
};

static inline double sim_plant_time_s(const struct sim_plant *p)
{
    return (double)p->steps * p->opt.step_ms / 1000.0;
}

/* The device of that name, or NULL. */
struct sim_device *sim_plant_device(struct sim_plant *p, const char *name);

/* Model: create for the plant's devices (writes initial values), free, and
 * advance one step (time, faults, every device). Called with the lock held. */
struct sim_model *sim_model_new(struct sim_plant *p);
void sim_model_free(struct sim_model *m);
void sim_model_step(struct sim_plant *p);

/* Faults: whether a device supports a kind, and recomputing every device's
 * active set from manual switches and schedules at the current time (dt_s is
 * the time since the previous update, added to elapsed times). */
bool sim_fault_supported(const struct sim_device *d, enum sim_fault_kind kind);
void sim_faults_update(struct sim_plant *p, double dt_s);

/* One request against a device's registers: writes the response ADU to out
 * and returns its size (0 if cap is below MB_FRAME_MAX_ADU_BYTES). Handles
 * unit id checks, unmapped addresses and writes; no fault behaviour. */
size_t sim_handle_request(struct sim_device *d, const struct mb_frame_request *req, uint8_t *out,
                          size_t cap);
/* Read Device Identification (function 43 / MEI 14) against a device:
 * frame[0..len) is the whole request ADU. Writes the response ADU to out and
 * returns its size (0 if cap is below MB_FRAME_MAX_ADU_BYTES). */
size_t sim_handle_devid(struct sim_device *d, const uint8_t *frame, size_t len, uint8_t *out,
                        size_t cap);
/* The garbage fault: rewrites the response frame[0..len) into a malformed
 * one (wrong length field, wrong transaction id, truncated, random bytes,
 * wrong protocol id or byte count). cap must be at least 64. Returns the new
 * length (at least 1). */
size_t sim_corrupt_response(struct sim_rng *rng, uint8_t *frame, size_t len, size_t cap);

/* Server: binds every device's port and starts the thread. NULL with err on
 * failure (nothing left open). */
struct sim_server *sim_server_start(struct sim_plant *p, char *err, size_t err_len);
void sim_server_stop(struct sim_server *s);
/* Wakes the server so it acts on changed state (faults), then waits until it
 * has (at most 1 s). Called with p->lock held; returns with it held. */
void sim_server_sync(struct sim_plant *p);

#endif
