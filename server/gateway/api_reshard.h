/*
 * Resharding in the gateway: the requests of SplitShard (api_split_shard.c),
 * MergeShards (api_merge_shards.c) and UpdateShardCount
 * (api_update_shard_count.c), and what they and the data plane share
 * (api_reshard.c, api_put_route.c): shard lineage in a catalogue and puts
 * that follow a reshard.
 *
 * A begun reshard (coordinator/catalog_reshard.h) has appended its children
 * to the stream while their parents are still open: those "pending" children
 * are the stream's last shards. The API shows none of them (DescribeStream,
 * ListShards and OpenShardCount show the stream as it was, UPDATING, as AWS
 * does) until the reshard finishes. Puts still go to the parents: a parent's
 * group refuses them with -EDDY_ECLOSED once it closed the shard, and
 * api_put_send puts them again on the child that covers their hash key.
 *
 * Included by api.h only, inside its requests section.
 */
#ifndef EDDY_GW_API_RESHARD_H
#define EDDY_GW_API_RESHARD_H

#include "catalog.pb-c.h"
#include "eddy/u128.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_call;
struct backend_put;

/* Rounds of api_put_send: a record meets one closed shard per round, a
 * parent and then each short-lived child of an UpdateShardCount chain (a
 * shard split at most at a few boundaries, then merged a few times). More
 * means the catalogue is not moving: the record fails, unwritten. */
#define API_PUT_REROUTES_MAX 8

/* A ShardId member as given and the shard it names (api_parse_shard_id). */
struct api_shard_ref {
    char text[KIN_SHARD_ID_LEN_MAX + 1];
    bool ok; /* names a shard number */
    uint32_t index;
};

struct api_split_shard_req {
    char name[API_NAME_TEXT_MAX];
    struct api_shard_ref shard;
    char hash_text[U128_DECIMAL_LEN_MAX + 2]; /* NewStartingHashKey as given */
    bool hash_too_big;                        /* 39 digits and >= 2^128 */
    u128 new_start;
};

struct api_merge_shards_req {
    char name[API_NAME_TEXT_MAX];
    struct api_shard_ref shard;
    struct api_shard_ref adjacent;
};

struct api_update_shard_count_req {
    char name[API_NAME_TEXT_MAX];
    uint32_t target;
    uint32_t current; /* set by the runner: the open shards before the change */
};

int api_split_shard_decode(const cJSON *root,
                           const struct api_config *cfg,
                           struct api_split_shard_req *r,
                           struct api_error *e);
int api_merge_shards_decode(const cJSON *root,
                            const struct api_config *cfg,
                            struct api_merge_shards_req *r,
                            struct api_error *e);
int api_update_shard_count_decode(const cJSON *root,
                                  const struct api_config *cfg,
                                  struct api_update_shard_count_req *r,
                                  struct api_error *e);
void api_split_shard_run(struct api_call *c);
void api_merge_shards_run(struct api_call *c);
void api_update_shard_count_run(struct api_call *c);

/* ---- lineage (api_reshard.c) ---- */

/* Shards of st the API shows: all but the pending children. */
size_t api_reshard_settled_count(const Eddy__StreamInfo *st);
/* The shard numbered index among the shown ones, or NULL. */
const Eddy__ShardInfo *api_reshard_find(const Eddy__StreamInfo *st, uint32_t index);
/* Open shards among the shown ones (a closing parent counts: it still is). */
size_t api_reshard_open_count(const Eddy__StreamInfo *st);
/* Open shards of every stream of cat: the account's shard count. */
uint64_t api_reshard_account_open_count(const Eddy__Catalog *cat);
/* Where a put of hash goes after shard `after` refused it as closed: the
 * lowest-numbered open shard above it that holds hash (its child, or the
 * child's child for a short-lived one). NULL when the catalogue shows none. */
const Eddy__ShardInfo *
api_reshard_route_after(const Eddy__StreamInfo *st, u128 hash, uint32_t after);

/* The state of the common errors, with the AWS messages; each fails the
 * call and returns false, or returns true. */
bool api_reshard_require_stream(struct api_call *c, const char *name, const Eddy__StreamInfo *st);
bool api_reshard_require_active(struct api_call *c, const char *name, const Eddy__StreamInfo *st);
/* The shard ref names a shown shard of st ("Could not find shard ..."). */
const Eddy__ShardInfo *api_reshard_require_shard(struct api_call *c,
                                                 const char *name,
                                                 const Eddy__StreamInfo *st,
                                                 const struct api_shard_ref *ref);
/* The shard is open and no reshard closes it ("has already been merged or
 * split"). */
bool api_reshard_require_open(struct api_call *c,
                              const char *name,
                              const Eddy__StreamInfo *st,
                              const Eddy__ShardInfo *sh);
/* Sends req and answers the call: empty (Split, Merge) or with done's
 * output (UpdateShardCount, done non-NULL), or the error the coordinator's
 * refusal maps to. */
void api_reshard_send(struct api_call *c,
                      const char *name,
                      const Eddy__ReshardReq *req,
                      void (*done)(struct api_call *c));
/* Reads a ShardId member into ref (validated by the caller). */
void api_reshard_shard_ref(const struct json_str *s, struct api_shard_ref *ref);

/* ---- puts across a reshard (api_put_route.c) ---- */

/* Called once, with the call as arg, with the outcome of api_put_send (a
 * backend_put_cb): recs[i].shard is where each record went in the end. */
typedef void (*api_put_done_cb)(void *arg, int status, struct backend_put *recs, size_t n);
/* backend_put, and for each record a closed shard refused (-EDDY_ECLOSED):
 * the catalogue again from the coordinator, and the record put again on the
 * shard that now holds its hash (hashes[i], copied), at most
 * API_PUT_REROUTES_MAX times. A record refused so was not written, so
 * putting it again neither loses nor duplicates it. recs (borrowed until
 * cb) are the caller's; st is borrowed during the call only. */
void api_put_send(struct api_call *c,
                  const Eddy__StreamInfo *st,
                  struct backend_put *recs,
                  const u128 *hashes,
                  size_t n,
                  api_put_done_cb cb);

#endif
