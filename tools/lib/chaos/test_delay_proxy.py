"""Tests of delay_proxy.py on loopback: bytes arrive intact, in order and
late by the configured delay in each direction; a half-close is passed on;
connections over the bound are refused; SIGTERM ends everything.

    tests/integration/python tools/lib/chaos/test_delay_proxy.py [-v]
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "delay_proxy.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoServer:
    """Echoes every byte; on EOF from the client, half-closes its side."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.threads = []
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self.echo, args=(c,), daemon=True)
            t.start()

    @staticmethod
    def echo(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(data)

    def close(self):
        self.sock.close()


class DelayProxyTest(unittest.TestCase):
    def start_proxy(self, delay_ms, jitter_ms, conns_max=16):
        self.echo = EchoServer()
        self.lport = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, PROXY, "--listen-host", "127.0.0.1", "--delay-ms", str(delay_ms),
             "--jitter-ms", str(jitter_ms), "--conns-max", str(conns_max), "--seed", "3",
             "--map", "%d=127.0.0.1:%d" % (self.lport, self.echo.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(self.proc.stdout.readline().strip(), "ready")

    def tearDown(self):
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "proc", None) is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()
        if getattr(self, "echo", None) is not None:
            self.echo.close()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.lport), timeout=5)
        return s

    def recv_exactly(self, s, n):
        out = b""
        while len(out) < n:
            d = s.recv(n - len(out))
            if not d:
                break
            out += d
        return out

    def test_round_trip_is_delayed_both_ways(self):
        self.start_proxy(delay_ms=100, jitter_ms=40)
        with self.connect() as s:
            for i in range(5):
                msg = b"ping %d " % i * 100
                t0 = time.monotonic()
                s.sendall(msg)
                got = self.recv_exactly(s, len(msg))
                rtt = time.monotonic() - t0
                self.assertEqual(got, msg)
                # Two one-way delays of 100 +- 40 ms.
                self.assertGreaterEqual(rtt, 0.12, rtt)
                self.assertLess(rtt, 1.0, rtt)

    def test_order_kept_under_jitter_and_half_close_passed(self):
        self.start_proxy(delay_ms=30, jitter_ms=30)
        data = b"".join(b"%06d" % i for i in range(20000))  # 120 kB in many chunks
        with self.connect() as s:
            for k in range(0, len(data), 1000):
                s.sendall(data[k:k + 1000])
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break  # the echo server's half-close came through the proxy
                got += d
        self.assertEqual(got, data)

    def test_connections_over_the_bound_are_refused(self):
        self.start_proxy(delay_ms=10, jitter_ms=0, conns_max=2)
        a, b = self.connect(), self.connect()
        for s in (a, b):
            s.sendall(b"x")
            self.assertEqual(self.recv_exactly(s, 1), b"x")
        c = self.connect()
        c.settimeout(3)
        try:
            self.assertEqual(c.recv(1), b"")  # closed at once
        except ConnectionResetError:
            pass
        for s in (a, b, c):
            s.close()

    def test_sigterm_while_data_flows_is_quiet(self):
        # Connections torn down mid-transfer must not leave unretrieved task
        # exceptions (tracebacks) behind the counters line.
        self.start_proxy(delay_ms=50, jitter_ms=20)
        socks = [self.connect() for _ in range(4)]
        for s in socks:
            s.setblocking(False)
            try:
                for _ in range(64):
                    s.send(b"z" * 65536)
            except BlockingIOError:
                pass
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(10), 0)
        err = self.proc.stderr.read()
        self.assertNotIn("Traceback", err)
        self.assertTrue(err.strip().splitlines()[-1].startswith("delay_proxy: accepted 4"), err)
        for s in socks:
            s.close()

    def test_sigterm_closes_connections(self):
        self.start_proxy(delay_ms=10, jitter_ms=0)
        s = self.connect()
        s.sendall(b"x")
        self.assertEqual(self.recv_exactly(s, 1), b"x")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(10), 0)
        self.assertIn("accepted 1", self.proc.stderr.read())
        s.settimeout(3)
        try:
            self.assertEqual(s.recv(1), b"")
        except ConnectionResetError:
            pass
        s.close()


if __name__ == "__main__":
    unittest.main()
