/* The OPC UA built-in types (OPC UA Part 6, 5.1.2 Table 1) and their binary
 * encoding (Part 6, 5.2 "OPC UA Binary"), as pure functions over the
 * buffers of ua_buf.h. Also: NodeId text form, DateTime <-> Unix time,
 * StatusCode names, and the conversion of a Variant to airlock's value.
 *
 * Memory. Decoding never copies bytes that can be referenced: strings,
 * byte strings, XML elements and ExtensionObject bodies point into the
 * reader's buffer (zero-copy), so a decoded value is valid only while that
 * buffer is. Everything else a decoder must create (arrays, nested values,
 * the targets of the pointers in a Variant) comes from a struct ua_arena,
 * valid until the arena is reset. Nothing is ever malloc'd per value.
 *
 * Errors. Decoders return false and leave the reader failed with the offset
 * and a static reason (see ua_buf.h); what they wrote to *out is then
 * unspecified (but safe to discard: it owns nothing). Every length and count
 * is checked against the bytes that remain before anything is allocated, and
 * the arena's limit bounds the total. Recursive types (Variant, DataValue,
 * DiagnosticInfo) nest at most UA_MAX_NESTING_DEPTH deep. Encoders return
 * false with the writer failed when the buffer limit is reached or the value
 * cannot be encoded (a reason says which). */
#ifndef AIRLOCK_OPCUA_UA_TYPES_H
#define AIRLOCK_OPCUA_UA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/value.h"
#include "drivers/opcua/ua_buf.h"

/* The deepest nesting of Variant / DataValue / DiagnosticInfo accepted
 * (Part 6 asks decoders of DiagnosticInfo for at least 4 levels). */
#define UA_MAX_NESTING_DEPTH 32

/* Built-in type ids (Part 6, Table 1): a Variant's encoding mask bits 0..5.
 * Ids 26..31 are reserved; decoders take their value as ByteString. */
enum ua_type {
    UA_TYPE_NULL = 0, /* an empty Variant */
    UA_TYPE_BOOLEAN = 1,
    UA_TYPE_SBYTE = 2,
    UA_TYPE_BYTE = 3,
    UA_TYPE_INT16 = 4,
    UA_TYPE_UINT16 = 5,
    UA_TYPE_INT32 = 6,
    UA_TYPE_UINT32 = 7,
    UA_TYPE_INT64 = 8,
    UA_TYPE_UINT64 = 9,
    UA_TYPE_FLOAT = 10,
    UA_TYPE_DOUBLE = 11,
    UA_TYPE_STRING = 12,
    UA_TYPE_DATETIME = 13,
    UA_TYPE_GUID = 14,
    UA_TYPE_BYTESTRING = 15,
    UA_TYPE_XMLELEMENT = 16,
    UA_TYPE_NODEID = 17,
    UA_TYPE_EXPANDEDNODEID = 18,
    UA_TYPE_STATUSCODE = 19,
    UA_TYPE_QUALIFIEDNAME = 20,
    UA_TYPE_LOCALIZEDTEXT = 21,
    UA_TYPE_EXTENSIONOBJECT = 22,
    UA_TYPE_DATAVALUE = 23,
    UA_TYPE_VARIANT = 24,
    UA_TYPE_DIAGNOSTICINFO = 25,
};
#define UA_TYPE_MAX_KNOWN 25
#define UA_TYPE_MAX_RESERVED 31

/* "Boolean", "Double", ... (the spec's names); "Null" for 0, "Reserved" for
 * 26..31, "Unknown" beyond. Static. */
const char *ua_type_name(unsigned type);

/* The C type that holds one value of a built-in type, as used in arrays
 * (ua_decode_array, Variant arrays) and pointed to by ua_variant_data():
 *   Boolean bool, SByte int8_t, Byte uint8_t, Int16 int16_t, UInt16
 *   uint16_t, Int32 int32_t, UInt32 uint32_t, Int64 int64_t, UInt64
 *   uint64_t, Float float, Double double, DateTime int64_t (ticks),
 *   StatusCode uint32_t, Guid struct ua_guid, String / ByteString /
 *   XmlElement / 26..31 struct ua_string, NodeId struct ua_nodeid,
 *   ExpandedNodeId struct ua_expanded_nodeid, QualifiedName struct
 *   ua_qualified_name, LocalizedText struct ua_localized_text,
 *   ExtensionObject struct ua_extension_object, DataValue struct
 *   ua_datavalue, Variant struct ua_variant, DiagnosticInfo struct
 *   ua_diagnostic_info.
 * Returns its size in bytes, 0 for 0 and ids past 31. */
size_t ua_type_size(unsigned type);

/* ---------------------------------------------------------------- scalars */

/* String, ByteString and XmlElement (Part 6, 5.2.2.4, .7, .8): an Int32
 * length then the bytes; length -1 is the null string, distinct from the
 * empty string (length 0). data is not NUL-terminated; NULL when null. */
struct ua_string {
    const char *data;
    int32_t length; /* -1: null */
};

#define UA_STRING_NULL ((struct ua_string){NULL, -1})

static inline bool ua_string_is_null(struct ua_string s)
{
    return s.length < 0;
}

/* A string over a C string (not copied; NULL gives the null string). */
static inline struct ua_string ua_string_from_cstr(const char *s)
{
    struct ua_string out = {s, -1};
    if (s) out.length = (int32_t)strnlen(s, INT32_MAX);
    return out;
}

/* True when both are null, or both non-null with the same bytes. */
bool ua_string_equal(struct ua_string a, struct ua_string b);

/* True when s is not null and holds exactly the C string c. */
bool ua_string_equal_cstr(struct ua_string s, const char *c);

/* Copies s (bytes plus a terminating NUL, not counted in length) into the
 * arena, so it outlives the message it came from. Null stays null. False
 * when the arena refuses. */
bool ua_string_copy(struct ua_string s, struct ua_arena *a, struct ua_string *out);

/* Guid (Part 6, 5.2.2.6): Data1 UInt32, Data2 UInt16, Data3 UInt16,
 * Data4 8 bytes in order. */
struct ua_guid {
    uint32_t data1;
    uint16_t data2, data3;
    uint8_t data4[8];
};

/* DateTime (Part 6, 5.2.2.5): Int64 count of 100 ns ticks since
 * 1601-01-01 00:00 UTC. 0 is MinValue, INT64_MAX MaxValue; both mean
 * "no valid time". */
#define UA_DATETIME_MIN 0
#define UA_DATETIME_MAX INT64_MAX
/* Ticks from 1601-01-01 to 1970-01-01. */
#define UA_DATETIME_UNIX_EPOCH 116444736000000000LL

/* DateTime -> nanoseconds since 1970 UTC, per Part 6's rules for a platform
 * of limited range (int64 ns covers 1677..2262): MinValue and earlier than
 * representable give INT64_MIN; MaxValue and later give INT64_MAX. */
int64_t ua_datetime_to_unix_ns(int64_t datetime);

/* Nanoseconds since 1970 UTC -> DateTime, truncated to 100 ns: INT64_MIN
 * gives MinValue (0), INT64_MAX gives MaxValue. */
int64_t ua_datetime_from_unix_ns(int64_t unix_ns);

/* StatusCode (Part 6, 5.2.2.11; codes in Part 4 7.39 / StatusCode.csv):
 * UInt32; the top 16 bits are the code, the low 16 bits info flags. The
 * two top bits are the severity: 00 Good, 01 Uncertain, 10 Bad. */
#define UA_STATUS_GOOD 0x00000000u
#define UA_STATUS_UNCERTAIN 0x40000000u
#define UA_STATUS_BAD 0x80000000u
#define UA_STATUS_BAD_UNEXPECTED_ERROR 0x80010000u
#define UA_STATUS_BAD_INTERNAL_ERROR 0x80020000u
#define UA_STATUS_BAD_OUT_OF_MEMORY 0x80030000u
#define UA_STATUS_BAD_COMMUNICATION_ERROR 0x80050000u
#define UA_STATUS_BAD_ENCODING_ERROR 0x80060000u
#define UA_STATUS_BAD_DECODING_ERROR 0x80070000u
#define UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED 0x80080000u
#define UA_STATUS_BAD_UNKNOWN_RESPONSE 0x80090000u
#define UA_STATUS_BAD_TIMEOUT 0x800A0000u
#define UA_STATUS_BAD_SERVICE_UNSUPPORTED 0x800B0000u
#define UA_STATUS_BAD_SHUTDOWN 0x800C0000u
#define UA_STATUS_BAD_SERVER_NOT_CONNECTED 0x800D0000u
#define UA_STATUS_BAD_SERVER_HALTED 0x800E0000u
#define UA_STATUS_BAD_NOTHING_TO_DO 0x800F0000u
#define UA_STATUS_BAD_TOO_MANY_OPERATIONS 0x80100000u
#define UA_STATUS_BAD_CERTIFICATE_INVALID 0x80120000u
#define UA_STATUS_BAD_SECURITY_CHECKS_FAILED 0x80130000u
#define UA_STATUS_BAD_CERTIFICATE_TIME_INVALID 0x80140000u
#define UA_STATUS_BAD_CERTIFICATE_HOST_NAME_INVALID 0x80160000u
#define UA_STATUS_BAD_CERTIFICATE_URI_INVALID 0x80170000u
#define UA_STATUS_BAD_CERTIFICATE_USE_NOT_ALLOWED 0x80180000u
#define UA_STATUS_BAD_CERTIFICATE_UNTRUSTED 0x801A0000u
#define UA_STATUS_BAD_CERTIFICATE_REVOKED 0x801D0000u
#define UA_STATUS_BAD_USER_ACCESS_DENIED 0x801F0000u
#define UA_STATUS_BAD_IDENTITY_TOKEN_INVALID 0x80200000u
#define UA_STATUS_BAD_IDENTITY_TOKEN_REJECTED 0x80210000u
#define UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID 0x80220000u
#define UA_STATUS_BAD_INVALID_TIMESTAMP 0x80230000u
#define UA_STATUS_BAD_NONCE_INVALID 0x80240000u
#define UA_STATUS_BAD_SESSION_ID_INVALID 0x80250000u
#define UA_STATUS_BAD_SESSION_CLOSED 0x80260000u
#define UA_STATUS_BAD_SESSION_NOT_ACTIVATED 0x80270000u
#define UA_STATUS_BAD_SUBSCRIPTION_ID_INVALID 0x80280000u
#define UA_STATUS_BAD_REQUEST_HEADER_INVALID 0x802A0000u
#define UA_STATUS_BAD_NODE_ID_INVALID 0x80330000u
#define UA_STATUS_BAD_NODE_ID_UNKNOWN 0x80340000u
#define UA_STATUS_BAD_ATTRIBUTE_ID_INVALID 0x80350000u
#define UA_STATUS_BAD_NOT_READABLE 0x803A0000u
#define UA_STATUS_BAD_NOT_WRITABLE 0x803B0000u
#define UA_STATUS_BAD_TYPE_MISMATCH 0x80740000u
#define UA_STATUS_BAD_TOO_MANY_SESSIONS 0x80560000u
#define UA_STATUS_BAD_SECURITY_MODE_REJECTED 0x80540000u
#define UA_STATUS_BAD_SECURITY_POLICY_REJECTED 0x80550000u
#define UA_STATUS_BAD_TOO_MANY_SUBSCRIPTIONS 0x80770000u
#define UA_STATUS_BAD_TOO_MANY_PUBLISH_REQUESTS 0x80780000u
#define UA_STATUS_BAD_NO_SUBSCRIPTION 0x80790000u
#define UA_STATUS_BAD_SEQUENCE_NUMBER_UNKNOWN 0x807A0000u
#define UA_STATUS_BAD_MESSAGE_NOT_AVAILABLE 0x807B0000u
#define UA_STATUS_BAD_TCP_SERVER_TOO_BUSY 0x807D0000u
#define UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID 0x807E0000u
#define UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN 0x807F0000u
#define UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE 0x80800000u
#define UA_STATUS_BAD_TCP_NOT_ENOUGH_RESOURCES 0x80810000u
#define UA_STATUS_BAD_TCP_INTERNAL_ERROR 0x80820000u
#define UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID 0x80830000u
#define UA_STATUS_BAD_REQUEST_INTERRUPTED 0x80840000u
#define UA_STATUS_BAD_REQUEST_TIMEOUT 0x80850000u
#define UA_STATUS_BAD_SECURE_CHANNEL_CLOSED 0x80860000u
#define UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN 0x80870000u
#define UA_STATUS_BAD_SEQUENCE_NUMBER_INVALID 0x80880000u
#define UA_STATUS_BAD_PROTOCOL_VERSION_UNSUPPORTED 0x80BE0000u
#define UA_STATUS_BAD_REQUEST_TOO_LARGE 0x80B80000u
#define UA_STATUS_BAD_RESPONSE_TOO_LARGE 0x80B90000u
#define UA_STATUS_BAD_CONNECTION_CLOSED 0x80AE0000u
#define UA_STATUS_BAD_INVALID_STATE 0x80AF0000u

static inline bool ua_status_is_good(uint32_t s)
{
    return (s & 0xC0000000u) == 0;
}
static inline bool ua_status_is_uncertain(uint32_t s)
{
    return (s & 0xC0000000u) == 0x40000000u;
}
static inline bool ua_status_is_bad(uint32_t s)
{
    return (s & 0x80000000u) != 0;
}

/* The spec's symbolic name of the code in s's top 16 bits ("Good",
 * "BadTimeout", "UncertainLastUsableValue", ...; the info bits are
 * ignored). A code not in the table gives its severity: "Good",
 * "Uncertain" or "Bad". Never NULL; static. */
const char *ua_status_name(uint32_t s);

/* True when ua_status_name knows s's code (not just its severity). */
bool ua_status_is_known(uint32_t s);

/* "BadTimeout (0x800A0000)" into buf (always NUL-terminated when cap > 0);
 * returns buf. For error messages. */
const char *ua_status_format(uint32_t s, char *buf, size_t cap);

/* ----------------------------------------------------------------- NodeId */

enum ua_nodeid_type {
    UA_NODEID_NUMERIC = 0,
    UA_NODEID_STRING = 1,
    UA_NODEID_GUID = 2,
    UA_NODEID_BYTESTRING = 3, /* "opaque" */
};

/* NodeId (Part 6, 5.2.2.9). The encoder picks the smallest numeric form:
 * two-byte (namespace 0, id <= 255), four-byte (namespace <= 255, id <=
 * 65535), else the full form; the decoder accepts all forms. */
struct ua_nodeid {
    uint16_t ns;
    uint8_t type; /* enum ua_nodeid_type */
    union {
        uint32_t numeric;
        struct ua_string string; /* STRING and BYTESTRING */
        struct ua_guid guid;
    } id;
};

static inline struct ua_nodeid ua_nodeid_numeric(uint16_t ns, uint32_t id)
{
    struct ua_nodeid n = {.ns = ns, .type = UA_NODEID_NUMERIC};
    n.id.numeric = id;
    return n;
}

/* A string NodeId over a C string (not copied). */
static inline struct ua_nodeid ua_nodeid_string(uint16_t ns, const char *s)
{
    struct ua_nodeid n = {.ns = ns, .type = UA_NODEID_STRING};
    n.id.string = ua_string_from_cstr(s);
    return n;
}

/* True for ns=0;i=0, the null NodeId. */
bool ua_nodeid_is_null(const struct ua_nodeid *n);

/* Same namespace, type and identifier (strings by bytes). */
bool ua_nodeid_equal(const struct ua_nodeid *a, const struct ua_nodeid *b);

/* Deep copy (string / byte string identifiers into the arena). */
bool ua_nodeid_copy(const struct ua_nodeid *src, struct ua_arena *a, struct ua_nodeid *dst);

/* ExpandedNodeId (Part 6, 5.2.2.10): a NodeId whose encoding byte may carry
 * 0x80 (NamespaceUri follows) and 0x40 (ServerIndex follows). The encoder
 * writes namespace_uri when it is not null and server_index when it is not
 * 0, and writes nodeid.ns as given (the spec wants 0 with a URI: the
 * caller's choice). */
struct ua_expanded_nodeid {
    struct ua_nodeid nodeid;
    struct ua_string namespace_uri; /* null when absent */
    uint32_t server_index;          /* 0 when absent */
};

bool ua_expanded_nodeid_equal(const struct ua_expanded_nodeid *a,
                              const struct ua_expanded_nodeid *b);

/* NodeId text form (Part 6, 5.3.1.10; as UaExpert and the SDKs print it):
 *   [ns=<0..65535>;]i=<0..4294967295> | s=<string> | g=<guid> | b=<base64>
 * e.g. "i=85", "ns=2;s=Pump.Speed",
 * "ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7dae63", "ns=1;b=M/RbKBsRVkePCePcx24oRA==".
 * A string identifier is everything after "s=" (it may hold ';' and '=').
 * Identifiers (string and decoded bytes, NUL-terminated) are copied into
 * the arena. On failure returns false and writes a reason to why (if
 * non-NULL). */
bool ua_nodeid_parse(const char *text, size_t len, struct ua_arena *a, struct ua_nodeid *out,
                     char *why, size_t why_len);

/* ExpandedNodeId text form: [svr=<n>;][nsu=<uri>;]<NodeId text> (without
 * "ns=" when nsu= is given); the URI ends at the first ';'. */
bool ua_expanded_nodeid_parse(const char *text, size_t len, struct ua_arena *a,
                              struct ua_expanded_nodeid *out, char *why, size_t why_len);

/* Canonical text of a NodeId ("ns=0;" omitted, GUIDs lower case, opaque
 * ids base64 with padding). Writes at most cap bytes including the NUL
 * (truncating when short) and returns the full length, like snprintf. */
size_t ua_nodeid_format(const struct ua_nodeid *n, char *buf, size_t cap);

/* Same for an ExpandedNodeId: "svr=<n>;" when server_index != 0,
 * "nsu=<uri>;" (and no "ns=") when namespace_uri is not null. */
size_t ua_expanded_nodeid_format(const struct ua_expanded_nodeid *n, char *buf, size_t cap);

/* GUID text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex, either case; no
 * braces) <-> struct. ua_guid_format writes 37 bytes (36 + NUL). */
bool ua_guid_parse(const char *text, size_t len, struct ua_guid *out);
void ua_guid_format(const struct ua_guid *g, char out[37]);

/* --------------------------------------------- other structured built-ins */

/* QualifiedName (Part 6, 5.2.2.13): UInt16 namespace index, String name. */
struct ua_qualified_name {
    uint16_t ns;
    struct ua_string name;
};

/* LocalizedText (Part 6, 5.2.2.14): a mask byte (0x01 Locale, 0x02 Text)
 * then the present strings. The encoder writes each string that is not
 * null; the decoder gives null for each absent one. */
#define UA_LOCALIZED_TEXT_HAS_LOCALE 0x01u
#define UA_LOCALIZED_TEXT_HAS_TEXT 0x02u
struct ua_localized_text {
    struct ua_string locale;
    struct ua_string text;
};

/* ExtensionObject (Part 6, 5.2.2.15): the NodeId of the DataTypeEncoding,
 * an encoding byte and, for 1 (binary) and 2 (XML), an Int32-length-prefixed
 * body. The body is kept as a zero-copy byte range: the services layer
 * decodes the bodies it knows by type_id. */
enum ua_extension_object_encoding {
    UA_EXTENSION_OBJECT_NO_BODY = 0,
    UA_EXTENSION_OBJECT_BINARY = 1,
    UA_EXTENSION_OBJECT_XML = 2,
};
struct ua_extension_object {
    struct ua_nodeid type_id;
    uint8_t encoding;      /* enum ua_extension_object_encoding */
    struct ua_string body; /* encoding 1, 2: the body's bytes (null if -1) */
};

/* ---------------------------------------------------------------- Variant */

/* Variant (Part 6, 5.2.2.16): a mask byte (type id in bits 0..5, 0x40
 * ArrayDimensions present, 0x80 array) then a scalar, or an Int32 length
 * and that many values, then optionally the Int32[] dimensions.
 *
 * Scalars of up to 16 bytes are held in the union; larger ones through a
 * pointer (into the decoder's arena, or the caller's memory when encoding).
 * Arrays: as.array points to array_length elements of the type's C type
 * (ua_type_size). A Variant cannot hold a scalar Variant, only arrays of
 * them. When dims_count > 0 the array is multi-dimensional with dims[i]
 * elements per dimension (higher rank first) and array_length is their
 * product (0 if any dimension is <= 0); the decoder checks this. */
struct ua_datavalue;
struct ua_diagnostic_info;
struct ua_variant {
    uint8_t type; /* enum ua_type, 0..31; 0 = empty */
    bool is_array;
    int32_t array_length; /* is_array: count, or -1 for a null array */
    int32_t dims_count;   /* 0: no ArrayDimensions */
    int32_t *dims;
    union {
        bool boolean;
        int8_t sbyte;
        uint8_t byte;
        int16_t int16;
        uint16_t uint16;
        int32_t int32;
        uint32_t uint32;
        int64_t int64;
        uint64_t uint64;
        float f32;
        double f64;
        int64_t datetime;        /* ticks (see UA_DATETIME_*) */
        uint32_t status;         /* StatusCode */
        struct ua_string string; /* String, ByteString, XmlElement, 26..31 */
        struct ua_guid guid;
        struct ua_nodeid *nodeid;
        struct ua_expanded_nodeid *expanded_nodeid;
        struct ua_qualified_name *qualified_name;
        struct ua_localized_text *localized_text;
        struct ua_extension_object *extension_object;
        struct ua_datavalue *datavalue;
        struct ua_diagnostic_info *diagnostic_info;
        void *array; /* is_array */
    } as;
};

/* Scalar Variant constructors (no allocation). */
static inline struct ua_variant ua_variant_boolean(bool b)
{
    struct ua_variant v = {.type = UA_TYPE_BOOLEAN};
    v.as.boolean = b;
    return v;
}
static inline struct ua_variant ua_variant_int32(int32_t i)
{
    struct ua_variant v = {.type = UA_TYPE_INT32};
    v.as.int32 = i;
    return v;
}
static inline struct ua_variant ua_variant_uint32(uint32_t u)
{
    struct ua_variant v = {.type = UA_TYPE_UINT32};
    v.as.uint32 = u;
    return v;
}
static inline struct ua_variant ua_variant_int64(int64_t i)
{
    struct ua_variant v = {.type = UA_TYPE_INT64};
    v.as.int64 = i;
    return v;
}
static inline struct ua_variant ua_variant_double(double d)
{
    struct ua_variant v = {.type = UA_TYPE_DOUBLE};
    v.as.f64 = d;
    return v;
}
static inline struct ua_variant ua_variant_string(struct ua_string s)
{
    struct ua_variant v = {.type = UA_TYPE_STRING};
    v.as.string = s;
    return v;
}

/* An array Variant over the caller's elements (of the type's C type; not
 * copied). count -1 makes a null array. */
static inline struct ua_variant ua_variant_array(enum ua_type type, void *elems, int32_t count)
{
    struct ua_variant v = {.type = (uint8_t)type, .is_array = true, .array_length = count};
    v.as.array = elems;
    return v;
}

/* The value's storage as the type's C type: the scalar (in the union or
 * behind its pointer) or the array's first element. NULL for an empty
 * Variant, a null or empty array, or a NULL pointer member. */
const void *ua_variant_data(const struct ua_variant *v);

/* Deep equality: same type, shape and values; floats by bit pattern (NaN
 * equals NaN, -0.0 differs from 0.0), strings by bytes. */
bool ua_variant_equal(const struct ua_variant *a, const struct ua_variant *b);

/* -------------------------------------------------------------- DataValue */

/* DataValue (Part 6, 5.2.2.17): mask says which fields are present, and the
 * encoder writes exactly those (set the bits for the fields you fill). The
 * decoder sets absent fields to 0 (status Good, timestamps MinValue) and
 * clamps picoseconds >= 10000 to 9999 as the spec says. */
#define UA_DATAVALUE_HAS_VALUE 0x01u
#define UA_DATAVALUE_HAS_STATUS 0x02u
#define UA_DATAVALUE_HAS_SOURCE_TIMESTAMP 0x04u
#define UA_DATAVALUE_HAS_SERVER_TIMESTAMP 0x08u
#define UA_DATAVALUE_HAS_SOURCE_PICOSECONDS 0x10u
#define UA_DATAVALUE_HAS_SERVER_PICOSECONDS 0x20u
struct ua_datavalue {
    uint8_t mask;
    uint16_t source_picoseconds; /* 10 ps units */
    uint16_t server_picoseconds;
    uint32_t status;
    int64_t source_timestamp; /* DateTime ticks */
    int64_t server_timestamp;
    struct ua_variant value;
};

bool ua_datavalue_equal(const struct ua_datavalue *a, const struct ua_datavalue *b);

/* DiagnosticInfo (Part 6, 5.2.2.12): mask 0x01 SymbolicId, 0x02
 * NamespaceUri, 0x04 LocalizedText, 0x08 Locale, 0x10 AdditionalInfo, 0x20
 * InnerStatusCode, 0x40 InnerDiagnosticInfo; the Int32 fields index the
 * response header's string table. Encoded in the order symbolic id,
 * namespace, locale, localized text, additional info, inner status, inner
 * diagnostic info. The encoder writes the fields whose mask bit is set. */
#define UA_DIAG_HAS_SYMBOLIC_ID 0x01u
#define UA_DIAG_HAS_NAMESPACE_URI 0x02u
#define UA_DIAG_HAS_LOCALIZED_TEXT 0x04u
#define UA_DIAG_HAS_LOCALE 0x08u
#define UA_DIAG_HAS_ADDITIONAL_INFO 0x10u
#define UA_DIAG_HAS_INNER_STATUS 0x20u
#define UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO 0x40u
struct ua_diagnostic_info {
    uint8_t mask;
    int32_t symbolic_id, namespace_uri, locale, localized_text; /* -1 when absent */
    struct ua_string additional_info;
    uint32_t inner_status;
    struct ua_diagnostic_info *inner; /* UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO */
};

bool ua_diagnostic_info_equal(const struct ua_diagnostic_info *a,
                              const struct ua_diagnostic_info *b);

/* --------------------------------------------------------------- decoders */

/* Each reads one value at the reader's position. See the top of this file
 * for failure and memory rules. */
bool ua_decode_string(struct ua_reader *r, struct ua_string *out); /* also ByteString, Xml */
bool ua_decode_guid(struct ua_reader *r, struct ua_guid *out);
bool ua_decode_nodeid(struct ua_reader *r, struct ua_nodeid *out);
bool ua_decode_expanded_nodeid(struct ua_reader *r, struct ua_expanded_nodeid *out);
bool ua_decode_qualified_name(struct ua_reader *r, struct ua_qualified_name *out);
bool ua_decode_localized_text(struct ua_reader *r, struct ua_localized_text *out);
bool ua_decode_extension_object(struct ua_reader *r, struct ua_extension_object *out);
bool ua_decode_variant(struct ua_reader *r, struct ua_arena *a, struct ua_variant *out);
bool ua_decode_datavalue(struct ua_reader *r, struct ua_arena *a, struct ua_datavalue *out);
bool ua_decode_diagnostic_info(struct ua_reader *r, struct ua_arena *a,
                               struct ua_diagnostic_info *out);

/* One value of built-in type `type` (1..31) into *out, of the type's C type
 * (ua_type_size bytes). Type 24 (Variant) is allowed here. */
bool ua_decode_scalar(struct ua_reader *r, struct ua_arena *a, unsigned type, void *out);

/* An array outside a Variant (Part 6, 5.2.5): Int32 count (-1 null) then
 * the elements. *elems gets the elements (in the arena; NULL when the count
 * is 0 or -1) and *count the count. */
bool ua_decode_array(struct ua_reader *r, struct ua_arena *a, unsigned type, void **elems,
                     int32_t *count);

/* Reads an array's Int32 count and checks that count elements of at least
 * min_element_bytes (0 counts as 1) each can fit in what remains, so a
 * count never allocates more than the message can fill. -1 (null) is
 * allowed; other negative counts are not. For services that decode arrays
 * of structures themselves. */
bool ua_decode_array_count(struct ua_reader *r, size_t min_element_bytes, int32_t *count);

/* --------------------------------------------------------------- encoders */

bool ua_encode_string(struct ua_writer *w, struct ua_string s);
bool ua_encode_guid(struct ua_writer *w, const struct ua_guid *g);
bool ua_encode_nodeid(struct ua_writer *w, const struct ua_nodeid *n);
bool ua_encode_expanded_nodeid(struct ua_writer *w, const struct ua_expanded_nodeid *n);
bool ua_encode_qualified_name(struct ua_writer *w, const struct ua_qualified_name *q);
bool ua_encode_localized_text(struct ua_writer *w, const struct ua_localized_text *t);
bool ua_encode_extension_object(struct ua_writer *w, const struct ua_extension_object *e);
/* Fails (nothing sensible to send) for reserved type ids 26..31, a scalar
 * of type Variant, a NULL element pointer with a count > 0, or dimensions
 * that do not multiply to array_length. */
bool ua_encode_variant(struct ua_writer *w, const struct ua_variant *v);
bool ua_encode_datavalue(struct ua_writer *w, const struct ua_datavalue *dv);
bool ua_encode_diagnostic_info(struct ua_writer *w, const struct ua_diagnostic_info *d);

/* One value of built-in type `type` (1..25) from *value (the type's C type). */
bool ua_encode_scalar(struct ua_writer *w, unsigned type, const void *value);

/* An array outside a Variant: Int32 count (-1 null) then the elements. */
bool ua_encode_array(struct ua_writer *w, unsigned type, const void *elems, int32_t count);

/* ------------------------------------------------- conversion to airlock */

/* Converts a scalar Variant to airlock's value:
 *   Boolean -> bool; SByte, Int16, Int32, Int64 -> int64; Byte, UInt16,
 *   UInt32, UInt64 -> uint64; Float (widened exactly), Double -> double;
 *   String, XmlElement -> string; LocalizedText -> string (its text);
 *   DateTime -> int64 nanoseconds since 1970 (ua_datetime_to_unix_ns);
 *   StatusCode -> uint64.
 * Strings point into the decoded message (copy them before it goes away).
 * Anything else (empty Variant, arrays, Guid, ByteString, NodeId,
 * ExtensionObject, ...) is not convertible: returns false and sets *why
 * (if non-NULL) to a static reason ("array", "empty", "unsupported type"). */
bool ua_variant_to_value(const struct ua_variant *v, struct value *out, const char **why);

#endif
