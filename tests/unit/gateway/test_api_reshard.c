/*
 * The pure parts of resharding in the gateway: decoding and validation of
 * SplitShard, MergeShards and UpdateShardCount (texts as kinesalite's
 * tests recorded them from AWS), and lineage over a catalogue with a begun
 * reshard (api_reshard.c): what the API shows, and where a put goes after a
 * closed shard refused it.
 */
#include "api.h"
#include "json.h"
#include "../support/api_decode_fixture.h"

#include "eddy/errors.h"
#include "eddy/seqnum.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN "failed to satisfy constraint: Member must not be null"
#define NAME_RULE                                                                                  \
    "failed to satisfy constraint: Member must satisfy regular expression pattern: "               \
    "[a-zA-Z0-9_.-]+"
#define MIN1 "failed to satisfy constraint: Member must have length greater than or equal to 1"

START_TEST(test_api_reshard_split_validation)
{
    expect_validation(API_OP_SPLIT_SHARD, "{\"StreamName\":\"s\"}",
                      "2 validation errors detected: Value null at 'newStartingHashKey' " NN
                      "; Value null at 'shardToSplit' " NN);
    expect_validation(API_OP_SPLIT_SHARD,
                      "{\"StreamName\":\"\",\"ShardToSplit\":\"\",\"NewStartingHashKey\":\"\"}",
                      "5 validation errors detected: Value '' at 'newStartingHashKey' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "0|([1-9]\\d{0,38}); Value '' at 'streamName' " NAME_RULE
                      "; Value '' at 'streamName' " MIN1 "; Value '' at 'shardToSplit' " NAME_RULE
                      "; Value '' at 'shardToSplit' " MIN1);
    struct decoded d;
    decode(&d, API_OP_SPLIT_SHARD,
           "{\"StreamName\":\"s\",\"ShardToSplit\":\"x-002\","
           "\"NewStartingHashKey\":\"999999999999999999999999999999999999999\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(d.req.split_shard.shard.ok);
    ck_assert_uint_eq(d.req.split_shard.shard.index, 2);
    ck_assert_str_eq(d.req.split_shard.shard.text, "x-002");
    ck_assert(d.req.split_shard.hash_too_big);
    ck_assert_str_eq(d.req.split_shard.hash_text, "999999999999999999999999999999999999999");
    decoded_free(&d);
    decode(&d, API_OP_SPLIT_SHARD,
           "{\"StreamName\":\"s\",\"ShardToSplit\":\"ABKLFD8\",\"NewStartingHashKey\":\"12\"}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert(!d.req.split_shard.shard.ok);
    ck_assert(!d.req.split_shard.hash_too_big);
    ck_assert(d.req.split_shard.new_start == 12);
    decoded_free(&d);
}
END_TEST

START_TEST(test_api_reshard_merge_and_scale_validation)
{
    expect_validation(API_OP_MERGE_SHARDS, "{}",
                      "2 validation errors detected: Value null at 'shardToMerge' " NN
                      "; Value null at 'adjacentShardToMerge' " NN);
    expect_validation(API_OP_UPDATE_SHARD_COUNT, "{\"StreamName\":\"s\"}",
                      "2 validation errors detected: Value null at 'scalingType' " NN
                      "; Value null at 'targetShardCount' " NN);
    expect_validation(API_OP_UPDATE_SHARD_COUNT,
                      "{\"StreamName\":\"s\",\"ScalingType\":\"UNIFORM_SCALING\","
                      "\"TargetShardCount\":100001}",
                      "1 validation error detected: Value '100001' at 'targetShardCount' failed to "
                      "satisfy constraint: Member must have value less than or equal to 100000");
    struct decoded d;
    decode(&d, API_OP_UPDATE_SHARD_COUNT,
           "{\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/s\","
           "\"ScalingType\":\"UNIFORM_SCALING\",\"TargetShardCount\":7}");
    ck_assert_int_eq(d.rv, 0);
    ck_assert_str_eq(d.req.update_shard_count.name, "s");
    ck_assert_uint_eq(d.req.update_shard_count.target, 7);
    decoded_free(&d);
}
END_TEST

/* ---- lineage ---- */

static uint8_t lineage_bytes[8][3][16];
static Eddy__ShardInfo lineage_shards[8];
static Eddy__ShardInfo *lineage_ptrs[8];

/* Shard i: [start, end], parent, adjacent parent, closed when end_index != 0. */
static void
lineage_shard(size_t i, u128 start, u128 end, int64_t parent, int64_t adjacent, uint64_t end_index)
{
    Eddy__ShardInfo *sh = &lineage_shards[i];
    eddy__shard_info__init(sh);
    u128_to_be(start, lineage_bytes[i][0]);
    u128_to_be(end, lineage_bytes[i][1]);
    u128_to_be(seqnum_make(end_index, (uint32_t)i, 0), lineage_bytes[i][2]);
    sh->index = (uint32_t)i;
    sh->hash_start = (ProtobufCBinaryData){16, lineage_bytes[i][0]};
    sh->hash_end = (ProtobufCBinaryData){16, lineage_bytes[i][1]};
    sh->parent = parent;
    sh->adjacent_parent = adjacent;
    if (end_index != 0) {
        sh->ending_sequence = (ProtobufCBinaryData){16, lineage_bytes[i][2]};
    }
    lineage_ptrs[i] = sh;
}

START_TEST(test_api_reshard_lineage_of_a_begun_reshard)
{
    const u128 max = ~(u128)0;
    const u128 half = (u128)1 << 127;
    /* 0 and 1 split the key space; 0 was split before into 2 and 3 (done);
     * now 1 is being split into 4 and 5, and 5 already into 6 and 7 (a
     * chain, as UpdateShardCount makes). */
    lineage_shard(0, 0, half - 1, -1, -1, 10);
    lineage_shard(1, half, max, -1, -1, 0);
    lineage_shard(2, 0, 99, 0, -1, 0);
    lineage_shard(3, 100, half - 1, 0, -1, 0);
    lineage_shard(4, half, half + 9, 1, -1, 0);
    lineage_shard(5, half + 10, max, 1, -1, 0);
    lineage_shard(6, half + 10, half + 19, 5, -1, 0);
    lineage_shard(7, half + 20, max, 5, -1, 0);
    Eddy__StreamInfo st = EDDY__STREAM_INFO__INIT;
    st.name = "s";
    st.status = EDDY__STREAM_STATUS__STREAM_UPDATING;
    st.n_shards = 8;
    st.shards = lineage_ptrs;
    ck_assert_uint_eq(api_reshard_settled_count(&st), 4);
    ck_assert_uint_eq(api_visible_shard_count(&st), 4);
    ck_assert_uint_eq(api_reshard_open_count(&st), 3);
    ck_assert_ptr_nonnull(api_reshard_find(&st, 3));
    ck_assert_ptr_null(api_reshard_find(&st, 4));
    /* Puts still go to the parent, then down the chain as each refuses. */
    ck_assert_uint_eq(api_route(&st, max)->index, 1);
    ck_assert_uint_eq(api_reshard_route_after(&st, max, 1)->index, 5);
    ck_assert_uint_eq(api_reshard_route_after(&st, max, 5)->index, 7);
    ck_assert_ptr_null(api_reshard_route_after(&st, max, 7));
    ck_assert_uint_eq(api_reshard_route_after(&st, half, 1)->index, 4);
    ck_assert_uint_eq(api_route(&st, 50)->index, 2);
    ck_assert_ptr_null(api_reshard_route_after(&st, 50, 2));
    /* Once the reshard finished, every shard shows. */
    lineage_shard(1, half, max, -1, -1, 20);
    lineage_shard(5, half + 10, max, 1, -1, 20);
    ck_assert_uint_eq(api_reshard_settled_count(&st), 8);
    ck_assert_uint_eq(api_reshard_open_count(&st), 5);
    Eddy__StreamInfo *streams[] = {&st};
    Eddy__Catalog cat = EDDY__CATALOG__INIT;
    cat.n_streams = 1;
    cat.streams = streams;
    ck_assert_uint_eq(api_reshard_account_open_count(&cat), 5);
}
END_TEST

static Suite *api_reshard_suite(void)
{
    Suite *s = suite_create("api_reshard");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_api_reshard_split_validation);
    tcase_add_test(tc, test_api_reshard_merge_and_scale_validation);
    suite_add_tcase(s, tc);
    TCase *lin = tcase_create("lineage");
    tcase_set_timeout(lin, 30);
    tcase_add_test(lin, test_api_reshard_lineage_of_a_begun_reshard);
    suite_add_tcase(s, lin);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_reshard_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
