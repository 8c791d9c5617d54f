/* The OPC UA driver: discovery at start/reload (ua_driver_prepare, with its
 * cache file) and one worker thread per device over ua_client.
 *
 * The worker owns one client. It connects (session, security), resolves the
 * tags' browse paths with TranslateBrowsePathsToNodeIds, reads each tag's
 * DataType and ValueRank (arrays are skipped, types checked), then either
 * creates one subscription per group with a monitored item per tag (client
 * handle = the tag's index in the device) and serves it with ua_client_poll,
 * or Reads each group on its own schedule. Notifications and Read results go
 * through the same path: StatusCode -> quality, Variant -> value of the
 * tag's type, timestamp -> source, server or receive time, then
 * report-by-exception into one batch per Publish response / Read. A
 * failure that loses the connection or the session marks every tag
 * Bad (Bad_NoCommunication, Bad_Timeout or Bad_CommunicationError) and
 * backs off exponentially before connecting again; the subscriptions are
 * made anew on the new session. Stop wakes the worker through an eventfd
 * that ua_client_poll watches. See ua_driver.h. */
#include "drivers/opcua/ua_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "core/report.h"
#include "core/tag.h"
#include "drivers/opcua/ua_client.h"
#include "drivers/opcua/ua_pki.h"
#include "drivers/write_queue.h"

#define LOG_MODULE "opcua"
#define BROWSE_PATH_MAX_ELEMENTS 32
#define WAIT_SLICE_MS 500 /* longest a worker waits before looking at its state again */
#define TEXT_SCRATCH_BYTES 4096
#define UNIT_MAX_BYTES 64
#define CACHE_MAX_BYTES (64u << 20)
#define CACHE_FORMAT "airlock-opcua-tags"
#define NAME_SUFFIX_MAX 99
#define ARENA_LIMIT_BYTES (256u << 20)

/* ======================================================== pure helpers */

bool ua_browse_path_parse(const char *text, struct ua_arena *a,
                          struct ua_relative_path_element **elements, size_t *count, char *why,
                          size_t why_len)
{
    if (!text || text[0] != '/') {
        snprintf(why, why_len, "it must start with '/' (the Root folder)");
        return false;
    }
    size_t n = 0, len = strlen(text);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '&') {
            i++;
            continue;
        }
        n += text[i] == '/';
    }
    if (n > BROWSE_PATH_MAX_ELEMENTS) {
        snprintf(why, why_len, "at most %d elements", BROWSE_PATH_MAX_ELEMENTS);
        return false;
    }
    struct ua_relative_path_element *out = ua_arena_alloc_array(a, n, sizeof *out);
    if (!out) {
        snprintf(why, why_len, "out of memory");
        return false;
    }
    const char *p = text + 1;
    for (size_t e = 0; e < n; e++) {
        char *name = ua_arena_alloc(a, len + 1);
        if (!name) {
            snprintf(why, why_len, "out of memory");
            return false;
        }
        size_t k = 0;
        bool plain_digits = true; /* everything so far is an unescaped digit */
        unsigned long ns = 0;
        bool has_ns = false;
        while (*p && *p != '/') {
            if (*p == '&') {
                if (!p[1]) {
                    snprintf(why, why_len, "'&' at the end (it escapes the next character)");
                    return false;
                }
                name[k++] = p[1];
                p += 2;
                plain_digits = false;
                continue;
            }
            if (*p == ':' && plain_digits && !has_ns && k > 0) {
                name[k] = '\0';
                ns = k <= 5 ? strtoul(name, NULL, 10) : 65536;
                if (ns > 65535) {
                    snprintf(why, why_len, "namespace index above 65535 in element %zu", e + 1);
                    return false;
                }
                has_ns = true;
                k = 0;
                p++;
                continue;
            }
            if (*p < '0' || *p > '9') plain_digits = false;
            name[k++] = *p++;
        }
        if (*p == '/') p++;
        name[k] = '\0';
        if (k == 0) {
            snprintf(why, why_len, "element %zu is empty", e + 1);
            return false;
        }
        memset(&out[e], 0, sizeof out[e]);
        out[e].reference_type_id = ua_nodeid_numeric(0, UA_NS0_HIERARCHICAL_REFERENCES);
        out[e].is_inverse = false;
        out[e].include_subtypes = true;
        out[e].target_name.ns = (uint16_t)ns;
        out[e].target_name.name.data = name;
        out[e].target_name.name.length = (int32_t)k;
    }
    if (n == 0) {
        snprintf(why, why_len, "no element after '/'");
        return false;
    }
    *elements = out;
    *count = n;
    return true;
}

bool ua_driver_type_of_builtin(unsigned type, enum value_type *out)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        *out = VALUE_BOOL;
        return true;
    case UA_TYPE_SBYTE:
    case UA_TYPE_INT16:
    case UA_TYPE_INT32:
    case UA_TYPE_INT64:
    case UA_TYPE_DATETIME:
        *out = VALUE_INT64;
        return true;
    case UA_TYPE_BYTE:
    case UA_TYPE_UINT16:
    case UA_TYPE_UINT32:
    case UA_TYPE_UINT64:
    case UA_TYPE_STATUSCODE:
        *out = VALUE_UINT64;
        return true;
    case UA_TYPE_FLOAT:
    case UA_TYPE_DOUBLE:
        *out = VALUE_DOUBLE;
        return true;
    case UA_TYPE_STRING:
    case UA_TYPE_GUID:
    case UA_TYPE_BYTESTRING:
    case UA_TYPE_XMLELEMENT:
    case UA_TYPE_NODEID:
    case UA_TYPE_EXPANDEDNODEID:
    case UA_TYPE_QUALIFIEDNAME:
    case UA_TYPE_LOCALIZEDTEXT:
        *out = VALUE_STRING;
        return true;
    default:
        return false;
    }
}

bool ua_driver_type_of_datatype(const struct ua_nodeid *dt, enum value_type *out)
{
    if (dt->ns != 0 || dt->type != UA_NODEID_NUMERIC) return false;
    uint32_t id = dt->id.numeric;
    if (id >= 1 && id <= UA_TYPE_MAX_KNOWN) return ua_driver_type_of_builtin(id, out);
    switch (id) {
    case 26:  /* Number */
    case 290: /* Duration */
        *out = VALUE_DOUBLE;
        return true;
    case 27:  /* Integer */
    case 29:  /* Enumeration */
    case 294: /* UtcTime */
        *out = VALUE_INT64;
        return true;
    case 28:    /* UInteger */
    case 289:   /* Counter */
    case 288:   /* IntegerId */
    case 20998: /* VersionTime */
        *out = VALUE_UINT64;
        return true;
    case 30:    /* Image */
    case 291:   /* NumericRange */
    case 295:   /* LocaleId */
    case 311:   /* ApplicationInstanceCertificate */
    case 2000:  /* ImageBMP */
    case 2001:  /* ImageGIF */
    case 2002:  /* ImageJPG */
    case 2003:  /* ImagePNG */
    case 12877: /* NormalizedString */
    case 12878: /* DecimalString */
    case 12879: /* DurationString */
    case 12880: /* TimeString */
    case 12881: /* DateString */
        *out = VALUE_STRING;
        return true;
    default:
        return false;
    }
}

/* The Variant's own value (see ua_driver_convert), strings formatted into
 * text when the Variant holds no text of its own. */
static bool natural_value(const struct ua_variant *v, struct value *out, char *text,
                          size_t text_cap, const char **why)
{
    if (ua_variant_to_value(v, out, why)) return true;
    if (v->type == UA_TYPE_NULL || v->is_array || text_cap < 40) return false;
    size_t n = 0;
    switch (v->type) {
    case UA_TYPE_GUID: {
        char g[37];
        ua_guid_format(&v->as.guid, g);
        n = (size_t)snprintf(text, text_cap, "%s", g);
        break;
    }
    case UA_TYPE_BYTESTRING: {
        struct ua_string s = v->as.string;
        size_t len = s.length > 0 ? (size_t)s.length : 0;
        if (2 + 2 * len + 1 > text_cap) {
            *why = "ByteString too long for a string value";
            return false;
        }
        memcpy(text, "0x", 2);
        n = 2;
        for (size_t i = 0; i < len; i++)
            n += (size_t)snprintf(text + n, text_cap - n, "%02X", (unsigned char)s.data[i]);
        break;
    }
    case UA_TYPE_NODEID:
        if (!v->as.nodeid) return false;
        n = ua_nodeid_format(v->as.nodeid, text, text_cap);
        break;
    case UA_TYPE_EXPANDEDNODEID:
        if (!v->as.expanded_nodeid) return false;
        n = ua_expanded_nodeid_format(v->as.expanded_nodeid, text, text_cap);
        break;
    case UA_TYPE_QUALIFIEDNAME: {
        const struct ua_qualified_name *q = v->as.qualified_name;
        if (!q) return false;
        int len = q->name.length > 0 ? (int)q->name.length : 0;
        n = (size_t)snprintf(text, text_cap, "%u:%.*s", (unsigned)q->ns, len,
                             len ? q->name.data : "");
        break;
    }
    default:
        return false;
    }
    if (n >= text_cap) {
        *why = "value too long for a string value";
        return false;
    }
    out->type = VALUE_STRING;
    out->as.str.ptr = text;
    out->as.str.len = (uint32_t)n;
    return true;
}

/* Converts v in place to want when no information is lost. */
static bool coerce(struct value *v, enum value_type want, char *text, size_t text_cap)
{
    if (v->type == want) return true;
    double d = value_as_double(v);
    switch (want) {
    case VALUE_DOUBLE:
        if (v->type == VALUE_STRING) return false;
        *v = value_double(d);
        return true;
    case VALUE_INT64:
        if (v->type == VALUE_UINT64 && v->as.u64 <= (uint64_t)INT64_MAX) {
            *v = value_int64((int64_t)v->as.u64);
            return true;
        }
        if (v->type == VALUE_BOOL || (v->type == VALUE_DOUBLE && isfinite(d) && d == floor(d) &&
                                      d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
            *v = value_int64((int64_t)d);
            return true;
        }
        return false;
    case VALUE_UINT64:
        if (v->type == VALUE_INT64 && v->as.i64 >= 0) {
            *v = value_uint64((uint64_t)v->as.i64);
            return true;
        }
        if (v->type == VALUE_BOOL || (v->type == VALUE_DOUBLE && isfinite(d) && d == floor(d) &&
                                      d >= 0 && d < 18446744073709551616.0)) {
            *v = value_uint64((uint64_t)d);
            return true;
        }
        return false;
    case VALUE_BOOL:
        if (v->type == VALUE_STRING || (d != 0 && d != 1)) return false;
        *v = value_bool(d == 1);
        return true;
    case VALUE_STRING: {
        int n = 0;
        if (v->type == VALUE_BOOL)
            n = snprintf(text, text_cap, "%s", v->as.b ? "true" : "false");
        else if (v->type == VALUE_INT64)
            n = snprintf(text, text_cap, "%" PRId64, v->as.i64);
        else if (v->type == VALUE_UINT64)
            n = snprintf(text, text_cap, "%" PRIu64, v->as.u64);
        else
            n = snprintf(text, text_cap, "%.17g", d);
        if (n < 0 || (size_t)n >= text_cap) return false;
        v->type = VALUE_STRING;
        v->as.str.ptr = text;
        v->as.str.len = (uint32_t)n;
        return true;
    }
    }
    return false;
}

bool ua_driver_convert(const struct ua_variant *v, enum value_type want, struct value *out,
                       char *text, size_t text_cap, const char **why)
{
    const char *reason = "unsupported type";
    if (!natural_value(v, out, text, text_cap, &reason)) {
        *why = reason;
        return false;
    }
    /* Only non-string values are formatted by coerce, so text is free then. */
    if (!coerce(out, want, text, text_cap)) {
        *why = "a value the tag's type cannot hold";
        return false;
    }
    return true;
}

/* ------------------------------------------------------ write values */

unsigned ua_driver_write_type_of_datatype(const struct ua_nodeid *dt)
{
    if (dt->ns != 0 || dt->type != UA_NODEID_NUMERIC) return 0;
    uint32_t id = dt->id.numeric;
    if (id >= UA_TYPE_BOOLEAN && id <= UA_TYPE_DOUBLE) return id;
    switch (id) {
    case 290: /* Duration */
        return UA_TYPE_DOUBLE;
    case 288: /* IntegerId */
    case 289: /* Counter */
        return UA_TYPE_UINT32;
    default:
        return 0;
    }
}

/* The range of an integer built-in type. */
static bool integer_range(unsigned type, int64_t *lo, uint64_t *hi)
{
    switch (type) {
    case UA_TYPE_SBYTE:
        *lo = INT8_MIN, *hi = INT8_MAX;
        return true;
    case UA_TYPE_BYTE:
        *lo = 0, *hi = UINT8_MAX;
        return true;
    case UA_TYPE_INT16:
        *lo = INT16_MIN, *hi = INT16_MAX;
        return true;
    case UA_TYPE_UINT16:
        *lo = 0, *hi = UINT16_MAX;
        return true;
    case UA_TYPE_INT32:
        *lo = INT32_MIN, *hi = INT32_MAX;
        return true;
    case UA_TYPE_UINT32:
        *lo = 0, *hi = UINT32_MAX;
        return true;
    case UA_TYPE_INT64:
        *lo = INT64_MIN, *hi = INT64_MAX;
        return true;
    case UA_TYPE_UINT64:
        *lo = 0, *hi = UINT64_MAX;
        return true;
    default:
        return false;
    }
}

/* An integral value: negative ones in i, the others in u. */
struct exact_integer {
    bool negative;
    int64_t i;
    uint64_t u;
};

/* v as an exact integer; false for a double that is not integral or is
 * beyond the 64-bit ranges. */
static bool exact_integer_of(const struct value *v, struct exact_integer *out)
{
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case VALUE_BOOL:
        out->u = v->as.b ? 1 : 0;
        return true;
    case VALUE_INT64:
        out->negative = v->as.i64 < 0;
        out->i = v->as.i64;
        out->u = v->as.i64 < 0 ? 0 : (uint64_t)v->as.i64;
        return true;
    case VALUE_UINT64:
        out->u = v->as.u64;
        return true;
    case VALUE_DOUBLE: {
        double d = v->as.f64;
        if (!isfinite(d) || d != floor(d)) return false;
        if (d < 0) {
            if (d < -9223372036854775808.0) return false;
            out->negative = true;
            out->i = (int64_t)d;
            return true;
        }
        if (d >= 18446744073709551616.0) return false;
        out->u = (uint64_t)d;
        return true;
    }
    case VALUE_STRING:
        return false;
    }
    return false;
}

/* v as a double, false when an integer does not convert exactly. */
static bool exact_double_of(const struct value *v, double *out)
{
    switch (v->type) {
    case VALUE_BOOL:
        *out = v->as.b ? 1.0 : 0.0;
        return true;
    case VALUE_INT64: {
        double d = (double)v->as.i64;
        *out = d;
        return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && (int64_t)d == v->as.i64;
    }
    case VALUE_UINT64: {
        double d = (double)v->as.u64;
        *out = d;
        return d < 18446744073709551616.0 && (uint64_t)d == v->as.u64;
    }
    case VALUE_DOUBLE:
        *out = v->as.f64;
        return true;
    case VALUE_STRING:
        return false;
    }
    return false;
}

static void value_text(const struct value *v, char *out, size_t cap)
{
    switch (v->type) {
    case VALUE_BOOL:
        snprintf(out, cap, "%s", v->as.b ? "true" : "false");
        break;
    case VALUE_INT64:
        snprintf(out, cap, "%" PRId64, v->as.i64);
        break;
    case VALUE_UINT64:
        snprintf(out, cap, "%" PRIu64, v->as.u64);
        break;
    case VALUE_DOUBLE: /* the shortest of 15 or 17 digits that reads back the same */
        snprintf(out, cap, "%.15g", v->as.f64);
        if (strtod(out, NULL) != v->as.f64) snprintf(out, cap, "%.17g", v->as.f64);
        break;
    case VALUE_STRING:
        snprintf(out, cap, "a string");
        break;
    }
}

static bool integer_variant(const struct value *v, unsigned type, struct ua_variant *out,
                            const char *text, char *why, size_t why_len)
{
    int64_t lo;
    uint64_t hi;
    integer_range(type, &lo, &hi);
    struct exact_integer n;
    if (!exact_integer_of(v, &n)) {
        snprintf(why, why_len, "%s is not an integer (the node's data type is %s)", text,
                 ua_type_name(type));
        return false;
    }
    if (n.negative ? n.i < lo : n.u > hi) {
        if (lo == 0)
            snprintf(why, why_len,
                     "%s is out of range for the node's data type %s (0 to %" PRIu64 ")", text,
                     ua_type_name(type), hi);
        else
            snprintf(why, why_len,
                     "%s is out of range for the node's data type %s (%" PRId64 " to %" PRIu64 ")",
                     text, ua_type_name(type), lo, hi);
        return false;
    }
    memset(out, 0, sizeof *out);
    out->type = (uint8_t)type;
    switch (type) {
    case UA_TYPE_SBYTE:
        out->as.sbyte = (int8_t)(n.negative ? n.i : (int64_t)n.u);
        break;
    case UA_TYPE_BYTE:
        out->as.byte = (uint8_t)n.u;
        break;
    case UA_TYPE_INT16:
        out->as.int16 = (int16_t)(n.negative ? n.i : (int64_t)n.u);
        break;
    case UA_TYPE_UINT16:
        out->as.uint16 = (uint16_t)n.u;
        break;
    case UA_TYPE_INT32:
        out->as.int32 = (int32_t)(n.negative ? n.i : (int64_t)n.u);
        break;
    case UA_TYPE_UINT32:
        out->as.uint32 = (uint32_t)n.u;
        break;
    case UA_TYPE_INT64:
        out->as.int64 = n.negative ? n.i : (int64_t)n.u;
        break;
    default: /* UA_TYPE_UINT64 */
        out->as.uint64 = n.u;
        break;
    }
    return true;
}

bool ua_driver_value_to_variant(const struct value *v, unsigned type, struct ua_variant *out,
                                char *why, size_t why_len)
{
    char text[48];
    memset(out, 0, sizeof *out);
    value_text(v, text, sizeof text);
    int64_t lo;
    uint64_t hi;
    bool integer = integer_range(type, &lo, &hi);
    if (!integer && type != UA_TYPE_BOOLEAN && type != UA_TYPE_FLOAT && type != UA_TYPE_DOUBLE) {
        snprintf(why, why_len,
                 "the node's data type is %s: only Boolean, integer (SByte to UInt64), Float and "
                 "Double nodes can be written",
                 type ? ua_type_name(type) : "not known");
        return false;
    }
    if (v->type == VALUE_STRING) {
        snprintf(why, why_len, "a string cannot be written (the node's data type is %s)",
                 ua_type_name(type));
        return false;
    }
    if (v->type == VALUE_DOUBLE && !isfinite(v->as.f64)) {
        snprintf(why, why_len, "%s is not a finite number", text);
        return false;
    }
    if (integer) return integer_variant(v, type, out, text, why, why_len);
    if (type == UA_TYPE_BOOLEAN) {
        double d;
        if (v->type != VALUE_BOOL && (!exact_double_of(v, &d) || (d != 0 && d != 1))) {
            snprintf(why, why_len, "%s is not a Boolean (true, false, 0 or 1)", text);
            return false;
        }
        *out = ua_variant_boolean(v->type == VALUE_BOOL ? v->as.b : value_as_double(v) == 1);
        return true;
    }
    double d;
    if (!exact_double_of(v, &d)) {
        snprintf(why, why_len, "%s has no exact %s value", text, ua_type_name(type));
        return false;
    }
    if (type == UA_TYPE_DOUBLE) {
        *out = ua_variant_double(d);
        return true;
    }
    if (fabs(d) > FLT_MAX) {
        snprintf(why, why_len, "%s is out of range for the node's data type Float", text);
        return false;
    }
    float f = (float)d;
    if (v->type != VALUE_DOUBLE && (double)f != d) {
        snprintf(why, why_len, "%s has no exact Float value", text);
        return false;
    }
    out->type = UA_TYPE_FLOAT;
    out->as.f32 = f;
    return true;
}

static bool name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* Appends name sanitized (each other character, a whole UTF-8 sequence,
 * becomes '_') to seg[*len..limit). */
static void append_sanitized(const char *name, char *seg, size_t *len, size_t limit)
{
    const unsigned char *p = (const unsigned char *)name;
    while (*p && *len < limit) {
        if (name_char_ok(*p)) {
            seg[(*len)++] = (char)*p++;
            continue;
        }
        seg[(*len)++] = '_';
        if (*p++ >= 0x80)
            while ((*p & 0xC0) == 0x80)
                p++;
    }
}

bool ua_driver_tag_name(const char *const *names, size_t count, size_t max_segments, char *out,
                        size_t out_cap)
{
    if (count == 0 || max_segments == 0 || out_cap == 0) return false;
    size_t merged = count > max_segments ? count - max_segments + 1 : 1;
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        char seg[TAG_PATH_MAX];
        size_t len = 0;
        append_sanitized(names[i], seg, &len, 64);
        if (len == 0) seg[len++] = '_';
        bool joined = i > 0 && i < merged;
        if (i > 0 && o + 1 < out_cap) out[o++] = joined ? '.' : '/';
        size_t room = joined ? 0 : 64;
        if (joined) {
            /* Length of the first segment so far: what follows the last '/'. */
            size_t seg_start = 0;
            for (size_t k = 0; k < o; k++)
                if (out[k] == '/') seg_start = k + 1;
            room = 64 > o - seg_start ? 64 - (o - seg_start) : 0;
            if (room == 0) {
                o--; /* drop the '.' just written: the segment is full */
                continue;
            }
        }
        if (len > room) len = room;
        if (o + len >= out_cap) return false;
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o >= out_cap) return false;
    out[o] = '\0';
    return true;
}

/* ==================================================== client settings */

static const char *security_name(enum config_ua_security s)
{
    switch (s) {
    case CONFIG_UA_SECURITY_SIGN:
        return "Basic256Sha256 Sign";
    case CONFIG_UA_SECURITY_SIGN_AND_ENCRYPT:
        return "Basic256Sha256 SignAndEncrypt";
    default:
        return "None";
    }
}

/* The client options for dev (strings borrowed from dev and session_name). */
static void client_options(const struct config_device *dev, const char *session_name,
                           struct ua_client_options *o)
{
    memset(o, 0, sizeof *o);
    o->endpoint_url = dev->ua.endpoint;
    o->policy = UA_CRYPTO_POLICY_NONE;
    o->mode = UA_CHANNEL_MODE_NONE;
    if (dev->ua.security != CONFIG_UA_SECURITY_NONE) {
        o->policy = UA_CRYPTO_POLICY_BASIC256SHA256;
        o->mode = dev->ua.security == CONFIG_UA_SECURITY_SIGN ? UA_CHANNEL_MODE_SIGN
                                                              : UA_CHANNEL_MODE_SIGN_AND_ENCRYPT;
    }
    if (dev->ua.username) {
        o->identity = UA_CLIENT_IDENTITY_USER_NAME;
        o->user_name = dev->ua.username;
        o->password = dev->ua.password ? dev->ua.password : "";
    }
    o->pki_dir = dev->ua.pki_dir ? dev->ua.pki_dir : "./data/pki";
    o->application_name = "airlock";
    o->session_name = session_name;
    o->connect_timeout_ms = dev->timeout_ms;
    o->request_timeout_ms = dev->timeout_ms;
}

/* The configured text a listed tag is known by (node, else browse path). */
static const char *tag_ref(const struct config_tag *ct)
{
    return ct->ua.node ? ct->ua.node : ct->ua.browse_path;
}

static void copy_error(char *err, size_t err_len, const struct ua_client_error *e)
{
    snprintf(err, err_len, "%s", e->text[0] ? e->text : ua_status_name(e->status));
}

static struct ua_read_value_id read_id(const struct ua_nodeid *node, uint32_t attribute)
{
    struct ua_read_value_id r;
    memset(&r, 0, sizeof r);
    r.node_id = *node;
    r.attribute_id = attribute;
    r.index_range = UA_STRING_NULL;
    r.data_encoding.name = UA_STRING_NULL;
    return r;
}

/* ========================================================== discovery */

/* A set of C strings (open addressing, FNV-1a); copies what it holds. */
struct str_set {
    char **slots;
    size_t capacity, count;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* 1: added, 0: already present, -1: out of memory. */
static int str_set_add(struct str_set *set, const char *s)
{
    if ((set->count + 1) * 2 > set->capacity) {
        size_t cap = set->capacity ? set->capacity * 2 : 256;
        char **slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < set->capacity; i++) {
            if (!set->slots[i]) continue;
            size_t j = (size_t)str_hash(set->slots[i]) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->capacity = cap;
    }
    size_t j = (size_t)str_hash(s) & (set->capacity - 1);
    for (; set->slots[j]; j = (j + 1) & (set->capacity - 1))
        if (strcmp(set->slots[j], s) == 0) return 0;
    set->slots[j] = strdup(s);
    if (!set->slots[j]) return -1;
    set->count++;
    return 1;
}

static void str_set_free(struct str_set *set)
{
    for (size_t i = 0; i < set->capacity; i++)
        free(set->slots[i]);
    free(set->slots);
    memset(set, 0, sizeof *set);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static bool disc_add(struct ua_discovery *d, const char *group, const char *folder,
                     const char *name, const char *ref, enum value_type type, const char *unit)
{
    if (d->count == d->capacity) {
        size_t cap = d->capacity ? d->capacity * 2 : 64;
        struct ua_discovered *items = realloc(d->items, cap * sizeof *items);
        if (!items) return false;
        d->items = items;
        d->capacity = cap;
    }
    struct ua_discovered *it = &d->items[d->count];
    memset(it, 0, sizeof *it);
    it->group = group ? strdup(group) : NULL;
    it->folder = folder ? strdup(folder) : NULL;
    it->name = name ? strdup(name) : NULL;
    it->ref = dup_or_empty(ref);
    it->unit = dup_or_empty(unit);
    it->type = type;
    d->count++;
    bool ok = it->ref && it->unit && (!group || it->group) && (!folder || it->folder) &&
              (!name || it->name);
    return ok;
}

void ua_discovery_free(struct ua_discovery *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].group);
        free(d->items[i].folder);
        free(d->items[i].name);
        free(d->items[i].ref);
        free(d->items[i].unit);
    }
    free(d->items);
    memset(d, 0, sizeof *d);
}

/* What the server says about one variable. */
struct node_info {
    uint32_t status; /* Bad: its DataType could not be read */
    bool is_array;
    bool has_type;
    enum value_type type;
    char data_type[64]; /* the DataType's NodeId text, for messages */
    char unit[UNIT_MAX_BYTES + 1];
};

/* Copies a unit from the server: UTF-8 text without control characters,
 * cut at a character boundary. */
static void copy_unit(struct ua_string s, char *out, size_t cap)
{
    size_t o = 0;
    size_t len = s.length > 0 ? (size_t)s.length : 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c < 0x20 || c == 0x7f) continue;
        out[o++] = (char)c;
    }
    while (o > 0 && o < len && ((unsigned char)out[o - 1] & 0xC0) == 0x80 && o + 1 >= cap)
        o--; /* a cut sequence: drop its bytes */
    if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0) o--;
    out[o] = '\0';
}

/* DataType, ValueRank, Value type and EngineeringUnits of nodes[0..n).
 * The Value is read only of scalars whose DataType says nothing airlock
 * knows (so no large array is ever read). False with err when a request
 * failed. */
static bool describe_nodes(struct ua_client *c, const struct ua_nodeid *nodes, size_t n,
                           struct node_info *info, struct ua_client_error *err)
{
    if (n == 0) return true;
    bool ok = false;
    struct ua_arena arena;
    ua_arena_init(&arena, 0, ARENA_LIMIT_BYTES);
    struct ua_read_value_id *rd = calloc(2 * n, sizeof *rd);
    struct ua_browse_path *paths = calloc(n, sizeof *paths);
    size_t *unit_of = calloc(n, sizeof *unit_of);
    if (!rd || !paths || !unit_of) {
        err->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        snprintf(err->text, sizeof err->text, "out of memory describing %zu nodes", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        memset(&info[i], 0, sizeof info[i]);
        rd[2 * i] = read_id(&nodes[i], UA_ATTRIBUTE_DATA_TYPE);
        rd[2 * i + 1] = read_id(&nodes[i], UA_ATTRIBUTE_VALUE_RANK);
    }
    struct ua_datavalue *dv = NULL;
    if (!ua_client_read(c, rd, 2 * n, UA_TIMESTAMPS_NEITHER, 0, &dv, err)) goto done;
    size_t unknown = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ua_datavalue *dt = &dv[2 * i], *rank = &dv[2 * i + 1];
        if (ua_status_is_bad(dt->status)) {
            info[i].status = dt->status;
            continue;
        }
        if (!rank->value.is_array && rank->value.type == UA_TYPE_INT32 && rank->value.as.int32 >= 0)
            info[i].is_array = true;
        if (!dt->value.is_array && dt->value.type == UA_TYPE_NODEID && dt->value.as.nodeid) {
            ua_nodeid_format(dt->value.as.nodeid, info[i].data_type, sizeof info[i].data_type);
            info[i].has_type = ua_driver_type_of_datatype(dt->value.as.nodeid, &info[i].type);
        }
        if (!info[i].has_type && !info[i].is_array) {
            rd[unknown] = read_id(&nodes[i], UA_ATTRIBUTE_VALUE);
            unit_of[unknown++] = i;
        }
    }
    /* A type of the server's own: the built-in type of its current value. */
    if (unknown > 0) {
        if (!ua_client_read(c, rd, unknown, UA_TIMESTAMPS_NEITHER, 0, &dv, err)) goto done;
        for (size_t j = 0; j < unknown; j++) {
            struct node_info *in = &info[unit_of[j]];
            if (ua_status_is_bad(dv[j].status)) continue;
            if (dv[j].value.is_array)
                in->is_array = true;
            else
                in->has_type = ua_driver_type_of_builtin(dv[j].value.type, &in->type);
        }
    }
    /* EngineeringUnits: a HasProperty child of that name (AnalogItemType). */
    struct ua_relative_path_element eu;
    memset(&eu, 0, sizeof eu);
    eu.reference_type_id = ua_nodeid_numeric(0, UA_NS0_HAS_PROPERTY);
    eu.include_subtypes = true;
    eu.target_name.ns = 0;
    eu.target_name.name = ua_string_from_cstr(UA_BROWSE_NAME_ENGINEERING_UNITS);
    for (size_t i = 0; i < n; i++) {
        paths[i].starting_node = nodes[i];
        paths[i].elements_count = 1;
        paths[i].elements = &eu;
    }
    struct ua_browse_path_result *pr = NULL;
    if (!ua_client_translate_browse_paths(c, paths, n, &pr, err)) goto done;
    size_t with_units = 0;
    for (size_t i = 0; i < n; i++) {
        if (ua_status_is_bad(pr[i].status) || pr[i].targets_count == 0) continue;
        const struct ua_expanded_nodeid *t = &pr[i].targets[0].target_id;
        if (t->server_index != 0 || t->namespace_uri.length > 0) continue;
        struct ua_nodeid copy;
        if (!ua_nodeid_copy(&t->nodeid, &arena, &copy)) continue;
        rd[with_units] = read_id(&copy, UA_ATTRIBUTE_VALUE);
        unit_of[with_units++] = i;
    }
    if (with_units > 0) {
        if (!ua_client_read(c, rd, with_units, UA_TIMESTAMPS_NEITHER, 0, &dv, err)) goto done;
        for (size_t j = 0; j < with_units; j++) {
            struct ua_eu_information e;
            if (ua_status_is_bad(dv[j].status) ||
                !ua_variant_to_eu_information(&dv[j].value, &e, NULL))
                continue;
            struct ua_string s =
                e.display_name.text.length > 0 ? e.display_name.text : e.description.text;
            copy_unit(s, info[unit_of[j]].unit, sizeof info[unit_of[j]].unit);
        }
    }
    ok = true;
done:
    free(rd);
    free(paths);
    free(unit_of);
    ua_arena_free(&arena);
    return ok;
}

/* A browse folder or a listed tag's reference, resolved to a NodeId: text
 * starting with '/' is a browse path (translated from the Root folder),
 * anything else a NodeId. *found is false (with a log line) when the
 * server does not know it; false with err when a request failed. */
static bool resolve_ref(struct ua_client *c, const char *device, const char *text,
                        struct ua_arena *a, struct ua_nodeid *out, bool *found,
                        struct ua_client_error *err)
{
    char why[160];
    *found = false;
    if (text[0] != '/') {
        *found = ua_nodeid_parse(text, strlen(text), a, out, why, sizeof why);
        if (!*found)
            log_warn(LOG_MODULE, "invalid NodeId", "device=%s node=\"%s\" error=\"%s\"", device,
                     text, why);
        return true;
    }
    struct ua_browse_path path = {.starting_node = ua_nodeid_numeric(0, UA_NS0_ROOT_FOLDER)};
    struct ua_relative_path_element *elements;
    if (!ua_browse_path_parse(text, a, &elements, &path.elements_count, why, sizeof why)) {
        log_warn(LOG_MODULE, "invalid browse path", "device=%s path=\"%s\" error=\"%s\"", device,
                 text, why);
        return true;
    }
    path.elements = elements;
    struct ua_browse_path_result *pr = NULL;
    if (!ua_client_translate_browse_paths(c, &path, 1, &pr, err)) return false;
    if (ua_status_is_bad(pr->status) || pr->targets_count == 0 ||
        pr->targets[0].target_id.server_index != 0) {
        log_warn(LOG_MODULE, "browse path not found on the server",
                 "device=%s path=\"%s\" status=%s", device, text, ua_status_name(pr->status));
        return true;
    }
    *found = ua_nodeid_copy(&pr->targets[0].target_id.nodeid, a, out);
    return true;
}

/* The types and units of the device's listed tags. */
static bool discover_listed(struct ua_client *c, const struct config_device *dev,
                            struct ua_discovery *out, struct ua_client_error *err)
{
    size_t n = 0;
    for (size_t g = 0; g < dev->group_count; g++)
        n += dev->groups[g].tag_count;
    if (n == 0) return true;
    struct ua_arena arena;
    ua_arena_init(&arena, 0, ARENA_LIMIT_BYTES);
    struct ua_nodeid *nodes = calloc(n, sizeof *nodes);
    const char **refs = calloc(n, sizeof *refs);
    struct node_info *info = calloc(n, sizeof *info);
    bool ok = nodes && refs && info;
    size_t k = 0;
    for (size_t g = 0; ok && g < dev->group_count; g++)
        for (size_t t = 0; ok && t < dev->groups[g].tag_count; t++) {
            const struct config_tag *ct = &dev->groups[g].tags[t];
            bool found;
            if (ct->ua.discovered) continue;
            ok = resolve_ref(c, dev->name, tag_ref(ct), &arena, &nodes[k], &found, err);
            if (ok && found) refs[k++] = tag_ref(ct);
        }
    ok = ok && describe_nodes(c, nodes, k, info, err);
    for (size_t i = 0; ok && i < k; i++) {
        if (ua_status_is_bad(info[i].status)) {
            log_warn(LOG_MODULE, "tag's node not readable", "device=%s node=\"%s\" status=%s",
                     dev->name, refs[i], ua_status_name(info[i].status));
            continue;
        }
        if (info[i].is_array) continue; /* the driver reports it */
        if (!info[i].has_type) {
            log_warn(LOG_MODULE, "tag's data type not supported: give it a type",
                     "device=%s node=\"%s\" data_type=%s", dev->name, refs[i], info[i].data_type);
            continue;
        }
        if (!disc_add(out, NULL, NULL, NULL, refs[i], info[i].type, info[i].unit)) ok = false;
    }
    if (!nodes || !refs || !info) {
        err->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        snprintf(err->text, sizeof err->text, "out of memory");
    }
    free(nodes);
    free(refs);
    free(info);
    ua_arena_free(&arena);
    return ok;
}

/* One node met while browsing a folder. */
struct browsed_node {
    struct ua_nodeid id;
    int32_t parent; /* index, -1 below the folder itself */
    char *name;     /* browse name (no namespace) */
};

struct browse_walk {
    struct ua_client *c;
    const struct config_device *dev;
    struct ua_arena arena;
    struct browsed_node *nodes;
    size_t count, capacity;
    struct str_set visited;
    size_t *variables; /* indexes of Variable nodes */
    size_t variable_count, variable_capacity;
    size_t *budget; /* variables this device may still get */
    struct ua_discovery *out;
};

static bool walk_push(struct browse_walk *w, const struct ua_nodeid *id, int32_t parent,
                      struct ua_string name)
{
    if (w->count == w->capacity) {
        size_t cap = w->capacity ? w->capacity * 2 : 256;
        struct browsed_node *grown = realloc(w->nodes, cap * sizeof *grown);
        if (!grown) return false;
        w->nodes = grown;
        w->capacity = cap;
    }
    struct browsed_node *b = &w->nodes[w->count];
    size_t len = name.length > 0 ? (size_t)name.length : 0;
    b->name = ua_arena_alloc(&w->arena, len + 1);
    if (!b->name || !ua_nodeid_copy(id, &w->arena, &b->id)) return false;
    if (len) memcpy(b->name, name.data, len);
    b->name[len] = '\0';
    b->parent = parent;
    w->count++;
    return true;
}

static bool walk_note_variable(struct browse_walk *w, size_t index)
{
    if (w->variable_count == w->variable_capacity) {
        size_t cap = w->variable_capacity ? w->variable_capacity * 2 : 256;
        size_t *grown = realloc(w->variables, cap * sizeof *grown);
        if (!grown) return false;
        w->variables = grown;
        w->variable_capacity = cap;
    }
    w->variables[w->variable_count++] = index;
    return true;
}

/* Browses level by level below the folder: Objects are followed (down to
 * browse_max_depth levels), Variables collected (HasProperty children,
 * i.e. properties such as EURange, are not tags). */
static bool walk_folder(struct browse_walk *w, const struct ua_nodeid *folder,
                        struct ua_client_error *err)
{
    char key[512];
    ua_nodeid_format(folder, key, sizeof key);
    if (str_set_add(&w->visited, key) < 0) return false;
    size_t *level = malloc(sizeof *level), level_count = 1;
    struct ua_browse_description *desc = NULL;
    if (!level) return false;
    level[0] = SIZE_MAX; /* the folder itself */
    bool ok = true;
    for (uint32_t depth = 1; ok && level_count > 0 && depth <= w->dev->ua.browse_max_depth;
         depth++) {
        free(desc);
        desc = calloc(level_count, sizeof *desc);
        if (!desc) {
            ok = false;
            break;
        }
        for (size_t i = 0; i < level_count; i++) {
            desc[i].node_id = level[i] == SIZE_MAX ? *folder : w->nodes[level[i]].id;
            desc[i].browse_direction = UA_BROWSE_FORWARD;
            desc[i].reference_type_id = ua_nodeid_numeric(0, UA_NS0_HIERARCHICAL_REFERENCES);
            desc[i].include_subtypes = true;
            desc[i].node_class_mask = UA_NODE_CLASS_OBJECT | UA_NODE_CLASS_VARIABLE;
            desc[i].result_mask = UA_BROWSE_RESULT_ALL;
        }
        struct ua_browse_result *res = NULL;
        if (!ua_client_browse(w->c, desc, level_count, 0, &res, err)) {
            ok = false;
            break;
        }
        size_t *next = NULL, next_count = 0, next_cap = 0;
        for (size_t i = 0; ok && i < level_count; i++) {
            if (ua_status_is_bad(res[i].status)) continue;
            int32_t parent = level[i] == SIZE_MAX ? -1 : (int32_t)level[i];
            for (size_t r = 0; ok && r < res[i].references_count; r++) {
                const struct ua_reference_description *ref = &res[i].references[r];
                if (ref->node_id.server_index != 0 || ref->node_id.namespace_uri.length > 0)
                    continue;
                if (ref->reference_type_id.ns == 0 &&
                    ref->reference_type_id.type == UA_NODEID_NUMERIC &&
                    ref->reference_type_id.id.numeric == UA_NS0_HAS_PROPERTY)
                    continue;
                bool is_var = ref->node_class == UA_NODE_CLASS_VARIABLE;
                if (!is_var && ref->node_class != UA_NODE_CLASS_OBJECT) continue;
                ua_nodeid_format(&ref->node_id.nodeid, key, sizeof key);
                int added = str_set_add(&w->visited, key);
                if (added <= 0) {
                    ok = added == 0;
                    continue;
                }
                if (is_var && *w->budget == 0) {
                    w->out->truncated = true;
                    continue;
                }
                if (!walk_push(w, &ref->node_id.nodeid, parent, ref->browse_name.name)) {
                    ok = false;
                    break;
                }
                if (is_var) {
                    (*w->budget)--;
                    ok = walk_note_variable(w, w->count - 1);
                } else if (depth < w->dev->ua.browse_max_depth) {
                    if (next_count == next_cap) {
                        next_cap = next_cap ? next_cap * 2 : 64;
                        size_t *grown = realloc(next, next_cap * sizeof *grown);
                        if (!grown) {
                            ok = false;
                            break;
                        }
                        next = grown;
                    }
                    next[next_count++] = w->count - 1;
                } else {
                    w->out->truncated = true;
                }
            }
        }
        free(level);
        level = next;
        level_count = next_count;
    }
    if (level_count > 0 && ok) w->out->truncated = true;
    free(level);
    free(desc);
    return ok;
}

/* Turns the variables found under one folder into discovered tags. */
static bool walk_emit(struct browse_walk *w, const char *group, const char *folder,
                      struct str_set *names_used, struct ua_client_error *err)
{
    size_t n = w->variable_count;
    struct ua_nodeid *ids = calloc(n ? n : 1, sizeof *ids);
    struct node_info *info = calloc(n ? n : 1, sizeof *info);
    bool ok = ids && info;
    for (size_t i = 0; ok && i < n; i++)
        ids[i] = w->nodes[w->variables[i]].id;
    ok = ok && describe_nodes(w->c, ids, n, info, err);
    size_t ns_segments = 1;
    for (const char *p = w->dev->namespace_prefix; *p; p++)
        ns_segments += *p == '/';
    size_t max_segments = TAG_PATH_MAX_SEGMENTS - ns_segments;
    for (size_t i = 0; ok && i < n; i++) {
        const struct browsed_node *b = &w->nodes[w->variables[i]];
        if (ua_status_is_bad(info[i].status)) continue;
        if (info[i].is_array) {
            w->out->arrays_skipped++;
            continue;
        }
        if (!info[i].has_type) {
            w->out->unsupported_skipped++;
            continue;
        }
        const char *chain[BROWSE_PATH_MAX_ELEMENTS + 1];
        size_t depth = 0;
        for (int32_t at = (int32_t)w->variables[i]; at >= 0 && depth < BROWSE_PATH_MAX_ELEMENTS;
             at = w->nodes[at].parent)
            chain[depth++] = w->nodes[at].name;
        for (size_t a = 0; a < depth / 2; a++) {
            const char *tmp = chain[a];
            chain[a] = chain[depth - 1 - a];
            chain[depth - 1 - a] = tmp;
        }
        char name[TAG_PATH_MAX], unique[TAG_PATH_MAX + 8], node_text[1024];
        if (!ua_driver_tag_name(chain, depth, max_segments, name, sizeof name)) continue;
        snprintf(unique, sizeof unique, "%s", name);
        int added = str_set_add(names_used, unique);
        for (int suffix = 2; added == 0 && suffix <= NAME_SUFFIX_MAX; suffix++) {
            snprintf(unique, sizeof unique, "%s_%d", name, suffix);
            added = str_set_add(names_used, unique);
        }
        if (added < 0) ok = false;
        if (added <= 0) continue;
        if (ua_nodeid_format(&b->id, node_text, sizeof node_text) >= sizeof node_text) continue;
        ok = disc_add(w->out, group, folder, unique, node_text, info[i].type, info[i].unit);
    }
    if (!ids || !info) {
        err->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        snprintf(err->text, sizeof err->text, "out of memory");
    }
    free(ids);
    free(info);
    return ok;
}

/* Every browse folder of every group of dev. */
static bool discover_browsed(struct ua_client *c, const struct config_device *dev,
                             struct ua_discovery *out, struct ua_client_error *err)
{
    size_t budget = dev->ua.browse_max_tags;
    struct str_set names_used = {0};
    bool ok = true;
    for (size_t g = 0; ok && g < dev->group_count; g++) {
        const struct config_poll_group *grp = &dev->groups[g];
        for (size_t f = 0; ok && f < grp->browse_count; f++) {
            struct browse_walk w;
            memset(&w, 0, sizeof w);
            w.c = c;
            w.dev = dev;
            w.budget = &budget;
            w.out = out;
            ua_arena_init(&w.arena, 0, ARENA_LIMIT_BYTES);
            struct ua_nodeid folder;
            bool found = false;
            ok = resolve_ref(c, dev->name, grp->browse[f], &w.arena, &folder, &found, err);
            if (ok && found) ok = walk_folder(&w, &folder, err);
            if (ok && found) ok = walk_emit(&w, grp->name, grp->browse[f], &names_used, err);
            if (ok && found)
                log_info(LOG_MODULE, "browsed", "device=%s group=%s folder=\"%s\" variables=%zu",
                         dev->name, grp->name, grp->browse[f], w.variable_count);
            free(w.nodes);
            free(w.variables);
            str_set_free(&w.visited);
            ua_arena_free(&w.arena);
        }
    }
    str_set_free(&names_used);
    return ok;
}

bool ua_driver_discover(const struct config_device *dev, struct ua_discovery *out, char *err,
                        size_t err_len)
{
    memset(out, 0, sizeof *out);
    char session[128];
    snprintf(session, sizeof session, "airlock discovery %s", dev->name);
    struct ua_client_options o;
    client_options(dev, session, &o);
    struct ua_client_error e;
    memset(&e, 0, sizeof e);
    struct ua_client *c = ua_client_new(&o, &e);
    bool ok = c && ua_client_connect(c, &e);
    ok = ok && discover_listed(c, dev, out, &e) && discover_browsed(c, dev, out, &e);
    if (!ok) copy_error(err, err_len, &e);
    ua_client_free(c);
    return ok;
}

/* ============================================================== cache */

static const char *json_text(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool ua_discovery_save(const struct ua_discovery *d, const char *device, const char *endpoint,
                       const char *path, char *err, size_t err_len)
{
    char at[40];
    clock_format_rfc3339(clock_now_ns(), at, sizeof at);
    json_t *items = json_array();
    json_t *root =
        json_pack("{s:s,s:i,s:s,s:s,s:s,s:o}", "format", CACHE_FORMAT, "version", 1, "device",
                  device, "endpoint", endpoint, "discovered_at", at, "tags", items);
    if (!root) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    for (size_t i = 0; i < d->count; i++) {
        const struct ua_discovered *it = &d->items[i];
        json_t *o = it->group ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "group", it->group, "folder",
                                          it->folder, "name", it->name, "ref", it->ref, "type",
                                          value_type_name(it->type), "unit", it->unit)
                              : json_pack("{s:s,s:s,s:s}", "ref", it->ref, "type",
                                          value_type_name(it->type), "unit", it->unit);
        if (!o || json_array_append_new(items, o) != 0) {
            json_decref(root);
            snprintf(err, err_len, "out of memory");
            return false;
        }
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!text) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    size_t len = strlen(text), done = 0;
    while (ok && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            ok = false;
        else
            done += (size_t)n;
    }
    ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    free(text);
    if (!ok) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(e));
        unlink(tmp);
    }
    return ok;
}

/* A unit as copy_unit makes them: short, no control characters. */
static bool unit_text_ok(const char *unit)
{
    size_t len = strlen(unit);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)unit[i] < 0x20 || unit[i] == 0x7f) return false;
    return len <= UNIT_MAX_BYTES;
}

bool ua_discovery_load(const char *path, struct ua_discovery *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)CACHE_MAX_BYTES) {
        snprintf(err, err_len, "%s: not a regular file of at most 64 MiB", path);
        return false;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, err_len, "%s:%d: %s", path, jerr.line, jerr.text);
        return false;
    }
    const char *format = json_text(root, "format");
    json_t *tags = json_object_get(root, "tags");
    if (!format || strcmp(format, CACHE_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != 1 || !json_is_array(tags)) {
        snprintf(err, err_len, "%s: not an airlock OPC UA discovery file (version 1)", path);
        json_decref(root);
        return false;
    }
    bool ok = true;
    size_t i;
    json_t *o;
    json_array_foreach(tags, i, o)
    {
        const char *ref = json_text(o, "ref"), *type = json_text(o, "type");
        const char *unit = json_text(o, "unit"), *group = json_text(o, "group");
        const char *folder = json_text(o, "folder"), *name = json_text(o, "name");
        enum value_type vt;
        if (!ref || !type || !unit || !value_type_from_name(type, &vt) || !unit_text_ok(unit) ||
            (group && (!folder || !name)))
            continue;
        if (!disc_add(out, group, group ? folder : NULL, group ? name : NULL, ref, vt, unit)) {
            ok = false;
            snprintf(err, err_len, "out of memory");
            break;
        }
    }
    json_decref(root);
    if (!ok) ua_discovery_free(out);
    return ok;
}

/* ============================================================ prepare */

/* Opens (and so creates, the first time) airlock's certificate store
 * before any driver thread does, so that two devices never create two
 * certificates at once. */
static void ensure_pki(const char *dir)
{
    char host[256] = "localhost", uri[320], why[512];
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(uri, sizeof uri, "urn:%s:airlock", host);
    struct ua_pki *pki = ua_pki_open(dir, uri, host, why, sizeof why);
    if (!pki) {
        log_warn(LOG_MODULE, "certificate store unusable", "dir=%s error=\"%s\"", dir, why);
        return;
    }
    if (ua_pki_created(pki))
        log_info(LOG_MODULE,
                 "created airlock's application certificate: servers must trust it for "
                 "sign / signandencrypt",
                 "file=%s/own/cert.der thumbprint=%s", dir, ua_pki_own_info(pki)->thumbprint_hex);
    ua_pki_close(pki);
}

/* The paths of every tag of cfg, to keep discovered tags unique. */
static bool collect_paths(const struct config *cfg, struct str_set *paths)
{
    for (size_t d = 0; d < cfg->device_count; d++)
        for (size_t g = 0; g < cfg->devices[d].group_count; g++)
            for (size_t t = 0; t < cfg->devices[d].groups[g].tag_count; t++)
                if (str_set_add(paths, cfg->devices[d].groups[g].tags[t].tag.path) < 0)
                    return false;
    return true;
}

/* The listed tags without type / unit take them from disc. */
static void apply_listed(struct config_device *dev, struct config *cfg,
                         const struct ua_discovery *disc)
{
    for (size_t g = 0; g < dev->group_count; g++)
        for (size_t t = 0; t < dev->groups[g].tag_count; t++) {
            struct config_tag *ct = &dev->groups[g].tags[t];
            if (ct->ua.discovered || (ct->ua.type_given && ct->ua.unit_given)) continue;
            for (size_t i = 0; i < disc->count; i++) {
                const struct ua_discovered *it = &disc->items[i];
                if (it->group || strcmp(it->ref, tag_ref(ct)) != 0) continue;
                if (!ct->ua.type_given) ct->tag.type = it->type;
                if (!ct->ua.unit_given) {
                    char *unit = strpool_copy(&cfg->strings, it->unit);
                    if (unit) ct->tag.unit = unit;
                }
                break;
            }
        }
}

/* Whether text is a NodeId the driver can parse (a cache file may have been
 * edited). */
static bool nodeid_text_valid(const char *text)
{
    struct ua_arena arena;
    struct ua_nodeid id;
    ua_arena_init(&arena, 0, 1u << 20);
    bool ok = ua_nodeid_parse(text, strlen(text), &arena, &id, NULL, 0);
    ua_arena_free(&arena);
    return ok;
}

/* Appends the browsed tags of disc to their groups. False when out of
 * memory. */
static bool apply_browsed(struct config_device *dev, uint32_t device_index, struct config *cfg,
                          const struct ua_discovery *disc, struct str_set *paths, size_t *added)
{
    for (size_t g = 0; g < dev->group_count; g++) {
        struct config_poll_group *grp = &dev->groups[g];
        if (grp->browse_count == 0) continue;
        size_t want = 0;
        for (size_t i = 0; i < disc->count; i++)
            want += disc->items[i].group && strcmp(disc->items[i].group, grp->name) == 0;
        if (want == 0) continue;
        struct config_tag *tags = realloc(grp->tags, (grp->tag_count + want) * sizeof *tags);
        if (!tags) return false;
        grp->tags = tags;
        for (size_t f = 0; f < grp->browse_count; f++)
            for (size_t i = 0; i < disc->count; i++) {
                const struct ua_discovered *it = &disc->items[i];
                if (!it->group || strcmp(it->group, grp->name) != 0 ||
                    strcmp(it->folder, grp->browse[f]) != 0)
                    continue;
                char path[TAG_PATH_MAX + 72], why[160];
                int n = snprintf(path, sizeof path, "%s/%s", dev->namespace_prefix, it->name);
                if (n < 0 || (size_t)n >= sizeof path || !tag_path_valid(path, why, sizeof why) ||
                    !nodeid_text_valid(it->ref)) {
                    log_warn(LOG_MODULE, "discovered variable skipped: no valid tag path or NodeId",
                             "device=%s node=\"%s\" name=\"%s\"", dev->name, it->ref, it->name);
                    continue;
                }
                int fresh = str_set_add(paths, path);
                if (fresh < 0) return false;
                if (fresh == 0) {
                    log_warn(LOG_MODULE, "discovered variable skipped: its tag path is taken",
                             "device=%s node=\"%s\" path=%s", dev->name, it->ref, path);
                    continue;
                }
                struct config_tag *ct = &grp->tags[grp->tag_count];
                memset(ct, 0, sizeof *ct);
                ct->tag.path = strpool_copy(&cfg->strings, path);
                ct->tag.unit = strpool_copy(&cfg->strings, it->unit);
                ct->tag.description = strpool_copy(&cfg->strings, "");
                ct->ua.node = strpool_copy(&cfg->strings, it->ref);
                if (!ct->tag.path || !ct->tag.unit || !ct->tag.description || !ct->ua.node)
                    return false;
                ct->tag.type = it->type;
                ct->tag.device_index = device_index;
                ct->tag.scale.gain = 1.0;
                ct->ua.type_given = ct->ua.unit_given = ct->ua.discovered = true;
                ct->pos = grp->pos;
                grp->tag_count++;
                (*added)++;
            }
    }
    return true;
}

static bool device_needs_discovery(const struct config_device *dev)
{
    for (size_t g = 0; g < dev->group_count; g++) {
        if (dev->groups[g].browse_count) return true;
        for (size_t t = 0; t < dev->groups[g].tag_count; t++)
            if (!dev->groups[g].tags[t].ua.type_given || !dev->groups[g].tags[t].ua.unit_given)
                return true;
    }
    return false;
}

/* One device's discovery, run on its own thread so that devices that do
 * not answer cost the time of one, not of all. */
struct discovery_job {
    const struct config_device *dev;
    pthread_t thread;
    bool threaded;
    bool ok;
    struct ua_discovery disc;
    char why[1024];
};

static void *discovery_thread(void *arg)
{
    struct discovery_job *job = arg;
    job->ok = ua_driver_discover(job->dev, &job->disc, job->why, sizeof job->why);
    return NULL;
}

/* Saves a fresh result, or falls back to the saved one; then applies it. */
static bool finish_device(struct config *cfg, size_t di, struct discovery_job *job,
                          struct str_set *paths, char *err, size_t err_len)
{
    struct config_device *dev = &cfg->devices[di];
    const char *data_dir = cfg->data_dir ? cfg->data_dir : "./data";
    char dir[4096], file[4200];
    snprintf(dir, sizeof dir, "%s/opcua", data_dir);
    snprintf(file, sizeof file, "%s/%s.tags", dir, dev->name);
    bool have = false;
    if (job->ok) {
        have = true;
        char save_err[512] = "";
        if (!fs_make_dirs(dir)) snprintf(save_err, sizeof save_err, "%s", strerror(errno));
        if (save_err[0] || !ua_discovery_save(&job->disc, dev->name, dev->ua.endpoint, file,
                                              save_err, sizeof save_err))
            log_warn(LOG_MODULE, "discovery result not cached", "device=%s file=%s error=\"%s\"",
                     dev->name, file, save_err);
        if (job->disc.truncated)
            log_warn(LOG_MODULE, "browse stopped at browse_max_depth or browse_max_tags",
                     "device=%s max_depth=%u max_tags=%u", dev->name, dev->ua.browse_max_depth,
                     dev->ua.browse_max_tags);
        if (job->disc.arrays_skipped || job->disc.unsupported_skipped)
            log_warn(LOG_MODULE, "browsed variables skipped",
                     "device=%s arrays=%zu unsupported=%zu", dev->name, job->disc.arrays_skipped,
                     job->disc.unsupported_skipped);
    } else {
        ua_discovery_free(&job->disc);
        char load_err[512];
        if (!dev->enabled) snprintf(job->why, sizeof job->why, "device disabled");
        if (ua_discovery_load(file, &job->disc, load_err, sizeof load_err)) {
            have = true;
            log_warn(LOG_MODULE, "server not reachable for discovery: using the last known tags",
                     "device=%s file=%s error=\"%s\"", dev->name, file, job->why);
        } else {
            log_warn(LOG_MODULE,
                     "server not reachable for discovery and nothing cached: only the listed "
                     "tags, with types not checked (reload with kill -HUP once it is reachable)",
                     "device=%s error=\"%s\" cache=\"%s\"", dev->name, job->why, load_err);
        }
    }
    size_t added = 0;
    bool ok = true;
    if (have) {
        apply_listed(dev, cfg, &job->disc);
        ok = apply_browsed(dev, (uint32_t)di, cfg, &job->disc, paths, &added);
        log_info(LOG_MODULE, "tags discovered", "device=%s browsed_tags=%zu", dev->name, added);
    }
    ua_discovery_free(&job->disc);
    if (!ok) snprintf(err, err_len, "out of memory adding the discovered tags of '%s'", dev->name);
    return ok;
}

bool ua_driver_prepare(struct config *cfg, char *err, size_t err_len)
{
    struct discovery_job *jobs = calloc(cfg->device_count ? cfg->device_count : 1, sizeof *jobs);
    if (!jobs) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    bool pki_done = false, any = false, ok = true;
    char pki[4200];
    snprintf(pki, sizeof pki, "%s/pki", cfg->data_dir ? cfg->data_dir : "./data");
    for (size_t d = 0; ok && d < cfg->device_count; d++) {
        struct config_device *dev = &cfg->devices[d];
        if (dev->protocol != PROTOCOL_OPCUA) continue;
        free(dev->ua.pki_dir);
        dev->ua.pki_dir = strdup(pki);
        ok = dev->ua.pki_dir != NULL;
        if (dev->ua.security != CONFIG_UA_SECURITY_NONE && !pki_done) {
            ensure_pki(pki);
            pki_done = true;
        }
        any = any || device_needs_discovery(dev);
    }
    if (!ok) snprintf(err, err_len, "out of memory");
    /* Start every discovery, then wait for all of them. */
    for (size_t d = 0; ok && any && d < cfg->device_count; d++) {
        const struct config_device *dev = &cfg->devices[d];
        jobs[d].dev = dev;
        if (dev->protocol != PROTOCOL_OPCUA || !dev->enabled || !device_needs_discovery(dev))
            continue;
        jobs[d].threaded = pthread_create(&jobs[d].thread, NULL, discovery_thread, &jobs[d]) == 0;
        if (!jobs[d].threaded) discovery_thread(&jobs[d]);
    }
    for (size_t d = 0; d < cfg->device_count; d++)
        if (jobs[d].threaded) pthread_join(jobs[d].thread, NULL);
    struct str_set paths = {0};
    if (ok && any && !collect_paths(cfg, &paths)) {
        snprintf(err, err_len, "out of memory");
        ok = false;
    }
    for (size_t d = 0; d < cfg->device_count; d++) {
        const struct config_device *dev = &cfg->devices[d];
        if (ok && dev->protocol == PROTOCOL_OPCUA && device_needs_discovery(dev))
            ok = finish_device(cfg, d, &jobs[d], &paths, err, err_len);
        ua_discovery_free(&jobs[d].disc);
    }
    str_set_free(&paths);
    free(jobs);
    return ok;
}

/* ============================================================ runtime */

/* One tag of the running device. */
struct tag_rt {
    const struct config_tag *cfg;
    uint32_t tag_id;
    struct report_state st;
    struct ua_nodeid configured;           /* node tags: parsed once */
    struct ua_relative_path_element *path; /* path tags: parsed once */
    size_t path_len;
    struct ua_nodeid node; /* of the current connection */
    quality_t problem;     /* non-zero: a configuration problem, reported instead */
    bool warned_value;     /* a value that did not convert was logged */
    uint8_t write_type;    /* Variant type of a Write from the node's DataType (0: none) */
    uint8_t seen_type;     /* Variant type of the last scalar value received (0: none) */
};

/* A write queued by ua_driver_write() for the worker (see write_queue.h). */
struct ua_write_job {
    struct write_job base; /* first: the queue frees the block through it */
    size_t tag;            /* index in d->tags */
    struct value value;
};
_Static_assert(offsetof(struct ua_write_job, base) == 0, "the queue frees jobs through base");

struct group_rt {
    const struct config_poll_group *cfg;
    size_t first, count; /* tags[first..first+count) */
    int64_t next_due_ms;
    /* poll mode, per connection: what to read, and whose it is */
    struct ua_read_value_id *reads;
    uint32_t *read_tag;
    size_t read_count;
};

struct ua_driver {
    const struct config_device *dev;
    struct driver_env env;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int wake_fd;
    struct ua_client *client;
    bool connected;
    bool resubscribe; /* the server ended a subscription: connect again */
    int64_t backoff_ms;
    int64_t retry_at_ms;
    struct tag_rt *tags;
    size_t tag_count;
    struct group_rt *groups;
    size_t group_count;
    struct ua_arena static_arena; /* parsed NodeIds and browse paths */
    struct ua_arena conn_arena;   /* resolved NodeIds and read lists of the connection */
    struct sample_batch *batch;   /* being filled */
    size_t problem_count;         /* tags with a problem on this connection */
    char last_error[256];         /* why the last connection failed */
    /* The write queue from ua_driver_write(); notify_fd (an eventfd) wakes
     * the worker (ua_client_poll ends early) without interrupting a request. */
    struct write_queue writes;
    int notify_fd;
    char session_name[128];
    char text[TEXT_SCRATCH_BYTES]; /* conversion scratch */
};

static struct sample_batch *batch_of(struct ua_driver *d)
{
    if (!d->batch) {
        d->batch = sample_batch_new(64);
        if (d->batch) d->batch->device_index = d->env.device_index;
    }
    return d->batch;
}

static void flush_batch(struct ua_driver *d)
{
    if (!d->batch || d->batch->count == 0) return;
    boundary_send(d->env.boundary, d->batch);
    d->batch = NULL;
}

/* report_failure, keeping the last value. A string last value is passed as
 * a copy: report_reading reallocates the state's string before copying
 * the new one, so it must not be handed the state's own string. */
static void report_tag_failure(struct ua_driver *d, struct tag_rt *t, quality_t q, int64_t ts_ns)
{
    struct sample_batch *b = batch_of(d);
    if (!b) return;
    if (!t->st.reported || t->st.last_value.type != VALUE_STRING) {
        report_failure(b, &t->cfg->tag, t->tag_id, &t->st, q, ts_ns);
        return;
    }
    if (!report_needed(&t->cfg->tag, &t->st, &t->st.last_value, q)) return;
    struct value v = t->st.last_value;
    char *copy = malloc(v.as.str.len + 1);
    if (!copy) return;
    memcpy(copy, v.as.str.ptr, v.as.str.len);
    v.as.str.ptr = copy;
    report_reading(b, &t->cfg->tag, t->tag_id, &t->st, &v, q, ts_ns);
    free(copy);
}

/* source timestamp, else server timestamp, else now (ns since 1970). */
static int64_t value_time(const struct ua_datavalue *dv, int64_t now_ns)
{
    int64_t ts = 0;
    if ((dv->mask & UA_DATAVALUE_HAS_SOURCE_TIMESTAMP) && dv->source_timestamp > 0)
        ts = ua_datetime_to_unix_ns(dv->source_timestamp);
    if ((ts <= 0 || ts == INT64_MAX) && (dv->mask & UA_DATAVALUE_HAS_SERVER_TIMESTAMP) &&
        dv->server_timestamp > 0)
        ts = ua_datetime_to_unix_ns(dv->server_timestamp);
    return ts <= 0 || ts == INT64_MAX ? now_ns : ts;
}

/* One DataValue of tag t (from a notification or a Read) into the batch. */
static void handle_value(struct ua_driver *d, struct tag_rt *t, const struct ua_datavalue *dv,
                         int64_t now_ns)
{
    if (t->problem) return;
    if (!dv->value.is_array && dv->value.type != UA_TYPE_NULL) t->seen_type = dv->value.type;
    int64_t ts = value_time(dv, now_ns);
    quality_t q = dv->status;
    if (quality_is_bad(q)) {
        report_tag_failure(d, t, q, ts);
        return;
    }
    struct value v;
    const char *why = NULL;
    if (!ua_driver_convert(&dv->value, t->cfg->tag.type, &v, d->text, sizeof d->text, &why)) {
        if (!t->warned_value) {
            t->warned_value = true;
            log_warn(LOG_MODULE, "value not usable for its tag",
                     "device=%s tag=%s server_type=%s%s tag_type=%s error=\"%s\"", d->dev->name,
                     t->cfg->tag.path, ua_type_name(dv->value.type), dv->value.is_array ? "[]" : "",
                     value_type_name(t->cfg->tag.type), why);
            device_stats_set_error(d->env.stats, "tag %s: %s value from the server: %s",
                                   t->cfg->tag.path, ua_type_name(dv->value.type), why);
        }
        report_tag_failure(d, t, QUALITY_BAD_CONFIGURATION_ERROR, ts);
        return;
    }
    struct sample_batch *b = batch_of(d);
    if (!b) return;
    report_reading(b, &t->cfg->tag, t->tag_id, &t->st, &v, q, ts);
    if (quality_is_good(q)) atomic_fetch_add(&d->env.stats->values, 1);
}

static void on_data_change(void *ctx, uint32_t subscription_id,
                           const struct ua_monitored_item_value *values, size_t count,
                           int64_t publish_time)
{
    struct ua_driver *d = ctx;
    (void)subscription_id;
    (void)publish_time;
    int64_t now = clock_now_ns();
    for (size_t i = 0; i < count; i++)
        if (values[i].client_handle < d->tag_count)
            handle_value(d, &d->tags[values[i].client_handle], &values[i].value, now);
    atomic_fetch_add(&d->env.stats->polls, 1);
    atomic_store(&d->env.stats->last_success_ns, now);
}

static void on_keep_alive(void *ctx, uint32_t subscription_id, int64_t publish_time)
{
    struct ua_driver *d = ctx;
    (void)subscription_id;
    (void)publish_time;
    atomic_fetch_add(&d->env.stats->polls, 1);
    atomic_store(&d->env.stats->last_success_ns, clock_now_ns());
}

static void on_status_change(void *ctx, uint32_t subscription_id, uint32_t status)
{
    struct ua_driver *d = ctx;
    log_warn(LOG_MODULE, "the server ended a subscription: subscribing again",
             "device=%s subscription=%u status=%s", d->dev->name, subscription_id,
             ua_status_name(status));
    d->resubscribe = true;
}

/* Quality for the tags of a device whose connection failed with status. */
static quality_t connection_quality(uint32_t status)
{
    switch (status & 0xFFFF0000u) {
    case UA_STATUS_BAD_TIMEOUT:
    case UA_STATUS_BAD_REQUEST_TIMEOUT:
        return QUALITY_BAD_TIMEOUT;
    case UA_STATUS_BAD_DECODING_ERROR:
    case UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED:
    case UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID:
    case UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE:
    case UA_STATUS_BAD_UNKNOWN_RESPONSE:
    case UA_STATUS_BAD_SECURITY_CHECKS_FAILED:
    case UA_STATUS_BAD_PROTOCOL_VERSION_UNSUPPORTED:
        return QUALITY_BAD_COMMUNICATION_ERROR;
    default:
        return QUALITY_BAD_NO_COMMUNICATION;
    }
}

static void back_off(struct ua_driver *d)
{
    if (d->backoff_ms == 0)
        d->backoff_ms = d->dev->backoff_initial_ms;
    else if (d->backoff_ms < (int64_t)d->dev->backoff_max_ms)
        d->backoff_ms *= 2;
    if (d->backoff_ms > (int64_t)d->dev->backoff_max_ms) d->backoff_ms = d->dev->backoff_max_ms;
    d->retry_at_ms = clock_mono_ms() + d->backoff_ms;
    atomic_store(&d->env.stats->state, DEVICE_BACKOFF);
}

/* The connection (or the attempt) failed: close it, mark every tag Bad,
 * back off. what says when ("connect", "connection lost"). */
static void connection_failed(struct ua_driver *d, const char *what,
                              const struct ua_client_error *e)
{
    if (d->client) ua_client_disconnect(d->client);
    bool was_connected = d->connected;
    d->connected = false;
    if (atomic_load(&d->stop)) return; /* stopping: not the device's failure */
    atomic_fetch_add(&d->env.stats->errors, 1);
    if ((e->status & 0xFFFF0000u) == UA_STATUS_BAD_TIMEOUT)
        atomic_fetch_add(&d->env.stats->timeouts, 1);
    /* The client's texts start with the step that failed ("connect: ..."). */
    if (e->text[0])
        errbuf_set(d->last_error, sizeof d->last_error, "%s", e->text);
    else
        snprintf(d->last_error, sizeof d->last_error, "%s: %s", what, ua_status_name(e->status));
    device_stats_set_error(d->env.stats, "%s", d->last_error);
    back_off(d);
    log_warn(LOG_MODULE, was_connected ? "connection lost" : "cannot connect",
             "device=%s endpoint=\"%s\" error=\"%s\" retry_in_ms=%" PRId64, d->dev->name,
             d->dev->ua.endpoint, e->text, d->backoff_ms);
    quality_t q = connection_quality(e->status);
    int64_t now = clock_now_ns();
    for (size_t i = 0; i < d->tag_count; i++)
        report_tag_failure(d, &d->tags[i], q, now);
    flush_batch(d);
}

/* Resolves the browse paths of path tags; unresolved ones get a problem. */
static bool resolve_paths(struct ua_driver *d, struct ua_client_error *e)
{
    size_t n = 0;
    for (size_t i = 0; i < d->tag_count; i++)
        n += d->tags[i].path != NULL;
    if (n == 0) return true;
    struct ua_browse_path *paths = calloc(n, sizeof *paths);
    size_t *which = calloc(n, sizeof *which);
    bool ok = paths && which;
    size_t k = 0;
    for (size_t i = 0; ok && i < d->tag_count; i++) {
        if (!d->tags[i].path) continue;
        paths[k].starting_node = ua_nodeid_numeric(0, UA_NS0_ROOT_FOLDER);
        paths[k].elements = d->tags[i].path;
        paths[k].elements_count = d->tags[i].path_len;
        which[k++] = i;
    }
    struct ua_browse_path_result *res = NULL;
    if (ok && !ua_client_translate_browse_paths(d->client, paths, n, &res, e)) ok = false;
    for (size_t j = 0; ok && j < n; j++) {
        struct tag_rt *t = &d->tags[which[j]];
        if (ua_status_is_bad(res[j].status) || res[j].targets_count == 0 ||
            res[j].targets[0].target_id.server_index != 0 ||
            !ua_nodeid_copy(&res[j].targets[0].target_id.nodeid, &d->conn_arena, &t->node)) {
            t->problem = QUALITY_BAD_CONFIGURATION_ERROR;
            log_warn(LOG_MODULE, "browse path not found on the server",
                     "device=%s tag=%s path=\"%s\" status=%s", d->dev->name, t->cfg->tag.path,
                     t->cfg->ua.browse_path, ua_status_name(res[j].status));
            device_stats_set_error(d->env.stats, "tag %s: browse path %s: %s", t->cfg->tag.path,
                                   t->cfg->ua.browse_path, ua_status_name(res[j].status));
        }
    }
    if (!paths || !which) {
        e->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        e->reconnect = false;
        snprintf(e->text, sizeof e->text, "out of memory resolving browse paths");
    }
    free(paths);
    free(which);
    return ok;
}

/* Reads DataType and ValueRank of every resolved tag: arrays and unknown
 * nodes become problems, type mismatches are logged. */
static bool check_nodes(struct ua_driver *d, struct ua_client_error *e)
{
    size_t n = 0;
    for (size_t i = 0; i < d->tag_count; i++)
        n += !d->tags[i].problem;
    if (n == 0) return true;
    struct ua_read_value_id *rd = calloc(2 * n, sizeof *rd);
    size_t *which = calloc(n, sizeof *which);
    bool ok = rd && which;
    size_t k = 0;
    for (size_t i = 0; ok && i < d->tag_count; i++) {
        if (d->tags[i].problem) continue;
        rd[2 * k] = read_id(&d->tags[i].node, UA_ATTRIBUTE_DATA_TYPE);
        rd[2 * k + 1] = read_id(&d->tags[i].node, UA_ATTRIBUTE_VALUE_RANK);
        which[k++] = i;
    }
    struct ua_datavalue *dv = NULL;
    if (ok && !ua_client_read(d->client, rd, 2 * n, UA_TIMESTAMPS_NEITHER, 0, &dv, e)) ok = false;
    for (size_t j = 0; ok && j < n; j++) {
        struct tag_rt *t = &d->tags[which[j]];
        const struct ua_datavalue *dt = &dv[2 * j], *rank = &dv[2 * j + 1];
        char node[256];
        ua_nodeid_format(&t->node, node, sizeof node);
        if (ua_status_is_bad(dt->status)) {
            t->problem = QUALITY_BAD_CONFIGURATION_ERROR;
            log_warn(LOG_MODULE, "tag's node not usable", "device=%s tag=%s node=\"%s\" status=%s",
                     d->dev->name, t->cfg->tag.path, node, ua_status_name(dt->status));
            device_stats_set_error(d->env.stats, "tag %s: node %s: %s", t->cfg->tag.path, node,
                                   ua_status_name(dt->status));
            continue;
        }
        if (!rank->value.is_array && rank->value.type == UA_TYPE_INT32 &&
            rank->value.as.int32 >= 0) {
            t->problem = QUALITY_BAD_CONFIGURATION_ERROR;
            log_warn(LOG_MODULE, "tag's node holds an array: skipped (arrays are not supported)",
                     "device=%s tag=%s node=\"%s\" value_rank=%d", d->dev->name, t->cfg->tag.path,
                     node, (int)rank->value.as.int32);
            device_stats_set_error(d->env.stats, "tag %s: node %s holds an array (not supported)",
                                   t->cfg->tag.path, node);
            continue;
        }
        if (!dt->value.is_array && dt->value.type == UA_TYPE_NODEID && dt->value.as.nodeid)
            t->write_type = (uint8_t)ua_driver_write_type_of_datatype(dt->value.as.nodeid);
        enum value_type server_type;
        if (!dt->value.is_array && dt->value.type == UA_TYPE_NODEID && dt->value.as.nodeid &&
            ua_driver_type_of_datatype(dt->value.as.nodeid, &server_type) &&
            server_type != t->cfg->tag.type && t->cfg->tag.type != VALUE_STRING &&
            !(t->cfg->tag.type == VALUE_DOUBLE && server_type != VALUE_STRING)) {
            char dtype[128];
            ua_nodeid_format(dt->value.as.nodeid, dtype, sizeof dtype);
            log_warn(LOG_MODULE,
                     "the server's data type differs from the tag's: values that do not fit are "
                     "Bad_ConfigurationError (reload to take the server's type)",
                     "device=%s tag=%s data_type=%s server_type=%s tag_type=%s", d->dev->name,
                     t->cfg->tag.path, dtype, value_type_name(server_type),
                     value_type_name(t->cfg->tag.type));
        }
    }
    if (!rd || !which) {
        e->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        e->reconnect = false;
        snprintf(e->text, sizeof e->text, "out of memory checking nodes");
    }
    free(rd);
    free(which);
    return ok;
}

static void fill_item(const struct tag_rt *t, const struct config_poll_group *g, uint32_t handle,
                      bool with_filter, struct ua_monitored_item_create_request *it)
{
    memset(it, 0, sizeof *it);
    it->item_to_monitor = read_id(&t->node, UA_ATTRIBUTE_VALUE);
    it->monitoring_mode = UA_MONITORING_REPORTING;
    it->client_handle = handle;
    it->sampling_interval_ms = g->sampling_ms;
    it->queue_size = g->queue_size;
    it->discard_oldest = true;
    if (with_filter && t->cfg->ua.server_deadband != DEADBAND_NONE) {
        it->has_filter = true;
        it->filter.trigger = UA_TRIGGER_STATUS_VALUE;
        it->filter.deadband_type = t->cfg->ua.server_deadband == DEADBAND_PERCENT
                                       ? UA_DEADBAND_PERCENT
                                       : UA_DEADBAND_ABSOLUTE;
        it->filter.deadband_value = t->cfg->ua.server_deadband_value;
    }
}

/* Creates the monitored items of group g in subscription sub: items the
 * server refuses with their deadband filter are made again without it
 * (airlock's own deadband then applies); others the server refuses become
 * problems. */
static bool create_items(struct ua_driver *d, struct group_rt *g, uint32_t sub,
                         struct ua_client_error *e)
{
    struct ua_monitored_item_create_request *items = calloc(g->count, sizeof *items);
    bool ok = items != NULL;
    size_t n = 0;
    for (size_t i = g->first; ok && i < g->first + g->count; i++)
        if (!d->tags[i].problem) fill_item(&d->tags[i], g->cfg, (uint32_t)i, true, &items[n++]);
    struct ua_monitored_item_create_result *res = NULL;
    if (ok && n > 0 &&
        !ua_client_create_monitored_items(d->client, sub, UA_TIMESTAMPS_BOTH, items, n, &res, e))
        ok = false;
    size_t retry = 0;
    for (size_t j = 0; ok && j < n; j++) {
        if (!ua_status_is_bad(res[j].status)) continue;
        struct tag_rt *t = &d->tags[items[j].client_handle];
        if (items[j].has_filter) {
            log_warn(LOG_MODULE, "the server refused the deadband filter: airlock applies it",
                     "device=%s tag=%s status=%s", d->dev->name, t->cfg->tag.path,
                     ua_status_name(res[j].status));
            fill_item(t, g->cfg, items[j].client_handle, false, &items[retry++]);
            continue;
        }
        t->problem = QUALITY_BAD_CONFIGURATION_ERROR;
        log_warn(LOG_MODULE, "the server refused a monitored item", "device=%s tag=%s status=%s",
                 d->dev->name, t->cfg->tag.path, ua_status_name(res[j].status));
        device_stats_set_error(d->env.stats, "tag %s: monitored item refused: %s", t->cfg->tag.path,
                               ua_status_name(res[j].status));
    }
    if (ok && retry > 0 &&
        !ua_client_create_monitored_items(d->client, sub, UA_TIMESTAMPS_BOTH, items, retry, &res,
                                          e))
        ok = false;
    for (size_t j = 0; ok && j < retry; j++) {
        if (!ua_status_is_bad(res[j].status)) continue;
        struct tag_rt *t = &d->tags[items[j].client_handle];
        t->problem = QUALITY_BAD_CONFIGURATION_ERROR;
        log_warn(LOG_MODULE, "the server refused a monitored item", "device=%s tag=%s status=%s",
                 d->dev->name, t->cfg->tag.path, ua_status_name(res[j].status));
    }
    if (!items) {
        e->status = UA_STATUS_BAD_OUT_OF_MEMORY;
        e->reconnect = false;
        snprintf(e->text, sizeof e->text, "out of memory creating monitored items");
    }
    free(items);
    return ok;
}

static bool group_has_usable_tags(const struct ua_driver *d, const struct group_rt *g)
{
    for (size_t i = g->first; i < g->first + g->count; i++)
        if (!d->tags[i].problem) return true;
    return false;
}

/* One subscription per group with usable tags. */
static bool create_subscriptions(struct ua_driver *d, struct ua_client_error *e)
{
    for (size_t gi = 0; gi < d->group_count; gi++) {
        struct group_rt *g = &d->groups[gi];
        if (!group_has_usable_tags(d, g)) continue;
        struct ua_client_subscription_params p = {.publishing_interval_ms = g->cfg->interval_ms};
        /* A keep-alive at least every 10 s, and at most every 10 intervals. */
        uint32_t keep_alive = g->cfg->interval_ms >= 1000 ? 10000 / g->cfg->interval_ms : 10;
        p.max_keep_alive_count = keep_alive < 1 ? 1 : keep_alive;
        struct ua_client_subscription sub;
        if (!ua_client_create_subscription(d->client, &p, &sub, e)) return false;
        if (!create_items(d, g, sub.subscription_id, e)) return false;
    }
    return true;
}

/* Poll mode: the Read list of each group for this connection. */
static bool build_reads(struct ua_driver *d, struct ua_client_error *e)
{
    for (size_t gi = 0; gi < d->group_count; gi++) {
        struct group_rt *g = &d->groups[gi];
        g->read_count = 0;
        g->reads = ua_arena_alloc_array(&d->conn_arena, g->count ? g->count : 1, sizeof *g->reads);
        g->read_tag =
            ua_arena_alloc_array(&d->conn_arena, g->count ? g->count : 1, sizeof *g->read_tag);
        if (!g->reads || !g->read_tag) {
            e->status = UA_STATUS_BAD_OUT_OF_MEMORY;
            e->reconnect = false;
            snprintf(e->text, sizeof e->text, "out of memory");
            return false;
        }
        for (size_t i = g->first; i < g->first + g->count; i++) {
            if (d->tags[i].problem) continue;
            g->reads[g->read_count] = read_id(&d->tags[i].node, UA_ATTRIBUTE_VALUE);
            g->read_tag[g->read_count++] = (uint32_t)i;
        }
        g->next_due_ms = clock_mono_ms();
    }
    return true;
}

/* Appends "; name=value" (or "name=value" first) to out[*used..len). */
static void identity_append(char *out, size_t len, size_t *used, const char *name,
                            const char *value, int value_len)
{
    if (*used >= len) return;
    int n =
        snprintf(out + *used, len - *used, "%s%s=%.*s", *used ? "; " : "", name, value_len, value);
    if (n > 0) *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

/* The server's identity for the OT monitor (monitor/ot_monitor.h): the SHA-1
 * thumbprint of its certificate, then ProductUri, SoftwareVersion and
 * BuildNumber of Server.ServerStatus.BuildInfo (ns=0;i=2262, 2264, 2265)
 * where the server answers them. Not counted in the statistics. */
static void set_server_identity(struct ua_driver *d)
{
    static const uint32_t ids[3] = {2262, 2264, 2265};
    static const char *const names[3] = {"ProductUri", "SoftwareVersion", "BuildNumber"};
    char text[sizeof d->env.stats->identity];
    size_t used = 0;
    text[0] = '\0';
    const struct ua_client_info *info = ua_client_info(d->client);
    if (info && info->server_thumbprint_hex[0])
        identity_append(text, sizeof text, &used, "CertificateSha1", info->server_thumbprint_hex,
                        (int)strlen(info->server_thumbprint_hex));
    struct ua_read_value_id rd[3];
    for (int i = 0; i < 3; i++) {
        struct ua_nodeid node = ua_nodeid_numeric(0, ids[i]);
        rd[i] = read_id(&node, UA_ATTRIBUTE_VALUE);
    }
    struct ua_datavalue *dv = NULL;
    struct ua_client_error e;
    if (ua_client_read(d->client, rd, 3, UA_TIMESTAMPS_NEITHER, 0, &dv, &e))
        for (int i = 0; i < 3; i++) {
            const struct ua_variant *v = &dv[i].value;
            if (ua_status_is_good(dv[i].status) && v->type == UA_TYPE_STRING && !v->is_array &&
                v->as.string.length > 0)
                identity_append(text, sizeof text, &used, names[i], v->as.string.data,
                                v->as.string.length);
        }
    device_stats_set_identity(d->env.stats, text);
}

/* Connects and sets everything up; on failure calls connection_failed. */
static void establish(struct ua_driver *d)
{
    struct ua_client_error e;
    memset(&e, 0, sizeof e);
    if (!d->client) {
        struct ua_client_options o;
        client_options(d->dev, d->session_name, &o);
        o.handlers = (struct ua_client_handlers){.ctx = d,
                                                 .data_change = on_data_change,
                                                 .status_change = on_status_change,
                                                 .keep_alive = on_keep_alive};
        size_t publish = d->group_count + 2;
        o.publish_requests =
            (uint32_t)(publish > UA_CLIENT_MAX_PUBLISH_REQUESTS ? UA_CLIENT_MAX_PUBLISH_REQUESTS
                       : publish < 3                            ? 3
                                                                : publish);
        o.use_wake_fd = true;
        o.wake_fd = d->wake_fd;
        o.use_notify_fd = true;
        o.notify_fd = d->notify_fd;
        d->client = ua_client_new(&o, &e);
        if (!d->client) {
            connection_failed(d, "client", &e);
            return;
        }
    }
    int64_t started = clock_mono_ns();
    if (!ua_client_connect(d->client, &e)) {
        connection_failed(d, "connect", &e);
        return;
    }
    ua_arena_reset(&d->conn_arena);
    d->resubscribe = false;
    for (size_t i = 0; i < d->tag_count; i++) {
        struct tag_rt *t = &d->tags[i];
        t->problem = 0;
        t->warned_value = false;
        t->write_type = 0;
        t->seen_type = 0;
        /* A path tag's node is resolved anew (the last one was in conn_arena). */
        if (t->path)
            memset(&t->node, 0, sizeof t->node);
        else
            t->node = t->configured;
    }
    bool ok =
        resolve_paths(d, &e) && check_nodes(d, &e) &&
        (d->dev->ua.mode == CONFIG_UA_POLL ? build_reads(d, &e) : create_subscriptions(d, &e));
    if (!ok) {
        connection_failed(d, "set up", &e);
        return;
    }
    d->connected = true;
    d->backoff_ms = 0;
    set_server_identity(d);
    size_t problems = 0;
    int64_t now = clock_now_ns();
    for (size_t i = 0; i < d->tag_count; i++)
        if (d->tags[i].problem) {
            problems++;
            report_tag_failure(d, &d->tags[i], d->tags[i].problem, now);
        }
    flush_batch(d);
    d->problem_count = problems;
    atomic_fetch_add(&d->env.stats->reconnects, 1);
    atomic_store(&d->env.stats->last_success_ns, now);
    atomic_store(&d->env.stats->state, problems ? DEVICE_DEGRADED : DEVICE_CONNECTED);
    device_stats_observe_latency(d->env.stats, clock_mono_ns() - started);
    const struct ua_client_info *info = ua_client_info(d->client);
    log_info(LOG_MODULE, "connected",
             "device=%s endpoint=\"%s\" security=\"%s\" mode=%s tags=%zu unusable=%zu "
             "server_thumbprint=%s",
             d->dev->name, d->dev->ua.endpoint, security_name(d->dev->ua.security),
             d->dev->ua.mode == CONFIG_UA_POLL ? "poll" : "subscribe", d->tag_count, problems,
             info && info->server_thumbprint_hex[0] ? info->server_thumbprint_hex : "-");
}

/* Poll mode: reads group g now. */
static void poll_group(struct ua_driver *d, struct group_rt *g)
{
    if (g->read_count == 0) return;
    struct ua_client_error e;
    struct ua_datavalue *dv = NULL;
    int64_t started = clock_mono_ns();
    atomic_fetch_add(&d->env.stats->requests, 1);
    if (!ua_client_read(d->client, g->reads, g->read_count, UA_TIMESTAMPS_BOTH, 0, &dv, &e)) {
        if (e.reconnect) {
            connection_failed(d, "Read", &e);
            return;
        }
        atomic_fetch_add(&d->env.stats->errors, 1);
        device_stats_set_error(d->env.stats, "Read of group %s: %s", g->cfg->name, e.text);
        atomic_store(&d->env.stats->state, DEVICE_DEGRADED);
        int64_t now = clock_now_ns();
        for (size_t j = 0; j < g->read_count; j++)
            report_tag_failure(d, &d->tags[g->read_tag[j]], QUALITY_BAD_COMMUNICATION_ERROR, now);
        flush_batch(d);
        return;
    }
    int64_t now = clock_now_ns();
    for (size_t j = 0; j < g->read_count; j++)
        handle_value(d, &d->tags[g->read_tag[j]], &dv[j], now);
    flush_batch(d);
    atomic_fetch_add(&d->env.stats->polls, 1);
    atomic_store(&d->env.stats->last_success_ns, now);
    atomic_store(&d->env.stats->state, d->problem_count ? DEVICE_DEGRADED : DEVICE_CONNECTED);
    device_stats_observe_latency(d->env.stats, clock_mono_ns() - started);
}

/* Waits up to ms for the stop signal or a queued write. */
static void wait_for_stop(struct ua_driver *d, int64_t ms)
{
    if (ms <= 0) return;
    struct pollfd p[2] = {{.fd = d->wake_fd, .events = POLLIN},
                          {.fd = d->notify_fd, .events = POLLIN}};
    poll(p, 2, (int)(ms > WAIT_SLICE_MS ? WAIT_SLICE_MS : ms));
}

/* Serves the connection for a while: Publish responses (subscribe mode) or
 * the next due group (poll mode). */
static void run_connected(struct ua_driver *d)
{
    struct ua_client_error e;
    int64_t wait_ms = WAIT_SLICE_MS;
    struct group_rt *due = NULL;
    if (d->dev->ua.mode == CONFIG_UA_POLL) {
        for (size_t i = 0; i < d->group_count; i++)
            if (d->groups[i].read_count && (!due || d->groups[i].next_due_ms < due->next_due_ms))
                due = &d->groups[i];
        int64_t now = clock_mono_ms();
        if (due && due->next_due_ms <= now) {
            poll_group(d, due);
            if (!d->connected) return;
            now = clock_mono_ms();
            due->next_due_ms += due->cfg->interval_ms;
            if (due->next_due_ms <= now) {
                int64_t missed = (now - due->next_due_ms) / due->cfg->interval_ms + 1;
                atomic_fetch_add(&d->env.stats->skipped_polls, (uint64_t)missed);
                due->next_due_ms += missed * due->cfg->interval_ms;
            }
            return;
        }
        if (due && due->next_due_ms - now < wait_ms) wait_ms = due->next_due_ms - now;
    }
    bool ok = ua_client_poll(d->client, (uint32_t)wait_ms, &e);
    flush_batch(d);
    if (!ok) {
        connection_failed(d, "connection", &e);
        return;
    }
    if (d->resubscribe) {
        memset(&e, 0, sizeof e);
        e.status = UA_STATUS_BAD_NO_SUBSCRIPTION;
        snprintf(e.text, sizeof e.text, "the server ended a subscription");
        connection_failed(d, "subscription", &e);
    }
}

/* ============================================================ writes */

/* Publishes a read-back as a sample of the tag (always, whatever the
 * deadband: the last-value table must show what the server now holds) and
 * makes it the tag's last reported reading. */
static void publish_read_back(struct ua_driver *d, struct tag_rt *t, const struct value *v,
                              quality_t q, int64_t ts_ns)
{
    flush_batch(d); /* samples received during the write go first */
    struct sample_batch *batch = sample_batch_new(1);
    if (!batch) return;
    batch->device_index = d->env.device_index;
    if (!sample_batch_add(batch, t->tag_id, ts_ns, q, v)) {
        sample_batch_free(batch);
        return;
    }
    t->st.reported = true;
    t->st.last_quality = q;
    t->st.last_value = *v; /* never a string: string tags are not writable */
    if (quality_is_good(q)) atomic_fetch_add(&d->env.stats->values, 1);
    boundary_send(d->env.boundary, batch);
}

/* What a Bad result of a Write usually means, for the error line. */
static const char *write_status_hint(uint32_t status)
{
    switch (status & 0xFFFF0000u) {
    case UA_STATUS_BAD_NOT_WRITABLE:
        return ": the node is read-only (its AccessLevel has no CurrentWrite)";
    case UA_STATUS_BAD_USER_ACCESS_DENIED:
        return ": the session's user may not write this node";
    case UA_STATUS_BAD_TYPE_MISMATCH:
        return ": the server wants another data type";
    case 0x803C0000u: /* BadOutOfRange */
        return ": the value is outside the range the server accepts";
    case 0x80730000u: /* BadWriteNotSupported */
        return ": the server does not support this kind of write";
    case UA_STATUS_BAD_NODE_ID_UNKNOWN:
        return ": the node no longer exists";
    default:
        return "";
    }
}

/* The Write service call failed with e: describe it into out->error and,
 * when the connection or session is gone, end the connection. */
static void write_call_failed(struct ua_driver *d, struct tag_rt *t, const char *what,
                              struct ua_client_error *e, struct driver_write_result *out)
{
    bool stopping = atomic_load(&d->stop);
    if (!stopping) atomic_fetch_add(&d->env.stats->errors, 1);
    if (stopping)
        snprintf(out->error, sizeof out->error, "device stopping");
    else if (!out->written && (e->status & 0xFFFF0000u) == UA_STATUS_BAD_TIMEOUT)
        errbuf_set(out->error, sizeof out->error,
                   "%s: the server may or may not have applied the write", e->text);
    else if (out->written)
        errbuf_set(out->error, sizeof out->error, "written, but the read-back failed: %s", e->text);
    else if (e->reconnect)
        errbuf_set(out->error, sizeof out->error, "write failed: %s", e->text);
    else
        errbuf_set(out->error, sizeof out->error, "the server refused the Write request: %s",
                   e->text);
    if (!stopping) {
        device_stats_set_error(d->env.stats, "tag %s: %s", t->cfg->tag.path, out->error);
        log_warn(LOG_MODULE, out->written ? "read-back failed" : "write failed",
                 "device=%s tag=%s error=\"%s\"", d->dev->name, t->cfg->tag.path, out->error);
    }
    if (e->reconnect) connection_failed(d, what, e);
}

/* Connects for a write if not connected and the back-off allows it. */
static bool connect_for_write(struct ua_driver *d, char *why, size_t why_len)
{
    if (d->connected) return true;
    int64_t now = clock_mono_ms();
    if (now >= d->retry_at_ms) establish(d);
    if (d->connected) return true;
    if (atomic_load(&d->stop)) {
        snprintf(why, why_len, "device stopping");
        return false;
    }
    now = clock_mono_ms();
    errbuf_set(why, why_len, "the device is not connected (%s; next attempt in %lld ms)",
               d->last_error[0] ? d->last_error : "not connected yet",
               (long long)(d->retry_at_ms > now ? d->retry_at_ms - now : 0));
    return false;
}

/* Runs one job on the worker: write, then read back. */
static void run_job(struct ua_driver *d, struct ua_write_job *job)
{
    struct driver_write_result *out = &job->base.result;
    struct tag_rt *t = &d->tags[job->tag];
    const char *path = t->cfg->tag.path;
    if (!connect_for_write(d, out->error, sizeof out->error)) return;
    if (t->problem) {
        snprintf(out->error, sizeof out->error,
                 "tag '%s' is not usable on this server (%s: see the device's error)", path,
                 quality_name(t->problem));
        return;
    }
    unsigned type = t->write_type ? t->write_type : t->seen_type;
    struct ua_write_value wv;
    memset(&wv, 0, sizeof wv);
    char why[200];
    if (!type) {
        snprintf(out->error, sizeof out->error,
                 "cannot write to tag '%s': the data type of its node is not known yet (no value "
                 "received): try again",
                 path);
        return;
    }
    if (!ua_driver_value_to_variant(&job->value, type, &wv.value.value, why, sizeof why)) {
        snprintf(out->error, sizeof out->error, "cannot write to tag '%s': %s", path, why);
        return;
    }
    wv.node_id = t->node;
    wv.attribute_id = UA_ATTRIBUTE_VALUE;
    wv.index_range = UA_STRING_NULL;
    wv.value.mask = UA_DATAVALUE_HAS_VALUE;

    struct ua_client_error e;
    uint32_t *results = NULL;
    atomic_fetch_add(&d->env.stats->requests, 1);
    if (!ua_client_write(d->client, &wv, 1, &results, &e)) {
        write_call_failed(d, t, "Write", &e, out);
        return;
    }
    if (ua_status_is_bad(results[0])) {
        char status[64];
        ua_status_format(results[0], status, sizeof status);
        snprintf(out->error, sizeof out->error, "the server refused the write: %s%s", status,
                 write_status_hint(results[0]));
        atomic_fetch_add(&d->env.stats->errors, 1);
        device_stats_set_error(d->env.stats, "tag %s: %s", path, out->error);
        log_warn(LOG_MODULE, "write refused by the server", "device=%s tag=%s type=%s status=%s",
                 d->dev->name, path, ua_type_name(type), status);
        return;
    }
    out->written = true;

    struct ua_datavalue *dv = NULL;
    atomic_fetch_add(&d->env.stats->requests, 1);
    if (!ua_client_read_value(d->client, &t->node, &dv, &e)) {
        write_call_failed(d, t, "Read", &e, out);
        return;
    }
    if (ua_status_is_bad(dv->status)) {
        char status[64];
        snprintf(out->error, sizeof out->error, "written, but the read-back answered %s",
                 ua_status_format(dv->status, status, sizeof status));
        return;
    }
    const char *reason = NULL;
    if (!ua_driver_convert(&dv->value, t->cfg->tag.type, &out->value_read, d->text, sizeof d->text,
                           &reason)) {
        snprintf(out->error, sizeof out->error, "written, but the read-back value (%s%s) is %s",
                 ua_type_name(dv->value.type), dv->value.is_array ? "[]" : "", reason);
        return;
    }
    out->read_back = true;
    out->quality_read = dv->status;
    out->read_back_matches = ua_variant_equal(&dv->value, &wv.value.value);
    publish_read_back(d, t, &out->value_read, out->quality_read, value_time(dv, clock_now_ns()));
    log_info(LOG_MODULE, "written", "device=%s tag=%s type=%s matches=%s", d->dev->name, path,
             ua_type_name(type), out->read_back_matches ? "yes" : "no");
}

/* Runs every queued write (until stopping). The notify fd is drained
 * before the queue is looked at, so a job queued after the last look has
 * left it readable. */
static void serve_writes(struct ua_driver *d)
{
    uint64_t count;
    if (read(d->notify_fd, &count, sizeof count) < 0) {
        /* EAGAIN: nothing was signalled */
    }
    struct write_job *job;
    while (!atomic_load(&d->stop) && (job = write_queue_take(&d->writes)) != NULL) {
        run_job(d, (struct ua_write_job *)job);
        flush_batch(d);
        write_queue_finish(&d->writes, job);
    }
}

/* Wakes the worker for a queued write (write_queue's wake_worker). */
static void notify_worker(void *ctx)
{
    struct ua_driver *d = ctx;
    uint64_t one = 1;
    if (write(d->notify_fd, &one, sizeof one) < 0) {
        /* the counter is full: the worker is being woken anyway */
    }
}

/* Checks that tag_index can be written with v (in the calling thread:
 * nothing shared is changed). False with the reason in why. */
static bool check_write(const struct ua_driver *d, size_t tag_index, const struct value *v,
                        char *why, size_t why_len)
{
    if (tag_index >= d->tag_count) {
        snprintf(why, why_len, "device '%s' has no tag number %zu (it has %zu tags)", d->dev->name,
                 tag_index, d->tag_count);
        return false;
    }
    const struct config_tag *ct = d->tags[tag_index].cfg;
    if (!driver_write_check_tag(ct, v, why, why_len)) return false;
    if (!d->running) {
        snprintf(why, why_len, "device '%s' is disabled", d->dev->name);
        return false;
    }
    return true;
}

bool ua_driver_write(struct ua_driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                     struct driver_write_result *out)
{
    memset(out, 0, sizeof *out);
    if (!check_write(d, tag_index, v, out->error, sizeof out->error)) return false;
    struct ua_write_job *job = calloc(1, sizeof *job);
    if (!job) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return false;
    }
    job->tag = tag_index;
    job->value = *v;
    return write_queue_submit(&d->writes, &job->base, timeout_ms, out);
}

static void *worker(void *arg)
{
    struct ua_driver *d = arg;
    while (!atomic_load(&d->stop)) {
        serve_writes(d);
        if (atomic_load(&d->stop)) break;
        if (d->connected) {
            run_connected(d);
            continue;
        }
        int64_t now = clock_mono_ms();
        if (now < d->retry_at_ms) {
            wait_for_stop(d, d->retry_at_ms - now);
            continue;
        }
        establish(d);
    }
    flush_batch(d);
    if (d->client) ua_client_disconnect(d->client);
    d->connected = false;
    atomic_store(&d->env.stats->state, DEVICE_STOPPED);
    return NULL;
}

static void free_driver(struct ua_driver *d)
{
    for (size_t i = 0; i < d->tag_count; i++)
        report_state_clear(&d->tags[i].st);
    free(d->tags);
    free(d->groups);
    ua_client_free(d->client);
    sample_batch_free(d->batch);
    ua_arena_free(&d->static_arena);
    ua_arena_free(&d->conn_arena);
    if (d->wake_fd >= 0) close(d->wake_fd);
    if (d->notify_fd >= 0) close(d->notify_fd);
    write_queue_destroy(&d->writes);
    free(d);
}

/* Tags and groups in group-then-tag order (the order of env->tag_ids), with
 * their node or browse path parsed. */
static bool build_tags(struct ua_driver *d, char *err, size_t err_len)
{
    const struct config_device *dev = d->dev;
    size_t n = 0;
    for (size_t g = 0; g < dev->group_count; g++)
        n += dev->groups[g].tag_count;
    d->tags = calloc(n ? n : 1, sizeof *d->tags);
    d->groups = calloc(dev->group_count ? dev->group_count : 1, sizeof *d->groups);
    if (!d->tags || !d->groups) {
        snprintf(err, err_len, "out of memory setting up device '%s'", dev->name);
        return false;
    }
    d->tag_count = n;
    d->group_count = dev->group_count;
    size_t k = 0;
    for (size_t g = 0; g < dev->group_count; g++) {
        d->groups[g].cfg = &dev->groups[g];
        d->groups[g].first = k;
        d->groups[g].count = dev->groups[g].tag_count;
        for (size_t t = 0; t < dev->groups[g].tag_count; t++, k++) {
            struct tag_rt *rt = &d->tags[k];
            rt->cfg = &dev->groups[g].tags[t];
            rt->tag_id = d->env.tag_ids[k];
            char why[160];
            bool ok = rt->cfg->ua.node
                          ? ua_nodeid_parse(rt->cfg->ua.node, strlen(rt->cfg->ua.node),
                                            &d->static_arena, &rt->configured, why, sizeof why)
                          : ua_browse_path_parse(rt->cfg->ua.browse_path, &d->static_arena,
                                                 &rt->path, &rt->path_len, why, sizeof why);
            if (!ok) {
                snprintf(err, err_len, "device '%s' tag '%s': %s", dev->name, rt->cfg->tag.path,
                         why);
                return false;
            }
        }
    }
    return true;
}

struct ua_driver *ua_driver_start(const struct config_device *dev, const struct driver_env *env,
                                  char *err, size_t err_len)
{
    struct ua_driver *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_len, "out of memory starting device '%s'", dev->name);
        return NULL;
    }
    d->dev = dev;
    d->env = *env;
    d->wake_fd = -1;
    d->notify_fd = -1;
    write_queue_init(&d->writes,
                     (struct write_queue_wording){.busy_with = "other requests or writes",
                                                  .answerer = "server's"},
                     notify_worker, d);
    ua_arena_init(&d->static_arena, 0, ARENA_LIMIT_BYTES);
    ua_arena_init(&d->conn_arena, 0, ARENA_LIMIT_BYTES);
    snprintf(d->session_name, sizeof d->session_name, "airlock %s", dev->name);
    snprintf(env->stats->name, sizeof env->stats->name, "%s", dev->name);
    snprintf(env->stats->protocol, sizeof env->stats->protocol, "opcua");
    snprintf(env->stats->endpoint, sizeof env->stats->endpoint, "%s (%s)", dev->ua.endpoint,
             security_name(dev->ua.security));
    if (!build_tags(d, err, err_len)) {
        free_driver(d);
        return NULL;
    }
    if (!dev->enabled || dev->group_count == 0) {
        atomic_store(&env->stats->state, DEVICE_DISABLED);
        return d;
    }
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    d->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->wake_fd < 0 || d->notify_fd < 0) {
        snprintf(err, err_len, "device '%s': eventfd: %s", dev->name, strerror(errno));
        free_driver(d);
        return NULL;
    }
    d->running = true;
    int rc = pthread_create(&d->thread, NULL, worker, d);
    if (rc != 0) {
        snprintf(err, err_len, "device '%s': cannot start its worker thread: %s", dev->name,
                 strerror(rc));
        free_driver(d);
        return NULL;
    }
    return d;
}

void ua_driver_stop(struct ua_driver *d)
{
    if (!d) return;
    atomic_store(&d->stop, true);
    write_queue_stop(&d->writes); /* queued writes end with "device stopping" */
    if (d->running) {
        uint64_t one = 1;
        if (write(d->wake_fd, &one, sizeof one) < 0) {
            /* the counter is full: the worker is being woken anyway */
        }
        pthread_join(d->thread, NULL);
    }
    /* Callers still inside ua_driver_write() leave once their job is done. */
    write_queue_close(&d->writes);
    free_driver(d);
}
