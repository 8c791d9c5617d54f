/* Password hashing with scrypt in a self-describing string, the password
 * policy, base64, random secrets and SHA-256 for the auth module. */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "core/errbuf.h"

#define SCRYPT_MIN_LOG2_N 10
#define SCRYPT_MAX_LOG2_N 20
#define SCRYPT_MAX_R 32
#define SCRYPT_MAX_P 16
#define SCRYPT_MAX_MEM_BYTES (1024ULL * 1024 * 1024)
#define STORED_MAX_BYTES 256

static atomic_uint_fast64_t kdf_calls;

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t auth_b64_encode(const uint8_t *in, size_t n, bool url, char *out)
{
    const char *alpha = url ? b64_url : b64_std;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (i + 1 < n) out[o++] = alpha[v >> 6 & 63];
        if (i + 2 < n) out[o++] = alpha[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

long auth_b64_decode(const char *text, size_t len, bool url, uint8_t *out, size_t cap)
{
    if (len % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(text[i], url);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return -1; /* non-canonical trailing bits */
    return (long)o;
}

bool auth_random_secret(char out[AUTH_SECRET_TEXT_SIZE])
{
    uint8_t raw[AUTH_SECRET_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1) return false;
    auth_b64_encode(raw, sizeof raw, true, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return true;
}

bool auth_sha256(const char *text, size_t len, uint8_t out[AUTH_SHA256_BYTES])
{
    unsigned int n = 0;
    return EVP_Digest(text, len, out, &n, EVP_sha256(), NULL) == 1 && n == AUTH_SHA256_BYTES;
}

uint64_t auth_kdf_calls(void)
{
    return atomic_load(&kdf_calls);
}

/* scrypt(password, salt) into key; false when the parameters are out of
 * range or OpenSSL fails. Counts the call. */
static bool scrypt_derive(const char *password, const uint8_t *salt, size_t salt_len,
                          unsigned log2_n, unsigned r, unsigned p, uint8_t *key, size_t key_len)
{
    atomic_fetch_add(&kdf_calls, 1);
    if (log2_n < SCRYPT_MIN_LOG2_N || log2_n > SCRYPT_MAX_LOG2_N || r < 1 || r > SCRYPT_MAX_R ||
        p < 1 || p > SCRYPT_MAX_P)
        return false;
    uint64_t n = 1ULL << log2_n;
    uint64_t mem = 128ULL * r * (n + 2) + 128ULL * r * p;
    if (mem > SCRYPT_MAX_MEM_BYTES) return false;
    return EVP_PBE_scrypt(password, strlen(password), salt, salt_len, n, r, p, mem + 1024 * 1024,
                          key, key_len) == 1;
}

enum auth_status auth_password_policy(const char *password, char *err, size_t err_len)
{
    size_t bytes = strlen(password), chars = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)password[i] & 0xC0) != 0x80) chars++;
    if (chars < AUTH_PASSWORD_MIN_CHARS) {
        errbuf_set(err, err_len, "password too short: %zu characters, at least %d needed", chars,
                   AUTH_PASSWORD_MIN_CHARS);
        return AUTH_ERR_WEAK_PASSWORD;
    }
    if (bytes > AUTH_PASSWORD_MAX_BYTES) {
        errbuf_set(err, err_len, "password too long: %zu bytes, at most %d allowed", bytes,
                   AUTH_PASSWORD_MAX_BYTES);
        return AUTH_ERR_WEAK_PASSWORD;
    }
    return AUTH_OK;
}

bool auth_password_hash(const char *password, unsigned log2_n, char *out, size_t out_len, char *err,
                        size_t err_len)
{
    uint8_t salt[AUTH_SALT_BYTES], key[AUTH_HASH_BYTES];
    char salt_b64[4 * ((AUTH_SALT_BYTES + 2) / 3) + 1],
        key_b64[4 * ((AUTH_HASH_BYTES + 2) / 3) + 1];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        errbuf_set(err, err_len, "no random bytes for a salt");
        return false;
    }
    if (!scrypt_derive(password, salt, sizeof salt, log2_n, AUTH_SCRYPT_R, AUTH_SCRYPT_P, key,
                       sizeof key)) {
        errbuf_set(err, err_len, "scrypt failed (N=2^%u, r=%d, p=%d)", log2_n, AUTH_SCRYPT_R,
                   AUTH_SCRYPT_P);
        return false;
    }
    auth_b64_encode(salt, sizeof salt, false, salt_b64);
    auth_b64_encode(key, sizeof key, false, key_b64);
    OPENSSL_cleanse(key, sizeof key);
    int n = snprintf(out, out_len, "scrypt$%u$%d$%d$%s$%s", log2_n, AUTH_SCRYPT_R, AUTH_SCRYPT_P,
                     salt_b64, key_b64);
    if (n < 0 || (size_t)n >= out_len) {
        errbuf_set(err, err_len, "password hash buffer too small");
        return false;
    }
    return true;
}

struct stored_hash {
    unsigned log2_n, r, p;
    uint8_t salt[64], key[64];
    size_t salt_len, key_len;
};

/* Reads a decimal 1..max at *s up to '$'; advances past the '$'. */
static bool parse_param(const char **s, unsigned max, unsigned *out)
{
    unsigned v = 0;
    const char *p = *s;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (unsigned)(*p - '0');
        if (v > max) return false;
        p++;
    }
    if (*p != '$' || v == 0) return false;
    *s = p + 1;
    *out = v;
    return true;
}

static bool parse_stored(const char *stored, struct stored_hash *h)
{
    if (strnlen(stored, STORED_MAX_BYTES + 1) > STORED_MAX_BYTES) return false;
    if (strncmp(stored, "scrypt$", 7) != 0) return false;
    const char *s = stored + 7;
    if (!parse_param(&s, SCRYPT_MAX_LOG2_N, &h->log2_n) || !parse_param(&s, SCRYPT_MAX_R, &h->r) ||
        !parse_param(&s, SCRYPT_MAX_P, &h->p))
        return false;
    const char *dollar = strchr(s, '$');
    if (!dollar) return false;
    long salt_len = auth_b64_decode(s, (size_t)(dollar - s), false, h->salt, sizeof h->salt);
    long key_len = auth_b64_decode(dollar + 1, strlen(dollar + 1), false, h->key, sizeof h->key);
    /* The key must be whole: scrypt's output for a shorter length is a
     * prefix of the longer one, so a truncated hash would still verify. */
    if (salt_len < 8 || key_len != AUTH_HASH_BYTES) return false;
    h->salt_len = (size_t)salt_len;
    h->key_len = (size_t)key_len;
    return true;
}

void auth_password_dummy_work(const char *password, unsigned log2_n)
{
    static const uint8_t salt[AUTH_SALT_BYTES] = "airlock-dummy!!";
    uint8_t key[AUTH_HASH_BYTES];
    scrypt_derive(password, salt, sizeof salt, log2_n, AUTH_SCRYPT_R, AUTH_SCRYPT_P, key,
                  sizeof key);
    OPENSSL_cleanse(key, sizeof key);
}

bool auth_password_verify(const char *password, const char *stored)
{
    struct stored_hash h;
    if (!parse_stored(stored, &h)) {
        auth_password_dummy_work(password, AUTH_SCRYPT_LOG2_N);
        return false;
    }
    uint8_t key[64];
    bool ok = scrypt_derive(password, h.salt, h.salt_len, h.log2_n, h.r, h.p, key, h.key_len) &&
              CRYPTO_memcmp(key, h.key, h.key_len) == 0;
    OPENSSL_cleanse(key, sizeof key);
    return ok;
}

bool auth_password_cost_is(const char *stored, unsigned log2_n)
{
    struct stored_hash h;
    return parse_stored(stored, &h) && h.log2_n == log2_n && h.r == AUTH_SCRYPT_R &&
           h.p == AUTH_SCRYPT_P;
}
