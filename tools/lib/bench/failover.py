"""Failover time: how long writes stop when the leader of a stream's shard
group is SIGKILLed.

A fresh three-node cluster (release eddyd, all roles on every node, 6
groups), a stream with one shard. Each trial:
  1. find the leader L of the shard's group (`eddy status` on every node);
  2. a writer sends sequential PutRecord calls (boto3, no SDK retries, 5 s
     timeout; a failed call is followed by the next one after 5 ms) through
     the gateway of a node other than L;
  3. SIGKILL L; measure from the kill to the first successful PutRecord
     that was sent after the kill ("write resumed"), and to the first
     success of any call ("first ack", which can be a call already in
     flight);
  4. stop the writer, restart L, wait until it has caught up (its applied
     index of every group reaches the leader's) plus a settle time, and go
     on with the next trial.
Prints one line per trial and median, p90 (nearest rank) and max.

    tools/bench failover [--trials N] [--eddyd PATH] [--settle S] [--json FILE]
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

import botocore.exceptions  # noqa: E402


class Writer(threading.Thread):
    """Sequential PutRecord through one gateway; remembers every call."""

    def __init__(self, endpoint, stream):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.stream = stream
        self.calls = []  # (start, end, ok, error)
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        c = harness.client(self.endpoint, timeout_s=5)
        i = 0
        while not self.stop_ev.is_set() and len(self.calls) < 200000:
            t0 = time.monotonic()
            err = None
            try:
                c.put_record(StreamName=self.stream, PartitionKey="k%d" % i, Data=b"x" * 100)
                ok = True
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                ok = False
                err = harness.describe_failure(e)
            t1 = time.monotonic()
            with self.lock:
                self.calls.append((t0, t1, ok, err))
            i += 1
            if not ok:
                time.sleep(0.005)

    def first_success(self, after, sent_after):
        with self.lock:
            calls = list(self.calls)
        for t0, t1, ok, _ in calls:
            if ok and t1 > after and (not sent_after or t0 >= after):
                return t1
        return None

    def errors_after(self, after):
        with self.lock:
            return [e for t0, t1, ok, e in self.calls if not ok and t1 > after]


def wait_writing(w, timeout_s=30):
    """Waits until w has had 20 successes in a row."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with w.lock:
            tail = w.calls[-20:]
        if len(tail) == 20 and all(c[2] for c in tail):
            return
        time.sleep(0.05)
    raise RuntimeError("the writer never got going: %r" % (w.calls[-3:],))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--eddyd", help="eddyd to run (default: build build/release and use it)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds to wait after a restarted node caught up (default 3)")
    ap.add_argument("--trial-timeout", type=float, default=30.0)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    args = ap.parse_args()
    if not 1 <= args.trials <= 100:
        ap.error("--trials must be 1..100")

    eddyd = args.eddyd
    if eddyd is None:
        benchlib.build_release()
        eddyd = os.path.join(benchlib.REPO, "build", "release", "eddyd")
    build = benchlib.use_binaries(eddyd)
    print("bench failover: %s; %s; %s" % (build, benchlib.machine(), benchlib.now_utc()),
          flush=True)

    cl = harness.Cluster("failover", n=3)
    results = []
    ok = False
    try:
        cl.start()
        cl.wait_healthy(60)
        stream = "failover"
        r = harness.Retrier(cl.endpoints(), attempts=20)
        r.call("create_stream", StreamName=stream, ShardCount=1)
        deadline = time.monotonic() + 30
        while r.call("describe_stream_summary", StreamName=stream)[0][
                "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError("stream not ACTIVE")
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while cl.shard_group(stream, 0) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("no data dir holds the stream's shard")
            time.sleep(0.1)
        group = cl.shard_group(stream, 0)
        print("stream %s: shard 0 on group %d" % (stream, group), flush=True)
        print("%-6s %-8s %-8s %-14s %-12s %s" % ("trial", "victim", "writer", "resumed_ms",
                                                 "first_ack_ms", "errors seen by the writer"))
        for trial in range(1, args.trials + 1):
            cl.wait_healthy(60)
            victim = cl.leader_of(group)
            other = next(n for n in cl.nodes if n is not victim and n.is_running())
            w = Writer(other.endpoint, stream)
            w.start()
            wait_writing(w)
            time.sleep(0.5)
            t_kill = time.monotonic()
            victim.kill9()
            deadline = t_kill + args.trial_timeout
            resumed = None
            while time.monotonic() < deadline:
                resumed = w.first_success(t_kill, sent_after=True)
                if resumed is not None:
                    break
                time.sleep(0.01)
            first_ack = w.first_success(t_kill, sent_after=False)
            w.stop_ev.set()
            w.join(10)
            errs = w.errors_after(t_kill)
            kinds = {}
            for e in errs:
                k = e.split(":")[0][:60]
                kinds[k] = kinds.get(k, 0) + 1
            res = {
                "trial": trial, "victim": victim.node_id, "writer_gateway": other.node_id,
                "resumed_ms": None if resumed is None else round((resumed - t_kill) * 1000, 1),
                "first_ack_ms": None if first_ack is None else round((first_ack - t_kill) * 1000, 1),
                "errors": kinds,
            }
            results.append(res)
            print("%-6d n%-7d n%-7d %-14s %-12s %s" % (
                trial, victim.node_id, other.node_id, res["resumed_ms"], res["first_ack_ms"],
                ", ".join("%dx %s" % (n, k) for k, n in kinds.items()) or "-"), flush=True)
            if resumed is None:
                print("trial %d: writes did not resume within %.0fs" % (trial, args.trial_timeout))
            victim.start()
            cl.wait_caught_up(victim, 120)
            time.sleep(args.settle)
        ok = True
    finally:
        cl.stop_all_nodes()
        problems = harness.stop_all()
        for p in problems:
            print("problem: %s" % p.splitlines()[0])
        keep = args.keep or not ok
        if keep:
            print("bench: logs and data kept in %s" % harness.tmp_root())
        harness.cleanup_tmp(keep)

    vals = [r["resumed_ms"] for r in results if r["resumed_ms"] is not None]
    failed = len(results) - len(vals)
    print()
    if vals:
        s = benchlib.summary(vals)
        print("SIGKILL of the shard group leader -> first successful PutRecord sent after the "
              "kill, through another gateway (%d trials%s):" % (
                  len(results), ", %d never resumed" % failed if failed else ""))
        print("  min %.0f ms, median %.0f ms, p90 %.0f ms, max %.0f ms"
              % (s["min"], s["median"], s["p90"], s["max"]))
        acks = [r["first_ack_ms"] for r in results if r["first_ack_ms"] is not None]
        a = benchlib.summary(acks)
        print("  (first ack of any call: median %.0f ms, max %.0f ms)" % (a["median"], a["max"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"build": build, "machine": benchlib.machine(), "date": benchlib.now_utc(),
                       "trials": results}, f, indent=1)
    return 0 if vals and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
