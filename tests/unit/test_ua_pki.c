/* Tests of the OPC UA certificate store (drivers/opcua/ua_pki.h): the
 * certificate made on first use has the OPC UA profile (checked with
 * OpenSSL's X509 API and, when the openssl command is there, its -text
 * output), reopening loads the same one, the key file is 0600; the trust
 * flow (rejected/ file and message, trusting by moving it, by thumbprint
 * file, by PEM file, by a CA made with the openssl command); expired and
 * not-yet-valid certificates; corrupt, missing, mismatched and loosely
 * protected files give errors naming the file. Each test works in its own
 * temporary directory. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_pki.h"
#include "testlib.h"

#define DAY 86400

static char base_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh directory for one test. */
static const char *fresh_dir(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", base_dir, name);
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(path, 0755);
    return path;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

static uint8_t *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool have_openssl_cli(void)
{
    return system("openssl version >/dev/null 2>&1") == 0;
}

/* A certificate made by us for a pretend server; *pem gets its key. */
static uint8_t *server_cert(const char *cn, int64_t from, int64_t to, size_t *len, char **pem)
{
    struct ua_pki_cert_request req = {.application_uri = "urn:plc:server",
                                      .host = "plc.local",
                                      .common_name = cn,
                                      .not_before = from,
                                      .not_after = to};
    uint8_t *der = NULL;
    char *key = NULL;
    size_t key_len = 0;
    char err[256] = "";
    CHECK(ua_pki_make_certificate(&req, &der, len, &key, &key_len, err, sizeof err));
    if (pem)
        *pem = key;
    else
        free(key);
    return der;
}

static bool ext_critical(X509 *x, int nid)
{
    int idx = X509_get_ext_by_NID(x, nid, -1);
    return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1;
}

/* The first use creates a certificate with the OPC UA profile. */
static void test_create_profile(void)
{
    const char *dir = fresh_dir("create");
    char err[512] = "";
    time_t before = time(NULL);
    struct ua_pki *pki = ua_pki_open(dir, "urn:testhost:airlock", "testhost", err, sizeof err);
    CHECK(pki != NULL);
    if (!pki) {
        fprintf(stderr, "ua_pki_open: %s\n", err);
        return;
    }
    CHECK(ua_pki_created(pki));
    CHECK_STR(ua_pki_dir(pki), dir);

    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/own/private/key.pem", dir);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(path, sizeof path, "%s/own/private", dir);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    snprintf(path, sizeof path, "%s/trusted", dir);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(path, sizeof path, "%s/rejected", dir);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

    /* The DER on disk is the one the store hands out. */
    size_t len = 0, disk_len = 0;
    const uint8_t *der = ua_pki_own_cert(pki, &len);
    snprintf(path, sizeof path, "%s/own/cert.der", dir);
    uint8_t *disk = read_bytes(path, &disk_len);
    CHECK(disk && disk_len == len && memcmp(disk, der, len) == 0);
    free(disk);

    const struct ua_pki_cert_info *info = ua_pki_own_info(pki);
    CHECK_STR(info->common_name, "airlock@testhost");
    CHECK_STR(info->application_uri, "urn:testhost:airlock");
    CHECK_STR(info->host, "testhost");
    CHECK_EQ_INT(info->key_bits, 2048);
    CHECK(!info->is_ca);
    CHECK(info->self_signed);
    CHECK_EQ_INT(strlen(info->thumbprint_hex), 40);
    CHECK(info->not_before <= (int64_t)before && info->not_before >= (int64_t)before - DAY - 5);
    CHECK_EQ_INT(info->not_after - info->not_before, (int64_t)(UA_PKI_VALIDITY_DAYS + 1) * DAY);
    uint8_t tp[20];
    CHECK(ua_pki_thumbprint(der, len, tp) && memcmp(tp, info->thumbprint, 20) == 0);

    /* Parsed independently with OpenSSL's X509 API. */
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    CHECK(x != NULL);
    CHECK_EQ_INT(X509_get_version(x), X509_VERSION_3);
    CHECK_EQ_INT(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    CHECK(serial && BN_num_bytes(serial) == 16 && !BN_is_negative(serial));
    BN_free(serial);
    uint32_t ku = X509_get_key_usage(x);
    CHECK(ku == (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION | KU_KEY_ENCIPHERMENT |
                 KU_DATA_ENCIPHERMENT | KU_KEY_CERT_SIGN));
    CHECK(ext_critical(x, NID_key_usage));
    CHECK_EQ_INT(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
    uint32_t flags = X509_get_extension_flags(x);
    CHECK((flags & EXFLAG_BCONS) && !(flags & EXFLAG_CA));
    CHECK(ext_critical(x, NID_basic_constraints));
    CHECK(X509_get0_subject_key_id(x) != NULL);
    CHECK(X509_get0_authority_key_id(x) != NULL);
    CHECK(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0);
    CHECK(X509_verify(x, X509_get0_pubkey(x)) == 1);
    X509_free(x);

    /* The certificate's key is the private key's. */
    struct ua_crypto_key *pub = ua_crypto_key_from_cert(der, len, err, sizeof err);
    CHECK(pub && ua_crypto_key_matches(pub, ua_pki_own_key(pki)));
    CHECK(ua_crypto_key_is_private(ua_pki_own_key(pki)));
    ua_crypto_key_free(pub);

    /* And as the openssl command shows it. */
    if (have_openssl_cli()) {
        char cmd[600], text[8192] = "";
        snprintf(cmd, sizeof cmd, "openssl x509 -inform DER -in '%s/own/cert.der' -noout -text",
                 dir);
        FILE *f = popen(cmd, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[n] = '\0';
        if (f) pclose(f);
        CHECK(strstr(text, "Subject: CN = airlock@testhost, O = airlock, DC = testhost") != NULL);
        CHECK(strstr(text, "Public-Key: (2048 bit)") != NULL);
        CHECK(strstr(text, "CA:FALSE") != NULL);
        CHECK(strstr(text, "Digital Signature, Non Repudiation, Key Encipherment, Data "
                           "Encipherment, Certificate Sign") != NULL);
        CHECK(strstr(text, "TLS Web Server Authentication, TLS Web Client Authentication") != NULL);
        CHECK(strstr(text, "URI:urn:testhost:airlock, DNS:testhost") != NULL);
    } else {
        printf("openssl command not found: -text check skipped\n");
    }
    ua_pki_close(pki);
}

/* Reopening loads the same certificate and key. */
static void test_reload(void)
{
    const char *dir = fresh_dir("reload");
    char err[512] = "";
    struct ua_pki *a = ua_pki_open(dir, "urn:h:airlock", "h", err, sizeof err);
    CHECK(a != NULL);
    struct ua_pki *b = ua_pki_open(dir, "urn:other:airlock", "other", err, sizeof err);
    CHECK(b != NULL);
    if (!a || !b) return;
    CHECK(!ua_pki_created(b));
    CHECK(memcmp(ua_pki_own_info(a)->thumbprint, ua_pki_own_info(b)->thumbprint, 20) == 0);
    /* The certificate on disk wins over the URI asked for. */
    CHECK_STR(ua_pki_own_info(b)->application_uri, "urn:h:airlock");
    CHECK(ua_crypto_key_matches(ua_pki_own_key(a), ua_pki_own_key(b)));
    /* What one signs, the other's certificate verifies. */
    uint8_t sig[256];
    size_t sig_len = 0, len = 0;
    CHECK(ua_crypto_rsa_sign(ua_pki_own_key(a), (const uint8_t *)"x", 1, sig, sizeof sig, &sig_len,
                             err, sizeof err));
    const uint8_t *der = ua_pki_own_cert(b, &len);
    struct ua_crypto_key *pub = ua_crypto_key_from_cert(der, len, err, sizeof err);
    CHECK(ua_crypto_rsa_verify(pub, (const uint8_t *)"x", 1, sig, sig_len, err, sizeof err));
    ua_crypto_key_free(pub);
    ua_pki_close(a);
    ua_pki_close(b);
    ua_pki_close(NULL);
}

/* An IP address as host goes into subjectAltName as an iPAddress. */
static void test_ip_host(void)
{
    const char *dir = fresh_dir("ip");
    char err[512] = "";
    struct ua_pki *pki = ua_pki_open(dir, "urn:10.1.2.3:airlock", "10.1.2.3", err, sizeof err);
    CHECK(pki != NULL);
    if (!pki) return;
    CHECK_STR(ua_pki_own_info(pki)->host, "10.1.2.3");
    size_t len = 0;
    const uint8_t *der = ua_pki_own_cert(pki, &len);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int ip = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++)
        ip += sk_GENERAL_NAME_value(names, i)->type == GEN_IPADD;
    CHECK_EQ_INT(ip, 1);
    GENERAL_NAMES_free(names);
    X509_free(x);
    ua_pki_close(pki);
}

static struct ua_pki *open_store(const char *name)
{
    char err[512] = "";
    struct ua_pki *pki = ua_pki_open(fresh_dir(name), "urn:gw:airlock", "gw", err, sizeof err);
    CHECK(pki != NULL);
    if (!pki) {
        fprintf(stderr, "ua_pki_open: %s\n", err);
        exit(1);
    }
    return pki;
}

/* Untrusted: saved to rejected/ with a message saying how to trust it;
 * moving the file to trusted/ trusts it. */
static void test_trust_flow(void)
{
    struct ua_pki *pki = open_store("trust");
    const char *dir = ua_pki_dir(pki);
    int64_t now = (int64_t)time(NULL);
    size_t len = 0;
    uint8_t *der = server_cert("PLC 7", now - DAY, now + 365 * DAY, &len, NULL);
    struct ua_pki_cert_info info;
    char err[256];
    CHECK(ua_pki_cert_info(der, len, &info, err, sizeof err));

    enum ua_pki_verdict v = UA_PKI_TRUSTED;
    char msg[2048] = "";
    CHECK(!ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_UNTRUSTED);
    char rejected[512], want[2048];
    snprintf(rejected, sizeof rejected, "%s/rejected/PLC 7 [%s].der", dir, info.thumbprint_hex);
    snprintf(want, sizeof want,
             "server certificate CN=PLC 7 (thumbprint %s) is not trusted: to trust it, move '%s' "
             "to '%s/trusted/'",
             info.thumbprint_hex, rejected, dir);
    CHECK_STR(msg, want);
    size_t saved_len = 0;
    uint8_t *saved = read_bytes(rejected, &saved_len);
    CHECK(saved && saved_len == len && memcmp(saved, der, len) == 0);
    free(saved);
    /* Asking again is the same answer (the file is not duplicated). */
    CHECK(!ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK_STR(msg, want);

    /* Doing what the message says trusts it, without reopening the store. */
    char trusted[512];
    snprintf(trusted, sizeof trusted, "%s/trusted/PLC 7 [%s].der", dir, info.thumbprint_hex);
    CHECK(rename(rejected, trusted) == 0);
    msg[0] = 'x';
    CHECK(ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_TRUSTED);
    CHECK_STR(msg, "");
    CHECK(!file_exists(rejected));

    /* A chain whose leaf is trusted is trusted (the rest is not needed). */
    size_t other_len = 0;
    uint8_t *other = server_cert("Other", now - DAY, now + DAY, &other_len, NULL);
    uint8_t *chain = malloc(len + other_len);
    memcpy(chain, der, len);
    memcpy(chain + len, other, other_len);
    CHECK(ua_pki_check_server(pki, chain, len + other_len, &v, msg, sizeof msg));
    /* The other certificate alone is not. */
    CHECK(!ua_pki_check_server(pki, other, other_len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_UNTRUSTED);
    free(chain);
    free(other);
    free(der);
    ua_pki_close(pki);
}

/* trusted/ also takes PEM files and bare thumbprints. */
static void test_trust_forms(void)
{
    struct ua_pki *pki = open_store("forms");
    const char *dir = ua_pki_dir(pki);
    int64_t now = (int64_t)time(NULL);
    enum ua_pki_verdict v;
    char msg[2048], path[512], err[256];

    /* A PEM file holding two certificates, ours second. */
    size_t a_len = 0, b_len = 0;
    uint8_t *a = server_cert("A", now - DAY, now + DAY, &a_len, NULL);
    uint8_t *b = server_cert("B", now - DAY, now + DAY, &b_len, NULL);
    snprintf(path, sizeof path, "%s/trusted/bundle.pem", dir);
    FILE *f = fopen(path, "w");
    const uint8_t *pa = a, *pb = b;
    X509 *xa = d2i_X509(NULL, &pa, (long)a_len), *xb = d2i_X509(NULL, &pb, (long)b_len);
    CHECK(f && xa && xb && PEM_write_X509(f, xa) == 1 && PEM_write_X509(f, xb) == 1);
    fclose(f);
    X509_free(xa);
    X509_free(xb);
    CHECK(ua_pki_check_server(pki, b, b_len, &v, msg, sizeof msg));
    CHECK(ua_pki_check_server(pki, a, a_len, &v, msg, sizeof msg));
    unlink(path);
    CHECK(!ua_pki_check_server(pki, a, a_len, &v, msg, sizeof msg));

    /* A file named by the thumbprint (lower case, .txt) trusts just that one. */
    struct ua_pki_cert_info info;
    CHECK(ua_pki_cert_info(a, a_len, &info, err, sizeof err));
    char lower[41];
    for (int i = 0; i < 40; i++)
        lower[i] = (char)(info.thumbprint_hex[i] >= 'A' ? info.thumbprint_hex[i] + 32
                                                        : info.thumbprint_hex[i]);
    lower[40] = '\0';
    snprintf(path, sizeof path, "%s/trusted/%s.txt", dir, lower);
    write_bytes(path, "", 0);
    CHECK(ua_pki_check_server(pki, a, a_len, &v, msg, sizeof msg));
    CHECK(!ua_pki_check_server(pki, b, b_len, &v, msg, sizeof msg));

    /* A corrupt file in trusted/ does not stop anything but is mentioned. */
    snprintf(path, sizeof path, "%s/trusted/broken.der", dir);
    write_bytes(path, "\x30\x03garbage", 10);
    CHECK(ua_pki_check_server(pki, a, a_len, &v, msg, sizeof msg));
    CHECK(!ua_pki_check_server(pki, b, b_len, &v, msg, sizeof msg));
    CHECK(strstr(msg, "(note: ") != NULL && strstr(msg, "broken.der") != NULL);
    free(a);
    free(b);
    ua_pki_close(pki);
}

/* Expired and not yet valid certificates, trusted or not. */
static void test_validity(void)
{
    struct ua_pki *pki = open_store("validity");
    const char *dir = ua_pki_dir(pki);
    int64_t now = (int64_t)time(NULL);
    enum ua_pki_verdict v;
    char msg[2048], path[512], err[256];
    struct ua_pki_cert_info info;

    /* Expired on 2020-01-02 00:00:00 UTC. */
    size_t len = 0;
    uint8_t *old = server_cert("Old", 1577836800, 1577923200, &len, NULL);
    CHECK(!ua_pki_check_server(pki, old, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_EXPIRED);
    CHECK(strstr(msg, "server certificate CN=Old (thumbprint ") != NULL);
    CHECK(strstr(msg, "expired on 2020-01-02 00:00:00 UTC; it is also not trusted: to trust it, "
                      "move '") != NULL);
    /* Trusting it does not help: still expired, no mention of trust. */
    CHECK(ua_pki_cert_info(old, len, &info, err, sizeof err));
    snprintf(path, sizeof path, "%s/trusted/old.der", dir);
    write_bytes(path, old, len);
    CHECK(!ua_pki_check_server(pki, old, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_EXPIRED);
    char want[512];
    snprintf(want, sizeof want,
             "server certificate CN=Old (thumbprint %s) expired on 2020-01-02 00:00:00 UTC",
             info.thumbprint_hex);
    CHECK_STR(msg, want);
    free(old);

    /* Valid from a year ahead. */
    uint8_t *early = server_cert("Early", now + 365 * DAY, now + 730 * DAY, &len, NULL);
    snprintf(path, sizeof path, "%s/trusted/early.der", dir);
    write_bytes(path, early, len);
    CHECK(!ua_pki_check_server(pki, early, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_NOT_YET_VALID);
    CHECK(strstr(msg, "is not valid before ") != NULL);
    free(early);
    CHECK_STR(ua_pki_verdict_name(UA_PKI_EXPIRED), "expired");
    CHECK_STR(ua_pki_verdict_name(UA_PKI_NOT_YET_VALID), "not yet valid");
    ua_pki_close(pki);
}

/* Garbage and odd names from the network. */
static void test_bad_server_certs(void)
{
    struct ua_pki *pki = open_store("bad");
    enum ua_pki_verdict v = UA_PKI_TRUSTED;
    char msg[2048];
    const uint8_t junk[] = {0x30, 0x05, 1, 2, 3, 4, 5};
    CHECK(!ua_pki_check_server(pki, junk, sizeof junk, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_INVALID);
    CHECK(strstr(msg, "server certificate: not a valid X.509 certificate") != NULL);
    CHECK(!ua_pki_check_server(pki, junk, 3, &v, msg, sizeof msg));
    CHECK(strstr(msg, "not a DER certificate (3 bytes") != NULL);
    CHECK(!ua_pki_check_server(pki, NULL, 0, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_INVALID);

    /* Every truncation of a real certificate is refused cleanly. */
    int64_t now = (int64_t)time(NULL);
    size_t len = 0;
    uint8_t *der = server_cert("Cut", now - DAY, now + DAY, &len, NULL);
    bool all_invalid = true;
    for (size_t n = 0; n < len; n += 7) {
        ua_pki_check_server(pki, der, n, &v, msg, sizeof msg);
        all_invalid = all_invalid && v == UA_PKI_INVALID;
    }
    CHECK(all_invalid);
    /* Flipped bytes all through it: parsed or refused, never a crash (the
     * sanitizers watch), and a key only from what still parses. */
    uint8_t *mutant = malloc(len);
    int parsed = 0;
    for (size_t i = 0; i < len; i += 3) {
        memcpy(mutant, der, len);
        mutant[i] ^= (uint8_t)(0x01 << (i % 8)) | 0x80;
        struct ua_pki_cert_info mi;
        char merr[256];
        bool ok = ua_pki_cert_info(mutant, len, &mi, merr, sizeof merr);
        struct ua_crypto_key *k = ua_crypto_key_from_cert(mutant, len, merr, sizeof merr);
        CHECK(ok || k == NULL);
        parsed += ok;
        ua_crypto_key_free(k);
    }
    CHECK(parsed > 0);
    free(mutant);
    free(der);

    /* A CN with a path and a control character: the message shows '?',
     * the rejected file name has '_' and stays in rejected/. */
    der = server_cert("../evil/\x01name", now - DAY, now + DAY, &len, NULL);
    struct ua_pki_cert_info info;
    char err[256];
    CHECK(ua_pki_cert_info(der, len, &info, err, sizeof err));
    CHECK_STR(info.common_name, "../evil/?name");
    CHECK(!ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK(strstr(msg, "CN=../evil/?name") != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/rejected/_._evil__name [%s].der", ua_pki_dir(pki),
             info.thumbprint_hex);
    CHECK(file_exists(path));
    free(der);
    ua_pki_close(pki);
}

/* A CA in trusted/ (made with the openssl command) trusts what it signed. */
static void test_ca_trust(void)
{
    if (!have_openssl_cli()) {
        printf("openssl command not found: CA test skipped\n");
        return;
    }
    struct ua_pki *pki = open_store("ca");
    const char *dir = ua_pki_dir(pki);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
             "-subj /CN=TestCA -days 30 -addext basicConstraints=critical,CA:TRUE "
             "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=Issued "
             "2>/dev/null && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
             "-outform DER -out srv.der 2>/dev/null",
             dir);
    CHECK(system(cmd) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/srv.der", dir);
    size_t len = 0;
    uint8_t *der = read_bytes(path, &len);
    CHECK(der != NULL);
    if (!der) {
        ua_pki_close(pki);
        return;
    }
    enum ua_pki_verdict v;
    char msg[2048];
    CHECK(!ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_UNTRUSTED);
    CHECK(strstr(msg, "CN=Issued") != NULL);
    char from[512], to[512];
    snprintf(from, sizeof from, "%s/ca.pem", dir);
    snprintf(to, sizeof to, "%s/trusted/ca.pem", dir);
    CHECK(rename(from, to) == 0);
    CHECK(ua_pki_check_server(pki, der, len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_TRUSTED);
    /* A certificate the CA did not sign stays untrusted. */
    int64_t now = (int64_t)time(NULL);
    size_t own_len = 0;
    uint8_t *other = server_cert("Issued", now - DAY, now + DAY, &own_len, NULL);
    CHECK(!ua_pki_check_server(pki, other, own_len, &v, msg, sizeof msg));
    CHECK_EQ_INT(v, UA_PKI_UNTRUSTED);
    free(other);
    free(der);
    ua_pki_close(pki);
}

/* Broken stores give errors that name the file and say what to do. */
static void test_store_errors(void)
{
    char err[1024] = "", path[512], key[512], cert[512];
    const char *dir = fresh_dir("errors");
    struct ua_pki *pki = ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err);
    CHECK(pki != NULL);
    size_t good_len = 0;
    uint8_t good_cert[4096];
    const uint8_t *own = ua_pki_own_cert(pki, &good_len);
    memcpy(good_cert, own, good_len);
    ua_pki_close(pki);
    snprintf(key, sizeof key, "%s/own/private/key.pem", dir);
    snprintf(cert, sizeof cert, "%s/own/cert.der", dir);
    size_t key_len = 0;
    uint8_t *good_key = read_bytes(key, &key_len);

    /* Key readable by others. */
    chmod(key, 0644);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, key) != NULL && strstr(err, "mode 0644") != NULL &&
          strstr(err, "chmod 600") != NULL);
    chmod(key, 0600);

    /* Corrupt key. */
    write_bytes(key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
    chmod(key, 0600);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, key) != NULL && strstr(err, "not an unencrypted PEM private key") != NULL);
    write_bytes(key, good_key, key_len);

    /* Corrupt certificate. */
    write_bytes(cert, "\x30\x82\x01\x00garbage", 11);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, cert) != NULL && strstr(err, "not a DER certificate") != NULL);
    write_bytes(cert, "neither", 7);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, "neither a DER nor a PEM certificate") != NULL);

    /* A certificate of another key. */
    int64_t now = (int64_t)time(NULL);
    size_t other_len = 0;
    uint8_t *other = server_cert("Other", now - DAY, now + DAY, &other_len, NULL);
    write_bytes(cert, other, other_len);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, "does not belong to") != NULL);
    free(other);

    /* Our own certificate expired. */
    char *old_key = NULL;
    size_t old_len = 0;
    uint8_t *old = server_cert("Old", 1577836800, 1577923200, &old_len, &old_key);
    write_bytes(cert, old, old_len);
    write_bytes(key, old_key, strlen(old_key));
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, "our certificate expired on 2020-01-02 00:00:00 UTC") != NULL &&
          strstr(err, "create a new one") != NULL);
    free(old);
    free(old_key);

    /* Certificate without its key. */
    write_bytes(cert, good_cert, good_len);
    unlink(key);
    CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, "private key") != NULL && strstr(err, "is missing") != NULL);

    /* Key without its certificate: a new certificate for that key. */
    write_bytes(key, good_key, key_len);
    chmod(key, 0600);
    unlink(cert);
    pki = ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err);
    CHECK(pki != NULL);
    if (pki) {
        CHECK(ua_pki_created(pki));
        size_t n = 0;
        const uint8_t *fresh = ua_pki_own_cert(pki, &n);
        CHECK(n != good_len || memcmp(fresh, good_cert, n) != 0);
        struct ua_crypto_key *k =
            ua_crypto_key_from_pem((const char *)good_key, key_len, err, sizeof err);
        CHECK(ua_crypto_key_matches(k, ua_pki_own_key(pki)));
        ua_crypto_key_free(k);
        ua_pki_close(pki);
    }
    free(good_key);

    /* Unreadable key (permissions do not stop root, so only as others). */
    if (geteuid() != 0) {
        chmod(key, 0000);
        CHECK(ua_pki_open(dir, "urn:e:airlock", "e", err, sizeof err) == NULL);
        CHECK(strstr(err, key) != NULL && strstr(err, "cannot open") != NULL);
        chmod(key, 0600);
    }

    /* The store's path is a file; bad names for a new certificate. */
    snprintf(path, sizeof path, "%s/plainfile", base_dir);
    write_bytes(path, "x", 1);
    CHECK(ua_pki_open(path, "urn:e:airlock", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, path) != NULL);
    CHECK(ua_pki_open(fresh_dir("badname"), "urn:has space", "e", err, sizeof err) == NULL);
    CHECK(strstr(err, "ApplicationUri") != NULL);
    CHECK(ua_pki_open(fresh_dir("badhost"), "urn:e:airlock", "", err, sizeof err) == NULL);
    CHECK(strstr(err, "host name") != NULL);
    CHECK(ua_pki_open("", "urn:e:airlock", "e", err, sizeof err) == NULL);
}

int main(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/test_ua_pki.XXXXXX");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_create_profile();
    test_reload();
    test_ip_host();
    test_trust_flow();
    test_trust_forms();
    test_validity();
    test_bad_server_certs();
    test_ca_trust();
    test_store_errors();
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
