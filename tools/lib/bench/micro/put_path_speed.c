/*
 * put_path_speed: CPU time of the steps a PutRecords call of 500 records
 * takes in one process, run by hand (not built by CMake, not a test):
 *   - gateway decode: api_decode_request of the JSON body (parse, base64,
 *     validation), the MD5 routing hash of every record, the frees;
 *   - RPC frame: rpc_frame_decode + rpc_frame_free of the gateway's
 *     PutRecordsReq to the shard leader.
 * Prints the best of 5 passes in CPU time of the thread (the machine is
 * shared). Bounded: a fixed number of rounds per step, a few seconds in all.
 *
 *   cmake --build build/perf-rel -j2 && cc -O2 -g -Iserver/gateway -Icommon/include \
 *     -Icommon -Ibuild/perf-rel/proto tools/lib/bench/micro/put_path_speed.c \
 *     build/perf-rel/libeddy_gateway.a build/perf-rel/libeddy_common.a \
 *     build/perf-rel/libeddy_proto.a -lcjson -lhttp_parser -lnghttp2 -lssl -lcrypto \
 *     -lprotobuf-c -luv -lraft -lm -o /tmp/put_path_speed && /tmp/put_path_speed [RECORD_BYTES]
 *
 * (The proto include dir is where the build tree generates rpc.pb-c.h; see
 * CMakeLists.txt PROTO_OUT.) Add -DPUT_PATH_SPEED_BEFORE_MD5_BATCH to time a
 * tree from before u128_md5_create (commit 6256ee6 and older).
 */
#include "api.h"

#include "eddy/base64.h"
#include "eddy/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SPEED_RECORDS = 500, SPEED_ROUNDS = 400 };

static double speed_now_s(void)
{
    struct timespec ts;
    /* CPU time of this thread: the machine is shared, wall time is not. */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* {"StreamName":"s","Records":[{"Data":"...","PartitionKey":"k-N"},...]} */
static char *speed_body(size_t record_bytes, size_t *len)
{
    size_t b64 = base64_encoded_len(record_bytes);
    size_t cap = 64 + SPEED_RECORDS * (b64 + 64);
    char *out = malloc(cap);
    uint8_t *data = malloc(record_bytes);
    char *enc = malloc(b64 + 1);
    if (out == NULL || data == NULL || enc == NULL) {
        abort();
    }
    size_t n = (size_t)snprintf(out, cap, "{\"StreamName\":\"speed\",\"Records\":[");
    for (size_t i = 0; i < SPEED_RECORDS; i++) {
        for (size_t k = 0; k < record_bytes; k++) {
            data[k] = (uint8_t)(i * 131 + k * 7);
        }
        enc[base64_encode(data, record_bytes, enc)] = '\0';
        n += (size_t)snprintf(out + n, cap - n, "%s{\"Data\":\"%s\",\"PartitionKey\":\"key-%zu\"}",
                              i ? "," : "", enc, i * 7919);
    }
    n += (size_t)snprintf(out + n, cap - n, "]}");
    free(data);
    free(enc);
    *len = n;
    return out;
}

static double speed_gateway(const char *body, size_t len)
{
    static const struct api_config cfg = {.region = "us-east-1", .account = "000000000000"};
    unsigned sink = 0;
    double t0 = speed_now_s();
    for (int r = 0; r < SPEED_ROUNDS; r++) {
        cJSON *doc = NULL;
        union api_req req;
        struct api_error e = {0};
        if (api_decode_request(API_OP_PUT_RECORDS, &cfg, (const uint8_t *)body, len, &doc, &req,
                               &e) != 0) {
            fprintf(stderr, "decode failed: %s\n", e.message ? e.message : "?");
            exit(1);
        }
#ifdef PUT_PATH_SPEED_BEFORE_MD5_BATCH
        for (size_t i = 0; i < req.put_records.count; i++) {
            sink += (unsigned)api_put_entry_hash(&req.put_records.entries[i]);
        }
#else
        struct u128_md5 *md5 = u128_md5_create();
        for (size_t i = 0; i < req.put_records.count; i++) {
            sink += (unsigned)api_put_entry_hash(&req.put_records.entries[i], md5);
        }
        u128_md5_destroy(md5);
#endif
        api_request_free(API_OP_PUT_RECORDS, &req);
        cJSON_Delete(doc);
    }
    double dt = speed_now_s() - t0;
    return sink == 12345 ? 0 : dt / SPEED_ROUNDS;
}

static double speed_frame(size_t record_bytes)
{
    Eddy__PutRecord recs[SPEED_RECORDS];
    Eddy__PutRecord *ptrs[SPEED_RECORDS];
    uint8_t *data = calloc(1, record_bytes + 1);
    char keys[SPEED_RECORDS][24];
    for (size_t i = 0; i < SPEED_RECORDS; i++) {
        eddy__put_record__init(&recs[i]);
        snprintf(keys[i], sizeof(keys[i]), "key-%zu", i * 7919);
        recs[i].partition_key = keys[i];
        recs[i].data.data = data;
        recs[i].data.len = record_bytes;
        recs[i].shard = (uint32_t)(i % 4);
        ptrs[i] = &recs[i];
    }
    Eddy__PutRecordsReq req = EDDY__PUT_RECORDS_REQ__INIT;
    req.stream = "speed";
    req.records = ptrs;
    req.n_records = SPEED_RECORDS;
    Eddy__Frame f = EDDY__FRAME__INIT;
    f.body_case = EDDY__FRAME__BODY_PUT_RECORDS;
    f.put_records = &req;
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    if (rpc_frame_encode(&f, &wire, &wire_len) != 0) {
        abort();
    }
    unsigned sink = 0;
    double t0 = speed_now_s();
    for (int r = 0; r < SPEED_ROUNDS; r++) {
        Eddy__Frame *g = NULL;
        size_t used = 0;
        if (rpc_frame_decode(wire, wire_len, &used, &g) != 0 || g == NULL) {
            abort();
        }
        sink += (unsigned)g->put_records->n_records;
        rpc_frame_free(g);
    }
    double dt = speed_now_s() - t0;
    free(wire);
    free(data);
    return sink == 12345 ? 0 : dt / SPEED_ROUNDS;
}

int main(int argc, char **argv)
{
    size_t record_bytes = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100;
    if (record_bytes == 0 || record_bytes > 64 * 1024) {
        fprintf(stderr, "usage: put_path_speed [RECORD_BYTES (1..65536)]\n");
        return 2;
    }
    size_t len = 0;
    char *body = speed_body(record_bytes, &len);
    double g = 1e9;
    double f = 1e9;
    for (int pass = 0; pass < 5; pass++) {
        double gp = speed_gateway(body, len);
        double fp = speed_frame(record_bytes);
        g = gp < g ? gp : g;
        f = fp < f ? fp : f;
    }
    printf(
        "%zu x %zu B (best of 5, CPU time): gateway decode + hash %.1f us/call (%.0f ns/record), "
        "RPC frame decode %.1f us/call (%.0f ns/record)\n",
        (size_t)SPEED_RECORDS, record_bytes, g * 1e6, g * 1e9 / SPEED_RECORDS, f * 1e6,
        f * 1e9 / SPEED_RECORDS);
    free(body);
    return 0;
}
