/* The configuration loader: turns a YAML file into a validated struct config.
 *
 * The YAML text is first parsed into a tree that keeps positions
 * (yaml_tree.h); this file then walks the tree level by level (top, gateway,
 * http, device, poll group, tag, scale, history, north; OPC UA devices with their
 * groups and tags have levels of their own), refusing unknown and duplicate keys,
 * checking every value's type and range, filling defaults and validating
 * what spans levels (tag paths unique across the file, addresses that fit).
 * The first error found stops the load and is reported as
 * "file:line:col: expected ..., found ...". See docs/configuration.md. */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/yaml_tree.h"
#include "core/log.h"
#include "drivers/opcua/ua_client.h"
#include "drivers/opcua/ua_driver.h"
#include "oneway/link_codec.h"

#define CONFIG_FILE_MAX_BYTES (64u * 1024u * 1024u)
#define CONFIG_NAME_MAX_CHARS 64
#define CONFIG_HOST_MAX_CHARS 253
#define CONFIG_KEYS_MAX 24
#define CONFIG_SHOWN_MAX_CHARS 48
#define NAMESPACE_MAX_SEGMENTS (TAG_PATH_MAX_SEGMENTS - 1)
#define STRING_MAX_REGISTERS 123

/* ---- loader state and errors ---- */

/* Tag paths seen so far, with the line of their first definition. */
struct path_entry {
    const char *path; /* owned by the config being built */
    int line;
};

struct path_set {
    struct path_entry *slots;
    size_t capacity; /* power of two, or 0 */
    size_t count;
};

struct loader {
    struct config *cfg;
    struct config_error *err;
    struct path_set paths;
    uint32_t next_tag_id;
};

static bool fail_at(struct loader *ld, const struct ynode *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the error at where's position (none when where is NULL) and
 * returns false, so callers can `return fail_at(...)`. */
static bool fail_at(struct loader *ld, const struct ynode *where, const char *fmt, ...)
{
    ld->err->line = where ? where->line : 0;
    ld->err->col = where ? where->col : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err->message, sizeof ld->err->message, fmt, ap);
    va_end(ap);
    return false;
}

static bool fail_oom(struct loader *ld)
{
    return fail_at(ld, NULL, "out of memory");
}

/* A printable rendering of a node for "found ..." (bounded, escaped). */
struct shown {
    char text[CONFIG_SHOWN_MAX_CHARS * 4 + 48];
};

static void escape_text(const char *s, size_t len, char *out, size_t out_len)
{
    size_t take = len > CONFIG_SHOWN_MAX_CHARS ? CONFIG_SHOWN_MAX_CHARS : len;
    while (take > 0 && take < len && ((unsigned char)s[take] & 0xC0) == 0x80)
        take--;
    size_t o = 0;
    for (size_t i = 0; i < take && o + 5 < out_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, out_len - o, c == '"' || c == '\\' ? "\\%c" : "\\x%02x",
                                  c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    if (take < len && o + 4 < out_len) memcpy(out + o, "...", 4);
}

static const char *found(const struct ynode *n, struct shown *s)
{
    if (!n) return "nothing";
    if (n->kind == YNODE_MAPPING) return "a mapping";
    if (n->kind == YNODE_SEQUENCE) return "a sequence";
    char text[CONFIG_SHOWN_MAX_CHARS * 4 + 8];
    escape_text(n->text, n->len, text, sizeof text);
    switch (yscalar_classify(n)) {
    case YSCALAR_NULL:
        return n->len == 0 ? "an empty value" : "null";
    case YSCALAR_BOOL:
        snprintf(s->text, sizeof s->text, "%s (a boolean)", text);
        break;
    case YSCALAR_INT:
    case YSCALAR_FLOAT:
        snprintf(s->text, sizeof s->text, "%s", text);
        break;
    case YSCALAR_STRING: {
        enum yscalar_class as_plain = yscalar_classify_text(n->text, n->len);
        bool looks_typed = n->quoted && n->len > 0 && as_plain != YSCALAR_STRING;
        snprintf(s->text, sizeof s->text, "\"%s\"%s", text,
                 looks_typed ? " (quoted, so a string)" : "");
        break;
    }
    }
    return s->text;
}

/* ---- tag path set (open addressing, FNV-1a) ---- */

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool path_set_grow(struct path_set *set)
{
    size_t cap = set->capacity ? set->capacity * 2 : 64;
    struct path_entry *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < set->capacity; i++) {
        if (!set->slots[i].path) continue;
        size_t j = (size_t)hash_text(set->slots[i].path) & (cap - 1);
        while (slots[j].path)
            j = (j + 1) & (cap - 1);
        slots[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->capacity = cap;
    return true;
}

/* Adds path; returns 0 when added, the first line when already present, and
 * -1 when memory ran out. */
static int path_set_add(struct path_set *set, const char *path, int line)
{
    if ((set->count + 1) * 2 > set->capacity && !path_set_grow(set)) return -1;
    size_t j = (size_t)hash_text(path) & (set->capacity - 1);
    for (; set->slots[j].path; j = (j + 1) & (set->capacity - 1))
        if (strcmp(set->slots[j].path, path) == 0) return set->slots[j].line;
    set->slots[j].path = path;
    set->slots[j].line = line;
    set->count++;
    return 0;
}

/* ---- mappings: known keys, duplicates, required keys ---- */

/* One level of the schema: the keys a mapping there may hold. */
struct level {
    const char *label;    /* "in device": "unknown key 'x' in device" */
    const char *as_value; /* "a device": "expected a device (a mapping), found ..." */
    const char *const *names;
    size_t count;
};

/* The keys present in one mapping, indexed like level->names. */
struct map_keys {
    const struct level *level;
    const struct ynode *map;
    const struct ynode *key[CONFIG_KEYS_MAX];
    const struct ynode *value[CONFIG_KEYS_MAX];
};

static void join_names(const struct level *lv, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < lv->count && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", lv->names[i]);
}

static bool collect_key(struct loader *ld, const struct ynode *key, const struct ynode *value,
                        struct map_keys *mk)
{
    const struct level *lv = mk->level;
    struct shown s;
    if (key->kind != YNODE_SCALAR || yscalar_classify(key) == YSCALAR_NULL || key->has_nul)
        return fail_at(ld, key, "expected a key name %s, found %s", lv->label, found(key, &s));
    for (size_t i = 0; i < lv->count; i++) {
        if (strcmp(key->text, lv->names[i]) != 0) continue;
        if (mk->key[i])
            return fail_at(ld, key, "duplicate key '%s' %s (first given at line %d)", lv->names[i],
                           lv->label, mk->key[i]->line);
        mk->key[i] = key;
        mk->value[i] = value;
        return true;
    }
    char names[400];
    join_names(lv, names, sizeof names);
    char key_text[CONFIG_SHOWN_MAX_CHARS * 4 + 8];
    escape_text(key->text, key->len, key_text, sizeof key_text);
    return fail_at(ld, key, "unknown key '%s' %s (expected one of: %s)", key_text, lv->label,
                   names);
}

/* Checks node is a mapping whose keys all belong to lv, each at most once,
 * and records them in *mk. */
static bool collect_keys(struct loader *ld, const struct ynode *node, const struct level *lv,
                         struct map_keys *mk)
{
    memset(mk, 0, sizeof *mk);
    mk->level = lv;
    mk->map = node;
    struct shown s;
    if (node->kind != YNODE_MAPPING)
        return fail_at(ld, node, "expected %s (a mapping), found %s", lv->as_value,
                       found(node, &s));
    for (size_t i = 0; i + 1 < node->count; i += 2)
        if (!collect_key(ld, node->items[i], node->items[i + 1], mk)) return false;
    return true;
}

/* Fails at the mapping when key idx is absent. */
static bool require_key(struct loader *ld, const struct map_keys *mk, size_t idx)
{
    if (mk->value[idx]) return true;
    return fail_at(ld, mk->map, "missing required key '%s' %s", mk->level->names[idx],
                   mk->level->label);
}

/* Fails at key idx's key when present: it does not apply here (why says so). */
static bool refuse_key(struct loader *ld, const struct map_keys *mk, size_t idx, const char *why)
{
    if (!mk->key[idx]) return true;
    return fail_at(ld, mk->key[idx], "unexpected key '%s' %s (%s)", mk->level->names[idx],
                   mk->level->label, why);
}

/* ---- scalar readers: each fails at the value with what it expected ---- */

static bool read_int(struct loader *ld, const struct ynode *n, const char *key, int64_t min,
                     int64_t max, int64_t *out)
{
    int64_t v = 0;
    struct shown s;
    *out = 0; /* defined on failure too */
    if (!yscalar_int(n, &v) || v < min || v > max)
        return fail_at(ld, n, "expected an integer %lld..%lld for '%s', found %s", (long long)min,
                       (long long)max, key, found(n, &s));
    *out = v;
    return true;
}

static bool read_number(struct loader *ld, const struct ynode *n, const char *key, double *out)
{
    double v = 0;
    struct shown s;
    *out = 0; /* defined on failure too */
    if (!yscalar_number(n, &v))
        return fail_at(ld, n, "expected a number for '%s', found %s", key, found(n, &s));
    if (!isfinite(v))
        return fail_at(ld, n, "expected a finite number for '%s', found %s", key, found(n, &s));
    *out = v;
    return true;
}

static bool read_bool(struct loader *ld, const struct ynode *n, const char *key, bool *out)
{
    struct shown s;
    if (!yscalar_bool(n, out))
        return fail_at(ld, n, "expected true or false for '%s', found %s", key, found(n, &s));
    return true;
}

/* Any non-null scalar as text (numbers too: "unit: 1" is the string "1"). */
static bool read_text(struct loader *ld, const struct ynode *n, const char *key, const char **out)
{
    struct shown s;
    if (n->kind != YNODE_SCALAR || yscalar_classify(n) == YSCALAR_NULL)
        return fail_at(ld, n, "expected a string for '%s', found %s", key, found(n, &s));
    if (n->has_nul)
        return fail_at(ld, n, "expected a string without NUL characters for '%s', found %s", key,
                       found(n, &s));
    *out = n->text;
    return true;
}

static bool read_nonempty_text(struct loader *ld, const struct ynode *n, const char *key,
                               const char **out)
{
    struct shown s;
    if (!read_text(ld, n, key, out)) return false;
    if (**out == '\0')
        return fail_at(ld, n, "expected a non-empty string for '%s', found %s", key, found(n, &s));
    return true;
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* A name: 1..64 characters from [A-Za-z0-9_.-]. */
static bool read_name(struct loader *ld, const struct ynode *n, const char *key, const char **out)
{
    struct shown s;
    if (!read_text(ld, n, key, out)) return false;
    size_t len = strlen(*out);
    bool ok = len >= 1 && len <= CONFIG_NAME_MAX_CHARS;
    for (size_t i = 0; ok && i < len; i++)
        ok = name_char_ok((*out)[i]);
    if (!ok)
        return fail_at(ld, n,
                       "expected a name of 1 to %d letters, digits, '_', '-' or '.' for '%s', "
                       "found %s",
                       CONFIG_NAME_MAX_CHARS, key, found(n, &s));
    return true;
}

/* A [low, high] pair of numbers. */
static bool read_pair(struct loader *ld, const struct ynode *n, const char *key, double out[2])
{
    struct shown s;
    if (n->kind != YNODE_SEQUENCE || n->count != 2)
        return fail_at(ld, n, "expected a [low, high] pair of numbers for '%s', found %s", key,
                       n->kind == YNODE_SEQUENCE ? "a sequence of another length" : found(n, &s));
    return read_number(ld, n->items[0], key, &out[0]) && read_number(ld, n->items[1], key, &out[1]);
}

static bool copy_text(struct loader *ld, const char *text, char **dst)
{
    char *copy = strdup(text);
    if (!copy) return fail_oom(ld);
    free(*dst);
    *dst = copy;
    return true;
}

/* ---- integer fields filled from a table ---- */

struct uint_field {
    size_t key;
    int64_t min, max;
    size_t offset;
    size_t size; /* 1, 2 or 4 bytes */
};

static void store_uint(void *base, const struct uint_field *f, int64_t v)
{
    char *p = (char *)base + f->offset;
    if (f->size == 1) {
        uint8_t u = (uint8_t)v;
        memcpy(p, &u, 1);
    } else if (f->size == 2) {
        uint16_t u = (uint16_t)v;
        memcpy(p, &u, 2);
    } else {
        uint32_t u = (uint32_t)v;
        memcpy(p, &u, 4);
    }
}

/* Reads every present key of fields into base; absent keys keep defaults. */
static bool read_uint_fields(struct loader *ld, const struct map_keys *mk, void *base,
                             const struct uint_field *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const struct uint_field *f = &fields[i];
        const struct ynode *n = mk->value[f->key];
        int64_t v;
        if (!n) continue;
        if (!read_int(ld, n, mk->level->names[f->key], f->min, f->max, &v)) return false;
        store_uint(base, f, v);
    }
    return true;
}

/* ---- gateway and http ---- */

static const char *const gateway_keys[] = {"name", "data_dir", "log_level"};
enum { GK_NAME, GK_DATA_DIR, GK_LOG_LEVEL, GK_COUNT };
static const struct level gateway_level = {"in gateway", "'gateway'", gateway_keys, GK_COUNT};

static bool load_gateway(struct loader *ld, const struct ynode *node)
{
    struct map_keys mk;
    const char *text = NULL;
    if (!collect_keys(ld, node, &gateway_level, &mk)) return false;
    if (mk.value[GK_NAME]) {
        if (!read_name(ld, mk.value[GK_NAME], "name", &text)) return false;
        if (!copy_text(ld, text, &ld->cfg->name)) return false;
    }
    if (mk.value[GK_DATA_DIR]) {
        if (!read_nonempty_text(ld, mk.value[GK_DATA_DIR], "data_dir", &text)) return false;
        if (!copy_text(ld, text, &ld->cfg->data_dir)) return false;
    }
    if (mk.value[GK_LOG_LEVEL]) {
        enum log_level level;
        struct shown s;
        if (!read_text(ld, mk.value[GK_LOG_LEVEL], "log_level", &text)) return false;
        if (!log_level_from_name(text, &level))
            return fail_at(ld, mk.value[GK_LOG_LEVEL],
                           "expected one of debug, info, warn, error for 'log_level', found %s",
                           found(mk.value[GK_LOG_LEVEL], &s));
        if (!copy_text(ld, text, &ld->cfg->log_level)) return false;
    }
    return true;
}

static bool host_char_ok(char c)
{
    return name_char_ok(c) || c == ':' || c == '%' || c == '[' || c == ']';
}

static bool host_valid(const char *host, size_t len)
{
    if (len == 0 || len > CONFIG_HOST_MAX_CHARS) return false;
    for (size_t i = 0; i < len; i++)
        if (!host_char_ok(host[i])) return false;
    return true;
}

/* "host:port" or "[v6]:port", port 1..65535 in decimal. */
static bool listen_valid(const char *text)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) return false;
    size_t host_len = (size_t)(colon - text);
    if (text[0] == '[' && text[host_len - 1] != ']') return false;
    if (text[0] != '[' && memchr(text, ':', host_len)) return false;
    if (!host_valid(text, host_len)) return false;
    const char *p = colon + 1;
    long port = 0;
    if (*p == '\0' || strlen(p) > 5) return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

static const char *const http_keys[] = {"listen", "tls", "cert_file", "key_file",
                                        "allow_plain_http"};
enum { HK_LISTEN, HK_TLS, HK_CERT_FILE, HK_KEY_FILE, HK_ALLOW_PLAIN, HK_COUNT };
static const struct level http_level = {"in http", "'http'", http_keys, HK_COUNT};

static bool load_http(struct loader *ld, const struct ynode *node)
{
    struct map_keys mk;
    const char *text = NULL;
    struct shown s;
    struct config *c = ld->cfg;
    if (!collect_keys(ld, node, &http_level, &mk)) return false;
    if (mk.value[HK_LISTEN]) {
        if (!read_text(ld, mk.value[HK_LISTEN], "listen", &text)) return false;
        if (!listen_valid(text))
            return fail_at(ld, mk.value[HK_LISTEN],
                           "expected host:port like 127.0.0.1:8080 (port 1..65535) for 'listen', "
                           "found %s",
                           found(mk.value[HK_LISTEN], &s));
        if (!copy_text(ld, text, &c->http_listen)) return false;
    }
    if (mk.value[HK_TLS]) {
        if (!read_text(ld, mk.value[HK_TLS], "tls", &text)) return false;
        if (strcmp(text, "auto") == 0)
            c->http_tls = CONFIG_HTTP_TLS_AUTO;
        else if (strcmp(text, "on") == 0)
            c->http_tls = CONFIG_HTTP_TLS_ON;
        else if (strcmp(text, "off") == 0)
            c->http_tls = CONFIG_HTTP_TLS_OFF;
        else
            return fail_at(ld, mk.value[HK_TLS], "expected auto, on or off for 'tls', found %s",
                           found(mk.value[HK_TLS], &s));
    }
    if (mk.value[HK_CERT_FILE] && (!read_text(ld, mk.value[HK_CERT_FILE], "cert_file", &text) ||
                                   !copy_text(ld, text, &c->http_cert_file)))
        return false;
    if (mk.value[HK_KEY_FILE] && (!read_text(ld, mk.value[HK_KEY_FILE], "key_file", &text) ||
                                  !copy_text(ld, text, &c->http_key_file)))
        return false;
    if (!c->http_cert_file != !c->http_key_file)
        return fail_at(ld, node, "'cert_file' and 'key_file' go together: give both or neither");
    if (mk.value[HK_ALLOW_PLAIN] &&
        !read_bool(ld, mk.value[HK_ALLOW_PLAIN], "allow_plain_http", &c->http_allow_plain))
        return false;
    return true;
}

/* ---- tags ---- */

static const char *const tag_keys[] = {"name",  "area",   "address",    "type", "order",
                                       "bit",   "length", "value_type", "unit", "description",
                                       "scale", "range",  "deadband",   "write"};
enum {
    TK_NAME,
    TK_AREA,
    TK_ADDRESS,
    TK_TYPE,
    TK_ORDER,
    TK_BIT,
    TK_LENGTH,
    TK_VALUE_TYPE,
    TK_UNIT,
    TK_DESCRIPTION,
    TK_SCALE,
    TK_RANGE,
    TK_DEADBAND,
    TK_WRITE,
    TK_COUNT
};
static const struct level tag_level = {"in tag", "a tag", tag_keys, TK_COUNT};

static const char *const scale_keys[] = {"gain", "offset", "raw", "eng"};
enum { SK_GAIN, SK_OFFSET, SK_RAW, SK_ENG, SK_COUNT };
static const struct level scale_level = {"in scale", "'scale'", scale_keys, SK_COUNT};

/* What a tag's reading needs from its device. */
struct device_ctx {
    const struct config_device *dev;
    uint32_t index;
};

/* Scaling facts gathered while a tag is read. */
struct tag_scaling {
    bool scaled; /* not the identity */
    bool has_eng;
    double eng[2];
};

static bool is_register_area(enum mb_area a)
{
    return a == MB_AREA_HOLDING || a == MB_AREA_INPUT;
}

static bool is_numeric_wire(enum mb_type t)
{
    return t != MB_TYPE_BOOL && t != MB_TYPE_STRING;
}

static bool is_numeric_value(enum value_type t)
{
    return t == VALUE_INT64 || t == VALUE_UINT64 || t == VALUE_DOUBLE;
}

/* Sets ct's path to the device's namespace + "/" + the name in n, checked
 * and unique across the file (errors at n). */
static bool build_tag_path(struct loader *ld, const struct ynode *n, const struct device_ctx *dc,
                           struct config_tag *ct)
{
    const char *name;
    char why[160];
    struct shown s;
    if (!read_text(ld, n, "name", &name)) return false;
    size_t prefix_len = strlen(dc->dev->namespace_prefix), name_len = strlen(name);
    size_t len = prefix_len + 1 + name_len + 1;
    ct->tag.path = strpool_alloc(&ld->cfg->strings, len - 1);
    if (!ct->tag.path) return fail_oom(ld);
    memcpy(ct->tag.path, dc->dev->namespace_prefix, prefix_len);
    ct->tag.path[prefix_len] = '/';
    memcpy(ct->tag.path + prefix_len + 1, name, name_len);
    if (!tag_path_valid(ct->tag.path, why, sizeof why)) {
        struct ynode shown_path = {
            .kind = YNODE_SCALAR, .text = ct->tag.path, .len = len - 1, .quoted = true};
        return fail_at(ld, n, "expected a valid tag path (%s), found %s", why,
                       found(&shown_path, &s));
    }
    int first = path_set_add(&ld->paths, ct->tag.path, n->line);
    if (first < 0) return fail_oom(ld);
    if (first > 0)
        return fail_at(ld, n, "duplicate tag path '%s' (first defined at line %d)", ct->tag.path,
                       first);
    return true;
}

static bool load_tag_name(struct loader *ld, const struct map_keys *mk, const struct device_ctx *dc,
                          struct config_tag *ct)
{
    return build_tag_path(ld, mk->value[TK_NAME], dc, ct);
}

static bool load_tag_texts(struct loader *ld, const struct map_keys *mk, struct config_tag *ct)
{
    const char *unit = "", *description = "";
    if (mk->value[TK_UNIT] && !read_text(ld, mk->value[TK_UNIT], "unit", &unit)) return false;
    if (mk->value[TK_DESCRIPTION] &&
        !read_text(ld, mk->value[TK_DESCRIPTION], "description", &description))
        return false;
    ct->tag.unit = strpool_copy(&ld->cfg->strings, unit);
    ct->tag.description = strpool_copy(&ld->cfg->strings, description);
    return ct->tag.unit && ct->tag.description ? true : fail_oom(ld);
}

static bool load_area_type(struct loader *ld, const struct map_keys *mk, struct mb_point *p)
{
    const char *text = NULL;
    struct shown s;
    const struct ynode *area = mk->value[TK_AREA], *type = mk->value[TK_TYPE];
    if (!read_text(ld, area, "area", &text)) return false;
    if (!mb_area_from_name(text, &p->area))
        return fail_at(ld, area,
                       "expected one of coil, discrete_input, holding, input for 'area', found %s",
                       found(area, &s));
    if (!read_text(ld, type, "type", &text)) return false;
    if (!mb_type_from_name(text, &p->type))
        return fail_at(ld, type,
                       "expected one of bool, int16, uint16, int32, uint32, int64, uint64, "
                       "float32, float64, string for 'type', found %s",
                       found(type, &s));
    if (p->type != MB_TYPE_BOOL && !is_register_area(p->area))
        return fail_at(ld, type, "expected type bool in area %s (it holds single bits), found %s",
                       mb_area_name(p->area), found(type, &s));
    return true;
}

/* bit: only a bool in a register area takes one, and such a bool needs it. */
static bool load_bit(struct loader *ld, const struct map_keys *mk, struct mb_point *p)
{
    int64_t v;
    p->bit = -1;
    bool wants_bit = p->type == MB_TYPE_BOOL && is_register_area(p->area);
    if (!wants_bit)
        return refuse_key(ld, mk, TK_BIT, "only a bool in area holding or input takes a bit");
    if (!mk->value[TK_BIT])
        return fail_at(ld, mk->map,
                       "missing required key 'bit' in tag (a bool in area %s is one bit, 0..15, "
                       "of a register)",
                       mb_area_name(p->area));
    if (!read_int(ld, mk->value[TK_BIT], "bit", 0, 15, &v)) return false;
    p->bit = (int8_t)v;
    return true;
}

static bool load_length(struct loader *ld, const struct map_keys *mk, struct mb_point *p)
{
    int64_t v;
    p->length = 0;
    if (p->type != MB_TYPE_STRING)
        return refuse_key(ld, mk, TK_LENGTH, "only type string takes a length");
    if (!mk->value[TK_LENGTH])
        return fail_at(ld, mk->map,
                       "missing required key 'length' in tag (type string needs its length in "
                       "registers, 1..%d)",
                       STRING_MAX_REGISTERS);
    if (!read_int(ld, mk->value[TK_LENGTH], "length", 1, STRING_MAX_REGISTERS, &v)) return false;
    p->length = (uint16_t)v;
    return true;
}

static int type_bits(enum mb_type t)
{
    switch (t) {
    case MB_TYPE_INT32:
    case MB_TYPE_UINT32:
    case MB_TYPE_FLOAT32:
        return 32;
    case MB_TYPE_INT64:
    case MB_TYPE_UINT64:
    case MB_TYPE_FLOAT64:
        return 64;
    default:
        return 16;
    }
}

static bool load_order(struct loader *ld, const struct map_keys *mk, struct mb_point *p)
{
    const struct ynode *n = mk->value[TK_ORDER];
    const char *text = NULL;
    struct shown s;
    p->order.word_swap = false;
    p->order.byte_swap = false;
    if (p->type == MB_TYPE_BOOL) return refuse_key(ld, mk, TK_ORDER, "a bool has no byte order");
    if (!n) return true;
    if (!read_text(ld, n, "order", &text)) return false;
    int bits = type_bits(p->type);
    struct mb_order o;
    bool ok = mb_order_from_name(text, &o);
    if (bits == 16) ok = ok && strlen(text) == 4 && !o.word_swap;
    if (bits == 32) ok = ok && strlen(text) == 4;
    if (!ok) {
        const char *allowed = bits == 16   ? "ABCD or BADC"
                              : bits == 32 ? "one of ABCD, CDAB, BADC, DCBA"
                                           : "one of ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA "
                                             "(or ABCD, CDAB, BADC, DCBA)";
        return fail_at(ld, n, "expected %s for 'order' of a %s, found %s", allowed,
                       mb_type_name(p->type), found(n, &s));
    }
    p->order = o;
    return true;
}

/* address: in the device's addressing; stored 0-based; must fit with the
 * point's width below 65536. */
static bool load_address(struct loader *ld, const struct map_keys *mk, const struct device_ctx *dc,
                         struct mb_point *p)
{
    const struct ynode *n = mk->value[TK_ADDRESS];
    int64_t base = dc->dev->one_based ? 1 : 0, v;
    struct shown s;
    if (!yscalar_int(n, &v) || v < base || v > 65535 + base)
        return fail_at(ld, n,
                       "expected an integer %lld..%lld for 'address' (%s addressing), found %s",
                       (long long)base, (long long)(65535 + base),
                       dc->dev->one_based ? "1-based" : "0-based", found(n, &s));
    int64_t address = v - base;
    uint16_t width = mb_point_width(p);
    if (address + width > 65536)
        return fail_at(ld, n, "expected an address at most %lld for a %u-%s %s, found %s",
                       (long long)(65536 - width + base), width,
                       is_register_area(p->area) ? "register" : "bit", mb_type_name(p->type),
                       found(n, &s));
    p->address = (uint16_t)address;
    return true;
}

static bool load_point(struct loader *ld, const struct map_keys *mk, const struct device_ctx *dc,
                       struct mb_point *p)
{
    return load_area_type(ld, mk, p) && load_bit(ld, mk, p) && load_length(ld, mk, p) &&
           load_order(ld, mk, p) && load_address(ld, mk, dc, p);
}

static bool load_scale_points(struct loader *ld, const struct map_keys *sk, struct scaling *sc,
                              struct tag_scaling *ts)
{
    double raw[2], eng[2];
    if (sk->key[SK_GAIN] || sk->key[SK_OFFSET])
        return fail_at(ld, sk->key[SK_RAW] ? sk->key[SK_RAW] : sk->key[SK_ENG],
                       "expected either gain/offset or raw/eng in 'scale', found both");
    if (!require_key(ld, sk, SK_RAW) || !require_key(ld, sk, SK_ENG)) return false;
    if (!read_pair(ld, sk->value[SK_RAW], "raw", raw)) return false;
    if (raw[0] == raw[1])
        return fail_at(ld, sk->value[SK_RAW],
                       "expected two different values in 'raw', found [%g, %g]", raw[0], raw[1]);
    if (!read_pair(ld, sk->value[SK_ENG], "eng", eng)) return false;
    sc->gain = (eng[1] - eng[0]) / (raw[1] - raw[0]);
    sc->offset = eng[0] - raw[0] * sc->gain;
    if (!isfinite(sc->gain) || !isfinite(sc->offset) || sc->gain == 0)
        return fail_at(ld, sk->map,
                       "expected raw/eng giving a finite, non-zero gain, found gain %g, offset %g",
                       sc->gain, sc->offset);
    ts->has_eng = true;
    ts->eng[0] = eng[0] < eng[1] ? eng[0] : eng[1];
    ts->eng[1] = eng[0] < eng[1] ? eng[1] : eng[0];
    return true;
}

static bool load_scale(struct loader *ld, const struct ynode *node, struct scaling *sc,
                       struct tag_scaling *ts)
{
    struct map_keys sk;
    if (!collect_keys(ld, node, &scale_level, &sk)) return false;
    if (node->count == 0)
        return fail_at(ld, node,
                       "expected gain/offset or raw/eng in 'scale', found an empty "
                       "mapping");
    if (sk.key[SK_RAW] || sk.key[SK_ENG]) {
        if (!load_scale_points(ld, &sk, sc, ts)) return false;
    } else {
        if (sk.value[SK_GAIN] && !read_number(ld, sk.value[SK_GAIN], "gain", &sc->gain))
            return false;
        if (sc->gain == 0)
            return fail_at(ld, sk.value[SK_GAIN], "expected a non-zero number for 'gain', found 0");
        if (sk.value[SK_OFFSET] && !read_number(ld, sk.value[SK_OFFSET], "offset", &sc->offset))
            return false;
    }
    ts->scaled = sc->gain != 1.0 || sc->offset != 0.0;
    return true;
}

static enum value_type default_value_type(enum mb_type t, bool scaled)
{
    if (scaled) return VALUE_DOUBLE;
    switch (t) {
    case MB_TYPE_BOOL:
        return VALUE_BOOL;
    case MB_TYPE_INT16:
    case MB_TYPE_INT32:
    case MB_TYPE_INT64:
        return VALUE_INT64;
    case MB_TYPE_UINT16:
    case MB_TYPE_UINT32:
    case MB_TYPE_UINT64:
        return VALUE_UINT64;
    case MB_TYPE_FLOAT32:
    case MB_TYPE_FLOAT64:
        return VALUE_DOUBLE;
    case MB_TYPE_STRING:
        return VALUE_STRING;
    }
    return VALUE_DOUBLE;
}

/* Whether a value of type vt holds every value read as wire (after scaling). */
static bool value_type_holds(enum mb_type wire, bool scaled, enum value_type vt)
{
    if (scaled) return vt == VALUE_DOUBLE;
    switch (wire) {
    case MB_TYPE_BOOL:
        return vt != VALUE_STRING;
    case MB_TYPE_INT16:
    case MB_TYPE_INT32:
    case MB_TYPE_INT64:
        return vt == VALUE_INT64 || vt == VALUE_DOUBLE;
    case MB_TYPE_UINT16:
    case MB_TYPE_UINT32:
        return is_numeric_value(vt);
    case MB_TYPE_UINT64:
        return vt == VALUE_UINT64 || vt == VALUE_DOUBLE;
    case MB_TYPE_FLOAT32:
    case MB_TYPE_FLOAT64:
        return vt == VALUE_DOUBLE;
    case MB_TYPE_STRING:
        return vt == VALUE_STRING;
    }
    return false;
}

static bool load_value_type(struct loader *ld, const struct map_keys *mk, enum mb_type wire,
                            bool scaled, enum value_type *out)
{
    const struct ynode *n = mk->value[TK_VALUE_TYPE];
    const char *text = NULL;
    struct shown s;
    enum value_type vt;
    *out = default_value_type(wire, scaled);
    if (!n) return true;
    if (!read_text(ld, n, "value_type", &text)) return false;
    if (!value_type_from_name(text, &vt))
        return fail_at(ld, n,
                       "expected one of bool, int64, uint64, double, string for 'value_type', "
                       "found %s",
                       found(n, &s));
    if (!value_type_holds(wire, scaled, vt)) {
        char allowed[64] = "";
        size_t o = 0;
        for (int t = VALUE_BOOL; t <= VALUE_STRING; t++)
            if (value_type_holds(wire, scaled, (enum value_type)t))
                o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s%s", o ? " or " : "",
                                      value_type_name((enum value_type)t));
        return fail_at(ld, n, "expected %s for 'value_type' of a%s %s, found %s", allowed,
                       scaled ? " scaled" : "", mb_type_name(wire), found(n, &s));
    }
    *out = vt;
    return true;
}

static bool load_range(struct loader *ld, const struct map_keys *mk, const struct tag_scaling *ts,
                       struct tag *t)
{
    const struct ynode *n = mk->value[TK_RANGE];
    double pair[2];
    if (!n) {
        t->has_range = ts->has_eng;
        t->eng_min = ts->has_eng ? ts->eng[0] : 0;
        t->eng_max = ts->has_eng ? ts->eng[1] : 0;
        return true;
    }
    if (!read_pair(ld, n, "range", pair)) return false;
    if (!(pair[0] < pair[1]))
        return fail_at(ld, n, "expected low < high in 'range', found [%g, %g]", pair[0], pair[1]);
    t->has_range = true;
    t->eng_min = pair[0];
    t->eng_max = pair[1];
    return true;
}

/* "1.5%" -> 1.5; false when text is not a number followed by '%'. */
static bool parse_percent(const char *text, double *out)
{
    size_t len = strlen(text);
    char number[64];
    if (len < 2 || len >= sizeof number || text[len - 1] != '%') return false;
    memcpy(number, text, len - 1);
    number[len - 1] = '\0';
    struct ynode plain = {.kind = YNODE_SCALAR, .text = number, .len = len - 1};
    return yscalar_number(&plain, out);
}

static bool load_deadband(struct loader *ld, const struct map_keys *mk, struct tag *t)
{
    const struct ynode *n = mk->value[TK_DEADBAND];
    struct shown s;
    double v;
    t->deadband_kind = DEADBAND_NONE;
    t->deadband = 0;
    if (!n) return true;
    bool percent = false;
    if (yscalar_number(n, &v)) {
        percent = false;
    } else if (n->kind == YNODE_SCALAR && !n->has_nul && parse_percent(n->text, &v)) {
        percent = true;
    } else {
        return fail_at(ld, n,
                       "expected a non-negative number or a percentage like \"1.5%%\" for "
                       "'deadband', found %s",
                       found(n, &s));
    }
    if (!isfinite(v) || v < 0 || (percent && v > 100))
        return fail_at(ld, n, "expected %s for 'deadband', found %s",
                       percent ? "a percentage 0..100%" : "a finite, non-negative number",
                       found(n, &s));
    if (percent && !t->has_range)
        return fail_at(ld, n,
                       "expected a 'range' (or raw/eng scaling) with a percent deadband, found "
                       "no range");
    t->deadband_kind = percent ? DEADBAND_PERCENT : DEADBAND_ABSOLUTE;
    t->deadband = v;
    return true;
}

/* scale, value_type, range and deadband: how raw values become reported ones. */
static bool load_value(struct loader *ld, const struct map_keys *mk, struct config_tag *ct)
{
    struct tag_scaling ts = {0};
    struct tag *t = &ct->tag;
    enum mb_type wire = ct->point.type;
    t->scale.gain = 1.0;
    t->scale.offset = 0.0;
    if (mk->value[TK_SCALE]) {
        if (!is_numeric_wire(wire))
            return refuse_key(ld, mk, TK_SCALE, "only numeric types take a scale");
        if (!load_scale(ld, mk->value[TK_SCALE], &t->scale, &ts)) return false;
    }
    if (!load_value_type(ld, mk, wire, ts.scaled, &t->type)) return false;
    if (!is_numeric_value(t->type)) {
        const char *why = t->type == VALUE_BOOL ? "a bool tag has no range or deadband"
                                                : "a string tag has no range or deadband";
        if (!refuse_key(ld, mk, TK_RANGE, why) || !refuse_key(ld, mk, TK_DEADBAND, why))
            return false;
    }
    return load_range(ld, mk, &ts, t) && load_deadband(ld, mk, t);
}

/* A tag's `write:` policy (the write gate, src/gate/write_gate.h): off
 * unless enabled; only holding registers and coils can be written (Modbus;
 * any OPC UA variable may be, the server decides); bool tags take no
 * limits; string tags are never writable. */
static const char *const write_keys[] = {"enabled", "role",     "min",
                                         "max",     "max_step", "min_interval_ms"};
enum { WK_ENABLED, WK_ROLE, WK_MIN, WK_MAX, WK_MAX_STEP, WK_MIN_INTERVAL_MS, WK_COUNT };
static const struct level write_level = {"in write", "a write policy", write_keys, WK_COUNT};

static bool load_write_policy(struct loader *ld, const struct ynode *node, struct config_tag *ct,
                              bool opcua)
{
    struct write_policy *w = &ct->write;
    struct map_keys mk;
    if (!collect_keys(ld, node, &write_level, &mk)) return false;
    *w = (struct write_policy){.enabled = true, .role = WRITE_ROLE_OPERATOR};
    if (mk.value[WK_ENABLED] && !read_bool(ld, mk.value[WK_ENABLED], "enabled", &w->enabled))
        return false;
    if (!opcua && ct->point.area != MB_AREA_HOLDING && ct->point.area != MB_AREA_COIL)
        return fail_at(ld, node,
                       "expected a holding register or a coil for a writable tag: input "
                       "registers and discrete inputs cannot be written");
    if (ct->tag.type == VALUE_STRING)
        return fail_at(ld, node, "string tags cannot be written through the write gate");
    if (!opcua && ct->point.area == MB_AREA_HOLDING && ct->point.type == MB_TYPE_BOOL)
        return fail_at(ld, node,
                       "a bool taken from one bit of a holding register cannot be written (a "
                       "read-modify-write could undo the device's own change to the other "
                       "bits): use a coil or a whole register");
    if (mk.value[WK_ROLE]) {
        const char *role;
        if (!read_text(ld, mk.value[WK_ROLE], "role", &role)) return false;
        if (strcmp(role, "operator") == 0)
            w->role = WRITE_ROLE_OPERATOR;
        else if (strcmp(role, "engineer") == 0)
            w->role = WRITE_ROLE_ENGINEER;
        else if (strcmp(role, "admin") == 0)
            w->role = WRITE_ROLE_ADMIN;
        else
            return fail_at(ld, mk.value[WK_ROLE],
                           "expected operator, engineer or admin for 'role', found \"%s\"", role);
    }
    if (ct->tag.type == VALUE_BOOL) {
        static const char *const why = "a bool tag takes no min, max or max_step";
        if (!refuse_key(ld, &mk, WK_MIN, why) || !refuse_key(ld, &mk, WK_MAX, why) ||
            !refuse_key(ld, &mk, WK_MAX_STEP, why))
            return false;
    }
    if (mk.value[WK_MIN]) {
        if (!read_number(ld, mk.value[WK_MIN], "min", &w->min)) return false;
        w->has_min = true;
    }
    if (mk.value[WK_MAX]) {
        if (!read_number(ld, mk.value[WK_MAX], "max", &w->max)) return false;
        w->has_max = true;
    }
    if (w->has_min && w->has_max && !(w->min < w->max))
        return fail_at(ld, mk.value[WK_MAX], "expected 'max' above 'min' (%g), found %g", w->min,
                       w->max);
    if (mk.value[WK_MAX_STEP]) {
        if (!read_number(ld, mk.value[WK_MAX_STEP], "max_step", &w->max_step)) return false;
        if (!(w->max_step > 0))
            return fail_at(ld, mk.value[WK_MAX_STEP],
                           "expected a number above 0 for 'max_step', found %g", w->max_step);
    }
    static const struct uint_field fields[] = {
        {WK_MIN_INTERVAL_MS, 0, 86400000, offsetof(struct write_policy, min_interval_ms),
         sizeof(uint32_t)},
    };
    return read_uint_fields(ld, &mk, w, fields, 1);
}

static bool load_tag(struct loader *ld, const struct ynode *node, const struct device_ctx *dc,
                     struct config_tag *ct)
{
    struct map_keys mk;
    if (!collect_keys(ld, node, &tag_level, &mk)) return false;
    static const size_t required[] = {TK_NAME, TK_AREA, TK_ADDRESS, TK_TYPE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!require_key(ld, &mk, required[i])) return false;
    ct->pos.line = node->line;
    ct->pos.col = node->col;
    ct->tag.id = ld->next_tag_id++;
    ct->tag.device_index = dc->index;
    return load_tag_name(ld, &mk, dc, ct) && load_tag_texts(ld, &mk, ct) &&
           load_point(ld, &mk, dc, &ct->point) && load_value(ld, &mk, ct) &&
           (!mk.value[TK_WRITE] || load_write_policy(ld, mk.value[TK_WRITE], ct, false));
}

/* ---- poll groups ---- */

static const char *const group_keys[] = {"name", "interval_ms", "tags"};
enum { PK_NAME, PK_INTERVAL_MS, PK_TAGS, PK_COUNT };
static const struct level group_level = {"in poll group", "a poll group", group_keys, PK_COUNT};

static bool expect_sequence(struct loader *ld, const struct ynode *n, const char *key)
{
    struct shown s;
    if (n->kind == YNODE_SEQUENCE) return true;
    return fail_at(ld, n, "expected a sequence for '%s', found %s", key, found(n, &s));
}

static bool load_group_name(struct loader *ld, const struct map_keys *mk,
                            const struct config_device *dev, size_t gi)
{
    struct config_poll_group *g = &dev->groups[gi];
    const char *name;
    char generated[32];
    if (mk->value[PK_NAME]) {
        if (!read_name(ld, mk->value[PK_NAME], "name", &name)) return false;
    } else {
        snprintf(generated, sizeof generated, "group-%zu", gi + 1);
        name = generated;
    }
    for (size_t i = 0; i < gi; i++)
        if (strcmp(dev->groups[i].name, name) == 0)
            return fail_at(ld, mk->value[PK_NAME] ? mk->value[PK_NAME] : mk->map,
                           "duplicate poll group name '%s' in device (first at line %d)", name,
                           dev->groups[i].pos.line);
    return copy_text(ld, name, &g->name);
}

static bool load_group(struct loader *ld, const struct ynode *node, const struct device_ctx *dc,
                       size_t gi)
{
    static const struct uint_field fields[] = {
        {PK_INTERVAL_MS, 10, 86400000, offsetof(struct config_poll_group, interval_ms),
         sizeof(uint32_t)},
    };
    struct config_poll_group *g = &dc->dev->groups[gi];
    struct map_keys mk;
    if (!collect_keys(ld, node, &group_level, &mk) || !require_key(ld, &mk, PK_TAGS)) return false;
    g->pos.line = node->line;
    g->pos.col = node->col;
    g->interval_ms = 1000;
    if (!load_group_name(ld, &mk, dc->dev, gi)) return false;
    if (!read_uint_fields(ld, &mk, g, fields, 1)) return false;
    const struct ynode *tags = mk.value[PK_TAGS];
    if (!expect_sequence(ld, tags, "tags")) return false;
    if (tags->count > 0) {
        g->tags = calloc(tags->count, sizeof *g->tags);
        if (!g->tags) return fail_oom(ld);
        g->tag_count = tags->count;
    }
    for (size_t i = 0; i < tags->count; i++)
        if (!load_tag(ld, tags->items[i], dc, &g->tags[i])) return false;
    return true;
}

/* ---- devices ---- */

static const char *const device_keys[] = {"name",
                                          "protocol",
                                          "host",
                                          "port",
                                          "unit_id",
                                          "timeout_ms",
                                          "retries",
                                          "backoff_initial_ms",
                                          "backoff_max_ms",
                                          "addressing",
                                          "max_registers_per_request",
                                          "max_bits_per_request",
                                          "max_gap_registers",
                                          "max_gap_bits",
                                          "namespace",
                                          "enabled",
                                          "poll_groups"};
enum {
    DK_NAME,
    DK_PROTOCOL,
    DK_HOST,
    DK_PORT,
    DK_UNIT_ID,
    DK_TIMEOUT_MS,
    DK_RETRIES,
    DK_BACKOFF_INITIAL_MS,
    DK_BACKOFF_MAX_MS,
    DK_ADDRESSING,
    DK_MAX_REGISTERS,
    DK_MAX_BITS,
    DK_MAX_GAP_REGISTERS,
    DK_MAX_GAP_BITS,
    DK_NAMESPACE,
    DK_ENABLED,
    DK_POLL_GROUPS,
    DK_COUNT
};
static const struct level device_level = {"in device", "a device", device_keys, DK_COUNT};

#define DEVICE_FIELD(key, min, max, member)                                                        \
    {                                                                                              \
        key, min, max, offsetof(struct config_device, member),                                     \
            sizeof(((struct config_device *)0)->member)                                            \
    }

static const struct uint_field device_fields[] = {
    DEVICE_FIELD(DK_PORT, 1, 65535, port),
    DEVICE_FIELD(DK_UNIT_ID, 0, 255, unit_id),
    DEVICE_FIELD(DK_TIMEOUT_MS, 10, 60000, timeout_ms),
    DEVICE_FIELD(DK_RETRIES, 0, 10, retries),
    DEVICE_FIELD(DK_BACKOFF_INITIAL_MS, 10, 3600000, backoff_initial_ms),
    DEVICE_FIELD(DK_BACKOFF_MAX_MS, 10, 86400000, backoff_max_ms),
    DEVICE_FIELD(DK_MAX_REGISTERS, 1, 125, max_registers_per_request),
    DEVICE_FIELD(DK_MAX_BITS, 1, 2000, max_bits_per_request),
    DEVICE_FIELD(DK_MAX_GAP_REGISTERS, 0, 125, max_gap_registers),
    DEVICE_FIELD(DK_MAX_GAP_BITS, 0, 2000, max_gap_bits),
};

static void device_defaults(struct config_device *dev, const struct ynode *node)
{
    dev->protocol = PROTOCOL_MODBUS_TCP;
    dev->port = 502;
    dev->unit_id = 1;
    dev->timeout_ms = 1000;
    dev->retries = 1;
    dev->backoff_initial_ms = 500;
    dev->backoff_max_ms = 30000;
    dev->one_based = false;
    dev->max_registers_per_request = 125;
    dev->max_bits_per_request = 2000;
    dev->max_gap_registers = 16;
    dev->max_gap_bits = 64;
    dev->enabled = true;
    dev->pos.line = node->line;
    dev->pos.col = node->col;
}

static bool load_device_name(struct loader *ld, const struct map_keys *mk, size_t di)
{
    const struct ynode *n = mk->value[DK_NAME];
    const char *name;
    if (!read_name(ld, n, "name", &name)) return false;
    for (size_t i = 0; i < di; i++)
        if (strcmp(ld->cfg->devices[i].name, name) == 0)
            return fail_at(ld, n, "duplicate device name '%s' (first at line %d)", name,
                           ld->cfg->devices[i].pos.line);
    return copy_text(ld, name, &ld->cfg->devices[di].name);
}

/* namespace: 1..7 segments of a tag path, so that namespace/name fits. */
static bool load_namespace(struct loader *ld, const struct ynode *n, struct config_device *dev)
{
    const char *ns;
    char probe[TAG_PATH_MAX + 8], why[160];
    struct shown s;
    if (!read_text(ld, n, "namespace", &ns)) return false;
    int segments = 1;
    for (const char *p = ns; *p; p++)
        segments += *p == '/';
    if (segments > NAMESPACE_MAX_SEGMENTS)
        return fail_at(ld, n, "expected a namespace of 1 to %d segments, found %d segments in %s",
                       NAMESPACE_MAX_SEGMENTS, segments, found(n, &s));
    bool fits = strlen(ns) + 2 < TAG_PATH_MAX;
    snprintf(probe, sizeof probe, "%s/x", fits ? ns : "");
    if (!fits || !tag_path_valid(probe, why, sizeof why))
        return fail_at(ld, n,
                       "expected a namespace like enterprise/site/area/line/cell (%s), found %s",
                       fits ? why : "at most 253 characters", found(n, &s));
    return copy_text(ld, ns, &dev->namespace_prefix);
}

static bool load_device_texts(struct loader *ld, const struct map_keys *mk,
                              struct config_device *dev)
{
    const char *text = NULL;
    struct shown s;
    if (mk->value[DK_PROTOCOL]) {
        if (!read_text(ld, mk->value[DK_PROTOCOL], "protocol", &text)) return false;
        if (strcmp(text, "modbus-tcp") != 0)
            return fail_at(ld, mk->value[DK_PROTOCOL],
                           "expected modbus-tcp or opcua for 'protocol', found %s",
                           found(mk->value[DK_PROTOCOL], &s));
    }
    if (!read_text(ld, mk->value[DK_HOST], "host", &text)) return false;
    if (!host_valid(text, strlen(text)))
        return fail_at(ld, mk->value[DK_HOST],
                       "expected a host name or IP address for 'host', found %s",
                       found(mk->value[DK_HOST], &s));
    if (!copy_text(ld, text, &dev->host)) return false;
    if (mk->value[DK_ADDRESSING]) {
        if (!read_text(ld, mk->value[DK_ADDRESSING], "addressing", &text)) return false;
        if (strcmp(text, "0-based") != 0 && strcmp(text, "1-based") != 0)
            return fail_at(ld, mk->value[DK_ADDRESSING],
                           "expected 0-based or 1-based for 'addressing', found %s",
                           found(mk->value[DK_ADDRESSING], &s));
        dev->one_based = strcmp(text, "1-based") == 0;
    }
    return load_namespace(ld, mk->value[DK_NAMESPACE], dev);
}

/* A device's number fields, `enabled`, and the back-off pair's order (for
 * every protocol: each passes its own fields and key indices). */
static bool load_device_common(struct loader *ld, const struct map_keys *mk,
                               struct config_device *dev, const struct uint_field *fields,
                               size_t field_count, size_t enabled_key, size_t backoff_initial_key,
                               size_t backoff_max_key)
{
    if (!read_uint_fields(ld, mk, dev, fields, field_count)) return false;
    if (mk->value[enabled_key] && !read_bool(ld, mk->value[enabled_key], "enabled", &dev->enabled))
        return false;
    if (dev->backoff_initial_ms > dev->backoff_max_ms) {
        const struct ynode *at = mk->value[backoff_max_key] ? mk->value[backoff_max_key]
                                                            : mk->value[backoff_initial_key];
        return fail_at(ld, at, "expected backoff_initial_ms <= backoff_max_ms, found %u > %u",
                       (unsigned)dev->backoff_initial_ms, (unsigned)dev->backoff_max_ms);
    }
    return true;
}

static bool load_device_numbers(struct loader *ld, const struct map_keys *mk,
                                struct config_device *dev)
{
    return load_device_common(ld, mk, dev, device_fields,
                              sizeof device_fields / sizeof device_fields[0], DK_ENABLED,
                              DK_BACKOFF_INITIAL_MS, DK_BACKOFF_MAX_MS);
}

typedef bool (*group_loader)(struct loader *ld, const struct ynode *node,
                             const struct device_ctx *dc, size_t gi);

/* The sequence under key (poll_groups for Modbus, groups for OPC UA), each
 * item loaded by load_one. */
static bool load_groups_with(struct loader *ld, const struct ynode *groups, size_t di,
                             const char *key, group_loader load_one)
{
    struct config_device *dev = &ld->cfg->devices[di];
    struct device_ctx dc = {.dev = dev, .index = (uint32_t)di};
    if (!expect_sequence(ld, groups, key)) return false;
    if (groups->count > 0) {
        dev->groups = calloc(groups->count, sizeof *dev->groups);
        if (!dev->groups) return fail_oom(ld);
        dev->group_count = groups->count;
    }
    for (size_t i = 0; i < groups->count; i++)
        if (!load_one(ld, groups->items[i], &dc, i)) return false;
    return true;
}

static bool load_device_groups(struct loader *ld, const struct ynode *groups, size_t di)
{
    return load_groups_with(ld, groups, di, "poll_groups", load_group);
}

static bool load_opcua_device(struct loader *ld, const struct ynode *node, size_t di);

/* True when node is a mapping with `protocol: opcua`: such a device has
 * its own keys (see load_opcua_device). */
static bool is_opcua_device(const struct ynode *node)
{
    if (node->kind != YNODE_MAPPING) return false;
    for (size_t i = 0; i + 1 < node->count; i += 2) {
        const struct ynode *k = node->items[i], *v = node->items[i + 1];
        if (k->kind == YNODE_SCALAR && strcmp(k->text, "protocol") == 0)
            return v->kind == YNODE_SCALAR && !v->has_nul && strcmp(v->text, "opcua") == 0;
    }
    return false;
}

static bool load_device(struct loader *ld, const struct ynode *node, size_t di)
{
    struct config_device *dev = &ld->cfg->devices[di];
    struct map_keys mk;
    if (is_opcua_device(node)) return load_opcua_device(ld, node, di);
    if (!collect_keys(ld, node, &device_level, &mk)) return false;
    static const size_t required[] = {DK_NAME, DK_HOST, DK_NAMESPACE, DK_POLL_GROUPS};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!require_key(ld, &mk, required[i])) return false;
    device_defaults(dev, node);
    return load_device_name(ld, &mk, di) && load_device_texts(ld, &mk, dev) &&
           load_device_numbers(ld, &mk, dev) &&
           load_device_groups(ld, mk.value[DK_POLL_GROUPS], di);
}

static bool load_devices(struct loader *ld, const struct ynode *devices)
{
    if (!expect_sequence(ld, devices, "devices")) return false;
    if (devices->count == 0) return true;
    ld->cfg->devices = calloc(devices->count, sizeof *ld->cfg->devices);
    if (!ld->cfg->devices) return fail_oom(ld);
    ld->cfg->device_count = devices->count;
    for (size_t i = 0; i < devices->count; i++)
        if (!load_device(ld, devices->items[i], i)) return false;
    return true;
}

/* ---- history ---- */

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define HISTORY_GROUPS_MAX 64

static const char *const history_keys[] = {
    "enabled",     "dir",       "durability", "fsync_interval_ms",
    "late_window", "partition", "chunk_span", "checkpoint_interval",
    "groups"};
enum {
    HIK_ENABLED,
    HIK_DIR,
    HIK_DURABILITY,
    HIK_FSYNC_INTERVAL_MS,
    HIK_LATE_WINDOW,
    HIK_PARTITION,
    HIK_CHUNK_SPAN,
    HIK_CHECKPOINT_INTERVAL,
    HIK_GROUPS,
    HIK_COUNT
};
static const struct level history_level = {"in history", "'history'", history_keys, HIK_COUNT};

static const char *const history_group_keys[] = {"name", "prefix", "max_age", "max_size"};
enum { HGK_NAME, HGK_PREFIX, HGK_MAX_AGE, HGK_MAX_SIZE, HGK_COUNT };
static const struct level history_group_level = {"in history group", "a history group",
                                                 history_group_keys, HGK_COUNT};

/* Multiplies and adds with overflow checks: *acc += count * unit. */
static bool add_term(int64_t *acc, int64_t count, int64_t unit)
{
    int64_t term;
    if (__builtin_mul_overflow(count, unit, &term)) return false;
    return !__builtin_add_overflow(*acc, term, acc);
}

static int64_t duration_unit_ns(const char *unit, size_t len)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"ms", NS_PER_MS},
        {"s", NS_PER_S},
        {"m", 60 * NS_PER_S},
        {"h", 3600 * NS_PER_S},
        {"d", 86400 * NS_PER_S},
        {"w", 7 * 86400 * NS_PER_S},
        {"y", 365 * 86400 * NS_PER_S},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, unit, len) == 0)
            return units[i].ns;
    return 0;
}

bool config_duration_parse(const char *text, int64_t *ns)
{
    int64_t total = 0;
    const char *p = text;
    if (!p || !*p) return false;
    while (*p) {
        int64_t count = 0;
        const char *digits = p;
        while (*p >= '0' && *p <= '9') {
            if (__builtin_mul_overflow(count, 10, &count) ||
                __builtin_add_overflow(count, *p - '0', &count))
                return false;
            p++;
        }
        if (p == digits) return false;
        const char *unit = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            p++;
        int64_t unit_ns = duration_unit_ns(unit, (size_t)(p - unit));
        if (unit_ns == 0 || !add_term(&total, count, unit_ns)) return false;
    }
    *ns = total;
    return true;
}

bool config_size_parse(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *name;
        double factor;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"kb", 1e3},
        {"mb", 1e6},
        {"gb", 1e9},
        {"tb", 1e12},
        {"pb", 1e15},
        {"kib", 1024.0},
        {"mib", 1048576.0},
        {"gib", 1073741824.0},
        {"tib", 1099511627776.0},
        {"pib", 1125899906842624.0},
    };
    if (!text || !(*text >= '0' && *text <= '9')) return false;
    char *end;
    errno = 0;
    double number = strtod(text, &end);
    if (errno || !isfinite(number) || number < 0) return false;
    while (*end == ' ')
        end++;
    char unit[8];
    size_t len = strlen(end);
    if (len >= sizeof unit) return false;
    for (size_t i = 0; i <= len; i++)
        unit[i] = (char)(end[i] >= 'A' && end[i] <= 'Z' ? end[i] - 'A' + 'a' : end[i]);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].name) != 0) continue;
        double v = number * units[i].factor;
        if (v >= 9223372036854775808.0) return false;
        if (units[i].factor == 1 && v != floor(v)) return false; /* half a byte */
        *bytes = (uint64_t)llround(v);
        return true;
    }
    return false;
}

void config_history_defaults(struct config_history *h)
{
    memset(h, 0, sizeof *h);
    h->enabled = true;
    h->strict = false;
    h->fsync_interval_ms = 1000;
    h->late_window_ns = 3600 * NS_PER_S;
    h->partition_ns = 86400 * NS_PER_S;
    h->chunk_span_ns = 3600 * NS_PER_S;
    h->checkpoint_interval_ns = 60 * NS_PER_S;
}

bool config_history_dir(const struct config *c, char *buf, size_t len)
{
    int n = c->history.dir ? snprintf(buf, len, "%s", c->history.dir)
                           : snprintf(buf, len, "%s/history", c->data_dir ? c->data_dir : "./data");
    return n >= 0 && (size_t)n < len;
}

/* A duration in [min_ns, max_ns]; what names the accepted form for errors. */
static bool read_duration(struct loader *ld, const struct ynode *n, const char *key, int64_t min_ns,
                          int64_t max_ns, const char *range, int64_t *out)
{
    struct shown s;
    int64_t v;
    if (n->kind != YNODE_SCALAR || n->has_nul || !config_duration_parse(n->text, &v) ||
        v < min_ns || v > max_ns)
        return fail_at(ld, n,
                       "expected a duration %s like \"500ms\", \"90s\", \"15m\", \"1h\" or "
                       "\"400d\" for '%s', found %s",
                       range, key, found(n, &s));
    *out = v;
    return true;
}

static bool read_size(struct loader *ld, const struct ynode *n, const char *key, uint64_t *out)
{
    struct shown s;
    if (n->kind != YNODE_SCALAR || n->has_nul || !config_size_parse(n->text, out))
        return fail_at(ld, n,
                       "expected a size like \"500MB\", \"10GB\" or \"2GiB\" for '%s', found %s",
                       key, found(n, &s));
    return true;
}

static bool group_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len > CONFIG_NAME_MAX_CHARS) return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(name[i]) || name[i] == '.') return false;
    return true;
}

static bool load_history_group(struct loader *ld, const struct ynode *node, size_t gi)
{
    struct config_history *h = &ld->cfg->history;
    struct config_history_group *g = &h->groups[gi];
    struct map_keys mk;
    struct shown s;
    const char *text = NULL;
    if (!collect_keys(ld, node, &history_group_level, &mk) || !require_key(ld, &mk, HGK_NAME))
        return false;
    g->pos.line = node->line;
    g->pos.col = node->col;
    if (!read_text(ld, mk.value[HGK_NAME], "name", &text)) return false;
    if (!group_name_ok(text))
        return fail_at(ld, mk.value[HGK_NAME],
                       "expected a name of 1 to %d letters, digits, '_' or '-' for 'name', "
                       "found %s",
                       CONFIG_NAME_MAX_CHARS, found(mk.value[HGK_NAME], &s));
    if (strcmp(text, "wal") == 0)
        return fail_at(ld, mk.value[HGK_NAME],
                       "expected a group name other than 'wal' (the log's directory), found %s",
                       found(mk.value[HGK_NAME], &s));
    for (size_t i = 0; i < gi; i++)
        if (strcmp(h->groups[i].name, text) == 0)
            return fail_at(ld, mk.value[HGK_NAME],
                           "duplicate history group name '%s' (first at line %d)", text,
                           h->groups[i].pos.line);
    if (!copy_text(ld, text, &g->name)) return false;
    text = "";
    if (mk.value[HGK_PREFIX] && !read_text(ld, mk.value[HGK_PREFIX], "prefix", &text)) return false;
    for (size_t i = 0; i < gi; i++)
        if (strcmp(h->groups[i].prefix, text) == 0)
            return fail_at(ld, mk.value[HGK_PREFIX] ? mk.value[HGK_PREFIX] : node,
                           "duplicate history group prefix \"%s\" (group '%s' at line %d has it)",
                           text, h->groups[i].name, h->groups[i].pos.line);
    if (!copy_text(ld, text, &g->prefix)) return false;
    if (mk.value[HGK_MAX_AGE] && !read_duration(ld, mk.value[HGK_MAX_AGE], "max_age", 1, INT64_MAX,
                                                "of at least 1ns", &g->max_age_ns))
        return false;
    if (mk.value[HGK_MAX_SIZE] && !read_size(ld, mk.value[HGK_MAX_SIZE], "max_size", &g->max_bytes))
        return false;
    return true;
}

static bool load_history_groups(struct loader *ld, const struct ynode *groups)
{
    struct shown s;
    if (groups->kind != YNODE_SEQUENCE)
        return fail_at(ld, groups, "expected a sequence for 'groups', found %s", found(groups, &s));
    if (groups->count == 0) return true;
    if (groups->count > HISTORY_GROUPS_MAX)
        return fail_at(ld, groups, "expected at most %d history groups, found %zu",
                       HISTORY_GROUPS_MAX, groups->count);
    struct config_history *h = &ld->cfg->history;
    h->groups = calloc(groups->count, sizeof *h->groups);
    if (!h->groups) return fail_oom(ld);
    h->group_count = groups->count;
    for (size_t i = 0; i < groups->count; i++)
        if (!load_history_group(ld, groups->items[i], i)) return false;
    return true;
}

static bool load_history_durations(struct loader *ld, const struct map_keys *mk)
{
    struct config_history *h = &ld->cfg->history;
    const int64_t hour = 3600 * NS_PER_S, day = 24 * hour;
    if (mk->value[HIK_LATE_WINDOW] &&
        !read_duration(ld, mk->value[HIK_LATE_WINDOW], "late_window", 0, 366 * day, "of 0 to 366d",
                       &h->late_window_ns))
        return false;
    if (mk->value[HIK_PARTITION] && !read_duration(ld, mk->value[HIK_PARTITION], "partition", hour,
                                                   366 * day, "of 1h to 366d", &h->partition_ns))
        return false;
    if (mk->value[HIK_CHUNK_SPAN] &&
        !read_duration(ld, mk->value[HIK_CHUNK_SPAN], "chunk_span", NS_PER_S, 31 * day,
                       "of 1s to 31d", &h->chunk_span_ns))
        return false;
    if (mk->value[HIK_CHECKPOINT_INTERVAL] &&
        !read_duration(ld, mk->value[HIK_CHECKPOINT_INTERVAL], "checkpoint_interval", NS_PER_S, day,
                       "of 1s to 1d", &h->checkpoint_interval_ns))
        return false;
    if (day % h->partition_ns != 0 && h->partition_ns % day != 0)
        return fail_at(ld, mk->value[HIK_PARTITION],
                       "expected a partition that divides a day (1h, 2h, 6h, 12h...) or is whole "
                       "days, found %s",
                       found(mk->value[HIK_PARTITION], &(struct shown){{0}}));
    if (h->partition_ns % h->chunk_span_ns != 0) {
        const struct ynode *at =
            mk->value[HIK_CHUNK_SPAN] ? mk->value[HIK_CHUNK_SPAN] : mk->value[HIK_PARTITION];
        return fail_at(ld, at,
                       "expected a chunk_span that divides the partition evenly, found %lld s "
                       "for a partition of %lld s",
                       (long long)(h->chunk_span_ns / NS_PER_S),
                       (long long)(h->partition_ns / NS_PER_S));
    }
    return true;
}

static bool load_history(struct loader *ld, const struct ynode *node)
{
    struct config_history *h = &ld->cfg->history;
    struct map_keys mk;
    const char *text = NULL;
    struct shown s;
    if (!collect_keys(ld, node, &history_level, &mk)) return false;
    if (mk.value[HIK_ENABLED] && !read_bool(ld, mk.value[HIK_ENABLED], "enabled", &h->enabled))
        return false;
    if (mk.value[HIK_DIR]) {
        if (!read_nonempty_text(ld, mk.value[HIK_DIR], "dir", &text)) return false;
        if (!copy_text(ld, text, &h->dir)) return false;
    }
    if (mk.value[HIK_DURABILITY]) {
        if (!read_text(ld, mk.value[HIK_DURABILITY], "durability", &text)) return false;
        if (strcmp(text, "strict") != 0 && strcmp(text, "batched") != 0)
            return fail_at(ld, mk.value[HIK_DURABILITY],
                           "expected strict or batched for 'durability', found %s",
                           found(mk.value[HIK_DURABILITY], &s));
        h->strict = strcmp(text, "strict") == 0;
    }
    if (mk.value[HIK_FSYNC_INTERVAL_MS]) {
        int64_t v;
        if (!read_int(ld, mk.value[HIK_FSYNC_INTERVAL_MS], "fsync_interval_ms", 1, 60000, &v))
            return false;
        h->fsync_interval_ms = (uint32_t)v;
    }
    if (!load_history_durations(ld, &mk)) return false;
    return !mk.value[HIK_GROUPS] || load_history_groups(ld, mk.value[HIK_GROUPS]);
}

/* ---- north: the MQTT publishers (docs/north.md) ---- */

#define NORTH_NAME_MAX_CHARS 63
#define NORTH_PUBLISHERS_MAX 64
#define NORTH_TAG_PREFIXES_MAX 1024
#define NORTH_TEXT_MAX_BYTES 256       /* client_id, username, topic prefixes, Sparkplug ids */
#define NORTH_PASSWORD_MAX_BYTES 65535 /* MQTT's limit for binary data */
#define NORTH_SPOOL_MIN_BYTES 4096
#define NORTH_DEFAULT_SPOOL_BYTES (1ull << 30)
#define NORTH_DEFAULT_PORT 1883
#define NORTH_DEFAULT_TLS_PORT 8883

static const char *const north_keys[] = {
    "name",        "kind",     "url",           "protocol",     "client_id",
    "username",    "password", "password_file", "tls",          "keepalive_s",
    "qos",         "tags",     "prefix",        "meta_prefix",  "retain",
    "heartbeat_s", "group_id", "edge_node",     "primary_host", "spool"};
enum {
    NK_NAME,
    NK_KIND,
    NK_URL,
    NK_PROTOCOL,
    NK_CLIENT_ID,
    NK_USERNAME,
    NK_PASSWORD,
    NK_PASSWORD_FILE,
    NK_TLS,
    NK_KEEPALIVE_S,
    NK_QOS,
    NK_TAGS,
    NK_PREFIX,
    NK_META_PREFIX,
    NK_RETAIN,
    NK_HEARTBEAT_S,
    NK_GROUP_ID,
    NK_EDGE_NODE,
    NK_PRIMARY_HOST,
    NK_SPOOL,
    NK_COUNT
};
static const struct level north_level = {"in north publisher", "a north publisher", north_keys,
                                         NK_COUNT};

static const char *const tls_keys[] = {"ca_file", "cert_file", "key_file"};
enum { TLK_CA_FILE, TLK_CERT_FILE, TLK_KEY_FILE, TLK_COUNT };
static const struct level tls_level = {"in tls", "'tls'", tls_keys, TLK_COUNT};

static const char *const spool_keys[] = {"dir", "max_size", "durability", "fsync_interval_ms"};
enum { SPK_DIR, SPK_MAX_SIZE, SPK_DURABILITY, SPK_FSYNC_INTERVAL_MS, SPK_COUNT };
static const struct level spool_level = {"in spool", "'spool'", spool_keys, SPK_COUNT};

/* Fills n with every default of docs/north.md (kind uns, MQTT 3.1.1, port
 * 1883, keepalive 30 s, QoS 1, prefixes "uns" and "uns-meta", spool 1 GiB
 * batched every 1000 ms). The prefixes are allocated: false when out of
 * memory, n then holds what north_free releases. */
static bool north_defaults(struct config_north *n)
{
    memset(n, 0, sizeof *n);
    n->kind = CONFIG_NORTH_UNS;
    n->port = NORTH_DEFAULT_PORT;
    n->protocol = 4;
    n->keepalive_s = 30;
    n->qos = 1;
    n->spool_max_bytes = NORTH_DEFAULT_SPOOL_BYTES;
    n->spool_strict = false;
    n->spool_fsync_interval_ms = 1000;
    n->prefix = strdup("uns");
    n->meta_prefix = strdup("uns-meta");
    return n->prefix && n->meta_prefix;
}

/* Frees every string of n (not n itself). */
static void north_free(struct config_north *n)
{
    free(n->name);
    free(n->host);
    free(n->client_id);
    free(n->username);
    if (n->password) {
        explicit_bzero(n->password, strlen(n->password));
        free(n->password);
    }
    free(n->ca_file);
    free(n->cert_file);
    free(n->key_file);
    for (size_t i = 0; i < n->tag_prefix_count; i++)
        free(n->tag_prefixes[i]);
    free(n->tag_prefixes);
    free(n->prefix);
    free(n->meta_prefix);
    free(n->group_id);
    free(n->edge_node);
    free(n->primary_host);
    free(n->spool_dir);
}

static bool north_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len > NORTH_NAME_MAX_CHARS) return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(name[i]) || name[i] == '.') return false;
    return true;
}

/* Whether s is UTF-8 (lead and continuation bytes in order; overlong
 * forms are not looked for) without control characters. */
static bool printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int more = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : -1;
        if (more < 0 || c < 0x20 || c == 0x7f || c == 0xC0 || c == 0xC1 || c > 0xF4) return false;
        for (int i = 1; i <= more; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += 1 + more;
    }
    return true;
}

/* A Sparkplug id (group_id, edge_node, primary_host): 1..256 bytes of
 * UTF-8 text without '/', '+', '#' (they structure Sparkplug topics) or
 * control characters. NULL when fine, else what was expected. */
static const char *sparkplug_id_problem(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > NORTH_TEXT_MAX_BYTES) return "1 to 256 bytes";
    if (strpbrk(id, "/+#")) return "no '/', '+' or '#'";
    if (!printable_utf8(id)) return "UTF-8 text without control characters";
    return NULL;
}

/* An MQTT topic prefix (prefix, meta_prefix): levels separated by '/',
 * none empty, without '+', '#' or control characters, not starting with
 * '$' (the broker's own topics). NULL when fine, else what was expected. */
static const char *topic_prefix_problem(const char *prefix)
{
    size_t len = strlen(prefix);
    if (len == 0 || len > NORTH_TEXT_MAX_BYTES) return "1 to 256 bytes";
    if (prefix[0] == '$') return "no '$' at the start (topics of the broker itself)";
    if (strpbrk(prefix, "+#")) return "no '+' or '#'";
    if (prefix[0] == '/' || prefix[len - 1] == '/' || strstr(prefix, "//"))
        return "no empty level (no leading, trailing or double '/')";
    if (!printable_utf8(prefix)) return "UTF-8 text without control characters";
    return NULL;
}

/* A `tags:` filter entry: 1..8 segments of a tag path. NULL when fine. */
static const char *tag_prefix_problem(const char *prefix)
{
    size_t len = strlen(prefix), segment = 0;
    int segments = 1;
    if (len == 0 || len >= TAG_PATH_MAX) return "a path prefix of 1 to 255 characters";
    for (size_t i = 0; i <= len; i++) {
        if (prefix[i] == '/' || prefix[i] == '\0') {
            if (segment == 0) return "no empty segment (no leading, trailing or double '/')";
            segments += prefix[i] == '/';
            segment = 0;
        } else if (!name_char_ok(prefix[i])) {
            return "only letters, digits, '_', '-', '.' and '/' between segments";
        } else if (++segment > 64) {
            return "segments of at most 64 characters";
        }
    }
    if (segments > TAG_PATH_MAX_SEGMENTS) return "at most 8 segments";
    return NULL;
}

static bool fail_why(char *why, size_t why_len, const char *text)
{
    if (why && why_len) snprintf(why, why_len, "%s", text);
    return false;
}

/* A host name ([A-Za-z0-9_-] labels separated by single dots) or, when it
 * is all digits and dots, an IPv4 address. */
static bool url_host_ok(const char *host, size_t len)
{
    bool numeric = true;
    if (len == 0 || len > CONFIG_HOST_MAX_CHARS) return false;
    if (host[0] == '.' || host[len - 1] == '.' || host[0] == '-') return false;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_' && c != '.') return false;
        if (c == '.' && host[i + 1] == '.') return false;
        numeric = numeric && ((c >= '0' && c <= '9') || c == '.');
    }
    if (!numeric) return true;
    char copy[CONFIG_HOST_MAX_CHARS + 1];
    struct in_addr v4;
    memcpy(copy, host, len);
    copy[len] = '\0';
    return inet_pton(AF_INET, copy, &v4) == 1;
}

bool config_north_parse_url(const char *url, struct config_north *n, char *why, size_t why_len)
{
    const char *p;
    bool tls;
    if (!url) return fail_why(why, why_len, "a URL");
    if (strncasecmp(url, "mqtts://", 8) == 0) {
        tls = true;
        p = url + 8;
    } else if (strncasecmp(url, "mqtt://", 7) == 0) {
        tls = false;
        p = url + 7;
    } else {
        return fail_why(why, why_len, "mqtt:// or mqtts:// at the start");
    }
    if (strchr(p, '@'))
        return fail_why(why, why_len,
                        "no user or password in the URL: use username and password_file");
    char host[CONFIG_HOST_MAX_CHARS + 1];
    const char *rest;
    size_t host_len;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        struct in6_addr v6;
        host_len = close ? (size_t)(close - p - 1) : 0;
        if (!close || host_len == 0 || host_len > CONFIG_HOST_MAX_CHARS)
            return fail_why(why, why_len, "an IPv6 address between '[' and ']'");
        memcpy(host, p + 1, host_len);
        host[host_len] = '\0';
        if (inet_pton(AF_INET6, host, &v6) != 1)
            return fail_why(why, why_len, "an IPv6 address between '[' and ']'");
        rest = close + 1;
    } else {
        host_len = strcspn(p, ":/?#");
        if (!url_host_ok(p, host_len))
            return fail_why(why, why_len, "a host name, an IPv4 address or an [IPv6] address");
        memcpy(host, p, host_len);
        host[host_len] = '\0';
        rest = p + host_len;
    }
    long port = tls ? NORTH_DEFAULT_TLS_PORT : NORTH_DEFAULT_PORT;
    if (*rest == ':') {
        const char *digits = ++rest;
        port = 0;
        while (*rest >= '0' && *rest <= '9' && rest - digits < 6)
            port = port * 10 + (*rest++ - '0');
        if (rest == digits || (*rest >= '0' && *rest <= '9') || port < 1 || port > 65535)
            return fail_why(why, why_len, "a port 1..65535 after ':'");
    }
    if (*rest != '\0')
        return fail_why(why, why_len, "nothing after host[:port] (no path or query)");
    char *copy = strdup(host);
    if (!copy) return fail_why(why, why_len, "out of memory");
    free(n->host);
    n->host = copy;
    n->port = (uint16_t)port;
    n->tls = tls;
    return true;
}

/* Opens path to read it: a regular file (never a FIFO or device, so the
 * loader cannot block). Returns the descriptor and fills *st, or -1 with
 * the problem in why. */
static int open_regular_file(const char *path, struct stat *st, char *why, size_t why_len)
{
    char msg[128];
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(why, why_len, "%s", strerror_r(errno, msg, sizeof msg));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(why, why_len, "not a regular file");
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads a password file (see docs/north.md): a regular file that other
 * users cannot read, at most 65535 bytes, no NUL; one trailing newline
 * ("\n" or "\r\n") is stripped. Returns the malloc'd password, or NULL
 * with the problem in why (an OS error, the mode, the size). */
static char *read_password_file(const char *path, char *why, size_t why_len)
{
    struct stat st;
    int fd = open_regular_file(path, &st, why, why_len);
    if (fd < 0) return NULL;
    char *text = NULL;
    if (st.st_mode & S_IROTH) {
        snprintf(why, why_len,
                 "readable by every user (mode %04o): make it private, e.g. chmod 600 \"%s\"",
                 (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    if (st.st_size > NORTH_PASSWORD_MAX_BYTES + 2) {
        snprintf(why, why_len, "larger than %d bytes", NORTH_PASSWORD_MAX_BYTES);
        goto done;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        snprintf(why, why_len, "out of memory");
        goto done;
    }
    size_t used = 0;
    for (;;) {
        ssize_t got = read(fd, text + used, (size_t)st.st_size - used);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            char msg[128];
            snprintf(why, why_len, "%s", strerror_r(errno, msg, sizeof msg));
            free(text);
            text = NULL;
            goto done;
        }
        if (got == 0 || (used += (size_t)got) == (size_t)st.st_size) break;
    }
    text[used] = '\0';
    if (used > 0 && text[used - 1] == '\n') text[--used] = '\0';
    if (used > 0 && text[used - 1] == '\r') text[--used] = '\0';
    const char *problem = strlen(text) != used              ? "a NUL byte in it"
                          : used == 0                       ? "empty"
                          : used > NORTH_PASSWORD_MAX_BYTES ? "a password longer than 65535 bytes"
                                                            : NULL;
    if (problem) {
        snprintf(why, why_len, "%s", problem);
        explicit_bzero(text, used);
        free(text);
        text = NULL;
    }
done:
    close(fd);
    return text;
}

/* A short text key (client_id, username, Sparkplug ids) copied into *dst. */
static bool load_north_text(struct loader *ld, const struct map_keys *mk, size_t key, char **dst)
{
    const struct ynode *n = mk->value[key];
    const char *text = NULL;
    struct shown s;
    if (!n) return true;
    if (!read_nonempty_text(ld, n, north_keys[key], &text)) return false;
    if (strlen(text) > NORTH_TEXT_MAX_BYTES || !printable_utf8(text))
        return fail_at(ld, n,
                       "expected 1 to %d bytes of text without control characters for '%s', "
                       "found %s",
                       NORTH_TEXT_MAX_BYTES, north_keys[key], found(n, &s));
    return copy_text(ld, text, dst);
}

static bool load_north_sparkplug_id(struct loader *ld, const struct map_keys *mk, size_t key,
                                    char **dst)
{
    const struct ynode *n = mk->value[key];
    const char *text = NULL;
    struct shown s;
    if (!n) return true;
    if (!read_text(ld, n, north_keys[key], &text)) return false;
    const char *problem = sparkplug_id_problem(text);
    if (problem)
        return fail_at(ld, n, "expected a Sparkplug id (%s) for '%s', found %s", problem,
                       north_keys[key], found(n, &s));
    return copy_text(ld, text, dst);
}

static bool load_north_name(struct loader *ld, const struct map_keys *mk, size_t ni)
{
    const struct ynode *n = mk->value[NK_NAME];
    const char *name = NULL;
    struct shown s;
    if (!read_text(ld, n, "name", &name)) return false;
    if (!north_name_ok(name))
        return fail_at(ld, n,
                       "expected a name of 1 to %d letters, digits, '_' or '-' for 'name', "
                       "found %s",
                       NORTH_NAME_MAX_CHARS, found(n, &s));
    for (size_t i = 0; i < ni; i++)
        if (strcmp(ld->cfg->north[i].name, name) == 0)
            return fail_at(ld, n, "duplicate north publisher name '%s' (first at line %d)", name,
                           ld->cfg->north[i].pos.line);
    return copy_text(ld, name, &ld->cfg->north[ni].name);
}

static bool load_north_kind_url(struct loader *ld, const struct map_keys *mk,
                                struct config_north *nc)
{
    const char *text = NULL;
    char why[160];
    struct shown s;
    const struct ynode *kind = mk->value[NK_KIND], *url = mk->value[NK_URL];
    if (!read_text(ld, kind, "kind", &text)) return false;
    if (strcmp(text, "uns") == 0)
        nc->kind = CONFIG_NORTH_UNS;
    else if (strcmp(text, "sparkplug") == 0)
        nc->kind = CONFIG_NORTH_SPARKPLUG;
    else
        return fail_at(ld, kind, "expected \"uns\" or \"sparkplug\" for 'kind', found %s",
                       found(kind, &s));
    if (!read_text(ld, url, "url", &text)) return false;
    if (!config_north_parse_url(text, nc, why, sizeof why))
        return strcmp(why, "out of memory") == 0
                   ? fail_oom(ld)
                   : fail_at(ld, url,
                             "expected an MQTT URL mqtt://host[:port] or mqtts://host[:port] "
                             "(%s) for 'url', found %s",
                             why, found(url, &s));
    return true;
}

/* protocol: "3.1.1" (level 4) or "5"; 5 and 5.0 unquoted are accepted too. */
static bool load_north_protocol(struct loader *ld, const struct ynode *n, struct config_north *nc)
{
    struct shown s;
    if (!n) return true;
    bool scalar = n->kind == YNODE_SCALAR && !n->has_nul;
    if (scalar && strcmp(n->text, "3.1.1") == 0) {
        nc->protocol = 4;
        return true;
    }
    if (scalar && (strcmp(n->text, "5") == 0 || strcmp(n->text, "5.0") == 0)) {
        nc->protocol = 5;
        return true;
    }
    bool looks_311 = scalar && (strcmp(n->text, "3.1") == 0 || strcmp(n->text, "4") == 0 ||
                                strcmp(n->text, "311") == 0);
    return fail_at(ld, n, "expected \"3.1.1\" or \"5\" for 'protocol', found %s%s", found(n, &s),
                   looks_311 ? " (MQTT 3.1.1 is written \"3.1.1\", in quotes or not)" : "");
}

/* username, password or password_file (read now), and the check that MQTT
 * 3.1.1 sends a password only with a username. */
static bool load_north_credentials(struct loader *ld, const struct map_keys *mk,
                                   struct config_north *nc)
{
    const struct ynode *pw = mk->value[NK_PASSWORD], *pw_file = mk->value[NK_PASSWORD_FILE];
    const char *text = NULL;
    struct shown s;
    if (!load_north_text(ld, mk, NK_USERNAME, &nc->username)) return false;
    if (pw && pw_file)
        return fail_at(ld, mk->key[NK_PASSWORD_FILE],
                       "expected either 'password' or 'password_file' in north publisher, found "
                       "both");
    if (pw) {
        if (!read_text(ld, pw, "password", &text)) return false;
        if (strlen(text) > NORTH_PASSWORD_MAX_BYTES)
            return fail_at(ld, pw, "expected a password of at most %d bytes, found a longer one",
                           NORTH_PASSWORD_MAX_BYTES);
        if (!copy_text(ld, text, &nc->password)) return false;
    }
    if (pw_file) {
        char why[400];
        if (!read_nonempty_text(ld, pw_file, "password_file", &text)) return false;
        nc->password = read_password_file(text, why, sizeof why);
        if (!nc->password)
            return fail_at(ld, pw_file,
                           "expected a readable, private password file for "
                           "'password_file', found %s: %s",
                           found(pw_file, &s), why);
    }
    if (nc->password && !nc->username && nc->protocol == 4)
        return fail_at(ld, mk->key[pw ? NK_PASSWORD : NK_PASSWORD_FILE],
                       "expected 'username' with a password (MQTT 3.1.1 sends a password only "
                       "with a user name; MQTT 5 does not need one)");
    return true;
}

/* One file of tls: present and readable now (the publisher reads it at
 * every connection). */
static bool load_tls_file(struct loader *ld, const struct map_keys *mk, size_t key, char **dst)
{
    const struct ynode *n = mk->value[key];
    const char *path = NULL;
    char why[160];
    struct shown s;
    struct stat st;
    if (!n) return true;
    if (!read_nonempty_text(ld, n, tls_keys[key], &path)) return false;
    int fd = open_regular_file(path, &st, why, sizeof why);
    if (fd < 0)
        return fail_at(ld, n, "expected a readable file for '%s', found %s: %s", tls_keys[key],
                       found(n, &s), why);
    close(fd);
    return copy_text(ld, path, dst);
}

static bool load_north_tls(struct loader *ld, const struct map_keys *mk, struct config_north *nc)
{
    struct map_keys tk;
    if (!mk->value[NK_TLS]) return true;
    if (!nc->tls)
        return refuse_key(ld, mk, NK_TLS,
                          "only an mqtts:// url uses TLS; write mqtts:// to turn it on");
    if (!collect_keys(ld, mk->value[NK_TLS], &tls_level, &tk)) return false;
    if (!load_tls_file(ld, &tk, TLK_CA_FILE, &nc->ca_file) ||
        !load_tls_file(ld, &tk, TLK_CERT_FILE, &nc->cert_file) ||
        !load_tls_file(ld, &tk, TLK_KEY_FILE, &nc->key_file))
        return false;
    if (tk.key[TLK_CERT_FILE] && !tk.key[TLK_KEY_FILE])
        return fail_at(ld, tk.key[TLK_CERT_FILE],
                       "expected 'key_file' with 'cert_file' in tls (a client certificate needs "
                       "its private key)");
    if (tk.key[TLK_KEY_FILE] && !tk.key[TLK_CERT_FILE])
        return fail_at(ld, tk.key[TLK_KEY_FILE],
                       "expected 'cert_file' with 'key_file' in tls (the key of which client "
                       "certificate?)");
    return true;
}

/* keepalive_s and qos (QoS 2 is refused with its own message). */
static bool load_north_numbers(struct loader *ld, const struct map_keys *mk,
                               struct config_north *nc)
{
    int64_t v;
    if (mk->value[NK_KEEPALIVE_S]) {
        if (!read_int(ld, mk->value[NK_KEEPALIVE_S], "keepalive_s", 5, 65535, &v)) return false;
        nc->keepalive_s = (uint32_t)v;
    }
    if (mk->value[NK_QOS]) {
        if (yscalar_int(mk->value[NK_QOS], &v) && v == 2)
            return fail_at(ld, mk->value[NK_QOS],
                           "expected 0 or 1 for 'qos', found 2 (QoS 2 is not supported: the "
                           "spool already keeps every value until the broker has it)");
        if (!read_int(ld, mk->value[NK_QOS], "qos", 0, 1, &v)) return false;
        nc->qos = (int)v;
    }
    return true;
}

static bool load_north_tags(struct loader *ld, const struct ynode *tags, struct config_north *nc)
{
    struct shown s;
    const char *text = NULL;
    if (!tags) return true;
    if (!expect_sequence(ld, tags, "tags")) return false;
    if (tags->count == 0)
        return fail_at(ld, tags,
                       "expected at least one tag path prefix in 'tags', found an empty sequence "
                       "(leave 'tags' out to publish every tag)");
    if (tags->count > NORTH_TAG_PREFIXES_MAX)
        return fail_at(ld, tags, "expected at most %d prefixes in 'tags', found %zu",
                       NORTH_TAG_PREFIXES_MAX, tags->count);
    nc->tag_prefixes = calloc(tags->count, sizeof *nc->tag_prefixes);
    if (!nc->tag_prefixes) return fail_oom(ld);
    for (size_t i = 0; i < tags->count; i++) {
        const struct ynode *item = tags->items[i];
        if (!read_text(ld, item, "tags", &text)) return false;
        const char *problem = tag_prefix_problem(text);
        if (problem)
            return fail_at(ld, item,
                           "expected a tag path prefix like acme/plant1/utilities (%s) in 'tags', "
                           "found %s",
                           problem, found(item, &s));
        nc->tag_prefixes[i] = strdup(text);
        if (!nc->tag_prefixes[i]) return fail_oom(ld);
        nc->tag_prefix_count = i + 1;
    }
    return true;
}

static bool load_topic_prefix(struct loader *ld, const struct ynode *n, const char *key, char **dst)
{
    const char *text = NULL;
    struct shown s;
    if (!n) return true;
    if (!read_text(ld, n, key, &text)) return false;
    const char *problem = topic_prefix_problem(text);
    if (problem)
        return fail_at(ld, n, "expected an MQTT topic prefix like uns (%s) for '%s', found %s",
                       problem, key, found(n, &s));
    return copy_text(ld, text, dst);
}

/* The keys of kind uns; refused under sparkplug. */
static bool load_north_uns(struct loader *ld, const struct map_keys *mk, struct config_north *nc)
{
    static const size_t uns_only[] = {NK_PREFIX, NK_META_PREFIX, NK_RETAIN, NK_HEARTBEAT_S};
    if (nc->kind != CONFIG_NORTH_UNS) {
        for (size_t i = 0; i < sizeof uns_only / sizeof uns_only[0]; i++)
            if (!refuse_key(ld, mk, uns_only[i], "only kind uns takes it")) return false;
        return true;
    }
    int64_t v;
    if (!load_topic_prefix(ld, mk->value[NK_PREFIX], "prefix", &nc->prefix) ||
        !load_topic_prefix(ld, mk->value[NK_META_PREFIX], "meta_prefix", &nc->meta_prefix))
        return false;
    if (strcmp(nc->prefix, nc->meta_prefix) == 0)
        return fail_at(ld, mk->value[NK_META_PREFIX] ? mk->value[NK_META_PREFIX] : mk->map,
                       "expected a meta_prefix other than the prefix, found \"%s\" for both "
                       "(metadata would overwrite values)",
                       nc->prefix);
    if (mk->value[NK_RETAIN] && !read_bool(ld, mk->value[NK_RETAIN], "retain", &nc->retain))
        return false;
    if (mk->value[NK_HEARTBEAT_S]) {
        if (!read_int(ld, mk->value[NK_HEARTBEAT_S], "heartbeat_s", 0, 86400, &v)) return false;
        nc->heartbeat_s = (uint32_t)v;
    }
    return true;
}

/* The keys of kind sparkplug (group_id required); refused under uns. */
static bool load_north_sparkplug(struct loader *ld, const struct map_keys *mk,
                                 struct config_north *nc)
{
    static const size_t sparkplug_only[] = {NK_GROUP_ID, NK_EDGE_NODE, NK_PRIMARY_HOST};
    if (nc->kind != CONFIG_NORTH_SPARKPLUG) {
        for (size_t i = 0; i < sizeof sparkplug_only / sizeof sparkplug_only[0]; i++)
            if (!refuse_key(ld, mk, sparkplug_only[i], "only kind sparkplug takes it"))
                return false;
        return true;
    }
    if (!mk->value[NK_GROUP_ID])
        return fail_at(ld, mk->map,
                       "missing required key 'group_id' in north publisher (kind sparkplug "
                       "publishes under spBv1.0/<group_id>/...)");
    return load_north_sparkplug_id(ld, mk, NK_GROUP_ID, &nc->group_id) &&
           load_north_sparkplug_id(ld, mk, NK_EDGE_NODE, &nc->edge_node) &&
           load_north_sparkplug_id(ld, mk, NK_PRIMARY_HOST, &nc->primary_host);
}

static bool load_north_spool(struct loader *ld, const struct ynode *node, struct config_north *nc)
{
    struct map_keys mk;
    const char *text = NULL;
    struct shown s;
    int64_t v;
    if (!node) return true;
    if (!collect_keys(ld, node, &spool_level, &mk)) return false;
    if (mk.value[SPK_DIR]) {
        if (!read_nonempty_text(ld, mk.value[SPK_DIR], "dir", &text)) return false;
        if (!copy_text(ld, text, &nc->spool_dir)) return false;
    }
    if (mk.value[SPK_MAX_SIZE]) {
        if (!read_size(ld, mk.value[SPK_MAX_SIZE], "max_size", &nc->spool_max_bytes)) return false;
        if (nc->spool_max_bytes < NORTH_SPOOL_MIN_BYTES)
            return fail_at(ld, mk.value[SPK_MAX_SIZE],
                           "expected a spool max_size of at least 4KiB, found %s",
                           found(mk.value[SPK_MAX_SIZE], &s));
    }
    if (mk.value[SPK_DURABILITY]) {
        if (!read_text(ld, mk.value[SPK_DURABILITY], "durability", &text)) return false;
        if (strcmp(text, "strict") != 0 && strcmp(text, "batched") != 0)
            return fail_at(ld, mk.value[SPK_DURABILITY],
                           "expected strict or batched for 'durability', found %s",
                           found(mk.value[SPK_DURABILITY], &s));
        nc->spool_strict = strcmp(text, "strict") == 0;
    }
    if (mk.value[SPK_FSYNC_INTERVAL_MS]) {
        if (!read_int(ld, mk.value[SPK_FSYNC_INTERVAL_MS], "fsync_interval_ms", 1, 60000, &v))
            return false;
        nc->spool_fsync_interval_ms = (uint32_t)v;
    }
    return true;
}

/* Two publishers never share a spool directory (as configured now: --data
 * moves every default directory alike). */
static bool check_spool_dir_unique(struct loader *ld, const struct map_keys *mk, size_t ni)
{
    char mine[1024], other[1024];
    const struct config_north *all = ld->cfg->north;
    if (!config_north_spool_dir(ld->cfg, &all[ni], mine, sizeof mine))
        return fail_at(ld, mk->value[NK_SPOOL] ? mk->value[NK_SPOOL] : mk->map,
                       "expected a spool directory of at most %zu characters", sizeof mine - 1);
    const struct ynode *at = mk->value[NK_NAME], *spool = mk->value[NK_SPOOL];
    for (size_t i = 0; spool && all[ni].spool_dir && i + 1 < spool->count; i += 2)
        if (strcmp(spool->items[i]->text, "dir") == 0) at = spool->items[i + 1];
    for (size_t i = 0; i < ni; i++) {
        if (!config_north_spool_dir(ld->cfg, &all[i], other, sizeof other)) continue;
        if (strcmp(mine, other) == 0)
            return fail_at(ld, at,
                           "duplicate spool directory \"%s\" (publisher '%s' at line %d uses it)",
                           mine, all[i].name, all[i].pos.line);
    }
    return true;
}

static bool load_north_one(struct loader *ld, const struct ynode *node, size_t ni)
{
    struct config_north *nc = &ld->cfg->north[ni];
    struct map_keys mk;
    if (!north_defaults(nc)) return fail_oom(ld);
    nc->pos.line = node->line;
    nc->pos.col = node->col;
    if (!collect_keys(ld, node, &north_level, &mk)) return false;
    static const size_t required[] = {NK_NAME, NK_KIND, NK_URL};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!require_key(ld, &mk, required[i])) return false;
    return load_north_name(ld, &mk, ni) && load_north_kind_url(ld, &mk, nc) &&
           load_north_protocol(ld, mk.value[NK_PROTOCOL], nc) &&
           load_north_text(ld, &mk, NK_CLIENT_ID, &nc->client_id) &&
           load_north_credentials(ld, &mk, nc) && load_north_tls(ld, &mk, nc) &&
           load_north_numbers(ld, &mk, nc) && load_north_tags(ld, mk.value[NK_TAGS], nc) &&
           load_north_uns(ld, &mk, nc) && load_north_sparkplug(ld, &mk, nc) &&
           load_north_spool(ld, mk.value[NK_SPOOL], nc) && check_spool_dir_unique(ld, &mk, ni);
}

static bool load_north(struct loader *ld, const struct ynode *list)
{
    if (!expect_sequence(ld, list, "north")) return false;
    if (list->count == 0) return true;
    if (list->count > NORTH_PUBLISHERS_MAX)
        return fail_at(ld, list, "expected at most %d north publishers, found %zu",
                       NORTH_PUBLISHERS_MAX, list->count);
    ld->cfg->north = calloc(list->count, sizeof *ld->cfg->north);
    if (!ld->cfg->north) return fail_oom(ld);
    ld->cfg->north_count = list->count;
    for (size_t i = 0; i < list->count; i++)
        if (!load_north_one(ld, list->items[i], i)) return false;
    return true;
}

bool config_north_spool_dir(const struct config *c, const struct config_north *n, char *buf,
                            size_t len)
{
    int w = n->spool_dir ? snprintf(buf, len, "%s", n->spool_dir)
                         : snprintf(buf, len, "%s/spool/%s", c->data_dir ? c->data_dir : "./data",
                                    n->name ? n->name : "");
    return w >= 0 && (size_t)w < len;
}

bool config_north_add_cli(struct config *c, const char *url, const char *group, char *why,
                          size_t why_len)
{
    static const char cli_name[] = "cli";
    for (size_t i = 0; i < c->north_count; i++)
        if (c->north[i].name && strcmp(c->north[i].name, cli_name) == 0)
            return fail_why(why, why_len,
                            "the configuration already has a publisher named 'cli' (rename it "
                            "to use --mqtt)");
    const char *problem = group ? sparkplug_id_problem(group) : NULL;
    if (problem) {
        if (why && why_len)
            snprintf(why, why_len, "expected a Sparkplug group id (%s), got '%s'", problem, group);
        return false;
    }
    struct config_north n;
    char url_why[160];
    bool ok = north_defaults(&n) && (n.name = strdup(cli_name)) != NULL &&
              (!group || (n.group_id = strdup(group)) != NULL);
    if (!ok) {
        north_free(&n);
        return fail_why(why, why_len, "out of memory");
    }
    if (!config_north_parse_url(url, &n, url_why, sizeof url_why)) {
        if (why && why_len)
            snprintf(why, why_len,
                     "expected an MQTT URL mqtt://host[:port] or mqtts://host[:port] (%s), got "
                     "'%s'",
                     url_why, url ? url : "");
        north_free(&n);
        return false;
    }
    n.kind = group ? CONFIG_NORTH_SPARKPLUG : CONFIG_NORTH_UNS;
    struct config_north *grown = realloc(c->north, (c->north_count + 1) * sizeof *grown);
    if (!grown) {
        north_free(&n);
        return fail_why(why, why_len, "out of memory");
    }
    grown[c->north_count] = n;
    c->north = grown;
    c->north_count++;
    return true;
}

/* ---- OPC UA devices (protocol: opcua) ---- */

#define UA_DEVICE_DEFAULT_TIMEOUT_MS 5000
#define UA_BROWSE_FOLDERS_MAX 64
#define UA_REF_MAX_BYTES 4096      /* a NodeId or browse path as text */
#define UA_PASSWORD_MAX_BYTES 4096 /* as the client accepts */

static const char *const ua_device_keys[] = {
    "name",           "protocol",  "endpoint",         "security",
    "auth",           "namespace", "timeout_ms",       "backoff_initial_ms",
    "backoff_max_ms", "mode",      "browse_max_depth", "browse_max_tags",
    "enabled",        "groups"};
enum {
    UDK_NAME,
    UDK_PROTOCOL,
    UDK_ENDPOINT,
    UDK_SECURITY,
    UDK_AUTH,
    UDK_NAMESPACE,
    UDK_TIMEOUT_MS,
    UDK_BACKOFF_INITIAL_MS,
    UDK_BACKOFF_MAX_MS,
    UDK_MODE,
    UDK_BROWSE_MAX_DEPTH,
    UDK_BROWSE_MAX_TAGS,
    UDK_ENABLED,
    UDK_GROUPS,
    UDK_COUNT
};
static const struct level ua_device_level = {"in OPC UA device", "a device", ua_device_keys,
                                             UDK_COUNT};
/* load_device_name reads the name at the same index. */
_Static_assert((int)UDK_NAME == (int)DK_NAME, "device name key index");

static const char *const ua_auth_keys[] = {"username", "password_file", "password"};
enum { UAK_USERNAME, UAK_PASSWORD_FILE, UAK_PASSWORD, UAK_COUNT };
static const struct level ua_auth_level = {"in auth", "'auth'", ua_auth_keys, UAK_COUNT};

static const char *const ua_group_keys[] = {"name",       "interval_ms", "sampling_ms",
                                            "queue_size", "browse",      "tags"};
enum {
    UGK_NAME,
    UGK_INTERVAL_MS,
    UGK_SAMPLING_MS,
    UGK_QUEUE_SIZE,
    UGK_BROWSE,
    UGK_TAGS,
    UGK_COUNT
};
static const struct level ua_group_level = {"in OPC UA group", "a group", ua_group_keys, UGK_COUNT};
/* load_group_name reads the name at the same index. */
_Static_assert((int)UGK_NAME == (int)PK_NAME, "group name key index");

static const char *const ua_tag_keys[] = {"name",        "node",  "path",     "type", "unit",
                                          "description", "range", "deadband", "write"};
enum {
    UTK_NAME,
    UTK_NODE,
    UTK_PATH,
    UTK_TYPE,
    UTK_UNIT,
    UTK_DESCRIPTION,
    UTK_RANGE,
    UTK_DEADBAND,
    UTK_WRITE,
    UTK_COUNT
};
static const struct level ua_tag_level = {"in OPC UA tag", "a tag", ua_tag_keys, UTK_COUNT};

/* A NodeId in text form (ns=2;s=Pump.Speed, i=85, ns=1;g=..., ns=1;b=...). */
static bool read_ua_nodeid(struct loader *ld, const struct ynode *n, const char *key,
                           const char **out)
{
    struct shown s;
    char why[160];
    if (!read_nonempty_text(ld, n, key, out)) return false;
    struct ua_arena arena;
    struct ua_nodeid id;
    ua_arena_init(&arena, 0, 1u << 20);
    bool ok = strlen(*out) < UA_REF_MAX_BYTES &&
              ua_nodeid_parse(*out, strlen(*out), &arena, &id, why, sizeof why);
    ua_arena_free(&arena);
    if (strlen(*out) >= UA_REF_MAX_BYTES) snprintf(why, sizeof why, "too long");
    if (!ok)
        return fail_at(ld, n,
                       "expected a NodeId like ns=2;s=Pump.Speed, i=85, ns=1;g=<guid> or "
                       "ns=1;b=<base64> (%s) for '%s', found %s",
                       why, key, found(n, &s));
    return true;
}

/* A browse path from the Root folder: /Objects/2:Plant/2:Temp. */
static bool read_ua_browse_path(struct loader *ld, const struct ynode *n, const char *key,
                                const char **out)
{
    struct shown s;
    char why[160];
    if (!read_nonempty_text(ld, n, key, out)) return false;
    struct ua_arena arena;
    struct ua_relative_path_element *elements;
    size_t count;
    ua_arena_init(&arena, 0, 1u << 20);
    bool ok = strlen(*out) < UA_REF_MAX_BYTES &&
              ua_browse_path_parse(*out, &arena, &elements, &count, why, sizeof why);
    ua_arena_free(&arena);
    if (strlen(*out) >= UA_REF_MAX_BYTES) snprintf(why, sizeof why, "too long");
    if (!ok)
        return fail_at(ld, n,
                       "expected a browse path like /Objects/2:Plant/2:Temp (%s) for '%s', "
                       "found %s",
                       why, key, found(n, &s));
    return true;
}

static bool load_ua_endpoint(struct loader *ld, const struct ynode *n, struct config_device *dev)
{
    const char *text;
    char host[256];
    uint16_t port;
    struct shown s;
    if (!read_text(ld, n, "endpoint", &text)) return false;
    if (strlen(text) >= UA_TCP_MAX_URL_BYTES ||
        !ua_client_parse_url(text, host, sizeof host, &port))
        return fail_at(ld, n,
                       "expected an OPC UA endpoint URL opc.tcp://host[:port][/path] (port "
                       "1..65535) for 'endpoint', found %s",
                       found(n, &s));
    return copy_text(ld, text, &dev->ua.endpoint);
}

static bool load_ua_security_mode(struct loader *ld, const struct map_keys *mk,
                                  struct config_device *dev)
{
    const char *text;
    struct shown s;
    const struct ynode *n = mk->value[UDK_SECURITY];
    if (n) {
        enum ua_crypto_policy_id policy;
        enum ua_channel_mode mode;
        if (!read_text(ld, n, "security", &text)) return false;
        if (!ua_client_parse_security(text, &policy, &mode))
            return fail_at(ld, n, "expected none, sign or signandencrypt for 'security', found %s",
                           found(n, &s));
        dev->ua.security = mode == UA_CHANNEL_MODE_SIGN ? CONFIG_UA_SECURITY_SIGN
                           : mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT
                               ? CONFIG_UA_SECURITY_SIGN_AND_ENCRYPT
                               : CONFIG_UA_SECURITY_NONE;
    }
    n = mk->value[UDK_MODE];
    if (n) {
        if (!read_text(ld, n, "mode", &text)) return false;
        if (strcmp(text, "subscribe") == 0)
            dev->ua.mode = CONFIG_UA_SUBSCRIBE;
        else if (strcmp(text, "poll") == 0)
            dev->ua.mode = CONFIG_UA_POLL;
        else
            return fail_at(ld, n, "expected subscribe or poll for 'mode', found %s", found(n, &s));
    }
    return true;
}

/* auth: {username, password_file | password}: a user name login. */
static bool load_ua_auth(struct loader *ld, const struct ynode *node, struct config_device *dev)
{
    struct map_keys mk;
    const char *text;
    struct shown s;
    if (!node) return true;
    if (!collect_keys(ld, node, &ua_auth_level, &mk) || !require_key(ld, &mk, UAK_USERNAME))
        return false;
    if (!read_nonempty_text(ld, mk.value[UAK_USERNAME], "username", &text)) return false;
    if (strlen(text) > NORTH_TEXT_MAX_BYTES || !printable_utf8(text))
        return fail_at(ld, mk.value[UAK_USERNAME],
                       "expected 1 to %d bytes of text without control characters for "
                       "'username', found %s",
                       NORTH_TEXT_MAX_BYTES, found(mk.value[UAK_USERNAME], &s));
    if (!copy_text(ld, text, &dev->ua.username)) return false;
    const struct ynode *pw = mk.value[UAK_PASSWORD], *pw_file = mk.value[UAK_PASSWORD_FILE];
    if (pw && pw_file)
        return fail_at(ld, mk.key[UAK_PASSWORD_FILE],
                       "expected either 'password' or 'password_file' in auth, found both");
    if (!pw && !pw_file)
        return fail_at(ld, mk.map,
                       "missing required key 'password_file' in auth (or 'password': a user "
                       "name login needs a password)");
    if (pw) {
        if (!read_text(ld, pw, "password", &text)) return false;
        if (strlen(text) > UA_PASSWORD_MAX_BYTES)
            return fail_at(ld, pw, "expected a password of at most %d bytes, found a longer one",
                           UA_PASSWORD_MAX_BYTES);
        return copy_text(ld, text, &dev->ua.password);
    }
    char why[400];
    if (!read_nonempty_text(ld, pw_file, "password_file", &text)) return false;
    dev->ua.password = read_password_file(text, why, sizeof why);
    if (dev->ua.password && strlen(dev->ua.password) > UA_PASSWORD_MAX_BYTES) {
        explicit_bzero(dev->ua.password, strlen(dev->ua.password));
        free(dev->ua.password);
        dev->ua.password = NULL;
        snprintf(why, sizeof why, "a password longer than %d bytes", UA_PASSWORD_MAX_BYTES);
    }
    if (!dev->ua.password)
        return fail_at(ld, pw_file,
                       "expected a readable, private password file for 'password_file', found "
                       "%s: %s",
                       found(pw_file, &s), why);
    return true;
}

/* browse: one folder or a sequence of them, each a NodeId or a browse path. */
static bool load_ua_browse(struct loader *ld, const struct ynode *n, struct config_poll_group *g)
{
    struct shown s;
    if (!n) return true;
    size_t count = n->kind == YNODE_SEQUENCE ? n->count : 1;
    if (n->kind == YNODE_MAPPING || count == 0 || count > UA_BROWSE_FOLDERS_MAX)
        return fail_at(ld, n,
                       "expected a folder (NodeId or browse path) or a sequence of 1 to %d of "
                       "them for 'browse', found %s",
                       UA_BROWSE_FOLDERS_MAX,
                       n->kind == YNODE_SEQUENCE ? "an empty sequence" : found(n, &s));
    g->browse = calloc(count, sizeof *g->browse);
    if (!g->browse) return fail_oom(ld);
    for (size_t i = 0; i < count; i++) {
        const struct ynode *item = n->kind == YNODE_SEQUENCE ? n->items[i] : n;
        const char *text;
        if (item->kind == YNODE_SCALAR && !item->has_nul && item->text[0] == '/') {
            if (!read_ua_browse_path(ld, item, "browse", &text)) return false;
        } else if (!read_ua_nodeid(ld, item, "browse", &text)) {
            return false;
        }
        if (!copy_text(ld, text, &g->browse[i])) return false;
        g->browse_count = i + 1;
    }
    return true;
}

/* deadband and range of an OPC UA tag: absolute or percent; in subscribe
 * mode the server filters (percent of its EURange), in poll mode airlock
 * does (percent of `range`, which is then required). */
static bool load_ua_deadband(struct loader *ld, const struct map_keys *mk,
                             const struct config_device *dev, struct config_tag *ct)
{
    struct tag *t = &ct->tag;
    const struct ynode *n = mk->value[UTK_DEADBAND];
    struct shown s;
    double pair[2], v;
    bool numeric = is_numeric_value(t->type);
    if (ct->ua.type_given && !numeric) {
        const char *why = t->type == VALUE_BOOL ? "a bool tag has no range or deadband"
                                                : "a string tag has no range or deadband";
        if (!refuse_key(ld, mk, UTK_RANGE, why) || !refuse_key(ld, mk, UTK_DEADBAND, why))
            return false;
    }
    if (mk->value[UTK_RANGE]) {
        if (!read_pair(ld, mk->value[UTK_RANGE], "range", pair)) return false;
        if (!(pair[0] < pair[1]))
            return fail_at(ld, mk->value[UTK_RANGE],
                           "expected low < high in 'range', found [%g, %g]", pair[0], pair[1]);
        t->has_range = true;
        t->eng_min = pair[0];
        t->eng_max = pair[1];
    }
    if (!n) return true;
    bool percent = false;
    if (yscalar_number(n, &v))
        percent = false;
    else if (n->kind == YNODE_SCALAR && !n->has_nul && parse_percent(n->text, &v))
        percent = true;
    else
        return fail_at(ld, n,
                       "expected a non-negative number or a percentage like \"1.5%%\" for "
                       "'deadband', found %s",
                       found(n, &s));
    if (!isfinite(v) || v < 0 || (percent && v > 100))
        return fail_at(ld, n, "expected %s for 'deadband', found %s",
                       percent ? "a percentage 0..100%" : "a finite, non-negative number",
                       found(n, &s));
    if (percent && !t->has_range && dev->ua.mode == CONFIG_UA_POLL)
        return fail_at(ld, n,
                       "expected a 'range' with a percent deadband in mode poll (in mode "
                       "subscribe the server applies it to its EURange), found no range");
    t->deadband = v;
    t->deadband_kind = !percent       ? DEADBAND_ABSOLUTE
                       : t->has_range ? DEADBAND_PERCENT
                                      : DEADBAND_NONE;
    if (dev->ua.mode == CONFIG_UA_SUBSCRIBE) {
        ct->ua.server_deadband = percent ? DEADBAND_PERCENT : DEADBAND_ABSOLUTE;
        ct->ua.server_deadband_value = v;
    }
    return true;
}

static bool load_ua_tag(struct loader *ld, const struct ynode *node, const struct device_ctx *dc,
                        struct config_tag *ct)
{
    struct map_keys mk;
    const char *text = NULL;
    struct shown s;
    if (!collect_keys(ld, node, &ua_tag_level, &mk) || !require_key(ld, &mk, UTK_NAME))
        return false;
    ct->pos.line = node->line;
    ct->pos.col = node->col;
    ct->tag.id = ld->next_tag_id++;
    ct->tag.device_index = dc->index;
    ct->tag.scale.gain = 1.0;
    ct->tag.type = VALUE_DOUBLE; /* until the server's DataType is known */
    if (!build_tag_path(ld, mk.value[UTK_NAME], dc, ct)) return false;
    if (mk.value[UTK_NODE] && mk.value[UTK_PATH])
        return fail_at(ld, mk.key[UTK_PATH],
                       "expected either 'node' or 'path' in OPC UA tag, found both");
    if (!mk.value[UTK_NODE] && !mk.value[UTK_PATH])
        return fail_at(ld, mk.map,
                       "missing required key 'node' in OPC UA tag (or 'path': a browse path "
                       "like /Objects/2:Plant/2:Temp)");
    if (mk.value[UTK_NODE]) {
        if (!read_ua_nodeid(ld, mk.value[UTK_NODE], "node", &text)) return false;
        ct->ua.node = strpool_copy(&ld->cfg->strings, text);
        if (!ct->ua.node) return fail_oom(ld);
    } else {
        if (!read_ua_browse_path(ld, mk.value[UTK_PATH], "path", &text)) return false;
        ct->ua.browse_path = strpool_copy(&ld->cfg->strings, text);
        if (!ct->ua.browse_path) return fail_oom(ld);
    }
    if (mk.value[UTK_TYPE]) {
        if (!read_text(ld, mk.value[UTK_TYPE], "type", &text)) return false;
        if (!value_type_from_name(text, &ct->tag.type))
            return fail_at(ld, mk.value[UTK_TYPE],
                           "expected one of bool, int64, uint64, double, string for 'type', "
                           "found %s",
                           found(mk.value[UTK_TYPE], &s));
        ct->ua.type_given = true;
    }
    const char *unit = "", *description = "";
    if (mk.value[UTK_UNIT] && !read_text(ld, mk.value[UTK_UNIT], "unit", &unit)) return false;
    if (mk.value[UTK_DESCRIPTION] &&
        !read_text(ld, mk.value[UTK_DESCRIPTION], "description", &description))
        return false;
    ct->ua.unit_given = mk.value[UTK_UNIT] != NULL;
    ct->tag.unit = strpool_copy(&ld->cfg->strings, unit);
    ct->tag.description = strpool_copy(&ld->cfg->strings, description);
    if (!ct->tag.unit || !ct->tag.description) return fail_oom(ld);
    return load_ua_deadband(ld, &mk, dc->dev, ct) &&
           (!mk.value[UTK_WRITE] || load_write_policy(ld, mk.value[UTK_WRITE], ct, true));
}

static bool load_ua_group(struct loader *ld, const struct ynode *node, const struct device_ctx *dc,
                          size_t gi)
{
    struct config_poll_group *g = &dc->dev->groups[gi];
    struct map_keys mk;
    int64_t v;
    if (!collect_keys(ld, node, &ua_group_level, &mk)) return false;
    g->pos.line = node->line;
    g->pos.col = node->col;
    g->interval_ms = 1000;
    g->queue_size = 1;
    if (!load_group_name(ld, &mk, dc->dev, gi)) return false;
    if (!mk.value[UGK_TAGS] && !mk.value[UGK_BROWSE])
        return fail_at(ld, mk.map,
                       "missing required key 'tags' in OPC UA group (or 'browse': a folder "
                       "whose variables become tags)");
    if (mk.value[UGK_INTERVAL_MS]) {
        if (!read_int(ld, mk.value[UGK_INTERVAL_MS], "interval_ms", 10, 86400000, &v)) return false;
        g->interval_ms = (uint32_t)v;
    }
    g->sampling_ms = g->interval_ms;
    if (mk.value[UGK_SAMPLING_MS]) {
        if (!read_int(ld, mk.value[UGK_SAMPLING_MS], "sampling_ms", 0, 86400000, &v)) return false;
        g->sampling_ms = (uint32_t)v;
    }
    if (mk.value[UGK_QUEUE_SIZE]) {
        if (!read_int(ld, mk.value[UGK_QUEUE_SIZE], "queue_size", 1, 10000, &v)) return false;
        g->queue_size = (uint32_t)v;
    }
    if (!load_ua_browse(ld, mk.value[UGK_BROWSE], g)) return false;
    const struct ynode *tags = mk.value[UGK_TAGS];
    if (!tags) return true;
    if (!expect_sequence(ld, tags, "tags")) return false;
    if (tags->count > 0) {
        g->tags = calloc(tags->count, sizeof *g->tags);
        if (!g->tags) return fail_oom(ld);
        g->tag_count = tags->count;
    }
    for (size_t i = 0; i < tags->count; i++)
        if (!load_ua_tag(ld, tags->items[i], dc, &g->tags[i])) return false;
    return true;
}

static bool load_ua_groups(struct loader *ld, const struct ynode *groups, size_t di)
{
    return load_groups_with(ld, groups, di, "groups", load_ua_group);
}

#define UA_DEVICE_FIELD(key, min, max, member)                                                     \
    {                                                                                              \
        key, min, max, offsetof(struct config_device, member),                                     \
            sizeof(((struct config_device *)0)->member)                                            \
    }

static const struct uint_field ua_device_fields[] = {
    UA_DEVICE_FIELD(UDK_TIMEOUT_MS, 10, 60000, timeout_ms),
    UA_DEVICE_FIELD(UDK_BACKOFF_INITIAL_MS, 10, 3600000, backoff_initial_ms),
    UA_DEVICE_FIELD(UDK_BACKOFF_MAX_MS, 10, 86400000, backoff_max_ms),
    UA_DEVICE_FIELD(UDK_BROWSE_MAX_DEPTH, 1, 32, ua.browse_max_depth),
    UA_DEVICE_FIELD(UDK_BROWSE_MAX_TAGS, 1, 1000000, ua.browse_max_tags),
};

static bool load_ua_device_numbers(struct loader *ld, const struct map_keys *mk,
                                   struct config_device *dev)
{
    return load_device_common(ld, mk, dev, ua_device_fields,
                              sizeof ua_device_fields / sizeof ua_device_fields[0], UDK_ENABLED,
                              UDK_BACKOFF_INITIAL_MS, UDK_BACKOFF_MAX_MS);
}

/* A device with protocol: opcua (see docs/configuration.md, OPC UA devices). */
static bool load_opcua_device(struct loader *ld, const struct ynode *node, size_t di)
{
    struct config_device *dev = &ld->cfg->devices[di];
    struct map_keys mk;
    if (!collect_keys(ld, node, &ua_device_level, &mk)) return false;
    static const size_t required[] = {UDK_NAME, UDK_ENDPOINT, UDK_NAMESPACE, UDK_GROUPS};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!require_key(ld, &mk, required[i])) return false;
    device_defaults(dev, node);
    dev->protocol = PROTOCOL_OPCUA;
    dev->port = 0;
    dev->unit_id = 0;
    dev->timeout_ms = UA_DEVICE_DEFAULT_TIMEOUT_MS;
    dev->ua.browse_max_depth = 8;
    dev->ua.browse_max_tags = 10000;
    return load_device_name(ld, &mk, di) && load_ua_endpoint(ld, mk.value[UDK_ENDPOINT], dev) &&
           load_ua_security_mode(ld, &mk, dev) && load_ua_auth(ld, mk.value[UDK_AUTH], dev) &&
           load_namespace(ld, mk.value[UDK_NAMESPACE], dev) &&
           load_ua_device_numbers(ld, &mk, dev) && load_ua_groups(ld, mk.value[UDK_GROUPS], di);
}

/* ---- top level ---- */

static const char *const root_keys[] = {"gateway", "http",       "devices", "history",
                                        "north",   "write_gate", "link",    "monitor"};
enum {
    RK_GATEWAY,
    RK_HTTP,
    RK_DEVICES,
    RK_HISTORY,
    RK_NORTH,
    RK_WRITE_GATE,
    RK_LINK,
    RK_MONITOR,
    RK_COUNT
};

/* ---- link (one-way mode, docs/oneway.md) ---- */

static const char *const link_keys[] = {"destination",
                                        "listen",
                                        "key_file",
                                        "link_id",
                                        "datagram_bytes",
                                        "redundancy",
                                        "rate_limit_datagrams_per_s",
                                        "birth_interval_ms",
                                        "heartbeat_interval_ms",
                                        "heartbeat_timeout_ms"};
enum {
    LK_DESTINATION,
    LK_LISTEN,
    LK_KEY_FILE,
    LK_LINK_ID,
    LK_DATAGRAM_BYTES,
    LK_REDUNDANCY,
    LK_RATE_LIMIT,
    LK_BIRTH_INTERVAL,
    LK_HEARTBEAT_INTERVAL,
    LK_HEARTBEAT_TIMEOUT,
    LK_COUNT
};
static const struct level link_level = {"in link", "'link'", link_keys, LK_COUNT};

#define LINK_FIELD(key, min, max, member)                                                          \
    {                                                                                              \
        key, min, max, offsetof(struct config_link, member),                                       \
            sizeof(((struct config_link *)0)->member)                                              \
    }

static const struct uint_field link_fields[] = {
    LINK_FIELD(LK_LINK_ID, 0, UINT32_MAX, link_id),
    LINK_FIELD(LK_DATAGRAM_BYTES, LINK_MIN_DATAGRAM_BYTES, LINK_MAX_DATAGRAM_BYTES, datagram_bytes),
    LINK_FIELD(LK_REDUNDANCY, 1, 8, redundancy),
    LINK_FIELD(LK_RATE_LIMIT, 0, 100000000, rate_limit_datagrams_per_s),
    LINK_FIELD(LK_BIRTH_INTERVAL, 100, 3600000, birth_interval_ms),
    LINK_FIELD(LK_HEARTBEAT_INTERVAL, 10, 60000, heartbeat_interval_ms),
    LINK_FIELD(LK_HEARTBEAT_TIMEOUT, 30, 600000, heartbeat_timeout_ms),
};

/* The key file: a regular file nobody but its owner can read or write, with
 * at least 32 bytes of secret (link_key_load_file). False with why. */
static bool link_key_file_ok(const char *path, char *why, size_t why_len)
{
    struct stat st;
    int fd = open_regular_file(path, &st, why, why_len);
    if (fd < 0) return false;
    close(fd);
    if (st.st_mode & 077) {
        snprintf(why, why_len,
                 "readable or writable by group or others (mode %04o): make it private, e.g. "
                 "chmod 600 \"%s\"",
                 (unsigned)(st.st_mode & 07777), path);
        return false;
    }
    uint8_t key[LINK_KEY_BYTES];
    bool ok = link_key_load_file(path, key, why, why_len) == LINK_OK;
    explicit_bzero(key, sizeof key);
    return ok;
}

/* An address key of the link: host:port. */
static bool load_link_address(struct loader *ld, const struct ynode *n, const char *key, char **dst)
{
    const char *text = NULL;
    struct shown s;
    if (!read_text(ld, n, key, &text)) return false;
    if (!listen_valid(text))
        return fail_at(ld, n,
                       "expected host:port like 10.0.0.2:7400 (port 1..65535) for '%s', found %s",
                       key, found(n, &s));
    return copy_text(ld, text, dst);
}

/* Keys that only one side of the link uses. */
static bool refuse_other_side(struct loader *ld, const struct map_keys *mk, bool ot_side)
{
    static const size_t ot_only[] = {LK_REDUNDANCY, LK_RATE_LIMIT, LK_BIRTH_INTERVAL,
                                     LK_HEARTBEAT_INTERVAL};
    if (ot_side)
        return refuse_key(ld, mk, LK_HEARTBEAT_TIMEOUT,
                          "a receiver's setting; this link has 'destination', the sending OT side");
    for (size_t i = 0; i < sizeof ot_only / sizeof ot_only[0]; i++)
        if (!refuse_key(ld, mk, ot_only[i],
                        "a sender's setting; this link has 'listen', the receiving IT side"))
            return false;
    return true;
}

static bool load_link(struct loader *ld, const struct ynode *node)
{
    struct config_link *l = &ld->cfg->link;
    struct map_keys mk;
    if (!collect_keys(ld, node, &link_level, &mk)) return false;
    *l = (struct config_link){.present = true,
                              .pos = {node->line, node->col},
                              .link_id = 1,
                              .datagram_bytes = LINK_DEFAULT_DATAGRAM_BYTES,
                              .redundancy = 1,
                              .birth_interval_ms = 10000,
                              .heartbeat_interval_ms = 1000,
                              .heartbeat_timeout_ms = 3000};
    if (mk.value[LK_DESTINATION] && mk.value[LK_LISTEN])
        return fail_at(ld, mk.key[LK_LISTEN],
                       "expected one of 'destination' (airlock ot) and 'listen' (airlock it) in "
                       "link, found both: a file configures one side of the link");
    if (!mk.value[LK_DESTINATION] && !mk.value[LK_LISTEN])
        return fail_at(ld, node,
                       "missing required key 'destination' (airlock ot) or 'listen' (airlock it) "
                       "in link");
    if (!require_key(ld, &mk, LK_KEY_FILE)) return false;
    bool ot_side = mk.value[LK_DESTINATION] != NULL;
    if (!refuse_other_side(ld, &mk, ot_side)) return false;
    if (ot_side ? !load_link_address(ld, mk.value[LK_DESTINATION], "destination", &l->destination)
                : !load_link_address(ld, mk.value[LK_LISTEN], "listen", &l->listen))
        return false;
    const char *path = NULL;
    char why[512];
    if (!read_nonempty_text(ld, mk.value[LK_KEY_FILE], "key_file", &path)) return false;
    if (!link_key_file_ok(path, why, sizeof why))
        return fail_at(ld, mk.value[LK_KEY_FILE], "cannot use the link key file %s: %s", path, why);
    if (!copy_text(ld, path, &l->key_file)) return false;
    return read_uint_fields(ld, &mk, l, link_fields, sizeof link_fields / sizeof link_fields[0]);
}

/* `write_gate: {enabled: false}`: the switch for every write from IT to OT. */
static const char *const write_gate_keys[] = {"enabled"};
static const struct level write_gate_level = {"in write_gate", "the write_gate section",
                                              write_gate_keys, 1};

static bool load_write_gate(struct loader *ld, const struct ynode *node)
{
    struct map_keys mk;
    if (!collect_keys(ld, node, &write_gate_level, &mk)) return false;
    return !mk.value[0] || read_bool(ld, mk.value[0], "enabled", &ld->cfg->write_gate_enabled);
}

/* `monitor: {enabled, learning_s, window_s}`: the OT monitor
 * (docs/monitoring.md). */
static const char *const monitor_keys[] = {"enabled", "learning_s", "window_s"};
enum { MOK_ENABLED, MOK_LEARNING_S, MOK_WINDOW_S, MOK_COUNT };
static const struct level monitor_level = {"in monitor", "the monitor section", monitor_keys,
                                           MOK_COUNT};

static bool load_monitor(struct loader *ld, const struct ynode *node)
{
    struct map_keys mk;
    struct config_monitor *m = &ld->cfg->monitor;
    int64_t v;
    if (!collect_keys(ld, node, &monitor_level, &mk)) return false;
    if (mk.value[MOK_ENABLED] && !read_bool(ld, mk.value[MOK_ENABLED], "enabled", &m->enabled))
        return false;
    if (mk.value[MOK_LEARNING_S]) {
        if (!read_int(ld, mk.value[MOK_LEARNING_S], "learning_s", 1, 30 * 86400, &v)) return false;
        m->learning_s = (uint32_t)v;
    }
    if (mk.value[MOK_WINDOW_S]) {
        if (!read_int(ld, mk.value[MOK_WINDOW_S], "window_s", 1, 3600, &v)) return false;
        m->window_s = (uint32_t)v;
    }
    return true;
}

static const struct level root_level = {"at the top level", "the configuration", root_keys,
                                        RK_COUNT};

static bool load_root(struct loader *ld, const struct ynode *root)
{
    struct config *c = ld->cfg;
    if (!copy_text(ld, "airlock", &c->name) || !copy_text(ld, "./data", &c->data_dir) ||
        !copy_text(ld, "info", &c->log_level) || !copy_text(ld, "127.0.0.1:8080", &c->http_listen))
        return false;
    config_history_defaults(&c->history);
    c->monitor = (struct config_monitor){.enabled = true, .learning_s = 300, .window_s = 10};
    if (!root) {
        ld->err->line = 1;
        ld->err->col = 1;
        snprintf(ld->err->message, sizeof ld->err->message,
                 "expected the configuration (a mapping of gateway, http, devices, history, "
                 "north, write_gate, link, monitor), found an empty file");
        return false;
    }
    struct map_keys mk;
    if (!collect_keys(ld, root, &root_level, &mk)) return false;
    if (mk.value[RK_GATEWAY] && !load_gateway(ld, mk.value[RK_GATEWAY])) return false;
    if (mk.value[RK_HTTP] && !load_http(ld, mk.value[RK_HTTP])) return false;
    if (mk.value[RK_DEVICES] && !load_devices(ld, mk.value[RK_DEVICES])) return false;
    if (mk.value[RK_HISTORY] && !load_history(ld, mk.value[RK_HISTORY])) return false;
    if (mk.value[RK_NORTH] && !load_north(ld, mk.value[RK_NORTH])) return false;
    if (mk.value[RK_WRITE_GATE] && !load_write_gate(ld, mk.value[RK_WRITE_GATE])) return false;
    if (mk.value[RK_LINK] && !load_link(ld, mk.value[RK_LINK])) return false;
    if (mk.value[RK_MONITOR] && !load_monitor(ld, mk.value[RK_MONITOR])) return false;
    return true;
}

/* ---- public API ---- */

bool config_load_string(const char *text, size_t len, const char *name, struct config *out,
                        struct config_error *err)
{
    struct config_error scratch;
    if (!err) err = &scratch;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    if (!name) name = "<string>";
    snprintf(err->file, sizeof err->file, "%s", name);

    struct ynode *root;
    struct ytree_error yerr;
    if (!ytree_parse(text ? text : "", text ? len : 0, &root, &yerr)) {
        err->line = yerr.line;
        err->col = yerr.col;
        snprintf(err->message, sizeof err->message, "%s", yerr.message);
        return false;
    }
    struct loader ld = {.cfg = out, .err = err};
    bool ok = copy_text(&ld, name, &out->file) && load_root(&ld, root);
    ytree_free(root);
    free(ld.paths.slots);
    if (!ok) config_free(out);
    return ok;
}

/* Reads the whole file into a malloc'd buffer; on failure fills err. */
static char *read_file(const char *path, size_t *len, struct config_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t used = 0, cap = 0;
    int e = 0;
    if (!f) {
        e = errno;
        goto fail;
    }
    for (;;) {
        if (used == cap) {
            if (cap >= CONFIG_FILE_MAX_BYTES) {
                snprintf(err->message, sizeof err->message,
                         "expected a file of at most %u MiB, found a larger one",
                         CONFIG_FILE_MAX_BYTES / (1024u * 1024u));
                goto fail_quiet;
            }
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap);
            if (!grown) {
                e = ENOMEM;
                goto fail;
            }
            buf = grown;
        }
        size_t n = fread(buf + used, 1, cap - used, f);
        used += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        e = errno ? errno : EIO;
        goto fail;
    }
    fclose(f);
    *len = used;
    return buf ? buf : strdup("");
fail : {
    char msg[128];
    snprintf(err->message, sizeof err->message, "expected a readable file, found an error: %s",
             strerror_r(e, msg, sizeof msg));
}
fail_quiet:
    if (f) fclose(f);
    free(buf);
    return NULL;
}

bool config_load(const char *path, struct config *out, struct config_error *err)
{
    struct config_error scratch;
    if (!err) err = &scratch;
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    snprintf(err->file, sizeof err->file, "%s", path);
    size_t len = 0;
    errno = 0;
    char *text = read_file(path, &len, err);
    if (!text) return false;
    bool ok = config_load_string(text, len, path, out, err);
    free(text);
    return ok;
}

static void free_group(struct config_poll_group *g)
{
    free(g->tags); /* their strings are in the configuration's pool */
    free(g->name);
    for (size_t i = 0; i < g->browse_count; i++)
        free(g->browse[i]);
    free(g->browse);
}

void config_free(struct config *c)
{
    if (!c) return;
    for (size_t d = 0; d < c->device_count; d++) {
        struct config_device *dev = &c->devices[d];
        for (size_t g = 0; g < dev->group_count; g++)
            free_group(&dev->groups[g]);
        free(dev->groups);
        free(dev->name);
        free(dev->host);
        free(dev->namespace_prefix);
        free(dev->ua.endpoint);
        free(dev->ua.username);
        if (dev->ua.password) explicit_bzero(dev->ua.password, strlen(dev->ua.password));
        free(dev->ua.password);
        free(dev->ua.pki_dir);
    }
    free(c->devices);
    free(c->file);
    free(c->name);
    free(c->data_dir);
    free(c->log_level);
    free(c->http_listen);
    free(c->http_cert_file);
    free(c->http_key_file);
    for (size_t i = 0; i < c->history.group_count; i++) {
        free(c->history.groups[i].name);
        free(c->history.groups[i].prefix);
    }
    free(c->history.groups);
    free(c->history.dir);
    for (size_t i = 0; i < c->north_count; i++)
        north_free(&c->north[i]);
    free(c->north);
    free(c->link.destination);
    free(c->link.listen);
    free(c->link.key_file);
    strpool_clear(&c->strings);
    memset(c, 0, sizeof *c);
}

void config_error_format(const struct config_error *err, char *buf, size_t len)
{
    if (!buf || len == 0) return;
    if (err->line > 0)
        snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->col, err->message);
    else if (err->file[0])
        snprintf(buf, len, "%s: %s", err->file, err->message);
    else
        snprintf(buf, len, "%s", err->message);
}

/* Fills err at pos of c's file with a message; returns false. */
static bool link_check_fail(const struct config *c, struct config_pos pos, struct config_error *err,
                            const char *msg)
{
    snprintf(err->file, sizeof err->file, "%s", c->file ? c->file : "<config>");
    err->line = pos.line;
    err->col = pos.col;
    snprintf(err->message, sizeof err->message, "%s", msg);
    return false;
}

bool config_link_check(const struct config *c, enum config_link_side side, struct config_error *err)
{
    const struct config_link *l = &c->link;
    const struct config_pos none = {0, 0};
    memset(err, 0, sizeof *err);
    if (side == CONFIG_LINK_NONE)
        return !l->present ||
               link_check_fail(c, l->pos, err,
                               "unexpected section 'link': it configures one side of the one-way "
                               "link, run the file with airlock ot or airlock it");
    if (!l->present)
        return link_check_fail(c, none, err,
                               side == CONFIG_LINK_OT
                                   ? "missing section 'link' with 'destination' and 'key_file' "
                                     "(where airlock ot sends, docs/oneway.md)"
                                   : "missing section 'link' with 'listen' and 'key_file' (where "
                                     "airlock it receives, docs/oneway.md)");
    if (side == CONFIG_LINK_OT && !l->destination)
        return link_check_fail(c, l->pos, err,
                               "expected 'destination' in link for airlock ot, found 'listen' "
                               "(the receiving side's key: run this file with airlock it)");
    if (side == CONFIG_LINK_IT && !l->listen)
        return link_check_fail(c, l->pos, err,
                               "expected 'listen' in link for airlock it, found 'destination' "
                               "(the sending side's key: run this file with airlock ot)");
    if (side == CONFIG_LINK_IT && c->device_count > 0)
        return link_check_fail(c, c->devices[0].pos, err,
                               "unexpected device in an airlock it configuration: devices are "
                               "read by airlock ot, and their tags come over the link");
    return true;
}

size_t config_tag_count(const struct config *c)
{
    size_t n = 0;
    for (size_t d = 0; d < c->device_count; d++)
        for (size_t g = 0; g < c->devices[d].group_count; g++)
            n += c->devices[d].groups[g].tag_count;
    return n;
}
