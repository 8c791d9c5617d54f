/* The OPC UA client: options, connecting (endpoint discovery, certificate
 * trust, secure channel, CreateSession / ActivateSession), closing, and
 * GetEndpoints without a session. See ua_client.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "drivers/opcua/ua_client_internal.h"

#define UA_TRANSPORT_PROFILE_BINARY                                                                \
    "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"

/* Operation limits of Server.ServerCapabilities.OperationLimits (Part 5). */
#define UA_NS0_MAX_NODES_PER_READ 11705
#define UA_NS0_MAX_NODES_PER_WRITE 11707
#define UA_NS0_MAX_NODES_PER_BROWSE 11710
#define UA_NS0_MAX_NODES_PER_TRANSLATE 11712
#define UA_NS0_MAX_MONITORED_ITEMS_PER_CALL 11714

/* ---------------------------------------------------------------- helpers */

bool ua_client_parse_security(const char *text, enum ua_crypto_policy_id *policy,
                              enum ua_channel_mode *mode)
{
    if (!text) return false;
    if (strcasecmp(text, "none") == 0) {
        *policy = UA_CRYPTO_POLICY_NONE;
        *mode = UA_CHANNEL_MODE_NONE;
        return true;
    }
    if (strcasecmp(text, "sign") == 0) {
        *policy = UA_CRYPTO_POLICY_BASIC256SHA256;
        *mode = UA_CHANNEL_MODE_SIGN;
        return true;
    }
    if (strcasecmp(text, "signandencrypt") == 0 || strcasecmp(text, "sign_and_encrypt") == 0 ||
        strcasecmp(text, "sign-and-encrypt") == 0) {
        *policy = UA_CRYPTO_POLICY_BASIC256SHA256;
        *mode = UA_CHANNEL_MODE_SIGN_AND_ENCRYPT;
        return true;
    }
    return false;
}

bool ua_client_parse_url(const char *url, char *host, size_t host_cap, uint16_t *port)
{
    static const char scheme[] = "opc.tcp://";
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) return false;
    const char *p = url + sizeof scheme - 1;
    const char *h = p, *h_end;
    if (*p == '[') {
        h = p + 1;
        h_end = strchr(h, ']');
        if (!h_end) return false;
        p = h_end + 1;
    } else {
        h_end = p + strcspn(p, ":/");
        p = h_end;
    }
    size_t hn = (size_t)(h_end - h);
    if (hn == 0 || hn >= host_cap) return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    for (size_t i = 0; i < hn; i++)
        if ((unsigned char)host[i] <= 0x20 || host[i] == 0x7f) return false;
    *port = 4840;
    if (*p == ':') {
        p++;
        unsigned long v = 0;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            v = v * 10 + (unsigned long)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || v == 0 || v > 65535) return false;
        *port = (uint16_t)v;
    }
    return *p == '\0' || *p == '/';
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (!s) return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---------------------------------------------------------------- lifetime */

static bool check_options(const struct ua_client_options *o, char *host, size_t host_cap,
                          uint16_t *port, char *why, size_t why_len)
{
    if (!o->endpoint_url || !ua_client_parse_url(o->endpoint_url, host, host_cap, port)) {
        snprintf(why, why_len,
                 "endpoint URL '%s' is not opc.tcp://HOST[:PORT][/PATH] (port 1..65535)",
                 o->endpoint_url ? o->endpoint_url : "");
        return false;
    }
    if (strlen(o->endpoint_url) >= UA_TCP_MAX_URL_BYTES) {
        snprintf(why, why_len, "endpoint URL longer than %d bytes", UA_TCP_MAX_URL_BYTES - 1);
        return false;
    }
    bool none_policy = o->policy == UA_CRYPTO_POLICY_NONE;
    bool none_mode = o->mode == 0 || o->mode == UA_CHANNEL_MODE_NONE;
    if (o->policy != UA_CRYPTO_POLICY_NONE && o->policy != UA_CRYPTO_POLICY_BASIC256SHA256) {
        snprintf(why, why_len, "unknown security policy %d", (int)o->policy);
        return false;
    }
    if (o->mode != 0 && o->mode != UA_CHANNEL_MODE_NONE && o->mode != UA_CHANNEL_MODE_SIGN &&
        o->mode != UA_CHANNEL_MODE_SIGN_AND_ENCRYPT) {
        snprintf(why, why_len, "unknown security mode %d", (int)o->mode);
        return false;
    }
    if (none_policy != none_mode) {
        snprintf(why, why_len,
                 "security policy None goes with mode None only, and Basic256Sha256 with Sign "
                 "or SignAndEncrypt");
        return false;
    }
    if (!none_mode && !o->pki && !o->pki_dir) {
        snprintf(why, why_len, "a PKI directory is needed for security mode %s",
                 ua_channel_mode_name(o->mode));
        return false;
    }
    if (o->identity == UA_CLIENT_IDENTITY_USER_NAME) {
        if (!o->user_name || !o->user_name[0]) {
            snprintf(why, why_len, "user name login without a user name");
            return false;
        }
        if (!o->password) {
            snprintf(why, why_len, "user name login without a password");
            return false;
        }
        if (strlen(o->password) > 4096) {
            snprintf(why, why_len, "password longer than 4096 bytes");
            return false;
        }
    } else if (o->identity != UA_CLIENT_IDENTITY_ANONYMOUS) {
        snprintf(why, why_len, "unknown identity kind %d", (int)o->identity);
        return false;
    }
    if (o->publish_requests > UA_CLIENT_MAX_PUBLISH_REQUESTS) {
        snprintf(why, why_len, "at most %u Publish requests can be outstanding",
                 UA_CLIENT_MAX_PUBLISH_REQUESTS);
        return false;
    }
    return true;
}

static void apply_defaults(struct ua_client *c)
{
    struct ua_client_options *o = &c->opts;
    if (o->mode == 0) o->mode = UA_CHANNEL_MODE_NONE;
    if (!o->connect_timeout_ms) o->connect_timeout_ms = UA_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
    if (!o->request_timeout_ms) o->request_timeout_ms = UA_CLIENT_DEFAULT_REQUEST_TIMEOUT_MS;
    if (!o->session_timeout_ms) o->session_timeout_ms = UA_CLIENT_DEFAULT_SESSION_TIMEOUT_MS;
    if (!o->channel_lifetime_ms) o->channel_lifetime_ms = UA_CLIENT_DEFAULT_CHANNEL_LIFETIME_MS;
    if (!o->publish_requests) o->publish_requests = UA_CLIENT_DEFAULT_PUBLISH_REQUESTS;
    if (!o->max_nodes_per_call) o->max_nodes_per_call = UA_CLIENT_DEFAULT_MAX_NODES_PER_CALL;
    ua_tcp_sizes_default(&c->hello);
    if (o->buffer_bytes) {
        uint32_t b =
            o->buffer_bytes < UA_TCP_MIN_BUFFER_BYTES ? UA_TCP_MIN_BUFFER_BYTES : o->buffer_bytes;
        c->hello.receive_buffer_bytes = c->hello.send_buffer_bytes = b;
    }
    if (o->max_message_bytes) c->hello.max_message_bytes = o->max_message_bytes;
    if (o->max_chunk_count) c->hello.max_chunk_count = o->max_chunk_count;
    c->arena_limit_bytes =
        o->max_decoded_bytes ? o->max_decoded_bytes
                             : (size_t)c->hello.max_message_bytes * UA_CLIENT_DEFAULT_ARENA_FACTOR;
    c->publish_target = o->publish_requests;
}

static bool open_pki(struct ua_client *c, struct ua_client_error *err)
{
    c->step = "pki";
    if (c->opts.pki) {
        c->pki = c->opts.pki;
        return true;
    }
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    char uri[400];
    if (c->application_uri)
        snprintf(uri, sizeof uri, "%s", c->application_uri);
    else
        snprintf(uri, sizeof uri, "urn:%s:airlock", host);
    char why[512];
    c->pki = ua_pki_open(c->pki_dir, uri, host, why, sizeof why);
    if (!c->pki) return ua_client_fail(c, err, UA_STATUS_BAD_CERTIFICATE_INVALID, false, "%s", why);
    c->own_pki = true;
    return true;
}

struct ua_client *ua_client_new(const struct ua_client_options *opts, struct ua_client_error *err)
{
    char host[256], why[512];
    uint16_t port = 0;
    if (err) memset(err, 0, sizeof *err);
    if (!opts || !check_options(opts, host, sizeof host, &port, why, sizeof why)) {
        if (err) {
            err->status = UA_STATUS_BAD_INVALID_STATE;
            err->reconnect = false;
            err->step = "options";
            snprintf(err->text, sizeof err->text, "options: %s", opts ? why : "no options given");
        }
        return NULL;
    }
    struct ua_client *c = calloc(1, sizeof *c);
    if (!c) {
        ua_client_fail(NULL, err, UA_STATUS_BAD_OUT_OF_MEMORY, false, "out of memory");
        return NULL;
    }
    c->sock = -1;
    c->opts = *opts;
    memcpy(c->host, host, sizeof host);
    c->port = port;
    c->endpoint_url = dup_or_null(opts->endpoint_url);
    c->user_name = dup_or_null(opts->user_name);
    c->password = dup_or_null(opts->password);
    c->pki_dir = dup_or_null(opts->pki_dir);
    c->application_uri = dup_or_null(opts->application_uri);
    c->application_name = strdup(opts->application_name ? opts->application_name : "airlock");
    c->session_name = strdup(opts->session_name ? opts->session_name : "airlock");
    /* The copies replace the caller's pointers. */
    c->opts.endpoint_url = c->endpoint_url;
    c->opts.user_name = c->user_name;
    c->opts.password = NULL;
    c->opts.pki_dir = c->pki_dir;
    c->opts.application_uri = c->application_uri;
    c->opts.application_name = c->application_name;
    c->opts.session_name = c->session_name;
    bool copied = c->endpoint_url && c->application_name && c->session_name &&
                  (!opts->user_name || c->user_name) && (!opts->password || c->password) &&
                  (!opts->pki_dir || c->pki_dir) && (!opts->application_uri || c->application_uri);
    apply_defaults(c);
    ua_writer_init(&c->body, (size_t)c->hello.max_message_bytes + 65536);
    ua_writer_init(&c->out, (size_t)c->hello.max_message_bytes * 2 + 65536);
    ua_writer_init(&c->abody, 1 << 20);
    ua_writer_init(&c->aout, 2 << 20);
    ua_client_mem_init(&c->mem, c->arena_limit_bytes);
    ua_arena_init(&c->publish_arena, 0, c->arena_limit_bytes);
    ua_arena_init(&c->session_arena, 4096, 1 << 20);
    c->in_cap = c->hello.receive_buffer_bytes;
    c->in = malloc(c->in_cap);
    if (!copied || !c->in) {
        ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false, "out of memory");
        ua_client_free(c);
        return NULL;
    }
    if (c->opts.mode != UA_CHANNEL_MODE_NONE && !open_pki(c, err)) {
        ua_client_free(c);
        return NULL;
    }
    return c;
}

static void forget_endpoint(struct ua_client *c)
{
    free(c->server_cert);
    free(c->server_app_uri);
    free(c->user_policy_id);
    free(c->user_token_policy_uri);
    c->server_cert = NULL;
    c->server_cert_len = 0;
    c->server_app_uri = c->user_policy_id = c->user_token_policy_uri = NULL;
    c->server_thumbprint_hex[0] = '\0';
}

static void forget_session(struct ua_client *c)
{
    c->connected = false;
    c->broken = false;
    c->auth_token = (struct ua_nodeid){0};
    ua_arena_reset(&c->session_arena);
    c->subs_count = 0;
    c->publish_target = c->opts.publish_requests;
    forget_endpoint(c);
    memset(&c->info, 0, sizeof c->info);
}

void ua_client_free(struct ua_client *c)
{
    if (!c) return;
    ua_client_disconnect(c);
    forget_endpoint(c);
    free(c->in);
    ua_writer_free(&c->body);
    ua_writer_free(&c->out);
    ua_writer_free(&c->abody);
    ua_writer_free(&c->aout);
    ua_client_mem_free(&c->mem);
    ua_arena_free(&c->publish_arena);
    ua_arena_free(&c->session_arena);
    free(c->subs);
    if (c->own_pki) ua_pki_close(c->pki);
    free(c->endpoint_url);
    free(c->user_name);
    wipe_free(c->password);
    free(c->pki_dir);
    free(c->application_uri);
    free(c->application_name);
    free(c->session_name);
    free(c);
}

bool ua_client_is_connected(const struct ua_client *c)
{
    return c && c->connected && !c->broken;
}

const struct ua_client_info *ua_client_info(const struct ua_client *c)
{
    return &c->info;
}

/* ---------------------------------------------------------------- discovery */

static bool get_endpoints(struct ua_client *c, struct ua_get_endpoints_response *out,
                          struct ua_client_error *err)
{
    c->step = "GetEndpoints";
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    struct ua_get_endpoints_request req = {.endpoint_url = ua_string_from_cstr(c->endpoint_url)};
    ua_writer_reset(&c->body);
    ua_encode_get_endpoints_request(&c->body, &h, &req);
    struct ua_reader r;
    if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
    memset(out, 0, sizeof *out);
    uint32_t st = ua_decode_get_endpoints_response(&r, &c->mem.arena, out);
    if (st != UA_STATUS_GOOD)
        return ua_client_fail_response(c, err, &r, st, &out->header, "GetEndpointsResponse");
    return true;
}

static const char *mode_of(int32_t mode)
{
    return ua_channel_mode_name((enum ua_channel_mode)mode);
}

static const char *policy_short(struct ua_string uri)
{
    const struct ua_crypto_policy *p =
        uri.length > 0 ? ua_crypto_policy_from_uri(uri.data, (size_t)uri.length) : NULL;
    return p ? p->name : "unsupported policy";
}

static char *string_dup(struct ua_string s)
{
    if (s.length < 0) return NULL;
    char *d = malloc((size_t)s.length + 1);
    if (!d) return NULL;
    if (s.length) memcpy(d, s.data, (size_t)s.length);
    d[s.length] = '\0';
    return d;
}

/* Picks the endpoint of our policy and mode and keeps what the session
 * needs from it. */
static bool choose_endpoint(struct ua_client *c, const struct ua_get_endpoints_response *resp,
                            struct ua_client_error *err)
{
    const struct ua_crypto_policy *want = ua_crypto_policy_get(c->opts.policy);
    const struct ua_endpoint_description *ep = NULL;
    char offered[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < resp->endpoints_count; i++) {
        const struct ua_endpoint_description *e = &resp->endpoints[i];
        if (used < sizeof offered) {
            int n = snprintf(offered + used, sizeof offered - used, "%s%s/%s", used ? ", " : "",
                             policy_short(e->security_policy_uri), mode_of(e->security_mode));
            if (n > 0) used += (size_t)n;
        }
        bool binary = e->transport_profile_uri.length <= 0 ||
                      ua_string_equal_cstr(e->transport_profile_uri, UA_TRANSPORT_PROFILE_BINARY);
        if (!ep && binary && e->security_mode == (int32_t)c->opts.mode &&
            ua_string_equal_cstr(e->security_policy_uri, want->uri))
            ep = e;
    }
    if (!ep)
        return ua_client_fail(
            c, err,
            c->opts.mode == UA_CHANNEL_MODE_NONE ? UA_STATUS_BAD_SECURITY_MODE_REJECTED
                                                 : UA_STATUS_BAD_SECURITY_POLICY_REJECTED,
            false, "the server has no endpoint with security %s/%s (it offers: %s)", want->name,
            ua_channel_mode_name(c->opts.mode), used ? offered : "nothing");
    int32_t want_token = c->opts.identity == UA_CLIENT_IDENTITY_USER_NAME ? UA_USER_TOKEN_USER_NAME
                                                                          : UA_USER_TOKEN_ANONYMOUS;
    const struct ua_user_token_policy *tp = NULL;
    for (size_t i = 0; i < ep->user_token_policies_count && !tp; i++)
        if (ep->user_token_policies[i].token_type == want_token) tp = &ep->user_token_policies[i];
    if (!tp)
        return ua_client_fail(c, err, UA_STATUS_BAD_IDENTITY_TOKEN_INVALID, false,
                              "the server's %s/%s endpoint does not accept %s logins", want->name,
                              ua_channel_mode_name(c->opts.mode),
                              want_token == UA_USER_TOKEN_ANONYMOUS ? "anonymous" : "user name");
    forget_endpoint(c);
    struct ua_string token_uri =
        tp->security_policy_uri.length > 0 ? tp->security_policy_uri : ep->security_policy_uri;
    c->user_policy_id =
        string_dup(tp->policy_id.length >= 0 ? tp->policy_id : (struct ua_string){"", 0});
    c->user_token_policy_uri =
        string_dup(token_uri.length >= 0 ? token_uri : (struct ua_string){"", 0});
    c->server_app_uri =
        string_dup(ep->server.application_uri.length >= 0 ? ep->server.application_uri
                                                          : (struct ua_string){"", 0});
    if (ep->server_certificate.length > 0) {
        c->server_cert_len = (size_t)ep->server_certificate.length;
        c->server_cert = malloc(c->server_cert_len);
        if (c->server_cert) memcpy(c->server_cert, ep->server_certificate.data, c->server_cert_len);
        struct ua_pki_cert_info ci;
        if (c->server_cert && ua_pki_cert_info(c->server_cert, c->server_cert_len, &ci, NULL, 0))
            memcpy(c->server_thumbprint_hex, ci.thumbprint_hex, sizeof ci.thumbprint_hex);
    }
    if (!c->user_policy_id || !c->user_token_policy_uri || !c->server_app_uri ||
        (ep->server_certificate.length > 0 && !c->server_cert))
        return ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false, "out of memory");
    return true;
}

/* ------------------------------------------------------------------ session */

static bool create_session(struct ua_client *c, uint8_t client_nonce[32],
                           struct ua_create_session_response *resp, struct ua_client_error *err)
{
    c->step = "CreateSession";
    if (!ua_crypto_random(client_nonce, 32))
        return ua_client_fail(c, err, UA_STATUS_BAD_INTERNAL_ERROR, false,
                              "the random generator failed");
    bool secure = c->opts.mode != UA_CHANNEL_MODE_NONE;
    const char *app_uri = c->application_uri;
    char fallback_uri[300];
    if (c->pki) {
        app_uri = ua_pki_own_info(c->pki)->application_uri;
    } else if (!app_uri) {
        char host[256] = "localhost";
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(fallback_uri, sizeof fallback_uri, "urn:%s:airlock", host);
        app_uri = fallback_uri;
    }
    struct ua_create_session_request req;
    memset(&req, 0, sizeof req);
    req.client_description.application_uri = ua_string_from_cstr(app_uri);
    req.client_description.product_uri = ua_string_from_cstr("urn:airlock");
    req.client_description.application_name.locale = UA_STRING_NULL;
    req.client_description.application_name.text = ua_string_from_cstr(c->application_name);
    req.client_description.application_type = UA_APPLICATION_CLIENT;
    req.client_description.gateway_server_uri = UA_STRING_NULL;
    req.client_description.discovery_profile_uri = UA_STRING_NULL;
    req.server_uri = UA_STRING_NULL;
    req.endpoint_url = ua_string_from_cstr(c->endpoint_url);
    req.session_name = ua_string_from_cstr(c->session_name);
    req.client_nonce = (struct ua_string){(const char *)client_nonce, 32};
    req.client_certificate = UA_STRING_NULL;
    size_t own_len = 0;
    const uint8_t *own = c->pki ? ua_pki_own_cert(c->pki, &own_len) : NULL;
    if (secure && own)
        req.client_certificate = (struct ua_string){(const char *)own, (int32_t)own_len};
    req.requested_session_timeout_ms = c->opts.session_timeout_ms;
    req.max_response_message_size = c->hello.max_message_bytes;
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    ua_writer_reset(&c->body);
    ua_encode_create_session_request(&c->body, &h, &req);
    struct ua_reader r;
    if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
    memset(resp, 0, sizeof *resp);
    uint32_t st = ua_decode_create_session_response(&r, &c->mem.arena, resp);
    if (st != UA_STATUS_GOOD)
        return ua_client_fail_response(c, err, &r, st, &resp->header, "CreateSessionResponse");
    if (!secure) return true;
    /* The server proves it holds the certificate's key. */
    if (resp->server_certificate.length <= 0 ||
        (size_t)resp->server_certificate.length != c->server_cert_len ||
        memcmp(resp->server_certificate.data, c->server_cert, c->server_cert_len) != 0)
        return ua_client_fail(c, err, UA_STATUS_BAD_CERTIFICATE_INVALID, true,
                              "the server's certificate differs from the one of its endpoint");
    if (!ua_string_equal_cstr(resp->server_signature.algorithm, UA_CRYPTO_URI_RSA_SHA256))
        return ua_client_fail(c, err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED, true,
                              "the server's signature algorithm is not RSA-SHA256");
    char why[256];
    struct ua_crypto_key *key =
        ua_crypto_key_from_cert(c->server_cert, c->server_cert_len, why, sizeof why);
    bool ok = key && resp->server_signature.signature.length > 0 &&
              ua_crypto_verify_server_signature(
                  key, own, own_len, client_nonce, 32,
                  (const uint8_t *)resp->server_signature.signature.data,
                  (size_t)resp->server_signature.signature.length, why, sizeof why);
    ua_crypto_key_free(key);
    if (!ok)
        return ua_client_fail(c, err, UA_STATUS_BAD_SECURITY_CHECKS_FAILED, true,
                              "the server's signature does not verify: %s",
                              resp->server_signature.signature.length > 0 ? why : "no signature");
    return true;
}

/* The UserNameIdentityToken's password as the token policy says: plain
 * under None, RSA-OAEP with the server's key and nonce under
 * Basic256Sha256. *out is malloc'd. */
static bool user_password(struct ua_client *c, struct ua_string server_nonce, uint8_t **out,
                          size_t *out_len, const char **algorithm, struct ua_client_error *err)
{
    size_t pw_len = strlen(c->password);
    const struct ua_crypto_policy *p =
        c->user_token_policy_uri[0]
            ? ua_crypto_policy_from_uri(c->user_token_policy_uri, strlen(c->user_token_policy_uri))
            : ua_crypto_policy_get(UA_CRYPTO_POLICY_NONE);
    if (!p)
        return ua_client_fail(c, err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED, false,
                              "the server wants the password encrypted with %s, which airlock "
                              "does not support (only None and Basic256Sha256)",
                              c->user_token_policy_uri);
    if (p->id == UA_CRYPTO_POLICY_NONE) {
        /* Readable on the wire unless the channel encrypts it. */
        if (c->opts.mode != UA_CHANNEL_MODE_SIGN_AND_ENCRYPT)
            return ua_client_fail(c, err, UA_STATUS_BAD_SECURITY_POLICY_REJECTED, false,
                                  "the server wants the password sent unencrypted, and the "
                                  "channel does not encrypt (security %s): refused; use "
                                  "SignAndEncrypt",
                                  ua_channel_mode_name(c->opts.mode));
        *out = malloc(pw_len ? pw_len : 1);
        if (!*out)
            return ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false, "out of memory");
        memcpy(*out, c->password, pw_len);
        *out_len = pw_len;
        *algorithm = NULL;
        return true;
    }
    if (!c->server_cert)
        return ua_client_fail(c, err, UA_STATUS_BAD_CERTIFICATE_INVALID, false,
                              "the password must be encrypted but the endpoint has no server "
                              "certificate");
    if (server_nonce.length < 32)
        return ua_client_fail(c, err, UA_STATUS_BAD_NONCE_INVALID, false,
                              "the password must be encrypted but the server sent a nonce of %d "
                              "bytes (at least 32 needed)",
                              (int)server_nonce.length);
    char why[256] = "";
    struct ua_crypto_key *key =
        ua_crypto_key_from_cert(c->server_cert, c->server_cert_len, why, sizeof why);
    if (!key)
        return ua_client_fail(c, err, UA_STATUS_BAD_CERTIFICATE_INVALID, false,
                              "server certificate: %s", why);
    size_t cap = ua_crypto_oaep_cipher_bytes(key, 4 + pw_len + (size_t)server_nonce.length);
    *out = malloc(cap ? cap : 1);
    bool ok = *out && ua_crypto_encrypt_password(key, (const uint8_t *)c->password, pw_len,
                                                 (const uint8_t *)server_nonce.data,
                                                 (size_t)server_nonce.length, *out, cap, out_len,
                                                 why, sizeof why);
    ua_crypto_key_free(key);
    if (!ok) {
        free(*out);
        *out = NULL;
        return ua_client_fail(c, err, UA_STATUS_BAD_INTERNAL_ERROR, false,
                              "cannot encrypt the password: %s", *why ? why : "out of memory");
    }
    *algorithm = p->asym_encryption_uri;
    return true;
}

static bool activate_session(struct ua_client *c, const struct ua_create_session_response *cs,
                             struct ua_client_error *err)
{
    c->step = "ActivateSession";
    struct ua_activate_session_request req;
    memset(&req, 0, sizeof req);
    req.client_signature.algorithm = UA_STRING_NULL;
    req.client_signature.signature = UA_STRING_NULL;
    req.user_token_signature = req.client_signature;
    uint8_t sig[UA_CRYPTO_MAX_RSA_BYTES];
    size_t sig_len = 0;
    if (c->opts.mode != UA_CHANNEL_MODE_NONE) {
        char why[256];
        if (!ua_crypto_client_signature(
                ua_pki_own_key(c->pki), c->server_cert, c->server_cert_len,
                (const uint8_t *)cs->server_nonce.data,
                cs->server_nonce.length > 0 ? (size_t)cs->server_nonce.length : 0, sig, sizeof sig,
                &sig_len, why, sizeof why))
            return ua_client_fail(c, err, UA_STATUS_BAD_INTERNAL_ERROR, false,
                                  "cannot sign for the session: %s", why);
        req.client_signature.algorithm = ua_string_from_cstr(UA_CRYPTO_URI_RSA_SHA256);
        req.client_signature.signature = (struct ua_string){(const char *)sig, (int32_t)sig_len};
    }
    req.identity.policy_id = ua_string_from_cstr(c->user_policy_id);
    uint8_t *secret = NULL;
    size_t secret_len = 0;
    if (c->opts.identity == UA_CLIENT_IDENTITY_USER_NAME) {
        const char *alg = NULL;
        if (!user_password(c, cs->server_nonce, &secret, &secret_len, &alg, err)) return false;
        req.identity.kind = UA_IDENTITY_USER_NAME;
        req.identity.user_name = ua_string_from_cstr(c->user_name);
        req.identity.password = (struct ua_string){(const char *)secret, (int32_t)secret_len};
        req.identity.encryption_algorithm = alg ? ua_string_from_cstr(alg) : UA_STRING_NULL;
    } else {
        req.identity.kind = UA_IDENTITY_ANONYMOUS;
    }
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    ua_writer_reset(&c->body);
    ua_encode_activate_session_request(&c->body, &h, &req);
    if (secret) {
        explicit_bzero(secret, secret_len);
        free(secret);
    }
    struct ua_reader r;
    bool ok = ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err);
    /* The body and the chunks held the password: wipe them. */
    if (c->body.data) explicit_bzero(c->body.data, c->body.len);
    if (c->out.data) explicit_bzero(c->out.data, c->out.len);
    if (!ok) return false;
    struct ua_activate_session_response resp;
    memset(&resp, 0, sizeof resp);
    uint32_t st = ua_decode_activate_session_response(&r, &c->mem.arena, &resp);
    if (st != UA_STATUS_GOOD) {
        ua_client_fail_response(c, err, &r, st, &resp.header, "ActivateSessionResponse");
        if (err && ((st & 0xFFFF0000u) == UA_STATUS_BAD_USER_ACCESS_DENIED ||
                    (st & 0xFFFF0000u) == UA_STATUS_BAD_IDENTITY_TOKEN_REJECTED ||
                    (st & 0xFFFF0000u) == UA_STATUS_BAD_IDENTITY_TOKEN_INVALID)) {
            size_t n = strlen(err->text);
            snprintf(err->text + n, sizeof err->text - n, ": %s",
                     c->opts.identity == UA_CLIENT_IDENTITY_USER_NAME
                         ? "the server refused the user name or password"
                         : "the server refused an anonymous login");
        }
        return false;
    }
    return true;
}

/* Reads the server's operation limits; a server without them is fine. */
static bool read_operation_limits(struct ua_client *c, struct ua_client_error *err)
{
    static const uint32_t ids[] = {UA_NS0_MAX_NODES_PER_READ, UA_NS0_MAX_NODES_PER_WRITE,
                                   UA_NS0_MAX_NODES_PER_BROWSE, UA_NS0_MAX_NODES_PER_TRANSLATE,
                                   UA_NS0_MAX_MONITORED_ITEMS_PER_CALL};
    uint32_t *dst[] = {&c->info.max_nodes_per_read, &c->info.max_nodes_per_write,
                       &c->info.max_nodes_per_browse, &c->info.max_nodes_per_translate,
                       &c->info.max_monitored_items_per_call};
    struct ua_read_value_id nodes[5];
    memset(nodes, 0, sizeof nodes);
    for (size_t i = 0; i < 5; i++) {
        nodes[i].node_id = ua_nodeid_numeric(0, ids[i]);
        nodes[i].attribute_id = UA_ATTRIBUTE_VALUE;
        nodes[i].index_range = UA_STRING_NULL;
        nodes[i].data_encoding.name = UA_STRING_NULL;
    }
    struct ua_datavalue *dv = NULL;
    struct ua_client_error e;
    if (!ua_client_read(c, nodes, 5, UA_TIMESTAMPS_NEITHER, 0, &dv, &e)) {
        if (e.reconnect) {
            if (err) *err = e;
            return false;
        }
        return true;
    }
    for (size_t i = 0; i < 5; i++) {
        const struct ua_variant *v = &dv[i].value;
        if (ua_status_is_bad(dv[i].status) || v->is_array) continue;
        if (v->type == UA_TYPE_UINT32) *dst[i] = v->as.uint32;
        if (v->type == UA_TYPE_UINT16) *dst[i] = v->as.uint16;
    }
    return true;
}

/* --------------------------------------------------------------- connecting */

static bool check_server_trust(struct ua_client *c, struct ua_client_error *err)
{
    c->step = "server trust";
    if (!c->server_cert)
        return ua_client_fail(c, err, UA_STATUS_BAD_CERTIFICATE_INVALID, false,
                              "the server's endpoint has no certificate");
    enum ua_pki_verdict verdict = UA_PKI_INVALID;
    char msg[900];
    msg[0] = '\0';
    if (ua_pki_check_server(c->pki, c->server_cert, c->server_cert_len, &verdict, msg, sizeof msg))
        return true;
    uint32_t st = verdict == UA_PKI_UNTRUSTED ? UA_STATUS_BAD_CERTIFICATE_UNTRUSTED
                  : verdict == UA_PKI_EXPIRED || verdict == UA_PKI_NOT_YET_VALID
                      ? UA_STATUS_BAD_CERTIFICATE_TIME_INVALID
                      : UA_STATUS_BAD_CERTIFICATE_INVALID;
    return ua_client_fail(c, err, st, false, "%s", msg[0] ? msg : ua_pki_verdict_name(verdict));
}

/* CloseSession (deleting its subscriptions), waiting at most 3 s. */
static void close_session(struct ua_client *c)
{
    uint32_t timeout = c->opts.request_timeout_ms < 3000 ? c->opts.request_timeout_ms : 3000;
    struct ua_client_error e;
    c->step = "CloseSession";
    struct ua_request_header h = ua_client_header(c, timeout);
    ua_writer_reset(&c->body);
    ua_encode_close_session_request(&c->body, &h, true);
    struct ua_reader r;
    ua_client_call(c, UA_TCP_MSG, &h, timeout, &r, &e);
}

bool ua_client_connect(struct ua_client *c, struct ua_client_error *err)
{
    if (err) memset(err, 0, sizeof *err);
    if (c->connected && !c->broken) {
        c->step = "connect";
        return ua_client_fail(c, err, UA_STATUS_BAD_INVALID_STATE, false, "already connected");
    }
    ua_client_disconnect(c);
    ua_client_mem_reset(&c->mem);
    bool secure = c->opts.mode != UA_CHANNEL_MODE_NONE;
    struct ua_channel_config none_cfg = {.policy = UA_CRYPTO_POLICY_NONE,
                                         .mode = UA_CHANNEL_MODE_NONE};
    struct ua_get_endpoints_response eps;
    if (!ua_client_open_channel(c, &none_cfg, err)) goto fail;
    if (!get_endpoints(c, &eps, err) || !choose_endpoint(c, &eps, err)) goto fail;
    if (secure) {
        if (!check_server_trust(c, err)) goto fail;
        ua_client_close_channel(c, true);
        size_t own_len = 0;
        const uint8_t *own = ua_pki_own_cert(c->pki, &own_len);
        struct ua_channel_config cfg = {
            .policy = c->opts.policy,
            .mode = c->opts.mode,
            .own_key = ua_pki_own_key(c->pki),
            .own_cert = own,
            .own_cert_len = own_len,
            .server_cert = c->server_cert,
            .server_cert_len = c->server_cert_len,
        };
        if (!ua_client_open_channel(c, &cfg, err)) goto fail;
    }
    uint8_t client_nonce[32];
    struct ua_create_session_response cs;
    if (!create_session(c, client_nonce, &cs, err)) goto fail;
    if (!ua_nodeid_copy(&cs.authentication_token, &c->session_arena, &c->auth_token)) {
        ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false,
                       "authentication token too large");
        goto fail;
    }
    c->info.session_timeout_ms = cs.revised_session_timeout_ms;
    if (!activate_session(c, &cs, err)) goto fail;
    c->connected = true;
    c->info.endpoint_url = c->endpoint_url;
    c->info.security_policy_uri = ua_crypto_policy_get(c->opts.policy)->uri;
    c->info.mode = c->opts.mode;
    c->info.server_application_uri = c->server_app_uri;
    memcpy(c->info.server_thumbprint_hex, c->server_thumbprint_hex,
           sizeof c->info.server_thumbprint_hex);
    c->info.limits = c->limits;
    c->info.channel_id = c->ch.channel_id;
    c->step = "Read (operation limits)";
    if (!read_operation_limits(c, err)) goto fail;
    ua_client_mem_reset(&c->mem);
    c->step = "connected";
    return true;
fail:
    /* A session created but not activated would hold a place on the
     * server until it times out: close it. */
    if (!c->broken && c->channel_ready && !ua_nodeid_is_null(&c->auth_token)) {
        const char *step = c->step;
        close_session(c);
        c->step = step;
    }
    ua_client_close_channel(c, !c->broken);
    {
        /* keep err's step text; forget everything else */
        const char *step = c->step;
        forget_session(c);
        c->step = step;
    }
    return false;
}

void ua_client_disconnect(struct ua_client *c)
{
    if (!c) return;
    if (c->connected && !c->broken && c->channel_ready) {
        ua_client_mem_reset(&c->mem);
        uint32_t timeout = c->opts.request_timeout_ms < 3000 ? c->opts.request_timeout_ms : 3000;
        struct ua_client_error e;
        if (c->subs_count) {
            c->step = "DeleteSubscriptions";
            uint32_t ids[64];
            size_t n = c->subs_count < 64 ? c->subs_count : 64;
            for (size_t i = 0; i < n; i++)
                ids[i] = c->subs[i].s.subscription_id;
            c->subs_count = 0;
            struct ua_request_header h = ua_client_header(c, timeout);
            struct ua_delete_subscriptions_request req = {.subscription_ids_count = n,
                                                          .subscription_ids = ids};
            ua_writer_reset(&c->body);
            ua_encode_delete_subscriptions_request(&c->body, &h, &req);
            struct ua_reader r;
            ua_client_call(c, UA_TCP_MSG, &h, timeout, &r, &e);
        }
        if (!c->broken) close_session(c);
    }
    c->step = "CloseSecureChannel";
    ua_client_close_channel(c, !c->broken);
    forget_session(c);
    ua_client_mem_reset(&c->mem);
    c->step = NULL;
}

/* ----------------------------------------------------------- GetEndpoints */

bool ua_client_get_endpoints(const struct ua_client_options *opts, struct ua_client_endpoints *out,
                             struct ua_client_error *err)
{
    memset(out, 0, sizeof *out);
    struct ua_client_options o;
    memset(&o, 0, sizeof o);
    if (opts) {
        o.endpoint_url = opts->endpoint_url;
        o.connect_timeout_ms = opts->connect_timeout_ms;
        o.request_timeout_ms = opts->request_timeout_ms;
        o.buffer_bytes = opts->buffer_bytes;
        o.max_message_bytes = opts->max_message_bytes;
        o.max_chunk_count = opts->max_chunk_count;
        o.max_decoded_bytes = opts->max_decoded_bytes;
    }
    struct ua_client *c = ua_client_new(opts ? &o : NULL, err);
    if (!c) return false;
    struct ua_channel_config none_cfg = {.policy = UA_CRYPTO_POLICY_NONE,
                                         .mode = UA_CHANNEL_MODE_NONE};
    struct ua_get_endpoints_response resp;
    bool ok = ua_client_open_channel(c, &none_cfg, err) && get_endpoints(c, &resp, err);
    if (ok) {
        struct ua_client_mem *m = malloc(sizeof *m);
        if (!m) {
            ok = ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false, "out of memory");
        } else {
            *m = c->mem; /* the endpoints point into it */
            ua_client_mem_init(&c->mem, c->arena_limit_bytes);
            out->count = resp.endpoints_count;
            out->endpoints = resp.endpoints;
            out->mem = m;
        }
    }
    c->step = "CloseSecureChannel";
    ua_client_close_channel(c, !c->broken);
    ua_client_free(c);
    return ok;
}

void ua_client_endpoints_free(struct ua_client_endpoints *e)
{
    if (!e) return;
    if (e->mem) {
        ua_client_mem_free(e->mem);
        free(e->mem);
    }
    memset(e, 0, sizeof *e);
}
