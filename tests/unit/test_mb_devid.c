/* Tests of Modbus Read Device Identification (drivers/modbus/mb_devid.h):
 * the request and the response of the specification's example (section
 * 6.21, basic objects) byte for byte; partial and malformed frames with the
 * offset named; a server's answers (stream with more_follows continuation,
 * restart at an unknown object, specific access and its exceptions); the
 * identity text; mb_devid_read over a socket against a scripted peer (ok,
 * continuation, exception, silence, garbage) and against the simulator
 * with a configured identity and with none. */
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drivers/modbus/mb_devid.h"
#include "sim/sim.h"
#include "testlib.h"

static bool bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len == b_len && memcmp(a, b, a_len) == 0) return true;
    test_dump_mismatch("bytes", a, a_len, b, b_len);
    return false;
}

/* The specification's example objects. */
static const char *const spec_values[3] = {"Company identification", "Product code XX", "V2.11"};

static size_t spec_objects(struct mb_devid_object *o)
{
    for (uint8_t i = 0; i < 3; i++)
        o[i] = (struct mb_devid_object){.id = i,
                                        .length = (uint8_t)strlen(spec_values[i]),
                                        .value = (const uint8_t *)spec_values[i]};
    return 3;
}

static void test_request(void)
{
    uint8_t buf[32], want[32];
    size_t want_len = test_unhex("1234 0000 0005 01 2B 0E 01 00", want, sizeof want);
    CHECK(bytes_equal(buf, mb_devid_encode_request(buf, sizeof buf, 0x1234, 1, 1, 0), want,
                      want_len));
    CHECK_EQ_INT(mb_devid_encode_request(buf, 10, 0x1234, 1, 1, 0), 0);
    CHECK_EQ_INT(mb_devid_encode_request(buf, sizeof buf, 0x1234, 1, 5, 0), 0);
    CHECK_EQ_INT(mb_devid_encode_request(buf, sizeof buf, 0x1234, 1, 0, 0), 0);

    struct mb_devid_request req;
    struct mb_frame_result r = mb_devid_parse_request(want, want_len, &req);
    CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(r.consumed, 11);
    CHECK_EQ_INT(req.header.transaction_id, 0x1234);
    CHECK_EQ_INT(req.header.unit_id, 1);
    CHECK_EQ_INT(req.code, 1);
    CHECK_EQ_INT(req.object_id, 0);
    for (size_t n = 0; n < want_len; n++)
        CHECK_EQ_INT(mb_devid_parse_request(want, n, &req).status, MB_FRAME_INCOMPLETE);

    /* Not acceptable, framing sound: the exception to answer. */
    struct {
        const char *hex;
        uint8_t exception;
    } cases[] = {
        {"0001 0000 0005 01 2B 0D 01 00", MB_FRAME_EX_ILLEGAL_FUNCTION}, /* MEI 13 */
        {"0001 0000 0006 01 03 00 00 00 01", MB_FRAME_EX_ILLEGAL_FUNCTION},
        {"0001 0000 0005 01 2B 0E 05 00", MB_FRAME_EX_ILLEGAL_DATA_VALUE},    /* code 5 */
        {"0001 0000 0005 01 2B 0E 00 00", MB_FRAME_EX_ILLEGAL_DATA_VALUE},    /* code 0 */
        {"0001 0000 0006 01 2B 0E 01 00 00", MB_FRAME_EX_ILLEGAL_DATA_VALUE}, /* too long */
        {"0001 0000 0003 01 2B 0E", MB_FRAME_EX_ILLEGAL_DATA_VALUE},          /* too short */
        {"0001 0000 0002 01 2B", MB_FRAME_EX_ILLEGAL_DATA_VALUE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = test_unhex(cases[i].hex, buf, sizeof buf);
        r = mb_devid_parse_request(buf, n, &req);
        CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
        CHECK_EQ_INT(r.exception, cases[i].exception);
        CHECK_EQ_INT(r.consumed, n);
        CHECK(strstr(r.reason, "byte") != NULL || strstr(r.reason, "PDU") != NULL);
    }
    /* Broken framing: close. */
    const char *broken[] = {"0001 0001 0005 01 2B 0E 01 00", "0001 0000 0001 01",
                            "0001 0000 00FF 01 2B 0E 01 00"};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        size_t n = test_unhex(broken[i], buf, sizeof buf);
        r = mb_devid_parse_request(buf, n, &req);
        CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
        CHECK_EQ_INT(r.exception, 0);
        CHECK_EQ_INT(r.consumed, 0);
    }
}

static void test_spec_response(void)
{
    /* 6.21's example: basic, conformity 01, no more, 3 objects. */
    uint8_t want[128];
    size_t want_len = test_unhex("1234 0000 0038 01"
                                 "2B 0E 01 01 00 00 03"
                                 "00 16 436F6D70616E79206964656E74696669636174696F6E"
                                 "01 0F 50726F6475637420636F6465205858"
                                 "02 05 56322E3131",
                                 want, sizeof want);
    CHECK_EQ_INT(want_len, 6 + 0x38);
    struct mb_devid_object objects[3];
    size_t count = spec_objects(objects);
    struct mb_devid_request req = {
        .header = {.transaction_id = 0x1234, .unit_id = 1}, .code = MB_DEVID_BASIC, .object_id = 0};
    uint8_t out[MB_FRAME_MAX_ADU_BYTES];
    size_t n = mb_devid_answer(&req, objects, count, MB_DEVID_CONFORMITY_BASIC, out, sizeof out);
    CHECK(bytes_equal(out, n, want, want_len));
    CHECK_EQ_INT(mb_devid_answer(&req, objects, count, 1, out, 100), 0);

    struct mb_devid_response rsp;
    struct mb_frame_result r = mb_devid_parse_response(want, want_len, &rsp);
    CHECK_EQ_INT(r.status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(r.consumed, want_len);
    CHECK(!rsp.is_exception);
    CHECK_EQ_INT(rsp.code, 1);
    CHECK_EQ_INT(rsp.conformity, 1);
    CHECK(!rsp.more_follows);
    CHECK_EQ_INT(rsp.object_count, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(rsp.objects[i].id, i);
        CHECK_EQ_INT(rsp.objects[i].length, strlen(spec_values[i]));
        CHECK(memcmp(rsp.objects[i].value, spec_values[i], rsp.objects[i].length) == 0);
    }
    CHECK(mb_devid_check_response(&req, &rsp, NULL, 0));
    char why[64];
    req.header.transaction_id = 1;
    CHECK(!mb_devid_check_response(&req, &rsp, why, sizeof why));
    CHECK(strstr(why, "transaction") != NULL);
    req.header.transaction_id = 0x1234;
    req.header.unit_id = 2;
    CHECK(!mb_devid_check_response(&req, &rsp, why, sizeof why));
    req.header.unit_id = 1;
    req.code = 2;
    CHECK(!mb_devid_check_response(&req, &rsp, why, sizeof why));

    struct mb_devid_identity id = {0};
    mb_devid_identity_take(&id, &rsp);
    char text[192];
    mb_devid_identity_format(&id, text, sizeof text);
    CHECK_STR(text, "VendorName=Company identification; ProductCode=Product code XX; "
                    "MajorMinorRevision=V2.11");
    char small[20];
    mb_devid_identity_format(&id, small, sizeof small);
    CHECK_STR(small, "VendorName=Company ");
    for (size_t k = 0; k < want_len; k++)
        CHECK_EQ_INT(mb_devid_parse_response(want, k, &rsp).status, MB_FRAME_INCOMPLETE);
}

static void test_bad_responses(void)
{
    const char *bad[] = {
        "0001 0000 000A 01 2B 0E 01 01 00 00 01 00 05",    /* value past the end */
        "0001 0000 000A 01 2B 0E 01 01 00 00 02 00 00",    /* two objects, one there */
        "0001 0000 000B 01 2B 0E 01 01 00 00 01 00 00 00", /* a trailing byte */
        "0001 0000 000A 01 2B 0E 01 01 55 00 01 00 00",    /* more follows 0x55 */
        "0001 0000 000A 01 2B 0D 01 01 00 00 01 00 00",    /* MEI 13 */
        "0001 0000 000A 01 2B 0E 07 01 00 00 01 00 00",    /* code 7 */
        "0001 0000 0006 01 2B 0E 01 01 00",                /* header short */
        "0001 0000 0004 01 AB 01 00",                      /* exception with extra */
        "0001 0000 0003 01 83 02",                         /* another function */
        "0001 0001 0003 01 AB 01",                         /* protocol id */
    };
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = test_unhex(bad[i], buf, sizeof buf);
        struct mb_devid_response rsp;
        struct mb_frame_result r = mb_devid_parse_response(buf, n, &rsp);
        CHECK_EQ_INT(r.status, MB_FRAME_INVALID);
        CHECK_EQ_INT(r.consumed, 0);
        CHECK(r.reason[0] != '\0');
        if (n >= 6) CHECK_EQ_INT(n, 6u + (buf[4] << 8 | buf[5])); /* the vector is one frame */
    }
    size_t n = test_unhex("0001 0000 0003 01 AB 01", buf, sizeof buf);
    struct mb_devid_response rsp;
    CHECK_EQ_INT(mb_devid_parse_response(buf, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(rsp.is_exception);
    CHECK_EQ_INT(rsp.exception, 1);
    /* Non-printable bytes of a value become '?'. */
    n = test_unhex("0001 0000 000D 01 2B 0E 01 01 00 00 01 00 03 41 00 FF", buf, sizeof buf);
    CHECK_EQ_INT(mb_devid_parse_response(buf, n, &rsp).status, MB_FRAME_COMPLETE);
    struct mb_devid_identity id = {0};
    mb_devid_identity_take(&id, &rsp);
    CHECK_STR(id.vendor_name, "A??");
}

static void test_stream_and_specific(void)
{
    /* Three 200-byte objects (extended range): one per response. */
    static uint8_t big[3][200];
    struct mb_devid_object objects[4];
    for (uint8_t i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, sizeof big[i]);
        objects[i] = (struct mb_devid_object){.id = i, .length = 200, .value = big[i]};
    }
    objects[3] = (struct mb_devid_object){.id = 0x80, .length = 3, .value = (const uint8_t *)"ext"};
    struct mb_devid_request req = {.header = {.transaction_id = 7, .unit_id = 1},
                                   .code = MB_DEVID_EXTENDED};
    uint8_t out[MB_FRAME_MAX_ADU_BYTES];
    struct mb_devid_response rsp;
    uint8_t expect_next[] = {1, 2};
    for (int round = 0; round < 3; round++) {
        size_t n = mb_devid_answer(&req, objects, 4, 0x83, out, sizeof out);
        CHECK(n <= MB_FRAME_MAX_ADU_BYTES);
        CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
        CHECK_EQ_INT(rsp.objects[0].id, round);
        if (round < 2) {
            CHECK(rsp.more_follows);
            CHECK_EQ_INT(rsp.object_count, 1);
            CHECK_EQ_INT(rsp.next_object_id, expect_next[round]);
            req.object_id = rsp.next_object_id;
        } else {
            CHECK(!rsp.more_follows);
            CHECK_EQ_INT(rsp.object_count, 2); /* object 2 and 0x80 */
            CHECK_EQ_INT(rsp.objects[1].id, 0x80);
        }
    }
    /* Basic stream stops at object 2; an unknown start restarts at 0. */
    struct mb_devid_object spec[3];
    spec_objects(spec);
    req = (struct mb_devid_request){
        .header = {.transaction_id = 8, .unit_id = 1}, .code = MB_DEVID_BASIC, .object_id = 0x42};
    size_t n = mb_devid_answer(&req, spec, 3, 0x81, out, sizeof out);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.object_count, 3);
    CHECK_EQ_INT(rsp.objects[0].id, 0);
    req.object_id = 1;
    n = mb_devid_answer(&req, spec, 3, 0x81, out, sizeof out);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.object_count, 2);
    /* Specific access: one object, or IllegalDataAddress; without the
     * individual-access conformity bit: IllegalDataValue. */
    req.code = MB_DEVID_SPECIFIC;
    req.object_id = 2;
    n = mb_devid_answer(&req, spec, 3, 0x81, out, sizeof out);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.object_count, 1);
    CHECK_EQ_INT(rsp.objects[0].id, 2);
    req.object_id = 9;
    n = mb_devid_answer(&req, spec, 3, 0x81, out, sizeof out);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK(rsp.is_exception);
    CHECK_EQ_INT(rsp.exception, MB_FRAME_EX_ILLEGAL_DATA_ADDRESS);
    req.object_id = 2;
    n = mb_devid_answer(&req, spec, 3, 0x01, out, sizeof out);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.exception, MB_FRAME_EX_ILLEGAL_DATA_VALUE);
    /* A value too long for one response is cut to fit. */
    static uint8_t huge[255];
    struct mb_devid_object one = {.id = 0, .length = 255, .value = huge};
    req.code = MB_DEVID_BASIC;
    req.object_id = 0;
    n = mb_devid_answer(&req, &one, 1, 0x81, out, sizeof out);
    CHECK_EQ_INT(n, MB_FRAME_MAX_ADU_BYTES);
    CHECK_EQ_INT(mb_devid_parse_response(out, n, &rsp).status, MB_FRAME_COMPLETE);
    CHECK_EQ_INT(rsp.objects[0].length, MB_DEVID_MAX_VALUE_BYTES);
}

/* ---- mb_devid_read against a scripted peer over a socket pair ---- */

enum peer_script { PEER_OK, PEER_CONTINUED, PEER_EXCEPTION, PEER_SILENT, PEER_GARBAGE, PEER_LOOP };

struct peer {
    int fd;
    enum peer_script script;
};

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    uint8_t in[64], out[MB_FRAME_MAX_ADU_BYTES];
    struct mb_devid_object spec[3];
    spec_objects(spec);
    for (;;) {
        ssize_t got = recv(p->fd, in, MB_DEVID_REQUEST_ADU_BYTES, MSG_WAITALL);
        if (got != MB_DEVID_REQUEST_ADU_BYTES) return NULL;
        struct mb_devid_request req;
        if (mb_devid_parse_request(in, (size_t)got, &req).status != MB_FRAME_COMPLETE) return NULL;
        size_t n = 0;
        switch (p->script) {
        case PEER_OK:
            n = mb_devid_answer(&req, spec, 3, 0x81, out, sizeof out);
            break;
        case PEER_CONTINUED: /* one object per answer */
        case PEER_LOOP: {    /* always "more from object 0" */
            size_t i = req.object_id < 3 ? req.object_id : 0;
            n = mb_devid_answer(&req, &spec[i], 1, 0x81, out, sizeof out);
            bool last = p->script == PEER_CONTINUED && i == 2;
            out[MB_FRAME_MBAP_BYTES + 4] = last ? 0x00 : 0xFF;
            out[MB_FRAME_MBAP_BYTES + 5] = last ? 0 : p->script == PEER_LOOP ? 0 : (uint8_t)(i + 1);
            break;
        }
        case PEER_EXCEPTION:
            n = test_unhex("0000 0000 0003 01 AB 01", out, sizeof out);
            out[0] = in[0];
            out[1] = in[1];
            break;
        case PEER_SILENT:
            continue;
        case PEER_GARBAGE:
            n = test_unhex("0000 0000 0009 01 2B 0E 01 01 00 00 09 00 00", out, sizeof out);
            out[0] = in[0];
            out[1] = in[1];
            break;
        }
        if (send(p->fd, out, n, MSG_NOSIGNAL) != (ssize_t)n) return NULL;
    }
}

static enum mb_devid_status read_from_peer(enum peer_script script, char *identity, size_t len,
                                           char *why, size_t why_len, uint16_t *tid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        exit(1);
    }
    struct peer p = {.fd = sv[1], .script = script};
    pthread_t t;
    pthread_create(&t, NULL, peer_main, &p);
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", 502);
    modbus_set_socket(ctx, sv[0]);
    enum mb_devid_status st = mb_devid_read(ctx, 1, tid, 200, identity, len, why, why_len);
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
    modbus_free(ctx);
    return st;
}

static void test_read(void)
{
    char identity[192], why[160];
    uint16_t tid = 100;
    CHECK_EQ_INT(read_from_peer(PEER_OK, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_OK);
    CHECK_STR(identity, "VendorName=Company identification; ProductCode=Product code XX; "
                        "MajorMinorRevision=V2.11");
    CHECK_EQ_INT(tid, 101);
    CHECK_EQ_INT(read_from_peer(PEER_CONTINUED, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_OK);
    CHECK(strstr(identity, "MajorMinorRevision=V2.11") != NULL);
    CHECK_EQ_INT(tid, 104); /* three requests */
    CHECK_EQ_INT(read_from_peer(PEER_LOOP, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_OK); /* "more from 0" after 0 is not followed */
    CHECK_EQ_INT(tid, 105);
    CHECK_EQ_INT(read_from_peer(PEER_EXCEPTION, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_UNSUPPORTED);
    CHECK_STR(identity, "");
    CHECK(strstr(why, "IllegalFunction") != NULL);
    CHECK_EQ_INT(read_from_peer(PEER_SILENT, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_FAILED);
    CHECK(strstr(why, "timeout") != NULL);
    CHECK_EQ_INT(read_from_peer(PEER_GARBAGE, identity, sizeof identity, why, sizeof why, &tid),
                 MB_DEVID_FAILED);
    CHECK(strstr(why, "malformed") != NULL);
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", 502);
    CHECK_EQ_INT(mb_devid_read(ctx, 1, &tid, 100, identity, sizeof identity, why, sizeof why),
                 MB_DEVID_FAILED); /* not connected */
    modbus_free(ctx);
}

/* ---- against the simulator ---- */

static struct sim_plant *start_sim(struct sim_options *opt, uint16_t *port)
{
    char err[256];
    for (int attempt = 0; attempt < 20; attempt++) {
        opt->port_base = (uint16_t)(30000 + (getpid() * 7 + attempt * 101) % 20000);
        struct sim_plant *p = sim_start(opt, err, sizeof err);
        if (p) {
            struct sim_device_info info;
            sim_device_info(p, 0, &info);
            *port = info.port;
            return p;
        }
    }
    fprintf(stderr, "cannot start the simulator: %s\n", err);
    return NULL;
}

static enum mb_devid_status read_sim(uint16_t port, char *identity, size_t len)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (!ctx || modbus_connect(ctx) != 0) {
        modbus_free(ctx);
        return MB_DEVID_FAILED;
    }
    uint16_t tid = 0;
    char why[160];
    enum mb_devid_status st = mb_devid_read(ctx, 1, &tid, 1000, identity, len, why, sizeof why);
    /* The connection is still in step: a normal read works after it. */
    uint16_t reg;
    CHECK(modbus_read_input_registers(ctx, 0, 1, &reg) == 1);
    modbus_close(ctx);
    modbus_free(ctx);
    return st;
}

static void test_sim(void)
{
    struct sim_options opt;
    sim_options_init(&opt);
    char err[160];
    CHECK(!sim_identity_parse("pump", &opt.identities[0], err, sizeof err));
    CHECK(!sim_identity_parse("=a,b,c", &opt.identities[0], err, sizeof err));
    CHECK(!sim_identity_parse("pump=a,b", &opt.identities[0], err, sizeof err));
    CHECK(!sim_identity_parse("pump=a,,c", &opt.identities[0], err, sizeof err));
    CHECK(!sim_identity_parse("pump=a,b,c,d", &opt.identities[0], err, sizeof err));
    CHECK(sim_identity_parse("nosuch=a,b,c", &opt.identities[0], err, sizeof err));
    opt.identity_count = 1;
    CHECK(!sim_check_options(&opt, err, sizeof err));
    CHECK(strstr(err, "nosuch") != NULL);

    sim_options_init(&opt);
    struct sim_device_info info;
    uint16_t port = 0;
    struct sim_plant *p = start_sim(&opt, &port);
    CHECK(p != NULL);
    if (!p) return;
    sim_device_info(p, 0, &info);
    char identity[192], want[192];
    CHECK_EQ_INT(read_sim(port, identity, sizeof identity), MB_DEVID_OK);
    snprintf(want, sizeof want, "VendorName=airlock; ProductCode=SIM-%s; MajorMinorRevision=1.0",
             info.name);
    CHECK_STR(identity, want);
    char first_name[32];
    snprintf(first_name, sizeof first_name, "%s", info.name);
    sim_stop(p);

    sim_options_init(&opt);
    char spec[96];
    snprintf(spec, sizeof spec, "%s=Evil Corp,X-1,6.6", first_name);
    CHECK(sim_identity_parse(spec, &opt.identities[0], err, sizeof err));
    opt.identity_count = 1;
    p = start_sim(&opt, &port);
    CHECK(p != NULL);
    CHECK_EQ_INT(read_sim(port, identity, sizeof identity), MB_DEVID_OK);
    CHECK_STR(identity, "VendorName=Evil Corp; ProductCode=X-1; MajorMinorRevision=6.6");
    sim_stop(p);

    snprintf(spec, sizeof spec, "%s=", first_name);
    CHECK(sim_identity_parse(spec, &opt.identities[0], err, sizeof err));
    p = start_sim(&opt, &port);
    CHECK(p != NULL);
    CHECK_EQ_INT(read_sim(port, identity, sizeof identity), MB_DEVID_UNSUPPORTED);
    sim_stop(p);
}

int main(void)
{
    test_request();
    test_spec_response();
    test_bad_responses();
    test_stream_and_specific();
    test_read();
    test_sim();
    return test_summary();
}
