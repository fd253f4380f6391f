// Runs the Kinesis data-plane calls through the real AWS SDK for JavaScript
// v3 (its default handler: HTTP/2 for every operation, an isolated session
// per request) against ENDPOINT (http:// for h2c, https:// for TLS + ALPN h2;
// trust a self-signed CA with NODE_EXTRA_CA_CERTS). Prints one JSON line with
// what each call returned and how many HTTP/2 sessions the SDK opened.
//   node kinesis_ops.mjs ENDPOINT STREAM
import http2 from "node:http2";

const [endpoint, stream] = process.argv.slice(2);
if (!endpoint || !stream) {
  console.error("usage: node kinesis_ops.mjs ENDPOINT STREAM");
  process.exit(2);
}

// Count sessions before the SDK loads (it may keep a reference to connect).
let sessions = 0;
const connect = http2.connect;
http2.connect = (...args) => {
  sessions++;
  return connect.apply(http2, args);
};

const k = await import("@aws-sdk/client-kinesis");
const client = new k.KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  maxAttempts: 1,
});
const send = (Cmd, input) => client.send(new Cmd(input));
const out = { steps: [] };
const step = (name, value) => out.steps.push({ name, ...value });

try {
  await send(k.CreateStreamCommand, { StreamName: stream, ShardCount: 2 });
  step("CreateStream", {});
  const deadline = Date.now() + 30000;
  let status = "";
  while (status !== "ACTIVE" && Date.now() < deadline) {
    const d = await send(k.DescribeStreamSummaryCommand, { StreamName: stream });
    status = d.StreamDescriptionSummary.StreamStatus;
    if (status !== "ACTIVE") await new Promise((r) => setTimeout(r, 100));
  }
  step("Active", { status });
  const put = await send(k.PutRecordCommand, {
    StreamName: stream,
    PartitionKey: "pk-0",
    Data: new TextEncoder().encode("hello-0"),
  });
  step("PutRecord", { shardId: put.ShardId, seq: put.SequenceNumber });
  const entries = [];
  for (let i = 1; i <= 10; i++) {
    entries.push({ PartitionKey: `pk-${i}`, Data: new TextEncoder().encode(`hello-${i}`) });
  }
  const puts = await send(k.PutRecordsCommand, { StreamName: stream, Records: entries });
  step("PutRecords", { failed: puts.FailedRecordCount, count: puts.Records.length });
  const shards = await send(k.ListShardsCommand, { StreamName: stream });
  step("ListShards", { shards: shards.Shards.map((s) => s.ShardId) });
  const data = [];
  for (const s of shards.Shards) {
    const it = await send(k.GetShardIteratorCommand, {
      StreamName: stream,
      ShardId: s.ShardId,
      ShardIteratorType: "TRIM_HORIZON",
    });
    const recs = await send(k.GetRecordsCommand, { ShardIterator: it.ShardIterator });
    for (const r of recs.Records) data.push(new TextDecoder().decode(r.Data));
  }
  step("GetRecords", { data: data.sort() });
  try {
    await send(k.DescribeStreamSummaryCommand, { StreamName: stream + "-missing" });
    step("Missing", { error: null });
  } catch (e) {
    step("Missing", { error: e.name, status: e.$metadata?.httpStatusCode });
  }
  await send(k.DeleteStreamCommand, { StreamName: stream });
  step("DeleteStream", {});
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
out.sessions = sessions;
client.destroy();
console.log(JSON.stringify(out));
