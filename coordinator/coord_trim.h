/*
 * Retention, driven by the ready coordinator leader: every trim interval a
 * pass sends, for each ACTIVE or UPDATING stream and each shard group that
 * holds shards of it (open or closed), a TrimReq with before_ms = now minus
 * the stream's retention to the group's leader. The group replicates it as
 * a trim entry (server/shard_fsm_trim.c): records that arrived before it
 * are no longer read and the sealed segment files holding only such records
 * are deleted on every replica.
 *
 * A pass walks the catalogue with a cursor (stream, group) and keeps at most
 * COORD_TRIM_INFLIGHT_MAX calls outstanding, going on at the next tick when
 * that many are out. A pass with failed calls is followed by another after
 * COORD_TRIM_RETRY_MS. Trims are idempotent and their before_ms only grows,
 * so nothing is kept across leaders: a new leader starts a pass at once.
 * Groups are asked through the reconciler's leader hints and RPC clients
 * (reconcile.h).
 *
 * Part of struct coord; all calls on the loop thread.
 */
#ifndef EDDY_COORD_TRIM_H
#define EDDY_COORD_TRIM_H

#include "coord_limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coord;

struct coord_trim {
    unsigned interval_ms;       /* between passes */
    uint64_t retention_hour_ms; /* how long one retention hour lasts (tests shorten it) */
    uint64_t next_pass_ms;      /* 0: a pass is due */
    bool in_pass;
    size_t stream_pos;                     /* the pass's cursor: a catalogue stream index ... */
    uint32_t next_group;                   /* ... and the next group id to consider for it */
    unsigned failures;                     /* calls of this pass that failed */
    unsigned rpcs_inflight;                /* TrimReq calls outstanding */
    uint64_t passes;                       /* completed, for logs and tests */
    uint8_t attempt[COORD_GROUPS_MAX + 1]; /* per group: replica to try without a hint */
};

/* interval_ms 0: COORD_TRIM_INTERVAL_MS_DEFAULT; retention_hour_ms 0:
 * COORD_RETENTION_HOUR_MS_DEFAULT. Both within the bounds of coord_limits.h
 * (checked by coord_init). */
void coord_trim_init(struct coord_trim *t, unsigned interval_ms, uint64_t retention_hour_ms);
/* Where the trim of a stream with retention_hours stands at now_ms: records
 * that arrived before the result are past retention. 0 (nothing) while
 * the retention reaches back past the epoch. */
uint64_t coord_trim_before_ms(uint64_t now_ms, uint32_t retention_hours, uint64_t hour_ms);
/* On the ready leader with an initialised catalogue, from the service's
 * timer: starts a pass when one is due and sends the calls the window
 * allows. */
void coord_trim_run(struct coord *c);
/* Leadership lost: the pass in progress is dropped (calls in flight
 * complete against nothing); the next leadership starts a pass at once. */
void coord_trim_reset(struct coord_trim *t);

#endif
