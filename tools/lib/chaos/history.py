"""The history of a chaos run: every client attempt and every fault, one
JSON object per line (history.jsonl), times in seconds since the run began
(time.monotonic, one clock for all threads of the harness).

Common fields: t0 (invoked), t1 (returned), f (what), p (process: p<N>
producer, r<N> reader, final<N> final drain through gateway N, nemesis),
type: "ok", "fail" (definitely not applied: a 4xx), "unsent" (never reached
a server) or "info" (outcome unknown: 5xx, timeout, dropped connection).

  f=put_record / put_records: gw, attempt, recs [[record id, partition
      key]], on ok res: per record [shard, seq] or ["fail"|"info", code]
  f=get_shard_iterator: gw, shard, after (seq or null)
  f=get_records: gw, shard, chain (a reader's iterator chain number), on ok
      recs [[seq, record id or null, partition key, data intact, arrival
      ms]], behind_ms, next; on error err, it_age_s
  f=subscribe: gw, shard, chain, after, recs as above, cont (the event's
      ContinuationSequenceNumber), behind_ms; subscribe_start (the call
      answered), subscribe_end (the server ended the stream), subscribe_error
      (err, code)
  f=final: gw, shard, recs as above, complete (read to the tip), gone (the
      cluster said the shard does not exist)
  f=nemesis: kind, target, detail; t0 fault injected, t1 healed
  f=meta: seed, stream, shards, nodes, argv (the first line)

A record's data is payload(id, key): it names the record and its key, so
any read can be traced to the put that wrote it and checked byte for byte.
"""

import hashlib
import json
import threading
import time

PAYLOAD_PREFIX = b"chaos|"


def _filler(rid):
    h = hashlib.sha256(rid.encode()).hexdigest()
    return (h * 8)[: 16 + int(h[:2], 16)]


def payload(rid, pk):
    """The data of record rid with partition key pk (40 to 300 bytes)."""
    return b"%s%s|%s|%s" % (PAYLOAD_PREFIX, rid.encode(), pk.encode(), _filler(rid).encode())


def parse_payload(data):
    """(record id, partition key, intact) of data read back; (None, None,
    False) for data no producer of ours wrote."""
    if not data.startswith(PAYLOAD_PREFIX):
        return None, None, False
    parts = data[len(PAYLOAD_PREFIX):].split(b"|")
    if len(parts) != 3:
        return None, None, False
    try:
        rid, pk = parts[0].decode(), parts[1].decode()
    except UnicodeDecodeError:
        return None, None, False
    return rid, pk, data == payload(rid, pk)


class History:
    """Thread-safe, append-only; written to path as it grows (so a run cut
    short still leaves its history)."""

    def __init__(self, path):
        self.t_start = time.monotonic()
        self.lock = threading.Lock()
        self.events = []
        self.f = open(path, "w") if path else None

    def now(self):
        return round(time.monotonic() - self.t_start, 4)

    def add(self, ev, t0=None):
        ev = dict(ev)
        ev["t1"] = self.now()
        ev["t0"] = ev["t1"] if t0 is None else t0
        with self.lock:
            self.events.append(ev)
            if self.f:
                self.f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        return ev

    def close(self):
        with self.lock:
            if self.f:
                self.f.close()
                self.f = None

    def snapshot(self):
        with self.lock:
            return list(self.events)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
