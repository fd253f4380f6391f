/*
 * Replica hydration: restore of a manifest over missing or partial local
 * files (server/shard_fsm_restore.c), the fetcher against a real RPC server
 * playing the peer replica (server/hydrate.c), and the FetchSegment server.
 *
 * The source replica is a shard_fsm in a temp directory, fed entries as
 * raft would; its stores are rolled between rounds so that every shard has
 * several files without writing 64 MiB each. The hydrating replica restores
 * the source's snapshot manifest, gets the same entries after it, fetches
 * the files and must end with the same records and the same directories,
 * byte for byte: the active file it fetched is merged with the records it
 * applied meanwhile, as the source kept appending them to that file.
 */
#include "hydrate.h"
#include "segment.h"
#include "shard_fsm.h"

#include "eddy/alloc.h"
#include "eddy/crc32c.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/log.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"
#include "eddy/seqnum.h"
#include "group.pb-c.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_STREAM "s1"
#define T_CREATED 100
#define T_SHARDS 3
#define T_ROUNDS 3            /* files per shard in the source */
#define T_ENTRIES_PER_ROUND 6 /* entries of T_RECORDS records each */
#define T_RECORDS 8
#define T_CHUNK_BYTES 4096 /* small: every file takes several chunks */
#define T_WAIT_MS 20000
#define T_RECORDS_MAX 4096
#define T_DIR_ENTRIES_MAX 16

static uv_loop_t loop;
static char root[64];
static uv_timer_t guard; /* keeps the loop awake while a test waits */

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/eddy-hydrate-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(uv_timer_init(&loop, &guard), 0);
}

static void on_guard_closed(uv_handle_t *h)
{
    (void)h;
}

static void teardown(void)
{
    uv_close((uv_handle_t *)&guard, on_guard_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag or T_WAIT_MS pass; returns *flag. */
static bool run_until(const bool *flag)
{
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + T_WAIT_MS;
    uv_timer_start(&guard, on_guard, 10, 10);
    while (!*flag && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&guard);
    return *flag;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- entries, as the leader proposes them ---- */

static void apply_entry(struct rgroup_fsm *fsm, uint64_t index, Eddy__GroupEntry *e)
{
    size_t len = eddy__group_entry__get_packed_size(e);
    uint8_t *buf = malloc(len ? len : 1);
    eddy__group_entry__pack(e, buf);
    void *result = NULL;
    ck_assert_int_eq(fsm->apply(fsm->data, index, buf, len, &result), 0);
    if (result != NULL) {
        fsm->free_result(fsm->data, result);
    }
    free(buf);
}

static void apply_create(struct rgroup_fsm *fsm, uint64_t index, const char *stream)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = (char *)stream;
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    uint32_t shards[T_SHARDS];
    for (uint32_t i = 0; i < T_SHARDS; i++) {
        shards[i] = i;
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.streams = refs;
    e.n_streams = 1;
    e.create_shards = shards;
    e.n_create_shards = T_SHARDS;
    apply_entry(fsm, index, &e);
}

/* T_RECORDS records over the shards, of index-dependent sizes and bytes. */
static void apply_records(struct rgroup_fsm *fsm, uint64_t index)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = T_STREAM;
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__EntryRecord recs[T_RECORDS];
    Eddy__EntryRecord *ptrs[T_RECORDS];
    static uint8_t data[T_RECORDS][3000];
    char keys[T_RECORDS][16];
    for (size_t i = 0; i < T_RECORDS; i++) {
        size_t len = 50 + (index * 977 + i * 131) % 2900;
        for (size_t k = 0; k < len; k++) {
            data[i][k] = (uint8_t)(index * 31 + i * 7 + k);
        }
        snprintf(keys[i], sizeof(keys[i]), "pk-%zu-%zu", (size_t)index, i);
        eddy__entry_record__init(&recs[i]);
        recs[i].shard = (uint32_t)((index + i) % T_SHARDS);
        recs[i].partition_key = keys[i];
        recs[i].data.data = data[i];
        recs[i].data.len = len;
        ptrs[i] = &recs[i];
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = 1700000000000ull + index * 3;
    e.streams = refs;
    e.n_streams = 1;
    e.records = ptrs;
    e.n_records = T_RECORDS;
    apply_entry(fsm, index, &e);
}

/* T_BIG_RECORDS records of 1 MiB, all into one shard. */
#define T_BIG_RECORDS 4
static void apply_big(struct rgroup_fsm *fsm, uint64_t index, uint32_t shard)
{
    Eddy__StreamRef ref = EDDY__STREAM_REF__INIT;
    ref.name = T_STREAM;
    ref.created_ms = T_CREATED;
    Eddy__StreamRef *refs[] = {&ref};
    Eddy__EntryRecord recs[T_BIG_RECORDS];
    Eddy__EntryRecord *ptrs[T_BIG_RECORDS];
    static uint8_t data[KIN_RECORD_DATA_MAX];
    for (size_t k = 0; k < sizeof(data); k++) {
        data[k] = (uint8_t)(index + k * 13);
    }
    for (size_t i = 0; i < T_BIG_RECORDS; i++) {
        eddy__entry_record__init(&recs[i]);
        recs[i].shard = shard;
        recs[i].partition_key = "big";
        recs[i].data.data = data;
        recs[i].data.len = sizeof(data) - i;
        ptrs[i] = &recs[i];
    }
    Eddy__GroupEntry e = EDDY__GROUP_ENTRY__INIT;
    e.arrival_ms = 1700000000000ull + index * 3;
    e.streams = refs;
    e.n_streams = 1;
    e.records = ptrs;
    e.n_records = T_BIG_RECORDS;
    apply_entry(fsm, index, &e);
}

static void roll_all(struct shard_fsm *f)
{
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        struct seg_store *store = shard_fsm_find(f, T_STREAM, T_CREATED, s);
        ck_assert_ptr_nonnull(store);
        ck_assert_int_eq(seg_store_roll(store), 0);
    }
}

/* A replica of group 1 in root/<name>. */
static struct shard_fsm *fsm_open(const char *name, struct rgroup_fsm *adapter)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    struct shard_fsm *f;
    ck_assert_int_eq(shard_fsm_create(&f, dir, 1), 0);
    shard_fsm_adapter(f, adapter);
    return f;
}

/* The source replica: T_ROUNDS files per shard, the last one active.
 * Returns the next Raft index. */
static uint64_t source_build(struct shard_fsm *f, struct rgroup_fsm *fsm)
{
    apply_create(fsm, 1, T_STREAM);
    uint64_t index = 2;
    for (int r = 0; r < T_ROUNDS; r++) {
        for (int k = 0; k < T_ENTRIES_PER_ROUND; k++) {
            apply_records(fsm, index++);
        }
        if (r + 1 < T_ROUNDS) {
            roll_all(f);
        }
    }
    return index;
}

static Eddy__GroupSnapshot *snapshot_of(struct rgroup_fsm *fsm, uint8_t **buf, size_t *len)
{
    ck_assert_int_eq(fsm->snapshot(fsm->data, buf, len), 0);
    Eddy__GroupSnapshot *snap = eddy__group_snapshot__unpack(NULL, *len, *buf);
    ck_assert_ptr_nonnull(snap);
    return snap;
}

static size_t manifest_files(const Eddy__GroupSnapshot *snap)
{
    size_t n = 0;
    for (size_t i = 0; i < snap->n_shards; i++) {
        n += snap->shards[i]->n_segments;
    }
    return n;
}

/* ---- comparing replicas ---- */

struct trec {
    u128 seq;
    uint64_t arrival_ms;
    uint64_t raft_index;
    char key[32];
    size_t data_len;
    uint32_t data_crc;
};

struct tcollect {
    struct trec *recs;
    size_t count;
};

static bool collect_cb(void *arg, const struct seg_record *r)
{
    struct tcollect *c = arg;
    ck_assert_uint_lt(c->count, T_RECORDS_MAX);
    struct trec *t = &c->recs[c->count++];
    t->seq = r->seq;
    t->arrival_ms = r->arrival_ms;
    t->raft_index = r->raft_index;
    ck_assert_uint_lt(r->partition_key_len, sizeof(t->key));
    memcpy(t->key, r->partition_key, r->partition_key_len);
    t->key[r->partition_key_len] = '\0';
    t->data_len = r->data_len;
    t->data_crc = crc32c_update(0, r->data, r->data_len);
    return true;
}

static size_t collect(struct shard_fsm *f, uint32_t shard, struct trec *out)
{
    struct seg_store *s = shard_fsm_find(f, T_STREAM, T_CREATED, shard);
    ck_assert_ptr_nonnull(s);
    struct tcollect c = {.recs = out};
    u128 next;
    int n =
        seg_store_read(s, SEG_TRIM_HORIZON, 0, 0, T_RECORDS_MAX, SIZE_MAX, collect_cb, &c, &next);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq((size_t)n, c.count);
    return c.count;
}

/* Every record of every shard is the same on both replicas, in order. */
static void assert_same_records(struct shard_fsm *a, struct shard_fsm *b)
{
    static struct trec ra[T_RECORDS_MAX];
    static struct trec rb[T_RECORDS_MAX];
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        size_t na = collect(a, s, ra);
        size_t nb = collect(b, s, rb);
        ck_assert_uint_gt(na, 0);
        ck_assert_uint_eq(na, nb);
        for (size_t i = 0; i < na; i++) {
            ck_assert(ra[i].seq == rb[i].seq);
            ck_assert_uint_eq(ra[i].arrival_ms, rb[i].arrival_ms);
            ck_assert_uint_eq(ra[i].raft_index, rb[i].raft_index);
            ck_assert_str_eq(ra[i].key, rb[i].key);
            ck_assert_uint_eq(ra[i].data_len, rb[i].data_len);
            ck_assert_uint_eq(ra[i].data_crc, rb[i].data_crc);
        }
    }
}

/* CRC-32C of the first bytes of a file (all of it when bytes is 0). */
static uint32_t file_crc(const char *dir, const char *name, uint64_t bytes, uint64_t *size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    static uint8_t buf[64 * 1024];
    uint32_t crc = 0;
    uint64_t done = 0;
    for (;;) {
        size_t want = sizeof(buf);
        if (bytes > 0 && want > bytes - done) {
            want = (size_t)(bytes - done);
        }
        ssize_t n = want > 0 ? read(fd, buf, want) : 0;
        ck_assert_int_ge(n, 0);
        if (n == 0) {
            break;
        }
        crc = crc32c_update(crc, buf, (size_t)n);
        done += (uint64_t)n;
    }
    close(fd);
    *size = done;
    return crc;
}

/* Every file the manifest names is on the hydrated replica: the sealed ones
 * equal to the source's, the active one starting with the manifest's bytes
 * (it goes on with the records applied since, as on the source). */
static void
assert_same_files(const Eddy__GroupSnapshot *snap, struct shard_fsm *src, struct shard_fsm *dst)
{
    for (size_t i = 0; i < snap->n_shards; i++) {
        const Eddy__ShardManifest *m = snap->shards[i];
        struct seg_store *a = shard_fsm_find(src, m->stream, m->created_ms, m->shard);
        struct seg_store *b = shard_fsm_find(dst, m->stream, m->created_ms, m->shard);
        for (size_t j = 0; j < m->n_segments; j++) {
            const Eddy__SegmentManifest *s = m->segments[j];
            uint64_t size_a;
            uint64_t size_b;
            uint32_t crc_a = file_crc(seg_store_dir(a), s->file, s->bytes, &size_a);
            uint32_t crc_b = file_crc(seg_store_dir(b), s->file, s->bytes, &size_b);
            ck_assert_uint_ne(s->crc32c, 0);
            ck_assert_uint_eq(crc_a, s->crc32c);
            ck_assert_uint_eq(crc_b, s->crc32c);
            ck_assert_uint_eq(size_b, s->bytes);
            struct seg_file_info info;
            ck_assert_int_eq(seg_store_file(b, s->file, &info), 0);
            if (s->sealed) {
                ck_assert_uint_eq(info.bytes, s->bytes);
                ck_assert_uint_eq(info.crc32c, s->crc32c);
            } else {
                ck_assert_uint_ge(info.bytes, s->bytes);
            }
        }
    }
}

/* One directory entry: name, size and CRC-32C of its bytes. */
struct tdirent {
    char name[256];
    uint64_t size;
    uint32_t crc;
};

static int tdirent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tdirent *)a)->name, ((const struct tdirent *)b)->name);
}

static size_t dir_list(const char *dir, struct tdirent *out)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        ck_assert_uint_lt(n, T_DIR_ENTRIES_MAX);
        snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
        out[n].crc = file_crc(dir, e->d_name, 0, &out[n].size);
        n++;
    }
    closedir(d);
    qsort(out, n, sizeof(*out), tdirent_cmp);
    return n;
}

struct tfiles {
    size_t count;
    struct seg_file_info info[T_DIR_ENTRIES_MAX];
    char names[T_DIR_ENTRIES_MAX][40];
};

static void tfiles_cb(void *arg, const struct seg_file_info *f)
{
    struct tfiles *t = arg;
    ck_assert_uint_lt(t->count, T_DIR_ENTRIES_MAX);
    snprintf(t->names[t->count], sizeof(t->names[0]), "%s", f->name);
    t->info[t->count++] = *f;
}

/* The invariant: once caught up, every shard's directory is the
 * same on both replicas, byte for byte and name for name (nothing set
 * aside, no part file), and both stores describe their files alike. */
static void assert_same_dirs(struct shard_fsm *a, struct shard_fsm *b)
{
    static struct tdirent da[T_DIR_ENTRIES_MAX];
    static struct tdirent db[T_DIR_ENTRIES_MAX];
    static struct tfiles fa;
    static struct tfiles fb;
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        struct seg_store *sa = shard_fsm_find(a, T_STREAM, T_CREATED, s);
        struct seg_store *sb = shard_fsm_find(b, T_STREAM, T_CREATED, s);
        ck_assert_ptr_nonnull(sa);
        ck_assert_ptr_nonnull(sb);
        size_t na = dir_list(seg_store_dir(sa), da);
        size_t nb = dir_list(seg_store_dir(sb), db);
        ck_assert_uint_gt(na, 0);
        ck_assert_uint_eq(na, nb);
        for (size_t k = 0; k < na; k++) {
            ck_assert_str_eq(da[k].name, db[k].name);
            ck_assert_uint_eq(da[k].size, db[k].size);
            ck_assert_uint_eq(da[k].crc, db[k].crc);
        }
        memset(&fa, 0, sizeof(fa));
        memset(&fb, 0, sizeof(fb));
        seg_store_files(sa, tfiles_cb, &fa);
        seg_store_files(sb, tfiles_cb, &fb);
        ck_assert_uint_eq(fa.count, na);
        ck_assert_uint_eq(fa.count, fb.count);
        for (size_t k = 0; k < fa.count; k++) {
            ck_assert_str_eq(fa.names[k], fb.names[k]);
            ck_assert_uint_eq(fa.info[k].bytes, fb.info[k].bytes);
            ck_assert_uint_eq(fa.info[k].crc32c, fb.info[k].crc32c);
            ck_assert_int_eq(fa.info[k].sealed, fb.info[k].sealed);
        }
        ck_assert(seg_store_last_seq(sa) == seg_store_last_seq(sb));
        ck_assert_uint_eq(seg_store_last_index(sa), seg_store_last_index(sb));
    }
}

/* ---- the peer: a real RPC server over the source replica ---- */

struct tpeer {
    struct rpc_server *rpc;
    struct shard_fsm *fsm;
    int port;
    unsigned calls;
    unsigned torn_left;    /* answer this many chunks short */
    unsigned flipped_left; /* answer this many chunks with a byte flipped */
    bool refuse;           /* answer every call -EDDY_EUNAVAILABLE */
    unsigned serving;
    bool closed;
};

static void tpeer_served(void *arg)
{
    struct tpeer *p = arg;
    ck_assert_uint_gt(p->serving, 0);
    p->serving--;
}

/* Reads the chunk itself and damages it, as a bad disk or network would. */
static void tpeer_reply_damaged(struct tpeer *p, struct seg_store *store, struct rpc_call *call)
{
    const Eddy__FetchSegmentReq *req = rpc_call_request(call)->fetch_segment;
    struct seg_file_info info;
    ck_assert_int_eq(seg_store_file(store, req->file, &info), 0);
    uint64_t len = info.bytes - req->offset < req->length ? info.bytes - req->offset : req->length;
    uint8_t *data = malloc(len ? len : 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", seg_store_dir(store), req->file);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, data, len, (off_t)req->offset), (ssize_t)len);
    close(fd);
    if (p->torn_left > 0) {
        p->torn_left--;
        len /= 2;
    } else {
        p->flipped_left--;
        data[len / 2] ^= 0x40;
    }
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__FetchSegmentResp resp = EDDY__FETCH_SEGMENT_RESP__INIT;
    resp.status = &st;
    resp.data.data = data;
    resp.data.len = len;
    resp.file_bytes = info.bytes;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_FETCH_SEGMENT_RESP;
    f.fetch_segment_resp = &resp;
    rpc_call_reply(call, &f);
    free(data);
}

static void tpeer_on_call(void *data, struct rpc_call *call)
{
    struct tpeer *p = data;
    const Eddy__Frame *f = rpc_call_request(call);
    ck_assert_int_eq(f->body_case, EDDY__FRAME__BODY_FETCH_SEGMENT);
    const Eddy__FetchSegmentReq *req = f->fetch_segment;
    ck_assert_uint_eq(req->group, 1);
    p->calls++;
    if (p->refuse) {
        rpc_reply_error(call, -EDDY_EUNAVAILABLE, 0, NULL);
        return;
    }
    struct seg_store *store =
        shard_fsm_find(p->fsm, req->stream, req->stream_created_ms, req->shard);
    if (store != NULL && (p->torn_left > 0 || p->flipped_left > 0) &&
        seg_store_file(store, req->file, &(struct seg_file_info){0}) == 0) {
        tpeer_reply_damaged(p, store, call);
        return;
    }
    if (hydrate_serve(&loop, store, call, tpeer_served, p) == 0) {
        p->serving++;
    }
}

static void tpeer_start(struct tpeer *p, struct shard_fsm *fsm)
{
    memset(p, 0, sizeof(*p));
    p->fsm = fsm;
    p->port = free_port();
    ck_assert_int_eq(rpc_server_init(&p->rpc, &loop, "127.0.0.1", p->port, tpeer_on_call, p), 0);
}

static void on_flag(void *arg)
{
    *(bool *)arg = true;
}

static void tpeer_stop(struct tpeer *p)
{
    rpc_server_close(p->rpc, on_flag, &p->closed);
    ck_assert(run_until(&p->closed));
    ck_assert_uint_eq(p->serving, 0);
}

/* ---- the fetcher ---- */

struct tfetch {
    struct hydrate *h;
    char addr_dead[32];
    char addr_peer[32];
    struct hydrate_peer peers[3];
    unsigned went_hydrating;
    unsigned went_whole;
    bool is_whole;
    bool closed;
};

static void tfetch_on_state(void *arg, bool is_hydrating)
{
    struct tfetch *t = arg;
    if (is_hydrating) {
        t->went_hydrating++;
        t->is_whole = false;
    } else {
        t->went_whole++;
        t->is_whole = true;
    }
}

/* Node 1 is this replica; node 2 listens nowhere and is asked first; node 3
 * is the peer. */
static void tfetch_start(struct tfetch *t, struct shard_fsm *dst, const struct tpeer *p)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->addr_dead, sizeof(t->addr_dead), "127.0.0.1:%d", free_port());
    snprintf(t->addr_peer, sizeof(t->addr_peer), "127.0.0.1:%d", p->port);
    t->peers[0] = (struct hydrate_peer){.node_id = 1, .rpc_address = "127.0.0.1:1"};
    t->peers[1] = (struct hydrate_peer){.node_id = 2, .rpc_address = t->addr_dead};
    t->peers[2] = (struct hydrate_peer){.node_id = 3, .rpc_address = t->addr_peer};
    struct hydrate_config cfg = {
        .group_id = 1,
        .node_id = 1,
        .peers = t->peers,
        .peer_count = 3,
        .chunk_bytes = T_CHUNK_BYTES,
        .retry_ms_min = 5,
        .retry_ms_max = 40,
        .call_timeout_ms = 2000,
        .state = tfetch_on_state,
        .arg = t,
    };
    ck_assert_int_eq(hydrate_init(&t->h, &loop, dst, &cfg), 0);
}

static void tfetch_stop(struct tfetch *t)
{
    hydrate_close(t->h, on_flag, &t->closed);
    ck_assert(run_until(&t->closed));
}

/* ---- restore ---- */

START_TEST(test_hydrate_restore_behind_lists_missing_files)
{
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src = fsm_open("src", &sa);
    uint64_t next = source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    ck_assert_uint_eq(manifest_files(snap), T_SHARDS * T_ROUNDS);

    struct shard_fsm *dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    ck_assert(shard_fsm_is_hydrating(dst));
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * T_ROUNDS);
    ck_assert_uint_eq(shard_fsm_shard_count(dst), T_SHARDS);
    struct shard_fsm_missing m;
    ck_assert(shard_fsm_next_missing(dst, &m));
    ck_assert_str_eq(m.stream, T_STREAM);
    ck_assert(seg_file_name_is_valid(m.file));
    ck_assert_ptr_nonnull(strstr(m.dir, "/dst/shards/s1@100/"));
    ck_assert_uint_gt(m.bytes, 0);
    ck_assert_uint_ne(m.crc32c, 0);

    /* Entries after the snapshot land in the shards' stores as usual; an
     * entry at or below the snapshot is skipped. */
    apply_records(&da, next - 1);
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * T_ROUNDS);
    apply_records(&sa, next);
    apply_records(&da, next);
    static struct trec recs[T_RECORDS_MAX];
    size_t total = 0;
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        size_t n = collect(dst, s, recs);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(recs[i].raft_index, next);
        }
        total += n;
    }
    ck_assert_uint_eq(total, T_RECORDS);

    /* A snapshot while hydrating names the missing files too, sorted, and
     * the newest sequence number of either. In place of the missing active
     * file and the file of later records it names the active file as the
     * source holds it now: its manifest is the source's. */
    uint8_t *dbuf;
    size_t dlen;
    Eddy__GroupSnapshot *dsnap = snapshot_of(&da, &dbuf, &dlen);
    uint8_t *sbuf;
    size_t slen;
    Eddy__GroupSnapshot *ssnap = snapshot_of(&sa, &sbuf, &slen);
    ck_assert_uint_eq(manifest_files(dsnap), T_SHARDS * T_ROUNDS);
    ck_assert_uint_eq(dsnap->n_shards, ssnap->n_shards);
    for (size_t i = 0; i < dsnap->n_shards; i++) {
        const Eddy__ShardManifest *dm = dsnap->shards[i];
        const Eddy__ShardManifest *sm = NULL;
        for (size_t k = 0; k < ssnap->n_shards; k++) {
            sm = ssnap->shards[k]->shard == dm->shard ? ssnap->shards[k] : sm;
        }
        ck_assert_ptr_nonnull(sm);
        for (size_t j = 1; j < dm->n_segments; j++) {
            ck_assert_int_lt(strcmp(dm->segments[j - 1]->file, dm->segments[j]->file), 0);
        }
        struct seg_store *s = shard_fsm_find(src, dm->stream, dm->created_ms, dm->shard);
        ck_assert(u128_from_be(dm->last_sequence.data) == seg_store_last_seq(s));
        ck_assert_uint_eq(dm->last_index, sm->last_index);
        ck_assert_uint_eq(dm->n_segments, sm->n_segments);
        for (size_t j = 0; j < dm->n_segments; j++) {
            ck_assert_str_eq(dm->segments[j]->file, sm->segments[j]->file);
            ck_assert_uint_eq(dm->segments[j]->bytes, sm->segments[j]->bytes);
            ck_assert_uint_eq(dm->segments[j]->crc32c, sm->segments[j]->crc32c);
            ck_assert_int_eq(dm->segments[j]->sealed, sm->segments[j]->sealed);
        }
    }
    eddy__group_snapshot__free_unpacked(ssnap, NULL);
    eddy_free(sbuf);
    eddy__group_snapshot__free_unpacked(dsnap, NULL);
    eddy_free(dbuf);
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(dst);
    shard_fsm_destroy(src);
}
END_TEST

START_TEST(test_hydrate_restore_whole_is_not_hydrating)
{
    /* A restart: the files are all there, the newest one longer. */
    struct rgroup_fsm sa;
    struct shard_fsm *src = fsm_open("src", &sa);
    uint64_t next = source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    apply_records(&sa, next);
    shard_fsm_destroy(src);
    src = fsm_open("src", &sa);
    ck_assert_int_eq(sa.restore(sa.data, buf, len), 0);
    ck_assert(!shard_fsm_is_hydrating(src));
    ck_assert_uint_eq(shard_fsm_missing_count(src), 0);
    struct shard_fsm_missing m;
    ck_assert(!shard_fsm_next_missing(src, &m));
    apply_records(&sa, next); /* replayed: skipped */
    static struct trec recs[T_RECORDS_MAX];
    size_t total = 0;
    for (uint32_t s = 0; s < T_SHARDS; s++) {
        total += collect(src, s, recs);
    }
    ck_assert_uint_eq(total, (size_t)T_RECORDS * (T_ROUNDS * T_ENTRIES_PER_ROUND + 1));
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(src);
}
END_TEST

static void copy_file(const char *from_dir, const char *to_dir, const char *name, uint64_t bytes)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && head -c %llu %s/%s > %s/%s", to_dir,
             (unsigned long long)bytes, from_dir, name, to_dir, name);
    ck_assert_int_eq(system(cmd), 0);
}

static bool path_exists(const char *dir, const char *name, const char *suffix)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(test_hydrate_restore_keeps_matching_files_sets_others_aside)
{
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src = fsm_open("src", &sa);
    source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    /* Shard 0 of the hydrating replica has the first file whole and the
     * second one short (a replica that fell behind). */
    const Eddy__ShardManifest *m0 = NULL;
    for (size_t i = 0; i < snap->n_shards; i++) {
        m0 = snap->shards[i]->shard == 0 ? snap->shards[i] : m0;
    }
    ck_assert_ptr_nonnull(m0);
    char dst_dir[256];
    snprintf(dst_dir, sizeof(dst_dir), "%s/dst/shards/s1@100/0", root);
    const char *src_dir = seg_store_dir(shard_fsm_find(src, T_STREAM, T_CREATED, 0));
    copy_file(src_dir, dst_dir, m0->segments[0]->file, m0->segments[0]->bytes);
    uint64_t short_bytes = m0->segments[1]->bytes - 100;
    copy_file(src_dir, dst_dir, m0->segments[1]->file, short_bytes);

    struct shard_fsm *dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * T_ROUNDS - 1);
    ck_assert(path_exists(dst_dir, m0->segments[0]->file, ""));
    ck_assert(!path_exists(dst_dir, m0->segments[1]->file, ""));
    ck_assert(path_exists(dst_dir, m0->segments[1]->file, ".aside"));
    struct seg_store *s0 = shard_fsm_find(dst, T_STREAM, T_CREATED, 0);
    struct seg_file_info info;
    ck_assert_int_eq(seg_store_file(s0, m0->segments[0]->file, &info), 0);
    ck_assert(info.sealed); /* rolled: a missing file sorts after it */

    /* Importing the rest of shard 0 ends its hydration and drops the
     * file set aside. */
    for (size_t j = 1; j < m0->n_segments; j++) {
        copy_file(src_dir, dst_dir, m0->segments[j]->file, m0->segments[j]->bytes);
        struct seg_import *imp;
        ck_assert_int_eq(seg_import_scan(dst_dir, m0->segments[j]->file, &imp), 0);
        ck_assert_int_eq(shard_fsm_import(dst, T_STREAM, T_CREATED, 0, imp), 0);
    }
    ck_assert(!path_exists(dst_dir, m0->segments[1]->file, ".aside"));
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * (T_ROUNDS - 1));
    ck_assert(shard_fsm_is_hydrating(dst));
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(dst);
    shard_fsm_destroy(src);
}
END_TEST

START_TEST(test_hydrate_restore_drops_shards_not_in_manifest)
{
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src = fsm_open("src", &sa);
    source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    struct shard_fsm *dst = fsm_open("dst", &da);
    apply_create(&da, 1, "gone"); /* dropped on the leader since */
    ck_assert_uint_eq(shard_fsm_shard_count(dst), T_SHARDS);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    ck_assert_uint_eq(shard_fsm_shard_count(dst), T_SHARDS);
    ck_assert_ptr_null(shard_fsm_find(dst, "gone", T_CREATED, 0));
    ck_assert_ptr_nonnull(shard_fsm_find(dst, T_STREAM, T_CREATED, 0));
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(dst);
    shard_fsm_destroy(src);
}
END_TEST

START_TEST(test_hydrate_restore_malformed_manifest_fails)
{
    struct rgroup_fsm da;
    struct shard_fsm *dst = fsm_open("dst", &da);
    Eddy__SegmentManifest seg = EDDY__SEGMENT_MANIFEST__INIT;
    seg.file = "../../../etc/passwd";
    seg.bytes = 100;
    Eddy__SegmentManifest *segs[] = {&seg};
    Eddy__ShardManifest m = EDDY__SHARD_MANIFEST__INIT;
    m.stream = T_STREAM;
    m.created_ms = T_CREATED;
    m.segments = segs;
    m.n_segments = 1;
    Eddy__ShardManifest *ms[] = {&m};
    Eddy__GroupSnapshot snap = EDDY__GROUP_SNAPSHOT__INIT;
    snap.shards = ms;
    snap.n_shards = 1;
    uint8_t buf[256];
    size_t len = eddy__group_snapshot__pack(&snap, buf);
    ck_assert_int_eq(da.restore(da.data, buf, len), -EDDY_ECORRUPT);
    ck_assert_uint_eq(shard_fsm_shard_count(dst), 0);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    ck_assert_int_eq(da.restore(da.data, garbage, sizeof(garbage)), -EDDY_ECORRUPT);
    shard_fsm_destroy(dst);
}
END_TEST

START_TEST(test_hydrate_import_checks_against_the_manifest)
{
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src = fsm_open("src", &sa);
    uint64_t next = source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    apply_records(&sa, next); /* the source's active files grow past the manifest */
    struct shard_fsm *dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    const Eddy__ShardManifest *m = snap->shards[0];
    const Eddy__SegmentManifest *newest = m->segments[m->n_segments - 1];
    const char *src_dir = seg_store_dir(shard_fsm_find(src, m->stream, m->created_ms, m->shard));
    const char *dst_dir = seg_store_dir(shard_fsm_find(dst, m->stream, m->created_ms, m->shard));
    /* Longer than the manifest says: refused, and removed. */
    copy_file(src_dir, dst_dir, newest->file, newest->bytes + 1000000);
    struct seg_import *imp;
    ck_assert_int_eq(seg_import_scan(dst_dir, newest->file, &imp), 0);
    ck_assert_int_eq(shard_fsm_import(dst, m->stream, m->created_ms, m->shard, imp),
                     -EDDY_ECORRUPT);
    ck_assert(!path_exists(dst_dir, newest->file, ""));
    /* A shard the group does not hold. */
    copy_file(src_dir, dst_dir, newest->file, newest->bytes);
    ck_assert_int_eq(seg_import_scan(dst_dir, newest->file, &imp), 0);
    ck_assert_int_eq(shard_fsm_import(dst, "other", 1, m->shard, imp), -EDDY_ENOTFOUND);
    /* The manifest's prefix of the active file: taken. */
    copy_file(src_dir, dst_dir, newest->file, newest->bytes);
    ck_assert_int_eq(seg_import_scan(dst_dir, newest->file, &imp), 0);
    ck_assert_int_eq(shard_fsm_import(dst, m->stream, m->created_ms, m->shard, imp), 0);
    /* Twice: the store has it. */
    ck_assert_int_eq(seg_import_scan(dst_dir, newest->file, &imp), 0);
    ck_assert_int_eq(shard_fsm_import(dst, m->stream, m->created_ms, m->shard, imp), -EDDY_EEXISTS);
    ck_assert(path_exists(dst_dir, newest->file, ""));
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * T_ROUNDS - 1);
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(dst);
    shard_fsm_destroy(src);
}
END_TEST

/* Copies every file dst lacks from src, as much as dst's manifest names,
 * and imports it (the active one through a merge, on this thread). */
static void import_all(struct shard_fsm *dst, struct shard_fsm *src)
{
    for (int k = 0; k < 100 && shard_fsm_is_hydrating(dst); k++) {
        struct shard_fsm_missing m;
        ck_assert(shard_fsm_next_missing(dst, &m));
        char dir[512];
        char file[64];
        char stream[64];
        snprintf(dir, sizeof(dir), "%s", m.dir);
        snprintf(file, sizeof(file), "%s", m.file);
        snprintf(stream, sizeof(stream), "%s", m.stream);
        struct seg_store *from = shard_fsm_find(src, m.stream, m.created_ms, m.shard);
        copy_file(seg_store_dir(from), dir, file, m.bytes);
        struct seg_import *imp;
        ck_assert_int_eq(seg_import_scan(dir, file, &imp), 0);
        ck_assert_int_eq(shard_fsm_import(dst, stream, m.created_ms, m.shard, imp), 0);
    }
    ck_assert(!shard_fsm_is_hydrating(dst));
}

START_TEST(test_hydrate_restore_converges_after_a_crash_mid_merge)
{
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src = fsm_open("src", &sa);
    uint64_t next = source_build(src, &sa);
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap = snapshot_of(&sa, &buf, &len);
    apply_records(&sa, next);

    /* A crash with the manifest's files fetched and in place, the active
     * one not merged with the file of later records: a restart keeps the
     * files the manifest names, sets the later file aside, and raft replays
     * its entry onto the active file. */
    struct shard_fsm *dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    apply_records(&da, next);
    for (size_t i = 0; i < snap->n_shards; i++) {
        const Eddy__ShardManifest *m = snap->shards[i];
        const char *from = seg_store_dir(shard_fsm_find(src, m->stream, m->created_ms, m->shard));
        const char *to = seg_store_dir(shard_fsm_find(dst, m->stream, m->created_ms, m->shard));
        for (size_t j = 0; j < m->n_segments; j++) {
            copy_file(from, to, m->segments[j]->file, m->segments[j]->bytes);
        }
    }
    shard_fsm_destroy(dst);
    dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    ck_assert(!shard_fsm_is_hydrating(dst));
    apply_records(&da, next);
    assert_same_records(src, dst);
    assert_same_dirs(src, dst);
    shard_fsm_destroy(dst);

    /* A crash before the merge renamed anything, with the fetched active
     * file left as a part file, and a restart from the snapshot taken while
     * hydrating: it names the active file as the source holds it, so the
     * later file goes aside and the whole file is fetched again. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/dst", root);
    ck_assert_int_eq(system(cmd), 0);
    dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    apply_records(&da, next);
    uint8_t *dbuf;
    size_t dlen;
    Eddy__GroupSnapshot *dsnap = snapshot_of(&da, &dbuf, &dlen);
    const Eddy__ShardManifest *m0 = snap->shards[0];
    const Eddy__SegmentManifest *active = m0->segments[m0->n_segments - 1];
    const char *to = seg_store_dir(shard_fsm_find(dst, m0->stream, m0->created_ms, m0->shard));
    copy_file(seg_store_dir(shard_fsm_find(src, m0->stream, m0->created_ms, m0->shard)), to,
              active->file, active->bytes);
    char path[512];
    char part[600];
    snprintf(path, sizeof(path), "%s/%s", to, active->file);
    snprintf(part, sizeof(part), "%s.part", path);
    ck_assert_int_eq(rename(path, part), 0);
    shard_fsm_destroy(dst);
    dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, dbuf, dlen), 0);
    ck_assert_uint_eq(shard_fsm_missing_count(dst), T_SHARDS * T_ROUNDS);
    import_all(dst, src);
    assert_same_records(src, dst);
    assert_same_dirs(src, dst);

    /* Merged: a restart from either snapshot keeps every file as it is. */
    shard_fsm_destroy(dst);
    dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, dbuf, dlen), 0);
    ck_assert(!shard_fsm_is_hydrating(dst));
    assert_same_dirs(src, dst);
    shard_fsm_destroy(dst);
    dst = fsm_open("dst", &da);
    ck_assert_int_eq(da.restore(da.data, buf, len), 0);
    ck_assert(!shard_fsm_is_hydrating(dst));
    apply_records(&da, next); /* replayed: skipped */
    assert_same_dirs(src, dst);
    apply_records(&sa, next + 1);
    apply_records(&da, next + 1);
    assert_same_dirs(src, dst);
    eddy__group_snapshot__free_unpacked(dsnap, NULL);
    eddy_free(dbuf);
    eddy__group_snapshot__free_unpacked(snap, NULL);
    eddy_free(buf);
    shard_fsm_destroy(dst);
    shard_fsm_destroy(src);
}
END_TEST

/* ---- fetch ---- */

/* A source, its manifest restored on a fresh replica, and entries after the
 * snapshot applied to both while the fetcher runs. */
struct tpair {
    struct rgroup_fsm sa;
    struct rgroup_fsm da;
    struct shard_fsm *src;
    struct shard_fsm *dst;
    uint8_t *buf;
    size_t len;
    Eddy__GroupSnapshot *snap;
    uint64_t next;
};

static void tpair_make(struct tpair *p)
{
    memset(p, 0, sizeof(*p));
    p->src = fsm_open("src", &p->sa);
    p->next = source_build(p->src, &p->sa);
    p->snap = snapshot_of(&p->sa, &p->buf, &p->len);
    p->dst = fsm_open("dst", &p->da);
    ck_assert_int_eq(p->da.restore(p->da.data, p->buf, p->len), 0);
    ck_assert(shard_fsm_is_hydrating(p->dst));
    for (int k = 0; k < 2; k++) {
        apply_records(&p->sa, p->next);
        apply_records(&p->da, p->next);
        p->next++;
    }
}

static void tpair_free(struct tpair *p)
{
    eddy__group_snapshot__free_unpacked(p->snap, NULL);
    eddy_free(p->buf);
    shard_fsm_destroy(p->dst);
    shard_fsm_destroy(p->src);
}

START_TEST(test_hydrate_fetch_copies_every_file)
{
    struct tpair p;
    tpair_make(&p);
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    ck_assert(run_until(&t.is_whole));
    ck_assert_uint_eq(t.went_hydrating, 1);
    ck_assert_uint_eq(t.went_whole, 1);
    ck_assert(!hydrate_is_hydrating(t.h));
    ck_assert(!shard_fsm_is_hydrating(p.dst));
    struct hydrate_stats st;
    hydrate_stats(t.h, &st);
    ck_assert_uint_eq(st.files_fetched, T_SHARDS * T_ROUNDS);
    ck_assert_uint_ge(st.failures, 1);               /* node 2 listens nowhere */
    ck_assert_uint_gt(peer.calls, st.files_fetched); /* several chunks a file */
    /* Entries keep coming after hydration, on both. */
    apply_records(&p.sa, p.next);
    apply_records(&p.da, p.next);
    assert_same_records(p.src, p.dst);
    assert_same_files(p.snap, p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    tpair_free(&p);
}
END_TEST

START_TEST(test_hydrate_fetch_retries_torn_and_damaged_chunks)
{
    struct tpair p;
    tpair_make(&p);
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    peer.torn_left = 3;
    peer.flipped_left = 2;
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    ck_assert(run_until(&t.is_whole));
    struct hydrate_stats st;
    hydrate_stats(t.h, &st);
    ck_assert_uint_eq(peer.torn_left, 0);
    ck_assert_uint_eq(peer.flipped_left, 0);
    ck_assert_uint_ge(st.failures, 5);
    ck_assert_uint_eq(st.files_fetched, T_SHARDS * T_ROUNDS);
    assert_same_records(p.src, p.dst);
    assert_same_files(p.snap, p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    tpair_free(&p);
}
END_TEST

struct twatch {
    struct hydrate *h;
    bool done;
    uv_timer_t timer;
};

static void twatch_on_timer(uv_timer_t *t)
{
    struct twatch *w = t->data;
    struct hydrate_stats st;
    hydrate_stats(w->h, &st);
    w->done = st.files_fetched >= 2;
}

START_TEST(test_hydrate_fetch_resumes_after_a_restart)
{
    struct tpair p;
    tpair_make(&p);
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    struct twatch w = {.h = t.h};
    w.timer.data = &w;
    uv_timer_init(&loop, &w.timer);
    uv_timer_start(&w.timer, twatch_on_timer, 1, 1);
    ck_assert(run_until(&w.done));
    uv_timer_stop(&w.timer);
    uv_close((uv_handle_t *)&w.timer, NULL);
    tfetch_stop(&t); /* the process stops mid-way */
    size_t missing = shard_fsm_missing_count(p.dst);
    ck_assert_uint_lt(missing, T_SHARDS * T_ROUNDS);
    ck_assert_uint_gt(missing, 0);

    /* Its own snapshot names what it still lacks; a restart from it keeps
     * the fetched files and the records applied since. */
    uint8_t *dbuf;
    size_t dlen;
    Eddy__GroupSnapshot *dsnap = snapshot_of(&p.da, &dbuf, &dlen);
    shard_fsm_destroy(p.dst);
    p.dst = fsm_open("dst", &p.da);
    ck_assert_int_eq(p.da.restore(p.da.data, dbuf, dlen), 0);
    ck_assert_uint_le(shard_fsm_missing_count(p.dst), missing);
    ck_assert_uint_gt(shard_fsm_missing_count(p.dst), 0);
    tfetch_start(&t, p.dst, &peer);
    ck_assert(run_until(&t.is_whole));
    assert_same_records(p.src, p.dst);
    assert_same_files(p.snap, p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    apply_records(&p.sa, p.next);
    apply_records(&p.da, p.next);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    eddy__group_snapshot__free_unpacked(dsnap, NULL);
    eddy_free(dbuf);
    tpair_free(&p);
}
END_TEST

START_TEST(test_hydrate_fetch_backs_off_while_no_peer_serves)
{
    struct tpair p;
    tpair_make(&p);
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    peer.refuse = true;
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    /* 300 ms of refusals: bounded by the back-off, not a busy loop. */
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + 300;
    uv_timer_start(&guard, on_guard, 10, 10);
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&guard);
    ck_assert_uint_eq(t.went_hydrating, 1);
    ck_assert(!t.is_whole);
    ck_assert_uint_gt(peer.calls, 2);
    ck_assert_uint_lt(peer.calls, 40); /* 5, 10, 20, 40, 40... ms apart */
    peer.refuse = false;
    ck_assert(run_until(&t.is_whole));
    assert_same_records(p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    tpair_free(&p);
}
END_TEST

/* Entries applied to both replicas on a timer while the fetcher runs. */
struct tfeed {
    struct tpair *p;
    uv_timer_t timer;
    unsigned applied;
};

static void tfeed_on_timer(uv_timer_t *t)
{
    struct tfeed *feed = t->data;
    struct tpair *p = feed->p;
    apply_records(&p->sa, p->next);
    apply_records(&p->da, p->next);
    p->next++;
    feed->applied++;
}

START_TEST(test_hydrate_fetch_while_records_keep_arriving)
{
    struct tpair p;
    tpair_make(&p);
    /* A long tail before the fetch, so that copying it takes a while. */
    for (int k = 0; k < 150; k++) {
        apply_records(&p.sa, p.next);
        apply_records(&p.da, p.next);
        p.next++;
    }
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    struct tfeed feed = {.p = &p};
    feed.timer.data = &feed;
    ck_assert_int_eq(uv_timer_init(&loop, &feed.timer), 0);
    uv_timer_start(&feed.timer, tfeed_on_timer, 1, 1);
    ck_assert(run_until(&t.is_whole));
    uv_timer_stop(&feed.timer);
    uv_close((uv_handle_t *)&feed.timer, NULL);
    ck_assert_uint_gt(feed.applied, 0);
    struct hydrate_stats st;
    hydrate_stats(t.h, &st);
    ck_assert_uint_eq(st.files_fetched, T_SHARDS * T_ROUNDS);
    assert_same_records(p.src, p.dst);
    assert_same_files(p.snap, p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    apply_records(&p.sa, p.next);
    apply_records(&p.da, p.next);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    tpair_free(&p);
}
END_TEST

START_TEST(test_hydrate_fetch_merged_file_crosses_the_limit)
{
    /* 72 MiB into shard 0 after the snapshot: on the source its active file
     * passes SEG_FILE_BYTES_MAX and is sealed, and a file named by the next
     * record follows; the hydrated replica must end the same. */
    struct tpair p;
    tpair_make(&p);
    for (int k = 0; k < 18; k++) {
        apply_big(&p.sa, p.next, 0);
        apply_big(&p.da, p.next, 0);
        p.next++;
    }
    apply_records(&p.sa, p.next);
    apply_records(&p.da, p.next);
    p.next++;
    struct tpeer peer;
    tpeer_start(&peer, p.src);
    struct tfetch t;
    tfetch_start(&t, p.dst, &peer);
    ck_assert(run_until(&t.is_whole));
    static struct tfiles files;
    memset(&files, 0, sizeof(files));
    seg_store_files(shard_fsm_find(p.src, T_STREAM, T_CREATED, 0), tfiles_cb, &files);
    ck_assert_uint_eq(files.count, T_ROUNDS + 1);
    ck_assert(files.info[T_ROUNDS - 1].sealed);
    ck_assert_uint_ge(files.info[T_ROUNDS - 1].bytes, SEG_FILE_BYTES_MAX);
    assert_same_files(p.snap, p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    apply_big(&p.sa, p.next, 0);
    apply_big(&p.da, p.next, 0);
    assert_same_records(p.src, p.dst);
    assert_same_dirs(p.src, p.dst);
    tfetch_stop(&t);
    tpeer_stop(&peer);
    tpair_free(&p);
}
END_TEST

/* ---- serve ---- */

struct tcall {
    bool done;
    int status;
    int code;
    uint8_t data[HYDRATE_SERVE_BYTES_MAX];
    size_t len;
    uint64_t file_bytes;
};

static void tcall_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct tcall *c = arg;
    c->done = true;
    c->status = status;
    if (status != 0) {
        return;
    }
    ck_assert_int_eq(resp->body_case, EDDY__FRAME__BODY_FETCH_SEGMENT_RESP);
    c->code = rpc_frame_status(resp)->code;
    const Eddy__FetchSegmentResp *fs = resp->fetch_segment_resp;
    ck_assert_uint_le(fs->data.len, sizeof(c->data));
    if (fs->data.len > 0) {
        memcpy(c->data, fs->data.data, fs->data.len);
    }
    c->len = fs->data.len;
    c->file_bytes = fs->file_bytes;
}

static struct tcall *
fetch(struct rpc_client *client, uint32_t shard, const char *file, uint64_t offset, uint32_t length)
{
    static struct tcall c;
    memset(&c, 0, sizeof(c));
    Eddy__FetchSegmentReq req = EDDY__FETCH_SEGMENT_REQ__INIT;
    req.group = 1;
    req.stream = T_STREAM;
    req.stream_created_ms = T_CREATED;
    req.shard = shard;
    req.file = (char *)file;
    req.offset = offset;
    req.length = length;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_FETCH_SEGMENT;
    f.fetch_segment = &req;
    rpc_client_call(client, &f, 5000, tcall_on_reply, &c);
    ck_assert(run_until(&c.done));
    ck_assert_int_eq(c.status, 0);
    return &c;
}

struct tfirst {
    char name[64];
    uint64_t bytes;
    bool got;
};

static void first_file_cb(void *arg, const struct seg_file_info *f)
{
    struct tfirst *t = arg;
    if (!t->got) {
        snprintf(t->name, sizeof(t->name), "%s", f->name);
        t->bytes = f->bytes;
        t->got = true;
    }
}

START_TEST(test_hydrate_serve_reads_only_listed_files)
{
    struct rgroup_fsm sa;
    struct shard_fsm *src = fsm_open("src", &sa);
    source_build(src, &sa);
    struct tpeer peer;
    tpeer_start(&peer, src);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", peer.port);
    struct rpc_client *client;
    ck_assert_int_eq(rpc_client_init(&client, &loop, addr), 0);
    struct seg_store *store = shard_fsm_find(src, T_STREAM, T_CREATED, 1);
    struct tfirst first = {.got = false};
    seg_store_files(store, first_file_cb, &first);
    ck_assert(first.got);
    uint64_t size;
    uint32_t whole_crc = file_crc(seg_store_dir(store), first.name, 0, &size);
    ck_assert_uint_eq(size, first.bytes);

    struct tcall *c = fetch(client, 1, first.name, 100, 200);
    ck_assert_int_eq(c->code, 0);
    ck_assert_uint_eq(c->len, 200);
    ck_assert_uint_eq(c->file_bytes, first.bytes);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", seg_store_dir(store), first.name);
    uint8_t want[200];
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, want, sizeof(want), 100), (ssize_t)sizeof(want));
    close(fd);
    ck_assert_int_eq(memcmp(c->data, want, sizeof(want)), 0);
    /* A long ask gets the rest of the file, at most HYDRATE_SERVE_BYTES_MAX. */
    c = fetch(client, 1, first.name, 0, UINT32_MAX);
    ck_assert_int_eq(c->code, 0);
    ck_assert_uint_eq(c->len, first.bytes);
    ck_assert_uint_eq(crc32c_update(0, c->data, c->len), whole_crc);
    c = fetch(client, 1, first.name, first.bytes, 100);
    ck_assert_int_eq(c->code, 0);
    ck_assert_uint_eq(c->len, 0);
    c = fetch(client, 1, first.name, first.bytes + 1, 100);
    ck_assert_int_eq(c->code, -EDDY_EINVAL);
    /* Only names the store lists: no path reaches anything else. */
    c = fetch(client, 1, "../../../../etc/passwd", 0, 100);
    ck_assert_int_eq(c->code, -EDDY_ENOTFOUND);
    c = fetch(client, 1, "00000000000000000000000000000001.seg", 0, 100);
    ck_assert_int_eq(c->code, -EDDY_ENOTFOUND);
    c = fetch(client, 9, first.name, 0, 100);
    ck_assert_int_eq(c->code, -EDDY_ENOTFOUND);
    bool closed = false;
    rpc_client_close(client, on_flag, &closed);
    ck_assert(run_until(&closed));
    tpeer_stop(&peer);
    shard_fsm_destroy(src);
}
END_TEST

static Suite *hydrate_suite(void)
{
    Suite *s = suite_create("hydrate");
    TCase *restore = tcase_create("restore");
    tcase_add_checked_fixture(restore, setup, teardown);
    tcase_set_timeout(restore, 30);
    tcase_add_test(restore, test_hydrate_restore_behind_lists_missing_files);
    tcase_add_test(restore, test_hydrate_restore_whole_is_not_hydrating);
    tcase_add_test(restore, test_hydrate_restore_keeps_matching_files_sets_others_aside);
    tcase_add_test(restore, test_hydrate_restore_drops_shards_not_in_manifest);
    tcase_add_test(restore, test_hydrate_restore_malformed_manifest_fails);
    tcase_add_test(restore, test_hydrate_import_checks_against_the_manifest);
    tcase_add_test(restore, test_hydrate_restore_converges_after_a_crash_mid_merge);
    suite_add_tcase(s, restore);
    TCase *fetch_tc = tcase_create("fetch");
    tcase_add_checked_fixture(fetch_tc, setup, teardown);
    tcase_set_timeout(fetch_tc, 60);
    tcase_add_test(fetch_tc, test_hydrate_fetch_copies_every_file);
    tcase_add_test(fetch_tc, test_hydrate_fetch_retries_torn_and_damaged_chunks);
    tcase_add_test(fetch_tc, test_hydrate_fetch_resumes_after_a_restart);
    tcase_add_test(fetch_tc, test_hydrate_fetch_backs_off_while_no_peer_serves);
    tcase_add_test(fetch_tc, test_hydrate_fetch_while_records_keep_arriving);
    suite_add_tcase(s, fetch_tc);
    TCase *big = tcase_create("big");
    tcase_add_checked_fixture(big, setup, teardown);
    tcase_set_timeout(big, 240);
    tcase_add_test(big, test_hydrate_fetch_merged_file_crosses_the_limit);
    suite_add_tcase(s, big);
    TCase *serve = tcase_create("serve");
    tcase_add_checked_fixture(serve, setup, teardown);
    tcase_set_timeout(serve, 30);
    tcase_add_test(serve, test_hydrate_serve_reads_only_listed_files);
    suite_add_tcase(s, serve);
    return s;
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* failures injected here log warnings */
    log_init_from_env();
    SRunner *sr = srunner_create(hydrate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
