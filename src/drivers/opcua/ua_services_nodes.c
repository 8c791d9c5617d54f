/* OPC UA services on nodes (see ua_services.h): Browse, BrowseNext,
 * TranslateBrowsePathsToNodeIds, Read, Write, and the EUInformation /
 * Range property values of Part 8. */
#include "drivers/opcua/ua_services.h"

#include "drivers/opcua/ua_services_internal.h"

/* Fewest wire bytes of the structures below (for array counts). */
#define BROWSE_RESULT_MIN_BYTES 12         /* status, null continuation point, refs count */
#define REFERENCE_DESCRIPTION_MIN_BYTES 18 /* 2 + 1 + 2 + (2 + 4) + 1 + 4 + 2 */
#define BROWSE_PATH_RESULT_MIN_BYTES 8
#define BROWSE_PATH_TARGET_MIN_BYTES 6
#define DATAVALUE_MIN_BYTES 1

/* ------------------------------------------------------------------ browse */

static bool encode_browse_description(struct ua_writer *w, const struct ua_browse_description *d)
{
    ua_encode_nodeid(w, &d->node_id);
    ua_write_i32(w, d->browse_direction);
    ua_encode_nodeid(w, &d->reference_type_id);
    ua_write_bool(w, d->include_subtypes);
    ua_write_u32(w, d->node_class_mask);
    return ua_write_u32(w, d->result_mask);
}

bool ua_encode_browse_request(struct ua_writer *w, const struct ua_request_header *h,
                              const struct ua_browse_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_BROWSE_REQUEST, h);
    ua_encode_nodeid(w, &req->view.view_id);
    ua_write_i64(w, req->view.timestamp);
    ua_write_u32(w, req->view.view_version);
    ua_write_u32(w, req->requested_max_references_per_node);
    if (!ua_svc_encode_count(w, req->nodes_count, req->nodes)) return false;
    for (size_t i = 0; i < req->nodes_count; i++)
        encode_browse_description(w, &req->nodes[i]);
    return ua_writer_ok(w);
}

bool ua_encode_browse_next_request(struct ua_writer *w, const struct ua_request_header *h,
                                   const struct ua_browse_next_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_BROWSE_NEXT_REQUEST, h);
    ua_write_bool(w, req->release_continuation_points);
    return ua_svc_encode_string_array(w, req->continuation_points, req->continuation_points_count);
}

static bool decode_reference_description(struct ua_reader *r, struct ua_reference_description *d)
{
    ua_decode_nodeid(r, &d->reference_type_id);
    d->is_forward = ua_read_bool(r);
    ua_decode_expanded_nodeid(r, &d->node_id);
    ua_decode_qualified_name(r, &d->browse_name);
    ua_decode_localized_text(r, &d->display_name);
    d->node_class = ua_read_i32(r);
    return ua_decode_expanded_nodeid(r, &d->type_definition);
}

static bool decode_browse_result(struct ua_reader *r, struct ua_arena *a,
                                 struct ua_browse_result *b)
{
    b->status = ua_read_u32(r);
    if (!ua_decode_string(r, &b->continuation_point)) return false;
    if (!ua_svc_decode_array_alloc(r, a, REFERENCE_DESCRIPTION_MIN_BYTES, sizeof *b->references,
                                   &b->references_count, (void **)&b->references))
        return false;
    for (size_t i = 0; i < b->references_count && !r->failed; i++)
        decode_reference_description(r, &b->references[i]);
    return !r->failed;
}

static uint32_t decode_browse_like(struct ua_reader *r, struct ua_arena *a, uint32_t type_id,
                                   struct ua_browse_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, type_id, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    if (!ua_svc_decode_array_alloc(r, a, BROWSE_RESULT_MIN_BYTES, sizeof *out->results,
                                   &out->results_count, (void **)&out->results))
        return ua_svc_decode_end(r);
    for (size_t i = 0; i < out->results_count && !r->failed; i++)
        decode_browse_result(r, a, &out->results[i]);
    if (!r->failed) ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

uint32_t ua_decode_browse_response(struct ua_reader *r, struct ua_arena *a,
                                   struct ua_browse_response *out)
{
    return decode_browse_like(r, a, UA_DEFAULT_BINARY_BROWSE_RESPONSE, out);
}

uint32_t ua_decode_browse_next_response(struct ua_reader *r, struct ua_arena *a,
                                        struct ua_browse_response *out)
{
    return decode_browse_like(r, a, UA_DEFAULT_BINARY_BROWSE_NEXT_RESPONSE, out);
}

/* ------------------------------------------------------ translate paths */

static bool encode_browse_path(struct ua_writer *w, const struct ua_browse_path *p)
{
    ua_encode_nodeid(w, &p->starting_node);
    /* RelativePath: just its Elements array. */
    if (!ua_svc_encode_count(w, p->elements_count, p->elements)) return false;
    for (size_t i = 0; i < p->elements_count; i++) {
        const struct ua_relative_path_element *e = &p->elements[i];
        ua_encode_nodeid(w, &e->reference_type_id);
        ua_write_bool(w, e->is_inverse);
        ua_write_bool(w, e->include_subtypes);
        ua_svc_encode_qualified_name(w, &e->target_name);
    }
    return ua_writer_ok(w);
}

bool ua_encode_translate_browse_paths_request(struct ua_writer *w,
                                              const struct ua_request_header *h,
                                              const struct ua_translate_browse_paths_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_REQUEST, h);
    if (!ua_svc_encode_count(w, req->browse_paths_count, req->browse_paths)) return false;
    for (size_t i = 0; i < req->browse_paths_count; i++)
        encode_browse_path(w, &req->browse_paths[i]);
    return ua_writer_ok(w);
}

static bool decode_browse_path_result(struct ua_reader *r, struct ua_arena *a,
                                      struct ua_browse_path_result *p)
{
    p->status = ua_read_u32(r);
    if (!ua_svc_decode_array_alloc(r, a, BROWSE_PATH_TARGET_MIN_BYTES, sizeof *p->targets,
                                   &p->targets_count, (void **)&p->targets))
        return false;
    for (size_t i = 0; i < p->targets_count && !r->failed; i++) {
        ua_decode_expanded_nodeid(r, &p->targets[i].target_id);
        p->targets[i].remaining_path_index = ua_read_u32(r);
    }
    return !r->failed;
}

uint32_t ua_decode_translate_browse_paths_response(struct ua_reader *r, struct ua_arena *a,
                                                   struct ua_translate_browse_paths_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st =
        ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_TRANSLATE_BROWSE_PATHS_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    if (!ua_svc_decode_array_alloc(r, a, BROWSE_PATH_RESULT_MIN_BYTES, sizeof *out->results,
                                   &out->results_count, (void **)&out->results))
        return ua_svc_decode_end(r);
    for (size_t i = 0; i < out->results_count && !r->failed; i++)
        decode_browse_path_result(r, a, &out->results[i]);
    if (!r->failed) ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

/* ---------------------------------------------------------- read, write */

bool ua_encode_read_request(struct ua_writer *w, const struct ua_request_header *h,
                            const struct ua_read_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_READ_REQUEST, h);
    ua_write_double(w, req->max_age_ms);
    ua_write_i32(w, req->timestamps_to_return);
    if (!ua_svc_encode_count(w, req->nodes_count, req->nodes)) return false;
    for (size_t i = 0; i < req->nodes_count; i++)
        ua_svc_encode_read_value_id(w, &req->nodes[i]);
    return ua_writer_ok(w);
}

uint32_t ua_decode_read_response(struct ua_reader *r, struct ua_arena *a,
                                 struct ua_read_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, UA_DEFAULT_BINARY_READ_RESPONSE, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    if (!ua_svc_decode_array_alloc(r, a, DATAVALUE_MIN_BYTES, sizeof *out->results,
                                   &out->results_count, (void **)&out->results))
        return ua_svc_decode_end(r);
    for (size_t i = 0; i < out->results_count && !r->failed; i++)
        ua_decode_datavalue(r, a, &out->results[i]);
    if (!r->failed) ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

bool ua_encode_write_request(struct ua_writer *w, const struct ua_request_header *h,
                             const struct ua_write_request *req)
{
    ua_svc_encode_begin(w, UA_DEFAULT_BINARY_WRITE_REQUEST, h);
    if (!ua_svc_encode_count(w, req->nodes_count, req->nodes)) return false;
    for (size_t i = 0; i < req->nodes_count; i++) {
        const struct ua_write_value *v = &req->nodes[i];
        ua_encode_nodeid(w, &v->node_id);
        ua_write_u32(w, v->attribute_id);
        ua_svc_encode_string(w, v->index_range);
        ua_encode_datavalue(w, &v->value);
    }
    return ua_writer_ok(w);
}

/* Write and DeleteSubscriptions: StatusCode[] then DiagnosticInfo[]. */
static uint32_t decode_status_list(struct ua_reader *r, struct ua_arena *a, uint32_t type_id,
                                   struct ua_status_list_response *out)
{
    memset(out, 0, sizeof *out);
    uint32_t st = ua_svc_decode_begin(r, a, type_id, &out->header);
    if (st != UA_STATUS_GOOD) return st;
    if (ua_svc_decode_u32_array(r, a, &out->results_count, &out->results))
        ua_svc_skip_diagnostic_infos(r, a);
    return ua_svc_decode_end(r);
}

uint32_t ua_decode_write_response(struct ua_reader *r, struct ua_arena *a,
                                  struct ua_status_list_response *out)
{
    return decode_status_list(r, a, UA_DEFAULT_BINARY_WRITE_RESPONSE, out);
}

uint32_t ua_decode_delete_subscriptions_response(struct ua_reader *r, struct ua_arena *a,
                                                 struct ua_status_list_response *out)
{
    return decode_status_list(r, a, UA_DEFAULT_BINARY_DELETE_SUBSCRIPTIONS_RESPONSE, out);
}

/* ------------------------------------------------- EUInformation, Range */

/* Finds the binary body of an ExtensionObject of type type_id in a scalar
 * Variant; false with *why set otherwise. */
static bool variant_body(const struct ua_variant *v, uint32_t type_id, const char *type_reason,
                         struct ua_reader *body, const char **why)
{
    const char *reason = NULL;
    if (v->type != UA_TYPE_EXTENSIONOBJECT || v->is_array || !v->as.extension_object)
        reason = "not an ExtensionObject";
    else if (v->as.extension_object->encoding != UA_EXTENSION_OBJECT_BINARY)
        reason = "not binary encoded";
    else if (!ua_svc_extension_is(v->as.extension_object, type_id))
        reason = type_reason;
    if (reason) {
        if (why) *why = reason;
        return false;
    }
    struct ua_string b = v->as.extension_object->body;
    ua_reader_init(body, b.data, b.length > 0 ? (size_t)b.length : 0);
    return true;
}

bool ua_variant_to_eu_information(const struct ua_variant *v, struct ua_eu_information *out,
                                  const char **why)
{
    struct ua_reader r;
    memset(out, 0, sizeof *out);
    if (!variant_body(v, UA_DEFAULT_BINARY_EU_INFORMATION, "not an EUInformation", &r, why))
        return false;
    ua_decode_string(&r, &out->namespace_uri);
    out->unit_id = ua_read_i32(&r);
    ua_decode_localized_text(&r, &out->display_name);
    ua_decode_localized_text(&r, &out->description);
    if (r.failed) {
        if (why) *why = "EUInformation: truncated or malformed body";
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}

bool ua_variant_to_range(const struct ua_variant *v, struct ua_range *out, const char **why)
{
    struct ua_reader r;
    memset(out, 0, sizeof *out);
    if (!variant_body(v, UA_DEFAULT_BINARY_RANGE, "not a Range", &r, why)) return false;
    out->low = ua_read_double(&r);
    out->high = ua_read_double(&r);
    if (r.failed) {
        if (why) *why = "Range: truncated body";
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}
