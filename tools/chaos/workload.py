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
        self.keys = []
        for w, (_sid, lo, hi) in enumerate(shards):
            self.keys.append(keys_for("w%dk" % w, lo, hi, KEYS_PER_PRODUCER))
        for w in range(len(shards), len(shards) + mixed):
            self.keys.append(["w%dk%d" % (w, i) for i in range(2 * KEYS_PER_PRODUCER)])
        self.seed = seed
        self.producers = len(self.keys)
        self.rate_per_s = rate_per_s
        self.stop_ev = threading.Event()
        self.threads = []
        self.errors = []  # harness-side exceptions (bugs of ours)
        self.inflight = {}  # producer -> the put attempt it waits on

    def start(self, deadline, consumer_arn=None):
        """Producers and GetRecords readers; with consumer_arn also one
        SubscribeToShard subscriber per shard."""
        for w in range(self.producers):
            self._spawn("p%d" % w, self._producer, w, deadline)
        for k, sid in enumerate(self.shard_ids):
            self._spawn("r%d" % k, self._reader, k, sid, deadline)
        if consumer_arn:
            for k, sid in enumerate(self.shard_ids):
                self._spawn("s%d" % k, self._subscriber, k, sid, consumer_arn, deadline)
        return self

    def _spawn(self, name, fn, *args):
        def body():
            try:
                fn(*args)
            except Exception as e:  # a harness bug must not pass silently
                self.errors.append("%s: %s\n%s" % (name, e, traceback.format_exc()))
        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self, timeout_s=60):
        """Stops every thread; a put still waiting for its answer then is
        recorded as put_open of unknown outcome. Returns the threads that
        did not end."""
        self.stop_ev.set()
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
                    self.h.add(dict(base, type="ok", recs=recs,
                                    cont=e.get("ContinuationSequenceNumber"),
                                    behind_ms=e.get("MillisBehindLatest")))
                    t0 = self.h.now()
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
