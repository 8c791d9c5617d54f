/* libFuzzer target for Modbus Read Device Identification
 * (drivers/modbus/mb_devid.h). Feeds the bytes to the request parser (as a
 * stream of frames) and to the response parser, and checks the invariants:
 * consumed never exceeds what was given; a complete request re-encodes to
 * its bytes and the server's answer to it (from a table built from the
 * input) parses back complete, matches it and carries only objects of the
 * table; every object of a complete response lies inside the input; the
 * identity text is NUL-terminated within its buffer. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/mb_devid.h"

static void check(int cond)
{
    if (!cond) abort();
}

/* Objects with ascending ids whose values are slices of the input. */
static size_t build_table(const uint8_t *data, size_t size, struct mb_devid_object *objects,
                          size_t cap)
{
    size_t n = 0, pos = 0;
    unsigned id = 0;
    while (n < cap && pos + 2 <= size && id <= 0xFF) {
        id += data[pos] % 4; /* gaps of 0..3 */
        if (id > 0xFF) break;
        uint8_t length = data[pos + 1];
        pos += 2;
        if (length > size - pos) length = (uint8_t)(size - pos);
        objects[n++] =
            (struct mb_devid_object){.id = (uint8_t)id, .length = length, .value = data + pos};
        pos += length;
        id++;
    }
    return n;
}

static void answer_and_check(const struct mb_devid_request *req, const uint8_t *data, size_t size)
{
    struct mb_devid_object table[32];
    size_t count = build_table(data, size, table, 32);
    uint8_t out[MB_FRAME_MAX_ADU_BYTES];
    uint8_t conformity = size ? data[0] : 0x81;
    size_t n = mb_devid_answer(req, table, count, conformity, out, sizeof out);
    check(n >= 9 && n <= sizeof out);
    static struct mb_devid_response rsp;
    struct mb_frame_result r = mb_devid_parse_response(out, n, &rsp);
    check(r.status == MB_FRAME_COMPLETE && r.consumed == n);
    check(mb_devid_check_response(req, &rsp, NULL, 0));
    for (unsigned i = 0; i < rsp.object_count; i++) {
        size_t k = 0;
        while (k < count && table[k].id != rsp.objects[i].id)
            k++;
        check(k < count);
        check(rsp.objects[i].length <= table[k].length);
        check(memcmp(rsp.objects[i].value, table[k].value, rsp.objects[i].length) == 0);
    }
    if (rsp.more_follows) check(rsp.object_count >= 1);
}

static void fuzz_requests(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct mb_devid_request req;
        struct mb_frame_result r = mb_devid_parse_request(data + pos, size - pos, &req);
        check(r.consumed <= size - pos);
        check(memchr(r.reason, '\0', sizeof r.reason) != NULL);
        if (r.status == MB_FRAME_INCOMPLETE) break;
        if (r.status == MB_FRAME_INVALID && r.exception == 0) break;
        check(r.consumed >= 8 && r.consumed <= MB_FRAME_MAX_ADU_BYTES);
        if (r.status == MB_FRAME_COMPLETE) {
            uint8_t again[MB_DEVID_REQUEST_ADU_BYTES];
            size_t n = mb_devid_encode_request(again, sizeof again, req.header.transaction_id,
                                               req.header.unit_id, req.code, req.object_id);
            check(n == r.consumed && memcmp(again, data + pos, n) == 0);
            answer_and_check(&req, data + pos + n, size - pos - n);
        }
        pos += r.consumed;
    }
}

static void fuzz_responses(const uint8_t *data, size_t size)
{
    static struct mb_devid_response rsp;
    struct mb_frame_result r = mb_devid_parse_response(data, size, &rsp);
    check(r.consumed <= size);
    if (r.status != MB_FRAME_COMPLETE) return;
    unsigned sum = 0;
    for (unsigned i = 0; i < rsp.object_count; i++) {
        const struct mb_devid_object *o = &rsp.objects[i];
        check(o->value >= data && o->value + o->length <= data + r.consumed);
        for (unsigned k = 0; k < o->length; k++)
            sum += o->value[k];
    }
    (void)sum;
    struct mb_devid_identity id = {0};
    mb_devid_identity_take(&id, &rsp);
    char text[192];
    mb_devid_identity_format(&id, text, sizeof text);
    check(memchr(text, '\0', sizeof text) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_requests(data, size);
    fuzz_responses(data, size);
    return 0;
}
