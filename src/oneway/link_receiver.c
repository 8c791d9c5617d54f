/* The one-way link's receiver (link_receiver.h): a bound UDP socket that is
 * only read; datagrams -> window -> tag tables, sample batches, loss. */
#include "oneway/link_receiver.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/clock.h"
#include "core/errbuf.h"
#include "core/log.h"
#include "oneway/link_sender.h"

/* Datagrams read per recvmmsg call. */
#define RECV_VECTOR 64
#define RCVBUF_BYTES (8 << 20)
/* Longest sleep of the thread: how quickly it notices stop and timers. */
#define IDLE_WAIT_MS 100
/* The shared status is refreshed at most this often while busy. */
#define PUBLISH_INTERVAL_MS 20
/* Loss goes to on_loss at most this often. */
#define LOSS_REPORT_INTERVAL_MS 1000
/* Bytes of range text handed to on_loss at once. */
#define LOSS_TEXT_BYTES 4096
/* Refused datagrams are logged at most this often per kind. */
#define REFUSED_LOG_INTERVAL_MS 10000
#define NO_TYPE 0xFF

/* A tag table being collected from the BIRTH parts of one session/epoch. */
struct assembly {
    bool active;
    uint64_t session_id;
    uint32_t epoch;
    uint32_t total;
    uint16_t parts;
    uint8_t *part_seen; /* parts entries */
    uint32_t parts_seen;
    uint8_t *types;    /* total entries, NO_TYPE until the tag's entry came */
    uint32_t *path_at; /* offsets into pool of NUL-terminated path and unit */
    uint32_t *unit_at;
    uint32_t filled;
    char *pool;
    size_t pool_len, pool_cap;
};

/* A device set being collected from the DEVICES parts of one snapshot. */
struct device_assembly {
    bool active;
    uint64_t session_id;
    uint32_t snapshot;
    uint16_t total, parts;
    uint32_t parts_seen, filled;
    uint8_t *part_seen;          /* parts entries */
    uint8_t *entry_seen;         /* total entries */
    struct link_device *devices; /* total entries */
};

enum refused_kind { REFUSED_MAC, REFUSED_MALFORMED, REFUSED_OTHER_LINK, REFUSED_REPLAY, REFUSED_N };

struct link_receiver {
    int fd;
    uint16_t port;
    struct link_receiver_options opt;
    pthread_t thread;
    atomic_bool stop;

    pthread_mutex_t lock; /* guards shared */
    struct link_receiver_status shared;

    /* The thread's own state. */
    struct link_receiver_status st;
    struct link_decoder dec;
    struct link_rx_window rx;
    struct assembly asm_;
    struct device_assembly dev_asm;
    bool devices_applied; /* a set of devices_session was handed over */
    uint64_t devices_session;
    uint32_t devices_snapshot; /* the last one handed over */
    uint8_t *types;            /* the installed table's value types, by tag id */
    uint32_t type_count;
    uint64_t table_session;
    int64_t latest_sent_ns;    /* newest sender time of the current session */
    int64_t persisted_sent_ns; /* newest sender time before this start (state file) */
    int64_t saved_sent_ns;     /* what the state file holds now */
    int64_t saved_at_ms;       /* when it was last written */
    int64_t last_heartbeat_ms;
    int64_t gap_since_ms; /* a number is missing since then; 0: none */
    bool mark_pending;
    struct sample_batch *batch;
    /* Loss not yet handed to on_loss. */
    char loss_text[LOSS_TEXT_BYTES];
    size_t loss_len;
    uint64_t loss_numbers, loss_cut;
    int64_t loss_reported_ms;
    int64_t refused_logged_ms[REFUSED_N];
    uint8_t *buffers;
    struct mmsghdr vec[RECV_VECTOR];
    struct iovec iov[RECV_VECTOR];
};

const char *link_state_name(enum link_state s)
{
    switch (s) {
    case LINK_STATE_WAITING:
        return "waiting";
    case LINK_STATE_UP:
        return "up";
    case LINK_STATE_DOWN:
        return "down";
    }
    return "unknown";
}

/* ---- loss ---------------------------------------------------------------------- */

static void loss_text_append(struct link_receiver *r, uint64_t first, uint64_t last)
{
    char one[48];
    int n = first == last ? snprintf(one, sizeof one, "%llu", (unsigned long long)first)
                          : snprintf(one, sizeof one, "%llu-%llu", (unsigned long long)first,
                                     (unsigned long long)last);
    /* Keep room for the ",...(+N ranges)" tail. */
    if (r->loss_cut || r->loss_len + (size_t)n + 1 + 32 >= sizeof r->loss_text) {
        r->loss_cut++;
        return;
    }
    if (r->loss_len) r->loss_text[r->loss_len++] = ',';
    memcpy(r->loss_text + r->loss_len, one, (size_t)n);
    r->loss_len += (size_t)n;
    r->loss_text[r->loss_len] = '\0';
}

/* The window's report of one run of lost numbers. */
static void on_window_lost(void *ctx, uint64_t session_id, uint64_t first, uint64_t last)
{
    struct link_receiver *r = ctx;
    struct link_receiver_status *st = &r->st;
    st->lost_ranges++;
    if (st->recent_count == LINK_RECEIVER_RECENT_RANGES) {
        memmove(st->recent, st->recent + 1, (LINK_RECEIVER_RECENT_RANGES - 1) * sizeof *st->recent);
        st->recent_count--;
    }
    st->recent[st->recent_count++] = (struct link_lost_range){
        .session_id = session_id, .first = first, .last = last, .detected_ns = clock_now_ns()};
    loss_text_append(r, first, last);
    r->loss_numbers += last - first + 1;
    r->mark_pending = true;
    log_debug("link", "datagrams lost", "session=%016llx first=%llu last=%llu",
              (unsigned long long)session_id, (unsigned long long)first, (unsigned long long)last);
}

static void report_loss(struct link_receiver *r, int64_t now_ms, bool force)
{
    if (r->loss_numbers == 0) return;
    if (!force && now_ms - r->loss_reported_ms < LOSS_REPORT_INTERVAL_MS) return;
    if (r->loss_cut) {
        size_t room = sizeof r->loss_text - r->loss_len;
        snprintf(r->loss_text + r->loss_len, room, ",...(+%llu ranges)",
                 (unsigned long long)r->loss_cut);
    }
    log_warn("link", "datagrams lost", "link_id=%u numbers=%llu ranges=\"%s\"", r->opt.link_id,
             (unsigned long long)r->loss_numbers, r->loss_text);
    if (r->opt.cb.on_loss) r->opt.cb.on_loss(r->opt.cb.ctx, r->loss_text, r->loss_numbers);
    r->loss_len = 0;
    r->loss_text[0] = '\0';
    r->loss_numbers = 0;
    r->loss_cut = 0;
    r->loss_reported_ms = now_ms;
}

/* ---- delivery ------------------------------------------------------------------ */

static void deliver_batch(struct link_receiver *r)
{
    if (!r->batch || r->batch->count == 0) return;
    if (r->opt.cb.on_batch)
        r->opt.cb.on_batch(r->opt.cb.ctx, r->batch);
    else
        sample_batch_free(r->batch);
    r->batch = NULL;
}

/* After a loss report: what was received before it first, then the mark. */
static void deliver_mark(struct link_receiver *r, quality_t quality)
{
    r->mark_pending = false;
    deliver_batch(r);
    if (r->opt.cb.on_mark_uncertain) r->opt.cb.on_mark_uncertain(r->opt.cb.ctx, quality);
}

/* ---- BIRTH --------------------------------------------------------------------- */

static void assembly_clear(struct assembly *a)
{
    free(a->part_seen);
    free(a->types);
    free(a->path_at);
    free(a->unit_at);
    free(a->pool);
    memset(a, 0, sizeof *a);
}

static bool assembly_begin(struct assembly *a, const struct link_header *h,
                           const struct link_birth_info *b)
{
    assembly_clear(a);
    a->part_seen = calloc(b->parts, 1);
    a->types = malloc(b->tag_total ? b->tag_total : 1);
    a->path_at = calloc(b->tag_total ? b->tag_total : 1, sizeof *a->path_at);
    a->unit_at = calloc(b->tag_total ? b->tag_total : 1, sizeof *a->unit_at);
    if (!a->part_seen || !a->types || !a->path_at || !a->unit_at) {
        assembly_clear(a);
        return false;
    }
    memset(a->types, NO_TYPE, b->tag_total ? b->tag_total : 1);
    a->active = true;
    a->session_id = h->session_id;
    a->epoch = b->epoch;
    a->total = b->tag_total;
    a->parts = b->parts;
    return true;
}

static bool pool_add(struct assembly *a, const char *s, uint32_t len, uint32_t *at)
{
    if (a->pool_len + len + 1 > a->pool_cap) {
        size_t cap = a->pool_cap ? a->pool_cap * 2 : 4096;
        while (cap < a->pool_len + len + 1)
            cap *= 2;
        if (cap > UINT32_MAX) return false;
        char *grown = realloc(a->pool, cap);
        if (!grown) return false;
        a->pool = grown;
        a->pool_cap = cap;
    }
    *at = (uint32_t)a->pool_len;
    if (len) memcpy(a->pool + a->pool_len, s, len);
    a->pool[a->pool_len + len] = '\0';
    a->pool_len += len + 1;
    return true;
}

static void refused(struct link_receiver *r, enum refused_kind kind, uint64_t *counter,
                    const char *what, const char *err)
{
    (*counter)++;
    int64_t now = clock_mono_ms();
    if (r->refused_logged_ms[kind] && now - r->refused_logged_ms[kind] < REFUSED_LOG_INTERVAL_MS)
        return;
    r->refused_logged_ms[kind] = now;
    log_warn("link", what, "error=\"%s\" count=%llu", err, (unsigned long long)*counter);
}

/* Builds the table of a complete assembly and hands it over. */
static void install_table(struct link_receiver *r)
{
    struct assembly *a = &r->asm_;
    struct tag_table tags;
    tag_table_init(&tags);
    if (!tag_table_reserve(&tags, a->total)) {
        log_error("link", "out of memory installing the tag table", "tags=%u", a->total);
        assembly_clear(a);
        return;
    }
    for (uint32_t id = 0; id < a->total; id++) {
        struct tag t = {.type = (enum value_type)a->types[id],
                        .path = a->pool + a->path_at[id],
                        .unit = a->pool + a->unit_at[id],
                        .description = "",
                        .scale = {1, 0}};
        if (tag_table_add(&tags, &t) != (int64_t)id) {
            char err[300];
            snprintf(err, sizeof err, "tag %u: path %s given twice (or out of memory)", id, t.path);
            refused(r, REFUSED_MALFORMED, &r->st.malformed, "tag table refused", err);
            tag_table_clear(&tags);
            assembly_clear(a);
            return;
        }
    }
    deliver_batch(r); /* samples of the previous table go first */
    bool taken =
        !r->opt.cb.on_tags || r->opt.cb.on_tags(r->opt.cb.ctx, &tags, a->session_id, a->epoch);
    tag_table_clear(&tags);
    if (!taken) {
        /* Nothing of this session is applied until a later BIRTH works. */
        r->st.have_tags = false;
        r->table_session = 0;
        assembly_clear(a);
        return;
    }
    free(r->types);
    r->types = a->types;
    a->types = NULL;
    r->type_count = a->total;
    r->table_session = a->session_id;
    r->st.have_tags = true;
    r->st.epoch = a->epoch;
    r->st.tags = a->total;
    r->st.births_installed++;
    log_info("link", "tag table received", "session=%016llx epoch=%u tags=%u",
             (unsigned long long)a->session_id, a->epoch, a->total);
    assembly_clear(a);
}

static void handle_birth(struct link_receiver *r, const struct link_datagram *d)
{
    const struct link_birth_info *b = &d->birth;
    struct assembly *a = &r->asm_;
    char err[200];
    if (r->st.have_tags && r->table_session == d->header.session_id && r->st.epoch == b->epoch)
        return; /* the periodic repeat of the installed table */
    if (b->tag_total > r->opt.max_tags) {
        snprintf(err, sizeof err, "tag table of %u tags, this receiver takes %u", b->tag_total,
                 r->opt.max_tags);
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "tag table refused", err);
        return;
    }
    if (!a->active || a->session_id != d->header.session_id || a->epoch != b->epoch ||
        a->total != b->tag_total || a->parts != b->parts) {
        if (!assembly_begin(a, &d->header, b)) {
            log_error("link", "out of memory receiving the tag table", "tags=%u", b->tag_total);
            return;
        }
    }
    if (a->part_seen[b->part]) return;
    for (uint32_t i = 0; i < d->tag_count; i++) {
        const struct link_birth_tag *t = &d->tags[i];
        if (t->id >= a->total || a->types[t->id] != NO_TYPE) {
            snprintf(err, sizeof err, "BIRTH part %u: tag id %u %s", b->part, t->id,
                     t->id >= a->total ? "beyond the table" : "given twice");
            refused(r, REFUSED_MALFORMED, &r->st.malformed, "tag table refused", err);
            assembly_clear(a);
            return;
        }
        if (!pool_add(a, t->path, t->path_len, &a->path_at[t->id]) ||
            !pool_add(a, t->unit, t->unit_len, &a->unit_at[t->id])) {
            log_error("link", "out of memory receiving the tag table", "tags=%u", a->total);
            assembly_clear(a);
            return;
        }
        a->types[t->id] = (uint8_t)t->type;
        a->filled++;
    }
    a->part_seen[b->part] = 1;
    a->parts_seen++;
    if (a->parts_seen < a->parts) return;
    if (a->filled != a->total) {
        snprintf(err, sizeof err, "all %u BIRTH parts hold %u of %u tags", a->parts, a->filled,
                 a->total);
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "tag table refused", err);
        assembly_clear(a);
        return;
    }
    install_table(r);
}

/* ---- DATA and HEARTBEAT -------------------------------------------------------- */

static void handle_data(struct link_receiver *r, const struct link_datagram *d)
{
    if (!r->st.have_tags || r->table_session != d->header.session_id) {
        r->st.waiting_for_birth++;
        return;
    }
    if (!r->batch && !(r->batch = sample_batch_new(d->sample_count))) {
        log_error("link", "out of memory: samples dropped", "count=%u", d->sample_count);
        return;
    }
    for (uint32_t i = 0; i < d->sample_count; i++) {
        const struct sample *s = &d->samples[i];
        if (s->tag_id >= r->type_count || r->types[s->tag_id] != (uint8_t)s->value.type) {
            r->st.samples_invalid++;
            continue;
        }
        if (!sample_batch_add(r->batch, s->tag_id, s->ts_ns, s->quality, &s->value)) {
            log_error("link", "out of memory: samples dropped", "count=1");
            continue;
        }
        r->st.samples++;
    }
}

static void set_state(struct link_receiver *r, enum link_state state, const char *details)
{
    r->st.state = state;
    if (state == LINK_STATE_DOWN) {
        r->st.link_downs++;
        log_warn("link", "link down", "link_id=%u %s", r->opt.link_id, details);
    } else {
        log_info("link", "link up", "link_id=%u %s", r->opt.link_id, details);
    }
    if (r->opt.cb.on_state) r->opt.cb.on_state(r->opt.cb.ctx, state, details);
}

static void handle_heartbeat(struct link_receiver *r, const struct link_datagram *d)
{
    r->last_heartbeat_ms = clock_mono_ms();
    r->st.last_heartbeat_ns = clock_now_ns();
    r->st.sender_datagrams = d->heartbeat.datagrams_sent;
    r->st.sender_samples = d->heartbeat.samples_sent;
    if (r->st.state != LINK_STATE_UP) {
        char details[96];
        snprintf(details, sizeof details, "session=%016llx",
                 (unsigned long long)d->header.session_id);
        set_state(r, LINK_STATE_UP, details);
    }
}

/* ---- DEVICES ------------------------------------------------------------------- */

static void device_assembly_clear(struct device_assembly *a)
{
    free(a->part_seen);
    free(a->entry_seen);
    free(a->devices);
    memset(a, 0, sizeof *a);
}

static bool device_assembly_begin(struct device_assembly *a, uint64_t session_id,
                                  const struct link_devices_info *v)
{
    device_assembly_clear(a);
    size_t total = v->device_total ? v->device_total : 1;
    a->part_seen = calloc(v->parts, 1);
    a->entry_seen = calloc(total, 1);
    a->devices = calloc(total, sizeof *a->devices);
    if (!a->part_seen || !a->entry_seen || !a->devices) {
        device_assembly_clear(a);
        return false;
    }
    a->active = true;
    a->session_id = session_id;
    a->snapshot = v->snapshot;
    a->total = v->device_total;
    a->parts = v->parts;
    return true;
}

/* Whether names[0..n) are unique (n is small: at most 65535). */
static bool device_names_unique(const struct link_device *d, size_t n, size_t *dup)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(d[i].name, d[j].name) == 0) {
                *dup = i;
                return false;
            }
    return true;
}

static void handle_devices(struct link_receiver *r, const struct link_datagram *d)
{
    const struct link_devices_info *v = &d->devices_info;
    const uint64_t session = d->header.session_id;
    struct device_assembly *a = &r->dev_asm;
    char err[200];
    /* Wrap-safe "not newer than the last applied" within a session. */
    if (v->device_total > LINK_RECEIVER_MAX_DEVICES) {
        snprintf(err, sizeof err, "device set of %u devices, this receiver takes %u",
                 v->device_total, LINK_RECEIVER_MAX_DEVICES);
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "device statistics refused", err);
        return;
    }
    if (r->devices_applied && r->devices_session == session &&
        (int32_t)(v->snapshot - r->devices_snapshot) <= 0)
        return;
    if (a->active && a->session_id == session && (int32_t)(v->snapshot - a->snapshot) < 0)
        return; /* a part of an older snapshot than the one being collected */
    if (!a->active || a->session_id != session || a->snapshot != v->snapshot ||
        a->total != v->device_total || a->parts != v->parts) {
        if (!device_assembly_begin(a, session, v)) {
            log_error("link", "out of memory receiving device statistics", "devices=%u",
                      v->device_total);
            return;
        }
    }
    if (a->part_seen[v->part]) return;
    for (uint32_t i = 0; i < d->device_count; i++) {
        uint32_t at = (uint32_t)v->first + i;
        if (a->entry_seen[at]) {
            snprintf(err, sizeof err, "DEVICES part %u: entry %u given twice", v->part, at);
            refused(r, REFUSED_MALFORMED, &r->st.malformed, "device statistics refused", err);
            device_assembly_clear(a);
            return;
        }
        a->entry_seen[at] = 1;
        a->devices[at] = d->devices[i];
        a->filled++;
    }
    a->part_seen[v->part] = 1;
    a->parts_seen++;
    if (a->parts_seen < a->parts) return;
    size_t dup = 0;
    if (a->filled != a->total || !device_names_unique(a->devices, a->total, &dup)) {
        if (a->filled != a->total)
            snprintf(err, sizeof err, "all %u DEVICES parts hold %u of %u devices", a->parts,
                     a->filled, a->total);
        else
            snprintf(err, sizeof err, "device name \"%s\" given twice", a->devices[dup].name);
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "device statistics refused", err);
        device_assembly_clear(a);
        return;
    }
    if (r->opt.cb.on_devices) r->opt.cb.on_devices(r->opt.cb.ctx, a->devices, a->total);
    r->devices_applied = true;
    r->devices_session = session;
    r->devices_snapshot = a->snapshot;
    r->st.device_sets++;
    r->st.devices = a->total;
    device_assembly_clear(a);
}

/* ---- one datagram -------------------------------------------------------------- */

/* A datagram of a session other than the current and the previous one
 * must be newer than anything of the current session. */
static bool replayed_session(struct link_receiver *r, const struct link_header *h)
{
    /* Before the first datagram of this run: nothing older than what was
     * accepted before the restart (the state file). */
    if (!r->rx.started) return h->sent_ns <= r->persisted_sent_ns;
    if (h->session_id == r->rx.session_id) return false;
    if (r->rx.has_previous_session && h->session_id == r->rx.previous_session_id) return false;
    return h->sent_ns <= r->latest_sent_ns;
}

/* Whether every number from the window's start (or the session's low mark)
 * up to the highest has arrived. */
static bool window_complete(const struct link_rx_window *rx)
{
    uint64_t first = rx->highest >= LINK_RX_WINDOW - 1 ? rx->highest - (LINK_RX_WINDOW - 1) : 0;
    if (first < rx->low_mark) first = rx->low_mark;
    for (uint64_t s = first; s < rx->highest; s++)
        if (!(rx->seen[(s % LINK_RX_WINDOW) / 64] >> (s % 64) & 1)) return false;
    return true;
}

static void handle_datagram(struct link_receiver *r, const uint8_t *buf, size_t len, bool truncated)
{
    char err[256];
    struct link_datagram d;
    r->st.datagrams++;
    r->st.bytes += len;
    if (truncated) {
        snprintf(err, sizeof err, "datagram larger than %zu bytes", r->opt.datagram_bytes);
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "datagram refused", err);
        return;
    }
    enum link_status ls = link_decode(&r->dec, buf, len, &d, err, sizeof err);
    if (ls == LINK_ERR_MAC) {
        refused(r, REFUSED_MAC, &r->st.bad_mac, "datagram refused: not authentic", err);
        return;
    }
    if (ls == LINK_ERR_LINK_ID) {
        refused(r, REFUSED_OTHER_LINK, &r->st.other_link, "datagram of another link", err);
        return;
    }
    if (ls != LINK_OK) {
        refused(r, REFUSED_MALFORMED, &r->st.malformed, "datagram refused", err);
        return;
    }
    const struct link_header *h = &d.header;
    if (replayed_session(r, h)) {
        snprintf(err, sizeof err, "session %016llx sent at %lld, not after the current one",
                 (unsigned long long)h->session_id, (long long)h->sent_ns);
        refused(r, REFUSED_REPLAY, &r->st.replayed, "datagram of an older session refused", err);
        return;
    }
    uint64_t highest = r->rx.highest;
    enum link_rx_verdict v = link_rx_accept(&r->rx, h->session_id, h->sequence);
    if (v == LINK_RX_DUPLICATE || v == LINK_RX_STALE) return;
    r->st.last_datagram_ns = clock_now_ns();
    if (v == LINK_RX_FIRST || v == LINK_RX_RESTART) {
        r->latest_sent_ns = h->sent_ns;
        r->gap_since_ms = 0;
        if (v == LINK_RX_RESTART)
            log_info("link", "sender restarted: new session", "session=%016llx",
                     (unsigned long long)h->session_id);
    } else if (h->sent_ns > r->latest_sent_ns) {
        r->latest_sent_ns = h->sent_ns;
    }
    if (v == LINK_RX_NEW && h->sequence > highest + 1 && r->gap_since_ms == 0)
        r->gap_since_ms = clock_mono_ms();
    if (v == LINK_RX_REORDERED && r->gap_since_ms && window_complete(&r->rx))
        r->gap_since_ms = 0; /* the gap filled: a later one starts its own wait */
    if (r->mark_pending) deliver_mark(r, LINK_QUALITY_LOSS);
    switch (h->type) {
    case LINK_BIRTH:
        handle_birth(r, &d);
        break;
    case LINK_DATA:
        handle_data(r, &d);
        break;
    case LINK_HEARTBEAT:
        handle_heartbeat(r, &d);
        break;
    case LINK_DEVICES:
        handle_devices(r, &d);
        break;
    }
}

/* ---- the thread ---------------------------------------------------------------- */

static void publish(struct link_receiver *r)
{
    struct link_receiver_status *st = &r->st;
    st->session_id = r->rx.started ? r->rx.session_id : 0;
    st->received = r->rx.received;
    st->duplicates = r->rx.duplicates;
    st->reordered = r->rx.reordered;
    st->stale = r->rx.stale;
    st->lost = r->rx.lost;
    st->restarts = r->rx.restarts;
    if (st->have_tags && r->rx.started && r->table_session != r->rx.session_id)
        st->have_tags = false; /* a new session waits for its table */
    pthread_mutex_lock(&r->lock);
    r->shared = *st;
    pthread_mutex_unlock(&r->lock);
}

static void log_counters(struct link_receiver *r, const char *msg)
{
    const struct link_receiver_status *st = &r->st;
    log_info("link", msg,
             "state=%s datagrams=%llu received=%llu samples=%llu duplicates=%llu lost=%llu "
             "lost_ranges=%llu bad_mac=%llu malformed=%llu other_link=%llu replayed=%llu "
             "waiting_for_birth=%llu",
             link_state_name(st->state), (unsigned long long)st->datagrams,
             (unsigned long long)st->received, (unsigned long long)st->samples,
             (unsigned long long)st->duplicates, (unsigned long long)st->lost,
             (unsigned long long)st->lost_ranges, (unsigned long long)st->bad_mac,
             (unsigned long long)st->malformed, (unsigned long long)st->other_link,
             (unsigned long long)st->replayed, (unsigned long long)st->waiting_for_birth);
}

/* ---- the replay state file ------------------------------------------------------ */

#define STATE_SAVE_INTERVAL_MS 1000

/* Reads "sent_ns=<integer>" from the state file (absent: 0). */
static int64_t load_state(const char *path)
{
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[64] = "";
    long long v = 0;
    if (!fgets(line, sizeof line, f) || sscanf(line, "sent_ns=%lld", &v) != 1 || v < 0) v = 0;
    fclose(f);
    return (int64_t)v;
}

/* Writes the newest accepted sender time (temporary file and rename, so a
 * crash leaves the old or the new value). At most once a second unless
 * forced. */
static void save_state(struct link_receiver *r, int64_t now_ms, bool force)
{
    if (!r->opt.state_file || r->latest_sent_ns <= r->saved_sent_ns) return;
    if (!force && now_ms - r->saved_at_ms < STATE_SAVE_INTERVAL_MS) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->opt.state_file);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "sent_ns=%lld\n", (long long)r->latest_sent_ns) > 0;
    if (f) ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, r->opt.state_file) == 0) {
        r->saved_sent_ns = r->latest_sent_ns;
    } else {
        unlink(tmp);
        if (now_ms - r->saved_at_ms >= 60000)
            log_warn("link", "cannot keep the replay state", "file=\"%s\"", r->opt.state_file);
    }
    r->saved_at_ms = now_ms;
}

/* Timers: numbers missing for longer than the reorder wait, the heartbeat
 * timeout, the loss report. */
static void check_timers(struct link_receiver *r, int64_t now)
{
    if (r->gap_since_ms && now - r->gap_since_ms >= r->opt.reorder_wait_ms) {
        link_rx_flush(&r->rx);
        r->gap_since_ms = 0;
    }
    if (r->st.state == LINK_STATE_UP &&
        now - r->last_heartbeat_ms > (int64_t)r->opt.heartbeat_timeout_ms) {
        char details[96];
        snprintf(details, sizeof details, "no heartbeat for %u ms", r->opt.heartbeat_timeout_ms);
        link_rx_flush(&r->rx);
        r->gap_since_ms = 0;
        r->mark_pending = false;
        deliver_mark(r, LINK_QUALITY_DOWN);
        set_state(r, LINK_STATE_DOWN, details);
    }
    if (r->mark_pending) deliver_mark(r, LINK_QUALITY_LOSS);
    report_loss(r, now, false);
    save_state(r, now, false);
}

static void *receiver_main(void *arg)
{
    struct link_receiver *r = arg;
    int64_t last_publish = 0, next_stats = clock_mono_ms() + r->opt.stats_interval_ms;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int ready = poll(&p, 1, IDLE_WAIT_MS / 2);
        if (ready > 0) {
            for (unsigned i = 0; i < RECV_VECTOR; i++)
                r->vec[i].msg_hdr.msg_flags = 0;
            int n = recvmmsg(r->fd, r->vec, RECV_VECTOR, MSG_DONTWAIT, NULL);
            for (int i = 0; i < n; i++)
                handle_datagram(r, r->iov[i].iov_base, r->vec[i].msg_len,
                                (r->vec[i].msg_hdr.msg_flags & MSG_TRUNC) != 0);
            deliver_batch(r);
        }
        int64_t now = clock_mono_ms();
        check_timers(r, now);
        if (now >= next_stats) {
            log_counters(r, "link receiver counters");
            next_stats = now + r->opt.stats_interval_ms;
        }
        if (now - last_publish >= PUBLISH_INTERVAL_MS || ready <= 0) {
            publish(r);
            last_publish = now;
        }
    }
    deliver_batch(r);
    link_rx_flush(&r->rx);
    report_loss(r, clock_mono_ms(), true);
    publish(r);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------ */

static int open_socket(struct link_receiver *r, char *err, size_t err_len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (!link_address_resolve(r->opt.listen, true, &addr, &addr_len, err, err_len)) return -1;
    int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errbuf_set(err, err_len, "cannot create a UDP socket: %s", strerror(errno));
        return -1;
    }
    int rcvbuf = RCVBUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        errbuf_set(err, err_len, "cannot listen on %s (UDP): %s", r->opt.listen, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        r->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static void receiver_free(struct link_receiver *r)
{
    if (r->fd >= 0) close(r->fd);
    link_decoder_clear(&r->dec);
    assembly_clear(&r->asm_);
    device_assembly_clear(&r->dev_asm);
    free(r->types);
    sample_batch_free(r->batch);
    free(r->buffers);
    pthread_mutex_destroy(&r->lock);
    OPENSSL_cleanse(r->opt.key, sizeof r->opt.key);
    free((char *)r->opt.listen);
    free((char *)r->opt.state_file);
    free(r);
}

static void apply_defaults(struct link_receiver_options *o)
{
    if (o->datagram_bytes == 0) o->datagram_bytes = LINK_DEFAULT_DATAGRAM_BYTES;
    if (o->heartbeat_timeout_ms == 0)
        o->heartbeat_timeout_ms = LINK_RECEIVER_DEFAULT_HEARTBEAT_TIMEOUT_MS;
    if (o->reorder_wait_ms == 0) o->reorder_wait_ms = LINK_RECEIVER_DEFAULT_REORDER_WAIT_MS;
    if (o->max_tags == 0) o->max_tags = LINK_RECEIVER_DEFAULT_MAX_TAGS;
    if (o->stats_interval_ms == 0) o->stats_interval_ms = LINK_RECEIVER_DEFAULT_STATS_INTERVAL_MS;
}

struct link_receiver *link_receiver_start(const struct link_receiver_options *opt, char *err,
                                          size_t err_len)
{
    struct link_receiver *r = calloc(1, sizeof *r);
    if (!r) {
        errbuf_set(err, err_len, "out of memory");
        return NULL;
    }
    r->fd = -1;
    r->opt = *opt;
    r->opt.listen = NULL;
    r->opt.state_file = NULL;
    pthread_mutex_init(&r->lock, NULL);
    apply_defaults(&r->opt);
    if (!opt->listen || !(r->opt.listen = strdup(opt->listen))) {
        errbuf_set(err, err_len, opt->listen ? "out of memory" : "no listen address");
        receiver_free(r);
        return NULL;
    }
    if (opt->state_file && !(r->opt.state_file = strdup(opt->state_file))) {
        errbuf_set(err, err_len, "out of memory");
        receiver_free(r);
        return NULL;
    }
    r->persisted_sent_ns = r->saved_sent_ns = load_state(r->opt.state_file);
    char why[256];
    if (link_decoder_init(&r->dec, r->opt.key, r->opt.link_id, r->opt.datagram_bytes, why,
                          sizeof why) != LINK_OK) {
        errbuf_set(err, err_len, "link: %s", why);
        receiver_free(r);
        return NULL;
    }
    link_rx_init(&r->rx, on_window_lost, r);
    r->buffers = malloc((size_t)RECV_VECTOR * r->opt.datagram_bytes);
    if (!r->buffers) {
        errbuf_set(err, err_len, "out of memory");
        receiver_free(r);
        return NULL;
    }
    for (unsigned i = 0; i < RECV_VECTOR; i++) {
        r->iov[i] = (struct iovec){.iov_base = r->buffers + (size_t)i * r->opt.datagram_bytes,
                                   .iov_len = r->opt.datagram_bytes};
        r->vec[i].msg_hdr.msg_iov = &r->iov[i];
        r->vec[i].msg_hdr.msg_iovlen = 1;
    }
    r->fd = open_socket(r, err, err_len);
    if (r->fd < 0) {
        receiver_free(r);
        return NULL;
    }
    r->st.link_id = r->opt.link_id;
    snprintf(r->st.listen, sizeof r->st.listen, "%s", r->opt.listen);
    r->shared = r->st;
    if (pthread_create(&r->thread, NULL, receiver_main, r) != 0) {
        errbuf_set(err, err_len, "cannot start the link receiver thread");
        receiver_free(r);
        return NULL;
    }
    log_info("link", "receiving", "listen=%s port=%u link_id=%u datagram_bytes=%zu", r->opt.listen,
             r->port, r->opt.link_id, r->opt.datagram_bytes);
    return r;
}

uint16_t link_receiver_port(const struct link_receiver *r)
{
    return r->port;
}

void link_receiver_get_status(struct link_receiver *r, struct link_receiver_status *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->shared;
    pthread_mutex_unlock(&r->lock);
}

void link_receiver_stop(struct link_receiver *r)
{
    if (!r) return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    save_state(r, clock_mono_ms(), true);
    log_counters(r, "link receiver stopped");
    receiver_free(r);
}
