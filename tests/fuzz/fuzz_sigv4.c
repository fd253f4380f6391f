/*
 * libFuzzer target for sigv4_check, the reader of every request's
 * credentials. The input is a request in text form: "METHOD TARGET" on the
 * first line, "Name:value" lines up to an empty line, then the body (input
 * without that shape is an Authorization header value). It is checked in
 * both modes against a credential whose signing keys get cached across runs.
 * Checks: success and failure are exclusive, a refusal is one of the four
 * authentication exceptions with a message within its bound, and nothing
 * leaks (LeakSanitizer).
 */
#include "api.h"
#include "sigv4.h"

#include "eddy/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger inputs add no coverage and only slow the run. */
#define FUZZ_SIGV4_INPUT_MAX (64 * 1024)
#define FUZZ_SIGV4_HEADERS_MAX 64
#define FUZZ_SIGV4_NOW_MS 1795675890000ULL /* 2026-11-26T06:51:30Z */

static void fuzz_sigv4_fail(const char *what)
{
    fprintf(stderr, "fuzz_sigv4: %s\n", what);
    abort();
}

/* Splits text (modified) into req; false when it has no request shape. */
static bool
fuzz_sigv4_parse(char *text, char *end, struct http_header *headers, struct sigv4_request *req)
{
    char *nl = strchr(text, '\n');
    char *sp = nl != NULL ? memchr(text, ' ', (size_t)(nl - text)) : NULL;
    if (sp == NULL) {
        return false;
    }
    *nl = '\0';
    *sp = '\0';
    req->method = text;
    req->target = sp + 1;
    char *p = nl + 1;
    size_t n = 0;
    while (p < end && *p != '\n' && n < FUZZ_SIGV4_HEADERS_MAX) {
        char *line_end = strchr(p, '\n');
        if (line_end == NULL) {
            line_end = end;
        }
        *line_end = '\0';
        char *colon = strchr(p, ':');
        if (colon != NULL) {
            *colon = '\0';
            headers[n++] = (struct http_header){p, colon + 1};
        }
        p = line_end < end ? line_end + 1 : end;
    }
    if (p < end && *p == '\n') {
        p++;
    }
    req->headers = headers;
    req->header_count = n;
    req->body = (const uint8_t *)p;
    req->body_len = (size_t)(end - p);
    return true;
}

static void fuzz_sigv4_check(const struct sigv4_config *cfg, const struct sigv4_request *req)
{
    struct sigv4_identity id;
    struct api_error e = {0};
    int rv = sigv4_check(cfg, req, FUZZ_SIGV4_NOW_MS, &id, &e);
    if (rv == 0) {
        if (e.ex != API_EX_NONE || e.message != NULL) {
            fuzz_sigv4_fail("success with an error set");
        }
        if (strlen(id.region) > API_REGION_LEN_MAX || strlen(id.account) > API_ACCOUNT_ID_LEN) {
            fuzz_sigv4_fail("identity out of bounds");
        }
        return;
    }
    if (e.ex != API_EX_MISSING_AUTH_TOKEN && e.ex != API_EX_INCOMPLETE_SIGNATURE &&
        e.ex != API_EX_INVALID_SIGNATURE && e.ex != API_EX_UNRECOGNIZED_CLIENT) {
        fuzz_sigv4_fail("refused with another exception");
    }
    if (e.message == NULL || strlen(e.message) >= API_MESSAGE_BYTES_MAX) {
        fuzz_sigv4_fail("refusal without a message, or over its bound");
    }
    api_error_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_SIGV4_INPUT_MAX) {
        return 0;
    }
    static struct sigv4_keys *keys; /* caches signing keys across runs, as a gateway does */
    if (keys == NULL) {
        sigv4_keys_create(&keys);
        if (sigv4_keys_add(keys, "AKID", "SECRET", NULL, "123456789012") != 0 ||
            sigv4_keys_add(keys, "ASIATEMP", "tempsecret", "TOKEN", NULL) != 0) {
            fuzz_sigv4_fail("keys");
        }
    }
    char *text = eddy_xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text); /* the transports hand over NUL-terminated fields */
    struct http_header headers[FUZZ_SIGV4_HEADERS_MAX + 1];
    struct sigv4_request req = {0};
    if (!fuzz_sigv4_parse(text, text + len, headers, &req)) {
        headers[0] = (struct http_header){"Authorization", text};
        headers[1] = (struct http_header){"Host", "127.0.0.1:4567"};
        headers[2] = (struct http_header){"X-Amz-Date", "20261126T065130Z"};
        req = (struct sigv4_request){.method = "POST", .target = "/", .headers = headers};
        req.header_count = 3;
    }
    struct sigv4_config cfg = {
        .mode = SIGV4_MODE_OPEN, .service = "kinesis", .region = "us-east-1", .keys = keys};
    fuzz_sigv4_check(&cfg, &req);
    cfg.mode = SIGV4_MODE_VERIFY;
    fuzz_sigv4_check(&cfg, &req);
    eddy_free(text);
    return 0;
}
