/* A string pool: many small strings that live and die together (a tag
 * table's paths and units, a configuration's texts) copied into a few large
 * blocks instead of one heap allocation each. For 100,000 tags this saves the
 * per-allocation overhead (16 bytes and rounding up to 16 per string) and
 * keeps the strings of neighbouring tags on the same pages.
 *
 * A pool is a plain struct that may be moved by value (copy it, then forget
 * the original without freeing it). Strings are never freed one by one. */
#ifndef AIRLOCK_CORE_STRPOOL_H
#define AIRLOCK_CORE_STRPOOL_H

#include <stddef.h>

struct strpool_block;

struct strpool {
    struct strpool_block *head; /* newest block first; NULL when empty */
    size_t bytes;               /* bytes of blocks held, for reporting */
};

void strpool_init(struct strpool *p);

/* Frees every string of the pool; the pool is left empty and usable. */
void strpool_clear(struct strpool *p);

/* Room for a string of len bytes, NUL-terminated at [len] and otherwise
 * uninitialised, owned by the pool; the caller fills it. NULL when out of
 * memory. */
char *strpool_alloc(struct strpool *p, size_t len);

/* A copy of s[0..len) plus a NUL, owned by the pool. NULL when out of
 * memory. s may contain no NUL in that range for the result to be a C
 * string of length len. */
char *strpool_copy_len(struct strpool *p, const char *s, size_t len);

/* A copy of the C string s (NULL is taken as ""), owned by the pool. NULL
 * when out of memory. */
char *strpool_copy(struct strpool *p, const char *s);

#endif
