/* libFuzzer target for the configuration loader: any bytes go to
 * config_load_string, which must either succeed (the config is then freed)
 * or fail with a positioned error, without crashing, reading out of bounds
 * or leaking. Seed corpus: corpus/fuzz_config/. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    struct config_error err;
    char formatted[1024];
    if (config_load_string((const char *)data, size, "fuzz.yaml", &cfg, &err)) {
        (void)config_tag_count(&cfg);
        config_free(&cfg);
    } else {
        config_error_format(&err, formatted, sizeof formatted);
    }
    return 0;
}
