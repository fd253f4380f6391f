/*
 * Every allocation goes through here so tests can make any allocation fail
 * (alloc_fail_after). Daemons abort on out-of-memory through the eddy_x*
 * variants; library code uses eddy_malloc and returns -ENOMEM.
 */
#ifndef EDDY_ALLOC_H
#define EDDY_ALLOC_H

#include <stddef.h>

void *eddy_malloc(size_t size);
void *eddy_calloc(size_t count, size_t size);
void *eddy_realloc(void *ptr, size_t size);
char *eddy_strdup(const char *s);
char *eddy_strndup(const char *s, size_t n);
void eddy_free(void *ptr);

/* Abort on failure: for daemon paths where out-of-memory is fatal. */
void *eddy_xmalloc(size_t size);
void *eddy_xcalloc(size_t count, size_t size);
void *eddy_xrealloc(void *ptr, size_t size);
char *eddy_xstrdup(const char *s);

/* Test hook: the n-th allocation from now fails (n >= 0); -1 turns it off. */
void eddy_alloc_fail_after(long n);

#endif
