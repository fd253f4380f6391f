"""Crash: kill -9 eddyd in the middle of a PutRecords load (two writer
threads), restart it on the same data dir, and read every shard back; then
once more on top of the recovered data. Every acknowledged record must be
there exactly once, with the shard and sequence number it was acknowledged
with; an unacknowledged one may be there or not, never twice; sequence
numbers keep increasing across the crashes."""

import itertools
import threading
import time
import unittest

import botocore.exceptions

from harness import (client, create_active, even_ranges, read_shard, single_node,
                     stop_and_check, unique_name)

BATCH = 100
WRITERS = 2
ROUNDS = 2
ACKED_BEFORE_KILL = 3000  # per round
SHARDS = ("shardId-000000000000", "shardId-000000000001")


class Crash(unittest.TestCase):
    timeout_s = 240

    def test_kill9_mid_load(self):
        node = single_node(unique_name("crash"))
        try:
            self._run(node)
        finally:
            stop_and_check(self, node)

    def _run(self, node):
        node.start()
        c = client(node.endpoint)
        name = unique_name("crash")
        create_active(c, name, 2)
        self.acked = {}  # id -> (ShardId, SequenceNumber)
        self.attempted = set()
        ids = itertools.count()
        for rnd in range(ROUNDS):
            self._load_and_kill(node, name, ids, rnd)
            node.start()
            self._wait_active(c, name)
            last_seq = self._check(c, name, rnd)
        # Writes go on after the restarts, above everything already there.
        for i, (start, _) in enumerate(even_ranges(2)):
            r = c.put_record(StreamName=name, PartitionKey="after", Data=b"after",
                             ExplicitHashKey=str(start))
            self.assertEqual(r["ShardId"], SHARDS[i])
            self.assertGreater(int(r["SequenceNumber"]), last_seq[SHARDS[i]],
                               "%s: sequence number went backwards after the crash" % SHARDS[i])

    def _load_and_kill(self, node, name, ids, rnd):
        stop = threading.Event()
        errors = []
        acked_at_start = len(self.acked)

        def writer():
            wc = client(node.endpoint, timeout_s=10)
            while not stop.is_set():
                batch = [next(ids) for _ in range(BATCH)]
                self.attempted.update(batch)
                try:
                    resp = wc.put_records(StreamName=name, Records=[
                        {"PartitionKey": "pk-%d" % i, "Data": b"crash-%08d" % i} for i in batch])
                except (botocore.exceptions.BotoCoreError,
                        botocore.exceptions.ClientError) as e:
                    errors.append(e)
                    time.sleep(0.05)
                    continue
                for i, r in zip(batch, resp["Records"]):
                    if "ErrorCode" not in r:
                        self.acked[i] = (r["ShardId"], r["SequenceNumber"])

        threads = [threading.Thread(target=writer, daemon=True) for _ in range(WRITERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while (len(self.acked) - acked_at_start < ACKED_BEFORE_KILL
               and time.monotonic() < deadline and all(t.is_alive() for t in threads)):
            time.sleep(0.01)
        self.assertGreater(len(self.acked), acked_at_start,
                           "round %d: nothing acknowledged before the crash: %r"
                           % (rnd, errors[-3:]))
        node.kill9()
        stop.set()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "writer stuck after the crash")

    def _wait_active(self, c, name):
        deadline = time.monotonic() + 60
        while True:
            try:
                s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
                if s["StreamStatus"] == "ACTIVE":
                    return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError("stream lost in the crash: %s" % e)
            self.assertLess(time.monotonic(), deadline, "stream not ACTIVE after restart")
            time.sleep(0.1)

    def _check(self, c, name, rnd):
        """Reads every shard; checks the invariants; returns the last
        sequence number per shard."""
        count, last_seq = {}, {}
        for shard in SHARDS:
            recs = read_shard(c, name, shard)
            seqs = [int(r["SequenceNumber"]) for r in recs]
            self.assertTrue(all(a < b for a, b in zip(seqs, seqs[1:])),
                            "round %d, %s: sequence numbers not strictly increasing" % (rnd, shard))
            last_seq[shard] = seqs[-1] if seqs else -1
            for r in recs:
                i = int(r["Data"][6:])
                count[i] = count.get(i, 0) + 1
                self.assertIn(i, self.attempted, "record %d was never sent" % i)
                if i in self.acked:
                    self.assertEqual((shard, r["SequenceNumber"]), self.acked[i],
                                     "round %d: record %d moved" % (rnd, i))
        twice = sorted(i for i, n in count.items() if n > 1)
        self.assertEqual(twice, [], "round %d: records present more than once" % rnd)
        lost = sorted(i for i in self.acked if i not in count)
        self.assertEqual(lost, [], "round %d: %d acknowledged records lost (of %d)"
                         % (rnd, len(lost), len(self.acked)))
        return last_seq
