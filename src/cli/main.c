/* airlock: the command-line entry point. Dispatches to one subcommand per
 * file (cmd_*.c); each handles its own options and --help. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/version.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run the gateway (the built-in demo plant when no -c FILE is given)"},
    {"check", cmd_check, "validate a configuration file and exit"},
    {"sim", cmd_sim, "serve the demo plant's simulated devices over Modbus TCP"},
    {"query", cmd_query, "print one tag's history from the store (table, CSV, JSON)"},
    {"export", cmd_export, "write many tags' history over a range as CSV"},
    {"opcua", cmd_opcua, "OPC UA tools: a server's endpoints, browse, read values"},
    {"user", cmd_user, "manage users: add, passwd, disable, enable, list"},
    {"token", cmd_token, "manage API tokens: create, list, revoke"},
    {"audit", cmd_audit, "verify, list or export the tamper-evident audit trail"},
    {"ot", cmd_ot, "one-way mode, OT side: read the devices, send over the one-way link"},
    {"it", cmd_it, "one-way mode, IT side: receive the one-way link, serve the API"},
    {"link-key", cmd_link_key, "make a key for the one-way link"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "airlock %s: a secure IT/OT convergence gateway\n\n"
            "Usage: airlock COMMAND [OPTIONS]\n\nCommands:\n",
            AIRLOCK_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`airlock COMMAND --help` describes a command's options.\n"
                 "Quick start: `airlock run`, then open http://127.0.0.1:8080\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("airlock %s\n", AIRLOCK_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "airlock: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
