/* Unified Namespace JSON topics and payloads (see uns.h). */
#include "north/uns.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded output buffer: appends past cap set overflow and do nothing. */
struct text_out {
    char *data;
    size_t cap;
    size_t len;
    bool overflow;
};

static void out_bytes(struct text_out *o, const char *bytes, size_t n)
{
    if (o->overflow || o->len + n >= o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->data + o->len, bytes, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_str(struct text_out *o, const char *s)
{
    out_bytes(o, s, strlen(s));
}

static void out_char(struct text_out *o, char c)
{
    out_bytes(o, &c, 1);
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 when invalid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Appends the levels of text sanitized (see uns_topic). */
static void out_topic_levels(struct text_out *o, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    bool level_empty = true;
    for (size_t i = 0; i < n;) {
        if (s[i] == '/') {
            if (level_empty) out_char(o, '_');
            out_char(o, '/');
            level_empty = true;
            i++;
            continue;
        }
        level_empty = false;
        size_t seq = utf8_sequence_length(s + i, n - i);
        if (seq == 0 || (seq == 1 && (s[i] < 0x20 || s[i] == 0x7F || s[i] == '+' || s[i] == '#'))) {
            out_char(o, '_');
            i++;
        } else {
            out_bytes(o, (const char *)s + i, seq);
            i += seq;
        }
    }
    if (level_empty) out_char(o, '_');
}

bool uns_topic(char *out, size_t cap, const char *prefix, const char *path)
{
    if (cap == 0) return false;
    struct text_out o = {.data = out, .cap = cap};
    out[0] = '\0';
    if (prefix && prefix[0]) {
        out_topic_levels(&o, prefix);
        out_char(&o, '/');
    }
    out_topic_levels(&o, path ? path : "");
    if (o.overflow) out[0] = '\0';
    return !o.overflow;
}

/* Appends s[0..n) as a JSON string with its quotes. */
static void out_json_string(struct text_out *o, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    out_char(o, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            out_char(o, '\\');
            out_char(o, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            out_str(o, esc);
            i++;
        } else {
            size_t seq = utf8_sequence_length(s + i, n - i);
            if (seq == 0) {
                out_str(o, "\xEF\xBF\xBD"); /* U+FFFD */
                i++;
            } else {
                out_bytes(o, text + i, seq);
                i += seq;
            }
        }
    }
    out_char(o, '"');
}

/* Appends a finite double in the shortest of %.15g / %.17g that reads back
 * exactly, null when not finite. */
static void out_json_double(struct text_out *o, double d)
{
    if (!isfinite(d)) {
        out_str(o, "null");
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, sizeof buf, "%.17g", d);
    out_str(o, buf);
}

static void out_json_value(struct text_out *o, const struct value *v)
{
    char buf[32];
    switch (v->type) {
    case VALUE_BOOL:
        out_str(o, v->as.b ? "true" : "false");
        return;
    case VALUE_INT64:
        snprintf(buf, sizeof buf, "%" PRId64, v->as.i64);
        out_str(o, buf);
        return;
    case VALUE_UINT64:
        snprintf(buf, sizeof buf, "%" PRIu64, v->as.u64);
        out_str(o, buf);
        return;
    case VALUE_DOUBLE:
        out_json_double(o, v->as.f64);
        return;
    case VALUE_STRING:
        out_json_string(o, v->as.str.ptr ? v->as.str.ptr : "", v->as.str.ptr ? v->as.str.len : 0);
        return;
    }
    out_str(o, "null");
}

/* Epoch milliseconds of a timestamp in ns, rounded toward minus infinity. */
static int64_t epoch_ms(int64_t ts_ns)
{
    int64_t ms = ts_ns / 1000000;
    if (ts_ns % 1000000 < 0) ms--;
    return ms;
}

bool uns_value_json(char *out, size_t cap, size_t *len, const struct value *v, int64_t ts_ns,
                    quality_t quality)
{
    if (cap == 0) return false;
    struct text_out o = {.data = out, .cap = cap};
    out[0] = '\0';
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, epoch_ms(ts_ns));
    out_str(&o, "{\"value\":");
    out_json_value(&o, v);
    out_str(&o, ",\"timestamp\":");
    out_str(&o, ts);
    out_str(&o, ",\"quality\":");
    const char *name = quality_name(quality);
    out_json_string(&o, name, strlen(name));
    out_char(&o, '}');
    if (len) *len = o.overflow ? 0 : o.len;
    return !o.overflow;
}

static void out_json_field(struct text_out *o, const char *key, const char *val, bool first)
{
    if (!first) out_char(o, ',');
    out_json_string(o, key, strlen(key));
    out_char(o, ':');
    out_json_string(o, val ? val : "", val ? strlen(val) : 0);
}

bool uns_meta_json(char *out, size_t cap, size_t *len, const char *path, enum value_type type,
                   const char *unit, const char *description, const char *device)
{
    if (cap == 0) return false;
    struct text_out o = {.data = out, .cap = cap};
    out[0] = '\0';
    out_char(&o, '{');
    out_json_field(&o, "path", path, true);
    out_json_field(&o, "type", value_type_name(type), false);
    out_json_field(&o, "unit", unit, false);
    out_json_field(&o, "description", description, false);
    out_json_field(&o, "device", device, false);
    out_char(&o, '}');
    if (len) *len = o.overflow ? 0 : o.len;
    return !o.overflow;
}
