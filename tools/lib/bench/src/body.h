/*
 * Request encoding for the bench: Kinesis x-amz-json-1.1 bodies (records
 * with random payloads and partition keys, base64 done here, before any
 * timed part) and whole signed HTTP/1.1 requests. Time stamps for the
 * put-to-get workload live in the first BODY_STAMP_BYTES bytes of a
 * record's data, so that they can be patched into an encoded body in
 * place (BODY_STAMP_CHARS base64 characters) at send time. Stateless; the
 * caller owns every buffer.
 */
#ifndef EDDY_BENCH_BODY_H
#define EDDY_BENCH_BODY_H

#include "sign.h"

#include "eddy/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BODY_CONTENT_TYPE "application/x-amz-json-1.1"
#define BODY_TARGET_PREFIX "Kinesis_20131202."
/* A stamp: one marker byte and the send time in microseconds, big endian;
 * a multiple of 3 bytes so that its base64 form stands alone. */
#define BODY_STAMP_BYTES 9
#define BODY_STAMP_CHARS 12
#define BODY_STAMP_MARK 0xEB
/* Longest stream name, iterator or shard id the bench writes into a body. */
#define BODY_FIELD_MAX 1024

/* A xorshift64* generator; state must not be 0. */
uint64_t body_rand(uint64_t *state);

/* Appends {"StreamName":..,"Records":[{"Data":..,"PartitionKey":..},..]}
 * with count records of record_bytes random bytes each (count 1 and
 * single: a PutRecord body instead). When data_offsets is given, the
 * offset in out of each record's base64 Data goes there (count entries).
 * -EDDY_ETOOBIG past the buffer's bound, -EDDY_EINVAL for a bad name. */
int body_put(struct buf *out,
             const char *stream,
             unsigned count,
             unsigned record_bytes,
             bool single,
             uint64_t *rng,
             size_t *data_offsets);
int body_get_records(struct buf *out, const char *iterator, size_t iterator_len, unsigned limit);
int body_get_shard_iterator(struct buf *out,
                            const char *stream,
                            const char *shard_id,
                            const char *type);
int body_list_shards(struct buf *out, const char *stream);

/* Writes the stamp for us over the BODY_STAMP_CHARS characters at b64. */
void body_stamp(char *b64, uint64_t us);
/* The stamp at the start of a record's base64 Data; false when the data
 * is shorter or does not start with a stamp. */
bool body_unstamp(const char *b64, size_t n, uint64_t *us);

/* Appends the request line and headers of a signed POST / with
 * X-Amz-Target BODY_TARGET_PREFIX op for body. With the body appended
 * after it (or sent as a second buffer) this is a whole request. */
int body_request_head(struct buf *out,
                      const struct sign_ctx *sign,
                      const char *host,
                      const char *op,
                      const uint8_t *body,
                      size_t len);

#endif
