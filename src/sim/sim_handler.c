/* One Modbus request against a simulated device's registers (reads, writes,
 * exceptions for unknown units and unmapped addresses), and the garbage
 * fault's corruption of a response. Pure functions over the device's memory
 * and byte buffers; the server calls them with the plant lock held. */
#include <string.h>

#include "drivers/modbus/mb_devid.h"
#include "sim/sim_internal.h"

static size_t exception(uint8_t *out, size_t cap, const struct mb_frame_request *req, uint8_t code)
{
    return mb_frame_encode_exception(out, cap, req->header.transaction_id, req->header.unit_id,
                                     req->function, code);
}

static size_t read_bits(struct sim_device *d, enum mb_area area, const struct mb_frame_request *req,
                        uint8_t *out, size_t cap)
{
    const uint16_t *span = sim_device_span(d, area, req->address, req->quantity);
    if (!span) return exception(out, cap, req, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    uint8_t bits[MB_FRAME_MAX_READ_BITS];
    for (uint16_t i = 0; i < req->quantity; i++)
        bits[i] = span[i] != 0;
    return mb_frame_encode_read_bits_response(out, cap, req->header.transaction_id,
                                              req->header.unit_id, req->function, bits,
                                              req->quantity);
}

static size_t read_registers(struct sim_device *d, enum mb_area area,
                             const struct mb_frame_request *req, uint8_t *out, size_t cap)
{
    const uint16_t *span = sim_device_span(d, area, req->address, req->quantity);
    if (!span) return exception(out, cap, req, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    return mb_frame_encode_read_registers_response(out, cap, req->header.transaction_id,
                                                   req->header.unit_id, req->function, span,
                                                   req->quantity);
}

static size_t write_single(struct sim_device *d, const struct mb_frame_request *req, uint8_t *out,
                           size_t cap)
{
    bool coil = req->function == MB_FRAME_WRITE_SINGLE_COIL;
    uint16_t *span = sim_device_span(d, coil ? MB_AREA_COIL : MB_AREA_HOLDING, req->address, 1);
    if (!span) return exception(out, cap, req, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    span[0] = coil ? req->value == MB_FRAME_COIL_ON : req->value;
    return mb_frame_encode_write_single(out, cap, req->header.transaction_id, req->header.unit_id,
                                        req->function, req->address, req->value);
}

static size_t write_multiple(struct sim_device *d, const struct mb_frame_request *req, uint8_t *out,
                             size_t cap)
{
    bool coils = req->function == MB_FRAME_WRITE_MULTIPLE_COILS;
    uint16_t *span =
        sim_device_span(d, coils ? MB_AREA_COIL : MB_AREA_HOLDING, req->address, req->quantity);
    if (!span) return exception(out, cap, req, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    for (uint16_t i = 0; i < req->quantity; i++) {
        if (coils)
            span[i] = (req->data[i / 8u] >> (i % 8u)) & 1u;
        else
            span[i] = (uint16_t)(req->data[2u * i] << 8 | req->data[2u * i + 1]);
    }
    return mb_frame_encode_write_multiple_response(out, cap, req->header.transaction_id,
                                                   req->header.unit_id, req->function, req->address,
                                                   req->quantity);
}

size_t sim_handle_request(struct sim_device *d, const struct mb_frame_request *req, uint8_t *out,
                          size_t cap)
{
    if (cap < MB_FRAME_MAX_ADU_BYTES) return 0;
    /* A gateway answers this for a unit it has no route to; 0xFF and 0 are
     * what TCP clients commonly send to mean "this device". */
    uint8_t unit = req->header.unit_id;
    if (unit != d->unit_id && unit != 0xFF && unit != 0)
        return exception(out, cap, req, MB_FRAME_EX_GATEWAY_TARGET_FAILED);
    switch (req->function) {
    case MB_FRAME_READ_COILS:
        return read_bits(d, MB_AREA_COIL, req, out, cap);
    case MB_FRAME_READ_DISCRETE_INPUTS:
        return read_bits(d, MB_AREA_DISCRETE_INPUT, req, out, cap);
    case MB_FRAME_READ_HOLDING_REGISTERS:
        return read_registers(d, MB_AREA_HOLDING, req, out, cap);
    case MB_FRAME_READ_INPUT_REGISTERS:
        return read_registers(d, MB_AREA_INPUT, req, out, cap);
    case MB_FRAME_WRITE_SINGLE_COIL:
    case MB_FRAME_WRITE_SINGLE_REGISTER:
        return write_single(d, req, out, cap);
    case MB_FRAME_WRITE_MULTIPLE_COILS:
    case MB_FRAME_WRITE_MULTIPLE_REGISTERS:
        return write_multiple(d, req, out, cap);
    default:
        return exception(out, cap, req, MB_FRAME_EX_ILLEGAL_FUNCTION);
    }
}

size_t sim_handle_devid(struct sim_device *d, const uint8_t *frame, size_t len, uint8_t *out,
                        size_t cap)
{
    if (cap < MB_FRAME_MAX_ADU_BYTES) return 0;
    struct mb_devid_request req;
    struct mb_frame_result r = mb_devid_parse_request(frame, len, &req);
    uint8_t unit = req.header.unit_id;
    if (r.status == MB_FRAME_INVALID && r.exception)
        return mb_frame_encode_exception(out, cap, req.header.transaction_id, unit,
                                         frame[MB_FRAME_MBAP_BYTES], r.exception);
    if (r.status != MB_FRAME_COMPLETE) return 0;
    if (unit != d->unit_id && unit != 0xFF && unit != 0)
        return mb_frame_encode_exception(out, cap, req.header.transaction_id, unit,
                                         MB_DEVID_FUNCTION, MB_FRAME_EX_GATEWAY_TARGET_FAILED);
    if (d->devid_none)
        return mb_frame_encode_exception(out, cap, req.header.transaction_id, unit,
                                         MB_DEVID_FUNCTION, MB_FRAME_EX_ILLEGAL_FUNCTION);
    struct mb_devid_object objects[3];
    for (uint8_t i = 0; i < 3; i++)
        objects[i] = (struct mb_devid_object){
            .id = i, .length = (uint8_t)strlen(d->devid[i]), .value = (const uint8_t *)d->devid[i]};
    return mb_devid_answer(&req, objects, 3,
                           MB_DEVID_CONFORMITY_BASIC | MB_DEVID_CONFORMITY_INDIVIDUAL, out, cap);
}

enum garbage_kind {
    GARBAGE_LENGTH = 0,
    GARBAGE_TRANSACTION,
    GARBAGE_TRUNCATED,
    GARBAGE_RANDOM,
    GARBAGE_PROTOCOL,
    GARBAGE_FUNCTION,
    GARBAGE_KIND_COUNT,
};

size_t sim_corrupt_response(struct sim_rng *rng, uint8_t *frame, size_t len, size_t cap)
{
    if (len < MB_FRAME_MBAP_BYTES + 2 || cap < 64) {
        frame[0] ^= 0xFF;
        return 1;
    }
    uint64_t r = sim_rng_next(rng);
    switch ((enum garbage_kind)(r % GARBAGE_KIND_COUNT)) {
    case GARBAGE_LENGTH: {
        /* The length field claims two bytes more than are sent; for read
         * responses the byte count agrees with it, so that clients which
         * size frames by the byte count (libmodbus) wait for the missing
         * bytes instead of ignoring the lie. */
        uint16_t claimed = (uint16_t)((frame[4] << 8 | frame[5]) + 2);
        frame[4] = (uint8_t)(claimed >> 8);
        frame[5] = (uint8_t)claimed;
        if (frame[7] >= MB_FRAME_READ_COILS && frame[7] <= MB_FRAME_READ_INPUT_REGISTERS)
            frame[8] = (uint8_t)(frame[8] + 2);
        return len;
    }
    case GARBAGE_TRANSACTION: {
        uint16_t flip = (uint16_t)(1 + (r >> 8) % 0xFFFF);
        frame[0] ^= (uint8_t)(flip >> 8);
        frame[1] ^= (uint8_t)flip;
        return len;
    }
    case GARBAGE_TRUNCATED:
        return 1 + (size_t)((r >> 8) % (len - 1));
    case GARBAGE_RANDOM: {
        size_t n = 8 + (size_t)((r >> 8) % 56);
        for (size_t i = 0; i < n; i++)
            frame[i] = (uint8_t)sim_rng_next(rng);
        return n;
    }
    case GARBAGE_PROTOCOL: {
        uint16_t proto = (uint16_t)(1 + (r >> 8) % 0xFFFF);
        frame[2] = (uint8_t)(proto >> 8);
        frame[3] = (uint8_t)proto;
        return len;
    }
    default:
        frame[7] ^= 0x40;
        return len;
    }
}
