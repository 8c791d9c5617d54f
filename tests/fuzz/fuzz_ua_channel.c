/* libFuzzer target for the OPC UA transport and secure channel
 * (drivers/opcua/ua_channel.h). The first byte picks what the rest is:
 *   0  a byte stream of connection messages: framed by ua_tcp_frame_check,
 *      each complete HEL / ACK / ERR / RHE given to its decoder;
 *   1  a byte stream of chunks from the server to an open channel in mode
 *      None (channel 1, token 1), framed as the client loop does;
 *   2  the same for a channel in SignAndEncrypt (Basic256Sha256, keys
 *      derived from fixed nonces), raw: mostly stops at the signature;
 *   3  SignAndEncrypt, sealed: records of [UInt16 length][plain chunk]; the
 *      harness sets the size, channel id and token, signs and encrypts each
 *      with the server's keys, so the checks after the crypto (padding,
 *      sequence numbers, reassembly, abort chunks, limits) are fuzzed too.
 * In modes 1-3 the rest of the input is also sent as a MSG body and the
 * chunks checked. Invariants (any violation aborts): a failure has a Bad
 * status and a reason; a delivered body is within the receive limit and
 * readable to its end; the reassembly buffer never passes the limit; a
 * decoded HEL re-encodes to its bytes; a decoded ACK never raises our sizes;
 * encoded chunks fit the send buffer and frame back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/opcua/ua_channel.h"
#include "drivers/opcua/ua_pki.h"

#define CHUNK_BYTES 8192u
#define MAX_MESSAGE_BYTES (64u * 1024u)
#define MAX_CHUNKS 16u

static void check(int cond)
{
    if (!cond) abort();
}

/* Generated once: the client's key pair and a server certificate. */
static struct {
    uint8_t *client_cert, *server_cert;
    size_t client_cert_len, server_cert_len;
    struct ua_crypto_key *client_key;
    struct ua_crypto_sym_keys client_keys, server_keys;
} keys;

static const uint8_t client_nonce[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                         11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                         22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static uint8_t server_nonce[32];

static void make_certificate(uint8_t **cert, size_t *cert_len, struct ua_crypto_key **key)
{
    char err[256], *pem = NULL;
    size_t pem_len = 0;
    struct ua_pki_cert_request req = {.application_uri = "urn:fuzz",
                                      .host = "fuzz",
                                      .key_bits = 2048,
                                      .not_before = 0,
                                      .not_after = 4102444800};
    if (!ua_pki_make_certificate(&req, cert, cert_len, &pem, &pem_len, err, sizeof err)) {
        fprintf(stderr, "fuzz_ua_channel: %s\n", err);
        abort();
    }
    if (key) *key = ua_crypto_key_from_pem(pem, pem_len, err, sizeof err);
    free(pem);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_certificate(&keys.client_cert, &keys.client_cert_len, &keys.client_key);
    make_certificate(&keys.server_cert, &keys.server_cert_len, NULL);
    check(keys.client_key != NULL);
    for (int i = 0; i < 32; i++)
        server_nonce[i] = (uint8_t)(0x80 + i);
    char err[256];
    check(ua_crypto_derive_keys(ua_crypto_policy_get(UA_CRYPTO_POLICY_BASIC256SHA256), client_nonce,
                                32, server_nonce, 32, &keys.client_keys, &keys.server_keys, err,
                                sizeof err));
    return 0;
}

/* ----------------------------------------------------- connection messages */

static void fuzz_connection(const uint8_t *data, size_t size)
{
    struct ua_tcp_sizes ours;
    ua_tcp_sizes_default(&ours);
    size_t pos = 0;
    while (pos < size) {
        struct ua_tcp_frame f;
        struct ua_channel_error err = {0};
        enum ua_tcp_frame_status st = ua_tcp_frame_check(data + pos, size - pos, 65535, &f, &err);
        if (st == UA_TCP_FRAME_INVALID) check(ua_status_is_bad(err.status) && err.text[0]);
        if (st != UA_TCP_FRAME_COMPLETE) break;
        check(f.size_bytes >= UA_TCP_HEADER_BYTES && f.size_bytes <= 65535);
        check(f.size_bytes <= size - pos);
        const uint8_t *m = data + pos;
        size_t n = f.size_bytes;
        /* Every decoder on every message: the wrong ones must refuse. */
        struct ua_tcp_sizes sizes;
        struct ua_string a, b;
        if (ua_tcp_decode_hello(m, n, &sizes, &a, &err)) {
            check(f.type == UA_TCP_HEL && a.length < UA_TCP_MAX_URL_BYTES);
            char url[UA_TCP_MAX_URL_BYTES];
            size_t url_len = a.length > 0 ? (size_t)a.length : 0;
            memcpy(url, url_len ? a.data : "", url_len);
            url[url_len] = '\0';
            struct ua_writer w;
            ua_writer_init(&w, 65536);
            if (strlen(url) == url_len && ua_tcp_encode_hello(&w, &sizes, url, &err))
                check(w.len == n && memcmp(w.data, m, n) == 0);
            ua_writer_free(&w);
        }
        struct ua_channel_limits limits;
        if (ua_tcp_decode_ack(m, n, &ours, &sizes, &limits, &err)) {
            check(f.type == UA_TCP_ACK);
            check(limits.send_chunk_bytes >= UA_TCP_MIN_BUFFER_BYTES);
            check(limits.send_chunk_bytes <= ours.send_buffer_bytes);
            check(limits.recv_chunk_bytes >= UA_TCP_MIN_BUFFER_BYTES);
            check(limits.recv_chunk_bytes <= ours.receive_buffer_bytes);
            check(limits.recv_max_message_bytes == ours.max_message_bytes);
        }
        struct ua_channel_error server = {0};
        if (ua_tcp_decode_error(m, n, &server, &err)) {
            check(f.type == UA_TCP_ERR && ua_status_is_bad(server.status));
            check(memchr(server.text, '\0', sizeof server.text) != NULL);
        } else {
            check(ua_status_is_bad(err.status));
        }
        if (ua_tcp_decode_reverse_hello(m, n, &a, &b, &err)) check(f.type == UA_TCP_RHE);
        pos += n;
    }
}

/* ---------------------------------------------------------------- channel */

static bool open_channel(struct ua_channel *ch, bool secured)
{
    struct ua_channel_config cfg = {
        .policy = secured ? UA_CRYPTO_POLICY_BASIC256SHA256 : UA_CRYPTO_POLICY_NONE,
        .mode = secured ? UA_CHANNEL_MODE_SIGN_AND_ENCRYPT : UA_CHANNEL_MODE_NONE,
        .own_key = keys.client_key,
        .own_cert = keys.client_cert,
        .own_cert_len = keys.client_cert_len,
        .server_cert = keys.server_cert,
        .server_cert_len = keys.server_cert_len,
        .limits = {.send_chunk_bytes = CHUNK_BYTES,
                   .recv_chunk_bytes = CHUNK_BYTES,
                   .recv_max_message_bytes = MAX_MESSAGE_BYTES,
                   .recv_max_chunks = MAX_CHUNKS}};
    struct ua_channel_error err;
    check(ua_channel_init(ch, &cfg, &err));
    memcpy(ch->client_nonce, client_nonce, sizeof client_nonce);
    ch->client_nonce_len = secured ? sizeof client_nonce : 0;
    check(ua_channel_install_token(ch, 1, 1, 60000, server_nonce, sizeof server_nonce, 0, &err));
    return true;
}

/* Feeds one chunk; false when the connection would be closed. */
static bool feed(struct ua_channel *ch, uint8_t *chunk, size_t len, int64_t now_ns)
{
    struct ua_channel_message msg;
    struct ua_channel_error err = {0};
    enum ua_channel_recv r = ua_channel_decode_chunk(ch, chunk, len, now_ns, &msg, &err);
    check(ch->assembly.len <= MAX_MESSAGE_BYTES && ch->assembly.cap <= MAX_MESSAGE_BYTES);
    switch (r) {
    case UA_CHANNEL_RECV_FAILED:
        check(ua_status_is_bad(err.status) && err.text[0] != '\0');
        check(!ch->assembling);
        return false;
    case UA_CHANNEL_RECV_MORE:
        check(ch->assembling && ch->assembly_chunks <= MAX_CHUNKS);
        return true;
    case UA_CHANNEL_RECV_MESSAGE: {
        check(msg.body != NULL && msg.body_len <= MAX_MESSAGE_BYTES);
        check(msg.type == UA_TCP_MSG || msg.type == UA_TCP_OPN);
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < msg.body_len; i++)
            sum += msg.body[i];
        (void)sum;
        return true;
    }
    case UA_CHANNEL_RECV_ABORTED:
        check(ua_status_is_bad(msg.abort_status));
        check(memchr(msg.abort_reason, '\0', sizeof msg.abort_reason) != NULL);
        check(!ch->assembling);
        return true;
    }
    abort();
}

/* Modes 1 and 2: the bytes as the socket would give them. */
static void fuzz_stream(struct ua_channel *ch, const uint8_t *data, size_t size)
{
    static uint8_t chunk[CHUNK_BYTES];
    size_t pos = 0;
    int64_t now_ns = 0;
    while (pos < size) {
        struct ua_tcp_frame f;
        struct ua_channel_error err;
        if (ua_tcp_frame_check(data + pos, size - pos, CHUNK_BYTES, &f, &err) !=
            UA_TCP_FRAME_COMPLETE)
            break;
        memcpy(chunk, data + pos, f.size_bytes); /* decoding works in place */
        now_ns += 1000000000LL;
        if (!feed(ch, chunk, f.size_bytes, now_ns)) break;
        pos += f.size_bytes;
    }
}

/* Mode 3: records of plain chunks, sealed by the harness. */
static void fuzz_sealed(struct ua_channel *ch, const uint8_t *data, size_t size)
{
    static uint8_t chunk[CHUNK_BYTES];
    const size_t sig = UA_CRYPTO_SHA256_BYTES, h = 16;
    size_t pos = 0;
    while (size - pos >= 2) {
        size_t n = (size_t)(data[pos] | data[pos + 1] << 8);
        pos += 2;
        if (n > size - pos) n = size - pos;
        const uint8_t *plain = data + pos;
        pos += n;
        if (n > CHUNK_BYTES - sig) n = CHUNK_BYTES - sig;
        if (n < h + 16) continue;
        n -= (n - h) % 16; /* what follows the header must be whole blocks */
        memcpy(chunk, plain, n);
        memcpy(chunk, "MSG", 3);
        put_u32le(chunk + 4, (uint32_t)(n + sig));
        put_u32le(chunk + 8, 1);
        put_u32le(chunk + 12, 1);
        check(ua_crypto_hmac_sha256(keys.server_keys.signing_key, 32, chunk, n, chunk + n));
        char err[128];
        check(ua_crypto_aes256_cbc_encrypt(keys.server_keys.encrypting_key, keys.server_keys.iv,
                                           chunk + h, n + sig - h, err, sizeof err));
        if (!feed(ch, chunk, n + sig, 0)) break;
    }
}

/* Sends data as a MSG body and checks the chunks. */
static void fuzz_send(struct ua_channel *ch, const uint8_t *data, size_t size)
{
    struct ua_writer w;
    struct ua_channel_error err;
    unsigned chunks = 0;
    ua_writer_init(&w, 4 * MAX_MESSAGE_BYTES);
    uint32_t seq = ch->send_sequence;
    check(ua_channel_encode_message(ch, UA_TCP_MSG, 9, data, size, &w, &chunks, &err));
    size_t max = ua_channel_chunk_body_bytes(ch, UA_TCP_MSG);
    check(max > 0 && chunks == (size ? (size + max - 1) / max : 1));
    check(ch->send_sequence == seq + chunks);
    size_t pos = 0;
    for (unsigned i = 0; i < chunks; i++) {
        struct ua_tcp_frame f;
        check(ua_tcp_frame_check(w.data + pos, w.len - pos, CHUNK_BYTES, &f, &err) ==
              UA_TCP_FRAME_COMPLETE);
        check(f.type == UA_TCP_MSG && f.chunk_type == (i + 1 == chunks ? 'F' : 'C'));
        pos += f.size_bytes;
    }
    check(pos == w.len);
    ua_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0] % 4;
    data++;
    size--;
    if (mode == 0) {
        fuzz_connection(data, size);
        return 0;
    }
    struct ua_channel ch;
    open_channel(&ch, mode != 1);
    if (mode == 3)
        fuzz_sealed(&ch, data, size);
    else
        fuzz_stream(&ch, data, size);
    if (size <= MAX_MESSAGE_BYTES) fuzz_send(&ch, data, size);
    ua_channel_free(&ch);
    return 0;
}
