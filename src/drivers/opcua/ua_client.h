/* The OPC UA client: one connection to one server (UA TCP, one secure
 * channel, one session) and the services airlock uses on it: Read, Browse
 * (with BrowseNext), TranslateBrowsePathsToNodeIds, Write, subscriptions
 * (CreateSubscription, CreateMonitoredItems, Publish, DeleteSubscriptions)
 * and GetEndpoints. It is the I/O loop over the pure layers below it
 * (ua_channel.h for chunks and security, ua_services.h for the bodies,
 * ua_pki.h for certificates).
 *
 * Threads and time. A client is used by one thread at a time and has no
 * thread of its own: it works only inside its calls, with poll() on its
 * socket. Every call has a timeout (options.connect_timeout_ms for the
 * connection, options.request_timeout_ms for each request); a call that
 * waits for the server also serves the subscriptions while it waits
 * (Publish responses are delivered, the channel token is renewed), so the
 * callbacks can run inside any call that talks to the server. Between calls
 * nothing happens: call ua_client_poll regularly (at least every few hundred
 * milliseconds while subscriptions exist, and well within a third of the
 * session timeout otherwise). No global state.
 *
 * Connecting (ua_client_connect): TCP connect (getaddrinfo, non-blocking
 * with timeout), HEL/ACK, OpenSecureChannel with policy None and
 * GetEndpoints on it to find the endpoint matching the configured policy
 * and mode (and take the server certificate and user token policies from
 * it). For Sign / SignAndEncrypt the server certificate must pass
 * ua_pki_check_server (otherwise the error carries the store's message
 * telling how to trust it), then that channel is closed and a second
 * connection opens the secure channel. Then CreateSession (the server's
 * signature verified when secure), ActivateSession (anonymous or user name;
 * the password encrypted as the endpoint's user token policy says, also on
 * a None channel), and a Read of the server's operation limits
 * (MaxNodesPerRead...) used to split large calls.
 *
 * Memory. What a service call returns (DataValues, references, results)
 * lives in the client's "call memory" and stays valid until the next call
 * on the client (any ua_client_* call taking the client, ua_client_poll
 * included), or ua_client_disconnect / ua_client_free. Strings in it point
 * into kept copies of the responses. The data callback's values point into
 * the Publish response being decoded and are valid only during the call.
 *
 * Errors. Every fallible call fills a struct ua_client_error: the StatusCode,
 * the step that failed and one line for the user, e.g.
 *   "ActivateSession: BadUserAccessDenied (0x801F0000)"
 *   "server certificate: server certificate CN=... is not trusted: to trust
 *    it, move '.../rejected/X [..].der' to '.../trusted/'"
 * When err.reconnect is true the connection or the session is gone (ERR
 * message, lost socket, timeout, BadSessionIdInvalid, BadSecureChannelIdInvalid,
 * a malformed chunk...): the caller must call ua_client_disconnect and then
 * ua_client_connect again, and re-create its subscriptions (the client
 * forgets them). When false, only that call failed (a bad argument, a
 * ServiceFault for that request) and the session is still usable. */
#ifndef AIRLOCK_OPCUA_UA_CLIENT_H
#define AIRLOCK_OPCUA_UA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/opcua/ua_channel.h"
#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_pki.h"
#include "drivers/opcua/ua_services.h"
#include "drivers/opcua/ua_types.h"

/* Defaults for the options left 0. */
#define UA_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define UA_CLIENT_DEFAULT_REQUEST_TIMEOUT_MS 10000u
#define UA_CLIENT_DEFAULT_SESSION_TIMEOUT_MS 60000u
#define UA_CLIENT_DEFAULT_CHANNEL_LIFETIME_MS 3600000u
#define UA_CLIENT_DEFAULT_PUBLISH_REQUESTS 3u
#define UA_CLIENT_MAX_PUBLISH_REQUESTS 16u
#define UA_CLIENT_DEFAULT_MAX_NODES_PER_CALL 1000u
/* Decoded data of one response may take this many times the message size
 * limit before it is refused (decoded structures are larger than the wire). */
#define UA_CLIENT_DEFAULT_ARENA_FACTOR 8u

/* ----------------------------------------------------------------- errors */

struct ua_client_error {
    uint32_t status;  /* a Bad StatusCode */
    bool reconnect;   /* connection or session lost: disconnect, connect again */
    const char *step; /* static: "connect", "OpenSecureChannel", "Read", ... */
    char text[1024];  /* one line, starting with the step */
};

/* ---------------------------------------------------------------- options */

enum ua_client_identity {
    UA_CLIENT_IDENTITY_ANONYMOUS = 0,
    UA_CLIENT_IDENTITY_USER_NAME = 1,
};

/* Callbacks of the subscriptions (all optional). They run inside the
 * client's calls and must not call the client. */
struct ua_client_handlers {
    void *ctx;
    /* The data changes of one Publish response of subscription_id, in the
     * order the server sent them: values[i].client_handle is the handle
     * given in CreateMonitoredItems, values[i].value the DataValue. Valid
     * only during the callback (nothing is copied per value). publish_time
     * is the NotificationMessage's PublishTime (DateTime ticks). */
    void (*data_change)(void *ctx, uint32_t subscription_id,
                        const struct ua_monitored_item_value *values, size_t count,
                        int64_t publish_time);
    /* A StatusChangeNotification: status is e.g. BadTimeout when the server
     * ended the subscription (its lifetime expired); the client then
     * forgets the subscription. */
    void (*status_change)(void *ctx, uint32_t subscription_id, uint32_t status);
    /* A keep-alive (a Publish response without notifications); optional,
     * for liveness statistics. */
    void (*keep_alive)(void *ctx, uint32_t subscription_id, int64_t publish_time);
};

/* Everything the client is configured with. Strings are copied by
 * ua_client_new; a zeroed field takes its default. */
struct ua_client_options {
    const char *endpoint_url;        /* required: opc.tcp://host[:port][/path] (port 4840) */
    enum ua_crypto_policy_id policy; /* NONE or BASIC256SHA256 */
    enum ua_channel_mode mode;       /* 0 is taken as NONE; SIGN / SIGN_AND_ENCRYPT
                                        need BASIC256SHA256 */
    enum ua_client_identity identity;
    const char *user_name; /* USER_NAME */
    const char *password;  /* USER_NAME; copied, wiped at ua_client_free */

    /* Certificates: a store opened by the caller (borrowed; may be shared
     * by several clients, see ua_pki.h), else pki_dir is opened (created
     * on first use) by ua_client_new when the mode is not None. */
    struct ua_pki *pki;
    const char *pki_dir;
    const char *application_uri;  /* NULL: "urn:<host>:airlock" (secure: the
                                     certificate's URI is used) */
    const char *application_name; /* NULL: "airlock" */
    const char *session_name;     /* NULL: "airlock" */

    uint32_t connect_timeout_ms;  /* TCP connect and each handshake step */
    uint32_t request_timeout_ms;  /* each service request */
    uint32_t session_timeout_ms;  /* requested session timeout */
    uint32_t channel_lifetime_ms; /* requested security token lifetime */

    /* Transport limits announced in HEL (0: ua_tcp_sizes_default). */
    uint32_t buffer_bytes;      /* Receive/SendBufferSize: the largest chunk */
    uint32_t max_message_bytes; /* largest message we accept */
    uint32_t max_chunk_count;   /* most chunks per message we accept */
    size_t max_decoded_bytes;   /* arena limit per response; 0: factor x message size */
    /* At most this many nodes per Read / Browse / Write / Translate /
     * CreateMonitoredItems request (lowered to the server's operation
     * limits when it announces them). 0: 1000. */
    uint32_t max_nodes_per_call;

    /* Subscriptions: Publish requests kept outstanding (0: 3; at most 16). */
    uint32_t publish_requests;
    struct ua_client_handlers handlers;

    /* When use_wake_fd, ua_client_poll also watches wake_fd and returns
     * (true) as soon as it is readable, so another thread can interrupt a
     * poll (e.g. an eventfd or a pipe written on stop). A TCP connect or a
     * request in progress fails at once with BadRequestInterrupted when it
     * becomes readable: meant for stopping. Never read. */
    bool use_wake_fd;
    int wake_fd;

    /* When use_notify_fd, ua_client_poll also returns (true) as soon as
     * notify_fd is readable, but nothing else is interrupted by it: meant
     * for work another thread queued for the caller (e.g. a write). Never
     * read: the caller drains it. */
    bool use_notify_fd;
    int notify_fd;
};

/* --------------------------------------------------------------- lifetime */

struct ua_client;

/* Checks the options (URL syntax, policy and mode agree, user name given
 * for USER_NAME, a pki or pki_dir for secure modes), opens the PKI when
 * needed, and returns a client that is not connected yet. NULL with err
 * (step "options" or "pki") otherwise. Does no network I/O. */
struct ua_client *ua_client_new(const struct ua_client_options *opts, struct ua_client_error *err);

/* Disconnects (as ua_client_disconnect) and frees everything; safe with NULL. */
void ua_client_free(struct ua_client *c);

/* Establishes the connection, channel and session (see the top of this
 * file). On failure everything opened is closed again and err says which
 * step failed; calling it again retries from the start. Fails with
 * BadInvalidState when already connected. */
bool ua_client_connect(struct ua_client *c, struct ua_client_error *err);

/* Closes gracefully when the connection still works (DeleteSubscriptions,
 * CloseSession, CloseSecureChannel, each bounded by the request timeout)
 * and always closes the socket and forgets the session and subscriptions.
 * Safe when not connected. */
void ua_client_disconnect(struct ua_client *c);

/* True between a successful ua_client_connect and the first error that
 * needed a reconnect (or ua_client_disconnect). */
bool ua_client_is_connected(const struct ua_client *c);

/* What was negotiated, for logs and `airlock opcua`. Valid while
 * connected (strings until ua_client_disconnect). */
struct ua_client_info {
    const char *endpoint_url;        /* as configured */
    const char *security_policy_uri; /* of the channel */
    enum ua_channel_mode mode;
    const char *server_application_uri;                       /* from the endpoint description */
    char server_thumbprint_hex[2 * UA_CRYPTO_SHA1_BYTES + 1]; /* "" without one */
    struct ua_channel_limits limits;
    uint32_t channel_id;
    double session_timeout_ms; /* revised by the server */
    /* The server's operation limits (0: not announced / no limit). */
    uint32_t max_nodes_per_read;
    uint32_t max_nodes_per_write;
    uint32_t max_nodes_per_browse;
    uint32_t max_nodes_per_translate;
    uint32_t max_monitored_items_per_call;
    uint32_t token_renewals; /* security tokens renewed on this channel */
};
const struct ua_client_info *ua_client_info(const struct ua_client *c);

/* --------------------------------------------------------------- services */

/* Reads nodes[0..count) (split into several requests by the limits above,
 * and halved again when the server answers BadResponseTooLarge). On success
 * *results points to count DataValues in request order (call memory). A
 * Bad status of one node is in its DataValue, not an error. */
bool ua_client_read(struct ua_client *c, const struct ua_read_value_id *nodes, size_t count,
                    enum ua_timestamps_to_return timestamps, double max_age_ms,
                    struct ua_datavalue **results, struct ua_client_error *err);

/* Reads the Value attribute of one node: the shortcut for the common case.
 * *result is in call memory. */
bool ua_client_read_value(struct ua_client *c, const struct ua_nodeid *node,
                          struct ua_datavalue **result, struct ua_client_error *err);

/* Browses nodes[0..count) and follows every continuation point with
 * BrowseNext (releasing them on failure), so each result holds all
 * references of its node. max_references_per_node is passed to the server
 * (0: it decides). *results: count results in request order (call memory);
 * a node's own Bad status is in its result, not an error. */
bool ua_client_browse(struct ua_client *c, const struct ua_browse_description *nodes, size_t count,
                      uint32_t max_references_per_node, struct ua_browse_result **results,
                      struct ua_client_error *err);

/* TranslateBrowsePathsToNodeIds for paths[0..count); *results in request
 * order (call memory). */
bool ua_client_translate_browse_paths(struct ua_client *c, const struct ua_browse_path *paths,
                                      size_t count, struct ua_browse_path_result **results,
                                      struct ua_client_error *err);

/* Writes nodes[0..count); *results receives count StatusCodes (call
 * memory). A node's Bad status is in results, not an error. */
bool ua_client_write(struct ua_client *c, const struct ua_write_value *nodes, size_t count,
                     uint32_t **results, struct ua_client_error *err);

/* ----------------------------------------------------------- subscriptions */

struct ua_client_subscription_params {
    double publishing_interval_ms;          /* 0: 1000 */
    uint32_t lifetime_count;                /* 0: 6 x max_keep_alive_count (at least 3 x) */
    uint32_t max_keep_alive_count;          /* 0: 10 */
    uint32_t max_notifications_per_publish; /* 0: no limit */
    uint8_t priority;
};

/* What the server revised. */
struct ua_client_subscription {
    uint32_t subscription_id;
    double publishing_interval_ms;
    uint32_t lifetime_count;
    uint32_t max_keep_alive_count;
};

/* Creates a subscription (publishing enabled) and from then on keeps
 * options.publish_requests Publish requests outstanding, acknowledges
 * every NotificationMessage in the next Publish request, and delivers
 * notifications through options.handlers. */
bool ua_client_create_subscription(struct ua_client *c,
                                   const struct ua_client_subscription_params *params,
                                   struct ua_client_subscription *out, struct ua_client_error *err);

/* Creates items[0..count) in subscription_id (split by the limits above):
 * each item's client_handle comes back with its values in the data_change
 * callback. *results: count results in request order (call memory); an
 * item the server refused has its Bad status there, not an error. */
bool ua_client_create_monitored_items(struct ua_client *c, uint32_t subscription_id,
                                      enum ua_timestamps_to_return timestamps,
                                      const struct ua_monitored_item_create_request *items,
                                      size_t count,
                                      struct ua_monitored_item_create_result **results,
                                      struct ua_client_error *err);

/* Deletes one subscription (its Publish requests are answered by the
 * server and dropped). */
bool ua_client_delete_subscription(struct ua_client *c, uint32_t subscription_id,
                                   struct ua_client_error *err);

/* Runs the connection for up to timeout_ms (0: only what is ready now):
 * sends Publish requests, receives and delivers notifications, renews the
 * channel token before it expires, and keeps the session alive (a small
 * Read when nothing else was sent for a third of the session timeout).
 * Returns early (true) when the wake fd or the notify fd is readable. False with err when
 * the connection or session failed (err.reconnect), or a subscription got
 * no answer (data or keep-alive) for longer than its keep-alive period
 * plus the request timeout. */
bool ua_client_poll(struct ua_client *c, uint32_t timeout_ms, struct ua_client_error *err);

/* -------------------------------------------------------------- discovery */

/* The endpoints of a server, without a session. */
struct ua_client_endpoints {
    size_t count;
    struct ua_endpoint_description *endpoints;
    void *mem; /* private: what they point into */
};

/* Connects to opts->endpoint_url (only the URL, timeouts and transport
 * limits of opts are used), opens a None channel, calls GetEndpoints,
 * closes. On success *out holds the endpoints until
 * ua_client_endpoints_free. */
bool ua_client_get_endpoints(const struct ua_client_options *opts, struct ua_client_endpoints *out,
                             struct ua_client_error *err);
void ua_client_endpoints_free(struct ua_client_endpoints *e);

/* ----------------------------------------------------------------- helpers */

/* Parses "none", "sign", "signandencrypt" (any case; also "sign_and_encrypt",
 * "SignAndEncrypt") into the policy and mode airlock uses for them: None, or
 * Basic256Sha256 with Sign / SignAndEncrypt. False for anything else. */
bool ua_client_parse_security(const char *text, enum ua_crypto_policy_id *policy,
                              enum ua_channel_mode *mode);

/* Splits an opc.tcp URL: host (brackets removed for IPv6 literals) into
 * host[0..host_cap), the port (4840 when absent). False when it is not
 * opc.tcp://, the host is empty or too long, or the port is not 1..65535. */
bool ua_client_parse_url(const char *url, char *host, size_t host_cap, uint16_t *port);

#endif
