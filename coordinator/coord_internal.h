/*
 * The coordinator's insides, shared by coord.c (the service: requests,
 * proposals, the Raft replica, lifecycle), reconcile.c (the reconciler),
 * cluster.c (liveness and leader balancing) and coord_trim.c (retention).
 * Not for use outside coordinator/.
 */
#ifndef EDDY_COORD_INTERNAL_H
#define EDDY_COORD_INTERNAL_H

#include "cluster.h"
#include "coord.h"
#include "coord_autoscale.h"
#include "coord_limits.h"
#include "coord_replace.h"
#include "coord_reshard.h"
#include "coord_trim.h"
#include "reconcile.h"

#include "eddy/rgroup.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct catalog;

enum coord_state { COORD_INITIALIZED, COORD_RUNNING, COORD_CLOSING, COORD_CLOSED };

enum coord_op_kind {
    COORD_OP_INIT,
    COORD_OP_CLIENT,
    COORD_OP_TASK,
    COORD_OP_REPLACE,
    COORD_OP_RESHARD,   /* a reshard's finish (coord_reshard.c), by task_id */
    COORD_OP_AUTOSCALE, /* an on-demand split's begin (coord_autoscale.c) */
};

/* One proposal in flight; completes in coord.c, which hands COORD_OP_TASK
 * results to reconcile_on_proposed. */
struct coord_op {
    struct coord *c;
    enum coord_op_kind kind;
    struct rpc_call *call; /* COORD_OP_CLIENT: answered when the entry applies */
    uint64_t task_id;      /* COORD_OP_TASK */
    /* COORD_OP_CLIENT: answers call (taking it) with the entry's code, right
     * after the entry applied; NULL: an Ack (coord_update.c answers with the
     * stream or account after the change). */
    void (*reply)(struct coord *c, struct rpc_call *call, int code);
};

struct coord_peer_copy {
    uint32_t node_id;
    char *rpc_address;
    char *raft_address;
    char *gateway_address;
};

struct coord_group_copy {
    uint32_t replicas[COORD_GROUP_REPLICAS_MAX];
    unsigned replica_count;
};

struct coord {
    uv_loop_t *loop;
    enum coord_state state;
    uint32_t node_id;
    struct catalog *catalog;
    struct rgroup_fsm inner; /* catalog's adapter */
    struct rgroup_fsm fsm;   /* wraps inner to notice changes */
    struct rgroup *group;    /* NULL once closed */
    uv_timer_t timer;
    char *dir;
    struct coord_peer_copy *peers;
    struct rgroup_peer *rpeers;
    unsigned peer_count;
    struct coord_group_copy *groups;
    uint32_t group_count;
    unsigned stream_creating_ms_min;
    struct reconcile rec;
    struct cluster cluster;       /* liveness and leader balancing, on the leader */
    struct coord_replace replace; /* replica replacement, on the leader (coord_replace.h) */
    struct coord_trim trim;       /* retention passes, on the leader */
    struct coord_reshard reshard; /* reshard driver, on the leader (coord_reshard.h) */
    /* On-demand scaling, on the leader (coord_autoscale.h). */
    struct coord_autoscale autoscale;
    bool init_inflight;
    unsigned client_ops_inflight; /* COORD_OP_CLIENT proposals */
    unsigned ops_inflight;        /* every proposal */
    unsigned closes_pending;      /* handles and objects still closing */
    coord_change_cb change_cb;
    void *change_arg;
    coord_close_cb close_cb;
    void *close_arg;
};

/* Wall-clock milliseconds for an entry, never below the catalogue's
 * latest time stamp. */
uint64_t coord_now_ms(const struct coord *c);
/* Runs the reconciler on the next loop iteration, then every interval. */
void coord_kick(struct coord *c);
/* Proposes e on the ready leader; op (eddy_xcalloc'd, taken) completes
 * exactly once, never before this returns. */
void coord_propose(struct coord *c, const Eddy__CatalogEntry *e, struct coord_op *op);
/* While closing: frees c and calls the close callback once nothing is
 * pending any more. */
void coord_maybe_free(struct coord *c);

#endif
