/* Little-endian integers and LEB128 varints in byte buffers: the small
 * helpers every file format of the project (log, spool, segments) writes
 * its fields with, explicitly, never by copying structs. */
#ifndef AIRLOCK_CORE_LE_H
#define AIRLOCK_CORE_LE_H

#include <stdint.h>
#include <string.h>

static inline void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_u64le(uint8_t *p, uint64_t v)
{
    put_u32le(p, (uint32_t)v);
    put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

/* Doubles by their IEEE-754 bit pattern (NaN payloads and -0.0 kept). */
static inline void put_f64le(uint8_t *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u64le(p, bits);
}

static inline double get_f64le(const uint8_t *p)
{
    uint64_t bits = get_u64le(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Writes v as a LEB128 varint (at most 10 bytes) at p; returns the byte
 * after it. Inline: it runs per field of every logged or spooled sample. */
static inline uint8_t *put_uvarint_fast(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

#endif
