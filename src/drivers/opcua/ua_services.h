/* OPC UA service messages, client side (OPC UA Part 4 for the services and
 * their parameters, Part 6 5.2.8 / Annex for their binary encoding): the
 * encoders of the requests airlock sends and the decoders of the responses
 * it receives, as pure functions over the buffers of ua_buf.h.
 *
 * A message BODY is what the secure channel carries inside its chunks (after
 * the security and sequence headers): the NodeId of the structure's
 * DefaultBinary encoding (e.g. i=631 for ReadRequest) followed by the
 * encoded structure. Request encoders write a whole body; response decoders
 * read a whole body.
 *
 * Request encoders: ua_encode_<service>_request(w, header, request) appends
 * the body to w and returns true, or false with the writer failed (its
 * fail_reason says why: buffer limit, a count past INT32_MAX, a NULL array
 * with a count > 0, or a value ua_types.h cannot encode). Nothing they are
 * given is copied or kept. In requests a String / ByteString whose data is
 * NULL is sent as the null string (so a zeroed field is null); "" is sent
 * as the empty string. A zeroed NodeId is the null NodeId, a zeroed
 * ExtensionObject the null one.
 *
 * Response decoders: ua_decode_<service>_response(r, a, out) reads one body
 * at r's position and returns a StatusCode:
 *  - UA_STATUS_GOOD: the expected response, decoded, its ServiceResult Good;
 *  - the ServiceResult (Bad) of a ServiceFault, or of the expected response
 *    when its header says Bad: out->header is filled in, the rest of *out
 *    is zero (decoding stops after the header; r is not failed);
 *  - UA_STATUS_BAD_UNKNOWN_RESPONSE: the body is another type (r failed
 *    with "unexpected response type" where the body starts);
 *  - UA_STATUS_BAD_DECODING_ERROR: malformed (r failed with the offset and
 *    a static reason);
 *  - UA_STATUS_BAD_ENCODING_LIMITS_EXCEEDED: the arena refused (r failed
 *    with "decoded data past the arena limit").
 * (A ServiceFault whose ServiceResult is Good, which the spec does not
 * allow, gives UA_STATUS_BAD_UNEXPECTED_ERROR.) Bytes after the response
 * are left unread (r->pos is where it ended). Memory: as in ua_types.h,
 * strings and ExtensionObject bodies point into r's buffer, everything else
 * is in the arena a; *out is valid while both are. Nothing is malloc'd per
 * element; every count is checked against the bytes left before anything
 * is allocated. Decoders never fail on values they do not understand
 * (unknown enum values are kept as numbers, unknown notification types are
 * skipped and counted). */
#ifndef AIRLOCK_OPCUA_UA_SERVICES_H
#define AIRLOCK_OPCUA_UA_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/opcua/ua_buf.h"
#include "drivers/opcua/ua_types.h"

/* ------------------------------------------------ encoding NodeIds (ns=0) */

/* The numeric NodeIds (namespace 0) of the DefaultBinary encodings, from
 * the specification's NodeIds.csv (<Type>_Encoding_DefaultBinary). */
enum ua_default_binary_id {
    UA_DEFAULT_BINARY_ANONYMOUS_IDENTITY_TOKEN = 321,
    UA_DEFAULT_BINARY_USER_NAME_IDENTITY_TOKEN = 324,
    UA_DEFAULT_BINARY_REQUEST_HEADER = 391,
    UA_DEFAULT_BINARY_RESPONSE_HEADER = 394,
    UA_DEFAULT_BINARY_SERVICE_FAULT = 397,
    UA_DEFAULT_BINARY_GET_ENDPOINTS_REQUEST = 428,
    UA_DEFAULT_BINARY_GET_ENDPOINTS_RESPONSE = 431,
    UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_REQUEST = 446,
    UA_DEFAULT_BINARY_OPEN_SECURE_CHANNEL_RESPONSE = 449,
    UA_DEFAULT_BINARY_CLOSE_SECURE_CHANNEL_REQUEST = 452,
    UA_DEFAULT_BINARY_CLOSE_SECURE_CHANNEL_RESPONSE = 455,
    UA_DEFAULT_BINARY_CREATE_SESSION_REQUEST = 461,
    UA_DEFAULT_BINARY_CREATE_SESSION_RESPONSE = 464,
    UA_DEFAULT_BINARY_ACTIVATE_SESSION_REQUEST = 467,
    UA_DEFAULT_BINARY_ACTIVATE_SESSION_RESPONSE = 470,
    UA_DEFAULT_BINARY_CLOSE_SESSION_REQUEST = 473,
    UA_DEFAULT_BINARY_CLOSE_SESSION_RESPONSE = 476,
    UA_DEFAULT_BINARY_BROWSE_REQUEST = 527,
    UA_DEFAULT_BINARY_BROWSE_RESPONSE = 530,
    UA_DEFAULT_BINARY_BROWSE_NEXT_REQUEST = 533,
    UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE = 536,
    UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_REQUEST = 554,
    UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_RESPONSE = 557,
    UA_DEFAULT_BINARY_READ_REQUEST = 631,
    UA_DEFAULT_BINARY_READ_RESPONSE = 634,
    UA_DEFAULT_BINARY_WRITE_REQUEST = 673,
    UA_DEFAULT_BINARY_WRITE_RESPONSE = 676,
    UA_DEFAULT_BINARY_DATA_CHANGE_FILTER = 724,
    UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_REQUEST = 751,
    UA_DEFAULT_BINARY_CREATE_MONITORED_ITEMS_RESPONSE = 754,
    UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_REQUEST = 787,
    UA_DEFAULT_BINARY_CREATE_SUBSCRIPTION_RESPONSE = 790,
    UA_DEFAULT_BINARY_DATA_CHANGE_NOTIFICATION = 811,
    UA_DEFAULT_BINARY_STATUS_CHANGE_NOTIFICATION = 820,
    UA_DEFAULT_BINARY_PUBLISH_REQUEST = 826,
    UA_DEFAULT_BINARY_PUBLISH_RESPONSE = 829,
    UA_DEFAULT_BINARY_REPUBLISH_REQUEST = 832,
    UA_DEFAULT_BINARY_REPUBLISH_RESPONSE = 835,
    UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_REQUEST = 847,
    UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE = 850,
    UA_DEFAULT_BINARY_RANGE = 886,
    UA_DEFAULT_BINARY_EU_INFORMATION = 889,
    UA_DEFAULT_BINARY_EVENT_NOTIFICATION_LIST = 916,
};

/* "ReadResponse", "ServiceFault", ... for the ids above; NULL otherwise.
 * Static. */
const char *ua_default_binary_name(uint32_t id);

/* ---------------------------------------- standard nodes (Part 5, ns=0) */

#define UA_NS0_REFERENCES 31
#define UA_NS0_HIERARCHICAL_REFERENCES 33
#define UA_NS0_ORGANIZES 35
#define UA_NS0_HAS_TYPE_DEFINITION 40
#define UA_NS0_HAS_SUBTYPE 45
#define UA_NS0_HAS_PROPERTY 46
#define UA_NS0_HAS_COMPONENT 47
#define UA_NS0_FOLDER_TYPE 61
#define UA_NS0_BASE_DATA_VARIABLE_TYPE 63
#define UA_NS0_PROPERTY_TYPE 68
#define UA_NS0_ROOT_FOLDER 84
#define UA_NS0_OBJECTS_FOLDER 85
#define UA_NS0_SERVER 2253
#define UA_NS0_DATA_ITEM_TYPE 2365
#define UA_NS0_ANALOG_ITEM_TYPE 2368
/* Browse names (namespace 0) of the AnalogItemType properties (Part 8). */
#define UA_BROWSE_NAME_ENGINEERING_UNITS "EngineeringUnits"
#define UA_BROWSE_NAME_EU_RANGE "EURange"

/* Attribute ids (Part 6, A.1). */
enum ua_attribute_id {
    UA_ATTRIBUTE_NODE_ID = 1,
    UA_ATTRIBUTE_NODE_CLASS = 2,
    UA_ATTRIBUTE_BROWSE_NAME = 3,
    UA_ATTRIBUTE_DISPLAY_NAME = 4,
    UA_ATTRIBUTE_DESCRIPTION = 5,
    UA_ATTRIBUTE_VALUE = 13,
    UA_ATTRIBUTE_DATA_TYPE = 14,
    UA_ATTRIBUTE_VALUE_RANK = 15,
    UA_ATTRIBUTE_ARRAY_DIMENSIONS = 16,
    UA_ATTRIBUTE_ACCESS_LEVEL = 17,
    UA_ATTRIBUTE_USER_ACCESS_LEVEL = 18,
    UA_ATTRIBUTE_MINIMUM_SAMPLING_INTERVAL = 19,
    UA_ATTRIBUTE_HISTORIZING = 20,
};

/* NodeClass (Part 4, 7.29): bits, also used as the Browse node class mask. */
enum ua_node_class {
    UA_NODE_CLASS_UNSPECIFIED = 0,
    UA_NODE_CLASS_OBJECT = 1,
    UA_NODE_CLASS_VARIABLE = 2,
    UA_NODE_CLASS_METHOD = 4,
    UA_NODE_CLASS_OBJECT_TYPE = 8,
    UA_NODE_CLASS_VARIABLE_TYPE = 16,
    UA_NODE_CLASS_REFERENCE_TYPE = 32,
    UA_NODE_CLASS_DATA_TYPE = 64,
    UA_NODE_CLASS_VIEW = 128,
};

/* ------------------------------------------------------- common headers */

/* RequestHeader (Part 4, 7.32). additional_header is normally the null
 * ExtensionObject (all zero). */
struct ua_request_header {
    struct ua_nodeid authentication_token; /* from CreateSession; null before */
    int64_t timestamp;                     /* DateTime ticks */
    uint32_t request_handle;               /* echoed in the response */
    uint32_t return_diagnostics;           /* bit mask; 0 for none */
    struct ua_string audit_entry_id;
    uint32_t timeout_hint_ms; /* 0: no timeout */
    struct ua_extension_object additional_header;
};

/* ResponseHeader (Part 4, 7.33). */
struct ua_response_header {
    int64_t timestamp;
    uint32_t request_handle;
    uint32_t service_result;
    struct ua_diagnostic_info service_diagnostics;
    size_t string_table_count;
    struct ua_string *string_table;
    struct ua_extension_object additional_header;
};

/* Reads the type NodeId at the start of a body: it must be a numeric NodeId
 * of namespace 0 (r failed with "message type: not a numeric ns=0 NodeId"
 * otherwise). */
bool ua_decode_message_type(struct ua_reader *r, uint32_t *type_id);

/* Reads the type NodeId and the ResponseHeader of any response (every
 * response, and ServiceFault, starts with one), e.g. to find the request
 * handle before choosing a decoder. Returns as the response decoders do,
 * except that any type id is accepted (BadUnknownResponse is never
 * returned) and the header's ServiceResult is returned whatever the type. */
uint32_t ua_decode_any_response_header(struct ua_reader *r, struct ua_arena *a, uint32_t *type_id,
                                       struct ua_response_header *out);

/* "ReadResponse: array: length past the end at offset 57" or "BadTimeout
 * (0x800A0000)" (a ServiceFault or Bad ServiceResult): a one-line message
 * for a decoder's result status and its reader, into buf (NUL-terminated
 * when cap > 0). what names the message (e.g. "ReadResponse"). Returns buf. */
const char *ua_service_error_format(const struct ua_reader *r, uint32_t status, const char *what,
                                    char *buf, size_t cap);

/* ------------------------------------------------- secure channel (OPN) */

enum ua_security_token_request_type {
    UA_SECURITY_TOKEN_ISSUE = 0,
    UA_SECURITY_TOKEN_RENEW = 1,
};

/* MessageSecurityMode (Part 4, 7.20). */
enum ua_message_security_mode {
    UA_SECURITY_MODE_INVALID = 0,
    UA_SECURITY_MODE_NONE = 1,
    UA_SECURITY_MODE_SIGN = 2,
    UA_SECURITY_MODE_SIGN_AND_ENCRYPT = 3,
};

struct ua_open_secure_channel_request {
    uint32_t client_protocol_version; /* 0 */
    int32_t request_type;             /* enum ua_security_token_request_type */
    int32_t security_mode;            /* enum ua_message_security_mode */
    struct ua_string client_nonce;    /* ByteString; null or empty for None */
    uint32_t requested_lifetime_ms;
};

struct ua_open_secure_channel_response {
    struct ua_response_header header;
    uint32_t server_protocol_version;
    /* ChannelSecurityToken */
    uint32_t channel_id;
    uint32_t token_id;
    int64_t created_at; /* DateTime ticks */
    uint32_t revised_lifetime_ms;
    struct ua_string server_nonce; /* ByteString */
};

bool ua_encode_open_secure_channel_request(struct ua_writer *w, const struct ua_request_header *h,
                                           const struct ua_open_secure_channel_request *req);
uint32_t ua_decode_open_secure_channel_response(struct ua_reader *r, struct ua_arena *a,
                                                struct ua_open_secure_channel_response *out);

/* CloseSecureChannelRequest: the header only (no response is sent). */
bool ua_encode_close_secure_channel_request(struct ua_writer *w, const struct ua_request_header *h);

/* ------------------------------------------------------- discovery */

enum ua_application_type {
    UA_APPLICATION_SERVER = 0,
    UA_APPLICATION_CLIENT = 1,
    UA_APPLICATION_CLIENT_AND_SERVER = 2,
    UA_APPLICATION_DISCOVERY_SERVER = 3,
};

/* ApplicationDescription (Part 4, 7.1). */
struct ua_application_description {
    struct ua_string application_uri;
    struct ua_string product_uri;
    struct ua_localized_text application_name;
    int32_t application_type; /* enum ua_application_type */
    struct ua_string gateway_server_uri;
    struct ua_string discovery_profile_uri;
    size_t discovery_urls_count;
    struct ua_string *discovery_urls;
};

enum ua_user_token_type {
    UA_USER_TOKEN_ANONYMOUS = 0,
    UA_USER_TOKEN_USER_NAME = 1,
    UA_USER_TOKEN_CERTIFICATE = 2,
    UA_USER_TOKEN_ISSUED = 3,
};

/* UserTokenPolicy (Part 4, 7.41). */
struct ua_user_token_policy {
    struct ua_string policy_id;
    int32_t token_type; /* enum ua_user_token_type */
    struct ua_string issued_token_type;
    struct ua_string issuer_endpoint_url;
    struct ua_string security_policy_uri; /* null/empty: the endpoint's */
};

/* EndpointDescription (Part 4, 7.14). */
struct ua_endpoint_description {
    struct ua_string endpoint_url;
    struct ua_application_description server;
    struct ua_string server_certificate; /* ByteString (DER, maybe a chain) */
    int32_t security_mode;               /* enum ua_message_security_mode */
    struct ua_string security_policy_uri;
    size_t user_token_policies_count;
    struct ua_user_token_policy *user_token_policies;
    struct ua_string transport_profile_uri;
    uint8_t security_level;
};

struct ua_get_endpoints_request {
    struct ua_string endpoint_url;
    size_t locale_ids_count;
    const struct ua_string *locale_ids;
    size_t profile_uris_count;
    const struct ua_string *profile_uris;
};

struct ua_get_endpoints_response {
    struct ua_response_header header;
    size_t endpoints_count;
    struct ua_endpoint_description *endpoints;
};

bool ua_encode_get_endpoints_request(struct ua_writer *w, const struct ua_request_header *h,
                                     const struct ua_get_endpoints_request *req);
uint32_t ua_decode_get_endpoints_response(struct ua_reader *r, struct ua_arena *a,
                                          struct ua_get_endpoints_response *out);

/* ------------------------------------------------------------ session */

/* SignatureData (Part 4, 7.36); both null when not signing. */
struct ua_signature_data {
    struct ua_string algorithm; /* URI */
    struct ua_string signature; /* ByteString */
};

struct ua_create_session_request {
    /* client_description.discovery_urls may be NULL with count 0. */
    struct ua_application_description client_description;
    struct ua_string server_uri;
    struct ua_string endpoint_url;
    struct ua_string session_name;
    struct ua_string client_nonce;       /* ByteString, >= 32 bytes when secured */
    struct ua_string client_certificate; /* ByteString (DER) */
    double requested_session_timeout_ms;
    uint32_t max_response_message_size; /* 0: no limit */
};

struct ua_create_session_response {
    struct ua_response_header header;
    struct ua_nodeid session_id;
    struct ua_nodeid authentication_token;
    double revised_session_timeout_ms;
    struct ua_string server_nonce;
    struct ua_string server_certificate;
    size_t server_endpoints_count;
    struct ua_endpoint_description *server_endpoints;
    /* ServerSoftwareCertificates (deprecated) are read and dropped. */
    struct ua_signature_data server_signature;
    uint32_t max_request_message_size;
};

bool ua_encode_create_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                      const struct ua_create_session_request *req);
uint32_t ua_decode_create_session_response(struct ua_reader *r, struct ua_arena *a,
                                           struct ua_create_session_response *out);

/* The user identity of ActivateSession, sent as an ExtensionObject:
 * AnonymousIdentityToken (policy id) or UserNameIdentityToken (policy id,
 * user name, password, encryption algorithm). The password is sent as
 * given: the caller has already encrypted it as the token policy requires
 * (Part 4, 7.36.3), or passes the plain bytes with a null algorithm under
 * policy None. */
enum ua_identity_kind {
    UA_IDENTITY_ANONYMOUS = 0,
    UA_IDENTITY_USER_NAME = 1,
};
struct ua_identity_token {
    int kind; /* enum ua_identity_kind */
    struct ua_string policy_id;
    struct ua_string user_name;            /* USER_NAME */
    struct ua_string password;             /* USER_NAME: ByteString */
    struct ua_string encryption_algorithm; /* USER_NAME: URI or null */
};

struct ua_activate_session_request {
    struct ua_signature_data client_signature;
    /* ClientSoftwareCertificates: always sent empty. */
    size_t locale_ids_count;
    const struct ua_string *locale_ids;
    struct ua_identity_token identity;
    struct ua_signature_data user_token_signature;
};

struct ua_activate_session_response {
    struct ua_response_header header;
    struct ua_string server_nonce;
    size_t results_count; /* one per software certificate (none) */
    uint32_t *results;
};

bool ua_encode_activate_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                        const struct ua_activate_session_request *req);
uint32_t ua_decode_activate_session_response(struct ua_reader *r, struct ua_arena *a,
                                             struct ua_activate_session_response *out);

/* CloseSession: the response is just a header. */
bool ua_encode_close_session_request(struct ua_writer *w, const struct ua_request_header *h,
                                     bool delete_subscriptions);
uint32_t ua_decode_close_session_response(struct ua_reader *r, struct ua_arena *a,
                                          struct ua_response_header *out);

/* ------------------------------------------------------------- browse */

enum ua_browse_direction {
    UA_BROWSE_FORWARD = 0,
    UA_BROWSE_INVERSE = 1,
    UA_BROWSE_BOTH = 2,
};

/* BrowseResultMask bits (Part 4, 5.8.2.2). */
#define UA_BROWSE_RESULT_REFERENCE_TYPE 0x01u
#define UA_BROWSE_RESULT_IS_FORWARD 0x02u
#define UA_BROWSE_RESULT_NODE_CLASS 0x04u
#define UA_BROWSE_RESULT_BROWSE_NAME 0x08u
#define UA_BROWSE_RESULT_DISPLAY_NAME 0x10u
#define UA_BROWSE_RESULT_TYPE_DEFINITION 0x20u
#define UA_BROWSE_RESULT_ALL 0x3Fu

/* ViewDescription (Part 4, 7.45): all zero for the whole address space. */
struct ua_view_description {
    struct ua_nodeid view_id;
    int64_t timestamp;
    uint32_t view_version;
};

struct ua_browse_description {
    struct ua_nodeid node_id;
    int32_t browse_direction; /* enum ua_browse_direction */
    struct ua_nodeid reference_type_id;
    bool include_subtypes;
    uint32_t node_class_mask; /* enum ua_node_class bits; 0 = all */
    uint32_t result_mask;     /* UA_BROWSE_RESULT_* */
};

struct ua_browse_request {
    struct ua_view_description view;
    uint32_t requested_max_references_per_node; /* 0: server decides */
    size_t nodes_count;
    const struct ua_browse_description *nodes;
};

/* ReferenceDescription (Part 4, 7.30). */
struct ua_reference_description {
    struct ua_nodeid reference_type_id;
    bool is_forward;
    struct ua_expanded_nodeid node_id;
    struct ua_qualified_name browse_name;
    struct ua_localized_text display_name;
    int32_t node_class; /* enum ua_node_class */
    struct ua_expanded_nodeid type_definition;
};

/* BrowseResult (Part 4, 7.6). */
struct ua_browse_result {
    uint32_t status;
    struct ua_string continuation_point; /* ByteString; null when complete */
    size_t references_count;
    struct ua_reference_description *references;
};

/* BrowseResponse and BrowseNextResponse. */
struct ua_browse_response {
    struct ua_response_header header;
    size_t results_count;
    struct ua_browse_result *results;
};

struct ua_browse_next_request {
    bool release_continuation_points;
    size_t continuation_points_count;
    const struct ua_string *continuation_points;
};

bool ua_encode_browse_request(struct ua_writer *w, const struct ua_request_header *h,
                              const struct ua_browse_request *req);
uint32_t ua_decode_browse_response(struct ua_reader *r, struct ua_arena *a,
                                   struct ua_browse_response *out);
bool ua_encode_browse_next_request(struct ua_writer *w, const struct ua_request_header *h,
                                   const struct ua_browse_next_request *req);
uint32_t ua_decode_browse_next_response(struct ua_reader *r, struct ua_arena *a,
                                        struct ua_browse_response *out);

/* TranslateBrowsePathsToNodeIds (Part 4, 5.8.4). */
struct ua_relative_path_element {
    struct ua_nodeid reference_type_id; /* null NodeId: any reference */
    bool is_inverse;
    bool include_subtypes;
    struct ua_qualified_name target_name;
};

struct ua_browse_path {
    struct ua_nodeid starting_node;
    size_t elements_count;
    const struct ua_relative_path_element *elements;
};

struct ua_translate_browse_paths_request {
    size_t browse_paths_count;
    const struct ua_browse_path *browse_paths;
};

struct ua_browse_path_target {
    struct ua_expanded_nodeid target_id;
    uint32_t remaining_path_index; /* UINT32_MAX: the path was resolved */
};

struct ua_browse_path_result {
    uint32_t status;
    size_t targets_count;
    struct ua_browse_path_target *targets;
};

struct ua_translate_browse_paths_response {
    struct ua_response_header header;
    size_t results_count;
    struct ua_browse_path_result *results;
};

bool ua_encode_translate_browse_paths_request(struct ua_writer *w,
                                              const struct ua_request_header *h,
                                              const struct ua_translate_browse_paths_request *req);
uint32_t ua_decode_translate_browse_paths_response(struct ua_reader *r, struct ua_arena *a,
                                                   struct ua_translate_browse_paths_response *out);

/* ------------------------------------------------------- read / write */

enum ua_timestamps_to_return {
    UA_TIMESTAMPS_SOURCE = 0,
    UA_TIMESTAMPS_SERVER = 1,
    UA_TIMESTAMPS_BOTH = 2,
    UA_TIMESTAMPS_NEITHER = 3,
};

/* ReadValueId (Part 4, 7.29). index_range and data_encoding are normally
 * null (UA_STRING_NULL, and a QualifiedName with a null name). */
struct ua_read_value_id {
    struct ua_nodeid node_id;
    uint32_t attribute_id; /* enum ua_attribute_id */
    struct ua_string index_range;
    struct ua_qualified_name data_encoding;
};

struct ua_read_request {
    double max_age_ms;
    int32_t timestamps_to_return; /* enum ua_timestamps_to_return */
    size_t nodes_count;
    const struct ua_read_value_id *nodes;
};

struct ua_read_response {
    struct ua_response_header header;
    size_t results_count;
    struct ua_datavalue *results; /* one per node, in request order */
};

bool ua_encode_read_request(struct ua_writer *w, const struct ua_request_header *h,
                            const struct ua_read_request *req);
uint32_t ua_decode_read_response(struct ua_reader *r, struct ua_arena *a,
                                 struct ua_read_response *out);

struct ua_write_value {
    struct ua_nodeid node_id;
    uint32_t attribute_id;
    struct ua_string index_range;
    struct ua_datavalue value;
};

struct ua_write_request {
    size_t nodes_count;
    const struct ua_write_value *nodes;
};

/* The responses that are a list of StatusCodes: Write, DeleteSubscriptions. */
struct ua_status_list_response {
    struct ua_response_header header;
    size_t results_count;
    uint32_t *results;
};

bool ua_encode_write_request(struct ua_writer *w, const struct ua_request_header *h,
                             const struct ua_write_request *req);
uint32_t ua_decode_write_response(struct ua_reader *r, struct ua_arena *a,
                                  struct ua_status_list_response *out);

/* -------------------------------------------------------- subscriptions */

struct ua_create_subscription_request {
    double requested_publishing_interval_ms;
    uint32_t requested_lifetime_count;
    uint32_t requested_max_keep_alive_count;
    uint32_t max_notifications_per_publish; /* 0: no limit */
    bool publishing_enabled;
    uint8_t priority;
};

struct ua_create_subscription_response {
    struct ua_response_header header;
    uint32_t subscription_id;
    double revised_publishing_interval_ms;
    uint32_t revised_lifetime_count;
    uint32_t revised_max_keep_alive_count;
};

bool ua_encode_create_subscription_request(struct ua_writer *w, const struct ua_request_header *h,
                                           const struct ua_create_subscription_request *req);
uint32_t ua_decode_create_subscription_response(struct ua_reader *r, struct ua_arena *a,
                                                struct ua_create_subscription_response *out);

enum ua_monitoring_mode {
    UA_MONITORING_DISABLED = 0,
    UA_MONITORING_SAMPLING = 1,
    UA_MONITORING_REPORTING = 2,
};

enum ua_data_change_trigger {
    UA_TRIGGER_STATUS = 0,
    UA_TRIGGER_STATUS_VALUE = 1,
    UA_TRIGGER_STATUS_VALUE_TIMESTAMP = 2,
};

enum ua_deadband_type {
    UA_DEADBAND_NONE = 0,
    UA_DEADBAND_ABSOLUTE = 1,
    UA_DEADBAND_PERCENT = 2, /* of the EURange (AnalogItemType only) */
};

/* DataChangeFilter (Part 4, 7.22.2). */
struct ua_data_change_filter {
    int32_t trigger;        /* enum ua_data_change_trigger */
    uint32_t deadband_type; /* enum ua_deadband_type */
    double deadband_value;
};

/* MonitoredItemCreateRequest with its MonitoringParameters (Part 4, 7.21).
 * has_filter false sends the null ExtensionObject (the server's default:
 * StatusValue, no deadband). */
struct ua_monitored_item_create_request {
    struct ua_read_value_id item_to_monitor;
    int32_t monitoring_mode; /* enum ua_monitoring_mode */
    uint32_t client_handle;
    double sampling_interval_ms; /* -1: the publishing interval */
    bool has_filter;
    struct ua_data_change_filter filter;
    uint32_t queue_size;
    bool discard_oldest;
};

struct ua_create_monitored_items_request {
    uint32_t subscription_id;
    int32_t timestamps_to_return; /* enum ua_timestamps_to_return */
    size_t items_count;
    const struct ua_monitored_item_create_request *items;
};

struct ua_monitored_item_create_result {
    uint32_t status;
    uint32_t monitored_item_id;
    double revised_sampling_interval_ms;
    uint32_t revised_queue_size;
    struct ua_extension_object filter_result; /* body not decoded */
};

struct ua_create_monitored_items_response {
    struct ua_response_header header;
    size_t results_count;
    struct ua_monitored_item_create_result *results; /* request order */
};

bool ua_encode_create_monitored_items_request(struct ua_writer *w,
                                              const struct ua_request_header *h,
                                              const struct ua_create_monitored_items_request *req);
uint32_t ua_decode_create_monitored_items_response(struct ua_reader *r, struct ua_arena *a,
                                                   struct ua_create_monitored_items_response *out);

struct ua_delete_subscriptions_request {
    size_t subscription_ids_count;
    const uint32_t *subscription_ids;
};

bool ua_encode_delete_subscriptions_request(struct ua_writer *w, const struct ua_request_header *h,
                                            const struct ua_delete_subscriptions_request *req);
uint32_t ua_decode_delete_subscriptions_response(struct ua_reader *r, struct ua_arena *a,
                                                 struct ua_status_list_response *out);

/* -------------------------------------------------------------- publish */

struct ua_subscription_acknowledgement {
    uint32_t subscription_id;
    uint32_t sequence_number;
};

struct ua_publish_request {
    size_t acknowledgements_count;
    const struct ua_subscription_acknowledgement *acknowledgements;
};

/* One MonitoredItemNotification of a DataChangeNotification. */
struct ua_monitored_item_value {
    uint32_t client_handle;
    struct ua_datavalue value;
};

/* NotificationMessage (Part 4, 7.25), with its NotificationData decoded:
 *  - every DataChangeNotification's items, flattened in message order, in
 *    values[0..values_count) (one arena array for the whole message);
 *  - StatusChangeNotification: has_status_change and its status (the last
 *    one if there are several);
 *  - EventNotificationLists and ExtensionObjects of other types are
 *    skipped and counted (events are not supported; unknown types are
 *    not an error). The DiagnosticInfos of DataChangeNotifications are
 *    read and dropped.
 * notification_data_count 0 is a keep-alive. */
struct ua_notification_message {
    uint32_t sequence_number;
    int64_t publish_time; /* DateTime ticks */
    size_t notification_data_count;
    size_t values_count;
    struct ua_monitored_item_value *values;
    bool has_status_change;
    uint32_t status_change; /* StatusChangeNotification.Status */
    size_t events_skipped;  /* EventNotificationLists */
    size_t unknown_skipped; /* other types, and bodies not binary-encoded */
};

struct ua_publish_response {
    struct ua_response_header header;
    uint32_t subscription_id;
    size_t available_sequence_numbers_count;
    uint32_t *available_sequence_numbers;
    bool more_notifications;
    struct ua_notification_message message;
    size_t results_count; /* one per acknowledgement sent */
    uint32_t *results;
};

bool ua_encode_publish_request(struct ua_writer *w, const struct ua_request_header *h,
                               const struct ua_publish_request *req);
/* Fast: one arena array for the values, nothing else allocated per value
 * (beyond what a non-scalar Variant needs). */
uint32_t ua_decode_publish_response(struct ua_reader *r, struct ua_arena *a,
                                    struct ua_publish_response *out);

struct ua_republish_request {
    uint32_t subscription_id;
    uint32_t retransmit_sequence_number;
};

struct ua_republish_response {
    struct ua_response_header header;
    struct ua_notification_message message;
};

bool ua_encode_republish_request(struct ua_writer *w, const struct ua_request_header *h,
                                 const struct ua_republish_request *req);
uint32_t ua_decode_republish_response(struct ua_reader *r, struct ua_arena *a,
                                      struct ua_republish_response *out);

/* ------------------------------------------- engineering units (Part 8) */

/* EUInformation (Part 8, 5.6.3): unit_id is the UNECE code (-1: none);
 * display_name is the symbol ("°C"), description the name ("degree
 * Celsius"). */
struct ua_eu_information {
    struct ua_string namespace_uri;
    int32_t unit_id;
    struct ua_localized_text display_name;
    struct ua_localized_text description;
};

/* Range (Part 8, 5.6.2). */
struct ua_range {
    double low;
    double high;
};

/* Decode the value of an EngineeringUnits / EURange property: a scalar
 * Variant holding an ExtensionObject of the type's DefaultBinary encoding
 * with a binary body. The strings of *out point into the body (so into the
 * message the Variant came from). False with *why (if non-NULL) set to a
 * static reason ("not an ExtensionObject", "not an EUInformation",
 * "truncated body", ...) otherwise. */
bool ua_variant_to_eu_information(const struct ua_variant *v, struct ua_eu_information *out,
                                  const char **why);
bool ua_variant_to_range(const struct ua_variant *v, struct ua_range *out, const char **why);

#endif
