"""Replica replacement (issue 3, docs/adr/0004): four all-roles nodes, eight
shard groups of three replicas; the coordinator leader moves the replicas of
a node dead for --replace-dead-ms to the live spare (raft_add as spare,
catch-up, raft_assign voter, raft_remove of the dead one).

  a. The automated placement: every group has three distinct replicas and
     the groups are spread (replicas per node differ by two at most). Write
     with boto3, SIGKILL a node that hosts shard groups (not the coordinator
     leader) while writers go on: within a bound the catalogue lists every
     group with three replicas, none on the dead node, each with a ready
     leader whose voters are exactly those replicas, all caught up. Write
     more; every acknowledged record reads back exactly once, at its
     acknowledged shard and sequence number. Restart the dead node: it drops
     the replicas it was replaced in (their directories go) and the cluster
     reports healthy; its gateway serves the same records.
  b. A replaced node whose data directory was wiped comes back with no
     group: it takes its groups from the catalogue, not from the placement
     rule, so it re-adds itself nowhere and the cluster is healthy.
  c. A group whose log was compacted by a snapshot (and that sealed a
     64 MiB segment file) loses a replica: the new one can only get the data
     by InstallSnapshot and hydration from the others; its segment files end
     equal to theirs and the stream reads back whole.
  d. The node killed is the coordinator leader: the next leader, which
     knows nothing of liveness yet, calls it dead and replaces it all the
     same.

`eddy cluster status` is the view of the cluster throughout (its health
includes "the leader's voters equal the catalogue's replicas" and "no node
hosts a replica it was replaced in").
"""

import os
import re
import subprocess
import sys
import time
import unittest

from harness import Cluster, eddy_cli_path, shard_digests, unique_name
from test_cluster import (PutLoad, check_load, create_stream_active, read_all, retrier,
                          same_reads, shard_group_of)

NODE_DEAD_MS = 1000
REPLACE_DEAD_MS = 2000
REPLACED_WITHIN_S = 120  # SIGKILL to every group re-replicated, on a loaded sanitizer build
GROUP_DIR_RE = re.compile(r"^\d+$")


def info(msg):
    sys.stderr.write("  [replace] %s\n" % msg)
    sys.stderr.flush()


def cluster_status(cluster, nodes=None, timeout_s=10):
    """`eddy cluster status` over nodes (default: the running ones), parsed:
    {"healthy", "coord_leader", "nodes": {id: state}, "groups": {id: {"leader",
    "state", "replicas": [node ids], "cells": [text]}}, "text"}; None when no
    coordinator answered."""
    rpcs = ",".join(n.rpc for n in (nodes if nodes is not None else cluster.running()))
    try:
        p = subprocess.run([eddy_cli_path(), "cluster", "status", "--rpc", rpcs],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    text = p.stdout.decode(errors="replace")
    out = {"healthy": p.returncode == 0, "coord_leader": None, "nodes": {}, "groups": {},
           "text": text + p.stderr.decode(errors="replace")}
    section = None
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            section = None
            continue
        m = re.match(r"^coordinator leader: node (\d+)", line)
        if m:
            out["coord_leader"] = int(m.group(1))
        if tokens[0] in ("NODE", "GROUP"):
            section = tokens[0]
            continue
        if section == "NODE":
            out["nodes"][int(tokens[0])] = tokens[1]
        elif section == "GROUP" and tokens[0] != "coord":
            state, cells = tokens[3], tokens[4:]
            if tokens[3] == "NO":
                state, cells = "NO LEADER", tokens[5:]
            out["groups"][int(tokens[0])] = {
                "leader": int(tokens[1]) if tokens[1] != "-" else None,
                "state": state,
                "replicas": [int(c.split(":")[0].rstrip("*")) for c in cells],
                "cells": cells,
            }
    if not out["nodes"]:
        return None
    return out


def hosted_groups(node):
    """Shard group directories in node's data dir."""
    try:
        return sorted(int(d) for d in os.listdir(os.path.join(node.data, "groups"))
                      if GROUP_DIR_RE.match(d))
    except FileNotFoundError:
        return []


class ReplaceTest(unittest.TestCase):
    """One fresh four-node cluster per test, stopped (and checked for
    unclean exits and sanitizer reports) after it."""

    timeout_s = 420
    maxDiff = 4000

    def setUp(self):
        self.cluster = Cluster(unique_name(self._testMethodName[5:13].replace("_", "")), n=4,
                               extra_args=("--node-dead-ms", str(NODE_DEAD_MS),
                                           "--replace-dead-ms", str(REPLACE_DEAD_MS)))
        self.cluster.start()
        self.status = self.wait_for(lambda st: st["healthy"], 90, "a healthy cluster")

    def tearDown(self):
        problems = []
        for n in self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            self.fail("\n".join(problems))

    def wait_for(self, pred, timeout_s, what, nodes=None):
        """Polls cluster status until pred(status) holds; returns the status."""
        deadline = time.monotonic() + timeout_s
        st = None
        while True:
            st = cluster_status(self.cluster, nodes)
            if st is not None and pred(st):
                return st
            if time.monotonic() > deadline:
                self.fail("no %s after %ds; last `eddy cluster status`:\n%s"
                          % (what, timeout_s, st["text"] if st else "(no answer)"))
            time.sleep(0.5)

    def check_placement(self, st):
        """Three distinct replicas per group, groups spread over the nodes."""
        self.assertEqual(sorted(st["groups"]), list(range(1, self.cluster.groups + 1)), st["text"])
        count = {n.node_id: 0 for n in self.cluster.nodes}
        for g, grp in st["groups"].items():
            self.assertEqual(len(grp["replicas"]), 3, "group %d: %s" % (g, st["text"]))
            self.assertEqual(len(set(grp["replicas"])), 3, "group %d: %s" % (g, st["text"]))
            for r in grp["replicas"]:
                count[r] += 1
        self.assertLessEqual(max(count.values()) - min(count.values()), 2,
                             "replicas per node %r" % count)
        info("placement: replicas per node %r" % count)

    def victim(self, st):
        """A node hosting shard groups that does not lead the coordinator."""
        hosts = {n.node_id: [g for g, grp in st["groups"].items() if n.node_id in grp["replicas"]]
                 for n in self.cluster.nodes}
        cands = [n for n in self.cluster.nodes
                 if n.node_id != st["coord_leader"] and hosts[n.node_id]]
        self.assertTrue(cands, st["text"])
        v = max(cands, key=lambda n: (len(hosts[n.node_id]), n.node_id))
        return v, hosts[v.node_id]

    def replaced(self, victim):
        """A status predicate: every shard group has three replicas, none on
        victim, and is healthy (a ready leader whose voters are exactly its
        replicas, every replica alive, reporting, caught up)."""
        def pred(st):
            for grp in st["groups"].values():
                if len(set(grp["replicas"])) != 3 or victim.node_id in grp["replicas"]:
                    return False
                if grp["state"] != "ok" or grp["leader"] is None:
                    return False
            return True
        return pred

    def kill_and_wait_replaced(self, victim, groups):
        t_kill = time.monotonic()
        victim.kill9()
        st = self.wait_for(self.replaced(victim), REPLACED_WITHIN_S,
                           "re-replication of %s's groups %r" % (victim.name, groups),
                           nodes=[n for n in self.cluster.nodes if n is not victim])
        took = time.monotonic() - t_kill
        info("SIGKILL of %s: its %d groups re-replicated %.1fs later (node dead after %d ms, "
             "replaced after %d ms more)" % (victim.name, len(groups), took, NODE_DEAD_MS,
                                            REPLACE_DEAD_MS))
        self.assertEqual(st["nodes"].get(victim.node_id), "DEAD", st["text"])
        return st, took

    # -- a ------------------------------------------------------------------

    def test_a_dead_node_replaced(self):
        cl = self.cluster
        self.check_placement(self.status)
        name = unique_name("rp")
        create_stream_active(retrier(cl), name, 8)
        load = PutLoad(cl.endpoints(), name, writers=3, batch=50, max_batches=10,
                       time_limit_s=60).start()
        self.assertTrue(load.join(90), "a writer is stuck")
        self.assertEqual(load.fatal, [], "non-retryable errors")
        st = cluster_status(cl)
        victim, groups = self.victim(st)
        rest = [n for n in cl.nodes if n is not victim]
        info("killing %s, a replica of groups %r (coordinator leader: node %s)"
             % (victim.name, groups, st["coord_leader"]))
        during = PutLoad(cl.endpoints(rest), name, writers=3, batch=50, max_batches=100000,
                         time_limit_s=REPLACED_WITHIN_S + 30, first_id=1000000).start()
        try:
            self.kill_and_wait_replaced(victim, groups)
        finally:
            self.assertTrue(during.stop(), "a writer is stuck")
        self.assertEqual(during.fatal, [], "non-retryable errors")
        self.assertGreater(len(during.acked), 0, "nothing acknowledged during the replacement: "
                           "%s" % during.failure_summary())
        after = PutLoad(cl.endpoints(rest), name, writers=3, batch=50, max_batches=10,
                        time_limit_s=60, first_id=2000000).start()
        self.assertTrue(after.join(90), "a writer is stuck")
        self.assertEqual(after.fatal, [], "non-retryable errors")
        self.assertEqual(len(after.gave_up), 0, after.failure_summary())
        load.merge(during)
        load.merge(after)
        reads = read_all(retrier(cl, rest), name)
        check_load(self, load, reads, "after the replacement")
        # The dead node comes back: it drops what it was replaced in.
        victim.start()
        t0 = time.monotonic()
        st = self.wait_for(lambda s: s["healthy"], 90, "a healthy cluster with %s back"
                           % victim.name)
        stale = [g for g in hosted_groups(victim) if victim.node_id not in
                 st["groups"][g]["replicas"]]
        self.assertEqual(stale, [], "%s still has the directories of groups %r it was replaced "
                         "in:\n%s" % (victim.name, stale, st["text"]))
        info("%s back: dropped its %d stale replicas, cluster healthy %.1fs after its restart"
             % (victim.name, len(groups), time.monotonic() - t0))
        self.assertNotRegex(victim.log_text(), r"FATAL|ERROR .*host")
        same_reads(self, reads, read_all(retrier(cl, [victim]), name),
                   "through the restarted node's gateway")

    # -- b ------------------------------------------------------------------

    def test_b_wiped_replaced_node_stays_out(self):
        cl = self.cluster
        name = unique_name("rw")
        create_stream_active(retrier(cl), name, 4)
        load = PutLoad(cl.endpoints(), name, writers=2, batch=50, max_batches=5,
                       time_limit_s=60).start()
        self.assertTrue(load.join(90), "a writer is stuck")
        victim, groups = self.victim(cluster_status(cl))
        self.kill_and_wait_replaced(victim, groups)
        victim.wipe()
        victim.start()
        t0 = time.monotonic()
        st = self.wait_for(lambda s: s["healthy"], 90, "a healthy cluster with %s back wiped"
                           % victim.name)
        info("%s back with no data: healthy %.1fs after its restart" % (victim.name,
                                                                       time.monotonic() - t0))
        # It must not have re-added itself to the groups it hosted first:
        # for a while, nothing lists it and it hosts nothing.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            st = cluster_status(cl)
            self.assertIsNotNone(st)
            self.assertTrue(st["healthy"], st["text"])
            listed = [g for g, grp in st["groups"].items() if victim.node_id in grp["replicas"]]
            self.assertEqual(listed, [], st["text"])
            self.assertEqual(hosted_groups(victim), [], "%s hosts groups again" % victim.name)
            time.sleep(0.5)
        status = victim.status() or {}
        self.assertEqual(sorted(status), [0], "%s reports replicas %r" % (victim.name, status))
        reads = read_all(retrier(cl, [victim]), name)  # its gateway still serves
        check_load(self, load, reads, "after the wiped node's return")

    # -- c ------------------------------------------------------------------

    BIG_RECORD = 24 * 1024
    BIG_BYTES_MAX = 160 * 1024 * 1024
    SNAPSHOT_INDEX_MIN = 1100  # > RAFT_SNAPSHOT_TRAILING: the log no longer starts at 1

    def snapshot_indexes(self, node, group):
        rdir = os.path.join(node.data, "groups", str(group), "raft")
        out = []
        for f in os.listdir(rdir) if os.path.isdir(rdir) else []:
            p = f.split("-")
            if f.startswith("snapshot-") and not f.endswith(".meta") and len(p) >= 3:
                out.append(int(p[2]))
        return out

    def wait_same_group_segments(self, group, nodes, timeout_s=60):
        """Polls until nodes hold the same shards of group, record for record
        and file for file."""
        deadline = time.monotonic() + timeout_s
        while True:
            d = {n.name: {k: v for k, v in shard_digests(n.data).items() if k[0] == str(group)}
                 for n in nodes}
            if len({repr(sorted(v.items())) for v in d.values()}) == 1 and any(d.values()):
                return d
            if time.monotonic() > deadline:
                self.fail("group %d's segments differ across %r after %ds: %r"
                          % (group, sorted(d), timeout_s, d))
            time.sleep(0.5)

    def test_c_replacement_hydrates_from_snapshot(self):
        cl = self.cluster
        big = unique_name("rb")
        create_stream_active(retrier(cl), big, 1)
        gbig = shard_group_of(cl, big, 0)
        r = retrier(cl)
        acked = {}
        t0 = time.monotonic()
        i = 0
        snap = []
        while i * self.BIG_RECORD < self.BIG_BYTES_MAX and time.monotonic() - t0 < 120:
            p, _ = r.call("put_record", StreamName=big, PartitionKey="b%d" % i,
                          Data=b"B%09d-" % i + bytes(self.BIG_RECORD - 11))
            acked[i] = p["SequenceNumber"]
            i += 1
            if i % 200 == 0 and i * self.BIG_RECORD > 64 * 1024 * 1024:
                snap = [x for n in cl.nodes for x in self.snapshot_indexes(n, gbig)
                        if x >= self.SNAPSHOT_INDEX_MIN]
                if snap:
                    break
        self.assertTrue(snap, "group %d took no snapshot at index >= %d after %d MiB"
                        % (gbig, self.SNAPSHOT_INDEX_MIN, (i * self.BIG_RECORD) >> 20))
        st = cluster_status(cl)
        holders = st["groups"][gbig]["replicas"]
        victim = next(n for n in reversed(cl.nodes)
                      if n.node_id in holders and n.node_id != st["coord_leader"])
        spare = next(n for n in cl.nodes if n.node_id not in holders)
        info("wrote %d MiB to %s (group %d on %r); killing %s, %s takes its place"
             % ((i * self.BIG_RECORD) >> 20, big, gbig, holders, victim.name, spare.name))
        log_at = os.path.getsize(spare.log_path)
        groups = [g for g, grp in st["groups"].items() if victim.node_id in grp["replicas"]]
        _, took = self.kill_and_wait_replaced(victim, groups)
        st = cluster_status(cl)
        self.assertIn(spare.node_id, st["groups"][gbig]["replicas"], st["text"])
        replicas = [cl.node(nid) for nid in st["groups"][gbig]["replicas"]]
        self.wait_same_group_segments(gbig, replicas, 60)
        log = spare.log_text(log_at)
        self.assertRegex(log, r"group=%d hydrated" % gbig,
                         "%s did not hydrate group %d from a snapshot" % (spare.name, gbig))
        got = read_all(retrier(cl, [spare]), big)["shardId-000000000000"]
        self.assertEqual([(int(x["Data"][1:10]), x["SequenceNumber"]) for x in got],
                         sorted(acked.items()), "the 1-shard stream read back differs")
        info("group %d re-replicated with hydration %.1fs after the SIGKILL; segments equal on %r"
             % (gbig, took, [n.name for n in replicas]))

    # -- d ------------------------------------------------------------------

    def test_d_coordinator_leader_replaced(self):
        cl = self.cluster
        name = unique_name("rc")
        create_stream_active(retrier(cl), name, 8)
        load = PutLoad(cl.endpoints(), name, writers=2, batch=50, max_batches=5,
                       time_limit_s=60).start()
        self.assertTrue(load.join(90), "a writer is stuck")
        st = cluster_status(cl)
        victim = cl.node(st["coord_leader"])
        groups = [g for g, grp in st["groups"].items() if victim.node_id in grp["replicas"]]
        self.assertTrue(groups, st["text"])
        self.kill_and_wait_replaced(victim, groups)
        st = cluster_status(cl)
        self.assertNotEqual(st["coord_leader"], victim.node_id, st["text"])
        rest = [n for n in cl.nodes if n is not victim]
        check_load(self, load, read_all(retrier(cl, rest), name), "after the replacement")
        victim.start()
        self.wait_for(lambda s: s["healthy"], 90, "a healthy cluster with %s back" % victim.name)
        self.assertEqual([g for g in hosted_groups(victim)
                          if victim.node_id not in st["groups"][g]["replicas"]], [])


if __name__ == "__main__":
    unittest.main()
