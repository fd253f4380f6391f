/*
 * A client connection's byte stream for the HTTP transports: a TCP socket,
 * plain or with TLS (tls.h) in between. Its calls mirror libuv's stream
 * calls (read_start/stop with an alloc callback, write with a request the
 * caller embeds, shutdown, close) so http1.c and http2.c run unchanged over
 * either. Callbacks never run inside the call that caused them.
 *
 * Ownership: http_io_accept creates it; the owner (io->data, changed with
 * http_io_set_data when a connection passes from protocol detection to a
 * transport) ends it with http_io_close, whose callback is the last one;
 * the io is freed after that callback returns.
 */
#ifndef EDDY_HTTP_IO_H
#define EDDY_HTTP_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_io;
struct tls_ctx;

/* Sets *buf to where up to buf->len bytes may go; len 0 means no room (the
 * read callback then gets UV_ENOBUFS, as libuv does). */
typedef void (*http_io_alloc_cb)(struct http_io *io, uv_buf_t *buf);
/* nread bytes in buf, or a negative code (UV_EOF, UV_ENOBUFS, errors). */
typedef void (*http_io_read_cb)(struct http_io *io, ssize_t nread, const uv_buf_t *buf);
typedef void (*http_io_status_cb)(struct http_io *io, int status);
typedef void (*http_io_close_cb)(struct http_io *io);

struct http_io_write;
typedef void (*http_io_write_cb)(struct http_io_write *w, int status);

/* A write, embedded by the caller; valid until its callback. */
struct http_io_write {
    uv_write_t req;
    struct http_io *io;
    http_io_write_cb cb; /* NULL for the io's own writes (TLS records) */
    uint8_t *cipher;     /* TLS: the encrypted bytes, freed in the callback */
};

/* Accepts a connection from listener. With tls, the connection must pass
 * http_io_handshake before anything else. scratch (scratch_len bytes,
 * borrowed for the io's life) receives TLS ciphertext reads; it may be
 * shared by every io of one loop. */
int http_io_accept(struct http_io **out,
                   uv_loop_t *loop,
                   uv_stream_t *listener,
                   struct tls_ctx *tls,
                   uint8_t *scratch,
                   size_t scratch_len);
void http_io_set_data(struct http_io *io, void *data);
void *http_io_data(const struct http_io *io);
bool http_io_is_tls(const struct http_io *io);

/* TLS only: runs the handshake, then cb(io, 0) or cb(io, error). */
int http_io_handshake(struct http_io *io, http_io_status_cb cb);
/* After the handshake: "h2", "http/1.1" or NULL. */
const char *http_io_alpn(const struct http_io *io);

int http_io_read_start(struct http_io *io, http_io_alloc_cb alloc_cb, http_io_read_cb read_cb);
void http_io_read_stop(struct http_io *io);
/* Writes n buffers (copied or encrypted before return for TLS; borrowed
 * until cb for plain). */
int http_io_write(struct http_io *io,
                  struct http_io_write *w,
                  const uv_buf_t *bufs,
                  unsigned n,
                  http_io_write_cb cb);
/* Bytes handed to write not yet taken by the kernel. */
size_t http_io_write_queue_size(const struct http_io *io);
/* Ends the sending side (TLS: close_notify first) after queued writes. */
int http_io_shutdown(struct http_io *io, http_io_status_cb cb);
/* Pending writes are cancelled (their callbacks get UV_ECANCELED) before cb. */
void http_io_close(struct http_io *io, http_io_close_cb cb);

#endif
