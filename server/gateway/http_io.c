/*
 * http_io.h on libuv. A plain io hands every call to its uv_tcp_t. A TLS io
 * runs tls.c between the socket and the owner: ciphertext reads go into the
 * session, plaintext comes out into the owner's buffers; each owner write is
 * encrypted at once and sent as one uv_write of its ciphertext, so callbacks
 * keep libuv's order and meaning; records the session makes on its own
 * (handshake, tickets, alerts, close_notify) go out as the io's own writes.
 *
 * Reading over TLS: the socket is read only while the handshake runs or the
 * owner reads, and each socket read is fed whole before the next, so at most
 * one read of ciphertext waits in the session. Plaintext left in the session
 * when the owner stops reading (or already decrypted when it starts) is
 * delivered from an idle callback, never inside http_io_read_start.
 */
#include "http_io.h"

#include "tls.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <string.h>

struct http_io {
    uv_tcp_t tcp;
    uv_shutdown_t shutdown;
    uv_idle_t idle; /* TLS: delivers input the session already holds */
    struct tls_session *tls;
    uint8_t *scratch;
    size_t scratch_len;
    void *data;
    http_io_alloc_cb alloc_cb;
    http_io_read_cb read_cb;
    http_io_status_cb handshake_cb; /* while the handshake runs */
    http_io_status_cb shutdown_cb;
    http_io_close_cb close_cb;
    unsigned handles_open;
    bool is_reading; /* the owner reads */
    bool is_tcp_reading;
    bool is_eof;           /* TLS: the socket ended; told once the input is drained */
    bool is_eof_delivered; /* TLS */
    bool is_closing;
};

static void io_on_handle_close(uv_handle_t *h)
{
    struct http_io *io = h->data;
    EDDY_ASSERT(io->handles_open > 0);
    if (--io->handles_open > 0) {
        return;
    }
    if (io->close_cb != NULL) {
        io->close_cb(io);
    }
    tls_session_destroy(io->tls);
    eddy_free(io);
}

int http_io_accept(struct http_io **out,
                   uv_loop_t *loop,
                   uv_stream_t *listener,
                   struct tls_ctx *tls,
                   uint8_t *scratch,
                   size_t scratch_len)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(tls == NULL || (scratch != NULL && scratch_len > 0));
    struct http_io *io = eddy_xcalloc(1, sizeof(*io));
    int rv = uv_tcp_init(loop, &io->tcp);
    EDDY_ASSERT(rv == 0);
    io->tcp.data = io;
    io->handles_open = 1;
    io->scratch = scratch;
    io->scratch_len = scratch_len;
    *out = io; /* closed by the caller whatever happens next */
    if (tls != NULL) {
        rv = uv_idle_init(loop, &io->idle);
        EDDY_ASSERT(rv == 0);
        io->idle.data = io;
        io->handles_open++;
        rv = tls_session_create(&io->tls, tls);
        if (rv != 0) {
            return rv;
        }
    }
    rv = uv_accept(listener, (uv_stream_t *)&io->tcp);
    if (rv != 0) {
        return rv;
    }
    uv_tcp_nodelay(&io->tcp, 1);
    return 0;
}

void http_io_set_data(struct http_io *io, void *data)
{
    EDDY_ASSERT(io != NULL);
    io->data = data;
}

void *http_io_data(const struct http_io *io)
{
    EDDY_ASSERT(io != NULL);
    return io->data;
}

bool http_io_is_tls(const struct http_io *io)
{
    EDDY_ASSERT(io != NULL);
    return io->tls != NULL;
}

const char *http_io_alpn(const struct http_io *io)
{
    EDDY_ASSERT(io != NULL);
    return io->tls != NULL ? tls_session_alpn(io->tls) : NULL;
}

/* --- plain --- */

static void io_on_alloc_plain(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_io *io = h->data;
    (void)suggested;
    io->alloc_cb(io, buf);
}

static void io_on_read_plain(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_io *io = stream->data;
    io->read_cb(io, nread, buf);
}

static void io_on_write(uv_write_t *req, int status)
{
    struct http_io_write *w = container_of(req, struct http_io_write, req);
    eddy_free(w->cipher);
    w->cipher = NULL;
    if (w->cb == NULL) {
        eddy_free(w); /* one of the io's own TLS writes */
        return;
    }
    w->cb(w, status);
}

/* --- TLS --- */

/* Sends whatever ciphertext the session made on its own. */
static int io_tls_flush(struct http_io *io)
{
    size_t len = tls_session_output_len(io->tls);
    if (len == 0 || io->is_closing) {
        return 0;
    }
    struct http_io_write *w = eddy_xcalloc(1, sizeof(*w));
    w->io = io;
    w->cipher = eddy_xmalloc(len);
    size_t taken = tls_session_take_output(io->tls, w->cipher, len);
    EDDY_ASSERT(taken == len);
    uv_buf_t b = uv_buf_init((char *)w->cipher, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&io->tcp, &b, 1, io_on_write);
    if (rv != 0) {
        eddy_free(w->cipher);
        eddy_free(w);
    }
    return rv;
}

static void io_tls_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_io *io = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)io->scratch, (unsigned)io->scratch_len);
}

static void io_tls_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void io_tls_set_reading(struct http_io *io)
{
    bool want = !io->is_closing && !io->is_eof && (io->handshake_cb != NULL || io->is_reading);
    if (want && !io->is_tcp_reading) {
        if (uv_read_start((uv_stream_t *)&io->tcp, io_tls_on_alloc, io_tls_on_read) == 0) {
            io->is_tcp_reading = true;
        }
    } else if (!want && io->is_tcp_reading) {
        uv_read_stop((uv_stream_t *)&io->tcp);
        io->is_tcp_reading = false;
    }
}

static void io_tls_handshake_step(struct http_io *io)
{
    int rv = tls_session_handshake(io->tls);
    int frv = io_tls_flush(io); /* the server's flight, or an alert */
    if (rv == 0 && frv == 0 && !io->is_eof) {
        return;
    }
    http_io_status_cb cb = io->handshake_cb;
    io->handshake_cb = NULL;
    io_tls_set_reading(io);
    if (rv == 1 && frv == 0) {
        cb(io, 0);
    } else {
        cb(io, rv < 0 ? rv : frv != 0 ? frv : UV_EOF);
    }
}

/* Hands the owner the plaintext the session holds, while it reads. */
static void io_tls_deliver(struct http_io *io)
{
    while (io->is_reading && !io->is_closing) {
        uv_buf_t buf = uv_buf_init(NULL, 0);
        io->alloc_cb(io, &buf);
        if (buf.len == 0) {
            io->read_cb(io, UV_ENOBUFS, &buf);
            return;
        }
        ssize_t n = tls_session_read(io->tls, (uint8_t *)buf.base, buf.len);
        if (io_tls_flush(io) != 0 && n >= 0) {
            n = UV_EPIPE;
        }
        if (n > 0) {
            io->read_cb(io, n, &buf);
            continue;
        }
        if (n == 0 && !io->is_eof) {
            io->read_cb(io, 0, &buf); /* gives the buffer back */
            return;
        }
        if (io->is_eof_delivered) {
            return;
        }
        io->is_eof_delivered = true;
        io->is_eof = true;
        io_tls_set_reading(io);
        io->read_cb(io, n == 0 || n == UV_EOF ? UV_EOF : UV_EPROTO, &buf);
        return;
    }
}

static void io_tls_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_io *io = stream->data;
    if (nread == 0 || io->is_closing) {
        return;
    }
    if (nread < 0) {
        io->is_eof = true;
        io_tls_set_reading(io);
    } else if (tls_session_feed(io->tls, (const uint8_t *)buf->base, (size_t)nread) != 0) {
        io->is_eof = true; /* out of memory: treated as the end */
        io_tls_set_reading(io);
    }
    if (io->handshake_cb != NULL) {
        io_tls_handshake_step(io);
    } else {
        io_tls_deliver(io);
    }
}

static void io_tls_on_idle(uv_idle_t *idle)
{
    struct http_io *io = idle->data;
    uv_idle_stop(idle);
    io_tls_deliver(io);
}

int http_io_handshake(struct http_io *io, http_io_status_cb cb)
{
    EDDY_ASSERT(io != NULL);
    EDDY_ASSERT(io->tls != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(io->handshake_cb == NULL);
    io->handshake_cb = cb;
    io_tls_set_reading(io);
    return io->is_tcp_reading ? 0 : UV_EPIPE;
}

/* --- the owner's side --- */

int http_io_read_start(struct http_io *io, http_io_alloc_cb alloc_cb, http_io_read_cb read_cb)
{
    EDDY_ASSERT(io != NULL);
    EDDY_ASSERT(alloc_cb != NULL);
    EDDY_ASSERT(read_cb != NULL);
    EDDY_ASSERT(!io->is_closing);
    io->alloc_cb = alloc_cb;
    io->read_cb = read_cb;
    io->is_reading = true;
    if (io->tls == NULL) {
        return uv_read_start((uv_stream_t *)&io->tcp, io_on_alloc_plain, io_on_read_plain);
    }
    EDDY_ASSERT(io->handshake_cb == NULL);
    io_tls_set_reading(io);
    if (tls_session_has_input(io->tls) || (io->is_eof && !io->is_eof_delivered)) {
        uv_idle_start(&io->idle, io_tls_on_idle);
    }
    return 0;
}

void http_io_read_stop(struct http_io *io)
{
    EDDY_ASSERT(io != NULL);
    io->is_reading = false;
    if (io->tls == NULL) {
        uv_read_stop((uv_stream_t *)&io->tcp);
        return;
    }
    uv_idle_stop(&io->idle);
    io_tls_set_reading(io);
}

int http_io_write(struct http_io *io,
                  struct http_io_write *w,
                  const uv_buf_t *bufs,
                  unsigned n,
                  http_io_write_cb cb)
{
    EDDY_ASSERT(io != NULL);
    EDDY_ASSERT(w != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(!io->is_closing);
    w->io = io;
    w->cb = cb;
    w->cipher = NULL;
    if (io->tls == NULL) {
        return uv_write(&w->req, (uv_stream_t *)&io->tcp, bufs, n, io_on_write);
    }
    for (unsigned i = 0; i < n; i++) {
        int rv = tls_session_write(io->tls, (const uint8_t *)bufs[i].base, bufs[i].len);
        if (rv != 0) {
            return UV_EPIPE;
        }
    }
    size_t len = tls_session_output_len(io->tls);
    w->cipher = eddy_xmalloc(len > 0 ? len : 1);
    size_t taken = tls_session_take_output(io->tls, w->cipher, len);
    EDDY_ASSERT(taken == len);
    uv_buf_t b = uv_buf_init((char *)w->cipher, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&io->tcp, &b, 1, io_on_write);
    if (rv != 0) {
        eddy_free(w->cipher);
        w->cipher = NULL;
    }
    return rv;
}

size_t http_io_write_queue_size(const struct http_io *io)
{
    EDDY_ASSERT(io != NULL);
    return uv_stream_get_write_queue_size((const uv_stream_t *)&io->tcp);
}

static void io_on_shutdown(uv_shutdown_t *req, int status)
{
    struct http_io *io = container_of(req, struct http_io, shutdown);
    if (io->shutdown_cb != NULL) {
        io->shutdown_cb(io, status);
    }
}

int http_io_shutdown(struct http_io *io, http_io_status_cb cb)
{
    EDDY_ASSERT(io != NULL);
    EDDY_ASSERT(cb != NULL);
    io->shutdown_cb = cb;
    if (io->tls != NULL) {
        tls_session_close_notify(io->tls);
        int rv = io_tls_flush(io);
        if (rv != 0) {
            return rv;
        }
    }
    return uv_shutdown(&io->shutdown, (uv_stream_t *)&io->tcp, io_on_shutdown);
}

void http_io_close(struct http_io *io, http_io_close_cb cb)
{
    EDDY_ASSERT(io != NULL);
    EDDY_ASSERT(!io->is_closing);
    io->is_closing = true;
    io->close_cb = cb;
    io->is_reading = false;
    io->shutdown_cb = NULL;
    io->handshake_cb = NULL;
    uv_close((uv_handle_t *)&io->tcp, io_on_handle_close);
    if (io->tls != NULL) {
        uv_close((uv_handle_t *)&io->idle, io_on_handle_close);
    }
}
