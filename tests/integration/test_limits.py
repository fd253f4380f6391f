"""Service limits (eddyd --limits aws|dev, --limit KEY=VALUE).

With --limits aws a node enforces AWS's per-shard write limits (1,000
records/s and 1 MiB/s, per record inside PutRecords), read limits (5
GetRecords calls/s and 2 MiB/s per shard), the control-plane call rates
(LimitExceededException, GetShardIterator's ProvisionedThroughputExceeded-
Exception) and the account quotas, with AWS's messages. With --limits dev
(the default) the same bursts all succeed. Every burst is bounded, and the
assertions allow for the time a burst took: what was accepted never exceeds
the burst plus the steady rate over that time.
"""

import subprocess
import threading
import time
import unittest

import botocore.exceptions

from harness import (HASH_MAX, Cluster, client, create_active, eddyd_path, error_of,
                     single_node, unique_name, wait_status)

ACCOUNT = "123456789012"
PTE = "ProvisionedThroughputExceededException"
SHARD0_KEY = "0"                     # ExplicitHashKey of shardId-000000000000 (of 2)
SHARD1_KEY = str(HASH_MAX // 2 + 10)  # ExplicitHashKey of shardId-000000000001
WRITE_RECORDS_PER_S = 1000
WRITE_BYTES_PER_S = 1024 * 1024
READ_CALLS_PER_S = 5
SLACK = 2  # calls or records of rounding at the edges of a measured window


def records(n, key, size=10):
    return [{"Data": b"x" * size, "PartitionKey": "pk", "ExplicitHashKey": key} for _ in range(n)]


def put_burst(c, name, key, calls, n=500, size=10):
    """calls PutRecords of n records to one shard back to back. Returns
    (accepted, refused responses' entries, seconds taken)."""
    accepted = 0
    refused = []
    t0 = time.monotonic()
    for _ in range(calls):
        resp = c.put_records(StreamName=name, Records=records(n, key, size))
        failed = [r for r in resp["Records"] if "ErrorCode" in r]
        if resp["FailedRecordCount"] != len(failed):
            raise AssertionError("FailedRecordCount %d but %d records carry an ErrorCode"
                                 % (resp["FailedRecordCount"], len(failed)))
        accepted += n - len(failed)
        refused.extend(failed)
    return accepted, refused, time.monotonic() - t0


class Base(unittest.TestCase):
    profile_args = []
    timeout_s = 180

    @classmethod
    def setUpClass(cls):
        cls.node = single_node(unique_name("limits"))
        cls.node.args += ["--account", ACCOUNT, "--creating-ms", "2500"] + cls.profile_args
        cls.node.start()
        cls.c = client(cls.node.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()  # an unclean stop is reported by the runner

    def stream(self, shards=2):
        name = unique_name("lim")
        # CreateStream is 5 a second with aws: wait out a refusal.
        for _ in range(50):
            try:
                create_active(self.c, name, shards)
                return name
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "LimitExceededException":
                    raise
                time.sleep(0.3)
        raise AssertionError("could not create %s" % name)

    def quiet(self):
        """Lets every bucket refill (they hold one second of their rate)."""
        time.sleep(1.2)


class AwsLimits(Base):
    profile_args = ["--limits", "aws", "--limit", "shard-limit=40"]

    def assertPte(self, err, message):
        self.assertEqual(err.response["Error"]["Code"], PTE)
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(err.response["Error"]["Message"], message)

    def test_put_records_burst_throttles_one_shard_per_record(self):
        name = self.stream()
        self.quiet()
        accepted, refused, took = put_burst(self.c, name, SHARD0_KEY, calls=4)
        self.assertGreater(len(refused), 0, "2,000 records in %.2fs were all accepted" % took)
        self.assertLessEqual(accepted, WRITE_RECORDS_PER_S * (1 + took) + SLACK,
                             "%d records accepted in %.2fs" % (accepted, took))
        message = ("Rate exceeded for shard shardId-000000000000 in stream %s under account %s."
                   % (name, ACCOUNT))
        for r in refused:
            self.assertEqual(r, {"ErrorCode": PTE, "ErrorMessage": message})
        # Right after, in one call: the spent shard refuses (it has refilled
        # one record a millisecond since), the other accepts.
        mixed = records(400, SHARD0_KEY) + records(100, SHARD1_KEY)
        resp = self.c.put_records(StreamName=name, Records=mixed)
        hot = resp["Records"][:400]
        cold = resp["Records"][400:]
        self.assertTrue(all(r["ShardId"] == "shardId-000000000001" and "SequenceNumber" in r
                            for r in cold), cold[:3])
        self.assertGreater(sum("ErrorCode" in r for r in hot), 0)
        self.assertEqual(resp["FailedRecordCount"], sum("ErrorCode" in r for r in hot))
        # The other shard takes a full burst of its own.
        accepted1, refused1, _ = put_burst(self.c, name, SHARD1_KEY, calls=1)
        self.assertEqual((accepted1, refused1), (500, []))
        # PutRecord on a spent shard fails whole. The bytes bucket shows it
        # best: spent by 1.6 MB, it refills ~1 KiB a millisecond, far from
        # the 900,000 bytes of the record.
        self.quiet()
        put_burst(self.c, name, SHARD0_KEY, calls=1, n=8, size=200000)
        err = error_of(self.c.put_record, StreamName=name, Data=b"x" * 900000, PartitionKey="pk",
                       ExplicitHashKey=SHARD0_KEY)
        self.assertPte(err, message)
        # A second later the shard writes again.
        self.quiet()
        self.assertEqual(put_burst(self.c, name, SHARD0_KEY, calls=1)[:2], (500, []))

    def test_put_records_bytes_per_shard(self):
        name = self.stream()
        self.quiet()
        # 8 records of 200,000 bytes: 1.6 MB for a 1 MiB burst.
        t0 = time.monotonic()
        resp = self.c.put_records(StreamName=name, Records=records(8, SHARD1_KEY, 200000))
        took = time.monotonic() - t0
        ok = [r for r in resp["Records"] if "ErrorCode" not in r]
        self.assertGreater(resp["FailedRecordCount"], 0)
        self.assertLessEqual(len(ok) * 200002, WRITE_BYTES_PER_S * (1 + took) + 200002)
        self.assertEqual(resp["Records"][-1]["ErrorMessage"],
                         "Rate exceeded for shard shardId-000000000001 in stream %s under "
                         "account %s." % (name, ACCOUNT))

    def test_get_records_over_5_per_second_throttles(self):
        name = self.stream()
        self.c.put_record(StreamName=name, Data=b"r", PartitionKey="pk", ExplicitHashKey=SHARD0_KEY)
        its = {}
        for shard in ("shardId-000000000000", "shardId-000000000001"):
            its[shard] = self.c.get_shard_iterator(
                StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        self.quiet()
        it = its["shardId-000000000000"]
        served = 0
        err = None
        t0 = time.monotonic()
        for _ in range(15):
            try:
                it = self.c.get_records(ShardIterator=it, Limit=10)["NextShardIterator"]
                served += 1
            except botocore.exceptions.ClientError as e:
                err = e
                break
        took = time.monotonic() - t0
        self.assertIsNotNone(err, "15 GetRecords in %.2fs were all served" % took)
        self.assertLessEqual(served, READ_CALLS_PER_S * (1 + took) + 1)
        self.assertPte(err, "Rate exceeded for Shard - %s/%s/shardId-000000000000"
                       % (ACCOUNT, name))
        # The other shard reads on; the throttled one does after a pause.
        self.c.get_records(ShardIterator=its["shardId-000000000001"])
        self.quiet()
        self.c.get_records(ShardIterator=it)

    def test_control_plane_burst(self):
        name = self.stream()
        self.quiet()
        # DescribeStreamSummary: 20 a second per account.
        ok = 0
        err = None
        t0 = time.monotonic()
        for _ in range(60):
            try:
                self.c.describe_stream_summary(StreamName=name)
                ok += 1
            except botocore.exceptions.ClientError as e:
                err = e
                break
        took = time.monotonic() - t0
        self.assertIsNotNone(err, "60 DescribeStreamSummary in %.2fs all served" % took)
        self.assertLessEqual(ok, 20 * (1 + took) + SLACK)
        self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
        self.assertEqual(err.response["Error"]["Message"],
                         "Rate exceeded for stream %s under account %s." % (name, ACCOUNT))
        # ListStreams names no stream.
        errs = []
        for _ in range(20):
            try:
                self.c.list_streams()
            except botocore.exceptions.ClientError as e:
                errs.append(e)
        self.assertTrue(errs)
        self.assertEqual(errs[0].response["Error"]["Message"],
                         "Rate exceeded for account %s." % ACCOUNT)
        # GetShardIterator: 5 a second per shard, ProvisionedThroughputExceeded.
        errs = []
        for _ in range(15):
            try:
                self.c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000001",
                                          ShardIteratorType="LATEST")
            except botocore.exceptions.ClientError as e:
                errs.append(e)
        self.assertTrue(errs)
        self.assertPte(errs[0], "Rate exceeded for shard shardId-000000000001 in stream %s under "
                       "account %s." % (name, ACCOUNT))
        self.c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                  ShardIteratorType="LATEST")

    def test_quotas(self):
        self.quiet()
        # --limit shard-limit=40: a request past it is refused with AWS's text.
        err = error_of(self.c.create_stream, StreamName=unique_name("big"), ShardCount=41)
        self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
        self.assertRegex(err.response["Error"]["Message"],
                         r"^This request would exceed the shard limit for the account %s in "
                         r"us-east-1\. Current shard count for the account: \d+\. Limit: 40\. "
                         r"Number of additional shards that would have resulted from this "
                         r"request: 41\. " % ACCOUNT)
        # At most 5 streams CREATING (each stays so 2.5 s here).
        self.quiet()
        names = []
        err = None
        extra = None
        try:
            for _ in range(5):
                n = unique_name("tr")
                self.c.create_stream(StreamName=n, ShardCount=1)
                names.append(n)
            self.quiet()  # the CreateStream rate, not the CREATING count, is spent
            extra = unique_name("tr")
            try:
                self.c.create_stream(StreamName=extra, ShardCount=1)
            except botocore.exceptions.ClientError as e:
                err = e
            self.assertIsNotNone(err, "a 6th stream was created while 5 were CREATING")
            self.assertEqual(err.response["Error"]["Code"], "LimitExceededException")
            self.assertEqual(err.response["Error"]["Message"],
                             "This request would have exceed the limit on the number of "
                             "streams that can simultaneously be in CREATING or DELETING for "
                             "the account %s. Limit: 5." % ACCOUNT)
        finally:
            if err is None and extra is not None:
                names.append(extra)
            for n in names:
                for _ in range(50):
                    try:
                        wait_status(self.c, n, "ACTIVE", timeout_s=30)
                        self.c.delete_stream(StreamName=n)
                        break
                    except botocore.exceptions.ClientError as e:
                        if e.response["Error"]["Code"] != "LimitExceededException":
                            raise
                        time.sleep(0.3)


class DevLimits(Base):
    profile_args = ["--limits", "dev"]

    def test_dev_profile_limits_nothing(self):
        name = self.stream()
        accepted, refused, _ = put_burst(self.c, name, SHARD0_KEY, calls=6)
        self.assertEqual((accepted, refused), (3000, []))
        resp = self.c.put_records(StreamName=name, Records=records(8, SHARD0_KEY, 200000))
        self.assertEqual(resp["FailedRecordCount"], 0)
        it = self.c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(20):
            it = self.c.get_records(ShardIterator=it, Limit=10)["NextShardIterator"]
        for _ in range(60):
            self.c.describe_stream_summary(StreamName=name)
        for _ in range(20):
            self.c.list_streams()
            self.c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000001",
                                      ShardIteratorType="LATEST")
        for _ in range(8):
            self.c.create_stream(StreamName=unique_name("dev"), ShardCount=1)


class ClusterAwsLimits(unittest.TestCase):
    """Three nodes with --limits aws: a shard's write limit holds for the
    whole cluster, whichever gateways the writes come through."""

    timeout_s = 240

    def setUp(self):
        self.cluster = Cluster(unique_name("lim3"), extra_args=("--limits", "aws"))
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

    def test_write_limit_is_per_shard_across_gateways(self):
        clients = [client(e) for e in self.cluster.endpoints()]
        name = unique_name("lim3")
        create_active(clients[0], name, 1)
        for c in clients:
            wait_status(c, name, "ACTIVE")
        time.sleep(1.2)
        results = [None] * len(clients)

        def burst(i):
            try:
                results[i] = put_burst(clients[i], name, SHARD0_KEY, calls=3)
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=burst, args=(i,)) for i in range(len(clients))]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        took = time.monotonic() - t0
        for r in results:
            if not isinstance(r, tuple):
                raise AssertionError("a burst failed: %r" % (r,))
        accepted = sum(r[0] for r in results)
        refused = sum(len(r[1]) for r in results)
        self.assertEqual(accepted + refused, 4500)
        # Per gateway it would be up to 1,000 each; per shard it is 1,000 in all.
        self.assertLessEqual(accepted, WRITE_RECORDS_PER_S * (1 + took) + SLACK,
                             "%d of 4,500 records accepted in %.2fs" % (accepted, took))
        self.assertGreater(refused, 0)


class LimitFlags(unittest.TestCase):
    def test_bad_flags_are_usage_errors(self):
        for args in (["--limits", "nope"], ["--limit", "bogus=1"],
                     ["--limit", "write-records-per-s=-1"], ["--limit", "burst-ms=0"]):
            p = subprocess.run([eddyd_path(), "--roles", "gateway"] + args, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(args[1], p.stderr)
        p = subprocess.run([eddyd_path(), "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("--limits aws|dev", p.stdout)


if __name__ == "__main__":
    unittest.main()
