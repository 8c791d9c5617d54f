/* Modbus Read Device Identification (43 / 14): codec over byte buffers and
 * the one reading function over a libmodbus connection (see mb_devid.h).
 * Every read of the input is bounds-checked against the length given. */
#include "drivers/modbus/mb_devid.h"

#include <errno.h>
#include <modbus.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/stats.h"

#define MAX_ROUNDS 8 /* more_follows continuations followed by mb_devid_read */

/* The MBAP header: COMPLETE with *h filled and consumed = the frame's size
 * when all of it is in buf. */
static size_t put_mbap(uint8_t *out, uint16_t transaction_id, uint8_t unit_id, size_t pdu_len)
{
    mb_put_u16(out, transaction_id);
    mb_put_u16(out + 2, 0);
    mb_put_u16(out + 4, (uint16_t)(pdu_len + 1));
    out[6] = unit_id;
    return MB_FRAME_MBAP_BYTES;
}

size_t mb_devid_encode_request(uint8_t *out, size_t cap, uint16_t transaction_id, uint8_t unit_id,
                               uint8_t code, uint8_t object_id)
{
    if (cap < MB_DEVID_REQUEST_ADU_BYTES || code < MB_DEVID_BASIC || code > MB_DEVID_SPECIFIC)
        return 0;
    size_t n = put_mbap(out, transaction_id, unit_id, 4);
    out[n++] = MB_DEVID_FUNCTION;
    out[n++] = MB_DEVID_MEI_TYPE;
    out[n++] = code;
    out[n++] = object_id;
    return n;
}

struct mb_frame_result mb_devid_parse_request(const uint8_t *buf, size_t len,
                                              struct mb_devid_request *out)
{
    memset(out, 0, sizeof *out);
    struct mb_frame_result r = mb_frame_parse_header(buf, len, &out->header);
    if (r.status != MB_FRAME_COMPLETE) return r;
    size_t total = r.consumed, pdu_len = out->header.length - 1u;
    const uint8_t *pdu = buf + MB_FRAME_MBAP_BYTES;
    if (pdu[0] != MB_DEVID_FUNCTION)
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_FUNCTION,
                                    "function code 0x%02X at byte 7 is not 0x2B", pdu[0]);
    if (pdu_len < 2)
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_DATA_VALUE,
                                    "function 0x2B: PDU is %zu byte, expected 4", pdu_len);
    if (pdu[1] != MB_DEVID_MEI_TYPE)
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_FUNCTION,
                                    "MEI type 0x%02X at byte 8 is not supported (only 0x0E)",
                                    pdu[1]);
    if (pdu_len != 4)
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_DATA_VALUE,
                                    "function 0x2B/0x0E: PDU is %zu bytes, expected 4", pdu_len);
    if (pdu[2] < MB_DEVID_BASIC || pdu[2] > MB_DEVID_SPECIFIC)
        return mb_frame_result_make(MB_FRAME_INVALID, total, MB_FRAME_EX_ILLEGAL_DATA_VALUE,
                                    "read device id code %u at byte 9, expected 1..4", pdu[2]);
    out->code = pdu[2];
    out->object_id = pdu[3];
    return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
}

struct mb_frame_result mb_devid_parse_response(const uint8_t *buf, size_t len,
                                               struct mb_devid_response *out)
{
    memset(out, 0, sizeof *out);
    struct mb_frame_result r = mb_frame_parse_header(buf, len, &out->header);
    if (r.status != MB_FRAME_COMPLETE) return r;
    size_t total = r.consumed, pdu_len = out->header.length - 1u;
    const uint8_t *pdu = buf + MB_FRAME_MBAP_BYTES;
    if (pdu[0] == (MB_DEVID_FUNCTION | MB_FRAME_EXCEPTION_FLAG)) {
        if (pdu_len != 2)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "exception response: PDU is %zu bytes at byte 7, expected 2", pdu_len);
        out->is_exception = true;
        out->exception = pdu[1];
        return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
    }
    if (pdu[0] != MB_DEVID_FUNCTION)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "function code 0x%02X at byte 7, expected 0x2B", pdu[0]);
    if (pdu_len < MB_DEVID_RESPONSE_HEADER_BYTES)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "PDU is %zu bytes, expected at least %d", pdu_len,
                                    MB_DEVID_RESPONSE_HEADER_BYTES);
    if (pdu[1] != MB_DEVID_MEI_TYPE)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "MEI type 0x%02X at byte 8, expected 0x0E", pdu[1]);
    if (pdu[2] < MB_DEVID_BASIC || pdu[2] > MB_DEVID_SPECIFIC)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "read device id code %u at byte 9, expected 1..4", pdu[2]);
    if (pdu[4] != 0x00 && pdu[4] != 0xFF)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "more follows 0x%02X at byte 11, expected 00 or FF", pdu[4]);
    out->code = pdu[2];
    out->conformity = pdu[3];
    out->more_follows = pdu[4] == 0xFF;
    out->next_object_id = pdu[5];
    out->object_count = pdu[6];
    size_t pos = MB_DEVID_RESPONSE_HEADER_BYTES;
    for (unsigned i = 0; i < out->object_count; i++) {
        if (i >= MB_DEVID_MAX_OBJECTS || pdu_len - pos < 2)
            return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                        "object %u of %u: header at byte %zu beyond the PDU's end",
                                        i + 1, out->object_count, MB_FRAME_MBAP_BYTES + pos);
        uint8_t length = pdu[pos + 1];
        if (pdu_len - pos - 2 < length)
            return mb_frame_result_make(
                MB_FRAME_INVALID, 0, 0,
                "object %u (id 0x%02X): %u value bytes at byte %zu run past the PDU's "
                "end",
                i + 1, pdu[pos], length, MB_FRAME_MBAP_BYTES + pos + 2);
        out->objects[i] =
            (struct mb_devid_object){.id = pdu[pos], .length = length, .value = pdu + pos + 2};
        pos += 2u + length;
    }
    if (pos != pdu_len)
        return mb_frame_result_make(MB_FRAME_INVALID, 0, 0,
                                    "%zu bytes after the last object at byte %zu", pdu_len - pos,
                                    MB_FRAME_MBAP_BYTES + pos);
    return mb_frame_result_make(MB_FRAME_COMPLETE, total, 0, NULL);
}

bool mb_devid_check_response(const struct mb_devid_request *req,
                             const struct mb_devid_response *rsp, char *why, size_t why_len)
{
    const char *what = NULL;
    if (rsp->header.transaction_id != req->header.transaction_id)
        what = "transaction id differs";
    else if (rsp->header.unit_id != req->header.unit_id)
        what = "unit id differs";
    else if (!rsp->is_exception && rsp->code != req->code)
        what = "read device id code differs";
    if (!what) return true;
    if (why) snprintf(why, why_len, "%s", what);
    return false;
}

static size_t exception_answer(const struct mb_devid_request *req, uint8_t code, uint8_t *out)
{
    size_t n = put_mbap(out, req->header.transaction_id, req->header.unit_id, 2);
    out[n++] = MB_DEVID_FUNCTION | MB_FRAME_EXCEPTION_FLAG;
    out[n++] = code;
    return n;
}

static uint8_t range_end(uint8_t code)
{
    return code == MB_DEVID_BASIC     ? MB_DEVID_MAJOR_MINOR_REVISION
           : code == MB_DEVID_REGULAR ? 0x7F
                                      : 0xFF;
}

/* Appends object o (value cut to fit) at out[*pos]; returns false when it
 * does not fit within the PDU limit. */
static bool put_object(uint8_t *pdu, size_t *pos, const struct mb_devid_object *o)
{
    size_t length = o->length > MB_DEVID_MAX_VALUE_BYTES ? MB_DEVID_MAX_VALUE_BYTES : o->length;
    if (*pos + 2 + length > MB_FRAME_MAX_PDU_BYTES) return false;
    pdu[*pos] = o->id;
    pdu[*pos + 1] = (uint8_t)length;
    if (length) memcpy(pdu + *pos + 2, o->value, length);
    *pos += 2 + length;
    return true;
}

size_t mb_devid_answer(const struct mb_devid_request *req, const struct mb_devid_object *objects,
                       size_t count, uint8_t conformity, uint8_t *out, size_t cap)
{
    if (cap < MB_FRAME_MAX_ADU_BYTES) return 0;
    if (req->code < MB_DEVID_BASIC || req->code > MB_DEVID_SPECIFIC)
        return exception_answer(req, MB_FRAME_EX_ILLEGAL_DATA_VALUE, out);
    uint8_t *pdu = out + MB_FRAME_MBAP_BYTES;
    size_t pos = MB_DEVID_RESPONSE_HEADER_BYTES;
    uint8_t more = 0, next = 0, n = 0;
    if (req->code == MB_DEVID_SPECIFIC) {
        if (!(conformity & MB_DEVID_CONFORMITY_INDIVIDUAL))
            return exception_answer(req, MB_FRAME_EX_ILLEGAL_DATA_VALUE, out);
        size_t i = 0;
        while (i < count && objects[i].id != req->object_id)
            i++;
        if (i == count) return exception_answer(req, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS, out);
        put_object(pdu, &pos, &objects[i]); /* one object always fits */
        n = 1;
    } else {
        uint8_t end = range_end(req->code);
        size_t start = 0;
        for (size_t i = 0; i < count; i++)
            if (objects[i].id == req->object_id && objects[i].id <= end) start = i;
        for (size_t i = start; i < count && objects[i].id <= end; i++) {
            if (!put_object(pdu, &pos, &objects[i])) {
                more = 0xFF;
                next = objects[i].id;
                break;
            }
            n++;
        }
    }
    pdu[0] = MB_DEVID_FUNCTION;
    pdu[1] = MB_DEVID_MEI_TYPE;
    pdu[2] = req->code;
    pdu[3] = conformity;
    pdu[4] = more;
    pdu[5] = next;
    pdu[6] = n;
    return put_mbap(out, req->header.transaction_id, req->header.unit_id, pos) + pos;
}

/* Copies an object's value as printable ASCII into dst (size > length). */
static void take_value(char *dst, const struct mb_devid_object *o)
{
    for (unsigned i = 0; i < o->length; i++)
        dst[i] = o->value[i] >= 0x20 && o->value[i] < 0x7F ? (char)o->value[i] : '?';
    dst[o->length] = '\0';
}

void mb_devid_identity_take(struct mb_devid_identity *id, const struct mb_devid_response *rsp)
{
    for (unsigned i = 0; i < rsp->object_count && i < MB_DEVID_MAX_OBJECTS; i++) {
        const struct mb_devid_object *o = &rsp->objects[i];
        switch (o->id) {
        case MB_DEVID_VENDOR_NAME:
            take_value(id->vendor_name, o);
            id->have_vendor = true;
            break;
        case MB_DEVID_PRODUCT_CODE:
            take_value(id->product_code, o);
            id->have_product = true;
            break;
        case MB_DEVID_MAJOR_MINOR_REVISION:
            take_value(id->revision, o);
            id->have_revision = true;
            break;
        default:
            break;
        }
    }
}

void mb_devid_identity_format(const struct mb_devid_identity *id, char *out, size_t len)
{
    if (len == 0) return;
    out[0] = '\0';
    size_t used = 0;
    const struct {
        bool have;
        const char *name, *value;
    } parts[] = {
        {id->have_vendor, "VendorName", id->vendor_name},
        {id->have_product, "ProductCode", id->product_code},
        {id->have_revision, "MajorMinorRevision", id->revision},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!parts[i].have || used >= len) continue;
        int n = snprintf(out + used, len - used, "%s%s=%s", used ? "; " : "", parts[i].name,
                         parts[i].value);
        if (n < 0) break;
        used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
}

/* ---- I/O ---- */

static bool send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Receives exactly want bytes into buf by deadline_ms (monotonic). */
static bool recv_exact(int fd, uint8_t *buf, size_t want, int64_t deadline_ms, char *why,
                       size_t why_len)
{
    size_t got = 0;
    while (got < want) {
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0) {
            snprintf(why, why_len, "no complete answer within the timeout");
            return false;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) {
            snprintf(why, why_len, "poll: %s", strerror(errno));
            return false;
        }
        if (rc == 0) continue;
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            snprintf(why, why_len, "%s", n == 0 ? "connection closed" : strerror(errno));
            return false;
        }
        got += (size_t)n;
    }
    return true;
}

/* One request and its answer, parsed into *rsp (whose objects point into
 * in). */
static enum mb_devid_status exchange(int fd, const struct mb_devid_request *req, int timeout_ms,
                                     uint8_t *in, struct mb_devid_response *rsp, char *why,
                                     size_t why_len)
{
    uint8_t out[MB_DEVID_REQUEST_ADU_BYTES];
    size_t n = mb_devid_encode_request(out, sizeof out, req->header.transaction_id,
                                       req->header.unit_id, req->code, req->object_id);
    if (!send_all(fd, out, n)) {
        snprintf(why, why_len, "send: %s", strerror(errno));
        return MB_DEVID_FAILED;
    }
    int64_t deadline = clock_mono_ms() + timeout_ms;
    if (!recv_exact(fd, in, MB_FRAME_MBAP_BYTES, deadline, why, why_len)) return MB_DEVID_FAILED;
    struct mb_frame_result r = mb_devid_parse_response(in, MB_FRAME_MBAP_BYTES, rsp);
    if (r.status == MB_FRAME_INVALID) {
        snprintf(why, why_len, "malformed answer: %s", r.reason);
        return MB_DEVID_FAILED;
    }
    size_t total = 6u + mb_get_u16(in + 4);
    if (total > MB_FRAME_MBAP_BYTES &&
        !recv_exact(fd, in + MB_FRAME_MBAP_BYTES, total - MB_FRAME_MBAP_BYTES, deadline, why,
                    why_len))
        return MB_DEVID_FAILED;
    r = mb_devid_parse_response(in, total, rsp);
    if (r.status != MB_FRAME_COMPLETE) {
        snprintf(why, why_len, "malformed answer: %s", r.reason);
        return MB_DEVID_FAILED;
    }
    char mismatch[64];
    if (!mb_devid_check_response(req, rsp, mismatch, sizeof mismatch)) {
        snprintf(why, why_len, "answer does not match the request: %s", mismatch);
        return MB_DEVID_FAILED;
    }
    if (rsp->is_exception) {
        snprintf(why, why_len, "device identification not supported: exception %s",
                 mb_frame_exception_name(rsp->exception));
        return MB_DEVID_UNSUPPORTED;
    }
    return MB_DEVID_OK;
}

enum mb_devid_status mb_devid_read(struct _modbus *ctx, uint8_t unit_id, uint16_t *transaction_id,
                                   int timeout_ms, char *identity, size_t identity_len, char *why,
                                   size_t why_len)
{
    if (identity_len) identity[0] = '\0';
    if (why_len) why[0] = '\0';
    int fd = modbus_get_socket(ctx);
    if (fd < 0) {
        snprintf(why, why_len, "not connected");
        return MB_DEVID_FAILED;
    }
    struct mb_devid_identity id = {0};
    struct mb_devid_request req = {.header = {.unit_id = unit_id}, .code = MB_DEVID_BASIC};
    uint8_t in[MB_FRAME_MAX_ADU_BYTES];
    struct mb_devid_response rsp;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        req.header.transaction_id = ++*transaction_id;
        enum mb_devid_status st = exchange(fd, &req, timeout_ms, in, &rsp, why, why_len);
        if (st != MB_DEVID_OK) return st;
        mb_devid_identity_take(&id, &rsp);
        /* Continue only forwards, so a device cannot keep us asking. */
        if (!rsp.more_follows || rsp.next_object_id <= req.object_id) break;
        req.object_id = rsp.next_object_id;
    }
    mb_devid_identity_format(&id, identity, identity_len);
    if (!identity[0] && identity_len) {
        snprintf(why, why_len, "the device answered without a basic identification object");
        return MB_DEVID_UNSUPPORTED;
    }
    return MB_DEVID_OK;
}

bool mb_devid_refresh(struct _modbus *ctx, uint8_t unit_id, uint16_t *transaction_id,
                      int timeout_ms, struct device_stats *stats, const char *device_name)
{
    char identity[sizeof stats->identity], why[160];
    enum mb_devid_status st = mb_devid_read(ctx, unit_id, transaction_id, timeout_ms, identity,
                                            sizeof identity, why, sizeof why);
    for (char *p = why; *p; p++)
        if (*p == '"') *p = '\'';
    switch (st) {
    case MB_DEVID_OK:
        device_stats_set_identity(stats, identity);
        for (char *p = identity; *p; p++)
            if (*p == '"') *p = '\'';
        log_info("modbus", "device identification", "device=%s identity=\"%s\"", device_name,
                 identity);
        return true;
    case MB_DEVID_UNSUPPORTED:
        /* Said, not left empty: a device recorded with an identity that
         * stops answering is a changed device (docs/monitoring.md). */
        device_stats_set_identity(stats, MB_DEVID_NONE);
        log_info("modbus", "no device identification", "device=%s reason=\"%s\"", device_name, why);
        return true;
    case MB_DEVID_FAILED:
        break;
    }
    device_stats_set_identity(stats, MB_DEVID_NONE);
    log_warn("modbus", "device identification failed: not asked again", "device=%s reason=\"%s\"",
             device_name, why);
    return false;
}
