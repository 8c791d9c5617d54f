/* OPC UA security primitives over OpenSSL 3's EVP interfaces (see
 * ua_crypto.h). The algorithms (HMAC, SHA-1, SHA-256, AES-256-CBC) are
 * fetched once per process and shared; every call makes its own contexts,
 * so nothing here holds state between calls. */
#include "drivers/opcua/ua_crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/errbuf.h"

struct ua_crypto_key {
    EVP_PKEY *pkey;
    bool is_private;
    unsigned bits;
    size_t bytes;
};

static const struct ua_crypto_policy policies[] = {
    [UA_CRYPTO_POLICY_NONE] =
        {
            .id = UA_CRYPTO_POLICY_NONE,
            .name = "None",
            .uri = UA_CRYPTO_POLICY_URI_NONE,
        },
    [UA_CRYPTO_POLICY_BASIC256SHA256] =
        {
            .id = UA_CRYPTO_POLICY_BASIC256SHA256,
            .name = "Basic256Sha256",
            .uri = UA_CRYPTO_POLICY_URI_BASIC256SHA256,
            .asym_signature_uri = UA_CRYPTO_URI_RSA_SHA256,
            .asym_encryption_uri = UA_CRYPTO_URI_RSA_OAEP,
            .sym_signature_bytes = UA_CRYPTO_SHA256_BYTES,
            .sym_signing_key_bytes = 32,
            .sym_encrypting_key_bytes = UA_CRYPTO_AES256_KEY_BYTES,
            .sym_block_bytes = UA_CRYPTO_AES_BLOCK_BYTES,
            .nonce_bytes = 32,
            .asym_min_key_bits = 2048,
            .asym_max_key_bits = 4096,
            .asym_oaep_overhead_bytes = UA_CRYPTO_OAEP_SHA1_OVERHEAD_BYTES,
        },
};

/* ---- Errors -------------------------------------------------------------- */

/* Writes "<what>: <OpenSSL's reason>" and empties this thread's OpenSSL
 * error queue, so a stale error never shows up in a later message. */
static void set_ossl_err(char *err, size_t err_len, const char *what)
{
    unsigned long code = ERR_peek_last_error();
    char reason[160] = "unknown OpenSSL error";
    if (code) {
        const char *r = ERR_reason_error_string(code);
        if (r)
            snprintf(reason, sizeof reason, "%s", r);
        else
            ERR_error_string_n(code, reason, sizeof reason);
    }
    ERR_clear_error();
    errbuf_set(err, err_len, "%s: %s", what, reason);
}

/* ---- Algorithms fetched once --------------------------------------------- */

static pthread_once_t algorithms_once = PTHREAD_ONCE_INIT;
static EVP_MAC *alg_hmac;
static EVP_MD *alg_sha1, *alg_sha256;
static EVP_CIPHER *alg_aes256_cbc;

static void fetch_algorithms(void)
{
    alg_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    alg_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    alg_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    alg_aes256_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

static bool algorithms_ready(char *err, size_t err_len)
{
    pthread_once(&algorithms_once, fetch_algorithms);
    if (alg_hmac && alg_sha1 && alg_sha256 && alg_aes256_cbc) return true;
    set_ossl_err(err, err_len, "OpenSSL lacks HMAC, SHA-1, SHA-256 or AES-256-CBC");
    return false;
}

/* ---- Policies ------------------------------------------------------------ */

const struct ua_crypto_policy *ua_crypto_policy_get(enum ua_crypto_policy_id id)
{
    if ((unsigned)id >= sizeof policies / sizeof policies[0]) return NULL;
    return &policies[id];
}

const struct ua_crypto_policy *ua_crypto_policy_from_uri(const char *uri, size_t len)
{
    if (!uri) return NULL;
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
        if (strlen(policies[i].uri) == len && memcmp(policies[i].uri, uri, len) == 0)
            return &policies[i];
    return NULL;
}

/* ---- Keys ---------------------------------------------------------------- */

/* Wraps pkey (taking ownership) after checking it is RSA of a sane size. */
static struct ua_crypto_key *wrap_key(EVP_PKEY *pkey, bool is_private, const char *what, char *err,
                                      size_t err_len)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        errbuf_set(err, err_len, "%s: the key is not RSA (OPC UA RSA policies need RSA)", what);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    int bytes = EVP_PKEY_get_size(pkey);
    if (bits < 512 || bits > UA_CRYPTO_MAX_RSA_BITS || bytes <= 0 ||
        bytes > UA_CRYPTO_MAX_RSA_BYTES) {
        errbuf_set(err, err_len, "%s: RSA key of %d bits is outside 512..%d", what, bits,
                   UA_CRYPTO_MAX_RSA_BITS);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    struct ua_crypto_key *key = calloc(1, sizeof *key);
    if (!key) {
        errbuf_set(err, err_len, "%s: out of memory", what);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    key->pkey = pkey;
    key->is_private = is_private;
    key->bits = (unsigned)bits;
    key->bytes = (size_t)bytes;
    return key;
}

size_t ua_crypto_cert_leaf_bytes(const uint8_t *der, size_t len)
{
    if (!der || len < 2 || der[0] != 0x30) /* SEQUENCE, constructed */
        return 0;
    size_t header = 2, content = der[1];
    if (der[1] & 0x80) {
        size_t n = der[1] & 0x7F;
        /* DER: the long form only for 128 and above, in the fewest bytes. */
        if (n == 0 || n > 4 || len < 2 + n || der[2] == 0) return 0;
        content = 0;
        for (size_t i = 0; i < n; i++)
            content = content << 8 | der[2 + i];
        if (content < 128) return 0;
        header += n;
    }
    if (content > len - header) return 0;
    return header + content;
}

struct ua_crypto_key *ua_crypto_key_from_cert(const uint8_t *der, size_t len, char *err,
                                              size_t err_len)
{
    size_t leaf = ua_crypto_cert_leaf_bytes(der, len);
    if (!leaf || leaf > LONG_MAX) {
        errbuf_set(err, err_len, "certificate: not a DER certificate (%zu bytes)", len);
        return NULL;
    }
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)leaf);
    if (!cert || p != der + leaf) {
        X509_free(cert);
        set_ossl_err(err, err_len, "certificate: cannot parse DER");
        return NULL;
    }
    EVP_PKEY *pkey = X509_get_pubkey(cert);
    X509_free(cert);
    if (!pkey) {
        set_ossl_err(err, err_len, "certificate: cannot read its public key");
        return NULL;
    }
    return wrap_key(pkey, false, "certificate", err, err_len);
}

/* Refuses to ask for a passphrase: a daemon has nobody to ask. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

struct ua_crypto_key *ua_crypto_key_from_pem(const char *pem, size_t len, char *err, size_t err_len)
{
    if (!pem || len == 0 || len > INT_MAX) {
        errbuf_set(err, err_len, "private key: empty or too large (%zu bytes)", len);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        set_ossl_err(err, err_len, "private key");
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!pkey) {
        set_ossl_err(err, err_len,
                     "private key: not an unencrypted PEM private key (PKCS#8 or RSA)");
        return NULL;
    }
    return wrap_key(pkey, true, "private key", err, err_len);
}

void ua_crypto_key_free(struct ua_crypto_key *key)
{
    if (!key) return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

bool ua_crypto_key_is_private(const struct ua_crypto_key *key)
{
    return key && key->is_private;
}

unsigned ua_crypto_key_bits(const struct ua_crypto_key *key)
{
    return key ? key->bits : 0;
}

size_t ua_crypto_key_bytes(const struct ua_crypto_key *key)
{
    return key ? key->bytes : 0;
}

bool ua_crypto_key_matches(const struct ua_crypto_key *a, const struct ua_crypto_key *b)
{
    if (!a || !b) return false;
    ERR_set_mark();
    bool same = EVP_PKEY_eq(a->pkey, b->pkey) == 1;
    ERR_pop_to_mark();
    return same;
}

bool ua_crypto_policy_check_key(const struct ua_crypto_policy *policy,
                                const struct ua_crypto_key *key, const char *who, char *err,
                                size_t err_len)
{
    if (!policy || !key) {
        errbuf_set(err, err_len, "%s key: missing", who ? who : "the");
        return false;
    }
    if (policy->id == UA_CRYPTO_POLICY_NONE) return true;
    if (key->bits < policy->asym_min_key_bits || key->bits > policy->asym_max_key_bits) {
        errbuf_set(err, err_len, "%s key is %u bits, %s needs %u to %u", who ? who : "the",
                   key->bits, policy->name, policy->asym_min_key_bits, policy->asym_max_key_bits);
        return false;
    }
    return true;
}

/* ---- Sizes --------------------------------------------------------------- */

size_t ua_crypto_oaep_plain_block_bytes(const struct ua_crypto_key *key)
{
    if (!key || key->bytes <= UA_CRYPTO_OAEP_SHA1_OVERHEAD_BYTES) return 0;
    return key->bytes - UA_CRYPTO_OAEP_SHA1_OVERHEAD_BYTES;
}

size_t ua_crypto_oaep_cipher_block_bytes(const struct ua_crypto_key *key)
{
    return key ? key->bytes : 0;
}

size_t ua_crypto_oaep_cipher_bytes(const struct ua_crypto_key *key, size_t plain_len)
{
    size_t plain_block = ua_crypto_oaep_plain_block_bytes(key);
    if (!plain_block) return 0;
    return (plain_len + plain_block - 1) / plain_block * key->bytes;
}

size_t ua_crypto_rsa_signature_bytes(const struct ua_crypto_key *key)
{
    return key ? key->bytes : 0;
}

/* ---- Random -------------------------------------------------------------- */

bool ua_crypto_random(uint8_t *buf, size_t len)
{
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(buf, n) != 1) {
            ERR_clear_error();
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---- HMAC and P_SHA256 --------------------------------------------------- */

/* HMAC-SHA256 of the concatenation a | b (b may be empty). */
static bool hmac2(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                  const uint8_t *b, size_t b_len, uint8_t out[UA_CRYPTO_SHA256_BYTES])
{
    if (!algorithms_ready(NULL, 0)) return false;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg_hmac);
    if (!ctx) return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    /* HMAC accepts an empty key; OpenSSL wants a non-NULL pointer for it. */
    static const uint8_t empty_key[1];
    size_t out_len = 0;
    bool ok = EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) == 1 &&
              EVP_MAC_update(ctx, a, a_len) == 1 &&
              (b_len == 0 || EVP_MAC_update(ctx, b, b_len) == 1) &&
              EVP_MAC_final(ctx, out, &out_len, UA_CRYPTO_SHA256_BYTES) == 1 &&
              out_len == UA_CRYPTO_SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    if (!ok) ERR_clear_error();
    return ok;
}

bool ua_crypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                           uint8_t out[UA_CRYPTO_SHA256_BYTES])
{
    return hmac2(key, key_len, data, len, NULL, 0, out);
}

bool ua_crypto_hmac_sha256_verify(const uint8_t *key, size_t key_len, const uint8_t *data,
                                  size_t len, const uint8_t *sig, size_t sig_len)
{
    uint8_t want[UA_CRYPTO_SHA256_BYTES];
    if (!sig || sig_len != sizeof want || !hmac2(key, key_len, data, len, NULL, 0, want))
        return false;
    bool same = CRYPTO_memcmp(want, sig, sizeof want) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return same;
}

bool ua_crypto_p_sha256(const uint8_t *secret, size_t secret_len, const uint8_t *seed,
                        size_t seed_len, uint8_t *out, size_t out_len)
{
    uint8_t a[UA_CRYPTO_SHA256_BYTES], block[UA_CRYPTO_SHA256_BYTES];
    bool ok = hmac2(secret, secret_len, seed, seed_len, NULL, 0, a); /* A(1) */
    size_t done = 0;
    while (ok && done < out_len) {
        ok = hmac2(secret, secret_len, a, sizeof a, seed, seed_len, block);
        if (!ok) break;
        size_t n = out_len - done < sizeof block ? out_len - done : sizeof block;
        memcpy(out + done, block, n);
        done += n;
        if (done < out_len) ok = hmac2(secret, secret_len, a, sizeof a, NULL, 0, a); /* A(i+1) */
    }
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(block, sizeof block);
    return ok;
}

/* Cuts one PRF output into signing key | encrypting key | IV. */
static bool derive_side(const struct ua_crypto_policy *p, const uint8_t *secret, size_t secret_len,
                        const uint8_t *seed, size_t seed_len, struct ua_crypto_sym_keys *keys)
{
    uint8_t material[2 * UA_CRYPTO_MAX_SYM_KEY_BYTES + UA_CRYPTO_MAX_IV_BYTES];
    size_t total = p->sym_signing_key_bytes + p->sym_encrypting_key_bytes + p->sym_block_bytes;
    memset(keys, 0, sizeof *keys);
    if (!ua_crypto_p_sha256(secret, secret_len, seed, seed_len, material, total)) return false;
    keys->signing_key_bytes = p->sym_signing_key_bytes;
    keys->encrypting_key_bytes = p->sym_encrypting_key_bytes;
    keys->iv_bytes = p->sym_block_bytes;
    memcpy(keys->signing_key, material, keys->signing_key_bytes);
    memcpy(keys->encrypting_key, material + keys->signing_key_bytes, keys->encrypting_key_bytes);
    memcpy(keys->iv, material + keys->signing_key_bytes + keys->encrypting_key_bytes,
           keys->iv_bytes);
    OPENSSL_cleanse(material, sizeof material);
    return true;
}

bool ua_crypto_derive_keys(const struct ua_crypto_policy *policy, const uint8_t *client_nonce,
                           size_t client_nonce_len, const uint8_t *server_nonce,
                           size_t server_nonce_len, struct ua_crypto_sym_keys *client_keys,
                           struct ua_crypto_sym_keys *server_keys, char *err, size_t err_len)
{
    if (!policy || policy->id == UA_CRYPTO_POLICY_NONE) {
        errbuf_set(err, err_len, "key derivation: security policy None has no keys");
        return false;
    }
    if (!client_nonce || client_nonce_len != policy->nonce_bytes) {
        errbuf_set(err, err_len, "key derivation: client nonce is %zu bytes, %s needs %zu",
                   client_nonce_len, policy->name, policy->nonce_bytes);
        return false;
    }
    if (!server_nonce || server_nonce_len != policy->nonce_bytes) {
        errbuf_set(err, err_len, "key derivation: server nonce is %zu bytes, %s needs %zu",
                   server_nonce_len, policy->name, policy->nonce_bytes);
        return false;
    }
    /* Part 6 6.7.6: the client's keys come from the server's nonce as the
     * secret and the client's as the seed; the server's the other way. */
    if (!derive_side(policy, server_nonce, server_nonce_len, client_nonce, client_nonce_len,
                     client_keys) ||
        !derive_side(policy, client_nonce, client_nonce_len, server_nonce, server_nonce_len,
                     server_keys)) {
        errbuf_set(err, err_len, "key derivation: P_SHA256 failed in OpenSSL");
        return false;
    }
    return true;
}

/* ---- AES-256-CBC --------------------------------------------------------- */

static bool aes256_cbc(bool encrypt, const uint8_t *key, const uint8_t *iv, uint8_t *buf,
                       size_t len, char *err, size_t err_len)
{
    const char *what = encrypt ? "AES-256-CBC encrypt" : "AES-256-CBC decrypt";
    if (len % UA_CRYPTO_AES_BLOCK_BYTES != 0) {
        errbuf_set(err, err_len, "%s: %zu bytes is not a whole number of 16-byte blocks", what,
                   len);
        return false;
    }
    if (len == 0) return true;
    if (len > INT_MAX) {
        errbuf_set(err, err_len, "%s: %zu bytes is too large", what, len);
        return false;
    }
    if (!algorithms_ready(err, err_len)) return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int out1 = 0, out2 = 0;
    bool ok = ctx && EVP_CipherInit_ex2(ctx, alg_aes256_cbc, key, iv, encrypt ? 1 : 0, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_CipherUpdate(ctx, buf, &out1, buf, (int)len) == 1 &&
              EVP_CipherFinal_ex(ctx, buf + out1, &out2) == 1 && (size_t)(out1 + out2) == len;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) set_ossl_err(err, err_len, what);
    return ok;
}

bool ua_crypto_aes256_cbc_encrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len,
                                  char *err, size_t err_len)
{
    return aes256_cbc(true, key, iv, buf, len, err, err_len);
}

bool ua_crypto_aes256_cbc_decrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len,
                                  char *err, size_t err_len)
{
    return aes256_cbc(false, key, iv, buf, len, err, err_len);
}

/* ---- RSA-PKCS1-v1_5-SHA256 ----------------------------------------------- */

/* Signs or verifies the concatenation a | b. */
static bool rsa_sign2(const struct ua_crypto_key *key, const uint8_t *a, size_t a_len,
                      const uint8_t *b, size_t b_len, uint8_t *sig, size_t sig_cap, size_t *sig_len,
                      char *err, size_t err_len)
{
    if (!key || !key->is_private) {
        errbuf_set(err, err_len, "RSA sign: needs a private key");
        return false;
    }
    if (sig_cap < key->bytes) {
        errbuf_set(err, err_len, "RSA sign: signature needs %zu bytes, room for %zu", key->bytes,
                   sig_cap);
        return false;
    }
    if (!algorithms_ready(err, err_len)) return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t n = sig_cap;
    bool ok = md && EVP_DigestSignInit(md, &pctx, alg_sha256, NULL, key->pkey) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
              EVP_DigestSignUpdate(md, a, a_len) == 1 &&
              (b_len == 0 || EVP_DigestSignUpdate(md, b, b_len) == 1) &&
              EVP_DigestSignFinal(md, sig, &n) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        set_ossl_err(err, err_len, "RSA sign");
        return false;
    }
    *sig_len = n;
    return true;
}

static bool rsa_verify2(const struct ua_crypto_key *key, const uint8_t *a, size_t a_len,
                        const uint8_t *b, size_t b_len, const uint8_t *sig, size_t sig_len,
                        char *err, size_t err_len)
{
    if (!key) {
        errbuf_set(err, err_len, "RSA verify: no key");
        return false;
    }
    if (!sig || sig_len != key->bytes) {
        errbuf_set(err, err_len, "RSA verify: signature is %zu bytes, the %u-bit key gives %zu",
                   sig_len, key->bits, key->bytes);
        return false;
    }
    if (!algorithms_ready(err, err_len)) return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool set_up = md && EVP_DigestVerifyInit(md, &pctx, alg_sha256, NULL, key->pkey) == 1 &&
                  EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
                  EVP_DigestVerifyUpdate(md, a, a_len) == 1 &&
                  (b_len == 0 || EVP_DigestVerifyUpdate(md, b, b_len) == 1);
    int verdict = set_up ? EVP_DigestVerifyFinal(md, sig, sig_len) : -1;
    EVP_MD_CTX_free(md);
    if (verdict == 1) {
        ERR_clear_error();
        return true;
    }
    if (set_up) { /* the set-up worked, so the signature is what failed */
        ERR_clear_error();
        errbuf_set(err, err_len, "RSA verify: the signature does not match the data");
    } else {
        set_ossl_err(err, err_len, "RSA verify");
    }
    return false;
}

bool ua_crypto_rsa_sign(const struct ua_crypto_key *key, const uint8_t *data, size_t len,
                        uint8_t *sig, size_t sig_cap, size_t *sig_len, char *err, size_t err_len)
{
    return rsa_sign2(key, data, len, NULL, 0, sig, sig_cap, sig_len, err, err_len);
}

bool ua_crypto_rsa_verify(const struct ua_crypto_key *key, const uint8_t *data, size_t len,
                          const uint8_t *sig, size_t sig_len, char *err, size_t err_len)
{
    return rsa_verify2(key, data, len, NULL, 0, sig, sig_len, err, err_len);
}

/* ---- RSA-OAEP-SHA1 ------------------------------------------------------- */

/* A context for OAEP with SHA-1 and MGF1-SHA-1 (OpenSSL's defaults, set
 * anyway so a changed default cannot change the wire format). */
static EVP_PKEY_CTX *oaep_ctx(const struct ua_crypto_key *key, bool encrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (!ctx) return NULL;
    int init = encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx);
    if (init != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, alg_sha1) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, alg_sha1) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

bool ua_crypto_oaep_encrypt(const struct ua_crypto_key *key, const uint8_t *in, size_t len,
                            uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                            size_t err_len)
{
    size_t plain_block = ua_crypto_oaep_plain_block_bytes(key);
    if (!plain_block) {
        errbuf_set(err, err_len, "RSA-OAEP encrypt: no key, or a key too small for OAEP");
        return false;
    }
    size_t need = ua_crypto_oaep_cipher_bytes(key, len);
    if (out_cap < need) {
        errbuf_set(err, err_len, "RSA-OAEP encrypt: %zu bytes need %zu of output, room for %zu",
                   len, need, out_cap);
        return false;
    }
    if (!algorithms_ready(err, err_len)) return false;
    EVP_PKEY_CTX *ctx = oaep_ctx(key, true);
    if (!ctx) {
        set_ossl_err(err, err_len, "RSA-OAEP encrypt");
        return false;
    }
    size_t done_in = 0, done_out = 0;
    while (done_in < len) {
        size_t n = len - done_in < plain_block ? len - done_in : plain_block;
        size_t produced = key->bytes;
        if (EVP_PKEY_encrypt(ctx, out + done_out, &produced, in + done_in, n) != 1 ||
            produced != key->bytes) {
            EVP_PKEY_CTX_free(ctx);
            set_ossl_err(err, err_len, "RSA-OAEP encrypt");
            return false;
        }
        done_in += n;
        done_out += produced;
    }
    EVP_PKEY_CTX_free(ctx);
    *out_len = done_out;
    return true;
}

bool ua_crypto_oaep_decrypt(const struct ua_crypto_key *key, const uint8_t *in, size_t len,
                            uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                            size_t err_len)
{
    if (!key || !key->is_private) {
        errbuf_set(err, err_len, "RSA-OAEP decrypt: needs a private key");
        return false;
    }
    if (len % key->bytes != 0) {
        errbuf_set(err, err_len,
                   "RSA-OAEP decrypt: %zu bytes is not a whole number of %zu-byte blocks", len,
                   key->bytes);
        return false;
    }
    if (!algorithms_ready(err, err_len)) return false;
    EVP_PKEY_CTX *ctx = oaep_ctx(key, false);
    if (!ctx) {
        set_ossl_err(err, err_len, "RSA-OAEP decrypt");
        return false;
    }
    /* Each block is decrypted whole into plain before anything is written
     * to out, and block i's plaintext ends before block i+1's ciphertext
     * starts, so out == in is safe. */
    uint8_t plain[UA_CRYPTO_MAX_RSA_BYTES];
    size_t done_out = 0;
    bool ok = true;
    for (size_t off = 0; off < len; off += key->bytes) {
        size_t n = sizeof plain;
        if (EVP_PKEY_decrypt(ctx, plain, &n, in + off, key->bytes) != 1) {
            ERR_clear_error();
            errbuf_set(err, err_len, "RSA-OAEP decrypt: block at offset %zu does not decrypt", off);
            ok = false;
            break;
        }
        if (n > out_cap - done_out) {
            errbuf_set(err, err_len, "RSA-OAEP decrypt: output needs more than %zu bytes", out_cap);
            ok = false;
            break;
        }
        memmove(out + done_out, plain, n);
        done_out += n;
    }
    OPENSSL_cleanse(plain, sizeof plain);
    EVP_PKEY_CTX_free(ctx);
    if (ok) *out_len = done_out;
    return ok;
}

/* ---- Session helpers ----------------------------------------------------- */

#define UA_CRYPTO_MAX_PASSWORD_BYTES 4096

bool ua_crypto_encrypt_password(const struct ua_crypto_key *server_key, const uint8_t *password,
                                size_t password_len, const uint8_t *server_nonce, size_t nonce_len,
                                uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                                size_t err_len)
{
    if (password_len > UA_CRYPTO_MAX_PASSWORD_BYTES) {
        errbuf_set(err, err_len, "password encryption: password of %zu bytes, at most %d",
                   password_len, UA_CRYPTO_MAX_PASSWORD_BYTES);
        return false;
    }
    if (nonce_len > UA_CRYPTO_MAX_RSA_BYTES) {
        errbuf_set(err, err_len, "password encryption: server nonce of %zu bytes is too long",
                   nonce_len);
        return false;
    }
    size_t plain_len = 4 + password_len + nonce_len;
    uint8_t *plain = malloc(plain_len);
    if (!plain) {
        errbuf_set(err, err_len, "password encryption: out of memory");
        return false;
    }
    uint32_t n = (uint32_t)(password_len + nonce_len);
    plain[0] = (uint8_t)n;
    plain[1] = (uint8_t)(n >> 8);
    plain[2] = (uint8_t)(n >> 16);
    plain[3] = (uint8_t)(n >> 24);
    if (password_len) memcpy(plain + 4, password, password_len);
    if (nonce_len) memcpy(plain + 4 + password_len, server_nonce, nonce_len);
    bool ok =
        ua_crypto_oaep_encrypt(server_key, plain, plain_len, out, out_cap, out_len, err, err_len);
    OPENSSL_cleanse(plain, plain_len);
    free(plain);
    return ok;
}

bool ua_crypto_client_signature(const struct ua_crypto_key *client_key, const uint8_t *server_cert,
                                size_t server_cert_len, const uint8_t *server_nonce,
                                size_t nonce_len, uint8_t *sig, size_t sig_cap, size_t *sig_len,
                                char *err, size_t err_len)
{
    size_t leaf = ua_crypto_cert_leaf_bytes(server_cert, server_cert_len);
    if (!leaf) {
        errbuf_set(err, err_len, "client signature: the server certificate is not DER (%zu bytes)",
                   server_cert_len);
        return false;
    }
    return rsa_sign2(client_key, server_cert, leaf, server_nonce, nonce_len, sig, sig_cap, sig_len,
                     err, err_len);
}

bool ua_crypto_verify_server_signature(const struct ua_crypto_key *server_key,
                                       const uint8_t *client_cert, size_t client_cert_len,
                                       const uint8_t *client_nonce, size_t nonce_len,
                                       const uint8_t *sig, size_t sig_len, char *err,
                                       size_t err_len)
{
    return rsa_verify2(server_key, client_cert, client_cert_len, client_nonce, nonce_len, sig,
                       sig_len, err, err_len);
}
