/*
 * Replica replacement on the coordinator leader (docs/adr/0004): every
 * COORD_REPLACE_INTERVAL_MS it builds a replace.h view from the catalogue
 * and the liveness reports and
 *   - sends the HostGroupReq calls that move groups in transition on (to
 *     the new replica, which joins the group and has the replaced member
 *     removed), again every COORD_REPLACE_RETRY_MS while still due;
 *   - sends DropGroupReq to nodes that still host a replica they were
 *     replaced in, once the group's voters leave them out;
 *   - proposes the next replacement (set_replicas) when no group is in
 *     transition and the last one committed has settled.
 * Every call is idempotent and decided again from fresh reports, so a new
 * leader simply starts over (its memory here is only what is in flight).
 *
 * Part of struct coord; all calls on the loop thread.
 */
#ifndef EDDY_COORD_REPLACE_H
#define EDDY_COORD_REPLACE_H

#include "coord_limits.h"
#include "replace.h"

#include <stdbool.h>
#include <stdint.h>

struct coord;

/* A HostGroupReq or DropGroupReq sent recently. */
struct coord_replace_call {
    bool is_used;
    bool is_inflight;
    enum replace_kind kind;
    uint32_t group;
    uint32_t node;
    uint32_t replaces;
    uint64_t sent_ms;
    unsigned failures; /* in a row, for the log */
};

struct coord_replace {
    unsigned dead_ms; /* the replace time */
    uint64_t next_look_ms;
    bool is_proposing;            /* a set_replicas entry is in flight */
    struct replace_action change; /* the one proposed or settling */
    bool is_settling;             /* change committed, its group not settled yet */
    uint64_t proposed_ms;
    uint64_t committed_ms;
    struct coord_replace_call calls[COORD_REPLACE_CALLS_MAX];
    unsigned rpcs_inflight; /* HostGroupReq/DropGroupReq outstanding */
};

/* dead_ms: 0 for COORD_REPLACE_DEAD_MS_DEFAULT; else within the bounds of
 * coord_limits.h (checked by coord_init). */
void coord_replace_init(struct coord_replace *r, unsigned dead_ms);
/* Leadership changed: forgets everything but the calls in flight (their
 * replies still come back). */
void coord_replace_reset(struct coord_replace *r, uint64_t now_ms);
/* On the ready leader with an initialised catalogue, from the service's
 * timer: does what is due (see above). */
void coord_replace_run(struct coord *c);
/* The set_replicas entry was applied (code 0) or failed. */
void coord_replace_on_proposed(struct coord *c, int code);

#endif
