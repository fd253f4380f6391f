/*
 * Replica hydration: copying from a peer replica the segment files that a
 * restored snapshot manifest names and this replica lacks, and serving such
 * copies to others. Protocol: server/README.md, "Hydration".
 *
 * Fetch side: one struct hydrate per group, fed by its shard_fsm. While the
 * FSM lists missing files it fetches them one at a time, one FetchSegment
 * call of at most chunk_bytes in flight, from the sources the owner names
 * (the leader hint first, then the other voters). Each chunk goes to
 * "<shard dir>/<file>.part" through libuv fs requests; a complete file is
 * checked against the manifest's length and checksum, fsynced, renamed into
 * place, the directory fsynced, and the file scanned, all on the
 * threadpool; shard_fsm_import then adds it to the store on the loop. The
 * manifest's active file is instead merged, in its part file, with the
 * records the shard got since the manifest (seg_merge_copy on the
 * threadpool, shard_fsm_merge_end on the loop), so that the replica's files
 * end byte for byte as its peers'. A failed call, a short or damaged chunk,
 * a checksum, import or merge failure moves to the next source; once every
 * source failed the fetcher backs off, doubling from retry_ms_min to
 * retry_ms_max, and starts over.
 *
 * The owner hears of the group's state through state_cb (hydrating or
 * not), never from inside a call into this module or into the FSM; it makes
 * the replica neither serve nor lead meanwhile (rgroup_set_hydrating).
 *
 * Serve side (hydrate_serve.c): hydrate_serve answers one FetchSegmentReq
 * from a shard's store with pread on the threadpool. Any replica serves any
 * file its store lists, leader or not.
 *
 * Lifecycle: hydrate_init -> (the FSM's changes drive it) ->
 * hydrate_close(cb); the FSM must outlive the close callback. All calls on
 * the loop thread.
 */
#ifndef EDDY_HYDRATE_H
#define EDDY_HYDRATE_H

#include "eddy/rpc.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct hydrate;
struct shard_fsm;
struct seg_store;

/* A node that may hold replicas, and where its RPC server listens. */
struct hydrate_peer {
    uint64_t node_id;
    const char *rpc_address;
};

/* Fills node_ids with the nodes to ask, best first; returns how many (at
 * most max). */
typedef unsigned (*hydrate_sources_cb)(void *arg, uint64_t *node_ids, unsigned max);
/* The group started or stopped lacking data. */
typedef void (*hydrate_state_cb)(void *arg, bool is_hydrating);

struct hydrate_config {
    uint32_t group_id;
    uint64_t node_id;                 /* this replica: never asked */
    const struct hydrate_peer *peers; /* node id -> RPC address; copied */
    unsigned peer_count;
    uint32_t chunk_bytes;       /* 0: HYDRATE_CHUNK_BYTES; at most HYDRATE_SERVE_BYTES_MAX */
    unsigned retry_ms_min;      /* 0: HYDRATE_RETRY_MS_MIN */
    unsigned retry_ms_max;      /* 0: HYDRATE_RETRY_MS_MAX */
    unsigned call_timeout_ms;   /* 0: HYDRATE_CALL_TIMEOUT_MS */
    hydrate_sources_cb sources; /* preferred sources or NULL; every other peer follows */
    hydrate_state_cb state;     /* may be NULL */
    void *arg;
};

struct hydrate_stats {
    uint64_t files_fetched;
    uint64_t bytes_fetched; /* of files imported */
    uint64_t failures;      /* attempts that failed: calls, chunks, checks, imports */
};

/* fsm is borrowed until hydrate_close's callback. Starts at once if the FSM
 * already lacks files. -EDDY_EINVAL for a bad config. */
int hydrate_init(struct hydrate **out,
                 uv_loop_t *loop,
                 struct shard_fsm *fsm,
                 const struct hydrate_config *cfg);
/* As last reported through state_cb. */
bool hydrate_is_hydrating(const struct hydrate *h);
void hydrate_stats(const struct hydrate *h, struct hydrate_stats *out);
/* Stops: no callback but cb(arg) runs any more, once the fetch in flight
 * and every handle have finished; never synchronously. */
void hydrate_close(struct hydrate *h, void (*cb)(void *arg), void *arg);

/* ---- serving ---- */

typedef void (*hydrate_served_cb)(void *arg);

/* Answers call, a FetchSegmentReq for a file of store (NULL when this node
 * has no such shard: -EDDY_ENOTFOUND), with at most HYDRATE_SERVE_BYTES_MAX
 * bytes from req->offset and the file's current length. Only names the
 * store lists are read. store is borrowed until this returns; the read runs
 * on the threadpool over its own file descriptor. Returns 0 when a read was
 * queued: done(arg) runs once its reply is sent. Otherwise the call was
 * answered with the error returned, and done is not called. */
int hydrate_serve(uv_loop_t *loop,
                  struct seg_store *store,
                  struct rpc_call *call,
                  hydrate_served_cb done,
                  void *arg);

#endif
