/*
 * Raft transport multiplexer (eddy/rmux.h). The hub (struct rmux) owns the
 * process's listening TCP handle, the inbound connections whose header is
 * still arriving, and the registry of group transports. Each group transport
 * (struct rmux_group, kept in raft_uv_transport->impl because raft_uv owns
 * ->data) owns its outbound connection attempts until they are handed to
 * raft_uv or cancelled.
 *
 * Streams are uv_tcp_t handles allocated alone with raft_malloc: raft_uv
 * uv_close()s the streams it is given and releases them with raft_free, so
 * no per-connection state may share their allocation.
 *
 * Lifecycle: rmux_init -> rmux_transport_init per group -> raft_uv calls
 * init, listen, connect*, close -> rmux_transport_close -> rmux_close. Every
 * handle is freed in its close callback; the hub is freed once the listener,
 * its two timers and every pending inbound connection have closed.
 *
 * Header wire format: common/README.md, "Raft mux header".
 */
#include "eddy/rmux.h"
#include "eddy/list.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds private to the mux; the lead may move them into limits.h. */
#ifndef RMUX_ADDRESS_LEN_MAX
#define RMUX_ADDRESS_LEN_MAX 255 /* "host:port" of a process; longest IPv6 form is 47 */
#endif
#ifndef RMUX_HEADER_TIMEOUT_MS
#define RMUX_HEADER_TIMEOUT_MS 5000 /* an accepted peer must send its header within this */
#endif
#ifndef RMUX_INBOUND_PENDING_MAX
#define RMUX_INBOUND_PENDING_MAX 1024 /* accepted connections still without a header */
#endif
#ifndef RMUX_LISTEN_BACKLOG
#define RMUX_LISTEN_BACKLOG 128
#endif

#define RMUX_MAGIC 0x584d5245u /* "ERMX" read as a little-endian u32 */
#define RMUX_VERSION 1
#define RMUX_HEADER_FIXED_BYTES 32
#define RMUX_HEADER_BYTES_MAX (RMUX_HEADER_FIXED_BYTES + RMUX_ADDRESS_LEN_MAX)
#define RMUX_SWEEP_PERIOD_MS (RMUX_HEADER_TIMEOUT_MS / 4)

static_assert(RMUX_ADDRESS_LEN_MAX <= UINT16_MAX, "address length fits the u16 header field");
static_assert(RMUX_SWEEP_PERIOD_MS > 0, "the sweep timer has a period");

struct rmux {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;         /* closes inbound connections that stall */
    uv_idle_t defer;          /* delivers transport close callbacks */
    struct list_link groups;  /* every struct rmux_group of this hub */
    struct list_link inbound; /* struct rmux_inbound still reading a header */
    struct list_link due;     /* groups whose close callback is due */
    unsigned inbound_count;   /* entries of `inbound` not yet closing */
    unsigned handles_open;    /* of listener, sweep, defer */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    unsigned long long accepted_count;
    unsigned long long rejected_count;
    char address[RMUX_ADDRESS_LEN_MAX + 1];
};

struct rmux_group {
    struct rmux *mux;
    struct raft_uv_transport *t;
    uint32_t group_id;
    raft_id id;    /* this replica, set by init */
    char *address; /* this replica's address, set by init; sent in headers */
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    bool is_registered; /* init succeeded: inbound streams may be routed here */
    bool is_closing;
    bool is_due;
    struct list_link link;     /* in mux->groups */
    struct list_link due_link; /* in mux->due */
    struct list_link connects; /* struct rmux_connect in flight */
};

struct rmux_inbound {
    struct rmux *mux;
    uv_tcp_t *tcp; /* raft_malloc'd alone: handed to raft_uv as is */
    struct list_link link;
    uint64_t accepted_ms;
    size_t got;  /* header bytes received */
    size_t want; /* header bytes expected so far */
    bool is_closing;
    uint8_t buf[RMUX_HEADER_BYTES_MAX];
};

struct rmux_connect {
    struct rmux_group *grp;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb; /* NULL when connect() already reported a failure */
    uv_tcp_t *tcp;         /* raft_malloc'd alone: handed to raft_uv as is */
    uv_connect_t connect;
    uv_write_t write;
    int status; /* RAFT_* reported from the close callback */
    struct list_link link;
    size_t hdr_len;
    uint8_t hdr[RMUX_HEADER_BYTES_MAX];
};

/* Fields of a decoded header; address points into the inbound buffer. */
struct rmux_header {
    uint32_t group_id;
    uint64_t src_id;
    uint64_t dst_id;
    size_t address_len;
};

static void rmux_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void rmux_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void rmux_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t rmux_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rmux_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t rmux_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Parses "a.b.c.d:port" or "[v6]:port" without name resolution (which would
 * block the loop). Returns 0 or -EDDY_EINVAL. */
static int rmux_parse_address(const char *address, struct sockaddr_storage *out)
{
    size_t len = strnlen(address, RMUX_ADDRESS_LEN_MAX + 1);
    if (len == 0 || len > RMUX_ADDRESS_LEN_MAX) {
        return -EDDY_EINVAL;
    }
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || colon[1] == '\0') {
        return -EDDY_EINVAL;
    }
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port > 65535) {
        return -EDDY_EINVAL;
    }
    char host[RMUX_ADDRESS_LEN_MAX + 1];
    const char *h = address;
    size_t host_len = (size_t)(colon - address);
    if (address[0] == '[') {
        if (host_len < 2 || colon[-1] != ']') {
            return -EDDY_EINVAL;
        }
        h = address + 1;
        host_len -= 2;
    }
    memcpy(host, h, host_len);
    host[host_len] = '\0';
    memset(out, 0, sizeof(*out));
    if (address[0] == '[') {
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) != 0) {
            return -EDDY_EINVAL;
        }
        return 0;
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) != 0) {
        return -EDDY_EINVAL;
    }
    return 0;
}

/* raft_malloc for a handle raft_uv will own; out-of-memory is fatal in the
 * daemon, as everywhere else on the loop. */
static uv_tcp_t *rmux_tcp_alloc(void)
{
    uv_tcp_t *tcp = raft_malloc(sizeof(*tcp));
    if (tcp == NULL) {
        LOG_ERROR("rmux out of memory");
        abort();
    }
    return tcp;
}

static void rmux_on_bare_close(uv_handle_t *handle)
{
    raft_free(handle);
}

/* Builds the header for one outbound connection. Returns its length. */
static size_t rmux_header_encode(uint8_t *dst, const struct rmux_group *grp, raft_id dst_id)
{
    size_t address_len = strlen(grp->address);
    EDDY_ASSERT(address_len > 0);
    EDDY_ASSERT(address_len <= RMUX_ADDRESS_LEN_MAX);
    rmux_put_u32(dst + 0, RMUX_MAGIC);
    rmux_put_u16(dst + 4, RMUX_VERSION);
    rmux_put_u16(dst + 6, (uint16_t)address_len);
    rmux_put_u32(dst + 8, grp->group_id);
    rmux_put_u32(dst + 12, 0);
    rmux_put_u64(dst + 16, grp->id);
    rmux_put_u64(dst + 24, dst_id);
    memcpy(dst + RMUX_HEADER_FIXED_BYTES, grp->address, address_len);
    return RMUX_HEADER_FIXED_BYTES + address_len;
}

/* Decodes the fixed part of a header from the network. Returns 0 or
 * -EDDY_EMALFORMED. */
static int rmux_header_decode_fixed(const uint8_t *src, struct rmux_header *h)
{
    if (rmux_get_u32(src + 0) != RMUX_MAGIC) {
        return -EDDY_EMALFORMED;
    }
    if (rmux_get_u16(src + 4) != RMUX_VERSION) {
        return -EDDY_EMALFORMED;
    }
    h->address_len = rmux_get_u16(src + 6);
    if (h->address_len == 0 || h->address_len > RMUX_ADDRESS_LEN_MAX) {
        return -EDDY_EMALFORMED;
    }
    h->group_id = rmux_get_u32(src + 8);
    if (rmux_get_u32(src + 12) != 0) {
        return -EDDY_EMALFORMED;
    }
    h->src_id = rmux_get_u64(src + 16);
    h->dst_id = rmux_get_u64(src + 24);
    if (h->src_id == 0 || h->dst_id == 0) {
        return -EDDY_EMALFORMED;
    }
    return 0;
}

/* --- hub --- */

static void rmux_maybe_finish_close(struct rmux *m)
{
    if (!m->closing || m->handles_open > 0 || !list_is_empty(&m->inbound)) {
        return;
    }
    void (*cb)(void *) = m->close_cb;
    void *arg = m->close_arg;
    LOG_DEBUG("rmux closed addr=%s accepted=%llu rejected=%llu", m->address, m->accepted_count,
              m->rejected_count);
    eddy_free(m);
    if (cb != NULL) {
        cb(arg);
    }
}

static void rmux_on_handle_close(uv_handle_t *handle)
{
    struct rmux *m = handle->data;
    EDDY_ASSERT(m->handles_open > 0);
    m->handles_open--;
    rmux_maybe_finish_close(m);
}

static void rmux_on_inbound_close(uv_handle_t *handle)
{
    struct rmux_inbound *inb = handle->data;
    struct rmux *m = inb->mux;
    list_remove(&inb->link);
    raft_free(inb->tcp);
    eddy_free(inb);
    rmux_maybe_finish_close(m);
}

static void rmux_inbound_close(struct rmux_inbound *inb)
{
    if (inb->is_closing) {
        return;
    }
    inb->is_closing = true;
    EDDY_ASSERT(inb->mux->inbound_count > 0);
    inb->mux->inbound_count--;
    uv_close((uv_handle_t *)inb->tcp, rmux_on_inbound_close);
}

static void rmux_inbound_reject(struct rmux_inbound *inb, const char *why)
{
    struct rmux *m = inb->mux;
    m->rejected_count++;
    /* Rate-limited: first rejects, then every power of two. */
    if ((m->rejected_count & (m->rejected_count - 1)) == 0) {
        LOG_WARN("rmux rejected connection addr=%s reason=%s rejected=%llu", m->address, why,
                 m->rejected_count);
    }
    rmux_inbound_close(inb);
}

static struct rmux_group *rmux_find_group(struct rmux *m, uint32_t group_id)
{
    for (struct list_link *l = m->groups.next; l != &m->groups; l = l->next) {
        struct rmux_group *grp = container_of(l, struct rmux_group, link);
        if (grp->is_registered && !grp->is_closing && grp->group_id == group_id) {
            return grp;
        }
    }
    return NULL;
}

/* The whole header has arrived and reading has stopped: route the stream. */
static void rmux_inbound_dispatch(struct rmux_inbound *inb)
{
    struct rmux *m = inb->mux;
    struct rmux_header h;
    int rv = rmux_header_decode_fixed(inb->buf, &h);
    EDDY_ASSERT(rv == 0); /* decoded once already, from the same bytes */
    char address[RMUX_ADDRESS_LEN_MAX + 1];
    memcpy(address, inb->buf + RMUX_HEADER_FIXED_BYTES, h.address_len);
    address[h.address_len] = '\0';
    if (strlen(address) != h.address_len) {
        rmux_inbound_reject(inb, "nul-in-address");
        return;
    }
    struct rmux_group *grp = rmux_find_group(m, h.group_id);
    if (grp == NULL || grp->accept_cb == NULL) {
        rmux_inbound_reject(inb, "unknown-group");
        return;
    }
    if (grp->id != h.dst_id) {
        rmux_inbound_reject(inb, "wrong-destination");
        return;
    }
    uv_tcp_t *tcp = inb->tcp;
    list_remove(&inb->link);
    EDDY_ASSERT(m->inbound_count > 0);
    m->inbound_count--;
    eddy_free(inb);
    tcp->data = NULL;
    m->accepted_count++;
    LOG_DEBUG("rmux accepted group=%u from=%llu addr=%s", (unsigned)h.group_id,
              (unsigned long long)h.src_id, address);
    grp->accept_cb(grp->t, h.src_id, address, (uv_stream_t *)tcp);
}

static void rmux_on_inbound_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct rmux_inbound *inb = handle->data;
    EDDY_ASSERT(inb->want > inb->got);
    EDDY_ASSERT(inb->want <= sizeof(inb->buf));
    /* Only the missing header bytes: nothing of the raft stream is read. */
    *buf = uv_buf_init((char *)inb->buf + inb->got, (unsigned)(inb->want - inb->got));
}

static void rmux_on_inbound_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct rmux_inbound *inb = stream->data;
    if (nread < 0) {
        rmux_inbound_close(inb);
        return;
    }
    if (nread == 0) {
        return;
    }
    inb->got += (size_t)nread;
    EDDY_ASSERT(inb->got <= inb->want);
    if (inb->got < inb->want) {
        return;
    }
    if (inb->want == RMUX_HEADER_FIXED_BYTES) {
        struct rmux_header h;
        if (rmux_header_decode_fixed(inb->buf, &h) != 0) {
            uv_read_stop(stream);
            rmux_inbound_reject(inb, "bad-header");
            return;
        }
        inb->want = RMUX_HEADER_FIXED_BYTES + h.address_len;
        return; /* libuv asks rmux_on_inbound_alloc for the address bytes */
    }
    uv_read_stop(stream);
    rmux_inbound_dispatch(inb);
}

static void rmux_on_connection(uv_stream_t *server, int status)
{
    struct rmux *m = server->data;
    if (status < 0) {
        LOG_WARN("rmux accept failed addr=%s err=%s", m->address, uv_strerror(status));
        return;
    }
    uv_tcp_t *tcp = rmux_tcp_alloc();
    int rv = uv_tcp_init(m->loop, tcp);
    EDDY_ASSERT(rv == 0); /* AF_UNSPEC: no socket is created */
    rv = uv_accept(server, (uv_stream_t *)tcp);
    if (rv != 0) {
        LOG_WARN("rmux accept failed addr=%s err=%s", m->address, uv_strerror(rv));
        uv_close((uv_handle_t *)tcp, rmux_on_bare_close);
        return;
    }
    if (m->closing || m->inbound_count >= RMUX_INBOUND_PENDING_MAX) {
        m->rejected_count++;
        LOG_WARN("rmux too many pending connections addr=%s pending=%u", m->address,
                 m->inbound_count);
        uv_close((uv_handle_t *)tcp, rmux_on_bare_close);
        return;
    }
    struct rmux_inbound *inb = eddy_xcalloc(1, sizeof(*inb));
    inb->mux = m;
    inb->tcp = tcp;
    inb->accepted_ms = uv_now(m->loop);
    inb->want = RMUX_HEADER_FIXED_BYTES;
    tcp->data = inb;
    list_push(&m->inbound, &inb->link);
    m->inbound_count++;
    uv_tcp_nodelay(tcp, 1);
    rv = uv_read_start((uv_stream_t *)tcp, rmux_on_inbound_alloc, rmux_on_inbound_read);
    if (rv != 0) {
        rmux_inbound_close(inb);
    }
}

static void rmux_on_sweep(uv_timer_t *timer)
{
    struct rmux *m = timer->data;
    uint64_t now = uv_now(m->loop);
    struct list_link *l = m->inbound.next;
    while (l != &m->inbound) {
        struct rmux_inbound *inb = container_of(l, struct rmux_inbound, link);
        l = l->next;
        if (!inb->is_closing && now - inb->accepted_ms >= RMUX_HEADER_TIMEOUT_MS) {
            rmux_inbound_reject(inb, "header-timeout");
        }
    }
}

static void rmux_on_defer(uv_idle_t *idle)
{
    struct rmux *m = idle->data;
    while (!list_is_empty(&m->due)) {
        struct rmux_group *grp = container_of(m->due.next, struct rmux_group, due_link);
        list_remove(&grp->due_link);
        raft_uv_transport_close_cb cb = grp->close_cb;
        grp->close_cb = NULL;
        /* May free grp through rmux_transport_close: touch nothing after. */
        if (cb != NULL) {
            cb(grp->t);
        }
    }
    uv_idle_stop(idle);
}

int rmux_init(struct rmux **out, uv_loop_t *loop, const char *address)
{
    EDDY_ASSERT(out != NULL);
    EDDY_ASSERT(loop != NULL);
    EDDY_ASSERT(address != NULL);
    struct sockaddr_storage sa;
    int rv = rmux_parse_address(address, &sa);
    if (rv != 0) {
        LOG_ERROR("rmux bad listen address addr=%.64s", address);
        return rv;
    }
    struct rmux *m = eddy_calloc(1, sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    m->loop = loop;
    snprintf(m->address, sizeof(m->address), "%s", address);
    list_init(&m->groups);
    list_init(&m->inbound);
    list_init(&m->due);
    rv = uv_tcp_init(loop, &m->listener);
    if (rv != 0) {
        goto err_after_alloc;
    }
    rv = uv_timer_init(loop, &m->sweep);
    EDDY_ASSERT(rv == 0);
    rv = uv_idle_init(loop, &m->defer);
    EDDY_ASSERT(rv == 0);
    m->listener.data = m;
    m->sweep.data = m;
    m->defer.data = m;
    m->handles_open = 3;
    rv = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
    if (rv != 0) {
        goto err_after_handles;
    }
    rv = uv_listen((uv_stream_t *)&m->listener, RMUX_LISTEN_BACKLOG, rmux_on_connection);
    if (rv != 0) {
        goto err_after_handles;
    }
    rv = uv_timer_start(&m->sweep, rmux_on_sweep, RMUX_SWEEP_PERIOD_MS, RMUX_SWEEP_PERIOD_MS);
    EDDY_ASSERT(rv == 0);
    LOG_INFO("rmux listening addr=%s", m->address);
    *out = m;
    return 0;

err_after_handles:
    LOG_ERROR("rmux listen failed addr=%s err=%s", m->address, uv_strerror(rv));
    /* The handles are registered with the loop: m is freed by their close
     * callbacks, with no user callback. */
    m->closing = true;
    uv_close((uv_handle_t *)&m->listener, rmux_on_handle_close);
    uv_close((uv_handle_t *)&m->sweep, rmux_on_handle_close);
    uv_close((uv_handle_t *)&m->defer, rmux_on_handle_close);
    return rv;
err_after_alloc:
    eddy_free(m);
    return rv;
}

void rmux_close(struct rmux *m, void (*cb)(void *arg), void *arg)
{
    EDDY_ASSERT(m != NULL);
    EDDY_ASSERT(!m->closing);
    /* Lifecycle: every group transport is released before its hub. */
    EDDY_ASSERT(list_is_empty(&m->groups));
    EDDY_ASSERT(list_is_empty(&m->due));
    m->closing = true;
    m->close_cb = cb;
    m->close_arg = arg;
    struct list_link *l = m->inbound.next;
    while (l != &m->inbound) {
        struct rmux_inbound *inb = container_of(l, struct rmux_inbound, link);
        l = l->next;
        rmux_inbound_close(inb);
    }
    uv_close((uv_handle_t *)&m->listener, rmux_on_handle_close);
    uv_close((uv_handle_t *)&m->sweep, rmux_on_handle_close);
    uv_close((uv_handle_t *)&m->defer, rmux_on_handle_close);
}

/* --- group transport --- */

static void rmux_group_maybe_closed(struct rmux_group *grp)
{
    if (!grp->is_closing || grp->is_due || !list_is_empty(&grp->connects)) {
        return;
    }
    /* Delivered from the loop, never from inside transport->close(). */
    grp->is_due = true;
    list_push(&grp->mux->due, &grp->due_link);
    uv_idle_start(&grp->mux->defer, rmux_on_defer);
}

static void rmux_on_connect_close(uv_handle_t *handle)
{
    struct rmux_connect *op = handle->data;
    struct rmux_group *grp = op->grp;
    raft_uv_connect_cb cb = op->cb;
    struct raft_uv_connect *req = op->req;
    int status = op->status;
    EDDY_ASSERT(status != 0);
    raft_free(op->tcp);
    list_remove(&op->link);
    eddy_free(op);
    if (cb != NULL) {
        cb(req, NULL, status);
    }
    rmux_group_maybe_closed(grp);
}

static void rmux_connect_fail(struct rmux_connect *op, int status)
{
    if (uv_is_closing((uv_handle_t *)op->tcp)) {
        return;
    }
    op->status = status;
    uv_close((uv_handle_t *)op->tcp, rmux_on_connect_close);
}

static void rmux_on_header_written(uv_write_t *wreq, int status)
{
    struct rmux_connect *op = container_of(wreq, struct rmux_connect, write);
    if (uv_is_closing((uv_handle_t *)op->tcp)) {
        return; /* cancelled: reported from rmux_on_connect_close */
    }
    if (status != 0) {
        LOG_DEBUG("rmux header write failed group=%u err=%s", (unsigned)op->grp->group_id,
                  uv_strerror(status));
        rmux_connect_fail(op, RAFT_NOCONNECTION);
        return;
    }
    uv_tcp_t *tcp = op->tcp;
    raft_uv_connect_cb cb = op->cb;
    struct raft_uv_connect *req = op->req;
    EDDY_ASSERT(cb != NULL);
    list_remove(&op->link);
    eddy_free(op);
    tcp->data = NULL;
    cb(req, (uv_stream_t *)tcp, 0);
}

static void rmux_on_connected(uv_connect_t *creq, int status)
{
    struct rmux_connect *op = container_of(creq, struct rmux_connect, connect);
    if (uv_is_closing((uv_handle_t *)op->tcp)) {
        return;
    }
    if (status != 0) {
        rmux_connect_fail(op, RAFT_NOCONNECTION);
        return;
    }
    uv_tcp_nodelay(op->tcp, 1);
    uv_buf_t buf = uv_buf_init((char *)op->hdr, (unsigned)op->hdr_len);
    int rv = uv_write(&op->write, (uv_stream_t *)op->tcp, &buf, 1, rmux_on_header_written);
    if (rv != 0) {
        rmux_connect_fail(op, RAFT_NOCONNECTION);
    }
}

static int rmux_t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct rmux_group *grp = t->impl;
    EDDY_ASSERT(grp != NULL);
    EDDY_ASSERT(!grp->is_registered);
    if (id == 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "raft id 0");
        return RAFT_BADID;
    }
    size_t len = strnlen(address, RMUX_ADDRESS_LEN_MAX + 1);
    if (len == 0 || len > RMUX_ADDRESS_LEN_MAX) {
        snprintf(t->errmsg, sizeof(t->errmsg), "address length %zu", len);
        return RAFT_NAMETOOLONG;
    }
    if (rmux_find_group(grp->mux, grp->group_id) != NULL) {
        snprintf(t->errmsg, sizeof(t->errmsg), "group %u already on this mux",
                 (unsigned)grp->group_id);
        return RAFT_DUPLICATEID;
    }
    grp->address = eddy_strdup(address);
    if (grp->address == NULL) {
        return RAFT_NOMEM;
    }
    grp->id = id;
    grp->is_registered = true;
    return 0;
}

static int rmux_t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct rmux_group *grp = t->impl;
    EDDY_ASSERT(grp->is_registered);
    EDDY_ASSERT(cb != NULL);
    grp->accept_cb = cb;
    return 0;
}

static int rmux_t_connect(struct raft_uv_transport *t,
                          struct raft_uv_connect *req,
                          raft_id id,
                          const char *address,
                          raft_uv_connect_cb cb)
{
    struct rmux_group *grp = t->impl;
    EDDY_ASSERT(grp->is_registered);
    if (grp->is_closing) {
        return RAFT_CANCELED;
    }
    struct sockaddr_storage sa;
    if (rmux_parse_address(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "bad peer address %.64s", address);
        return RAFT_NOCONNECTION;
    }
    struct rmux_connect *op = eddy_calloc(1, sizeof(*op));
    if (op == NULL) {
        return RAFT_NOMEM;
    }
    op->grp = grp;
    op->req = req;
    op->cb = cb;
    op->hdr_len = rmux_header_encode(op->hdr, grp, id);
    op->tcp = rmux_tcp_alloc();
    int rv = uv_tcp_init(grp->mux->loop, op->tcp);
    EDDY_ASSERT(rv == 0);
    op->tcp->data = op;
    list_push(&grp->connects, &op->link);
    rv = uv_tcp_connect(&op->connect, op->tcp, (const struct sockaddr *)&sa, rmux_on_connected);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof(t->errmsg), "connect %.64s: %s", address, uv_strerror(rv));
        op->cb = NULL; /* reported by the return value, not by cb */
        rmux_connect_fail(op, RAFT_NOCONNECTION);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void rmux_t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct rmux_group *grp = t->impl;
    EDDY_ASSERT(!grp->is_closing);
    grp->is_closing = true;
    grp->close_cb = cb;
    grp->accept_cb = NULL;
    for (struct list_link *l = grp->connects.next; l != &grp->connects; l = l->next) {
        struct rmux_connect *op = container_of(l, struct rmux_connect, link);
        rmux_connect_fail(op, RAFT_CANCELED);
    }
    rmux_group_maybe_closed(grp);
}

int rmux_transport_init(struct rmux *m, uint32_t group_id, struct raft_uv_transport *t)
{
    EDDY_ASSERT(m != NULL);
    EDDY_ASSERT(t != NULL);
    EDDY_ASSERT(!m->closing);
    struct rmux_group *grp = eddy_calloc(1, sizeof(*grp));
    if (grp == NULL) {
        return -ENOMEM;
    }
    grp->mux = m;
    grp->t = t;
    grp->group_id = group_id;
    list_init(&grp->connects);
    list_init(&grp->due_link);
    list_push(&m->groups, &grp->link);
    memset(t, 0, sizeof(*t));
    t->impl = grp;
    t->init = rmux_t_init;
    t->listen = rmux_t_listen;
    t->connect = rmux_t_connect;
    t->close = rmux_t_close;
    return 0;
}

void rmux_transport_close(struct raft_uv_transport *t)
{
    EDDY_ASSERT(t != NULL);
    struct rmux_group *grp = t->impl;
    EDDY_ASSERT(grp != NULL);
    /* raft_uv closed the transport (or never initialised raft_io), so no
     * connect attempt is left. */
    EDDY_ASSERT(list_is_empty(&grp->connects));
    list_remove(&grp->due_link);
    list_remove(&grp->link);
    eddy_free(grp->address);
    eddy_free(grp);
    t->impl = NULL;
}
