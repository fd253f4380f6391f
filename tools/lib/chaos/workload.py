"""The workload: producers writing unique, traceable records and readers
following every shard, through boto3 against the gateways, every attempt
recorded in the History (the checker's input, history.py has the format).

Producers call PutRecord or PutRecords (1-10 records) as an SDK user
would (one producer per shard on that shard's keys, two on keys of every
shard): a failed attempt is retried with exponential backoff on the next
gateway (a client behind a load balancer), PutRecords resends only the
records that came back with an ErrorCode. Each record's data names it
(history.payload), so a reader can tell whose record it sees and whether
its bytes are intact.

Readers follow one shard each along NextShardIterator chains from
TRIM_HORIZON, keeping the same iterator across failed calls and gateways
(an iterator minted by one gateway must work on any other); only when an
iterator is refused for good do they take a new one AFTER_SEQUENCE_NUMBER
of the last record they saw.

Subscribers follow one shard each with SubscribeToShard (enhanced fan-out)
from TRIM_HORIZON, resubscribing AFTER_SEQUENCE_NUMBER the last
ContinuationSequenceNumber; a closed shard's subscriber ends at the event
that names its ChildShards.

The control thread (ops "reshard", "transfer") changes the cluster under
the faults: SplitShard, MergeShards and UpdateShardCount on the stream
(each once the stream is ACTIVE again, open shards kept between
OPEN_SHARDS_MIN and OPEN_SHARDS_MAX), and `eddy leader drain` of a node
(Raft leader transfers). A watcher lists the shards every SHARD_WATCH_S and
starts a reader and a subscriber on each new one (children of a reshard).

Every loop is bounded by the stop event, a deadline and a rate.
"""

import hashlib
import random
import threading
import time
import traceback

import boto3
import botocore.config
import botocore.exceptions
import urllib3.exceptions

from history import payload, parse_payload

REGION = "us-east-1"
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 8
PUT_ATTEMPTS = 6
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0
KEYS_PER_PRODUCER = 8
READ_LIMIT = 1000
SUBSCRIBE_READ_TIMEOUT_S = 20
EMPTY_READ_SLEEP_S = 0.25
THROTTLES = ("ProvisionedThroughputExceededException", "LimitExceededException",
             "ThrottlingException")
# The control thread: seconds between two operations (seeded), bounds on
# the open shards, UpdateShardCount calls per run (AWS allows ten a day
# per stream), how long a reshard may take to make the stream ACTIVE.
CONTROL_GAP_S = (6.0, 14.0)
CONTROL_GAP_QUICK_S = (12.0, 24.0)  # the quick run: fewer shards to restart and read
OPEN_SHARDS_MIN = 2
OPEN_SHARDS_MAX = 8
UPDATE_SHARD_COUNT_MAX = 8
UPDATE_SHARD_COUNT_QUICK_MAX = 1  # each one closes every open shard
RESHARD_ACTIVE_S = 120
SHARD_WATCH_S = 2.0
# Every shard a run can make: readers and subscribers are bounded by it.
SHARDS_MAX = 128
CONTROL_OPS = ("reshard", "transfer")


def make_client(endpoint, read_timeout_s=READ_TIMEOUT_S):
    cfg = botocore.config.Config(
        region_name=REGION,
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout_s,
        max_pool_connections=2,
        parameter_validation=False,
    )
    return boto3.session.Session().client(
        "kinesis", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="x",
        aws_secret_access_key="x", config=cfg)


def arrival_ms(record):
    """ApproximateArrivalTimestamp in epoch milliseconds (None if absent)."""
    t = record.get("ApproximateArrivalTimestamp")
    return None if t is None else int(round(t.timestamp() * 1000))


def classify(exc):
    """(kind, text) of a failed call: "unsent" (never reached a server:
    definitely not applied), "fail" (the server said no: a 4xx), or
    "info" (5xx, timeout, dropped connection: it may have been applied)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        md = exc.response.get("ResponseMetadata", {})
        status = md.get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code")
        text = "HTTP %s %s: %s" % (status, code, exc.response.get("Error", {}).get("Message"))
        return ("info" if status >= 500 or status == 0 else "fail"), text, code
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.ConnectTimeoutError)):
        return "unsent", "%s: %s" % (type(exc).__name__, exc), None
    return "info", "%s: %s" % (type(exc).__name__, exc), None


class Clients:
    """One boto3 client per (thread, gateway)."""

    def __init__(self, endpoints):
        self.endpoints = list(endpoints)
        self.local = threading.local()

    def get_subscriber(self, idx):
        """A client whose read timeout outlasts the heartbeats of an idle
        subscription."""
        cache = getattr(self.local, "subs", None)
        if cache is None:
            cache = self.local.subs = {}
        c = cache.get(idx)
        if c is None:
            c = cache[idx] = make_client(self.endpoints[idx], read_timeout_s=SUBSCRIBE_READ_TIMEOUT_S)
        return c

    def get(self, idx):
        cache = getattr(self.local, "cache", None)
        if cache is None:
            cache = self.local.cache = {}
        c = cache.get(idx)
        if c is None:
            c = cache[idx] = make_client(self.endpoints[idx])
        return c


def keys_for(prefix, lo, hi, count):
    """count partition keys prefix0, prefix1, ... whose MD5 hash key falls in
    [lo, hi] (the range of one shard)."""
    out = []
    for i in range(1000000):
        k = "%s%d" % (prefix, i)
        h = int.from_bytes(hashlib.md5(k.encode()).digest(), "big")
        if lo <= h <= hi:
            out.append(k)
            if len(out) == count:
                return out
    raise RuntimeError("no keys for hash range [%d, %d]" % (lo, hi))


class Workload:
    """shards: [(shard id, starting hash key, ending hash key)]. One
    producer per shard writes only keys of that shard (so a stall of one
    shard blocks only its producer, and per-shard availability can be
    measured); `mixed` more producers write keys of any shard (PutRecords
    split across shards and groups)."""

    def __init__(self, history, endpoints, stream, shards, seed, mixed=2, rate_per_s=8):
        self.h = history
        self.clients = Clients(endpoints)
        self.n = len(endpoints)
        self.stream = stream
        self.shard_ids = [s[0] for s in shards]
        self.followed = set(self.shard_ids)  # shards with a reader (and subscriber)
        self.follow_lock = threading.Lock()
        self.keys = []
        for w, (_sid, lo, hi) in enumerate(shards):
            self.keys.append(keys_for("w%dk" % w, lo, hi, KEYS_PER_PRODUCER))
        for w in range(len(shards), len(shards) + mixed):
            self.keys.append(["w%dk%d" % (w, i) for i in range(2 * KEYS_PER_PRODUCER)])
        self.seed = seed
        self.producers = len(self.keys)
        self.rate_per_s = rate_per_s
        self.stop_ev = threading.Event()
        self.control_stop = threading.Event()  # no new control operation after it
        self.threads = []
        self.errors = []  # harness-side exceptions (bugs of ours)
        self.inflight = {}  # producer -> the put attempt it waits on

    def start(self, deadline, consumer_arn=None, ops=(), transfer=None, nodes=0,
              control_gap_s=CONTROL_GAP_S, updates_max=UPDATE_SHARD_COUNT_MAX):
        """Producers and GetRecords readers; with consumer_arn also one
        SubscribeToShard subscriber per shard; with ops (CONTROL_OPS) the
        control thread and the shard watcher. transfer(i): drains node i
        (0 <= i < nodes), returns a dict for the history; control_gap_s:
        the range of the seeded pause before each operation; updates_max:
        how many UpdateShardCount calls at most."""
        self.consumer_arn = consumer_arn
        self.deadline = deadline
        for w in range(self.producers):
            self._spawn("p%d" % w, self._producer, w, deadline)
        for k, sid in enumerate(self.shard_ids):
            self._follow(k, sid)
        if ops:
            self._spawn("c0", self._control, list(ops), transfer, nodes, deadline,
                        control_gap_s, min(updates_max, UPDATE_SHARD_COUNT_MAX))
            self._spawn("watch", self._watch_shards, deadline)
        return self

    def _follow(self, k, sid):
        self._spawn("r%d" % k, self._reader, k, sid, self.deadline)
        if self.consumer_arn:
            self._spawn("s%d" % k, self._subscriber, k, sid, self.consumer_arn, self.deadline)

    def _spawn(self, name, fn, *args):
        def body():
            try:
                fn(*args)
            except Exception as e:  # a harness bug must not pass silently
                self.errors.append("%s: %s\n%s" % (name, e, traceback.format_exc()))
        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def stop_control(self):
        """No control operation starts after this (one under way ends)."""
        self.control_stop.set()

    def stop(self, timeout_s=60):
        """Stops every thread; a put still waiting for its answer then is
        recorded as put_open of unknown outcome. Returns the threads that
        did not end."""
        self.stop_ev.set()
        self.control_stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        for proc in list(self.inflight):
            ev = self.inflight.pop(proc, None)
            if ev is None:
                continue
            ev = dict(ev, f="put_open", type="info", err="no answer when the workload stopped")
            self.h.add(ev, ev.pop("t0"))
        return [t.name for t in self.threads if t.is_alive()]

    # ---- producers -----------------------------------------------------------

    def _producer(self, w, deadline):
        rng = random.Random("%s/p%d" % (self.seed, w))
        proc = "p%d" % w
        gw = w % self.n
        counter = 0
        interval = 1.0 / self.rate_per_s
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            batch = 1 if rng.random() < 0.5 else rng.randint(2, 10)
            recs = []
            for _ in range(batch):
                rid = "%d.%d" % (w, counter)
                counter += 1
                recs.append((rid, rng.choice(self.keys[w])))
            gw = self._put(proc, gw, recs, single=(batch == 1 and rng.random() < 0.7))
            rest = interval - (time.monotonic() - began)
            if rest > 0:
                self.stop_ev.wait(rest)

    def _put(self, proc, gw, recs, single):
        """One logical put of recs [(rid, pk)], retried like an SDK. Returns
        the gateway to use next."""
        pending = list(recs)
        delay = BACKOFF_BASE_S
        for attempt in range(PUT_ATTEMPTS):
            if self.stop_ev.is_set() and attempt > 0:
                # Out of time: the records stay in whatever state they are.
                break
            c = self.clients.get(gw)
            op = "put_record" if single else "put_records"
            ev = {"f": op, "p": proc, "gw": gw, "attempt": attempt,
                  "recs": [[rid, pk] for rid, pk in pending]}
            t0 = self.h.now()
            self.inflight[proc] = dict(ev, t0=t0)
            try:
                if single:
                    rid, pk = pending[0]
                    r = c.put_record(StreamName=self.stream, PartitionKey=pk,
                                     Data=payload(rid, pk))
                    res = [[r["ShardId"], r["SequenceNumber"]]]
                else:
                    r = c.put_records(StreamName=self.stream, Records=[
                        {"PartitionKey": pk, "Data": payload(rid, pk)} for rid, pk in pending])
                    res = []
                    for x in r["Records"]:
                        if "ErrorCode" in x:
                            code = x["ErrorCode"]
                            res.append(["fail" if code in THROTTLES else "info", code])
                        else:
                            res.append([x["ShardId"], x["SequenceNumber"]])
                ev.update(type="ok", res=res)
                self.h.add(ev, t0)
                self.inflight.pop(proc, None)
                if len(res) != len(pending):
                    return gw  # recorded; the checker reports the malformed answer
                retry = [p for p, x in zip(pending, res) if x[0] in ("fail", "info")]
                if not retry:
                    return gw
                pending = retry
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                kind, text, code = classify(e)
                ev.update(type=kind, err=text[:300])
                self.h.add(ev, t0)
                self.inflight.pop(proc, None)
                if kind == "fail" and code not in THROTTLES:
                    return gw  # not retryable (the checker sees a definite failure)
                gw = (gw + 1) % self.n
            self.stop_ev.wait(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_CAP_S)
        return gw

    # ---- readers -------------------------------------------------------------

    def _call(self, proc, gw, op, **kwargs):
        """One attempt; returns (response or None, kind, text)."""
        try:
            return getattr(self.clients.get(gw), op)(**kwargs), "ok", None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            kind, text, code = classify(e)
            return None, kind, text

    def _iterator(self, proc, gw, sid, after, deadline):
        """A new iterator (TRIM_HORIZON, or AFTER_SEQUENCE_NUMBER after);
        returns (iterator, gateway) or (None, gateway) at the deadline."""
        delay = BACKOFF_BASE_S
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            kw = {"StreamName": self.stream, "ShardId": sid}
            if after is None:
                kw["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kw.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
            t0 = self.h.now()
            r, kind, text = self._call(proc, gw, "get_shard_iterator", **kw)
            ev = {"f": "get_shard_iterator", "p": proc, "gw": gw, "shard": sid, "after": after,
                  "type": kind}
            if text:
                ev["err"] = text[:300]
            self.h.add(ev, t0)
            if r is not None:
                return r["ShardIterator"], gw
            gw = (gw + 1) % self.n
            self.stop_ev.wait(delay)
            delay = min(delay * 2, BACKOFF_CAP_S)
        return None, gw

    def _reader(self, k, sid, deadline):
        proc = "r%d" % k
        gw = k % self.n
        chain = 0
        last_seq = None
        it, gw = self._iterator(proc, gw, sid, None, deadline)
        it_born = time.monotonic()
        delay = BACKOFF_BASE_S
        while it is not None and not self.stop_ev.is_set() and time.monotonic() < deadline:
            t0 = self.h.now()
            r, kind, text = self._call(proc, gw, "get_records", ShardIterator=it, Limit=READ_LIMIT)
            ev = {"f": "get_records", "p": proc, "gw": gw, "shard": sid, "chain": chain,
                  "type": kind}
            if r is None:
                ev["err"] = text[:300]
                ev["it_age_s"] = round(time.monotonic() - it_born, 3)
                self.h.add(ev, t0)
                if kind == "fail" and "Throughput" not in text:
                    # Refused for good: the checker judges whether it should
                    # have been; go on with a new iterator after the last
                    # record seen.
                    chain += 1
                    self.stop_ev.wait(delay)
                    delay = min(delay * 2, BACKOFF_CAP_S)
                    it, gw = self._iterator(proc, gw, sid, last_seq, deadline)
                    it_born = time.monotonic()
                    continue
                gw = (gw + 1) % self.n
                self.stop_ev.wait(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)
                continue
            delay = BACKOFF_BASE_S
            recs = []
            for x in r["Records"]:
                rid, pk, intact = parse_payload(x["Data"])
                recs.append([x["SequenceNumber"], rid, x.get("PartitionKey"), intact,
                             arrival_ms(x)])
            if recs:
                last_seq = recs[-1][0]
            ev["recs"] = recs
            ev["behind_ms"] = r.get("MillisBehindLatest")
            ev["next"] = r.get("NextShardIterator") is not None
            self.h.add(ev, t0)
            it = r.get("NextShardIterator")
            if it is None:
                break  # closed shard read to its end
            if not recs:
                self.stop_ev.wait(EMPTY_READ_SLEEP_S)

    # ---- subscribers (enhanced fan-out) -----------------------------------------

    def _subscriber(self, k, sid, arn, deadline):
        """Follows one shard with SubscribeToShard: each subscription runs
        until the server ends it (5 minutes) or fails, then the next one
        starts AFTER_SEQUENCE_NUMBER the last ContinuationSequenceNumber
        (TRIM_HORIZON at first) on the next gateway. Each event is one
        history entry; ResourceInUse/LimitExceeded answers while the server
        still holds the previous subscription are expected (AWS's 5 s and
        1 s rules) and retried."""
        proc = "s%d" % k
        gw = (k + 1) % self.n
        cont = None
        chain = 0
        delay = 1.0
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            pos = {"Type": "TRIM_HORIZON"} if cont is None else \
                {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont}
            c = self.clients.get_subscriber(gw)
            t0 = self.h.now()
            base = {"f": "subscribe", "p": proc, "gw": gw, "shard": sid, "chain": chain,
                    "after": cont}
            try:
                resp = c.subscribe_to_shard(ConsumerARN=arn, ShardId=sid, StartingPosition=pos)
                stream = resp["EventStream"]
                self.h.add(dict(base, f="subscribe_start", type="ok"), t0)
                delay = 1.0
                for ev in stream:
                    e = ev.get("SubscribeToShardEvent")
                    if e is None:
                        continue
                    recs = []
                    for x in e.get("Records") or []:
                        rid, pk, intact = parse_payload(x["Data"])
                        recs.append([x["SequenceNumber"], rid, x.get("PartitionKey"), intact,
                                     arrival_ms(x)])
                    if e.get("ContinuationSequenceNumber"):
                        cont = e["ContinuationSequenceNumber"]
                    children = [c.get("ShardId") for c in e.get("ChildShards") or []]
                    ev_h = dict(base, type="ok", recs=recs,
                                cont=e.get("ContinuationSequenceNumber"),
                                behind_ms=e.get("MillisBehindLatest"))
                    if children:
                        ev_h["children"] = children
                    self.h.add(ev_h)
                    t0 = self.h.now()
                    if children:
                        # The shard is closed and read to its end: the
                        # children have subscribers of their own.
                        stream.close()
                        return
                    if self.stop_ev.is_set() or time.monotonic() > deadline:
                        stream.close()
                        return
                self.h.add(dict(base, f="subscribe_end", type="ok"), t0)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                    urllib3.exceptions.HTTPError, OSError) as e:
                # urllib3's own errors (a connection cut mid-stream) reach
                # the event stream's iterator unwrapped.
                kind, text, code = classify(e)
                if isinstance(e, botocore.exceptions.EventStreamError):
                    code = e.response.get("Error", {}).get("Code")
                    kind = "info"  # an error event inside the stream
                    text = "event stream error %s: %s" % (
                        code, e.response.get("Error", {}).get("Message"))
                self.h.add(dict(base, f="subscribe_error", type=kind, err=text[:300],
                                code=code), t0)
                gw = (gw + 1) % self.n
                self.stop_ev.wait(delay)
                delay = min(delay * 2, 5.0)
            chain += 1

    # ---- control plane: reshards and leader transfers ---------------------------

    def _list_shards(self, c):
        """Every shard of the stream (paged), or raises."""
        out, token = [], None
        for _ in range(SHARDS_MAX):
            r = c.list_shards(NextToken=token) if token else c.list_shards(StreamName=self.stream)
            out += r["Shards"]
            token = r.get("NextToken")
            if not token:
                return out
        return out

    def _watch_shards(self, deadline):
        """Starts a reader and a subscriber on every shard that appears."""
        gw = 0
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            self.stop_ev.wait(SHARD_WATCH_S)
            try:
                shards = self._list_shards(self.clients.get(gw))
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                gw = (gw + 1) % self.n
                continue
            with self.follow_lock:
                new = [x for x in shards if x["ShardId"] not in self.followed]
                new = new[:max(0, SHARDS_MAX - len(self.followed))]
                for x in new:
                    self.followed.add(x["ShardId"])
            if new:
                self.h.add({"f": "shards_seen", "p": "watch", "gw": gw,
                            "shards": [shard_entry(x) for x in new]})
            for x in new:
                k = int(x["ShardId"].rsplit("-", 1)[-1])
                self._follow(k, x["ShardId"])

    def _control(self, ops, transfer, nodes, deadline, gap_s, updates_max):
        rng = random.Random("%s/control" % self.seed)
        updates = 0
        gw = 0
        while not self.control_stop.is_set() and time.monotonic() < deadline:
            self.control_stop.wait(rng.uniform(*gap_s))
            if self.control_stop.is_set():
                return
            op = rng.choice(ops)
            if op == "transfer" and transfer is not None and nodes:
                i = rng.randrange(nodes)
                t0 = self.h.now()
                res = transfer(i)
                self.h.add(dict({"f": "transfer", "p": "c0", "node": "n%d" % (i + 1),
                                 "type": "ok" if res.get("drain") == 0 else "info"}, **res), t0)
                continue
            if op != "reshard":
                continue
            res = self._reshard(rng, rng.random(), updates < updates_max, gw, deadline)
            if res is None:
                return
            gw, used_update = res
            updates += used_update

    def _wait_active(self, gw, deadline, bound_s):
        """Polls DescribeStreamSummary until ACTIVE; (active, gateway,
        open shard count)."""
        end = min(deadline, time.monotonic() + bound_s)
        while not self.stop_ev.is_set() and time.monotonic() < end:
            r, kind, text = self._call("c0", gw, "describe_stream_summary", StreamName=self.stream)
            if r is not None:
                d = r["StreamDescriptionSummary"]
                if d["StreamStatus"] == "ACTIVE":
                    return True, gw, d.get("OpenShardCount")
            else:
                gw = (gw + 1) % self.n
            self.stop_ev.wait(0.5)
        return False, gw, None

    def _reshard(self, rng, choice, may_update, gw, deadline):
        """One reshard (a split, a merge or an UpdateShardCount, from
        choice in [0, 1) and what the open shards allow), then the wait for
        ACTIVE. Returns (gateway, 1 if it was an UpdateShardCount), or
        None when stopping."""
        active, gw, _ = self._wait_active(gw, deadline, RESHARD_ACTIVE_S)
        if self.stop_ev.is_set():
            return None
        try:
            shards = self._list_shards(self.clients.get(gw))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return (gw + 1) % self.n, 0
        open_ = sorted((x for x in shards if "EndingSequenceNumber" not in
                        x.get("SequenceNumberRange", {})),
                       key=lambda x: int(x["HashKeyRange"]["StartingHashKey"]))
        pairs = [(a, b) for a, b in zip(open_, open_[1:])
                 if int(a["HashKeyRange"]["EndingHashKey"]) + 1 ==
                 int(b["HashKeyRange"]["StartingHashKey"])]
        n = len(open_)
        can = []
        if n < OPEN_SHARDS_MAX:
            can.append("split")
        if n > OPEN_SHARDS_MIN and pairs:
            can.append("merge")
        if may_update and (2 * n <= OPEN_SHARDS_MAX or (n + 1) // 2 >= OPEN_SHARDS_MIN):
            can.append("update")
        if not can:
            return gw, 0
        op = can[int(choice * len(can))]
        if op == "split":
            x = open_[rng.randrange(n)]
            lo = int(x["HashKeyRange"]["StartingHashKey"])
            hi = int(x["HashKeyRange"]["EndingHashKey"])
            if hi - lo < 2:
                return gw, 0
            args = {"ShardToSplit": x["ShardId"],
                    "NewStartingHashKey": str(lo + (hi - lo + 1) // 2)}
            call = "split_shard"
        elif op == "merge":
            a, b = pairs[rng.randrange(len(pairs))]
            args = {"ShardToMerge": a["ShardId"], "AdjacentShardToMerge": b["ShardId"]}
            call = "merge_shards"
        else:
            target = 2 * n if 2 * n <= OPEN_SHARDS_MAX else (n + 1) // 2
            args = {"TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"}
            call = "update_shard_count"
        t0 = self.h.now()
        r, kind, text = self._call("c0", gw, call, StreamName=self.stream, **args)
        ev = {"f": "reshard", "p": "c0", "gw": gw, "op": op, "args": args, "open_before": n,
              "was_active": active, "type": kind}
        if text:
            ev["err"] = text[:300]
        self.h.add(ev, t0)
        if r is None and kind != "fail":
            gw = (gw + 1) % self.n
        if kind == "fail":
            return gw, 0
        t0 = self.h.now()
        active, gw, count = self._wait_active(gw, deadline, RESHARD_ACTIVE_S)
        if self.stop_ev.is_set() and not active:
            return None
        self.h.add({"f": "reshard_active", "p": "c0", "op": op, "type": "ok" if active else "info",
                    "open_shards": count, "bound_s": RESHARD_ACTIVE_S}, t0)
        return gw, 1 if op == "update" else 0


def shard_entry(x):
    """A ListShards entry as the history keeps it (lineage, range, end)."""
    rng = x.get("SequenceNumberRange", {})
    return {"id": x["ShardId"], "parent": x.get("ParentShardId"),
            "adjacent": x.get("AdjacentParentShardId"),
            "lo": x["HashKeyRange"]["StartingHashKey"], "hi": x["HashKeyRange"]["EndingHashKey"],
            "start": rng.get("StartingSequenceNumber"), "end": rng.get("EndingSequenceNumber")}
