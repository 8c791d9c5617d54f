/* The demo plant simulator: a small plant (pump skid, buffer tank, energy
 * meter, packaging line filler, two temperature transmitters), each device
 * its own Modbus TCP server on loopback, driven by deterministic physical
 * models and open to fault injection. A benchmark mode serves many generic
 * devices instead. See docs/demo-plant.md for every register.
 *
 * One server thread multiplexes every listening socket and connection with
 * epoll and also advances the models on a timer (one step every step_ms of
 * wall time, or only through sim_advance() with manual_clock). Models are
 * deterministic: the same seed and the same number of steps give the same
 * register contents. */
#ifndef AIRLOCK_SIM_SIM_H
#define AIRLOCK_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "drivers/modbus/mb_point.h"

enum sim_fault_kind {
    SIM_FAULT_BEARING_WEAR = 0, /* pump: vibration and bearing temperature grow while active */
    SIM_FAULT_DRIFT,            /* transmitters: the reading's offset grows while active */
    SIM_FAULT_OFFLINE,          /* accepts connections, never answers */
    SIM_FAULT_REFUSE,           /* listening socket closed: connections are refused */
    SIM_FAULT_GARBAGE,          /* answers with malformed frames */
    SIM_FAULT_EXCEPTION,        /* answers every request with exception ServerDeviceBusy */
    SIM_FAULT_KIND_COUNT,
};

#define SIM_MAX_FAULTS 32
#define SIM_DEVICE_NAME_MAX 32
#define SIM_DEFAULT_PORT_BASE 5020
#define SIM_DEFAULT_STEP_MS 100
#define SIM_MAX_BENCH_DEVICES 1000

#define SIM_MAX_IDENTITIES 32
#define SIM_IDENTITY_TEXT_MAX 64

/* What a device answers to Read Device Identification (Modbus function 43 /
 * MEI 14, basic objects). By default every device answers VendorName
 * "airlock", ProductCode "SIM-<name>", MajorMinorRevision "1.0"; a spec
 * overrides that for one device, or (none) makes it answer
 * IllegalFunction like a device without identification. */
struct sim_identity_spec {
    char device[SIM_DEVICE_NAME_MAX];
    bool none;
    char vendor[SIM_IDENTITY_TEXT_MAX];
    char product[SIM_IDENTITY_TEXT_MAX];
    char revision[SIM_IDENTITY_TEXT_MAX];
};

/* Parses "DEVICE=VENDOR,PRODUCT,REVISION" (e.g. "pump=ACME,P-100,2.1") or
 * "DEVICE=" (no identification). On failure writes a message naming the
 * bad part to err and returns false. The device name is checked against
 * the plant only by sim_start. */
bool sim_identity_parse(const char *text, struct sim_identity_spec *out, char *err, size_t err_len);

/* One scheduled fault: active while start_s <= simulated time < end_s. */
struct sim_fault_spec {
    char device[SIM_DEVICE_NAME_MAX];
    enum sim_fault_kind kind;
    double start_s; /* seconds of simulated time since start; 0 = from the start */
    double end_s;   /* negative: until stopped */
};

struct sim_options {
    const char *host;         /* address to listen on, default "127.0.0.1"; copied by sim_start */
    uint16_t port_base;       /* first device's port; the others follow consecutively */
    uint64_t seed;            /* default 1 */
    uint32_t step_ms;         /* model time step, default 100 */
    bool manual_clock;        /* time advances only through sim_advance() (tests) */
    bool model_only;          /* bind nothing, start no thread (tests of the models) */
    uint32_t bench_devices;   /* > 0: serve this many generic devices instead of the plant */
    uint32_t bench_registers; /* holding registers per bench device (1..65535) */
    struct sim_fault_spec faults[SIM_MAX_FAULTS];
    size_t fault_count;
    struct sim_identity_spec identities[SIM_MAX_IDENTITIES]; /* device identifications */
    size_t identity_count;
};

/* Fills *opt with the defaults above (no faults, plant mode). */
void sim_options_init(struct sim_options *opt);

/* "bearing-wear", "drift", "offline", "refuse", "garbage", "exception". */
const char *sim_fault_kind_name(enum sim_fault_kind kind);
bool sim_fault_kind_from_name(const char *name, enum sim_fault_kind *out);

/* Parses "DEVICE:KIND[@START_S[-END_S]]" (e.g. "tank:offline@30-60",
 * "pump:bearing-wear@120", "tt102:drift"). On failure writes a message naming
 * the bad part to err and returns false. The device name is checked against
 * the plant only by sim_start. */
bool sim_fault_parse(const char *text, struct sim_fault_spec *out, char *err, size_t err_len);

struct sim_plant;

/* Builds the plant (or bench devices), binds every port (unless model_only)
 * and starts the server thread. Returns NULL on failure with a message in err
 * naming the cause, e.g. the port that could not be bound; nothing is left
 * running then. The caller owns the result and ends it with sim_stop(). */
struct sim_plant *sim_start(const struct sim_options *opt, char *err, size_t err_len);

/* Checks opt as sim_start would (fault devices and kinds, ports, sizes)
 * without binding anything. False with a message in err when sim_start
 * would refuse opt for a reason in opt itself. */
bool sim_check_options(const struct sim_options *opt, char *err, size_t err_len);

/* Stops the thread, closes every socket and frees the plant (within about
 * 100 ms). Safe with NULL. */
void sim_stop(struct sim_plant *p);

struct sim_device_info {
    const char *name;  /* "pump", ... or "bench0000"; valid while the plant lives */
    const char *title; /* one-line description */
    uint16_t port;
    uint8_t unit_id;
};

size_t sim_device_count(const struct sim_plant *p);
/* Fills *out for device i; false when i is out of range. */
bool sim_device_info(const struct sim_plant *p, size_t i, struct sim_device_info *out);

/* Switches a fault on or off by hand (kind as sim_fault_kind_name). Off also
 * cancels that device's schedules of that kind. Socket effects (refuse) have
 * taken place when it returns. False for an unknown device or kind, or a
 * kind the device does not support (bearing-wear: pump; drift: tt101, tt102). */
bool sim_set_fault(struct sim_plant *p, const char *device, const char *kind, bool on);

/* Whether a fault is currently active (by hand or by schedule). */
bool sim_fault_active(struct sim_plant *p, const char *device, const char *kind);

/* Advances the models by steps time steps at once (any clock mode); fault
 * schedules follow the new time. Returns when done. */
void sim_advance(struct sim_plant *p, uint32_t steps);

/* Simulated seconds since start. */
double sim_time_s(struct sim_plant *p);

/* Copies count registers (or bits, as 0/1) of one area of a device as they
 * would be served now. False when the device is unknown or any address is
 * not mapped. */
bool sim_read_registers(struct sim_plant *p, const char *device, enum mb_area area,
                        uint16_t address, uint16_t count, uint16_t *out);

/* Decodes a named point of a device (as listed in docs/demo-plant.md, e.g.
 * "pump", "vibration") to its engineering value, scaling applied. False for
 * unknown names and for strings. */
bool sim_read_value(struct sim_plant *p, const char *device, const char *point, double *out);

/* The gateway configuration (YAML, format of config/config.h) that polls the
 * plant or bench devices exactly as opt would serve them, starting with a
 * comment header. Returns a malloc'd string the caller frees, NULL on ENOMEM. */
char *sim_config_yaml(const struct sim_options *opt);

/* Writes a human description of the plant's devices (name, port offset,
 * title, registers served) for --help. */
void sim_describe_plant(FILE *out);

#endif
