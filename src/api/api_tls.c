/* HTTPS material for the API server: the plain-or-TLS decision, reading the
 * configured PEM files, and making a self-signed certificate with OpenSSL
 * when none is configured. See api_tls.h. */
#include "api/api_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"

#define PEM_MAX_BYTES (1 << 20)
#define CERT_VALID_DAYS 825

void api_tls_material_free(struct api_tls_material *m)
{
    if (!m) return;
    free(m->cert_pem);
    if (m->key_pem) {
        OPENSSL_cleanse(m->key_pem, strlen(m->key_pem));
        free(m->key_pem);
    }
    memset(m, 0, sizeof *m);
}

/* The host part of "HOST:PORT" / "[V6]:PORT" into out. */
static bool listen_host(const char *listen_addr, char *out, size_t len)
{
    const char *colon = strrchr(listen_addr, ':');
    if (!colon) return false;
    const char *start = listen_addr;
    size_t n = (size_t)(colon - listen_addr);
    if (n >= 2 && start[0] == '[' && start[n - 1] == ']') {
        start++;
        n -= 2;
    }
    if (n >= len) return false;
    memcpy(out, start, n);
    out[n] = '\0';
    return true;
}

bool api_tls_listen_is_loopback(const char *listen_addr)
{
    char host[256];
    if (!listen_host(listen_addr, host, sizeof host)) return false;
    if (strcmp(host, "localhost") == 0) return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

/* The whole of a (small) text file, or NULL with err. */
static char *read_pem(const char *path, const char *what, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot read the HTTPS %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(PEM_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX_BYTES + 1, f) : 0;
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed || n == 0 || n > PEM_MAX_BYTES) {
        snprintf(err, err_len, "cannot read the HTTPS %s %s: %s", what, path,
                 !buf                ? "out of memory"
                 : n > PEM_MAX_BYTES ? "larger than 1 MiB"
                                     : "empty or unreadable");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The SHA-256 fingerprint of the first certificate in pem. */
static bool fingerprint_of(const char *pem, char *out, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x) return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    bool ok = X509_digest(x, EVP_sha256(), md, &mdlen) == 1;
    X509_free(x);
    if (!ok || len < 8 + mdlen * 3) return false;
    size_t k = (size_t)snprintf(out, len, "SHA256:");
    for (unsigned i = 0; i < mdlen; i++)
        k += (size_t)snprintf(out + k, len - k, i ? ":%02X" : "%02X", md[i]);
    return true;
}

/* Encrypted keys are not supported: never prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Checks that key_pem is a private key matching the certificate. */
static bool key_matches(const char *cert_pem, const char *key_pem)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL) : NULL;
    bool ok = x && k && X509_check_private_key(x, k) == 1;
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return ok;
}

/* Adds one X509v3 extension given in OpenSSL's text form. */
static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Writes text to path with mode (replacing it) and fsyncs. */
static bool write_file_mode(const char *path, const char *text, size_t len, mode_t mode)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return false;
    bool ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}

/* PEM text of a key or certificate through a memory BIO (malloc'd). */
static char *bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0) return NULL;
    char *out = malloc((size_t)n + 1);
    if (!out) return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

bool api_tls_generate(const char *cert_path, const char *key_path, const char *extra_ip, char *err,
                      size_t err_len)
{
    bool ok = false;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    char *key_text = NULL, *cert_text = NULL;
    unsigned char serial[16];
    char host[256] = "localhost", san[768];
    if (!key || !x || !kb || !cb || RAND_bytes(serial, sizeof serial) != 1) goto out;
    serial[0] &= 0x7f; /* a positive serial number */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    bool serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    if (!serial_ok) goto out;
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    char cn[300];
    snprintf(cn, sizeof cn, "airlock %s (self-signed)", host);
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_VALID_DAYS * 86400) ||
        X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"airlock", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1)
        goto out;
    int n = snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    bool host_ok =
        host[0] && strcmp(host, "localhost") != 0 &&
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
            strlen(host);
    if (host_ok) n += snprintf(san + n, sizeof san - (size_t)n, ",DNS:%s", host);
    if (extra_ip && *extra_ip && strcmp(extra_ip, "0.0.0.0") != 0 && strcmp(extra_ip, "::") != 0 &&
        strcmp(extra_ip, "127.0.0.1") != 0 && strcmp(extra_ip, "::1") != 0)
        snprintf(san + n, sizeof san - (size_t)n, ",IP:%s", extra_ip);
    if (!add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth") ||
        !add_ext(x, NID_subject_key_identifier, "hash") || !add_ext(x, NID_subject_alt_name, san) ||
        X509_sign(x, key, EVP_sha256()) <= 0)
        goto out;
    if (PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cb, x) != 1 || !(key_text = bio_text(kb)) || !(cert_text = bio_text(cb)))
        goto out;
    if (!write_file_mode(key_path, key_text, strlen(key_text), 0600)) {
        snprintf(err, err_len, "cannot write the HTTPS key %s: %s", key_path, strerror(errno));
        goto done;
    }
    if (!write_file_mode(cert_path, cert_text, strlen(cert_text), 0644)) {
        snprintf(err, err_len, "cannot write the HTTPS certificate %s: %s", cert_path,
                 strerror(errno));
        goto done;
    }
    ok = true;
    goto done;
out:
    snprintf(err, err_len, "cannot make a self-signed HTTPS certificate (OpenSSL failed)");
done:
    if (key_text) {
        OPENSSL_cleanse(key_text, strlen(key_text));
        free(key_text);
    }
    free(cert_text);
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

/* Loads the PEM pair into out, checking that they belong together. */
static bool load_pair(const char *cert_path, const char *key_path, struct api_tls_material *out,
                      char *err, size_t err_len)
{
    out->cert_pem = read_pem(cert_path, "certificate", err, err_len);
    if (!out->cert_pem) return false;
    out->key_pem = read_pem(key_path, "key", err, err_len);
    if (!out->key_pem) {
        api_tls_material_free(out);
        return false;
    }
    if (!fingerprint_of(out->cert_pem, out->fingerprint, sizeof out->fingerprint)) {
        snprintf(err, err_len, "the HTTPS certificate %s holds no PEM certificate", cert_path);
        api_tls_material_free(out);
        return false;
    }
    if (!key_matches(out->cert_pem, out->key_pem)) {
        snprintf(err, err_len, "the HTTPS key %s is not a PEM private key for the certificate %s",
                 key_path, cert_path);
        api_tls_material_free(out);
        return false;
    }
    snprintf(out->cert_path, sizeof out->cert_path, "%s", cert_path);
    return true;
}

bool api_tls_prepare(const struct api_tls_options *o, const char *listen_addr,
                     struct api_tls_material *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    bool loopback = api_tls_listen_is_loopback(listen_addr);
    bool tls = o->mode == API_TLS_ON || (o->mode == API_TLS_AUTO && !loopback);
    if (!tls) {
        if (!loopback && !o->allow_plain) {
            snprintf(err, err_len,
                     "plain HTTP on %s (not a loopback address) would send passwords and "
                     "session cookies in the clear: use https (http.tls: auto or on) or set "
                     "http.allow_plain_http: true",
                     listen_addr);
            return false;
        }
        return true;
    }
    if (o->cert_file || o->key_file) {
        if (!o->cert_file || !o->key_file) {
            snprintf(err, err_len, "http.cert_file and http.key_file go together: give both");
            return false;
        }
        return load_pair(o->cert_file, o->key_file, out, err, err_len);
    }
    char dir[512], cert[600], key[600];
    snprintf(dir, sizeof dir, "%s/tls", o->data_dir ? o->data_dir : "./data");
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (access(cert, F_OK) != 0 || access(key, F_OK) != 0) {
        if (!fs_make_dirs(dir)) {
            snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
            return false;
        }
        chmod(dir, 0700);
        char host[256] = "";
        listen_host(listen_addr, host, sizeof host);
        struct in_addr v4;
        struct in6_addr v6;
        bool numeric = inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1;
        if (!api_tls_generate(cert, key, numeric ? host : NULL, err, err_len)) return false;
        out->generated = true;
    }
    return load_pair(cert, key, out, err, err_len);
}
