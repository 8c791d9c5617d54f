/* OPC UA security primitives for the security policies None and
 * Basic256Sha256, as functions over byte ranges (OpenSSL 3 EVP underneath).
 * Nothing here knows the message layout: the secure channel layer decides
 * which bytes are signed, encrypted and padded.
 *
 * Facts used, by specification:
 * - OPC 10000-7, SecurityPolicy Basic256Sha256: asymmetric signature
 *   RSA-PKCS1-v1_5 with SHA-256, asymmetric encryption RSA-OAEP (SHA-1,
 *   MGF1-SHA-1), symmetric signature HMAC-SHA256, symmetric encryption
 *   AES-256-CBC, key derivation P_SHA256, derived signing key 32 bytes,
 *   encrypting key 32 bytes, IV / block 16 bytes, nonce 32 bytes, RSA keys
 *   of 2048 to 4096 bits.
 * - OPC 10000-6 6.7.6 (Deriving keys): client keys = PRF(secret = ServerNonce,
 *   seed = ClientNonce), server keys = PRF(secret = ClientNonce, seed =
 *   ServerNonce); each PRF output is signing key | encrypting key | IV.
 * - OPC 10000-4 7.40.2.2 (legacy encrypted token secret): length (UInt32
 *   little-endian, of what follows) | secret | last server nonce, encrypted
 *   with the server certificate's public key.
 * - OPC 10000-4 5.7.3 (ActivateSession clientSignature): the signature of
 *   the server certificate (leaf only when it is a chain) followed by the
 *   last server nonce. 5.7.2 (CreateSession serverSignature): the client
 *   certificate followed by the client nonce, signed by the server.
 *
 * Thread safety: every function may be called from any thread; a key may be
 * shared between threads once loaded. Errors: functions taking (err,
 * err_len) write one line naming what failed there (err may be NULL). */
#ifndef AIRLOCK_OPCUA_UA_CRYPTO_H
#define AIRLOCK_OPCUA_UA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UA_CRYPTO_POLICY_URI_NONE "http://opcfoundation.org/UA/SecurityPolicy#None"
#define UA_CRYPTO_POLICY_URI_BASIC256SHA256                                                        \
    "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"

/* Algorithm URIs carried in SignatureData.algorithm and
 * UserNameIdentityToken.encryptionAlgorithm (the symmetric algorithms are
 * never named on the wire). */
#define UA_CRYPTO_URI_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define UA_CRYPTO_URI_RSA_OAEP "http://www.w3.org/2001/04/xmlenc#rsa-oaep"

#define UA_CRYPTO_SHA1_BYTES 20
#define UA_CRYPTO_SHA256_BYTES 32
#define UA_CRYPTO_AES_BLOCK_BYTES 16
#define UA_CRYPTO_AES256_KEY_BYTES 32
/* RSA-OAEP with SHA-1: each block carries key bytes - 2 * 20 - 2 bytes. */
#define UA_CRYPTO_OAEP_SHA1_OVERHEAD_BYTES 42
/* Bounds of anything derived by ua_crypto_derive_keys. */
#define UA_CRYPTO_MAX_SYM_KEY_BYTES 32
#define UA_CRYPTO_MAX_IV_BYTES 16
/* Largest RSA key accepted anywhere (bits / bytes). */
#define UA_CRYPTO_MAX_RSA_BITS 8192
#define UA_CRYPTO_MAX_RSA_BYTES (UA_CRYPTO_MAX_RSA_BITS / 8)

enum ua_crypto_policy_id {
    UA_CRYPTO_POLICY_NONE = 0,
    UA_CRYPTO_POLICY_BASIC256SHA256,
};

/* A security policy's parameters. For None every size is 0 and every
 * algorithm URI is NULL. */
struct ua_crypto_policy {
    enum ua_crypto_policy_id id;
    const char *name; /* "None", "Basic256Sha256" */
    const char *uri;
    const char *asym_signature_uri;  /* SignatureData.algorithm */
    const char *asym_encryption_uri; /* UserNameIdentityToken.encryptionAlgorithm */
    size_t sym_signature_bytes;      /* HMAC output appended to a chunk: 32 */
    size_t sym_signing_key_bytes;    /* DerivedSignatureKeyLength: 32 */
    size_t sym_encrypting_key_bytes; /* EncryptionKeyLength: 32 */
    size_t sym_block_bytes;          /* cipher block and IV length: 16 */
    size_t nonce_bytes;              /* SecureChannelNonceLength: 32 */
    unsigned asym_min_key_bits;      /* 2048 */
    unsigned asym_max_key_bits;      /* 4096 */
    size_t asym_oaep_overhead_bytes; /* 42: plain block = key bytes - 42 */
};

/* The parameters of a policy; NULL for an id out of range. */
const struct ua_crypto_policy *ua_crypto_policy_get(enum ua_crypto_policy_id id);
/* The policy with this URI (exact match of len bytes, no terminator
 * needed); NULL when the URI names a policy airlock does not support. */
const struct ua_crypto_policy *ua_crypto_policy_from_uri(const char *uri, size_t len);

/* ---- Keys ---------------------------------------------------------------- */

/* An RSA key: public only (from a certificate) or private (which also holds
 * the public half). Opaque; OpenSSL stays out of this header. */
struct ua_crypto_key;

/* The public key of the first certificate in der[0..len) (a single DER
 * certificate, or a chain of concatenated DER certificates as OPC UA sends
 * them). NULL with a message when it is not a certificate or not RSA. */
struct ua_crypto_key *ua_crypto_key_from_cert(const uint8_t *der, size_t len, char *err,
                                              size_t err_len);
/* A private key from PEM text (PKCS#8 or traditional RSA; an encrypted key
 * is refused rather than prompting for a passphrase). */
struct ua_crypto_key *ua_crypto_key_from_pem(const char *pem, size_t len, char *err,
                                             size_t err_len);
/* Frees a key; safe with NULL. */
void ua_crypto_key_free(struct ua_crypto_key *key);

bool ua_crypto_key_is_private(const struct ua_crypto_key *key);
unsigned ua_crypto_key_bits(const struct ua_crypto_key *key);
/* Modulus size in bytes: the size of a signature and of a cipher block. */
size_t ua_crypto_key_bytes(const struct ua_crypto_key *key);
/* True when both keys have the same public key (e.g. a certificate and
 * the private key that should go with it). */
bool ua_crypto_key_matches(const struct ua_crypto_key *a, const struct ua_crypto_key *b);
/* Checks the key size against the policy's bounds, e.g. "server key is 1024
 * bits, Basic256Sha256 needs 2048 to 4096". who names the key ("server"). */
bool ua_crypto_policy_check_key(const struct ua_crypto_policy *policy,
                                const struct ua_crypto_key *key, const char *who, char *err,
                                size_t err_len);

/* ---- Sizes for the chunk layer (RSA-OAEP-SHA1 and RSA-PKCS1-SHA256) ------ */

/* Plaintext bytes per OAEP block: key bytes - 42 (0 when the key is too small). */
size_t ua_crypto_oaep_plain_block_bytes(const struct ua_crypto_key *key);
/* Ciphertext bytes per OAEP block: the key bytes. */
size_t ua_crypto_oaep_cipher_block_bytes(const struct ua_crypto_key *key);
/* Ciphertext bytes for plain_len plaintext bytes: whole blocks. */
size_t ua_crypto_oaep_cipher_bytes(const struct ua_crypto_key *key, size_t plain_len);
/* Bytes of an RSA-PKCS1-v1_5 signature: the key bytes. */
size_t ua_crypto_rsa_signature_bytes(const struct ua_crypto_key *key);

/* ---- Random ---------------------------------------------------------------- */

/* Fills buf with len cryptographically random bytes (nonces, serials).
 * False only when the system's generator fails. */
bool ua_crypto_random(uint8_t *buf, size_t len);

/* ---- Key derivation ---------------------------------------------------------- */

/* P_SHA256(secret, seed) of RFC 5246 section 5 (what OPC UA calls the PRF
 * of Basic256Sha256): out_len bytes of HMAC-SHA256(secret, A(i) | seed)
 * with A(0) = seed, A(i) = HMAC-SHA256(secret, A(i-1)). False only when
 * OpenSSL fails. */
bool ua_crypto_p_sha256(const uint8_t *secret, size_t secret_len, const uint8_t *seed,
                        size_t seed_len, uint8_t *out, size_t out_len);

/* One side's symmetric keys. The lengths come from the policy. */
struct ua_crypto_sym_keys {
    uint8_t signing_key[UA_CRYPTO_MAX_SYM_KEY_BYTES];
    uint8_t encrypting_key[UA_CRYPTO_MAX_SYM_KEY_BYTES];
    uint8_t iv[UA_CRYPTO_MAX_IV_BYTES];
    size_t signing_key_bytes;
    size_t encrypting_key_bytes;
    size_t iv_bytes;
};

/* Derives the keys of both directions from the nonces of an
 * OpenSecureChannel exchange (Part 6 6.7.6). client_keys protect what the
 * client sends (the client signs and encrypts with them, the server checks
 * and decrypts with them); server_keys the other direction. Each nonce must
 * be exactly policy->nonce_bytes long (a short nonce from a server is refused:
 * it would weaken every key). Policy None has no keys: refused. */
bool ua_crypto_derive_keys(const struct ua_crypto_policy *policy, const uint8_t *client_nonce,
                           size_t client_nonce_len, const uint8_t *server_nonce,
                           size_t server_nonce_len, struct ua_crypto_sym_keys *client_keys,
                           struct ua_crypto_sym_keys *server_keys, char *err, size_t err_len);

/* ---- Symmetric: HMAC-SHA256 and AES-256-CBC --------------------------------- */

/* HMAC-SHA256 of data[0..len) under key into out[32]. False only when
 * OpenSSL fails. */
bool ua_crypto_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                           uint8_t out[UA_CRYPTO_SHA256_BYTES]);
/* True when sig is the HMAC-SHA256 of data under key. sig_len must be 32.
 * The comparison takes the same time wherever the first difference is. */
bool ua_crypto_hmac_sha256_verify(const uint8_t *key, size_t key_len, const uint8_t *data,
                                  size_t len, const uint8_t *sig, size_t sig_len);

/* AES-256-CBC over buf[0..len) in place, without padding (the caller pads
 * to whole blocks, as OPC UA chunks are): len must be a multiple of 16.
 * key is 32 bytes, iv 16. */
bool ua_crypto_aes256_cbc_encrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len,
                                  char *err, size_t err_len);
bool ua_crypto_aes256_cbc_decrypt(const uint8_t *key, const uint8_t *iv, uint8_t *buf, size_t len,
                                  char *err, size_t err_len);

/* ---- Asymmetric: RSA-PKCS1-v1_5-SHA256 and RSA-OAEP-SHA1 ---------------------- */

/* Signs data[0..len) with the private key; the signature (key bytes long)
 * goes to sig, *sig_len receives its length. sig_cap must hold it. */
bool ua_crypto_rsa_sign(const struct ua_crypto_key *key, const uint8_t *data, size_t len,
                        uint8_t *sig, size_t sig_cap, size_t *sig_len, char *err, size_t err_len);
/* True when sig is a valid signature of data by key's private half. Any
 * other signature, of any length, gives false (with the reason in err). */
bool ua_crypto_rsa_verify(const struct ua_crypto_key *key, const uint8_t *data, size_t len,
                          const uint8_t *sig, size_t sig_len, char *err, size_t err_len);

/* Encrypts in[0..len) with the public key in blocks of (key bytes - 42)
 * bytes, each becoming key bytes of ciphertext; *out_len receives
 * ua_crypto_oaep_cipher_bytes(key, len). out must not overlap in. */
bool ua_crypto_oaep_encrypt(const struct ua_crypto_key *key, const uint8_t *in, size_t len,
                            uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                            size_t err_len);
/* Decrypts in[0..len) (whole blocks of key bytes) with the private key and
 * concatenates the plaintexts into out; *out_len receives their total.
 * out may be in itself (decrypting in place). A block that fails the OAEP
 * check fails the whole call, naming its offset. */
bool ua_crypto_oaep_decrypt(const struct ua_crypto_key *key, const uint8_t *in, size_t len,
                            uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                            size_t err_len);

/* ---- Session helpers (Part 4) -------------------------------------------------- */

/* The size of the first DER element of der[0..len) (the leaf of a
 * certificate chain), header included; 0 when it is not a well-formed,
 * complete DER SEQUENCE. Never reads past len. */
size_t ua_crypto_cert_leaf_bytes(const uint8_t *der, size_t len);

/* The encrypted secret of a UserNameIdentityToken (legacy format):
 * RSA-OAEP-SHA1 with the server's public key over
 * UInt32LE(password_len + nonce_len) | password | server_nonce. The
 * server nonce is the last one returned by CreateSession or ActivateSession.
 * out receives ua_crypto_oaep_cipher_bytes(key, 4 + password_len +
 * nonce_len) bytes. password_len is limited to 4096 bytes. */
bool ua_crypto_encrypt_password(const struct ua_crypto_key *server_key, const uint8_t *password,
                                size_t password_len, const uint8_t *server_nonce, size_t nonce_len,
                                uint8_t *out, size_t out_cap, size_t *out_len, char *err,
                                size_t err_len);

/* The ActivateSession clientSignature: signs the leaf of server_cert (as
 * received in CreateSessionResponse.serverCertificate) followed by
 * server_nonce, with the client's private key (RSA-PKCS1-v1_5-SHA256). */
bool ua_crypto_client_signature(const struct ua_crypto_key *client_key, const uint8_t *server_cert,
                                size_t server_cert_len, const uint8_t *server_nonce,
                                size_t nonce_len, uint8_t *sig, size_t sig_cap, size_t *sig_len,
                                char *err, size_t err_len);
/* Checks the CreateSession serverSignature: sig over client_cert followed
 * by client_nonce, by the server's key. */
bool ua_crypto_verify_server_signature(const struct ua_crypto_key *server_key,
                                       const uint8_t *client_cert, size_t client_cert_len,
                                       const uint8_t *client_nonce, size_t nonce_len,
                                       const uint8_t *sig, size_t sig_len, char *err,
                                       size_t err_len);

#endif
