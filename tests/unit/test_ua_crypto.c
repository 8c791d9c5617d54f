/* Tests of the OPC UA security primitives (drivers/opcua/ua_crypto.h):
 * P_SHA256 and the key derivation against vectors computed independently,
 * HMAC-SHA256 (RFC 4231) and AES-256-CBC (NIST SP 800-38A) known answers,
 * RSA-PKCS1-v1_5-SHA256 signatures and RSA-OAEP-SHA1 over several blocks
 * with generated keys, OAEP decryption of what the openssl command line
 * encrypted, the password blob and session signatures, and bad input
 * (tampered signatures and ciphertexts, malformed DER, wrong sizes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_pki.h"
#include "testlib.h"

/* ---- P_SHA256 and key derivation ------------------------------------------
 * The expected bytes were computed with Python's hmac/hashlib (not with
 * OpenSSL's P_SHA256 nor this code), by this RFC 5246 section 5 definition:
 *
 *   def p_sha256(secret, seed, n):
 *       out = b''; a = seed
 *       while len(out) < n:
 *           a = hmac.new(secret, a, hashlib.sha256).digest()
 *           out += hmac.new(secret, a + seed, hashlib.sha256).digest()
 *       return out[:n]
 *
 * V1 = p_sha256(bytes(range(32)), bytes(range(32, 64)), 100)
 * V2 = p_sha256(b"secret", b"seed", 16)
 * With client nonce bytes(range(0x00, 0x20)) and server nonce
 * bytes(range(0x80, 0xa0)) (Part 6 6.7.6):
 * CK = p_sha256(server_nonce, client_nonce, 80): client signing key [0,32),
 *      encrypting key [32,64), IV [64,80)
 * SK = p_sha256(client_nonce, server_nonce, 80): the server's. */
static const uint8_t p_sha256_v1[100] = {
    0xb7, 0x25, 0x93, 0xc4, 0x3f, 0xee, 0x5f, 0xaf, 0xa0, 0x25, 0x6c, 0xd6, 0xbb, 0x90, 0x4f,
    0xf4, 0x0c, 0x06, 0x6a, 0x22, 0x5d, 0xb9, 0x5f, 0x66, 0xdd, 0x74, 0x4e, 0x20, 0x85, 0x8a,
    0x22, 0x20, 0xdd, 0xf7, 0x50, 0x67, 0xe3, 0xd7, 0x6a, 0xc7, 0x14, 0xc0, 0x8e, 0x24, 0xea,
    0xbd, 0x85, 0xff, 0x42, 0x5d, 0x7f, 0x5f, 0xb2, 0x5e, 0x6e, 0x08, 0x3b, 0x94, 0xb1, 0x74,
    0xe2, 0x9d, 0xb8, 0x9b, 0xc5, 0x13, 0xe9, 0x17, 0x22, 0x74, 0xd5, 0xed, 0x54, 0xe5, 0x2a,
    0x35, 0x52, 0x90, 0x1a, 0xe0, 0xa2, 0x71, 0x9b, 0x4b, 0x9d, 0x28, 0x74, 0x89, 0x8f, 0x4e,
    0x1d, 0x8c, 0x85, 0xd2, 0xd3, 0x38, 0x6d, 0x9d, 0xcc, 0x85,
};

static const uint8_t p_sha256_v2[16] = {
    0x8e, 0x4d, 0x93, 0x25, 0x30, 0xd7, 0x65, 0xa0, 0xaa, 0xe9, 0x74, 0xc3, 0x04, 0x73, 0x5e, 0xcc,
};

static const uint8_t derive_client_keys[80] = {
    0x2a, 0xf5, 0x27, 0xaa, 0x71, 0x81, 0x10, 0xfa, 0xf5, 0xeb, 0x0d, 0x67, 0x6e, 0x2a, 0x09, 0x85,
    0x49, 0x51, 0x25, 0xfd, 0x62, 0xe6, 0xad, 0x63, 0xb1, 0x29, 0x79, 0x3f, 0x8f, 0x6f, 0x43, 0x16,
    0x1b, 0x4b, 0x5e, 0x8d, 0x4e, 0x84, 0x27, 0x28, 0xe1, 0xf9, 0xa0, 0x47, 0xe9, 0x98, 0x61, 0x5c,
    0x9b, 0xd6, 0x46, 0xd6, 0x20, 0xab, 0x90, 0xa6, 0xcf, 0x46, 0xee, 0xa2, 0x9d, 0x6c, 0x98, 0x42,
    0xc3, 0xc4, 0xf8, 0x75, 0x0b, 0x47, 0xe9, 0x4e, 0xac, 0x19, 0xe5, 0x2a, 0x54, 0x39, 0xdd, 0x1e,
};

static const uint8_t derive_server_keys[80] = {
    0xa3, 0x2c, 0xfb, 0xea, 0xe0, 0xa5, 0xaf, 0xe1, 0x42, 0xda, 0xdb, 0xec, 0xb9, 0x41, 0x95, 0xa2,
    0x68, 0x5c, 0x99, 0x54, 0x1c, 0xf5, 0xb7, 0x1e, 0x9e, 0xfd, 0x59, 0x2a, 0x4b, 0x36, 0x48, 0xff,
    0xe7, 0x68, 0x97, 0x12, 0xd1, 0xba, 0xbf, 0x38, 0xc6, 0x35, 0x2b, 0x86, 0xe5, 0xc0, 0x88, 0x1a,
    0x52, 0xaf, 0x7b, 0x41, 0x8d, 0x55, 0x1c, 0xaa, 0x28, 0x9d, 0xf8, 0xcf, 0x84, 0x27, 0x8e, 0x70,
    0x80, 0x81, 0xaf, 0x12, 0x9e, 0x63, 0x1f, 0x1a, 0x8c, 0x56, 0xf0, 0x73, 0xc2, 0xd5, 0x0c, 0xe8,
};

/* ---- OAEP decryption of the openssl command line's output ------------------
 * A 2048-bit key and two ciphertext blocks made with:
 *   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem
 *   openssl pkey -in key.pem -pubout -out pub.pem
 *   (m = bytes((i * 7 + 3) % 256 for i in range(300)); m1 = m[:214]; m2 = m[214:])
 *   openssl pkeyutl -encrypt -pubin -inkey pub.pem -pkeyopt rsa_padding_mode:oaep \
 *       -in m1 -out c1        (and the same for m2 -> c2)
 *   cat c1 c2 | xxd -p
 * OpenSSL's OAEP defaults are SHA-1 and MGF1-SHA-1, as Basic256Sha256 uses. */
static const char cli_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCun/rVP6Kg99qK\n"
    "xltPgO2UcBDZg+R2KRgTRNAXZvQu96cRY9yb5JskKIklfc40OtHQ29WRCCowVQLk\n"
    "rOQBKXq+s0jALlQqtIGLBUqYF0kT/Ixb7KH22CP9mVS/DogiDUJLX4f5uSbUxgeO\n"
    "9NxvuYbwrMtQiGNBeLRarY353N4MPHYyj29Z6JLz8ME2C9wxMZE9rD33Y4vZPQP/\n"
    "a0gi8I6qZPOwvp3dFeJKnpnhhTGEkTdExPIPan8ZJ1JW6877RftRgtenjz9XfEwe\n"
    "ZRokgducPn5OWtL1nUKXf3T1Rrhj3vcXe6bR3M1rcldOW+mua3z0y/u7Zx/XwaSt\n"
    "MmvBV3PBAgMBAAECggEAECG2zBboGOs0rO/ElSxhpj4RDGsPAqxqrTME7ziDU8hs\n"
    "jmJ1iZA9lcJJ4yUDVNdfNSZtzQteTF86GHJxULsqe+33iUtuWpCYzAU13iV+ioJg\n"
    "3AgY8UMH1iBhUBIRWOX1Kx3c46CrWeoeXiI4L/kJYnfwA1VKKAz0ylCwpjW1bJdN\n"
    "JdTJgJG929VETFRyB7JQGxK1Y/OLKL+IdDNJcAyN3L6MB3Qmm8+mAQVF0ENgJBCx\n"
    "RARaPSd/uNax/TGVoNsVkrSfwwY6R2Q74zJE+po9fhji2OKdRAXldanEDpNNqF6z\n"
    "52jl/0X1PFq+IHHtRXZylxClDML6EHCbvOVdNHDE8QKBgQDhdOWt51mfm2ckQOE/\n"
    "IurTD0+JmaJBhXYeeU71NSN4DPi+NKIgNYXkt542qSmFBop1bqaMjCYojyMDATkr\n"
    "KK/PDONFLO+YnWVIJG2UkBazj9M8K+AGv0Ej91u475oizC5JmNvpkV11TltThDQB\n"
    "Y10NxUBx5r0cj1808L4KdlBd2QKBgQDGSC3GQLn/w4L6wDdWINs7lIS1A87284pL\n"
    "aKDWVZ6/mi5jYmp7TzLNu6AEm38PLQb3Fa18i//KLuBda45DA97fkAS/2rnP/cwT\n"
    "bHoROq6TJqwPuxiYtEaY/nH+VKrPIltjoTMlfHVixvfaHv9GCBxq6hqv7BwSVumX\n"
    "QuH/efxMKQKBgQC4am0g9bdKpcwVTHiyszYPlFuD+0ZMgAWhYarjSicMINgqhVUE\n"
    "MaOm9UcWAQL0S+hfrDXRiyX/US3bXFnN4scD/s+8GsiVNlHNU/bKaZ4YHJI1itIB\n"
    "0tlOuRuux1Z2FjvaeY2QnRYsSP7M7ru3Uvaft/RB9vJDdUb0P+PDHQoZ6QKBgBnC\n"
    "UsAItKE3gxKUWhwEVLbeyobBoeePKA433304zlDR9OjQZkjytwTnNRikItOT4+3B\n"
    "kTI29doMUPWR/X9TR2b/zL4n6i/NJu/3DbyjRP607XF1uvJLqUhC9gg2c6JJMlo1\n"
    "HPHnw1A7zQM3N66fayGwnBryr4rqY5pVBAsui8pRAoGBAL3rvn0UzVNC2ANQu31Z\n"
    "eNC7Xil+NV/SwCQ8Yik1uXlEtUtHPlsUTVT/n59apeHaGjeKJmD8kvZ/zuUJep52\n"
    "5WLMomd65V6OQ+JUKfjBIKPbw0UNS6uE8YsWTmqpVC90IlbCa42dkAl7NkmlcWs9\n"
    "aWGQwa9Eh9mM2Lwhwcvu2C2J\n"
    "-----END PRIVATE KEY-----\n";

static const char cli_ciphertext_hex[] =
    "1ca24c9c5c36ec4b4cbff2af3820a978592ec11a59a72b0ac076e7ddc336f299acddb3281dd8a0ee3efc9017e1f7d1"
    "0a"
    "b164faf1de673df6fcdf2a6870d56b7ef8b62afa464024e8be378e2a51c4c31d1e7c3ea2233b0a133cf4a528bbc457"
    "8c"
    "5d54dead756808ea4c01b35ca7de74c6d40694d5f43ef4357fe80c11b6f84f912a2f36aee65e449e1cff1c4dcd16f7"
    "35"
    "8fe123e8bf0d0fb5092f49ab3d84970b4a7183ab1299a0c0a9b3615c87b25572e64a4f726728069fcfa3f1336f6914"
    "53"
    "31ffc9276a45a08e9e15352c5989a6580344bfef2c4878dcb2d3046b9e0bf2652aef3fbbbd8f750252cac634255493"
    "83"
    "72a51df8dd18175a3627250be840058d5c63a45ba718795e79d078c27155f0f069ec949ab2137a63376f107e8cdcc4"
    "03"
    "6d418cfa7f47550aba17f69a6f122465f93ab87a5eb6f308799d124a1d3c2b7afda19cffbbe9a422253cc51973c53f"
    "05"
    "bf7e6dcd3876537252671740ccfbea44dbd2863db9913717ab87583fb5d7a33046cf2b67b510cc49925a4a73d7b4a8"
    "ba"
    "0c003d9184b823444d4b698f9749de55365fe3ad95a6a004d8bce5d998c762bce0fb8614898b584b31e0e274529254"
    "4d"
    "3e119cfef0ed784818993fa4e708ba817b655497f36987843374d6a42d6217ba5fe7506da14296ade05c74dbd4c4cb"
    "96"
    "2f06cd2468c3ad50d1c667a885559ac09fb62d2909ef57233f50860a4cb351d3";

static void test_policies(void)
{
    const struct ua_crypto_policy *none = ua_crypto_policy_get(UA_CRYPTO_POLICY_NONE);
    const struct ua_crypto_policy *b256 = ua_crypto_policy_get(UA_CRYPTO_POLICY_BASIC256SHA256);
    CHECK(none && b256);
    CHECK_STR(none->uri, "http://opcfoundation.org/UA/SecurityPolicy#None");
    CHECK_STR(b256->uri, "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256");
    CHECK_STR(b256->asym_signature_uri, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    CHECK_STR(b256->asym_encryption_uri, "http://www.w3.org/2001/04/xmlenc#rsa-oaep");
    CHECK(none->asym_signature_uri == NULL);
    CHECK_EQ_INT(none->sym_signature_bytes, 0);
    CHECK_EQ_INT(b256->sym_signature_bytes, 32);
    CHECK_EQ_INT(b256->sym_signing_key_bytes, 32);
    CHECK_EQ_INT(b256->sym_encrypting_key_bytes, 32);
    CHECK_EQ_INT(b256->sym_block_bytes, 16);
    CHECK_EQ_INT(b256->nonce_bytes, 32);
    CHECK_EQ_INT(b256->asym_min_key_bits, 2048);
    CHECK_EQ_INT(b256->asym_max_key_bits, 4096);
    CHECK_EQ_INT(b256->asym_oaep_overhead_bytes, 42);
    CHECK(ua_crypto_policy_get((enum ua_crypto_policy_id)7) == NULL);

    const char *uri = UA_CRYPTO_POLICY_URI_BASIC256SHA256;
    CHECK(ua_crypto_policy_from_uri(uri, strlen(uri)) == b256);
    CHECK(ua_crypto_policy_from_uri(UA_CRYPTO_POLICY_URI_NONE, strlen(UA_CRYPTO_POLICY_URI_NONE)) ==
          none);
    /* Not NUL-terminated at len: only len bytes count. */
    char longer[128];
    snprintf(longer, sizeof longer, "%sXYZ", uri);
    CHECK(ua_crypto_policy_from_uri(longer, strlen(uri)) == b256);
    CHECK(ua_crypto_policy_from_uri(longer, strlen(longer)) == NULL);
    CHECK(ua_crypto_policy_from_uri(uri, strlen(uri) - 1) == NULL);
    const char *basic256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256";
    CHECK(ua_crypto_policy_from_uri(basic256, strlen(basic256)) == NULL);
    CHECK(ua_crypto_policy_from_uri(NULL, 0) == NULL);
}

static void test_p_sha256(void)
{
    uint8_t secret[32], seed[32], out[100];
    for (int i = 0; i < 32; i++) {
        secret[i] = (uint8_t)i;
        seed[i] = (uint8_t)(32 + i);
    }
    CHECK(ua_crypto_p_sha256(secret, sizeof secret, seed, sizeof seed, out, sizeof out));
    CHECK(memcmp(out, p_sha256_v1, sizeof out) == 0);
    /* A shorter output is a prefix of the longer one. */
    uint8_t part[45];
    CHECK(ua_crypto_p_sha256(secret, sizeof secret, seed, sizeof seed, part, sizeof part));
    CHECK(memcmp(part, p_sha256_v1, sizeof part) == 0);

    uint8_t out2[16];
    CHECK(ua_crypto_p_sha256((const uint8_t *)"secret", 6, (const uint8_t *)"seed", 4, out2,
                             sizeof out2));
    CHECK(memcmp(out2, p_sha256_v2, sizeof out2) == 0);
    CHECK(ua_crypto_p_sha256(secret, sizeof secret, seed, sizeof seed, out, 0));
}

static void test_derive_keys(void)
{
    const struct ua_crypto_policy *p = ua_crypto_policy_get(UA_CRYPTO_POLICY_BASIC256SHA256);
    uint8_t client_nonce[32], server_nonce[32];
    for (int i = 0; i < 32; i++) {
        client_nonce[i] = (uint8_t)i;
        server_nonce[i] = (uint8_t)(0x80 + i);
    }
    struct ua_crypto_sym_keys ck, sk;
    char err[200] = "";
    CHECK(ua_crypto_derive_keys(p, client_nonce, 32, server_nonce, 32, &ck, &sk, err, sizeof err));
    CHECK_EQ_INT(ck.signing_key_bytes, 32);
    CHECK_EQ_INT(ck.encrypting_key_bytes, 32);
    CHECK_EQ_INT(ck.iv_bytes, 16);
    CHECK(memcmp(ck.signing_key, derive_client_keys, 32) == 0);
    CHECK(memcmp(ck.encrypting_key, derive_client_keys + 32, 32) == 0);
    CHECK(memcmp(ck.iv, derive_client_keys + 64, 16) == 0);
    CHECK(memcmp(sk.signing_key, derive_server_keys, 32) == 0);
    CHECK(memcmp(sk.encrypting_key, derive_server_keys + 32, 32) == 0);
    CHECK(memcmp(sk.iv, derive_server_keys + 64, 16) == 0);

    /* Nonces of the wrong size, and policy None, are refused. */
    CHECK(!ua_crypto_derive_keys(p, client_nonce, 31, server_nonce, 32, &ck, &sk, err, sizeof err));
    CHECK(strstr(err, "client nonce is 31 bytes") != NULL);
    CHECK(!ua_crypto_derive_keys(p, client_nonce, 32, server_nonce, 0, &ck, &sk, err, sizeof err));
    CHECK(strstr(err, "server nonce is 0 bytes") != NULL);
    CHECK(!ua_crypto_derive_keys(p, client_nonce, 32, NULL, 32, &ck, &sk, err, sizeof err));
    CHECK(!ua_crypto_derive_keys(ua_crypto_policy_get(UA_CRYPTO_POLICY_NONE), client_nonce, 32,
                                 server_nonce, 32, &ck, &sk, err, sizeof err));
    CHECK(strstr(err, "None") != NULL);
    CHECK(!ua_crypto_derive_keys(p, client_nonce, 32, server_nonce, 16, &ck, &sk, NULL, 0));
}

/* RFC 4231 test cases 1, 2, 3 and 6 (the key longer than a block). */
static void test_hmac_rfc4231(void)
{
    uint8_t key[131], data[64], want[32], got[32];
    memset(key, 0x0b, 20);
    CHECK(ua_crypto_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, got));
    test_unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want, 32);
    CHECK(memcmp(got, want, 32) == 0);

    const char *jefe = "what do ya want for nothing?";
    CHECK(ua_crypto_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)jefe, strlen(jefe),
                                got));
    test_unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want, 32);
    CHECK(memcmp(got, want, 32) == 0);

    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    CHECK(ua_crypto_hmac_sha256(key, 20, data, 50, got));
    test_unhex("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", want, 32);
    CHECK(memcmp(got, want, 32) == 0);
    CHECK(ua_crypto_hmac_sha256_verify(key, 20, data, 50, want, 32));

    memset(key, 0xaa, 131);
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK(ua_crypto_hmac_sha256(key, 131, (const uint8_t *)big, strlen(big), got));
    test_unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want, 32);
    CHECK(memcmp(got, want, 32) == 0);

    /* Verification: right, one bit off anywhere, cut short, wrong key. */
    CHECK(ua_crypto_hmac_sha256_verify(key, 131, (const uint8_t *)big, strlen(big), want, 32));
    for (int i = 0; i < 32; i += 31) {
        want[i] ^= 0x01;
        CHECK(!ua_crypto_hmac_sha256_verify(key, 131, (const uint8_t *)big, strlen(big), want, 32));
        want[i] ^= 0x01;
    }
    CHECK(!ua_crypto_hmac_sha256_verify(key, 131, (const uint8_t *)big, strlen(big), want, 31));
    CHECK(!ua_crypto_hmac_sha256_verify(key, 131, (const uint8_t *)big, strlen(big), NULL, 32));
    CHECK(!ua_crypto_hmac_sha256_verify(key, 130, (const uint8_t *)big, strlen(big), want, 32));
    CHECK(!ua_crypto_hmac_sha256_verify(key, 131, (const uint8_t *)big, strlen(big) - 1, want, 32));
}

/* NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt) and F.2.6 (its decryption). */
static void test_aes_sp800_38a(void)
{
    uint8_t key[32], iv[16], plain[64], cipher[64], buf[64];
    test_unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", key, 32);
    test_unhex("000102030405060708090a0b0c0d0e0f", iv, 16);
    test_unhex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51"
               "30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
               plain, 64);
    test_unhex("f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d"
               "39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
               cipher, 64);
    char err[200] = "";
    memcpy(buf, plain, 64);
    CHECK(ua_crypto_aes256_cbc_encrypt(key, iv, buf, 64, err, sizeof err));
    CHECK(memcmp(buf, cipher, 64) == 0);
    CHECK(ua_crypto_aes256_cbc_decrypt(key, iv, buf, 64, err, sizeof err));
    CHECK(memcmp(buf, plain, 64) == 0);
    /* One block at a time gives the first block (CBC from the same IV). */
    memcpy(buf, plain, 16);
    CHECK(ua_crypto_aes256_cbc_encrypt(key, iv, buf, 16, err, sizeof err));
    CHECK(memcmp(buf, cipher, 16) == 0);
    /* Nothing to do is fine; partial blocks are refused (no padding here). */
    CHECK(ua_crypto_aes256_cbc_encrypt(key, iv, buf, 0, err, sizeof err));
    CHECK(!ua_crypto_aes256_cbc_encrypt(key, iv, buf, 17, err, sizeof err));
    CHECK(strstr(err, "17 bytes is not a whole number of 16-byte blocks") != NULL);
    CHECK(!ua_crypto_aes256_cbc_decrypt(key, iv, buf, 63, err, sizeof err));
    CHECK(!ua_crypto_aes256_cbc_decrypt(key, iv, buf, 63, NULL, 0));
}

static void test_random(void)
{
    uint8_t a[32], b[32], zero[32] = {0};
    CHECK(ua_crypto_random(a, sizeof a));
    CHECK(ua_crypto_random(b, sizeof b));
    CHECK(memcmp(a, b, 32) != 0);
    CHECK(memcmp(a, zero, 32) != 0);
    CHECK(ua_crypto_random(a, 0));
}

/* A generated key pair: the certificate's public key and the private key. */
struct pair {
    uint8_t *cert;
    size_t cert_len;
    struct ua_crypto_key *pub, *priv;
};

static struct pair make_pair(unsigned bits)
{
    struct pair p = {0};
    char *pem = NULL;
    size_t pem_len = 0;
    char err[256] = "";
    struct ua_pki_cert_request req = {.application_uri = "urn:test:crypto",
                                      .host = "test",
                                      .key_bits = bits,
                                      .not_before = 0,
                                      .not_after = 4102444800}; /* 2100 */
    CHECK(ua_pki_make_certificate(&req, &p.cert, &p.cert_len, &pem, &pem_len, err, sizeof err));
    if (!p.cert) {
        fprintf(stderr, "make_pair: %s\n", err);
        exit(1);
    }
    p.pub = ua_crypto_key_from_cert(p.cert, p.cert_len, err, sizeof err);
    p.priv = ua_crypto_key_from_pem(pem, pem_len, err, sizeof err);
    CHECK(p.pub && p.priv);
    free(pem);
    return p;
}

static void free_pair(struct pair *p)
{
    free(p->cert);
    ua_crypto_key_free(p->pub);
    ua_crypto_key_free(p->priv);
}

static void test_keys(struct pair *a, struct pair *b)
{
    CHECK(!ua_crypto_key_is_private(a->pub));
    CHECK(ua_crypto_key_is_private(a->priv));
    CHECK_EQ_INT(ua_crypto_key_bits(a->pub), 2048);
    CHECK_EQ_INT(ua_crypto_key_bytes(a->priv), 256);
    CHECK(ua_crypto_key_matches(a->pub, a->priv));
    CHECK(!ua_crypto_key_matches(a->pub, b->priv));
    CHECK(!ua_crypto_key_matches(a->pub, NULL));
    CHECK_EQ_INT(ua_crypto_oaep_plain_block_bytes(a->pub), 214);
    CHECK_EQ_INT(ua_crypto_oaep_cipher_block_bytes(a->pub), 256);
    CHECK_EQ_INT(ua_crypto_oaep_cipher_bytes(a->pub, 0), 0);
    CHECK_EQ_INT(ua_crypto_oaep_cipher_bytes(a->pub, 1), 256);
    CHECK_EQ_INT(ua_crypto_oaep_cipher_bytes(a->pub, 214), 256);
    CHECK_EQ_INT(ua_crypto_oaep_cipher_bytes(a->pub, 215), 512);
    CHECK_EQ_INT(ua_crypto_rsa_signature_bytes(a->pub), 256);
    CHECK_EQ_INT(ua_crypto_key_bits(NULL), 0);
    CHECK_EQ_INT(ua_crypto_oaep_plain_block_bytes(NULL), 0);

    const struct ua_crypto_policy *p = ua_crypto_policy_get(UA_CRYPTO_POLICY_BASIC256SHA256);
    char err[200] = "";
    CHECK(ua_crypto_policy_check_key(p, a->pub, "server", err, sizeof err));
    CHECK(ua_crypto_policy_check_key(ua_crypto_policy_get(UA_CRYPTO_POLICY_NONE), a->pub, "server",
                                     err, sizeof err));

    /* A 1024-bit key is below Basic256Sha256's minimum. */
    struct pair small = make_pair(1024);
    CHECK(!ua_crypto_policy_check_key(p, small.pub, "server", err, sizeof err));
    CHECK_STR(err, "server key is 1024 bits, Basic256Sha256 needs 2048 to 4096");
    free_pair(&small);

    /* Not a certificate, not a key. */
    uint8_t junk[64];
    memset(junk, 0x30, sizeof junk);
    CHECK(ua_crypto_key_from_cert(junk, sizeof junk, err, sizeof err) == NULL);
    CHECK(strstr(err, "certificate") != NULL);
    CHECK(ua_crypto_key_from_cert(a->cert, a->cert_len - 1, err, sizeof err) == NULL);
    CHECK(ua_crypto_key_from_cert(NULL, 0, err, sizeof err) == NULL);
    CHECK(ua_crypto_key_from_pem("hello", 5, err, sizeof err) == NULL);
    CHECK(strstr(err, "private key") != NULL);
    CHECK(ua_crypto_key_from_pem("", 0, err, sizeof err) == NULL);

    /* The certificate's public key can also be had from a chain (leaf first). */
    size_t chain_len = a->cert_len + b->cert_len;
    uint8_t *chain = malloc(chain_len);
    memcpy(chain, a->cert, a->cert_len);
    memcpy(chain + a->cert_len, b->cert, b->cert_len);
    struct ua_crypto_key *leaf = ua_crypto_key_from_cert(chain, chain_len, err, sizeof err);
    CHECK(leaf && ua_crypto_key_matches(leaf, a->priv));
    ua_crypto_key_free(leaf);
    free(chain);
    ua_crypto_key_free(NULL);
}

/* An encrypted PEM key is refused at once (no passphrase prompt). */
static void test_encrypted_pem_refused(void)
{
    EVP_PKEY *pkey = EVP_RSA_gen(1024);
    BIO *bio = BIO_new(BIO_s_mem());
    CHECK(pkey && bio);
    CHECK(PEM_write_bio_PrivateKey(bio, pkey, EVP_aes_256_cbc(), (unsigned char *)"pw", 2, NULL,
                                   NULL) == 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char err[200] = "";
    CHECK(ua_crypto_key_from_pem(data, (size_t)n, err, sizeof err) == NULL);
    CHECK(strstr(err, "not an unencrypted PEM private key") != NULL);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
}

static void test_rsa_sign_verify(struct pair *a, struct pair *b)
{
    const uint8_t data[] = "an OpenSecureChannel chunk, header to padding";
    uint8_t sig[512];
    size_t sig_len = 0;
    char err[200] = "";
    CHECK(
        ua_crypto_rsa_sign(a->priv, data, sizeof data, sig, sizeof sig, &sig_len, err, sizeof err));
    CHECK_EQ_INT(sig_len, 256);
    CHECK(ua_crypto_rsa_verify(a->pub, data, sizeof data, sig, sig_len, err, sizeof err));
    CHECK(ua_crypto_rsa_verify(a->priv, data, sizeof data, sig, sig_len, err, sizeof err));
    /* PKCS#1 v1.5 is deterministic: signing again gives the same bytes. */
    uint8_t again[256];
    size_t again_len = 0;
    CHECK(ua_crypto_rsa_sign(a->priv, data, sizeof data, again, sizeof again, &again_len, err,
                             sizeof err));
    CHECK(again_len == 256 && memcmp(again, sig, 256) == 0);

    /* Tampered signature (first, middle, last byte), tampered data, other key,
     * wrong length: all rejected. */
    for (size_t i = 0; i < 256; i += 127) {
        sig[i] ^= 0x80;
        CHECK(!ua_crypto_rsa_verify(a->pub, data, sizeof data, sig, sig_len, err, sizeof err));
        CHECK(strstr(err, "does not match") != NULL);
        sig[i] ^= 0x80;
    }
    uint8_t changed[sizeof data];
    memcpy(changed, data, sizeof data);
    changed[3] ^= 1;
    CHECK(!ua_crypto_rsa_verify(a->pub, changed, sizeof changed, sig, sig_len, err, sizeof err));
    CHECK(!ua_crypto_rsa_verify(b->pub, data, sizeof data, sig, sig_len, err, sizeof err));
    CHECK(!ua_crypto_rsa_verify(a->pub, data, sizeof data, sig, 255, err, sizeof err));
    CHECK(strstr(err, "signature is 255 bytes") != NULL);
    CHECK(!ua_crypto_rsa_verify(a->pub, data, sizeof data, sig, 0, err, sizeof err));
    memset(again, 0, sizeof again);
    CHECK(!ua_crypto_rsa_verify(a->pub, data, sizeof data, again, 256, err, sizeof err));
    memset(again, 0xFF, sizeof again); /* larger than the modulus */
    CHECK(!ua_crypto_rsa_verify(a->pub, data, sizeof data, again, 256, err, sizeof err));

    /* Signing needs the private key and room for the signature. */
    CHECK(
        !ua_crypto_rsa_sign(a->pub, data, sizeof data, sig, sizeof sig, &sig_len, err, sizeof err));
    CHECK(strstr(err, "private key") != NULL);
    CHECK(!ua_crypto_rsa_sign(a->priv, data, sizeof data, sig, 255, &sig_len, err, sizeof err));
    CHECK(strstr(err, "needs 256 bytes") != NULL);
}

static void test_oaep_round_trips(struct pair *a, struct pair *b)
{
    static const size_t sizes[] = {0, 1, 32, 213, 214, 215, 428, 429, 1000};
    uint8_t plain[1000], cipher[5 * 256], back[5 * 256];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 13 + 5);
    char err[200] = "";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k], clen = 0, plen = 0;
        CHECK(ua_crypto_oaep_encrypt(a->pub, plain, n, cipher, sizeof cipher, &clen, err,
                                     sizeof err));
        CHECK_EQ_INT(clen, ua_crypto_oaep_cipher_bytes(a->pub, n));
        CHECK(ua_crypto_oaep_decrypt(a->priv, cipher, clen, back, sizeof back, &plen, err,
                                     sizeof err));
        CHECK_EQ_INT(plen, n);
        CHECK(memcmp(back, plain, n) == 0);
        /* In place. */
        memcpy(back, cipher, clen);
        CHECK(
            ua_crypto_oaep_decrypt(a->priv, back, clen, back, sizeof back, &plen, err, sizeof err));
        CHECK(plen == n && memcmp(back, plain, n) == 0);
    }
    /* OAEP is randomised: the same plaintext encrypts differently. */
    size_t c1 = 0, c2 = 0;
    CHECK(ua_crypto_oaep_encrypt(a->pub, plain, 10, cipher, 256, &c1, err, sizeof err));
    CHECK(ua_crypto_oaep_encrypt(a->pub, plain, 10, back, 256, &c2, err, sizeof err));
    CHECK(c1 == 256 && c2 == 256 && memcmp(cipher, back, 256) != 0);

    /* Errors: too little room, wrong key, tampered block, partial block. */
    size_t clen = 0, plen = 0;
    CHECK(!ua_crypto_oaep_encrypt(a->pub, plain, 215, cipher, 511, &clen, err, sizeof err));
    CHECK(strstr(err, "need 512") != NULL);
    CHECK(
        ua_crypto_oaep_encrypt(a->pub, plain, 300, cipher, sizeof cipher, &clen, err, sizeof err));
    CHECK(
        !ua_crypto_oaep_decrypt(b->priv, cipher, clen, back, sizeof back, &plen, err, sizeof err));
    CHECK(strstr(err, "block at offset 0") != NULL);
    cipher[300] ^= 0x04;
    CHECK(
        !ua_crypto_oaep_decrypt(a->priv, cipher, clen, back, sizeof back, &plen, err, sizeof err));
    CHECK(strstr(err, "block at offset 256") != NULL);
    cipher[300] ^= 0x04;
    CHECK(!ua_crypto_oaep_decrypt(a->priv, cipher, clen - 1, back, sizeof back, &plen, err,
                                  sizeof err));
    CHECK(strstr(err, "not a whole number of 256-byte blocks") != NULL);
    CHECK(!ua_crypto_oaep_decrypt(a->priv, cipher, clen, back, 299, &plen, err, sizeof err));
    CHECK(!ua_crypto_oaep_decrypt(a->pub, cipher, clen, back, sizeof back, &plen, err, sizeof err));
    CHECK(strstr(err, "private key") != NULL);
    CHECK(!ua_crypto_oaep_encrypt(NULL, plain, 1, cipher, sizeof cipher, &clen, err, sizeof err));
}

static void test_oaep_openssl_cli(void)
{
    char err[200] = "";
    struct ua_crypto_key *key =
        ua_crypto_key_from_pem(cli_key_pem, strlen(cli_key_pem), err, sizeof err);
    CHECK(key != NULL);
    if (!key) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    uint8_t cipher[512], plain[512];
    CHECK_EQ_INT(test_unhex(cli_ciphertext_hex, cipher, sizeof cipher), 512);
    size_t n = 0;
    CHECK(ua_crypto_oaep_decrypt(key, cipher, sizeof cipher, plain, sizeof plain, &n, err,
                                 sizeof err));
    CHECK_EQ_INT(n, 300);
    bool same = true;
    for (size_t i = 0; i < 300; i++)
        same = same && plain[i] == (uint8_t)((i * 7 + 3) % 256);
    CHECK(same);
    ua_crypto_key_free(key);
}

static void test_cert_leaf_bytes(struct pair *a)
{
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(a->cert, a->cert_len), a->cert_len);
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(a->cert, a->cert_len - 1), 0);
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(NULL, 10), 0);
    const uint8_t short_form[] = {0x30, 0x03, 1, 2, 3, 0xAA};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(short_form, sizeof short_form), 5);
    const uint8_t not_seq[] = {0x31, 0x01, 0x00};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(not_seq, sizeof not_seq), 0);
    const uint8_t one_byte[] = {0x30};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(one_byte, 1), 0);
    const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(indefinite, sizeof indefinite), 0);
    const uint8_t truncated_len[] = {0x30, 0x82, 0x01};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(truncated_len, sizeof truncated_len), 0);
    const uint8_t non_minimal[] = {0x30, 0x81, 0x05, 1, 2, 3, 4, 5};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(non_minimal, sizeof non_minimal), 0);
    const uint8_t leading_zero[] = {0x30, 0x82, 0x00, 0x81};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(leading_zero, sizeof leading_zero), 0);
    const uint8_t huge[] = {0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(huge, sizeof huge), 0);
    const uint8_t too_many[] = {0x30, 0x85, 1, 0, 0, 0, 0};
    CHECK_EQ_INT(ua_crypto_cert_leaf_bytes(too_many, sizeof too_many), 0);
}

/* The UserNameIdentityToken secret decrypts to UInt32LE(len) | password |
 * nonce, with len counting password and nonce. */
static void test_password(struct pair *a)
{
    const char *password = "s3cret-päss";
    uint8_t nonce[32];
    for (int i = 0; i < 32; i++)
        nonce[i] = (uint8_t)(0xC0 + i);
    uint8_t blob[512], plain[512];
    size_t blob_len = 0, plain_len = 0;
    char err[200] = "";
    size_t pw_len = strlen(password);
    CHECK(ua_crypto_encrypt_password(a->pub, (const uint8_t *)password, pw_len, nonce, 32, blob,
                                     sizeof blob, &blob_len, err, sizeof err));
    CHECK_EQ_INT(blob_len, 256);
    CHECK(ua_crypto_oaep_decrypt(a->priv, blob, blob_len, plain, sizeof plain, &plain_len, err,
                                 sizeof err));
    CHECK_EQ_INT(plain_len, 4 + pw_len + 32);
    CHECK_EQ_INT(plain[0], pw_len + 32);
    CHECK(plain[1] == 0 && plain[2] == 0 && plain[3] == 0);
    CHECK(memcmp(plain + 4, password, pw_len) == 0);
    CHECK(memcmp(plain + 4 + pw_len, nonce, 32) == 0);

    /* A long password spans two blocks; the length field is little-endian. */
    uint8_t longpw[300];
    memset(longpw, 'x', sizeof longpw);
    CHECK(ua_crypto_encrypt_password(a->pub, longpw, sizeof longpw, nonce, 32, blob, sizeof blob,
                                     &blob_len, err, sizeof err));
    CHECK_EQ_INT(blob_len, 512);
    CHECK(ua_crypto_oaep_decrypt(a->priv, blob, blob_len, plain, sizeof plain, &plain_len, err,
                                 sizeof err));
    CHECK_EQ_INT(plain_len, 4 + 300 + 32);
    CHECK(plain[0] == (332 & 0xFF) && plain[1] == (332 >> 8) && plain[2] == 0 && plain[3] == 0);

    /* Empty password, no nonce: still the length prefix. */
    CHECK(ua_crypto_encrypt_password(a->pub, NULL, 0, NULL, 0, blob, sizeof blob, &blob_len, err,
                                     sizeof err));
    CHECK(ua_crypto_oaep_decrypt(a->priv, blob, blob_len, plain, sizeof plain, &plain_len, err,
                                 sizeof err));
    CHECK(plain_len == 4 && plain[0] == 0);

    CHECK(!ua_crypto_encrypt_password(a->pub, longpw, 5000, nonce, 32, blob, sizeof blob, &blob_len,
                                      err, sizeof err));
    CHECK(!ua_crypto_encrypt_password(a->pub, longpw, sizeof longpw, nonce, 32, blob, 256,
                                      &blob_len, err, sizeof err));
}

/* ActivateSession's clientSignature covers the leaf of the server's chain
 * and the server nonce; CreateSession's serverSignature the client
 * certificate and client nonce. */
static void test_session_signatures(struct pair *client, struct pair *server)
{
    uint8_t nonce[32];
    memset(nonce, 0x5A, sizeof nonce);
    size_t chain_len = server->cert_len + client->cert_len;
    uint8_t *chain = malloc(chain_len);
    memcpy(chain, server->cert, server->cert_len);
    memcpy(chain + server->cert_len, client->cert, client->cert_len); /* any second cert */

    uint8_t sig[256];
    size_t sig_len = 0;
    char err[200] = "";
    CHECK(ua_crypto_client_signature(client->priv, chain, chain_len, nonce, 32, sig, sizeof sig,
                                     &sig_len, err, sizeof err));
    CHECK_EQ_INT(sig_len, 256);
    uint8_t *signed_data = malloc(server->cert_len + 32);
    memcpy(signed_data, server->cert, server->cert_len);
    memcpy(signed_data + server->cert_len, nonce, 32);
    CHECK(ua_crypto_rsa_verify(client->pub, signed_data, server->cert_len + 32, sig, sig_len, err,
                               sizeof err));
    nonce[0] ^= 1;
    CHECK(ua_crypto_client_signature(client->priv, server->cert, server->cert_len, nonce, 32, sig,
                                     sizeof sig, &sig_len, err, sizeof err));
    CHECK(!ua_crypto_rsa_verify(client->pub, signed_data, server->cert_len + 32, sig, sig_len, err,
                                sizeof err));
    nonce[0] ^= 1;
    CHECK(!ua_crypto_client_signature(client->priv, nonce, 32, nonce, 32, sig, sizeof sig, &sig_len,
                                      err, sizeof err));
    CHECK(strstr(err, "not DER") != NULL);

    /* The server's signature as a server would make it. */
    size_t client_data_len = client->cert_len + 32;
    uint8_t *client_data = malloc(client_data_len);
    memcpy(client_data, client->cert, client->cert_len);
    memcpy(client_data + client->cert_len, nonce, 32);
    CHECK(ua_crypto_rsa_sign(server->priv, client_data, client_data_len, sig, sizeof sig, &sig_len,
                             err, sizeof err));
    CHECK(ua_crypto_verify_server_signature(server->pub, client->cert, client->cert_len, nonce, 32,
                                            sig, sig_len, err, sizeof err));
    CHECK(!ua_crypto_verify_server_signature(server->pub, client->cert, client->cert_len, nonce, 31,
                                             sig, sig_len, err, sizeof err));
    CHECK(!ua_crypto_verify_server_signature(client->pub, client->cert, client->cert_len, nonce, 32,
                                             sig, sig_len, err, sizeof err));
    free(client_data);
    free(signed_data);
    free(chain);
}

int main(void)
{
    test_policies();
    test_p_sha256();
    test_derive_keys();
    test_hmac_rfc4231();
    test_aes_sp800_38a();
    test_random();
    struct pair a = make_pair(2048), b = make_pair(2048);
    test_keys(&a, &b);
    test_encrypted_pem_refused();
    test_rsa_sign_verify(&a, &b);
    test_oaep_round_trips(&a, &b);
    test_oaep_openssl_cli();
    test_cert_leaf_bytes(&a);
    test_password(&a);
    test_session_signatures(&a, &b);
    free_pair(&a);
    free_pair(&b);
    return test_summary();
}
