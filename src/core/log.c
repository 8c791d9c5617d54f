/* Structured log lines on stderr. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"

static atomic_int current_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&current_level);
}

bool log_level_from_name(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(level_names[i], name) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void log_write(enum log_level level, const char *module, const char *msg, const char *kv_fmt, ...)
{
    if ((int)level < atomic_load(&current_level)) return;
    char line[2048], ts[40];
    int n = snprintf(line, sizeof line, "%s level=%s module=%s msg=\"",
                     clock_format_rfc3339(clock_now_ns(), ts, sizeof ts), level_names[level],
                     module);
    /* The message is quoted; escape quotes and control characters in it. */
    for (const char *p = msg; *p && n < (int)sizeof line - 8; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') line[n++] = '\\';
        line[n++] = (c < 0x20) ? ' ' : (char)c;
    }
    line[n++] = '"';
    if (kv_fmt && *kv_fmt && n < (int)sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, kv_fmt, ap);
        va_end(ap);
        if (m > 0) n += (m < (int)sizeof line - n - 1) ? m : (int)sizeof line - n - 2;
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr); /* one write per line: lines are not interleaved */
}
