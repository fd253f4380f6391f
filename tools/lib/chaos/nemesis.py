"""Faults: a seeded schedule (same seed, same schedule) and the code that
injects and heals each one on a Cluster (cluster.py).

A schedule is a list of steps {kind, select, hold_s, gap_s, ...}; "select"
names the target abstractly (node 2, the leader of the stream's k-th group,
the coordinator leader, all nodes) and is resolved when the step runs, from
`eddy status` of every node; the history records what it resolved to.
Steps run one after another on the main thread, each on a cluster that was
healthy a moment before (bounded wait), so at most a minority is faulty
unless the kind says otherwise (power-loss-all).

Kinds:
  kill               SIGKILL, down for hold_s, restart (a process crash:
                     the page cache survives)
  power-loss         SIGKILL, cut every file to its last fsynced length
                     (fsync_shim.c), restart (a machine losing power)
  power-loss-all     the same on every node at once (a data centre losing
                     power: unavailable meanwhile, nothing acknowledged lost)
  pause              SIGSTOP for hold_s, SIGCONT
  partition-isolate  the node drops all packets to and from its peers
  partition-majority a minority (the target and the nodes after it, 2 of 5)
                     and the majority cannot reach each other
  partition-bridge   two nodes cannot reach each other; the third (the
                     target) reaches both
  partition-oneway   the node's packets to its peers are dropped, theirs
                     still arrive
  partition-clients  the workload cannot reach the node's gateway
  loss               30 % of the packets between the node and its peers
                     are dropped (nft numgen)
  wipe               stop, remove the data directory, restart (the node
                     rejoins from the catalogue and hydrates)
  pause-isolate      pause and isolate the same node (mixed)
  leader-drain       `eddy leader drain`: every leadership of the node moves
                     to another voter (Raft leader transfer), under load
  clock              restart the node with its wall clock off by -30, -3, +3
                     or +30 s (libfaketime; monotonic time stays real), hold,
                     restart it with the true time
  delay              every RPC and Raft connection between the node and its
                     peers (both ways) runs through delay_proxy.py, adding
                     50, 100, 250 or 500 ms (+-50 %) each way
  fsync-error        every fsync and fdatasync of the node fails with EIO
                     (libfiu, fiu-ctrl) for hold_s; it may crash (fail-stop)
                     or refuse writes, must not acknowledge what it could
                     not sync; then either a power loss of the node (what
                     no sync made durable is gone) and a restart, or the
                     disk simply works again (the node must serve again)
"""

import random
import time

# The quick run: each core fault once, on a chosen kind of target, in a
# seeded order (power-loss-all last: it costs a full restart).
QUICK_STEPS = [("kill", "coord"), ("kill", "leader"), ("power-loss", "node"),
               ("power-loss", "leader"), ("pause", "leader"), ("partition-isolate", "leader"),
               ("partition-bridge", "node"), ("partition-oneway", "coord"),
               ("delay", "leader"), ("fsync-error", "leader"), ("power-loss-all", "all")]
QUICK_KINDS = sorted({k for k, _ in QUICK_STEPS})
ALL_KINDS = ["kill", "power-loss", "power-loss-all", "pause", "partition-isolate",
             "partition-majority", "partition-bridge", "partition-oneway", "partition-clients", "loss", "wipe",
             "pause-isolate", "clock", "leader-drain", "delay", "fsync-error"]
# One-way latencies of the delay fault (jitter: half of it either way).
DELAYS_MS = [50, 100, 250, 500]
# Wall-clock offsets of the clock fault (a node restarted under libfaketime).
CLOCK_SKEWS_S = [-30, -3, 3, 30]
# How each kind picks its target by default (the generator mixes these).
SELECTS = ["node", "leader", "coord"]
HEALTHY_WAIT_S = 30
LOSS_PCT = 30


def make_schedule(seed, kinds, budget_s, quick):
    """A seeded list of steps. Quick: QUICK_STEPS (those of `kinds`) in a
    seeded order, short holds. Otherwise kinds and targets drawn at random
    until the steps fill about budget_s."""
    rng = random.Random("schedule/%s" % seed)

    def step(kind, select):
        s = {"kind": kind, "select": "all" if kind == "power-loss-all" else select,
             "group": rng.randrange(64), "node": rng.randrange(64),
             "hold_s": round(rng.uniform(3.0, 6.0) if quick else rng.uniform(3.0, 15.0), 1),
             "gap_s": round(rng.uniform(2.0, 4.0) if quick else rng.uniform(2.0, 10.0), 1)}
        if kind == "fsync-error":
            # The quick run (CI) always ends it with a power loss; the
            # "disk works again" ending leaves a replica that raft 0.15
            # never lets apply again (README: findings).
            s["then"] = "power-loss" if quick or s["node"] % 2 == 0 else "disk-works-again"
        return s

    if quick:
        pairs = [p for p in QUICK_STEPS if p[0] in kinds and p[0] != "power-loss-all"]
        pairs += [(k, rng.choice(SELECTS)) for k in kinds if k not in QUICK_KINDS]
        rng.shuffle(pairs)
        if "power-loss-all" in kinds:
            pairs.append(("power-loss-all", "all"))
        return [step(k, sel) for k, sel in pairs]
    steps, used = [], 0.0
    while used < budget_s:
        s = step(rng.choice(kinds), rng.choice(SELECTS))
        steps.append(s)
        used += s["hold_s"] + s["gap_s"] + (4 if "kill" in s["kind"] or "power" in s["kind"] else 1)
    return steps


class Nemesis:
    def __init__(self, cluster, history, stream, log):
        self.c = cluster
        self.h = history
        self.stream = stream
        self.log = log  # f(str): progress lines

    # ---- targets -------------------------------------------------------------

    def _stream_groups(self):
        groups = sorted({g for (s, _i), g in self.c.shard_groups().items() if s == self.stream})
        return groups or list(range(1, self.c.groups + 1))

    def resolve(self, step):
        """The node (cluster.Node) a step acts on, and how it was chosen."""
        n = len(self.c.nodes)
        sel = step["select"]
        self.last_leaders = leaders = self.c.leaders()
        if sel == "all":
            return self.c.nodes[0], "all nodes"
        if sel in ("leader", "coord"):
            if sel == "coord":
                g, what = 0, "coordinator leader"
            else:
                groups = self._stream_groups()
                g = groups[step["group"] % len(groups)]
                what = "leader of group %d" % g
            lid = leaders.get(g)
            if lid:
                return self.c.node(lid), what
            # No agreed leader right now: the step's fixed node instead.
            node = self.c.nodes[step["node"] % n]
            return node, "node %d (%s unknown)" % (node.id, what)
        node = self.c.nodes[step["node"] % n]
        return node, "node %d" % node.id

    def wait_healthy(self, timeout_s=HEALTHY_WAIT_S):
        t0 = time.monotonic()
        try:
            self.c.wait_healthy(timeout_s)
            return True, time.monotonic() - t0
        except RuntimeError:
            return False, time.monotonic() - t0

    # ---- one step ------------------------------------------------------------

    def run_step(self, step, stop_at):
        """Injects step, holds it, heals it; records one nemesis event.
        stop_at: monotonic deadline after which holds are cut short."""
        kind = step["kind"]
        node, how = self.resolve(step)
        others = [x for x in self.c.nodes if x is not node]
        hold = step["hold_s"]
        detail = {}
        t0 = self.h.now()
        target = "n%d" % node.id if kind != "power-loss-all" else "all"
        self.log("fault %s on %s (%s) for %.1fs" % (kind, target, how, hold))
        net = self.c.net

        def hold_wait():
            time.sleep(max(0.0, min(hold, stop_at - time.monotonic())))

        if kind == "kill":
            node.kill()
            hold_wait()
            self._restart([node], detail)
        elif kind == "power-loss":
            node.kill()
            files, dropped = node.lose_unsynced()
            detail.update(files_cut=files, bytes_dropped=dropped)
            hold_wait()
            self._restart([node], detail)
        elif kind == "power-loss-all":
            for x in self.c.nodes:
                x.kill()
            cut = {}
            for x in self.c.nodes:
                cut["n%d" % x.id] = x.lose_unsynced()
            detail["cut"] = {k: {"files": f, "bytes": b} for k, (f, b) in cut.items()}
            hold_wait()
            self._restart(self.c.nodes, detail)
        elif kind == "pause":
            node.pause()
            hold_wait()
            node.resume()
        elif kind in ("partition-isolate", "pause-isolate"):
            peers = [x.ip for x in others]
            net.set_rules(node.id, drop_in=peers, drop_out=peers)
            for x in others:
                net.set_rules(x.id, drop_in=[node.ip], drop_out=[node.ip])
            if kind == "pause-isolate":
                node.pause()
            hold_wait()
            node.resume()
            net.heal()
        elif kind == "partition-majority":
            # The target and the next nodes up to a minority on one side,
            # the majority on the other (3 nodes: the same as isolate).
            k = (len(self.c.nodes) - 1) // 2
            ring = self.c.nodes[node.id - 1:] + self.c.nodes[:node.id - 1]
            minority, majority = ring[:k], ring[k:]
            for x in minority:
                ips = [y.ip for y in majority]
                net.set_rules(x.id, drop_in=ips, drop_out=ips)
            for x in majority:
                ips = [y.ip for y in minority]
                net.set_rules(x.id, drop_in=ips, drop_out=ips)
            detail["minority"] = ["n%d" % x.id for x in minority]
            hold_wait()
            net.heal()
        elif kind == "partition-bridge":
            a, b = others[0], others[1] if len(others) > 1 else others[0]
            net.set_rules(a.id, drop_in=[b.ip], drop_out=[b.ip])
            net.set_rules(b.id, drop_in=[a.ip], drop_out=[a.ip])
            detail["cut"] = "n%d-n%d, n%d bridges" % (a.id, b.id, node.id)
            hold_wait()
            net.heal()
        elif kind == "partition-oneway":
            net.set_rules(node.id, drop_out=[x.ip for x in others])
            detail["cut"] = "n%d -> peers" % node.id
            hold_wait()
            net.heal()
        elif kind == "partition-clients":
            net.set_rules(node.id, drop_in=[net.host], drop_out=[net.host])
            hold_wait()
            net.heal()
        elif kind == "loss":
            net.set_rules(node.id, loss_pct=LOSS_PCT, loss_peers=[x.ip for x in others])
            detail["loss_pct"] = LOSS_PCT
            hold_wait()
            net.heal()
        elif kind == "clock":
            skew = CLOCK_SKEWS_S[step["node"] % len(CLOCK_SKEWS_S)]
            detail["skew_s"] = skew
            err = node.stop()
            if err:
                detail["stop"] = err
            node.faketime = "%+ds" % skew
            self._restart([node], detail)
            hold_wait()
            err = node.stop()
            node.faketime = None
            self._restart([node], detail)
        elif kind == "leader-drain":
            # `eddy leader drain`: Raft leadership transfers away from the
            # node under load (what a rolling restart does first).
            detail.update(self.c.drain(node))
            hold_wait()
            detail.update(self.c.undrain(node))
        elif kind == "delay":
            ms = DELAYS_MS[step["group"] % len(DELAYS_MS)]
            detail.update(delay_ms=ms, jitter_ms=ms // 2)
            net.start_proxy(ms, ms // 2, "%s/%s" % (step["group"], step["node"]))
            net.set_redirect(node.id)
            hold_wait()
            net.clear_redirect()
            detail["proxy"] = net.stop_proxy()
        elif kind == "fsync-error":
            self._fsync_error(node, detail, hold_wait,
                              power_loss=step.get("then", "power-loss") == "power-loss")
        elif kind == "wipe":
            err = node.stop()
            if err:
                detail["stop"] = err
            node.wipe()
            hold_wait()
            self._restart([node], detail)
        else:
            raise ValueError("unknown fault kind %r" % kind)
        ev = {"f": "nemesis", "p": "nemesis", "kind": kind, "target": target, "how": how,
              "detail": detail, "hold_s": hold,
              "leaders": {("coord" if g == 0 else "g%d" % g): "n%d" % n
                          for g, n in sorted(self.last_leaders.items())},
              "stream_groups": {"s%d" % i: "g%d" % g for (s, i), g in
                                sorted(self.c.shard_groups().items()) if s == self.stream}}
        self.h.add(ev, t0)
        return ev

    def _fsync_error(self, node, detail, hold_wait, power_loss):
        """fsync and fdatasync fail with EIO for the hold. Exiting meanwhile
        is a safe answer (fail-stop: PostgreSQL's fsyncgate lesson), not a
        crash anomaly; so is refusing writes while the disk fails. Then,
        with power_loss, the node loses power and restarts: had it
        acknowledged what it could not sync, the cut turns that into a
        lost-ack. Without, it keeps running on a disk that works again and
        must serve again (the per-shard liveness check judges)."""
        detail["then"] = "power-loss" if power_loss else "disk-works-again"
        err = node.fiu_sync_fail(True)
        if err:
            detail["fiu"] = err
        hold_wait()
        if node.is_running():
            err = node.fiu_sync_fail(False)
            if err:
                detail["fiu_off"] = err
            detail["exited"] = False
            if not power_loss:
                return
        else:
            # Not check_alive(): this exit is the fault working.
            node.expected_exit = True
            detail["exited"] = node.proc.returncode
            detail["last_error"] = next((line.strip()[:300] for line in reversed(
                node.log_text(node.start_offset).splitlines()) if "ERROR" in line or
                "assert" in line.lower()), None)
        node.kill()
        files, dropped = node.lose_unsynced()
        detail.update(files_cut=files, bytes_dropped=dropped)
        self._restart([node], detail)

    def _restart(self, nodes, detail):
        for x in nodes:
            x.spawn()
        for x in nodes:
            try:
                x.wait_ready()
            except RuntimeError as e:
                # A node that cannot come back is a finding, not a harness
                # failure: recorded, the run goes on without it.
                self.h.add({"f": "crash", "p": "nemesis",
                            "detail": "n%d did not restart: %s" % (x.id, e)})
                x.expected_exit = True
                detail["restart_failed"] = "n%d" % x.id

    def heal_all(self):
        """Ends every fault (used on the way out, also after an error)."""
        self.c.net.heal()
        for x in self.c.nodes:
            x.resume()
