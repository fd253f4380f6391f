/*
 * A bump arena for protobuf-c unpacking: a decoded message tree lives in a
 * few large blocks, freed at once, instead of one malloc per message,
 * string and bytes field. A PutRecords of 500 records took some 1,500
 * mallocs and frees to decode on each hop (gateway -> leader RPC, and the
 * Raft entry on every replica); glibc's malloc and free were 15 % of the
 * cluster's CPU (docs/BENCHMARKS.md, 2026-11-26).
 *
 * Lifecycle: pbarena_create, hand pbarena_allocator() to *_unpack (and to
 * *_free_unpacked if called: its frees are no-ops), pbarena_destroy frees
 * every block and with it the whole tree. One owner, one thread.
 * Allocation goes through eddy_malloc: it can fail (the unpack then
 * returns NULL and pbarena_is_oom says why).
 */
#ifndef EDDY_PBARENA_H
#define EDDY_PBARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

struct pbarena;

/* An arena whose first block holds first_bytes of allocations (it grows by
 * blocks of at least double the last). Size it from the encoded length:
 * an unpacked tree is that length plus the structs. NULL when out of
 * memory. */
struct pbarena *pbarena_create(size_t first_bytes);
/* The allocator to give protobuf-c; borrowed until pbarena_destroy. */
ProtobufCAllocator *pbarena_allocator(struct pbarena *a);
/* True once an allocation failed. */
bool pbarena_is_oom(const struct pbarena *a);
/* True when p is the arena's first allocation. */
bool pbarena_is_first(const struct pbarena *a, const void *p);
/* The arena whose first allocation is first (a message unpacked first into
 * a fresh arena: protobuf-c allocates the top message before anything
 * else). Lets a decoded tree carry its arena with no field of its own. */
struct pbarena *pbarena_of_first(void *first);
/* Frees every block. NULL is fine. */
void pbarena_destroy(struct pbarena *a);

#endif
