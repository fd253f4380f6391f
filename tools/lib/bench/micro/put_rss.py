"""RSS of every eddyd, sampled each second, while eddy-bench put phases run
one after the other against a fresh three-node cluster (tools/lib/bench/benchlib:
release binaries copied from BINDIR, 6 groups), each phase on a fresh 4-shard
stream with 500-record PutRecords and 1 s of warmup. Prints each phase's
eddy-bench summary, the samples, the maximum per node, and per node its exit
status and log errors; keeps the temp dir (logs, cores) if a node crashed.
Bounded: every phase has eddy-bench's --timeout and a subprocess timeout.

    python3 tools/lib/bench/micro/put_rss.py BINDIR PHASE...
    PHASE = record_bytes:connections:seconds, e.g. 100:32:15 1024:32:30

BINDIR holds eddyd, eddy and eddy-bench (e.g. build/release).
"""
import os, sys, threading, time, subprocess
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib
from benchlib import harness

bindir = sys.argv[1]
phases = [tuple(int(x) for x in p.split(":")) for p in sys.argv[2:]]
benchlib.use_binaries(os.path.join(bindir, "eddyd"))
gen = os.path.join(bindir, "eddy-bench")
cl = harness.Cluster("rss", n=3)
samples = []
stop = threading.Event()

def rss(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return -1

def sampler(pids, t0):
    while not stop.is_set():
        samples.append((round(time.monotonic() - t0), [rss(p) for p in pids]))
        stop.wait(1.0)

try:
    cl.start()
    cl.wait_healthy(60)
    pids = [n.proc.pid for n in cl.nodes]
    c = harness.client(cl.endpoints()[0])
    t0 = time.monotonic()
    th = threading.Thread(target=sampler, args=(pids, t0), daemon=True)
    th.start()
    for i, (rb, conns, secs) in enumerate(phases):
        stream = "rss%d" % i
        c.create_stream(StreamName=stream, ShardCount=4)
        for _ in range(120):
            if c.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                break
            time.sleep(0.5)
        cmd = [gen, "--workload", "put", "--stream", stream, "--record-bytes", str(rb), "--batch", "500",
               "--connections", str(conns), "--warmup", "1", "--seconds", str(secs),
               "--timeout", str(secs + 60), "--json", os.path.join(harness.tmp_root(), "phase%d.json" % i)]
        for e in cl.endpoints():
            cmd += ["--endpoint", e]
        for p in pids:
            cmd += ["--pid", str(p)]
        print("phase %d at %ds: %dB x %d conns %ds" % (i, time.monotonic() - t0, rb, conns, secs), flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 120)
        print(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-500:], flush=True)
    time.sleep(3)
finally:
    stop.set()
    for s in samples[::2]:
        print("t=%3ds rss MiB %s" % (s[0], s[1]))
    print("max", [max((s[1][k] or 0) for s in samples) for k in range(3)] if samples else None)
    for n in cl.nodes:
        print("--", n.name, "exit", n.proc.poll())
        t = open(n.log_path, errors="replace").read().splitlines()
        bad = [l for l in t if "ERROR" in l or "assert" in l.lower() or "FATAL" in l or "abort" in l.lower()]
        print("\n".join((bad[:5] + ["..."] + bad[-5:]) if len(bad) > 10 else bad))
        print("\n".join(t[-4:]))
    crashed0 = [n.proc.poll() for n in cl.nodes]; print("exit codes before stop", crashed0)
    cl.stop_all_nodes()
    for p in harness.stop_all():
        print("problem: %s" % p.splitlines()[0])
    crashed = any(n.proc.poll() not in (None, 0) for n in cl.nodes)
    print("tmp", harness.tmp_root(), "crashed", crashed)
    harness.cleanup_tmp(crashed)
