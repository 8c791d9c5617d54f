/* The embedded dashboard: files of web/ served from the web_assets[] table
 * that the build generates (cmake/embed_web.cmake). Only exact names in the
 * table are served; there is no file system access, so no path can escape. */
#include <string.h>

#include "api/api_internal.h"

const struct web_asset *api_find_asset(const char *url)
{
    if (strcmp(url, "/") == 0) url = "/index.html";
    for (const struct web_asset *a = web_assets; a->path; a++)
        if (strcmp(a->path, url) == 0) return a;
    return NULL;
}

enum MHD_Result api_route_asset(struct MHD_Connection *c, const struct web_asset *a)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    api_add_common_headers(r);
    MHD_add_response_header(r, "Content-Type", a->content_type);
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
