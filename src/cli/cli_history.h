/* What `airlock query` and `airlock export` share: opening the history
 * store named by -c FILE and/or --data DIR, with the advisory lock that
 * keeps them off a store a running gateway holds. */
#ifndef AIRLOCK_CLI_CLI_HISTORY_H
#define AIRLOCK_CLI_CLI_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "historian/historian.h"

struct cli_store {
    struct historian *h;
    int lock_fd;
    char dir[4096];
};

/* Opens the store of config_file's history section (data_dir, when given,
 * replaces gateway.data_dir as with `airlock run --data`), or of
 * <data_dir>/history with default settings when there is no file. Prints
 * the problem prefixed with "airlock CMD: " and returns the exit status
 * (1: no store there, in use by a gateway, cannot be opened; 2: bad
 * configuration) or 0 on success. */
int cli_store_open(const char *cmd, const char *config_file, const char *data_dir,
                   struct cli_store *out);
/* Closes the store and releases the lock. */
void cli_store_close(struct cli_store *s);

/* Parses a time option for cmd (see history_time_parse); prints
 * "airlock CMD: --OPTION: expected ..." and returns false when invalid. */
bool cli_time_option(const char *cmd, const char *option, const char *text, int64_t now_ns,
                     int64_t *ns);

#endif
