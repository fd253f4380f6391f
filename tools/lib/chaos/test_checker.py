"""Proves the checker can fail: a clean forged history passes, and each
anomaly planted in a copy of it (a lost acknowledgement, a duplicate, a
reordering, a phantom, ...) is reported under its kind, and only that kind.

    tests/integration/python tools/lib/chaos/test_checker.py [-v]
"""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402
from cluster import durable_lengths  # noqa: E402
from history import parse_payload, payload  # noqa: E402

S0, S1 = "shardId-000000000000", "shardId-000000000001"


def put(t0, t1, recs, res=None, typ="ok", f="put_records", p="p0", err=None):
    ev = {"f": f, "p": p, "gw": 0, "attempt": 0, "t0": t0, "t1": t1, "type": typ,
          "recs": [list(r) for r in recs]}
    if res is not None:
        ev["res"] = [list(x) for x in res]
    if err is not None:
        ev["err"] = err
    return ev


def rec(seq, rid, pk):
    return [str(seq), rid, pk, True]


def final(shard, gw, recs, complete=True):
    return {"f": "final", "p": "final%d" % gw, "gw": gw, "shard": shard, "t0": 100.0,
            "t1": 101.0, "recs": [list(r) for r in recs], "complete": complete, "err": None}


def read(shard, t0, recs, p="r0", chain=0):
    return {"f": "get_records", "p": p, "gw": 1, "shard": shard, "chain": chain, "t0": t0,
            "t1": t0 + 0.01, "type": "ok", "recs": [list(r) for r in recs], "behind_ms": 0,
            "next": True}


def clean_history():
    """Two producers, two shards, one reader per shard, two gateways of
    final reads, one fault; every record acknowledged once."""
    h = [{"f": "meta", "seed": 1, "t0": 0.0, "t1": 0.0}]
    h.append(put(1.0, 1.1, [("0.0", "a")], [(S0, "10")], f="put_record"))
    h.append(put(1.2, 1.3, [("0.1", "a"), ("0.2", "b")], [(S0, "11"), (S1, "20")]))
    h.append(put(1.4, 1.5, [("1.0", "c")], [(S1, "21")], p="p1", f="put_record"))
    h.append(put(1.6, 1.7, [("1.1", "c")], [(S1, "22")], p="p1", f="put_record"))
    h.append({"f": "nemesis", "p": "nemesis", "kind": "kill", "target": "n1", "t0": 2.0,
              "t1": 3.0, "detail": {}})
    h.append(put(3.5, 3.6, [("0.3", "a")], [(S0, "12")], f="put_record"))
    h.append(read(S0, 2.0, [rec(10, "0.0", "a"), rec(11, "0.1", "a")]))
    h.append(read(S0, 4.0, [rec(12, "0.3", "a")]))
    h.append(read(S1, 2.0, [rec(20, "0.2", "b"), rec(21, "1.0", "c"), rec(22, "1.1", "c")],
                  p="r1"))
    s0 = [rec(10, "0.0", "a"), rec(11, "0.1", "a"), rec(12, "0.3", "a")]
    s1 = [rec(20, "0.2", "b"), rec(21, "1.0", "c"), rec(22, "1.1", "c")]
    for gw in (0, 1):
        h.append(final(S0, gw, s0))
        h.append(final(S1, gw, s1))
    return h


def finals(h, shard):
    return [ev for ev in h if ev.get("f") == "final" and ev["shard"] == shard]


class CheckerTest(unittest.TestCase):
    maxDiff = None

    def assertOnly(self, h, *kinds):
        rep = checker.check(h)
        self.assertEqual(sorted(rep.anomalies), sorted(kinds), rep.as_dict())
        self.assertEqual(rep.valid, not kinds)
        return rep

    def test_clean_history_passes(self):
        rep = self.assertOnly(clean_history())
        self.assertEqual(rep.stats["records acknowledged"], 6)
        self.assertEqual(rep.stats["records in final read"], 6)
        self.assertEqual(rep.stats["records read by readers and subscribers"], 6)

    def test_lost_ack(self):
        h = clean_history()
        for ev in finals(h, S0):
            ev["recs"] = [r for r in ev["recs"] if r[1] != "0.3"]
        h = [ev for ev in h if not (ev.get("f") == "get_records" and ev["t0"] == 4.0)]
        rep = self.assertOnly(h, "lost-ack")
        self.assertIn("0.3", rep.anomalies["lost-ack"]["examples"][0])

    def test_duplicate_without_retry(self):
        h = clean_history()
        for ev in finals(h, S1):
            ev["recs"].append(rec(23, "1.1", "c"))
        self.assertOnly(h, "duplicate")

    def test_duplicate_after_unknown_outcome_is_allowed(self):
        h = clean_history()
        h.insert(4, put(1.55, 1.58, [("1.1", "c")], typ="info", p="p1", f="put_record",
                        err="ReadTimeoutError"))
        for ev in finals(h, S1):
            ev["recs"].append(rec(23, "1.1", "c"))
        rep = self.assertOnly(h)
        self.assertEqual(rep.stats["extra copies from client retries (allowed)"], 1)

    def test_more_copies_than_attempts(self):
        h = clean_history()
        h.insert(4, put(1.55, 1.58, [("1.1", "c")], typ="info", p="p1", f="put_record"))
        for ev in finals(h, S1):
            ev["recs"] += [rec(23, "1.1", "c"), rec(24, "1.1", "c")]
        self.assertOnly(h, "duplicate")

    def test_realtime_reordering(self):
        h = clean_history()
        # 0.3 was invoked after 0.1 was acknowledged, on the same shard, but
        # got a lower sequence number.
        for ev in h:
            if ev.get("recs") and ev.get("f") == "put_record" and ev["recs"][0][0] == "0.3":
                ev["res"] = [[S0, "9"]]
        for ev in finals(h, S0):
            ev["recs"] = [rec(9, "0.3", "a")] + [r for r in ev["recs"] if r[1] != "0.3"]
        h = [ev for ev in h if not (ev.get("f") == "get_records" and ev["shard"] == S0)]
        self.assertOnly(h, "realtime-order")

    def test_phantom(self):
        h = clean_history()
        h.append(put(5.0, 5.1, [("0.9", "a")], typ="fail", f="put_record",
                     err="HTTP 400 ValidationException: no"))
        for ev in finals(h, S0):
            ev["recs"].append(rec(13, "0.9", "a"))
        # The 400 itself is a wrong answer too (the stream exists).
        self.assertOnly(h, "phantom", "spurious-error")

    def test_unsent_then_present_is_phantom(self):
        h = clean_history()
        h.append(put(5.0, 5.1, [("0.9", "a")], typ="unsent", f="put_record"))
        for ev in finals(h, S0):
            ev["recs"].append(rec(13, "0.9", "a"))
        self.assertOnly(h, "phantom")

    def test_throttled_is_not_spurious(self):
        h = clean_history()
        h.append(put(5.0, 5.1, [("0.9", "a")], typ="fail", f="put_record",
                     err="HTTP 400 ProvisionedThroughputExceededException: slow down"))
        self.assertOnly(h)

    def test_inconsistent_position(self):
        h = clean_history()
        for ev in h:
            if ev.get("f") == "get_records" and ev["shard"] == S1:
                ev["recs"][1] = rec(21, "0.2", "b")
        # The reader saw 0.2 at 21, the ack and the final say 1.0.
        self.assertOnly(h, "inconsistent-position")

    def test_unknown_and_corrupt_records(self):
        h = clean_history()
        for ev in finals(h, S1):
            ev["recs"].append(["30", "7.7", "z", True])
            ev["recs"].append(["31", None, None, False])
        self.assertOnly(h, "unknown-record")
        h = clean_history()
        for ev in finals(h, S1):
            ev["recs"][0] = ["20", "0.2", "b", False]
        self.assertOnly(h, "corrupt-record")
        h = clean_history()
        for ev in finals(h, S1):
            ev["recs"][0] = ["20", "0.2", "wrong-key", True]
        # The reader and the acknowledgement saw key b there: that position
        # is inconsistent as well.
        self.assertOnly(h, "corrupt-record", "inconsistent-position")

    def test_shard_going_backwards(self):
        h = clean_history()
        for ev in finals(h, S1):
            ev["recs"] = [ev["recs"][0], ev["recs"][2], ev["recs"][1]]
        h = [ev for ev in h if not (ev.get("f") == "get_records" and ev["shard"] == S1)]
        self.assertOnly(h, "nonmonotonic-shard")

    def test_arrival_time_going_backwards(self):
        h = clean_history()
        for ev in finals(h, S1):
            for k, r in enumerate(ev["recs"]):
                r.append(1000 + 10 * k)
        self.assertOnly(h)
        finals(h, S1)[0]["recs"][2][4] = 1005  # a skewed leader's clock
        self.assertOnly(h, "arrival-backwards")

    def test_reader_skip_and_backwards_and_lost_read(self):
        h = clean_history()
        for ev in h:
            if ev.get("f") == "get_records" and ev["shard"] == S1:
                del ev["recs"][1]
        self.assertOnly(h, "read-skip")
        h = clean_history()
        h.append(read(S1, 5.0, [rec(21, "1.0", "c")], p="r1"))
        self.assertOnly(h, "read-nonmonotonic")
        h = clean_history()
        h.append(read(S1, 5.0, [rec(25, "1.1", "c")], p="r1"))
        # Read at 25 but gone from the final read (and 1.1 read twice).
        rep = checker.check(h)
        self.assertIn("lost-read", rep.anomalies)

    def test_iterator_refused(self):
        h = clean_history()
        h.append({"f": "get_records", "p": "r0", "gw": 2, "shard": S0, "chain": 0, "t0": 6.0,
                  "t1": 6.1, "type": "fail", "it_age_s": 0.2,
                  "err": "HTTP 400 InvalidArgumentException: bad iterator"})
        self.assertOnly(h, "iterator-refused")
        h[-1]["it_age_s"] = 301.0  # really expired: AWS's 5 minutes
        self.assertOnly(h)

    def test_subscriber_chains_are_checked_like_readers(self):
        h = clean_history()
        sub = read(S1, 2.5, [rec(20, "0.2", "b"), rec(22, "1.1", "c")], p="s1")
        sub["f"] = "subscribe"
        h.append(sub)
        self.assertOnly(h, "read-skip")
        sub["recs"].insert(1, rec(21, "1.0", "c"))
        self.assertOnly(h)
        h.append({"f": "subscribe_error", "p": "s1", "gw": 0, "shard": S1, "t0": 7.0,
                  "t1": 7.1, "type": "fail", "code": "ResourceInUseException", "err": "busy"})
        self.assertOnly(h)
        h[-1]["code"] = "ResourceNotFoundException"
        self.assertOnly(h, "subscribe-refused")

    def test_subscriber_resume_repeats_or_skips(self):
        # A resubscription AFTER_SEQUENCE_NUMBER its ContinuationSequenceNumber
        # must neither send the last record again nor leave one out.
        h = clean_history()
        first = read(S1, 2.5, [rec(20, "0.2", "b"), rec(21, "1.0", "c")], p="s1")
        first.update(f="subscribe", cont="21")
        again = read(S1, 3.5, [rec(21, "1.0", "c"), rec(22, "1.1", "c")], p="s1", chain=1)
        again.update(f="subscribe", cont="22", after="21")
        h += [first, again]
        self.assertOnly(h, "read-nonmonotonic")
        again["recs"] = [rec(22, "1.1", "c")]
        self.assertOnly(h)
        first["recs"] = [rec(20, "0.2", "b")]
        self.assertOnly(h, "read-skip")

    def test_final_reads_disagree_or_fail(self):
        h = clean_history()
        finals(h, S1)[1]["recs"].pop()
        self.assertOnly(h, "final-divergent")
        h = clean_history()
        for ev in finals(h, S1):
            ev["complete"] = False
        self.assertOnly(h, "final-read-failed")

    def test_malformed_put_records_answer(self):
        h = clean_history()
        h.append(put(5.0, 5.1, [("0.8", "a"), ("0.9", "a")], [(S0, "13")]))
        for ev in finals(h, S0):
            ev["recs"].append(rec(13, "0.8", "a"))
        self.assertOnly(h, "malformed-response")

    def test_no_recovery_after_heal(self):
        h = clean_history()
        h.append({"f": "nemesis", "p": "nemesis", "kind": "pause", "target": "n2", "t0": 10.0,
                  "t1": 11.0, "detail": {}})
        for t in range(12, 60, 2):
            h.append(put(float(t), t + 1.0, [("2.%d" % t, "d")], typ="info", p="p2",
                         f="put_record"))
        rep = self.assertOnly(h, "no-recovery")
        self.assertTrue(rep.windows)

    def test_one_shard_stuck_after_heal(self):
        # Shard 0 serves again after the last heal, shard 1's producer
        # (key c, last acknowledged on shard 1) never succeeds again.
        h = clean_history()
        h.append({"f": "nemesis", "p": "nemesis", "kind": "fsync-error", "target": "n2",
                  "t0": 10.0, "t1": 11.0, "detail": {}})
        for t in range(12, 60, 2):
            h.append(put(float(t), t + 0.5, [("0.%d" % (100 + t), "a")],
                         [(S0, str(100 + t))], f="put_record"))
            h.append(put(float(t), t + 1.0, [("1.%d" % (100 + t), "c")], typ="info", p="p1",
                         f="put_record"))
        for ev in finals(h, S0):
            ev["recs"] += [rec(100 + t, "0.%d" % (100 + t), "a") for t in range(12, 60, 2)]
        rep = self.assertOnly(h, "no-recovery")
        self.assertIn(S1, rep.anomalies["no-recovery"]["examples"][0])

    def test_unhealthy_at_the_end(self):
        h = clean_history()
        h.append({"f": "unhealthy", "p": "nemesis", "t0": 5, "t1": 5, "waited_s": 30,
                  "status": "group 1 NO LEADER"})
        self.assertOnly(h)  # before a fault: reported, not judged
        h.append({"f": "unhealthy", "p": "final", "t0": 99, "t1": 99,
                  "status": "group 1: replica on node 3 lags"})
        self.assertOnly(h, "unhealthy-at-end")

    def test_process_reports(self):
        h = clean_history()
        h.append({"f": "crash", "p": "n1", "t0": 1, "t1": 1, "detail": "exited 134"})
        h.append({"f": "harness-error", "p": "harness", "t0": 1, "t1": 1, "detail": "boom"})
        self.assertOnly(h, "crash", "harness-error")

    def test_per_record_errors_of_put_records(self):
        h = clean_history()
        h.append(put(5.0, 5.1, [("0.8", "a"), ("0.9", "a")],
                     [(S0, "13"), ("info", "InternalFailure")]))
        h.append(put(5.2, 5.3, [("0.9", "a")], [(S0, "14")]))
        for ev in finals(h, S0):
            ev["recs"] += [rec(13, "0.8", "a"), rec(14, "0.9", "a"), rec(15, "0.9", "a")]
        self.assertOnly(h)  # 0.9: one ack plus one unknown outcome, two copies
        for ev in h:
            if ev.get("res") and ev["res"][-1:] == [["info", "InternalFailure"]]:
                ev["res"][-1] = ["fail", "ProvisionedThroughputExceededException"]
        self.assertOnly(h, "duplicate")


S2, S3 = "shardId-000000000002", "shardId-000000000003"
HASH_MAX = 2**128 - 1


def key_hash(pk):
    return int.from_bytes(hashlib.md5(pk.encode()).digest(), "big")


def reshard_history():
    """Shard 0 split at key a's hash: 2 gets [0, hash(a)], 3 the rest. Key
    a is written twice to the parent, then twice to child 2."""
    split = key_hash("a")
    h = [{"f": "meta", "seed": 1, "t0": 0.0, "t1": 0.0}]
    h.append(put(1.0, 1.1, [("0.0", "a")], [(S0, "10")], f="put_record"))
    h.append(put(1.2, 1.3, [("0.1", "a")], [(S0, "11")], f="put_record"))
    h.append({"f": "reshard", "p": "c0", "gw": 0, "op": "split", "t0": 1.5, "t1": 1.6,
              "type": "ok", "args": {"ShardToSplit": S0, "NewStartingHashKey": str(split + 1)}})
    h.append({"f": "reshard_active", "p": "c0", "op": "split", "t0": 1.6, "t1": 1.9,
              "type": "ok", "open_shards": 2, "bound_s": 120})
    h.append(put(2.0, 2.1, [("0.2", "a")], [(S2, "100")], f="put_record"))
    h.append(put(2.2, 2.3, [("0.3", "a")], [(S2, "101")], f="put_record"))
    h.append({"f": "shards", "p": "final", "t0": 99.0, "t1": 99.0, "shards": [
        {"id": S0, "parent": None, "adjacent": None, "lo": "0", "hi": str(HASH_MAX),
         "start": "10", "end": "11"},
        {"id": S2, "parent": S0, "adjacent": None, "lo": "0", "hi": str(split),
         "start": "100", "end": None},
        {"id": S3, "parent": S0, "adjacent": None, "lo": str(split + 1), "hi": str(HASH_MAX),
         "start": "200", "end": None}]})
    for gw in (0, 1):
        h.append(final(S0, gw, [rec(10, "0.0", "a"), rec(11, "0.1", "a")]))
        h.append(final(S2, gw, [rec(100, "0.2", "a"), rec(101, "0.3", "a")]))
        h.append(final(S3, gw, []))
    return h


class ReshardTest(unittest.TestCase):
    maxDiff = None

    def assertOnly(self, h, *kinds):
        rep = checker.check(h)
        self.assertEqual(sorted(rep.anomalies), sorted(kinds), rep.as_dict())
        return rep

    def shards_event(self, h):
        return next(ev for ev in h if ev.get("f") == "shards")["shards"]

    def test_clean_reshard_passes(self):
        rep = self.assertOnly(reshard_history())
        self.assertEqual(rep.stats["partition keys across reshards (order checked)"], 1)
        self.assertEqual(rep.stats["shards closed by reshards"], 1)

    def test_parent_written_after_child(self):
        # 0.3 was invoked after 0.2 was acknowledged in the child, yet went
        # to the parent: a reader draining the parent first sees it before 0.2.
        h = reshard_history()
        for ev in h:
            if ev.get("f") == "put_record" and ev["recs"][0][0] == "0.3":
                ev["res"] = [[S0, "12"]]
        for ev in finals(h, S0):
            ev["recs"].append(rec(12, "0.3", "a"))
        for ev in finals(h, S2):
            ev["recs"] = ev["recs"][:1]
        self.shards_event(h)[0]["end"] = "12"
        rep = self.assertOnly(h, "key-order")
        self.assertIn("0.3", rep.anomalies["key-order"]["examples"][0])

    def test_key_in_two_sibling_shards(self):
        h = reshard_history()
        for ev in h:
            if ev.get("f") == "put_record" and ev["recs"][0][0] == "0.3":
                ev["res"] = [[S3, "200"]]
        for ev in finals(h, S2):
            ev["recs"] = ev["recs"][:1]
        for ev in finals(h, S3):
            ev["recs"] = [rec(200, "0.3", "a")]
        self.assertOnly(h, "key-order", "wrong-shard")

    def test_record_outside_its_shards_range(self):
        h = reshard_history()
        kb = next("b%d" % i for i in range(10000) if key_hash("b%d" % i) <= key_hash("a"))
        h.append(put(3.0, 3.1, [("1.0", kb)], [(S3, "200")], p="p1", f="put_record"))
        for ev in finals(h, S3):
            ev["recs"] = [rec(200, "1.0", kb)]
        self.assertOnly(h, "wrong-shard")

    def test_closed_shard_grows_past_its_end(self):
        h = reshard_history()
        self.shards_event(h)[0]["end"] = "10"
        self.assertOnly(h, "past-shard-end")

    def test_reshard_refused_or_stuck(self):
        h = reshard_history()
        h.append({"f": "reshard", "p": "c0", "gw": 1, "op": "merge", "t0": 5.0, "t1": 5.1,
                  "type": "fail", "args": {},
                  "err": "HTTP 400 ResourceInUseException: Stream x not ACTIVE"})
        self.assertOnly(h)
        h[-1]["err"] = "HTTP 400 InvalidArgumentException: shard is closed"
        self.assertOnly(h, "reshard-refused")
        h = reshard_history()
        for ev in h:
            if ev.get("f") == "reshard_active":
                ev["type"] = "info"
        self.assertOnly(h, "reshard-stuck")
        h = reshard_history()
        next(ev for ev in h if ev.get("f") == "shards").update(active=False, status="UPDATING")
        self.assertOnly(h, "reshard-stuck")


class PayloadTest(unittest.TestCase):
    def test_round_trip_and_tamper(self):
        data = payload("3.14", "w3k1")
        self.assertEqual(parse_payload(data), ("3.14", "w3k1", True))
        self.assertEqual(parse_payload(data[:-1] + b"?"), ("3.14", "w3k1", False))
        self.assertEqual(parse_payload(b"hello"), (None, None, False))


class DurableLengthTest(unittest.TestCase):
    def test_journal_replay(self):
        j = ["O 0 /d/a\n", "S 100 /d/a\n", "O 40 /d/b\n", "D 0 /d/raft/open-1\n",
             "R /d/raft/open-1\t/d/raft/1-9\n", "Z 0 /d/m\n", "S 32 /d/m\n", "O 7 /d/gone\n",
             "U 0 /d/gone\n", "O 64 /d/t\n", "T 10 /d/t\n", "S 5", ]
        self.assertEqual(durable_lengths(j), {"/d/a": 100, "/d/b": 40, "/d/raft/1-9": None,
                                              "/d/m": 32, "/d/t": 10})
        # A reopen does not move the durable length; only an fsync does.
        self.assertEqual(durable_lengths(["O 0 /x\n", "O 50 /x\n"]), {"/x": 0})


if __name__ == "__main__":
    unittest.main()
