/* The demo plant's devices: register blocks, every point (area, address,
 * type, order, scaling, unit, meaning), poll groups and namespaces. This
 * table is the single source of what is served, of the YAML that polls it
 * (sim_config.c) and of the tables in docs/demo-plant.md. Addresses are
 * 0-based protocol addresses. */
#include <string.h>

#include "sim/sim_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Shorthands for the tables below. */
#define IR MB_AREA_INPUT
#define HR MB_AREA_HOLDING
#define CO MB_AREA_COIL
#define DI MB_AREA_DISCRETE_INPUT
#define GAIN(g) .scale = {(g), 0}
#define RANGE(lo, hi) .range = {true, (lo), (hi)}
/* A constant string of the nameplate (holding registers from 9000, in the
 * slow "info" group): serial number, firmware version. */
#define NAMEPLATE(point, addr, regs, what, value)                                                  \
    {                                                                                              \
        .name = (point), .area = HR, .address = (addr), .type = MB_TYPE_STRING, .length = (regs),  \
        .description = (what), .role = SIM_ROLE_CONSTANT, .text = (value), .group = 1              \
    }

static const struct sim_group_def fast_and_info[] = {{"fast", 500}, {"info", 60000}};
static const struct sim_group_def normal_and_info[] = {{"normal", 1000}, {"info", 60000}};

/* ---- pump skid P-101 ---- */

static const struct sim_block_def pump_blocks[] = {
    {IR, 0, 32}, {CO, 0, 16}, {DI, 0, 16}, {HR, 9000, 16}};

static const struct sim_point_def pump_points[] = {
    {.name = "motor_current",
     .area = IR,
     .address = 0,
     .type = MB_TYPE_FLOAT32,
     .unit = "A",
     .description = "Motor current, average of the three phases",
     RANGE(0, 80),
     .var = PUMP_CURRENT},
    {.name = "vibration",
     .area = IR,
     .address = 2,
     .type = MB_TYPE_FLOAT32,
     .unit = "mm/s",
     .description = "Vibration velocity RMS at the drive-end bearing (ISO 20816)",
     RANGE(0, 50),
     .var = PUMP_VIBRATION},
    {.name = "bearing_temperature",
     .area = IR,
     .address = 4,
     .type = MB_TYPE_INT16,
     .unit = "degC",
     .description = "Drive-end bearing temperature",
     GAIN(0.1),
     RANGE(-20, 150),
     .var = PUMP_BEARING_TEMP},
    {.name = "discharge_pressure",
     .area = IR,
     .address = 5,
     .type = MB_TYPE_UINT16,
     .unit = "bar",
     .description = "Discharge pressure (gauge)",
     GAIN(0.01),
     RANGE(0, 16),
     .deadband = "0.02",
     .var = PUMP_PRESSURE},
    {.name = "flow",
     .area = IR,
     .address = 6,
     .type = MB_TYPE_FLOAT32,
     .unit = "m3/h",
     .description = "Discharge flow",
     RANGE(0, 150),
     .var = PUMP_FLOW},
    {.name = "motor_speed",
     .area = IR,
     .address = 8,
     .type = MB_TYPE_UINT16,
     .unit = "rpm",
     .description = "Motor speed from the drive",
     RANGE(0, 1800),
     .var = PUMP_SPEED},
    {.name = "vibration_alarm",
     .area = IR,
     .address = 9,
     .type = MB_TYPE_BOOL,
     .bit = 0,
     .description = "Status word bit 0: vibration above 4.5 mm/s (ISO 20816 zone D)",
     .var = PUMP_VIB_ALARM},
    {.name = "temperature_alarm",
     .area = IR,
     .address = 9,
     .type = MB_TYPE_BOOL,
     .bit = 1,
     .description = "Status word bit 1: bearing temperature above 80 degC",
     .var = PUMP_TEMP_ALARM},
    {.name = "tripped",
     .area = IR,
     .address = 9,
     .type = MB_TYPE_BOOL,
     .bit = 2,
     .description = "Status word bit 2: tripped on vibration above 11 mm/s (latched until "
                    "run_enable is cycled or the worn bearing is replaced)",
     .var = PUMP_TRIPPED},
    {.name = "run_time",
     .area = IR,
     .address = 10,
     .type = MB_TYPE_UINT32,
     .unit = "s",
     .description = "Accumulated running time",
     .var = PUMP_RUN_TIME},
    {.name = "motor_power",
     .area = IR,
     .address = 12,
     .type = MB_TYPE_FLOAT32,
     .unit = "kW",
     .description = "Electrical input power of the drive",
     RANGE(0, 40),
     .var = PUMP_POWER},
    {.name = "run_enable",
     .area = CO,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "Remote run enable (write 0 to stop the pump, 1 to allow it to run and to "
                    "reset a trip)",
     .role = SIM_ROLE_SETPOINT,
     .initial = 1,
     .var = PUMP_RUN_ENABLE},
    {.name = "running",
     .area = CO,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .description = "Pump running",
     .var = PUMP_RUNNING},
    {.name = "local_mode",
     .area = DI,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "Local/remote switch in local (always remote in the simulation)",
     .var = PUMP_LOCAL_MODE},
    {.name = "motor_overtemperature",
     .area = DI,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .description = "Bearing temperature above 90 degC",
     .var = PUMP_OVERTEMP},
    NAMEPLATE("serial_number", 9000, 8, "Serial number", "P101-24-0042187"),
    NAMEPLATE("firmware", 9008, 4, "Drive firmware version", "2.4.1"),
};

/* ---- buffer tank T-201 ---- */

static const struct sim_block_def tank_blocks[] = {
    {HR, 0, 32}, {CO, 0, 8}, {DI, 0, 8}, {HR, 9000, 16}};

static const struct sim_point_def tank_points[] = {
    {.name = "level",
     .area = HR,
     .address = 0,
     .type = MB_TYPE_FLOAT32,
     .order = SIM_ORDER_BADC,
     .unit = "%",
     .description = "Tank level (radar level transmitter)",
     RANGE(0, 100),
     .deadband = "0.1%",
     .var = TANK_LEVEL},
    {.name = "volume",
     .area = HR,
     .address = 2,
     .type = MB_TYPE_INT32,
     .order = SIM_ORDER_CDAB,
     .unit = "L",
     .description = "Water volume in the tank",
     RANGE(0, 5000),
     .var = TANK_VOLUME},
    {.name = "inlet_valve_position",
     .area = HR,
     .address = 4,
     .type = MB_TYPE_UINT16,
     .unit = "%",
     .description = "Inlet valve position feedback",
     GAIN(0.1),
     RANGE(0, 100),
     .var = TANK_INLET_POS},
    {.name = "outlet_valve_position",
     .area = HR,
     .address = 5,
     .type = MB_TYPE_UINT16,
     .unit = "%",
     .description = "Outlet valve position feedback",
     GAIN(0.1),
     RANGE(0, 100),
     .var = TANK_OUTLET_POS},
    {.name = "level_high_setpoint",
     .area = HR,
     .address = 6,
     .type = MB_TYPE_UINT16,
     .unit = "%",
     .description = "Level controller: close the inlet at this level (writable)",
     GAIN(0.1),
     RANGE(0, 100),
     .role = SIM_ROLE_SETPOINT,
     .initial = 80,
     .var = TANK_HIGH_SP},
    {.name = "level_low_setpoint",
     .area = HR,
     .address = 7,
     .type = MB_TYPE_UINT16,
     .unit = "%",
     .description = "Level controller: open the inlet at this level (writable)",
     GAIN(0.1),
     RANGE(0, 100),
     .role = SIM_ROLE_SETPOINT,
     .initial = 30,
     .var = TANK_LOW_SP},
    {.name = "inflow",
     .area = HR,
     .address = 8,
     .type = MB_TYPE_FLOAT32,
     .order = SIM_ORDER_CDAB,
     .unit = "m3/h",
     .description = "Inlet flow",
     RANGE(0, 80),
     .var = TANK_INFLOW},
    {.name = "outflow",
     .area = HR,
     .address = 10,
     .type = MB_TYPE_FLOAT32,
     .order = SIM_ORDER_CDAB,
     .unit = "m3/h",
     .description = "Outlet flow to consumers",
     RANGE(0, 80),
     .var = TANK_OUTFLOW},
    {.name = "inlet_valve_open",
     .area = CO,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "Inlet valve commanded open by the level controller",
     .var = TANK_INLET_OPEN},
    {.name = "outlet_valve_open",
     .area = CO,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .description = "Outlet valve commanded open (consumer demand schedule)",
     .var = TANK_OUTLET_OPEN},
    {.name = "high_level_switch",
     .area = DI,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "High-level switch (level at or above 95 %)",
     .var = TANK_HIGH_SWITCH},
    {.name = "low_level_switch",
     .area = DI,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .description = "Low-level switch (level at or below 5 %)",
     .var = TANK_LOW_SWITCH},
    NAMEPLATE("serial_number", 9000, 8, "Level transmitter serial number", "T201-LT-0042817"),
};

/* ---- energy meter EM-01 ---- */

static const struct sim_block_def meter_blocks[] = {{IR, 0, 40}, {HR, 100, 4}, {HR, 9000, 16}};

static const struct sim_point_def meter_points[] = {
    {.name = "voltage",
     .area = IR,
     .address = 0,
     .type = MB_TYPE_FLOAT32,
     .unit = "V",
     .description = "Line-to-line voltage, average of the three phases",
     RANGE(0, 500),
     .var = METER_VOLTAGE},
    {.name = "current",
     .area = IR,
     .address = 2,
     .type = MB_TYPE_FLOAT32,
     .unit = "A",
     .description = "Phase current, average",
     RANGE(0, 400),
     .var = METER_CURRENT},
    {.name = "active_power",
     .area = IR,
     .address = 4,
     .type = MB_TYPE_FLOAT32,
     .unit = "kW",
     .description = "Total active power",
     RANGE(0, 250),
     .var = METER_POWER},
    {.name = "power_factor",
     .area = IR,
     .address = 6,
     .type = MB_TYPE_INT16,
     .description = "Total power factor",
     GAIN(0.001),
     RANGE(-1, 1),
     .var = METER_PF},
    {.name = "frequency",
     .area = IR,
     .address = 7,
     .type = MB_TYPE_UINT16,
     .unit = "Hz",
     .description = "Network frequency",
     GAIN(0.01),
     RANGE(45, 55),
     .var = METER_FREQUENCY},
    {.name = "energy_total",
     .area = IR,
     .address = 8,
     .type = MB_TYPE_FLOAT64,
     .unit = "kWh",
     .description = "Active energy import, total (float64)",
     .var = METER_ENERGY_KWH},
    {.name = "energy_counter",
     .area = IR,
     .address = 12,
     .type = MB_TYPE_UINT32,
     .order = SIM_ORDER_CDAB,
     .unit = "kWh",
     .description = "Active energy import, total (uint32 in 0.1 kWh, word-swapped)",
     GAIN(0.1),
     .var = METER_ENERGY_KWH},
    {.name = "energy_total_wh",
     .area = IR,
     .address = 14,
     .type = MB_TYPE_UINT64,
     .order = SIM_ORDER_CDAB,
     .unit = "Wh",
     .description = "Active energy import, total (uint64 in Wh, word-swapped)",
     .var = METER_ENERGY_WH},
    {.name = "reactive_power",
     .area = IR,
     .address = 18,
     .type = MB_TYPE_FLOAT32,
     .unit = "kvar",
     .description = "Total reactive power",
     RANGE(0, 200),
     .var = METER_REACTIVE},
    {.name = "ct_ratio",
     .area = HR,
     .address = 100,
     .type = MB_TYPE_UINT16,
     .description = "Current transformer ratio (primary amperes per 1 A secondary)",
     .role = SIM_ROLE_CONSTANT,
     .initial = 400,
     .var = METER_CT_RATIO,
     .group = 1},
    NAMEPLATE("serial_number", 9000, 8, "Serial number", "EM01-7731-0925"),
    NAMEPLATE("firmware", 9008, 4, "Firmware version", "4.12"),
};

/* ---- filler FL-1, packaging line 1 ---- */

static const struct sim_block_def filler_blocks[] = {
    {HR, 0, 32}, {CO, 0, 8}, {DI, 0, 8}, {HR, 9000, 16}};

static const struct sim_point_def filler_points[] = {
    {.name = "machine_state",
     .area = HR,
     .address = 0,
     .type = MB_TYPE_INT16,
     .description = "Machine state: 0 stopped, 1 running, 2 idle (starved or blocked), 3 "
                    "fault, 4 changeover",
     RANGE(0, 4),
     .var = FILLER_STATE},
    {.name = "guard_closed",
     .area = HR,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .bit = 0,
     .description = "Status word bit 0: guard doors closed",
     .var = FILLER_GUARD_CLOSED},
    {.name = "product_low",
     .area = HR,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .bit = 1,
     .description = "Status word bit 1: product supply low (line starved)",
     .var = FILLER_PRODUCT_LOW},
    {.name = "good_count",
     .area = HR,
     .address = 2,
     .type = MB_TYPE_UINT32,
     .description = "Good units produced since start",
     .var = FILLER_GOOD},
    {.name = "reject_count",
     .area = HR,
     .address = 4,
     .type = MB_TYPE_UINT32,
     .description = "Units rejected since start",
     .var = FILLER_REJECT},
    {.name = "speed",
     .area = HR,
     .address = 6,
     .type = MB_TYPE_FLOAT32,
     .unit = "1/min",
     .description = "Machine speed, units per minute",
     RANGE(0, 200),
     .var = FILLER_SPEED},
    {.name = "speed_setpoint",
     .area = HR,
     .address = 8,
     .type = MB_TYPE_UINT16,
     .unit = "1/min",
     .description = "Speed setpoint, units per minute (writable)",
     RANGE(0, 200),
     .role = SIM_ROLE_SETPOINT,
     .initial = 120,
     .var = FILLER_SPEED_SP},
    {.name = "fault_code",
     .area = HR,
     .address = 9,
     .type = MB_TYPE_UINT16,
     .description = "Active fault: 0 none, 101 bottle jam at infeed, 204 capper torque, 305 "
                    "guard door opened, 412 label missing",
     .var = FILLER_FAULT_CODE},
    {.name = "stop_request",
     .area = CO,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "Write 1 to stop the machine, 0 to release it (writable)",
     .role = SIM_ROLE_SETPOINT,
     .initial = 0,
     .var = FILLER_STOP_REQUEST},
    {.name = "infeed_product_present",
     .area = DI,
     .address = 0,
     .type = MB_TYPE_BOOL,
     .description = "Product present at the infeed",
     .var = FILLER_INFEED_PRESENT},
    {.name = "outfeed_blocked",
     .area = DI,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .description = "Outfeed conveyor backed up",
     .var = FILLER_OUTFEED_BLOCKED},
    NAMEPLATE("serial_number", 9000, 8, "Serial number", "FL1-2022-00318"),
    {.name = "product_code",
     .area = HR,
     .address = 9008,
     .type = MB_TYPE_STRING,
     .length = 8,
     .description = "Product being filled",
     .role = SIM_ROLE_CONSTANT,
     .text = "WATER-1L-SKU4711",
     .group = 1},
};

/* ---- temperature transmitters ---- */

static const struct sim_block_def tt_blocks[] = {{IR, 0, 8}, {HR, 9000, 16}};

static const struct sim_point_def tt101_points[] = {
    {.name = "temperature",
     .area = IR,
     .address = 0,
     .type = MB_TYPE_INT16,
     .unit = "degC",
     .description = "Mixer product temperature (analog input card, raw 0..27648 = -50..150 "
                    "degC)",
     .span = {true, 0, 27648, -50, 150},
     .scale = {200.0 / 27648.0, -50},
     RANGE(-50, 150),
     .var = TT_TEMPERATURE},
    {.name = "sensor_fault",
     .area = IR,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .bit = 0,
     .description = "Status word bit 0: sensor or wiring fault",
     .var = TT_SENSOR_FAULT},
    {.name = "out_of_range",
     .area = IR,
     .address = 1,
     .type = MB_TYPE_BOOL,
     .bit = 1,
     .description = "Status word bit 1: reading outside -50..150 degC",
     .var = TT_OUT_OF_RANGE},
    NAMEPLATE("serial_number", 9000, 8, "Serial number", "TT101-8841-22"),
};

static const struct sim_point_def tt102_points[] = {
    {.name = "temperature",
     .area = IR,
     .address = 0,
     .type = MB_TYPE_FLOAT32,
     .order = SIM_ORDER_CDAB,
     .unit = "degC",
     .description = "Chiller supply temperature",
     RANGE(-50, 150),
     .deadband = "0.02",
     .var = TT_TEMPERATURE},
    {.name = "sensor_resistance",
     .area = IR,
     .address = 2,
     .type = MB_TYPE_FLOAT32,
     .order = SIM_ORDER_CDAB,
     .unit = "Ohm",
     .description = "Pt100 element resistance",
     RANGE(80, 160),
     .var = TT_RESISTANCE},
    {.name = "sensor_fault",
     .area = IR,
     .address = 4,
     .type = MB_TYPE_BOOL,
     .bit = 0,
     .description = "Status word bit 0: sensor or wiring fault",
     .var = TT_SENSOR_FAULT},
    NAMEPLATE("serial_number", 9000, 8, "Serial number", "TT102-9112-23"),
    NAMEPLATE("firmware", 9008, 4, "Firmware version", "1.7.0"),
};

#define DEVICE_TABLES(g, b, p)                                                                     \
    .groups = g, .group_count = COUNT(g), .blocks = b, .block_count = COUNT(b), .points = p,       \
    .point_count = COUNT(p)

const struct sim_device_def sim_plant_defs[SIM_PLANT_DEVICE_COUNT] = {
    [SIM_DEV_PUMP] =
        {.name = "pump",
         .title = "Pump skid P-101: centrifugal pump, 30 kW motor on a variable-speed drive",
         .ns = "acme/plant1/utilities/pumping/skid1",
         DEVICE_TABLES(fast_and_info, pump_blocks, pump_points),
         .physics =
             "The pump runs while run_enable is set, except for a scheduled 45 s stop every "
             "10 minutes (at 500..545 s of each 600 s cycle) and after a trip. The drive "
             "follows a demand profile (two slow sine waves, 40..100 % of 1480 rpm) with a "
             "5 s ramp; flow (up to 120 m3/h) lags speed by 1.5 s; pressure follows the system "
             "curve 0.8 + 3.7 (Q/120)^2 bar; electrical power is hydraulic power over pump "
             "(72 %) and motor (93 %) efficiency, and current is the vector sum of the active "
             "and magnetising components at 400 V. Bearing temperature is a first-order lag "
             "(time constant 240 s) towards 24 degC + 36 degC x load. Vibration is 1.1 + 1.4 "
             "(speed)^2 mm/s with noise while running, near zero when stopped.",
         .supports_wear = true},
    [SIM_DEV_TANK] =
        {.name = "tank",
         .title = "Buffer tank T-201: 5 m3 water tank, level-controlled inlet, consumer outlet",
         .ns = "acme/plant1/utilities/water/tank1",
         DEVICE_TABLES(normal_and_info, tank_blocks, tank_points),
         .physics = "The level integrates inflow minus outflow over the 5 m3 volume. A "
                    "two-point controller opens the inlet valve (60 m3/h at full opening) when "
                    "the level falls to level_low_setpoint and closes it at "
                    "level_high_setpoint. The outlet valve follows consumer demand: open 240 "
                    "s, closed 60 s, every 300 s; outflow is 35 m3/h x opening x sqrt(level). "
                    "Valves stroke at 10 %/s. The level reading has 0.05 % noise."},
    [SIM_DEV_METER] =
        {.name = "meter",
         .title = "Energy meter EM-01 on the main incomer, 400 V three-phase",
         .ns = "acme/plant1/utilities/electrical/incomer1",
         DEVICE_TABLES(normal_and_info, meter_blocks, meter_points),
         .physics = "Active power is the plant base load (18 kW with hourly and 7-minute "
                    "swings) plus the pump's and the filler's electrical power, with noise. "
                    "Voltage, frequency and power factor wander slowly around 400 V, 50 Hz and "
                    "0.91; current and reactive power follow from them. The energy counters "
                    "integrate active power from 1234567.8 kWh and never decrease."},
    [SIM_DEV_FILLER] =
        {.name = "filler",
         .title = "Filler FL-1 on packaging line 1: state machine, good and reject counters",
         .ns = "acme/plant1/packaging/line1/filler",
         DEVICE_TABLES(normal_and_info, filler_blocks, filler_points),
         .physics = "The machine starts stopped, runs after 10 s, and then cycles: running for "
                    "2..6 minutes, then idle (starved or blocked, 8..40 s) or, one time in four, "
                    "fault (30..90 s with a fault code). Every 5000 good units it stops 90 s for a "
                    "changeover. Speed follows speed_setpoint with a 4 s lag while running and "
                    "coasts to zero otherwise. Units are counted only while running; each is "
                    "rejected with probability 1.5 %. stop_request forces the stopped state."},
    [SIM_DEV_TT101] =
        {.name = "tt101",
         .title = "Temperature transmitter TT-101: mixer product temperature, scaled int16",
         .ns = "acme/plant1/process/mixing/mixer1",
         DEVICE_TABLES(normal_and_info, tt_blocks, tt101_points),
         .physics = "Product temperature 62 degC with a 20-minute batch swing of +-6 degC and "
                    "a faster +-1.5 degC oscillation, plus 0.08 degC noise, as an analog input "
                    "card would report it (0..27648 for -50..150 degC).",
         .supports_drift = true},
    [SIM_DEV_TT102] = {.name = "tt102",
                       .title =
                           "Temperature transmitter TT-102: chiller supply, Pt100, float32 CDAB",
                       .ns = "acme/plant1/utilities/cooling/chiller1",
                       DEVICE_TABLES(normal_and_info, tt_blocks, tt102_points),
                       .physics =
                           "Chiller supply water at 7 degC with a 5-minute +-0.6 degC compressor "
                           "cycle and 0.03 degC noise; the Pt100 resistance is reported alongside "
                           "(100 Ohm x (1 + 0.00385 T)).",
                       .supports_drift = true},
};

const struct sim_device_def *sim_plant_def_find(const char *name)
{
    for (size_t i = 0; i < SIM_PLANT_DEVICE_COUNT; i++)
        if (strcmp(sim_plant_defs[i].name, name) == 0) return &sim_plant_defs[i];
    return NULL;
}

const struct sim_point_def *sim_point_find(const struct sim_device_def *def, const char *name)
{
    for (size_t i = 0; def && i < def->point_count; i++)
        if (strcmp(def->points[i].name, name) == 0) return &def->points[i];
    return NULL;
}

void sim_describe_plant(FILE *out)
{
    for (size_t i = 0; i < SIM_PLANT_DEVICE_COUNT; i++) {
        const struct sim_device_def *d = &sim_plant_defs[i];
        fprintf(out, "  %-7s port base+%zu  %s\n", d->name, i, d->title);
        fprintf(out, "          %zu points, namespace %s\n", d->point_count, d->ns);
    }
}
