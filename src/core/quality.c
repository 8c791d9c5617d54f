/* Names of the OPC UA StatusCodes airlock uses as sample quality. */
#include "core/quality.h"

#include <string.h>

struct quality_entry {
    quality_t code;
    const char *name;
};

static const struct quality_entry quality_table[] = {
    {QUALITY_GOOD, "Good"},
    {QUALITY_GOOD_LOCAL_OVERRIDE, "Good_LocalOverride"},
    {QUALITY_GOOD_CLAMPED, "Good_Clamped"},
    {QUALITY_UNCERTAIN, "Uncertain"},
    {QUALITY_UNCERTAIN_NO_COMMUNICATION_LAST_USABLE_VALUE,
     "Uncertain_NoCommunicationLastUsableValue"},
    {QUALITY_UNCERTAIN_LAST_USABLE_VALUE, "Uncertain_LastUsableValue"},
    {QUALITY_UNCERTAIN_SUBSTITUTE_VALUE, "Uncertain_SubstituteValue"},
    {QUALITY_UNCERTAIN_INITIAL_VALUE, "Uncertain_InitialValue"},
    {QUALITY_UNCERTAIN_SENSOR_NOT_ACCURATE, "Uncertain_SensorNotAccurate"},
    {QUALITY_UNCERTAIN_ENGINEERING_UNITS_EXCEEDED, "Uncertain_EngineeringUnitsExceeded"},
    {QUALITY_UNCERTAIN_SUB_NORMAL, "Uncertain_SubNormal"},
    {QUALITY_BAD, "Bad"},
    {QUALITY_BAD_INTERNAL_ERROR, "Bad_InternalError"},
    {QUALITY_BAD_COMMUNICATION_ERROR, "Bad_CommunicationError"},
    {QUALITY_BAD_DECODING_ERROR, "Bad_DecodingError"},
    {QUALITY_BAD_TIMEOUT, "Bad_Timeout"},
    {QUALITY_BAD_NO_COMMUNICATION, "Bad_NoCommunication"},
    {QUALITY_BAD_WAITING_FOR_INITIAL_DATA, "Bad_WaitingForInitialData"},
    {QUALITY_BAD_OUT_OF_RANGE, "Bad_OutOfRange"},
    {QUALITY_BAD_CONFIGURATION_ERROR, "Bad_ConfigurationError"},
    {QUALITY_BAD_NOT_CONNECTED, "Bad_NotConnected"},
    {QUALITY_BAD_DEVICE_FAILURE, "Bad_DeviceFailure"},
    {QUALITY_BAD_SENSOR_FAILURE, "Bad_SensorFailure"},
    {QUALITY_BAD_OUT_OF_SERVICE, "Bad_OutOfService"},
};

const char *quality_name(quality_t q)
{
    /* The low 16 bits carry info bits (limits, overflow), not the condition. */
    quality_t condition = q & 0xFFFF0000u;
    for (size_t i = 0; i < sizeof quality_table / sizeof quality_table[0]; i++)
        if (quality_table[i].code == condition) return quality_table[i].name;
    if (quality_is_bad(q)) return "Bad";
    if (quality_is_uncertain(q)) return "Uncertain";
    return "Good";
}

bool quality_from_name(const char *name, quality_t *out)
{
    for (size_t i = 0; i < sizeof quality_table / sizeof quality_table[0]; i++) {
        if (strcmp(quality_table[i].name, name) == 0) {
            *out = quality_table[i].code;
            return true;
        }
    }
    return false;
}
