// SubscribeToShard through the real AWS SDK for JavaScript v3 over HTTP/2
// (h2c for http://, TLS + ALPN h2 for https://): registers a consumer, puts
// records, subscribes from TRIM_HORIZON and reads events until every record
// came (at most 30 s). Prints one JSON line with the data received and the
// event count.
//   node subscribe.mjs ENDPOINT STREAM
const [endpoint, stream] = process.argv.slice(2);
if (!endpoint || !stream) {
  console.error("usage: node subscribe.mjs ENDPOINT STREAM");
  process.exit(2);
}
const k = await import("@aws-sdk/client-kinesis");
const client = new k.KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  maxAttempts: 1,
});
const send = (Cmd, input) => client.send(new Cmd(input));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = { data: [], events: 0 };
const want = ["sub-0", "sub-1", "sub-2"];

async function waitFor(check) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

try {
  await send(k.CreateStreamCommand, { StreamName: stream, ShardCount: 1 });
  await waitFor(async () => {
    const d = await send(k.DescribeStreamSummaryCommand, { StreamName: stream });
    return d.StreamDescriptionSummary.StreamStatus === "ACTIVE";
  });
  const arn = (await send(k.DescribeStreamSummaryCommand, { StreamName: stream }))
    .StreamDescriptionSummary.StreamARN;
  const reg = await send(k.RegisterStreamConsumerCommand, {
    StreamARN: arn,
    ConsumerName: "c1",
  });
  const consumer = reg.Consumer.ConsumerARN;
  await waitFor(async () => {
    const d = await send(k.DescribeStreamConsumerCommand, { ConsumerARN: consumer });
    return d.ConsumerDescription.ConsumerStatus === "ACTIVE";
  });
  for (const w of want) {
    await send(k.PutRecordCommand, {
      StreamName: stream,
      PartitionKey: "pk",
      Data: new TextEncoder().encode(w),
    });
  }
  const sub = await send(k.SubscribeToShardCommand, {
    ConsumerARN: consumer,
    ShardId: "shardId-000000000000",
    StartingPosition: { Type: "TRIM_HORIZON" },
  });
  const deadline = Date.now() + 30000;
  for await (const ev of sub.EventStream) {
    if (ev.SubscribeToShardEvent) {
      out.events++;
      for (const r of ev.SubscribeToShardEvent.Records) {
        out.data.push(new TextDecoder().decode(r.Data));
      }
      out.continuation = ev.SubscribeToShardEvent.ContinuationSequenceNumber;
    }
    if (out.data.length >= want.length || Date.now() > deadline) break;
  }
  await send(k.DeregisterStreamConsumerCommand, { ConsumerARN: consumer });
  await send(k.DeleteStreamCommand, { StreamName: stream });
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
client.destroy();
console.log(JSON.stringify(out));
process.exit(0); // an abandoned subscription must not keep node alive
