/* Modbus TCP driver: a worker thread per device over libmodbus.
 *
 * libmodbus carries the bytes (connect with timeout, framed receive with the
 * response and byte timeouts); the requests are built and the responses
 * checked by our own codec (mb_frame), which checks what libmodbus 3.1.6 does
 * not: that the answer comes from the unit asked, for the transaction asked,
 * with the byte count the quantity needs. Each poll group has a request plan (mb_plan) computed
 * once at start. The worker sleeps until the next group is due, issues the group's requests (with
 * retries), decodes every point (mb_codec) and sends one batch per group poll. Any failure other
 * than a Modbus exception closes the connection (a late or malformed response would otherwise
 * desynchronise the stream); the next attempt reconnects, and repeated failure backs off
 * exponentially from backoff_initial_ms up to backoff_max_ms. libmodbus reports errors through
 * errno; that is kept inside this file.
 *
 * Writes (mb_driver_write, from the HTTP threads) are encoded by the caller
 * and queued; the worker takes them between group polls and wakes for them
 * while it sleeps, so the connection is only ever used by the worker. */
#include "drivers/modbus/mb_driver.h"

#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/report.h"
#include "drivers/modbus/mb_codec.h"
#include "drivers/modbus/mb_devid.h"
#include "drivers/modbus/mb_frame.h"
#include "drivers/modbus/mb_plan.h"
#include "drivers/write_queue.h"

/* Registers a writable point occupies at most (64-bit types). */
#define WRITE_MAX_REGISTERS 4

struct group_runtime {
    const struct config_poll_group *cfg;
    struct mb_point *points; /* contiguous copy of the group's points, for the planner */
    struct mb_plan plan;
    const uint32_t *tag_ids; /* env tag ids of this group's tags */
    struct report_state *states;
    int64_t next_due_ms;
    quality_t *request_quality; /* outcome of each request of the last poll */
};

/* A write queued by mb_driver_write() for the worker (see write_queue.h). */
struct mb_write_job {
    struct write_job base; /* first: the queue frees the block through it */
    size_t group, tag;     /* where the tag is in d->groups */
    uint8_t function;      /* FC 5, 6 or 16 */
    uint16_t quantity;     /* registers written (1 for a coil) */
    uint16_t regs[WRITE_MAX_REGISTERS];
    bool coil_on;
};
_Static_assert(offsetof(struct mb_write_job, base) == 0, "the queue frees jobs through base");

struct mb_driver {
    const struct config_device *dev;
    struct driver_env env;
    pthread_t thread;
    atomic_bool stop;
    bool polling; /* a worker thread runs */
    modbus_t *ctx;
    bool connected;
    pthread_mutex_t socket_lock; /* guards ctx's socket against driver_stop's shutdown */
    int64_t backoff_ms;
    int64_t retry_at_ms;
    uint16_t transaction_id; /* of the last request sent */
    bool devid_due;          /* connected since the last identification attempt */
    bool devid_skip;         /* identification failed once (no answer): not asked again */
    struct group_runtime *groups;
    size_t group_count;
    uint16_t regs[MODBUS_MAX_READ_REGISTERS];
    uint8_t bits[MODBUS_MAX_READ_BITS];
    struct write_queue writes; /* from mb_driver_write() to the worker */
};

quality_t mb_error_quality(int modbus_errno)
{
    switch (modbus_errno) {
    case EMBXILFUN:
    case EMBXILADD:
    case EMBXILVAL:
        return QUALITY_BAD_CONFIGURATION_ERROR;
    case EMBXSFAIL:
    case EMBXACK:
    case EMBXSBUSY:
    case EMBXNACK:
    case EMBXMEMPAR:
    case EMBXGPATH:
    case EMBXGTAR:
        return QUALITY_BAD_DEVICE_FAILURE;
    case ETIMEDOUT:
        return QUALITY_BAD_TIMEOUT;
    case EMBBADDATA:
    case EMBBADCRC:
    case EMBBADEXC:
    case EMBUNKEXC:
    case EMBMDATA:
    case EMBBADSLAVE:
        return QUALITY_BAD_COMMUNICATION_ERROR;
    default:
        return QUALITY_BAD_NO_COMMUNICATION;
    }
}

static bool is_exception(int e)
{
    return e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET;
}

/* A readable description of a failed request. */
static void describe_error(int e, char *buf, size_t len)
{
    if (is_exception(e))
        snprintf(buf, len, "Modbus exception %s", mb_exception_name(e - MODBUS_ENOBASE));
    else if (e == ETIMEDOUT)
        snprintf(buf, len, "no response within the timeout");
    else
        snprintf(buf, len, "%s", modbus_strerror(e));
}

static void disconnect(struct mb_driver *d)
{
    pthread_mutex_lock(&d->socket_lock);
    if (d->connected) modbus_close(d->ctx);
    d->connected = false;
    pthread_mutex_unlock(&d->socket_lock);
}

/* Connects unless connected or still backing off. Returns connected. */
static bool ensure_connected(struct mb_driver *d, int64_t now_ms)
{
    if (d->connected) return true;
    if (now_ms < d->retry_at_ms) return false;
    pthread_mutex_lock(&d->socket_lock);
    int rc = atomic_load(&d->stop) ? -1 : modbus_connect(d->ctx);
    int e = errno;
    if (rc == 0) d->connected = d->devid_due = true;
    pthread_mutex_unlock(&d->socket_lock);
    if (rc == 0) {
        atomic_fetch_add(&d->env.stats->reconnects, 1);
        log_info("modbus", "connected", "device=%s endpoint=\"%s\"", d->dev->name,
                 d->env.stats->endpoint);
        return true;
    }
    device_stats_set_error(d->env.stats, "cannot connect to %s:%u: %s", d->dev->host, d->dev->port,
                           modbus_strerror(e));
    return false;
}

/* Called after a failure that should slow us down: schedules the next
 * connection attempt and doubles the back-off. */
static void back_off(struct mb_driver *d, int64_t now_ms)
{
    if (d->backoff_ms == 0)
        d->backoff_ms = d->dev->backoff_initial_ms;
    else if (d->backoff_ms < (int64_t)d->dev->backoff_max_ms)
        d->backoff_ms *= 2;
    if (d->backoff_ms > (int64_t)d->dev->backoff_max_ms) d->backoff_ms = d->dev->backoff_max_ms;
    d->retry_at_ms = now_ms + d->backoff_ms;
    atomic_store(&d->env.stats->state, DEVICE_BACKOFF);
}

/* Sends the whole of buf on the connection's socket. */
static int send_all(struct mb_driver *d, const uint8_t *buf, size_t len)
{
    int fd = modbus_get_socket(d->ctx);
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint8_t area_function(enum mb_area area)
{
    switch (area) {
    case MB_AREA_COIL:
        return MB_FRAME_READ_COILS;
    case MB_AREA_DISCRETE_INPUT:
        return MB_FRAME_READ_DISCRETE_INPUTS;
    case MB_AREA_HOLDING:
        return MB_FRAME_READ_HOLDING_REGISTERS;
    case MB_AREA_INPUT:
        return MB_FRAME_READ_INPUT_REGISTERS;
    }
    return 0;
}

/* Sends frame[0..n) (req, already encoded; n == 0 means it could not be),
 * receives the answer into in[MODBUS_TCP_MAX_ADU_LENGTH] and checks that it
 * answers req. Returns 0 with *rsp filled (pointing into in), or -1 with
 * errno: MODBUS_ENOBASE + code for an exception response, ETIMEDOUT,
 * EMBBADSLAVE for an answer from another unit, EMBBADDATA for a frame that
 * is malformed or answers another request (why says which), or a socket
 * error. */
static int exchange(struct mb_driver *d, const struct mb_frame_request *req, const uint8_t *frame,
                    size_t n, uint8_t *in, struct mb_frame_response *rsp, char *why, size_t why_len)
{
    why[0] = '\0';
    atomic_fetch_add(&d->env.stats->requests, 1);
    if (n == 0) {
        snprintf(why, why_len, "request cannot be encoded");
        errno = EINVAL;
        return -1;
    }
    if (send_all(d, frame, n) != 0) return -1;
    int got = modbus_receive_confirmation(d->ctx, in);
    if (got < 0) return -1;
    struct mb_frame_result res = mb_frame_parse_response(in, (size_t)got, rsp);
    if (res.status != MB_FRAME_COMPLETE || res.consumed != (size_t)got) {
        snprintf(why, why_len, "malformed response: %s",
                 res.status == MB_FRAME_COMPLETE ? "trailing bytes" : res.reason);
        errno = EMBBADDATA;
        return -1;
    }
    char mismatch[96];
    if (!mb_frame_check_response(req, rsp, mismatch, sizeof mismatch)) {
        snprintf(why, why_len, "response does not answer the request: %s", mismatch);
        errno = rsp->header.unit_id != req->header.unit_id ? EMBBADSLAVE : EMBBADDATA;
        return -1;
    }
    if (rsp->is_exception) {
        if (rsp->exception >= 1 && rsp->exception <= MODBUS_EXCEPTION_GATEWAY_TARGET) {
            errno = MODBUS_ENOBASE + rsp->exception;
        } else {
            snprintf(why, why_len, "Modbus exception code %u (not a known code)", rsp->exception);
            errno = EMBUNKEXC;
        }
        return -1;
    }
    return 0;
}

/* Issues one read of count registers or bits of area from start into regs
 * or bits (caller's, room for count). Returns count, or -1 with errno as
 * exchange(). */
static int read_span(struct mb_driver *d, enum mb_area area, uint16_t start, uint16_t count,
                     uint16_t *regs, uint8_t *bits, char *why, size_t why_len)
{
    struct mb_frame_request req = {
        .header = {.transaction_id = ++d->transaction_id, .unit_id = d->dev->unit_id},
        .function = area_function(area),
        .address = start,
        .quantity = count,
    };
    uint8_t out[MB_FRAME_MAX_ADU_BYTES], in[MODBUS_TCP_MAX_ADU_LENGTH];
    size_t n =
        mb_frame_encode_read_request(out, sizeof out, req.header.transaction_id, req.header.unit_id,
                                     req.function, req.address, req.quantity);
    struct mb_frame_response rsp;
    if (exchange(d, &req, out, n, in, &rsp, why, why_len) != 0) return -1;
    if (area == MB_AREA_COIL || area == MB_AREA_DISCRETE_INPUT)
        for (uint16_t i = 0; i < count; i++)
            bits[i] = mb_frame_response_bit(&rsp, i);
    else
        for (uint16_t i = 0; i < count; i++)
            regs[i] = mb_frame_response_register(&rsp, i);
    return count;
}

/* Issues one planned read request into d->regs or d->bits. See read_span(). */
static int issue_request(struct mb_driver *d, const struct mb_request *r, char *why, size_t why_len)
{
    return read_span(d, r->area, r->start, r->count, d->regs, d->bits, why, why_len);
}

/* Marks every tag of a group with quality q (keeping the last value). */
static void report_group_failure(struct group_runtime *g, struct sample_batch *batch, quality_t q,
                                 int64_t ts_ns)
{
    for (size_t i = 0; i < g->cfg->tag_count; i++)
        report_failure(batch, &g->cfg->tags[i].tag, g->tag_ids[i], &g->states[i], q, ts_ns);
}

/* Marks the tags of request r with quality q (keeping their last values). */
static void report_request_failure(struct group_runtime *g, size_t r, struct sample_batch *batch,
                                   quality_t q, int64_t ts_ns)
{
    const struct mb_request *req = &g->plan.requests[r];
    for (uint32_t m = 0; m < req->member_count; m++) {
        uint32_t i = g->plan.members[req->first_member + m];
        report_failure(batch, &g->cfg->tags[i].tag, g->tag_ids[i], &g->states[i], q, ts_ns);
    }
}

/* Decodes the points of request r from the buffers just read. */
static void decode_request(struct mb_driver *d, struct group_runtime *g, size_t r,
                           struct sample_batch *batch, int64_t ts_ns)
{
    uint64_t good = 0;
    char text[MB_STRING_MAX_BYTES + 1];
    const struct mb_request *req = &g->plan.requests[r];
    for (uint32_t m = 0; m < req->member_count; m++) {
        uint32_t i = g->plan.members[req->first_member + m];
        const struct config_tag *ct = &g->cfg->tags[i];
        struct value v;
        quality_t q = mb_decode_point(&g->points[i], &ct->tag, d->regs, d->bits,
                                      g->plan.point_offset[i], &v, text, sizeof text);
        if (quality_is_good(q)) good++;
        report_reading(batch, &ct->tag, g->tag_ids[i], &g->states[i], &v, q, ts_ns);
    }
    atomic_fetch_add(&d->env.stats->values, good);
}

/* Polls one group: every request of its plan, with retries. */
static void poll_group(struct mb_driver *d, struct group_runtime *g)
{
    int64_t started_ns = clock_mono_ns();
    struct sample_batch *batch = sample_batch_new((uint32_t)g->cfg->tag_count);
    if (!batch) return;
    batch->device_index = d->env.device_index;
    bool failed_connection = false, any_error = false;

    if (!ensure_connected(d, clock_mono_ms())) {
        failed_connection = true;
        report_group_failure(g, batch, QUALITY_BAD_NO_COMMUNICATION, clock_now_ns());
    } else {
        for (size_t r = 0; r < g->plan.request_count && !atomic_load(&d->stop); r++) {
            const struct mb_request *req = &g->plan.requests[r];
            int rc = -1, e = 0;
            char detail[160] = "";
            for (uint32_t attempt = 0; attempt <= d->dev->retries; attempt++) {
                if (!d->connected && !ensure_connected(d, INT64_MAX)) {
                    e = ECONNRESET;
                    break;
                }
                rc = issue_request(d, req, detail, sizeof detail);
                if (rc >= 0) break;
                e = errno;
                atomic_fetch_add(&d->env.stats->errors, 1);
                if (e == ETIMEDOUT) atomic_fetch_add(&d->env.stats->timeouts, 1);
                if (is_exception(e)) {
                    atomic_fetch_add(&d->env.stats->exceptions, 1);
                    break; /* the device answered: retrying gets the same answer */
                }
                disconnect(d); /* resynchronise: a late reply must not be taken for the next */
                if (atomic_load(&d->stop)) break;
            }
            /* Failures caused by stopping (the socket is shut down under the
             * request) are not the device's: report nothing. */
            if (rc < 0 && atomic_load(&d->stop)) break;
            int64_t ts_ns = clock_now_ns();
            if (rc >= 0) {
                decode_request(d, g, r, batch, ts_ns);
                continue;
            }
            any_error = true;
            char why[160];
            if (detail[0] && !is_exception(e))
                snprintf(why, sizeof why, "%s", detail);
            else
                describe_error(e, why, sizeof why);
            device_stats_set_error(d->env.stats, "%s %u+%u: %s", mb_area_name(req->area),
                                   req->start, req->count, why);
            log_warn("modbus", "request failed", "device=%s area=%s start=%u count=%u error=\"%s\"",
                     d->dev->name, mb_area_name(req->area), req->start, req->count, why);
            quality_t q = mb_error_quality(e);
            report_request_failure(g, r, batch, q, ts_ns);
            if (!is_exception(e)) {
                failed_connection = true;
                /* The rest of this poll would time out as well: mark it and stop. */
                for (size_t rest = r + 1; rest < g->plan.request_count; rest++)
                    report_request_failure(g, rest, batch, q, ts_ns);
                break;
            }
        }
    }
    int64_t now_ms = clock_mono_ms();
    if (failed_connection) {
        back_off(d, now_ms);
    } else {
        d->backoff_ms = 0;
        atomic_store(&d->env.stats->last_success_ns, clock_now_ns());
        atomic_store(&d->env.stats->state, any_error ? DEVICE_DEGRADED : DEVICE_CONNECTED);
        device_stats_observe_latency(d->env.stats, clock_mono_ns() - started_ns);
    }
    atomic_fetch_add(&d->env.stats->polls, 1);
    if (batch->count)
        boundary_send(d->env.boundary, batch);
    else
        sample_batch_free(batch);
    /* The device's identity, once per connection, after its first good poll
     * (docs/monitoring.md). */
    if (!failed_connection && d->connected && d->devid_due) {
        d->devid_due = false;
        if (!d->devid_skip &&
            !mb_devid_refresh(d->ctx, d->dev->unit_id, &d->transaction_id, (int)d->dev->timeout_ms,
                              d->env.stats, d->dev->name)) {
            d->devid_skip = true;
            disconnect(d); /* a late answer must not be taken for the next poll's */
        }
    }
}

/* ---- Writes ---- */

/* Finds tag number tag_index (group-then-tag order) in d's groups. */
static bool locate_tag(const struct mb_driver *d, size_t tag_index, size_t *group, size_t *tag)
{
    for (size_t gi = 0; gi < d->group_count; gi++) {
        size_t n = d->groups[gi].cfg->tag_count;
        if (tag_index < n) {
            *group = gi;
            *tag = tag_index;
            return true;
        }
        tag_index -= n;
    }
    return false;
}

/* Checks that the tag can be written and encodes v into job (in the calling
 * thread: pure, nothing shared is changed). False with the reason in why. */
static bool prepare_job(const struct mb_driver *d, size_t tag_index, const struct value *v,
                        struct mb_write_job *job, char *why, size_t why_len)
{
    if (!locate_tag(d, tag_index, &job->group, &job->tag)) {
        size_t count = 0;
        for (size_t gi = 0; gi < d->group_count; gi++)
            count += d->groups[gi].cfg->tag_count;
        snprintf(why, why_len, "device '%s' has no tag number %zu (it has %zu tags)", d->dev->name,
                 tag_index, count);
        return false;
    }
    const struct group_runtime *g = &d->groups[job->group];
    const struct config_tag *ct = &g->cfg->tags[job->tag];
    const struct mb_point *p = &g->points[job->tag];
    const char *path = ct->tag.path;
    if (p->area != MB_AREA_HOLDING && p->area != MB_AREA_COIL) {
        snprintf(why, why_len,
                 "tag '%s' is in the %s area: only holding registers and coils can be written",
                 path, mb_area_name(p->area));
        return false;
    }
    if (p->type == MB_TYPE_STRING) {
        snprintf(why, why_len, "tag '%s' is a string: string tags cannot be written", path);
        return false;
    }
    if (p->area == MB_AREA_HOLDING && p->type == MB_TYPE_BOOL && p->bit >= 0) {
        snprintf(why, why_len,
                 "tag '%s' is bit %d of holding register %u: writing one bit of a register is "
                 "not supported (a read-modify-write could undo the device's own change to the "
                 "other bits)",
                 path, p->bit, p->address);
        return false;
    }
    if (!driver_write_check_tag(ct, v, why, why_len)) return false;
    struct mb_raw raw;
    char reason[160];
    if (!mb_raw_from_value(p, &ct->tag, v, &raw, reason, sizeof reason)) {
        snprintf(why, why_len, "cannot write to tag '%s': %s", path, reason);
        return false;
    }
    if (p->area == MB_AREA_COIL) {
        uint8_t bit = 0;
        if (!mb_encode_bits(p, &raw, &bit, 1, reason, sizeof reason)) {
            snprintf(why, why_len, "cannot write to tag '%s': %s", path, reason);
            return false;
        }
        job->function = MB_FRAME_WRITE_SINGLE_COIL;
        job->quantity = 1;
        job->coil_on = bit != 0;
        return true;
    }
    uint16_t width = mb_point_width(p);
    if (width == 0 || width > WRITE_MAX_REGISTERS ||
        !mb_encode_registers(p, &raw, job->regs, width, reason, sizeof reason)) {
        snprintf(why, why_len, "cannot write to tag '%s': %s", path,
                 width == 0 || width > WRITE_MAX_REGISTERS ? "unexpected point width" : reason);
        return false;
    }
    job->function = width == 1 ? MB_FRAME_WRITE_SINGLE_REGISTER : MB_FRAME_WRITE_MULTIPLE_REGISTERS;
    job->quantity = width;
    return true;
}

/* Counts a failed request in the device's statistics. */
static void count_failure(struct mb_driver *d, int e)
{
    atomic_fetch_add(&d->env.stats->errors, 1);
    if (e == ETIMEDOUT) atomic_fetch_add(&d->env.stats->timeouts, 1);
    if (is_exception(e)) atomic_fetch_add(&d->env.stats->exceptions, 1);
}

/* Describes a failed write-path request (e from errno, detail from exchange)
 * into why, and resynchronises the connection unless the device answered. */
static void write_path_failure(struct mb_driver *d, int e, const char *detail, char *why,
                               size_t why_len)
{
    count_failure(d, e);
    if (atomic_load(&d->stop)) {
        snprintf(why, why_len, "device stopping");
        return;
    }
    if (detail[0] && !is_exception(e))
        snprintf(why, why_len, "%s", detail);
    else
        describe_error(e, why, why_len);
    if (!is_exception(e)) disconnect(d); /* a late reply must not be taken for the next */
}

/* Sends job's write request. Returns 0, or -1 with errno as exchange(). */
static int send_write(struct mb_driver *d, const struct mb_write_job *job, const struct mb_point *p,
                      char *why, size_t why_len)
{
    struct mb_frame_request req = {
        .header = {.transaction_id = ++d->transaction_id, .unit_id = d->dev->unit_id},
        .function = job->function,
        .address = p->address,
        .quantity = job->quantity,
    };
    uint8_t out[MB_FRAME_MAX_ADU_BYTES], in[MODBUS_TCP_MAX_ADU_LENGTH];
    size_t n;
    if (job->function == MB_FRAME_WRITE_MULTIPLE_REGISTERS) {
        n = mb_frame_encode_write_registers_request(out, sizeof out, req.header.transaction_id,
                                                    req.header.unit_id, req.address, job->regs,
                                                    job->quantity);
    } else {
        req.value = job->function == MB_FRAME_WRITE_SINGLE_COIL
                        ? (job->coil_on ? MB_FRAME_COIL_ON : MB_FRAME_COIL_OFF)
                        : job->regs[0];
        n = mb_frame_encode_write_single(out, sizeof out, req.header.transaction_id,
                                         req.header.unit_id, req.function, req.address, req.value);
    }
    struct mb_frame_response rsp;
    return exchange(d, &req, out, n, in, &rsp, why, why_len);
}

/* Publishes a read-back as a sample of the tag (always, whatever the
 * deadband: the last-value table must show what the device now holds) and
 * makes it the tag's last reported reading. */
static void publish_read_back(struct mb_driver *d, struct group_runtime *g, size_t t,
                              const struct value *v, quality_t q)
{
    struct sample_batch *batch = sample_batch_new(1);
    if (!batch) return;
    batch->device_index = d->env.device_index;
    if (!sample_batch_add(batch, g->tag_ids[t], clock_now_ns(), q, v)) {
        sample_batch_free(batch);
        return;
    }
    struct report_state *st = &g->states[t];
    st->reported = true;
    st->last_quality = q;
    st->last_value = *v; /* never a string: string tags are not writable */
    if (quality_is_good(q)) atomic_fetch_add(&d->env.stats->values, 1);
    boundary_send(d->env.boundary, batch);
}

/* Connects for a write if not connected and the back-off allows it. */
static bool connect_for_write(struct mb_driver *d, char *why, size_t why_len)
{
    if (d->connected) return true;
    int64_t now = clock_mono_ms();
    if (now < d->retry_at_ms) {
        snprintf(why, why_len, "the device is not connected (next attempt in %lld ms)",
                 (long long)(d->retry_at_ms - now));
        return false;
    }
    if (ensure_connected(d, now)) return true;
    back_off(d, now);
    snprintf(why, why_len, "the device is not connected: cannot connect to %s:%u", d->dev->host,
             d->dev->port);
    return false;
}

/* Runs one job on the worker: write, then read back. */
static void run_job(struct mb_driver *d, struct mb_write_job *job)
{
    struct driver_write_result *out = &job->base.result;
    struct group_runtime *g = &d->groups[job->group];
    const struct config_tag *ct = &g->cfg->tags[job->tag];
    const struct mb_point *p = &g->points[job->tag];
    if (!connect_for_write(d, out->error, sizeof out->error)) return;

    char detail[160], why[200];
    if (send_write(d, job, p, detail, sizeof detail) != 0) {
        int e = errno;
        write_path_failure(d, e, detail, why, sizeof why);
        if (atomic_load(&d->stop)) {
            snprintf(out->error, sizeof out->error, "device stopping");
            return;
        }
        if (is_exception(e))
            snprintf(out->error, sizeof out->error, "the device refused the write: %s", why);
        else if (e == ETIMEDOUT)
            snprintf(out->error, sizeof out->error,
                     "%s: the device may or may not have applied the write", why);
        else
            snprintf(out->error, sizeof out->error, "write failed: %s", why);
        device_stats_set_error(d->env.stats, "write %s %u+%u: %s", mb_area_name(p->area),
                               p->address, job->quantity, why);
        log_warn("modbus", "write failed", "device=%s tag=%s error=\"%s\"", d->dev->name,
                 ct->tag.path, why);
        return;
    }
    out->written = true;

    uint16_t regs[WRITE_MAX_REGISTERS] = {0};
    uint8_t bit = 0;
    if (read_span(d, p->area, p->address, job->quantity, regs, &bit, detail, sizeof detail) < 0) {
        int e = errno;
        write_path_failure(d, e, detail, why, sizeof why);
        snprintf(out->error, sizeof out->error, "written, but the read-back failed: %s", why);
        return;
    }
    char text[8];
    out->read_back = true;
    out->quality_read =
        mb_decode_point(p, &ct->tag, regs, &bit, 0, &out->value_read, text, sizeof text);
    out->read_back_matches = p->area == MB_AREA_COIL
                                 ? (bit != 0) == job->coil_on
                                 : memcmp(regs, job->regs, job->quantity * sizeof regs[0]) == 0;
    publish_read_back(d, g, job->tag, &out->value_read, out->quality_read);
    log_info("modbus", "written", "device=%s tag=%s matches=%s", d->dev->name, ct->tag.path,
             out->read_back_matches ? "yes" : "no");
}

/* Runs every queued write (until stopping). */
static void serve_writes(struct mb_driver *d)
{
    struct write_job *job;
    while (!atomic_load(&d->stop) && (job = write_queue_take(&d->writes)) != NULL) {
        run_job(d, (struct mb_write_job *)job);
        write_queue_finish(&d->writes, job);
    }
}

bool mb_driver_write(struct mb_driver *d, size_t tag_index, const struct value *v, int timeout_ms,
                     struct driver_write_result *out)
{
    memset(out, 0, sizeof *out);
    struct mb_write_job *job = calloc(1, sizeof *job);
    if (!job) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return false;
    }
    if (!prepare_job(d, tag_index, v, job, out->error, sizeof out->error)) {
        free(job);
        return false;
    }
    if (!d->polling) {
        snprintf(out->error, sizeof out->error, "device '%s' is disabled", d->dev->name);
        free(job);
        return false;
    }
    return write_queue_submit(&d->writes, &job->base, timeout_ms, out);
}

static void *worker(void *arg)
{
    struct mb_driver *d = arg;
    int64_t start = clock_mono_ms();
    for (size_t i = 0; i < d->group_count; i++)
        d->groups[i].next_due_ms = start;
    while (!atomic_load(&d->stop)) {
        serve_writes(d);
        /* The group due soonest. */
        struct group_runtime *due = &d->groups[0];
        for (size_t i = 1; i < d->group_count; i++)
            if (d->groups[i].next_due_ms < due->next_due_ms) due = &d->groups[i];
        int64_t wake = due->next_due_ms;
        if (!d->connected && d->retry_at_ms > wake) wake = d->retry_at_ms;
        int64_t now = clock_mono_ms();
        if (wake > now) {
            write_queue_wait(&d->writes, wake);
            continue;
        }
        if (!d->connected && now < d->retry_at_ms) continue;
        poll_group(d, due);
        /* Next due time on the group's own grid; cycles that could not start
         * in time are counted, never silently dropped. */
        now = clock_mono_ms();
        due->next_due_ms += due->cfg->interval_ms;
        if (due->next_due_ms <= now) {
            int64_t missed = (now - due->next_due_ms) / due->cfg->interval_ms + 1;
            atomic_fetch_add(&d->env.stats->skipped_polls, (uint64_t)missed);
            due->next_due_ms += missed * due->cfg->interval_ms;
        }
    }
    disconnect(d);
    atomic_store(&d->env.stats->state, DEVICE_STOPPED);
    return NULL;
}

static void free_driver(struct mb_driver *d)
{
    for (size_t i = 0; i < d->group_count; i++) {
        struct group_runtime *g = &d->groups[i];
        mb_plan_free(&g->plan);
        free(g->points);
        if (g->states)
            for (size_t t = 0; t < g->cfg->tag_count; t++)
                report_state_clear(&g->states[t]);
        free(g->states);
    }
    free(d->groups);
    if (d->ctx) modbus_free(d->ctx);
    pthread_mutex_destroy(&d->socket_lock);
    write_queue_destroy(&d->writes);
    free(d);
}

static bool build_groups(struct mb_driver *d, char *err, size_t err_len)
{
    const struct config_device *dev = d->dev;
    d->groups = calloc(dev->group_count ? dev->group_count : 1, sizeof *d->groups);
    if (!d->groups) goto nomem;
    d->group_count = dev->group_count;
    struct mb_plan_limits limits = {
        .max_registers = dev->max_registers_per_request,
        .max_bits = dev->max_bits_per_request,
        .max_gap_registers = dev->max_gap_registers,
        .max_gap_bits = dev->max_gap_bits,
    };
    size_t tag_index = 0;
    for (size_t gi = 0; gi < dev->group_count; gi++) {
        struct group_runtime *g = &d->groups[gi];
        g->cfg = &dev->groups[gi];
        g->tag_ids = d->env.tag_ids + tag_index;
        tag_index += g->cfg->tag_count;
        size_t n = g->cfg->tag_count;
        g->points = calloc(n ? n : 1, sizeof *g->points);
        g->states = calloc(n ? n : 1, sizeof *g->states);
        if (!g->points || !g->states) goto nomem;
        for (size_t t = 0; t < n; t++)
            g->points[t] = g->cfg->tags[t].point;
        char why[256];
        if (!mb_plan_build(g->points, n, &limits, &g->plan, why, sizeof why)) {
            snprintf(err, err_len, "device '%s' group '%s': %s", dev->name, g->cfg->name, why);
            return false;
        }
    }
    return true;
nomem:
    snprintf(err, err_len, "out of memory setting up device '%s'", dev->name);
    return false;
}

struct mb_driver *mb_driver_start(const struct config_device *dev, const struct driver_env *env,
                                  char *err, size_t err_len)
{
    struct mb_driver *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, err_len, "out of memory starting device '%s'", dev->name);
        return NULL;
    }
    d->dev = dev;
    d->env = *env;
    pthread_mutex_init(&d->socket_lock, NULL);
    write_queue_init(
        &d->writes,
        (struct write_queue_wording){.busy_with = "a poll or other writes", .answerer = "device's"},
        NULL, NULL);
    snprintf(env->stats->name, sizeof env->stats->name, "%s", dev->name);
    snprintf(env->stats->protocol, sizeof env->stats->protocol, "modbus-tcp");
    snprintf(env->stats->endpoint, sizeof env->stats->endpoint, "%s:%u unit %u", dev->host,
             dev->port, dev->unit_id);
    if (!build_groups(d, err, err_len)) {
        free_driver(d);
        return NULL;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", dev->port);
    d->ctx = modbus_new_tcp_pi(dev->host, port);
    if (!d->ctx) {
        snprintf(err, err_len, "device '%s': cannot create a Modbus TCP context for %s:%u: %s",
                 dev->name, dev->host, dev->port, modbus_strerror(errno));
        free_driver(d);
        return NULL;
    }
    modbus_set_slave(d->ctx, dev->unit_id);
    modbus_set_response_timeout(d->ctx, dev->timeout_ms / 1000, (dev->timeout_ms % 1000) * 1000);
    modbus_set_byte_timeout(d->ctx, dev->timeout_ms / 1000, (dev->timeout_ms % 1000) * 1000);
    if (!dev->enabled || dev->group_count == 0) {
        atomic_store(&env->stats->state, DEVICE_DISABLED);
        return d; /* nothing to poll: no thread */
    }
    d->polling = true;
    int rc = pthread_create(&d->thread, NULL, worker, d);
    if (rc != 0) {
        snprintf(err, err_len, "device '%s': cannot start its worker thread: %s", dev->name,
                 strerror(rc));
        free_driver(d);
        return NULL;
    }
    return d;
}

void mb_driver_stop(struct mb_driver *d)
{
    if (!d) return;
    atomic_store(&d->stop, true);
    write_queue_stop(&d->writes); /* queued writes end with "device stopping" */
    if (d->polling) {
        /* Interrupt a request in flight: shutting the socket down makes
         * libmodbus's select()/recv() return at once. */
        pthread_mutex_lock(&d->socket_lock);
        if (d->connected) shutdown(modbus_get_socket(d->ctx), SHUT_RDWR);
        pthread_mutex_unlock(&d->socket_lock);
        pthread_join(d->thread, NULL);
    }
    /* Callers still inside mb_driver_write() leave once their job is done. */
    write_queue_close(&d->writes);
    free_driver(d);
}
