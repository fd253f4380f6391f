/*
 * Bounds of the coordinator: the catalogue it replicates, the requests it
 * queues and the reconciler's fan-out. Each bound has its reason. The
 * catalogue must fit one RPC frame (GetCatalog answers it whole) and one
 * Raft entry/snapshot held in memory (notes/raft-0.15.md 5.2: InstallSnapshot
 * is one unchunked message), so the sizes below are checked against both.
 */
#ifndef EDDY_COORD_LIMITS_H
#define EDDY_COORD_LIMITS_H

#include "eddy/limits.h"
#include "eddy/seqnum.h"

#include <assert.h>

/* Streams in the catalogue, whatever their status. Kinesis has no stream
 * count quota of its own (the shard quota binds first); this keeps lookups
 * by linear scan cheap and the snapshot small. */
#define COORD_STREAMS_MAX 1024
/* Shards of one stream at creation: the Kinesis ShardCount bound. */
#define COORD_STREAM_SHARDS_MAX KIN_SHARD_COUNT_MAX
/* Shards in the whole catalogue, open and closed: bounds its encoded size. */
#define COORD_SHARDS_MAX 65536
/* RetentionPeriodHours: 24..8760 (IncreaseStreamRetentionPeriod, 365 days);
 * 0 in a create entry means KIN_RETENTION_HOURS_DEFAULT. */
#define COORD_RETENTION_HOURS_MIN 24
#define COORD_RETENTION_HOURS_MAX 8760
/* Nodes of a cluster; node ids are 1..COORD_NODE_ID_MAX (0 means none). */
#define COORD_NODES_MAX 64
#define COORD_NODE_ID_MAX 0xffffu
/* Shard groups (ids 1..COORD_GROUPS_MAX; 0 is the coordinator group). */
#define COORD_GROUPS_MAX 1024
/* Replicas of one group: 3 normally (DESIGN.md), 5 at most. */
#define COORD_GROUP_REPLICAS_MAX 5
#define COORD_GROUP_REPLICAS_DEFAULT 3
/* "host:port" of a node's RPC, Raft or gateway endpoint. */
#define COORD_ADDRESS_LEN_MAX 255
/* HMAC-SHA256 key of shard iterators: a full SHA-256 block of entropy. */
#define COORD_ITERATOR_KEY_BYTES 32
/* Upper bound on one encoded ShardInfo (5 small varints, 4 x 16-byte fields
 * with tags and lengths, closed_ms, the submessage header: 99 bytes at most),
 * used for the size checks. */
#define COORD_SHARD_INFO_BYTES_MAX 112
/* UpdateShardCount calls a stream remembers (StreamInfo.scaling_ms): "ten
 * times per rolling 24-hour period per stream" (API_UpdateShardCount); the
 * catalogue refuses an eleventh (CATALOG_SCALING_CALLS_MAX, equal to it). */
#define COORD_SCALING_CALLS_MAX 10
/* StreamInfo.scaling_ms encoded: packed, a 2-byte tag (field 16), a 1-byte
 * length and one varint of at most 10 bytes per call. */
#define COORD_SCALING_MS_BYTES_MAX (3 + 10 * COORD_SCALING_CALLS_MAX)
/* Upper bound on one encoded StreamInfo without its shards and without the
 * variable settings COORD_SETTINGS_BYTES_MAX bounds (tags, key id, policy):
 * the name, the scalars (59 bytes at most with their tags and the
 * submessage header), every metric name and the UpdateShardCount times. */
#define COORD_STREAM_INFO_BYTES_MAX                                                                \
    (KIN_STREAM_NAME_LEN_MAX + 64 + COORD_METRICS_BYTES_MAX + COORD_SCALING_MS_BYTES_MAX)
/* Upper bound on one encoded NodeInfo or GroupInfo. */
#define COORD_NODE_INFO_BYTES_MAX (3 * (COORD_ADDRESS_LEN_MAX + 3) + 16)
#define COORD_GROUP_INFO_BYTES_MAX (16 + 6 * COORD_GROUP_REPLICAS_MAX)
#define COORD_CATALOG_BYTES_MAX                                                                    \
    (64 + COORD_ITERATOR_KEY_BYTES + COORD_STREAMS_MAX * COORD_STREAM_INFO_BYTES_MAX +             \
     COORD_SHARDS_MAX * COORD_SHARD_INFO_BYTES_MAX + COORD_NODES_MAX * COORD_NODE_INFO_BYTES_MAX + \
     COORD_GROUPS_MAX * COORD_GROUP_INFO_BYTES_MAX + COORD_SETTINGS_BYTES_MAX +                    \
     COORD_ACCOUNT_BYTES_MAX + COORD_CONSUMERS_BYTES_MAX)

/* --- stream and account settings (catalog_update.c) --- */
/* Tags of one stream: "You can assign up to 50 tags to a data stream"
 * (API_AddTagsToStream, API_TagResource). */
#define COORD_TAGS_MAX 50
/* Tags one update may carry: the TagMap bound of the model (200 entries). */
#define COORD_TAGS_PER_UPDATE_MAX 200
/* Keys one removal may carry: TagKeyList 1..50 (model). */
#define COORD_TAG_KEYS_PER_UPDATE_MAX 50
/* TagKey 1..128 and TagValue 0..256 characters (UTF-16 units); a unit is at
 * most 3 bytes of UTF-8 (a 4-byte character is 2 units). */
#define COORD_TAG_KEY_BYTES_MAX (128 * 3)
#define COORD_TAG_VALUE_BYTES_MAX (256 * 3)
/* MetricsName values, ALL aside: the shard-level metrics a stream can have. */
#define COORD_METRICS_COUNT 7
/* Every metric name encoded (the longest, 34 bytes, plus a tag and a length). */
#define COORD_METRICS_BYTES_MAX (COORD_METRICS_COUNT * 40)
/* KeyId 1..2048 characters (StartStreamEncryption). */
#define COORD_KEY_ID_BYTES_MAX (2048 * 3)
/* A resource policy document (= API_RESOURCE_POLICY_BYTES_MAX, 20 KiB). */
#define COORD_POLICY_BYTES_MAX (20 * 1024)
/* MaxRecordSizeInKiB 1024..10240 (UpdateMaxRecordSize); 0 in the catalogue
 * means the default 1024. */
#define COORD_RECORD_SIZE_KIB_MIN 1024
#define COORD_RECORD_SIZE_KIB_MAX 10240
/* Warm throughput of an on-demand stream: at most 10 GiBps by default
 * (API_UpdateStreamWarmThroughput); past it -EDDY_ELIMIT. */
#define COORD_WARM_THROUGHPUT_MIBPS_MAX 10240
/* Bytes of tags, key ids and policies of all streams together, as encoded
 * (catalog_update_settings_bytes). A stream alone may hold 50 tags of 1 KiB
 * and a 20 KiB policy; 1,024 such streams would not fit one snapshot entry
 * (notes/raft-0.15.md 5.2), so the whole catalogue has this budget and a
 * change past it is -EDDY_ELIMIT. 8 MiB is 8 KiB per stream at
 * COORD_STREAMS_MAX, far above a few short tags per stream. */
#define COORD_SETTINGS_BYTES_MAX (8 * 1024 * 1024)
/* The encoded AccountSettings (a bool and three times). */
#define COORD_ACCOUNT_BYTES_MAX 64
/* A MinimumThroughputBillingCommitment lasts at least this long: "Commitments
 * have a minimum duration of 24 hours" (MinimumThroughputBillingCommitmentInput). */
#define COORD_COMMITMENT_MIN_MS (24ull * 3600 * 1000)

/* --- enhanced fan-out consumers (catalog_consumer.c) --- */
/* "With On-demand Standard and Provisioned streams, you can register up to
 * 20 consumers per stream" (API_RegisterStreamConsumer; the 50 of On-demand
 * Advantage streams has no counterpart in Eddy). DELETING ones count until
 * they are gone. */
#define COORD_CONSUMERS_PER_STREAM_MAX KIN_CONSUMERS_PER_STREAM_MAX
/* "only 5 consumers can be created simultaneously. In other words, you
 * cannot have more than 5 consumers in a CREATING status at the same time"
 * (API_RegisterStreamConsumer), counted per stream as the quota table lists
 * RegisterStreamConsumer's limits "Per Stream". */
#define COORD_CONSUMERS_CREATING_MAX KIN_CONSUMERS_CREATING_MAX
/* One encoded ConsumerInfo without its tags and policy (which the settings
 * budget counts): the name, two times, the status, field tags, lengths and
 * the submessage header. */
#define COORD_CONSUMER_INFO_BYTES_MAX (KIN_STREAM_NAME_LEN_MAX + 48)
#define COORD_CONSUMERS_BYTES_MAX                                                                  \
    (COORD_STREAMS_MAX * COORD_CONSUMERS_PER_STREAM_MAX * COORD_CONSUMER_INFO_BYTES_MAX)

/* --- the service --- */
/* Reconciler period: how soon CREATING becomes ACTIVE after the groups ack,
 * and the retry delay after a failed CreateShards/DropStream. */
#define COORD_RECONCILE_INTERVAL_MS 50
/* CreateShards/DropStream calls outstanding at once, all groups together. */
#define COORD_RECONCILE_INFLIGHT_MAX 64
/* Deadline of one CreateShards/DropStream call (the shard server may have to
 * bootstrap a Raft group, about 35 ms per group at start-up). */
#define COORD_SHARD_RPC_TIMEOUT_MS 5000
/* Client requests (CreateStream, DeleteStream) waiting on a proposal; more
 * are answered -EDDY_EFULL at once. */
#define COORD_PROPOSALS_INFLIGHT_MAX 256

/* --- liveness and leader balancing (liveness.h, balance.h, cluster.h) --- */
/* A node not heard from for this long is dead (coord_config.node_dead_ms,
 * eddyd --node-dead-ms). Six heartbeats: one lost packet or a GC-like stall
 * of a second does not kill a node, and a real death is noticed in 3 s,
 * well before an operator would look. */
#define COORD_NODE_DEAD_MS_DEFAULT 3000
/* The dead time must leave room for at least two heartbeats. */
#define COORD_NODE_DEAD_MS_MIN (2 * EDDY_HEARTBEAT_MS)
#define COORD_NODE_DEAD_MS_MAX 3600000
/* Groups a heartbeat may report: every shard group and the coordinator. */
#define COORD_REPORT_GROUPS_MAX (COORD_GROUPS_MAX + 1)
/* The balancer looks at the reports at most this often and moves at most
 * one group leadership per look: a move takes about one election round, and
 * the next look must see the reports that follow it (one heartbeat). */
#define COORD_BALANCE_INTERVAL_MS 1000
/* Deadline of one TransferLeader call; raft_transfer gives up after an
 * election timeout, so this bounds a lost reply. */
#define COORD_TRANSFER_RPC_TIMEOUT_MS 5000
/* After a failed move the balancer waits this long before its next look:
 * the group is likely in an election or its leader is not answering. */
#define COORD_BALANCE_RETRY_MS 5000
/* Failed moves in a row that are logged; later ones are not, until a move
 * succeeds (a node that lacks the TransferLeader handler fails them all). */
#define COORD_BALANCE_FAILURES_LOGGED 3

/* --- replica replacement (replace.h, coord_replace.h, docs/adr/0004) --- */
/* How long a node must have been dead before its replicas move to other
 * nodes (coord_config.replace_dead_ms, eddyd --replace-dead-ms). A minute:
 * a restart or a short network cut comes back well within it, and copying
 * a group's data to another node is expensive. */
#define COORD_REPLACE_DEAD_MS_DEFAULT 60000
#define COORD_REPLACE_DEAD_MS_MIN 1000
#define COORD_REPLACE_DEAD_MS_MAX 86400000
/* The replacer looks at the reports this often: one heartbeat after a
 * change it has seen it, so a shorter period would only repeat itself. */
#define COORD_REPLACE_INTERVAL_MS 250
/* A HostGroupReq or DropGroupReq for the same group and node is sent again
 * after this long, while the reports still ask for it (the calls are
 * idempotent; a lost or failed one is simply repeated). */
#define COORD_REPLACE_RETRY_MS 2000
/* Deadline of one HostGroupReq (the node creates and starts a replica) or
 * DropGroupReq (the node closes a replica and deletes its files). */
#define COORD_REPLACE_RPC_TIMEOUT_MS 30000
/* HostGroupReq and DropGroupReq calls remembered (in flight or recently
 * sent); past it the oldest settled one is forgotten. */
#define COORD_REPLACE_CALLS_MAX 64
/* A committed replacement counts as settling (no next one is picked) until
 * its group is settled or this long has passed. */
#define COORD_REPLACE_SETTLE_MS_MAX 600000

/* --- retention (coord_trim.h) --- */
/* Between two trim passes (eddyd --trim-interval-ms): records past retention
 * are hidden from reads at most this much later than AWS would, a minute
 * at worst, for one small Raft entry per stream and group per pass. */
#define COORD_TRIM_INTERVAL_MS_DEFAULT 60000
#define COORD_TRIM_INTERVAL_MS_MIN 10
#define COORD_TRIM_INTERVAL_MS_MAX 3600000
/* After a pass with failed calls (a group electing a leader) the next one
 * comes this soon. */
#define COORD_TRIM_RETRY_MS 1000
/* TrimReq calls outstanding at once; a pass goes on at the next tick. */
#define COORD_TRIM_INFLIGHT_MAX 32
/* One retention hour (eddyd --retention-hour-ms): tests shorten it to
 * watch records expire; never longer than an hour. */
#define COORD_RETENTION_HOUR_MS_DEFAULT 3600000
#define COORD_RETENTION_HOUR_MS_MIN 1

/* --- on-demand scaling (autoscale.h, coord_autoscale.h) --- */
/* Shard loads read from one heartbeat (a node sends SHARD_RATE_REPORT_MAX);
 * later ones are ignored, never an error: the heartbeat is the liveness. */
#define COORD_REPORT_SHARD_LOADS_MAX 64
/* A shard busy this long is split (eddyd --ondemand-scale-ms). A minute: a
 * burst of seconds rides on the shard's own burst allowance, and sustained
 * traffic gets its capacity within a minute or two, where AWS says its
 * on-demand streams adapt within minutes. */
#define COORD_AUTOSCALE_SUSTAIN_MS_DEFAULT 60000
#define COORD_AUTOSCALE_SUSTAIN_MS_MIN EDDY_HEARTBEAT_MS
#define COORD_AUTOSCALE_SUSTAIN_MS_MAX 86400000
/* Busy: half of AWS's per-shard write limit (1 MiB/s, 1,000 records/s), so
 * a stream keeps about twice the capacity its traffic needs. */
#define COORD_AUTOSCALE_BYTES_PER_S_DEFAULT (512 * 1024)
#define COORD_AUTOSCALE_RECORDS_PER_S_DEFAULT 500
#define COORD_AUTOSCALE_RATE_MAX 1000000000000ULL
/* A shard not reported for four heartbeats is not busy any more (its leader
 * changed, or it is no longer among the busiest the leader reports). */
#define COORD_AUTOSCALE_STALE_MS (4 * EDDY_HEARTBEAT_MS)
/* The picker's period: a few heartbeats' worth of reports in between. */
#define COORD_AUTOSCALE_INTERVAL_MS 250

static_assert(COORD_TRIM_RETRY_MS <= COORD_TRIM_INTERVAL_MS_DEFAULT, "a retry comes sooner");
static_assert(COORD_AUTOSCALE_STALE_MS > EDDY_HEARTBEAT_MS, "a report per period keeps it fresh");
static_assert(COORD_AUTOSCALE_SUSTAIN_MS_MIN <= COORD_AUTOSCALE_SUSTAIN_MS_DEFAULT, "in bounds");
static_assert(COORD_STREAM_SHARDS_MAX <= COORD_SHARDS_MAX, "one stream fits the catalogue");
static_assert(COORD_STREAM_SHARDS_MAX - 1 <= SEQNUM_SHARD_MAX, "shard index fits a seqnum");
static_assert(COORD_CATALOG_BYTES_MAX < RPC_FRAME_BYTES_MAX, "GetCatalog fits one frame");
static_assert(COORD_CONSUMERS_CREATING_MAX <= COORD_CONSUMERS_PER_STREAM_MAX, "within the total");
static_assert(COORD_CATALOG_BYTES_MAX < RAFT_ENTRY_BYTES_MAX, "the snapshot fits one entry");
static_assert(COORD_SCALING_MS_BYTES_MAX - 3 < 128, "scaling_ms length fits one byte");
static_assert(COORD_GROUP_REPLICAS_DEFAULT <= COORD_GROUP_REPLICAS_MAX, "default within max");
static_assert(COORD_TAGS_MAX * (COORD_TAG_KEY_BYTES_MAX + COORD_TAG_VALUE_BYTES_MAX + 16) +
                      COORD_KEY_ID_BYTES_MAX + COORD_POLICY_BYTES_MAX + 32 <
                  COORD_SETTINGS_BYTES_MAX,
              "one stream's largest settings fit the budget");
static_assert(COORD_NODE_DEAD_MS_MIN <= COORD_NODE_DEAD_MS_DEFAULT, "default within bounds");
static_assert(COORD_NODE_DEAD_MS_DEFAULT <= COORD_NODE_DEAD_MS_MAX, "default within bounds");
static_assert(COORD_BALANCE_INTERVAL_MS > EDDY_HEARTBEAT_MS, "a look sees the last move's reports");
static_assert(COORD_REPLACE_DEAD_MS_MIN <= COORD_REPLACE_DEAD_MS_DEFAULT, "default within bounds");
static_assert(COORD_REPLACE_DEAD_MS_DEFAULT <= COORD_REPLACE_DEAD_MS_MAX, "default within bounds");
static_assert(COORD_REPLACE_RETRY_MS > EDDY_HEARTBEAT_MS, "a retry follows a fresh report");

#endif
