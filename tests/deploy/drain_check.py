"""Checks, from the eddyd logs of a test cluster, that the coordinator's
leader balancer gave no leadership to a node while it was draining (between
its `eddy leader drain` and its stop): the bug a rolling restart used to hit
was a leadership moved back between the two.

  drain_check.py --expect N LOG...

Each LOG is one node's eddyd log (all on one clock: the test's hosts share
the machine's). A node's draining window starts at its "draining: hands
away every leadership" line and ends at its next "signal=N: stopping" (or
"no longer draining") line; a "balance: moving leadership ... to=NODE" line
in any log inside that window is a violation. Prints a summary; exits 0
only with at least N windows and no violation.
"""

import argparse
import re
import sys

LINE_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) n(\d+) ")
DRAIN_RE = re.compile(r"node=(\d+) draining: hands away every leadership")
END_RE = re.compile(r"signal=\d+: stopping|node=\d+ no longer draining")
MOVE_RE = re.compile(r"balance: moving leadership group=(\d+) from=(\d+) to=(\d+)")


def stamp_ms(m):
    h, mi, s, ms = (int(x) for x in m.group(1, 2, 3, 4))
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def scan(paths):
    """([(node, start_ms, end_ms)], [(t_ms, group, from, to, line)])."""
    windows = []
    moves = []
    for path in paths:
        open_at = {}
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE_RE.match(line)
                if not m:
                    continue
                t = stamp_ms(m)
                node = int(m.group(5))
                d = DRAIN_RE.search(line)
                if d:
                    open_at.setdefault(int(d.group(1)), t)
                    continue
                if END_RE.search(line) and node in open_at:
                    windows.append((node, open_at.pop(node), t))
                    continue
                mv = MOVE_RE.search(line)
                if mv:
                    moves.append((t, int(mv.group(1)), int(mv.group(2)), int(mv.group(3)),
                                  line.strip()))
        for node, start in open_at.items():
            windows.append((node, start, float("inf")))
    return windows, moves


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", type=int, required=True, help="draining windows at least")
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    windows, moves = scan(args.logs)
    bad = [(w, mv) for w in windows for mv in moves
           if mv[3] == w[0] and w[1] <= mv[0] <= w[2]]
    print("drain: %d draining windows, %d balancer moves in all, %d to a draining node"
          % (len(windows), len(moves), len(bad)))
    for w, mv in bad:
        print("  node %d drained from %d ms: %s" % (w[0], w[1], mv[4]))
    if len(windows) < args.expect:
        print("  expected at least %d draining windows" % args.expect)
        return 1
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
