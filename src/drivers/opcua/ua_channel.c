/* The client side of an OPC UA secure channel (OPC 10000-6 6.7): building
 * the chunks of OPN / MSG / CLO messages (headers, padding, signature,
 * encryption), checking and opening the server's chunks, reassembly,
 * sequence numbers and security tokens. See ua_channel.h for the rules. */
#include <stdlib.h>
#include <string.h>

#include "drivers/opcua/ua_channel.h"
#include "drivers/opcua/ua_pki.h"

/* MSG / CLO: message header + TokenId. */
#define SYM_HEADER_BYTES (UA_CHANNEL_HEADER_BYTES + 4)
#define SEQ_BYTES UA_CHANNEL_SEQUENCE_HEADER_BYTES
#define NS_PER_MS 1000000LL

const char *ua_channel_mode_name(enum ua_channel_mode mode)
{
    switch (mode) {
    case UA_CHANNEL_MODE_NONE:
        return "None";
    case UA_CHANNEL_MODE_SIGN:
        return "Sign";
    case UA_CHANNEL_MODE_SIGN_AND_ENCRYPT:
        return "SignAndEncrypt";
    }
    return "Invalid";
}

static bool is_secured(const struct ua_channel *ch)
{
    return ch->policy->id != UA_CRYPTO_POLICY_NONE;
}

static void wipe_token(struct ua_channel_token *t)
{
    explicit_bzero(t, sizeof *t);
}

static int64_t add_saturated(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

/* The leaf certificate's bytes of a DER certificate or chain (0: not DER). */
static size_t leaf_bytes(const uint8_t *der, size_t len)
{
    return der ? ua_crypto_cert_leaf_bytes(der, len) : 0;
}

/* ------------------------------------------------------------ lifecycle */

static bool check_limits(const struct ua_channel_limits *l, struct ua_channel_error *err)
{
    if (l->send_chunk_bytes < UA_TCP_MIN_BUFFER_BYTES ||
        l->recv_chunk_bytes < UA_TCP_MIN_BUFFER_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "secure channel: chunk sizes %u (send) / %u (receive) must be at "
                               "least %u bytes",
                               (unsigned)l->send_chunk_bytes, (unsigned)l->recv_chunk_bytes,
                               UA_TCP_MIN_BUFFER_BYTES);
    if (l->recv_max_message_bytes == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "secure channel: the receive message limit must not be 0 (no "
                               "limit would let a server make us allocate without bound)");
    return true;
}

static bool load_certificates(struct ua_channel *ch, const struct ua_channel_config *cfg,
                              struct ua_channel_error *err)
{
    char e[256];
    const struct ua_crypto_policy *policy = ch->policy;
    if (!cfg->own_key || !ua_crypto_key_is_private(cfg->own_key))
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "secure channel: %s needs our private key", policy->name);
    if (!ua_crypto_policy_check_key(policy, cfg->own_key, "own", e, sizeof e))
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED, "secure channel: %s",
                               e);
    size_t own_leaf = leaf_bytes(cfg->own_cert, cfg->own_cert_len);
    if (own_leaf == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_CERTIFICATE_INVALID,
                               "secure channel: our certificate is missing or not DER");
    struct ua_crypto_key *own_pub = ua_crypto_key_from_cert(cfg->own_cert, own_leaf, e, sizeof e);
    bool matches = own_pub && ua_crypto_key_matches(own_pub, cfg->own_key);
    ua_crypto_key_free(own_pub);
    if (!matches)
        return ua_channel_fail(err, UA_STATUS_BAD_CERTIFICATE_INVALID,
                               "secure channel: our private key does not go with our certificate");
    size_t server_leaf = leaf_bytes(cfg->server_cert, cfg->server_cert_len);
    if (server_leaf == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_CERTIFICATE_INVALID,
                               "secure channel: the server certificate is missing or not DER");
    ch->server_key = ua_crypto_key_from_cert(cfg->server_cert, server_leaf, e, sizeof e);
    if (!ch->server_key)
        return ua_channel_fail(err, UA_STATUS_BAD_CERTIFICATE_INVALID,
                               "secure channel: server certificate: %s", e);
    if (!ua_crypto_policy_check_key(policy, ch->server_key, "server", e, sizeof e))
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED, "secure channel: %s",
                               e);
    ch->own_cert = malloc(own_leaf);
    ch->server_cert = malloc(cfg->server_cert_len);
    if (!ch->own_cert || !ch->server_cert)
        return ua_channel_fail(err, UA_STATUS_BAD_OUT_OF_MEMORY, "secure channel: out of memory");
    memcpy(ch->own_cert, cfg->own_cert, own_leaf);
    ch->own_cert_len = own_leaf;
    memcpy(ch->server_cert, cfg->server_cert, cfg->server_cert_len);
    ch->server_cert_len = cfg->server_cert_len;
    if (!ua_pki_thumbprint(ch->own_cert, own_leaf, ch->own_thumbprint) ||
        !ua_pki_thumbprint(ch->server_cert, server_leaf, ch->server_thumbprint))
        return ua_channel_fail(err, UA_STATUS_BAD_CERTIFICATE_INVALID,
                               "secure channel: cannot compute a certificate thumbprint");
    ch->own_key = cfg->own_key;
    return true;
}

bool ua_channel_init(struct ua_channel *ch, const struct ua_channel_config *cfg,
                     struct ua_channel_error *err)
{
    memset(ch, 0, sizeof *ch);
    ch->policy = ua_crypto_policy_get(cfg->policy);
    if (!ch->policy)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED,
                               "secure channel: unknown security policy %d", (int)cfg->policy);
    if (cfg->mode < UA_CHANNEL_MODE_NONE || cfg->mode > UA_CHANNEL_MODE_SIGN_AND_ENCRYPT) {
        ch->policy = NULL;
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_MODE_REJECTED,
                               "secure channel: invalid security mode %d", (int)cfg->mode);
    }
    ch->mode = cfg->mode;
    bool none_policy = ch->policy->id == UA_CRYPTO_POLICY_NONE;
    if (none_policy != (cfg->mode == UA_CHANNEL_MODE_NONE)) {
        ua_channel_fail(err, UA_STATUS_BAD_SECURITY_MODE_REJECTED,
                        "secure channel: policy %s cannot be used with mode %s (None goes only "
                        "with None)",
                        ch->policy->name, ua_channel_mode_name(cfg->mode));
        ch->policy = NULL;
        return false;
    }
    if (!check_limits(&cfg->limits, err) || (!none_policy && !load_certificates(ch, cfg, err))) {
        ua_channel_free(ch);
        return false;
    }
    ch->limits = cfg->limits;
    ch->send_sequence = 1;
    ua_writer_init(&ch->assembly, ch->limits.recv_max_message_bytes);
    return true;
}

void ua_channel_free(struct ua_channel *ch)
{
    ua_crypto_key_free(ch->server_key);
    free(ch->own_cert);
    free(ch->server_cert);
    if (ch->assembly.heap) ua_writer_free(&ch->assembly);
    explicit_bzero(ch, sizeof *ch);
}

bool ua_channel_new_client_nonce(struct ua_channel *ch, const uint8_t **nonce, size_t *nonce_len,
                                 struct ua_channel_error *err)
{
    *nonce = ch->client_nonce;
    *nonce_len = 0;
    ch->client_nonce_len = 0;
    if (!ch->policy)
        return ua_channel_fail(err, UA_STATUS_BAD_INVALID_STATE, "secure channel not initialised");
    if (!is_secured(ch)) return true;
    size_t n = ch->policy->nonce_bytes;
    if (n > sizeof ch->client_nonce || !ua_crypto_random(ch->client_nonce, n))
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "secure channel: the random generator failed (client nonce)");
    ch->client_nonce_len = n;
    *nonce_len = n;
    return true;
}

/* --------------------------------------------------------------- layout */

/* How a chunk of one type is built on this channel, in one direction. */
struct chunk_layout {
    size_t header_bytes;    /* message header + security header */
    size_t signature_bytes; /* 0: not signed */
    bool encrypted;
    size_t plain_block; /* encryption blocks (1 / 1 when not encrypted) */
    size_t cipher_block;
    size_t padding_fields; /* PaddingSize (+ ExtraPaddingSize) bytes; 0 unencrypted */
};

static size_t asym_security_header_bytes(const struct ua_channel *ch)
{
    size_t n = 4 + strlen(ch->policy->uri) + 4 + 4;
    if (is_secured(ch)) n += ch->own_cert_len + UA_CRYPTO_SHA1_BYTES;
    return n;
}

/* The layout of what we send. */
static void send_layout(const struct ua_channel *ch, enum ua_tcp_msg_type type,
                        struct chunk_layout *l)
{
    *l = (struct chunk_layout){.plain_block = 1, .cipher_block = 1};
    if (type == UA_TCP_OPN) {
        l->header_bytes = UA_CHANNEL_HEADER_BYTES + asym_security_header_bytes(ch);
        if (is_secured(ch)) {
            l->signature_bytes = ua_crypto_rsa_signature_bytes(ch->own_key);
            l->encrypted = true;
            l->plain_block = ua_crypto_oaep_plain_block_bytes(ch->server_key);
            l->cipher_block = ua_crypto_oaep_cipher_block_bytes(ch->server_key);
            l->padding_fields = ua_crypto_key_bits(ch->server_key) > 2048 ? 2 : 1;
        }
        return;
    }
    l->header_bytes = SYM_HEADER_BYTES;
    if (ch->mode != UA_CHANNEL_MODE_NONE) l->signature_bytes = ch->policy->sym_signature_bytes;
    if (ch->mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT) {
        l->encrypted = true;
        l->plain_block = l->cipher_block = ch->policy->sym_block_bytes;
        l->padding_fields = 1;
    }
}

/* The most body bytes a chunk of chunk_bytes can carry (0: none). */
static size_t layout_max_body(const struct chunk_layout *l, size_t chunk_bytes)
{
    if (chunk_bytes <= l->header_bytes || l->plain_block == 0 || l->cipher_block == 0) return 0;
    size_t avail = chunk_bytes - l->header_bytes;
    size_t plain = avail / l->cipher_block * l->plain_block;
    size_t overhead = SEQ_BYTES + l->signature_bytes + l->padding_fields;
    return plain > overhead ? plain - overhead : 0;
}

/* Sizes of a chunk carrying n body bytes: *plain_bytes from the header to
 * the end of the signature before encryption, *padding the padding size;
 * returns the size on the wire. */
static size_t layout_chunk_bytes(const struct chunk_layout *l, size_t n, size_t *plain_bytes,
                                 size_t *padding)
{
    size_t plain = SEQ_BYTES + n + l->padding_fields + l->signature_bytes;
    size_t pad = 0;
    if (l->encrypted) pad = (l->plain_block - plain % l->plain_block) % l->plain_block;
    plain += pad;
    *padding = pad;
    *plain_bytes = l->header_bytes + plain;
    return l->header_bytes + plain / l->plain_block * l->cipher_block;
}

size_t ua_channel_chunk_body_bytes(const struct ua_channel *ch, enum ua_tcp_msg_type type)
{
    if (!ch->policy) return 0;
    if (type != UA_TCP_OPN && type != UA_TCP_MSG && type != UA_TCP_CLO) return 0;
    if (type != UA_TCP_OPN && !ch->current.valid) return 0;
    struct chunk_layout l;
    send_layout(ch, type, &l);
    return layout_max_body(&l, ch->limits.send_chunk_bytes);
}

/* ---------------------------------------------------------------- send */

static uint32_t take_send_sequence(struct ua_channel *ch)
{
    uint32_t seq = ch->send_sequence;
    /* Legacy sequence numbers: the largest sent is 4294966271, then a
     * number below 1024 (as the SDKs do). */
    ch->send_sequence = seq >= UA_CHANNEL_SEQUENCE_WRAP_AFTER ? 1 : seq + 1;
    return seq;
}

static void write_bytestring(struct ua_writer *w, const void *p, size_t n)
{
    struct ua_string s = {(const char *)p, (int32_t)n};
    ua_encode_string(w, p ? s : UA_STRING_NULL);
}

/* Writes the unencrypted chunk into p[0..plain_bytes): headers, sequence
 * header, body, padding; the signature's place is left. */
static bool write_plain_chunk(struct ua_channel *ch, enum ua_tcp_msg_type type, char chunk_type,
                              const struct chunk_layout *l, uint32_t wire_bytes, uint32_t sequence,
                              uint32_t request_id, const uint8_t *body, size_t n, size_t padding,
                              uint8_t *p, size_t plain_bytes)
{
    struct ua_writer w;
    ua_writer_init_fixed(&w, p, plain_bytes);
    ua_write_bytes(&w, ua_tcp_msg_type_name(type), 3);
    ua_write_u8(&w, (uint8_t)chunk_type);
    ua_write_u32(&w, wire_bytes);
    ua_write_u32(&w, ch->channel_id);
    if (type == UA_TCP_OPN) {
        ua_encode_string(&w, ua_string_from_cstr(ch->policy->uri));
        write_bytestring(&w, is_secured(ch) ? ch->own_cert : NULL, ch->own_cert_len);
        write_bytestring(&w, is_secured(ch) ? ch->server_thumbprint : NULL, UA_CRYPTO_SHA1_BYTES);
    } else {
        ua_write_u32(&w, ch->current.token_id);
    }
    ua_write_u32(&w, sequence);
    ua_write_u32(&w, request_id);
    ua_write_bytes(&w, body, n);
    if (l->encrypted) {
        uint8_t low = (uint8_t)(padding & 0xff);
        uint8_t *pad = ua_writer_space(&w, 1 + padding);
        if (pad) memset(pad, low, 1 + padding);
        if (l->padding_fields == 2) ua_write_u8(&w, (uint8_t)(padding >> 8));
    }
    ua_writer_space(&w, l->signature_bytes);
    return ua_writer_ok(&w) && w.len == plain_bytes;
}

/* Appends one chunk carrying body[0..n) to out. */
static bool encode_chunk(struct ua_channel *ch, enum ua_tcp_msg_type type, char chunk_type,
                         const struct chunk_layout *l, uint32_t request_id, const uint8_t *body,
                         size_t n, struct ua_writer *out, struct ua_channel_error *err)
{
    const char *name = ua_tcp_msg_type_name(type);
    size_t plain_bytes, padding;
    size_t wire_bytes = layout_chunk_bytes(l, n, &plain_bytes, &padding);
    uint8_t *dst = ua_writer_space(out, wire_bytes);
    if (!dst)
        return ua_channel_fail(err, UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED, "%s: %s", name,
                               out->fail_reason ? out->fail_reason : "output buffer full");
    bool asym = type == UA_TCP_OPN && l->encrypted;
    uint8_t *p = asym ? malloc(plain_bytes) : dst;
    if (!p) return ua_channel_fail(err, UA_STATUS_BAD_OUT_OF_MEMORY, "%s: out of memory", name);
    uint32_t sequence = take_send_sequence(ch);
    bool ok = write_plain_chunk(ch, type, chunk_type, l, (uint32_t)wire_bytes, sequence, request_id,
                                body, n, padding, p, plain_bytes);
    if (!ok) ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR, "%s: chunk layout error", name);
    char e[256] = "";
    size_t signed_bytes = plain_bytes - l->signature_bytes;
    if (ok && l->signature_bytes) {
        if (type == UA_TCP_OPN) {
            size_t sig_len = 0;
            ok = ua_crypto_rsa_sign(ch->own_key, p, signed_bytes, p + signed_bytes,
                                    l->signature_bytes, &sig_len, e, sizeof e) &&
                 sig_len == l->signature_bytes;
        } else {
            ok = ua_crypto_hmac_sha256(ch->current.client_keys.signing_key,
                                       ch->current.client_keys.signing_key_bytes, p, signed_bytes,
                                       p + signed_bytes);
        }
        if (!ok)
            ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR, "%s: signing failed %s", name, e);
    }
    if (ok && l->encrypted) {
        size_t h = l->header_bytes;
        if (asym) {
            size_t cipher_len = 0;
            memcpy(dst, p, h);
            ok = ua_crypto_oaep_encrypt(ch->server_key, p + h, plain_bytes - h, dst + h,
                                        wire_bytes - h, &cipher_len, e, sizeof e) &&
                 cipher_len == wire_bytes - h;
        } else {
            ok = ua_crypto_aes256_cbc_encrypt(ch->current.client_keys.encrypting_key,
                                              ch->current.client_keys.iv, p + h, plain_bytes - h, e,
                                              sizeof e);
        }
        if (!ok)
            ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR, "%s: encryption failed: %s", name,
                            e);
    }
    if (asym) {
        explicit_bzero(p, plain_bytes);
        free(p);
    }
    return ok;
}

bool ua_channel_encode_message(struct ua_channel *ch, enum ua_tcp_msg_type type,
                               uint32_t request_id, const uint8_t *body, size_t body_len,
                               struct ua_writer *out, unsigned *chunk_count,
                               struct ua_channel_error *err)
{
    const char *name = ua_tcp_msg_type_name(type);
    if (chunk_count) *chunk_count = 0;
    if (!ch->policy)
        return ua_channel_fail(err, UA_STATUS_BAD_INVALID_STATE, "%s: channel not initialised",
                               name);
    if (type != UA_TCP_OPN && type != UA_TCP_MSG && type != UA_TCP_CLO)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "%s is not a secure channel message", name);
    if (type != UA_TCP_OPN && !ch->current.valid)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_CLOSED,
                               "%s: the secure channel has no token yet (open it first)", name);
    struct chunk_layout l;
    send_layout(ch, type, &l);
    size_t max_body = layout_max_body(&l, ch->limits.send_chunk_bytes);
    if (max_body == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE,
                               "%s: a %u-byte chunk cannot hold a %zu-byte security header and "
                               "its signature",
                               name, (unsigned)ch->limits.send_chunk_bytes, l.header_bytes);
    size_t chunks = body_len / max_body + (body_len % max_body != 0);
    if (chunks == 0) chunks = 1;
    if (type != UA_TCP_MSG && chunks > 1)
        return ua_channel_fail(err, UA_STATUS_BAD_REQUEST_TOO_LARGE,
                               "%s: a body of %zu bytes does not fit one chunk (at most %zu)", name,
                               body_len, max_body);
    if (ch->limits.send_max_message_bytes && body_len > ch->limits.send_max_message_bytes)
        return ua_channel_fail(err, UA_STATUS_BAD_REQUEST_TOO_LARGE,
                               "%s: a body of %zu bytes is larger than the server's limit of %u",
                               name, body_len, (unsigned)ch->limits.send_max_message_bytes);
    if (ch->limits.send_max_chunks && chunks > ch->limits.send_max_chunks)
        return ua_channel_fail(err, UA_STATUS_BAD_REQUEST_TOO_LARGE,
                               "%s: a body of %zu bytes needs %zu chunks, the server takes at "
                               "most %u",
                               name, body_len, chunks, (unsigned)ch->limits.send_max_chunks);
    if (chunks > UINT32_MAX)
        return ua_channel_fail(err, UA_STATUS_BAD_REQUEST_TOO_LARGE, "%s: too many chunks", name);
    size_t start_len = out->len;
    uint32_t start_sequence = ch->send_sequence;
    size_t off = 0;
    for (size_t c = 0; c < chunks; c++) {
        size_t n = body_len - off < max_body ? body_len - off : max_body;
        char chunk_type = c + 1 == chunks ? 'F' : 'C';
        if (!encode_chunk(ch, type, chunk_type, &l, request_id, body ? body + off : NULL, n, out,
                          err)) {
            out->len = start_len;
            ch->send_sequence = start_sequence;
            return false;
        }
        off += n;
    }
    if (chunk_count) *chunk_count = (unsigned)chunks;
    return true;
}

/* ------------------------------------------------------------- receive */

/* A chunk after its security was checked and removed. */
struct opened_chunk {
    enum ua_tcp_msg_type type;
    char chunk_type;
    uint32_t channel_id;
    uint32_t token_id;
    bool current_token; /* MSG: secured with the current token */
    uint32_t sequence;
    uint32_t request_id;
    size_t body_start, body_end; /* the body: chunk[body_start..body_end) */
};

/* Removes PaddingSize, Padding and ExtraPaddingSize (fields bytes of size
 * fields) ending at *end, leaving *end at the end of the body, which starts
 * at body_start. */
static bool strip_padding(const uint8_t *chunk, size_t body_start, size_t *end, size_t fields,
                          const char *name, struct ua_channel_error *err)
{
    size_t avail = *end - body_start;
    size_t extra = fields - 1;
    if (avail < fields)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                               "%s chunk: no room for the padding size", name);
    uint8_t low = chunk[*end - 1 - extra];
    size_t padding = low | (extra ? (size_t)chunk[*end - 1] << 8 : 0);
    if (avail < padding + fields)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                               "%s chunk: padding of %zu bytes (size at offset %zu) is longer than "
                               "the %zu bytes of body and padding",
                               name, padding, *end - 1 - extra, avail);
    size_t start = *end - extra - padding - 1;
    for (size_t i = start; i < *end - extra; i++)
        if (chunk[i] != low)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "%s chunk: padding byte at offset %zu is 0x%02X, not the "
                                   "padding size 0x%02X",
                                   name, i, chunk[i], low);
    *end = start;
    return true;
}

static bool read_header_string(struct ua_reader *r, struct ua_string *s, const char *field,
                               struct ua_channel_error *err)
{
    size_t at = r->pos;
    if (!ua_decode_string(r, s))
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR, "OPN chunk: %s at offset %zu: %s",
                               field, at, r->fail_reason);
    return true;
}

/* Checks the asymmetric security header, decrypts and verifies an OPN chunk. */
static bool open_opn(struct ua_channel *ch, uint8_t *chunk, size_t len, struct opened_chunk *o,
                     struct ua_channel_error *err)
{
    if (ch->channel_id != 0 && o->channel_id != ch->channel_id)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN,
                               "OPN chunk for channel %u (offset 8), ours is %u",
                               (unsigned)o->channel_id, (unsigned)ch->channel_id);
    struct ua_reader r;
    ua_reader_init(&r, chunk, len);
    ua_read_skip(&r, UA_CHANNEL_HEADER_BYTES);
    struct ua_string uri, cert, thumb;
    if (!read_header_string(&r, &uri, "SecurityPolicyUri", err)) return false;
    size_t cert_at = r.pos;
    if (!read_header_string(&r, &cert, "SenderCertificate", err)) return false;
    size_t thumb_at = r.pos;
    if (!read_header_string(&r, &thumb, "ReceiverCertificateThumbprint", err)) return false;
    if (uri.length > UA_CHANNEL_MAX_POLICY_URI_BYTES ||
        !ua_string_equal_cstr(uri, ch->policy->uri)) {
        char shown[128] = "";
        if (uri.length > 0)
            ua_channel_clean_text(shown, sizeof shown, (const uint8_t *)uri.data,
                                  (size_t)uri.length);
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED,
                               "OPN chunk: SecurityPolicyUri '%s' at offset 12 is not the "
                               "channel's (%s)",
                               shown, ch->policy->uri);
    }
    size_t h = r.pos;
    size_t end = len;
    if (is_secured(ch)) {
        size_t a =
            cert.length > 0 ? leaf_bytes((const uint8_t *)cert.data, (size_t)cert.length) : 0;
        size_t b = leaf_bytes(ch->server_cert, ch->server_cert_len);
        if (a == 0 || a != b || memcmp(cert.data, ch->server_cert, a) != 0)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: the SenderCertificate at offset %zu is not the "
                                   "server certificate the channel was opened with",
                                   cert_at);
        if (thumb.length != UA_CRYPTO_SHA1_BYTES ||
            memcmp(thumb.data, ch->own_thumbprint, UA_CRYPTO_SHA1_BYTES) != 0)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: the ReceiverCertificateThumbprint at offset %zu is "
                                   "not our certificate's",
                                   thumb_at);
        size_t cipher_block = ua_crypto_oaep_cipher_block_bytes(ch->own_key);
        size_t sig = ua_crypto_rsa_signature_bytes(ch->server_key);
        size_t fields = ua_crypto_key_bits(ch->own_key) > 2048 ? 2 : 1;
        size_t enc = len - h;
        if (enc == 0 || cipher_block == 0 || enc % cipher_block != 0)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: the encrypted part (offset %zu, %zu bytes) is not "
                                   "whole %zu-byte blocks",
                                   h, enc, cipher_block);
        char e[256];
        size_t plain = 0;
        if (!ua_crypto_oaep_decrypt(ch->own_key, chunk + h, enc, chunk + h, enc, &plain, e,
                                    sizeof e))
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: encrypted part at offset %zu: %s", h, e);
        if (plain < SEQ_BYTES + fields + sig)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: %zu decrypted bytes cannot hold the sequence "
                                   "header, padding and a %zu-byte signature",
                                   plain, sig);
        end = h + plain - sig;
        if (!ua_crypto_rsa_verify(ch->server_key, chunk, end, chunk + end, sig, e, sizeof e))
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "OPN chunk: the signature does not verify with the server's "
                                   "key (%s)",
                                   e);
        if (!strip_padding(chunk, h + SEQ_BYTES, &end, fields, "OPN", err)) return false;
    } else if (len - h < SEQ_BYTES) {
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "OPN chunk: no room for the sequence header at offset %zu", h);
    }
    o->sequence = get_u32le(chunk + h);
    o->request_id = get_u32le(chunk + h + 4);
    o->body_start = h + SEQ_BYTES;
    o->body_end = end;
    return true;
}

/* Forgets the previous token once it is more than 25 % past its lifetime. */
static void expire_previous(struct ua_channel *ch, int64_t now_ns)
{
    struct ua_channel_token *p = &ch->previous;
    if (!p->valid) return;
    int64_t grace = (int64_t)p->lifetime_ms * NS_PER_MS / 4 * 5;
    if (now_ns > add_saturated(p->created_ns, grace)) wipe_token(p);
}

/* Checks the token, decrypts and verifies a MSG chunk. */
static bool open_msg(struct ua_channel *ch, uint8_t *chunk, size_t len, int64_t now_ns,
                     struct opened_chunk *o, struct ua_channel_error *err)
{
    if (ch->channel_id == 0 || o->channel_id != ch->channel_id)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN,
                               "MSG chunk for channel %u (offset 8), ours is %u",
                               (unsigned)o->channel_id, (unsigned)ch->channel_id);
    if (len < SYM_HEADER_BYTES + SEQ_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "MSG chunk of %zu bytes is shorter than its headers", len);
    o->token_id = get_u32le(chunk + UA_CHANNEL_HEADER_BYTES);
    expire_previous(ch, now_ns);
    const struct ua_channel_token *t = NULL;
    if (ch->current.valid && ch->current.token_id == o->token_id) {
        t = &ch->current;
        o->current_token = true;
    } else if (ch->previous.valid && ch->previous.token_id == o->token_id) {
        t = &ch->previous;
    }
    if (!t) {
        if (!ch->current.valid)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN,
                                   "MSG chunk with token %u (offset 12) before any token was "
                                   "installed",
                                   (unsigned)o->token_id);
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN,
                               "MSG chunk with token %u (offset 12): the channel's token is %u%s",
                               (unsigned)o->token_id, (unsigned)ch->current.token_id,
                               ch->previous.valid ? " (or the previous one)" : "");
    }
    size_t h = SYM_HEADER_BYTES;
    bool sign = ch->mode != UA_CHANNEL_MODE_NONE;
    bool encrypt = ch->mode == UA_CHANNEL_MODE_SIGN_AND_ENCRYPT;
    size_t sig = sign ? ch->policy->sym_signature_bytes : 0;
    if (len - h < SEQ_BYTES + sig + (encrypt ? 1 : 0))
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                               "MSG chunk of %zu bytes is too short for its sequence header, "
                               "padding and signature",
                               len);
    char e[256];
    if (encrypt) {
        size_t block = ch->policy->sym_block_bytes;
        if ((len - h) % block != 0)
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                                   "MSG chunk: the encrypted part (offset %zu, %zu bytes) is not "
                                   "whole %zu-byte blocks",
                                   h, len - h, block);
        if (!ua_crypto_aes256_cbc_decrypt(t->server_keys.encrypting_key, t->server_keys.iv,
                                          chunk + h, len - h, e, sizeof e))
            return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED, "MSG chunk: %s", e);
    }
    size_t end = len - sig;
    if (sign &&
        !ua_crypto_hmac_sha256_verify(t->server_keys.signing_key, t->server_keys.signing_key_bytes,
                                      chunk, end, chunk + end, sig))
        return ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                               "MSG chunk: the signature (offset %zu) does not verify with token "
                               "%u",
                               end, (unsigned)o->token_id);
    if (encrypt && !strip_padding(chunk, h + SEQ_BYTES, &end, 1, "MSG", err)) return false;
    o->sequence = get_u32le(chunk + h);
    o->request_id = get_u32le(chunk + h + 4);
    o->body_start = h + SEQ_BYTES;
    o->body_end = end;
    return true;
}

static bool check_sequence(struct ua_channel *ch, const struct opened_chunk *o,
                           struct ua_channel_error *err)
{
    uint32_t last = ch->recv_sequence, seq = o->sequence;
    bool ok = !ch->recv_sequence_started || (last != UINT32_MAX && seq == last + 1) ||
              (last >= UA_CHANNEL_SEQUENCE_WRAP_AFTER && seq < UA_CHANNEL_SEQUENCE_WRAP_BELOW);
    if (!ok)
        return ua_channel_fail(err, UA_STATUS_BAD_SEQUENCE_NUMBER_INVALID,
                               "%s chunk: sequence number %u after %u (each chunk must add 1)",
                               ua_tcp_msg_type_name(o->type), (unsigned)seq, (unsigned)last);
    ch->recv_sequence_started = true;
    ch->recv_sequence = seq;
    return true;
}

static void drop_assembly(struct ua_channel *ch)
{
    ua_writer_reset(&ch->assembly);
    ch->assembling = false;
    ch->assembly_delivered = false;
    ch->assembly_chunks = 0;
}

static enum ua_channel_recv take_abort(struct ua_channel *ch, const uint8_t *chunk,
                                       const struct opened_chunk *o, struct ua_channel_message *msg,
                                       struct ua_channel_error *err)
{
    drop_assembly(ch);
    struct ua_reader r;
    ua_reader_init(&r, chunk + o->body_start, o->body_end - o->body_start);
    uint32_t status = ua_read_u32(&r);
    struct ua_string reason = UA_STRING_NULL;
    ua_decode_string(&r, &reason);
    if (!ua_reader_ok(&r) || ua_reader_remaining(&r) != 0) {
        ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                        "abort chunk of request %u: malformed Error / Reason at offset %zu",
                        (unsigned)o->request_id,
                        o->body_start + (r.failed ? r.fail_offset : r.pos));
        return UA_CHANNEL_RECV_FAILED;
    }
    msg->abort_status = ua_status_is_bad(status) ? status : UA_STATUS_BAD_UNEXPECTED_ERROR;
    if (reason.length > 0 && reason.length <= UA_TCP_MAX_REASON_BYTES)
        ua_channel_clean_text(msg->abort_reason, sizeof msg->abort_reason,
                              (const uint8_t *)reason.data, (size_t)reason.length);
    return UA_CHANNEL_RECV_ABORTED;
}

/* Adds the chunk's body to the message being received. */
static enum ua_channel_recv assemble(struct ua_channel *ch, const uint8_t *chunk,
                                     const struct opened_chunk *o, struct ua_channel_message *msg,
                                     struct ua_channel_error *err)
{
    const char *name = ua_tcp_msg_type_name(o->type);
    if (ch->assembling &&
        (o->request_id != ch->assembly_request_id || o->type != ch->assembly_type)) {
        ua_channel_fail(err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED,
                        "%s chunk of request %u arrived while request %u's message was incomplete "
                        "(chunks are never interleaved)",
                        name, (unsigned)o->request_id, (unsigned)ch->assembly_request_id);
        return UA_CHANNEL_RECV_FAILED;
    }
    if (o->chunk_type == 'A') return take_abort(ch, chunk, o, msg, err);
    size_t n = o->body_end - o->body_start;
    uint64_t chunks = (uint64_t)ch->assembly_chunks + 1;
    uint64_t total = (uint64_t)ch->assembly.len + n;
    if (ch->limits.recv_max_chunks && chunks > ch->limits.recv_max_chunks) {
        ua_channel_fail(err, UA_STATUS_BAD_RESPONSE_TOO_LARGE,
                        "%s message of request %u has more than the %u chunks we accept", name,
                        (unsigned)o->request_id, (unsigned)ch->limits.recv_max_chunks);
        return UA_CHANNEL_RECV_FAILED;
    }
    if (total > ch->limits.recv_max_message_bytes) {
        ua_channel_fail(err, UA_STATUS_BAD_RESPONSE_TOO_LARGE,
                        "%s message of request %u is larger than the %u bytes we accept", name,
                        (unsigned)o->request_id, (unsigned)ch->limits.recv_max_message_bytes);
        return UA_CHANNEL_RECV_FAILED;
    }
    bool single = o->chunk_type == 'F' && !ch->assembling;
    if (!single && !ua_write_bytes(&ch->assembly, chunk + o->body_start, n)) {
        ua_channel_fail(err, UA_STATUS_BAD_OUT_OF_MEMORY, "%s message of request %u: %s", name,
                        (unsigned)o->request_id, ch->assembly.fail_reason);
        return UA_CHANNEL_RECV_FAILED;
    }
    if (o->chunk_type == 'C') {
        ch->assembling = true;
        ch->assembly_type = o->type;
        ch->assembly_request_id = o->request_id;
        ch->assembly_chunks = (uint32_t)chunks;
        return UA_CHANNEL_RECV_MORE;
    }
    if (single) {
        msg->body = chunk + o->body_start;
        msg->body_len = n;
    } else {
        msg->body = ch->assembly.data;
        msg->body_len = ch->assembly.len;
        ch->assembling = false;
        ch->assembly_delivered = true;
    }
    return UA_CHANNEL_RECV_MESSAGE;
}

static enum ua_channel_recv decode_chunk(struct ua_channel *ch, uint8_t *chunk, size_t len,
                                         int64_t now_ns, struct ua_channel_message *msg,
                                         struct ua_channel_error *err)
{
    if (!ch->policy) {
        ua_channel_fail(err, UA_STATUS_BAD_INVALID_STATE, "secure channel not initialised");
        return UA_CHANNEL_RECV_FAILED;
    }
    if (len < UA_CHANNEL_HEADER_BYTES) {
        ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                        "chunk of %zu bytes is shorter than the 12-byte header", len);
        return UA_CHANNEL_RECV_FAILED;
    }
    struct opened_chunk o = {.chunk_type = (char)chunk[3]};
    if (memcmp(chunk, "MSG", 3) == 0) {
        o.type = UA_TCP_MSG;
    } else if (memcmp(chunk, "OPN", 3) == 0) {
        o.type = UA_TCP_OPN;
    } else {
        char shown[4];
        ua_channel_clean_text(shown, sizeof shown, chunk, 3);
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                        "message type '%s' at offset 0 is not a chunk a server sends (MSG, OPN)",
                        shown);
        return UA_CHANNEL_RECV_FAILED;
    }
    const char *name = ua_tcp_msg_type_name(o.type);
    bool chunk_type_ok = o.chunk_type == 'F' ||
                         (o.type == UA_TCP_MSG && (o.chunk_type == 'C' || o.chunk_type == 'A'));
    if (!chunk_type_ok) {
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                        "%s chunk: chunk type 0x%02X at offset 3 is not %s", name, chunk[3],
                        o.type == UA_TCP_MSG ? "'C', 'F' or 'A'" : "'F'");
        return UA_CHANNEL_RECV_FAILED;
    }
    uint32_t size = get_u32le(chunk + 4);
    if (size != len) {
        ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                        "%s chunk: MessageSize %u at offset 4 but the chunk has %zu bytes", name,
                        (unsigned)size, len);
        return UA_CHANNEL_RECV_FAILED;
    }
    if (len > ch->limits.recv_chunk_bytes) {
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE,
                        "%s chunk of %zu bytes is larger than the %u-byte receive buffer", name,
                        len, (unsigned)ch->limits.recv_chunk_bytes);
        return UA_CHANNEL_RECV_FAILED;
    }
    o.channel_id = get_u32le(chunk + 8);
    bool opened = o.type == UA_TCP_OPN ? open_opn(ch, chunk, len, &o, err)
                                       : open_msg(ch, chunk, len, now_ns, &o, err);
    if (!opened || !check_sequence(ch, &o, err)) return UA_CHANNEL_RECV_FAILED;
    /* The server has switched to the new token: the old one is done. */
    if (o.current_token && ch->previous.valid) wipe_token(&ch->previous);
    if (o.type == UA_TCP_OPN) ch->opn_channel_id = o.channel_id;
    msg->type = o.type;
    msg->request_id = o.request_id;
    msg->channel_id = o.channel_id;
    msg->token_id = o.token_id;
    return assemble(ch, chunk, &o, msg, err);
}

enum ua_channel_recv ua_channel_decode_chunk(struct ua_channel *ch, uint8_t *chunk, size_t len,
                                             int64_t now_ns, struct ua_channel_message *msg,
                                             struct ua_channel_error *err)
{
    memset(msg, 0, sizeof *msg);
    if (ch->assembly_delivered) drop_assembly(ch);
    enum ua_channel_recv r = decode_chunk(ch, chunk, len, now_ns, msg, err);
    if (r == UA_CHANNEL_RECV_FAILED) {
        drop_assembly(ch);
        msg->body = NULL;
        msg->body_len = 0;
    }
    return r;
}

/* --------------------------------------------------------------- tokens */

bool ua_channel_install_token(struct ua_channel *ch, uint32_t channel_id, uint32_t token_id,
                              uint32_t lifetime_ms, const uint8_t *server_nonce,
                              size_t server_nonce_len, int64_t now_ns, struct ua_channel_error *err)
{
    if (!ch->policy)
        return ua_channel_fail(err, UA_STATUS_BAD_INVALID_STATE, "secure channel not initialised");
    if (channel_id == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID,
                               "OpenSecureChannel response: SecureChannelId 0 is not valid");
    if (ch->channel_id != 0 && channel_id != ch->channel_id)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID,
                               "OpenSecureChannel response: token for channel %u, ours is %u",
                               (unsigned)channel_id, (unsigned)ch->channel_id);
    if (ch->opn_channel_id != 0 && channel_id != ch->opn_channel_id)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID,
                               "OpenSecureChannel response: token for channel %u came in an OPN "
                               "chunk for channel %u",
                               (unsigned)channel_id, (unsigned)ch->opn_channel_id);
    if (ch->current.valid && token_id == ch->current.token_id)
        return ua_channel_fail(err, UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN,
                               "OpenSecureChannel response: the new token has the id of the "
                               "current one (%u)",
                               (unsigned)token_id);
    if (lifetime_ms == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "OpenSecureChannel response: RevisedLifetime 0");
    struct ua_channel_token t = {
        .valid = true, .token_id = token_id, .lifetime_ms = lifetime_ms, .created_ns = now_ns};
    if (is_secured(ch)) {
        if (ch->client_nonce_len == 0)
            return ua_channel_fail(err, UA_STATUS_BAD_INVALID_STATE,
                                   "OpenSecureChannel response: no client nonce was made for "
                                   "the request (ua_channel_new_client_nonce)");
        char e[256];
        bool ok =
            ua_crypto_derive_keys(ch->policy, ch->client_nonce, ch->client_nonce_len, server_nonce,
                                  server_nonce_len, &t.client_keys, &t.server_keys, e, sizeof e);
        if (!ok) {
            wipe_token(&t);
            return ua_channel_fail(err, UA_STATUS_BAD_NONCE_INVALID,
                                   "OpenSecureChannel response: %s", e);
        }
    }
    explicit_bzero(ch->client_nonce, sizeof ch->client_nonce);
    ch->client_nonce_len = 0;
    wipe_token(&ch->previous);
    if (ch->current.valid) ch->previous = ch->current;
    ch->current = t;
    wipe_token(&t);
    ch->channel_id = channel_id;
    return true;
}

bool ua_channel_is_open(const struct ua_channel *ch)
{
    return ch->current.valid;
}

int64_t ua_channel_renew_at_ns(const struct ua_channel *ch)
{
    if (!ch->current.valid) return INT64_MAX;
    int64_t three_quarters = (int64_t)ch->current.lifetime_ms * NS_PER_MS / 4 * 3;
    return add_saturated(ch->current.created_ns, three_quarters);
}

bool ua_channel_renew_due(const struct ua_channel *ch, int64_t now_ns)
{
    return now_ns >= ua_channel_renew_at_ns(ch);
}
