/* OPC UA service messages (see ua_services.h): the shared machinery (body
 * start, request and response headers, arrays, errors) and the secure
 * channel, discovery and session services. Browse, Read and Write are in
 * ua_services_nodes.c, subscriptions and Publish in
 * ua_services_subscription.c. */
#include "drivers/opcua/ua_services.h"

#include <inttypes.h>
#include <stdio.h>

#include "drivers/opcua/ua_services_internal.h"

/* ------------------------------------------------------------------ names */

const char *ua_default_binary_name(uint32_t id)
{
    switch (id) {
    case UA_DEFAULT_BINARY_ANONYMOUS_IDENTITY_TOKEN:
        return "AnonymousIdentityToken";
    case UA_DEFAULT_BINARY_USER_NAME_IDENTITY_TOKEN:
        return "UserNameIdentityToken";
    case UA_DEFAULT_BINARY_REQUEST_HEADER:
        return "RequestHeader";
    case UA_DEFAULT_BINARY_RESPONSE_HEADER:
        return "ResponseHeader";
    case UA_DEFAULT_BINARY_SERVICE_FAULT:
        return "ServiceFault";
    case UA_DEFAULT_BINARY_GET_ENDPOINTS_REQUEST:
        return "GetEndpointsRequest";
    case UA_DEFAULT_BINARY_GET_ENDPOINTS_RESPONSE:
        return "GetEndpointsResponse";
    case UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_REQUEST:
        return "OpenSecureChannelRequest";
    case UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_RESPONSE:
        return "OpenSecureChannelResponse";
    case UA_DEFAULT_BINARY_CLOSE_SECURE_CHANNEL_REQUEST:
        return "CloseSecureChannelRequest";
    case UA_DEFAULT_BINARY_CLOSE_SECURE_CHANNEL_RESPONSE:
        return "CloseSecureChannelResponse";
    case UA_DEFAULT_BINARY_CREATE_SESSION_REQUEST:
        return "CreateSessionRequest";
    case UA_DEFAULT_BINARY_CREATE_SESSION_RESPONSE:
        return "CreateSessionResponse";
    case UA_DEFAULT_BINARY_ACTIVATE_SESSION_REQUEST:
        return "ActivateSessionRequest";
    case UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE:
        return "ActivateSessionResponse";
    case UA_DEFAULT_BINARY_CLOSE_SESSION_REQUEST:
        return "CloseSessionRequest";
    case UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE:
        return "CloseSessionResponse";
    case UA_DEFAULT_BINARY_BROWSE_REQUEST:
        return "BrowseRequest";
    case UA_DEFAULT_BINARY_BROWSE_RESPONSE:
        return "BrowseResponse";
    case UA_DEFAULT_BINARY_BROWSE_NEXT_REQUEST:
        return "BrowseNextRequest";
    case UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE:
        return "BrowseNextResponse";
    case UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_REQUEST:
        return "TranslateBrowsePathsToNodeIdsRequest";
    case UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_RESPONSE:
        return "TranslateBrowsePathsToNodeIdsResponse";
    case UA_DEFAULT_BINARY_READ_REQUEST:
        return "ReadRequest";
    case UA_DEFAULT_BINARY_READ_RESPONSE:
        return "ReadResponse";
    case UA_DEFAULT_BINARY_WRITE_REQUEST:
        return "WriteRequest";
    case UA_DEFAULT_BINARY_WRITE_RESPONSE:
        return "WriteResponse";
    case UA_DEFAULT_BINARY_DATA_CHANGE_FILTER:
        return "DataChangeFilter";
    case UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_REQUEST:
        return "CreateMonitoredItemsRequest";
    case UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_RESPONSE:
        return "CreateMonitoredItemsResponse";
    case UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_REQUEST:
        return "CreateSubscriptionRequest";
    case UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE:
        return "CreateSubscriptionResponse";
    case UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION:
        return "DataChangeNotification";
    case UA_DEFAULT_BINARY_STATUS_CHANGE_NOTIFICATION:
        return "StatusChangeNotification";
    case UA_DEFAULT_BINARY_PUBLISH_REQUEST:
        return "PublishRequest";
    case UA_DEFAULT_BINARY_PUBLISH_RESPONSE:
        return "PublishResponse";
    case UA_DEFAULT_BINARY_REPUBLISH_REQUEST:
        return "RepublishRequest";
    case UA_DEFAULT_BINARY_REPUBLISH_RESPONSE:
        return "RepublishResponse";
    case UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_REQUEST:
        return "DeleteSubscriptionsRequest";
    case UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE:
        return "DeleteSubscriptionsResponse";
    case UA_DEFAULT_BINARY_RANGE:
        return "Range";
    case UA_DEFAULT_BINARY_EU_INFORMATION:
        return "EUInformation";
    case UA_DEFAULT_BINARY_EVENT_NOTIFICATION_LIST:
        return "EventNotificationList";
    default:
        return NULL;
    }
}

const char *ua_service_error_format(const struct ua_reader *r, uint32_t status, const char *what,
                                    char *buf, size_t cap)
{
    if (!buf || cap == 0) return buf;
    if (!what) what = "response";
    char code[64];
    if (r && r->failed) {
        snprintf(buf, cap, "%s: %s at offset %zu", what,
                 r->fail_reason ? r->fail_reason : "malformed", r->fail_offset);
    } else {
        snprintf(buf, cap, "%s: %s", what, ua_status_format(status, code, sizeof code));
    }
    return buf;
}

/* --------------------------------------------------------- encode helpers */

bool ua_svc_encode_string(struct ua_writer *w, struct ua_string s)
{
    if (!s.data) return ua_write_i32(w, -1);
    return ua_encode_string(w, s);
}

bool ua_svc_encode_count(struct ua_writer *w, size_t count, const void *elems)
{
    if (count > INT32_MAX) return ua_writer_fail(w, "array: more than INT32_MAX elements");
    if (count > 0 && !elems) return ua_writer_fail(w, "array: NULL elements");
    return ua_write_i32(w, (int32_t)count);
}

bool ua_svc_encode_string_array(struct ua_writer *w, const struct ua_string *s, size_t count)
{
    if (!ua_svc_encode_count(w, count, s)) return false;
    for (size_t i = 0; i < count; i++)
        ua_svc_encode_string(w, s[i]);
    return ua_writer_ok(w);
}

bool ua_svc_encode_qualified_name(struct ua_writer *w, const struct ua_qualified_name *q)
{
    ua_write_u16(w, q->ns);
    return ua_svc_encode_string(w, q->name);
}

bool ua_svc_encode_read_value_id(struct ua_writer *w, const struct ua_read_value_id *v)
{
    ua_encode_nodeid(w, &v->node_id);
    ua_write_u32(w, v->attribute_id);
    ua_svc_encode_string(w, v->index_range);
    return ua_svc_encode_qualified_name(w, &v->data_encoding);
}

static bool encode_type_id(struct ua_writer *w, uint32_t type_id)
{
    struct ua_nodeid id = ua_nodeid_numeric(0, type_id);
    return ua_encode_nodeid(w, &id);
}

size_t ua_svc_encode_extension_begin(struct ua_writer *w, uint32_t type_id)
{
    encode_type_id(w, type_id);
    ua_write_u8(w, UA_EXTENSION_OBJECT_BINARY);
    return ua_write_reserve(w, 4);
}

bool ua_svc_encode_extension_end(struct ua_writer *w, size_t length_offset)
{
    if (!ua_writer_ok(w)) return false;
    size_t body = w->len - length_offset - 4;
    if (body > INT32_MAX) return ua_writer_fail(w, "ExtensionObject: body too long");
    return ua_write_patch_u32(w, length_offset, (uint32_t)body);
}

static bool encode_request_header(struct ua_writer *w, const struct ua_request_header *h)
{
    ua_encode_nodeid(w, &h->authentication_token);
    ua_write_i64(w, h->timestamp);
    ua_write_u32(w, h->request_handle);
    ua_write_u32(w, h->return_diagnostics);
    ua_svc_encode_string(w, h->audit_entry_id);
    ua_write_u32(w, h->timeout_hint_ms);
    return ua_encode_extension_object(w, &h->additional_header);
}

bool ua_svc_encode_begin(struct ua_writer *w, uint32_t type_id, const struct ua_request_header *h)
{
    encode_type_id(w, type_id);
    if (h) encode_request_header(w, h);
    return ua_writer_ok(w);
}

/* --------------------------------------------------------- decode helpers */

uint32_t ua_svc_decode_end(const struct ua_reader *r)
{
    if (!r->failed) return UA_STATUS_GOOD;
    if (r->fail_reason && strcmp(r->fail_reason, UA_SVC_ARENA_REASON) == 0)
        return UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED;
    return UA_STATUS_BAD_DECODING_ERROR;
}

bool ua_svc_decode_array_alloc(struct ua_reader *r, struct ua_arena *a, size_t min_wire_bytes,
                               size_t elem_size, size_t *count, void **elems)
{
    *count = 0;
    *elems = NULL;
    size_t at = r->pos;
    int32_t n;
    if (!ua_decode_array_count(r, min_wire_bytes, &n)) return false;
    if (n <= 0) return true;
    void *p = ua_arena_alloc_array(a, (size_t)n, elem_size);
    if (!p) return ua_reader_fail_at(r, at, UA_SVC_ARENA_REASON);
    *count = (size_t)n;
    *elems = p;
    return true;
}

bool ua_svc_decode_string_array(struct ua_reader *r, struct ua_arena *a, size_t *count,
                                struct ua_string **elems)
{
    if (!ua_svc_decode_array_alloc(r, a, 4, sizeof **elems, count, (void **)elems)) return false;
    for (size_t i = 0; i < *count && !r->failed; i++)
        ua_decode_string(r, &(*elems)[i]);
    return !r->failed;
}

bool ua_svc_decode_u32_array(struct ua_reader *r, struct ua_arena *a, size_t *count,
                             uint32_t **elems)
{
    if (!ua_svc_decode_array_alloc(r, a, 4, sizeof **elems, count, (void **)elems)) return false;
    for (size_t i = 0; i < *count; i++)
        (*elems)[i] = ua_read_u32(r);
    return !r->failed;
}

bool ua_svc_skip_diagnostic_infos(struct ua_reader *r, struct ua_arena *a)
{
    int32_t n;
    if (!ua_decode_array_count(r, 1, &n)) return false;
    struct ua_diagnostic_info d;
    for (int32_t i = 0; i < n && !r->failed; i++)
        ua_decode_diagnostic_info(r, a, &d);
    return !r->failed;
}

void ua_svc_body_reader(const struct ua_reader *r, struct ua_string body, struct ua_reader *sub)
{
    ua_reader_init(sub, body.data, body.length > 0 ? (size_t)body.length : 0);
    sub->depth = r->depth;
}

bool ua_svc_body_failed(struct ua_reader *r, const struct ua_reader *sub)
{
    size_t base = r->pos;
    if (sub->data && r->data && sub->data >= r->data && sub->data <= r->data + r->len)
        base = (size_t)(sub->data - r->data);
    return ua_reader_fail_at(r, base + sub->fail_offset,
                             sub->fail_reason ? sub->fail_reason : "malformed body");
}

bool ua_svc_extension_is(const struct ua_extension_object *e, uint32_t type_id)
{
    return e->encoding == UA_EXTENSION_OBJECT_BINARY && e->type_id.ns == 0 &&
           e->type_id.type == UA_NODEID_NUMERIC && e->type_id.id.numeric == type_id;
}

bool ua_decode_message_type(struct ua_reader *r, uint32_t *type_id)
{
    size_t at = r->pos;
    struct ua_nodeid id;
    *type_id = 0;
    if (!ua_decode_nodeid(r, &id)) return false;
    if (id.ns != 0 || id.type != UA_NODEID_NUMERIC)
        return ua_reader_fail_at(r, at, "message type: not a numeric ns=0 NodeId");
    *type_id = id.id.numeric;
    return true;
}

static bool decode_response_header(struct ua_reader *r, struct ua_arena *a,
                                   struct ua_response_header *h)
{
    h->timestamp = ua_read_i64(r);
    h->request_handle = ua_read_u32(r);
    h->service_result = ua_read_u32(r);
    if (!ua_decode_diagnostic_info(r, a, &h->service_diagnostics)) return false;
    if (!ua_svc_decode_string_array(r, a, &h->string_table_count, &h->string_table)) return false;
    return ua_decode_extension_object(r, &h->additional_header);
}

/* The status a response with a decoded header ends with: the ServiceResult,
 * or BadUnexpectedError for a ServiceFault claiming Good. */
static uint32_t header_status(uint32_t type_id, const struct ua_response_header *h)
{
    if (type_id == UA_DEFAULT_BINARY_SERVICE_FAULT && !ua_status_is_bad(h->service_result))
        return UA_STATUS_BAD_UNEXPECTED_ERROR;
    return ua_status_is_bad(h->service_result) ? h->service_result : UA_STATUS_GOOD;
}

uint32_t ua_decode_any_response_header(struct ua_reader *r, struct ua_arena *a, uint32_t *type_id,
                                       struct ua_response_header *out)
{
    memset(out, 0, sizeof *out);
    if (!ua_decode_message_type(r, type_id) || !decode_response_header(r, a, out))
        return ua_svc_decode_end(r);
    return header_status(*type_id, out);
}

uint32_t ua_svc_decode_begin(struct ua_reader *r, struct ua_arena *a, uint32_t expected,
                             struct ua_response_header *h)
{
    uint32_t type_id;
    size_t start = r->pos;
    memset(h, 0, sizeof *h);
    if (!ua_decode_message_type(r, &type_id)) return ua_svc_decode_end(r);
    if (type_id != expected && type_id != UA_DEFAULT_BINARY_SERVICE_FAULT) {
        ua_reader_fail_at(r, start, "unexpected response type");
        return UA_STATUS_BAD_UNKNOWN_RESPONSE;
    }
    if (!decode_response_header(r, a, h)) return ua_svc_decode_end(r);
    return header_status(type_id, h);
}

/* ------------------------------------------------------- secure channel */

bool ua_encode_open_secure_channel_request(struct ua_writer *w, const struct ua_request_header *h,
                                           const struct ua_open_secure_channel_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_REQUEST, h);
    ua_write_u32(w, req->client_protocol_version);
    ua_write_i32(w, req->request_type);
    ua_write_i32(w, req->security_mode);
    ua_svc_encode_string(w, req->client_nonce);
    return ua_write_u32(w, req->requested_lifetime_ms);
}

uint32_t ua_decode_open_secure_channel_response(struct ua_reader *r, struct ua_arena *a,
                                                struct ua_open_secure_channel_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    out->server_protocol_version = ua_read_u32(r);
    out->channel_id = ua_read_u32(r);
    out->token_id = ua_read_u32(r);
    out->created_at = ua_read_i64(r);
    out->revised_lifetime_ms = ua_read_u32(r);
    ua_decode_string(r, &out->server_nonce);
    return ua_svc_decode_end(r);
}

bool ua_encode_close_secure_channel_request(struct ua_writer *w, const struct ua_request_header *h)
{
    return ua_svc_encode_begin(w, UA_DEFAULT_BINARY_CLOSE_SECURE_CHANNEL_REQUEST, h);
}

/* ------------------------------------------------------------ discovery */

static bool encode_application_description(struct ua_writer *w,
                                           const struct ua_application_description *d)
{
    ua_svc_encode_string(w, d->application_uri);
    ua_svc_encode_string(w, d->product_uri);
    ua_encode_localized_text(w, &d->application_name);
    ua_write_i32(w, d->application_type);
    ua_svc_encode_string(w, d->gateway_server_uri);
    ua_svc_encode_string(w, d->discovery_profile_uri);
    return ua_svc_encode_string_array(w, d->discovery_urls, d->discovery_urls_count);
}

/* Fewest wire bytes of the structures below (for array counts). */
#define APPLICATION_DESCRIPTION_MIN_BYTES 25 /* 6 strings/arrays + text mask + enum */
#define USER_TOKEN_POLICY_MIN_BYTES 20
#define ENDPOINT_DESCRIPTION_MIN_BYTES                                                             \
    (4 + APPLICATION_DESCRIPTION_MIN_BYTES + 4 + 4 + 4 + 4 + 4 + 1)
#define SIGNED_SOFTWARE_CERTIFICATE_MIN_BYTES 8

static bool decode_application_description(struct ua_reader *r, struct ua_arena *a,
                                           struct ua_application_description *d)
{
    ua_decode_string(r, &d->application_uri);
    ua_decode_string(r, &d->product_uri);
    ua_decode_localized_text(r, &d->application_name);
    d->application_type = ua_read_i32(r);
    ua_decode_string(r, &d->gateway_server_uri);
    ua_decode_string(r, &d->discovery_profile_uri);
    if (r->failed) return false;
    return ua_svc_decode_string_array(r, a, &d->discovery_urls_count, &d->discovery_urls);
}

static bool decode_user_token_policy(struct ua_reader *r, struct ua_user_token_policy *p)
{
    ua_decode_string(r, &p->policy_id);
    p->token_type = ua_read_i32(r);
    ua_decode_string(r, &p->issued_token_type);
    ua_decode_string(r, &p->issuer_endpoint_url);
    return ua_decode_string(r, &p->security_policy_uri);
}

static bool decode_endpoint_description(struct ua_reader *r, struct ua_arena *a,
                                        struct ua_endpoint_description *e)
{
    ua_decode_string(r, &e->endpoint_url);
    if (!decode_application_description(r, a, &e->server)) return false;
    ua_decode_string(r, &e->server_certificate);
    e->security_mode = ua_read_i32(r);
    ua_decode_string(r, &e->security_policy_uri);
    if (r->failed) return false;
    if (!ua_svc_decode_array_alloc(r, a, USER_TOKEN_POLICY_MIN_BYTES,
                                   sizeof *e->user_token_policies, &e->user_token_policies_count,
                                   (void **)&e->user_token_policies))
        return false;
    for (size_t i = 0; i < e->user_token_policies_count && !r->failed; i++)
        decode_user_token_policy(r, &e->user_token_policies[i]);
    ua_decode_string(r, &e->transport_profile_uri);
    e->security_level = ua_read_u8(r);
    return !r->failed;
}

static bool decode_endpoint_array(struct ua_reader *r, struct ua_arena *a, size_t *count,
                                  struct ua_endpoint_description **elems)
{
    if (!ua_svc_decode_array_alloc(r, a, ENDPOINT_DESCRIPTION_MIN_BYTES, sizeof **elems, count,
                                   (void **)elems))
        return false;
    for (size_t i = 0; i < *count && !r->failed; i++)
        decode_endpoint_description(r, a, &(*elems)[i]);
    return !r->failed;
}

bool ua_encode_get_endpoints_request(struct ua_writer *w, const struct ua_request_header *h,
                                     const struct ua_get_endpoints_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_GET_ENDPOINTS_REQUEST, h);
    ua_svc_encode_string(w, req->endpoint_url);
    ua_svc_encode_string_array(w, req->locale_ids, req->locale_ids_count);
    return ua_svc_encode_string_array(w, req->profile_uris, req->profile_uris_count);
}

uint32_t ua_decode_get_endpoints_response(struct ua_reader *r, struct ua_arena *a,
                                          struct ua_get_endpoints_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_GET_ENDPOINTS_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    decode_endpoint_array(r, a, &out->endpoints_count, &out->endpoints);
    return ua_svc_decode_end(r);
}

/* -------------------------------------------------------------- session */

static bool encode_signature_data(struct ua_writer *w, const struct ua_signature_data *s)
{
    ua_svc_encode_string(w, s->algorithm);
    return ua_svc_encode_string(w, s->signature);
}

static bool decode_signature_data(struct ua_reader *r, struct ua_signature_data *s)
{
    ua_decode_string(r, &s->algorithm);
    return ua_decode_string(r, &s->signature);
}

bool ua_encode_create_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                      const struct ua_create_session_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_CREATE_SESSION_REQUEST, h);
    encode_application_description(w, &req->client_description);
    ua_svc_encode_string(w, req->server_uri);
    ua_svc_encode_string(w, req->endpoint_url);
    ua_svc_encode_string(w, req->session_name);
    ua_svc_encode_string(w, req->client_nonce);
    ua_svc_encode_string(w, req->client_certificate);
    ua_write_double(w, req->requested_session_timeout_ms);
    return ua_write_u32(w, req->max_response_message_size);
}

uint32_t ua_decode_create_session_response(struct ua_reader *r, struct ua_arena *a,
                                           struct ua_create_session_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_CREATE_SESSION_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    ua_decode_nodeid(r, &out->session_id);
    ua_decode_nodeid(r, &out->authentication_token);
    out->revised_session_timeout_ms = ua_read_double(r);
    ua_decode_string(r, &out->server_nonce);
    ua_decode_string(r, &out->server_certificate);
    if (r->failed) return ua_svc_decode_end(r);
    if (!decode_endpoint_array(r, a, &out->server_endpoints_count, &out->server_endpoints))
        return ua_svc_decode_end(r);
    /* ServerSoftwareCertificates: SignedSoftwareCertificate[] (two
     * ByteStrings each), read and dropped. */
    int32_t n;
    if (!ua_decode_array_count(r, SIGNED_SOFTWARE_CERTIFICATE_MIN_BYTES, &n))
        return ua_svc_decode_end(r);
    struct ua_string skip;
    for (int32_t i = 0; i < n && !r->failed; i++) {
        ua_decode_string(r, &skip);
        ua_decode_string(r, &skip);
    }
    decode_signature_data(r, &out->server_signature);
    out->max_request_message_size = ua_read_u32(r);
    return ua_svc_decode_end(r);
}

static bool encode_identity_token(struct ua_writer *w, const struct ua_identity_token *t)
{
    size_t len_at;
    switch (t->kind) {
    case UA_IDENTITY_ANONYMOUS:
        len_at = ua_svc_encode_extension_begin(w, UA_DEFAULT_BINARY_ANONYMOUS_IDENTITY_TOKEN);
        ua_svc_encode_string(w, t->policy_id);
        break;
    case UA_IDENTITY_USER_NAME:
        len_at = ua_svc_encode_extension_begin(w, UA_DEFAULT_BINARY_USER_NAME_IDENTITY_TOKEN);
        ua_svc_encode_string(w, t->policy_id);
        ua_svc_encode_string(w, t->user_name);
        ua_svc_encode_string(w, t->password);
        ua_svc_encode_string(w, t->encryption_algorithm);
        break;
    default:
        return ua_writer_fail(w, "identity token: unknown kind");
    }
    return ua_svc_encode_extension_end(w, len_at);
}

bool ua_encode_activate_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                        const struct ua_activate_session_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_ACTIVATE_SESSION_REQUEST, h);
    encode_signature_data(w, &req->client_signature);
    ua_write_i32(w, 0); /* ClientSoftwareCertificates: none */
    ua_svc_encode_string_array(w, req->locale_ids, req->locale_ids_count);
    encode_identity_token(w, &req->identity);
    return encode_signature_data(w, &req->user_token_signature);
}

uint32_t ua_decode_activate_session_response(struct ua_reader *r, struct ua_arena *a,
                                             struct ua_activate_session_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    ua_decode_string(r, &out->server_nonce);
    if (!r->failed) ua_svc_decode_u32_array(r, a, &out->results_count, &out->results);
    if (!r->failed) ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

bool ua_encode_close_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                     bool delete_subscriptions)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_CLOSE_SESSION_REQUEST, h);
    return ua_write_bool(w, delete_subscriptions);
}

uint32_t ua_decode_close_session_response(struct ua_reader *r, struct ua_arena *a,
                                          struct ua_response_header *out)
{
    return ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE, out);
}
