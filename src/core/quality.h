/* Sample quality as OPC UA StatusCodes (OPC UA Part 4, 7.34; codes from Part 6
 * annex / StatusCode.csv). The top two bits give the severity: 00 Good,
 * 01 Uncertain, 10 Bad. Using the real codes means quality maps 1:1 to OPC UA
 * and to Sparkplug B's quality property without translation tables. */
#ifndef AIRLOCK_CORE_QUALITY_H
#define AIRLOCK_CORE_QUALITY_H

#include <stdbool.h>
#include <stdint.h>

typedef uint32_t quality_t;

#define QUALITY_GOOD 0x00000000u
#define QUALITY_GOOD_LOCAL_OVERRIDE 0x00960000u
#define QUALITY_GOOD_CLAMPED 0x00300000u
#define QUALITY_UNCERTAIN 0x40000000u
#define QUALITY_UNCERTAIN_NO_COMMUNICATION_LAST_USABLE_VALUE 0x408F0000u
#define QUALITY_UNCERTAIN_LAST_USABLE_VALUE 0x40900000u
#define QUALITY_UNCERTAIN_SUBSTITUTE_VALUE 0x40910000u
#define QUALITY_UNCERTAIN_INITIAL_VALUE 0x40920000u
#define QUALITY_UNCERTAIN_SENSOR_NOT_ACCURATE 0x40930000u
#define QUALITY_UNCERTAIN_ENGINEERING_UNITS_EXCEEDED 0x40940000u
#define QUALITY_UNCERTAIN_SUB_NORMAL 0x40950000u
#define QUALITY_BAD 0x80000000u
#define QUALITY_BAD_INTERNAL_ERROR 0x80020000u
#define QUALITY_BAD_COMMUNICATION_ERROR 0x80050000u
#define QUALITY_BAD_DECODING_ERROR 0x80070000u
#define QUALITY_BAD_TIMEOUT 0x800A0000u
#define QUALITY_BAD_NO_COMMUNICATION 0x80310000u
#define QUALITY_BAD_WAITING_FOR_INITIAL_DATA 0x80320000u
#define QUALITY_BAD_OUT_OF_RANGE 0x803C0000u
#define QUALITY_BAD_CONFIGURATION_ERROR 0x80890000u
#define QUALITY_BAD_NOT_CONNECTED 0x808A0000u
#define QUALITY_BAD_DEVICE_FAILURE 0x808B0000u
#define QUALITY_BAD_SENSOR_FAILURE 0x808C0000u
#define QUALITY_BAD_OUT_OF_SERVICE 0x808D0000u

/* Severity tests on the top two bits. */
static inline bool quality_is_good(quality_t q)
{
    return (q & 0xC0000000u) == 0;
}
static inline bool quality_is_uncertain(quality_t q)
{
    return (q & 0xC0000000u) == 0x40000000u;
}
static inline bool quality_is_bad(quality_t q)
{
    return (q & 0x80000000u) != 0;
}

/* The OPC UA symbolic name ("Good", "Bad_CommunicationError", ...) of a code.
 * Unknown sub-codes give their severity name ("Good", "Uncertain", "Bad").
 * Never NULL; the string is static. */
const char *quality_name(quality_t q);

/* Parses a name as returned by quality_name(); false if unknown. */
bool quality_from_name(const char *name, quality_t *out);

#endif
