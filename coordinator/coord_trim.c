/*
 * Retention passes of the coordinator leader (see coord_trim.h): the cursor
 * over (stream, group), the TrimReq calls and their replies.
 */
#include "coord_trim.h"
#include "catalog.h"
#include "coord_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <inttypes.h>
#include <string.h>

/* One TrimReq in flight. */
struct coord_trim_call {
    struct coord *c;
    uint32_t group;
    uint32_t node;
};

void coord_trim_init(struct coord_trim *t, unsigned interval_ms, uint64_t retention_hour_ms)
{
    memset(t, 0, sizeof(*t));
    t->interval_ms = interval_ms != 0 ? interval_ms : COORD_TRIM_INTERVAL_MS_DEFAULT;
    t->retention_hour_ms =
        retention_hour_ms != 0 ? retention_hour_ms : COORD_RETENTION_HOUR_MS_DEFAULT;
    EDDY_ASSERT(t->interval_ms >= COORD_TRIM_INTERVAL_MS_MIN);
    EDDY_ASSERT(t->interval_ms <= COORD_TRIM_INTERVAL_MS_MAX);
    EDDY_ASSERT(t->retention_hour_ms <= COORD_RETENTION_HOUR_MS_DEFAULT);
}

uint64_t coord_trim_before_ms(uint64_t now_ms, uint32_t retention_hours, uint64_t hour_ms)
{
    EDDY_ASSERT(hour_ms <= COORD_RETENTION_HOUR_MS_DEFAULT);
    uint64_t retention_ms = (uint64_t)retention_hours * hour_ms; /* < 2^45: no overflow */
    return now_ms > retention_ms ? now_ms - retention_ms : 0;
}

void coord_trim_reset(struct coord_trim *t)
{
    t->in_pass = false;
    t->next_pass_ms = 0;
}

static bool coord_trim_stream_is_due(const Eddy__StreamInfo *s)
{
    return s->status == EDDY__STREAM_STATUS__STREAM_ACTIVE ||
           s->status == EDDY__STREAM_STATUS__STREAM_UPDATING;
}

/* The smallest group id at or above from that holds a shard of s, or 0. */
static uint32_t coord_trim_next_group(const Eddy__StreamInfo *s, uint32_t from)
{
    uint32_t best = 0;
    for (size_t i = 0; i < s->n_shards; i++) {
        uint32_t g = s->shards[i]->group;
        if (g >= from && (best == 0 || g < best)) {
            best = g;
        }
    }
    return best;
}

static const Eddy__GroupInfo *coord_trim_group(const Eddy__Catalog *cat, uint32_t id)
{
    size_t lo = 0;
    size_t hi = cat->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->groups[mid]->id == id) {
            return cat->groups[mid];
        }
        if (cat->groups[mid]->id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The node to ask for group g: the leader hint if it is a replica, else the
 * replicas in turn. */
static uint32_t coord_trim_target(const struct coord *c, const Eddy__GroupInfo *g)
{
    uint32_t hint = c->rec.group_leader_hint[g->id];
    for (size_t r = 0; r < g->n_replicas && hint != 0; r++) {
        if (g->replicas[r] == hint) {
            return hint;
        }
    }
    return g->n_replicas > 0 ? g->replicas[c->trim.attempt[g->id] % g->n_replicas] : 0;
}

static void coord_trim_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct coord_trim_call *call = arg;
    struct coord *c = call->c; /* alive: it waits for rpcs_inflight to drain */
    EDDY_ASSERT(c->trim.rpcs_inflight > 0);
    c->trim.rpcs_inflight--;
    int code = status;
    uint32_t leader = 0;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : -EDDY_EMALFORMED;
        leader = st != NULL ? st->leader_node : 0;
    }
    if (code == 0) {
        c->rec.group_leader_hint[call->group] = call->node;
    } else {
        c->trim.failures++;
        c->rec.group_leader_hint[call->group] = code == -EDDY_ENOTLEADER ? leader : 0;
        if (code != -EDDY_ENOTLEADER || leader == 0) {
            c->trim.attempt[call->group]++;
        }
        LOG_DEBUG("trim call failed group=%" PRIu32 " node=%" PRIu32 " code=%d err=%s", call->group,
                  call->node, code, eddy_strerror(code));
    }
    eddy_free(call);
    if (c->state == COORD_CLOSING) {
        coord_maybe_free(c);
    }
}

static void coord_trim_send(struct coord *c, const Eddy__StreamInfo *s, const Eddy__GroupInfo *g)
{
    uint32_t node = coord_trim_target(c, g);
    struct rpc_client *cl = node != 0 ? reconcile_client_get(c, node) : NULL;
    if (cl == NULL) {
        c->trim.failures++;
        c->trim.attempt[g->id]++;
        return;
    }
    Eddy__TrimReq req = EDDY__TRIM_REQ__INIT;
    req.group = g->id;
    req.stream = s->name;
    req.stream_created_ms = s->created_ms;
    req.before_ms =
        coord_trim_before_ms(coord_now_ms(c), s->retention_hours, c->trim.retention_hour_ms);
    if (req.before_ms == 0) {
        return; /* retention reaches back past the epoch: nothing to trim */
    }
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_TRIM;
    f.trim = &req;
    struct coord_trim_call *call = eddy_xmalloc(sizeof(*call));
    *call = (struct coord_trim_call){.c = c, .group = g->id, .node = node};
    c->trim.rpcs_inflight++;
    rpc_client_call(cl, &f, COORD_SHARD_RPC_TIMEOUT_MS, coord_trim_on_reply, call);
}

/* Sends the pass's next calls until the window is full or the pass ends. */
static void coord_trim_advance(struct coord *c)
{
    struct coord_trim *t = &c->trim;
    const Eddy__Catalog *cat = catalog_get(c->catalog);
    while (t->rpcs_inflight < COORD_TRIM_INFLIGHT_MAX && t->stream_pos < cat->n_streams) {
        const Eddy__StreamInfo *s = cat->streams[t->stream_pos];
        uint32_t g = coord_trim_stream_is_due(s) ? coord_trim_next_group(s, t->next_group) : 0;
        if (g == 0) {
            t->stream_pos++;
            t->next_group = 1;
            continue;
        }
        t->next_group = g + 1;
        const Eddy__GroupInfo *gi = coord_trim_group(cat, g);
        if (gi != NULL) {
            coord_trim_send(c, s, gi);
        }
    }
}

void coord_trim_run(struct coord *c)
{
    struct coord_trim *t = &c->trim;
    uint64_t now = coord_now_ms(c);
    if (!t->in_pass) {
        if (now < t->next_pass_ms) {
            return;
        }
        t->in_pass = true;
        t->stream_pos = 0;
        t->next_group = 1;
        t->failures = 0;
    }
    coord_trim_advance(c);
    if (t->stream_pos < catalog_get(c->catalog)->n_streams) {
        return; /* the window is full: go on at the next tick */
    }
    t->in_pass = false;
    t->passes++;
    unsigned wait_ms = t->interval_ms;
    if (t->failures > 0 && wait_ms > COORD_TRIM_RETRY_MS) {
        wait_ms = COORD_TRIM_RETRY_MS;
    }
    t->next_pass_ms = now + wait_ms;
}
