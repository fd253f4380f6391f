/*
 * Live SubscribeToShard subscriptions and the per-gateway registry of
 * (consumer, shard) keys: see subscription.h.
 *
 * A subscription drives one loop: lookup (the catalogue, for the shard's
 * group and ChildShards) -> push read -> one event -> next lookup, with at
 * most one of those in flight (is_busy). Between rounds it may wait on its
 * delay timer (a throughput debt, a failed read, a shard closed whose
 * reshard is not in the catalogue yet) or on the HTTP stream draining. It
 * ends from any of: its lifetime timer, the client going away, a takeover,
 * the shard's end, the stream or consumer going away, the gateway closing.
 * Ending closes the HTTP stream at once; the memory waits for the read in
 * flight and the two timers.
 */
#include "subscription.h"

#include "api.h"
#include "backend.h"
#include "eventstream.h"
#include "http.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/list.h"
#include "eddy/log.h"
#include "eddy/seqnum.h"
#include "eddy/tbucket.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* One event: at most GetRecords' record count, and past its first record
 * at most this much data (1 MiB keeps an event, base64 included, near the
 * HTTP stream's queue bound, and is half a second of the default rate). */
#define SUB_READ_RECORDS_MAX KIN_GET_RECORDS_LIMIT_MAX
#define SUB_READ_BYTES_MAX (1024 * 1024)
/* An event's payload: the largest read (one 10 MiB record past the 1 MiB)
 * in base64 with its framing fits a GetRecords response. */
#define SUB_EVENT_BYTES_MAX API_RESPONSE_BYTES_MAX
/* After a failed lookup or read (the backend has retried for its whole
 * deadline by then: no leader reachable). */
#define SUB_RETRY_MS 1000
/* A read reached the end of a closed shard whose reshard the catalogue does
 * not show yet: it will within the reshard's few steps. */
#define SUB_SHARD_END_RETRY_MS 200
/* "Another active subscription exists for this consumer: A:S:SHARD:C". */
#define SUB_MESSAGE_BYTES_MAX 1024

static_assert(SUB_READ_BYTES_MAX <= KIN_GET_RECORDS_BYTES_MAX, "a push read is a read");
static_assert(SUBSCRIPTION_HEARTBEAT_MS < SHARD_WAIT_MS_MAX, "the shard server waits that long");
static_assert(SUBSCRIPTION_LIVE_MAX <= RPC_INFLIGHT_MAX / 2,
              "a gateway's parked reads leave its connection to a node room for other calls");

/* A (consumer, shard) the registry knows: live or called recently. */
struct sub_key {
    struct list_link link;
    char stream[API_NAME_TEXT_MAX];
    uint64_t stream_created_ms;
    char consumer[API_NAME_TEXT_MAX];
    uint64_t consumer_created_ms;
    uint32_t shard;
    uint64_t last_call_ms; /* the last call that reached the key and was not over its rate */
    uint64_t started_ms;   /* of the live subscription */
    struct subscription *live;
    struct tbucket bucket; /* bytes sent to this consumer from this shard */
};

struct subscription_registry {
    uv_loop_t *loop;
    struct subscription_config cfg;
    struct tbucket_rate rate;
    struct list_link keys;
    size_t key_count;
    struct list_link streaming; /* subscriptions in SUB_STREAMING */
    size_t count;               /* subscriptions not yet freed */
    size_t reserved;            /* admitted calls waiting for their lease */
    bool is_closing;            /* end_all ran: nothing starts, nothing is released */
    uint64_t id_fallback;       /* ids when getrandom fails */
};

enum sub_state {
    SUB_STREAMING,
    SUB_ENDING,
    SUB_STATE_COUNT_,
};

static const bool sub_transitions[SUB_STATE_COUNT_][SUB_STATE_COUNT_] = {
    [SUB_STREAMING][SUB_ENDING] = true,
};

struct subscription {
    struct subscription_registry *reg;
    struct list_link link; /* reg->streaming while STREAMING */
    struct sub_key *key;   /* NULL once ENDING (the key may go then) */
    struct api_call *call; /* released when the subscription is freed */
    enum sub_state state;
    char stream[API_NAME_TEXT_MAX];
    uint64_t stream_created_ms;
    uint32_t shard;
    char consumer[API_NAME_TEXT_MAX];
    uint64_t consumer_created_ms;
    /* Where the next read starts; AFTER_SEQUENCE once a read answered. */
    Eddy__Position position;
    u128 seq;
    uint64_t timestamp_ms;
    u128 continuation; /* ContinuationSequenceNumber, once has_continuation */
    bool has_continuation;
    struct api_child_shards children; /* from the last lookup */
    bool is_busy;                     /* a lookup or a read in flight */
    bool is_waiting_drain;            /* the HTTP queue is full: the stream callback resumes */
    bool is_fresh_due;                /* the next lookup asks the coordinator */
    bool is_fresh_tried;              /* a fresh lookup already found the stream or consumer gone */
    uint64_t last_event_ms;           /* uv_now of the last event sent */
    uint64_t id;                      /* the lease's (subscription.h) */
    uint64_t admitted_ms;             /* uv_now of its admission: its reads' age */
    bool is_superseded;               /* taken over: the lease is another's, not given back */
    uv_timer_t lifetime;
    uv_timer_t delay;
    unsigned handles_open;
};

static void sub_next(struct subscription *s);
static void sub_end(struct subscription *s, const char *exception, const char *message);

static void sub_set_state(struct subscription *s, enum sub_state to)
{
    EDDY_ASSERT(sub_transitions[s->state][to]);
    s->state = to;
}

/* ---- sequence numbers ---- */

/* The highest sequence number of shard's layout (eddy/seqnum.h) at or below
 * v, so that reading AFTER it reads what reading AFTER v reads (no record of
 * the shard lies between them), and a client resubscribing with it as an
 * AFTER_SEQUENCE_NUMBER passes validation. A read that found nothing answers
 * the number just before its position (e.g. AT s gives s - 1), which is not
 * one of the shard's. */
static u128 sub_continuation(u128 v, uint32_t shard)
{
    uint64_t index = (uint64_t)(v >> 64) & SEQNUM_INDEX_MAX;
    uint32_t version = (uint32_t)(v >> 124);
    uint32_t v_shard = (uint32_t)(v >> 40) & SEQNUM_SHARD_MAX;
    uint32_t place = (uint32_t)(v >> 20) & SEQNUM_PLACE_MAX;
    if (version < SEQNUM_VERSION) {
        return seqnum_shard_start(shard);
    }
    if (version > SEQNUM_VERSION) {
        return seqnum_make(SEQNUM_INDEX_MAX, shard, SEQNUM_PLACE_MAX);
    }
    if (v_shard == shard) {
        return seqnum_make(index, shard, place);
    }
    if (v_shard > shard) {
        return seqnum_make(index, shard, SEQNUM_PLACE_MAX);
    }
    return index > 0 ? seqnum_make(index - 1, shard, SEQNUM_PLACE_MAX) : seqnum_shard_start(shard);
}

/* ---- events ---- */

static const char *sub_content_type(const struct subscription *s)
{
    return s->call->format == API_FORMAT_CBOR ? "application/x-amz-cbor-1.1" : "application/json";
}

/* Frames the payload o holds as an event (exception NULL) or a modeled
 * exception and queues it on the stream. 0, or the error: the caller ends
 * the subscription on -EDDY_ESHUTDOWN (the client is gone). */
static int sub_send(struct subscription *s, const char *type, bool exception, struct json_out *o)
{
    if (o->err != 0) {
        LOG_ERROR("subscription event too big stream=%s shard=%u", s->stream, s->shard);
        return o->err;
    }
    struct buf msg;
    buf_init(&msg, o->b.len + EVENTSTREAM_OVERHEAD_BYTES + 256);
    int rv = exception ? eventstream_exception(&msg, type, sub_content_type(s), o->b.data, o->b.len)
                       : eventstream_event(&msg, type, sub_content_type(s), o->b.data, o->b.len);
    if (rv == 0) {
        rv = http_request_stream_write(s->call->http, msg.data, msg.len);
    }
    buf_free(&msg);
    if (rv == 0 && !exception) {
        s->last_event_ms = uv_now(s->reg->loop);
    }
    return rv;
}

static int sub_send_initial_response(struct subscription *s)
{
    /* SubscribeToShardOutput has no member but the stream: {} */
    struct json_out o;
    api_out_init(s->call, &o, 64);
    json_out_obj_begin(&o);
    json_out_obj_end(&o);
    int rv = sub_send(s, "initial-response", false, &o);
    json_out_free(&o);
    return rv;
}

static void sub_write_record(struct json_out *o, const Eddy__ReadRecord *rec)
{
    json_out_obj_begin(o);
    json_out_key(o, "SequenceNumber");
    json_out_u128(o, rec->sequence.len == 16 ? u128_from_be(rec->sequence.data) : 0);
    json_out_key(o, "ApproximateArrivalTimestamp");
    json_out_timestamp_ms(o, rec->arrival_ms);
    json_out_key(o, "Data");
    json_out_blob(o, rec->data.data, rec->data.len);
    json_out_key(o, "PartitionKey");
    json_out_cstr(o, rec->partition_key != NULL ? rec->partition_key : "");
    if (rec->encryption == BACKEND_RECORD_KMS) {
        json_out_kv_cstr(o, "EncryptionType", "KMS"); /* as GetRecords: absent for NONE */
    }
    json_out_obj_end(o);
}

/* A SubscribeToShardEvent with resp's records (resp NULL: none, a
 * heartbeat), and ChildShards when with_children. */
static int sub_send_event(struct subscription *s, const Eddy__ReadResp *resp, bool with_children)
{
    struct json_out o;
    api_out_init(s->call, &o, SUB_EVENT_BYTES_MAX);
    json_out_obj_begin(&o);
    json_out_key(&o, "Records");
    json_out_arr_begin(&o);
    for (size_t i = 0; resp != NULL && i < resp->n_records; i++) {
        sub_write_record(&o, resp->records[i]);
    }
    json_out_arr_end(&o);
    json_out_key(&o, "ContinuationSequenceNumber");
    json_out_u128(&o, s->continuation);
    json_out_kv_u64(&o, "MillisBehindLatest", resp != NULL ? resp->millis_behind_latest : 0);
    if (with_children) {
        api_child_shards_write(&o, &s->children);
    }
    json_out_obj_end(&o);
    int rv = sub_send(s, "SubscribeToShardEvent", false, &o);
    json_out_free(&o);
    return rv;
}

/* A modeled exception event: {"message": message}. */
static void sub_send_exception(struct subscription *s, const char *type, const char *message)
{
    struct json_out o;
    api_out_init(s->call, &o, SUB_MESSAGE_BYTES_MAX + 64);
    json_out_obj_begin(&o);
    json_out_kv_cstr(&o, "message", message);
    json_out_obj_end(&o);
    (void)sub_send(s, type, true, &o); /* the stream ends next either way */
    json_out_free(&o);
}

/* "Another active subscription exists for this consumer: ACCOUNT:STREAM:SHARD:CONSUMER"
 * (AWS's text, as KCL logs show it). */
static void sub_in_use_message(const struct api_config *cfg,
                               const char *stream,
                               uint32_t shard,
                               const char *consumer,
                               char *out,
                               size_t size)
{
    char shard_id[API_SHARD_ID_TEXT_MAX];
    api_shard_id(shard, shard_id);
    snprintf(out, size, "Another active subscription exists for this consumer: %s:%s:%s:%s",
             cfg->account, stream, shard_id, consumer);
}

/* ---- ending and freeing ---- */

static void sub_maybe_free(struct subscription *s)
{
    if (s->state != SUB_ENDING || s->is_busy || s->handles_open > 0) {
        return;
    }
    struct subscription_registry *reg = s->reg;
    EDDY_ASSERT(reg->count > 0);
    reg->count--;
    api_stream_release(s->call); /* last: the gateway may finish draining in it */
    eddy_free(s);
}

static void sub_on_timer_closed(uv_handle_t *h)
{
    struct subscription *s = h->data;
    EDDY_ASSERT(s->handles_open > 0);
    s->handles_open--;
    sub_maybe_free(s);
}

/* ---- giving the lease back ---- */

/* A LEASE_RELEASE read on its way: it outlives the subscription (and the
 * gateway, which closes before the backend). */
struct sub_release {
    struct backend *backend;
    char stream[API_NAME_TEXT_MAX];
    char consumer[API_NAME_TEXT_MAX];
    struct subscription_target t;
};

static void sub_release_on_read(void *arg, int status, const Eddy__ReadResp *resp)
{
    (void)status; /* a lease not given back is taken over after 5 s */
    (void)resp;
    eddy_free(arg);
}

static void sub_release_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct sub_release *x = arg;
    const Eddy__StreamInfo *st = status == 0 ? api_find_stream(cat, x->stream) : NULL;
    if (st == NULL || st->created_ms != x->t.stream_created_ms) {
        eddy_free(x); /* the stream is gone, and its shards' leases with it */
        return;
    }
    struct backend_read rd = {.shard = x->t.shard, .position = EDDY__POSITION__POSITION_LATEST};
    subscription_lease_read(&x->t, EDDY__LEASE__LEASE_RELEASE, x->t.admitted_ms, &rd);
    backend_read(x->backend, st, &rd, sub_release_on_read, x);
}

/* Tells the shard's leader that s ended, so that the next subscription of
 * the consumer and shard, through any gateway, starts without waiting for
 * a takeover (the per-gateway registry forgets it at once likewise). */
static void sub_release(struct subscription *s)
{
    struct sub_release *x = eddy_xcalloc(1, sizeof(*x));
    x->backend = s->call->ctx->backend;
    json_copy(x->stream, sizeof(x->stream), s->stream, strlen(s->stream));
    json_copy(x->consumer, sizeof(x->consumer), s->consumer, strlen(s->consumer));
    x->t = (struct subscription_target){
        .stream = x->stream,
        .stream_created_ms = s->stream_created_ms,
        .shard = s->shard,
        .consumer = x->consumer,
        .consumer_created_ms = s->consumer_created_ms,
        .id = s->id,
        .admitted_ms = s->admitted_ms,
    };
    backend_catalog(x->backend, false, sub_release_on_catalog, x);
}

/* ---- ending ---- */

/* Ends the stream now (after an exception event if exception is not NULL)
 * and frees the subscription once nothing refers to it. The lease goes back
 * unless another subscription took it over. */
static void sub_end(struct subscription *s, const char *exception, const char *message)
{
    if (s->state != SUB_STREAMING) {
        return;
    }
    if (exception != NULL) {
        sub_send_exception(s, exception, message);
    }
    if (!s->is_superseded && !s->reg->is_closing) {
        sub_release(s);
    }
    sub_set_state(s, SUB_ENDING);
    list_remove(&s->link);
    if (s->key != NULL && s->key->live == s) {
        s->key->live = NULL;
    }
    s->key = NULL;
    http_request_stream_set_cb(s->call->http, NULL, NULL);
    api_stream_end(s->call);
    uv_close((uv_handle_t *)&s->lifetime, sub_on_timer_closed);
    uv_close((uv_handle_t *)&s->delay, sub_on_timer_closed);
    sub_maybe_free(s);
}

static void sub_on_lifetime(uv_timer_t *t)
{
    sub_end(t->data, NULL, NULL); /* a clean end: the client subscribes again */
}

static void sub_on_http(void *arg, struct http_request *r)
{
    struct subscription *s = arg;
    if (!http_request_is_connected(r)) {
        sub_end(s, NULL, NULL);
        return;
    }
    if (s->is_waiting_drain) {
        s->is_waiting_drain = false;
        sub_next(s);
    }
}

/* ---- the read loop ---- */

static void sub_on_delay(uv_timer_t *t)
{
    sub_next(t->data);
}

static void sub_delay(struct subscription *s, uint64_t ms)
{
    uv_timer_start(&s->delay, sub_on_delay, ms, 0);
}

/* The next round after ms; an empty event first if none went out for a
 * heartbeat period (and a continuation point is known). */
static void sub_retry(struct subscription *s, uint64_t ms)
{
    uint64_t now = uv_now(s->reg->loop);
    if (s->has_continuation && now - s->last_event_ms >= SUBSCRIPTION_HEARTBEAT_MS) {
        if (sub_send_event(s, NULL, false) == -EDDY_ESHUTDOWN) {
            sub_end(s, NULL, NULL);
            return;
        }
    }
    sub_delay(s, ms);
}

/* Bytes a read's records count against the consumer's throughput. */
static uint64_t sub_read_bytes(const Eddy__ReadResp *resp)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < resp->n_records; i++) {
        const Eddy__ReadRecord *rec = resp->records[i];
        bytes += rec->data.len + (rec->partition_key != NULL ? strlen(rec->partition_key) : 0);
    }
    return bytes;
}

static void sub_on_read(void *arg, int status, const Eddy__ReadResp *resp)
{
    struct subscription *s = arg;
    s->is_busy = false;
    if (s->state != SUB_STREAMING) {
        sub_maybe_free(s); /* ended meanwhile: the records were never sent */
        return;
    }
    if (status == -EDDY_ESUPERSEDED) {
        /* Taken over through another gateway (or, after a leader change,
         * found to be the older of two): AWS ends the old stream so. */
        char msg[SUB_MESSAGE_BYTES_MAX];
        sub_in_use_message(&s->call->cfg, s->stream, s->shard, s->consumer, msg, sizeof(msg));
        s->is_superseded = true;
        sub_end(s, "ResourceInUseException", msg);
        return;
    }
    if (status != 0 || resp == NULL) {
        if (status == -EDDY_ENOTFOUND) {
            s->is_fresh_due = true; /* the lookup tells whether the shard is gone */
        } else {
            LOG_DEBUG("subscription read failed stream=%s shard=%u err=%s", s->stream, s->shard,
                      eddy_strerror(status));
        }
        sub_retry(s, SUB_RETRY_MS);
        return;
    }
    if (resp->next_sequence.len == 16) {
        s->position = EDDY__POSITION__POSITION_AFTER_SEQUENCE;
        s->seq = u128_from_be(resp->next_sequence.data);
        s->continuation = sub_continuation(s->seq, s->shard);
        s->has_continuation = true;
    }
    uint64_t now = uv_now(s->reg->loop);
    tbucket_take(&s->key->bucket, &s->reg->rate, sub_read_bytes(resp), now);
    bool at_end = resp->shard_end && s->children.closed;
    if (resp->shard_end && !at_end && resp->n_records == 0) {
        /* Read to the end, but the reshard is not in the catalogue yet. */
        s->is_fresh_due = true;
        sub_retry(s, SUB_SHARD_END_RETRY_MS);
        return;
    }
    int rv = sub_send_event(s, resp, at_end);
    if (rv == -EDDY_ESHUTDOWN || at_end) {
        sub_end(s, NULL, NULL); /* after ChildShards the stream ends */
        return;
    }
    if (rv != 0) {
        sub_end(s, "InternalFailureException", "Internal Service Error");
        return;
    }
    if (resp->shard_end) {
        s->is_fresh_due = true;
        sub_delay(s, SUB_SHARD_END_RETRY_MS);
        return;
    }
    sub_next(s);
}

/* The shard in the stream the subscription reads, if both still exist. */
static const Eddy__ShardInfo *sub_find_shard(const struct subscription *s,
                                             const Eddy__Catalog *cat,
                                             const Eddy__StreamInfo **stream_out)
{
    const Eddy__StreamInfo *st = api_find_stream(cat, s->stream);
    *stream_out = st;
    if (st == NULL || st->created_ms != s->stream_created_ms ||
        st->status == EDDY__STREAM_STATUS__STREAM_DELETING) {
        return NULL;
    }
    for (size_t i = 0; i < st->n_shards; i++) {
        if (st->shards[i] != NULL && st->shards[i]->index == s->shard) {
            return st->shards[i];
        }
    }
    return NULL;
}

/* Ends the subscription when its stream, shard or consumer went away. */
static bool
sub_is_gone(struct subscription *s, const Eddy__StreamInfo *st, const Eddy__ShardInfo *sh)
{
    char shard_id[API_SHARD_ID_TEXT_MAX];
    char msg[SUB_MESSAGE_BYTES_MAX];
    const struct api_config *cfg = &s->call->cfg;
    api_shard_id(s->shard, shard_id);
    if (sh == NULL) {
        snprintf(msg, sizeof(msg), "Shard %s in stream %s under account %s does not exist",
                 shard_id, s->stream, cfg->account);
        sub_end(s, "ResourceNotFoundException", msg);
        return true;
    }
    const Eddy__ConsumerInfo *ci = api_find_consumer(st, s->consumer);
    if (ci == NULL || ci->created_ms != s->consumer_created_ms ||
        ci->status == EDDY__CONSUMER_STATUS__CONSUMER_DELETING) {
        snprintf(msg, sizeof(msg),
                 "Consumer %s with creation timestamp %" PRIu64
                 " under stream %s and account %s not found.",
                 s->consumer, s->consumer_created_ms / 1000, s->stream, cfg->account);
        sub_end(s, "ResourceNotFoundException", msg);
        return true;
    }
    return false;
}

static void sub_on_catalog(void *arg, int status, const Eddy__Catalog *cat)
{
    struct subscription *s = arg;
    s->is_busy = false;
    if (s->state != SUB_STREAMING) {
        sub_maybe_free(s);
        return;
    }
    if (status != 0) {
        sub_retry(s, SUB_RETRY_MS);
        return;
    }
    const Eddy__StreamInfo *st;
    const Eddy__ShardInfo *sh = sub_find_shard(s, cat, &st);
    const Eddy__ConsumerInfo *ci = st != NULL ? api_find_consumer(st, s->consumer) : NULL;
    bool is_whole = sh != NULL && ci != NULL && ci->created_ms == s->consumer_created_ms &&
                    ci->status != EDDY__CONSUMER_STATUS__CONSUMER_DELETING;
    if (!is_whole && !s->is_fresh_tried) {
        /* This gateway's copy may be behind: ask the coordinator once. */
        s->is_fresh_tried = true;
        s->is_fresh_due = true;
        sub_next(s);
        return;
    }
    if (!is_whole) {
        (void)sub_is_gone(s, st, sh);
        return;
    }
    s->is_fresh_tried = false;
    api_child_shards_note(st, sh, &s->children);
    struct backend_read rd = {
        .shard = s->shard,
        .position = s->position,
        .seq = s->seq,
        .timestamp_ms = s->timestamp_ms,
        .limit = SUB_READ_RECORDS_MAX,
        .bytes_max = SUB_READ_BYTES_MAX,
        .wait_ms = SUBSCRIPTION_HEARTBEAT_MS,
    };
    struct subscription_target lt = {
        .stream = s->stream,
        .stream_created_ms = s->stream_created_ms,
        .shard = s->shard,
        .consumer = s->consumer,
        .consumer_created_ms = s->consumer_created_ms,
        .id = s->id,
        .admitted_ms = s->admitted_ms,
    };
    subscription_lease_read(&lt, EDDY__LEASE__LEASE_HOLD, uv_now(s->reg->loop), &rd);
    s->is_busy = true;
    backend_read(s->call->ctx->backend, st, &rd, sub_on_read, s);
}

/* Starts the next round unless one runs, the timer waits, the HTTP queue
 * is at its bound or the consumer's throughput is in debt. */
static void sub_next(struct subscription *s)
{
    if (s->state != SUB_STREAMING || s->is_busy || uv_is_active((uv_handle_t *)&s->delay)) {
        return;
    }
    if (http_request_stream_queued(s->call->http) >= HTTP_STREAM_QUEUED_MAX) {
        s->is_waiting_drain = true; /* the stream callback resumes below half */
        return;
    }
    struct subscription_registry *reg = s->reg;
    uint64_t now = uv_now(reg->loop);
    if (!tbucket_is_positive(&s->key->bucket, &reg->rate, now)) {
        /* Paid back at the rate: whole tokens owed, plus one. */
        int64_t owed = -tbucket_tokens(&s->key->bucket, &reg->rate, now) + 1;
        uint64_t ms = ((uint64_t)owed * 1000 + reg->rate.per_s - 1) / reg->rate.per_s;
        sub_delay(s, ms > 0 ? ms : 1);
        return;
    }
    bool fresh = s->is_fresh_due;
    s->is_fresh_due = false;
    s->is_busy = true;
    backend_catalog(s->call->ctx->backend, fresh, sub_on_catalog, s);
}

/* ---- the registry ---- */

void subscription_registry_create(struct subscription_registry **out,
                                  uv_loop_t *loop,
                                  const struct subscription_config *cfg)
{
    struct subscription_registry *r = eddy_xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->cfg = *cfg;
    if (r->cfg.lifetime_ms == 0) {
        r->cfg.lifetime_ms = SUBSCRIPTION_LIFETIME_MS_DEFAULT;
    }
    /* A second's worth may go at once, as AWS lets a shard absorb bursts. */
    r->rate = tbucket_rate_make(r->cfg.bytes_per_s, 1000);
    list_init(&r->keys);
    list_init(&r->streaming);
    *out = r;
}

void subscription_registry_destroy(struct subscription_registry *r)
{
    if (r == NULL) {
        return;
    }
    EDDY_ASSERT(r->count == 0);
    EDDY_ASSERT(r->reserved == 0);
    while (!list_is_empty(&r->keys)) {
        struct sub_key *k = container_of(r->keys.next, struct sub_key, link);
        list_remove(&k->link);
        eddy_free(k);
    }
    eddy_free(r);
}

void subscription_registry_end_all(struct subscription_registry *r)
{
    r->is_closing = true; /* the backend closes next: no release reads */
    while (!list_is_empty(&r->streaming)) {
        sub_end(container_of(r->streaming.next, struct subscription, link), NULL, NULL);
    }
}

/* Forgets keys nothing depends on any more: no live subscription, no call
 * within the rate's second, a full bucket. */
static void sub_keys_prune(struct subscription_registry *r, uint64_t now)
{
    struct list_link *l = r->keys.next;
    while (l != &r->keys) {
        struct sub_key *k = container_of(l, struct sub_key, link);
        l = l->next;
        if (k->live != NULL || now - k->last_call_ms < SUBSCRIPTION_CALL_INTERVAL_MS) {
            continue;
        }
        if (tbucket_rate_is_limited(&r->rate) &&
            tbucket_tokens(&k->bucket, &r->rate, now) < (int64_t)r->rate.burst) {
            continue;
        }
        list_remove(&k->link);
        r->key_count--;
        eddy_free(k);
    }
}

static struct sub_key *sub_key_find(struct subscription_registry *r,
                                    const struct subscription_target *t)
{
    for (struct list_link *l = r->keys.next; l != &r->keys; l = l->next) {
        struct sub_key *k = container_of(l, struct sub_key, link);
        if (k->shard == t->shard && k->stream_created_ms == t->stream_created_ms &&
            k->consumer_created_ms == t->consumer_created_ms &&
            strcmp(k->consumer, t->consumer) == 0 && strcmp(k->stream, t->stream) == 0) {
            return k;
        }
    }
    return NULL;
}

static struct sub_key *
sub_key_add(struct subscription_registry *r, const struct subscription_target *t, uint64_t now)
{
    struct sub_key *k = eddy_xcalloc(1, sizeof(*k));
    json_copy(k->stream, sizeof(k->stream), t->stream, strlen(t->stream));
    json_copy(k->consumer, sizeof(k->consumer), t->consumer, strlen(t->consumer));
    k->stream_created_ms = t->stream_created_ms;
    k->consumer_created_ms = t->consumer_created_ms;
    k->shard = t->shard;
    tbucket_init(&k->bucket, &r->rate, now);
    list_push(&r->keys, &k->link);
    r->key_count++;
    return k;
}

/* Creates the subscription and starts its stream: headers, initial-response,
 * lifetime, first read. */
static void sub_start(struct subscription_registry *r,
                      struct api_call *c,
                      struct sub_key *k,
                      const struct subscription_target *t)
{
    struct subscription *s = eddy_xcalloc(1, sizeof(*s));
    s->reg = r;
    s->key = k;
    s->call = c;
    s->state = SUB_STREAMING;
    json_copy(s->stream, sizeof(s->stream), t->stream, strlen(t->stream));
    json_copy(s->consumer, sizeof(s->consumer), t->consumer, strlen(t->consumer));
    s->stream_created_ms = t->stream_created_ms;
    s->consumer_created_ms = t->consumer_created_ms;
    s->shard = t->shard;
    s->position = t->position;
    s->seq = t->seq;
    s->timestamp_ms = t->timestamp_ms;
    s->id = t->id;
    s->admitted_ms = t->admitted_ms;
    s->last_event_ms = uv_now(r->loop);
    uv_timer_init(r->loop, &s->lifetime);
    uv_timer_init(r->loop, &s->delay);
    s->lifetime.data = s;
    s->delay.data = s;
    s->handles_open = 2;
    list_push(&r->streaming, &s->link);
    r->count++;
    k->live = s;
    api_stream_begin(c, EVENTSTREAM_CONTENT_TYPE);
    http_request_stream_set_cb(c->http, sub_on_http, s);
    LOG_DEBUG("subscription start stream=%s shard=%u consumer=%s id=%s", s->stream, s->shard,
              s->consumer, c->request_id);
    /* At once: botocore needs it first, and the JS SDK's send() resolves on it. */
    if (sub_send_initial_response(s) != 0) {
        sub_end(s, NULL, NULL);
        return;
    }
    uv_timer_start(&s->lifetime, sub_on_lifetime, r->cfg.lifetime_ms, 0);
    sub_next(s);
}

/* A subscription id for the lease: random, never 0. */
static uint64_t sub_new_id(struct subscription_registry *r)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id)) {
        /* splitmix64 of the clock and a count: distinct here, and from
         * other gateways' unless their clocks and counts agree. */
        uint64_t x = uv_hrtime() + ++r->id_fallback * 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        id = x ^ (x >> 31);
    }
    return id != 0 ? id : 1;
}

int subscription_admit(struct subscription_registry *r,
                       struct subscription_target *t,
                       uint64_t now_ms)
{
    sub_keys_prune(r, now_ms);
    struct sub_key *k = sub_key_find(r, t);
    if (k != NULL && now_ms - k->last_call_ms < SUBSCRIPTION_CALL_INTERVAL_MS) {
        return -EDDY_ELIMIT;
    }
    if (k != NULL) {
        k->last_call_ms = now_ms;
    }
    if (k != NULL && k->live != NULL && now_ms - k->started_ms < SUBSCRIPTION_TAKEOVER_MS) {
        return -EDDY_EINUSE;
    }
    if (r->count + r->reserved >= SUBSCRIPTION_LIVE_MAX ||
        (k == NULL && r->key_count >= SUBSCRIPTION_KEYS_MAX)) {
        return -EDDY_EFULL;
    }
    if (k == NULL) {
        k = sub_key_add(r, t, now_ms);
        k->last_call_ms = now_ms;
    }
    r->reserved++;
    t->id = sub_new_id(r);
    t->admitted_ms = now_ms;
    return 0;
}

void subscription_lease_read(const struct subscription_target *t,
                             Eddy__Lease lease,
                             uint64_t now_ms,
                             struct backend_read *rd)
{
    EDDY_ASSERT(t->id != 0);
    rd->lease = lease;
    rd->consumer = t->consumer;
    rd->consumer_created_ms = t->consumer_created_ms;
    rd->subscription_id = t->id;
    rd->subscription_age_ms = now_ms > t->admitted_ms ? now_ms - t->admitted_ms : 0;
}

void subscription_abandon(struct subscription_registry *r)
{
    EDDY_ASSERT(r->reserved > 0);
    r->reserved--;
}

int subscription_open(struct subscription_registry *r,
                      struct api_call *c,
                      const struct subscription_target *t)
{
    subscription_abandon(r); /* the slot becomes the subscription */
    if (r->is_closing) {
        return -EDDY_ESHUTDOWN;
    }
    uint64_t now_ms = uv_now(r->loop);
    struct sub_key *k = sub_key_find(r, t);
    if (k == NULL) {
        /* Pruned while the lease was asked for (a call more than a second
         * ago, an idle bucket): at most the reserved slots over the bound. */
        k = sub_key_add(r, t, now_ms);
        k->last_call_ms = t->admitted_ms;
    }
    if (k->live != NULL) {
        /* The leader granted a takeover of this gateway's own subscription. */
        char msg[SUB_MESSAGE_BYTES_MAX];
        sub_in_use_message(&c->cfg, t->stream, t->shard, t->consumer, msg, sizeof(msg));
        k->live->is_superseded = true;
        sub_end(k->live, "ResourceInUseException", msg);
    }
    k->started_ms = now_ms;
    sub_start(r, c, k, t);
    return 0;
}
