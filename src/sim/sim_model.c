/* The demo plant's physical models, advanced one fixed time step at a time.
 *
 * Each device reads its setpoints from its registers, updates its state and
 * writes every measured point back (sim_devices.c lists them). All
 * randomness comes from the device's own seeded stream and every step draws
 * the same noise samples whatever the state or faults, so the same seed and
 * number of steps always give the same registers, and a fault changes only
 * what it is meant to. The physics of each device is described in
 * sim_devices.c and docs/demo-plant.md. */
#include <math.h>
#include <stdlib.h>

#include "sim/sim_internal.h"

#define TWO_PI 6.283185307179586
#define SQRT3 1.7320508075688772
#define LINE_VOLTAGE_V 400.0

/* Pump skid. */
#define PUMP_RATED_FLOW_M3H 120.0
#define PUMP_RATED_RPM 1480.0
#define PUMP_CYCLE_S 600.0
#define PUMP_STOP_FROM_S 500.0
#define PUMP_STOP_UNTIL_S 545.0
#define PUMP_RAMP_PER_S 0.2
#define PUMP_FLOW_TAU_S 1.5
#define PUMP_STATIC_BAR 0.8
#define PUMP_BEARING_TAU_S 240.0
#define PUMP_AMBIENT_DEGC 24.0
#define PUMP_WEAR_MM_S_PER_S 0.004 /* vibration growth under bearing wear */
#define PUMP_WEAR_MAX_MM_S 20.0
#define PUMP_WEAR_HEAT_DEGC_PER_MM_S 2.5
#define PUMP_TRIP_MM_S 11.0

/* Tank. */
#define TANK_VOLUME_M3 5.0
#define TANK_INFLOW_MAX_M3H 60.0
#define TANK_OUTFLOW_MAX_M3H 35.0
#define TANK_VALVE_RATE_PCT_S 10.0
#define TANK_OUTLET_CYCLE_S 300.0
#define TANK_OUTLET_OPEN_S 240.0

/* Meter. */
#define METER_START_KWH 1234567.8

/* Filler. */
#define FILLER_REJECT_PROBABILITY 0.015
#define FILLER_CHANGEOVER_UNITS 5000
#define FILLER_SPEED_TAU_S 4.0

/* Transmitters. */
#define TT_DRIFT_DEGC_PER_S 0.005

struct pump_state {
    double speed_frac; /* 0..1 of rated speed */
    double flow_m3h;
    double bearing_degc;
    double run_time_s;
    bool tripped;
    bool last_enable;
};

struct tank_state {
    double level_pct;
    double inlet_pct, outlet_pct;
    bool filling;
};

struct filler_model {
    enum filler_state state;
    double left_s; /* time left in the current timed state */
    double speed;
    double unit_frac;
    double good, reject;
    uint16_t fault_code;
    bool starved;
    double next_changeover;
};

struct sim_model {
    bool bench;
    struct pump_state pump;
    struct tank_state tank;
    double energy_kwh;
    struct filler_model filler;
    double pump_power_kw;
    double filler_power_kw;
};

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Moves v towards target by at most rate * dt. */
static double ramp(double v, double target, double rate, double dt)
{
    double step = rate * dt;
    if (v < target) return v + step < target ? v + step : target;
    return v - step > target ? v - step : target;
}

/* First-order lag of v towards target with time constant tau. */
static double lag(double v, double target, double tau_s, double dt)
{
    double a = dt / tau_s;
    return v + (target - v) * (a > 1 ? 1 : a);
}

static double wave(double t, double period_s, double phase)
{
    return sin(TWO_PI * t / period_s + phase);
}

static void pump_step(struct sim_model *m, struct sim_device *d, double t, double dt)
{
    struct pump_state *s = &m->pump;
    double *v = d->vars;
    double n_current = sim_rng_normal(&d->rng), n_vib = sim_rng_normal(&d->rng);
    double n_press = sim_rng_normal(&d->rng), n_flow = sim_rng_normal(&d->rng);
    double n_speed = sim_rng_normal(&d->rng);

    bool enable = v[PUMP_RUN_ENABLE] >= 0.5;
    if (enable && !s->last_enable) s->tripped = false; /* cycling the enable resets a trip */
    s->last_enable = enable;
    if (!d->fault_active[SIM_FAULT_BEARING_WEAR]) s->tripped = false; /* bearing replaced */
    double phase = fmod(t, PUMP_CYCLE_S);
    bool scheduled_stop = phase >= PUMP_STOP_FROM_S && phase < PUMP_STOP_UNTIL_S;
    bool running = enable && !s->tripped && !scheduled_stop;

    double demand = clampd(0.78 + 0.14 * wave(t, 600, 0) + 0.05 * wave(t, 97, 1.0), 0.4, 1.0);
    s->speed_frac = ramp(s->speed_frac, running ? demand : 0, PUMP_RAMP_PER_S, dt);
    s->flow_m3h = lag(s->flow_m3h, PUMP_RATED_FLOW_M3H * s->speed_frac, PUMP_FLOW_TAU_S, dt);
    double q = s->flow_m3h / PUMP_RATED_FLOW_M3H;
    double pressure_bar = PUMP_STATIC_BAR + 3.7 * q * q;
    double hydraulic_kw = s->flow_m3h / 3600.0 * pressure_bar * 100.0;
    bool turning = s->speed_frac > 0.01;
    double power_kw = turning ? hydraulic_kw / 0.72 / 0.93 + 0.6 : 0;
    double active_a = power_kw * 1000.0 / (SQRT3 * LINE_VOLTAGE_V);
    double magnetising_a = 14.0 * s->speed_frac;
    double current_a = turning ? sqrt(active_a * active_a + magnetising_a * magnetising_a) : 0;
    double load = power_kw / 23.0;

    double wear_mm_s =
        fmin(PUMP_WEAR_MM_S_PER_S * d->fault_elapsed_s[SIM_FAULT_BEARING_WEAR], PUMP_WEAR_MAX_MM_S);
    double vibration = turning ? 1.1 + 1.4 * s->speed_frac * s->speed_frac +
                                     wear_mm_s * s->speed_frac + 0.08 * n_vib
                               : 0.04 + 0.01 * fabs(n_vib);
    double heat = PUMP_WEAR_HEAT_DEGC_PER_MM_S * wear_mm_s * s->speed_frac;
    s->bearing_degc =
        lag(s->bearing_degc, PUMP_AMBIENT_DEGC + 36.0 * load + heat, PUMP_BEARING_TAU_S, dt);
    if (vibration > PUMP_TRIP_MM_S) s->tripped = true;
    if (running) s->run_time_s += dt;
    m->pump_power_kw = power_kw;

    v[PUMP_CURRENT] = turning ? fmax(0, current_a + 0.15 * n_current) : 0;
    v[PUMP_VIBRATION] = fmax(0, vibration);
    v[PUMP_BEARING_TEMP] = s->bearing_degc;
    v[PUMP_PRESSURE] = fmax(0, pressure_bar + 0.02 * n_press);
    v[PUMP_FLOW] = turning ? fmax(0, s->flow_m3h + 0.4 * n_flow) : 0;
    v[PUMP_SPEED] = turning ? PUMP_RATED_RPM * s->speed_frac + 2.0 * n_speed : 0;
    v[PUMP_RUN_TIME] = floor(s->run_time_s);
    v[PUMP_POWER] = power_kw;
    v[PUMP_VIB_ALARM] = vibration > 4.5;
    v[PUMP_TEMP_ALARM] = s->bearing_degc > 80;
    v[PUMP_TRIPPED] = s->tripped;
    v[PUMP_RUNNING] = running;
    v[PUMP_LOCAL_MODE] = 0;
    v[PUMP_OVERTEMP] = s->bearing_degc > 90;
}

static void tank_step(struct sim_model *m, struct sim_device *d, double t, double dt)
{
    struct tank_state *s = &m->tank;
    double *v = d->vars;
    double n_level = sim_rng_normal(&d->rng), n_in = sim_rng_normal(&d->rng);
    double n_out = sim_rng_normal(&d->rng);

    if (s->level_pct <= v[TANK_LOW_SP]) s->filling = true;
    if (s->level_pct >= v[TANK_HIGH_SP]) s->filling = false;
    bool outlet_open = fmod(t, TANK_OUTLET_CYCLE_S) < TANK_OUTLET_OPEN_S;
    s->inlet_pct = ramp(s->inlet_pct, s->filling ? 100 : 0, TANK_VALVE_RATE_PCT_S, dt);
    s->outlet_pct = ramp(s->outlet_pct, outlet_open ? 100 : 0, TANK_VALVE_RATE_PCT_S, dt);
    double inflow = TANK_INFLOW_MAX_M3H * s->inlet_pct / 100.0;
    double outflow =
        TANK_OUTFLOW_MAX_M3H * s->outlet_pct / 100.0 * sqrt(fmax(s->level_pct, 0) / 100.0);
    double delta_m3 = (inflow - outflow) / 3600.0 * dt;
    s->level_pct = clampd(s->level_pct + delta_m3 / TANK_VOLUME_M3 * 100.0, 0, 100);

    v[TANK_LEVEL] = clampd(s->level_pct + 0.05 * n_level, 0, 100);
    v[TANK_VOLUME] = s->level_pct * TANK_VOLUME_M3 * 10.0; /* litres */
    v[TANK_INLET_POS] = s->inlet_pct;
    v[TANK_OUTLET_POS] = s->outlet_pct;
    v[TANK_INFLOW] = inflow > 0 ? fmax(0, inflow + 0.1 * n_in) : 0;
    v[TANK_OUTFLOW] = outflow > 0 ? fmax(0, outflow + 0.1 * n_out) : 0;
    v[TANK_INLET_OPEN] = s->filling;
    v[TANK_OUTLET_OPEN] = outlet_open;
    v[TANK_HIGH_SWITCH] = s->level_pct >= 95;
    v[TANK_LOW_SWITCH] = s->level_pct <= 5;
}

static double filler_power_kw(const struct filler_model *s)
{
    switch (s->state) {
    case FILLER_RUNNING:
        return 5.0 + 0.025 * s->speed;
    case FILLER_IDLE:
        return 2.2;
    case FILLER_CHANGEOVER:
        return 1.5;
    default:
        return 0.8;
    }
}

/* Leaves the current timed state for the next one. */
static void filler_transition(struct filler_model *s, struct sim_rng *rng)
{
    static const uint16_t fault_codes[] = {101, 204, 305, 412};
    if (s->state != FILLER_RUNNING) {
        s->state = FILLER_RUNNING;
        s->left_s = 120 + 240 * sim_rng_uniform(rng);
        s->fault_code = 0;
        return;
    }
    if (sim_rng_uniform(rng) < 0.25) {
        s->state = FILLER_FAULT;
        s->left_s = 30 + 60 * sim_rng_uniform(rng);
        s->fault_code = fault_codes[sim_rng_next(rng) % 4];
    } else {
        s->state = FILLER_IDLE;
        s->left_s = 8 + 32 * sim_rng_uniform(rng);
        s->starved = sim_rng_uniform(rng) < 0.6;
    }
}

/* Counts the units made during one step of running at the current speed. */
static void filler_produce(struct filler_model *s, struct sim_rng *rng, double dt)
{
    s->unit_frac += s->speed / 60.0 * dt;
    while (s->unit_frac >= 1.0) {
        s->unit_frac -= 1.0;
        if (sim_rng_uniform(rng) < FILLER_REJECT_PROBABILITY)
            s->reject += 1;
        else
            s->good += 1;
    }
    if (s->good >= s->next_changeover) {
        s->next_changeover += FILLER_CHANGEOVER_UNITS;
        s->state = FILLER_CHANGEOVER;
        s->left_s = 90;
    }
}

static void filler_step(struct sim_model *m, struct sim_device *d, double dt)
{
    struct filler_model *s = &m->filler;
    double *v = d->vars;
    double n_speed = sim_rng_normal(&d->rng);

    if (v[FILLER_STOP_REQUEST] >= 0.5) {
        s->state = FILLER_STOPPED;
        s->left_s = 5; /* restarts 5 s after the request is released */
        s->fault_code = 0;
    } else if (dt > 0) {
        if (s->state == FILLER_RUNNING) filler_produce(s, &d->rng, dt);
        s->left_s -= dt;
        if (s->left_s <= 0) filler_transition(s, &d->rng);
    }
    bool running = s->state == FILLER_RUNNING;
    s->speed =
        lag(s->speed, running ? clampd(v[FILLER_SPEED_SP], 0, 200) : 0, FILLER_SPEED_TAU_S, dt);
    if (s->speed < 0.05) s->speed = 0;
    m->filler_power_kw = filler_power_kw(s);

    v[FILLER_STATE] = s->state;
    v[FILLER_GUARD_CLOSED] = !(s->state == FILLER_FAULT && s->fault_code == 305);
    v[FILLER_PRODUCT_LOW] = s->state == FILLER_IDLE && s->starved;
    v[FILLER_GOOD] = s->good;
    v[FILLER_REJECT] = s->reject;
    v[FILLER_SPEED] = running ? fmax(0, s->speed + 0.4 * n_speed) : s->speed;
    v[FILLER_FAULT_CODE] = s->fault_code;
    v[FILLER_INFEED_PRESENT] = !(s->state == FILLER_IDLE && s->starved);
    v[FILLER_OUTFEED_BLOCKED] = s->state == FILLER_IDLE && !s->starved;
}

static void meter_step(struct sim_model *m, struct sim_device *d, double t, double dt)
{
    double *v = d->vars;
    double n_p = sim_rng_normal(&d->rng), n_v = sim_rng_normal(&d->rng);
    double n_pf = sim_rng_normal(&d->rng), n_f = sim_rng_normal(&d->rng);

    double base_kw = 18.0 + 4.0 * wave(t, 3600, 0) + 1.5 * wave(t, 420, 2.0);
    double power_kw = fmax(0, base_kw + m->pump_power_kw + m->filler_power_kw + 0.3 * n_p);
    double voltage = LINE_VOLTAGE_V + 3.0 * wave(t, 1800, 0.5) + 0.4 * n_v;
    double pf = clampd(0.91 + 0.03 * wave(t, 900, 0) + 0.002 * n_pf, 0.5, 1.0);
    m->energy_kwh += power_kw * dt / 3600.0;

    v[METER_VOLTAGE] = voltage;
    v[METER_CURRENT] = power_kw * 1000.0 / (SQRT3 * voltage * pf);
    v[METER_POWER] = power_kw;
    v[METER_PF] = pf;
    v[METER_FREQUENCY] = 50.0 + 0.03 * wave(t, 240, 0) + 0.004 * n_f;
    v[METER_ENERGY_KWH] = m->energy_kwh;
    v[METER_ENERGY_WH] = floor(m->energy_kwh * 1000.0);
    v[METER_REACTIVE] = power_kw * tan(acos(pf));
}

static void transmitter_step(struct sim_device *d, double process_degc, double noise_degc)
{
    double *v = d->vars;
    double n = sim_rng_normal(&d->rng);
    double drift = TT_DRIFT_DEGC_PER_S * d->fault_elapsed_s[SIM_FAULT_DRIFT];
    double reading = process_degc + noise_degc * n + drift;
    v[TT_TEMPERATURE] = reading;
    v[TT_SENSOR_FAULT] = 0;
    v[TT_OUT_OF_RANGE] = reading < -50 || reading > 150;
    v[TT_RESISTANCE] = 100.0 * (1 + 0.00385 * reading);
}

/* Copies setpoints from registers into vars before a step. */
static void read_setpoints(struct sim_device *d)
{
    for (size_t i = 0; i < d->def->point_count; i++) {
        const struct sim_point_def *pt = &d->def->points[i];
        if (pt->role == SIM_ROLE_SETPOINT) d->vars[pt->var] = sim_point_load(d, pt);
    }
}

/* Writes measured vars into registers after a step. */
static void publish(struct sim_device *d)
{
    for (size_t i = 0; i < d->def->point_count; i++) {
        const struct sim_point_def *pt = &d->def->points[i];
        if (pt->role == SIM_ROLE_MEASURED) sim_point_store(d, pt, d->vars[pt->var]);
    }
}

static void step_plant(struct sim_plant *p, double dt)
{
    struct sim_model *m = p->model;
    double t = sim_plant_time_s(p);
    for (size_t i = 0; i < SIM_PLANT_DEVICE_COUNT; i++)
        read_setpoints(&p->devices[i]);
    pump_step(m, &p->devices[SIM_DEV_PUMP], t, dt);
    tank_step(m, &p->devices[SIM_DEV_TANK], t, dt);
    filler_step(m, &p->devices[SIM_DEV_FILLER], dt);
    meter_step(m, &p->devices[SIM_DEV_METER], t, dt); /* after pump and filler: their load */
    transmitter_step(&p->devices[SIM_DEV_TT101],
                     62.0 + 6.0 * wave(t, 1200, 0) + 1.5 * wave(t, 173, 0.3), 0.08);
    transmitter_step(&p->devices[SIM_DEV_TT102], 7.0 + 0.6 * wave(t, 300, 0), 0.03);
    for (size_t i = 0; i < SIM_PLANT_DEVICE_COUNT; i++)
        publish(&p->devices[i]);
}

/* Bench devices: register i of every device holds (step + i) mod 65536. */
static void step_bench(struct sim_plant *p)
{
    for (size_t i = 0; i < p->device_count; i++) {
        struct sim_device *d = &p->devices[i];
        for (size_t b = 0; b < d->block_count; b++) {
            struct sim_block *blk = &d->blocks[b];
            uint16_t base = (uint16_t)(p->steps + blk->start);
            for (uint32_t r = 0; r < blk->count; r++)
                blk->values[r] = (uint16_t)(base + r);
        }
    }
}

/* Writes constants and initial setpoints once. */
static void write_initial(struct sim_device *d)
{
    for (size_t i = 0; i < d->def->point_count; i++) {
        const struct sim_point_def *pt = &d->def->points[i];
        if (pt->role == SIM_ROLE_MEASURED) continue;
        if (pt->type == MB_TYPE_STRING)
            sim_point_store_text(d, pt, pt->text ? pt->text : "");
        else
            sim_point_store(d, pt, pt->initial);
    }
}

struct sim_model *sim_model_new(struct sim_plant *p)
{
    struct sim_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    p->model = m;
    m->bench = p->opt.bench_devices > 0;
    if (m->bench) {
        sim_faults_update(p, 0);
        step_bench(p);
        return m;
    }
    m->pump.bearing_degc = PUMP_AMBIENT_DEGC;
    m->pump.last_enable = true;
    m->tank.level_pct = 55.0;
    m->energy_kwh = METER_START_KWH;
    m->filler.state = FILLER_STOPPED;
    m->filler.left_s = 10;
    m->filler.next_changeover = FILLER_CHANGEOVER_UNITS;
    for (size_t i = 0; i < p->device_count; i++)
        write_initial(&p->devices[i]);
    sim_faults_update(p, 0);
    step_plant(p, 0); /* the values at time 0 */
    return m;
}

void sim_model_free(struct sim_model *m)
{
    free(m);
}

void sim_model_step(struct sim_plant *p)
{
    double dt = p->opt.step_ms / 1000.0;
    p->steps++;
    sim_faults_update(p, dt);
    if (p->model->bench)
        step_bench(p);
    else
        step_plant(p, dt);
}
