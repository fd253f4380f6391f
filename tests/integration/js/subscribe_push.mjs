// SubscribeToShard pushes through the AWS SDK for JavaScript v3 over HTTP/2
// (h2c for http://): a LATEST subscription receives records put after
// send() resolved, then an empty event (the heartbeat) while idle; a second
// call within 5 s is a ResourceInUseException (HTTP 400); one after 5 s takes
// over, and the first stream's iterator throws ResourceInUseException.
// Prints one JSON line.
//   node subscribe_push.mjs ENDPOINT STREAM CONSUMER_ARN
const [endpoint, stream, consumer] = process.argv.slice(2);
if (!endpoint || !stream || !consumer) {
  console.error("usage: node subscribe_push.mjs ENDPOINT STREAM CONSUMER_ARN");
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
const subscribe = () =>
  send(k.SubscribeToShardCommand, {
    ConsumerARN: consumer,
    ShardId: "shardId-000000000000",
    StartingPosition: { Type: "LATEST" },
  });
const decode = (r) => new TextDecoder().decode(r.Data);
const out = { data: [], sequences: [], put: [] };

try {
  const t0 = Date.now();
  const first = await subscribe();
  const events = first.EventStream[Symbol.asyncIterator]();
  const put = await send(k.PutRecordsCommand, {
    StreamName: stream,
    Records: ["js-0", "js-1", "js-2", "js-3", "js-4"].map((d) => ({
      PartitionKey: "pk",
      Data: new TextEncoder().encode(d),
    })),
  });
  out.put = put.Records.map((r) => r.SequenceNumber);
  const deadline = Date.now() + 20000;
  while (out.data.length < 5 && Date.now() < deadline) {
    const { value } = await events.next();
    for (const r of value.SubscribeToShardEvent.Records) {
      out.data.push(decode(r));
      out.sequences.push(r.SequenceNumber);
    }
    out.continuation = value.SubscribeToShardEvent.ContinuationSequenceNumber;
  }
  // Idle: an empty event comes within a few seconds.
  const { value: idle } = await events.next();
  out.heartbeat = {
    records: idle.SubscribeToShardEvent.Records.length,
    continuation: idle.SubscribeToShardEvent.ContinuationSequenceNumber,
    behind: idle.SubscribeToShardEvent.MillisBehindLatest,
  };
  try {
    await subscribe();
    out.inUse = { name: "none" };
  } catch (e) {
    out.inUse = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  await sleep(Math.max(1100, t0 + 5500 - Date.now()));
  const third = await subscribe();
  try {
    for (;;) {
      const { done } = await events.next();
      if (done) {
        out.takeover = "ended";
        break;
      }
    }
  } catch (e) {
    out.takeover = e.name;
  }
  await send(k.PutRecordCommand, {
    StreamName: stream,
    PartitionKey: "pk",
    Data: new TextEncoder().encode("js-after"),
  });
  for await (const ev of third.EventStream) {
    const recs = ev.SubscribeToShardEvent?.Records ?? [];
    if (recs.length > 0) {
      out.after = decode(recs[0]);
      break;
    }
  }
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
client.destroy();
console.log(JSON.stringify(out));
process.exit(0); // abandoned subscriptions must not keep node alive
