/*
 * Gateway backend: the catalogue cache and every call into the cluster.
 *
 * Each call is an operation (struct bop) that owns its request frame and is
 * sent to a target chosen from leader hints: the coordinator leader for
 * metadata (group 0), the group leader for data. -EDDY_ENOTLEADER with a
 * hint retries at once at the hinted node; no hint or an unreachable node
 * moves to the next candidate after BACKEND_RETRY_DELAY_MS; after
 * BACKEND_DEADLINE_MS the call fails with -EDDY_EUNAVAILABLE. Callbacks are
 * never synchronous: immediate answers go through a deferred queue drained
 * by an idle handle.
 */
#include "backend.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <string.h>

#define BACKEND_DEADLINE_MS 8000
#define BACKEND_RETRY_DELAY_MS 50
#define BACKEND_CATALOG_TTL_MS 1000
#define BACKEND_CLIENTS_MAX 256
#define BACKEND_CATALOG_WAITERS_MAX 4096
#define BACKEND_PUT_GROUPS_MAX 64 /* groups one put may span */

struct bop;
typedef void (*bop_done_cb)(struct bop *op, int status, const Eddy__Frame *resp);

/* One call into the cluster, retried across leaders until its deadline. */
struct bop {
    struct backend *b;
    uint32_t group;   /* 0: coordinator */
    Eddy__Frame *req; /* owned; freed by req_free */
    void (*req_free)(Eddy__Frame *req);
    bop_done_cb done;
    void *ctx;
    bool idempotent; /* safe to resend after an unknown outcome */
    uint64_t deadline_ms;
    uint32_t call_timeout_ms; /* one attempt's RPC timeout */
    unsigned rotate;
    uv_timer_t timer;
    struct bop *prev;
    struct bop *next;
};

struct deferred {
    struct deferred *next;
    void (*fn)(void *arg);
    void *arg;
};

struct client_slot {
    char *address;
    struct rpc_client *client;
};

struct catalog_waiter {
    backend_catalog_cb cb;
    void *arg;
};

struct backend {
    uv_loop_t *loop;
    char **coord_addrs;
    unsigned coord_count;
    struct client_slot clients[BACKEND_CLIENTS_MAX];
    unsigned client_count;
    Eddy__Catalog *catalog; /* owned copy, NULL until first fetched */
    uint64_t catalog_fetched_ms;
    uint64_t coord_leader;
    uint64_t *group_leaders; /* hint per group id, index = id */
    size_t group_leaders_len;
    struct catalog_waiter *waiters;
    size_t waiter_count;
    bool fetching;
    struct deferred *deferred_head;
    struct deferred *deferred_tail;
    uv_idle_t idle;
    unsigned ops_live;
    struct bop *ops; /* live operations, for close */
    bool closing;
    unsigned closing_handles;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void backend_defer(struct backend *b, void (*fn)(void *arg), void *arg);
static void bop_finish(struct bop *op, int status, const Eddy__Frame *resp);

/* ---- deferred callbacks ---- */

static void backend_on_idle(uv_idle_t *h)
{
    struct backend *b = h->data;
    struct deferred *d = b->deferred_head;
    b->deferred_head = NULL;
    b->deferred_tail = NULL;
    uv_idle_stop(&b->idle);
    while (d != NULL) {
        struct deferred *next = d->next;
        d->fn(d->arg);
        eddy_free(d);
        d = next;
    }
}

static void backend_defer(struct backend *b, void (*fn)(void *arg), void *arg)
{
    struct deferred *d = eddy_xmalloc(sizeof(*d));
    d->next = NULL;
    d->fn = fn;
    d->arg = arg;
    if (b->deferred_tail != NULL) {
        b->deferred_tail->next = d;
    } else {
        b->deferred_head = d;
    }
    b->deferred_tail = d;
    uv_idle_start(&b->idle, backend_on_idle);
}

/* ---- lifecycle ---- */

int backend_init(struct backend **out, uv_loop_t *loop, const struct backend_config *cfg)
{
    if (cfg->coordinator_count == 0) {
        return -EDDY_EINVAL;
    }
    struct backend *b = eddy_xcalloc(1, sizeof(*b));
    b->loop = loop;
    b->coord_count = cfg->coordinator_count;
    b->coord_addrs = eddy_xcalloc(cfg->coordinator_count, sizeof(char *));
    for (unsigned i = 0; i < cfg->coordinator_count; i++) {
        b->coord_addrs[i] = eddy_xstrdup(cfg->coordinator_rpc_addrs[i]);
    }
    uv_idle_init(loop, &b->idle);
    b->idle.data = b;
    *out = b;
    return 0;
}

/* Frees the backend once closing and nothing refers to it: every client
 * and the idle handle closed, every operation's timer closed. */
static void backend_maybe_free(struct backend *b)
{
    if (!b->closing || b->closing_handles > 0 || b->ops_live > 0) {
        return;
    }
    for (unsigned i = 0; i < b->coord_count; i++) {
        eddy_free(b->coord_addrs[i]);
    }
    eddy_free(b->coord_addrs);
    if (b->catalog != NULL) {
        eddy__catalog__free_unpacked(b->catalog, NULL);
    }
    eddy_free(b->group_leaders);
    eddy_free(b->waiters);
    void (*cb)(void *) = b->close_cb;
    void *arg = b->close_arg;
    eddy_free(b);
    if (cb != NULL) {
        cb(arg);
    }
}

static void backend_release(struct backend *b)
{
    EDDY_ASSERT(b->closing_handles > 0);
    b->closing_handles--;
    backend_maybe_free(b);
}

static void backend_client_closed(void *arg)
{
    backend_release(arg);
}

static void backend_idle_closed(uv_handle_t *h)
{
    backend_release(h->data);
}

void backend_close(struct backend *b, void (*cb)(void *arg), void *arg)
{
    b->closing = true;
    b->close_cb = cb;
    b->close_arg = arg;
    /* Closing the clients fails their calls, which finishes the ops. */
    b->closing_handles = 1 + b->client_count;
    for (unsigned i = 0; i < b->client_count; i++) {
        rpc_client_close(b->clients[i].client, backend_client_closed, b);
        eddy_free(b->clients[i].address);
    }
    b->client_count = 0;
    backend_on_idle(&b->idle);
    /* Operations waiting on a retry timer finish now; the ones waiting on a
     * client finish when its close fails their calls. */
    struct bop *op = b->ops;
    while (op != NULL) {
        struct bop *next = op->next;
        if (uv_is_active((uv_handle_t *)&op->timer)) {
            uv_timer_stop(&op->timer);
            bop_finish(op, -EDDY_ESHUTDOWN, NULL);
        }
        op = next;
    }
    uv_close((uv_handle_t *)&b->idle, backend_idle_closed);
}

/* ---- targets ---- */

static uint64_t backend_now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static struct rpc_client *backend_client(struct backend *b, const char *address)
{
    for (unsigned i = 0; i < b->client_count; i++) {
        if (strcmp(b->clients[i].address, address) == 0) {
            return b->clients[i].client;
        }
    }
    if (b->client_count == BACKEND_CLIENTS_MAX) {
        return NULL;
    }
    struct rpc_client *c;
    if (rpc_client_init(&c, b->loop, address) != 0) {
        return NULL;
    }
    b->clients[b->client_count].address = eddy_xstrdup(address);
    b->clients[b->client_count].client = c;
    b->client_count++;
    return c;
}

static const char *backend_node_addr(const struct backend *b, uint64_t node)
{
    if (b->catalog == NULL || node == 0) {
        return NULL;
    }
    for (size_t i = 0; i < b->catalog->n_nodes; i++) {
        if (b->catalog->nodes[i]->id == node) {
            return b->catalog->nodes[i]->rpc_address;
        }
    }
    return NULL;
}

static const Eddy__GroupInfo *backend_group_info(const struct backend *b, uint32_t group)
{
    if (b->catalog == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < b->catalog->n_groups; i++) {
        if (b->catalog->groups[i]->id == group) {
            return b->catalog->groups[i];
        }
    }
    return NULL;
}

static uint64_t backend_leader_hint(const struct backend *b, uint32_t group)
{
    if (group == 0) {
        return b->coord_leader;
    }
    return group < b->group_leaders_len ? b->group_leaders[group] : 0;
}

static void backend_set_leader_hint(struct backend *b, uint32_t group, uint64_t node)
{
    if (group == 0) {
        b->coord_leader = node;
        return;
    }
    if (group >= b->group_leaders_len) {
        size_t len = (size_t)group + 16;
        b->group_leaders = eddy_xrealloc(b->group_leaders, len * sizeof(uint64_t));
        memset(b->group_leaders + b->group_leaders_len, 0,
               (len - b->group_leaders_len) * sizeof(uint64_t));
        b->group_leaders_len = len;
    }
    b->group_leaders[group] = node;
}

static const char *backend_target(struct backend *b, struct bop *op)
{
    const char *addr = backend_node_addr(b, backend_leader_hint(b, op->group));
    if (addr != NULL) {
        return addr;
    }
    if (op->group != 0) {
        const Eddy__GroupInfo *gi = backend_group_info(b, op->group);
        if (gi != NULL && gi->n_replicas > 0) {
            addr = backend_node_addr(b, gi->replicas[op->rotate % gi->n_replicas]);
            if (addr != NULL) {
                return addr;
            }
        }
    }
    return b->coord_addrs[op->rotate % b->coord_count];
}

/* ---- operations ---- */

static void bop_send(struct bop *op);

static void bop_timer_closed(uv_handle_t *h)
{
    struct bop *op = h->data;
    struct backend *b = op->b;
    if (op->req_free != NULL) {
        op->req_free(op->req);
    }
    eddy_free(op);
    EDDY_ASSERT(b->ops_live > 0);
    b->ops_live--;
    backend_maybe_free(b);
}

static void bop_finish(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct backend *b = op->b;
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        b->ops = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
    op->done(op, status, resp);
    uv_close((uv_handle_t *)&op->timer, bop_timer_closed);
}

static void bop_on_timer(uv_timer_t *t)
{
    bop_send(t->data);
}

static void bop_retry(struct bop *op, unsigned delay_ms, int status)
{
    if (op->b->closing || backend_now_ms() + delay_ms >= op->deadline_ms) {
        bool is_redirect = status == -EDDY_ENOTLEADER || status == -EDDY_ENOTHOSTED;
        bop_finish(op, is_redirect ? -EDDY_EUNAVAILABLE : status, NULL);
        return;
    }
    uv_timer_start(&op->timer, bop_on_timer, delay_ms, 0);
}

static void bop_on_response(void *arg, int status, const Eddy__Frame *resp)
{
    struct bop *op = arg;
    struct backend *b = op->b;
    if ((status == -EDDY_EUNKNOWN || status == -EDDY_ETIMEDOUT) && !op->idempotent) {
        /* The request reached a node that then went away or went quiet: it
         * may have been carried out. Sending it again could apply it twice,
         * so the client learns the outcome is unknown (InternalFailure) and
         * decides, as with AWS. */
        backend_set_leader_hint(b, op->group, 0);
        bop_finish(op, -EDDY_EUNKNOWN, NULL);
        return;
    }
    if (status != 0) {
        /* The node is unreachable: forget it as leader, try the next one. */
        backend_set_leader_hint(b, op->group, 0);
        op->rotate++;
        bop_retry(op, BACKEND_RETRY_DELAY_MS, -EDDY_EUNAVAILABLE);
        return;
    }
    const Eddy__Status *st = rpc_frame_status(resp);
    int code = st != NULL ? st->code : 0;
    if (code == -EDDY_ENOTLEADER) {
        uint64_t hint = st->leader_node;
        bool useful = hint != 0 && hint != backend_leader_hint(b, op->group) &&
                      backend_node_addr(b, hint) != NULL;
        backend_set_leader_hint(b, op->group, hint);
        if (!useful) {
            op->rotate++;
        }
        bop_retry(op, useful ? 0 : BACKEND_RETRY_DELAY_MS, code);
        return;
    }
    if (code == -EDDY_EFULL) {
        bop_retry(op, BACKEND_RETRY_DELAY_MS, code);
        return;
    }
    if (code == -EDDY_ENOTHOSTED) {
        /* The node holds no replica of the group (a stale hint or an old
         * catalogue): forget it, refresh the catalogue and try the group's
         * next replica at once. */
        backend_set_leader_hint(b, op->group, 0);
        b->catalog_fetched_ms = 0;
        op->rotate++;
        bop_retry(op, 0, code);
        return;
    }
    bop_finish(op, code, resp);
}

static void bop_send(struct bop *op)
{
    struct backend *b = op->b;
    if (b->closing) {
        bop_finish(op, -EDDY_ESHUTDOWN, NULL);
        return;
    }
    struct rpc_client *c = backend_client(b, backend_target(b, op));
    if (c == NULL) {
        op->rotate++;
        bop_retry(op, BACKEND_RETRY_DELAY_MS, -EDDY_EUNAVAILABLE);
        return;
    }
    rpc_client_call(c, op->req, op->call_timeout_ms, bop_on_response, op);
}

static void bop_start_deferred(void *arg)
{
    bop_send(arg);
}

/* Takes ownership of req (freed with req_free). */
static struct bop *bop_start(struct backend *b,
                             uint32_t group,
                             Eddy__Frame *req,
                             void (*req_free)(Eddy__Frame *),
                             bop_done_cb done,
                             void *ctx)
{
    struct bop *op = eddy_xcalloc(1, sizeof(*op));
    op->b = b;
    op->group = group;
    op->req = req;
    op->req_free = req_free;
    op->done = done;
    op->ctx = ctx;
    op->deadline_ms = backend_now_ms() + BACKEND_DEADLINE_MS;
    op->call_timeout_ms = RPC_CALL_TIMEOUT_MS;
    uv_timer_init(b->loop, &op->timer);
    op->timer.data = op;
    b->ops_live++;
    op->next = b->ops;
    if (b->ops != NULL) {
        b->ops->prev = op;
    }
    b->ops = op;
    backend_defer(b, bop_start_deferred, op);
    return op;
}

/* ---- catalogue ---- */

static void backend_catalog_store(struct backend *b, const Eddy__Catalog *cat)
{
    size_t len = eddy__catalog__get_packed_size(cat);
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    eddy__catalog__pack(cat, buf);
    Eddy__Catalog *copy = eddy__catalog__unpack(NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(copy != NULL);
    if (b->catalog != NULL) {
        eddy__catalog__free_unpacked(b->catalog, NULL);
    }
    b->catalog = copy;
}

static void catalog_req_free(Eddy__Frame *f)
{
    eddy_free(f->get_catalog);
    eddy_free(f);
}

static void backend_catalog_answer(struct backend *b, int status)
{
    struct catalog_waiter *w = b->waiters;
    size_t n = b->waiter_count;
    b->waiters = NULL;
    b->waiter_count = 0;
    for (size_t i = 0; i < n; i++) {
        w[i].cb(w[i].arg, status, status == 0 ? b->catalog : NULL);
    }
    eddy_free(w);
}

static void backend_on_catalog(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct backend *b = op->b;
    b->fetching = false;
    if (status == 0 && resp->body_case == EDDY__FRAME__BODY_CATALOG) {
        const Eddy__GetCatalogResp *cr = resp->catalog;
        if (!cr->unchanged && cr->catalog != NULL) {
            backend_catalog_store(b, cr->catalog);
        }
        b->catalog_fetched_ms = backend_now_ms();
        if (b->catalog == NULL) {
            status = -EDDY_EUNAVAILABLE;
        }
    } else if (status == 0) {
        status = -EDDY_EMALFORMED;
    }
    backend_catalog_answer(b, status);
}

static void backend_catalog_fetch(struct backend *b)
{
    if (b->fetching) {
        return;
    }
    b->fetching = true;
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__GetCatalogReq *r = eddy_xmalloc(sizeof(*r));
    eddy__get_catalog_req__init(r);
    r->known_version = b->catalog != NULL ? b->catalog->version : 0;
    f->body_case = EDDY__FRAME__BODY_GET_CATALOG;
    f->get_catalog = r;
    struct bop *op = bop_start(b, 0, f, catalog_req_free, backend_on_catalog, NULL);
    op->idempotent = true;
}

struct cached_answer {
    struct backend *b;
    backend_catalog_cb cb;
    void *arg;
};

static void backend_cached_answer(void *arg)
{
    struct cached_answer *a = arg;
    a->cb(a->arg, 0, a->b->catalog);
    eddy_free(a);
}

void backend_catalog(struct backend *b, bool fresh, backend_catalog_cb cb, void *arg)
{
    if (!fresh && b->catalog != NULL &&
        backend_now_ms() - b->catalog_fetched_ms < BACKEND_CATALOG_TTL_MS) {
        struct cached_answer *a = eddy_xmalloc(sizeof(*a));
        *a = (struct cached_answer){.b = b, .cb = cb, .arg = arg};
        backend_defer(b, backend_cached_answer, a);
        return;
    }
    if (b->waiter_count == BACKEND_CATALOG_WAITERS_MAX) {
        struct cached_answer *a = eddy_xmalloc(sizeof(*a));
        *a = (struct cached_answer){.b = b, .cb = cb, .arg = arg};
        /* Too many waiters: answer from what we have, or fail. */
        if (b->catalog != NULL) {
            backend_defer(b, backend_cached_answer, a);
        } else {
            eddy_free(a);
            cb(arg, -EDDY_EFULL, NULL);
        }
        return;
    }
    b->waiters = eddy_xrealloc(b->waiters, (b->waiter_count + 1) * sizeof(*b->waiters));
    b->waiters[b->waiter_count++] = (struct catalog_waiter){.cb = cb, .arg = arg};
    backend_catalog_fetch(b);
}

/* ---- control plane ---- */

struct status_ctx {
    backend_status_cb cb;
    void *arg;
};

static void backend_on_status(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct status_ctx *c = op->ctx;
    const char *message = NULL;
    if (status != 0 && resp != NULL) {
        const Eddy__Status *st = rpc_frame_status(resp);
        if (st != NULL && st->message != NULL && st->message[0] != '\0') {
            message = st->message;
        }
    }
    if (status == 0) {
        /* The catalogue changed: the next data-plane lookup must refetch. */
        op->b->catalog_fetched_ms = 0;
    }
    c->cb(c->arg, status, message);
    eddy_free(c);
}

static void create_req_free(Eddy__Frame *f)
{
    eddy__create_stream_req__free_unpacked(f->create_stream, NULL);
    eddy_free(f);
}

void backend_create_stream(struct backend *b,
                           const Eddy__CreateStreamReq *req,
                           backend_status_cb cb,
                           void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    /* A deep copy through the wire form: every field of req goes, whatever
     * fields the message grows. */
    size_t len = eddy__create_stream_req__get_packed_size(req);
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    eddy__create_stream_req__pack(req, buf);
    Eddy__CreateStreamReq *r = eddy__create_stream_req__unpack(NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(r != NULL);
    f->body_case = EDDY__FRAME__BODY_CREATE_STREAM;
    f->create_stream = r;
    struct status_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct status_ctx){.cb = cb, .arg = arg};
    bop_start(b, 0, f, create_req_free, backend_on_status, c);
}

static void delete_req_free(Eddy__Frame *f)
{
    eddy_free(f->delete_stream->name);
    eddy_free(f->delete_stream);
    eddy_free(f);
}

void backend_delete_stream(struct backend *b,
                           const char *name,
                           bool enforce_consumer_deletion,
                           backend_status_cb cb,
                           void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__DeleteStreamReq *r = eddy_xmalloc(sizeof(*r));
    eddy__delete_stream_req__init(r);
    r->name = eddy_xstrdup(name);
    r->enforce_consumer_deletion = enforce_consumer_deletion;
    f->body_case = EDDY__FRAME__BODY_DELETE_STREAM;
    f->delete_stream = r;
    struct status_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct status_ctx){.cb = cb, .arg = arg};
    bop_start(b, 0, f, delete_req_free, backend_on_status, c);
}

/* ---- settings ---- */

struct update_ctx {
    backend_update_cb cb;
    void *arg;
};

static void update_req_free(Eddy__Frame *f)
{
    eddy__update_stream_req__free_unpacked(f->update_stream, NULL);
    eddy_free(f);
}

/* The message of a response, NULL when empty. */
static const char *backend_message(const Eddy__Status *st)
{
    return st != NULL && st->message != NULL && st->message[0] != '\0' ? st->message : NULL;
}

static void backend_on_update(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct update_ctx *c = op->ctx;
    const Eddy__UpdateStreamResp *ur = NULL;
    if (resp != NULL && resp->body_case == EDDY__FRAME__BODY_UPDATE_STREAM_RESP) {
        ur = resp->update_stream_resp;
    } else if (status == 0) {
        status = -EDDY_EMALFORMED;
    }
    if (status == 0 && ur->stream == NULL) {
        status = -EDDY_EMALFORMED; /* success carries the stream after the change */
    }
    if (status == 0 || status == -EDDY_ENOTFOUND) {
        /* The catalogue changed (or is behind): the next lookup refetches. */
        op->b->catalog_fetched_ms = 0;
    }
    c->cb(c->arg, status, ur != NULL ? backend_message(ur->status) : NULL,
          ur != NULL ? ur->stream : NULL);
    eddy_free(c);
}

void backend_update_stream(struct backend *b,
                           const Eddy__StreamUpdate *u,
                           backend_update_cb cb,
                           void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__UpdateStreamReq req = EDDY__UPDATE_STREAM_REQ__INIT;
    req.update = (Eddy__StreamUpdate *)u;
    /* A deep copy through the wire form, as for CreateStream. */
    size_t len = eddy__update_stream_req__get_packed_size(&req);
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    eddy__update_stream_req__pack(&req, buf);
    Eddy__UpdateStreamReq *r = eddy__update_stream_req__unpack(NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(r != NULL);
    f->body_case = EDDY__FRAME__BODY_UPDATE_STREAM;
    f->update_stream = r;
    struct update_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct update_ctx){.cb = cb, .arg = arg};
    /* Not idempotent (a retention change resent after it applied finds the
     * stream UPDATING): an unknown outcome is -EDDY_EUNKNOWN, as for creates. */
    bop_start(b, 0, f, update_req_free, backend_on_update, c);
}

struct account_ctx {
    backend_account_cb cb;
    void *arg;
};

static void account_req_free(Eddy__Frame *f)
{
    eddy_free(f->update_account->settings);
    eddy_free(f->update_account);
    eddy_free(f);
}

static void backend_on_account(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct account_ctx *c = op->ctx;
    const Eddy__UpdateAccountResp *ar = NULL;
    if (resp != NULL && resp->body_case == EDDY__FRAME__BODY_UPDATE_ACCOUNT_RESP) {
        ar = resp->update_account_resp;
    } else if (status == 0) {
        status = -EDDY_EMALFORMED;
    }
    if (status == 0 && ar->settings == NULL) {
        status = -EDDY_EMALFORMED;
    }
    if (status == 0) {
        op->b->catalog_fetched_ms = 0;
    }
    c->cb(c->arg, status, ar != NULL ? backend_message(ar->status) : NULL,
          status == 0 ? ar->settings : NULL);
    eddy_free(c);
}

void backend_update_account(struct backend *b,
                            const Eddy__AccountSettings *s,
                            backend_account_cb cb,
                            void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__UpdateAccountReq *r = eddy_xmalloc(sizeof(*r));
    eddy__update_account_req__init(r);
    r->settings = eddy_xmalloc(sizeof(*r->settings));
    eddy__account_settings__init(r->settings);
    r->settings->commitment_enabled = s->commitment_enabled;
    f->body_case = EDDY__FRAME__BODY_UPDATE_ACCOUNT;
    f->update_account = r;
    struct account_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct account_ctx){.cb = cb, .arg = arg};
    bop_start(b, 0, f, account_req_free, backend_on_account, c);
}

static void reshard_req_free(Eddy__Frame *f)
{
    eddy__reshard_req__free_unpacked(f->reshard, NULL);
    eddy_free(f);
}

void backend_reshard(struct backend *b,
                     const Eddy__ReshardReq *req,
                     backend_status_cb cb,
                     void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    size_t len = eddy__reshard_req__get_packed_size(req); /* a deep copy, as for CreateStream */
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    eddy__reshard_req__pack(req, buf);
    Eddy__ReshardReq *r = eddy__reshard_req__unpack(NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(r != NULL);
    f->body_case = EDDY__FRAME__BODY_RESHARD;
    f->reshard = r;
    struct status_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct status_ctx){.cb = cb, .arg = arg};
    bop_start(b, 0, f, reshard_req_free, backend_on_status, c);
}

/* ---- consumers ---- */

struct consumer_ctx {
    backend_consumer_cb cb;
    void *arg;
};

static void consumer_req_free(Eddy__Frame *f)
{
    eddy__consumer_req__free_unpacked(f->consumer, NULL);
    eddy_free(f);
}

static void backend_on_consumer(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct consumer_ctx *c = op->ctx;
    const Eddy__ConsumerResp *cr = NULL;
    if (resp != NULL && resp->body_case == EDDY__FRAME__BODY_CONSUMER_RESP) {
        cr = resp->consumer_resp;
    } else if (status == 0) {
        status = -EDDY_EMALFORMED;
    }
    if (status == 0 || status == -EDDY_ENOTFOUND) {
        /* The catalogue changed (or is behind): the next lookup refetches. */
        op->b->catalog_fetched_ms = 0;
    }
    c->cb(c->arg, status, cr != NULL ? backend_message(cr->status) : NULL, cr);
    eddy_free(c);
}

void backend_consumer(struct backend *b,
                      const Eddy__ConsumerChange *ch,
                      backend_consumer_cb cb,
                      void *arg)
{
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__ConsumerReq req = EDDY__CONSUMER_REQ__INIT;
    req.change = (Eddy__ConsumerChange *)ch;
    /* A deep copy through the wire form, as for CreateStream. */
    size_t len = eddy__consumer_req__get_packed_size(&req);
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    eddy__consumer_req__pack(&req, buf);
    Eddy__ConsumerReq *r = eddy__consumer_req__unpack(NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(r != NULL);
    f->body_case = EDDY__FRAME__BODY_CONSUMER;
    f->consumer = r;
    struct consumer_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct consumer_ctx){.cb = cb, .arg = arg};
    /* Not idempotent (a register resent after it applied finds the name
     * taken): an unknown outcome is -EDDY_EUNKNOWN, as for creates. */
    bop_start(b, 0, f, consumer_req_free, backend_on_consumer, c);
}

/* ---- data plane ---- */

/* A put split over groups; finished when every group answered. */
struct put_ctx {
    struct backend_put *recs;
    size_t n;
    unsigned pending;
    int first_error;
    bool any_ok;
    backend_put_cb cb;
    void *arg;
};

/* One group's share of a put: which of the caller's records it carries. */
struct put_part {
    struct put_ctx *put;
    size_t *index; /* caller record index per request record */
};

static void put_req_free(Eddy__Frame *f)
{
    Eddy__PutRecordsReq *r = f->put_records;
    eddy_free(r->stream);
    for (size_t i = 0; i < r->n_records; i++) {
        eddy_free(r->records[i]);
    }
    eddy_free(r->records);
    eddy_free(r);
    eddy_free(f);
}

static void put_finish_one(struct put_ctx *p)
{
    EDDY_ASSERT(p->pending > 0);
    if (--p->pending > 0) {
        return;
    }
    p->cb(p->arg, p->any_ok ? 0 : p->first_error, p->recs, p->n);
    eddy_free(p);
}

static void backend_on_put(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct put_part *part = op->ctx;
    struct put_ctx *p = part->put;
    const Eddy__PutRecordsReq *req = op->req->put_records;
    const Eddy__PutRecordsResp *pr = NULL;
    if (status == 0) {
        if (resp->body_case != EDDY__FRAME__BODY_PUT_RECORDS_RESP ||
            resp->put_records_resp->n_results != req->n_records) {
            status = -EDDY_EMALFORMED;
        } else {
            pr = resp->put_records_resp;
        }
    }
    for (size_t i = 0; i < req->n_records; i++) {
        struct backend_put *r = &p->recs[part->index[i]];
        if (pr == NULL) {
            r->code = status;
            continue;
        }
        const Eddy__PutResult *res = pr->results[i];
        r->code = res->code;
        if (res->code == 0 && res->sequence.len == 16) {
            r->seq = u128_from_be(res->sequence.data);
        } else if (res->code == 0) {
            r->code = -EDDY_EMALFORMED;
        }
    }
    if (status == 0) {
        p->any_ok = true;
    } else if (p->first_error == 0) {
        p->first_error = status;
    }
    if (status == -EDDY_ENOTFOUND) {
        op->b->catalog_fetched_ms = 0;
    }
    eddy_free(part->index);
    eddy_free(part);
    put_finish_one(p);
}

static void backend_put_fail_deferred(void *arg)
{
    struct put_ctx *p = arg;
    p->pending = 1;
    put_finish_one(p);
}

bool backend_stream_is_encrypted(const Eddy__StreamInfo *stream)
{
    return stream->encryption_type != NULL && strcmp(stream->encryption_type, "KMS") == 0;
}

void backend_put(struct backend *b,
                 const Eddy__StreamInfo *stream,
                 struct backend_put *recs,
                 size_t n,
                 backend_put_cb cb,
                 void *arg)
{
    struct put_ctx *p = eddy_xcalloc(1, sizeof(*p));
    *p = (struct put_ctx){.recs = recs, .n = n, .cb = cb, .arg = arg};
    /* Count records per group; shard indexes were checked by the caller
     * against this stream, but a bad one fails that record, not the call. */
    uint32_t groups[BACKEND_PUT_GROUPS_MAX];
    size_t group_count = 0;
    for (size_t i = 0; i < n; i++) {
        recs[i].code = 0;
        if (recs[i].shard >= stream->n_shards) {
            recs[i].code = -EDDY_EINVAL;
            continue;
        }
        uint32_t g = stream->shards[recs[i].shard]->group;
        size_t k = 0;
        while (k < group_count && groups[k] != g) {
            k++;
        }
        if (k == group_count && group_count < BACKEND_PUT_GROUPS_MAX) {
            groups[group_count++] = g;
        } else if (k == group_count) {
            recs[i].code = -EDDY_ELIMIT;
        }
    }
    if (group_count == 0) {
        p->first_error = -EDDY_EINVAL;
        backend_defer(b, backend_put_fail_deferred, p);
        return;
    }
    p->pending = (unsigned)group_count;
    for (size_t k = 0; k < group_count; k++) {
        Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
        eddy__frame__init(f);
        Eddy__PutRecordsReq *r = eddy_xmalloc(sizeof(*r));
        eddy__put_records_req__init(r);
        r->group = groups[k];
        r->stream = eddy_xstrdup(stream->name);
        r->stream_created_ms = stream->created_ms;
        r->encryption =
            backend_stream_is_encrypted(stream) ? BACKEND_RECORD_KMS : BACKEND_RECORD_NONE;
        r->records = eddy_xcalloc(n, sizeof(*r->records));
        struct put_part *part = eddy_xmalloc(sizeof(*part));
        part->put = p;
        part->index = eddy_xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            if (recs[i].code != 0 || stream->shards[recs[i].shard]->group != groups[k]) {
                continue;
            }
            Eddy__PutRecord *pr = eddy_xmalloc(sizeof(*pr));
            eddy__put_record__init(pr);
            pr->shard = recs[i].shard;
            /* Borrowed from the caller until its callback. */
            pr->partition_key = (char *)recs[i].partition_key;
            pr->data.data = (uint8_t *)recs[i].data;
            pr->data.len = recs[i].data_len;
            part->index[r->n_records] = i;
            r->records[r->n_records++] = pr;
        }
        f->body_case = EDDY__FRAME__BODY_PUT_RECORDS;
        f->put_records = r;
        bop_start(b, groups[k], f, put_req_free, backend_on_put, part);
    }
}

struct read_ctx {
    backend_read_cb cb;
    void *arg;
};

static void read_req_free(Eddy__Frame *f)
{
    eddy_free(f->read->stream);
    eddy_free(f->read->sequence.data);
    eddy_free(f->read);
    eddy_free(f);
}

static void backend_on_read(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct read_ctx *c = op->ctx;
    if (status == 0 && resp->body_case != EDDY__FRAME__BODY_READ_RESP) {
        status = -EDDY_EMALFORMED;
    }
    if (status == -EDDY_ENOTFOUND) {
        op->b->catalog_fetched_ms = 0;
    }
    c->cb(c->arg, status, status == 0 ? resp->read_resp : NULL);
    eddy_free(c);
}

static void backend_read_fail_deferred(void *arg)
{
    struct read_ctx *c = arg;
    c->cb(c->arg, -EDDY_ENOTFOUND, NULL);
    eddy_free(c);
}

void backend_read(struct backend *b,
                  const Eddy__StreamInfo *stream,
                  const struct backend_read *req,
                  backend_read_cb cb,
                  void *arg)
{
    struct read_ctx *c = eddy_xmalloc(sizeof(*c));
    *c = (struct read_ctx){.cb = cb, .arg = arg};
    if (req->shard >= stream->n_shards) {
        backend_defer(b, backend_read_fail_deferred, c);
        return;
    }
    Eddy__Frame *f = eddy_xmalloc(sizeof(*f));
    eddy__frame__init(f);
    Eddy__ReadReq *r = eddy_xmalloc(sizeof(*r));
    eddy__read_req__init(r);
    r->group = stream->shards[req->shard]->group;
    r->stream = eddy_xstrdup(stream->name);
    r->stream_created_ms = stream->created_ms;
    r->shard = req->shard;
    r->position = req->position;
    r->sequence.data = eddy_xmalloc(16);
    r->sequence.len = 16;
    u128_to_be(req->seq, r->sequence.data);
    r->timestamp_ms = req->timestamp_ms;
    r->limit = req->limit;
    r->bytes_max = req->bytes_max;
    r->wait_ms = req->wait_ms;
    f->body_case = EDDY__FRAME__BODY_READ;
    f->read = r;
    struct bop *op = bop_start(b, r->group, f, read_req_free, backend_on_read, c);
    op->idempotent = true;
    /* A push read may be held by the leader for wait_ms before it answers:
     * neither the attempt nor the whole call may give up before that. */
    op->call_timeout_ms += req->wait_ms;
    op->deadline_ms += req->wait_ms;
}
