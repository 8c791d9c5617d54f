/* Error messages into a caller's buffer (errbuf.h). */
#include "core/errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void errbuf_set(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}
