"""Control plane: CreateStream, DeleteStream, DescribeStream,
DescribeStreamSummary, ListStreams, ListShards, against AWS's documented
behaviour and error texts (docs/notes: peers.md §3, kinesalite's tests
recorded against AWS)."""

import datetime
import re

from harness import (NAME_RE_RULE, NOT_NULL, REGION, AwsTestCase, constraint, error_of,
                     even_ranges, unique_name, wait_status)

SEQ_RE = r"^(0|[1-9]\d{0,128})$"


class CreateStream(AwsTestCase):

    def test_default_is_four_shards_creating_then_active(self):
        name = unique_name("create")
        self._streams.append(name)
        resp = self.c.create_stream(StreamName=name)
        self.assertRequestId(resp)
        # "Upon receiving a CreateStream request, Kinesis Data Streams
        # immediately returns and sets the stream status to CREATING."
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(d["StreamStatus"], "CREATING")
        self.assertEqual(d["StreamName"], name)
        self.c.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertEqual(d["StreamStatus"], "ACTIVE")
        self.assertEqual(len(d["Shards"]), 4)
        self.assertEqual([s["ShardId"] for s in d["Shards"]],
                         ["shardId-%012d" % i for i in range(4)])

    def test_shard_count_and_description_fields(self):
        name, _ = self.new_stream(shards=3)
        d = self.c.describe_stream(StreamName=name)["StreamDescription"]
        self.assertRegex(d["StreamARN"], r"^arn:aws:kinesis:%s:\d{12}:stream/%s$"
                         % (REGION, re.escape(name)))
        self.assertEqual(d["RetentionPeriodHours"], 24)
        self.assertIsInstance(d["StreamCreationTimestamp"], datetime.datetime)
        age = datetime.datetime.now(datetime.timezone.utc) - d["StreamCreationTimestamp"]
        self.assertLess(abs(age.total_seconds()), 120)
        self.assertEqual(d["StreamModeDetails"], {"StreamMode": "PROVISIONED"})
        self.assertIn("EnhancedMonitoring", d)
        self.assertEqual(d.get("EncryptionType", "NONE"), "NONE")
        self.assertFalse(d["HasMoreShards"])
        self.assertEqual(len(d["Shards"]), 3)
        # The exact ranges AWS gave a 3-shard stream (kinesalite, recorded live).
        aws_ranges = [
            (0, 113427455640312821154458202477256070484),
            (113427455640312821154458202477256070485, 226854911280625642308916404954512140969),
            (226854911280625642308916404954512140970, 340282366920938463463374607431768211455),
        ]
        for s, (start, end) in zip(d["Shards"], aws_ranges):
            self.assertEqual(s["HashKeyRange"],
                             {"StartingHashKey": str(start), "EndingHashKey": str(end)})
            self.assertRegex(s["SequenceNumberRange"]["StartingSequenceNumber"], SEQ_RE)
            self.assertNotIn("EndingSequenceNumber", s["SequenceNumberRange"])
            self.assertNotIn("ParentShardId", s)

    def test_existing_name_is_resource_in_use(self):
        name, _ = self.new_stream(shards=1)
        err = error_of(self.c.create_stream, StreamName=name, ShardCount=1)
        self.assertError(err, "ResourceInUseException",
                         "Stream %s under account %s already exists." % (name, self.account()))

    def test_validation_texts(self):
        err = error_of(self.c.create_stream, ShardCount=1)
        self.assertValidation(err, constraint(None, "streamName", NOT_NULL))
        err = error_of(self.c.create_stream, StreamName="", ShardCount=1)
        self.assertValidation(
            err,
            constraint("", "streamName", NAME_RE_RULE),
            constraint("", "streamName", "Member must have length greater than or equal to 1"))
        err = error_of(self.c.create_stream, StreamName="bad name!", ShardCount=1)
        self.assertValidation(err, constraint("bad name!", "streamName", NAME_RE_RULE))
        long_name = "a" * 129
        err = error_of(self.c.create_stream, StreamName=long_name, ShardCount=1)
        self.assertValidation(
            err,
            constraint(long_name, "streamName", "Member must have length less than or equal to 128"))
        err = error_of(self.c.create_stream, StreamName=unique_name(), ShardCount=0)
        self.assertValidation(
            err, constraint("0", "shardCount", "Member must have value greater than or equal to 1"))

    def test_longest_valid_name(self):
        name = ("n-" + unique_name() + "." + "x" * 128)[:128]
        self._streams.append(name)
        self.c.create_stream(StreamName=name, ShardCount=1)
        wait_status(self.c, name, "ACTIVE")


class DeleteStream(AwsTestCase):

    def test_delete_then_not_found(self):
        name, _ = self.new_stream(shards=1)
        resp = self.c.delete_stream(StreamName=name)
        self.assertRequestId(resp)
        # DELETING for a while, then gone.
        try:
            s = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            self.assertEqual(s["StreamStatus"], "DELETING")
        except self.c.exceptions.ResourceNotFoundException:
            pass
        self.c.get_waiter("stream_not_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        err = error_of(self.c.describe_stream, StreamName=name)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))
        self.assertNotIn(name, self.c.list_streams(Limit=10000).get("StreamNames", []))

    def test_name_can_be_reused_after_delete(self):
        name, _ = self.new_stream(shards=1)
        self.c.delete_stream(StreamName=name)
        wait_status(self.c, name, None)
        self.c.create_stream(StreamName=name, ShardCount=2)
        s = wait_status(self.c, name, "ACTIVE")
        self.assertEqual(s["OpenShardCount"], 2)

    def test_unknown_stream(self):
        name = unique_name("nope")
        err = error_of(self.c.delete_stream, StreamName=name)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))

    def test_validation_texts(self):
        err = error_of(self.c.delete_stream, StreamName="bad/name")
        self.assertValidation(err, constraint("bad/name", "streamName", NAME_RE_RULE))


class DescribeStream(AwsTestCase):

    def test_paging_with_limit_and_exclusive_start(self):
        name, _ = self.new_stream()  # default: 4 shards
        ranges = even_ranges(4)
        d1 = self.c.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
        self.assertEqual([s["ShardId"] for s in d1["Shards"]],
                         ["shardId-000000000000", "shardId-000000000001"])
        self.assertTrue(d1["HasMoreShards"])
        d2 = self.c.describe_stream(StreamName=name, Limit=2,
                                    ExclusiveStartShardId="shardId-000000000001")
        d2 = d2["StreamDescription"]
        self.assertEqual([s["ShardId"] for s in d2["Shards"]],
                         ["shardId-000000000002", "shardId-000000000003"])
        self.assertFalse(d2["HasMoreShards"])
        for s, (start, end) in zip(d1["Shards"] + d2["Shards"], ranges):
            self.assertEqual(s["HashKeyRange"],
                             {"StartingHashKey": str(start), "EndingHashKey": str(end)})
        d3 = self.c.describe_stream(StreamName=name, Limit=1,
                                    ExclusiveStartShardId="shardId-000000000003")
        self.assertEqual(d3["StreamDescription"]["Shards"], [])
        self.assertFalse(d3["StreamDescription"]["HasMoreShards"])
        # One at a time: HasMoreShards until the last one.
        seen, last = [], None
        while True:
            kw = {"ExclusiveStartShardId": last} if last else {}
            d = self.c.describe_stream(StreamName=name, Limit=1, **kw)["StreamDescription"]
            self.assertEqual(len(d["Shards"]), 1)
            last = d["Shards"][0]["ShardId"]
            seen.append(last)
            if not d["HasMoreShards"]:
                break
            self.assertLess(len(seen), 4)
        self.assertEqual(seen, ["shardId-%012d" % i for i in range(4)])

    def test_unknown_stream(self):
        name = unique_name("nope")
        err = error_of(self.c.describe_stream, StreamName=name)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))

    def test_validation_texts(self):
        self.assertNoStream(error_of(self.c.describe_stream))
        err = error_of(self.c.describe_stream, StreamName="", Limit=0, ExclusiveStartShardId="")
        self.assertValidation(
            err,
            constraint("0", "limit", "Member must have value greater than or equal to 1"),
            constraint("", "exclusiveStartShardId", NAME_RE_RULE),
            constraint("", "exclusiveStartShardId",
                       "Member must have length greater than or equal to 1"),
            constraint("", "streamName", NAME_RE_RULE),
            constraint("", "streamName", "Member must have length greater than or equal to 1"))
        name = "a" * 129
        err = error_of(self.c.describe_stream, StreamName=name, Limit=100000,
                       ExclusiveStartShardId=name)
        self.assertValidation(
            err,
            constraint("100000", "limit", "Member must have value less than or equal to 10000"),
            constraint(name, "exclusiveStartShardId",
                       "Member must have length less than or equal to 128"),
            constraint(name, "streamName", "Member must have length less than or equal to 128"))


class DescribeStreamSummary(AwsTestCase):

    def test_fields(self):
        name, _ = self.new_stream(shards=2)
        resp = self.c.describe_stream_summary(StreamName=name)
        self.assertRequestId(resp)
        s = resp["StreamDescriptionSummary"]
        self.assertEqual(s["StreamName"], name)
        self.assertRegex(s["StreamARN"], r"^arn:aws:kinesis:%s:\d{12}:stream/%s$"
                         % (REGION, re.escape(name)))
        self.assertEqual(s["StreamStatus"], "ACTIVE")
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "PROVISIONED"})
        self.assertEqual(s["RetentionPeriodHours"], 24)
        self.assertIsInstance(s["StreamCreationTimestamp"], datetime.datetime)
        self.assertIn("EnhancedMonitoring", s)
        self.assertEqual(s["OpenShardCount"], 2)
        self.assertEqual(s.get("ConsumerCount", 0), 0)
        self.assertEqual(s.get("EncryptionType", "NONE"), "NONE")

    def test_unknown_stream(self):
        name = unique_name("nope")
        err = error_of(self.c.describe_stream_summary, StreamName=name)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))

    def test_validation_texts(self):
        err = error_of(self.c.describe_stream_summary, StreamName="a b")
        self.assertValidation(err, constraint("a b", "streamName", NAME_RE_RULE))


class ListStreams(AwsTestCase):

    def _names(self, prefix, n):
        names = ["%s-%d" % (prefix, i) for i in range(n)]
        for nm in names:
            self._streams.append(nm)
            self.c.create_stream(StreamName=nm, ShardCount=1)
        for nm in names:
            wait_status(self.c, nm, "ACTIVE")
        return names

    def test_paging_exclusive_start_and_next_token(self):
        prefix = unique_name("ls")
        mine = self._names(prefix, 3)
        # Paging by ExclusiveStartStreamName, Limit 1.
        by_name, start, pages = [], None, 0
        while True:
            kw = {"ExclusiveStartStreamName": start} if start else {}
            r = self.c.list_streams(Limit=1, **kw)
            self.assertLessEqual(len(r["StreamNames"]), 1)
            by_name.extend(r["StreamNames"])
            pages += 1
            self.assertLess(pages, 10000)
            if not r["HasMoreStreams"]:
                break
            start = r["StreamNames"][-1]
        # Paging by NextToken, Limit 2.
        by_token, token, pages = [], None, 0
        while True:
            r = self.c.list_streams(NextToken=token, Limit=2) if token else \
                self.c.list_streams(Limit=2)
            self.assertLessEqual(len(r["StreamNames"]), 2)
            by_token.extend(r["StreamNames"])
            # StreamSummaries mirrors StreamNames.
            self.assertEqual([s["StreamName"] for s in r["StreamSummaries"]], r["StreamNames"])
            pages += 1
            self.assertLess(pages, 10000)
            if not r["HasMoreStreams"]:
                self.assertNotIn("NextToken", r)
                break
            token = r["NextToken"]
        for names in (by_name, by_token):
            self.assertEqual(len(names), len(set(names)), "a stream listed twice: %r" % names)
            self.assertEqual(names, sorted(names), "ListStreams is not in name order")
            self.assertEqual([n for n in names if n.startswith(prefix + "-")], mine)
        # Starting right after the first of ours gives the other two next.
        r = self.c.list_streams(ExclusiveStartStreamName=mine[0], Limit=2)
        self.assertEqual(r["StreamNames"], mine[1:])

    def test_stream_summaries(self):
        prefix = unique_name("lss")
        mine = self._names(prefix, 1)
        r = self.c.list_streams(ExclusiveStartStreamName=prefix, Limit=1)
        self.assertEqual(r["StreamNames"], mine)
        s = r["StreamSummaries"][0]
        self.assertEqual(s["StreamName"], mine[0])
        self.assertRegex(s["StreamARN"], r"^arn:aws:kinesis:%s:\d{12}:stream/%s$"
                         % (REGION, re.escape(mine[0])))
        self.assertEqual(s["StreamStatus"], "ACTIVE")
        self.assertEqual(s["StreamModeDetails"], {"StreamMode": "PROVISIONED"})
        self.assertIsInstance(s["StreamCreationTimestamp"], datetime.datetime)

    def test_default_limit_is_100(self):
        r = self.c.list_streams()
        self.assertLessEqual(len(r["StreamNames"]), 100)
        self.assertIn("HasMoreStreams", r)

    def test_validation_texts(self):
        err = error_of(self.c.list_streams, ExclusiveStartStreamName="", Limit=0)
        self.assertValidation(
            err,
            constraint("0", "limit", "Member must have value greater than or equal to 1"),
            constraint("", "exclusiveStartStreamName", NAME_RE_RULE),
            constraint("", "exclusiveStartStreamName",
                       "Member must have length greater than or equal to 1"))
        name = "a" * 129
        err = error_of(self.c.list_streams, ExclusiveStartStreamName=name, Limit=1000000)
        self.assertValidation(
            err,
            constraint("1000000", "limit", "Member must have value less than or equal to 10000"),
            constraint(name, "exclusiveStartStreamName",
                       "Member must have length less than or equal to 128"))


class ListShards(AwsTestCase):

    def test_all_shards_and_ranges(self):
        name, _ = self.new_stream()
        r = self.c.list_shards(StreamName=name)
        self.assertRequestId(r)
        self.assertNotIn("NextToken", r)
        self.assertEqual([s["ShardId"] for s in r["Shards"]],
                         ["shardId-%012d" % i for i in range(4)])
        for s, (start, end) in zip(r["Shards"], even_ranges(4)):
            self.assertEqual(s["HashKeyRange"],
                             {"StartingHashKey": str(start), "EndingHashKey": str(end)})
            self.assertRegex(s["SequenceNumberRange"]["StartingSequenceNumber"], SEQ_RE)

    def test_max_results_and_next_token(self):
        name, _ = self.new_stream()
        r = self.c.list_shards(StreamName=name, MaxResults=1)
        seen = [s["ShardId"] for s in r["Shards"]]
        self.assertEqual(seen, ["shardId-000000000000"])
        token = r["NextToken"]
        pages = 1
        while token:
            r = self.c.list_shards(NextToken=token, MaxResults=1)
            self.assertLessEqual(len(r["Shards"]), 1)
            seen.extend(s["ShardId"] for s in r["Shards"])
            token = r.get("NextToken")
            pages += 1
            self.assertLessEqual(pages, 5, "NextToken keeps coming: %r" % seen)
        self.assertEqual(seen, ["shardId-%012d" % i for i in range(4)])

    def test_exclusive_start_shard_id(self):
        name, _ = self.new_stream()
        r = self.c.list_shards(StreamName=name, ExclusiveStartShardId="shardId-000000000001")
        self.assertEqual([s["ShardId"] for s in r["Shards"]],
                         ["shardId-000000000002", "shardId-000000000003"])

    def test_next_token_and_stream_name_together(self):
        name, _ = self.new_stream(shards=2)
        token = self.c.list_shards(StreamName=name, MaxResults=1)["NextToken"]
        err = error_of(self.c.list_shards, StreamName=name, NextToken=token)
        self.assertError(err, "InvalidArgumentException",
                         "NextToken and StreamName cannot be provided together.")

    def test_neither_next_token_nor_stream_name(self):
        err = error_of(self.c.list_shards)
        self.assertError(err, "InvalidArgumentException",
                         "Either NextToken or StreamName should be provided.")

    def test_unknown_stream(self):
        name = unique_name("nope")
        err = error_of(self.c.list_shards, StreamName=name)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))

    def test_validation_texts(self):
        name = "a" * 129
        err = error_of(self.c.list_shards, StreamName=name, MaxResults=100000,
                       ExclusiveStartShardId=name)
        self.assertValidation(
            err,
            constraint("100000", "maxResults", "Member must have value less than or equal to 10000"),
            constraint(name, "exclusiveStartShardId",
                       "Member must have length less than or equal to 128"),
            constraint(name, "streamName", "Member must have length less than or equal to 128"))
        err = error_of(self.c.list_shards, StreamName=unique_name(), MaxResults=0)
        self.assertValidation(
            err, constraint("0", "maxResults", "Member must have value greater than or equal to 1"))


class StreamARN(AwsTestCase):
    """StreamARN accepted in place of StreamName on every operation that
    takes a stream."""

    def test_arn_everywhere(self):
        name, summary = self.new_stream(shards=2)
        arn = summary["StreamARN"]
        s = self.c.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]
        self.assertEqual(s["StreamName"], name)
        d = self.c.describe_stream(StreamARN=arn)["StreamDescription"]
        self.assertEqual(d["StreamName"], name)
        self.assertEqual(len(self.c.list_shards(StreamARN=arn)["Shards"]), 2)
        put = self.c.put_record(StreamARN=arn, PartitionKey="k", Data=b"by-arn")
        batch = self.c.put_records(StreamARN=arn, Records=[{"PartitionKey": "k", "Data": b"b2"}])
        self.assertEqual(batch["FailedRecordCount"], 0)
        it = self.c.get_shard_iterator(StreamARN=arn, ShardId=put["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = self.c.get_records(ShardIterator=it, StreamARN=arn)["Records"]
        self.assertEqual([r["Data"] for r in recs], [b"by-arn", b"b2"])
        self.c.delete_stream(StreamARN=arn)
        wait_status(self.c, name, None)

    def test_unknown_arn(self):
        name = unique_name("nope")
        arn = "arn:aws:kinesis:%s:%s:stream/%s" % (REGION, self.account(), name)
        err = error_of(self.c.describe_stream_summary, StreamARN=arn)
        self.assertError(err, "ResourceNotFoundException",
                         "Stream %s under account %s not found." % (name, self.account()))


class UnknownStream(AwsTestCase):
    """Every stream operation on a stream that does not exist."""

    def test_texts(self):
        name = unique_name("nope")
        acct = self.account()
        want = "Stream %s under account %s not found." % (name, acct)
        calls = [
            (self.c.put_record, dict(StreamName=name, PartitionKey="k", Data=b"x")),
            (self.c.put_records, dict(StreamName=name,
                                      Records=[{"PartitionKey": "k", "Data": b"x"}])),
            (self.c.describe_stream, dict(StreamName=name)),
            (self.c.describe_stream_summary, dict(StreamName=name)),
            (self.c.list_shards, dict(StreamName=name)),
            (self.c.delete_stream, dict(StreamName=name)),
        ]
        for fn, kw in calls:
            with self.subTest(op=fn.__name__):
                self.assertError(error_of(fn, **kw), "ResourceNotFoundException", want)
        # GetShardIterator names the shard, not the stream.
        err = error_of(self.c.get_shard_iterator, StreamName=name,
                       ShardId="shardId-000000000000", ShardIteratorType="LATEST")
        self.assertError(err, "ResourceNotFoundException",
                         "Shard shardId-000000000000 in stream %s under account %s does not exist"
                         % (name, acct))
