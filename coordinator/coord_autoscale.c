/* On-demand scaling on the coordinator leader: see coord_autoscale.h. */
#include "coord_autoscale.h"
#include "catalog.h"
#include "catalog_reshard.h"
#include "coord_internal.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/log.h"

#include <inttypes.h>

void coord_autoscale_init(struct coord_autoscale *a,
                          unsigned sustain_ms,
                          uint64_t write_bytes_per_s,
                          uint64_t write_records_per_s,
                          uint32_t account_shard_limit)
{
    bool defaults = write_bytes_per_s == 0 && write_records_per_s == 0;
    struct autoscale_config cfg = {
        .write_bytes_per_s = defaults ? COORD_AUTOSCALE_BYTES_PER_S_DEFAULT : write_bytes_per_s,
        .write_records_per_s =
            defaults ? COORD_AUTOSCALE_RECORDS_PER_S_DEFAULT : write_records_per_s,
        .sustain_ms = sustain_ms != 0 ? sustain_ms : COORD_AUTOSCALE_SUSTAIN_MS_DEFAULT,
        .stale_ms = COORD_AUTOSCALE_STALE_MS,
        .account_shard_limit = account_shard_limit != 0 ? account_shard_limit : COORD_SHARDS_MAX,
        .stream_shards_max = COORD_STREAM_SHARDS_MAX,
    };
    a->is_proposing = false;
    a->next_look_ms = 0;
    a->splits = 0;
    autoscale_init(&a->decide, &cfg);
}

void coord_autoscale_reset(struct coord_autoscale *a)
{
    autoscale_reset(&a->decide);
}

void coord_autoscale_on_heartbeat(struct coord *c, const Eddy__HeartbeatReq *hb)
{
    uint64_t now_ms = uv_now(c->loop);
    size_t n = hb->n_shard_loads < COORD_REPORT_SHARD_LOADS_MAX ? hb->n_shard_loads
                                                                : COORD_REPORT_SHARD_LOADS_MAX;
    for (size_t i = 0; i < n; i++) {
        if (hb->shard_loads[i] != NULL) {
            autoscale_observe(&c->autoscale.decide, hb->shard_loads[i], now_ms);
        }
    }
}

void coord_autoscale_on_proposed(struct coord *c, int code)
{
    EDDY_ASSERT(c->autoscale.is_proposing);
    c->autoscale.is_proposing = false;
    if (code != 0) {
        /* The stream changed under it (deleted, UPDATING for a settings
         * change, a client's reshard first): the next look decides again. */
        LOG_INFO("on-demand split not begun code=%d err=%s", code, eddy_strerror(code));
    }
}

void coord_autoscale_run(struct coord *c)
{
    struct coord_autoscale *a = &c->autoscale;
    uint64_t now_ms = uv_now(c->loop);
    if (a->is_proposing || now_ms < a->next_look_ms ||
        c->client_ops_inflight >= COORD_PROPOSALS_INFLIGHT_MAX) {
        return;
    }
    a->next_look_ms = now_ms + COORD_AUTOSCALE_INTERVAL_MS;
    struct autoscale_split sp;
    if (!autoscale_pick(&a->decide, catalog_get(c->catalog), now_ms, &sp)) {
        return;
    }
    const Eddy__StreamInfo *s = catalog_find_stream(c->catalog, sp.stream);
    EDDY_ASSERT(s != NULL); /* autoscale_pick found it in this catalogue */
    size_t open = catalog_stream_open_count(s);
    struct coord_op *op = eddy_xcalloc(1, sizeof(*op));
    op->kind = COORD_OP_AUTOSCALE;
    int rv = coord_reshard_begin_split(c, s, sp.shard, sp.new_start, op);
    if (rv != 0) {
        eddy_free(op);
        LOG_WARN("on-demand split refused stream=%s shard=%" PRIu32 " code=%d err=%s", sp.stream,
                 sp.shard, rv, eddy_strerror(rv));
        autoscale_forget(&a->decide, sp.stream, sp.created_ms, sp.shard);
        return;
    }
    a->is_proposing = true;
    a->splits++;
    /* Its children start over; so does it, should the begin fail. */
    autoscale_forget(&a->decide, sp.stream, sp.created_ms, sp.shard);
    LOG_INFO("on-demand split stream=%s shard=%" PRIu32 " bytes_per_s=%" PRIu64
             " records_per_s=%" PRIu64 " busy_ms=%" PRIu64 " open=%zu splits=%" PRIu64,
             sp.stream, sp.shard, sp.bytes_per_s, sp.records_per_s, sp.busy_ms, open + 1,
             a->splits);
}
