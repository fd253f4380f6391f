"""Retention (issue 4, scope 3): records past a stream's retention period
disappear from reads, their segment files are deleted on every replica,
TRIM_HORIZON moves forward, and closed shards past retention leave
ListShards and DescribeStream.

Time is shortened, not faked: eddyd --retention-hour-ms makes one hour of
retention last a few hundred ms (the minimum 24 hours become seconds) and
--trim-interval-ms makes the coordinator trim every few hundred ms. Arrival
times are the servers' real clocks, so the tests wait past the retention
of what they wrote and check what is left.

  a. A three-node cluster: a shard gets more than 64 MiB (a sealed segment
     file and an active one); once past retention the sealed file is gone on
     all three replicas, the records of the active file written before are
     hidden, newer records are intact, every iterator type (TRIM_HORIZON,
     AT/AFTER_SEQUENCE_NUMBER of a trimmed record, AT_TIMESTAMP before the
     horizon, an iterator taken before the trim) reads on from the horizon,
     the replicas stay byte-identical, and a restarted replica does not
     hydrate the files it trimmed.
  b. One node: a shard closed by SplitShard leaves ListShards and
     DescribeStream once its records are past retention; its children stay.
"""

import os
import re
import sys
import time
import unittest

import botocore.exceptions

from harness import Cluster, client, single_node, unique_name, wait_status
from test_cluster import retrier, wait_same_segments

SEG_NAME_RE = re.compile(r"^[0-9a-f]{32}\.seg$")
MIB = 1024 * 1024
BIG_RECORDS = 66  # 1 MiB each: the 64th seals the first file, the rest start a second


def info(msg):
    sys.stderr.write("  [retention] %s\n" % msg)
    sys.stderr.flush()


def segment_files(node, stream):
    """{shard index: sorted segment file names} of stream on node."""
    out = {}
    base = os.path.join(node.data, "groups")
    for g in os.listdir(base) if os.path.isdir(base) else []:
        sdir = os.path.join(base, g, "shards")
        for d in os.listdir(sdir) if os.path.isdir(sdir) else []:
            if d.rsplit("@", 1)[0] != stream:
                continue
            for shard in os.listdir(os.path.join(sdir, d)):
                p = os.path.join(sdir, d, shard)
                out[int(shard)] = sorted(n for n in os.listdir(p) if SEG_NAME_RE.match(n))
    return out


def read_from(r, stream, shard_id, limit=100, **it_kwargs):
    """GetShardIterator (it_kwargs) then GetRecords until caught up; returns
    (records, first GetRecords response)."""
    it, _ = r.call("get_shard_iterator", StreamName=stream, ShardId=shard_id, **it_kwargs)
    return read_iterator(r, it["ShardIterator"], limit)


def read_iterator(r, it, limit=100, rounds=50):
    out, first = [], None
    for _ in range(rounds):
        resp, _ = r.call("get_records", ShardIterator=it, Limit=limit)
        first = first or resp
        out.extend(resp["Records"])
        it = resp.get("NextShardIterator")
        if it is None or (not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0):
            break
    return out, first


class RetentionClusterTest(unittest.TestCase):
    """One three-node cluster where an hour of retention lasts HOUR_MS."""

    timeout_s = 300
    HOUR_MS = 1000  # 24 h of retention: 24 s
    TRIM_MS = 300

    def setUp(self):
        self.cluster = Cluster(unique_name("ret"), extra_args=(
            "--retention-hour-ms", str(self.HOUR_MS), "--trim-interval-ms", str(self.TRIM_MS)))
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

    def retention_s(self):
        return 24 * self.HOUR_MS / 1000.0

    def put_big(self, r, stream):
        """BIG_RECORDS records of 1 MiB into the stream's only shard; returns
        their sequence numbers and the server time of the last one."""
        seqs = []
        for i in range(0, BIG_RECORDS, 4):
            batch = [{"Data": bytes([i + k]) * MIB, "PartitionKey": "old-%d" % (i + k)}
                     for k in range(min(4, BIG_RECORDS - i))]
            resp, _ = r.call("put_records", StreamName=stream, Records=batch)
            self.assertEqual(resp["FailedRecordCount"], 0, resp["Records"][:2])
            seqs.extend(x["SequenceNumber"] for x in resp["Records"])
        got, _ = read_from(r, stream, "shardId-000000000000", limit=2,
                           ShardIteratorType="AT_SEQUENCE_NUMBER",
                           StartingSequenceNumber=seqs[-1])
        last_arrival = got[0]["ApproximateArrivalTimestamp"].timestamp()
        return seqs, last_arrival

    def test_a_records_and_files_expire_on_every_replica(self):
        r = retrier(self.cluster, timeout_s=30)
        stream = unique_name("ret")
        r.call("create_stream", StreamName=stream, ShardCount=1)
        wait_status(r.client(), stream, "ACTIVE", timeout_s=60)
        shard = "shardId-000000000000"
        t0 = time.time()
        old_seqs, last_old = self.put_big(r, stream)
        info("%d MiB written in %.1f s" % (BIG_RECORDS, time.time() - t0))
        # Before retention ends everything is there, from the first record.
        early_it, _ = r.call("get_shard_iterator", StreamName=stream, ShardId=shard,
                             ShardIteratorType="TRIM_HORIZON")
        got, _ = read_from(r, stream, shard, limit=1, ShardIteratorType="TRIM_HORIZON")
        self.assertEqual(got[0]["SequenceNumber"], old_seqs[0])
        files = {n.node_id: segment_files(n, stream) for n in self.cluster.nodes}
        for nid, f in files.items():
            self.assertEqual(len(f.get(0, [])), 2, "node %d files %r" % (nid, f))
        first_file, second_file = files[1][0]
        # Past the retention of every old record (by the servers' clock),
        # new records arrive: they must stay readable for a whole retention.
        wait = last_old + self.retention_s() + 1.0 - time.time()
        info("waiting %.1f s for the records to expire" % max(wait, 0))
        time.sleep(max(wait, 0))
        fresh = []
        for i in range(5):
            resp, _ = r.call("put_record", StreamName=stream, Data=b"fresh-%d" % i,
                             PartitionKey="fresh-%d" % i)
            fresh.append(resp["SequenceNumber"])
        fresh_t = time.time()
        # The coordinator trims within a few intervals.
        deadline = time.monotonic() + 20
        while True:
            files = {n.node_id: segment_files(n, stream).get(0, []) for n in self.cluster.nodes}
            if all(f == [second_file] for f in files.values()):
                break
            if time.monotonic() > deadline:
                self.fail("the sealed file %s was not deleted everywhere: %r"
                          % (first_file, files))
            time.sleep(0.2)
        info("sealed file deleted on all replicas")
        want = list(fresh)
        # TRIM_HORIZON starts at the oldest retained record, once a trim
        # past the last old record was applied (the next pass at the latest).
        deadline = time.monotonic() + 10
        while True:
            got, _ = read_from(r, stream, shard, ShardIteratorType="TRIM_HORIZON")
            if [x["SequenceNumber"] for x in got] == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual([x["SequenceNumber"] for x in got], want)
        self.assertEqual([x["Data"] for x in got], [b"fresh-%d" % i for i in range(5)])
        # A trimmed sequence number (in the deleted file, or hidden in the
        # active one), AT or AFTER: the iterator is given and reads on at
        # the horizon.
        for seq in (old_seqs[0], old_seqs[-1]):
            for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                got, _ = read_from(r, stream, shard, ShardIteratorType=kind,
                                   StartingSequenceNumber=seq)
                self.assertEqual([x["SequenceNumber"] for x in got], want, (kind, seq))
        # AT_TIMESTAMP before the horizon: from the horizon.
        got, _ = read_from(r, stream, shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=t0 - 60)
        self.assertEqual([x["SequenceNumber"] for x in got], want)
        # An iterator taken before the trim points into trimmed data: the
        # read continues at the horizon.
        got, _ = read_iterator(r, early_it["ShardIterator"])
        self.assertEqual([x["SequenceNumber"] for x in got], want)
        self.assertLess(time.time() - fresh_t, self.retention_s() - 2,
                        "the checks took too long: the fresh records expire")
        # The replicas hold the same files, byte for byte.
        nodes = self.cluster.nodes
        wait_same_segments(self, self.cluster, nodes, timeout_s=30)
        # A restarted replica restores a snapshot that may name the deleted
        # file: it must not hydrate (fetch) it, since no peer has it.
        victim = self.cluster.node(3)
        victim.stop()
        offset = os.path.getsize(victim.log_path)
        victim.start()
        self.cluster.wait_healthy(60)
        self.cluster.wait_caught_up(victim, 60)
        log = victim.log_text(offset)
        self.assertNotIn("trimmed by retention, not fetched", log)
        self.assertIsNone(re.search(r"stream=%s shard=0 hydrating" % re.escape(stream), log),
                          "the restarted replica hydrates what it trimmed")
        self.assertEqual(segment_files(victim, stream).get(0), [second_file])
        wait_same_segments(self, self.cluster, nodes, timeout_s=30)
        # Reads go on; the fresh records may have expired meanwhile (the
        # restart takes seconds of their retention), a new one has not.
        resp, _ = r.call("put_record", StreamName=stream, Data=b"late", PartitionKey="late")
        got, _ = read_from(r, stream, shard, ShardIteratorType="TRIM_HORIZON")
        seqs = [x["SequenceNumber"] for x in got]
        everything = want + [resp["SequenceNumber"]]
        self.assertTrue(seqs and seqs == everything[len(everything) - len(seqs):], seqs)


class RetentionClosedShardTest(unittest.TestCase):
    """One node where an hour of retention lasts HOUR_MS: a split's parent
    shard expires from the listings once its records are past retention."""

    timeout_s = 120
    HOUR_MS = 150  # 24 h of retention: 3.6 s
    TRIM_MS = 100

    def setUp(self):
        self.node = single_node(unique_name("retc"))
        self.node.args += ["--retention-hour-ms", str(self.HOUR_MS),
                           "--trim-interval-ms", str(self.TRIM_MS)]
        self.node.start()

    def tearDown(self):
        self.node.stop()
        problems, self.node.problems = self.node.problems, []
        if problems:
            self.fail("\n".join(problems))

    def shard_ids(self, c, stream):
        listed = [s["ShardId"] for s in c.list_shards(StreamName=stream)["Shards"]]
        described = [s["ShardId"]
                     for s in c.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]]
        self.assertEqual(listed, described)
        return listed

    def test_b_closed_shard_expires_from_listings(self):
        c = client(self.node.endpoint)
        stream = unique_name("retc")
        c.create_stream(StreamName=stream, ShardCount=1)
        wait_status(c, stream, "ACTIVE", timeout_s=30)
        c.put_record(StreamName=stream, Data=b"parent", PartitionKey="p")
        try:
            c.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000",
                          NewStartingHashKey=str(2**127))
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("UnknownOperationException", "InvalidAction"):
                self.skipTest("SplitShard not available in this build: %s"
                              % e.response["Error"]["Code"])
            raise
        wait_status(c, stream, "ACTIVE", timeout_s=30)
        ids = self.shard_ids(c, stream)
        self.assertEqual(ids, ["shardId-000000000000", "shardId-000000000001",
                               "shardId-000000000002"])
        closed_at = time.time()
        # Past the retention of the parent's last record it is no longer listed.
        deadline = closed_at + 24 * self.HOUR_MS / 1000.0 + 10
        while True:
            ids = self.shard_ids(c, stream)
            if ids == ["shardId-000000000001", "shardId-000000000002"]:
                break
            if time.time() > deadline:
                self.fail("closed shard still listed %.1f s after closing: %r"
                          % (time.time() - closed_at, ids))
            time.sleep(0.2)
        self.assertGreaterEqual(time.time() - closed_at, 24 * self.HOUR_MS / 1000.0 - 0.5,
                                "the closed shard left the listing before its retention ended")
        # The children are open and take records.
        c.put_record(StreamName=stream, Data=b"child", PartitionKey="p")


if __name__ == "__main__":
    unittest.main()
