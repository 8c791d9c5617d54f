/* Allocation for the historian, with failure injection for tests.
 *
 * Every allocation in src/historian goes through these, so a unit test can
 * make the nth one fail and check that the caller reports out of memory,
 * leaves its state consistent and leaks nothing (SQLite's way). In normal
 * runs they are malloc, calloc, realloc and free. */
#ifndef AIRLOCK_HISTORIAN_HIST_ALLOC_H
#define AIRLOCK_HISTORIAN_HIST_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Every historian error message about a failed allocation contains this
 * text; callers that must tell "the file is bad" from "memory ran out"
 * (not the file's fault: retry, never quarantine data) test it with
 * hist_is_out_of_memory rather than matching text of their own. */
#define HIST_OUT_OF_MEMORY "out of memory"
static inline bool hist_is_out_of_memory(const char *why)
{
    return why && strstr(why, HIST_OUT_OF_MEMORY) != NULL;
}

void *hist_malloc(size_t n);
void *hist_calloc(size_t count, size_t size);
void *hist_realloc(void *p, size_t n);
void hist_free(void *p);

/* Tests: from now on, allocation number n (1-based) and every later one
 * fail when sticky, or only that one when not. n = 0 turns injection off.
 * Process-wide; not for use while other threads allocate. */
void hist_alloc_fail_at(uint64_t n, int sticky);
/* Allocations attempted since the last hist_alloc_fail_at call. */
uint64_t hist_alloc_count(void);

#endif
