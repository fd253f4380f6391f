/*
 * Fast readers of the few fields the bench needs from Kinesis JSON
 * responses, without building a tree: the generator reads up to hundreds
 * of MB/s of GetRecords answers and must not be the bottleneck. They look
 * for "Name" followed by ':' (the first occurrence, wherever it is), which
 * is safe for Kinesis answers because every string value is JSON-escaped:
 * a quote inside a value is always preceded by a backslash. Stateless;
 * results point into the caller's buffer.
 */
#ifndef EDDY_BENCH_SCAN_H
#define EDDY_BENCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The string value of field name: *value and *value_len span what is
 * between the quotes (escapes left as they are). false when the field is
 * missing, null or not a string. */
bool scan_string(
    const char *body, size_t len, const char *name, const char **value, size_t *value_len);
/* The integer value of field name; false when missing or not an integer. */
bool scan_int(const char *body, size_t len, const char *name, int64_t *value);

/* Called for each record's Data (base64, not decoded). */
typedef void (*scan_data_cb)(void *arg, const char *b64, size_t n);

struct scan_records {
    uint64_t records;          /* Data fields seen */
    uint64_t data_bytes;       /* their decoded sizes */
    const char *next_iterator; /* NULL when null or missing (the shard ended) */
    size_t next_iterator_len;
    int64_t millis_behind; /* -1 when missing */
};

/* Reads a GetRecords answer: counts records and their bytes, calls cb (may
 * be NULL) with each Data, and finds NextShardIterator and
 * MillisBehindLatest. */
void scan_get_records(
    const char *body, size_t len, struct scan_records *out, scan_data_cb cb, void *arg);

/* Calls cb with each "ShardId" value of a ListShards answer, in order;
 * returns how many. */
size_t scan_shard_ids(const char *body, size_t len, scan_data_cb cb, void *arg);

#endif
