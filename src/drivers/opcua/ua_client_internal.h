/* Private state and helpers shared by the ua_client*.c files (not part of
 * the module's contract; see ua_client.h). */
#ifndef AIRLOCK_OPCUA_UA_CLIENT_INTERNAL_H
#define AIRLOCK_OPCUA_UA_CLIENT_INTERNAL_H

#include "drivers/opcua/ua_client.h"

/* Acknowledgements waiting for the next Publish request. */
#define UA_CLIENT_MAX_PENDING_ACKS 64u

/* A copy of one response body that decoded results point into. */
struct ua_client_blob {
    struct ua_client_blob *next;
    size_t len;
    uint8_t data[];
};

/* What a service call returns lives here until the next call. */
struct ua_client_mem {
    struct ua_arena arena;
    struct ua_client_blob *blobs;
};

struct ua_client_sub {
    struct ua_client_subscription s;
    int64_t last_seen_ms; /* last Publish response (data or keep-alive) */
};

struct ua_client_publish {
    uint32_t request_id;
    int64_t sent_ms;
};

struct ua_client {
    /* Options (strings owned). */
    struct ua_client_options opts;
    char *endpoint_url, *user_name, *password, *pki_dir, *application_uri, *application_name,
        *session_name;
    char host[256];
    uint16_t port;
    struct ua_pki *pki; /* borrowed or owned */
    bool own_pki;
    struct ua_tcp_sizes hello;
    size_t arena_limit_bytes;

    /* Connection. */
    int sock;
    uint8_t *in; /* receive buffer */
    size_t in_cap, in_start, in_len;
    uint32_t recv_frame_max;
    struct ua_channel ch;
    bool channel_ready; /* ch initialised */
    struct ua_channel_limits limits;
    struct ua_writer body, out;   /* the synchronous request */
    struct ua_writer abody, aout; /* requests sent while waiting */
    uint32_t next_request_id;
    bool woken;    /* the wake fd was readable (stop) */
    bool notified; /* the notify fd was readable (ua_client_poll ends early) */
    int64_t last_send_ms;
    const char *step; /* what is being done, for error messages */

    /* The endpoint chosen at connect and what it says. */
    uint8_t *server_cert;
    size_t server_cert_len;
    char *server_app_uri;
    char *user_policy_id;
    char *user_token_policy_uri; /* policy of the password encryption */
    char server_thumbprint_hex[2 * UA_CRYPTO_SHA1_BYTES + 1];

    /* Session. */
    bool connected; /* session active and nothing broke */
    bool broken;    /* an error needing a reconnect happened */
    struct ua_arena session_arena;
    struct ua_nodeid auth_token;
    struct ua_client_info info;

    /* The synchronous call in progress. */
    uint32_t call_request_id;
    bool call_done;
    uint32_t call_abort_status;
    char call_abort_reason[256];
    const uint8_t *call_body;
    size_t call_body_len;
    struct ua_client_mem mem;

    /* Background requests. */
    uint32_t renew_request_id;
    int64_t renew_sent_ms;
    uint32_t ping_request_id;
    int64_t ping_sent_ms;
    struct ua_client_publish publishes[UA_CLIENT_MAX_PUBLISH_REQUESTS];
    unsigned publishes_count;
    unsigned publish_target; /* lowered by BadTooManyPublishRequests */
    struct ua_subscription_acknowledgement acks[UA_CLIENT_MAX_PENDING_ACKS];
    unsigned acks_count;
    struct ua_client_sub *subs;
    size_t subs_count, subs_cap;
    struct ua_arena publish_arena;
};

/* ---- errors (ua_client_io.c) */

/* Fills err: status, reconnect, step (c->step when step is NULL) and
 * "<step>: <text>". Marks the client broken when reconnect. Returns false. */
bool ua_client_fail(struct ua_client *c, struct ua_client_error *err, uint32_t status,
                    bool reconnect, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* True for the statuses after which the session or channel is gone. */
bool ua_client_status_needs_reconnect(uint32_t status);

/* The error of a response decoder's result (ServiceFault, Bad
 * ServiceResult, malformed body), with the server's string table. */
bool ua_client_fail_response(struct ua_client *c, struct ua_client_error *err,
                             const struct ua_reader *r, uint32_t status,
                             const struct ua_response_header *h, const char *what);

/* ---- call memory */

void ua_client_mem_init(struct ua_client_mem *m, size_t limit_bytes);
void ua_client_mem_reset(struct ua_client_mem *m);
void ua_client_mem_free(struct ua_client_mem *m);

/* ---- connection (ua_client_io.c) */

/* TCP connect to c->host:c->port within connect_timeout_ms, HEL / ACK,
 * then the secure channel with cfg (limits filled in here) and its
 * OpenSecureChannel (issue). */
bool ua_client_open_channel(struct ua_client *c, const struct ua_channel_config *cfg,
                            struct ua_client_error *err);

/* Sends CLO when the channel is open and closes the socket; frees the
 * channel and forgets every request in flight. */
void ua_client_close_channel(struct ua_client *c, bool send_close);

/* A request header for a new request: fresh request handle (also the
 * request id of the chunks), c->auth_token, timeout hint timeout_ms. */
struct ua_request_header ua_client_header(struct ua_client *c, uint32_t timeout_ms);

/* Sends the body in c->body (type MSG or OPN) with request id h->request_handle
 * and waits for its response, serving everything else that arrives. On
 * success *r reads a copy of the response body in call memory. */
bool ua_client_call(struct ua_client *c, enum ua_tcp_msg_type type,
                    const struct ua_request_header *h, uint32_t timeout_ms, struct ua_reader *r,
                    struct ua_client_error *err);

/* Serves the connection until deadline_ms (monotonic) or the wake fd. */
bool ua_client_pump_until(struct ua_client *c, int64_t deadline_ms, struct ua_client_error *err);

/* Sends Publish requests up to the target, renewals and keep-alive reads
 * when due, and checks the subscriptions' liveness. */
bool ua_client_service_timers(struct ua_client *c, struct ua_client_error *err);

/* ---- subscriptions (ua_client_services.c) */

struct ua_client_sub *ua_client_find_sub(struct ua_client *c, uint32_t subscription_id);
void ua_client_forget_sub(struct ua_client *c, uint32_t subscription_id);

/* Handles one Publish response body. */
bool ua_client_on_publish(struct ua_client *c, const uint8_t *body, size_t len,
                          struct ua_client_error *err);

#endif
