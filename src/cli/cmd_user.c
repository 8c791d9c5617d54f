/* `airlock user add|passwd|disable|enable|list`: manages the users of
 * <data_dir>/airlock.db (see docs/users.md). Passwords come from a
 * terminal prompt (twice, without echo) or one line of stdin with
 * --password-stdin; they are never taken from the command line. Also holds
 * cli_auth_open, shared with `airlock token`. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/commands.h"
#include "config/config.h"
#include "core/clock.h"

#define PASSWORD_BUF_SIZE (AUTH_PASSWORD_MAX_BYTES + 2)

static void user_usage(FILE *out)
{
    fprintf(out,
            "Usage: airlock user add NAME --role ROLE [--password-stdin] [-c FILE | --data DIR]\n"
            "       airlock user passwd NAME [--password-stdin] [-c FILE | --data DIR]\n"
            "       airlock user disable|enable NAME [-c FILE | --data DIR]\n"
            "       airlock user list [-c FILE | --data DIR]\n\n"
            "Manages the users in DATA_DIR/airlock.db (see docs/users.md).\n\n"
            "  add      a new user with a role: viewer, operator, engineer or admin\n"
            "  passwd   a new password (also clears a lockout and ends the user's sessions)\n"
            "  disable  stops the user's logins, sessions and API tokens at once\n"
            "  enable   allows them again (and clears a lockout)\n"
            "  list     name, role, disabled, locked until, created (never any hash)\n\n"
            "Passwords: at least %d characters. Asked twice without echo on a terminal;\n"
            "with --password-stdin, read as one line from standard input (for scripts).\n\n"
            "Options:\n"
            "  -c, --config FILE   the gateway's configuration (its gateway.data_dir)\n"
            "      --data DIR      data directory (default: gateway.data_dir, else ./data)\n"
            "      --role ROLE     the new user's role (add)\n"
            "      --password-stdin  read the password from standard input\n"
            "  -h, --help          this help\n\n"
            "Exit status: 0 done, 1 failed (user exists, no such user, database error),\n"
            "2 usage error (unknown role, weak password, passwords differ, bad name).\n",
            AUTH_PASSWORD_MIN_CHARS);
}

/* The data directory cli_auth_open used last (for the audit record). */
static char auth_dir[4096];

const char *cli_auth_data_dir(void)
{
    return auth_dir;
}

int cli_auth_open(const char *cmd, const char *config_file, const char *data_dir, int create,
                  struct auth **out)
{
    char *dir = auth_dir;
    const size_t dir_cap = sizeof auth_dir;
    if (data_dir) {
        snprintf(dir, dir_cap, "%s", data_dir);
    } else {
        struct config cfg;
        struct config_error cerr;
        bool ok = config_file ? config_load(config_file, &cfg, &cerr)
                              : config_load_string("{}", 2, "<defaults>", &cfg, &cerr);
        if (!ok) {
            char msg[1024];
            config_error_format(&cerr, msg, sizeof msg);
            fprintf(stderr, "%s\n", msg);
            return 2;
        }
        snprintf(dir, dir_cap, "%s", cfg.data_dir ? cfg.data_dir : "./data");
        config_free(&cfg);
    }
    char err[1024];
    enum auth_status st;
    *out = auth_open(dir, create != 0, &st, err, sizeof err);
    if (*out) return 0;
    if (st == AUTH_ERR_NOT_FOUND)
        fprintf(stderr, "airlock %s: %s (add a user first: airlock user add)\n", cmd, err);
    else
        fprintf(stderr, "airlock %s: %s\n", cmd, err);
    return st == AUTH_ERR_INVALID ? 2 : 1;
}

static int exit_status(enum auth_status st)
{
    switch (st) {
    case AUTH_OK:
        return 0;
    case AUTH_ERR_INVALID:
    case AUTH_ERR_WEAK_PASSWORD:
    case AUTH_ERR_ROLE_TOO_HIGH:
        return 2;
    default:
        return 1;
    }
}

struct user_args {
    const char *verb, *name, *config_file, *data_dir, *role;
    bool password_stdin;
};

static int parse_user_args(int argc, char **argv, struct user_args *a)
{
    enum { OPT_DATA = 1000, OPT_ROLE, OPT_PASSWORD_STDIN };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, OPT_DATA},
        {"role", required_argument, NULL, OPT_ROLE},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
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
        case OPT_ROLE:
            a->role = optarg;
            break;
        case OPT_PASSWORD_STDIN:
            a->password_stdin = true;
            break;
        case 'h':
            user_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock user --help)\n");
            return 2;
        }
    }
    if (optind >= argc) return cli_usage_error("user", "%s", "a subcommand is required");
    a->verb = argv[optind++];
    bool list = strcmp(a->verb, "list") == 0, add = strcmp(a->verb, "add") == 0;
    bool passwd = strcmp(a->verb, "passwd") == 0;
    if (!list && !add && !passwd && strcmp(a->verb, "disable") != 0 &&
        strcmp(a->verb, "enable") != 0)
        return cli_usage_error(
            "user", "unknown subcommand '%s' (add, passwd, disable, enable, list)", a->verb);
    if (!list) {
        if (optind >= argc) return cli_usage_error("user", "%s", "the user NAME is required");
        a->name = argv[optind++];
    }
    if (optind != argc) return cli_usage_error("user", "unexpected argument '%s'", argv[optind]);
    if (add && !a->role) return cli_usage_error("user", "%s", "--role ROLE is required");
    if (!add && a->role) return cli_usage_error("user", "%s", "--role only applies to add");
    if (a->password_stdin && !add && !passwd)
        return cli_usage_error("user", "%s", "--password-stdin only applies to add and passwd");
    return -1;
}

/* Reads one line into buf without its line ending; false at EOF or when it
 * does not fit (too long for the policy). */
static bool read_line(FILE *in, char *buf, size_t cap, bool *too_long)
{
    *too_long = false;
    if (!fgets(buf, (int)cap, in)) return false;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    } else if (n == cap - 1) {
        *too_long = true;
        int c;
        while ((c = fgetc(in)) != EOF && c != '\n') {
        }
        return false;
    }
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    return true;
}

/* Prompts on stderr and reads a line from the terminal on stdin without
 * echo. */
static bool prompt_hidden(const char *prompt, char *buf, size_t cap, bool *too_long)
{
    struct termios saved, quiet;
    fputs(prompt, stderr);
    fflush(stderr);
    bool restore = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (restore) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    bool ok = read_line(stdin, buf, cap, too_long);
    if (restore) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    return ok;
}

/* Gets the new password for name into buf; returns -1 when done, else the
 * exit status. */
static int get_password(const struct user_args *a, char *buf, size_t cap)
{
    bool too_long = false;
    if (a->password_stdin) {
        if (!read_line(stdin, buf, cap, &too_long)) {
            if (too_long)
                fprintf(stderr, "airlock user: password too long (at most %d bytes)\n",
                        AUTH_PASSWORD_MAX_BYTES);
            else
                fprintf(stderr, "airlock user: no password on standard input\n");
            return 2;
        }
        return -1;
    }
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "airlock user: standard input is not a terminal: use --password-stdin\n");
        return 2;
    }
    char again[PASSWORD_BUF_SIZE];
    char prompt[128];
    snprintf(prompt, sizeof prompt, "New password for %s: ", a->name);
    bool ok = prompt_hidden(prompt, buf, cap, &too_long) &&
              prompt_hidden("Repeat it: ", again, sizeof again, &too_long);
    int rc = -1;
    if (!ok) {
        fprintf(stderr, too_long ? "airlock user: password too long\n"
                                 : "airlock user: no password entered\n");
        rc = 2;
    } else if (strcmp(buf, again) != 0) {
        fprintf(stderr, "airlock user: the passwords differ; nothing changed\n");
        rc = 2;
    }
    OPENSSL_cleanse(again, sizeof again);
    return rc;
}

static int report(enum auth_status st, const char *err)
{
    if (st != AUTH_OK) fprintf(stderr, "airlock user: %s\n", err);
    return exit_status(st);
}

static int run_set_password(struct auth *db, const struct user_args *a, bool add,
                            enum auth_role role)
{
    char password[PASSWORD_BUF_SIZE], err[512];
    int rc = get_password(a, password, sizeof password);
    if (rc >= 0) return rc;
    enum auth_status st =
        add ? auth_user_add(db, a->name, role, password, clock_now_ns(), err, sizeof err)
            : auth_user_passwd(db, a->name, password, clock_now_ns(), err, sizeof err);
    OPENSSL_cleanse(password, sizeof password);
    if (st == AUTH_OK && add) printf("user %s added (%s)\n", a->name, auth_role_name(role));
    if (st == AUTH_OK && !add) printf("password of %s changed\n", a->name);
    cli_audit_record(cli_auth_data_dir(), add ? "user_add" : "user_passwd", a->name,
                     add ? auth_role_name(role) : NULL, st == AUTH_OK ? "ok" : "failed",
                     st == AUTH_OK ? NULL : err);
    return report(st, err);
}

static int run_list(struct auth *db)
{
    struct auth_user_info *users;
    size_t n;
    char err[512];
    enum auth_status st = auth_user_list(db, &users, &n, err, sizeof err);
    if (st != AUTH_OK) return report(st, err);
    int width = 4;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(users[i].name) > width) width = (int)strlen(users[i].name);
    int64_t now = clock_now_ns();
    printf("%-*s  %-8s  %-8s  %-24s  %s\n", width, "NAME", "ROLE", "DISABLED", "LOCKED UNTIL",
           "CREATED");
    for (size_t i = 0; i < n; i++) {
        char locked[40] = "-", created[40];
        if (users[i].locked_until_ns > now)
            clock_format_rfc3339(users[i].locked_until_ns, locked, sizeof locked);
        clock_format_rfc3339(users[i].created_ns, created, sizeof created);
        printf("%-*s  %-8s  %-8s  %-24s  %s\n", width, users[i].name, auth_role_name(users[i].role),
               users[i].disabled ? "yes" : "no", locked, created);
    }
    free(users);
    return 0;
}

int cmd_user(int argc, char **argv)
{
    struct user_args a;
    int rc = parse_user_args(argc, argv, &a);
    if (rc >= 0) return rc;
    enum auth_role role = 0;
    if (a.role && !auth_role_parse(a.role, &role))
        return cli_usage_error("user", "unknown role '%s' (viewer, operator, engineer, admin)",
                               a.role);
    struct auth *db;
    bool add = strcmp(a.verb, "add") == 0;
    if ((rc = cli_auth_open("user", a.config_file, a.data_dir, add, &db)) != 0) return rc;
    char err[512];
    if (add || strcmp(a.verb, "passwd") == 0) {
        rc = run_set_password(db, &a, add, role);
    } else if (strcmp(a.verb, "list") == 0) {
        rc = run_list(db);
    } else {
        bool disable = strcmp(a.verb, "disable") == 0;
        enum auth_status st =
            auth_user_set_disabled(db, a.name, disable, clock_now_ns(), err, sizeof err);
        if (st == AUTH_OK) printf("user %s %s\n", a.name, disable ? "disabled" : "enabled");
        cli_audit_record(cli_auth_data_dir(), disable ? "user_disable" : "user_enable", a.name,
                         NULL, st == AUTH_OK ? "ok" : "failed", st == AUTH_OK ? NULL : err);
        rc = report(st, err);
    }
    auth_close(db);
    if (fflush(stdout) != 0) {
        perror("airlock user: writing the output");
        return 1;
    }
    return rc;
}
