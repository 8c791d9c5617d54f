/* The dashboard files of web/, compiled into the binary by
 * cmake/embed_web.cmake. The table ends with an entry whose path is NULL. */
#ifndef AIRLOCK_API_WEB_ASSETS_H
#define AIRLOCK_API_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path;         /* "/index.html" */
    const char *content_type; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t size;
};

extern const struct web_asset web_assets[];

#endif
