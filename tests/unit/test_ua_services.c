/* Tests of the OPC UA service messages (drivers/opcua/ua_services.h):
 * byte-exact request bodies written by hand from the layouts of Part 4 /
 * Part 6 (Read, OpenSecureChannel, ActivateSession with a UserName token,
 * CreateMonitoredItems with a DataChangeFilter, Publish, CloseSession,
 * Browse); a hand-written PublishResponse with a DataChangeNotification of
 * two items; response bodies written by node-opcua (decoded field by
 * field); round trips through small test-only response encoders; the
 * ServiceFault, Bad ServiceResult and wrong-type paths of every decoder;
 * truncation at every byte of every vector; hostile counts, the arena
 * limit, unknown notification types; writer limits; EUInformation and
 * Range; and the Publish decoding rate (printed, not asserted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/opcua/ua_crypto.h"
#include "drivers/opcua/ua_services.h"
#include "testlib.h"

#define ARENA_LIMIT (16u * 1024u * 1024u)
#define WRITER_LIMIT (16u * 1024u * 1024u)

/* 2024-01-02T03:04:05.678Z as DateTime ticks, little-endian on the wire:
 * E0 34 B0 58 28 3D DA 01. */
#define TS_TICKS 0x01DA3D2858B034E0LL
#define TS_BYTES 0xE0, 0x34, 0xB0, 0x58, 0x28, 0x3D, 0xDA, 0x01

static void check_bytes(const char *what, const struct ua_writer *w, const uint8_t *want,
                        size_t want_len)
{
    CHECK(ua_writer_ok(w));
    bool same = w->len == want_len && memcmp(w->data, want, want_len) == 0;
    CHECK(same);
    if (!same) test_dump_mismatch(what, w->data, w->len, want, want_len);
}

/* Hex text -> bytes (malloc'd; the test frees it). */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = test_unhex(hex, NULL, 0);
    uint8_t *out = malloc(n ? n : 1);
    *len = test_unhex(hex, out, n);
    return out;
}

/* A RequestHeader used by every request vector: null token, TS, handle 1,
 * no diagnostics, null audit id, 10 s timeout hint, no additional header. */
static struct ua_request_header request_header(void)
{
    struct ua_request_header h = {0};
    h.timestamp = TS_TICKS;
    h.request_handle = 1;
    h.timeout_hint_ms = 10000;
    return h;
}
/* clang-format off */
#define REQUEST_HEADER_BYTES                                                                       \
    0x00, 0x00,                                     /* AuthenticationToken: null */               \
    TS_BYTES,                                       /* Timestamp */                               \
    0x01, 0x00, 0x00, 0x00,                         /* RequestHandle 1 */                         \
    0x00, 0x00, 0x00, 0x00,                         /* ReturnDiagnostics */                       \
    0xFF, 0xFF, 0xFF, 0xFF,                         /* AuditEntryId: null */                      \
    0x10, 0x27, 0x00, 0x00,                         /* TimeoutHint 10000 */                       \
    0x00, 0x00, 0x00                                /* AdditionalHeader: null */
/* clang-format on */

/* ----------------------------------------------- any response decoder */

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

static const struct {
    const char *name;
    uint32_t type_id;
    decode_fn decode;
} decoders[] = {
    {"OpenSecureChannel", UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_RESPONSE, dec_open_secure_channel},
    {"GetEndpoints", UA_DEFAULT_BINARY_GET_ENDPOINTS_RESPONSE, dec_get_endpoints},
    {"CreateSession", UA_DEFAULT_BINARY_CREATE_SESSION_RESPONSE, dec_create_session},
    {"ActivateSession", UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE, dec_activate_session},
    {"CloseSession", UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE, dec_close_session},
    {"Browse", UA_DEFAULT_BINARY_BROWSE_RESPONSE, dec_browse},
    {"BrowseNext", UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE, dec_browse_next},
    {"Translate", UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_RESPONSE, dec_translate_browse_paths},
    {"Read", UA_DEFAULT_BINARY_READ_RESPONSE, dec_read},
    {"Write", UA_DEFAULT_BINARY_WRITE_RESPONSE, dec_write},
    {"CreateSubscription", UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE, dec_create_subscription},
    {"CreateMonitoredItems", UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_RESPONSE,
     dec_create_monitored_items},
    {"DeleteSubscriptions", UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE,
     dec_delete_subscriptions},
    {"Publish", UA_DEFAULT_BINARY_PUBLISH_RESPONSE, dec_publish},
    {"Republish", UA_DEFAULT_BINARY_REPUBLISH_RESPONSE, dec_republish},
};
#define DECODERS_COUNT (sizeof decoders / sizeof decoders[0])

/* Every strict prefix of a complete response must fail cleanly with a
 * reason at an offset inside the prefix; the whole must decode to
 * want_status, consuming every byte. */
static void check_truncations_status(const char *what, const uint8_t *msg, size_t len,
                                     decode_fn decode, uint32_t want_status)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    union any_response out;
    int bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees over-reads */
        memcpy(copy, msg, cut);
        struct ua_reader r;
        ua_reader_init(&r, copy, cut);
        uint32_t st = decode(&r, &a, &out);
        if (st != UA_STATUS_BAD_DECODING_ERROR || !r.failed || !r.fail_reason ||
            r.fail_offset > cut) {
            if (bad++ < 3)
                fprintf(stderr, "%s: prefix of %zu/%zu bytes gave 0x%08X\n", what, cut, len, st);
        }
        free(copy);
        ua_arena_reset(&a);
    }
    CHECK_EQ_INT(bad, 0);
    struct ua_reader r;
    ua_reader_init(&r, msg, len);
    CHECK_EQ_INT(decode(&r, &a, &out), want_status);
    CHECK_EQ_INT(r.pos, len);
    ua_arena_free(&a);
}

static void check_truncations(const char *what, const uint8_t *msg, size_t len, decode_fn decode)
{
    check_truncations_status(what, msg, len, decode, UA_STATUS_GOOD);
}

/* ------------------------------------------------------- request vectors */

static void test_read_request_vector(void)
{
    struct ua_request_header h = request_header();
    struct ua_read_value_id node = {
        .node_id = ua_nodeid_string(2, "Pump.Speed"),
        .attribute_id = UA_ATTRIBUTE_VALUE,
        .index_range = UA_STRING_NULL,
    };
    struct ua_read_request req = {.max_age_ms = 0,
                                  .timestamps_to_return = UA_TIMESTAMPS_BOTH,
                                  .nodes_count = 1,
                                  .nodes = &node};
    /* clang-format off */
    const uint8_t want[] = {
        0x01, 0x00, 0x77, 0x02, /* ReadRequest_Encoding_DefaultBinary i=631, four-byte */
        REQUEST_HEADER_BYTES,
        0, 0, 0, 0, 0, 0, 0, 0, /* MaxAge 0.0 */
        0x02, 0x00, 0x00, 0x00, /* TimestampsToReturn Both */
        0x01, 0x00, 0x00, 0x00, /* NodesToRead: 1 */
        0x03, 0x02, 0x00,       /* NodeId: string, ns 2 */
        0x0A, 0x00, 0x00, 0x00, 'P', 'u', 'm', 'p', '.', 'S', 'p', 'e', 'e', 'd',
        0x0D, 0x00, 0x00, 0x00, /* AttributeId Value */
        0xFF, 0xFF, 0xFF, 0xFF, /* IndexRange null */
        0x00, 0x00,             /* DataEncoding: ns 0 ... */
        0xFF, 0xFF, 0xFF, 0xFF, /* ... name null (zeroed field) */
    };
    /* clang-format on */
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    CHECK(ua_encode_read_request(&w, &h, &req));
    check_bytes("ReadRequest", &w, want, sizeof want);

    /* Every too-small fixed buffer fails cleanly, never writing past it. */
    uint8_t small[sizeof want];
    for (size_t cap = 0; cap < sizeof want; cap++) {
        struct ua_writer f;
        ua_writer_init_fixed(&f, small, cap);
        CHECK(!ua_encode_read_request(&f, &h, &req));
        CHECK(f.len <= cap && f.fail_reason != NULL);
    }
    ua_writer_free(&w);
}

static void test_open_secure_channel_request_vector(void)
{
    struct ua_request_header h = request_header();
    struct ua_open_secure_channel_request req = {
        .client_protocol_version = 0,
        .request_type = UA_SECURITY_TOKEN_RENEW,
        .security_mode = UA_SECURITY_MODE_SIGN_AND_ENCRYPT,
        .client_nonce = {"\xAA\xBB", 2},
        .requested_lifetime_ms = 3600000,
    };
    /* clang-format off */
    const uint8_t want[] = {
        0x01, 0x00, 0xBE, 0x01,             /* i=446 */
        REQUEST_HEADER_BYTES,
        0x00, 0x00, 0x00, 0x00,             /* ClientProtocolVersion */
        0x01, 0x00, 0x00, 0x00,             /* RequestType Renew */
        0x03, 0x00, 0x00, 0x00,             /* SecurityMode SignAndEncrypt */
        0x02, 0x00, 0x00, 0x00, 0xAA, 0xBB, /* ClientNonce */
        0x80, 0xEE, 0x36, 0x00,             /* RequestedLifetime 3600000 */
    };
    /* clang-format on */
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    CHECK(ua_encode_open_secure_channel_request(&w, &h, &req));
    check_bytes("OpenSecureChannelRequest", &w, want, sizeof want);

    /* clang-format off */
    const uint8_t want_close[] = {0x01, 0x00, 0xC4, 0x01, /* i=452 */ REQUEST_HEADER_BYTES};
    /* clang-format on */
    ua_writer_reset(&w);
    CHECK(ua_encode_close_secure_channel_request(&w, &h));
    check_bytes("CloseSecureChannelRequest", &w, want_close, sizeof want_close);
    ua_writer_free(&w);
}

static void test_activate_session_request_vector(void)
{
    struct ua_request_header h = request_header();
    h.authentication_token = ua_nodeid_numeric(1, 7);
    struct ua_string locale = ua_string_from_cstr("en");
    struct ua_activate_session_request req = {
        .locale_ids_count = 1,
        .locale_ids = &locale,
        .identity =
            {
                .kind = UA_IDENTITY_USER_NAME,
                .policy_id = ua_string_from_cstr("u"),
                .user_name = ua_string_from_cstr("op"),
                .password = {"\x01\x02\x03", 3},
                .encryption_algorithm = UA_STRING_NULL,
            },
    };
    /* clang-format off */
    const uint8_t want[] = {
        0x01, 0x00, 0xD3, 0x01,                         /* i=467 */
        0x01, 0x01, 0x07, 0x00,                         /* AuthenticationToken ns=1;i=7 */
        TS_BYTES,
        0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF,
        0x10, 0x27, 0x00, 0x00,
        0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* ClientSignature: null, null */
        0x00, 0x00, 0x00, 0x00,                         /* ClientSoftwareCertificates: 0 */
        0x01, 0x00, 0x00, 0x00,                         /* LocaleIds: 1 */
        0x02, 0x00, 0x00, 0x00, 'e', 'n',
        0x01, 0x00, 0x44, 0x01,                         /* i=324 UserNameIdentityToken */
        0x01,                                           /* binary body */
        0x16, 0x00, 0x00, 0x00,                         /* body length 22 */
        0x01, 0x00, 0x00, 0x00, 'u',                    /* PolicyId */
        0x02, 0x00, 0x00, 0x00, 'o', 'p',               /* UserName */
        0x03, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03,       /* Password */
        0xFF, 0xFF, 0xFF, 0xFF,                         /* EncryptionAlgorithm null */
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* UserTokenSignature */
    };
    /* clang-format on */
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    CHECK(ua_encode_activate_session_request(&w, &h, &req));
    check_bytes("ActivateSessionRequest", &w, want, sizeof want);

    /* Anonymous: i=321 with the policy id only. */
    req.identity = (struct ua_identity_token){.kind = UA_IDENTITY_ANONYMOUS,
                                              .policy_id = ua_string_from_cstr("anon")};
    req.locale_ids_count = 0;
    req.locale_ids = NULL;
    ua_writer_reset(&w);
    CHECK(ua_encode_activate_session_request(&w, &h, &req));
    /* clang-format off */
    const uint8_t anon[] = {
        0x01, 0x00, 0x41, 0x01, 0x01,     /* i=321 AnonymousIdentityToken, binary */
        0x08, 0x00, 0x00, 0x00,           /* body length 8 */
        0x04, 0x00, 0x00, 0x00, 'a', 'n', 'o', 'n',
    };
    /* clang-format on */
    size_t at = 4 + 4 + 8 + 4 + 4 + 4 + 4 + 3 + 8 + 4 + 4;
    CHECK(w.len == at + sizeof anon + 8 && memcmp(w.data + at, anon, sizeof anon) == 0);

    /* An unknown identity kind and a NULL array with a count fail cleanly. */
    req.identity.kind = 99;
    ua_writer_reset(&w);
    CHECK(!ua_encode_activate_session_request(&w, &h, &req));
    req.identity.kind = UA_IDENTITY_ANONYMOUS;
    req.locale_ids_count = 2;
    ua_writer_reset(&w);
    CHECK(!ua_encode_activate_session_request(&w, &h, &req));
    CHECK_STR(w.fail_reason, "array: NULL elements");
    ua_writer_free(&w);
}

static void test_create_monitored_items_request_vector(void)
{
    struct ua_request_header h = request_header();
    struct ua_monitored_item_create_request items[2] = {
        {
            .item_to_monitor = {.node_id = ua_nodeid_numeric(2, 1001),
                                .attribute_id = UA_ATTRIBUTE_VALUE,
                                .index_range = UA_STRING_NULL},
            .monitoring_mode = UA_MONITORING_REPORTING,
            .client_handle = 5,
            .sampling_interval_ms = 100.0,
            .has_filter = true,
            .filter = {.trigger = UA_TRIGGER_STATUS_VALUE,
                       .deadband_type = UA_DEADBAND_ABSOLUTE,
                       .deadband_value = 0.5},
            .queue_size = 10,
            .discard_oldest = true,
        },
        {
            .item_to_monitor = {.node_id = ua_nodeid_numeric(0, 2258),
                                .attribute_id = UA_ATTRIBUTE_VALUE},
            .monitoring_mode = UA_MONITORING_REPORTING,
            .client_handle = 6,
            .sampling_interval_ms = -1.0,
            .queue_size = 1,
        },
    };
    struct ua_create_monitored_items_request req = {.subscription_id = 42,
                                                    .timestamps_to_return = UA_TIMESTAMPS_SOURCE,
                                                    .items_count = 2,
                                                    .items = items};
    /* clang-format off */
    const uint8_t want[] = {
        0x01, 0x00, 0xEF, 0x02,                         /* i=751 */
        REQUEST_HEADER_BYTES,
        0x2A, 0x00, 0x00, 0x00,                         /* SubscriptionId 42 */
        0x00, 0x00, 0x00, 0x00,                         /* TimestampsToReturn Source */
        0x02, 0x00, 0x00, 0x00,                         /* ItemsToCreate: 2 */
        /* [0] ReadValueId */
        0x01, 0x02, 0xE9, 0x03,                         /* ns=2;i=1001 four-byte */
        0x0D, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF,
        0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
        0x02, 0x00, 0x00, 0x00,                         /* MonitoringMode Reporting */
        0x05, 0x00, 0x00, 0x00,                         /* ClientHandle */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x59, 0x40, /* SamplingInterval 100.0 */
        0x01, 0x00, 0xD4, 0x02, 0x01,                   /* Filter: i=724 DataChangeFilter */
        0x10, 0x00, 0x00, 0x00,                         /* body 16 bytes */
        0x01, 0x00, 0x00, 0x00,                         /* Trigger StatusValue */
        0x01, 0x00, 0x00, 0x00,                         /* DeadbandType Absolute */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, /* DeadbandValue 0.5 */
        0x0A, 0x00, 0x00, 0x00,                         /* QueueSize */
        0x01,                                           /* DiscardOldest */
        /* [1] */
        0x01, 0x00, 0xD2, 0x08,                         /* i=2258 four-byte */
        0x0D, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0xFF,
        0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
        0x02, 0x00, 0x00, 0x00,
        0x06, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0xBF, /* -1.0 */
        0x00, 0x00, 0x00,                               /* Filter: null ExtensionObject */
        0x01, 0x00, 0x00, 0x00,
        0x00,
    };
    /* clang-format on */
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    CHECK(ua_encode_create_monitored_items_request(&w, &h, &req));
    check_bytes("CreateMonitoredItemsRequest", &w, want, sizeof want);
    ua_writer_free(&w);
}

static void test_small_request_vectors(void)
{
    struct ua_request_header h = request_header();
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);

    struct ua_subscription_acknowledgement acks[2] = {{42, 5}, {42, 6}};
    struct ua_publish_request pub = {.acknowledgements_count = 2, .acknowledgements = acks};
    /* clang-format off */
    const uint8_t want_pub[] = {
        0x01, 0x00, 0x3A, 0x03,                         /* i=826 */
        REQUEST_HEADER_BYTES,
        0x02, 0x00, 0x00, 0x00,                         /* 2 acknowledgements */
        0x2A, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
        0x2A, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
    };
    /* clang-format on */
    CHECK(ua_encode_publish_request(&w, &h, &pub));
    check_bytes("PublishRequest", &w, want_pub, sizeof want_pub);

    /* clang-format off */
    const uint8_t want_close[] = {0x01, 0x00, 0xD9, 0x01, /* i=473 */ REQUEST_HEADER_BYTES, 0x01};
    /* clang-format on */
    ua_writer_reset(&w);
    CHECK(ua_encode_close_session_request(&w, &h, true));
    check_bytes("CloseSessionRequest", &w, want_close, sizeof want_close);

    struct ua_create_subscription_request cs = {.requested_publishing_interval_ms = 500.0,
                                                .requested_lifetime_count = 60,
                                                .requested_max_keep_alive_count = 20,
                                                .max_notifications_per_publish = 0,
                                                .publishing_enabled = true,
                                                .priority = 0};
    /* clang-format off */
    const uint8_t want_cs[] = {
        0x01, 0x00, 0x13, 0x03,                         /* i=787 */
        REQUEST_HEADER_BYTES,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x7F, 0x40, /* 500.0 */
        0x3C, 0x00, 0x00, 0x00,                         /* lifetime 60 */
        0x14, 0x00, 0x00, 0x00,                         /* keep-alive 20 */
        0x00, 0x00, 0x00, 0x00,                         /* no notification limit */
        0x01, 0x00,                                     /* enabled, priority 0 */
    };
    /* clang-format on */
    ua_writer_reset(&w);
    CHECK(ua_encode_create_subscription_request(&w, &h, &cs));
    check_bytes("CreateSubscriptionRequest", &w, want_cs, sizeof want_cs);

    struct ua_browse_description bd = {.node_id = ua_nodeid_numeric(0, UA_NS0_OBJECTS_FOLDER),
                                       .browse_direction = UA_BROWSE_FORWARD,
                                       .reference_type_id =
                                           ua_nodeid_numeric(0, UA_NS0_HIERARCHICAL_REFERENCES),
                                       .include_subtypes = true,
                                       .node_class_mask = 0,
                                       .result_mask = UA_BROWSE_RESULT_ALL};
    struct ua_browse_request br = {
        .requested_max_references_per_node = 1000, .nodes_count = 1, .nodes = &bd};
    /* clang-format off */
    const uint8_t want_br[] = {
        0x01, 0x00, 0x0F, 0x02,                         /* i=527 */
        REQUEST_HEADER_BYTES,
        0x00, 0x00,                                     /* View: null NodeId, */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* no time, */
        0x00, 0x00, 0x00, 0x00,                         /* version 0 */
        0xE8, 0x03, 0x00, 0x00,                         /* max refs 1000 */
        0x01, 0x00, 0x00, 0x00,                         /* 1 node */
        0x00, 0x55,                                     /* i=85 */
        0x00, 0x00, 0x00, 0x00,                         /* Forward */
        0x00, 0x21,                                     /* i=33 */
        0x01,                                           /* include subtypes */
        0x00, 0x00, 0x00, 0x00,                         /* all node classes */
        0x3F, 0x00, 0x00, 0x00,                         /* all result fields */
    };
    /* clang-format on */
    ua_writer_reset(&w);
    CHECK(ua_encode_browse_request(&w, &h, &br));
    check_bytes("BrowseRequest", &w, want_br, sizeof want_br);

    uint32_t ids[1] = {42};
    struct ua_delete_subscriptions_request ds = {.subscription_ids_count = 1,
                                                 .subscription_ids = ids};
    /* clang-format off */
    const uint8_t want_ds[] = {
        0x01, 0x00, 0x4F, 0x03,                         /* i=847 */
        REQUEST_HEADER_BYTES,
        0x01, 0x00, 0x00, 0x00, 0x2A, 0x00, 0x00, 0x00,
    };
    /* clang-format on */
    ua_writer_reset(&w);
    CHECK(ua_encode_delete_subscriptions_request(&w, &h, &ds));
    check_bytes("DeleteSubscriptionsRequest", &w, want_ds, sizeof want_ds);
    ua_writer_free(&w);
}

/* ------------------------------------------------- PublishResponse vector */

/* Written by hand from Part 4 7.25 / 7.22: a PublishResponse whose
 * NotificationMessage holds one DataChangeNotification with two items. */
/* clang-format off */
static const uint8_t publish_vector[] = {
    0x01, 0x00, 0x3D, 0x03,                         /* i=829 PublishResponse */
    /* ResponseHeader */
    TS_BYTES,                                       /* Timestamp */
    0x07, 0x00, 0x00, 0x00,                         /* RequestHandle 7 */
    0x00, 0x00, 0x00, 0x00,                         /* ServiceResult Good */
    0x00,                                           /* ServiceDiagnostics: empty mask */
    0xFF, 0xFF, 0xFF, 0xFF,                         /* StringTable: null */
    0x00, 0x00, 0x00,                               /* AdditionalHeader: null */
    0x2A, 0x00, 0x00, 0x00,                         /* SubscriptionId 42 */
    0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, /* AvailableSequenceNumbers [5] */
    0x00,                                           /* MoreNotifications false */
    /* NotificationMessage */
    0x05, 0x00, 0x00, 0x00,                         /* SequenceNumber 5 */
    TS_BYTES,                                       /* PublishTime */
    0x01, 0x00, 0x00, 0x00,                         /* NotificationData: 1 */
    0x01, 0x00, 0x2B, 0x03,                         /* i=811 DataChangeNotification */
    0x01,                                           /* binary body */
    0x2C, 0x00, 0x00, 0x00,                         /* of 44 bytes */
    0x02, 0x00, 0x00, 0x00,                         /* MonitoredItems: 2 */
    0x01, 0x00, 0x00, 0x00,                         /* [0] ClientHandle 1 */
    0x05,                                           /* DataValue: Value, SourceTimestamp */
    0x0B,                                           /* Double */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x35, 0x40, /* 21.5 */
    TS_BYTES,                                       /* SourceTimestamp */
    0x02, 0x00, 0x00, 0x00,                         /* [1] ClientHandle 2 */
    0x03,                                           /* DataValue: Value, Status */
    0x06, 0xF9, 0xFF, 0xFF, 0xFF,                   /* Int32 -7 */
    0x00, 0x00, 0x00, 0x40,                         /* Uncertain */
    0xFF, 0xFF, 0xFF, 0xFF,                         /* DiagnosticInfos: null */
    0x00, 0x00, 0x00, 0x00,                         /* Results: empty */
    0x00, 0x00, 0x00, 0x00,                         /* DiagnosticInfos: empty */
};
/* clang-format on */

static void test_publish_response_vector(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_reader r;
    ua_reader_init(&r, publish_vector, sizeof publish_vector);
    struct ua_publish_response p;
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_GOOD);
    CHECK_EQ_INT(r.pos, sizeof publish_vector);
    CHECK_EQ_INT(p.header.timestamp, TS_TICKS);
    CHECK_EQ_INT(p.header.request_handle, 7);
    CHECK_EQ_INT(p.subscription_id, 42);
    CHECK_EQ_INT(p.available_sequence_numbers_count, 1);
    CHECK_EQ_INT(p.available_sequence_numbers[0], 5);
    CHECK(!p.more_notifications);
    CHECK_EQ_INT(p.message.sequence_number, 5);
    CHECK_EQ_INT(p.message.publish_time, TS_TICKS);
    CHECK_EQ_INT(p.message.notification_data_count, 1);
    CHECK_EQ_INT(p.message.values_count, 2);
    CHECK_EQ_INT(p.message.values[0].client_handle, 1);
    CHECK_EQ_INT(p.message.values[0].value.value.type, UA_TYPE_DOUBLE);
    CHECK_EQ_DBL(p.message.values[0].value.value.as.f64, 21.5, 0);
    CHECK_EQ_INT(p.message.values[0].value.source_timestamp, TS_TICKS);
    CHECK_EQ_INT(p.message.values[1].client_handle, 2);
    CHECK_EQ_INT(p.message.values[1].value.value.as.int32, -7);
    CHECK_EQ_INT(p.message.values[1].value.status, 0x40000000u);
    CHECK(!p.message.has_status_change);
    CHECK_EQ_INT(p.results_count, 0);
    ua_arena_free(&a);

    check_truncations("PublishResponse vector", publish_vector, sizeof publish_vector, dec_publish);

    /* Bytes after the response are left unread, not an error. */
    uint8_t longer[sizeof publish_vector + 3];
    memcpy(longer, publish_vector, sizeof publish_vector);
    memset(longer + sizeof publish_vector, 0xEE, 3);
    ua_arena_init(&a, 0, ARENA_LIMIT);
    ua_reader_init(&r, longer, sizeof longer);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_GOOD);
    CHECK_EQ_INT(r.pos, sizeof publish_vector);
    ua_arena_free(&a);
}

/* ------------------------------------------------- node-opcua vectors */

/* The following hex strings are response bodies (encoding NodeId +
 * structure) written by node-opcua 2.163.1 (node_modules/node-opcua-types)
 * in a throwaway script: `new T.PublishResponse({...})`, then
 * encodeExpandedNodeId(obj.schema.encodingDefaultBinary, stream) and
 * obj.encode(stream), printed with buffer.toString("hex"). Timestamps are
 * 2024-01-02T03:04:05.678Z. The values are listed in each test. */

/* PublishResponse: handle 7, subscription 42, available [5, 6], sequence 6,
 * DataChangeNotification {1: Double 21.5 Good @ts; 2: String "on"
 * UncertainLastUsableValue; 3: Int32[1,-2,3] @ts/@ts},
 * StatusChangeNotification BadTimeout, EventNotificationList (1 event),
 * results [Good]. */
static const char nodeopcua_publish[] =
    "01003d03e034b058283dda01070000000000000000000000000000002a0000000200000005000000060000000006"
    "000000e034b058283dda010300000001002b0301540000000300000001000000050b0000000000803540e034b058"
    "283dda0102000000030c020000006f6e00009040030000000d860300000001000000feffffff03000000e034b058"
    "283dda01e034b058283dda010000000001003403010500000000000a800001009403010f00000001000000090000"
    "0001000000050500010000000000000000000000";

/* CreateSessionResponse: session ns=1;i=1001, token ns=1;b=AQIDBA==,
 * timeout 60000, nonce 32 x 0x11, certificate 010203, one endpoint (below),
 * signature rsa-sha256 / 0908, max request size 0. */
static const char nodeopcua_create_session[] =
    "0100d001e034b058283dda01020000000000000000000000000000000101e9030501000400000001020304000000"
    "00004ced402000000011111111111111111111111111111111111111111111111111111111111111110300000001"
    "020301000000120000006f70632e7463703a2f2f706c633a343834300700000075726e3a706c630500000075726e"
    "3a700203000000504c4300000000000000000000000001000000120000006f70632e7463703a2f2f706c633a3438"
    "343002000000dead0300000039000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365"
    "637572697479506f6c6963792342617369633235365368613235360200000004000000616e6f6e00000000000000"
    "000000000000000000040000007573657201000000000000000000000039000000687474703a2f2f6f7063666f75"
    "6e646174696f6e2e6f72672f55412f5365637572697479506f6c6963792342617369633235365368613235364100"
    "0000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412d50726f66696c652f5472616e73706f72"
    "742f75617463702d756173632d756162696e617279030000000031000000687474703a2f2f7777772e77332e6f72"
    "672f323030312f30342f786d6c647369672d6d6f7265237273612d73686132353602000000090800000000";

/* BrowseResponse: one result, continuation point AABB, references
 * {Organizes fwd ns=2;s=Pump.Speed "2:Speed" en/"Speed" Variable
 * AnalogItemType; HasComponent fwd ns=2;g=72962b91-... "2:Folder" "Folder"
 * Object FolderType}. */
static const char nodeopcua_browse[] =
    "01001202e034b058283dda0103000000000000000000000000000000010000000000000002000000aabb02000000"
    "0023010302000a00000050756d702e537065656402000500000053706565640302000000656e0500000053706565"
    "640200000001004009002f01040200912b967275fae64a8d28b404dc7dae63020006000000466f6c646572020600"
    "0000466f6c64657201000000003d00000000";

/* GetEndpointsResponse: the endpoint of CreateSession: opc.tcp://plc:4840,
 * server urn:plc / urn:p / "PLC" / Server / [opc.tcp://plc:4840],
 * certificate DEAD, SignAndEncrypt, Basic256Sha256, policies {anon
 * Anonymous; user UserName Basic256Sha256}, uatcp-uasc-uabinary, level 3. */
static const char nodeopcua_get_endpoints[] =
    "0100af01e034b058283dda010100000000000000000000000000000001000000120000006f70632e7463703a2f2f"
    "706c633a343834300700000075726e3a706c630500000075726e3a700203000000504c4300000000000000000000"
    "000001000000120000006f70632e7463703a2f2f706c633a3438343002000000dead030000003900000068747470"
    "3a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c6963792342617369633235"
    "365368613235360200000004000000616e6f6e000000000000000000000000000000000400000075736572010000"
    "00000000000000000039000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572"
    "697479506f6c69637923426173696332353653686132353641000000687474703a2f2f6f7063666f756e64617469"
    "6f6e2e6f72672f55412d50726f66696c652f5472616e73706f72742f75617463702d756173632d756162696e6172"
    "7903";

/* ServiceFault: handle 9, BadSessionIdInvalid. */
static const char nodeopcua_service_fault[] =
    "01008d01e034b058283dda0109000000000025800000000000000000";

/* ReadResponse: [EUInformation {unece ns, 4408652, "°C", "degree
 * Celsius"}, Range {-10, 150}, BadNodeIdUnknown]. */
static const char nodeopcua_read[] =
    "01007a02e034b058283dda01040000000000000000000000000000000300000001160100790301520000002f0000"
    "00687474703a2f2f7777772e6f7063666f756e646174696f6e2e6f72672f55412f756e6974732f756e2f63656661"
    "63744c4543000203000000c2b043020e0000006465677265652043656c7369757301160100760301100000000000"
    "0000000024c00000000000c06240020000348000000000";

/* CreateMonitoredItemsResponse: [Good id 77 100 ms queue 10,
 * BadNodeIdUnknown]. */
static const char nodeopcua_create_monitored_items[] =
    "0100f202e034b058283dda010500000000000000000000000000000002000000000000004d000000000000000000"
    "59400a000000000000000034800000000000000000000000000000000000000000000000";

/* TranslateBrowsePathsToNodeIdsResponse: [Good, target ns=3;i=5000,
 * remaining index 0xFFFFFFFF]. */
static const char nodeopcua_translate[] =
    "01002d02e034b058283dda010600000000000000000000000000000001000000000000000100000001038813ffff"
    "ffff00000000";

/* OpenSecureChannelResponse: channel 12, token 1, created ts, lifetime
 * 3600000, empty nonce. */
static const char nodeopcua_open_secure_channel[] =
    "0100c101e034b058283dda0101000000000000000000000000000000000000000c00000001000000e034b058283d"
    "da0180ee360000000000";

static void check_endpoint(const struct ua_endpoint_description *e)
{
    CHECK(ua_string_equal_cstr(e->endpoint_url, "opc.tcp://plc:4840"));
    CHECK(ua_string_equal_cstr(e->server.application_uri, "urn:plc"));
    CHECK(ua_string_equal_cstr(e->server.product_uri, "urn:p"));
    CHECK(ua_string_equal_cstr(e->server.application_name.text, "PLC"));
    CHECK_EQ_INT(e->server.application_type, UA_APPLICATION_SERVER);
    CHECK_EQ_INT(e->server.discovery_urls_count, 1);
    CHECK(ua_string_equal_cstr(e->server.discovery_urls[0], "opc.tcp://plc:4840"));
    CHECK(e->server_certificate.length == 2 &&
          memcmp(e->server_certificate.data, "\xde\xad", 2) == 0);
    CHECK_EQ_INT(e->security_mode, UA_SECURITY_MODE_SIGN_AND_ENCRYPT);
    CHECK(ua_string_equal_cstr(e->security_policy_uri,
                               "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"));
    CHECK_EQ_INT(e->user_token_policies_count, 2);
    if (e->user_token_policies_count == 2) {
        CHECK(ua_string_equal_cstr(e->user_token_policies[0].policy_id, "anon"));
        CHECK_EQ_INT(e->user_token_policies[0].token_type, UA_USER_TOKEN_ANONYMOUS);
        CHECK(ua_string_equal_cstr(e->user_token_policies[1].policy_id, "user"));
        CHECK_EQ_INT(e->user_token_policies[1].token_type, UA_USER_TOKEN_USER_NAME);
        CHECK(ua_string_equal_cstr(e->user_token_policies[1].security_policy_uri,
                                   "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"));
    }
    CHECK(
        ua_string_equal_cstr(e->transport_profile_uri,
                             "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"));
    CHECK_EQ_INT(e->security_level, 3);
}

static void test_nodeopcua_vectors(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_reader r;
    size_t len;
    uint8_t *m;

    /* PublishResponse */
    m = unhex(nodeopcua_publish, &len);
    struct ua_publish_response p;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_GOOD);
    CHECK_EQ_INT(p.header.request_handle, 7);
    CHECK_EQ_INT(p.subscription_id, 42);
    CHECK_EQ_INT(p.available_sequence_numbers_count, 2);
    CHECK_EQ_INT(p.message.sequence_number, 6);
    CHECK_EQ_INT(p.message.notification_data_count, 3);
    CHECK_EQ_INT(p.message.values_count, 3);
    if (p.message.values_count == 3) {
        struct ua_monitored_item_value *v = p.message.values;
        CHECK_EQ_INT(v[0].client_handle, 1);
        CHECK_EQ_DBL(v[0].value.value.as.f64, 21.5, 0);
        CHECK_EQ_INT(v[0].value.source_timestamp, TS_TICKS);
        CHECK_EQ_INT(v[1].client_handle, 2);
        CHECK(v[1].value.value.type == UA_TYPE_STRING &&
              ua_string_equal_cstr(v[1].value.value.as.string, "on"));
        CHECK_EQ_INT(v[1].value.status, 0x40900000u); /* UncertainLastUsableValue */
        CHECK_EQ_INT(v[2].client_handle, 3);
        CHECK(v[2].value.value.is_array && v[2].value.value.array_length == 3);
        CHECK_EQ_INT(((int32_t *)v[2].value.value.as.array)[1], -2);
        CHECK_EQ_INT(v[2].value.server_timestamp, TS_TICKS);
    }
    CHECK(p.message.has_status_change);
    CHECK_EQ_INT(p.message.status_change, UA_STATUS_BAD_TIMEOUT);
    CHECK_EQ_INT(p.message.events_skipped, 1);
    CHECK_EQ_INT(p.message.unknown_skipped, 0);
    CHECK_EQ_INT(p.results_count, 1);
    check_truncations("node-opcua PublishResponse", m, len, dec_publish);
    free(m);

    /* CreateSessionResponse */
    m = unhex(nodeopcua_create_session, &len);
    struct ua_create_session_response cs;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_create_session_response(&r, &a, &cs), UA_STATUS_GOOD);
    CHECK(cs.session_id.ns == 1 && cs.session_id.id.numeric == 1001);
    CHECK(cs.authentication_token.type == UA_NODEID_BYTESTRING &&
          cs.authentication_token.id.string.length == 4);
    CHECK_EQ_DBL(cs.revised_session_timeout_ms, 60000, 0);
    CHECK_EQ_INT(cs.server_nonce.length, 32);
    CHECK_EQ_INT(cs.server_certificate.length, 3);
    CHECK_EQ_INT(cs.server_endpoints_count, 1);
    if (cs.server_endpoints_count == 1) check_endpoint(&cs.server_endpoints[0]);
    CHECK(ua_string_equal_cstr(cs.server_signature.algorithm, UA_CRYPTO_URI_RSA_SHA256));
    CHECK_EQ_INT(cs.server_signature.signature.length, 2);
    CHECK_EQ_INT(cs.max_request_message_size, 0);
    check_truncations("node-opcua CreateSessionResponse", m, len, dec_create_session);
    free(m);

    /* BrowseResponse */
    m = unhex(nodeopcua_browse, &len);
    struct ua_browse_response b;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_browse_response(&r, &a, &b), UA_STATUS_GOOD);
    CHECK_EQ_INT(b.results_count, 1);
    if (b.results_count == 1) {
        struct ua_browse_result *br = &b.results[0];
        CHECK_EQ_INT(br->status, 0);
        CHECK_EQ_INT(br->continuation_point.length, 2);
        CHECK_EQ_INT(br->references_count, 2);
        if (br->references_count == 2) {
            struct ua_reference_description *d = br->references;
            CHECK_EQ_INT(d[0].reference_type_id.id.numeric, UA_NS0_ORGANIZES);
            CHECK(d[0].is_forward);
            char text[80];
            ua_expanded_nodeid_format(&d[0].node_id, text, sizeof text);
            CHECK_STR(text, "ns=2;s=Pump.Speed");
            CHECK(d[0].browse_name.ns == 2 && ua_string_equal_cstr(d[0].browse_name.name, "Speed"));
            CHECK(ua_string_equal_cstr(d[0].display_name.locale, "en"));
            CHECK_EQ_INT(d[0].node_class, UA_NODE_CLASS_VARIABLE);
            CHECK_EQ_INT(d[0].type_definition.nodeid.id.numeric, UA_NS0_ANALOG_ITEM_TYPE);
            ua_expanded_nodeid_format(&d[1].node_id, text, sizeof text);
            CHECK_STR(text, "ns=2;g=72962b91-fa75-4ae6-8d28-b404dc7dae63");
            CHECK_EQ_INT(d[1].node_class, UA_NODE_CLASS_OBJECT);
            CHECK_EQ_INT(d[1].type_definition.nodeid.id.numeric, UA_NS0_FOLDER_TYPE);
        }
    }
    check_truncations("node-opcua BrowseResponse", m, len, dec_browse);
    free(m);

    /* GetEndpointsResponse */
    m = unhex(nodeopcua_get_endpoints, &len);
    struct ua_get_endpoints_response ge;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_get_endpoints_response(&r, &a, &ge), UA_STATUS_GOOD);
    CHECK_EQ_INT(ge.endpoints_count, 1);
    if (ge.endpoints_count == 1) check_endpoint(&ge.endpoints[0]);
    check_truncations("node-opcua GetEndpointsResponse", m, len, dec_get_endpoints);
    free(m);

    /* ReadResponse with EUInformation and Range values */
    m = unhex(nodeopcua_read, &len);
    struct ua_read_response rr;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_read_response(&r, &a, &rr), UA_STATUS_GOOD);
    CHECK_EQ_INT(rr.results_count, 3);
    if (rr.results_count == 3) {
        struct ua_eu_information eu;
        const char *why = NULL;
        CHECK(ua_variant_to_eu_information(&rr.results[0].value, &eu, &why));
        CHECK(ua_string_equal_cstr(eu.namespace_uri,
                                   "http://www.opcfoundation.org/UA/units/un/cefact"));
        CHECK_EQ_INT(eu.unit_id, 4408652);
        CHECK(ua_string_equal_cstr(eu.display_name.text, "\xC2\xB0"
                                                         "C"));
        CHECK(ua_string_equal_cstr(eu.description.text, "degree Celsius"));
        struct ua_range range;
        CHECK(ua_variant_to_range(&rr.results[1].value, &range, &why));
        CHECK_EQ_DBL(range.low, -10, 0);
        CHECK_EQ_DBL(range.high, 150, 0);
        CHECK(!ua_variant_to_range(&rr.results[0].value, &range, &why));
        CHECK_STR(why, "not a Range");
        CHECK(!ua_variant_to_eu_information(&rr.results[2].value, &eu, &why));
        CHECK_STR(why, "not an ExtensionObject");
        CHECK_EQ_INT(rr.results[2].status, UA_STATUS_BAD_NODE_ID_UNKNOWN);
    }
    check_truncations("node-opcua ReadResponse", m, len, dec_read);
    free(m);

    /* CreateMonitoredItemsResponse */
    m = unhex(nodeopcua_create_monitored_items, &len);
    struct ua_create_monitored_items_response cm;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_create_monitored_items_response(&r, &a, &cm), UA_STATUS_GOOD);
    CHECK_EQ_INT(cm.results_count, 2);
    if (cm.results_count == 2) {
        CHECK_EQ_INT(cm.results[0].monitored_item_id, 77);
        CHECK_EQ_DBL(cm.results[0].revised_sampling_interval_ms, 100, 0);
        CHECK_EQ_INT(cm.results[0].revised_queue_size, 10);
        CHECK_EQ_INT(cm.results[1].status, UA_STATUS_BAD_NODE_ID_UNKNOWN);
    }
    check_truncations("node-opcua CreateMonitoredItemsResponse", m, len,
                      dec_create_monitored_items);
    free(m);

    /* TranslateBrowsePathsToNodeIdsResponse */
    m = unhex(nodeopcua_translate, &len);
    struct ua_translate_browse_paths_response tr;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_translate_browse_paths_response(&r, &a, &tr), UA_STATUS_GOOD);
    CHECK(tr.results_count == 1 && tr.results[0].targets_count == 1);
    if (tr.results_count == 1 && tr.results[0].targets_count == 1) {
        CHECK(tr.results[0].targets[0].target_id.nodeid.ns == 3);
        CHECK_EQ_INT(tr.results[0].targets[0].target_id.nodeid.id.numeric, 5000);
        CHECK_EQ_INT(tr.results[0].targets[0].remaining_path_index, UINT32_MAX);
    }
    check_truncations("node-opcua TranslateResponse", m, len, dec_translate_browse_paths);
    free(m);

    /* OpenSecureChannelResponse */
    m = unhex(nodeopcua_open_secure_channel, &len);
    struct ua_open_secure_channel_response os;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_open_secure_channel_response(&r, &a, &os), UA_STATUS_GOOD);
    CHECK_EQ_INT(os.channel_id, 12);
    CHECK_EQ_INT(os.token_id, 1);
    CHECK_EQ_INT(os.created_at, TS_TICKS);
    CHECK_EQ_INT(os.revised_lifetime_ms, 3600000);
    CHECK_EQ_INT(os.server_nonce.length, 0);
    check_truncations("node-opcua OpenSecureChannelResponse", m, len, dec_open_secure_channel);
    free(m);

    ua_arena_free(&a);
}

/* ------------------------------------------- faults and wrong types */

static void test_service_fault(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    size_t len;
    uint8_t *fault = unhex(nodeopcua_service_fault, &len);
    union any_response out;
    char msg[128];

    /* Every decoder turns a ServiceFault into its status, header filled. */
    for (size_t i = 0; i < DECODERS_COUNT; i++) {
        struct ua_reader r;
        ua_reader_init(&r, fault, len);
        memset(&out, 0xA5, sizeof out);
        uint32_t st = decoders[i].decode(&r, &a, &out);
        CHECK_EQ_INT(st, UA_STATUS_BAD_SESSION_ID_INVALID);
        CHECK(!r.failed);
        CHECK_EQ_INT(out.header.request_handle, 9);
        CHECK_EQ_INT(out.header.service_result, UA_STATUS_BAD_SESSION_ID_INVALID);
        if (st != UA_STATUS_BAD_SESSION_ID_INVALID) fprintf(stderr, "  %s\n", decoders[i].name);
    }
    struct ua_reader r;
    ua_reader_init(&r, fault, len);
    struct ua_read_response rr;
    uint32_t st = ua_decode_read_response(&r, &a, &rr);
    CHECK_EQ_INT(rr.results_count, 0);
    CHECK(rr.results == NULL);
    CHECK_STR(ua_service_error_format(&r, st, "ReadResponse", msg, sizeof msg),
              "ReadResponse: BadSessionIdInvalid (0x80250000)");
    for (size_t i = 0; i < DECODERS_COUNT; i++)
        check_truncations_status(decoders[i].name, fault, len, decoders[i].decode,
                                 UA_STATUS_BAD_SESSION_ID_INVALID);

    /* A ServiceFault claiming Good. */
    fault[16] = fault[17] = fault[18] = fault[19] = 0; /* ServiceResult */
    ua_reader_init(&r, fault, len);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &out.publish), UA_STATUS_BAD_UNEXPECTED_ERROR);

    /* Any header: type and handle of whatever response. */
    uint32_t type_id;
    struct ua_response_header h;
    ua_reader_init(&r, publish_vector, sizeof publish_vector);
    CHECK_EQ_INT(ua_decode_any_response_header(&r, &a, &type_id, &h), UA_STATUS_GOOD);
    CHECK_EQ_INT(type_id, UA_DEFAULT_BINARY_PUBLISH_RESPONSE);
    CHECK_EQ_INT(h.request_handle, 7);
    CHECK_STR(ua_default_binary_name(type_id), "PublishResponse");
    CHECK(ua_default_binary_name(12345) == NULL);
    free(fault);

    /* The wrong response type: BadUnknownResponse with a reason. */
    for (size_t i = 0; i < DECODERS_COUNT; i++) {
        if (decoders[i].type_id == UA_DEFAULT_BINARY_PUBLISH_RESPONSE) continue;
        ua_reader_init(&r, publish_vector, sizeof publish_vector);
        CHECK_EQ_INT(decoders[i].decode(&r, &a, &out), UA_STATUS_BAD_UNKNOWN_RESPONSE);
        CHECK(r.failed && r.fail_offset == 0);
    }
    ua_reader_init(&r, publish_vector, sizeof publish_vector);
    st = ua_decode_read_response(&r, &a, &rr);
    CHECK_STR(ua_service_error_format(&r, st, "ReadResponse", msg, sizeof msg),
              "ReadResponse: unexpected response type at offset 0");

    /* A type NodeId that is not numeric ns=0. */
    const uint8_t string_type[] = {0x03, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 'x'};
    ua_reader_init(&r, string_type, sizeof string_type);
    CHECK_EQ_INT(ua_decode_read_response(&r, &a, &rr), UA_STATUS_BAD_DECODING_ERROR);
    CHECK_STR(r.fail_reason, "message type: not a numeric ns=0 NodeId");

    /* A response whose header says Bad: returned, decoding stops there. */
    uint8_t bad[sizeof publish_vector];
    memcpy(bad, publish_vector, sizeof bad);
    bad[16] = 0x00, bad[17] = 0x00, bad[18] = 0x78, bad[19] = 0x80; /* BadTooManyPublishRequests */
    ua_reader_init(&r, bad, 4 + 8 + 4 + 4 + 1 + 4 + 3);             /* the header only */
    struct ua_publish_response p;
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_BAD_TOO_MANY_PUBLISH_REQUESTS);
    CHECK(!r.failed);
    CHECK_EQ_INT(p.message.values_count, 0);
    CHECK_EQ_INT(p.header.request_handle, 7);
    ua_arena_free(&a);
}

/* ------------------------------------------- test-only response encoders */

static void put_type(struct ua_writer *w, uint32_t id)
{
    struct ua_nodeid n = ua_nodeid_numeric(0, id);
    ua_encode_nodeid(w, &n);
}

static void put_response_header(struct ua_writer *w, uint32_t type_id, uint32_t handle)
{
    put_type(w, type_id);
    ua_write_i64(w, TS_TICKS);
    ua_write_u32(w, handle);
    ua_write_u32(w, UA_STATUS_GOOD);
    ua_write_u8(w, 0);  /* diagnostics */
    ua_write_i32(w, 2); /* string table */
    ua_encode_string(w, ua_string_from_cstr("a"));
    ua_encode_string(w, ua_string_from_cstr("bc"));
    struct ua_extension_object none = {0};
    ua_encode_extension_object(w, &none);
}

/* A DataChangeNotification ExtensionObject over values[0..n). */
static void put_data_change(struct ua_writer *w, const struct ua_monitored_item_value *values,
                            size_t n)
{
    put_type(w, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION);
    ua_write_u8(w, 1);
    size_t len_at = ua_write_reserve(w, 4);
    ua_write_i32(w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        ua_write_u32(w, values[i].client_handle);
        ua_encode_datavalue(w, &values[i].value);
    }
    ua_write_i32(w, 0);
    ua_write_patch_u32(w, len_at, (uint32_t)(w->len - len_at - 4));
}

/* Notification data kinds for put_publish. */
#define EXTRA_STATUS_CHANGE 0x1
#define EXTRA_UNKNOWN 0x2
#define EXTRA_XML_DATA_CHANGE 0x4
#define EXTRA_SECOND_DATA_CHANGE 0x8

/* PublishResponse with the values in one DataChangeNotification (split in
 * two with EXTRA_SECOND_DATA_CHANGE) plus the extras asked for. */
static void put_publish(struct ua_writer *w, uint32_t sequence_number,
                        const struct ua_monitored_item_value *values, size_t n, unsigned extras)
{
    put_response_header(w, UA_DEFAULT_BINARY_PUBLISH_RESPONSE, 11);
    ua_write_u32(w, 3); /* subscription */
    ua_write_i32(w, -1);
    ua_write_bool(w, true);
    ua_write_u32(w, sequence_number);
    ua_write_i64(w, TS_TICKS);
    int32_t count = (n ? 1 : 0) + !!(extras & EXTRA_STATUS_CHANGE) + !!(extras & EXTRA_UNKNOWN) +
                    !!(extras & EXTRA_XML_DATA_CHANGE) +
                    (n && (extras & EXTRA_SECOND_DATA_CHANGE) ? 1 : 0);
    ua_write_i32(w, count);
    if (extras & EXTRA_UNKNOWN) { /* ns=1;i=811 with a body: not ours */
        struct ua_extension_object e = {.type_id = ua_nodeid_numeric(1, 811),
                                        .encoding = UA_EXTENSION_OBJECT_BINARY,
                                        .body = {"\x01\x02", 2}};
        ua_encode_extension_object(w, &e);
    }
    if (n) {
        size_t first = (extras & EXTRA_SECOND_DATA_CHANGE) ? n / 2 : n;
        put_data_change(w, values, first);
        if (extras & EXTRA_SECOND_DATA_CHANGE) put_data_change(w, values + first, n - first);
    }
    if (extras & EXTRA_XML_DATA_CHANGE) {
        struct ua_extension_object e = {
            .type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION),
            .encoding = UA_EXTENSION_OBJECT_XML,
            .body = {"<x/>", 4}};
        ua_encode_extension_object(w, &e);
    }
    if (extras & EXTRA_STATUS_CHANGE) {
        put_type(w, UA_DEFAULT_BINARY_STATUS_CHANGE_NOTIFICATION);
        ua_write_u8(w, 1);
        ua_write_i32(w, 5);
        ua_write_u32(w, UA_STATUS_BAD_SHUTDOWN);
        ua_write_u8(w, 0);
    }
    ua_write_i32(w, 1);
    ua_write_u32(w, UA_STATUS_BAD_SEQUENCE_NUMBER_UNKNOWN);
    ua_write_i32(w, -1);
}

static void test_publish_round_trip(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);

    static int32_t ints[4] = {1, 2, 3, 4};
    struct ua_monitored_item_value values[6] = {0};
    values[0].client_handle = 100;
    values[0].value = (struct ua_datavalue){.mask = 0x0F,
                                            .value = ua_variant_double(1.25),
                                            .status = 0,
                                            .source_timestamp = TS_TICKS,
                                            .server_timestamp = TS_TICKS + 1};
    values[1].client_handle = 101;
    values[1].value = (struct ua_datavalue){
        .mask = 0x03, .value = ua_variant_boolean(true), .status = 0x00A80000u};
    values[2].client_handle = 102;
    values[2].value = (struct ua_datavalue){
        .mask = 0x01, .value = ua_variant_string(ua_string_from_cstr("hello"))};
    values[3].client_handle = 103;
    values[3].value =
        (struct ua_datavalue){.mask = 0x01, .value = ua_variant_array(UA_TYPE_INT32, ints, 4)};
    values[4].client_handle = 104;
    values[4].value = (struct ua_datavalue){.mask = 0x02, .status = UA_STATUS_BAD_NOT_READABLE};
    values[5].client_handle = 105;
    values[5].value = (struct ua_datavalue){
        .mask = 0x05, .value = ua_variant_int64(-5), .source_timestamp = TS_TICKS};

    unsigned extras_list[] = {0, EXTRA_STATUS_CHANGE | EXTRA_UNKNOWN | EXTRA_XML_DATA_CHANGE,
                              EXTRA_SECOND_DATA_CHANGE | EXTRA_UNKNOWN};
    for (size_t k = 0; k < sizeof extras_list / sizeof extras_list[0]; k++) {
        unsigned extras = extras_list[k];
        ua_writer_reset(&w);
        put_publish(&w, 77, values, 6, extras);
        CHECK(ua_writer_ok(&w));
        struct ua_reader r;
        ua_reader_init(&r, w.data, w.len);
        struct ua_publish_response p;
        CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_GOOD);
        CHECK_EQ_INT(p.header.string_table_count, 2);
        CHECK(ua_string_equal_cstr(p.header.string_table[1], "bc"));
        CHECK_EQ_INT(p.subscription_id, 3);
        CHECK_EQ_INT(p.available_sequence_numbers_count, 0);
        CHECK(p.more_notifications);
        CHECK_EQ_INT(p.message.sequence_number, 77);
        CHECK_EQ_INT(p.message.values_count, 6);
        for (size_t i = 0; i < 6 && i < p.message.values_count; i++) {
            CHECK_EQ_INT(p.message.values[i].client_handle, values[i].client_handle);
            CHECK(ua_datavalue_equal(&p.message.values[i].value, &values[i].value));
        }
        CHECK_EQ_INT(p.message.has_status_change, !!(extras & EXTRA_STATUS_CHANGE));
        if (extras & EXTRA_STATUS_CHANGE)
            CHECK_EQ_INT(p.message.status_change, UA_STATUS_BAD_SHUTDOWN);
        CHECK_EQ_INT(p.message.unknown_skipped,
                     !!(extras & EXTRA_UNKNOWN) + !!(extras & EXTRA_XML_DATA_CHANGE));
        CHECK_EQ_INT(p.results_count, 1);
        CHECK_EQ_INT(p.results[0], UA_STATUS_BAD_SEQUENCE_NUMBER_UNKNOWN);
        check_truncations("PublishResponse round trip", w.data, w.len, dec_publish);
        ua_arena_reset(&a);
    }

    /* A keep-alive: no notification data. */
    ua_writer_reset(&w);
    put_publish(&w, 78, NULL, 0, 0);
    struct ua_reader r;
    ua_reader_init(&r, w.data, w.len);
    struct ua_publish_response p;
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_GOOD);
    CHECK_EQ_INT(p.message.notification_data_count, 0);
    CHECK_EQ_INT(p.message.values_count, 0);
    CHECK(p.message.values == NULL);

    /* Republish carries the same NotificationMessage. */
    ua_writer_reset(&w);
    put_response_header(&w, UA_DEFAULT_BINARY_REPUBLISH_RESPONSE, 12);
    ua_write_u32(&w, 9);
    ua_write_i64(&w, TS_TICKS);
    ua_write_i32(&w, 1);
    put_data_change(&w, values, 2);
    struct ua_republish_response rp;
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_republish_response(&r, &a, &rp), UA_STATUS_GOOD);
    CHECK_EQ_INT(rp.message.sequence_number, 9);
    CHECK_EQ_INT(rp.message.values_count, 2);
    check_truncations("RepublishResponse", w.data, w.len, dec_republish);

    ua_writer_free(&w);
    ua_arena_free(&a);
}

static void test_other_round_trips(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    struct ua_reader r;

    /* CreateSubscriptionResponse */
    put_response_header(&w, UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE, 1);
    ua_write_u32(&w, 17);
    ua_write_double(&w, 250.0);
    ua_write_u32(&w, 30);
    ua_write_u32(&w, 10);
    struct ua_create_subscription_response cs;
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_create_subscription_response(&r, &a, &cs), UA_STATUS_GOOD);
    CHECK_EQ_INT(cs.subscription_id, 17);
    CHECK_EQ_DBL(cs.revised_publishing_interval_ms, 250.0, 0);
    CHECK_EQ_INT(cs.revised_lifetime_count, 30);
    CHECK_EQ_INT(cs.revised_max_keep_alive_count, 10);
    check_truncations("CreateSubscriptionResponse", w.data, w.len, dec_create_subscription);

    /* ActivateSessionResponse */
    ua_writer_reset(&w);
    put_response_header(&w, UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE, 2);
    ua_encode_string(&w, (struct ua_string){"\x01\x02\x03\x04", 4});
    ua_write_i32(&w, 1);
    ua_write_u32(&w, UA_STATUS_GOOD);
    ua_write_i32(&w, 1);
    ua_write_u8(&w, 0x20); /* DiagnosticInfo: inner status */
    ua_write_u32(&w, UA_STATUS_BAD_INTERNAL_ERROR);
    struct ua_activate_session_response as;
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_activate_session_response(&r, &a, &as), UA_STATUS_GOOD);
    CHECK_EQ_INT(as.server_nonce.length, 4);
    CHECK_EQ_INT(as.results_count, 1);
    check_truncations("ActivateSessionResponse", w.data, w.len, dec_activate_session);

    /* WriteResponse and DeleteSubscriptionsResponse */
    for (int k = 0; k < 2; k++) {
        ua_writer_reset(&w);
        put_response_header(&w,
                            k ? UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE
                              : UA_DEFAULT_BINARY_WRITE_RESPONSE,
                            3);
        ua_write_i32(&w, 2);
        ua_write_u32(&w, UA_STATUS_GOOD);
        ua_write_u32(&w, UA_STATUS_BAD_NOT_WRITABLE);
        ua_write_i32(&w, 0);
        struct ua_status_list_response sl;
        ua_reader_init(&r, w.data, w.len);
        uint32_t st = k ? ua_decode_delete_subscriptions_response(&r, &a, &sl)
                        : ua_decode_write_response(&r, &a, &sl);
        CHECK_EQ_INT(st, UA_STATUS_GOOD);
        CHECK(sl.results_count == 2 && sl.results[1] == UA_STATUS_BAD_NOT_WRITABLE);
        check_truncations(k ? "DeleteSubscriptionsResponse" : "WriteResponse", w.data, w.len,
                          k ? dec_delete_subscriptions : dec_write);
    }

    /* BrowseNextResponse: an empty result list, null arrays. */
    ua_writer_reset(&w);
    put_response_header(&w, UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE, 4);
    ua_write_i32(&w, 1);
    ua_write_u32(&w, UA_STATUS_GOOD);
    ua_write_i32(&w, -1); /* continuation point null */
    ua_write_i32(&w, -1); /* references null */
    ua_write_i32(&w, -1);
    struct ua_browse_response bn;
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_browse_next_response(&r, &a, &bn), UA_STATUS_GOOD);
    CHECK(bn.results_count == 1 && bn.results[0].references_count == 0 &&
          ua_string_is_null(bn.results[0].continuation_point));
    check_truncations("BrowseNextResponse", w.data, w.len, dec_browse_next);

    /* CloseSessionResponse */
    ua_writer_reset(&w);
    put_response_header(&w, UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE, 5);
    struct ua_response_header h;
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_close_session_response(&r, &a, &h), UA_STATUS_GOOD);
    CHECK_EQ_INT(h.request_handle, 5);
    check_truncations("CloseSessionResponse", w.data, w.len, dec_close_session);

    ua_writer_free(&w);
    ua_arena_free(&a);
}

/* ------------------------------------------------------ hostile input */

static void test_hostile(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    struct ua_reader r;
    struct ua_publish_response p;

    /* A DataChangeNotification claiming 2^31-1 items in a short body. */
    put_response_header(&w, UA_DEFAULT_BINARY_PUBLISH_RESPONSE, 1);
    ua_write_u32(&w, 1);
    ua_write_i32(&w, 0);
    ua_write_bool(&w, false);
    ua_write_u32(&w, 1);
    ua_write_i64(&w, TS_TICKS);
    ua_write_i32(&w, 1);
    put_type(&w, UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION);
    ua_write_u8(&w, 1);
    ua_write_i32(&w, 8);
    size_t body_at = w.len;
    ua_write_i32(&w, INT32_MAX);
    ua_write_u32(&w, 0);
    ua_write_i32(&w, 0);
    ua_write_i32(&w, 0);
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_BAD_DECODING_ERROR);
    CHECK_STR(r.fail_reason, "array: length past the end");
    CHECK_EQ_INT(r.fail_offset, body_at); /* in the message's coordinates */
    CHECK(a.allocated_bytes < 1024 * 1024);
    char msg[160];
    ua_service_error_format(&r, UA_STATUS_BAD_DECODING_ERROR, "PublishResponse", msg, sizeof msg);
    char want[160];
    snprintf(want, sizeof want, "PublishResponse: array: length past the end at offset %zu",
             body_at);
    CHECK_STR(msg, want);

    /* A negative item count. */
    put_u32le(w.data + body_at, (uint32_t)-2);
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &a, &p), UA_STATUS_BAD_DECODING_ERROR);
    CHECK_STR(r.fail_reason, "array: negative length");

    /* The arena limit: many values into a tiny arena. */
    struct ua_monitored_item_value many[400];
    for (int i = 0; i < 400; i++)
        many[i] = (struct ua_monitored_item_value){
            .client_handle = (uint32_t)i, .value = {.mask = 1, .value = ua_variant_double(i)}};
    ua_writer_reset(&w);
    put_publish(&w, 1, many, 400, 0);
    struct ua_arena tiny;
    ua_arena_init(&tiny, 4096, 8192);
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_publish_response(&r, &tiny, &p), UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED);
    CHECK_STR(r.fail_reason, "decoded data past the arena limit");
    CHECK(tiny.allocated_bytes <= 8192);
    ua_arena_free(&tiny);

    /* Huge counts in every decoder's arrays are refused before allocating. */
    for (size_t i = 0; i < DECODERS_COUNT; i++) {
        ua_writer_reset(&w);
        put_response_header(&w, decoders[i].type_id, 1);
        size_t header_len = w.len;
        for (int k = 0; k < 64; k++)
            ua_write_i32(&w, INT32_MAX - k);
        for (size_t cut = header_len; cut <= w.len; cut += 4) {
            union any_response out;
            ua_reader_init(&r, w.data, cut);
            uint32_t st = decoders[i].decode(&r, &a, &out);
            CHECK(st == UA_STATUS_BAD_DECODING_ERROR || st == UA_STATUS_GOOD);
        }
        CHECK(a.allocated_bytes < 1024 * 1024);
        ua_arena_reset(&a);
    }

    /* EUInformation / Range helpers on wrong or short values. */
    struct ua_extension_object eo = {.type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_RANGE),
                                     .encoding = UA_EXTENSION_OBJECT_BINARY,
                                     .body = {"\x00\x00\x00\x00\x00\x00\x00\x00\x00", 9}};
    struct ua_variant v = {.type = UA_TYPE_EXTENSIONOBJECT};
    v.as.extension_object = &eo;
    struct ua_range range;
    const char *why = NULL;
    CHECK(!ua_variant_to_range(&v, &range, &why));
    CHECK_STR(why, "Range: truncated body");
    eo.encoding = UA_EXTENSION_OBJECT_XML;
    CHECK(!ua_variant_to_range(&v, &range, &why));
    CHECK_STR(why, "not binary encoded");
    eo.encoding = UA_EXTENSION_OBJECT_BINARY;
    eo.type_id = ua_nodeid_numeric(0, UA_DEFAULT_BINARY_EU_INFORMATION);
    struct ua_eu_information eu;
    CHECK(!ua_variant_to_eu_information(&v, &eu, &why));
    CHECK_STR(why, "EUInformation: truncated or malformed body");
    struct ua_variant d = ua_variant_double(1);
    CHECK(!ua_variant_to_eu_information(&d, &eu, NULL));

    ua_writer_free(&w);
    ua_arena_free(&a);
}

/* ------------------------------------------------------- decoding rate */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_publish_rate(void)
{
    enum { ITEMS = 10000 };
    static struct ua_monitored_item_value values[ITEMS];
    for (int i = 0; i < ITEMS; i++) {
        values[i].client_handle = (uint32_t)i;
        values[i].value =
            (struct ua_datavalue){.mask = UA_DATAVALUE_HAS_VALUE | UA_DATAVALUE_HAS_STATUS |
                                          UA_DATAVALUE_HAS_SOURCE_TIMESTAMP,
                                  .value = ua_variant_double(i * 0.5),
                                  .source_timestamp = TS_TICKS + i};
    }
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    put_publish(&w, 1, values, ITEMS, 0);
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    size_t decoded = 0;
    bool ok = true;
    double start = now_s(), elapsed;
    do {
        for (int k = 0; k < 10; k++) {
            struct ua_reader r;
            ua_reader_init(&r, w.data, w.len);
            struct ua_publish_response p;
            ok &= ua_decode_publish_response(&r, &a, &p) == UA_STATUS_GOOD;
            ok &= p.message.values_count == ITEMS;
            decoded += p.message.values_count;
            ua_arena_reset(&a);
        }
        elapsed = now_s() - start;
    } while (elapsed < 0.5);
    CHECK(ok);
    printf("Publish decoding: %.2f million values/s (%zu values, %zu bytes per value, %.2f s)\n",
           (double)decoded / elapsed / 1e6, decoded, w.len / ITEMS, elapsed);
    ua_arena_free(&a);
    ua_writer_free(&w);
}

/* ------------------------------------------------------------ Write */

/* WriteRequest written by node-opcua 2.163.1 (as the vectors above; header
 * handle 1, 10 s timeout hint, an empty (not null) AuditEntryId) with five
 * WriteValues, attribute Value, null IndexRange, a DataValue holding only
 * the Variant: ns=1;s=Writable.Double Double 7.25; ns=1;i=42 Int32 -5;
 * i=85 Boolean true; ns=2;i=1000000 Float 0.5; ns=1;s=U64 UInt64
 * 0xFFFFFFFFFFFFFFFE. */
static const char nodeopcua_write_request[] =
    "0100a1020000e034b058283dda0101000000000000000000000010270000000000050000000301000f0000005772"
    "697461626c652e446f75626c650d000000ffffffff010b0000000000001d4001012a000d000000ffffffff0106fb"
    "ffffff00550d000000ffffffff01010102020040420f000d000000ffffffff010a0000003f030100030000005536"
    "340d000000ffffffff0109feffffffffffffff";

/* WriteResponse written by node-opcua 2.163.1: handle 9, results [Good,
 * BadNotWritable, BadTypeMismatch, BadUserAccessDenied, BadOutOfRange],
 * DiagnosticInfos [{InnerStatusCode BadNotWritable}, {}]. */
static const char nodeopcua_write_response[] =
    "0100a402e034b058283dda0109000000000000000000000000000000050000000000000000003b80000074800000"
    "1f8000003c80020000002000003b8000";

static struct ua_write_value write_value(struct ua_nodeid node, struct ua_variant v)
{
    struct ua_write_value wv;
    memset(&wv, 0, sizeof wv);
    wv.node_id = node;
    wv.attribute_id = UA_ATTRIBUTE_VALUE;
    wv.index_range = UA_STRING_NULL;
    wv.value.mask = UA_DATAVALUE_HAS_VALUE;
    wv.value.value = v;
    return wv;
}

static void test_write_request_vectors(void)
{
    struct ua_request_header h = request_header();
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);

    /* By hand from Part 4 5.10.4 / Part 6: one WriteValue. */
    struct ua_write_value one = write_value(ua_nodeid_numeric(1, 42), ua_variant_double(7.25));
    struct ua_write_request req = {.nodes_count = 1, .nodes = &one};
    /* clang-format off */
    const uint8_t want[] = {
        0x01, 0x00, 0xA1, 0x02,                         /* i=673 WriteRequest */
        REQUEST_HEADER_BYTES,
        0x01, 0x00, 0x00, 0x00,                         /* NodesToWrite: 1 */
        0x01, 0x01, 0x2A, 0x00,                         /* ns=1;i=42 (four-byte) */
        0x0D, 0x00, 0x00, 0x00,                         /* AttributeId Value (13) */
        0xFF, 0xFF, 0xFF, 0xFF,                         /* IndexRange: null */
        0x01,                                           /* DataValue: Value only */
        0x0B,                                           /* Variant: Double */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1D, 0x40, /* 7.25 */
    };
    /* clang-format on */
    CHECK(ua_encode_write_request(&w, &h, &req));
    check_bytes("WriteRequest", &w, want, sizeof want);

    /* Byte-for-byte what node-opcua writes for the same five WriteValues. */
    struct ua_write_value five[5] = {
        write_value(ua_nodeid_string(1, "Writable.Double"), ua_variant_double(7.25)),
        write_value(ua_nodeid_numeric(1, 42), ua_variant_int32(-5)),
        write_value(ua_nodeid_numeric(0, 85), ua_variant_boolean(true)),
        write_value(ua_nodeid_numeric(2, 1000000), (struct ua_variant){.type = UA_TYPE_FLOAT}),
        write_value(ua_nodeid_string(1, "U64"), (struct ua_variant){.type = UA_TYPE_UINT64}),
    };
    five[3].value.value.as.f32 = 0.5f;
    five[4].value.value.as.uint64 = 0xFFFFFFFFFFFFFFFEull;
    h.audit_entry_id = (struct ua_string){"", 0}; /* node-opcua writes it empty, not null */
    struct ua_write_request req5 = {.nodes_count = 5, .nodes = five};
    size_t len;
    uint8_t *m = unhex(nodeopcua_write_request, &len);
    ua_writer_reset(&w);
    CHECK(ua_encode_write_request(&w, &h, &req5));
    check_bytes("node-opcua WriteRequest", &w, m, len);
    free(m);

    /* NULL nodes with a count, and a writer too small: refused, no overrun. */
    struct ua_write_request bad = {.nodes_count = 2, .nodes = NULL};
    ua_writer_reset(&w);
    CHECK(!ua_encode_write_request(&w, &h, &bad));
    uint8_t small[40];
    struct ua_writer f;
    ua_writer_init_fixed(&f, small, sizeof small);
    CHECK(!ua_encode_write_request(&f, &h, &req5));
    CHECK(!ua_writer_ok(&f));
    ua_writer_free(&w);
}

static void test_write_response_vectors(void)
{
    struct ua_arena a;
    ua_arena_init(&a, 0, ARENA_LIMIT);
    size_t len;
    uint8_t *m = unhex(nodeopcua_write_response, &len);
    struct ua_reader r;
    struct ua_status_list_response sl;
    ua_reader_init(&r, m, len);
    CHECK_EQ_INT(ua_decode_write_response(&r, &a, &sl), UA_STATUS_GOOD);
    CHECK_EQ_INT(sl.header.request_handle, 9);
    CHECK_EQ_INT(sl.results_count, 5);
    if (sl.results_count == 5) {
        CHECK_EQ_INT(sl.results[0], UA_STATUS_GOOD);
        CHECK_EQ_INT(sl.results[1], UA_STATUS_BAD_NOT_WRITABLE);
        CHECK_EQ_INT(sl.results[2], UA_STATUS_BAD_TYPE_MISMATCH);
        CHECK_EQ_INT(sl.results[3], UA_STATUS_BAD_USER_ACCESS_DENIED);
        CHECK_EQ_INT(sl.results[4], 0x803C0000u);
        CHECK_STR(ua_status_name(sl.results[1]), "BadNotWritable");
        CHECK_STR(ua_status_name(sl.results[2]), "BadTypeMismatch");
        CHECK_STR(ua_status_name(sl.results[3]), "BadUserAccessDenied");
        CHECK_STR(ua_status_name(sl.results[4]), "BadOutOfRange");
    }
    CHECK_EQ_INT(r.pos, len);
    check_truncations("node-opcua WriteResponse", m, len, dec_write);

    /* A Bad ServiceResult (BadUserAccessDenied for the whole request): the
     * decoder returns it with the reader not failed. */
    struct ua_writer w;
    ua_writer_init(&w, WRITER_LIMIT);
    ua_write_bytes(&w, m, 12); /* type id, timestamp */
    ua_write_u32(&w, 9);       /* handle */
    ua_write_u32(&w, UA_STATUS_BAD_USER_ACCESS_DENIED);
    ua_write_bytes(&w, m + 20, len - 20); /* the rest as before */
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_write_response(&r, &a, &sl), UA_STATUS_BAD_USER_ACCESS_DENIED);
    CHECK(!r.failed);

    /* A results count past the end, a negative one, and the wrong type. */
    ua_writer_reset(&w);
    ua_write_bytes(&w, m, 28);
    ua_write_i32(&w, INT32_MAX);
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_write_response(&r, &a, &sl), UA_STATUS_BAD_DECODING_ERROR);
    CHECK_STR(r.fail_reason, "array: length past the end");
    CHECK_EQ_INT(r.fail_offset, 28);
    ua_writer_reset(&w);
    ua_write_bytes(&w, m, 28);
    ua_write_i32(&w, -7);
    ua_reader_init(&r, w.data, w.len);
    CHECK_EQ_INT(ua_decode_write_response(&r, &a, &sl), UA_STATUS_BAD_DECODING_ERROR);
    CHECK_STR(r.fail_reason, "array: negative length");
    ua_reader_init(&r, m, len);
    struct ua_read_response rr;
    CHECK_EQ_INT(ua_decode_read_response(&r, &a, &rr), UA_STATUS_BAD_UNKNOWN_RESPONSE);
    ua_writer_free(&w);
    free(m);
    ua_arena_free(&a);
}

int main(void)
{
    test_read_request_vector();
    test_open_secure_channel_request_vector();
    test_activate_session_request_vector();
    test_create_monitored_items_request_vector();
    test_small_request_vectors();
    test_publish_response_vector();
    test_nodeopcua_vectors();
    test_write_request_vectors();
    test_write_response_vectors();
    test_service_fault();
    test_publish_round_trip();
    test_other_round_trips();
    test_hostile();
    test_publish_rate();
    return test_summary();
}
