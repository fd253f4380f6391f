/*
 * The workloads, each a start function that sets up its connections on
 * r's loop and registers its stop hook with the run (run_loop):
 *   put  closed-loop clients sending pre-encoded PutRecords (or PutRecord)
 *        calls: throughput, and per-call latency;
 *   get  one reader per shard draining the stream from TRIM_HORIZON with
 *        GetRecords as fast as answers come: records/s;
 *   e2e  a producer at a fixed rate stamping its send time into each
 *        record, and one reader per shard polling GetRecords from LATEST:
 *        put-to-get latency of every record.
 * Each returns 0 once started, or a negative code (nothing left running).
 */
#ifndef EDDY_BENCH_WORKLOAD_H
#define EDDY_BENCH_WORKLOAD_H

#include "run.h"

int workload_put(struct run *r);
int workload_get(struct run *r);
int workload_e2e(struct run *r);

#endif
