/*
 * The state machine of one shard group: the shards the group owns, each a
 * segment store, fed by committed GroupEntry payloads (proto/group.proto).
 * It reads no clock (arrival times come stamped in the entry) and does no
 * I/O but through the segment stores, so every replica computes the same
 * records and sequence numbers.
 *
 * Replay is idempotent: a record whose sequence number is not above its
 * shard's last stored one was applied before a crash and is skipped.
 *
 * Hydration: restore never fails for missing data. A shard whose local files
 * lack data its manifest names keeps the local files that match the
 * manifest (and those holding only later records), sets the others aside,
 * and lists the manifest files it lacks; records applied after the snapshot
 * go into its store as usual. A fetcher (hydrate.c) copies the listed files
 * from a peer and hands each to shard_fsm_import, but for the manifest's
 * active file, which is merged with those later records
 * (shard_fsm_merge_begin) so that the files end byte for byte as the peers'.
 * The group is hydrating while any shard lists a file. server/README.md,
 * "Hydration".
 *
 * Lifecycle: shard_fsm_create -> shard_fsm_adapter (handed to rgroup) ->
 * shard_fsm_destroy after the group closed.
 */
#ifndef EDDY_SHARD_FSM_H
#define EDDY_SHARD_FSM_H

#include "eddy/rgroup.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shard_fsm;
struct seg_store;

/* What applying an entry of records returns to the proposer on the leader:
 * one code and sequence number per record, in entry order. */
struct shard_fsm_result {
    size_t count;
    int *codes;
    u128 *seqs;
    uint64_t arrival_ms;
};

/* dir: the group's data directory (shards live under dir/shards). *out is
 * freed by shard_fsm_destroy. */
int shard_fsm_create(struct shard_fsm **out, const char *dir, uint32_t group_id);
void shard_fsm_destroy(struct shard_fsm *f);
/* The callbacks rgroup drives. */
void shard_fsm_adapter(struct shard_fsm *f, struct rgroup_fsm *out);
/* The store of a shard, NULL when the group does not hold it. Borrowed. */
struct seg_store *
shard_fsm_find(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard);
/* Whether the group closed the shard (resharding), and then *end_seq, its
 * EndingSequenceNumber: above every record the shard holds or will hold.
 * False as well for a shard the group does not hold. */
bool shard_fsm_shard_end(
    struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard, u128 *end_seq);
/* Newest arrival time applied, for the leader's monotonic stamping. */
uint64_t shard_fsm_last_arrival_ms(const struct shard_fsm *f);
size_t shard_fsm_shard_count(const struct shard_fsm *f);

/* Retention (shard_fsm_trim.c): true when a trim entry of the stream at
 * before_ms would change nothing here (no record to hide that is not hidden
 * yet, no file to delete, no missing file), so the leader need not propose
 * it. Every replica applying it would find the same. */
bool shard_fsm_trim_is_noop(struct shard_fsm *f,
                            const char *stream,
                            uint64_t created_ms,
                            uint64_t before_ms);

/* ---- hydration ---- */

struct seg_import;
struct seg_merge;

/* One file a hydrating shard lacks. The strings are borrowed from the FSM
 * until it next changes (apply, restore, import). */
struct shard_fsm_missing {
    const char *stream;
    uint64_t created_ms;
    uint32_t shard;
    const char *dir;  /* the shard's segment directory */
    const char *file; /* a valid segment file name */
    uint64_t bytes;   /* fetch exactly this many bytes: a record boundary */
    uint32_t crc32c;  /* CRC-32C of those bytes; 0 when the manifest had none */
    bool is_active;   /* the manifest's active file: fetch it to "<file>.part" and
                         merge it (shard_fsm_merge_begin), never import it */
};
typedef void (*shard_fsm_missing_cb)(void *arg, const struct shard_fsm_missing *m);
/* Called on the loop whenever the set of missing files may have changed
 * (restore, stream drop, import), possibly from inside a Raft callback:
 * the receiver only schedules work. */
typedef void (*shard_fsm_hydrate_cb)(void *arg);

bool shard_fsm_is_hydrating(const struct shard_fsm *f);
size_t shard_fsm_missing_count(const struct shard_fsm *f); /* files, all shards */
/* Every missing file, shard by shard, oldest file first. cb must not
 * change the FSM. */
void shard_fsm_missing_files(const struct shard_fsm *f, shard_fsm_missing_cb cb, void *arg);
/* The first missing file; false when the group lacks none. */
bool shard_fsm_next_missing(const struct shard_fsm *f, struct shard_fsm_missing *out);
/* A fetched file, complete in the shard's directory and scanned
 * (seg_import_scan), joins the shard's store and leaves the missing list.
 * An active file is renamed "<file>.part" and merged on the calling thread
 * (shard_fsm_merge_begin and _end do it off the loop). Always takes
 * ownership of imp. On failure the file is removed unless the
 * store lists it: -EDDY_ENOTFOUND (no such shard, or the file is no longer
 * missing), -EDDY_EEXISTS (the store has it), -EDDY_ECORRUPT (length or
 * checksum differ from the manifest, or the records do not fit), -errno. */
int shard_fsm_import(struct shard_fsm *f,
                     const char *stream,
                     uint64_t created_ms,
                     uint32_t shard,
                     struct seg_import *imp);
/* The active file of a shard's manifest, fetched whole to
 * "<dir>/<file>.part", joins the store as peers hold it: grown by the records
 * the store appended since the manifest (seg_merge, segment.h). begin, on the
 * loop, starts the merge: *out is the caller's, freed with seg_merge_free.
 * -EDDY_ENOTFOUND when there is no such shard or the file is not its missing
 * active file, -EDDY_EINUSE while another merge of the shard runs. */
int shard_fsm_merge_begin(struct shard_fsm *f,
                          const char *stream,
                          uint64_t created_ms,
                          uint32_t shard,
                          const char *file,
                          struct seg_merge **out);
/* On the loop, once seg_merge_copy(m) succeeded (on any thread): checks the
 * fetched bytes against the manifest and finishes the merge. Returns
 * SEG_MERGE_AGAIN (copy again, then call again), 0 (the file is in the store
 * and no longer missing), -EDDY_ENOTFOUND (no longer missing: the shard or
 * its manifest changed), -EDDY_ECORRUPT (length or checksum differ from the
 * manifest), or the merge's error. Never frees m. */
int shard_fsm_merge_end(struct shard_fsm *f,
                        const char *stream,
                        uint64_t created_ms,
                        uint32_t shard,
                        struct seg_merge *m);
/* One receiver at a time; cb NULL removes it. */
void shard_fsm_set_hydrate_cb(struct shard_fsm *f, shard_fsm_hydrate_cb cb, void *arg);

#endif
