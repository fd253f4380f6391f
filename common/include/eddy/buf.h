/*
 * A growable byte buffer with a hard capacity bound. The owner embeds the
 * struct, calls buf_init with its bound, and buf_free when done.
 */
#ifndef EDDY_BUF_H
#define EDDY_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t len_max; /* appends that would pass this fail with -EDDY_ETOOBIG */
};

void buf_init(struct buf *b, size_t len_max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Ensures room for n more bytes; -EDDY_ETOOBIG past len_max. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hands the bytes to the caller (free with eddy_free) and leaves b empty. */
uint8_t *buf_steal(struct buf *b, size_t *len);

#endif
