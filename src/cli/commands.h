/* Subcommands of the airlock executable; each parses its own arguments
 * (with --help) and returns the process exit status: 0 success, 1 runtime
 * failure, 2 usage or configuration error. */
#ifndef AIRLOCK_CLI_COMMANDS_H
#define AIRLOCK_CLI_COMMANDS_H

#include <stdio.h>

#include "gateway/gateway.h"

int cmd_run(int argc, char **argv);    /* cmd_run.c: the gateway (demo plant without -c) */
int cmd_check(int argc, char **argv);  /* cmd_check.c: validate a configuration file */
int cmd_sim(int argc, char **argv);    /* cmd_sim.c: the demo plant's devices alone */
int cmd_query(int argc, char **argv);  /* cmd_query.c: one tag's history from the store */
int cmd_export(int argc, char **argv); /* cmd_export.c: many tags' history as CSV */
int cmd_opcua(int argc, char **argv);  /* cli_opcua.c: OPC UA endpoints, browse, read */
int cmd_user(int argc, char **argv);   /* cmd_user.c: users in <data_dir>/airlock.db */
int cmd_token(int argc, char **argv);  /* cmd_token.c: API tokens in <data_dir>/airlock.db */
int cmd_audit(int argc, char **argv);  /* cmd_audit.c: verify, list, export the audit trail */
int cmd_ot(int argc, char **argv);     /* cmd_oneway.c: the OT side of the one-way link */
int cmd_it(int argc, char **argv);     /* cmd_oneway.c: the IT side of the one-way link */
/* cmd_oneway.c: a new link key (stdout or --out FILE) */
int cmd_link_key(int argc, char **argv);

/* cmd_run.c: `airlock run` (mode GATEWAY_FULL), `ot` and `it`: the same
 * options, signals (stop, SIGHUP reload) and audit records. */
int cmd_run_mode(int argc, char **argv, enum gateway_mode mode);
/* cmd_oneway.c: the --help of `airlock ot` (ot_side) or `airlock it`. */
void cli_oneway_usage(FILE *out, int ot_side);

/* cmd_user.c, for `user` and `token`: opens <data_dir>/airlock.db (data_dir,
 * else config_file's gateway.data_dir, else ./data; create != 0 makes it).
 * Prints why not as "airlock CMD: ..." and returns the exit status, 0 when
 * *out is open. */
struct auth;
int cli_auth_open(const char *cmd, const char *config_file, const char *data_dir, int create,
                  struct auth **out);
/* The data directory of the last cli_auth_open. */
const char *cli_auth_data_dir(void);

/* cli_common.c: prints "airlock CMD: " and fmt (with one %s for arg) and a
 * pointer to CMD's --help on stderr; returns 2, the usage-error status. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);

/* cli_common.c: appends one record to <data_dir>/audit.db for a change made
 * from the command line (actor "cli:<login name>"); a failure to record is
 * said on stderr (the change itself is done). */
void cli_audit_record(const char *data_dir, const char *action, const char *object,
                      const char *new_value, const char *outcome, const char *details);

#endif
