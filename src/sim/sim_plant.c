/* The simulator's public API (sim.h): building the plant or bench devices
 * from options, starting and stopping the server, fault switches, and
 * thread-safe reads of what is served (for tests and tools). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

void sim_options_init(struct sim_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->host = "127.0.0.1";
    opt->port_base = SIM_DEFAULT_PORT_BASE;
    opt->seed = 1;
    opt->step_ms = SIM_DEFAULT_STEP_MS;
}

static bool validate_options(const struct sim_options *opt, char *err, size_t err_len)
{
    const char *host = opt->host ? opt->host : "127.0.0.1";
    if (strlen(host) >= sizeof((struct sim_plant *)0)->host) {
        snprintf(err, err_len, "listen address '%s' is too long", host);
        return false;
    }
    if (opt->step_ms < 1 || opt->step_ms > 60000) {
        snprintf(err, err_len, "time step %u ms is outside 1..60000", opt->step_ms);
        return false;
    }
    if (opt->bench_devices > SIM_MAX_BENCH_DEVICES) {
        snprintf(err, err_len, "%u bench devices: at most %u", opt->bench_devices,
                 SIM_MAX_BENCH_DEVICES);
        return false;
    }
    if (opt->bench_devices && (opt->bench_registers < 1 || opt->bench_registers > 65535)) {
        snprintf(err, err_len, "bench registers must be 1..65535, got %u", opt->bench_registers);
        return false;
    }
    if (!opt->bench_devices && opt->bench_registers) {
        snprintf(err, err_len, "bench registers given without bench devices");
        return false;
    }
    size_t count = opt->bench_devices ? opt->bench_devices : SIM_PLANT_DEVICE_COUNT;
    if (!opt->model_only && (opt->port_base == 0 || opt->port_base + count - 1 > 65535)) {
        snprintf(err, err_len, "ports %u..%zu do not fit 1..65535", opt->port_base,
                 opt->port_base + count - 1);
        return false;
    }
    if (opt->fault_count > SIM_MAX_FAULTS) {
        snprintf(err, err_len, "%zu faults: at most %d", opt->fault_count, SIM_MAX_FAULTS);
        return false;
    }
    return true;
}

static bool init_device(struct sim_plant *p, size_t i, char *err, size_t err_len)
{
    struct sim_device *d = &p->devices[i];
    d->port = (uint16_t)(p->opt.port_base + i);
    d->unit_id = 1;
    d->listen_fd = -1;
    d->rng = sim_rng_stream(p->opt.seed, 1 + i);
    d->garbage_rng = sim_rng_stream(p->opt.seed, 100000 + i);
    bool ok;
    if (p->opt.bench_devices) {
        snprintf(d->name, sizeof d->name, "bench%04zu", i);
        snprintf(d->title, sizeof d->title,
                 "Benchmark device %zu: %u holding registers counting up", i,
                 p->opt.bench_registers);
        struct sim_block_def block = {MB_AREA_HOLDING, 0, p->opt.bench_registers};
        ok = sim_device_init_blocks(d, &block, 1);
    } else {
        d->def = &sim_plant_defs[i];
        snprintf(d->name, sizeof d->name, "%s", d->def->name);
        snprintf(d->title, sizeof d->title, "%s", d->def->title);
        ok = sim_device_init_blocks(d, d->def->blocks, d->def->block_count);
    }
    if (!ok) snprintf(err, err_len, "out of memory for device %zu's registers", i);
    snprintf(d->devid[0], sizeof d->devid[0], "airlock");
    snprintf(d->devid[1], sizeof d->devid[1], "SIM-%s", d->name);
    snprintf(d->devid[2], sizeof d->devid[2], "1.0");
    return ok;
}

/* Applies the --identity specs to their devices. */
static bool apply_identities(struct sim_plant *p, char *err, size_t err_len)
{
    for (size_t i = 0; i < p->opt.identity_count; i++) {
        const struct sim_identity_spec *s = &p->opt.identities[i];
        struct sim_device *d = sim_plant_device(p, s->device);
        if (!d) {
            snprintf(err, err_len, "identity for unknown device '%s'", s->device);
            return false;
        }
        d->devid_none = s->none;
        snprintf(d->devid[0], sizeof d->devid[0], "%s", s->vendor);
        snprintf(d->devid[1], sizeof d->devid[1], "%s", s->product);
        snprintf(d->devid[2], sizeof d->devid[2], "%s", s->revision);
    }
    return true;
}

/* Copies the text before the next comma (or the end) of *p into out;
 * false when it does not fit or is empty. */
static bool identity_part(const char **p, char *out, size_t len)
{
    size_t n = strcspn(*p, ",");
    if (n == 0 || n >= len) return false;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return true;
}

bool sim_identity_parse(const char *text, struct sim_identity_spec *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    const char *eq = strchr(text, '=');
    size_t name_len = eq ? (size_t)(eq - text) : 0;
    if (!eq || name_len == 0 || name_len >= sizeof out->device) {
        snprintf(err, err_len,
                 "expected DEVICE=VENDOR,PRODUCT,REVISION or DEVICE= (a device name of 1..%d "
                 "characters before '=')",
                 SIM_DEVICE_NAME_MAX - 1);
        return false;
    }
    memcpy(out->device, text, name_len);
    const char *p = eq + 1;
    if (*p == '\0') {
        out->none = true;
        return true;
    }
    char *parts[3] = {out->vendor, out->product, out->revision};
    static const char *const names[3] = {"VENDOR", "PRODUCT", "REVISION"};
    for (int i = 0; i < 3; i++) {
        if (!identity_part(&p, parts[i], SIM_IDENTITY_TEXT_MAX) || (i < 2 ? *p != ',' : *p)) {
            snprintf(err, err_len,
                     "expected DEVICE=VENDOR,PRODUCT,REVISION: %s missing, empty, longer than %d "
                     "characters or followed by more",
                     names[i], SIM_IDENTITY_TEXT_MAX - 1);
            return false;
        }
        if (*p == ',') p++;
    }
    return true;
}

static bool check_faults(struct sim_plant *p, char *err, size_t err_len)
{
    for (size_t i = 0; i < p->opt.fault_count; i++) {
        const struct sim_fault_spec *f = &p->opt.faults[i];
        struct sim_device *d = sim_plant_device(p, f->device);
        if (!d) {
            snprintf(err, err_len, "fault on unknown device '%s'", f->device);
            return false;
        }
        if (!sim_fault_supported(d, f->kind)) {
            snprintf(err, err_len,
                     "device '%s' does not support fault '%s' (bearing-wear: "
                     "pump; drift: tt101, tt102)",
                     f->device, sim_fault_kind_name(f->kind));
            return false;
        }
    }
    return true;
}

static void free_plant(struct sim_plant *p)
{
    sim_model_free(p->model);
    for (size_t i = 0; p->devices && i < p->device_count; i++)
        sim_device_free_blocks(&p->devices[i]);
    free(p->devices);
    pthread_cond_destroy(&p->synced);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

struct sim_plant *sim_start(const struct sim_options *opt, char *err, size_t err_len)
{
    if (!validate_options(opt, err, err_len)) return NULL;
    struct sim_plant *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    p->opt = *opt;
    snprintf(p->host, sizeof p->host, "%s", opt->host ? opt->host : "127.0.0.1");
    p->opt.host = p->host;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->synced, NULL);
    p->device_count = opt->bench_devices ? opt->bench_devices : SIM_PLANT_DEVICE_COUNT;
    p->devices = calloc(p->device_count, sizeof *p->devices);
    if (!p->devices) {
        snprintf(err, err_len, "out of memory");
        free_plant(p);
        return NULL;
    }
    for (size_t i = 0; i < p->device_count; i++) {
        if (!init_device(p, i, err, err_len)) {
            free_plant(p);
            return NULL;
        }
    }
    if (!check_faults(p, err, err_len) || !apply_identities(p, err, err_len)) {
        free_plant(p);
        return NULL;
    }
    if (!sim_model_new(p)) {
        snprintf(err, err_len, "out of memory");
        free_plant(p);
        return NULL;
    }
    if (!opt->model_only) {
        p->server = sim_server_start(p, err, err_len);
        if (!p->server) {
            free_plant(p);
            return NULL;
        }
    }
    return p;
}

bool sim_check_options(const struct sim_options *opt, char *err, size_t err_len)
{
    struct sim_options model = *opt;
    model.model_only = true;
    struct sim_plant *p = sim_start(&model, err, err_len);
    sim_stop(p);
    return p != NULL;
}

void sim_stop(struct sim_plant *p)
{
    if (!p) return;
    sim_server_stop(p->server);
    free_plant(p);
}

size_t sim_device_count(const struct sim_plant *p)
{
    return p->device_count;
}

bool sim_device_info(const struct sim_plant *p, size_t i, struct sim_device_info *out)
{
    if (i >= p->device_count) return false;
    const struct sim_device *d = &p->devices[i];
    *out = (struct sim_device_info){
        .name = d->name, .title = d->title, .port = d->port, .unit_id = d->unit_id};
    return true;
}

struct sim_device *sim_plant_device(struct sim_plant *p, const char *name)
{
    for (size_t i = 0; i < p->device_count; i++)
        if (strcmp(p->devices[i].name, name) == 0) return &p->devices[i];
    return NULL;
}

/* Removes the schedules of one device and kind. */
static void cancel_schedules(struct sim_plant *p, const char *device, enum sim_fault_kind kind)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->opt.fault_count; i++) {
        const struct sim_fault_spec *f = &p->opt.faults[i];
        if (f->kind == kind && strcmp(f->device, device) == 0) continue;
        p->opt.faults[kept++] = *f;
    }
    p->opt.fault_count = kept;
}

bool sim_set_fault(struct sim_plant *p, const char *device, const char *kind, bool on)
{
    enum sim_fault_kind k;
    if (!p || !sim_fault_kind_from_name(kind, &k)) return false;
    pthread_mutex_lock(&p->lock);
    struct sim_device *d = sim_plant_device(p, device);
    bool ok = d && sim_fault_supported(d, k);
    if (ok) {
        d->fault_manual[k] = on;
        if (!on) cancel_schedules(p, device, k);
        sim_faults_update(p, 0);
        sim_server_sync(p);
    }
    pthread_mutex_unlock(&p->lock);
    return ok;
}

bool sim_fault_active(struct sim_plant *p, const char *device, const char *kind)
{
    enum sim_fault_kind k;
    if (!p || !sim_fault_kind_from_name(kind, &k)) return false;
    pthread_mutex_lock(&p->lock);
    struct sim_device *d = sim_plant_device(p, device);
    bool active = d && d->fault_active[k];
    pthread_mutex_unlock(&p->lock);
    return active;
}

void sim_advance(struct sim_plant *p, uint32_t steps)
{
    pthread_mutex_lock(&p->lock);
    for (uint32_t i = 0; i < steps; i++)
        sim_model_step(p);
    sim_server_sync(p);
    pthread_mutex_unlock(&p->lock);
}

double sim_time_s(struct sim_plant *p)
{
    pthread_mutex_lock(&p->lock);
    double t = sim_plant_time_s(p);
    pthread_mutex_unlock(&p->lock);
    return t;
}

bool sim_read_registers(struct sim_plant *p, const char *device, enum mb_area area,
                        uint16_t address, uint16_t count, uint16_t *out)
{
    pthread_mutex_lock(&p->lock);
    struct sim_device *d = sim_plant_device(p, device);
    const uint16_t *span = d ? sim_device_span(d, area, address, count) : NULL;
    if (span) memcpy(out, span, count * sizeof *out);
    pthread_mutex_unlock(&p->lock);
    return span != NULL;
}

bool sim_read_value(struct sim_plant *p, const char *device, const char *point, double *out)
{
    pthread_mutex_lock(&p->lock);
    struct sim_device *d = sim_plant_device(p, device);
    const struct sim_point_def *pt = d ? sim_point_find(d->def, point) : NULL;
    bool ok = pt && pt->type != MB_TYPE_STRING;
    if (ok) *out = sim_point_load(d, pt);
    pthread_mutex_unlock(&p->lock);
    return ok;
}
