// The subscriber side of tools/bench push (see push.py): N SubscribeToShard
// subscriptions through the AWS SDK for JavaScript v3 over HTTP/2 (h2c for
// http://), one KinesisClient (so one HTTP/2 connection) per consumer, all
// from LATEST on one shard. Every record's Data is "INDEX STAMP_NS ...pad",
// STAMP_NS the putter's CLOCK_REALTIME in ns just before it sent the put
// (same machine); puts overlap, so the shard's order (SequenceNumber) need
// not be INDEX order. For each record each subscriber keeps
//   latency = receive time - STAMP_NS
// where the receive time is performance.timeOrigin + performance.now() (the
// realtime clock at start plus the monotonic clock, sub-microsecond) read
// when the SDK hands the event over. Reads commands from stdin:
//   "end N"  the putter sent indexes 0..N-1: wait until every subscriber has
//            them all (or GRACE_MS), print the result JSON and exit.
// Prints "ready" once every subscription's initial-response came.
//   node push.mjs CONFIG_JSON
// CONFIG_JSON: {"endpoint", "shard", "arns": [...], "timeout_ms", "grace_ms"}
import { createRequire } from "node:module";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import readline from "node:readline";

const HERE = dirname(fileURLToPath(import.meta.url));
const JS_DIR = join(HERE, "..", "..", "tests", "integration", "js");
const require = createRequire(join(JS_DIR, "package.json"));
const k = await import(pathToFileURL(require.resolve("@aws-sdk/client-kinesis")).href);

const cfg = JSON.parse(process.argv[2] ?? "null");
if (!cfg || !cfg.endpoint || !Array.isArray(cfg.arns) || cfg.arns.length === 0) {
  console.error("usage: node push.mjs CONFIG_JSON");
  process.exit(2);
}
const GRACE_MS = cfg.grace_ms ?? 10000;
const ORIGIN_MS = performance.timeOrigin;
const nowMs = () => ORIGIN_MS + performance.now();
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const cpu0 = process.cpuUsage();

// Per subscriber: latency (ms) per record, in arrival order, and the order check.
const subs = cfg.arns.map((arn, i) => ({
  i,
  arn,
  lat: [],
  idx: [],
  seen: new Set(),
  lastSeq: -1n,
  outOfOrder: 0, // SequenceNumber not above the previous one
  dups: 0, // an index received again
  events: 0,
  emptyEvents: 0,
  maxRecordsPerEvent: 0,
  error: null,
  ended: false,
}));
const decoder = new TextDecoder();
let ready = 0;
let wantEnd = -1; // the count the putter sent, once known
let finished = false;

function complete(s) {
  return wantEnd >= 0 && s.seen.size >= wantEnd;
}

function maybeFinish() {
  if (!finished && wantEnd >= 0 && subs.every((s) => complete(s) || s.error || s.ended)) {
    finish();
  }
}

// How far nowMs() is from the realtime clock: at the moment Date.now()
// ticks to a new millisecond the two agree to within that tick's detection
// (a few microseconds); the median of a few ticks, in ms.
function clockCheck() {
  const offs = [];
  for (let n = 0; n < 5; n++) {
    const d0 = Date.now();
    let d = d0;
    while ((d = Date.now()) === d0);
    offs.push(nowMs() - d);
  }
  offs.sort((a, b) => a - b);
  return Math.round(offs[2] * 1000) / 1000;
}
const clock0 = clockCheck();

function finish() {
  if (finished) return;
  finished = true;
  loopDelay.disable();
  const cpu = process.cpuUsage(cpu0);
  const out = {
    clock_check: { offset_ms_at_start: clock0, offset_ms_at_end: clockCheck() },
    subscribers: subs.map((s) => ({
      arn: s.arn,
      received: s.lat.length,
      unique: s.seen.size,
      out_of_order: s.outOfOrder,
      dups: s.dups,
      events: s.events,
      empty_events: s.emptyEvents,
      max_records_per_event: s.maxRecordsPerEvent,
      error: s.error,
      lat_ms: s.lat.map((x) => Math.round(x * 1000) / 1000),
      idx: s.idx,
    })),
    cpu_user_ms: cpu.user / 1000,
    cpu_system_ms: cpu.system / 1000,
    event_loop_delay_ms: {
      p50: loopDelay.percentile(50) / 1e6,
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
    },
  };
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
}

async function run(s) {
  const client = new k.KinesisClient({
    endpoint: cfg.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    maxAttempts: 1,
  });
  try {
    const resp = await client.send(
      new k.SubscribeToShardCommand({
        ConsumerARN: s.arn,
        ShardId: cfg.shard ?? "shardId-000000000000",
        StartingPosition: { Type: "LATEST" },
      }),
    );
    if (++ready === subs.length) {
      loopDelay.reset(); // from here on: the measured part
      process.stdout.write("ready\n");
    }
    for await (const ev of resp.EventStream) {
      const t = nowMs();
      const e = ev.SubscribeToShardEvent;
      if (!e) continue;
      s.events++;
      const recs = e.Records ?? [];
      if (recs.length === 0) s.emptyEvents++;
      if (recs.length > s.maxRecordsPerEvent) s.maxRecordsPerEvent = recs.length;
      for (const r of recs) {
        const text = decoder.decode(r.Data.subarray(0, 48));
        const sp1 = text.indexOf(" ");
        const sp2 = text.indexOf(" ", sp1 + 1);
        const index = Number(text.slice(0, sp1));
        const stampNs = BigInt(text.slice(sp1 + 1, sp2 < 0 ? undefined : sp2));
        // ms since the epoch as a double keeps ~0.2 us at today's values.
        const stampMs = Number(stampNs / 1000n) / 1000;
        const seq = BigInt(r.SequenceNumber);
        if (seq <= s.lastSeq) s.outOfOrder++;
        s.lastSeq = seq;
        if (s.seen.has(index)) s.dups++;
        s.seen.add(index);
        s.idx.push(index);
        s.lat.push(t - stampMs);
      }
      maybeFinish();
      if (finished) break;
    }
    s.ended = true;
  } catch (e) {
    s.error = `${e.name}: ${e.message}`;
  }
  maybeFinish();
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const m = /^end (\d+)$/.exec(line.trim());
  if (m) {
    wantEnd = Number(m[1]);
    maybeFinish();
    setTimeout(finish, GRACE_MS).unref();
  }
});
rl.on("close", () => setTimeout(finish, GRACE_MS).unref());
setTimeout(() => {
  for (const s of subs) s.error ??= "timeout";
  finish();
}, cfg.timeout_ms ?? 120000).unref();
// Keep the loop alive while the subscriptions run.
const keepAlive = setInterval(() => {}, 1000);
process.on("exit", () => clearInterval(keepAlive));
for (const s of subs) run(s);
