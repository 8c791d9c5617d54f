/* The history query's texts: time points in, samples and buckets out (CSV,
 * JSON, table). See history_format.h. */
#include "api/history_format.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"

/* ---- parsing ---- */

static void set_why(char *why, size_t why_len, const char *text)
{
    if (why && why_len) snprintf(why, why_len, "%s", text);
}

/* Reads exactly n digits at *p into *out, advancing *p. */
static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (counting whole 400-year eras of 146097 days, then the years, months and
 * days inside the era, with March as the first month so leap days fall last). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* hh:mm:ss[.fraction] at *p into seconds of the day and ns. */
static bool parse_clock(const char **p, int64_t *seconds, int64_t *frac_ns)
{
    int hh, mm, ss;
    if (!read_digits(p, 2, &hh) || **p != ':') return false;
    (*p)++;
    if (!read_digits(p, 2, &mm) || **p != ':') return false;
    (*p)++;
    if (!read_digits(p, 2, &ss)) return false;
    if (hh > 23 || mm > 59 || ss > 60) return false; /* 60: a leap second */
    *seconds = hh * 3600 + mm * 60 + ss;
    *frac_ns = 0;
    if (**p == '.' || **p == ',') {
        (*p)++;
        int digits = 0;
        int64_t scale = 100000000;
        while (**p >= '0' && **p <= '9') {
            if (digits++ >= 9) return false;
            *frac_ns += (**p - '0') * scale;
            scale /= 10;
            (*p)++;
        }
        if (digits == 0) return false;
    }
    return true;
}

/* Z, z, +hh:mm or -hh:mm at *p into seconds east of UTC. */
static bool parse_offset(const char **p, int64_t *offset_s)
{
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *offset_s = 0;
        return true;
    }
    if (**p != '+' && **p != '-') return false;
    int sign = **p == '-' ? -1 : 1, hh, mm;
    (*p)++;
    if (!read_digits(p, 2, &hh) || **p != ':') return false;
    (*p)++;
    if (!read_digits(p, 2, &mm) || hh > 23 || mm > 59) return false;
    *offset_s = sign * (hh * 3600 + mm * 60);
    return true;
}

static bool parse_rfc3339(const char *text, int64_t *ns)
{
    const char *p = text;
    int y, mo, d;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return false;
    int64_t seconds = 0, frac_ns = 0, offset_s = 0;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ') return false;
        p++;
        if (!parse_clock(&p, &seconds, &frac_ns) || !parse_offset(&p, &offset_s) || *p != '\0')
            return false;
    }
    int64_t total_s = days_from_civil(y, mo, d) * 86400 + seconds - offset_s, out;
    if (__builtin_mul_overflow(total_s, HIST_NS_PER_S, &out) ||
        __builtin_add_overflow(out, frac_ns, &out))
        return false;
    *ns = out;
    return true;
}

static bool parse_epoch_ms(const char *text, int64_t *ns)
{
    int64_t ms = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        if (__builtin_mul_overflow(ms, 10, &ms) || __builtin_add_overflow(ms, *p - '0', &ms))
            return false;
    }
    return *text && !__builtin_mul_overflow(ms, HIST_NS_PER_MS, ns);
}

static bool parse_now(const char *text, int64_t now_ns, int64_t *ns)
{
    if (strncmp(text, "now", 3) != 0) return false;
    if (text[3] == '\0') {
        *ns = now_ns;
        return true;
    }
    int64_t d;
    if ((text[3] != '-' && text[3] != '+') || !config_duration_parse(text + 4, &d)) return false;
    return text[3] == '-' ? !__builtin_sub_overflow(now_ns, d, ns)
                          : !__builtin_add_overflow(now_ns, d, ns);
}

bool history_time_parse(const char *text, int64_t now_ns, int64_t *ns, char *why, size_t why_len)
{
    if (!text || !*text) {
        set_why(why, why_len, "expected a time, found an empty value");
        return false;
    }
    if (parse_now(text, now_ns, ns) || parse_epoch_ms(text, ns) || parse_rfc3339(text, ns))
        return true;
    set_why(why, why_len,
            "expected an RFC 3339 time like 2026-03-01T08:30:00Z or "
            "2026-03-01T09:30:00.5+01:00, epoch milliseconds (digits only), or now / now-15m");
    return false;
}

bool history_every_parse(const char *text, int64_t *ns)
{
    int64_t v;
    if (!text || !config_duration_parse(text, &v) || v <= 0) return false;
    *ns = v;
    return true;
}

bool history_limit_parse(const char *text, uint32_t *limit)
{
    uint64_t v = 0;
    if (!text || !*text || strlen(text) > 8) return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < 1 || v > HISTORY_MAX_LIMIT) return false;
    *limit = (uint32_t)v;
    return true;
}

uint64_t history_bucket_count(int64_t from, int64_t to, int64_t every)
{
    uint64_t span = (uint64_t)to - (uint64_t)from;
    return span / (uint64_t)every + (span % (uint64_t)every != 0);
}

/* ---- numbers, qualities, strings ---- */

void history_format_double(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

const char *history_quality_name(quality_t q)
{
    return q == QUALITY_BAD_NO_DATA ? "Bad_NoData" : quality_name(q);
}

/* Length of the valid UTF-8 sequence at s[0..len), 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n > len) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void history_write_json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(f, "\\u%04x", c);
        } else {
            size_t n = utf8_sequence(u + i, len - i);
            if (n == 0) {
                fputs("\\ufffd", f);
                n = 1;
            } else {
                fwrite(u + i, 1, n, f);
            }
            i += n;
            continue;
        }
        i++;
    }
    fputc('"', f);
}

void history_write_csv_field(FILE *f, const char *s, size_t len)
{
    bool quote = len == 0 ? false
                          : (memchr(s, ',', len) || memchr(s, '"', len) || memchr(s, '\n', len) ||
                             memchr(s, '\r', len));
    if (!quote) {
        fwrite(s, 1, len, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

void history_write_value_json(FILE *f, const struct value *v)
{
    char num[40];
    switch (v->type) {
    case VALUE_BOOL:
        fputs(v->as.b ? "true" : "false", f);
        return;
    case VALUE_INT64:
        fprintf(f, "%" PRId64, v->as.i64);
        return;
    case VALUE_UINT64:
        fprintf(f, v->as.u64 > (uint64_t)INT64_MAX ? "\"%" PRIu64 "\"" : "%" PRIu64, v->as.u64);
        return;
    case VALUE_DOUBLE:
        if (!isfinite(v->as.f64)) {
            fputs("null", f);
            return;
        }
        history_format_double(v->as.f64, num, sizeof num);
        fputs(num, f);
        return;
    case VALUE_STRING:
        history_write_json_string(f, v->as.str.ptr, v->as.str.len);
        return;
    }
    fputs("null", f);
}

void history_write_value_csv(FILE *f, const struct value *v)
{
    char num[40];
    switch (v->type) {
    case VALUE_BOOL:
        fputs(v->as.b ? "true" : "false", f);
        return;
    case VALUE_INT64:
        fprintf(f, "%" PRId64, v->as.i64);
        return;
    case VALUE_UINT64:
        fprintf(f, "%" PRIu64, v->as.u64);
        return;
    case VALUE_DOUBLE:
        if (isnan(v->as.f64)) return;
        history_format_double(v->as.f64, num, sizeof num);
        fputs(num, f);
        return;
    case VALUE_STRING:
        history_write_csv_field(f, v->as.str.ptr, v->as.str.len);
        return;
    }
}

static void write_time_json(FILE *f, int64_t ns)
{
    char t[40];
    clock_format_rfc3339(ns, t, sizeof t);
    fprintf(f, "\"%s\"", t);
}

static void write_meta(FILE *f, const struct history_meta *m)
{
    fputs("{\"tag\":", f);
    history_write_json_string(f, m->tag, strlen(m->tag));
    fprintf(f, ",\"type\":\"%s\",\"unit\":", value_type_name(m->type));
    history_write_json_string(f, m->unit ? m->unit : "", m->unit ? strlen(m->unit) : 0);
    fputs(",\"from\":", f);
    write_time_json(f, m->from);
    fputs(",\"to\":", f);
    write_time_json(f, m->to);
}

/* ---- samples and buckets ---- */

void history_write_raw_json(FILE *f, const struct history_meta *m, const struct hist_columns *c,
                            bool truncated)
{
    write_meta(f, m);
    fprintf(f, ",\"count\":%" PRIu32 ",\"truncated\":%s,\"samples\":[", c->count,
            truncated ? "true" : "false");
    for (uint32_t i = 0; i < c->count; i++) {
        struct value v = hist_columns_value(c, i);
        fputs(i ? ",{\"t\":" : "{\"t\":", f);
        write_time_json(f, c->ts[i]);
        fputs(",\"v\":", f);
        history_write_value_json(f, &v);
        fprintf(f, ",\"q\":\"%s\"}", history_quality_name(c->quality[i]));
    }
    fputs("]}", f);
}

void history_write_buckets_json(FILE *f, const struct history_meta *m, enum hist_agg_kind kind,
                                int64_t every, const struct hist_bucket *b, size_t n)
{
    char num[40];
    write_meta(f, m);
    fprintf(f, ",\"agg\":\"%s\",\"every_ms\":%" PRId64 ",\"count\":%zu,\"buckets\":[",
            hist_agg_name(kind), (int64_t)(every / HIST_NS_PER_MS), n);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",{\"t\":" : "{\"t\":", f);
        write_time_json(f, b[i].start_ns);
        if (isfinite(b[i].value)) {
            history_format_double(b[i].value, num, sizeof num);
            fprintf(f, ",\"v\":%s", num);
        } else {
            fputs(",\"v\":null", f);
        }
        fprintf(f,
                ",\"count\":%" PRIu32 ",\"quality\":\"%s\",\"good\":%" PRIu32
                ",\"uncertain\":%" PRIu32 ",\"bad\":%" PRIu32 "}",
                b[i].count, history_quality_name(b[i].quality), b[i].good, b[i].uncertain,
                b[i].bad);
    }
    fputs("]}", f);
}

static void write_time_and_tag(FILE *f, int64_t ns, const char *tag)
{
    char t[40];
    clock_format_rfc3339(ns, t, sizeof t);
    fputs(t, f);
    fputc(',', f);
    if (tag) {
        history_write_csv_field(f, tag, strlen(tag));
        fputc(',', f);
    }
}

void history_write_raw_csv(FILE *f, const char *tag, const struct hist_columns *c, bool header)
{
    if (header) fputs(tag ? "time,tag,value,quality\n" : "time,value,quality\n", f);
    for (uint32_t i = 0; i < c->count; i++) {
        struct value v = hist_columns_value(c, i);
        write_time_and_tag(f, c->ts[i], tag);
        history_write_value_csv(f, &v);
        fprintf(f, ",%s\n", history_quality_name(c->quality[i]));
    }
}

void history_write_buckets_csv(FILE *f, const char *tag, const struct hist_bucket *b, size_t n,
                               bool header)
{
    char num[40];
    if (header) fputs(tag ? "time,tag,value,count,quality\n" : "time,value,count,quality\n", f);
    for (size_t i = 0; i < n; i++) {
        write_time_and_tag(f, b[i].start_ns, tag);
        if (isfinite(b[i].value)) {
            history_format_double(b[i].value, num, sizeof num);
            fputs(num, f);
        }
        fprintf(f, ",%" PRIu32 ",%s\n", b[i].count, history_quality_name(b[i].quality));
    }
}

void history_write_raw_table(FILE *f, const struct hist_columns *c)
{
    char t[40];
    fprintf(f, "%-24s  %24s  %s\n", "time (UTC)", "value", "quality");
    for (uint32_t i = 0; i < c->count; i++) {
        struct value v = hist_columns_value(c, i);
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (mem) {
            history_write_value_csv(mem, &v);
            fclose(mem);
        }
        clock_format_rfc3339(c->ts[i], t, sizeof t);
        fprintf(f, "%-24s  %24s  %s\n", t, text ? text : "?", history_quality_name(c->quality[i]));
        free(text);
    }
}

void history_write_buckets_table(FILE *f, const struct hist_bucket *b, size_t n)
{
    char t[40], num[40];
    fprintf(f, "%-24s  %24s  %8s  %s\n", "bucket start (UTC)", "value", "count", "quality");
    for (size_t i = 0; i < n; i++) {
        clock_format_rfc3339(b[i].start_ns, t, sizeof t);
        if (isfinite(b[i].value))
            history_format_double(b[i].value, num, sizeof num);
        else
            snprintf(num, sizeof num, "-");
        fprintf(f, "%-24s  %24s  %8" PRIu32 "  %s\n", t, num, b[i].count,
                history_quality_name(b[i].quality));
    }
}
