/* Control-plane call rates of the gateway: see ratelimit.h. */
#include "ratelimit.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/limits.h"
#include "eddy/tbucket.h"

#include <string.h>

struct ratelimit {
    struct tbucket_rate rates[LIMITS_API_COUNT];
    struct tbucket_table *keys;
};

void ratelimit_create(struct ratelimit **out, const struct limits_profile *p)
{
    *out = NULL;
    if (!limits_profile_limits_api(p)) {
        return;
    }
    struct ratelimit *rl = eddy_xcalloc(1, sizeof(*rl));
    for (size_t i = 0; i < LIMITS_API_COUNT; i++) {
        rl->rates[i] = tbucket_rate_make(p->api_tps[i], p->burst_ms);
    }
    rl->keys = tbucket_table_create(RATELIMIT_KEYS_MAX, 1);
    *out = rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (rl == NULL) {
        return;
    }
    tbucket_table_destroy(rl->keys);
    eddy_free(rl);
}

/* The string member key of doc, or NULL. */
static const char *ratelimit_member(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The stream a request names: StreamName, else the resource after
 * ":stream/" in StreamARN or ConsumerARN (up to the next '/'). Sets *len;
 * NULL when none. */
static const char *ratelimit_stream(const cJSON *doc, size_t *len)
{
    const char *name = ratelimit_member(doc, "StreamName");
    if (name != NULL) {
        *len = strlen(name);
        return *len > 0 ? name : NULL;
    }
    static const char *const arns[] = {"StreamARN", "ConsumerARN"};
    for (size_t i = 0; i < EDDY_ARRAY_LEN(arns); i++) {
        const char *arn = ratelimit_member(doc, arns[i]);
        const char *res = arn != NULL ? strstr(arn, ":stream/") : NULL;
        if (res != NULL) {
            res += strlen(":stream/");
            *len = strcspn(res, "/");
            return *len > 0 ? res : NULL;
        }
    }
    return NULL;
}

/* The bucket of one call: the operation, and the stream or shard its scope
 * counts by. */
static uint64_t ratelimit_key(int op, const char *stream, size_t stream_len, int64_t shard)
{
    uint64_t key = tbucket_key_add(TBUCKET_KEY_SEED, &op, sizeof(op));
    if (stream != NULL) {
        key = tbucket_key_add(key, stream, stream_len);
    }
    return tbucket_key_add(key, &shard, sizeof(shard));
}

int ratelimit_admit(struct ratelimit *rl,
                    const char *op,
                    const cJSON *doc,
                    const struct api_config *cfg,
                    uint64_t now_ms,
                    struct api_error *e)
{
    int index = rl != NULL ? limits_profile_api_find(op, strlen(op)) : -1;
    if (index < 0 || !tbucket_rate_is_limited(&rl->rates[index])) {
        return 0;
    }
    const struct limits_api *api = limits_profile_api((size_t)index);
    size_t stream_len = 0;
    const char *stream = ratelimit_stream(doc, &stream_len);
    int64_t shard = -1;
    if (api->scope == LIMITS_SCOPE_SHARD) {
        const char *id = ratelimit_member(doc, "ShardId");
        uint32_t n = 0;
        if (stream == NULL || id == NULL || !api_parse_shard_id(id, strlen(id), &n)) {
            return 0; /* names no shard: the action answers that */
        }
        shard = n;
    }
    bool by_stream = api->scope != LIMITS_SCOPE_ACCOUNT;
    uint64_t key = ratelimit_key(index, by_stream ? stream : NULL, stream_len, shard);
    struct tbucket *b = tbucket_table_get(rl->keys, key, &rl->rates[index], now_ms);
    if (tbucket_can_take(b, &rl->rates[index], 1, now_ms)) {
        tbucket_take(b, &rl->rates[index], 1, now_ms);
        return 0;
    }
    int name_len =
        (int)(stream_len < KIN_STREAM_NAME_LEN_MAX ? stream_len : KIN_STREAM_NAME_LEN_MAX);
    if (shard >= 0) {
        char id[API_SHARD_ID_TEXT_MAX];
        api_shard_id((uint32_t)shard, id);
        api_error_set(e, API_EX_THROUGHPUT_EXCEEDED,
                      "Rate exceeded for shard %s in stream %.*s under account %s.", id, name_len,
                      stream, cfg->account);
        return -EDDY_ETHROTTLED;
    }
    if (stream != NULL) {
        api_error_set(e, API_EX_LIMIT_EXCEEDED, "Rate exceeded for stream %.*s under account %s.",
                      name_len, stream, cfg->account);
    } else {
        api_error_set(e, API_EX_LIMIT_EXCEEDED, "Rate exceeded for account %s.", cfg->account);
    }
    return -EDDY_ELIMIT;
}
