"""A TCP proxy that delays every byte by a jittered latency: the "delay"
fault of tools/chaos (the kernel has no netem, so latency is added in user
space, as etcd's robustness tests and TigerBeetle's Vortex do).

    python3 delay_proxy.py --listen-host 10.1.2.254 --delay-ms 200 \\
        --jitter-ms 100 --seed 7 --map 7610=10.1.2.1:5567 --map 7611=10.1.2.1:6567

Each --map LPORT=HOST:PORT listens on listen-host:LPORT and forwards every
connection it accepts to HOST:PORT. Data read from either side at time t is
written to the other side at t + delay + uniform(-jitter, +jitter), never
before the chunk read ahead of it (TCP delivers in order: jitter may bunch
chunks, never reorder them). A half-close (EOF) is passed on once the
chunks before it are written.

Bounds: at most --conns-max connections at once (more are closed on
accept), at most --queue-bytes-max bytes waiting per direction of a
connection (the proxy stops reading that side until the queue drains: the
sender then sees TCP backpressure, as it would on a slow link), chunks of at
most READ_BYTES. Upstream connects time out after CONNECT_TIMEOUT_S.

Prints "ready" on stdout once every port listens. SIGTERM or SIGINT closes
every connection at once (their peers see the connection end, and
reconnect directly once the harness removed its redirection) and exits 0,
printing one line of counters on stderr.
"""

import argparse
import asyncio
import collections
import random
import signal
import sys
import time

READ_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 2.0
CONNS_MAX_DEFAULT = 256
QUEUE_BYTES_MAX_DEFAULT = 4 * 1024 * 1024
DELAY_MS_MAX = 10000


class Stats:
    def __init__(self):
        self.accepted = 0
        self.refused = 0  # over conns_max, or the upstream did not answer
        self.bytes = 0
        self.chunks = 0
        self.queue_bytes_peak = 0
        self.live = 0
        self.errors = 0  # exceptions asyncio reported outside our tasks
        self.first_error = None


class Pipe:
    """One direction of one connection: reads src, writes dst after the
    delay. Owns nothing: the connection closes both streams."""

    def __init__(self, proxy, src, dst):
        self.proxy = proxy
        self.src = src
        self.dst = dst
        self.queue = collections.deque()  # (due monotonic s, bytes or None for EOF)
        self.queued = 0
        self.room = asyncio.Event()
        self.room.set()
        self.ready = asyncio.Event()
        self.last_due = 0.0

    async def read_side(self):
        p = self.proxy
        while True:
            await self.room.wait()
            data = await self.src.read(READ_BYTES)
            due = max(self.last_due, time.monotonic() + p.sample_delay_s())
            self.last_due = due
            self.queue.append((due, data or None))
            self.ready.set()
            if not data:
                return
            self.queued += len(data)
            p.stats.queue_bytes_peak = max(p.stats.queue_bytes_peak, self.queued)
            if self.queued >= p.queue_bytes_max:
                self.room.clear()

    async def write_side(self):
        p = self.proxy
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            due, data = self.queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if self.dst.can_write_eof():
                    self.dst.write_eof()
                return
            self.dst.write(data)
            await self.dst.drain()
            self.queued -= len(data)
            p.stats.bytes += len(data)
            p.stats.chunks += 1
            if self.queued < p.queue_bytes_max:
                self.room.set()


class Proxy:
    def __init__(self, a):
        self.listen_host = a.listen_host
        self.delay_s = a.delay_ms / 1000.0
        self.jitter_s = a.jitter_ms / 1000.0
        self.conns_max = a.conns_max
        self.queue_bytes_max = a.queue_bytes_max
        self.rng = random.Random("delay/%s" % a.seed)
        self.maps = a.map
        self.stats = Stats()
        self.tasks = set()
        self.writers = set()
        self.servers = []

    def sample_delay_s(self):
        return max(0.0, self.delay_s + self.rng.uniform(-self.jitter_s, self.jitter_s))

    async def start(self):
        for lport, (host, port) in self.maps:
            srv = await asyncio.start_server(
                lambda r, w, host=host, port=port: self.on_accept(r, w, host, port),
                self.listen_host, lport, reuse_address=True, backlog=64)
            self.servers.append(srv)

    def on_accept(self, reader, writer, host, port):
        if self.stats.live >= self.conns_max:
            self.stats.refused += 1
            writer.transport.abort()
            return None
        self.stats.accepted += 1
        self.stats.live += 1
        t = asyncio.ensure_future(self.serve(reader, writer, host, port))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        return None

    async def serve(self, c_reader, c_writer, host, port):
        u_writer = None
        parts = []
        self.writers.add(c_writer)
        try:
            try:
                u_reader, u_writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError):
                self.stats.refused += 1
                return
            self.writers.add(u_writer)
            up = Pipe(self, c_reader, u_writer)
            down = Pipe(self, u_reader, c_writer)
            parts = [asyncio.ensure_future(x) for x in (up.read_side(), up.write_side(),
                                                        down.read_side(), down.write_side())]
            # Both directions end (EOF passed on) or any side fails.
            pending = set(parts)
            ended = 0
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                failed = any(t.exception() is not None for t in done if not t.cancelled())
                ended += sum(1 for t in done if t in (parts[1], parts[3]))
                if failed or ended == 2:
                    break
        finally:
            # Also when this task is cancelled (the proxy closing): the
            # parts' exceptions are collected here, never left unretrieved.
            for w in (c_writer, u_writer):
                if w is not None:
                    self.writers.discard(w)
                    w.transport.abort()
            for t in parts:
                t.cancel()
            if parts:
                await asyncio.gather(*parts, return_exceptions=True)
            self.stats.live -= 1

    async def close(self):
        for s in self.servers:
            s.close()
        for w in list(self.writers):
            w.transport.abort()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def parse_map(text):
    try:
        lport, dest = text.split("=", 1)
        host, port = dest.rsplit(":", 1)
        return int(lport), (host, int(port))
    except ValueError:
        raise argparse.ArgumentTypeError("want LPORT=HOST:PORT, got %r" % text)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen-host", required=True)
    ap.add_argument("--map", type=parse_map, action="append", required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--seed", default="0")
    ap.add_argument("--conns-max", type=int, default=CONNS_MAX_DEFAULT)
    ap.add_argument("--queue-bytes-max", type=int, default=QUEUE_BYTES_MAX_DEFAULT)
    a = ap.parse_args(argv)
    if not 0 <= a.delay_ms <= DELAY_MS_MAX or not 0 <= a.jitter_ms <= a.delay_ms:
        ap.error("want 0 <= jitter-ms <= delay-ms <= %d" % DELAY_MS_MAX)
    if a.conns_max < 1 or a.queue_bytes_max < READ_BYTES:
        ap.error("conns-max >= 1, queue-bytes-max >= %d" % READ_BYTES)
    return a


async def amain(a):
    proxy = Proxy(a)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_error(_loop, context):
        # A connection torn down mid-write is the normal end of a proxied
        # link (the harness resets them): counted, not printed.
        proxy.stats.errors += 1
        if proxy.stats.first_error is None:
            exc = context.get("exception")
            proxy.stats.first_error = ("%s: %s" % (type(exc).__name__, exc) if exc else
                                       context.get("message", "?"))[:120]

    loop.set_exception_handler(on_error)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await proxy.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    await proxy.close()
    s = proxy.stats
    sys.stderr.write("delay_proxy: accepted %d refused %d chunks %d bytes %d queue peak %d "
                     "errors %d%s\n" % (s.accepted, s.refused, s.chunks, s.bytes,
                                        s.queue_bytes_peak, s.errors,
                                        " (first: %s)" % s.first_error if s.first_error else ""))
    sys.stderr.flush()
    return 0


def main(argv):
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
