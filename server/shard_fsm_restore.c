/*
 * Restore of a shard group snapshot manifest, and the hydration state it
 * leaves: per shard, the manifest files this replica lacks.
 *
 * Restore never fails for missing data. For each shard of the manifest the
 * local files are compared with the manifest's, by name:
 * - a local file is kept when the manifest lists it with the same length
 *   (and checksum, when the manifest has one), or when it is the manifest's
 *   newest file and longer (records appended after the snapshot);
 * - a local file the manifest does not list is kept when its first record is
 *   past the manifest's last sequence number (a file written after the
 *   snapshot) and it follows the newest file as on the peers: that file was
 *   sealed in the manifest or is sealed here (64 MiB or more). Otherwise it
 *   holds records the raft log replays, and it goes;
 * - files not kept are renamed "<name>.aside" (removed once the shard is
 *   whole) and the store is reopened over the kept ones;
 * - when every manifest file is kept the shard is whole (a restart, or a
 *   follower that was only a little behind). Otherwise the store's active
 *   file is sealed when a missing file would sort after it and the missing
 *   files are listed. When the manifest's active file (newest, not sealed)
 *   is missing, the store tracks it as its base (seg_store_track_base):
 *   records of later entries go into files of their own, and the fetched
 *   file is merged with them (shard_fsm_merge_begin), so that the files end
 *   as the peers'.
 * Shards the FSM holds and the manifest does not name were dropped before
 * the snapshot and are removed.
 */
#include "segment.h"
#include "shard_fsm.h"
#include "shard_fsm_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "group.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Files per shard a manifest may name: SEG_FILE_COUNT_MAX of segment.c. */
#define SHARD_FSM_MANIFEST_FILES_MAX 65536
#define SHARD_FSM_FILE_NAME_BYTES 37 /* 32 hex digits, ".seg", NUL */

/* One local file while a shard's manifest is compared with its store. */
struct shard_local {
    char name[SHARD_FSM_FILE_NAME_BYTES];
    uint64_t bytes;
    uint32_t crc32c;
    bool keep;
};

struct shard_plan {
    const Eddy__ShardManifest *m;
    u128 last_seq;
    struct shard_local *local; /* by name, as the store lists them */
    size_t local_count;
    size_t local_cap;
    bool *have; /* per manifest file: kept locally, or deleted here by retention */
    size_t missing_count;
    u128 trim_mark; /* files named up to it went by retention (seg_dir_trim_mark) */
};

/* ---- manifest checks ---- */

static int shard_fsm_manifest_check_shard(const Eddy__ShardManifest *m)
{
    if (m->stream == NULL || m->stream[0] == '\0') {
        return -EDDY_ECORRUPT;
    }
    if (m->last_sequence.len != 0 && m->last_sequence.len != 16) {
        return -EDDY_ECORRUPT;
    }
    if (m->ending_sequence.len != 0 && m->ending_sequence.len != 16) {
        return -EDDY_ECORRUPT;
    }
    if (m->n_segments > SHARD_FSM_MANIFEST_FILES_MAX) {
        return -EDDY_ECORRUPT;
    }
    for (size_t j = 0; j < m->n_segments; j++) {
        const Eddy__SegmentManifest *s = m->segments[j];
        if (!seg_file_name_is_valid(s->file) || s->bytes == 0) {
            return -EDDY_ECORRUPT;
        }
        if (j > 0 && strcmp(m->segments[j - 1]->file, s->file) >= 0) {
            return -EDDY_ECORRUPT;
        }
    }
    return 0;
}

/* A manifest comes from our own snapshots, but it is bytes from the disk or
 * the network all the same: names reach paths, so they are checked first. */
static int shard_fsm_manifest_check(const Eddy__GroupSnapshot *snap)
{
    for (size_t i = 0; i < snap->n_shards; i++) {
        int rv = shard_fsm_manifest_check_shard(snap->shards[i]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* ---- the plan of one shard ---- */

static void shard_plan_collect(void *arg, const struct seg_file_info *fi)
{
    struct shard_plan *p = arg;
    if (p->local_count == p->local_cap) {
        p->local_cap = p->local_cap ? p->local_cap * 2 : 8;
        p->local = eddy_xrealloc(p->local, p->local_cap * sizeof(*p->local));
    }
    struct shard_local *l = &p->local[p->local_count++];
    EDDY_ASSERT(strlen(fi->name) < sizeof(l->name));
    memcpy(l->name, fi->name, strlen(fi->name) + 1);
    l->bytes = fi->bytes;
    l->crc32c = fi->crc32c;
    l->keep = false;
}

/* Index of the manifest file named name, or n_segments. */
static size_t shard_plan_find(const Eddy__ShardManifest *m, const char *name)
{
    size_t lo = 0;
    size_t hi = m->n_segments;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->segments[mid]->file, name);
        if (c == 0) {
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return m->n_segments;
}

static bool shard_plan_matches(const struct shard_local *l, const Eddy__SegmentManifest *s)
{
    return l->bytes == s->bytes && (s->crc32c == 0 || l->crc32c == s->crc32c);
}

/* The manifest's active file: its newest, appended to after the snapshot
 * on every peer. */
static bool shard_plan_is_active(const Eddy__ShardManifest *m, size_t j)
{
    const Eddy__SegmentManifest *s = m->segments[j];
    return j + 1 == m->n_segments && !s->sealed && s->bytes < SEG_FILE_BYTES_MAX;
}

/* Decides which local files stay and which manifest files are missing. */
static void shard_plan_decide(struct shard_plan *p)
{
    const Eddy__ShardManifest *m = p->m;
    size_t n = m->n_segments;
    /* Files after the manifest's newest: on the peers they start only once
     * it is sealed. */
    bool follow = n == 0 || !shard_plan_is_active(m, n - 1);
    for (size_t i = 0; i < p->local_count; i++) {
        struct shard_local *l = &p->local[i];
        size_t j = shard_plan_find(m, l->name);
        if (j == n) {
            continue;
        }
        bool newest = j + 1 == n;
        l->keep =
            shard_plan_matches(l, m->segments[j]) || (newest && l->bytes > m->segments[j]->bytes);
        p->have[j] = l->keep;
        follow = follow || (newest && l->keep && l->bytes >= SEG_FILE_BYTES_MAX);
    }
    /* A trim applied after the snapshot deleted these here (and on every
     * peer); its entry is replayed. The newest of them was sealed by then. */
    for (size_t j = 0; j < n; j++) {
        if (!p->have[j] && seg_file_name_seq(m->segments[j]->file) <= p->trim_mark) {
            p->have[j] = true;
            follow = follow || j + 1 == n;
        }
    }
    for (size_t i = 0; i < p->local_count; i++) {
        struct shard_local *l = &p->local[i];
        if (shard_plan_find(m, l->name) == n) {
            l->keep = follow && seg_file_name_seq(l->name) > p->last_seq;
        }
    }
    for (size_t j = 0; j < n; j++) {
        p->missing_count += p->have[j] ? 0 : 1;
    }
}

static bool shard_plan_keep(void *arg, const char *name)
{
    const struct shard_plan *p = arg;
    for (size_t i = 0; i < p->local_count; i++) {
        if (strcmp(p->local[i].name, name) == 0) {
            return p->local[i].keep;
        }
    }
    return false; /* not in the store: a file the store ignored or cut */
}

static bool shard_plan_drops_any(const struct shard_plan *p)
{
    for (size_t i = 0; i < p->local_count; i++) {
        if (!p->local[i].keep) {
            return true;
        }
    }
    return false;
}

/* The next append must not land in a file older than a missing one. */
static bool shard_plan_needs_roll(const struct shard_plan *p)
{
    const char *newest_kept = NULL;
    for (size_t i = 0; i < p->local_count; i++) {
        if (p->local[i].keep) {
            newest_kept = p->local[i].name;
        }
    }
    const char *newest_missing = NULL;
    for (size_t j = 0; j < p->m->n_segments; j++) {
        if (!p->have[j]) {
            newest_missing = p->m->segments[j]->file;
        }
    }
    return newest_kept != NULL && newest_missing != NULL && strcmp(newest_kept, newest_missing) < 0;
}

/* ---- restoring one shard ---- */

/* Sets the files not kept aside and reopens the store over the others. */
static int shard_fsm_reopen(struct shard_fsm *f, struct shard_entry *e, struct shard_plan *p)
{
    seg_store_close(e->store);
    e->store = NULL;
    int rv = seg_dir_set_aside(e->dir, shard_plan_keep, p);
    if (rv >= 0) {
        rv = seg_store_open(e->dir, &e->store);
    }
    if (rv != 0) {
        LOG_ERROR("group=%u stream=%s shard=%u reopen for hydration failed: %s", f->group_id,
                  e->stream, e->shard, eddy_strerror(rv));
        shard_fsm_forget_entry(f, e); /* its files stay */
    }
    return rv;
}

static int shard_fsm_set_missing(struct shard_fsm *f, struct shard_entry *e, struct shard_plan *p)
{
    const Eddy__ShardManifest *m = p->m;
    EDDY_ASSERT(e->missing_count == 0);
    EDDY_ASSERT(p->missing_count > 0);
    size_t n = m->n_segments;
    if (!p->have[n - 1] && shard_plan_is_active(m, n - 1)) {
        const Eddy__SegmentManifest *s = m->segments[n - 1];
        int rv = seg_store_track_base(e->store, s->file, s->bytes, s->crc32c);
        if (rv != 0) {
            LOG_ERROR("group=%u stream=%s shard=%u track of file=%s failed: %s", f->group_id,
                      e->stream, e->shard, s->file, eddy_strerror(rv));
            return rv;
        }
        seg_store_base_set_arrival(e->store, s->arrival_max_ms);
    }
    e->missing = eddy_xcalloc(p->missing_count, sizeof(*e->missing));
    uint64_t bytes = 0;
    for (size_t j = 0; j < n; j++) {
        if (p->have[j]) {
            continue;
        }
        const Eddy__SegmentManifest *s = m->segments[j];
        e->missing[e->missing_count++] =
            (struct shard_missing){.file = eddy_xstrdup(s->file),
                                   .bytes = s->bytes,
                                   .crc32c = s->crc32c,
                                   .is_active = shard_plan_is_active(m, j),
                                   .arrival_max_ms = s->arrival_max_ms};
        bytes += s->bytes;
    }
    EDDY_ASSERT(e->missing_count == p->missing_count);
    e->hydrate_last_seq = p->last_seq;
    e->hydrate_last_index = m->last_index;
    f->hydrating_count++;
    size_t kept = 0;
    for (size_t i = 0; i < p->local_count; i++) {
        kept += p->local[i].keep ? 1 : 0;
    }
    LOG_INFO("group=%u stream=%s shard=%u hydrating files=%zu bytes=%" PRIu64 " kept=%zu",
             f->group_id, e->stream, e->shard, e->missing_count, bytes, kept);
    return 0;
}

/* Opens a shard whose store is damaged past repair (a sealed file failed
 * its checks) over an empty directory: everything is fetched again. */
static int shard_fsm_open_damaged(struct shard_fsm *f, const Eddy__ShardManifest *m)
{
    char path[SHARD_FSM_PATH_MAX];
    int rv = shard_fsm_shard_path(f, m->stream, m->created_ms, m->shard, path, sizeof(path));
    if (rv != 0) {
        return rv;
    }
    LOG_WARN("group=%u stream=%s shard=%u damaged files set aside, fetching from a peer",
             f->group_id, m->stream, m->shard);
    rv = seg_dir_set_aside(path, NULL, NULL);
    if (rv < 0) {
        return rv;
    }
    return shard_fsm_open_shard(f, m->stream, m->created_ms, m->shard);
}

/* The manifest's trim point, unless this replica applied a later one
 * (restart from an older snapshot: its trims are replayed anyway). */
static void shard_fsm_restore_horizon(struct shard_entry *e, const Eddy__ShardManifest *m)
{
    if (m->trim_before_ms > e->trim_before_ms) {
        e->trim_before_ms = m->trim_before_ms;
    }
    seg_store_set_horizon(e->store, e->trim_before_ms); /* a reopened store starts at 0 */
}

static int shard_fsm_restore_shard(struct shard_fsm *f, const Eddy__ShardManifest *m)
{
    int rv = shard_fsm_open_shard(f, m->stream, m->created_ms, m->shard);
    if (rv == -EDDY_ECORRUPT) {
        rv = shard_fsm_open_damaged(f, m);
    }
    if (rv != 0) {
        return rv;
    }
    struct shard_entry *e = shard_fsm_entry(f, m->stream, m->created_ms, m->shard);
    EDDY_ASSERT(e != NULL);
    e->seen = true;
    e->closed = m->ending_sequence.len == 16; /* resharding (shard_fsm_close.c) */
    e->end_seq = e->closed ? u128_from_be(m->ending_sequence.data) : 0;
    bool was_hydrating = e->missing_count > 0;
    shard_fsm_clear_missing(f, e); /* this manifest supersedes any earlier one */
    struct shard_plan p = {
        .m = m,
        .last_seq = m->last_sequence.len == 16 ? u128_from_be(m->last_sequence.data) : 0,
        .have = eddy_xcalloc(m->n_segments ? m->n_segments : 1, sizeof(bool)),
    };
    if (seg_dir_trim_mark(e->dir, &p.trim_mark) != 0) {
        p.trim_mark = 0; /* unreadable: files it named are fetched, if any peer has them */
    }
    seg_store_files(e->store, shard_plan_collect, &p);
    shard_plan_decide(&p);
    bool drops = shard_plan_drops_any(&p);
    if (drops) {
        rv = shard_fsm_reopen(f, e, &p);
        if (rv != 0) {
            goto out;
        }
    }
    if (p.missing_count == 0) {
        if (was_hydrating || drops) {
            seg_dir_remove_aside(e->dir);
        }
        goto out;
    }
    if (shard_plan_needs_roll(&p)) {
        rv = seg_store_roll(e->store);
        if (rv != 0) {
            goto out;
        }
    }
    rv = shard_fsm_set_missing(f, e, &p);
out:
    if (rv == 0) {
        shard_fsm_restore_horizon(e, m);
    }
    eddy_free(p.have);
    eddy_free(p.local);
    return rv;
}

static void shard_fsm_drop_unseen(struct shard_fsm *f)
{
    for (size_t i = 0; i < f->bucket_count; i++) {
        struct shard_entry *e = f->buckets[i];
        while (e != NULL) {
            struct shard_entry *next = e->next;
            if (!e->seen) {
                LOG_INFO("group=%u stream=%s shard=%u not in the restored manifest: dropped",
                         f->group_id, e->stream, e->shard);
                shard_fsm_drop_entry(f, e);
            }
            e = next;
        }
    }
}

int shard_fsm_restore(void *data, const uint8_t *buf, size_t len)
{
    struct shard_fsm *f = data;
    Eddy__GroupSnapshot *snap = eddy__group_snapshot__unpack(NULL, len, buf);
    if (snap == NULL) {
        return -EDDY_ECORRUPT;
    }
    int rv = shard_fsm_manifest_check(snap);
    if (rv != 0) {
        LOG_ERROR("group=%u snapshot manifest malformed", f->group_id);
        eddy__group_snapshot__free_unpacked(snap, NULL);
        return rv;
    }
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            e->seen = false;
        }
    }
    for (size_t i = 0; i < snap->n_shards && rv == 0; i++) {
        rv = shard_fsm_restore_shard(f, snap->shards[i]);
    }
    if (rv == 0) {
        shard_fsm_drop_unseen(f);
    }
    if (snap->applied_index > f->applied_index) {
        f->applied_index = snap->applied_index;
    }
    if (snap->last_arrival_ms > f->last_arrival_ms) {
        f->last_arrival_ms = snap->last_arrival_ms;
    }
    eddy__group_snapshot__free_unpacked(snap, NULL);
    shard_fsm_notify(f);
    return rv;
}

/* ---- the missing files ---- */

bool shard_fsm_is_hydrating(const struct shard_fsm *f)
{
    return f->hydrating_count > 0;
}

static void
shard_fsm_missing_fill(const struct shard_entry *e, size_t i, struct shard_fsm_missing *out)
{
    EDDY_ASSERT(i < e->missing_count);
    *out = (struct shard_fsm_missing){
        .stream = e->stream,
        .created_ms = e->created_ms,
        .shard = e->shard,
        .dir = e->dir,
        .file = e->missing[i].file,
        .bytes = e->missing[i].bytes,
        .crc32c = e->missing[i].crc32c,
        .is_active = e->missing[i].is_active,
    };
}

size_t shard_fsm_missing_count(const struct shard_fsm *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (const struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            n += e->missing_count;
        }
    }
    return n;
}

void shard_fsm_missing_files(const struct shard_fsm *f, shard_fsm_missing_cb cb, void *arg)
{
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (const struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            for (size_t j = 0; j < e->missing_count; j++) {
                struct shard_fsm_missing m;
                shard_fsm_missing_fill(e, j, &m);
                cb(arg, &m);
            }
        }
    }
}

bool shard_fsm_next_missing(const struct shard_fsm *f, struct shard_fsm_missing *out)
{
    if (f->hydrating_count == 0) {
        return false;
    }
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (const struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            if (e->missing_count > 0) {
                shard_fsm_missing_fill(e, 0, out);
                return true;
            }
        }
    }
    EDDY_ASSERT(!"hydrating_count without a shard missing files");
    return false;
}

static size_t shard_fsm_missing_find(const struct shard_entry *e, const char *name)
{
    for (size_t i = 0; i < e->missing_count; i++) {
        if (strcmp(e->missing[i].file, name) == 0) {
            return i;
        }
    }
    return e->missing_count;
}

/* Removes a fetched file the store will not take. */
static void shard_fsm_discard(
    struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard, const char *name)
{
    char path[SHARD_FSM_PATH_MAX];
    if (shard_fsm_shard_path(f, stream, created_ms, shard, path, sizeof(path)) != 0) {
        return;
    }
    size_t len = strlen(path);
    if ((size_t)snprintf(path + len, sizeof(path) - len, "/%s", name) >= sizeof(path) - len) {
        return;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        LOG_WARN("group=%u fetched file not removed path=%s err=%s", f->group_id, path,
                 eddy_strerror(-errno));
    }
}

/* The shard has every file its manifest named. */
void shard_fsm_hydrated(struct shard_fsm *f, struct shard_entry *e)
{
    eddy_free(e->missing);
    e->missing = NULL;
    EDDY_ASSERT(f->hydrating_count > 0);
    f->hydrating_count--;
    int n = seg_dir_remove_aside(e->dir);
    LOG_INFO("group=%u stream=%s shard=%u hydrated bytes=%" PRIu64 " aside_removed=%d", f->group_id,
             e->stream, e->shard, seg_store_bytes(e->store), n);
}

static int shard_fsm_import_check(struct shard_entry *e, const struct seg_import *imp, size_t *at)
{
    struct seg_file_info info;
    const char *name = seg_import_name(imp);
    if (e == NULL) {
        return -EDDY_ENOTFOUND;
    }
    if (seg_store_file(e->store, name, &info) == 0) {
        return -EDDY_EEXISTS;
    }
    *at = shard_fsm_missing_find(e, name);
    if (*at == e->missing_count) {
        return -EDDY_ENOTFOUND;
    }
    const struct shard_missing *x = &e->missing[*at];
    if (seg_import_bytes(imp) != x->bytes ||
        (x->crc32c != 0 && seg_import_crc32c(imp) != x->crc32c)) {
        return -EDDY_ECORRUPT;
    }
    return 0;
}

/* The missing file at has joined the store. */
static void shard_fsm_joined(struct shard_fsm *f, struct shard_entry *e, size_t at)
{
    LOG_DEBUG("group=%u stream=%s shard=%u fetched file=%s in the store, missing=%zu", f->group_id,
              e->stream, e->shard, e->missing[at].file, e->missing_count - 1);
    eddy_free(e->missing[at].file);
    memmove(&e->missing[at], &e->missing[at + 1],
            (e->missing_count - at - 1) * sizeof(*e->missing));
    e->missing_count--;
    if (e->missing_count == 0) {
        shard_fsm_hydrated(f, e);
    }
    shard_fsm_notify(f);
}

/* shard_fsm_import of an active file: renamed "<name>.part" and merged on
 * the calling thread. */
static int shard_fsm_import_active(struct shard_fsm *f, struct shard_entry *e, const char *name)
{
    char path[SHARD_FSM_PATH_MAX];
    char part[SHARD_FSM_PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", e->dir, name) >= sizeof(path) ||
        (size_t)snprintf(part, sizeof(part), "%s.part", path) >= sizeof(part)) {
        return -ENAMETOOLONG;
    }
    if (rename(path, part) != 0) {
        return -errno;
    }
    struct seg_merge *m = NULL;
    int rv = shard_fsm_merge_begin(f, e->stream, e->created_ms, e->shard, name, &m);
    while (rv == 0) {
        rv = seg_merge_copy(m);
        if (rv == 0) {
            rv = shard_fsm_merge_end(f, e->stream, e->created_ms, e->shard, m);
        }
        if (rv != SEG_MERGE_AGAIN) {
            break;
        }
        rv = 0;
    }
    if (m == NULL) {
        unlink(part);
    }
    seg_merge_free(m); /* removes the part file unless merged */
    return rv;
}

int shard_fsm_import(struct shard_fsm *f,
                     const char *stream,
                     uint64_t created_ms,
                     uint32_t shard,
                     struct seg_import *imp)
{
    EDDY_ASSERT(imp != NULL);
    char name[SHARD_FSM_FILE_NAME_BYTES];
    EDDY_ASSERT(strlen(seg_import_name(imp)) < sizeof(name));
    memcpy(name, seg_import_name(imp), strlen(seg_import_name(imp)) + 1);
    struct shard_entry *e = shard_fsm_entry(f, stream, created_ms, shard);
    size_t at = 0;
    int rv = shard_fsm_import_check(e, imp, &at);
    if (rv == 0 && !e->missing[at].is_active) {
        rv = seg_store_import(e->store, imp);
        if (rv == 0) {
            shard_fsm_joined(f, e, at);
        }
    } else {
        seg_import_free(imp);
        if (rv == 0) {
            rv = shard_fsm_import_active(f, e, name); /* joined when it succeeds */
        }
    }
    if (rv != 0) {
        LOG_WARN("group=%u stream=%s shard=%u fetched file=%s not imported: %s", f->group_id,
                 stream, shard, name, eddy_strerror(rv));
        if (rv != -EDDY_EEXISTS) {
            shard_fsm_discard(f, stream, created_ms, shard, name);
        }
    }
    return rv;
}

/* The shard's missing active file named name, or NULL. */
static struct shard_missing *shard_fsm_missing_active(struct shard_entry *e, const char *name)
{
    size_t at = e != NULL ? shard_fsm_missing_find(e, name) : 0;
    if (e == NULL || at == e->missing_count || !e->missing[at].is_active) {
        return NULL;
    }
    return &e->missing[at];
}

int shard_fsm_merge_begin(struct shard_fsm *f,
                          const char *stream,
                          uint64_t created_ms,
                          uint32_t shard,
                          const char *file,
                          struct seg_merge **out)
{
    EDDY_ASSERT(out != NULL);
    *out = NULL;
    struct shard_entry *e = shard_fsm_entry(f, stream, created_ms, shard);
    if (shard_fsm_missing_active(e, file) == NULL) {
        return -EDDY_ENOTFOUND;
    }
    /* restore tracks the missing active file; only a merge untracks it */
    EDDY_ASSERT(seg_store_base(e->store) != NULL);
    EDDY_ASSERT(strcmp(seg_store_base(e->store), file) == 0);
    return seg_merge_create(e->store, out);
}

int shard_fsm_merge_end(struct shard_fsm *f,
                        const char *stream,
                        uint64_t created_ms,
                        uint32_t shard,
                        struct seg_merge *m)
{
    EDDY_ASSERT(m != NULL);
    struct shard_entry *e = shard_fsm_entry(f, stream, created_ms, shard);
    const struct shard_missing *x = shard_fsm_missing_active(e, seg_merge_name(m));
    if (x == NULL) {
        return -EDDY_ENOTFOUND;
    }
    if (seg_merge_base_bytes(m) != x->bytes ||
        (x->crc32c != 0 && seg_merge_base_crc32c(m) != x->crc32c)) {
        return -EDDY_ECORRUPT;
    }
    int rv = seg_merge_finish(e->store, m);
    if (rv == 0) {
        shard_fsm_joined(f, e, (size_t)(x - e->missing));
    }
    return rv;
}
