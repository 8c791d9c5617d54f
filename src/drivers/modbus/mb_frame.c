/* Modbus TCP ADU parsing and building over plain byte buffers (see
 * mb_frame.h). Every read of the input is bounds-checked against the length
 * given; nothing here allocates or touches a socket. */
#include "drivers/modbus/mb_frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct mb_frame_result mb_frame_result_make(enum mb_frame_status status, size_t consumed,
                                            uint8_t exception, const char *fmt, ...)
{
    struct mb_frame_result r = {.status = status, .consumed = consumed, .exception = exception};
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r.reason, sizeof r.reason, fmt, ap);
        va_end(ap);
    }
    return r;
}

static bool is_read_bits(uint8_t fc)
{
    return fc == MB_FRAME_READ_COILS || fc == MB_FRAME_READ_DISCRETE_INPUTS;
}

static bool is_read_registers(uint8_t fc)
{
    return fc == MB_FRAME_READ_HOLDING_REGISTERS || fc == MB_FRAME_READ_INPUT_REGISTERS;
}

static bool is_write_single(uint8_t fc)
{
    return fc == MB_FRAME_WRITE_SINGLE_COIL || fc == MB_FRAME_WRITE_SINGLE_REGISTER;
}

static bool is_write_multiple(uint8_t fc)
{
    return fc == MB_FRAME_WRITE_MULTIPLE_COILS || fc == MB_FRAME_WRITE_MULTIPLE_REGISTERS;
}

static uint16_t bytes_for_bits(uint16_t bits)
{
    return (uint16_t)((bits + 7u) / 8u);
}

/* Checks the MBAP header of the frame at buf. On COMPLETE, fills *h and sets
 * consumed to the whole frame's size (header and PDU are all in buf). */
struct mb_frame_result mb_frame_parse_header(const uint8_t *buf, size_t len,
                                             struct mb_frame_header *h)
{
    if (len >= 4 && mb_get_u16(buf + 2) != 0)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "protocol id at byte 2 is %u, expected 0 (Modbus)",
                                    mb_get_u16(buf + 2));
    if (len >= 6) {
        uint16_t length = mb_get_u16(buf + 4);
        if (length < 2)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "length field at byte 4 is %u, expected at least 2 (unit id and "
                "function code)",
                length);
        if (length > MB_FRAME_MAX_LENGTH_FIELD)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "length field at byte 4 is %u, above %u (ADU limit of %u bytes)", length,
                MB_FRAME_MAX_LENGTH_FIELD, MB_FRAME_MAX_ADU_BYTES);
    }
    if (len < MB_FRAME_MBAP_BYTES + 1u)
        return mb_frame_result_make(MB_FRAME_INCOMPLETE, 0, 0, "%zu of at least 8 bytes", len);
    h->transaction_id = mb_get_u16(buf);
    h->protocol_id = 0;
    h->length = mb_get_u16(buf + 4);
    h->unit_id = buf[6];
    size_t total = 6u + h->length;
    if (len < total)
        return mb_frame_result_make(MB_FRAME_INCOMPLETE, 0, 0, "%zu of %zu bytes", len, total);
    return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
}

/* The PDU of a request whose framing is sound; pdu_len >= 1. */
static struct mb_frame_result parse_request_pdu(const uint8_t *pdu, size_t pdu_len, size_t total,
                                                struct mb_frame_request *out)
{
    const uint8_t ex_value = MB_FRAME_EX_ILLEGAL_DATA_VALUE;
    uint8_t fc = pdu[0];
    out->function = fc;
    if (!is_read_bits(fc) && !is_read_registers(fc) && !is_write_single(fc) &&
        !is_write_multiple(fc))
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_FUNCTION,
                                    "function code 0x%02X at byte 7 is not supported", fc);
    if (is_write_multiple(fc) ? pdu_len < 6 : pdu_len != 5)
        return mb_frame_result_make(MB_FRAME_INVALID, total, ex_value,
                                    "function 0x%02X: PDU is %zu bytes, expected %s", fc, pdu_len,
                                    is_write_multiple(fc) ? "at least 6" : "5");
    out->address = mb_get_u16(pdu + 1);
    if (is_write_single(fc)) {
        out->quantity = 1;
        out->value = mb_get_u16(pdu + 3);
        if (fc == MB_FRAME_WRITE_SINGLE_COIL && out->value != MB_FRAME_COIL_ON &&
            out->value != MB_FRAME_COIL_OFF)
            return mb_frame_result_make(MB_FRAME_INVALID, total, ex_value,
                                        "coil value 0x%04X at byte 10 is neither 0xFF00 nor 0x0000",
                                        out->value);
        return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    }
    out->quantity = mb_get_u16(pdu + 3);
    uint16_t max = is_read_bits(fc)                      ? MB_FRAME_MAX_READ_BITS
                   : is_read_registers(fc)               ? MB_FRAME_MAX_READ_REGISTERS
                   : fc == MB_FRAME_WRITE_MULTIPLE_COILS ? MB_FRAME_MAX_WRITE_BITS
                                                         : MB_FRAME_MAX_WRITE_REGISTERS;
    if (out->quantity < 1 || out->quantity > max)
        return mb_frame_result_make(MB_FRAME_INVALID, total, ex_value,
                                    "function 0x%02X: quantity %u at byte 10 is outside 1..%u", fc,
                                    out->quantity, max);
    if (!is_write_multiple(fc)) return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    out->byte_count = pdu[5];
    size_t expected =
        fc == MB_FRAME_WRITE_MULTIPLE_COILS ? bytes_for_bits(out->quantity) : 2u * out->quantity;
    if (out->byte_count != expected)
        return mb_frame_result_make(
            MB_FRAME_INVALID, total, ex_value,
            "function 0x%02X: byte count %u at byte 12 does not fit quantity %u "
            "(expected %zu)",
            fc, out->byte_count, out->quantity, expected);
    if (pdu_len != 6u + out->byte_count)
        return mb_frame_result_make(MB_FRAME_INVALID, total, ex_value,
                                    "function 0x%02X: PDU is %zu bytes, byte count %u needs %u", fc,
                                    pdu_len, out->byte_count, 6u + out->byte_count);
    out->data = pdu + 6;
    return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
}

struct mb_frame_result mb_frame_parse_request(const uint8_t *buf, size_t len,
                                              struct mb_frame_request *out)
{
    memset(out, 0, sizeof *out);
    struct mb_frame_result r = mb_frame_parse_header(buf, len, &out->header);
    if (r.status != MB_FRAME_COMPLETE) return r;
    return parse_request_pdu(buf + MB_FRAME_MBAP_BYTES, out->header.length - 1u, r.consumed, out);
}

static struct mb_frame_result parse_response_pdu(const uint8_t *pdu, size_t pdu_len, size_t total,
                                                 struct mb_frame_response *out)
{
    uint8_t fc = pdu[0];
    if (fc & MB_FRAME_EXCEPTION_FLAG) {
        out->is_exception = true;
        out->function = fc & (uint8_t)~MB_FRAME_EXCEPTION_FLAG;
        if (pdu_len != 2)
            return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                        "exception response: PDU is %zu bytes, expected 2",
                                        pdu_len);
        out->exception = pdu[1];
        if (out->exception == 0 || out->function == 0)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "exception response 0x%02X with code 0 or function 0 at byte 7", fc);
        return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    }
    out->function = fc;
    if (is_read_bits(fc) || is_read_registers(fc)) {
        if (pdu_len < 2)
            return mb_frame_result_make(MB_FRAME_INVALID, 0, 0, "function 0x%02X: no byte count",
                                        fc);
        out->byte_count = pdu[1];
        unsigned max = is_read_bits(fc) ? bytes_for_bits(MB_FRAME_MAX_READ_BITS)
                                        : 2u * MB_FRAME_MAX_READ_REGISTERS;
        if (out->byte_count == 0 || out->byte_count > max ||
            (is_read_registers(fc) && out->byte_count % 2 != 0))
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "function 0x%02X: byte count %u at byte 8 is not a valid size", fc,
                out->byte_count);
        if (pdu_len != 2u + out->byte_count)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "function 0x%02X: length field says %zu PDU bytes, byte count %u "
                "needs %u",
                fc, pdu_len, out->byte_count, 2u + out->byte_count);
        out->data = pdu + 2;
        return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    }
    if (is_write_single(fc) || is_write_multiple(fc)) {
        if (pdu_len != 5)
            return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                        "function 0x%02X: PDU is %zu bytes, expected 5", fc,
                                        pdu_len);
        out->address = mb_get_u16(pdu + 1);
        out->value = mb_get_u16(pdu + 3);
        return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    }
    return mb_frame_result_make(MB_FRAME_INVALID, 0, 0, "function code 0x%02X at byte 7 is unknown",
                                fc);
}

struct mb_frame_result mb_frame_parse_response(const uint8_t *buf, size_t len,
                                               struct mb_frame_response *out)
{
    memset(out, 0, sizeof *out);
    struct mb_frame_result r = mb_frame_parse_header(buf, len, &out->header);
    if (r.status != MB_FRAME_COMPLETE) return r;
    return parse_response_pdu(buf + MB_FRAME_MBAP_BYTES, out->header.length - 1u, r.consumed, out);
}

static bool why_false(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool why_false(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

bool mb_frame_check_response(const struct mb_frame_request *req,
                             const struct mb_frame_response *rsp, char *why, size_t why_len)
{
    if (rsp->header.transaction_id != req->header.transaction_id)
        return why_false(why, why_len, "transaction id %u, expected %u", rsp->header.transaction_id,
                         req->header.transaction_id);
    if (rsp->header.unit_id != req->header.unit_id)
        return why_false(why, why_len, "unit id %u, expected %u", rsp->header.unit_id,
                         req->header.unit_id);
    if (rsp->function != req->function)
        return why_false(why, why_len, "function 0x%02X, expected 0x%02X", rsp->function,
                         req->function);
    if (rsp->is_exception) return true;
    uint8_t fc = req->function;
    if (is_read_bits(fc) || is_read_registers(fc)) {
        unsigned need = is_read_bits(fc) ? bytes_for_bits(req->quantity) : 2u * req->quantity;
        if (rsp->byte_count != need)
            return why_false(why, why_len, "byte count %u, expected %u for quantity %u",
                             rsp->byte_count, need, req->quantity);
        return true;
    }
    uint16_t echo = is_write_single(fc) ? req->value : req->quantity;
    if (rsp->address != req->address || rsp->value != echo)
        return why_false(why, why_len, "echo %u/%u, expected %u/%u", rsp->address, rsp->value,
                         req->address, echo);
    return true;
}

uint16_t mb_frame_response_register(const struct mb_frame_response *rsp, uint16_t i)
{
    return mb_get_u16(rsp->data + 2u * i);
}

bool mb_frame_response_bit(const struct mb_frame_response *rsp, uint16_t i)
{
    return (rsp->data[i / 8u] >> (i % 8u)) & 1u;
}

/* Writes the MBAP header for a PDU of pdu_len bytes; returns the ADU size, or
 * 0 when it does not fit cap or the PDU is too long. */
static size_t put_header(uint8_t *out, size_t cap, uint16_t transaction_id, uint8_t unit_id,
                         size_t pdu_len)
{
    size_t total = MB_FRAME_MBAP_BYTES + pdu_len;
    if (pdu_len == 0 || pdu_len > MB_FRAME_MAX_PDU_BYTES || total > cap) return 0;
    mb_put_u16(out, transaction_id);
    mb_put_u16(out + 2, 0);
    mb_put_u16(out + 4, (uint16_t)(pdu_len + 1));
    out[6] = unit_id;
    return total;
}

static void pack_bits(uint8_t *out, const uint8_t *bits, uint16_t quantity)
{
    memset(out, 0, bytes_for_bits(quantity));
    for (uint16_t i = 0; i < quantity; i++)
        if (bits[i]) out[i / 8u] |= (uint8_t)(1u << (i % 8u));
}

size_t mb_frame_encode_read_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                    uint8_t unit_id, uint8_t function, uint16_t address,
                                    uint16_t quantity)
{
    unsigned max = is_read_bits(function)        ? MB_FRAME_MAX_READ_BITS
                   : is_read_registers(function) ? MB_FRAME_MAX_READ_REGISTERS
                                                 : 0;
    if (quantity < 1 || quantity > max) return 0;
    size_t n = put_header(out, cap, transaction_id, unit_id, 5);
    if (!n) return 0;
    out[7] = function;
    mb_put_u16(out + 8, address);
    mb_put_u16(out + 10, quantity);
    return n;
}

size_t mb_frame_encode_write_single(uint8_t *out, size_t cap, uint16_t transaction_id,
                                    uint8_t unit_id, uint8_t function, uint16_t address,
                                    uint16_t value)
{
    if (!is_write_single(function)) return 0;
    if (function == MB_FRAME_WRITE_SINGLE_COIL && value != MB_FRAME_COIL_ON &&
        value != MB_FRAME_COIL_OFF)
        return 0;
    size_t n = put_header(out, cap, transaction_id, unit_id, 5);
    if (!n) return 0;
    out[7] = function;
    mb_put_u16(out + 8, address);
    mb_put_u16(out + 10, value);
    return n;
}

size_t mb_frame_encode_write_coils_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                           uint8_t unit_id, uint16_t address, const uint8_t *bits,
                                           uint16_t quantity)
{
    if (quantity < 1 || quantity > MB_FRAME_MAX_WRITE_BITS) return 0;
    uint16_t bytes = bytes_for_bits(quantity);
    size_t n = put_header(out, cap, transaction_id, unit_id, 6u + bytes);
    if (!n) return 0;
    out[7] = MB_FRAME_WRITE_MULTIPLE_COILS;
    mb_put_u16(out + 8, address);
    mb_put_u16(out + 10, quantity);
    out[12] = (uint8_t)bytes;
    pack_bits(out + 13, bits, quantity);
    return n;
}

size_t mb_frame_encode_write_registers_request(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint16_t address,
                                               const uint16_t *values, uint16_t quantity)
{
    if (quantity < 1 || quantity > MB_FRAME_MAX_WRITE_REGISTERS) return 0;
    size_t n = put_header(out, cap, transaction_id, unit_id, 6u + 2u * quantity);
    if (!n) return 0;
    out[7] = MB_FRAME_WRITE_MULTIPLE_REGISTERS;
    mb_put_u16(out + 8, address);
    mb_put_u16(out + 10, quantity);
    out[12] = (uint8_t)(2u * quantity);
    for (uint16_t i = 0; i < quantity; i++)
        mb_put_u16(out + 13 + 2u * i, values[i]);
    return n;
}

size_t mb_frame_encode_read_bits_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                          uint8_t unit_id, uint8_t function, const uint8_t *bits,
                                          uint16_t quantity)
{
    if (!is_read_bits(function) || quantity < 1 || quantity > MB_FRAME_MAX_READ_BITS) return 0;
    uint16_t bytes = bytes_for_bits(quantity);
    size_t n = put_header(out, cap, transaction_id, unit_id, 2u + bytes);
    if (!n) return 0;
    out[7] = function;
    out[8] = (uint8_t)bytes;
    pack_bits(out + 9, bits, quantity);
    return n;
}

size_t mb_frame_encode_read_registers_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint8_t function,
                                               const uint16_t *values, uint16_t quantity)
{
    if (!is_read_registers(function) || quantity < 1 || quantity > MB_FRAME_MAX_READ_REGISTERS)
        return 0;
    size_t n = put_header(out, cap, transaction_id, unit_id, 2u + 2u * quantity);
    if (!n) return 0;
    out[7] = function;
    out[8] = (uint8_t)(2u * quantity);
    for (uint16_t i = 0; i < quantity; i++)
        mb_put_u16(out + 9 + 2u * i, values[i]);
    return n;
}

size_t mb_frame_encode_write_multiple_response(uint8_t *out, size_t cap, uint16_t transaction_id,
                                               uint8_t unit_id, uint8_t function, uint16_t address,
                                               uint16_t quantity)
{
    if (!is_write_multiple(function)) return 0;
    size_t n = put_header(out, cap, transaction_id, unit_id, 5);
    if (!n) return 0;
    out[7] = function;
    mb_put_u16(out + 8, address);
    mb_put_u16(out + 10, quantity);
    return n;
}

size_t mb_frame_encode_exception(uint8_t *out, size_t cap, uint16_t transaction_id, uint8_t unit_id,
                                 uint8_t function, uint8_t exception)
{
    size_t n = put_header(out, cap, transaction_id, unit_id, 2);
    if (!n) return 0;
    out[7] = (uint8_t)(function | MB_FRAME_EXCEPTION_FLAG);
    out[8] = exception;
    return n;
}

size_t mb_frame_encode_request(uint8_t *out, size_t cap, const struct mb_frame_request *req)
{
    uint8_t fc = req->function;
    size_t pdu_len = is_write_multiple(fc) ? 6u + req->byte_count : 5u;
    size_t n = put_header(out, cap, req->header.transaction_id, req->header.unit_id, pdu_len);
    if (!n) return 0;
    out[7] = fc;
    mb_put_u16(out + 8, req->address);
    mb_put_u16(out + 10, is_write_single(fc) ? req->value : req->quantity);
    if (is_write_multiple(fc)) {
        out[12] = req->byte_count;
        if (req->byte_count) memcpy(out + 13, req->data, req->byte_count);
    }
    return n;
}

const char *mb_frame_exception_name(uint8_t exception)
{
    switch (exception) {
    case MB_FRAME_EX_ILLEGAL_FUNCTION:
        return "IllegalFunction";
    case MB_FRAME_EX_ILLEGAL_DATA_ADDRESS:
        return "IllegalDataAddress";
    case MB_FRAME_EX_ILLEGAL_DATA_VALUE:
        return "IllegalDataValue";
    case MB_FRAME_EX_SERVER_DEVICE_FAILURE:
        return "ServerDeviceFailure";
    case MB_FRAME_EX_ACKNOWLEDGE:
        return "Acknowledge";
    case MB_FRAME_EX_SERVER_DEVICE_BUSY:
        return "ServerDeviceBusy";
    case MB_FRAME_EX_MEMORY_PARITY_ERROR:
        return "MemoryParityError";
    case MB_FRAME_EX_GATEWAY_PATH_UNAVAILABLE:
        return "GatewayPathUnavailable";
    case MB_FRAME_EX_GATEWAY_TARGET_FAILED:
        return "GatewayTargetDeviceFailedToRespond";
    default:
        return "Unknown";
    }
}
