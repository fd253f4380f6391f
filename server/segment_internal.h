/*
 * Internals of the segment store, shared by segment.c (open and recovery,
 * append, read, destroy), segment_import.c (fetched files, set-aside),
 * segment_merge.c (the tracked base and the seg_merge_* machinery) and
 * segment_trim.c (retention). No other module includes this. Byte layout: server/README.md,
 * "Segment files".
 */
#ifndef EDDY_SEGMENT_INTERNAL_H
#define EDDY_SEGMENT_INTERNAL_H

#include "segment.h"

#include "eddy/assert.h"
#include "eddy/limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* --- On-disk format (server/README.md). All integers are big-endian. --- */
#define SEG_FILE_MAGIC 0x45445347u /* "EDSG" */
#define SEG_FILE_VERSION 1
#define SEG_FILE_HEADER_BYTES 32
#define SEG_RECORD_MAGIC 0x45445245u /* "EDRE" */
#define SEG_RECORD_HEADER_BYTES 48
#define SEG_RECORD_CRC_FROM 8 /* a record's crc covers its bytes from here to its end */
/* Room in a stored data field for an encryption envelope (format version,
 * key id, nonce, tag) once records are encrypted at rest. */
#define SEG_ENVELOPE_BYTES_MAX 256
/* Records up to the largest MaxRecordSizeInKiB (10 MiB). */
#define SEG_DATA_BYTES_MAX (KIN_RECORD_DATA_LARGE_MAX + SEG_ENVELOPE_BYTES_MAX)
#define SEG_RECORD_BYTES_MAX                                                                       \
    (SEG_RECORD_HEADER_BYTES + KIN_PARTITION_KEY_LEN_MAX + SEG_DATA_BYTES_MAX)

/* --- In-memory bounds. --- */
#define SEG_FILE_NAME_LEN 36              /* 32 hex digits of the first seq + ".seg" */
#define SEG_FILE_COUNT_MAX 65536          /* 4 TiB of 64 MiB files per shard */
#define SEG_READ_CHUNK_BYTES (256 * 1024) /* first read buffer; grows to one record max */
/* Records start below SEG_FILE_BYTES_MAX, points at least a stride apart. */
#define SEG_FILE_POINTS_MAX (SEG_FILE_BYTES_MAX / SEG_INDEX_STRIDE_BYTES + 1)

static_assert(SEG_RECORD_BYTES_MAX < SEG_FILE_BYTES_MAX, "a record fits a file");
static_assert(SEG_READ_CHUNK_BYTES <= SEG_RECORD_BYTES_MAX, "the read buffer only grows");
static_assert(KIN_PARTITION_KEY_LEN_MAX <= UINT16_MAX, "key length fits its u16 field");
static_assert(SEG_DATA_BYTES_MAX <= UINT32_MAX, "data length fits its u32 field");

/* One sparse index point: the record that starts at offset. */
struct seg_point {
    u128 seq;
    uint64_t arrival_ms;
    uint64_t offset;
};

struct seg_file {
    char name[SEG_FILE_NAME_LEN + 1];
    u128 first_seq; /* from the name; the header and first record must agree */
    u128 seq_min;
    u128 seq_max;
    uint64_t arrival_min_ms;
    uint64_t arrival_max_ms;
    uint64_t bytes; /* verified length: the header and whole records */
    uint32_t crc;   /* running CRC-32C of the first `bytes` bytes */
    uint64_t record_count;
    uint64_t point_last_offset;
    struct seg_point *points;
    size_t point_count;
    size_t point_cap;
    bool sealed;
};

/* One file of the layout a peer holds from the tracked base on. */
struct seg_shadow {
    char name[SEG_FILE_NAME_LEN + 1];
    uint64_t bytes;
    uint32_t crc;
    bool crc_known;          /* false only for a base tracked without a checksum */
    uint64_t arrival_max_ms; /* of its newest record; 0 when unknown */
};

struct seg_merge;

struct seg_store {
    char *dir;
    int dir_fd;
    int active_fd;
    struct seg_file *files; /* oldest first, sorted by name */
    size_t file_count;
    size_t file_cap;
    u128 last_seq;
    uint64_t last_index;
    uint64_t last_arrival_ms;
    uint64_t bytes;
    int error; /* sticky: a failed write, rollback or sync leaves the active file unknown */
    uint64_t horizon_ms; /* reads skip records that arrived before (retention) */
    /* Hydration (seg_store_track_base): the base, then the files sealing
     * starts after it; empty when no base is tracked. */
    struct seg_shadow *shadow;
    size_t shadow_count;
    size_t shadow_cap;
    uint64_t base_gen;       /* changes with the base: a merge checks it */
    struct seg_merge *merge; /* the merge running, at most one */
};

/* Reads a file through a buffer that holds at least one whole record. */
struct seg_reader {
    int fd;
    uint64_t file_bytes;
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off;
    size_t buf_len;
};

/* The state of one seg_store_read call. */
struct seg_read {
    u128 seq_min; /* records below either minimum are skipped */
    uint64_t arrival_min_ms;
    uint32_t limit;
    size_t bytes_max;
    seg_read_cb cb;
    void *arg;
    uint32_t count;
    size_t data_bytes;
    bool found; /* a record reached the minimums (delivered or not) */
    bool done;
    u128 found_seq;
    u128 last_seq;
};

struct seg_import {
    char *dir;
    struct seg_file file; /* sealed; its points move into the store */
    uint64_t last_index;  /* Raft index of the file's last record */
};

/* Helpers defined in segment.c; each carries its contract at its definition. */
void seg_file_name_format(u128 seq, char out[SEG_FILE_NAME_LEN + 1]);
bool seg_file_name_parse(const char *name, u128 *seq);
void seg_file_header_encode(u128 first_seq, uint8_t h[SEG_FILE_HEADER_BYTES]);
void seg_reader_init(struct seg_reader *rd);
void seg_reader_attach(struct seg_reader *rd, int fd, uint64_t file_bytes);
int seg_reader_get(struct seg_reader *rd, uint64_t off, size_t len, const uint8_t **out);
int seg_record_read(
    struct seg_reader *rd, uint64_t off, struct seg_record *r, uint64_t *len, const char **why);
int seg_file_reserve_point(struct seg_file *f, uint64_t off);
void seg_file_add(struct seg_file *f, const struct seg_record *r, uint64_t off, uint64_t len);
int seg_store_reserve_files(struct seg_store *s, size_t count);
int seg_file_check_header(struct seg_reader *rd, const struct seg_file *f, const char **why);
int seg_file_scan(struct seg_store *s,
                  struct seg_file *f,
                  struct seg_reader *rd,
                  uint64_t *off,
                  const char **why);
int seg_write_all(int fd, struct iovec *iov, int iov_count);
size_t seg_store_find_name(const struct seg_store *s, const char *name);
/* Defined in segment_import.c. */
int seg_import_scan_path(const char *dir,
                         const char *name,
                         const char *suffix,
                         struct seg_import **out);
bool seg_file_precedes(const struct seg_file *a, const struct seg_file *b);
/* Defined in segment_trim.c: the read horizon (seg_store_set_horizon).
 * seg_read_apply_horizon raises q's arrival minimum to it; true when it
 * hides records from q. seg_read_horizon_next is next_after for a read it
 * hid records from and that delivered none: the seq before the first record
 * found past the horizon, else the last seq when every record from the
 * position on is hidden, else before. */
bool seg_read_apply_horizon(const struct seg_store *s, struct seg_read *q);
u128 seg_read_horizon_next(const struct seg_store *s, const struct seg_read *q, u128 before);
/* Defined in segment_merge.c. */
int seg_store_shadow_reserve(struct seg_store *s);
void seg_store_shadow_add(struct seg_store *s,
                          const struct seg_record *r,
                          const struct iovec *iov,
                          int iov_count);
void seg_store_detach_merge(struct seg_store *s);

#endif /* EDDY_SEGMENT_INTERNAL_H */
