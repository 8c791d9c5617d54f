/* The OPC UA client's transport layers as pure functions over buffers (no
 * sockets): the UA Connection Protocol messages (OPC 10000-6 7.1: HEL, ACK,
 * ERR, RHE) and the client side of one secure channel (OPC 10000-6 6.7,
 * UA Secure Conversation): message chunks OPN / MSG / CLO with their
 * headers, padding, signatures and encryption for the policies None and
 * Basic256Sha256 in the modes None, Sign and SignAndEncrypt; chunking on
 * send, reassembly on receive, sequence numbers, security tokens and their
 * renewal. The service bodies (OpenSecureChannelRequest, ReadRequest...)
 * come from the services layer above; the I/O loop below moves the bytes.
 *
 * Facts used, from OPC 10000-6:
 * - Every message starts with MessageType (3 ASCII bytes), a chunk type byte
 *   ('F' final, 'C' intermediate, 'A' abort; always 'F' except for MSG) and
 *   MessageSize (UInt32, the whole message including this header).
 * - HEL: ProtocolVersion, ReceiveBufferSize, SendBufferSize, MaxMessageSize,
 *   MaxChunkCount (UInt32 each), EndpointUrl (String, < 4096 bytes). ACK: the
 *   same five UInt32 from the server. Buffer sizes are at least 8192; the
 *   server's ReceiveBufferSize is at most the client's SendBufferSize and its
 *   SendBufferSize at most the client's ReceiveBufferSize; MaxMessageSize
 *   counts the unencrypted body, 0 meaning no limit, as for MaxChunkCount.
 *   ERR: Error (StatusCode), Reason (String, at most 4096 bytes).
 *   RHE: ServerUri, EndpointUrl (Strings).
 * - Secure conversation chunk: the 8-byte header, SecureChannelId (UInt32),
 *   then the security header: asymmetric for OPN (SecurityPolicyUri String
 *   <= 255 bytes, SenderCertificate ByteString, ReceiverCertificateThumbprint
 *   ByteString = SHA-1 of the receiver's DER certificate), symmetric for
 *   MSG / CLO (TokenId UInt32); then the sequence header (SequenceNumber,
 *   RequestId), the body, and when encrypted the padding: PaddingSize byte,
 *   that many bytes each equal to it, and ExtraPaddingSize (the high byte of
 *   a 16-bit padding size) only when the encrypting key is larger than 2048
 *   bits; then the signature. The signature covers everything before it;
 *   encryption covers everything from the sequence header to the end.
 *   OPN chunks are signed (own private key) and encrypted (receiver's public
 *   key) whenever the policy is not None, even in mode Sign. MSG / CLO in
 *   mode Sign are signed only (no padding), in SignAndEncrypt signed and
 *   encrypted with the derived symmetric keys.
 * - Sequence numbers: one counter per direction for the whole channel (not
 *   reset by a new token), +1 per chunk; LegacySequenceNumbers (None,
 *   Basic256Sha256): may wrap only after passing 4294966271 (UInt32 max -
 *   1024), to a number below 1024.
 * - Chunks of one message are sent one after the other (never interleaved
 *   with another message's). An abort chunk ('A') carries Error (UInt32) and
 *   Reason (String) and ends that message without closing the channel.
 * - Tokens: the client renews at 75 % of the revised lifetime, sends with
 *   the new token as soon as it has it, and accepts the old one until the
 *   server uses the new one (or the old one is more than 25 % past its
 *   lifetime).
 *
 * Errors: every fallible call fills a struct ua_channel_error (may be NULL)
 * with a Bad status code and one line naming what failed and where. A
 * decode error on a secure channel means the connection must be closed. */
#ifndef AIRLOCK_OPCUA_UA_CHANNEL_H
#define AIRLOCK_OPCUA_UA_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/opcua/ua_buf.h"
#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_types.h"

/* ----------------------------------------------------------------- sizes */

#define UA_TCP_HEADER_BYTES 8        /* MessageType, chunk type, MessageSize */
#define UA_TCP_PROTOCOL_VERSION 0    /* the version this code speaks */
#define UA_TCP_MIN_BUFFER_BYTES 8192 /* smallest Receive/SendBufferSize */
#define UA_TCP_MAX_URL_BYTES 4096    /* EndpointUrl limit (HEL, RHE) */
#define UA_TCP_MAX_REASON_BYTES 4096 /* ERR and abort Reason limit */
#define UA_TCP_HEL_MIN_BYTES 32      /* header + 5 UInt32 + url length */
#define UA_TCP_ACK_BYTES 28          /* header + 5 UInt32 */
#define UA_CHANNEL_HEADER_BYTES 12   /* UA_TCP_HEADER_BYTES + SecureChannelId */
#define UA_CHANNEL_SEQUENCE_HEADER_BYTES 8
#define UA_CHANNEL_MAX_POLICY_URI_BYTES 255
/* Legacy sequence numbers may wrap only after passing this value... */
#define UA_CHANNEL_SEQUENCE_WRAP_AFTER 4294966271u
/* ...and then restart below this one. */
#define UA_CHANNEL_SEQUENCE_WRAP_BELOW 1024u

/* Defaults for what the client announces in HEL (ua_tcp_sizes_default). */
#define UA_TCP_DEFAULT_BUFFER_BYTES 65535u
#define UA_TCP_DEFAULT_MAX_MESSAGE_BYTES (16u * 1024 * 1024)
#define UA_TCP_DEFAULT_MAX_CHUNK_COUNT 4096u

/* ----------------------------------------------------------------- errors */

/* status: a Bad StatusCode (UA_STATUS_BAD_* of ua_types.h); text: one line
 * for the log, e.g. "MSG chunk: signature does not verify (token 3,
 * sequence 17)". Text from the network is cleaned of control characters. */
struct ua_channel_error {
    uint32_t status;
    char text[512];
};

/* Fills err (when not NULL) with status and a printf-style line; returns
 * false, so a caller can `return ua_channel_fail(...)`. Shared with the
 * layers above so that every error reads the same way. */
bool ua_channel_fail(struct ua_channel_error *err, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies text received from the network, src[0..len), into dst[0..cap) for
 * a log line: control characters and bytes that are not well-formed UTF-8
 * become '?', and a text too long is cut (ending in "...", never inside a
 * character). dst is always NUL-terminated when cap > 0. */
void ua_channel_clean_text(char *dst, size_t cap, const uint8_t *src, size_t len);

/* ------------------------------------------------- connection protocol */

enum ua_tcp_msg_type {
    UA_TCP_INVALID = 0,
    UA_TCP_HEL, /* Hello (client -> server) */
    UA_TCP_ACK, /* Acknowledge */
    UA_TCP_ERR, /* Error */
    UA_TCP_RHE, /* ReverseHello (server -> client) */
    UA_TCP_MSG, /* secure conversation: a service message */
    UA_TCP_OPN, /* secure conversation: OpenSecureChannel */
    UA_TCP_CLO, /* secure conversation: CloseSecureChannel */
};

/* "HEL", "ACK", ... ; "???" for anything else. Static. */
const char *ua_tcp_msg_type_name(enum ua_tcp_msg_type type);

enum ua_tcp_frame_status {
    UA_TCP_FRAME_NEED_MORE = 0, /* a valid prefix: read frame.need_bytes more */
    UA_TCP_FRAME_COMPLETE,      /* data starts with one whole message */
    UA_TCP_FRAME_INVALID,       /* err says why; close the connection */
};

struct ua_tcp_frame {
    enum ua_tcp_msg_type type; /* known once 8 bytes are there */
    char chunk_type;           /* 'F', 'C' or 'A' */
    uint32_t size_bytes;       /* MessageSize: the whole message */
    size_t need_bytes;         /* NEED_MORE: at least this many more bytes */
};

/* The framing of the stream: looks at the bytes received so far (data[0..len),
 * starting at a message boundary) and says whether one complete message is
 * there. The size is checked against max_bytes (the receive buffer size we
 * announced) and against the smallest size of its type as soon as the
 * 8-byte header is there, before anything is buffered: a message larger
 * than max_bytes is INVALID (BadTcpMessageTooLarge), an unknown type is
 * INVALID (BadTcpMessageTypeInvalid), as is a chunk type other than 'F' for
 * HEL / ACK / ERR / RHE or other than 'C' / 'F' / 'A' for MSG / OPN / CLO.
 * On COMPLETE the message is data[0..frame->size_bytes). */
enum ua_tcp_frame_status ua_tcp_frame_check(const uint8_t *data, size_t len, uint32_t max_bytes,
                                            struct ua_tcp_frame *frame,
                                            struct ua_channel_error *err);

/* The sizes one side announces in HEL (client) or ACK (server), each from
 * that side's point of view. */
struct ua_tcp_sizes {
    uint32_t protocol_version;
    uint32_t receive_buffer_bytes; /* largest chunk it can receive */
    uint32_t send_buffer_bytes;    /* largest chunk it will send */
    uint32_t max_message_bytes;    /* largest message body it receives; 0: no limit */
    uint32_t max_chunk_count;      /* most chunks per message it receives; 0: no limit */
};

/* Protocol version 0, 65535-byte buffers, 16 MiB messages, 4096 chunks. */
void ua_tcp_sizes_default(struct ua_tcp_sizes *sizes);

/* What the client uses on one connection after the ACK. send_* bound the
 * chunks and messages the client sends (the server's limits), recv_* those it
 * accepts (its own, as announced in HEL, lowered to what the server said it
 * will send). 0 in a max_* field: no limit (never for recv_max_message_bytes
 * once negotiated: the client always announces a limit). */
struct ua_channel_limits {
    uint32_t protocol_version;       /* the server's, from the ACK */
    uint32_t send_chunk_bytes;       /* min(our SendBufferSize, its ReceiveBufferSize) */
    uint32_t send_max_message_bytes; /* its MaxMessageSize */
    uint32_t send_max_chunks;        /* its MaxChunkCount */
    uint32_t recv_chunk_bytes;       /* min(our ReceiveBufferSize, its SendBufferSize) */
    uint32_t recv_max_message_bytes; /* our MaxMessageSize */
    uint32_t recv_max_chunks;        /* our MaxChunkCount */
};

/* Appends a HEL message announcing ours (buffer sizes at least 8192; a
 * max_message_bytes of 0 is refused: the client always sets a limit) for
 * endpoint_url (non-empty, shorter than 4096 bytes). False with err when the
 * arguments are out of range or the writer fails. */
bool ua_tcp_encode_hello(struct ua_writer *w, const struct ua_tcp_sizes *ours,
                         const char *endpoint_url, struct ua_channel_error *err);

/* Decodes a whole HEL message msg[0..len) (header included). endpoint_url
 * points into msg. For tests and tools that play the server. */
bool ua_tcp_decode_hello(const uint8_t *msg, size_t len, struct ua_tcp_sizes *sizes,
                         struct ua_string *endpoint_url, struct ua_channel_error *err);

/* Appends an ACK message with the server's sizes (tests, tools). */
bool ua_tcp_encode_ack(struct ua_writer *w, const struct ua_tcp_sizes *server,
                       struct ua_channel_error *err);

/* Decodes a whole ACK message msg[0..len) answering a HEL that announced
 * ours: *server receives its five fields, *limits what this connection
 * uses. Refused: a wrong size or type, a server buffer size below 8192. The
 * server must only revise our sizes down; one that answers larger sizes is
 * taken down to ours (we never send nor accept chunks larger than we
 * announced). Any protocol version is taken (the server picks one we can
 * speak: ours is 0, the only one defined). */
bool ua_tcp_decode_ack(const uint8_t *msg, size_t len, const struct ua_tcp_sizes *ours,
                       struct ua_tcp_sizes *server, struct ua_channel_limits *limits,
                       struct ua_channel_error *err);

/* Appends an ERR message (reason may be NULL; at most 4096 bytes). */
bool ua_tcp_encode_error(struct ua_writer *w, uint32_t status, const char *reason,
                         struct ua_channel_error *err);

/* Decodes a whole ERR message msg[0..len). On success returns true with
 * *server_error holding the server's code and the line "server sent ERR
 * BadTcpEndpointUrlInvalid (0x80830000): <reason>" (reason cleaned of control
 * characters and cut to fit; a reason longer than 4096 bytes is ignored, as
 * the spec tells clients). A malformed ERR gives false and err. */
bool ua_tcp_decode_error(const uint8_t *msg, size_t len, struct ua_channel_error *server_error,
                         struct ua_channel_error *err);

/* Decodes a whole RHE message msg[0..len); both strings point into msg.
 * (Reverse connections are not used by airlock; decoded to give a clear
 * error.) */
bool ua_tcp_decode_reverse_hello(const uint8_t *msg, size_t len, struct ua_string *server_uri,
                                 struct ua_string *endpoint_url, struct ua_channel_error *err);

/* --------------------------------------------------------- secure channel */

/* MessageSecurityMode (OPC 10000-4 7.20) values, so they can be put in an
 * OpenSecureChannelRequest as they are. */
enum ua_channel_mode {
    UA_CHANNEL_MODE_NONE = 1,
    UA_CHANNEL_MODE_SIGN = 2,
    UA_CHANNEL_MODE_SIGN_AND_ENCRYPT = 3,
};

/* "None", "Sign", "SignAndEncrypt"; "Invalid" otherwise. Static. */
const char *ua_channel_mode_name(enum ua_channel_mode mode);

/* What ua_channel_init needs. Everything is copied or derived except
 * own_key, which is borrowed and must outlive the channel. */
struct ua_channel_config {
    enum ua_crypto_policy_id policy; /* None only with mode None, and back */
    enum ua_channel_mode mode;
    /* Not None: our private key and certificate (DER; ua_pki), and the
     * server's certificate (DER, or a chain leaf first, as in its
     * EndpointDescription). Ignored for None. */
    const struct ua_crypto_key *own_key;
    const uint8_t *own_cert;
    size_t own_cert_len;
    const uint8_t *server_cert;
    size_t server_cert_len;
    /* From ua_tcp_decode_ack. send_chunk_bytes and recv_chunk_bytes must be
     * at least 8192, recv_max_message_bytes must not be 0. */
    struct ua_channel_limits limits;
};

/* A security token: its id, lifetime and keys. */
struct ua_channel_token {
    bool valid;
    uint32_t token_id;
    uint32_t lifetime_ms;                  /* RevisedLifetime */
    int64_t created_ns;                    /* caller's clock at ua_channel_install_token */
    struct ua_crypto_sym_keys client_keys; /* what we sign / encrypt with */
    struct ua_crypto_sym_keys server_keys; /* what we verify / decrypt with */
};

/* The client side of one secure channel on one connection. Embed it or
 * allocate it; ua_channel_init fills it, ua_channel_free releases what it
 * holds. One thread at a time. Fields are readable (channel_id, limits,
 * current...) but only the functions below change them. */
struct ua_channel {
    const struct ua_crypto_policy *policy;
    enum ua_channel_mode mode;
    const struct ua_crypto_key *own_key; /* borrowed */
    struct ua_crypto_key *server_key;    /* from server_cert */
    uint8_t *own_cert;                   /* copies (NULL for None) */
    size_t own_cert_len;
    uint8_t *server_cert;
    size_t server_cert_len;
    uint8_t own_thumbprint[UA_CRYPTO_SHA1_BYTES];
    uint8_t server_thumbprint[UA_CRYPTO_SHA1_BYTES];
    struct ua_channel_limits limits;

    uint32_t channel_id; /* 0 until the first token is installed */
    struct ua_channel_token current, previous;
    uint8_t client_nonce[UA_CRYPTO_SHA256_BYTES];
    size_t client_nonce_len; /* 0: none pending */
    uint32_t opn_channel_id; /* SecureChannelId of the last OPN response */

    uint32_t send_sequence; /* next SequenceNumber to send */
    bool recv_sequence_started;
    uint32_t recv_sequence; /* last SequenceNumber received */

    /* Reassembly of the message being received. */
    struct ua_writer assembly; /* limit: recv_max_message_bytes */
    bool assembling;           /* chunks of a message are in assembly */
    bool assembly_delivered;   /* assembly holds a delivered message */
    enum ua_tcp_msg_type assembly_type;
    uint32_t assembly_request_id;
    uint32_t assembly_chunks;
};

/* Prepares ch for one connection: checks the config (policy and mode agree;
 * for Basic256Sha256: own_key private, within the policy's key sizes and
 * matching own_cert; the server certificate readable with an RSA key within
 * the policy's sizes; limits as above) and copies what it needs. Sequence
 * numbers start at 1. False with err (ch then holds nothing to free, but
 * ua_channel_free is safe). */
bool ua_channel_init(struct ua_channel *ch, const struct ua_channel_config *cfg,
                     struct ua_channel_error *err);

/* Releases what ch holds and wipes its keys. Safe on a zeroed or failed
 * channel and twice. */
void ua_channel_free(struct ua_channel *ch);

/* Makes a fresh client nonce for the next OpenSecureChannel request (issue
 * or renew) and keeps it to derive the keys when the response comes:
 * *nonce points to it inside ch (valid until the next call), *nonce_len is
 * the policy's nonce size (32), or 0 for None (send a null ByteString).
 * False when the random generator fails (or ch was never initialised). */
bool ua_channel_new_client_nonce(struct ua_channel *ch, const uint8_t **nonce, size_t *nonce_len,
                                 struct ua_channel_error *err);

/* Appends to out the chunks of one message (type UA_TCP_OPN, UA_TCP_MSG or
 * UA_TCP_CLO) with body[0..body_len), ready to be written to the socket as
 * they are: OPN with the asymmetric security header (signed with own_key
 * and encrypted for the server's key unless the policy is None), MSG / CLO
 * with the current token (signed / encrypted as the mode says). The body
 * is cut into as many chunks as needed to fit limits.send_chunk_bytes
 * ('C'... then 'F'); OPN and CLO must fit one chunk. Each chunk takes the
 * next sequence number. *chunk_count (may be NULL) receives the number of
 * chunks. Refused, with nothing appended and no sequence number used:
 * MSG / CLO before a token is installed (BadSecureChannelClosed), a body
 * larger than limits.send_max_message_bytes or needing more than
 * send_max_chunks chunks (BadRequestTooLarge), a certificate too large for
 * one chunk (BadTcpMessageTooLarge), a writer limit (BadEncodingLimitsExceeded). */
bool ua_channel_encode_message(struct ua_channel *ch, enum ua_tcp_msg_type type,
                               uint32_t request_id, const uint8_t *body, size_t body_len,
                               struct ua_writer *out, unsigned *chunk_count,
                               struct ua_channel_error *err);

/* The most body bytes one chunk of this type can carry on ch (what
 * ua_channel_encode_message puts in each chunk but the last); 0 when none
 * fits (a certificate too large for the send buffer) or MSG / CLO have no
 * token yet. */
size_t ua_channel_chunk_body_bytes(const struct ua_channel *ch, enum ua_tcp_msg_type type);

enum ua_channel_recv {
    UA_CHANNEL_RECV_FAILED = 0, /* err says why: close the connection */
    UA_CHANNEL_RECV_MORE,       /* an intermediate chunk was taken in */
    UA_CHANNEL_RECV_MESSAGE,    /* *msg holds a complete message */
    UA_CHANNEL_RECV_ABORTED,    /* the server aborted msg->request_id's message */
};

/* What ua_channel_decode_chunk hands over. */
struct ua_channel_message {
    enum ua_tcp_msg_type type; /* UA_TCP_OPN or UA_TCP_MSG */
    uint32_t request_id;
    uint32_t channel_id; /* from the chunk header */
    uint32_t token_id;   /* MSG: the token it was secured with */
    /* RECV_MESSAGE: the body. It points into the chunk (a message of one
     * chunk) or into ch's reassembly buffer: valid until the next
     * ua_channel_decode_chunk call on ch and while the chunk's bytes are
     * kept. */
    const uint8_t *body;
    size_t body_len;
    /* RECV_ABORTED: the server's Error and Reason (cleaned, cut to fit; empty
     * when longer than 4096 bytes, as the spec tells clients). */
    uint32_t abort_status;
    char abort_reason[256];
};

/* Takes one complete chunk from the server, chunk[0..len) as framed by
 * ua_tcp_frame_check (an OPN or MSG chunk; anything else is refused). The
 * chunk is decrypted in place, so its bytes change. In order, it checks: the
 * header (type, chunk type, MessageSize == len <= limits.recv_chunk_bytes),
 * the channel id (ch->channel_id; any for the first OPN response), for OPN
 * the asymmetric header (our policy URI; the server's certificate, the same
 * as the one configured; our certificate's thumbprint), for MSG the token
 * (current, or previous while the server has not used the current one and
 * it is not more than 25 % past its lifetime at now_ns); then decrypts,
 * verifies the signature, checks the padding, and the sequence number (+1
 * on the last one received, or a legacy wrap; the first one received is
 * taken as it is). Then the body joins the message being reassembled (one
 * message at a time, as chunks are never interleaved) within
 * limits.recv_max_chunks and recv_max_message_bytes. now_ns is on the clock
 * given to ua_channel_install_token.
 * Returns RECV_MORE for an intermediate chunk, RECV_MESSAGE with *msg when a
 * final chunk completes a message, RECV_ABORTED with *msg's request id and
 * the server's reason for an abort chunk (the message is dropped; the
 * channel stays usable), RECV_FAILED with err for anything wrong (status:
 * BadTcpMessageTypeInvalid, BadTcpSecureChannelUnknown,
 * BadSecureChannelTokenUnknown, BadSecurityChecksFailed,
 * BadSequenceNumberInvalid, BadResponseTooLarge, BadDecodingError...);
 * after RECV_FAILED the connection must be closed. */
enum ua_channel_recv ua_channel_decode_chunk(struct ua_channel *ch, uint8_t *chunk, size_t len,
                                             int64_t now_ns, struct ua_channel_message *msg,
                                             struct ua_channel_error *err);

/* Installs the token of an OpenSecureChannelResponse (decoded by the
 * services layer from the body ua_channel_decode_chunk delivered):
 * channel_id and token_id from its SecurityToken, lifetime_ms its
 * RevisedLifetime, server_nonce its ServerNonce, now_ns the caller's clock
 * (monotonic recommended). Derives both directions' keys from the client
 * nonce of ua_channel_new_client_nonce (then forgotten) and server_nonce
 * (exactly the policy's nonce size; ignored for None). The new token becomes
 * current (sending uses it at once); the old current one becomes previous
 * (still accepted on receive, see ua_channel_decode_chunk). Refused: a
 * channel id of 0, different from the channel's or from the OPN response's
 * header, a token id equal to the current one, a lifetime of 0, a missing
 * client nonce, a server nonce of the wrong size. */
bool ua_channel_install_token(struct ua_channel *ch, uint32_t channel_id, uint32_t token_id,
                              uint32_t lifetime_ms, const uint8_t *server_nonce,
                              size_t server_nonce_len, int64_t now_ns,
                              struct ua_channel_error *err);

/* True once a token is installed. */
bool ua_channel_is_open(const struct ua_channel *ch);

/* When the current token should be renewed: created + 75 % of its lifetime,
 * on the clock of ua_channel_install_token; INT64_MAX without a token. */
int64_t ua_channel_renew_at_ns(const struct ua_channel *ch);

/* True when now_ns has reached ua_channel_renew_at_ns. */
bool ua_channel_renew_due(const struct ua_channel *ch, int64_t now_ns);

#endif
