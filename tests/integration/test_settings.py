"""Stream settings and account actions (issue 4) through boto3 and the AWS CLI:

  - AddTagsToStream, RemoveTagsFromStream, ListTagsForStream (Limit,
    ExclusiveStartTagKey, HasMoreTags), TagResource, UntagResource,
    ListTagsForResource (stream ARNs; consumer ARNs name nothing yet), and
    CreateStream's Tags: validation texts, AWS's character rules, the
    50-tag limit, the status rules (ACTIVE or UPDATING);
  - Increase/DecreaseStreamRetentionPeriod: the 24..8760 h bounds, the
    direction rules, the same period accepted, UPDATING then ACTIVE;
  - Describe/UpdateAccountSettings: the MinimumThroughputBillingCommitment
    life (ENABLED, ENABLED_UNTIL_EARLIEST_ALLOWED_END, ENABLED again);
  - DescribeLimits: the profile's quotas and the catalogue's counts;
  - a three-node cluster: tags set through one gateway are seen through every
    gateway, and survive SIGKILL of the coordinator leader (and reach the
    restarted node).

Messages are AWS's exact texts (kinesalite's tests, run against AWS, and the
API reference); see server/gateway/api_meta.h and coordinator/catalog_update.h.
"""

import time
import unittest

import botocore.exceptions

from harness import (NAME_RE_RULE, NOT_NULL, AwsTestCase, Cluster, Node, Retrier, aws_cli,
                     client, constraint, error_of, free_ports, raw_request, stop_and_check,
                     tmp_root, unique_name, wait_status)

KEYS_RULE = ("Map keys must satisfy constraint: [Member must have length less than or equal to "
             "128, Member must have length greater than or equal to 1]")
VALUES_RULE = ("Map value must satisfy constraint: [Member must have length less than or equal "
               "to 256, Member must have length greater than or equal to 0]")
KEY_LIST_RULE = ("Member must satisfy constraint: [Member must have length less than or equal to "
                 "128, Member must have length greater than or equal to 1]")
BAD_CHARS = ("Some tags contain invalid characters. Valid characters: Unicode letters, digits, "
             "white space, _ . / = + - % @ :.")
RESOURCE_RULE = ("Member must satisfy regular expression pattern: "
                 "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+")
DAY_S = 24 * 3600


def tags_of(resp):
    return [(t["Key"], t["Value"]) for t in resp["Tags"]]


def percent_text(verb, name, account):
    return ("Failed to %s stream %s under account %s because some tags contained illegal "
            "characters. The allowed characters are Unicode letters, white-spaces, "
            "'_',',','/','=','+','-','@',':'." % (verb, name, account))


def limit_text(name, account):
    return ("Failed to add tags to stream %s under account %s because a given stream cannot "
            "have more than 50 tags associated with it." % (name, account))


def not_found(name, account):
    return "Stream %s under account %s not found." % (name, account)


def dedicated_node(name, *extra):
    """An all-roles node of its own (account settings and counts must not
    mix with the shared node's), with extra eddyd flags."""
    gw, rpc, raft = free_ports(3)
    data = "%s/%s/data" % (tmp_root(), name)
    return Node(name, [
        "--node-id", "1", "--data", data,
        "--gateway", "127.0.0.1:%d" % gw, "--rpc", "127.0.0.1:%d" % rpc,
        "--raft", "127.0.0.1:%d" % raft,
        "--peers", "1=127.0.0.1:%d/127.0.0.1:%d" % (rpc, raft),
        "--roles", "coordinator,server,gateway", "--groups", "2",
    ] + list(extra), gateway_port=gw)


class TestStreamTags(AwsTestCase):

    def test_add_list_remove(self):
        name, summary = self.new_stream(shards=1)
        arn = summary["StreamARN"]
        c = self.c
        tags = {"b": "2", "a": "1", "\u00fc0 _.": "x", "/=+-@:": "", "Zb": "z"}
        c.add_tags_to_stream(StreamName=name, Tags=tags)
        got = c.list_tags_for_stream(StreamName=name)
        self.assertEqual(tags_of(got), sorted(tags.items()))
        self.assertIs(got["HasMoreTags"], False)
        # A value overwritten, a key added; the stream stays ACTIVE.
        c.add_tags_to_stream(StreamARN=arn, Tags={"a": "9", "c": "3"})
        self.assertEqual(c.describe_stream_summary(StreamName=name)
                         ["StreamDescriptionSummary"]["StreamStatus"], "ACTIVE")
        want = sorted(dict(tags, a="9", c="3").items())
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamARN=arn)), want)
        # Pages: Limit, ExclusiveStartTagKey (any text), HasMoreTags.
        page = c.list_tags_for_stream(StreamName=name, Limit=2)
        self.assertEqual(tags_of(page), want[:2])
        self.assertIs(page["HasMoreTags"], True)
        page = c.list_tags_for_stream(StreamName=name, Limit=2,
                                      ExclusiveStartTagKey=page["Tags"][-1]["Key"])
        self.assertEqual(tags_of(page), want[2:4])
        page = c.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="b0")
        self.assertEqual(tags_of(page), [t for t in want if t[0] > "b0"])
        self.assertIs(page["HasMoreTags"], False)
        page = c.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="\u00ff")
        self.assertEqual(page["Tags"], [])
        self.assertIs(page["HasMoreTags"], False)
        # Removal ignores keys the stream lacks.
        c.remove_tags_from_stream(StreamName=name, TagKeys=["b", "nope", "\u00fc0 _."])
        want = [t for t in want if t[0] not in ("b", "\u00fc0 _.")]
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)), want)
        c.remove_tags_from_stream(StreamARN=arn, TagKeys=[k for k, _ in want])
        self.assertEqual(c.list_tags_for_stream(StreamName=name)["Tags"], [])

    def test_add_tags_validation(self):
        c = self.c
        e = error_of(c.add_tags_to_stream)
        self.assertValidation(e, constraint(None, "tags", NOT_NULL))
        e = error_of(c.add_tags_to_stream, StreamName="", Tags={})
        self.assertValidation(
            e, constraint("{}", "tags", "Member must have length greater than or equal to 1"),
            constraint("", "streamName", NAME_RE_RULE),
            constraint("", "streamName", "Member must have length greater than or equal to 1"))
        long_key = "k" * 129
        e = error_of(c.add_tags_to_stream, StreamName="x", Tags={"a": "1", long_key: "3"})
        self.assertValidation(e, constraint("{a=1, %s=3}" % long_key, "tags", KEYS_RULE))
        e = error_of(c.add_tags_to_stream, StreamName="x", Tags={"c": "v" * 257})
        self.assertValidation(e, constraint("{c=%s}" % ("v" * 257), "tags", VALUES_RULE))
        e = error_of(c.add_tags_to_stream, StreamName="x",
                     Tags={"k%03d" % i: "" for i in range(201)})
        self.assertError(e, "ValidationException")
        msg = e.response["Error"]["Message"]
        self.assertTrue(msg.startswith("1 validation error detected: Value '{k000=, k001="), msg)
        self.assertTrue(msg.endswith("' at 'tags' failed to satisfy constraint: Member must have "
                                     "length less than or equal to 200"), msg)
        missing = unique_name("none")
        e = error_of(c.add_tags_to_stream, StreamName=missing, Tags={"a": "b"})
        self.assertError(e, "ResourceNotFoundException", not_found(missing, self.account()))

    def test_add_tags_serialization(self):
        r = raw_request(self.endpoint, "AddTagsToStream", {"StreamName": "x", "Tags": ["a"]})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json(), {"__type": "SerializationException",
                                    "Message": "Start of list found where not expected"})
        r = raw_request(self.endpoint, "AddTagsToStream", {"StreamName": "x", "Tags": {"a": 1}})
        self.assertEqual(r.json()["__type"], "SerializationException", r)
        self.assertIn("can not be converted to an String", r.json()["Message"])
        r = raw_request(self.endpoint, "RemoveTagsFromStream", {"StreamName": "x", "TagKeys": "a"})
        self.assertEqual(r.json(), {"__type": "SerializationException",
                                    "Message": "Expected list or null"})

    def test_tag_characters_and_limit(self):
        name, _ = self.new_stream(shards=1)
        acct = self.account()
        c = self.c
        for bad in ({"abc;def": "1"}, {"abc\tdef": "1"}, {"a": "abc\ndef"}, {"a": "abc,def"},
                    {"a": "\U0001F600"}):
            e = error_of(c.add_tags_to_stream, StreamName=name, Tags=bad)
            self.assertError(e, "InvalidArgumentException", BAD_CHARS)
        e = error_of(c.add_tags_to_stream, StreamName=name, Tags={"abc%def": "1"})
        self.assertError(e, "InvalidArgumentException", percent_text("add tags to", name, acct))
        e = error_of(c.remove_tags_from_stream, StreamName=name, TagKeys=["abc%def"])
        self.assertError(e, "InvalidArgumentException",
                         percent_text("remove tags from", name, acct))
        e = error_of(c.remove_tags_from_stream, StreamName=name, TagKeys=["abc;def"])
        self.assertError(e, "InvalidArgumentException", BAD_CHARS)
        # 40 tags, then 11 new ones: refused whole; 10 new ones reach 50.
        c.add_tags_to_stream(StreamName=name, Tags={"k%02d" % i: "v" for i in range(40)})
        e = error_of(c.add_tags_to_stream, StreamName=name,
                     Tags={"k%02d" % i: "v" for i in range(40, 51)})
        self.assertError(e, "InvalidArgumentException", limit_text(name, acct))
        self.assertEqual(len(c.list_tags_for_stream(StreamName=name)["Tags"]), 40)
        c.add_tags_to_stream(StreamName=name, Tags={"k%02d" % i: "w" for i in range(30, 50)})
        got = c.list_tags_for_stream(StreamName=name)
        self.assertEqual(len(got["Tags"]), 50)
        self.assertIs(got["HasMoreTags"], False)
        e = error_of(c.add_tags_to_stream, StreamName=name, Tags={"k99": "v"})
        self.assertError(e, "InvalidArgumentException", limit_text(name, acct))

    def test_remove_and_list_validation(self):
        c = self.c
        e = error_of(c.remove_tags_from_stream)
        self.assertValidation(e, constraint(None, "tagKeys", NOT_NULL))
        e = error_of(c.remove_tags_from_stream, StreamName="x", TagKeys=[])
        self.assertValidation(
            e, constraint("[]", "tagKeys", "Member must have length greater than or equal to 1"))
        keys = [str(i) for i in range(1, 52)]
        e = error_of(c.remove_tags_from_stream, StreamName="x", TagKeys=keys)
        self.assertValidation(e, constraint("[%s]" % ", ".join(keys), "tagKeys",
                                            "Member must have length less than or equal to 50"))
        long_key = "a" * 129
        e = error_of(c.remove_tags_from_stream, StreamName="x", TagKeys=["a", long_key, "b"])
        self.assertValidation(e, constraint("[a, %s, b]" % long_key, "tagKeys", KEY_LIST_RULE))
        e = error_of(c.list_tags_for_stream, StreamName="", ExclusiveStartTagKey="", Limit=0)
        self.assertValidation(
            e, constraint("0", "limit", "Member must have value greater than or equal to 1"),
            constraint("", "exclusiveStartTagKey",
                       "Member must have length greater than or equal to 1"),
            constraint("", "streamName", NAME_RE_RULE),
            constraint("", "streamName", "Member must have length greater than or equal to 1"))
        e = error_of(c.list_tags_for_stream, StreamName="x", Limit=51)
        self.assertValidation(
            e, constraint("51", "limit", "Member must have value less than or equal to 50"))
        missing = unique_name("none")
        e = error_of(c.list_tags_for_stream, StreamName=missing)
        self.assertError(e, "ResourceNotFoundException", not_found(missing, self.account()))
        e = error_of(c.remove_tags_from_stream, StreamName=missing, TagKeys=["a"])
        self.assertError(e, "ResourceNotFoundException", not_found(missing, self.account()))

    def test_create_stream_with_tags(self):
        c = self.c
        acct = self.account()
        name = unique_name("ctags")
        self._streams.append(name)
        c.create_stream(StreamName=name, ShardCount=1, Tags={"b": "2", "a": "1"})
        # Listed while CREATING too, as kinesalite saw AWS do.
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)),
                         [("a", "1"), ("b", "2")])
        wait_status(c, name)
        bad = unique_name("ctags")
        e = error_of(c.create_stream, StreamName=bad, ShardCount=1, Tags={"x%": "1"})
        self.assertError(e, "InvalidArgumentException", percent_text("add tags to", bad, acct))
        e = error_of(c.create_stream, StreamName=bad, ShardCount=1,
                     Tags={"t%02d" % i: "" for i in range(51)})
        self.assertError(e, "InvalidArgumentException", limit_text(bad, acct))
        e = error_of(c.create_stream, StreamName=bad, ShardCount=1, Tags={})
        self.assertValidation(
            e, constraint("{}", "tags", "Member must have length greater than or equal to 1"))
        e = error_of(c.describe_stream_summary, StreamName=bad)
        self.assertError(e, "ResourceNotFoundException")

    def test_tags_with_the_cli(self):
        name, _ = self.new_stream(shards=1)
        aws_cli(self.endpoint, "add-tags-to-stream", "--stream-name", name,
                "--tags", "team=data,env=prod")
        out = aws_cli(self.endpoint, "list-tags-for-stream", "--stream-name", name)
        self.assertEqual(out["Tags"], [{"Key": "env", "Value": "prod"},
                                       {"Key": "team", "Value": "data"}])
        self.assertIs(out["HasMoreTags"], False)
        aws_cli(self.endpoint, "remove-tags-from-stream", "--stream-name", name,
                "--tag-keys", "env")
        out = aws_cli(self.endpoint, "list-tags-for-stream", "--stream-name", name)
        self.assertEqual(out["Tags"], [{"Key": "team", "Value": "data"}])


class TestResourceTags(AwsTestCase):

    def test_stream_arn(self):
        name, summary = self.new_stream(shards=1)
        arn = summary["StreamARN"]
        c = self.c
        c.tag_resource(ResourceARN=arn, Tags={"x": "1", "a": "2"})
        c.add_tags_to_stream(StreamName=name, Tags={"m": "3"})
        got = c.list_tags_for_resource(ResourceARN=arn)
        self.assertEqual(tags_of(got), [("a", "2"), ("m", "3"), ("x", "1")])
        self.assertNotIn("HasMoreTags", got)
        c.untag_resource(ResourceARN=arn, TagKeys=["a", "zz"])
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)),
                         [("m", "3"), ("x", "1")])
        e = error_of(c.tag_resource, ResourceARN=arn, Tags={"a%": "1"})
        self.assertError(e, "InvalidArgumentException",
                         percent_text("add tags to", name, self.account()))

    def test_consumer_and_foreign_arns(self):
        name, summary = self.new_stream(shards=1)
        arn = summary["StreamARN"]
        acct = self.account()
        c = self.c
        consumer = arn + "/consumer/reader:1525898737"
        for fn, kw in ((c.list_tags_for_resource, {}), (c.tag_resource, {"Tags": {"a": "1"}}),
                       (c.untag_resource, {"TagKeys": ["a"]})):
            e = error_of(fn, ResourceARN=consumer, **kw)
            self.assertError(e, "ResourceNotFoundException",
                             "Consumer reader with creation timestamp 1525898737 under stream "
                             "%s and account %s not found." % (name, acct))
        missing = unique_name("none")
        e = error_of(c.list_tags_for_resource,
                     ResourceARN=arn.replace(name, missing) + "/consumer/r:1")
        self.assertError(e, "ResourceNotFoundException", not_found(missing, acct))
        e = error_of(c.list_tags_for_resource,
                     ResourceARN="arn:aws:kinesis:us-east-1:123456789012:stream/%s" % name)
        self.assertError(e, "ResourceNotFoundException", not_found(name, "123456789012"))
        e = error_of(c.tag_resource, ResourceARN=arn.replace(name, missing), Tags={"a": "1"})
        self.assertError(e, "ResourceNotFoundException", not_found(missing, acct))

    def test_validation(self):
        c = self.c
        e = error_of(c.tag_resource)
        self.assertValidation(e, constraint(None, "resourceARN", NOT_NULL),
                              constraint(None, "tags", NOT_NULL))
        e = error_of(c.untag_resource, ResourceARN="arn:aws:s3:::bucket", TagKeys=[])
        self.assertValidation(
            e, constraint("arn:aws:s3:::bucket", "resourceARN", RESOURCE_RULE),
            constraint("[]", "tagKeys", "Member must have length greater than or equal to 1"))
        e = error_of(c.list_tags_for_resource, ResourceARN="")
        self.assertValidation(
            e, constraint("", "resourceARN", RESOURCE_RULE),
            constraint("", "resourceARN", "Member must have length greater than or equal to 1"))


class TestRetention(AwsTestCase):

    def test_bounds_and_direction(self):
        name, summary = self.new_stream(shards=1)
        c = self.c
        for fn in (c.increase_stream_retention_period, c.decrease_stream_retention_period):
            for hours in (23, -1, 0):
                e = error_of(fn, StreamName=name, RetentionPeriodHours=hours)
                self.assertError(e, "InvalidArgumentException",
                                 "Minimum allowed retention period is 24 hours. Requested "
                                 "retention period (%d hours) is too short." % hours)
            e = error_of(fn, StreamName=name, RetentionPeriodHours=8761)
            self.assertError(e, "InvalidArgumentException",
                             "Maximum allowed retention period is 8760 hours. Requested "
                             "retention period (8761 hours) is too long.")
        e = error_of(c.decrease_stream_retention_period, StreamName=name, RetentionPeriodHours=48)
        self.assertError(e, "InvalidArgumentException",
                         "Requested retention period (48 hours) for stream %s can not be longer "
                         "than existing retention period (24 hours). Use IncreaseRetentionPeriod "
                         "API." % name)
        # The period the stream has: accepted, nothing changes.
        c.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
        c.decrease_stream_retention_period(StreamARN=summary["StreamARN"], RetentionPeriodHours=24)
        s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual((s["StreamStatus"], s["RetentionPeriodHours"]), ("ACTIVE", 24))
        c.increase_stream_retention_period(StreamARN=summary["StreamARN"],
                                           RetentionPeriodHours=8760)
        s = wait_status(c, name)
        self.assertEqual(s["RetentionPeriodHours"], 8760)
        e = error_of(c.increase_stream_retention_period, StreamName=name, RetentionPeriodHours=100)
        self.assertError(e, "InvalidArgumentException",
                         "Requested retention period (100 hours) for stream %s can not be "
                         "shorter than existing retention period (8760 hours). Use "
                         "DecreaseRetentionPeriod API." % name)
        c.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=25)
        self.assertEqual(wait_status(c, name)["RetentionPeriodHours"], 25)
        aws_cli(self.endpoint, "increase-stream-retention-period", "--stream-name", name,
                "--retention-period-hours", "48")
        self.assertEqual(wait_status(c, name)["RetentionPeriodHours"], 48)

    def test_validation_and_not_found(self):
        c = self.c
        e = error_of(c.increase_stream_retention_period)
        self.assertValidation(e, constraint(None, "retentionPeriodHours", NOT_NULL))
        e = error_of(c.decrease_stream_retention_period, StreamName="", RetentionPeriodHours=24)
        self.assertValidation(
            e, constraint("", "streamName", NAME_RE_RULE),
            constraint("", "streamName", "Member must have length greater than or equal to 1"))
        missing = unique_name("none")
        e = error_of(c.increase_stream_retention_period, StreamName=missing,
                     RetentionPeriodHours=25)
        self.assertError(e, "ResourceNotFoundException", not_found(missing, self.account()))
        e = error_of(c.increase_stream_retention_period, RetentionPeriodHours=25,
                     StreamARN="arn:aws:kinesis:us-east-1:123456789012:stream/%s" % missing)
        self.assertError(e, "ResourceNotFoundException", not_found(missing, "123456789012"))


class TestStatusRules(unittest.TestCase):
    """UPDATING and CREATING windows, on a node whose streams stay CREATING
    and UPDATING for 8 s (--creating-ms), so the checks do not race."""

    timeout_s = 120

    @classmethod
    def setUpClass(cls):
        cls.node = dedicated_node("settings-status", "--creating-ms", "8000").start()
        cls.c = client(cls.node.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_updating_and_creating(self):
        c = self.c
        name = unique_name("st")
        c.create_stream(StreamName=name, ShardCount=1)
        acct = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"].split(":")[4]
        # CREATING: tags and retention refused.
        e = error_of(c.add_tags_to_stream, StreamName=name, Tags={"a": "1"})
        self.assertEqual(e.response["Error"], {
            "Code": "ResourceInUseException",
            "Message": "Stream %s under account %s not ACTIVE or UPDATING, instead in state "
                       "CREATING" % (name, acct)})
        e = error_of(c.increase_stream_retention_period, StreamName=name, RetentionPeriodHours=48)
        self.assertEqual(e.response["Error"]["Message"],
                         "Stream %s under account %s not ACTIVE, instead in state CREATING"
                         % (name, acct))
        wait_status(c, name, timeout_s=30)
        # A retention change: UPDATING for a while, then ACTIVE by itself.
        c.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
        s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual((s["StreamStatus"], s["RetentionPeriodHours"]), ("UPDATING", 48))
        # Tags are fine while UPDATING; another retention change is not.
        c.add_tags_to_stream(StreamName=name, Tags={"during": "update"})
        self.assertEqual(tags_of(c.list_tags_for_stream(StreamName=name)),
                         [("during", "update")])
        e = error_of(c.decrease_stream_retention_period, StreamName=name, RetentionPeriodHours=24)
        self.assertEqual(e.response["Error"], {
            "Code": "ResourceInUseException",
            "Message": "Stream %s under account %s not ACTIVE, instead in state UPDATING"
                       % (name, acct)})
        # An argument error is reported before the status.
        e = error_of(c.increase_stream_retention_period, StreamName=name, RetentionPeriodHours=30)
        self.assertEqual(e.response["Error"]["Code"], "InvalidArgumentException")
        t0 = time.monotonic()
        s = wait_status(c, name, timeout_s=30)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(s["RetentionPeriodHours"], 48)
        c.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
        self.assertEqual(wait_status(c, name, timeout_s=30)["RetentionPeriodHours"], 24)
        c.delete_stream(StreamName=name)
        # DELETING: refused too.
        e = error_of(c.add_tags_to_stream, StreamName=name, Tags={"a": "1"})
        self.assertIn(e.response["Error"]["Code"],
                      ("ResourceInUseException", "ResourceNotFoundException"))


class TestAccountAndLimits(unittest.TestCase):
    """On a node of its own: the account's commitment and the counts are the
    node's, whatever the other tests do."""

    timeout_s = 120

    @classmethod
    def setUpClass(cls):
        cls.node = dedicated_node("settings-account", "--limit", "shard-limit=123",
                                  "--limit", "on-demand-stream-count-limit=7").start()
        cls.endpoint = cls.node.endpoint
        cls.c = client(cls.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_commitment_life(self):
        c = self.c
        got = c.describe_account_settings()
        self.assertEqual(got["MinimumThroughputBillingCommitment"], {"Status": "DISABLED"})
        before = time.time()
        got = c.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        m = got["MinimumThroughputBillingCommitment"]
        self.assertEqual(sorted(m), ["EarliestAllowedEndAt", "StartedAt", "Status"])
        self.assertEqual(m["Status"], "ENABLED")
        started = m["StartedAt"].timestamp()
        self.assertLess(abs(started - before), 60)
        self.assertAlmostEqual(m["EarliestAllowedEndAt"].timestamp() - started, DAY_S, places=2)
        self.assertEqual(c.describe_account_settings()["MinimumThroughputBillingCommitment"], m)
        # Disabled within the first 24 h: it runs on until its earliest end.
        got = c.update_account_settings(MinimumThroughputBillingCommitment={"Status": "DISABLED"})
        m2 = got["MinimumThroughputBillingCommitment"]
        self.assertEqual(m2["Status"], "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
        self.assertEqual(m2["StartedAt"], m["StartedAt"])
        self.assertEqual(m2["EarliestAllowedEndAt"], m["EarliestAllowedEndAt"])
        out = aws_cli(self.endpoint, "describe-account-settings")
        self.assertEqual(out["MinimumThroughputBillingCommitment"]["Status"],
                         "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
        # Enabled again: the scheduled end is cancelled, the start kept.
        got = c.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
        self.assertEqual(got["MinimumThroughputBillingCommitment"], m)

    def test_update_validation(self):
        c = self.c
        e = error_of(c.update_account_settings)
        self.assertEqual(e.response["Error"]["Code"], "ValidationException")
        self.assertEqual(e.response["Error"]["Message"],
                         "1 validation error detected: " +
                         constraint(None, "minimumThroughputBillingCommitment", NOT_NULL))
        e = error_of(c.update_account_settings, MinimumThroughputBillingCommitment={})
        self.assertEqual(e.response["Error"]["Message"],
                         "1 validation error detected: " +
                         constraint(None, "minimumThroughputBillingCommitment.status", NOT_NULL))
        e = error_of(c.update_account_settings,
                     MinimumThroughputBillingCommitment={"Status": "ON"})
        self.assertEqual(e.response["Error"]["Message"],
                         "1 validation error detected: " +
                         constraint("ON", "minimumThroughputBillingCommitment.status",
                                    "Member must satisfy enum value set: [ENABLED, DISABLED]"))

    def test_describe_limits(self):
        c = self.c
        base = c.describe_limits()
        self.assertEqual((base["ShardLimit"], base["OnDemandStreamCountLimit"]), (123, 7))
        a, b = unique_name("lim"), unique_name("lim")
        c.create_stream(StreamName=a, ShardCount=3)
        c.create_stream(StreamName=b, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        try:
            got = c.describe_limits()
            self.assertEqual(got["OpenShardCount"], base["OpenShardCount"] + 3 + 4)
            self.assertEqual(got["OnDemandStreamCount"], base["OnDemandStreamCount"] + 1)
            out = aws_cli(self.endpoint, "describe-limits")
            self.assertEqual(out["ShardLimit"], 123)
            self.assertEqual(out["OpenShardCount"], got["OpenShardCount"])
        finally:
            wait_status(c, a)
            wait_status(c, b)
            c.delete_stream(StreamName=a)
            c.delete_stream(StreamName=b)


class TestSettingsCluster(unittest.TestCase):
    """Three all-roles nodes: tags through one gateway are seen through all,
    and survive the loss of the coordinator leader."""

    timeout_s = 240

    def list_tags(self, r, name):
        got, _ = r.call("list_tags_for_stream", StreamName=name)
        return tags_of(got)

    def test_tags_everywhere_and_after_leader_kill(self):
        cluster = Cluster("settings-cl", n=3)
        try:
            cluster.start()
            cluster.wait_healthy()
            name = unique_name("cltag")
            r = Retrier(cluster.endpoints(), attempts=20, timeout_s=10)
            try:
                r.call("create_stream", StreamName=name, ShardCount=2)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "ResourceInUseException" or not e.eddy_kinds:
                    raise
            wait_status(client(cluster.nodes[0].endpoint), name)
            # AddTags is safe to resend: the same tags again change nothing.
            Retrier([cluster.nodes[0].endpoint], attempts=20).call(
                "add_tags_to_stream", StreamName=name, Tags={"team": "data", "env": "prod"})
            want = [("env", "prod"), ("team", "data")]
            for n in cluster.nodes:
                self.assertEqual(self.list_tags(Retrier([n.endpoint]), name), want, n.name)
            Retrier([cluster.nodes[2].endpoint], attempts=20).call(
                "increase_stream_retention_period", StreamName=name, RetentionPeriodHours=72)
            leader = cluster.leader_of(0)
            leader.kill9()
            survivors = [n for n in cluster.nodes if n is not leader]
            for n in survivors:
                self.assertEqual(self.list_tags(Retrier([n.endpoint], attempts=30), name), want,
                                 n.name)
            Retrier([survivors[0].endpoint], attempts=30).call(
                "add_tags_to_stream", StreamName=name, Tags={"after": "kill"})
            want = [("after", "kill")] + want
            for n in survivors:
                self.assertEqual(self.list_tags(Retrier([n.endpoint], attempts=30), name), want,
                                 n.name)
                s = wait_status(client(n.endpoint), name)
                self.assertEqual(s["RetentionPeriodHours"], 72, n.name)
            leader.start()
            cluster.wait_healthy()
            self.assertEqual(self.list_tags(Retrier([leader.endpoint], attempts=30), name), want)
        finally:
            stop_and_check(self, *cluster.nodes)


if __name__ == "__main__":
    unittest.main()
