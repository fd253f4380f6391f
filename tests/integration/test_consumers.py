"""Enhanced fan-out consumers (issue 5): RegisterStreamConsumer,
DescribeStreamConsumer, ListStreamConsumers, DeregisterStreamConsumer, and
what touches consumers elsewhere, through boto3 and the AWS CLI:

  - the lifecycle CREATING -> ACTIVE (after --creating-ms) -> DELETING ->
    gone, the ARN arn:aws:kinesis:REGION:ACCOUNT:stream/S/consumer/C:EPOCH
    (EPOCH the creation second), ConsumerCount in DescribeStreamSummary;
  - the errors: names in use, unknown consumers and streams, other
    accounts, validation, conflicting or missing arguments;
  - the limits: 5 consumers CREATING at once and 20 per stream
    (LimitExceededException), DELETING ones counting until they are gone;
  - ListStreamConsumers paging (MaxResults, NextToken, and its rules);
  - DeleteStream of a stream with consumers: ResourceInUseException without
    EnforceConsumerDeletion, the consumers gone with the stream with it;
  - TagResource/UntagResource/ListTagsForResource and Put/Get/Delete-
    ResourcePolicy on consumer ARNs;
  - a three-node cluster: every gateway sees every consumer change at once.
"""

import time
import unittest

import botocore.exceptions

from harness import (AwsTestCase, Cluster, NOT_NULL, aws_cli, client, constraint, create_active,
                     delete_quietly, error_of, raw_request, single_node, unique_name, wait_status)
from test_cbor import CBOR_11, Tag, decode, encode

CONSUMER_ARN_RULE = ("Member must satisfy regular expression pattern: "
                     "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
                     "[a-zA-Z0-9_.-]+:[0-9]+")
NAME_RULE = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
POLICY = '{"Version":"2012-10-17","Statement":[]}'


def wait_consumer(c, arn, want="ACTIVE", timeout_s=30):
    """Polls DescribeStreamConsumer until ConsumerStatus == want (None: until
    ResourceNotFoundException); returns the description."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            d = c.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]
            last = d["ConsumerStatus"]
            if want is not None and last == want:
                return d
        except botocore.exceptions.ClientError as e:
            if want is None and e.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        time.sleep(0.1)
    raise AssertionError("consumer %s still %s after %ds (want %s)" % (arn, last, timeout_s, want))


def maybe_error(fn, *args, **kwargs):
    """The ClientError fn raises, or None when it succeeds."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e
    return None


def register(c, stream_arn, name, **kw):
    return c.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name, **kw)["Consumer"]


class ConsumerTestCase(AwsTestCase):
    """On the shared node (--creating-ms 500 by default)."""

    def stream(self, shards=1):
        name, summary = self.new_stream(shards=shards, prefix="efo")
        return name, summary["StreamARN"]

    def active_consumer(self, stream_arn, name):
        cons = register(self.c, stream_arn, name)
        return wait_consumer(self.c, cons["ConsumerARN"], "ACTIVE")


class Lifecycle(ConsumerTestCase):

    def test_register_describe_list_deregister(self):
        name, arn = self.stream()
        acct = self.account()
        before = time.time()
        cons = register(self.c, arn, "reader-1")
        self.assertEqual(cons["ConsumerName"], "reader-1")
        self.assertEqual(cons["ConsumerStatus"], "CREATING")
        created = cons["ConsumerCreationTimestamp"].timestamp()
        self.assertGreaterEqual(created, before - 2)
        self.assertEqual(cons["ConsumerARN"],
                         "%s/consumer/reader-1:%d" % (arn, int(created)))
        self.assertEqual(set(cons), {"ConsumerName", "ConsumerARN", "ConsumerStatus",
                                     "ConsumerCreationTimestamp"})
        carn = cons["ConsumerARN"]
        # By ARN, by stream and name, and by all three.
        d = self.c.describe_stream_consumer(ConsumerARN=carn)["ConsumerDescription"]
        self.assertEqual(d["StreamARN"], arn)
        self.assertEqual(d["ConsumerARN"], carn)
        self.assertIn(d["ConsumerStatus"], ("CREATING", "ACTIVE"))
        d2 = self.c.describe_stream_consumer(StreamARN=arn, ConsumerName="reader-1")
        self.assertEqual(d2["ConsumerDescription"]["ConsumerARN"], carn)
        self.c.describe_stream_consumer(StreamARN=arn, ConsumerName="reader-1", ConsumerARN=carn)
        summary = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(summary["ConsumerCount"], 1)
        d = wait_consumer(self.c, carn, "ACTIVE")
        self.assertEqual(d["ConsumerCreationTimestamp"], cons["ConsumerCreationTimestamp"])
        listed = self.c.list_stream_consumers(StreamARN=arn)
        self.assertNotIn("NextToken", listed)
        self.assertEqual([x["ConsumerARN"] for x in listed["Consumers"]], [carn])
        self.assertEqual(listed["Consumers"][0]["ConsumerStatus"], "ACTIVE")
        # Deregister: DELETING at once, then gone; again is fine while DELETING.
        self.c.deregister_stream_consumer(ConsumerARN=carn)
        d = self.c.describe_stream_consumer(ConsumerARN=carn)["ConsumerDescription"]
        self.assertIn(d["ConsumerStatus"], ("DELETING",))
        self.c.deregister_stream_consumer(StreamARN=arn, ConsumerName="reader-1")
        wait_consumer(self.c, carn, None)
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=carn)
        self.assertError(err, "ResourceNotFoundException",
                         "Consumer reader-1 with creation timestamp %d under stream %s and "
                         "account %s not found." % (int(created), name, acct))
        err = error_of(self.c.deregister_stream_consumer, ConsumerARN=carn)
        self.assertError(err, "ResourceNotFoundException")
        summary = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(summary["ConsumerCount"], 0)
        self.assertEqual(self.c.list_stream_consumers(StreamARN=arn)["Consumers"], [])

    def test_register_again_gets_another_arn(self):
        name, arn = self.stream()
        first = register(self.c, arn, "again")
        self.c.deregister_stream_consumer(ConsumerARN=first["ConsumerARN"])
        wait_consumer(self.c, first["ConsumerARN"], None)
        second = register(self.c, arn, "again")
        self.assertNotEqual(second["ConsumerARN"], first["ConsumerARN"])
        # The old ARN names nothing, not the new consumer.
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=first["ConsumerARN"])
        self.assertError(err, "ResourceNotFoundException")
        err = error_of(self.c.deregister_stream_consumer, ConsumerARN=first["ConsumerARN"])
        self.assertError(err, "ResourceNotFoundException")
        wait_consumer(self.c, second["ConsumerARN"], "ACTIVE")


class Errors(ConsumerTestCase):

    def test_names_and_lookups(self):
        name, arn = self.stream()
        acct = self.account()
        cons = register(self.c, arn, "dup")
        epoch = int(cons["ConsumerCreationTimestamp"].timestamp())
        err = error_of(register, self.c, arn, "dup")
        self.assertError(err, "ResourceInUseException",
                         "Consumer dup with creation timestamp %d under stream %s and account %s "
                         "already exists." % (epoch, name, acct))
        missing = arn.replace(name, name + "-missing")
        err = error_of(register, self.c, missing, "c")
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s-missing under account %s not found." % (name, acct))
        err = error_of(self.c.describe_stream_consumer, StreamARN=arn, ConsumerName="nobody")
        self.assertError(err, "ResourceNotFoundException",
                         "Consumer nobody under stream %s and account %s not found." % (name, acct))
        wrong_epoch = "%s/consumer/dup:%d" % (arn, epoch - 10)
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=wrong_epoch)
        self.assertError(err, "ResourceNotFoundException",
                         "Consumer dup with creation timestamp %d under stream %s and account %s "
                         "not found." % (epoch - 10, name, acct))
        other = cons["ConsumerARN"].replace(":%s:" % acct, ":123456789012:")
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=other)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account 123456789012 not found." % name)
        err = error_of(self.c.list_stream_consumers, StreamARN=missing)
        self.assertError(err, "ResourceNotFoundException")

    def test_validation_and_arguments(self):
        name, arn = self.stream()
        err = error_of(self.c.register_stream_consumer, StreamARN=arn, ConsumerName="a b")
        self.assertValidation(err, constraint("a b", "consumerName", NAME_RULE))
        err = error_of(self.c.register_stream_consumer, ConsumerName="c")
        self.assertValidation(err, constraint(None, "streamARN", NOT_NULL))
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=arn)
        self.assertValidation(err, constraint(arn, "consumerARN", CONSUMER_ARN_RULE))
        err = error_of(self.c.describe_stream_consumer, StreamARN=arn)
        self.assertError(err, "InvalidArgumentException",
                         "Either ConsumerARN or both StreamARN and ConsumerName must be "
                         "provided.")
        cons = register(self.c, arn, "c1")
        err = error_of(self.c.deregister_stream_consumer, ConsumerARN=cons["ConsumerARN"],
                       ConsumerName="c2")
        self.assertError(err, "InvalidArgumentException",
                         "ConsumerARN %s does not name consumer c2 of stream %s."
                         % (cons["ConsumerARN"], name))
        err = error_of(self.c.list_stream_consumers, StreamARN=arn, MaxResults=0)
        self.assertValidation(err, constraint(
            "0", "maxResults", "Member must have value greater than or equal to 1"))
        err = error_of(self.c.register_stream_consumer, StreamARN=arn, ConsumerName="t",
                       Tags={"k%d" % i: "v" for i in range(51)})
        self.assertError(err, "InvalidArgumentException",
                         "Failed to add tags to consumer t under stream %s and account %s because "
                         "a given consumer cannot have more than 50 tags associated with it."
                         % (name, self.account()))

    def test_register_on_creating_stream(self):
        acct = self.account()
        name, _ = self.new_stream(shards=1, wait=False)
        arn = "arn:aws:kinesis:us-east-1:%s:stream/%s" % (acct, name)
        # A new stream stays CREATING for --creating-ms (500 ms): long enough.
        err = error_of(register, self.c, arn, "early")
        self.assertError(err, "ResourceInUseException",
                         "Stream %s under account %s not ACTIVE or UPDATING, instead in state "
                         "CREATING" % (name, acct))

    def test_subscribe_to_creating_consumer(self):
        # AWS's text for SubscribeToShard, its own wording ("under stream: S ,
        # account A"; GH awslabs/kinesis-hot-shard-advisor#37).
        name, arn = self.stream()
        acct = self.account()
        cons = register(self.c, arn, "early")
        epoch = int(cons["ConsumerCreationTimestamp"].timestamp())
        try:
            resp = self.c.subscribe_to_shard(ConsumerARN=cons["ConsumerARN"],
                                             ShardId="shardId-000000000000",
                                             StartingPosition={"Type": "LATEST"})
        except botocore.exceptions.ClientError as e:
            self.assertError(e, "ResourceInUseException",
                             "Consumer early with creation timestamp %d under stream: %s , "
                             "account %s is not in ACTIVE status." % (epoch, name, acct))
        else:
            resp["EventStream"].close()  # ACTIVE already (--creating-ms 500) on a slow run


class Paging(ConsumerTestCase):

    def test_list_pages(self):
        name, arn = self.stream()
        arns = []
        for i in range(7):
            if i == 5:
                for a in arns:  # at most 5 CREATING at once
                    wait_consumer(self.c, a, "ACTIVE")
            arns.append(register(self.c, arn, "p%d" % i)["ConsumerARN"])
        seen = []
        token = None
        pages = 0
        while True:
            kw = {"StreamARN": arn, "MaxResults": 3}
            if token:
                kw["NextToken"] = token
            resp = self.c.list_stream_consumers(**kw)
            pages += 1
            self.assertLessEqual(len(resp["Consumers"]), 3)
            seen.extend(x["ConsumerARN"] for x in resp["Consumers"])
            token = resp.get("NextToken")
            if not token:
                break
            self.assertLess(pages, 10)
        self.assertEqual(pages, 3)
        self.assertEqual(seen, arns)  # in registration order
        pag = self.c.get_paginator("list_stream_consumers")
        got = [x["ConsumerName"] for p in pag.paginate(StreamARN=arn,
                                                       PaginationConfig={"PageSize": 2})
               for x in p["Consumers"]]
        self.assertEqual(got, ["p%d" % i for i in range(7)])
        first = self.c.list_stream_consumers(StreamARN=arn, MaxResults=1)
        err = error_of(self.c.list_stream_consumers, StreamARN=arn,
                       NextToken=first["NextToken"], StreamCreationTimestamp=time.time())
        self.assertError(err, "InvalidArgumentException",
                         "NextToken and StreamCreationTimestamp cannot be provided together.")
        err = error_of(self.c.list_stream_consumers, StreamARN=arn, NextToken="bogus")
        self.assertError(err, "InvalidArgumentException", "Invalid NextToken.")
        summary = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        created = summary["StreamCreationTimestamp"]
        ok = self.c.list_stream_consumers(StreamARN=arn, StreamCreationTimestamp=created)
        self.assertEqual(len(ok["Consumers"]), 7)
        err = error_of(self.c.list_stream_consumers, StreamARN=arn,
                       StreamCreationTimestamp=created.timestamp() - 100)
        self.assertError(err, "ResourceNotFoundException")


class DeleteStream(ConsumerTestCase):

    def test_enforce_consumer_deletion(self):
        name, arn = self.stream()
        acct = self.account()
        cons = self.active_consumer(arn, "held")
        err = error_of(self.c.delete_stream, StreamName=name)
        # AWS's text (hashicorp/terraform-provider-aws#8420): "<account>:<name>".
        msg = ("DeleteStream can't delete %s:%s because there are consumers associated with "
               "this data stream. To delete %s anyway, set the EnforceConsumerDeletion parameter "
               "to true to force the deletion of all the consumers that are associated with it."
               % (acct, name, name))
        self.assertError(err, "ResourceInUseException", msg)
        err = error_of(self.c.delete_stream, StreamName=name, EnforceConsumerDeletion=False)
        self.assertError(err, "ResourceInUseException", msg)
        self.assertEqual(self.c.describe_stream_summary(StreamName=name)
                         ["StreamDescriptionSummary"]["StreamStatus"], "ACTIVE")
        self.c.delete_stream(StreamARN=arn, EnforceConsumerDeletion=True)
        try:
            d = self.c.describe_stream_consumer(ConsumerARN=cons["ConsumerARN"])
            self.assertEqual(d["ConsumerDescription"]["ConsumerStatus"], "DELETING")
        except botocore.exceptions.ClientError as e:
            self.assertError(e, "ResourceNotFoundException")
        wait_status(self.c, name, None)
        err = error_of(self.c.describe_stream_consumer, ConsumerARN=cons["ConsumerARN"])
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, acct))
        # A stream of the same name starts without consumers.
        create_active(self.c, name, 1)
        self.assertEqual(self.c.list_stream_consumers(StreamARN=arn)["Consumers"], [])
        self.c.delete_stream(StreamName=name)


class TagsAndPolicies(ConsumerTestCase):

    def test_tags_on_consumer_arns(self):
        name, arn = self.stream()
        cons = register(self.c, arn, "tagged", Tags={"team": "a", "env": "dev"})
        carn = cons["ConsumerARN"]
        tags = self.c.list_tags_for_resource(ResourceARN=carn)["Tags"]
        self.assertEqual(tags, [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
        self.c.tag_resource(ResourceARN=carn, Tags={"team": "b", "x": "1"})
        self.c.untag_resource(ResourceARN=carn, TagKeys=["env", "nope"])
        tags = self.c.list_tags_for_resource(ResourceARN=carn)["Tags"]
        self.assertEqual(tags, [{"Key": "team", "Value": "b"}, {"Key": "x", "Value": "1"}])
        # The stream's tags are its own.
        self.assertEqual(self.c.list_tags_for_resource(ResourceARN=arn)["Tags"], [])
        err = error_of(self.c.tag_resource, ResourceARN=carn,
                       Tags={"k%d" % i: "v" for i in range(49)})
        self.assertError(err, "InvalidArgumentException",
                         "Failed to add tags to consumer tagged under stream %s and account %s "
                         "because a given consumer cannot have more than 50 tags associated with "
                         "it." % (name, self.account()))
        epoch = int(cons["ConsumerCreationTimestamp"].timestamp())
        gone = "%s/consumer/tagged:%d" % (arn, epoch + 5)
        err = error_of(self.c.list_tags_for_resource, ResourceARN=gone)
        self.assertError(err, "ResourceNotFoundException",
                         "Consumer tagged with creation timestamp %d under stream %s and account "
                         "%s not found." % (epoch + 5, name, self.account()))

    def test_policies_on_consumer_arns(self):
        name, arn = self.stream()
        acct = self.account()
        cons = register(self.c, arn, "pol")
        carn = cons["ConsumerARN"]
        epoch = int(cons["ConsumerCreationTimestamp"].timestamp())
        err = maybe_error(self.c.put_resource_policy, ResourceARN=carn, Policy=POLICY)
        # While CREATING (unless it became ACTIVE already on a slow run).
        if err is not None:
            self.assertError(err, "ResourceInUseException",
                             "Consumer pol with creation timestamp %d under stream %s and "
                             "account %s is not in ACTIVE status." % (epoch, name, acct))
        wait_consumer(self.c, carn, "ACTIVE")
        self.assertEqual(self.c.get_resource_policy(ResourceARN=carn)["Policy"], "{}")
        self.c.put_resource_policy(ResourceARN=carn, Policy=POLICY)
        self.assertEqual(self.c.get_resource_policy(ResourceARN=carn)["Policy"], POLICY)
        self.assertEqual(self.c.get_resource_policy(ResourceARN=arn)["Policy"], "{}")
        self.c.delete_resource_policy(ResourceARN=carn)
        self.assertEqual(self.c.get_resource_policy(ResourceARN=carn)["Policy"], "{}")
        self.c.deregister_stream_consumer(ConsumerARN=carn)
        err = error_of(self.c.put_resource_policy, ResourceARN=carn, Policy=POLICY)
        if err.response["Error"]["Code"] == "ResourceInUseException":
            self.assertError(err, "ResourceInUseException",
                             "Consumer pol with creation timestamp %d under stream %s and "
                             "account %s is not in ACTIVE status." % (epoch, name, acct))
        else:
            self.assertError(err, "ResourceNotFoundException")


class Cli(ConsumerTestCase):

    def test_register_and_list_with_the_cli(self):
        name, arn = self.stream()
        out = aws_cli(self.endpoint, "register-stream-consumer", "--stream-arn", arn,
                      "--consumer-name", "cli-reader")
        self.assertEqual(out["Consumer"]["ConsumerStatus"], "CREATING")
        self.assertTrue(out["Consumer"]["ConsumerARN"].startswith(arn + "/consumer/cli-reader:"))
        listed = aws_cli(self.endpoint, "list-stream-consumers", "--stream-arn", arn)
        self.assertEqual([x["ConsumerName"] for x in listed["Consumers"]], ["cli-reader"])
        aws_cli(self.endpoint, "deregister-stream-consumer", "--consumer-arn",
                out["Consumer"]["ConsumerARN"])


class Cbor(ConsumerTestCase):
    """The Java SDK (and so the KCL) speaks CBOR: timestamps are tag 1 over
    epoch milliseconds."""

    def cbor(self, op, body):
        resp = raw_request(self.endpoint, op, encode(body), content_type=CBOR_11,
                           extra_headers={"Accept": CBOR_11})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.headers.get("content-type"), CBOR_11, resp)
        return decode(resp.body) if resp.body else None

    def test_register_describe_list_in_cbor(self):
        name, arn = self.stream()
        t0 = int(time.time() * 1000)
        cons = self.cbor("RegisterStreamConsumer",
                         {"StreamARN": arn, "ConsumerName": "java"})["Consumer"]
        ts = cons["ConsumerCreationTimestamp"]
        self.assertIsInstance(ts, Tag)
        self.assertEqual(ts.tag, 1)
        self.assertGreaterEqual(ts.value, t0 - 2000)
        self.assertEqual(cons["ConsumerARN"], "%s/consumer/java:%d" % (arn, ts.value // 1000))
        d = self.cbor("DescribeStreamConsumer", {"ConsumerARN": cons["ConsumerARN"]})
        self.assertEqual(d["ConsumerDescription"]["StreamARN"], arn)
        listed = self.cbor("ListStreamConsumers", {"StreamARN": arn})
        self.assertEqual([x["ConsumerName"] for x in listed["Consumers"]], ["java"])
        self.assertIsNone(self.cbor("DeregisterStreamConsumer",
                                    {"ConsumerARN": cons["ConsumerARN"]}))


class Limits(unittest.TestCase):
    """A node of its own whose consumers stay CREATING long enough to count
    (--creating-ms 1500)."""

    timeout_s = 180

    @classmethod
    def setUpClass(cls):
        cls.node = single_node(unique_name("efolim"))
        cls.node.args += ["--creating-ms", "1500"]
        cls.node.start()
        cls.c = client(cls.node.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()  # an unclean stop is reported by the runner

    def test_creating_and_per_stream_limits(self):
        name = unique_name("efolim")
        arn = create_active(self.c, name, 1)["StreamARN"]
        try:
            arns = [register(self.c, arn, "c%02d" % i)["ConsumerARN"] for i in range(5)]
            err = error_of(register, self.c, arn, "sixth")
            self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
            self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            self.assertIn("CREATING", err.response["Error"]["Message"])
            # Up to 20, five at a time.
            while len(arns) < 20:
                for a in arns:
                    wait_consumer(self.c, a, "ACTIVE")
                for _ in range(min(5, 20 - len(arns))):
                    arns.append(register(self.c, arn, "c%02d" % len(arns))["ConsumerARN"])
            for a in arns:
                wait_consumer(self.c, a, "ACTIVE")
            err = error_of(register, self.c, arn, "twenty-first")
            self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
            self.assertIn("20", err.response["Error"]["Message"])
            summary = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            self.assertEqual(summary["ConsumerCount"], 20)
            # A DELETING consumer counts until it is gone.
            self.c.deregister_stream_consumer(ConsumerARN=arns[0])
            err = error_of(register, self.c, arn, "twenty-first")
            self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
            wait_consumer(self.c, arns[0], None)
            register(self.c, arn, "twenty-first")
        finally:
            delete_quietly(self.c, name)


class ClusterConsumers(unittest.TestCase):
    """Three nodes: a consumer change through one gateway is seen at once
    through the others."""

    timeout_s = 240

    def setUp(self):
        self.cluster = Cluster(unique_name("efo3"))
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

    def test_every_gateway_sees_consumers(self):
        cs = [client(e) for e in self.cluster.endpoints()]
        name = unique_name("efo3")
        arn = create_active(cs[0], name, 2)["StreamARN"]
        for c in cs:
            wait_status(c, name, "ACTIVE")
        cons = register(cs[0], arn, "everywhere", Tags={"k": "v"})
        carn = cons["ConsumerARN"]
        for c in cs[1:]:
            d = c.describe_stream_consumer(ConsumerARN=carn)["ConsumerDescription"]
            self.assertEqual(d["ConsumerARN"], carn)
            listed = c.list_stream_consumers(StreamARN=arn)["Consumers"]
            self.assertEqual([x["ConsumerARN"] for x in listed], [carn])
            self.assertEqual(c.list_tags_for_resource(ResourceARN=carn)["Tags"],
                             [{"Key": "k", "Value": "v"}])
        wait_consumer(cs[1], carn, "ACTIVE")
        cs[1].put_resource_policy(ResourceARN=carn, Policy=POLICY)
        self.assertEqual(cs[2].get_resource_policy(ResourceARN=carn)["Policy"], POLICY)
        err = error_of(register, cs[2], arn, "everywhere")
        self.assertEqual(err.response["Error"]["Code"], "ResourceInUseException")
        cs[2].deregister_stream_consumer(ConsumerARN=carn)
        for c in cs:
            try:
                d = c.describe_stream_consumer(ConsumerARN=carn)["ConsumerDescription"]
                self.assertEqual(d["ConsumerStatus"], "DELETING")
            except botocore.exceptions.ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "ResourceNotFoundException")
        wait_consumer(cs[0], carn, None)
        for c in cs:
            self.assertEqual(c.list_stream_consumers(StreamARN=arn)["Consumers"], [])
        cs[1].delete_stream(StreamName=name)  # no consumers left: no need to enforce


if __name__ == "__main__":
    unittest.main()
