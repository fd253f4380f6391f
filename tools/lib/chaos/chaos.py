"""tools/chaos: a chaos test of an eddyd cluster that checks no
acknowledged record is ever lost (README.md in this directory).

    tools/chaos --quick [--seed N]      about 2-3 minutes, every core fault
    tools/chaos --minutes 30 [--seed N] every fault kind, drawn at random
    tools/chaos --check DIR/history.jsonl   re-check a stored history

Exit status: 0 no anomaly, 1 anomalies (the summary lists them), 2 the
harness could not run (not root, tools missing, cluster did not start).
"""

import argparse
import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

import checker  # noqa: E402
import cluster as clusterlib  # noqa: E402
import nemesis as nemesislib  # noqa: E402
import report  # noqa: E402
from history import History, load, parse_payload  # noqa: E402
from workload import (CONTROL_GAP_QUICK_S, CONTROL_GAP_S, CONTROL_OPS,  # noqa: E402
                      UPDATE_SHARD_COUNT_MAX, UPDATE_SHARD_COUNT_QUICK_MAX, Workload,
                      arrival_ms, classify, make_client, shard_entry)

WARMUP_S = 5
QUIET_S = 12  # no faults at the end: the cluster must serve again
QUICK_FAULT_BUDGET_S = 85
FINAL_HEALTHY_WAIT_S = checker.FINAL_HEALTHY_WAIT_S  # the checker judges it
FINAL_READ_S = 60
STREAM_CREATE_S = 60


def log(msg):
    sys.stdout.write("chaos: %s\n" % msg)
    sys.stdout.flush()


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="tools/chaos", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a short seeded run with kills, pauses, partitions, power losses")
    ap.add_argument("--minutes", type=float, default=None, help="fault phase length")
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--mixed", type=int, default=2,
                    help="producers writing to every shard (besides one per shard)")
    ap.add_argument("--rate", type=float, default=8.0, help="puts per second per producer")
    ap.add_argument("--kinds", default=None,
                    help="comma-separated fault kinds (default: quick set or all); "
                    "known: " + ",".join(nemesislib.ALL_KINDS))
    ap.add_argument("--ops", default=None,
                    help="control-plane operations under the faults, comma-separated from "
                    "%s, or none (default: reshard with --quick, all with --minutes, none "
                    "with --sabotage)"
                    % ",".join(CONTROL_OPS))
    ap.add_argument("--eddyd", default=os.path.join(REPO, "build/release/eddyd"))
    ap.add_argument("--out", default=None, help="run directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep data dirs even when the run passes")
    ap.add_argument("--no-subscribe", action="store_true",
                    help="no SubscribeToShard subscribers (GetRecords readers only)")
    ap.add_argument("--no-shim", action="store_true",
                    help="run without fsync_shim (power-loss then equals kill)")
    ap.add_argument("--sabotage", action="store_true",
                    help="break durability on purpose: power losses also drop the Raft "
                    "log's O_DSYNC writes (as if acknowledged before the fsync); the run "
                    "must then fail (lost-ack)")
    ap.add_argument("--expect", metavar="KIND",
                    help="invert the result: exit 0 only if the checker reports an anomaly "
                    "of this kind (with --sabotage: proves the harness catches it)")
    ap.add_argument("--check", metavar="HISTORY", help="only re-check a stored history")
    a = ap.parse_args(argv)
    if a.quick and a.minutes is not None:
        ap.error("--quick and --minutes exclude each other")
    if not a.quick and a.minutes is None and not a.check:
        ap.error("give --quick, --minutes N or --check HISTORY")
    if a.kinds:
        kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
        bad = [k for k in kinds if k not in nemesislib.ALL_KINDS]
        if bad:
            ap.error("unknown fault kinds: %s" % ", ".join(bad))
        a.kinds = kinds
    if a.ops is not None:
        ops = [o.strip() for o in a.ops.split(",") if o.strip() and o.strip() != "none"]
        bad = [o for o in ops if o not in CONTROL_OPS]
        if bad:
            ap.error("unknown operations: %s" % ", ".join(bad))
        a.ops = ops
    return a


def preflight(kinds):
    problems = []
    if "fsync-error" in kinds and not clusterlib.fiu_available():
        problems.append("fsync-error needs libfiu (fiu-utils, libfiu0: run tools/bootstrap)")
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces, nftables)")
    for tool in ("ip", "nft", "cc"):
        if shutil.which(tool) is None:
            problems.append("%s not found (run tools/bootstrap)" % tool)
    return problems


def build_shim(out_dir):
    so = os.path.join(out_dir, "fsync_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", so,
                    os.path.join(HERE, "fsync_shim.c"), "-ldl"], check=True)
    return so


def copy_binaries(eddyd, out_dir):
    """Private copies, so a rebuild of the tree during the run changes
    nothing."""
    eddy = os.path.join(os.path.dirname(eddyd), "eddy")
    bindir = os.path.join(out_dir, "bin")
    os.makedirs(bindir, exist_ok=True)
    for src in (eddyd, eddy):
        if not os.access(src, os.X_OK):
            raise RuntimeError("no executable %s (build it, or give --eddyd)" % src)
        shutil.copy2(src, bindir)
    return os.path.join(bindir, "eddyd"), os.path.join(bindir, "eddy")


def create_stream(endpoints, name, shards):
    """CreateStream through any gateway, then waits for ACTIVE; returns
    [(shard id, starting hash key, ending hash key)]."""
    deadline = time.monotonic() + STREAM_CREATE_S
    k = 0
    created = False
    while time.monotonic() < deadline:
        c = make_client(endpoints[k % len(endpoints)])
        k += 1
        try:
            if not created:
                try:
                    c.create_stream(StreamName=name, ShardCount=shards)
                except c.exceptions.ResourceInUseException:
                    pass
                created = True
            s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if s["StreamStatus"] == "ACTIVE":
                return [(x["ShardId"], int(x["HashKeyRange"]["StartingHashKey"]),
                         int(x["HashKeyRange"]["EndingHashKey"]))
                        for x in c.list_shards(StreamName=name)["Shards"]]
        except Exception as e:  # retried until the deadline
            last = e
            time.sleep(0.3)
            continue
        time.sleep(0.2)
    raise RuntimeError("stream %s not ACTIVE after %ds (%s)" % (name, STREAM_CREATE_S,
                                                                locals().get("last")))


def register_consumer(endpoints, stream, name="chaos"):
    """Registers an enhanced fan-out consumer and waits until it is ACTIVE;
    returns its ARN."""
    deadline = time.monotonic() + STREAM_CREATE_S
    arn, last, k = None, None, 0
    while time.monotonic() < deadline:
        c = make_client(endpoints[k % len(endpoints)])
        k += 1
        try:
            if arn is None:
                sarn = c.describe_stream_summary(
                    StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
                try:
                    arn = c.register_stream_consumer(StreamARN=sarn,
                                                     ConsumerName=name)["Consumer"]["ConsumerARN"]
                except c.exceptions.ResourceInUseException:
                    arn = c.describe_stream_consumer(StreamARN=sarn, ConsumerName=name)[
                        "ConsumerDescription"]["ConsumerARN"]
            d = c.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
            if d["ConsumerStatus"] == "ACTIVE":
                return arn
        except Exception as e:  # retried until the deadline
            last = e
        time.sleep(0.3)
    raise RuntimeError("consumer %s not ACTIVE after %ds (%s)" % (name, STREAM_CREATE_S, last))


def list_all_shards(h, endpoints, stream, known):
    """Every shard of the stream once it is ACTIVE (reshards made more),
    recorded as one "shards" event with the lineage; if it is not ACTIVE
    within FINAL_READ_S, the shards as they are, marked active: false (the
    checker's reshard-stuck). known (shard ids) if no gateway answers."""
    deadline = time.monotonic() + FINAL_READ_S
    k = 0
    late_tries = 0  # after the deadline: each gateway twice more, whatever the status
    while True:
        late = time.monotonic() >= deadline
        if late:
            if late_tries >= 2 * len(endpoints):
                return list(known)
            late_tries += 1
        c = make_client(endpoints[k % len(endpoints)], read_timeout_s=15)
        k += 1
        try:
            # A reshard the control thread began may still be under way.
            st = c.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
            active = st["StreamStatus"] == "ACTIVE"
            if not active and not late:
                time.sleep(0.5)
                continue
            out, token = [], None
            while True:
                r = c.list_shards(NextToken=token) if token else c.list_shards(StreamName=stream)
                out += r["Shards"]
                token = r.get("NextToken")
                if not token:
                    break
        except Exception:  # retried through the next gateway until the deadline
            time.sleep(0.3)
            continue
        h.add({"f": "shards", "p": "final", "active": active, "status": st["StreamStatus"],
               "shards": [shard_entry(x) for x in out]})
        ids = [x["ShardId"] for x in out]
        return ids + [x for x in known if x not in ids]


def final_reads(h, endpoints, stream, shard_ids):
    """Reads every shard from TRIM_HORIZON to the tip through every
    gateway. 5xx and connection errors are retried (FINAL_READ_S per
    gateway in all); a 4xx ends that shard's read as incomplete."""
    for gw, ep in enumerate(endpoints):
        c = make_client(ep, read_timeout_s=15)
        deadline = time.monotonic() + FINAL_READ_S
        for sid in shard_ids:
            t0 = h.now()
            recs, err, complete, gone = [], None, False, False
            it = None
            while time.monotonic() < deadline:
                try:
                    if it is None:
                        it = c.get_shard_iterator(StreamName=stream, ShardId=sid,
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                    r = c.get_records(ShardIterator=it, Limit=10000)
                except Exception as e:
                    kind, err, code = classify(e)
                    if kind == "fail":
                        gone = code == "ResourceNotFoundException"
                        break
                    time.sleep(0.3)
                    continue
                for x in r["Records"]:
                    rid, pk, intact = parse_payload(x["Data"])
                    recs.append([x["SequenceNumber"], rid, x.get("PartitionKey"), intact,
                                 arrival_ms(x)])
                it = r.get("NextShardIterator")
                if it is None or (not r["Records"] and r.get("MillisBehindLatest", 0) == 0):
                    complete = True
                    break
            h.add({"f": "final", "p": "final%d" % gw, "gw": gw, "shard": sid, "recs": recs,
                   "complete": complete, "gone": gone, "err": None if complete else err}, t0)


def run(a):
    kinds = a.kinds or (nemesislib.QUICK_KINDS if a.quick else nemesislib.ALL_KINDS)
    # --sabotage breaks the groups' logs on purpose: a reshard on top only
    # gets stuck, so none unless asked for.
    ops = a.ops if a.ops is not None else ([] if a.sabotage else ["reshard"] if a.quick
                                           else list(CONTROL_OPS))
    problems = preflight(kinds)
    if problems:
        for p in problems:
            log("cannot run: " + p)
        return 2
    seed = a.seed if a.seed is not None else random.randrange(1, 2**31)
    out = a.out or tempfile.mkdtemp(prefix="eddy-chaos-%d-" % seed)
    out = os.path.abspath(out)
    if os.path.isdir(out) and os.listdir(out):
        # Old data directories would hold another cluster's Raft state.
        log("cannot run: run directory %s is not empty" % out)
        return 2
    os.makedirs(out, exist_ok=True)
    budget = QUICK_FAULT_BUDGET_S if a.quick else a.minutes * 60
    steps = nemesislib.make_schedule(seed, kinds, budget, a.quick)
    replay = "tools/chaos %s --seed %d%s%s%s" % (
        "--quick" if a.quick else "--minutes %g" % a.minutes, seed,
        " --kinds " + ",".join(a.kinds) if a.kinds else "",
        " --ops " + (",".join(a.ops) or "none") if a.ops is not None else "",
        " --sabotage" if a.sabotage else "")
    log("seed %d, run dir %s" % (seed, out))
    log("schedule: %s" % ", ".join("%s(%s)" % (s["kind"], s["select"]) for s in steps))
    log("control operations under the faults: %s" % (", ".join(ops) or "none"))
    with open(os.path.join(out, "schedule.json"), "w") as f:
        json.dump({"seed": seed, "steps": steps}, f, indent=1)

    teardown = clusterlib.Teardown()
    atexit.register(teardown.run)

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    stale = clusterlib.sweep_stale()
    if stale:
        log("removed leftovers of dead runs: %s" % ", ".join(stale))

    h = History(os.path.join(out, "history.jsonl"))
    stream = "chaos-%d" % seed
    meta = {"f": "meta", "seed": seed, "nodes": a.nodes, "stream": stream, "shards": a.shards,
            "eddyd": a.eddyd, "replay": replay, "steps": len(steps), "sabotage": a.sabotage,
            "ops": ops}
    h.add(meta)
    workload = None
    nem = None
    c = None
    harness_errors = []
    try:
        eddyd, eddy = copy_binaries(os.path.abspath(a.eddyd), out)
        shim = None if a.no_shim else build_shim(out)
        c = clusterlib.Cluster(a.nodes, out, eddyd, eddy, shim, a.groups, teardown).setup()
        c.sabotage = a.sabotage
        c.fiu = "fsync-error" in kinds
        log("network: bridge %s %s/24, namespaces %s" % (
            c.net.bridge, c.net.host, ", ".join(c.net.ns(i) for i in range(1, a.nodes + 1))))
        c.start()
        c.wait_healthy(60)
        shards = create_stream(c.endpoints(), stream, a.shards)
        shard_ids = [x[0] for x in shards]
        log("cluster up, stream %s ACTIVE with %d shards" % (stream, len(shard_ids)))
        consumer = None if a.no_subscribe else register_consumer(c.endpoints(), stream)
        nem = nemesislib.Nemesis(c, h, stream, log)
        fault_end = time.monotonic() + WARMUP_S + budget + 120
        workload = Workload(h, c.endpoints(), stream, shards, seed, a.mixed, a.rate)
        workload.start(deadline=fault_end + QUIET_S + 240, consumer_arn=consumer, ops=ops,
                       transfer=lambda i: c.transfer(c.nodes[i]), nodes=len(c.nodes),
                       control_gap_s=CONTROL_GAP_QUICK_S if a.quick else CONTROL_GAP_S,
                       updates_max=UPDATE_SHARD_COUNT_QUICK_MAX if a.quick else
                       UPDATE_SHARD_COUNT_MAX)
        time.sleep(WARMUP_S)
        for i, step in enumerate(steps):
            if time.monotonic() > fault_end:
                log("time budget spent: %d of %d steps not run" % (len(steps) - i, len(steps)))
                break
            ok, waited = nem.wait_healthy()
            if not ok:
                h.add({"f": "unhealthy", "p": "nemesis", "waited_s": round(waited, 1),
                       "status": c.cluster_status_text()[:2000]})
                log("cluster not healthy after %.0fs; injecting anyway" % waited)
            nem.run_step(step, fault_end)
            for n in c.nodes:
                n.check_alive()
            time.sleep(step["gap_s"])
        nem.heal_all()
        workload.stop_control()
        log("faults over; %ds without faults" % QUIET_S)
        time.sleep(QUIET_S)
        stuck = workload.stop()
        if stuck:
            harness_errors.append("workload threads did not stop: %s" % ", ".join(stuck))
        h.add({"f": "meta_end", "workload_end": h.now()})
        ok, waited = nem.wait_healthy(FINAL_HEALTHY_WAIT_S)
        log("cluster %s after %.1fs; final reads through every gateway"
            % ("healthy" if ok else "NOT healthy", waited))
        if not ok:
            h.add({"f": "unhealthy", "p": "final", "status": c.cluster_status_text()[:2000]})
        shard_ids = list_all_shards(h, c.endpoints(), stream, sorted(workload.followed))
        final_reads(h, c.endpoints(), stream, shard_ids)
    except (KeyboardInterrupt, SystemExit) as e:
        harness_errors.append("interrupted (%s)" % type(e).__name__)
        log("interrupted: stopping everything")
    except Exception as e:
        harness_errors.append("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
        log("harness error: %s" % e)
    finally:
        if workload is not None:
            workload.stop(timeout_s=20)
            harness_errors.extend(workload.errors)
        if nem is not None:
            try:
                nem.heal_all()
            except Exception as e:
                harness_errors.append("heal: %s" % e)
        shutdown = []
        if c is not None:
            for n in c.nodes:
                n.check_alive()
            shutdown = c.stop_all()
            for n in c.nodes:
                for kind, text in n.problems:
                    h.add({"f": kind, "p": "n%d" % n.id, "detail": text})
        for e in harness_errors:
            h.add({"f": "harness-error", "p": "harness", "detail": e})
        h.close()
        undo = teardown.run()
        for e in undo:
            log("teardown: %s" % e)
    if any("interrupted" in e for e in harness_errors):
        log("interrupted; history so far in %s" % out)
        return 130
    rc = report_run(os.path.join(out, "history.jsonl"), out, meta, a.expect)
    for s in shutdown:
        log("note: %s (unclean shutdown)" % s)
    if rc == 0 and not a.keep:
        for i in range(1, a.nodes + 1):
            shutil.rmtree(os.path.join(out, "n%d" % i, "data"), ignore_errors=True)
        shutil.rmtree(os.path.join(out, "bin"), ignore_errors=True)
    return rc


def report_run(history_path, out, meta=None, expect=None):
    events = load(history_path)
    if meta is None:
        meta = next((e for e in events if e.get("f") == "meta"), {})
    rep = checker.check(events)
    paths = [("history", history_path), ("checker", os.path.join(out, "check.json")),
             ("summary", os.path.join(out, "summary.txt")),
             ("timeline", os.path.join(out, "timeline.svg"))]
    with open(paths[1][1], "w") as f:
        json.dump(rep.as_dict(), f, indent=1, default=str)
    text = report.summary(rep, meta, paths)
    with open(paths[2][1], "w") as f:
        f.write(text)
    with open(paths[3][1], "w") as f:
        f.write(report.svg(events, rep, "eddy chaos, seed %s" % meta.get("seed")))
    sys.stdout.write(text)
    sys.stdout.flush()
    if expect:
        caught = expect in rep.anomalies and "harness-error" not in rep.anomalies
        sys.stdout.write("EXPECTED %s: %s\n" % (expect, "caught" if caught else "NOT caught"))
        return 0 if caught else 1
    return 0 if rep.valid else 1


def main(argv):
    a = parse_args(argv)
    if a.check:
        out = os.path.dirname(os.path.abspath(a.check))
        return report_run(a.check, out)
    return run(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
