/* Fuzz target: the history API's query parameters (times, durations,
 * limits) and the configuration's durations and sizes, all of which come
 * from people or from the network. Each input is split at the first NUL
 * into the text to parse; every parser must answer without crashing, and a
 * time that parses must format and parse back to the same instant. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/history_format.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256) return 0;
    char text[257];
    memcpy(text, data, size);
    text[size] = '\0';
    char why[256];
    int64_t ns = 0, every = 0;
    uint32_t limit = 0;
    const int64_t now = 1764547200000000000LL; /* 2025-12-01T00:00:00Z */
    if (history_time_parse(text, now, &ns, why, sizeof why)) {
        char again[64];
        snprintf(again, sizeof again, "%lld", (long long)(ns / 1000000));
        int64_t back = 0;
        if (ns % 1000000 == 0 && ns >= 0 &&
            (!history_time_parse(again, now, &back, why, sizeof why) || back != ns))
            abort(); /* epoch milliseconds must read back exactly */
    }
    history_every_parse(text, &every);
    int64_t duration = 0;
    uint64_t bytes = 0;
    config_duration_parse(text, &duration);
    config_size_parse(text, &bytes);
    history_limit_parse(text, &limit);
    char num[64];
    double d;
    memcpy(&d, text, size >= sizeof d ? sizeof d : 0);
    if (size >= sizeof d) history_format_double(d, num, sizeof num);
    return 0;
}
