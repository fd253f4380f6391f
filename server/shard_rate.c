/* Per-shard write rates on the shard group leader: see shard_rate.h. */
#include "shard_rate.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/limits.h"
#include "eddy/limits_profile.h"
#include "eddy/tbucket.h"

#include <stdlib.h>
#include <string.h>

static_assert((SHARD_RATE_SETS & (SHARD_RATE_SETS - 1)) == 0, "sets are a power of two");
static_assert(SHARD_RATE_REPORT_MAX <= SHARD_RATE_SETS * SHARD_RATE_WAYS, "a report fits");

struct shard_rate_entry {
    uint64_t key; /* hash of stream, creation time and shard; 0: a free slot */
    char stream[KIN_STREAM_NAME_LEN_MAX + 1];
    uint64_t created_ms;
    uint32_t shard;
    uint32_t group;           /* the group the last write came through */
    uint64_t window_start_ms; /* the open window */
    uint64_t window_bytes;
    uint64_t window_records;
    uint64_t bytes_per_s; /* moving averages of the closed windows */
    uint64_t records_per_s;
    uint64_t used_ms; /* the last write */
};

struct shard_rate {
    struct shard_rate_entry slots[SHARD_RATE_SETS * SHARD_RATE_WAYS];
};

void shard_rate_create(struct shard_rate **out)
{
    *out = eddy_xcalloc(1, sizeof(**out));
}

void shard_rate_destroy(struct shard_rate *r)
{
    eddy_free(r);
}

/* The stream's part of a key, once per request. */
static uint64_t shard_rate_stream_key(const char *stream, uint64_t created_ms)
{
    uint64_t key = tbucket_key_add(TBUCKET_KEY_SEED, stream, strlen(stream) + 1);
    return tbucket_key_add(key, &created_ms, sizeof(created_ms));
}

static uint64_t shard_rate_key(uint64_t stream_key, uint32_t shard)
{
    uint64_t key = tbucket_key_add(stream_key, &shard, sizeof(shard));
    return key != 0 ? key : 1; /* 0 marks a free slot */
}

/* Closes the windows that ended by now_ms: the first one's sums go into the
 * averages, each later (empty) one halves them. */
static void shard_rate_roll(struct shard_rate_entry *e, uint64_t now_ms)
{
    if (now_ms < e->window_start_ms + SHARD_RATE_WINDOW_MS) {
        return; /* also a clock that went backwards */
    }
    uint64_t windows = (now_ms - e->window_start_ms) / SHARD_RATE_WINDOW_MS;
    e->bytes_per_s = e->bytes_per_s / 2 + e->window_bytes * 1000 / SHARD_RATE_WINDOW_MS / 2;
    e->records_per_s = e->records_per_s / 2 + e->window_records * 1000 / SHARD_RATE_WINDOW_MS / 2;
    if (windows > SHARD_RATE_IDLE_WINDOWS_MAX) {
        e->bytes_per_s = 0;
        e->records_per_s = 0;
    } else {
        e->bytes_per_s >>= windows - 1;
        e->records_per_s >>= windows - 1;
    }
    e->window_start_ms += windows * SHARD_RATE_WINDOW_MS;
    e->window_bytes = 0;
    e->window_records = 0;
    EDDY_ASSERT(now_ms < e->window_start_ms + SHARD_RATE_WINDOW_MS);
}

static bool shard_rate_entry_is(const struct shard_rate_entry *e,
                                uint64_t key,
                                const char *stream,
                                uint64_t created_ms,
                                uint32_t shard)
{
    return e->key == key && e->shard == shard && e->created_ms == created_ms &&
           strcmp(e->stream, stream) == 0;
}

/* The slot of a shard; with create, a new one (the least recently written
 * slot of its set) when it has none, else NULL. */
static struct shard_rate_entry *shard_rate_find(struct shard_rate *r,
                                                uint64_t key,
                                                const char *stream,
                                                uint64_t created_ms,
                                                uint32_t shard,
                                                uint64_t now_ms,
                                                bool create)
{
    struct shard_rate_entry *set = &r->slots[(key & (SHARD_RATE_SETS - 1)) * SHARD_RATE_WAYS];
    struct shard_rate_entry *victim = &set[0];
    for (unsigned w = 0; w < SHARD_RATE_WAYS; w++) {
        struct shard_rate_entry *e = &set[w];
        if (shard_rate_entry_is(e, key, stream, created_ms, shard)) {
            return e;
        }
        if (victim->key != 0 && (e->key == 0 || e->used_ms < victim->used_ms)) {
            victim = e;
        }
    }
    if (!create) {
        return NULL;
    }
    size_t len = strlen(stream);
    EDDY_ASSERT(len <= KIN_STREAM_NAME_LEN_MAX); /* the caller checked it */
    memset(victim, 0, sizeof(*victim));
    victim->key = key;
    memcpy(victim->stream, stream, len + 1);
    victim->created_ms = created_ms;
    victim->shard = shard;
    victim->window_start_ms = now_ms;
    victim->used_ms = now_ms;
    return victim;
}

void shard_rate_put(struct shard_rate *r,
                    const Eddy__PutRecordsReq *req,
                    const uint8_t *refused,
                    uint64_t now_ms)
{
    if (req->stream == NULL ||
        strnlen(req->stream, KIN_STREAM_NAME_LEN_MAX + 1) > KIN_STREAM_NAME_LEN_MAX) {
        return; /* not a stream the catalogue can hold */
    }
    uint64_t stream_key = shard_rate_stream_key(req->stream, req->stream_created_ms);
    struct shard_rate_entry *e = NULL;
    for (size_t i = 0; i < req->n_records; i++) {
        const Eddy__PutRecord *rec = req->records[i];
        if (refused != NULL && refused[i]) {
            continue;
        }
        /* A request's records mostly go to one shard or a few: look up again
         * only when the shard changes. */
        if (e == NULL || e->shard != rec->shard) {
            e = shard_rate_find(r, shard_rate_key(stream_key, rec->shard), req->stream,
                                req->stream_created_ms, rec->shard, now_ms, true);
            shard_rate_roll(e, now_ms);
            e->group = req->group;
            e->used_ms = now_ms;
        }
        size_t key_len = rec->partition_key != NULL ? strlen(rec->partition_key) : 0;
        e->window_bytes += rec->data.len + key_len;
        e->window_records++;
    }
}

void shard_rate_get(struct shard_rate *r,
                    const char *stream,
                    uint64_t created_ms,
                    uint32_t shard,
                    uint64_t now_ms,
                    uint64_t *bytes_per_s,
                    uint64_t *records_per_s)
{
    uint64_t key = shard_rate_key(shard_rate_stream_key(stream, created_ms), shard);
    struct shard_rate_entry *e = shard_rate_find(r, key, stream, created_ms, shard, now_ms, false);
    if (e != NULL) {
        shard_rate_roll(e, now_ms);
    }
    *bytes_per_s = e != NULL ? e->bytes_per_s : 0;
    *records_per_s = e != NULL ? e->records_per_s : 0;
}

/* How busy a shard is: the larger of its rates as thousandths of AWS's
 * per-shard write limit (1 MiB/s, 1,000 records/s). */
static uint64_t shard_rate_score(const struct shard_rate_entry *e)
{
    uint64_t by_bytes = e->bytes_per_s * 1000 / LIMITS_AWS_WRITE_BYTES_PER_S;
    uint64_t by_records = e->records_per_s * 1000 / LIMITS_AWS_WRITE_RECORDS_PER_S;
    return by_bytes > by_records ? by_bytes : by_records;
}

struct shard_rate_rank {
    uint64_t score;
    const struct shard_rate_entry *e;
};

static int shard_rate_rank_cmp(const void *a, const void *b)
{
    const struct shard_rate_rank *x = a;
    const struct shard_rate_rank *y = b;
    return x->score > y->score ? -1 : x->score < y->score; /* busiest first */
}

void shard_rate_report(struct shard_rate *r,
                       uint64_t now_ms,
                       shard_rate_is_leading_cb is_leading,
                       void *arg,
                       Eddy__NodeStatusResp *resp)
{
    EDDY_ASSERT(resp->n_shard_loads == 0);
    size_t slot_count = EDDY_ARRAY_LEN(r->slots);
    struct shard_rate_rank *ranks = eddy_xmalloc(slot_count * sizeof(*ranks));
    size_t n = 0;
    for (size_t i = 0; i < slot_count; i++) {
        struct shard_rate_entry *e = &r->slots[i];
        if (e->key == 0) {
            continue;
        }
        shard_rate_roll(e, now_ms);
        if ((e->bytes_per_s == 0 && e->records_per_s == 0) || !is_leading(arg, e->group)) {
            continue;
        }
        ranks[n++] = (struct shard_rate_rank){.score = shard_rate_score(e), .e = e};
    }
    qsort(ranks, n, sizeof(*ranks), shard_rate_rank_cmp);
    size_t count = n < SHARD_RATE_REPORT_MAX ? n : SHARD_RATE_REPORT_MAX;
    resp->shard_loads = count > 0 ? eddy_xmalloc(count * sizeof(*resp->shard_loads)) : NULL;
    for (size_t k = 0; k < count; k++) {
        const struct shard_rate_entry *e = ranks[k].e;
        size_t len = strlen(e->stream);
        /* The message and its stream name in one allocation. */
        uint8_t *mem = eddy_xmalloc(sizeof(Eddy__ShardLoad) + len + 1);
        Eddy__ShardLoad *l = (Eddy__ShardLoad *)mem;
        eddy__shard_load__init(l);
        l->stream = (char *)(mem + sizeof(*l));
        memcpy(l->stream, e->stream, len + 1);
        l->stream_created_ms = e->created_ms;
        l->shard = e->shard;
        l->write_bytes_per_s = e->bytes_per_s;
        l->write_records_per_s = e->records_per_s;
        resp->shard_loads[k] = l;
    }
    resp->n_shard_loads = count;
    eddy_free(ranks);
}

void shard_rate_report_free(Eddy__NodeStatusResp *resp)
{
    for (size_t k = 0; k < resp->n_shard_loads; k++) {
        eddy_free(resp->shard_loads[k]);
    }
    eddy_free(resp->shard_loads);
    resp->shard_loads = NULL;
    resp->n_shard_loads = 0;
}
