/* OPC UA subscription services (see ua_services.h): CreateSubscription,
 * CreateMonitoredItems, DeleteSubscriptions, Publish and Republish. The
 * Publish decoder is on the hot path of every value airlock receives: it
 * allocates one arena array for all the values of a message and nothing
 * else per value. */
#include "drivers/opcua/ua_services.h"

#include "drivers/opcua/ua_services_internal.h"

/* Fewest wire bytes (for array counts). */
#define MONITORED_ITEM_CREATE_RESULT_MIN_BYTES 23 /* 4 + 4 + 8 + 4 + null ExtensionObject 3 */
#define MONITORED_ITEM_NOTIFICATION_MIN_BYTES 5   /* client handle + DataValue mask */
#define EXTENSION_OBJECT_MIN_BYTES 3              /* two-byte NodeId + encoding byte */

/* ------------------------------------------------------ subscription */

bool ua_encode_create_subscription_request(struct ua_writer *w, const struct ua_request_header *h,
                                           const struct ua_create_subscription_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_REQUEST, h);
    ua_write_double(w, req->requested_publishing_interval_ms);
    ua_write_u32(w, req->requested_lifetime_count);
    ua_write_u32(w, req->requested_max_keep_alive_count);
    ua_write_u32(w, req->max_notifications_per_publish);
    ua_write_bool(w, req->publishing_enabled);
    return ua_write_u8(w, req->priority);
}

uint32_t ua_decode_create_subscription_response(struct ua_reader *r, struct ua_arena *a,
                                                struct ua_create_subscription_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    out->subscription_id = ua_read_u32(r);
    out->revised_publishing_interval_ms = ua_read_double(r);
    out->revised_lifetime_count = ua_read_u32(r);
    out->revised_max_keep_alive_count = ua_read_u32(r);
    return ua_svc_decode_end(r);
}

bool ua_encode_delete_subscriptions_request(struct ua_writer *w, const struct ua_request_header *h,
                                            const struct ua_delete_subscriptions_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_REQUEST, h);
    if (!ua_svc_encode_count(w, req->subscription_ids_count, req->subscription_ids)) return false;
    for (size_t i = 0; i < req->subscription_ids_count; i++)
        ua_write_u32(w, req->subscription_ids[i]);
    return ua_writer_ok(w);
}

/* ----------------------------------------------------- monitored items */

static bool encode_monitored_item(struct ua_writer *w,
                                  const struct ua_monitored_item_create_request *m)
{
    ua_svc_encode_read_value_id(w, &m->item_to_monitor);
    ua_write_i32(w, m->monitoring_mode);
    /* MonitoringParameters */
    ua_write_u32(w, m->client_handle);
    ua_write_double(w, m->sampling_interval_ms);
    if (m->has_filter) {
        size_t len_at = ua_svc_encode_extension_begin(w, UA_DEFAULT_BINARY_DATA_CHANGE_FILTER);
        ua_write_i32(w, m->filter.trigger);
        ua_write_u32(w, m->filter.deadband_type);
        ua_write_double(w, m->filter.deadband_value);
        ua_svc_encode_extension_end(w, len_at);
    } else {
        struct ua_extension_object none = {0};
        ua_encode_extension_object(w, &none);
    }
    ua_write_u32(w, m->queue_size);
    return ua_write_bool(w, m->discard_oldest);
}

bool ua_encode_create_monitored_items_request(struct ua_writer *w,
                                              const struct ua_request_header *h,
                                              const struct ua_create_monitored_items_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_REQUEST, h);
    ua_write_u32(w, req->subscription_id);
    ua_write_i32(w, req->timestamps_to_return);
    if (!ua_svc_encode_count(w, req->items_count, req->items)) return false;
    for (size_t i = 0; i < req->items_count; i++)
        encode_monitored_item(w, &req->items[i]);
    return ua_writer_ok(w);
}

uint32_t ua_decode_create_monitored_items_response(struct ua_reader *r, struct ua_arena *a,
                                                   struct ua_create_monitored_items_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    if (!ua_svc_decode_array_alloc(r, a, MONITORED_ITEM_CREATE_RESULT_MIN_BYTES,
                                   sizeof *out->results, &out->results_count,
                                   (void **)&out->results))
        return ua_svc_decode_end(r);
    for (size_t i = 0; i < out->results_count && !r->failed; i++) {
        struct ua_monitored_item_create_result *m = &out->results[i];
        m->status = ua_read_u32(r);
        m->monitored_item_id = ua_read_u32(r);
        m->revised_sampling_interval_ms = ua_read_double(r);
        m->revised_queue_size = ua_read_u32(r);
        ua_decode_extension_object(r, &m->filter_result);
    }
    if (!r->failed) ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

/* ------------------------------------------------------------- publish */

bool ua_encode_publish_request(struct ua_writer *w, const struct ua_request_header *h,
                               const struct ua_publish_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_PUBLISH_REQUEST, h);
    if (!ua_svc_encode_count(w, req->acknowledgements_count, req->acknowledgements)) return false;
    for (size_t i = 0; i < req->acknowledgements_count; i++) {
        ua_write_u32(w, req->acknowledgements[i].subscription_id);
        ua_write_u32(w, req->acknowledgements[i].sequence_number);
    }
    return ua_writer_ok(w);
}

bool ua_encode_republish_request(struct ua_writer *w, const struct ua_request_header *h,
                                 const struct ua_republish_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_REPUBLISH_REQUEST, h);
    ua_write_u32(w, req->subscription_id);
    return ua_write_u32(w, req->retransmit_sequence_number);
}

/* The MonitoredItems count at the start of a DataChangeNotification body
 * (null counts as 0); fails r (at the body) when it is negative or larger
 * than the body can hold. */
static bool data_change_count(struct ua_reader *r, const struct ua_extension_object *e,
                              size_t *count)
{
    struct ua_reader body;
    int32_t n;
    *count = 0;
    ua_svc_body_reader(r, e->body, &body);
    if (!ua_decode_array_count(&body, MONITORED_ITEM_NOTIFICATION_MIN_BYTES, &n))
        return ua_svc_body_failed(r, &body);
    *count = n > 0 ? (size_t)n : 0;
    return true;
}

/* Decodes a DataChangeNotification body's items into values[0..count)
 * (count from data_change_count) and reads its DiagnosticInfos. */
static bool decode_data_change(struct ua_reader *r, struct ua_arena *a,
                               const struct ua_extension_object *e,
                               struct ua_monitored_item_value *values)
{
    struct ua_reader body;
    int32_t n;
    ua_svc_body_reader(r, e->body, &body);
    ua_decode_array_count(&body, MONITORED_ITEM_NOTIFICATION_MIN_BYTES, &n);
    for (int32_t i = 0; i < n && !body.failed; i++) {
        values[i].client_handle = ua_read_u32(&body);
        ua_decode_datavalue(&body, a, &values[i].value);
    }
    if (!body.failed) ua_svc_skip_diagnostic_infos(&body, a);
    if (body.failed) return ua_svc_body_failed(r, &body);
    return true;
}

/* StatusChangeNotification: Status, DiagnosticInfo. */
static bool decode_status_change(struct ua_reader *r, struct ua_arena *a,
                                 const struct ua_extension_object *e, uint32_t *status)
{
    struct ua_reader body;
    struct ua_diagnostic_info diag;
    ua_svc_body_reader(r, e->body, &body);
    *status = ua_read_u32(&body);
    ua_decode_diagnostic_info(&body, a, &diag);
    if (body.failed) return ua_svc_body_failed(r, &body);
    return true;
}

/* NotificationMessage. The NotificationData array is read twice: once to
 * count the values of all DataChangeNotifications (so they get one arena
 * array), once to decode them. ExtensionObject bodies are zero-copy, so
 * the first pass only walks headers. */
static bool decode_notification_message(struct ua_reader *r, struct ua_arena *a,
                                        struct ua_notification_message *m)
{
    m->sequence_number = ua_read_u32(r);
    m->publish_time = ua_read_i64(r);
    int32_t n;
    if (!ua_decode_array_count(r, EXTENSION_OBJECT_MIN_BYTES, &n)) return false;
    if (n <= 0) return true;
    m->notification_data_count = (size_t)n;

    size_t data_start = r->pos, total = 0;
    struct ua_extension_object e;
    for (int32_t i = 0; i < n; i++) {
        if (!ua_decode_extension_object(r, &e)) return false;
        if (!ua_svc_extension_is(&e, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION)) continue;
        size_t count = 0;
        if (!data_change_count(r, &e, &count)) return false;
        total += count; /* each count <= body bytes / 5: cannot overflow */
    }
    if (total > 0) {
        m->values = ua_arena_alloc_array(a, total, sizeof *m->values);
        if (!m->values) return ua_reader_fail_at(r, data_start, UA_SVC_ARENA_REASON);
    }

    r->pos = data_start;
    for (int32_t i = 0; i < n; i++) {
        ua_decode_extension_object(r, &e);
        if (ua_svc_extension_is(&e, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION)) {
            size_t count = 0;
            data_change_count(r, &e, &count);
            if (count && !decode_data_change(r, a, &e, m->values + m->values_count)) return false;
            m->values_count += count;
        } else if (ua_svc_extension_is(&e, UA_DEFAULT_BINARY_STATUS_CHANGE_NOTIFICATION)) {
            if (!decode_status_change(r, a, &e, &m->status_change)) return false;
            m->has_status_change = true;
        } else if (ua_svc_extension_is(&e, UA_DEFAULT_BINARY_EVENT_NOTIFICATION_LIST)) {
            m->events_skipped++;
        } else {
            m->unknown_skipped++;
        }
    }
    return !r->failed;
}

uint32_t ua_decode_publish_response(struct ua_reader *r, struct ua_arena *a,
                                    struct ua_publish_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_PUBLISH_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    out->subscription_id = ua_read_u32(r);
    if (!ua_svc_decode_u32_array(r, a, &out->available_sequence_numbers_count,
                                 &out->available_sequence_numbers))
        return ua_svc_decode_end(r);
    out->more_notifications = ua_read_bool(r);
    if (!decode_notification_message(r, a, &out->message)) return ua_svc_decode_end(r);
    if (ua_svc_decode_u32_array(r, a, &out->results_count, &out->results))
        ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

uint32_t ua_decode_republish_response(struct ua_reader *r, struct ua_arena *a,
                                      struct ua_republish_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_REPUBLISH_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    decode_notification_message(r, a, &out->message);
    return ua_svc_decode_end(r);
}
