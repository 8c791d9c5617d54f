/* The OPC UA certificate store (see ua_pki.h): making the application
 * instance certificate with OpenSSL's X509 API, the own/ trusted/ rejected/
 * directories, and the trust decision for server certificates. */
#include "drivers/opcua/ua_pki.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/errbuf.h"

#define OWN_CERT_FILE "own/cert.der"
#define OWN_KEY_FILE "own/private/key.pem"

struct ua_pki {
    char *dir;
    bool created;
    uint8_t *cert_der;
    size_t cert_len;
    struct ua_pki_cert_info info;
    struct ua_crypto_key *key;
};

/* OpenSSL's reason for the last failure; empties the thread's queue. */
static const char *ossl_reason(char *buf, size_t len)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;
    snprintf(buf, len, "%s", r ? r : "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* ---- Reading certificates ------------------------------------------------ */

/* Copies src[0..n) as text, control characters replaced by '?'. */
static void copy_printable(char *dst, size_t cap, const unsigned char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        dst[i] = (src[i] < 0x20 || src[i] == 0x7F) ? '?' : (char)src[i];
    dst[i] = '\0';
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return (int64_t)timegm(&tm);
}

static void fill_info(X509 *cert, const uint8_t *der, size_t der_len, struct ua_pki_cert_info *out)
{
    memset(out, 0, sizeof *out);
    unsigned int md_len = 0;
    EVP_Digest(der, der_len, out->thumbprint, &md_len, EVP_sha1(), NULL);
    for (size_t i = 0; i < sizeof out->thumbprint; i++)
        snprintf(out->thumbprint_hex + 2 * i, 3, "%02X", out->thumbprint[i]);

    const X509_NAME *subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
        const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        unsigned char *utf8 = NULL;
        int n = ASN1_STRING_to_UTF8(&utf8, data);
        if (n > 0) copy_printable(out->common_name, sizeof out->common_name, utf8, (size_t)n);
        OPENSSL_free(utf8);
    }

    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        int type = 0;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(gn, &type);
        if (type == GEN_URI && !out->application_uri[0]) {
            copy_printable(out->application_uri, sizeof out->application_uri,
                           ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        } else if (type == GEN_DNS && !out->host[0]) {
            copy_printable(out->host, sizeof out->host, ASN1_STRING_get0_data(s),
                           (size_t)ASN1_STRING_length(s));
        } else if (type == GEN_IPADD && !out->host[0]) {
            int n = ASN1_STRING_length(s);
            if (n == 4 || n == 16)
                inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), out->host,
                          sizeof out->host);
        }
    }
    GENERAL_NAMES_free(names);

    EVP_PKEY *pkey = X509_get0_pubkey(cert);
    if (pkey && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
        out->key_bits = (unsigned)EVP_PKEY_get_bits(pkey);
    out->not_before = asn1_time_to_unix(X509_get0_notBefore(cert));
    out->not_after = asn1_time_to_unix(X509_get0_notAfter(cert));
    out->is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
    out->self_signed = X509_self_signed(cert, 1) == 1;
    ERR_clear_error();
}

/* Parses the first certificate of der[0..len); *leaf_len gets its size. */
static X509 *parse_leaf(const uint8_t *der, size_t len, size_t *leaf_len, char *err, size_t err_len)
{
    size_t leaf = ua_crypto_cert_leaf_bytes(der, len);
    if (!leaf || leaf > LONG_MAX) {
        errbuf_set(err, err_len, "not a DER certificate (%zu bytes, no complete DER SEQUENCE)",
                   len);
        return NULL;
    }
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)leaf);
    if (!cert || p != der + leaf) {
        char why[160];
        X509_free(cert);
        errbuf_set(err, err_len, "not a valid X.509 certificate (%s)",
                   ossl_reason(why, sizeof why));
        return NULL;
    }
    *leaf_len = leaf;
    return cert;
}

bool ua_pki_cert_info(const uint8_t *der, size_t len, struct ua_pki_cert_info *out, char *err,
                      size_t err_len)
{
    size_t leaf = 0;
    X509 *cert = parse_leaf(der, len, &leaf, err, err_len);
    if (!cert) return false;
    fill_info(cert, der, leaf, out);
    X509_free(cert);
    return true;
}

bool ua_pki_thumbprint(const uint8_t *der, size_t len, uint8_t out[UA_CRYPTO_SHA1_BYTES])
{
    size_t leaf = ua_crypto_cert_leaf_bytes(der, len);
    unsigned int n = 0;
    if (!leaf || EVP_Digest(der, leaf, out, &n, EVP_sha1(), NULL) != 1) {
        ERR_clear_error();
        return false;
    }
    return n == UA_CRYPTO_SHA1_BYTES;
}

/* ---- Making a certificate ------------------------------------------------ */

/* Printable ASCII without space or comma: safe in an IA5String and in any
 * message or file name built from it. */
static bool is_plain_ascii(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7F || s[i] == ',') return false;
    return true;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static bool add_name(GENERAL_NAMES *names, int type, const void *data, int len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (!gn || !s || ASN1_STRING_set(s, data, len) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_STRING_free(s);
        return false;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    if (!sk_GENERAL_NAME_push(names, gn)) {
        GENERAL_NAME_free(gn);
        return false;
    }
    return true;
}

static bool add_subject_alt_name(X509 *x, const char *uri, const char *host)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    unsigned char ip[16];
    bool ok = names && add_name(names, GEN_URI, uri, (int)strlen(uri));
    if (ok && inet_pton(AF_INET, host, ip) == 1)
        ok = add_name(names, GEN_IPADD, ip, 4);
    else if (ok && inet_pton(AF_INET6, host, ip) == 1)
        ok = add_name(names, GEN_IPADD, ip, 16);
    else if (ok)
        ok = add_name(names, GEN_DNS, host, (int)strlen(host));
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(names);
    return ok;
}

static bool set_random_serial(X509 *x)
{
    uint8_t bytes[16];
    if (!ua_crypto_random(bytes, sizeof bytes)) return false;
    bytes[0] = (uint8_t)((bytes[0] & 0x7F) | 0x40); /* positive, full 16 bytes */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool set_subject(X509 *x, const char *cn, const char *host)
{
    X509_NAME *name = X509_get_subject_name(x);
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                      0) == 1 &&
           X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"airlock",
                                      -1, -1, 0) == 1 &&
           X509_NAME_add_entry_by_txt(name, "DC", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
                                      0) == 1 &&
           X509_set_issuer_name(x, name) == 1;
}

/* A self-signed certificate for pkey per the profile in ua_pki.h. */
static X509 *build_certificate(const struct ua_pki_cert_request *req, EVP_PKEY *pkey)
{
    char cn[65];
    if (req->common_name)
        snprintf(cn, sizeof cn, "%s", req->common_name);
    else
        snprintf(cn, sizeof cn, "airlock@%s", req->host);
    X509 *x = X509_new();
    X509V3_CTX ctx;
    bool ok = x && X509_set_version(x, X509_VERSION_3) == 1 && set_random_serial(x) &&
              ASN1_TIME_set(X509_getm_notBefore(x), (time_t)req->not_before) &&
              ASN1_TIME_set(X509_getm_notAfter(x), (time_t)req->not_after) &&
              set_subject(x, cn, req->host) && X509_set_pubkey(x, pkey) == 1;
    if (ok) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage,
                     "critical,digitalSignature,nonRepudiation,keyEncipherment,"
                     "dataEncipherment,keyCertSign") &&
             add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
             add_subject_alt_name(x, req->application_uri, req->host) &&
             X509_sign(x, pkey, EVP_sha256()) > 0;
    }
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool check_request(const struct ua_pki_cert_request *req, char *err, size_t err_len)
{
    if (!req || !is_plain_ascii(req->application_uri, 400)) {
        errbuf_set(err, err_len,
                   "certificate: ApplicationUri must be 1..400 printable ASCII characters without "
                   "spaces or commas");
        return false;
    }
    if (!is_plain_ascii(req->host, 253)) {
        errbuf_set(err, err_len,
                   "certificate: host name must be 1..253 printable ASCII characters without "
                   "spaces or commas");
        return false;
    }
    if (req->not_after <= req->not_before) {
        errbuf_set(err, err_len, "certificate: validity ends before it starts");
        return false;
    }
    return true;
}

/* Certificate for an existing key: *cert_der malloc'd. */
static bool certify_key(const struct ua_pki_cert_request *req, EVP_PKEY *pkey, uint8_t **cert_der,
                        size_t *cert_len, char *err, size_t err_len)
{
    char why[160];
    X509 *x = build_certificate(req, pkey);
    if (!x) {
        errbuf_set(err, err_len, "certificate: cannot build it (%s)", ossl_reason(why, sizeof why));
        return false;
    }
    int n = i2d_X509(x, NULL);
    uint8_t *der = n > 0 ? malloc((size_t)n) : NULL;
    unsigned char *p = der;
    bool ok = der && i2d_X509(x, &p) == n;
    X509_free(x);
    if (!ok) {
        free(der);
        errbuf_set(err, err_len, "certificate: cannot encode it (%s)",
                   ossl_reason(why, sizeof why));
        return false;
    }
    *cert_der = der;
    *cert_len = (size_t)n;
    return true;
}

static char *key_to_pem(EVP_PKEY *pkey, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    if (bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (pem = malloc((size_t)n + 1)) != NULL) {
            memcpy(pem, data, (size_t)n);
            pem[n] = '\0';
            *len = (size_t)n;
        }
    }
    BIO_free(bio);
    return pem;
}

bool ua_pki_make_certificate(const struct ua_pki_cert_request *req, uint8_t **cert_der,
                             size_t *cert_len, char **key_pem, size_t *key_pem_len, char *err,
                             size_t err_len)
{
    if (!check_request(req, err, err_len)) return false;
    unsigned bits = req->key_bits ? req->key_bits : UA_PKI_KEY_BITS;
    if (bits < 1024 || bits > 8192) {
        errbuf_set(err, err_len, "certificate: key size %u bits is outside 1024..8192", bits);
        return false;
    }
    char why[160];
    EVP_PKEY *pkey = EVP_RSA_gen(bits);
    if (!pkey) {
        errbuf_set(err, err_len, "certificate: cannot generate an RSA key (%s)",
                   ossl_reason(why, sizeof why));
        return false;
    }
    bool ok = certify_key(req, pkey, cert_der, cert_len, err, err_len);
    if (ok) {
        *key_pem = key_to_pem(pkey, key_pem_len);
        if (!*key_pem) {
            errbuf_set(err, err_len, "certificate: cannot write the key as PEM (%s)",
                       ossl_reason(why, sizeof why));
            free(*cert_der);
            *cert_der = NULL;
            ok = false;
        }
    }
    EVP_PKEY_free(pkey);
    return ok;
}

/* ---- Files --------------------------------------------------------------- */

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads a whole regular file of at most UA_PKI_MAX_FILE_BYTES; the buffer
 * gets a NUL after the data (not counted). */
static bool read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errbuf_set(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errbuf_set(err, err_len, "%s: not a regular file", path);
        close(fd);
        return false;
    }
    if (st.st_size > UA_PKI_MAX_FILE_BYTES) {
        errbuf_set(err, err_len, "%s: %lld bytes, larger than the %d allowed", path,
                   (long long)st.st_size, UA_PKI_MAX_FILE_BYTES);
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    int saved = errno;
    close(fd);
    if (!buf || got != size) {
        errbuf_set(err, err_len, "%s: cannot read: %s", path,
                   buf ? strerror(saved) : "out of memory");
        free(buf);
        return false;
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return true;
}

/* Writes path atomically (temporary file, fsync, rename) with mode. */
static bool write_file(const char *path, const void *data, size_t len, mode_t mode, char *err,
                       size_t err_len)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) {
        errbuf_set(err, err_len, "%s: out of memory", path);
        return false;
    }
    snprintf(tmp, n, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* created 0600, so a key is never readable by others */
    bool ok = fd >= 0 && fchmod(fd, mode) == 0;
    size_t done = 0;
    while (ok && done < len) {
        ssize_t w = write(fd, (const uint8_t *)data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        ok = w > 0;
        if (ok) done += (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        errbuf_set(err, err_len, "%s: cannot write: %s", path, strerror(saved));
        if (fd >= 0) unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* mkdir -p with mode for the last component; existing directories are fine. */
static bool make_dir(const char *path, mode_t mode, char *err, size_t err_len)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errbuf_set(err, err_len, "%s: path too long", path);
        return false;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            errbuf_set(err, err_len, "%s: cannot create directory: %s", buf, strerror(errno));
            return false;
        }
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) {
        errbuf_set(err, err_len, "%s: cannot create directory: %s", buf, strerror(errno));
        return false;
    }
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errbuf_set(err, err_len, "%s: not a directory", buf);
        return false;
    }
    return true;
}

/* DER as is, or the first PEM certificate converted to DER. */
static bool cert_file_to_der(const char *path, const uint8_t *data, size_t len, uint8_t **der,
                             size_t *der_len, char *err, size_t err_len)
{
    if (len > 0 && data[0] == 0x30) {
        struct ua_pki_cert_info info;
        char why[200];
        if (!ua_pki_cert_info(data, len, &info, why, sizeof why)) {
            errbuf_set(err, err_len, "%s: %s", path, why);
            return false;
        }
        size_t leaf = ua_crypto_cert_leaf_bytes(data, len);
        *der = malloc(leaf);
        if (!*der) {
            errbuf_set(err, err_len, "%s: out of memory", path);
            return false;
        }
        memcpy(*der, data, leaf);
        *der_len = leaf;
        return true;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int n = x ? i2d_X509(x, NULL) : 0;
    unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
    *der = p;
    bool ok = p && i2d_X509(x, &p) == n;
    X509_free(x);
    ERR_clear_error();
    if (!ok) {
        free(*der);
        *der = NULL;
        errbuf_set(err, err_len, "%s: neither a DER nor a PEM certificate", path);
        return false;
    }
    *der_len = (size_t)n;
    return true;
}

/* ---- The store ----------------------------------------------------------- */

static void format_utc(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "%lld (Unix time)", (long long)t);
}

/* Creates own/ files: a new key, or a certificate for an existing key. */
static bool create_own(struct ua_pki *pki, const char *cert_path, const char *key_path,
                       bool have_key, const char *uri, const char *host, char *err, size_t err_len)
{
    int64_t now = (int64_t)time(NULL);
    struct ua_pki_cert_request req = {
        .application_uri = uri,
        .host = host,
        .key_bits = UA_PKI_KEY_BITS,
        .not_before = now - 24 * 3600,
        .not_after = now + (int64_t)UA_PKI_VALIDITY_DAYS * 24 * 3600,
    };
    uint8_t *cert = NULL;
    size_t cert_len = 0;
    bool ok;
    if (have_key) {
        uint8_t *pem = NULL;
        size_t pem_len = 0;
        char why[256];
        ok = read_file(key_path, &pem, &pem_len, err, err_len);
        BIO *bio = ok ? BIO_new_mem_buf(pem, (int)pem_len) : NULL;
        EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"") : NULL;
        BIO_free(bio);
        if (pem) OPENSSL_cleanse(pem, pem_len);
        free(pem);
        if (ok && !pkey) {
            errbuf_set(err, err_len, "%s: not an unencrypted PEM private key (%s)", key_path,
                       ossl_reason(why, sizeof why));
            ok = false;
        }
        ok = ok && check_request(&req, err, err_len) &&
             certify_key(&req, pkey, &cert, &cert_len, err, err_len);
        EVP_PKEY_free(pkey);
    } else {
        char *pem = NULL;
        size_t pem_len = 0;
        ok = ua_pki_make_certificate(&req, &cert, &cert_len, &pem, &pem_len, err, err_len) &&
             write_file(key_path, pem, pem_len, 0600, err, err_len);
        if (pem) OPENSSL_cleanse(pem, pem_len);
        free(pem);
    }
    ok = ok && write_file(cert_path, cert, cert_len, 0644, err, err_len);
    free(cert);
    pki->created = ok;
    return ok;
}

static bool load_own(struct ua_pki *pki, const char *cert_path, const char *key_path, char *err,
                     size_t err_len)
{
    struct stat st;
    if (stat(key_path, &st) != 0) {
        errbuf_set(err, err_len, "%s: %s", key_path, strerror(errno));
        return false;
    }
    if (st.st_mode & 077) {
        errbuf_set(err, err_len,
                   "%s: the private key is accessible by group or others (mode %04o): run "
                   "'chmod 600 %s'",
                   key_path, (unsigned)(st.st_mode & 07777), key_path);
        return false;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    char why[256];
    if (!read_file(key_path, &data, &len, err, err_len)) return false;
    pki->key = ua_crypto_key_from_pem((const char *)data, len, why, sizeof why);
    OPENSSL_cleanse(data, len);
    free(data);
    if (!pki->key) {
        errbuf_set(err, err_len, "%s: %s", key_path, why);
        return false;
    }
    if (!ua_crypto_policy_check_key(ua_crypto_policy_get(UA_CRYPTO_POLICY_BASIC256SHA256), pki->key,
                                    "the private", why, sizeof why)) {
        errbuf_set(err, err_len, "%s: %s", key_path, why);
        return false;
    }

    if (!read_file(cert_path, &data, &len, err, err_len)) return false;
    bool ok = cert_file_to_der(cert_path, data, len, &pki->cert_der, &pki->cert_len, err, err_len);
    free(data);
    if (!ok || !ua_pki_cert_info(pki->cert_der, pki->cert_len, &pki->info, why, sizeof why)) {
        if (ok) errbuf_set(err, err_len, "%s: %s", cert_path, why);
        return false;
    }
    struct ua_crypto_key *pub =
        ua_crypto_key_from_cert(pki->cert_der, pki->cert_len, why, sizeof why);
    bool match = pub && ua_crypto_key_matches(pub, pki->key);
    ua_crypto_key_free(pub);
    if (!match) {
        errbuf_set(err, err_len,
                   "%s does not belong to %s (different public key): restore the matching pair, "
                   "or remove both to create a new certificate",
                   cert_path, key_path);
        return false;
    }
    int64_t now = (int64_t)time(NULL);
    char when[64];
    if (now > pki->info.not_after) {
        format_utc(pki->info.not_after, when, sizeof when);
        errbuf_set(
            err, err_len,
            "%s: our certificate expired on %s: remove it and %s to create a new one (servers "
            "will then have to trust the new one)",
            cert_path, when, key_path);
        return false;
    }
    if (now < pki->info.not_before) {
        format_utc(pki->info.not_before, when, sizeof when);
        errbuf_set(err, err_len,
                   "%s: our certificate is not valid before %s: is this machine's clock right?",
                   cert_path, when);
        return false;
    }
    if (!pki->info.application_uri[0]) {
        errbuf_set(err, err_len, "%s: the certificate has no ApplicationUri (subjectAltName URI)",
                   cert_path);
        return false;
    }
    return true;
}

struct ua_pki *ua_pki_open(const char *dir, const char *application_uri, const char *host,
                           char *err, size_t err_len)
{
    if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 64) {
        errbuf_set(err, err_len, "certificate store: no directory, or its path is too long");
        return NULL;
    }
    struct ua_pki *pki = calloc(1, sizeof *pki);
    if (!pki || !(pki->dir = strdup(dir))) {
        free(pki);
        errbuf_set(err, err_len, "certificate store: out of memory");
        return NULL;
    }
    char path[PATH_MAX];
    static const struct {
        const char *name;
        mode_t mode;
    } dirs[] = {
        {"", 0755}, {"own", 0755}, {"own/private", 0700}, {"trusted", 0755}, {"rejected", 0755}};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, dirs[i].name);
        if (!make_dir(path, dirs[i].mode, err, err_len)) {
            ua_pki_close(pki);
            return NULL;
        }
    }
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    snprintf(cert_path, sizeof cert_path, "%s/%s", dir, OWN_CERT_FILE);
    snprintf(key_path, sizeof key_path, "%s/%s", dir, OWN_KEY_FILE);
    struct stat st;
    bool have_cert = stat(cert_path, &st) == 0;
    bool have_key = stat(key_path, &st) == 0;
    bool ok = true;
    if (have_cert && !have_key) {
        errbuf_set(err, err_len,
                   "%s exists but its private key %s is missing: restore the key, or remove the "
                   "certificate to create a new pair",
                   cert_path, key_path);
        ok = false;
    } else if (!have_cert) {
        ok = create_own(pki, cert_path, key_path, have_key, application_uri, host, err, err_len);
    }
    if (!ok || !load_own(pki, cert_path, key_path, err, err_len)) {
        ua_pki_close(pki);
        return NULL;
    }
    return pki;
}

void ua_pki_close(struct ua_pki *pki)
{
    if (!pki) return;
    ua_crypto_key_free(pki->key);
    free(pki->cert_der);
    free(pki->dir);
    free(pki);
}

const char *ua_pki_dir(const struct ua_pki *pki)
{
    return pki->dir;
}

bool ua_pki_created(const struct ua_pki *pki)
{
    return pki->created;
}

const uint8_t *ua_pki_own_cert(const struct ua_pki *pki, size_t *len)
{
    *len = pki->cert_len;
    return pki->cert_der;
}

const struct ua_pki_cert_info *ua_pki_own_info(const struct ua_pki *pki)
{
    return &pki->info;
}

const struct ua_crypto_key *ua_pki_own_key(const struct ua_pki *pki)
{
    return pki->key;
}

/* ---- Trust decision ------------------------------------------------------ */

const char *ua_pki_verdict_name(enum ua_pki_verdict v)
{
    switch (v) {
    case UA_PKI_TRUSTED:
        return "trusted";
    case UA_PKI_UNTRUSTED:
        return "untrusted";
    case UA_PKI_NOT_YET_VALID:
        return "not yet valid";
    case UA_PKI_EXPIRED:
        return "expired";
    case UA_PKI_INVALID:
        return "invalid";
    }
    return "unknown";
}

static bool is_hex40(const char *s, size_t n)
{
    if (n != 40) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n > m && strcasecmp(name + n - m, suffix) == 0;
}

/* What the trusted/ directory holds, gathered for one decision. */
struct trust_scan {
    const struct ua_pki_cert_info *leaf;
    bool direct;     /* the leaf itself is trusted */
    X509_STORE *cas; /* CA certificates found, for chain building */
    int ca_count;
    char problem[400]; /* first unreadable file, reported with a refusal */
};

static void note_problem(struct trust_scan *scan, const char *what)
{
    if (scan->problem[0]) return;
    size_t n = strnlen(what, sizeof scan->problem - 1);
    memcpy(scan->problem, what, n);
    scan->problem[n] = '\0';
}

/* Looks at one certificate found in trusted/. */
static void scan_cert(struct trust_scan *scan, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    uint8_t tp[UA_CRYPTO_SHA1_BYTES];
    unsigned int md_len = 0;
    if (n > 0 && EVP_Digest(der, (size_t)n, tp, &md_len, EVP_sha1(), NULL) == 1 &&
        memcmp(tp, scan->leaf->thumbprint, sizeof tp) == 0)
        scan->direct = true;
    OPENSSL_free(der);
    if (X509_get_extension_flags(x) & EXFLAG_CA) {
        if (X509_STORE_add_cert(scan->cas, x) == 1) scan->ca_count++;
    }
    ERR_clear_error();
}

static void scan_file(struct trust_scan *scan, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char why[300];
    if (!read_file(path, &data, &len, why, sizeof why)) {
        note_problem(scan, why);
        return;
    }
    int found = 0;
    if (len > 0 && data[0] == 0x30) {
        /* DER: one certificate, or several concatenated. */
        size_t off = 0;
        while (off < len) {
            size_t one = ua_crypto_cert_leaf_bytes(data + off, len - off);
            const unsigned char *p = data + off;
            X509 *x = one ? d2i_X509(NULL, &p, (long)one) : NULL;
            if (!x) break;
            scan_cert(scan, x);
            X509_free(x);
            found++;
            off += one;
        }
    } else {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        X509 *x;
        while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            scan_cert(scan, x);
            X509_free(x);
            found++;
        }
        BIO_free(bio);
    }
    ERR_clear_error();
    free(data);
    if (!found) {
        snprintf(why, sizeof why, "%s holds no readable certificate", path);
        note_problem(scan, why);
    }
}

static void scan_trusted(const struct ua_pki *pki, struct trust_scan *scan)
{
    char dir_path[PATH_MAX];
    snprintf(dir_path, sizeof dir_path, "%s/trusted", pki->dir);
    DIR *d = opendir(dir_path);
    if (!d) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof why, "%s: cannot list: %s", dir_path, strerror(errno));
        note_problem(scan, why);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.') continue;
        size_t n = strlen(name);
        if (is_hex40(name, n) || (n == 44 && has_suffix(name, ".txt") && is_hex40(name, 40))) {
            if (strncasecmp(name, scan->leaf->thumbprint_hex, 40) == 0) scan->direct = true;
            continue;
        }
        if (!has_suffix(name, ".der") && !has_suffix(name, ".cer") && !has_suffix(name, ".crt") &&
            !has_suffix(name, ".pem"))
            continue;
        char *path = path_join(dir_path, name);
        if (path) scan_file(scan, path);
        free(path);
    }
    closedir(d);
}

/* True when a CA in scan->cas issued the leaf, possibly through the other
 * certificates of the chain. Validity times are checked separately. */
static bool verified_by_ca(struct trust_scan *scan, X509 *leaf, const uint8_t *chain, size_t len,
                           size_t leaf_len)
{
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    size_t off = leaf_len;
    while (untrusted && off < len) {
        size_t one = ua_crypto_cert_leaf_bytes(chain + off, len - off);
        const unsigned char *p = chain + off;
        X509 *x = one ? d2i_X509(NULL, &p, (long)one) : NULL;
        if (!x) break;
        if (!sk_X509_push(untrusted, x)) {
            X509_free(x);
            break;
        }
        off += one;
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool ok = false;
    if (untrusted && ctx && X509_STORE_CTX_init(ctx, scan->cas, leaf, untrusted) == 1) {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(untrusted, X509_free);
    ERR_clear_error();
    return ok;
}

/* A file-name-safe form of the certificate's name. */
static void safe_name(const struct ua_pki_cert_info *info, char *out, size_t cap)
{
    const char *src = info->common_name[0] ? info->common_name
                      : info->host[0]      ? info->host
                                           : "unknown";
    size_t i = 0;
    for (; src[i] && i + 1 < cap && i < 64; i++) {
        unsigned char c = (unsigned char)src[i];
        out[i] =
            (isalnum(c) || c == ' ' || c == '.' || c == '_' || c == '-' || c == '@' || c == ':')
                ? (char)c
                : '_';
    }
    out[i] = '\0';
    if (out[0] == '.') out[0] = '_';
}

/* Writes the certificate to rejected/; *path gets where. */
static bool write_rejected(const struct ua_pki *pki, const struct ua_pki_cert_info *info,
                           const uint8_t *der, size_t len, char *path, size_t path_cap, char *why,
                           size_t why_len)
{
    char name[80];
    safe_name(info, name, sizeof name);
    snprintf(path, path_cap, "%s/rejected/%s [%s].der", pki->dir, name, info->thumbprint_hex);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len)
        return true; /* already there from an earlier attempt */
    return write_file(path, der, len, 0644, why, why_len);
}

bool ua_pki_check_server(const struct ua_pki *pki, const uint8_t *cert, size_t len,
                         enum ua_pki_verdict *verdict, char *msg, size_t msg_len)
{
    char why[400];
    size_t leaf_len = 0;
    X509 *leaf = parse_leaf(cert, len, &leaf_len, why, sizeof why);
    if (!leaf) {
        *verdict = UA_PKI_INVALID;
        errbuf_set(msg, msg_len, "server certificate: %s", why);
        return false;
    }
    struct ua_pki_cert_info info;
    fill_info(leaf, cert, leaf_len, &info);

    struct trust_scan scan = {.leaf = &info, .cas = X509_STORE_new()};
    if (!scan.cas) {
        X509_free(leaf);
        *verdict = UA_PKI_INVALID;
        errbuf_set(msg, msg_len, "server certificate: out of memory");
        return false;
    }
    scan_trusted(pki, &scan);
    bool trusted =
        scan.direct || (scan.ca_count > 0 && verified_by_ca(&scan, leaf, cert, len, leaf_len));
    X509_STORE_free(scan.cas);
    X509_free(leaf);

    char who[300];
    snprintf(who, sizeof who, "server certificate CN=%s (thumbprint %s)",
             info.common_name[0] ? info.common_name : "(none)", info.thumbprint_hex);

    char rejected[PATH_MAX + 128] = "";
    char untrusted_note[PATH_MAX * 2 + 600] = "";
    if (!trusted) {
        if (write_rejected(pki, &info, cert, leaf_len, rejected, sizeof rejected, why, sizeof why))
            snprintf(untrusted_note, sizeof untrusted_note,
                     "to trust it, move '%s' to '%s/trusted/'", rejected, pki->dir);
        else
            snprintf(untrusted_note, sizeof untrusted_note,
                     "could not save it for you (%s): copy the server's certificate into "
                     "'%s/trusted/' to trust it",
                     why, pki->dir);
        if (scan.problem[0]) {
            size_t n = strlen(untrusted_note);
            snprintf(untrusted_note + n, sizeof untrusted_note - n, " (note: %s)", scan.problem);
        }
    }

    int64_t now = (int64_t)time(NULL);
    char when[64];
    if (now < info.not_before || now > info.not_after) {
        bool early = now < info.not_before;
        *verdict = early ? UA_PKI_NOT_YET_VALID : UA_PKI_EXPIRED;
        format_utc(early ? info.not_before : info.not_after, when, sizeof when);
        errbuf_set(msg, msg_len, "%s %s %s%s%s", who, early ? "is not valid before" : "expired on",
                   when, trusted ? "" : "; it is also not trusted: ", untrusted_note);
        return false;
    }
    if (!trusted) {
        *verdict = UA_PKI_UNTRUSTED;
        errbuf_set(msg, msg_len, "%s is not trusted: %s", who, untrusted_note);
        return false;
    }
    *verdict = UA_PKI_TRUSTED;
    if (msg && msg_len) msg[0] = '\0';
    return true;
}
