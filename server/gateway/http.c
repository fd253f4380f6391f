/*
 * The request API of http.h, once for both transports: reads what the
 * transport parsed into the struct http_request at the head of its request,
 * checks the answer lifecycle (NONE, then DONE by respond or STREAMING by
 * stream_begin and DONE by stream_end), and hands the answer to the
 * transport's operations.
 */
#include "http_internal.h"

#include "eddy/assert.h"
#include "eddy/errors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void http_request_base_init(struct http_request *r, const struct http_request_ops *ops)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(ops != NULL);
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->method = "";
    r->target = "";
    r->body = (const uint8_t *)"";
    r->answer = HTTP_ANSWER_NONE;
}

static bool http_is_token_char(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", ch) == NULL;
}

bool http_header_is_valid(const struct http_header *h)
{
    if (h->name == NULL || h->value == NULL || h->name[0] == '\0') {
        return false;
    }
    for (const char *p = h->name; *p != '\0'; p++) {
        if (!http_is_token_char((unsigned char)*p)) {
            return false;
        }
    }
    for (const char *p = h->value; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

bool http_header_name_is_lowercase(const char *name)
{
    for (const char *p = name; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            return false;
        }
    }
    return true;
}

void http_format_date(char *out, size_t size, int64_t t)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const char *http_request_method(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->method;
}

const char *http_request_target(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->target;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(name != NULL);
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            return r->headers[i].value;
        }
    }
    return NULL;
}

size_t http_request_header_count(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->header_count;
}

struct http_header http_request_header_at(const struct http_request *r, size_t i)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(i < r->header_count);
    return r->headers[i];
}

const uint8_t *http_request_body(const struct http_request *r, size_t *len)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(len != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_NONE);
    *len = r->body_len;
    return r->body;
}

bool http_request_is_connected(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->ops->is_connected(r);
}

const char *http_request_protocol(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    return r->ops->protocol;
}

void http_request_respond(struct http_request *r,
                          int status,
                          const struct http_header *headers,
                          size_t header_count,
                          const uint8_t *body,
                          size_t body_len)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_NONE);
    EDDY_ASSERT(status >= 200 && status <= 599);
    EDDY_ASSERT(header_count == 0 || headers != NULL);
    EDDY_ASSERT(body_len == 0 || body != NULL);
    r->answer = HTTP_ANSWER_DONE;
    r->ops->respond(r, status, headers, header_count, body, body_len);
}

void http_request_stream_begin(struct http_request *r,
                               int status,
                               const struct http_header *headers,
                               size_t header_count)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_NONE);
    EDDY_ASSERT(status >= 200 && status <= 599);
    EDDY_ASSERT(header_count == 0 || headers != NULL);
    r->answer = HTTP_ANSWER_STREAMING;
    r->ops->stream_begin(r, status, headers, header_count);
    r->body = NULL;
    r->body_len = 0;
}

int http_request_stream_write(struct http_request *r, const uint8_t *data, size_t len)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_STREAMING);
    EDDY_ASSERT(len == 0 || data != NULL);
    if (!r->ops->is_connected(r)) {
        return -EDDY_ESHUTDOWN;
    }
    if (len == 0) {
        return 0; /* an empty chunk would end an HTTP/1.1 body */
    }
    if (r->ops->stream_queued(r) >= HTTP_STREAM_QUEUED_MAX) {
        return -EDDY_EFULL;
    }
    return r->ops->stream_write(r, data, len);
}

size_t http_request_stream_queued(const struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_STREAMING);
    return r->ops->stream_queued(r);
}

void http_request_stream_set_cb(struct http_request *r,
                                void (*cb)(void *arg, struct http_request *r),
                                void *arg)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_STREAMING);
    r->stream_cb = cb;
    r->stream_arg = cb != NULL ? arg : NULL;
}

void http_request_stream_end(struct http_request *r)
{
    EDDY_ASSERT(r != NULL);
    EDDY_ASSERT(r->answer == HTTP_ANSWER_STREAMING);
    r->answer = HTTP_ANSWER_DONE;
    r->stream_cb = NULL;
    r->stream_arg = NULL;
    r->ops->stream_end(r);
}
