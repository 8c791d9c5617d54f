/* The simulator's network side: one thread, one epoll set over every
 * device's listening socket and every client connection, non-blocking
 * throughout. Each connection buffers partial frames and answers pipelined
 * requests in order; a frame with broken framing closes the connection, a bad
 * PDU gets an exception. The same loop advances the models on a timer, and
 * applies faults: offline (read and drop), garbage (corrupt each response),
 * exception (ServerDeviceBusy to everything) and refuse (listening socket
 * closed until the fault ends). Requests are served without allocating. */
#include <errno.h>
#include <stdint.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "drivers/modbus/mb_devid.h"
#include "sim/sim_internal.h"

#define CONN_IN_BYTES 2048
#define CONN_OUT_BYTES 8192
#define MAX_CONNECTIONS 4096
#define LISTEN_BACKLOG 128
#define EPOLL_BATCH 256
#define MAX_CATCH_UP_STEPS 50
#define SYNC_TIMEOUT_MS 1000
#define ACCEPT_PAUSE_MS 100 /* after accept() fails for lack of descriptors */
/* Room kept free in the output buffer before answering one more request. */
#define OUT_RESERVE_BYTES (MB_FRAME_MAX_ADU_BYTES + 64)

enum handle_kind { HANDLE_WAKE = 0, HANDLE_LISTENER, HANDLE_CONN };

struct sim_handle {
    enum handle_kind kind;
};

struct sim_listener {
    struct sim_handle handle;
    struct sim_device *dev;
};

struct sim_conn {
    struct sim_handle handle;
    int fd;
    struct sim_device *dev;
    struct sim_conn *prev, *next; /* the device's connections */
    struct sim_conn *next_dead;   /* closed this batch, freed after it */
    uint32_t events;              /* current epoll interest */
    size_t in_len;
    size_t out_off, out_len;
    uint8_t in[CONN_IN_BYTES];
    uint8_t out[CONN_OUT_BYTES];
};

struct sim_server {
    struct sim_plant *plant;
    int epoll_fd;
    int wake_fd;
    struct sim_handle wake_handle;
    struct sim_listener *listeners; /* one per device */
    struct sockaddr_storage addr;   /* host, port filled per device */
    socklen_t addr_len;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    size_t conn_count;
    struct sim_conn *dead;
    int64_t next_step_ms;
    int64_t accept_resume_ms; /* when to watch paused listeners again; 0 = none paused */
};

static void set_port(struct sim_server *s, uint16_t port)
{
    if (s->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&s->addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&s->addr)->sin6_port = htons(port);
}

static bool resolve_host(struct sim_server *s, const char *host, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, "0", &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, err_len, "cannot resolve listen address '%s': %s", host,
                 rc ? gai_strerror(rc) : "no address");
        return false;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

/* Opens, binds and registers device i's listening socket. */
static bool open_listener(struct sim_server *s, size_t i, char *err, size_t err_len)
{
    struct sim_device *dev = &s->plant->devices[i];
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_len, "socket() for device %s: %s", dev->name, strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    set_port(s, dev->port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listeners[i].handle};
    if (bind(fd, (struct sockaddr *)&s->addr, s->addr_len) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0 || epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u for device %s: %s", s->plant->host,
                 dev->port, dev->name, strerror(errno));
        close(fd);
        return false;
    }
    dev->listen_fd = fd;
    return true;
}

static void close_conn(struct sim_server *s, struct sim_conn *c)
{
    if (c->fd < 0) return;
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->dev->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->dev->conn_count--;
    s->conn_count--;
    c->next_dead = s->dead;
    s->dead = c;
}

static void free_dead(struct sim_server *s)
{
    while (s->dead) {
        struct sim_conn *c = s->dead;
        s->dead = c->next_dead;
        free(c);
    }
}

static void close_listener(struct sim_server *s, struct sim_device *dev)
{
    if (dev->listen_fd >= 0) {
        epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, dev->listen_fd, NULL);
        close(dev->listen_fd);
    }
    dev->listen_fd = -1;
    dev->accept_paused = false;
    while (dev->conns)
        close_conn(s, dev->conns);
}

static void set_listener_interest(struct sim_server *s, struct sim_device *dev, bool on)
{
    struct epoll_event ev = {.events = on ? EPOLLIN : 0,
                             .data.ptr = &s->listeners[dev - s->plant->devices].handle};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, dev->listen_fd, &ev) == 0) dev->accept_paused = !on;
}

static void accept_clients(struct sim_server *s, struct sim_device *dev)
{
    for (;;) {
        int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Out of descriptors: stop watching the listener until the
                 * next model step, or the level-triggered loop would spin. */
                log_warn("sim", "accept failed; pausing accepts", "device=%s error=\"%s\"",
                         dev->name, strerror(errno));
                set_listener_interest(s, dev, false);
                s->accept_resume_ms = clock_mono_ms() + ACCEPT_PAUSE_MS;
            }
            return;
        }
        struct sim_conn *c = s->conn_count < MAX_CONNECTIONS ? malloc(sizeof *c) : NULL;
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        *c = (struct sim_conn){.handle = {HANDLE_CONN}, .fd = fd, .dev = dev, .events = EPOLLIN};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->handle};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = dev->conns;
        if (dev->conns) dev->conns->prev = c;
        dev->conns = c;
        dev->conn_count++;
        s->conn_count++;
    }
}

/* Sends what is buffered; false when the connection failed. */
static bool flush_output(struct sim_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            return false;
        }
    }
    c->out_off = c->out_len = 0;
    return true;
}

/* Room for one more response at the end of the output buffer. */
static bool output_has_room(struct sim_conn *c)
{
    if (CONN_OUT_BYTES - c->out_len >= OUT_RESERVE_BYTES) return true;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return CONN_OUT_BYTES - c->out_len >= OUT_RESERVE_BYTES;
}

/* Answers one parsed frame (frame[0..len), or drops it), appending to the
 * output buffer. */
static void answer(struct sim_conn *c, const struct mb_frame_request *req,
                   const struct mb_frame_result *r, const uint8_t *frame, size_t len)
{
    struct sim_device *dev = c->dev;
    uint8_t *o = c->out + c->out_len;
    size_t cap = CONN_OUT_BYTES - c->out_len;
    size_t n;
    uint16_t tid = req->header.transaction_id;
    if (r->status == MB_FRAME_INVALID && req->function == MB_DEVID_FUNCTION &&
        !dev->fault_active[SIM_FAULT_EXCEPTION])
        n = sim_handle_devid(dev, frame, len, o, cap);
    else if (r->status == MB_FRAME_INVALID)
        n = mb_frame_encode_exception(o, cap, tid, req->header.unit_id, req->function,
                                      r->exception);
    else if (dev->fault_active[SIM_FAULT_EXCEPTION])
        n = mb_frame_encode_exception(o, cap, tid, req->header.unit_id, req->function,
                                      MB_FRAME_EX_SERVER_DEVICE_BUSY);
    else
        n = sim_handle_request(dev, req, o, cap);
    if (n && dev->fault_active[SIM_FAULT_GARBAGE])
        n = sim_corrupt_response(&dev->garbage_rng, o, n, cap);
    c->out_len += n;
}

/* Parses and answers every complete frame buffered, as far as output room
 * allows. False when the framing is broken (the connection must close). */
static bool process_input(struct sim_conn *c)
{
    if (c->dev->fault_active[SIM_FAULT_OFFLINE]) {
        c->in_len = 0; /* offline: read and drop, never answer */
        return true;
    }
    size_t pos = 0;
    bool ok = true;
    while (pos < c->in_len && output_has_room(c)) {
        struct mb_frame_request req;
        struct mb_frame_result r = mb_frame_parse_request(c->in + pos, c->in_len - pos, &req);
        if (r.status == MB_FRAME_INCOMPLETE) break;
        if (r.status == MB_FRAME_INVALID && r.exception == 0) {
            log_debug("sim", "closing a connection after a malformed frame",
                      "device=%s reason=\"%s\"", c->dev->name, r.reason);
            ok = false;
            break;
        }
        answer(c, &req, &r, c->in + pos, r.consumed);
        pos += r.consumed;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    return ok;
}

static void update_interest(struct sim_server *s, struct sim_conn *c)
{
    uint32_t want = 0;
    if (c->in_len < CONN_IN_BYTES &&
        CONN_OUT_BYTES - (c->out_len - c->out_off) >= OUT_RESERVE_BYTES)
        want |= EPOLLIN;
    if (c->out_len > c->out_off) want |= EPOLLOUT;
    if (!want) want = EPOLLIN;
    if (want == c->events) return;
    struct epoll_event ev = {.events = want, .data.ptr = &c->handle};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->events = want;
}

static void on_conn_event(struct sim_server *s, struct sim_conn *c, uint32_t events)
{
    if (c->fd < 0) return; /* closed earlier in this batch */
    if (events & (EPOLLERR | EPOLLHUP)) {
        close_conn(s, c);
        return;
    }
    if (events & EPOLLIN) {
        ssize_t n = recv(c->fd, c->in + c->in_len, CONN_IN_BYTES - c->in_len, 0);
        if (n == 0) { /* peer done sending: answer what is buffered, best effort */
            if (process_input(c)) flush_output(c);
            close_conn(s, c);
            return;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_conn(s, c);
            return;
        }
        if (n > 0) c->in_len += (size_t)n;
    }
    bool ok = true;
    for (int round = 0; round < 4 && ok; round++) {
        ok = process_input(c) && flush_output(c);
        if (c->out_len != 0 || c->in_len == 0) break; /* blocked on output, or all done */
    }
    if (!ok) {
        close_conn(s, c);
        return;
    }
    update_interest(s, c);
}

static void drain_wake(struct sim_server *s)
{
    uint64_t count;
    while (read(s->wake_fd, &count, sizeof count) > 0) {
    }
}

/* Opens or closes listening sockets as the refuse fault requires. */
static void apply_faults(struct sim_server *s)
{
    struct sim_plant *p = s->plant;
    bool resume_accepts = s->accept_resume_ms && clock_mono_ms() >= s->accept_resume_ms;
    if (resume_accepts) s->accept_resume_ms = 0;
    for (size_t i = 0; i < p->device_count; i++) {
        struct sim_device *dev = &p->devices[i];
        bool refuse = dev->fault_active[SIM_FAULT_REFUSE];
        if (dev->accept_paused && resume_accepts) set_listener_interest(s, dev, true);
        if (refuse && dev->listen_fd >= 0) {
            close_listener(s, dev);
            log_info("sim", "device refusing connections", "device=%s port=%u", dev->name,
                     dev->port);
        } else if (!refuse && dev->listen_fd < 0) {
            char err[256];
            if (open_listener(s, i, err, sizeof err))
                log_info("sim", "device listening again", "device=%s port=%u", dev->name,
                         dev->port);
            else
                log_warn("sim", "cannot listen again; retrying", "error=\"%s\"", err);
        }
    }
}

static void advance_clock(struct sim_server *s)
{
    struct sim_plant *p = s->plant;
    if (p->opt.manual_clock) return;
    int64_t now = clock_mono_ms();
    int steps = 0;
    while (now >= s->next_step_ms && steps < MAX_CATCH_UP_STEPS) {
        sim_model_step(p);
        s->next_step_ms += p->opt.step_ms;
        steps++;
    }
    if (now >= s->next_step_ms) s->next_step_ms = now + p->opt.step_ms; /* too far behind */
}

static int wait_timeout_ms(struct sim_server *s)
{
    int64_t deadline = s->plant->opt.manual_clock ? INT64_MAX : s->next_step_ms;
    if (s->accept_resume_ms && s->accept_resume_ms < deadline) deadline = s->accept_resume_ms;
    if (deadline == INT64_MAX) return -1;
    int64_t left = deadline - clock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

static void *server_main(void *arg)
{
    struct sim_server *s = arg;
    struct sim_plant *p = s->plant;
    struct epoll_event events[EPOLL_BATCH];
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->epoll_fd, events, EPOLL_BATCH, wait_timeout_ms(s));
        if (n < 0 && errno != EINTR) {
            log_error("sim", "epoll_wait failed", "error=\"%s\"", strerror(errno));
            break;
        }
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < n; i++) {
            struct sim_handle *h = events[i].data.ptr;
            if (h->kind == HANDLE_WAKE) {
                drain_wake(s);
            } else if (h->kind == HANDLE_LISTENER) {
                struct sim_device *dev = ((struct sim_listener *)h)->dev;
                if (dev->listen_fd >= 0) accept_clients(s, dev);
            } else {
                on_conn_event(s, (struct sim_conn *)h, events[i].events);
            }
        }
        advance_clock(s);
        apply_faults(s);
        free_dead(s);
        p->applied_gen = p->request_gen;
        pthread_cond_broadcast(&p->synced);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

static void destroy(struct sim_server *s)
{
    struct sim_plant *p = s->plant;
    for (size_t i = 0; i < p->device_count; i++)
        close_listener(s, &p->devices[i]);
    free_dead(s);
    if (s->epoll_fd >= 0) close(s->epoll_fd);
    if (s->wake_fd >= 0) close(s->wake_fd);
    free(s->listeners);
    free(s);
}

static bool start_thread(struct sim_server *s, char *err, size_t err_len)
{
    /* The thread takes no signals: they belong to the embedding program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, server_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the simulator thread: %s", strerror(rc));
        return false;
    }
    s->thread_started = true;
    return true;
}

struct sim_server *sim_server_start(struct sim_plant *p, char *err, size_t err_len)
{
    struct sim_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->plant = p;
    s->wake_handle.kind = HANDLE_WAKE;
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->listeners = calloc(p->device_count, sizeof *s->listeners);
    for (size_t i = 0; i < p->device_count; i++)
        p->devices[i].listen_fd = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->wake_handle};
    if (s->epoll_fd < 0 || s->wake_fd < 0 || !s->listeners ||
        epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &ev) != 0) {
        snprintf(err, err_len, "cannot set up the simulator's event loop: %s", strerror(errno));
        destroy(s);
        return NULL;
    }
    if (!resolve_host(s, p->host, err, err_len)) {
        destroy(s);
        return NULL;
    }
    for (size_t i = 0; i < p->device_count; i++) {
        s->listeners[i] = (struct sim_listener){{HANDLE_LISTENER}, &p->devices[i]};
        if (!open_listener(s, i, err, err_len)) {
            destroy(s);
            return NULL;
        }
    }
    apply_faults(s); /* devices refusing from time 0 */
    s->next_step_ms = clock_mono_ms() + p->opt.step_ms;
    if (!start_thread(s, err, err_len)) {
        destroy(s);
        return NULL;
    }
    return s;
}

static void wake(struct sim_server *s)
{
    uint64_t one = 1;
    ssize_t n = write(s->wake_fd, &one, sizeof one);
    (void)n; /* a full counter already wakes the loop */
}

void sim_server_stop(struct sim_server *s)
{
    if (!s) return;
    atomic_store(&s->stop, true);
    wake(s);
    if (s->thread_started) pthread_join(s->thread, NULL);
    destroy(s);
}

void sim_server_sync(struct sim_plant *p)
{
    struct sim_server *s = p->server;
    if (!s) return;
    uint64_t gen = ++p->request_gen;
    wake(s);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SYNC_TIMEOUT_MS / 1000;
    while (p->applied_gen < gen)
        if (pthread_cond_timedwait(&p->synced, &p->lock, &deadline) != 0) break;
}
