"""The wire protocol around the operations: unknown operations, bodies that
are not JSON or have the wrong types, the error envelope, and the
x-amzn-RequestId header on every response (peers.md §3, kinesalite's
connection tests recorded against AWS)."""

from harness import UUID_RE, AwsTestCase, error_of, raw_request, unique_name

JSON_11 = "application/x-amz-json-1.1"


class Protocol(AwsTestCase):

    def raw(self, target, body, **kw):
        return raw_request(self.endpoint, target, body, **kw)

    def assertEnvelope(self, resp, status, body):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers.get("content-type"), JSON_11, resp)
        self.assertRegex(resp.headers.get("x-amzn-requestid", ""), UUID_RE, resp)
        self.assertEqual(resp.json(), body, resp)

    def test_unknown_operation(self):
        resp = self.raw("Frobnicate", {})
        self.assertEnvelope(resp, 400, {"__type": "UnknownOperationException"})

    def test_no_target(self):
        resp = self.raw(None, {})
        self.assertEnvelope(resp, 400, {"__type": "UnknownOperationException"})

    def test_body_not_json(self):
        resp = self.raw("ListStreams", "hello")
        self.assertEnvelope(resp, 400, {"__type": "SerializationException"})

    def test_truncated_json(self):
        resp = self.raw("DescribeStream", '{"StreamName": "abc"')
        self.assertEnvelope(resp, 400, {"__type": "SerializationException"})

    def test_empty_body(self):
        resp = self.raw("ListStreams", "")
        self.assertEnvelope(resp, 400, {"__type": "SerializationException"})

    def test_wrong_member_types(self):
        # SerializationException with a capital-M "Message" (AWS's own quirk).
        cases = [
            ("ListStreams", {"Limit": "23"},
             "class java.lang.String can not be converted to an Integer"),
            ("ListStreams", {"Limit": True},
             "class java.lang.Boolean can not be converted to an Integer"),
            ("DescribeStream", {"StreamName": True},
             "class java.lang.Boolean can not be converted to an String"),
            ("DescribeStream", {"StreamName": []}, "Start of list found where not expected"),
            ("DescribeStream", {"StreamName": {}},
             "Start of structure or map found where not expected."),
            ("PutRecords", {"StreamName": "a", "Records": "23"}, "Expected list or null"),
        ]
        for target, body, message in cases:
            with self.subTest(target=target, body=body):
                resp = self.raw(target, body)
                self.assertEnvelope(resp, 400, {"__type": "SerializationException",
                                                "Message": message})

    def test_bad_base64_blob(self):
        resp = self.raw("PutRecord", {"StreamName": "a", "PartitionKey": "k", "Data": "23456"})
        self.assertEnvelope(resp, 400, {
            "__type": "SerializationException",
            "Message": "'23456' can not be converted to a Blob: Base64 encoded length is "
                       "expected a multiple of 4 bytes but found: 5"})

    def test_error_envelope_is_type_and_lower_case_message(self):
        name = unique_name("nope")
        resp = self.raw("DescribeStreamSummary", {"StreamName": name})
        self.assertEqual(resp.status, 400, resp)
        body = resp.json()
        self.assertEqual(sorted(body), ["__type", "message"], body)
        self.assertEqual(body["__type"], "ResourceNotFoundException")
        self.assertEqual(body["message"],
                         "Stream %s under account %s not found." % (name, self.account()))

    def test_request_id_on_every_response(self):
        name, _ = self.new_stream(shards=1)
        seen = set()
        raw_cases = [
            ("ListStreams", {}, 200),
            ("DescribeStreamSummary", {"StreamName": name}, 200),
            ("PutRecord", {"StreamName": name, "PartitionKey": "k", "Data": "aGk="}, 200),
            ("CreateStream", {"StreamName": name, "ShardCount": 1}, 400),
            ("DescribeStream", {"StreamName": ""}, 400),
            ("GetRecords", {"ShardIterator": "bogus"}, 400),
            ("Frobnicate", {}, 400),
            ("ListStreams", "{", 400),
        ]
        for target, body, status in raw_cases:
            with self.subTest(target=target, body=body):
                resp = self.raw(target, body)
                self.assertEqual(resp.status, status, resp)
                rid = resp.headers.get("x-amzn-requestid")
                self.assertRegex(rid or "", UUID_RE, resp)
                self.assertNotIn(rid, seen, "request id reused")
                seen.add(rid)
        # And through boto3, on success and on error.
        ok = self.c.list_streams()
        self.assertRegex(ok["ResponseMetadata"]["RequestId"], UUID_RE)
        err = error_of(self.c.describe_stream, StreamName=unique_name("nope"))
        self.assertRegex(err.response["ResponseMetadata"]["RequestId"], UUID_RE)

    def test_void_operations_return_empty_200(self):
        name = unique_name("void")
        self._streams.append(name)
        resp = self.raw("CreateStream", {"StreamName": name, "ShardCount": 1})
        self.assertEqual(resp.status, 200, resp)
        self.assertIn(resp.body.strip(), (b"", b"{}"), resp)
        self.assertRegex(resp.headers.get("x-amzn-requestid", ""), UUID_RE, resp)

    def test_json_response_content_type(self):
        resp = self.raw("ListStreams", {"Limit": 1})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.headers.get("content-type"), JSON_11, resp)
        body = resp.json()
        self.assertIsInstance(body["StreamNames"], list)
        self.assertIsInstance(body["HasMoreStreams"], bool)
