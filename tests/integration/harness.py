"""Real eddyd processes and real AWS clients for the integration tests.

A Node is one eddyd process with its own temp data dir, free 127.0.0.1
ports and a log file. Nodes are started with start() (which waits for
"gateway listening" when the node has the gateway role), stopped with
stop() (SIGTERM, then SIGKILL after 10 s) or killed with kill9(). Every
node ever started is remembered, so stop_all() at the end of a run (and
the atexit hook, and the parent-death signal on the child) leaves nothing
behind even when a test fails half way.

The binary is $EDDYD (default build/release/eddyd). Clients use dummy
credentials (x/x), region us-east-1, and no retries: every test sees the
exact first answer of the server.
"""

import atexit
import base64
import contextlib
import ctypes
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGION = "us-east-1"
ACCESS_KEY = "x"
SECRET_KEY = "x"
TARGET_PREFIX = "Kinesis_20131202."
HASH_MAX = 2**128 - 1
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:"
)

os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
# Keep the developer's ~/.aws out of the tests.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def eddyd_path():
    return os.path.abspath(os.environ.get("EDDYD") or os.path.join(REPO, "build/release/eddyd"))


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tcp_open(port, timeout_s=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # If the harness dies (even by SIGKILL), the kernel kills eddyd too.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class NodeError(Exception):
    pass


_all_nodes = []
_all_lock = threading.Lock()
_tmp_root = None


def tmp_root():
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="eddy-it-")
    return _tmp_root


class Node:
    """One eddyd process. args are the eddyd flags; gateway_port is set when
    the node runs the gateway role (start() then waits for it to listen)."""

    def __init__(self, name, args, gateway_port=None, ready_port=None):
        self.name = name
        self.args = list(args)
        self.gateway_port = gateway_port
        self.ready_port = ready_port
        self.dir = os.path.join(tmp_root(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "eddyd.log")
        self.proc = None
        self.starts = 0
        self.reaped = True  # the last process's exit has been looked at
        self.log_checked = 0  # log bytes already scanned for sanitizer reports
        self.problems = []  # sanitizer reports, unclean exits
        with _all_lock:
            _all_nodes.append(self)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.gateway_port

    def command(self):
        return [eddyd_path()] + self.args

    def start(self, timeout_s=START_TIMEOUT_S):
        if self.proc is not None and self.proc.poll() is None:
            raise NodeError("%s already running" % self.name)
        binary = eddyd_path()
        if not os.access(binary, os.X_OK):
            raise NodeError("no eddyd binary at %s (set EDDYD or build it)" % binary)
        self.starts += 1
        self.reaped = False
        with open(self.log_path, "ab") as log:
            log.write(("==== start %d: %s\n" % (self.starts, " ".join(self.command()))).encode())
            log.flush()
            offset = log.tell()
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=env,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready(offset, timeout_s)
        return self

    def _wait_ready(self, offset, timeout_s):
        want = None
        if self.gateway_port is not None:
            want = "gateway listening on http://127.0.0.1:%d" % self.gateway_port
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NodeError(
                    "%s exited with %s before it was ready; log:\n%s"
                    % (self.name, self.proc.returncode, self.log_tail())
                )
            if want is not None:
                if want in self.log_text(offset):
                    return
            elif self.ready_port is not None and tcp_open(self.ready_port):
                return
            time.sleep(0.05)
        raise NodeError(
            "%s not ready after %ds (waiting for %r); log:\n%s"
            % (self.name, timeout_s, want or "port %s" % self.ready_port, self.log_tail())
        )

    def log_text(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join("    " + l for l in self.log_text().splitlines()[-lines:])

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_log(self):
        """Records the first sanitizer report written since the last check."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_checked)
            raw = f.read()
        self.log_checked += len(raw)
        text = raw.decode("utf-8", "replace")
        m = SANITIZER_RE.search(text)
        if m:
            start = text.rfind("\n", 0, m.start()) + 1
            self.problems.append("%s: sanitizer report in %s:\n%s"
                                 % (self.name, self.log_path, text[start:start + 3000]))

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM, wait, SIGKILL after timeout_s. Records an unclean exit
        (non-zero status, needed SIGKILL, sanitizer report) in problems."""
        if self.proc is None or self.reaped:
            return None if self.proc is None else self.proc.returncode
        self.reaped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.problems.append(
                    "%s did not exit within %ds of SIGTERM (killed)" % (self.name, timeout_s)
                )
                self._check_log()
                return self.proc.returncode
            if self.proc.returncode != 0:
                self.problems.append(
                    "%s exited with status %s after SIGTERM (want 0); log:\n%s"
                    % (self.name, self.proc.returncode, self.log_tail(20))
                )
        elif self.proc.returncode not in (0, -signal.SIGKILL):
            self.problems.append(
                "%s had died on its own with status %s; log:\n%s"
                % (self.name, self.proc.returncode, self.log_tail(20))
            )
        self._check_log()
        return self.proc.returncode

    def kill9(self):
        """Crash the node: SIGKILL, no chance to flush anything."""
        if self.is_running():
            self.proc.kill()
            self.proc.wait()
        self.reaped = True
        self._check_log()


def single_node(name, groups=2):
    """An all-roles node, as tools/up runs it, on free ports."""
    gw, rpc, raft = free_ports(3)
    data = os.path.join(tmp_root(), name, "data")
    return Node(
        name,
        [
            "--node-id", "1",
            "--data", data,
            "--gateway", "127.0.0.1:%d" % gw,
            "--rpc", "127.0.0.1:%d" % rpc,
            "--raft", "127.0.0.1:%d" % raft,
            "--peers", "1=127.0.0.1:%d/127.0.0.1:%d" % (rpc, raft),
            "--roles", "coordinator,server,gateway",
            "--groups", str(groups),
        ],
        gateway_port=gw,
    )


_shared = None
_shared_error = None


def shared_node():
    """One all-roles node shared by the API tests, started on first use and
    stopped by stop_all(). If it cannot start, every later caller gets the
    same error at once instead of waiting again."""
    global _shared, _shared_error
    if _shared_error is not None:
        raise NodeError("shared node failed to start earlier: %s" % _shared_error)
    if _shared is None:
        _shared = single_node("shared")
    if not _shared.is_running():
        if _shared.starts > 0:
            # It died under an earlier test: say so once, then restart it.
            _shared.stop()
        try:
            _shared.start()
        except NodeError as e:
            _shared_error = str(e).splitlines()[0]
            raise
    return _shared


def stop_all():
    """Stops every node still running; returns the problems seen on any node
    during the run (each one is a failure)."""
    problems = []
    with _all_lock:
        nodes = list(_all_nodes)
    for n in nodes:
        n.stop()
        problems.extend(n.problems)
        n.problems = []
    return problems


def cleanup_tmp(keep):
    global _tmp_root
    if _tmp_root and not keep:
        shutil.rmtree(_tmp_root, ignore_errors=True)
        _tmp_root = None


@atexit.register
def _kill_leftovers():
    with _all_lock:
        nodes = list(_all_nodes)
    for n in nodes:
        if n.is_running():
            n.proc.kill()
            n.proc.wait()


# ---- clients -------------------------------------------------------------

_clients = {}


def client(endpoint, validate=False, timeout_s=30):
    """A boto3 Kinesis client for endpoint: dummy credentials, us-east-1, no
    retries. validate=False turns off botocore's own parameter checks so the
    server's ValidationException is what the test sees."""
    key = (endpoint, validate, timeout_s, threading.get_ident())
    c = _clients.get(key)
    if c is None:
        cfg = botocore.config.Config(
            region_name=REGION,
            retries={"total_max_attempts": 1, "mode": "standard"},
            parameter_validation=validate,
            connect_timeout=5,
            read_timeout=timeout_s,
            max_pool_connections=4,
        )
        c = boto3.session.Session().client(
            "kinesis",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=cfg,
        )
        _clients[key] = c
    return c


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, self.headers, self.body[:500])


def raw_request(endpoint, target, body, content_type="application/x-amz-json-1.1", sign=True,
                method="POST", extra_headers=None):
    """One HTTP request exactly as given (body: bytes, str or a JSON-able
    object), SigV4-signed like an SDK would sign it. For what boto3 cannot
    send: bad JSON, unknown operations, odd headers."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if target is not None:
        headers["X-Amz-Target"] = target if "." in target else TARGET_PREFIX + target
    headers.update(extra_headers or {})
    req = botocore.awsrequest.AWSRequest(method=method, url=endpoint + "/", data=body,
                                         headers=headers)
    if sign:
        creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
        botocore.auth.SigV4Auth(creds, "kinesis", REGION).add_auth(req)
    prepared = req.prepare()
    host, port = endpoint.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, "/", body=body, headers=dict(prepared.headers.items()))
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return RawResponse(resp.status, hdrs, data)
    finally:
        conn.close()


# ---- helpers on streams and records ---------------------------------------

def unique_name(prefix="it"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def error_of(fn, *args, **kwargs):
    """Calls fn expecting a service error; returns the botocore ClientError."""
    try:
        resp = fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e
    raise AssertionError("expected an error, got success: %r" % (resp,))


def wait_status(c, name, want="ACTIVE", timeout_s=60, interval_s=0.1):
    """Polls DescribeStreamSummary until StreamStatus == want; returns the
    summary. want=None waits for ResourceNotFoundException."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            last = s["StreamStatus"]
            if want is not None and last == want:
                return s
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            if want is None and code == "ResourceNotFoundException":
                return None
            if code not in ("LimitExceededException",):
                raise
        time.sleep(interval_s)
    raise AssertionError("stream %s still %s after %ds (want %s)" % (name, last, timeout_s, want))


def create_active(c, name, shards=None):
    kwargs = {"StreamName": name}
    if shards is not None:
        kwargs["ShardCount"] = shards
    c.create_stream(**kwargs)
    return wait_status(c, name, "ACTIVE")


def delete_quietly(c, name):
    with contextlib.suppress(Exception):
        c.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def account_of(arn):
    # arn:aws:kinesis:REGION:ACCOUNT:stream/NAME
    return arn.split(":")[4]


def even_ranges(n):
    """The hash-key ranges AWS gives n initial shards: floor(2^128/n) each,
    the last one ending at 2^128-1."""
    step = (HASH_MAX + 1) // n
    out = []
    for i in range(n):
        start = i * step
        end = HASH_MAX if i == n - 1 else (i + 1) * step - 1
        out.append((start, end))
    return out


def md5_hash_key(partition_key):
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def shard_for(hash_key, shards):
    """shards: DescribeStream/ListShards entries; the id owning hash_key."""
    for s in shards:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= hash_key <= int(r["EndingHashKey"]):
            return s["ShardId"]
    raise AssertionError("no shard owns hash key %d" % hash_key)


def is_throttle(e):
    return e.response["Error"]["Code"] in (
        "ProvisionedThroughputExceededException", "LimitExceededException")


def call_with_throttle_retry(fn, timeout_s=60, **kwargs):
    """Calls fn, retrying only AWS throttling answers (as every real client
    does), with a short backoff. Any other error propagates."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            return fn(**kwargs)
        except botocore.exceptions.ClientError as e:
            if not is_throttle(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def put_all(c, name, entries, timeout_s=120):
    """PutRecords in batches of 500, resending only the records that came
    back with a per-record error (throttling), as the SDKs' callers do.
    Returns one response entry (ShardId, SequenceNumber) per input entry."""
    results = [None] * len(entries)
    deadline = time.monotonic() + timeout_s
    pending = list(range(len(entries)))
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError("%d records still failing after %ds" % (len(pending), timeout_s))
        retry = []
        for off in range(0, len(pending), 500):
            idx = pending[off:off + 500]
            resp = call_with_throttle_retry(
                c.put_records, StreamName=name, Records=[entries[i] for i in idx])
            if len(resp["Records"]) != len(idx):
                raise AssertionError("PutRecords returned %d results for %d records"
                                     % (len(resp["Records"]), len(idx)))
            failed = 0
            for i, r in zip(idx, resp["Records"]):
                if "ErrorCode" in r:
                    failed += 1
                    if r["ErrorCode"] not in ("ProvisionedThroughputExceededException",
                                              "InternalFailure"):
                        raise AssertionError("record %d failed: %r" % (i, r))
                    retry.append(i)
                else:
                    results[i] = r
            if failed != resp.get("FailedRecordCount", 0):
                raise AssertionError("FailedRecordCount %s but %d records carry an ErrorCode"
                                     % (resp.get("FailedRecordCount"), failed))
        pending = retry
        if pending:
            time.sleep(0.2)
    return results


def read_shard(c, name, shard_id, iterator_type="TRIM_HORIZON", limit=10000, timeout_s=120,
               **kwargs):
    """Reads a shard from iterator_type until a GetRecords returns no records
    and MillisBehindLatest is 0 (caught up). Returns the records."""
    it = call_with_throttle_retry(c.get_shard_iterator, StreamName=name, ShardId=shard_id,
                                  ShardIteratorType=iterator_type, **kwargs)["ShardIterator"]
    out = []
    deadline = time.monotonic() + timeout_s
    while it is not None:
        if time.monotonic() > deadline:
            raise AssertionError("reading %s/%s did not finish in %ds" % (name, shard_id, timeout_s))
        resp = call_with_throttle_retry(c.get_records, ShardIterator=it, Limit=limit)
        out.extend(resp["Records"])
        it = resp.get("NextShardIterator")
        if not resp["Records"] and resp.get("MillisBehindLatest", 0) == 0:
            break
    return out


# ---- the AWS CLI ------------------------------------------------------------

def aws_cli_path():
    for cand in (os.environ.get("EDDY_AWS"), shutil.which("aws"), "/root/.pyenv/shims/aws",
                 "/usr/bin/aws"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def aws_cli(endpoint, *args, timeout_s=60):
    """Runs `aws --endpoint-url endpoint kinesis ARGS` with dummy credentials
    and returns its parsed JSON output ({} when it prints nothing). The config
    file sets cli_binary_format=raw-in-base64-out, so a CLI v2 treats --data
    like v1 does (raw text, base64-encoded by the CLI)."""
    cli = aws_cli_path()
    if cli is None:
        raise AssertionError("no aws CLI found (run tools/bootstrap)")
    cfg = os.path.join(tmp_root(), "aws-config")
    if not os.path.exists(cfg):
        with open(cfg, "w") as f:
            f.write("[default]\nregion = %s\noutput = json\n"
                    "cli_binary_format = raw-in-base64-out\n" % REGION)
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": cfg,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    })
    cmd = [cli, "--endpoint-url", endpoint, "kinesis"] + list(args)
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout_s)
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    out = p.stdout.decode().strip()
    return json.loads(out) if out else {}


def cli_round_trip(test, endpoint):
    """The README quickstart through the AWS CLI: create-stream, put-record
    --data "sample data", get-shard-iterator, get-records; the data must come
    back as the same bytes."""
    name = unique_name("cli")
    aws_cli(endpoint, "create-stream", "--stream-name", name, "--shard-count", "2")
    deadline = time.monotonic() + 60
    while True:
        d = aws_cli(endpoint, "describe-stream-summary", "--stream-name", name)
        if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            break
        test.assertLess(time.monotonic(), deadline, "stream never became ACTIVE")
        time.sleep(0.2)
    put = aws_cli(endpoint, "put-record", "--stream-name", name,
                  "--partition-key", "my-partition-key", "--data", "sample data")
    test.assertIn(put["ShardId"], ("shardId-000000000000", "shardId-000000000001"))
    test.assertRegex(put["SequenceNumber"], r"^(0|[1-9]\d{0,128})$")
    it = aws_cli(endpoint, "get-shard-iterator", "--stream-name", name,
                 "--shard-id", put["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")
    recs = aws_cli(endpoint, "get-records", "--shard-iterator", it["ShardIterator"])
    test.assertEqual(len(recs["Records"]), 1, recs)
    r = recs["Records"][0]
    # The CLI prints blobs base64-encoded.
    test.assertEqual(base64.b64decode(r["Data"]), b"sample data")
    test.assertEqual(r["PartitionKey"], "my-partition-key")
    test.assertEqual(r["SequenceNumber"], put["SequenceNumber"])
    test.assertIn("NextShardIterator", recs)
    aws_cli(endpoint, "delete-stream", "--stream-name", name)


# ---- assertions -------------------------------------------------------------


class AwsTestCase(unittest.TestCase):
    """A TestCase on the shared node, with assertions on exact AWS errors."""

    maxDiff = 4000
    timeout_s = 120  # per test, enforced by run.py

    @classmethod
    def setUpClass(cls):
        cls.node = shared_node()
        cls.endpoint = cls.node.endpoint
        cls.c = client(cls.endpoint)

    def setUp(self):
        self._streams = []

    def tearDown(self):
        for name in self._streams:
            delete_quietly(self.c, name)

    def new_stream(self, shards=4, prefix="it", wait=True):
        """Creates a uniquely named stream with an explicit ShardCount (None:
        none sent), deleted after the test, and waits for it to be ACTIVE;
        returns (name, summary)."""
        name = unique_name(prefix)
        self._streams.append(name)
        if not wait:
            kwargs = {"StreamName": name}
            if shards is not None:
                kwargs["ShardCount"] = shards
            self.c.create_stream(**kwargs)
            return name, None
        return name, create_active(self.c, name, shards)

    def account(self):
        """The account id in this node's ARNs (from a stream it created)."""
        cls = type(self)
        if getattr(cls.node, "account", None) is None:
            name, summary = self.new_stream(shards=1)
            cls.node.account = account_of(summary["StreamARN"])
        return cls.node.account

    def assertError(self, err, code, message=None, status=400, message_re=None):
        """err: a botocore ClientError. Checks the HTTP status, the error code
        (__type) and the exact message text (or a regex over it), and that
        the response carries an x-amzn-RequestId."""
        got_code = err.response["Error"].get("Code")
        got_msg = err.response["Error"].get("Message")
        got_status = err.response["ResponseMetadata"].get("HTTPStatusCode")
        detail = "got HTTP %s %s: %r" % (got_status, got_code, got_msg)
        self.assertEqual(got_code, code, detail)
        self.assertEqual(got_status, status, detail)
        if message is not None:
            self.assertEqual(got_msg, message, detail)
        if message_re is not None:
            self.assertRegex(got_msg or "", message_re, detail)
        rid = err.response["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amzn-requestid")
        self.assertIsNotNone(rid, "error response without x-amzn-RequestId")

    def assertValidation(self, err, *parts):
        """A ValidationException listing exactly these constraint failures
        ("Value ... at '...' failed to satisfy constraint: ..."), in any order,
        behind AWS's "N validation error(s) detected: " prefix."""
        self.assertError(err, "ValidationException")
        msg = err.response["Error"]["Message"]
        n = len(parts)
        prefix = "%d validation error%s detected: " % (n, "" if n == 1 else "s")
        self.assertTrue(msg.startswith(prefix), "want prefix %r, got %r" % (prefix, msg))
        rest = msg[len(prefix):]
        remaining = list(parts)
        while remaining:
            for p in remaining:
                if rest.startswith(p):
                    rest = rest[len(p):]
                    if rest.startswith("; "):
                        rest = rest[2:]
                    remaining.remove(p)
                    break
            else:
                self.fail("want %r, got %r (unmatched: %r)" % (parts, msg, rest))
        self.assertEqual(rest, "", "extra text in %r" % msg)

    def assertNoStream(self, err):
        """Neither StreamName nor StreamARN. Both are optional in the model
        since StreamARN came (2022), so this is no longer a "must not be
        null" ValidationException; AWS's exact answer is not documented:
        a 400 InvalidArgumentException or ValidationException."""
        code = err.response["Error"].get("Code")
        self.assertIn(code, ("InvalidArgumentException", "ValidationException"),
                      err.response["Error"])
        self.assertEqual(err.response["ResponseMetadata"].get("HTTPStatusCode"), 400)

    def assertRequestId(self, resp):
        rid = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
        self.assertIsNotNone(rid, "response without x-amzn-RequestId")
        return rid


def constraint(value, path, rule):
    """One ValidationException clause: value None prints as null, a str as
    'value'."""
    v = "null" if value is None else "'%s'" % value
    return "Value %s at '%s' failed to satisfy constraint: %s" % (v, path, rule)


NAME_RE_RULE = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
NOT_NULL = "Member must not be null"


def stop_and_check(test, *nodes):
    """Stops nodes (SIGTERM, then SIGKILL after 10 s) and fails test with
    whatever went wrong on them: unclean exit, sanitizer reports."""
    problems = []
    for n in nodes:
        n.stop()
        problems.extend(n.problems)
        n.problems = []
    if problems:
        test.fail("\n".join(problems))


# ---- three-process clusters ---------------------------------------------------

GATEWAY_ERRORS_5XX = ("InternalFailure", "ServiceUnavailable", "InternalServerError",
                      "InternalFailureException", "ServiceUnavailableException")
SEG_NAME_RE = re.compile(r"^[0-9a-f]{32}\.seg$")


def eddy_cli_path():
    """The eddy CLI next to $EDDYD (or $EDDY)."""
    return os.path.abspath(os.environ.get("EDDY")
                           or os.path.join(os.path.dirname(eddyd_path()), "eddy"))


class ClusterNode(Node):
    """One all-roles eddyd of a Cluster: node_id, its three ports, its data dir."""

    def __init__(self, name, node_id, ports, peers, groups, extra_args=()):
        self.node_id = node_id
        self.gw_port, self.rpc_port, self.raft_port = ports
        self.data = os.path.join(tmp_root(), name, "data")
        super().__init__(name, [
            "--node-id", str(node_id),
            "--data", self.data,
            "--gateway", "127.0.0.1:%d" % self.gw_port,
            "--rpc", "127.0.0.1:%d" % self.rpc_port,
            "--raft", "127.0.0.1:%d" % self.raft_port,
            "--peers", peers,
            "--groups", str(groups),
        ] + list(extra_args), gateway_port=self.gw_port)

    @property
    def rpc(self):
        return "127.0.0.1:%d" % self.rpc_port

    def wipe(self):
        """Removes the data directory (the node must be down)."""
        if self.is_running():
            raise NodeError("%s: wipe while running" % self.name)
        shutil.rmtree(self.data, ignore_errors=True)

    def status(self, timeout_s=8):
        """`eddy status` of this node: {group: {"leader", "ready", "applied",
        "last"}} (group 0 is the coordinator), or None when it does not answer."""
        try:
            p = subprocess.run([eddy_cli_path(), "status", "--rpc", self.rpc],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        out = {}
        for line in p.stdout.decode(errors="replace").splitlines():
            f = line.split()
            if len(f) != 5 or f[0] == "group":
                continue
            try:
                g = 0 if f[0] == "coord" else int(f[0])
                out[g] = {"leader": int(f[1]), "ready": f[2] == "yes",
                          "applied": int(f[3]), "last": int(f[4])}
            except ValueError:
                continue
        return out or None


class Cluster:
    """n all-roles eddyd processes on free 127.0.0.1 ports sharing one --peers
    list, as tools/up runs them (groups = 2 n unless given). Nodes are
    cluster.nodes[0..n-1], node ids 1..n."""

    def __init__(self, tag, n=3, groups=None, extra_args=()):
        self.tag = tag
        self.groups = groups if groups is not None else max(2, 2 * n)
        ports = free_ports(3 * n)
        triples = [tuple(ports[3 * i:3 * i + 3]) for i in range(n)]
        peers = ",".join("%d=127.0.0.1:%d/127.0.0.1:%d" % (i + 1, t[1], t[2])
                         for i, t in enumerate(triples))
        self.nodes = [ClusterNode("%s-n%d" % (tag, i + 1), i + 1, triples[i], peers,
                                  self.groups, extra_args) for i in range(n)]

    def start(self):
        if not os.access(eddy_cli_path(), os.X_OK):
            raise NodeError("no eddy CLI at %s (it is built with eddyd; or set EDDY)"
                            % eddy_cli_path())
        for n in self.nodes:
            n.start()
        return self

    def cluster_status_text(self, timeout_s=10):
        """`eddy cluster status` over the running nodes, for failure messages."""
        rpcs = ",".join(n.rpc for n in self.running())
        if not rpcs:
            return "(no node running)"
        try:
            p = subprocess.run([eddy_cli_path(), "cluster", "status", "--rpc", rpcs],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return "(eddy cluster status did not answer within %ds)" % timeout_s
        out = (p.stdout + p.stderr).decode(errors="replace").rstrip()
        return "eddy cluster status (exit %d):\n%s" % (
            p.returncode, "\n".join("    " + l for l in out.splitlines()))

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def running(self):
        return [n for n in self.nodes if n.is_running()]

    def endpoints(self, nodes=None):
        return [n.endpoint for n in (nodes if nodes is not None else self.running())]

    def statuses(self, nodes=None):
        """{node_id: status or None} of the running nodes (or of nodes)."""
        nodes = nodes if nodes is not None else self.running()
        out = {}
        threads = []

        def one(n):
            out[n.node_id] = n.status()

        for n in nodes:
            t = threading.Thread(target=one, args=(n,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        return out

    def _leaders(self, st):
        """{group: node_id} for the groups whose leader every answering node
        agrees on, that leader is running, answers and calls itself ready."""
        leaders = {}
        for g in range(self.groups + 1):
            seen = set()
            for s in st.values():
                if s is None or g not in s:
                    seen.add(None)
                else:
                    seen.add(s[g]["leader"])
            if len(seen) != 1:
                continue
            lid = seen.pop()
            if not lid or lid > len(self.nodes):
                continue
            ls = st.get(lid)
            if ls is not None and ls.get(g, {}).get("ready"):
                leaders[g] = lid
        return leaders

    def wait_healthy(self, timeout_s=60, nodes=None):
        """Waits until every group (coordinator included) has one ready
        leader that all running nodes (or nodes) agree on; returns
        {group: leader node id}."""
        deadline = time.monotonic() + timeout_s
        st = {}
        while True:
            st = self.statuses(nodes)
            leaders = self._leaders(st)
            if len(leaders) == self.groups + 1:
                return leaders
            if time.monotonic() > deadline:
                raise AssertionError("cluster %s not healthy after %ds; eddy status per node:\n%s\n%s"
                                     % (self.tag, timeout_s, format_statuses(st),
                                        self.cluster_status_text()))
            time.sleep(0.1)

    def leader_of(self, group, timeout_s=30):
        """The ClusterNode leading group (0: coordinator)."""
        deadline = time.monotonic() + timeout_s
        while True:
            st = self.statuses()
            lid = self._leaders(st).get(group)
            if lid:
                return self.node(lid)
            if time.monotonic() > deadline:
                raise AssertionError("group %d has no leader after %ds; status:\n%s"
                                     % (group, timeout_s, format_statuses(st)))
            time.sleep(0.1)

    def wait_caught_up(self, node, timeout_s=60):
        """Waits until node's applied index of every group reaches the
        leader's applied index as read once at the start (call it with no
        writes going on), and node knows the leader. Returns the leaders."""
        leaders = self.wait_healthy(timeout_s)
        st = self.statuses()
        want = {g: st[lid][g]["applied"] for g, lid in leaders.items()}
        deadline = time.monotonic() + timeout_s
        while True:
            s = node.status() or {}
            behind = {g: (s.get(g, {}).get("applied"), a) for g, a in want.items()
                      if s.get(g) is None or s[g]["applied"] < a or not s[g]["leader"]}
            if not behind:
                return leaders
            if time.monotonic() > deadline:
                raise AssertionError(
                    "%s not caught up after %ds: group: (its applied, leader's) %r; eddy status "
                    "per node:\n%s\n%s" % (node.name, timeout_s, behind,
                                            format_statuses(self.statuses()),
                                            self.cluster_status_text()))
            time.sleep(0.1)

    def shard_group(self, stream, shard_index):
        """The group holding stream's shard (from the data dirs): an int, or
        None when no node has the directory yet."""
        for n in self.nodes:
            base = os.path.join(n.data, "groups")
            try:
                groups = os.listdir(base)
            except FileNotFoundError:
                continue
            for g in groups:
                sdir = os.path.join(base, g, "shards")
                try:
                    for d in os.listdir(sdir):
                        if d.rsplit("@", 1)[0] == stream and \
                                os.path.isdir(os.path.join(sdir, d, str(shard_index))):
                            return int(g)
                except (FileNotFoundError, ValueError):
                    continue
        return None

    def stop_all_nodes(self):
        for n in self.nodes:
            n.stop()


def format_statuses(st):
    lines = []
    for nid in sorted(st):
        s = st[nid]
        if s is None:
            lines.append("  node %d: no answer" % nid)
            continue
        lines.append("  node %d: %s" % (nid, " ".join(
            "%s:L%d%s@%d" % ("coord" if g == 0 else g, v["leader"], "r" if v["ready"] else "",
                             v["applied"]) for g, v in sorted(s.items()))))
    return "\n".join(lines)


def segment_records(path):
    """Parses one segment file (server/README.md): yields (seq, arrival_ms,
    raft_index, key, data). Stops at a torn tail."""
    with open(path, "rb") as f:
        buf = f.read()
    off = 32
    while off + 48 <= len(buf):
        if buf[off:off + 4] != b"EDRE":
            break
        klen = int.from_bytes(buf[off + 10:off + 12], "big")
        dlen = int.from_bytes(buf[off + 12:off + 16], "big")
        seq = int.from_bytes(buf[off + 16:off + 32], "big")
        arrival = int.from_bytes(buf[off + 32:off + 40], "big")
        rindex = int.from_bytes(buf[off + 40:off + 48], "big")
        end = off + 48 + klen + dlen
        if end > len(buf):
            break
        yield seq, arrival, rindex, buf[off + 48:off + 48 + klen], buf[off + 48 + klen:end]
        off = end


def shard_digests(data_dir):
    """Per shard of every group in one node's data dir:
    {(group, "stream@ms", shard): {"files": [(name, size, sha256)],
    "records": n, "payload": sha256 of (seq, key, data) of every record}}."""
    out = {}
    base = os.path.join(data_dir, "groups")
    if not os.path.isdir(base):
        return out
    for g in sorted(os.listdir(base)):
        sdir = os.path.join(base, g, "shards")
        if not os.path.isdir(sdir):
            continue
        for stream in sorted(os.listdir(sdir)):
            for shard in sorted(os.listdir(os.path.join(sdir, stream))):
                d = os.path.join(sdir, stream, shard)
                if not os.path.isdir(d):
                    continue
                files, payload, count = [], hashlib.sha256(), 0
                for name in sorted(os.listdir(d)):
                    if not SEG_NAME_RE.match(name):
                        continue
                    p = os.path.join(d, name)
                    with open(p, "rb") as f:
                        raw = f.read()
                    files.append((name, len(raw), hashlib.sha256(raw).hexdigest()[:16]))
                    for seq, _arr, _ri, key, data in segment_records(p):
                        payload.update(b"%d\0%d\0%d\0" % (seq, len(key), len(data)) + key + data)
                        count += 1
                out[(g, stream, shard)] = {"files": files, "records": count,
                                           "payload": payload.hexdigest()[:16]}
    return out


# ---- clients that retry like the SDKs -------------------------------------------

THROTTLE_CODES = ("ProvisionedThroughputExceededException", "LimitExceededException",
                  "ThrottlingException")


def failure_kind(exc):
    """How an SDK would treat exc: "unsent" (no connection: the request never
    reached a server), "indeterminate" (5xx, connection dropped or timed out
    after sending: it may have been applied), "throttled" (definitely not
    applied, retry later) or None (any other error: do not retry)."""
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError,
                        botocore.exceptions.ConnectTimeoutError)):
        return "unsent"
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code")
        if code in THROTTLE_CODES:
            return "throttled"
        if status >= 500:
            return "indeterminate"
        return None
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return "indeterminate"  # connection closed, read timeout, protocol error
    return None


def describe_failure(exc):
    if isinstance(exc, botocore.exceptions.ClientError):
        md = exc.response.get("ResponseMetadata", {})
        return "HTTP %s %s: %s (request id %s)" % (
            md.get("HTTPStatusCode"), exc.response.get("Error", {}).get("Code"),
            exc.response.get("Error", {}).get("Message"),
            md.get("HTTPHeaders", {}).get("x-amzn-requestid"))
    return "%s: %s" % (type(exc).__name__, exc)


class Retrier:
    """Calls an operation on a list of gateways the way an SDK client with
    retries does: throttling, 5xx and connection errors are retried with
    exponential backoff (at most attempts tries, or until deadline); on a
    connection error the next call goes to the next gateway (a client of a
    dead endpoint cannot do better). Records every attempt's failure kind."""

    def __init__(self, endpoints, attempts=8, base_s=0.05, cap_s=1.0, timeout_s=10, start=0,
                 on_attempt=None):
        self.endpoints = list(endpoints)
        self.on_attempt = on_attempt  # f(endpoint, op, kwargs, t0, t1, response, error)
        self.idx = start % len(self.endpoints)
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self.timeout_s = timeout_s
        self.failures = []  # (monotonic time, endpoint, op, kind, description)

    @property
    def endpoint(self):
        return self.endpoints[self.idx]

    def client(self):
        return client(self.endpoint, timeout_s=self.timeout_s)

    def call(self, op, deadline=None, **kwargs):
        """Returns (response, kinds): kinds lists the failure kind of each
        failed attempt before it. Raises the last error when the attempts
        run out (its kinds in e.eddy_kinds)."""
        kinds = []
        delay = self.base_s
        for attempt in range(self.attempts):
            ep = self.endpoint
            t0 = time.monotonic()
            try:
                resp = getattr(client(ep, timeout_s=self.timeout_s), op)(**kwargs)
                if self.on_attempt:
                    self.on_attempt(ep, op, kwargs, t0, time.monotonic(), resp, None)
                return resp, kinds
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                if self.on_attempt:
                    self.on_attempt(ep, op, kwargs, t0, time.monotonic(), None, e)
                kind = failure_kind(e)
                self.failures.append((time.monotonic(), ep, op, kind, describe_failure(e)))
                if kind is None:
                    e.eddy_kinds = kinds
                    raise
                kinds.append(kind)
                if isinstance(e, botocore.exceptions.BotoCoreError):
                    self.idx = (self.idx + 1) % len(self.endpoints)
                if attempt == self.attempts - 1 or (deadline and time.monotonic() > deadline):
                    e.eddy_kinds = kinds
                    raise
            time.sleep(delay)
            delay = min(delay * 2, self.cap_s)
        raise AssertionError("unreachable")
