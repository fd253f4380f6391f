// A representative subset of the Kinesis API through the real AWS SDK for
// JavaScript v3 (its default handler: HTTP/2, h2c on http://), success paths
// and errors, for test_conformance.py. Prints one JSON line:
//   {"ok": true, "steps": [{"op", "result"} | {"op", "error": {name, message,
//    status, requestId}}...]}
// The Python side asserts every value; this script only records them.
//   node conformance.mjs ENDPOINT STREAM
const [endpoint, stream] = process.argv.slice(2);
if (!endpoint || !stream) {
  console.error("usage: node conformance.mjs ENDPOINT STREAM");
  process.exit(2);
}
const k = await import("@aws-sdk/client-kinesis");
const client = new k.KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  maxAttempts: 1,
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (bytes) => new TextDecoder().decode(bytes);
const out = { steps: [] };

// One call: records its result (less $metadata) or its error, returns the
// result (undefined on error).
async function call(op, input, keep = (r) => r) {
  try {
    const r = await client.send(new k[`${op}Command`](input));
    out.steps.push({ op, result: keep(r), status: r.$metadata.httpStatusCode });
    return r;
  } catch (e) {
    out.steps.push({
      op,
      error: {
        name: e.name,
        message: e.message,
        status: e.$metadata?.httpStatusCode,
        requestId: e.$metadata?.requestId,
      },
    });
    return undefined;
  }
}

async function waitFor(check, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

const summary = async () =>
  (await client.send(new k.DescribeStreamSummaryCommand({ StreamName: stream })))
    .StreamDescriptionSummary;

try {
  await call("CreateStream", { StreamName: stream, ShardCount: 2 }, () => ({}));
  await waitFor(async () => (await summary()).StreamStatus === "ACTIVE");
  const sum = await call("DescribeStreamSummary", { StreamName: stream }, (r) => ({
    StreamStatus: r.StreamDescriptionSummary.StreamStatus,
    OpenShardCount: r.StreamDescriptionSummary.OpenShardCount,
    StreamARN: r.StreamDescriptionSummary.StreamARN,
  }));
  const arn = sum.StreamDescriptionSummary.StreamARN;
  await call("ListShards", { StreamName: stream }, (r) => ({
    Shards: r.Shards.map((s) => [s.ShardId, s.HashKeyRange.StartingHashKey,
      s.HashKeyRange.EndingHashKey]),
  }));
  const put = await call("PutRecord", {
    StreamARN: arn,
    PartitionKey: "pk",
    Data: new TextEncoder().encode("js-0"),
    ExplicitHashKey: "0",
  }, (r) => ({ ShardId: r.ShardId, SequenceNumber: r.SequenceNumber }));
  await call("PutRecords", {
    StreamName: stream,
    Records: [1, 2, 3].map((i) => ({
      PartitionKey: `pk-${i}`, Data: new TextEncoder().encode(`js-${i}`), ExplicitHashKey: "0",
    })),
  }, (r) => ({
    FailedRecordCount: r.FailedRecordCount,
    Records: r.Records.map((x) => [x.ShardId, x.SequenceNumber]),
  }));
  const it = await call("GetShardIterator", {
    StreamName: stream,
    ShardId: put.ShardId,
    ShardIteratorType: "AT_SEQUENCE_NUMBER",
    StartingSequenceNumber: put.SequenceNumber,
  }, (r) => ({ length: r.ShardIterator.length }));
  await call("GetRecords", { ShardIterator: it.ShardIterator }, (r) => ({
    Records: r.Records.map((x) => [x.SequenceNumber, x.PartitionKey, text(x.Data)]),
    hasNext: typeof r.NextShardIterator === "string",
    MillisBehindLatest: r.MillisBehindLatest,
  }));
  await call("AddTagsToStream", { StreamName: stream, Tags: { team: "eddy" } }, () => ({}));
  await call("ListTagsForStream", { StreamARN: arn }, (r) => ({ Tags: r.Tags }));
  const reg = await call("RegisterStreamConsumer", { StreamARN: arn, ConsumerName: "js" },
    (r) => ({ ConsumerName: r.Consumer.ConsumerName, ConsumerStatus: r.Consumer.ConsumerStatus }));
  const consumer = reg.Consumer.ConsumerARN;
  await waitFor(async () => (await client.send(new k.DescribeStreamConsumerCommand({
    ConsumerARN: consumer,
  }))).ConsumerDescription.ConsumerStatus === "ACTIVE");
  await call("DescribeStreamConsumer", { ConsumerARN: consumer }, (r) => ({
    ConsumerName: r.ConsumerDescription.ConsumerName,
    ConsumerStatus: r.ConsumerDescription.ConsumerStatus,
    StreamARN: r.ConsumerDescription.StreamARN,
  }));
  const sub = await call("SubscribeToShard", {
    ConsumerARN: consumer,
    ShardId: put.ShardId,
    StartingPosition: { Type: "TRIM_HORIZON" },
  }, () => ({}));
  const pushed = [];
  if (sub) {
    const deadline = Date.now() + 20000;
    for await (const ev of sub.EventStream) {
      if (ev.SubscribeToShardEvent) {
        for (const r of ev.SubscribeToShardEvent.Records) pushed.push(text(r.Data));
      }
      if (pushed.length >= 4 || Date.now() > deadline) break;
    }
  }
  out.pushed = pushed;
  // The errors.
  await call("DescribeStreamSummary", { StreamName: `${stream}-missing` });
  await call("PutRecord", { StreamName: `${stream}-missing`, PartitionKey: "a", Data: new Uint8Array() });
  await call("GetRecords", { ShardIterator: "bm9wZQ==" });
  await call("ListShards", { StreamName: stream, NextToken: "abc" });
  await call("PutRecords", { StreamName: stream, Records: [{ PartitionKey: "", Data: new Uint8Array() }] });
  await call("GetShardIterator", { StreamName: stream, ShardId: "shardId-000000000009",
    ShardIteratorType: "LATEST" });
  await call("SubscribeToShard", { ConsumerARN: `${arn}/consumer/ghost:1`, ShardId: put.ShardId,
    StartingPosition: { Type: "LATEST" } });
  await call("DeregisterStreamConsumer", { ConsumerARN: consumer }, () => ({}));
  await call("DeleteStream", { StreamName: stream, EnforceConsumerDeletion: true }, () => ({}));
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
client.destroy();
console.log(JSON.stringify(out));
process.exit(0); // an abandoned subscription must not keep node alive
