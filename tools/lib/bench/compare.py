"""Side by side: the same workloads against kinesalite and a fresh
three-node Eddy cluster on this machine, in one run, alternating, with one
table of ratios.

    tools/bench [--compare kinesalite] [--quick] [--eddyd PATH]
                        [--out DIR] [--shards N] [--perf] [--keep]
    tools/bench --render DIR

1. Installs kinesalite 3.3.3 from npm into tools/lib/bench/peers/kinesalite/ (ignored
   by git; skipped when that version is there) and starts it with its
   LevelDB on disk (--path, in the run's temp dir), as notes/peers.md ran it.
2. Builds build/release (unless --eddyd) and starts three release eddyd
   (all roles, 6 shard groups, the tests' harness.Cluster: free 127.0.0.1
   ports, data in the temp dir; every acknowledgement is fsynced on a
   majority).
3. For each workload, in turns (kinesalite first for even workloads, Eddy
   first for odd ones), creates a fresh stream of --shards shards on the
   target and runs eddy-bench (tools/lib/bench/README.md) against it, sampling the
   target's processes: kinesalite's node process, or the three eddyd.
4. Prints one table with the ratios and writes, under --out (docs/bench/,
   or docs/bench/quick/ with --quick): compare.json (every report, the
   command, date and machine), compare.md (the table) and SVG charts
   (throughput.svg, latency-putrecord.svg, latency-put-to-get.svg).

Put-to-push (SubscribeToShard) is measured by tools/bench push; if
docs/bench/push.json (its --json output) exists, its rows join the table. --perf records a CPU profile of the three eddyd
(perf record -g) during the 100 B PutRecords window and writes the top
symbols to <out>/profile-put.txt.

Every process it starts (kinesalite, eddyd, eddy-bench, perf) is stopped
on the way out, on failure and on Ctrl-C too.
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import charts  # noqa: E402
from benchlib import harness  # noqa: E402

KINESALITE_VERSION = "3.3.3"
PEERS_DIR = os.path.join(benchlib.REPO, "tools", "lib", "bench", "peers")
PUSH_JSON = os.path.join(benchlib.REPO, "docs", "bench", "push.json")


def workloads(quick):
    """The plan: (key, label, eddy-bench args, how the table reads it)."""
    w, s = (2, 8) if quick else (3, 15)
    conns = [16] if quick else [4, 32]
    plan = []
    for c in conns:
        plan.append(("put100-c%d" % c, "PutRecords, 100 B records, %d clients" % c,
                     ["--workload", "put", "--record-bytes", "100", "--batch", "500",
                      "--connections", str(c), "--warmup", str(w), "--seconds", str(s)],
                     "records"))
    for c in conns:
        plan.append(("put1k-c%d" % c, "PutRecords, 1 KiB records, %d clients" % c,
                     ["--workload", "put", "--record-bytes", "1024", "--batch", "500",
                      "--connections", str(c), "--warmup", str(w), "--seconds", str(s)],
                     "mb"))
    plan.append(("putrecord", "PutRecord, one client, sequential",
                 ["--workload", "put", "--api", "PutRecord", "--record-bytes", "100",
                  "--connections", "1", "--warmup", str(w), "--seconds", str(s)],
                 "latency"))
    plan.append(("drain", "GetRecords drain (%s records of 100 B)"
                 % ("{:,}".format(100000 if quick else 300000)),
                 ["--workload", "get", "--limit", "10000"], "records"))
    plan.append(("put-to-get", "put-to-get, polling GetRecords (1,000 records/s)",
                 ["--workload", "e2e", "--record-bytes", "100", "--rate", "1000",
                  "--interval-ms", "10", "--poll-ms", "2", "--warmup", str(w),
                  "--seconds", str(s)], "latency"))
    return plan


def drain_records(quick):
    return 100000 if quick else 300000


# ---- processes --------------------------------------------------------------

def machine():
    """benchlib.machine() with the CPU model from /proc/cpuinfo."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, CPU %s" % (benchlib.machine(), model)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening" % (what, proc.returncode))
        if harness.tcp_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError("%s not listening on %d after %ds" % (what, port, timeout_s))


def install_kinesalite():
    """npm install kinesalite@3.3.3 into tools/lib/bench/peers/kinesalite; returns cli.js."""
    d = os.path.join(PEERS_DIR, "kinesalite")
    cli = os.path.join(d, "node_modules", "kinesalite", "cli.js")
    pkg = os.path.join(d, "node_modules", "kinesalite", "package.json")
    try:
        with open(pkg) as f:
            if json.load(f).get("version") == KINESALITE_VERSION:
                return cli
    except (OSError, ValueError):
        pass
    print("bench: installing kinesalite %s from npm into %s" % (KINESALITE_VERSION, d),
          flush=True)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "package.json"), "w") as f:
        json.dump({"name": "eddy-bench-peer-kinesalite", "private": True}, f)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save",
                    "kinesalite@" + KINESALITE_VERSION], cwd=d, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    return cli


class Kinesalite:
    """kinesalite on a free port with its LevelDB under dir."""

    def __init__(self, cli, dir_):
        self.cli = cli
        self.dir = dir_
        self.port = free_port()
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        log = open(os.path.join(self.dir, "kinesalite.log"), "ab")
        # node itself, not npx: the pid sampled must be the server's.
        self.proc = subprocess.Popen(
            ["node", self.cli, "--port", str(self.port), "--path", os.path.join(self.dir, "db"),
             "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0",
             "--shardLimit", "1000"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=harness._die_with_parent)
        log.close()
        wait_port(self.port, self.proc, 30, "kinesalite")

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Target:
    def __init__(self, name, endpoints, pids):
        self.name = name
        self.endpoints = endpoints
        self.pids = pids


def create_stream(target, name, shards):
    """CreateStream on the target and wait until ACTIVE (boto3)."""
    r = harness.Retrier(target.endpoints, attempts=20)
    r.call("create_stream", StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + 60
    while True:
        st = r.call("describe_stream_summary", StreamName=name)[0][
            "StreamDescriptionSummary"]["StreamStatus"]
        if st == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%s: stream %s not ACTIVE after 60 s" % (target.name, name))
        time.sleep(0.1)


class Runner:
    """Runs eddy-bench and keeps what it started, so it can be stopped."""

    def __init__(self, generator, tmp):
        self.generator = generator
        self.tmp = tmp
        self.proc = None

    def run(self, target, stream, args, key, timeout_s):
        out = os.path.join(self.tmp, "%s-%s.json" % (key, target.name))
        cmd = [self.generator, "--label", target.name, "--stream", stream, "--json", out]
        for e in target.endpoints:
            cmd += ["--endpoint", e]
        for p in target.pids:
            cmd += ["--pid", str(p)]
        cmd += args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        try:
            text, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            text, _ = self.proc.communicate()
            text += "\n(killed after %ds)" % timeout_s
        rc = self.proc.returncode
        self.proc = None
        for line in text.strip().splitlines():
            print("  " + line, flush=True)
        try:
            with open(out) as f:
                rep = json.load(f)
        except (OSError, ValueError):
            rep = None
        if rep is not None:
            rep["exit"] = rc
            rep["command"] = " ".join(shlex.quote(c) for c in cmd)
        return rep

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- table ------------------------------------------------------------------

def lat(rep, key):
    if not rep or not rep.get("latency_ms"):
        return None
    return rep["latency_ms"].get(key)


def fmt_ms(v):
    if v is None:
        return "n/a"
    if v < 1:
        return "%.2f ms" % v
    if v < 10:
        return "%.1f ms" % v
    return "%.0f ms" % v


def fmt_ratio(r):
    """Eddy's advantage: above 1 (bold) Eddy is better."""
    if r is None:
        return "n/a"
    return "**%.1f×**" % r if r >= 1 else "%.2f×" % r


def ratio(a, b):
    return a / b if a and b else None


GOALS = {
    "put100": "≥ 10× kinesalite (≥ 250,000 records/s)",
    "put1k": "≥ 5× kinesalite (≥ 100 MB/s)",
    "putrecord": "p99 ≤ 2 ms, replicated and fsynced",
    "drain": "≥ 10× kinesalite",
    "put-to-get": "(none stated)",
    "push": "p99 ≤ 10 ms with 1 and with 20 consumers",
}


def table_rows(plan, results, peer):
    """[(measure, peer text, eddy text, ratio text, goal)]."""
    rows = []
    for key, label, _, kind in plan:
        k, e = results.get((key, peer)), results.get((key, "eddy"))
        goal = GOALS.get(key.split("-c")[0], "")
        if kind == "records":
            kv = k and k["records_per_s"]
            ev = e and e["records_per_s"]
            rows.append((label, "{:,.0f} records/s".format(kv) if kv else "n/a",
                         "{:,.0f} records/s".format(ev) if ev else "n/a",
                         fmt_ratio(ratio(ev, kv)), goal))
        elif kind == "mb":
            kv = k and k["mb_per_s"]
            ev = e and e["mb_per_s"]
            rows.append((label, "%.1f MB/s" % kv if kv else "n/a",
                         "%.1f MB/s" % ev if ev else "n/a",
                         fmt_ratio(ratio(ev, kv)), goal))
        else:
            kt = "p50 %s, p99 %s" % (fmt_ms(lat(k, "p50")), fmt_ms(lat(k, "p99")))
            et = "p50 %s, p99 %s" % (fmt_ms(lat(e, "p50")), fmt_ms(lat(e, "p99")))
            r50 = ratio(lat(k, "p50"), lat(e, "p50"))
            r99 = ratio(lat(k, "p99"), lat(e, "p99"))
            rt = "p50 %s, p99 %s" % (fmt_ratio(r50), fmt_ratio(r99))
            rows.append((label, kt, et, rt, goal))
    return rows


def push_rows(peer):
    """Rows from docs/bench/push.json, written by tools/bench push --json
    (its "configs": one per subscriber count, with push_ms percentiles), if
    it is there. kinesalite has no SubscribeToShard."""
    try:
        with open(PUSH_JSON) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return []
    rows = []
    for c in doc.get("configs", []) if isinstance(doc, dict) else []:
        p = c.get("push_ms") or {}
        n = c.get("subscribers", "?")
        rows.append(("put-to-push, SubscribeToShard, %s consumer%s (tools/bench push, %s)"
                     % (n, "" if n == 1 else "s", doc.get("date", "?")),
                     "not supported" if peer == "kinesalite" else "n/a",
                     "p50 %s, p99 %s" % (fmt_ms(p.get("p50")), fmt_ms(p.get("p99"))), "",
                     GOALS["push"]))
    return rows


def cpu_rows(plan, results, peer):
    rows = []
    for key, label, _, _ in plan:
        cells = []
        for t in (peer, "eddy"):
            rep = results.get((key, t))
            if not rep:
                cells.append("n/a")
                continue
            rss = max([p["rss_max_mib"] for p in rep.get("server_procs", [])] or [0])
            cells.append("%.0f %% / %.0f MiB / gen %.0f %%" % (rep["server_cpu_pct"], rss,
                                                             rep["client_cpu_pct"]))
        rows.append((label, cells[0], cells[1]))
    return rows


def markdown(meta, rows, cpu, peer):
    out = ["Command: `%s`  " % meta["command"],
           "Date: %s  " % meta["date"],
           "Machine: %s  " % meta["machine"],
           "Load average (1, 5, 15 min) at start %s, at end %s (other work shares the cores)  "
           % (meta["loadavg_start"], meta["loadavg_end"]),
           "Eddy: %s" % meta["build"], "",
           "| measure | %s | Eddy (3 nodes, fsynced on a majority) | Eddy vs %s | goal |"
           % (peer, peer), "|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s |" % " | ".join(r))
    out += ["", "Eddy vs %s: Eddy's rate ÷ %s's for throughput, %s's latency ÷ Eddy's for "
            "latency; above 1 (bold) Eddy is better." % (peer, peer, peer),
            "", "Target CPU (100 % = one core; all three eddyd together) / largest RSS of one "
            "process / the generator's own CPU, in each window:", "",
            "| measure | %s | Eddy |" % peer, "|---|---|---|"]
    for r in cpu:
        out.append("| %s |" % " | ".join(r))
    return "\n".join(out) + "\n"


def print_table(rows, peer):
    w = [max(len(r[i]) for r in rows + [("measure", peer, "eddy", "ratio", "goal")])
         for i in range(4)]
    head = ("measure", peer, "eddy", "eddy / " + peer)
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    for r in rows:
        print("  ".join(r[i].replace("**", "").ljust(w[i]) for i in range(4)))


# ---- profile -----------------------------------------------------------------

def perf_start(pids, seconds, path):
    if not pids:
        return None
    try:
        return subprocess.Popen(["perf", "record", "-F", "499", "-g", "-o", path, "-p",
                                 ",".join(str(p) for p in pids), "--", "sleep", str(seconds)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError as e:
        print("bench: perf not started: %s" % e, flush=True)
        return None


def perf_report(data, out):
    """Top symbols by self time, then the callers of the heaviest ones."""
    base = ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol"]
    try:
        flat = subprocess.run(base + ["--percent-limit", "0.7", "-g", "none"],
                              capture_output=True, text=True, timeout=300).stdout
        calls = subprocess.run(base + ["--percent-limit", "2", "-g", "caller,0.5,callee,function",
                                       "--max-stack", "12"],
                               capture_output=True, text=True, timeout=300).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        print("bench: perf report failed: %s" % e)
        return

    def clean(text, limit):
        lines = [re.sub(r"(\s+-)+\s*$", "", l.rstrip()) for l in text.splitlines()]
        return [l for l in lines if l.strip() and not l.startswith("#")][:limit]

    with open(out, "w") as f:
        f.write("perf record -F 499 -g of the three eddyd during the PutRecords 100 B window;\n"
                "perf report --no-children --sort dso,symbol (self time, >= 0.7 %):\n\n")
        f.write("\n".join(clean(flat, 60)) + "\n\n")
        f.write("Callers of the symbols above 2 % (-g caller):\n\n")
        f.write("\n".join(clean(calls, 400)) + "\n")
    print("bench: profile written to %s" % out)


def write_outputs(out_dir, meta, plan, results, peer):
    """Prints the table and writes compare.json, compare.md and the charts."""
    rows = table_rows(plan, results, peer) + push_rows(peer)
    cpu = cpu_rows(plan, results, peer)
    print()
    print_table(rows, peer)
    os.makedirs(out_dir, exist_ok=True)
    doc = {"meta": meta, "plan": [{"key": k, "label": l, "args": a, "kind": kd}
                                  for k, l, a, kd in plan],
           "results": [r for r in (results.get((k, t)) for k, _, _, _ in plan
                                   for t in (peer, "eddy")) if r]}
    with open(os.path.join(out_dir, "compare.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(out_dir, "compare.md"), "w") as f:
        f.write(markdown(meta, rows, cpu, peer))
    targets_order = [peer, "eddy"]
    bar_rows = []
    for key, label, _, kind in plan:
        if kind in ("records", "mb"):
            field, unit = ("records_per_s", "records/s") if kind == "records" else \
                ("mb_per_s", "MB/s")
            bar_rows.append((label, unit, {t: (results.get((key, t)) or {}).get(field)
                                           for t in targets_order}))
    with open(os.path.join(out_dir, "throughput.svg"), "w") as f:
        f.write(charts.bars(bar_rows, targets_order, "Throughput, %s vs Eddy (3 nodes)" % peer))
    for key, name, title in (("putrecord", "latency-putrecord.svg",
                              "PutRecord latency, one client, sequential"),
                             ("put-to-get", "latency-put-to-get.svg",
                              "put-to-get latency, polling GetRecords")):
        series = [(t, (results.get((key, t)) or {}).get("latency_ms")) for t in targets_order]
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(charts.cdf(series, title))
    print("\nbench: results in %s (compare.json, compare.md, *.svg); %ds"
          % (out_dir, meta.get("seconds", 0)))


def render(out_dir):
    """--render: the table and charts again from out_dir/compare.json (after
    docs/bench/push.json changed, say), without running anything."""
    with open(os.path.join(out_dir, "compare.json")) as f:
        doc = json.load(f)
    meta = doc["meta"]
    peer = meta.get("peer", "kinesalite").split()[0]
    plan = [(p["key"], p["label"], p["args"], p["kind"]) for p in doc["plan"]]
    results = {}
    pending = list(doc["results"])
    for key, _, _, _ in plan:
        for t in (peer, "eddy"):
            for r in pending:
                if r.get("key", key) == key and r["target"] == t:
                    results[(key, t)] = r
                    pending.remove(r)
                    break
    meta.setdefault("loadavg_start", "?")
    meta.setdefault("loadavg_end", "?")
    write_outputs(out_dir, meta, plan, results, peer)
    return 0


# ---- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compare", default="kinesalite", choices=["kinesalite"],
                    help="the peer (default kinesalite)")
    ap.add_argument("--quick", action="store_true", help="shorter windows, one concurrency")
    ap.add_argument("--eddyd", help="eddyd to run (default: build build/release and use it)")
    ap.add_argument("--generator", help="eddy-bench (default: next to eddyd)")
    ap.add_argument("--out", help="results dir (default docs/bench, or docs/bench/quick)")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--perf", action="store_true", help="profile eddyd during PutRecords 100 B")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs)")
    ap.add_argument("--render", metavar="DIR",
                    help="only redo the table and charts from DIR/compare.json")
    args = ap.parse_args()
    if args.render:
        return render(args.render)
    if not 1 <= args.shards <= 64:
        ap.error("--shards: 1..64")
    peer = args.compare
    command = " ".join(["tools/bench"] + [shlex.quote(a) for a in sys.argv[1:]])
    out_dir = args.out or os.path.join(benchlib.REPO, "docs", "bench",
                                       "quick" if args.quick else "")
    started = time.monotonic()

    # SIGTERM (timeout, a parent script) unwinds like Ctrl-C: the finally
    # below stops everything.
    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)

    eddyd = args.eddyd
    if eddyd is None:
        benchlib.build_release()
        eddyd = os.path.join(benchlib.REPO, "build", "release", "eddyd")
    generator = args.generator or os.path.join(os.path.dirname(os.path.abspath(eddyd)),
                                               "eddy-bench")
    if not os.access(generator, os.X_OK):
        sys.exit("bench: no eddy-bench at %s (it is built with eddyd; or --generator)" % generator)
    cli = install_kinesalite()
    build = benchlib.use_binaries(eddyd)
    gen_copy = os.path.join(harness.tmp_root(), "bin", "eddy-bench")
    subprocess.run(["cp", generator, gen_copy], check=True)
    meta = {"command": command, "date": benchlib.now_utc(), "machine": machine(),
            "build": build, "peer": "%s %s (LevelDB on disk, node %s)"
            % (peer, KINESALITE_VERSION,
               subprocess.run(["node", "--version"], capture_output=True,
                              text=True).stdout.strip()),
            "shards": args.shards, "quick": args.quick,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    print("bench compare: %s\n  machine: %s\n  eddy: %s\n  peer: %s"
          % (meta["date"], meta["machine"], build, meta["peer"]), flush=True)

    plan = workloads(args.quick)
    results = {}
    tmp = tempfile.mkdtemp(prefix="eddy-bench-", dir=harness.tmp_root())
    kl = Kinesalite(cli, os.path.join(tmp, "kinesalite"))
    cl = harness.Cluster("bench", n=3)
    runner = Runner(gen_copy, tmp)
    perf_proc = None
    ok = False
    try:
        kl.start()
        cl.start()
        cl.wait_healthy(60)
        targets = {peer: Target(peer, [kl.endpoint], [kl.proc.pid]),
                   "eddy": Target("eddy", cl.endpoints(), [n.proc.pid for n in cl.nodes])}
        for i, (key, label, wargs, kind) in enumerate(plan):
            order = [peer, "eddy"] if i % 2 == 0 else ["eddy", peer]
            print("\n== %s (%.0fs)" % (label, time.monotonic() - started), flush=True)
            for tname in order:
                t = targets[tname]
                stream = "bench-%s" % key
                create_stream(t, stream, args.shards)
                if key == "drain":
                    n = drain_records(args.quick)
                    runner.run(t, stream, ["--workload", "put", "--record-bytes", "100",
                                           "--batch", "500", "--connections", "8",
                                           "--total-records", str(n)], key + "-fill", 300)
                secs = 0
                if "--seconds" in wargs:
                    secs = float(wargs[wargs.index("--seconds") + 1]) + float(
                        wargs[wargs.index("--warmup") + 1])
                if args.perf and tname == "eddy" and key.startswith("put100") and \
                        perf_proc is None:
                    perf_proc = perf_start(t.pids, secs, os.path.join(tmp, "perf.data"))
                rep = runner.run(t, stream, wargs + ["--timeout", str(int(secs + 120))], key,
                                 secs + 180)
                if rep is not None:
                    rep["shards"] = args.shards
                    rep["key"] = key
                results[(key, tname)] = rep
        ok = True
    except KeyboardInterrupt:
        print("bench: interrupted", flush=True)
    finally:
        runner.stop()
        if perf_proc is not None:
            try:
                perf_proc.wait(60)
            except subprocess.TimeoutExpired:
                perf_proc.kill()
                perf_proc.wait()
        kl.stop()
        cl.stop_all_nodes()
        for p in harness.stop_all():
            print("problem: %s" % p.splitlines()[0])
        if ok and perf_proc is not None:
            os.makedirs(out_dir, exist_ok=True)
            perf_report(os.path.join(tmp, "perf.data"), os.path.join(out_dir, "profile-put.txt"))
        if args.keep or not ok:
            print("bench: logs and data kept in %s" % harness.tmp_root())
        harness.cleanup_tmp(args.keep or not ok)
    if not ok:
        return 1

    meta["seconds"] = round(time.monotonic() - started)
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    write_outputs(out_dir, meta, plan, results, peer)
    failed = [k for k in results if results[k] is None or results[k].get("exit") != 0]
    if failed:
        print("bench: runs that did not complete: %s" % ", ".join("%s/%s" % k for k in failed))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
