/* Unit and property tests of the historian column codecs (hist_codec.h):
 * seeded random series of every type round-trip bit for bit, truncated and
 * corrupted blocks are rejected without crashing, each scheme is chosen on
 * the data it is made for, compression is sane, the real ALP sensor series
 * round-trip, and injected allocation failures neither crash nor leak. */
#include "historian/hist_alloc.h"
#include "historian/hist_codec.h"
#include "testlib.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALP_DIR "/work/shared/datasets/alp"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* splitmix64: a deterministic, seeded generator. */
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t bound)
{
    return bound ? rng() % bound : 0;
}

static double double_of_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* A random length, biased to the edges: 0, 1, 2, 63..65 and up to 5000. */
static size_t random_length(void)
{
    static const size_t edges[] = {0, 1, 2, 3, 63, 64, 65, 127, 128, 129, 1024};
    if (rng_below(3) == 0) return edges[rng_below(sizeof edges / sizeof edges[0])];
    return (size_t)rng_below(5001);
}

/* Checks that every strict prefix of a block is rejected (all of them for
 * small blocks, a sample for large ones). decode(prefix_len) -> ok. */
#define CHECK_TRUNCATIONS(block, block_len, DECODE_CALL)                                           \
    do {                                                                                           \
        size_t step_ = (block_len) > 200 ? (block_len) / 50 : 1;                                   \
        bool all_rejected_ = true;                                                                 \
        for (size_t cut_ = 0; cut_ < (block_len); cut_ += step_) {                                 \
            uint8_t *copy_ = malloc(cut_ ? cut_ : 1);                                              \
            memcpy(copy_, (block), cut_);                                                          \
            size_t used_ = 0;                                                                      \
            const uint8_t *in_ = copy_;                                                            \
            size_t len_ = cut_;                                                                    \
            if (DECODE_CALL) all_rejected_ = false;                                                \
            free(copy_);                                                                           \
        }                                                                                          \
        CHECK(all_rejected_);                                                                      \
    } while (0)

/* Flips random bytes of a copy of the block and decodes it: must not crash
 * (the sanitizers watch) and, when accepted, must not claim more bytes. */
#define CHECK_CORRUPTIONS(block, block_len, DECODE_CALL)                                           \
    do {                                                                                           \
        bool sane_ = true;                                                                         \
        for (int round_ = 0; round_ < 20 && (block_len) > 0; round_++) {                           \
            uint8_t *copy_ = malloc(block_len);                                                    \
            memcpy(copy_, (block), (block_len));                                                   \
            int flips_ = 1 + (int)rng_below(3);                                                    \
            for (int f_ = 0; f_ < flips_; f_++)                                                    \
                copy_[rng_below(block_len)] ^= (uint8_t)(1 + rng_below(255));                      \
            size_t used_ = 0;                                                                      \
            const uint8_t *in_ = copy_;                                                            \
            size_t len_ = (block_len);                                                             \
            if ((DECODE_CALL) && used_ > len_) sane_ = false;                                      \
            free(copy_);                                                                           \
        }                                                                                          \
        CHECK(sane_);                                                                              \
    } while (0)

/* ------------------------------------------------------------ timestamps */

static uint8_t last_ts_scheme;
static size_t last_ts_bytes;

/* Encodes, decodes, compares; also truncation and corruption. */
static bool roundtrip_ts(const int64_t *ts, size_t n)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_ts(&b, ts, n);
    CHECK(ok);
    int64_t *back = malloc((n ? n : 1) * sizeof *back);
    size_t used = 0;
    bool same = ok && hc_decode_ts(b.data, b.len, n, back, &used) && used == b.len &&
                (n == 0 || memcmp(ts, back, n * sizeof *ts) == 0);
    last_ts_scheme = b.len ? b.data[0] : 0;
    last_ts_bytes = b.len;
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_ts(in_, len_, n, back, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_ts(in_, len_, n, back, &used_));
    free(back);
    hc_buf_free(&b);
    return same;
}

static void test_ts_properties(void)
{
    int failures = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = random_length();
        int64_t *ts = malloc((n ? n : 1) * sizeof *ts);
        int kind = round % 6;
        int64_t t = (int64_t)rng();
        for (size_t i = 0; i < n; i++) {
            switch (kind) {
            case 0: /* regular 1 s in ms */
                t = 1700000000000 + (int64_t)i * 1000;
                break;
            case 1: /* jitter */
                t = 1700000000000 + (int64_t)i * 1000 +
                    (rng_below(10) == 0 ? (int64_t)rng_below(21) - 10 : 0);
                break;
            case 2: /* any 64-bit pattern */
                t = (int64_t)rng();
                break;
            case 3: /* decreasing */
                t = 5000000 - (int64_t)i * 7 - (int64_t)rng_below(3);
                break;
            case 4: { /* huge jumps and extremes */
                static const int64_t extremes[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
                t = rng_below(4) == 0 ? extremes[rng_below(5)]
                                      : (int64_t)((uint64_t)t + rng_below(1000));
                break;
            }
            default: /* gaps: regular with occasional long pauses */
                t = (int64_t)((uint64_t)t + (rng_below(50) == 0 ? rng_below(86400000) : 1000));
                break;
            }
            ts[i] = t;
        }
        if (!roundtrip_ts(ts, n)) failures++;
        free(ts);
    }
    CHECK_EQ_INT(failures, 0);
}

static void test_ts_schemes(void)
{
    enum { N = 1000 };
    int64_t ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = 1700000000000 + (int64_t)i * 1000;
    CHECK(roundtrip_ts(ts, N));
    CHECK_STR(hc_scheme_name(last_ts_scheme), "dod-rle");
    CHECK(last_ts_bytes < 32);
    for (int i = 0; i < N; i++)
        ts[i] = 1700000000000 + (int64_t)i * 1000 + (int64_t)rng_below(8);
    CHECK(roundtrip_ts(ts, N));
    CHECK_STR(hc_scheme_name(last_ts_scheme), "dod-pack");
    CHECK(last_ts_bytes < N * 5 / 8 + 16); /* 5 bits of jitter per sample */
    for (int i = 0; i < N; i++)
        ts[i] = (int64_t)rng();
    CHECK(roundtrip_ts(ts, N));
    CHECK_STR(hc_scheme_name(last_ts_scheme), "ts-raw");
    /* One jitter every 100 samples stays run-length coded. */
    for (int i = 0; i < N; i++)
        ts[i] = 1700000000000 + (int64_t)i * 1000 + (i % 100 == 50 ? 3 : 0);
    CHECK(roundtrip_ts(ts, N));
    CHECK_STR(hc_scheme_name(last_ts_scheme), "dod-rle");
    CHECK(last_ts_bytes < 100);
}

/* ------------------------------------------------------------ doubles */

static uint8_t last_f64_scheme;
static size_t last_f64_bytes;

static bool roundtrip_f64(const double *v, size_t n)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_f64(&b, v, n);
    CHECK(ok);
    double *back = malloc((n ? n : 1) * sizeof *back);
    size_t used = 0;
    bool same = ok && hc_decode_f64(b.data, b.len, n, back, &used) && used == b.len &&
                (n == 0 || memcmp(v, back, n * sizeof *v) == 0);
    last_f64_scheme = b.len ? b.data[0] : 0;
    last_f64_bytes = b.len;
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_f64(in_, len_, n, back, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_f64(in_, len_, n, back, &used_));
    free(back);
    hc_buf_free(&b);
    return same;
}

/* A value printed with `decimals` decimals and read back, as a sensor
 * gateway would store it. */
static double decimal_value(int64_t units, int decimals)
{
    char text[64];
    double scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    snprintf(text, sizeof text, "%.*f", decimals, (double)units / scale);
    return strtod(text, NULL);
}

static double special_double(void)
{
    static const uint64_t patterns[] = {
        0x0000000000000000ull, 0x8000000000000000ull, /* +0, -0 */
        0x7FF0000000000000ull, 0xFFF0000000000000ull, /* +inf, -inf */
        0x7FF8000000000000ull, 0x7FF0000000000001ull, /* NaN, signalling NaN */
        0xFFFFFFFFFFFFFFFFull, 0x7FF8DEADBEEF1234ull, /* NaNs with payloads */
        0x0000000000000001ull, 0x800FFFFFFFFFFFFFull, /* subnormals */
        0x7FEFFFFFFFFFFFFFull, 0x0010000000000000ull, /* max, min normal */
    };
    return double_of_bits(patterns[rng_below(sizeof patterns / sizeof patterns[0])]);
}

static void test_f64_properties(void)
{
    int failures = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = random_length();
        double *v = malloc((n ? n : 1) * sizeof *v);
        int kind = round % 7, decimals = (int)rng_below(7);
        int64_t walk = (int64_t)rng_below(100000) - 50000;
        for (size_t i = 0; i < n; i++) {
            walk += (int64_t)rng_below(21) - 10;
            switch (kind) {
            case 0: /* any bit pattern */
                v[i] = double_of_bits(rng());
                break;
            case 1: /* specials */
                v[i] = special_double();
                break;
            case 2: /* decimal random walk */
                v[i] = decimal_value(walk, decimals);
                break;
            case 3: /* decimals with some specials and noise */
                v[i] = rng_below(20) == 0   ? special_double()
                       : rng_below(20) == 0 ? double_of_bits(rng())
                                            : decimal_value(walk, decimals);
                break;
            case 4: /* constant runs */
                v[i] = (i / 100) % 2 ? -0.0 : decimal_value((int64_t)(i / 300), decimals);
                break;
            case 5: /* counters as doubles */
                v[i] = (double)(int64_t)(i * 3 + (size_t)rng_below(2));
                break;
            default: /* large and tiny magnitudes */
                v[i] = decimal_value(walk, decimals) * (rng_below(2) ? 1e15 : 1e-12);
                break;
            }
        }
        if (!roundtrip_f64(v, n)) failures++;
        free(v);
    }
    CHECK_EQ_INT(failures, 0);
}

static void test_f64_schemes(void)
{
    enum { N = 1024 };
    double v[N];
    /* A 1-decimal temperature: decimal coded, at most 2 bytes a value. */
    int64_t t = 215;
    for (int i = 0; i < N; i++) {
        t += (int64_t)rng_below(5) - 2;
        v[i] = decimal_value(t, 1);
    }
    CHECK(roundtrip_f64(v, N));
    CHECK(last_f64_scheme == 0x21 || last_f64_scheme == 0x22);
    CHECK(strncmp(hc_scheme_name(last_f64_scheme), "alp-", 4) == 0);
    CHECK(last_f64_bytes <= 2 * N);
    /* A slow ramp (setpoint moving 0.01 per sample): delta packing. */
    for (int i = 0; i < N; i++)
        v[i] = decimal_value(100000 + i * 37, 2);
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "alp-delta");
    CHECK(last_f64_bytes < 40);
    /* A setpoint changing rarely: run lengths. */
    for (int i = 0; i < N; i++)
        v[i] = decimal_value(500 + (i / 256) * 25, 1);
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "alp-rle");
    CHECK(last_f64_bytes < 24);
    /* Full-precision noise: no decimal form, XOR or raw. */
    for (int i = 0; i < N; i++)
        v[i] = double_of_bits(rng());
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "raw");
    /* Values repeating with full precision and no short decimal form: XOR. */
    for (int i = 0; i < N; i++)
        v[i] = i % 16 < 12 ? sqrt(2.0) * 1e-7 : sqrt(3.0) * 1e-7; /* 17 digits */
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "xor");
    /* A constant, even a NaN with a payload, takes 9 bytes. */
    for (int i = 0; i < N; i++)
        v[i] = double_of_bits(0x7FF8DEADBEEF1234ull);
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "f64-const");
    CHECK_EQ_INT(last_f64_bytes, 9);
    /* Decimals with a few exceptions keep the decimal scheme. */
    for (int i = 0; i < N; i++)
        v[i] = i % 100 == 7 ? special_double() : decimal_value(1000 + i % 50, 2);
    CHECK(roundtrip_f64(v, N));
    CHECK(strncmp(hc_scheme_name(last_f64_scheme), "alp-", 4) == 0);
    /* Integers with trailing zeros use the factor: hundreds cost few bits. */
    for (int i = 0; i < N; i++)
        v[i] = (double)(100 * (int64_t)rng_below(16)) + 1e6;
    CHECK(roundtrip_f64(v, N));
    CHECK_STR(hc_scheme_name(last_f64_scheme), "alp-for");
    CHECK(last_f64_bytes <= N / 2 + 16);
}

/* Reads a column of numbers, one per line; returns the count. */
static size_t load_csv(const char *path, double **out)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0, cap = 1024;
    double *v = malloc(cap * sizeof *v);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *end;
        double x = strtod(line, &end);
        if (end == line) continue;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = x;
    }
    fclose(f);
    *out = v;
    return n;
}

static size_t load_f64le(const char *path, double **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = bytes > 0 ? (size_t)bytes / 8 : 0;
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (fread(v, 8, n, f) != n) n = 0;
    fclose(f);
    *out = v;
    return n;
}

static void test_alp_datasets(void)
{
    static const char *files[] = {
        "air_sensor_f.csv",     "basel_temp_f.csv",        "basel_wind_f.csv",
        "bird_migration_f.csv", "city_temperature_f.csv",  "neon_air_pressure.csv",
        "neon_bio_temp_c.csv",  "neon_dew_point_temp.csv", "neon_pm10_dust.csv",
        "neon_wind_dir.csv",    "stocks_usa_c.csv",        "city_temperature_f_131072.f64le.bin"};
    FILE *probe = fopen(ALP_DIR "/basel_temp_f.csv", "r");
    if (!probe) {
        printf("note: %s not found, skipping the real-data round trips\n", ALP_DIR);
        return;
    }
    fclose(probe);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", ALP_DIR, files[k]);
        double *v = NULL;
        size_t n = strstr(files[k], ".bin") ? load_f64le(path, &v) : load_csv(path, &v);
        CHECK(n >= 1024);
        /* Whole file in blocks of 1024, as chunks would hold them. */
        size_t bytes = 0;
        bool same = true;
        for (size_t i = 0; i < n; i += 1024) {
            size_t count = n - i < 1024 ? n - i : 1024;
            same = same && roundtrip_f64(v + i, count);
            bytes += last_f64_bytes;
        }
        if (!same) fprintf(stderr, "round trip failed: %s\n", files[k]);
        CHECK(same);
        CHECK(bytes < n * 8); /* every one of them compresses */
        free(v);
    }
}

/* ------------------------------------------------------------ int64 */

static uint8_t last_i64_scheme;
static size_t last_i64_bytes;

static bool roundtrip_i64(const int64_t *v, size_t n)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_i64(&b, v, n);
    CHECK(ok);
    int64_t *back = malloc((n ? n : 1) * sizeof *back);
    size_t used = 0;
    bool same = ok && hc_decode_i64(b.data, b.len, n, back, &used) && used == b.len &&
                (n == 0 || memcmp(v, back, n * sizeof *v) == 0);
    last_i64_scheme = b.len ? b.data[0] : 0;
    last_i64_bytes = b.len;
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_i64(in_, len_, n, back, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_i64(in_, len_, n, back, &used_));
    free(back);
    hc_buf_free(&b);
    return same;
}

static void test_i64(void)
{
    int failures = 0;
    for (int round = 0; round < 300; round++) {
        size_t n = random_length();
        int64_t *v = malloc((n ? n : 1) * sizeof *v);
        int kind = round % 6;
        uint64_t counter = rng();
        for (size_t i = 0; i < n; i++) {
            switch (kind) {
            case 0:
                v[i] = (int64_t)rng();
                break;
            case 1: { /* extremes */
                static const int64_t extremes[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1};
                v[i] = extremes[rng_below(6)];
                break;
            }
            case 2: /* a wrapping uint64 counter */
                counter += rng_below(5);
                v[i] = (int64_t)counter;
                break;
            case 3: /* small range */
                v[i] = -3 + (int64_t)rng_below(7);
                break;
            case 4: /* states */
                v[i] = (int64_t)(i / 200) % 3;
                break;
            default:
                v[i] = 42;
                break;
            }
        }
        if (!roundtrip_i64(v, n)) failures++;
        free(v);
    }
    CHECK_EQ_INT(failures, 0);

    enum { N = 1000 };
    int64_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = 7;
    CHECK(roundtrip_i64(v, N));
    CHECK_STR(hc_scheme_name(last_i64_scheme), "i64-const");
    CHECK(last_i64_bytes <= 3);
    for (int i = 0; i < N; i++)
        v[i] = 1000000000 + i * 10 + (int64_t)rng_below(4); /* counter */
    CHECK(roundtrip_i64(v, N));
    CHECK_STR(hc_scheme_name(last_i64_scheme), "i64-delta");
    CHECK(last_i64_bytes <= N / 2 + 16); /* at most 4 bits a value */
    for (int i = 0; i < N; i++)
        v[i] = -500 + (int64_t)rng_below(200);
    CHECK(roundtrip_i64(v, N));
    CHECK_STR(hc_scheme_name(last_i64_scheme), "i64-for");
    CHECK(last_i64_bytes <= N + 16);
    for (int i = 0; i < N; i++)
        v[i] = (i / 100) % 4;
    CHECK(roundtrip_i64(v, N));
    CHECK_STR(hc_scheme_name(last_i64_scheme), "i64-rle");
    CHECK(last_i64_bytes < 32);
    for (int i = 0; i < N; i++)
        v[i] = (int64_t)rng();
    CHECK(roundtrip_i64(v, N));
    CHECK_STR(hc_scheme_name(last_i64_scheme), "i64-raw");
}

/* ------------------------------------------------------------ bool, u32 */

static bool roundtrip_bool(const uint8_t *v, size_t n, uint8_t *scheme, size_t *bytes)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_bool(&b, v, n);
    CHECK(ok);
    uint8_t *back = malloc(n ? n : 1);
    size_t used = 0;
    bool same = ok && hc_decode_bool(b.data, b.len, n, back, &used) && used == b.len;
    for (size_t i = 0; same && i < n; i++)
        same = back[i] == (v[i] ? 1 : 0);
    *scheme = b.len ? b.data[0] : 0;
    *bytes = b.len;
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_bool(in_, len_, n, back, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_bool(in_, len_, n, back, &used_));
    free(back);
    hc_buf_free(&b);
    return same;
}

static bool roundtrip_u32(const uint32_t *v, size_t n, uint8_t *scheme, size_t *bytes)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_u32(&b, v, n);
    CHECK(ok);
    uint32_t *back = malloc((n ? n : 1) * sizeof *back);
    size_t used = 0;
    bool same = ok && hc_decode_u32(b.data, b.len, n, back, &used) && used == b.len &&
                (n == 0 || memcmp(v, back, n * sizeof *v) == 0);
    *scheme = b.len ? b.data[0] : 0;
    *bytes = b.len;
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_u32(in_, len_, n, back, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_u32(in_, len_, n, back, &used_));
    free(back);
    hc_buf_free(&b);
    return same;
}

static void test_bool_u32(void)
{
    int failures = 0;
    uint8_t scheme;
    size_t bytes;
    for (int round = 0; round < 200; round++) {
        size_t n = random_length();
        uint8_t *b = malloc(n ? n : 1);
        uint32_t *q = malloc((n ? n : 1) * sizeof *q);
        int kind = round % 3;
        for (size_t i = 0; i < n; i++) {
            b[i] = kind == 0 ? (uint8_t)rng() : kind == 1 ? (uint8_t)((i / 37) % 2 * 5) : 0;
            q[i] = kind == 0   ? (uint32_t)rng()
                   : kind == 1 ? (uint32_t)(rng_below(50) == 0 ? 0 : 192)
                               : UINT32_MAX;
        }
        if (!roundtrip_bool(b, n, &scheme, &bytes)) failures++;
        if (!roundtrip_u32(q, n, &scheme, &bytes)) failures++;
        free(b);
        free(q);
    }
    CHECK_EQ_INT(failures, 0);

    enum { N = 1000 };
    uint8_t b[N];
    uint32_t q[N];
    for (int i = 0; i < N; i++) {
        b[i] = i >= 500;
        q[i] = 192;
    }
    CHECK(roundtrip_bool(b, N, &scheme, &bytes));
    CHECK_STR(hc_scheme_name(scheme), "bool-rle");
    CHECK(bytes <= 8);
    CHECK(roundtrip_u32(q, N, &scheme, &bytes));
    CHECK_STR(hc_scheme_name(scheme), "u32-rle");
    CHECK(bytes < 16);
    for (int i = 0; i < N; i++) {
        b[i] = (uint8_t)(rng() & 1);
        q[i] = (uint32_t)rng_below(4);
    }
    CHECK(roundtrip_bool(b, N, &scheme, &bytes));
    CHECK_STR(hc_scheme_name(scheme), "bool-bits");
    CHECK(bytes <= N / 8 + 2);
    CHECK(roundtrip_u32(q, N, &scheme, &bytes));
    CHECK_STR(hc_scheme_name(scheme), "u32-for");
    CHECK(bytes <= N / 4 + 8);
    /* A bool decoder rejects values other than 0 and 1 in a run block. */
    const uint8_t bad_bool[] = {0x40, 2, 1, 0};
    uint8_t out[1];
    size_t used;
    CHECK(!hc_decode_bool(bad_bool, sizeof bad_bool, 1, out, &used));
}

/* ------------------------------------------------------------ strings */

static bool roundtrip_str(const char *const *s, const uint32_t *lens, size_t n, size_t *bytes)
{
    struct hc_buf b;
    hc_buf_init(&b);
    bool ok = hc_encode_str(&b, s, lens, n);
    CHECK(ok);
    const char **back = malloc((n ? n : 1) * sizeof *back);
    uint32_t *back_lens = malloc((n ? n : 1) * sizeof *back_lens);
    size_t used = 0;
    bool same = ok && hc_decode_str(b.data, b.len, n, back, back_lens, &used) && used == b.len;
    for (size_t i = 0; same && i < n; i++) {
        same = back_lens[i] == lens[i] && memcmp(back[i], s[i], lens[i]) == 0;
        /* Results point into the block. */
        same = same && (const uint8_t *)back[i] >= b.data &&
               (const uint8_t *)back[i] + lens[i] <= b.data + b.len;
    }
    *bytes = b.len;
    CHECK(b.len >= 1 && strcmp(hc_scheme_name(b.data[0]), "str-dict") == 0);
    CHECK_TRUNCATIONS(b.data, b.len, hc_decode_str(in_, len_, n, back, back_lens, &used_));
    CHECK_CORRUPTIONS(b.data, b.len, hc_decode_str(in_, len_, n, back, back_lens, &used_));
    free(back);
    free(back_lens);
    hc_buf_free(&b);
    return same;
}

static void test_str(void)
{
    static const char pool[] = "RUNNING\0STOPPED\0FAULT\0\0x\0with\0nul";
    int failures = 0;
    for (int round = 0; round < 100; round++) {
        size_t n = random_length();
        const char **s = malloc((n ? n : 1) * sizeof *s);
        uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
        char *heap = malloc(n * 8 + 1);
        for (size_t i = 0; i < n; i++) {
            if (round % 2) { /* random bytes, NUL included, lengths 0..8 */
                lens[i] = (uint32_t)rng_below(9);
                for (uint32_t k = 0; k < lens[i]; k++)
                    heap[i * 8 + k] = (char)rng_below(4);
                s[i] = heap + i * 8;
            } else { /* a few states from a pool with embedded NULs */
                size_t at = rng_below(sizeof pool - 8);
                s[i] = pool + at;
                lens[i] = (uint32_t)rng_below(8);
            }
        }
        size_t bytes;
        if (!roundtrip_str(s, lens, n, &bytes)) failures++;
        free(s);
        free(lens);
        free(heap);
    }
    CHECK_EQ_INT(failures, 0);

    enum { N = 1000 };
    const char *s[N];
    uint32_t lens[N];
    static const char *states[] = {"RUNNING", "STOPPED", "FAULT"};
    for (int i = 0; i < N; i++) {
        s[i] = states[(i / 10) % 3];
        lens[i] = (uint32_t)strlen(s[i]);
    }
    size_t bytes;
    CHECK(roundtrip_str(s, lens, N, &bytes));
    CHECK(bytes <= 30 + N / 4); /* dictionary plus 2 bits a value */
}

/* ------------------------------------------------------------ misc */

static void test_varint_crc(void)
{
    static const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t buf[HC_UVARINT_MAX_BYTES];
        size_t k = hc_put_uvarint(buf, values[i]);
        uint64_t back = 0;
        CHECK_EQ_INT(hc_get_uvarint(buf, k, &back), k);
        CHECK(back == values[i]);
        CHECK_EQ_INT(hc_get_uvarint(buf, k - 1, &back), 0); /* truncated */
    }
    const uint8_t too_long[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    uint64_t x;
    CHECK_EQ_INT(hc_get_uvarint(too_long, sizeof too_long, &x), 0);
    CHECK(hc_unzigzag(hc_zigzag(INT64_MIN)) == INT64_MIN);
    CHECK(hc_zigzag(-1) == 1 && hc_zigzag(1) == 2);
    /* CRC-32C check value and its standard test vectors (RFC 3720). */
    CHECK(hc_crc32c(0, "123456789", 9) == 0xE3069283u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK(hc_crc32c(0, zeros, 32) == 0x8A9136AAu);
    CHECK(hc_crc32c(0, ones, 32) == 0x62A8AB43u);
    /* Incremental equals one shot, at every split and odd alignment. */
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)rng();
    uint32_t whole = hc_crc32c(0, data + 1, 299);
    bool incremental = true;
    for (size_t cut = 0; cut <= 299; cut += 13)
        incremental = incremental &&
                      hc_crc32c(hc_crc32c(0, data + 1, cut), data + 1 + cut, 299 - cut) == whole;
    CHECK(incremental);
    CHECK_STR(hc_scheme_name(0xEE), "?");
    /* Unknown scheme bytes are rejected by every decoder. */
    uint8_t block[16] = {0xEE};
    int64_t i64[1];
    double f64[1];
    uint8_t b[1];
    uint32_t u[1];
    const char *s[1];
    uint32_t l[1];
    size_t used;
    CHECK(!hc_decode_ts(block, sizeof block, 1, i64, &used));
    CHECK(!hc_decode_i64(block, sizeof block, 1, i64, &used));
    CHECK(!hc_decode_f64(block, sizeof block, 1, f64, &used));
    CHECK(!hc_decode_bool(block, sizeof block, 1, b, &used));
    CHECK(!hc_decode_u32(block, sizeof block, 1, u, &used));
    CHECK(!hc_decode_str(block, sizeof block, 1, s, l, &used));
}

/* Every allocation an encoder or decoder makes fails in turn: the call
 * reports it, the output buffer keeps its previous content, nothing leaks
 * (LeakSanitizer checks at exit). */
static void test_allocation_failures(void)
{
    enum { N = 700 };
    double v[N];
    const char *s[N];
    uint32_t lens[N];
    for (int i = 0; i < N; i++) {
        v[i] = i % 50 == 3 ? double_of_bits(rng()) : decimal_value(i * 3, 2);
        s[i] = i % 3 ? "abc" : "de";
        lens[i] = i % 3 ? 3 : 2;
    }
    bool consistent = true, eventually = false;
    for (uint64_t at = 1; at < 50 && !eventually; at++) {
        struct hc_buf b;
        hc_buf_init(&b);
        hc_buf_put(&b, "xy", 2);
        hist_alloc_fail_at(at, 0);
        bool f = hc_encode_f64(&b, v, N);
        bool t = hc_encode_str(&b, s, lens, N);
        hist_alloc_fail_at(0, 0);
        if (b.len < 2 || memcmp(b.data, "xy", 2) != 0) consistent = false;
        if (f && t) {
            eventually = true;
            double back[N];
            const char *bs[N];
            uint32_t bl[N];
            size_t used, used2;
            consistent = consistent && hc_decode_f64(b.data + 2, b.len - 2, N, back, &used) &&
                         memcmp(back, v, sizeof v) == 0 &&
                         hc_decode_str(b.data + 2 + used, b.len - 2 - used, N, bs, bl, &used2);
            /* The decoder's own allocations fail cleanly too. */
            for (uint64_t d = 1; d <= 2; d++) {
                hist_alloc_fail_at(d, 0);
                bool ok = hc_decode_str(b.data + 2 + used, b.len - 2 - used, N, bs, bl, &used2);
                hist_alloc_fail_at(0, 0);
                consistent = consistent && !ok;
            }
        }
        hc_buf_free(&b);
    }
    CHECK(consistent);
    CHECK(eventually);
}

int main(void)
{
    test_varint_crc();
    test_ts_properties();
    test_ts_schemes();
    test_f64_properties();
    test_f64_schemes();
    test_alp_datasets();
    test_i64();
    test_bool_u32();
    test_str();
    test_allocation_failures();
    return test_summary();
}
