"""SubscribeToShard (enhanced fan-out) through boto3 over HTTP/1.1: the
gateway streams application/vnd.amazon.eventstream (initial-response, then
SubscribeToShardEvents) with records pushed by the shard group leader.

  - every record put during a subscription arrives once, in order, with
    ContinuationSequenceNumber = the event's last record, and empty events
    (heartbeats) while the shard is idle;
  - every StartingPosition type starts where it says;
  - AWS's errors before the stream starts (400 JSON): unknown consumer or
    shard, bad positions, validation;
  - a second call within 5 s: ResourceInUseException; within 1 s of the last
    call: LimitExceededException; after 5 s it takes over and the old stream
    gets a ResourceInUseException event;
  - the stream ends cleanly after --subscription-ms, and resubscribing
    AFTER_SEQUENCE_NUMBER the last ContinuationSequenceNumber loses and
    repeats nothing;
  - at the end of a split shard the last event carries ChildShards and the
    stream ends;
  - 20 consumers on one shard each receive everything;
  - a subscriber that stops reading does not grow the server (its stream
    waits, MillisBehindLatest grows);
  - each consumer's throughput is its own (--subscription-bytes-per-s),
    independent of other consumers and of GetRecords readers;
  - a CBOR request gets CBOR events (raw Data bytes);
  - the AWS SDK for JavaScript v3 over HTTP/2 (h2c): pushes, heartbeat,
    ResourceInUseException before the stream and as the takeover event;
  - SIGKILL of the shard group's leader during a subscription on a 3-node
    cluster: the subscription goes on, and what it delivered equals the
    shard's contents exactly (no gap, no duplicate);
  - one subscription per consumer and shard across the gateways of a 3-node
    cluster (the shard group's leader holds the lease, ADR 0008): another
    gateway refuses a second call within 5 s, takes over after 5 s (the old
    stream gets the ResourceInUseException event), a stream the server
    ended gives the lease back, and the lease outlives a leader change.
"""

import base64
import datetime
import http.client
import json
import os
import shutil
import subprocess
import struct
import sys
import threading
import time
import unittest
import zlib

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions

from harness import (ACCESS_KEY, REGION, SECRET_KEY, TARGET_PREFIX, Cluster, GATEWAY_ERRORS_5XX,
                     call_with_throttle_retry, client, constraint, create_active, delete_quietly,
                     error_of, put_all, read_shard, single_node, unique_name, wait_status)
import test_cbor

HEARTBEAT_S = 2.0  # SUBSCRIPTION_HEARTBEAT_MS
JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SHARD0 = "shardId-000000000000"


def info(msg):
    sys.stderr.write("  [subscribe] %s\n" % msg)
    sys.stderr.flush()


# ---- consumers and subscriptions --------------------------------------------

def register_consumer(c, stream_arn, name, timeout_s=60):
    """Registers a consumer and waits until it is ACTIVE; returns its ARN."""
    arn = call_with_throttle_retry(c.register_stream_consumer, StreamARN=stream_arn,
                                   ConsumerName=name)["Consumer"]["ConsumerARN"]
    deadline = time.monotonic() + timeout_s
    while True:
        d = call_with_throttle_retry(c.describe_stream_consumer, ConsumerARN=arn)
        if d["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
            return arn
        if time.monotonic() > deadline:
            raise AssertionError("consumer %s not ACTIVE after %ds" % (name, timeout_s))
        time.sleep(0.1)


class Subscription(threading.Thread):
    """One SubscribeToShard through boto3 in its own thread (its own client):
    collects every event, and how the stream ended. Stops reading when
    stop() is called, when want records arrived, or after max_s."""

    def __init__(self, endpoint, arn, shard_id, position, want=None, max_s=60):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.arn = arn
        self.shard_id = shard_id
        self.position = position
        self.want = want
        self.max_s = max_s
        self.lock = threading.Lock()
        self.events = []
        self.event_times = []
        self.records = []
        self.error = None       # the exception the call or the stream raised
        self.ended = False      # the server ended the stream cleanly
        self.subscribed = threading.Event()
        self.done = threading.Event()
        self._stop_reading = threading.Event()
        self.t_subscribed = None

    def run(self):
        c = client(self.endpoint, timeout_s=30)
        deadline = time.monotonic() + self.max_s
        try:
            resp = c.subscribe_to_shard(ConsumerARN=self.arn, ShardId=self.shard_id,
                                        StartingPosition=self.position)
            self.t_subscribed = time.monotonic()
            self.subscribed.set()
            stream = resp["EventStream"]
            for ev in stream:
                e = ev["SubscribeToShardEvent"]
                with self.lock:
                    self.events.append(e)
                    self.event_times.append(time.monotonic())
                    self.records.extend(e["Records"])
                    have = len(self.records)
                if self._stop_reading.is_set() or \
                        (self.want is not None and have >= self.want) or \
                        time.monotonic() > deadline:
                    stream.close()
                    return
            self.ended = True
        except Exception as ex:  # noqa: BLE001 - reported to the test
            self.error = ex
        finally:
            self.subscribed.set()
            self.done.set()

    def stop(self):
        self._stop_reading.set()

    def start_and_wait(self, timeout_s=30):
        """Starts the thread and waits for the call's answer; raises the
        call's error if it failed."""
        self.start()
        if not self.subscribed.wait(timeout_s):
            raise AssertionError("SubscribeToShard did not answer in %ds" % timeout_s)
        if self.t_subscribed is None and self.error is not None:
            raise self.error
        return self

    def wait_records(self, n, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.records) >= n:
                    return
            if self.done.is_set():
                break
            time.sleep(0.02)
        raise AssertionError("subscription got %d of %d records (error %r, ended %s)"
                             % (len(self.records), n, self.error, self.ended))

    def finish(self, timeout_s=30):
        self.stop()
        self.join(timeout_s)
        if self.is_alive():
            raise AssertionError("subscription thread did not stop")


def error_code(ex):
    if isinstance(ex, (botocore.exceptions.ClientError, botocore.exceptions.EventStreamError)):
        return ex.response["Error"].get("Code")
    return None


def seqs(records):
    return [r["SequenceNumber"] for r in records]


def pairs(records):
    return [(r["Data"], r["SequenceNumber"]) for r in records]


class SubscribeBase(unittest.TestCase):
    """A single all-roles node of its own (flags: extra_args)."""

    maxDiff = 4000
    timeout_s = 180
    extra_args = ("--subscription-ms", "60000")

    @classmethod
    def setUpClass(cls):
        cls.node = single_node(unique_name(cls.__name__[:10].lower()))
        cls.node.args.extend(cls.extra_args)
        cls.node.start()
        cls.endpoint = cls.node.endpoint
        cls.c = client(cls.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def setUp(self):
        self._streams = []
        self._subs = []

    def tearDown(self):
        for s in self._subs:
            s.stop()
        for s in self._subs:
            s.join(10)
        for name in self._streams:
            delete_quietly(self.c, name)
        problems = self.node.problems
        self.node.problems = []
        if problems:
            self.fail("\n".join(problems))

    def new_stream(self, shards=1):
        name = unique_name("sub")
        self._streams.append(name)
        summary = create_active(self.c, name, shards)
        return name, summary["StreamARN"]

    def subscribe(self, arn, position, shard_id=SHARD0, endpoint=None, **kw):
        s = Subscription(endpoint or self.endpoint, arn, shard_id, position, **kw)
        self._subs.append(s)
        return s.start_and_wait()

    def put(self, name, n, prefix="r", size=None, key="pk"):
        """PutRecords of n records (Data prefix%05d, padded to size bytes);
        returns (data, SequenceNumber) in put order."""
        entries = []
        for i in range(n):
            d = b"%s%05d" % (prefix.encode(), i)
            if size is not None:
                d = d + b"." * (size - len(d))
            entries.append({"Data": d, "PartitionKey": "%s%d" % (key, i)})
        per_call = 500 if size is None else max(1, (4 << 20) // size)  # under 5 MiB a call
        res = []
        for off in range(0, n, per_call):
            res += put_all(self.c, name, entries[off:off + per_call])
        return [(e["Data"], r["SequenceNumber"]) for e, r in zip(entries, res)]

    def assertContinuations(self, sub, start_seq=None):
        """Each event's ContinuationSequenceNumber is its last record's
        sequence number, or (no records) the last record before it."""
        last = start_seq
        for e in sub.events:
            cont = int(e["ContinuationSequenceNumber"])
            self.assertGreaterEqual(e["MillisBehindLatest"], 0)
            if e["Records"]:
                last = int(e["Records"][-1]["SequenceNumber"])
                self.assertEqual(cont, last, e)
            elif last is not None:
                self.assertEqual(cont, last, e)


class SubscribeTest(SubscribeBase):

    def test_records_in_order_and_heartbeats(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        sub = self.subscribe(arn, {"Type": "LATEST"})
        put = []
        for b in range(5):
            put += self.put(name, 60, prefix="b%d-" % b)
        sub.wait_records(len(put))
        self.assertEqual(pairs(sub.records), put)
        for r in sub.records:
            self.assertIsInstance(r["ApproximateArrivalTimestamp"], datetime.datetime)
            self.assertTrue(r["PartitionKey"].startswith("pk"))
        # Idle: empty events keep coming, pointing at the last record.
        n_events = len(sub.events)
        time.sleep(2.5 * HEARTBEAT_S)
        with sub.lock:
            idle = sub.events[n_events:]
        self.assertGreaterEqual(len(idle), 1, "no heartbeat while idle")
        for e in idle:
            self.assertEqual(e["Records"], [])
            self.assertEqual(e["ContinuationSequenceNumber"], put[-1][1])
            self.assertEqual(e["MillisBehindLatest"], 0)
        self.assertContinuations(sub)
        sub.finish()
        self.assertIsNone(sub.error)

    def test_starting_positions(self):
        name, sarn = self.new_stream()
        first = self.put(name, 10, prefix="a")
        # boto3 sends Timestamp in whole epoch seconds (rounded down): a
        # second and more after the first batch, before the second.
        time.sleep(1.1)
        ts = datetime.datetime.now(datetime.timezone.utc)
        second = self.put(name, 10, prefix="b")
        every = first + second
        arns = [register_consumer(self.c, sarn, unique_name("c%d" % i)) for i in range(5)]
        cases = [
            ({"Type": "TRIM_HORIZON"}, every),
            ({"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": every[5][1]}, every[5:]),
            ({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": every[5][1]}, every[6:]),
            ({"Type": "AT_TIMESTAMP", "Timestamp": ts}, second),
        ]
        subs = [self.subscribe(arns[i], pos) for i, (pos, _) in enumerate(cases)]
        latest = self.subscribe(arns[4], {"Type": "LATEST"})
        third = self.put(name, 3, prefix="c")
        for (pos, want), sub in zip(cases, subs):
            sub.wait_records(len(want) + len(third))
        latest.wait_records(len(third))
        time.sleep(HEARTBEAT_S + 0.5)  # anything extra would be there by now
        for (pos, want), sub in zip(cases, subs):
            with self.subTest(position=pos["Type"]):
                self.assertEqual(pairs(sub.records), want + third)
                self.assertContinuations(sub)
                self.assertIsNone(sub.error)
        self.assertEqual(pairs(latest.records), third)
        self.assertIsNone(latest.error)

    def test_continuation_before_any_record(self):
        """Idle subscriptions send empty events whose continuation is a
        sequence number of the shard, accepted as AFTER_SEQUENCE_NUMBER: after
        the last record it is that record; AT a number nothing has reached yet
        it is below that number."""
        name, sarn = self.new_stream()
        arns = [register_consumer(self.c, sarn, unique_name("c%d" % i)) for i in range(3)]
        put = self.put(name, 2, prefix="e")
        after = self.subscribe(arns[0], {"Type": "AFTER_SEQUENCE_NUMBER",
                                         "SequenceNumber": put[1][1]})
        future = str(int(put[1][1]) + (1 << 64))  # the next Raft index, same shard
        at = self.subscribe(arns[1], {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": future})
        deadline = time.monotonic() + 3 * HEARTBEAT_S
        while (not after.events or not at.events) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(after.events and at.events, "no heartbeat")
        self.assertEqual(after.events[0]["Records"], [])
        self.assertEqual(after.events[0]["ContinuationSequenceNumber"], put[1][1])
        self.assertEqual(at.events[0]["Records"], [])
        cont = int(at.events[0]["ContinuationSequenceNumber"])
        self.assertGreaterEqual(cont, int(put[1][1]))
        self.assertLess(cont, int(future))
        # Accepted as a position (it is one of the shard's numbers).
        resumed = self.subscribe(arns[2], {"Type": "AFTER_SEQUENCE_NUMBER",
                                           "SequenceNumber": str(cont)})
        more = self.put(name, 1, prefix="f")
        after.wait_records(1)
        self.assertEqual(pairs(after.records), more)
        self.assertIsNone(resumed.error)

    def test_errors_before_the_stream(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        c = client(self.endpoint)
        account = sarn.split(":")[4]
        cname = arn.split("/consumer/")[1].split(":")[0]
        # A consumer that does not exist (another creation time).
        ghost = arn.rsplit(":", 1)[0] + ":1"
        e = error_of(c.subscribe_to_shard, ConsumerARN=ghost, ShardId=SHARD0,
                     StartingPosition={"Type": "LATEST"})
        self.assertEqual(e.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(e.response["Error"]["Message"],
                         "Consumer %s with creation timestamp 1 under stream %s and account %s "
                         "not found." % (cname, name, account))
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        # A shard that does not exist.
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId="shardId-000000000009",
                     StartingPosition={"Type": "LATEST"})
        self.assertEqual(e.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(e.response["Error"]["Message"],
                         "Shard shardId-000000000009 in stream %s under account %s does not exist"
                         % (name, account))
        # Positions.
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "AT_SEQUENCE_NUMBER"})
        self.assertEqual(e.response["Error"]["Code"], "InvalidArgumentException")
        self.assertIn("Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber",
                      e.response["Error"]["Message"])
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "AT_TIMESTAMP"})
        self.assertEqual(e.response["Error"]["Code"], "InvalidArgumentException")
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "7"})
        self.assertEqual(e.response["Error"]["Code"], "InvalidArgumentException")
        # Validation.
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0)
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertEqual(e.response["Error"]["Message"], "1 validation error detected: " +
                         constraint(None, "startingPosition", "Member must not be null"))
        e = error_of(c.subscribe_to_shard, ConsumerARN="nope", ShardId="bad id!",
                     StartingPosition={"Type": "SOMEWHERE"})
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertTrue(e.response["Error"]["Message"].startswith("3 validation errors detected:"),
                        e.response["Error"]["Message"])
        # Nothing of the above counts as a subscription: one still starts.
        sub = self.subscribe(arn, {"Type": "LATEST"})
        self.put(name, 1)
        sub.wait_records(1)

    def test_takeover_in_use_and_rate(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        other_arn = register_consumer(self.c, sarn, unique_name("o"))
        account = sarn.split(":")[4]
        cname = arn.split("/consumer/")[1].split(":")[0]
        old = self.subscribe(arn, {"Type": "LATEST"})
        t0 = old.t_subscribed
        self.put(name, 2, prefix="x")
        old.wait_records(2)
        time.sleep(max(0, t0 + 1.2 - time.monotonic()))
        c = client(self.endpoint)
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "LATEST"})
        self.assertEqual(error_code(e), "ResourceInUseException")
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        in_use = ("Another active subscription exists for this consumer: %s:%s:%s:%s"
                  % (account, name, SHARD0, cname))
        self.assertEqual(e.response["Error"]["Message"], in_use)
        # Right after: over the one call a second per consumer and shard.
        e = error_of(c.subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "LATEST"})
        self.assertEqual(error_code(e), "LimitExceededException")
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        # Another consumer of the same shard is not affected.
        other = self.subscribe(other_arn, {"Type": "LATEST"})
        # 5 s after the first call, a new one takes over.
        time.sleep(max(0, t0 + 5.3 - time.monotonic()))
        new = self.subscribe(arn, {"Type": "LATEST"})
        old.join(15)
        self.assertFalse(old.is_alive(), "the old stream did not end")
        self.assertIsInstance(old.error, botocore.exceptions.EventStreamError, old.error)
        self.assertEqual(error_code(old.error), "ResourceInUseException")
        self.assertEqual(old.error.response["Error"]["Message"], in_use)
        later = self.put(name, 3, prefix="y")
        new.wait_records(3)
        other.wait_records(3)
        self.assertEqual(pairs(new.records), later)
        self.assertEqual(seqs(other.records), [s for _, s in later])
        self.assertEqual(len(old.records), 2)

    def test_child_shards_after_split(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        sub = self.subscribe(arn, {"Type": "TRIM_HORIZON"}, max_s=90)
        before = self.put(name, 20, prefix="p")
        sub.wait_records(20)
        self.c.split_shard(StreamName=name, ShardToSplit=SHARD0, NewStartingHashKey=str(2**127))
        wait_status(self.c, name, "ACTIVE")
        sub.join(30)
        self.assertFalse(sub.is_alive(), "the stream did not end at the shard's end")
        self.assertIsNone(sub.error)
        self.assertTrue(sub.ended)
        self.assertEqual(pairs(sub.records), before)
        last = sub.events[-1]
        self.assertIn("ChildShards", last)
        for e in sub.events[:-1]:
            self.assertNotIn("ChildShards", e)
        shards = self.c.list_shards(StreamName=name)["Shards"]
        children = sorted([s for s in shards if s.get("ParentShardId") == SHARD0],
                          key=lambda s: s["ShardId"])
        self.assertEqual(len(children), 2)
        got = sorted(last["ChildShards"], key=lambda s: s["ShardId"])
        self.assertEqual([g["ShardId"] for g in got], [ch["ShardId"] for ch in children])
        for g, ch in zip(got, children):
            self.assertEqual(g["ParentShards"], [SHARD0])
            self.assertEqual(g["HashKeyRange"], ch["HashKeyRange"])
        # A child streams from its start.
        child = self.subscribe(arn, {"Type": "TRIM_HORIZON"}, shard_id=children[1]["ShardId"])
        r = self.c.put_record(StreamName=name, PartitionKey="z", Data=b"child",
                              ExplicitHashKey=str(2**128 - 1))
        self.assertEqual(r["ShardId"], children[1]["ShardId"])
        child.wait_records(1)
        self.assertEqual(child.records[0]["SequenceNumber"], r["SequenceNumber"])

    def test_twenty_consumers_one_shard(self):
        name, sarn = self.new_stream()
        arns = [register_consumer(self.c, sarn, unique_name("c%02d" % i)) for i in range(20)]
        subs = [self.subscribe(a, {"Type": "TRIM_HORIZON"}) for a in arns]
        put = []
        for b in range(3):
            put += self.put(name, 100, prefix="t%d-" % b)
        for s in subs:
            s.wait_records(len(put), timeout_s=60)
        for i, s in enumerate(subs):
            with self.subTest(consumer=i):
                self.assertEqual(pairs(s.records), put)
                self.assertIsNone(s.error)
                self.assertContinuations(s)

    def test_cbor_events(self):
        """A CBOR request (the Java SDK's) gets CBOR event payloads with Data
        as a byte string; the framing and initial-response as for JSON."""
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        put = self.put(name, 3, prefix="cb")
        body = test_cbor.encode({"ConsumerARN": arn, "ShardId": SHARD0,
                                 "StartingPosition": {"Type": "TRIM_HORIZON"}})
        conn, resp = raw_subscribe(self.endpoint, body, "application/x-amz-cbor-1.1")
        try:
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("Content-Type"), "application/vnd.amazon.eventstream")
            reader = EventReader(resp)
            h, payload = reader.next()
            self.assertEqual(h[":event-type"], "initial-response")
            self.assertEqual(h[":content-type"], "application/x-amz-cbor-1.1")
            self.assertEqual(test_cbor.decode(payload), {})
            got = []
            while len(got) < 3:
                h, payload = reader.next()
                self.assertEqual(h[":event-type"], "SubscribeToShardEvent")
                self.assertEqual(h[":message-type"], "event")
                ev = test_cbor.decode(payload)
                for r in ev["Records"]:
                    self.assertIsInstance(r["Data"], bytes)
                    got.append((r["Data"], r["SequenceNumber"]))
            self.assertEqual(got, put)
        finally:
            conn.close()


class JsSdkTest(SubscribeBase):
    """The AWS SDK for JavaScript v3 (HTTP/2 by default, h2c on http://)."""

    def test_js_sdk_push_heartbeat_takeover(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is missing: run tools/bootstrap")
        self.assertTrue(os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk",
                                                   "client-kinesis")),
                        "@aws-sdk/client-kinesis is missing: run tools/bootstrap")
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("js"))
        proc = subprocess.run([node, os.path.join(JS_DIR, "subscribe_push.mjs"), self.endpoint,
                               name, arn], capture_output=True, text=True, timeout=90,
                              cwd=JS_DIR)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["data"], ["js-%d" % i for i in range(5)])
        self.assertEqual(out["sequences"], out["put"])
        self.assertEqual(out["continuation"], out["put"][-1])
        self.assertEqual(out["heartbeat"], {"records": 0, "continuation": out["put"][-1],
                                            "behind": 0})
        self.assertEqual(out["inUse"]["name"], "ResourceInUseException", out["inUse"])
        self.assertEqual(out["inUse"]["status"], 400)
        self.assertEqual(out["takeover"], "ResourceInUseException")
        self.assertEqual(out["after"], "js-after")


# ---- raw HTTP/1.1 event streams -----------------------------------------------

def raw_subscribe(endpoint, body, content_type):
    """Sends a signed SubscribeToShard and returns (connection, response)
    with the body unread (http.client undoes the chunking)."""
    headers = {"Content-Type": content_type, "X-Amz-Target": TARGET_PREFIX + "SubscribeToShard"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=endpoint + "/", data=body,
                                         headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY),
                            "kinesis", REGION).add_auth(req)
    prepared = req.prepare()
    host, port = endpoint.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/", body=body, headers=dict(prepared.headers.items()))
    return conn, conn.getresponse()


class EventReader:
    """Reads event-stream messages from a response, checking both CRCs."""

    def __init__(self, resp):
        self.resp = resp

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.resp.read(n - len(out))
            if not chunk:
                raise AssertionError("event stream ended inside a message")
            out += chunk
        return out

    def next(self):
        prelude = self._read(12)
        total, hlen, pcrc = struct.unpack(">III", prelude)
        assert zlib.crc32(prelude[:8]) == pcrc, "prelude CRC"
        rest = self._read(total - 12)
        assert zlib.crc32(prelude + rest[:-4]) == struct.unpack(">I", rest[-4:])[0], "message CRC"
        headers, p = {}, 0
        hdrs = rest[:hlen]
        while p < hlen:
            n = hdrs[p]
            key = hdrs[p + 1:p + 1 + n].decode()
            p += 1 + n
            assert hdrs[p] == 7, "string header"
            vlen = struct.unpack(">H", hdrs[p + 1:p + 3])[0]
            headers[key] = hdrs[p + 3:p + 3 + vlen].decode()
            p += 3 + vlen
        return headers, rest[hlen:-4]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class SlowReaderTest(SubscribeBase):
    """A subscriber that stops reading: the gateway stops reading for it.
    No throughput limit here, so only the stream's queue bound holds it."""

    timeout_s = 300
    extra_args = ("--subscription-ms", "60000", "--subscription-bytes-per-s", "0")

    def test_slow_reader_bounded_memory(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        chunk = 512 * 1024
        # Warm up: the write path reaches its steady memory (Raft log between
        # snapshots, segment buffers) before the measurement.
        warm = self.put(name, 96, prefix="w", size=chunk)
        pid = self.node.proc.pid
        before = rss_kib(pid)
        body = ('{"ConsumerARN":"%s","ShardId":"%s","StartingPosition":{"Type":"TRIM_HORIZON"}}'
                % (arn, SHARD0)).encode()
        conn, resp = raw_subscribe(self.endpoint, body, "application/x-amz-json-1.1")
        try:
            self.assertEqual(resp.status, 200)
            reader = EventReader(resp)
            h, _ = reader.next()
            self.assertEqual(h[":event-type"], "initial-response")
            # Now it reads nothing while 64 MiB more are written.
            stalled = self.put(name, 128, prefix="s", size=chunk)
            time.sleep(2)
            after = rss_kib(pid)
            grown_mib = (after - before) / 1024.0
            info("RSS %.0f MiB -> %.0f MiB while 64 MiB were put for a stalled subscriber"
                 % (before / 1024.0, after / 1024.0))
            self.assertLess(grown_mib, 40, "server RSS grew %.0f MiB" % grown_mib)
            # It is far behind (the events it reads now say so), and its
            # stream is whole: the records in order from the first, no
            # exception event.
            behind = []
            want = [d for d, _ in warm + stalled]
            got = []
            while len(got) < 64:
                h, payload = reader.next()
                self.assertEqual(h.get(":message-type"), "event", (h, payload[:200]))
                self.assertEqual(h[":event-type"], "SubscribeToShardEvent")
                ev = json.loads(payload)
                behind.append(ev["MillisBehindLatest"])
                got += [base64.b64decode(r["Data"]) for r in ev["Records"]]
            self.assertEqual(got, want[:len(got)])
            self.assertGreater(max(behind), 0, behind)
        finally:
            conn.close()


class ThroughputTest(SubscribeBase):
    """Each consumer has its own rate per shard (1 MiB/s here)."""

    extra_args = ("--subscription-ms", "60000", "--subscription-bytes-per-s", "1048576")

    def test_per_consumer_rate_is_independent(self):
        name, sarn = self.new_stream()
        a = register_consumer(self.c, sarn, unique_name("a"))
        b = register_consumer(self.c, sarn, unique_name("b"))
        chunk = 256 * 1024
        put = self.put(name, 24, prefix="q", size=chunk)  # 6 MiB
        t0 = time.monotonic()
        sa = self.subscribe(a, {"Type": "TRIM_HORIZON"})
        sb = self.subscribe(b, {"Type": "TRIM_HORIZON"})
        # A GetRecords reader of the same shard is not held back either.
        got = read_shard(self.c, name, SHARD0)
        t_get = time.monotonic() - t0
        sa.wait_records(len(put), timeout_s=40)
        sb.wait_records(len(put), timeout_s=40)
        ta = sa.event_times[-1] - t0
        tb = sb.event_times[-1] - t0
        info("6 MiB at 1 MiB/s: consumer a %.1f s, b %.1f s; GetRecords %.1f s" % (ta, tb, t_get))
        self.assertEqual(len(got), len(put))
        # A full bucket (1 s worth) goes at once, the other 5 MiB at the rate.
        self.assertGreater(ta, 3.5)
        self.assertGreater(tb, 3.5)
        # Each stream's own span, first event to last: about 5 s at its own
        # 1 MiB/s, about 10 s if the two shared one rate. Measured from each
        # stream's first event, so a subscription that starts late on a
        # loaded (sanitizer) machine does not count as a slow rate.
        da = sa.event_times[-1] - sa.event_times[0]
        db = sb.event_times[-1] - sb.event_times[0]
        info("spans: consumer a %.1f s, b %.1f s" % (da, db))
        self.assertLess(max(da, db), 8.5, "one consumer's rate depends on the other's")
        self.assertLess(max(ta, tb), 12)
        self.assertLess(t_get, 3.0, "GetRecords was held back by the subscriptions")
        for s in (sa, sb):
            self.assertEqual(pairs(s.records), put)


class LifetimeTest(SubscribeBase):
    """Subscriptions end after --subscription-ms (3 s here)."""

    extra_args = ("--subscription-ms", "3000")

    def test_resume_after_lifetime(self):
        name, sarn = self.new_stream()
        arn = register_consumer(self.c, sarn, unique_name("c"))
        put = []
        stop = threading.Event()

        def writer():
            wc = client(self.endpoint)
            i = 0
            while not stop.is_set():
                d = b"l%05d" % i
                r = wc.put_record(StreamName=name, PartitionKey="k", Data=d)
                put.append((d, r["SequenceNumber"]))
                i += 1
                time.sleep(0.1)

        w = threading.Thread(target=writer, daemon=True)
        position = {"Type": "TRIM_HORIZON"}
        received = []
        rounds = []
        w.start()
        try:
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline:
                sub = self.subscribe(arn, position, max_s=30)
                sub.join(15)
                self.assertFalse(sub.is_alive(), "the stream outlived its lifetime")
                self.assertIsNone(sub.error)
                self.assertTrue(sub.ended, "no clean end")
                rounds.append(sub.event_times[-1] - sub.t_subscribed if sub.event_times else 0)
                received.extend(sub.records)
                self.assertGreater(len(sub.events), 0)
                cont = sub.events[-1]["ContinuationSequenceNumber"]
                position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cont}
        finally:
            stop.set()
            w.join(10)
        # What was put after the last subscription ended comes next.
        last = self.subscribe(arn, position, max_s=30)
        last.wait_records(len(put) - len(received))
        last.finish()
        received.extend(last.records)
        info("%d subscriptions of ~3 s, %d records" % (len(rounds), len(received)))
        self.assertGreaterEqual(len(rounds), 3)
        for t in rounds:
            self.assertGreater(t, 1.5)
            self.assertLess(t, 6.0)
        self.assertEqual(pairs(received), put)


class LeaderKillTest(unittest.TestCase):
    """A 3-node cluster; SIGKILL of the shard group's leader mid-subscription."""

    timeout_s = 300

    def setUp(self):
        self.cluster = Cluster(unique_name("subk"))
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

    def test_leader_sigkill_no_gap_no_duplicate(self):
        first = self.cluster.nodes[0]
        c = client(first.endpoint)
        name = unique_name("subk")
        sarn = create_active(c, name, 1)["StreamARN"]
        c.put_record(StreamName=name, PartitionKey="k", Data=b"first")
        group = None
        deadline = time.monotonic() + 20
        while group is None and time.monotonic() < deadline:
            group = self.cluster.shard_group(name, 0)
            time.sleep(0.1)
        self.assertIsNotNone(group)
        leader = self.cluster.leader_of(group)
        survivors = [n for n in self.cluster.nodes if n is not leader]
        gw = survivors[0]
        arn = register_consumer(client(gw.endpoint), sarn, unique_name("c"))
        sub = Subscription(gw.endpoint, arn, SHARD0, {"Type": "TRIM_HORIZON"}, max_s=240)
        sub.start_and_wait()
        acked = []
        stop = threading.Event()

        def writer():
            # Through the other survivor, retrying like an SDK: a record whose
            # put failed indeterminately may be stored twice; the check below
            # is against what the shard holds, not against what was sent.
            wc = client(survivors[1].endpoint)
            i = 0
            while not stop.is_set():
                try:
                    r = wc.put_record(StreamName=name, PartitionKey="k%d" % i,
                                      Data=b"w%06d" % i)
                    acked.append(r["SequenceNumber"])
                    i += 1
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                    time.sleep(0.05)
                time.sleep(0.01)

        w = threading.Thread(target=writer, daemon=True)
        w.start()
        try:
            time.sleep(2)
            before_kill = len(sub.records)
            info("killing group %d leader %s with %d records delivered"
                 % (group, leader.name, before_kill))
            leader.kill9()
            time.sleep(6)
        finally:
            stop.set()
            w.join(30)
        self.assertGreater(len(acked), 0)
        # Everything the shard holds, read back through a survivor.
        stored = None
        deadline = time.monotonic() + 60
        while stored is None:
            try:
                stored = read_shard(client(gw.endpoint), name, SHARD0)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in GATEWAY_ERRORS_5XX or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        sub.wait_records(len(stored), timeout_s=60)
        time.sleep(HEARTBEAT_S + 0.5)
        sub.finish()
        self.assertIsNone(sub.error, sub.error)
        delivered = seqs(sub.records)
        self.assertEqual(delivered, seqs(stored), "the subscription differs from the shard")
        self.assertEqual(len(set(delivered)), len(delivered))
        self.assertTrue(set(acked) <= set(delivered), "an acknowledged record was not pushed")
        self.assertGreater(len(delivered), before_kill, "nothing pushed after the kill")
        info("%d records pushed, %d acknowledged puts, across the leader's death"
             % (len(delivered), len(acked)))


class ClusterLeaseBase(unittest.TestCase):
    """SubscribeToShard's one subscription per consumer and shard across the
    gateways of a 3-node cluster (docs/adr/0008): each test its own cluster
    (flags: extra_args)."""

    timeout_s = 240
    extra_args = ()

    def setUp(self):
        self.cluster = Cluster(unique_name("subl"), extra_args=self.extra_args)
        self.cluster.start()
        self.cluster.wait_healthy(60)
        self._subs = []

    def tearDown(self):
        for s in self._subs:
            s.stop()
        for s in self._subs:
            s.join(10)
        problems = []
        for n in self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        if problems:
            self.fail("\n".join(problems))

    def new_consumer(self, node):
        """A one-shard stream and an ACTIVE consumer, through node's gateway:
        (client, stream name, consumer ARN, AWS's in-use text)."""
        c = client(node.endpoint)
        name = unique_name("lease")
        sarn = create_active(c, name, 1)["StreamARN"]
        arn = register_consumer(c, sarn, unique_name("c"))
        in_use = ("Another active subscription exists for this consumer: %s:%s:%s:%s"
                  % (sarn.split(":")[4], name, SHARD0, arn.split("/consumer/")[1].split(":")[0]))
        return c, name, arn, in_use

    def subscribe(self, node, arn):
        s = Subscription(node.endpoint, arn, SHARD0, {"Type": "LATEST"}, max_s=120)
        self._subs.append(s)
        return s.start_and_wait()

    def assertInUse(self, node, arn, in_use):
        e = error_of(client(node.endpoint).subscribe_to_shard, ConsumerARN=arn, ShardId=SHARD0,
                     StartingPosition={"Type": "LATEST"})
        self.assertEqual(error_code(e), "ResourceInUseException", e.response)
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(e.response["Error"]["Message"], in_use)

    def assertTakenOver(self, old, in_use):
        old.join(15)
        self.assertFalse(old.is_alive(), "the old stream did not end")
        self.assertIsInstance(old.error, botocore.exceptions.EventStreamError, old.error)
        self.assertEqual(error_code(old.error), "ResourceInUseException")
        self.assertEqual(old.error.response["Error"]["Message"], in_use)

    @staticmethod
    def put(c, name, n, prefix):
        entries = [{"Data": b"%s%03d" % (prefix, i), "PartitionKey": "k%d" % i} for i in range(n)]
        res = put_all(c, name, entries)
        return [(e["Data"], r["SequenceNumber"]) for e, r in zip(entries, res)]


class ClusterLeaseTest(ClusterLeaseBase):

    def test_in_use_and_takeover_across_gateways(self):
        a, b, third = self.cluster.nodes
        c, name, arn, in_use = self.new_consumer(a)
        old = self.subscribe(a, arn)
        t0 = old.t_subscribed
        first = self.put(c, name, 2, b"a")
        old.wait_records(2)
        # Within 5 s, through the two other gateways: refused with AWS's
        # answer (each gateway's own one-call-a-second rule is untouched).
        self.assertInUse(b, arn, in_use)
        self.assertInUse(third, arn, in_use)
        self.assertLess(time.monotonic() - t0, 5.0, "the calls came too late to be refused")
        # 5 s after the first call, another gateway takes over.
        time.sleep(max(0, t0 + 5.3 - time.monotonic()))
        new = self.subscribe(b, arn)
        self.assertTakenOver(old, in_use)
        later = self.put(c, name, 3, b"b")
        new.wait_records(3)
        self.assertEqual(pairs(new.records), later)
        self.assertEqual(pairs(old.records), first)
        # The old gateway refuses a new call within 5 s of the takeover.
        self.assertInUse(a, arn, in_use)
        new.finish()
        self.assertIsNone(new.error)

    def test_lease_outlives_leader_change(self):
        """The new leader of the shard's group learns the holder from its
        re-attached reads, with its age: within 5 s of the first call another
        gateway is still refused, after 5 s it takes over."""
        c, name, arn, in_use = self.new_consumer(self.cluster.nodes[0])
        group = None
        deadline = time.monotonic() + 20
        while group is None and time.monotonic() < deadline:
            group = self.cluster.shard_group(name, 0)
            time.sleep(0.1)
        self.assertIsNotNone(group)
        leader = self.cluster.leader_of(group)
        a, b = [n for n in self.cluster.nodes if n is not leader]
        old = self.subscribe(a, arn)
        t0 = old.t_subscribed
        leader.kill9()
        # Re-attached once a record put after the kill reaches it.
        wc = client(b.endpoint)
        deadline = time.monotonic() + 30
        while True:
            try:
                first = self.put(wc, name, 1, b"a")
                break
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] not in GATEWAY_ERRORS_5XX or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        old.wait_records(1, timeout_s=30)
        back_s = time.monotonic() - t0
        info("leader %s killed; the subscription re-attached %.1f s after its start"
             % (leader.name, back_s))
        self.assertLess(back_s, 4.5, "re-attached too late to check the 5 s window")
        last_b = time.monotonic()
        self.assertInUse(b, arn, in_use)
        time.sleep(max(0, t0 + 5.3 - time.monotonic(), last_b + 1.1 - time.monotonic()))
        new = self.subscribe(b, arn)
        self.assertTakenOver(old, in_use)
        later = self.put(wc, name, 2, b"b")
        new.wait_records(2)
        self.assertEqual(pairs(new.records), later)
        self.assertEqual(pairs(old.records), first)


class ClusterLeaseReleaseTest(ClusterLeaseBase):
    """Subscriptions end after 3 s here (--subscription-ms)."""

    extra_args = ("--subscription-ms", "3000")

    def test_ended_stream_gives_the_lease_back(self):
        """A stream the server ended gives the lease back: another gateway
        starts a new subscription within 5 s of the ended one's start."""
        a, b, _ = self.cluster.nodes
        c, name, arn, _ = self.new_consumer(a)
        old = self.subscribe(a, arn)
        t0 = old.t_subscribed
        old.join(15)
        self.assertFalse(old.is_alive(), "the stream outlived its lifetime")
        self.assertIsNone(old.error)
        self.assertTrue(old.ended)
        new = None
        while new is None:
            try:
                new = self.subscribe(b, arn)
            except botocore.exceptions.ClientError as e:
                # The release and this call race to the leader: once more.
                self.assertEqual(error_code(e), "ResourceInUseException", e.response)
                self.assertLess(time.monotonic() + 1.1 - t0, 4.9, "the lease was not given back")
                time.sleep(1.1)  # the gateway's one call a second
        info("a new subscription through another gateway %.1f s after the first"
             % (new.t_subscribed - t0))
        self.assertLess(new.t_subscribed - t0, 5.0)
        more = self.put(c, name, 2, b"c")
        new.wait_records(2)
        self.assertEqual(pairs(new.records), more)


if __name__ == "__main__":
    unittest.main()
