/* Allocation wrappers with test-only failure injection (see hist_alloc.h). */
#include "historian/hist_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic uint64_t fail_at;
static _Atomic int fail_sticky;
static _Atomic uint64_t attempts;

void hist_alloc_fail_at(uint64_t n, int sticky)
{
    atomic_store(&attempts, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, n);
}

uint64_t hist_alloc_count(void)
{
    return atomic_load(&attempts);
}

/* True when this allocation must fail. */
static int injected_failure(void)
{
    uint64_t n = atomic_fetch_add(&attempts, 1) + 1;
    uint64_t at = atomic_load(&fail_at);
    if (at == 0) return 0;
    return atomic_load(&fail_sticky) ? n >= at : n == at;
}

void *hist_malloc(size_t n)
{
    return injected_failure() ? NULL : malloc(n ? n : 1);
}

void *hist_calloc(size_t count, size_t size)
{
    return injected_failure() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *hist_realloc(void *p, size_t n)
{
    return injected_failure() ? NULL : realloc(p, n ? n : 1);
}

void hist_free(void *p)
{
    free(p);
}
