"""A stopped node (SIGSTOP) on a three-process cluster: writes move to a
new leader within a few seconds although the stopped node's kernel keeps
its TCP connections open (issue 7: they stalled for 10-15 s while the
gateways waited on the dead connections and their cached leaders).

  a. SIGSTOP the leader of a shard group under a PutRecords load sent
     through the two other gateways: no shard goes PAUSE_BOUND_S without an
     acknowledged write while the node is stopped.
  b. The same with the coordinator leader stopped (routing must not wait
     for the catalogue).

After SIGCONT the load goes on a little, then every shard is read through
each gateway: every acknowledged record is there exactly once at its
acknowledged shard and sequence number, duplicates only of records with an
attempt of unknown outcome (test_cluster.check_load), gateways agree.
"""

import os
import signal
import time
import unittest

from harness import Cluster, unique_name
from test_cluster import (PutLoad, check_load, create_stream_active, info, read_all, retrier,
                          same_reads, shard_group_of)

SHARDS = 4
# The bound on writes resuming after the stop: an election (300-600 ms),
# the RPC client's probe of a silent peer (RPC_PROBE_IDLE_MS +
# RPC_PROBE_TIMEOUT_MS, 1.5 s) and a client retry; about 2 s measured on an
# idle machine, with margin for a loaded two-core CI and the ASan build.
PAUSE_BOUND_S = 5.0
# How long the node stays stopped: well past the bound, so the writes that
# count were served by the others, not by the node after SIGCONT.
PAUSE_HOLD_S = 8.0


class PauseTest(unittest.TestCase):
    """One fresh three-node cluster per test, stopped (and checked for
    unclean exits and sanitizer reports) after it."""

    timeout_s = 180
    maxDiff = 4000

    def setUp(self):
        self.cluster = Cluster(unique_name("pause"))
        self.cluster.start()
        self.cluster.wait_healthy(60)
        self.stopped = None

    def tearDown(self):
        self.resume()
        problems = []
        for n in self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            self.fail("\n".join(problems))

    def resume(self):
        if self.stopped is not None and self.stopped.is_running():
            os.kill(self.stopped.proc.pid, signal.SIGCONT)
        self.stopped = None

    def pause_under_load(self, name, pick_victim, label):
        """Runs a PutLoad through the gateways of the nodes other than the
        victim (pick_victim(leaders) -> node, from the leaders just before
        the stop), SIGSTOPs the victim for PAUSE_HOLD_S, SIGCONTs it, runs
        on a little, stops the load. Returns (load, stop time, victim)."""
        cl = self.cluster
        victim = pick_victim(cl.wait_healthy(60))
        others = [n for n in cl.nodes if n is not victim]
        load = PutLoad(cl.endpoints(others), name, writers=3, batch=20,
                       time_limit_s=60).start()
        got = load.wait_acked(600, 20)
        self.assertGreater(got, 0, "nothing acknowledged before the stop: %s"
                           % load.failure_summary())
        t_stop = time.monotonic()
        os.kill(victim.proc.pid, signal.SIGSTOP)
        self.stopped = victim
        try:
            time.sleep(PAUSE_HOLD_S)
        finally:
            self.resume()
        load.wait_acked(load.acked_count() + 300, 20)
        self.assertTrue(load.stop(), "a writer is stuck")
        self.assertEqual(load.fatal, [], "non-retryable errors")
        info("%s: SIGSTOP of %s for %.0fs at %d acks; failed attempts since: %s"
             % (label, victim.name, PAUSE_HOLD_S, got, load.failure_summary(t_stop)))
        return load, t_stop, victim

    def longest_gaps(self, load, t_stop, shard_ids):
        """{shard: the longest time without an acknowledged write to it
        while the node was stopped}, counting from the stop to the first
        acknowledgement, between acknowledgements, and from the last one
        to SIGCONT."""
        lo = t_stop - load.t0
        hi = lo + PAUSE_HOLD_S
        acks = {sid: [] for sid in shard_ids}
        for h in load.history:
            if "results" not in h or not lo <= h["t1"] <= hi:
                continue
            for sid, _seq, err in h["results"]:
                if err is None and sid in acks:
                    acks[sid].append(h["t1"])
        gaps = {}
        for sid, ts in acks.items():
            points = [lo] + sorted(ts) + [hi]
            gaps[sid] = max(b - a for a, b in zip(points, points[1:]))
        return gaps

    def assert_resumed(self, load, t_stop, label):
        shard_ids = ["shardId-%012d" % i for i in range(SHARDS)]
        gaps = self.longest_gaps(load, t_stop, shard_ids)
        info("%s: longest time without an acknowledged write per shard while stopped (s): %s"
             % (label, ", ".join("%s %.2f" % (sid[-1], d) for sid, d in sorted(gaps.items()))))
        slow = {sid: round(d, 2) for sid, d in gaps.items() if d > PAUSE_BOUND_S}
        self.assertEqual(slow, {}, "%s: writes stalled for more than %.1fs while the node was "
                         "stopped (%.0fs); failed attempts: %s"
                         % (label, PAUSE_BOUND_S, PAUSE_HOLD_S, load.failure_summary(t_stop)))

    def check_reads(self, load, label):
        cl = self.cluster
        cl.wait_healthy(60)
        reads = [read_all(retrier(cl, [n]), load.stream) for n in cl.nodes]
        check_load(self, load, reads[0], label)
        for k in range(1, len(reads)):
            same_reads(self, reads[0], reads[k], "%s: gateways n1 and n%d" % (label, k + 1))

    def test_a_pause_group_leader(self):
        cl = self.cluster
        name = unique_name("ps")
        create_stream_active(retrier(cl), name, SHARDS)
        groups = {shard_group_of(cl, name, i) for i in range(SHARDS)}

        def victim(leaders):
            # A shard group's leader, one that does not also lead the
            # coordinator when the balancer left such a group.
            mine = sorted(groups, key=lambda g: leaders[g] == leaders[0])
            return cl.node(leaders[mine[0]])

        load, t_stop, _ = self.pause_under_load(name, victim, "group leader")
        self.assert_resumed(load, t_stop, "group leader")
        self.check_reads(load, "group leader")

    def test_b_pause_coordinator_leader(self):
        cl = self.cluster
        name = unique_name("ps")
        create_stream_active(retrier(cl), name, SHARDS)
        load, t_stop, _ = self.pause_under_load(name, lambda leaders: cl.node(leaders[0]),
                                                "coordinator leader")
        self.assert_resumed(load, t_stop, "coordinator leader")
        self.check_reads(load, "coordinator leader")


if __name__ == "__main__":
    unittest.main()
