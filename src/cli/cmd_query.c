/* `airlock query`: one tag's history from the store on disk, as raw
 * samples or aggregate buckets, printed as a table, CSV or JSON. It opens
 * the store itself, so it refuses to run while a gateway holds it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/history_format.h"
#include "cli/cli_history.h"
#include "cli/commands.h"
#include "core/clock.h"

static void query_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: airlock query (-c FILE | --data DIR) --tag PATH [--from T] [--to T]\n"
        "                     [--agg KIND [--every DUR]] [--format table|csv|json] [--limit N]\n\n"
        "Prints one tag's history from the store on disk (the gateway must not be running\n"
        "on the same directory: stop it first, or use GET /api/v1/history instead).\n\n"
        "Options:\n"
        "  -c, --config FILE  the gateway's configuration (its history section and data_dir)\n"
        "      --data DIR     data directory (overrides gateway.data_dir; history in DIR/history)\n"
        "      --tag PATH     the tag's full path, e.g. acme/plant1/utilities/pumping/skid1/flow\n"
        "      --from T       start (inclusive); default: --to minus 1 h\n"
        "      --to T         end (exclusive); default: now\n"
        "      --agg KIND     count, min, max, avg, sum, stddev, first, last, twa, integral\n"
        "      --every DUR    bucket length (1h, 15m, 10s, 500ms); default: the whole range\n"
        "      --format F     table (default), csv or json\n"
        "      --limit N      at most N samples or buckets (default 100000, max 1000000)\n"
        "  -h, --help         this help\n\n"
        "Times: RFC 3339 (2026-11-22T10:15:30Z, 2026-11-22T11:15:30.5+01:00, 2026-11-22),\n"
        "epoch milliseconds, or now / now-15m / now-7d.\n");
}

struct query_args {
    const char *config_file, *data_dir, *tag, *from, *to, *agg, *every, *format, *limit;
};

static int parse_query_args(int argc, char **argv, struct query_args *a)
{
    enum { OPT_DATA = 1000, OPT_TAG, OPT_FROM, OPT_TO, OPT_AGG, OPT_EVERY, OPT_FORMAT, OPT_LIMIT };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, OPT_DATA},
        {"tag", required_argument, NULL, OPT_TAG},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"agg", required_argument, NULL, OPT_AGG},
        {"every", required_argument, NULL, OPT_EVERY},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"limit", required_argument, NULL, OPT_LIMIT},
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
        case OPT_TAG:
            a->tag = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_TO:
            a->to = optarg;
            break;
        case OPT_AGG:
            a->agg = optarg;
            break;
        case OPT_EVERY:
            a->every = optarg;
            break;
        case OPT_FORMAT:
            a->format = optarg;
            break;
        case OPT_LIMIT:
            a->limit = optarg;
            break;
        case 'h':
            query_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock query --help)\n");
            return 2;
        }
    }
    if (optind != argc) return cli_usage_error("query", "unexpected argument '%s'", argv[optind]);
    if (!a->config_file && !a->data_dir)
        return cli_usage_error("query", "%s",
                               "-c FILE or --data DIR is required (where the history is)");
    if (!a->tag) return cli_usage_error("query", "%s", "--tag PATH is required");
    return -1;
}

struct query_plan {
    int64_t from, to, every;
    bool aggregate;
    enum hist_agg_kind kind;
    uint32_t limit;
    enum { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON } format;
};

static int plan_query(const struct query_args *a, struct query_plan *p)
{
    int64_t now = clock_now_ns();
    p->to = now;
    if (a->to && !cli_time_option("query", "to", a->to, now, &p->to)) return 2;
    p->from = p->to - HISTORY_DEFAULT_RANGE_NS;
    if (a->from && !cli_time_option("query", "from", a->from, now, &p->from)) return 2;
    if (p->to <= p->from) return cli_usage_error("query", "%s", "--to must be after --from");
    p->limit = HISTORY_DEFAULT_LIMIT;
    if (a->limit && !history_limit_parse(a->limit, &p->limit))
        return cli_usage_error("query", "--limit: expected an integer 1..1000000, found '%s'",
                               a->limit);
    p->format = FORMAT_TABLE;
    if (a->format) {
        if (strcmp(a->format, "csv") == 0)
            p->format = FORMAT_CSV;
        else if (strcmp(a->format, "json") == 0)
            p->format = FORMAT_JSON;
        else if (strcmp(a->format, "table") != 0)
            return cli_usage_error("query", "--format: expected table, csv or json, found '%s'",
                                   a->format);
    }
    p->aggregate = a->agg != NULL;
    if (a->agg && !hist_agg_from_name(a->agg, &p->kind))
        return cli_usage_error("query",
                               "--agg: expected one of count, min, max, avg, sum, stddev, first, "
                               "last, twa, integral, found '%s'",
                               a->agg);
    if (a->every && !a->agg) return cli_usage_error("query", "%s", "--every needs --agg");
    p->every = p->to - p->from;
    if (a->every && !history_every_parse(a->every, &p->every))
        return cli_usage_error("query",
                               "--every: expected a positive duration like 1h, 15m, 10s or 500ms, "
                               "found '%s'",
                               a->every);
    if (p->aggregate && history_bucket_count(p->from, p->to, p->every) > p->limit)
        return cli_usage_error("query", "%s",
                               "too many buckets for --from/--to and --every (raise --every "
                               "or --limit)");
    return -1;
}

static int print_raw(struct historian *h, const struct hist_series_info *info,
                     const struct query_plan *p)
{
    struct hist_columns cols;
    hist_columns_init(&cols, info->type);
    bool truncated = false;
    char why[256];
    if (!hist_read_raw(h, info->id, p->from, p->to, p->limit, &cols, &truncated, why, sizeof why)) {
        fprintf(stderr, "airlock query: reading the history failed: %s\n", why);
        hist_columns_free(&cols);
        return 1;
    }
    struct history_meta m = {info->path, info->type, "", p->from, p->to};
    if (p->format == FORMAT_JSON) {
        history_write_raw_json(stdout, &m, &cols, truncated);
        fputc('\n', stdout);
    } else if (p->format == FORMAT_CSV) {
        history_write_raw_csv(stdout, NULL, &cols, true);
    } else {
        history_write_raw_table(stdout, &cols);
    }
    if (truncated)
        fprintf(stderr, "airlock query: more than %u samples: output truncated (see --limit)\n",
                p->limit);
    hist_columns_free(&cols);
    return 0;
}

static int print_buckets(struct historian *h, const struct hist_series_info *info,
                         const struct query_plan *p)
{
    struct hist_bucket *b = NULL;
    size_t n = 0;
    char why[256];
    if (!hist_aggregate(h, info->id, p->from, p->to, p->every, p->kind, &b, &n, why, sizeof why)) {
        fprintf(stderr, "airlock query: aggregating the history failed: %s\n", why);
        return 1;
    }
    struct history_meta m = {info->path, info->type, "", p->from, p->to};
    if (p->format == FORMAT_JSON) {
        history_write_buckets_json(stdout, &m, p->kind, p->every, b, n);
        fputc('\n', stdout);
    } else if (p->format == FORMAT_CSV) {
        history_write_buckets_csv(stdout, NULL, b, n, true);
    } else {
        history_write_buckets_table(stdout, b, n);
    }
    free(b);
    return 0;
}

int cmd_query(int argc, char **argv)
{
    struct query_args a;
    struct query_plan p;
    int rc = parse_query_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if ((rc = plan_query(&a, &p)) >= 0) return rc;
    struct cli_store store;
    if ((rc = cli_store_open("query", a.config_file, a.data_dir, &store)) != 0) return rc;
    int64_t id = hist_find_series(store.h, a.tag);
    struct hist_series_info info;
    if (id < 0 || !hist_series_info(store.h, (uint32_t)id, &info)) {
        fprintf(stderr, "airlock query: no history for tag '%s' in %s\n", a.tag, store.dir);
        cli_store_close(&store);
        return 1;
    }
    rc = p.aggregate ? print_buckets(store.h, &info, &p) : print_raw(store.h, &info, &p);
    cli_store_close(&store);
    if (fflush(stdout) != 0) {
        perror("airlock query: writing the output");
        return 1;
    }
    return rc;
}
