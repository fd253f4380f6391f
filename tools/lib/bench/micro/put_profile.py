"""PutRecords throughput of one build, optionally with a CPU profile of the
three eddyd: a fresh three-node cluster (tools/lib/bench/benchlib: release
binaries copied from BINDIR, 6 groups), then for each PHASE a fresh 4-shard
stream and one eddy-bench put run (500-record PutRecords, 1 s warmup)
through all three gateways. Prints eddy-bench's summary line per phase and
the records per core-second of eddyd CPU (the steadier figure on a shared
machine). With --perf FILE, `perf record -F 999 -g` samples the three eddyd
during the first phase's window and `perf report --no-children` (self time)
goes to FILE, the samples to FILE.data. Bounded: eddy-bench's --timeout, subprocess timeouts.

    python3 tools/lib/bench/micro/put_profile.py [--perf FILE] [--dwarf] BINDIR PHASE...
    PHASE = record_bytes:connections:seconds, e.g. 100:16:10 1024:16:10

BINDIR holds eddyd, eddy and eddy-bench (e.g. build/perf-rel).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402


def wait_active(c, stream):
    for _ in range(240):
        s = c.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.25)
    raise RuntimeError("stream %s not ACTIVE" % stream)


def perf_report(data, out):
    base = ["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.5"]
    with open(out, "w") as f:
        r = subprocess.run(base + ["--sort", "dso,symbol", "-g", "none"], capture_output=True,
                           text=True, timeout=600)
        f.write(r.stdout)
        f.write("\n\n==== callers (-g caller, >= 1 %) ====\n\n")
        r = subprocess.run(base[:-2] + ["--percent-limit", "1", "--sort", "symbol",
                                        "-g", "caller,0.5,callee,function,percent"],
                           capture_output=True, text=True, timeout=600)
        f.write(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--perf", help="write a self-time profile of the first phase here")
    ap.add_argument("--dwarf", action="store_true", help="perf --call-graph dwarf (callers in libc)")
    ap.add_argument("bindir")
    ap.add_argument("phases", nargs="+")
    args = ap.parse_args()
    phases = [tuple(int(x) for x in p.split(":")) for p in args.phases]
    build = benchlib.use_binaries(os.path.join(args.bindir, "eddyd"))
    gen = os.path.join(args.bindir, "eddy-bench")
    print("put_profile: %s; %s; %s; load %s" % (build, benchlib.machine(), benchlib.now_utc(),
                                                 " ".join(open("/proc/loadavg").read().split()[:3])),
          flush=True)
    cl = harness.Cluster("prof", n=3)
    perf = None
    try:
        cl.start()
        cl.wait_healthy(60)
        pids = [n.proc.pid for n in cl.nodes]
        c = harness.client(cl.endpoints()[0])
        time.sleep(3)  # let the balancer settle the group leaders
        for i, (rb, conns, secs) in enumerate(phases):
            stream = "prof%d" % i
            c.create_stream(StreamName=stream, ShardCount=4)
            wait_active(c, stream)
            out_json = os.path.join(harness.tmp_root(), "phase%d.json" % i)
            cmd = [gen, "--workload", "put", "--stream", stream, "--record-bytes", str(rb),
                   "--batch", "500", "--connections", str(conns), "--warmup", "1",
                   "--seconds", str(secs), "--timeout", str(secs + 60), "--json", out_json]
            for e in cl.endpoints():
                cmd += ["--endpoint", e]
            for p in pids:
                cmd += ["--pid", str(p)]
            gen_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
            if args.perf and i == 0:
                time.sleep(1)  # the warmup
                data = os.path.join(harness.tmp_root(), "perf.data")
                cg = ["--call-graph", "dwarf,16384", "-F", "199"] if args.dwarf else \
                    ["-g", "-F", "999"]
                perf = subprocess.Popen(["perf", "record"] + cg + ["-o", data, "-p",
                                        ",".join(str(p) for p in pids), "--", "sleep",
                                        str(secs)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            out, _ = gen_proc.communicate(timeout=secs + 120)
            lines = out.strip().splitlines()
            print("phase %d: %dB x %d conns %ds: %s" % (i, rb, conns, secs,
                                                       lines[-1] if lines else "(no output)"),
                  flush=True)
            if perf is not None:
                perf.wait(120)
            try:
                rep = json.load(open(out_json))
                cpu = rep["server_cpu_pct"] / 100.0
                if cpu > 0:
                    print("  per eddyd core-second: %.0f records, %.2f MB (eddyd CPU %.0f %%)" %
                          (rep["records_per_s"] / cpu, rep["mb_per_s"] / cpu, cpu * 100),
                          flush=True)
            except (OSError, ValueError, KeyError) as e:
                print("  no report: %s" % e)
    finally:
        if perf is not None and perf.poll() is None:
            perf.kill()
            perf.wait()
        cl.stop_all_nodes()
        for p in harness.stop_all():
            print("problem: %s" % p.splitlines()[0])
        if args.perf and perf is not None:
            data = os.path.join(harness.tmp_root(), "perf.data")
            perf_report(data, args.perf)
            shutil.copy(data, args.perf + ".data")
            print("profile: %s (perf.data: %s.data)" % (args.perf, args.perf))
        harness.cleanup_tmp(False)


if __name__ == "__main__":
    main()
