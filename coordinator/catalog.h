/*
 * The coordinator's state machine: the cluster catalogue (nodes, shard
 * groups, streams and their shards, the iterator key) as one Eddy__Catalog,
 * changed only by applying CatalogEntry payloads that Raft committed.
 *
 * Pure: no I/O, no clock, no randomness. Times come from the entry's now_ms
 * (stamped by the leader), so every replica computes the same catalogue from
 * the same entries. An entry is either applied (the version goes up by one)
 * or rejected with a result code and no change, the same way everywhere.
 *
 * Stream lifecycle (transition table in catalog.c; a transition to the same
 * status is an accepted no-op so retried proposals are harmless):
 *
 *   (create) -> CREATING -> ACTIVE <-> UPDATING
 *                  |          |           |
 *                  +------> DELETING <----+
 *                              |
 *                           (remove)
 *
 * UPDATING -> DELETING abandons a pending reshard (its children are dropped
 * with the stream) or settings change.
 *
 * Lifecycle of the object: catalog_create -> catalog_apply/restore* ->
 * catalog_destroy. Single-threaded (the loop thread of the coordinator group).
 */
#ifndef EDDY_CATALOG_H
#define EDDY_CATALOG_H

#include "catalog.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct catalog;
struct rgroup_fsm;

/* What an applied entry hands to its proposer (rgroup_propose_cb's result
 * when the FSM adapter is used). */
struct catalog_result {
    int code;         /* 0: applied; else the entry's deterministic rejection */
    uint64_t version; /* catalogue version after the entry */
    uint64_t index;   /* Raft index of the entry */
};

/* An empty catalogue: version 0, not initialised. Returns -ENOMEM. */
int catalog_create(struct catalog **out);
void catalog_destroy(struct catalog *c);

/* Applies one encoded CatalogEntry (borrowed). Returns 0 when the entry was
 * processed; *result is then 0 when applied, or, with the catalogue
 * unchanged:
 *   -EDDY_EMALFORMED   the payload is not a CatalogEntry or has no op
 *   -EDDY_EEXISTS      init when already initialised; create of a name in use
 *   -EDDY_EUNAVAILABLE create before init
 *   -EDDY_EINVAL       an invalid stream, node, group or status
 *   -EDDY_ELIMIT       COORD_STREAMS_MAX or COORD_SHARDS_MAX would be passed
 *   -EDDY_ENOTFOUND    set_status/remove of an unknown stream (or incarnation);
 *                      set_replicas of an unknown group (catalog_group.h)
 *   -EDDY_EINUSE       a transition the table forbids; remove unless DELETING
 * update_stream and set_account give the codes catalog_update.h lists,
 * consumer those of catalog_consumer.h.
 * Returns -ENOMEM (catalogue unchanged) when out of memory. */
int catalog_apply(struct catalog *c, const uint8_t *buf, size_t len, int *result);

/* Packs an entry for rgroup_propose. *out is eddy_malloc'd. -ENOMEM. */
int catalog_entry_encode(const Eddy__CatalogEntry *e, uint8_t **out, size_t *out_len);

/* The whole catalogue as an encoded Eddy__Catalog; *out is eddy_malloc'd
 * (never NULL on success). -ENOMEM. */
int catalog_snapshot(const struct catalog *c, uint8_t **out, size_t *out_len);
/* Replaces the catalogue with one made by catalog_snapshot (borrowed).
 * -EDDY_ECORRUPT when it does not decode or breaks a catalogue invariant,
 * -ENOMEM; the catalogue is unchanged on failure. */
int catalog_restore(struct catalog *c, const uint8_t *buf, size_t len);

/* Fills fsm with callbacks over c (borrowed for the group's life): apply
 * hands a struct catalog_result to the proposer, snapshot/restore as above. */
void catalog_fsm_init(struct rgroup_fsm *fsm, struct catalog *c);

/* ---- lookups: borrowed pointers, valid until the next apply/restore ---- */

const Eddy__Catalog *catalog_get(const struct catalog *c);
uint64_t catalog_version(const struct catalog *c);
/* True once an init entry has been applied. */
bool catalog_is_initialized(const struct catalog *c);
/* Shards of all streams. */
size_t catalog_shard_count(const struct catalog *c);
/* NULL when absent. */
const Eddy__StreamInfo *catalog_find_stream(const struct catalog *c, const char *name);
const Eddy__GroupInfo *catalog_find_group(const struct catalog *c, uint32_t id);
const Eddy__NodeInfo *catalog_find_node(const struct catalog *c, uint32_t id);
/* The latest time stamped into the catalogue (creation and status times), 0
 * when none: a leader keeps its now_ms at or above it. */
uint64_t catalog_time_floor_ms(const struct catalog *c);

/* Kinesis StreamName: 1..KIN_STREAM_NAME_LEN_MAX of [a-zA-Z0-9_.-]. */
bool catalog_stream_name_is_valid(const char *name, size_t len);
/* The transition table; from == to is allowed (a no-op). */
bool catalog_status_transition_is_allowed(Eddy__StreamStatus from, Eddy__StreamStatus to);

#endif
