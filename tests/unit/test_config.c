/* Unit tests of the configuration loader (src/config/config.c): a full valid
 * file with every key, defaults, 1-based addresses, both scaling forms, value
 * types, the example files, the history section (defaults, every key, durations and
 * sizes), the north publishers (every key, defaults, errors, URLs, password
 * files, the --mqtt publisher), OPC UA devices (every key, defaults, errors),
 * and error cases with their exact positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "testlib.h"

static bool load(const char *yaml, struct config *c, struct config_error *err)
{
    return config_load_string(yaml, strlen(yaml), "t.yaml", c, err);
}

static bool config_is_zero(const struct config *c)
{
    static const struct config zero;
    return memcmp(c, &zero, sizeof zero) == 0;
}

/* Loads yaml, expects failure at line:col with message containing substr. */
static void expect_error_at(int caller_line, const char *yaml, int line, int col,
                            const char *substr)
{
    struct config c;
    struct config_error err;
    bool ok = load(yaml, &c, &err);
    bool good = !ok && err.line == line && err.col == col && strstr(err.message, substr) &&
                config_is_zero(&c) && strcmp(err.file, "t.yaml") == 0;
    CHECK(good);
    if (!good) {
        char buf[1024];
        config_error_format(&err, buf, sizeof buf);
        fprintf(stderr, "  (test at line %d) wanted %d:%d '%s', got %s: %s\n", caller_line, line,
                col, substr, ok ? "success" : "error", ok ? "" : buf);
    }
    if (ok) config_free(&c);
}
#define EXPECT_ERROR(yaml, line, col, substr) expect_error_at(__LINE__, yaml, line, col, substr)

/* A device whose only tag is written in flow style on line 7 from column 7;
 * errors in it are located by the column of needle inside the tag text. */
#define TAG_PREFIX                                                                                 \
    "devices:\n- name: d\n  host: h\n  namespace: a/b\n  poll_groups:\n  - tags:\n    - "

static void expect_tag_error_at(int caller_line, const char *tag, const char *needle,
                                const char *substr)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s%s\n", TAG_PREFIX, tag);
    const char *at = strstr(tag, needle);
    if (!at) {
        fprintf(stderr, "  (test at line %d) needle '%s' not in tag\n", caller_line, needle);
        CHECK(at != NULL);
        return;
    }
    expect_error_at(caller_line, yaml, 7, 7 + (int)(at - tag), substr);
}
#define EXPECT_TAG_ERROR(tag, needle, substr) expect_tag_error_at(__LINE__, tag, needle, substr)

/* Loads a single tag (as above) and returns it in *c; false on error. */
static bool load_tag(const char *tag, struct config *c)
{
    char yaml[1024];
    struct config_error err;
    snprintf(yaml, sizeof yaml, "%s%s\n", TAG_PREFIX, tag);
    if (load(yaml, c, &err)) return true;
    fprintf(stderr, "  unexpected error: %d:%d: %s\n", err.line, err.col, err.message);
    return false;
}

static const char *full_yaml =
    "gateway:\n"                                                           /* 1 */
    "  name: gw-1\n"                                                       /* 2 */
    "  data_dir: /var/lib/airlock\n"                                       /* 3 */
    "  log_level: debug\n"                                                 /* 4 */
    "http:\n"                                                              /* 5 */
    "  listen: 0.0.0.0:9090\n"                                             /* 6 */
    "devices:\n"                                                           /* 7 */
    "  - name: plc1\n"                                                     /* 8 */
    "    protocol: modbus-tcp\n"                                           /* 9 */
    "    host: 10.0.0.5\n"                                                 /* 10 */
    "    port: 5020\n"                                                     /* 11 */
    "    unit_id: 255\n"                                                   /* 12 */
    "    timeout_ms: 250\n"                                                /* 13 */
    "    retries: 3\n"                                                     /* 14 */
    "    backoff_initial_ms: 100\n"                                        /* 15 */
    "    backoff_max_ms: 60000\n"                                          /* 16 */
    "    addressing: 0-based\n"                                            /* 17 */
    "    max_registers_per_request: 100\n"                                 /* 18 */
    "    max_bits_per_request: 1000\n"                                     /* 19 */
    "    max_gap_registers: 4\n"                                           /* 20 */
    "    max_gap_bits: 8\n"                                                /* 21 */
    "    namespace: acme/site/area/line\n"                                 /* 22 */
    "    enabled: false\n"                                                 /* 23 */
    "    poll_groups:\n"                                                   /* 24 */
    "      - name: fast\n"                                                 /* 25 */
    "        interval_ms: 100\n"                                           /* 26 */
    "        tags:\n"                                                      /* 27 */
    "          - name: run\n"                                              /* 28 */
    "            area: coil\n"                                             /* 29 */
    "            address: 7\n"                                             /* 30 */
    "            type: bool\n"                                             /* 31 */
    "          - name: temp\n"                                             /* 32 */
    "            area: input\n"                                            /* 33 */
    "            address: 0x10\n"                                          /* 34 */
    "            type: float32\n"                                          /* 35 */
    "            order: CDAB\n"                                            /* 36 */
    "            unit: degC\n"                                             /* 37 */
    "            description: Oven temperature\n"                          /* 38 */
    "            range: [0, 300]\n"                                        /* 39 */
    "            deadband: 2%\n"                                           /* 40 */
    "          - name: alarm\n"                                            /* 41 */
    "            area: holding\n"                                          /* 42 */
    "            address: 20\n"                                            /* 43 */
    "            type: bool\n"                                             /* 44 */
    "            bit: 15\n"                                                /* 45 */
    "      - name: slow\n"                                                 /* 46 */
    "        tags:\n"                                                      /* 47 */
    "          - name: recipe\n"                                           /* 48 */
    "            area: holding\n"                                          /* 49 */
    "            address: 100\n"                                           /* 50 */
    "            type: string\n"                                           /* 51 */
    "            length: 10\n"                                             /* 52 */
    "            order: BADC\n"                                            /* 53 */
    "          - name: energy\n"                                           /* 54 */
    "            area: holding\n"                                          /* 55 */
    "            address: 200\n"                                           /* 56 */
    "            type: uint64\n"                                           /* 57 */
    "            order: HGFEDCBA\n"                                        /* 58 */
    "            deadband: 10\n"                                           /* 59 */
    "  - name: plc2\n"                                                     /* 60 */
    "    host: plc2.local\n"                                               /* 61 */
    "    namespace: acme/site\n"                                           /* 62 */
    "    poll_groups:\n"                                                   /* 63 */
    "      - tags:\n"                                                      /* 64 */
    "          - {name: count, area: holding, address: 0, type: int32}\n"; /* 65 */

static void test_full_config(void)
{
    struct config c;
    struct config_error err;
    bool ok = load(full_yaml, &c, &err);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  %d:%d: %s\n", err.line, err.col, err.message);
        return;
    }
    CHECK_STR(c.file, "t.yaml");
    CHECK_STR(c.name, "gw-1");
    CHECK_STR(c.data_dir, "/var/lib/airlock");
    CHECK_STR(c.log_level, "debug");
    CHECK_STR(c.http_listen, "0.0.0.0:9090");
    CHECK_EQ_INT(c.device_count, 2);
    CHECK_EQ_INT(config_tag_count(&c), 6);

    const struct config_device *d = &c.devices[0];
    CHECK_STR(d->name, "plc1");
    CHECK_EQ_INT(d->protocol, PROTOCOL_MODBUS_TCP);
    CHECK_STR(d->host, "10.0.0.5");
    CHECK_EQ_INT(d->port, 5020);
    CHECK_EQ_INT(d->unit_id, 255);
    CHECK_EQ_INT(d->timeout_ms, 250);
    CHECK_EQ_INT(d->retries, 3);
    CHECK_EQ_INT(d->backoff_initial_ms, 100);
    CHECK_EQ_INT(d->backoff_max_ms, 60000);
    CHECK(!d->one_based);
    CHECK_EQ_INT(d->max_registers_per_request, 100);
    CHECK_EQ_INT(d->max_bits_per_request, 1000);
    CHECK_EQ_INT(d->max_gap_registers, 4);
    CHECK_EQ_INT(d->max_gap_bits, 8);
    CHECK_STR(d->namespace_prefix, "acme/site/area/line");
    CHECK(!d->enabled);
    CHECK_EQ_INT(d->pos.line, 8);
    CHECK_EQ_INT(d->pos.col, 5);
    CHECK_EQ_INT(d->group_count, 2);

    const struct config_poll_group *g = &d->groups[0];
    CHECK_STR(g->name, "fast");
    CHECK_EQ_INT(g->interval_ms, 100);
    CHECK_EQ_INT(g->tag_count, 3);
    CHECK_EQ_INT(g->pos.line, 25);

    const struct config_tag *run = &g->tags[0];
    CHECK_STR(run->tag.path, "acme/site/area/line/run");
    CHECK_EQ_INT(run->tag.type, VALUE_BOOL);
    CHECK_EQ_INT(run->point.area, MB_AREA_COIL);
    CHECK_EQ_INT(run->point.address, 7);
    CHECK_EQ_INT(run->point.type, MB_TYPE_BOOL);
    CHECK_EQ_INT(run->point.bit, -1);
    CHECK_STR(run->tag.unit, "");
    CHECK_STR(run->tag.description, "");
    CHECK_EQ_INT(run->tag.deadband_kind, DEADBAND_NONE);
    CHECK(!run->tag.has_range);
    CHECK_EQ_DBL(run->tag.scale.gain, 1.0, 0);
    CHECK_EQ_DBL(run->tag.scale.offset, 0.0, 0);
    CHECK_EQ_INT(run->tag.device_index, 0);
    CHECK_EQ_INT(run->pos.line, 28);
    CHECK_EQ_INT(run->pos.col, 13);

    const struct config_tag *temp = &g->tags[1];
    CHECK_STR(temp->tag.path, "acme/site/area/line/temp");
    CHECK_EQ_INT(temp->point.area, MB_AREA_INPUT);
    CHECK_EQ_INT(temp->point.address, 16);
    CHECK_EQ_INT(temp->point.type, MB_TYPE_FLOAT32);
    CHECK(temp->point.order.word_swap);
    CHECK(!temp->point.order.byte_swap);
    CHECK_EQ_INT(temp->tag.type, VALUE_DOUBLE);
    CHECK_STR(temp->tag.unit, "degC");
    CHECK_STR(temp->tag.description, "Oven temperature");
    CHECK(temp->tag.has_range);
    CHECK_EQ_DBL(temp->tag.eng_min, 0, 0);
    CHECK_EQ_DBL(temp->tag.eng_max, 300, 0);
    CHECK_EQ_INT(temp->tag.deadband_kind, DEADBAND_PERCENT);
    CHECK_EQ_DBL(temp->tag.deadband, 2.0, 0);

    const struct config_tag *alarm = &g->tags[2];
    CHECK_EQ_INT(alarm->point.area, MB_AREA_HOLDING);
    CHECK_EQ_INT(alarm->point.bit, 15);
    CHECK_EQ_INT(alarm->tag.type, VALUE_BOOL);

    g = &d->groups[1];
    CHECK_STR(g->name, "slow");
    CHECK_EQ_INT(g->interval_ms, 1000);
    const struct config_tag *recipe = &g->tags[0];
    CHECK_EQ_INT(recipe->point.type, MB_TYPE_STRING);
    CHECK_EQ_INT(recipe->point.length, 10);
    CHECK(recipe->point.order.byte_swap);
    CHECK(!recipe->point.order.word_swap);
    CHECK_EQ_INT(recipe->tag.type, VALUE_STRING);
    const struct config_tag *energy = &g->tags[1];
    CHECK_EQ_INT(energy->point.type, MB_TYPE_UINT64);
    CHECK(energy->point.order.byte_swap && energy->point.order.word_swap);
    CHECK_EQ_INT(energy->tag.type, VALUE_UINT64);
    CHECK_EQ_INT(energy->tag.deadband_kind, DEADBAND_ABSOLUTE);
    CHECK_EQ_DBL(energy->tag.deadband, 10, 0);

    /* Defaults of a device with only the required keys. */
    d = &c.devices[1];
    CHECK_STR(d->name, "plc2");
    CHECK_EQ_INT(d->port, 502);
    CHECK_EQ_INT(d->unit_id, 1);
    CHECK_EQ_INT(d->timeout_ms, 1000);
    CHECK_EQ_INT(d->retries, 1);
    CHECK_EQ_INT(d->backoff_initial_ms, 500);
    CHECK_EQ_INT(d->backoff_max_ms, 30000);
    CHECK(!d->one_based);
    CHECK_EQ_INT(d->max_registers_per_request, 125);
    CHECK_EQ_INT(d->max_bits_per_request, 2000);
    CHECK_EQ_INT(d->max_gap_registers, 16);
    CHECK_EQ_INT(d->max_gap_bits, 64);
    CHECK(d->enabled);
    CHECK_STR(d->groups[0].name, "group-1");
    CHECK_EQ_INT(d->groups[0].interval_ms, 1000);
    const struct config_tag *count = &d->groups[0].tags[0];
    CHECK_STR(count->tag.path, "acme/site/count");
    CHECK_EQ_INT(count->tag.type, VALUE_INT64);
    CHECK_EQ_INT(count->tag.device_index, 1);
    CHECK_EQ_INT(count->tag.id, 5);
    CHECK(!count->point.order.word_swap && !count->point.order.byte_swap);
    config_free(&c);
    CHECK(config_is_zero(&c));
}

static void test_gateway_defaults(void)
{
    struct config c;
    struct config_error err;
    CHECK(load("devices: []\n", &c, &err));
    CHECK_STR(c.name, "airlock");
    CHECK_STR(c.data_dir, "./data");
    CHECK_STR(c.log_level, "info");
    CHECK_STR(c.http_listen, "127.0.0.1:8080");
    CHECK_EQ_INT(c.device_count, 0);
    CHECK_EQ_INT(config_tag_count(&c), 0);
    config_free(&c);

    CHECK(load("{}", &c, &err));
    CHECK_STR(c.name, "airlock");
    config_free(&c);

    CHECK(load("http: {listen: \"[::1]:8443\"}\n", &c, &err));
    CHECK_STR(c.http_listen, "[::1]:8443");
    config_free(&c);
}

static void test_one_based(void)
{
    struct config c;
    struct config_error err;
    const char *yaml = "devices:\n"
                       "- name: m\n"
                       "  host: h\n"
                       "  addressing: 1-based\n"
                       "  namespace: a/b\n"
                       "  poll_groups:\n"
                       "  - tags:\n"
                       "    - {name: first, area: holding, address: 1, type: uint16}\n"
                       "    - {name: last, area: holding, address: 65536, type: uint16}\n"
                       "    - {name: coil, area: coil, address: 10, type: bool}\n"
                       "    - {name: wide, area: input, address: 65533, type: float64}\n";
    bool ok = load(yaml, &c, &err);
    CHECK(ok);
    if (!ok) return;
    const struct config_tag *t = c.devices[0].groups[0].tags;
    CHECK(c.devices[0].one_based);
    CHECK_EQ_INT(t[0].point.address, 0);
    CHECK_EQ_INT(t[1].point.address, 65535);
    CHECK_EQ_INT(t[2].point.address, 9);
    CHECK_EQ_INT(t[3].point.address, 65532);
    config_free(&c);
}

static void test_scaling_forms(void)
{
    struct config c;
    if (load_tag("{name: t, area: holding, address: 0, type: int16, scale: {gain: 0.1, offset: "
                 "-5}}",
                 &c)) {
        const struct tag *t = &c.devices[0].groups[0].tags[0].tag;
        CHECK_EQ_DBL(t->scale.gain, 0.1, 1e-12);
        CHECK_EQ_DBL(t->scale.offset, -5, 1e-12);
        CHECK_EQ_INT(t->type, VALUE_DOUBLE);
        CHECK(!t->has_range);
        config_free(&c);
    }
    if (load_tag("{name: t, area: input, address: 0, type: uint16, scale: {raw: [4000, 20000], "
                 "eng: [0, 16]}, deadband: 1%}",
                 &c)) {
        const struct tag *t = &c.devices[0].groups[0].tags[0].tag;
        CHECK_EQ_DBL(t->scale.gain, 0.001, 1e-12);
        CHECK_EQ_DBL(t->scale.offset, -4, 1e-9);
        CHECK_EQ_DBL(scaling_apply(&t->scale, 20000), 16, 1e-9);
        CHECK(t->has_range);
        CHECK_EQ_DBL(t->eng_min, 0, 0);
        CHECK_EQ_DBL(t->eng_max, 16, 0);
        CHECK_EQ_INT(t->type, VALUE_DOUBLE);
        CHECK_EQ_INT(t->deadband_kind, DEADBAND_PERCENT);
        CHECK_EQ_DBL(t->deadband, 1, 0);
        config_free(&c);
    }
    /* Decreasing eng, and an explicit range winning over eng. */
    if (load_tag("{name: t, area: input, address: 0, type: int16, scale: {raw: [0, 100], eng: "
                 "[10, 0]}, range: [-1, 11]}",
                 &c)) {
        const struct tag *t = &c.devices[0].groups[0].tags[0].tag;
        CHECK_EQ_DBL(t->scale.gain, -0.1, 1e-12);
        CHECK_EQ_DBL(t->scale.offset, 10, 1e-12);
        CHECK_EQ_DBL(t->eng_min, -1, 0);
        CHECK_EQ_DBL(t->eng_max, 11, 0);
        config_free(&c);
    }
    /* Identity scaling keeps the integer type; gain alone defaults offset. */
    if (load_tag("{name: t, area: holding, address: 0, type: int32, scale: {gain: 1}}", &c)) {
        CHECK_EQ_INT(c.devices[0].groups[0].tags[0].tag.type, VALUE_INT64);
        config_free(&c);
    }
    if (load_tag("{name: t, area: holding, address: 0, type: uint32, scale: {offset: 2.5}}", &c)) {
        const struct tag *t = &c.devices[0].groups[0].tags[0].tag;
        CHECK_EQ_DBL(t->scale.gain, 1, 0);
        CHECK_EQ_DBL(t->scale.offset, 2.5, 0);
        CHECK_EQ_INT(t->type, VALUE_DOUBLE);
        config_free(&c);
    }
}

static void test_value_types(void)
{
    struct config c;
    if (load_tag("{name: t, area: holding, address: 0, type: uint16, value_type: int64}", &c)) {
        CHECK_EQ_INT(c.devices[0].groups[0].tags[0].tag.type, VALUE_INT64);
        config_free(&c);
    }
    if (load_tag("{name: t, area: coil, address: 0, type: bool, value_type: double}", &c)) {
        CHECK_EQ_INT(c.devices[0].groups[0].tags[0].tag.type, VALUE_DOUBLE);
        config_free(&c);
    }
    if (load_tag("{name: t, area: holding, address: 0, type: int16, deadband: 3, order: badc}",
                 &c)) {
        const struct config_tag *t = &c.devices[0].groups[0].tags[0];
        CHECK_EQ_INT(t->tag.type, VALUE_INT64);
        CHECK_EQ_INT(t->tag.deadband_kind, DEADBAND_ABSOLUTE);
        CHECK(t->point.order.byte_swap);
        config_free(&c);
    }
    /* A 64-bit type takes the 4-letter order names too. */
    if (load_tag("{name: t, area: holding, address: 0, type: float64, order: CDAB}", &c)) {
        CHECK(c.devices[0].groups[0].tags[0].point.order.word_swap);
        config_free(&c);
    }
    /* A tag name may add segments of its own. */
    if (load_tag("{name: motor/speed, area: holding, address: 0, type: int16}", &c)) {
        CHECK_STR(c.devices[0].groups[0].tags[0].tag.path, "a/b/motor/speed");
        config_free(&c);
    }
}

static void test_top_level_errors(void)
{
    EXPECT_ERROR("gatway:\n  name: x\n", 1, 1, "unknown key 'gatway' at the top level");
    EXPECT_ERROR("gateway:\n  name: x\n  name: y\n", 3, 3,
                 "duplicate key 'name' in gateway (first given at line 2)");
    EXPECT_ERROR("gateway:\n  log_level: loud\n", 2, 14, "expected one of debug, info, warn");
    EXPECT_ERROR("gateway:\n  name: \"my gw\"\n", 2, 9, "expected a name of 1 to 64");
    EXPECT_ERROR("gateway: [a]\n", 1, 10, "expected 'gateway' (a mapping), found a sequence");
    EXPECT_ERROR("http:\n  listen: localhost\n", 2, 11, "expected host:port");
    EXPECT_ERROR("http:\n  listen: 1.2.3.4:65536\n", 2, 11, "expected host:port");
    EXPECT_ERROR("devices: {a: 1}\n", 1, 10, "expected a sequence for 'devices', found a mapping");
    EXPECT_ERROR("devices:\n", 1, 9, "expected a sequence for 'devices', found an empty value");
    EXPECT_ERROR("- a\n- b\n", 1, 1, "expected the configuration (a mapping)");
    EXPECT_ERROR("", 1, 1, "found an empty file");
    EXPECT_ERROR("# only a comment\n", 1, 1, "found an empty file");
}

static void test_yaml_errors(void)
{
    EXPECT_ERROR("gateway:\n  name: x\n bad\n", 3, 2, "expected valid YAML");
    EXPECT_ERROR("gateway: {name: x\n", 2, 1, "did not find expected ',' or '}'");
    EXPECT_ERROR("a: b\n  c: d\n", 2, 4, "mapping values are not allowed");
    EXPECT_ERROR("a: 1\n---\nb: 2\n", 2, 1, "expected a single YAML document");
    EXPECT_ERROR("gateway: &g {name: x}\nhttp: *g\n", 2, 7, "found an alias");
    EXPECT_ERROR("gateway: !!int 5\n", 1, 10, "expected no YAML tag");
    EXPECT_ERROR("gateway:\n  name: \"a\x01\"\n", 2, 11, "expected valid UTF-8 text");
    EXPECT_ERROR("gateway:\n  name: \xc3\x28\n", 2, 10, "expected valid UTF-8 text");
    EXPECT_ERROR("gateway:\n  name: \"a\\0b\"\n", 2, 9, "without NUL characters");
    EXPECT_ERROR("gateway:\n  ? [a]\n  : b\n", 2, 5, "expected a key name in gateway");
    /* Nesting is bounded. */
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    EXPECT_ERROR(deep, 1, 33, "levels of nesting");
}

#define DEVICE_HEAD "devices:\n  - name: a\n    host: h\n    namespace: x/y\n    poll_groups: []\n"

static void test_device_errors(void)
{
    EXPECT_ERROR(DEVICE_HEAD "    timout_ms: 5\n", 6, 5,
                 "unknown key 'timout_ms' in device (expected one of: name, protocol, host");
    EXPECT_ERROR(DEVICE_HEAD "    host: h2\n", 6, 5,
                 "duplicate key 'host' in device (first given at line 3)");
    EXPECT_ERROR(DEVICE_HEAD "    port: abc\n", 6, 11,
                 "expected an integer 1..65535 for 'port', found \"abc\"");
    EXPECT_ERROR(DEVICE_HEAD "    port: 70000\n", 6, 11,
                 "expected an integer 1..65535 for 'port', found 70000");
    EXPECT_ERROR(DEVICE_HEAD "    port: \"502\"\n", 6, 11, "found \"502\" (quoted, so a string)");
    EXPECT_ERROR(DEVICE_HEAD "    port: 502.0\n", 6, 11, "found 502.0");
    EXPECT_ERROR(DEVICE_HEAD "    port: true\n", 6, 11, "found true (a boolean)");
    EXPECT_ERROR(DEVICE_HEAD "    port:\n", 6, 10, "found an empty value");
    EXPECT_ERROR(DEVICE_HEAD "    port: 99999999999999999999999\n", 6, 11, "for 'port'");
    EXPECT_ERROR(DEVICE_HEAD "    unit_id: 256\n", 6, 14,
                 "expected an integer 0..255 for 'unit_id'");
    EXPECT_ERROR(DEVICE_HEAD "    timeout_ms: 5\n", 6, 17, "10..60000 for 'timeout_ms'");
    EXPECT_ERROR(DEVICE_HEAD "    max_registers_per_request: 126\n", 6, 32, "1..125");
    EXPECT_ERROR(DEVICE_HEAD "    max_bits_per_request: 0\n", 6, 27, "1..2000");
    EXPECT_ERROR(DEVICE_HEAD "    enabled: yes\n", 6, 14,
                 "expected true or false for 'enabled', found \"yes\"");
    EXPECT_ERROR(DEVICE_HEAD "    protocol: profibus\n", 6, 15,
                 "expected modbus-tcp or opcua for 'protocol'");
    EXPECT_ERROR(DEVICE_HEAD "    addressing: 2-based\n", 6, 17, "expected 0-based or 1-based");
    EXPECT_ERROR(DEVICE_HEAD "    backoff_initial_ms: 60000\n", 6, 25,
                 "expected backoff_initial_ms <= backoff_max_ms, found 60000 > 30000");
    EXPECT_ERROR("devices:\n  - host: h\n    namespace: x/y\n    poll_groups: []\n", 2, 5,
                 "missing required key 'name' in device");
    EXPECT_ERROR("devices:\n  - name: a\n    namespace: x/y\n    poll_groups: []\n", 2, 5,
                 "missing required key 'host' in device");
    EXPECT_ERROR("devices:\n  - name: a\n    host: h\n    poll_groups: []\n", 2, 5,
                 "missing required key 'namespace' in device");
    EXPECT_ERROR("devices:\n  - name: a\n    host: h\n    namespace: x/y\n", 2, 5,
                 "missing required key 'poll_groups' in device");
    EXPECT_ERROR("devices:\n  - {name: a, host: h, namespace: x/y}\n", 2, 5,
                 "missing required key 'poll_groups'");
    EXPECT_ERROR(DEVICE_HEAD "  - name: a\n    host: h2\n    namespace: x/z\n    poll_groups: []\n",
                 6, 11, "duplicate device name 'a' (first at line 2)");
    EXPECT_ERROR("devices:\n  - name: \"\"\n    host: h\n    namespace: x/y\n    poll_groups: []\n",
                 2, 11, "expected a name of 1 to 64");
    EXPECT_ERROR("devices:\n  - name: a\n    host: \"h h\"\n    namespace: x/y\n    poll_groups: "
                 "[]\n",
                 3, 11, "expected a host name or IP address");
    EXPECT_ERROR("devices:\n  - name: a\n    host: h\n    namespace: a/b/c/d/e/f/g/h\n    "
                 "poll_groups: []\n",
                 4, 16, "expected a namespace of 1 to 7 segments, found 8");
    EXPECT_ERROR("devices:\n  - name: a\n    host: h\n    namespace: a//b\n    poll_groups: []\n",
                 4, 16, "no empty segment");
    EXPECT_ERROR("devices:\n  - name: a\n    host: h\n    namespace: x/y\n    poll_groups: {}\n", 5,
                 18, "expected a sequence for 'poll_groups'");
    EXPECT_ERROR("devices:\n  - 5\n", 2, 5, "expected a device (a mapping), found 5");
}

static void test_group_errors(void)
{
    EXPECT_ERROR(DEVICE_HEAD "  - name: b\n    host: h\n    namespace: x/z\n    poll_groups:\n"
                             "      - {name: g, interval_ms: 5, tags: []}\n",
                 10, 32, "expected an integer 10..86400000 for 'interval_ms', found 5");
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: x/y\n  poll_groups:\n"
                 "  - {name: g, tags: []}\n  - {name: g, tags: []}\n",
                 7, 12, "duplicate poll group name 'g' in device (first at line 6)");
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: x/y\n  poll_groups:\n"
                 "  - {name: g}\n",
                 6, 5, "missing required key 'tags' in poll group");
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: x/y\n  poll_groups:\n"
                 "  - {name: g, tags: [], every: 5}\n",
                 6, 25, "unknown key 'every' in poll group");
}

static void test_tag_errors(void)
{
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, unitt: x}", "unitt",
                     "unknown key 'unitt' in tag");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, type: int32}",
                     "type: int32", "duplicate key 'type' in tag (first given at line 7)");
    EXPECT_ERROR(TAG_PREFIX "{name: t, area: holding, address: 0}\n", 7, 7,
                 "missing required key 'type' in tag");
    EXPECT_ERROR(TAG_PREFIX "{area: holding, address: 0, type: int16}\n", 7, 7,
                 "missing required key 'name' in tag");
    EXPECT_ERROR(TAG_PREFIX "{name: t, type: int16, address: 0}\n", 7, 7,
                 "missing required key 'area' in tag");
    EXPECT_ERROR(TAG_PREFIX "{name: t, type: int16, area: coil}\n", 7, 7,
                 "missing required key 'address' in tag");
    EXPECT_TAG_ERROR("{name: bad name, area: holding, address: 0, type: int16}", "bad name",
                     "expected a valid tag path (only letters, digits");
    EXPECT_TAG_ERROR("{name: \"\", area: holding, address: 0, type: int16}", "\"\"",
                     "no empty segment");
    EXPECT_TAG_ERROR("{name: t, area: coils, address: 0, type: bool}", "coils",
                     "expected one of coil, discrete_input, holding, input for 'area'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: float}", "float}",
                     "expected one of bool, int16");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 0, type: bool, bit: 3}", "bit",
                     "unexpected key 'bit' in tag (only a bool in area holding or input");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, bit: 3}", "bit",
                     "unexpected key 'bit'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: bool, bit: 16}", "16",
                     "expected an integer 0..15 for 'bit', found 16");
    EXPECT_ERROR(TAG_PREFIX "{name: t, area: input, address: 0, type: bool}\n", 7, 7,
                 "missing required key 'bit' in tag");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 0, type: int16}", "int16",
                     "expected type bool in area coil");
    EXPECT_TAG_ERROR("{name: t, area: discrete_input, address: 0, type: float32}", "float32",
                     "expected type bool in area discrete_input");
    EXPECT_ERROR(TAG_PREFIX "{name: t, area: holding, address: 0, type: string}\n", 7, 7,
                 "missing required key 'length' in tag");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: string, length: 124}", "124",
                     "expected an integer 1..123 for 'length'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, length: 2}", "length",
                     "unexpected key 'length' in tag (only type string");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, order: CDAB}", "CDAB",
                     "expected ABCD or BADC for 'order' of a int16");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: string, length: 2, order: DCBA}",
                     "DCBA", "expected ABCD or BADC");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int32, order: ABCDEFGH}",
                     "ABCDEFGH", "expected one of ABCD, CDAB, BADC, DCBA");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int64, order: XYZ}", "XYZ",
                     "expected one of ABCDEFGH");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 0, type: bool, order: ABCD}", "order",
                     "unexpected key 'order' in tag (a bool has no byte order)");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 65535, type: float32}", "65535",
                     "expected an address at most 65534 for a 2-register float32");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 65500, type: string, length: 40}", "65500",
                     "expected an address at most 65496 for a 40-register string");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: -1, type: bool}", "-1",
                     "expected an integer 0..65535 for 'address' (0-based addressing)");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 65536, type: bool}", "65536",
                     "expected an integer 0..65535");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gain: 0}}", "0}}",
                     "expected a non-zero number for 'gain', found 0");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gain: x}}", "x}}",
                     "expected a number for 'gain', found \"x\"");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gain: .inf}}",
                     ".inf", "expected a finite number for 'gain'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {raw: [1, 1], eng: "
                     "[0, 1]}}",
                     "[1, 1]", "expected two different values in 'raw'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {raw: [1, 2, 3], "
                     "eng: [0, 1]}}",
                     "[1, 2, 3]", "expected a [low, high] pair of numbers for 'raw'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {raw: [0, 1]}}",
                     "{raw", "missing required key 'eng' in scale");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gain: 2, raw: [0, "
                     "1], eng: [0, 1]}}",
                     "raw", "expected either gain/offset or raw/eng in 'scale', found both");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gian: 2}}", "gian",
                     "unknown key 'gian' in scale");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {}}", "{}",
                     "expected gain/offset or raw/eng in 'scale'");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 0, type: bool, scale: {gain: 2}}", "scale",
                     "unexpected key 'scale' in tag (only numeric types");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, range: [5, 1]}", "[5, 1]",
                     "expected low < high in 'range'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, range: 5}", "5}",
                     "expected a [low, high] pair of numbers for 'range', found 5");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, deadband: 1%}", "1%",
                     "expected a 'range' (or raw/eng scaling) with a percent deadband");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, deadband: -1}", "-1",
                     "expected a finite, non-negative number for 'deadband', found -1");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, deadband: \"0.5\"}",
                     "\"0.5\"", "for 'deadband', found \"0.5\" (quoted, so a string)");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, range: [0, 1], deadband: "
                     "150%}",
                     "150%", "expected a percentage 0..100%");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: string, length: 2, deadband: 1}",
                     "deadband", "unexpected key 'deadband' in tag (a string tag has no range");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 0, type: bool, range: [0, 1]}", "range",
                     "unexpected key 'range' in tag (a bool tag");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: float32, value_type: bool}",
                     "bool}", "expected double for 'value_type' of a float32, found \"bool\"");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, value_type: string}",
                     "string}", "expected int64 or double for 'value_type' of a int16");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: uint64, value_type: int64}",
                     "int64}", "expected uint64 or double");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, scale: {gain: 2}, "
                     "value_type: int64}",
                     "int64}", "expected double for 'value_type' of a scaled int16");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, value_type: float}",
                     "float}", "expected one of bool, int64, uint64, double, string");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, unit: [a]}", "[a]",
                     "expected a string for 'unit', found a sequence");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 0, type: int16, description: ~}", "~",
                     "expected a string for 'description', found null");
}

static void test_cross_checks(void)
{
    /* Duplicate paths across devices: the error is at the second one and
     * names the first one's line. */
    EXPECT_ERROR("devices:\n"
                 "- name: a\n"
                 "  host: h\n"
                 "  namespace: x/y\n"
                 "  poll_groups:\n"
                 "  - tags:\n"
                 "    - {name: t, area: coil, address: 0, type: bool}\n"
                 "- name: b\n"
                 "  host: h\n"
                 "  namespace: x\n"
                 "  poll_groups:\n"
                 "  - tags:\n"
                 "    - {name: y/t, area: coil, address: 1, type: bool}\n",
                 13, 14, "duplicate tag path 'x/y/t' (first defined at line 7)");
    /* 1-based addressing refuses address 0 and moves the upper bound. */
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: x/y\n  addressing: 1-based\n"
                 "  poll_groups:\n  - tags:\n    - {name: t, area: coil, address: 0, type: bool}\n",
                 8, 38, "expected an integer 1..65536 for 'address' (1-based addressing), found 0");
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: x/y\n  addressing: 1-based\n"
                 "  poll_groups:\n  - tags:\n"
                 "    - {name: t, area: input, address: 65536, type: int32}\n",
                 8, 39, "expected an address at most 65535 for a 2-register int32");
    /* Tag path too deep: the namespace has 7 segments, the name adds 2. */
    EXPECT_ERROR("devices:\n- name: a\n  host: h\n  namespace: a/b/c/d/e/f/g\n  poll_groups:\n"
                 "  - tags:\n    - {name: m/n, area: coil, address: 0, type: bool}\n",
                 7, 14, "2 to 8 segments");
}

static void test_error_format_and_files(void)
{
    struct config c;
    struct config_error err;
    char buf[1024];
    CHECK(!config_load("/nonexistent/airlock.yaml", &c, &err));
    CHECK_EQ_INT(err.line, 0);
    CHECK(config_is_zero(&c));
    config_error_format(&err, buf, sizeof buf);
    CHECK(strncmp(buf, "/nonexistent/airlock.yaml: expected a readable file", 51) == 0);
    CHECK(strstr(buf, "No such file or directory") != NULL);

    CHECK(!config_load("/", &c, &err));
    CHECK_EQ_INT(err.line, 0);

    CHECK(!load(DEVICE_HEAD "    port: abc\n", &c, &err));
    config_error_format(&err, buf, sizeof buf);
    CHECK_STR(buf, "t.yaml:6:11: expected an integer 1..65535 for 'port', found \"abc\"");

    /* A real file: written, loaded, removed. */
    char path[] = "/tmp/airlock_test_config_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fputs("gateway:\n  name: from-file\n  data_dir: 5\n  log_level: warn\n", f);
        fclose(f);
        CHECK(config_load(path, &c, &err));
        CHECK_STR(c.name, "from-file");
        CHECK_STR(c.data_dir, "5");
        CHECK_STR(c.file, path);
        config_free(&c);
        remove(path);
    }
}

/* The source tree: AIRLOCK_SRC, else derived from this file's path. */
static void source_root(char *buf, size_t len)
{
    const char *env = getenv("AIRLOCK_SRC");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return;
    }
    const char *this_file = __FILE__, *suffix = "tests/unit/test_config.c";
    size_t file_len = strlen(this_file), suffix_len = strlen(suffix);
    if (file_len >= suffix_len && strcmp(this_file + file_len - suffix_len, suffix) == 0)
        snprintf(buf, len, "%.*s.", (int)(file_len - suffix_len), this_file);
    else
        snprintf(buf, len, ".");
}

static void test_examples_load(void)
{
    static const char *const examples[] = {"examples/modbus-tcp.yaml", "examples/minimal.yaml",
                                           "examples/mqtt-uns.yaml", "examples/mqtt-sparkplug.yaml",
                                           "examples/opcua.yaml"};
    char root[512], path[1024], msg[1024];
    source_root(root, sizeof root);
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        struct config c;
        struct config_error err;
        snprintf(path, sizeof path, "%s/%s", root, examples[i]);
        bool ok = config_load(path, &c, &err);
        CHECK(ok);
        if (!ok) {
            config_error_format(&err, msg, sizeof msg);
            fprintf(stderr, "  %s\n", msg);
            continue;
        }
        CHECK(c.device_count >= 1);
        CHECK(config_tag_count(&c) >= 1);
        if (strstr(examples[i], "mqtt")) CHECK_EQ_INT(c.north_count, 1);
        config_free(&c);
    }
}

/* ---- history ---- */

static void test_history_defaults(void)
{
    struct config c;
    struct config_error err;
    char dir[256];
    CHECK(load("devices: []\n", &c, &err));
    CHECK(c.history.enabled);
    CHECK(!c.history.strict);
    CHECK(c.history.dir == NULL);
    CHECK_EQ_INT(c.history.fsync_interval_ms, 1000);
    CHECK_EQ_INT(c.history.late_window_ns, 3600LL * 1000000000LL);
    CHECK_EQ_INT(c.history.partition_ns, 86400LL * 1000000000LL);
    CHECK_EQ_INT(c.history.chunk_span_ns, 3600LL * 1000000000LL);
    CHECK_EQ_INT(c.history.checkpoint_interval_ns, 60LL * 1000000000LL);
    CHECK_EQ_INT(c.history.group_count, 0);
    CHECK(config_history_dir(&c, dir, sizeof dir));
    CHECK_STR(dir, "./data/history");
    /* --data replaces data_dir after loading: the history follows it. */
    free(c.data_dir);
    c.data_dir = strdup("/var/lib/airlock");
    CHECK(config_history_dir(&c, dir, sizeof dir));
    CHECK_STR(dir, "/var/lib/airlock/history");
    CHECK(!config_history_dir(&c, dir, 8)); /* does not fit */
    config_free(&c);
}

static void test_history_full(void)
{
    static const char yaml[] = "gateway: {data_dir: /srv/d}\n"
                               "history:\n"
                               "  enabled: true\n"
                               "  dir: /srv/hist\n"
                               "  durability: strict\n"
                               "  fsync_interval_ms: 250\n"
                               "  late_window: 90s\n"
                               "  partition: 7d\n"
                               "  chunk_span: 30m\n"
                               "  checkpoint_interval: 1m30s\n"
                               "  groups:\n"
                               "    - {name: fast, prefix: acme/plant1/line1, max_age: 400d, "
                               "max_size: 10GB}\n"
                               "    - name: rest\n"
                               "      prefix: \"\"\n"
                               "      max_size: 500 MiB\n";
    struct config c;
    struct config_error err;
    char dir[256];
    bool ok = load(yaml, &c, &err);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  %d:%d %s\n", err.line, err.col, err.message);
        return;
    }
    CHECK(c.history.enabled);
    CHECK(c.history.strict);
    CHECK(config_history_dir(&c, dir, sizeof dir));
    CHECK_STR(dir, "/srv/hist");
    CHECK_EQ_INT(c.history.fsync_interval_ms, 250);
    CHECK_EQ_INT(c.history.late_window_ns, 90LL * 1000000000LL);
    CHECK_EQ_INT(c.history.partition_ns, 7LL * 86400 * 1000000000LL);
    CHECK_EQ_INT(c.history.chunk_span_ns, 1800LL * 1000000000LL);
    CHECK_EQ_INT(c.history.checkpoint_interval_ns, 90LL * 1000000000LL);
    CHECK_EQ_INT(c.history.group_count, 2);
    if (c.history.group_count == 2) {
        CHECK_STR(c.history.groups[0].name, "fast");
        CHECK_STR(c.history.groups[0].prefix, "acme/plant1/line1");
        CHECK_EQ_INT(c.history.groups[0].max_age_ns, 400LL * 86400 * 1000000000LL);
        CHECK_EQ_INT(c.history.groups[0].max_bytes, 10000000000LL);
        CHECK_STR(c.history.groups[1].name, "rest");
        CHECK_STR(c.history.groups[1].prefix, "");
        CHECK_EQ_INT(c.history.groups[1].max_age_ns, 0);
        CHECK_EQ_INT(c.history.groups[1].max_bytes, 500LL * 1024 * 1024);
    }
    config_free(&c);

    CHECK(load("history: {enabled: false}\n", &c, &err));
    CHECK(!c.history.enabled);
    config_free(&c);
}

static void test_duration_and_size_parsing(void)
{
    int64_t ns = -1;
    uint64_t bytes = 0;
    CHECK(config_duration_parse("500ms", &ns) && ns == 500000000LL);
    CHECK(config_duration_parse("90s", &ns) && ns == 90000000000LL);
    CHECK(config_duration_parse("15m", &ns) && ns == 900000000000LL);
    CHECK(config_duration_parse("1h30m", &ns) && ns == 5400000000000LL);
    CHECK(config_duration_parse("1w", &ns) && ns == 7LL * 86400 * 1000000000LL);
    CHECK(config_duration_parse("1y", &ns) && ns == 365LL * 86400 * 1000000000LL);
    CHECK(config_duration_parse("250us", &ns) && ns == 250000);
    CHECK(config_duration_parse("0s", &ns) && ns == 0);
    CHECK(!config_duration_parse("", &ns));
    CHECK(!config_duration_parse("10", &ns));   /* a unit is required */
    CHECK(!config_duration_parse("h", &ns));    /* a count too */
    CHECK(!config_duration_parse("1.5h", &ns)); /* whole numbers */
    CHECK(!config_duration_parse("1 h", &ns));
    CHECK(!config_duration_parse("-1h", &ns));
    CHECK(!config_duration_parse("1hour", &ns));
    CHECK(!config_duration_parse("300y", &ns)); /* beyond int64 ns */
    CHECK(!config_duration_parse("99999999999999999999s", &ns));

    CHECK(config_size_parse("10GB", &bytes) && bytes == 10000000000ULL);
    CHECK(config_size_parse("500MB", &bytes) && bytes == 500000000ULL);
    CHECK(config_size_parse("2GiB", &bytes) && bytes == 2147483648ULL);
    CHECK(config_size_parse("1.5 kb", &bytes) && bytes == 1500);
    CHECK(config_size_parse("4096", &bytes) && bytes == 4096);
    CHECK(config_size_parse("12B", &bytes) && bytes == 12);
    CHECK(!config_size_parse("", &bytes));
    CHECK(!config_size_parse("GB", &bytes));
    CHECK(!config_size_parse("-1GB", &bytes));
    CHECK(!config_size_parse("10 GBs", &bytes));
    CHECK(!config_size_parse("1.5", &bytes)); /* half a byte */
    CHECK(!config_size_parse("10000PB", &bytes));
}

static void test_history_errors(void)
{
    EXPECT_ERROR("history:\n  enable: true\n", 2, 3, "unknown key 'enable' in history");
    EXPECT_ERROR("history:\n  enabled: yes please\n", 2, 12, "expected true or false");
    EXPECT_ERROR("history:\n  durability: always\n", 2, 15, "expected strict or batched");
    EXPECT_ERROR("history:\n  fsync_interval_ms: 0\n", 2, 22, "expected an integer 1..60000");
    EXPECT_ERROR("history:\n  late_window: 1 hour\n", 2, 16,
                 "expected a duration of 0 to 366d like \"500ms\"");
    EXPECT_ERROR("history:\n  late_window: 60\n", 2, 16, "for 'late_window', found 60");
    EXPECT_ERROR("history:\n  partition: 30m\n", 2, 14, "of 1h to 366d");
    EXPECT_ERROR("history:\n  partition: 5h\n", 2, 14, "expected a partition that divides a day");
    EXPECT_ERROR("history:\n  partition: 1d\n  chunk_span: 7h\n", 3, 15,
                 "expected a chunk_span that divides the partition evenly");
    EXPECT_ERROR("history:\n  checkpoint_interval: 100ms\n", 2, 24, "of 1s to 1d");
    EXPECT_ERROR("history:\n  dir: \"\"\n", 2, 8, "expected a non-empty string for 'dir'");
    EXPECT_ERROR("history: [a]\n", 1, 10, "expected 'history' (a mapping), found a sequence");
    EXPECT_ERROR("history:\n  groups: {a: 1}\n", 2, 11, "expected a sequence for 'groups'");
    EXPECT_ERROR("history:\n  groups:\n    - {prefix: a/b}\n", 3, 7,
                 "missing required key 'name' in history group");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a.b}\n", 3, 14,
                 "expected a name of 1 to 64 letters, digits, '_' or '-'");
    EXPECT_ERROR("history:\n  groups:\n    - {name: wal}\n", 3, 14,
                 "expected a group name other than 'wal'");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a, max_sise: 1GB}\n", 3, 17,
                 "unknown key 'max_sise' in history group (expected one of: name, prefix, "
                 "max_age, max_size)");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a, max_size: lots}\n", 3, 27,
                 "expected a size like \"500MB\"");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a, max_age: 0s}\n", 3, 26,
                 "expected a duration of at least 1ns");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a, prefix: x}\n    - {name: a, prefix: y}\n", 4,
                 14, "duplicate history group name 'a' (first at line 3)");
    EXPECT_ERROR("history:\n  groups:\n    - {name: a, prefix: x}\n    - {name: b, prefix: x}\n", 4,
                 25, "duplicate history group prefix \"x\" (group 'a' at line 3 has it)");
}

/* ---- north (docs/north.md) ---- */

/* A scratch directory for password and certificate files, removed at exit. */
static char north_dir[64];

static void north_dir_cleanup(void)
{
    static const char *const names[] = {"pw",     "pw_crlf",    "pw_open",   "pw_empty",
                                        "ca.pem", "client.pem", "client.key"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", north_dir, names[i]);
        remove(path);
    }
    rmdir(north_dir);
}

/* Writes text to <north_dir>/name with mode; returns the path (static). */
static const char *north_file(const char *name, const char *text, mode_t mode)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", north_dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (!f) return p;
    fputs(text, f);
    fclose(f);
    CHECK(chmod(p, mode) == 0);
    return p;
}

static bool north_setup(void)
{
    snprintf(north_dir, sizeof north_dir, "/tmp/airlock_test_north_XXXXXX");
    if (!mkdtemp(north_dir)) return false;
    atexit(north_dir_cleanup);
    return true;
}

/* Loads yaml and returns the config; false (with the error printed) when it fails. */
static bool load_ok(const char *yaml, struct config *c)
{
    struct config_error err;
    if (load(yaml, c, &err)) return true;
    fprintf(stderr, "  unexpected error: %d:%d: %s\n", err.line, err.col, err.message);
    return false;
}

static void test_north_defaults(void)
{
    struct config c;
    char dir[256];
    CHECK(load_ok("devices: []\n", &c));
    CHECK_EQ_INT(c.north_count, 0);
    CHECK(c.north == NULL);
    config_free(&c);

    CHECK(load_ok("north:\n  - {name: uns-main, kind: uns, url: \"mqtt://broker\"}\n", &c));
    CHECK_EQ_INT(c.north_count, 1);
    if (c.north_count != 1) return;
    const struct config_north *n = &c.north[0];
    CHECK_STR(n->name, "uns-main");
    CHECK_EQ_INT(n->kind, CONFIG_NORTH_UNS);
    CHECK_STR(n->host, "broker");
    CHECK_EQ_INT(n->port, 1883);
    CHECK(!n->tls);
    CHECK_EQ_INT(n->protocol, 4);
    CHECK(n->client_id == NULL && n->username == NULL && n->password == NULL);
    CHECK(n->ca_file == NULL && n->cert_file == NULL && n->key_file == NULL);
    CHECK_EQ_INT(n->keepalive_s, 30);
    CHECK_EQ_INT(n->qos, 1);
    CHECK(n->tag_prefixes == NULL && n->tag_prefix_count == 0);
    CHECK_STR(n->prefix, "uns");
    CHECK_STR(n->meta_prefix, "uns-meta");
    CHECK(!n->retain);
    CHECK_EQ_INT(n->heartbeat_s, 0);
    CHECK(n->group_id == NULL && n->edge_node == NULL && n->primary_host == NULL);
    CHECK(n->spool_dir == NULL);
    CHECK_EQ_INT(n->spool_max_bytes, 1024LL * 1024 * 1024);
    CHECK(!n->spool_strict);
    CHECK_EQ_INT(n->spool_fsync_interval_ms, 1000);
    CHECK_EQ_INT(n->pos.line, 2);
    CHECK_EQ_INT(n->pos.col, 5);
    CHECK(config_north_spool_dir(&c, n, dir, sizeof dir));
    CHECK_STR(dir, "./data/spool/uns-main");
    free(c.data_dir); /* --data moves the default spool like the history */
    c.data_dir = strdup("/var/lib/airlock");
    CHECK(config_north_spool_dir(&c, n, dir, sizeof dir));
    CHECK_STR(dir, "/var/lib/airlock/spool/uns-main");
    CHECK(!config_north_spool_dir(&c, n, dir, 10));
    config_free(&c);

    /* mqtts:// defaults to port 8883 and needs no tls section (system CAs). */
    CHECK(load_ok("north:\n  - {name: s, kind: sparkplug, url: \"mqtts://b.example\", "
                  "group_id: g}\n",
                  &c));
    if (c.north_count == 1) {
        CHECK(c.north[0].tls);
        CHECK_EQ_INT(c.north[0].port, 8883);
        CHECK(c.north[0].ca_file == NULL);
        CHECK_EQ_INT(c.north[0].kind, CONFIG_NORTH_SPARKPLUG);
        CHECK_STR(c.north[0].group_id, "g");
        CHECK(c.north[0].edge_node == NULL);
    }
    config_free(&c);
}

static void test_north_full(void)
{
    const char *pw = north_file("pw", "s3cret\n", 0600);
    const char *ca = north_file("ca.pem", "ca\n", 0644);
    const char *cert = north_file("client.pem", "cert\n", 0644);
    const char *key = north_file("client.key", "key\n", 0600);
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "gateway: {name: gw, data_dir: /srv/d}\n"
             "north:\n"
             "  - name: uns-main\n"
             "    kind: uns\n"
             "    url: mqtts://[::1]:18883\n"
             "    protocol: \"5\"\n"
             "    client_id: airlock-uns\n"
             "    username: airlock\n"
             "    password_file: %s\n"
             "    tls:\n"
             "      ca_file: %s\n"
             "      cert_file: %s\n"
             "      key_file: %s\n"
             "    keepalive_s: 60\n"
             "    qos: 0\n"
             "    tags: [acme/plant1/utilities, acme]\n"
             "    prefix: plant/uns\n"
             "    meta_prefix: plant/meta\n"
             "    retain: true\n"
             "    heartbeat_s: 300\n"
             "    spool:\n"
             "      dir: /srv/spool/uns\n"
             "      max_size: 2GiB\n"
             "      durability: strict\n"
             "      fsync_interval_ms: 250\n"
             "  - name: spb_1\n"
             "    kind: sparkplug\n"
             "    url: mqtt://10.0.0.7\n"
             "    protocol: 3.1.1\n"
             "    username: u\n"
             "    password: inline\n"
             "    group_id: plant1\n"
             "    edge_node: edge-7\n"
             "    primary_host: scada\n"
             "    spool: {max_size: 10MB}\n",
             pw, ca, cert, key);
    struct config c;
    char dir[256];
    bool ok = load_ok(yaml, &c);
    CHECK(ok);
    if (!ok) return;
    CHECK_EQ_INT(c.north_count, 2);
    const struct config_north *u = &c.north[0], *s = &c.north[1];
    CHECK_STR(u->name, "uns-main");
    CHECK_EQ_INT(u->kind, CONFIG_NORTH_UNS);
    CHECK_STR(u->host, "::1");
    CHECK_EQ_INT(u->port, 18883);
    CHECK(u->tls);
    CHECK_EQ_INT(u->protocol, 5);
    CHECK_STR(u->client_id, "airlock-uns");
    CHECK_STR(u->username, "airlock");
    CHECK_STR(u->password, "s3cret");
    CHECK_STR(u->ca_file, ca);
    CHECK_STR(u->cert_file, cert);
    CHECK_STR(u->key_file, key);
    CHECK_EQ_INT(u->keepalive_s, 60);
    CHECK_EQ_INT(u->qos, 0);
    CHECK_EQ_INT(u->tag_prefix_count, 2);
    if (u->tag_prefix_count == 2) {
        CHECK_STR(u->tag_prefixes[0], "acme/plant1/utilities");
        CHECK_STR(u->tag_prefixes[1], "acme");
    }
    CHECK_STR(u->prefix, "plant/uns");
    CHECK_STR(u->meta_prefix, "plant/meta");
    CHECK(u->retain);
    CHECK_EQ_INT(u->heartbeat_s, 300);
    CHECK(config_north_spool_dir(&c, u, dir, sizeof dir));
    CHECK_STR(dir, "/srv/spool/uns");
    CHECK_EQ_INT(u->spool_max_bytes, 2LL * 1024 * 1024 * 1024);
    CHECK(u->spool_strict);
    CHECK_EQ_INT(u->spool_fsync_interval_ms, 250);

    CHECK_STR(s->name, "spb_1");
    CHECK_EQ_INT(s->kind, CONFIG_NORTH_SPARKPLUG);
    CHECK_STR(s->host, "10.0.0.7");
    CHECK_EQ_INT(s->port, 1883);
    CHECK(!s->tls);
    CHECK_EQ_INT(s->protocol, 4);
    CHECK_STR(s->password, "inline");
    CHECK_STR(s->group_id, "plant1");
    CHECK_STR(s->edge_node, "edge-7");
    CHECK_STR(s->primary_host, "scada");
    CHECK_EQ_INT(s->spool_max_bytes, 10000000);
    CHECK(!s->spool_strict);
    CHECK(config_north_spool_dir(&c, s, dir, sizeof dir));
    CHECK_STR(dir, "/srv/d/spool/spb_1");
    config_free(&c);

    /* Protocol 5 written as a number; MQTT 5 sends a password without a user. */
    CHECK(load_ok("north:\n- {name: a, kind: uns, url: mqtt://h, protocol: 5, password: x}\n", &c));
    CHECK(c.north_count == 1 && c.north[0].protocol == 5 && c.north[0].username == NULL);
    config_free(&c);
}

/* A north entry on line 2, col 5 with its first keys; extra starts at
 * line 3 (4 spaces of indentation). */
#define NORTH_HEAD "north:\n  - name: p\n    kind: uns\n    url: mqtt://h\n"
#define SPB_HEAD "north:\n  - name: p\n    kind: sparkplug\n    url: mqtt://h\n"

static void test_north_errors(void)
{
    EXPECT_ERROR("north: {name: a}\n", 1, 8, "expected a sequence for 'north', found a mapping");
    EXPECT_ERROR("north:\n  - 5\n", 2, 5, "expected a north publisher (a mapping), found 5");
    EXPECT_ERROR("north:\n  - {kind: uns, url: mqtt://h}\n", 2, 5,
                 "missing required key 'name' in north publisher");
    EXPECT_ERROR("north:\n  - {name: a, url: mqtt://h}\n", 2, 5, "missing required key 'kind'");
    EXPECT_ERROR("north:\n  - {name: a, kind: uns}\n", 2, 5, "missing required key 'url'");
    EXPECT_ERROR(NORTH_HEAD "    hostname: x\n", 5, 5,
                 "unknown key 'hostname' in north publisher (expected one of: name, kind, url, "
                 "protocol,");
    EXPECT_ERROR(NORTH_HEAD "    qos: 1\n    qos: 0\n", 6, 5,
                 "duplicate key 'qos' in north publisher (first given at line 5)");
    EXPECT_ERROR("north:\n  - name: p\n    kind: mqtt\n    url: mqtt://h\n", 3, 11,
                 "expected \"uns\" or \"sparkplug\" for 'kind', found \"mqtt\"");
    EXPECT_ERROR("north:\n  - name: a.b\n    kind: uns\n    url: mqtt://h\n", 2, 11,
                 "expected a name of 1 to 63 letters, digits, '_' or '-' for 'name'");
    EXPECT_ERROR("north:\n  - name: "
                 "a123456789012345678901234567890123456789012345678901234567890123\n"
                 "    kind: uns\n    url: mqtt://h\n",
                 2, 11, "expected a name of 1 to 63");
    EXPECT_ERROR("north:\n  - {name: a, kind: uns, url: mqtt://h}\n"
                 "  - {name: a, kind: uns, url: mqtt://h}\n",
                 3, 12, "duplicate north publisher name 'a' (first at line 2)");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: http://h\n", 4, 10,
                 "expected an MQTT URL mqtt://host[:port] or mqtts://host[:port] (mqtt:// or "
                 "mqtts:// at the start) for 'url', found \"http://h\"");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: mqtt://h:99999\n", 4, 10,
                 "(a port 1..65535 after ':')");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: mqtt://h/x\n", 4, 10,
                 "(nothing after host[:port]");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: 1883\n", 4, 10, "found 1883");
    EXPECT_ERROR(NORTH_HEAD "    protocol: 3.1\n", 5, 15,
                 "expected \"3.1.1\" or \"5\" for 'protocol', found 3.1 (MQTT 3.1.1 is written");
    EXPECT_ERROR(NORTH_HEAD "    protocol: \"6\"\n", 5, 15,
                 "expected \"3.1.1\" or \"5\" for 'protocol', found \"6\"");
    EXPECT_ERROR(NORTH_HEAD "    protocol: [5]\n", 5, 15, "found a sequence");
    EXPECT_ERROR(NORTH_HEAD "    qos: 2\n", 5, 10, "QoS 2 is not supported");
    EXPECT_ERROR(NORTH_HEAD "    qos: -1\n", 5, 10, "expected an integer 0..1 for 'qos'");
    EXPECT_ERROR(NORTH_HEAD "    keepalive_s: 2\n", 5, 18, "expected an integer 5..65535");
    EXPECT_ERROR(NORTH_HEAD "    client_id: \"\"\n", 5, 16, "expected a non-empty string");
    EXPECT_ERROR(NORTH_HEAD "    client_id: \"a\\tb\"\n", 5, 16, "without control characters");
    EXPECT_ERROR(NORTH_HEAD "    password: x\n", 5, 5,
                 "expected 'username' with a password (MQTT 3.1.1");
    EXPECT_ERROR(NORTH_HEAD "    username: u\n    password: x\n    password_file: /x\n", 7, 5,
                 "expected either 'password' or 'password_file'");
    EXPECT_ERROR(NORTH_HEAD "    tls: {ca_file: /etc/hostname}\n", 5, 5,
                 "unexpected key 'tls' in north publisher (only an mqtts:// url uses TLS");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: mqtts://h\n"
                 "    tls: {ca_file: /nonexistent/ca.pem}\n",
                 5, 20,
                 "expected a readable file for 'ca_file', found \"/nonexistent/ca.pem\": No such "
                 "file or directory");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: mqtts://h\n"
                 "    tls: {cafile: x}\n",
                 5, 11,
                 "unknown key 'cafile' in tls (expected one of: ca_file, cert_file, "
                 "key_file)");
    EXPECT_ERROR("north:\n  - name: p\n    kind: uns\n    url: mqtts://h\n"
                 "    tls: {cert_file: /etc/hostname}\n",
                 5, 11, "expected 'key_file' with 'cert_file'");
    EXPECT_ERROR(NORTH_HEAD "    tags: []\n", 5, 11, "expected at least one tag path prefix");
    EXPECT_ERROR(NORTH_HEAD "    tags: acme\n", 5, 11, "expected a sequence for 'tags'");
    EXPECT_ERROR(NORTH_HEAD "    tags: [acme, a//b]\n", 5, 18,
                 "expected a tag path prefix like acme/plant1/utilities (no empty segment");
    EXPECT_ERROR(NORTH_HEAD "    tags: [\"a b\"]\n", 5, 12, "only letters, digits");
    EXPECT_ERROR(NORTH_HEAD "    prefix: a/+/b\n", 5, 13,
                 "expected an MQTT topic prefix like uns (no '+' or '#') for 'prefix'");
    EXPECT_ERROR(NORTH_HEAD "    prefix: $SYS\n", 5, 13, "no '$' at the start");
    EXPECT_ERROR(NORTH_HEAD "    meta_prefix: uns/\n", 5, 18, "no empty level");
    EXPECT_ERROR(NORTH_HEAD "    meta_prefix: uns\n", 5, 18,
                 "expected a meta_prefix other than the prefix");
    EXPECT_ERROR(NORTH_HEAD "    retain: maybe\n", 5, 13, "expected true or false for 'retain'");
    EXPECT_ERROR(NORTH_HEAD "    heartbeat_s: 100000\n", 5, 18, "expected an integer 0..86400");
    EXPECT_ERROR(NORTH_HEAD "    group_id: g\n", 5, 5,
                 "unexpected key 'group_id' in north publisher (only kind sparkplug takes it)");
    EXPECT_ERROR(SPB_HEAD "    group_id: g\n    prefix: x\n", 6, 5,
                 "unexpected key 'prefix' in north publisher (only kind uns takes it)");
    EXPECT_ERROR(SPB_HEAD "    edge_node: e\n", 2, 5,
                 "missing required key 'group_id' in north publisher (kind sparkplug");
    EXPECT_ERROR(SPB_HEAD "    group_id: a/b\n", 5, 15,
                 "expected a Sparkplug id (no '/', '+' or '#') for 'group_id', found \"a/b\"");
    EXPECT_ERROR(SPB_HEAD "    group_id: \"\"\n", 5, 15,
                 "expected a Sparkplug id (1 to 256 bytes)");
    EXPECT_ERROR(SPB_HEAD "    group_id: g\n    edge_node: \"e#\"\n", 6, 16,
                 "for 'edge_node', found \"e#\"");
    EXPECT_ERROR(SPB_HEAD "    group_id: g\n    primary_host: \"h+\"\n", 6, 19,
                 "for 'primary_host'");
    EXPECT_ERROR(NORTH_HEAD "    spool: {size: 1GB}\n", 5, 13,
                 "unknown key 'size' in spool (expected one of: dir, max_size, durability, "
                 "fsync_interval_ms)");
    EXPECT_ERROR(NORTH_HEAD "    spool: {max_size: lots}\n", 5, 23, "expected a size like");
    EXPECT_ERROR(NORTH_HEAD "    spool: {max_size: 100}\n", 5, 23,
                 "expected a spool max_size of at least 4KiB, found 100");
    EXPECT_ERROR(NORTH_HEAD "    spool: {durability: always}\n", 5, 25,
                 "expected strict or batched for 'durability'");
    EXPECT_ERROR(NORTH_HEAD "    spool: {fsync_interval_ms: 0}\n", 5, 32,
                 "expected an integer 1..60000 for 'fsync_interval_ms'");
    EXPECT_ERROR(NORTH_HEAD "    spool: {dir: \"\"}\n", 5, 18,
                 "expected a non-empty string for 'dir'");
    EXPECT_ERROR(NORTH_HEAD "    spool: 1GB\n", 5, 12, "expected 'spool' (a mapping)");
    EXPECT_ERROR("north:\n  - {name: a, kind: uns, url: mqtt://h, spool: {dir: /s}}\n"
                 "  - {name: b, kind: uns, url: mqtt://h, spool: {dir: /s}}\n",
                 3, 54, "duplicate spool directory \"/s\" (publisher 'a' at line 2 uses it)");
    EXPECT_ERROR("north:\n  - {name: a, kind: uns, url: mqtt://h, spool: {dir: ./data/spool/b}}\n"
                 "  - {name: b, kind: uns, url: mqtt://h}\n",
                 3, 12, "duplicate spool directory \"./data/spool/b\"");
}

static void expect_url(const char *url, const char *host, int port, bool tls)
{
    struct config_north n;
    char why[160] = "";
    memset(&n, 0, sizeof n);
    bool ok = config_north_parse_url(url, &n, why, sizeof why);
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "  %s: %s\n", url, why);
        return;
    }
    CHECK_STR(n.host, host);
    CHECK_EQ_INT(n.port, port);
    CHECK(n.tls == tls);
    free(n.host);
}

static void expect_bad_url(const char *url, const char *why_part)
{
    struct config_north n;
    char why[160] = "";
    memset(&n, 0, sizeof n);
    n.port = 7;
    bool ok = config_north_parse_url(url, &n, why, sizeof why);
    CHECK(!ok && n.host == NULL && n.port == 7 && !n.tls); /* n untouched */
    if (ok || !strstr(why, why_part))
        fprintf(stderr, "  %s: wanted '%s', got %s '%s'\n", url ? url : "(null)", why_part,
                ok ? "success" : "error", why);
    CHECK(strstr(why, why_part) != NULL);
    free(n.host);
}

static void test_north_url_parsing(void)
{
    expect_url("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, false);
    expect_url("mqtt://broker", "broker", 1883, false);
    expect_url("mqtts://broker.example.com", "broker.example.com", 8883, true);
    expect_url("MQTTS://b:1", "b", 1, true);
    expect_url("mqtt://[::1]:65535", "::1", 65535, false);
    expect_url("mqtt://[fe80::1:2]", "fe80::1:2", 1883, false);
    expect_url("mqtt://my_host-1:00042", "my_host-1", 42, false);

    /* Replacing the host of a publisher frees the old one. */
    struct config_north n;
    char why[160];
    memset(&n, 0, sizeof n);
    CHECK(config_north_parse_url("mqtt://a", &n, why, sizeof why));
    CHECK(config_north_parse_url("mqtts://b:9", &n, why, sizeof why));
    CHECK_STR(n.host, "b");
    CHECK(n.tls && n.port == 9);
    free(n.host);

    expect_bad_url(NULL, "a URL");
    expect_bad_url("", "mqtt:// or mqtts:// at the start");
    expect_bad_url("tcp://h:1883", "mqtt:// or mqtts:// at the start");
    expect_bad_url("mqtt:/h", "mqtt:// or mqtts://");
    expect_bad_url("ws://h", "mqtt://");
    expect_bad_url("mqtt://", "a host name");
    expect_bad_url("mqtt://:1883", "a host name");
    expect_bad_url("mqtt://h:", "a port 1..65535");
    expect_bad_url("mqtt://h:0", "a port 1..65535");
    expect_bad_url("mqtt://h:65536", "a port 1..65535");
    expect_bad_url("mqtt://h:1883000", "a port 1..65535");
    expect_bad_url("mqtt://h:-1", "a port 1..65535");
    expect_bad_url("mqtt://h:18x", "nothing after host[:port]");
    expect_bad_url("mqtt://h:1883/", "nothing after host[:port]");
    expect_bad_url("mqtt://h/topic", "nothing after host[:port]");
    expect_bad_url("mqtt://h?x=1", "nothing after host[:port]");
    expect_bad_url("mqtt://user:pw@h", "no user or password in the URL");
    expect_bad_url("mqtt://999.1.1.1", "a host name, an IPv4 address");
    expect_bad_url("mqtt://1.2.3", "a host name, an IPv4 address");
    expect_bad_url("mqtt://a..b", "a host name");
    expect_bad_url("mqtt://.a", "a host name");
    expect_bad_url("mqtt://h st", "a host name");
    expect_bad_url("mqtt://::1", "a host name");
    expect_bad_url("mqtt://[::1", "an IPv6 address between '[' and ']'");
    expect_bad_url("mqtt://[]", "an IPv6 address");
    expect_bad_url("mqtt://[zz::1]", "an IPv6 address");
    expect_bad_url("mqtt://[::1]x", "nothing after host[:port]");
}

/* password_file: yaml with the file's path at line 6, col 20. */
static bool load_password_file(const char *path, struct config *c, struct config_error *err)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, NORTH_HEAD "    username: u\n    password_file: %s\n", path);
    return load(yaml, c, err);
}

static void test_north_password_file(void)
{
    struct config c;
    struct config_error err;
    /* Readable by its owner (and group): read at load, one newline stripped. */
    CHECK(load_password_file(north_file("pw", "pa ss\n", 0640), &c, &err));
    CHECK(c.north_count == 1 && c.north[0].password && strcmp(c.north[0].password, "pa ss") == 0);
    config_free(&c);
    CHECK(load_password_file(north_file("pw_crlf", "x\r\n\n", 0600), &c, &err));
    CHECK(c.north_count == 1 && c.north[0].password &&
          strcmp(c.north[0].password, "x\r\n") == 0); /* only the last newline goes */
    config_free(&c);
    CHECK(load_password_file(north_file("pw_crlf", "win\r\n", 0600), &c, &err));
    CHECK(c.north_count == 1 && c.north[0].password && strcmp(c.north[0].password, "win") == 0);
    config_free(&c);

    /* Missing: the error names the file and the OS error, at the value. */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", north_dir);
    CHECK(!load_password_file(missing, &c, &err));
    CHECK(config_is_zero(&c));
    CHECK(err.line == 6 && err.col == 20);
    CHECK(strstr(err.message, missing) != NULL);
    CHECK(strstr(err.message, "No such file or directory") != NULL);

    /* Readable by every user: refused, naming the mode. */
    const char *open_pw = north_file("pw_open", "secret\n", 0644);
    CHECK(!load_password_file(open_pw, &c, &err));
    CHECK(err.line == 6 && err.col == 20);
    CHECK(strstr(err.message, open_pw) != NULL);
    CHECK(strstr(err.message, "readable by every user (mode 0644)") != NULL);

    CHECK(!load_password_file(north_file("pw_empty", "\n", 0600), &c, &err));
    CHECK(strstr(err.message, "empty") != NULL);
    CHECK(!load_password_file(north_dir, &c, &err)); /* a directory */
    CHECK(strstr(err.message, "not a regular file") != NULL);
    CHECK(!load_password_file("/dev/null", &c, &err)); /* a device: never read */
    CHECK(strstr(err.message, "not a regular file") != NULL);
}

static void test_north_add_cli(void)
{
    struct config c;
    char why[256], dir[256];
    CHECK(load_ok("gateway: {data_dir: /d}\n"
                  "north:\n  - {name: file-pub, kind: uns, url: mqtt://a}\n",
                  &c));
    CHECK(config_north_add_cli(&c, "mqtt://127.0.0.1:18830", NULL, why, sizeof why));
    CHECK_EQ_INT(c.north_count, 2);
    if (c.north_count == 2) {
        const struct config_north *n = &c.north[1];
        CHECK_STR(c.north[0].name, "file-pub");
        CHECK_STR(n->name, "cli");
        CHECK_EQ_INT(n->kind, CONFIG_NORTH_UNS);
        CHECK_STR(n->host, "127.0.0.1");
        CHECK_EQ_INT(n->port, 18830);
        CHECK(!n->tls);
        CHECK_EQ_INT(n->protocol, 4);
        CHECK_EQ_INT(n->qos, 1);
        CHECK_EQ_INT(n->keepalive_s, 30);
        CHECK_STR(n->prefix, "uns");
        CHECK_STR(n->meta_prefix, "uns-meta");
        CHECK(n->group_id == NULL);
        CHECK_EQ_INT(n->spool_max_bytes, 1024LL * 1024 * 1024);
        CHECK(config_north_spool_dir(&c, n, dir, sizeof dir));
        CHECK_STR(dir, "/d/spool/cli");
    }
    /* A second one would share the name "cli": refused, nothing changes. */
    CHECK(!config_north_add_cli(&c, "mqtt://h", NULL, why, sizeof why));
    CHECK(strstr(why, "'cli'") != NULL);
    CHECK_EQ_INT(c.north_count, 2);
    config_free(&c);

    /* Without a configuration file's north (the demo plant): sparkplug. */
    memset(&c, 0, sizeof c);
    CHECK(config_north_add_cli(&c, "mqtts://broker", "plant1", why, sizeof why));
    CHECK(c.north_count == 1 && c.north[0].kind == CONFIG_NORTH_SPARKPLUG);
    if (c.north_count == 1) {
        CHECK_STR(c.north[0].group_id, "plant1");
        CHECK(c.north[0].edge_node == NULL);
        CHECK(c.north[0].tls && c.north[0].port == 8883);
    }
    config_free(&c);

    memset(&c, 0, sizeof c);
    CHECK(!config_north_add_cli(&c, "http://broker", NULL, why, sizeof why));
    CHECK(strstr(why, "mqtt:// or mqtts:// at the start") && strstr(why, "'http://broker'"));
    CHECK(!config_north_add_cli(&c, NULL, NULL, why, sizeof why));
    CHECK(!config_north_add_cli(&c, "mqtt://h", "a/b", why, sizeof why));
    CHECK(strstr(why, "Sparkplug group id (no '/', '+' or '#')") != NULL);
    CHECK(!config_north_add_cli(&c, "mqtt://h", "", why, sizeof why));
    CHECK(!config_north_add_cli(&c, "mqtt://h", "\xff", why, sizeof why)); /* not UTF-8 */
    CHECK(!config_north_add_cli(&c, "mqtt://h", "a\tb", why, sizeof why));
    CHECK(strstr(why, "without control characters") != NULL);
    CHECK(c.north_count == 0 && c.north == NULL);
    CHECK(config_is_zero(&c));
}

/* ---- OPC UA devices ---- */

static const char *ua_full_yaml =
    "gateway: {data_dir: /var/lib/airlock}\n"                                 /* 1 */
    "devices:\n"                                                              /* 2 */
    "  - name: press1\n"                                                      /* 3 */
    "    protocol: opcua\n"                                                   /* 4 */
    "    endpoint: opc.tcp://10.0.0.7:4841/path\n"                            /* 5 */
    "    security: SignAndEncrypt\n"                                          /* 6 */
    "    auth: {username: op, password: pa55}\n"                              /* 7 */
    "    namespace: acme/berlin/packaging/line1/press1\n"                     /* 8 */
    "    timeout_ms: 2500\n"                                                  /* 9 */
    "    backoff_initial_ms: 100\n"                                           /* 10 */
    "    backoff_max_ms: 5000\n"                                              /* 11 */
    "    mode: subscribe\n"                                                   /* 12 */
    "    browse_max_depth: 4\n"                                               /* 13 */
    "    browse_max_tags: 500\n"                                              /* 14 */
    "    enabled: true\n"                                                     /* 15 */
    "    groups:\n"                                                           /* 16 */
    "      - name: fast\n"                                                    /* 17 */
    "        interval_ms: 100\n"                                              /* 18 */
    "        sampling_ms: 50\n"                                               /* 19 */
    "        queue_size: 4\n"                                                 /* 20 */
    "        tags:\n"                                                         /* 21 */
    "          - {name: speed, node: \"ns=2;s=Pump.Speed\", deadband: 0.5}\n" /* 22 */
    "          - {name: temp, path: \"/Objects/2:Plant/2:Line1/2:Temp\",\n"   /* 23 */
    "             deadband: \"1%\", unit: degC, description: Oil}\n"          /* 24 */
    "          - {name: mode, node: i=2259, type: string}\n"                  /* 25 */
    "          - {name: lvl, node: \"ns=1;g=7d3b5f6e-1a2b-4c3d-8e9f-0123456789ab\",\n"
    "             range: [0, 10], deadband: 5%}\n"           /* 27 */
    "      - name: plant\n"                                  /* 28 */
    "        browse: [\"ns=1;s=Plant\", /Objects/1:Other]\n" /* 29 */
    "      - browse: ns=1;b=AQID\n";                         /* 30 */

static void test_opcua_full(void)
{
    struct config c;
    if (!load_ok(ua_full_yaml, &c)) {
        CHECK(false);
        return;
    }
    CHECK_EQ_INT(c.device_count, 1);
    const struct config_device *d = &c.devices[0];
    CHECK_EQ_INT(d->protocol, PROTOCOL_OPCUA);
    CHECK_STR(d->name, "press1");
    CHECK_STR(d->ua.endpoint, "opc.tcp://10.0.0.7:4841/path");
    CHECK_EQ_INT(d->ua.security, CONFIG_UA_SECURITY_SIGN_AND_ENCRYPT);
    CHECK_STR(d->ua.username, "op");
    CHECK_STR(d->ua.password, "pa55");
    CHECK_STR(d->namespace_prefix, "acme/berlin/packaging/line1/press1");
    CHECK_EQ_INT(d->timeout_ms, 2500);
    CHECK_EQ_INT(d->backoff_initial_ms, 100);
    CHECK_EQ_INT(d->backoff_max_ms, 5000);
    CHECK_EQ_INT(d->ua.mode, CONFIG_UA_SUBSCRIBE);
    CHECK_EQ_INT(d->ua.browse_max_depth, 4);
    CHECK_EQ_INT(d->ua.browse_max_tags, 500);
    CHECK(d->enabled);
    CHECK(d->ua.pki_dir == NULL); /* set by ua_driver_prepare at start */
    CHECK_EQ_INT(d->group_count, 3);
    CHECK_EQ_INT(config_tag_count(&c), 4);
    if (d->group_count != 3 || d->groups[0].tag_count != 4) {
        config_free(&c);
        return;
    }
    const struct config_poll_group *g = &d->groups[0];
    CHECK_STR(g->name, "fast");
    CHECK_EQ_INT(g->interval_ms, 100);
    CHECK_EQ_INT(g->sampling_ms, 50);
    CHECK_EQ_INT(g->queue_size, 4);
    CHECK_EQ_INT(g->browse_count, 0);
    const struct config_tag *speed = &g->tags[0], *temp = &g->tags[1], *mode = &g->tags[2],
                            *lvl = &g->tags[3];
    CHECK_STR(speed->tag.path, "acme/berlin/packaging/line1/press1/speed");
    CHECK_STR(speed->ua.node, "ns=2;s=Pump.Speed");
    CHECK(speed->ua.browse_path == NULL);
    CHECK(!speed->ua.type_given && !speed->ua.unit_given && !speed->ua.discovered);
    CHECK_EQ_INT(speed->tag.type, VALUE_DOUBLE); /* until the server says */
    CHECK_EQ_INT(speed->tag.deadband_kind, DEADBAND_ABSOLUTE);
    CHECK_EQ_DBL(speed->tag.deadband, 0.5, 0);
    CHECK_EQ_INT(speed->ua.server_deadband, DEADBAND_ABSOLUTE);
    CHECK_EQ_DBL(speed->ua.server_deadband_value, 0.5, 0);
    CHECK_EQ_INT(speed->tag.device_index, 0);
    CHECK_EQ_DBL(speed->tag.scale.gain, 1, 0);
    CHECK_EQ_INT(speed->pos.line, 22);
    CHECK(temp->ua.node == NULL);
    CHECK_STR(temp->ua.browse_path, "/Objects/2:Plant/2:Line1/2:Temp");
    CHECK(temp->ua.unit_given);
    CHECK_STR(temp->tag.unit, "degC");
    CHECK_STR(temp->tag.description, "Oil");
    /* Percent without a range: the server applies it (its EURange). */
    CHECK_EQ_INT(temp->tag.deadband_kind, DEADBAND_NONE);
    CHECK_EQ_INT(temp->ua.server_deadband, DEADBAND_PERCENT);
    CHECK_EQ_DBL(temp->ua.server_deadband_value, 1, 0);
    CHECK(mode->ua.type_given);
    CHECK_EQ_INT(mode->tag.type, VALUE_STRING);
    CHECK_STR(mode->ua.node, "i=2259");
    CHECK(lvl->tag.has_range && lvl->tag.eng_min == 0 && lvl->tag.eng_max == 10);
    CHECK_EQ_INT(lvl->tag.deadband_kind, DEADBAND_PERCENT);
    CHECK_EQ_DBL(lvl->tag.deadband, 5, 0);
    CHECK_STR(d->groups[1].name, "plant");
    CHECK_EQ_INT(d->groups[1].interval_ms, 1000);
    CHECK_EQ_INT(d->groups[1].sampling_ms, 1000);
    CHECK_EQ_INT(d->groups[1].queue_size, 1);
    CHECK_EQ_INT(d->groups[1].tag_count, 0);
    CHECK_EQ_INT(d->groups[1].browse_count, 2);
    if (d->groups[1].browse_count == 2) {
        CHECK_STR(d->groups[1].browse[0], "ns=1;s=Plant");
        CHECK_STR(d->groups[1].browse[1], "/Objects/1:Other");
    }
    CHECK_STR(d->groups[2].name, "group-3");
    CHECK(d->groups[2].browse_count == 1 && strcmp(d->groups[2].browse[0], "ns=1;b=AQID") == 0);
    config_free(&c);
}

static void test_opcua_defaults_and_mix(void)
{
    struct config c;
    /* An OPC UA device next to a Modbus one; paths unique across both. */
    CHECK(load_ok("devices:\n"
                  "  - {name: m, host: h, namespace: a/b, poll_groups: [{tags: [{name: x, "
                  "area: coil, address: 0, type: bool}]}]}\n"
                  "  - name: u\n    protocol: opcua\n    endpoint: opc.tcp://srv\n"
                  "    namespace: a/c\n    groups:\n    - tags: [{name: x, node: i=2258}]\n",
                  &c));
    CHECK_EQ_INT(c.device_count, 2);
    if (c.device_count == 2) {
        const struct config_device *u = &c.devices[1];
        CHECK_EQ_INT(c.devices[0].protocol, PROTOCOL_MODBUS_TCP);
        CHECK_EQ_INT(u->protocol, PROTOCOL_OPCUA);
        CHECK_EQ_INT(u->ua.security, CONFIG_UA_SECURITY_NONE);
        CHECK(u->ua.username == NULL && u->ua.password == NULL);
        CHECK_EQ_INT(u->ua.mode, CONFIG_UA_SUBSCRIBE);
        CHECK_EQ_INT(u->timeout_ms, 5000);
        CHECK_EQ_INT(u->backoff_initial_ms, 500);
        CHECK_EQ_INT(u->backoff_max_ms, 30000);
        CHECK_EQ_INT(u->ua.browse_max_depth, 8);
        CHECK_EQ_INT(u->ua.browse_max_tags, 10000);
        CHECK(u->enabled);
        CHECK(u->group_count == 1 && u->groups[0].tag_count == 1);
        if (u->group_count == 1 && u->groups[0].tag_count == 1) {
            CHECK_STR(u->groups[0].name, "group-1");
            CHECK_EQ_INT(u->groups[0].interval_ms, 1000);
            CHECK_STR(u->groups[0].tags[0].tag.path, "a/c/x");
            CHECK_EQ_INT(u->groups[0].tags[0].tag.device_index, 1);
            CHECK_STR(u->groups[0].tags[0].tag.unit, "");
            CHECK_EQ_INT(u->groups[0].tags[0].ua.server_deadband, DEADBAND_NONE);
        }
    }
    config_free(&c);
    /* Poll mode: a percent deadband with a range is airlock's own. */
    CHECK(load_ok("devices:\n- name: u\n  protocol: opcua\n  endpoint: opc.tcp://[::1]:4840\n"
                  "  namespace: a/c\n  mode: poll\n  security: sign\n  groups:\n"
                  "  - {interval_ms: 250, tags: [{name: x, node: i=2258, range: [0, 50], "
                  "deadband: 2%}]}\n",
                  &c));
    if (c.device_count == 1 && c.devices[0].group_count == 1) {
        const struct config_tag *t = &c.devices[0].groups[0].tags[0];
        CHECK_EQ_INT(c.devices[0].ua.mode, CONFIG_UA_POLL);
        CHECK_EQ_INT(c.devices[0].ua.security, CONFIG_UA_SECURITY_SIGN);
        CHECK_EQ_INT(t->tag.deadband_kind, DEADBAND_PERCENT);
        CHECK_EQ_INT(t->ua.server_deadband, DEADBAND_NONE);
    }
    config_free(&c);
    /* The password from a private file, one newline stripped. */
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "devices:\n- name: u\n  protocol: opcua\n  endpoint: opc.tcp://s\n  namespace: a/c\n"
             "  auth: {username: op, password_file: %s}\n  groups: []\n",
             north_file("pw", "secret1\n", 0600));
    CHECK(load_ok(yaml, &c));
    CHECK(c.device_count == 1 && c.devices[0].ua.password &&
          strcmp(c.devices[0].ua.password, "secret1") == 0);
    config_free(&c);
}

/* An OPC UA device whose only tag is written in flow style on line 9 from
 * column 7. */
#define UA_TAG_PREFIX                                                                              \
    "devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h:4840/x\n  namespace: a/b\n"   \
    "  groups:\n  - name: g\n    tags:\n    - "
#define UA_DEVICE_HEAD                                                                             \
    "devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h:4840/x\n  namespace: a/b\n"   \
    "  groups: []\n"

static void expect_ua_tag_error_at(int caller_line, const char *tag, const char *needle,
                                   const char *substr)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s%s\n", UA_TAG_PREFIX, tag);
    const char *at = strstr(tag, needle);
    CHECK(at != NULL);
    if (at) expect_error_at(caller_line, yaml, 9, 7 + (int)(at - tag), substr);
}
#define EXPECT_UA_TAG_ERROR(tag, needle, substr)                                                   \
    expect_ua_tag_error_at(__LINE__, tag, needle, substr)

static void test_opcua_errors(void)
{
    /* Device level. */
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: http://h/x\n"
                 "  namespace: a/b\n  groups: []\n",
                 4, 13,
                 "expected an OPC UA endpoint URL opc.tcp://host[:port][/path] (port 1..65535) "
                 "for 'endpoint', found \"http://h/x\"");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h:99999\n"
                 "  namespace: a/b\n  groups: []\n",
                 4, 13, "for 'endpoint'");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://\n"
                 "  namespace: a/b\n  groups: []\n",
                 4, 13, "for 'endpoint'");
    EXPECT_ERROR(UA_DEVICE_HEAD "  security: basic128\n", 7, 13,
                 "expected none, sign or signandencrypt for 'security', found \"basic128\"");
    EXPECT_ERROR(UA_DEVICE_HEAD "  mode: push\n", 7, 9,
                 "expected subscribe or poll for 'mode', found \"push\"");
    EXPECT_ERROR(UA_DEVICE_HEAD "  host: h\n", 7, 3,
                 "unknown key 'host' in OPC UA device (expected one of: name, protocol, "
                 "endpoint, security, auth");
    EXPECT_ERROR(UA_DEVICE_HEAD "  timeout_ms: 5\n", 7, 15, "10..60000 for 'timeout_ms'");
    EXPECT_ERROR(UA_DEVICE_HEAD "  browse_max_depth: 33\n", 7, 21, "1..32 for 'browse_max_depth'");
    EXPECT_ERROR(UA_DEVICE_HEAD "  backoff_initial_ms: 60000\n", 7, 23,
                 "expected backoff_initial_ms <= backoff_max_ms");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  namespace: a/b\n  groups: []\n", 2, 3,
                 "missing required key 'endpoint' in OPC UA device");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n",
                 2, 3, "missing required key 'groups' in OPC UA device");
    EXPECT_ERROR(UA_DEVICE_HEAD "- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                                "  namespace: a/c\n  groups: []\n",
                 7, 9, "duplicate device name 'p' (first at line 2)");
    /* auth */
    EXPECT_ERROR(UA_DEVICE_HEAD "  auth: {username: op}\n", 7, 9,
                 "missing required key 'password_file' in auth");
    EXPECT_ERROR(UA_DEVICE_HEAD "  auth: {password: x}\n", 7, 9,
                 "missing required key 'username' in auth");
    EXPECT_ERROR(UA_DEVICE_HEAD "  auth: {username: op, password: x, password_file: /f}\n", 7, 37,
                 "expected either 'password' or 'password_file' in auth, found both");
    EXPECT_ERROR(UA_DEVICE_HEAD "  auth: {username: op, token: x}\n", 7, 24,
                 "unknown key 'token' in auth");
    char missing[128], yaml[512];
    snprintf(missing, sizeof missing, "%s/no-such-pw", north_dir);
    snprintf(yaml, sizeof yaml, UA_DEVICE_HEAD "  auth: {username: op, password_file: %s}\n",
             missing);
    EXPECT_ERROR(yaml, 7, 39, "expected a readable, private password file for 'password_file'");
    EXPECT_ERROR(yaml, 7, 39, "No such file or directory");
    snprintf(yaml, sizeof yaml, UA_DEVICE_HEAD "  auth: {username: op, password_file: %s}\n",
             north_file("pw_open", "x\n", 0644));
    EXPECT_ERROR(yaml, 7, 39, "readable by every user (mode 0644)");
    /* groups */
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {name: g}\n",
                 7, 5, "missing required key 'tags' in OPC UA group (or 'browse'");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {browse: \"ns=1;x=2\"}\n",
                 7, 14, "expected a NodeId like ns=2;s=Pump.Speed");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {browse: [i=85, /Objects//x]}\n",
                 7, 21, "expected a browse path like /Objects/2:Plant/2:Temp (element 2 is empty)");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {browse: []}\n",
                 7, 14, "found an empty sequence");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {tags: [], sampling_ms: -1}\n",
                 7, 29, "0..86400000 for 'sampling_ms'");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {tags: [], queue_size: 0}\n",
                 7, 28, "1..10000 for 'queue_size'");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - {tags: [], poll: 1}\n",
                 7, 16, "unknown key 'poll' in OPC UA group");
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  poll_groups: []\n",
                 6, 3, "unknown key 'poll_groups' in OPC UA device");
    /* tags */
    EXPECT_UA_TAG_ERROR("{name: t, node: \"ns=2;s\"}", "\"ns=2;s\"",
                        "expected a NodeId like ns=2;s=Pump.Speed, i=85, ns=1;g=<guid> or "
                        "ns=1;b=<base64>");
    EXPECT_UA_TAG_ERROR("{name: t, node: \"ns=70000;i=1\"}", "\"ns=70000", "for 'node'");
    EXPECT_UA_TAG_ERROR("{name: t, node: \"ns=1;g=xyz\"}", "\"ns=1;g", "for 'node'");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, path: /Objects/x}",
                        "path:", "expected either 'node' or 'path' in OPC UA tag, found both");
    EXPECT_UA_TAG_ERROR("{name: t}", "{", "missing required key 'node' in OPC UA tag (or 'path'");
    EXPECT_UA_TAG_ERROR("{node: i=1}", "{", "missing required key 'name' in OPC UA tag");
    EXPECT_UA_TAG_ERROR("{name: t, path: Objects/x}", "Objects",
                        "expected a browse path like /Objects/2:Plant/2:Temp (it must start with "
                        "'/' (the Root folder)) for 'path'");
    EXPECT_UA_TAG_ERROR("{name: t, path: \"/Objects/70000:x\"}", "\"/Obj",
                        "namespace index above 65535 in element 2");
    EXPECT_UA_TAG_ERROR("{name: t, path: \"/Objects/x&\"}", "\"/Obj", "'&' at the end");
    EXPECT_UA_TAG_ERROR("{name: t, path: /Objects/}", "/Obj", "element 2 is empty");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, type: float32}", "float32",
                        "expected one of bool, int64, uint64, double, string for 'type', found "
                        "\"float32\"");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, type: string, deadband: 1}", "deadband",
                        "unexpected key 'deadband' in OPC UA tag (a string tag has no range or "
                        "deadband)");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, deadband: lots}", "lots",
                        "expected a non-negative number or a percentage like \"1.5%\"");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, deadband: 101%}", "101%", "a percentage 0..100%");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, range: [5, 1]}", "[5",
                        "expected low < high in 'range', found [5, 1]");
    EXPECT_UA_TAG_ERROR("{name: t, node: i=1, address: 3}", "address",
                        "unknown key 'address' in OPC UA tag (expected one of: name, node, path, "
                        "type, unit, description, range, deadband, write)");
    EXPECT_UA_TAG_ERROR("{name: \"bad name\", node: i=1}", "\"bad", "expected a valid tag path");
    /* A percent deadband in poll mode needs a range. */
    EXPECT_ERROR("devices:\n- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  mode: poll\n  groups:\n"
                 "  - tags: [{name: t, node: i=1, deadband: 1%}]\n",
                 8, 43, "expected a 'range' with a percent deadband in mode poll");
    /* Paths are unique across protocols. */
    EXPECT_ERROR("devices:\n"
                 "- {name: m, host: h, namespace: a/b, poll_groups: [{tags: [{name: x, "
                 "area: coil, address: 0, type: bool}]}]}\n"
                 "- name: p\n  protocol: opcua\n  endpoint: opc.tcp://h\n"
                 "  namespace: a/b\n  groups:\n  - tags: [{name: x, node: i=1}]\n",
                 8, 19, "duplicate tag path 'a/b/x' (first defined at line 2)");
    /* A Modbus device names the protocols there are. */
    EXPECT_ERROR(
        "devices:\n- {name: m, host: h, protocol: opc-ua, namespace: a/b, poll_groups: []}\n", 2,
        32, "expected modbus-tcp or opcua for 'protocol', found \"opc-ua\"");
}

/* `write:` policies and the `write_gate:` switch: off by default. */
static void test_write_policies(void)
{
    struct config c;
    CHECK(load_tag("{name: sp, area: holding, address: 1, type: uint16}", &c));
    CHECK(!c.devices[0].groups[0].tags[0].write.enabled);
    CHECK(!c.write_gate_enabled);
    config_free(&c);

    CHECK(load_tag("{name: sp, area: holding, address: 1, type: float32, write: {role: engineer, "
                   "min: 0, max: 80.5, max_step: 5, min_interval_ms: 2000}}",
                   &c));
    const struct write_policy *w = &c.devices[0].groups[0].tags[0].write;
    CHECK(w->enabled);
    CHECK_EQ_INT(w->role, WRITE_ROLE_ENGINEER);
    CHECK(w->has_min && w->has_max);
    CHECK_EQ_DBL(w->min, 0, 0);
    CHECK_EQ_DBL(w->max, 80.5, 0);
    CHECK_EQ_DBL(w->max_step, 5, 0);
    CHECK_EQ_INT(w->min_interval_ms, 2000);
    config_free(&c);

    CHECK(load_tag("{name: run, area: coil, address: 3, type: bool, write: {enabled: false}}", &c));
    CHECK(!c.devices[0].groups[0].tags[0].write.enabled);
    CHECK_EQ_INT(c.devices[0].groups[0].tags[0].write.role, WRITE_ROLE_OPERATOR);
    config_free(&c);

    CHECK(load_ok("write_gate: {enabled: true}\n", &c));
    CHECK(c.write_gate_enabled);
    config_free(&c);

    EXPECT_TAG_ERROR("{name: t, area: input, address: 1, type: uint16, write: {}}", "{}",
                     "input registers and discrete inputs cannot be written");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 1, type: string, length: 4, write: {}}",
                     "{}", "string tags cannot be written");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 1, type: uint16, write: {role: viewer}}",
                     "viewer", "expected operator, engineer or admin for 'role'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 1, type: uint16, write: {min: 5, max: 5}}",
                     "5}", "expected 'max' above 'min'");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 1, type: uint16, write: {max_step: 0}}",
                     "0}", "expected a number above 0 for 'max_step'");
    EXPECT_TAG_ERROR("{name: t, area: coil, address: 1, type: bool, write: {max: 1}}", "max",
                     "a bool tag takes no min, max or max_step");
    EXPECT_TAG_ERROR("{name: t, area: holding, address: 1, type: uint16, write: {limit: 1}}",
                     "limit", "unknown key 'limit' in write");
    EXPECT_TAG_ERROR(
        "{name: t, area: holding, address: 1, type: uint16, write: {min_interval_ms: -1}}", "-1",
        "min_interval_ms");
    EXPECT_ERROR("write_gate: {enabled: yes}\n", 1, 23, "expected true or false for 'enabled'");
    EXPECT_ERROR("write_gate: {on: true}\n", 1, 14, "unknown key 'on' in write_gate");
}

int main(void)
{
    test_full_config();
    test_gateway_defaults();
    test_one_based();
    test_scaling_forms();
    test_value_types();
    test_top_level_errors();
    test_yaml_errors();
    test_device_errors();
    test_group_errors();
    test_tag_errors();
    test_cross_checks();
    test_error_format_and_files();
    test_examples_load();
    test_history_defaults();
    test_history_full();
    test_duration_and_size_parsing();
    test_history_errors();
    if (!north_setup()) {
        fprintf(stderr, "cannot create a scratch directory\n");
        return 1;
    }
    test_north_defaults();
    test_north_full();
    test_north_errors();
    test_north_url_parsing();
    test_north_password_file();
    test_north_add_cli();
    test_opcua_full();
    test_opcua_defaults_and_mix();
    test_opcua_errors();
    test_write_policies();
    return test_summary();
}
