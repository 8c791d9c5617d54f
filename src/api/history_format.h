/* The history query's texts, shared by the HTTP API (GET /api/v1/history)
 * and the CLI (airlock query, airlock export): parsing the time points
 * people write, and writing samples and aggregate buckets as CSV, JSON and
 * an aligned table. Pure functions over a FILE * (the API writes into an
 * open_memstream), unit-tested in tests/unit/test_api.c. */
#ifndef AIRLOCK_API_HISTORY_FORMAT_H
#define AIRLOCK_API_HISTORY_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "historian/historian.h"

#define HISTORY_DEFAULT_RANGE_NS (3600LL * HIST_NS_PER_S) /* from = to - 1 h */
#define HISTORY_DEFAULT_LIMIT 100000u
#define HISTORY_MAX_LIMIT 1000000u

/* Parses a time point into ns since the epoch (UTC):
 *   RFC 3339: "2026-11-22T10:15:30Z", "2026-11-22T10:15:30.123+01:00"
 *             (fraction up to 9 digits, 'T', 't' or ' ' between date and
 *             time, "Z", "z" or +hh:mm / -hh:mm), or a date alone
 *             ("2026-11-22", midnight UTC);
 *   epoch milliseconds: digits only ("1795000000000");
 *   "now", "now-15m", "now+1h" (durations as config_duration_parse),
 *             relative to now_ns.
 * False with what was expected in why (never quoting the input). */
bool history_time_parse(const char *text, int64_t now_ns, int64_t *ns, char *why, size_t why_len);

/* Parses a positive duration for `every` ("1h", "15m", "10s", "500ms"). */
bool history_every_parse(const char *text, int64_t *ns);

/* Parses a limit: an integer 1..HISTORY_MAX_LIMIT. */
bool history_limit_parse(const char *text, uint32_t *limit);

/* The shortest decimal text of v that reads back as exactly v ("21.3",
 * "1e-07"), "NaN"/"inf"/"-inf" for the others. buf: at least 32 bytes. */
void history_format_double(double v, char *buf, size_t len);

/* The quality's OPC UA name; Bad_NoData for the empty-bucket code. */
const char *history_quality_name(quality_t q);

/* A number of buckets for [from, to) in steps of every (the last one cut
 * at to), saturating at UINT64_MAX. every > 0, to > from. */
uint64_t history_bucket_count(int64_t from, int64_t to, int64_t every);

/* Writes s[0..len) as a JSON string (quotes included); invalid UTF-8
 * bytes become U+FFFD. */
void history_write_json_string(FILE *f, const char *s, size_t len);
/* Writes s[0..len) as a CSV field (RFC 4180: quoted when it holds a comma,
 * a quote, CR or LF, quotes doubled). */
void history_write_csv_field(FILE *f, const char *s, size_t len);
/* A value as JSON (bool, number, null for NaN/Inf, uint64 above INT64_MAX
 * as a decimal string, string) and as a CSV field (NaN written empty). */
void history_write_value_json(FILE *f, const struct value *v);
void history_write_value_csv(FILE *f, const struct value *v);

/* What a query was about, for the JSON envelope. */
struct history_meta {
    const char *tag;
    enum value_type type;
    const char *unit; /* "" when unknown */
    int64_t from, to; /* ns */
};

/* {"tag","type","unit","from","to","count","truncated","samples":[{"t","v","q"}]} */
void history_write_raw_json(FILE *f, const struct history_meta *m, const struct hist_columns *c,
                            bool truncated);
/* {"tag","type","unit","from","to","agg","every_ms","count","buckets":[{"t","v","count",
 * "quality","good","uncertain","bad"}]} */
void history_write_buckets_json(FILE *f, const struct history_meta *m, enum hist_agg_kind kind,
                                int64_t every, const struct hist_bucket *b, size_t n);

/* CSV rows "time,value,quality" (raw) or "time,value,count,quality"
 * (buckets); with a tag, "time,tag,value,..." instead. The header line is
 * written when header is true. Times are RFC 3339 UTC with ms. */
void history_write_raw_csv(FILE *f, const char *tag, const struct hist_columns *c, bool header);
void history_write_buckets_csv(FILE *f, const char *tag, const struct hist_bucket *b, size_t n,
                               bool header);

/* An aligned text table for people (airlock query --format table). */
void history_write_raw_table(FILE *f, const struct hist_columns *c);
void history_write_buckets_table(FILE *f, const struct hist_bucket *b, size_t n);

#endif
