/* The text side of the OPC UA built-in types (contract in ua_types.h):
 * NodeId / ExpandedNodeId / Guid text forms (Part 6, 5.3.1.10-11), base64
 * for opaque identifiers, DateTime <-> Unix time (Part 6, 5.2.2.5),
 * StatusCode names (values from the specification's StatusCode table) and
 * the conversion of a Variant to airlock's value. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/errbuf.h"

#include "drivers/opcua/ua_types.h"

/* --------------------------------------------------------------- DateTime */

int64_t ua_datetime_to_unix_ns(int64_t datetime)
{
    if (datetime <= UA_DATETIME_MIN) return INT64_MIN; /* MinValue (or invalid) */
    if (datetime == UA_DATETIME_MAX) return INT64_MAX;
    int64_t ticks = datetime - UA_DATETIME_UNIX_EPOCH; /* cannot overflow: datetime > 0 */
    if (ticks < INT64_MIN / 100) return INT64_MIN;     /* before 1677 */
    if (ticks > INT64_MAX / 100) return INT64_MAX;     /* after 2262 */
    return ticks * 100;
}

int64_t ua_datetime_from_unix_ns(int64_t unix_ns)
{
    if (unix_ns == INT64_MIN) return UA_DATETIME_MIN;
    if (unix_ns == INT64_MAX) return UA_DATETIME_MAX;
    int64_t ticks = unix_ns / 100;
    if (unix_ns % 100 < 0) ticks--; /* truncate towards the past */
    int64_t datetime = ticks + UA_DATETIME_UNIX_EPOCH;
    return datetime <= 0 ? UA_DATETIME_MIN : datetime;
}

/* ------------------------------------------------------------ StatusCodes */

struct status_entry {
    uint32_t code;
    const char *name;
};

/* From the specification's StatusCode table (Part 4 / StatusCode.csv): the
 * codes a client meets from the services, the transport and data quality. */
static const struct status_entry status_table[] = {
    {0x00000000u, "Good"},
    {0x40000000u, "Uncertain"},
    {0x80000000u, "Bad"},
    {0x80010000u, "BadUnexpectedError"},
    {0x80020000u, "BadInternalError"},
    {0x80030000u, "BadOutOfMemory"},
    {0x80040000u, "BadResourceUnavailable"},
    {0x80050000u, "BadCommunicationError"},
    {0x80060000u, "BadEncodingError"},
    {0x80070000u, "BadDecodingError"},
    {0x80080000u, "BadEncodingLimitsExceeded"},
    {0x80B80000u, "BadRequestTooLarge"},
    {0x80B90000u, "BadResponseTooLarge"},
    {0x80090000u, "BadUnknownResponse"},
    {0x800A0000u, "BadTimeout"},
    {0x800B0000u, "BadServiceUnsupported"},
    {0x800C0000u, "BadShutdown"},
    {0x800D0000u, "BadServerNotConnected"},
    {0x800E0000u, "BadServerHalted"},
    {0x800F0000u, "BadNothingToDo"},
    {0x80100000u, "BadTooManyOperations"},
    {0x80DB0000u, "BadTooManyMonitoredItems"},
    {0x80110000u, "BadDataTypeIdUnknown"},
    {0x80120000u, "BadCertificateInvalid"},
    {0x80130000u, "BadSecurityChecksFailed"},
    {0x81140000u, "BadCertificatePolicyCheckFailed"},
    {0x80140000u, "BadCertificateTimeInvalid"},
    {0x80150000u, "BadCertificateIssuerTimeInvalid"},
    {0x80160000u, "BadCertificateHostNameInvalid"},
    {0x80170000u, "BadCertificateUriInvalid"},
    {0x80180000u, "BadCertificateUseNotAllowed"},
    {0x80190000u, "BadCertificateIssuerUseNotAllowed"},
    {0x801A0000u, "BadCertificateUntrusted"},
    {0x801B0000u, "BadCertificateRevocationUnknown"},
    {0x801C0000u, "BadCertificateIssuerRevocationUnknown"},
    {0x801D0000u, "BadCertificateRevoked"},
    {0x801E0000u, "BadCertificateIssuerRevoked"},
    {0x810D0000u, "BadCertificateChainIncomplete"},
    {0x801F0000u, "BadUserAccessDenied"},
    {0x80200000u, "BadIdentityTokenInvalid"},
    {0x80210000u, "BadIdentityTokenRejected"},
    {0x80220000u, "BadSecureChannelIdInvalid"},
    {0x80230000u, "BadInvalidTimestamp"},
    {0x80240000u, "BadNonceInvalid"},
    {0x80250000u, "BadSessionIdInvalid"},
    {0x80260000u, "BadSessionClosed"},
    {0x80270000u, "BadSessionNotActivated"},
    {0x80280000u, "BadSubscriptionIdInvalid"},
    {0x802A0000u, "BadRequestHeaderInvalid"},
    {0x802B0000u, "BadTimestampsToReturnInvalid"},
    {0x802C0000u, "BadRequestCancelledByClient"},
    {0x80E50000u, "BadTooManyArguments"},
    {0x80EE0000u, "BadServerTooBusy"},
    {0x002D0000u, "GoodSubscriptionTransferred"},
    {0x002E0000u, "GoodCompletesAsynchronously"},
    {0x002F0000u, "GoodOverload"},
    {0x00300000u, "GoodClamped"},
    {0x80310000u, "BadNoCommunication"},
    {0x80320000u, "BadWaitingForInitialData"},
    {0x80330000u, "BadNodeIdInvalid"},
    {0x80340000u, "BadNodeIdUnknown"},
    {0x80350000u, "BadAttributeIdInvalid"},
    {0x80360000u, "BadIndexRangeInvalid"},
    {0x80370000u, "BadIndexRangeNoData"},
    {0x80380000u, "BadDataEncodingInvalid"},
    {0x80390000u, "BadDataEncodingUnsupported"},
    {0x803A0000u, "BadNotReadable"},
    {0x803B0000u, "BadNotWritable"},
    {0x803C0000u, "BadOutOfRange"},
    {0x40F20000u, "UncertainOverRange"},
    {0x40F30000u, "UncertainUnderRange"},
    {0x803D0000u, "BadNotSupported"},
    {0x803E0000u, "BadNotFound"},
    {0x803F0000u, "BadObjectDeleted"},
    {0x80400000u, "BadNotImplemented"},
    {0x80410000u, "BadMonitoringModeInvalid"},
    {0x80420000u, "BadMonitoredItemIdInvalid"},
    {0x80430000u, "BadMonitoredItemFilterInvalid"},
    {0x80440000u, "BadMonitoredItemFilterUnsupported"},
    {0x80450000u, "BadFilterNotAllowed"},
    {0x80460000u, "BadStructureMissing"},
    {0x804A0000u, "BadContinuationPointInvalid"},
    {0x804B0000u, "BadNoContinuationPoints"},
    {0x804C0000u, "BadReferenceTypeIdInvalid"},
    {0x804D0000u, "BadBrowseDirectionInvalid"},
    {0x804E0000u, "BadNodeNotInView"},
    {0x81120000u, "BadNumericOverflow"},
    {0x80F00000u, "BadNoValue"},
    {0x80540000u, "BadSecurityModeRejected"},
    {0x80550000u, "BadSecurityPolicyRejected"},
    {0x80560000u, "BadTooManySessions"},
    {0x80570000u, "BadUserSignatureInvalid"},
    {0x80580000u, "BadApplicationSignatureInvalid"},
    {0x80590000u, "BadNoValidCertificates"},
    {0x80C60000u, "BadIdentityChangeNotSupported"},
    {0x805A0000u, "BadRequestCancelledByRequest"},
    {0x806D0000u, "BadTooManyMatches"},
    {0x806F0000u, "BadNoMatch"},
    {0x80700000u, "BadMaxAgeInvalid"},
    {0x80E60000u, "BadSecurityModeInsufficient"},
    {0x80BD0000u, "BadInvalidTimestampArgument"},
    {0x80730000u, "BadWriteNotSupported"},
    {0x80740000u, "BadTypeMismatch"},
    {0x80750000u, "BadMethodInvalid"},
    {0x80760000u, "BadArgumentsMissing"},
    {0x81110000u, "BadNotExecutable"},
    {0x80770000u, "BadTooManySubscriptions"},
    {0x80780000u, "BadTooManyPublishRequests"},
    {0x80790000u, "BadNoSubscription"},
    {0x807A0000u, "BadSequenceNumberUnknown"},
    {0x00DF0000u, "GoodRetransmissionQueueNotSupported"},
    {0x807B0000u, "BadMessageNotAvailable"},
    {0x807C0000u, "BadInsufficientClientProfile"},
    {0x807D0000u, "BadTcpServerTooBusy"},
    {0x807E0000u, "BadTcpMessageTypeInvalid"},
    {0x807F0000u, "BadTcpSecureChannelUnknown"},
    {0x80800000u, "BadTcpMessageTooLarge"},
    {0x80810000u, "BadTcpNotEnoughResources"},
    {0x80820000u, "BadTcpInternalError"},
    {0x80830000u, "BadTcpEndpointUrlInvalid"},
    {0x80840000u, "BadRequestInterrupted"},
    {0x80850000u, "BadRequestTimeout"},
    {0x80860000u, "BadSecureChannelClosed"},
    {0x80870000u, "BadSecureChannelTokenUnknown"},
    {0x80880000u, "BadSequenceNumberInvalid"},
    {0x80BE0000u, "BadProtocolVersionUnsupported"},
    {0x80890000u, "BadConfigurationError"},
    {0x808A0000u, "BadNotConnected"},
    {0x808B0000u, "BadDeviceFailure"},
    {0x808C0000u, "BadSensorFailure"},
    {0x808D0000u, "BadOutOfService"},
    {0x808E0000u, "BadDeadbandFilterInvalid"},
    {0x408F0000u, "UncertainNoCommunicationLastUsableValue"},
    {0x40900000u, "UncertainLastUsableValue"},
    {0x40910000u, "UncertainSubstituteValue"},
    {0x40920000u, "UncertainInitialValue"},
    {0x40930000u, "UncertainSensorNotAccurate"},
    {0x40940000u, "UncertainEngineeringUnitsExceeded"},
    {0x40950000u, "UncertainSubNormal"},
    {0x00960000u, "GoodLocalOverride"},
    {0x00EB0000u, "GoodSubNormal"},
    {0x809B0000u, "BadNoData"},
    {0x809D0000u, "BadDataLost"},
    {0x809E0000u, "BadDataUnavailable"},
    {0x00A50000u, "GoodNoData"},
    {0x00A60000u, "GoodMoreData"},
    {0x40A40000u, "UncertainDataSubNormal"},
    {0x00A70000u, "GoodCommunicationEvent"},
    {0x00A80000u, "GoodShutdownEvent"},
    {0x00A90000u, "GoodCallAgain"},
    {0x00AA0000u, "GoodNonCriticalTimeout"},
    {0x80AB0000u, "BadInvalidArgument"},
    {0x80AC0000u, "BadConnectionRejected"},
    {0x80AD0000u, "BadDisconnect"},
    {0x80AE0000u, "BadConnectionClosed"},
    {0x80AF0000u, "BadInvalidState"},
    {0x80B00000u, "BadEndOfStream"},
    {0x80B10000u, "BadNoDataAvailable"},
    {0x80B20000u, "BadWaitingForResponse"},
    {0x80B30000u, "BadOperationAbandoned"},
    {0x80B40000u, "BadExpectedStreamToBlock"},
    {0x80B50000u, "BadWouldBlock"},
    {0x80B60000u, "BadSyntaxError"},
    {0x80B70000u, "BadMaxConnectionsReached"},
    {0x42080000u, "UncertainTransducerInManual"},
    {0x42090000u, "UncertainSimulatedValue"},
    {0x420A0000u, "UncertainSensorCalibration"},
    {0x420F0000u, "UncertainConfigurationError"},
};

static const struct status_entry *status_find(uint32_t s)
{
    uint32_t code = s & 0xFFFF0000u; /* the low 16 bits are info flags */
    for (size_t i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
        if (status_table[i].code == code) return &status_table[i];
    return NULL;
}

const char *ua_status_name(uint32_t s)
{
    const struct status_entry *e = status_find(s);
    if (e) return e->name;
    if (ua_status_is_bad(s)) return "Bad";
    if (ua_status_is_uncertain(s)) return "Uncertain";
    return "Good";
}

bool ua_status_is_known(uint32_t s)
{
    return status_find(s) != NULL;
}

const char *ua_status_format(uint32_t s, char *buf, size_t cap)
{
    if (cap) snprintf(buf, cap, "%s (0x%08X)", ua_status_name(s), (unsigned)s);
    return buf;
}

/* ------------------------------------------------------------- text utils */

/* Appends to buf[0..cap) like snprintf: counts everything, writes what
 * fits, keeps the NUL. */
struct text_out {
    char *buf;
    size_t cap;
    size_t len; /* total, even past cap */
};

static void out_bytes(struct text_out *o, const void *p, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - 1 - o->len;
        size_t k = n < room ? n : room;
        if (k) memcpy(o->buf + o->len, p, k);
        o->buf[o->len + k] = '\0';
    }
    o->len += n;
}

static void out_str(struct text_out *o, const char *s)
{
    out_bytes(o, s, strlen(s));
}

static void out_fmt(struct text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct text_out *o, const char *fmt, ...)
{
    char tmp[32];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) out_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses exactly `digits` hex digits at p. */
static bool parse_hex(const char *p, int digits, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < digits; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return false;
        v = v << 4 | (uint64_t)h;
    }
    *out = v;
    return true;
}

/* A decimal number of 1..10 digits, no sign, at most max. */
static bool parse_decimal(const char *p, size_t len, uint32_t max, uint32_t *out)
{
    if (len == 0 || len > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max) return false;
    *out = (uint32_t)v;
    return true;
}

/* ------------------------------------------------------------------- Guid */

bool ua_guid_parse(const char *text, size_t len, struct ua_guid *out)
{
    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
    if (len != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-')
        return false;
    uint64_t d1, d2, d3, d4a, d4b;
    if (!parse_hex(text, 8, &d1) || !parse_hex(text + 9, 4, &d2) || !parse_hex(text + 14, 4, &d3) ||
        !parse_hex(text + 19, 4, &d4a) || !parse_hex(text + 24, 12, &d4b))
        return false;
    out->data1 = (uint32_t)d1;
    out->data2 = (uint16_t)d2;
    out->data3 = (uint16_t)d3;
    out->data4[0] = (uint8_t)(d4a >> 8);
    out->data4[1] = (uint8_t)d4a;
    for (int i = 0; i < 6; i++)
        out->data4[2 + i] = (uint8_t)(d4b >> (8 * (5 - i)));
    return true;
}

void ua_guid_format(const struct ua_guid *g, char out[37])
{
    snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned)g->data1,
             (unsigned)g->data2, (unsigned)g->data3, g->data4[0], g->data4[1], g->data4[2],
             g->data4[3], g->data4[4], g->data4[5], g->data4[6], g->data4[7]);
}

/* ----------------------------------------------------------------- base64 */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static void out_base64(struct text_out *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char quad[4] = {base64_alphabet[v >> 18 & 63], base64_alphabet[v >> 12 & 63],
                        i + 1 < n ? base64_alphabet[v >> 6 & 63] : '=',
                        i + 2 < n ? base64_alphabet[v & 63] : '='};
        out_bytes(o, quad, 4);
    }
}

/* Decodes standard base64 (padding optional) into the arena; the result is
 * NUL-terminated (not counted). False on a bad character or length. */
static bool base64_decode(const char *text, size_t len, struct ua_arena *a, struct ua_string *out)
{
    if (len > 0 && text[len - 1] == '=') { /* padding: only to a whole quad, at most 2 */
        if (len % 4 != 0) return false;
        len--;
        if (text[len - 1] == '=') len--;
    }
    if (len % 4 == 1) return false;
    size_t bytes = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (bytes > INT32_MAX) return false;
    uint8_t *p = ua_arena_alloc(a, bytes + 1);
    if (!p) return false;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0) return false;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[k++] = (uint8_t)(acc >> bits);
        }
    }
    p[k] = '\0';
    out->data = (const char *)p;
    out->length = (int32_t)k;
    return true;
}

/* ------------------------------------------------------------ NodeId text */

static bool starts_with(const char *text, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(text, prefix, n) == 0;
}

/* The identifier part: i=, s=, g= or b=. */
static bool parse_identifier(const char *text, size_t len, struct ua_arena *a,
                             struct ua_nodeid *out, char *why, size_t why_len)
{
    if (len < 2 || text[1] != '=') {
        errbuf_set(why, why_len, "expected i=, s=, g= or b= (e.g. \"ns=2;s=Pump.Speed\")");
        return false;
    }
    const char *v = text + 2;
    size_t n = len - 2;
    switch (text[0]) {
    case 'i':
        out->type = UA_NODEID_NUMERIC;
        if (!parse_decimal(v, n, UINT32_MAX, &out->id.numeric)) {
            errbuf_set(why, why_len, "numeric identifier must be a number 0..4294967295");
            return false;
        }
        return true;
    case 's':
        out->type = UA_NODEID_STRING;
        if (n == 0) {
            errbuf_set(why, why_len, "empty string identifier");
            return false;
        }
        if (n > INT32_MAX ||
            !ua_string_copy((struct ua_string){v, (int32_t)n}, a, &out->id.string)) {
            errbuf_set(why, why_len, "out of memory");
            return false;
        }
        return true;
    case 'g':
        out->type = UA_NODEID_GUID;
        if (!ua_guid_parse(v, n, &out->id.guid)) {
            errbuf_set(why, why_len,
                       "GUID identifier must be xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
            return false;
        }
        return true;
    case 'b':
        out->type = UA_NODEID_BYTESTRING;
        if (n == 0 || !base64_decode(v, n, a, &out->id.string)) {
            errbuf_set(why, why_len, "opaque identifier must be non-empty base64");
            return false;
        }
        return true;
    default:
        errbuf_set(why, why_len, "unknown identifier type '%c=' (expected i=, s=, g= or b=)",
                   text[0]);
        return false;
    }
}

bool ua_nodeid_parse(const char *text, size_t len, struct ua_arena *a, struct ua_nodeid *out,
                     char *why, size_t why_len)
{
    *out = ua_nodeid_numeric(0, 0);
    if (!text || len == 0) {
        errbuf_set(why, why_len, "empty NodeId");
        return false;
    }
    if (starts_with(text, len, "ns=")) {
        const char *semi = memchr(text, ';', len);
        uint32_t ns;
        if (!semi || !parse_decimal(text + 3, (size_t)(semi - text) - 3, UINT16_MAX, &ns)) {
            errbuf_set(why, why_len, "namespace index must be a number 0..65535 followed by ';'");
            return false;
        }
        out->ns = (uint16_t)ns;
        size_t skip = (size_t)(semi - text) + 1;
        text += skip;
        len -= skip;
    }
    return parse_identifier(text, len, a, out, why, why_len);
}

bool ua_expanded_nodeid_parse(const char *text, size_t len, struct ua_arena *a,
                              struct ua_expanded_nodeid *out, char *why, size_t why_len)
{
    out->namespace_uri = UA_STRING_NULL;
    out->server_index = 0;
    out->nodeid = ua_nodeid_numeric(0, 0);
    if (!text) len = 0;
    if (starts_with(text, len, "svr=")) {
        const char *semi = memchr(text, ';', len);
        if (!semi ||
            !parse_decimal(text + 4, (size_t)(semi - text) - 4, UINT32_MAX, &out->server_index)) {
            errbuf_set(why, why_len, "server index must be a number followed by ';'");
            return false;
        }
        size_t skip = (size_t)(semi - text) + 1;
        text += skip;
        len -= skip;
    }
    if (starts_with(text, len, "nsu=")) {
        const char *semi = memchr(text, ';', len);
        size_t uri_len = semi ? (size_t)(semi - text) - 4 : 0;
        if (!semi || uri_len == 0) {
            errbuf_set(why, why_len, "namespace URI must be non-empty and followed by ';'");
            return false;
        }
        if (!ua_string_copy((struct ua_string){text + 4, (int32_t)uri_len}, a,
                            &out->namespace_uri)) {
            errbuf_set(why, why_len, "out of memory");
            return false;
        }
        size_t skip = (size_t)(semi - text) + 1;
        text += skip;
        len -= skip;
        if (starts_with(text, len, "ns=")) {
            errbuf_set(why, why_len, "both nsu= and ns= given");
            return false;
        }
    }
    return ua_nodeid_parse(text, len, a, &out->nodeid, why, why_len);
}

static void out_identifier(struct text_out *o, const struct ua_nodeid *n)
{
    switch (n->type) {
    case UA_NODEID_NUMERIC:
        out_fmt(o, "i=%u", (unsigned)n->id.numeric);
        break;
    case UA_NODEID_STRING:
        out_str(o, "s=");
        if (n->id.string.length > 0) out_bytes(o, n->id.string.data, (size_t)n->id.string.length);
        break;
    case UA_NODEID_GUID: {
        char g[37];
        ua_guid_format(&n->id.guid, g);
        out_str(o, "g=");
        out_str(o, g);
        break;
    }
    case UA_NODEID_BYTESTRING:
        out_str(o, "b=");
        if (n->id.string.length > 0)
            out_base64(o, (const uint8_t *)n->id.string.data, (size_t)n->id.string.length);
        break;
    default:
        out_str(o, "?");
        break;
    }
}

size_t ua_nodeid_format(const struct ua_nodeid *n, char *buf, size_t cap)
{
    struct text_out o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    if (n->ns != 0) out_fmt(&o, "ns=%u;", (unsigned)n->ns);
    out_identifier(&o, n);
    return o.len;
}

size_t ua_expanded_nodeid_format(const struct ua_expanded_nodeid *n, char *buf, size_t cap)
{
    struct text_out o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    if (n->server_index != 0) out_fmt(&o, "svr=%u;", (unsigned)n->server_index);
    if (!ua_string_is_null(n->namespace_uri)) {
        out_str(&o, "nsu=");
        out_bytes(&o, n->namespace_uri.data, (size_t)n->namespace_uri.length);
        out_str(&o, ";");
    } else if (n->nodeid.ns != 0) {
        out_fmt(&o, "ns=%u;", (unsigned)n->nodeid.ns);
    }
    out_identifier(&o, &n->nodeid);
    return o.len;
}

/* ------------------------------------------------------ Variant -> value */

static bool string_value(struct ua_string s, struct value *out)
{
    out->type = VALUE_STRING;
    out->as.str.ptr = s.length > 0 ? s.data : "";
    out->as.str.len = s.length > 0 ? (uint32_t)s.length : 0;
    return true;
}

bool ua_variant_to_value(const struct ua_variant *v, struct value *out, const char **why)
{
    const char *reason = "unsupported type";
    if (v->type == UA_TYPE_NULL) {
        reason = "empty";
    } else if (v->is_array) {
        reason = "array";
    } else {
        switch (v->type) {
        case UA_TYPE_BOOLEAN:
            *out = value_bool(v->as.boolean);
            return true;
        case UA_TYPE_SBYTE:
            *out = value_int64(v->as.sbyte);
            return true;
        case UA_TYPE_INT16:
            *out = value_int64(v->as.int16);
            return true;
        case UA_TYPE_INT32:
            *out = value_int64(v->as.int32);
            return true;
        case UA_TYPE_INT64:
            *out = value_int64(v->as.int64);
            return true;
        case UA_TYPE_BYTE:
            *out = value_uint64(v->as.byte);
            return true;
        case UA_TYPE_UINT16:
            *out = value_uint64(v->as.uint16);
            return true;
        case UA_TYPE_UINT32:
            *out = value_uint64(v->as.uint32);
            return true;
        case UA_TYPE_UINT64:
            *out = value_uint64(v->as.uint64);
            return true;
        case UA_TYPE_STATUSCODE:
            *out = value_uint64(v->as.status);
            return true;
        case UA_TYPE_FLOAT:
            *out = value_double((double)v->as.f32);
            return true;
        case UA_TYPE_DOUBLE:
            *out = value_double(v->as.f64);
            return true;
        case UA_TYPE_DATETIME:
            *out = value_int64(ua_datetime_to_unix_ns(v->as.datetime));
            return true;
        case UA_TYPE_STRING:
        case UA_TYPE_XMLELEMENT:
            return string_value(v->as.string, out);
        case UA_TYPE_LOCALIZEDTEXT:
            if (v->as.localized_text) return string_value(v->as.localized_text->text, out);
            break;
        default:
            break;
        }
    }
    if (why) *why = reason;
    return false;
}
