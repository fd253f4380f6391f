"""On-demand streams that add shards under sustained traffic (issue 4, scope
4), on a three-node cluster, through boto3:

  a. An ON_DEMAND stream (4 shards) and a PROVISIONED one (4 shards) under
     the same bounded PutRecords load (one record per partition key per
     call, each key's values in order), with the busy threshold lowered
     (--ondemand-scale-records-per-s, --ondemand-scale-ms): the ON_DEMAND
     stream grows past 4 open shards through ordinary splits (lineage,
     closed parents with EndingSequenceNumber, open shards tiling the key
     space); the PROVISIONED stream keeps its 4 shards and no closed one. A
     reader that follows ChildShards sees every acknowledged record of the
     ON_DEMAND stream exactly once, in put order per key.
  b. OnDemandStreamCountLimit (--limit on-demand-stream-count-limit=N) at
     CreateStream and UpdateStreamMode with AWS's LimitExceededException.
  c. DeleteStream of an UPDATING stream (a split under way, a settings
     change under way) is accepted: the stream goes DELETING and away, and
     the name can be used again.
"""

import collections
import sys
import threading
import time
import unittest

import botocore.exceptions

from harness import GATEWAY_ERRORS_5XX, Cluster, client, unique_name, wait_status
from test_reshard import ReshardTestBase, is_open, list_all, read_lineage, sid

LOAD_S = 20            # the load runs this long at most
KEYS = 40              # partition keys; one record of each per PutRecords
CALLS_PER_S = 10       # PutRecords a second: 400 records/s per stream
SCALE_RECORDS_PER_S = 40
SCALE_MS = 2000
# Twice the traffic's capacity at most: 400 / 40 shards, and a little for a
# window that caught one call more.
OPEN_MAX = KEYS * CALLS_PER_S // SCALE_RECORDS_PER_S + 2
ON_DEMAND_LIMIT = 3


def info(msg):
    sys.stderr.write("  [ondemand] %s\n" % msg)
    sys.stderr.flush()


class KeyedProducer(threading.Thread):
    """PutRecords of one record per key per call (each key's next value),
    CALLS_PER_S calls a second, until stop or LOAD_S. A key's value moves on only once acknowledged, so
    each key's values are put in order; a record whose call failed
    indeterminately is marked uncertain (it may be stored twice).
    acked[(key, value)] = (shard, sequence)."""

    def __init__(self, endpoint, name):
        super().__init__(daemon=True)
        self.c = client(endpoint, timeout_s=15)
        self.name = name
        self.next = {"k%02d" % k: 0 for k in range(KEYS)}
        self.acked = {}
        self.uncertain = set()
        self.calls = 0
        self.failed_records = 0
        self.stop = threading.Event()
        self.error = None
        self.started = None
        self.elapsed = None

    def run(self):
        self.started = time.monotonic()
        try:
            due = self.started
            while not self.stop.is_set() and time.monotonic() - self.started < LOAD_S:
                self.put_once()
                due += 1.0 / CALLS_PER_S
                time.sleep(max(0.0, due - time.monotonic()))
        except Exception as e:  # reported by the test
            self.error = e
        self.elapsed = time.monotonic() - self.started

    def put_once(self):
        keys = sorted(self.next)
        records = [{"PartitionKey": k, "Data": b"%s:%d" % (k.encode(), self.next[k])}
                   for k in keys]
        try:
            resp = self.c.put_records(StreamName=self.name, Records=records)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] not in GATEWAY_ERRORS_5XX:
                raise
            for k in keys:  # may or may not be stored: put again, marked
                self.uncertain.add((k, self.next[k]))
            time.sleep(0.05)
            return
        self.calls += 1
        if len(resp["Records"]) != len(keys):
            raise AssertionError("%d results for %d records" % (len(resp["Records"]), len(keys)))
        failed = 0
        for k, r in zip(keys, resp["Records"]):
            if "ErrorCode" in r:
                failed += 1
                if r["ErrorCode"] not in ("ProvisionedThroughputExceededException",
                                          "InternalFailure"):
                    raise AssertionError("record %s:%d failed: %r" % (k, self.next[k], r))
                continue
            self.acked[(k, self.next[k])] = (r["ShardId"], r["SequenceNumber"])
            self.next[k] += 1
        if failed != resp.get("FailedRecordCount", 0):
            raise AssertionError("FailedRecordCount %s, %d records failed"
                                 % (resp.get("FailedRecordCount"), failed))
        self.failed_records += failed

    def finish(self):
        self.stop.set()
        self.join(60)
        if self.error is not None:
            raise self.error


class OnDemandTest(ReshardTestBase):
    """One cluster whose on-demand streams scale at 40 records/s per shard
    sustained for 2 s, with room for 3 on-demand streams."""

    timeout_s = 240

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(unique_name("od"), extra_args=(
            "--ondemand-scale-ms", str(SCALE_MS),
            "--ondemand-scale-records-per-s", str(SCALE_RECORDS_PER_S),
            "--limit", "on-demand-stream-count-limit=%d" % ON_DEMAND_LIMIT))
        cls.cluster.start()
        cls.cluster.wait_healthy(60)
        cls.c = client(cls.cluster.nodes[0].endpoint)

    @classmethod
    def tearDownClass(cls):
        problems = []
        for n in cls.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
        if problems:
            raise AssertionError("\n".join(problems))

    def setUp(self):
        # Streams an earlier test left (it failed half way) count against
        # the on-demand quota: remove them first.
        names = self.c.list_streams()["StreamNames"]
        for name in names:
            try:
                self.c.delete_stream(StreamName=name)
            except botocore.exceptions.ClientError:
                pass
        for name in names:
            wait_status(self.c, name, None)

    def create(self, mode, shards=None):
        name = unique_name("od" if mode == "ON_DEMAND" else "pv")
        kw = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
        if shards is not None:
            kw["ShardCount"] = shards
        self.c.create_stream(**kw)
        wait_status(self.c, name)
        return name

    def delete_and_wait(self, name):
        self.c.delete_stream(StreamName=name)
        wait_status(self.c, name, None)

    def open_count(self, name):
        return self.c.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]["OpenShardCount"]

    def test_a_on_demand_stream_grows_under_load(self):
        c = self.c
        od = self.create("ON_DEMAND")
        pv = self.create("PROVISIONED", shards=4)
        self.assertEqual(self.open_count(od), 4)
        summary = c.describe_stream_summary(StreamName=od)["StreamDescriptionSummary"]
        self.assertEqual(summary["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
        # Each stream gets its own producer, through different gateways.
        p_od = KeyedProducer(self.cluster.nodes[1].endpoint, od)
        p_pv = KeyedProducer(self.cluster.nodes[2].endpoint, pv)
        t0 = time.monotonic()
        p_od.start()
        p_pv.start()
        growth = []  # (seconds since the load began, open shards) at each change
        try:
            last = 4
            while p_od.is_alive() and time.monotonic() - t0 < LOAD_S + 5:
                n = self.open_count(od)
                if n != last:
                    growth.append((round(time.monotonic() - t0, 1), n))
                    last = n
                time.sleep(0.2)
        finally:
            p_od.finish()
            p_pv.finish()
        # The rates decay for a few seconds after the load: let the last
        # split (if any) begin and finish before reading the lineage.
        final, since = self.open_count(od), time.monotonic()
        deadline = since + 60
        while time.monotonic() - since < SCALE_MS / 1000 + 4:
            self.assertLess(time.monotonic(), deadline, "still splitting: %r" % growth)
            n = self.open_count(od)
            if n != final:
                growth.append((round(time.monotonic() - t0, 1), n))
                final, since = n, time.monotonic()
            time.sleep(0.2)
        wait_status(c, od)
        final = self.open_count(od)
        info("load %.1f s: on-demand %d calls (%.0f records/s), provisioned %d calls "
             "(%.0f records/s); open shards over time: %s"
             % (p_od.elapsed, p_od.calls, len(p_od.acked) / p_od.elapsed, p_pv.calls,
                len(p_pv.acked) / p_pv.elapsed, growth))
        self.assertGreater(final, 4, "the ON_DEMAND stream did not grow: %r" % growth)
        self.assertLessEqual(final, OPEN_MAX, "grown past its traffic: %r" % growth)
        first = next((t for t, n in growth if n >= 5), None)
        info("4 -> 5+ open shards after %s s of load" % first)
        # Grown by splits: lineage as SplitShard leaves it.
        shards = self.assertLineage(c, od, open_count=final)
        for s in shards:
            if s.get("ParentShardId") is not None:
                self.assertNotIn("AdjacentParentShardId", s, "a merge? %r" % s)
        # The provisioned stream under the same load is unchanged.
        pv_shards = list_all(c, pv)
        self.assertEqual([s["ShardId"] for s in pv_shards], [sid(i) for i in range(4)])
        self.assertTrue(all(is_open(s) for s in pv_shards))
        self.assertEqual(self.open_count(pv), 4)
        # Every acknowledged record once, in order per key, across the splits.
        records, order = read_lineage(c, od)
        per_key = collections.defaultdict(list)
        seen = collections.Counter()
        where = {}
        for shard_id in order:
            for r in records[shard_id]:
                k, v = r["Data"].decode().split(":")
                per_key[k].append(int(v))
                seen[(k, int(v))] += 1
                where.setdefault((k, int(v)), (shard_id, r["SequenceNumber"]))
        info("%d records acknowledged (%d uncertain), %d read from %d shards"
             % (len(p_od.acked), len(p_od.uncertain), sum(seen.values()), len(order)))
        for kv, at in p_od.acked.items():
            self.assertIn(kv, seen, "acknowledged record %s never read" % (kv,))
            if kv not in p_od.uncertain:
                self.assertEqual(seen[kv], 1, "record %s read %d times" % (kv, seen[kv]))
                self.assertEqual(where[kv], at, "record %s read elsewhere" % (kv,))
        self.assertEqual(set(seen) - set(p_od.acked) - p_od.uncertain, set(),
                         "records read that were never put")
        for key, values in per_key.items():
            dedup = [v for j, v in enumerate(values) if j == 0 or values[j - 1] != v]
            self.assertEqual(dedup, sorted(dedup), "key %s out of order" % key)
        self.delete_and_wait(od)
        self.delete_and_wait(pv)

    def test_b_on_demand_stream_count_limit(self):
        c = self.c
        acct = None
        made = [self.create("ON_DEMAND") for _ in range(ON_DEMAND_LIMIT)]
        acct = self.account(c, made[0])
        limits = c.describe_limits()
        self.assertEqual(limits["OnDemandStreamCountLimit"], ON_DEMAND_LIMIT)
        self.assertEqual(limits["OnDemandStreamCount"], ON_DEMAND_LIMIT)
        message = ("This request would exceed the limit on the number of On-Demand streams for "
                   "the account %s in us-east-1. Current On-Demand streams count: %d. Limit: %d."
                   % (acct, ON_DEMAND_LIMIT, ON_DEMAND_LIMIT))
        name = unique_name("od")
        err = self.error(c.create_stream, StreamName=name,
                         StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertError(err, "LimitExceededException", message)
        pv = self.create("PROVISIONED", shards=1)
        arn = c.describe_stream_summary(StreamName=pv)["StreamDescriptionSummary"]["StreamARN"]
        err = self.error(c.update_stream_mode, StreamARN=arn,
                         StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertError(err, "LimitExceededException", message)
        # A stream already ON_DEMAND is not counted twice, a provisioned one
        # may still be created, and once one goes the quota has room again.
        c.update_stream_mode(StreamARN=c.describe_stream_summary(StreamName=made[0])[
            "StreamDescriptionSummary"]["StreamARN"], StreamModeDetails={"StreamMode": "ON_DEMAND"})
        wait_status(c, made[0])
        self.delete_and_wait(made.pop())
        c.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        wait_status(c, pv)
        self.assertEqual(c.describe_limits()["OnDemandStreamCount"], ON_DEMAND_LIMIT)
        for name in made + [pv]:
            self.delete_and_wait(name)

    def leader_log(self):
        return "".join(n.log_text() for n in self.cluster.nodes)

    def test_c_delete_while_updating(self):
        c = self.c
        # A split under way: DeleteStream right after SplitShard, a few times
        # (the split may finish first; the coordinator's log tells).
        names = []
        for _ in range(3):
            name = self.create("PROVISIONED", shards=2)
            names.append(name)
            for i in range(20):
                c.put_record(StreamName=name, PartitionKey="p%d" % i, Data=b"x")
            c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**125))
            c.delete_stream(StreamName=name)
            try:  # DELETING, or gone already
                status = c.describe_stream_summary(StreamName=name)[
                    "StreamDescriptionSummary"]["StreamStatus"]
                self.assertEqual(status, "DELETING")
            except botocore.exceptions.ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "ResourceNotFoundException")
        for name in names:
            wait_status(c, name, None)
        log = self.leader_log()
        abandoned = [n for n in names if "reshard finished stream=%s\n" % n not in log]
        info("deleted while the split was under way: %d of %d" % (len(abandoned), len(names)))
        # A settings change under way (UPDATING for the creating time).
        name2 = self.create("PROVISIONED", shards=1)
        c.increase_stream_retention_period(StreamName=name2, RetentionPeriodHours=48)
        self.assertEqual(c.describe_stream_summary(StreamName=name2)[
            "StreamDescriptionSummary"]["StreamStatus"], "UPDATING")
        c.delete_stream(StreamName=name2)
        wait_status(c, name2, None)
        # The names are free again and the new streams work.
        for n, shards in ((names[0], 2), (name2, 1)):
            c.create_stream(StreamName=n, ShardCount=shards)
            wait_status(c, n)
            self.assertEqual([s["ShardId"] for s in list_all(c, n)],
                             [sid(i) for i in range(shards)])
            put = c.put_record(StreamName=n, PartitionKey="a", Data=b"again")
            it = c.get_shard_iterator(StreamName=n, ShardId=put["ShardId"],
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            got = c.get_records(ShardIterator=it)["Records"]
            self.assertEqual([r["Data"] for r in got], [b"again"])
            self.delete_and_wait(n)

if __name__ == "__main__":
    unittest.main()
