/*
 * Retention in the shard group state machine (shard_fsm_internal.h): a
 * GroupEntry with trim_before_ms trims every shard of streams[0] that the
 * group holds, the same way on every replica, since it depends only on the
 * entry and on the files, which are the same on every replica:
 *
 * - the shard's trim point becomes before_ms (it never goes back) and is
 *   its store's read horizon: reads skip records that arrived before it;
 * - the files of its layout whose records all arrived before before_ms go,
 *   sealed ones only and never the newest (it carries the shard's last
 *   sequence number and Raft index across restarts). Arrival times never
 *   decrease across files, so they are always the oldest files.
 *
 * The layout is the one the peers hold: for a hydrating shard, its local
 * files plus the files it still lacks (deleted from the missing list
 * instead, so that it never fetches a file its peers deleted), and in place
 * of a tracked base and the files after it, the base's layout (never
 * trimmed here: a merge may be using those files; see server/README.md,
 * "Retention"). The directory's trim mark is raised before anything goes.
 */
#include "segment.h"
#include "shard_fsm.h"
#include "shard_fsm_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <string.h>

#define SHARD_TRIM_NAME_BYTES 37 /* 32 hex digits, ".seg", NUL */

/* The newest name of a file list. */
struct shard_trim_newest {
    char name[SHARD_TRIM_NAME_BYTES];
    const char *base; /* the store's tracked base: local files after it are skipped */
};

static void shard_trim_note(struct shard_trim_newest *n, const char *name)
{
    EDDY_ASSERT(strlen(name) < sizeof(n->name));
    if (strcmp(name, n->name) > 0) {
        memcpy(n->name, name, strlen(name) + 1);
    }
}

static void shard_trim_newest_cb(void *arg, const struct seg_file_info *fi)
{
    struct shard_trim_newest *n = arg;
    if (n->base == NULL || strcmp(fi->name, n->base) < 0) {
        shard_trim_note(n, fi->name);
    }
}

/* The newest file of the layout the peers hold for the shard: its local
 * files (up to a tracked base), the files it lacks, the base's layout. */
static void shard_trim_layout_newest(const struct shard_entry *e, struct shard_trim_newest *n)
{
    memset(n, 0, sizeof(*n));
    n->base = seg_store_base(e->store);
    seg_store_files(e->store, shard_trim_newest_cb, n);
    n->base = NULL;
    seg_store_base_files(e->store, shard_trim_newest_cb, n);
    for (size_t i = 0; i < e->missing_count; i++) {
        shard_trim_note(n, e->missing[i].file);
    }
}

/* The newest file the trim may delete: of the store's files and of the
 * missing ones whose arrival time the manifest gave. Files before it go
 * too, whatever their arrival (it is not after this one's). */
static bool
shard_trim_point(const struct shard_entry *e, uint64_t before_ms, char point[SHARD_TRIM_NAME_BYTES])
{
    struct shard_trim_newest newest;
    shard_trim_layout_newest(e, &newest);
    if (newest.name[0] == '\0') {
        return false; /* no file at all */
    }
    point[0] = '\0';
    const char *local = seg_store_trim_point(e->store, before_ms, newest.name);
    if (local != NULL) {
        memcpy(point, local, strlen(local) + 1);
    }
    for (size_t i = 0; i < e->missing_count; i++) {
        const struct shard_missing *x = &e->missing[i];
        if (!x->is_active && x->arrival_max_ms != 0 && x->arrival_max_ms < before_ms &&
            strcmp(x->file, newest.name) < 0 && strcmp(x->file, point) > 0) {
            EDDY_ASSERT(strlen(x->file) < SHARD_TRIM_NAME_BYTES);
            memcpy(point, x->file, strlen(x->file) + 1);
        }
    }
    return point[0] != '\0';
}

/* Forgets the missing files named upto or below; true when any went. */
static bool shard_trim_missing(struct shard_fsm *f, struct shard_entry *e, const char *upto)
{
    size_t kept = 0;
    size_t dropped = 0;
    for (size_t i = 0; i < e->missing_count; i++) {
        struct shard_missing *x = &e->missing[i];
        if (!x->is_active && strcmp(x->file, upto) <= 0) {
            LOG_INFO("group=%u stream=%s shard=%u missing file=%s trimmed by retention, not "
                     "fetched",
                     f->group_id, e->stream, e->shard, x->file);
            eddy_free(x->file);
            dropped++;
            continue;
        }
        e->missing[kept++] = *x;
    }
    e->missing_count = kept;
    if (dropped > 0 && kept == 0) {
        shard_fsm_hydrated(f, e);
    }
    return dropped > 0;
}

/* Trims one shard; true when its missing list changed. */
static bool shard_trim_entry(struct shard_fsm *f, struct shard_entry *e, uint64_t before_ms)
{
    if (before_ms > e->trim_before_ms) {
        e->trim_before_ms = before_ms;
    }
    seg_store_set_horizon(e->store, e->trim_before_ms);
    char point[SHARD_TRIM_NAME_BYTES];
    if (!shard_trim_point(e, e->trim_before_ms, point)) {
        return false;
    }
    int rv = seg_store_raise_trim_mark(e->store, point);
    if (rv != 0) {
        LOG_WARN("group=%u stream=%s shard=%u trim postponed: %s", f->group_id, e->stream, e->shard,
                 eddy_strerror(rv));
        return false;
    }
    bool changed = e->missing_count > 0 && shard_trim_missing(f, e, point);
    rv = seg_store_trim_upto(e->store, point);
    if (rv < 0) {
        LOG_WARN("group=%u stream=%s shard=%u trim incomplete: %s", f->group_id, e->stream,
                 e->shard, eddy_strerror(rv));
    }
    return changed;
}

void shard_fsm_trim_stream(struct shard_fsm *f,
                           const char *stream,
                           uint64_t created_ms,
                           uint64_t before_ms)
{
    EDDY_ASSERT(stream != NULL);
    bool changed = false;
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            if (e->created_ms == created_ms && strcmp(e->stream, stream) == 0 && e->store != NULL) {
                changed = shard_trim_entry(f, e, before_ms) || changed;
            }
        }
    }
    if (changed) {
        shard_fsm_notify(f);
    }
}

bool shard_fsm_trim_is_noop(struct shard_fsm *f,
                            const char *stream,
                            uint64_t created_ms,
                            uint64_t before_ms)
{
    EDDY_ASSERT(stream != NULL);
    for (size_t i = 0; i < f->bucket_count; i++) {
        for (struct shard_entry *e = f->buckets[i]; e != NULL; e = e->next) {
            if (e->created_ms != created_ms || strcmp(e->stream, stream) != 0 || e->store == NULL) {
                continue;
            }
            char point[SHARD_TRIM_NAME_BYTES];
            if (e->missing_count > 0 ||
                seg_store_has_arrivals(e->store, e->trim_before_ms, before_ms) ||
                shard_trim_point(e, before_ms > e->trim_before_ms ? before_ms : e->trim_before_ms,
                                 point)) {
                return false;
            }
        }
    }
    return true;
}
