/*
 * ChildShards of a closed shard (api_subscribe.h), as a SubscribeToShardEvent
 * carries them at the end of a shard: each child's ShardId, its ParentShards
 * (the shard and, after a merge, the adjacent one) and its HashKeyRange.
 * The same shape GetRecords answers at a shard's end.
 */
#include "api.h"

#include <string.h>

void api_child_shards_note(const Eddy__StreamInfo *st,
                           const Eddy__ShardInfo *sh,
                           struct api_child_shards *out)
{
    memset(out, 0, sizeof(*out));
    out->closed = sh->ending_sequence.len == 16;
    for (size_t i = 0; out->closed && i < st->n_shards; i++) {
        const Eddy__ShardInfo *ch = st->shards[i];
        if (ch == NULL || out->count == API_CHILD_SHARDS_MAX ||
            (ch->parent != (int64_t)sh->index && ch->adjacent_parent != (int64_t)sh->index)) {
            continue;
        }
        out->children[out->count].index = ch->index;
        out->children[out->count].parent = ch->parent;
        out->children[out->count].adjacent_parent = ch->adjacent_parent;
        uint8_t *keys = out->children[out->count].hash_keys;
        if (ch->hash_start.len == 16) {
            memcpy(keys, ch->hash_start.data, 16);
        }
        if (ch->hash_end.len == 16) {
            memcpy(keys + 16, ch->hash_end.data, 16);
        }
        out->count++;
    }
}

void api_child_shards_write(struct json_out *o, const struct api_child_shards *cs)
{
    json_out_key(o, "ChildShards");
    json_out_arr_begin(o);
    for (size_t i = 0; i < cs->count; i++) {
        char id[API_SHARD_ID_TEXT_MAX];
        json_out_obj_begin(o);
        api_shard_id(cs->children[i].index, id);
        json_out_kv_cstr(o, "ShardId", id);
        json_out_key(o, "ParentShards");
        json_out_arr_begin(o);
        int64_t parents[2] = {cs->children[i].parent, cs->children[i].adjacent_parent};
        for (int k = 0; k < 2; k++) {
            if (parents[k] >= 0 && parents[k] <= (int64_t)UINT32_MAX) {
                api_shard_id((uint32_t)parents[k], id);
                json_out_cstr(o, id);
            }
        }
        json_out_arr_end(o);
        json_out_key(o, "HashKeyRange");
        json_out_obj_begin(o);
        json_out_key(o, "StartingHashKey");
        json_out_u128(o, u128_from_be(cs->children[i].hash_keys));
        json_out_key(o, "EndingHashKey");
        json_out_u128(o, u128_from_be(cs->children[i].hash_keys + 16));
        json_out_obj_end(o);
        json_out_obj_end(o);
    }
    json_out_arr_end(o);
}
