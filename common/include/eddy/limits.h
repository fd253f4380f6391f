/*
 * Every bound in Eddy, with its reason. Kinesis limits follow the Amazon
 * Kinesis Data Streams API Reference, API version 2013-12-02 (the
 * Kinesis_20131202 target prefix), and the service quotas page.
 */
#ifndef EDDY_LIMITS_H
#define EDDY_LIMITS_H

#include <assert.h>

/* --- Kinesis API limits (AWS) --- */
#define KIN_STREAM_NAME_LEN_MAX 128       /* StreamName length 1..128, [a-zA-Z0-9_.-]+ */
#define KIN_STREAM_ARN_LEN_MAX 2048       /* StreamARN length 1..2048 */
#define KIN_PARTITION_KEY_LEN_MAX 256     /* PartitionKey length 1..256 */
#define KIN_RECORD_DATA_MAX (1024 * 1024) /* Data blob up to 1 MiB (default MaxRecordSize) */
/* Data blob up to 10 MiB (model Data max 10485760) on a stream whose
 * MaxRecordSizeInKiB allows it (1024..10240, API_UpdateMaxRecordSize). */
#define KIN_RECORD_DATA_LARGE_MAX (10 * 1024 * 1024)
#define KIN_PUT_RECORDS_COUNT_MAX 500                /* PutRecords Records 1..500 */
#define KIN_PUT_RECORDS_BYTES_MAX (10 * 1024 * 1024) /* PutRecords request up to 10 MiB */
#define KIN_GET_RECORDS_LIMIT_MAX 10000              /* GetRecords Limit 1..10000 */
#define KIN_GET_RECORDS_BYTES_MAX (10 * 1024 * 1024) /* GetRecords returns up to 10 MiB */
#define KIN_SHARD_ITERATOR_LEN_MAX 512               /* ShardIterator length 1..512 */
#define KIN_SHARD_ITERATOR_TTL_MS 300000             /* iterators expire after 5 minutes */
#define KIN_SHARD_ID_LEN_MAX 128                     /* ShardId length 1..128 */
#define KIN_SEQUENCE_NUMBER_DIGITS_MAX 128           /* SequenceNumber pattern 0|([1-9]\d{0,128}) */
#define KIN_HASH_KEY_DIGITS_MAX 39                   /* 2^128-1 has 39 decimal digits */
#define KIN_SHARD_COUNT_MAX 10000        /* ShardCount 1..100000 in the model; quota 500/stream */
#define KIN_SHARD_COUNT_DEFAULT 4        /* CreateStream without ShardCount */
#define KIN_LIST_STREAMS_LIMIT_MAX 10000 /* ListStreams Limit 1..10000 */
#define KIN_LIST_STREAMS_LIMIT_DEFAULT 100
#define KIN_LIST_SHARDS_MAX_RESULTS_MAX 10000 /* ListShards MaxResults 1..10000 */
#define KIN_LIST_SHARDS_MAX_RESULTS_DEFAULT 1000
#define KIN_DESCRIBE_STREAM_LIMIT_MAX 10000 /* DescribeStream Limit 1..10000 */
#define KIN_DESCRIBE_STREAM_LIMIT_DEFAULT 100
#define KIN_NEXT_TOKEN_LEN_MAX 1048576 /* NextToken length 1..1048576 */
#define KIN_NEXT_TOKEN_TTL_MS 300000   /* ListShards NextToken lifetime */
#define KIN_RETENTION_HOURS_DEFAULT 24
#define KIN_VALIDATION_ERRORS_MAX 10 /* ValidationException lists at most 10 errors */
/* Enhanced fan-out consumers of one stream: "up to 20 consumers per stream"
 * (API_RegisterStreamConsumer, provisioned and On-demand Standard streams),
 * of which "you cannot have more than 5 consumers in a CREATING status at
 * the same time". */
#define KIN_CONSUMERS_PER_STREAM_MAX 20
#define KIN_CONSUMERS_CREATING_MAX 5
#define KIN_CONSUMER_NAME_LEN_MAX 128 /* ConsumerName length 1..128 */
/* "If you call SubscribeToShard again with the same ConsumerARN and ShardId
 * within 5 seconds of a successful call, you'll get a ResourceInUseException"
 * (API_SubscribeToShard); 5 s or more after, the new call takes over. */
#define KIN_SUBSCRIBE_TAKEOVER_MS 5000

/* --- HTTP gateway --- */
#define GW_HTTP_HEADER_BYTES_MAX (64 * 1024) /* request line + headers */
#define GW_HTTP_HEADERS_COUNT_MAX 100
#define GW_HTTP_BODY_BYTES_MAX (KIN_PUT_RECORDS_BYTES_MAX * 2) /* base64 of 10 MiB + JSON */
#define GW_CONNECTIONS_MAX 4096
#define GW_IDLE_TIMEOUT_MS 60000                    /* keep-alive idle close */
#define GW_REQUEST_TIMEOUT_MS 30000                 /* a request must arrive whole within this */
#define GW_WRITE_QUEUE_BYTES_MAX (64 * 1024 * 1024) /* unsent response bytes per connection */
#define GW_PIPELINE_DEPTH_MAX 16                    /* requests parsed ahead of their responses */
#define GW_JSON_DEPTH_MAX 32 /* cJSON recursion is bounded by its own limit too */
/* Request bytes held across all connections: requests read but not yet
 * answered, and requests still arriving. The per-connection bounds alone
 * allow GW_CONNECTIONS_MAX * GW_PIPELINE_DEPTH_MAX * GW_HTTP_BODY_BYTES_MAX
 * (1.25 TiB); past this the gateway stops reading until answers free bytes.
 * 512 MiB holds 25 of the largest PutRecords requests at once. */
#define GW_BUFFERED_BYTES_MAX (512 * 1024 * 1024)
/* HTTP/2 (server/gateway/http2.c) and TLS. Streams per connection: the
 * SETTINGS_MAX_CONCURRENT_STREAMS nghttp2 and Go servers advertise. Requests
 * the application holds per connection, their streams reset or not: past it
 * the client gets GOAWAY ENHANCE_YOUR_CALM (the "rapid reset" attack). */
#define GW_HTTP2_STREAMS_MAX 100
#define GW_HTTP2_APP_REQUESTS_MAX (2 * GW_HTTP2_STREAMS_MAX)
#define GW_HTTP2_STREAM_WINDOW_BYTES (1024 * 1024)    /* SETTINGS_INITIAL_WINDOW_SIZE */
#define GW_HTTP2_CONN_WINDOW_BYTES (16 * 1024 * 1024) /* the connection's receive window */
/* Request bytes one connection holds before its window is withheld. */
#define GW_HTTP2_CONN_BUFFERED_BYTES_MAX (2 * GW_HTTP_BODY_BYTES_MAX)
#define GW_HTTP2_WRITE_BYTES_MAX (256 * 1024) /* frames given to the socket, unwritten */
#define GW_HANDSHAKE_TIMEOUT_MS 10000         /* TLS handshake and protocol detection */

/* --- internal RPC --- */
#define RPC_FRAME_BYTES_MAX (32 * 1024 * 1024) /* one protobuf message */
#define RPC_INFLIGHT_MAX 4096                  /* outstanding requests per connection */
/* Peers of one node's RPC server: gateways, replicas and the coordinator of a
 * cluster, with room to spare; past it connections are accepted and closed. */
#define RPC_SERVER_CONNECTIONS_MAX 1024
#define RPC_WRITE_QUEUE_BYTES_MAX (128 * 1024 * 1024)
#define RPC_CALL_TIMEOUT_MS 10000
#define RPC_CONNECT_RETRY_MS 200
/* Telling a dead or cut-off peer from a slow call (common/README.md,
 * "Liveness"). A SIGSTOPped process's kernel still accepts connections and
 * bytes, and a partition drops them silently, so neither ends a connection:
 * a client whose calls wait and that has received nothing for
 * RPC_PROBE_IDLE_MS sends a probe, which a live server answers from its
 * loop at once; silent RPC_PROBE_TIMEOUT_MS more, the peer is taken for
 * dead (its calls fail, sent ones -EDDY_EUNKNOWN) and not tried again for
 * RPC_PEER_DEAD_RETRY_MS. A live node's loop stalls far less than the Raft
 * election timeout (RAFT_ELECTION_TIMEOUT_MS) or it would lose leadership
 * anyway; 1 s of silence after a probe is then no live peer's. Together
 * with the election, writes move to the new leader about 2 s after a leader
 * stops. A connection attempt (SYN dropped in a partition: the kernel
 * would retry for minutes) is given up after RPC_CONNECT_TIMEOUT_MS. */
#define RPC_PROBE_IDLE_MS 500
#define RPC_PROBE_TIMEOUT_MS 1000
#define RPC_PEER_DEAD_RETRY_MS 1000
#define RPC_CONNECT_TIMEOUT_MS 1000

/* --- cluster liveness --- */
/* Every server node reports to the coordinator leader this often. Six
 * heartbeats fit the default dead time (COORD_NODE_DEAD_MS_DEFAULT), so a
 * node is called dead only after several consecutive losses; and the leader
 * balancer, which acts on these reports, sees a leader move within one
 * period. One heartbeat is a few hundred bytes per node and group. */
#define EDDY_HEARTBEAT_MS 500
/* A replica whose applied index is within this many entries of its leader's
 * counts as caught up (for `eddy cluster status` health and for moving
 * leadership to it). Reports of different nodes are taken up to one
 * heartbeat apart, so under load replicas that keep up still differ by the
 * entries committed in that time: 1000 covers 2000 group-committed entries
 * per second per group. */
#define EDDY_REPLICA_LAG_ENTRIES_MAX 1000

/* --- Raft and storage --- */
#define RAFT_ENTRY_BYTES_MAX (24 * 1024 * 1024) /* one batch entry */
#define RAFT_ELECTION_TIMEOUT_MS 300            /* notes/raft-0.15.md 4.4: 300/50 + pre-vote */
#define RAFT_HEARTBEAT_TIMEOUT_MS 50
#define RAFT_CONNECT_RETRY_MS 100
#define RAFT_SEGMENT_BYTES (8 * 1024 * 1024)
/* canonical/raft keeps in memory the whole log since the last snapshot plus
 * the trailing entries it keeps after one, so both are budgets in bytes,
 * turned into raft's entry counts from the sizes of the entries applied
 * (common/rlog_budget.h; docs/BENCHMARKS.md, memory): a fixed count of
 * 1,024 trailing entries of 4 MiB each held 4 GiB per group, and counts
 * from a mean entry size let small entries followed by large ones stretch
 * the log several times over. */
#define RAFT_SNAPSHOT_LOG_BYTES (32 * 1024 * 1024)     /* take a snapshot after this much log */
#define RAFT_SNAPSHOT_TRAILING_BYTES (8 * 1024 * 1024) /* log kept after a snapshot */
#define RAFT_SNAPSHOT_TRAILING_MIN 4 /* entries: lets a briefly lagging follower catch up */
#define RAFT_SNAPSHOT_TRAILING_MAX 1024
#define SEG_FILE_BYTES_MAX (64 * 1024 * 1024)      /* seal a segment file past this */
#define SEG_INDEX_STRIDE_BYTES (64 * 1024)         /* one sparse index point per this much data */
#define GROUP_COMMIT_BYTES_MAX (4 * 1024 * 1024)   /* appends batched into one entry */
#define GROUP_PENDING_BYTES_MAX (64 * 1024 * 1024) /* queued appends per group */

/* --- Hydration: segment files a replica fetches from a peer (server/hydrate.c) --- */
/* One FetchSegment request. One fetch is in flight per group, so this is the
 * fetch buffer per hydrating group; 1 MiB takes ~1 ms on a LAN. */
#define HYDRATE_CHUNK_BYTES (1024 * 1024)
#define HYDRATE_SERVE_BYTES_MAX (4 * 1024 * 1024) /* per reply: longer asks are clamped */
#define HYDRATE_SERVE_INFLIGHT_MAX 8 /* reads a node serves at once; then -EDDY_EFULL, retried */
#define HYDRATE_RETRY_MS_MIN 100     /* back-off once every source failed, doubling to the max */
#define HYDRATE_RETRY_MS_MAX 5000
#define HYDRATE_CALL_TIMEOUT_MS 10000 /* one FetchSegment call */
#define HYDRATE_SOURCES_MAX 16        /* peers asked for one file, leader hint first */

/* --- Pushed reads: SubscribeToShard (server/shard_wait.h) --- */
/* Reads a shard group leader holds parked (nothing new to answer yet): each
 * is one subscription of one consumer on one shard (20 consumers a stream),
 * and holds one RPC call of a gateway connection, whose server stops reading
 * a connection at RPC_INFLIGHT_MAX calls (a gateway holds at most
 * SUBSCRIPTION_LIVE_MAX, server/gateway/subscription.h). A few hundred bytes
 * each. Past either bound a push read fails -EDDY_EFULL (retried). */
#define SHARD_WAIT_GROUP_MAX 1024
#define SHARD_WAIT_NODE_MAX 2048
/* A longer ReadReq.wait_ms is cut to this (gateways heartbeat every few s). */
#define SHARD_WAIT_MS_MAX 30000
/* SubscribeToShard leases a node keeps (server/shard_lease.h): one per
 * (consumer, shard) subscribed through any gateway to a shard it leads,
 * about one per parked read; room for as many again between their reads.
 * Past it the least recently seen is forgotten: its holder takes it again
 * with its next read. About 400 bytes each. */
#define SHARD_LEASE_MAX (2 * SHARD_WAIT_NODE_MAX)

static_assert(SHARD_WAIT_NODE_MAX <= RPC_INFLIGHT_MAX / 2,
              "parked reads leave a connection room for other calls");
static_assert(SHARD_WAIT_GROUP_MAX <= SHARD_WAIT_NODE_MAX, "a group's bound fits the node's");
static_assert(RPC_PROBE_TIMEOUT_MS >= 3 * RAFT_ELECTION_TIMEOUT_MS,
              "a probe outlasts any loop stall a leader survives");
static_assert(RPC_PROBE_IDLE_MS + RPC_PROBE_TIMEOUT_MS < RPC_CALL_TIMEOUT_MS,
              "a dead peer is found before its calls time out");
static_assert(KIN_PUT_RECORDS_BYTES_MAX < RPC_FRAME_BYTES_MAX, "a PutRecords fits one frame");
static_assert(GROUP_COMMIT_BYTES_MAX < RAFT_ENTRY_BYTES_MAX, "a commit batch fits one entry");
static_assert(KIN_GET_RECORDS_BYTES_MAX < RPC_FRAME_BYTES_MAX, "a read reply fits one frame");
static_assert(HYDRATE_CHUNK_BYTES <= HYDRATE_SERVE_BYTES_MAX, "a fetch chunk is served whole");
static_assert(HYDRATE_SERVE_BYTES_MAX < RPC_FRAME_BYTES_MAX / 2, "a fetch reply fits one frame");
static_assert(GW_BUFFERED_BYTES_MAX >= GW_HTTP_HEADER_BYTES_MAX + GW_HTTP_BODY_BYTES_MAX,
              "the largest request fits the gateway's buffered bytes");

#endif
