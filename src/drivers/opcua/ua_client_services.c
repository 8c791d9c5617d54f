/* The OPC UA client's services on an active session: Read, Browse with
 * BrowseNext, TranslateBrowsePathsToNodeIds, Write, subscriptions and the
 * Publish responses, and ua_client_poll. Large calls are split into
 * requests within the server's operation limits. See ua_client.h. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "drivers/opcua/ua_client_internal.h"

/* Most BrowseNext rounds for one Browse request (a server that keeps
 * answering with continuation points would otherwise loop for ever). */
#define UA_CLIENT_MAX_BROWSE_NEXT_ROUNDS 10000u

/* Starts a public call: the session must be usable; call memory is reset. */
static bool begin_call(struct ua_client *c, const char *step, struct ua_client_error *err)
{
    if (err) memset(err, 0, sizeof *err);
    c->step = step;
    ua_client_mem_reset(&c->mem);
    if (!c->connected || c->broken)
        return ua_client_fail(c, err, UA_STATUS_BAD_SERVER_NOT_CONNECTED, true,
                              c->broken ? "the connection failed: reconnect first"
                                        : "not connected");
    return true;
}

/* Nodes per request: our limit, lowered to the server's when it has one. */
static size_t per_call(const struct ua_client *c, uint32_t server_limit)
{
    size_t n = c->opts.max_nodes_per_call;
    if (server_limit && server_limit < n) n = server_limit;
    return n ? n : 1;
}

static bool out_of_memory(struct ua_client *c, struct ua_client_error *err)
{
    return ua_client_fail(c, err, UA_STATUS_BAD_OUT_OF_MEMORY, false,
                          "the results do not fit the client's memory limit");
}

static bool count_mismatch(struct ua_client *c, struct ua_client_error *err, size_t got,
                           size_t want)
{
    return ua_client_fail(c, err, UA_STATUS_BAD_UNKNOWN_RESPONSE, false,
                          "the server returned %zu results for %zu operations", got, want);
}

/* True when a failed request should be retried in halves. */
static bool too_large(const struct ua_client_error *e)
{
    uint32_t code = e->status & 0xFFFF0000u;
    return !e->reconnect &&
           (code == UA_STATUS_BAD_RESPONSE_TOO_LARGE || code == UA_STATUS_BAD_REQUEST_TOO_LARGE ||
            code == UA_STATUS_BAD_TOO_MANY_OPERATIONS ||
            code == UA_STATUS_BAD_TCP_MESSAGE_TOO_LARGE ||
            code == UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED);
}

/* -------------------------------------------------------------------- Read */

bool ua_client_read(struct ua_client *c, const struct ua_read_value_id *nodes, size_t count,
                    enum ua_timestamps_to_return timestamps, double max_age_ms,
                    struct ua_datavalue **results, struct ua_client_error *err)
{
    *results = NULL;
    if (!begin_call(c, "Read", err)) return false;
    if (count == 0) return true;
    struct ua_datavalue *all = ua_arena_alloc_array(&c->mem.arena, count, sizeof *all);
    if (!all) return out_of_memory(c, err);
    size_t batch = per_call(c, c->info.max_nodes_per_read);
    for (size_t i = 0; i < count;) {
        size_t n = count - i < batch ? count - i : batch;
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_read_request req = {.max_age_ms = max_age_ms,
                                      .timestamps_to_return = (int32_t)timestamps,
                                      .nodes_count = n,
                                      .nodes = nodes + i};
        ua_writer_reset(&c->body);
        ua_encode_read_request(&c->body, &h, &req);
        struct ua_reader r;
        struct ua_client_error e;
        memset(&e, 0, sizeof e);
        bool ok = ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, &e);
        struct ua_read_response resp;
        memset(&resp, 0, sizeof resp);
        if (ok) {
            uint32_t st = ua_decode_read_response(&r, &c->mem.arena, &resp);
            if (st != UA_STATUS_GOOD)
                ok = ua_client_fail_response(c, &e, &r, st, &resp.header, "ReadResponse");
        }
        if (!ok) {
            if (too_large(&e) && n > 1) {
                batch = n / 2;
                continue;
            }
            if (err) *err = e;
            return false;
        }
        if (resp.results_count != n) return count_mismatch(c, err, resp.results_count, n);
        memcpy(all + i, resp.results, n * sizeof *all);
        i += n;
    }
    *results = all;
    return true;
}

bool ua_client_read_value(struct ua_client *c, const struct ua_nodeid *node,
                          struct ua_datavalue **result, struct ua_client_error *err)
{
    struct ua_read_value_id id;
    memset(&id, 0, sizeof id);
    id.node_id = *node;
    id.attribute_id = UA_ATTRIBUTE_VALUE;
    id.index_range = UA_STRING_NULL;
    id.data_encoding.name = UA_STRING_NULL;
    return ua_client_read(c, &id, 1, UA_TIMESTAMPS_BOTH, 0, result, err);
}

/* ------------------------------------------------------------------ Browse */

static bool append_references(struct ua_client *c, struct ua_browse_result *dst,
                              const struct ua_browse_result *more)
{
    if (more->references_count == 0) return true;
    size_t total = dst->references_count + more->references_count;
    struct ua_reference_description *refs =
        ua_arena_alloc_array(&c->mem.arena, total, sizeof *refs);
    if (!refs) return false;
    if (dst->references_count) memcpy(refs, dst->references, dst->references_count * sizeof *refs);
    memcpy(refs + dst->references_count, more->references, more->references_count * sizeof *refs);
    dst->references = refs;
    dst->references_count = total;
    return true;
}

static bool has_continuation(const struct ua_browse_result *r)
{
    return r->continuation_point.length > 0;
}

/* BrowseNext with release=true for the continuation points still held. */
static void release_continuations(struct ua_client *c, struct ua_browse_result *res, size_t n)
{
    struct ua_string cps[64];
    size_t k = 0;
    for (size_t j = 0; j < n && k < 64; j++)
        if (has_continuation(&res[j])) cps[k++] = res[j].continuation_point;
    if (!k || c->broken) return;
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    struct ua_browse_next_request req = {.release_continuation_points = true,
                                         .continuation_points_count = k,
                                         .continuation_points = cps};
    ua_writer_reset(&c->body);
    ua_encode_browse_next_request(&c->body, &h, &req);
    struct ua_reader r;
    struct ua_client_error e;
    ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, &e);
}

/* Follows the continuation points of res[0..n) until every result is
 * complete. */
static bool browse_next_all(struct ua_client *c, struct ua_browse_result *res, size_t n,
                            struct ua_client_error *err)
{
    size_t *idx = ua_arena_alloc_array(&c->mem.arena, n, sizeof *idx);
    struct ua_string *cps = ua_arena_alloc_array(&c->mem.arena, n, sizeof *cps);
    if (!idx || !cps) return out_of_memory(c, err);
    for (unsigned round = 0;; round++) {
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (has_continuation(&res[j])) {
                idx[k] = j;
                cps[k++] = res[j].continuation_point;
            }
        if (k == 0) return true;
        if (round >= UA_CLIENT_MAX_BROWSE_NEXT_ROUNDS) {
            release_continuations(c, res, n);
            return ua_client_fail(c, err, UA_STATUS_BAD_UNEXPECTED_ERROR, false,
                                  "the server still had continuation points after %u BrowseNext "
                                  "calls",
                                  UA_CLIENT_MAX_BROWSE_NEXT_ROUNDS);
        }
        c->step = "BrowseNext";
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_browse_next_request req = {.release_continuation_points = false,
                                             .continuation_points_count = k,
                                             .continuation_points = cps};
        ua_writer_reset(&c->body);
        ua_encode_browse_next_request(&c->body, &h, &req);
        struct ua_reader r;
        if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) {
            if (err && !err->reconnect) release_continuations(c, res, n);
            return false;
        }
        struct ua_browse_response resp;
        memset(&resp, 0, sizeof resp);
        uint32_t st = ua_decode_browse_next_response(&r, &c->mem.arena, &resp);
        if (st != UA_STATUS_GOOD)
            return ua_client_fail_response(c, err, &r, st, &resp.header, "BrowseNextResponse");
        if (resp.results_count != k) return count_mismatch(c, err, resp.results_count, k);
        for (size_t m = 0; m < k; m++) {
            struct ua_browse_result *dst = &res[idx[m]];
            const struct ua_browse_result *more = &resp.results[m];
            if (!append_references(c, dst, more)) return out_of_memory(c, err);
            dst->continuation_point = more->continuation_point;
            if (ua_status_is_bad(more->status)) {
                dst->status = more->status;
                dst->continuation_point = UA_STRING_NULL;
            }
        }
    }
}

bool ua_client_browse(struct ua_client *c, const struct ua_browse_description *nodes, size_t count,
                      uint32_t max_references_per_node, struct ua_browse_result **results,
                      struct ua_client_error *err)
{
    *results = NULL;
    if (!begin_call(c, "Browse", err)) return false;
    if (count == 0) return true;
    struct ua_browse_result *all = ua_arena_alloc_array(&c->mem.arena, count, sizeof *all);
    if (!all) return out_of_memory(c, err);
    size_t batch = per_call(c, c->info.max_nodes_per_browse);
    for (size_t i = 0; i < count;) {
        size_t n = count - i < batch ? count - i : batch;
        c->step = "Browse";
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_browse_request req;
        memset(&req, 0, sizeof req);
        req.requested_max_references_per_node = max_references_per_node;
        req.nodes_count = n;
        req.nodes = nodes + i;
        ua_writer_reset(&c->body);
        ua_encode_browse_request(&c->body, &h, &req);
        struct ua_reader r;
        if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
        struct ua_browse_response resp;
        memset(&resp, 0, sizeof resp);
        uint32_t st = ua_decode_browse_response(&r, &c->mem.arena, &resp);
        if (st != UA_STATUS_GOOD)
            return ua_client_fail_response(c, err, &r, st, &resp.header, "BrowseResponse");
        if (resp.results_count != n) return count_mismatch(c, err, resp.results_count, n);
        memcpy(all + i, resp.results, n * sizeof *all);
        if (!browse_next_all(c, all + i, n, err)) return false;
        i += n;
    }
    *results = all;
    return true;
}

/* ------------------------------------------------------- TranslateBrowsePaths */

bool ua_client_translate_browse_paths(struct ua_client *c, const struct ua_browse_path *paths,
                                      size_t count, struct ua_browse_path_result **results,
                                      struct ua_client_error *err)
{
    *results = NULL;
    if (!begin_call(c, "TranslateBrowsePathsToNodeIds", err)) return false;
    if (count == 0) return true;
    struct ua_browse_path_result *all = ua_arena_alloc_array(&c->mem.arena, count, sizeof *all);
    if (!all) return out_of_memory(c, err);
    size_t batch = per_call(c, c->info.max_nodes_per_translate);
    for (size_t i = 0; i < count;) {
        size_t n = count - i < batch ? count - i : batch;
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_translate_browse_paths_request req = {.browse_paths_count = n,
                                                        .browse_paths = paths + i};
        ua_writer_reset(&c->body);
        ua_encode_translate_browse_paths_request(&c->body, &h, &req);
        struct ua_reader r;
        if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
        struct ua_translate_browse_paths_response resp;
        memset(&resp, 0, sizeof resp);
        uint32_t st = ua_decode_translate_browse_paths_response(&r, &c->mem.arena, &resp);
        if (st != UA_STATUS_GOOD)
            return ua_client_fail_response(c, err, &r, st, &resp.header,
                                           "TranslateBrowsePathsToNodeIdsResponse");
        if (resp.results_count != n) return count_mismatch(c, err, resp.results_count, n);
        memcpy(all + i, resp.results, n * sizeof *all);
        i += n;
    }
    *results = all;
    return true;
}

/* ------------------------------------------------------------------- Write */

bool ua_client_write(struct ua_client *c, const struct ua_write_value *nodes, size_t count,
                     uint32_t **results, struct ua_client_error *err)
{
    *results = NULL;
    if (!begin_call(c, "Write", err)) return false;
    if (count == 0) return true;
    uint32_t *all = ua_arena_alloc_array(&c->mem.arena, count, sizeof *all);
    if (!all) return out_of_memory(c, err);
    size_t batch = per_call(c, c->info.max_nodes_per_write);
    for (size_t i = 0; i < count;) {
        size_t n = count - i < batch ? count - i : batch;
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_write_request req = {.nodes_count = n, .nodes = nodes + i};
        ua_writer_reset(&c->body);
        ua_encode_write_request(&c->body, &h, &req);
        struct ua_reader r;
        if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
        struct ua_status_list_response resp;
        memset(&resp, 0, sizeof resp);
        uint32_t st = ua_decode_write_response(&r, &c->mem.arena, &resp);
        if (st != UA_STATUS_GOOD)
            return ua_client_fail_response(c, err, &r, st, &resp.header, "WriteResponse");
        if (resp.results_count != n) return count_mismatch(c, err, resp.results_count, n);
        memcpy(all + i, resp.results, n * sizeof *all);
        i += n;
    }
    *results = all;
    return true;
}

/* ----------------------------------------------------------- subscriptions */

struct ua_client_sub *ua_client_find_sub(struct ua_client *c, uint32_t subscription_id)
{
    for (size_t i = 0; i < c->subs_count; i++)
        if (c->subs[i].s.subscription_id == subscription_id) return &c->subs[i];
    return NULL;
}

void ua_client_forget_sub(struct ua_client *c, uint32_t subscription_id)
{
    for (size_t i = 0; i < c->subs_count; i++)
        if (c->subs[i].s.subscription_id == subscription_id) {
            c->subs[i] = c->subs[c->subs_count - 1];
            c->subs_count--;
            return;
        }
}

bool ua_client_create_subscription(struct ua_client *c,
                                   const struct ua_client_subscription_params *params,
                                   struct ua_client_subscription *out, struct ua_client_error *err)
{
    if (!begin_call(c, "CreateSubscription", err)) return false;
    struct ua_client_subscription_params p;
    memset(&p, 0, sizeof p);
    if (params) p = *params;
    if (!(p.publishing_interval_ms > 0)) p.publishing_interval_ms = 1000;
    if (!p.max_keep_alive_count) p.max_keep_alive_count = 10;
    if (!p.lifetime_count) p.lifetime_count = 6 * p.max_keep_alive_count;
    if (p.lifetime_count < 3 * p.max_keep_alive_count)
        p.lifetime_count = 3 * p.max_keep_alive_count;
    if (c->subs_count == c->subs_cap) {
        size_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
        struct ua_client_sub *s = realloc(c->subs, cap * sizeof *s);
        if (!s) return out_of_memory(c, err);
        c->subs = s;
        c->subs_cap = cap;
    }
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    struct ua_create_subscription_request req = {
        .requested_publishing_interval_ms = p.publishing_interval_ms,
        .requested_lifetime_count = p.lifetime_count,
        .requested_max_keep_alive_count = p.max_keep_alive_count,
        .max_notifications_per_publish = p.max_notifications_per_publish,
        .publishing_enabled = true,
        .priority = p.priority,
    };
    ua_writer_reset(&c->body);
    ua_encode_create_subscription_request(&c->body, &h, &req);
    struct ua_reader r;
    if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
    struct ua_create_subscription_response resp;
    memset(&resp, 0, sizeof resp);
    uint32_t st = ua_decode_create_subscription_response(&r, &c->mem.arena, &resp);
    if (st != UA_STATUS_GOOD)
        return ua_client_fail_response(c, err, &r, st, &resp.header, "CreateSubscriptionResponse");
    struct ua_client_sub *s = &c->subs[c->subs_count++];
    memset(s, 0, sizeof *s);
    s->s.subscription_id = resp.subscription_id;
    s->s.publishing_interval_ms = resp.revised_publishing_interval_ms > 0
                                      ? resp.revised_publishing_interval_ms
                                      : p.publishing_interval_ms;
    s->s.lifetime_count = resp.revised_lifetime_count;
    s->s.max_keep_alive_count =
        resp.revised_max_keep_alive_count ? resp.revised_max_keep_alive_count : 1;
    s->last_seen_ms = clock_mono_ms();
    /* Publish requests left from before count from now (the server kept
     * them while it had no subscription). */
    for (unsigned i = 0; i < c->publishes_count; i++)
        c->publishes[i].sent_ms = s->last_seen_ms;
    if (out) *out = s->s;
    return ua_client_service_timers(c, err);
}

bool ua_client_create_monitored_items(struct ua_client *c, uint32_t subscription_id,
                                      enum ua_timestamps_to_return timestamps,
                                      const struct ua_monitored_item_create_request *items,
                                      size_t count,
                                      struct ua_monitored_item_create_result **results,
                                      struct ua_client_error *err)
{
    *results = NULL;
    if (!begin_call(c, "CreateMonitoredItems", err)) return false;
    if (count == 0) return true;
    struct ua_monitored_item_create_result *all =
        ua_arena_alloc_array(&c->mem.arena, count, sizeof *all);
    if (!all) return out_of_memory(c, err);
    size_t batch = per_call(c, c->info.max_monitored_items_per_call);
    for (size_t i = 0; i < count;) {
        size_t n = count - i < batch ? count - i : batch;
        struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
        struct ua_create_monitored_items_request req = {
            .subscription_id = subscription_id,
            .timestamps_to_return = (int32_t)timestamps,
            .items_count = n,
            .items = items + i,
        };
        ua_writer_reset(&c->body);
        ua_encode_create_monitored_items_request(&c->body, &h, &req);
        struct ua_reader r;
        if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
        struct ua_create_monitored_items_response resp;
        memset(&resp, 0, sizeof resp);
        uint32_t st = ua_decode_create_monitored_items_response(&r, &c->mem.arena, &resp);
        if (st != UA_STATUS_GOOD)
            return ua_client_fail_response(c, err, &r, st, &resp.header,
                                           "CreateMonitoredItemsResponse");
        if (resp.results_count != n) return count_mismatch(c, err, resp.results_count, n);
        memcpy(all + i, resp.results, n * sizeof *all);
        i += n;
    }
    *results = all;
    return true;
}

bool ua_client_delete_subscription(struct ua_client *c, uint32_t subscription_id,
                                   struct ua_client_error *err)
{
    if (!begin_call(c, "DeleteSubscriptions", err)) return false;
    ua_client_forget_sub(c, subscription_id);
    struct ua_request_header h = ua_client_header(c, c->opts.request_timeout_ms);
    struct ua_delete_subscriptions_request req = {.subscription_ids_count = 1,
                                                  .subscription_ids = &subscription_id};
    ua_writer_reset(&c->body);
    ua_encode_delete_subscriptions_request(&c->body, &h, &req);
    struct ua_reader r;
    if (!ua_client_call(c, UA_TCP_MSG, &h, c->opts.request_timeout_ms, &r, err)) return false;
    struct ua_status_list_response resp;
    memset(&resp, 0, sizeof resp);
    uint32_t st = ua_decode_delete_subscriptions_response(&r, &c->mem.arena, &resp);
    if (st != UA_STATUS_GOOD)
        return ua_client_fail_response(c, err, &r, st, &resp.header, "DeleteSubscriptionsResponse");
    if (resp.results_count == 1 && ua_status_is_bad(resp.results[0]) &&
        (resp.results[0] & 0xFFFF0000u) != UA_STATUS_BAD_SUBSCRIPTION_ID_INVALID) {
        char s[64];
        return ua_client_fail(c, err, resp.results[0], false, "subscription %u: %s",
                              (unsigned)subscription_id,
                              ua_status_format(resp.results[0], s, sizeof s));
    }
    return true;
}

/* ----------------------------------------------------------------- Publish */

static void add_ack(struct ua_client *c, uint32_t subscription_id, uint32_t sequence_number)
{
    if (c->acks_count == UA_CLIENT_MAX_PENDING_ACKS) {
        /* The oldest is dropped: the server keeps it until its queue
         * overflows, which costs it memory but loses us nothing. */
        memmove(c->acks, c->acks + 1, (UA_CLIENT_MAX_PENDING_ACKS - 1) * sizeof c->acks[0]);
        c->acks_count--;
    }
    c->acks[c->acks_count++] = (struct ua_subscription_acknowledgement){
        .subscription_id = subscription_id, .sequence_number = sequence_number};
}

bool ua_client_on_publish(struct ua_client *c, const uint8_t *body, size_t len,
                          struct ua_client_error *err)
{
    ua_arena_reset(&c->publish_arena);
    struct ua_reader r;
    ua_reader_init(&r, body, len);
    struct ua_publish_response resp;
    memset(&resp, 0, sizeof resp);
    uint32_t st = ua_decode_publish_response(&r, &c->publish_arena, &resp);
    if (st != UA_STATUS_GOOD) {
        switch (st & 0xFFFF0000u) {
        case UA_STATUS_BAD_TOO_MANY_PUBLISH_REQUESTS:
            /* The server holds fewer: keep what it holds now. */
            c->publish_target = c->publishes_count ? c->publishes_count : 1;
            return true;
        case UA_STATUS_BAD_NO_SUBSCRIPTION:
        case UA_STATUS_BAD_TIMEOUT:
        case UA_STATUS_BAD_REQUEST_TIMEOUT:
        case UA_STATUS_BAD_SUBSCRIPTION_ID_INVALID:
            return true; /* sent again by the timers while subscriptions exist */
        default: {
            const char *saved = c->step;
            c->step = "Publish";
            ua_client_fail_response(c, err, &r, st, &resp.header, "PublishResponse");
            c->step = saved;
            return false;
        }
        }
    }
    struct ua_client_sub *sub = ua_client_find_sub(c, resp.subscription_id);
    if (!sub) return true; /* deleted meanwhile */
    sub->last_seen_ms = clock_mono_ms();
    const struct ua_notification_message *m = &resp.message;
    const struct ua_client_handlers *hd = &c->opts.handlers;
    uint32_t id = resp.subscription_id;
    if (m->notification_data_count == 0) {
        if (hd->keep_alive) hd->keep_alive(hd->ctx, id, m->publish_time);
        return true;
    }
    add_ack(c, id, m->sequence_number);
    if (m->values_count && hd->data_change)
        hd->data_change(hd->ctx, id, m->values, m->values_count, m->publish_time);
    if (m->has_status_change) {
        if (hd->status_change) hd->status_change(hd->ctx, id, m->status_change);
        if (ua_status_is_bad(m->status_change)) ua_client_forget_sub(c, id);
    }
    return true;
}

bool ua_client_poll(struct ua_client *c, uint32_t timeout_ms, struct ua_client_error *err)
{
    if (!begin_call(c, "poll", err)) return false;
    return ua_client_pump_until(c, clock_mono_ms() + timeout_ms, err);
}
