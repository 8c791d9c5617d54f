/* libFuzzer target for the OPC UA service response decoders
 * (drivers/opcua/ua_services.h). Every response decoder reads the input as
 * a whole message body; then the decoder picked by the first byte reads the
 * rest of the input with that response's type NodeId put in front (so the
 * fuzzer reaches the structures without having to find the type ids), and
 * the EUInformation / Range helpers read the input as an ExtensionObject
 * body. Invariants (any violation aborts): the result is Good, a Bad
 * ServiceResult with the reader not failed, or a failure status with a
 * reason at an offset inside the input; the nesting depth is back to 0; the
 * arena never passes its limit; a decoded Publish never holds more values
 * than the input could encode, and its values re-encode into a
 * PublishResponse that decodes to equal values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/opcua/ua_services.h"

#define ARENA_LIMIT (8u * 1024u * 1024u)
#define WRITER_LIMIT (64u * 1024u * 1024u)

static void check(int cond)
{
    if (!cond) abort();
}

union any_response {
    struct ua_response_header header;
    struct ua_open_secure_channel_response open_secure_channel;
    struct ua_get_endpoints_response get_endpoints;
    struct ua_create_session_response create_session;
    struct ua_activate_session_response activate_session;
    struct ua_browse_response browse;
    struct ua_translate_browse_paths_response translate;
    struct ua_read_response read;
    struct ua_status_list_response status_list;
    struct ua_create_subscription_response create_subscription;
    struct ua_create_monitored_items_response create_monitored_items;
    struct ua_publish_response publish;
    struct ua_republish_response republish;
};

typedef uint32_t (*decode_fn)(struct ua_reader *, struct ua_arena *, void *);

#define WRAP(name, type)                                                                           \
    static uint32_t dec_##name(struct ua_reader *r, struct ua_arena *a, void *out)                 \
    {                                                                                              \
        return ua_decode_##name##_response(r, a, (type *)out);                                     \
    }
WRAP(open_secure_channel, struct ua_open_secure_channel_response)
WRAP(get_endpoints, struct ua_get_endpoints_response)
WRAP(create_session, struct ua_create_session_response)
WRAP(activate_session, struct ua_activate_session_response)
WRAP(close_session, struct ua_response_header)
WRAP(browse, struct ua_browse_response)
WRAP(browse_next, struct ua_browse_response)
WRAP(translate_browse_paths, struct ua_translate_browse_paths_response)
WRAP(read, struct ua_read_response)
WRAP(write, struct ua_status_list_response)
WRAP(create_subscription, struct ua_create_subscription_response)
WRAP(create_monitored_items, struct ua_create_monitored_items_response)
WRAP(delete_subscriptions, struct ua_status_list_response)
WRAP(publish, struct ua_publish_response)
WRAP(republish, struct ua_republish_response)

static uint32_t dec_any_header(struct ua_reader *r, struct ua_arena *a, void *out)
{
    uint32_t type_id;
    return ua_decode_any_response_header(r, a, &type_id, out);
}

static const struct {
    uint32_t type_id;
    decode_fn decode;
} decoders[] = {
    {UA_DEFAULT_BINARY_PUBLISH_RESPONSE, dec_publish},
    {UA_DEFAULT_BINARY_READ_RESPONSE, dec_read},
    {UA_DEFAULT_BINARY_BROWSE_RESPONSE, dec_browse},
    {UA_DEFAULT_BINARY_CREATE_SESSION_RESPONSE, dec_create_session},
    {UA_DEFAULT_BINARY_GET_ENDPOINTS_RESPONSE, dec_get_endpoints},
    {UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_RESPONSE, dec_create_monitored_items},
    {UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_RESPONSE, dec_translate_browse_paths},
    {UA_DEFAULT_BINARY_REPUBLISH_RESPONSE, dec_republish},
    {UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_RESPONSE, dec_open_secure_channel},
    {UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE, dec_activate_session},
    {UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE, dec_close_session},
    {UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE, dec_browse_next},
    {UA_DEFAULT_BINARY_WRITE_RESPONSE, dec_write},
    {UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE, dec_create_subscription},
    {UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE, dec_delete_subscriptions},
    {UA_DEFAULT_BINARY_SERVICE_FAULT, dec_any_header},
};
#define DECODERS_COUNT (sizeof decoders / sizeof decoders[0])

/* Re-encodes a decoded Publish's values as a PublishResponse holding one
 * DataChangeNotification, decodes it and compares. Values the encoder
 * refuses (reserved Variant type ids) end the check quietly. */
static void check_publish_round_trip(const struct ua_publish_response *p)
{
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    struct ua_nodeid id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_PUBLISH_RESPONSE);
    ua_encode_nodeid(&w, &id);
    ua_write_i64(&w, 0);
    ua_write_u32(&w, 1);
    ua_write_u32(&w, 0);
    ua_write_u8(&w, 0);
    ua_write_i32(&w, -1);
    ua_write_u8(&w, 0), ua_write_u8(&w, 0), ua_write_u8(&w, 0);
    ua_write_u32(&w, p->subscription_id);
    ua_write_i32(&w, 0);
    ua_write_bool(&w, false);
    ua_write_u32(&w, p->message.sequence_number);
    ua_write_i64(&w, p->message.publish_time);
    ua_write_i32(&w, 1);
    id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION);
    ua_encode_nodeid(&w, &id);
    ua_write_u8(&w, 1);
    size_t len_at = ua_write_reserve(&w, 4);
    ua_write_i32(&w, (int32_t)p->message.values_count);
    for (size_t i = 0; i < p->message.values_count; i++) {
        ua_write_u32(&w, p->message.values[i].client_handle);
        ua_encode_datavalue(&w, &p->message.values[i].value);
    }
    ua_write_i32(&w, 0);
    if (ua_writer_ok(&w)) ua_write_patch_u32(&w, len_at, (uint32_t)(w.len - len_at - 4));
    ua_write_i32(&w, 0);
    ua_write_i32(&w, 0);
    if (ua_writer_ok(&w)) {
        struct ua_arena a;
        ua_arena_init(&a, 0, ARENA_LIMIT);
        struct ua_reader r;
        ua_reader_init(&r, w.data, w.len);
        struct ua_publish_response q;
        uint32_t st = ua_decode_publish_response(&r, &a, &q);
        check(st == UA_STATUS_GOOD);
        check(r.pos == w.len);
        check(q.message.values_count == p->message.values_count);
        for (size_t i = 0; i < q.message.values_count; i++) {
            check(q.message.values[i].client_handle == p->message.values[i].client_handle);
            check(ua_datavalue_equal(&q.message.values[i].value, &p->message.values[i].value));
        }
        ua_arena_free(&a);
    }
    ua_writer_free(&w);
}

static void run_decoder(decode_fn decode, uint32_t type_id, const uint8_t *data, size_t size,
                        struct ua_arena *a)
{
    union any_response out;
    struct ua_reader r;
    ua_reader_init(&r, data, size);
    uint32_t st = decode(&r, a, &out);
    check(r.depth == 0);
    check(a->allocated_bytes <= ARENA_LIMIT);
    if (r.failed) {
        check(r.fail_reason != NULL);
        check(r.fail_offset <= size);
        check(st == UA_STATUS_BAD_DECODING_ERROR || st == UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED ||
              st == UA_STATUS_BAD_UNKNOWN_RESPONSE);
    } else {
        check(r.pos <= size);
        check(st == UA_STATUS_GOOD || ua_status_is_bad(st));
        if (st != UA_STATUS_GOOD) check(st == out.header.service_result || st == 0x80010000u);
    }
    if (st == UA_STATUS_GOOD && (type_id == UA_DEFAULT_BINARY_PUBLISH_RESPONSE ||
                                 type_id == UA_DEFAULT_BINARY_REPUBLISH_RESPONSE)) {
        const struct ua_notification_message *m = type_id == UA_DEFAULT_BINARY_PUBLISH_RESPONSE
                                                      ? &out.publish.message
                                                      : &out.republish.message;
        check(m->values_count <= size / 5);
        check(m->events_skipped + m->unknown_skipped + (m->has_status_change ? 1 : 0) <=
              m->notification_data_count);
        if (type_id == UA_DEFAULT_BINARY_PUBLISH_RESPONSE) check_publish_round_trip(&out.publish);
    }
    char msg[256];
    ua_service_error_format(&r, st, "fuzz", msg, sizeof msg);
    check(strlen(msg) < sizeof msg);
    ua_arena_reset(a);
}

static void run_eu_helpers(const uint8_t *data, size_t size)
{
    struct ua_extension_object e = {.encoding = UA_EXTENSION_OBJECT_BINARY,
                                    .body = {(const char *)data, (int32_t)size}};
    struct ua_variant v = {.type = UA_TYPE_EXTENSIONOBJECT};
    v.as.extension_object = &e;
    const char *why = NULL;
    struct ua_eu_information eu;
    struct ua_range range;
    e.type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_EU_INFORMATION);
    if (!ua_variant_to_eu_information(&v, &eu, &why)) check(why != NULL);
    why = NULL;
    e.type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_RANGE);
    if (!ua_variant_to_range(&v, &range, &why)) check(why != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1u << 20) return 0;
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);

    for (size_t i = 0; i < DECODERS_COUNT; i++)
        run_decoder(decoders[i].decode, decoders[i].type_id, data, size, &a);

    if (size > 0) {
        /* The picked decoder on [its type NodeId, four-byte form] + rest. */
        size_t pick = data[0] % DECODERS_COUNT;
        uint32_t id = decoders[pick].type_id;
        uint8_t *msg = malloc(size - 1 + 4);
        msg[0] = 0x01;
        msg[1] = 0x00;
        msg[2] = (uint8_t)id;
        msg[3] = (uint8_t)(id >> 8);
        memcpy(msg + 4, data + 1, size - 1);
        run_decoder(decoders[pick].decode, id, msg, size - 1 + 4, &a);
        free(msg);
    }

    run_eu_helpers(data, size);
    ua_arena_free(&a);
    return 0;
}
