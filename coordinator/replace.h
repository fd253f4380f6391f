/*
 * Replica replacement decisions, pure (docs/adr/0004): from the catalogue's
 * groups and the liveness reports, which replica set to change, which node
 * to ask to host a group, and which stale replicas to drop.
 *
 * The catalogue's GroupInfo.replicas says who should host a group; the
 * group leader's reported voters say who does. The coordinator leader
 * drives the second towards the first:
 *
 *   new replacement  a replica X of group g has been dead for the replace
 *                    time, the alive replicas of g are a majority with a
 *                    ready leader whose voters equal the catalogue's
 *                    replicas: the new node Y is the alive catalogue node
 *                    outside g hosting the fewest replicas (ties: lowest
 *                    id), and the catalogue gets g's replicas with Y in
 *                    X's place (set_replicas). At most one at a time: none
 *                    is picked while a group is in transition that an alive
 *                    replica can move on (a group whose new member died
 *                    before joining is stuck, and qualifies again).
 *   host             a group in transition (its catalogue replicas differ
 *                    from its leader's voters): the first alive catalogue
 *                    replica that is no voter is asked to host it
 *                    (HostGroupReq, replaces = the first voter outside the
 *                    catalogue, or 0); when every catalogue replica votes
 *                    but an outsider still does, an alive replica that
 *                    reported the group asks for the outsider's removal.
 *   drop             an alive node reports a replica of a group whose
 *                    catalogue replicas and leader's voters both leave it
 *                    out (it came back after it was replaced): DropGroupReq.
 *                    Never while it is still a voter, so a replacement in
 *                    flight keeps every vote it counts on.
 *
 * Only shard groups: the coordinator group (0) is not in the catalogue's
 * group list and is never replaced.
 */
#ifndef EDDY_REPLACE_H
#define EDDY_REPLACE_H

#include "coord_limits.h"
#include "liveness.h"

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One catalogue node as the replacer sees it. */
struct replace_node {
    uint32_t id;
    bool is_alive;
    uint64_t dead_for_ms; /* liveness_dead_for_ms: 0 unless dead */
};

/* One replica of a group: its catalogue node and its report. */
struct replace_replica {
    uint32_t node;
    bool is_alive;
    bool has_report;   /* alive and reported the group */
    bool is_caught_up; /* reported, not hydrating, applied within EDDY_REPLICA_LAG_ENTRIES_MAX */
};

/* One shard group of the catalogue. */
struct replace_group {
    uint32_t id;
    struct replace_replica replicas[COORD_GROUP_REPLICAS_MAX]; /* catalogue order */
    unsigned replica_count;
    uint32_t leader; /* an alive replica reporting itself ready; 0: none */
    /* The leader's voters, when it has a leader whose voters fit. */
    bool has_voters;
    uint32_t voters[LIVENESS_VOTERS_MAX];
    unsigned voter_count;
};

/* A node reporting a replica of a group whose catalogue replicas leave it
 * out. */
struct replace_extra {
    uint32_t node;
    uint32_t group;
};

struct replace_view {
    struct replace_node *nodes; /* catalogue order */
    size_t node_count;
    struct replace_group *groups; /* catalogue order (ascending ids) */
    size_t group_count;
    struct replace_extra *extras;
    size_t extra_count;
};

enum replace_kind { REPLACE_SET_REPLICAS, REPLACE_HOST, REPLACE_DROP };

struct replace_action {
    enum replace_kind kind;
    uint32_t group;
    /* SET_REPLICAS: the new node Y; HOST: where HostGroupReq goes; DROP:
     * where DropGroupReq goes. */
    uint32_t node;
    /* SET_REPLICAS: the dead node X; HOST: HostGroupReq.replaces. */
    uint32_t replaces;
    uint32_t replicas[COORD_GROUP_REPLICAS_MAX]; /* SET_REPLICAS: the new set */
    unsigned replica_count;
};

/* Builds v from the catalogue and the liveness table at now_ms; free with
 * replace_view_free. The leader of a group is picked as balance.h picks it
 * (the alive replica reporting itself ready, heard from last). */
void replace_view_build(const Eddy__Catalog *cat,
                        const struct liveness *l,
                        uint64_t now_ms,
                        struct replace_view *v);
void replace_view_free(struct replace_view *v);

/* Whether group's catalogue replicas differ, as a set, from its leader's
 * voters (false when the voters are not known). */
bool replace_group_is_in_transition(const struct replace_group *g);
/* Whether group's leader voters equal its catalogue replicas and every
 * replica is caught up: a replacement of it is complete. */
bool replace_group_is_settled(const struct replace_group *g);

/* Writes the HostGroupReq calls due (one per group in transition that an
 * alive replica can move on, ascending group ids) to out (room for max);
 * returns how many were found (may exceed max: only max written). */
size_t replace_hosts(const struct replace_view *v, struct replace_action *out, size_t max);
/* Picks the next replacement (SET_REPLICAS) when no group is in transition
 * that an alive replica can move on (replace_hosts finds none); ties go to
 * the lowest group id, then the first dead replica in catalogue order.
 * replace_dead_ms: how long a replica must have been dead. */
bool replace_pick(const struct replace_view *v,
                  uint64_t replace_dead_ms,
                  struct replace_action *out);
/* Writes the DropGroupReq calls due (ascending node, then group) to out;
 * returns how many were found (only max written). */
size_t replace_drops(const struct replace_view *v, struct replace_action *out, size_t max);

#endif
