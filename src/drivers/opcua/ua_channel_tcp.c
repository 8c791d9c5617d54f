/* The UA Connection Protocol (OPC 10000-6 7.1): framing of the byte stream,
 * and the HEL, ACK, ERR and RHE messages. See ua_channel.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "drivers/opcua/ua_channel.h"

bool ua_channel_fail(struct ua_channel_error *err, uint32_t status, const char *fmt, ...)
{
    if (!err) return false;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return false;
}

/* The length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629:
 * no overlong forms, no surrogates, at most U+10FFFF), 0 if there is none. */
static size_t utf8_sequence(const uint8_t *s, size_t len)
{
    uint8_t c = s[0];
    size_t n = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || n > len) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))) return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))) return 0;
    return n;
}

void ua_channel_clean_text(char *dst, size_t cap, const uint8_t *src, size_t len)
{
    if (cap == 0) return;
    size_t o = 0, i = 0;
    while (i < len && o + 1 < cap) {
        size_t n = utf8_sequence(src + i, len - i);
        if (n == 0 || (n == 1 && (src[i] < 0x20 || src[i] == 0x7f))) {
            dst[o++] = '?'; /* a control character or a byte that is not UTF-8 */
            i += n ? n : 1;
            continue;
        }
        if (o + n >= cap) break; /* a character is never cut */
        memcpy(dst + o, src + i, n);
        o += n;
        i += n;
    }
    dst[o] = '\0';
    if (i < len && cap >= 4) {
        /* cut: end in "..." (without splitting a character) */
        size_t at = o < cap - 4 ? o : cap - 4;
        while (at > 0 && ((uint8_t)dst[at] & 0xc0) == 0x80)
            at--;
        memcpy(dst + at, "...", 4);
    }
}

/* ------------------------------------------------------------ msg types */

static const struct {
    enum ua_tcp_msg_type type;
    char name[4];
    uint32_t min_bytes; /* the smallest valid message of this type */
} msg_types[] = {
    {UA_TCP_HEL, "HEL", UA_TCP_HEL_MIN_BYTES},
    {UA_TCP_ACK, "ACK", UA_TCP_ACK_BYTES},
    {UA_TCP_ERR, "ERR", UA_TCP_HEADER_BYTES + 8},
    {UA_TCP_RHE, "RHE", UA_TCP_HEADER_BYTES + 8},
    {UA_TCP_MSG, "MSG", UA_CHANNEL_HEADER_BYTES + 4 + UA_CHANNEL_SEQUENCE_HEADER_BYTES},
    {UA_TCP_OPN, "OPN", UA_CHANNEL_HEADER_BYTES + 12 + UA_CHANNEL_SEQUENCE_HEADER_BYTES},
    {UA_TCP_CLO, "CLO", UA_CHANNEL_HEADER_BYTES + 4 + UA_CHANNEL_SEQUENCE_HEADER_BYTES},
};
#define MSG_TYPE_COUNT (sizeof msg_types / sizeof msg_types[0])

const char *ua_tcp_msg_type_name(enum ua_tcp_msg_type type)
{
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++)
        if (msg_types[i].type == type) return msg_types[i].name;
    return "???";
}

static int msg_type_index(const uint8_t *p)
{
    for (size_t i = 0; i < MSG_TYPE_COUNT; i++)
        if (memcmp(p, msg_types[i].name, 3) == 0) return (int)i;
    return -1;
}

static bool is_secure_type(enum ua_tcp_msg_type t)
{
    return t == UA_TCP_MSG || t == UA_TCP_OPN || t == UA_TCP_CLO;
}

enum ua_tcp_frame_status ua_tcp_frame_check(const uint8_t *data, size_t len, uint32_t max_bytes,
                                            struct ua_tcp_frame *frame,
                                            struct ua_channel_error *err)
{
    *frame = (struct ua_tcp_frame){0};
    if (len < UA_TCP_HEADER_BYTES) {
        frame->need_bytes = UA_TCP_HEADER_BYTES - len;
        return UA_TCP_FRAME_NEED_MORE;
    }
    int i = msg_type_index(data);
    if (i < 0) {
        char shown[4];
        ua_channel_clean_text(shown, sizeof shown, data, 3);
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                        "unknown message type '%s' (%02X %02X %02X) at offset 0", shown, data[0],
                        data[1], data[2]);
        return UA_TCP_FRAME_INVALID;
    }
    frame->type = msg_types[i].type;
    frame->chunk_type = (char)data[3];
    frame->size_bytes = get_u32le(data + 4);
    const char *name = msg_types[i].name;
    bool chunk_ok =
        frame->chunk_type == 'F' ||
        (is_secure_type(frame->type) && (frame->chunk_type == 'C' || frame->chunk_type == 'A'));
    if (!chunk_ok) {
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                        "%s message: chunk type 0x%02X at offset 3 is not %s", name, data[3],
                        is_secure_type(frame->type) ? "'C', 'F' or 'A'" : "'F'");
        return UA_TCP_FRAME_INVALID;
    }
    if (frame->size_bytes > max_bytes) {
        ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE,
                        "%s message of %u bytes (size at offset 4) is larger than the %u-byte "
                        "receive buffer",
                        name, (unsigned)frame->size_bytes, (unsigned)max_bytes);
        return UA_TCP_FRAME_INVALID;
    }
    if (frame->size_bytes < msg_types[i].min_bytes) {
        ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                        "%s message of %u bytes (size at offset 4) is shorter than the %u bytes "
                        "its fields need",
                        name, (unsigned)frame->size_bytes, (unsigned)msg_types[i].min_bytes);
        return UA_TCP_FRAME_INVALID;
    }
    if (len < frame->size_bytes) {
        frame->need_bytes = frame->size_bytes - len;
        return UA_TCP_FRAME_NEED_MORE;
    }
    return UA_TCP_FRAME_COMPLETE;
}

void ua_tcp_sizes_default(struct ua_tcp_sizes *sizes)
{
    *sizes = (struct ua_tcp_sizes){
        .protocol_version = UA_TCP_PROTOCOL_VERSION,
        .receive_buffer_bytes = UA_TCP_DEFAULT_BUFFER_BYTES,
        .send_buffer_bytes = UA_TCP_DEFAULT_BUFFER_BYTES,
        .max_message_bytes = UA_TCP_DEFAULT_MAX_MESSAGE_BYTES,
        .max_chunk_count = UA_TCP_DEFAULT_MAX_CHUNK_COUNT,
    };
}

/* ------------------------------------------------------------- encoders */

/* Writes the 8-byte header with a size to patch; returns its offset. */
static size_t begin_message(struct ua_writer *w, const char *type)
{
    size_t start = w->len;
    ua_write_bytes(w, type, 3);
    ua_write_u8(w, 'F');
    ua_write_u32(w, 0);
    return start;
}

static bool end_message(struct ua_writer *w, size_t start, const char *what,
                        struct ua_channel_error *err)
{
    if (ua_writer_ok(w) && w->len - start > UINT32_MAX) ua_writer_fail(w, "message too large");
    if (ua_writer_ok(w)) ua_write_patch_u32(w, start + 4, (uint32_t)(w->len - start));
    if (!ua_writer_ok(w)) {
        return ua_channel_fail(err, UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED, "%s: %s", what,
                               w->fail_reason ? w->fail_reason : "writer failed");
    }
    return true;
}

static void write_sizes(struct ua_writer *w, const struct ua_tcp_sizes *s)
{
    ua_write_u32(w, s->protocol_version);
    ua_write_u32(w, s->receive_buffer_bytes);
    ua_write_u32(w, s->send_buffer_bytes);
    ua_write_u32(w, s->max_message_bytes);
    ua_write_u32(w, s->max_chunk_count);
}

bool ua_tcp_encode_hello(struct ua_writer *w, const struct ua_tcp_sizes *ours,
                         const char *endpoint_url, struct ua_channel_error *err)
{
    if (ours->receive_buffer_bytes < UA_TCP_MIN_BUFFER_BYTES ||
        ours->send_buffer_bytes < UA_TCP_MIN_BUFFER_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "HEL: buffer sizes %u / %u: both must be at least %u bytes",
                               (unsigned)ours->receive_buffer_bytes,
                               (unsigned)ours->send_buffer_bytes, UA_TCP_MIN_BUFFER_BYTES);
    if (ours->max_message_bytes == 0)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "HEL: a MaxMessageSize of 0 (no limit) is not allowed");
    size_t url_len = endpoint_url ? strnlen(endpoint_url, UA_TCP_MAX_URL_BYTES) : 0;
    if (url_len == 0 || url_len >= UA_TCP_MAX_URL_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID,
                               "HEL: the endpoint URL must be 1 to %d bytes",
                               UA_TCP_MAX_URL_BYTES - 1);
    size_t start = begin_message(w, "HEL");
    write_sizes(w, ours);
    ua_encode_string(w, ua_string_from_cstr(endpoint_url));
    return end_message(w, start, "HEL", err);
}

bool ua_tcp_encode_ack(struct ua_writer *w, const struct ua_tcp_sizes *server,
                       struct ua_channel_error *err)
{
    size_t start = begin_message(w, "ACK");
    write_sizes(w, server);
    return end_message(w, start, "ACK", err);
}

bool ua_tcp_encode_error(struct ua_writer *w, uint32_t status, const char *reason,
                         struct ua_channel_error *err)
{
    if (reason && strnlen(reason, UA_TCP_MAX_REASON_BYTES + 1) > UA_TCP_MAX_REASON_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_INTERNAL_ERROR,
                               "ERR: the reason is longer than %d bytes", UA_TCP_MAX_REASON_BYTES);
    size_t start = begin_message(w, "ERR");
    ua_write_u32(w, status);
    ua_encode_string(w, ua_string_from_cstr(reason));
    return end_message(w, start, "ERR", err);
}

/* ------------------------------------------------------------- decoders */

/* Checks the 8-byte header of a whole connection message msg[0..len) of
 * the given type and starts r after it. */
static bool open_message(struct ua_reader *r, const uint8_t *msg, size_t len, const char *type,
                         struct ua_channel_error *err)
{
    if (len < UA_TCP_HEADER_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "%s: %zu bytes is shorter than the 8-byte header", type, len);
    if (memcmp(msg, type, 3) != 0) {
        char shown[4];
        ua_channel_clean_text(shown, sizeof shown, msg, 3);
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                               "expected %s, got message type '%s' at offset 0", type, shown);
    }
    if (msg[3] != 'F')
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID,
                               "%s: chunk type 0x%02X at offset 3 is not 'F'", type, msg[3]);
    uint32_t size = get_u32le(msg + 4);
    if (size != len)
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "%s: MessageSize %u at offset 4 but the message has %zu bytes", type,
                               (unsigned)size, len);
    ua_reader_init(r, msg, len);
    ua_read_skip(r, UA_TCP_HEADER_BYTES);
    return true;
}

/* Fails with the reader's first failure, or when bytes are left over. */
static bool close_message(struct ua_reader *r, const char *type, struct ua_channel_error *err)
{
    if (!ua_reader_ok(r))
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR, "%s: %s at offset %zu", type,
                               r->fail_reason, r->fail_offset);
    if (ua_reader_remaining(r) != 0)
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR,
                               "%s: %zu unexpected bytes at offset %zu", type,
                               ua_reader_remaining(r), r->pos);
    return true;
}

static void read_sizes(struct ua_reader *r, struct ua_tcp_sizes *s)
{
    s->protocol_version = ua_read_u32(r);
    s->receive_buffer_bytes = ua_read_u32(r);
    s->send_buffer_bytes = ua_read_u32(r);
    s->max_message_bytes = ua_read_u32(r);
    s->max_chunk_count = ua_read_u32(r);
}

/* A String of at most max_bytes (a longer one fails with too_long). */
static bool read_limited_string(struct ua_reader *r, struct ua_string *s, size_t max_bytes,
                                const char *type, const char *field, uint32_t too_long,
                                struct ua_channel_error *err)
{
    size_t at = r->pos;
    if (!ua_decode_string(r, s))
        return ua_channel_fail(err, UA_STATUS_BAD_DECODING_ERROR, "%s: %s: %s at offset %zu", type,
                               field, r->fail_reason, r->fail_offset);
    if (s->length > 0 && (size_t)s->length > max_bytes)
        return ua_channel_fail(err, too_long, "%s: %s of %d bytes at offset %zu is longer than %zu",
                               type, field, (int)s->length, at, max_bytes);
    return true;
}

bool ua_tcp_decode_hello(const uint8_t *msg, size_t len, struct ua_tcp_sizes *sizes,
                         struct ua_string *endpoint_url, struct ua_channel_error *err)
{
    struct ua_reader r = {0};
    if (!open_message(&r, msg, len, "HEL", err)) return false;
    read_sizes(&r, sizes);
    if (!read_limited_string(&r, endpoint_url, UA_TCP_MAX_URL_BYTES - 1, "HEL", "EndpointUrl",
                             UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID, err))
        return false;
    return close_message(&r, "HEL", err);
}

bool ua_tcp_decode_ack(const uint8_t *msg, size_t len, const struct ua_tcp_sizes *ours,
                       struct ua_tcp_sizes *server, struct ua_channel_limits *limits,
                       struct ua_channel_error *err)
{
    struct ua_reader r = {0};
    if (!open_message(&r, msg, len, "ACK", err)) return false;
    read_sizes(&r, server);
    if (!close_message(&r, "ACK", err)) return false;
    if (server->receive_buffer_bytes < UA_TCP_MIN_BUFFER_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_NOT_ENOUGH_RESOURCES,
                               "ACK: server ReceiveBufferSize %u (offset 12) is below the minimum "
                               "of %u bytes",
                               (unsigned)server->receive_buffer_bytes, UA_TCP_MIN_BUFFER_BYTES);
    if (server->send_buffer_bytes < UA_TCP_MIN_BUFFER_BYTES)
        return ua_channel_fail(err, UA_STATUS_BAD_TCP_NOT_ENOUGH_RESOURCES,
                               "ACK: server SendBufferSize %u (offset 16) is below the minimum of "
                               "%u bytes",
                               (unsigned)server->send_buffer_bytes, UA_TCP_MIN_BUFFER_BYTES);
    uint32_t send = ours->send_buffer_bytes < server->receive_buffer_bytes
                        ? ours->send_buffer_bytes
                        : server->receive_buffer_bytes;
    uint32_t recv = ours->receive_buffer_bytes < server->send_buffer_bytes
                        ? ours->receive_buffer_bytes
                        : server->send_buffer_bytes;
    *limits = (struct ua_channel_limits){
        .protocol_version = server->protocol_version,
        .send_chunk_bytes = send,
        .send_max_message_bytes = server->max_message_bytes,
        .send_max_chunks = server->max_chunk_count,
        .recv_chunk_bytes = recv,
        .recv_max_message_bytes = ours->max_message_bytes,
        .recv_max_chunks = ours->max_chunk_count,
    };
    return true;
}

bool ua_tcp_decode_error(const uint8_t *msg, size_t len, struct ua_channel_error *server_error,
                         struct ua_channel_error *err)
{
    struct ua_reader r = {0};
    if (!open_message(&r, msg, len, "ERR", err)) return false;
    uint32_t status = ua_read_u32(&r);
    struct ua_string reason = UA_STRING_NULL;
    ua_decode_string(&r, &reason);
    if (!close_message(&r, "ERR", err)) return false;
    char text[UA_TCP_MAX_REASON_BYTES + 1] = "";
    /* A client shall ignore a reason longer than 4096 bytes (7.1.2.5). */
    if (reason.length > 0 && reason.length <= UA_TCP_MAX_REASON_BYTES)
        ua_channel_clean_text(text, sizeof text, (const uint8_t *)reason.data,
                              (size_t)reason.length);
    char code[64];
    ua_status_format(status, code, sizeof code);
    /* An ERR always ends the connection: a code that is not Bad is odd, so
     * it is reported as BadUnexpectedError (the text keeps the code). */
    server_error->status = ua_status_is_bad(status) ? status : UA_STATUS_BAD_UNEXPECTED_ERROR;
    snprintf(server_error->text, sizeof server_error->text, "server sent ERR %s%s%s", code,
             text[0] ? ": " : "", text);
    size_t n = strlen(server_error->text);
    if (n == sizeof server_error->text - 1) memcpy(server_error->text + n - 3, "...", 3);
    return true;
}

bool ua_tcp_decode_reverse_hello(const uint8_t *msg, size_t len, struct ua_string *server_uri,
                                 struct ua_string *endpoint_url, struct ua_channel_error *err)
{
    struct ua_reader r = {0};
    if (!open_message(&r, msg, len, "RHE", err)) return false;
    if (!read_limited_string(&r, server_uri, UA_TCP_MAX_URL_BYTES, "RHE", "ServerUri",
                             UA_STATUS_BAD_DECODING_ERROR, err) ||
        !read_limited_string(&r, endpoint_url, UA_TCP_MAX_URL_BYTES, "RHE", "EndpointUrl",
                             UA_STATUS_BAD_TCP_ENDPOINT_URL_INVALID, err))
        return false;
    return close_message(&r, "RHE", err);
}
