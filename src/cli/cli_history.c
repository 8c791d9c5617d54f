/* Opening the history store for the CLI (see cli_history.h). */
#include "cli/cli_history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/history_format.h"
#include "config/config.h"
#include "core/log.h"
#include "gateway/gateway.h"

static int open_dir(const char *cmd, const struct config *cfg, struct cli_store *out)
{
    char why[512];
    struct stat st;
    if (!config_history_dir(cfg, out->dir, sizeof out->dir)) {
        fprintf(stderr, "airlock %s: the history directory path is too long\n", cmd);
        return 1;
    }
    if (stat(out->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "airlock %s: no history store in %s (%s)\n", cmd, out->dir,
                errno ? strerror(errno) : "not a directory");
        return 1;
    }
    out->lock_fd = gateway_history_lock(out->dir, false, why, sizeof why);
    if (out->lock_fd < 0) {
        fprintf(stderr, "airlock %s: %s\n", cmd, why);
        return 1;
    }
    struct hist_retention_group *groups =
        calloc(cfg->history.group_count ? cfg->history.group_count : 1, sizeof *groups);
    if (!groups) {
        fprintf(stderr, "airlock %s: out of memory\n", cmd);
        cli_store_close(out);
        return 1;
    }
    struct hist_options o;
    gateway_history_options(cfg, out->dir, groups, &o);
    out->h = hist_open(&o, why, sizeof why);
    free(groups);
    if (!out->h) {
        fprintf(stderr, "airlock %s: cannot open the history store in %s: %s\n", cmd, out->dir,
                why);
        cli_store_close(out);
        return 1;
    }
    return 0;
}

int cli_store_open(const char *cmd, const char *config_file, const char *data_dir,
                   struct cli_store *out)
{
    struct config cfg;
    struct config_error err;
    memset(out, 0, sizeof *out);
    out->lock_fd = -1;
    log_set_level(LOG_WARN); /* the store's own info lines would mix with the output */
    bool ok = config_file ? config_load(config_file, &cfg, &err)
                          : config_load_string("{}", 2, "<defaults>", &cfg, &err);
    if (!ok) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return 2;
    }
    if (data_dir) {
        char *d = strdup(data_dir);
        if (!d) {
            config_free(&cfg);
            fprintf(stderr, "airlock %s: out of memory\n", cmd);
            return 1;
        }
        free(cfg.data_dir);
        cfg.data_dir = d;
    }
    errno = 0;
    int rc = open_dir(cmd, &cfg, out);
    config_free(&cfg);
    return rc;
}

void cli_store_close(struct cli_store *s)
{
    hist_close(s->h);
    s->h = NULL;
    if (s->lock_fd >= 0) close(s->lock_fd);
    s->lock_fd = -1;
}

bool cli_time_option(const char *cmd, const char *option, const char *text, int64_t now_ns,
                     int64_t *ns)
{
    char why[256];
    if (history_time_parse(text, now_ns, ns, why, sizeof why)) return true;
    fprintf(stderr, "airlock %s: --%s: %s\n", cmd, option, why);
    return false;
}
