/* `airlock check -c FILE`: load and validate a configuration without starting
 * anything. Exit 0 when valid (with a one-line summary), 2 with
 * "file:line:col: what was expected" otherwise. */
#include <getopt.h>
#include <stdio.h>

#include "cli/commands.h"
#include "config/config.h"

static void check_usage(FILE *out)
{
    fprintf(out, "Usage: airlock check -c FILE\n\n"
                 "Validates a configuration file: YAML syntax, every key and value, tag paths,\n"
                 "register layouts. Prints a summary and exits 0 when valid; otherwise prints\n"
                 "FILE:LINE:COL: what was expected, and exits 2. Starts nothing.\n\n"
                 "Options:\n"
                 "  -c, --config FILE   the configuration to check\n"
                 "  -h, --help          this help\n");
}

int cmd_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *file = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return 0;
        default:
            check_usage(stderr);
            return 2;
        }
    }
    if (!file || optind != argc) {
        check_usage(stderr);
        return 2;
    }
    struct config cfg;
    struct config_error err;
    if (!config_load(file, &cfg, &err)) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return 2;
    }
    size_t groups = 0;
    for (size_t i = 0; i < cfg.device_count; i++)
        groups += cfg.devices[i].group_count;
    printf("%s: valid: %zu device(s), %zu poll group(s), %zu tag(s)\n", file, cfg.device_count,
           groups, config_tag_count(&cfg));
    config_free(&cfg);
    return 0;
}
