/* libFuzzer target for the HTTP API's request routing (src/api/api_dispatch.c,
 * api_text.c): the method and path a client sends, before any credential is
 * looked at. The input is "METHOD\nPATH" (no newline: a method picked by the
 * first byte, the rest the path); the path is matched raw and after
 * api_percent_decode, and is also given to api_prefix_parse. Invariants (any
 * violation aborts):
 * - a match is a route of the table whose method fits (HEAD on GET routes);
 *   an exact route's path equals the request's; a tag route's parameter lies
 *   inside the path, after the route's prefix, non-empty, and a write's is
 *   followed by exactly "/write"; no route needs more than admin, and only
 *   health, login and the dashboard's files are public;
 * - API_MATCH_METHOD comes with a non-empty Allow made of "GET, HEAD" and/or
 *   "POST" that does not offer the method asked; NOT_FOUND means no method
 *   knows the path; the answer never depends on the Allow buffer's size;
 * - decoding never grows the text, never makes a NUL, and gives the length
 *   it returns;
 * - an accepted prefix is a NUL-terminated path without a trailing '/' that
 *   matches itself and what lies under it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 4096

static void check(int cond)
{
    if (!cond) abort();
}

static const char *const known_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"};

static bool method_fits(const struct api_route *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static bool allow_is_wellformed(const char *allow)
{
    return strcmp(allow, "GET, HEAD") == 0 || strcmp(allow, "POST") == 0 ||
           strcmp(allow, "GET, HEAD, POST") == 0;
}

/* Checks one api_route_match call and returns its result. */
static enum api_match match_and_check(const char *method, const char *path)
{
    const struct api_route *route = (const void *)1;
    const char *param = (const void *)1;
    size_t param_len = 12345;
    char allow[64];
    memset(allow, 'x', sizeof allow);
    allow[sizeof allow - 1] = '\0';
    enum api_match m =
        api_route_match(method, path, &route, &param, &param_len, allow, sizeof allow);
    size_t len = strlen(path);

    /* The same answer with no Allow buffer and with a tiny one. */
    const struct api_route *route2;
    const char *param2;
    size_t param_len2;
    char tiny[3] = {'y', 'y', 'y'};
    check(api_route_match(method, path, &route2, &param2, &param_len2, NULL, 0) == m);
    check(route2 == (m == API_MATCH_OK ? route : NULL) &&
          param2 == (m == API_MATCH_OK ? param : NULL));
    check(api_route_match(method, path, &route2, &param2, &param_len2, tiny, sizeof tiny) == m);
    if (m == API_MATCH_METHOD) check(tiny[sizeof tiny - 1] == '\0');

    switch (m) {
    case API_MATCH_OK: {
        check(route >= api_routes && route < api_routes + api_route_count);
        check(method_fits(route, method));
        check(route->need == API_PUBLIC ||
              (route->need >= AUTH_ROLE_VIEWER && route->need <= AUTH_ROLE_ADMIN));
        if (route->need == API_PUBLIC)
            check(route->id == API_ROUTE_HEALTH || route->id == API_ROUTE_LOGIN ||
                  route->id == API_ROUTE_ASSET);
        if (strcmp(method, "POST") == 0)
            check(strcmp(route->method, "POST") == 0 && route->id != API_ROUTE_ASSET);
        size_t plen = strlen(route->path);
        switch (route->shape) {
        case API_SHAPE_EXACT:
            check(strcmp(path, route->path) == 0);
            check(param == NULL && param_len == 0);
            break;
        case API_SHAPE_TAG:
        case API_SHAPE_TAG_WRITE:
            check(param != NULL && param_len > 0);
            check(strncmp(path, route->path, plen) == 0);
            check(param == path + plen);
            check(param + param_len <= path + len);
            if (route->shape == API_SHAPE_TAG) {
                check(param + param_len == path + len);
            } else {
                check(param + param_len + 6 == path + len);
                check(memcmp(param + param_len, "/write", 6) == 0);
            }
            break;
        case API_SHAPE_ASSET:
            check(api_find_asset(path) != NULL);
            check(param == NULL && param_len == 0);
            break;
        }
        break;
    }
    case API_MATCH_METHOD:
        check(route == NULL && param == NULL && param_len == 0);
        check(allow[0] != '\0' && allow_is_wellformed(allow));
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            check(strstr(allow, "GET") == NULL);
        if (strcmp(method, "POST") == 0) check(strstr(allow, "POST") == NULL);
        break;
    case API_MATCH_NOT_FOUND:
        check(route == NULL && param == NULL && param_len == 0);
        break;
    default:
        check(0);
    }
    return m;
}

/* Matches path with every known method and checks they agree on whether
 * the path exists. */
static void check_path(const char *method, const char *path)
{
    enum api_match m = match_and_check(method, path);
    bool exists = false;
    for (size_t i = 0; i < sizeof known_methods / sizeof known_methods[0]; i++)
        if (match_and_check(known_methods[i], path) != API_MATCH_NOT_FOUND) exists = true;
    check((m != API_MATCH_NOT_FOUND) == exists);
}

static void check_decode(const char *path)
{
    size_t len = strlen(path);
    char *copy = malloc(len + 1);
    check(copy != NULL);
    memcpy(copy, path, len + 1);
    size_t n = api_percent_decode(copy);
    check(n <= len);
    check(strlen(copy) == n); /* never a NUL inside */
    check_path("GET", copy);
    free(copy);
}

static void check_prefix(const uint8_t *raw, size_t raw_len)
{
    char out[TAG_PATH_MAX], why[160];
    memset(why, 'z', sizeof why);
    if (api_prefix_parse((const char *)raw, raw_len, out, sizeof out, why, sizeof why)) {
        size_t n = strlen(out);
        check(n < sizeof out);
        check(n == 0 || (out[n - 1] != '/' && out[0] != '/'));
        check(memchr(out, '\0', n) == NULL);
        check(api_prefix_matches(out, out));
        char under[TAG_PATH_MAX + 8];
        snprintf(under, sizeof under, "%s/x", out);
        check(api_prefix_matches(out, under));
        if (n > 0) {
            snprintf(under, sizeof under, "%sx", out);
            check(!api_prefix_matches(out, under));
        }
    } else {
        check(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > MAX_INPUT) return 0;
    char text[MAX_INPUT + 1];
    memcpy(text, data, size);
    text[size] = '\0';
    char method[32];
    const char *path;
    char *nl = memchr(text, '\n', size);
    if (nl && (size_t)(nl - text) < sizeof method) {
        memcpy(method, text, (size_t)(nl - text));
        method[nl - text] = '\0';
        path = nl + 1;
    } else {
        snprintf(method, sizeof method, "%s",
                 known_methods[data[0] % (sizeof known_methods / sizeof known_methods[0])]);
        path = text + 1;
    }
    check_path(method, path);
    check_decode(path);
    check_prefix((const uint8_t *)path, size - (size_t)(path - text));
    return 0;
}
