/*
 * libFuzzer target for the pure request path of the Kinesis API: arbitrary
 * bytes as the x-amz-json-1.1 body of every action, through parsing, typed
 * reading and validation (api_decode_request). No backend is involved.
 * Checks: success and failure are exclusive and consistent, error messages
 * stay within their bound, and everything allocated is freed (LeakSanitizer).
 */
#include "api.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger bodies add little coverage and only slow the run. */
#define FUZZ_JSON_REQUEST_INPUT_MAX (64 * 1024)

static void fuzz_json_request_fail(const char *what, enum api_op op)
{
    fprintf(stderr, "fuzz_json_request: %s (op %s)\n", what, api_op_name(op));
    abort();
}

static void fuzz_json_request_check_ok(enum api_op op, const union api_req *req)
{
    switch (op) {
    case API_OP_PUT_RECORD:
        if (req->put_record.entry.data == NULL ||
            req->put_record.entry.data_len > KIN_RECORD_DATA_LARGE_MAX) {
            fuzz_json_request_fail("accepted record data out of bounds", op);
        }
        break;
    case API_OP_PUT_RECORDS:
        if (req->put_records.count < 1 || req->put_records.count > KIN_PUT_RECORDS_COUNT_MAX) {
            fuzz_json_request_fail("accepted a record count out of bounds", op);
        }
        break;
    case API_OP_GET_RECORDS:
        if (req->get_records.limit < 1 || req->get_records.limit > KIN_GET_RECORDS_LIMIT_MAX) {
            fuzz_json_request_fail("accepted a limit out of bounds", op);
        }
        break;
    case API_OP_CREATE_STREAM:
        if (req->create_stream.shard_count < 1 || req->create_stream.name[0] == '\0') {
            fuzz_json_request_fail("accepted a stream without name or shards", op);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_JSON_REQUEST_INPUT_MAX) {
        return 0;
    }
    static const struct api_config cfg = {.region = "us-east-1", .account = "000000000000"};
    for (int i = 0; i < API_OP_COUNT_; i++) {
        enum api_op op = (enum api_op)i;
        cJSON *doc = NULL;
        union api_req req;
        struct api_error e = {0};
        int rv = api_decode_request(op, &cfg, data, size, &doc, &req, &e);
        if (rv == 0) {
            if (e.ex != API_EX_NONE || e.message != NULL) {
                fuzz_json_request_fail("success with an error set", op);
            }
            fuzz_json_request_check_ok(op, &req);
            api_request_free(op, &req);
        } else {
            if (e.ex <= API_EX_NONE || e.ex >= API_EX_COUNT_) {
                fuzz_json_request_fail("failure without an exception", op);
            }
            if (e.message != NULL && strlen(e.message) >= API_MESSAGE_BYTES_MAX) {
                fuzz_json_request_fail("error message over its bound", op);
            }
            if (api_exception_status(e.ex) >= 500) {
                fuzz_json_request_fail("bad input reported as a server fault", op);
            }
        }
        api_error_free(&e);
        cJSON_Delete(doc);
    }
    return 0;
}
