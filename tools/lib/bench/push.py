"""Put-to-push latency of SubscribeToShard on a three-node cluster.

A fresh three-node cluster (release eddyd, all roles on every node). For
each subscriber count N (1 and 20 by default), on the same cluster:
  1. create a stream with one shard and register N consumers;
  2. start tools/lib/bench/push.mjs: N SubscribeToShard calls from LATEST through
     the AWS SDK for JavaScript v3 over h2c, one client (one HTTP/2
     connection) per consumer, to one gateway;
  3. put records through the same gateway at a steady rate (PutRecord, one
     record each, from this process: raw HTTP/1.1 keep-alive connections,
     SigV4-signed, asyncio, a schedule of fixed send times). Each record's
     Data is "INDEX STAMP_NS" padded, STAMP_NS = CLOCK_REALTIME just before
     the request is written;
  4. each subscriber records receive time - STAMP_NS per record; the putter
     records STAMP_NS -> response read (the put acknowledgement). The first
     --warmup-s of records are left out of both.
Prints, per N, the push and the ack latency percentiles (nearest rank) and
push minus ack per record (what delivery adds to the commit), a check that
every subscriber got every record once, all in the same order with rising
sequence numbers, and what the machine did meanwhile: CPU of every
process, their run-queue waits, CPU and I/O pressure (PSI). Before the
cluster starts it probes the data dir's durable 4 KiB write latency (what
a Raft append waits for). Writes the lot, with histograms, to --json.
--perf-trace adds a `perf trace -s` syscall summary of every eddyd.

    tools/bench push [--subscribers 1,20] [--rate 200] [--seconds 30]
                     [--via follower|leader] [--eddyd PATH] [--json FILE]
"""

import argparse
import asyncio
import base64
import bisect
import datetime
import hashlib
import hmac
import json
import mmap
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PUSH_MJS = os.path.join(HERE, "push.mjs")
SHARD0 = "shardId-000000000000"
CONSUMERS_CREATING_MAX = 5  # AWS: at most 5 consumers in CREATING per stream
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Histogram bucket upper bounds (ms): 0.25 ms steps to 20 ms, 1 ms to 100 ms,
# 10 ms to 1 s, then one bucket for the rest.
BUCKETS_MS = ([round(0.25 * i, 2) for i in range(1, 81)] + list(range(21, 101))
              + list(range(110, 1001, 10)))


# ---- SigV4 for the raw putter (what botocore does, without its per-call cost) ----

def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class Signer:
    def __init__(self, host):
        self.host = host
        self.keys = {}

    def headers(self, target, body):
        t = datetime.datetime.now(datetime.timezone.utc)
        amz_date = t.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        key = self.keys.get(day)
        if key is None:
            key = _hmac(_hmac(_hmac(_hmac(("AWS4" + harness.SECRET_KEY).encode(), day),
                                    harness.REGION), "kinesis"), "aws4_request")
            self.keys = {day: key}
        payload_hash = hashlib.sha256(body).hexdigest()
        ctype = "application/x-amz-json-1.1"
        canon_headers = ("content-type:%s\nhost:%s\nx-amz-date:%s\nx-amz-target:%s\n"
                         % (ctype, self.host, amz_date, target))
        signed = "content-type;host;x-amz-date;x-amz-target"
        canon = "POST\n/\n\n%s\n%s\n%s" % (canon_headers, signed, payload_hash)
        scope = "%s/%s/kinesis/aws4_request" % (day, harness.REGION)
        sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz_date, scope,
                                                 hashlib.sha256(canon.encode()).hexdigest())
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        auth = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                % (harness.ACCESS_KEY, scope, signed, sig))
        return ("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n"
                "X-Amz-Target: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n"
                % (self.host, ctype, amz_date, target, auth, len(body))).encode()


# ---- the putter ----

class PutConn:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, head, body):
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        resp = await self.reader.readexactly(length) if length else b""
        parts = status_line.split(None, 2)
        return int(parts[1]) if len(parts) >= 2 else 0, resp

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def put_steady(endpoint, stream, rate, seconds, record_bytes, conns_max=16):
    """PutRecord at fixed send times t0 + i / rate for seconds. Returns
    [(index, stamp_ns, ack_ms or None, late_ms, error)]."""
    host, port = endpoint.split("://", 1)[1].split(":")
    port = int(port)
    signer = Signer("%s:%d" % (host, port))
    target = harness.TARGET_PREFIX + "PutRecord"
    idle = asyncio.Queue()
    conns = []
    for _ in range(4):
        c = PutConn(host, port)
        await c.open()
        conns.append(c)
        idle.put_nowait(c)
    count = int(rate * seconds)
    results = [None] * count
    pad = record_bytes

    async def one(i, c):
        stamp_ns = time.time_ns()
        t0 = time.perf_counter_ns()
        data = ("%d %d " % (i, stamp_ns)).encode()
        data = data + b"x" * max(0, pad - len(data))
        body = json.dumps({"StreamName": stream, "PartitionKey": "pk%d" % (i % 64),
                           "Data": base64.b64encode(data).decode()}).encode()
        err = None
        ack = None
        try:
            status, resp = await c.request(signer.headers(target, body), body)
            if status == 200:
                ack = (time.perf_counter_ns() - t0) / 1e6
            else:
                err = "HTTP %d %s" % (status, resp[:200].decode("utf-8", "replace"))
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            err = "%s: %s" % (type(e).__name__, e)
            c.close()
            c = PutConn(host, port)
            try:
                await c.open()
                conns.append(c)
            except OSError:
                c = None
        if c is not None:
            idle.put_nowait(c)
        return stamp_ns, ack, err

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []

    async def scheduled(i, at):
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if idle.empty() and len(conns) < conns_max:
            c = PutConn(host, port)
            await c.open()
            conns.append(c)
        else:
            c = await idle.get()
        late_ms = (loop.time() - at) * 1000
        stamp_ns, ack, err = await one(i, c)
        results[i] = (i, stamp_ns, ack, round(late_ms, 3), err)

    for i in range(count):
        at = start + i / rate
        # Create tasks a little ahead of their time, not all at once.
        while loop.time() < at - 0.2:
            await asyncio.sleep(0.1)
        tasks.append(asyncio.create_task(scheduled(i, at)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    for c in conns:
        c.close()
    return results


# ---- measurements ----

def cpu_ticks(pid):
    """utime + stime of pid (all threads) in clock ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def sched_stats(pid):
    """(run_delay_ns, timeslices) summed over pid's threads: time spent
    runnable but waiting for a CPU (/proc/PID/task/TID/schedstat), or None."""
    delay = slices = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                _, d, n = f.read().split()[:3]
            delay += int(d)
            slices += int(n)
        except (OSError, ValueError):
            continue
    return delay, slices


def pressure():
    """{"cpu": some total us, "io": some total us, "io_full": ...} from PSI, or {}."""
    out = {}
    for res in ("cpu", "io"):
        try:
            with open("/proc/pressure/%s" % res) as f:
                for line in f:
                    kind, rest = line.split(None, 1)
                    total = int(rest.rsplit("total=", 1)[1])
                    out[res if kind == "some" else res + "_full"] = total
        except (OSError, ValueError, IndexError):
            continue
    return out


def disk_probe(directory, count=1000, interval_s=0.005):
    """Latency of durable 4 KiB writes (O_DIRECT when the file system has it,
    O_DSYNC: what a Raft append waits for) in directory, one every
    interval_s, as percentiles in ms."""
    path = os.path.join(directory, "push-disk-probe")
    flags = os.O_CREAT | os.O_WRONLY | os.O_DSYNC
    try:
        fd = os.open(path, flags | os.O_DIRECT, 0o600)
        direct = True
    except OSError:
        fd = os.open(path, flags, 0o600)
        direct = False
    buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
    buf.write(b"p" * 4096)
    lat = []
    try:
        for i in range(count):
            t = time.perf_counter()
            os.pwrite(fd, buf, (i % 2048) * 4096)
            lat.append((time.perf_counter() - t) * 1000)
            time.sleep(interval_s)
    finally:
        os.close(fd)
        os.unlink(path)
    out = percentiles(lat)
    out["o_direct"] = direct
    return out


def percentiles(xs):
    if not xs:
        return None
    s = sorted(xs)
    p = benchlib.percentile
    return {"n": len(s), "min": round(s[0], 3), "p50": round(p(s, 50), 3),
            "p90": round(p(s, 90), 3), "p99": round(p(s, 99), 3),
            "p99.9": round(p(s, 99.9), 3), "max": round(s[-1], 3)}


def histogram(xs):
    """[(upper bound ms or None for the rest, count)] without empty buckets."""
    counts = [0] * (len(BUCKETS_MS) + 1)
    for x in xs:
        counts[bisect.bisect_left(BUCKETS_MS, x)] += 1
    return [[BUCKETS_MS[i] if i < len(BUCKETS_MS) else None, n]
            for i, n in enumerate(counts) if n]


# ---- one configuration ----

def wait_active_stream(r, stream, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        d = r.call("describe_stream_summary", StreamName=stream)[0]["StreamDescriptionSummary"]
        if d["StreamStatus"] == "ACTIVE":
            return d["StreamARN"]
        if time.monotonic() > deadline:
            raise RuntimeError("stream %s not ACTIVE" % stream)
        time.sleep(0.1)


def register_consumers(r, stream_arn, n, timeout_s=60):
    """n consumers, at most 5 in CREATING at a time; returns their ARNs once ACTIVE."""
    arns = []
    deadline = time.monotonic() + timeout_s
    for base in range(0, n, CONSUMERS_CREATING_MAX):
        batch = []
        for i in range(base, min(n, base + CONSUMERS_CREATING_MAX)):
            c = r.call("register_stream_consumer", StreamARN=stream_arn,
                       ConsumerName="bench-%02d" % i)[0]
            batch.append(c["Consumer"]["ConsumerARN"])
        for arn in batch:
            while r.call("describe_stream_consumer", ConsumerARN=arn)[0][
                    "ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
                if time.monotonic() > deadline:
                    raise RuntimeError("consumer %s not ACTIVE" % arn)
                time.sleep(0.1)
        arns.extend(batch)
    return arns


def read_line(proc, timeout_s):
    """The next stdout line of proc within timeout_s, or None."""
    box = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else None


def run_config(cl, args, nsubs, tag):
    r = harness.Retrier(cl.endpoints(), attempts=20)
    stream = "push-%d-%s" % (nsubs, tag)
    r.call("create_stream", StreamName=stream, ShardCount=1)
    stream_arn = wait_active_stream(r, stream)
    deadline = time.monotonic() + 20
    while cl.shard_group(stream, 0) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("no data dir holds the stream's shard")
        time.sleep(0.1)
    group = cl.shard_group(stream, 0)
    leader = cl.leader_of(group)
    if args.via == "leader":
        gw = leader
    else:
        gw = next(n for n in cl.nodes if n is not leader)
    arns = register_consumers(r, stream_arn, nsubs)
    print("N=%d: stream %s on group %d, leader n%d; clients use the gateway of n%d (%s)"
          % (nsubs, stream, group, leader.node_id, gw.node_id, args.via), flush=True)

    node = os.environ.get("NODE", "node")
    cfg = {"endpoint": gw.endpoint, "shard": SHARD0, "arns": arns,
           "timeout_ms": int((args.seconds + 60) * 1000), "grace_ms": 10000}
    sub = subprocess.Popen([node, PUSH_MJS, json.dumps(cfg)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=harness._die_with_parent)
    try:
        line = read_line(sub, 60)
        if line is None or line.strip() != "ready":
            sub.kill()
            raise RuntimeError("subscribers not ready: %r %s" % (line, sub.stderr.read()[-2000:]))
        time.sleep(0.5)  # let every subscription's first parked read reach the leader
        pids = {"n%d" % n.node_id: n.proc.pid for n in cl.nodes}
        pids["subscribers (node)"] = sub.pid
        cpu0 = {k: cpu_ticks(p) for k, p in pids.items()}
        sched0 = {k: sched_stats(p) for k, p in pids.items()}
        psi0 = pressure()
        self0 = os.times()
        t0 = time.monotonic()
        tracer = None
        if args.perf_trace:
            # System calls of every eddyd during the middle of the run: count
            # and time per call (fdatasync, writes, epoll waits...).
            trace_path = os.path.join(harness.tmp_root(), "perf-trace-%d.txt" % nsubs)
            tracer = subprocess.Popen(
                ["perf", "trace", "-s", "-o", trace_path, "-p",
                 ",".join(str(n.proc.pid) for n in cl.nodes)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=harness._die_with_parent)
        try:
            puts = asyncio.run(put_steady(gw.endpoint, stream, args.rate, args.seconds,
                                          args.record_bytes))
        finally:
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                try:
                    tracer.wait(20)
                except subprocess.TimeoutExpired:
                    tracer.kill()
                    tracer.wait()
        wall = time.monotonic() - t0
        self1 = os.times()
        psi1 = pressure()
        sched1 = {k: sched_stats(p) for k, p in pids.items()}
        cpu1 = {k: cpu_ticks(p) for k, p in pids.items()}
        loadavg = open("/proc/loadavg").read().split()[:3]
        sub.stdin.write("end %d\n" % len(puts))
        sub.stdin.flush()
        line = read_line(sub, 30)
        if not line:
            raise RuntimeError("no result from the subscribers: %s" % sub.stderr.read()[-2000:])
        res = json.loads(line)
    finally:
        if sub.poll() is None:
            sub.kill()
        sub.wait()

    warm = int(args.warmup_s * args.rate)
    errors = [p for p in puts if p[4] is not None]
    acks = [p[2] for p in puts if p[2] is not None and p[0] >= warm]
    late = [p[3] for p in puts]
    pushed = []
    per_sub = []
    problems = []
    ack_of = {p[0]: p[2] for p in puts}
    push_minus_ack = []  # per record and subscriber: delivery beyond the put's own answer
    for s in res["subscribers"]:
        lat = [x for x, i in zip(s["lat_ms"], s["idx"]) if i >= warm]
        push_minus_ack.extend(x - ack_of[i] for x, i in zip(s["lat_ms"], s["idx"])
                              if i >= warm and ack_of.get(i) is not None)
        pushed.extend(lat)
        per_sub.append(percentiles(lat))
        missing = len(puts) - s["unique"]
        # Every subscriber sees the shard's one order.
        differs = s["idx"] != res["subscribers"][0]["idx"]
        if s["error"] or s["dups"] or s["out_of_order"] or missing or differs:
            problems.append("subscriber %s: %d of %d records, %d duplicates, %d sequence numbers "
                            "out of order, %s, error %s"
                            % (s["arn"].rsplit("/", 1)[-1], s["unique"], len(puts), s["dups"],
                               s["out_of_order"],
                               "order differs from subscriber 0" if differs else "same order",
                               s["error"]))
    cpu = {k: (None if cpu0[k] is None or cpu1[k] is None
               else round((cpu1[k] - cpu0[k]) / CLK_TCK / wall * 100, 1)) for k in pids}
    cpu["putter (python)"] = round((self1.user + self1.system - self0.user - self0.system)
                                   / wall * 100, 1)
    run_delay = {}
    for k in pids:
        if sched0[k] is None or sched1[k] is None:
            continue
        d = sched1[k][0] - sched0[k][0]
        n = max(1, sched1[k][1] - sched0[k][1])
        run_delay[k] = {"ms_per_s": round(d / 1e6 / wall, 2), "us_per_wakeup": round(d / 1e3 / n, 1)}
    psi = {k: round((psi1[k] - psi0[k]) / 1e4 / wall, 2) for k in psi0 if k in psi1}
    out = {
        "subscribers": nsubs,
        "stream_group": group,
        "leader": "n%d" % leader.node_id,
        "gateway": "n%d" % gw.node_id,
        "via": args.via,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "record_bytes": args.record_bytes,
        "records_put": len(puts),
        "put_errors": len(errors),
        "put_error_samples": [p[4] for p in errors[:5]],
        "warmup_records_excluded": warm,
        "push_ms": percentiles(pushed),
        "push_hist_ms": histogram(pushed),
        "push_p50_ms_per_subscriber": sorted(p["p50"] for p in per_sub if p),
        "push_p99_ms_per_subscriber": sorted(p["p99"] for p in per_sub if p),
        "push_minus_ack_ms": percentiles(push_minus_ack),
        "ack_ms": percentiles(acks),
        "ack_hist_ms": histogram(acks),
        "put_send_late_ms": percentiles(late),
        "events": sum(s["events"] for s in res["subscribers"]),
        "empty_events": sum(s["empty_events"] for s in res["subscribers"]),
        "max_records_per_event": max(s["max_records_per_event"] for s in res["subscribers"]),
        "cpu_percent_of_one_core": cpu,
        "cpu_run_queue_wait": run_delay,
        "pressure_percent_of_time": psi,
        "loadavg_at_end": loadavg,
        "subscriber_event_loop_delay_ms": res["event_loop_delay_ms"],
        "clock_check": res.get("clock_check"),
        "problems": problems,
    }
    print_config(out)
    for c in arns:
        try:
            r.call("deregister_stream_consumer", ConsumerARN=c)
        except Exception:  # noqa: BLE001 - best effort, the cluster goes away next
            pass
    r.call("delete_stream", StreamName=stream, EnforceConsumerDeletion=True)
    return out


def fmt(p):
    return ("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms (n=%d)"
            % (p["p50"], p["p90"], p["p99"], p["p99.9"], p["max"], p["n"]) if p else "none")


def print_config(o):
    print("  put -> push   %s" % fmt(o["push_ms"]))
    print("  put -> ack    %s" % fmt(o["ack_ms"]))
    print("  push - ack    %s" % fmt(o["push_minus_ack_ms"]))
    for q in ("p50", "p99"):
        print("  per-subscriber %s (ms): %s" % (q, ", ".join(
            "%.2f" % x for x in o["push_%s_ms_per_subscriber" % q])))
    print("  events %d (%d empty), at most %d records per event; put errors %d; sends late "
          "p99 %.2f ms" % (o["events"], o["empty_events"], o["max_records_per_event"],
                           o["put_errors"], o["put_send_late_ms"]["p99"]))
    print("  CPU %% of one core: %s" % ", ".join("%s %s" % kv
                                                for kv in o["cpu_percent_of_one_core"].items()))
    print("  run-queue wait: %s" % ", ".join(
        "%s %.1f ms/s (%.0f us/wakeup)" % (k, v["ms_per_s"], v["us_per_wakeup"])
        for k, v in o["cpu_run_queue_wait"].items()))
    print("  machine: PSI %% of time %r, load %s" % (o["pressure_percent_of_time"],
                                                   " ".join(o["loadavg_at_end"])))
    print("  subscriber event loop delay: %r; clock check %r"
          % (o["subscriber_event_loop_delay_ms"], o["clock_check"]))
    for p in o["problems"]:
        print("  PROBLEM: %s" % p)
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subscribers", default="1,20",
                    help="comma-separated subscriber counts, each 1..20 (default 1,20)")
    ap.add_argument("--rate", type=float, default=200, help="puts per second (default 200)")
    ap.add_argument("--seconds", type=float, default=30, help="put duration (default 30)")
    ap.add_argument("--warmup-s", type=float, default=1.0,
                    help="leave out the records of the first S seconds (default 1)")
    ap.add_argument("--record-bytes", type=int, default=100)
    ap.add_argument("--via", choices=("follower", "leader"), default="follower",
                    help="clients use the gateway of a node that does not (default) or does "
                         "lead the shard's group")
    ap.add_argument("--eddyd", help="eddyd to run (default: build build/release and use it)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--perf-trace", action="store_true",
                    help="run perf trace -s on every eddyd during each run (slows them; for "
                         "finding where time goes, not for the numbers); the summaries stay "
                         "in the temp dir, which is kept")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    args = ap.parse_args()
    counts = [int(x) for x in args.subscribers.split(",") if x.strip()]
    if not counts or any(not 1 <= n <= 20 for n in counts):
        ap.error("--subscribers: counts 1..20")
    if not 1 <= args.rate <= 2000 or not 1 <= args.seconds <= 300:
        ap.error("--rate 1..2000, --seconds 1..300")
    if not 48 <= args.record_bytes <= 1024 * 1024:
        ap.error("--record-bytes 48..1048576")

    # SIGTERM unwinds like Ctrl-C, so the finally below stops every process.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    eddyd = args.eddyd
    if eddyd is None:
        benchlib.build_release()
        eddyd = os.path.join(benchlib.REPO, "build", "release", "eddyd")
    build = benchlib.use_binaries(eddyd)
    node_version = subprocess.run([os.environ.get("NODE", "node"), "--version"],
                                  capture_output=True, text=True).stdout.strip()
    print("bench push: %s; %s; node %s; %s" % (build, benchlib.machine(), node_version,
                                               benchlib.now_utc()), flush=True)
    cl = harness.Cluster("push", n=3)
    results = []
    disk = None
    ok = False
    try:
        # The data dirs' file system, before the cluster runs.
        disk = disk_probe(harness.tmp_root())
        print("disk: durable 4 KiB writes (%s): %s" % (
            "O_DIRECT|O_DSYNC" if disk["o_direct"] else "O_DSYNC", fmt(disk)), flush=True)
        cl.start()
        cl.wait_healthy(60)
        time.sleep(3)  # let the balancer's first leadership moves finish
        cl.wait_healthy(60)
        tag = "%x" % (int(time.time()) & 0xffffff)
        for n in counts:
            results.append(run_config(cl, args, n, tag))
        ok = True
    finally:
        cl.stop_all_nodes()
        problems = harness.stop_all()
        for p in problems:
            print("problem: %s" % p.splitlines()[0])
        keep = args.keep or args.perf_trace or not ok
        if keep:
            print("bench: logs and data kept in %s" % harness.tmp_root())
        harness.cleanup_tmp(keep)

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"build": build, "machine": benchlib.machine(), "node": node_version,
                       "date": benchlib.now_utc(), "command": " ".join(["tools/bench push"] + sys.argv[1:]),
                       "data_dir_durable_write_ms": disk,
                       "configs": results}, f, indent=1)
            f.write("\n")
    return 0 if ok and all(not r["problems"] and not r["put_errors"] for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench push: interrupted", file=sys.stderr)
        sys.exit(130)
