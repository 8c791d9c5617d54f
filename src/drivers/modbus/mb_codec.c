/* The Modbus value codec: registers and bits <-> raw wire values <-> tag
 * values. Pure and allocation-free; see mb_codec.h for the contracts.
 *
 * A multi-register value is handled as its big-endian (ABCD...) form: the
 * order's word_swap reverses the registers, its byte_swap swaps the two
 * bytes inside each register. gather_be()/scatter_be() do exactly that. */
#include "drivers/modbus/mb_codec.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"

/* 2^63 and 2^64 as doubles (exact), for range checks of float -> integer. */
#define TWO_POW_63 9223372036854775808.0
#define TWO_POW_64 18446744073709551616.0

static inline uint16_t swap_bytes16(uint16_t r)
{
    return (uint16_t)((r >> 8) | (r << 8));
}

/* The n-register value at regs as a big-endian number (n is 1, 2 or 4). */
static inline uint64_t gather_be(const uint16_t *regs, unsigned n, struct mb_order o)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t r = regs[o.word_swap ? n - 1 - i : i];
        v = (v << 16) | (o.byte_swap ? swap_bytes16(r) : r);
    }
    return v;
}

/* The inverse of gather_be: writes the low 16 * n bits of v to regs. */
static inline void scatter_be(uint64_t v, unsigned n, struct mb_order o, uint16_t *regs)
{
    for (unsigned i = n; i-- > 0;) {
        uint16_t word = (uint16_t)(v & 0xFFFFu);
        v >>= 16;
        regs[o.word_swap ? n - 1 - i : i] = o.byte_swap ? swap_bytes16(word) : word;
    }
}

/* Sign-extends the low `bits` bits of v (portable: no implementation-defined
 * unsigned -> signed conversion). */
static inline int64_t sign_extend(uint64_t v, unsigned bits)
{
    if (bits == 64) {
        int64_t s;
        memcpy(&s, &v, sizeof s);
        return s;
    }
    uint64_t sign = UINT64_C(1) << (bits - 1);
    if (v & sign) return -(int64_t)((~v & (sign - 1)) + 1);
    return (int64_t)v;
}

static bool is_bit_area(enum mb_area a)
{
    return a == MB_AREA_COIL || a == MB_AREA_DISCRETE_INPUT;
}

enum mb_raw_kind mb_raw_kind_of(enum mb_type t)
{
    switch (t) {
    case MB_TYPE_BOOL:
        return MB_RAW_BOOL;
    case MB_TYPE_INT16:
    case MB_TYPE_INT32:
    case MB_TYPE_INT64:
        return MB_RAW_INT;
    case MB_TYPE_UINT16:
    case MB_TYPE_UINT32:
    case MB_TYPE_UINT64:
        return MB_RAW_UINT;
    case MB_TYPE_FLOAT32:
    case MB_TYPE_FLOAT64:
        return MB_RAW_FLOAT;
    case MB_TYPE_STRING:
        return MB_RAW_STRING;
    }
    return MB_RAW_INT;
}

bool mb_point_decodable(const struct mb_point *p, char *why, size_t why_len)
{
    if ((unsigned)p->area > MB_AREA_INPUT) {
        errbuf_set(why, why_len, "unknown register area %d", (int)p->area);
        return false;
    }
    if ((unsigned)p->type > MB_TYPE_STRING) {
        errbuf_set(why, why_len, "unknown data type %d", (int)p->type);
        return false;
    }
    if (is_bit_area(p->area)) {
        if (p->type != MB_TYPE_BOOL) {
            errbuf_set(why, why_len, "a %s point must be bool, not %s", mb_area_name(p->area),
                       mb_type_name(p->type));
            return false;
        }
        if (p->bit != -1) {
            errbuf_set(why, why_len, "a %s point has no bit number (got %d)", mb_area_name(p->area),
                       p->bit);
            return false;
        }
        return true;
    }
    if (p->bit < -1 || p->bit > 15 || (p->bit != -1 && p->type != MB_TYPE_BOOL)) {
        errbuf_set(why, why_len, "bit %d is invalid for a %s point (bool only, 0..15)", p->bit,
                   mb_type_name(p->type));
        return false;
    }
    if (p->type == MB_TYPE_STRING && (p->length < 1 || p->length > MB_STRING_MAX_REGISTERS)) {
        errbuf_set(why, why_len, "string length %u registers is outside 1..%d", p->length,
                   MB_STRING_MAX_REGISTERS);
        return false;
    }
    return true;
}

/* Index of the first byte of s[0..len) that is not valid UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return i;
        }
        if (len - i <= need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return len;
}

static bool decode_string(const struct mb_point *p, const uint16_t *regs, struct mb_raw *out,
                          char *text, size_t text_len, char *why, size_t why_len)
{
    if (!text || text_len == 0) {
        errbuf_set(why, why_len, "no text buffer for a string");
        return false;
    }
    size_t n = 0;
    bool ended = false;
    for (unsigned r = 0; r < p->length && !ended; r++) {
        uint16_t word = p->order.byte_swap ? swap_bytes16(regs[r]) : regs[r];
        unsigned char pair[2] = {(unsigned char)(word >> 8), (unsigned char)(word & 0xFF)};
        for (int k = 0; k < 2; k++) {
            if (pair[k] == 0) {
                ended = true;
                break;
            }
            if (n + 1 >= text_len) {
                errbuf_set(why, why_len, "string does not fit the %zu-byte text buffer", text_len);
                return false;
            }
            text[n++] = (char)pair[k];
        }
    }
    while (n > 0 && text[n - 1] == ' ')
        n--;
    text[n] = '\0';
    size_t bad = utf8_invalid_at((const unsigned char *)text, n);
    if (bad < n) {
        errbuf_set(why, why_len, "string is not valid UTF-8 (byte %zu is 0x%02X)", bad,
                   (unsigned char)text[bad]);
        return false;
    }
    out->kind = MB_RAW_STRING;
    out->as.str.ptr = text;
    out->as.str.len = (uint32_t)n;
    return true;
}

static void decode_bool_register(const struct mb_point *p, uint16_t reg, struct mb_raw *out)
{
    uint16_t word = p->order.byte_swap ? swap_bytes16(reg) : reg;
    out->kind = MB_RAW_BOOL;
    out->as.b = p->bit < 0 ? word != 0 : ((word >> p->bit) & 1u) != 0;
}

/* Decodes a numeric point; n is its register count (1, 2 or 4). */
static void decode_number(const struct mb_point *p, const uint16_t *regs, unsigned n,
                          struct mb_raw *out)
{
    uint64_t v = gather_be(regs, n, p->order);
    switch (p->type) {
    case MB_TYPE_INT16:
    case MB_TYPE_INT32:
    case MB_TYPE_INT64:
        out->kind = MB_RAW_INT;
        out->as.i = sign_extend(v, 16 * n);
        return;
    case MB_TYPE_FLOAT32: {
        uint32_t bits32 = (uint32_t)v;
        float f;
        memcpy(&f, &bits32, sizeof f);
        out->kind = MB_RAW_FLOAT;
        out->as.f = f;
        return;
    }
    case MB_TYPE_FLOAT64:
        out->kind = MB_RAW_FLOAT;
        memcpy(&out->as.f, &v, sizeof out->as.f);
        return;
    default: /* the unsigned types */
        out->kind = MB_RAW_UINT;
        out->as.u = v;
        return;
    }
}

/* Decodes a register point assuming regs holds its whole width. Checks only
 * what would otherwise be undefined behaviour (type, bit range). */
static bool decode_registers_trusted(const struct mb_point *p, const uint16_t *regs,
                                     struct mb_raw *out, char *text, size_t text_len, char *why,
                                     size_t why_len)
{
    unsigned n = mb_type_registers(p->type);
    if (n) {
        decode_number(p, regs, n, out);
        return true;
    }
    if (p->type == MB_TYPE_BOOL && p->bit >= -1 && p->bit <= 15) {
        decode_bool_register(p, regs[0], out);
        return true;
    }
    if (p->type == MB_TYPE_STRING) return decode_string(p, regs, out, text, text_len, why, why_len);
    errbuf_set(why, why_len, "point of type %d bit %d cannot be decoded", (int)p->type, p->bit);
    return false;
}

/* Width in registers of a register-area point the codec accepts. */
static size_t register_width(const struct mb_point *p)
{
    unsigned n = mb_type_registers(p->type);
    if (n) return n;
    return p->type == MB_TYPE_STRING ? p->length : 1;
}

bool mb_decode_registers(const struct mb_point *p, const uint16_t *regs, size_t nregs,
                         struct mb_raw *out, char *text, size_t text_len, char *why, size_t why_len)
{
    if (!mb_point_decodable(p, why, why_len)) return false;
    if (is_bit_area(p->area)) {
        errbuf_set(why, why_len, "a %s point is not made of registers", mb_area_name(p->area));
        return false;
    }
    size_t width = register_width(p);
    if (!regs || nregs < width) {
        errbuf_set(why, why_len, "%s needs %zu registers, only %zu given", mb_type_name(p->type),
                   width, regs ? nregs : 0);
        return false;
    }
    return decode_registers_trusted(p, regs, out, text, text_len, why, why_len);
}

bool mb_decode_bits(const struct mb_point *p, const uint8_t *bits, size_t nbits, struct mb_raw *out,
                    char *why, size_t why_len)
{
    if (!mb_point_decodable(p, why, why_len)) return false;
    if (!is_bit_area(p->area)) {
        errbuf_set(why, why_len, "a %s point is not a bit", mb_area_name(p->area));
        return false;
    }
    if (!bits || nbits < 1) {
        errbuf_set(why, why_len, "no bit given");
        return false;
    }
    out->kind = MB_RAW_BOOL;
    out->as.b = bits[0] != 0;
    return true;
}

/* ---- raw -> tag value ---- */

static void zero_value(enum value_type t, struct value *out)
{
    memset(out, 0, sizeof *out);
    out->type = t;
    if (t == VALUE_STRING) out->as.str.ptr = "";
}

static bool scaling_is_identity(const struct scaling *s)
{
    return s->gain == 1.0 && s->offset == 0.0;
}

static double raw_as_double(const struct mb_raw *raw)
{
    switch (raw->kind) {
    case MB_RAW_BOOL:
        return raw->as.b ? 1.0 : 0.0;
    case MB_RAW_INT:
        return (double)raw->as.i;
    case MB_RAW_UINT:
        return (double)raw->as.u;
    case MB_RAW_FLOAT:
        return raw->as.f;
    default:
        return NAN;
    }
}

/* A double (a float raw or a scaled value) into the tag's type. */
static quality_t double_to_tag(double d, enum value_type t, struct value *out)
{
    zero_value(t, out);
    switch (t) {
    case VALUE_DOUBLE:
        out->as.f64 = d;
        return isfinite(d) ? QUALITY_GOOD : QUALITY_BAD_OUT_OF_RANGE;
    case VALUE_BOOL:
        out->as.b = !isnan(d) && d != 0.0;
        return isnan(d) ? QUALITY_BAD_OUT_OF_RANGE : QUALITY_GOOD;
    case VALUE_INT64: {
        if (isnan(d)) return QUALITY_BAD_OUT_OF_RANGE;
        double r = round(d);
        if (r >= TWO_POW_63)
            out->as.i64 = INT64_MAX;
        else if (r < -TWO_POW_63)
            out->as.i64 = INT64_MIN;
        else {
            out->as.i64 = (int64_t)r;
            return QUALITY_GOOD;
        }
        return QUALITY_BAD_OUT_OF_RANGE;
    }
    case VALUE_UINT64: {
        if (isnan(d)) return QUALITY_BAD_OUT_OF_RANGE;
        double r = round(d);
        if (r >= TWO_POW_64)
            out->as.u64 = UINT64_MAX;
        else if (r < 0.0)
            out->as.u64 = 0;
        else {
            out->as.u64 = (uint64_t)r;
            return QUALITY_GOOD;
        }
        return QUALITY_BAD_OUT_OF_RANGE;
    }
    default:
        return QUALITY_BAD_CONFIGURATION_ERROR; /* a string tag */
    }
}

static quality_t int_to_tag(int64_t i, enum value_type t, struct value *out)
{
    zero_value(t, out);
    switch (t) {
    case VALUE_INT64:
        out->as.i64 = i;
        return QUALITY_GOOD;
    case VALUE_UINT64:
        if (i < 0) return QUALITY_BAD_OUT_OF_RANGE; /* clamped to 0 */
        out->as.u64 = (uint64_t)i;
        return QUALITY_GOOD;
    case VALUE_DOUBLE:
        out->as.f64 = (double)i;
        return QUALITY_GOOD;
    case VALUE_BOOL:
        out->as.b = i != 0;
        return QUALITY_GOOD;
    default:
        return QUALITY_BAD_CONFIGURATION_ERROR;
    }
}

static quality_t uint_to_tag(uint64_t u, enum value_type t, struct value *out)
{
    zero_value(t, out);
    switch (t) {
    case VALUE_UINT64:
        out->as.u64 = u;
        return QUALITY_GOOD;
    case VALUE_INT64:
        if (u > (uint64_t)INT64_MAX) {
            out->as.i64 = INT64_MAX;
            return QUALITY_BAD_OUT_OF_RANGE;
        }
        out->as.i64 = (int64_t)u;
        return QUALITY_GOOD;
    case VALUE_DOUBLE:
        out->as.f64 = (double)u;
        return QUALITY_GOOD;
    case VALUE_BOOL:
        out->as.b = u != 0;
        return QUALITY_GOOD;
    default:
        return QUALITY_BAD_CONFIGURATION_ERROR;
    }
}

quality_t mb_raw_to_value(const struct mb_raw *raw, const struct tag *tag, struct value *out)
{
    enum value_type t = tag->type;
    if (raw->kind == MB_RAW_STRING || t == VALUE_STRING) {
        zero_value(t, out);
        if (raw->kind != MB_RAW_STRING || t != VALUE_STRING) return QUALITY_BAD_CONFIGURATION_ERROR;
        out->as.str.ptr = raw->as.str.ptr;
        out->as.str.len = raw->as.str.len;
        return QUALITY_GOOD;
    }
    if (!scaling_is_identity(&tag->scale))
        return double_to_tag(scaling_apply(&tag->scale, raw_as_double(raw)), t, out);
    switch (raw->kind) {
    case MB_RAW_BOOL:
        return uint_to_tag(raw->as.b ? 1u : 0u, t, out);
    case MB_RAW_INT:
        return int_to_tag(raw->as.i, t, out);
    case MB_RAW_UINT:
        return uint_to_tag(raw->as.u, t, out);
    case MB_RAW_FLOAT:
        return double_to_tag(raw->as.f, t, out);
    default:
        zero_value(t, out);
        return QUALITY_BAD_INTERNAL_ERROR;
    }
}

quality_t mb_decode_point(const struct mb_point *p, const struct tag *tag, const uint16_t *regs,
                          const uint8_t *bits, size_t offset, struct value *out, char *text,
                          size_t text_len)
{
    struct mb_raw raw;
    bool ok;
    if (is_bit_area(p->area)) {
        ok = bits && p->type == MB_TYPE_BOOL;
        raw.kind = MB_RAW_BOOL;
        raw.as.b = ok && bits[offset] != 0;
    } else {
        ok = regs && (unsigned)p->area <= MB_AREA_INPUT &&
             decode_registers_trusted(p, regs + offset, &raw, text, text_len, NULL, 0);
    }
    if (!ok) {
        zero_value(tag->type, out);
        return QUALITY_BAD_DECODING_ERROR;
    }
    return mb_raw_to_value(&raw, tag, out);
}

/* ---- encoding ---- */

/* The integer raw as the low bits of a two's complement word, checked
 * against [min, max]. */
static bool integer_bits(const struct mb_point *p, const struct mb_raw *raw, int64_t min,
                         uint64_t max, uint64_t *bits_out, char *why, size_t why_len)
{
    switch (raw->kind) {
    case MB_RAW_BOOL:
        *bits_out = raw->as.b ? 1u : 0u;
        return true;
    case MB_RAW_INT:
        if (raw->as.i >= min && (raw->as.i < 0 || (uint64_t)raw->as.i <= max)) {
            *bits_out = (uint64_t)raw->as.i;
            return true;
        }
        errbuf_set(why, why_len, "%lld does not fit %s", (long long)raw->as.i,
                   mb_type_name(p->type));
        return false;
    case MB_RAW_UINT:
        if (raw->as.u <= max) {
            *bits_out = raw->as.u;
            return true;
        }
        errbuf_set(why, why_len, "%llu does not fit %s", (unsigned long long)raw->as.u,
                   mb_type_name(p->type));
        return false;
    default:
        errbuf_set(why, why_len, "%s needs an integer value", mb_type_name(p->type));
        return false;
    }
}

static bool encode_integer(const struct mb_point *p, const struct mb_raw *raw, unsigned n,
                           uint16_t *regs, char *why, size_t why_len)
{
    bool is_signed = mb_raw_kind_of(p->type) == MB_RAW_INT;
    unsigned bits = 16 * n;
    uint64_t max = bits == 64 ? (is_signed ? (uint64_t)INT64_MAX : UINT64_MAX)
                              : (UINT64_C(1) << (is_signed ? bits - 1 : bits)) - 1;
    int64_t min = !is_signed ? 0 : bits == 64 ? INT64_MIN : -(int64_t)(UINT64_C(1) << (bits - 1));
    uint64_t v;
    if (!integer_bits(p, raw, min, max, &v, why, why_len)) return false;
    scatter_be(v, n, p->order, regs);
    return true;
}

static bool encode_float(const struct mb_point *p, const struct mb_raw *raw, uint16_t *regs,
                         char *why, size_t why_len)
{
    if (raw->kind != MB_RAW_FLOAT && raw->kind != MB_RAW_INT && raw->kind != MB_RAW_UINT) {
        errbuf_set(why, why_len, "%s needs a number", mb_type_name(p->type));
        return false;
    }
    double d = raw_as_double(raw);
    if (p->type == MB_TYPE_FLOAT64) {
        uint64_t v;
        memcpy(&v, &d, sizeof v);
        scatter_be(v, 4, p->order, regs);
        return true;
    }
    if (isfinite(d) && fabs(d) > FLT_MAX) {
        errbuf_set(why, why_len, "%g is beyond float32's range", d);
        return false;
    }
    float f = (float)d;
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    scatter_be(v, 2, p->order, regs);
    return true;
}

static bool encode_string(const struct mb_point *p, const struct mb_raw *raw, uint16_t *regs,
                          char *why, size_t why_len)
{
    if (raw->kind != MB_RAW_STRING) {
        errbuf_set(why, why_len, "string point needs a string value");
        return false;
    }
    size_t room = 2u * p->length;
    if (raw->as.str.len > room) {
        errbuf_set(why, why_len, "string of %u bytes does not fit %u registers", raw->as.str.len,
                   p->length);
        return false;
    }
    const unsigned char *s = (const unsigned char *)raw->as.str.ptr;
    for (size_t r = 0; r < p->length; r++) {
        unsigned hi = 2 * r < raw->as.str.len ? s[2 * r] : 0;
        unsigned lo = 2 * r + 1 < raw->as.str.len ? s[2 * r + 1] : 0;
        uint16_t word = (uint16_t)(hi << 8 | lo);
        regs[r] = p->order.byte_swap ? swap_bytes16(word) : word;
    }
    return true;
}

static bool raw_truth(const struct mb_raw *raw, bool *out, char *why, size_t why_len)
{
    switch (raw->kind) {
    case MB_RAW_BOOL:
        *out = raw->as.b;
        return true;
    case MB_RAW_INT:
        *out = raw->as.i != 0;
        return true;
    case MB_RAW_UINT:
        *out = raw->as.u != 0;
        return true;
    default:
        errbuf_set(why, why_len, "bool point needs a bool or integer value");
        return false;
    }
}

static bool encode_bool_register(const struct mb_point *p, const struct mb_raw *raw, uint16_t *regs,
                                 char *why, size_t why_len)
{
    bool on;
    if (!raw_truth(raw, &on, why, why_len)) return false;
    uint16_t word = p->order.byte_swap ? swap_bytes16(regs[0]) : regs[0];
    if (p->bit < 0)
        word = on ? 1u : 0u;
    else if (on)
        word = (uint16_t)(word | (1u << p->bit));
    else
        word = (uint16_t)(word & ~(1u << p->bit));
    regs[0] = p->order.byte_swap ? swap_bytes16(word) : word;
    return true;
}

bool mb_encode_registers(const struct mb_point *p, const struct mb_raw *raw, uint16_t *regs,
                         size_t nregs, char *why, size_t why_len)
{
    if (!mb_point_decodable(p, why, why_len)) return false;
    if (is_bit_area(p->area)) {
        errbuf_set(why, why_len, "a %s point is not made of registers", mb_area_name(p->area));
        return false;
    }
    size_t width = register_width(p);
    if (!regs || nregs < width) {
        errbuf_set(why, why_len, "%s needs %zu registers, only %zu given", mb_type_name(p->type),
                   width, regs ? nregs : 0);
        return false;
    }
    switch (p->type) {
    case MB_TYPE_BOOL:
        return encode_bool_register(p, raw, regs, why, why_len);
    case MB_TYPE_FLOAT32:
    case MB_TYPE_FLOAT64:
        return encode_float(p, raw, regs, why, why_len);
    case MB_TYPE_STRING:
        return encode_string(p, raw, regs, why, why_len);
    default:
        return encode_integer(p, raw, (unsigned)width, regs, why, why_len);
    }
}

bool mb_encode_bits(const struct mb_point *p, const struct mb_raw *raw, uint8_t *bits, size_t nbits,
                    char *why, size_t why_len)
{
    if (!mb_point_decodable(p, why, why_len)) return false;
    if (!is_bit_area(p->area)) {
        errbuf_set(why, why_len, "a %s point is not a bit", mb_area_name(p->area));
        return false;
    }
    if (!bits || nbits < 1) {
        errbuf_set(why, why_len, "no room for the bit");
        return false;
    }
    bool on;
    if (!raw_truth(raw, &on, why, why_len)) return false;
    bits[0] = on ? 1 : 0;
    return true;
}

/* A double for an integer wire type: rounded, as INT when negative, else
 * UINT; false when NaN or beyond 64 bits. */
static bool double_to_integer_raw(double d, struct mb_raw *out, char *why, size_t why_len)
{
    double r = round(d);
    if (isnan(r) || r < -TWO_POW_63 || r >= TWO_POW_64) {
        errbuf_set(why, why_len, "%g cannot be an integer on the wire", d);
        return false;
    }
    if (r < 0) {
        out->kind = MB_RAW_INT;
        out->as.i = (int64_t)r;
    } else {
        out->kind = MB_RAW_UINT;
        out->as.u = (uint64_t)r;
    }
    return true;
}

bool mb_raw_from_value(const struct mb_point *p, const struct tag *tag, const struct value *v,
                       struct mb_raw *out, char *why, size_t why_len)
{
    enum mb_raw_kind kind = mb_raw_kind_of(p->type);
    if ((kind == MB_RAW_STRING) != (v->type == VALUE_STRING)) {
        errbuf_set(why, why_len, "a %s value cannot be written to a %s point",
                   value_type_name(v->type), mb_type_name(p->type));
        return false;
    }
    out->kind = kind;
    if (kind == MB_RAW_STRING) {
        out->as.str.ptr = v->as.str.ptr;
        out->as.str.len = v->as.str.len;
        return true;
    }
    bool identity = scaling_is_identity(&tag->scale);
    if (!identity && tag->scale.gain == 0.0) {
        errbuf_set(why, why_len, "scaling with gain 0 cannot be inverted");
        return false;
    }
    double d = value_as_double(v);
    if (!identity) d = scaling_invert(&tag->scale, d);
    if (kind == MB_RAW_FLOAT) {
        out->as.f = d;
        return true;
    }
    if (kind == MB_RAW_BOOL) {
        out->as.b = d != 0.0;
        return true;
    }
    if (identity && v->type == VALUE_INT64) {
        out->kind = MB_RAW_INT;
        out->as.i = v->as.i64;
        return true;
    }
    if (identity && v->type == VALUE_UINT64) {
        out->kind = MB_RAW_UINT;
        out->as.u = v->as.u64;
        return true;
    }
    return double_to_integer_raw(d, out, why, why_len);
}

const char *mb_exception_name(int code)
{
    switch (code) {
    case 1:
        return "IllegalFunction";
    case 2:
        return "IllegalDataAddress";
    case 3:
        return "IllegalDataValue";
    case 4:
        return "ServerDeviceFailure";
    case 5:
        return "Acknowledge";
    case 6:
        return "ServerDeviceBusy";
    case 8:
        return "MemoryParityError";
    case 10:
        return "GatewayPathUnavailable";
    case 11:
        return "GatewayTargetDeviceFailedToRespond";
    default: {
        static _Thread_local char name[24];
        snprintf(name, sizeof name, "Exception%d", code);
        return name;
    }
    }
}
