/*
 * The calls before a read workload: ListShards for the stream, then a
 * GetShardIterator of the given type for every shard, one after the other
 * on one connection (not timed). Fills r->shards and calls done once with
 * 0 or the first failure. The setup owns its connection and closes it
 * before calling done.
 */
#ifndef EDDY_BENCH_SETUP_H
#define EDDY_BENCH_SETUP_H

#include "run.h"

typedef void (*setup_done_fn)(struct run *r, int status);

void setup_iterators(struct run *r, const char *iterator_type, setup_done_fn done);

#endif
