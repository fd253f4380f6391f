"""The CBOR protocol (application/x-amz-cbor-1.1), the AWS SDK for Java's
default and so the KCL's: requests built byte for byte as the SDK's Jackson
generator writes them (indefinite-length maps and arrays, Data as a byte
string, timestamps as tag 1 + integer epoch milliseconds), responses read as
the SDK reads them (byte strings, tag-1 integer milliseconds), errors as a
CBOR map with __type and message plus the x-amzn-ErrorType header, HTTP
statuses as in JSON. A small CBOR codec lives here (no cbor2 on the image)."""

import struct
import time

from harness import AwsTestCase, UUID_RE, raw_request, unique_name, wait_status

CBOR_11 = "application/x-amz-cbor-1.1"


# ---- a small CBOR codec (RFC 8949), enough for the Kinesis shapes ----------

class Tag:
    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and (self.tag, self.value) == (other.tag, other.value)

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Millis:
    """A timestamp as the Java SDK writes it: tag 1 + integer milliseconds."""

    def __init__(self, ms):
        self.ms = ms


def _head(major, value):
    if value < 24:
        return bytes([major << 5 | value])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * n):
            return bytes([major << 5 | ai]) + value.to_bytes(n, "big")
    raise ValueError(value)


def encode(v, definite=False):
    """Jackson's layout: maps and arrays of indefinite length unless definite."""
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if v is None:
        return b"\xf6"
    if isinstance(v, Millis):
        return b"\xc1" + _head(0, v.ms)
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, (bytes, bytearray)):
        return _head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        body = b"".join(encode(x, definite) for x in v)
        return (_head(4, len(v)) + body) if definite else (b"\x9f" + body + b"\xff")
    if isinstance(v, dict):
        body = b"".join(encode(k, definite) + encode(x, definite) for k, x in v.items())
        return (_head(5, len(v)) + body) if definite else (b"\xbf" + body + b"\xff")
    raise TypeError(type(v))


def decode(data):
    value, pos = _decode(data, 0)
    if pos != len(data):
        raise ValueError("%d bytes after the item" % (len(data) - pos))
    return value


def _arg(data, pos):
    ib = data[pos]
    major, ai = ib >> 5, ib & 31
    pos += 1
    if ai < 24:
        return major, ai, ai, pos
    if ai == 31:
        return major, ai, None, pos
    n = 1 << (ai - 24)
    return major, ai, int.from_bytes(data[pos:pos + n], "big"), pos + n


def _decode(data, pos):
    major, ai, arg, pos = _arg(data, pos)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if arg is None:
            chunks = []
            while data[pos] != 0xFF:
                chunk, pos = _decode(data, pos)
                chunks.append(chunk)
            raw = b"".join(c if major == 2 else c.encode() for c in chunks)
            pos += 1
        else:
            raw = bytes(data[pos:pos + arg])
            pos += arg
        return (raw if major == 2 else raw.decode("utf-8")), pos
    if major in (4, 5):
        items = []
        n = 0
        while (arg is None and data[pos] != 0xFF) or (arg is not None and n < arg * (major - 3)):
            item, pos = _decode(data, pos)
            items.append(item)
            n += 1
        if arg is None:
            pos += 1
        if major == 4:
            return items, pos
        return dict(zip(items[0::2], items[1::2])), pos
    if major == 6:
        value, pos = _decode(data, pos)
        return Tag(arg, value), pos
    if ai == 20:
        return False, pos
    if ai == 21:
        return True, pos
    if ai in (22, 23):
        return None, pos
    if ai == 25:
        raise ValueError("half float")
    if ai == 26:
        return struct.unpack(">f", data[pos - 4:pos])[0], pos
    if ai == 27:
        return struct.unpack(">d", data[pos - 8:pos])[0], pos
    raise ValueError("simple value %d" % ai)


def now_ms():
    return int(time.time() * 1000)


# ---- the tests --------------------------------------------------------------

class Cbor(AwsTestCase):

    def send(self, op, body, content_type=CBOR_11):
        if not isinstance(body, (bytes, bytearray)):
            body = encode(body)
        # The headers the Java SDK sends, Accept included.
        return raw_request(self.endpoint, op, bytes(body), content_type=content_type,
                           extra_headers={"Accept": CBOR_11})

    def ok(self, op, body):
        """Calls op, expects 200 with a CBOR body; returns it decoded."""
        resp = self.send(op, body)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.headers.get("content-type"), CBOR_11, resp)
        self.assertRegex(resp.headers.get("x-amzn-requestid", ""), UUID_RE, resp)
        if not resp.body:
            return None
        # AWS (and so Eddy) writes maps of indefinite length.
        self.assertEqual(resp.body[0], 0xBF, resp)
        return decode(resp.body)

    def fails(self, op, body, status, error_type, message=None, message_key="message"):
        resp = self.send(op, body)
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers.get("content-type"), CBOR_11, resp)
        self.assertEqual(resp.headers.get("x-amzn-errortype"), error_type, resp)
        self.assertRegex(resp.headers.get("x-amzn-requestid", ""), UUID_RE, resp)
        doc = decode(resp.body)
        want = {"__type": error_type}
        if message is True:  # some message, text not checked here
            self.assertIsInstance(doc.get(message_key), str, resp)
            want[message_key] = doc[message_key]
        elif message is not None:
            want[message_key] = message
        self.assertEqual(doc, want, resp)
        return doc

    def assertMillis(self, value, low_ms, high_ms):
        """A timestamp as the SDK parses it: tag 1 over an integer, in ms."""
        self.assertIsInstance(value, Tag, value)
        self.assertEqual(value.tag, 1)
        self.assertIsInstance(value.value, int, value)
        self.assertGreaterEqual(value.value, low_ms)
        self.assertLessEqual(value.value, high_ms)

    def cbor_stream(self, shards=1):
        """CreateStream in CBOR, then ACTIVE; returns the name."""
        name = unique_name("cbor")
        self._streams.append(name)
        self.assertIsNone(self.ok("CreateStream", {"StreamName": name, "ShardCount": shards}))
        wait_status(self.c, name)
        return name

    def iterator(self, name, shard="shardId-000000000000", **kw):
        req = {"StreamName": name, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
        req.update(kw)
        it = self.ok("GetShardIterator", req)["ShardIterator"]
        self.assertIsInstance(it, str)
        return it

    def test_create_and_describe_with_timestamps(self):
        before = now_ms()
        name = self.cbor_stream(shards=2)
        d = self.ok("DescribeStream", {"StreamName": name})["StreamDescription"]
        self.assertEqual(d["StreamName"], name)
        self.assertEqual(d["StreamStatus"], "ACTIVE")
        self.assertEqual(len(d["Shards"]), 2)
        self.assertEqual(d["Shards"][0]["ShardId"], "shardId-000000000000")
        self.assertEqual(d["Shards"][1]["HashKeyRange"]["EndingHashKey"], str(2**128 - 1))
        self.assertIs(d["HasMoreShards"], False)
        self.assertEqual(d["RetentionPeriodHours"], 24)
        self.assertMillis(d["StreamCreationTimestamp"], before - 1000, now_ms() + 1000)
        s = self.ok("DescribeStreamSummary", {"StreamName": name})["StreamDescriptionSummary"]
        self.assertEqual(s["OpenShardCount"], 2)
        self.assertEqual(s["StreamCreationTimestamp"], d["StreamCreationTimestamp"])
        # The JSON protocol says the same instant in seconds.
        js = self.c.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        self.assertEqual(int(round(js["StreamCreationTimestamp"].timestamp() * 1000)),
                         d["StreamCreationTimestamp"].value)

    def test_list_streams_and_shards(self):
        name = self.cbor_stream(shards=3)
        listed = self.ok("ListStreams", {"Limit": 10000})
        self.assertIn(name, listed["StreamNames"])
        summaries = [s for s in listed.get("StreamSummaries", []) if s["StreamName"] == name]
        self.assertEqual(len(summaries), 1, listed)
        self.assertMillis(summaries[0]["StreamCreationTimestamp"], 0, now_ms() + 1000)
        shards = self.ok("ListShards", {"StreamName": name})["Shards"]
        self.assertEqual([s["ShardId"] for s in shards],
                         ["shardId-%012d" % i for i in range(3)])

    def test_put_and_get_raw_bytes(self):
        name = self.cbor_stream()
        payloads = [b"\x00\xff\xfe\x80 not utf-8 \xc3\x28", b"", bytes(range(256)) * 4]
        before = now_ms()
        r = self.ok("PutRecord", {"StreamName": name, "Data": payloads[0],
                                  "PartitionKey": "pk"})
        self.assertEqual(r["ShardId"], "shardId-000000000000")
        self.assertRegex(r["SequenceNumber"], r"^[1-9]\d*$")
        out = self.ok("PutRecords", {"StreamName": name, "Records": [
            {"Data": payloads[1], "PartitionKey": "a"},
            {"Data": payloads[2], "PartitionKey": "b", "ExplicitHashKey": "7"},
        ]})
        self.assertEqual(out["FailedRecordCount"], 0)
        self.assertEqual(len(out["Records"]), 2)
        self.assertTrue(all(x["ShardId"] == "shardId-000000000000" for x in out["Records"]))
        after = now_ms()
        got = self.ok("GetRecords", {"ShardIterator": self.iterator(name), "Limit": 10})
        recs = got["Records"]
        self.assertEqual([x["Data"] for x in recs], payloads)
        self.assertTrue(all(isinstance(x["Data"], bytes) for x in recs))
        self.assertEqual([x["PartitionKey"] for x in recs], ["pk", "a", "b"])
        self.assertEqual(recs[0]["SequenceNumber"], r["SequenceNumber"])
        for x in recs:
            self.assertMillis(x["ApproximateArrivalTimestamp"], before - 1000, after + 1000)
        self.assertIsInstance(got["NextShardIterator"], str)
        self.assertIsInstance(got["MillisBehindLatest"], int)

    def test_both_protocols_see_the_same_records(self):
        name = self.cbor_stream()
        self.ok("PutRecord", {"StreamName": name, "Data": b"\xff\x00cbor", "PartitionKey": "k"})
        self.c.put_record(StreamName=name, Data=b"\xfe\x01json", PartitionKey="k")
        it = self.c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        via_json = self.c.get_records(ShardIterator=it)["Records"]
        via_cbor = self.ok("GetRecords", {"ShardIterator": self.iterator(name)})["Records"]
        self.assertEqual([x["Data"] for x in via_json], [b"\xff\x00cbor", b"\xfe\x01json"])
        self.assertEqual([x["Data"] for x in via_cbor], [b"\xff\x00cbor", b"\xfe\x01json"])
        for j, c in zip(via_json, via_cbor):
            self.assertEqual(j["SequenceNumber"], c["SequenceNumber"])
            self.assertEqual(int(round(j["ApproximateArrivalTimestamp"].timestamp() * 1000)),
                             c["ApproximateArrivalTimestamp"].value)

    def test_at_timestamp_is_milliseconds(self):
        # Timestamp as the SDK sends it (tag 1 + integer ms): the iterator
        # starts exactly at the record that arrived at that millisecond.
        name = self.cbor_stream()
        for i in range(3):
            self.ok("PutRecord", {"StreamName": name, "Data": b"r%d" % i, "PartitionKey": "k"})
            time.sleep(0.02)
        recs = self.ok("GetRecords", {"ShardIterator": self.iterator(name)})["Records"]
        second = recs[1]["ApproximateArrivalTimestamp"].value
        self.assertGreater(second, recs[0]["ApproximateArrivalTimestamp"].value)
        for ts in (Millis(second), float(second)):
            it = self.iterator(name, ShardIteratorType="AT_TIMESTAMP", Timestamp=ts)
            got = self.ok("GetRecords", {"ShardIterator": it})["Records"]
            self.assertEqual([x["Data"] for x in got], [b"r1", b"r2"], ts)

    def test_definite_lengths_and_chunked_strings(self):
        # Other CBOR writers: definite maps, strings in indefinite chunks.
        name = self.cbor_stream()
        body = (b"\xa3" + encode("StreamName") + b"\x7f" + encode(name[:4]) + encode(name[4:])
                + b"\xff" + encode("PartitionKey") + encode("k") + encode("Data")
                + b"\x5f" + encode(b"\x01\x02") + encode(b"\x03") + b"\xff")
        self.assertEqual(self.ok("PutRecord", body)["ShardId"], "shardId-000000000000")
        got = self.ok("GetRecords", {"ShardIterator": self.iterator(name)})["Records"]
        self.assertEqual(got[0]["Data"], b"\x01\x02\x03")

    def test_resource_not_found(self):
        name = unique_name("nope")
        self.fails("DescribeStreamSummary", {"StreamName": name}, 400,
                   "ResourceNotFoundException",
                   "Stream %s under account %s not found." % (name, self.account()))
        self.fails("PutRecord", {"StreamName": name, "Data": b"x", "PartitionKey": "k"}, 400,
                   "ResourceNotFoundException",
                   "Stream %s under account %s not found." % (name, self.account()))

    def test_validation_same_as_json(self):
        # The message text does not depend on the protocol.
        body = {"StreamName": "a b", "ShardCount": 0}
        doc = self.fails("CreateStream", body, 400, "ValidationException", True)
        want = raw_request(self.endpoint, "CreateStream", body).json()
        self.assertEqual(doc, want)
        self.assertTrue(doc["message"].startswith("2 validation errors detected: "), doc)

    def test_malformed_cbor(self):
        # SerializationException with no message (capital-M "Message" when it
        # has one), as for unparsable JSON.
        for body in (b"\xbf\x6aStreamName", b"\xff", b"\xa1\x61a\x1c", b"\x00", b"\xa0\x00",
                     b"\xbf\x61a\x62\xc3\x28\xff", b""):
            with self.subTest(body=body):
                self.fails("ListStreams", body, 400, "SerializationException")
        self.fails("ListStreams", encode([1]), 400, "SerializationException",
                   "Start of list found where not expected", message_key="Message")

    def test_wrong_member_types(self):
        cases = [
            ("DescribeStreamSummary", {"StreamName": b"bytes"},
             "class [B can not be converted to an String"),
            ("ListStreams", {"Limit": "23"},
             "class java.lang.String can not be converted to an Integer"),
            ("DescribeStreamSummary", {"StreamName": True},
             "class java.lang.Boolean can not be converted to an String"),
            ("PutRecord", {"StreamName": "a", "PartitionKey": "k", "Data": "23456"},
             "'23456' can not be converted to a Blob: Base64 encoded length is expected a "
             "multiple of 4 bytes but found: 5"),
        ]
        for op, body, message in cases:
            with self.subTest(op=op, body=body):
                self.fails(op, body, 400, "SerializationException", message,
                           message_key="Message")

    def test_unknown_operation(self):
        self.fails("Frobnicate", {}, 400, "UnknownOperationException")
        self.fails("Frobnicate", b"\xff", 400, "SerializationException")

    def test_get_records_bad_iterator(self):
        self.fails("GetRecords", {"ShardIterator": "bogus"}, 400, "InvalidArgumentException",
                   True)
