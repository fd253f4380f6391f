"""A light, bounded PutRecord load for tests/deploy/run: it runs while the
Ansible rolling restart takes one node down after another, then reads every
shard back and checks that no acknowledged record is missing.

  load.py --endpoints URL,URL,... --stream NAME --stop-file PATH
          [--writers N] [--interval-s S] [--max-records N] [--max-seconds S]

Each writer puts one record every --interval-s through one gateway. Like
the AWS SDKs (and tests/integration/test_cluster.py's clients), it retries
the same record after a 5xx or throttling answer, with a short backoff; a
connection-level failure (refused, reset, timed out: the gateway's node is
restarting) moves the writer to the next gateway first, as a client behind
a load balancer would. Retries are counted and printed, not errors. An
error is any other AWS error (4xx), or a record no attempt got through.
The load ends when the stop file appears, or at --max-records /
--max-seconds.

Then: every acknowledged record must be read back at its acknowledged shard
and sequence number. A record whose attempt failed indeterminately (the
connection dropped after sending) may appear once more than acknowledged:
Kinesis producers are at-least-once; such copies are counted, not errors.

Prints a summary; exits 0 only with records acknowledged, no error and
nothing missing.
"""

import argparse
import os
import sys
import threading
import time

import boto3
import botocore.config
import botocore.exceptions

# Attempts at one record before the writer gives up on it (an error): at
# RETRY_DELAY_S apart this outlasts any single node restart.
ATTEMPTS_MAX = 300
RETRY_DELAY_S = 0.1
RETRY_CODES = ("InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
               "ProvisionedThroughputExceededException", "LimitExceededException",
               "ThrottlingException")
READ_TIMEOUT_S = 120
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)


def client(endpoint):
    return boto3.client(
        "kinesis", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=botocore.config.Config(retries={"max_attempts": 0}, connect_timeout=2,
                                      read_timeout=15))


class Load:
    def __init__(self, endpoints, stream, writers, interval_s, max_records, max_seconds,
                 stop_file):
        self.endpoints = endpoints
        self.stream = stream
        self.writers = writers
        self.interval_s = interval_s
        self.max_records = max_records
        self.deadline = time.monotonic() + max_seconds
        self.stop_file = stop_file
        self.lock = threading.Lock()
        self.acked = {}  # data -> (shard id, sequence number)
        self.indeterminate = set()  # data whose attempt may have landed
        self.errors = []
        self.failovers = 0
        self.retries = {}  # AWS error code -> retries after it
        self.sent = 0

    def should_stop(self):
        return (os.path.exists(self.stop_file) or time.monotonic() > self.deadline
                or self.sent >= self.max_records)

    def put_one(self, clients, at, data):
        """Puts data until acknowledged; returns the gateway index to use next."""
        for _ in range(ATTEMPTS_MAX):
            c = clients[at]
            try:
                r = c.put_record(StreamName=self.stream, Data=data.encode(),
                                 PartitionKey=data)
            except CONNECTION_ERRORS as e:
                with self.lock:
                    self.failovers += 1
                    if not isinstance(e, (botocore.exceptions.EndpointConnectionError,
                                          botocore.exceptions.ConnectTimeoutError)):
                        self.indeterminate.add(data)
                at = (at + 1) % len(clients)
                time.sleep(RETRY_DELAY_S)
                continue
            except botocore.exceptions.ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if status < 500 and code not in RETRY_CODES:
                    with self.lock:
                        self.errors.append("%s via %s: %s" % (data, self.endpoints[at], e))
                    return at
                with self.lock:
                    self.retries[code] = self.retries.get(code, 0) + 1
                    if status >= 500:
                        self.indeterminate.add(data)
                time.sleep(RETRY_DELAY_S)
                continue
            with self.lock:
                self.acked[data] = (r["ShardId"], r["SequenceNumber"])
            return at
        with self.lock:
            self.errors.append("%s: no gateway took it in %d attempts" % (data, ATTEMPTS_MAX))
        return at

    def writer(self, w):
        clients = [client(e) for e in self.endpoints]
        at = w % len(clients)
        i = 0
        while not self.should_stop():
            with self.lock:
                self.sent += 1
            at = self.put_one(clients, at, "w%d-%07d" % (w, i))
            i += 1
            time.sleep(self.interval_s)

    def run(self):
        threads = [threading.Thread(target=self.writer, args=(w,)) for w in range(self.writers)]
        for t in threads:
            t.start()
        last = 0
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            with self.lock:
                n = len(self.acked)
            if n // 100 != last // 100:
                sys.stderr.write("  [load] %d acknowledged, %d failovers, %d errors\n"
                                 % (n, self.failovers, len(self.errors)))
                sys.stderr.flush()
            last = n
        for t in threads:
            t.join()


def read_all(endpoints, stream):
    """{data: [(shard id, sequence number), ...]} of every record in stream,
    read through each gateway in turn until one answers every call."""
    last = None
    for endpoint in endpoints:
        c = client(endpoint)
        try:
            out = {}
            shards = c.list_shards(StreamName=stream)["Shards"]
            for s in shards:
                it = c.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                deadline = time.monotonic() + READ_TIMEOUT_S
                while it is not None and time.monotonic() < deadline:
                    r = c.get_records(ShardIterator=it, Limit=10000)
                    for rec in r["Records"]:
                        out.setdefault(rec["Data"].decode(), []).append(
                            (s["ShardId"], rec["SequenceNumber"]))
                    it = r.get("NextShardIterator")
                    if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                        break
            return out
        except (botocore.exceptions.ClientError,) + CONNECTION_ERRORS as e:
            last = e
    raise AssertionError("no gateway could read the stream back: %s" % last)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--interval-s", type=float, default=0.02)
    ap.add_argument("--max-records", type=int, default=20000)
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    load = Load(a.endpoints.split(","), a.stream, a.writers, a.interval_s, a.max_records,
                a.max_seconds, a.stop_file)
    load.run()
    read = read_all(load.endpoints, a.stream)
    missing = [d for d, at in load.acked.items() if at not in read.get(d, [])]
    extra = {d: len(v) - 1 for d, v in read.items() if len(v) > 1}
    bad_extra = [d for d in extra if d not in load.indeterminate]
    retried = ", ".join("%d after %s" % (n, c) for c, n in sorted(load.retries.items()))
    print("load: %d acknowledged, %d failovers to another gateway, %d retries (%s), %d errors, "
          "%d missing, %d duplicates after an indeterminate attempt (allowed), %d other "
          "duplicates" % (len(load.acked), load.failovers, sum(load.retries.values()),
                          retried or "none", len(load.errors), len(missing),
                          len(extra) - len(bad_extra), len(bad_extra)))
    for e in load.errors[:10]:
        print("  error: %s" % e)
    for d in missing[:10]:
        print("  missing: %s acknowledged at %s" % (d, load.acked[d]))
    for d in bad_extra[:10]:
        print("  read %d times: %s" % (len(read[d]), d))
    ok = load.acked and not load.errors and not missing and not bad_extra
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
