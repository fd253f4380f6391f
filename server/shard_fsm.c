/*
 * Shard group state machine: a hash table of shards (stream name, stream
 * creation time, shard index) -> segment store, changed only by apply,
 * restore and hydration imports. See shard_fsm.h for the contract and
 * server/README.md for the snapshot manifest. Restore and hydration live in
 * shard_fsm_restore.c.
 */
#include "shard_fsm.h"
#include "segment.h"
#include "shard_fsm_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/pbarena.h"
#include "eddy/seqnum.h"
#include "group.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHARD_FSM_BUCKETS_MIN 64

static uint64_t shard_fsm_hash(const char *stream, uint64_t created_ms, uint32_t shard)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = stream; *p != '\0'; p++) {
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    }
    h = (h ^ created_ms) * 1099511628211ULL;
    h = (h ^ shard) * 1099511628211ULL;
    return h;
}

int shard_fsm_create(struct shard_fsm **out, const char *dir, uint32_t group_id)
{
    struct shard_fsm *f = eddy_xcalloc(1, sizeof(*f));
    f->dir = eddy_xstrdup(dir);
    f->group_id = group_id;
    f->bucket_count = SHARD_FSM_BUCKETS_MIN;
    f->buckets = eddy_xcalloc(f->bucket_count, sizeof(*f->buckets));
    *out = f;
    return 0;
}

static void shard_entry_free(struct shard_entry *e)
{
    for (size_t i = 0; i < e->missing_count; i++) {
        eddy_free(e->missing[i].file);
    }
    eddy_free(e->missing);
    eddy_free(e->dir);
    eddy_free(e->stream);
    eddy_free(e);
}

void shard_fsm_destroy(struct shard_fsm *f)
{
    for (size_t i = 0; i < f->bucket_count; i++) {
        struct shard_entry *e = f->buckets[i];
        while (e != NULL) {
            struct shard_entry *next = e->next;
            seg_store_close(e->store);
            shard_entry_free(e);
            e = next;
        }
    }
    eddy_free(f->buckets);
    eddy_free(f->dir);
    eddy_free(f);
}

static struct shard_entry **
shard_fsm_slot(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard)
{
    uint64_t h = shard_fsm_hash(stream, created_ms, shard);
    struct shard_entry **slot = &f->buckets[h & (f->bucket_count - 1)];
    while (*slot != NULL) {
        struct shard_entry *e = *slot;
        if (e->shard == shard && e->created_ms == created_ms && strcmp(e->stream, stream) == 0) {
            return slot;
        }
        slot = &e->next;
    }
    return slot;
}

struct shard_entry *
shard_fsm_entry(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard)
{
    return *shard_fsm_slot(f, stream, created_ms, shard);
}

struct seg_store *
shard_fsm_find(struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard)
{
    struct shard_entry *e = shard_fsm_entry(f, stream, created_ms, shard);
    return e != NULL ? e->store : NULL;
}

uint64_t shard_fsm_last_arrival_ms(const struct shard_fsm *f)
{
    return f->last_arrival_ms;
}

size_t shard_fsm_shard_count(const struct shard_fsm *f)
{
    return f->shard_count;
}

void shard_fsm_set_hydrate_cb(struct shard_fsm *f, shard_fsm_hydrate_cb cb, void *arg)
{
    f->hydrate_cb = cb;
    f->hydrate_arg = arg;
}

void shard_fsm_notify(struct shard_fsm *f)
{
    if (f->hydrate_cb != NULL) {
        f->hydrate_cb(f->hydrate_arg);
    }
}

static void shard_fsm_grow(struct shard_fsm *f)
{
    size_t count = f->bucket_count * 2;
    struct shard_entry **buckets = eddy_xcalloc(count, sizeof(*buckets));
    for (size_t i = 0; i < f->bucket_count; i++) {
        struct shard_entry *e = f->buckets[i];
        while (e != NULL) {
            struct shard_entry *next = e->next;
            uint64_t h = shard_fsm_hash(e->stream, e->created_ms, e->shard);
            e->next = buckets[h & (count - 1)];
            buckets[h & (count - 1)] = e;
            e = next;
        }
    }
    eddy_free(f->buckets);
    f->buckets = buckets;
    f->bucket_count = count;
}

static int shard_fsm_stream_dir(
    const struct shard_fsm *f, const char *stream, uint64_t created_ms, char *path, size_t size)
{
    int n =
        snprintf(path, size, "%s/shards/%s@%llu", f->dir, stream, (unsigned long long)created_ms);
    return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int shard_fsm_shard_path(const struct shard_fsm *f,
                         const char *stream,
                         uint64_t created_ms,
                         uint32_t shard,
                         char *path,
                         size_t size)
{
    int rv = shard_fsm_stream_dir(f, stream, created_ms, path, size);
    if (rv != 0) {
        return rv;
    }
    size_t len = strlen(path);
    int n = snprintf(path + len, size - len, "/%u", shard);
    return n > 0 && (size_t)n < size - len ? 0 : -ENAMETOOLONG;
}

static int shard_fsm_mkdirs(const struct shard_fsm *f, const char *stream, uint64_t created_ms)
{
    char path[SHARD_FSM_PATH_MAX];
    snprintf(path, sizeof(path), "%s/shards", f->dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    int rv = shard_fsm_stream_dir(f, stream, created_ms, path, sizeof(path));
    if (rv != 0) {
        return rv;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

int shard_fsm_open_shard(struct shard_fsm *f,
                         const char *stream,
                         uint64_t created_ms,
                         uint32_t shard)
{
    struct shard_entry **slot = shard_fsm_slot(f, stream, created_ms, shard);
    if (*slot != NULL) {
        return 0;
    }
    char path[SHARD_FSM_PATH_MAX];
    int rv = shard_fsm_mkdirs(f, stream, created_ms);
    if (rv != 0) {
        return rv;
    }
    rv = shard_fsm_shard_path(f, stream, created_ms, shard, path, sizeof(path));
    if (rv != 0) {
        return rv;
    }
    struct seg_store *store;
    rv = seg_store_open(path, &store);
    if (rv != 0) {
        LOG_ERROR("group=%u stream=%s shard=%u open failed: %s", f->group_id, stream, shard,
                  eddy_strerror(rv));
        return rv;
    }
    struct shard_entry *e = eddy_xcalloc(1, sizeof(*e));
    e->stream = eddy_xstrdup(stream);
    e->created_ms = created_ms;
    e->shard = shard;
    e->dir = eddy_xstrdup(path);
    e->store = store;
    *slot = e;
    f->shard_count++;
    if (f->shard_count > f->bucket_count) {
        shard_fsm_grow(f);
    }
    if (seg_store_last_arrival_ms(store) > f->last_arrival_ms) {
        f->last_arrival_ms = seg_store_last_arrival_ms(store);
    }
    return 0;
}

void shard_fsm_clear_missing(struct shard_fsm *f, struct shard_entry *e)
{
    if (e->missing_count == 0) {
        return;
    }
    for (size_t i = 0; i < e->missing_count; i++) {
        eddy_free(e->missing[i].file);
    }
    eddy_free(e->missing);
    e->missing = NULL;
    e->missing_count = 0;
    if (e->store != NULL) {
        seg_store_untrack_base(e->store);
    }
    EDDY_ASSERT(f->hydrating_count > 0);
    f->hydrating_count--;
}

void shard_fsm_forget_entry(struct shard_fsm *f, struct shard_entry *e)
{
    struct shard_entry **slot = shard_fsm_slot(f, e->stream, e->created_ms, e->shard);
    EDDY_ASSERT(*slot == e);
    *slot = e->next;
    shard_fsm_clear_missing(f, e);
    seg_store_close(e->store);
    shard_entry_free(e);
    f->shard_count--;
}

void shard_fsm_drop_entry(struct shard_fsm *f, struct shard_entry *e)
{
    int rv = seg_store_destroy(e->store);
    e->store = NULL;
    if (rv != 0) {
        LOG_WARN("group=%u stream=%s shard=%u destroy: %s", f->group_id, e->stream, e->shard,
                 eddy_strerror(rv));
    }
    shard_fsm_forget_entry(f, e);
}

static int shard_fsm_drop_stream(struct shard_fsm *f, const char *stream, uint64_t created_ms)
{
    bool was_hydrating = f->hydrating_count > 0;
    for (size_t i = 0; i < f->bucket_count; i++) {
        struct shard_entry *e = f->buckets[i];
        while (e != NULL) {
            struct shard_entry *next = e->next;
            if (e->created_ms == created_ms && strcmp(e->stream, stream) == 0) {
                shard_fsm_drop_entry(f, e);
            }
            e = next;
        }
    }
    char path[SHARD_FSM_PATH_MAX];
    if (shard_fsm_stream_dir(f, stream, created_ms, path, sizeof(path)) == 0) {
        rmdir(path);
    }
    if (was_hydrating) {
        shard_fsm_notify(f);
    }
    return 0;
}

static int shard_fsm_apply_records(struct shard_fsm *f,
                                   uint64_t index,
                                   const Eddy__GroupEntry *e,
                                   struct shard_fsm_result *res)
{
    res->count = e->n_records;
    res->codes = eddy_xcalloc(e->n_records ? e->n_records : 1, sizeof(*res->codes));
    res->seqs = eddy_xcalloc(e->n_records ? e->n_records : 1, sizeof(*res->seqs));
    res->arrival_ms = e->arrival_ms;
    for (size_t i = 0; i < e->n_records; i++) {
        const Eddy__EntryRecord *r = e->records[i];
        if (r->stream_ref >= e->n_streams || i > SEQNUM_PLACE_MAX || r->shard > SEQNUM_SHARD_MAX ||
            r->encryption > SEG_ENCRYPTION_KMS) {
            res->codes[i] = -EDDY_EMALFORMED;
            continue;
        }
        if (r->data.len > KIN_RECORD_DATA_LARGE_MAX) {
            /* Refused the same way on every replica, before the store
             * would refuse it and stop this one. */
            res->codes[i] = -EDDY_ETOOBIG;
            continue;
        }
        const Eddy__StreamRef *s = e->streams[r->stream_ref];
        struct shard_entry *se = shard_fsm_entry(f, s->name, s->created_ms, r->shard);
        if (se == NULL) {
            res->codes[i] = -EDDY_ENOTFOUND;
            continue;
        }
        if (se->closed) {
            res->codes[i] = -EDDY_ECLOSED; /* resharded: the gateway puts it on a child */
            continue;
        }
        struct seg_store *store = se->store;
        u128 seq = seqnum_make(index, r->shard, (uint32_t)i);
        res->seqs[i] = seq;
        if (!seg_store_is_empty(store) && seq <= seg_store_last_seq(store)) {
            continue; /* applied before a restart */
        }
        if (seq <= se->hydrate_last_seq) {
            continue; /* in a file of the restored manifest */
        }
        uint64_t arrival = e->arrival_ms;
        if (arrival < seg_store_last_arrival_ms(store)) {
            arrival = seg_store_last_arrival_ms(store);
        }
        struct seg_record rec = {
            .seq = seq,
            .arrival_ms = arrival,
            .raft_index = index,
            .partition_key = r->partition_key,
            .partition_key_len = strlen(r->partition_key),
            .data = r->data.data,
            .data_len = r->data.len,
            .encryption = (uint8_t)r->encryption,
        };
        int rv = seg_store_append(store, &rec);
        if (rv != 0) {
            /* A replica that cannot write its store must stop: continuing
             * would make it diverge from the others. */
            LOG_ERROR("group=%u stream=%s shard=%u append failed: %s", f->group_id, s->name,
                      r->shard, eddy_strerror(rv));
            return rv;
        }
    }
    return 0;
}

static void shard_fsm_result_free(void *data, void *result)
{
    (void)data;
    struct shard_fsm_result *res = result;
    if (res == NULL) {
        return;
    }
    eddy_free(res->codes);
    eddy_free(res->seqs);
    eddy_free(res);
}

static int
shard_fsm_apply(void *data, uint64_t index, const uint8_t *buf, size_t len, void **result)
{
    struct shard_fsm *f = data;
    *result = NULL;
    /* One arena for the entry's tree, not three mallocs per record on every
     * replica (eddy/pbarena.h); it holds the entry and half again. */
    struct pbarena *arena = pbarena_create(len + len / 2);
    EDDY_ASSERT(arena != NULL); /* a daemon aborts on out-of-memory */
    Eddy__GroupEntry *e = eddy__group_entry__unpack(pbarena_allocator(arena), len, buf);
    if (e == NULL) {
        EDDY_ASSERT(!pbarena_is_oom(arena));
        pbarena_destroy(arena);
        /* Entries are written by our own leaders; an undecodable one means a
         * corrupt log, which the replica must not paper over. */
        LOG_ERROR("group=%u index=%llu undecodable entry", f->group_id, (unsigned long long)index);
        return -EDDY_ECORRUPT;
    }
    int rv = 0;
    if (e->arrival_ms > f->last_arrival_ms) {
        f->last_arrival_ms = e->arrival_ms;
    }
    if (e->n_create_shards > 0 && e->n_streams > 0) {
        for (size_t i = 0; i < e->n_create_shards && rv == 0; i++) {
            rv = shard_fsm_open_shard(f, e->streams[0]->name, e->streams[0]->created_ms,
                                      e->create_shards[i]);
        }
    } else if (e->drop_stream && e->n_streams > 0) {
        rv = shard_fsm_drop_stream(f, e->streams[0]->name, e->streams[0]->created_ms);
    } else if (e->trim_before_ms > 0 && e->n_streams > 0) {
        shard_fsm_trim_stream(f, e->streams[0]->name, e->streams[0]->created_ms, e->trim_before_ms);
    } else if (e->n_close_shards > 0 && e->n_streams > 0) {
        struct shard_fsm_result *res = eddy_xcalloc(1, sizeof(*res));
        shard_fsm_apply_close(f, index, e, res);
        *result = res;
    } else if (e->n_records > 0) {
        struct shard_fsm_result *res = eddy_xcalloc(1, sizeof(*res));
        rv = shard_fsm_apply_records(f, index, e, res);
        if (rv == 0) {
            *result = res;
        } else {
            shard_fsm_result_free(f, res);
        }
    }
    f->applied_index = index;
    pbarena_destroy(arena);
    return rv;
}

struct manifest_build {
    Eddy__ShardManifest *m;
    size_t cap;
    const char *base; /* the store's tracked base, or NULL */
};

static void shard_fsm_manifest_add(struct manifest_build *b,
                                   const char *name,
                                   uint64_t bytes,
                                   uint32_t crc,
                                   bool sealed,
                                   uint64_t arrival_max_ms)
{
    if (b->m->n_segments == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->m->segments = eddy_xrealloc(b->m->segments, b->cap * sizeof(*b->m->segments));
    }
    Eddy__SegmentManifest *s = eddy_xmalloc(sizeof(*s));
    eddy__segment_manifest__init(s);
    s->file = eddy_xstrdup(name);
    s->bytes = bytes;
    s->crc32c = crc;
    s->sealed = sealed;
    s->arrival_max_ms = arrival_max_ms;
    b->m->segments[b->m->n_segments++] = s;
}

static void shard_fsm_manifest_file(void *arg, const struct seg_file_info *fi)
{
    struct manifest_build *b = arg;
    if (b->base != NULL && strcmp(fi->name, b->base) > 0) {
        return; /* after the base: described by the base's layout instead */
    }
    shard_fsm_manifest_add(b, fi->name, fi->bytes, fi->crc32c, fi->sealed, fi->arrival_max_ms);
}

static int shard_fsm_segment_cmp(const void *a, const void *b)
{
    const Eddy__SegmentManifest *x = *(Eddy__SegmentManifest *const *)a;
    const Eddy__SegmentManifest *y = *(Eddy__SegmentManifest *const *)b;
    return strcmp(x->file, y->file);
}

/* The manifest of one shard. A hydrating shard lists its missing files
 * too, as the manifest it restored described them, so that a restart
 * fetches them again instead of forgetting them. In place of a missing
 * active file and the store's files after it, it lists the files the peers
 * hold there (seg_store_base_files): the manifest is the one any replica
 * would write at this index, whatever it restores or serves to. */
static Eddy__ShardManifest *shard_fsm_manifest(struct shard_entry *e)
{
    Eddy__ShardManifest *m = eddy_xmalloc(sizeof(*m));
    eddy__shard_manifest__init(m);
    m->stream = e->stream; /* borrowed until packed */
    m->created_ms = e->created_ms;
    m->shard = e->shard;
    m->trim_before_ms = e->trim_before_ms;
    u128 last_seq = seg_store_last_seq(e->store);
    m->last_index = seg_store_last_index(e->store);
    struct manifest_build b = {.m = m, .cap = 0, .base = seg_store_base(e->store)};
    EDDY_ASSERT(b.base == NULL || e->missing_count > 0);
    seg_store_files(e->store, shard_fsm_manifest_file, &b);
    if (e->missing_count > 0) {
        for (size_t i = 0; i < e->missing_count; i++) {
            const struct shard_missing *x = &e->missing[i];
            if (!x->is_active) {
                shard_fsm_manifest_add(&b, x->file, x->bytes, x->crc32c, true, x->arrival_max_ms);
            }
        }
        b.base = NULL;
        seg_store_base_files(e->store, shard_fsm_manifest_file, &b);
        qsort(m->segments, m->n_segments, sizeof(*m->segments), shard_fsm_segment_cmp);
        if (last_seq < e->hydrate_last_seq) {
            last_seq = e->hydrate_last_seq;
            m->last_index = e->hydrate_last_index;
        }
    }
    m->last_sequence.data = eddy_xmalloc(16);
    m->last_sequence.len = 16;
    u128_to_be(last_seq, m->last_sequence.data);
    if (e->closed) {
        m->ending_sequence.data = eddy_xmalloc(16);
        m->ending_sequence.len = 16;
        u128_to_be(e->end_seq, m->ending_sequence.data);
    }
    return m;
}

static void shard_fsm_snapshot_free(Eddy__GroupSnapshot *snap)
{
    for (size_t i = 0; i < snap->n_shards; i++) {
        Eddy__ShardManifest *m = snap->shards[i];
        for (size_t j = 0; j < m->n_segments; j++) {
            eddy_free(m->segments[j]->file);
            eddy_free(m->segments[j]);
        }
        eddy_free(m->segments);
        eddy_free(m->last_sequence.data);
        eddy_free(m->ending_sequence.data);
        eddy_free(m);
    }
    eddy_free(snap->shards);
}

/* Makes every applied record durable, then describes the files: the Raft
 * log before this point may be dropped once this returns. */
static int shard_fsm_snapshot(void *data, uint8_t **buf, size_t *len)
{
    struct shard_fsm *f = data;
    Eddy__GroupSnapshot snap;
    eddy__group_snapshot__init(&snap);
    snap.applied_index = f->applied_index;
    snap.last_arrival_ms = f->last_arrival_ms;
    snap.shards = eddy_xcalloc(f->shard_count ? f->shard_count : 1, sizeof(*snap.shards));
    int rv = 0;
    for (size_t i = 0; i < f->bucket_count && rv == 0; i++) {
        for (struct shard_entry *e = f->buckets[i]; e != NULL && rv == 0; e = e->next) {
            rv = seg_store_sync(e->store);
            snap.shards[snap.n_shards++] = shard_fsm_manifest(e);
        }
    }
    if (rv == 0) {
        *len = eddy__group_snapshot__get_packed_size(&snap);
        *buf = eddy_xmalloc(*len ? *len : 1);
        eddy__group_snapshot__pack(&snap, *buf);
    }
    shard_fsm_snapshot_free(&snap);
    return rv;
}

void shard_fsm_adapter(struct shard_fsm *f, struct rgroup_fsm *out)
{
    out->data = f;
    out->apply = shard_fsm_apply;
    out->free_result = shard_fsm_result_free;
    out->snapshot = shard_fsm_snapshot;
    out->restore = shard_fsm_restore;
}
