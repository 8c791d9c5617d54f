/* Private helpers shared by the ua_services*.c files (not part of the
 * module's contract; see ua_services.h). */
#ifndef AIRLOCK_OPCUA_UA_SERVICES_INTERNAL_H
#define AIRLOCK_OPCUA_UA_SERVICES_INTERNAL_H

#include "drivers/opcua/ua_services.h"

/* Reasons used in more than one file. */
#define UA_SVC_ARENA_REASON "decoded data past the arena limit"

/* ---------------------------------------------------------------- encoding */

/* Writes a body's start: the type NodeId (ns=0, numeric) and, when h is not
 * NULL, the RequestHeader. */
bool ua_svc_encode_begin(struct ua_writer *w, uint32_t type_id, const struct ua_request_header *h);

/* A String / ByteString of a request: data NULL (a zeroed field) is sent as
 * the null string, anything else as ua_encode_string does. */
bool ua_svc_encode_string(struct ua_writer *w, struct ua_string s);

/* An array's Int32 count: fails the writer for count > INT32_MAX or a NULL
 * array with count > 0. */
bool ua_svc_encode_count(struct ua_writer *w, size_t count, const void *elems);

/* String[] (each through ua_svc_encode_string). */
bool ua_svc_encode_string_array(struct ua_writer *w, const struct ua_string *s, size_t count);

/* A QualifiedName whose name goes through ua_svc_encode_string. */
bool ua_svc_encode_qualified_name(struct ua_writer *w, const struct ua_qualified_name *q);

/* ReadValueId. */
bool ua_svc_encode_read_value_id(struct ua_writer *w, const struct ua_read_value_id *v);

/* Starts an ExtensionObject with a binary body of type type_id: writes the
 * type NodeId, the encoding byte and a zero length, and returns the offset
 * of the length (SIZE_MAX on failure) for ua_svc_encode_extension_end. */
size_t ua_svc_encode_extension_begin(struct ua_writer *w, uint32_t type_id);

/* Patches the body length written at length_offset. */
bool ua_svc_encode_extension_end(struct ua_writer *w, size_t length_offset);

/* ---------------------------------------------------------------- decoding */

/* Reads the type NodeId and the ResponseHeader of a response expected to be
 * of type `expected`. Returns UA_STATUS_GOOD when the caller should decode
 * the rest of the body; anything else is the decoder's final result (see
 * ua_services.h): a ServiceFault's status, a Bad ServiceResult,
 * BadUnknownResponse or a decoding failure. */
uint32_t ua_svc_decode_begin(struct ua_reader *r, struct ua_arena *a, uint32_t expected,
                             struct ua_response_header *h);

/* The final result of a decoder once the body is read: Good, or the status
 * matching the reader's failure. */
uint32_t ua_svc_decode_end(const struct ua_reader *r);

/* Reads an array count and allocates count elements of elem_size (zeroed)
 * in the arena. min_wire_bytes: the fewest bytes one element takes on the
 * wire, to reject counts the message cannot hold before allocating. A null
 * or empty array gives *count 0 and *elems NULL. */
bool ua_svc_decode_array_alloc(struct ua_reader *r, struct ua_arena *a, size_t min_wire_bytes,
                               size_t elem_size, size_t *count, void **elems);

/* String[] and UInt32[] / StatusCode[] into the arena. */
bool ua_svc_decode_string_array(struct ua_reader *r, struct ua_arena *a, size_t *count,
                                struct ua_string **elems);
bool ua_svc_decode_u32_array(struct ua_reader *r, struct ua_arena *a, size_t *count,
                             uint32_t **elems);

/* Reads a DiagnosticInfo[] and drops it (the values stay in the arena). */
bool ua_svc_skip_diagnostic_infos(struct ua_reader *r, struct ua_arena *a);

/* Makes sub a reader over an ExtensionObject's binary body (which points
 * into r's buffer). */
void ua_svc_body_reader(const struct ua_reader *r, struct ua_string body, struct ua_reader *sub);

/* Copies sub's failure (with its offset moved into r's coordinates) to r.
 * Returns false. */
bool ua_svc_body_failed(struct ua_reader *r, const struct ua_reader *sub);

/* True when e is a binary-encoded ExtensionObject of ns=0 type type_id. */
bool ua_svc_extension_is(const struct ua_extension_object *e, uint32_t type_id);

#endif
