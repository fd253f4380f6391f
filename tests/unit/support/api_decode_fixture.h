/*
 * The decode fixture of the gateway's decoder tests (test_api_*.c): decodes
 * one request body for an action through the whole pure path
 * (api_decode_request) and checks the outcome. Header-only: each test is an
 * executable of its own, and the functions are static inline so that a test
 * using only some of them builds without warnings.
 */
#ifndef EDDY_TEST_API_DECODE_FIXTURE_H
#define EDDY_TEST_API_DECODE_FIXTURE_H

#include "api.h"
#include "json.h"

#include <check.h>
#include <string.h>

static const struct api_config test_cfg = {.region = "us-east-1", .account = "000000000000"};

/* Result of decoding one body for op. */
struct decoded {
    int rv;
    struct api_error e;
    cJSON *doc;
    union api_req req;
    enum api_op op;
};

static inline void decode(struct decoded *d, enum api_op op, const char *body)
{
    memset(d, 0, sizeof(*d));
    d->op = op;
    d->rv = api_decode_request(op, &test_cfg, (const uint8_t *)body, strlen(body), &d->doc, &d->req,
                               &d->e);
}

static inline void decoded_free(struct decoded *d)
{
    if (d->rv == 0) {
        api_request_free(d->op, &d->req);
    }
    cJSON_Delete(d->doc);
    api_error_free(&d->e);
}

/* Decodes and expects exception ex with message msg (NULL: none). */
static inline void
expect_error(enum api_op op, const char *body, enum api_exception ex, const char *msg)
{
    struct decoded d;
    decode(&d, op, body);
    ck_assert_int_ne(d.rv, 0);
    ck_assert_str_eq(api_exception_type(d.e.ex), api_exception_type(ex));
    if (msg == NULL) {
        ck_assert_ptr_null(d.e.message);
    } else {
        ck_assert_ptr_nonnull(d.e.message);
        ck_assert_str_eq(d.e.message, msg);
    }
    decoded_free(&d);
}

static inline void expect_validation(enum api_op op, const char *body, const char *msg)
{
    expect_error(op, body, API_EX_VALIDATION, msg);
}

static inline void expect_serialization(enum api_op op, const char *body, const char *msg)
{
    expect_error(op, body, API_EX_SERIALIZATION, msg);
}

/* Decodes a body that must pass; the caller frees d. */
static inline void expect_ok(struct decoded *d, enum api_op op, const char *body)
{
    decode(d, op, body);
    if (d->rv != 0) {
        ck_abort_msg("decode failed: %s: %s", api_exception_type(d->e.ex),
                     d->e.message != NULL ? d->e.message : "(no message)");
    }
}

#endif
