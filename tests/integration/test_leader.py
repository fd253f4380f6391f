"""`eddy leader drain` (client/cli_leader.c) on a three-process cluster: it
moves every Raft leadership, the coordinator's included, away from the node
it is pointed at before that node is restarted (deploy/ansible's rolling
restart runs it), and fails at once when the node does not answer.

Shard-group leaderships may come back right after the drain (the
coordinator's balancer evens them out every second), so only the
coordinator group, which the balancer never moves, is checked afterwards;
for the shard groups the command's own final look is the check.
"""

import re
import subprocess
import time
import unittest

from harness import Cluster, eddy_cli_path, unique_name

DRAIN_TIMEOUT_S = 30
DONE_RE = re.compile(r"^node (\d+) leads no group \((\d+) leaderships? moved in [0-9.]+s\)$")


def eddy(*args, timeout_s=60):
    return subprocess.run([eddy_cli_path()] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout_s, text=True)


class LeaderDrainTest(unittest.TestCase):
    timeout_s = 150
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(unique_name("lead"), n=3, groups=6)
        cls.cluster.start()

    @classmethod
    def tearDownClass(cls):
        problems = []
        for n in cls.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            raise AssertionError("\n".join(problems))

    def drain(self, node):
        p = eddy("leader", "drain", "--rpc", node.rpc, "--timeout", str(DRAIN_TIMEOUT_S),
                 timeout_s=DRAIN_TIMEOUT_S + 10)
        self.assertEqual(p.returncode, 0, "drain of %s failed:\n%s%s\n%s" % (
            node.name, p.stdout, p.stderr, self.cluster.cluster_status_text()))
        m = DONE_RE.match(p.stdout.strip())
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(int(m.group(1)), node.node_id)
        return int(m.group(2)), p.stderr

    def test_a_drain_the_coordinator_leader(self):
        leaders = self.cluster.wait_healthy(60)
        coord = self.cluster.node(leaders[0])
        moved, progress = self.drain(coord)
        # What it led moved (the balancer may have moved some meanwhile), the
        # shard groups before the coordinator's.
        self.assertGreaterEqual(moved, 1, progress)
        lines = [l for l in progress.splitlines() if "leadership moved away" in l]
        self.assertTrue(lines and "coordinator group 0" in lines[-1], progress)
        st = coord.status()
        self.assertIsNotNone(st)
        self.assertNotEqual(st[0]["leader"], coord.node_id, st)
        self.assertNotEqual(st[0]["leader"], 0, st)
        # The cluster is whole: a new coordinator leader, every group led.
        after = self.cluster.wait_healthy(60)
        self.assertNotEqual(after[0], coord.node_id)

    def test_b_drain_every_node_in_turn(self):
        for n in self.cluster.nodes:
            self.cluster.wait_healthy(60)
            self.drain(n)
            st = n.status()
            self.assertIsNotNone(st)
            self.assertNotEqual(st[0]["leader"], n.node_id, st)
        self.cluster.wait_healthy(60)
        p = eddy("cluster", "status", "--rpc", ",".join(x.rpc for x in self.cluster.nodes),
                 "--wait-healthy", "--timeout", "60", timeout_s=70)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_c_unreachable_node_fails_at_once(self):
        t0 = time.monotonic()
        p = eddy("leader", "drain", "--rpc", "127.0.0.1:1", "--timeout", "30", timeout_s=20)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("eddy: no answer from 127.0.0.1:1", p.stderr)
        self.assertLess(time.monotonic() - t0, 5)

    def test_d_usage(self):
        for args in (["leader"], ["leader", "move"], ["leader", "drain", "--timeout", "x"],
                     ["leader", "drain", "--rpc"], ["leader", "drain", "--bogus"]):
            p = eddy(*args, timeout_s=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("usage: eddy leader drain", p.stderr)


class LeaderDrainOneNodeTest(unittest.TestCase):
    """On a one-node cluster no other voter can take over: the drain says
    so at once and succeeds (a systemd ExecStop must not wait on it)."""

    timeout_s = 60

    def test_no_other_voter(self):
        cluster = Cluster(unique_name("lead1"), n=1, groups=2)
        try:
            cluster.start()
            cluster.wait_healthy(60)
            t0 = time.monotonic()
            node = cluster.node(1)
            p = eddy("leader", "drain", "--rpc", node.rpc, "--timeout", "30", timeout_s=40)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertLess(time.monotonic() - t0, 10, p.stderr)
            self.assertEqual(p.stdout.strip(),
                             "node 1 leads no group another voter can take (0 leaderships moved "
                             "in %s; 3 groups without another voter stay)"
                             % re.search(r"in ([0-9.]+s);", p.stdout).group(1), p.stderr)
            self.assertIn("coordinator group 0: no other voter can take over; it stays",
                          p.stderr)
        finally:
            problems = []
            for n in cluster.nodes:
                n.stop()
                problems.extend(n.problems)
            self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
