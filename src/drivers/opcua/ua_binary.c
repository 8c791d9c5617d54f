/* OPC UA Binary encoding of the built-in types (Part 6, 5.2): decoders,
 * encoders and deep equality. The contract is in ua_types.h; the text
 * forms, names and conversions are in ua_binary_text.c. */
#include <string.h>

#include "drivers/opcua/ua_types.h"

/* Mask bits of a Variant (Part 6, 5.2.2.16). */
#define VARIANT_TYPE_MASK 0x3Fu
#define VARIANT_HAS_DIMENSIONS 0x40u
#define VARIANT_IS_ARRAY 0x80u

/* NodeId encoding byte (Part 6, 5.2.2.9 Table 11). */
#define NODEID_TWO_BYTE 0x00u
#define NODEID_FOUR_BYTE 0x01u
#define NODEID_NUMERIC 0x02u
#define NODEID_STRING 0x03u
#define NODEID_GUID 0x04u
#define NODEID_BYTESTRING 0x05u
#define NODEID_FORMAT_MASK 0x3Fu
#define NODEID_HAS_NAMESPACE_URI 0x80u
#define NODEID_HAS_SERVER_INDEX 0x40u

#define DATAVALUE_KNOWN_BITS 0x3Fu
#define DIAG_KNOWN_BITS 0x7Fu
#define PICOSECONDS_MAX 9999u

#define IS_LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* ------------------------------------------------------------ type tables */

static const char *const type_names[UA_TYPE_MAX_KNOWN + 1] = {
    "Null",           "Boolean",       "SByte",           "Byte",           "Int16",
    "UInt16",         "Int32",         "UInt32",          "Int64",          "UInt64",
    "Float",          "Double",        "String",          "DateTime",       "Guid",
    "ByteString",     "XmlElement",    "NodeId",          "ExpandedNodeId", "StatusCode",
    "QualifiedName",  "LocalizedText", "ExtensionObject", "DataValue",      "Variant",
    "DiagnosticInfo",
};

const char *ua_type_name(unsigned type)
{
    if (type <= UA_TYPE_MAX_KNOWN) return type_names[type];
    return type <= UA_TYPE_MAX_RESERVED ? "Reserved" : "Unknown";
}

size_t ua_type_size(unsigned type)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        return sizeof(bool);
    case UA_TYPE_SBYTE:
    case UA_TYPE_BYTE:
        return 1;
    case UA_TYPE_INT16:
    case UA_TYPE_UINT16:
        return 2;
    case UA_TYPE_INT32:
    case UA_TYPE_UINT32:
    case UA_TYPE_FLOAT:
    case UA_TYPE_STATUSCODE:
        return 4;
    case UA_TYPE_INT64:
    case UA_TYPE_UINT64:
    case UA_TYPE_DOUBLE:
    case UA_TYPE_DATETIME:
        return 8;
    case UA_TYPE_GUID:
        return sizeof(struct ua_guid);
    case UA_TYPE_NODEID:
        return sizeof(struct ua_nodeid);
    case UA_TYPE_EXPANDEDNODEID:
        return sizeof(struct ua_expanded_nodeid);
    case UA_TYPE_QUALIFIEDNAME:
        return sizeof(struct ua_qualified_name);
    case UA_TYPE_LOCALIZEDTEXT:
        return sizeof(struct ua_localized_text);
    case UA_TYPE_EXTENSIONOBJECT:
        return sizeof(struct ua_extension_object);
    case UA_TYPE_DATAVALUE:
        return sizeof(struct ua_datavalue);
    case UA_TYPE_VARIANT:
        return sizeof(struct ua_variant);
    case UA_TYPE_DIAGNOSTICINFO:
        return sizeof(struct ua_diagnostic_info);
    default:
        /* String, ByteString, XmlElement and the reserved ids */
        if (type >= UA_TYPE_STRING && type <= UA_TYPE_MAX_RESERVED) return sizeof(struct ua_string);
        return 0;
    }
}

/* The fewest bytes one encoded value of the type takes: an array count is
 * checked against remaining / this before anything is allocated. */
static size_t min_wire_bytes(unsigned type)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
    case UA_TYPE_SBYTE:
    case UA_TYPE_BYTE:
    case UA_TYPE_LOCALIZEDTEXT:
    case UA_TYPE_DATAVALUE:
    case UA_TYPE_VARIANT:
    case UA_TYPE_DIAGNOSTICINFO:
        return 1;
    case UA_TYPE_INT16:
    case UA_TYPE_UINT16:
    case UA_TYPE_NODEID:
    case UA_TYPE_EXPANDEDNODEID:
        return 2;
    case UA_TYPE_EXTENSIONOBJECT:
        return 3;
    case UA_TYPE_QUALIFIEDNAME:
        return 6;
    case UA_TYPE_INT64:
    case UA_TYPE_UINT64:
    case UA_TYPE_DOUBLE:
    case UA_TYPE_DATETIME:
        return 8;
    case UA_TYPE_GUID:
        return 16;
    default:
        return 4; /* 32-bit numbers, StatusCode, strings (length) */
    }
}

/* Fixed-size numbers whose wire form is their little-endian C form. */
static bool is_plain_number(unsigned type)
{
    return type >= UA_TYPE_SBYTE && type <= UA_TYPE_DOUBLE;
}

/* ------------------------------------------------------------- equality */

bool ua_string_equal(struct ua_string a, struct ua_string b)
{
    if (a.length < 0 || b.length < 0) return a.length < 0 && b.length < 0;
    return a.length == b.length && (a.length == 0 || memcmp(a.data, b.data, (size_t)a.length) == 0);
}

bool ua_string_equal_cstr(struct ua_string s, const char *c)
{
    if (s.length < 0 || !c) return false;
    size_t n = strlen(c);
    return n == (size_t)s.length && (n == 0 || memcmp(s.data, c, n) == 0);
}

bool ua_string_copy(struct ua_string s, struct ua_arena *a, struct ua_string *out)
{
    if (s.length < 0) {
        *out = UA_STRING_NULL;
        return true;
    }
    char *p = ua_arena_alloc(a, (size_t)s.length + 1);
    if (!p) return false;
    if (s.length) memcpy(p, s.data, (size_t)s.length);
    p[s.length] = '\0';
    out->data = p;
    out->length = s.length;
    return true;
}

static bool guid_equal(const struct ua_guid *a, const struct ua_guid *b)
{
    return a->data1 == b->data1 && a->data2 == b->data2 && a->data3 == b->data3 &&
           memcmp(a->data4, b->data4, sizeof a->data4) == 0;
}

bool ua_nodeid_is_null(const struct ua_nodeid *n)
{
    return n->ns == 0 && n->type == UA_NODEID_NUMERIC && n->id.numeric == 0;
}

bool ua_nodeid_equal(const struct ua_nodeid *a, const struct ua_nodeid *b)
{
    if (a->ns != b->ns || a->type != b->type) return false;
    switch (a->type) {
    case UA_NODEID_NUMERIC:
        return a->id.numeric == b->id.numeric;
    case UA_NODEID_GUID:
        return guid_equal(&a->id.guid, &b->id.guid);
    default:
        return ua_string_equal(a->id.string, b->id.string);
    }
}

bool ua_nodeid_copy(const struct ua_nodeid *src, struct ua_arena *a, struct ua_nodeid *dst)
{
    struct ua_nodeid tmp = *src;
    if (src->type == UA_NODEID_STRING || src->type == UA_NODEID_BYTESTRING) {
        if (!ua_string_copy(src->id.string, a, &tmp.id.string)) return false;
    }
    *dst = tmp;
    return true;
}

bool ua_expanded_nodeid_equal(const struct ua_expanded_nodeid *a,
                              const struct ua_expanded_nodeid *b)
{
    return ua_nodeid_equal(&a->nodeid, &b->nodeid) &&
           ua_string_equal(a->namespace_uri, b->namespace_uri) &&
           a->server_index == b->server_index;
}

static bool bits_equal(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* Equality of one value of `type` at a and b (the type's C type). */
static bool scalar_equal(unsigned type, const void *a, const void *b)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        return *(const bool *)a == *(const bool *)b;
    case UA_TYPE_GUID:
        return guid_equal(a, b);
    case UA_TYPE_NODEID:
        return ua_nodeid_equal(a, b);
    case UA_TYPE_EXPANDEDNODEID:
        return ua_expanded_nodeid_equal(a, b);
    case UA_TYPE_QUALIFIEDNAME: {
        const struct ua_qualified_name *x = a, *y = b;
        return x->ns == y->ns && ua_string_equal(x->name, y->name);
    }
    case UA_TYPE_LOCALIZEDTEXT: {
        const struct ua_localized_text *x = a, *y = b;
        return ua_string_equal(x->locale, y->locale) && ua_string_equal(x->text, y->text);
    }
    case UA_TYPE_EXTENSIONOBJECT: {
        const struct ua_extension_object *x = a, *y = b;
        return ua_nodeid_equal(&x->type_id, &y->type_id) && x->encoding == y->encoding &&
               (x->encoding == UA_EXTENSION_OBJECT_NO_BODY || ua_string_equal(x->body, y->body));
    }
    case UA_TYPE_DATAVALUE:
        return ua_datavalue_equal(a, b);
    case UA_TYPE_VARIANT:
        return ua_variant_equal(a, b);
    case UA_TYPE_DIAGNOSTICINFO:
        return ua_diagnostic_info_equal(a, b);
    default:
        if (type >= UA_TYPE_STRING && type <= UA_TYPE_MAX_RESERVED && type != UA_TYPE_DATETIME &&
            type != UA_TYPE_STATUSCODE)
            return ua_string_equal(*(const struct ua_string *)a, *(const struct ua_string *)b);
        return bits_equal(a, b, ua_type_size(type)); /* numbers, DateTime, StatusCode */
    }
}

const void *ua_variant_data(const struct ua_variant *v)
{
    if (v->type == UA_TYPE_NULL) return NULL;
    if (v->is_array) return v->array_length > 0 ? v->as.array : NULL;
    switch (v->type) {
    case UA_TYPE_NODEID:
        return v->as.nodeid;
    case UA_TYPE_EXPANDEDNODEID:
        return v->as.expanded_nodeid;
    case UA_TYPE_QUALIFIEDNAME:
        return v->as.qualified_name;
    case UA_TYPE_LOCALIZEDTEXT:
        return v->as.localized_text;
    case UA_TYPE_EXTENSIONOBJECT:
        return v->as.extension_object;
    case UA_TYPE_DATAVALUE:
        return v->as.datavalue;
    case UA_TYPE_DIAGNOSTICINFO:
        return v->as.diagnostic_info;
    case UA_TYPE_VARIANT:
        return NULL; /* no scalar Variant in a Variant */
    default:
        return &v->as; /* every inline member starts at the union's start */
    }
}

bool ua_variant_equal(const struct ua_variant *a, const struct ua_variant *b)
{
    if (a->type != b->type || a->is_array != b->is_array) return false;
    if (a->type == UA_TYPE_NULL) return true;
    if (!a->is_array) {
        const void *x = ua_variant_data(a), *y = ua_variant_data(b);
        if (!x || !y) return x == y;
        return scalar_equal(a->type, x, y);
    }
    if (a->array_length != b->array_length || a->dims_count != b->dims_count) return false;
    for (int32_t i = 0; i < a->dims_count; i++)
        if (a->dims[i] != b->dims[i]) return false;
    size_t size = ua_type_size(a->type);
    const char *x = a->as.array, *y = b->as.array;
    for (int32_t i = 0; i < a->array_length; i++)
        if (!scalar_equal(a->type, x + (size_t)i * size, y + (size_t)i * size)) return false;
    return true;
}

bool ua_datavalue_equal(const struct ua_datavalue *a, const struct ua_datavalue *b)
{
    uint8_t m = a->mask;
    if (m != b->mask) return false;
    if ((m & UA_DATAVALUE_HAS_VALUE) && !ua_variant_equal(&a->value, &b->value)) return false;
    if ((m & UA_DATAVALUE_HAS_STATUS) && a->status != b->status) return false;
    if ((m & UA_DATAVALUE_HAS_SOURCE_TIMESTAMP) && a->source_timestamp != b->source_timestamp)
        return false;
    if ((m & UA_DATAVALUE_HAS_SERVER_TIMESTAMP) && a->server_timestamp != b->server_timestamp)
        return false;
    if ((m & UA_DATAVALUE_HAS_SOURCE_PICOSECONDS) && a->source_picoseconds != b->source_picoseconds)
        return false;
    if ((m & UA_DATAVALUE_HAS_SERVER_PICOSECONDS) && a->server_picoseconds != b->server_picoseconds)
        return false;
    return true;
}

bool ua_diagnostic_info_equal(const struct ua_diagnostic_info *a,
                              const struct ua_diagnostic_info *b)
{
    uint8_t m = a->mask;
    if (m != b->mask) return false;
    if ((m & UA_DIAG_HAS_SYMBOLIC_ID) && a->symbolic_id != b->symbolic_id) return false;
    if ((m & UA_DIAG_HAS_NAMESPACE_URI) && a->namespace_uri != b->namespace_uri) return false;
    if ((m & UA_DIAG_HAS_LOCALE) && a->locale != b->locale) return false;
    if ((m & UA_DIAG_HAS_LOCALIZED_TEXT) && a->localized_text != b->localized_text) return false;
    if ((m & UA_DIAG_HAS_ADDITIONAL_INFO) &&
        !ua_string_equal(a->additional_info, b->additional_info))
        return false;
    if ((m & UA_DIAG_HAS_INNER_STATUS) && a->inner_status != b->inner_status) return false;
    if (m & UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO) {
        if (!a->inner || !b->inner) return a->inner == b->inner;
        return ua_diagnostic_info_equal(a->inner, b->inner);
    }
    return true;
}

/* --------------------------------------------------------------- decoders */

bool ua_decode_string(struct ua_reader *r, struct ua_string *out)
{
    size_t at = r->pos;
    int32_t length = ua_read_i32(r);
    *out = UA_STRING_NULL;
    if (r->failed) return false;
    if (length < 0) {
        if (length == -1) return true;
        return ua_reader_fail_at(r, at, "String: negative length");
    }
    if ((size_t)length > r->len - r->pos)
        return ua_reader_fail_at(r, at, "String: length past the end");
    out->data = (const char *)ua_read_bytes(r, (size_t)length);
    out->length = length;
    return true;
}

bool ua_decode_guid(struct ua_reader *r, struct ua_guid *out)
{
    out->data1 = ua_read_u32(r);
    out->data2 = ua_read_u16(r);
    out->data3 = ua_read_u16(r);
    const uint8_t *p = ua_read_bytes(r, 8);
    if (!p) {
        memset(out->data4, 0, sizeof out->data4);
        return false;
    }
    memcpy(out->data4, p, 8);
    return true;
}

/* The NodeId after its encoding byte (format, read at offset at). */
static bool decode_nodeid_body(struct ua_reader *r, uint8_t format, size_t at,
                               struct ua_nodeid *out)
{
    out->type = UA_NODEID_NUMERIC;
    switch (format & NODEID_FORMAT_MASK) {
    case NODEID_TWO_BYTE:
        out->ns = 0;
        out->id.numeric = ua_read_u8(r);
        break;
    case NODEID_FOUR_BYTE:
        out->ns = ua_read_u8(r);
        out->id.numeric = ua_read_u16(r);
        break;
    case NODEID_NUMERIC:
        out->ns = ua_read_u16(r);
        out->id.numeric = ua_read_u32(r);
        break;
    case NODEID_STRING:
        out->ns = ua_read_u16(r);
        out->type = UA_NODEID_STRING;
        return ua_decode_string(r, &out->id.string);
    case NODEID_GUID:
        out->ns = ua_read_u16(r);
        out->type = UA_NODEID_GUID;
        return ua_decode_guid(r, &out->id.guid);
    case NODEID_BYTESTRING:
        out->ns = ua_read_u16(r);
        out->type = UA_NODEID_BYTESTRING;
        return ua_decode_string(r, &out->id.string);
    default:
        out->ns = 0;
        out->id.numeric = 0;
        return ua_reader_fail_at(r, at, "NodeId: unknown encoding");
    }
    return !r->failed;
}

bool ua_decode_nodeid(struct ua_reader *r, struct ua_nodeid *out)
{
    size_t at = r->pos;
    uint8_t format = ua_read_u8(r);
    if (!r->failed && (format & (NODEID_HAS_NAMESPACE_URI | NODEID_HAS_SERVER_INDEX)))
        ua_reader_fail_at(r, at, "NodeId: ExpandedNodeId flags in a NodeId");
    if (r->failed) {
        *out = ua_nodeid_numeric(0, 0);
        return false;
    }
    return decode_nodeid_body(r, format, at, out);
}

bool ua_decode_expanded_nodeid(struct ua_reader *r, struct ua_expanded_nodeid *out)
{
    size_t at = r->pos;
    uint8_t format = ua_read_u8(r);
    out->namespace_uri = UA_STRING_NULL;
    out->server_index = 0;
    if (r->failed) {
        out->nodeid = ua_nodeid_numeric(0, 0);
        return false;
    }
    if (!decode_nodeid_body(r, format, at, &out->nodeid)) return false;
    if (format & NODEID_HAS_NAMESPACE_URI) ua_decode_string(r, &out->namespace_uri);
    if (format & NODEID_HAS_SERVER_INDEX) out->server_index = ua_read_u32(r);
    return !r->failed;
}

bool ua_decode_qualified_name(struct ua_reader *r, struct ua_qualified_name *out)
{
    out->ns = ua_read_u16(r);
    return ua_decode_string(r, &out->name);
}

bool ua_decode_localized_text(struct ua_reader *r, struct ua_localized_text *out)
{
    size_t at = r->pos;
    uint8_t mask = ua_read_u8(r);
    out->locale = UA_STRING_NULL;
    out->text = UA_STRING_NULL;
    if (r->failed) return false;
    if (mask & ~(UA_LOCALIZED_TEXT_HAS_LOCALE | UA_LOCALIZED_TEXT_HAS_TEXT))
        return ua_reader_fail_at(r, at, "LocalizedText: unknown mask bits");
    if (mask & UA_LOCALIZED_TEXT_HAS_LOCALE) ua_decode_string(r, &out->locale);
    if (mask & UA_LOCALIZED_TEXT_HAS_TEXT) ua_decode_string(r, &out->text);
    return !r->failed;
}

bool ua_decode_extension_object(struct ua_reader *r, struct ua_extension_object *out)
{
    out->encoding = UA_EXTENSION_OBJECT_NO_BODY;
    out->body = UA_STRING_NULL;
    if (!ua_decode_nodeid(r, &out->type_id)) return false;
    size_t at = r->pos;
    uint8_t encoding = ua_read_u8(r);
    if (r->failed) return false;
    if (encoding > UA_EXTENSION_OBJECT_XML)
        return ua_reader_fail_at(r, at, "ExtensionObject: unknown body encoding");
    out->encoding = encoding;
    if (encoding == UA_EXTENSION_OBJECT_NO_BODY) return true;
    return ua_decode_string(r, &out->body);
}

static bool decode_variant_inner(struct ua_reader *r, struct ua_arena *a, struct ua_variant *out);
static bool decode_datavalue_inner(struct ua_reader *r, struct ua_arena *a,
                                   struct ua_datavalue *out);
static bool decode_diag_inner(struct ua_reader *r, struct ua_arena *a,
                              struct ua_diagnostic_info *out);

/* Enters one level of a recursive type; false (reader failed) past the
 * limit. */
static bool enter(struct ua_reader *r, const char *reason)
{
    if (r->failed) return false;
    if (r->depth >= UA_MAX_NESTING_DEPTH) return ua_reader_fail(r, reason);
    r->depth++;
    return true;
}

bool ua_decode_variant(struct ua_reader *r, struct ua_arena *a, struct ua_variant *out)
{
    if (!enter(r, "Variant: nesting too deep")) {
        *out = (struct ua_variant){0};
        return false;
    }
    bool ok = decode_variant_inner(r, a, out);
    r->depth--;
    return ok;
}

bool ua_decode_datavalue(struct ua_reader *r, struct ua_arena *a, struct ua_datavalue *out)
{
    if (!enter(r, "DataValue: nesting too deep")) {
        *out = (struct ua_datavalue){0};
        return false;
    }
    bool ok = decode_datavalue_inner(r, a, out);
    r->depth--;
    return ok;
}

bool ua_decode_diagnostic_info(struct ua_reader *r, struct ua_arena *a,
                               struct ua_diagnostic_info *out)
{
    if (!enter(r, "DiagnosticInfo: nesting too deep")) {
        *out = (struct ua_diagnostic_info){0};
        return false;
    }
    bool ok = decode_diag_inner(r, a, out);
    r->depth--;
    return ok;
}

/* Allocates one zeroed value of `size` bytes for a Variant's pointer
 * member; NULL with the reader failed when the arena refuses. */
static void *alloc_value(struct ua_reader *r, struct ua_arena *a, size_t size, size_t at)
{
    void *p = ua_arena_alloc_array(a, 1, size);
    if (!p) ua_reader_fail_at(r, at, "decoded data past the arena limit");
    return p;
}

bool ua_decode_scalar(struct ua_reader *r, struct ua_arena *a, unsigned type, void *out)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        *(bool *)out = ua_read_bool(r);
        break;
    case UA_TYPE_SBYTE:
        *(int8_t *)out = ua_read_i8(r);
        break;
    case UA_TYPE_BYTE:
        *(uint8_t *)out = ua_read_u8(r);
        break;
    case UA_TYPE_INT16:
        *(int16_t *)out = ua_read_i16(r);
        break;
    case UA_TYPE_UINT16:
        *(uint16_t *)out = ua_read_u16(r);
        break;
    case UA_TYPE_INT32:
        *(int32_t *)out = ua_read_i32(r);
        break;
    case UA_TYPE_UINT32:
    case UA_TYPE_STATUSCODE:
        *(uint32_t *)out = ua_read_u32(r);
        break;
    case UA_TYPE_INT64:
    case UA_TYPE_DATETIME:
        *(int64_t *)out = ua_read_i64(r);
        break;
    case UA_TYPE_UINT64:
        *(uint64_t *)out = ua_read_u64(r);
        break;
    case UA_TYPE_FLOAT:
        *(float *)out = ua_read_float(r);
        break;
    case UA_TYPE_DOUBLE:
        *(double *)out = ua_read_double(r);
        break;
    case UA_TYPE_GUID:
        return ua_decode_guid(r, out);
    case UA_TYPE_NODEID:
        return ua_decode_nodeid(r, out);
    case UA_TYPE_EXPANDEDNODEID:
        return ua_decode_expanded_nodeid(r, out);
    case UA_TYPE_QUALIFIEDNAME:
        return ua_decode_qualified_name(r, out);
    case UA_TYPE_LOCALIZEDTEXT:
        return ua_decode_localized_text(r, out);
    case UA_TYPE_EXTENSIONOBJECT:
        return ua_decode_extension_object(r, out);
    case UA_TYPE_DATAVALUE:
        return ua_decode_datavalue(r, a, out);
    case UA_TYPE_VARIANT:
        return ua_decode_variant(r, a, out);
    case UA_TYPE_DIAGNOSTICINFO:
        return ua_decode_diagnostic_info(r, a, out);
    default:
        if (type >= UA_TYPE_STRING && type <= UA_TYPE_MAX_RESERVED) return ua_decode_string(r, out);
        return ua_reader_fail(r, "unknown built-in type");
    }
    return !r->failed;
}

/* count (> 0, already checked against what remains) elements of type into
 * a new arena array. at: offset of the count, for errors. */
static bool decode_elements(struct ua_reader *r, struct ua_arena *a, unsigned type, int32_t count,
                            size_t at, void **elems)
{
    size_t size = ua_type_size(type);
    void *p;
    if (is_plain_number(type)) {
        p = ua_arena_alloc(a, (size_t)count * size);
    } else {
        p = ua_arena_alloc_array(a, (size_t)count, size);
    }
    *elems = p;
    if (!p) return ua_reader_fail_at(r, at, "decoded data past the arena limit");
#if IS_LITTLE_ENDIAN
    if (is_plain_number(type)) {
        const uint8_t *src = ua_read_bytes(r, (size_t)count * size);
        if (!src) return false;
        memcpy(p, src, (size_t)count * size);
        return true;
    }
#endif
    char *dst = p;
    for (int32_t i = 0; i < count; i++)
        if (!ua_decode_scalar(r, a, type, dst + (size_t)i * size)) return false;
    return true;
}

bool ua_decode_array_count(struct ua_reader *r, size_t min_element_bytes, int32_t *count)
{
    size_t at = r->pos;
    int32_t n = ua_read_i32(r);
    *count = 0;
    if (r->failed) return false;
    if (n < -1) return ua_reader_fail_at(r, at, "array: negative length");
    size_t min_bytes = min_element_bytes ? min_element_bytes : 1;
    if (n > 0 && (size_t)n > (r->len - r->pos) / min_bytes)
        return ua_reader_fail_at(r, at, "array: length past the end");
    *count = n;
    return true;
}

bool ua_decode_array(struct ua_reader *r, struct ua_arena *a, unsigned type, void **elems,
                     int32_t *count)
{
    *elems = NULL;
    size_t at = r->pos;
    if (type == UA_TYPE_NULL || type > UA_TYPE_MAX_RESERVED) {
        *count = 0;
        return ua_reader_fail(r, "unknown built-in type");
    }
    if (!ua_decode_array_count(r, min_wire_bytes(type), count)) return false;
    if (*count <= 0) return true;
    return decode_elements(r, a, type, *count, at, elems);
}

/* A Variant's scalar of `type` into out->as (inline types) or a new arena
 * value behind the matching pointer. */
static bool decode_variant_scalar(struct ua_reader *r, struct ua_arena *a, unsigned type, size_t at,
                                  struct ua_variant *out)
{
    void **slot;
    switch (type) {
    case UA_TYPE_NODEID:
        slot = (void **)&out->as.nodeid;
        break;
    case UA_TYPE_EXPANDEDNODEID:
        slot = (void **)&out->as.expanded_nodeid;
        break;
    case UA_TYPE_QUALIFIEDNAME:
        slot = (void **)&out->as.qualified_name;
        break;
    case UA_TYPE_LOCALIZEDTEXT:
        slot = (void **)&out->as.localized_text;
        break;
    case UA_TYPE_EXTENSIONOBJECT:
        slot = (void **)&out->as.extension_object;
        break;
    case UA_TYPE_DATAVALUE:
        slot = (void **)&out->as.datavalue;
        break;
    case UA_TYPE_DIAGNOSTICINFO:
        slot = (void **)&out->as.diagnostic_info;
        break;
    case UA_TYPE_VARIANT:
        return ua_reader_fail_at(r, at, "Variant: a scalar Variant in a Variant");
    default:
        return ua_decode_scalar(r, a, type, &out->as);
    }
    *slot = alloc_value(r, a, ua_type_size(type), at);
    if (!*slot) return false;
    return ua_decode_scalar(r, a, type, *slot);
}

/* Reads the ArrayDimensions of an array Variant and checks them against
 * its length. */
static bool decode_dimensions(struct ua_reader *r, struct ua_arena *a, struct ua_variant *out)
{
    size_t at = r->pos;
    int32_t count;
    if (!ua_decode_array_count(r, 4, &count)) return false;
    if (count <= 0) return true; /* null or empty: no dimensions */
    out->dims = ua_arena_alloc(a, (size_t)count * sizeof(int32_t));
    if (!out->dims) return ua_reader_fail_at(r, at, "decoded data past the arena limit");
    out->dims_count = count;
    uint64_t product = 1;
    bool any_empty = false;
    for (int32_t i = 0; i < count; i++) {
        int32_t d = ua_read_i32(r);
        out->dims[i] = d;
        if (d <= 0)
            any_empty = true;
        else if (product <= (uint64_t)INT32_MAX)
            product *= (uint64_t)d;
    }
    if (r->failed) return false;
    uint64_t expected = any_empty ? 0 : product;
    if (out->array_length < 0 || expected != (uint64_t)out->array_length)
        return ua_reader_fail_at(r, at, "Variant: ArrayDimensions do not match the array length");
    return true;
}

static bool decode_variant_inner(struct ua_reader *r, struct ua_arena *a, struct ua_variant *out)
{
    size_t at = r->pos;
    uint8_t mask = ua_read_u8(r);
    unsigned type = mask & VARIANT_TYPE_MASK;
    out->type = (uint8_t)type;
    out->is_array = (mask & VARIANT_IS_ARRAY) != 0;
    out->array_length = 0;
    out->dims_count = 0;
    out->dims = NULL;
    if (r->failed) {
        out->type = UA_TYPE_NULL;
        return false;
    }
    if (type > UA_TYPE_MAX_RESERVED) {
        out->type = UA_TYPE_NULL;
        out->is_array = false;
        return ua_reader_fail_at(r, at, "Variant: unknown type id");
    }
    if (!out->is_array) {
        /* The common case first: a scalar number. */
        switch (type) {
        case UA_TYPE_DOUBLE:
            out->as.f64 = ua_read_double(r);
            break;
        case UA_TYPE_FLOAT:
            out->as.f32 = ua_read_float(r);
            break;
        case UA_TYPE_INT32:
            out->as.int32 = ua_read_i32(r);
            break;
        case UA_TYPE_NULL:
            out->as.array = NULL;
            break;
        default:
            if (mask & VARIANT_HAS_DIMENSIONS) break;
            return decode_variant_scalar(r, a, type, at, out);
        }
        if (mask & VARIANT_HAS_DIMENSIONS)
            return ua_reader_fail_at(r, at, "Variant: ArrayDimensions without an array");
        return !r->failed;
    }
    out->as.array = NULL;
    if (type == UA_TYPE_NULL) return ua_reader_fail_at(r, at, "Variant: array of type Null");
    size_t count_at = r->pos;
    if (!ua_decode_array_count(r, min_wire_bytes(type), &out->array_length)) return false;
    if (out->array_length > 0 &&
        !decode_elements(r, a, type, out->array_length, count_at, &out->as.array))
        return false;
    if (mask & VARIANT_HAS_DIMENSIONS) return decode_dimensions(r, a, out);
    return true;
}

static bool decode_datavalue_inner(struct ua_reader *r, struct ua_arena *a,
                                   struct ua_datavalue *out)
{
    size_t at = r->pos;
    uint8_t mask = ua_read_u8(r);
    out->mask = mask;
    out->status = 0;
    out->source_timestamp = out->server_timestamp = 0;
    out->source_picoseconds = out->server_picoseconds = 0;
    out->value.type = UA_TYPE_NULL;
    out->value.is_array = false;
    out->value.array_length = 0;
    out->value.dims_count = 0;
    out->value.dims = NULL;
    if (r->failed) return false;
    if (mask & ~DATAVALUE_KNOWN_BITS)
        return ua_reader_fail_at(r, at, "DataValue: unknown mask bits");
    if ((mask & UA_DATAVALUE_HAS_VALUE) && !ua_decode_variant(r, a, &out->value)) return false;
    if (mask & UA_DATAVALUE_HAS_STATUS) out->status = ua_read_u32(r);
    if (mask & UA_DATAVALUE_HAS_SOURCE_TIMESTAMP) out->source_timestamp = ua_read_i64(r);
    if (mask & UA_DATAVALUE_HAS_SOURCE_PICOSECONDS) {
        uint16_t ps = ua_read_u16(r);
        out->source_picoseconds = ps > PICOSECONDS_MAX ? PICOSECONDS_MAX : ps;
    }
    if (mask & UA_DATAVALUE_HAS_SERVER_TIMESTAMP) out->server_timestamp = ua_read_i64(r);
    if (mask & UA_DATAVALUE_HAS_SERVER_PICOSECONDS) {
        uint16_t ps = ua_read_u16(r);
        out->server_picoseconds = ps > PICOSECONDS_MAX ? PICOSECONDS_MAX : ps;
    }
    return !r->failed;
}

static bool decode_diag_inner(struct ua_reader *r, struct ua_arena *a,
                              struct ua_diagnostic_info *out)
{
    size_t at = r->pos;
    uint8_t mask = ua_read_u8(r);
    *out = (struct ua_diagnostic_info){
        .mask = mask,
        .symbolic_id = -1,
        .namespace_uri = -1,
        .locale = -1,
        .localized_text = -1,
        .additional_info = UA_STRING_NULL,
    };
    if (r->failed) return false;
    if (mask & ~DIAG_KNOWN_BITS)
        return ua_reader_fail_at(r, at, "DiagnosticInfo: unknown mask bits");
    if (mask & UA_DIAG_HAS_SYMBOLIC_ID) out->symbolic_id = ua_read_i32(r);
    if (mask & UA_DIAG_HAS_NAMESPACE_URI) out->namespace_uri = ua_read_i32(r);
    if (mask & UA_DIAG_HAS_LOCALE) out->locale = ua_read_i32(r);
    if (mask & UA_DIAG_HAS_LOCALIZED_TEXT) out->localized_text = ua_read_i32(r);
    if (mask & UA_DIAG_HAS_ADDITIONAL_INFO) ua_decode_string(r, &out->additional_info);
    if (mask & UA_DIAG_HAS_INNER_STATUS) out->inner_status = ua_read_u32(r);
    if (r->failed) return false;
    if (mask & UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO) {
        out->inner = alloc_value(r, a, sizeof *out->inner, r->pos);
        if (!out->inner) return false;
        return ua_decode_diagnostic_info(r, a, out->inner);
    }
    return true;
}

/* --------------------------------------------------------------- encoders */

bool ua_encode_string(struct ua_writer *w, struct ua_string s)
{
    if (s.length < 0) return ua_write_i32(w, -1);
    if (s.length > 0 && !s.data) return ua_writer_fail(w, "String: NULL data");
    return ua_write_i32(w, s.length) && ua_write_bytes(w, s.data, (size_t)s.length);
}

bool ua_encode_guid(struct ua_writer *w, const struct ua_guid *g)
{
    return ua_write_u32(w, g->data1) && ua_write_u16(w, g->data2) && ua_write_u16(w, g->data3) &&
           ua_write_bytes(w, g->data4, sizeof g->data4);
}

/* A NodeId with `flags` (ExpandedNodeId bits) or'ed into its encoding byte. */
static bool encode_nodeid_flags(struct ua_writer *w, const struct ua_nodeid *n, uint8_t flags)
{
    switch (n->type) {
    case UA_NODEID_NUMERIC:
        if (n->ns == 0 && n->id.numeric <= 0xFF)
            return ua_write_u8(w, NODEID_TWO_BYTE | flags) &&
                   ua_write_u8(w, (uint8_t)n->id.numeric);
        if (n->ns <= 0xFF && n->id.numeric <= 0xFFFF)
            return ua_write_u8(w, NODEID_FOUR_BYTE | flags) && ua_write_u8(w, (uint8_t)n->ns) &&
                   ua_write_u16(w, (uint16_t)n->id.numeric);
        return ua_write_u8(w, NODEID_NUMERIC | flags) && ua_write_u16(w, n->ns) &&
               ua_write_u32(w, n->id.numeric);
    case UA_NODEID_STRING:
        return ua_write_u8(w, NODEID_STRING | flags) && ua_write_u16(w, n->ns) &&
               ua_encode_string(w, n->id.string);
    case UA_NODEID_GUID:
        return ua_write_u8(w, NODEID_GUID | flags) && ua_write_u16(w, n->ns) &&
               ua_encode_guid(w, &n->id.guid);
    case UA_NODEID_BYTESTRING:
        return ua_write_u8(w, NODEID_BYTESTRING | flags) && ua_write_u16(w, n->ns) &&
               ua_encode_string(w, n->id.string);
    default:
        return ua_writer_fail(w, "NodeId: unknown identifier type");
    }
}

bool ua_encode_nodeid(struct ua_writer *w, const struct ua_nodeid *n)
{
    return encode_nodeid_flags(w, n, 0);
}

bool ua_encode_expanded_nodeid(struct ua_writer *w, const struct ua_expanded_nodeid *n)
{
    uint8_t flags = 0;
    if (!ua_string_is_null(n->namespace_uri)) flags |= NODEID_HAS_NAMESPACE_URI;
    if (n->server_index != 0) flags |= NODEID_HAS_SERVER_INDEX;
    if (!encode_nodeid_flags(w, &n->nodeid, flags)) return false;
    if ((flags & NODEID_HAS_NAMESPACE_URI) && !ua_encode_string(w, n->namespace_uri)) return false;
    if (flags & NODEID_HAS_SERVER_INDEX) return ua_write_u32(w, n->server_index);
    return true;
}

bool ua_encode_qualified_name(struct ua_writer *w, const struct ua_qualified_name *q)
{
    return ua_write_u16(w, q->ns) && ua_encode_string(w, q->name);
}

bool ua_encode_localized_text(struct ua_writer *w, const struct ua_localized_text *t)
{
    uint8_t mask = 0;
    if (!ua_string_is_null(t->locale)) mask |= UA_LOCALIZED_TEXT_HAS_LOCALE;
    if (!ua_string_is_null(t->text)) mask |= UA_LOCALIZED_TEXT_HAS_TEXT;
    if (!ua_write_u8(w, mask)) return false;
    if ((mask & UA_LOCALIZED_TEXT_HAS_LOCALE) && !ua_encode_string(w, t->locale)) return false;
    if (mask & UA_LOCALIZED_TEXT_HAS_TEXT) return ua_encode_string(w, t->text);
    return true;
}

bool ua_encode_extension_object(struct ua_writer *w, const struct ua_extension_object *e)
{
    if (e->encoding > UA_EXTENSION_OBJECT_XML)
        return ua_writer_fail(w, "ExtensionObject: unknown body encoding");
    if (!ua_encode_nodeid(w, &e->type_id) || !ua_write_u8(w, e->encoding)) return false;
    if (e->encoding == UA_EXTENSION_OBJECT_NO_BODY) return true;
    return ua_encode_string(w, e->body);
}

static bool encode_scalar_depth(struct ua_writer *w, unsigned type, const void *value,
                                unsigned depth);

static bool encode_variant_depth(struct ua_writer *w, const struct ua_variant *v, unsigned depth)
{
    unsigned type = v->type;
    if (type > UA_TYPE_MAX_KNOWN) return ua_writer_fail(w, "Variant: reserved type id");
    if (type == UA_TYPE_NULL) {
        if (v->is_array) return ua_writer_fail(w, "Variant: array of type Null");
        return ua_write_u8(w, 0);
    }
    if (!v->is_array) {
        if (type == UA_TYPE_VARIANT)
            return ua_writer_fail(w, "Variant: a scalar Variant in a Variant");
        const void *data = ua_variant_data(v);
        if (!data) return ua_writer_fail(w, "Variant: NULL value pointer");
        return ua_write_u8(w, (uint8_t)type) && encode_scalar_depth(w, type, data, depth);
    }
    int32_t count = v->array_length;
    if (count < -1) return ua_writer_fail(w, "Variant: negative array length");
    if (count > 0 && !v->as.array) return ua_writer_fail(w, "Variant: NULL array");
    bool has_dims = v->dims_count > 0;
    if (has_dims) {
        if (!v->dims) return ua_writer_fail(w, "Variant: NULL ArrayDimensions");
        uint64_t product = 1;
        bool any_empty = false;
        for (int32_t i = 0; i < v->dims_count; i++) {
            if (v->dims[i] <= 0)
                any_empty = true;
            else if (product <= (uint64_t)INT32_MAX)
                product *= (uint64_t)v->dims[i];
        }
        if ((any_empty ? 0 : product) != (uint64_t)(count < 0 ? 0 : count) || count < 0)
            return ua_writer_fail(w, "Variant: ArrayDimensions do not match the array length");
    }
    uint8_t mask = (uint8_t)(type | VARIANT_IS_ARRAY | (has_dims ? VARIANT_HAS_DIMENSIONS : 0));
    if (!ua_write_u8(w, mask) || !ua_write_i32(w, count)) return false;
    size_t size = ua_type_size(type);
    const char *elems = v->as.array;
    for (int32_t i = 0; i < count; i++)
        if (!encode_scalar_depth(w, type, elems + (size_t)i * size, depth)) return false;
    if (!has_dims) return true;
    if (!ua_write_i32(w, v->dims_count)) return false;
    for (int32_t i = 0; i < v->dims_count; i++)
        if (!ua_write_i32(w, v->dims[i])) return false;
    return true;
}

static bool encode_datavalue_depth(struct ua_writer *w, const struct ua_datavalue *dv,
                                   unsigned depth)
{
    uint8_t m = dv->mask & DATAVALUE_KNOWN_BITS;
    if (!ua_write_u8(w, m)) return false;
    if ((m & UA_DATAVALUE_HAS_VALUE) && !encode_scalar_depth(w, UA_TYPE_VARIANT, &dv->value, depth))
        return false;
    if ((m & UA_DATAVALUE_HAS_STATUS) && !ua_write_u32(w, dv->status)) return false;
    if ((m & UA_DATAVALUE_HAS_SOURCE_TIMESTAMP) && !ua_write_i64(w, dv->source_timestamp))
        return false;
    if ((m & UA_DATAVALUE_HAS_SOURCE_PICOSECONDS) && !ua_write_u16(w, dv->source_picoseconds))
        return false;
    if ((m & UA_DATAVALUE_HAS_SERVER_TIMESTAMP) && !ua_write_i64(w, dv->server_timestamp))
        return false;
    if ((m & UA_DATAVALUE_HAS_SERVER_PICOSECONDS) && !ua_write_u16(w, dv->server_picoseconds))
        return false;
    return true;
}

static bool encode_diag_depth(struct ua_writer *w, const struct ua_diagnostic_info *d,
                              unsigned depth)
{
    uint8_t m = d->mask & DIAG_KNOWN_BITS;
    if ((m & UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO) && !d->inner)
        return ua_writer_fail(w, "DiagnosticInfo: NULL inner DiagnosticInfo");
    if (!ua_write_u8(w, m)) return false;
    if ((m & UA_DIAG_HAS_SYMBOLIC_ID) && !ua_write_i32(w, d->symbolic_id)) return false;
    if ((m & UA_DIAG_HAS_NAMESPACE_URI) && !ua_write_i32(w, d->namespace_uri)) return false;
    if ((m & UA_DIAG_HAS_LOCALE) && !ua_write_i32(w, d->locale)) return false;
    if ((m & UA_DIAG_HAS_LOCALIZED_TEXT) && !ua_write_i32(w, d->localized_text)) return false;
    if ((m & UA_DIAG_HAS_ADDITIONAL_INFO) && !ua_encode_string(w, d->additional_info)) return false;
    if ((m & UA_DIAG_HAS_INNER_STATUS) && !ua_write_u32(w, d->inner_status)) return false;
    if (m & UA_DIAG_HAS_INNER_DIAGNOSTIC_INFO)
        return encode_scalar_depth(w, UA_TYPE_DIAGNOSTICINFO, d->inner, depth);
    return true;
}

static bool encode_scalar_depth(struct ua_writer *w, unsigned type, const void *value,
                                unsigned depth)
{
    switch (type) {
    case UA_TYPE_BOOLEAN:
        return ua_write_bool(w, *(const bool *)value);
    case UA_TYPE_SBYTE:
    case UA_TYPE_BYTE:
        return ua_write_u8(w, *(const uint8_t *)value);
    case UA_TYPE_INT16:
    case UA_TYPE_UINT16:
        return ua_write_u16(w, *(const uint16_t *)value);
    case UA_TYPE_INT32:
    case UA_TYPE_UINT32:
    case UA_TYPE_STATUSCODE:
        return ua_write_u32(w, *(const uint32_t *)value);
    case UA_TYPE_INT64:
    case UA_TYPE_UINT64:
    case UA_TYPE_DATETIME:
        return ua_write_u64(w, *(const uint64_t *)value);
    case UA_TYPE_FLOAT:
        return ua_write_float(w, *(const float *)value);
    case UA_TYPE_DOUBLE:
        return ua_write_double(w, *(const double *)value);
    case UA_TYPE_STRING:
    case UA_TYPE_BYTESTRING:
    case UA_TYPE_XMLELEMENT:
        return ua_encode_string(w, *(const struct ua_string *)value);
    case UA_TYPE_GUID:
        return ua_encode_guid(w, value);
    case UA_TYPE_NODEID:
        return ua_encode_nodeid(w, value);
    case UA_TYPE_EXPANDEDNODEID:
        return ua_encode_expanded_nodeid(w, value);
    case UA_TYPE_QUALIFIEDNAME:
        return ua_encode_qualified_name(w, value);
    case UA_TYPE_LOCALIZEDTEXT:
        return ua_encode_localized_text(w, value);
    case UA_TYPE_EXTENSIONOBJECT:
        return ua_encode_extension_object(w, value);
    default:
        break;
    }
    /* The recursive types. */
    if (depth >= UA_MAX_NESTING_DEPTH) return ua_writer_fail(w, "nesting too deep");
    switch (type) {
    case UA_TYPE_DATAVALUE:
        return encode_datavalue_depth(w, value, depth + 1);
    case UA_TYPE_VARIANT:
        return encode_variant_depth(w, value, depth + 1);
    case UA_TYPE_DIAGNOSTICINFO:
        return encode_diag_depth(w, value, depth + 1);
    default:
        return ua_writer_fail(w, "unknown or reserved built-in type");
    }
}

bool ua_encode_scalar(struct ua_writer *w, unsigned type, const void *value)
{
    return encode_scalar_depth(w, type, value, 0);
}

bool ua_encode_variant(struct ua_writer *w, const struct ua_variant *v)
{
    return encode_scalar_depth(w, UA_TYPE_VARIANT, v, 0);
}

bool ua_encode_datavalue(struct ua_writer *w, const struct ua_datavalue *dv)
{
    return encode_scalar_depth(w, UA_TYPE_DATAVALUE, dv, 0);
}

bool ua_encode_diagnostic_info(struct ua_writer *w, const struct ua_diagnostic_info *d)
{
    return encode_scalar_depth(w, UA_TYPE_DIAGNOSTICINFO, d, 0);
}

bool ua_encode_array(struct ua_writer *w, unsigned type, const void *elems, int32_t count)
{
    if (type == UA_TYPE_NULL || type > UA_TYPE_MAX_KNOWN)
        return ua_writer_fail(w, "unknown or reserved built-in type");
    if (count < -1) return ua_writer_fail(w, "array: negative length");
    if (count > 0 && !elems) return ua_writer_fail(w, "array: NULL elements");
    if (!ua_write_i32(w, count)) return false;
    size_t size = ua_type_size(type);
    for (int32_t i = 0; i < count; i++)
        if (!encode_scalar_depth(w, type, (const char *)elems + (size_t)i * size, 0)) return false;
    return true;
}
