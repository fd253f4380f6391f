"""Data plane: PutRecord, PutRecords, GetShardIterator, GetRecords, with
AWS's routing, ordering, iterator semantics and error texts."""

import datetime
import time

from harness import (HASH_MAX, NOT_NULL, AwsTestCase, constraint, error_of, even_ranges,
                     md5_hash_key, read_shard, shard_for, wait_status)

SEQ_RE = r"^(0|[1-9]\d{0,128})$"
EHK_RULE = "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
SEQ_RULE = "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
ITERATOR_TYPES = "[AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
SPEC_MSG = ("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
            "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. "
            "Request specified %s.")


def shard_id(i):
    return "shardId-%012d" % i


class PutRecord(AwsTestCase):

    def test_partition_key_routing_is_md5(self):
        name, _ = self.new_stream()
        shards = self.c.list_shards(StreamName=name)["Shards"]
        for i in range(16):
            pk = "partition-%d" % i
            r = self.c.put_record(StreamName=name, PartitionKey=pk, Data=b"d")
            self.assertRequestId(r)
            self.assertEqual(r["ShardId"], shard_for(md5_hash_key(pk), shards), pk)
            self.assertRegex(r["SequenceNumber"], SEQ_RE)
            self.assertEqual(r.get("EncryptionType", "NONE"), "NONE")

    def test_explicit_hash_key_routing(self):
        name, _ = self.new_stream()
        for i, (start, end) in enumerate(even_ranges(4)):
            for key in (start, end):
                r = self.c.put_record(StreamName=name, PartitionKey="same", Data=b"d",
                                      ExplicitHashKey=str(key))
                self.assertEqual(r["ShardId"], shard_id(i), "ExplicitHashKey %d" % key)

    def test_explicit_hash_key_out_of_range(self):
        name, _ = self.new_stream(shards=1)
        key = str(2**128)
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="a", Data=b"",
                       ExplicitHashKey=key)
        self.assertError(err, "InvalidArgumentException",
                         "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                         "[0, 2^128-1]. Specified value was " + key)

    def test_explicit_hash_key_not_a_number(self):
        name, _ = self.new_stream(shards=1)
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="a", Data=b"",
                       ExplicitHashKey="0x10")
        self.assertValidation(err, constraint("0x10", "explicitHashKey", EHK_RULE))

    def test_sequence_number_for_ordering(self):
        name, _ = self.new_stream(shards=1)
        first = self.c.put_record(StreamName=name, PartitionKey="k", Data=b"1")
        second = self.c.put_record(StreamName=name, PartitionKey="k", Data=b"2",
                                   SequenceNumberForOrdering=first["SequenceNumber"])
        self.assertGreater(int(second["SequenceNumber"]), int(first["SequenceNumber"]))
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="k", Data=b"3",
                       SequenceNumberForOrdering="01")
        self.assertValidation(err, constraint("01", "sequenceNumberForOrdering", SEQ_RULE))

    def test_sequence_numbers_increase_per_shard(self):
        name, _ = self.new_stream(shards=1)
        seqs = [int(self.c.put_record(StreamName=name, PartitionKey="p%d" % i,
                                      Data=b"x")["SequenceNumber"]) for i in range(20)]
        self.assertEqual(seqs, sorted(set(seqs)))

    def test_empty_data_and_max_partition_key(self):
        name, _ = self.new_stream(shards=1)
        pk = "k" * 256
        r = self.c.put_record(StreamName=name, PartitionKey=pk, Data=b"")
        recs = read_shard(self.c, name, r["ShardId"])
        self.assertEqual([(x["PartitionKey"], x["Data"]) for x in recs], [(pk, b"")])

    def test_validation_texts(self):
        # StreamName is optional in the model since StreamARN came (2022):
        # only the members the model requires are "must not be null".
        err = error_of(self.c.put_record)
        self.assertValidation(err, constraint(None, "partitionKey", NOT_NULL),
                              constraint(None, "data", NOT_NULL))
        name, _ = self.new_stream(shards=1)
        long_pk = "p" * 257
        err = error_of(self.c.put_record, StreamName=name, PartitionKey=long_pk, Data=b"x")
        self.assertValidation(err, constraint(long_pk, "partitionKey",
                                              "Member must have length less than or equal to 256"))
        err = error_of(self.c.put_record, StreamName=name, PartitionKey="", Data=b"x")
        self.assertValidation(err, constraint("", "partitionKey",
                                              "Member must have length greater than or equal to 1"))


class PutRecords(AwsTestCase):

    def test_500_records_with_per_record_results(self):
        name, _ = self.new_stream()
        shards = self.c.list_shards(StreamName=name)["Shards"]
        entries = [{"PartitionKey": "pk-%d" % i, "Data": ("record %d" % i).encode()}
                   for i in range(500)]
        r = self.c.put_records(StreamName=name, Records=entries)
        self.assertRequestId(r)
        self.assertEqual(r["FailedRecordCount"], 0)
        self.assertEqual(len(r["Records"]), 500)
        for e, res in zip(entries, r["Records"]):
            self.assertNotIn("ErrorCode", res)
            self.assertRegex(res["SequenceNumber"], SEQ_RE)
            self.assertEqual(res["ShardId"], shard_for(md5_hash_key(e["PartitionKey"]), shards))
        # Per shard, in request order, sequence numbers strictly increase.
        last = {}
        for res in r["Records"]:
            seq = int(res["SequenceNumber"])
            self.assertGreater(seq, last.get(res["ShardId"], -1))
            last[res["ShardId"]] = seq

    def test_explicit_hash_keys_in_a_batch(self):
        name, _ = self.new_stream()
        ranges = even_ranges(4)
        keys = [ranges[3][1], ranges[0][0], ranges[2][0], ranges[1][1], ranges[0][1]]
        r = self.c.put_records(StreamName=name, Records=[
            {"PartitionKey": "a", "Data": b"", "ExplicitHashKey": str(k)} for k in keys])
        self.assertEqual([x["ShardId"] for x in r["Records"]],
                         [shard_id(3), shard_id(0), shard_id(2), shard_id(1), shard_id(0)])

    def test_501_records_is_a_validation_error(self):
        name, _ = self.new_stream(shards=1)
        entries = [{"PartitionKey": "a", "Data": b"x"} for _ in range(501)]
        err = error_of(self.c.put_records, StreamName=name, Records=entries)
        self.assertError(err, "ValidationException")
        msg = err.response["Error"]["Message"]
        # AWS prints the list with Java's toString; the frame is exact.
        self.assertTrue(msg.startswith("1 validation error detected: Value '["), msg[:200])
        self.assertTrue(msg.endswith("]' at 'records' failed to satisfy constraint: "
                                     "Member must have length less than or equal to 500"),
                        msg[-200:])

    def test_empty_records_is_a_validation_error(self):
        name, _ = self.new_stream(shards=1)
        err = error_of(self.c.put_records, StreamName=name, Records=[])
        self.assertValidation(err, constraint(
            "[]", "records", "Member must have length greater than or equal to 1"))

    def test_bad_explicit_hash_key_fails_the_whole_call(self):
        name, _ = self.new_stream(shards=1)
        key = str(2**128)
        err = error_of(self.c.put_records, StreamName=name, Records=[
            {"PartitionKey": "a", "Data": b"", "ExplicitHashKey": key},
            {"PartitionKey": "a", "Data": b""}])
        self.assertError(err, "InvalidArgumentException",
                         "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                         "[0, 2^128-1]. Specified value was " + key)
        self.assertEqual(read_shard(self.c, name, shard_id(0)), [])

    def test_member_validation_paths(self):
        name, _ = self.new_stream(shards=1)
        err = error_of(self.c.put_records, StreamName=name, Records=[
            {"PartitionKey": "ok", "Data": b""},
            {"PartitionKey": "", "Data": b"", "ExplicitHashKey": ""}])
        self.assertValidation(
            err,
            constraint("", "records.2.member.partitionKey",
                       "Member must have length greater than or equal to 1"),
            constraint("", "records.2.member.explicitHashKey", EHK_RULE))

    def test_validation_texts(self):
        err = error_of(self.c.put_records)
        self.assertValidation(err, constraint(None, "records", NOT_NULL))
        err = error_of(self.c.put_records, Records=[{"PartitionKey": "k", "Data": b"x"}])
        self.assertNoStream(err)


class GetShardIterator(AwsTestCase):

    def setUp(self):
        super().setUp()
        self.name, _ = self.new_stream(shards=1)
        self.sid = shard_id(0)

    def put(self, *datas):
        return [self.c.put_record(StreamName=self.name, PartitionKey="k", Data=d)["SequenceNumber"]
                for d in datas]

    def read(self, iterator_type, **kw):
        return [r["Data"] for r in read_shard(self.c, self.name, self.sid, iterator_type, **kw)]

    def test_trim_horizon(self):
        self.put(b"a", b"b", b"c")
        self.assertEqual(self.read("TRIM_HORIZON"), [b"a", b"b", b"c"])

    def test_latest_sees_only_later_records(self):
        self.put(b"before")
        r = self.c.get_shard_iterator(StreamName=self.name, ShardId=self.sid,
                                      ShardIteratorType="LATEST")
        self.assertRequestId(r)
        it = r["ShardIterator"]
        first = self.c.get_records(ShardIterator=it)
        self.assertEqual(first["Records"], [])
        self.put(b"after1", b"after2")
        # The original LATEST iterator is pinned at its creation: it sees both.
        again = self.c.get_records(ShardIterator=it)
        self.assertEqual([x["Data"] for x in again["Records"]], [b"after1", b"after2"])
        # So does the NextShardIterator of the empty read.
        nxt = self.c.get_records(ShardIterator=first["NextShardIterator"])
        self.assertEqual([x["Data"] for x in nxt["Records"]], [b"after1", b"after2"])

    def test_at_and_after_sequence_number(self):
        seqs = self.put(b"a", b"b", b"c")
        self.assertEqual(self.read("AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1]),
                         [b"b", b"c"])
        self.assertEqual(self.read("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1]),
                         [b"c"])
        self.assertEqual(self.read("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]), [])

    def test_at_timestamp(self):
        # boto3 sends Timestamp in whole epoch seconds: keep 1.5 s either side.
        self.put(b"old1", b"old2")
        time.sleep(1.5)
        ts = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.5)
        self.put(b"new1", b"new2")
        self.assertEqual(self.read("AT_TIMESTAMP", Timestamp=ts), [b"new1", b"new2"])
        early = datetime.datetime(2015, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertEqual(self.read("AT_TIMESTAMP", Timestamp=early),
                         [b"old1", b"old2", b"new1", b"new2"])
        # Arrival timestamps are on the records, and in order.
        recs = read_shard(self.c, self.name, self.sid, "TRIM_HORIZON")
        stamps = [r["ApproximateArrivalTimestamp"] for r in recs]
        self.assertEqual(stamps, sorted(stamps))
        self.assertLess(stamps[1], ts)
        self.assertGreater(stamps[2], ts)

    def test_at_timestamp_errors(self):
        err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                       ShardIteratorType="AT_TIMESTAMP")
        self.assertError(err, "InvalidArgumentException",
                         "Must specify timestampInMillis parameter for iterator of type "
                         "AT_TIMESTAMP. Current request has no timestamp parameter.")
        future = (datetime.datetime.now(datetime.timezone.utc)
                  + datetime.timedelta(hours=1)).replace(microsecond=0)
        err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                       ShardIteratorType="AT_TIMESTAMP", Timestamp=future)
        self.assertError(err, "InvalidArgumentException", message_re=(
            r"^The timestampInMillis parameter cannot be greater than the "
            r"currentTimestampInMillis\. timestampInMillis: %d, currentTimestampInMillis: \d+$"
            % int(future.timestamp() * 1000)))

    def test_sequence_number_argument_errors(self):
        for typ, want in (
                ("AT_SEQUENCE_NUMBER", "AT_SEQUENCE_NUMBER and no StartingSequenceNumber"),
                ("AFTER_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber")):
            with self.subTest(type=typ):
                err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                               ShardIteratorType=typ)
                self.assertError(err, "InvalidArgumentException", SPEC_MSG % want)
        seq = self.put(b"x")[0]
        for typ in ("LATEST", "TRIM_HORIZON"):
            with self.subTest(type=typ):
                err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                               ShardIteratorType=typ, StartingSequenceNumber=seq)
                self.assertError(err, "InvalidArgumentException",
                                 SPEC_MSG % (typ + " and also a StartingSequenceNumber"))

    def test_unknown_shard(self):
        err = error_of(self.c.get_shard_iterator, StreamName=self.name,
                       ShardId="shardId-000000000005", ShardIteratorType="LATEST")
        self.assertError(err, "ResourceNotFoundException",
                         "Shard shardId-000000000005 in stream %s under account %s does not exist"
                         % (self.name, self.account()))

    def test_validation_texts(self):
        err = error_of(self.c.get_shard_iterator)
        self.assertValidation(err, constraint(None, "shardId", NOT_NULL),
                              constraint(None, "shardIteratorType", NOT_NULL))
        err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                       ShardIteratorType="SOMEWHERE")
        self.assertValidation(err, constraint(
            "SOMEWHERE", "shardIteratorType", "Member must satisfy enum value set: " + ITERATOR_TYPES))
        err = error_of(self.c.get_shard_iterator, StreamName=self.name, ShardId=self.sid,
                       ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber="abc")
        self.assertValidation(err, constraint("abc", "startingSequenceNumber", SEQ_RULE))


class GetRecords(AwsTestCase):

    def setUp(self):
        super().setUp()
        self.name, _ = self.new_stream(shards=1)
        self.sid = shard_id(0)

    def iterator(self, typ="TRIM_HORIZON"):
        return self.c.get_shard_iterator(StreamName=self.name, ShardId=self.sid,
                                         ShardIteratorType=typ)["ShardIterator"]

    def test_limit_and_next_shard_iterator_chain(self):
        put = self.c.put_records(StreamName=self.name, Records=[
            {"PartitionKey": "k%d" % i, "Data": b"r%d" % i} for i in range(10)])
        want = [(b"r%d" % i, "k%d" % i, put["Records"][i]["SequenceNumber"]) for i in range(10)]
        it, got, sizes = self.iterator(), [], []
        for _ in range(8):
            r = self.c.get_records(ShardIterator=it, Limit=3)
            self.assertRequestId(r)
            sizes.append(len(r["Records"]))
            got.extend((x["Data"], x["PartitionKey"], x["SequenceNumber"]) for x in r["Records"])
            self.assertIsNotNone(r.get("NextShardIterator"), "open shard: always a next iterator")
            self.assertIsInstance(r["MillisBehindLatest"], int)
            self.assertGreaterEqual(r["MillisBehindLatest"], 0)
            it = r["NextShardIterator"]
            if len(got) == 10:
                break
        self.assertEqual(sizes[0], 3, sizes)
        self.assertLessEqual(max(sizes), 3, sizes)
        self.assertEqual(got, want)
        self.assertEqual(r["MillisBehindLatest"], 0)
        # At the tip: no records, and still a next iterator.
        r = self.c.get_records(ShardIterator=it, Limit=3)
        self.assertEqual(r["Records"], [])
        self.assertIsNotNone(r.get("NextShardIterator"))

    def test_record_fields(self):
        before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        self.c.put_record(StreamName=self.name, PartitionKey="pk", Data=b"\x00\xffbinary")
        r = self.c.get_records(ShardIterator=self.iterator())["Records"][0]
        self.assertEqual(r["Data"], b"\x00\xffbinary")
        self.assertEqual(r["PartitionKey"], "pk")
        self.assertRegex(r["SequenceNumber"], SEQ_RE)
        self.assertGreater(r["ApproximateArrivalTimestamp"], before)
        self.assertEqual(r.get("EncryptionType", "NONE"), "NONE")

    def test_millis_behind_latest(self):
        self.c.put_records(StreamName=self.name, Records=[
            {"PartitionKey": "k", "Data": b"x"} for _ in range(5)])
        time.sleep(1.0)
        self.c.put_record(StreamName=self.name, PartitionKey="k", Data=b"last")
        r = self.c.get_records(ShardIterator=self.iterator(), Limit=1)
        self.assertEqual(len(r["Records"]), 1)
        # Its record arrived about a second before the newest one.
        self.assertGreaterEqual(r["MillisBehindLatest"], 500)
        r = self.c.get_records(ShardIterator=r["NextShardIterator"])
        self.assertEqual(r["Records"][-1]["Data"], b"last")
        self.assertEqual(r["MillisBehindLatest"], 0)

    def test_bad_iterator(self):
        err = error_of(self.c.get_records, ShardIterator="not-a-real-iterator-0123456789")
        self.assertError(err, "InvalidArgumentException", "Invalid ShardIterator.")
        # A real iterator with its signature damaged.
        it = self.iterator()
        mid = len(it) // 2
        bad = it[:mid] + ("A" if it[mid] != "A" else "B") + it[mid + 1:]
        err = error_of(self.c.get_records, ShardIterator=bad)
        self.assertError(err, "InvalidArgumentException", "Invalid ShardIterator.")

    def test_iterator_in_double_quotes_is_accepted(self):
        self.c.put_record(StreamName=self.name, PartitionKey="k", Data=b"q")
        r = self.c.get_records(ShardIterator='"%s"' % self.iterator())
        self.assertEqual([x["Data"] for x in r["Records"]], [b"q"])

    def test_iterator_of_deleted_stream(self):
        it = self.iterator()
        self.c.delete_stream(StreamName=self.name)
        wait_status(self.c, self.name, None)
        err = error_of(self.c.get_records, ShardIterator=it)
        self.assertError(err, "ResourceNotFoundException",
                         "Shard %s in stream %s under account %s does not exist"
                         % (self.sid, self.name, self.account()))

    def test_validation_texts(self):
        err = error_of(self.c.get_records)
        self.assertValidation(err, constraint(None, "shardIterator", NOT_NULL))
        it = self.iterator()
        err = error_of(self.c.get_records, ShardIterator=it, Limit=0)
        self.assertValidation(err, constraint(
            "0", "limit", "Member must have value greater than or equal to 1"))
        err = error_of(self.c.get_records, ShardIterator=it, Limit=10001)
        self.assertValidation(err, constraint(
            "10001", "limit", "Member must have value less than or equal to 10000"))
        long_it = "a" * 513
        err = error_of(self.c.get_records, ShardIterator=long_it)
        self.assertValidation(err, constraint(
            long_it, "shardIterator", "Member must have length less than or equal to 512"))


class HashKeyBounds(AwsTestCase):

    def test_edges_of_the_key_space(self):
        name, _ = self.new_stream(shards=2)
        lo = self.c.put_record(StreamName=name, PartitionKey="a", Data=b"", ExplicitHashKey="0")
        hi = self.c.put_record(StreamName=name, PartitionKey="a", Data=b"",
                               ExplicitHashKey=str(HASH_MAX))
        self.assertEqual((lo["ShardId"], hi["ShardId"]), (shard_id(0), shard_id(1)))
