/* Modbus TCP frames (ADUs) as pure functions over byte buffers: parse and
 * build requests and responses for function codes 1, 2, 3, 4 (reads) and 5,
 * 6, 15, 16 (writes), and exception responses. No sockets, no allocation.
 *
 * An ADU is the 7-byte MBAP header (transaction id, protocol id = 0, length =
 * bytes that follow including the unit id, unit id) followed by the PDU
 * (function code and data). Limits come from the Modbus Application Protocol
 * Specification v1.1b3 (PDU at most 253 bytes; quantities per function) and
 * the Modbus Messaging on TCP/IP Implementation Guide v1.0b (ADU at most 260
 * bytes). Multi-byte fields are big-endian; bits are packed LSB first. */
#ifndef AIRLOCK_MODBUS_MB_FRAME_H
#define AIRLOCK_MODBUS_MB_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_FRAME_MBAP_BYTES 7
#define MB_FRAME_MAX_PDU_BYTES 253
#define MB_FRAME_MAX_ADU_BYTES 260
/* Largest legal MBAP length field: unit id + the largest PDU. */
#define MB_FRAME_MAX_LENGTH_FIELD (MB_FRAME_MAX_PDU_BYTES + 1)

/* Quantity limits per function (Application Protocol spec, section 6). */
#define MB_FRAME_MAX_READ_BITS 2000      /* FC 1, 2 */
#define MB_FRAME_MAX_READ_REGISTERS 125  /* FC 3, 4 */
#define MB_FRAME_MAX_WRITE_BITS 1968     /* FC 15 */
#define MB_FRAME_MAX_WRITE_REGISTERS 123 /* FC 16 */

enum mb_frame_function {
    MB_FRAME_READ_COILS = 0x01,
    MB_FRAME_READ_DISCRETE_INPUTS = 0x02,
    MB_FRAME_READ_HOLDING_REGISTERS = 0x03,
    MB_FRAME_READ_INPUT_REGISTERS = 0x04,
    MB_FRAME_WRITE_SINGLE_COIL = 0x05,
    MB_FRAME_WRITE_SINGLE_REGISTER = 0x06,
    MB_FRAME_WRITE_MULTIPLE_COILS = 0x0F,
    MB_FRAME_WRITE_MULTIPLE_REGISTERS = 0x10,
};

/* The function code bit set in exception responses. */
#define MB_FRAME_EXCEPTION_FLAG 0x80

enum mb_frame_exception {
    MB_FRAME_EX_ILLEGAL_FUNCTION = 0x01,
    MB_FRAME_EX_ILLEGAL_DATA_ADDRESS = 0x02,
    MB_FRAME_EX_ILLEGAL_DATA_VALUE = 0x03,
    MB_FRAME_EX_SERVER_DEVICE_FAILURE = 0x04,
    MB_FRAME_EX_ACKNOWLEDGE = 0x05,
    MB_FRAME_EX_SERVER_DEVICE_BUSY = 0x06,
    MB_FRAME_EX_MEMORY_PARITY_ERROR = 0x08,
    MB_FRAME_EX_GATEWAY_PATH_UNAVAILABLE = 0x0A,
    MB_FRAME_EX_GATEWAY_TARGET_FAILED = 0x0B,
};

/* Single-coil values on the wire (FC 5). */
#define MB_FRAME_COIL_ON 0xFF00u
#define MB_FRAME_COIL_OFF 0x0000u

struct mb_frame_header {
    uint16_t transaction_id;
    uint16_t protocol_id; /* 0 for Modbus */
    uint16_t length;      /* bytes after this field: unit id + PDU */
    uint8_t unit_id;
};

enum mb_frame_status {
    MB_FRAME_COMPLETE = 0, /* one whole, valid frame; consumed is its size */
    MB_FRAME_INCOMPLETE,   /* a valid prefix: read more bytes and parse again */
    MB_FRAME_INVALID,      /* see mb_frame_result.exception and .consumed */
};

/* The outcome of a parse.
 * For MB_FRAME_INVALID:
 *  - exception != 0: the framing (MBAP) was sound and the frame is consumed
 *    bytes long, but its PDU is not acceptable; a server answers with this
 *    exception code (IllegalFunction, IllegalDataValue) and carries on with
 *    the next frame. The header fields of the request are still filled in.
 *  - exception == 0: the framing itself is broken (protocol id, length field,
 *    or for responses anything at all); the stream cannot be resynchronised
 *    and the connection should be closed. consumed is 0.
 * reason always names what was wrong and where (byte offset in the frame). */
struct mb_frame_result {
    enum mb_frame_status status;
    size_t consumed;
    uint8_t exception;
    char reason[112];
};

/* A parsed request. data points into the caller's buffer (valid while it is). */
struct mb_frame_request {
    struct mb_frame_header header;
    uint8_t function;
    uint16_t address;    /* starting address (0-based protocol address) */
    uint16_t quantity;   /* bits or registers; 1 for single writes */
    uint16_t value;      /* FC 5: 0xFF00 / 0x0000; FC 6: the register value */
    uint8_t byte_count;  /* FC 15, 16 */
    const uint8_t *data; /* FC 15: packed bits; FC 16: big-endian registers */
};

/* A parsed response. data points into the caller's buffer. */
struct mb_frame_response {
    struct mb_frame_header header;
    uint8_t function; /* without the exception flag */
    bool is_exception;
    uint8_t exception;  /* exception code when is_exception */
    uint8_t byte_count; /* FC 1-4 */
    const uint8_t *data;
    uint16_t address; /* FC 5, 6, 15, 16: echoed address */
    uint16_t value;   /* FC 5, 6: echoed value; FC 15, 16: quantity written */
};

/* Parses the first request ADU in buf[0..len). Never reads past len; any
 * bytes are acceptable input. Several frames in one buffer are parsed one at a
 * time: advance by result.consumed and call again. */
struct mb_frame_result mb_frame_parse_request(const uint8_t *buf, size_t len,
                                              struct mb_frame_request *out);

/* Parses the first response ADU in buf[0..len), checking it is
 * self-consistent (byte count against length, exception form, known
 * function). Any failure is MB_FRAME_INVALID with exception 0. Use
 * mb_frame_check_response() to check it answers a given request. */
struct mb_frame_result mb_frame_parse_response(const uint8_t *buf, size_t len,
                                               struct mb_frame_response *out);

/* Checks that rsp (a parsed response) answers req: same transaction id, unit
 * and function, and for reads the byte count that req's quantity needs, for
 * writes the echoed address and value/quantity. An exception response to the
 * same transaction and function matches (the caller inspects is_exception).
 * On mismatch writes a reason to why and returns false. */
bool mb_frame_check_response(const struct mb_frame_request *req,
                             const struct mb_frame_response *rsp, char *why, size_t why_len);

/* Register i (big-endian) or bit i (LSB first) of a read response's data;
 * the caller keeps i inside byte_count. */
uint16_t mb_frame_response_register(const struct mb_frame_response *rsp, uint16_t i);
bool mb_frame_response_bit(const struct mb_frame_response *rsp, uint16_t i);

/* Encoders. Each writes one complete ADU to out and returns its size in
 * bytes, or 0 (nothing written that matters) when cap is too small or the
 * arguments break a protocol limit (quantity, function code). */

/* Read request, FC 1-4. */
size_t mb_frame_encode_read_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                    uint8_t unit_id, uint8_t function, uint16_t address,
                                    uint16_t quantity);
/* FC 5 (value MB_FRAME_COIL_ON / OFF) or FC 6 request; the response to
 * either is the same bytes (an echo). */
size_t mb_frame_encode_write_single(uint8_t *out, size_t cap, uint16_t transaction_id,
                                    uint8_t unit_id, uint8_t function, uint16_t address,
                                    uint16_t value);
/* FC 15 request; bits holds one byte per coil (non-zero = on). */
size_t mb_frame_encode_write_coils_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                           uint8_t unit_id, uint16_t address, const uint8_t *bits,
                                           uint16_t quantity);
/* FC 16 request. */
size_t mb_frame_encode_write_registers_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint16_t address,
                                               const uint16_t *values, uint16_t quantity);
/* FC 1/2 response; bits holds one byte per bit (non-zero = on). */
size_t mb_frame_encode_read_bits_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                          uint8_t unit_id, uint8_t function, const uint8_t *bits,
                                          uint16_t quantity);
/* FC 3/4 response. */
size_t mb_frame_encode_read_registers_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint8_t function,
                                               const uint16_t *values, uint16_t quantity);
/* FC 15/16 response. */
size_t mb_frame_encode_write_multiple_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint8_t function, uint16_t address,
                                               uint16_t quantity);
/* Exception response: function | 0x80, code. */
size_t mb_frame_encode_exception(uint8_t *out, size_t cap, uint16_t transaction_id, uint8_t unit_id,
                                 uint8_t function, uint8_t exception);

/* Re-encodes a parsed request exactly as it arrived (for tests and for
 * forwarding). Returns the size, or 0 when cap is too small. */
size_t mb_frame_encode_request(uint8_t *out, size_t cap, const struct mb_frame_request *req);

/* "IllegalFunction", "IllegalDataAddress", ... or "Unknown". Static. */
const char *mb_frame_exception_name(uint8_t exception);

/* Big-endian 16-bit fields, as every Modbus field is sent. */
static inline uint16_t mb_get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline void mb_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Checks and reads the MBAP header at buf (protocol id 0, length field
 * 2..MB_FRAME_MAX_LENGTH_FIELD): MB_FRAME_COMPLETE with the frame's total
 * size in consumed once the whole frame is there, MB_FRAME_INCOMPLETE
 * before, MB_FRAME_INVALID naming the bad field. */
struct mb_frame_result mb_frame_parse_header(const uint8_t *buf, size_t len,
                                             struct mb_frame_header *h);

/* A result with a printf-style reason (fmt NULL: none), for the codecs of
 * this folder. */
struct mb_frame_result mb_frame_result_make(enum mb_frame_status status, size_t consumed,
                                            uint8_t exception, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
