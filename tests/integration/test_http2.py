"""HTTP/2 and TLS on the gateway (wire-protocols.md sections 2 and 4): the
AWS SDK for JavaScript v3 (HTTP/2 for every operation, a new connection per
request) over h2c and over TLS with ALPN h2; curl over h2c by prior
knowledge and over TLS; boto3 over TLS (ALPN http/1.1); connection churn
with bounded time and memory; malformed frames answered with GOAWAY while
the server keeps serving everyone else."""

import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import unittest

import boto3
import botocore.config

import harness
from harness import AwsTestCase, unique_name

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
JSON_11 = "application/x-amz-json-1.1"

FRAME_DATA, FRAME_HEADERS, FRAME_RST_STREAM, FRAME_SETTINGS = 0x0, 0x1, 0x3, 0x4
FRAME_GOAWAY = 0x7
FLAG_END_STREAM, FLAG_END_HEADERS = 0x1, 0x4
GOAWAY_PROTOCOL_ERROR, GOAWAY_FRAME_SIZE_ERROR = 0x1, 0x6


def make_cert(directory):
    """A self-signed P-256 certificate for localhost and 127.0.0.1, as
    tools/up makes one."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return cert, key


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


# ---- a minimal HTTP/2 client (HPACK literals, no Huffman) ------------------

def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """A literal header field without indexing, new name (RFC 7541 6.2.2)."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id) + payload


def status_of(block):
    """The :status at the head of a response header block as nghttp2 encodes
    it: indexed (RFC 7541 static table) or a literal with the :status name."""
    indexed = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}
    if block[0] in indexed:
        return indexed[block[0]]
    if block[0] in (0x08, 0x48) and block[1] == 3:
        return int(block[2:5])
    raise AssertionError("status not understood: %r" % block[:8])


def request_frames(authority, target, body, stream_id=1):
    block = b"".join(hpack_literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", authority),
        ("content-type", JSON_11), ("x-amz-target", "Kinesis_20131202." + target),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/"
                          "kinesis/aws4_request, SignedHeaders=host, Signature=00"),
        ("x-amz-date", "20240101T000000Z"),
        ("content-length", str(len(body))),
    ])
    return frame(FRAME_HEADERS, FLAG_END_HEADERS, stream_id, block) + \
        frame(FRAME_DATA, FLAG_END_STREAM, stream_id, body)


class H2Conn:
    """One client connection speaking raw frames."""

    def __init__(self, port, tls_ca=None, timeout_s=10):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        if tls_ca is not None:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
        self.sock = sock
        self.buf = b""
        self.authority = "127.0.0.1:%d" % port

    def send(self, data):
        self.sock.sendall(data)

    def start(self):
        self.send(PREFACE + frame(FRAME_SETTINGS, 0, 0))

    def read_frame(self):
        """(type, flags, stream, payload), or None at EOF."""
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    f = self.buf[:9 + length]
                    self.buf = self.buf[9 + length:]
                    stream = int.from_bytes(f[5:9], "big") & 0x7FFFFFFF
                    return f[3], f[4], stream, f[9:]
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    def call(self, target, body=b"{}", stream_id=1):
        """Sends one request; returns the DATA of its response."""
        self.send(request_frames(self.authority, target, body, stream_id))
        data = b""
        while True:
            f = self.read_frame()
            if f is None:
                raise AssertionError("connection ended before the response")
            ftype, flags, stream, payload = f
            if stream != stream_id:
                continue
            if ftype == FRAME_DATA:
                data += payload
            if ftype in (FRAME_DATA, FRAME_HEADERS) and flags & FLAG_END_STREAM:
                return data
            if ftype == FRAME_RST_STREAM:
                raise AssertionError("stream reset: %r" % payload)

    def goaway(self):
        """Reads until GOAWAY: its error code, or None if the connection
        ended without one."""
        while True:
            f = self.read_frame()
            if f is None:
                return None
            if f[0] == FRAME_GOAWAY:
                return int.from_bytes(f[3][4:8], "big")

    def is_closed_after(self, timeout_s=5):
        self.sock.settimeout(timeout_s)
        try:
            while self.read_frame() is not None:
                pass
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class Http2(AwsTestCase):
    timeout_s = 300

    @classmethod
    def setUpClass(cls):
        cls.node = harness.single_node("http2")
        cls.cert, cls.key = make_cert(cls.node.dir)
        (cls.tls_port,) = harness.free_ports(1)
        cls.node.args += ["--tls-port", str(cls.tls_port), "--tls-cert", cls.cert,
                          "--tls-key", cls.key]
        # Under ASan freed memory waits in a quarantine, which would look like
        # a leak to the RSS check: this node runs without one.
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = (saved or "detect_leaks=1:halt_on_error=1") + \
            ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
        try:
            cls.node.start()
        finally:
            if saved is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = saved
        cls.endpoint = cls.node.endpoint
        cls.tls_endpoint = "https://127.0.0.1:%d" % cls.tls_port
        cls.port = cls.node.gateway_port

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def setUp(self):
        super().setUp()
        self.c = harness.client(self.endpoint)

    def assertServing(self):
        """The server still answers ListStreams, over HTTP/1.1 and HTTP/2."""
        self.assertIn("StreamNames", self.c.list_streams())
        conn = H2Conn(self.port)
        try:
            conn.start()
            self.assertIn(b"StreamNames", conn.call("ListStreams"))
        finally:
            conn.close()

    # ---- the AWS SDK for JavaScript v3 --------------------------------------

    def run_js(self, endpoint, env_extra=None):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is missing: run tools/bootstrap")
        self.assertTrue(os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk",
                                                   "client-kinesis")),
                        "@aws-sdk/client-kinesis is missing: run tools/bootstrap")
        env = dict(os.environ)
        env.update(env_extra or {})
        stream = unique_name("js")
        proc = subprocess.run([node, os.path.join(JS_DIR, "kinesis_ops.mjs"), endpoint, stream],
                              capture_output=True, text=True, timeout=120, env=env, cwd=JS_DIR)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertTrue(out["ok"], out)
        steps = {s["name"]: s for s in out["steps"]}
        self.assertEqual(steps["Active"]["status"], "ACTIVE")
        self.assertEqual(steps["PutRecords"], {"name": "PutRecords", "failed": 0, "count": 10})
        self.assertEqual(steps["ListShards"]["shards"],
                         ["shardId-000000000000", "shardId-000000000001"])
        self.assertEqual(steps["GetRecords"]["data"], sorted("hello-%d" % i for i in range(11)))
        self.assertEqual(steps["Missing"]["error"], "ResourceNotFoundException")
        self.assertEqual(steps["Missing"]["status"], 400)
        # One HTTP/2 session per call: CreateStream, at least one describe,
        # PutRecord, PutRecords, ListShards, 2 x (iterator, records), the
        # missing one and DeleteStream.
        self.assertGreaterEqual(out["sessions"], 11, out)
        return out

    def test_js_sdk_h2c(self):
        self.run_js(self.endpoint)

    def test_js_sdk_tls_h2(self):
        self.run_js(self.tls_endpoint, {"NODE_EXTRA_CA_CERTS": self.cert})

    def run_js_subscribe(self, endpoint, env_extra=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        proc = subprocess.run([shutil.which("node") or "node",
                               os.path.join(JS_DIR, "subscribe.mjs"), endpoint,
                               unique_name("jsub")],
                              capture_output=True, text=True, timeout=120, env=env, cwd=JS_DIR)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["data"], ["sub-0", "sub-1", "sub-2"])
        self.assertRegex(out["continuation"], r"^[0-9]+$")

    def test_js_sdk_subscribe_h2c(self):
        """SubscribeToShard's event stream over HTTP/2 DATA frames; the SDK
        resets the stream when the reader stops, and the server goes on."""
        self.run_js_subscribe(self.endpoint)
        self.assertServing()

    def test_js_sdk_subscribe_tls_h2(self):
        self.run_js_subscribe(self.tls_endpoint, {"NODE_EXTRA_CA_CERTS": self.cert})
        self.assertServing()

    # ---- curl and boto3 ------------------------------------------------------

    def curl(self, *args, body="{}", target="ListStreams", headers=()):
        curl = shutil.which("curl")
        self.assertIsNotNone(curl, "curl is missing: run tools/bootstrap")
        cmd = [curl, "-sS", "-o", "-", "-w", "\n%{http_version} %{http_code}", "-X", "POST",
               "-H", "Content-Type: " + JSON_11,
               "-H", "X-Amz-Target: Kinesis_20131202." + target,
               "-H", "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/"
                     "us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00",
               "-H", "X-Amz-Date: 20240101T000000Z"]
        for h in headers:
            cmd += ["-H", h]
        cmd += ["--data-binary", body] + list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        text, _, tail = proc.stdout.rpartition("\n")
        version, code = tail.split()
        return version, int(code), text

    def test_curl_h2c_prior_knowledge(self):
        version, code, text = self.curl("--http2-prior-knowledge", self.endpoint + "/")
        self.assertEqual((version, code), ("2", 200))
        self.assertIn("StreamNames", json.loads(text))

    def test_curl_tls(self):
        for flag, want in (("--http2", "2"), ("--http1.1", "1.1")):
            with self.subTest(flag=flag):
                version, code, text = self.curl(flag, "--cacert", self.cert,
                                                self.tls_endpoint + "/")
                self.assertEqual((version, code), (want, 200))
                self.assertIn("StreamNames", json.loads(text))

    def test_boto3_tls_http11(self):
        cfg = botocore.config.Config(region_name="us-east-1",
                                     retries={"total_max_attempts": 1})
        c = boto3.session.Session().client(
            "kinesis", endpoint_url=self.tls_endpoint, region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
            verify=self.cert, config=cfg)
        name = unique_name("tls")
        c.create_stream(StreamName=name, ShardCount=1)
        harness.wait_status(c, name)
        c.put_record(StreamName=name, PartitionKey="k", Data=b"over tls")
        it = c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        self.assertEqual([r["Data"] for r in c.get_records(ShardIterator=it)["Records"]],
                         [b"over tls"])
        c.delete_stream(StreamName=name)

    def test_limits_over_h2(self):
        """The HTTP/1.1 limits, over HTTP/2: 431 for a header list past
        64 KiB, 413 for a body past the limit (by content-length)."""
        # 60 fields of about 1 KiB: past 64 KiB as SETTINGS_MAX_HEADER_LIST_SIZE
        # counts (32 bytes more per field), below what curl's nghttp2 sends.
        big = ["X-Big-%02d: %s" % (i, "x" * 1060) for i in range(60)]
        version, code, _ = self.curl("--http2-prior-knowledge", self.endpoint + "/",
                                     headers=big)
        self.assertEqual((version, code), ("2", 431))
        # A body announced past the limit: 413 at once, then RST_STREAM
        # NO_ERROR so the client stops sending it.
        conn = H2Conn(self.port)
        try:
            conn.start()
            block = b"".join(hpack_literal(n, v) for n, v in [
                (":method", "POST"), (":scheme", "http"), (":path", "/"),
                (":authority", conn.authority), ("content-length", str(21 * 1024 * 1024))])
            conn.send(frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, block) +
                      frame(FRAME_DATA, 0, 1, b"x" * 1000))
            seen = []
            while len(seen) < 2:
                f = conn.read_frame()
                self.assertIsNotNone(f, "connection ended; saw %r" % seen)
                if f[2] == 1:
                    seen.append(f)
            self.assertEqual(seen[0][0], FRAME_HEADERS)
            self.assertEqual(status_of(seen[0][3]), 413)
            self.assertTrue(seen[0][1] & FLAG_END_STREAM)
            self.assertEqual((seen[1][0], seen[1][3]), (FRAME_RST_STREAM, b"\0\0\0\0"))
        finally:
            conn.close()
        self.assertServing()

    # ---- churn ----------------------------------------------------------------

    def churn(self, count, tls_ca=None):
        port = self.tls_port if tls_ca else self.port
        start = time.monotonic()
        for i in range(count):
            conn = H2Conn(port, tls_ca)
            try:
                conn.start()
                body = conn.call("ListStreams", b'{"Limit": 1}')
                self.assertIn(b"StreamNames", body, i)
            finally:
                conn.close()
        return time.monotonic() - start

    def test_churn_bounded_time_and_memory(self):
        """500 sequential h2c connections and 200 TLS ones, one request each:
        done in bounded time, and the server's memory does not grow with
        them (a leak of a few KiB per connection would show)."""
        pid = self.node.proc.pid
        self.churn(100)  # warm up allocator arenas and caches
        self.churn(50, self.cert)
        before = rss_kib(pid)
        took = self.churn(500)
        self.assertLess(took, 60, "500 h2c connections took %.1fs" % took)
        took = self.churn(200, self.cert)
        self.assertLess(took, 60, "200 TLS connections took %.1fs" % took)
        after = rss_kib(pid)
        self.assertLess(after - before, 8 * 1024,
                        "RSS grew from %d KiB to %d KiB over 700 connections" % (before, after))
        self.assertServing()

    # ---- malformed input -----------------------------------------------------

    def assertGoaway(self, payload, want_code, tls=False):
        conn = H2Conn(self.tls_port if tls else self.port, self.cert if tls else None)
        try:
            conn.start()
            conn.send(payload)
            self.assertEqual(conn.goaway(), want_code)
            self.assertTrue(conn.is_closed_after(), "connection still open after GOAWAY")
        finally:
            conn.close()

    def test_malformed_frames_get_goaway(self):
        cases = [
            # SETTINGS whose length is not a multiple of 6.
            ("settings length", frame(FRAME_SETTINGS, 0, 0, b"\x00\x01\x00"),
             GOAWAY_FRAME_SIZE_ERROR),
            # DATA on stream 0.
            ("data on stream 0", frame(FRAME_DATA, 0, 0, b"abc"), GOAWAY_PROTOCOL_ERROR),
            # HEADERS on an even (server-initiated) stream id.
            ("even stream", frame(FRAME_HEADERS, FLAG_END_HEADERS, 2, b"\x82"),
             GOAWAY_PROTOCOL_ERROR),
            # A header block that is not valid HPACK (index 0).
            ("bad hpack", frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, b"\x80"),
             0x9),  # COMPRESSION_ERROR
        ]
        for name, payload, code in cases:
            with self.subTest(case=name):
                self.assertGoaway(payload, code)
        with self.subTest(case="garbage over tls"):
            self.assertGoaway(b"\xff" * 64, GOAWAY_FRAME_SIZE_ERROR, tls=True)
        self.assertServing()

    def test_bad_preface_is_http1(self):
        """A connection that starts like the preface but differs is HTTP/1.1:
        the HTTP/1.1 parser answers 400 and closes."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:100])
        finally:
            sock.close()
        self.assertServing()

    def test_tls_garbage_handshake(self):
        """Bytes that are not a TLS handshake end the connection, quickly."""
        sock = socket.create_connection(("127.0.0.1", self.tls_port), timeout=10)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if not sock.recv(4096):
                    break
        finally:
            sock.close()
        self.assertServing()

    def test_many_streams_on_one_connection(self):
        """Twenty requests one after another on one connection."""
        conn = H2Conn(self.port)
        try:
            conn.start()
            for i in range(20):
                self.assertIn(b"StreamNames", conn.call("ListStreams", stream_id=1 + 2 * i))
        finally:
            conn.close()
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
