"""The cluster under test: n eddyd nodes, each in its own network namespace
with its own address on a bridge this module creates, and the faults that
act on them (signals, nftables rules, lost un-fsynced writes).

Topology (one run; <p> is the harness's pid, so parallel runs never clash):

    root namespace: bridge chz<p> 10.<a>.<b>.254/24  <- the workload's side
      veth chz<p>v<i> == eth0 in namespace chz-<p>-n<i>: 10.<a>.<b>.<i>/24
        eddyd --node-id i --gateway 10.<a>.<b>.<i>:4567 --rpc ...:5567
              --raft ...:6567 --data RUN/n<i>/data

Everything made here is registered in a Teardown, run on normal exit, on an
exception, on SIGINT/SIGTERM (the caller turns those into exceptions) and
by atexit; eddyd also gets PR_SET_PDEATHSIG, so a SIGKILLed harness still
takes its nodes with it, and the next run removes namespaces and bridges
left by harnesses that are no longer alive (sweep_stale).
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

GATEWAY_PORT = 4567
RPC_PORT = 5567
RAFT_PORT = 6567
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
NS_PREFIX = "chz-"
LINK_PREFIX = "chz"
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:")
# A table of ours in each node's namespace, replaced whole on every change.
NFT_TABLE = "chaos"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
# The delay fault's redirection (a table of its own: partitions replace
# NFT_TABLE whole) and the proxy's ports on the bridge address.
NFT_REDIRECT_TABLE = "chaosdelay"
PROXY_PORT_BASE = 7600
# libfiu (Debian fiu-utils, libfiu0): the posix preload makes fsync and
# fdatasync fail on command (fiu-ctrl through a FIFO per process).
FIU_LIBS = ["/usr/lib/fiu/fiu_run_preload.so", "/usr/lib/fiu/fiu_posix_preload.so"]
FIU_CTRL = "fiu-ctrl"
FIU_SYNC_POINTS = "posix/io/sync/*"
EIO = 5


def fiu_available():
    return all(os.path.exists(p) for p in FIU_LIBS) and shutil.which(FIU_CTRL) is not None

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run(cmd, check=True, input_text=None, timeout_s=20):
    """Runs a short command; returns CompletedProcess (text)."""
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True,
                       timeout=timeout_s, stdin=None if input_text is not None else
                       subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                 (p.stderr or p.stdout).strip()))
    return p


class Teardown:
    """Undo actions, run last-in first-out exactly once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.actions = []

    def add(self, label, fn):
        with self.lock:
            self.actions.append((label, fn))

    def run(self):
        errors = []
        while True:
            with self.lock:
                if not self.actions:
                    break
                label, fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # keep undoing the rest
                errors.append("%s: %s" % (label, e))
        return errors


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def sweep_stale():
    """Removes namespaces and bridges of earlier harness runs whose process
    is gone (a harness killed with SIGKILL cannot clean up)."""
    removed = []
    p = run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^chz-(\d+)-n\d+$", name)
        if m and not _pid_alive(int(m.group(1))):
            run(["ip", "netns", "del", name], check=False)
            removed.append(name)
    # The host ends of the veth pairs (deleting one end deletes both; a
    # namespace whose sockets the kernel still tears down can keep them
    # for a long time), then the bridges.
    p = run(["ip", "-o", "link", "show"], check=False)
    links = [m.groups() for m in (re.match(r"^\d+: (chz(\d+)(v\d+)?)[:@]", line)
                                  for line in p.stdout.splitlines()) if m]
    for name, pid, veth in sorted(links, key=lambda x: x[2] is None):
        if not _pid_alive(int(pid)):
            run(["ip", "link", "del", name], check=False)
            removed.append(name)
    return removed


def _used_subnets():
    p = run(["ip", "-o", "-4", "addr", "show"], check=False)
    used = set()
    for line in p.stdout.splitlines():
        m = re.search(r"inet (\d+)\.(\d+)\.(\d+)\.\d+/", line)
        if m:
            used.add(tuple(int(x) for x in m.groups()))
    p = run(["ip", "-o", "-4", "route", "show"], check=False)
    for line in p.stdout.splitlines():
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)\.\d+/", line)
        if m:
            used.add(tuple(int(x) for x in m.groups()))
    return used


class Net:
    """The bridge and one namespace per node. addr(i) is node i's address
    (i from 1), host is the bridge's (the workload's source address)."""

    def __init__(self, n, teardown):
        self.n = n
        self.tag = str(os.getpid())
        self.bridge = LINK_PREFIX + self.tag
        if len(self.bridge) > 15 - 2:
            raise RuntimeError("pid %s too long for interface names" % self.tag)
        self.teardown = teardown
        used = _used_subnets()
        pid = os.getpid()
        for k in range(250):
            cand = (10, 200 + (pid + k) % 50, (pid // 50 + k) % 250)
            if cand not in used:
                self.subnet = cand
                break
        else:
            raise RuntimeError("no free 10.x.y.0/24 for the chaos bridge")
        self.host = self._ip(254)

    def _ip(self, last):
        return "%d.%d.%d.%d" % (self.subnet + (last,))

    def addr(self, i):
        return self._ip(i)

    def ns(self, i):
        return "%s%s-n%d" % (NS_PREFIX, self.tag, i)

    def setup(self):
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.teardown.add("bridge " + self.bridge,
                          lambda: run(["ip", "link", "del", self.bridge], check=False))
        run(["ip", "addr", "add", self.host + "/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            veth = "%s%sv%d" % (LINK_PREFIX, self.tag, i)
            run(["ip", "netns", "add", ns])
            self.teardown.add("netns " + ns,
                              lambda ns=ns: run(["ip", "netns", "del", ns], check=False))
            run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self.teardown.add("veth " + veth,
                              lambda veth=veth: run(["ip", "link", "del", veth], check=False))
            run(["ip", "link", "set", veth, "master", self.bridge, "up"])
            run(["ip", "-n", ns, "addr", "add", self.addr(i) + "/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return self

    # ---- nftables: each node drops what the current fault says --------------

    def set_rules(self, i, drop_in=(), drop_out=(), loss_pct=0, loss_peers=()):
        """Replaces node i's chaos table: drop packets from drop_in and to
        drop_out (addresses), and loss_pct % of the packets exchanged with
        loss_peers. Nothing given: no table (healed)."""
        ns = self.ns(i)
        run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", NFT_TABLE], check=False)
        if not drop_in and not drop_out and not (loss_pct and loss_peers):
            return
        rules_in, rules_out = [], []
        if drop_in:
            rules_in.append("ip saddr { %s } drop" % ", ".join(drop_in))
        if drop_out:
            rules_out.append("ip daddr { %s } drop" % ", ".join(drop_out))
        if loss_pct and loss_peers:
            peers = ", ".join(loss_peers)
            rules_in.append("ip saddr { %s } numgen random mod 100 < %d drop" % (peers, loss_pct))
            rules_out.append("ip daddr { %s } numgen random mod 100 < %d drop" % (peers, loss_pct))
        text = ("table inet %s {\n"
                "  chain input { type filter hook input priority 0; policy accept;\n    %s\n  }\n"
                "  chain output { type filter hook output priority 0; policy accept;\n    %s\n  }\n"
                "}\n") % (NFT_TABLE, "\n    ".join(rules_in), "\n    ".join(rules_out))
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input_text=text)

    def heal(self):
        for i in range(1, self.n + 1):
            self.set_rules(i)
        self.clear_redirect()
        self.stop_proxy()

    # ---- the delay fault: peer traffic through a proxy in the root namespace --

    def proxy_port(self, i, port):
        """The delay proxy's listening port (on self.host) standing for
        node i's port (RPC_PORT or RAFT_PORT)."""
        return PROXY_PORT_BASE + 10 * i + (0 if port == RPC_PORT else 1)

    def set_redirect(self, i):
        """Sends every new RPC and Raft connection between node i and its
        peers (both ways) to the delay proxy's ports on self.host (nftables
        DNAT in each namespace's output path), and resets the connections
        that already run directly: an established flow keeps its NAT
        decision, so without the reset it would never see the proxy. A
        proxied flow's packets leave with the proxy's address, so the reset
        rule, after NAT, only ever matches the direct ones."""
        for j in range(1, self.n + 1):
            dests = [k for k in range(1, self.n + 1) if k != j and (j == i or k == i)]
            if not dests:
                continue
            nat = ["ip daddr %s tcp dport %d dnat to %s:%d"
                   % (self.addr(k), port, self.host, self.proxy_port(k, port))
                   for k in dests for port in (RPC_PORT, RAFT_PORT)]
            text = ("table ip %s {\n"
                    "  chain nat_out { type nat hook output priority -100; policy accept;\n"
                    "    %s\n  }\n"
                    "  chain out { type filter hook output priority 0; policy accept;\n"
                    "    ip daddr { %s } tcp dport { %d, %d } reject with tcp reset\n  }\n"
                    "}\n") % (NFT_REDIRECT_TABLE, "\n    ".join(nat),
                              ", ".join(self.addr(k) for k in dests), RPC_PORT, RAFT_PORT)
            ns = self.ns(j)
            run(["ip", "netns", "exec", ns, "nft", "delete", "table", "ip", NFT_REDIRECT_TABLE],
                check=False)
            run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input_text=text)

    def clear_redirect(self):
        for j in range(1, self.n + 1):
            run(["ip", "netns", "exec", self.ns(j), "nft", "delete", "table", "ip",
                 NFT_REDIRECT_TABLE], check=False)

    def start_proxy(self, delay_ms, jitter_ms, seed):
        """Starts delay_proxy.py in the root namespace with a port for each
        node's RPC and Raft port (main thread only: PR_SET_PDEATHSIG)."""
        assert threading.current_thread() is threading.main_thread()
        self.stop_proxy()
        cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "delay_proxy.py"),
               "--listen-host", self.host, "--delay-ms", str(delay_ms),
               "--jitter-ms", str(jitter_ms), "--seed", str(seed)]
        for k in range(1, self.n + 1):
            for port in (RPC_PORT, RAFT_PORT):
                cmd += ["--map", "%d=%s:%d" % (self.proxy_port(k, port), self.addr(k), port)]
        self.proxy = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      preexec_fn=_die_with_parent)
        line = self.proxy.stdout.readline().strip()  # bounded: it prints or exits
        if line != "ready":
            err = self.stop_proxy()
            raise RuntimeError("delay proxy did not start: %s" % err)

    def stop_proxy(self):
        """Ends the delay proxy (every proxied connection with it); returns
        its counters line, or None if none ran."""
        p, self.proxy = getattr(self, "proxy", None), None
        if p is None:
            return None
        if p.poll() is None:
            p.terminate()
        try:
            _out, err = p.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            _out, err = p.communicate()
        lines = (err or "").strip().splitlines()
        counters = [line for line in lines if line.startswith("delay_proxy:")]
        if counters:
            return counters[-1][:300]
        return "(no counters; exit %s: %s)" % (p.returncode, lines[-1][:200] if lines else "")


def durable_lengths(journal_lines, trust_dsync=True):
    """Replays an fsync_shim journal (fsync_shim.c): {path: durable length},
    None for files written with O_DSYNC (never cut). Files absent from the
    result were not written by the process. trust_dsync=False (the
    sabotage mode) treats O_DSYNC writes of the shard groups (not the
    coordinator's) as unsynced: their Raft log is then acknowledged before
    it is durable, which the checker must catch."""
    state = {}
    for line in journal_lines:
        if not line.endswith("\n"):
            break  # a line cut by the kill
        line = line[:-1]
        op = line[:1]
        if op == "R":
            try:
                old, new = line[2:].split("\t", 1)
            except ValueError:
                continue
            if old in state:
                state[new] = state.pop(old)
            else:
                state.pop(new, None)
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        size, path = int(parts[1]), parts[2]
        if op == "O":
            state.setdefault(path, size)
        elif op == "Z":
            state[path] = 0
        elif op == "D":
            state[path] = None if trust_dsync or "/groups/" not in path else size
        elif op == "S":
            if state.get(path, 0) is not None:
                state[path] = size
        elif op == "T":
            if path in state and state[path] is not None:
                state[path] = min(state[path], size)
        elif op == "U":
            state.pop(path, None)
    return state


class Node:
    """One eddyd in its namespace. The process is eddyd itself (`ip netns
    exec` switches namespace and execs, it does not fork), so signals go
    straight to it."""

    def __init__(self, cluster, i):
        self.cluster = cluster
        self.id = i
        self.ip = cluster.net.addr(i)
        self.dir = os.path.join(cluster.run_dir, "n%d" % i)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        self.log_path = os.path.join(self.dir, "eddyd.log")
        self.proc = None
        self.starts = 0
        self.paused = False
        self.expected_exit = True  # False while it runs: an exit is a crash
        self.journal = None
        self.faketime = None  # libfaketime's FAKETIME for the next start ("+30s")
        self.log_checked = 0
        self.problems = []  # (kind, text)

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.ip, GATEWAY_PORT)

    @property
    def rpc(self):
        return "%s:%d" % (self.ip, RPC_PORT)

    def args(self):
        c = self.cluster
        return [
            "--node-id", str(self.id),
            "--data", self.data,
            "--roles", "coordinator,server,gateway",
            "--gateway", "%s:%d" % (self.ip, GATEWAY_PORT),
            "--rpc", "%s:%d" % (self.ip, RPC_PORT),
            "--raft", "%s:%d" % (self.ip, RAFT_PORT),
            "--peers", c.peers,
            "--groups", str(c.groups),
        ] + list(c.extra_args)

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s=START_TIMEOUT_S):
        self.spawn()
        self.wait_ready(timeout_s)

    def spawn(self):
        """Starts eddyd. Only from the main thread: PR_SET_PDEATHSIG fires
        when the spawning *thread* ends."""
        assert threading.current_thread() is threading.main_thread()
        if self.is_running():
            raise RuntimeError("n%d already running" % self.id)
        self.starts += 1
        self.journal = os.path.join(self.dir, "fsync.%d.log" % self.starts)
        env = dict(os.environ)
        env.update({"CHAOS_FSYNC_LOG": self.journal, "CHAOS_FSYNC_ROOT": self.data})
        preload = [self.cluster.shim] if self.cluster.shim else []
        if self.cluster.fiu:
            # Armed by fiu_sync_fail(); fiu-ctrl finds the FIFOs by pid
            # (`ip netns exec` execs, so the pid is eddyd's).
            preload = FIU_LIBS + preload
            env.update({"FIU_CTRL_FIFO": os.path.join(self.dir, "fiu"), "FIU_ENABLE": ""})
        if self.faketime:
            # libfaketime shifts the wall clock only: Raft's timers run on
            # CLOCK_MONOTONIC and stay real.
            preload.append(FAKETIME_LIB)
            env.update({"FAKETIME": self.faketime, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                        "FAKETIME_NO_CACHE": "1"})
        if preload:
            env["LD_PRELOAD"] = " ".join(preload)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        cmd = ["ip", "netns", "exec", self.cluster.net.ns(self.id),
               self.cluster.eddyd] + self.args()
        with open(self.log_path, "ab") as log:
            log.write(("==== start %d%s: %s\n" % (
                self.starts, " FAKETIME=%s" % self.faketime if self.faketime else "",
                " ".join(cmd))).encode())
            log.flush()
            self.start_offset = log.tell()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.dir, env=env,
                                         preexec_fn=_die_with_parent)
        self.paused = False

    def wait_ready(self, timeout_s=START_TIMEOUT_S):
        """Waits for the gateway's "listening" line of this start."""
        want = "gateway listening on http://%s:%d" % (self.ip, GATEWAY_PORT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("n%d exited with %s before it was ready; log:\n%s"
                                   % (self.id, self.proc.returncode, self.log_tail()))
            if want in self.log_text(self.start_offset):
                self.expected_exit = False
                return
            time.sleep(0.05)
        raise RuntimeError("n%d not ready after %ds; log:\n%s" % (self.id, timeout_s,
                                                                  self.log_tail()))

    def log_text(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join("    " + l for l in self.log_text().splitlines()[-lines:])

    def check_log(self):
        """Records a sanitizer report written since the last look."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_checked)
                raw = f.read()
        except FileNotFoundError:
            return
        self.log_checked += len(raw)
        text = raw.decode("utf-8", "replace")
        m = SANITIZER_RE.search(text)
        if m:
            start = text.rfind("\n", 0, m.start()) + 1
            self.problems.append(("sanitizer", "n%d: %s" % (self.id, text[start:start + 2000])))

    def check_alive(self):
        """True if the node runs or was stopped by us; records a crash once."""
        if self.proc is None or self.expected_exit or self.proc.poll() is None:
            return True
        self.expected_exit = True
        self.check_log()
        self.problems.append(("crash", "n%d exited on its own with status %s; log tail:\n%s"
                              % (self.id, self.proc.returncode, self.log_tail(25))))
        return False

    def kill(self):
        """SIGKILL (a process crash: the page cache survives)."""
        self.expected_exit = True
        if self.is_running():
            if self.paused:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.paused = False
        self.check_log()

    def pause(self):
        if self.is_running() and not self.paused:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.is_running() and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout_s=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL after timeout_s; returns a problem or None."""
        if not self.is_running():
            self.expected_exit = True
            return None
        self.expected_exit = True
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "n%d did not exit within %ds of SIGTERM" % (self.id, timeout_s)
        finally:
            self.check_log()
        if self.proc.returncode != 0:
            return "n%d exited with status %s after SIGTERM" % (self.id, self.proc.returncode)
        return None

    def fiu_sync_fail(self, on):
        """Makes every fsync and fdatasync of the running node fail with
        EIO (on) or succeed again (off), through libfiu's control FIFO.
        Returns None or what went wrong."""
        if not self.cluster.fiu:
            return "libfiu not preloaded"
        if not self.is_running():
            return "n%d not running" % self.id
        cmd = ("enable name=%s,failinfo=%d" % (FIU_SYNC_POINTS, EIO) if on
               else "disable name=%s" % FIU_SYNC_POINTS)
        try:
            p = run([FIU_CTRL, "-f", os.path.join(self.dir, "fiu"), "-c", cmd,
                     str(self.proc.pid)], check=False, timeout_s=5)
        except subprocess.TimeoutExpired:
            return "fiu-ctrl timed out"
        if p.returncode != 0:
            return "fiu-ctrl exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[:200])
        return None

    def lose_unsynced(self):
        """After a kill: cuts every file the process wrote to its last
        durable length (a power loss). Returns (files cut, bytes dropped)."""
        if self.is_running():
            raise RuntimeError("n%d: lose_unsynced while running" % self.id)
        try:
            with open(self.journal) as f:
                lengths = durable_lengths(f.readlines(), not self.cluster.sabotage)
        except FileNotFoundError:
            return 0, 0
        files = dropped = 0
        for path, durable in sorted(lengths.items()):
            if durable is None:
                continue
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                continue
            if size > durable:
                os.truncate(path, durable)
                files += 1
                dropped += size - durable
        return files, dropped

    def wipe(self):
        if self.is_running():
            raise RuntimeError("n%d: wipe while running" % self.id)
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data, exist_ok=True)


class Cluster:
    """n nodes on a fresh bridge. eddyd/eddy: binaries; shim: the built
    fsync_shim.so (or None); run_dir: where data and logs go."""

    def __init__(self, n, run_dir, eddyd, eddy, shim, groups, teardown, extra_args=()):
        self.run_dir = run_dir
        self.eddyd = eddyd
        self.eddy = eddy
        self.shim = shim
        self.groups = groups
        self.extra_args = extra_args
        self.teardown = teardown
        self.sabotage = False  # power losses also drop O_DSYNC writes
        self.fiu = False  # nodes start with libfiu preloaded (the fsync-error fault)
        self.net = Net(n, teardown)
        self.nodes = []
        self.peers = ",".join("%d=%s:%d/%s:%d" % (i, self.net.addr(i), RPC_PORT,
                                                   self.net.addr(i), RAFT_PORT)
                              for i in range(1, n + 1))

    def setup(self):
        self.net.setup()
        self.nodes = [Node(self, i) for i in range(1, self.net.n + 1)]
        self.teardown.add("eddyd processes", self.kill_all)
        return self

    def node(self, i):
        return self.nodes[i - 1]

    def endpoints(self):
        return [n.endpoint for n in self.nodes]

    def start(self):
        for n in self.nodes:
            n.spawn()
        for n in self.nodes:
            n.wait_ready()

    def kill_all(self):
        for n in self.nodes:
            if n.is_running():
                n.kill()

    def stop_all(self):
        return [p for p in (n.stop() for n in self.nodes) if p]

    # ---- status through the eddy CLI (from the root namespace) ----------------

    def node_status(self, node, timeout_s=5):
        """`eddy status` of node: {group: {"leader", "ready", "applied",
        "last", "hydrating"}} (group 0: coordinator), or None."""
        try:
            p = subprocess.run([self.eddy, "status", "--rpc", node.rpc],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        out = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) < 5 or f[0] in ("group", "node"):
                continue
            try:
                g = 0 if f[0] == "coord" else int(f[0])
                out[g] = {"leader": int(f[1]), "ready": f[2] == "yes", "applied": int(f[3]),
                          "last": int(f[4]), "hydrating": "hydrating" in f[5:]}
            except ValueError:
                continue
        return out or None

    def statuses(self, nodes=None):
        nodes = [n for n in (nodes or self.nodes) if n.is_running() and not n.paused]
        out = {}
        threads = []

        def one(n):
            out[n.id] = self.node_status(n)

        for n in nodes:
            t = threading.Thread(target=one, args=(n,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        return out

    def leaders(self, st=None):
        """{group: node id} for groups whose leader every running node that
        hosts the group agrees on and that leader calls itself ready ({}
        while a running node does not answer)."""
        st = self.statuses() if st is None else st
        leaders = {}
        if any(s is None for s in st.values()):
            return {}  # a running node that does not answer: not healthy
        for g in range(self.groups + 1):
            # With more nodes than replicas, a node hosts only some groups.
            seen = {s[g]["leader"] for s in st.values() if g in s}
            if len(seen) != 1:
                continue
            lid = seen.pop()
            if lid and lid in st and st[lid] and st[lid].get(g, {}).get("ready"):
                leaders[g] = lid
        return leaders

    def wait_healthy(self, timeout_s=60):
        """Every group has an agreed, ready leader (all nodes running).
        Returns the leaders or raises."""
        deadline = time.monotonic() + timeout_s
        while True:
            leaders = self.leaders()
            if len(leaders) == self.groups + 1:
                return leaders
            if time.monotonic() > deadline:
                raise RuntimeError("cluster not healthy after %ds: leaders %r; status %r"
                                   % (timeout_s, leaders, self.statuses()))
            time.sleep(0.25)

    def drain(self, node, timeout_s=15):
        """`eddy leader drain --rpc node` (moves its leaderships away);
        returns {"drain": exit status, "out": last output line}."""
        try:
            p = subprocess.run([self.eddy, "leader", "drain", "--rpc", node.rpc, "--timeout",
                                str(timeout_s)], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=timeout_s + 10)
        except subprocess.TimeoutExpired:
            return {"drain": "timeout"}
        lines = (p.stdout + p.stderr).strip().splitlines()
        return {"drain": p.returncode, "out": lines[-1][:200] if lines else ""}

    def undrain(self, node, timeout_s=10):
        """`eddy leader undrain --rpc node`: a drained node takes leadership
        again (drain holds until then or until the node restarts);
        returns {"undrain": exit status}."""
        try:
            p = subprocess.run([self.eddy, "leader", "undrain", "--rpc", node.rpc],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"undrain": "timeout"}
        return {"undrain": p.returncode}

    def transfer(self, node):
        """Leadership moved off node and the node open to it again: a drain
        and an undrain."""
        res = self.drain(node)
        res.update(self.undrain(node))
        return res

    def cluster_status_text(self, timeout_s=10):
        rpcs = ",".join(n.rpc for n in self.nodes if n.is_running())
        try:
            p = subprocess.run([self.eddy, "cluster", "status", "--rpc", rpcs],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout_s)
            return (p.stdout + p.stderr).rstrip()
        except subprocess.TimeoutExpired:
            return "(eddy cluster status did not answer in %ds)" % timeout_s

    def shard_groups(self):
        """{(stream, shard index): group} from the nodes' data dirs
        (groups/<g>/shards/<stream>@<ms>/<index>/)."""
        out = {}
        for n in self.nodes:
            base = os.path.join(n.data, "groups")
            try:
                groups = os.listdir(base)
            except FileNotFoundError:
                continue
            for g in groups:
                sdir = os.path.join(base, g, "shards")
                try:
                    for d in os.listdir(sdir):
                        stream = d.rsplit("@", 1)[0]
                        for idx in os.listdir(os.path.join(sdir, d)):
                            if idx.isdigit():
                                out[(stream, int(idx))] = int(g)
                except (FileNotFoundError, NotADirectoryError, ValueError):
                    continue
        return out
