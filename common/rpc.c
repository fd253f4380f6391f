/*
 * Internal RPC over libuv TCP (wire format: common/README.md, "RPC frames").
 *
 * This module owns three things:
 *  - the frame codec, pure and fuzzed (tests/fuzz/fuzz_rpc_frame.c);
 *  - the server: a listener, its connections, and the calls handed to the
 *    handler. A call holds a reference on its connection, so a connection's
 *    memory lives until both its handle closed and its last call was
 *    answered; the server itself is freed once its handles closed and does
 *    not wait for calls;
 *  - the client: at most one connection (a "link") to one address at a time,
 *    made on demand, and the calls waiting for it or for their responses.
 *
 * Server bounds: at most RPC_SERVER_CONNECTIONS_MAX connections (past it a
 * connection is accepted and closed at once); per connection, at most
 * RPC_INFLIGHT_MAX calls with the handler, and no request is taken (reading
 * stops at once) while RPC_WRITE_QUEUE_BYTES_MAX or more reply bytes wait to
 * be written: a peer that does not read its replies stops being read. The
 * replies a connection gets in one loop turn go out in one write at the end
 * of the turn (a shard leader answers the reads one commit wakes at once:
 * one system call and one wake-up of the peer, not one each).
 *
 * Client liveness: a connection attempt is given up after
 * RPC_CONNECT_TIMEOUT_MS; while calls wait on a connection that has been
 * silent for RPC_PROBE_IDLE_MS, a probe (a frame with no body, answered by
 * any server's RPC layer) goes out, and RPC_PROBE_TIMEOUT_MS more of
 * silence drops the connection as if it had failed, with a longer back-off
 * (RPC_PEER_DEAD_RETRY_MS). A stopped process or a partition ends no TCP
 * connection, and the call timeouts are sized for slow calls, not for them.
 *
 * Lifecycles: a server connection goes OPEN -> CLOSING -> CLOSED. A client
 * goes IDLE -> [RESOLVING ->] CONNECTING -> CONNECTED -> IDLE on loss, and
 * to CLOSING from any state. Every object is freed in the close callback of
 * the last handle it owns.
 *
 * Calls are answered in the order their handler replies, not in request
 * order; the client matches responses by id. Client failures (timeouts,
 * disconnects, limits) are delivered from an idle handle, so a callback
 * never runs inside rpc_client_call or rpc_client_close.
 */
#include "eddy/rpc.h"
#include "eddy/list.h"
#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/buf.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/pbarena.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define RPC_HEADER_BYTES 4
#define RPC_READ_CHUNK_BYTES (64 * 1024)  /* bytes asked of one read */
#define RPC_RBUF_KEEP_BYTES (1024 * 1024) /* an empty read buffer above this is freed */
#define RPC_LISTEN_BACKLOG 128
#define RPC_REFUSE_LOG_INTERVAL_MS 1000 /* refused connections are logged at most this often */
#define RPC_HOST_LEN_MAX 255            /* DNS name length limit (RFC 1035 2.3.4) */
#define RPC_ID_BUCKETS RPC_INFLIGHT_MAX
/* Frame body field numbers: requests in [10, 30), responses in [30, 41);
 * from 41 on they come in pairs, an odd request and its response after it
 * (the first ranges are full). */
#define RPC_REQUEST_FIELD_MIN 10
#define RPC_RESPONSE_FIELD_MIN 30
#define RPC_PAIRED_FIELD_MIN 41

static_assert((RPC_ID_BUCKETS & (RPC_ID_BUCKETS - 1)) == 0, "id buckets are a power of two");
static_assert(RPC_FRAME_BYTES_MAX <= UINT32_MAX, "a frame length fits the 4-byte prefix");
static_assert(RPC_WRITE_QUEUE_BYTES_MAX >= RPC_HEADER_BYTES + RPC_FRAME_BYTES_MAX,
              "one frame of the largest size can always be queued");
static_assert(RPC_SERVER_CONNECTIONS_MAX >= 1, "a server takes at least one connection");

/* Test hook, declared again in tests/unit/common/test_rpc.c: how many of the
 * server's connections are reading. */
unsigned rpc_server_reading_count_for_test(const struct rpc_server *s);

/* ---- framing ---- */

int rpc_frame_encode(const Eddy__Frame *f, uint8_t **out, size_t *out_len)
{
    EDDY_ASSERT(f != NULL);
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(out_len != NULL);
    size_t n = eddy__frame__get_packed_size(f);
    if (n > RPC_FRAME_BYTES_MAX) {
        return -EDDY_ETOOBIG;
    }
    uint8_t *p = eddy_malloc(RPC_HEADER_BYTES + n);
    if (p == NULL) {
        return -ENOMEM;
    }
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    size_t packed = eddy__frame__pack(f, p + RPC_HEADER_BYTES);
    EDDY_ASSERT(packed == n);
    *out = p;
    *out_len = RPC_HEADER_BYTES + n;
    return 0;
}

int rpc_frame_decode(const uint8_t *buf, size_t len, size_t *consumed, Eddy__Frame **frame)
{
    EDDY_ASSERT(buf != NULL || len == 0);
    EDDY_ASSERT(consumed != NULL);
    EDDY_ASSERT(frame != NULL);
    *consumed = 0;
    *frame = NULL;
    if (len < RPC_HEADER_BYTES) {
        return 0;
    }
    uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (n > RPC_FRAME_BYTES_MAX) {
        return -EDDY_ETOOBIG;
    }
    if (len - RPC_HEADER_BYTES < n) {
        return 0;
    }
    /* The whole tree in one arena (eddy/pbarena.h): a PutRecords frame
     * unpacks to a few blocks instead of three mallocs per record. Its
     * first block holds the encoded length and half again (the structs). */
    struct pbarena *arena = pbarena_create((size_t)n + n / 2);
    if (arena == NULL) {
        return -ENOMEM;
    }
    Eddy__Frame *f = eddy__frame__unpack(pbarena_allocator(arena), n, buf + RPC_HEADER_BYTES);
    if (f == NULL) {
        int rv = pbarena_is_oom(arena) ? -ENOMEM : -EDDY_EMALFORMED;
        pbarena_destroy(arena);
        return rv;
    }
    EDDY_ASSERT(pbarena_is_first(arena, f)); /* rpc_frame_free finds the arena */
    *consumed = RPC_HEADER_BYTES + n;
    *frame = f;
    return 0;
}

void rpc_frame_free(Eddy__Frame *f)
{
    if (f == NULL) {
        return;
    }
    pbarena_destroy(pbarena_of_first(f));
}

static bool rpc_frame_is_request(const Eddy__Frame *f)
{
    int n = (int)f->body_case;
    if (n >= RPC_PAIRED_FIELD_MIN) {
        return (n - RPC_PAIRED_FIELD_MIN) % 2 == 0;
    }
    return n >= RPC_REQUEST_FIELD_MIN && n < RPC_RESPONSE_FIELD_MIN;
}

static bool rpc_frame_is_response(const Eddy__Frame *f)
{
    int n = (int)f->body_case;
    if (n >= RPC_PAIRED_FIELD_MIN) {
        return (n - RPC_PAIRED_FIELD_MIN) % 2 == 1;
    }
    return n >= RPC_RESPONSE_FIELD_MIN;
}

/* ---- shared I/O helpers ---- */

/* Text for an Eddy code or a libuv code (uv_strerror only knows the latter). */
static const char *rpc_strerror(int rv)
{
    return rv <= -EDDY_ERRNO_BASE_ ? eddy_strerror(rv) : uv_strerror(rv);
}

/* One uv_write with the encoded frame it sends; freed in its callback. */
struct rpc_write {
    uv_write_t req;
    uint8_t *data;
    size_t len;
};

/* Takes ownership of data. */
static struct rpc_write *rpc_write_create(uint8_t *data, size_t len)
{
    struct rpc_write *w = eddy_xmalloc(sizeof(*w));
    w->data = data;
    w->len = len;
    return w;
}

static void rpc_write_destroy(struct rpc_write *w)
{
    eddy_free(w->data);
    eddy_free(w);
}

/* Starts w on stream; on failure w is still the caller's. */
static int rpc_write_start(struct rpc_write *w, uv_stream_t *stream, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    return uv_write(&w->req, stream, &b, 1, cb);
}

/* Read space at the tail of rb: a chunk, or less when a frame nearly fills
 * the bound. An empty uv_buf makes libuv report UV_ENOBUFS. */
static void rpc_rbuf_alloc(struct buf *rb, uv_buf_t *out)
{
    size_t room = rb->len_max - rb->len;
    size_t want = room < RPC_READ_CHUNK_BYTES ? room : RPC_READ_CHUNK_BYTES;
    if (want == 0 || buf_reserve(rb, want) != 0) {
        *out = uv_buf_init(NULL, 0);
        return;
    }
    *out = uv_buf_init((char *)rb->data + rb->len, (unsigned)want);
}

/* Drops the n parsed bytes and gives back the memory of a large empty buffer. */
static void rpc_rbuf_consume(struct buf *rb, size_t n)
{
    if (n > 0) {
        buf_consume(rb, n);
    }
    if (rb->len == 0 && rb->cap > RPC_RBUF_KEEP_BYTES) {
        buf_free(rb);
    }
}

/* Fills sa from a numeric IPv4 or IPv6 host. */
static int rpc_addr_numeric(const char *host, int port, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0) {
        return 0;
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa) == 0) {
        return 0;
    }
    return -EDDY_EINVAL;
}

/* Splits "host:port" or "[v6]:port" into host (NUL-terminated) and port. */
static int rpc_addr_split(const char *address, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL) {
        return -EDDY_EINVAL;
    }
    const char *h = address;
    size_t hlen = (size_t)(colon - address);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= host_size) {
        return -EDDY_EINVAL;
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen) {
        return -EDDY_EINVAL;
    }
    long v = strtol(p, NULL, 10);
    if (v < 1 || v > 65535) {
        return -EDDY_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return 0;
}

/* ---- server ---- */

enum rpc_conn_state { RPC_CONN_OPEN, RPC_CONN_CLOSING, RPC_CONN_CLOSED, RPC_CONN_STATE_COUNT };

static const bool rpc_conn_transitions[RPC_CONN_STATE_COUNT][RPC_CONN_STATE_COUNT] = {
    [RPC_CONN_OPEN] = {[RPC_CONN_CLOSING] = true},
    [RPC_CONN_CLOSING] = {[RPC_CONN_CLOSED] = true},
};

struct rpc_conn {
    struct rpc_server *server; /* NULL once the handle closed */
    uv_tcp_t tcp;
    struct buf rbuf; /* unparsed bytes: at most one frame */
    enum rpc_conn_state state;
    unsigned calls;     /* handed to the handler, not yet answered */
    size_t write_bytes; /* response bytes handed to libuv, not yet written */
    bool is_reading;
    struct list_link node;   /* in server->conns while the handle is open */
    struct list_link resume; /* in server->resume while waiting to resume */
    struct rpc_batch *out;   /* replies of this loop turn, not yet handed to libuv */
    struct list_link flush;  /* in server->flush while out is not NULL */
};

struct rpc_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t resume_idle; /* resumes connections whose limits freed up */
    /* Replies are written once a loop turn, all of a connection's in one
     * write: the check handle runs after the turn's I/O callbacks, the idle
     * handle keeps the loop from blocking before that while replies wait. */
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    rpc_handler_cb handler;
    void *data;
    struct list_link conns;
    struct list_link resume;
    struct list_link flush; /* connections with replies to write */
    unsigned conn_count;    /* in conns: at most RPC_SERVER_CONNECTIONS_MAX */
    unsigned handles_open;  /* listener, idles, check, connections, refused ones */
    uint64_t refuse_log_ms;
    bool is_closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct rpc_call {
    struct rpc_conn *conn;
    Eddy__Frame *req;
};

static void rpc_conn_set_state(struct rpc_conn *c, enum rpc_conn_state to)
{
    EDDY_ASSERT(rpc_conn_transitions[c->state][to]);
    c->state = to;
}

/* Whether c may take one more request under its limits. */
static bool rpc_conn_can_take(const struct rpc_conn *c)
{
    return c->state == RPC_CONN_OPEN && c->calls < RPC_INFLIGHT_MAX &&
           c->write_bytes < RPC_WRITE_QUEUE_BYTES_MAX;
}

static void rpc_server_maybe_free(struct rpc_server *s)
{
    if (!s->is_closing || s->handles_open > 0) {
        return;
    }
    void (*cb)(void *arg) = s->close_cb;
    void *arg = s->close_arg;
    eddy_free(s);
    if (cb != NULL) {
        cb(arg);
    }
}

static void rpc_server_on_handle_close(uv_handle_t *h)
{
    struct rpc_server *s = h->data;
    EDDY_ASSERT(s->handles_open > 0);
    s->handles_open--;
    rpc_server_maybe_free(s);
}

static void rpc_conn_on_close(uv_handle_t *h)
{
    struct rpc_conn *c = container_of((uv_tcp_t *)h, struct rpc_conn, tcp);
    struct rpc_server *s = c->server;
    rpc_conn_set_state(c, RPC_CONN_CLOSED);
    list_remove(&c->node);
    EDDY_ASSERT(s->conn_count > 0);
    s->conn_count--;
    buf_free(&c->rbuf);
    c->server = NULL;
    if (c->calls == 0) {
        eddy_free(c);
    }
    EDDY_ASSERT(s->handles_open > 0);
    s->handles_open--;
    rpc_server_maybe_free(s);
}

static void rpc_conn_write_batch(struct rpc_conn *c);

/* Idempotent. Replies of this loop turn are handed to libuv first (a reply
 * just before a close, an ESHUTDOWN say, still goes out when the socket
 * takes it at once); pending writes complete with UV_ECANCELED before the
 * close callback. */
static void rpc_conn_close(struct rpc_conn *c)
{
    if (c->state != RPC_CONN_OPEN) {
        return;
    }
    rpc_conn_set_state(c, RPC_CONN_CLOSING);
    list_remove(&c->resume);
    rpc_conn_write_batch(c);
    uv_close((uv_handle_t *)&c->tcp, rpc_conn_on_close);
}

static void rpc_conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct rpc_conn *c = container_of((uv_tcp_t *)h, struct rpc_conn, tcp);
    rpc_rbuf_alloc(&c->rbuf, out);
}

static void rpc_conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);
static void rpc_server_on_resume(uv_idle_t *h);

/* Reads while the limits allow it. */
static void rpc_conn_update_reading(struct rpc_conn *c)
{
    bool want = rpc_conn_can_take(c);
    if (want && !c->is_reading) {
        int rv = uv_read_start((uv_stream_t *)&c->tcp, rpc_conn_on_alloc, rpc_conn_on_read);
        if (rv != 0) {
            LOG_WARN("rpc: read start failed err=%s", uv_strerror(rv));
            rpc_conn_close(c);
            return;
        }
        c->is_reading = true;
    } else if (!want && c->is_reading && c->state == RPC_CONN_OPEN) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->is_reading = false;
    }
}

/* Queues c to process its buffered frames and read again from the idle
 * callback, when a reply or a finished write freed up a limit. Deferred so
 * that rpc_call_reply never runs the handler. */
static void rpc_conn_maybe_resume(struct rpc_conn *c)
{
    if (c->is_reading || !rpc_conn_can_take(c) || !list_is_empty(&c->resume)) {
        return;
    }
    list_push(&c->server->resume, &c->resume);
    uv_idle_start(&c->server->resume_idle, rpc_server_on_resume);
}

/* The replies one connection got in one loop turn, written with one
 * uv_write (one writev) at the end of the turn and freed in its callback:
 * the reads one commit wakes on a shard leader answer together so. */
struct rpc_batch {
    uv_write_t req;
    uv_buf_t *bufs; /* each base encoded by rpc_frame_encode, owned */
    unsigned count;
    unsigned cap;
    size_t len; /* bytes in bufs */
};

/* Appends an encoded frame (data, owned from here on). */
static void rpc_batch_add(struct rpc_batch *b, uint8_t *data, size_t len)
{
    if (b->count == b->cap) {
        b->cap = b->cap > 0 ? b->cap * 2 : 8;
        b->bufs = eddy_xrealloc(b->bufs, b->cap * sizeof(*b->bufs));
    }
    b->bufs[b->count++] = uv_buf_init((char *)data, (unsigned)len);
    b->len += len;
}

static void rpc_batch_destroy(struct rpc_batch *b)
{
    for (unsigned i = 0; i < b->count; i++) {
        eddy_free(b->bufs[i].base);
    }
    eddy_free(b->bufs);
    eddy_free(b);
}

static void rpc_conn_on_write(uv_write_t *req, int status)
{
    struct rpc_batch *b = container_of(req, struct rpc_batch, req);
    struct rpc_conn *c = container_of((uv_tcp_t *)req->handle, struct rpc_conn, tcp);
    EDDY_ASSERT(c->write_bytes >= b->len);
    c->write_bytes -= b->len;
    rpc_batch_destroy(b);
    if (status < 0) {
        if (status != UV_ECANCELED) {
            LOG_DEBUG("rpc: response write failed err=%s", uv_strerror(status));
        }
        rpc_conn_close(c);
        return;
    }
    rpc_conn_maybe_resume(c);
}

static void rpc_server_on_flush_check(uv_check_t *h);
static void rpc_server_on_flush_idle(uv_idle_t *h);

/* Adds an encoded reply (data, owned) to c's batch of this loop turn. */
static void rpc_conn_queue(struct rpc_conn *c, uint8_t *data, size_t len)
{
    struct rpc_batch *b = c->out;
    if (b == NULL) {
        b = eddy_xcalloc(1, sizeof(*b));
        c->out = b;
        struct rpc_server *s = c->server;
        list_push(&s->flush, &c->flush);
        uv_check_start(&s->flush_check, rpc_server_on_flush_check);
        uv_idle_start(&s->flush_idle, rpc_server_on_flush_idle);
    }
    rpc_batch_add(b, data, len);
}

/* Hands c's batch, if any, to libuv in one write. */
static void rpc_conn_write_batch(struct rpc_conn *c)
{
    struct rpc_batch *b = c->out;
    if (b == NULL) {
        return;
    }
    list_remove(&c->flush);
    c->out = NULL;
    int rv = uv_write(&b->req, (uv_stream_t *)&c->tcp, b->bufs, b->count, rpc_conn_on_write);
    if (rv != 0) {
        LOG_WARN("rpc: response write failed err=%s", uv_strerror(rv));
        EDDY_ASSERT(c->write_bytes >= b->len);
        c->write_bytes -= b->len;
        rpc_batch_destroy(b);
        rpc_conn_close(c);
    }
}

/* Hands every connection's batch to libuv, one write each. */
static void rpc_server_flush(struct rpc_server *s)
{
    while (!list_is_empty(&s->flush)) {
        rpc_conn_write_batch(container_of(s->flush.next, struct rpc_conn, flush));
    }
    uv_check_stop(&s->flush_check);
    uv_idle_stop(&s->flush_idle);
}

static void rpc_server_on_flush_check(uv_check_t *h)
{
    rpc_server_flush(h->data);
}

static void rpc_server_on_flush_idle(uv_idle_t *h)
{
    rpc_server_flush(h->data);
}

/* Encodes resp and queues it for the end of the loop turn. A response too
 * big to encode is replaced by an Ack carrying the error, so the caller does
 * not wait for its timeout. */
static void rpc_conn_send(struct rpc_conn *c, const Eddy__Frame *resp)
{
    uint8_t *data;
    size_t len;
    int rv = rpc_frame_encode(resp, &data, &len);
    if (rv != 0) {
        LOG_ERROR("rpc: cannot encode response id=%" PRIu64 " err=%s", resp->id, eddy_strerror(rv));
        Eddy__Status st = EDDY__STATUS__INIT;
        st.code = rv;
        Eddy__Ack ack = EDDY__ACK__INIT;
        ack.status = &st;
        Eddy__Frame fallback = EDDY__FRAME__INIT;
        fallback.id = resp->id;
        fallback.body_case = EDDY__FRAME__BODY_ACK;
        fallback.ack = &ack;
        rv = rpc_frame_encode(&fallback, &data, &len);
        if (rv != 0) {
            rpc_conn_close(c);
            return;
        }
    }
    rpc_conn_queue(c, data, len);
    c->write_bytes += len;
    if (c->is_reading && !rpc_conn_can_take(c)) {
        /* Replies are queued past the limit: read nothing more until they
         * drain (rpc_conn_on_write resumes), not even up to the next read. */
        rpc_conn_update_reading(c);
    }
}

/* Hands one decoded frame (owned) to the handler. Responses are protocol
 * errors; a frame without a known body (a newer peer's request) is answered
 * here with -EDDY_EINVAL. */
static void rpc_conn_dispatch(struct rpc_conn *c, Eddy__Frame *f)
{
    if (rpc_frame_is_response(f)) {
        LOG_WARN("rpc: response frame sent to a server, closing id=%" PRIu64, f->id);
        rpc_frame_free(f);
        rpc_conn_close(c);
        return;
    }
    struct rpc_call *call = eddy_xmalloc(sizeof(*call));
    call->conn = c;
    call->req = f;
    c->calls++;
    if (!rpc_frame_is_request(f)) {
        Eddy__Status st = EDDY__STATUS__INIT;
        st.code = -EDDY_EINVAL;
        st.message = "unknown request type";
        Eddy__Ack ack = EDDY__ACK__INIT;
        ack.status = &st;
        Eddy__Frame resp = EDDY__FRAME__INIT;
        resp.body_case = EDDY__FRAME__BODY_ACK;
        resp.ack = &ack;
        rpc_call_reply(call, &resp);
        return;
    }
    struct rpc_server *s = c->server;
    s->handler(s->data, call);
}

/* Parses and dispatches the buffered whole frames while the limits allow,
 * then reads again if they still do. Bad input closes the connection. */
static void rpc_conn_process(struct rpc_conn *c)
{
    size_t off = 0;
    while (rpc_conn_can_take(c) && off < c->rbuf.len) {
        size_t used;
        Eddy__Frame *f;
        int rv = rpc_frame_decode(c->rbuf.data + off, c->rbuf.len - off, &used, &f);
        if (rv != 0) {
            LOG_WARN("rpc: bad frame, closing connection err=%s", eddy_strerror(rv));
            rpc_conn_close(c);
            return;
        }
        if (used == 0) {
            break;
        }
        off += used;
        rpc_conn_dispatch(c, f); /* may close c; its memory stays until the close callback */
    }
    if (c->state != RPC_CONN_OPEN) {
        return;
    }
    rpc_rbuf_consume(&c->rbuf, off);
    rpc_conn_update_reading(c);
}

static void rpc_conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct rpc_conn *c = container_of((uv_tcp_t *)st, struct rpc_conn, tcp);
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            LOG_DEBUG("rpc: connection read failed err=%s", uv_strerror((int)nread));
        }
        rpc_conn_close(c);
        return;
    }
    c->rbuf.len += (size_t)nread;
    EDDY_ASSERT(c->rbuf.len <= c->rbuf.cap);
    rpc_conn_process(c);
}

static void rpc_server_on_resume(uv_idle_t *h)
{
    struct rpc_server *s = h->data;
    struct list_link batch;
    list_init(&batch);
    list_take(&batch, &s->resume);
    while (!list_is_empty(&batch)) {
        struct rpc_conn *c = container_of(batch.next, struct rpc_conn, resume);
        list_remove(&c->resume);
        rpc_conn_process(c);
    }
    if (list_is_empty(&s->resume)) {
        uv_idle_stop(h);
    }
}

static void rpc_server_on_refused_close(uv_handle_t *h)
{
    struct rpc_server *s = h->data;
    eddy_free(h);
    EDDY_ASSERT(s->handles_open > 0);
    s->handles_open--;
    rpc_server_maybe_free(s);
}

/* Past RPC_SERVER_CONNECTIONS_MAX: accepts and closes at once, so the backlog
 * drains and the peer sees its connection end (and backs off). */
static void rpc_server_refuse(struct rpc_server *s)
{
    uv_tcp_t *t = eddy_xmalloc(sizeof(*t));
    int rv = uv_tcp_init(s->loop, t);
    if (rv != 0) {
        LOG_ERROR("rpc: tcp init failed err=%s", uv_strerror(rv));
        eddy_free(t);
        return;
    }
    t->data = s;
    s->handles_open++;
    rv = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, rpc_server_on_refused_close);
    uint64_t now = uv_now(s->loop);
    if (rv == 0 &&
        (s->refuse_log_ms == 0 || now - s->refuse_log_ms >= RPC_REFUSE_LOG_INTERVAL_MS)) {
        s->refuse_log_ms = now;
        LOG_WARN("rpc: connection refused reason=limit conns=%u", s->conn_count);
    }
}

static void rpc_server_on_connection(uv_stream_t *ls, int status)
{
    struct rpc_server *s = ls->data;
    if (status < 0) {
        LOG_WARN("rpc: accept failed err=%s", uv_strerror(status));
        return;
    }
    if (s->conn_count >= RPC_SERVER_CONNECTIONS_MAX) {
        rpc_server_refuse(s);
        return;
    }
    struct rpc_conn *c = eddy_xcalloc(1, sizeof(*c));
    c->server = s;
    c->state = RPC_CONN_OPEN;
    buf_init(&c->rbuf, RPC_HEADER_BYTES + RPC_FRAME_BYTES_MAX);
    list_init(&c->resume);
    list_init(&c->flush);
    int rv = uv_tcp_init(s->loop, &c->tcp);
    if (rv != 0) {
        LOG_ERROR("rpc: tcp init failed err=%s", uv_strerror(rv));
        eddy_free(c);
        return;
    }
    list_push(&s->conns, &c->node);
    s->conn_count++;
    s->handles_open++;
    rv = uv_accept(ls, (uv_stream_t *)&c->tcp);
    if (rv != 0) {
        LOG_WARN("rpc: accept failed err=%s", uv_strerror(rv));
        rpc_conn_close(c);
        return;
    }
    rv = uv_tcp_nodelay(&c->tcp, 1);
    if (rv != 0) {
        LOG_WARN("rpc: TCP_NODELAY failed err=%s", uv_strerror(rv));
    }
    rpc_conn_update_reading(c);
}

int rpc_server_init(struct rpc_server **out,
                    uv_loop_t *loop,
                    const char *host,
                    int port,
                    rpc_handler_cb handler,
                    void *data)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(host != NULL);
    EDDY_ASSERT(handler != NULL);
    struct sockaddr_storage sa;
    if (port < 0 || port > 65535 || rpc_addr_numeric(host, port, &sa) != 0) {
        return -EDDY_EINVAL;
    }
    struct rpc_server *s = eddy_calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->handler = handler;
    s->data = data;
    list_init(&s->conns);
    list_init(&s->resume);
    list_init(&s->flush);
    uv_idle_init(loop, &s->resume_idle);
    s->resume_idle.data = s;
    uv_check_init(loop, &s->flush_check);
    s->flush_check.data = s;
    uv_idle_init(loop, &s->flush_idle);
    s->flush_idle.data = s;
    s->handles_open = 3;
    int rv = uv_tcp_init(loop, &s->listener);
    if (rv != 0) {
        goto err_after_idle;
    }
    s->listener.data = s;
    s->handles_open++;
    rv = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (rv != 0) {
        goto err_after_listener;
    }
    rv = uv_listen((uv_stream_t *)&s->listener, RPC_LISTEN_BACKLOG, rpc_server_on_connection);
    if (rv != 0) {
        goto err_after_listener;
    }
    *out = s;
    return 0;

err_after_listener:
    uv_close((uv_handle_t *)&s->listener, rpc_server_on_handle_close);
err_after_idle:
    s->is_closing = true; /* freed by the close callbacks, with no user callback */
    uv_close((uv_handle_t *)&s->resume_idle, rpc_server_on_handle_close);
    uv_close((uv_handle_t *)&s->flush_check, rpc_server_on_handle_close);
    uv_close((uv_handle_t *)&s->flush_idle, rpc_server_on_handle_close);
    return rv;
}

void rpc_server_close(struct rpc_server *s, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(s != NULL);
    EDDY_ASSERT(!s->is_closing);
    s->is_closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    uv_close((uv_handle_t *)&s->listener, rpc_server_on_handle_close);
    uv_close((uv_handle_t *)&s->resume_idle, rpc_server_on_handle_close);
    for (struct list_link *n = s->conns.next; n != &s->conns; n = n->next) {
        rpc_conn_close(container_of(n, struct rpc_conn, node)); /* writes their batches */
    }
    EDDY_ASSERT(list_is_empty(&s->flush));
    uv_close((uv_handle_t *)&s->flush_check, rpc_server_on_handle_close);
    uv_close((uv_handle_t *)&s->flush_idle, rpc_server_on_handle_close);
}

unsigned rpc_server_reading_count_for_test(const struct rpc_server *s)
{
    EDDY_ASSERT(s != NULL);
    unsigned n = 0;
    for (const struct list_link *l = s->conns.next; l != &s->conns; l = l->next) {
        n += container_of(l, struct rpc_conn, node)->is_reading ? 1 : 0;
    }
    return n;
}

const Eddy__Frame *rpc_call_request(const struct rpc_call *call)
{
    EDDY_ASSERT(call != NULL);
    return call->req;
}

void rpc_call_reply(struct rpc_call *call, Eddy__Frame *resp)
{
    EDDY_ASSERT(call != NULL);
    EDDY_ASSERT(resp != NULL);
    struct rpc_conn *c = call->conn;
    EDDY_ASSERT(c->calls > 0);
    resp->id = call->req->id;
    if (c->state == RPC_CONN_OPEN) {
        rpc_conn_send(c, resp);
    }
    rpc_frame_free(call->req);
    eddy_free(call);
    c->calls--;
    if (c->state == RPC_CONN_CLOSED) {
        if (c->calls == 0) {
            eddy_free(c);
        }
        return;
    }
    rpc_conn_maybe_resume(c);
}

/* ---- client ---- */

enum rpc_client_state {
    RPC_CLIENT_IDLE, /* no connection; the next call connects unless backing off */
    RPC_CLIENT_RESOLVING,
    RPC_CLIENT_CONNECTING,
    RPC_CLIENT_CONNECTED,
    RPC_CLIENT_CLOSING,
    RPC_CLIENT_STATE_COUNT
};

static const bool rpc_client_transitions[RPC_CLIENT_STATE_COUNT][RPC_CLIENT_STATE_COUNT] = {
    [RPC_CLIENT_IDLE] = {[RPC_CLIENT_RESOLVING] = true,
                         [RPC_CLIENT_CONNECTING] = true,
                         [RPC_CLIENT_CLOSING] = true},
    [RPC_CLIENT_RESOLVING] =
        {[RPC_CLIENT_IDLE] = true, [RPC_CLIENT_CONNECTING] = true, [RPC_CLIENT_CLOSING] = true},
    [RPC_CLIENT_CONNECTING] =
        {[RPC_CLIENT_IDLE] = true, [RPC_CLIENT_CONNECTED] = true, [RPC_CLIENT_CLOSING] = true},
    [RPC_CLIENT_CONNECTED] = {[RPC_CLIENT_IDLE] = true, [RPC_CLIENT_CLOSING] = true},
};

/* One call. It sits in exactly one of the client's lists: queued (encoded,
 * waiting for the connection), sent (also in the id table), or done
 * (waiting for its deferred failure callback). */
struct rpc_pending {
    uint64_t id;
    uint64_t deadline_ms; /* uv_now() time */
    rpc_response_cb cb;
    void *arg;
    int status;            /* once done */
    struct rpc_write *req; /* while queued */
    struct list_link node;
    struct rpc_pending *bucket_next; /* while sent */
};

/* One TCP connection of a client; freed in its close callback. */
struct rpc_link {
    struct rpc_client *client;
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct buf rbuf;
    struct rpc_batch *out; /* requests of this loop turn, not yet handed to libuv */
    bool is_closing;
};

struct rpc_resolve {
    struct rpc_client *client;
    uv_getaddrinfo_t req;
};

struct rpc_client {
    uv_loop_t *loop;
    char *address;
    char host[RPC_HOST_LEN_MAX + 1];
    char port_str[8];
    int port;
    enum rpc_client_state state;
    struct rpc_link *link;       /* while CONNECTING or CONNECTED */
    struct rpc_resolve *resolve; /* while RESOLVING */
    uv_timer_t timer;            /* fires at the earliest deadline */
    uint64_t timer_due_ms;       /* 0 when not armed */
    uv_idle_t done_idle;         /* runs the done callbacks */
    /* Requests go out once a loop turn, in one write (as the server's
     * replies): the check handle writes them, the idle handle keeps the
     * loop from blocking while they wait. */
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    /* The connection's watch: the connect timeout, then liveness probes
     * while calls wait (common/README.md, "Liveness"). uv_now() times. */
    uv_timer_t watch;
    uint64_t watch_due_ms; /* 0 when not armed */
    uint64_t connect_ms;   /* the connection attempt began */
    uint64_t rx_ms;        /* the peer last sent bytes, or the first call began to wait */
    uint64_t probe_id;     /* the probe awaiting its answer, 0 if none */
    uint64_t probe_ms;     /* when it was sent */
    uint64_t next_id;
    uint64_t retry_at_ms; /* no connection attempt before this */
    bool has_warned;      /* connection failure logged since the last success */
    size_t write_bytes;   /* encoded requests not yet written */
    unsigned queued_count;
    unsigned sent_count;
    struct list_link queued;
    struct list_link sent;
    struct list_link done;
    struct rpc_pending *table[RPC_ID_BUCKETS];
    unsigned handles_open; /* timer, idles, check, watch, links, resolve requests */
    bool is_closing_handles;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void rpc_client_set_state(struct rpc_client *c, enum rpc_client_state to)
{
    EDDY_ASSERT(rpc_client_transitions[c->state][to]);
    c->state = to;
}

static struct rpc_pending **rpc_client_bucket(struct rpc_client *c, uint64_t id)
{
    return &c->table[id & (RPC_ID_BUCKETS - 1)];
}

/* Removes the sent call with this id from the table and returns it. */
static struct rpc_pending *rpc_client_take_sent(struct rpc_client *c, uint64_t id)
{
    for (struct rpc_pending **pp = rpc_client_bucket(c, id); *pp != NULL;
         pp = &(*pp)->bucket_next) {
        struct rpc_pending *p = *pp;
        if (p->id == id) {
            *pp = p->bucket_next;
            p->bucket_next = NULL;
            list_remove(&p->node);
            EDDY_ASSERT(c->sent_count > 0);
            c->sent_count--;
            return p;
        }
    }
    return NULL;
}

/* Takes p out of its queued or sent list. */
static void rpc_client_detach(struct rpc_client *c, struct rpc_pending *p)
{
    if (p->req != NULL) {
        EDDY_ASSERT(c->queued_count > 0);
        EDDY_ASSERT(c->write_bytes >= p->req->len);
        c->write_bytes -= p->req->len;
        rpc_write_destroy(p->req);
        p->req = NULL;
        list_remove(&p->node);
        c->queued_count--;
        return;
    }
    struct rpc_pending *taken = rpc_client_take_sent(c, p->id);
    EDDY_ASSERT(taken == p);
}

static void rpc_client_on_done(uv_idle_t *h);

/* Queues p's callback with status, from the idle handle. */
static void rpc_client_fail(struct rpc_client *c, struct rpc_pending *p, int status)
{
    EDDY_ASSERT(status < 0);
    EDDY_ASSERT(list_is_empty(&p->node));
    p->status = status;
    list_push(&c->done, &p->node);
    uv_idle_start(&c->done_idle, rpc_client_on_done);
}

static void rpc_client_fail_all(struct rpc_client *c, int status)
{
    while (!list_is_empty(&c->queued)) {
        struct rpc_pending *p = container_of(c->queued.next, struct rpc_pending, node);
        rpc_client_detach(c, p);
        rpc_client_fail(c, p, status);
    }
    /* A request already handed to the socket may have been executed: its
     * caller must not take a lost connection for "not done". */
    int sent_status = status == -EDDY_EUNAVAILABLE ? -EDDY_EUNKNOWN : status;
    while (!list_is_empty(&c->sent)) {
        struct rpc_pending *p = container_of(c->sent.next, struct rpc_pending, node);
        rpc_client_detach(c, p);
        rpc_client_fail(c, p, sent_status);
    }
    EDDY_ASSERT(c->queued_count == 0);
    EDDY_ASSERT(c->sent_count == 0);
}

static void rpc_client_maybe_free(struct rpc_client *c)
{
    if (c->state != RPC_CLIENT_CLOSING || c->handles_open > 0) {
        return;
    }
    void (*cb)(void *arg) = c->close_cb;
    void *arg = c->close_arg;
    eddy_free(c->address);
    eddy_free(c);
    if (cb != NULL) {
        cb(arg);
    }
}

static void rpc_client_on_handle_close(uv_handle_t *h)
{
    struct rpc_client *c = h->data;
    EDDY_ASSERT(c->handles_open > 0);
    c->handles_open--;
    rpc_client_maybe_free(c);
}

static void rpc_link_on_close(uv_handle_t *h)
{
    struct rpc_link *link = container_of((uv_tcp_t *)h, struct rpc_link, tcp);
    struct rpc_client *c = link->client;
    buf_free(&link->rbuf);
    eddy_free(link);
    EDDY_ASSERT(c->handles_open > 0);
    c->handles_open--;
    rpc_client_maybe_free(c);
}

/* Requests still in the link's batch are dropped: their calls are in the
 * sent list, and fail with it. */
static void rpc_link_close(struct rpc_link *link)
{
    EDDY_ASSERT(!link->is_closing);
    link->is_closing = true;
    if (link->out != NULL) {
        struct rpc_client *c = link->client;
        EDDY_ASSERT(c->write_bytes >= link->out->len);
        c->write_bytes -= link->out->len;
        rpc_batch_destroy(link->out);
        link->out = NULL;
    }
    uv_close((uv_handle_t *)&link->tcp, rpc_link_on_close);
}

/* Drops the connection, fails every call (-EDDY_EUNAVAILABLE for calls not
 * sent yet, -EDDY_EUNKNOWN for calls sent) and backs off before the next
 * attempt. */
static void rpc_client_disconnect(struct rpc_client *c, int reason)
{
    EDDY_ASSERT(c->state != RPC_CLIENT_IDLE);
    EDDY_ASSERT(c->state != RPC_CLIENT_CLOSING);
    if (!c->has_warned) {
        LOG_WARN("rpc: connection down address=%s err=%s", c->address, rpc_strerror(reason));
        c->has_warned = true;
    } else {
        LOG_DEBUG("rpc: connection failed address=%s err=%s", c->address, rpc_strerror(reason));
    }
    if (c->link != NULL) {
        rpc_link_close(c->link);
        c->link = NULL;
    }
    rpc_client_set_state(c, RPC_CLIENT_IDLE);
    c->retry_at_ms = uv_now(c->loop) + RPC_CONNECT_RETRY_MS;
    c->probe_id = 0;
    rpc_client_fail_all(c, -EDDY_EUNAVAILABLE);
}

static void rpc_link_on_write(uv_write_t *req, int status);
static void rpc_client_watch(struct rpc_client *c);

static void rpc_client_on_flush_check(uv_check_t *h);
static void rpc_client_on_flush_idle(uv_idle_t *h);

/* Moves an encoded request into the link's batch of this loop turn. */
static void rpc_link_queue(struct rpc_client *c, struct rpc_write *w)
{
    struct rpc_link *link = c->link;
    if (link->out == NULL) {
        link->out = eddy_xcalloc(1, sizeof(*link->out));
        uv_check_start(&c->flush_check, rpc_client_on_flush_check);
        uv_idle_start(&c->flush_idle, rpc_client_on_flush_idle);
    }
    rpc_batch_add(link->out, w->data, w->len);
    eddy_free(w); /* its data is the batch's now */
}

/* Files p under its id and queues its encoded request for the end of the
 * loop turn (rpc_client_flush). Returns 0. */
static int rpc_client_send(struct rpc_client *c, struct rpc_pending *p)
{
    EDDY_ASSERT(c->state == RPC_CLIENT_CONNECTED);
    struct rpc_write *w = p->req;
    p->req = NULL;
    struct rpc_pending **bucket = rpc_client_bucket(c, p->id);
    p->bucket_next = *bucket;
    *bucket = p;
    list_push(&c->sent, &p->node);
    if (c->sent_count++ == 0) {
        c->rx_ms = uv_now(c->loop); /* the peer owed nothing before */
    }
    rpc_link_queue(c, w);
    rpc_client_watch(c);
    return 0;
}

static void rpc_link_on_batch_write(uv_write_t *req, int status)
{
    struct rpc_batch *b = container_of(req, struct rpc_batch, req);
    struct rpc_link *link = container_of((uv_tcp_t *)req->handle, struct rpc_link, tcp);
    struct rpc_client *c = link->client;
    EDDY_ASSERT(c->write_bytes >= b->len);
    c->write_bytes -= b->len;
    rpc_batch_destroy(b);
    if (status < 0 && !link->is_closing) {
        rpc_client_disconnect(c, status);
    }
}

/* Hands the link's batch of this loop turn to libuv in one write. */
static void rpc_client_flush(struct rpc_client *c)
{
    uv_check_stop(&c->flush_check);
    uv_idle_stop(&c->flush_idle);
    struct rpc_link *link = c->link;
    if (link == NULL || link->out == NULL) {
        return; /* the link closed and dropped it */
    }
    struct rpc_batch *b = link->out;
    link->out = NULL;
    int rv =
        uv_write(&b->req, (uv_stream_t *)&link->tcp, b->bufs, b->count, rpc_link_on_batch_write);
    if (rv != 0) {
        EDDY_ASSERT(c->write_bytes >= b->len);
        c->write_bytes -= b->len;
        rpc_batch_destroy(b);
        rpc_client_disconnect(c, rv);
    }
}

static void rpc_client_on_flush_check(uv_check_t *h)
{
    rpc_client_flush(h->data);
}

static void rpc_client_on_flush_idle(uv_idle_t *h)
{
    rpc_client_flush(h->data);
}

static void rpc_link_on_write(uv_write_t *req, int status)
{
    struct rpc_write *w = container_of(req, struct rpc_write, req);
    struct rpc_link *link = container_of((uv_tcp_t *)req->handle, struct rpc_link, tcp);
    struct rpc_client *c = link->client;
    EDDY_ASSERT(c->write_bytes >= w->len);
    c->write_bytes -= w->len;
    rpc_write_destroy(w);
    if (status < 0 && !link->is_closing) {
        rpc_client_disconnect(c, status);
    }
}

/* Delivers one response frame (owned) to its call, if it is still waiting. */
static void rpc_client_deliver(struct rpc_client *c, Eddy__Frame *f)
{
    if (c->probe_id != 0 && f->id == c->probe_id) {
        c->probe_id = 0; /* any answer will do: an older server's Ack too */
        rpc_frame_free(f);
        return;
    }
    struct rpc_pending *p = rpc_client_take_sent(c, f->id);
    if (p == NULL) {
        LOG_DEBUG("rpc: late response dropped address=%s id=%" PRIu64, c->address, f->id);
        rpc_frame_free(f);
        return;
    }
    if (c->queued_count + c->sent_count == 0) {
        uv_timer_stop(&c->timer); /* nothing left to time out */
        c->timer_due_ms = 0;
    }
    p->cb(p->arg, 0, f);
    rpc_frame_free(f);
    eddy_free(p);
}

static void rpc_link_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct rpc_link *link = container_of((uv_tcp_t *)h, struct rpc_link, tcp);
    rpc_rbuf_alloc(&link->rbuf, out);
}

static void rpc_link_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct rpc_link *link = container_of((uv_tcp_t *)st, struct rpc_link, tcp);
    struct rpc_client *c = link->client;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        rpc_client_disconnect(c, (int)nread);
        return;
    }
    c->rx_ms = uv_now(c->loop);
    link->rbuf.len += (size_t)nread;
    EDDY_ASSERT(link->rbuf.len <= link->rbuf.cap);
    size_t off = 0;
    while (off < link->rbuf.len) {
        size_t used;
        Eddy__Frame *f;
        int rv = rpc_frame_decode(link->rbuf.data + off, link->rbuf.len - off, &used, &f);
        if (rv == 0 && used > 0 && rpc_frame_is_request(f)) {
            rpc_frame_free(f);
            rv = -EDDY_EMALFORMED;
        }
        if (rv != 0) {
            LOG_WARN("rpc: bad frame from server address=%s err=%s", c->address, eddy_strerror(rv));
            rpc_client_disconnect(c, rv);
            return;
        }
        if (used == 0) {
            break;
        }
        off += used;
        rpc_client_deliver(c, f);
        if (link->is_closing) {
            return; /* a callback closed the client or lost the connection */
        }
    }
    rpc_rbuf_consume(&link->rbuf, off);
}

static void rpc_link_on_connect(uv_connect_t *req, int status)
{
    struct rpc_link *link = container_of(req, struct rpc_link, connect);
    struct rpc_client *c = link->client;
    if (link->is_closing) {
        return;
    }
    EDDY_ASSERT(c->state == RPC_CLIENT_CONNECTING);
    if (status < 0) {
        rpc_client_disconnect(c, status);
        return;
    }
    int rv = uv_tcp_nodelay(&link->tcp, 1);
    if (rv != 0) {
        LOG_WARN("rpc: TCP_NODELAY failed address=%s err=%s", c->address, uv_strerror(rv));
    }
    rv = uv_read_start((uv_stream_t *)&link->tcp, rpc_link_on_alloc, rpc_link_on_read);
    if (rv != 0) {
        rpc_client_disconnect(c, rv);
        return;
    }
    rpc_client_set_state(c, RPC_CLIENT_CONNECTED);
    c->has_warned = false;
    c->rx_ms = uv_now(c->loop);
    LOG_DEBUG("rpc: connected address=%s", c->address);
    while (!list_is_empty(&c->queued)) {
        struct rpc_pending *p = container_of(c->queued.next, struct rpc_pending, node);
        list_remove(&p->node);
        c->queued_count--;
        rv = rpc_client_send(c, p);
        if (rv != 0) {
            rpc_client_disconnect(c, rv);
            return;
        }
    }
}

static void rpc_client_connect_addr(struct rpc_client *c, const struct sockaddr *sa)
{
    rpc_client_set_state(c, RPC_CLIENT_CONNECTING);
    struct rpc_link *link = eddy_xcalloc(1, sizeof(*link));
    link->client = c;
    buf_init(&link->rbuf, RPC_HEADER_BYTES + RPC_FRAME_BYTES_MAX);
    int rv = uv_tcp_init(c->loop, &link->tcp);
    if (rv != 0) {
        eddy_free(link);
        rpc_client_disconnect(c, rv);
        return;
    }
    c->handles_open++;
    c->link = link;
    rv = uv_tcp_connect(&link->connect, &link->tcp, sa, rpc_link_on_connect);
    if (rv != 0) {
        rpc_client_disconnect(c, rv);
        return;
    }
    c->connect_ms = uv_now(c->loop);
    rpc_client_watch(c);
}

static void rpc_client_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rpc_resolve *r = container_of(req, struct rpc_resolve, req);
    struct rpc_client *c = r->client;
    eddy_free(r);
    EDDY_ASSERT(c->handles_open > 0);
    c->handles_open--;
    if (c->state == RPC_CLIENT_CLOSING) {
        uv_freeaddrinfo(res);
        rpc_client_maybe_free(c);
        return;
    }
    EDDY_ASSERT(c->state == RPC_CLIENT_RESOLVING);
    c->resolve = NULL;
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        rpc_client_disconnect(c, status < 0 ? status : -EDDY_ENOTFOUND);
        return;
    }
    struct sockaddr_storage sa;
    memcpy(&sa, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    rpc_client_connect_addr(c, (const struct sockaddr *)&sa);
}

/* Starts a connection attempt; a numeric host skips the resolver. */
static void rpc_client_connect(struct rpc_client *c)
{
    EDDY_ASSERT(c->state == RPC_CLIENT_IDLE);
    EDDY_ASSERT(c->link == NULL);
    struct sockaddr_storage sa;
    if (rpc_addr_numeric(c->host, c->port, &sa) == 0) {
        rpc_client_connect_addr(c, (const struct sockaddr *)&sa);
        return;
    }
    struct rpc_resolve *r = eddy_xmalloc(sizeof(*r));
    r->client = c;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rpc_client_set_state(c, RPC_CLIENT_RESOLVING);
    int rv = uv_getaddrinfo(c->loop, &r->req, rpc_client_on_resolved, c->host, c->port_str, &hints);
    if (rv != 0) {
        eddy_free(r);
        rpc_client_disconnect(c, rv);
        return;
    }
    c->resolve = r;
    c->handles_open++;
}

static void rpc_client_arm(struct rpc_client *c, uint64_t deadline_ms);

static void rpc_client_on_timer(uv_timer_t *h)
{
    struct rpc_client *c = h->data;
    c->timer_due_ms = 0;
    uint64_t now = uv_now(c->loop);
    uint64_t next = UINT64_MAX;
    struct list_link *lists[] = {&c->queued, &c->sent};
    for (size_t i = 0; i < EDDY_ARRAY_LEN(lists); i++) {
        struct list_link *n = lists[i]->next;
        while (n != lists[i]) {
            struct rpc_pending *p = container_of(n, struct rpc_pending, node);
            n = n->next;
            if (p->deadline_ms <= now) {
                /* A call still queued was never sent: safe to send elsewhere. */
                int status = p->req != NULL ? -EDDY_EUNAVAILABLE : -EDDY_ETIMEDOUT;
                rpc_client_detach(c, p);
                rpc_client_fail(c, p, status);
            } else if (p->deadline_ms < next) {
                next = p->deadline_ms;
            }
        }
    }
    if (next != UINT64_MAX) {
        rpc_client_arm(c, next);
    }
}

/* Makes the timer fire no later than deadline_ms. */
static void rpc_client_arm(struct rpc_client *c, uint64_t deadline_ms)
{
    if (c->timer_due_ms != 0 && c->timer_due_ms <= deadline_ms) {
        return;
    }
    uint64_t now = uv_now(c->loop);
    c->timer_due_ms = deadline_ms > 0 ? deadline_ms : 1;
    uv_timer_start(&c->timer, rpc_client_on_timer, deadline_ms > now ? deadline_ms - now : 0, 0);
}

/* ---- client: connect timeout and liveness ---- */

/* When the watch must next look at the connection; 0: nothing to watch
 * (no attempt under way, or no call waits for an answer). */
static uint64_t rpc_client_watch_due(const struct rpc_client *c)
{
    if (c->state == RPC_CLIENT_CONNECTING) {
        return c->connect_ms + RPC_CONNECT_TIMEOUT_MS;
    }
    if (c->state != RPC_CLIENT_CONNECTED || c->sent_count == 0) {
        return 0;
    }
    if (c->probe_id != 0 && c->rx_ms <= c->probe_ms) {
        return c->probe_ms + RPC_PROBE_TIMEOUT_MS;
    }
    return c->rx_ms + RPC_PROBE_IDLE_MS;
}

static void rpc_client_on_watch(uv_timer_t *h);

/* Makes the watch fire no later than it is due. An earlier firing just
 * looks again, so the timer is restarted only to bring it forward. */
static void rpc_client_watch(struct rpc_client *c)
{
    uint64_t due = rpc_client_watch_due(c);
    if (due == 0 || (c->watch_due_ms != 0 && c->watch_due_ms <= due)) {
        return;
    }
    uint64_t now = uv_now(c->loop);
    c->watch_due_ms = due;
    uv_timer_start(&c->watch, rpc_client_on_watch, due > now ? due - now : 0, 0);
}

/* Whether bytes from the peer wait unread: then this process's loop was
 * late (timers run before the poll), not the peer. */
static bool rpc_link_has_input(struct rpc_link *link)
{
    uv_os_fd_t fd;
    int n = 0;
    return uv_fileno((uv_handle_t *)&link->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Sends the liveness probe: a frame with an id and no body, which every
 * server (older ones too) answers from its RPC layer, never its handler. */
static void rpc_client_probe(struct rpc_client *c)
{
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.id = c->next_id++;
    uint8_t *data;
    size_t len;
    int rv = rpc_frame_encode(&f, &data, &len);
    if (rv != 0) {
        rpc_client_disconnect(c, rv);
        return;
    }
    struct rpc_write *w = rpc_write_create(data, len);
    rv = rpc_write_start(w, (uv_stream_t *)&c->link->tcp, rpc_link_on_write);
    if (rv != 0) {
        rpc_write_destroy(w);
        rpc_client_disconnect(c, rv);
        return;
    }
    c->write_bytes += len;
    c->probe_id = f.id;
    c->probe_ms = uv_now(c->loop);
    rpc_client_watch(c);
}

/* A peer that never accepted the connection, or went silent while calls
 * wait for it: fail them and leave it alone for RPC_PEER_DEAD_RETRY_MS. */
static void rpc_client_give_up(struct rpc_client *c, const char *why)
{
    uint64_t now = uv_now(c->loop);
    LOG_WARN("rpc: peer unresponsive address=%s why=%s silent_ms=%" PRIu64, c->address, why,
             now - (c->state == RPC_CLIENT_CONNECTING ? c->connect_ms : c->rx_ms));
    c->has_warned = true; /* logged here, with why */
    rpc_client_disconnect(c, -EDDY_ETIMEDOUT);
    c->retry_at_ms = now + RPC_PEER_DEAD_RETRY_MS;
}

static void rpc_client_on_watch(uv_timer_t *h)
{
    struct rpc_client *c = h->data;
    c->watch_due_ms = 0;
    uint64_t now = uv_now(c->loop);
    uint64_t due = rpc_client_watch_due(c);
    if (due == 0) {
        return;
    }
    if (now < due) {
        rpc_client_watch(c);
        return;
    }
    if (c->state == RPC_CLIENT_CONNECTING) {
        rpc_client_give_up(c, "connect");
        return;
    }
    if (rpc_link_has_input(c->link)) {
        c->rx_ms = now;
        rpc_client_watch(c);
        return;
    }
    if (c->probe_id == 0 || c->rx_ms > c->probe_ms) {
        rpc_client_probe(c);
        return;
    }
    rpc_client_give_up(c, "probe");
}

static void rpc_client_on_done(uv_idle_t *h)
{
    struct rpc_client *c = h->data;
    struct list_link batch;
    list_init(&batch);
    list_take(&batch, &c->done);
    while (!list_is_empty(&batch)) {
        struct rpc_pending *p = container_of(batch.next, struct rpc_pending, node);
        list_remove(&p->node);
        p->cb(p->arg, p->status, NULL);
        eddy_free(p);
    }
    if (!list_is_empty(&c->done)) {
        return;
    }
    uv_idle_stop(h);
    if (c->state == RPC_CLIENT_CLOSING && !c->is_closing_handles) {
        c->is_closing_handles = true;
        uv_close((uv_handle_t *)&c->timer, rpc_client_on_handle_close);
        uv_close((uv_handle_t *)&c->done_idle, rpc_client_on_handle_close);
        uv_close((uv_handle_t *)&c->watch, rpc_client_on_handle_close);
        uv_close((uv_handle_t *)&c->flush_check, rpc_client_on_handle_close);
        uv_close((uv_handle_t *)&c->flush_idle, rpc_client_on_handle_close);
    }
}

int rpc_client_init(struct rpc_client **out, uv_loop_t *loop, const char *address)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(address != NULL);
    struct rpc_client *c = eddy_calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    int rv = rpc_addr_split(address, c->host, sizeof(c->host), &c->port);
    if (rv != 0) {
        goto err_after_alloc;
    }
    snprintf(c->port_str, sizeof(c->port_str), "%d", c->port);
    c->address = eddy_strdup(address);
    if (c->address == NULL) {
        rv = -ENOMEM;
        goto err_after_alloc;
    }
    c->loop = loop;
    c->state = RPC_CLIENT_IDLE;
    c->next_id = 1;
    list_init(&c->queued);
    list_init(&c->sent);
    list_init(&c->done);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_idle_init(loop, &c->done_idle);
    c->done_idle.data = c;
    uv_timer_init(loop, &c->watch);
    c->watch.data = c;
    uv_check_init(loop, &c->flush_check);
    c->flush_check.data = c;
    uv_idle_init(loop, &c->flush_idle);
    c->flush_idle.data = c;
    c->handles_open = 5;
    *out = c;
    return 0;

err_after_alloc:
    eddy_free(c);
    return rv;
}

/* Admits p (its id set) or returns why it fails at once. */
static int rpc_client_admit(struct rpc_client *c, Eddy__Frame *req, struct rpc_pending *p)
{
    if (c->state == RPC_CLIENT_CLOSING) {
        return -EDDY_ESHUTDOWN;
    }
    if (c->queued_count + c->sent_count >= RPC_INFLIGHT_MAX) {
        return -EDDY_EFULL;
    }
    if (c->state == RPC_CLIENT_IDLE && uv_now(c->loop) < c->retry_at_ms) {
        return -EDDY_EUNAVAILABLE;
    }
    uint64_t caller_id = req->id;
    req->id = p->id;
    uint8_t *data;
    size_t len;
    int rv = rpc_frame_encode(req, &data, &len);
    req->id = caller_id;
    if (rv != 0) {
        return rv;
    }
    if (len > RPC_WRITE_QUEUE_BYTES_MAX - c->write_bytes) {
        eddy_free(data);
        return -EDDY_EFULL;
    }
    p->req = rpc_write_create(data, len);
    c->write_bytes += len;
    list_push(&c->queued, &p->node);
    c->queued_count++;
    rpc_client_arm(c, p->deadline_ms);
    if (c->state == RPC_CLIENT_IDLE) {
        rpc_client_connect(c); /* may fail p through rpc_client_disconnect */
    } else if (c->state == RPC_CLIENT_CONNECTED) {
        list_remove(&p->node);
        c->queued_count--;
        rv = rpc_client_send(c, p);
        if (rv != 0) {
            rpc_client_disconnect(c, rv);
        }
    }
    return 0;
}

void rpc_client_call(
    struct rpc_client *c, Eddy__Frame *req, uint32_t timeout_ms, rpc_response_cb cb, void *arg)
{
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(req != NULL);
    EDDY_ASSERT(cb != NULL);
    EDDY_ASSERT(!c->is_closing_handles);
    if (timeout_ms == 0) {
        timeout_ms = RPC_CALL_TIMEOUT_MS;
    }
    struct rpc_pending *p = eddy_xcalloc(1, sizeof(*p));
    p->id = c->next_id++;
    p->deadline_ms = uv_now(c->loop) + timeout_ms;
    p->cb = cb;
    p->arg = arg;
    list_init(&p->node);
    int rv = rpc_client_admit(c, req, p);
    if (rv != 0) {
        rpc_client_fail(c, p, rv);
    }
}

void rpc_client_close(struct rpc_client *c, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(c != NULL);
    EDDY_ASSERT(c->state != RPC_CLIENT_CLOSING);
    rpc_client_set_state(c, RPC_CLIENT_CLOSING);
    c->close_cb = cb;
    c->close_arg = arg;
    rpc_client_fail_all(c, -EDDY_ESHUTDOWN);
    if (c->link != NULL) {
        rpc_link_close(c->link);
        c->link = NULL;
    }
    if (c->resolve != NULL) {
        uv_cancel((uv_req_t *)&c->resolve->req); /* its callback still runs */
        c->resolve = NULL;
    }
    uv_timer_stop(&c->timer);
    c->timer_due_ms = 0;
    uv_timer_stop(&c->watch);
    c->watch_due_ms = 0;
    uv_idle_start(&c->done_idle, rpc_client_on_done); /* finishes the close */
}

const char *rpc_client_address(const struct rpc_client *c)
{
    EDDY_ASSERT(c != NULL);
    return c->address;
}
