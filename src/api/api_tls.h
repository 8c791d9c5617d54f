/* HTTPS for the API: whether to serve TLS on an address, and the
 * certificate to serve: the one configured, or a self-signed one made on
 * first run and kept in <data_dir>/tls/ (key mode 0600). Plain HTTP is
 * served only on a loopback address unless the configuration explicitly
 * allows it. docs/api.md ("HTTPS") describes the rules. */
#ifndef AIRLOCK_API_API_TLS_H
#define AIRLOCK_API_API_TLS_H

#include <stdbool.h>
#include <stddef.h>

enum api_tls_mode {
    API_TLS_AUTO = 0, /* HTTPS unless the address is loopback */
    API_TLS_ON,       /* always HTTPS */
    API_TLS_OFF,      /* plain HTTP: refused off loopback unless allow_plain */
};

struct api_tls_options {
    enum api_tls_mode mode;
    const char *cert_file; /* PEM; with key_file, or both NULL (self-signed) */
    const char *key_file;
    bool allow_plain;     /* plain HTTP on a non-loopback address is really wanted */
    const char *data_dir; /* where a self-signed certificate is kept */
};

/* What the server needs: NULL PEMs mean plain HTTP. */
struct api_tls_material {
    char *cert_pem;        /* malloc'd, NUL-terminated */
    char *key_pem;         /* malloc'd, NUL-terminated; wiped by api_tls_material_free */
    char fingerprint[112]; /* "SHA256:AB:CD:..." (the SHA-256 of the certificate) */
    char cert_path[512];   /* the file it came from */
    bool generated;        /* made just now */
};

/* True when the host of "HOST:PORT" is a loopback address or "localhost". */
bool api_tls_listen_is_loopback(const char *listen_addr);

/* Decides for listen_addr under o and loads (or, with no configured files,
 * loads or generates) the certificate into *out. false with a message
 * naming the file or the rule otherwise (e.g. plain HTTP asked for on
 * 0.0.0.0 without allow_plain_http). */
bool api_tls_prepare(const struct api_tls_options *o, const char *listen_addr,
                     struct api_tls_material *out, char *err, size_t err_len);

void api_tls_material_free(struct api_tls_material *m);

/* Makes a self-signed certificate for host names / addresses (EC P-256,
 * SHA-256, valid 825 days from an hour ago, SAN with localhost, 127.0.0.1,
 * ::1, this machine's host name and extra_ip when not NULL) and writes the
 * key (0600) and certificate (0644) files. Creates no directory. */
bool api_tls_generate(const char *cert_path, const char *key_path, const char *extra_ip, char *err,
                      size_t err_len);

#endif
