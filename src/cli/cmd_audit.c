/* `airlock audit verify|list|export`: checks the audit trail's hash chain
 * (naming the first bad record), lists records as a table, exports them as
 * CSV. Works on <data_dir>/audit.db; there is deliberately no command that
 * adds, changes or removes records. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "cli/cli_history.h"
#include "cli/commands.h"
#include "config/config.h"
#include "core/clock.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 1000000

static void audit_usage(FILE *out)
{
    fprintf(out,
            "Usage: airlock audit verify [-c FILE | --data DIR]\n"
            "       airlock audit list   [-c FILE | --data DIR] [--since T] [--until T]\n"
            "                            [--actor U] [--action A] [--object PREFIX] [--limit N]\n"
            "       airlock audit export [-c FILE | --data DIR] --csv [FILE|-]\n\n"
            "The tamper-evident audit trail in DATA_DIR/audit.db (see docs/audit.md).\n\n"
            "  verify   recomputes every record's SHA-256 and the chain between them. Exit 0:\n"
            "           intact (prints the count and the last hash: keep a copy elsewhere);\n"
            "           exit 1: names the first bad record and what happened to it\n"
            "           (modified, deleted, inserted, reordered).\n"
            "  list     records as a table with UTC times: the latest N (default %d), or the\n"
            "           first N from --since on.\n"
            "  export   every matching record as RFC 4180 CSV to FILE or stdout (-).\n\n"
            "Options:\n"
            "  -c, --config FILE  the gateway's configuration (its gateway.data_dir)\n"
            "      --data DIR     data directory (default: gateway.data_dir, else ./data)\n"
            "      --since T      from this time on (inclusive)\n"
            "      --until T      before this time (exclusive)\n"
            "      --actor U      only this actor\n"
            "      --action A     only this action (login, write, config_change, ...)\n"
            "      --object P     only objects starting with P\n"
            "      --limit N      at most N records (list: default %d)\n"
            "      --csv          export as CSV (the only export format)\n"
            "  -h, --help         this help\n\n"
            "Times: RFC 3339 (2026-11-22T10:15:30Z), a date, epoch ms, or now-7d.\n",
            LIST_DEFAULT_LIMIT, LIST_DEFAULT_LIMIT);
}

struct audit_args {
    const char *verb, *config_file, *data_dir, *since, *until, *actor, *action, *object, *limit;
    const char *csv_file;
    bool csv;
};

static int parse_audit_args(int argc, char **argv, struct audit_args *a)
{
    enum { OPT_DATA = 1000, OPT_SINCE, OPT_UNTIL, OPT_ACTOR, OPT_ACTION, OPT_OBJECT, OPT_LIMIT };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, OPT_DATA},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"actor", required_argument, NULL, OPT_ACTOR},
        {"action", required_argument, NULL, OPT_ACTION},
        {"object", required_argument, NULL, OPT_OBJECT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"csv", no_argument, NULL, 'C'},
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
        case OPT_SINCE:
            a->since = optarg;
            break;
        case OPT_UNTIL:
            a->until = optarg;
            break;
        case OPT_ACTOR:
            a->actor = optarg;
            break;
        case OPT_ACTION:
            a->action = optarg;
            break;
        case OPT_OBJECT:
            a->object = optarg;
            break;
        case OPT_LIMIT:
            a->limit = optarg;
            break;
        case 'C':
            a->csv = true;
            break;
        case 'h':
            audit_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock audit --help)\n");
            return 2;
        }
    }
    if (optind >= argc) return cli_usage_error("audit", "%s", "expected verify, list or export");
    a->verb = argv[optind++];
    if (strcmp(a->verb, "export") == 0) {
        if (!a->csv) return cli_usage_error("audit", "%s", "export needs --csv (the only format)");
        a->csv_file = optind < argc ? argv[optind++] : "-";
    } else if (strcmp(a->verb, "verify") != 0 && strcmp(a->verb, "list") != 0) {
        return cli_usage_error("audit", "unknown action '%s' (expected verify, list or export)",
                               a->verb);
    } else if (a->csv) {
        return cli_usage_error("audit", "%s", "--csv belongs to export");
    }
    if (optind != argc) return cli_usage_error("audit", "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The data directory: --data, else the configuration's gateway.data_dir,
 * else the default configuration's. */
static int resolve_data_dir(const struct audit_args *a, char *dir, size_t cap)
{
    if (a->data_dir) {
        snprintf(dir, cap, "%s", a->data_dir);
        return 0;
    }
    struct config cfg;
    struct config_error err;
    bool ok = a->config_file ? config_load(a->config_file, &cfg, &err)
                             : config_load_string("{}", 2, "<defaults>", &cfg, &err);
    if (!ok) {
        char msg[1024];
        config_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return 2;
    }
    snprintf(dir, cap, "%s", cfg.data_dir ? cfg.data_dir : "./data");
    config_free(&cfg);
    return 0;
}

static int require_trail(const char *dir, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/%s", dir, AUDIT_FILE_NAME);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "airlock audit: the path %s/%s is too long\n", dir, AUDIT_FILE_NAME);
        return 1;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "airlock audit: no audit trail at %s\n", path);
        return 1;
    }
    return 0;
}

static int run_verify(const char *path)
{
    struct audit_verify_result r;
    char err[1024], hex[AUDIT_HASH_HEX_BYTES];
    if (!audit_verify_file(path, &r, err, sizeof err)) {
        fprintf(stderr, "airlock audit: %s\n", err);
        return 1;
    }
    audit_hash_hex(r.last_hash, hex);
    if (r.damage == AUDIT_INTACT) {
        printf("audit trail intact: %" PRId64 " records in %s\n", r.count, path);
        printf("last record: %" PRId64 "\nlast hash: %s\n", r.last_id, hex);
        printf("(keep the last hash elsewhere: a later verify must reach a record with it)\n");
        return 0;
    }
    printf("audit trail DAMAGED: record %" PRId64 ": %s: %s\n", r.bad_id,
           audit_damage_name(r.damage), r.detail);
    printf("records before it verify: %" PRId64 " (last good: %" PRId64 ", hash %s)\n", r.count,
           r.last_id, hex);
    return 1;
}

/* Builds the query filter from the options; -1 when fine, else an exit
 * status. */
static int make_filter(const struct audit_args *a, struct audit_filter *f, int64_t default_limit)
{
    memset(f, 0, sizeof *f);
    int64_t now = clock_now_ns();
    if (a->since && !cli_time_option("audit", "since", a->since, now, &f->from_ns)) return 2;
    if (a->until && !cli_time_option("audit", "until", a->until, now, &f->to_ns)) return 2;
    f->actor = a->actor;
    f->action = a->action;
    f->object_prefix = a->object;
    f->limit = default_limit;
    if (a->limit) {
        char *end;
        long long n = strtoll(a->limit, &end, 10);
        if (*a->limit == '\0' || *end != '\0' || n < 1 || n > LIST_MAX_LIMIT)
            return cli_usage_error("audit", "--limit: expected an integer 1..1000000, found '%s'",
                                   a->limit);
        f->limit = n;
    }
    return -1;
}

/* Prints text in a column of width chars (the last one a space):
 * control characters become spaces; a longer text is cut, marked by "~"
 * at the end, or at the start when keep_tail (paths end in what matters). */
static void print_cell(const char *text, int width, bool keep_tail)
{
    size_t len = strlen(text), room = (size_t)width - 1, from = 0;
    bool cut = len > room;
    if (cut && keep_tail) {
        putchar('~');
        from = len - (room - 1);
    }
    size_t shown = cut ? room - 1 : len;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)text[from + i];
        putchar(c < 0x20 || c == 0x7f ? ' ' : c);
    }
    if (cut && !keep_tail) putchar('~');
    for (size_t n = cut ? room : len; n < (size_t)width; n++)
        putchar(' ');
}

static void print_table_row(const struct audit_record *r)
{
    char change[256];
    if (*r->old_value || *r->new_value)
        snprintf(change, sizeof change, "%s -> %s", r->old_value, r->new_value);
    else
        change[0] = '\0';
    printf("%-7" PRId64 " ", r->id);
    char time_text[32];
    snprintf(time_text, sizeof time_text, "%.23sZ", r->time_text); /* millisecond precision */
    print_cell(time_text, 25, false);
    print_cell(r->actor, 14, false);
    print_cell(r->action, 16, false);
    print_cell(r->object, 36, true);
    print_cell(change, 24, false);
    print_cell(r->outcome, 10, false);
    for (const char *p = r->reason; *p; p++) /* one line per record */
        putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
    putchar('\n');
}

static int run_list(struct audit *trail, const struct audit_args *a)
{
    struct audit_filter f;
    int rc = make_filter(a, &f, LIST_DEFAULT_LIMIT);
    if (rc >= 0) return rc;
    f.newest_first = !a->since; /* the latest N, unless asked from a time on */
    struct audit_list list;
    char err[512];
    if (!audit_query(trail, &f, &list, err, sizeof err)) {
        fprintf(stderr, "airlock audit: %s\n", err);
        return 1;
    }
    printf("%-7s %-25s%-14s%-16s%-36s%-24s%-10s%s\n", "ID", "TIME (UTC)", "ACTOR", "ACTION",
           "OBJECT", "OLD -> NEW", "OUTCOME", "REASON");
    for (size_t i = 0; i < list.count; i++)
        print_table_row(&list.records[f.newest_first ? list.count - 1 - i : i]);
    if (list.count == 0) printf("(no records)\n");
    audit_list_free(&list);
    return 0;
}

static bool write_csv_record(const struct audit_record *rec, void *ctx)
{
    audit_csv_record(ctx, rec);
    return !ferror((FILE *)ctx);
}

static int run_export(struct audit *trail, const struct audit_args *a)
{
    struct audit_filter f;
    int rc = make_filter(a, &f, 0);
    if (rc >= 0) return rc;
    bool to_stdout = strcmp(a->csv_file, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(a->csv_file, "w");
    if (!out) {
        fprintf(stderr, "airlock audit: cannot write %s: ", a->csv_file);
        perror(NULL);
        return 1;
    }
    char err[512];
    audit_csv_header(out);
    bool ok = audit_query_each(trail, &f, write_csv_record, out, err, sizeof err);
    if (!ok) fprintf(stderr, "airlock audit: %s\n", err);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "airlock audit: writing %s failed\n", a->csv_file);
        ok = false;
    }
    if (!to_stdout && fclose(out) != 0) {
        fprintf(stderr, "airlock audit: closing %s failed\n", a->csv_file);
        ok = false;
    }
    return ok ? 0 : 1;
}

int cmd_audit(int argc, char **argv)
{
    struct audit_args a;
    int rc = parse_audit_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char dir[4096], path[4200];
    if ((rc = resolve_data_dir(&a, dir, sizeof dir)) != 0) return rc;
    if ((rc = require_trail(dir, path, sizeof path)) != 0) return rc;
    if (strcmp(a.verb, "verify") == 0) return run_verify(path);
    char err[1024];
    struct audit *trail = audit_open(dir, err, sizeof err);
    if (!trail) {
        fprintf(stderr, "airlock audit: %s\n", err);
        return 1;
    }
    rc = strcmp(a.verb, "list") == 0 ? run_list(trail, &a) : run_export(trail, &a);
    audit_close(trail);
    if (fflush(stdout) != 0) {
        perror("airlock audit: writing the output");
        return 1;
    }
    return rc;
}
