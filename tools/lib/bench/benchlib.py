"""Shared by tools/lib/bench/*: a fresh cluster of release eddyd processes (the
tests' harness.Cluster: free 127.0.0.1 ports, data in a temp dir), from a
private copy of the binaries so that a rebuild of the tree during a run
changes nothing."""

import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402


def build_release():
    """cmake --preset release && make -C build/release -j2 (quietly)."""
    print("bench: building build/release", flush=True)
    subprocess.run(["cmake", "--preset", "release"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["make", "-C", "build/release", "-j2", "--no-print-directory"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)


def use_binaries(eddyd):
    """Copies eddyd and the eddy CLI next to it into the run's temp dir and
    points the harness at the copies. Returns a description of the build."""
    eddyd = os.path.abspath(eddyd)
    eddy = os.path.join(os.path.dirname(eddyd), "eddy")
    bindir = os.path.join(harness.tmp_root(), "bin")
    os.makedirs(bindir, exist_ok=True)
    for src in (eddyd, eddy):
        shutil.copy2(src, bindir)
    os.environ["EDDYD"] = os.path.join(bindir, "eddyd")
    os.environ["EDDY"] = os.path.join(bindir, "eddy")
    build_type = "?"
    cache = os.path.join(os.path.dirname(eddyd), "CMakeCache.txt")
    if os.path.exists(cache):
        for line in open(cache):
            if line.startswith("CMAKE_BUILD_TYPE:"):
                build_type = line.split("=", 1)[1].strip()
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    return "%s (%s build, commit %s%s)" % (eddyd, build_type, commit,
                                           " + uncommitted changes" if dirty else "")


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def summary(xs):
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs),
            "p90": percentile(xs, 90), "max": max(xs)}


def machine():
    cpus = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return "%d cores, %.0f GiB RAM, %s" % (cpus, mem_kb / 2**20, os.uname().release)


def now_utc():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
