/*
 * The segment store of one shard: append-only segment files in one
 * directory, a sparse in-memory index by sequence number and by arrival
 * time, reads by position. Appends are buffered writes without fsync (the
 * Raft log is the durability until a snapshot); seg_store_sync makes them
 * durable. On open the files are scanned, a torn or corrupt tail is cut off
 * and the indexes are rebuilt. Format: server/README.md.
 *
 * Lifecycle: seg_store_open -> (append | read | sync | trim)* -> seg_store_close.
 * Hydration adds imports of fetched files and, for a fetched active file, a
 * merge (seg_merge_*) whose copy alone may run on another thread.
 * Not thread-safe; all calls from the owning loop thread.
 */
#ifndef EDDY_SEGMENT_H
#define EDDY_SEGMENT_H

#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seg_store;

struct seg_record {
    u128 seq;
    uint64_t arrival_ms;
    uint64_t raft_index; /* the group Raft entry that carried the record */
    const char *partition_key;
    size_t partition_key_len;
    const uint8_t *data;
    size_t data_len;
    /* SEG_ENCRYPTION_NONE or SEG_ENCRYPTION_KMS: the EncryptionType GetRecords
     * reports. The data is stored as given either way (server/README.md). */
    uint8_t encryption;
};

/* A record's encryption type (record header byte 8). */
#define SEG_ENCRYPTION_NONE 0
#define SEG_ENCRYPTION_KMS 1

enum seg_position {
    SEG_AT_SEQUENCE = 1,    /* first record with seq >= given */
    SEG_AFTER_SEQUENCE = 2, /* first record with seq > given */
    SEG_AT_TIMESTAMP = 3,   /* first record with arrival_ms >= given */
    SEG_TRIM_HORIZON = 4,   /* oldest retained record */
    SEG_LATEST = 5,         /* just after the newest record */
};

/* Called for each record read; the record's pointers are valid only during
 * the call. Return true to go on, false to stop. */
typedef bool (*seg_read_cb)(void *arg, const struct seg_record *r);

/* Opens (creating the directory if missing) and recovers. The caller owns
 * *out and frees it with seg_store_close. -EDDY_ECORRUPT only for damage
 * that cannot be cut off as a torn tail. */
int seg_store_open(const char *dir, struct seg_store **out);
void seg_store_close(struct seg_store *s);

/* Appends one record; r->seq must be greater than seg_store_last_seq and
 * r->arrival_ms not below the last arrival (asserted: callers guarantee it).
 * Seals the active file past SEG_FILE_BYTES_MAX. */
int seg_store_append(struct seg_store *s, const struct seg_record *r);
/* fdatasync of the active file (sealed files were synced when sealed). */
int seg_store_sync(struct seg_store *s);

bool seg_store_is_empty(const struct seg_store *s);
u128 seg_store_last_seq(const struct seg_store *s);            /* 0 when empty */
uint64_t seg_store_last_index(const struct seg_store *s);      /* 0 when empty */
uint64_t seg_store_last_arrival_ms(const struct seg_store *s); /* 0 when empty */
uint64_t seg_store_bytes(const struct seg_store *s);           /* on disk, all files */

/* Reads from a position: at most limit records and, past the first record,
 * at most bytes_max bytes of data. *next_after gets the seq of the last
 * record passed to cb, or, when none was, the seq just before the position
 * (for LATEST the last seq; for TRIM_HORIZON 0), so reading AFTER *next_after
 * continues without a gap. Returns the number of records read or a negative
 * error. */
int seg_store_read(struct seg_store *s,
                   enum seg_position pos,
                   u128 seq,
                   uint64_t timestamp_ms,
                   uint32_t limit,
                   size_t bytes_max,
                   seg_read_cb cb,
                   void *arg,
                   u128 *next_after);

/* One file of the store, for snapshot manifests. */
struct seg_file_info {
    const char *name; /* file name within the directory */
    uint64_t bytes;
    bool sealed;
    uint32_t crc32c;         /* CRC-32C of the file's first `bytes` bytes */
    uint64_t arrival_max_ms; /* of its newest record; 0 when unknown */
};
typedef void (*seg_file_cb)(void *arg, const struct seg_file_info *f);
void seg_store_files(const struct seg_store *s, seg_file_cb cb, void *arg);
/* The file the store lists under name: 0 and *out (name borrowed from the
 * store until it next changes), or -EDDY_ENOTFOUND. Only listed names ever
 * succeed, so a name from the network cannot reach another path. */
int seg_store_file(const struct seg_store *s, const char *name, struct seg_file_info *out);
/* The store's directory; borrowed. */
const char *seg_store_dir(const struct seg_store *s);
/* True for a segment file name: 32 lowercase hex digits and ".seg". */
bool seg_file_name_is_valid(const char *name);
/* The first sequence number a valid name stands for. */
u128 seg_file_name_seq(const char *name);

/* ---- hydration: files fetched from a peer replica ---- */

/* Seals the active file (fdatasync, close) so that the next append starts a
 * new file, named after its own sequence number. No-op without one. */
int seg_store_roll(struct seg_store *s);

/* A segment file verified whole (no torn tail allowed), not yet part of a
 * store. */
struct seg_import;
/* Verifies dir/name: header, every record and the order within the file.
 * Touches no store, so it may run on a worker thread. -EDDY_ECORRUPT for any
 * damage, -EDDY_EINVAL for a bad name, -errno. *out is freed by
 * seg_store_import or seg_import_free. */
int seg_import_scan(const char *dir, const char *name, struct seg_import **out);
void seg_import_free(struct seg_import *imp);
const char *seg_import_name(const struct seg_import *imp);
uint64_t seg_import_bytes(const struct seg_import *imp);
uint32_t seg_import_crc32c(const struct seg_import *imp); /* of the whole file */
/* Adds a scanned file of the store's directory among the store's files, so
 * that reads see old and new records as one sequence. Its records must fall
 * strictly between those of its neighbours (seq and arrival order);
 * -EDDY_ECORRUPT otherwise, -EDDY_EEXISTS for a listed name, -EDDY_EINVAL
 * for a file that would follow the active file, is not below a tracked base
 * (seg_store_track_base) or lives elsewhere. Always takes ownership of imp. */
int seg_store_import(struct seg_store *s, struct seg_import *imp);
/* seg_import_scan then seg_store_import, on the calling thread. */
int seg_store_import_file(struct seg_store *s, const char *name);

/* ---- hydration: the manifest's active file and the records after it ----
 *
 * A peer kept appending to the file that was active in a snapshot manifest
 * (the base); a replica that restored the manifest without that file
 * appends the same records into files of its own. seg_store_track_base
 * makes the store keep, record by record, the layout the peer holds (the
 * base grown by those records, sealed past SEG_FILE_BYTES_MAX, then files
 * named by their first record), so that snapshots can name it. Once the
 * base is fetched, a merge rewrites the store's files after it into that
 * layout, byte for byte. server/README.md, "Hydration". */

/* The store's next records follow the file name (bytes long, CRC-32C
 * crc32c of those bytes, 0 when unknown) that it lacks. -EDDY_EINVAL when
 * the store has an active file or a file not below name; -ENOMEM. Replaces
 * any base tracked before. */
int seg_store_track_base(struct seg_store *s, const char *name, uint64_t bytes, uint32_t crc32c);
/* Forgets the base, if any. */
void seg_store_untrack_base(struct seg_store *s);
/* The base's name, NULL when none is tracked. Borrowed until it changes. */
const char *seg_store_base(const struct seg_store *s);
/* The files a peer holds from the base on: the base extended by every
 * record appended since seg_store_track_base, and the files sealing starts
 * after it. The base's checksum is 0 when it was tracked with 0. */
void seg_store_base_files(const struct seg_store *s, seg_file_cb cb, void *arg);

/* A merge of the fetched base ("<dir>/<base>.part", exactly its manifest
 * length) with the store's files after it. Returned by seg_merge_finish when
 * more than a little arrived during the copy: copy again, then finish. */
struct seg_merge;
#define SEG_MERGE_AGAIN 1
/* On the loop: starts merging the tracked base with the files the store
 * holds after it, as they are now. -EDDY_EINVAL without a base,
 * -EDDY_EINUSE while another merge of the store runs, the store's error.
 * *out is freed by seg_merge_free. */
int seg_merge_create(struct seg_store *s, struct seg_merge **out);
/* On any thread, never two at once for one merge, touching no store: the
 * first call verifies the part file whole; every call appends the records
 * captured so far to it (and to "<name>.part" files after it when it passes
 * SEG_FILE_BYTES_MAX), as the store appends them. -EDDY_ECORRUPT for damage
 * or records out of order, -errno. After a failure only seg_merge_free. */
int seg_merge_copy(struct seg_merge *m);
/* After a successful first seg_merge_copy: the base as fetched. */
const char *seg_merge_name(const struct seg_merge *m);
uint64_t seg_merge_base_bytes(const struct seg_merge *m);
uint32_t seg_merge_base_crc32c(const struct seg_merge *m);
/* On the loop, after seg_merge_copy: SEG_MERGE_AGAIN (see above), or copies
 * what arrived since, checks the result against the tracked layout, makes it
 * durable and puts it in place of the files after the base (removed), in
 * one step for readers. 0: the store's files are the peer's; the base is no
 * longer tracked. -EDDY_EINUSE when the store closed, reopened or changed its
 * base since seg_merge_create; -EDDY_ECORRUPT; -errno (a failure while
 * renaming makes the store's error sticky: a restart converges). */
int seg_merge_finish(struct seg_store *s, struct seg_merge *m);
/* Frees m; unless it finished, removes its part files, the fetched base's
 * included. On the loop. NULL allowed. */
void seg_merge_free(struct seg_merge *m);

/* For a directory no store has open: renames every segment file for which
 * keep returns false to "<name>.aside" (ignored by seg_store_open, removed by
 * seg_store_destroy and seg_dir_remove_aside), then fsyncs the directory.
 * keep NULL sets every file aside. Returns the number of files set aside. */
typedef bool (*seg_keep_cb)(void *arg, const char *name);
int seg_dir_set_aside(const char *dir, seg_keep_cb keep, void *arg);
/* Removes the "*.aside" entries of dir. Returns how many, or -errno. */
int seg_dir_remove_aside(const char *dir);

/* ---- retention (segment_trim.c; server/README.md, "Retention") ---- */

/* Reads skip every record that arrived before horizon_ms, as if it were
 * gone (records past retention, in files not deleted yet). The horizon
 * only moves forward: a lower value is ignored. */
void seg_store_set_horizon(struct seg_store *s, uint64_t horizon_ms);
uint64_t seg_store_horizon(const struct seg_store *s);
/* The newest file retention may delete at before_ms, or NULL: sealed, every
 * record arrived before before_ms, below the tracked base (if any), and not
 * the newest file of the layout, whose name is newest (NULL: the store's
 * newest file). Borrowed until the store changes. */
const char *seg_store_trim_point(const struct seg_store *s, uint64_t before_ms, const char *newest);
/* Deletes every file named upto or below (each must be sealed and below a
 * tracked base), after raising the directory's trim mark to upto. Returns
 * the number of files deleted or a negative error (the files not deleted
 * stay listed). */
int seg_store_trim_upto(struct seg_store *s, const char *upto);
/* True when a file may hold a record that arrived at or after from_ms and
 * before before_ms (judged by each file's oldest and newest arrival). */
bool seg_store_has_arrivals(const struct seg_store *s, uint64_t from_ms, uint64_t before_ms);
/* seg_store_trim_point with newest NULL, then seg_store_trim_upto. */
int seg_store_trim(struct seg_store *s, uint64_t before_ms);
/* Raises the directory's trim mark to name (a valid segment file name): the
 * files named name or below were deleted by retention, here or on the
 * peers. Durable when it returns 0; never lowers the mark. */
int seg_store_raise_trim_mark(struct seg_store *s, const char *name);
/* The trim mark of a segment directory: *out gets the first sequence number
 * of the newest file retention deleted there, 0 when none. -EDDY_ECORRUPT
 * for a damaged mark (*out 0), -errno. */
int seg_dir_trim_mark(const char *dir, u128 *out);
/* Sets the arrival time of the tracked base's newest record as its
 * manifest gave it (0: unknown), for the layout seg_store_base_files lists. */
void seg_store_base_set_arrival(struct seg_store *s, uint64_t arrival_max_ms);

/* Closes and removes every file and the directory. Frees s. */
int seg_store_destroy(struct seg_store *s);

#endif
