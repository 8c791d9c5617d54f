/* Pure text helpers of the HTTP server: a growable buffer, UTF-8 checks,
 * the ?prefix= parameter, the listen address and Prometheus label escaping. No sockets here; all of
 * it is unit-tested. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

void api_buf_init(struct api_buf *b)
{
    memset(b, 0, sizeof *b);
}

void api_buf_free(struct api_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static bool buf_reserve(struct api_buf *b, size_t extra)
{
    if (b->failed) return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void api_buf_append(struct api_buf *b, const char *bytes, size_t len)
{
    if (!buf_reserve(b, len)) return;
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void api_buf_puts(struct api_buf *b, const char *s)
{
    api_buf_append(b, s, strlen(s));
}

void api_buf_printf(struct api_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        api_buf_append(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s[0..avail), 0 if invalid. */
static size_t utf8_sequence_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

bool api_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence_len(p + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

json_t *api_json_string(const char *s, size_t len)
{
    if (!s) return json_string("");
    if (api_utf8_valid(s, len)) return json_stringn(s, len);
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *fixed = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes */
    if (!fixed) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t in = 0, out = 0;
    while (in < len) {
        size_t n = utf8_sequence_len(p + in, len - in);
        if (n == 0) {
            memcpy(fixed + out, "\xEF\xBF\xBD", 3);
            out += 3;
            in++;
        } else {
            memcpy(fixed + out, p + in, n);
            out += n;
            in += n;
        }
    }
    json_t *j = json_stringn(fixed, out);
    free(fixed);
    return j;
}

static bool segment_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

bool api_prefix_parse(const char *raw, size_t raw_len, char *out, size_t out_len, char *why,
                      size_t why_len)
{
    size_t len = raw_len;
    if (len > 0 && raw[len - 1] == '/') len--; /* "acme/plant1/" is accepted */
    if (len >= TAG_PATH_MAX || len >= out_len) {
        snprintf(why, why_len, "must be shorter than %d characters", TAG_PATH_MAX);
        return false;
    }
    int segments = 0;
    size_t seg_len = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '/') {
            if (seg_len == 0) {
                snprintf(why, why_len, "has an empty segment at character %zu", i + 1);
                return false;
            }
            segments++;
            seg_len = 0;
        } else if (!segment_char_ok(c)) {
            snprintf(why, why_len,
                     "may hold only letters, digits, '_', '-', '.' and '/' (character %zu is "
                     "0x%02x)",
                     i + 1, (unsigned)(unsigned char)c);
            return false;
        } else if (++seg_len > 64) {
            snprintf(why, why_len, "has a segment longer than 64 characters");
            return false;
        }
    }
    if (len > 0 && seg_len == 0) {
        snprintf(why, why_len, "has an empty segment at character %zu", len);
        return false;
    }
    if (len > 0 && segments + 1 > TAG_PATH_MAX_SEGMENTS) {
        snprintf(why, why_len, "has more than %d segments", TAG_PATH_MAX_SEGMENTS);
        return false;
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    return true;
}

bool api_prefix_matches(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (n == 0) return true;
    if (strncmp(prefix, path, n) != 0) return false;
    return path[n] == '\0' || path[n] == '/';
}

static bool parse_port(const char *s, uint16_t *port)
{
    if (*s == '\0' || strlen(s) > 5) return false;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

bool api_listen_addr_parse(const char *addr, char *host, size_t host_len, uint16_t *port, char *why,
                           size_t why_len)
{
    const char *host_start, *host_end, *port_text;
    if (addr[0] == '[') {
        host_start = addr + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end[1] != ':') {
            snprintf(why, why_len, "expected [IPV6]:PORT");
            return false;
        }
        port_text = host_end + 2;
    } else {
        host_start = addr;
        host_end = strrchr(addr, ':');
        if (!host_end) {
            snprintf(why, why_len, "expected HOST:PORT");
            return false;
        }
        if (memchr(addr, ':', (size_t)(host_end - addr))) {
            snprintf(why, why_len, "an IPv6 address needs brackets: [ADDR]:PORT");
            return false;
        }
        port_text = host_end + 1;
    }
    size_t n = (size_t)(host_end - host_start);
    if (n == 0) {
        snprintf(why, why_len, "the host is missing (use 0.0.0.0 or [::] for every address)");
        return false;
    }
    if (n >= host_len) {
        snprintf(why, why_len, "the host is too long");
        return false;
    }
    if (!parse_port(port_text, port)) {
        snprintf(why, why_len, "the port must be a number from 0 to 65535");
        return false;
    }
    memcpy(host, host_start, n);
    host[n] = '\0';
    return true;
}

void api_prom_label_escape(struct api_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            api_buf_append(b, "\\\\", 2);
            break;
        case '"':
            api_buf_append(b, "\\\"", 2);
            break;
        case '\n':
            api_buf_append(b, "\\n", 2);
            break;
        default:
            api_buf_append(b, p, 1);
            break;
        }
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t api_percent_decode(char *s)
{
    char *out = s;
    for (const char *in = s; *in;) {
        int hi, lo;
        if (in[0] == '%' && (hi = hex_digit(in[1])) >= 0 && (lo = hex_digit(in[2])) >= 0 &&
            (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}
