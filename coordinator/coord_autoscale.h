/*
 * On-demand scaling on the coordinator leader: takes the shard write rates
 * of every heartbeat into the decision table (autoscale.h) and, at most
 * every COORD_AUTOSCALE_INTERVAL_MS, splits the shard it picks through the
 * reshard machinery (coord_reshard_begin_split: the same plan, placement,
 * catalogue checks and driver as SplitShard). One split is proposed at a
 * time; its begin entry makes the stream UPDATING until the driver
 * finishes it, so a stream never has two reshards under way.
 *
 * Memory only, on the leader: a new leader starts with an empty table and
 * needs sustain_ms of fresh reports before it splits anything. A split
 * proposal in flight keeps going across a leadership loss; its completion
 * only clears the in-flight flag.
 *
 * Part of struct coord; all calls on the loop thread.
 */
#ifndef EDDY_COORD_AUTOSCALE_H
#define EDDY_COORD_AUTOSCALE_H

#include "autoscale.h"

#include "rpc.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

struct coord;

struct coord_autoscale {
    struct autoscale decide;
    bool is_proposing;     /* a split's begin entry is in flight */
    uint64_t next_look_ms; /* the next pick, on uv_now's clock */
    uint64_t splits;       /* proposed since start, for the log */
};

/* The coord_config values (0: their defaults, see coord.h), checked by
 * coord_init. */
void coord_autoscale_init(struct coord_autoscale *a,
                          unsigned sustain_ms,
                          uint64_t write_bytes_per_s,
                          uint64_t write_records_per_s,
                          uint32_t account_shard_limit);
/* Leadership lost or gained: every shard is forgotten. */
void coord_autoscale_reset(struct coord_autoscale *a);
/* The shard loads of a heartbeat the leader accepted (at most
 * COORD_REPORT_SHARD_LOADS_MAX of them are read). */
void coord_autoscale_on_heartbeat(struct coord *c, const Eddy__HeartbeatReq *hb);
/* On the ready leader with an initialised catalogue, from the timer. */
void coord_autoscale_run(struct coord *c);
/* The begin entry of the split it proposed applied (0) or failed. */
void coord_autoscale_on_proposed(struct coord *c, int code);

#endif
