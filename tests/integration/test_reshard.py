"""Resharding on a three-node cluster (issue 4, scope 2), through boto3:

  a. SplitShard, MergeShards, UpdateShardCount up and down (a 4 -> 3 that
     needs short-lived shards too): lineage (ParentShardId,
     AdjacentParentShardId), EndingSequenceNumber on closed shards, the
     even ranges UNIFORM_SCALING ends with, children placed on other groups.
  b. GetRecords at the end of a closed shard: ChildShards and no
     NextShardIterator; a LATEST iterator on a closed shard ends at once.
  c. A producer writing one record at a time per partition key while the
     stream is split and merged: a reader that follows ChildShards (parents
     to their end first) sees every acknowledged record exactly once, in put
     order per key, at its acknowledged shard and sequence number.
  d. ListShards with each of the six ShardFilter types, NextToken paging
     under a filter, and NextToken's exclusions.
  e. The AWS errors: a closed shard split again, non-adjacent and inverted
     merges, NewStartingHashKey out of the shard, unknown shards and streams,
     UpdateShardCount past double and below half and past ten calls a day,
     the account's shard limit (a cluster with --limit shard-limit=5),
     ON_DEMAND streams, validation.
  f. The coordinator leader SIGKILLed right after a reshard began: a new
     leader finishes it; every gateway, the restarted node's included, shows
     the same finished lineage, and every record is readable.
"""

import collections
import sys
import threading
import time
import unittest

import botocore.exceptions

from harness import (GATEWAY_ERRORS_5XX, HASH_MAX, NOT_NULL, Cluster, client, constraint,
                     even_ranges, md5_hash_key, unique_name, wait_status)

ROOT = "shardId-%012d"


def info(msg):
    sys.stderr.write("  [reshard] %s\n" % msg)
    sys.stderr.flush()


def sid(i):
    return ROOT % i


def hash_range(shard):
    r = shard["HashKeyRange"]
    return int(r["StartingHashKey"]), int(r["EndingHashKey"])


def is_open(shard):
    return "EndingSequenceNumber" not in shard["SequenceNumberRange"]


def list_all(c, name, **kw):
    """Every shard ListShards gives, following NextToken."""
    out = []
    resp = c.list_shards(StreamName=name, **kw)
    while True:
        out.extend(resp["Shards"])
        token = resp.get("NextToken")
        if not token:
            return out
        resp = c.list_shards(NextToken=token, MaxResults=kw.get("MaxResults", 1000))


def retry_5xx(fn, timeout_s=30, **kw):
    """fn(**kw), again after 5xx answers and dropped connections (as SDKs
    do). Returns (response, tries that failed indeterminately)."""
    deadline = time.monotonic() + timeout_s
    failed = 0
    while True:
        try:
            return fn(**kw), failed
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            status = e.response["ResponseMetadata"].get("HTTPStatusCode", 0)
            if status < 500 and code not in ("ProvisionedThroughputExceededException",
                                             "LimitExceededException"):
                raise
        except botocore.exceptions.BotoCoreError:
            pass
        failed += 1
        if time.monotonic() > deadline:
            raise AssertionError("still failing after %ds" % timeout_s)
        time.sleep(0.05)


def next_second():
    """Sleeps past the next whole second of the clock and returns it."""
    now = time.time()
    second = int(now) + 1
    time.sleep(second - now + 0.02)
    return second


def read_to_end(c, name, shard_id, timeout_s=60):
    """Reads a shard from TRIM_HORIZON while it returns an iterator; for a
    closed shard that ends with ChildShards. Returns (records, child shards,
    the last response)."""
    it = retry_5xx(c.get_shard_iterator, StreamName=name, ShardId=shard_id,
                   ShardIteratorType="TRIM_HORIZON")[0]["ShardIterator"]
    records = []
    deadline = time.monotonic() + timeout_s
    while True:
        resp = retry_5xx(c.get_records, ShardIterator=it, Limit=1000)[0]
        records.extend(resp["Records"])
        it = resp.get("NextShardIterator")
        if it is None:
            return records, resp.get("ChildShards", []), resp
        if time.monotonic() > deadline:
            raise AssertionError("%s never reached its end in %ds" % (shard_id, timeout_s))
        if not resp["Records"]:
            time.sleep(0.02)


def read_lineage(c, name):
    """Reads every shard of a stream whose open shards are quiet, parents to
    their end before any child, from the shards open at TRIM_HORIZON along
    ChildShards. Returns ({shard id: records}, order read)."""
    start = list_all(c, name, ShardFilter={"Type": "AT_TRIM_HORIZON"})
    shards = {s["ShardId"]: s for s in list_all(c, name)}
    queue = [s["ShardId"] for s in start]
    done, order, records = set(), [], {}
    budget = 100 * (len(shards) + 1)  # a merge child may wait a few turns
    while queue:
        budget -= 1
        assert budget > 0, "lineage of %s does not lead from %r to every shard" % (name, start)
        shard_id = queue.pop(0)
        if shard_id in done:
            continue
        sh = shards[shard_id]
        parents = [p for p in (sh.get("ParentShardId"), sh.get("AdjacentParentShardId")) if p]
        if any(p not in done for p in parents if p in shards):
            queue.append(shard_id)  # a merge child waits for its other parent
            continue
        if is_open(sh):
            recs, children = read_open(c, name, shard_id), []
        else:
            recs, children, _ = read_to_end(c, name, shard_id)
            want = sorted(s["ShardId"] for s in shards.values()
                          if shard_id in (s.get("ParentShardId"), s.get("AdjacentParentShardId")))
            got = sorted(ch["ShardId"] for ch in children)
            assert got == want, "ChildShards of %s: %r, lineage says %r" % (shard_id, got, want)
        records[shard_id] = recs
        done.add(shard_id)
        order.append(shard_id)
        queue.extend(ch["ShardId"] for ch in children)
    return records, order


def read_open(c, name, shard_id):
    it = retry_5xx(c.get_shard_iterator, StreamName=name, ShardId=shard_id,
                   ShardIteratorType="TRIM_HORIZON")[0]["ShardIterator"]
    out = []
    while True:
        resp = retry_5xx(c.get_records, ShardIterator=it, Limit=1000)[0]
        out.extend(resp["Records"])
        it = resp["NextShardIterator"]
        if not resp["Records"]:
            return out


class Producer(threading.Thread):
    """Puts records one at a time (each key's records in order, keys in turn)
    until stopped, retrying 5xx answers as an SDK does. acked[i] = (shard,
    sequence) of record i; uncertain: records with an indeterminate try."""

    def __init__(self, endpoint, name, keys=12, limit=3000):
        super().__init__(daemon=True)
        self.c = client(endpoint, timeout_s=15)
        self.name = name
        self.keys = keys
        self.limit = limit
        self.acked = {}
        self.uncertain = set()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            for i in range(self.limit):
                if self.stop.is_set():
                    return
                key = "key-%d" % (i % self.keys)
                resp, failed = retry_5xx(self.c.put_record, StreamName=self.name,
                                         PartitionKey=key, Data=b"%d" % i)
                if failed:
                    self.uncertain.add(i)
                self.acked[i] = (resp["ShardId"], resp["SequenceNumber"])
        except Exception as e:  # reported by the test
            self.error = e

    def wait_acked(self, n, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < n:
            if self.error is not None or time.monotonic() > deadline:
                raise AssertionError("producer at %d of %d records: %r"
                                     % (len(self.acked), n, self.error))
            time.sleep(0.01)

    def finish(self):
        self.stop.set()
        self.join(60)
        if self.error is not None:
            raise self.error


class ReshardTestBase(unittest.TestCase):
    maxDiff = 4000
    timeout_s = 150

    def account(self, c, name):
        return c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"].split(":")[4]

    def assertError(self, err, code, message=None, status=400):
        got = (err.response["ResponseMetadata"].get("HTTPStatusCode"),
               err.response["Error"].get("Code"), err.response["Error"].get("Message"))
        self.assertEqual(got[1], code, got)
        self.assertEqual(got[0], status, got)
        if message is not None:
            self.assertEqual(got[2], message, got)

    def error(self, fn, **kw):
        try:
            resp = fn(**kw)
        except botocore.exceptions.ClientError as e:
            return e
        self.fail("expected an error, got %r" % (resp,))

    def new_stream(self, c, shards):
        name = unique_name("rs")
        c.create_stream(StreamName=name, ShardCount=shards)
        wait_status(c, name)
        return name

    def assertLineage(self, c, name, open_count=None, even=False):
        """Every shard ListShards and DescribeStream give: children numbered
        after their parents; closed shards have EndingSequenceNumber and
        children; the open shards tile [0, 2^128-1] (evenly if even)."""
        shards = list_all(c, name)
        described = c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(described["StreamStatus"], "ACTIVE")
        self.assertEqual([s["ShardId"] for s in shards],
                         [sid(i) for i in range(len(shards))])
        by_id = {s["ShardId"]: s for s in shards}
        for s in shards:
            for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")):
                if p is not None:
                    self.assertLess(p, s["ShardId"])
                    self.assertFalse(is_open(by_id[p]), "parent %s of %s open" % (p, s["ShardId"]))
        opened = sorted((hash_range(s) for s in shards if is_open(s)))
        self.assertEqual(opened[0][0], 0)
        self.assertEqual(opened[-1][1], HASH_MAX)
        for a, b in zip(opened, opened[1:]):
            self.assertEqual(a[1] + 1, b[0], "open shards leave a gap or overlap")
        if open_count is not None:
            self.assertEqual(len(opened), open_count)
            summary = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            self.assertEqual(summary["OpenShardCount"], open_count)
        if even:
            self.assertEqual(opened, even_ranges(len(opened)))
        for s in shards:
            if not is_open(s):
                r = s["SequenceNumberRange"]
                self.assertGreater(int(r["EndingSequenceNumber"]), int(r["StartingSequenceNumber"]))
        return shards


class ReshardApiTest(ReshardTestBase):
    """One cluster for the API behaviour."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(unique_name("rsapi"))
        cls.cluster.start()
        cls.cluster.wait_healthy(60)
        cls.c = client(cls.cluster.nodes[0].endpoint)
        cls.c2 = client(cls.cluster.nodes[1].endpoint)

    @classmethod
    def tearDownClass(cls):
        problems = []
        for n in cls.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
        if problems:
            raise AssertionError("\n".join(problems))

    def test_split_shard(self):
        c = self.c
        name = self.new_stream(c, 2)
        for i in range(20):
            c.put_record(StreamName=name, PartitionKey="p%d" % i, Data=b"x")
        lo, hi = even_ranges(2)[0]
        mid = (lo + hi) // 2
        resp = c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(mid))
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        wait_status(c, name)
        shards = self.assertLineage(c, name, open_count=3)
        self.assertEqual(len(shards), 4)
        self.assertFalse(is_open(shards[0]))
        self.assertEqual([s.get("ParentShardId") for s in shards[2:]], [sid(0), sid(0)])
        self.assertNotIn("AdjacentParentShardId", shards[2])
        self.assertEqual(hash_range(shards[2]), (lo, mid - 1))
        self.assertEqual(hash_range(shards[3]), (mid, hi))
        # Every gateway has the same view.
        self.assertEqual(list_all(self.c2, name), shards)
        # The children went to groups other than the parent's.
        groups = [self.cluster.shard_group(name, i) for i in range(4)]
        self.assertNotIn(groups[0], groups[2:], groups)
        self.assertNotEqual(groups[2], groups[3], groups)
        # Writes to the parent's range now land on the children.
        r = c.put_record(StreamName=name, PartitionKey="z", Data=b"y", ExplicitHashKey=str(mid))
        self.assertEqual(r["ShardId"], sid(3))
        r = c.put_record(StreamName=name, PartitionKey="z", Data=b"y", ExplicitHashKey=str(lo))
        self.assertEqual(r["ShardId"], sid(2))
        c.delete_stream(StreamName=name)

    def test_merge_shards(self):
        c = self.c
        name = self.new_stream(c, 3)
        c.merge_shards(StreamName=name, ShardToMerge=sid(0), AdjacentShardToMerge=sid(1))
        wait_status(c, name)
        shards = self.assertLineage(c, name, open_count=2)
        self.assertEqual(len(shards), 4)
        self.assertEqual(shards[3]["ParentShardId"], sid(0))
        self.assertEqual(shards[3]["AdjacentParentShardId"], sid(1))
        r = even_ranges(3)
        self.assertEqual(hash_range(shards[3]), (r[0][0], r[1][1]))
        c.delete_stream(StreamName=name)

    def test_update_shard_count(self):
        c = self.c
        name = self.new_stream(c, 2)
        resp = c.update_shard_count(StreamName=name, TargetShardCount=4,
                                    ScalingType="UNIFORM_SCALING")
        self.assertEqual(resp["CurrentShardCount"], 2)
        self.assertEqual(resp["TargetShardCount"], 4)
        self.assertEqual(resp["StreamName"], name)
        self.assertTrue(resp["StreamARN"].endswith(":stream/" + name))
        wait_status(c, name)
        shards = self.assertLineage(c, name, open_count=4, even=True)
        self.assertEqual(len(shards), 6)  # 2 closed, split in two each
        # 4 -> 3: each new range takes parts of two old ones, so shards are
        # split and the pieces merged, short-lived ones included.
        resp = c.update_shard_count(StreamName=name, TargetShardCount=3,
                                    ScalingType="UNIFORM_SCALING")
        self.assertEqual(resp["CurrentShardCount"], 4)
        wait_status(c, name)
        shards = self.assertLineage(c, name, open_count=3, even=True)
        self.assertGreater(len(shards), 9)
        merged = [s for s in shards if "AdjacentParentShardId" in s]
        self.assertGreater(len(merged), 0)
        resp = c.update_shard_count(StreamName=name, TargetShardCount=2,
                                    ScalingType="UNIFORM_SCALING")
        self.assertEqual(resp["CurrentShardCount"], 3)
        wait_status(c, name)
        self.assertLineage(c, name, open_count=2, even=True)
        # Records written now are readable from their shard.
        r = c.put_record(StreamName=name, PartitionKey="a", Data=b"after")
        recs = read_open(c, name, r["ShardId"])
        self.assertEqual([x["SequenceNumber"] for x in recs], [r["SequenceNumber"]])
        c.delete_stream(StreamName=name)

    def test_get_records_at_shard_end(self):
        c = self.c
        name = self.new_stream(c, 1)
        seqs = [c.put_record(StreamName=name, PartitionKey="k%d" % i, Data=b"%d" % i)
                ["SequenceNumber"] for i in range(5)]
        c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**127))
        wait_status(c, name)
        records, children, last = read_to_end(c, name, sid(0))
        self.assertEqual([r["SequenceNumber"] for r in records], seqs)
        self.assertNotIn("NextShardIterator", last)
        self.assertEqual(children, [
            {"ShardId": sid(1), "ParentShards": [sid(0)],
             "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)}},
            {"ShardId": sid(2), "ParentShards": [sid(0)],
             "HashKeyRange": {"StartingHashKey": str(2**127), "EndingHashKey": str(HASH_MAX)}},
        ])
        # The closed shard's last range holds every record: its end is above them.
        end = int(list_all(c, name)[0]["SequenceNumberRange"]["EndingSequenceNumber"])
        self.assertGreater(end, int(seqs[-1]))
        # LATEST on a closed shard: at the end at once.
        it = c.get_shard_iterator(StreamName=name, ShardId=sid(0),
                                  ShardIteratorType="LATEST")["ShardIterator"]
        resp = c.get_records(ShardIterator=it)
        self.assertEqual(resp["Records"], [])
        self.assertIsNone(resp.get("NextShardIterator"))
        self.assertEqual([ch["ShardId"] for ch in resp["ChildShards"]], [sid(1), sid(2)])
        # An open shard never ends.
        it = c.get_shard_iterator(StreamName=name, ShardId=sid(1),
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        resp = c.get_records(ShardIterator=it)
        self.assertIn("NextShardIterator", resp)
        self.assertNotIn("ChildShards", resp)
        # A merge child lists both parents.
        c.merge_shards(StreamName=name, ShardToMerge=sid(1), AdjacentShardToMerge=sid(2))
        wait_status(c, name)
        _, children, _ = read_to_end(self.c2, name, sid(2))
        self.assertEqual(children, [{"ShardId": sid(3), "ParentShards": [sid(1), sid(2)],
                                     "HashKeyRange": {"StartingHashKey": "0",
                                                      "EndingHashKey": str(HASH_MAX)}}])
        c.delete_stream(StreamName=name)

    def test_order_across_reshard(self):
        c = self.c
        name = self.new_stream(c, 2)
        # The producer writes through another node's gateway than the one
        # that reshards.
        prod = Producer(self.cluster.nodes[2].endpoint, name)
        prod.start()
        try:
            prod.wait_acked(150)
            lo, hi = even_ranges(2)[1]
            c.split_shard(StreamName=name, ShardToSplit=sid(1),
                          NewStartingHashKey=str((lo + hi) // 2))
            prod.wait_acked(len(prod.acked) + 150)
            wait_status(c, name)
            prod.wait_acked(len(prod.acked) + 150)
            c.merge_shards(StreamName=name, ShardToMerge=sid(2), AdjacentShardToMerge=sid(3))
            prod.wait_acked(len(prod.acked) + 100)
            wait_status(c, name)
            c.update_shard_count(StreamName=name, TargetShardCount=3,
                                 ScalingType="UNIFORM_SCALING")
            prod.wait_acked(len(prod.acked) + 100)
            wait_status(c, name)
            prod.wait_acked(len(prod.acked) + 100)
        finally:
            prod.finish()
        self.assertLineage(c, name, open_count=3, even=True)
        records, order = read_lineage(c, name)
        per_key = collections.defaultdict(list)
        seen = collections.Counter()
        where = {}
        for shard_id in order:
            for r in records[shard_id]:
                i = int(r["Data"])
                per_key[r["PartitionKey"]].append(i)
                seen[i] += 1
                where.setdefault(i, (shard_id, r["SequenceNumber"]))
        acked = prod.acked
        info("%d records acknowledged, %d with retried puts; shards read: %s"
             % (len(acked), len(prod.uncertain), " ".join(s[-2:] for s in order)))
        for i, at in acked.items():
            self.assertIn(i, seen, "acknowledged record %d never read" % i)
            if i not in prod.uncertain:
                self.assertEqual(seen[i], 1, "record %d read %d times" % (i, seen[i]))
                self.assertEqual(where[i], at, "record %d read elsewhere" % i)
        self.assertEqual(set(seen) - set(acked), set(), "records read that were never put")
        for key, values in per_key.items():
            dedup = [v for j, v in enumerate(values) if j == 0 or values[j - 1] != v]
            self.assertEqual(dedup, sorted(dedup), "key %s out of order" % key)
        c.delete_stream(StreamName=name)

    def test_list_shards_filters(self):
        c = self.c
        name = self.new_stream(c, 2)
        # boto3 sends ShardFilter.Timestamp in whole seconds: the times are
        # second boundaries with the events on either side of them.
        t_split = next_second()
        c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(2**126))
        wait_status(c, name)
        t_merge = next_second()
        c.merge_shards(StreamName=name, ShardToMerge=sid(2), AdjacentShardToMerge=sid(3))
        wait_status(c, name)
        t_after = next_second()

        def ids(**kw):
            return [s["ShardId"] for s in list_all(c, name, **kw)]

        everything = [sid(i) for i in range(5)]
        self.assertEqual(ids(), everything)
        self.assertEqual(ids(ShardFilter={"Type": "FROM_TRIM_HORIZON"}), everything)
        self.assertEqual(ids(ShardFilter={"Type": "AT_TRIM_HORIZON"}), [sid(0), sid(1)])
        self.assertEqual(ids(ShardFilter={"Type": "AT_LATEST"}), [sid(1), sid(4)])
        self.assertEqual(ids(ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": sid(2)}),
                         [sid(3), sid(4)])
        # Open at a time: the first shards before the split, between split
        # and merge the split's children, now the open ones.
        self.assertEqual(ids(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": t_split}),
                         [sid(0), sid(1)])
        self.assertEqual(ids(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": t_merge}),
                         [sid(1), sid(2), sid(3)])
        self.assertEqual(ids(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": t_after}),
                         [sid(1), sid(4)])
        # Before the stream existed: corrected to the trim horizon.
        self.assertEqual(ids(ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": 1000}),
                         [sid(0), sid(1)])
        # From a time: open shards and those closed at or after it.
        self.assertEqual(ids(ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": t_merge}),
                         [sid(1), sid(2), sid(3), sid(4)])
        self.assertEqual(ids(ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": t_after}),
                         [sid(1), sid(4)])
        self.assertEqual(ids(ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": 1000}),
                         everything)
        # Paging under a filter keeps the filter in the token.
        resp = c.list_shards(StreamName=name, MaxResults=1, ShardFilter={"Type": "AT_LATEST"})
        self.assertEqual([s["ShardId"] for s in resp["Shards"]], [sid(1)])
        resp = c.list_shards(NextToken=resp["NextToken"], MaxResults=1)
        self.assertEqual([s["ShardId"] for s in resp["Shards"]], [sid(4)])
        self.assertNotIn("NextToken", resp)
        resp = c.list_shards(StreamName=name, MaxResults=2,
                             ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": t_merge})
        self.assertEqual([s["ShardId"] for s in resp["Shards"]], [sid(1), sid(2)])
        token = resp["NextToken"]
        resp = c.list_shards(NextToken=token)
        self.assertEqual([s["ShardId"] for s in resp["Shards"]], [sid(3)])
        err = self.error(c.list_shards, NextToken=token, StreamName=name)
        self.assertError(err, "InvalidArgumentException",
                         "NextToken and StreamName cannot be provided together.")
        err = self.error(c.list_shards, NextToken="garbage")
        self.assertError(err, "InvalidArgumentException", "Invalid NextToken.")
        err = self.error(c.list_shards, StreamName=name,
                         ShardFilter={"Type": "AT_TIMESTAMP"})
        self.assertError(err, "InvalidArgumentException",
                         "Timestamp must be provided in ShardFilter with Type AT_TIMESTAMP.")
        err = self.error(c.list_shards, StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID"})
        self.assertError(err, "InvalidArgumentException",
                         "ShardId must be provided in ShardFilter with Type AFTER_SHARD_ID.")
        c.delete_stream(StreamName=name)

    def test_errors(self):
        c = client(self.cluster.nodes[0].endpoint)
        name = self.new_stream(c, 3)
        acct = self.account(c, name)
        r = even_ranges(3)
        # Unknown stream, unknown shard, a shard id naming no number.
        missing = unique_name("none")
        err = self.error(c.split_shard, StreamName=missing, ShardToSplit=sid(0),
                         NewStartingHashKey="5")
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (missing, acct))
        err = self.error(c.split_shard, StreamName=name, ShardToSplit="shardId-9",
                         NewStartingHashKey="5")
        self.assertError(err, "ResourceNotFoundException",
                         "Could not find shard %s in stream %s under account %s."
                         % (sid(9), name, acct))
        err = self.error(c.merge_shards, StreamName=name, ShardToMerge=sid(0),
                         AdjacentShardToMerge="ABKLFD8")
        self.assertError(err, "ResourceNotFoundException",
                         "Could not find shard ABKLFD8 in stream %s under account %s."
                         % (name, acct))
        # NewStartingHashKey not strictly inside (start + 1, end).
        for key in (str(r[1][0] + 1), str(r[1][1]), "999999999999999999999999999999999999999"):
            err = self.error(c.split_shard, StreamName=name, ShardToSplit=sid(1),
                             NewStartingHashKey=key)
            self.assertError(
                err, "InvalidArgumentException",
                "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under "
                "account %s is not both greater than one plus the shard's StartingHashKey %d "
                "and less than the shard's EndingHashKey %d." % (key, sid(1), name, acct,
                                                                 r[1][0], r[1][1]))
        # Merges of shards that are not an adjacent pair (and inverted).
        for a, b in ((0, 2), (1, 0)):
            err = self.error(c.merge_shards, StreamName=name, ShardToMerge=sid(a),
                             AdjacentShardToMerge=sid(b))
            self.assertError(err, "InvalidArgumentException",
                             "Shards %s and %s in stream %s under account %s are not an adjacent "
                             "pair of shards eligible for merging" % (sid(a), sid(b), name, acct))
        # A shard already split.
        c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey=str(r[0][0] + 2))
        wait_status(c, name)
        closed_msg = ("Shard %s in stream %s under account %s has already been merged or split, "
                      "and thus is not eligible for merging or splitting." % (sid(0), name, acct))
        err = self.error(c.split_shard, StreamName=name, ShardToSplit=sid(0),
                         NewStartingHashKey=str(r[0][0] + 5))
        self.assertError(err, "InvalidArgumentException", closed_msg)
        err = self.error(c.merge_shards, StreamName=name, ShardToMerge=sid(0),
                         AdjacentShardToMerge=sid(1))
        self.assertError(err, "InvalidArgumentException", closed_msg)
        # While a reshard runs the stream is UPDATING (if it is still).
        c.split_shard(StreamName=name, ShardToSplit=sid(1), NewStartingHashKey=str(r[1][0] + 9))
        try:
            c.split_shard(StreamName=name, ShardToSplit=sid(2),
                          NewStartingHashKey=str(r[2][0] + 9))
            info("the split was done before the next call: UPDATING not seen")
        except botocore.exceptions.ClientError as e:
            self.assertError(e, "ResourceInUseException",
                             "Stream %s under account %s not ACTIVE, instead in state UPDATING"
                             % (name, acct))
        wait_status(c, name)
        # UpdateShardCount bounds.
        open_now = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "OpenShardCount"]
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=2 * open_now + 1,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "LimitExceededException",
                         "UpdateShardCount cannot scale up over double your current open shard "
                         "count. Current open shard count: %d, Target shard count: %d"
                         % (open_now, 2 * open_now + 1))
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=1,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "LimitExceededException",
                         "UpdateShardCount cannot scale down below half your current open shard "
                         "count. Current open shard count: %d, Target shard count: 1" % open_now)
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=20000,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "LimitExceededException",
                         "Target shard count or number of open shards cannot be greater than "
                         "10000. Current open shard count: %d, Target shard count: 20000"
                         % open_now)
        # Validation.
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=0,
                         ScalingType="BOGUS")
        self.assertError(err, "ValidationException")
        self.assertEqual(err.response["Error"]["Message"],
                         "2 validation errors detected: %s; %s" % (
                             constraint("BOGUS", "scalingType",
                                        "Member must satisfy enum value set: [UNIFORM_SCALING]"),
                             constraint("0", "targetShardCount",
                                        "Member must have value greater than or equal to 1")))
        err = self.error(c.split_shard, StreamName=name)
        self.assertEqual(err.response["Error"]["Message"],
                         "2 validation errors detected: %s; %s" % (
                             constraint(None, "newStartingHashKey", NOT_NULL),
                             constraint(None, "shardToSplit", NOT_NULL)))
        err = self.error(c.merge_shards, StreamName=name, ShardToMerge="", AdjacentShardToMerge=sid(1))
        self.assertError(err, "ValidationException")
        # ON_DEMAND streams cannot be resharded.
        od = unique_name("od")
        c.create_stream(StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        wait_status(c, od)
        err = self.error(c.update_shard_count, StreamName=od, TargetShardCount=2,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "ValidationException",
                         "Request is invalid. Stream %s under account %s is in On-Demand mode."
                         % (od, acct))
        c.delete_stream(StreamName=od)
        c.delete_stream(StreamName=name)

    def test_update_shard_count_daily_quota(self):
        c = self.c
        name = self.new_stream(c, 1)
        for call in range(10):
            target = 2 if call % 2 == 0 else 1
            c.update_shard_count(StreamName=name, TargetShardCount=target,
                                 ScalingType="UNIFORM_SCALING")
            wait_status(c, name)
        acct = self.account(c, name)
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=2,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "LimitExceededException",
                         "UpdateShardCount cannot be called more than 10 times per rolling "
                         "24-hour period for stream %s under account %s." % (name, acct))
        # SplitShard is not UpdateShardCount.
        c.split_shard(StreamName=name, ShardToSplit=sid(len(list_all(c, name)) - 1),
                      NewStartingHashKey=str(2**64))
        wait_status(c, name)
        self.assertLineage(c, name, open_count=2)
        c.delete_stream(StreamName=name)


class ReshardShardLimitTest(ReshardTestBase):
    """A cluster whose account may hold 5 open shards (--limit shard-limit=5)."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(unique_name("rslim"), extra_args=("--limit", "shard-limit=5"))
        cls.cluster.start()
        cls.cluster.wait_healthy(60)

    @classmethod
    def tearDownClass(cls):
        problems = []
        for n in cls.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
        if problems:
            raise AssertionError("\n".join(problems))

    def test_shard_limit(self):
        c = client(self.cluster.nodes[0].endpoint)
        name = self.new_stream(c, 4)
        acct = self.account(c, name)
        c.split_shard(StreamName=name, ShardToSplit=sid(0), NewStartingHashKey="1000")
        wait_status(c, name)  # 5 open shards: the limit
        err = self.error(c.split_shard, StreamName=name, ShardToSplit=sid(1),
                         NewStartingHashKey=str(even_ranges(4)[1][0] + 1000))
        self.assertError(
            err, "LimitExceededException",
            "This request would exceed the shard limit for the account %s in us-east-1. Current "
            "shard count for the account: 5. Limit: 5. Number of additional shards that would "
            "have resulted from this request: 1. Refer to the AWS Service Limits page "
            "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current "
            "limits and how to request higher limits." % acct)
        err = self.error(c.update_shard_count, StreamName=name, TargetShardCount=6,
                         ScalingType="UNIFORM_SCALING")
        self.assertError(err, "LimitExceededException",
                         "Target shard count or number of open shards cannot be greater than 5. "
                         "Current open shard count: 5, Target shard count: 6")
        # A merge frees a shard; then a split fits again.
        c.merge_shards(StreamName=name, ShardToMerge=sid(5), AdjacentShardToMerge=sid(1))
        wait_status(c, name)
        c.split_shard(StreamName=name, ShardToSplit=sid(2),
                      NewStartingHashKey=str(even_ranges(4)[2][0] + 1000))
        wait_status(c, name)
        self.assertLineage(c, name, open_count=5)


class ReshardFailoverTest(ReshardTestBase):
    """A fresh cluster: its coordinator leader is killed."""

    timeout_s = 240

    def setUp(self):
        self.cluster = Cluster(unique_name("rsfo"))
        self.cluster.start()
        self.cluster.wait_healthy(60)

    def tearDown(self):
        problems = []
        for n in self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            self.fail("\n".join(problems))

    def test_reshard_across_coordinator_kill(self):
        leader = self.cluster.leader_of(0)
        others = [n for n in self.cluster.nodes if n is not leader]
        c = client(others[0].endpoint)
        name = self.new_stream(c, 4)
        before = {}
        for i in range(40):
            r = c.put_record(StreamName=name, PartitionKey="k%d" % i, Data=b"%d" % i)
            before[i] = (r["ShardId"], r["SequenceNumber"])
        log_from = {n.name: len(n.log_text()) for n in others}
        # The reply comes once the begin entry applied: the leader is then
        # creating children and closing parents, and dies in the middle.
        resp = c.update_shard_count(StreamName=name, TargetShardCount=3,
                                    ScalingType="UNIFORM_SCALING")
        leader.kill9()
        self.assertEqual(resp["CurrentShardCount"], 4)
        s = wait_status(c, name, "ACTIVE", timeout_s=90)
        finished_by = [n.name for n in others
                       if "reshard driving stream=%s" % name in n.log_text(log_from[n.name])]
        info("coordinator leader %s killed; reshard finished by a new leader: %s"
             % (leader.name, finished_by or "no (it was done already)"))
        self.assertEqual(s["OpenShardCount"], 3)
        shards = self.assertLineage(c, name, open_count=3, even=True)
        # Puts go to the new shards, through every surviving gateway.
        for n in others:
            r = retry_5xx(client(n.endpoint).put_record, StreamName=name, PartitionKey="after",
                          Data=b"after")[0]
            self.assertIn(r["ShardId"], [s["ShardId"] for s in shards if is_open(s)])
        records, _ = read_lineage(c, name)
        got = {int(r["Data"]): (sid_, r["SequenceNumber"])
               for sid_, recs in records.items() for r in recs if r["Data"] != b"after"}
        self.assertEqual(got, before)
        # The killed node comes back and agrees.
        leader.start()
        self.cluster.wait_healthy(60)
        back = client(leader.endpoint)
        deadline = time.monotonic() + 30
        while True:
            try:
                if list_all(back, name) == list_all(c, name):
                    break
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in GATEWAY_ERRORS_5XX:
                    raise
            self.assertLess(time.monotonic(), deadline, "restarted node disagrees")
            time.sleep(0.2)
        c.delete_stream(StreamName=name)


if __name__ == "__main__":
    unittest.main()
