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
 *
 * Losing a node (killed, stopped, cut off) costs writes about an election
 * plus RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS: the RPC client finds a
 * silent peer and fails its calls (a sent put with -EDDY_EUNKNOWN, answered
 * InternalFailure, never resent: it may have committed); the node is then
 * suspect for BACKEND_SUSPECT_MS, so calls without a leader hint try the
 * other replicas first and learn the new leader from their NOT_LEADER
 * hints. The catalogue fetch (idempotent) moves on the same way, so a
 * stopped coordinator leader holds data-plane calls past the catalogue's
 * TTL for that long once, not for RPC_CALL_TIMEOUT_MS.
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
/* A node that failed a call at the connection level (refused, silent, timed
 * out) is tried last, when no leader hint names it, for this long: longer
 * than an election, so the replicas' hints name the new leader by then. */
#define BACKEND_SUSPECT_MS 3000
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
    uint32_t call_timeout_ms; /* one attempt's RPC timeout, at most the time left */
    unsigned rotate;
    unsigned slot; /* the client slot of the attempt in flight */
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
    uint64_t suspect_until_ms; /* tried last until then (BACKEND_SUSPECT_MS) */
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
    bool is_no_retry; /* backend_stop_retrying */
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

/* Operations waiting on a retry timer finish now. */
static void backend_finish_waiting(struct backend *b)
{
    struct bop *op = b->ops;
    while (op != NULL) {
        struct bop *next = op->next;
        if (uv_is_active((uv_handle_t *)&op->timer)) {
            uv_timer_stop(&op->timer);
            bop_finish(op, -EDDY_ESHUTDOWN, NULL);
        }
        op = next;
    }
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
    /* The ones waiting on a client finish when its close fails their calls. */
    backend_finish_waiting(b);
    uv_close((uv_handle_t *)&b->idle, backend_idle_closed);
}

void backend_stop_retrying(struct backend *b)
{
    b->is_no_retry = true;
    backend_finish_waiting(b);
}

/* ---- targets ---- */

static uint64_t backend_now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* The slot of address, made on first use; NULL past BACKEND_CLIENTS_MAX. */
static struct client_slot *backend_slot(struct backend *b, const char *address)
{
    for (unsigned i = 0; i < b->client_count; i++) {
        if (strcmp(b->clients[i].address, address) == 0) {
            return &b->clients[i];
        }
    }
    if (b->client_count == BACKEND_CLIENTS_MAX) {
        return NULL;
    }
    struct rpc_client *c;
    if (rpc_client_init(&c, b->loop, address) != 0) {
        return NULL;
    }
    struct client_slot *slot = &b->clients[b->client_count++];
    *slot = (struct client_slot){.address = eddy_xstrdup(address), .client = c};
    return slot;
}

static bool backend_is_suspect(const struct backend *b, const char *address)
{
    for (unsigned i = 0; i < b->client_count; i++) {
        if (strcmp(b->clients[i].address, address) == 0) {
            return backend_now_ms() < b->clients[i].suspect_until_ms;
        }
    }
    return false;
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

/* The address of the group's replica number k (mod the count); NULL when
 * the catalogue lacks the group or the node. */
static const char *backend_replica_addr(const struct backend *b, uint32_t group, unsigned k)
{
    const Eddy__GroupInfo *gi = backend_group_info(b, group);
    if (gi == NULL || gi->n_replicas == 0) {
        return NULL;
    }
    return backend_node_addr(b, gi->replicas[k % gi->n_replicas]);
}

/* The leader hint when there is one: it came from a live replica, or from
 * the node itself. Else the next candidate in op's rotation (the group's
 * replicas, or the coordinators) that is not suspect, moving the rotation
 * past the suspects skipped; all suspect: the next one anyway. */
static const char *backend_target(struct backend *b, struct bop *op)
{
    const char *addr = backend_node_addr(b, backend_leader_hint(b, op->group));
    if (addr != NULL) {
        return addr;
    }
    const Eddy__GroupInfo *gi = op->group != 0 ? backend_group_info(b, op->group) : NULL;
    bool by_replica = gi != NULL && gi->n_replicas > 0;
    unsigned n = by_replica ? (unsigned)gi->n_replicas : b->coord_count;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = op->rotate + i;
        addr = by_replica ? backend_replica_addr(b, op->group, k) : b->coord_addrs[k % n];
        if (addr != NULL && !backend_is_suspect(b, addr)) {
            op->rotate = k;
            return addr;
        }
    }
    addr = by_replica ? backend_replica_addr(b, op->group, op->rotate) : NULL;
    return addr != NULL ? addr : b->coord_addrs[op->rotate % b->coord_count];
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
    if (op->b->closing || op->b->is_no_retry || backend_now_ms() + delay_ms >= op->deadline_ms) {
        bool is_redirect = status == -EDDY_ENOTLEADER || status == -EDDY_ENOTHOSTED;
        bop_finish(op, is_redirect ? -EDDY_EUNAVAILABLE : status, NULL);
        return;
    }
    uv_timer_start(&op->timer, bop_on_timer, delay_ms, 0);
}

/* A connection-level failure of the attempt's node (refused, lost, silent,
 * timed out) makes it suspect; any answer clears that. Local limits and a
 * shutdown say nothing of the node. */
static void bop_judge_node(struct bop *op, int status)
{
    struct backend *b = op->b;
    if (op->slot >= b->client_count) {
        return; /* the clients were closed */
    }
    struct client_slot *slot = &b->clients[op->slot];
    if (status == 0) {
        slot->suspect_until_ms = 0;
    } else if (status == -EDDY_EUNAVAILABLE || status == -EDDY_EUNKNOWN ||
               status == -EDDY_ETIMEDOUT) {
        slot->suspect_until_ms = backend_now_ms() + BACKEND_SUSPECT_MS;
    }
}

static void bop_on_response(void *arg, int status, const Eddy__Frame *resp)
{
    struct bop *op = arg;
    struct backend *b = op->b;
    bop_judge_node(op, status);
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
    struct client_slot *slot = backend_slot(b, backend_target(b, op));
    if (slot == NULL) {
        op->rotate++;
        bop_retry(op, BACKEND_RETRY_DELAY_MS, -EDDY_EUNAVAILABLE);
        return;
    }
    op->slot = (unsigned)(slot - b->clients);
    /* An attempt never outlives the call: its deadline is the client's. */
    uint64_t now = backend_now_ms();
    uint64_t left_ms = op->deadline_ms > now ? op->deadline_ms - now : 1;
    uint32_t timeout_ms = left_ms < op->call_timeout_ms ? (uint32_t)left_ms : op->call_timeout_ms;
    rpc_client_call(slot->client, op->req, timeout_ms, bop_on_response, op);
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

/* A copy of m through the wire form: every field goes, whatever fields the
 * message grows. Freed with protobuf_c_message_free_unpacked. */
static void *backend_message_copy(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = eddy_xmalloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    eddy_free(buf);
    EDDY_ASSERT(copy != NULL);
    return copy;
}

/* A frame of body_case carrying a copy of body (borrowed), for bop_start.
 * Body cases are the Frame's field numbers, so the field is found by them. */
static Eddy__Frame *backend_frame_new(Eddy__Frame__BodyCase body_case, const ProtobufCMessage *body)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&eddy__frame__descriptor, (unsigned)body_case);
    EDDY_ASSERT(fd != NULL);
    EDDY_ASSERT(fd->descriptor == body->descriptor);
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = body_case;
    memcpy((char *)&f + fd->offset, &body, sizeof(body));
    return backend_message_copy(&f.base);
}

static void backend_frame_free(Eddy__Frame *f)
{
    eddy__frame__free_unpacked(f, NULL);
}

/* ---- catalogue ---- */

static void backend_catalog_store(struct backend *b, const Eddy__Catalog *cat)
{
    Eddy__Catalog *copy = backend_message_copy(&cat->base);
    if (b->catalog != NULL) {
        eddy__catalog__free_unpacked(b->catalog, NULL);
    }
    b->catalog = copy;
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
    Eddy__GetCatalogReq r = EDDY__GET_CATALOG_REQ__INIT;
    r.known_version = b->catalog != NULL ? b->catalog->version : 0;
    Eddy__Frame *f = backend_frame_new(EDDY__FRAME__BODY_GET_CATALOG, &r.base);
    struct bop *op = bop_start(b, 0, f, backend_frame_free, backend_on_catalog, NULL);
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

/* The message of a response, NULL when empty. */
static const char *backend_message(const Eddy__Status *st)
{
    return st != NULL && st->message != NULL && st->message[0] != '\0' ? st->message : NULL;
}

/* The caller's callback of a coordinator call, by kind. */
union bcall_cb {
    backend_status_cb status;
    backend_update_cb update;
    backend_account_cb account;
    backend_consumer_cb consumer;
};

struct bcall;

/* How the answer to one kind of coordinator call is checked and handed on. */
struct bcall_kind {
    /* The answer's body; EDDY__FRAME__BODY__NOT_SET: any frame (its Status). */
    Eddy__Frame__BodyCase resp_case;
    /* -EDDY_ENOTFOUND too means the catalogue is behind: refetch it. */
    bool is_notfound_stale;
    /* Whether a successful answer carries what it must; NULL: anything. */
    bool (*is_complete)(const Eddy__Frame *resp);
    /* Calls the caller back; resp is NULL unless it has resp_case. */
    void (*deliver)(const struct bcall *c, int status, const Eddy__Frame *resp);
};

/* One coordinator call in flight (the bop's ctx). */
struct bcall {
    const struct bcall_kind *kind;
    union bcall_cb cb;
    void *arg;
};

static void backend_on_call(struct bop *op, int status, const Eddy__Frame *resp)
{
    struct bcall *c = op->ctx;
    const struct bcall_kind *k = c->kind;
    if (k->resp_case != EDDY__FRAME__BODY__NOT_SET &&
        (resp == NULL || resp->body_case != k->resp_case)) {
        resp = NULL;
        if (status == 0) {
            status = -EDDY_EMALFORMED;
        }
    }
    if (status == 0 && k->is_complete != NULL && !k->is_complete(resp)) {
        status = -EDDY_EMALFORMED;
    }
    if (status == 0 || (status == -EDDY_ENOTFOUND && k->is_notfound_stale)) {
        /* The catalogue changed (or is behind): the next lookup refetches. */
        op->b->catalog_fetched_ms = 0;
    }
    k->deliver(c, status, resp);
    eddy_free(c);
}

/* Sends body (borrowed for the call only; a copy goes) to the coordinator
 * leader and answers through kind. Not idempotent (a create, a retention
 * change or a register resent after it applied finds the name taken or the
 * stream UPDATING): an unknown outcome is -EDDY_EUNKNOWN. */
static void backend_call(struct backend *b,
                         Eddy__Frame__BodyCase body_case,
                         const ProtobufCMessage *body,
                         const struct bcall_kind *kind,
                         union bcall_cb cb,
                         void *arg)
{
    struct bcall *c = eddy_xmalloc(sizeof(*c));
    *c = (struct bcall){.kind = kind, .cb = cb, .arg = arg};
    Eddy__Frame *f = backend_frame_new(body_case, body);
    bop_start(b, 0, f, backend_frame_free, backend_on_call, c);
}

static void bcall_deliver_status(const struct bcall *c, int status, const Eddy__Frame *resp)
{
    const char *message = NULL;
    if (status != 0 && resp != NULL) {
        message = backend_message(rpc_frame_status(resp));
    }
    c->cb.status(c->arg, status, message);
}

static const struct bcall_kind bcall_status = {
    .resp_case = EDDY__FRAME__BODY__NOT_SET,
    .deliver = bcall_deliver_status,
};

void backend_create_stream(struct backend *b,
                           const Eddy__CreateStreamReq *req,
                           backend_status_cb cb,
                           void *arg)
{
    backend_call(b, EDDY__FRAME__BODY_CREATE_STREAM, &req->base, &bcall_status,
                 (union bcall_cb){.status = cb}, arg);
}

void backend_delete_stream(struct backend *b,
                           const char *name,
                           bool enforce_consumer_deletion,
                           backend_status_cb cb,
                           void *arg)
{
    Eddy__DeleteStreamReq r = EDDY__DELETE_STREAM_REQ__INIT;
    r.name = (char *)name;
    r.enforce_consumer_deletion = enforce_consumer_deletion;
    backend_call(b, EDDY__FRAME__BODY_DELETE_STREAM, &r.base, &bcall_status,
                 (union bcall_cb){.status = cb}, arg);
}

/* SplitShard, MergeShards and UpdateShardCount answer with a Status. */
void backend_reshard(struct backend *b,
                     const Eddy__ReshardReq *req,
                     backend_status_cb cb,
                     void *arg)
{
    backend_call(b, EDDY__FRAME__BODY_RESHARD, &req->base, &bcall_status,
                 (union bcall_cb){.status = cb}, arg);
}

/* ---- settings ---- */

static bool bcall_update_is_complete(const Eddy__Frame *resp)
{
    return resp->update_stream_resp->stream != NULL; /* success carries the stream after it */
}

static void bcall_deliver_update(const struct bcall *c, int status, const Eddy__Frame *resp)
{
    const Eddy__UpdateStreamResp *ur = resp != NULL ? resp->update_stream_resp : NULL;
    c->cb.update(c->arg, status, ur != NULL ? backend_message(ur->status) : NULL,
                 ur != NULL ? ur->stream : NULL);
}

static const struct bcall_kind bcall_update = {
    .resp_case = EDDY__FRAME__BODY_UPDATE_STREAM_RESP,
    .is_notfound_stale = true,
    .is_complete = bcall_update_is_complete,
    .deliver = bcall_deliver_update,
};

void backend_update_stream(struct backend *b,
                           const Eddy__StreamUpdate *u,
                           backend_update_cb cb,
                           void *arg)
{
    Eddy__UpdateStreamReq r = EDDY__UPDATE_STREAM_REQ__INIT;
    r.update = (Eddy__StreamUpdate *)u;
    backend_call(b, EDDY__FRAME__BODY_UPDATE_STREAM, &r.base, &bcall_update,
                 (union bcall_cb){.update = cb}, arg);
}

static bool bcall_account_is_complete(const Eddy__Frame *resp)
{
    return resp->update_account_resp->settings != NULL;
}

static void bcall_deliver_account(const struct bcall *c, int status, const Eddy__Frame *resp)
{
    const Eddy__UpdateAccountResp *ar = resp != NULL ? resp->update_account_resp : NULL;
    c->cb.account(c->arg, status, ar != NULL ? backend_message(ar->status) : NULL,
                  status == 0 ? ar->settings : NULL);
}

static const struct bcall_kind bcall_account = {
    .resp_case = EDDY__FRAME__BODY_UPDATE_ACCOUNT_RESP,
    .is_complete = bcall_account_is_complete,
    .deliver = bcall_deliver_account,
};

void backend_update_account(struct backend *b,
                            const Eddy__AccountSettings *s,
                            backend_account_cb cb,
                            void *arg)
{
    /* Only the status asked for goes. */
    Eddy__AccountSettings settings = EDDY__ACCOUNT_SETTINGS__INIT;
    settings.commitment_enabled = s->commitment_enabled;
    Eddy__UpdateAccountReq r = EDDY__UPDATE_ACCOUNT_REQ__INIT;
    r.settings = &settings;
    backend_call(b, EDDY__FRAME__BODY_UPDATE_ACCOUNT, &r.base, &bcall_account,
                 (union bcall_cb){.account = cb}, arg);
}

/* ---- consumers ---- */

static void bcall_deliver_consumer(const struct bcall *c, int status, const Eddy__Frame *resp)
{
    const Eddy__ConsumerResp *cr = resp != NULL ? resp->consumer_resp : NULL;
    c->cb.consumer(c->arg, status, cr != NULL ? backend_message(cr->status) : NULL, cr);
}

static const struct bcall_kind bcall_consumer = {
    .resp_case = EDDY__FRAME__BODY_CONSUMER_RESP,
    .is_notfound_stale = true,
    .deliver = bcall_deliver_consumer,
};

void backend_consumer(struct backend *b,
                      const Eddy__ConsumerChange *ch,
                      backend_consumer_cb cb,
                      void *arg)
{
    Eddy__ConsumerReq r = EDDY__CONSUMER_REQ__INIT;
    r.change = (Eddy__ConsumerChange *)ch;
    backend_call(b, EDDY__FRAME__BODY_CONSUMER, &r.base, &bcall_consumer,
                 (union bcall_cb){.consumer = cb}, arg);
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
    EDDY_ASSERT(r->n_records > 0);
    eddy_free(r->records[0]); /* the block of all the records (backend_put) */
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
        /* One block for the group's records, not one malloc each. */
        Eddy__PutRecord *block = eddy_xmalloc(n * sizeof(*block));
        struct put_part *part = eddy_xmalloc(sizeof(*part));
        part->put = p;
        part->index = eddy_xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++) {
            if (recs[i].code != 0 || stream->shards[recs[i].shard]->group != groups[k]) {
                continue;
            }
            Eddy__PutRecord *pr = &block[r->n_records];
            eddy__put_record__init(pr);
            pr->shard = recs[i].shard;
            /* Borrowed from the caller until its callback. */
            pr->partition_key = (char *)recs[i].partition_key;
            pr->data.data = (uint8_t *)recs[i].data;
            pr->data.len = recs[i].data_len;
            part->index[r->n_records] = i;
            r->records[r->n_records++] = pr;
        }
        EDDY_ASSERT(r->n_records > 0 && r->records[0] == block); /* groups[] holds records */
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
    if (f->read->lease != EDDY__LEASE__LEASE_NONE) {
        eddy_free(f->read->consumer); /* else protobuf-c's static empty string */
    }
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
    if (req->lease != EDDY__LEASE__LEASE_NONE) {
        r->lease = req->lease;
        r->consumer = eddy_xstrdup(req->consumer);
        r->consumer_created_ms = req->consumer_created_ms;
        r->subscription_id = req->subscription_id;
        r->subscription_age_ms = req->subscription_age_ms;
    }
    f->body_case = EDDY__FRAME__BODY_READ;
    f->read = r;
    struct bop *op = bop_start(b, r->group, f, read_req_free, backend_on_read, c);
    op->idempotent = true;
    /* A push read may be held by the leader for wait_ms before it answers:
     * neither the attempt nor the whole call may give up before that. */
    op->call_timeout_ms += req->wait_ms;
    op->deadline_ms += req->wait_ms;
}
