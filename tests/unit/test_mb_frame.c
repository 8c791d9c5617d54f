/* Tests of the Modbus TCP frame codec (drivers/modbus/mb_frame.h): the
 * request/response examples of the Modbus Application Protocol Specification
 * v1.1b3 (section 6), wrapped in MBAP headers, byte for byte; partial frames
 * and several frames per buffer; every quantity limit; malformed frames. */
#include <stdint.h>
#include <string.h>

#include "drivers/modbus/mb_frame.h"
#include "testlib.h"

/* Wraps a PDU in an MBAP header: transaction 0x1234, protocol 0, unit 1. */
static size_t adu(uint8_t *out, const uint8_t *pdu, size_t pdu_len)
{
    out[0] = 0x12;
    out[1] = 0x34;
    out[2] = 0;
    out[3] = 0;
    out[4] = (uint8_t)((pdu_len + 1) >> 8);
    out[5] = (uint8_t)(pdu_len + 1);
    out[6] = 0x01;
    memcpy(out + 7, pdu, pdu_len);
    return 7 + pdu_len;
}

static bool bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Parses the request and checks it is complete and re-encodes identically. */
static struct mb_frame_request parse_ok(const uint8_t *buf, size_t len)
{
    struct mb_frame_request req;
    struct mb_frame_result r = mb_frame_parse_request(buf, len, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(r.consumed, len);
    uint8_t again[MB_FRAME_MAX_ADU_BYTES];
    CHECK(bytes_equal(again, mb_frame_encode_request(again, sizeof again, &req), buf, len));
    return req;
}

static void test_spec_read_coils(void)
{
    /* Read coils 20-38: request 01 0013 0013, response 01 03 CD 6B 05. */
    const uint8_t req_pdu[] = {0x01, 0x00, 0x13, 0x00, 0x13};
    const uint8_t rsp_pdu[] = {0x01, 0x03, 0xCD, 0x6B, 0x05};
    uint8_t want[32], got[32];
    size_t want_len = adu(want, req_pdu, sizeof req_pdu);
    CHECK_EQ_INT(want_len, 12);
    size_t n = mb_frame_encode_read_request(got, sizeof got, 0x1234, 1, 0x01, 0x13, 0x13);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_request req = parse_ok(want, want_len);
    CHECK_EQ_INT(req.header.transaction_id, 0x1234);
    CHECK_EQ_INT(req.header.protocol_id, 0);
    CHECK_EQ_INT(req.header.length, 6);
    CHECK_EQ_INT(req.header.unit_id, 1);
    CHECK_EQ_INT(req.function, 1);
    CHECK_EQ_INT(req.address, 19);
    CHECK_EQ_INT(req.quantity, 19);

    /* Coils 27..20 = CD, 35..28 = 6B, 38..36 = 05 (LSB first). */
    uint8_t bits[19];
    const uint8_t packed[] = {0xCD, 0x6B, 0x05};
    for (int i = 0; i < 19; i++)
        bits[i] = (packed[i / 8] >> (i % 8)) & 1;
    want_len = adu(want, rsp_pdu, sizeof rsp_pdu);
    n = mb_frame_encode_read_bits_response(got, sizeof got, 0x1234, 1, 0x01, bits, 19);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_response rsp;
    struct mb_frame_result r = mb_frame_parse_response(want, want_len, &rsp);
    CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.byte_count, 3);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
    for (uint16_t i = 0; i < 19; i++)
        CHECK_EQ_INT(mb_frame_response_bit(&rsp, i), bits[i]);
}

static void test_spec_read_discrete_inputs(void)
{
    /* Inputs 197-218: request 02 00C4 0016, response 02 03 AC DB 35. */
    const uint8_t req_pdu[] = {0x02, 0x00, 0xC4, 0x00, 0x16};
    const uint8_t rsp_pdu[] = {0x02, 0x03, 0xAC, 0xDB, 0x35};
    uint8_t want[32], got[32];
    size_t want_len = adu(want, req_pdu, sizeof req_pdu);
    size_t n = mb_frame_encode_read_request(got, sizeof got, 0x1234, 1, 0x02, 0xC4, 0x16);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_request req = parse_ok(want, want_len);
    uint8_t bits[22];
    const uint8_t packed[] = {0xAC, 0xDB, 0x35};
    for (int i = 0; i < 22; i++)
        bits[i] = (packed[i / 8] >> (i % 8)) & 1;
    want_len = adu(want, rsp_pdu, sizeof rsp_pdu);
    n = mb_frame_encode_read_bits_response(got, sizeof got, 0x1234, 1, 0x02, bits, 22);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_response rsp;
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
}

static void test_spec_read_registers(void)
{
    /* Holding registers 108-110: 03 006B 0003 -> 03 06 022B 0000 0064. */
    const uint8_t req_pdu[] = {0x03, 0x00, 0x6B, 0x00, 0x03};
    const uint8_t rsp_pdu[] = {0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64};
    const uint16_t values[] = {0x022B, 0x0000, 0x0064};
    uint8_t want[32], got[32];
    size_t want_len = adu(want, req_pdu, sizeof req_pdu);
    size_t n = mb_frame_encode_read_request(got, sizeof got, 0x1234, 1, 0x03, 0x6B, 3);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_request req = parse_ok(want, want_len);
    want_len = adu(want, rsp_pdu, sizeof rsp_pdu);
    n = mb_frame_encode_read_registers_response(got, sizeof got, 0x1234, 1, 0x03, values, 3);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_response rsp;
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
    CHECK_EQ_INT(mb_frame_response_register(&rsp, 0), 555);
    CHECK_EQ_INT(mb_frame_response_register(&rsp, 2), 100);

    /* Input register 9: 04 0008 0001 -> 04 02 000A. */
    const uint8_t req4[] = {0x04, 0x00, 0x08, 0x00, 0x01};
    const uint8_t rsp4[] = {0x04, 0x02, 0x00, 0x0A};
    const uint16_t ten = 10;
    want_len = adu(want, req4, sizeof req4);
    n = mb_frame_encode_read_request(got, sizeof got, 0x1234, 1, 0x04, 8, 1);
    CHECK(bytes_equal(got, n, want, want_len));
    req = parse_ok(want, want_len);
    want_len = adu(want, rsp4, sizeof rsp4);
    n = mb_frame_encode_read_registers_response(got, sizeof got, 0x1234, 1, 0x04, &ten, 1);
    CHECK(bytes_equal(got, n, want, want_len));
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
}

static void test_spec_writes(void)
{
    uint8_t want[32], got[32];
    struct mb_frame_response rsp;
    /* Write coil 173 ON: 05 00AC FF00, echoed. */
    const uint8_t fc5[] = {0x05, 0x00, 0xAC, 0xFF, 0x00};
    size_t want_len = adu(want, fc5, sizeof fc5);
    size_t n = mb_frame_encode_write_single(got, sizeof got, 0x1234, 1, 0x05, 0xAC, 0xFF00);
    CHECK(bytes_equal(got, n, want, want_len));
    struct mb_frame_request req = parse_ok(want, want_len);
    CHECK_EQ_INT(req.value, 0xFF00);
    CHECK_EQ_INT(req.quantity, 1);
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));

    /* Write register 2 = 3: 06 0001 0003, echoed. */
    const uint8_t fc6[] = {0x06, 0x00, 0x01, 0x00, 0x03};
    want_len = adu(want, fc6, sizeof fc6);
    n = mb_frame_encode_write_single(got, sizeof got, 0x1234, 1, 0x06, 1, 3);
    CHECK(bytes_equal(got, n, want, want_len));
    req = parse_ok(want, want_len);
    CHECK_EQ_INT(req.value, 3);

    /* Write 10 coils from 20: 0F 0013 000A 02 CD 01 -> 0F 0013 000A. */
    const uint8_t fc15[] = {0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01};
    const uint8_t fc15_rsp[] = {0x0F, 0x00, 0x13, 0x00, 0x0A};
    const uint8_t coils[10] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    want_len = adu(want, fc15, sizeof fc15);
    n = mb_frame_encode_write_coils_request(got, sizeof got, 0x1234, 1, 0x13, coils, 10);
    CHECK(bytes_equal(got, n, want, want_len));
    req = parse_ok(want, want_len);
    CHECK_EQ_INT(req.quantity, 10);
    CHECK_EQ_INT(req.byte_count, 2);
    CHECK_EQ_INT(req.data[0], 0xCD);
    want_len = adu(want, fc15_rsp, sizeof fc15_rsp);
    n = mb_frame_encode_write_multiple_response(got, sizeof got, 0x1234, 1, 0x0F, 0x13, 10);
    CHECK(bytes_equal(got, n, want, want_len));
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));

    /* Write registers 2-3 = 000A 0102: 10 0001 0002 04 000A 0102 -> 10 0001 0002. */
    const uint8_t fc16[] = {0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02};
    const uint8_t fc16_rsp[] = {0x10, 0x00, 0x01, 0x00, 0x02};
    const uint16_t regs[] = {0x000A, 0x0102};
    want_len = adu(want, fc16, sizeof fc16);
    n = mb_frame_encode_write_registers_request(got, sizeof got, 0x1234, 1, 1, regs, 2);
    CHECK(bytes_equal(got, n, want, want_len));
    req = parse_ok(want, want_len);
    CHECK_EQ_INT(req.byte_count, 4);
    want_len = adu(want, fc16_rsp, sizeof fc16_rsp);
    n = mb_frame_encode_write_multiple_response(got, sizeof got, 0x1234, 1, 0x10, 1, 2);
    CHECK(bytes_equal(got, n, want, want_len));
    CHECK_EQ_INT(mb_frame_parse_response(want, want_len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
}

static void test_spec_exception(void)
{
    /* Read coil 1186 (0x04A1) of a device without it: 01 04A1 0001 -> 81 02. */
    const uint8_t req_pdu[] = {0x01, 0x04, 0xA1, 0x00, 0x01};
    const uint8_t rsp_pdu[] = {0x81, 0x02};
    uint8_t buf[32], got[32];
    size_t len = adu(buf, req_pdu, sizeof req_pdu);
    struct mb_frame_request req = parse_ok(buf, len);
    len = adu(buf, rsp_pdu, sizeof rsp_pdu);
    size_t n = mb_frame_encode_exception(got, sizeof got, 0x1234, 1, 0x01, 0x02);
    CHECK(bytes_equal(got, n, buf, len));
    struct mb_frame_response rsp;
    CHECK_EQ_INT(mb_frame_parse_response(buf, len, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(rsp.is_exception);
    CHECK_EQ_INT(rsp.function, 1);
    CHECK_EQ_INT(rsp.exception, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    CHECK(mb_frame_check_response(&req, &rsp, NULL, 0));
    CHECK_STR(mb_frame_exception_name(6), "ServerDeviceBusy");
    CHECK_STR(mb_frame_exception_name(0x77), "Unknown");
}

static void test_partial_and_pipelined(void)
{
    uint8_t buf[128];
    const uint16_t regs[] = {1, 2, 3};
    size_t a = mb_frame_encode_read_request(buf, sizeof buf, 1, 1, 0x03, 0, 10);
    size_t b = mb_frame_encode_write_single(buf + a, sizeof buf - a, 2, 1, 0x05, 7, 0xFF00);
    size_t c =
        mb_frame_encode_write_registers_request(buf + a + b, sizeof buf - a - b, 3, 1, 40, regs, 3);
    size_t total = a + b + c;
    CHECK(a && b && c);
    /* Every proper prefix of the first frame is incomplete, and consumes nothing. */
    struct mb_frame_request req;
    for (size_t len = 0; len < a; len++) {
        struct mb_frame_result r = mb_frame_parse_request(buf, len, &req);
        CHECK_EQ_INT(r.status, MB_FRAME_INCOMPLETE);
        CHECK_EQ_INT(r.consumed, 0);
    }
    /* Three frames in one buffer come out one after another. */
    size_t pos = 0;
    uint16_t expect_tid = 1;
    while (pos < total) {
        struct mb_frame_result r = mb_frame_parse_request(buf + pos, total - pos, &req);
        CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
        if (r.status != MB_FRAME_COMPLETE) break;
        CHECK_EQ_INT(req.header.transaction_id, expect_tid++);
        pos += r.consumed;
    }
    CHECK_EQ_INT(pos, total);
    CHECK_EQ_INT(expect_tid, 4);
    /* A frame followed by part of the next: the first completes. */
    struct mb_frame_result r = mb_frame_parse_request(buf, a + 3, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(r.consumed, a);
    r = mb_frame_parse_request(buf + a, 3, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_INCOMPLETE);
    /* Responses: partial too. */
    struct mb_frame_response rsp;
    uint8_t out[64];
    size_t n = mb_frame_encode_read_registers_response(out, sizeof out, 9, 1, 3, regs, 3);
    for (size_t len = 0; len < n; len++)
        CHECK_EQ_INT(mb_frame_parse_response(out, len, &rsp).status, MB_FRAME_INCOMPLETE);
    CHECK_EQ_INT(mb_frame_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
}

/* Builds a read request with arbitrary quantity (bypassing the encoder's limits). */
static size_t raw_read(uint8_t *out, uint8_t fc, uint16_t qty)
{
    const uint8_t pdu[] = {fc, 0, 0, (uint8_t)(qty >> 8), (uint8_t)qty};
    return adu(out, pdu, sizeof pdu);
}

static void expect_exception(const uint8_t *buf, size_t len, uint8_t code)
{
    struct mb_frame_request req;
    struct mb_frame_result r = mb_frame_parse_request(buf, len, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
    CHECK_EQ_INT(r.exception, code);
    CHECK_EQ_INT(r.consumed, len);
    CHECK(r.reason[0] != '\0');
    CHECK_EQ_INT(req.header.transaction_id, 0x1234);
}

static void expect_broken(const uint8_t *buf, size_t len)
{
    struct mb_frame_request req;
    struct mb_frame_result r = mb_frame_parse_request(buf, len, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
    CHECK_EQ_INT(r.exception, 0);
    CHECK_EQ_INT(r.consumed, 0);
    CHECK(r.reason[0] != '\0');
}

static void test_quantity_limits(void)
{
    uint8_t buf[300];
    struct mb_frame_request req;
    const struct {
        uint8_t fc;
        uint16_t max;
    } reads[] = {{1, 2000}, {2, 2000}, {3, 125}, {4, 125}};
    for (size_t i = 0; i < 4; i++) {
        size_t len = raw_read(buf, reads[i].fc, reads[i].max);
        CHECK_EQ_INT(mb_frame_parse_request(buf, len, &req).status, MB_FRAME_COMPLETE);
        len = raw_read(buf, reads[i].fc, 1);
        CHECK_EQ_INT(mb_frame_parse_request(buf, len, &req).status, MB_FRAME_COMPLETE);
        expect_exception(buf, raw_read(buf, reads[i].fc, 0), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
        expect_exception(buf, raw_read(buf, reads[i].fc, (uint16_t)(reads[i].max + 1)),
                         MB_FRAME_EX_ILLEGAL_DATA_VALUE);
        CHECK_EQ_INT(mb_frame_encode_read_request(buf, sizeof buf, 1, 1, reads[i].fc, 0,
                                                  (uint16_t)(reads[i].max + 1)),
                     0);
    }
    /* FC 16 with 123 registers is the largest: 7 + 6 + 246 = 259 bytes. */
    uint16_t regs[125] = {0};
    size_t n = mb_frame_encode_write_registers_request(buf, sizeof buf, 0x1234, 1, 0, regs, 123);
    CHECK_EQ_INT(n, 259);
    parse_ok(buf, n);
    CHECK_EQ_INT(mb_frame_encode_write_registers_request(buf, sizeof buf, 1, 1, 0, regs, 124), 0);
    /* 124 registers cannot fit a legal ADU at all (length field 255)... */
    uint8_t pdu[260] = {0x10, 0, 0, 0, 124, 248};
    expect_broken(buf, adu(buf, pdu, 6 + 248));
    /* ...and a short frame claiming quantity 124 is refused on the quantity. */
    expect_exception(buf, adu(buf, pdu, 6 + 2), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* FC 15 with 1968 coils (246 bytes) is fine, 1969 is not. */
    uint8_t coils[1969] = {0};
    n = mb_frame_encode_write_coils_request(buf, sizeof buf, 0x1234, 1, 0, coils, 1968);
    CHECK_EQ_INT(n, 7 + 6 + 246);
    parse_ok(buf, n);
    CHECK_EQ_INT(mb_frame_encode_write_coils_request(buf, sizeof buf, 1, 1, 0, coils, 1969), 0);
    uint8_t pdu15[260] = {0x0F, 0, 0, 0x07, 0xB1, 247};
    n = adu(buf, pdu15, 6 + 247);
    expect_exception(buf, n, MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* Largest read responses: 125 registers = 259 bytes; 2000 bits = 257 bytes. */
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 1, 1, 3, regs, 125);
    CHECK_EQ_INT(n, 259);
    uint8_t bits[2000] = {0};
    n = mb_frame_encode_read_bits_response(buf, sizeof buf, 1, 1, 1, bits, 2000);
    CHECK_EQ_INT(n, 7 + 2 + 250);
    /* Too small a buffer gives 0. */
    CHECK_EQ_INT(mb_frame_encode_read_request(buf, 11, 1, 1, 3, 0, 1), 0);
    CHECK_EQ_INT(mb_frame_encode_exception(buf, 8, 1, 1, 3, 2), 0);
}

static void test_invalid_requests(void)
{
    uint8_t buf[300];
    /* Unsupported functions: IllegalFunction, frame consumed. */
    const uint8_t fc43[] = {0x2B, 0x0E, 0x01, 0x00};
    expect_exception(buf, adu(buf, fc43, sizeof fc43), MB_FRAME_EX_ILLEGAL_FUNCTION);
    const uint8_t fc_exc[] = {0x83, 0x02};
    expect_exception(buf, adu(buf, fc_exc, sizeof fc_exc), MB_FRAME_EX_ILLEGAL_FUNCTION);
    const uint8_t fc0[] = {0x00};
    expect_exception(buf, adu(buf, fc0, sizeof fc0), MB_FRAME_EX_ILLEGAL_FUNCTION);
    /* PDU of the wrong size for its function. */
    const uint8_t long3[] = {0x03, 0, 0, 0, 1, 0xAA};
    expect_exception(buf, adu(buf, long3, sizeof long3), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    const uint8_t short3[] = {0x03, 0, 0, 0};
    expect_exception(buf, adu(buf, short3, sizeof short3), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    const uint8_t fn_only[] = {0x06};
    expect_exception(buf, adu(buf, fn_only, sizeof fn_only), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* FC 5 value other than FF00/0000. */
    const uint8_t coil_bad[] = {0x05, 0, 1, 0x12, 0x34};
    expect_exception(buf, adu(buf, coil_bad, sizeof coil_bad), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* FC 16 byte count not 2 x quantity; PDU longer than byte count says. */
    const uint8_t bc_bad[] = {0x10, 0, 0, 0, 2, 3, 0, 1, 2};
    expect_exception(buf, adu(buf, bc_bad, sizeof bc_bad), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    const uint8_t extra[] = {0x10, 0, 0, 0, 1, 2, 0, 1, 9};
    expect_exception(buf, adu(buf, extra, sizeof extra), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    const uint8_t short16[] = {0x10, 0, 0, 0, 2, 4, 0, 1};
    expect_exception(buf, adu(buf, short16, sizeof short16), MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* FC 15 byte count must be ceil(quantity / 8). */
    const uint8_t bc15[] = {0x0F, 0, 0, 0, 9, 1, 0xFF};
    expect_exception(buf, adu(buf, bc15, sizeof bc15), MB_FRAME_EX_ILLEGAL_DATA_VALUE);

    /* Broken framing: protocol id, length field too small / too large. */
    const uint8_t proto[] = {0x00, 0x01, 0x00, 0x05};
    expect_broken(proto, sizeof proto);
    const uint8_t len0[] = {0, 1, 0, 0, 0, 0};
    expect_broken(len0, sizeof len0);
    const uint8_t len1[] = {0, 1, 0, 0, 0, 1, 1};
    expect_broken(len1, sizeof len1);
    const uint8_t len255[] = {0, 1, 0, 0, 0, 255};
    expect_broken(len255, sizeof len255);
    const uint8_t len_huge[] = {0, 1, 0, 0, 0xFF, 0xFF, 1, 3};
    expect_broken(len_huge, sizeof len_huge);
    /* Length 254 (260-byte ADU) is legal framing: incomplete until all there. */
    uint8_t max_frame[MB_FRAME_MAX_ADU_BYTES] = {0x12, 0x34, 0, 0, 0, 254, 1, 0x10};
    struct mb_frame_request req;
    CHECK_EQ_INT(mb_frame_parse_request(max_frame, 259, &req).status, MB_FRAME_INCOMPLETE);
    struct mb_frame_result r = mb_frame_parse_request(max_frame, 260, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
    CHECK_EQ_INT(r.exception, MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    CHECK_EQ_INT(r.consumed, 260);
}

static void test_invalid_responses(void)
{
    uint8_t buf[300];
    struct mb_frame_response rsp;
    const uint8_t odd[] = {0x03, 0x03, 0, 1, 2};
    CHECK_EQ_INT(mb_frame_parse_response(buf, adu(buf, odd, sizeof odd), &rsp).status,
                 MB_FRAME_INVALID);
    const uint8_t short_data[] = {0x03, 0x04, 0, 1};
    CHECK_EQ_INT(mb_frame_parse_response(buf, adu(buf, short_data, sizeof short_data), &rsp).status,
                 MB_FRAME_INVALID);
    const uint8_t zero_count[] = {0x01, 0x00};
    CHECK_EQ_INT(mb_frame_parse_response(buf, adu(buf, zero_count, sizeof zero_count), &rsp).status,
                 MB_FRAME_INVALID);
    const uint8_t unknown[] = {0x2B, 0x00};
    CHECK_EQ_INT(mb_frame_parse_response(buf, adu(buf, unknown, sizeof unknown), &rsp).status,
                 MB_FRAME_INVALID);
    const uint8_t long_exc[] = {0x83, 0x02, 0x00};
    CHECK_EQ_INT(mb_frame_parse_response(buf, adu(buf, long_exc, sizeof long_exc), &rsp).status,
                 MB_FRAME_INVALID);
    const uint8_t write_short[] = {0x06, 0x00, 0x01, 0x00};
    CHECK_EQ_INT(
        mb_frame_parse_response(buf, adu(buf, write_short, sizeof write_short), &rsp).status,
        MB_FRAME_INVALID);
    const uint8_t proto[] = {0, 1, 0, 7};
    CHECK_EQ_INT(mb_frame_parse_response(proto, sizeof proto, &rsp).status, MB_FRAME_INVALID);

    /* Well-formed responses that do not answer the request. */
    uint8_t req_buf[32];
    struct mb_frame_request req;
    size_t n = mb_frame_encode_read_request(req_buf, sizeof req_buf, 7, 1, 3, 0, 2);
    mb_frame_parse_request(req_buf, n, &req);
    const uint16_t regs[] = {1, 2, 3};
    char why[128];
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 8, 1, 3, regs, 2);
    mb_frame_parse_response(buf, n, &rsp);
    CHECK(!mb_frame_check_response(&req, &rsp, why, sizeof why));
    CHECK(strstr(why, "transaction") != NULL);
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 7, 1, 3, regs, 3);
    mb_frame_parse_response(buf, n, &rsp);
    CHECK(!mb_frame_check_response(&req, &rsp, why, sizeof why));
    CHECK(strstr(why, "byte count") != NULL);
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 7, 2, 3, regs, 2);
    mb_frame_parse_response(buf, n, &rsp);
    CHECK(!mb_frame_check_response(&req, &rsp, why, sizeof why));
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 7, 1, 4, regs, 2);
    mb_frame_parse_response(buf, n, &rsp);
    CHECK(!mb_frame_check_response(&req, &rsp, why, sizeof why));
    n = mb_frame_encode_read_registers_response(buf, sizeof buf, 7, 1, 3, regs, 2);
    mb_frame_parse_response(buf, n, &rsp);
    CHECK(mb_frame_check_response(&req, &rsp, why, sizeof why));
}

int main(void)
{
    test_spec_read_coils();
    test_spec_read_discrete_inputs();
    test_spec_read_registers();
    test_spec_writes();
    test_spec_exception();
    test_partial_and_pipelined();
    test_quantity_limits();
    test_invalid_requests();
    test_invalid_responses();
    return test_summary();
}
