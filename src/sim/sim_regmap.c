/* Register storage of a simulated device and typed access to it: a device
 * maps a few contiguous blocks per area; a point is encoded into (and decoded
 * from) its registers with its scaling, type and byte/word order, exactly as
 * a gateway configured with the same point would decode it. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

bool sim_device_init_blocks(struct sim_device *d, const struct sim_block_def *defs, size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += defs[i].count;
    d->blocks = calloc(count, sizeof *d->blocks);
    d->storage = calloc(total ? total : 1, sizeof *d->storage);
    if (!d->blocks || !d->storage) {
        sim_device_free_blocks(d);
        return false;
    }
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        d->blocks[i] = (struct sim_block){.area = defs[i].area,
                                          .start = defs[i].start,
                                          .count = defs[i].count,
                                          .values = d->storage + offset};
        offset += defs[i].count;
    }
    d->block_count = count;
    return true;
}

void sim_device_free_blocks(struct sim_device *d)
{
    free(d->blocks);
    free(d->storage);
    d->blocks = NULL;
    d->storage = NULL;
    d->block_count = 0;
}

uint16_t *sim_device_span(struct sim_device *d, enum mb_area area, uint32_t address, uint32_t count)
{
    for (size_t i = 0; i < d->block_count; i++) {
        struct sim_block *b = &d->blocks[i];
        if (b->area != area || address < b->start) continue;
        if ((uint64_t)address + count <= (uint64_t)b->start + b->count)
            return b->values + (address - b->start);
    }
    return NULL;
}

uint16_t sim_point_width(const struct sim_point_def *p)
{
    if (p->type == MB_TYPE_BOOL) return 1;
    if (p->type == MB_TYPE_STRING) return p->length;
    return mb_type_registers(p->type);
}

static bool word_swapped(enum sim_order o)
{
    return o == SIM_ORDER_CDAB || o == SIM_ORDER_DCBA;
}

static bool byte_swapped(enum sim_order o)
{
    return o == SIM_ORDER_BADC || o == SIM_ORDER_DCBA;
}

/* Numbers span at most four registers (64 bits). */
#define MAX_NUMBER_REGS 4u

/* Places a big-endian value of 2 * nregs bytes (nregs <= 4) into registers
 * in order o. */
static void put_ordered(uint16_t *regs, const uint8_t *be, unsigned nregs, enum sim_order o)
{
    if (nregs > MAX_NUMBER_REGS) nregs = MAX_NUMBER_REGS;
    for (unsigned i = 0; i < nregs; i++) {
        unsigned src = (word_swapped(o) ? nregs - 1 - i : i) % MAX_NUMBER_REGS;
        uint8_t hi = be[2 * src], lo = be[2 * src + 1];
        regs[i] = byte_swapped(o) ? (uint16_t)(lo << 8 | hi) : (uint16_t)(hi << 8 | lo);
    }
}

/* The inverse of put_ordered. */
static void get_ordered(const uint16_t *regs, uint8_t *be, unsigned nregs, enum sim_order o)
{
    if (nregs > MAX_NUMBER_REGS) nregs = MAX_NUMBER_REGS;
    for (unsigned i = 0; i < nregs; i++) {
        unsigned dst = (word_swapped(o) ? nregs - 1 - i : i) % MAX_NUMBER_REGS;
        uint16_t r = byte_swapped(o) ? (uint16_t)(regs[i] << 8 | regs[i] >> 8) : regs[i];
        be[2 * dst] = (uint8_t)(r >> 8);
        be[2 * dst + 1] = (uint8_t)r;
    }
}

static void u64_to_be(uint64_t v, uint8_t *be, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        be[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t be_to_u64(const uint8_t *be, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | be[i];
    return v;
}

static double gain_of(const struct sim_point_def *p)
{
    return p->scale.gain != 0 ? p->scale.gain : 1.0;
}

static double clamp(double v, double lo, double hi)
{
    if (!(v >= lo)) return lo; /* also NaN */
    return v > hi ? hi : v;
}

/* The raw integer bits for an integer type, after rounding and clamping. */
static uint64_t integer_bits(enum mb_type type, double raw)
{
    raw = nearbyint(raw);
    switch (type) {
    case MB_TYPE_INT16:
        return (uint16_t)(int16_t)clamp(raw, -32768.0, 32767.0);
    case MB_TYPE_UINT16:
        return (uint16_t)clamp(raw, 0, 65535.0);
    case MB_TYPE_INT32:
        return (uint32_t)(int32_t)clamp(raw, -2147483648.0, 2147483647.0);
    case MB_TYPE_UINT32:
        return (uint32_t)clamp(raw, 0, 4294967295.0);
    case MB_TYPE_INT64:
        return (uint64_t)(int64_t)clamp(raw, -9223372036854775808.0, 9223372036854774784.0);
    default:
        return (uint64_t)clamp(raw, 0, 18446744073709549568.0);
    }
}

void sim_point_store(struct sim_device *d, const struct sim_point_def *p, double eng)
{
    uint16_t width = sim_point_width(p);
    uint16_t *regs = sim_device_span(d, p->area, p->address, width);
    if (!regs || p->type == MB_TYPE_STRING) return;
    if (p->type == MB_TYPE_BOOL) {
        bool on = eng >= 0.5;
        if (p->area == MB_AREA_COIL || p->area == MB_AREA_DISCRETE_INPUT)
            regs[0] = on;
        else if (on)
            regs[0] |= (uint16_t)(1u << p->bit);
        else
            regs[0] &= (uint16_t) ~(1u << p->bit);
        return;
    }
    double raw = (eng - p->scale.offset) / gain_of(p);
    uint8_t be[8];
    if (p->type == MB_TYPE_FLOAT32) {
        float f = (float)clamp(raw, -FLT_MAX, FLT_MAX);
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        u64_to_be(bits, be, 4);
    } else if (p->type == MB_TYPE_FLOAT64) {
        uint64_t bits;
        memcpy(&bits, &raw, sizeof bits);
        u64_to_be(bits, be, 8);
    } else {
        u64_to_be(integer_bits(p->type, raw), be, 2u * width);
    }
    put_ordered(regs, be, width, width > 1 ? p->order : SIM_ORDER_ABCD);
}

void sim_point_store_text(struct sim_device *d, const struct sim_point_def *p, const char *text)
{
    uint16_t *regs = sim_device_span(d, p->area, p->address, p->length);
    if (!regs || p->type != MB_TYPE_STRING) return;
    size_t len = strlen(text);
    for (uint16_t i = 0; i < p->length; i++) {
        uint8_t hi = 2u * i < len ? (uint8_t)text[2u * i] : 0;
        uint8_t lo = 2u * i + 1 < len ? (uint8_t)text[2u * i + 1] : 0;
        regs[i] = (uint16_t)(hi << 8 | lo);
    }
}

static double signed_value(enum mb_type type, uint64_t bits)
{
    switch (type) {
    case MB_TYPE_INT16:
        return (int16_t)(uint16_t)bits;
    case MB_TYPE_INT32:
        return (int32_t)(uint32_t)bits;
    case MB_TYPE_INT64:
        return (double)(int64_t)bits;
    default:
        return (double)bits;
    }
}

double sim_point_load(struct sim_device *d, const struct sim_point_def *p)
{
    uint16_t width = sim_point_width(p);
    uint16_t *regs = sim_device_span(d, p->area, p->address, width);
    if (!regs || p->type == MB_TYPE_STRING) return NAN;
    if (p->type == MB_TYPE_BOOL) {
        if (p->area == MB_AREA_COIL || p->area == MB_AREA_DISCRETE_INPUT) return regs[0] != 0;
        return (regs[0] >> p->bit) & 1u;
    }
    uint8_t be[2 * MAX_NUMBER_REGS] = {0};
    if (width > MAX_NUMBER_REGS) return NAN;
    get_ordered(regs, be, width, width > 1 ? p->order : SIM_ORDER_ABCD);
    uint64_t bits = be_to_u64(be, 2u * width);
    double raw;
    if (p->type == MB_TYPE_FLOAT32) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        raw = f;
    } else if (p->type == MB_TYPE_FLOAT64) {
        memcpy(&raw, &bits, sizeof raw);
    } else {
        raw = signed_value(p->type, bits);
    }
    return raw * gain_of(p) + p->scale.offset;
}

const char *sim_order_name(enum sim_order o, enum mb_type type)
{
    bool wide = type == MB_TYPE_INT64 || type == MB_TYPE_UINT64 || type == MB_TYPE_FLOAT64;
    static const char *const names32[] = {"ABCD", "CDAB", "BADC", "DCBA"};
    static const char *const names64[] = {"ABCDEFGH", "GHEFCDAB", "BADCFEHG", "HGFEDCBA"};
    return wide ? names64[o] : names32[o];
}

const char *sim_area_name(enum mb_area a)
{
    static const char *const names[] = {"coil", "discrete_input", "holding", "input"};
    return names[a];
}

const char *sim_type_name(enum mb_type t)
{
    static const char *const names[] = {"bool",  "int16",  "uint16",  "int32",   "uint32",
                                        "int64", "uint64", "float32", "float64", "string"};
    return names[t];
}
