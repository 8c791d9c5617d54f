/* `airlock token create|list|revoke`: API tokens for machines in
 * <data_dir>/airlock.db (see docs/users.md). A token is printed once, at
 * creation; the database keeps only its SHA-256. */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/commands.h"
#include "core/clock.h"

static void token_usage(FILE *out)
{
    fprintf(out,
            "Usage: airlock token create --user NAME --name LABEL [--role ROLE]\n"
            "                            [-c FILE | --data DIR]\n"
            "       airlock token list [-c FILE | --data DIR]\n"
            "       airlock token revoke ID [-c FILE | --data DIR]\n\n"
            "API tokens for machines, in DATA_DIR/airlock.db (see docs/users.md).\n\n"
            "  create   a token acting as user NAME with ROLE (default and at most the user's);\n"
            "           the token is printed once on standard output: store it now\n"
            "  list     id, name, user, role, created, last used, revoked (never the secret)\n"
            "  revoke   stops token ID at once\n\n"
            "Options:\n"
            "  -c, --config FILE  the gateway's configuration (its gateway.data_dir)\n"
            "      --data DIR     data directory (default: gateway.data_dir, else ./data)\n"
            "      --user NAME    the token's owner (create)\n"
            "      --name LABEL   what the token is for, e.g. historian-export (create)\n"
            "      --role ROLE    viewer, operator, engineer or admin (create)\n"
            "  -h, --help         this help\n\n"
            "Exit status: 0 done, 1 failed (no such user or token, database error),\n"
            "2 usage error (unknown role, role above the user's).\n");
}

struct token_args {
    const char *verb, *id, *config_file, *data_dir, *user, *name, *role;
};

static int parse_token_args(int argc, char **argv, struct token_args *a)
{
    enum { OPT_DATA = 1000, OPT_USER, OPT_NAME, OPT_ROLE };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, OPT_DATA},
        {"user", required_argument, NULL, OPT_USER},
        {"name", required_argument, NULL, OPT_NAME},
        {"role", required_argument, NULL, OPT_ROLE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    memset(a, 0, sizeof *a);
    int opt;
    optind = 1;
    opterr = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config_file = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case OPT_USER:
            a->user = optarg;
            break;
        case OPT_NAME:
            a->name = optarg;
            break;
        case OPT_ROLE:
            a->role = optarg;
            break;
        case 'h':
            token_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock token --help)\n");
            return 2;
        }
    }
    if (optind >= argc) return cli_usage_error("token", "%s", "a subcommand is required");
    a->verb = argv[optind++];
    bool create = strcmp(a->verb, "create") == 0, revoke = strcmp(a->verb, "revoke") == 0;
    if (!create && !revoke && strcmp(a->verb, "list") != 0)
        return cli_usage_error("token", "unknown subcommand '%s' (create, list, revoke)", a->verb);
    if (revoke) {
        if (optind >= argc) return cli_usage_error("token", "%s", "the token ID is required");
        a->id = argv[optind++];
    }
    if (optind != argc) return cli_usage_error("token", "unexpected argument '%s'", argv[optind]);
    if (create && !a->user) return cli_usage_error("token", "%s", "--user NAME is required");
    if (create && !a->name) return cli_usage_error("token", "%s", "--name LABEL is required");
    if (!create && (a->user || a->name || a->role))
        return cli_usage_error("token", "%s", "--user, --name and --role only apply to create");
    return -1;
}

/* 2 for what the caller got wrong, 1 for everything else. */
static int report(enum auth_status st, const char *err)
{
    if (st == AUTH_OK) return 0;
    fprintf(stderr, "airlock token: %s\n", err);
    return st == AUTH_ERR_INVALID || st == AUTH_ERR_ROLE_TOO_HIGH ? 2 : 1;
}

static int run_create(struct auth *db, const struct token_args *a, enum auth_role role)
{
    char token[AUTH_TOKEN_TEXT_SIZE], err[512];
    int64_t id = 0;
    enum auth_status st =
        auth_token_create(db, a->user, a->name, role, clock_now_ns(), token, &id, err, sizeof err);
    char object[256];
    snprintf(object, sizeof object, "%s (user %s)", a->name, a->user);
    cli_audit_record(cli_auth_data_dir(), "token_create", object,
                     a->role ? auth_role_name(role) : "the owner's role",
                     st == AUTH_OK ? "ok" : "failed", st == AUTH_OK ? NULL : err);
    if (st != AUTH_OK) return report(st, err);
    printf("%s\n", token);
    OPENSSL_cleanse(token, sizeof token);
    fprintf(stderr, "token %lld '%s' for %s created; it is shown only this once: store it now\n",
            (long long)id, a->name, a->user);
    return 0;
}

static void format_time(int64_t ns, char *buf, size_t cap)
{
    if (ns == 0)
        snprintf(buf, cap, "-");
    else
        clock_format_rfc3339(ns, buf, cap);
}

static int run_list(struct auth *db)
{
    struct auth_token_info *tokens;
    size_t n;
    char err[512];
    enum auth_status st = auth_token_list(db, &tokens, &n, err, sizeof err);
    if (st != AUTH_OK) return report(st, err);
    int name_w = 4, user_w = 4;
    for (size_t i = 0; i < n; i++) {
        if ((int)strlen(tokens[i].name) > name_w) name_w = (int)strlen(tokens[i].name);
        if ((int)strlen(tokens[i].user) > user_w) user_w = (int)strlen(tokens[i].user);
    }
    printf("%-6s  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", "ID", name_w, "NAME", user_w, "USER",
           "ROLE", "CREATED", "LAST USED", "REVOKED");
    for (size_t i = 0; i < n; i++) {
        char created[40], used[40], revoked[40];
        format_time(tokens[i].created_ns, created, sizeof created);
        format_time(tokens[i].last_used_ns, used, sizeof used);
        format_time(tokens[i].revoked_ns, revoked, sizeof revoked);
        printf("%-6lld  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", (long long)tokens[i].id, name_w,
               tokens[i].name, user_w, tokens[i].user, auth_role_name(tokens[i].role), created,
               used, revoked);
    }
    free(tokens);
    return 0;
}

static int run_revoke(struct auth *db, const char *id_text)
{
    char *end;
    errno = 0;
    long long id = strtoll(id_text, &end, 10);
    if (errno || *end || end == id_text || id <= 0)
        return cli_usage_error("token", "expected a token ID (a positive integer), found '%s'",
                               id_text);
    char err[512];
    enum auth_status st = auth_token_revoke(db, id, clock_now_ns(), err, sizeof err);
    if (st == AUTH_OK) printf("token %lld revoked\n", id);
    char object[32];
    snprintf(object, sizeof object, "token %lld", id);
    cli_audit_record(cli_auth_data_dir(), "token_revoke", object, NULL,
                     st == AUTH_OK ? "ok" : "failed", st == AUTH_OK ? NULL : err);
    return report(st, err);
}

int cmd_token(int argc, char **argv)
{
    struct token_args a;
    int rc = parse_token_args(argc, argv, &a);
    if (rc >= 0) return rc;
    enum auth_role role = 0;
    if (a.role && !auth_role_parse(a.role, &role))
        return cli_usage_error("token", "unknown role '%s' (viewer, operator, engineer, admin)",
                               a.role);
    struct auth *db;
    if ((rc = cli_auth_open("token", a.config_file, a.data_dir, false, &db)) != 0) return rc;
    if (strcmp(a.verb, "create") == 0)
        rc = run_create(db, &a, role);
    else if (strcmp(a.verb, "list") == 0)
        rc = run_list(db);
    else
        rc = run_revoke(db, a.id);
    auth_close(db);
    if (fflush(stdout) != 0) {
        perror("airlock token: writing the output");
        return 1;
    }
    return rc;
}
