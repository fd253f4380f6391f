"""SigV4 verification: eddyd --auth sigv4 --credentials FILE checks every
request's signature with the key's secret, the clock skew (5 minutes, as
Kinesis), the session token, and answers AWS's exceptions and messages
(server/gateway/README.md lists them with their sources), through boto3,
the AWS CLI and the AWS SDK for JavaScript v3 over HTTP/2 (which signs
":authority"). The credential scope's region and the key's account name
the ARNs. The default open mode takes any signature but not malformed
credentials."""

import datetime
import json
import os
import re
import shutil
import subprocess
import unittest
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

import harness
from harness import AwsTestCase, raw_request, unique_name
from test_cbor import decode as cbor_decode, encode as cbor_encode

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")

GOOD = ("AKIDSIGV4GOOD", "good/secret+key", None, "111122223333")
TEMP = ("ASIASIGV4TEMP", "temp-secret", "FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKEN=", "444455556666")
CREDENTIALS = """# eddyd --credentials: ACCESS_KEY SECRET [SESSION_TOKEN|-] [ACCOUNT]
{ak} {sk}
{g0} {g1} - {g3}
{t0} {t1} {t2} {t3}
""".format(ak=harness.ACCESS_KEY, sk=harness.SECRET_KEY, g0=GOOD[0], g1=GOOD[1], g3=GOOD[3],
           t0=TEMP[0], t1=TEMP[1], t2=TEMP[2], t3=TEMP[3])

BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your AWS Secret Access Key and signing method. Consult the service "
                 "documentation for details.")
UNKNOWN_KEY = "The security token included in the request is invalid."
BAD_TOKEN = "The security token included in the request is invalid"
JSON_11 = "application/x-amz-json-1.1"
CBOR_11 = "application/x-amz-cbor-1.1"
AMZ_DATE = "%Y%m%dT%H%M%SZ"


def kinesis(endpoint, key, secret, token=None, region=harness.REGION):
    cfg = botocore.config.Config(region_name=region, retries={"total_max_attempts": 1},
                                 connect_timeout=5, read_timeout=30)
    return boto3.session.Session().client(
        "kinesis", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token, config=cfg)


def signed(endpoint, target, body, key, secret, token=None, when=None,
           content_type=JSON_11, region=harness.REGION):
    """Sends one request signed by botocore's SigV4Auth (at when, a naive UTC
    datetime, if given). Returns (RawResponse, canonical request, string to
    sign) as botocore computed them."""
    headers = {"Content-Type": content_type, "X-Amz-Target": harness.TARGET_PREFIX + target}
    req = botocore.awsrequest.AWSRequest(method="POST", url=endpoint + "/", data=body,
                                         headers=headers)
    auth = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret, token),
                                   "kinesis", region)
    seen = {}
    canonical_request, string_to_sign = auth.canonical_request, auth.string_to_sign
    auth.canonical_request = lambda r: seen.setdefault("cr", canonical_request(r))
    auth.string_to_sign = lambda r, cr: seen.setdefault("sts", string_to_sign(r, cr))
    when = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(req)
    resp = raw_request(endpoint, target, body, content_type=content_type, sign=False,
                       extra_headers=dict(req.headers.items()))
    return resp, seen["cr"], seen["sts"]


class SigV4(unittest.TestCase):
    maxDiff = 6000
    timeout_s = 60

    @classmethod
    def setUpClass(cls):
        cls.node = harness.single_node("sigv4")
        path = os.path.join(cls.node.dir, "credentials")
        with open(path, "w") as f:
            f.write(CREDENTIALS)
        cls.node.args += ["--auth", "sigv4", "--credentials", path]
        cls.node.start()
        cls.endpoint = cls.node.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def assertError(self, fn, code, message=None, **kwargs):
        try:
            fn(**kwargs)
        except botocore.exceptions.ClientError as e:
            err = e.response["Error"]
            self.assertEqual(err["Code"], code, err)
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            if message is not None:
                self.assertEqual(err["Message"], message)
            return err
        raise AssertionError("expected %s, got success" % code)

    # ---- boto3 -----------------------------------------------------------

    def test_right_keys(self):
        for key, secret, token, _ in (GOOD, TEMP):
            c = kinesis(self.endpoint, key, secret, token)
            self.assertIn("StreamNames", c.list_streams())
        # The harness's own key, as every other client of the tests signs.
        self.assertIn("StreamNames", harness.client(self.endpoint).list_streams())

    def test_wrong_secret_has_the_canonical_request(self):
        resp, canonical, sts = signed(self.endpoint, "ListStreams", b"{}", GOOD[0], "wrong")
        self.assertEqual(resp.status, 400, resp)
        self.assertEqual(resp.headers["x-amzn-errortype"], "InvalidSignatureException")
        self.assertEqual(resp.json(), {
            "__type": "InvalidSignatureException",
            "message": "%s\n\nThe Canonical String for this request should have been\n'%s'\n\n"
                       "The String-to-Sign should have been\n'%s'\n" % (BAD_SIGNATURE, canonical,
                                                                        sts)})
        # And through the client: the same exception.
        c = kinesis(self.endpoint, GOOD[0], "wrong")
        err = self.assertError(c.list_streams, "InvalidSignatureException")
        self.assertTrue(err["Message"].startswith(BAD_SIGNATURE + "\n\nThe Canonical String"))

    def test_tampered_body(self):
        """The body is signed: a byte changed after signing fails."""
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=self.endpoint + "/", data=b'{"Limit": 5}',
            headers={"Content-Type": JSON_11, "X-Amz-Target": "Kinesis_20131202.ListStreams"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(*GOOD[:2]), "kinesis",
                                harness.REGION).add_auth(req)
        resp = raw_request(self.endpoint, "ListStreams", b'{"Limit": 6}', sign=False,
                           extra_headers=dict(req.headers.items()))
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json()["__type"], "InvalidSignatureException")

    def test_unknown_key(self):
        c = kinesis(self.endpoint, "AKIDNOSUCHKEY", GOOD[1])
        self.assertError(c.list_streams, "UnrecognizedClientException", UNKNOWN_KEY)

    def test_session_token(self):
        c = kinesis(self.endpoint, TEMP[0], TEMP[1], TEMP[2] + "x")
        self.assertError(c.list_streams, "UnrecognizedClientException", BAD_TOKEN)
        c = kinesis(self.endpoint, TEMP[0], TEMP[1])
        self.assertError(c.list_streams, "UnrecognizedClientException", BAD_TOKEN)
        c = kinesis(self.endpoint, GOOD[0], GOOD[1], "unexpected-token")
        self.assertError(c.list_streams, "UnrecognizedClientException", BAD_TOKEN)

    def test_clock_skew(self):
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
        for shift, pattern in (
                (-10, r"^Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) "
                      r"\((\d{8}T\d{6}Z) - 5 min\.\)$"),
                (+10, r"^Signature not yet current: (\d{8}T\d{6}Z) is still later than "
                      r"(\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) \+ 5 min\.\)$")):
            when = now + datetime.timedelta(minutes=shift)
            resp, _, _ = signed(self.endpoint, "ListStreams", b"{}", GOOD[0], GOOD[1], when=when)
            self.assertEqual(resp.status, 400, resp)
            body = resp.json()
            self.assertEqual(body["__type"], "InvalidSignatureException")
            m = re.match(pattern, body["message"])
            self.assertIsNotNone(m, body["message"])
            sent, bound, server_now = (datetime.datetime.strptime(g, AMZ_DATE) for g in m.groups())
            self.assertEqual(sent, when)
            self.assertLess(abs((server_now - now).total_seconds()), 30)
            self.assertEqual(bound - server_now, datetime.timedelta(minutes=5 if shift > 0 else -5))
        # Four minutes off is fine.
        resp, _, _ = signed(self.endpoint, "ListStreams", b"{}", GOOD[0], GOOD[1],
                            when=now - datetime.timedelta(minutes=4))
        self.assertEqual(resp.status, 200, resp)

    def test_missing_and_malformed(self):
        resp = raw_request(self.endpoint, "ListStreams", {}, sign=False)
        self.assertEqual((resp.status, resp.json()), (400, {
            "__type": "MissingAuthenticationTokenException",
            "message": "Missing Authentication Token"}))
        resp = raw_request(self.endpoint, "ListStreams", {}, sign=False,
                           extra_headers={"Authorization": "X"})
        self.assertEqual(resp.json()["__type"], "IncompleteSignatureException")

    def test_cbor_error(self):
        """A CBOR request is refused in CBOR."""
        resp, _, _ = signed(self.endpoint, "ListStreams", cbor_encode({}), GOOD[0], "wrong",
                            content_type=CBOR_11)
        self.assertEqual(resp.status, 400, resp)
        self.assertEqual(resp.headers["content-type"], CBOR_11)
        self.assertEqual(resp.headers["x-amzn-errortype"], "InvalidSignatureException")
        body = cbor_decode(resp.body)
        self.assertEqual(body["__type"], "InvalidSignatureException")
        self.assertTrue(body["message"].startswith(BAD_SIGNATURE))
        resp, _, _ = signed(self.endpoint, "ListStreams", cbor_encode({}), GOOD[0], GOOD[1],
                            content_type=CBOR_11)
        self.assertEqual(resp.status, 200, resp)

    def test_scope_region_and_key_account(self):
        """ARNs carry the credential scope's region and the key's account."""
        name = unique_name("sigv4")
        eu = kinesis(self.endpoint, TEMP[0], TEMP[1], TEMP[2], region="eu-west-1")
        eu.create_stream(StreamName=name, ShardCount=1)
        try:
            harness.wait_status(eu, name)
            arn = eu.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamARN"]
            self.assertEqual(arn, "arn:aws:kinesis:eu-west-1:%s:stream/%s" % (TEMP[3], name))
            us = kinesis(self.endpoint, GOOD[0], GOOD[1])
            arn = us.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamARN"]
            self.assertEqual(arn, "arn:aws:kinesis:us-east-1:%s:stream/%s" % (GOOD[3], name))
        finally:
            harness.delete_quietly(eu, name)
        resp, _, _ = signed(self.endpoint, "ListStreams", b"{}", GOOD[0], GOOD[1],
                            region="not_a_region")
        self.assertEqual(resp.json(), {
            "__type": "InvalidSignatureException",
            "message": "Credential should be scoped to a valid region, not 'not_a_region'. "})

    # ---- the AWS CLI -----------------------------------------------------

    def cli(self, key, secret):
        cli = harness.aws_cli_path()
        self.assertIsNotNone(cli, "no aws CLI found (run tools/bootstrap)")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                   AWS_DEFAULT_REGION=harness.REGION, AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        env.pop("AWS_SESSION_TOKEN", None)
        return subprocess.run([cli, "--endpoint-url", self.endpoint, "kinesis", "list-streams"],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)

    def test_aws_cli(self):
        p = self.cli(GOOD[0], GOOD[1])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("StreamNames", json.loads(p.stdout))
        p = self.cli(GOOD[0], "wrong")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("An error occurred (InvalidSignatureException) when calling the ListStreams "
                      "operation: " + BAD_SIGNATURE, p.stderr)
        p = self.cli("AKIDNOSUCHKEY", "x")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("(UnrecognizedClientException) when calling the ListStreams operation: "
                      + UNKNOWN_KEY, p.stderr)

    # ---- the JS SDK over HTTP/2 ------------------------------------------

    def test_js_sdk_http2(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is missing: run tools/bootstrap")
        proc = subprocess.run([node, os.path.join(JS_DIR, "sigv4.mjs"), self.endpoint,
                               "%s:%s" % GOOD[:2], "%s:wrong" % GOOD[0]],
                              capture_output=True, text=True, timeout=60, cwd=JS_DIR)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        ok, bad = out["results"]
        self.assertTrue(ok["ok"], ok)
        self.assertEqual((bad["name"], bad["status"]), ("InvalidSignatureException", 400), bad)
        self.assertTrue(bad["message"].startswith(BAD_SIGNATURE), bad)
        # Signed over HTTP/2 with ":authority" among the signed headers.
        self.assertIn("\n:authority:127.0.0.1:%d\n" % self.node.gateway_port, bad["message"])
        self.assertGreaterEqual(out["sessions"], 2, out)


class OpenAuth(AwsTestCase):
    """The default (open) mode on the shared node: any signature, not any shape."""

    def test_any_signature_but_not_any_shape(self):
        c = kinesis(self.endpoint, "AKIDANYKEY", "any-secret")
        self.assertIn("StreamNames", c.list_streams())
        resp = raw_request(self.endpoint, "ListStreams", {}, sign=False,
                           extra_headers={"Authorization": "X"})
        self.assertEqual((resp.status, resp.json()), (400, {
            "__type": "IncompleteSignatureException",
            "message": "Authorization header requires 'Credential' parameter. Authorization "
                       "header requires 'Signature' parameter. Authorization header requires "
                       "'SignedHeaders' parameter. Authorization header requires existence of "
                       "either a 'X-Amz-Date' or a 'Date' header. Authorization=X"}))
        resp = raw_request(self.endpoint, "ListStreams", {}, sign=False)
        self.assertEqual(resp.json()["__type"], "MissingAuthenticationTokenException")
        # No clock check in open mode (the conformance suite's late gateway).
        resp, _, _ = signed(self.endpoint, "ListStreams", b"{}", "AKIDANYKEY", "s",
                            when=datetime.datetime(2020, 1, 1))
        self.assertEqual(resp.status, 200, resp)


if __name__ == "__main__":
    unittest.main()
