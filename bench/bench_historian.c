/* Benchmark: the embedded historian (issue 3) against a Gorilla baseline.
 *
 * Measures, on data that is either real (the ALP sample series) or generated
 * deterministically (a plant mix of analog values, counters, states and
 * setpoints), with regular 1 s timestamps the benchmark assigns:
 *  - bytes per point at the codec level (hist_chunk_encode, no files), per
 *    series, next to a Gorilla encoding of the same points (bench/gorilla.h);
 *  - bytes per point on disk, everything included (segments, log, manifest,
 *    catalogue: the sum of the store directory's file sizes after
 *    hist_checkpoint + hist_compact);
 *  - ingest points per CPU-second (durability batched, hist_append with
 *    batches of 1,000 samples, maintenance, sync and checkpoint included);
 *  - raw read points per CPU-second (one long series, and many series);
 *  - the time of a one-year hourly average of a 1 s tag, cold and warm.
 * CPU time is user + system from getrusage, so rates are per core. Every
 * encoding and every read is checked bit-exact against the input; a
 * mismatch aborts the benchmark. Prints Markdown tables on stdout.
 *
 * Usage: bench_historian [--alp DIR] [--tmp DIR] [--tags N] [--year-days N]
 *                        [--keep] */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "gorilla.h"
#include "historian/hist_chunk.h"
#include "historian/hist_codec.h"
#include "historian/historian.h"

/* 2026-01-01T00:00:00Z: every series starts here, at 1 s. */
#define BENCH_T0_S 1767225600LL
#define BENCH_BATCH 1000 /* samples per hist_append, like the gateway's batches */
#define PLANT_SECONDS 3600

/* Reference figures from ../shared/BENCHMARKS.md (bytes per point). */
#define REF_ALP_GORILLA 7.25
#define REF_ALP_INFLUX 7.15
#define REF_ALP_VM 1.26
#define REF_PLANT_GORILLA 2.86
#define REF_PLANT_INFLUX 2.91
#define REF_PLANT_VM 0.45
#define REF_INGEST_VM 1.4e6
#define REF_INGEST_INFLUX 0.55e6

/* Targets of issue 3. */
#define TARGET_GORILLA_RATIO 2.0
#define TARGET_PLANT_BPP 1.0
#define TARGET_INGEST_PPS 10e6
#define TARGET_READ_PPS 100e6
#define TARGET_AGG_MS 20.0

/* ------------------------------------------------------------------ */
/* small helpers */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_historian: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) die("out of memory (%zu x %zu)", n, size);
    return p;
}

/* User + system CPU seconds of this process (all threads). */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* "12,345,678" */
static const char *grouped(double v, char *buf, size_t len)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0 && digits[i - 1] != '-') buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static const char *pass_fail(bool ok)
{
    return ok ? "**pass**" : "**FAIL**";
}

/* ------------------------------------------------------------------ */
/* deterministic random numbers (splitmix64) */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* Approximately standard normal (Irwin-Hall, four uniforms). */
static double rng_gauss(uint64_t *s)
{
    double sum = rng_uniform(s) + rng_uniform(s) + rng_uniform(s) + rng_uniform(s);
    return (sum - 2.0) * 1.7320508075688772;
}

static bool rng_chance(uint64_t *s, double p)
{
    return rng_uniform(s) < p;
}

/* ------------------------------------------------------------------ */
/* the data: a series is n values at 1 s from BENCH_T0_S */

struct series {
    char name[96];
    enum value_type type;
    size_t n;
    uint64_t *bits;     /* double bits, int64/uint64 bits, or bool 0/1 */
    quality_t *quality; /* NULL: all Good */
};

static void series_free(struct series *s)
{
    free(s->bits);
    free(s->quality);
    memset(s, 0, sizeof *s);
}

static struct value series_value(const struct series *s, size_t i)
{
    switch (s->type) {
    case VALUE_BOOL:
        return value_bool(s->bits[i] != 0);
    case VALUE_INT64:
        return value_int64((int64_t)s->bits[i]);
    case VALUE_UINT64:
        return value_uint64(s->bits[i]);
    default:
        return value_double(bits_f64(s->bits[i]));
    }
}

static double series_double(const struct series *s, size_t i)
{
    switch (s->type) {
    case VALUE_BOOL:
        return s->bits[i] ? 1.0 : 0.0;
    case VALUE_INT64:
        return (double)(int64_t)s->bits[i];
    case VALUE_UINT64:
        return (double)s->bits[i];
    default:
        return bits_f64(s->bits[i]);
    }
}

static quality_t series_quality(const struct series *s, size_t i)
{
    return s->quality ? s->quality[i] : QUALITY_GOOD;
}

/* Loads a CSV of one value per line. False when it cannot be read. */
static bool load_csv(const char *path, struct series *s)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t cap = 1024;
    s->bits = xcalloc(cap, sizeof *s->bits);
    s->type = VALUE_DOUBLE;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        char *end;
        double d = strtod(line, &end);
        if (end == line) continue;
        if (s->n == cap) {
            cap *= 2;
            s->bits = realloc(s->bits, cap * sizeof *s->bits);
            if (!s->bits) die("out of memory");
        }
        s->bits[s->n++] = f64_bits(d);
    }
    fclose(f);
    return s->n > 0;
}

/* Loads little-endian doubles. */
static bool load_f64le(const char *path, struct series *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->n = bytes > 0 ? (size_t)bytes / 8 : 0;
    s->type = VALUE_DOUBLE;
    s->bits = xcalloc(s->n, sizeof *s->bits);
    uint8_t raw[8];
    for (size_t i = 0; i < s->n; i++) {
        if (fread(raw, 1, 8, f) != 8) {
            fclose(f);
            return false;
        }
        uint64_t u = 0;
        for (int b = 7; b >= 0; b--)
            u = (u << 8) | raw[b];
        s->bits[i] = u;
    }
    fclose(f);
    return s->n > 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct series *)a)->name, ((const struct series *)b)->name);
}

/* Every *.csv and *.f64le.bin of dir, sorted by name. */
static struct series *load_alp(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) die("cannot open the datasets directory %s: %s", dir, strerror(errno));
    struct series *all = xcalloc(64, sizeof *all);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        bool csv = len > 4 && strcmp(e->d_name + len - 4, ".csv") == 0;
        bool bin = len > 10 && strcmp(e->d_name + len - 10, ".f64le.bin") == 0;
        if (!csv && !bin) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct series *s = &all[n];
        snprintf(s->name, sizeof s->name, "%.*s", (int)(len - (csv ? 4 : 10)), e->d_name);
        if (!(csv ? load_csv(path, s) : load_f64le(path, s))) die("cannot read %s", path);
        n++;
    }
    closedir(d);
    if (n == 0) die("no series in %s", dir);
    qsort(all, n, sizeof *all, cmp_name);
    *count = n;
    return all;
}

/* The README calls stocks_usa_c a non-sensor control. */
static bool is_sensor_series(const struct series *s)
{
    return strncmp(s->name, "stocks", 6) != 0;
}

/* ------------------------------------------------------------------ */
/* the generated plant mix */

enum plant_class {
    PLANT_ANALOG = 0, /* pressure, flow, level: 0.01 or 0.1 resolution, noisy */
    PLANT_TEMPERATURE,
    PLANT_COUNTER,
    PLANT_STATE,
    PLANT_BOOL,
    PLANT_SETPOINT,
    PLANT_CLASSES
};

static const char *const plant_class_names[PLANT_CLASSES] = {
    "analog (pressure, flow, level; 0.01 / 0.1 resolution, noise)",
    "temperature (drifting, 0.1 resolution)",
    "counter (uint64 totalisers)",
    "machine state (int64, 3-8 states)",
    "bool (running, alarms)",
    "setpoint (double, 0.1, rare changes)",
};

/* Per 20 tags: 9 analog + 3 temperature (60 %), 3 counters (15 %), 2 states
 * + 1 bool (15 %), 2 setpoints (10 %). */
static enum plant_class plant_class_of(uint32_t tag)
{
    static const enum plant_class pattern[20] = {
        PLANT_ANALOG,      PLANT_ANALOG,  PLANT_COUNTER,     PLANT_ANALOG,   PLANT_STATE,
        PLANT_TEMPERATURE, PLANT_ANALOG,  PLANT_SETPOINT,    PLANT_ANALOG,   PLANT_COUNTER,
        PLANT_ANALOG,      PLANT_BOOL,    PLANT_TEMPERATURE, PLANT_ANALOG,   PLANT_STATE,
        PLANT_ANALOG,      PLANT_COUNTER, PLANT_TEMPERATURE, PLANT_SETPOINT, PLANT_ANALOG,
    };
    return pattern[tag % 20];
}

static enum value_type plant_type_of(enum plant_class c)
{
    switch (c) {
    case PLANT_COUNTER:
        return VALUE_UINT64;
    case PLANT_STATE:
        return VALUE_INT64;
    case PLANT_BOOL:
        return VALUE_BOOL;
    default:
        return VALUE_DOUBLE;
    }
}

/* Fills s with `seconds` samples of tag (deterministic in tag). Analog
 * values are a process value (mean-reverting random walk whose target moves
 * now and then) plus measurement noise, quantised to the transmitter's
 * resolution as integer counts / 10^decimals (a 16-bit ADC scaled to
 * engineering units). About 1 % of tags have a 60 s communication outage
 * (Uncertain, last usable value held), 0.1 % a Bad one. */
static void plant_generate(uint32_t tag, size_t seconds, struct series *s)
{
    enum plant_class cls = plant_class_of(tag);
    uint64_t rng = 0xA1F0C0DEull ^ ((uint64_t)tag * 0x9E3779B97F4A7C15ull);
    s->type = plant_type_of(cls);
    s->n = seconds;
    s->bits = xcalloc(seconds, sizeof *s->bits);
    snprintf(s->name, sizeof s->name, "plant/area%02u/unit%03u/tag%05u", tag / 1000,
             (tag / 20) % 1000, tag);

    double scale = 10, span = 10000, level = 0, target = 0, tau = 300, walk = 0, noise = 0;
    uint64_t counter = 0, rate = 0;
    int64_t state = 0, states = 2;
    bool running = true;
    switch (cls) {
    case PLANT_ANALOG:
        scale = rng_chance(&rng, 2.0 / 3) ? 100 : 10;
        span = 2000 + rng_uniform(&rng) * 28000;
        level = target = span * (0.2 + 0.6 * rng_uniform(&rng));
        tau = 60 + rng_uniform(&rng) * 540;
        walk = 0.2 + rng_uniform(&rng) * 1.8;
        noise = 0.5 + rng_uniform(&rng) * 2.5;
        break;
    case PLANT_TEMPERATURE:
        scale = 10;
        span = 1500;
        level = target = 150 + rng_uniform(&rng) * 800; /* 15.0 to 95.0 degrees */
        tau = 300;
        walk = 0.05;
        noise = 0.3;
        break;
    case PLANT_COUNTER:
        counter = rng_next(&rng) % 1000000000u;
        rate = rng_chance(&rng, 0.5) ? 0 : 10 + rng_next(&rng) % 2000;
        break;
    case PLANT_STATE:
        states = 3 + (int64_t)(rng_next(&rng) % 6);
        state = (int64_t)(rng_next(&rng) % (uint64_t)states);
        break;
    case PLANT_BOOL:
        state = rng_chance(&rng, 0.3);
        break;
    case PLANT_SETPOINT:
        level = (double)(100 + rng_next(&rng) % 9000); /* counts of 0.1 */
        break;
    default:
        break;
    }

    for (size_t t = 0; t < seconds; t++) {
        switch (cls) {
        case PLANT_ANALOG:
        case PLANT_TEMPERATURE: {
            if (cls == PLANT_ANALOG && rng_chance(&rng, 1.0 / 1200))
                target += span * 0.1 * rng_gauss(&rng);
            if (cls == PLANT_TEMPERATURE) target += walk * rng_gauss(&rng);
            if (target < span * 0.05) target = span * 0.05;
            if (target > span * 0.95) target = span * 0.95;
            level += (target - level) / tau + (cls == PLANT_ANALOG ? walk * rng_gauss(&rng) : 0);
            double counts = llround(level + noise * rng_gauss(&rng));
            if (counts < 0) counts = 0;
            if (counts > span) counts = floor(span);
            s->bits[t] = f64_bits(counts / scale);
            break;
        }
        case PLANT_COUNTER:
            if (rng_chance(&rng, 1.0 / 1800)) running = !running;
            if (running) {
                if (rate == 0)
                    counter += rng_chance(&rng, 0.3) ? 1 + rng_next(&rng) % 3 : 0; /* pulses */
                else
                    counter += (uint64_t)llround((double)rate * (1 + 0.02 * rng_gauss(&rng)));
            }
            s->bits[t] = counter;
            break;
        case PLANT_STATE:
            if (rng_chance(&rng, 1.0 / 600)) state = (int64_t)(rng_next(&rng) % (uint64_t)states);
            s->bits[t] = (uint64_t)state;
            break;
        case PLANT_BOOL:
            if (rng_chance(&rng, 1.0 / 900)) state = !state;
            s->bits[t] = (uint64_t)state;
            break;
        case PLANT_SETPOINT:
            if (rng_chance(&rng, 1.0 / 1800)) level += llround(level * 0.05 * rng_gauss(&rng));
            if (level < 1) level = 1;
            s->bits[t] = f64_bits(level / 10);
            break;
        default:
            break;
        }
    }

    uint64_t outage = rng_next(&rng);
    if (outage % 100 == 0 || outage % 1000 == 1) {
        quality_t q = outage % 100 == 0 ? QUALITY_UNCERTAIN_LAST_USABLE_VALUE
                                        : QUALITY_BAD_COMMUNICATION_ERROR;
        size_t from = (size_t)(rng_next(&rng) % seconds), to = from + 60;
        if (to > seconds) to = seconds;
        s->quality = xcalloc(seconds, sizeof *s->quality);
        for (size_t t = from; t < to; t++) {
            s->quality[t] = q;
            if (t > 0) s->bits[t] = s->bits[t - 1];
        }
    }
}

/* ------------------------------------------------------------------ */
/* codec level: chunks as the store would cut them, and Gorilla */

struct cost {
    uint64_t points;
    uint64_t chunk_bytes; /* whole chunks: header + blocks */
    uint64_t value_bytes; /* the values blocks only */
    uint64_t gorilla_bytes;
    uint64_t chunks;
    char scheme[24]; /* values scheme of the largest chunk */
};

static void cost_add(struct cost *into, const struct cost *c)
{
    into->points += c->points;
    into->chunk_bytes += c->chunk_bytes;
    into->value_bytes += c->value_bytes;
    into->gorilla_bytes += c->gorilla_bytes;
    into->chunks += c->chunks;
}

/* Copies s[from..to) into columns c (cleared first). */
static void fill_columns(struct hist_columns *c, const struct series *s, size_t from, size_t to)
{
    hist_columns_clear(c);
    if (!hist_columns_reserve(c, (uint32_t)(to - from))) die("out of memory");
    for (size_t i = from; i < to; i++) {
        struct value v = series_value(s, i);
        int64_t ts = (BENCH_T0_S + (int64_t)i) * HIST_NS_PER_S;
        if (!hist_columns_push(c, ts, series_quality(s, i), &v)) die("out of memory");
    }
}

/* Dies unless c holds exactly s[from..from + c->count) with expect samples. */
static void check_columns(const struct hist_columns *c, const struct series *s, size_t from,
                          size_t expect, const char *what)
{
    if (c->count != expect)
        die("%s of %s: %u samples back, %zu expected", what, s->name, c->count, expect);
    for (size_t k = 0; k < expect; k++) {
        size_t i = from + k;
        bool same = c->ts[k] == (BENCH_T0_S + (int64_t)i) * HIST_NS_PER_S &&
                    c->quality[k] == series_quality(s, i);
        switch (s->type) {
        case VALUE_BOOL:
            same = same && (c->b[k] != 0) == (s->bits[i] != 0);
            break;
        case VALUE_INT64:
        case VALUE_UINT64:
            same = same && (uint64_t)c->i64[k] == s->bits[i];
            break;
        default:
            same = same && f64_bits(c->f64[k]) == s->bits[i];
            break;
        }
        if (!same) die("%s of %s: sample %zu differs", what, s->name, i);
    }
}

/* The scheme byte of the values block of a chunk (blocks: timestamps,
 * qualities, values), or -1 when the layout is not that. */
static int values_block(const uint8_t *chunk, size_t len, uint32_t n, size_t *value_bytes)
{
    if (len < HIST_CHUNK_HEADER_BYTES) return -1;
    const uint8_t *p = chunk + HIST_CHUNK_HEADER_BYTES;
    size_t rest = len - HIST_CHUNK_HEADER_BYTES, used = 0;
    int64_t *ts = xcalloc(n, sizeof *ts);
    uint32_t *q = xcalloc(n, sizeof *q);
    int scheme = -1;
    if (hc_decode_ts(p, rest, n, ts, &used)) {
        p += used;
        rest -= used;
        if (hc_decode_u32(p, rest, n, q, &used) && used < rest) {
            scheme = p[used];
            *value_bytes = rest - used;
        }
    }
    free(ts);
    free(q);
    return scheme;
}

/* Encodes s as the store's chunks would be cut with default options (no
 * chunk across an hour boundary, at most 8,192 samples), checks each
 * decodes bit-exact, and encodes it with Gorilla (checked too). */
static struct cost measure_codecs(const struct series *s, uint32_t series_id)
{
    struct cost c = {.points = s->n};
    struct hist_columns cols, back;
    hist_columns_init(&cols, s->type);
    hist_columns_init(&back, s->type);
    struct hc_buf buf;
    hc_buf_init(&buf);
    uint32_t largest = 0;
    snprintf(c.scheme, sizeof c.scheme, "?");
    for (size_t from = 0; from < s->n;) {
        size_t to = from + 1;
        int64_t hour = (BENCH_T0_S + (int64_t)from) / 3600;
        while (to < s->n && to - from < 8192 && (BENCH_T0_S + (int64_t)to) / 3600 == hour)
            to++;
        fill_columns(&cols, s, from, to);
        buf.len = 0;
        struct hist_chunk_header h;
        if (!hist_chunk_encode(&buf, series_id, &cols, &h)) die("hist_chunk_encode failed");
        char why[256] = "";
        hist_columns_clear(&back);
        if (!hist_chunk_decode(buf.data, buf.len, &back, why, sizeof why))
            die("hist_chunk_decode of %s: %s", s->name, why);
        check_columns(&back, s, from, to - from, "chunk round trip");
        size_t vb = 0;
        int scheme = values_block(buf.data, buf.len, cols.count, &vb);
        c.value_bytes += vb;
        if (cols.count > largest && scheme >= 0) {
            largest = cols.count;
            snprintf(c.scheme, sizeof c.scheme, "%s", hc_scheme_name((uint8_t)scheme));
        }
        c.chunk_bytes += buf.len;
        c.chunks++;
        from = to;
    }
    hc_buf_free(&buf);
    hist_columns_free(&cols);
    hist_columns_free(&back);

    /* Gorilla: seconds and doubles, as in the paper */
    int64_t *t = xcalloc(s->n, sizeof *t), *t2 = xcalloc(s->n, sizeof *t2);
    double *v = xcalloc(s->n, sizeof *v), *v2 = xcalloc(s->n, sizeof *v2);
    for (size_t i = 0; i < s->n; i++) {
        t[i] = BENCH_T0_S + (int64_t)i;
        v[i] = series_double(s, i);
    }
    struct gorilla_bits g;
    gorilla_bits_init(&g);
    c.gorilla_bytes = gorilla_encode_series(&g, t, v, s->n);
    if (g.oom || !gorilla_decode_series(&g, t, s->n, t2, v2)) die("gorilla failed on %s", s->name);
    for (size_t i = 0; i < s->n; i++)
        if (t2[i] != t[i] || f64_bits(v2[i]) != f64_bits(v[i]))
            die("gorilla round trip of %s differs at %zu", s->name, i);
    gorilla_bits_free(&g);
    free(t);
    free(t2);
    free(v);
    free(v2);
    return c;
}

static double per_point(uint64_t bytes, uint64_t points)
{
    return points ? (double)bytes / (double)points : 0;
}

/* ------------------------------------------------------------------ */
/* store level */

static uint64_t tree_bytes, tree_files;

static int tree_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F) {
        tree_bytes += (uint64_t)st->st_size;
        tree_files++;
    }
    return 0;
}

/* Sum of the sizes of every file under dir. */
static uint64_t dir_bytes(const char *dir, uint64_t *files)
{
    tree_bytes = tree_files = 0;
    nftw(dir, tree_visit, 16, FTW_PHYS);
    if (files) *files = tree_files;
    return tree_bytes;
}

static int tree_evict(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_F) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    return 0;
}

/* Asks the kernel to drop the page cache of every file under dir. */
static void evict_page_cache(const char *dir)
{
    nftw(dir, tree_evict, 16, FTW_PHYS);
}

static int tree_remove(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, tree_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *fs_name(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) != 0) return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        return "ext4 (or ext2/3)";
    case 0x01021994:
        return "tmpfs";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x794C7630:
        return "overlayfs";
    case 0x65735546:
        return "fuse";
    default:
        return "other";
    }
}

static struct historian *open_store(const char *dir)
{
    struct hist_options o;
    hist_options_init(&o);
    o.dir = dir;
    o.durability = HIST_DURABILITY_BATCHED;
    o.background = false; /* maintenance is called here, so its CPU time is counted */
    char err[512] = "";
    struct historian *h = hist_open(&o, err, sizeof err);
    if (!h) die("hist_open %s: %s", dir, err);
    return h;
}

static void check_stats_clean(struct historian *h, const char *what)
{
    struct hist_stats st;
    hist_get_stats(h, &st);
    if (st.degraded || st.corrupt_chunks || st.samples_rejected_late || st.samples_rejected_other)
        die("%s: store degraded=%d corrupt=%" PRIu64 " rejected=%" PRIu64 "+%" PRIu64
            " last error: %s",
            what, st.degraded, st.corrupt_chunks, st.samples_rejected_late,
            st.samples_rejected_other, st.last_error);
}

/* A rate measured in CPU and wall time. */
struct timing {
    double cpu, wall;
};

static void timing_add(struct timing *t, double cpu0, double wall0)
{
    t->cpu += cpu_seconds() - cpu0;
    t->wall += wall_seconds() - wall0;
}

/* Appends samples (already built) in batches of BENCH_BATCH, then lets
 * the store do its maintenance; timed. */
static void append_timed(struct historian *h, const struct hist_sample *samples, size_t n,
                         struct timing *t)
{
    double c0 = cpu_seconds(), w0 = wall_seconds();
    for (size_t i = 0; i < n; i += BENCH_BATCH) {
        size_t k = n - i < BENCH_BATCH ? n - i : BENCH_BATCH, accepted = 0;
        if (!hist_append(h, samples + i, k, &accepted) || accepted != k)
            die("hist_append: %zu of %zu accepted", accepted, k);
    }
    hist_maintain(h);
    timing_add(t, c0, w0);
}

/* Sync + checkpoint, then compaction, timed apart. */
static void flush_timed(struct historian *h, struct timing *flush, struct timing *compact)
{
    double c0 = cpu_seconds(), w0 = wall_seconds();
    if (!hist_sync(h)) die("hist_sync failed");
    if (!hist_checkpoint(h)) die("hist_checkpoint failed");
    timing_add(flush, c0, w0);
    c0 = cpu_seconds();
    w0 = wall_seconds();
    if (!hist_compact(h)) die("hist_compact failed");
    timing_add(compact, c0, w0);
}

struct store_result {
    uint64_t points;
    uint64_t bytes, files;
    struct timing ingest, flush, compact, read;
    uint64_t read_points;
    struct hist_stats stats; /* after checkpoint and compaction */
};

/* Writes series [0, n) into a new store at dir, interleaved in time (every
 * second, one sample of each series, as a gateway would), checkpoints and
 * compacts, measures the directory, then reads every series back (timed)
 * and checks it bit-exact. */
static struct store_result store_series(const char *dir, const struct series *all, size_t n)
{
    struct store_result r = {0};
    struct historian *h = open_store(dir);
    uint32_t *ids = xcalloc(n, sizeof *ids);
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t id = hist_series(h, all[i].name, all[i].type);
        if (id < 0) die("hist_series %s failed", all[i].name);
        ids[i] = (uint32_t)id;
        if (all[i].n > longest) longest = all[i].n;
        r.points += all[i].n;
    }
    /* a second's samples of every series, appended together */
    size_t per_round = n < 100000 ? 100000 / n * n : n;
    size_t seconds_per_round = per_round / n ? per_round / n : 1;
    struct hist_sample *batch = xcalloc(seconds_per_round * n, sizeof *batch);
    for (size_t t0 = 0; t0 < longest; t0 += seconds_per_round) {
        size_t k = 0;
        for (size_t t = t0; t < t0 + seconds_per_round && t < longest; t++)
            for (size_t i = 0; i < n; i++) {
                if (t >= all[i].n) continue;
                batch[k].series = ids[i];
                batch[k].quality = series_quality(&all[i], t);
                batch[k].ts_ns = (BENCH_T0_S + (int64_t)t) * HIST_NS_PER_S;
                batch[k].value = series_value(&all[i], t);
                k++;
            }
        append_timed(h, batch, k, &r.ingest);
    }
    free(batch);
    flush_timed(h, &r.flush, &r.compact);
    check_stats_clean(h, dir);
    hist_get_stats(h, &r.stats);
    r.bytes = dir_bytes(dir, &r.files);

    struct hist_columns c;
    for (size_t i = 0; i < n; i++) {
        hist_columns_init(&c, all[i].type);
        char why[256] = "";
        bool truncated = true;
        double c0 = cpu_seconds(), w0 = wall_seconds();
        bool ok = hist_read_raw(h, ids[i], BENCH_T0_S * HIST_NS_PER_S,
                                (BENCH_T0_S + (int64_t)all[i].n) * HIST_NS_PER_S, 0, &c, &truncated,
                                why, sizeof why);
        timing_add(&r.read, c0, w0);
        if (!ok) die("hist_read_raw %s: %s", all[i].name, why);
        check_columns(&c, &all[i], 0, all[i].n, "store read");
        r.read_points += c.count;
        hist_columns_free(&c);
    }
    check_stats_clean(h, dir);
    hist_close(h);
    free(ids);
    return r;
}

/* ------------------------------------------------------------------ */
/* the one-year tag */

/* A process temperature in degrees at 0.01 resolution: seasonal and daily
 * cycles, a slow random walk and measurement noise. */
struct year_gen {
    uint64_t rng;
    double walk;
};

static double year_value(struct year_gen *g, int64_t t)
{
    const double two_pi = 6.283185307179586;
    g->walk += 0.002 * rng_gauss(&g->rng);
    if (g->walk > 3) g->walk = 3;
    if (g->walk < -3) g->walk = -3;
    double v = 55 + 8 * sin(two_pi * (double)t / (365.0 * 86400)) +
               2.5 * sin(two_pi * (double)t / 86400) + g->walk + 0.02 * rng_gauss(&g->rng);
    return (double)llround(v * 100) / 100;
}

struct year_result {
    uint64_t points, bytes, files, segments, chunks, fsyncs, checkpoints, log_bytes;
    struct timing ingest, flush, compact, read;
    double open_ms, cold_ms, warm_ms, cold_open_ms; /* medians */
    int cold_runs, warm_runs;
};

static void check_year_buckets(const struct hist_bucket *b, size_t count, const double *hour_sum,
                               size_t hours)
{
    if (count != hours) die("year aggregate: %zu buckets, %zu expected", count, hours);
    for (size_t i = 0; i < hours; i++) {
        double expect = hour_sum[i] / 3600;
        if (b[i].count != 3600 || fabs(b[i].value - expect) > 1e-9 * fabs(expect) + 1e-9)
            die("year aggregate: bucket %zu is %.12g (count %u), %.12g expected", i, b[i].value,
                b[i].count, expect);
    }
}

/* Times one hourly average over the whole range; checks it. */
static double year_aggregate_ms(struct historian *h, uint32_t id, size_t days,
                                const double *hour_sum)
{
    struct hist_bucket *b = NULL;
    size_t count = 0;
    char why[256] = "";
    double w0 = wall_seconds();
    bool ok = hist_aggregate(h, id, BENCH_T0_S * HIST_NS_PER_S,
                             (BENCH_T0_S + (int64_t)days * 86400) * HIST_NS_PER_S,
                             3600 * HIST_NS_PER_S, HIST_AGG_AVG, &b, &count, why, sizeof why);
    double ms = (wall_seconds() - w0) * 1e3;
    if (!ok) die("hist_aggregate: %s", why);
    check_year_buckets(b, count, hour_sum, days * 24);
    free(b);
    return ms;
}

static struct year_result year_store(const char *dir, size_t days)
{
    struct year_result r = {0};
    size_t seconds = days * 86400, hours = days * 24;
    double *hour_sum = xcalloc(hours, sizeof *hour_sum);
    struct historian *h = open_store(dir);
    int64_t id = hist_series(h, "plant/utilities/boiler1/steam_temperature", VALUE_DOUBLE);
    if (id < 0) die("hist_series failed");
    struct year_gen gen = {.rng = 2026};
    enum { ROUND = 100000 };
    struct hist_sample *batch = xcalloc(ROUND, sizeof *batch);
    for (size_t t0 = 0; t0 < seconds; t0 += ROUND) {
        size_t k = 0;
        for (size_t t = t0; t < t0 + ROUND && t < seconds; t++, k++) {
            double v = year_value(&gen, (int64_t)t);
            hour_sum[t / 3600] += v;
            batch[k] = (struct hist_sample){.series = (uint32_t)id,
                                            .quality = QUALITY_GOOD,
                                            .ts_ns = (BENCH_T0_S + (int64_t)t) * HIST_NS_PER_S,
                                            .value = value_double(v)};
        }
        append_timed(h, batch, k, &r.ingest);
    }
    free(batch);
    r.points = seconds;
    flush_timed(h, &r.flush, &r.compact);
    check_stats_clean(h, dir);
    struct hist_stats st;
    hist_get_stats(h, &st);
    r.fsyncs = st.fsyncs;
    r.checkpoints = st.checkpoints;
    r.log_bytes = st.log_bytes;
    r.segments = st.segments;
    r.chunks = st.chunks;
    r.bytes = dir_bytes(dir, &r.files);

    /* raw read of the whole year, a day at a time */
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    uint64_t read_points = 0;
    for (size_t d = 0; d < days; d++) {
        hist_columns_clear(&c);
        char why[256] = "";
        double c0 = cpu_seconds(), w0 = wall_seconds();
        bool ok = hist_read_raw(h, (uint32_t)id, (BENCH_T0_S + (int64_t)d * 86400) * HIST_NS_PER_S,
                                (BENCH_T0_S + (int64_t)(d + 1) * 86400) * HIST_NS_PER_S, 0, &c,
                                NULL, why, sizeof why);
        timing_add(&r.read, c0, w0);
        if (!ok || c.count != 86400) die("year read day %zu: %u samples; %s", d, c.count, why);
        read_points += c.count;
    }
    hist_columns_free(&c);
    if (read_points != r.points) die("year read: %" PRIu64 " points", read_points);

    /* warm: the store open, its files in the page cache */
    double warm[9];
    r.warm_runs = 9;
    year_aggregate_ms(h, (uint32_t)id, days, hour_sum); /* first touch */
    for (int i = 0; i < r.warm_runs; i++)
        warm[i] = year_aggregate_ms(h, (uint32_t)id, days, hour_sum);
    r.warm_ms = median(warm, (size_t)r.warm_runs);
    hist_close(h);

    /* cold: files evicted from the page cache, the store just opened */
    double cold[5], opens[5], both[5];
    r.cold_runs = 5;
    for (int i = 0; i < r.cold_runs; i++) {
        evict_page_cache(dir);
        double w0 = wall_seconds();
        h = open_store(dir);
        opens[i] = (wall_seconds() - w0) * 1e3;
        cold[i] = year_aggregate_ms(h, (uint32_t)id, days, hour_sum);
        both[i] = opens[i] + cold[i];
        hist_close(h);
    }
    r.cold_ms = median(cold, (size_t)r.cold_runs);
    r.open_ms = median(opens, (size_t)r.cold_runs);
    r.cold_open_ms = median(both, (size_t)r.cold_runs);
    free(hour_sum);
    return r;
}

/* ------------------------------------------------------------------ */
/* the report */

static void print_codec_table(const struct series *s, const struct cost *c, size_t n,
                              struct cost *sensor_total, struct cost *all_total)
{
    printf("| series | points | airlock chunks B/pt | of which values B/pt | values scheme | "
           "Gorilla B/pt | Gorilla / airlock |\n");
    printf("| --- | ---: | ---: | ---: | --- | ---: | ---: |\n");
    for (size_t i = 0; i < n; i++) {
        printf("| %s%s | %" PRIu64 " | %.3f | %.3f | %s | %.3f | %.2fx |\n", s[i].name,
               is_sensor_series(&s[i]) ? "" : " (non-sensor control)", c[i].points,
               per_point(c[i].chunk_bytes, c[i].points), per_point(c[i].value_bytes, c[i].points),
               c[i].scheme, per_point(c[i].gorilla_bytes, c[i].points),
               (double)c[i].gorilla_bytes / (double)c[i].chunk_bytes);
        if (is_sensor_series(&s[i])) cost_add(sensor_total, &c[i]);
        cost_add(all_total, &c[i]);
    }
    const struct cost *tot[2] = {sensor_total, all_total};
    const char *names[2] = {"**sensor series (all but stocks)**", "**all series**"};
    for (int k = 0; k < 2; k++)
        printf("| %s | %" PRIu64 " | %.3f | %.3f | | %.3f | %.2fx |\n", names[k], tot[k]->points,
               per_point(tot[k]->chunk_bytes, tot[k]->points),
               per_point(tot[k]->value_bytes, tot[k]->points),
               per_point(tot[k]->gorilla_bytes, tot[k]->points),
               (double)tot[k]->gorilla_bytes / (double)tot[k]->chunk_bytes);
}

struct options {
    const char *alp_dir;
    const char *tmp_dir;
    uint32_t tags;
    size_t year_days;
    bool keep;
};

static struct options parse_options(int argc, char **argv)
{
    struct options o = {
        .alp_dir = "../shared/datasets/alp", .tmp_dir = "/tmp", .tags = 10000, .year_days = 365};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--alp") == 0 && i + 1 < argc)
            o.alp_dir = argv[++i];
        else if (strcmp(argv[i], "--tmp") == 0 && i + 1 < argc)
            o.tmp_dir = argv[++i];
        else if (strcmp(argv[i], "--tags") == 0 && i + 1 < argc)
            o.tags = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--year-days") == 0 && i + 1 < argc)
            o.year_days = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0)
            o.keep = true;
        else
            die("usage: bench_historian [--alp DIR] [--tmp DIR] [--tags N] [--year-days N] "
                "[--keep]");
    }
    if (o.tags < 20 || o.year_days < 1) die("--tags must be >= 20 and --year-days >= 1");
    return o;
}

int main(int argc, char **argv)
{
    struct options opt = parse_options(argc, argv);
    char base[1024];
    snprintf(base, sizeof base, "%s/airlock-bench-XXXXXX", opt.tmp_dir);
    if (!mkdtemp(base)) die("mkdtemp %s: %s", base, strerror(errno));
    char num[3][32];

    printf("Timestamps: regular 1 s from 2026-01-01T00:00:00Z for every series (assigned by "
           "the benchmark); quality Good unless stated. Stores in `%s` (%s), durability "
           "`batched` (fsync every 1000 ms), default chunking (1 h spans, <= 8,192 samples), "
           "maintenance called by the benchmark (no background thread). Gorilla: the paper's "
           "encoding, 2 h blocks, timestamps in seconds, no quality and no index (favours "
           "Gorilla).\n\n",
           base, fs_name(base));

    /* ---- ALP series ---- */
    size_t alp_n = 0;
    struct series *alp = load_alp(opt.alp_dir, &alp_n);
    struct cost *alp_cost = xcalloc(alp_n, sizeof *alp_cost);
    for (size_t i = 0; i < alp_n; i++)
        alp_cost[i] = measure_codecs(&alp[i], (uint32_t)i);
    printf("### Real series (`datasets/alp`), codec level (chunks as the store cuts them, no "
           "files)\n\n");
    struct cost alp_sensor = {0}, alp_all = {0};
    print_codec_table(alp, alp_cost, alp_n, &alp_sensor, &alp_all);

    struct series *sensors = xcalloc(alp_n, sizeof *sensors);
    size_t sensor_n = 0;
    for (size_t i = 0; i < alp_n; i++)
        if (is_sensor_series(&alp[i])) sensors[sensor_n++] = alp[i]; /* shallow: shares arrays */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/alp-sensor", base);
    struct store_result alp_store = store_series(dir, sensors, sensor_n);
    snprintf(dir, sizeof dir, "%s/alp-all", base);
    struct store_result alp_all_store = store_series(dir, alp, alp_n);
    free(sensors);

    /* ---- plant mix ---- */
    struct series *plant = xcalloc(opt.tags, sizeof *plant);
    struct cost class_cost[PLANT_CLASSES] = {{0}}, plant_total = {0};
    uint32_t class_tags[PLANT_CLASSES] = {0};
    for (uint32_t t = 0; t < opt.tags; t++) {
        plant_generate(t, PLANT_SECONDS, &plant[t]);
        struct cost c = measure_codecs(&plant[t], t);
        enum plant_class cls = plant_class_of(t);
        cost_add(&class_cost[cls], &c);
        cost_add(&plant_total, &c);
        class_tags[cls]++;
    }
    printf("\n### Generated plant mix, codec level: %u tags x %d s at 1 s\n\n", opt.tags,
           PLANT_SECONDS);
    printf("Deterministic generator: analog values are a process value (mean-reverting random "
           "walk, occasional set changes) plus measurement noise, quantised to the "
           "transmitter's resolution as counts / 10^decimals; counters increase (pulses or "
           "totalisers, stopping now and then); states and bools change every 10-15 min on "
           "average; setpoints every 30 min. About 1 %% of tags have a 60 s communication "
           "outage (Uncertain, value held), 0.1 %% a Bad one. Gorilla gets every value as a "
           "double.\n\n");
    printf("| class | tags | points | airlock chunks B/pt | of which values B/pt | Gorilla B/pt | "
           "Gorilla / airlock |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int k = 0; k < PLANT_CLASSES; k++)
        printf("| %s | %u | %s | %.3f | %.3f | %.3f | %.2fx |\n", plant_class_names[k],
               class_tags[k], grouped((double)class_cost[k].points, num[0], sizeof num[0]),
               per_point(class_cost[k].chunk_bytes, class_cost[k].points),
               per_point(class_cost[k].value_bytes, class_cost[k].points),
               per_point(class_cost[k].gorilla_bytes, class_cost[k].points),
               (double)class_cost[k].gorilla_bytes / (double)class_cost[k].chunk_bytes);
    printf("| **all** | %u | %s | %.3f | %.3f | %.3f | %.2fx |\n", opt.tags,
           grouped((double)plant_total.points, num[0], sizeof num[0]),
           per_point(plant_total.chunk_bytes, plant_total.points),
           per_point(plant_total.value_bytes, plant_total.points),
           per_point(plant_total.gorilla_bytes, plant_total.points),
           (double)plant_total.gorilla_bytes / (double)plant_total.chunk_bytes);
    fflush(stdout);

    snprintf(dir, sizeof dir, "%s/plant", base);
    struct store_result plant_store = store_series(dir, plant, opt.tags);
    for (uint32_t t = 0; t < opt.tags; t++)
        series_free(&plant[t]);
    free(plant);

    /* ---- one year of one tag ---- */
    snprintf(dir, sizeof dir, "%s/year", base);
    struct year_result year = year_store(dir, opt.year_days);

    /* ---- tables ---- */
    printf("\n### Bytes per point on disk (store directory after checkpoint + compaction: "
           "segments, index, log, manifest, catalogue)\n\n");
    printf("| data | points | files | airlock on disk B/pt | Gorilla B/pt (same points) | "
           "Gorilla / airlock | InfluxDB 1.6 (ref) | VictoriaMetrics 1.79 (ref, lossy) |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    double alp_bpp = per_point(alp_store.bytes, alp_store.points);
    double alp_gorilla = per_point(alp_sensor.gorilla_bytes, alp_sensor.points);
    printf("| ALP sensor series (all but stocks) | %" PRIu64 " | %" PRIu64
           " | %.3f | %.3f | %.2fx | %.2f | %.2f |\n",
           alp_store.points, alp_store.files, alp_bpp, alp_gorilla, alp_gorilla / alp_bpp,
           REF_ALP_INFLUX, REF_ALP_VM);
    double alp_all_bpp = per_point(alp_all_store.bytes, alp_all_store.points);
    double alp_all_gorilla = per_point(alp_all.gorilla_bytes, alp_all.points);
    printf("| ALP, all series | %" PRIu64 " | %" PRIu64 " | %.3f | %.3f | %.2fx | | |\n",
           alp_all_store.points, alp_all_store.files, alp_all_bpp, alp_all_gorilla,
           alp_all_gorilla / alp_all_bpp);
    double plant_bpp = per_point(plant_store.bytes, plant_store.points);
    double plant_gorilla = per_point(plant_total.gorilla_bytes, plant_total.points);
    printf("| plant mix, %u tags x 3,600 s | %s | %" PRIu64 " | %.3f | %.3f | %.2fx | %.2f | "
           "%.2f |\n",
           opt.tags, grouped((double)plant_store.points, num[0], sizeof num[0]), plant_store.files,
           plant_bpp, plant_gorilla, plant_gorilla / plant_bpp, REF_PLANT_INFLUX, REF_PLANT_VM);
    printf("| one tag, %zu days at 1 s | %s | %" PRIu64 " | %.3f | | | | |\n", opt.year_days,
           grouped((double)year.points, num[0], sizeof num[0]), year.files,
           per_point(year.bytes, year.points));
    printf("\nReferences from `../shared/BENCHMARKS.md`: their ALP row is 140,288 points "
           "(Gorilla %.2f there), their plant 1,000 tags (Gorilla %.2f there).\n",
           REF_ALP_GORILLA, REF_PLANT_GORILLA);

    printf("\n### Speed (CPU = user + system from getrusage, so rates are per core)\n\n");
    printf("| measurement | points | CPU s | wall s | points per CPU-second |\n");
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    double plant_ingest_cpu = plant_store.ingest.cpu + plant_store.flush.cpu;
    double plant_ingest_pps = (double)plant_store.points / plant_ingest_cpu;
    printf("| ingest, plant mix (append in batches of %d + maintenance + sync + checkpoint) | "
           "%s | %.3f | %.3f | %s |\n",
           BENCH_BATCH, grouped((double)plant_store.points, num[0], sizeof num[0]),
           plant_ingest_cpu, plant_store.ingest.wall + plant_store.flush.wall,
           grouped(plant_ingest_pps, num[1], sizeof num[1]));
    printf("| ... of which the final sync + checkpoint | | %.3f | %.3f | |\n",
           plant_store.flush.cpu, plant_store.flush.wall);
    printf("| ... plus compaction | | %.3f | %.3f | %s (with compaction) |\n",
           plant_store.compact.cpu, plant_store.compact.wall,
           grouped((double)plant_store.points / (plant_ingest_cpu + plant_store.compact.cpu),
                   num[2], sizeof num[2]));
    double year_ingest_cpu = year.ingest.cpu + year.flush.cpu;
    printf("| ingest, one tag x %zu days (same) | %s | %.3f | %.3f | %s |\n", opt.year_days,
           grouped((double)year.points, num[0], sizeof num[0]), year_ingest_cpu,
           year.ingest.wall + year.flush.wall,
           grouped((double)year.points / year_ingest_cpu, num[1], sizeof num[1]));
    printf(
        "| ... plus compaction | | %.3f | %.3f | %s (with compaction) |\n", year.compact.cpu,
        year.compact.wall,
        grouped((double)year.points / (year_ingest_cpu + year.compact.cpu), num[2], sizeof num[2]));
    printf("| ... durability work during these ingests | plant: %" PRIu64 " fsyncs, %" PRIu64
           " checkpoints, log %.3f B/pt; year: %" PRIu64 " fsyncs, %" PRIu64
           " checkpoints, log %.3f B/pt | | | |\n",
           plant_store.stats.fsyncs, plant_store.stats.checkpoints,
           per_point(plant_store.stats.log_bytes, plant_store.points), year.fsyncs,
           year.checkpoints, per_point(year.log_bytes, year.points));
    double read_many_pps = (double)plant_store.read_points / plant_store.read.cpu;
    printf("| raw read, %u series x 1 h (hist_read_raw per series) | %s | %.3f | %.3f | %s |\n",
           opt.tags, grouped((double)plant_store.read_points, num[0], sizeof num[0]),
           plant_store.read.cpu, plant_store.read.wall,
           grouped(read_many_pps, num[1], sizeof num[1]));
    double read_one_pps = (double)year.points / year.read.cpu;
    printf("| raw read, one series x %zu days (a day per call) | %s | %.3f | %.3f | %s |\n",
           opt.year_days, grouped((double)year.points, num[0], sizeof num[0]), year.read.cpu,
           year.read.wall, grouped(read_one_pps, num[1], sizeof num[1]));

    printf("\n### Hourly average over %zu days of a 1 s tag (%s points, %" PRIu64
           " chunks in %" PRIu64 " segments)\n\n",
           opt.year_days, grouped((double)year.points, num[0], sizeof num[0]), year.chunks,
           year.segments);
    printf("| run | median ms | runs |\n| --- | ---: | ---: |\n");
    printf("| warm (store open, files cached) | %.3f | %d |\n", year.warm_ms, year.warm_runs);
    printf("| cold (page cache dropped with posix_fadvise, store just opened) | %.3f | %d |\n",
           year.cold_ms, year.cold_runs);
    printf("| (hist_open before a cold run, not included above) | %.3f | %d |\n", year.open_ms,
           year.cold_runs);
    printf("| cold including hist_open | %.3f | %d |\n", year.cold_open_ms, year.cold_runs);

    printf("\n### Against the targets of issue 3\n\n");
    printf("| target | measured | result |\n| --- | --- | --- |\n");
    printf("| >= %.0fx smaller than Gorilla on the ALP sensor series (on disk) | %.2fx (%.3f vs "
           "%.3f B/pt) | %s |\n",
           TARGET_GORILLA_RATIO, alp_gorilla / alp_bpp, alp_bpp, alp_gorilla,
           pass_fail(alp_gorilla / alp_bpp >= TARGET_GORILLA_RATIO));
    printf("| <= %.1f byte per point on the plant mix (on disk) | %.3f B/pt | %s |\n",
           TARGET_PLANT_BPP, plant_bpp, pass_fail(plant_bpp <= TARGET_PLANT_BPP));
    printf("| >= 10 million points/s per core ingest (plant mix, durable) | %s | %s |\n",
           grouped(plant_ingest_pps, num[0], sizeof num[0]),
           pass_fail(plant_ingest_pps >= TARGET_INGEST_PPS));
    double read_pps = read_one_pps < read_many_pps ? read_one_pps : read_many_pps;
    printf("| >= 100 million points/s per core raw read (the lower of one / many series) | %s | "
           "%s |\n",
           grouped(read_pps, num[0], sizeof num[0]), pass_fail(read_pps >= TARGET_READ_PPS));
    double agg_ms = year.cold_ms > year.warm_ms ? year.cold_ms : year.warm_ms;
    printf("| one-year hourly aggregate of a 1 s tag < %.0f ms%s | %.3f ms warm, %.3f ms cold | "
           "%s |\n",
           TARGET_AGG_MS, opt.year_days == 365 ? "" : " (NOT a full year in this run)",
           year.warm_ms, year.cold_ms, pass_fail(agg_ms < TARGET_AGG_MS));
    printf("\nPeers (`../shared/BENCHMARKS.md`, points per server CPU-second, flush and "
           "compaction included): VictoriaMetrics about %s, InfluxDB about %s.\n",
           grouped(REF_INGEST_VM, num[0], sizeof num[0]),
           grouped(REF_INGEST_INFLUX, num[1], sizeof num[1]));

    for (size_t i = 0; i < alp_n; i++)
        series_free(&alp[i]);
    free(alp);
    free(alp_cost);
    if (!opt.keep) remove_tree(base);
    return 0;
}
