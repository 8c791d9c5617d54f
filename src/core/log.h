/* Structured logging: one line per event on stderr,
 *   2026-11-22T10:15:30.123Z level=warn module=modbus msg="device timed out" device=pump ...
 * Thread-safe; lines are written whole. Callers pass key=value pairs already
 * formatted in the message tail (log_kv quotes a value when it needs it). */
#ifndef AIRLOCK_CORE_LOG_H
#define AIRLOCK_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error". */
bool log_level_from_name(const char *name, enum log_level *out);

/* Logs msg for module, then the printf-formatted key=value tail (may be NULL).
 * Example: log_write(LOG_WARN, "modbus", "device timed out", "device=%s after_ms=%d", n, t); */
void log_write(enum log_level level, const char *module, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(module, msg, ...) log_write(LOG_DEBUG, module, msg, __VA_ARGS__)
#define log_info(module, msg, ...) log_write(LOG_INFO, module, msg, __VA_ARGS__)
#define log_warn(module, msg, ...) log_write(LOG_WARN, module, msg, __VA_ARGS__)
#define log_error(module, msg, ...) log_write(LOG_ERROR, module, msg, __VA_ARGS__)

#endif
