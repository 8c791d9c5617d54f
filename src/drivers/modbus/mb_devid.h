/* Modbus Read Device Identification (function 43 / MEI type 14, Modbus
 * Application Protocol Specification v1.1b3, section 6.21) as pure
 * functions over byte buffers: the request, the response (objects, "more
 * follows" continuation), a server's answer from a table of objects, and
 * the identity text the OT monitor compares. Plus mb_devid_read, the one
 * function here that does I/O: it asks a device over an open libmodbus TCP
 * connection (libmodbus 3.1.6 cannot frame these responses itself: it
 * reads one byte after the function code and leaves the rest in the
 * socket, so this reads by the MBAP length instead).
 *
 * Request PDU:  2B 0E code object_id
 *   code 1 basic (objects 0-2, stream), 2 regular (0-0x7F, stream),
 *   3 extended (0-0xFF, stream), 4 one specific object.
 * Response PDU: 2B 0E code conformity more_follows next_object_id count
 *               then count x (object_id length value[length])
 *   more_follows 0xFF: ask again from next_object_id for the rest.
 * Exception:    AB exception_code.
 * Basic objects: 0 VendorName, 1 ProductCode, 2 MajorMinorRevision. */
#ifndef AIRLOCK_MODBUS_MB_DEVID_H
#define AIRLOCK_MODBUS_MB_DEVID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/modbus/mb_frame.h"

#define MB_DEVID_FUNCTION 0x2B
#define MB_DEVID_MEI_TYPE 0x0E
#define MB_DEVID_REQUEST_ADU_BYTES 11    /* MBAP 7 + PDU 4 */
#define MB_DEVID_RESPONSE_HEADER_BYTES 7 /* function .. count */
/* The largest object value one response can carry. */
#define MB_DEVID_MAX_VALUE_BYTES (MB_FRAME_MAX_PDU_BYTES - MB_DEVID_RESPONSE_HEADER_BYTES - 2)
/* At most this many objects fit in one response (2 bytes each, empty). */
#define MB_DEVID_MAX_OBJECTS ((MB_FRAME_MAX_PDU_BYTES - MB_DEVID_RESPONSE_HEADER_BYTES) / 2)

enum mb_devid_code {
    MB_DEVID_BASIC = 1,
    MB_DEVID_REGULAR = 2,
    MB_DEVID_EXTENDED = 3,
    MB_DEVID_SPECIFIC = 4,
};

enum mb_devid_object_id {
    MB_DEVID_VENDOR_NAME = 0x00,
    MB_DEVID_PRODUCT_CODE = 0x01,
    MB_DEVID_MAJOR_MINOR_REVISION = 0x02,
    MB_DEVID_VENDOR_URL = 0x03,
    MB_DEVID_PRODUCT_NAME = 0x04,
    MB_DEVID_MODEL_NAME = 0x05,
    MB_DEVID_USER_APPLICATION_NAME = 0x06,
};

/* Conformity levels: stream access only, or stream and individual (0x8x). */
#define MB_DEVID_CONFORMITY_BASIC 0x01
#define MB_DEVID_CONFORMITY_REGULAR 0x02
#define MB_DEVID_CONFORMITY_EXTENDED 0x03
#define MB_DEVID_CONFORMITY_INDIVIDUAL 0x80 /* flag */

struct mb_devid_request {
    struct mb_frame_header header;
    uint8_t code;      /* enum mb_devid_code */
    uint8_t object_id; /* first (stream) or only (specific) object */
};

/* One object. value points into the caller's buffer (or table). */
struct mb_devid_object {
    uint8_t id;
    uint8_t length;
    const uint8_t *value;
};

struct mb_devid_response {
    struct mb_frame_header header;
    bool is_exception;
    uint8_t exception;
    uint8_t code;
    uint8_t conformity;
    bool more_follows;
    uint8_t next_object_id;
    uint8_t object_count;
    struct mb_devid_object objects[MB_DEVID_MAX_OBJECTS];
};

/* Builds a request ADU into out. Returns its size (11), or 0 when cap is
 * too small or code is not 1..4. */
size_t mb_devid_encode_request(uint8_t *out, size_t cap, uint16_t transaction_id, uint8_t unit_id,
                               uint8_t code, uint8_t object_id);

/* Parses the first ADU of buf[0..len) as a request of this function (as a
 * server receives it). COMPLETE with *out filled; INCOMPLETE (read more);
 * INVALID with exception 0 when the MBAP framing is broken (close the
 * connection), or with an exception code for the server to answer
 * (IllegalFunction: not function 43 / MEI 14; IllegalDataValue: wrong
 * length or code), consumed then being the frame's size. Never reads past
 * len. */
struct mb_frame_result mb_devid_parse_request(const uint8_t *buf, size_t len,
                                              struct mb_devid_request *out);

/* Parses the first ADU of buf[0..len) as a response of this function (or
 * its exception), checking every object lies inside the PDU, the count
 * matches and nothing trails. Any failure is INVALID with exception 0 and
 * a reason naming the byte offset. */
struct mb_frame_result mb_devid_parse_response(const uint8_t *buf, size_t len,
                                               struct mb_devid_response *out);

/* Checks rsp answers req (transaction, unit, code; an exception answers
 * too). On mismatch writes why and returns false. */
bool mb_devid_check_response(const struct mb_devid_request *req,
                             const struct mb_devid_response *rsp, char *why, size_t why_len);

/* A server's answer to req from objects[0..count) (ids ascending, values
 * longer than MB_DEVID_MAX_VALUE_BYTES are cut) with the given conformity
 * level: stream codes return the objects of the code's range from
 * req->object_id on (from the first when that id is not in the table),
 * as many as fit, with more_follows and next_object_id for the rest;
 * code 4 returns the one object (IllegalDataAddress when absent, or when
 * conformity lacks MB_DEVID_CONFORMITY_INDIVIDUAL: IllegalDataValue); a
 * code beyond conformity's category is IllegalDataValue. Returns the ADU
 * size, or 0 when cap < MB_FRAME_MAX_ADU_BYTES. */
size_t mb_devid_answer(const struct mb_devid_request *req, const struct mb_devid_object *objects,
                       size_t count, uint8_t conformity, uint8_t *out, size_t cap);

/* The objects gathered from one or more responses, for the identity text. */
struct mb_devid_identity {
    char vendor_name[MB_DEVID_MAX_VALUE_BYTES + 1];
    char product_code[MB_DEVID_MAX_VALUE_BYTES + 1];
    char revision[MB_DEVID_MAX_VALUE_BYTES + 1];
    bool have_vendor, have_product, have_revision;
};

/* Takes the basic objects of rsp into id (bytes outside printable ASCII
 * become '?'). */
void mb_devid_identity_take(struct mb_devid_identity *id, const struct mb_devid_response *rsp);
/* "VendorName=...; ProductCode=...; MajorMinorRevision=..." (the objects
 * present) into out, cut to len. */
void mb_devid_identity_format(const struct mb_devid_identity *id, char *out, size_t len);

/* ---- I/O ---- */

enum mb_devid_status {
    MB_DEVID_OK = 0,      /* identity filled */
    MB_DEVID_UNSUPPORTED, /* the device answered with an exception: no identity */
    MB_DEVID_FAILED,      /* timeout, I/O error or a malformed answer: close the connection */
};

struct _modbus; /* libmodbus's modbus_t */

/* Reads the basic device identification of unit_id over ctx's connected
 * TCP socket: request(s) of code 1 following more_follows (at most 8),
 * each answer framed by its MBAP length and checked against the request,
 * within timeout_ms each. *transaction_id is the last id used and is
 * advanced. On OK, identity receives mb_devid_identity_format's text; on
 * the others why says what happened. */
enum mb_devid_status mb_devid_read(struct _modbus *ctx, uint8_t unit_id, uint16_t *transaction_id,
                                   int timeout_ms, char *identity, size_t identity_len, char *why,
                                   size_t why_len);

struct device_stats;

/* The driver's hook once per connection (after its first good poll, so
 * a device that never answers it delays no data): mb_devid_read, then the
 * identity into stats (device_stats_set_identity; "" when the device has
 * none) and a log line. The request is not counted in the statistics' request
 * or error counters (the OT monitor's baseline is about polls). Returns
 * false when the answer failed (timeout, malformed): the caller closes the
 * connection, since a late answer would be taken for the next request, and
 * should not ask this device again. */
bool mb_devid_refresh(struct _modbus *ctx, uint8_t unit_id, uint16_t *transaction_id,
                      int timeout_ms, struct device_stats *stats, const char *device_name);

/* The identity recorded for a device that does not answer device
 * identification (exception or no answer). */
#define MB_DEVID_NONE "(none)"

#endif
