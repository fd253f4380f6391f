/*
 * Internals of the shard group state machine, shared by shard_fsm.c (the
 * shard table, apply, snapshot) and shard_fsm_restore.c (restore and
 * hydration). No other module includes this.
 */
#ifndef EDDY_SHARD_FSM_INTERNAL_H
#define EDDY_SHARD_FSM_INTERNAL_H

#include "shard_fsm.h"

#include "group.pb-c.h"

#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seg_store;

/* A manifest file the shard lacks, with what the manifest says of it. */
struct shard_missing {
    char *file;
    uint64_t bytes;
    uint32_t crc32c;
    /* The manifest's active file (its newest, not sealed): the store tracks
     * it as its base (seg_store_track_base) and it joins the store through a
     * merge with the records appended since. At most one per shard. */
    bool is_active;
    uint64_t arrival_max_ms; /* as the manifest gave it; 0 unknown */
};

struct shard_entry {
    struct shard_entry *next;
    char *stream;
    uint64_t created_ms;
    uint32_t shard;
    char *dir; /* the store's directory */
    struct seg_store *store;
    /* Hydration: files of the restored manifest not yet here, by name. */
    struct shard_missing *missing;
    size_t missing_count;
    /* The manifest's last record: records at or below it were applied
     * before the snapshot and live in the missing files. */
    u128 hydrate_last_seq;
    uint64_t hydrate_last_index;
    bool seen; /* named by the manifest being restored */
    /* Resharding: closed by a close_shards entry (shard_fsm_close.c); puts
     * to it fail with -EDDY_ECLOSED. end_seq is its EndingSequenceNumber. */
    bool closed;
    u128 end_seq;
    /* Retention: the newest trim point applied (GroupEntry.trim_before_ms,
     * or a restored manifest's); the store's read horizon. */
    uint64_t trim_before_ms;
};

struct shard_fsm {
    char *dir;
    uint32_t group_id;
    struct shard_entry **buckets;
    size_t bucket_count; /* power of two */
    size_t shard_count;
    size_t hydrating_count; /* shards with missing files */
    uint64_t applied_index;
    uint64_t last_arrival_ms;
    shard_fsm_hydrate_cb hydrate_cb;
    void *hydrate_arg;
};

/* The shard's entry, NULL when the group does not hold it. */
struct shard_entry *
shard_fsm_entry(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard);
/* Opens (creating if needed) the store of a shard; idempotent. */
int shard_fsm_open_shard(struct shard_fsm *f,
                         const char *stream,
                         uint64_t created_ms,
                         uint32_t shard);
/* The directory of a shard's store (not created). */
int shard_fsm_shard_path(const struct shard_fsm *f,
                         const char *stream,
                         uint64_t created_ms,
                         uint32_t shard,
                         char *path,
                         size_t size);
/* Closes and removes the shard's store and files, and forgets the shard. */
void shard_fsm_drop_entry(struct shard_fsm *f, struct shard_entry *e);
/* Forgets the shard and closes its store (NULL allowed); the files stay. */
void shard_fsm_forget_entry(struct shard_fsm *f, struct shard_entry *e);
/* Forgets the shard's missing files (hydration of it is over or moot). */
void shard_fsm_clear_missing(struct shard_fsm *f, struct shard_entry *e);
void shard_fsm_notify(struct shard_fsm *f);
/* The Raft restore callback (rgroup_fsm.restore). */
int shard_fsm_restore(void *data, const uint8_t *buf, size_t len);
/* Applies a close_shards entry at Raft index `index` (shard_fsm_close.c):
 * res gets one code and ending sequence per shard of the entry. */
void shard_fsm_apply_close(struct shard_fsm *f,
                           uint64_t index,
                           const Eddy__GroupEntry *e,
                           struct shard_fsm_result *res);
/* The shard has every file its manifest named (its missing list, now
 * empty, is freed). */
void shard_fsm_hydrated(struct shard_fsm *f, struct shard_entry *e);
/* Applies a trim entry (shard_fsm_trim.c): every shard of the stream the
 * group holds gets the trim point before_ms as its read horizon and loses
 * the sealed files, and the missing files, whose records all arrived
 * before it, but the newest file of its layout. Failures to delete are
 * logged and leave the files to the next trim: never an error. */
void shard_fsm_trim_stream(struct shard_fsm *f,
                           const char *stream,
                           uint64_t created_ms,
                           uint64_t before_ms);

#define SHARD_FSM_PATH_MAX 4096

#endif
