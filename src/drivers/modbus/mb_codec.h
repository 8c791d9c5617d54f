/* The Modbus value codec: pure functions (no I/O, no allocation) between the
 * registers and bits libmodbus reads and typed values.
 *
 * Registers are host-order uint16_t as libmodbus returns them: register value
 * = (first byte on the wire << 8) | second byte. Bits are one uint8_t per bit
 * (0 or 1), as libmodbus returns coils and discrete inputs.
 *
 * Decoding is two steps: the wire decode (registers -> struct mb_raw, by the
 * point's type and byte/word order) and the tag conversion (struct mb_raw ->
 * struct value of the tag's type, with its scaling and a quality).
 * mb_decode_point() does both and is what the driver calls per value. The
 * encoders are the inverse, for the simulator and for writes. */
#ifndef AIRLOCK_MODBUS_MB_CODEC_H
#define AIRLOCK_MODBUS_MB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/quality.h"
#include "core/tag.h"
#include "core/value.h"
#include "drivers/modbus/mb_point.h"

/* The longest string point: one full read request of registers. */
#define MB_STRING_MAX_REGISTERS 125
#define MB_STRING_MAX_BYTES (2 * MB_STRING_MAX_REGISTERS)

/* What a point holds on the wire, before scaling and tag conversion. */
enum mb_raw_kind {
    MB_RAW_BOOL = 0, /* bool points */
    MB_RAW_INT,      /* int16, int32, int64 */
    MB_RAW_UINT,     /* uint16, uint32, uint64 */
    MB_RAW_FLOAT,    /* float32 (widened exactly), float64 */
    MB_RAW_STRING,   /* string points */
};

struct mb_raw {
    enum mb_raw_kind kind;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct {
            const char *ptr; /* not owned; NUL-terminated when produced by the decoder */
            uint32_t len;
        } str;
    } as;
};

/* The raw kind a point of this wire type decodes to. */
enum mb_raw_kind mb_raw_kind_of(enum mb_type t);

/* True when the point is something the codec can decode: a known area and
 * type, only bool in the bit areas, bit -1..15 (bools in register areas
 * only), string length 1..MB_STRING_MAX_REGISTERS. On failure writes a reason
 * to why (if non-NULL). */
bool mb_point_decodable(const struct mb_point *p, char *why, size_t why_len);

/* Decodes a register-area point from regs[0..nregs), regs[0] being the
 * point's first register. Strings are copied into text (NUL-terminated,
 * out->as.str points there); text may be NULL for other types. A bool point
 * takes bit `bit` (0 = least significant) of the register's value after
 * byte_swap; with bit -1 it is true when the register is non-zero.
 * Strings: bytes in register order, high byte first (low first with
 * byte_swap; word_swap does not apply), cut at the first NUL, trailing spaces
 * trimmed, and must be valid UTF-8.
 * Returns false with a reason in why (if non-NULL) when nregs is shorter than
 * the point, the point is not a register point, text is too small, or the
 * string is not valid UTF-8; *out is then unspecified. */
bool mb_decode_registers(const struct mb_point *p, const uint16_t *regs, size_t nregs,
                         struct mb_raw *out, char *text, size_t text_len, char *why,
                         size_t why_len);

/* Decodes a bool point of a bit area from bits[0..nbits), bits[0] being the
 * point's bit (any non-zero byte is true). False with a reason when nbits is
 * 0 or the point is not a bit-area bool. */
bool mb_decode_bits(const struct mb_point *p, const uint8_t *bits, size_t nbits, struct mb_raw *out,
                    char *why, size_t why_len);

/* Converts a raw value to the tag's value type and returns its quality.
 *  - Scaling that is not the identity (gain != 1 or offset != 0) is applied
 *    to numeric and bool raws as a double (eng = raw * gain + offset); the
 *    result is then converted to the tag type like a float raw.
 *  - To a double tag: integers convert (values beyond 2^53 round to the
 *    nearest double). NaN or infinity is kept as the value, with quality
 *    Bad_OutOfRange.
 *  - To int64/uint64 tags: integers must fit (else the value is clamped to
 *    the nearest end of the range and quality is Bad_OutOfRange); floats are
 *    rounded to nearest (halves away from zero), NaN gives 0 and out-of-range
 *    values are clamped, both with Bad_OutOfRange.
 *  - To a bool tag: non-zero is true; NaN gives false with Bad_OutOfRange.
 *  - Strings only convert to string tags (out points at raw's bytes);
 *    string <-> non-string gives an empty/zero value of the tag's type with
 *    Bad_ConfigurationError.
 * *out always holds a valid value of the tag's type. */
quality_t mb_raw_to_value(const struct mb_raw *raw, const struct tag *tag, struct value *out);

/* The driver's per-value call: decodes point p, whose first register (or bit)
 * is at regs[offset] (or bits[offset]), converts it for tag and returns the
 * quality. The caller guarantees the buffer holds offset + width entries (the
 * request plan does). Strings are written to text (MB_STRING_MAX_BYTES + 1
 * bytes is always enough) and *out points there. On a decoding failure
 * (invalid UTF-8, text too small, undecodable point) *out is the zero value
 * of the tag's type ("" for strings) and the quality Bad_DecodingError. */
quality_t mb_decode_point(const struct mb_point *p, const struct tag *tag, const uint16_t *regs,
                          const uint8_t *bits, size_t offset, struct value *out, char *text,
                          size_t text_len);

/* Encodes raw for a register-area point into regs[0..width) in the point's
 * order. A bool with a bit sets or clears that bit and keeps the register's
 * other bits; a bool with bit -1 writes 1 or 0. Integers (MB_RAW_INT, _UINT
 * or _BOOL) must fit the wire type; floats accept MB_RAW_FLOAT/_INT/_UINT
 * and a finite value beyond float32's range is refused for float32 (NaN and
 * infinities are encoded). Strings must fit in 2 * length bytes and are
 * NUL-padded. Returns false with a reason (regs possibly partly written)
 * when nregs is too small, the raw kind does not fit the type or the value
 * is out of range. */
bool mb_encode_registers(const struct mb_point *p, const struct mb_raw *raw, uint16_t *regs,
                         size_t nregs, char *why, size_t why_len);

/* Encodes a bool raw for a bit-area point into bits[0] (0 or 1). */
bool mb_encode_bits(const struct mb_point *p, const struct mb_raw *raw, uint8_t *bits, size_t nbits,
                    char *why, size_t why_len);

/* The inverse of mb_raw_to_value, for the simulator and for writes: the raw
 * value to put on the wire so that the tag reads v. Non-identity scaling is
 * inverted (gain must be non-zero) and integer wire types get the result
 * rounded to nearest. Does not check the wire type's width: the encoder
 * does. Strings point at v's bytes. False with a reason when v's type does
 * not fit the point (string vs number), the value is NaN for an integer type
 * or does not fit 64 bits. */
bool mb_raw_from_value(const struct mb_point *p, const struct tag *tag, const struct value *v,
                       struct mb_raw *out, char *why, size_t why_len);

/* The name of a Modbus exception code (Modbus Application Protocol v1.1b3,
 * 7): 1 IllegalFunction, 2 IllegalDataAddress, 3 IllegalDataValue,
 * 4 ServerDeviceFailure, 5 Acknowledge, 6 ServerDeviceBusy,
 * 8 MemoryParityError, 10 GatewayPathUnavailable,
 * 11 GatewayTargetDeviceFailedToRespond. Known codes give a static string;
 * any other gives "Exception<n>" in a thread-local buffer, valid until the
 * next call from the same thread. Never NULL. */
const char *mb_exception_name(int code);

#endif
