/* Tests of the OPC UA transport and secure channel (drivers/opcua/ua_channel.h):
 * - HEL / ACK / ERR / RHE byte-exact vectors written from OPC 10000-6 7.1
 *   (and the same bytes produced by node-opcua), buffer size negotiation,
 *   stream framing with the size limit checked before buffering;
 * - MSG chunks in Sign and SignAndEncrypt encoded by node-opcua, decoded here;
 * - a loopback against a small test-only server written in this file with
 *   ua_crypto directly (its own chunk layout code, a second key pair): it
 *   opens what the client encodes and encodes what the client decodes, in
 *   None, Sign and SignAndEncrypt, with 2048- and 4096-bit keys, for
 *   messages from 0 bytes to several chunks;
 * - hostile input: a tampered byte in the header, body and signature, bad
 *   padding under a valid signature, wrong token, wrong certificate,
 *   thumbprint or policy, sequence gaps and replays, chunk count and size
 *   limits, interleaved messages, abort chunks; token renewal and expiry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/le.h"
#include "drivers/opcua/ua_channel.h"
#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_pki.h"
#include "testlib.h"

static bool contains(const char *text, const char *part)
{
    return strstr(text, part) != NULL;
}

/* ------------------------------------------------- connection protocol */

/* HEL from Part 6 7.1.2.3 (Table 69) with ProtocolVersion 0,
 * ReceiveBufferSize 65536, SendBufferSize 65536, MaxMessageSize 16 MiB,
 * MaxChunkCount 5000, EndpointUrl "opc.tcp://h:4840". The same bytes come
 * out of node-opcua 2.x: packTcpMessage("HEL", new HelloMessage({...})). */
static const char hel_vector[] = "48454c46 30000000" /* "HELF", 48 bytes */
                                 "00000000 00000100" /* version 0, receive 65536 */
                                 "00000100 00000001" /* send 65536, max message 2^24 */
                                 "88130000 10000000" /* 5000 chunks, url of 16 bytes */
                                 "6f70632e7463703a2f2f683a34383430"; /* opc.tcp://h:4840 */

/* ACK (Table 70): version 0, ReceiveBufferSize 8192, SendBufferSize 65536,
 * MaxMessageSize 0, MaxChunkCount 0; node-opcua encodes the same. */
static const char ack_vector[] = "41434b46 1c000000 00000000 00200000 00000100 00000000 00000000";

/* ERR (Table 72): BadTcpEndpointUrlInvalid, "Endpoint unknown"; node-opcua
 * encodes the same (TCPErrorMessage). */
static const char err_vector[] = "45525246 20000000 00008380 10000000"
                                 "456e64706f696e7420756e6b6e6f776e";

static void test_hello(void)
{
    uint8_t expect[64];
    size_t expect_len = test_unhex(hel_vector, expect, sizeof expect);
    struct ua_tcp_sizes ours = {0, 65536, 65536, 16777216, 5000};
    struct ua_writer w;
    struct ua_channel_error err = {0};
    ua_writer_init(&w, 1024);
    CHECK(ua_tcp_encode_hello(&w, &ours, "opc.tcp://h:4840", &err));
    CHECK_EQ_INT(w.len, expect_len);
    CHECK(w.len == expect_len && memcmp(w.data, expect, expect_len) == 0);

    struct ua_tcp_sizes back;
    struct ua_string url;
    CHECK(ua_tcp_decode_hello(w.data, w.len, &back, &url, &err));
    CHECK(memcmp(&back, &ours, sizeof back) == 0);
    CHECK(ua_string_equal_cstr(url, "opc.tcp://h:4840"));
    /* A trailing byte, a size field that lies, a wrong chunk type. */
    CHECK(!ua_tcp_decode_hello(w.data, w.len - 1, &back, &url, &err));
    CHECK(contains(err.text, "MessageSize 48"));
    expect[3] = 'C';
    CHECK(!ua_tcp_decode_hello(expect, expect_len, &back, &url, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID);

    /* Arguments the client must not send. */
    ua_writer_reset(&w);
    struct ua_tcp_sizes small = ours;
    small.receive_buffer_bytes = 8191;
    CHECK(!ua_tcp_encode_hello(&w, &small, "opc.tcp://h:4840", &err));
    CHECK_EQ_INT(w.len, 0);
    struct ua_tcp_sizes unlimited = ours;
    unlimited.max_message_bytes = 0;
    CHECK(!ua_tcp_encode_hello(&w, &unlimited, "opc.tcp://h:4840", &err));
    CHECK(!ua_tcp_encode_hello(&w, &ours, "", &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID);
    char *long_url = malloc(5000);
    memset(long_url, 'a', 4999);
    long_url[4999] = '\0';
    CHECK(!ua_tcp_encode_hello(&w, &ours, long_url, &err));
    free(long_url);
    /* A writer too small fails cleanly. */
    uint8_t tiny[20];
    struct ua_writer fixed;
    ua_writer_init_fixed(&fixed, tiny, sizeof tiny);
    CHECK(!ua_tcp_encode_hello(&fixed, &ours, "opc.tcp://h:4840", &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED);

    struct ua_tcp_sizes def;
    ua_tcp_sizes_default(&def);
    CHECK_EQ_INT(def.protocol_version, 0);
    CHECK(def.receive_buffer_bytes >= UA_TCP_MIN_BUFFER_BYTES && def.max_message_bytes > 0);
    ua_writer_free(&w);
}

static void test_ack(void)
{
    uint8_t ack[64];
    size_t ack_len = test_unhex(ack_vector, ack, sizeof ack);
    CHECK_EQ_INT(ack_len, UA_TCP_ACK_BYTES);
    struct ua_tcp_sizes ours = {0, 65535, 65535, 1000000, 100};
    struct ua_tcp_sizes server;
    struct ua_channel_limits limits;
    struct ua_channel_error err = {0};
    CHECK(ua_tcp_decode_ack(ack, ack_len, &ours, &server, &limits, &err));
    CHECK_EQ_INT(server.receive_buffer_bytes, 8192);
    CHECK_EQ_INT(server.send_buffer_bytes, 65536);
    CHECK_EQ_INT(limits.protocol_version, 0);
    CHECK_EQ_INT(limits.send_chunk_bytes, 8192);  /* revised down to the server's */
    CHECK_EQ_INT(limits.recv_chunk_bytes, 65535); /* never above ours */
    CHECK_EQ_INT(limits.send_max_message_bytes, 0);
    CHECK_EQ_INT(limits.send_max_chunks, 0);
    CHECK_EQ_INT(limits.recv_max_message_bytes, 1000000);
    CHECK_EQ_INT(limits.recv_max_chunks, 100);

    /* Our encoder gives the same bytes. */
    struct ua_writer w;
    ua_writer_init(&w, 256);
    struct ua_tcp_sizes s = {0, 8192, 65536, 0, 0};
    CHECK(ua_tcp_encode_ack(&w, &s, &err));
    CHECK(w.len == ack_len && memcmp(w.data, ack, ack_len) == 0);
    ua_writer_free(&w);

    /* Buffer sizes below 8192. */
    uint8_t bad[64];
    memcpy(bad, ack, ack_len);
    put_u32le(bad + 12, 8191);
    CHECK(!ua_tcp_decode_ack(bad, ack_len, &ours, &server, &limits, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_NOT_ENOUGH_RESOURCES);
    CHECK(contains(err.text, "ReceiveBufferSize 8191"));
    memcpy(bad, ack, ack_len);
    put_u32le(bad + 16, 100);
    CHECK(!ua_tcp_decode_ack(bad, ack_len, &ours, &server, &limits, &err));
    /* Wrong sizes and types. */
    CHECK(!ua_tcp_decode_ack(ack, ack_len - 1, &ours, &server, &limits, &err));
    memcpy(bad, ack, ack_len);
    put_u32le(bad + 4, 32);
    bad[28] = bad[29] = bad[30] = bad[31] = 0;
    CHECK(!ua_tcp_decode_ack(bad, 32, &ours, &server, &limits, &err));
    CHECK(contains(err.text, "4 unexpected bytes at offset 28"));
    memcpy(bad, "ERR", 3);
    CHECK(!ua_tcp_decode_ack(bad, ack_len, &ours, &server, &limits, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID);
}

static void test_error_message(void)
{
    uint8_t msg[64];
    size_t len = test_unhex(err_vector, msg, sizeof msg);
    struct ua_channel_error server = {0}, err = {0};
    CHECK(ua_tcp_decode_error(msg, len, &server, &err));
    CHECK_EQ_INT(server.status, UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID);
    CHECK_STR(server.text,
              "server sent ERR BadTcpEndpointUrlInvalid (0x80830000): Endpoint unknown");

    struct ua_writer w;
    ua_writer_init(&w, 8192);
    CHECK(
        ua_tcp_encode_error(&w, UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID, "Endpoint unknown", &err));
    CHECK(w.len == len && memcmp(w.data, msg, len) == 0);

    /* Control characters are cleaned; a null reason gives the code only. */
    ua_writer_reset(&w);
    CHECK(ua_tcp_encode_error(&w, UA_STATUS_BAD_TCP_SERVER_TOO_BUSY, "a\nb\x1b", &err));
    CHECK(ua_tcp_decode_error(w.data, w.len, &server, &err));
    CHECK_STR(server.text, "server sent ERR BadTcpServerTooBusy (0x807D0000): a?b?");
    ua_writer_reset(&w);
    CHECK(ua_tcp_encode_error(&w, UA_STATUS_BAD_TIMEOUT, NULL, &err));
    CHECK(ua_tcp_decode_error(w.data, w.len, &server, &err));
    CHECK_STR(server.text, "server sent ERR BadTimeout (0x800A0000)");
    /* An ERR that is not Bad is still an error. */
    ua_writer_reset(&w);
    CHECK(ua_tcp_encode_error(&w, 0, "fine", &err));
    CHECK(ua_tcp_decode_error(w.data, w.len, &server, &err));
    CHECK(ua_status_is_bad(server.status));

    /* A reason over 4096 bytes is ignored (Part 6: clients ignore it). */
    size_t big_len = 8 + 4 + 4 + 5000;
    uint8_t *big = malloc(big_len);
    memcpy(big, "ERRF", 4);
    put_u32le(big + 4, (uint32_t)big_len);
    put_u32le(big + 8, UA_STATUS_BAD_TCP_INTERNAL_ERROR);
    put_u32le(big + 12, 5000);
    memset(big + 16, 'x', 5000);
    CHECK(ua_tcp_decode_error(big, big_len, &server, &err));
    CHECK_STR(server.text, "server sent ERR BadTcpInternalError (0x80820000)");
    /* A string length past the end. */
    put_u32le(big + 12, 6000);
    CHECK(!ua_tcp_decode_error(big, big_len, &server, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_DECODING_ERROR);
    CHECK(contains(err.text, "offset 12"));
    free(big);
    ua_writer_free(&w);
}

static void test_reverse_hello(void)
{
    /* RHE (Table 73): ServerUri "urn:s", EndpointUrl "opc.tcp://s:1". */
    uint8_t msg[64];
    size_t len = test_unhex("52484546 22000000 05000000 75726e3a73"
                            "0d000000 6f70632e7463703a2f2f733a31",
                            msg, sizeof msg);
    struct ua_string uri, url;
    struct ua_channel_error err = {0};
    CHECK_EQ_INT(len, 34);
    CHECK(ua_tcp_decode_reverse_hello(msg, len, &uri, &url, &err));
    CHECK(ua_string_equal_cstr(uri, "urn:s"));
    CHECK(ua_string_equal_cstr(url, "opc.tcp://s:1"));
    put_u32le(msg + 17, 14); /* EndpointUrl length past the end */
    CHECK(!ua_tcp_decode_reverse_hello(msg, len, &uri, &url, &err));
}

static void test_frame_check(void)
{
    uint8_t hel[64];
    size_t hel_len = test_unhex(hel_vector, hel, sizeof hel);
    struct ua_tcp_frame f;
    struct ua_channel_error err = {0};
    /* Byte by byte: "need N more" until the whole message is there. */
    for (size_t n = 0; n < hel_len; n++) {
        CHECK_EQ_INT(ua_tcp_frame_check(hel, n, 8192, &f, &err), UA_TCP_FRAME_NEED_MORE);
        CHECK_EQ_INT(f.need_bytes, n < 8 ? 8 - n : hel_len - n);
    }
    CHECK_EQ_INT(ua_tcp_frame_check(hel, hel_len, 8192, &f, &err), UA_TCP_FRAME_COMPLETE);
    CHECK_EQ_INT(f.type, UA_TCP_HEL);
    CHECK_EQ_INT(f.size_bytes, hel_len);
    CHECK_EQ_INT(f.chunk_type, 'F');
    /* More bytes after it: still one complete message of its size. */
    uint8_t two[128];
    memcpy(two, hel, hel_len);
    memcpy(two + hel_len, hel, hel_len);
    CHECK_EQ_INT(ua_tcp_frame_check(two, 2 * hel_len, 8192, &f, &err), UA_TCP_FRAME_COMPLETE);
    CHECK_EQ_INT(f.size_bytes, hel_len);

    /* The size limit is enforced from the 8-byte header alone. */
    uint8_t hdr[8] = {'M', 'S', 'G', 'C', 0, 0, 0, 0};
    put_u32le(hdr + 4, 8193);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_INVALID);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE);
    CHECK(contains(err.text, "8193 bytes"));
    put_u32le(hdr + 4, 0xFFFFFFFFu);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 65535, &f, &err), UA_TCP_FRAME_INVALID);
    put_u32le(hdr + 4, 8192);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_NEED_MORE);
    CHECK_EQ_INT(f.need_bytes, 8184);
    CHECK_EQ_INT(f.type, UA_TCP_MSG);
    /* Too small for its type. */
    put_u32le(hdr + 4, 12);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_INVALID);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_DECODING_ERROR);
    /* Chunk types: 'A' / 'C' only for secure conversation; unknown types. */
    put_u32le(hdr + 4, 100);
    hdr[3] = 'A';
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_NEED_MORE);
    hdr[3] = 'X';
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_INVALID);
    memcpy(hdr, "ACKC", 4);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_INVALID);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID);
    memcpy(hdr, "GET ", 4);
    CHECK_EQ_INT(ua_tcp_frame_check(hdr, 8, 8192, &f, &err), UA_TCP_FRAME_INVALID);
    CHECK(contains(err.text, "unknown message type 'GET'"));
    CHECK_STR(ua_tcp_msg_type_name(UA_TCP_RHE), "RHE");
    CHECK_STR(ua_tcp_msg_type_name(UA_TCP_INVALID), "???");
}

/* --------------------------------------------------------------- keys */

struct pair {
    uint8_t *cert;
    size_t cert_len;
    struct ua_crypto_key *pub, *priv;
    unsigned bits;
};

static struct pair make_pair(unsigned bits)
{
    struct pair p = {.bits = bits};
    char *pem = NULL;
    size_t pem_len = 0;
    char err[256] = "";
    struct ua_pki_cert_request req = {.application_uri = "urn:test:channel",
                                      .host = "test",
                                      .key_bits = bits,
                                      .not_before = 0,
                                      .not_after = 4102444800}; /* 2100 */
    if (!ua_pki_make_certificate(&req, &p.cert, &p.cert_len, &pem, &pem_len, err, sizeof err)) {
        fprintf(stderr, "make_pair: %s\n", err);
        exit(1);
    }
    p.pub = ua_crypto_key_from_cert(p.cert, p.cert_len, err, sizeof err);
    p.priv = ua_crypto_key_from_pem(pem, pem_len, err, sizeof err);
    if (!p.pub || !p.priv) exit(1);
    free(pem);
    return p;
}

static void free_pair(struct pair *p)
{
    free(p->cert);
    ua_crypto_key_free(p->pub);
    ua_crypto_key_free(p->priv);
}

/* ------------------------------------------------- the test-only server */

#define SERVER_MAX_MESSAGE (256 * 1024)

struct server_token {
    uint32_t id;
    struct ua_crypto_sym_keys client_keys, server_keys;
};

/* The server's side of the channel, written with ua_crypto directly. */
struct server {
    enum ua_channel_mode mode;
    const struct ua_crypto_policy *policy;
    const struct pair *me, *client;
    uint32_t channel_id;
    struct server_token tokens[2]; /* [send_token] secures what it sends */
    int token_count, send_token;
    uint32_t send_seq;
    bool recv_started;
    uint32_t recv_seq;
    size_t chunk_bytes;
    /* The client's message being reassembled. */
    uint8_t msg[SERVER_MAX_MESSAGE];
    size_t msg_len;
    char msg_type[4];
    uint32_t msg_request;
    /* Faults for the chunks it encodes. */
    bool corrupt_padding;
    uint32_t token_override; /* != 0: put this token id in the header */
};

static bool server_secured(const struct server *s)
{
    return s->policy->id != UA_CRYPTO_POLICY_NONE;
}

static bool server_fail(const char *why)
{
    fprintf(stderr, "test server: %s\n", why);
    return false;
}

/* Opens one chunk from the client. *complete tells whether it ended a
 * message (then s->msg holds its body). */
static bool server_receive(struct server *s, uint8_t *c, size_t len, bool *complete)
{
    *complete = false;
    if (len < 24 || get_u32le(c + 4) != len) return server_fail("size");
    char type[4] = {(char)c[0], (char)c[1], (char)c[2], 0};
    char chunk_type = (char)c[3];
    size_t h, end = len;
    if (strcmp(type, "OPN") == 0) {
        size_t p = 12;
        uint32_t uri_len = get_u32le(c + p);
        p += 4;
        if (uri_len != strlen(s->policy->uri) || memcmp(c + p, s->policy->uri, uri_len) != 0)
            return server_fail("policy uri");
        p += uri_len;
        int32_t cert_len = (int32_t)get_u32le(c + p);
        p += 4;
        int32_t thumb_len;
        if (server_secured(s)) {
            if (cert_len != (int32_t)s->client->cert_len ||
                memcmp(c + p, s->client->cert, s->client->cert_len) != 0)
                return server_fail("sender certificate");
            p += (size_t)cert_len;
            thumb_len = (int32_t)get_u32le(c + p);
            p += 4;
            uint8_t thumb[20];
            ua_pki_thumbprint(s->me->cert, s->me->cert_len, thumb);
            if (thumb_len != 20 || memcmp(c + p, thumb, 20) != 0) return server_fail("thumbprint");
            p += 20;
        } else {
            thumb_len = (int32_t)get_u32le(c + p);
            if (cert_len != -1 || thumb_len != -1) return server_fail("None: certificates");
            p += 4;
        }
        h = p;
        if (server_secured(s)) {
            char e[256];
            size_t plain = 0;
            if (!ua_crypto_oaep_decrypt(s->me->priv, c + h, len - h, c + h, len - h, &plain, e,
                                        sizeof e))
                return server_fail(e);
            size_t sig = ua_crypto_key_bytes(s->client->pub);
            end = h + plain - sig;
            if (!ua_crypto_rsa_verify(s->client->pub, c, end, c + end, sig, e, sizeof e))
                return server_fail("OPN signature");
            size_t extra = s->me->bits > 2048 ? 1 : 0;
            size_t pad = c[end - 1 - extra] | (extra ? (size_t)c[end - 1] << 8 : 0);
            for (size_t i = end - extra - pad - 1; i < end - extra; i++)
                if (c[i] != (pad & 0xff)) return server_fail("OPN padding");
            end -= pad + 1 + extra;
        }
    } else if (strcmp(type, "MSG") == 0 || strcmp(type, "CLO") == 0) {
        if (get_u32le(c + 8) != s->channel_id) return server_fail("channel id");
        uint32_t token_id = get_u32le(c + 12);
        const struct server_token *t = NULL;
        for (int i = 0; i < s->token_count; i++)
            if (s->tokens[i].id == token_id) t = &s->tokens[i];
        if (!t) return server_fail("token");
        h = 16;
        char e[256];
        if (s->mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT &&
            !ua_crypto_aes256_cbc_decrypt(t->client_keys.encrypting_key, t->client_keys.iv, c + h,
                                          len - h, e, sizeof e))
            return server_fail(e);
        if (s->mode != UA_CHANNEL_MODE_NONE) {
            end = len - 32;
            if (!ua_crypto_hmac_sha256_verify(t->client_keys.signing_key, 32, c, end, c + end, 32))
                return server_fail("MSG signature");
        }
        if (s->mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT) {
            size_t pad = c[end - 1];
            for (size_t i = end - pad - 1; i < end; i++)
                if (c[i] != pad) return server_fail("MSG padding");
            end -= pad + 1;
        }
    } else {
        return server_fail("type");
    }
    uint32_t seq = get_u32le(c + h);
    if (s->recv_started && seq != s->recv_seq + 1) return server_fail("sequence");
    s->recv_started = true;
    s->recv_seq = seq;
    uint32_t request = get_u32le(c + h + 4);
    if (s->msg_len == 0) {
        memcpy(s->msg_type, type, 4);
        s->msg_request = request;
    } else if (request != s->msg_request) {
        return server_fail("request id changed inside a message");
    }
    size_t n = end - h - 8;
    if (s->msg_len + n > sizeof s->msg) return server_fail("message too large");
    memcpy(s->msg + s->msg_len, c + h + 8, n);
    s->msg_len += n;
    *complete = chunk_type == 'F';
    return true;
}

/* Receives every chunk of buf[0..len); true when they make exactly one
 * message (then in s->msg). */
static bool server_receive_all(struct server *s, uint8_t *buf, size_t len)
{
    s->msg_len = 0;
    size_t off = 0;
    bool complete = false;
    while (off < len) {
        if (complete) return server_fail("bytes after the final chunk");
        if (len - off < 8) return server_fail("torn chunk");
        size_t n = get_u32le(buf + off + 4);
        if (n > len - off || n > 8192) return server_fail("chunk size");
        if (!server_receive(s, buf + off, n, &complete)) return false;
        off += n;
    }
    return complete;
}

static void put_string(uint8_t *p, size_t *pos, const void *data, int32_t len)
{
    put_u32le(p + *pos, (uint32_t)len);
    *pos += 4;
    if (len > 0) {
        memcpy(p + *pos, data, (size_t)len);
        *pos += (size_t)len;
    }
}

/* The sizes of a server chunk carrying n body bytes: header length, and
 * the wire size. */
struct server_layout {
    bool sign, encrypt;
    size_t header, sig, plain_block, cipher_block, extra;
};

static struct server_layout server_layout(const struct server *s, bool opn)
{
    struct server_layout l = {0};
    if (opn) {
        l.header = 12 + 4 + strlen(s->policy->uri) + 4 + 4;
        if (server_secured(s)) {
            l.header += s->me->cert_len + 20;
            l.sign = l.encrypt = true;
            l.sig = ua_crypto_key_bytes(s->me->priv);
            l.cipher_block = ua_crypto_key_bytes(s->client->pub);
            l.plain_block = l.cipher_block - 42;
            l.extra = s->client->bits > 2048;
        }
    } else {
        l.header = 16;
        l.sign = s->mode != UA_CHANNEL_MODE_NONE;
        l.encrypt = s->mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT;
        l.sig = l.sign ? 32 : 0;
        l.plain_block = l.cipher_block = 16;
    }
    return l;
}

static size_t server_wire_bytes(const struct server_layout *l, size_t n, size_t *pad)
{
    size_t plain = 8 + n + l->sig;
    *pad = 0;
    if (!l->encrypt) return l->header + plain;
    plain += 1 + l->extra;
    *pad = (l->plain_block - plain % l->plain_block) % l->plain_block;
    return l->header + (plain + *pad) / l->plain_block * l->cipher_block;
}

/* The largest body a server chunk can carry (found by trying). */
static size_t server_max_body(const struct server *s, bool opn)
{
    struct server_layout l = server_layout(s, opn);
    size_t n = s->chunk_bytes, pad;
    while (n > 0 && server_wire_bytes(&l, n, &pad) > s->chunk_bytes)
        n--;
    return n;
}

/* Writes one server chunk to out; returns its size. */
static size_t server_chunk(struct server *s, const char *type, char chunk_type, uint32_t request,
                           const uint8_t *body, size_t n, uint8_t *out)
{
    bool opn = strcmp(type, "OPN") == 0;
    struct server_layout l = server_layout(s, opn);
    static uint8_t plain[SERVER_MAX_MESSAGE];
    size_t pad;
    size_t wire = server_wire_bytes(&l, n, &pad);
    size_t p = 0;
    memcpy(plain, type, 3);
    plain[3] = (uint8_t)chunk_type;
    put_u32le(plain + 4, (uint32_t)wire);
    put_u32le(plain + 8, s->channel_id);
    p = 12;
    const struct server_token *t = &s->tokens[s->send_token];
    if (opn) {
        put_string(plain, &p, s->policy->uri, (int32_t)strlen(s->policy->uri));
        if (server_secured(s)) {
            uint8_t thumb[20];
            ua_pki_thumbprint(s->client->cert, s->client->cert_len, thumb);
            put_string(plain, &p, s->me->cert, (int32_t)s->me->cert_len);
            put_string(plain, &p, thumb, 20);
        } else {
            put_string(plain, &p, NULL, -1);
            put_string(plain, &p, NULL, -1);
        }
    } else {
        put_u32le(plain + p, s->token_override ? s->token_override : t->id);
        p += 4;
    }
    put_u32le(plain + p, s->send_seq++);
    put_u32le(plain + p + 4, request);
    p += 8;
    if (n) memcpy(plain + p, body, n);
    p += n;
    if (l.encrypt) {
        memset(plain + p, (int)(pad & 0xff), pad + 1);
        p += pad + 1;
        if (l.extra) plain[p++] = (uint8_t)(pad >> 8);
        if (s->corrupt_padding) plain[p - 1 - l.extra - pad] ^= 0x01; /* the PaddingSize byte */
    }
    char e[256];
    if (l.sign) {
        size_t sig_len = 0;
        if (opn)
            ua_crypto_rsa_sign(s->me->priv, plain, p, plain + p, l.sig, &sig_len, e, sizeof e);
        else
            ua_crypto_hmac_sha256(t->server_keys.signing_key, 32, plain, p, plain + p);
        p += l.sig;
    }
    if (!l.encrypt) {
        memcpy(out, plain, p);
        return p;
    }
    size_t h = l.header;
    memcpy(out, plain, h);
    if (opn) {
        size_t cipher_len = 0;
        ua_crypto_oaep_encrypt(s->client->pub, plain + h, p - h, out + h, wire - h, &cipher_len, e,
                               sizeof e);
        CHECK_EQ_INT(h + cipher_len, wire);
    } else {
        ua_crypto_aes256_cbc_encrypt(t->server_keys.encrypting_key, t->server_keys.iv, plain + h,
                                     p - h, e, sizeof e);
        memcpy(out + h, plain + h, p - h);
        CHECK_EQ_INT(p, wire);
    }
    return wire;
}

/* Writes a whole message as chunks of at most per_chunk body bytes (0: as
 * many as fit); returns the bytes written. */
static size_t server_message(struct server *s, const char *type, uint32_t request,
                             const uint8_t *body, size_t n, size_t per_chunk, uint8_t *out)
{
    if (per_chunk == 0) per_chunk = server_max_body(s, strcmp(type, "OPN") == 0);
    size_t off = 0, total = 0;
    do {
        size_t k = n - off < per_chunk ? n - off : per_chunk;
        char ct = off + k == n ? 'F' : 'C';
        total += server_chunk(s, type, ct, request, body + off, k, out + total);
        off += k;
    } while (off < n);
    return total;
}

/* An abort chunk: Error and Reason. */
static size_t server_abort(struct server *s, uint32_t request, uint32_t status, const char *reason,
                           uint8_t *out)
{
    uint8_t body[256];
    size_t p = 0;
    put_u32le(body, status);
    p = 4;
    put_string(body, &p, reason, (int32_t)strlen(reason));
    return server_chunk(s, "MSG", 'A', request, body, p, out);
}

/* ------------------------------------------------------------- a link */

/* A client channel and the test server, after the OPN handshake. */
struct link {
    struct ua_channel ch;
    struct server s;
};

static struct ua_channel_limits default_limits(void)
{
    return (struct ua_channel_limits){.send_chunk_bytes = 8192,
                                      .recv_chunk_bytes = 8192,
                                      .recv_max_message_bytes = SERVER_MAX_MESSAGE};
}

static enum ua_crypto_policy_id policy_of(enum ua_channel_mode mode)
{
    return mode == UA_CHANNEL_MODE_NONE ? UA_CRYPTO_POLICY_NONE : UA_CRYPTO_POLICY_BASIC256SHA256;
}

static bool client_init(struct ua_channel *ch, enum ua_channel_mode mode, const struct pair *client,
                        const struct pair *server, const struct ua_channel_limits *limits)
{
    struct ua_channel_config cfg = {.policy = policy_of(mode),
                                    .mode = mode,
                                    .own_key = client->priv,
                                    .own_cert = client->cert,
                                    .own_cert_len = client->cert_len,
                                    .server_cert = server->cert,
                                    .server_cert_len = server->cert_len,
                                    .limits = limits ? *limits : default_limits()};
    struct ua_channel_error err = {0};
    bool ok = ua_channel_init(ch, &cfg, &err);
    if (!ok) fprintf(stderr, "client_init: %s\n", err.text);
    return ok;
}

/* Feeds the chunks of buf[0..len) to the client, framed by
 * ua_tcp_frame_check; returns the last result. */
static enum ua_channel_recv client_feed(struct ua_channel *ch, uint8_t *buf, size_t len,
                                        int64_t now_ns, struct ua_channel_message *msg,
                                        struct ua_channel_error *err)
{
    enum ua_channel_recv r = UA_CHANNEL_RECV_FAILED;
    size_t off = 0;
    while (off < len) {
        struct ua_tcp_frame f;
        if (ua_tcp_frame_check(buf + off, len - off, ch->limits.recv_chunk_bytes, &f, err) !=
            UA_TCP_FRAME_COMPLETE)
            return UA_CHANNEL_RECV_FAILED;
        r = ua_channel_decode_chunk(ch, buf + off, f.size_bytes, now_ns, msg, err);
        off += f.size_bytes;
        if (r == UA_CHANNEL_RECV_FAILED) return r;
    }
    return r;
}

static uint8_t wire[2 * SERVER_MAX_MESSAGE];

/* The server installs a new token from the client's nonce (in the body of
 * the OPN request it received) and answers with an OPN response whose
 * body starts with its nonce; the client installs it. */
static bool handshake(struct link *l, uint32_t token_id, int64_t now_ns)
{
    struct server *s = &l->s;
    struct ua_channel_error err = {0};
    const uint8_t *nonce;
    size_t nonce_len;
    if (!ua_channel_new_client_nonce(&l->ch, &nonce, &nonce_len, &err)) return false;
    /* The stand-in of an OpenSecureChannelRequest: the nonce and filler. */
    uint8_t body[96];
    memset(body, 0x5a, sizeof body);
    memcpy(body, nonce, nonce_len);
    struct ua_writer w;
    ua_writer_init(&w, sizeof wire);
    unsigned chunks = 0;
    bool ok =
        ua_channel_encode_message(&l->ch, UA_TCP_OPN, 1, body, sizeof body, &w, &chunks, &err);
    if (!ok) fprintf(stderr, "handshake: %s\n", err.text);
    ok = ok && chunks == 1 && server_receive_all(s, w.data, w.len) &&
         strcmp(s->msg_type, "OPN") == 0 && s->msg_len == sizeof body &&
         memcmp(s->msg, body, sizeof body) == 0;
    ua_writer_free(&w);
    if (!ok) return false;

    struct server_token t = {.id = token_id};
    uint8_t server_nonce[32] = {0};
    size_t server_nonce_len = 0;
    if (server_secured(s)) {
        server_nonce_len = 32;
        ua_crypto_random(server_nonce, sizeof server_nonce);
        char e[256];
        if (!ua_crypto_derive_keys(s->policy, s->msg, nonce_len, server_nonce, server_nonce_len,
                                   &t.client_keys, &t.server_keys, e, sizeof e))
            return server_fail(e);
    }
    uint8_t reply[80];
    memset(reply, 0xa5, sizeof reply);
    memcpy(reply, server_nonce, server_nonce_len);
    size_t n = server_message(s, "OPN", 1, reply, sizeof reply, 0, wire);
    /* The server keeps the old token for what it sends until told. */
    if (s->token_count == 2) s->tokens[0] = s->tokens[1];
    s->tokens[s->token_count == 0 ? 0 : 1] = t;
    if (s->token_count < 2) s->token_count++;
    struct ua_channel_message msg;
    if (client_feed(&l->ch, wire, n, now_ns, &msg, &err) != UA_CHANNEL_RECV_MESSAGE) {
        fprintf(stderr, "handshake: client: %s\n", err.text);
        return false;
    }
    if (msg.type != UA_TCP_OPN || msg.request_id != 1 || msg.body_len != sizeof reply ||
        memcmp(msg.body, reply, sizeof reply) != 0 || msg.channel_id != s->channel_id)
        return server_fail("client got another OPN body");
    if (!ua_channel_install_token(&l->ch, s->channel_id, token_id, 600000, msg.body,
                                  server_nonce_len, now_ns, &err)) {
        fprintf(stderr, "install: %s\n", err.text);
        return false;
    }
    return true;
}

static bool open_link(struct link *l, enum ua_channel_mode mode, const struct pair *client,
                      const struct pair *server, const struct ua_channel_limits *limits)
{
    memset(l, 0, sizeof *l);
    if (!client_init(&l->ch, mode, client, server, limits)) return false;
    struct server *s = &l->s;
    s->mode = mode;
    s->policy = ua_crypto_policy_get(policy_of(mode));
    s->me = server;
    s->client = client;
    s->channel_id = 77;
    s->send_seq = 5000; /* the client takes the first number as it comes */
    s->chunk_bytes = l->ch.limits.recv_chunk_bytes;
    return handshake(l, 1, 0);
}

static void close_link(struct link *l)
{
    ua_channel_free(&l->ch);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

/* Client -> server: encodes a MSG of n bytes and checks the server gets it. */
static bool client_to_server(struct link *l, size_t n, uint32_t request, unsigned *chunks)
{
    static uint8_t body[SERVER_MAX_MESSAGE];
    fill(body, n, 1);
    struct ua_writer w;
    struct ua_channel_error err = {0};
    ua_writer_init(&w, sizeof wire);
    bool ok = ua_channel_encode_message(&l->ch, UA_TCP_MSG, request, body, n, &w, chunks, &err);
    if (!ok) fprintf(stderr, "client_to_server(%zu): %s\n", n, err.text);
    /* Every chunk fits the negotiated send buffer. */
    for (size_t off = 0; ok && off < w.len; off += get_u32le(w.data + off + 4))
        ok = get_u32le(w.data + off + 4) <= l->ch.limits.send_chunk_bytes;
    ok = ok && server_receive_all(&l->s, w.data, w.len) && l->s.msg_len == n &&
         l->s.msg_request == request && strcmp(l->s.msg_type, "MSG") == 0 &&
         memcmp(l->s.msg, body, n) == 0;
    ua_writer_free(&w);
    return ok;
}

/* Server -> client: a MSG of n bytes; checks the client reassembles it. */
static bool server_to_client(struct link *l, size_t n, uint32_t request, int64_t now_ns)
{
    static uint8_t body[SERVER_MAX_MESSAGE];
    fill(body, n, 7);
    size_t len = server_message(&l->s, "MSG", request, body, n, 0, wire);
    struct ua_channel_message msg;
    struct ua_channel_error err = {0};
    enum ua_channel_recv r = client_feed(&l->ch, wire, len, now_ns, &msg, &err);
    if (r != UA_CHANNEL_RECV_MESSAGE) {
        fprintf(stderr, "server_to_client(%zu): %s\n", n, err.text);
        return false;
    }
    return msg.type == UA_TCP_MSG && msg.request_id == request && msg.body_len == n &&
           memcmp(msg.body, body, n) == 0;
}

/* ------------------------------------------------------------ loopback */

static void test_loopback(enum ua_channel_mode mode, const struct pair *client,
                          const struct pair *server)
{
    struct link l;
    bool opened = open_link(&l, mode, client, server, NULL);
    CHECK(opened);
    if (!opened) {
        fprintf(stderr, "  (mode %s, keys %u/%u)\n", ua_channel_mode_name(mode), client->bits,
                server->bits);
        close_link(&l);
        return;
    }
    CHECK(ua_channel_is_open(&l.ch));
    CHECK_EQ_INT(l.ch.channel_id, 77);
    size_t max = ua_channel_chunk_body_bytes(&l.ch, UA_TCP_MSG);
    CHECK(max > 7000 && max < 8192);
    size_t sizes[] = {0, 1, 100, max - 1, max, max + 1, 3 * max + 17, 40000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned chunks = 0;
        size_t n = sizes[i];
        bool sent = client_to_server(&l, n, 100 + (uint32_t)i, &chunks);
        bool got = server_to_client(&l, n, 100 + (uint32_t)i, 0);
        CHECK(sent);
        CHECK(got);
        CHECK_EQ_INT(chunks, n == 0 ? 1 : (n + max - 1) / max);
        if (!sent || !got)
            fprintf(stderr, "  (mode %s, keys %u/%u, %zu bytes)\n", ua_channel_mode_name(mode),
                    client->bits, server->bits, n);
    }
    /* CLO: one chunk with the symmetric security. */
    uint8_t body[40];
    fill(body, sizeof body, 3);
    struct ua_writer w;
    struct ua_channel_error err = {0};
    ua_writer_init(&w, 65536);
    CHECK(ua_channel_encode_message(&l.ch, UA_TCP_CLO, 9, body, sizeof body, &w, NULL, &err));
    CHECK(server_receive_all(&l.s, w.data, w.len));
    CHECK(strcmp(l.s.msg_type, "CLO") == 0 && l.s.msg_len == sizeof body);
    ua_writer_free(&w);
    close_link(&l);
}

/* --------------------------------------------------------- node-opcua */

/* Chunks made by node-opcua 2.x (SecureMessageChunkManager with chunkSize
 * 160, channel 7, token 3, request 42, sequence numbers 1 and 2, the
 * derived server keys of computeDerivedKeys(Basic256Sha256, serverNonce =
 * 0x80..0x9f, clientNonce = 0x00..0x1f)), body byte i = (7 i + 1) & 0xff
 * for 150 bytes, in a throwaway script. */
static const char node_sign_and_encrypt[2][700] = {
    "4d534743a00000000700000003000000d7eb4acaa9995e1463ef7dc2ec197c5ecdc7cd74f513fe5f457801178b"
    "8223827d8de92a0e55aa5e4d1e27324c403141e725826f27fe0d72cba46d9199d03342c7ca84950abe9d086fa3"
    "4ec6825a88279345ca4ffe391081f87b563d8fe4bd7a55e024fcdc0cf119fa1b6b9b4d7caaa074d840c99b74f7"
    "4872193729ac30a9953f6f378bc5930d97b9c8a0352b7cd062",
    "4d534746700000000700000003000000584142be5b4fc825651ee50d1723c792159ecee22b1f8124ee845aaa76"
    "5bd19674f3ae10c8128118e3544064939b8a9f92beef87cc2336c62c9eee780da851dd4152f0fe30bf76096713"
    "5d4e43bc12e602d4dfb6dd2d81a40ac67b686110b4cd",
};
static const char node_sign[2][700] = {
    "4d534743a00000000700000003000000010000002a00000001080f161d242b323940474e555c636a71787f868d"
    "949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8"
    "cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2b40038767f2490"
    "8d2ecf149106f011670f906ed2e37647b4357b6e5e5f10467e",
    "4d534746660000000700000003000000020000002a000000d9e0e7eef5fc030a11181f262d343b424950575e65"
    "6c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d148e0a5565ac20debf23d77c54946b0e6ee016a238"
    "e22abac2ca2f855819a56d9c",
};

static void test_node_opcua_chunks(enum ua_channel_mode mode, const struct pair *client,
                                   const struct pair *server)
{
    struct ua_channel ch;
    CHECK(client_init(&ch, mode, client, server, NULL));
    for (int i = 0; i < 32; i++)
        ch.client_nonce[i] = (uint8_t)i;
    ch.client_nonce_len = 32;
    uint8_t server_nonce[32];
    for (int i = 0; i < 32; i++)
        server_nonce[i] = (uint8_t)(0x80 + i);
    struct ua_channel_error err = {0};
    CHECK(ua_channel_install_token(&ch, 7, 3, 3600000, server_nonce, 32, 0, &err));
    const char(*hex)[700] = mode == UA_CHANNEL_MODE_SIGN ? node_sign : node_sign_and_encrypt;
    uint8_t chunk[2][200];
    size_t len[2];
    for (int i = 0; i < 2; i++)
        len[i] = test_unhex(hex[i], chunk[i], sizeof chunk[i]);
    struct ua_channel_message msg;
    CHECK_EQ_INT(ua_channel_decode_chunk(&ch, chunk[0], len[0], 0, &msg, &err),
                 UA_CHANNEL_RECV_MORE);
    enum ua_channel_recv r = ua_channel_decode_chunk(&ch, chunk[1], len[1], 0, &msg, &err);
    CHECK_EQ_INT(r, UA_CHANNEL_RECV_MESSAGE);
    if (r != UA_CHANNEL_RECV_MESSAGE) fprintf(stderr, "node-opcua chunks: %s\n", err.text);
    CHECK_EQ_INT(msg.request_id, 42);
    CHECK_EQ_INT(msg.token_id, 3);
    CHECK_EQ_INT(msg.body_len, 150);
    bool same = msg.body_len == 150;
    for (size_t i = 0; same && i < 150; i++)
        same = msg.body[i] == (uint8_t)((7 * i + 1) & 0xff);
    CHECK(same);
    ua_channel_free(&ch);
}

/* ----------------------------------------------------- hostile input */

/* Opens a link, lets the server encode one MSG (with the faults set by
 * prepare), applies tamper to its bytes and returns what the client says. */
static enum ua_channel_recv tampered(enum ua_channel_mode mode, const struct pair *client,
                                     const struct pair *server, size_t body_len,
                                     void (*tamper)(uint8_t *chunk, size_t len),
                                     struct ua_channel_error *err)
{
    struct link l;
    if (!open_link(&l, mode, client, server, NULL)) return UA_CHANNEL_RECV_FAILED;
    static uint8_t body[100];
    fill(body, body_len, 9);
    size_t n = server_chunk(&l.s, "MSG", 'F', 5, body, body_len, wire);
    if (tamper) tamper(wire, n);
    struct ua_channel_message msg;
    enum ua_channel_recv r = ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, err);
    close_link(&l);
    return r;
}

static void flip_final(uint8_t *c, size_t len)
{
    (void)len;
    c[3] = 'C'; /* covered by the signature only */
}

static void flip_body(uint8_t *c, size_t len)
{
    (void)len;
    c[30] ^= 0x40;
}

static void flip_signature(uint8_t *c, size_t len)
{
    c[len - 1] ^= 0x01;
}

static void flip_token(uint8_t *c, size_t len)
{
    (void)len;
    c[12] ^= 0x10;
}

static void flip_channel(uint8_t *c, size_t len)
{
    (void)len;
    c[8] ^= 0x01;
}

static void test_tampering(const struct pair *client, const struct pair *server)
{
    enum ua_channel_mode modes[] = {UA_CHANNEL_MODE_SIGN, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT};
    for (int m = 0; m < 2; m++) {
        struct ua_channel_error err = {0};
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, NULL, &err), UA_CHANNEL_RECV_MESSAGE);
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, flip_final, &err),
                     UA_CHANNEL_RECV_FAILED);
        CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_CHECKS_FAILED);
        CHECK(contains(err.text, "signature"));
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, flip_body, &err),
                     UA_CHANNEL_RECV_FAILED);
        CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_CHECKS_FAILED);
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, flip_signature, &err),
                     UA_CHANNEL_RECV_FAILED);
        CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_CHECKS_FAILED);
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, flip_token, &err),
                     UA_CHANNEL_RECV_FAILED);
        CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN);
        CHECK_EQ_INT(tampered(modes[m], client, server, 40, flip_channel, &err),
                     UA_CHANNEL_RECV_FAILED);
        CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN);
    }
    /* None: nothing protects the body, but the header is still checked. */
    struct ua_channel_error err = {0};
    CHECK_EQ_INT(tampered(UA_CHANNEL_MODE_NONE, client, server, 40, flip_body, &err),
                 UA_CHANNEL_RECV_MESSAGE);
    CHECK_EQ_INT(tampered(UA_CHANNEL_MODE_NONE, client, server, 40, flip_token, &err),
                 UA_CHANNEL_RECV_FAILED);

    /* Bad padding under a valid signature (SignAndEncrypt): a 10-byte body
     * gives 13 bytes of padding. */
    struct link l;
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    l.s.corrupt_padding = true;
    uint8_t body[10];
    fill(body, sizeof body, 2);
    size_t n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    struct ua_channel_message msg;
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_CHECKS_FAILED);
    CHECK(contains(err.text, "padding"));
    close_link(&l);

    /* A tampered OPN response: a byte of its encrypted part. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    uint8_t reply[40] = {0};
    n = server_message(&l.s, "OPN", 2, reply, sizeof reply, 0, wire);
    wire[n - 5] ^= 0x20;
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_CHECKS_FAILED);
    close_link(&l);
}

/* OPN responses from the wrong server, for another client, or another
 * policy. */
static void test_opn_checks(const struct pair *client, const struct pair *server,
                            const struct pair *rogue)
{
    struct ua_channel_error err = {0};
    struct ua_channel_message msg;
    uint8_t reply[40] = {0};
    struct link l;
    /* Signed by a certificate that is not the server's. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    l.s.me = rogue;
    size_t n = server_message(&l.s, "OPN", 2, reply, sizeof reply, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK(contains(err.text, "SenderCertificate"));
    close_link(&l);
    /* Encrypted for another client. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    l.s.client = rogue;
    n = server_message(&l.s, "OPN", 2, reply, sizeof reply, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK(contains(err.text, "ReceiverCertificateThumbprint"));
    close_link(&l);
    /* A downgrade: the answer claims policy None. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    l.s.policy = ua_crypto_policy_get(UA_CRYPTO_POLICY_NONE);
    n = server_message(&l.s, "OPN", 2, reply, sizeof reply, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_POLICY_REJECTED);
    close_link(&l);
    /* An OPN for another channel once the channel is open. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_NONE, client, server, NULL));
    l.s.channel_id = 78;
    n = server_message(&l.s, "OPN", 2, reply, sizeof reply, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN);
    close_link(&l);
}

static void test_sequence_numbers(const struct pair *client, const struct pair *server)
{
    struct link l;
    struct ua_channel_error err = {0};
    struct ua_channel_message msg;
    uint8_t body[20] = {1, 2, 3};
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    /* A gap. */
    l.s.send_seq++;
    size_t n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SEQUENCE_NUMBER_INVALID);
    close_link(&l);
    /* A replayed chunk. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    uint8_t copy[256];
    memcpy(copy, wire, n);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MESSAGE);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, copy, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SEQUENCE_NUMBER_INVALID);
    close_link(&l);
    /* The legacy wrap: 4294966271 then a number below 1024 is fine... */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    l.s.send_seq = UA_CHANNEL_SEQUENCE_WRAP_AFTER - 1;
    l.ch.recv_sequence = UA_CHANNEL_SEQUENCE_WRAP_AFTER - 2;
    n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MESSAGE);
    n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MESSAGE);
    l.s.send_seq = 3;
    n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MESSAGE);
    CHECK_EQ_INT(l.ch.recv_sequence, 3);
    /* ...but not before it. */
    l.ch.recv_sequence = 5000;
    n = server_chunk(&l.s, "MSG", 'F', 5, body, sizeof body, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    close_link(&l);

    /* What the client sends: +1 per chunk, across OPN and MSG, and its own
     * wrap after 4294966271. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_NONE, client, server, NULL));
    CHECK_EQ_INT(l.ch.send_sequence, 2); /* the OPN request took 1 */
    unsigned chunks = 0;
    CHECK(client_to_server(&l, 20000, 3, &chunks));
    CHECK_EQ_INT(chunks, 3);
    CHECK_EQ_INT(l.ch.send_sequence, 5);
    l.ch.send_sequence = UA_CHANNEL_SEQUENCE_WRAP_AFTER;
    l.s.recv_seq = UA_CHANNEL_SEQUENCE_WRAP_AFTER - 1;
    CHECK(client_to_server(&l, 10, 4, &chunks));
    CHECK_EQ_INT(l.ch.send_sequence, 1);
    close_link(&l);
}

static void test_receive_limits(const struct pair *client, const struct pair *server)
{
    struct ua_channel_limits limits = default_limits();
    limits.recv_max_chunks = 3;
    limits.recv_max_message_bytes = 20000;
    struct link l;
    struct ua_channel_error err = {0};
    struct ua_channel_message msg;
    static uint8_t body[30000];
    fill(body, sizeof body, 4);
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, &limits));
    /* Exactly at the limits: 3 chunks, 20000 bytes. */
    size_t n = server_message(&l.s, "MSG", 7, body, 20000, 7000, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MESSAGE);
    CHECK(msg.body_len == 20000 && memcmp(msg.body, body, 20000) == 0);
    /* A fourth chunk. */
    n = server_message(&l.s, "MSG", 8, body, 400, 100, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_RESPONSE_TOO_LARGE);
    CHECK(contains(err.text, "3 chunks"));
    close_link(&l);
    /* One byte too many, in two chunks; the buffer never grows past the limit. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, &limits));
    n = server_message(&l.s, "MSG", 7, body, 20001, 7000, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_RESPONSE_TOO_LARGE);
    CHECK(l.ch.assembly.cap <= 20000);
    /* A single chunk larger than the message limit. */
    limits.recv_max_message_bytes = 1000;
    close_link(&l);
    CHECK(open_link(&l, UA_CHANNEL_MODE_NONE, client, server, &limits));
    n = server_message(&l.s, "MSG", 7, body, 1001, 0, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_RESPONSE_TOO_LARGE);
    close_link(&l);
    /* A chunk larger than the receive buffer, given directly. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_NONE, client, server, NULL));
    l.s.chunk_bytes = 9000;
    n = server_message(&l.s, "MSG", 7, body, 8500, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE);
    /* MessageSize that disagrees with the bytes given; chunks too short. */
    l.s.chunk_bytes = 8192;
    n = server_message(&l.s, "MSG", 7, body, 100, 0, wire);
    CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, wire, n - 1, 0, &msg, &err),
                 UA_CHANNEL_RECV_FAILED);
    CHECK(contains(err.text, "MessageSize"));
    for (size_t k = 0; k < 24; k++) {
        uint8_t c[24];
        memcpy(c, "MSGF", 4);
        put_u32le(c + 4, (uint32_t)k);
        put_u32le(c + 8, 77);
        put_u32le(c + 12, 1);
        CHECK_EQ_INT(ua_channel_decode_chunk(&l.ch, c, k, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    }
    close_link(&l);
}

static void test_abort_and_interleave(const struct pair *client, const struct pair *server)
{
    struct link l;
    struct ua_channel_error err = {0};
    struct ua_channel_message msg;
    static uint8_t body[20000];
    fill(body, sizeof body, 5);
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    /* C, C, A: the message is dropped, the channel stays usable. */
    size_t n = server_chunk(&l.s, "MSG", 'C', 11, body, 1000, wire);
    n += server_chunk(&l.s, "MSG", 'C', 11, body + 1000, 1000, wire + n);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_MORE);
    n = server_abort(&l.s, 11, UA_STATUS_BAD_RESPONSE_TOO_LARGE, "response\ttoo large", wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_ABORTED);
    CHECK_EQ_INT(msg.request_id, 11);
    CHECK_EQ_INT(msg.abort_status, UA_STATUS_BAD_RESPONSE_TOO_LARGE);
    CHECK_STR(msg.abort_reason, "response?too large");
    CHECK(!l.ch.assembling);
    CHECK(server_to_client(&l, 12000, 12, 0));
    /* An abort as the only chunk. */
    n = server_abort(&l.s, 13, UA_STATUS_BAD_TIMEOUT, "", wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_ABORTED);
    CHECK_EQ_INT(msg.abort_status, UA_STATUS_BAD_TIMEOUT);
    CHECK_STR(msg.abort_reason, "");
    /* A malformed abort body. */
    put_u32le(body, UA_STATUS_BAD_TIMEOUT);
    put_u32le(body + 4, 100);
    n = server_chunk(&l.s, "MSG", 'A', 14, body, 10, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_DECODING_ERROR);
    close_link(&l);

    /* A chunk of another request in the middle of a message. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    n = server_chunk(&l.s, "MSG", 'C', 20, body, 100, wire);
    n += server_chunk(&l.s, "MSG", 'F', 21, body, 100, wire + n);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 0, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK(contains(err.text, "interleaved"));
    close_link(&l);
}

static void test_tokens(const struct pair *client, const struct pair *server)
{
    struct link l;
    struct ua_channel_error err = {0};
    struct ua_channel_message msg;
    const int64_t s_ns = 1000000000LL;
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    /* 600 s lifetime, created at 0: renew at 450 s. */
    CHECK_EQ_INT(ua_channel_renew_at_ns(&l.ch), 450 * s_ns);
    CHECK(!ua_channel_renew_due(&l.ch, 450 * s_ns - 1));
    CHECK(ua_channel_renew_due(&l.ch, 450 * s_ns));

    /* Renewal at 450 s: token 2. The client sends with it at once. */
    CHECK(handshake(&l, 2, 450 * s_ns));
    CHECK_EQ_INT(l.ch.current.token_id, 2);
    CHECK_EQ_INT(l.ch.previous.token_id, 1);
    CHECK_EQ_INT(ua_channel_renew_at_ns(&l.ch), 900 * s_ns);
    uint8_t body[64];
    fill(body, sizeof body, 6);
    struct ua_writer w;
    ua_writer_init(&w, 65536);
    CHECK(ua_channel_encode_message(&l.ch, UA_TCP_MSG, 30, body, sizeof body, &w, NULL, &err));
    CHECK_EQ_INT(get_u32le(w.data + 12), 2);
    l.s.msg_len = 0;
    CHECK(server_receive_all(&l.s, w.data, w.len));
    ua_writer_free(&w);
    /* The server still sends with token 1: accepted... */
    l.s.send_token = 0;
    CHECK(server_to_client(&l, 100, 31, 460 * s_ns));
    /* ...until it uses token 2, after which token 1 is refused. */
    l.s.send_token = 1;
    CHECK(server_to_client(&l, 100, 32, 461 * s_ns));
    CHECK(!l.ch.previous.valid);
    l.s.send_token = 0;
    size_t n = server_message(&l.s, "MSG", 33, body, 10, 0, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 462 * s_ns, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN);
    close_link(&l);

    /* The old token also ends 25 % after its lifetime (600 s -> 750 s). */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    CHECK(handshake(&l, 2, 450 * s_ns));
    l.s.send_token = 0;
    CHECK(server_to_client(&l, 10, 40, 750 * s_ns));
    n = server_message(&l.s, "MSG", 41, body, 10, 0, wire);
    CHECK_EQ_INT(client_feed(&l.ch, wire, n, 750 * s_ns + 1, &msg, &err), UA_CHANNEL_RECV_FAILED);
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN);
    close_link(&l);

    /* install_token refusals. */
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, NULL));
    uint8_t nonce[32] = {0};
    const uint8_t *cn;
    size_t cn_len;
    CHECK(!ua_channel_install_token(&l.ch, 77, 5, 1000, nonce, 32, 0, &err)); /* no nonce */
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_INVALID_STATE);
    CHECK(ua_channel_new_client_nonce(&l.ch, &cn, &cn_len, &err));
    CHECK_EQ_INT(cn_len, 32);
    CHECK(!ua_channel_install_token(&l.ch, 0, 5, 1000, nonce, 32, 0, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID);
    CHECK(!ua_channel_install_token(&l.ch, 78, 5, 1000, nonce, 32, 0, &err));
    CHECK(!ua_channel_install_token(&l.ch, 77, 1, 1000, nonce, 32, 0, &err)); /* same id */
    CHECK(!ua_channel_install_token(&l.ch, 77, 5, 0, nonce, 32, 0, &err));
    CHECK(!ua_channel_install_token(&l.ch, 77, 5, 1000, nonce, 16, 0, &err)); /* short nonce */
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_NONCE_INVALID);
    CHECK(ua_channel_install_token(&l.ch, 77, 5, 1000, nonce, 32, 0, &err));
    close_link(&l);
}

static void test_send_refusals(const struct pair *client, const struct pair *server)
{
    struct ua_channel ch;
    struct ua_channel_error err = {0};
    struct ua_writer w;
    ua_writer_init(&w, 1 << 20);
    static uint8_t body[30000];
    /* No token yet. */
    CHECK(client_init(&ch, UA_CHANNEL_MODE_SIGN, client, server, NULL));
    CHECK(!ua_channel_encode_message(&ch, UA_TCP_MSG, 1, body, 10, &w, NULL, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURE_CHANNEL_CLOSED);
    CHECK_EQ_INT(ua_channel_chunk_body_bytes(&ch, UA_TCP_MSG), 0);
    /* OPN must fit one chunk; HEL is not a channel message. */
    CHECK(!ua_channel_encode_message(&ch, UA_TCP_OPN, 1, body, 8000, &w, NULL, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_REQUEST_TOO_LARGE);
    CHECK(!ua_channel_encode_message(&ch, UA_TCP_HEL, 1, body, 10, &w, NULL, &err));
    CHECK_EQ_INT(w.len, 0);
    CHECK_EQ_INT(ch.send_sequence, 1);
    ua_channel_free(&ch);

    /* The server's message and chunk limits: refused before anything is
     * written or a sequence number used. */
    struct ua_channel_limits limits = default_limits();
    limits.send_max_message_bytes = 10000;
    limits.send_max_chunks = 2;
    struct link l;
    CHECK(open_link(&l, UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, client, server, &limits));
    uint32_t seq = l.ch.send_sequence;
    CHECK(!ua_channel_encode_message(&l.ch, UA_TCP_MSG, 1, body, 10001, &w, NULL, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_REQUEST_TOO_LARGE);
    limits.send_max_message_bytes = 0;
    l.ch.limits.send_max_message_bytes = 0;
    CHECK(!ua_channel_encode_message(&l.ch, UA_TCP_MSG, 1, body, 20000, &w, NULL, &err));
    CHECK(contains(err.text, "3 chunks"));
    CHECK_EQ_INT(w.len, 0);
    CHECK_EQ_INT(l.ch.send_sequence, seq);
    /* A writer that fills up midway: nothing appended, no number used. */
    struct ua_writer small;
    ua_writer_init(&small, 9000);
    CHECK(!ua_channel_encode_message(&l.ch, UA_TCP_MSG, 1, body, 12000, &small, NULL, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED);
    CHECK_EQ_INT(small.len, 0);
    CHECK_EQ_INT(l.ch.send_sequence, seq);
    ua_writer_free(&small);
    close_link(&l);
    ua_writer_free(&w);
}

static void test_config(const struct pair *client, const struct pair *server,
                        const struct pair *rogue)
{
    struct ua_channel ch;
    struct ua_channel_error err = {0};
    struct ua_channel_config cfg = {
        .policy = UA_CRYPTO_POLICY_NONE, .mode = UA_CHANNEL_MODE_SIGN, .limits = default_limits()};
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    CHECK_EQ_INT(err.status, UA_STATUS_BAD_SECURITY_MODE_REJECTED);
    ua_channel_free(&ch);
    cfg.policy = UA_CRYPTO_POLICY_BASIC256SHA256;
    cfg.mode = UA_CHANNEL_MODE_NONE;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    cfg.mode = 7;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    /* Keys: missing, not matching the certificate. */
    cfg.mode = UA_CHANNEL_MODE_SIGN;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    cfg.own_key = client->priv;
    cfg.own_cert = rogue->cert;
    cfg.own_cert_len = rogue->cert_len;
    cfg.server_cert = server->cert;
    cfg.server_cert_len = server->cert_len;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    CHECK(contains(err.text, "does not go with"));
    cfg.own_cert = client->cert;
    cfg.own_cert_len = client->cert_len;
    cfg.server_cert_len = 10;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    cfg.server_cert_len = server->cert_len;
    /* Limits. */
    cfg.limits.recv_max_message_bytes = 0;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    cfg.limits = default_limits();
    cfg.limits.send_chunk_bytes = 8191;
    CHECK(!ua_channel_init(&ch, &cfg, &err));
    cfg.limits = default_limits();
    CHECK(ua_channel_init(&ch, &cfg, &err));
    ua_channel_free(&ch);
    ua_channel_free(&ch); /* twice is fine */
    CHECK_STR(ua_channel_mode_name(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT), "SignAndEncrypt");
    /* None: no nonce. */
    CHECK(client_init(&ch, UA_CHANNEL_MODE_NONE, client, server, NULL));
    const uint8_t *nonce;
    size_t nonce_len = 99;
    CHECK(ua_channel_new_client_nonce(&ch, &nonce, &nonce_len, &err));
    CHECK_EQ_INT(nonce_len, 0);
    ua_channel_free(&ch);
}

/* Network text for logs: UTF-8 kept, control characters and bytes that
 * are not UTF-8 replaced, long text cut on a character boundary. */
static void test_clean_text(void)
{
    char out[16];
    ua_channel_clean_text(out, sizeof out,
                          (const uint8_t *)"20 \xc2\xb0"
                                           "C ok",
                          9);
    CHECK_STR(out, "20 \xc2\xb0"
                   "C ok");
    ua_channel_clean_text(out, sizeof out, (const uint8_t *)"z\xff\xfe\n\x01x", 6);
    CHECK_STR(out, "z????x");
    /* overlong '/', a surrogate, a lone continuation byte */
    ua_channel_clean_text(out, sizeof out, (const uint8_t *)"\xc0\xaf\xed\xa0\x80\x80", 6);
    CHECK_STR(out, "??????");
    ua_channel_clean_text(out, sizeof out, (const uint8_t *)"abcdefghijklmnopqrstuvwxyz", 26);
    CHECK_STR(out, "abcdefghijkl...");
    char small[8];
    ua_channel_clean_text(small, sizeof small, (const uint8_t *)"abc\xe2\x82\xac\xe2\x82\xac", 9);
    CHECK_STR(small, "abc...");
}

int main(void)
{
    test_clean_text();
    test_hello();
    test_ack();
    test_error_message();
    test_reverse_hello();
    test_frame_check();

    struct pair c2048 = make_pair(2048), s2048 = make_pair(2048), rogue = make_pair(2048);
    struct pair c4096 = make_pair(4096), s4096 = make_pair(4096);
    test_node_opcua_chunks(UA_CHANNEL_MODE_SIGN, &c2048, &s2048);
    test_node_opcua_chunks(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, &c2048, &s2048);

    test_loopback(UA_CHANNEL_MODE_NONE, &c2048, &s2048);
    test_loopback(UA_CHANNEL_MODE_SIGN, &c2048, &s2048);
    test_loopback(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, &c2048, &s2048);
    test_loopback(UA_CHANNEL_MODE_SIGN, &c4096, &s4096);
    test_loopback(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, &c4096, &s4096);
    test_loopback(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, &c2048, &s4096);
    test_loopback(UA_CHANNEL_MODE_SIGN_AND_ENCRYPT, &c4096, &s2048);

    test_tampering(&c2048, &s2048);
    test_opn_checks(&c2048, &s2048, &rogue);
    test_opn_checks(&c4096, &s4096, &rogue);
    test_sequence_numbers(&c2048, &s2048);
    test_receive_limits(&c2048, &s2048);
    test_abort_and_interleave(&c2048, &s2048);
    test_tokens(&c2048, &s2048);
    test_send_refusals(&c2048, &s2048);
    test_config(&c2048, &s2048, &rogue);

    free_pair(&c2048);
    free_pair(&s2048);
    free_pair(&rogue);
    free_pair(&c4096);
    free_pair(&s4096);
    return test_summary();
}
