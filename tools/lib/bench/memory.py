"""Memory under volume: write a lot of record payload through a three-node
cluster with snapshots on (the default thresholds) and watch every eddyd's
resident set size.

A fresh three-node cluster (release eddyd, all roles, 6 groups), one stream
with --shards shards (default 6, so that every group holds some). --clients
client processes (default 3, client i sends through gateway i % 3) each
send PutRecords batches of --batch records of --record-bytes bytes (default
500 x 1 KiB) until, together, --total bytes of payload are acknowledged
(default 2 GiB) or --max-seconds pass (default 1200). Records that come back
with a per-record error are not counted (and not resent). A sampler reads
VmRSS from /proc/<pid>/status of each eddyd every second.

Prints the payload acknowledged, the time and rate, and per node the maximum
and final RSS and the size of its data dir; --csv writes every RSS sample.

    tools/bench memory [--total BYTES] [--clients N] [--shards N] [--eddyd PATH]
                       [--max-seconds S] [--csv FILE] [--json FILE]
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

MIB = 1024 * 1024


def parse_bytes(s):
    s = s.strip().upper()
    mult = 1
    for suffix, m in (("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10), ("G", 2**30),
                      ("M", 2**20), ("K", 2**10)):
        if s.endswith(suffix):
            s, mult = s[:-len(suffix)], m
            break
    return int(float(s) * mult)


def client_proc(idx, endpoints, stream, batch, record_bytes, quota_bytes, deadline, out_q):
    """One client process: PutRecords until quota_bytes are acked or
    deadline (time.time()). Reports (acked bytes, acked records, failed
    records, failed calls) through out_q every second and at the end."""
    import botocore.exceptions
    c = harness.client(endpoints[idx % len(endpoints)], timeout_s=60)
    payload = os.urandom(record_bytes)
    acked = recs = failed_recs = failed_calls = 0
    codes = {}
    last = time.time()
    i = 0
    while acked < quota_bytes and time.time() < deadline:
        entries = [{"PartitionKey": "c%d-%d" % (idx, i + k), "Data": payload}
                   for k in range(batch)]
        i += batch
        try:
            resp = c.put_records(StreamName=stream, Records=entries)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            failed_calls += 1
            k = "call: " + harness.describe_failure(e)[:80]
            codes[k] = codes.get(k, 0) + 1
            time.sleep(0.1)
            continue
        n_ok = 0
        for r in resp["Records"]:
            if "ErrorCode" in r:
                codes[r["ErrorCode"]] = codes.get(r["ErrorCode"], 0) + 1
            else:
                n_ok += 1
        acked += n_ok * record_bytes
        recs += n_ok
        failed_recs += len(entries) - n_ok
        if time.time() - last >= 1:
            out_q.put((idx, acked, recs, failed_recs, failed_calls, dict(codes), False))
            last = time.time()
    out_q.put((idx, acked, recs, failed_recs, failed_calls, dict(codes), True))


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def du_bytes(path):
    p = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
    try:
        return int(p.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--total", default="2GiB", help="payload to write (default 2GiB)")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--record-bytes", type=int, default=1024)
    ap.add_argument("--max-seconds", type=float, default=1200)
    ap.add_argument("--eddyd", help="eddyd to run (default: build build/release and use it)")
    ap.add_argument("--csv", help="write every RSS sample here")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    args = ap.parse_args()
    total = parse_bytes(args.total)
    if not (1 <= args.clients <= 16 and 1 <= args.batch <= 500 and
            1 <= args.record_bytes <= MIB and 0 < total <= 64 * 2**30 and
            0 < args.max_seconds <= 7200):
        ap.error("out of range")

    eddyd = args.eddyd
    if eddyd is None:
        benchlib.build_release()
        eddyd = os.path.join(benchlib.REPO, "build", "release", "eddyd")
    build = benchlib.use_binaries(eddyd)
    print("bench memory: %s; %s; %s" % (build, benchlib.machine(), benchlib.now_utc()),
          flush=True)

    cl = harness.Cluster("memory", n=3)
    samples = []  # (t, node_id, rss_kib)
    stop = threading.Event()
    ok = False
    result = {}
    try:
        cl.start()
        cl.wait_healthy(60)
        stream = "memory"
        r = harness.Retrier(cl.endpoints(), attempts=20)
        r.call("create_stream", StreamName=stream, ShardCount=args.shards)
        deadline = time.monotonic() + 30
        while r.call("describe_stream_summary", StreamName=stream)[0][
                "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError("stream not ACTIVE")
            time.sleep(0.1)

        t_start = time.monotonic()

        def sampler():
            while not stop.is_set():
                t = time.monotonic() - t_start
                for n in cl.nodes:
                    if n.is_running():
                        v = rss_kib(n.proc.pid)
                        if v is not None:
                            samples.append((t, n.node_id, v))
                stop.wait(1.0)

        st = threading.Thread(target=sampler, daemon=True)
        st.start()
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        wall_deadline = time.time() + args.max_seconds
        quota = -(-total // args.clients)
        procs = [ctx.Process(target=client_proc, daemon=True,
                             args=(i, cl.endpoints(), stream, args.batch, args.record_bytes,
                                   quota, wall_deadline, q))
                 for i in range(args.clients)]
        for p in procs:
            p.start()
        state = {}
        done = set()
        last_print = time.monotonic()
        while len(done) < len(procs):
            try:
                idx, acked, recs, frecs, fcalls, codes, fin = q.get(timeout=5)
            except Exception:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            state[idx] = (acked, recs, frecs, fcalls, codes)
            if fin:
                done.add(idx)
            if time.monotonic() - last_print >= 30:
                last_print = time.monotonic()
                a = sum(v[0] for v in state.values())
                el = time.monotonic() - t_start
                cur = {}
                for t, nid, v in samples[-6:]:
                    cur[nid] = v
                print("  %5.0fs: %7.0f MiB acked (%.1f MiB/s); RSS now %s" % (
                    el, a / MIB, a / MIB / el,
                    ", ".join("n%d %.0f MiB" % (k, v / 1024) for k, v in sorted(cur.items()))),
                    flush=True)
        for p in procs:
            p.join(30)
        elapsed = time.monotonic() - t_start
        time.sleep(3)  # a few samples after the load
        stop.set()
        st.join(5)
        acked = sum(v[0] for v in state.values())
        recs = sum(v[1] for v in state.values())
        frecs = sum(v[2] for v in state.values())
        fcalls = sum(v[3] for v in state.values())
        errors = {}
        for v in state.values():
            for k, n in v[4].items():
                errors[k] = errors.get(k, 0) + n
        per_node = {}
        for n in cl.nodes:
            vals = [v for _, nid, v in samples if nid == n.node_id]
            per_node[n.node_id] = {
                "max_rss_mib": round(max(vals) / 1024, 1) if vals else None,
                "final_rss_mib": round(vals[-1] / 1024, 1) if vals else None,
                "data_dir_mib": round((du_bytes(n.data) or 0) / MIB),
                "snapshots": sum(len([f for f in fs if f.startswith("snapshot-")
                                      and not f.endswith(".meta")])
                                 for _, _, fs in os.walk(os.path.join(n.data, "groups"))),
            }
        result = {
            "build": build, "machine": benchlib.machine(), "date": benchlib.now_utc(),
            "target_bytes": total, "acked_bytes": acked, "acked_records": recs,
            "failed_records": frecs, "failed_calls": fcalls, "errors": errors, "seconds": round(elapsed, 1),
            "mib_per_s": round(acked / MIB / elapsed, 1), "clients": args.clients,
            "shards": args.shards, "batch": args.batch, "record_bytes": args.record_bytes,
            "nodes": per_node,
        }
        ok = True
    finally:
        stop.set()
        cl.stop_all_nodes()
        problems = harness.stop_all()
        for p in problems:
            print("problem: %s" % p.splitlines()[0])
        if args.csv:
            with open(args.csv, "w") as f:
                f.write("seconds,node,rss_kib\n")
                for t, nid, v in samples:
                    f.write("%.1f,%d,%d\n" % (t, nid, v))
        keep = args.keep or not ok
        if keep:
            print("bench: logs and data kept in %s" % harness.tmp_root())
        harness.cleanup_tmp(keep)

    print()
    print("payload acknowledged: %.2f GiB (%d records of %d B; target %.2f GiB) in %.0f s, "
          "%.1f MiB/s; %d records failed, %d calls failed"
          % (result["acked_bytes"] / 2**30, result["acked_records"], args.record_bytes,
             total / 2**30, result["seconds"], result["mib_per_s"], result["failed_records"],
             result["failed_calls"]))
    if result["errors"]:
        print("errors: %s" % ", ".join("%dx %s" % (n, k) for k, n in
                                       sorted(result["errors"].items(), key=lambda x: -x[1])))
    print("%-6s %-14s %-16s %-14s %s" % ("node", "max RSS (MiB)", "final RSS (MiB)",
                                         "data dir (MiB)", "snapshot files"))
    for nid, v in sorted(result["nodes"].items()):
        print("n%-5d %-14s %-16s %-14s %s" % (nid, v["max_rss_mib"], v["final_rss_mib"],
                                              v["data_dir_mib"], v["snapshots"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if result["acked_bytes"] >= total else 1


if __name__ == "__main__":
    sys.exit(main())
