/* The OPC UA certificate store of the gateway: its own application
 * instance certificate and private key, and the list of server
 * certificates it trusts, in one directory (normally <data_dir>/pki):
 *
 *   own/cert.der           airlock's certificate (DER; PEM also read)
 *   own/private/key.pem    its private key, mode 0600 (directory 0700)
 *   trusted/               certificates of trusted servers, or of CAs that
 *                          issue them: *.der, *.cer, *.crt (DER or PEM) and
 *                          *.pem (one or more PEM certificates); also a file
 *                          named by a SHA-1 thumbprint (40 hex digits,
 *                          optionally ending in .txt), trusting that one
 *                          certificate without its file
 *   rejected/              server certificates seen and not trusted, named
 *                          "<CN> [<thumbprint>].der"; moving one to trusted/
 *                          trusts it
 *
 * The certificate created on first use follows OPC 10000-6 6.2.2: X.509 v3,
 * RSA 2048, SHA-256 signature, random 128-bit serial, valid 5 years (from
 * one day back, for clock skew), subject CN=airlock@<host>, O=airlock,
 * DC=<host>, self-signed; extensions basicConstraints critical CA:FALSE,
 * keyUsage critical digitalSignature nonRepudiation keyEncipherment
 * dataEncipherment keyCertSign (keyCertSign as self-signed certificates
 * carry), extendedKeyUsage serverAuth clientAuth, subjectAltName URI =
 * ApplicationUri and DNS = host name (IP address when the host is one),
 * subjectKeyIdentifier and authorityKeyIdentifier.
 *
 * A store is read-only after ua_pki_open, so ua_pki_check_server may run
 * from several threads at once (each rejected file is written atomically).
 * The trusted/ directory is read at every check: trusting a server needs no
 * restart. */
#ifndef AIRLOCK_OPCUA_UA_PKI_H
#define AIRLOCK_OPCUA_UA_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/opcua/ua_crypto.h"

#define UA_PKI_KEY_BITS 2048
#define UA_PKI_VALIDITY_DAYS 1826 /* 5 years */
/* Files larger than this in the store are refused, not read. */
#define UA_PKI_MAX_FILE_BYTES (1024 * 1024)

/* What a certificate says, as far as OPC UA cares. Text fields hold the
 * certificate's bytes with control characters replaced by '?' (a
 * certificate from the network may end up in a log line); "" when absent. */
struct ua_pki_cert_info {
    uint8_t thumbprint[UA_CRYPTO_SHA1_BYTES];          /* SHA-1 of the DER */
    char thumbprint_hex[2 * UA_CRYPTO_SHA1_BYTES + 1]; /* upper case */
    char common_name[128];
    char application_uri[512]; /* first URI in subjectAltName */
    char host[256];            /* first DNS name or IP address in subjectAltName */
    unsigned key_bits;         /* RSA modulus size; 0 if the key is not RSA */
    int64_t not_before;        /* Unix seconds, UTC */
    int64_t not_after;
    bool is_ca;       /* basicConstraints CA:TRUE */
    bool self_signed; /* issuer == subject and its own key verifies it */
};

/* Reads the first certificate of der[0..len) (a chain: the leaf). False
 * with a message when it is not a DER X.509 certificate. */
bool ua_pki_cert_info(const uint8_t *der, size_t len, struct ua_pki_cert_info *out, char *err,
                      size_t err_len);

/* SHA-1 thumbprint of the first certificate of der[0..len) (what OPC UA
 * puts in ReceiverCertificateThumbprint). False when it is not DER. */
bool ua_pki_thumbprint(const uint8_t *der, size_t len, uint8_t out[UA_CRYPTO_SHA1_BYTES]);

/* ---- Making a certificate ---------------------------------------------- */

struct ua_pki_cert_request {
    const char *application_uri; /* required: subjectAltName URI */
    const char *host;            /* required: DNS name or IP address */
    const char *common_name;     /* NULL: "airlock@<host>" (cut to 64 bytes) */
    unsigned key_bits;           /* 0: UA_PKI_KEY_BITS */
    int64_t not_before;          /* Unix seconds */
    int64_t not_after;
};

/* Makes a new RSA key and a self-signed certificate with the profile
 * described above. On success *cert_der (DER) and *key_pem (unencrypted
 * PKCS#8 PEM, with a terminating NUL not counted in *key_pem_len) are
 * malloc'd for the caller to free. URIs and host names must be printable
 * ASCII without spaces or commas. */
bool ua_pki_make_certificate(const struct ua_pki_cert_request *req, uint8_t **cert_der,
                             size_t *cert_len, char **key_pem, size_t *key_pem_len, char *err,
                             size_t err_len);

/* ---- The store ---------------------------------------------------------- */

struct ua_pki;

/* Opens the store in dir, creating the directories as needed. The first
 * time, creates own/cert.der and own/private/key.pem for application_uri
 * (e.g. "urn:<host>:airlock") and host; later, loads them. A key without
 * its certificate gets a new certificate; a certificate without its key, a
 * key readable by others, a key not matching the certificate, a corrupt
 * file or an expired own certificate are errors naming the file and what to
 * do. NULL with the message in err. The certificate kept is the one on
 * disk: use ua_pki_own_info(pki)->application_uri as the ApplicationUri of
 * the session (it differs from application_uri if the host was renamed). */
struct ua_pki *ua_pki_open(const char *dir, const char *application_uri, const char *host,
                           char *err, size_t err_len);
/* Frees the store; safe with NULL. */
void ua_pki_close(struct ua_pki *pki);

const char *ua_pki_dir(const struct ua_pki *pki);
/* True when ua_pki_open made a new certificate (worth a log line with the
 * thumbprint, since servers must then be told to trust it). */
bool ua_pki_created(const struct ua_pki *pki);
/* Our certificate (DER) and its parsed form, and our private key; valid
 * until ua_pki_close. */
const uint8_t *ua_pki_own_cert(const struct ua_pki *pki, size_t *len);
const struct ua_pki_cert_info *ua_pki_own_info(const struct ua_pki *pki);
const struct ua_crypto_key *ua_pki_own_key(const struct ua_pki *pki);

enum ua_pki_verdict {
    UA_PKI_TRUSTED = 0,
    UA_PKI_UNTRUSTED,     /* not in trusted/ (copied to rejected/) */
    UA_PKI_NOT_YET_VALID, /* validity starts in the future */
    UA_PKI_EXPIRED,       /* validity ended */
    UA_PKI_INVALID,       /* not a certificate, or unusable */
};
const char *ua_pki_verdict_name(enum ua_pki_verdict v);

/* Decides whether to talk to the server presenting cert[0..len) (a
 * certificate or a chain, leaf first). Trusted when the leaf is in
 * trusted/ (same certificate, or a file named by its thumbprint), or when a
 * CA certificate in trusted/ issued it (through the chain's other
 * certificates if needed), and the current time is within its validity.
 * Otherwise *verdict says why and msg holds one line for the user, e.g.
 *   server certificate CN=Foo (thumbprint 3F..9C) is not trusted: to
 *   trust it, move 'pki/rejected/Foo [3F..9C].der' to 'pki/trusted/'
 * or "... expired on 2024-05-01 12:00:00 UTC". An untrusted certificate is
 * written to rejected/ (also when its time is wrong). Returns true only
 * for UA_PKI_TRUSTED. */
bool ua_pki_check_server(const struct ua_pki *pki, const uint8_t *cert, size_t len,
                         enum ua_pki_verdict *verdict, char *msg, size_t msg_len);

#endif
