/* Fault injection: fault names, the DEVICE:KIND[@START_S[-END_S]] syntax,
 * which device supports which fault, and the per-step evaluation of manual
 * switches and schedules into each device's active set. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

static const char *const fault_names[SIM_FAULT_KIND_COUNT] = {
    [SIM_FAULT_BEARING_WEAR] = "bearing-wear", [SIM_FAULT_DRIFT] = "drift",
    [SIM_FAULT_OFFLINE] = "offline",           [SIM_FAULT_REFUSE] = "refuse",
    [SIM_FAULT_GARBAGE] = "garbage",           [SIM_FAULT_EXCEPTION] = "exception",
};

const char *sim_fault_kind_name(enum sim_fault_kind kind)
{
    return (unsigned)kind < SIM_FAULT_KIND_COUNT ? fault_names[kind] : "unknown";
}

bool sim_fault_kind_from_name(const char *name, enum sim_fault_kind *out)
{
    for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++) {
        if (strcmp(fault_names[k], name) == 0) {
            *out = (enum sim_fault_kind)k;
            return true;
        }
    }
    return false;
}

/* Parses a non-negative decimal number of seconds filling all of text. */
static bool parse_seconds(const char *text, double *out)
{
    if (!*text || *text == '-' || *text == '+') return false;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end || errno || !isfinite(v) || v < 0) return false;
    *out = v;
    return true;
}

static bool fail(char *err, size_t err_len, const char *spec, const char *what)
{
    snprintf(err, err_len, "bad fault '%s': %s (expected DEVICE:KIND[@START_S[-END_S]])", spec,
             what);
    return false;
}

static bool parse_window(const char *spec, const char *window, struct sim_fault_spec *out,
                         char *err, size_t err_len)
{
    char buf[64];
    if (strlen(window) >= sizeof buf) return fail(err, err_len, spec, "time window too long");
    strcpy(buf, window);
    char *dash = strchr(buf, '-');
    if (dash) *dash = '\0';
    if (!parse_seconds(buf, &out->start_s))
        return fail(err, err_len, spec, "START_S must be a number of seconds >= 0");
    if (dash) {
        if (!parse_seconds(dash + 1, &out->end_s))
            return fail(err, err_len, spec, "END_S must be a number of seconds >= 0");
        if (out->end_s <= out->start_s)
            return fail(err, err_len, spec, "END_S must be after START_S");
    }
    return true;
}

bool sim_fault_parse(const char *text, struct sim_fault_spec *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    out->end_s = -1;
    const char *colon = strchr(text, ':');
    if (!colon) return fail(err, err_len, text, "no ':' after the device name");
    size_t name_len = (size_t)(colon - text);
    if (name_len == 0 || name_len >= sizeof out->device)
        return fail(err, err_len, text, "device name must be 1..31 characters");
    for (size_t i = 0; i < name_len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return fail(err, err_len, text, "device name may hold only letters, digits, _ and -");
    }
    memcpy(out->device, text, name_len);
    const char *kind = colon + 1;
    const char *at = strchr(kind, '@');
    char kind_buf[32];
    size_t kind_len = at ? (size_t)(at - kind) : strlen(kind);
    if (kind_len == 0 || kind_len >= sizeof kind_buf)
        return fail(err, err_len, text, "missing or overlong fault kind");
    memcpy(kind_buf, kind, kind_len);
    kind_buf[kind_len] = '\0';
    if (!sim_fault_kind_from_name(kind_buf, &out->kind))
        return fail(err, err_len, text,
                    "unknown kind (bearing-wear, drift, offline, refuse, garbage, exception)");
    if (at) return parse_window(text, at + 1, out, err, err_len);
    return true;
}

bool sim_fault_supported(const struct sim_device *d, enum sim_fault_kind kind)
{
    switch (kind) {
    case SIM_FAULT_BEARING_WEAR:
        return d->def && d->def->supports_wear;
    case SIM_FAULT_DRIFT:
        return d->def && d->def->supports_drift;
    case SIM_FAULT_KIND_COUNT:
        return false;
    default:
        return true;
    }
}

static bool scheduled(const struct sim_plant *p, const char *device, int kind, double t)
{
    for (size_t i = 0; i < p->opt.fault_count; i++) {
        const struct sim_fault_spec *f = &p->opt.faults[i];
        if ((int)f->kind != kind || strcmp(f->device, device) != 0) continue;
        if (t >= f->start_s && (f->end_s < 0 || t < f->end_s)) return true;
    }
    return false;
}

void sim_faults_update(struct sim_plant *p, double dt_s)
{
    /* A small tolerance so that a window edge at a whole step counts from
     * that step despite binary rounding of steps * step_ms / 1000. */
    double t = sim_plant_time_s(p) + 1e-9;
    for (size_t i = 0; i < p->device_count; i++) {
        struct sim_device *d = &p->devices[i];
        for (int k = 0; k < SIM_FAULT_KIND_COUNT; k++) {
            bool was = d->fault_active[k];
            bool now = d->fault_manual[k] || scheduled(p, d->name, k, t);
            d->fault_active[k] = now;
            d->fault_elapsed_s[k] = !now ? 0 : was ? d->fault_elapsed_s[k] + dt_s : 0;
        }
    }
}
