/* Time: wall-clock UTC in ns for sample timestamps, monotonic ms for
 * scheduling, and RFC 3339 formatting. */
#ifndef AIRLOCK_CORE_CLOCK_H
#define AIRLOCK_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds since the Unix epoch, UTC (CLOCK_REALTIME). */
int64_t clock_now_ns(void);
/* Monotonic milliseconds (CLOCK_MONOTONIC), for intervals and deadlines. */
int64_t clock_mono_ms(void);
/* Monotonic nanoseconds, for latency measurement. */
int64_t clock_mono_ns(void);
/* Sleeps until the monotonic time deadline_ms (returns at once if past). */
void clock_sleep_until_ms(int64_t deadline_ms);
/* Writes ts_ns as RFC 3339 UTC with millisecond precision,
 * "2026-11-22T10:15:30.123Z", into buf (at least 32 bytes). Returns buf. */
char *clock_format_rfc3339(int64_t ts_ns, char *buf, size_t len);

#endif
