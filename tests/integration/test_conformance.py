"""Conformance of every Kinesis_20131202 operation (issue 4, "Must show"):
each of the 39 operations driven through boto3 on its success path and for
every error the AWS model documents for it, the 38 operations the AWS CLI
has (it has no subscribe-to-shard) through the CLI, and a representative
subset through @aws-sdk/client-kinesis (js/conformance.mjs), all against ONE
three-node cluster, plus three gateway-only processes of the same cluster:
"aws" with AWS's control-plane call rates (at one call per second, to see
LimitExceededException cheaply), "tight" with quotas of one (shards,
on-demand streams) and "late" whose wall clock runs 400 s ahead (to see
iterators and NextTokens expire).

Which error of which operation a test shows is declared with @covers and
checked after the test ran (the test must have asserted it); Coverage checks
that the declarations, plus the errors listed in NOT_PRODUCED with their
reason, are every error botocore's model (the API reference's source)
lists for each operation.

Messages. A text is asserted exactly when it was checked against an AWS
source: kinesalite's tests, recorded against AWS ("KL"), AWS answers quoted
in GitHub issues ("GH owner/repo#n"), or shared/notes/peers.md section 3.
Where only Eddy's text exists, the test asserts the error type and HTTP
status and says "text unverified" (the report and docs/API_STATUS.md list
them). Where Eddy differs from a verified AWS behaviour the test asserts
AWS's and is an expectedFailure naming the gap.

Also here: split and merge under continuous load with a reader that follows
ChildShards from GetRecords while the resharding happens (every
acknowledged record exactly once, in order per partition key).
"""

import base64
import collections
import concurrent.futures
import contextlib
import functools
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest

import botocore.exceptions
import botocore.session

import harness
from harness import (HASH_MAX, NAME_RE_RULE, NOT_NULL, Cluster, Node, aws_cli_path, client,
                     constraint, error_of, even_ranges, unique_name)

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SHARD = "shardId-%012d"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kinesis:DescribeStreamSummary", "Resource": "*"}]})
# The operations AWS documents a call rate for (common/limits_profile.c):
# the gateway-only "aws" process gives each one call per second.
RATED_OPS = ["AddTagsToStream", "CreateStream", "DeleteStream", "DeregisterStreamConsumer",
             "DescribeAccountSettings", "DescribeLimits", "DescribeStream",
             "DescribeStreamConsumer", "DescribeStreamSummary", "GetShardIterator", "ListShards",
             "ListStreamConsumers", "ListStreams", "ListTagsForStream", "MergeShards",
             "RegisterStreamConsumer", "RemoveTagsFromStream", "SplitShard",
             "UpdateAccountSettings", "UpdateShardCount", "UpdateStreamWarmThroughput"]
VALUE_GE1 = "Member must have value greater than or equal to 1"
LENGTH_GE1 = "Member must have length greater than or equal to 1"
CLOCK_AHEAD_S = 400  # > the 300 s lifetime of iterators and NextTokens
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

# ---- AWS texts (sources in the comments) -----------------------------------


def nf_stream(name, acct):
    # KL (every stream action's "stream does not exist" test).
    return "Stream %s under account %s not found." % (name, acct)


def not_active(name, acct, state):
    # KL splitShard/mergeShards (UPDATING); peers.md section 3 (CREATING).
    return "Stream %s under account %s not ACTIVE, instead in state %s" % (name, acct, state)


def nf_shard(shard, name, acct):
    # KL getShardIterator, getRecords.
    return "Shard %s in stream %s under account %s does not exist" % (shard, name, acct)


def no_such_shard(shard, name, acct):
    # KL getShardIterator, splitShard, mergeShards ("Could not find shard").
    return "Could not find shard %s in stream %s under account %s." % (shard, name, acct)


def rate_stream(name, acct):
    # GH boto/botocore#821 (DescribeStream), GH awslabs/amazon-kinesis-scaling-utils#52.
    return "Rate exceeded for stream %s under account %s." % (name, acct)


def rate_account(acct):
    # GH Graylog2/graylog-plugin-integrations#341.
    return "Rate exceeded for account %s." % acct


def rate_shard(shard, name, acct):
    # GH rclark/kinesis-readable#4; PutRecords' per-record form: GH
    # mhart/kinesalite#87 (an AWS answer quoted by its author).
    return "Rate exceeded for shard %s in stream %s under account %s." % (shard, name, acct)


def shard_limit_text(acct, region, current, limit, more):
    # KL createStream (its "Current shard count" is the account's).
    return ("This request would exceed the shard limit for the account %s in %s. Current shard "
            "count for the account: %s. Limit: %d. Number of additional shards that would have "
            "resulted from this request: %d. Refer to the AWS Service Limits page "
            "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current "
            "limits and how to request higher limits." % (acct, region, current, limit, more))


MUST_EITHER = ("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
               "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
               "StartingSequenceNumber. Request specified %s.")  # KL getShardIterator
EXPIRED_ITERATOR_RE = (r"^Iterator expired\. The iterator was created at time \w{3} \w{3} \d{2} "
                       r"\d{2}:\d{2}:\d{2} UTC \d{4} while right now it is \w{3} \w{3} \d{2} "
                       r"\d{2}:\d{2}:\d{2} UTC \d{4} which is further in the future than the "
                       r"tolerated delay of 300000 milliseconds\.$")  # KL getRecords
TAG_CHARS_RE = (r"^Some tags contain invalid characters\. Valid characters: Unicode letters, "
                r"digits, white space, _ \. / = \+ - % @")  # KL (AWS added ':' since, GH
# mhart/kinesalite#107: how the list ends now is unverified)

# ---- the documented errors -------------------------------------------------

KMS_ERRORS = ("KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException",
              "KMSNotFoundException", "KMSOptInRequired", "KMSThrottlingException")
# Errors Eddy never sends, with why. ("*", code) applies to every operation.
NOT_PRODUCED = {
    ("*", "AccessDeniedException"):
        "resource policies are stored and returned but not enforced (no IAM); see "
        "Gaps.test_explicit_deny_in_resource_policy",
    ("*", "InternalFailureException"):
        "a server fault: no request provokes it on a healthy cluster",
}
for _code in KMS_ERRORS:
    NOT_PRODUCED[("*", _code)] = "no KMS: any KeyId is accepted, records are not encrypted at rest"
# Errors of one operation Eddy has no cause for.
NOT_PRODUCED.update({
    ("UpdateMaxRecordSize", "InvalidArgumentException"):
        "its one argument is checked by the model's range (ValidationException)",
    ("UpdateAccountSettings", "InvalidArgumentException"):
        "its one argument is checked by the model's enum (ValidationException)",
    ("GetResourcePolicy", "InvalidArgumentException"):
        "its one argument is checked by the model's pattern (ValidationException)",
    ("DeleteResourcePolicy", "InvalidArgumentException"):
        "its one argument is checked by the model's pattern (ValidationException)",
    ("ListTagsForResource", "InvalidArgumentException"):
        "its one argument is checked by the model's pattern (ValidationException)",
    ("GetResourcePolicy", "ResourceInUseException"):
        "answers in every stream state (AWS's rule unverified)",
    ("ListTagsForResource", "ResourceInUseException"):
        "answers in every stream state (AWS's rule unverified)",
    ("ListStreamConsumers", "ResourceInUseException"):
        "answers in every stream state (AWS's rule unverified)",
})
# LimitExceededException of operations AWS documents no call rate for: Eddy
# limits only the documented rates.
for _op in ("DecreaseStreamRetentionPeriod", "IncreaseStreamRetentionPeriod",
            "DeleteResourcePolicy", "GetResourcePolicy", "PutResourcePolicy",
            "DisableEnhancedMonitoring", "EnableEnhancedMonitoring", "ListTagsForResource",
            "StartStreamEncryption", "StopStreamEncryption", "TagResource", "UntagResource",
            "UpdateMaxRecordSize"):
    NOT_PRODUCED[(_op, "LimitExceededException")] = (
        "AWS documents no call rate for %s; Eddy rate-limits only documented rates" % _op)

# (operation, error or "ok") -> test ids that declare it.
DECLARED = collections.defaultdict(set)


def covers(*pairs):
    """Declares that the test shows each "Operation:Error" (or
    "Operation:ok"); after the test body, every declared pair must have been
    asserted through ConformanceCase.err/ok."""
    parsed = [tuple(p.split(":", 1)) for p in pairs]

    def wrap(fn):
        for p in parsed:
            DECLARED[p].add(fn.__qualname__)

        @functools.wraps(fn)
        def run(self, *a, **kw):
            self._seen = set()
            fn(self, *a, **kw)
            missing = [p for p in parsed if p not in self._seen]
            self.assertEqual(missing, [], "declared by @covers but never asserted")
        return run
    return wrap


# ---- the shared cluster -------------------------------------------------------

_env = None
_env_error = None


class Env:
    """The three-node cluster (the aws limits profile: AWS's per-shard
    rates and quotas, control-plane rates lifted) and three gateway-only
    processes of it: "aws" (AWS's profile, each rated operation at one call
    per second, CreateStream unrated and at most one stream CREATING or
    DELETING), "tight" (quotas of one open shard and one ON_DEMAND stream)
    and "late" (wall clock CLOCK_AHEAD_S ahead)."""

    def __init__(self):
        lifted = []
        for op in RATED_OPS:
            lifted += ["--limit", "api.%s=0" % op]
        self.cluster = Cluster(unique_name("conf"), extra_args=[
            "--limits", "aws", "--limit", "streams-in-transition-max=0"] + lifted)
        self.cluster.start()
        self.cluster.wait_healthy(60)
        coords = ",".join(n.rpc for n in self.cluster.nodes)
        rated = []
        for op in RATED_OPS:
            rated += ["--limit", "api.%s=%d" % (op, 0 if op == "CreateStream" else 1)]
        (gw,) = harness.free_ports(1)
        self.aws = Node(unique_name("conf-aws"), [
            "--node-id", "11", "--roles", "gateway", "--gateway", "127.0.0.1:%d" % gw,
            "--coordinator", coords, "--limits", "aws",
            "--limit", "streams-in-transition-max=1"] + rated, gateway_port=gw)
        self.aws.start()
        (gw,) = harness.free_ports(1)
        self.tight = Node(unique_name("conf-tight"), [
            "--node-id", "13", "--roles", "gateway", "--gateway", "127.0.0.1:%d" % gw,
            "--coordinator", coords, "--limit", "shard-limit=1",
            "--limit", "on-demand-stream-count-limit=1"], gateway_port=gw)
        self.tight.start()
        (gw,) = harness.free_ports(1)
        self.late = LateNode(unique_name("conf-late"), [
            "--node-id", "12", "--roles", "gateway", "--gateway", "127.0.0.1:%d" % gw,
            "--coordinator", coords], gateway_port=gw)
        faked = faketime_env()
        saved = {k: os.environ.get(k) for k in faked}
        os.environ.update(faked)
        try:
            self.late.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.endpoints = [n.endpoint for n in self.cluster.nodes]
        self.c = client(self.endpoints[0])
        for ep in (self.aws.endpoint, self.tight.endpoint, self.late.endpoint):
            wait_gateway(client(ep))
        self.account = None
        self.region = harness.REGION

    def stop(self):
        problems = []
        for n in [self.late, self.tight, self.aws] + self.cluster.nodes:
            n.stop()
            problems.extend(n.problems)
            n.problems = []
        return problems


def late_eddyd_path():
    """The eddyd the clock-shifted gateway runs. libfaketime preloaded into a
    binary with a statically linked sanitizer runtime (clang's) hangs in the
    runtime's start-up, so a sanitizer tree's gateway-only process runs the
    release tree's eddyd when there is one; the cluster it talks to stays
    the build under test."""
    p = harness.eddyd_path()
    plain = p.replace("/build/sanitize/", "/build/release/")
    return plain if plain != p and os.access(plain, os.X_OK) else p


class LateNode(Node):
    def command(self):
        return [late_eddyd_path()] + self.args


def faketime_env():
    """The environment that runs eddyd with its wall clock CLOCK_AHEAD_S
    ahead (libfaketime, installed by tools/bootstrap), monotonic time
    untouched. A sanitizer build's runtime must come first in LD_PRELOAD."""
    if not os.path.exists(FAKETIME_LIB):
        raise harness.NodeError("%s is missing: run tools/bootstrap" % FAKETIME_LIB)
    preload = [FAKETIME_LIB]
    try:
        p = subprocess.run(["ldd", late_eddyd_path()], capture_output=True, text=True,
                           timeout=30)
        for line in p.stdout.splitlines():
            m = re.match(r"\s*(lib(?:asan|ubsan)\.so\S*) => (\S+)", line)
            if m:
                preload.insert(0, m.group(2))
    except (OSError, subprocess.SubprocessError):
        pass
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
    return {"LD_PRELOAD": ":".join(preload), "FAKETIME": "+%d" % CLOCK_AHEAD_S,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1",
            "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}


def wait_gateway(c, timeout_s=30):
    """A gateway-only process answers before it has the catalogue."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            c.describe_account_settings()
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            if time.monotonic() > deadline:
                raise AssertionError("gateway never reached the coordinator: %s" % e)
            time.sleep(0.1)


def env():
    global _env, _env_error
    if _env_error is not None:
        raise harness.NodeError("conformance cluster failed to start earlier: %s" % _env_error)
    if _env is None:
        try:
            _env = Env()
        except Exception as e:
            _env_error = str(e).splitlines()[0] if str(e) else repr(e)
            raise
    return _env


def tearDownModule():
    global _env
    if _env is not None:
        problems = _env.stop()
        _env = None
        if problems:
            raise AssertionError("\n".join(problems))


# ---- the test case ---------------------------------------------------------------


def op_of(fn):
    """The Kinesis operation of a boto3 client method."""
    return fn.__self__.meta.method_to_api_mapping[fn.__name__]


class ConformanceCase(unittest.TestCase):
    maxDiff = 4000
    timeout_s = 120

    @classmethod
    def setUpClass(cls):
        cls.env = env()
        cls.c = cls.env.c
        cls.c2 = client(cls.env.endpoints[1])
        cls.c3 = client(cls.env.endpoints[2])
        cls.caws = client(cls.env.aws.endpoint)
        cls.clate = client(cls.env.late.endpoint)
        if cls.env.account is None:
            cls.env.account = _account_from_create(cls.c)
        cls.acct = cls.env.account
        cls.region = cls.env.region

    def setUp(self):
        self._streams = []
        self._seen = set()

    def tearDown(self):
        for name in self._streams:
            harness.delete_quietly(self.c, name)

    # -- streams

    def stream(self, shards=2, wait=True, c=None, **kw):
        """A new stream (deleted after the test); returns (name, arn)."""
        c = c or self.c
        name = unique_name("cf")
        self._streams.append(name)
        args = dict(StreamName=name, **kw)
        if shards is not None:
            args["ShardCount"] = shards
        c.create_stream(**args)
        if wait:
            self.active(name)
        return name, self.arn(name)

    def streams(self, n, shards=1):
        """n new streams created at once, all ACTIVE: [(name, arn)]."""
        out = [self.stream(shards, wait=False) for _ in range(n)]
        for name, _ in out:
            self.active(name)
        return out

    def arn(self, name):
        return "arn:aws:kinesis:%s:%s:stream/%s" % (self.region, self.acct, name)

    def active(self, name, c=None):
        return harness.wait_status(c or self.c, name, "ACTIVE", timeout_s=60, interval_s=0.05)

    def status(self, name):
        return self.c.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"]["StreamStatus"]

    # -- assertions

    def ok(self, fn, **kw):
        """Calls the operation; it must answer 200. Records the success path."""
        resp = fn(**kw)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertIsNotNone(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"))
        self._seen.add((op_of(fn), "ok"))
        return resp

    def err(self, code, fn, message=None, message_re=None, status=400, **kw):
        """Calls the operation; it must fail with code (the exact message
        when given: only for texts checked against AWS, see the module
        docstring). Records (operation, code)."""
        e = error_of(fn, **kw)
        self.assertErr(e, code, message, message_re, status)
        self._seen.add((op_of(fn), code))
        return e

    def assertErr(self, e, code, message=None, message_re=None, status=400):
        got = (e.response["ResponseMetadata"].get("HTTPStatusCode"),
               e.response["Error"].get("Code"), e.response["Error"].get("Message"))
        self.assertEqual(got[1], code, got)
        self.assertEqual(got[0], status, got)
        if message is not None:
            self.assertEqual(got[2], message, got)
        if message_re is not None:
            self.assertRegex(got[2] or "", message_re, got)
        self.assertIsNotNone(e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"))

    def validation(self, fn, *clauses, **kw):
        """ValidationException with exactly these clauses (AWS's coral
        format: KL, peers.md section 3), in any order."""
        e = self.err("ValidationException", fn, **kw)
        msg = e.response["Error"]["Message"]
        n = len(clauses)
        prefix = "%d validation error%s detected: " % (n, "" if n == 1 else "s")
        self.assertTrue(msg.startswith(prefix), (prefix, msg))
        self.assertEqual(sorted(msg[len(prefix):].split("; ")), sorted(clauses), msg)
        return e

    def no_stream(self, fn, **kw):
        """Neither StreamName nor StreamARN: both are optional in the model
        since StreamARN came, so AWS answers InvalidArgumentException (the
        model's error for a missing argument). Text unverified."""
        self.err("InvalidArgumentException", fn, **kw)

    def rated(self, code, message, fn, **kw):
        """Calls fn twice at once on the "aws" gateway (one call per second
        of each rated operation): the second is refused. (The first may
        itself fail, e.g. for an unknown stream: it still spends the call.)"""
        try:
            fn(**kw)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == code:
                self.assertErr(e, code, message)
                self._seen.add((op_of(fn), code))
                return
        self.err(code, fn, message=message, **kw)


def _account_from_create(c):
    name = unique_name("cf-acct")
    c.create_stream(StreamName=name, ShardCount=1)
    arn = harness.wait_status(c, name)["StreamARN"]
    harness.delete_quietly(c, name)
    return arn.split(":")[4]


def in_window(test, make, state, calls, attempts=3):
    """Runs calls (fn(name) each, all at once) on a stream make() put into
    state, and checks the stream was still in state afterwards, so every
    call met it there. Retries with a fresh stream when the window closed.
    Returns make()'s result."""
    for attempt in range(attempts):
        made = make()
        name = made[0]
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            futures = [pool.submit(fn, name) for fn in calls]
            errors = [f.exception() for f in futures]
        if test.status(name) == state:
            for e in errors:
                if e is not None:
                    raise e
            return made
    test.fail("stream never stayed %s long enough for %d calls" % (state, len(calls)))


# ---- stream lifecycle ----------------------------------------------------------------


class Streams(ConformanceCase):

    @covers("CreateStream:ok", "CreateStream:ResourceInUseException",
            "CreateStream:LimitExceededException", "CreateStream:ValidationException",
            "CreateStream:InvalidArgumentException")
    def test_create_stream(self):
        c, acct = self.c, self.acct
        name = unique_name("cf")
        self._streams.append(name)
        self.ok(c.create_stream, StreamName=name, ShardCount=3, Tags={"team": "eddy"})
        # KL createStream: CREATING at once, with no shards yet.
        d = c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual((d["StreamStatus"], d["Shards"], d["HasMoreShards"]),
                         ("CREATING", [], False))
        self.assertEqual(d["StreamARN"], self.arn(name))
        self.active(name)
        shards = c.describe_stream(StreamName=name)["StreamDescription"]["Shards"]
        # KL createStream: the exact ranges of three shards.
        self.assertEqual([(s["ShardId"], s["HashKeyRange"]["StartingHashKey"],
                           s["HashKeyRange"]["EndingHashKey"]) for s in shards], [
            (SHARD % 0, "0", "113427455640312821154458202477256070484"),
            (SHARD % 1, "113427455640312821154458202477256070485",
             "226854911280625642308916404954512140969"),
            (SHARD % 2, "226854911280625642308916404954512140970",
             "340282366920938463463374607431768211455")])
        self.assertEqual(c.list_tags_for_stream(StreamName=name)["Tags"],
                         [{"Key": "team", "Value": "eddy"}])
        # No ShardCount: 4 shards (peers.md: LocalStack's AWS-validated snapshot).
        # ON_DEMAND: 4 shards too.
        bare = unique_name("cf")
        self._streams.append(bare)
        self.ok(c.create_stream, StreamName=bare)
        od = unique_name("cf")
        self._streams.append(od)
        self.ok(c.create_stream, StreamName=od, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        for n, mode in ((bare, "PROVISIONED"), (od, "ON_DEMAND")):
            s = self.active(n)
            self.assertEqual((s["OpenShardCount"], s["StreamModeDetails"]["StreamMode"]),
                             (4, mode))
        # The "tight" gateway allows one ON_DEMAND stream; od is one. AWS's
        # text (GH hashicorp/terraform-provider-aws#38094).
        self.err("LimitExceededException", client(self.env.tight.endpoint).create_stream,
                 StreamName=unique_name("cf"), StreamModeDetails={"StreamMode": "ON_DEMAND"},
                 message_re="^%s$" % re.escape(
                     "This request would exceed the limit on the number of On-Demand streams "
                     "for the account %s in %s. Current On-Demand streams count: @. Limit: 1."
                     % (acct, self.region)).replace("@", r"\d+"))
        # peers.md section 3.
        self.err("ResourceInUseException", c.create_stream, StreamName=name, ShardCount=1,
                 message="Stream %s under account %s already exists." % (name, acct))
        # KL createStream; the aws profile's quota is 20,000 shards. The
        # account's current count moves with other tests' deletions.
        big = unique_name("cf")
        self.err("LimitExceededException", c.create_stream, StreamName=big, ShardCount=20001,
                 message_re="^%s$" % re.escape(shard_limit_text(
                     acct, self.region, "@", 20000, 20001)).replace("@", r"\d+"))
        # At most one stream CREATING or DELETING on the "aws" gateway. AWS's
        # text (GH hashicorp/terraform-provider-aws#1339, "Limit: 5." there).
        self.wait_no_transition()
        first = unique_name("cf")
        self._streams.append(first)
        self.caws.create_stream(StreamName=first, ShardCount=1)
        second = unique_name("cf")
        self._streams.append(second)
        self.err("LimitExceededException", self.caws.create_stream, StreamName=second,
                 ShardCount=1,
                 message="This request would have exceed the limit on the number of streams "
                         "that can simultaneously be in CREATING or DELETING for the account "
                         "%s. Limit: 1." % acct)
        # KL createStream (ShardCount is optional since 2021).
        self.validation(c.create_stream, constraint(None, "streamName", NOT_NULL))
        self.validation(c.create_stream,
                        constraint("0", "shardCount",
                                   VALUE_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", ShardCount=0)
        self.err("InvalidArgumentException", c.create_stream, StreamName=unique_name("cf"),
                 ShardCount=1, Tags={"a;b": "1"}, message_re=TAG_CHARS_RE)
        self.active(first)

    def wait_no_transition(self, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while True:
            summaries = self.c.list_streams(Limit=10000).get("StreamSummaries", [])
            busy = [s["StreamName"] for s in summaries
                    if s["StreamStatus"] in ("CREATING", "DELETING")]
            if not busy:
                return
            self.assertLess(time.monotonic(), deadline, "streams still in transition: %r" % busy)
            time.sleep(0.05)

    @covers("DeleteStream:ok", "DeleteStream:ResourceNotFoundException",
            "DeleteStream:ResourceInUseException", "DeleteStream:LimitExceededException",
            "DeleteStream:InvalidArgumentException")
    def test_delete_stream(self):
        c, acct = self.c, self.acct
        # KL deleteStream: a CREATING stream may be deleted; it is DELETING, then gone.
        name, arn = self.stream(1, wait=False)
        self.ok(c.delete_stream, StreamName=name)
        # DELETING for a moment (Eddy's may be over before the next call).
        try:
            self.assertEqual(c.describe_stream(StreamName=name)["StreamDescription"]
                             ["StreamStatus"], "DELETING")
        except botocore.exceptions.ClientError as e:
            self.assertErr(e, "ResourceNotFoundException", nf_stream(name, acct))
        harness.wait_status(c, name, None)
        self.err("ResourceNotFoundException", c.delete_stream, StreamName=name,
                 message=nf_stream(name, acct))
        # By ARN, on another gateway.
        name2, arn2 = self.stream(1)
        self.ok(self.c2.delete_stream, StreamARN=arn2)
        # A stream with a consumer needs EnforceConsumerDeletion. AWS's text
        # (GH hashicorp/terraform-provider-aws#8420, rebuy-de/aws-nuke#497).
        name3, arn3 = self.stream(1)
        c.register_stream_consumer(StreamARN=arn3, ConsumerName="c1")
        self.err("ResourceInUseException", c.delete_stream, StreamName=name3,
                 message="DeleteStream can't delete %s:%s because there are consumers "
                         "associated with this data stream. To delete %s anyway, set the "
                         "EnforceConsumerDeletion parameter to true to force the deletion of "
                         "all the consumers that are associated with it." % (acct, name3, name3))
        self.ok(c.delete_stream, StreamName=name3, EnforceConsumerDeletion=True)
        # The rate (5 per second per account on AWS; one on the "aws" gateway).
        ghost = unique_name("cf")
        self.rated("LimitExceededException", rate_stream(ghost, acct), self.caws.delete_stream,
                   StreamName=ghost)
        self.no_stream(c.delete_stream)
        # KL deleteStream.
        self.validation(c.delete_stream, constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="")

    @covers("DescribeStream:ok", "DescribeStream:ResourceNotFoundException",
            "DescribeStream:LimitExceededException", "DescribeStream:InvalidArgumentException")
    def test_describe_stream(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        d = self.ok(c.describe_stream, StreamName=name)["StreamDescription"]
        self.assertEqual((d["StreamName"], d["StreamARN"], d["StreamStatus"], d["HasMoreShards"],
                          d["RetentionPeriodHours"], d["EncryptionType"],
                          d["EnhancedMonitoring"], d["StreamModeDetails"]),
                         (name, arn, "ACTIVE", False, 24, "NONE", [{"ShardLevelMetrics": []}],
                          {"StreamMode": "PROVISIONED"}))
        self.assertEqual(len(d["Shards"]), 3)
        for s in d["Shards"]:
            self.assertRegex(s["SequenceNumberRange"]["StartingSequenceNumber"], r"^\d+$")
        page = self.ok(c.describe_stream, StreamARN=arn, Limit=1,
                       ExclusiveStartShardId=SHARD % 0)["StreamDescription"]
        self.assertEqual(([s["ShardId"] for s in page["Shards"]], page["HasMoreShards"]),
                         ([SHARD % 1], True))
        missing = unique_name("cf")
        self.err("ResourceNotFoundException", c.describe_stream, StreamName=missing,
                 message=nf_stream(missing, acct))
        self.rated("LimitExceededException", rate_stream(name, acct), self.caws.describe_stream,
                   StreamName=name)
        self.no_stream(c.describe_stream)
        # KL describeStream.
        self.validation(c.describe_stream,
                        constraint("0", "limit", VALUE_GE1),
                        constraint("", "exclusiveStartShardId", NAME_RE_RULE),
                        constraint("", "exclusiveStartShardId",
                                   LENGTH_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", Limit=0, ExclusiveStartShardId="")
        long = "a" * 129
        self.validation(c.describe_stream,
                        constraint("100000", "limit",
                                   "Member must have value less than or equal to 10000"),
                        constraint(long, "exclusiveStartShardId",
                                   "Member must have length less than or equal to 128"),
                        constraint(long, "streamName",
                                   "Member must have length less than or equal to 128"),
                        StreamName=long, Limit=100000, ExclusiveStartShardId=long)

    @covers("DescribeStreamSummary:ok", "DescribeStreamSummary:ResourceNotFoundException",
            "DescribeStreamSummary:LimitExceededException",
            "DescribeStreamSummary:InvalidArgumentException")
    def test_describe_stream_summary(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        t0 = time.time()
        s = self.ok(c.describe_stream_summary, StreamName=name)["StreamDescriptionSummary"]
        # KL describeStreamSummary, plus the members AWS added since.
        self.assertLess(abs(s["StreamCreationTimestamp"].timestamp() - t0), 30)
        self.assertEqual((s["StreamName"], s["StreamARN"], s["StreamStatus"],
                          s["RetentionPeriodHours"], s["EncryptionType"], s["EnhancedMonitoring"],
                          s["OpenShardCount"], s["ConsumerCount"], s["StreamModeDetails"]),
                         (name, arn, "ACTIVE", 24, "NONE", [{"ShardLevelMetrics": []}], 3, 0,
                          {"StreamMode": "PROVISIONED"}))
        self.assertEqual(self.ok(self.c3.describe_stream_summary, StreamARN=arn)
                         ["StreamDescriptionSummary"]["StreamName"], name)
        missing = unique_name("cf")
        self.err("ResourceNotFoundException", c.describe_stream_summary, StreamName=missing,
                 message=nf_stream(missing, acct))
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.describe_stream_summary, StreamName=name)
        self.no_stream(c.describe_stream_summary)
        long = "a" * 129
        self.validation(c.describe_stream_summary,
                        constraint(long, "streamName",
                                   "Member must have length less than or equal to 128"),
                        StreamName=long)

    @covers("ListStreams:ok", "ListStreams:ExpiredNextTokenException",
            "ListStreams:InvalidArgumentException", "ListStreams:LimitExceededException")
    def test_list_streams(self):
        c, acct = self.c, self.acct
        made = sorted(n for n, _ in self.streams(3))
        all_ = self.ok(c.list_streams, Limit=10000)
        for n in made:
            self.assertIn(n, all_["StreamNames"])
        self.assertEqual(sorted(all_["StreamNames"]), all_["StreamNames"])
        self.assertEqual([s["StreamName"] for s in all_["StreamSummaries"]], all_["StreamNames"])
        summary = {s["StreamName"]: s for s in all_["StreamSummaries"]}[made[0]]
        self.assertEqual((summary["StreamARN"], summary["StreamStatus"],
                          summary["StreamModeDetails"]),
                         (self.arn(made[0]), "ACTIVE", {"StreamMode": "PROVISIONED"}))
        # Pages: Limit, HasMoreStreams, NextToken, ExclusiveStartStreamName.
        page = self.ok(c.list_streams, Limit=1, ExclusiveStartStreamName=made[0])
        self.assertEqual(len(page["StreamNames"]), 1)
        self.assertGreater(page["StreamNames"][0], made[0])
        self.assertIs(page["HasMoreStreams"], True)
        token = page["NextToken"]
        nxt = self.ok(self.c2.list_streams, NextToken=token, Limit=1)
        self.assertGreater(nxt["StreamNames"][0], page["StreamNames"][0])
        # A NextToken lives 300 s; the "late" gateway's clock is 400 s ahead.
        # Text unverified.
        self.err("ExpiredNextTokenException", self.clate.list_streams, NextToken=token)
        # Text unverified.
        self.err("InvalidArgumentException", c.list_streams, NextToken="bm9wZQ==")
        self.rated("LimitExceededException", rate_account(acct), self.caws.list_streams)
        # KL listStreams.
        self.validation(c.list_streams,
                        constraint("0", "limit", VALUE_GE1),
                        constraint("", "exclusiveStartStreamName", NAME_RE_RULE),
                        constraint("", "exclusiveStartStreamName",
                                   LENGTH_GE1),
                        ExclusiveStartStreamName="", Limit=0)


# ---- records ----------------------------------------------------------------------------


class Records(ConformanceCase):

    @covers("PutRecord:ok", "PutRecord:ResourceNotFoundException",
            "PutRecord:InvalidArgumentException",
            "PutRecord:ProvisionedThroughputExceededException")
    def test_put_record(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        # KL putRecord: ExplicitHashKey picks the shard; empty Data is fine.
        third = (2 ** 128) // 3
        for ehk, shard in ((str(HASH_MAX), 2), (str(2 * third - 1), 1), (str(2 * third), 2),
                           ("0", 0)):
            r = self.ok(c.put_record, StreamName=name, PartitionKey="a", Data=b"",
                        ExplicitHashKey=ehk)
            self.assertEqual(r["ShardId"], SHARD % shard, ehk)
            self.assertRegex(r["SequenceNumber"], r"^(0|[1-9]\d{0,128})$")
        first = self.ok(c.put_record, StreamARN=arn, PartitionKey="k", Data=b"1")
        second = self.ok(c.put_record, StreamName=name, PartitionKey="k", Data=b"2",
                         SequenceNumberForOrdering=first["SequenceNumber"])
        self.assertEqual(second["ShardId"], first["ShardId"])
        self.assertGreater(int(second["SequenceNumber"]), int(first["SequenceNumber"]))
        self.assertEqual(first.get("EncryptionType", "NONE"), "NONE")
        missing = unique_name("cf")
        self.err("ResourceNotFoundException", c.put_record, StreamName=missing, PartitionKey="a",
                 Data=b"", message=nf_stream(missing, acct))
        # KL putRecord.
        self.err("InvalidArgumentException", c.put_record, StreamName=name, PartitionKey="a",
                 Data=b"", ExplicitHashKey=str(2 ** 128),
                 message="Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                         "[0, 2^128-1]. Specified value was %d" % 2 ** 128)
        # 1 MiB/s per shard (a bucket of one second): the second 700 KB
        # record in a row is refused. peers.md section 3, GH rclark/kinesis-readable#4.
        blob = b"x" * 700000
        refused = None
        for _ in range(4):
            try:
                c.put_record(StreamName=name, PartitionKey="a", Data=blob, ExplicitHashKey="0")
            except botocore.exceptions.ClientError as e:
                refused = e
                break
        self.assertIsNotNone(refused, "4 x 700 KB in a row never refused")
        self.assertErr(refused, "ProvisionedThroughputExceededException",
                       rate_shard(SHARD % 0, name, acct))
        self._seen.add(("PutRecord", "ProvisionedThroughputExceededException"))
        # KL putRecord.
        self.validation(c.put_record,
                        constraint("", "sequenceNumberForOrdering",
                                   "Member must satisfy regular expression pattern: "
                                   "0|([1-9]\\d{0,128})"),
                        constraint("", "partitionKey",
                                   LENGTH_GE1),
                        constraint("", "explicitHashKey",
                                   "Member must satisfy regular expression pattern: "
                                   "0|([1-9]\\d{0,38})"),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", PartitionKey="", Data=b"", ExplicitHashKey="",
                        SequenceNumberForOrdering="")
        self.no_stream(c.put_record, PartitionKey="a", Data=b"")

    @covers("PutRecords:ok", "PutRecords:ResourceNotFoundException",
            "PutRecords:InvalidArgumentException",
            "PutRecords:ProvisionedThroughputExceededException")
    def test_put_records(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        third = (2 ** 128) // 3
        entries = [{"PartitionKey": k, "Data": b"d%d" % i} for i, k in enumerate("abef")]
        entries += [{"PartitionKey": "a", "Data": b"e%d" % i, "ExplicitHashKey": str(h)}
                    for i, h in enumerate((HASH_MAX, 2 * third - 1, 2 * third))]
        r = self.ok(c.put_records, StreamName=name, Records=entries)
        # KL putRecords "should work with mixed values".
        self.assertEqual(r["FailedRecordCount"], 0)
        self.assertEqual([x["ShardId"] for x in r["Records"]],
                         [SHARD % i for i in (0, 1, 2, 1, 2, 1, 2)])
        r2 = self.ok(c.put_records, StreamARN=arn, Records=entries[:1])
        self.assertEqual(r2["Records"][0]["ShardId"], SHARD % 0)
        # A per-record ProvisionedThroughputExceededException inside a 200
        # (peers.md section 3; text GH mhart/kinesalite#87): 1,000 records
        # per second per shard.
        one, _ = self.stream(1)
        failed = []
        for _ in range(4):
            resp = c.put_records(StreamName=one, Records=[
                {"PartitionKey": "p%d" % i, "Data": b"x"} for i in range(500)])
            bad = [x for x in resp["Records"] if "ErrorCode" in x]
            self.assertEqual(resp["FailedRecordCount"], len(bad))
            failed += bad
            if failed:
                break
        self.assertTrue(failed, "2,000 records in a row into one shard: none refused")
        self.assertEqual(failed[0], {
            "ErrorCode": "ProvisionedThroughputExceededException",
            "ErrorMessage": rate_shard(SHARD % 0, one, acct)})
        self._seen.add(("PutRecords", "ProvisionedThroughputExceededException"))
        missing = unique_name("cf")
        self.err("ResourceNotFoundException", c.put_records, StreamName=missing,
                 Records=[{"PartitionKey": "a", "Data": b""}], message=nf_stream(missing, acct))
        # KL putRecords.
        self.err("InvalidArgumentException", c.put_records, StreamName=name,
                 Records=[{"PartitionKey": "a", "Data": b"", "ExplicitHashKey": str(2 ** 128)},
                          {"PartitionKey": "a", "Data": b""}],
                 message="Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                         "[0, 2^128-1]. Specified value was %d" % 2 ** 128)
        # More than 10 MiB in one call. AWS's text from when the limit was 5 MiB
        # (GH aws/amazon-kinesis-streams-for-fluent-bit#21, snowplow/enrich#685).
        mb = b"y" * 1000000
        self.err("InvalidArgumentException", c.put_records, StreamName=name,
                 Records=[{"PartitionKey": "k%d" % i, "Data": mb} for i in range(11)],
                 message="Records size exceeds 10 MB limit")
        # KL putRecords.
        self.validation(c.put_records,
                        constraint("", "records.1.member.partitionKey",
                                   LENGTH_GE1),
                        constraint("", "records.1.member.explicitHashKey",
                                   "Member must satisfy regular expression pattern: "
                                   "0|([1-9]\\d{0,38})"),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="",
                        Records=[{"PartitionKey": "", "Data": b"", "ExplicitHashKey": ""}])
        self.validation(c.put_records, constraint("[]", "records",
                                                  "Member must have length greater than or "
                                                  "equal to 1"),
                        StreamName=name, Records=[])
        self.no_stream(c.put_records, Records=[{"PartitionKey": "a", "Data": b""}])

    @covers("GetShardIterator:ok", "GetShardIterator:ResourceNotFoundException",
            "GetShardIterator:InvalidArgumentException",
            "GetShardIterator:ProvisionedThroughputExceededException")
    def test_get_shard_iterator(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(2)
        before = time.time()
        time.sleep(0.01)
        puts = [c.put_record(StreamName=name, PartitionKey="k", Data=b"%d" % i,
                             ExplicitHashKey="0") for i in range(4)]
        seqs = [p["SequenceNumber"] for p in puts]

        def read(**kw):
            it = self.ok(c.get_shard_iterator, StreamName=name, ShardId=SHARD % 0, **kw)
            self.assertLessEqual(len(it["ShardIterator"]), 512)
            recs = c.get_records(ShardIterator=it["ShardIterator"])["Records"]
            return [r["SequenceNumber"] for r in recs]

        self.assertEqual(read(ShardIteratorType="TRIM_HORIZON"), seqs)
        self.assertEqual(read(ShardIteratorType="AT_SEQUENCE_NUMBER",
                              StartingSequenceNumber=seqs[1]), seqs[1:])
        self.assertEqual(read(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                              StartingSequenceNumber=seqs[1]), seqs[2:])
        self.assertEqual(read(ShardIteratorType="AT_TIMESTAMP", Timestamp=before), seqs)
        self.assertEqual(read(ShardIteratorType="LATEST"), [])
        # KL getShardIterator: any prefix before the last '-' is ignored.
        self.ok(c.get_shard_iterator, StreamARN=arn, ShardId="anything-1",
                ShardIteratorType="LATEST")
        ghost = unique_name("cf")
        # KL getShardIterator: an unknown stream names the shard first.
        self.err("ResourceNotFoundException", c.get_shard_iterator, StreamName=ghost,
                 ShardId="2147483647", ShardIteratorType="LATEST",
                 message=nf_shard("shardId-002147483647", ghost, acct))
        self.err("ResourceNotFoundException", c.get_shard_iterator, StreamName=ghost,
                 ShardId="ABKLFD8", ShardIteratorType="LATEST",
                 message=no_such_shard("ABKLFD8", ghost, acct))
        self.err("ResourceNotFoundException", c.get_shard_iterator, StreamName=name,
                 ShardId="shardId-5", ShardIteratorType="LATEST",
                 message=nf_shard(SHARD % 5, name, acct))
        # KL getShardIterator.
        for kind, seq, said in (("AT_SEQUENCE_NUMBER", None, "AT_SEQUENCE_NUMBER and no"),
                                ("AFTER_SEQUENCE_NUMBER", None, "AFTER_SEQUENCE_NUMBER and no"),
                                ("LATEST", seqs[0], "LATEST and also a"),
                                ("TRIM_HORIZON", seqs[0], "TRIM_HORIZON and also a")):
            kw = {} if seq is None else {"StartingSequenceNumber": seq}
            self.err("InvalidArgumentException", c.get_shard_iterator, StreamName=name,
                     ShardId=SHARD % 0, ShardIteratorType=kind,
                     message=MUST_EITHER % (said + " StartingSequenceNumber"), **kw)
        self.err("InvalidArgumentException", c.get_shard_iterator, StreamName=name,
                 ShardId=SHARD % 0, ShardIteratorType="AT_TIMESTAMP",
                 message="Must specify timestampInMillis parameter for iterator of type "
                         "AT_TIMESTAMP. Current request has no timestamp parameter.")
        # KL getShardIterator: a sequence number of another shard.
        self.err("InvalidArgumentException", c.get_shard_iterator, StreamName=name,
                 ShardId=SHARD % 1, ShardIteratorType="AT_SEQUENCE_NUMBER",
                 StartingSequenceNumber=seqs[0],
                 message="Invalid StartingSequenceNumber. It encodes %s, while it was used in a "
                         "call to a shard with %s" % (SHARD % 0, SHARD % 1))
        # peers.md section 3 (the text goes on with both values).
        self.err("InvalidArgumentException", c.get_shard_iterator, StreamName=name,
                 ShardId=SHARD % 0, ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time() + 3600,
                 message_re=r"^The timestampInMillis parameter cannot be greater than the "
                            r"currentTimestampInMillis\. ")
        # 5 per second per shard on AWS (one on the "aws" gateway); peers.md
        # section 3's text.
        self.rated("ProvisionedThroughputExceededException", rate_shard(SHARD % 1, name, acct),
                   self.caws.get_shard_iterator, StreamName=name, ShardId=SHARD % 1,
                   ShardIteratorType="LATEST")
        # KL getShardIterator.
        self.validation(c.get_shard_iterator,
                        constraint("", "shardId", NAME_RE_RULE),
                        constraint("", "shardId",
                                   LENGTH_GE1),
                        constraint("", "shardIteratorType",
                                   "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, "
                                   "LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"),
                        constraint("", "startingSequenceNumber",
                                   "Member must satisfy regular expression pattern: "
                                   "0|([1-9]\\d{0,128})"),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", ShardIteratorType="", ShardId="", StartingSequenceNumber="")
        self.no_stream(c.get_shard_iterator, ShardId=SHARD % 0, ShardIteratorType="LATEST")

    @covers("GetRecords:ok", "GetRecords:InvalidArgumentException",
            "GetRecords:ResourceNotFoundException", "GetRecords:ExpiredIteratorException",
            "GetRecords:ProvisionedThroughputExceededException")
    def test_get_records(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(2)
        data = [b"\x00\xffbin", b"", "\u00fcnic\u00f6d\u00e9".encode()]
        puts = [c.put_record(StreamName=name, PartitionKey="pk%d" % i, Data=d,
                             ExplicitHashKey="1")
                for i, d in enumerate(data)]
        it = c.get_shard_iterator(StreamName=name, ShardId=SHARD % 0,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        r = self.ok(c.get_records, ShardIterator=it, Limit=2)
        self.assertEqual([(x["Data"], x["PartitionKey"], x["SequenceNumber"])
                          for x in r["Records"]],
                         [(data[i], "pk%d" % i, puts[i]["SequenceNumber"]) for i in range(2)])
        for x in r["Records"]:
            self.assertLess(abs(x["ApproximateArrivalTimestamp"].timestamp() - time.time()), 60)
        self.assertIn("MillisBehindLatest", r)
        # Any gateway continues from NextShardIterator (StreamARN given too).
        r = self.ok(self.c2.get_records, ShardIterator=r["NextShardIterator"], StreamARN=arn)
        self.assertEqual([x["Data"] for x in r["Records"]], data[2:])
        self.assertEqual(r["MillisBehindLatest"], 0)
        # KL getRecords.
        self.err("InvalidArgumentException", c.get_records, ShardIterator=unique_name("it"),
                 message="Invalid ShardIterator.")
        # The "late" gateway's clock is 400 s ahead: KL getRecords' text.
        self.err("ExpiredIteratorException", self.clate.get_records, ShardIterator=it,
                 message_re=EXPIRED_ITERATOR_RE)
        # 5 calls per second per shard: GH risingwavelabs/risingwave#7453.
        refused = None
        it1 = c.get_shard_iterator(StreamName=name, ShardId=SHARD % 1,
                                   ShardIteratorType="LATEST")["ShardIterator"]
        for _ in range(12):
            try:
                it1 = c.get_records(ShardIterator=it1)["NextShardIterator"]
            except botocore.exceptions.ClientError as e:
                refused = e
                break
        self.assertIsNotNone(refused, "12 GetRecords in a row on one shard: none refused")
        self.assertErr(refused, "ProvisionedThroughputExceededException",
                       "Rate exceeded for Shard - %s/%s/%s" % (acct, name, SHARD % 1))
        self._seen.add(("GetRecords", "ProvisionedThroughputExceededException"))
        # KL getRecords: iterators of a deleted stream.
        c.delete_stream(StreamName=name)
        harness.wait_status(c, name, None)
        self.err("ResourceNotFoundException", c.get_records, ShardIterator=it,
                 message=nf_shard(SHARD % 0, name, acct))
        # KL getRecords.
        self.validation(c.get_records,
                        constraint("0", "limit", VALUE_GE1),
                        constraint("", "shardIterator",
                                   LENGTH_GE1),
                        ShardIterator="", Limit=0)
        self.validation(c.get_records,
                        constraint("100000", "limit",
                                   "Member must have value less than or equal to 10000"),
                        constraint("a" * 513, "shardIterator",
                                   "Member must have length less than or equal to 512"),
                        ShardIterator="a" * 513, Limit=100000)

    @covers("ListShards:ok", "ListShards:ResourceNotFoundException",
            "ListShards:InvalidArgumentException", "ListShards:ExpiredNextTokenException",
            "ListShards:ResourceInUseException", "ListShards:LimitExceededException")
    def test_list_shards(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        shards = self.ok(c.list_shards, StreamName=name)["Shards"]
        self.assertEqual([(s["ShardId"], s["HashKeyRange"]["StartingHashKey"],
                           s["HashKeyRange"]["EndingHashKey"]) for s in shards],
                         [(SHARD % i, str(lo), str(hi)) for i, (lo, hi) in
                          enumerate(even_ranges(3))])
        page = self.ok(c.list_shards, StreamARN=arn, MaxResults=2)
        self.assertEqual([s["ShardId"] for s in page["Shards"]], [SHARD % 0, SHARD % 1])
        token = page["NextToken"]
        rest = self.ok(self.c3.list_shards, NextToken=token)
        self.assertEqual([s["ShardId"] for s in rest["Shards"]], [SHARD % 2])
        self.assertNotIn("NextToken", rest)
        after = self.ok(c.list_shards, StreamName=name, ExclusiveStartShardId=SHARD % 0,
                        ShardFilter={"Type": "AT_LATEST"})
        self.assertEqual([s["ShardId"] for s in after["Shards"]], [SHARD % 1, SHARD % 2])
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.list_shards, StreamName=ghost,
                 message=nf_stream(ghost, acct))
        # KL listShards.
        self.err("InvalidArgumentException", c.list_shards, StreamName=name, NextToken=token,
                 message="NextToken and StreamName cannot be provided together.")
        self.err("InvalidArgumentException", c.list_shards,
                 message="Either NextToken or StreamName should be provided.")
        # GH aws/aws-cli#9635, awslabs/amazon-kinesis-scaling-utils#82, apache/beam#33478.
        for other, kw in (("StreamARN", {"StreamARN": self.arn(name)}),
                          ("ExclusiveStartShardId", {"ExclusiveStartShardId": SHARD % 0}),
                          ("ShardFilter", {"ShardFilter": {"Type": "AT_LATEST"}})):
            self.err("InvalidArgumentException", c.list_shards, NextToken=token,
                     message="NextToken and %s cannot be provided together." % other, **kw)
        # Text unverified.
        self.err("ExpiredNextTokenException", self.clate.list_shards, NextToken=token)
        # peers.md section 3: a CREATING stream.
        self.stream_in_creating(lambda n: self.err(
            "ResourceInUseException", c.list_shards, StreamName=n,
            message=not_active(n, acct, "CREATING")))
        # 1,000 per second per stream on AWS, one on the "aws" gateway.
        self.rated("LimitExceededException", rate_stream(name, acct), self.caws.list_shards,
                   StreamName=name)
        # KL listShards.
        self.validation(c.list_shards,
                        constraint("0", "maxResults",
                                   VALUE_GE1),
                        constraint("", "exclusiveStartShardId", NAME_RE_RULE),
                        constraint("", "exclusiveStartShardId",
                                   LENGTH_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        constraint("", "nextToken",
                                   LENGTH_GE1),
                        StreamName="", NextToken="", MaxResults=0, ExclusiveStartShardId="")

    def stream_in_creating(self, *calls):
        in_window(self, lambda: self.stream(1, wait=False), "CREATING", list(calls))


# ---- tags ------------------------------------------------------------------------------


def tags_of(resp):
    return [(t["Key"], t["Value"]) for t in resp["Tags"]]


def percent_re(verb):
    # KL addTagsToStream/removeTagsFromStream ('%'), up to the list of
    # characters, which gained ':' since (unverified how it ends now).
    return (r"^Failed to %s stream \S+ under account \d{12} because some tags contained illegal "
            r"characters\. The allowed characters are Unicode letters, white-spaces, "
            r"'_',',','/','=','\+','-','@'" % verb)


def too_many_tags(name, acct):
    # KL addTagsToStream (then 10 tags; 50 since: API_AddTagsToStream).
    return ("Failed to add tags to stream %s under account %s because a given stream cannot "
            "have more than 50 tags associated with it." % (name, acct))


class Tags(ConformanceCase):

    @covers("AddTagsToStream:ok", "AddTagsToStream:ResourceNotFoundException",
            "AddTagsToStream:InvalidArgumentException", "AddTagsToStream:LimitExceededException",
            "ListTagsForStream:ok", "ListTagsForStream:ResourceNotFoundException",
            "ListTagsForStream:InvalidArgumentException",
            "ListTagsForStream:LimitExceededException")
    def test_add_and_list_tags_for_stream(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        # KL addTagsToStream's characters.
        tags = {"a": "a", "\u00fc0 _.": "a", "/=+-@:": "a", "b": "\u00fc0 _./=+-@", "c": ""}
        self.ok(c.add_tags_to_stream, StreamName=name, Tags=tags)
        self.ok(c.add_tags_to_stream, StreamARN=arn, Tags={"a": "b"})
        want = sorted(dict(tags, a="b").items())
        got = self.ok(self.c2.list_tags_for_stream, StreamName=name)
        self.assertEqual((tags_of(got), got["HasMoreTags"]), (want, False))
        page = self.ok(c.list_tags_for_stream, StreamARN=arn, Limit=2,
                       ExclusiveStartTagKey=want[0][0])
        self.assertEqual((tags_of(page), page["HasMoreTags"]), (want[1:3], True))
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.add_tags_to_stream, StreamName=ghost,
                 Tags={"a": "b"}, message=nf_stream(ghost, acct))
        self.err("ResourceNotFoundException", c.list_tags_for_stream, StreamName=ghost,
                 message=nf_stream(ghost, acct))
        for bad in ({"abc;def": "1"}, {"abc\tdef": "1"}, {"a": "abc,def"}, {"a": "abc\ndef"}):
            self.err("InvalidArgumentException", c.add_tags_to_stream, StreamName=name,
                     Tags=bad, message_re=TAG_CHARS_RE)
        self.err("InvalidArgumentException", c.add_tags_to_stream, StreamName=name,
                 Tags={"abc%def": "1"}, message_re=percent_re("add tags to"))
        self.err("InvalidArgumentException", c.add_tags_to_stream, StreamName=name,
                 Tags={"k%d" % i: "" for i in range(46)}, message=too_many_tags(name, acct))
        self.no_stream(c.list_tags_for_stream)
        # 5 per second per account on AWS.
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.add_tags_to_stream, StreamName=name, Tags={"z": "z"})
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.list_tags_for_stream, StreamName=name)
        # KL addTagsToStream, listTagsForStream.
        self.validation(c.add_tags_to_stream,
                        constraint("{}", "tags", LENGTH_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", Tags={})
        self.validation(c.list_tags_for_stream,
                        constraint("0", "limit", VALUE_GE1),
                        constraint("", "exclusiveStartTagKey",
                                   LENGTH_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", ExclusiveStartTagKey="", Limit=0)

    @covers("RemoveTagsFromStream:ok", "RemoveTagsFromStream:ResourceNotFoundException",
            "RemoveTagsFromStream:InvalidArgumentException",
            "RemoveTagsFromStream:LimitExceededException")
    def test_remove_tags_from_stream(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        c.add_tags_to_stream(StreamName=name, Tags={"a": "a", "\u00fc0 _.": "a", "/=+-@": "a"})
        # KL removeTagsFromStream: unknown keys are ignored.
        self.ok(c.remove_tags_from_stream, StreamName=name, TagKeys=["\u00fc0 _.", "/=+-@", "b"])
        self.ok(c.remove_tags_from_stream, StreamARN=arn, TagKeys=["zz"])
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)), [("a", "a")])
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.remove_tags_from_stream, StreamName=ghost,
                 TagKeys=["a"], message=nf_stream(ghost, acct))
        self.err("InvalidArgumentException", c.remove_tags_from_stream, StreamName=name,
                 TagKeys=["abc;def"], message_re=TAG_CHARS_RE)
        self.err("InvalidArgumentException", c.remove_tags_from_stream, StreamName=name,
                 TagKeys=["abc%def"], message_re=percent_re("remove tags from"))
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.remove_tags_from_stream, StreamName=name, TagKeys=["z"])
        # KL removeTagsFromStream.
        self.validation(c.remove_tags_from_stream,
                        constraint("[]", "tagKeys",
                                   LENGTH_GE1),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        StreamName="", TagKeys=[])
        long = "a" * 129
        self.validation(c.remove_tags_from_stream,
                        constraint("[a, %s, b]" % long, "tagKeys",
                                   "Member must satisfy constraint: [Member must have length less "
                                   "than or equal to 128, Member must have length greater than or "
                                   "equal to 1]"),
                        StreamName=name, TagKeys=["a", long, "b"])

    @covers("TagResource:ok", "TagResource:ResourceNotFoundException",
            "TagResource:InvalidArgumentException",
            "UntagResource:ok", "UntagResource:ResourceNotFoundException",
            "UntagResource:InvalidArgumentException",
            "ListTagsForResource:ok", "ListTagsForResource:ResourceNotFoundException")
    def test_resource_tags(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        cons = c.register_stream_consumer(StreamARN=arn, ConsumerName="c1")["Consumer"]
        carn = cons["ConsumerARN"]
        # Streams and (since 2024) consumers take tags by ARN.
        self.ok(c.tag_resource, ResourceARN=arn, Tags={"s": "1", "t": "2"})
        self.ok(c.tag_resource, ResourceARN=carn, Tags={"c": "3"})
        self.assertEqual(tags_of(self.ok(self.c2.list_tags_for_resource, ResourceARN=arn)),
                         [("s", "1"), ("t", "2")])
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)), [("s", "1"), ("t", "2")])
        self.assertEqual(tags_of(self.ok(c.list_tags_for_resource, ResourceARN=carn)),
                         [("c", "3")])
        self.ok(c.untag_resource, ResourceARN=arn, TagKeys=["s", "nope"])
        self.ok(c.untag_resource, ResourceARN=carn, TagKeys=["c"])
        self.assertEqual(tags_of(c.list_tags_for_resource(ResourceARN=arn)), [("t", "2")])
        self.assertEqual(c.list_tags_for_resource(ResourceARN=carn)["Tags"], [])
        ghost = unique_name("cf")
        for fn, kw in ((c.tag_resource, {"Tags": {"a": "b"}}),
                       (c.untag_resource, {"TagKeys": ["a"]}), (c.list_tags_for_resource, {})):
            self.err("ResourceNotFoundException", fn, ResourceARN=self.arn(ghost),
                     message=nf_stream(ghost, acct), **kw)
        # A consumer that does not exist. Text unverified.
        self.err("ResourceNotFoundException", c.list_tags_for_resource,
                 ResourceARN=arn + "/consumer/ghost:1")
        self.err("InvalidArgumentException", c.tag_resource, ResourceARN=arn, Tags={"a;b": "1"},
                 message_re=TAG_CHARS_RE)
        self.err("InvalidArgumentException", c.untag_resource, ResourceARN=arn,
                 TagKeys=["a%b"], message_re=percent_re("remove tags from"))
        # The model's pattern for ResourceARN.
        self.validation(c.list_tags_for_resource,
                        constraint(arn[:arn.index("/") + 1], "resourceARN",
                                   "Member must satisfy regular expression pattern: "
                                   "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"),
                        ResourceARN=arn[:arn.index("/") + 1])
        c.deregister_stream_consumer(ConsumerARN=carn)


# ---- what a stream's state allows -----------------------------------------------------


class States(ConformanceCase):
    """The ResourceInUseExceptions of a stream CREATING or UPDATING. The
    calls go out at once, and the stream must still be in that state after
    them. "not ACTIVE, instead in state X" is verified for SplitShard and
    MergeShards (KL) and ListShards (peers.md), "not ACTIVE or UPDATING,
    instead in state X" for RegisterStreamConsumer; for the other actions
    the text is unverified and only the type is asserted."""

    @covers("AddTagsToStream:ResourceInUseException", "RemoveTagsFromStream:ResourceInUseException",
            "TagResource:ResourceInUseException", "UntagResource:ResourceInUseException",
            "IncreaseStreamRetentionPeriod:ResourceInUseException",
            "DecreaseStreamRetentionPeriod:ResourceInUseException",
            "EnableEnhancedMonitoring:ResourceInUseException",
            "DisableEnhancedMonitoring:ResourceInUseException",
            "StartStreamEncryption:ResourceInUseException",
            "StopStreamEncryption:ResourceInUseException",
            "PutResourcePolicy:ResourceInUseException",
            "DeleteResourcePolicy:ResourceInUseException",
            "UpdateMaxRecordSize:ResourceInUseException",
            "UpdateStreamWarmThroughput:ResourceInUseException",
            "UpdateStreamMode:ResourceInUseException",
            "UpdateShardCount:ResourceInUseException",
            "SplitShard:ResourceInUseException",
            "RegisterStreamConsumer:ResourceInUseException")
    def test_creating(self):
        c, acct = self.c, self.acct
        RIU = "ResourceInUseException"

        def arn(n):
            return self.arn(n)

        calls = [
            lambda n: self.err(RIU, c.add_tags_to_stream, StreamName=n, Tags={"a": "b"}),
            lambda n: self.err(RIU, c.remove_tags_from_stream, StreamName=n, TagKeys=["a"]),
            lambda n: self.err(RIU, c.tag_resource, ResourceARN=arn(n), Tags={"a": "b"}),
            lambda n: self.err(RIU, c.untag_resource, ResourceARN=arn(n), TagKeys=["a"]),
            lambda n: self.err(RIU, c.increase_stream_retention_period, StreamName=n,
                               RetentionPeriodHours=48),
            lambda n: self.err(RIU, c.decrease_stream_retention_period, StreamName=n,
                               RetentionPeriodHours=24),
            lambda n: self.err(RIU, c.enable_enhanced_monitoring, StreamName=n,
                               ShardLevelMetrics=["ALL"]),
            lambda n: self.err(RIU, c.disable_enhanced_monitoring, StreamName=n,
                               ShardLevelMetrics=["ALL"]),
            lambda n: self.err(RIU, c.start_stream_encryption, StreamName=n, EncryptionType="KMS",
                               KeyId="alias/aws/kinesis"),
            lambda n: self.err(RIU, c.stop_stream_encryption, StreamName=n, EncryptionType="KMS",
                               KeyId="alias/aws/kinesis"),
            lambda n: self.err(RIU, c.put_resource_policy, ResourceARN=arn(n), Policy=POLICY),
            lambda n: self.err(RIU, c.delete_resource_policy, ResourceARN=arn(n)),
            lambda n: self.err(RIU, c.update_max_record_size, StreamARN=arn(n),
                               MaxRecordSizeInKiB=2048),
            lambda n: self.err(RIU, c.update_stream_warm_throughput, StreamName=n,
                               WarmThroughputMiBps=10),
            lambda n: self.err(RIU, c.update_stream_mode, StreamARN=arn(n),
                               StreamModeDetails={"StreamMode": "ON_DEMAND"}),
            lambda n: self.err(RIU, c.update_shard_count, StreamName=n, TargetShardCount=2,
                               ScalingType="UNIFORM_SCALING"),
            lambda n: self.err(RIU, c.split_shard, StreamName=n, ShardToSplit=SHARD % 0,
                               NewStartingHashKey="100",
                               message=not_active(n, acct, "CREATING")),
            # GH aws/aws-sdk-java-v2#5949, #6006.
            lambda n: self.err(RIU, c.register_stream_consumer, StreamARN=arn(n),
                               ConsumerName="c1",
                               message="Stream %s under account %s not ACTIVE or UPDATING, "
                                       "instead in state CREATING" % (n, acct)),
        ]
        in_window(self, lambda: self.stream(1, wait=False), "CREATING", calls)

    @covers("SplitShard:ResourceInUseException", "MergeShards:ResourceInUseException",
            "UpdateShardCount:ResourceInUseException",
            "UpdateStreamMode:ResourceInUseException",
            "UpdateMaxRecordSize:ResourceInUseException",
            "EnableEnhancedMonitoring:ResourceInUseException")
    def test_updating(self):
        c, acct = self.c, self.acct
        RIU = "ResourceInUseException"

        def make():
            name, arn = self.stream(3)
            # Splitting shard 0 makes the stream UPDATING; 1 and 2 stay open.
            c.split_shard(StreamName=name, ShardToSplit=SHARD % 0, NewStartingHashKey="100")
            return name, arn

        calls = [
            # KL splitShard / mergeShards.
            lambda n: self.err(RIU, c.split_shard, StreamName=n, ShardToSplit=SHARD % 1,
                               NewStartingHashKey=str(even_ranges(3)[1][0] + 100),
                               message=not_active(n, acct, "UPDATING")),
            lambda n: self.err(RIU, c.merge_shards, StreamName=n, ShardToMerge=SHARD % 1,
                               AdjacentShardToMerge=SHARD % 2,
                               message=not_active(n, acct, "UPDATING")),
            lambda n: self.err(RIU, c.update_shard_count, StreamName=n, TargetShardCount=4,
                               ScalingType="UNIFORM_SCALING"),
            lambda n: self.err(RIU, c.update_stream_mode, StreamARN=self.arn(n),
                               StreamModeDetails={"StreamMode": "ON_DEMAND"}),
            lambda n: self.err(RIU, c.update_max_record_size, StreamARN=self.arn(n),
                               MaxRecordSizeInKiB=2048),
            lambda n: self.err(RIU, c.enable_enhanced_monitoring, StreamName=n,
                               ShardLevelMetrics=["ALL"]),
            # Writes and reads go on while UPDATING (peers.md section 3).
            lambda n: self.ok(c.put_record, StreamName=n, PartitionKey="a", Data=b"u"),
            lambda n: self.ok(c.list_shards, StreamName=n),
        ]
        in_window(self, make, "UPDATING", calls)


# ---- stream and account settings --------------------------------------------------------

ALL_METRICS = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
               "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
               "IteratorAgeMilliseconds"]


class Settings(ConformanceCase):

    @covers("IncreaseStreamRetentionPeriod:ok",
            "IncreaseStreamRetentionPeriod:ResourceNotFoundException",
            "IncreaseStreamRetentionPeriod:InvalidArgumentException",
            "DecreaseStreamRetentionPeriod:ok",
            "DecreaseStreamRetentionPeriod:ResourceNotFoundException",
            "DecreaseStreamRetentionPeriod:InvalidArgumentException")
    def test_retention_period(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        inc, dec = c.increase_stream_retention_period, c.decrease_stream_retention_period
        self.ok(inc, StreamName=name, RetentionPeriodHours=48)
        self.assertEqual(self.active(name)["RetentionPeriodHours"], 48)
        # The same period again is accepted.
        self.ok(inc, StreamARN=arn, RetentionPeriodHours=48)
        self.active(name)
        # KL increase/decreaseStreamRetentionPeriod.
        self.err("InvalidArgumentException", inc, StreamName=name, RetentionPeriodHours=24,
                 message="Requested retention period (24 hours) for stream %s can not be shorter "
                         "than existing retention period (48 hours). Use DecreaseRetentionPeriod "
                         "API." % name)
        self.err("InvalidArgumentException", dec, StreamName=name, RetentionPeriodHours=72,
                 message="Requested retention period (72 hours) for stream %s can not be longer "
                         "than existing retention period (48 hours). Use IncreaseRetentionPeriod "
                         "API." % name)
        for fn in (inc, dec):
            self.err("InvalidArgumentException", fn, StreamName=name, RetentionPeriodHours=23,
                     message="Minimum allowed retention period is 24 hours. Requested retention "
                             "period (23 hours) is too short.")
            # KL's text with today's maximum (8760 h, API reference).
            self.err("InvalidArgumentException", fn, StreamName=name, RetentionPeriodHours=8761,
                     message="Maximum allowed retention period is 8760 hours. Requested "
                             "retention period (8761 hours) is too long.")
            ghost = unique_name("cf")
            self.err("ResourceNotFoundException", fn, StreamName=ghost, RetentionPeriodHours=25,
                     message=nf_stream(ghost, acct))
            # KL's clauses, less the "value greater than or equal to 1" of
            # RetentionPeriodHours, which today's model no longer has.
            self.validation(fn,
                            constraint("", "streamName", NAME_RE_RULE),
                            constraint("", "streamName",
                                       LENGTH_GE1),
                            StreamName="", RetentionPeriodHours=-1)
        self.ok(dec, StreamName=name, RetentionPeriodHours=24)
        self.assertEqual(self.active(name)["RetentionPeriodHours"], 24)

    @covers("EnableEnhancedMonitoring:ok", "EnableEnhancedMonitoring:ResourceNotFoundException",
            "EnableEnhancedMonitoring:InvalidArgumentException",
            "DisableEnhancedMonitoring:ok", "DisableEnhancedMonitoring:ResourceNotFoundException",
            "DisableEnhancedMonitoring:InvalidArgumentException")
    def test_enhanced_monitoring(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        r = self.ok(c.enable_enhanced_monitoring, StreamName=name,
                    ShardLevelMetrics=["IteratorAgeMilliseconds", "IncomingBytes"])
        self.assertEqual((r["StreamName"], r["StreamARN"], r["CurrentShardLevelMetrics"],
                          sorted(r["DesiredShardLevelMetrics"])),
                         (name, arn, [], ["IncomingBytes", "IteratorAgeMilliseconds"]))
        self.active(name)
        r = self.ok(c.enable_enhanced_monitoring, StreamARN=arn, ShardLevelMetrics=["ALL"])
        self.assertEqual(sorted(r["DesiredShardLevelMetrics"]), sorted(ALL_METRICS))
        self.assertEqual(sorted(self.active(name)["EnhancedMonitoring"][0]["ShardLevelMetrics"]),
                         sorted(ALL_METRICS))
        r = self.ok(c.disable_enhanced_monitoring, StreamName=name, ShardLevelMetrics=["ALL"])
        self.assertEqual((sorted(r["CurrentShardLevelMetrics"]), r["DesiredShardLevelMetrics"]),
                         (sorted(ALL_METRICS), []))
        self.assertEqual(self.active(name)["EnhancedMonitoring"], [{"ShardLevelMetrics": []}])
        for fn in (c.enable_enhanced_monitoring, c.disable_enhanced_monitoring):
            ghost = unique_name("cf")
            self.err("ResourceNotFoundException", fn, StreamName=ghost,
                     ShardLevelMetrics=["ALL"], message=nf_stream(ghost, acct))
            self.no_stream(fn, ShardLevelMetrics=["ALL"])
            self.validation(fn,
                            constraint("[]", "shardLevelMetrics",
                                       LENGTH_GE1),
                            StreamName=name, ShardLevelMetrics=[])

    @covers("StartStreamEncryption:ok", "StartStreamEncryption:ResourceNotFoundException",
            "StartStreamEncryption:InvalidArgumentException",
            "StopStreamEncryption:ok", "StopStreamEncryption:ResourceNotFoundException",
            "StopStreamEncryption:InvalidArgumentException")
    def test_stream_encryption(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        self.ok(c.start_stream_encryption, StreamName=name, EncryptionType="KMS",
                KeyId="alias/aws/kinesis")
        s = self.active(name)
        self.assertEqual((s["EncryptionType"], s["KeyId"]), ("KMS", "alias/aws/kinesis"))
        put = c.put_record(StreamName=name, PartitionKey="a", Data=b"secret")
        self.assertEqual(put["EncryptionType"], "KMS")
        it = c.get_shard_iterator(StreamName=name, ShardId=SHARD % 0,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        rec = c.get_records(ShardIterator=it)["Records"][0]
        self.assertEqual((rec["Data"], rec["EncryptionType"]), (b"secret", "KMS"))
        self.ok(c.stop_stream_encryption, StreamARN=arn, EncryptionType="KMS",
                KeyId="alias/aws/kinesis")
        s = self.active(name)
        self.assertEqual(s["EncryptionType"], "NONE")
        self.assertNotIn("KeyId", s)
        for fn in (c.start_stream_encryption, c.stop_stream_encryption):
            ghost = unique_name("cf")
            self.err("ResourceNotFoundException", fn, StreamName=ghost, EncryptionType="KMS",
                     KeyId="k", message=nf_stream(ghost, acct))
            # Only KMS is an encryption type. Text unverified.
            self.err("InvalidArgumentException", fn, StreamName=name, EncryptionType="NONE",
                     KeyId="k")
            self.validation(fn,
                            constraint("RSA", "encryptionType",
                                       "Member must satisfy enum value set: [NONE, KMS]"),
                            constraint("", "keyId",
                                       LENGTH_GE1),
                            StreamName=name, EncryptionType="RSA", KeyId="")

    @covers("PutResourcePolicy:ok", "PutResourcePolicy:ResourceNotFoundException",
            "PutResourcePolicy:InvalidArgumentException",
            "GetResourcePolicy:ok", "GetResourcePolicy:ResourceNotFoundException",
            "DeleteResourcePolicy:ok", "DeleteResourcePolicy:ResourceNotFoundException")
    def test_resource_policy(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        self.ok(c.put_resource_policy, ResourceARN=arn, Policy=POLICY)
        got = self.ok(self.c2.get_resource_policy, ResourceARN=arn)["Policy"]
        self.assertEqual(json.loads(got), json.loads(POLICY))
        self.ok(c.delete_resource_policy, ResourceARN=arn)
        self.assertEqual(json.loads(self.ok(c.get_resource_policy, ResourceARN=arn)["Policy"]), {})
        ghost = self.arn(unique_name("cf"))
        for fn, kw in ((c.put_resource_policy, {"Policy": POLICY}), (c.get_resource_policy, {}),
                       (c.delete_resource_policy, {})):
            self.err("ResourceNotFoundException", fn, ResourceARN=ghost,
                     message=nf_stream(ghost.split("/")[-1], acct), **kw)
        # Text unverified.
        self.err("InvalidArgumentException", c.put_resource_policy, ResourceARN=arn,
                 Policy="not a policy")
        self.validation(c.get_resource_policy,
                        constraint("arn:aws:kinesis:x", "resourceARN",
                                   "Member must satisfy regular expression pattern: "
                                   "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"),
                        ResourceARN="arn:aws:kinesis:x")

    @covers("UpdateMaxRecordSize:ok", "UpdateMaxRecordSize:ResourceNotFoundException",
            "UpdateMaxRecordSize:ValidationException")
    def test_update_max_record_size(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        big = b"z" * (1024 * 1024 + 1)
        # 1 MiB by default. The model allows 10 MiB of Data, so this is the
        # service's check, not coral's: its text names no value (AWS's answer
        # to PutRecords in GH awslabs/amazon-kinesis-producer#680).
        self.err("ValidationException", c.put_record, StreamName=name, PartitionKey="a", Data=big,
                 message="1 validation error detected: Value at 'data' failed to satisfy "
                         "constraint: Member must have length less than or equal to 1048576.")
        self.err("ValidationException", c.put_records, StreamName=name,
                 Records=[{"PartitionKey": "a", "Data": b"s"}, {"PartitionKey": "a", "Data": big}],
                 message="1 validation error detected: Value at 'records.2.member.data' failed "
                         "to satisfy constraint: Member must have length less than or equal to "
                         "1048576.")
        self.ok(c.update_max_record_size, StreamARN=arn, MaxRecordSizeInKiB=2048)
        self.assertEqual(self.active(name)["MaxRecordSizeInKiB"], 2048)
        self.assertEqual(c.put_record(StreamName=name, PartitionKey="a", Data=big)["ShardId"],
                         SHARD % 0)
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.update_max_record_size,
                 StreamARN=self.arn(ghost), MaxRecordSizeInKiB=2048,
                 message=nf_stream(ghost, acct))
        # The model: 1024..10240.
        self.validation(c.update_max_record_size,
                        constraint("100", "maxRecordSizeInKiB",
                                   "Member must have value greater than or equal to 1024"),
                        StreamARN=arn, MaxRecordSizeInKiB=100)
        self.validation(c.update_max_record_size,
                        constraint("10241", "maxRecordSizeInKiB",
                                   "Member must have value less than or equal to 10240"),
                        StreamARN=arn, MaxRecordSizeInKiB=10241)

    @covers("UpdateStreamMode:ok", "UpdateStreamMode:ResourceNotFoundException",
            "UpdateStreamMode:InvalidArgumentException", "UpdateStreamMode:ValidationException",
            "UpdateStreamMode:LimitExceededException",
            "UpdateStreamWarmThroughput:ok", "UpdateStreamWarmThroughput:ResourceNotFoundException",
            "UpdateStreamWarmThroughput:InvalidArgumentException",
            "UpdateStreamWarmThroughput:ValidationException",
            "UpdateStreamWarmThroughput:LimitExceededException",
            "UpdateAccountSettings:ok", "DescribeAccountSettings:ok")
    def test_stream_mode_and_warm_throughput(self):
        c, acct = self.c, self.acct
        (name, arn), (prov, parn) = self.streams(2)
        self.ok(c.update_stream_mode, StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        s = self.active(name)
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.update_stream_mode, StreamARN=self.arn(ghost),
                 StreamModeDetails={"StreamMode": "ON_DEMAND"}, message=nf_stream(ghost, acct))
        # Warm throughput only for ON_DEMAND. Text unverified.
        self.err("InvalidArgumentException", c.update_stream_mode, StreamARN=parn,
                 StreamModeDetails={"StreamMode": "PROVISIONED"}, WarmThroughputMiBps=10)
        self.validation(c.update_stream_mode,
                        constraint("BURSTY", "streamModeDetails.streamMode",
                                   "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"),
                        StreamARN=arn, StreamModeDetails={"StreamMode": "BURSTY"})
        # The "tight" gateway allows one ON_DEMAND stream; name is one. The
        # text AWS gives CreateStream (GH hashicorp/terraform-provider-aws#38094).
        self.err("LimitExceededException", self.env_tight().update_stream_mode, StreamARN=parn,
                 StreamModeDetails={"StreamMode": "ON_DEMAND"},
                 message_re="^%s$" % re.escape(
                     "This request would exceed the limit on the number of On-Demand streams "
                     "for the account %s in %s. Current On-Demand streams count: @. Limit: 1."
                     % (acct, self.region)).replace("@", r"\d+"))
        # Warm throughput needs the account's MinimumThroughputBillingCommitment
        # (once enabled it lasts a day: only the first test to get here sees
        # it off).
        now = c.describe_account_settings().get("MinimumThroughputBillingCommitment", {})
        if now.get("Status", "DISABLED") == "DISABLED":
            self.err("InvalidArgumentException", c.update_stream_warm_throughput,
                     StreamName=name, WarmThroughputMiBps=10)
        r = self.ok(c.update_account_settings,
                    MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        d = self.ok(self.c3.describe_account_settings)["MinimumThroughputBillingCommitment"]
        self.assertEqual(r["MinimumThroughputBillingCommitment"], d)
        self.assertIn(d["Status"], ("ENABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END"))
        self.assertGreater(d["EarliestAllowedEndAt"], d["StartedAt"])
        w = self.ok(c.update_stream_warm_throughput, StreamName=name, WarmThroughputMiBps=10)
        self.assertEqual((w["StreamName"], w["StreamARN"], w["WarmThroughput"]["TargetMiBps"]),
                         (name, arn, 10))
        self.active(name)
        self.assertEqual(c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
                         ["WarmThroughput"]["TargetMiBps"], 10)
        self.err("InvalidArgumentException", c.update_stream_warm_throughput, StreamName=prov,
                 WarmThroughputMiBps=10)
        self.err("ResourceNotFoundException", c.update_stream_warm_throughput, StreamName=ghost,
                 WarmThroughputMiBps=10, message=nf_stream(ghost, acct))
        self.validation(c.update_stream_warm_throughput,
                        constraint("-1", "warmThroughputMiBps",
                                   "Member must have value greater than or equal to 0"),
                        StreamName=name, WarmThroughputMiBps=-1)
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.update_stream_warm_throughput, StreamName=name, WarmThroughputMiBps=10)

    def env_tight(self):
        return client(self.env.tight.endpoint)

    @covers("UpdateAccountSettings:ok", "UpdateAccountSettings:ValidationException",
            "UpdateAccountSettings:LimitExceededException",
            "DescribeAccountSettings:ok", "DescribeAccountSettings:LimitExceededException",
            "DescribeLimits:ok", "DescribeLimits:LimitExceededException")
    def test_account(self):
        c, acct = self.c, self.acct
        c.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        r = self.ok(c.update_account_settings,
                    MinimumThroughputBillingCommitment={"Status": "DISABLED"})
        # Disabling before the earliest end keeps it until then.
        self.assertEqual(r["MinimumThroughputBillingCommitment"]["Status"],
                         "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
        self.assertEqual(self.ok(c.describe_account_settings)
                         ["MinimumThroughputBillingCommitment"]["Status"],
                         "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
        self.validation(c.update_account_settings,
                        constraint("NOPE", "minimumThroughputBillingCommitment.status",
                                   "Member must satisfy enum value set: [ENABLED, DISABLED]"),
                        MinimumThroughputBillingCommitment={"Status": "NOPE"})
        self.rated("LimitExceededException", rate_account(acct),
                   self.caws.update_account_settings,
                   MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        self.rated("LimitExceededException", rate_account(acct),
                   self.caws.describe_account_settings)
        name, _ = self.stream(2)
        lim = self.ok(c.describe_limits)
        # The aws profile: AWS's default quotas (DescribeLimits, Developer Guide).
        self.assertEqual((lim["ShardLimit"], lim["OnDemandStreamCountLimit"]), (20000, 50))
        self.assertGreaterEqual(lim["OpenShardCount"], 2)
        self.assertGreaterEqual(lim["OnDemandStreamCount"], 0)
        # One call per second on AWS.
        self.rated("LimitExceededException", rate_account(acct), self.caws.describe_limits)


# ---- resharding --------------------------------------------------------------------------


def split_range_text(key, shard, name, acct, lo, hi):
    # KL splitShard.
    return ("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s "
            "is not both greater than one plus the shard's StartingHashKey %s and less than the "
            "shard's EndingHashKey %s." % (key, shard, name, acct, lo, hi))


def already_resharded(shard, name, acct):
    # peers.md section 3 (kinesalite #109, an AWS answer).
    return ("Shard %s in stream %s under account %s has already been merged or split, and thus "
            "is not eligible for merging or splitting." % (shard, name, acct))


class Resharding(ConformanceCase):

    @covers("SplitShard:ok", "SplitShard:ResourceNotFoundException",
            "SplitShard:InvalidArgumentException", "SplitShard:LimitExceededException",
            "SplitShard:ValidationException")
    def test_split_shard(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        r = even_ranges(3)
        mid = (r[0][0] + r[0][1]) // 2
        self.ok(c.split_shard, StreamName=name, ShardToSplit=SHARD % 0, NewStartingHashKey=str(mid))
        self.active(name)
        shards = c.list_shards(StreamName=name)["Shards"]
        self.assertEqual([(s["ShardId"], s.get("ParentShardId"),
                           s["HashKeyRange"]["StartingHashKey"],
                           s["HashKeyRange"]["EndingHashKey"]) for s in shards[3:]],
                         [(SHARD % 3, SHARD % 0, "0", str(mid - 1)),
                          (SHARD % 4, SHARD % 0, str(mid), str(r[0][1]))])
        self.assertIn("EndingSequenceNumber", shards[0]["SequenceNumberRange"])
        # KL splitShard: any prefix, by ARN too.
        self.ok(c.split_shard, StreamARN=arn, ShardToSplit="x-1",
                NewStartingHashKey=str(r[1][0] + 2))
        self.active(name)
        ghost = unique_name("cf")
        # KL splitShard: an unknown stream, unless the shard id is unparsable.
        self.err("ResourceNotFoundException", c.split_shard, StreamName=ghost,
                 ShardToSplit="2147483647", NewStartingHashKey="0",
                 message=nf_stream(ghost, acct))
        self.err("ResourceNotFoundException", c.split_shard, StreamName=ghost,
                 ShardToSplit="ABKLFD8", NewStartingHashKey="0",
                 message=no_such_shard("ABKLFD8", ghost, acct))
        self.err("ResourceNotFoundException", c.split_shard, StreamName=name,
                 ShardToSplit="shardId-99", NewStartingHashKey="0",
                 message=no_such_shard(SHARD % 99, name, acct))
        self.err("InvalidArgumentException", c.split_shard, StreamName=name,
                 ShardToSplit="shard-2", NewStartingHashKey=str(r[2][0] + 1),
                 message=split_range_text(r[2][0] + 1, SHARD % 2, name, acct, r[2][0], r[2][1]))
        self.err("InvalidArgumentException", c.split_shard, StreamName=name,
                 ShardToSplit="shard-2", NewStartingHashKey="9" * 39,
                 message=split_range_text("9" * 39, SHARD % 2, name, acct, r[2][0], r[2][1]))
        self.err("InvalidArgumentException", c.split_shard, StreamName=name,
                 ShardToSplit=SHARD % 0, NewStartingHashKey=str(mid + 5),
                 message=already_resharded(SHARD % 0, name, acct))
        # The "tight" gateway's quota is one open shard (KL splitShard's text).
        self.err("LimitExceededException", client(self.env.tight.endpoint).split_shard,
                 StreamName=name, ShardToSplit=SHARD % 2, NewStartingHashKey=str(r[2][0] + 5),
                 message_re="^%s$" % re.escape(shard_limit_text(acct, self.region, "@", 1, 1))
                 .replace("@", r"\d+"))
        self.rated("LimitExceededException", rate_stream(name, acct), self.caws.split_shard,
                   StreamName=name, ShardToSplit="shardId-99", NewStartingHashKey="0")
        # KL splitShard.
        self.validation(c.split_shard,
                        constraint("", "newStartingHashKey",
                                   "Member must satisfy regular expression pattern: "
                                   "0|([1-9]\\d{0,38})"),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        constraint("", "shardToSplit", NAME_RE_RULE),
                        constraint("", "shardToSplit",
                                   LENGTH_GE1),
                        StreamName="", ShardToSplit="", NewStartingHashKey="")

    @covers("MergeShards:ok", "MergeShards:ResourceNotFoundException",
            "MergeShards:InvalidArgumentException", "MergeShards:LimitExceededException",
            "MergeShards:ValidationException")
    def test_merge_shards(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(3)
        self.ok(c.merge_shards, StreamName=name, ShardToMerge="x-0",
                AdjacentShardToMerge="y-1")
        self.active(name)
        s = c.list_shards(StreamName=name)["Shards"][3]
        r = even_ranges(3)
        self.assertEqual((s["ShardId"], s["ParentShardId"], s["AdjacentParentShardId"],
                          s["HashKeyRange"]), (SHARD % 3, SHARD % 0, SHARD % 1, {
                              "StartingHashKey": str(r[0][0]), "EndingHashKey": str(r[1][1])}))
        ghost = unique_name("cf")
        # KL mergeShards.
        self.err("ResourceNotFoundException", c.merge_shards, StreamName=ghost,
                 ShardToMerge="2147483647", AdjacentShardToMerge="x-0",
                 message=nf_stream(ghost, acct))
        self.err("ResourceNotFoundException", c.merge_shards, StreamName=ghost,
                 ShardToMerge="x-0", AdjacentShardToMerge="2.14E4",
                 message=no_such_shard("2.14E4", ghost, acct))
        self.err("ResourceNotFoundException", c.merge_shards, StreamName=name,
                 ShardToMerge="x-2", AdjacentShardToMerge="shardId-5",
                 message=no_such_shard(SHARD % 5, name, acct))
        two, _ = self.stream(3)
        for a, b in ((0, 2), (1, 0)):
            self.err("InvalidArgumentException", c.merge_shards, StreamName=two,
                     ShardToMerge="x-%d" % a, AdjacentShardToMerge="y-%d" % b,
                     message="Shards %s and %s in stream %s under account %s are not an adjacent "
                             "pair of shards eligible for merging" % (SHARD % a, SHARD % b, two,
                                                                      acct))
        self.err("InvalidArgumentException", c.merge_shards, StreamName=name,
                 ShardToMerge=SHARD % 1, AdjacentShardToMerge=SHARD % 2,
                 message=already_resharded(SHARD % 1, name, acct))
        self.rated("LimitExceededException", rate_stream(name, acct), self.caws.merge_shards,
                   StreamName=name, ShardToMerge="x-0", AdjacentShardToMerge="x-9")
        long = "a" * 129
        self.validation(c.merge_shards,
                        constraint(long, "shardToMerge",
                                   "Member must have length less than or equal to 128"),
                        constraint(long, "adjacentShardToMerge",
                                   "Member must have length less than or equal to 128"),
                        constraint(long, "streamName",
                                   "Member must have length less than or equal to 128"),
                        StreamName=long, ShardToMerge=long, AdjacentShardToMerge=long)

    @covers("UpdateShardCount:ok", "UpdateShardCount:ResourceNotFoundException",
            "UpdateShardCount:LimitExceededException", "UpdateShardCount:InvalidArgumentException",
            "UpdateShardCount:ValidationException")
    def test_update_shard_count(self):
        c, acct = self.c, self.acct
        (name, arn), (od, _) = self.streams(2, shards=2)
        r = self.ok(c.update_shard_count, StreamName=name, TargetShardCount=4,
                    ScalingType="UNIFORM_SCALING")
        self.assertEqual((r["StreamName"], r["StreamARN"], r["CurrentShardCount"],
                          r["TargetShardCount"]), (name, arn, 2, 4))
        self.active(name)
        shards = c.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
        self.assertEqual([(int(s["HashKeyRange"]["StartingHashKey"]),
                           int(s["HashKeyRange"]["EndingHashKey"])) for s in shards],
                         even_ranges(4))
        ghost = unique_name("cf")
        self.err("ResourceNotFoundException", c.update_shard_count, StreamName=ghost,
                 TargetShardCount=2, ScalingType="UNIFORM_SCALING", message=nf_stream(ghost, acct))
        # More than double, less than half, more than the quota (kinesalite's
        # unmerged UpdateShardCount tests word them; unverified).
        for target, gw in ((9, c), (1, c), (5, client(self.env.tight.endpoint))):
            self.err("LimitExceededException", gw.update_shard_count, StreamName=name,
                     TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        self.rated("LimitExceededException", rate_stream(ghost, acct), self.caws.update_shard_count,
                   StreamName=ghost, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
        self.no_stream(c.update_shard_count, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
        # An ON_DEMAND stream: the model's ValidationException (text from moto,
        # unverified).
        c.update_stream_mode(StreamARN=self.arn(od), StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.active(od)
        self.err("ValidationException", c.update_shard_count, StreamName=od, TargetShardCount=4,
                 ScalingType="UNIFORM_SCALING")
        self.validation(c.update_shard_count,
                        constraint("", "scalingType",
                                   "Member must satisfy enum value set: [UNIFORM_SCALING]"),
                        constraint("", "streamName", NAME_RE_RULE),
                        constraint("", "streamName",
                                   LENGTH_GE1),
                        constraint("0", "targetShardCount",
                                   VALUE_GE1),
                        StreamName="", ScalingType="", TargetShardCount=0)


# ---- split and merge under load, read along ChildShards -------------------------------------


def retried(fn, uncertain=None, timeout_s=30, **kw):
    """fn(**kw), again after throttling (certainly not applied), 5xx answers
    and dropped connections (maybe applied: uncertain[0] = True), as SDKs do."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            return fn(**kw)
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            status = e.response["ResponseMetadata"].get("HTTPStatusCode", 0)
            if code in harness.THROTTLE_CODES:
                pass
            elif status >= 500:
                if uncertain is not None:
                    uncertain[0] = True
            else:
                raise
        except botocore.exceptions.BotoCoreError:
            if uncertain is not None:
                uncertain[0] = True
        if time.monotonic() > deadline:
            raise AssertionError("%s still failing after %ds" % (fn.__name__, timeout_s))
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


class KeyedProducer(threading.Thread):
    """Puts records one at a time, keys in turn (each key's records in
    order), until stopped. acked[i] = (shard, sequence) of record i;
    uncertain: records that had a maybe-applied try (may be read twice)."""

    def __init__(self, endpoint, name, keys=12, limit=20000):
        super().__init__(daemon=True)
        self.c = client(endpoint, timeout_s=15)
        self.name, self.keys, self.limit = name, keys, limit
        self.acked = {}
        self.uncertain = set()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            for i in range(self.limit):
                if self.stop.is_set():
                    return
                flag = [False]
                r = retried(self.c.put_record, flag, StreamName=self.name,
                            PartitionKey="key-%d" % (i % self.keys), Data=b"%d" % i)
                if flag[0]:
                    self.uncertain.add(i)
                self.acked[i] = (r["ShardId"], r["SequenceNumber"])
        except Exception as e:  # reported by the test
            self.error = e

    def wait_acked(self, n, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < n:
            if self.error is not None or time.monotonic() > deadline:
                raise AssertionError("producer at %d of %d records: %r"
                                     % (len(self.acked), n, self.error))
            time.sleep(0.01)

    def finish(self):
        self.stop.set()
        self.join(60)
        if self.error is not None:
            raise self.error


class ChildShardReader(threading.Thread):
    """A consumer as the KCL is one: reads every shard open at the start
    from TRIM_HORIZON with GetRecords, and when a shard ends (no
    NextShardIterator) starts the ChildShards it names, each once all of its
    parents have ended. At most 5 reads per second per shard (AWS's limit,
    enforced here). After finish(), stops once a round of every open shard
    returns nothing and MillisBehindLatest 0."""

    MIN_GAP_S = 0.2

    def __init__(self, endpoint, name, shard_ids):
        super().__init__(daemon=True)
        self.c = client(endpoint, timeout_s=15)
        self.name = name
        self.active = {s: None for s in shard_ids}
        self.finished = []  # shard ids, in the order they ended
        self.children = {}  # shard id -> ChildShards it ended with
        self.waiting = {}  # child id -> its parents
        self.records = collections.defaultdict(list)
        self.read_order = []  # (shard id, record), as read
        self.started_after = {}  # child id -> finished shards when it started
        self.last = collections.defaultdict(float)
        self.done = threading.Event()
        self.error = None

    def start_shard(self, shard_id):
        self.started_after[shard_id] = list(self.finished)
        self.active[shard_id] = None

    def iterator(self, shard_id):
        return retried(self.c.get_shard_iterator, StreamName=self.name, ShardId=shard_id,
                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def run(self):
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                quiet = True
                for shard_id in list(self.active):
                    gap = self.last[shard_id] + self.MIN_GAP_S - time.monotonic()
                    if gap > 0:
                        quiet = False
                        continue
                    it = self.active[shard_id] or self.iterator(shard_id)
                    self.last[shard_id] = time.monotonic()
                    resp = retried(self.c.get_records, ShardIterator=it, Limit=1000)
                    recs = resp["Records"]
                    self.records[shard_id].extend(recs)
                    self.read_order.extend((shard_id, r) for r in recs)
                    if recs or resp.get("MillisBehindLatest", 0) > 0:
                        quiet = False
                    nxt = resp.get("NextShardIterator")
                    if nxt is not None:
                        self.active[shard_id] = nxt
                        continue
                    del self.active[shard_id]
                    quiet = False
                    self.finished.append(shard_id)
                    self.children[shard_id] = resp.get("ChildShards", [])
                    for ch in self.children[shard_id]:
                        self.waiting.setdefault(ch["ShardId"], set(ch["ParentShards"]))
                    for child, parents in list(self.waiting.items()):
                        if parents <= set(self.finished):
                            del self.waiting[child]
                            self.start_shard(child)
                if quiet and self.done.is_set() and not self.waiting:
                    return
                time.sleep(0.02)
            raise AssertionError("reader did not finish within 120 s")
        except Exception as e:  # reported by the test
            self.error = e

    def finish(self, timeout_s=60):
        self.done.set()
        self.join(timeout_s)
        if self.is_alive():
            raise AssertionError("reader still reading after %ds" % timeout_s)
        if self.error is not None:
            raise self.error


class ReshardUnderLoad(ConformanceCase):
    """Issue 4: split and merge under continuous load; a reader that
    follows ChildShards sees every acknowledged record exactly once and in
    order per partition key across parent and children. Here the reader
    reads while the producer writes and the stream is resharded (three
    reshards: a split, a merge of its children, a merge of that child with
    a shard of the first generation), each client on another gateway."""

    timeout_s = 150

    def test_split_and_merge_under_load_reader_follows_child_shards(self):
        c = self.c
        name, arn = self.stream(2)
        reader = ChildShardReader(self.env.endpoints[1], name, [SHARD % 0, SHARD % 1])
        prod = KeyedProducer(self.env.endpoints[2], name)
        reader.start()
        prod.start()
        try:
            prod.wait_acked(150)
            lo, hi = even_ranges(2)[1]
            c.split_shard(StreamName=name, ShardToSplit=SHARD % 1,
                          NewStartingHashKey=str((lo + hi) // 2))  # -> 2, 3
            self.active(name)
            prod.wait_acked(len(prod.acked) + 150)
            c.merge_shards(StreamName=name, ShardToMerge=SHARD % 2,
                           AdjacentShardToMerge=SHARD % 3)  # -> 4
            self.active(name)
            prod.wait_acked(len(prod.acked) + 150)
            c.merge_shards(StreamName=name, ShardToMerge=SHARD % 0,
                           AdjacentShardToMerge=SHARD % 4)  # -> 5
            self.active(name)
            prod.wait_acked(len(prod.acked) + 150)
        finally:
            prod.finish()
            reader.finish()
        # Lineage as the reader met it: parents to their end, then children.
        self.assertEqual(sorted(reader.finished), [SHARD % i for i in range(5)])
        self.assertEqual(list(reader.active), [SHARD % 5])
        self.assertEqual({s: sorted(ch["ShardId"] for ch in chs)
                          for s, chs in reader.children.items()},
                         {SHARD % 0: [SHARD % 5], SHARD % 1: [SHARD % 2, SHARD % 3],
                          SHARD % 2: [SHARD % 4], SHARD % 3: [SHARD % 4],
                          SHARD % 4: [SHARD % 5]})
        self.assertEqual(set(reader.started_after[SHARD % 5]) >= {SHARD % 0, SHARD % 4}, True)
        self.assertEqual(set(reader.started_after[SHARD % 4]) >= {SHARD % 2, SHARD % 3}, True)
        # Every acknowledged record exactly once, where it was acknowledged.
        seen = collections.Counter()
        where = {}
        per_key = collections.defaultdict(list)
        for shard_id, r in reader.read_order:
            i = int(r["Data"])
            seen[i] += 1
            where.setdefault(i, (shard_id, r["SequenceNumber"]))
            per_key[r["PartitionKey"]].append(i)
        self.assertEqual(set(seen) - set(prod.acked), set(), "records read that were never put")
        for i, at in prod.acked.items():
            self.assertIn(i, seen, "acknowledged record %d never read" % i)
            if i not in prod.uncertain:
                self.assertEqual(seen[i], 1, "record %d read %d times" % (i, seen[i]))
                self.assertEqual(where[i], at, "record %d read elsewhere" % i)
        # In order per partition key across parents and children.
        for key, values in per_key.items():
            dedup = [v for j, v in enumerate(values) if j == 0 or values[j - 1] != v]
            self.assertEqual(dedup, sorted(dedup), "key %s out of order" % key)
        # Each shard's records in sequence order.
        for shard_id, recs in reader.records.items():
            seqs = [int(r["SequenceNumber"]) for r in recs]
            self.assertEqual(seqs, sorted(seqs), shard_id)
        self.assertGreater(len(prod.acked), 600)


# ---- enhanced fan-out -----------------------------------------------------------------------

CONSUMER_ARN_RE = r"^arn:aws:kinesis:%s:%s:stream/%s/consumer/%s:\d+$"


def wait_consumer(c, arn, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        d = c.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
        if d["ConsumerStatus"] == "ACTIVE":
            return d
        if time.monotonic() > deadline:
            raise AssertionError("consumer %s still %s" % (arn, d["ConsumerStatus"]))
        time.sleep(0.05)


class Consumers(ConformanceCase):

    @covers("RegisterStreamConsumer:ok", "RegisterStreamConsumer:ResourceNotFoundException",
            "RegisterStreamConsumer:ResourceInUseException",
            "RegisterStreamConsumer:InvalidArgumentException",
            "RegisterStreamConsumer:LimitExceededException",
            "DescribeStreamConsumer:ok", "DescribeStreamConsumer:ResourceNotFoundException",
            "DescribeStreamConsumer:InvalidArgumentException",
            "DescribeStreamConsumer:LimitExceededException",
            "DeregisterStreamConsumer:ok", "DeregisterStreamConsumer:ResourceNotFoundException",
            "DeregisterStreamConsumer:InvalidArgumentException",
            "DeregisterStreamConsumer:LimitExceededException")
    def test_register_describe_deregister(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        t0 = time.time()
        cons = self.ok(c.register_stream_consumer, StreamARN=arn, ConsumerName="c1",
                       Tags={"team": "eddy"})["Consumer"]
        carn = cons["ConsumerARN"]
        self.assertRegex(carn, CONSUMER_ARN_RE % (self.region, acct, name, "c1"))
        self.assertEqual((cons["ConsumerName"], cons["ConsumerStatus"]), ("c1", "CREATING"))
        self.assertLess(abs(cons["ConsumerCreationTimestamp"].timestamp() - t0), 30)
        d = self.ok(self.c2.describe_stream_consumer, ConsumerARN=carn)["ConsumerDescription"]
        self.assertEqual((d["ConsumerName"], d["ConsumerARN"], d["StreamARN"]), ("c1", carn, arn))
        wait_consumer(c, carn)
        d = self.ok(c.describe_stream_consumer, StreamARN=arn,
                    ConsumerName="c1")["ConsumerDescription"]
        self.assertEqual((d["ConsumerARN"], d["ConsumerStatus"]), (carn, "ACTIVE"))
        self.assertEqual(c.list_tags_for_resource(ResourceARN=carn)["Tags"],
                         [{"Key": "team", "Value": "eddy"}])
        # The name is taken. Text unverified.
        self.err("ResourceInUseException", c.register_stream_consumer, StreamARN=arn,
                 ConsumerName="c1")
        ghost = self.arn(unique_name("cf"))
        self.err("ResourceNotFoundException", c.register_stream_consumer, StreamARN=ghost,
                 ConsumerName="c1", message=nf_stream(ghost.split("/")[-1], acct))
        # Texts unverified.
        self.err("InvalidArgumentException", c.register_stream_consumer, StreamARN=arn,
                 ConsumerName="c2", Tags={"a;b": "1"})
        self.err("ResourceNotFoundException", c.describe_stream_consumer, StreamARN=arn,
                 ConsumerName="ghost")
        self.err("ResourceNotFoundException", c.describe_stream_consumer,
                 ConsumerARN=carn.rsplit(":", 1)[0] + ":1")
        self.err("InvalidArgumentException", c.describe_stream_consumer)
        self.err("InvalidArgumentException", c.describe_stream_consumer, StreamARN=arn)
        self.err("InvalidArgumentException", c.deregister_stream_consumer)
        self.validation(c.register_stream_consumer,
                        constraint("", "consumerName", NAME_RE_RULE),
                        constraint("", "consumerName",
                                   LENGTH_GE1),
                        StreamARN=arn, ConsumerName="")
        # Call rates (5, 20 and 5 per second per stream on AWS).
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.register_stream_consumer, StreamARN=arn, ConsumerName="c1")
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.describe_stream_consumer, ConsumerARN=carn)
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.deregister_stream_consumer, StreamARN=arn, ConsumerName="ghost")
        self.ok(c.deregister_stream_consumer, ConsumerARN=carn)
        c2 = c.register_stream_consumer(StreamARN=arn, ConsumerName="c2")["Consumer"]
        self.ok(c.deregister_stream_consumer, StreamARN=arn, ConsumerName="c2")
        deadline = time.monotonic() + 30
        while c.list_stream_consumers(StreamARN=arn)["Consumers"]:
            self.assertLess(time.monotonic(), deadline, "consumers never went away")
            time.sleep(0.05)
        self.err("ResourceNotFoundException", c.deregister_stream_consumer,
                 ConsumerARN=c2["ConsumerARN"])

    @covers("ListStreamConsumers:ok", "ListStreamConsumers:ResourceNotFoundException",
            "ListStreamConsumers:InvalidArgumentException",
            "ListStreamConsumers:ExpiredNextTokenException",
            "ListStreamConsumers:LimitExceededException")
    def test_list_stream_consumers(self):
        c, acct = self.c, self.acct
        name, arn = self.stream(1)
        arns = [c.register_stream_consumer(StreamARN=arn, ConsumerName="c%d" % i)["Consumer"]
                ["ConsumerARN"] for i in range(3)]
        got = self.ok(c.list_stream_consumers, StreamARN=arn)["Consumers"]
        self.assertEqual(sorted(x["ConsumerARN"] for x in got), sorted(arns))
        page = self.ok(c.list_stream_consumers, StreamARN=arn, MaxResults=2)
        self.assertEqual(len(page["Consumers"]), 2)
        token = page["NextToken"]
        rest = self.ok(self.c2.list_stream_consumers, StreamARN=arn, NextToken=token)
        self.assertEqual(sorted(x["ConsumerARN"] for x in page["Consumers"] + rest["Consumers"]),
                         sorted(arns))
        ghost = self.arn(unique_name("cf"))
        self.err("ResourceNotFoundException", c.list_stream_consumers, StreamARN=ghost,
                 message=nf_stream(ghost.split("/")[-1], acct))
        # Texts unverified.
        self.err("InvalidArgumentException", c.list_stream_consumers, StreamARN=arn,
                 NextToken="bm9wZQ==")
        self.err("ExpiredNextTokenException", self.clate.list_stream_consumers, StreamARN=arn,
                 NextToken=token)
        self.rated("LimitExceededException", rate_stream(name, acct),
                   self.caws.list_stream_consumers, StreamARN=arn)
        self.validation(c.list_stream_consumers,
                        constraint("0", "maxResults",
                                   VALUE_GE1),
                        StreamARN=arn, MaxResults=0)

    @covers("SubscribeToShard:ok", "SubscribeToShard:ResourceNotFoundException",
            "SubscribeToShard:InvalidArgumentException", "SubscribeToShard:ResourceInUseException",
            "SubscribeToShard:LimitExceededException")
    def test_subscribe_to_shard(self):
        c = self.c
        name, arn = self.stream(1)
        carn = c.register_stream_consumer(StreamARN=arn, ConsumerName="c1")["Consumer"][
            "ConsumerARN"]
        wait_consumer(c, carn)
        puts = [c.put_record(StreamName=name, PartitionKey="k", Data=b"e%d" % i)["SequenceNumber"]
                for i in range(3)]
        sub = self.ok(c.subscribe_to_shard, ConsumerARN=carn, ShardId=SHARD % 0,
                      StartingPosition={"Type": "TRIM_HORIZON"})
        got = []
        try:
            # Within a second of that call: LimitExceededException (text
            # unverified); within 5 s: ResourceInUseException, AWS's text
            # (GH awslabs/amazon-kinesis-client#391). (Through the same
            # gateway: across gateways see
            # test_subscribe_to_shard_exclusive_across_gateways.)
            self.err("LimitExceededException", c.subscribe_to_shard, ConsumerARN=carn,
                     ShardId=SHARD % 0, StartingPosition={"Type": "LATEST"})
            deadline = time.monotonic() + 10
            for ev in sub["EventStream"]:
                e = ev.get("SubscribeToShardEvent")
                if e is not None:
                    got += [r["SequenceNumber"] for r in e["Records"]]
                    self.assertIn("ContinuationSequenceNumber", e)
                    self.assertIn("MillisBehindLatest", e)
                if len(got) >= 3 or time.monotonic() > deadline:
                    break
            self.assertEqual(got, puts)
            time.sleep(max(0.0, 1.1 - (time.monotonic() - (deadline - 10))))
            self.err("ResourceInUseException", c.subscribe_to_shard, ConsumerARN=carn,
                     ShardId=SHARD % 0, StartingPosition={"Type": "LATEST"},
                     message="Another active subscription exists for this consumer: "
                             "%s:%s:%s:c1" % (self.acct, name, SHARD % 0))
        finally:
            sub["EventStream"].close()
        ghost = carn.rsplit(":", 1)[0].replace("/consumer/c1", "/consumer/ghost") + ":1"
        self.err("ResourceNotFoundException", c.subscribe_to_shard, ConsumerARN=ghost,
                 ShardId=SHARD % 0, StartingPosition={"Type": "LATEST"})
        self.err("ResourceNotFoundException", c.subscribe_to_shard, ConsumerARN=carn,
                 ShardId=SHARD % 7, StartingPosition={"Type": "LATEST"})
        self.err("InvalidArgumentException", c.subscribe_to_shard, ConsumerARN=carn,
                 ShardId=SHARD % 0, StartingPosition={"Type": "AT_SEQUENCE_NUMBER"})
        self.validation(c.subscribe_to_shard,
                        constraint("NEWEST", "startingPosition.type",
                                   "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, "
                                   "LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"),
                        ConsumerARN=carn, ShardId=SHARD % 0, StartingPosition={"Type": "NEWEST"})

    def test_subscribe_to_shard_exclusive_across_gateways(self):
        # One subscription per consumer and shard across the service: a
        # second call through another node's gateway within 5 s is refused
        # (API_SubscribeToShard), by the shard group's leader (ADR 0008).
        # The takeover after 5 s: test_subscribe.ClusterLeaseTest.
        name, arn = self.stream(1)
        carn = self.c.register_stream_consumer(StreamARN=arn, ConsumerName="c1")["Consumer"][
            "ConsumerARN"]
        wait_consumer(self.c, carn)
        sub = self.ok(self.c.subscribe_to_shard, ConsumerARN=carn, ShardId=SHARD % 0,
                      StartingPosition={"Type": "LATEST"})
        try:
            self.err("ResourceInUseException", self.c2.subscribe_to_shard, ConsumerARN=carn,
                     ShardId=SHARD % 0, StartingPosition={"Type": "LATEST"})
        finally:
            sub["EventStream"].close()


# ---- the AWS CLI -----------------------------------------------------------------------------

CLI_ERROR_RE = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation"
                          r"(?: \(reached max retries: \d+\))?: (.*)")


def cli_config():
    path = os.path.join(harness.tmp_root(), "aws-config-conformance")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("[default]\nregion = %s\noutput = json\n"
                    "cli_binary_format = raw-in-base64-out\n" % harness.REGION)
    return path


def cli_subprocess(endpoint, *args, timeout_s=60):
    """`aws --endpoint-url endpoint kinesis ARGS` in its own process, with
    dummy credentials and one attempt: (exit status, parsed JSON output or
    None, stderr)."""
    exe = aws_cli_path()
    if exe is None:
        raise AssertionError("no aws CLI found (run tools/bootstrap)")
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": harness.ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": harness.SECRET_KEY, "AWS_DEFAULT_REGION": harness.REGION,
                "AWS_CONFIG_FILE": cli_config(), "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_PAGER": "",
                "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    p = subprocess.run([exe, "--endpoint-url", endpoint, "kinesis"] + [str(a) for a in args],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    out = p.stdout.decode().strip()
    return p.returncode, (json.loads(out) if out else None), p.stderr.decode(errors="replace")


_driver = []


def _in_process_driver():
    """The AWS CLI's driver when the `aws` command is the awscli this python
    has (same version: tools/bootstrap's pyenv): the same code as the
    command, without a python start-up (~0.5 s) per call. None otherwise."""
    if not _driver:
        _driver.append(None)
        try:
            import awscli
            import awscli.clidriver
            p = subprocess.run([aws_cli_path(), "--version"], capture_output=True, timeout=60)
            said = (p.stdout + p.stderr).decode(errors="replace")
            if said.startswith("aws-cli/%s " % awscli.__version__):
                _driver[0] = awscli.clidriver.create_clidriver
        except (ImportError, OSError, TypeError, subprocess.SubprocessError):
            pass
    return _driver[0]


_cli_lock = threading.Lock()


def cli(endpoint, *args, timeout_s=60):
    """The AWS CLI (in this process when it can, see _in_process_driver):
    (exit status, parsed JSON output or None, stderr)."""
    create = _in_process_driver()
    if create is None:
        return cli_subprocess(endpoint, *args, timeout_s=timeout_s)
    out, err = io.StringIO(), io.StringIO()
    keys = {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard", "AWS_PAGER": "",
            "AWS_CONFIG_FILE": cli_config(), "AWS_ACCESS_KEY_ID": harness.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": harness.SECRET_KEY, "AWS_DEFAULT_REGION": harness.REGION}
    # One at a time: the driver writes to sys.stdout and reads os.environ.
    with _cli_lock:
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update(keys)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = create().main(["--endpoint-url", endpoint, "kinesis"] +
                                       [str(a) for a in args])
                except SystemExit as e:  # argparse's way out
                    rc = e.code if isinstance(e.code, int) else 255
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    text = out.getvalue().strip()
    return rc, (json.loads(text) if text else None), err.getvalue()


# The CLI's command of every operation (SubscribeToShard has none: the AWS
# CLI does not stream events).
CLI_COMMANDS = {op: re.sub(r"(?<!^)(?=[A-Z])", "-", op).lower() for op in (
    "AddTagsToStream", "CreateStream", "DecreaseStreamRetentionPeriod", "DeleteResourcePolicy",
    "DeleteStream", "DeregisterStreamConsumer", "DescribeAccountSettings", "DescribeLimits",
    "DescribeStream", "DescribeStreamConsumer", "DescribeStreamSummary",
    "DisableEnhancedMonitoring", "EnableEnhancedMonitoring", "GetRecords", "GetResourcePolicy",
    "GetShardIterator", "IncreaseStreamRetentionPeriod", "ListShards", "ListStreamConsumers",
    "ListStreams", "ListTagsForResource", "ListTagsForStream", "MergeShards", "PutRecord",
    "PutRecords", "PutResourcePolicy", "RegisterStreamConsumer", "RemoveTagsFromStream",
    "SplitShard", "StartStreamEncryption", "StopStreamEncryption", "TagResource",
    "UntagResource", "UpdateAccountSettings", "UpdateMaxRecordSize", "UpdateShardCount",
    "UpdateStreamMode", "UpdateStreamWarmThroughput")}
CLI_COMMANDS["UpdateMaxRecordSize"] = "update-max-record-size"


class Cli(ConformanceCase):
    """Every operation the AWS CLI has, once on its success path and once on
    an error path (the AWS error code and, where verified, text)."""

    timeout_s = 180

    def run_cli(self, ran, how, *args):
        rc, out, err = how(self.env.endpoints[0], *args)
        self.assertEqual(rc, 0, "aws kinesis %s: exit %d\n%s" % (" ".join(map(str, args)), rc, err))
        ran.add(args[0])
        return out if out is not None else {}

    def cli_error(self, args, code, message=None, endpoint=None, rated=False):
        """Runs the CLI; returns (command, None) or (command, what went
        wrong). rated: a thread spends the call rate of the command's
        operation on that gateway meanwhile, with boto3."""
        ep = endpoint or self.env.endpoints[0]
        stop = threading.Event()
        hammer = None
        if rated:
            fn = getattr(client(ep), args[0].replace("-", "_"))

            def spend():
                while not stop.is_set():
                    try:
                        fn()
                    except botocore.exceptions.ClientError:
                        pass
                    time.sleep(0.005)
            hammer = threading.Thread(target=spend, daemon=True)
            hammer.start()
            time.sleep(0.05)
        try:
            # A rated call may still meet the one token a second brings:
            # three in a row cannot all do.
            for _ in range(3 if rated else 1):
                rc, out, err = cli(ep, *args)
                if rc != 0:
                    break
        finally:
            stop.set()
            if hammer is not None:
                hammer.join(10)
        m = CLI_ERROR_RE.search(err)
        if rc == 0 or m is None:
            return args[0], "exit %d, stderr %r" % (rc, err[-300:])
        if m.group(1) != code or (message is not None and m.group(3).strip() != message):
            return args[0], "got %s: %r, want %s: %r" % (m.group(1), m.group(3), code, message)
        return args[0], None

    def chain_a(self, ran, how):
        c = self.c
        a = unique_name("cli")
        self._streams.append(a)
        arn = self.arn(a)
        run = functools.partial(self.run_cli, ran, how)
        run("create-stream", "--stream-name", a, "--shard-count", 2)
        self.active(a)
        self.assertEqual(run("describe-stream-summary", "--stream-name", a)
                         ["StreamDescriptionSummary"]["StreamStatus"], "ACTIVE")
        self.assertEqual(len(run("describe-stream", "--stream-name", a)
                             ["StreamDescription"]["Shards"]), 2)
        self.assertIn(a, run("list-streams")["StreamNames"])
        self.assertEqual(len(run("list-shards", "--stream-name", a)["Shards"]), 2)
        put = run("put-record", "--stream-name", a, "--partition-key", "k", "--data", "hello")
        puts = run("put-records", "--stream-name", a, "--records",
                   "PartitionKey=k,Data=again", "PartitionKey=z,Data=more")
        self.assertEqual(puts["FailedRecordCount"], 0)
        it = run("get-shard-iterator", "--stream-name", a, "--shard-id", put["ShardId"],
                 "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
        recs = run("get-records", "--shard-iterator", it)["Records"]
        self.assertEqual(base64.b64decode(recs[0]["Data"]), b"hello")
        self.assertEqual(recs[0]["SequenceNumber"], put["SequenceNumber"])
        run("add-tags-to-stream", "--stream-name", a, "--tags", "k1=v1")
        self.assertEqual(run("list-tags-for-stream", "--stream-name", a)["Tags"],
                         [{"Key": "k1", "Value": "v1"}])
        run("remove-tags-from-stream", "--stream-name", a, "--tag-keys", "k1")
        run("tag-resource", "--resource-arn", arn, "--tags", "k2=v2")
        self.assertEqual(run("list-tags-for-resource", "--resource-arn", arn)["Tags"],
                         [{"Key": "k2", "Value": "v2"}])
        run("untag-resource", "--resource-arn", arn, "--tag-keys", "k2")
        run("increase-stream-retention-period", "--stream-name", a,
            "--retention-period-hours", 48)
        self.active(a)
        run("decrease-stream-retention-period", "--stream-name", a,
            "--retention-period-hours", 24)
        self.active(a)
        out = run("enable-enhanced-monitoring", "--stream-name", a, "--shard-level-metrics",
                  "IncomingBytes")
        self.assertEqual(out["DesiredShardLevelMetrics"], ["IncomingBytes"])
        self.active(a)
        run("disable-enhanced-monitoring", "--stream-name", a, "--shard-level-metrics",
            "IncomingBytes")
        self.active(a)
        run("start-stream-encryption", "--stream-name", a, "--encryption-type", "KMS",
            "--key-id", "alias/aws/kinesis")
        self.assertEqual(self.active(a)["EncryptionType"], "KMS")
        run("stop-stream-encryption", "--stream-name", a, "--encryption-type", "KMS",
            "--key-id", "alias/aws/kinesis")
        self.active(a)
        run("put-resource-policy", "--resource-arn", arn, "--policy", POLICY)
        self.assertEqual(json.loads(run("get-resource-policy", "--resource-arn", arn)["Policy"]),
                         json.loads(POLICY))
        run("delete-resource-policy", "--resource-arn", arn)
        lo, hi = even_ranges(2)[0]
        run("split-shard", "--stream-name", a, "--shard-to-split", SHARD % 0,
            "--new-starting-hash-key", (lo + hi) // 2)
        self.active(a)
        run("merge-shards", "--stream-name", a, "--shard-to-merge", SHARD % 2,
            "--adjacent-shard-to-merge", SHARD % 3)
        self.active(a)
        out = run("update-shard-count", "--stream-name", a, "--target-shard-count", 4,
                  "--scaling-type", "UNIFORM_SCALING")
        self.assertEqual((out["CurrentShardCount"], out["TargetShardCount"]), (2, 4))
        self.active(a)
        run("delete-stream", "--stream-name", a)
        harness.wait_status(c, a, None)

    def chain_b(self, ran, how):
        b, arn = self.stream(1)
        run = functools.partial(self.run_cli, ran, how)
        run("update-max-record-size", "--stream-arn", arn, "--max-record-size-in-ki-b", 2048)
        self.assertEqual(self.active(b)["MaxRecordSizeInKiB"], 2048)
        cons = run("register-stream-consumer", "--stream-arn", arn, "--consumer-name", "c1")
        carn = cons["Consumer"]["ConsumerARN"]
        self.assertEqual(run("describe-stream-consumer", "--consumer-arn", carn)
                         ["ConsumerDescription"]["ConsumerName"], "c1")
        self.assertEqual([x["ConsumerARN"] for x in
                          run("list-stream-consumers", "--stream-arn", arn)["Consumers"]], [carn])
        run("deregister-stream-consumer", "--consumer-arn", carn)
        run("update-stream-mode", "--stream-arn", arn, "--stream-mode-details",
            "StreamMode=ON_DEMAND")
        self.active(b)
        out = run("update-account-settings", "--minimum-throughput-billing-commitment",
                  "Status=ENABLED")
        self.assertIn(out["MinimumThroughputBillingCommitment"]["Status"],
                      ("ENABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END"))
        self.assertIn("MinimumThroughputBillingCommitment", run("describe-account-settings"))
        out = run("update-stream-warm-throughput", "--stream-name", b,
                  "--warm-throughput-mi-bps", 10)
        self.assertEqual(out["WarmThroughput"]["TargetMiBps"], 10)
        self.active(b)
        self.assertEqual(run("describe-limits")["ShardLimit"], 20000)

    def errors(self):
        acct = self.acct
        g = unique_name("ghost")
        garn = self.arn(g)
        gcons = garn + "/consumer/c:1"
        nf = nf_stream(g, acct)
        aws = self.env.aws.endpoint
        base = self.arn(unique_name("cf"))
        return [
            (("create-stream", "--stream-name", g, "--shard-count", 20001),
             "LimitExceededException", None, None, False),
            (("delete-stream", "--stream-name", g), "ResourceNotFoundException", nf, None, False),
            (("describe-stream", "--stream-name", g), "ResourceNotFoundException", nf, None, False),
            (("describe-stream-summary", "--stream-name", g), "ResourceNotFoundException", nf,
             None, False),
            (("list-streams",), "LimitExceededException", rate_account(acct), aws, True),
            (("list-shards", "--stream-name", g), "ResourceNotFoundException", nf, None, False),
            (("put-record", "--stream-name", g, "--partition-key", "k", "--data", "x"),
             "ResourceNotFoundException", nf, None, False),
            (("put-records", "--stream-name", g, "--records", "PartitionKey=k,Data=x"),
             "ResourceNotFoundException", nf, None, False),
            (("get-shard-iterator", "--stream-name", g, "--shard-id", "2147483647",
              "--shard-iterator-type", "LATEST"), "ResourceNotFoundException",
             nf_shard("shardId-002147483647", g, acct), None, False),
            (("get-records", "--shard-iterator", "bm9wZQ=="), "InvalidArgumentException",
             "Invalid ShardIterator.", None, False),
            (("add-tags-to-stream", "--stream-name", g, "--tags", "a=b"),
             "ResourceNotFoundException", nf, None, False),
            (("list-tags-for-stream", "--stream-name", g), "ResourceNotFoundException", nf, None,
             False),
            (("remove-tags-from-stream", "--stream-name", g, "--tag-keys", "a"),
             "ResourceNotFoundException", nf, None, False),
            (("tag-resource", "--resource-arn", garn, "--tags", "a=b"),
             "ResourceNotFoundException", nf, None, False),
            (("list-tags-for-resource", "--resource-arn", garn), "ResourceNotFoundException", nf,
             None, False),
            (("untag-resource", "--resource-arn", garn, "--tag-keys", "a"),
             "ResourceNotFoundException", nf, None, False),
            (("increase-stream-retention-period", "--stream-name", g,
              "--retention-period-hours", 48), "ResourceNotFoundException", nf, None, False),
            (("decrease-stream-retention-period", "--stream-name", g,
              "--retention-period-hours", 24), "ResourceNotFoundException", nf, None, False),
            (("enable-enhanced-monitoring", "--stream-name", g, "--shard-level-metrics", "ALL"),
             "ResourceNotFoundException", nf, None, False),
            (("disable-enhanced-monitoring", "--stream-name", g, "--shard-level-metrics", "ALL"),
             "ResourceNotFoundException", nf, None, False),
            (("start-stream-encryption", "--stream-name", g, "--encryption-type", "KMS",
              "--key-id", "k"), "ResourceNotFoundException", nf, None, False),
            (("stop-stream-encryption", "--stream-name", g, "--encryption-type", "KMS",
              "--key-id", "k"), "ResourceNotFoundException", nf, None, False),
            (("put-resource-policy", "--resource-arn", garn, "--policy", POLICY),
             "ResourceNotFoundException", nf, None, False),
            (("get-resource-policy", "--resource-arn", garn), "ResourceNotFoundException", nf,
             None, False),
            (("delete-resource-policy", "--resource-arn", garn), "ResourceNotFoundException", nf,
             None, False),
            (("split-shard", "--stream-name", g, "--shard-to-split", "2147483647",
              "--new-starting-hash-key", 5), "ResourceNotFoundException", nf, None, False),
            (("merge-shards", "--stream-name", g, "--shard-to-merge", "x-0",
              "--adjacent-shard-to-merge", "x-1"), "ResourceNotFoundException", nf, None, False),
            (("update-shard-count", "--stream-name", g, "--target-shard-count", 2,
              "--scaling-type", "UNIFORM_SCALING"), "ResourceNotFoundException", nf, None, False),
            (("update-max-record-size", "--stream-arn", garn, "--max-record-size-in-ki-b", 2048),
             "ResourceNotFoundException", nf, None, False),
            (("update-stream-mode", "--stream-arn", garn, "--stream-mode-details",
              "StreamMode=ON_DEMAND"), "ResourceNotFoundException", nf, None, False),
            (("update-stream-warm-throughput", "--stream-name", g, "--warm-throughput-mi-bps", 1),
             "ResourceNotFoundException", nf, None, False),
            (("register-stream-consumer", "--stream-arn", garn, "--consumer-name", "c"),
             "ResourceNotFoundException", nf, None, False),
            # Texts unverified.
            (("describe-stream-consumer", "--consumer-arn", gcons), "ResourceNotFoundException",
             None, None, False),
            (("deregister-stream-consumer", "--consumer-arn", gcons), "ResourceNotFoundException",
             None, None, False),
            (("list-stream-consumers", "--stream-arn", base), "ResourceNotFoundException",
             nf_stream(base.split("/")[-1], acct), None, False),
            (("describe-limits",), "LimitExceededException", rate_account(acct), aws, True),
            (("describe-account-settings",), "LimitExceededException", rate_account(acct), aws,
             True),
            (("update-account-settings", "--minimum-throughput-billing-commitment",
              "Status=NOPE"), "ValidationException",
             "1 validation error detected: " + constraint(
                 "NOPE", "minimumThroughputBillingCommitment.status",
                 "Member must satisfy enum value set: [ENABLED, DISABLED]"), None, False),
        ]

    def test_every_command(self):
        ran = set()
        # Chain B through the `aws` command itself, one process per call, at
        # the same time as chain A and the errors through its driver.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fb = pool.submit(self.chain_b, ran, cli_subprocess)
            self.chain_a(ran, cli)
            results = [self.cli_error(*case) for case in self.errors()]
            fb.result()
        self.assertEqual([r for r in results if r[1] is not None], [])
        self.assertEqual(sorted(ran), sorted(CLI_COMMANDS.values()))
        self.assertEqual(sorted(r[0] for r in results), sorted(CLI_COMMANDS.values()))
        # The CLI has no subscribe-to-shard at all.
        rc, _, err = cli_subprocess(self.env.endpoints[0], "subscribe-to-shard",
                                    "--consumer-arn", "x",
                         "--shard-id", "x", "--starting-position", "Type=LATEST")
        self.assertNotEqual(rc, 0)
        self.assertIn("Invalid choice", err)


# ---- @aws-sdk/client-kinesis -----------------------------------------------------------------


class Js(ConformanceCase):
    """js/conformance.mjs: 14 operations through the AWS SDK for JavaScript
    v3 over HTTP/2 (h2c), success paths and errors."""

    @covers("CreateStream:ok", "DescribeStreamSummary:ok", "ListShards:ok", "PutRecord:ok",
            "PutRecords:ok", "GetShardIterator:ok", "GetRecords:ok", "AddTagsToStream:ok",
            "ListTagsForStream:ok", "RegisterStreamConsumer:ok", "DescribeStreamConsumer:ok",
            "SubscribeToShard:ok", "DeregisterStreamConsumer:ok", "DeleteStream:ok",
            "DescribeStreamSummary:ResourceNotFoundException",
            "PutRecord:ResourceNotFoundException", "GetRecords:InvalidArgumentException",
            "ListShards:InvalidArgumentException", "GetShardIterator:ResourceNotFoundException",
            "SubscribeToShard:ResourceNotFoundException")
    def test_aws_sdk_for_javascript(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is missing: run tools/bootstrap")
        self.assertTrue(os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk",
                                                   "client-kinesis")),
                        "@aws-sdk/client-kinesis is missing: run tools/bootstrap")
        name = unique_name("cfjs")
        self._streams.append(name)
        p = subprocess.run([node, os.path.join(JS_DIR, "conformance.mjs"),
                            self.env.endpoints[1], name],
                           capture_output=True, text=True, timeout=90, cwd=JS_DIR)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertTrue(out.get("ok"), out)
        acct, arn = self.acct, self.arn(name)
        steps = out["steps"]
        ok = {}
        errs = []
        for s in steps:
            if "error" in s:
                errs.append((s["op"], s["error"]))
            else:
                self.assertEqual(s["status"], 200, s)
                ok.setdefault(s["op"], s["result"])
                self._seen.add((s["op"], "ok"))
        self.assertEqual(ok["DescribeStreamSummary"],
                         {"StreamStatus": "ACTIVE", "OpenShardCount": 2, "StreamARN": arn})
        self.assertEqual(ok["ListShards"]["Shards"],
                         [[SHARD % i, str(lo), str(hi)] for i, (lo, hi) in
                          enumerate(even_ranges(2))])
        put = ok["PutRecord"]
        self.assertEqual(put["ShardId"], SHARD % 0)
        puts = ok["PutRecords"]
        self.assertEqual(puts["FailedRecordCount"], 0)
        self.assertEqual([r[0] for r in puts["Records"]], [SHARD % 0] * 3)
        got = ok["GetRecords"]
        self.assertEqual(got["Records"], [[put["SequenceNumber"], "pk", "js-0"]] + [
            [seq, "pk-%d" % i, "js-%d" % i] for i, (_, seq) in
            enumerate(puts["Records"], start=1)])
        self.assertTrue(got["hasNext"])
        self.assertEqual(ok["ListTagsForStream"], {"Tags": [{"Key": "team", "Value": "eddy"}]})
        self.assertEqual(ok["RegisterStreamConsumer"],
                         {"ConsumerName": "js", "ConsumerStatus": "CREATING"})
        self.assertEqual(ok["DescribeStreamConsumer"],
                         {"ConsumerName": "js", "ConsumerStatus": "ACTIVE", "StreamARN": arn})
        self.assertEqual(out["pushed"], ["js-0", "js-1", "js-2", "js-3"])
        want = [
            ("DescribeStreamSummary", "ResourceNotFoundException",
             nf_stream(name + "-missing", acct)),
            ("PutRecord", "ResourceNotFoundException", nf_stream(name + "-missing", acct)),
            ("GetRecords", "InvalidArgumentException", "Invalid ShardIterator."),
            ("ListShards", "InvalidArgumentException",
             "NextToken and StreamName cannot be provided together."),
            ("PutRecords", "ValidationException", "1 validation error detected: " + constraint(
                "", "records.1.member.partitionKey",
                LENGTH_GE1)),
            ("GetShardIterator", "ResourceNotFoundException", nf_shard(SHARD % 9, name, acct)),
            # Text unverified.
            ("SubscribeToShard", "ResourceNotFoundException", None),
        ]
        self.assertEqual(len(errs), len(want), errs)
        for (op, e), (wop, code, msg) in zip(errs, want):
            self.assertEqual((op, e["name"], e["status"]), (wop, code, 400), e)
            if msg is not None:
                self.assertEqual(e["message"], msg)
            self.assertTrue(e["requestId"], e)
            self._seen.add((op, code))
        self._streams.remove(name)


# ---- where Eddy differs from a verified AWS behaviour ---------------------------------------


class Gaps(ConformanceCase):
    """AWS's behaviour, asserted; each test names the gap it shows and is
    an expectedFailure until Eddy closes it (run.py fails an unexpected
    success, so a closed gap must lose its marker)."""

    @unittest.expectedFailure
    def test_explicit_deny_in_resource_policy(self):
        # Gap: resource policies are stored, never enforced. An explicit
        # Deny for every principal refuses the call on AWS (IAM policy
        # evaluation: an explicit deny in a resource-based policy wins).
        # AWS's text names the caller's IAM identity, which Eddy has not:
        # type only.
        name, arn = self.stream(1)
        deny = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "kinesis:DescribeStreamSummary",
            "Resource": arn}]})
        self.c.put_resource_policy(ResourceARN=arn, Policy=deny)
        self.err("AccessDeniedException", self.c.describe_stream_summary, StreamARN=arn)

    @unittest.expectedFailure
    def test_put_records_too_many_records_text(self):
        # Gap: KL putRecords recorded AWS's answer to 501 empty entries: ten
        # clauses, the first printing all 501 entries as
        # com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@2 (each
        # entry's Java hashCode: equal entries print alike). Eddy prints
        # made-up identities (@2, @21, @40...) and cuts the list short.
        strs = ", ".join(["com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@2"] * 501)
        clauses = [constraint("[%s]" % strs, "records",
                              "Member must have length less than or equal to 500")]
        clauses += [constraint("", "records.%d.member.partitionKey" % i,
                               LENGTH_GE1)
                    for i in range(1, 10)]
        e = error_of(self.c.put_records, StreamName="",
                     Records=[{"PartitionKey": "", "Data": b""}] * 501)
        self.assertEqual(e.response["Error"]["Message"],
                         "10 validation errors detected: " + "; ".join(clauses))


class ReadPositions(ConformanceCase):
    """AWS behaviours of reads that peers.md section 3 records."""

    @covers("GetRecords:ok", "GetShardIterator:InvalidArgumentException")
    def test_iterators(self):
        c = self.c
        name, arn = self.stream(1)
        c.put_record(StreamName=name, PartitionKey="a", Data=b"x")
        it = c.get_shard_iterator(StreamName=name, ShardId=SHARD % 0,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        # An iterator in literal double quotes (LocalStack's AWS-validated
        # test_get_records_shard_iterator_with_surrounding_quotes).
        r = self.ok(c.get_records, ShardIterator='"%s"' % it)
        self.assertEqual([x["Data"] for x in r["Records"]], [b"x"])
        # AFTER_SEQUENCE_NUMBER at a closed shard's EndingSequenceNumber
        # (kinesis-mock PR #1536, recorded from AWS).
        c.split_shard(StreamName=name, ShardToSplit=SHARD % 0, NewStartingHashKey="1000")
        self.active(name)
        end = c.list_shards(StreamName=name)["Shards"][0]["SequenceNumberRange"][
            "EndingSequenceNumber"]
        self.err("InvalidArgumentException", c.get_shard_iterator, StreamName=name,
                 ShardId=SHARD % 0, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                 StartingSequenceNumber=end,
                 message="Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, "
                         "SequenceNumber has reached max possible value for the shard.")


# ---- coverage --------------------------------------------------------------------------------


class Coverage(unittest.TestCase):
    """Static: every operation of botocore's model (the API reference's
    source) has a success-path test, and each error the model lists for it
    is shown by a test or listed in NOT_PRODUCED; every operation the CLI
    has is in the CLI test."""

    def test_every_documented_error_is_covered(self):
        model = botocore.session.get_session().get_service_model("kinesis")
        self.assertEqual(len(model.operation_names), 39)
        missing, both = [], []
        for op in model.operation_names:
            for code in ["ok"] + [e.name for e in model.operation_model(op).error_shapes]:
                declared = (op, code) in DECLARED
                skipped = (op, code) in NOT_PRODUCED or ("*", code) in NOT_PRODUCED
                if declared and skipped:
                    both.append((op, code))
                elif not declared and not skipped:
                    missing.append((op, code))
        self.assertEqual(missing, [], "documented, neither tested nor listed as not produced")
        self.assertEqual(both, [], "tested and listed as not produced")
        for op, code in DECLARED:
            self.assertIn(op, model.operation_names)
            if code not in ("ok", "ValidationException"):
                self.assertIn(code, [e.name for e in model.operation_model(op).error_shapes],
                              "%s does not document %s" % (op, code))
        for (op, code) in NOT_PRODUCED:
            self.assertTrue(op == "*" or op in model.operation_names, op)

    def test_cli_has_every_operation_but_subscribe(self):
        model = botocore.session.get_session().get_service_model("kinesis")
        self.assertEqual(sorted(CLI_COMMANDS), sorted(set(model.operation_names) -
                                                      {"SubscribeToShard"}))
