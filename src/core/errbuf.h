/* Error messages into a caller's buffer: the convention of every module is a
 * `char *err, size_t err_len` (or `why`) pair the callee may fill with one
 * line saying what failed and where. */
#ifndef AIRLOCK_CORE_ERRBUF_H
#define AIRLOCK_CORE_ERRBUF_H

#include <stddef.h>

/* Formats into buf (always terminated, truncated to cap); does nothing when
 * buf is NULL or cap is 0. */
void errbuf_set(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
