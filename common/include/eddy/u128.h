/*
 * 128-bit unsigned integers for hash keys and sequence numbers, their
 * decimal text form (Kinesis sends both as decimal strings) and the
 * MD5 partition-key hash.
 */
#ifndef EDDY_U128_H
#define EDDY_U128_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

#define U128_DECIMAL_LEN_MAX 39 /* digits of 2^128-1 */

/* MD5 of the key's bytes, read as a big-endian 128-bit integer (AWS routing). */
u128 u128_md5(const void *key, size_t len);
/* The same hash for many keys: one MD5 fetch and digest context for all of
 * them. EVP_Digest (u128_md5) fetches the algorithm and allocates a context
 * on every call, which costs several times the hash of a short key
 * (docs/BENCHMARKS.md, 2026-11-26). Create, hash any number of keys,
 * destroy (NULL is fine); one owner, one thread. */
struct u128_md5;
struct u128_md5 *u128_md5_create(void);
u128 u128_md5_next(struct u128_md5 *h, const void *key, size_t len);
void u128_md5_destroy(struct u128_md5 *h);
/* Parses a decimal string of exactly len bytes. Rejects empty, signs, spaces,
 * non-digits, leading zeros ("0" alone is fine) and values >= 2^128:
 * returns -EDDY_EINVAL. */
int u128_parse_decimal(const char *s, size_t len, u128 *out);
/* Like u128_parse_decimal but accepts leading zeros (ExplicitHashKey). */
int u128_parse_decimal_lenient(const char *s, size_t len, u128 *out);
/* Writes the decimal form and a NUL; out must hold U128_DECIMAL_LEN_MAX + 1.
 * Returns the number of digits. */
size_t u128_format_decimal(u128 v, char *out);
/* 16 bytes big-endian. */
void u128_to_be(u128 v, uint8_t out[16]);
u128 u128_from_be(const uint8_t in[16]);
/* The inclusive range of shard i of n when [0, 2^128-1] is split evenly as
 * AWS does: width floor(2^128 / n), the last shard ends at 2^128-1. */
void u128_shard_range(uint32_t i, uint32_t n, u128 *start, u128 *end);

#endif
