/* On-demand scaling, the decision: see autoscale.h. */
#include "autoscale.h"
#include "catalog.h"
#include "catalog_reshard.h"

#include "eddy/assert.h"

#include <string.h>

void autoscale_init(struct autoscale *a, const struct autoscale_config *cfg)
{
    EDDY_ASSERT(cfg->write_bytes_per_s > 0 || cfg->write_records_per_s > 0);
    EDDY_ASSERT(cfg->sustain_ms > 0);
    EDDY_ASSERT(cfg->stale_ms > 0);
    memset(a, 0, sizeof(*a));
    a->cfg = *cfg;
}

void autoscale_reset(struct autoscale *a)
{
    memset(a->shards, 0, sizeof(a->shards));
}

static bool autoscale_is(const struct autoscale_shard *e,
                         const char *stream,
                         uint64_t created_ms,
                         uint32_t shard)
{
    return e->is_used && e->shard == shard && e->created_ms == created_ms &&
           strcmp(e->stream, stream) == 0;
}

/* The shard's slot; a new one when it has none (a free slot, else the one
 * reported least recently). */
static struct autoscale_shard *
autoscale_slot(struct autoscale *a, const char *stream, uint64_t created_ms, uint32_t shard)
{
    struct autoscale_shard *victim = &a->shards[0];
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        struct autoscale_shard *e = &a->shards[i];
        if (autoscale_is(e, stream, created_ms, shard)) {
            return e;
        }
        if (victim->is_used && (!e->is_used || e->seen_ms < victim->seen_ms)) {
            victim = e;
        }
    }
    memset(victim, 0, sizeof(*victim));
    victim->is_used = true;
    strcpy(victim->stream, stream); /* the caller checked its length */
    victim->created_ms = created_ms;
    victim->shard = shard;
    return victim;
}

static bool autoscale_is_busy(const struct autoscale_config *cfg, uint64_t bytes, uint64_t records)
{
    return (cfg->write_bytes_per_s > 0 && bytes >= cfg->write_bytes_per_s) ||
           (cfg->write_records_per_s > 0 && records >= cfg->write_records_per_s);
}

void autoscale_observe(struct autoscale *a, const Eddy__ShardLoad *l, uint64_t now_ms)
{
    const char *name = l->stream;
    if (name == NULL ||
        !catalog_stream_name_is_valid(name, strnlen(name, KIN_STREAM_NAME_LEN_MAX + 1))) {
        return;
    }
    struct autoscale_shard *e = autoscale_slot(a, name, l->stream_created_ms, l->shard);
    bool was_fresh = e->seen_ms != 0 && now_ms - e->seen_ms <= a->cfg.stale_ms;
    e->bytes_per_s = l->write_bytes_per_s;
    e->records_per_s = l->write_records_per_s;
    if (!autoscale_is_busy(&a->cfg, l->write_bytes_per_s, l->write_records_per_s)) {
        e->busy_since_ms = 0;
    } else if (e->busy_since_ms == 0 || !was_fresh) {
        e->busy_since_ms = now_ms; /* busy from now: a gap in the reports is a break */
    }
    e->seen_ms = now_ms;
    EDDY_ASSERT(autoscale_is(e, name, l->stream_created_ms, l->shard));
}

void autoscale_forget(struct autoscale *a, const char *stream, uint64_t created_ms, uint32_t shard)
{
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        if (autoscale_is(&a->shards[i], stream, created_ms, shard)) {
            memset(&a->shards[i], 0, sizeof(a->shards[i]));
        }
    }
}

u128 autoscale_split_point(u128 start, u128 end)
{
    EDDY_ASSERT(end >= start);
    EDDY_ASSERT(end - start >= 3);
    /* (end - start) / 2 never overflows, unlike (end - start + 1) for the
     * whole key space. */
    u128 mid = start + (end - start) / 2 + 1;
    EDDY_ASSERT(mid > start + 1); /* SplitShard's bounds */
    EDDY_ASSERT(mid < end);
    return mid;
}

static const Eddy__StreamInfo *autoscale_stream(const Eddy__Catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->n_streams; i++) {
        if (strcmp(cat->streams[i]->name, name) == 0) {
            return cat->streams[i];
        }
    }
    return NULL;
}

/* Open shards of every stream (pending children count: they will be). */
static uint64_t autoscale_account_open(const Eddy__Catalog *cat)
{
    uint64_t n = 0;
    for (size_t i = 0; i < cat->n_streams; i++) {
        const Eddy__StreamInfo *s = cat->streams[i];
        for (size_t k = 0; k < s->n_shards; k++) {
            n += catalog_shard_is_open(s->shards[k]);
        }
    }
    return n;
}

/* How busy, in thousandths of its threshold: the larger of the two. */
static uint64_t autoscale_score(const struct autoscale_config *cfg, const struct autoscale_shard *e)
{
    uint64_t by_bytes =
        cfg->write_bytes_per_s > 0 ? e->bytes_per_s * 1000 / cfg->write_bytes_per_s : 0;
    uint64_t by_records =
        cfg->write_records_per_s > 0 ? e->records_per_s * 1000 / cfg->write_records_per_s : 0;
    return by_bytes > by_records ? by_bytes : by_records;
}

/* ceil(total / threshold); 0 when the rate is left out. */
static uint64_t autoscale_shards_for(uint64_t total, uint64_t threshold)
{
    return threshold > 0 ? total / threshold + (total % threshold != 0) : 0;
}

/* The open shards s may have for its traffic: enough that the fresh
 * reported rates of its open shards, spread evenly, would put none at the
 * threshold, i.e. a capacity of twice the traffic (AWS: up to double the
 * peak). A single hot partition key therefore never splits a stream past
 * what its whole traffic warrants: the half without the key stays idle. */
static uint64_t
autoscale_stream_allows(const struct autoscale *a, const Eddy__StreamInfo *s, uint64_t now_ms)
{
    uint64_t bytes = 0;
    uint64_t records = 0;
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        const struct autoscale_shard *e = &a->shards[i];
        if (!e->is_used || e->created_ms != s->created_ms || now_ms < e->seen_ms ||
            now_ms - e->seen_ms > a->cfg.stale_ms || strcmp(e->stream, s->name) != 0) {
            continue;
        }
        const Eddy__ShardInfo *sh = catalog_stream_shard(s, e->shard);
        if (sh != NULL && catalog_shard_is_open(sh)) {
            bytes += e->bytes_per_s;
            records += e->records_per_s;
        }
    }
    uint64_t by_bytes = autoscale_shards_for(bytes, a->cfg.write_bytes_per_s);
    uint64_t by_records = autoscale_shards_for(records, a->cfg.write_records_per_s);
    return by_bytes > by_records ? by_bytes : by_records;
}

/* Whether e's shard may be split now, as the catalogue shows it; clears e
 * when its shard is gone for good. */
static bool autoscale_shard_fits(const struct autoscale *a,
                                 struct autoscale_shard *e,
                                 const Eddy__Catalog *cat,
                                 uint64_t now_ms,
                                 const Eddy__ShardInfo **shard)
{
    const Eddy__StreamInfo *s = autoscale_stream(cat, e->stream);
    const Eddy__ShardInfo *sh =
        s != NULL && s->created_ms == e->created_ms ? catalog_stream_shard(s, e->shard) : NULL;
    if (sh == NULL || !catalog_shard_is_open(sh)) {
        memset(e, 0, sizeof(*e)); /* another incarnation, or split already */
        return false;
    }
    if (s->mode != EDDY__STREAM_MODE__MODE_ON_DEMAND ||
        s->status != EDDY__STREAM_STATUS__STREAM_ACTIVE || catalog_reshard_is_pending(s) ||
        catalog_stream_open_count(s) >= a->cfg.stream_shards_max ||
        catalog_stream_open_count(s) >= autoscale_stream_allows(a, s, now_ms)) {
        return false;
    }
    if (sh->hash_start.len != 16 || sh->hash_end.len != 16) {
        return false; /* the catalogue validated it; never split blind */
    }
    u128 start = u128_from_be(sh->hash_start.data);
    u128 end = u128_from_be(sh->hash_end.data);
    if (end < start || end - start < 3) {
        return false; /* too narrow to split */
    }
    *shard = sh;
    return true;
}

bool autoscale_pick(struct autoscale *a,
                    const Eddy__Catalog *cat,
                    uint64_t now_ms,
                    struct autoscale_split *out)
{
    struct autoscale_shard *best = NULL;
    const Eddy__ShardInfo *best_shard = NULL;
    uint64_t best_score = 0;
    for (size_t i = 0; i < AUTOSCALE_SHARDS_MAX; i++) {
        struct autoscale_shard *e = &a->shards[i];
        if (!e->is_used || e->busy_since_ms == 0 || now_ms < e->seen_ms ||
            now_ms - e->seen_ms > a->cfg.stale_ms || now_ms < e->busy_since_ms ||
            now_ms - e->busy_since_ms < a->cfg.sustain_ms) {
            continue;
        }
        const Eddy__ShardInfo *sh;
        if (!autoscale_shard_fits(a, e, cat, now_ms, &sh)) {
            continue;
        }
        uint64_t score = autoscale_score(&a->cfg, e);
        if (best == NULL || score > best_score) {
            best = e;
            best_shard = sh;
            best_score = score;
        }
    }
    if (best == NULL || autoscale_account_open(cat) >= a->cfg.account_shard_limit) {
        return false;
    }
    memset(out, 0, sizeof(*out));
    strcpy(out->stream, best->stream);
    out->created_ms = best->created_ms;
    out->shard = best->shard;
    out->new_start = autoscale_split_point(u128_from_be(best_shard->hash_start.data),
                                           u128_from_be(best_shard->hash_end.data));
    out->bytes_per_s = best->bytes_per_s;
    out->records_per_s = best->records_per_s;
    out->busy_ms = now_ms - best->busy_since_ms;
    return true;
}
