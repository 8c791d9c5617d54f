/* Subcommands of the airlock executable; each parses its own arguments
 * (with --help) and returns the process exit status: 0 success, 1 runtime
 * failure, 2 usage or configuration error. */
#ifndef AIRLOCK_CLI_COMMANDS_H
#define AIRLOCK_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);    /* cmd_run.c: the gateway (demo plant without -c) */
int cmd_check(int argc, char **argv);  /* cmd_check.c: validate a configuration file */
int cmd_sim(int argc, char **argv);    /* cmd_sim.c: the demo plant's devices alone */
int cmd_query(int argc, char **argv);  /* cmd_query.c: one tag's history from the store */
int cmd_export(int argc, char **argv); /* cmd_export.c: many tags' history as CSV */
int cmd_opcua(int argc, char **argv);  /* cli_opcua.c: OPC UA endpoints, browse, read */

#endif
