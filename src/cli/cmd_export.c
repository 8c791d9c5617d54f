/* `airlock export`: many tags' history over a range as one CSV
 * (time,tag,value,quality; with --agg time,tag,value,count,quality), read
 * from the store on disk in pages so a year of a fast tag needs little
 * memory. A progress bar on stderr when it is a terminal, else one summary
 * line at the end. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/history_format.h"
#include "cli/cli_history.h"
#include "cli/commands.h"
#include "core/clock.h"

#define EXPORT_PAGE_SAMPLES 262144u
#define EXPORT_BAR_WIDTH 30

static void export_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: airlock export (-c FILE | --data DIR) --from T --to T\n"
        "                      [--prefix P | --tag PATH ...] [--agg KIND --every DUR] [-o FILE]\n\n"
        "Writes the history of many tags as CSV: time,tag,value,quality (with --agg:\n"
        "time,tag,value,count,quality), times in RFC 3339 UTC. Reads the store on disk:\n"
        "the gateway must not be running on the same directory.\n\n"
        "Options:\n"
        "  -c, --config FILE  the gateway's configuration (its history section and data_dir)\n"
        "      --data DIR     data directory (overrides gateway.data_dir; history in DIR/history)\n"
        "      --from T       start (inclusive), required\n"
        "      --to T         end (exclusive), required\n"
        "      --prefix P     tags under this path (whole segments); default: every tag\n"
        "      --tag PATH     one tag (repeat for more)\n"
        "      --agg KIND     count, min, max, avg, sum, stddev, first, last, twa, integral\n"
        "      --every DUR    bucket length with --agg (1h, 15m, 10s, 500ms)\n"
        "  -o, --output FILE  write here instead of standard output\n"
        "  -h, --help         this help\n\n"
        "Times: RFC 3339 (2026-11-22T10:15:30Z, 2026-11-22), epoch milliseconds, or\n"
        "now / now-15m / now-7d.\n");
}

struct export_args {
    const char *config_file, *data_dir, *from, *to, *prefix, *agg, *every, *output;
    const char **tags;
    size_t tag_count;
};

static int export_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "airlock export: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see airlock export --help)\n");
    return 2;
}

static int parse_export_args(int argc, char **argv, struct export_args *a)
{
    enum { OPT_DATA = 1000, OPT_FROM, OPT_TO, OPT_PREFIX, OPT_TAG, OPT_AGG, OPT_EVERY };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, OPT_DATA},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"tag", required_argument, NULL, OPT_TAG},
        {"agg", required_argument, NULL, OPT_AGG},
        {"every", required_argument, NULL, OPT_EVERY},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config_file = optarg;
            break;
        case OPT_DATA:
            a->data_dir = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_TO:
            a->to = optarg;
            break;
        case OPT_PREFIX:
            a->prefix = optarg;
            break;
        case OPT_TAG:
            a->tags[a->tag_count++] = optarg;
            break;
        case OPT_AGG:
            a->agg = optarg;
            break;
        case OPT_EVERY:
            a->every = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'h':
            export_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "(see airlock export --help)\n");
            return 2;
        }
    }
    if (optind != argc) return export_usage_error("unexpected argument '%s'", argv[optind]);
    if (!a->config_file && !a->data_dir)
        return export_usage_error("%s", "-c FILE or --data DIR is required (where the history is)");
    if (!a->from) return export_usage_error("%s", "--from T is required");
    if (!a->to) return export_usage_error("%s", "--to T is required");
    if (a->prefix && a->tag_count)
        return export_usage_error("%s", "--prefix and --tag exclude each other");
    if (a->agg && !a->every) return export_usage_error("%s", "--agg needs --every");
    if (a->every && !a->agg) return export_usage_error("%s", "--every needs --agg");
    return -1;
}

struct export_plan {
    int64_t from, to, every;
    bool aggregate;
    enum hist_agg_kind kind;
};

static int plan_export(const struct export_args *a, struct export_plan *p)
{
    int64_t now = clock_now_ns();
    if (!cli_time_option("export", "from", a->from, now, &p->from) ||
        !cli_time_option("export", "to", a->to, now, &p->to))
        return 2;
    if (p->to <= p->from) return export_usage_error("%s", "--to must be after --from");
    p->aggregate = a->agg != NULL;
    if (a->agg && !hist_agg_from_name(a->agg, &p->kind))
        return export_usage_error("--agg: expected one of count, min, max, avg, sum, stddev, "
                                  "first, last, twa, integral, found '%s'",
                                  a->agg);
    if (a->every && !history_every_parse(a->every, &p->every))
        return export_usage_error("--every: expected a positive duration like 1h, 15m, 10s or "
                                  "500ms, found '%s'",
                                  a->every);
    if (p->aggregate && history_bucket_count(p->from, p->to, p->every) > HIST_AGG_MAX_BUCKETS)
        return export_usage_error("%s", "too many buckets for --from/--to and --every");
    return -1;
}

/* The series to export, newest series per path, in path order. */
struct series_list {
    struct hist_series_info *items;
    size_t count, cap;
    const char *prefix;
    bool failed;
};

static bool under_prefix(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    return n == 0 || (strncmp(prefix, path, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static bool list_add(struct series_list *l, const struct hist_series_info *s)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct hist_series_info *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) {
            l->failed = true;
            return false;
        }
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count++] = *s;
    return true;
}

static bool collect_series(void *ctx, const struct hist_series_info *s)
{
    struct series_list *l = ctx;
    if (!under_prefix(l->prefix, s->path)) return true;
    if (l->count && strcmp(l->items[l->count - 1].path, s->path) == 0) {
        if (s->id > l->items[l->count - 1].id) l->items[l->count - 1] = *s; /* newer type */
        return true;
    }
    return list_add(l, s);
}

static int gather(struct historian *h, const struct export_args *a, struct series_list *l)
{
    if (!a->tag_count) {
        l->prefix = a->prefix ? a->prefix : "";
        hist_list_series(h, "", collect_series, l);
    }
    for (size_t i = 0; i < a->tag_count; i++) {
        struct hist_series_info info;
        int64_t id = hist_find_series(h, a->tags[i]);
        if (id < 0 || !hist_series_info(h, (uint32_t)id, &info)) {
            fprintf(stderr, "airlock export: no history for tag '%s'\n", a->tags[i]);
            return 1;
        }
        if (!list_add(l, &info)) break;
    }
    if (l->failed) {
        fprintf(stderr, "airlock export: out of memory\n");
        return 1;
    }
    return 0;
}

/* Writes every raw sample of one series in pages; returns the rows written
 * or -1 on a read failure. Samples sharing the time where a page ended are
 * skipped by count on the next page. */
static int64_t export_raw(struct historian *h, const struct hist_series_info *s,
                          const struct export_plan *p, FILE *out)
{
    struct hist_columns cols;
    hist_columns_init(&cols, s->type);
    int64_t from = p->from, rows = 0;
    uint32_t skip = 0;
    char why[256];
    for (;;) {
        bool truncated = false;
        hist_columns_clear(&cols);
        if (!hist_read_raw(h, s->id, from, p->to, EXPORT_PAGE_SAMPLES, &cols, &truncated, why,
                           sizeof why)) {
            fprintf(stderr, "\nairlock export: reading %s failed: %s\n", s->path, why);
            hist_columns_free(&cols);
            return -1;
        }
        struct hist_columns page = cols;
        uint32_t first = skip < cols.count ? skip : cols.count;
        page.ts += first;
        page.quality += first;
        page.f64 = cols.f64 ? cols.f64 + first : NULL;
        page.i64 = cols.i64 ? cols.i64 + first : NULL;
        page.b = cols.b ? cols.b + first : NULL;
        page.str = cols.str ? cols.str + first : NULL;
        page.str_len = cols.str_len ? cols.str_len + first : NULL;
        page.count = cols.count - first;
        history_write_raw_csv(out, s->path, &page, false);
        rows += page.count;
        if (!truncated || cols.count == 0) break;
        int64_t last = cols.ts[cols.count - 1];
        if (last == from) break; /* a page of samples at one time: no way past them */
        skip = 0;
        for (uint32_t i = cols.count; i > 0 && cols.ts[i - 1] == last; i--)
            skip++;
        from = last;
    }
    hist_columns_free(&cols);
    return rows;
}

static int64_t export_buckets(struct historian *h, const struct hist_series_info *s,
                              const struct export_plan *p, FILE *out)
{
    struct hist_bucket *b = NULL;
    size_t n = 0;
    char why[256];
    if (!hist_aggregate(h, s->id, p->from, p->to, p->every, p->kind, &b, &n, why, sizeof why)) {
        fprintf(stderr, "\nairlock export: aggregating %s failed: %s\n", s->path, why);
        return -1;
    }
    history_write_buckets_csv(out, s->path, b, n, false);
    free(b);
    return (int64_t)n;
}

static void progress(size_t done, size_t total, int64_t rows)
{
    size_t filled = total ? done * EXPORT_BAR_WIDTH / total : EXPORT_BAR_WIDTH;
    char bar[EXPORT_BAR_WIDTH + 1];
    for (size_t i = 0; i < EXPORT_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[EXPORT_BAR_WIDTH] = '\0';
    fprintf(stderr, "\rexporting [%s] %zu/%zu tags, %lld rows", bar, done, total, (long long)rows);
    fflush(stderr);
}

static int run_export(struct historian *h, const struct series_list *l, const struct export_plan *p,
                      FILE *out, int64_t *rows)
{
    bool bar = isatty(STDERR_FILENO);
    fputs(p->aggregate ? "time,tag,value,count,quality\n" : "time,tag,value,quality\n", out);
    for (size_t i = 0; i < l->count; i++) {
        if (bar) progress(i, l->count, *rows);
        int64_t n = p->aggregate ? export_buckets(h, &l->items[i], p, out)
                                 : export_raw(h, &l->items[i], p, out);
        if (n < 0) return 1;
        *rows += n;
    }
    if (bar) {
        progress(l->count, l->count, *rows);
        fputc('\n', stderr);
    }
    return 0;
}

int cmd_export(int argc, char **argv)
{
    struct export_args a = {0};
    struct export_plan p = {0};
    a.tags = calloc((size_t)argc + 1, sizeof *a.tags);
    if (!a.tags) return 1;
    int rc = parse_export_args(argc, argv, &a);
    if (rc < 0) rc = plan_export(&a, &p);
    struct cli_store store = {.lock_fd = -1};
    if (rc < 0)
        rc = cli_store_open("export", a.config_file, a.data_dir, &store);
    else if (rc == 0)
        rc = -2; /* --help was printed */
    if (rc != 0) {
        free(a.tags);
        return rc == -2 ? 0 : rc;
    }
    struct series_list list = {0};
    FILE *out = stdout;
    int64_t rows = 0;
    rc = gather(store.h, &a, &list);
    if (rc == 0 && a.output && !(out = fopen(a.output, "w"))) {
        fprintf(stderr, "airlock export: cannot write %s: ", a.output);
        perror(NULL);
        out = stdout;
        rc = 1;
    }
    if (rc == 0) rc = run_export(store.h, &list, &p, out, &rows);
    if ((out != stdout ? fclose(out) : fflush(out)) != 0 && rc == 0) {
        perror("airlock export: writing the output");
        rc = 1;
    }
    if (rc == 0 && !isatty(STDERR_FILENO))
        fprintf(stderr, "airlock export: %zu tags, %lld rows written to %s\n", list.count,
                (long long)rows, a.output ? a.output : "standard output");
    cli_store_close(&store);
    free(list.items);
    free(a.tags);
    return rc;
}
