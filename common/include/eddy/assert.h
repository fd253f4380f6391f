/*
 * Assertions that stay on in every build type. Never assert on bytes that
 * came from the network or the disk: return -EDDY_EMALFORMED or -EDDY_ECORRUPT.
 */
#ifndef EDDY_ASSERT_H
#define EDDY_ASSERT_H

#include <assert.h>

void eddy_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define EDDY_ASSERT(expr)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!(expr), 0)) {                                                        \
            eddy_assert_fail(#expr, __FILE__, __LINE__);                                           \
        }                                                                                          \
    } while (0)

#ifdef EDDY_DEBUG
#define EDDY_DEBUG_ASSERT(expr) EDDY_ASSERT(expr)
#else
#define EDDY_DEBUG_ASSERT(expr) ((void)0)
#endif

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define EDDY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
