/* GET /api/v1/stream: live tag values as server-sent events.
 *
 * The first event is a snapshot of every matching tag; then "update" events
 * carry the tags that changed, at most one per API_STREAM_MIN_INTERVAL_MS
 * (changes in between coalesce: each tag once, latest value). When the
 * change ring overran or the tag set was replaced, a new snapshot is sent.
 * A ": keepalive" comment goes out after API_STREAM_KEEPALIVE_MS of quiet.
 *
 * Each stream runs in its connection's own thread (MHD thread per
 * connection): the content callback blocks until the next event is ready,
 * waking at least every API_STOP_CHECK_MS to look at the stop flag and at
 * the peer. Changed tag ids are gathered under one short hold of the LVT
 * read lock and serialised in slices; nothing is written to the socket while
 * the lock is held. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "core/clock.h"

struct stream {
    struct api_server *server;
    struct MHD_Connection *conn;
    char prefix[TAG_PATH_MAX];
    uint64_t cursor;     /* changes up to here have been sent */
    uint64_t generation; /* tag set the client knows */
    bool started;
    int64_t last_update_ms; /* when the last snapshot/update was produced */
    int64_t last_write_ms;  /* when anything was produced (for keepalive) */
    struct api_buf out;     /* the event being handed to MHD */
    size_t out_pos;
    uint32_t *changed; /* ids of changed tags, reused between events */
    size_t changed_count, changed_cap;
    bool changed_failed;
    enum api_credential via; /* how the stream was authorised */
    char secret[64];         /* the token or session id, checked again while open */
    int64_t credential_checked_ms;
};

/* Starts a new event in st->out. */
static void begin_event(struct stream *st)
{
    api_buf_free(&st->out);
    st->out_pos = 0;
    if (!st->started) api_buf_printf(&st->out, "retry: %d\n", API_STREAM_RETRY_MS);
    st->started = true;
    st->last_update_ms = st->last_write_ms = clock_mono_ms();
}

/* Puts a snapshot of every matching tag in st->out and moves the cursor to
 * where the snapshot starts. Compact JSON has no raw newline, so it goes
 * straight into one "data:" line. */
static bool emit_snapshot(struct stream *st)
{
    begin_event(st);
    size_t count = 0;
    api_buf_puts(&st->out, "event: snapshot\ndata: {\"tags\":[");
    api_append_tags(st->server, st->prefix, &st->out, &count, &st->cursor, &st->generation);
    api_buf_printf(&st->out, "],\"count\":%zu}\n\n", count);
    return !st->out.failed;
}

/* lvt_changes_since callback: remembers the ids of matching tags. */
static void note_change(void *ctx, const struct tag *tag, const struct lvt_entry *e)
{
    struct stream *st = ctx;
    (void)e;
    if (st->changed_failed || !api_prefix_matches(st->prefix, tag->path)) return;
    if (st->changed_count == st->changed_cap) {
        size_t cap = st->changed_cap ? st->changed_cap * 2 : 256;
        uint32_t *ids = realloc(st->changed, cap * sizeof *ids);
        if (!ids) {
            st->changed_failed = true;
            return;
        }
        st->changed = ids;
        st->changed_cap = cap;
    }
    st->changed[st->changed_count++] = tag->id;
}

enum collect_result { COLLECT_NOTHING, COLLECT_EVENT, COLLECT_RESYNC, COLLECT_FAILED };

/* Gathers the ids of tags changed since the cursor, under one short hold
 * of the read lock. */
static enum collect_result gather_changes(struct stream *st)
{
    struct lvt *lvt = st->server->lvt;
    st->changed_count = 0;
    st->changed_failed = false;
    lvt_read_lock(lvt);
    bool resync = lvt->generation != st->generation;
    if (!resync && lvt->seq != st->cursor)
        resync = !lvt_changes_since(lvt, &st->cursor, note_change, st);
    lvt_read_unlock(lvt);
    if (resync) return COLLECT_RESYNC;
    if (st->changed_failed) return COLLECT_FAILED;
    return st->changed_count ? COLLECT_EVENT : COLLECT_NOTHING;
}

/* Serialises the gathered tags (their current values), taking the read lock
 * in slices. */
static enum collect_result serialise_changes(struct stream *st, struct api_buf *json)
{
    struct lvt *lvt = st->server->lvt;
    bool bulk = st->changed_count > API_LOCK_SLICE_TAGS;
    if (bulk) pthread_mutex_lock(&st->server->bulk_lock);
    enum collect_result r = COLLECT_EVENT;
    api_buf_puts(json, "[");
    for (size_t i = 0; i < st->changed_count && r == COLLECT_EVENT;) {
        size_t end = i + API_LOCK_SLICE_TAGS;
        if (end > st->changed_count) end = st->changed_count;
        lvt_read_lock(lvt);
        if (lvt->generation != st->generation) r = COLLECT_RESYNC;
        for (; i < end && r == COLLECT_EVENT; i++) {
            uint32_t id = st->changed[i];
            if (i > 0) api_buf_puts(json, ",");
            api_buf_append_tag(json, &lvt->tags.tags[id], &lvt->entries[id], false);
        }
        lvt_read_unlock(lvt);
    }
    if (bulk) pthread_mutex_unlock(&st->server->bulk_lock);
    api_buf_puts(json, "]");
    if (r == COLLECT_EVENT && json->failed) r = COLLECT_FAILED;
    return r;
}

/* Looks for changes since the cursor and prepares the next event. */
static enum collect_result collect_updates(struct stream *st)
{
    enum collect_result r = gather_changes(st);
    if (r != COLLECT_EVENT) return r;
    begin_event(st);
    api_buf_puts(&st->out, "event: update\ndata: ");
    r = serialise_changes(st, &st->out);
    api_buf_puts(&st->out, "\n\n");
    if (r == COLLECT_EVENT && st->out.failed) r = COLLECT_FAILED;
    return r;
}

/* True when the client has closed its side (or the socket failed). */
static bool peer_gone(struct stream *st)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info) return false;
    struct pollfd p = {.fd = info->connect_fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void sleep_ms(int ms)
{
    clock_sleep_until_ms(clock_mono_ms() + ms);
}

static int min_int(int64_t a, int64_t b)
{
    return (int)(a < b ? a : b);
}

/* Blocks until the next event is in st->out. False when the stream must
 * end: the server is stopping, the client left, or memory ran out. */
static bool next_event(struct stream *st)
{
    if (!st->started) return emit_snapshot(st);
    for (;;) {
        if (atomic_load(&st->server->stopping) || peer_gone(st)) return false;
        int64_t now = clock_mono_ms();
        if (now - st->credential_checked_ms >= API_STREAM_RECHECK_MS) {
            /* A revoked token, an ended session or a disabled user ends
             * the stream too, not only new requests. */
            if (!api_credential_still_valid(st->server, st->via, st->secret)) {
                log_info("api", "event stream ended: its credential is no longer valid", NULL);
                return false;
            }
            st->credential_checked_ms = now;
        }
        int64_t quiet_until = st->last_update_ms + API_STREAM_MIN_INTERVAL_MS;
        if (now < quiet_until) { /* coalesce: changes wait in the LVT */
            sleep_ms(min_int(quiet_until - now, API_STOP_CHECK_MS));
            continue;
        }
        int64_t keepalive_at = st->last_write_ms + API_STREAM_KEEPALIVE_MS;
        int wait_ms = min_int(keepalive_at - now, API_STOP_CHECK_MS);
        if (wait_ms > 0) lvt_wait(st->server->lvt, st->cursor, wait_ms);
        switch (collect_updates(st)) {
        case COLLECT_EVENT:
            return true;
        case COLLECT_RESYNC:
            return emit_snapshot(st);
        case COLLECT_FAILED:
            return false;
        case COLLECT_NOTHING:
            break;
        }
        if (clock_mono_ms() >= keepalive_at) {
            api_buf_free(&st->out);
            st->out_pos = 0;
            api_buf_puts(&st->out, ": keepalive\n\n");
            st->last_write_ms = clock_mono_ms();
            return !st->out.failed;
        }
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    (void)pos;
    while (st->out_pos >= st->out.len) {
        if (!next_event(st)) return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = st->out.len - st->out_pos;
    if (n > max) n = max;
    memcpy(buf, st->out.data + st->out_pos, n);
    st->out_pos += n;
    if (st->out_pos == st->out.len) { /* handed over: a big snapshot need not linger */
        api_buf_free(&st->out);
        st->out_pos = 0;
    }
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    atomic_fetch_sub(&st->server->streams, 1);
    api_buf_free(&st->out);
    free(st->changed);
    OPENSSL_cleanse(st->secret, sizeof st->secret);
    free(st);
}

static void add_stream_headers(struct MHD_Response *r)
{
    api_add_common_headers(r);
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* reverse proxies: do not buffer */
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'");
}

/* HEAD: the headers a stream would have, no body. */
static enum MHD_Result respond_head(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    add_stream_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result api_route_stream(struct api_server *s, struct MHD_Connection *c, bool head,
                                 const struct api_request *req)
{
    char prefix[TAG_PATH_MAX];
    enum MHD_Result queued;
    if (!api_query_prefix(c, prefix, sizeof prefix, &queued)) return queued;
    if (head) return respond_head(c);
    if (atomic_fetch_add(&s->streams, 1) >= API_MAX_STREAMS) {
        atomic_fetch_sub(&s->streams, 1);
        return api_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "too many event streams open (limit %d)", API_MAX_STREAMS);
    }
    struct stream *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_fetch_sub(&s->streams, 1);
        return api_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    st->server = s;
    st->conn = c;
    st->via = req->via;
    snprintf(st->secret, sizeof st->secret, "%s",
             req->via == API_CRED_SESSION ? req->session_id : req->token);
    st->credential_checked_ms = clock_mono_ms();
    memcpy(st->prefix, prefix, sizeof st->prefix);
    api_buf_init(&st->out);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, API_STREAM_BLOCK_BYTES, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    add_stream_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* MHD keeps its own reference; stream_free runs when done */
    return ret;
}
