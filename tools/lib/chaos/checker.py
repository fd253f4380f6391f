"""The checker: reads a whole history (history.py) and lists every anomaly.
Pure: no cluster, no clock; tools/lib/chaos/test_checker.py feeds it forged
histories to prove that each check can fail.

Anomaly kinds (Jepsen's Kafka queue analysis adapted to Kinesis; an
anomaly of any kind fails the run):

  lost-ack            an acknowledged record is not at its acknowledged
                      (shard, sequence number) in the final read
  lost-read           a record a reader (GetRecords or SubscribeToShard)
                      saw is gone from the final read
  inconsistent-position  two different records seen at one (shard, seq)
                      (acks, readers and final reads all count)
  duplicate           a record appears more often than its attempts that
                      may have applied (acknowledged or unknown outcome)
  phantom             a record appears whose every attempt definitely
                      failed (Jepsen's aborted read)
  unknown-record      a record no producer of this run ever sent
  corrupt-record      data or partition key differ from what was sent
  nonmonotonic-shard  sequence numbers of a final read not strictly
                      increasing
  arrival-backwards   ApproximateArrivalTimestamp of a final read goes
                      backwards (DESIGN.md: it never does within a shard)
  realtime-order      a put acknowledged before another put (same shard)
                      was invoked has the higher sequence number
  key-order           across reshards, per partition key: a put
                      acknowledged before another put of the same key was
                      invoked comes later in the key's order (its shards
                      parent before child, then sequence numbers), or the
                      key's records sit in two shards neither of which
                      descends from the other
  wrong-shard         a record sits in a shard whose hash-key range does
                      not hold its partition key's MD5
  past-shard-end      a closed shard holds a record (read or acknowledged)
                      after its EndingSequenceNumber
  reshard-refused     SplitShard, MergeShards or UpdateShardCount refused
                      with a 4xx other than ResourceInUse/LimitExceeded
                      (the harness asked for a valid reshard of an ACTIVE
                      stream)
  reshard-stuck       a reshard did not bring the stream back to ACTIVE
                      within its bound, or the stream was not ACTIVE when
                      the final reads began
  read-nonmonotonic   a reader's chain went backwards (a subscriber's
                      resubscriptions AFTER_SEQUENCE_NUMBER count as one chain)
  read-skip           a reader's chain skipped records of the shard
  iterator-refused    a GetRecords iterator younger than 5 minutes was
                      refused with a 4xx (iterators must survive failover)
  subscribe-refused   SubscribeToShard refused with a 4xx other than the
                      expected ResourceInUse/LimitExceeded of a resubscribe
  spurious-error      a put failed with a 4xx other than throttling
                      (the stream exists: the answer is wrong)
  malformed-response  PutRecords answered a different number of results
  final-divergent     final reads through two gateways differ
  final-read-failed   a shard could not be read to its tip at the end
  no-recovery         no put succeeded within LIVENESS_S of the last heal,
                      on the whole stream or on one shard whose producers
                      kept trying
  unhealthy-at-end    some group had no agreed, ready leader on every
                      running node 60 s after the faults ended (a stuck
                      replica or group)
  crash, sanitizer    an eddyd died on its own or reported memory errors
  harness-error       the harness itself failed: the run proves nothing

Unavailability windows (gaps of at least UNAVAILABLE_GAP_S without an
acknowledged put while producers were trying) are reported with the
faults active during them; they are not anomalies.
"""

import bisect
import collections
import hashlib

UNAVAILABLE_GAP_S = 1.5
FINAL_HEALTHY_WAIT_S = 60  # chaos.py's wait before the final reads
LIVENESS_S = 30.0
ITERATOR_LIFETIME_S = 300.0
EXAMPLES_MAX = 8
THROTTLE_TEXT = ("ProvisionedThroughputExceededException", "LimitExceededException",
                 "ThrottlingException")
# A new SubscribeToShard while the server still holds the previous one
# (AWS: within 5 s ResourceInUse, within 1 s LimitExceeded): expected.
SUBSCRIBE_RETRY_CODES = ("ResourceInUseException", "LimitExceededException")
# A reshard while the previous one is still under way, or over a quota.
RESHARD_RETRY_CODES = ("ResourceInUseException", "LimitExceededException")


class Report:
    def __init__(self):
        self.anomalies = collections.OrderedDict()
        self.stats = collections.OrderedDict()
        self.windows = []
        self.faults = []

    def add(self, kind, detail):
        a = self.anomalies.setdefault(kind, {"count": 0, "examples": []})
        a["count"] += 1
        if len(a["examples"]) < EXAMPLES_MAX:
            a["examples"].append(detail)

    @property
    def valid(self):
        return not self.anomalies

    def as_dict(self):
        return {"valid": self.valid, "anomalies": self.anomalies, "stats": self.stats,
                "unavailability": self.windows, "faults": self.faults}


class Record:
    __slots__ = ("rid", "pk", "acks", "maybe", "definite", "first_t0")

    def __init__(self, rid, pk, t0):
        self.rid = rid
        self.pk = pk
        self.acks = []  # (shard, seq, t0, t1)
        self.maybe = 0  # attempts of unknown outcome
        self.definite = 0  # attempts that definitely failed
        self.first_t0 = t0


def _seq(s):
    return int(s)


def _puts(events, rep):
    """{rid: Record} from every put attempt."""
    recs = {}
    for ev in events:
        if ev.get("f") not in ("put_record", "put_records", "put_open"):
            continue
        items = ev.get("recs") or []
        typ = ev.get("type")
        res = ev.get("res")
        if typ == "ok" and (res is None or len(res) != len(items)):
            rep.add("malformed-response", "%s at t=%s: %d records, %s results"
                    % (ev["f"], ev.get("t0"), len(items), None if res is None else len(res)))
            res = [["info", "malformed"]] * len(items)
        if typ == "fail" and not any(t in (ev.get("err") or "") for t in THROTTLE_TEXT):
            rep.add("spurious-error", "%s %s at t=%s via gateway %s: %s"
                    % (ev.get("p"), ev["f"], ev.get("t0"), ev.get("gw"), ev.get("err")))
        for k, (rid, pk) in enumerate(items):
            r = recs.get(rid)
            if r is None:
                r = recs[rid] = Record(rid, pk, ev.get("t0", 0))
            if typ == "ok":
                x = res[k]
                if x[0] == "fail":
                    r.definite += 1
                elif x[0] == "info":
                    r.maybe += 1
                else:
                    r.acks.append((x[0], _seq(x[1]), ev["t0"], ev["t1"]))
            elif typ in ("fail", "unsent"):
                r.definite += 1
            else:
                r.maybe += 1
    return recs


def _finals(events, rep):
    """{shard: [(seq, rid, pk, intact)]} as read through each gateway:
    ({shard: {gw: list}}, {shard: reference list})."""
    per = collections.defaultdict(dict)
    arrivals = collections.defaultdict(dict)
    gone = set()
    for ev in events:
        if ev.get("f") != "final":
            continue
        if not ev.get("complete"):
            rep.add("final-read-failed", "%s through gateway %s: %s"
                    % (ev.get("shard"), ev.get("gw"), ev.get("err") or "not read to the tip"))
            if ev.get("gone"):
                gone.add(ev["shard"])
            continue
        per[ev["shard"]][ev["gw"]] = [(_seq(r[0]), r[1], r[2], r[3]) for r in ev["recs"]]
        arrivals[ev["shard"]][ev["gw"]] = [(_seq(r[0]), r[4]) for r in ev["recs"]
                                           if len(r) > 4 and r[4] is not None]
    # A shard the cluster says does not exist holds nothing: whatever was
    # acknowledged on it is lost.
    for shard in gone - set(per):
        per[shard]["(not found)"] = []
    ref = {}
    for shard, by_gw in sorted(per.items()):
        lists = sorted(by_gw.items(), key=lambda x: str(x[0]))
        best = max(lists, key=lambda x: len(x[1]))
        ref[shard] = best[1]
        for gw, lst in lists:
            if lst != best[1]:
                n = min(len(lst), len(best[1]))
                k = next((i for i in range(n) if lst[i] != best[1][i]), n)
                rep.add("final-divergent", "%s: gateway %s read %d records, gateway %s %d; "
                        "first difference at index %d: %r vs %r" % (
                            shard, gw, len(lst), best[0], len(best[1]), k,
                            lst[k] if k < len(lst) else None,
                            best[1][k] if k < len(best[1]) else None))
    return per, ref, arrivals


def _positions(events, recs, rep):
    """Every observation of (shard, seq) -> set of (rid, pk), checking
    that each position holds one record and that every record read is
    intact and was sent."""
    seen = collections.defaultdict(set)
    where = collections.defaultdict(list)  # (shard, seq) -> [who saw what]
    for r in recs.values():
        for shard, seq, _t0, _t1 in r.acks:
            seen[(shard, seq)].add((r.rid, r.pk))
            where[(shard, seq)].append("ack of %s" % r.rid)
    reported_bad = set()
    for ev in events:
        if ev.get("f") not in ("get_records", "subscribe", "final") or \
                ev.get("type", "ok") != "ok":
            continue
        who = "%s via gateway %s" % (ev.get("p") or "final", ev.get("gw"))
        for r in ev.get("recs") or []:
            s, rid, pk, intact = r[:4]
            key = (ev["shard"], _seq(s))
            seen[key].add((rid, pk))
            where[key].append("%s: %s" % (who, rid))
            if key in reported_bad:
                continue
            if rid is None:
                reported_bad.add(key)
                rep.add("unknown-record", "%s/%s read by %s: data not written by this run"
                        % (ev["shard"], s, who))
            elif rid not in recs:
                reported_bad.add(key)
                rep.add("unknown-record", "%s/%s read by %s: record %s was never sent"
                        % (ev["shard"], s, who, rid))
            elif not intact or pk != recs[rid].pk:
                reported_bad.add(key)
                rep.add("corrupt-record", "%s/%s read by %s: record %s with key %r (sent %r), "
                        "data intact: %s" % (ev["shard"], s, who, rid, pk, recs[rid].pk, intact))
    for key, vals in sorted(seen.items()):
        if len(vals) > 1:
            rep.add("inconsistent-position", "%s/%d holds %s (seen as: %s)"
                    % (key[0], key[1], sorted(vals, key=str), "; ".join(where[key][:6])))
    return seen


def _lost_and_dups(recs, ref, rep):
    at = {}
    copies = collections.Counter()
    for shard, lst in ref.items():
        for seq, rid, _pk, _ok in lst:
            at[(shard, seq)] = rid
            if rid is not None:
                copies[rid] += 1
    acked = retried_dups = present_unacked = 0
    for r in recs.values():
        for shard, seq, t0, t1 in r.acks:
            acked += 1
            if shard not in ref:
                continue  # final-read-failed already says why it is unchecked
            if (shard, seq) not in at:
                rep.add("lost-ack", "record %s (key %s) acknowledged at %s/%d (put t=%.3f..%.3f) "
                        "is not in the final read of %s (%d records, last seq %s)"
                        % (r.rid, r.pk, shard, seq, t0, t1, shard, len(ref[shard]),
                           ref[shard][-1][0] if ref[shard] else None))
        n = copies.get(r.rid, 0)
        allowed = len(r.acks) + r.maybe
        if n > 0 and allowed == 0:
            rep.add("phantom", "record %s appears %d time(s) but each of its %d attempts "
                    "definitely failed" % (r.rid, n, r.definite))
        elif n > allowed:
            rep.add("duplicate", "record %s appears %d times; acknowledged %d, %d attempts of "
                    "unknown outcome" % (r.rid, n, len(r.acks), r.maybe))
        elif n > max(1, len(r.acks)):
            retried_dups += n - max(1, len(r.acks))
        if n and not r.acks:
            present_unacked += 1
    return acked, retried_dups, present_unacked


def _shard_order(per, arrivals, rep):
    for shard, by_gw in sorted(per.items()):
        for gw, lst in sorted(by_gw.items(), key=lambda x: str(x[0])):
            back = [(a[0], b[0]) for a, b in zip(lst, lst[1:]) if a[0] >= b[0]]
            if back:
                rep.add("nonmonotonic-shard", "%s through gateway %s: %d places, first %d then %d"
                        % (shard, gw, len(back), back[0][0], back[0][1]))
    for shard, by_gw in sorted(arrivals.items()):
        for gw, lst in sorted(by_gw.items(), key=lambda x: str(x[0])):
            back = [(a, b) for a, b in zip(lst, lst[1:]) if b[1] < a[1]]
            if back:
                (s1, t1), (s2, t2) = back[0]
                rep.add("arrival-backwards", "%s through gateway %s: ApproximateArrivalTimestamp "
                        "goes back at %d places, first %d ms at seq %d, then %d ms at seq %d"
                        % (shard, gw, len(back), t1, s1, t2, s2))


def _realtime(recs, rep):
    """A put acknowledged before another was invoked, on the same shard,
    has the lower sequence number."""
    by_shard = collections.defaultdict(list)
    for r in recs.values():
        for shard, seq, t0, t1 in r.acks:
            by_shard[shard].append((t1, t0, seq, r.rid))
    for shard, acks in sorted(by_shard.items()):
        acks.sort()
        ends = [a[0] for a in acks]
        best = []  # prefix maximum of seq by ack time: (seq, rid, t1)
        for t1, _t0, seq, rid in acks:
            if best and best[-1][0] >= seq:
                best.append(best[-1])
            else:
                best.append((seq, rid, t1))
        for t1, t0, seq, rid in acks:
            k = bisect.bisect_left(ends, t0)  # acks that completed before t0
            if k and best[k - 1][0] >= seq:
                a_seq, a_rid, a_t1 = best[k - 1]
                rep.add("realtime-order", "%s: record %s acknowledged at t=%.3f with seq %d, "
                        "yet record %s invoked later (t=%.3f) got seq %d"
                        % (shard, a_rid, a_t1, a_seq, rid, t0, seq))


def _lineage(events):
    """{shard id: history shard entry} from the final ListShards and the
    shards the watcher saw appear (workload.shard_entry)."""
    out = {}
    for ev in events:
        if ev.get("f") in ("shards", "shards_seen"):
            for x in ev.get("shards") or []:
                out[x["id"]] = x
    return out


def _ancestors(lineage):
    """{shard: set of its ancestors} (parents, adjacent parents, theirs)."""
    memo = {}

    def up(sid, depth=0):
        if sid in memo:
            return memo[sid]
        x = lineage.get(sid) or {}
        found = set()
        if depth < len(lineage) + 1:
            for p in (x.get("parent"), x.get("adjacent")):
                if p:
                    found.add(p)
                    found |= up(p, depth + 1)
        memo[sid] = found
        return found

    return {sid: up(sid) for sid in lineage}


def _key_hash(pk):
    return int.from_bytes(hashlib.md5(pk.encode()).digest(), "big")


def _reshard_order(recs, ref, lineage, rep):
    """Per partition key, across reshards: parent before children. A key
    hashes into exactly one open shard at a time, so the shards that ever
    held it form one line of descent; a record's place in the key's order
    is (its shard's place on that line, its sequence number), and a put
    acknowledged before another of the key was invoked must come first.
    Returns the number of keys whose records span more than one shard."""
    anc = _ancestors(lineage)
    for shard, lst in sorted(ref.items()):
        x = lineage.get(shard)
        if x is None:
            continue
        lo, hi, end = int(x["lo"]), int(x["hi"]), x.get("end")
        bad = [(seq, rid, pk) for seq, rid, pk, _ok in lst if pk is not None and
               not lo <= _key_hash(pk) <= hi]
        if bad:
            rep.add("wrong-shard", "%s (hash keys %d..%d) holds %d records of keys outside it, "
                    "first %s (key %s) at seq %d" % (shard, lo, hi, len(bad), bad[0][1],
                                                     bad[0][2], bad[0][0]))
        if end is not None:
            late = [(seq, rid) for seq, rid, _pk, _ok in lst if seq > _seq(end)]
            late_acks = [(r.rid, seq) for r in recs.values() for s, seq, _t0, _t1 in r.acks
                         if s == shard and seq > _seq(end)]
            if late or late_acks:
                rep.add("past-shard-end", "%s closed at %s, yet %d records read and %d "
                        "acknowledged after it, first %r" % (
                            shard, end, len(late), len(late_acks), (late or late_acks)[0]))
    by_key = collections.defaultdict(list)
    for r in recs.values():
        for shard, seq, t0, t1 in r.acks:
            by_key[r.pk].append((shard, seq, t0, t1, r.rid))
    spanning = 0
    for pk, acks in sorted(by_key.items()):
        shards = sorted({a[0] for a in acks})
        if len(shards) < 2:
            continue  # one shard: realtime-order covers it
        if any(s not in lineage for s in shards):
            continue  # no lineage (an older history): nothing to order by
        spanning += 1
        unrelated = [(a, b) for i, a in enumerate(shards) for b in shards[i + 1:]
                     if a not in anc[b] and b not in anc[a]]
        if unrelated:
            rep.add("key-order", "key %s has acknowledged records in %s and %s, neither "
                    "descends from the other" % (pk, unrelated[0][0], unrelated[0][1]))
            continue
        rank = {s: len(anc[s]) for s in shards}
        acks.sort(key=lambda a: a[3])
        ends = [a[3] for a in acks]
        best = []  # prefix maximum of the position by ack time
        for shard, seq, _t0, t1, rid in acks:
            pos = (rank[shard], seq)
            if best and best[-1][0] >= pos:
                best.append(best[-1])
            else:
                best.append((pos, shard, seq, rid, t1))
        for shard, seq, t0, _t1, rid in acks:
            k = bisect.bisect_left(ends, t0)
            if k and best[k - 1][0] >= (rank[shard], seq):
                _pos, a_shard, a_seq, a_rid, a_t1 = best[k - 1]
                rep.add("key-order", "key %s: record %s acknowledged at t=%.3f at %s/%d, yet "
                        "record %s invoked later (t=%.3f) went to %s/%d, before it in the "
                        "key's order (parent shards before children)"
                        % (pk, a_rid, a_t1, a_shard, a_seq, rid, t0, shard, seq))
                break
    return spanning


def _control_plane(events, rep):
    """Reshards and leader transfers of the control thread: stats, and the
    refused or stuck reshards."""
    counts = collections.Counter()
    for ev in events:
        f = ev.get("f")
        if f == "reshard":
            counts["reshard %s %s" % (ev.get("op"), ev.get("type"))] += 1
            if ev.get("type") == "fail" and not any(c in (ev.get("err") or "")
                                                    for c in RESHARD_RETRY_CODES):
                rep.add("reshard-refused", "%s %s via gateway %s at t=%s: %s"
                        % (ev.get("op"), ev.get("args"), ev.get("gw"), ev.get("t0"),
                           ev.get("err")))
        elif f == "reshard_active":
            counts["reshard done" if ev.get("type") == "ok" else "reshard stuck"] += 1
            if ev.get("type") != "ok":
                rep.add("reshard-stuck", "%s begun by t=%s: stream not ACTIVE within %ss"
                        % (ev.get("op"), ev.get("t0"), ev.get("bound_s")))
        elif f == "shards" and ev.get("active") is False:
            rep.add("reshard-stuck", "the stream was %s, not ACTIVE, when the final reads began "
                    "(after waiting for it)" % ev.get("status"))
        elif f == "transfer":
            counts["transfer %s" % ("ok" if ev.get("type") == "ok" else "failed")] += 1
    return counts


def _readers(events, ref, rep):
    chains = collections.defaultdict(list)  # (reader, shard) -> [(seq, t0, chain)]
    for ev in events:
        if ev.get("f") == "subscribe_error" and ev.get("type") == "fail" and \
                ev.get("code") not in SUBSCRIBE_RETRY_CODES:
            rep.add("subscribe-refused", "%s %s via gateway %s at t=%s: %s"
                    % (ev.get("p"), ev.get("shard"), ev.get("gw"), ev.get("t0"), ev.get("err")))
        if ev.get("f") not in ("get_records", "subscribe"):
            continue
        if ev.get("type") == "fail" and not any(t in (ev.get("err") or "") for t in THROTTLE_TEXT):
            if (ev.get("it_age_s") or 0) < ITERATOR_LIFETIME_S:
                rep.add("iterator-refused", "%s %s via gateway %s at t=%s (iterator %.1fs old): %s"
                        % (ev.get("p"), ev.get("shard"), ev.get("gw"), ev.get("t0"),
                           ev.get("it_age_s") or 0, ev.get("err")))
        if ev.get("type") != "ok":
            continue
        for r in ev.get("recs") or []:
            chains[(ev["p"], ev["shard"])].append((_seq(r[0]), ev["t0"], ev.get("chain", 0)))
    read = 0
    for (p, shard), lst in sorted(chains.items()):
        read += len(lst)
        back = [(a, b) for a, b in zip(lst, lst[1:]) if b[0] <= a[0]]
        if back:
            a, b = back[0]
            rep.add("read-nonmonotonic", "%s on %s: seq %d at t=%s, then %d at t=%s (%d places)"
                    % (p, shard, a[0], a[1], b[0], b[1], len(back)))
            continue
        if shard not in ref:
            continue
        final = [x[0] for x in ref[shard]]
        index = {s: k for k, s in enumerate(final)}
        missing = [x for x in lst if x[0] not in index]
        for x in missing[:EXAMPLES_MAX]:
            rep.add("lost-read", "%s read %s/%d at t=%s; the final read of %s does not have it"
                    % (p, shard, x[0], x[1], shard))
        if missing:
            continue
        # A chain from TRIM_HORIZON (and its AFTER_SEQUENCE_NUMBER
        # continuations) must be exactly a prefix of the shard.
        for k, x in enumerate(lst):
            if index[x[0]] != k:
                rep.add("read-skip", "%s on %s: its record #%d is seq %d (t=%s), but the shard's "
                        "record #%d is seq %d: %d records skipped"
                        % (p, shard, k, x[0], x[1], k, final[k], index[x[0]] - k))
                break
    return read


def _put_times(events):
    """(tries, oks): put attempt start times and acknowledgement times,
    overall (key None) and per shard (an attempt counts for the shard its
    partition key was next acknowledged on: after a reshard the key's
    shard changes)."""
    acks_of = collections.defaultdict(list)  # pk -> [(t1, shard)]
    for ev in events:
        if ev.get("f") in ("put_record", "put_records") and ev.get("type") == "ok":
            for (rid, pk), x in zip(ev.get("recs") or [], ev.get("res") or []):
                if x[0] not in ("fail", "info"):
                    acks_of[pk].append((ev["t1"], x[0]))
    for v in acks_of.values():
        v.sort()
    ack_times = {pk: [a[0] for a in v] for pk, v in acks_of.items()}

    def shard_at(pk, t):
        v = acks_of.get(pk)
        if not v:
            return None
        k = bisect.bisect_left(ack_times[pk], t)
        return v[min(k, len(v) - 1)][1]

    tries = collections.defaultdict(list)
    oks = collections.defaultdict(list)
    for ev in events:
        if ev.get("f") not in ("put_record", "put_records"):
            continue
        tries[None].append(ev["t0"])
        for rid, pk in ev.get("recs") or []:
            shard = shard_at(pk, ev["t0"])
            if shard is not None:
                tries[shard].append(ev["t0"])
        if ev.get("type") == "ok":
            acked = {x[0] for x in ev.get("res") or [] if x[0] not in ("fail", "info")}
            if acked:
                oks[None].append(ev["t1"])
            for shard in acked:
                oks[shard].append(ev["t1"])
    for d in (tries, oks):
        for v in d.values():
            v.sort()
    return tries, oks


def _gaps(tries, oks, end_t):
    if not tries:
        return []
    points = [tries[0]] + oks
    stop = max(tries[-1], oks[-1] if oks else tries[0])
    if end_t is not None:
        stop = min(stop, end_t)
    return [(a, b) for a, b in zip(points, points[1:] + [stop]) if b - a >= UNAVAILABLE_GAP_S]


def _availability(events, rep, end_t):
    tries, oks = _put_times(events)
    faults = [ev for ev in events if ev.get("f") == "nemesis"]
    if not tries:
        return
    for a, b in _gaps(tries[None], oks[None], end_t):
        active = sorted({"%s %s" % (f["kind"], f.get("target", "")) for f in faults
                         if f["t0"] < b and f["t1"] > a - 1.0})
        rep.windows.append({"from": round(a, 3), "to": round(b, 3),
                            "seconds": round(b - a, 3), "faults": active})
    # Per fault: the shards that went without an acknowledged put while
    # producers were trying, and for how long. A stall belongs to the
    # fault whose span (injection to 10 s after the heal, or to the next
    # injection) it overlaps most.
    spans = []
    for k, f in enumerate(faults):
        hi = f["t1"] + 10.0
        if k + 1 < len(faults):
            hi = min(hi, faults[k + 1]["t0"])
        spans.append((f["t0"], max(hi, f["t1"])))
    stalls = [{} for _ in faults]
    for shard in sorted(s for s in tries if s is not None):
        for a, b in _gaps(tries[shard], oks[shard], end_t):
            overlaps = [min(b, hi) - max(a, lo) for lo, hi in spans]
            if not overlaps or max(overlaps) <= 0:
                continue
            k = overlaps.index(max(overlaps))
            stalls[k][shard] = max(stalls[k].get(shard, 0.0), round(b - a, 2))
    for entry, st in zip(rep.faults, stalls):
        entry["shards_stalled"] = st
    if faults:
        last_heal = max(f["t1"] for f in faults)
        after = [t for t in oks[None] if t >= last_heal]
        later_tries = [t for t in tries[None] if t >= last_heal + LIVENESS_S]
        if not after and later_tries:
            rep.add("no-recovery", "no put succeeded after the last fault healed at t=%.3f "
                    "(producers kept trying until t=%.3f)" % (last_heal, tries[None][-1]))
        elif after and after[0] - last_heal > LIVENESS_S:
            rep.add("no-recovery", "first put success %.1fs after the last fault healed "
                    "(t=%.3f; bound %.0fs)" % (after[0] - last_heal, last_heal, LIVENESS_S))
        # Every shard too: with the network healed and every node up, a
        # group stuck behind a broken leader is a liveness failure even
        # while the other shards serve.
        for shard in sorted(s for s in tries if s is not None):
            tried = [t for t in tries[shard] if t >= last_heal]
            acked = [t for t in oks[shard] if t >= last_heal]
            first = acked[0] if acked else None
            if tried and tried[-1] >= last_heal + LIVENESS_S and (
                    first is None or first - last_heal > LIVENESS_S):
                rep.add("no-recovery", "%s: %s after the last fault healed at t=%.3f "
                        "(producers tried until t=%.3f; bound %.0fs)" % (
                            shard, "no put succeeded" if first is None else
                            "first put success %.1fs" % (first - last_heal), last_heal,
                            tried[-1], LIVENESS_S))


def check(events):
    """Returns a Report over events (a list of history dicts)."""
    rep = Report()
    for ev in events:
        if ev.get("f") in ("crash", "sanitizer", "harness-error"):
            rep.add(ev["f"], ev.get("detail"))
        elif ev.get("f") == "unhealthy" and ev.get("p") == "final":
            # Every fault healed 12 s ago and the harness waited 60 s more:
            # a group without an agreed, ready leader now (or a replica that
            # never catches up) is stuck, not recovering.
            rep.add("unhealthy-at-end", "the cluster was not healthy %s s after the faults "
                    "ended and the workload stopped; eddy cluster status:\n%s"
                    % (FINAL_HEALTHY_WAIT_S, ev.get("status") or "(none)"))
        elif ev.get("f") == "nemesis":
            rep.faults.append({k: ev.get(k) for k in ("t0", "t1", "kind", "target", "how",
                                                      "detail", "leaders", "stream_groups")})
    recs = _puts(events, rep)
    per, ref, arrivals = _finals(events, rep)
    _positions(events, recs, rep)
    acked, retried_dups, present_unacked = _lost_and_dups(recs, ref, rep)
    _shard_order(per, arrivals, rep)
    _realtime(recs, rep)
    read = _readers(events, ref, rep)
    lineage = _lineage(events)
    spanning = _reshard_order(recs, ref, lineage, rep)
    control = _control_plane(events, rep)
    end_t = next((ev["workload_end"] for ev in events if "workload_end" in ev), None)
    _availability(events, rep, end_t)
    s = rep.stats
    put_events = [ev for ev in events if ev.get("f") in ("put_record", "put_records")]
    s["put attempts"] = len(put_events)
    s["put attempts ok / fail / unsent / unknown outcome"] = "%d / %d / %d / %d" % tuple(
        sum(1 for ev in put_events if ev.get("type") == t) for t in ("ok", "fail", "unsent", "info"))
    s["records sent"] = len(recs)
    s["records acknowledged"] = acked
    s["records with an attempt of unknown outcome"] = sum(1 for r in recs.values() if r.maybe)
    s["records definitely failed, never acknowledged"] = sum(
        1 for r in recs.values() if not r.acks and not r.maybe)
    s["unacknowledged records present (unknown outcome, applied)"] = present_unacked
    s["extra copies from client retries (allowed)"] = retried_dups
    s["GetRecords calls"] = sum(1 for ev in events if ev.get("f") == "get_records")
    s["SubscribeToShard calls / events"] = "%d / %d" % (
        sum(1 for ev in events if ev.get("f") in ("subscribe_start", "subscribe_error")),
        sum(1 for ev in events if ev.get("f") == "subscribe"))
    s["records read by readers and subscribers"] = read
    s["records in final read"] = sum(len(v) for v in ref.values())
    s["shards read at the end"] = len(ref)
    s["shards closed by reshards"] = sum(1 for x in lineage.values() if x.get("end"))
    s["partition keys across reshards (order checked)"] = spanning
    for k in sorted(control):
        s["control: " + k] = control[k]
    s["faults injected"] = len(rep.faults)
    s["cluster not healthy in time: before a fault (30 s) / at the end (60 s)"] = "%d / %d" % (
        sum(1 for ev in events if ev.get("f") == "unhealthy" and ev.get("p") == "nemesis"),
        sum(1 for ev in events if ev.get("f") == "unhealthy" and ev.get("p") == "final"))
    s["unavailable seconds (put gaps >= %.1fs)" % UNAVAILABLE_GAP_S] = round(
        sum(w["seconds"] for w in rep.windows), 1)
    return rep
