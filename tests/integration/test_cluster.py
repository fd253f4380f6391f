"""Three-process clusters (issue 3): every node runs all roles on its own
ports and data dir, with one --peers list, as tools/up runs them.

  a. SIGKILL the leader of a shard group during a PutRecords load from boto3
     threads spread over the three gateways: every acknowledged record is
     read back exactly once, at its acknowledged shard and sequence number,
     in order per shard, through each surviving gateway.
  b. SIGKILL the coordinator leader during CreateStream/DeleteStream calls:
     every acknowledged stream exists and becomes ACTIVE whole (or is gone
     if its DeleteStream was acknowledged), and every gateway agrees.
  c. Restart the killed node: it catches up, serves writes through its
     gateway and returns all data; segment files equal across the replicas.
  d. Stop a node, wipe its data dir, restart it: it rejoins every group and
     holds the same segment contents (after a snapshot, so it must hydrate);
     then the data survives losing another node.
  e. Two of three nodes down: writes through the remaining gateway fail with
     a 5xx AWS error in bounded time, and succeed again once one returns.

Clients retry like the SDKs (throttling, 5xx, connection errors; backoff;
a connection error moves the client to the next gateway). A record whose
attempt failed indeterminately (5xx, dropped connection, a per-record
InternalFailure) may appear once more than acknowledged: that is the
documented at-least-once of Kinesis producers, counted and printed, never a
failure. Anything else is a failure: an acknowledged record missing, moved,
changed or read twice, a record never sent, sequence numbers going
backwards, gateways disagreeing.
"""

import collections
import itertools
import json
import os
import sys
import threading
import time
import unittest

import botocore.exceptions

from harness import (Cluster, GATEWAY_ERRORS_5XX, Retrier, client, describe_failure,
                     even_ranges, failure_kind, format_statuses, shard_digests, tmp_root,
                     unique_name)

RECORD_PAD = b"." * 96  # payload: b"r%09d-" + pad (107 bytes)


def info(msg):
    """A progress note on stderr: it shows up before the test's PASS/FAIL
    line in run.py's output (and in tools/test's)."""
    sys.stderr.write("  [cluster] %s\n" % msg)
    sys.stderr.flush()


def retrier(cluster, nodes=None, start=0, **kw):
    return Retrier(cluster.endpoints(nodes), start=start, **kw)


def create_stream_active(r, name, shards, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    try:
        r.call("create_stream", StreamName=name, ShardCount=shards)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException" or not e.eddy_kinds:
            raise
    while time.monotonic() < deadline:
        s, _ = r.call("describe_stream_summary", StreamName=name)
        if s["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return s["StreamDescriptionSummary"]
        time.sleep(0.1)
    raise AssertionError("stream %s not ACTIVE after %ds" % (name, timeout_s))


def shard_group_of(cluster, stream, index, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        g = cluster.shard_group(stream, index)
        if g is not None:
            return g
        if time.monotonic() > deadline:
            raise AssertionError("no data dir holds %s shard %d after %ds"
                                 % (stream, index, timeout_s))
        time.sleep(0.1)


class PutLoad:
    """writers threads, each sending PutRecords batches of batch records
    through the cluster's gateways (writer w starts at gateway w % n),
    sequentially, retrying like an SDK and resending only the records that
    came back with a per-record error. Bounded by max_batches per writer and
    by time_limit_s. Keeps the history the checker needs."""

    def __init__(self, endpoints, stream, writers=4, batch=50, max_batches=2000,
                 time_limit_s=60, pad=RECORD_PAD, first_id=0):
        self.endpoints = list(endpoints)
        self.stream = stream
        self.writers = writers
        self.batch = batch
        self.max_batches = max_batches
        self.time_limit_s = time_limit_s
        self.pad = pad
        self.ids = itertools.count(first_id)
        self.lock = threading.Lock()
        self.acked = {}  # id -> (ShardId, SequenceNumber)
        self.ack_time = {}  # id -> monotonic time of its ack
        self.maybe = set()  # ids with an indeterminate attempt
        self.attempted = set()
        self.gave_up = set()  # ids whose attempts ran out unacknowledged
        self.order = collections.defaultdict(list)  # writer -> [(shard, seq, id)] in ack order
        self.failures = []  # every failed attempt, from all writers
        self.fatal = []  # errors no SDK retries
        self.stop_ev = threading.Event()
        self.threads = []
        self.history = []  # one JSON-able dict per attempt (see save_history)

    def data(self, i):
        return b"r%09d-" % i + self.pad

    @staticmethod
    def id_of(data):
        return int(data[1:10])

    def start(self):
        self.t0 = time.monotonic()
        for w in range(self.writers):
            t = threading.Thread(target=self._writer, args=(w,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _attempt(self, w, ep, op, kwargs, t0, t1, resp, err):
        ids = [self.id_of(x["Data"]) for x in kwargs["Records"]]
        h = {"w": w, "t0": round(t0 - self.t0, 4), "t1": round(t1 - self.t0, 4), "ep": ep,
             "ids": ids}
        if err is not None:
            h["error"] = describe_failure(err)
            h["kind"] = failure_kind(err)
        else:
            h["results"] = [[x.get("ShardId"), x.get("SequenceNumber"), x.get("ErrorCode")]
                            for x in resp["Records"]]
            h["request_id"] = resp["ResponseMetadata"].get("RequestId")
        with self.lock:
            self.history.append(h)

    def save_history(self, path):
        with self.lock, open(path, "w") as f:
            for h in self.history:
                f.write(json.dumps(h) + "\n")

    def _writer(self, w):
        r = Retrier(self.endpoints, attempts=10, start=w, timeout_s=15,
                    on_attempt=lambda *a: self._attempt(w, *a))
        deadline = self.t0 + self.time_limit_s
        try:
            for _ in range(self.max_batches):
                if self.stop_ev.is_set() or time.monotonic() > deadline:
                    return
                with self.lock:
                    pending = [next(self.ids) for _ in range(self.batch)]
                    self.attempted.update(pending)
                tries = 0
                while pending and tries < 10:
                    tries += 1
                    recs = [{"PartitionKey": "pk-%d" % i, "Data": self.data(i)} for i in pending]
                    try:
                        resp, kinds = r.call("put_records", deadline=deadline + 30,
                                             StreamName=self.stream, Records=recs)
                    except (botocore.exceptions.BotoCoreError,
                            botocore.exceptions.ClientError) as e:
                        kinds = getattr(e, "eddy_kinds", [])
                        with self.lock:
                            if "indeterminate" in kinds or failure_kind(e) == "indeterminate":
                                self.maybe.update(pending)
                            if failure_kind(e) is None:
                                self.fatal.append("writer %d: %s" % (w, describe_failure(e)))
                                return
                        time.sleep(0.1)
                        continue
                    now = time.monotonic()
                    retry = []
                    with self.lock:
                        if "indeterminate" in kinds:
                            self.maybe.update(pending)
                        for i, rec in zip(pending, resp["Records"]):
                            if "ErrorCode" in rec:
                                retry.append(i)
                                if rec["ErrorCode"] != "ProvisionedThroughputExceededException":
                                    self.maybe.add(i)
                                self.failures.append((now, r.endpoint, "put_records[i]",
                                                      rec["ErrorCode"], rec.get("ErrorMessage")))
                            else:
                                self.acked[i] = (rec["ShardId"], rec["SequenceNumber"])
                                self.ack_time[i] = now
                                self.order[w].append((rec["ShardId"], int(rec["SequenceNumber"]), i))
                        if len(resp["Records"]) != len(pending):
                            self.fatal.append("writer %d: PutRecords returned %d results for %d"
                                              % (w, len(resp["Records"]), len(pending)))
                            return
                    pending = retry
                    if pending:
                        time.sleep(0.1)
                with self.lock:
                    self.gave_up.update(pending)
        finally:
            with self.lock:
                self.failures.extend(r.failures)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, n, timeout_s):
        deadline = time.monotonic() + timeout_s
        while self.acked_count() < n and time.monotonic() < deadline and \
                any(t.is_alive() for t in self.threads):
            time.sleep(0.01)
        return self.acked_count()

    def join(self, timeout_s=60):
        """Waits for the writers to end on their own (max_batches, time)."""
        deadline = time.monotonic() + timeout_s
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def stop(self, timeout_s=60):
        self.stop_ev.set()
        return self.join(timeout_s)

    def merge(self, other):
        """Adds other's history (a later load on the same stream, other ids)."""
        self.acked.update(other.acked)
        self.ack_time.update(other.ack_time)
        self.attempted |= other.attempted
        self.maybe |= other.maybe
        self.gave_up |= other.gave_up
        base = max(self.order, default=-1) + 1
        for w, acks in other.order.items():
            self.order[base + w] = acks

    def failure_summary(self, since=None):
        c = collections.Counter()
        for t, ep, op, kind, desc in self.failures:
            if since is None or t >= since:
                c["%s %s" % (op, desc if kind != "unsent" else kind)] += 1
        return "; ".join("%dx %s" % (n, d[:160]) for d, n in c.most_common(8)) or "none"


def read_all(r, stream, deadline_s=120):
    """Every record of every shard of stream, read from TRIM_HORIZON to the
    tip through r (retrying like an SDK): {ShardId: [record]}."""
    deadline = time.monotonic() + deadline_s
    shards, _ = r.call("list_shards", StreamName=stream)
    out = {}
    for s in shards["Shards"]:
        sid = s["ShardId"]
        it = r.call("get_shard_iterator", StreamName=stream, ShardId=sid,
                    ShardIteratorType="TRIM_HORIZON")[0]["ShardIterator"]
        recs = []
        while it is not None:
            if time.monotonic() > deadline:
                raise AssertionError("reading %s/%s did not finish in %ds"
                                     % (stream, sid, deadline_s))
            resp, _ = r.call("get_records", ShardIterator=it, Limit=10000)
            recs.extend(resp["Records"])
            it = resp.get("NextShardIterator")
            if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
                break
        out[sid] = recs
    return out


def check_load(test, load, shards_read, label):
    """The invariants of the module docstring over one full read."""
    count = collections.Counter()
    where = collections.defaultdict(list)
    problems = []
    for sid, recs in sorted(shards_read.items()):
        seqs = [int(x["SequenceNumber"]) for x in recs]
        back = [(a, b) for a, b in zip(seqs, seqs[1:]) if a >= b]
        if back:
            problems.append("%s: sequence numbers not strictly increasing at %d places, first %r"
                            % (sid, len(back), back[0]))
        for x in recs:
            try:
                i = load.id_of(x["Data"])
            except ValueError:
                problems.append("%s: record %s with foreign data %r"
                                % (sid, x["SequenceNumber"], x["Data"][:40]))
                continue
            count[i] += 1
            where[i].append((sid, x["SequenceNumber"]))
            if x["Data"] != load.data(i) or x["PartitionKey"] != "pk-%d" % i:
                problems.append("%s %s: record %d changed: %r / %r" % (
                    sid, x["SequenceNumber"], i, x["PartitionKey"], x["Data"][:40]))
    never_sent = sorted(i for i in count if i not in load.attempted)
    if never_sent:
        problems.append("%d records never sent, first %r" % (len(never_sent), never_sent[:5]))
    lost = sorted(i for i in load.acked if count[i] == 0)
    if lost:
        problems.append("%d acknowledged records lost (of %d), first: %s" % (
            len(lost), len(load.acked),
            ", ".join("%d at %s/%s" % ((i,) + load.acked[i]) for i in lost[:5])))
    moved = sorted(i for i in load.acked if count[i] and load.acked[i] not in where[i])
    if moved:
        problems.append("%d acknowledged records not at their acknowledged shard and sequence "
                        "number, first: %s" % (len(moved), ", ".join(
                            "%d acked %s/%s read at %r" % ((i,) + load.acked[i] + (where[i],))
                            for i in moved[:5])))
    twice = sorted(i for i, n in count.items() if n > 1)
    dup_cluster = [i for i in twice if i not in load.maybe]
    if dup_cluster:
        problems.append("%d records read more than once with no indeterminate attempt "
                        "(duplicated by the cluster), first: %s" % (len(dup_cluster), ", ".join(
                            "%d (acked %r) at %r" % (i, load.acked.get(i), where[i])
                            for i in dup_cluster[:5])))
    dup_retry = [i for i in twice if i in load.maybe]
    # Real-time order: one writer's acks on one shard have increasing seqs.
    for w, acks in sorted(load.order.items()):
        last = {}
        for sid, seq, i in acks:
            if sid in last and seq <= last[sid][0]:
                problems.append("writer %d: record %d acked at %s/%d after record %d at %d "
                                "(acknowledged later, lower sequence number)"
                                % (w, i, sid, seq, last[sid][1], last[sid][0]))
                break
            last[sid] = (seq, i)
    unacked_present = sum(1 for i in count if i not in load.acked)
    hist = os.path.join(tmp_root(), "history-%s-%d.jsonl" % (load.stream, len(load.attempted)))
    load.save_history(hist)
    info("%s: %d sent, %d acked, %d read (%d unacknowledged but present, %d duplicates from "
         "client retries, %d gave up), %d records with an indeterminate attempt"
         % (label, len(load.attempted), len(load.acked), sum(count.values()), unacked_present,
            len(dup_retry), len(load.gave_up), len(load.maybe)))
    if problems:
        test.fail("%s:\n  %s\n  client history (every attempt): %s"
                  % (label, "\n  ".join(problems), hist))


def same_reads(test, a, b, label):
    """Two full reads through different gateways agree record for record."""
    def key(reads):
        return {sid: [(x["SequenceNumber"], x["PartitionKey"], x["Data"]) for x in recs]
                for sid, recs in reads.items()}
    ka, kb = key(a), key(b)
    for sid in sorted(set(ka) | set(kb)):
        ra, rb = ka.get(sid, []), kb.get(sid, [])
        if ra != rb:
            n = min(len(ra), len(rb))
            first = next((k for k in range(n) if ra[k] != rb[k]), n)
            test.fail("%s: %s differs between gateways: %d vs %d records, first difference at "
                      "%d: %r vs %r" % (label, sid, len(ra), len(rb), first,
                                        ra[first] if first < len(ra) else None,
                                        rb[first] if first < len(rb) else None))


def wait_same_segments(test, cluster, nodes, timeout_s=60):
    """Polls until every node in nodes holds the same shard directories with
    the same records (sha256 of seq, key and data) and the same segment files
    (name, size, sha256). Returns the digests; fails with the differences."""
    deadline = time.monotonic() + timeout_s
    while True:
        d = {n.node_id: shard_digests(n.data) for n in nodes}
        keys = set().union(*[set(x) for x in d.values()])
        diffs = []
        for k in sorted(keys):
            vals = {nid: d[nid].get(k) for nid in d}
            recs = {nid: (v["records"], v["payload"]) if v else None for nid, v in vals.items()}
            files = {nid: v["files"] if v else None for nid, v in vals.items()}
            if len(set(map(repr, recs.values()))) > 1:
                diffs.append("group %s %s shard %s records (count, sha256): %r"
                             % (k[0], k[1], k[2], recs))
            elif len(set(map(repr, files.values()))) > 1:
                diffs.append("group %s %s shard %s: same records (count, sha256 %r), but the "
                             "segment files differ (name, size, sha256): %r"
                             % (k[0], k[1], k[2], next(iter(recs.values())), files))
        if not diffs:
            return d
        if time.monotonic() > deadline:
            test.fail("segment contents differ across nodes %r after %ds (%d shards differ):\n  %s"
                      % (sorted(d), timeout_s, len(diffs), "\n  ".join(diffs[:12])))
        time.sleep(0.5)


def wait_applied_equal(cluster, nodes, timeout_s=60):
    """Waits until nodes report the same applied index for every group."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = cluster.statuses(nodes)
        ok = all(s is not None for s in st.values())
        if ok:
            for g in range(cluster.groups + 1):
                vals = {s.get(g, {}).get("applied") for s in st.values()}
                if len(vals) != 1 or None in vals:
                    ok = False
                    break
        if ok:
            return st
        if time.monotonic() > deadline:
            raise AssertionError("applied indexes still differ after %ds:\n%s"
                                 % (timeout_s, format_statuses(st)))
        time.sleep(0.2)


class ClusterTest(unittest.TestCase):
    """One fresh three-node cluster per test, stopped (and checked for
    unclean exits and sanitizer reports) after it."""

    timeout_s = 150
    maxDiff = 4000

    def setUp(self):
        self.cluster = Cluster(unique_name(self._testMethodName[5:13].replace("_", "")))
        self.cluster.start()
        self.cluster.wait_healthy(60)

    def tearDown(self):
        problems = []
        for n in self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            self.fail("\n".join(problems))

    def log_excerpt(self, node, since_bytes=0,
                    pattern=("WARN", "ERROR", "FATAL", "hydrat", "join", "restore")):
        """The last 20 lines of node's log since since_bytes that matter for
        a rejoin, a message repeated with other counters shown twice at most."""
        seen = collections.Counter()
        lines = []
        for l in node.log_text(since_bytes).splitlines():
            if not any(p in l for p in pattern):
                continue
            key = " ".join(w for w in l.split()[1:] if not any(ch.isdigit() for ch in w))
            seen[key] += 1
            if seen[key] <= 2:
                lines.append(l)
        return "\n".join("    %s: %s" % (node.name, l) for l in lines[-20:])

    def new_stream(self, shards):
        name = unique_name("cl")
        create_stream_active(retrier(self.cluster), name, shards)
        return name

    def load_through_kill(self, name, group, before=1500, after=1500, writers=4):
        """Runs a PutLoad, SIGKILLs the leader of group (looked up again
        just before: the coordinator moves leaders to balance them) once
        `before` records are acked, goes on until `after` more are acked (or
        25 s), stops the load. Returns (load, kill time, victim)."""
        load = PutLoad(self.cluster.endpoints(), name, writers=writers, batch=50,
                       time_limit_s=60).start()
        got = load.wait_acked(before, 20)
        self.assertGreater(got, 0, "nothing acknowledged before the kill: %s"
                           % load.failure_summary())
        victim = self.cluster.leader_of(group)
        t_kill = time.monotonic()
        victim.kill9()
        load.wait_acked(got + after, 25)
        self.assertTrue(load.stop(), "a writer is stuck")
        self.assertEqual(load.fatal, [], "non-retryable errors")
        info("kill of %s (leader of group %d) at %d acks; failed attempts after it: %s"
             % (victim.name, group, got, load.failure_summary(t_kill)))
        return load, t_kill, victim

    def assert_progress_after(self, load, t_kill, shard_ids, label):
        """Some record of each of shard_ids was acked after t_kill."""
        for sid in shard_ids:
            after = [load.ack_time[i] - t_kill for i, a in load.acked.items()
                     if a[0] == sid and load.ack_time[i] > t_kill]
            self.assertTrue(after, "%s: no write to %s was acknowledged after the kill "
                            "(failed attempts since: %s)"
                            % (label, sid, load.failure_summary(t_kill)))
            info("%s: first ack on %s %.2fs after the kill" % (label, sid, min(after)))

    # -- a ------------------------------------------------------------------

    def test_a_kill_group_leader_under_load(self):
        cl = self.cluster
        name = self.new_stream(4)
        g = shard_group_of(cl, name, 0)
        info("stream %s shard 0 on group %d" % (name, g))
        load, t_kill, victim = self.load_through_kill(name, g)
        self.assert_progress_after(load, t_kill, ["shardId-000000000000"], "group leader kill")
        survivors = cl.running()
        cl.wait_healthy(30)
        reads = [read_all(retrier(cl, [n]), name) for n in survivors]
        check_load(self, load, reads[0], "read through %s" % survivors[0].name)
        for n, rd in zip(survivors[1:], reads[1:]):
            same_reads(self, reads[0], rd, "%s vs %s" % (survivors[0].name, n.name))

    # -- b ------------------------------------------------------------------

    def test_b_kill_coordinator_leader_during_create_delete(self):
        cl = self.cluster
        lock = threading.Lock()
        streams = {}  # name -> dict(shards, create, delete): "acked"|"maybe"|"failed"|None
        failures = []
        stop = threading.Event()
        t0 = time.monotonic()

        def worker(w):
            r = Retrier(cl.endpoints(), attempts=10, start=w, timeout_s=15)
            for k in range(12):
                if stop.is_set() or time.monotonic() - t0 > 25:
                    break
                name = unique_name("cd%d" % w)
                st = {"shards": 1 + k % 2, "create": None, "delete": None}
                with lock:
                    streams[name] = st
                st["create"] = self._control(r, failures, "create_stream",
                                             "ResourceInUseException",
                                             StreamName=name, ShardCount=st["shards"])
                if st["create"] != "acked" or k % 2 == 1:
                    continue
                if not self._wait_active(r, name, 20):
                    with lock:
                        failures.append("%s: created (acked) but not ACTIVE within 20 s" % name)
                    continue
                st["delete"] = self._control(r, failures, "delete_stream",
                                             "ResourceNotFoundException", StreamName=name)

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(streams) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = cl.leader_of(0)
        info("killing the coordinator leader %s" % victim.name)
        t_kill = time.monotonic()
        victim.kill9()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a control-plane worker is stuck")
        self.assertEqual(failures, [], "non-retryable errors")
        survivors = cl.running()
        cl.wait_healthy(30)
        info("coordinator kill: %d streams attempted: %s; %.1fs of calls after the kill"
             % (len(streams), dict(collections.Counter(
                 (s["create"], s["delete"]) for s in streams.values())), time.monotonic() - t_kill))
        self.assertTrue(any(s["create"] == "acked" for s in streams.values()),
                        "no CreateStream acknowledged at all")
        self._check_streams(streams, survivors)

    def _control(self, r, failures, op, done_code, **kwargs):
        """A control-plane call retried like an SDK. "acked", or "maybe"
        (attempts ran out after an indeterminate one), or "failed". A retry
        answered done_code after an indeterminate attempt means the first
        attempt took effect: "acked". Any other non-retryable answer is
        appended to failures."""
        try:
            r.call(op, **kwargs)
            return "acked"
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            kinds = getattr(e, "eddy_kinds", [])
            if isinstance(e, botocore.exceptions.ClientError) and \
                    e.response["Error"]["Code"] == done_code and "indeterminate" in kinds:
                return "acked"
            if failure_kind(e) is None:
                failures.append("%s %s: %s (earlier attempts: %s)"
                                % (op, kwargs.get("StreamName"), describe_failure(e), kinds))
                return "failed"
            if "indeterminate" in kinds or failure_kind(e) == "indeterminate":
                return "maybe"
            return "failed"

    def _wait_active(self, r, name, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                s, _ = r.call("describe_stream_summary", StreamName=name)
                if s["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                    return True
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
            except botocore.exceptions.BotoCoreError:
                pass
            time.sleep(0.1)
        return False

    def _describe_everywhere(self, name, nodes):
        """{node name: (status, arn, [(shard id, start, end)]) or None (not found)}."""
        out = {}
        for n in nodes:
            r = Retrier([n.endpoint], attempts=10)
            try:
                d, _ = r.call("describe_stream", StreamName=name)
                s = d["StreamDescription"]
                out[n.name] = (s["StreamStatus"], s["StreamARN"], tuple(
                    (x["ShardId"], x["HashKeyRange"]["StartingHashKey"],
                     x["HashKeyRange"]["EndingHashKey"]) for x in s["Shards"]))
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                out[n.name] = None
        return out

    def _check_streams(self, streams, nodes):
        problems = []
        deadline = time.monotonic() + 30
        pending = dict(streams)
        final = {}
        # Let CREATING finish and DELETING end, up to 30 s.
        while pending and time.monotonic() < deadline:
            for name, st in list(pending.items()):
                d = self._describe_everywhere(name, nodes)
                vals = set(d.values())
                if len(vals) == 1:
                    v = next(iter(vals))
                    if v is None or v[0] == "ACTIVE":
                        final[name] = v
                        del pending[name]
            if pending:
                time.sleep(0.3)
        for name, st in sorted(streams.items()):
            want_gone = st["delete"] == "acked" or st["create"] == "failed"
            want_there = st["create"] == "acked" and st["delete"] is None
            desc = "%s (create %s, delete %s, %d shards)" % (name, st["create"], st["delete"],
                                                             st["shards"])
            if name in pending:
                problems.append("%s: gateways still disagree or not settled after 30 s: %r"
                                % (desc, self._describe_everywhere(name, nodes)))
                continue
            v = final[name]
            if want_gone and v is not None:
                problems.append("%s: should be gone, is %r" % (desc, v))
            if want_there and v is None:
                problems.append("%s: acknowledged, but ResourceNotFoundException everywhere" % desc)
            if v is not None:
                ranges = [(int(a), int(b)) for _, a, b in v[2]]
                if st["create"] != "failed" and ranges != even_ranges(st["shards"]):
                    problems.append("%s: half made: shards %r" % (desc, v[2]))
        # Every ACTIVE stream takes a record on each shard and gives it back.
        r = Retrier([nodes[0].endpoint], attempts=10)
        for name, v in sorted(final.items()):
            if v is None:
                continue
            for sid, start, _ in v[2]:
                try:
                    p, _ = r.call("put_record", StreamName=name, PartitionKey="k",
                                  ExplicitHashKey=start, Data=b"probe")
                    it = r.call("get_shard_iterator", StreamName=name, ShardId=sid,
                                ShardIteratorType="AT_SEQUENCE_NUMBER",
                                StartingSequenceNumber=p["SequenceNumber"])[0]["ShardIterator"]
                    got = r.call("get_records", ShardIterator=it)[0]["Records"]
                    if not got or got[0]["Data"] != b"probe":
                        problems.append("%s %s: the probe record did not come back: %r"
                                        % (name, sid, got[:1]))
                except (botocore.exceptions.BotoCoreError,
                        botocore.exceptions.ClientError) as e:
                    problems.append("%s %s: ACTIVE but a put/get fails: %s"
                                    % (name, sid, describe_failure(e)))
        # ListStreams agrees with DescribeStream on every gateway.
        ours = {n for n, v in final.items() if v is not None}
        for n in nodes:
            listed = set()
            r = Retrier([n.endpoint], attempts=10)
            kw = {}
            for _ in range(100):
                resp, _ = r.call("list_streams", **kw)
                listed.update(resp["StreamNames"])
                if not resp.get("HasMoreStreams"):
                    break
                kw = {"ExclusiveStartStreamName": resp["StreamNames"][-1]}
            listed &= set(streams)
            if listed != ours:
                problems.append("ListStreams on %s: missing %r, extra %r"
                                % (n.name, sorted(ours - listed), sorted(listed - ours)))
        if problems:
            self.fail("\n  ".join(["coordinator kill:"] + problems))

    # -- c ------------------------------------------------------------------

    def test_c_restart_killed_node_catches_up(self):
        cl = self.cluster
        name = self.new_stream(4)
        g = shard_group_of(cl, name, 1)
        load = PutLoad(cl.endpoints(), name, writers=3, batch=50, time_limit_s=60).start()
        got = load.wait_acked(1500, 20)
        victim = cl.leader_of(g)
        info("stream %s shard 1 on group %d; killing its leader %s" % (name, g, victim.name))
        t_kill = time.monotonic()
        victim.kill9()
        load.wait_acked(got + 1500, 25)
        log_at = os.path.getsize(victim.log_path)
        victim.start()
        t_restart = time.monotonic()
        load.wait_acked(load.acked_count() + 1500, 25)
        self.assertTrue(load.stop(), "a writer is stuck")
        self.assertEqual(load.fatal, [], "non-retryable errors")
        info("kill at %d acks, restart %.1fs later; failed attempts after the kill: %s"
             % (got, t_restart - t_kill, load.failure_summary(t_kill)))
        t0 = time.monotonic()
        try:
            cl.wait_caught_up(victim, 60)
        except AssertionError as e:
            self.fail("%s\nits log since the restart:\n%s" % (e, self.log_excerpt(victim, log_at)))
        info("%s caught up %.1fs after the load stopped" % (victim.name, time.monotonic() - t0))
        # It serves writes through its own gateway...
        extra = PutLoad([victim.endpoint], name, writers=1, batch=100, max_batches=5,
                        first_id=10**8).start()
        self.assertTrue(extra.join(60), "the writer through the restarted node is stuck")
        self.assertEqual(extra.fatal, [])
        self.assertEqual(len(extra.acked), 500, "writes through the restarted node's gateway "
                         "failed: %s" % extra.failure_summary())
        if extra.failures:
            # Allowed (a leader moved back by the balancer answers with a
            # retryable error), but worth seeing.
            info("writes through the restarted gateway needed retries: %s"
                 % extra.failure_summary())
        load.merge(extra)
        # ... and its gateway returns everything.
        rv = Retrier([victim.endpoint], attempts=20, cap_s=0.5)
        reads = read_all(rv, name)
        check_load(self, load, reads, "read through the restarted %s" % victim.name)
        other = read_all(retrier(cl, [n for n in cl.nodes if n is not victim][:1]), name)
        same_reads(self, reads, other, "restarted vs other gateway")
        wait_applied_equal(cl, cl.nodes, 30)
        wait_same_segments(self, cl, cl.nodes, 30)

    # -- d ------------------------------------------------------------------

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

    def test_d_wiped_node_rejoins(self):
        cl = self.cluster
        small = self.new_stream(4)
        big = self.new_stream(1)
        gbig = shard_group_of(cl, big, 0)
        load = PutLoad(cl.endpoints(), small, writers=3, batch=100, max_batches=10,
                       time_limit_s=30).start()
        self.assertTrue(load.join(60), "a writer is stuck")
        # Sequential 24 KiB puts into one group, one Raft entry each, until
        # it has taken a snapshot past RAFT_SNAPSHOT_TRAILING entries (and
        # sealed a 64 MiB segment file): a wiped replica can then only get
        # the data by InstallSnapshot plus hydration, not by log replay.
        r = retrier(cl)
        big_acked = {}
        t0 = time.monotonic()
        i = 0
        snap = []
        while i * self.BIG_RECORD < self.BIG_BYTES_MAX and time.monotonic() - t0 < 90:
            p, _ = r.call("put_record", StreamName=big, PartitionKey="b%d" % i,
                          Data=b"B%09d-" % i + bytes(self.BIG_RECORD - 11))
            big_acked[i] = p["SequenceNumber"]
            i += 1
            if i % 200 == 0 and i * self.BIG_RECORD > 64 * 1024 * 1024:
                snap = [x for n in cl.nodes for x in self.snapshot_indexes(n, gbig)
                        if x >= self.SNAPSHOT_INDEX_MIN]
                if snap:
                    break
        info("wrote %d records, %d MiB, to %s (1 shard, group %d) in %.1fs; snapshots at %r"
             % (i, (i * self.BIG_RECORD) >> 20, big, gbig, time.monotonic() - t0,
                {n.name: self.snapshot_indexes(n, gbig) for n in cl.nodes}))
        self.assertTrue(snap, "group %d took no snapshot at index >= %d after %d MiB: the test "
                        "no longer exercises InstallSnapshot + hydration (thresholds changed?)"
                        % (gbig, self.SNAPSHOT_INDEX_MIN, (i * self.BIG_RECORD) >> 20))
        wait_applied_equal(cl, cl.nodes, 60)
        wait_same_segments(self, cl, cl.nodes, 30)
        lead = cl.leader_of(gbig)
        wiped = next(n for n in reversed(cl.nodes) if n is not lead)
        info("wiping %s (group %d is led by %s)" % (wiped.name, gbig, lead.name))
        wiped.stop()
        wiped.wipe()
        log_at = os.path.getsize(wiped.log_path)
        wiped.start()
        t0 = time.monotonic()
        try:
            cl.wait_caught_up(wiped, 90)
        except AssertionError as e:
            self.fail("%s\nits log since the restart:\n%s" % (e, self.log_excerpt(wiped, log_at)))
        info("%s rejoined all groups in %.1fs" % (wiped.name, time.monotonic() - t0))
        segments_differ = None
        try:
            wait_same_segments(self, cl, cl.nodes, 60)
            info("segment contents equal on all three nodes %.1fs after the restart"
                 % (time.monotonic() - t0))
        except AssertionError as e:
            # Go on: whether the data survives the next step says how bad.
            segments_differ = "%s\nlog of %s since the restart:\n%s" % (
                e, wiped.name, self.log_excerpt(wiped, log_at))
            info("segment contents still differ; reading back with %s down anyway" % lead.name)
        # The re-replicated copy carries the data when the big group's
        # leader goes away.
        lead.stop()
        rest = cl.running()
        cl.wait_healthy(30)
        reads = read_all(retrier(cl, rest), small)
        check_load(self, load, reads, "after wipe + rejoin, %s down" % lead.name)
        bigreads = read_all(retrier(cl, [wiped]), big)["shardId-000000000000"]
        got = [(int(x["Data"][1:10]), x["SequenceNumber"]) for x in bigreads]
        if got != sorted(big_acked.items()):
            self.fail("the 1-shard stream read back through %s differs: %d records vs %d acked%s"
                      % (wiped.name, len(got), len(big_acked),
                         "\n" + segments_differ if segments_differ else ""))
        if segments_differ:
            self.fail(segments_differ)

    # -- e ------------------------------------------------------------------

    ERROR_WITHIN_S = 15

    def test_e_two_of_three_down(self):
        cl = self.cluster
        name = self.new_stream(2)
        keep = cl.nodes[0]
        r = Retrier([keep.endpoint], attempts=10)
        before = [r.call("put_record", StreamName=name, PartitionKey="k%d" % i,
                         Data=b"before-%d" % i)[0] for i in range(20)]
        downs = cl.nodes[1:]
        for n in downs:
            n.kill9()
        c = client(keep.endpoint, timeout_s=60)
        answers = []
        for k in range(1):
            for op, kw in (("put_record", {"PartitionKey": "x%d" % k, "Data": b"x"}),
                           ("put_records", {"Records": [{"PartitionKey": "y%d-%d" % (k, j),
                                                         "Data": b"y"} for j in range(10)]})):
                t0 = time.monotonic()
                try:
                    resp = getattr(c, op)(StreamName=name, **kw)
                    took = time.monotonic() - t0
                    if op == "put_records" and resp["FailedRecordCount"] == 10 and all(
                            x.get("ErrorCode") in GATEWAY_ERRORS_5XX for x in resp["Records"]):
                        answers.append((op, took, "200 all records %s"
                                        % resp["Records"][0]["ErrorCode"]))
                        continue
                    self.fail("%s with 2 of 3 nodes down succeeded (%.1fs): %r"
                              % (op, took, resp))
                except botocore.exceptions.ClientError as e:
                    took = time.monotonic() - t0
                    md = e.response["ResponseMetadata"]
                    answers.append((op, took, describe_failure(e)))
                    self.assertIn(e.response["Error"]["Code"], GATEWAY_ERRORS_5XX,
                                  "%s: want a 5xx InternalFailure/ServiceUnavailable, got %s"
                                  % (op, describe_failure(e)))
                    self.assertGreaterEqual(md["HTTPStatusCode"], 500, describe_failure(e))
                    self.assertIsNotNone(md["HTTPHeaders"].get("x-amzn-requestid"))
                except botocore.exceptions.BotoCoreError as e:
                    self.fail("%s with 2 of 3 nodes down: no AWS error but %s after %.1fs"
                              % (op, describe_failure(e), time.monotonic() - t0))
                self.assertLess(took, self.ERROR_WITHIN_S, "%s: the error took %.1fs"
                                % (op, took))
        info("2 of 3 down: %s" % "; ".join("%s %.2fs %s" % a for a in answers))
        back = downs[0]
        back.start()
        t0 = time.monotonic()
        deadline = t0 + 45
        last = None
        while True:
            try:
                p = client(keep.endpoint, timeout_s=15).put_record(
                    StreamName=name, PartitionKey="after", Data=b"after")
                break
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                last = describe_failure(e)
            self.assertLess(time.monotonic(), deadline,
                            "writes still fail %.0fs after %s returned: %s"
                            % (deadline - t0, back.name, last))
            time.sleep(0.2)
        info("first write after %s returned: %.2fs" % (back.name, time.monotonic() - t0))
        reads = read_all(Retrier([keep.endpoint], attempts=10), name)
        by_seq = {x["SequenceNumber"]: x["Data"] for recs in reads.values() for x in recs}
        for i, b in enumerate(before):
            self.assertEqual(by_seq.get(b["SequenceNumber"]), b"before-%d" % i)
        self.assertEqual(by_seq.get(p["SequenceNumber"]), b"after")
