/*
 * Closing shards (resharding; coordinator/coord_reshard.h): a GroupEntry
 * with close_shards closes shards of streams[0]. From that entry on, records
 * for a closed shard fail with -EDDY_ECLOSED on every replica alike (the
 * gateway puts them again on a child), so nothing is ever appended after
 * the close, whichever entries the leader had in flight.
 *
 * The ending sequence number is the value of the close entry's own Raft
 * index in the shard's layout (place 0): above every record the shard
 * holds, since each was applied from an earlier entry, and in the shard's
 * own numbering, as AWS's EndingSequenceNumber is (kinesalite's tests run
 * against AWS show it above the last record rather than equal to it). An
 * empty shard gets one the same way. Closing a closed shard again answers
 * the same number: the coordinator may ask twice across a leader change.
 *
 * The state is the shard entry's `closed` and `end_seq`; snapshots carry it
 * as ShardManifest.ending_sequence (shard_fsm.c, shard_fsm_restore.c).
 */
#include "shard_fsm.h"
#include "shard_fsm_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"
#include "eddy/seqnum.h"

void shard_fsm_apply_close(struct shard_fsm *f,
                           uint64_t index,
                           const Eddy__GroupEntry *e,
                           struct shard_fsm_result *res)
{
    EDDY_ASSERT(e->n_streams > 0);
    size_t n = e->n_close_shards;
    res->count = n;
    res->codes = eddy_xcalloc(n ? n : 1, sizeof(*res->codes));
    res->seqs = eddy_xcalloc(n ? n : 1, sizeof(*res->seqs));
    res->arrival_ms = e->arrival_ms;
    const Eddy__StreamRef *s = e->streams[0];
    for (size_t i = 0; i < n; i++) {
        uint32_t shard = e->close_shards[i];
        struct shard_entry *se =
            shard > SEQNUM_SHARD_MAX ? NULL : shard_fsm_entry(f, s->name, s->created_ms, shard);
        if (se == NULL || index > SEQNUM_INDEX_MAX) {
            res->codes[i] = -EDDY_ENOTFOUND;
            continue;
        }
        if (!se->closed) {
            se->closed = true;
            se->end_seq = seqnum_make(index, shard, 0);
            LOG_INFO("group=%u stream=%s shard=%u closed index=%llu", f->group_id, s->name, shard,
                     (unsigned long long)index);
        }
        res->seqs[i] = se->end_seq;
    }
}

bool shard_fsm_shard_end(
    struct shard_fsm *f, const char *stream, uint64_t created_ms, uint32_t shard, u128 *end_seq)
{
    struct shard_entry *e = shard_fsm_entry(f, stream, created_ms, shard);
    if (e == NULL || !e->closed) {
        return false;
    }
    *end_seq = e->end_seq;
    return true;
}
