/* libFuzzer target for the Modbus TCP frame codec (drivers/modbus/mb_frame.h).
 * Feeds the bytes to the request parser and the response parser as a stream
 * of frames, and checks the invariants: consumed never exceeds what was
 * given; a complete request re-encodes to exactly its bytes; a response built
 * for a complete request parses back and matches it; a complete response's
 * data can be read in full. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/mb_frame.h"

static void check(int cond)
{
    if (!cond) abort();
}

/* Builds the normal response to req and checks it parses and matches. */
static void answer_and_check(const struct mb_frame_request *req)
{
    static const uint16_t regs[MB_FRAME_MAX_READ_REGISTERS];
    static const uint8_t bits[MB_FRAME_MAX_READ_BITS];
    uint8_t out[MB_FRAME_MAX_ADU_BYTES];
    uint16_t tid = req->header.transaction_id;
    uint8_t unit = req->header.unit_id, fc = req->function;
    size_t n;
    switch (fc) {
    case MB_FRAME_READ_COILS:
    case MB_FRAME_READ_DISCRETE_INPUTS:
        n = mb_frame_encode_read_bits_response(out, sizeof out, tid, unit, fc, bits, req->quantity);
        break;
    case MB_FRAME_READ_HOLDING_REGISTERS:
    case MB_FRAME_READ_INPUT_REGISTERS:
        n = mb_frame_encode_read_registers_response(out, sizeof out, tid, unit, fc, regs,
                                                    req->quantity);
        break;
    case MB_FRAME_WRITE_SINGLE_COIL:
    case MB_FRAME_WRITE_SINGLE_REGISTER:
        n = mb_frame_encode_write_single(out, sizeof out, tid, unit, fc, req->address, req->value);
        break;
    default:
        n = mb_frame_encode_write_multiple_response(out, sizeof out, tid, unit, fc, req->address,
                                                    req->quantity);
        break;
    }
    check(n > 0 && n <= sizeof out);
    struct mb_frame_response rsp;
    struct mb_frame_result r = mb_frame_parse_response(out, n, &rsp);
    check(r.status == MB_FRAME_COMPLETE && r.consumed == n);
    check(mb_frame_check_response(req, &rsp, NULL, 0));
}

static void fuzz_requests(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct mb_frame_request req;
        struct mb_frame_result r = mb_frame_parse_request(data + pos, size - pos, &req);
        check(r.consumed <= size - pos);
        check(memchr(r.reason, '\0', sizeof r.reason) != NULL);
        if (r.status == MB_FRAME_INCOMPLETE) break;
        if (r.status == MB_FRAME_INVALID && r.exception == 0) break;
        check(r.consumed >= 8 && r.consumed <= MB_FRAME_MAX_ADU_BYTES);
        if (r.status == MB_FRAME_COMPLETE) {
            uint8_t again[MB_FRAME_MAX_ADU_BYTES];
            size_t n = mb_frame_encode_request(again, sizeof again, &req);
            check(n == r.consumed && memcmp(again, data + pos, n) == 0);
            answer_and_check(&req);
        } else {
            uint8_t out[16];
            check(mb_frame_encode_exception(out, sizeof out, req.header.transaction_id,
                                            req.header.unit_id, req.function, r.exception) == 9);
        }
        pos += r.consumed;
    }
}

static void fuzz_responses(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct mb_frame_response rsp;
        struct mb_frame_result r = mb_frame_parse_response(data + pos, size - pos, &rsp);
        check(r.consumed <= size - pos);
        if (r.status != MB_FRAME_COMPLETE) break;
        check(r.consumed >= 9 && r.consumed <= MB_FRAME_MAX_ADU_BYTES);
        unsigned sum = 0;
        if (!rsp.is_exception && rsp.data) {
            if (rsp.function <= MB_FRAME_READ_DISCRETE_INPUTS)
                for (uint16_t i = 0; i < 8u * rsp.byte_count; i++)
                    sum += mb_frame_response_bit(&rsp, i);
            else
                for (uint16_t i = 0; i < rsp.byte_count / 2u; i++)
                    sum += mb_frame_response_register(&rsp, i);
        }
        (void)sum;
        pos += r.consumed;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_requests(data, size);
    fuzz_responses(data, size);
    return 0;
}
