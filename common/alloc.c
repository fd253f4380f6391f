/*
 * Allocation wrappers with a failure-injection hook for tests. The hook is
 * the one piece of process-wide state outside main: tests set it, daemons
 * never touch it.
 */
#include "eddy/alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long alloc_fail_countdown = -1;

void eddy_alloc_fail_after(long n)
{
    atomic_store(&alloc_fail_countdown, n);
}

static int alloc_should_fail(void)
{
    long n = atomic_load(&alloc_fail_countdown);
    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        atomic_store(&alloc_fail_countdown, -1);
        return 1;
    }
    atomic_store(&alloc_fail_countdown, n - 1);
    return 0;
}

void *eddy_malloc(size_t size)
{
    return alloc_should_fail() ? NULL : malloc(size);
}

void *eddy_calloc(size_t count, size_t size)
{
    return alloc_should_fail() ? NULL : calloc(count, size);
}

void *eddy_realloc(void *ptr, size_t size)
{
    return alloc_should_fail() ? NULL : realloc(ptr, size);
}

char *eddy_strdup(const char *s)
{
    return alloc_should_fail() ? NULL : strdup(s);
}

char *eddy_strndup(const char *s, size_t n)
{
    return alloc_should_fail() ? NULL : strndup(s, n);
}

void eddy_free(void *ptr)
{
    free(ptr);
}

static void *alloc_check(void *p)
{
    if (p == NULL) {
        fputs("eddy: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *eddy_xmalloc(size_t size)
{
    return alloc_check(malloc(size ? size : 1));
}

void *eddy_xcalloc(size_t count, size_t size)
{
    return alloc_check(calloc(count ? count : 1, size ? size : 1));
}

void *eddy_xrealloc(void *ptr, size_t size)
{
    return alloc_check(realloc(ptr, size ? size : 1));
}

char *eddy_xstrdup(const char *s)
{
    return alloc_check(strdup(s));
}
