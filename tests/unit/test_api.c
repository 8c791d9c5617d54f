/* Tests of the HTTP server (src/api): the pure helpers, then the real server
 * on 127.0.0.1 spoken to over plain TCP sockets: REST routes, errors, the
 * dashboard files, /metrics, the event stream (snapshot, updates, overrun,
 * 20 concurrent streams, stop with streams open) and hostile requests;
 * the history texts (time parsing, CSV/JSON) and the history routes over a
 * real historian in a temporary directory. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/history_format.h"
#include "api/web_assets.h"
#include "boundary/boundary.h"
#include "core/clock.h"
#include "core/lvt.h"
#include "core/quality.h"
#include "core/sample.h"
#include "core/stats.h"
#include "core/tag.h"
#include "testlib.h"
#include "auth/auth.h"

/* Every route but health needs credentials: one admin token for the
 * in-process servers (made in a temporary data directory). */
static struct auth *test_auth;
static char auth_header[128]; /* "Authorization: Bearer alk_...\r\n" */
static char auth_dir[] = "/tmp/airlock-test-api-XXXXXX";

static void auth_setup(void)
{
    char *dir = auth_dir, err[256], token[AUTH_TOKEN_TEXT_SIZE];
    if (!mkdtemp(dir)) return;
    test_auth = auth_open(dir, true, NULL, err, sizeof err);
    if (!test_auth) return;
    auth_set_password_cost(test_auth, 10);
    CHECK_EQ_INT(auth_user_add(test_auth, "t-admin", AUTH_ROLE_ADMIN, "test-password-123",
                               clock_now_ns(), err, sizeof err),
                 AUTH_OK);
    CHECK_EQ_INT(auth_token_create(test_auth, "t-admin", "test", 0, clock_now_ns(), token, NULL,
                                   err, sizeof err),
                 AUTH_OK);
    snprintf(auth_header, sizeof auth_header, "Authorization: Bearer %s\r\n", token);
}

#define IO_TIMEOUT_MS 5000

/* ------------------------------------------------------------------ */
/* Pure helpers                                                        */
/* ------------------------------------------------------------------ */

static void test_utf8(void)
{
    CHECK(api_utf8_valid("plain", 5));
    CHECK(api_utf8_valid("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14));
    CHECK(!api_utf8_valid("\xC3", 1));             /* truncated */
    CHECK(!api_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    CHECK(!api_utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
    CHECK(!api_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!api_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!api_utf8_valid("\xFF", 1));
    json_t *j = api_json_string("a\xFF"
                                "b",
                                3);
    CHECK(j && strcmp(json_string_value(j), "a\xEF\xBF\xBD"
                                            "b") == 0);
    json_decref(j);
    j = api_json_string("x\0y", 3); /* embedded NUL survives as \u0000 */
    CHECK(j && json_string_length(j) == 3);
    json_decref(j);
}

static void test_prefix(void)
{
    char out[TAG_PATH_MAX], why[160];
    CHECK(api_prefix_parse("acme/plant1", 11, out, sizeof out, why, sizeof why));
    CHECK_STR(out, "acme/plant1");
    CHECK(api_prefix_parse("acme/plant1/", 12, out, sizeof out, why, sizeof why));
    CHECK_STR(out, "acme/plant1");
    CHECK(api_prefix_parse("", 0, out, sizeof out, why, sizeof why));
    CHECK_STR(out, "");
    CHECK(!api_prefix_parse("acme//x", 7, out, sizeof out, why, sizeof why));
    CHECK(strstr(why, "empty segment") != NULL);
    CHECK(!api_prefix_parse("/acme", 5, out, sizeof out, why, sizeof why));
    CHECK(!api_prefix_parse("acme/<script>", 13, out, sizeof out, why, sizeof why));
    CHECK(strstr(why, "<") == NULL); /* the reason never quotes the input */
    CHECK(strstr(why, "0x3c") != NULL);
    CHECK(!api_prefix_parse("a/b/c/d/e/f/g/h/i", 17, out, sizeof out, why, sizeof why));
    char longp[400];
    memset(longp, 'a', sizeof longp);
    CHECK(!api_prefix_parse(longp, sizeof longp, out, sizeof out, why, sizeof why));

    CHECK(api_prefix_matches("", "a/b"));
    CHECK(api_prefix_matches("a/b", "a/b"));
    CHECK(api_prefix_matches("a/b", "a/b/c"));
    CHECK(!api_prefix_matches("a/b", "a/bc"));
    CHECK(!api_prefix_matches("acme/plant1/util", "acme/plant1/utilities/x"));
    CHECK(!api_prefix_matches("a/b/c", "a/b"));
}

static void test_listen_addr(void)
{
    char host[64], why[128];
    uint16_t port = 0;
    CHECK(api_listen_addr_parse("127.0.0.1:8080", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 8080);
    CHECK(api_listen_addr_parse("[::1]:9", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "::1");
    CHECK_EQ_INT(port, 9);
    CHECK(api_listen_addr_parse("localhost:0", host, sizeof host, &port, why, sizeof why));
    CHECK(!api_listen_addr_parse("::1:80", host, sizeof host, &port, why, sizeof why));
    CHECK(strstr(why, "brackets") != NULL);
    CHECK(!api_listen_addr_parse("127.0.0.1", host, sizeof host, &port, why, sizeof why));
    CHECK(!api_listen_addr_parse("127.0.0.1:65536", host, sizeof host, &port, why, sizeof why));
    CHECK(!api_listen_addr_parse("127.0.0.1:8x", host, sizeof host, &port, why, sizeof why));
    CHECK(!api_listen_addr_parse(":8080", host, sizeof host, &port, why, sizeof why));
    CHECK(!api_listen_addr_parse("[::1]8080", host, sizeof host, &port, why, sizeof why));
}

static void test_text_buffers(void)
{
    struct api_buf b;
    api_buf_init(&b);
    api_prom_label_escape(&b, "a\"b\\c\nd");
    CHECK_STR(b.data, "a\\\"b\\\\c\\nd");
    api_buf_free(&b);

    for (int i = 0; i < 1000; i++)
        api_buf_printf(&b, "%04d,", i);
    CHECK_EQ_INT(b.len, 5000);
    CHECK(!b.failed);
    CHECK(strncmp(b.data + 4995, "0999,", 5) == 0);
    api_buf_free(&b);
}

static void test_rate_tracker(void)
{
    struct api_rate_tracker tr;
    api_rate_init(&tr);
    const char *names[] = {"pump", "meter"};
    uint64_t counts[] = {0, 100};
    CHECK(api_rate_update(&tr, names, counts, 2, 1000));
    CHECK_EQ_DBL(api_rate_get(&tr, "pump"), 0, 1e-9); /* one sample: unknown */
    for (int s = 1; s <= 20; s++) {
        counts[0] = (uint64_t)s * 50; /* 50 values/s */
        counts[1] = 100;              /* idle */
        CHECK(api_rate_update(&tr, names, counts, 2, 1000 + s * 1000));
    }
    CHECK_EQ_DBL(api_rate_get(&tr, "pump"), 50, 1e-9);
    CHECK_EQ_DBL(api_rate_get(&tr, "meter"), 0, 1e-9);
    CHECK_EQ_DBL(api_rate_get(&tr, "nobody"), 0, 1e-9);
    /* A reload that drops "meter" and restarts "pump" from zero. */
    uint64_t restarted[] = {10};
    CHECK(api_rate_update(&tr, names, restarted, 1, 30000));
    CHECK_EQ_DBL(api_rate_get(&tr, "pump"), 0, 1e-9);
    CHECK_EQ_INT(tr.count, 1);
    restarted[0] = 30;
    CHECK(api_rate_update(&tr, names, restarted, 1, 32000));
    CHECK_EQ_DBL(api_rate_get(&tr, "pump"), 10, 1e-9);
    api_rate_free(&tr);
}

static void test_value_json(void)
{
    struct lvt_entry e = {.quality = QUALITY_GOOD, .ts_ns = 1, .seq = 1};
    e.value = value_uint64(UINT64_MAX);
    json_t *j = api_value_json(&e);
    CHECK(json_is_string(j) && strcmp(json_string_value(j), "18446744073709551615") == 0);
    json_decref(j);
    e.value = value_uint64((uint64_t)INT64_MAX);
    j = api_value_json(&e);
    CHECK(json_is_integer(j) && json_integer_value(j) == INT64_MAX);
    json_decref(j);
    e.value = value_double(INFINITY);
    j = api_value_json(&e);
    CHECK(json_is_null(j));
    json_decref(j);
    e.value = value_double(21.3);
    j = api_value_json(&e);
    char *text = api_json_dump(j);
    CHECK_STR(text, "21.3"); /* 15 significant digits, not 21.300000000000001 */
    free(text);
    json_decref(j);
    e.seq = 0;
    j = api_value_json(&e);
    CHECK(json_is_null(j));
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* A tiny HTTP client over plain TCP                                   */
/* ------------------------------------------------------------------ */

static uint16_t server_port;

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    bool closed;
};

static bool conn_open(struct conn *c, uint16_t port)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    return true;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static bool conn_send(struct conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n <= 0) return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads what is available within timeout_ms; false on timeout or close. */
static bool conn_read_some(struct conn *c, int timeout_ms)
{
    if (c->closed) return false;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    if (c->cap - c->len < 4097) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *buf = realloc(c->buf, cap);
        if (!buf) return false;
        c->buf = buf;
        c->cap = cap;
        c->buf[c->len] = '\0'; /* a string even if nothing arrives */
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (n <= 0) {
        c->closed = true;
        return false;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return true;
}

/* Reads until needle appears at or after from; its offset, or -1. */
static long conn_read_until(struct conn *c, size_t from, const char *needle, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (c->buf && c->len > from) {
            char *hit = strstr(c->buf + from, needle);
            if (hit) return hit - c->buf;
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || !conn_read_some(c, (int)left)) {
            if (c->buf && c->len > from) {
                char *hit = strstr(c->buf + from, needle);
                if (hit) return hit - c->buf;
            }
            return -1;
        }
    }
}

struct response {
    int status;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
};

static void response_free(struct response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* The value of header name in r (copied into out), or NULL. */
static const char *header(const struct response *r, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = r->head; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end) break;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, len, "%.*s", (int)(end - v), v);
            return out;
        }
        line = end + 2;
    }
    return NULL;
}

/* Sends raw bytes, reads until the server closes; parses status and body. */
static bool http_raw(const char *request, size_t len, struct response *r)
{
    memset(r, 0, sizeof *r);
    struct conn c;
    if (!conn_open(&c, server_port)) return false;
    conn_send(&c, request, len);
    int64_t deadline = clock_mono_ms() + IO_TIMEOUT_MS;
    while (clock_mono_ms() < deadline && conn_read_some(&c, IO_TIMEOUT_MS)) {
    }
    bool ok = false;
    char *split = c.buf ? strstr(c.buf, "\r\n\r\n") : NULL;
    if (split && sscanf(c.buf, "HTTP/1.%*d %d", &r->status) == 1) {
        r->head = strndup(c.buf, (size_t)(split - c.buf) + 2);
        r->body_len = c.len - (size_t)(split + 4 - c.buf);
        r->body = malloc(r->body_len + 1);
        if (r->head && r->body) {
            memcpy(r->body, split + 4, r->body_len);
            r->body[r->body_len] = '\0';
            ok = true;
        }
    }
    conn_close(&c);
    return ok;
}

static bool http_request(const char *method, const char *target, struct response *r)
{
    char req[8192];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: test\r\n%sConnection: close\r\n\r\n",
                     method, target, auth_header);
    return http_raw(req, (size_t)n, r);
}

static json_t *get_json(const char *target, int expect_status)
{
    struct response r;
    if (!http_request("GET", target, &r)) {
        CHECK(!"request failed");
        return NULL;
    }
    CHECK_EQ_INT(r.status, expect_status);
    char v[128];
    CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0);
    json_error_t jerr;
    json_t *j = json_loadb(r.body, r.body_len, 0, &jerr);
    if (!j) fprintf(stderr, "bad JSON from %s: %s\n%s\n", target, jerr.text, r.body);
    CHECK(j != NULL);
    response_free(&r);
    return j;
}

/* Checks the common error shape and returns the message (owned by j). */
static const char *check_error(json_t *j, int code)
{
    json_t *e = json_object_get(j, "error");
    CHECK(json_is_object(e));
    CHECK_EQ_INT(json_integer_value(json_object_get(e, "code")), code);
    const char *m = json_string_value(json_object_get(e, "message"));
    CHECK(m != NULL && m[0] != '\0');
    return m ? m : "";
}

/* ------------------------------------------------------------------ */
/* The fixture: an LVT with a few tags, stats, a boundary              */
/* ------------------------------------------------------------------ */

enum {
    TAG_TEMP,
    TAG_RUNNING,
    TAG_COUNT,
    TAG_BIG,
    TAG_STATUS,
    TAG_NAN,
    TAG_UTIL,
    TAG_SPEED,
    TAG_TOTAL,
};

static const struct {
    const char *path;
    enum value_type type;
    const char *unit;
    const char *description;
} fixture_tags[TAG_TOTAL] = {
    {"acme/plant1/utilities/boiler/b1/temperature", VALUE_DOUBLE, "degC", "Boiler \"B1\" outlet"},
    {"acme/plant1/utilities/boiler/b1/running", VALUE_BOOL, "", ""},
    {"acme/plant1/utilities/boiler/b1/starts", VALUE_UINT64, "", "Burner starts"},
    {"acme/plant1/utilities/boiler/b1/energy_counter", VALUE_UINT64, "Wh", ""},
    {"acme/plant1/utilities/boiler/b1/state_text", VALUE_STRING, "", ""},
    {"acme/plant1/utilities/boiler/b1/flow", VALUE_DOUBLE, "m3/h", ""},
    {"acme/plant1/util/water/w1/level", VALUE_DOUBLE, "m", ""},
    {"acme/plant1/packaging/line1/filler/speed", VALUE_INT64, "1/min", "never sampled"},
};

#define TS_BASE_NS 1795342530123000000LL /* 2026-11-22T10:15:30.123Z */

static struct lvt *fixture_lvt(void)
{
    struct lvt *lvt = lvt_create();
    struct tag_table tt;
    tag_table_init(&tt);
    for (int i = 0; i < TAG_TOTAL; i++) {
        struct tag t = {.path = (char *)fixture_tags[i].path,
                        .type = fixture_tags[i].type,
                        .unit = (char *)fixture_tags[i].unit,
                        .description = (char *)fixture_tags[i].description,
                        .scale = {1, 0}};
        CHECK_EQ_INT(tag_table_add(&tt, &t), i);
    }
    CHECK(lvt_replace_tags(lvt, &tt));
    struct sample_batch *b = sample_batch_new(8);
    struct value v = value_double(21.5);
    sample_batch_add(b, TAG_TEMP, TS_BASE_NS, QUALITY_GOOD, &v);
    v = value_bool(true);
    sample_batch_add(b, TAG_RUNNING, TS_BASE_NS, QUALITY_GOOD, &v);
    v = value_uint64(9007199254740993ULL); /* 2^53 + 1: still an exact integer */
    sample_batch_add(b, TAG_COUNT, TS_BASE_NS, QUALITY_UNCERTAIN_LAST_USABLE_VALUE, &v);
    v = value_uint64(UINT64_MAX);
    sample_batch_add(b, TAG_BIG, TS_BASE_NS, QUALITY_GOOD, &v);
    struct value sv = {.type = VALUE_STRING};
    sv.as.str.ptr = "heating \xFF ok";
    sv.as.str.len = 12;
    sample_batch_add(b, TAG_STATUS, TS_BASE_NS, QUALITY_GOOD, &sv);
    v = value_double(NAN);
    sample_batch_add(b, TAG_NAN, TS_BASE_NS, QUALITY_BAD_SENSOR_FAILURE, &v);
    v = value_double(1.25);
    sample_batch_add(b, TAG_UTIL, TS_BASE_NS, QUALITY_GOOD, &v);
    lvt_apply_batch(lvt, b);
    sample_batch_free(b);
    return lvt;
}

static void set_double(struct lvt *lvt, uint32_t id, double d)
{
    struct sample_batch *b = sample_batch_new(1);
    struct value v = value_double(d);
    sample_batch_add(b, id, clock_now_ns(), QUALITY_GOOD, &v);
    lvt_apply_batch(lvt, b);
    sample_batch_free(b);
}

static void fixture_stats(struct stats_registry *r)
{
    stats_registry_init(r);
    struct device_stats *d = stats_registry_reset(r, 2);
    snprintf(d[0].name, sizeof d[0].name, "boiler_plc");
    snprintf(d[0].protocol, sizeof d[0].protocol, "modbus");
    snprintf(d[0].endpoint, sizeof d[0].endpoint, "127.0.0.1:5020 unit 1");
    atomic_store(&d[0].polls, 42);
    atomic_store(&d[0].requests, 84);
    atomic_store(&d[0].values, 420);
    atomic_store(&d[0].state, DEVICE_CONNECTED);
    atomic_store(&d[0].last_success_ns, TS_BASE_NS);
    device_stats_observe_latency(&d[0], 300000);     /* 0.3 ms: first bucket */
    device_stats_observe_latency(&d[0], 3000000);    /* 3 ms: le 0.005 */
    device_stats_observe_latency(&d[0], 9000000000); /* 9 s: +Inf only */
    snprintf(d[1].name, sizeof d[1].name, "we\"ird\\meter");
    snprintf(d[1].protocol, sizeof d[1].protocol, "modbus");
    atomic_store(&d[1].errors, 7);
    atomic_store(&d[1].timeouts, 5);
    atomic_store(&d[1].exceptions, 2);
    atomic_store(&d[1].reconnects, 3);
    atomic_store(&d[1].state, DEVICE_BACKOFF);
    device_stats_set_error(&d[1], "connect 127.0.0.1:5021: Connection refused");
}

/* ------------------------------------------------------------------ */
/* REST routes                                                          */
/* ------------------------------------------------------------------ */

static void check_security_headers(const struct response *r)
{
    char v[256];
    CHECK(header(r, "X-Content-Type-Options", v, sizeof v) && strcmp(v, "nosniff") == 0);
    CHECK(header(r, "X-Frame-Options", v, sizeof v) && strcmp(v, "DENY") == 0);
    CHECK(header(r, "Referrer-Policy", v, sizeof v) && strcmp(v, "no-referrer") == 0);
}

static void test_health(void)
{
    struct response r;
    CHECK(http_request("GET", "/api/v1/health", &r));
    CHECK_EQ_INT(r.status, 200);
    check_security_headers(&r);
    response_free(&r);

    json_t *j = get_json("/api/v1/health", 200);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "degraded");
    CHECK_STR(json_string_value(json_object_get(j, "gateway")), "test-gw");
    CHECK_STR(json_string_value(json_object_get(j, "version")), "9.9.9");
    CHECK(json_is_integer(json_object_get(j, "uptime_s")));
    json_t *devs = json_object_get(j, "devices");
    CHECK_EQ_INT(json_array_size(devs), 2);
    json_t *d0 = json_array_get(devs, 0), *d1 = json_array_get(devs, 1);
    CHECK_STR(json_string_value(json_object_get(d0, "name")), "boiler_plc");
    CHECK_STR(json_string_value(json_object_get(d0, "state")), "connected");
    CHECK(json_is_null(json_object_get(d0, "last_error")));
    CHECK_STR(json_string_value(json_object_get(d0, "last_success")), "2026-11-22T10:15:30.123Z");
    CHECK_STR(json_string_value(json_object_get(d1, "name")), "we\"ird\\meter");
    CHECK_STR(json_string_value(json_object_get(d1, "state")), "backoff");
    CHECK_STR(json_string_value(json_object_get(d1, "last_error")),
              "connect 127.0.0.1:5021: Connection refused");
    CHECK(json_is_string(json_object_get(d1, "last_error_time")));
    CHECK_EQ_INT(json_integer_value(json_object_get(d1, "reconnects")), 3);
    json_t *b = json_object_get(j, "boundary");
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "samples_sent")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "queued")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "samples_dropped")), 0);
    json_decref(j);

    CHECK(http_request("HEAD", "/api/v1/health", &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 0);
    response_free(&r);
}

static json_t *find_tag(json_t *tags, const char *path)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "path")), path) == 0) return t;
    }
    return NULL;
}

static void test_tags_all(void)
{
    json_t *j = get_json("/api/v1/tags", 200);
    json_t *tags = json_object_get(j, "tags");
    CHECK_EQ_INT(json_array_size(tags), TAG_TOTAL);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), TAG_TOTAL);

    json_t *t = find_tag(tags, fixture_tags[TAG_TEMP].path);
    CHECK(t != NULL);
    CHECK_STR(json_string_value(json_object_get(t, "type")), "double");
    CHECK_STR(json_string_value(json_object_get(t, "unit")), "degC");
    CHECK_STR(json_string_value(json_object_get(t, "description")), "Boiler \"B1\" outlet");
    CHECK(json_is_real(json_object_get(t, "value")));
    CHECK_EQ_DBL(json_real_value(json_object_get(t, "value")), 21.5, 1e-12);
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Good");
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "quality_code")), 0);
    CHECK_STR(json_string_value(json_object_get(t, "timestamp")), "2026-11-22T10:15:30.123Z");
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "timestamp_ms")), TS_BASE_NS / 1000000);

    t = find_tag(tags, fixture_tags[TAG_RUNNING].path);
    CHECK(json_is_true(json_object_get(t, "value")));
    t = find_tag(tags, fixture_tags[TAG_COUNT].path);
    CHECK(json_is_integer(json_object_get(t, "value")));
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "value")), 9007199254740993LL);
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Uncertain_LastUsableValue");
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "quality_code")), 0x40900000);
    t = find_tag(tags, fixture_tags[TAG_BIG].path);
    CHECK_STR(json_string_value(json_object_get(t, "value")), "18446744073709551615");
    t = find_tag(tags, fixture_tags[TAG_STATUS].path);
    CHECK_STR(json_string_value(json_object_get(t, "value")), "heating \xEF\xBF\xBD ok");
    t = find_tag(tags, fixture_tags[TAG_NAN].path);
    CHECK(json_is_null(json_object_get(t, "value")));
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Bad_SensorFailure");
    t = find_tag(tags, fixture_tags[TAG_SPEED].path);
    CHECK(json_is_null(json_object_get(t, "value")));
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Bad_WaitingForInitialData");
    CHECK(json_is_null(json_object_get(t, "timestamp")));
    CHECK(json_is_null(json_object_get(t, "timestamp_ms")));
    json_decref(j);
}

static void test_tags_prefix(void)
{
    json_t *j = get_json("/api/v1/tags?prefix=acme/plant1/utilities", 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 6);
    CHECK(find_tag(json_object_get(j, "tags"), fixture_tags[TAG_UTIL].path) == NULL);
    json_decref(j);

    j = get_json("/api/v1/tags?prefix=acme%2Fplant1%2Futil%2F", 200); /* encoded, trailing / */
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 1);
    CHECK(find_tag(json_object_get(j, "tags"), fixture_tags[TAG_UTIL].path) != NULL);
    json_decref(j);

    j = get_json("/api/v1/tags?prefix=acme/plant1/uti", 200); /* whole segments only */
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "tags")), 0);
    json_decref(j);

    j = get_json("/api/v1/tags?prefix=", 200); /* empty: everything */
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), TAG_TOTAL);
    json_decref(j);

    j = get_json("/api/v1/tags?prefix=acme/%3Cscript%3Ealert(1)%3C/script%3E", 400);
    const char *m = check_error(j, 400);
    CHECK(strstr(m, "prefix") != NULL);
    CHECK(strstr(m, "<script") == NULL && strstr(m, "alert") == NULL);
    json_decref(j);

    j = get_json("/api/v1/tags?prefix=acme%00plant", 400);
    check_error(j, 400);
    json_decref(j);
    j = get_json("/api/v1/tags?prefix=a//b", 400);
    check_error(j, 400);
    json_decref(j);
}

static void test_single_tag(void)
{
    json_t *j = get_json("/api/v1/tags/acme%2Fplant1%2Futilities%2Fboiler%2Fb1%2Ftemperature", 200);
    CHECK_STR(json_string_value(json_object_get(j, "path")), fixture_tags[TAG_TEMP].path);
    CHECK_EQ_DBL(json_real_value(json_object_get(j, "value")), 21.5, 1e-12);
    json_decref(j);

    j = get_json("/api/v1/tags/acme/plant1/util/water/w1/level", 200);
    CHECK_STR(json_string_value(json_object_get(j, "unit")), "m");
    json_decref(j);

    j = get_json("/api/v1/tags/acme/plant1/nothing/here", 404);
    CHECK(strstr(check_error(j, 404), "acme/plant1/nothing/here") != NULL);
    json_decref(j);

    j = get_json("/api/v1/tags/acme/%3Cb%3E", 404);
    CHECK(strstr(check_error(j, 404), "<b>") == NULL);
    json_decref(j);
    j = get_json("/api/v1/tags/", 404);
    check_error(j, 404);
    json_decref(j);
}

static void test_errors(void)
{
    json_t *j = get_json("/nope", 404);
    check_error(j, 404);
    json_decref(j);
    j = get_json("/api/v1/", 404);
    check_error(j, 404);
    json_decref(j);

    struct response r;
    CHECK(http_request("POST", "/api/v1/tags", &r));
    CHECK_EQ_INT(r.status, 405);
    char v[128];
    CHECK(header(&r, "Allow", v, sizeof v) && strcmp(v, "GET, HEAD") == 0);
    CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0);
    check_security_headers(&r);
    json_t *e = json_loadb(r.body, r.body_len, 0, NULL);
    check_error(e, 405);
    json_decref(e);
    response_free(&r);

    const char *post = "POST /api/v1/tags HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "Content-Length: 5\r\n\r\nhello";
    CHECK(http_raw(post, strlen(post), &r));
    CHECK_EQ_INT(r.status, 405);
    response_free(&r);
    CHECK(http_request("DELETE", "/api/v1/tags/acme/plant1/util/water/w1/level", &r));
    CHECK_EQ_INT(r.status, 405);
    response_free(&r);

    char target[3100] = "/api/v1/tags?prefix=";
    size_t n = strlen(target);
    memset(target + n, 'a', sizeof target - n - 1);
    target[sizeof target - 1] = '\0';
    j = get_json(target, 414);
    check_error(j, 414);
    json_decref(j);
}

static void test_static(void)
{
    const struct web_asset *index = NULL;
    for (const struct web_asset *a = web_assets; a->path; a++)
        if (strcmp(a->path, "/index.html") == 0) index = a;
    CHECK(index != NULL);
    if (!index) return;
    struct response r;
    CHECK(http_request("GET", "/", &r));
    CHECK_EQ_INT(r.status, 200);
    char v[256];
    CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "text/html; charset=utf-8") == 0);
    CHECK(header(&r, "Content-Security-Policy", v, sizeof v) &&
          strcmp(v, "default-src 'self'") == 0);
    CHECK(header(&r, "Cache-Control", v, sizeof v) && strcmp(v, "no-cache") == 0);
    check_security_headers(&r);
    CHECK_EQ_INT(r.body_len, index->size);
    CHECK(memcmp(r.body, index->data, index->size) == 0);
    CHECK(strstr(r.body, "http://") == NULL && strstr(r.body, "https://") == NULL);
    response_free(&r);

    const char *files[][2] = {{"/index.html", "text/html; charset=utf-8"},
                              {"/app.js", "text/javascript; charset=utf-8"},
                              {"/style.css", "text/css; charset=utf-8"}};
    for (size_t i = 0; i < 3; i++) {
        CHECK(http_request("GET", files[i][0], &r));
        CHECK_EQ_INT(r.status, 200);
        CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, files[i][1]) == 0);
        CHECK(r.body_len > 100);
        response_free(&r);
    }
}

/* ------------------------------------------------------------------ */
/* /metrics                                                             */
/* ------------------------------------------------------------------ */

static bool metric_name_ok(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

/* Checks one sample line: name{label="value",...} number. */
static bool sample_line_ok(const char *line)
{
    size_t n = strcspn(line, "{ ");
    if (!metric_name_ok(line, n)) return false;
    const char *p = line + n;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            size_t ln = strcspn(p, "=");
            if (!metric_name_ok(p, ln) || p[ln] != '=' || p[ln + 1] != '"') return false;
            p += ln + 2;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') return false;
                    p++;
                }
                if (*p == '\n') return false;
                p++;
            }
            if (*p != '"') return false;
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return false;
        }
        p++;
    }
    if (*p != ' ') return false;
    p++;
    char *end;
    strtod(p, &end);
    return end != p && *end == '\0';
}

/* Validates the whole exposition: HELP/TYPE before samples, families
 * contiguous, every line well-formed. */
static bool exposition_ok(char *text)
{
    char current[128] = "";
    bool ok = true;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP ", 7) == 0) {
            snprintf(current, sizeof current, "%.*s", (int)strcspn(line + 7, " "), line + 7);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *type = line + 7 + strlen(current) + 1;
            if (strncmp(line + 7, current, strlen(current)) != 0) ok = false;
            if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
                ok = false;
        } else if (line[0] == '#') {
            ok = false;
        } else {
            if (!sample_line_ok(line) || strncmp(line, current, strlen(current)) != 0) {
                fprintf(stderr, "bad metric line: %s\n", line);
                ok = false;
            }
        }
    }
    return ok;
}

static void test_metrics(void)
{
    struct response r;
    CHECK(http_request("GET", "/metrics", &r));
    CHECK_EQ_INT(r.status, 200);
    char v[128];
    CHECK(header(&r, "Content-Type", v, sizeof v) &&
          strcmp(v, "text/plain; version=0.0.4; charset=utf-8") == 0);
    check_security_headers(&r);
    const char *expect[] = {
        "# TYPE airlock_polls_total counter\n",
        "airlock_polls_total{device=\"boiler_plc\"} 42\n",
        "airlock_requests_total{device=\"boiler_plc\"} 84\n",
        "airlock_request_errors_total{device=\"we\\\"ird\\\\meter\"} 7\n",
        "airlock_modbus_exceptions_total{device=\"we\\\"ird\\\\meter\"} 2\n",
        "airlock_timeouts_total{device=\"we\\\"ird\\\\meter\"} 5\n",
        "airlock_reconnects_total{device=\"we\\\"ird\\\\meter\"} 3\n",
        "airlock_values_total{device=\"boiler_plc\"} 420\n",
        "airlock_skipped_polls_total{device=\"boiler_plc\"} 0\n",
        "airlock_device_up{device=\"boiler_plc\"} 1\n",
        "airlock_device_up{device=\"we\\\"ird\\\\meter\"} 0\n",
        "# TYPE airlock_poll_latency_seconds histogram\n",
        "airlock_poll_latency_seconds_bucket{device=\"boiler_plc\",le=\"0.0005\"} 1\n",
        "airlock_poll_latency_seconds_bucket{device=\"boiler_plc\",le=\"0.0025\"} 1\n",
        "airlock_poll_latency_seconds_bucket{device=\"boiler_plc\",le=\"0.005\"} 2\n",
        "airlock_poll_latency_seconds_bucket{device=\"boiler_plc\",le=\"5\"} 2\n",
        "airlock_poll_latency_seconds_bucket{device=\"boiler_plc\",le=\"+Inf\"} 3\n",
        "airlock_poll_latency_seconds_sum{device=\"boiler_plc\"} 9.003300\n",
        "airlock_poll_latency_seconds_count{device=\"boiler_plc\"} 3\n",
        "airlock_poll_latency_seconds_count{device=\"we\\\"ird\\\\meter\"} 0\n",
        "# TYPE airlock_values_per_second gauge\n",
        "airlock_values_per_second{device=\"boiler_plc\"} ",
        "airlock_lvt_values_applied_total ",
        "airlock_boundary_samples_sent_total 3\n",
        "airlock_boundary_samples_dropped_total 0\n",
        "airlock_boundary_queue_batches 1\n",
        "airlock_tags 8\n",
        "airlock_uptime_seconds ",
        "airlock_info{gateway=\"test-gw\",version=\"9.9.9\"} 1\n",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (!strstr(r.body, expect[i])) fprintf(stderr, "missing metric: %s\n", expect[i]);
        CHECK(strstr(r.body, expect[i]) != NULL);
    }
    CHECK(exposition_ok(r.body));
    response_free(&r);
}

/* ------------------------------------------------------------------ */
/* Event stream                                                          */
/* ------------------------------------------------------------------ */

/* Opens a stream (HTTP/1.0: no chunked framing to undo). */
static bool stream_open(struct conn *c, const char *target)
{
    if (!conn_open(c, server_port)) return false;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: t\r\n%s\r\n", target, auth_header);
    return conn_send(c, req, (size_t)n);
}

/* Waits for the next event called name after *pos; returns its data parsed
 * and moves *pos past it. NULL on timeout. */
static json_t *stream_next(struct conn *c, size_t *pos, const char *name, int timeout_ms)
{
    char needle[64];
    snprintf(needle, sizeof needle, "event: %s\ndata: ", name);
    long at = conn_read_until(c, *pos, needle, timeout_ms);
    if (at < 0) return NULL;
    size_t data = (size_t)at + strlen(needle);
    long end = conn_read_until(c, data, "\n\n", timeout_ms);
    if (end < 0) return NULL;
    *pos = (size_t)end + 2;
    return json_loadb(c->buf + data, (size_t)end - data, 0, NULL);
}

static void test_stream_basic(struct lvt *lvt)
{
    struct conn c;
    CHECK(stream_open(&c, "/api/v1/stream?prefix=acme/plant1/utilities"));
    CHECK(conn_read_until(&c, 0, "\r\n\r\n", IO_TIMEOUT_MS) > 0);
    CHECK(strncmp(c.buf, "HTTP/1.", 7) == 0 && strstr(c.buf, " 200 ") != NULL);
    CHECK(strstr(c.buf, "Content-Type: text/event-stream") != NULL);
    CHECK(strstr(c.buf, "X-Content-Type-Options: nosniff") != NULL);
    size_t pos = 0;
    json_t *snap = stream_next(&c, &pos, "snapshot", IO_TIMEOUT_MS);
    CHECK(snap != NULL);
    CHECK(strstr(c.buf, "retry: ") != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(snap, "count")), 6);
    json_t *temp = find_tag(json_object_get(snap, "tags"), fixture_tags[TAG_TEMP].path);
    CHECK(temp && json_real_value(json_object_get(temp, "value")) == 21.5);
    CHECK(temp && json_is_string(json_object_get(temp, "unit")));
    json_decref(snap);

    set_double(lvt, TAG_UTIL, 2.5); /* outside the prefix: not sent */
    set_double(lvt, TAG_TEMP, 22.75);
    json_t *upd = stream_next(&c, &pos, "update", IO_TIMEOUT_MS);
    CHECK(json_is_array(upd));
    CHECK_EQ_INT(json_array_size(upd), 1);
    json_t *t = json_array_get(upd, 0);
    CHECK_STR(json_string_value(json_object_get(t, "path")), fixture_tags[TAG_TEMP].path);
    CHECK_EQ_DBL(json_real_value(json_object_get(t, "value")), 22.75, 1e-12);
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Good");
    CHECK(json_is_integer(json_object_get(t, "timestamp_ms")));
    json_decref(upd);

    /* Rapid changes coalesce: one tag appears once with its latest value,
     * and events come at most every 250 ms. */
    int64_t start = clock_mono_ms();
    for (int i = 0; i < 20; i++) {
        set_double(lvt, TAG_TEMP, 30 + i);
        clock_sleep_until_ms(clock_mono_ms() + 10);
    }
    int events = 0;
    double last = 0;
    while (last != 49) {
        upd = stream_next(&c, &pos, "update", 2000);
        if (!upd) break;
        events++;
        CHECK_EQ_INT(json_array_size(upd), 1);
        last = json_real_value(json_object_get(json_array_get(upd, 0), "value"));
        json_decref(upd);
    }
    int64_t took = clock_mono_ms() - start;
    CHECK(last == 49);
    CHECK(events >= 1 && events <= 2 + took / 250);

    /* More changes than the ring holds: the stream resends a snapshot. */
    struct sample_batch *b = sample_batch_new(LVT_RING_SIZE + 10);
    for (uint32_t i = 0; i < LVT_RING_SIZE + 10; i++) {
        struct value v = value_double(i);
        sample_batch_add(b, TAG_TEMP, clock_now_ns(), QUALITY_GOOD, &v);
    }
    lvt_apply_batch(lvt, b);
    sample_batch_free(b);
    snap = stream_next(&c, &pos, "snapshot", IO_TIMEOUT_MS);
    CHECK(snap != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(snap, "count")), 6);
    json_decref(snap);
    conn_close(&c);
}

static void test_stream_http11_and_head(void)
{
    struct conn c;
    CHECK(conn_open(&c, server_port));
    char req[256];
    snprintf(req, sizeof req, "GET /api/v1/stream HTTP/1.1\r\nHost: t\r\n%s\r\n", auth_header);
    conn_send(&c, req, strlen(req));
    CHECK(conn_read_until(&c, 0, "event: snapshot", IO_TIMEOUT_MS) > 0);
    CHECK(strstr(c.buf, "Transfer-Encoding: chunked") != NULL);
    CHECK(strstr(c.buf, "Cache-Control: no-cache") != NULL);
    conn_close(&c);

    struct response r;
    CHECK(http_request("HEAD", "/api/v1/stream", &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 0);
    response_free(&r);
    json_t *j = get_json("/api/v1/stream?prefix=bad%20prefix", 400);
    CHECK(strstr(check_error(j, 400), "prefix") != NULL);
    json_decref(j);
}

#define CONCURRENT_STREAMS 20

static void test_concurrent_streams(struct lvt *lvt)
{
    struct conn streams[CONCURRENT_STREAMS];
    size_t pos[CONCURRENT_STREAMS] = {0};
    int snapshots = 0, updates = 0;
    for (int i = 0; i < CONCURRENT_STREAMS; i++)
        CHECK(stream_open(&streams[i], "/api/v1/stream"));
    for (int i = 0; i < CONCURRENT_STREAMS; i++) {
        json_t *s = stream_next(&streams[i], &pos[i], "snapshot", IO_TIMEOUT_MS);
        snapshots += s != NULL;
        json_decref(s);
    }
    CHECK_EQ_INT(snapshots, CONCURRENT_STREAMS);
    /* Normal requests still answer promptly. */
    int64_t t0 = clock_mono_ms();
    for (int i = 0; i < 10; i++) {
        json_t *j = get_json("/api/v1/health", 200);
        json_decref(j);
    }
    CHECK(clock_mono_ms() - t0 < 2000);
    set_double(lvt, TAG_UTIL, 7.5);
    for (int i = 0; i < CONCURRENT_STREAMS; i++) {
        json_t *u = stream_next(&streams[i], &pos[i], "update", IO_TIMEOUT_MS);
        updates += u && json_array_size(u) == 1;
        json_decref(u);
    }
    CHECK_EQ_INT(updates, CONCURRENT_STREAMS);
    for (int i = 0; i < CONCURRENT_STREAMS; i++)
        conn_close(&streams[i]);
}

/* ------------------------------------------------------------------ */
/* Hostile requests                                                      */
/* ------------------------------------------------------------------ */

/* Sends a hostile request: it must be refused with a 4xx, or, when allow_close
 * is set (bytes that are not HTTP at all, which libmicrohttpd drops without a
 * reply), with the connection closed and nothing sent. */
static void expect_refused(const char *what, const char *req, size_t len, bool allow_close)
{
    struct response r;
    bool got = http_raw(req, len, &r);
    bool ok = got ? r.status >= 400 && r.status < 500 : allow_close;
    if (!ok) fprintf(stderr, "hostile request '%s': status %d\n", what, got ? r.status : -1);
    CHECK(ok);
    response_free(&r);
}

static void expect_4xx(const char *what, const char *req, size_t len)
{
    expect_refused(what, req, len, false);
}

static void test_hostile(void)
{
    size_t big = 64 * 1024;
    char *req = malloc(big + 256);
    CHECK(req != NULL);
    if (!req) return;
    int n = snprintf(req, 256, "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Long: ");
    memset(req + n, 'x', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    expect_4xx("long header", req, strlen(req));

    n = snprintf(req, 256, "GET /");
    memset(req + n, 'a', big);
    static const char tail[] = " HTTP/1.1\r\nHost: t\r\n\r\n";
    memcpy(req + n + big, tail, sizeof tail);
    expect_4xx("huge URL", req, strlen(req));
    free(req);

    const char *cases[][2] = {
        {"garbage method", "GARBAGE / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"},
        {"traversal", "GET /../../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"},
        {"encoded traversal",
         "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"},
        {"traversal via tag route", "GET /api/v1/tags/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: "
                                    "t\r\nConnection: close\r\n\r\n"},
        {"traversal via assets",
         "GET /..%2fsrc%2fapi%2fapi.h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"},
        {"bad percent", "GET /api/v1/tags/%zz%0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"},
        {"no host", "GET /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n"},
        {"header without colon",
         "GET /api/v1/health HTTP/1.1\r\nHost: t\r\nBrokenHeader\r\nConnection: close\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_4xx(cases[i][0], cases[i][1], strlen(cases[i][1]));
    expect_refused("garbage request line", "GARBAGE\r\n\r\n", 11, true);
    expect_refused("binary junk", "\x01\x02\x03\xff\xfe\r\n\r\n", 9, true);
    expect_refused("NUL bytes", "GET /\0\0 HTTP/1.1\r\n\r\n", 20, true);

    /* An HTTP version from the future: 505, as RFC 9110 says. */
    struct response r;
    const char *future = "GET / HTTP/9.9\r\nHost: t\r\n\r\n";
    CHECK(http_raw(future, strlen(future), &r));
    CHECK_EQ_INT(r.status, 505);
    response_free(&r);

    /* A client that connects and says nothing, and one that leaves halfway:
     * neither disturbs anyone. */
    struct conn idle, half;
    CHECK(conn_open(&idle, server_port));
    CHECK(conn_open(&half, server_port));
    conn_send(&half, "GET /api/v1/hea", 15);
    conn_close(&half);

    json_t *j = get_json("/api/v1/health", 200); /* still serving */
    CHECK(json_is_object(j));
    json_decref(j);
    conn_close(&idle);
}

/* ------------------------------------------------------------------ */
/* Start, stop                                                           */
/* ------------------------------------------------------------------ */

static struct api_server *start_on_free_port(const struct api_context *given)
{
    char addr[64], err[256];
    struct api_context with_auth = *given;
    if (!with_auth.auth) with_auth.auth = test_auth;
    const struct api_context *ctx = &with_auth;
    for (int attempt = 0; attempt < 50; attempt++) {
        server_port = (uint16_t)(18080 + (getpid() + attempt * 37) % 1000);
        snprintf(addr, sizeof addr, "127.0.0.1:%u", server_port);
        struct api_server *s = api_start(addr, ctx, err, sizeof err);
        if (s) return s;
        if (!strstr(err, "in use")) {
            fprintf(stderr, "api_start: %s\n", err);
            return NULL;
        }
    }
    return NULL;
}

static void test_start_errors(const struct api_context *ctx, struct api_server *running)
{
    char addr[64], err[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", api_port(running));
    CHECK(api_start(addr, ctx, err, sizeof err) == NULL);
    CHECK(strstr(err, addr) != NULL);
    CHECK(strstr(err, "in use") != NULL);
    CHECK(api_start("127.0.0.1", ctx, err, sizeof err) == NULL);
    CHECK(strstr(err, "HOST:PORT") != NULL);
    CHECK(api_start("203.0.113.7:1", ctx, err, sizeof err) == NULL); /* not our address */
    CHECK(strstr(err, "203.0.113.7:1") != NULL);

    /* Port 0 and IPv6 loopback (when the host has it). */
    struct api_server *v6 = api_start("[::1]:0", ctx, err, sizeof err);
    if (v6) {
        CHECK(api_port(v6) != 0);
        api_stop(v6);
    }
    api_stop(NULL);
}

static void test_stop_with_streams(const struct api_context *ctx)
{
    struct api_server *s = start_on_free_port(ctx);
    CHECK(s != NULL);
    if (!s) return;
    struct conn c[CONCURRENT_STREAMS];
    size_t pos[CONCURRENT_STREAMS] = {0};
    for (int i = 0; i < CONCURRENT_STREAMS; i++) {
        CHECK(stream_open(&c[i], "/api/v1/stream"));
        json_t *snap = stream_next(&c[i], &pos[i], "snapshot", IO_TIMEOUT_MS);
        CHECK(snap != NULL);
        json_decref(snap);
    }
    int64_t t0 = clock_mono_ms();
    api_stop(s);
    int64_t took = clock_mono_ms() - t0;
    fprintf(stderr, "api_stop with %d open streams took %lld ms\n", CONCURRENT_STREAMS,
            (long long)took);
    CHECK(took < 1000);
    for (int i = 0; i < CONCURRENT_STREAMS; i++) {
        /* The server closed the streams. */
        while (conn_read_some(&c[i], 1000)) {
        }
        CHECK(c[i].closed);
        conn_close(&c[i]);
    }
}

/* More tags than one hold of the read lock serialises: listings, snapshots
 * and updates come out whole and in order. */
#define MANY_TAGS 5000

static void test_many_tags(void)
{
    struct lvt *lvt = lvt_create();
    struct tag_table tt;
    tag_table_init(&tt);
    char path[64];
    for (int i = 0; i < MANY_TAGS; i++) {
        snprintf(path, sizeof path, "big/site/area%d/t%05d", i % 7, i);
        struct tag t = {.path = path, .type = VALUE_INT64, .unit = "", .description = ""};
        tag_table_add(&tt, &t);
    }
    lvt_replace_tags(lvt, &tt);
    struct api_context ctx = {.lvt = lvt, .gateway_name = "big", .version = "1"};
    struct api_server *s = start_on_free_port(&ctx);
    CHECK(s != NULL);
    if (!s) {
        lvt_destroy(lvt);
        return;
    }
    json_t *j = get_json("/api/v1/tags", 200);
    json_t *tags = json_object_get(j, "tags");
    CHECK_EQ_INT(json_array_size(tags), MANY_TAGS);
    bool in_order = true;
    for (size_t i = 0; i < json_array_size(tags); i++) {
        snprintf(path, sizeof path, "big/site/area%zu/t%05zu", i % 7, i);
        if (strcmp(json_string_value(json_object_get(json_array_get(tags, i), "path")), path))
            in_order = false;
    }
    CHECK(in_order);
    json_decref(j);
    j = get_json("/api/v1/tags?prefix=big/site/area3", 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), (MANY_TAGS + 3) / 7);
    json_decref(j);

    struct conn c;
    size_t pos = 0;
    CHECK(stream_open(&c, "/api/v1/stream"));
    json_t *snap = stream_next(&c, &pos, "snapshot", IO_TIMEOUT_MS);
    CHECK_EQ_INT(json_integer_value(json_object_get(snap, "count")), MANY_TAGS);
    json_decref(snap);
    struct sample_batch *b = sample_batch_new(MANY_TAGS);
    for (uint32_t i = 0; i < MANY_TAGS; i++) {
        struct value v = value_int64(-(int64_t)i);
        sample_batch_add(b, i, clock_now_ns(), QUALITY_GOOD, &v);
    }
    lvt_apply_batch(lvt, b);
    sample_batch_free(b);
    json_t *upd = stream_next(&c, &pos, "update", IO_TIMEOUT_MS);
    CHECK_EQ_INT(json_array_size(upd), MANY_TAGS);
    json_t *last = json_array_get(upd, MANY_TAGS - 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(last, "value")), -(MANY_TAGS - 1));
    json_decref(upd);
    conn_close(&c);
    api_stop(s);
    lvt_destroy(lvt);
}

static int open_fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Starting and stopping leaves no socket or thread behind. */
static void test_restart_no_leak(const struct api_context *ctx)
{
    int before = open_fd_count();
    for (int i = 0; i < 10; i++) {
        struct api_server *s = start_on_free_port(ctx);
        CHECK(s != NULL);
        if (!s) return;
        json_t *j = get_json("/api/v1/health", 200);
        json_decref(j);
        api_stop(s);
    }
    CHECK_EQ_INT(open_fd_count(), before);
}

/* A client that goes away is noticed without waiting for a keepalive, and
 * a replaced tag set makes open streams start over with a snapshot. */
static void test_stream_lifecycle(struct lvt *lvt)
{
    struct conn c;
    size_t pos = 0;
    CHECK(stream_open(&c, "/api/v1/stream?prefix=acme/plant1/new"));
    json_t *snap = stream_next(&c, &pos, "snapshot", IO_TIMEOUT_MS);
    CHECK_EQ_INT(json_integer_value(json_object_get(snap, "count")), 0);
    json_decref(snap);

    struct tag_table tt;
    tag_table_init(&tt);
    for (int i = 0; i < TAG_TOTAL; i++) {
        struct tag t = {.path = (char *)fixture_tags[i].path,
                        .type = fixture_tags[i].type,
                        .unit = (char *)fixture_tags[i].unit,
                        .description = (char *)fixture_tags[i].description};
        tag_table_add(&tt, &t);
    }
    struct tag extra = {
        .path = "acme/plant1/new/tag", .type = VALUE_BOOL, .unit = "", .description = ""};
    tag_table_add(&tt, &extra);
    CHECK(lvt_replace_tags(lvt, &tt));
    snap = stream_next(&c, &pos, "snapshot", IO_TIMEOUT_MS);
    CHECK(snap != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(snap, "count")), 1);
    json_t *t = json_array_get(json_object_get(snap, "tags"), 0);
    CHECK_STR(json_string_value(json_object_get(t, "quality")), "Bad_WaitingForInitialData");
    json_decref(snap);
    /* Values of tags that stayed were kept. */
    json_t *j = get_json("/api/v1/tags/acme/plant1/util/water/w1/level", 200);
    CHECK_EQ_DBL(json_real_value(json_object_get(j, "value")), 7.5, 1e-12);
    json_decref(j);

    conn_close(&c);
    int64_t deadline = clock_mono_ms() + 3000;
    bool gone = false;
    while (!gone && clock_mono_ms() < deadline) {
        struct response r;
        if (http_request("GET", "/metrics", &r)) gone = strstr(r.body, "airlock_http_streams 0\n");
        response_free(&r);
        if (!gone) clock_sleep_until_ms(clock_mono_ms() + 100);
    }
    CHECK(gone);
}

static void check_decode(const char *in, const char *want)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", in);
    size_t n = api_percent_decode(buf);
    CHECK_EQ_INT(n, strlen(want));
    CHECK_STR(buf, want);
}

static void test_percent_decode(void)
{
    check_decode("/api/v1/tags", "/api/v1/tags");
    check_decode("/a%2Fb%20c", "/a/b c");
    check_decode("%c3%a9", "\xC3\xA9");
    check_decode("/api/v1/health%00junk", "/api/v1/health%00junk"); /* never a NUL */
    check_decode("%zz%4", "%zz%4");                                 /* not escapes */
    check_decode("%", "%");
    check_decode("", "");
}

/* ------------------------------------------------------------------ */
/* History texts (history_format.c)                                    */
/* ------------------------------------------------------------------ */

static int64_t parse_time_ok(const char *text)
{
    int64_t ns = -1;
    char why[256] = "";
    bool ok = history_time_parse(text, 5 * HIST_NS_PER_S, &ns, why, sizeof why);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  time '%s' refused: %s\n", text, why);
    return ns;
}

static void test_history_time_parse(void)
{
    CHECK_EQ_INT(parse_time_ok("1970-01-01T00:00:00Z"), 0);
    CHECK_EQ_INT(parse_time_ok("2026-11-22T10:15:30Z"), 1795342530LL * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("2026-11-22T10:15:30.123Z"),
                 1795342530LL * HIST_NS_PER_S + 123 * HIST_NS_PER_MS);
    CHECK_EQ_INT(parse_time_ok("2026-11-22t10:15:30.000000001z"), 1795342530LL * HIST_NS_PER_S + 1);
    CHECK_EQ_INT(parse_time_ok("2026-11-22T11:15:30+01:00"), 1795342530LL * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("2026-11-22 05:45:30.5-04:30"),
                 1795342530LL * HIST_NS_PER_S + 500 * HIST_NS_PER_MS);
    CHECK_EQ_INT(parse_time_ok("2026-11-22"), 1795305600LL * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("2024-02-29T00:00:00Z"), 1709164800LL * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("1969-12-31T23:59:59Z"), -HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("1795342530123"), 1795342530123LL * HIST_NS_PER_MS);
    CHECK_EQ_INT(parse_time_ok("0"), 0);
    CHECK_EQ_INT(parse_time_ok("now"), 5 * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("now-1s"), 4 * HIST_NS_PER_S);
    CHECK_EQ_INT(parse_time_ok("now+500ms"), 5 * HIST_NS_PER_S + 500 * HIST_NS_PER_MS);

    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-11-22T10:15:30",             /* no zone */
        "2026-11-22T10:15Z",               /* no seconds */
        "2026-13-01T00:00:00Z",            /* month */
        "2025-02-29T00:00:00Z",            /* not a leap year */
        "2026-11-22T24:00:00Z",            /* hour */
        "2026-11-22T10:15:30.Z",           /* empty fraction */
        "2026-11-22T10:15:30.1234567891Z", /* 10 digits */
        "2026-11-22T10:15:30+0100",        /* offset without colon */
        "2026-11-22T10:15:30Zjunk",
        "-5",
        "12.5",
        "99999999999999999999",
        "now-",
        "now-1hour",
        "9999-12-31T23:59:59Z", /* beyond int64 ns */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ns = 42;
        char why[256] = "";
        bool ok = history_time_parse(bad[i], 0, &ns, why, sizeof why);
        CHECK(!ok);
        if (ok) fprintf(stderr, "  time '%s' accepted as %lld\n", bad[i], (long long)ns);
        CHECK(strstr(why, "expected") != NULL);
        CHECK(strlen(bad[i]) < 8 || strstr(why, bad[i]) == NULL); /* never quotes the input */
    }
}

static void test_history_small_parsers(void)
{
    int64_t every = 0;
    uint32_t limit = 0;
    CHECK(history_every_parse("1h", &every) && every == 3600 * HIST_NS_PER_S);
    CHECK(history_every_parse("15m", &every) && every == 900 * HIST_NS_PER_S);
    CHECK(history_every_parse("500ms", &every) && every == 500 * HIST_NS_PER_MS);
    CHECK(!history_every_parse("0s", &every));
    CHECK(!history_every_parse("10", &every));
    CHECK(!history_every_parse(NULL, &every));
    CHECK(history_limit_parse("1", &limit) && limit == 1);
    CHECK(history_limit_parse("1000000", &limit) && limit == 1000000);
    CHECK(!history_limit_parse("0", &limit));
    CHECK(!history_limit_parse("1000001", &limit));
    CHECK(!history_limit_parse("-3", &limit));
    CHECK(!history_limit_parse("12x", &limit));
    CHECK(!history_limit_parse("", &limit));
    CHECK_EQ_INT(history_bucket_count(0, 10, 5), 2);
    CHECK_EQ_INT(history_bucket_count(0, 11, 5), 3);
    CHECK_EQ_INT(history_bucket_count(-7, 3, 10), 1);
    CHECK_EQ_INT(history_bucket_count(0, 3600 * HIST_NS_PER_S, HIST_NS_PER_S), 3600);
    CHECK_STR(history_quality_name(QUALITY_BAD_NO_DATA), "Bad_NoData");
    CHECK_STR(history_quality_name(QUALITY_GOOD), "Good");
}

static void test_history_format_double(void)
{
    char buf[40];
    static const double values[] = {
        21.3, 0.1,  -1e-7, 1.0 / 3.0, 123456789012345678.0, 5e-324, 1.7976931348623157e308,
        0.0,  -0.0, 100.0};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        history_format_double(values[i], buf, sizeof buf);
        double back = strtod(buf, NULL);
        CHECK(memcmp(&back, &values[i], sizeof back) == 0); /* bit-exact round trip */
    }
    history_format_double(21.3, buf, sizeof buf);
    CHECK_STR(buf, "21.3"); /* shortest, not 21.300000000000001 */
    history_format_double(100.0, buf, sizeof buf);
    CHECK_STR(buf, "100");
    history_format_double(NAN, buf, sizeof buf);
    CHECK_STR(buf, "NaN");
}

/* Runs fn into a memory stream and returns the text (caller frees). */
static char *capture_begin(FILE **f, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    *f = open_memstream(text, len);
    return *text;
}

static void test_history_strings(void)
{
    FILE *f;
    char *text;
    size_t len;
    capture_begin(&f, &text, &len);
    history_write_json_string(f, "a\"b\\c\n\x01\xC3\xA9\xFF", 10);
    fclose(f);
    CHECK_STR(text, "\"a\\\"b\\\\c\\n\\u0001\xC3\xA9\\ufffd\"");
    json_error_t jerr;
    json_t *parsed = json_loads(text, JSON_DECODE_ANY, &jerr);
    CHECK(parsed && json_is_string(parsed));
    json_decref(parsed);
    free(text);

    capture_begin(&f, &text, &len);
    history_write_csv_field(f, "plain", 5);
    fputc('|', f);
    history_write_csv_field(f, "a,b", 3);
    fputc('|', f);
    history_write_csv_field(f, "say \"hi\"", 8);
    fputc('|', f);
    history_write_csv_field(f, "two\nlines", 9);
    fclose(f);
    CHECK_STR(text, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"");
    free(text);
}

static void test_history_raw_output(void)
{
    struct hist_columns c;
    hist_columns_init(&c, VALUE_DOUBLE);
    struct value v = value_double(21.5);
    CHECK(hist_columns_push(&c, 1795342530LL * HIST_NS_PER_S, QUALITY_GOOD, &v));
    v = value_double(NAN);
    CHECK(hist_columns_push(&c, 1795342531LL * HIST_NS_PER_S + 250 * HIST_NS_PER_MS,
                            QUALITY_BAD_COMMUNICATION_ERROR, &v));
    FILE *f;
    char *text;
    size_t len;
    capture_begin(&f, &text, &len);
    history_write_raw_csv(f, NULL, &c, true);
    fclose(f);
    CHECK_STR(text, "time,value,quality\n"
                    "2026-11-22T10:15:30.000Z,21.5,Good\n"
                    "2026-11-22T10:15:31.250Z,,Bad_CommunicationError\n");
    free(text);

    capture_begin(&f, &text, &len);
    history_write_raw_csv(f, "a/b/c", &c, true);
    fclose(f);
    CHECK(strncmp(text, "time,tag,value,quality\n2026-11-22T10:15:30.000Z,a/b/c,21.5,Good\n",
                  strlen("time,tag,value,quality\n2026-11-22T10:15:30.000Z,a/b/c,21.5,Good\n")) ==
          0);
    free(text);

    struct history_meta m = {"a/b/c", VALUE_DOUBLE, "degC", 1795342530LL * HIST_NS_PER_S,
                             1795342590LL * HIST_NS_PER_S};
    capture_begin(&f, &text, &len);
    history_write_raw_json(f, &m, &c, true);
    fclose(f);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(json_string_value(json_object_get(j, "tag")), "a/b/c");
        CHECK_STR(json_string_value(json_object_get(j, "type")), "double");
        CHECK_STR(json_string_value(json_object_get(j, "unit")), "degC");
        CHECK_STR(json_string_value(json_object_get(j, "from")), "2026-11-22T10:15:30.000Z");
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 2);
        CHECK(json_is_true(json_object_get(j, "truncated")));
        json_t *s = json_object_get(j, "samples");
        CHECK_EQ_INT(json_array_size(s), 2);
        CHECK_EQ_DBL(json_real_value(json_object_get(json_array_get(s, 0), "v")), 21.5, 0);
        CHECK_STR(json_string_value(json_object_get(json_array_get(s, 0), "q")), "Good");
        CHECK(json_is_null(json_object_get(json_array_get(s, 1), "v")));
        CHECK_STR(json_string_value(json_object_get(json_array_get(s, 1), "t")),
                  "2026-11-22T10:15:31.250Z");
    }
    json_decref(j);
    free(text);
    hist_columns_free(&c);

    /* uint64 above INT64_MAX is a string in JSON, a number in CSV; strings escaped. */
    hist_columns_init(&c, VALUE_UINT64);
    v = value_uint64(18446744073709551615ull);
    CHECK(hist_columns_push(&c, 0, QUALITY_GOOD, &v));
    capture_begin(&f, &text, &len);
    history_write_raw_json(f, &m, &c, false);
    fputc('\n', f);
    history_write_raw_csv(f, NULL, &c, false);
    fclose(f);
    CHECK(strstr(text, "\"v\":\"18446744073709551615\"") != NULL);
    CHECK(strstr(text, "\n1970-01-01T00:00:00.000Z,18446744073709551615,Good\n") != NULL);
    free(text);
    hist_columns_free(&c);
}

static void test_history_bucket_output(void)
{
    struct hist_bucket b[2] = {
        {.start_ns = 0,
         .count = 3,
         .good = 2,
         .uncertain = 1,
         .value = 2.5,
         .quality = QUALITY_UNCERTAIN},
        {.start_ns = 60 * HIST_NS_PER_S, .count = 0, .value = NAN, .quality = QUALITY_BAD_NO_DATA},
    };
    FILE *f;
    char *text;
    size_t len;
    capture_begin(&f, &text, &len);
    history_write_buckets_csv(f, NULL, b, 2, true);
    fclose(f);
    CHECK_STR(text, "time,value,count,quality\n"
                    "1970-01-01T00:00:00.000Z,2.5,3,Uncertain\n"
                    "1970-01-01T00:01:00.000Z,,0,Bad_NoData\n");
    free(text);

    struct history_meta m = {"a/b", VALUE_INT64, "", 0, 120 * HIST_NS_PER_S};
    capture_begin(&f, &text, &len);
    history_write_buckets_json(f, &m, HIST_AGG_AVG, 60 * HIST_NS_PER_S, b, 2);
    fclose(f);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(json_string_value(json_object_get(j, "agg")), "avg");
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "every_ms")), 60000);
        json_t *arr = json_object_get(j, "buckets");
        CHECK_EQ_INT(json_array_size(arr), 2);
        json_t *b0 = json_array_get(arr, 0), *b1 = json_array_get(arr, 1);
        CHECK_EQ_DBL(json_real_value(json_object_get(b0, "v")), 2.5, 0);
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "count")), 3);
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "good")), 2);
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "uncertain")), 1);
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "bad")), 0);
        CHECK_STR(json_string_value(json_object_get(b0, "quality")), "Uncertain");
        CHECK(json_is_null(json_object_get(b1, "v")));
        CHECK_STR(json_string_value(json_object_get(b1, "quality")), "Bad_NoData");
    }
    json_decref(j);
    free(text);
}

/* The history routes with no historian: 404 naming why; health and metrics
 * say disabled. Runs against the main fixture server. */
static void test_history_disabled(void)
{
    json_t *j = get_json("/api/v1/history?tag=acme/plant1/utilities/boiler/b1/temperature", 404);
    CHECK(strstr(check_error(j, 404), "history is disabled") != NULL);
    json_decref(j);
    j = get_json("/api/v1/health", 200);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "history"), "status")),
              "disabled");
    json_decref(j);
    struct response r;
    CHECK(http_request("GET", "/metrics", &r));
    CHECK(r.body && strstr(r.body, "\nairlock_history_enabled 0\n") != NULL);
    response_free(&r);
}

#define HIST_TAG "acme/plant1/utilities/boiler/b1/temperature"
#define HIST_T0 1795342500000000000LL /* 2026-11-22T10:15:00Z */
#define HIST_SAMPLES 60

/* A historian in a temporary directory with HIST_TAG sampled every second
 * for a minute from HIST_T0: value i * 0.5, Good, except sample 10 (Bad). */
static struct historian *fixture_historian(char *dir)
{
    struct hist_options o;
    char err[256];
    hist_options_init(&o);
    o.dir = dir;
    struct historian *h = hist_open(&o, err, sizeof err);
    CHECK(h != NULL);
    if (!h) {
        fprintf(stderr, "hist_open: %s\n", err);
        return NULL;
    }
    int64_t id = hist_series(h, HIST_TAG, VALUE_DOUBLE);
    CHECK(id >= 0);
    struct hist_sample s[HIST_SAMPLES];
    for (int i = 0; i < HIST_SAMPLES; i++)
        s[i] = (struct hist_sample){.series = (uint32_t)id,
                                    .quality = i == 10 ? QUALITY_BAD_SENSOR_FAILURE : QUALITY_GOOD,
                                    .ts_ns = HIST_T0 + i * HIST_NS_PER_S,
                                    .value = value_double(i * 0.5)};
    size_t accepted = 0;
    CHECK(hist_append(h, s, HIST_SAMPLES, &accepted));
    CHECK_EQ_INT(accepted, HIST_SAMPLES);
    return h;
}

static void test_history_raw_route(void)
{
    json_t *j = get_json(
        "/api/v1/history?tag=" HIST_TAG "&from=2026-11-22T10:15:00Z&to=2026-11-22T10:16:00Z", 200);
    CHECK_STR(json_string_value(json_object_get(j, "tag")), HIST_TAG);
    CHECK_STR(json_string_value(json_object_get(j, "unit")), "degC"); /* from the live tag */
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), HIST_SAMPLES);
    CHECK(json_is_false(json_object_get(j, "truncated")));
    json_t *samples = json_object_get(j, "samples");
    CHECK_EQ_INT(json_array_size(samples), HIST_SAMPLES);
    json_t *s3 = json_array_get(samples, 3), *s10 = json_array_get(samples, 10);
    CHECK_STR(json_string_value(json_object_get(s3, "t")), "2026-11-22T10:15:03.000Z");
    CHECK_EQ_DBL(json_number_value(json_object_get(s3, "v")), 1.5, 0);
    CHECK_STR(json_string_value(json_object_get(s3, "q")), "Good");
    CHECK_STR(json_string_value(json_object_get(s10, "q")), "Bad_SensorFailure");
    json_decref(j);

    /* Epoch ms, a limit: truncated. */
    j = get_json("/api/v1/history?tag=" HIST_TAG "&from=1795342500000&to=1795342560000&limit=5",
                 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "count")), 5);
    CHECK(json_is_true(json_object_get(j, "truncated")));
    json_decref(j);

    /* CSV by format= and by Accept. */
    struct response r;
    CHECK(http_request("GET",
                       "/api/v1/history?tag=" HIST_TAG
                       "&from=2026-11-22T10:15:00Z&to=2026-11-22T10:15:02Z&format=csv",
                       &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "time,value,quality\n2026-11-22T10:15:00.000Z,0,Good\n"
                      "2026-11-22T10:15:01.000Z,0.5,Good\n");
    char v[128];
    CHECK(header(&r, "Content-Type", v, sizeof v) && strncmp(v, "text/csv", 8) == 0);
    response_free(&r);
    char accept_csv[512];
    snprintf(accept_csv, sizeof accept_csv,
             "GET /api/v1/history?tag=" HIST_TAG
             "&from=2026-11-22T10:15:00Z&to=2026-11-22T10:15:01Z "
             "HTTP/1.1\r\nHost: test\r\nAccept: text/csv\r\n%sConnection: close\r\n\r\n",
             auth_header);
    CHECK(http_raw(accept_csv, strlen(accept_csv), &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "time,value,quality\n2026-11-22T10:15:00.000Z,0,Good\n");
    response_free(&r);
}

static void test_history_aggregate_route(void)
{
    json_t *j = get_json("/api/v1/history?tag=" HIST_TAG
                         "&from=2026-11-22T10:15:00Z&to=2026-11-22T10:16:00Z&agg=avg&every=30s",
                         200);
    CHECK_STR(json_string_value(json_object_get(j, "agg")), "avg");
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "every_ms")), 30000);
    json_t *b = json_object_get(j, "buckets");
    CHECK_EQ_INT(json_array_size(b), 2);
    json_t *b0 = json_array_get(b, 0), *b1 = json_array_get(b, 1);
    /* Bucket 0: samples 0..29 without the Bad one (10): sum 0.5 * (435 - 10) / 29. */
    CHECK_EQ_INT(json_integer_value(json_object_get(b0, "count")), 29);
    CHECK_EQ_INT(json_integer_value(json_object_get(b0, "bad")), 1);
    CHECK_EQ_DBL(json_number_value(json_object_get(b0, "v")), 0.5 * 425.0 / 29.0, 1e-9);
    CHECK_STR(json_string_value(json_object_get(b0, "quality")), "Uncertain");
    CHECK_EQ_INT(json_integer_value(json_object_get(b1, "count")), 30);
    CHECK_EQ_DBL(json_number_value(json_object_get(b1, "v")), 0.5 * (30 + 59) / 2.0, 1e-9);
    CHECK_STR(json_string_value(json_object_get(b1, "quality")), "Good");
    CHECK_STR(json_string_value(json_object_get(b1, "t")), "2026-11-22T10:15:30.000Z");
    json_decref(j);

    j = get_json("/api/v1/history?tag=" HIST_TAG
                 "&from=2026-11-22T10:15:00Z&to=2026-11-22T10:16:00Z&agg=max",
                 200); /* no every: one bucket */
    b = json_object_get(j, "buckets");
    CHECK_EQ_INT(json_array_size(b), 1);
    CHECK_EQ_DBL(json_number_value(json_object_get(json_array_get(b, 0), "v")), 29.5, 0);
    json_decref(j);

    struct response r;
    CHECK(http_request("GET",
                       "/api/v1/history?tag=" HIST_TAG "&from=2026-11-22T10:15:00Z"
                       "&to=2026-11-22T10:15:20Z&agg=count&every=10s&format=csv",
                       &r));
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "time,value,count,quality\n2026-11-22T10:15:00.000Z,10,10,Good\n"
                      "2026-11-22T10:15:10.000Z,9,9,Uncertain\n");
    response_free(&r);
}

static void expect_history_error(const char *target, int status, const char *needle)
{
    json_t *j = get_json(target, status);
    const char *m = check_error(j, status);
    CHECK(strstr(m, needle) != NULL);
    if (!strstr(m, needle)) fprintf(stderr, "  %s: message '%s' lacks '%s'\n", target, m, needle);
    json_decref(j);
}

static void test_history_route_errors(void)
{
    expect_history_error("/api/v1/history", 400, "missing query parameter 'tag'");
    expect_history_error("/api/v1/history?tag=acme/plant1/nothing/here", 404,
                         "no history for tag acme/plant1/nothing/here");
    expect_history_error("/api/v1/history?tag=bad%20path", 404, "not a valid tag path");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&from=yesterday", 400,
                         "invalid query parameter 'from': expected an RFC 3339 time");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&to=2026-11-22T10:15:00", 400,
                         "invalid query parameter 'to'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG
                         "&from=2026-11-22T10:16:00Z&to=2026-11-22T10:15:00Z",
                         400, "'to' must be after 'from'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&agg=median", 400,
                         "invalid query parameter 'agg'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&agg=avg&every=fast", 400,
                         "invalid query parameter 'every'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&every=1m", 400, "needs 'agg'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&limit=0", 400,
                         "invalid query parameter 'limit'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&format=xml", 400,
                         "invalid query parameter 'format'");
    expect_history_error("/api/v1/history?tag=" HIST_TAG "&from=0&to=now&agg=avg&every=1ms", 400,
                         "too many buckets");
    expect_history_error("/api/v1/history/at?tag=" HIST_TAG "&t=1000", 404,
                         "no value of " HIST_TAG " at that time");
    expect_history_error("/api/v1/history/at?tag=" HIST_TAG "&interp=cubic", 400,
                         "invalid query parameter 'interp'");
}

static void test_history_at_route(void)
{
    json_t *j = get_json("/api/v1/history/at?tag=" HIST_TAG "&t=2026-11-22T10:15:03.500Z", 200);
    CHECK_EQ_DBL(json_number_value(json_object_get(j, "value")), 1.5, 0);
    CHECK_STR(json_string_value(json_object_get(j, "timestamp")), "2026-11-22T10:15:03.000Z");
    CHECK_STR(json_string_value(json_object_get(j, "quality")), "Good");
    CHECK_STR(json_string_value(json_object_get(j, "interp")), "previous");
    json_decref(j);
    j = get_json("/api/v1/history/at?tag=" HIST_TAG "&t=2026-11-22T10:15:03.500Z&interp=linear",
                 200);
    CHECK_EQ_DBL(json_number_value(json_object_get(j, "value")), 1.75, 1e-12);
    json_decref(j);
}

static void test_history_health_and_metrics(void)
{
    json_t *j = get_json("/api/v1/health", 200);
    json_t *h = json_object_get(j, "history");
    CHECK_STR(json_string_value(json_object_get(h, "status")), "ok");
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "samples_accepted")), HIST_SAMPLES);
    CHECK(json_is_null(json_object_get(h, "last_error")));
    CHECK(json_is_integer(json_object_get(h, "bytes_on_disk")));
    CHECK(json_is_integer(json_object_get(h, "points_on_disk")));
    CHECK(json_is_integer(json_object_get(h, "rejected_late")));
    json_decref(j);
    struct response r;
    CHECK(http_request("GET", "/metrics", &r));
    CHECK(r.body && strstr(r.body, "\nairlock_history_enabled 1\n") != NULL);
    CHECK(r.body && strstr(r.body, "\nairlock_history_samples_accepted_total 60\n") != NULL);
    CHECK(r.body && strstr(r.body, "\nairlock_history_degraded 0\n") != NULL);
    CHECK(r.body &&
          strstr(r.body, "\nairlock_history_samples_rejected_total{reason=\"late\"} 0\n") != NULL);
    CHECK(r.body && strstr(r.body, "# TYPE airlock_history_bytes_on_disk gauge\n") != NULL);
    response_free(&r);
}

/* A server with a real historian behind it: every history route. */
static void test_history_routes(struct lvt *lvt)
{
    char dir[] = "/tmp/airlock_test_api_hist_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    struct historian *h = fixture_historian(dir);
    if (h) {
        struct api_context ctx = {
            .lvt = lvt, .historian = h, .gateway_name = "hist-gw", .version = "1"};
        struct api_server *s = start_on_free_port(&ctx);
        CHECK(s != NULL);
        if (s) {
            test_history_raw_route();
            test_history_aggregate_route();
            test_history_route_errors();
            test_history_at_route();
            test_history_health_and_metrics();
            api_stop(s);
        }
        hist_close(h);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ------------------------------------------------------------------ */
/* The route table (api_dispatch.c) and write values (api_write.c)    */
/* ------------------------------------------------------------------ */

/* Matches method + path and returns the result; route id and parameter
 * into the out-arguments (id -1 when no route). */
static enum api_match match(const char *method, const char *path, int *id, char *param,
                            size_t param_cap, char *allow, size_t allow_cap)
{
    const struct api_route *r = NULL;
    const char *p = NULL;
    size_t plen = 0;
    enum api_match m = api_route_match(method, path, &r, &p, &plen, allow, allow_cap);
    *id = r ? (int)r->id : -1;
    param[0] = '\0';
    if (p && plen < param_cap) {
        memcpy(param, p, plen);
        param[plen] = '\0';
    }
    return m;
}

static void check_route(const char *method, const char *path, int want_id, const char *want_param)
{
    int id;
    char param[TAG_PATH_MAX + 16], allow[64] = "";
    enum api_match m = match(method, path, &id, param, sizeof param, allow, sizeof allow);
    CHECK_EQ_INT(m, API_MATCH_OK);
    CHECK_EQ_INT(id, want_id);
    CHECK_STR(param, want_param);
    if (m != API_MATCH_OK || id != want_id)
        fprintf(stderr, "  route %s %s: match %d, route %d\n", method, path, m, id);
}

static void check_405(const char *method, const char *path, const char *want_allow)
{
    int id;
    char param[64], allow[64] = "unset";
    CHECK_EQ_INT(match(method, path, &id, param, sizeof param, allow, sizeof allow),
                 API_MATCH_METHOD);
    CHECK_EQ_INT(id, -1);
    CHECK_STR(allow, want_allow);
}

static void check_404(const char *method, const char *path)
{
    int id;
    char param[64], allow[64] = "unset";
    CHECK_EQ_INT(match(method, path, &id, param, sizeof param, allow, sizeof allow),
                 API_MATCH_NOT_FOUND);
    CHECK_EQ_INT(id, -1);
    CHECK_STR(allow, "unset"); /* untouched */
}

static void test_route_match(void)
{
    /* Every route of the table by its own method and path; GET ones by HEAD. */
    static const struct {
        const char *method, *path;
        int id;
        const char *param;
        unsigned need;
    } routes[] = {
        {"GET", "/api/v1/health", API_ROUTE_HEALTH, "", API_PUBLIC},
        {"POST", "/api/v1/login", API_ROUTE_LOGIN, "", API_PUBLIC},
        {"POST", "/api/v1/logout", API_ROUTE_LOGOUT, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/session", API_ROUTE_SESSION, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/tags", API_ROUTE_TAGS, "", AUTH_ROLE_VIEWER},
        {"POST", "/api/v1/tags/a/b/write", API_ROUTE_TAG_WRITE, "a/b", AUTH_ROLE_OPERATOR},
        {"GET", "/api/v1/tags/a/b", API_ROUTE_TAG, "a/b", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/stream", API_ROUTE_STREAM, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/history", API_ROUTE_HISTORY, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/history/at", API_ROUTE_HISTORY_AT, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/alerts", API_ROUTE_ALERTS, "", AUTH_ROLE_VIEWER},
        {"GET", "/api/v1/audit", API_ROUTE_AUDIT, "", AUTH_ROLE_ENGINEER},
        {"GET", "/api/v1/users", API_ROUTE_USERS, "", AUTH_ROLE_ADMIN},
        {"GET", "/api/v1/tokens", API_ROUTE_TOKENS, "", AUTH_ROLE_ADMIN},
        {"GET", "/metrics", API_ROUTE_METRICS, "", AUTH_ROLE_VIEWER},
        {"POST", "/api/v1/reload", API_ROUTE_RELOAD, "", AUTH_ROLE_ENGINEER},
        {"GET", "/", API_ROUTE_ASSET, "", API_PUBLIC},
    };
    size_t n = sizeof routes / sizeof routes[0];
    CHECK_EQ_INT(n, api_route_count); /* a new route needs a line here */
    bool seen[32] = {false};
    for (size_t i = 0; i < n; i++) {
        check_route(routes[i].method, routes[i].path, routes[i].id, routes[i].param);
        if (strcmp(routes[i].method, "GET") == 0)
            check_route("HEAD", routes[i].path, routes[i].id, routes[i].param);
        for (size_t k = 0; k < api_route_count; k++)
            if ((int)api_routes[k].id == routes[i].id) {
                CHECK_EQ_INT(api_routes[k].need, routes[i].need);
                CHECK(!seen[k]);
                seen[k] = true;
            }
    }
    for (size_t k = 0; k < api_route_count; k++)
        CHECK(seen[k]);
    CHECK_STR(api_access_name(API_PUBLIC), "public");
    CHECK_STR(api_access_name(AUTH_ROLE_ENGINEER), "engineer");

    /* The dashboard's files are public; anything else at the top is not. */
    check_route("GET", "/index.html", API_ROUTE_ASSET, "");
    check_route("HEAD", "/app.js", API_ROUTE_ASSET, "");
    check_404("GET", "/index.htm");
    check_404("GET", "/etc/passwd");
    check_404("GET", "/../index.html");
    check_405("POST", "/", "GET, HEAD");

    /* Method checks: 405 with the right Allow; nothing is case-folded. */
    check_405("POST", "/api/v1/health", "GET, HEAD");
    check_405("GET", "/api/v1/login", "POST");
    check_405("HEAD", "/api/v1/logout", "POST");
    check_405("DELETE", "/api/v1/audit", "GET, HEAD");
    check_405("PUT", "/api/v1/users", "GET, HEAD");
    check_405("get", "/api/v1/health", "GET, HEAD");
    check_405("", "/metrics", "GET, HEAD");
    check_405("POST", "/api/v1/tags/a/b", "GET, HEAD");

    /* "/write" as the last segment: a write for POST, a tag path for GET. */
    check_route("GET", "/api/v1/tags/a/write", API_ROUTE_TAG, "a/write");
    check_route("HEAD", "/api/v1/tags/a/write", API_ROUTE_TAG, "a/write");
    check_route("POST", "/api/v1/tags/a/write", API_ROUTE_TAG_WRITE, "a");
    check_route("POST", "/api/v1/tags/a/write/write", API_ROUTE_TAG_WRITE, "a/write");
    check_405("PUT", "/api/v1/tags/a/write", "GET, HEAD, POST");
    check_405("DELETE", "/api/v1/tags/a", "GET, HEAD");
    check_405("POST", "/api/v1/tags/a/writex", "GET, HEAD");
    check_405("POST", "/api/v1/tags/write", "GET, HEAD"); /* no tag before /write */
    /* An empty tag path before /write is no write: the path is then only
     * a tag path ("/write") for GET. One empty segment more is a write of
     * the path "/", which the handler refuses as no such tag. */
    check_405("POST", "/api/v1/tags//write", "GET, HEAD");
    check_route("GET", "/api/v1/tags//write", API_ROUTE_TAG, "/write");
    check_route("POST", "/api/v1/tags///write", API_ROUTE_TAG_WRITE, "/");

    /* "/api/v1/tags/" exactly: neither the list nor a tag. */
    check_404("GET", "/api/v1/tags/");
    check_404("POST", "/api/v1/tags/");
    check_route("GET", "/api/v1/tags/x", API_ROUTE_TAG, "x");
    check_route("GET", "/api/v1/tags/write", API_ROUTE_TAG, "write"); /* a tag called write */

    /* Near misses of exact routes. */
    check_404("GET", "/api/v1/health/");
    check_404("GET", "/api/v1/healthz");
    check_404("GET", "/api/v1/Health");
    check_404("GET", "/api/v1/health%00junk");
    check_404("GET", "/api/v1/history/at/");
    check_404("GET", "/api/v1/tagsx");
    check_404("GET", "");
    check_404("GET", "api/v1/health");

    /* Allow fits any buffer and may be NULL. */
    const struct api_route *r;
    const char *p;
    size_t plen;
    char tiny[5] = "zzzz";
    CHECK_EQ_INT(api_route_match("PUT", "/api/v1/tags/a/write", &r, &p, &plen, tiny, sizeof tiny),
                 API_MATCH_METHOD);
    CHECK_STR(tiny, "GET,");
    CHECK_EQ_INT(api_route_match("PUT", "/api/v1/tags/a/write", &r, &p, &plen, NULL, 0),
                 API_MATCH_METHOD);
    CHECK(r == NULL && p == NULL && plen == 0);
}

static bool parse_value(const char *json_text, enum value_type type, struct value *out, char *why,
                        size_t why_len)
{
    json_error_t err;
    json_t *doc = json_loads(json_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        fprintf(stderr, "  test JSON '%s' does not parse: %s\n", json_text, err.text);
        return false;
    }
    why[0] = '\0';
    bool ok = api_write_value_parse(doc, type, out, why, why_len);
    json_decref(doc);
    return ok;
}

static void test_write_value_parse(void)
{
    struct value v;
    char why[160];

    /* Bool tags take only JSON booleans. */
    CHECK(parse_value("true", VALUE_BOOL, &v, why, sizeof why) && v.type == VALUE_BOOL && v.as.b);
    CHECK(parse_value("false", VALUE_BOOL, &v, why, sizeof why) && !v.as.b);
    static const char *const not_bool[] = {"1", "0", "\"true\"", "null", "[true]", "{}", "1.0"};
    for (size_t i = 0; i < sizeof not_bool / sizeof not_bool[0]; i++) {
        CHECK(!parse_value(not_bool[i], VALUE_BOOL, &v, why, sizeof why));
        CHECK(strstr(why, "true or false") != NULL);
    }

    /* int64: integers and integral numbers. */
    CHECK(parse_value("42", VALUE_INT64, &v, why, sizeof why) && v.type == VALUE_INT64 &&
          v.as.i64 == 42);
    CHECK(parse_value("-7", VALUE_INT64, &v, why, sizeof why) && v.as.i64 == -7);
    CHECK(parse_value("-9223372036854775808", VALUE_INT64, &v, why, sizeof why) &&
          v.as.i64 == INT64_MIN);
    CHECK(parse_value("12.0", VALUE_INT64, &v, why, sizeof why) && v.as.i64 == 12);
    CHECK(parse_value("-3e2", VALUE_INT64, &v, why, sizeof why) && v.as.i64 == -300);
    CHECK(parse_value("-0.0", VALUE_INT64, &v, why, sizeof why) && v.as.i64 == 0);
    CHECK(!parse_value("12.5", VALUE_INT64, &v, why, sizeof why));
    CHECK(strstr(why, "12.5") != NULL && strstr(why, "integers") != NULL);
    CHECK(!parse_value("1e300", VALUE_INT64, &v, why, sizeof why)); /* integral, too large */
    CHECK(!parse_value("true", VALUE_INT64, &v, why, sizeof why));
    CHECK(strstr(why, "a number") != NULL);
    CHECK(!parse_value("\"42\"", VALUE_INT64, &v, why, sizeof why));
    CHECK(!parse_value("null", VALUE_INT64, &v, why, sizeof why));

    /* uint64: never negative. */
    CHECK(parse_value("42", VALUE_UINT64, &v, why, sizeof why) && v.type == VALUE_UINT64 &&
          v.as.u64 == 42);
    CHECK(parse_value("9223372036854775807", VALUE_UINT64, &v, why, sizeof why) &&
          v.as.u64 == (uint64_t)INT64_MAX);
    CHECK(parse_value("7.0", VALUE_UINT64, &v, why, sizeof why) && v.as.u64 == 7);
    CHECK(!parse_value("-1", VALUE_UINT64, &v, why, sizeof why));
    CHECK(strstr(why, "negative") != NULL);
    CHECK(!parse_value("-1.0", VALUE_UINT64, &v, why, sizeof why));
    CHECK(!parse_value("0.5", VALUE_UINT64, &v, why, sizeof why));
    CHECK(!parse_value("false", VALUE_UINT64, &v, why, sizeof why));

    /* double: any number, integers included. */
    CHECK(parse_value("12.5", VALUE_DOUBLE, &v, why, sizeof why) && v.type == VALUE_DOUBLE &&
          v.as.f64 == 12.5);
    CHECK(parse_value("-3", VALUE_DOUBLE, &v, why, sizeof why) && v.as.f64 == -3.0);
    CHECK(parse_value("1e308", VALUE_DOUBLE, &v, why, sizeof why) && isfinite(v.as.f64));
    CHECK(!parse_value("\"12.5\"", VALUE_DOUBLE, &v, why, sizeof why));
    CHECK(!parse_value("true", VALUE_DOUBLE, &v, why, sizeof why));
    CHECK(!parse_value("[1]", VALUE_DOUBLE, &v, why, sizeof why));

    /* NaN and infinities cannot come from JSON: jansson refuses them. */
    json_error_t err;
    CHECK(json_loads("NaN", JSON_DECODE_ANY, &err) == NULL);
    CHECK(json_loads("Infinity", JSON_DECODE_ANY, &err) == NULL);
    CHECK(json_loads("-Infinity", JSON_DECODE_ANY, &err) == NULL);
    CHECK(json_loads("1e400", JSON_DECODE_ANY, &err) == NULL); /* overflow */
    CHECK(json_real(NAN) == NULL);

    /* Strings are never writable, whatever the value. */
    CHECK(!parse_value("\"text\"", VALUE_STRING, &v, why, sizeof why));
    CHECK(strstr(why, "string tags") != NULL);
    CHECK(!parse_value("1", VALUE_STRING, &v, why, sizeof why));

    /* A reason fits any buffer. */
    json_t *j = json_string("x");
    char small[8] = "zzzzzzz";
    CHECK(!api_write_value_parse(j, VALUE_BOOL, &v, small, sizeof small));
    CHECK(strlen(small) == sizeof small - 1);
    json_decref(j);

    /* The texts of values for logs and the audit trail. */
    char text[64];
    v = value_bool(true);
    api_value_text(&v, text, sizeof text);
    CHECK_STR(text, "true");
    v = value_int64(-42);
    api_value_text(&v, text, sizeof text);
    CHECK_STR(text, "-42");
    v = value_uint64(UINT64_MAX);
    api_value_text(&v, text, sizeof text);
    CHECK_STR(text, "18446744073709551615");
    v = value_double(12.5);
    api_value_text(&v, text, sizeof text);
    CHECK_STR(text, "12.5");
}

int main(void)
{
    auth_setup();
    test_route_match();
    test_write_value_parse();
    test_utf8();
    test_percent_decode();
    test_prefix();
    test_listen_addr();
    test_text_buffers();
    test_rate_tracker();
    test_value_json();
    test_history_time_parse();
    test_history_small_parsers();
    test_history_format_double();
    test_history_strings();
    test_history_raw_output();
    test_history_bucket_output();

    struct lvt *lvt = fixture_lvt();
    struct stats_registry stats;
    fixture_stats(&stats);
    struct boundary *boundary = boundary_create(16, 10);
    struct sample_batch *b = sample_batch_new(3);
    struct value v = value_double(1);
    for (int i = 0; i < 3; i++)
        sample_batch_add(b, 0, 0, QUALITY_GOOD, &v);
    CHECK(boundary_send(boundary, b));

    struct api_context ctx = {.lvt = lvt,
                              .stats = &stats,
                              .boundary = boundary,
                              .gateway_name = "test-gw",
                              .version = "9.9.9"};
    struct api_server *s = start_on_free_port(&ctx);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(api_port(s), server_port);
        test_start_errors(&ctx, s);
        test_health();
        test_tags_all();
        test_tags_prefix();
        test_single_tag();
        test_errors();
        test_static();
        test_metrics();
        test_stream_basic(lvt);
        test_stream_http11_and_head();
        test_concurrent_streams(lvt);
        test_hostile();
        test_stream_lifecycle(lvt);
        test_history_disabled();
        api_stop(s);
    }
    test_stop_with_streams(&ctx);
    test_restart_no_leak(&ctx);
    test_many_tags();
    test_history_routes(lvt);

    boundary_destroy(boundary);
    stats_registry_destroy(&stats);
    lvt_destroy(lvt);
    auth_close(test_auth);
    static const char *const files[] = {"airlock.db", "airlock.db-wal", "airlock.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", auth_dir, files[i]);
        unlink(path);
    }
    rmdir(auth_dir);
    return test_summary();
}
