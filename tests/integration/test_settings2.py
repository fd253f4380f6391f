"""Stream settings through boto3: UpdateStreamMode, Enable/DisableEnhanced-
Monitoring, Start/StopStreamEncryption, Put/Get/DeleteResourcePolicy,
UpdateMaxRecordSize, UpdateStreamWarmThroughput, CreateStream's
MaxRecordSizeInKiB, the settings in DescribeStream and DescribeStreamSummary,
MaxRecordSizeInKiB enforced by PutRecord(s), and EncryptionType on records
(PutRecord(s) answers, GetRecords records as written). Success and error
paths on the shared node; the catalogue's view from every gateway of a
three-node cluster.

Texts AWS documents or was seen to send are asserted exactly; the texts of
errors AWS does not document (KMS-less encryption checks, warm throughput
preconditions, resource policy documents) are Eddy's and asserted by type and
key words."""

import json
import time
import unittest

import botocore.exceptions

from harness import (NOT_NULL, AwsTestCase, Cluster, client, constraint, create_active,
                     delete_quietly, error_of, single_node, stop_and_check, unique_name,
                     wait_status)

ALL_METRICS = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
               "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
               "IteratorAgeMilliseconds"]
MIB = 1024 * 1024


def wait_active(c, name, timeout_s=60):
    """Waits for ACTIVE (settings changes go through UPDATING) and returns
    the summary."""
    return wait_status(c, name, "ACTIVE", timeout_s=timeout_s)


def read_all(c, name, shard_id="shardId-000000000000", want=None, timeout_s=30):
    """Every record of one shard from TRIM_HORIZON (at least want of them)."""
    it = c.get_shard_iterator(StreamName=name, ShardId=shard_id,
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    deadline = time.monotonic() + timeout_s
    for _ in range(1000):
        resp = c.get_records(ShardIterator=it, Limit=10000)
        out.extend(resp["Records"])
        it = resp.get("NextShardIterator")
        if (want is None and not resp["Records"]) or (want is not None and len(out) >= want):
            break
        if it is None or time.monotonic() > deadline:
            break
    return out


class Monitoring(AwsTestCase):

    def test_enable_disable_and_describe(self):
        name, s = self.new_stream(shards=1)
        self.assertEqual(s["EnhancedMonitoring"], [{"ShardLevelMetrics": []}])
        r = self.c.enable_enhanced_monitoring(
            StreamName=name, ShardLevelMetrics=["IteratorAgeMilliseconds", "IncomingBytes"])
        self.assertEqual(r["StreamName"], name)
        self.assertEqual(r["StreamARN"], s["StreamARN"])
        self.assertEqual(r["CurrentShardLevelMetrics"], [])
        self.assertEqual(r["DesiredShardLevelMetrics"],
                         ["IncomingBytes", "IteratorAgeMilliseconds"])
        s = wait_active(self.c, name)
        self.assertEqual(s["EnhancedMonitoring"],
                         [{"ShardLevelMetrics": ["IncomingBytes", "IteratorAgeMilliseconds"]}])
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(d["EnhancedMonitoring"], s["EnhancedMonitoring"])

        r = self.c.enable_enhanced_monitoring(StreamARN=s["StreamARN"], ShardLevelMetrics=["ALL"])
        self.assertEqual(r["CurrentShardLevelMetrics"],
                         ["IncomingBytes", "IteratorAgeMilliseconds"])
        self.assertEqual(r["DesiredShardLevelMetrics"], ALL_METRICS)
        wait_active(self.c, name)
        r = self.c.disable_enhanced_monitoring(
            StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
        self.assertEqual(r["CurrentShardLevelMetrics"], ALL_METRICS)
        self.assertEqual(r["DesiredShardLevelMetrics"],
                         [m for m in ALL_METRICS if m not in ("IncomingBytes", "OutgoingBytes")])
        wait_active(self.c, name)
        r = self.c.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
        self.assertEqual(r["DesiredShardLevelMetrics"], [])
        s = wait_active(self.c, name)
        self.assertEqual(s["EnhancedMonitoring"], [{"ShardLevelMetrics": []}])

    def test_errors(self):
        name, _ = self.new_stream(shards=1)
        err = error_of(self.c.enable_enhanced_monitoring, StreamName=name, ShardLevelMetrics=[])
        self.assertValidation(err, constraint(
            "[]", "shardLevelMetrics", "Member must have length greater than or equal to 1"))
        err = error_of(self.c.disable_enhanced_monitoring, StreamName=name,
                       ShardLevelMetrics=["IncomingBytes", "Bogus"])
        self.assertValidation(err, constraint(
            "[IncomingBytes, Bogus]", "shardLevelMetrics",
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            "[IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, "
            "WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, "
            "IteratorAgeMilliseconds, ALL]]"))
        err = error_of(self.c.enable_enhanced_monitoring, StreamName=name)
        self.assertValidation(err, constraint(None, "shardLevelMetrics", NOT_NULL))
        missing = unique_name("nosuch")
        err = error_of(self.c.enable_enhanced_monitoring, StreamName=missing,
                       ShardLevelMetrics=["ALL"])
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (missing, self.account()))

    def test_not_active(self):
        name, _ = self.new_stream(shards=1, wait=False)
        err = error_of(self.c.enable_enhanced_monitoring, StreamName=name,
                       ShardLevelMetrics=["ALL"])
        self.assertError(err, "ResourceInUseException",
                         "Stream %s under account %s not ACTIVE, instead in state CREATING"
                         % (name, self.account()))


class Encryption(AwsTestCase):

    def test_records_carry_encryption_type(self):
        name, s = self.new_stream(shards=1)
        self.assertEqual(s["EncryptionType"], "NONE")
        self.assertNotIn("KeyId", s)
        r = self.c.put_record(StreamName=name, PartitionKey="a", Data=b"plain-1")
        self.assertEqual(r["EncryptionType"], "NONE")

        self.c.start_stream_encryption(StreamName=name, EncryptionType="KMS",
                                       KeyId="alias/aws/kinesis")
        s = wait_active(self.c, name)
        self.assertEqual(s["EncryptionType"], "KMS")
        self.assertEqual(s["KeyId"], "alias/aws/kinesis")
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual((d["EncryptionType"], d["KeyId"]), ("KMS", "alias/aws/kinesis"))
        r = self.c.put_record(StreamName=name, PartitionKey="a", Data=b"secret-1")
        self.assertEqual(r["EncryptionType"], "KMS")
        r = self.c.put_records(StreamName=name, Records=[
            {"PartitionKey": "a", "Data": b"secret-2"}, {"PartitionKey": "b", "Data": b"secret-3"}])
        self.assertEqual(r["FailedRecordCount"], 0)
        self.assertEqual(r["EncryptionType"], "KMS")

        self.c.stop_stream_encryption(StreamARN=s["StreamARN"], EncryptionType="KMS",
                                      KeyId="alias/aws/kinesis")
        s = wait_active(self.c, name)
        self.assertEqual(s["EncryptionType"], "NONE")
        self.assertNotIn("KeyId", s)
        r = self.c.put_records(StreamName=name, Records=[{"PartitionKey": "a", "Data": b"plain-2"}])
        self.assertEqual(r["EncryptionType"], "NONE")

        recs = read_all(self.c, name, want=5)
        got = [(x["Data"], x.get("EncryptionType", "NONE")) for x in recs]
        self.assertEqual(got, [(b"plain-1", "NONE"), (b"secret-1", "KMS"), (b"secret-2", "KMS"),
                               (b"secret-3", "KMS"), (b"plain-2", "NONE")])

    def test_errors(self):
        name, s = self.new_stream(shards=1)
        err = error_of(self.c.start_stream_encryption, StreamName=name)
        self.assertValidation(err, constraint(None, "encryptionType", NOT_NULL),
                              constraint(None, "keyId", NOT_NULL))
        err = error_of(self.c.start_stream_encryption, StreamName=name, EncryptionType="AES",
                       KeyId="k")
        self.assertValidation(err, constraint("AES", "encryptionType",
                                              "Member must satisfy enum value set: [NONE, KMS]"))
        err = error_of(self.c.start_stream_encryption, StreamName=name, EncryptionType="NONE",
                       KeyId="k")
        self.assertError(err, "InvalidArgumentException", message_re="KMS")
        err = error_of(self.c.stop_stream_encryption, StreamName=name, EncryptionType="NONE",
                       KeyId="k")
        self.assertError(err, "InvalidArgumentException", message_re="KMS")
        missing = unique_name("nosuch")
        err = error_of(self.c.stop_stream_encryption, StreamName=missing, EncryptionType="KMS",
                       KeyId="k")
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (missing, self.account()))
        self.assertEqual(wait_active(self.c, name)["EncryptionType"], "NONE")


class StreamMode(AwsTestCase):

    def test_switch_modes(self):
        name, s = self.new_stream(shards=2)
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "PROVISIONED"})
        self.c.update_stream_mode(StreamARN=s["StreamARN"],
                                  StreamModeDetails={"StreamMode": "ON_DEMAND"})
        s = wait_active(self.c, name)
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(d["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
        self.c.update_stream_mode(StreamARN=s["StreamARN"],
                                  StreamModeDetails={"StreamMode": "PROVISIONED"})
        s = wait_active(self.c, name)
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "PROVISIONED"})
        self.assertEqual(s["OpenShardCount"], 2)

    def test_errors(self):
        name, s = self.new_stream(shards=1)
        arn = s["StreamARN"]
        err = error_of(self.c.update_stream_mode, StreamARN=arn)
        self.assertValidation(err, constraint(None, "streamModeDetails", NOT_NULL))
        err = error_of(self.c.update_stream_mode, StreamARN=arn,
                       StreamModeDetails={"StreamMode": "FAST"})
        self.assertValidation(err, constraint(
            "FAST", "streamModeDetails.streamMode",
            "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))
        err = error_of(self.c.update_stream_mode, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertValidation(err, constraint(None, "streamARN", NOT_NULL))
        # Warm throughput only for ON_DEMAND, and only with the billing commitment.
        err = error_of(self.c.update_stream_mode, StreamARN=arn,
                       StreamModeDetails={"StreamMode": "PROVISIONED"}, WarmThroughputMiBps=10)
        self.assertError(err, "InvalidArgumentException", message_re="ON_DEMAND")
        err = error_of(self.c.update_stream_mode, StreamARN=arn,
                       StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=10)
        self.assertError(err, "InvalidArgumentException",
                         message_re="MinimumThroughputBillingCommitment")
        other = arn.replace(":%s:" % self.account(), ":123456789012:")
        err = error_of(self.c.update_stream_mode, StreamARN=other,
                       StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account 123456789012 not found." % name)
        self.assertEqual(wait_active(self.c, name)["StreamModeDetails"],
                         {"StreamMode": "PROVISIONED"})

    def test_not_active(self):
        name, _ = self.new_stream(shards=1, wait=False)
        arn = "arn:aws:kinesis:us-east-1:%s:stream/%s" % (self.account(), name)
        err = error_of(self.c.update_stream_mode, StreamARN=arn,
                       StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.assertError(err, "ResourceInUseException",
                         "Stream %s under account %s not ACTIVE, instead in state CREATING"
                         % (name, self.account()))


class ResourcePolicy(AwsTestCase):

    POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "w", "Effect": "Allow", "Principal": {"AWS": "123456789012"},
        "Action": ["kinesis:PutRecord"], "Resource": "*"}]})

    def test_put_get_delete(self):
        name, s = self.new_stream(shards=1)
        arn = s["StreamARN"]
        self.assertEqual(self.c.get_resource_policy(ResourceARN=arn)["Policy"], "{}")
        self.c.put_resource_policy(ResourceARN=arn, Policy=self.POLICY)
        wait_active(self.c, name)
        self.assertEqual(self.c.get_resource_policy(ResourceARN=arn)["Policy"], self.POLICY)
        self.c.delete_resource_policy(ResourceARN=arn)
        wait_active(self.c, name)
        self.assertEqual(self.c.get_resource_policy(ResourceARN=arn)["Policy"], "{}")

    def test_errors(self):
        name, s = self.new_stream(shards=1)
        arn = s["StreamARN"]
        acct = self.account()
        err = error_of(self.c.put_resource_policy, ResourceARN=arn)
        self.assertValidation(err, constraint(None, "policy", NOT_NULL))
        err = error_of(self.c.get_resource_policy, ResourceARN="stream/x")
        self.assertValidation(err, constraint(
            "stream/x", "resourceARN", "Member must satisfy regular expression pattern: "
            "arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+"))
        err = error_of(self.c.put_resource_policy, ResourceARN=arn, Policy="{not json")
        self.assertError(err, "InvalidArgumentException", message_re="JSON")
        err = error_of(self.c.put_resource_policy, ResourceARN=arn,
                       Policy='{"a":"%s"}' % ("x" * 21000))
        self.assertError(err, "InvalidArgumentException", message_re="maximum size")
        missing = unique_name("nosuch")
        err = error_of(self.c.get_resource_policy, ResourceARN=arn.replace(name, missing))
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (missing, acct))
        err = error_of(self.c.delete_resource_policy,
                       ResourceARN=arn.replace(":%s:" % acct, ":123456789012:"))
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account 123456789012 not found." % name)
        # Consumers: none can be registered yet, so every consumer ARN is unknown.
        consumer = "%s/consumer/c1:1700000000" % arn
        for fn in (self.c.get_resource_policy, self.c.delete_resource_policy):
            err = error_of(fn, ResourceARN=consumer)
            self.assertError(err, "ResourceNotFoundException",
                             "Consumer c1 with creation timestamp 1700000000 under stream %s "
                             "and account %s not found." % (name, acct))
        err = error_of(self.c.put_resource_policy, ResourceARN=consumer, Policy=self.POLICY)
        self.assertError(err, "ResourceNotFoundException", message_re="^Consumer c1 ")


class RecordSize(AwsTestCase):
    timeout_s = 240

    def test_default_limit_and_update(self):
        name, s = self.new_stream(shards=1)
        self.assertEqual(s["MaxRecordSizeInKiB"], 1024)
        self.c.put_record(StreamName=name, PartitionKey="k", Data=b"a" * MIB)
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="k",
                       Data=b"a" * (MIB + 1))
        self.assertError(err, "ValidationException",
                         "1 validation error detected: Value at 'data' failed to satisfy "
                         "constraint: Member must have length less than or equal to 1048576.")
        err = error_of(self.c.put_records, StreamName=name, Records=[
            {"PartitionKey": "k", "Data": b"x"}, {"PartitionKey": "k", "Data": b"b" * (MIB + 7)}])
        self.assertError(err, "ValidationException",
                         "1 validation error detected: Value at 'records.2.member.data' failed "
                         "to satisfy constraint: Member must have length less than or equal to "
                         "1048576.")

        self.c.update_max_record_size(StreamARN=s["StreamARN"], MaxRecordSizeInKiB=3072)
        s = wait_active(self.c, name)
        self.assertEqual(s["MaxRecordSizeInKiB"], 3072)
        big = bytes((i * 7) & 0xFF for i in range(3 * MIB))
        r = self.c.put_record(StreamName=name, PartitionKey="k", Data=big)
        self.assertEqual(r["ShardId"], "shardId-000000000000")
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="k", Data=big + b"!")
        self.assertError(err, "ValidationException",
                         "1 validation error detected: Value at 'data' failed to satisfy "
                         "constraint: Member must have length less than or equal to 3145728.")
        recs = read_all(self.c, name, want=2)
        self.assertEqual([len(x["Data"]) for x in recs], [MIB, 3 * MIB])
        self.assertEqual(recs[1]["Data"], big)

    def test_errors_and_create(self):
        name, s = self.new_stream(shards=1)
        err = error_of(self.c.update_max_record_size, StreamARN=s["StreamARN"],
                       MaxRecordSizeInKiB=1023)
        self.assertValidation(err, constraint(
            "1023", "maxRecordSizeInKiB", "Member must have value greater than or equal to 1024"))
        err = error_of(self.c.update_max_record_size, StreamARN=s["StreamARN"])
        self.assertValidation(err, constraint(None, "maxRecordSizeInKiB", NOT_NULL))
        err = error_of(self.c.update_max_record_size, MaxRecordSizeInKiB=2048)
        self.assertNoStream(err)
        # CreateStream keeps MaxRecordSizeInKiB.
        other = unique_name("big")
        self._streams.append(other)
        self.c.create_stream(StreamName=other, ShardCount=1, MaxRecordSizeInKiB=10240)
        self.assertEqual(wait_active(self.c, other)["MaxRecordSizeInKiB"], 10240)
        # The largest record there is: 10 MiB, stored and read back whole.
        biggest = bytes((i * 31) & 0xFF for i in range(10 * MIB))
        self.c.put_record(StreamName=other, PartitionKey="k", Data=biggest)
        recs = read_all(self.c, other, want=1)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["Data"], biggest)
        # Changing it needs an ACTIVE stream.
        fresh = unique_name("fresh")
        self._streams.append(fresh)
        self.c.create_stream(StreamName=fresh, ShardCount=1)
        err = error_of(self.c.update_max_record_size,
                       StreamARN=s["StreamARN"].replace(name, fresh), MaxRecordSizeInKiB=2048)
        self.assertError(err, "ResourceInUseException",
                         "Stream %s under account %s not ACTIVE, instead in state CREATING"
                         % (fresh, self.account()))


class WarmThroughput(AwsTestCase):

    def test_errors(self):
        name, s = self.new_stream(shards=1)
        err = error_of(self.c.update_stream_warm_throughput, StreamName=name)
        self.assertValidation(err, constraint(None, "warmThroughputMiBps", NOT_NULL))
        err = error_of(self.c.update_stream_warm_throughput, StreamName=name,
                       WarmThroughputMiBps=-1)
        self.assertValidation(err, constraint(
            "-1", "warmThroughputMiBps", "Member must have value greater than or equal to 0"))
        # A PROVISIONED stream has no warm throughput; neither has an
        # account without MinimumThroughputBillingCommitment.
        err = error_of(self.c.update_stream_warm_throughput, StreamName=name,
                       WarmThroughputMiBps=100)
        self.assertError(err, "InvalidArgumentException", message_re="ON_DEMAND")
        err = error_of(self.c.create_stream, StreamName=unique_name("warm"),
                       StreamModeDetails={"StreamMode": "PROVISIONED"}, ShardCount=1,
                       WarmThroughputMiBps=100)
        self.assertError(err, "InvalidArgumentException", message_re="ON_DEMAND")
        missing = unique_name("nosuch")
        err = error_of(self.c.update_stream_warm_throughput, StreamName=missing,
                       WarmThroughputMiBps=1)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (missing, self.account()))
        s = wait_active(self.c, name)
        self.assertNotIn("WarmThroughput", s)


class WarmThroughputCommitted(unittest.TestCase):
    """Warm throughput in an account with MinimumThroughputBillingCommitment,
    on a node of its own (the commitment cannot be undone at once)."""

    timeout_s = 120

    def test_create_update_and_mode(self):
        node = single_node(unique_name("warm"))
        node.start()
        try:
            c = client(node.endpoint)
            c.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
            name = unique_name("warm")
            c.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"},
                            WarmThroughputMiBps=50)
            s = wait_active(c, name)
            self.assertEqual(s["WarmThroughput"], {"TargetMiBps": 50, "CurrentMiBps": 50})
            r = c.update_stream_warm_throughput(StreamName=name, WarmThroughputMiBps=200)
            self.assertEqual((r["StreamName"], r["StreamARN"]), (name, s["StreamARN"]))
            self.assertEqual(r["WarmThroughput"], {"TargetMiBps": 200, "CurrentMiBps": 50})
            s = wait_active(c, name)
            self.assertEqual(s["WarmThroughput"], {"TargetMiBps": 200, "CurrentMiBps": 200})
            err = error_of(c.update_stream_warm_throughput, StreamARN=s["StreamARN"],
                           WarmThroughputMiBps=10241)
            self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
            # PROVISIONED drops it; going ON_DEMAND again can ask for one.
            c.update_stream_mode(StreamARN=s["StreamARN"],
                                 StreamModeDetails={"StreamMode": "PROVISIONED"})
            s = wait_active(c, name)
            self.assertNotIn("WarmThroughput", s)
            c.update_stream_mode(StreamARN=s["StreamARN"],
                                 StreamModeDetails={"StreamMode": "ON_DEMAND"},
                                 WarmThroughputMiBps=30)
            s = wait_active(c, name)
            self.assertEqual(s["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
            self.assertEqual(s["WarmThroughput"], {"TargetMiBps": 30, "CurrentMiBps": 30})
            stop_and_check(self, node)
        finally:
            node.stop()


class ClusterSettings(unittest.TestCase):
    """Settings changed through one gateway are what every gateway of a
    three-node cluster describes; records put through one are read with their
    EncryptionType through another."""

    timeout_s = 240

    def test_settings_seen_from_every_gateway(self):
        cluster = Cluster(unique_name("set2"))
        cluster.start()
        try:
            cluster.wait_healthy(timeout_s=60)
            c1, c2, c3 = (client(e) for e in cluster.endpoints())
            name = unique_name("shared")
            s = create_active(c1, name, shards=2)
            arn = s["StreamARN"]
            c1.enable_enhanced_monitoring(StreamName=name,
                                          ShardLevelMetrics=["IncomingRecords"])
            wait_active(c1, name)
            c1.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="k-123")
            wait_active(c1, name)
            c1.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)
            wait_active(c1, name)
            c1.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
            wait_active(c1, name)
            c1.put_resource_policy(ResourceARN=arn, Policy='{"Statement":[]}')
            wait_active(c1, name)
            for c in (c2, c3):
                s = c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
                self.assertEqual(s["EnhancedMonitoring"],
                                 [{"ShardLevelMetrics": ["IncomingRecords"]}])
                self.assertEqual((s["EncryptionType"], s["KeyId"]), ("KMS", "k-123"))
                self.assertEqual(s["MaxRecordSizeInKiB"], 2048)
                self.assertEqual(s["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
                self.assertEqual(s["RetentionPeriodHours"], 24)
                self.assertEqual(s["ConsumerCount"], 0)
                d = c.describe_stream(StreamName=name)["StreamDescription"]
                self.assertEqual((d["EncryptionType"], d["KeyId"]), ("KMS", "k-123"))
                self.assertEqual(d["EnhancedMonitoring"], s["EnhancedMonitoring"])
                self.assertEqual(d["StreamModeDetails"], {"StreamMode": "ON_DEMAND"})
                self.assertEqual(c.get_resource_policy(ResourceARN=arn)["Policy"],
                                 '{"Statement":[]}')
            # Written through node 2 (its catalogue has the encryption and the
            # record size), read through node 3.
            data = b"z" * (MIB + 100)
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = c2.put_record(StreamName=name, PartitionKey="p",
                                      ExplicitHashKey="0", Data=data)
                    break
                except botocore.exceptions.ClientError as e:
                    if time.monotonic() > deadline or \
                            e.response["Error"]["Code"] not in ("ValidationException",):
                        raise
                    time.sleep(0.2)  # node 2's routing copy of the catalogue lags
            self.assertEqual(r["EncryptionType"], "KMS")
            recs = read_all(c3, name, shard_id=r["ShardId"], want=1)
            self.assertEqual(len(recs), 1)
            self.assertEqual(recs[0]["Data"], data)
            self.assertEqual(recs[0]["EncryptionType"], "KMS")
            delete_quietly(c1, name)
            stop_and_check(self, *cluster.nodes)
        finally:
            cluster.stop_all_nodes()
