#!/usr/bin/env python3
"""Runs the integration tests against real eddyd processes.

    tests/integration/python tests/integration/run.py [-k SUBSTRING]... [--keep] [--list]

The binary is $EDDYD (default build/release/eddyd). Prints one line per test
(PASS/FAIL, seconds), the failure details indented under it, and a final
"N passed, N failed"; exits 1 if anything failed. Each test has a time limit
(its class's timeout_s, 120 s by default). Every eddyd started is stopped at
the end, and an unclean stop (non-zero exit, no exit within 10 s of
SIGTERM, a sanitizer report in its log) is one more failure. Logs and data
stay in the printed temp dir when something failed (or with --keep).
"""

import argparse
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

# Cheap and wide first; the heavy, dedicated-node tests last.
MODULES = [
    "test_protocol",
    "test_http2",
    "test_cbor",
    "test_sigv4",
    "test_streams",
    "test_records",
    "test_settings",
    "test_settings2",
    "test_cli",
    "test_conformance",
    "test_volume",
    "test_limits",
    "test_roles",
    "test_crash",
    "test_cluster",
    "test_leader",
    "test_pause",
    "test_retention",
    "test_reshard",
    "test_consumers",
    "test_subscribe",
    "test_ondemand",
    "test_replace",
]
DEFAULT_TIMEOUT_S = 120


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


_interrupted = False


def _on_term(signum, frame):
    # unittest records any other exception as a test error and goes on;
    # KeyboardInterrupt it lets through, to main, which stops every eddyd.
    global _interrupted
    _interrupted = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


class Result(unittest.TestResult):
    """Prints a line per test; a test with any failed subtest fails once."""

    def __init__(self):
        super().__init__()
        self.passed = 0
        self.failed = 0
        self._errs = []
        self._t0 = 0.0

    def startTest(self, test):
        super().startTest(test)
        self._errs = []
        self._t0 = time.monotonic()
        signal.alarm(int(getattr(test, "timeout_s", DEFAULT_TIMEOUT_S)))

    def _record(self, test, err, label=""):
        self._errs.append(label + self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._record(test, err, "%s\n" % subtest._subDescription())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._errs.append("skipped: %s (a skip counts as a failure here)" % reason)

    def addUnexpectedSuccess(self, test):
        # An expectedFailure marks a known gap: once it passes, the marker
        # (and the gap's entry in docs/API_STATUS.md) must go.
        super().addUnexpectedSuccess(test)
        self._errs.append("unexpected success: the gap this expectedFailure shows is closed")

    def stopTest(self, test):
        signal.alarm(0)
        super().stopTest(test)
        took = time.monotonic() - self._t0
        name = test.id()
        if _interrupted or isinstance(sys.exc_info()[1], KeyboardInterrupt):
            print("STOP %s (%.1fs, interrupted)" % (name, took), flush=True)
        elif self._errs:
            self.failed += 1
            print("FAIL %s (%.1fs)" % (name, took), flush=True)
            for e in self._errs:
                print(indent(trim(e)), flush=True)
        else:
            self.passed += 1
            print("PASS %s (%.1fs)" % (name, took), flush=True)


def drop_library_frames(text):
    """Removes traceback frames inside botocore, boto3 and urllib3: what is
    left is the test's own frames and the error."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("  File "):
            skipping = any(lib in line for lib in ("/botocore/", "/boto3/", "/urllib3/"))
            if not skipping:
                out.append(line)
        elif skipping and line.startswith("    "):
            continue
        else:
            skipping = False
            out.append(line)
    return "\n".join(out)


def trim(text, max_lines=60):
    lines = drop_library_frames(text).rstrip().splitlines()
    if len(lines) > max_lines:
        lines = lines[:10] + ["    ..."] + lines[-(max_lines - 11):]
    return "\n".join(lines)


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose id contains this (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep logs and data dirs")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    args = ap.parse_args()

    loader = unittest.TestLoader()
    tests = []
    for m in MODULES:
        mod = __import__(m)
        tests.extend(iter_tests(loader.loadTestsFromModule(mod)))
    if args.k:
        tests = [t for t in tests if any(k in t.id() for k in args.k)]
    if args.list:
        for t in tests:
            print(t.id())
        return 0

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    binary = harness.eddyd_path()
    print("integration: eddyd %s, %d tests, logs in %s" % (binary, len(tests), harness.tmp_root()),
          flush=True)
    if not os.access(binary, os.X_OK):
        print("FAIL setup: no executable eddyd at %s (build it, or set EDDYD)" % binary)
        print("0 passed, 1 failed")
        harness.cleanup_tmp(False)
        return 1

    result = Result()
    t0 = time.monotonic()
    # A suite of all tests, so setUpClass/tearDownClass run once per class.
    suite = unittest.TestSuite(tests)
    interrupted = False
    try:
        suite.run(result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems = harness.stop_all()
    if interrupted:
        result.failed += 1
        print("FAIL interrupted: the run was stopped before it ended")
    for p in problems:
        result.failed += 1
        print("FAIL shutdown: %s" % p.splitlines()[0])
        print(indent(trim("\n".join(p.splitlines()[1:]))))
    # Errors in setUpClass/tearDownClass/module fixtures are not tests.
    for test, err in result.errors:
        if isinstance(test, unittest.suite._ErrorHolder):
            result.failed += 1
            print("FAIL %s" % test.id())
            print(indent(trim(err)))
    keep = args.keep or result.failed > 0
    if keep:
        print("integration: logs and data kept in %s" % harness.tmp_root())
    harness.cleanup_tmp(keep)
    print("integration: %.0fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (result.passed, result.failed), flush=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
