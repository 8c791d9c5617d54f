/* The OPC UA client's I/O loop: the socket (non-blocking, poll()), framing
 * of the byte stream, the chunks of the secure channel, requests and their
 * responses, and the work done while waiting (Publish, token renewal,
 * keep-alive). See ua_client.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "drivers/opcua/ua_client_internal.h"

/* ----------------------------------------------------------------- errors */

bool ua_client_fail(struct ua_client *c, struct ua_client_error *err, uint32_t status,
                    bool reconnect, const char *fmt, ...)
{
    if (reconnect && c) {
        c->broken = true;
        c->connected = false;
    }
    if (!err) return false;
    err->status = ua_status_is_bad(status) ? status : UA_STATUS_BAD_UNEXPECTED_ERROR;
    err->reconnect = reconnect;
    err->step = c && c->step ? c->step : "client";
    int n = snprintf(err->text, sizeof err->text, "%s: ", err->step);
    if (n < 0 || (size_t)n >= sizeof err->text) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text + n, sizeof err->text - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

bool ua_client_status_needs_reconnect(uint32_t status)
{
    switch (status & 0xFFFF0000u) {
    case UA_STATUS_BAD_SESSION_ID_INVALID:
    case UA_STATUS_BAD_SESSION_CLOSED:
    case UA_STATUS_BAD_SESSION_NOT_ACTIVATED:
    case UA_STATUS_BAD_SECURE_CHANNEL_ID_INVALID:
    case UA_STATUS_BAD_SECURE_CHANNEL_CLOSED:
    case UA_STATUS_BAD_SECURE_CHANNEL_TOKEN_UNKNOWN:
    case UA_STATUS_BAD_SECURITY_CHECKS_FAILED:
    case UA_STATUS_BAD_CONNECTION_CLOSED:
    case UA_STATUS_BAD_COMMUNICATION_ERROR:
    case UA_STATUS_BAD_SERVER_NOT_CONNECTED:
    case UA_STATUS_BAD_SHUTDOWN:
    case UA_STATUS_BAD_SERVER_HALTED:
    case UA_STATUS_BAD_TCP_SECURE_CHANNEL_UNKNOWN:
    case UA_STATUS_BAD_SEQUENCE_NUMBER_INVALID:
        return true;
    default:
        return false;
    }
}

/* Appends the strings of a response header's string table (where servers
 * such as node-opcua put the reason) to buf. */
static void append_string_table(char *buf, size_t cap, const struct ua_response_header *h)
{
    if (!h) return;
    size_t used = strlen(buf);
    for (size_t i = 0; i < h->string_table_count && used + 8 < cap; i++) {
        struct ua_string s = h->string_table[i];
        if (s.length <= 0) continue;
        char clean[256];
        ua_channel_clean_text(clean, sizeof clean, (const uint8_t *)s.data, (size_t)s.length);
        int n = snprintf(buf + used, cap - used, "%s%s", i == 0 ? " (" : "; ", clean);
        if (n < 0) return;
        used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
    }
    if (h->string_table_count && used + 2 < cap) {
        buf[used++] = ')';
        buf[used] = '\0';
    }
}

bool ua_client_fail_response(struct ua_client *c, struct ua_client_error *err,
                             const struct ua_reader *r, uint32_t status,
                             const struct ua_response_header *h, const char *what)
{
    char line[768];
    ua_service_error_format(r, status, what, line, sizeof line);
    bool malformed = status == UA_STATUS_BAD_DECODING_ERROR ||
                     status == UA_STATUS_BAD_UNKNOWN_RESPONSE ||
                     status == UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED;
    if (!malformed) append_string_table(line, sizeof line, h);
    /* A malformed response leaves the connection in an unknown state. */
    bool reconnect = malformed || ua_client_status_needs_reconnect(status);
    return ua_client_fail(c, err, status, reconnect, "%s", line);
}

/* ------------------------------------------------------------ call memory */

void ua_client_mem_init(struct ua_client_mem *m, size_t limit_bytes)
{
    ua_arena_init(&m->arena, 0, limit_bytes);
    m->blobs = NULL;
}

void ua_client_mem_reset(struct ua_client_mem *m)
{
    ua_arena_reset(&m->arena);
    while (m->blobs) {
        struct ua_client_blob *next = m->blobs->next;
        free(m->blobs);
        m->blobs = next;
    }
}

void ua_client_mem_free(struct ua_client_mem *m)
{
    ua_client_mem_reset(m);
    ua_arena_free(&m->arena);
}

/* ----------------------------------------------------------------- socket */

static void close_socket(struct ua_client *c)
{
    if (c->sock >= 0) close(c->sock);
    c->sock = -1;
    c->in_start = c->in_len = 0;
}

static bool tcp_connect(struct ua_client *c, int64_t deadline_ms, struct ua_client_error *err)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(c->host, port, &hints, &res);
    if (gai != 0)
        return ua_client_fail(c, err, UA_STATUS_BAD_COMMUNICATION_ERROR, true,
                              "cannot resolve host '%s': %s", c->host, gai_strerror(gai));
    char why[256] = "no address";
    uint32_t status = UA_STATUS_BAD_COMMUNICATION_ERROR;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(why, sizeof why, "socket: %s", strerror(errno));
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            int64_t wait = deadline_ms - clock_mono_ms();
            struct pollfd p[2] = {
                {.fd = fd, .events = POLLOUT},
                {.fd = c->opts.use_wake_fd ? c->opts.wake_fd : -1, .events = POLLIN}};
            int pr;
            do {
                pr = poll(p, 2, wait > 0 ? (int)wait : 0);
            } while (pr < 0 && errno == EINTR);
            if (pr > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                close(fd);
                freeaddrinfo(res);
                return ua_client_fail(c, err, UA_STATUS_BAD_REQUEST_INTERRUPTED, true,
                                      "interrupted: the client is being stopped");
            }
            if (pr == 0) {
                snprintf(why, sizeof why, "no answer within %u ms",
                         (unsigned)c->opts.connect_timeout_ms);
                status = UA_STATUS_BAD_TIMEOUT;
                close(fd);
                continue;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
        if (rc < 0) {
            snprintf(why, sizeof why, "%s", strerror(errno));
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
        c->sock = fd;
        c->in_start = c->in_len = 0;
        return true;
    }
    freeaddrinfo(res);
    return ua_client_fail(c, err, status, true, "cannot connect to %s port %u: %s", c->host,
                          (unsigned)c->port, why);
}

/* Writes all of data, waiting for the socket until deadline_ms. */
static bool send_all(struct ua_client *c, const uint8_t *data, size_t len, int64_t deadline_ms,
                     struct ua_client_error *err)
{
    if (c->sock < 0)
        return ua_client_fail(c, err, UA_STATUS_BAD_CONNECTION_CLOSED, true, "not connected");
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(c->sock, data + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return ua_client_fail(c, err, UA_STATUS_BAD_CONNECTION_CLOSED, true,
                                  "connection lost while sending: %s", strerror(errno));
        int64_t wait = deadline_ms - clock_mono_ms();
        if (wait <= 0)
            return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                                  "the server took no data for too long (send timeout)");
        struct pollfd p = {.fd = c->sock, .events = POLLOUT};
        if (poll(&p, 1, (int)wait) < 0 && errno != EINTR)
            return ua_client_fail(c, err, UA_STATUS_BAD_COMMUNICATION_ERROR, true, "poll: %s",
                                  strerror(errno));
    }
    c->last_send_ms = clock_mono_ms();
    return true;
}

/* What next_frame watches besides the socket. */
enum {
    WATCH_WAKE = 1,   /* options.wake_fd: stop (a request in progress fails) */
    WATCH_NOTIFY = 2, /* options.notify_fd: only ua_client_poll returns early */
};

/* Waits until a complete message starts at c->in + c->in_start. Returns 1
 * with *f, 0 when deadline_ms passed (or a watched fd is readable: c->woken
 * set for the wake fd, c->notified for the notify fd), -1 with err. */
static int next_frame(struct ua_client *c, int64_t deadline_ms, unsigned watch,
                      struct ua_tcp_frame *f, struct ua_client_error *err)
{
    for (;;) {
        struct ua_channel_error cerr = {0};
        enum ua_tcp_frame_status st = ua_tcp_frame_check(
            c->in + c->in_start, c->in_len - c->in_start, c->recv_frame_max, f, &cerr);
        if (st == UA_TCP_FRAME_COMPLETE) return 1;
        if (st == UA_TCP_FRAME_INVALID) {
            ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
            return -1;
        }
        if (c->in_start > 0) {
            memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
            c->in_len -= c->in_start;
            c->in_start = 0;
        }
        if (c->in_len >= c->in_cap) {
            ua_client_fail(c, err, UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE, true,
                           "a message does not fit the %zu-byte receive buffer", c->in_cap);
            return -1;
        }
        int64_t wait = deadline_ms - clock_mono_ms();
        if (wait < 0) wait = 0;
        if (wait > 60000) wait = 60000;
        struct pollfd p[3] = {{.fd = c->sock, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
        if ((watch & WATCH_WAKE) && c->opts.use_wake_fd) {
            p[1].fd = c->opts.wake_fd;
            p[1].events = POLLIN;
        }
        if ((watch & WATCH_NOTIFY) && c->opts.use_notify_fd) {
            p[2].fd = c->opts.notify_fd;
            p[2].events = POLLIN;
        }
        int pr = poll(p, 3, (int)wait);
        if (pr < 0) {
            if (errno == EINTR) continue;
            ua_client_fail(c, err, UA_STATUS_BAD_COMMUNICATION_ERROR, true, "poll: %s",
                           strerror(errno));
            return -1;
        }
        if (pr == 0) {
            if (clock_mono_ms() >= deadline_ms) return 0;
            continue;
        }
        if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            c->woken = true;
            return 0;
        }
        if (p[2].fd >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            c->notified = true;
            return 0;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = recv(c->sock, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0) {
            ua_client_fail(c, err, UA_STATUS_BAD_CONNECTION_CLOSED, true,
                           "the server closed the connection");
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            ua_client_fail(c, err, UA_STATUS_BAD_CONNECTION_CLOSED, true, "connection lost: %s",
                           strerror(errno));
            return -1;
        }
        c->in_len += (size_t)n;
    }
}

/* ------------------------------------------------------------- ERR message */

/* node-opcua answers an OpenSecureChannel from a client whose certificate it
 * does not trust with an "ERR" chunk laid out like an OPN chunk (channel
 * id, asymmetric security header, sequence header) holding a ServiceFault,
 * instead of Part 6's Error + Reason (tests/e2e/peers/README.md). Reads
 * that form; false when msg is not of it. */
static bool decode_opn_like_err(struct ua_client *c, const uint8_t *msg, size_t len, char *out,
                                size_t cap, uint32_t *status)
{
    struct ua_reader r;
    ua_reader_init(&r, msg, len);
    ua_read_skip(&r, UA_TCP_HEADER_BYTES);
    uint32_t channel_id = ua_read_u32(&r);
    if (!ua_reader_ok(&r) || ua_status_is_bad(channel_id)) return false;
    struct ua_string uri, cert, thumb;
    if (!ua_decode_string(&r, &uri) || uri.length <= 0 || uri.length > 255 ||
        strncmp(uri.data, "http://", 7 < uri.length ? 7 : (size_t)uri.length) != 0)
        return false;
    if (!ua_decode_string(&r, &cert) || !ua_decode_string(&r, &thumb) ||
        !ua_read_skip(&r, UA_CHANNEL_SEQUENCE_HEADER_BYTES))
        return false;
    struct ua_arena a;
    ua_arena_init(&a, 4096, 1 << 20);
    uint32_t type_id = 0;
    struct ua_response_header h;
    memset(&h, 0, sizeof h);
    uint32_t st = ua_decode_any_response_header(&r, &a, &type_id, &h);
    bool ok = ua_reader_ok(&r) && type_id == UA_DEFAULT_BINARY_SERVICE_FAULT;
    if (ok) {
        *status = ua_status_is_bad(st) ? st : UA_STATUS_BAD_SECURITY_CHECKS_FAILED;
        ua_status_format(*status, out, cap);
        append_string_table(out, cap, &h);
    }
    ua_arena_free(&a);
    (void)c;
    return ok;
}

/* An ERR message: always ends the connection. */
static bool on_error_message(struct ua_client *c, const uint8_t *msg, size_t len,
                             struct ua_client_error *err)
{
    char text[640];
    uint32_t status = UA_STATUS_BAD_UNEXPECTED_ERROR;
    struct ua_channel_error server = {0}, cerr = {0};
    if (decode_opn_like_err(c, msg, len, text, sizeof text, &status)) {
        /* keep text */
    } else if (ua_tcp_decode_error(msg, len, &server, &cerr)) {
        status = server.status;
        snprintf(text, sizeof text, "%s", server.text);
    } else {
        status = cerr.status;
        snprintf(text, sizeof text, "malformed ERR message: %s", cerr.text);
    }
    bool secure = c->channel_ready && c->ch.policy && c->ch.policy->id != UA_CRYPTO_POLICY_NONE;
    uint32_t code = status & 0xFFFF0000u;
    bool cert_problem = code == UA_STATUS_BAD_SECURITY_CHECKS_FAILED ||
                        code == UA_STATUS_BAD_CERTIFICATE_UNTRUSTED ||
                        code == UA_STATUS_BAD_CERTIFICATE_INVALID;
    if (secure && cert_problem && !ua_channel_is_open(&c->ch)) {
        const struct ua_pki_cert_info *own = c->pki ? ua_pki_own_info(c->pki) : NULL;
        return ua_client_fail(
            c, err, status, true,
            "the server refused the secure channel: %s; it probably does not trust airlock's "
            "certificate: make the server trust %s/own/cert.der (thumbprint %s), e.g. move it "
            "from the server's rejected certificates to its trusted ones",
            text, c->pki ? ua_pki_dir(c->pki) : "<pki>", own ? own->thumbprint_hex : "?");
    }
    return ua_client_fail(c, err, status, true, "the server closed the connection: %s", text);
}

/* ---------------------------------------------------------------- sending */

struct ua_request_header ua_client_header(struct ua_client *c, uint32_t timeout_ms)
{
    struct ua_request_header h;
    memset(&h, 0, sizeof h);
    if (++c->next_request_id == 0) c->next_request_id = 1;
    h.authentication_token = c->auth_token;
    h.timestamp = ua_datetime_from_unix_ns(clock_now_ns());
    h.request_handle = c->next_request_id;
    h.timeout_hint_ms = timeout_ms;
    return h;
}

/* Cuts body into chunks on the channel and sends them. */
static bool send_message(struct ua_client *c, enum ua_tcp_msg_type type, uint32_t request_id,
                         struct ua_writer *body, struct ua_writer *out, struct ua_client_error *err)
{
    if (!ua_writer_ok(body))
        return ua_client_fail(c, err, UA_STATUS_BAD_ENCODING_ERROR, false,
                              "cannot encode the request: %s",
                              body->fail_reason ? body->fail_reason : "?");
    if (!c->channel_ready || c->sock < 0)
        return ua_client_fail(c, err, UA_STATUS_BAD_SERVER_NOT_CONNECTED, true, "not connected");
    ua_writer_reset(out);
    struct ua_channel_error cerr = {0};
    if (!ua_channel_encode_message(&c->ch, type, request_id, body->data, body->len, out, NULL,
                                   &cerr)) {
        bool too_large = cerr.status == UA_STATUS_BAD_REQUEST_TOO_LARGE;
        return ua_client_fail(c, err, cerr.status, !too_large, "%s", cerr.text);
    }
    return send_all(c, out->data, out->len, clock_mono_ms() + c->opts.request_timeout_ms, err);
}

/* ---------------------------------------------------------- receiving */

static bool on_renew_response(struct ua_client *c, const uint8_t *body, size_t len,
                              struct ua_client_error *err)
{
    struct ua_reader r;
    ua_reader_init(&r, body, len);
    struct ua_arena a;
    ua_arena_init(&a, 4096, 1 << 20);
    struct ua_open_secure_channel_response resp;
    memset(&resp, 0, sizeof resp);
    const char *saved = c->step;
    c->step = "OpenSecureChannel (renew)";
    uint32_t st = ua_decode_open_secure_channel_response(&r, &a, &resp);
    bool ok;
    if (st != UA_STATUS_GOOD) {
        ok = ua_client_fail_response(c, err, &r, st, &resp.header, "OpenSecureChannelResponse");
        c->broken = true;
        c->connected = false;
        if (err) err->reconnect = true;
    } else {
        struct ua_channel_error cerr = {0};
        ok = ua_channel_install_token(
            &c->ch, resp.channel_id, resp.token_id, resp.revised_lifetime_ms,
            (const uint8_t *)resp.server_nonce.data,
            resp.server_nonce.length > 0 ? (size_t)resp.server_nonce.length : 0, clock_mono_ns(),
            &cerr);
        if (!ok)
            ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
        else
            c->info.token_renewals++;
    }
    c->step = saved;
    ua_arena_free(&a);
    c->renew_request_id = 0;
    return ok;
}

static bool on_ping_response(struct ua_client *c, const uint8_t *body, size_t len,
                             struct ua_client_error *err)
{
    c->ping_request_id = 0;
    struct ua_reader r;
    ua_reader_init(&r, body, len);
    struct ua_arena a;
    ua_arena_init(&a, 4096, 1 << 20);
    uint32_t type_id = 0;
    struct ua_response_header h;
    memset(&h, 0, sizeof h);
    uint32_t st = ua_decode_any_response_header(&r, &a, &type_id, &h);
    bool ok = true;
    if (st != UA_STATUS_GOOD && ua_client_status_needs_reconnect(st)) {
        const char *saved = c->step;
        c->step = "session keep-alive";
        ok = ua_client_fail_response(c, err, &r, st, &h, "ReadResponse");
        c->step = saved;
    }
    ua_arena_free(&a);
    return ok;
}

static bool take_call_response(struct ua_client *c, const uint8_t *body, size_t len,
                               struct ua_client_error *err)
{
    struct ua_client_blob *b = malloc(sizeof *b + (len ? len : 1));
    if (!b)
        return ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, true,
                              "no memory for a %zu-byte response", len);
    if (len) memcpy(b->data, body, len);
    b->len = len;
    b->next = c->mem.blobs;
    c->mem.blobs = b;
    c->call_body = b->data;
    c->call_body_len = len;
    c->call_done = true;
    return true;
}

static int find_publish(struct ua_client *c, uint32_t request_id)
{
    for (unsigned i = 0; i < c->publishes_count; i++)
        if (c->publishes[i].request_id == request_id) return (int)i;
    return -1;
}

static void drop_publish(struct ua_client *c, int i)
{
    c->publishes[i] = c->publishes[c->publishes_count - 1];
    c->publishes_count--;
}

/* A complete message from the channel. */
static bool dispatch(struct ua_client *c, const struct ua_channel_message *m,
                     struct ua_client_error *err)
{
    uint32_t id = m->request_id;
    if (c->call_request_id && id == c->call_request_id) {
        c->call_request_id = 0;
        return take_call_response(c, m->body, m->body_len, err);
    }
    if (c->renew_request_id && id == c->renew_request_id && m->type == UA_TCP_OPN)
        return on_renew_response(c, m->body, m->body_len, err);
    int pi = find_publish(c, id);
    if (pi >= 0) {
        drop_publish(c, pi);
        return ua_client_on_publish(c, m->body, m->body_len, err);
    }
    if (c->ping_request_id && id == c->ping_request_id)
        return on_ping_response(c, m->body, m->body_len, err);
    return true; /* a late answer to something forgotten: dropped */
}

static bool on_abort(struct ua_client *c, const struct ua_channel_message *m,
                     struct ua_client_error *err)
{
    uint32_t id = m->request_id;
    if (c->call_request_id && id == c->call_request_id) {
        c->call_request_id = 0;
        c->call_done = true;
        c->call_abort_status = m->abort_status;
        snprintf(c->call_abort_reason, sizeof c->call_abort_reason, "%s", m->abort_reason);
        return true;
    }
    int pi = find_publish(c, id);
    if (pi >= 0) drop_publish(c, pi);
    if (c->ping_request_id == id) c->ping_request_id = 0;
    if (c->renew_request_id == id)
        return ua_client_fail(c, err, m->abort_status, true,
                              "the server aborted the token renewal: %s", m->abort_reason);
    return true;
}

static bool handle_frame(struct ua_client *c, const struct ua_tcp_frame *f,
                         struct ua_client_error *err)
{
    uint8_t *p = c->in + c->in_start;
    size_t len = f->size_bytes;
    bool ok;
    if (f->type == UA_TCP_ERR) {
        ok = on_error_message(c, p, len, err);
    } else if (f->type == UA_TCP_MSG || f->type == UA_TCP_OPN) {
        struct ua_channel_message m;
        struct ua_channel_error cerr = {0};
        enum ua_channel_recv rv =
            ua_channel_decode_chunk(&c->ch, p, len, clock_mono_ns(), &m, &cerr);
        switch (rv) {
        case UA_CHANNEL_RECV_MESSAGE:
            ok = dispatch(c, &m, err);
            break;
        case UA_CHANNEL_RECV_ABORTED:
            ok = on_abort(c, &m, err);
            break;
        case UA_CHANNEL_RECV_MORE:
            ok = true;
            break;
        default:
            ok = ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
            break;
        }
    } else {
        ok = ua_client_fail(c, err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID, true,
                            "unexpected %s message from the server", ua_tcp_msg_type_name(f->type));
    }
    c->in_start += len;
    return ok;
}

/* ------------------------------------------------------------- background */

static bool send_renew(struct ua_client *c, struct ua_client_error *err)
{
    const uint8_t *nonce = NULL;
    size_t nonce_len = 0;
    struct ua_channel_error cerr = {0};
    if (!ua_channel_new_client_nonce(&c->ch, &nonce, &nonce_len, &cerr))
        return ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    h.authentication_token = (struct ua_nodeid){0};
    struct ua_open_secure_channel_request req = {
        .client_protocol_version = UA_TCP_PROTOCOL_VERSION,
        .request_type = UA_SECURITY_TOKEN_RENEW,
        .security_mode = (int32_t)c->ch.mode,
        .client_nonce = {(const char *)nonce, (int32_t)nonce_len},
        .requested_lifetime_ms = c->opts.channel_lifetime_ms,
    };
    ua_writer_reset(&c->abody);
    ua_encode_open_secure_channel_request(&c->abody, &h, &req);
    if (!send_message(c, UA_TCP_OPN, h.request_handle, &c->abody, &c->aout, err)) return false;
    c->renew_request_id = h.request_handle;
    c->renew_sent_ms = clock_mono_ms();
    return true;
}

/* The longest a Publish request may wait at the server: the longest
 * keep-alive period of the subscriptions. */
static uint32_t publish_wait_ms(const struct ua_client *c)
{
    double most = 0;
    for (size_t i = 0; i < c->subs_count; i++) {
        double p = c->subs[i].s.publishing_interval_ms * (double)c->subs[i].s.max_keep_alive_count;
        if (p > most) most = p;
    }
    if (most > 3600000.0) most = 3600000.0;
    return (uint32_t)most;
}

static bool send_publish(struct ua_client *c, struct ua_client_error *err)
{
    uint32_t hint = publish_wait_ms(c) * 2 + c->opts.request_timeout_ms;
    struct ua_request_header h = ua_client_header(c, hint);
    struct ua_publish_request req = {.acknowledgements_count = c->acks_count,
                                     .acknowledgements = c->acks};
    ua_writer_reset(&c->abody);
    ua_encode_publish_request(&c->abody, &h, &req);
    const char *saved = c->step;
    c->step = "Publish";
    bool ok = send_message(c, UA_TCP_MSG, h.request_handle, &c->abody, &c->aout, err);
    c->step = saved;
    if (!ok) return false;
    c->acks_count = 0;
    c->publishes[c->publishes_count++] =
        (struct ua_client_publish){.request_id = h.request_handle, .sent_ms = clock_mono_ms()};
    return true;
}

/* A Read of Server.ServerStatus.State: keeps the session alive. */
static bool send_ping(struct ua_client *c, struct ua_client_error *err)
{
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    struct ua_read_value_id node = {.node_id = ua_nodeid_numeric(0, 2259),
                                    .attribute_id = UA_ATTRIBUTE_VALUE,
                                    .index_range = UA_STRING_NULL};
    node.data_encoding.name = UA_STRING_NULL;
    struct ua_read_request req = {
        .timestamps_to_return = UA_TIMESTAMPS_NEITHER, .nodes_count = 1, .nodes = &node};
    ua_writer_reset(&c->abody);
    ua_encode_read_request(&c->abody, &h, &req);
    if (!send_message(c, UA_TCP_MSG, h.request_handle, &c->abody, &c->aout, err)) return false;
    c->ping_request_id = h.request_handle;
    c->ping_sent_ms = clock_mono_ms();
    return true;
}

bool ua_client_service_timers(struct ua_client *c, struct ua_client_error *err)
{
    if (c->broken || !c->channel_ready || !ua_channel_is_open(&c->ch)) return true;
    int64_t now = clock_mono_ms();
    if (!c->renew_request_id && ua_channel_renew_due(&c->ch, clock_mono_ns()) &&
        !send_renew(c, err))
        return false;
    int64_t timeout = c->opts.request_timeout_ms;
    if (c->renew_request_id && now - c->renew_sent_ms > timeout)
        return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                              "the server did not answer the security token renewal within %u ms",
                              (unsigned)c->opts.request_timeout_ms);
    if (!c->connected) return true;
    /* Liveness of what the server owes us. */
    if (c->renew_request_id == 0 && c->ping_request_id && now - c->ping_sent_ms > timeout)
        return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                              "the server did not answer the session keep-alive Read within %u ms",
                              (unsigned)c->opts.request_timeout_ms);
    int64_t publish_limit = (int64_t)publish_wait_ms(c) * 2 + timeout;
    /* (Without subscriptions the server may keep old Publish requests.) */
    for (unsigned i = 0; c->subs_count && i < c->publishes_count; i++)
        if (now - c->publishes[i].sent_ms > publish_limit)
            return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                                  "a Publish request got no answer within %lld ms",
                                  (long long)publish_limit);
    for (size_t i = 0; i < c->subs_count; i++) {
        const struct ua_client_sub *s = &c->subs[i];
        int64_t period = (int64_t)(s->s.publishing_interval_ms * s->s.max_keep_alive_count);
        if (now - s->last_seen_ms > period + timeout)
            return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                                  "subscription %u: no data and no keep-alive for %lld ms "
                                  "(keep-alive period %lld ms)",
                                  (unsigned)s->s.subscription_id,
                                  (long long)(now - s->last_seen_ms), (long long)period);
    }
    /* What we owe the server. */
    unsigned target = c->subs_count ? c->publish_target : 0;
    while (c->publishes_count < target)
        if (!send_publish(c, err)) return false;
    int64_t idle_limit = (int64_t)(c->info.session_timeout_ms / 3);
    if (idle_limit < 1000) idle_limit = 1000;
    if (!c->subs_count && !c->ping_request_id && now - c->last_send_ms > idle_limit)
        return send_ping(c, err);
    return true;
}

/* When ua_client_service_timers next has something to do (monotonic ms). */
static int64_t next_timer_ms(const struct ua_client *c)
{
    int64_t now = clock_mono_ms();
    int64_t next = now + 1000;
    if (c->channel_ready && ua_channel_is_open(&c->ch)) {
        int64_t renew = ua_channel_renew_at_ns(&c->ch) / 1000000;
        if (renew < next) next = renew;
    }
    return next < now ? now : next;
}

/* Serves the connection until *done, deadline_ms, or a watched fd is
 * readable. Returns 1 when done, 0 at the deadline or wake-up, -1 on error. */
static int pump(struct ua_client *c, const bool *done, int64_t deadline_ms, unsigned watch,
                struct ua_client_error *err)
{
    for (;;) {
        if (done && *done) return 1;
        if (!ua_client_service_timers(c, err)) return -1;
        int64_t until = next_timer_ms(c);
        if (until > deadline_ms) until = deadline_ms;
        struct ua_tcp_frame f;
        int r = next_frame(c, until, watch, &f, err);
        if (r < 0) return -1;
        if (r == 0) {
            if (c->woken || ((watch & WATCH_NOTIFY) && c->notified)) return 0;
            if (clock_mono_ms() >= deadline_ms) return done && *done ? 1 : 0;
            continue;
        }
        if (!handle_frame(c, &f, err)) return -1;
    }
}

bool ua_client_pump_until(struct ua_client *c, int64_t deadline_ms, struct ua_client_error *err)
{
    c->woken = false;
    c->notified = false;
    return pump(c, NULL, deadline_ms, WATCH_WAKE | WATCH_NOTIFY, err) >= 0;
}

bool ua_client_call(struct ua_client *c, enum ua_tcp_msg_type type,
                    const struct ua_request_header *h, uint32_t timeout_ms, struct ua_reader *r,
                    struct ua_client_error *err)
{
    if (c->broken)
        return ua_client_fail(c, err, UA_STATUS_BAD_SERVER_NOT_CONNECTED, true,
                              "the connection failed before: reconnect first");
    c->call_done = false;
    c->call_abort_status = 0;
    c->call_abort_reason[0] = '\0';
    c->call_body = NULL;
    c->call_body_len = 0;
    if (!send_message(c, type, h->request_handle, &c->body, &c->out, err)) return false;
    c->call_request_id = h->request_handle;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    c->woken = false;
    int rc = pump(c, &c->call_done, deadline, WATCH_WAKE, err);
    if (rc < 0) {
        c->call_request_id = 0;
        return false;
    }
    if (rc == 0 && c->woken && !c->call_done) {
        c->call_request_id = 0;
        return ua_client_fail(c, err, UA_STATUS_BAD_REQUEST_INTERRUPTED, true,
                              "interrupted: the client is being stopped");
    }
    if (rc == 0 || !c->call_done) {
        c->call_request_id = 0;
        return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                              "no response from the server within %u ms", (unsigned)timeout_ms);
    }
    if (c->call_abort_status)
        return ua_client_fail(c, err, c->call_abort_status, false,
                              "the server aborted the response: %s%s%s",
                              ua_status_name(c->call_abort_status),
                              c->call_abort_reason[0] ? ": " : "", c->call_abort_reason);
    ua_reader_init(r, c->call_body, c->call_body_len);
    return true;
}

/* ------------------------------------------------------ opening a channel */

static bool hello(struct ua_client *c, int64_t deadline_ms, struct ua_client_error *err)
{
    c->step = "Hello";
    struct ua_channel_error cerr = {0};
    ua_writer_reset(&c->out);
    if (!ua_tcp_encode_hello(&c->out, &c->hello, c->endpoint_url, &cerr))
        return ua_client_fail(c, err, cerr.status, false, "%s", cerr.text);
    if (!send_all(c, c->out.data, c->out.len, deadline_ms, err)) return false;
    c->recv_frame_max = (uint32_t)c->in_cap;
    struct ua_tcp_frame f;
    c->woken = false;
    int r = next_frame(c, deadline_ms, WATCH_WAKE, &f, err);
    if (r < 0) return false;
    if (r == 0 && c->woken)
        return ua_client_fail(c, err, UA_STATUS_BAD_REQUEST_INTERRUPTED, true,
                              "interrupted: the client is being stopped");
    if (r == 0)
        return ua_client_fail(c, err, UA_STATUS_BAD_TIMEOUT, true,
                              "no Acknowledge from the server within %u ms (is it an OPC UA "
                              "server?)",
                              (unsigned)c->opts.connect_timeout_ms);
    const uint8_t *p = c->in + c->in_start;
    if (f.type == UA_TCP_ERR) {
        on_error_message(c, p, f.size_bytes, err);
        return false;
    }
    if (f.type != UA_TCP_ACK)
        return ua_client_fail(c, err, UA_STATUS_BAD_TCP_MESSAGE_TYPE_INVALID, true,
                              "expected ACK, got %s", ua_tcp_msg_type_name(f.type));
    struct ua_tcp_sizes server;
    if (!ua_tcp_decode_ack(p, f.size_bytes, &c->hello, &server, &c->limits, &cerr))
        return ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
    c->in_start += f.size_bytes;
    c->recv_frame_max = c->limits.recv_chunk_bytes;
    return true;
}

static bool open_secure_channel(struct ua_client *c, struct ua_client_error *err)
{
    c->step = "OpenSecureChannel";
    const uint8_t *nonce = NULL;
    size_t nonce_len = 0;
    struct ua_channel_error cerr = {0};
    if (!ua_channel_new_client_nonce(&c->ch, &nonce, &nonce_len, &cerr))
        return ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
    struct ua_request_header h = ua_client_header(c, c->opts.connect_timeout_ms);
    h.authentication_token = (struct ua_nodeid){0};
    struct ua_open_secure_channel_request req = {
        .client_protocol_version = UA_TCP_PROTOCOL_VERSION,
        .request_type = UA_SECURITY_TOKEN_ISSUE,
        .security_mode = (int32_t)c->ch.mode,
        .client_nonce = {(const char *)nonce, (int32_t)nonce_len},
        .requested_lifetime_ms = c->opts.channel_lifetime_ms,
    };
    if (nonce_len == 0) req.client_nonce = UA_STRING_NULL;
    ua_writer_reset(&c->body);
    ua_encode_open_secure_channel_request(&c->body, &h, &req);
    struct ua_reader r;
    if (!ua_client_call(c, UA_TCP_OPN, &h, c->opts.connect_timeout_ms, &r, err)) return false;
    struct ua_open_secure_channel_response resp;
    memset(&resp, 0, sizeof resp);
    uint32_t st = ua_decode_open_secure_channel_response(&r, &c->mem.arena, &resp);
    if (st != UA_STATUS_GOOD) {
        ua_client_fail_response(c, err, &r, st, &resp.header, "OpenSecureChannelResponse");
        if (err) err->reconnect = true;
        c->broken = true;
        return false;
    }
    if (!ua_channel_install_token(&c->ch, resp.channel_id, resp.token_id, resp.revised_lifetime_ms,
                                  (const uint8_t *)resp.server_nonce.data,
                                  resp.server_nonce.length > 0 ? (size_t)resp.server_nonce.length
                                                               : 0,
                                  clock_mono_ns(), &cerr))
        return ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
    return true;
}

bool ua_client_open_channel(struct ua_client *c, const struct ua_channel_config *cfg,
                            struct ua_client_error *err)
{
    ua_client_close_channel(c, false);
    c->broken = false;
    int64_t deadline = clock_mono_ms() + c->opts.connect_timeout_ms;
    c->step = "connect";
    if (!tcp_connect(c, deadline, err) || !hello(c, deadline, err)) {
        close_socket(c);
        return false;
    }
    struct ua_channel_config conf = *cfg;
    conf.limits = c->limits;
    struct ua_channel_error cerr = {0};
    c->step = "OpenSecureChannel";
    if (!ua_channel_init(&c->ch, &conf, &cerr)) {
        ua_channel_free(&c->ch);
        close_socket(c);
        return ua_client_fail(c, err, cerr.status, true, "%s", cerr.text);
    }
    c->channel_ready = true;
    if (!open_secure_channel(c, err)) {
        ua_client_close_channel(c, false);
        return false;
    }
    return true;
}

void ua_client_close_channel(struct ua_client *c, bool send_close)
{
    if (send_close && c->channel_ready && c->sock >= 0 && !c->broken &&
        ua_channel_is_open(&c->ch)) {
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        h.authentication_token = (struct ua_nodeid){0};
        ua_writer_reset(&c->body);
        ua_encode_close_secure_channel_request(&c->body, &h);
        send_message(c, UA_TCP_CLO, h.request_handle, &c->body, &c->out, NULL);
    }
    close_socket(c);
    if (c->channel_ready) ua_channel_free(&c->ch);
    memset(&c->ch, 0, sizeof c->ch);
    c->channel_ready = false;
    c->call_request_id = c->renew_request_id = c->ping_request_id = 0;
    c->publishes_count = 0;
    c->acks_count = 0;
}
