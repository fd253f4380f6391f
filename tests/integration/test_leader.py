"""`eddy leader drain` and `undrain` (client/cli_leader.c) on a three-process
cluster: the drain moves every Raft leadership, the coordinator's included,
away from the node it is pointed at before that node is restarted
(deploy/ansible's rolling restart runs it), and fails at once when the node
does not answer. A drained node gets no leadership back, from the
coordinator's balancer (which evens leaderships out every second) or
otherwise, until it restarts or is undrained; then the balancer gives it its
share again.
"""

import re
import subprocess
import time
import unittest

from harness import Cluster, eddy_cli_path, unique_name

DRAIN_TIMEOUT_S = 30
DONE_RE = re.compile(r"^node (\d+) leads no group \((\d+) leaderships? moved in [0-9.]+s\)$")
# How long a drained node is watched: several balancer periods
# (COORD_BALANCE_INTERVAL_MS, 1 s) and heartbeats (EDDY_HEARTBEAT_MS).
DRAINED_WATCH_S = 5


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

    def undrain(self, node):
        p = eddy("leader", "undrain", "--rpc", node.rpc, "--timeout", "10", timeout_s=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.strip(),
                         "node %d no longer drains: it may lead again" % node.node_id)

    def led_by(self, node):
        """The groups node leads as it sees itself (None: it does not answer)."""
        st = node.status()
        return None if st is None else sorted(g for g, s in st.items()
                                              if s["leader"] == node.node_id)

    def wait_leads_some(self, node, timeout_s=20):
        """Waits until node leads a shard group again (the balancer's doing)."""
        deadline = time.monotonic() + timeout_s
        while True:
            led = self.led_by(node) or []
            if any(g != 0 for g in led):
                return led
            if time.monotonic() > deadline:
                self.fail("%s leads no shard group %ds after it may lead again\n%s"
                          % (node.name, timeout_s, self.cluster.cluster_status_text()))
            time.sleep(0.2)

    def test_a_drain_the_coordinator_leader(self):
        leaders = self.cluster.wait_healthy(60)
        coord = self.cluster.node(leaders[0])
        moved, progress = self.drain(coord)
        # What it led moved (the balancer may have moved some meanwhile), the
        # shard groups before the coordinator's.
        self.assertGreaterEqual(moved, 1, progress)
        lines = [l for l in progress.splitlines() if "leadership moved away" in l]
        self.assertTrue(any("coordinator group 0" in l for l in lines), progress)
        st = coord.status()
        self.assertIsNotNone(st)
        self.assertNotEqual(st[0]["leader"], coord.node_id, st)
        self.assertNotEqual(st[0]["leader"], 0, st)
        # The cluster is whole: a new coordinator leader, every group led.
        after = self.cluster.wait_healthy(60)
        self.assertNotEqual(after[0], coord.node_id)
        self.undrain(coord)

    def test_b_drain_every_node_in_turn(self):
        # As a rolling restart does, but undrained instead of restarted:
        # with every node draining no node would keep a leadership.
        for n in self.cluster.nodes:
            self.cluster.wait_healthy(60)
            self.drain(n)
            st = n.status()
            self.assertIsNotNone(st)
            self.assertNotEqual(st[0]["leader"], n.node_id, st)
            self.undrain(n)
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
                     ["leader", "drain", "--rpc"], ["leader", "drain", "--bogus"],
                     ["leader", "undrain", "--bogus"]):
            p = eddy(*args, timeout_s=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("usage: eddy leader drain", p.stderr)

    def test_e_drained_node_gets_no_leadership_until_restart(self):
        """The balancer gave leaderships back between the drain and the stop
        of a rolling restart: a draining node must get none, over several
        balancer periods, until it is undrained or restarts."""
        node = self.cluster.node(3)
        others = [n for n in self.cluster.nodes if n is not node]
        for attempt in ("undrain", "restart"):
            self.cluster.wait_healthy(60)
            self.wait_leads_some(node)  # the balancer spread the groups
            self.drain(node)
            deadline = time.monotonic() + DRAINED_WATCH_S
            looks = 0
            while time.monotonic() < deadline:
                led = self.led_by(node)
                self.assertEqual(led, [], "%s leads %s after its drain (%s)\n%s" % (
                    node.name, led, attempt, self.cluster.cluster_status_text()))
                looks += 1
                time.sleep(0.1)
            self.assertGreater(looks, 10)
            p = eddy("cluster", "status", "--rpc", others[0].rpc, timeout_s=20)
            self.assertRegex(p.stdout, r"(?m)^%d +draining " % node.node_id, p.stdout)
            p = eddy("status", "--rpc", node.rpc, timeout_s=20)
            self.assertIn("node %d draining\n" % node.node_id, p.stdout)
            if attempt == "undrain":
                self.undrain(node)
            else:
                node.stop()
                self.assertEqual(node.problems, [])
                node.start()
                self.cluster.wait_healthy(60)
            self.wait_leads_some(node)
            p = eddy("status", "--rpc", node.rpc, timeout_s=20)
            self.assertIn("node %d\n" % node.node_id, p.stdout)


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
