/* Per-shard write and read limits on the shard group leader: see throttle.h. */
#include "throttle.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/tbucket.h"

#include <string.h>

/* The buckets of one shard, in their table entry. */
enum {
    THROTTLE_WRITE_RECORDS,
    THROTTLE_WRITE_BYTES,
    THROTTLE_READ_CALLS,
    THROTTLE_READ_BYTES,
    THROTTLE_BUCKETS_,
};

struct throttle {
    struct tbucket_rate rates[THROTTLE_BUCKETS_];
    struct tbucket_table *shards;
};

void throttle_create(struct throttle **out, const struct limits_profile *p)
{
    *out = NULL;
    if (!limits_profile_limits_shards(p)) {
        return;
    }
    struct throttle *t = eddy_xcalloc(1, sizeof(*t));
    t->rates[THROTTLE_WRITE_RECORDS] = tbucket_rate_make(p->write_records_per_s, p->burst_ms);
    t->rates[THROTTLE_WRITE_BYTES] = tbucket_rate_make(p->write_bytes_per_s, p->burst_ms);
    t->rates[THROTTLE_READ_CALLS] = tbucket_rate_make(p->read_calls_per_s, p->burst_ms);
    t->rates[THROTTLE_READ_BYTES] = tbucket_rate_make(p->read_bytes_per_s, p->burst_ms);
    t->shards = tbucket_table_create(THROTTLE_SHARDS_MAX, THROTTLE_BUCKETS_);
    *out = t;
}

void throttle_destroy(struct throttle *t)
{
    if (t == NULL) {
        return;
    }
    tbucket_table_destroy(t->shards);
    eddy_free(t);
}

/* The buckets of a shard: keyed by the stream's name and creation time (a
 * stream deleted and created again starts afresh) and the shard index. */
static struct tbucket *throttle_shard(
    struct throttle *t, const char *stream, uint64_t created_ms, uint32_t shard, uint64_t now_ms)
{
    uint64_t key = tbucket_key_add(TBUCKET_KEY_SEED, stream, strlen(stream) + 1);
    key = tbucket_key_add(key, &created_ms, sizeof(created_ms));
    key = tbucket_key_add(key, &shard, sizeof(shard));
    return tbucket_table_get(t->shards, key, t->rates, now_ms);
}

/* The bytes a record counts against its shard: data and partition key. */
static uint64_t throttle_record_bytes(size_t data_len, const char *partition_key)
{
    return (uint64_t)data_len + (partition_key != NULL ? strlen(partition_key) : 0);
}

/* Admits one record if both of its shard's write buckets allow it. */
static bool
throttle_admit_record(struct throttle *t, struct tbucket *b, uint64_t bytes, uint64_t now)
{
    const struct tbucket_rate *rr = &t->rates[THROTTLE_WRITE_RECORDS];
    const struct tbucket_rate *br = &t->rates[THROTTLE_WRITE_BYTES];
    if (!tbucket_can_take(&b[THROTTLE_WRITE_RECORDS], rr, 1, now) ||
        !tbucket_can_take(&b[THROTTLE_WRITE_BYTES], br, bytes, now)) {
        return false;
    }
    tbucket_take(&b[THROTTLE_WRITE_RECORDS], rr, 1, now);
    tbucket_take(&b[THROTTLE_WRITE_BYTES], br, bytes, now);
    return true;
}

size_t
throttle_put(struct throttle *t, const Eddy__PutRecordsReq *req, uint64_t now_ms, uint8_t **refused)
{
    *refused = NULL;
    if (t == NULL) {
        return req->n_records;
    }
    size_t admitted = 0;
    for (size_t i = 0; i < req->n_records; i++) {
        const Eddy__PutRecord *r = req->records[i];
        /* Looked up per record: the table may move a shard between calls,
         * and a request holds at most KIN_PUT_RECORDS_COUNT_MAX records. */
        struct tbucket *b =
            throttle_shard(t, req->stream, req->stream_created_ms, r->shard, now_ms);
        uint64_t bytes = throttle_record_bytes(r->data.len, r->partition_key);
        if (throttle_admit_record(t, b, bytes, now_ms)) {
            admitted++;
            continue;
        }
        if (*refused == NULL) {
            *refused = eddy_xcalloc(req->n_records, 1);
        }
        (*refused)[i] = 1;
    }
    EDDY_ASSERT(admitted <= req->n_records);
    EDDY_ASSERT((*refused == NULL) == (admitted == req->n_records));
    return admitted;
}

/* Push reads (wait_ms: SubscribeToShard) are enhanced fan-out: AWS gives each
 * consumer its own 2 MiB/s per shard, enforced by the gateway serving it, so
 * they neither take nor count against GetRecords' per-shard limits. */
static bool throttle_read_is_counted(const Eddy__ReadReq *req)
{
    return req->limit > 0 && req->wait_ms == 0;
}

bool throttle_read_begin(struct throttle *t, const Eddy__ReadReq *req, uint64_t now_ms)
{
    if (t == NULL || !throttle_read_is_counted(req)) {
        return true;
    }
    struct tbucket *b = throttle_shard(t, req->stream, req->stream_created_ms, req->shard, now_ms);
    const struct tbucket_rate *cr = &t->rates[THROTTLE_READ_CALLS];
    if (!tbucket_can_take(&b[THROTTLE_READ_CALLS], cr, 1, now_ms) ||
        !tbucket_is_positive(&b[THROTTLE_READ_BYTES], &t->rates[THROTTLE_READ_BYTES], now_ms)) {
        return false;
    }
    tbucket_take(&b[THROTTLE_READ_CALLS], cr, 1, now_ms);
    return true;
}

void throttle_read_end(struct throttle *t,
                       const Eddy__ReadReq *req,
                       const Eddy__ReadResp *resp,
                       uint64_t now_ms)
{
    if (t == NULL || !throttle_read_is_counted(req)) {
        return;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < resp->n_records; i++) {
        bytes += throttle_record_bytes(resp->records[i]->data.len, resp->records[i]->partition_key);
    }
    struct tbucket *b = throttle_shard(t, req->stream, req->stream_created_ms, req->shard, now_ms);
    tbucket_take(&b[THROTTLE_READ_BYTES], &t->rates[THROTTLE_READ_BYTES], bytes, now_ms);
}
