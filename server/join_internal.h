/*
 * The insides of struct join (see join.h), shared by join.c (lifecycle, the
 * probe, the group requests) and join_catalog.c (the catalogue fetch). Not
 * for use outside server/.
 */
#ifndef EDDY_JOIN_INTERNAL_H
#define EDDY_JOIN_INTERNAL_H

#include "join.h"

#include "eddy/rgroup.h"
#include "eddy/rpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define JOIN_PEERS_MAX 16
#define JOIN_GROUPS_MAX 1024       /* above CONFIG_GROUPS_MAX + 1 */
#define JOIN_TICK_MS 50            /* the timer's period while there is work */
#define JOIN_PROBE_TIMEOUT_MS 1000 /* one NodeStatus call */
#define JOIN_PROBE_INTERVAL_MS 300 /* between probe rounds */
#define JOIN_RETRY_MS_MIN 100      /* first back-off, and the delay after a hint */
#define JOIN_RETRY_MS_MAX 2000     /* back-off bound */
#define JOIN_LOG_EVERY_MS 5000     /* repeated failures are logged this often */
#define JOIN_LOG_FIRST_ATTEMPTS 3  /* the first failures are all logged */
#define JOIN_TASKS_INFLIGHT_MAX 8  /* groups asked at once */
/* The leader answers once its rejoin finished or timed out. */
#define JOIN_CALL_TIMEOUT_MS (RGROUP_REJOIN_TIMEOUT_MS + 5000)

enum join_state { JOIN_RUNNING, JOIN_CLOSING, JOIN_STATE_COUNT };

/* OFF -> ASKING -> (RESTING -> ASKING)* -> DONE */
enum join_probe_step {
    JOIN_PROBE_OFF,
    JOIN_PROBE_ASKING,  /* a round's calls are out */
    JOIN_PROBE_RESTING, /* no verdict yet: the next round is due at round_next_ms */
    JOIN_PROBE_DONE,
    JOIN_PROBE_STEP_COUNT
};

enum join_task_state {
    JOIN_TASK_WAITING,
    JOIN_TASK_INFLIGHT,
    JOIN_TASK_DONE,
    JOIN_TASK_STATE_COUNT
};

struct join_conn {
    uint64_t node_id;
    char *rpc_address;
    struct rpc_client *client; /* made on first use */
};

struct join_task {
    struct join_task *next;
    uint32_t group;
    enum join_task_state state;
    /* What is left to ask, in this order: a rejoin (JoinGroupReq with
     * replaces 0: the replica started with no data), then the removal of
     * the member this one replaces (replaces != 0). */
    bool is_rejoin;
    uint32_t replaces;
    bool is_cancelled; /* join_group_cancel while in flight: the reply is ignored */
    uint64_t target;   /* node to ask next (a leader hint); 0: the peers in turn */
    unsigned turn;     /* next peer in turn */
    uint32_t backoff_ms;
    uint64_t next_at_ms;
    uint64_t started_ms;
    uint64_t logged_ms;
    unsigned attempts;
};

/* One call in flight; the task (if any) outlives it (tasks are freed with
 * the join only). */
struct join_call {
    struct join *j;
    struct join_task *task; /* NULL: a probe call */
    uint64_t node_id;       /* asked node */
    unsigned round;         /* probe round */
};

struct join {
    uv_loop_t *loop;
    enum join_state state;
    uint64_t node_id;
    char *raft_address;
    unsigned peer_count;                    /* this node included */
    struct join_conn conns[JOIN_PEERS_MAX]; /* the other peers */
    unsigned conn_count;
    uv_timer_t timer;
    bool is_timer_on;

    /* Probe. */
    join_probe_cb probe_cb;
    void *probe_arg;
    enum join_probe_step probe;
    unsigned round;          /* current round, from 1 */
    unsigned round_waiting;  /* calls of the round not answered yet */
    unsigned round_answered; /* peers that answered */
    bool is_seen;            /* an answer showed the cluster (never reset) */
    uint32_t *groups;        /* hosted groups */
    bool *is_group_led;      /* by position in groups: an answer showed a ready leader */
    unsigned group_count;
    unsigned groups_led;
    uint64_t round_next_ms;
    uint64_t probe_logged_ms;

    /* Groups. */
    struct join_task *tasks;
    unsigned tasks_inflight;
    unsigned tasks_pending;

    /* The catalogue (join_fetch_catalog). */
    join_catalog_cb catalog_cb;
    void *catalog_arg;
    bool is_catalog_inflight;
    uint64_t catalog_target; /* a leader hint; 0: the peers in turn */
    unsigned catalog_turn;
    uint32_t catalog_backoff_ms;
    uint64_t catalog_next_ms;
    unsigned catalog_attempts;
    uint8_t *catalog_bytes; /* an answer's catalogue, packed, until the tick hands it over */
    size_t catalog_len;

    unsigned calls_inflight;
    unsigned closes_pending;
    join_close_cb close_cb;
    void *close_arg;
};

/* ---- join.c, for join_catalog.c ---- */

/* Runs the timer until no work is left (the tick stops it). */
void join_wake(struct join *j);
/* The connection to another peer, NULL if node_id is none of them. */
struct join_conn *join_conn_find(struct join *j, uint64_t node_id);
/* Sends f to c's node; cb gets a struct join_call (eddy_xcalloc'd, freed
 * through join_call_end). Returns false when no client could be made. */
bool join_call_send(struct join *j,
                    struct join_conn *c,
                    Eddy__Frame *f,
                    uint32_t timeout_ms,
                    struct join_task *task,
                    rpc_response_cb cb);
/* Frees call; true when the join still runs and the answer matters. */
bool join_call_end(struct join_call *call);

/* ---- join_catalog.c ---- */

/* From the timer: hands an answer over, or asks the next peer when due.
 * The callback may close the join. */
void join_catalog_tick(struct join *j, uint64_t now);

#endif
