/*
 * libFuzzer target for the CBOR request decoder (server/gateway/cbor.c) and
 * json_out's CBOR format. Arbitrary bytes as an application/x-amz-cbor-1.1
 * body: parsed, then decoded and validated for every action. Checks: a
 * failure is a SerializationException (or the action's own error) with a
 * bounded message, never a server fault; a parsed document written back
 * through json_out gives the same bytes directly in CBOR and transcoded from
 * JSON, and those bytes parse again; everything allocated is freed
 * (LeakSanitizer).
 */
#include "api.h"
#include "cbor.h"
#include "json.h"

#include "eddy/errors.h"
#include "eddy/limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger bodies add little coverage and only slow the run. */
#define FUZZ_CBOR_INPUT_MAX (64 * 1024)
/* json_out nests at most JSON_OUT_DEPTH_MAX; deeper parts are written as null. */
#define FUZZ_CBOR_WRITE_DEPTH_MAX 12

static void fuzz_cbor_fail(const char *what)
{
    fprintf(stderr, "fuzz_cbor: %s\n", what);
    abort();
}

/* Member names json_out_key writes as they are (its contract). */
static bool fuzz_cbor_plain_key(const char *k)
{
    for (; *k != '\0'; k++) {
        if ((unsigned char)*k < 0x20 || *k == '"' || *k == '\\') {
            return false;
        }
    }
    return true;
}

static void fuzz_cbor_write(struct json_out *o, const cJSON *item, unsigned depth)
{
    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        if (depth >= FUZZ_CBOR_WRITE_DEPTH_MAX) {
            json_out_null(o);
            return;
        }
        bool obj = cJSON_IsObject(item);
        obj ? json_out_obj_begin(o) : json_out_arr_begin(o);
        const cJSON *child = NULL;
        cJSON_ArrayForEach(child, item)
        {
            if (obj) {
                if (!fuzz_cbor_plain_key(child->string)) {
                    continue;
                }
                json_out_key(o, child->string);
            }
            fuzz_cbor_write(o, child, depth + 1);
        }
        obj ? json_out_obj_end(o) : json_out_arr_end(o);
    } else if (item->type & JSON_ITEM_BYTES) {
        json_out_blob(o, (const uint8_t *)item->valuestring, (size_t)item->valuedouble);
    } else if (cJSON_IsString(item)) {
        json_out_cstr(o, item->valuestring);
    } else if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (v >= 0 && v < 1.8e19) {
            /* Alternately a plain number and a timestamp. */
            if ((uint64_t)v % 2 == 0) {
                json_out_u64(o, (uint64_t)v);
            } else {
                json_out_timestamp_ms(o, (uint64_t)v);
            }
        } else {
            json_out_null(o);
        }
    } else if (cJSON_IsBool(item)) {
        json_out_bool(o, cJSON_IsTrue(item));
    } else {
        json_out_null(o);
    }
}

/* Writes doc both ways and compares. */
static void fuzz_cbor_round_trip(const cJSON *doc)
{
    struct json_out direct;
    struct json_out json;
    json_out_init_format(&direct, JSON_OUT_CBOR, 4 * FUZZ_CBOR_INPUT_MAX);
    json_out_init(&json, 8 * FUZZ_CBOR_INPUT_MAX);
    fuzz_cbor_write(&direct, doc, 0);
    fuzz_cbor_write(&json, doc, 0);
    if (direct.err != 0 || json.err != 0) {
        fuzz_cbor_fail("writing a parsed document outgrew its bound");
    }
    struct json_out cbor;
    json_out_to_cbor(&json, &cbor);
    if (cbor.err != 0) {
        fuzz_cbor_fail("json_out's own JSON does not transcode");
    }
    if (cbor.b.len != direct.b.len || memcmp(cbor.b.data, direct.b.data, direct.b.len) != 0) {
        fuzz_cbor_fail("transcoded JSON differs from the CBOR writer");
    }
    cJSON *again = NULL;
    struct api_error e = {0};
    if (cbor_parse_request(direct.b.data, direct.b.len, &again, &e) != 0) {
        fuzz_cbor_fail("the CBOR writer's output does not parse");
    }
    cJSON_Delete(again);
    api_error_free(&e);
    json_out_free(&cbor);
    json_out_free(&json);
    json_out_free(&direct);
}

static void fuzz_cbor_check_error(const struct api_error *e)
{
    if (e->ex <= API_EX_NONE || e->ex >= API_EX_COUNT_) {
        fuzz_cbor_fail("failure without an exception");
    }
    if (e->message != NULL && strlen(e->message) >= API_MESSAGE_BYTES_MAX) {
        fuzz_cbor_fail("error message over its bound");
    }
    if (api_exception_status(e->ex) >= 500) {
        fuzz_cbor_fail("bad input reported as a server fault");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_CBOR_INPUT_MAX) {
        return 0;
    }
    cJSON *doc = NULL;
    struct api_error e = {0};
    int rv = cbor_parse_request(data, size, &doc, &e);
    if (rv == 0) {
        if (!cJSON_IsObject(doc) || e.ex != API_EX_NONE) {
            fuzz_cbor_fail("parsed to something else than a map");
        }
        fuzz_cbor_round_trip(doc);
    } else {
        if (doc != NULL || e.ex != API_EX_SERIALIZATION) {
            fuzz_cbor_fail("a parse failure that is not a SerializationException");
        }
        fuzz_cbor_check_error(&e);
    }
    cJSON_Delete(doc);
    api_error_free(&e);
    if (rv != 0) {
        return 0;
    }
    static const struct api_config cfg = {.region = "us-east-1", .account = "000000000000"};
    for (int i = 0; i < API_OP_COUNT_; i++) {
        enum api_op op = (enum api_op)i;
        union api_req req;
        struct api_error de = {0};
        cJSON *d = NULL;
        if (api_decode_body(op, API_FORMAT_CBOR, &cfg, data, size, &d, &req, &de) == 0) {
            if (de.ex != API_EX_NONE || de.message != NULL) {
                fuzz_cbor_fail("success with an error set");
            }
            api_request_free(op, &req);
        } else {
            fuzz_cbor_check_error(&de);
        }
        api_error_free(&de);
        cJSON_Delete(d);
    }
    return 0;
}
