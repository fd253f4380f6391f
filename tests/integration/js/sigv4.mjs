// SigV4 over HTTP/2: the real AWS SDK for JavaScript v3 (which signs
// ":authority" over HTTP/2) calls ListStreams against ENDPOINT once per
// KEY:SECRET given. Prints one JSON line: per credential, ok or the error's
// name, HTTP status and message, and how many HTTP/2 sessions were opened.
//   node sigv4.mjs ENDPOINT KEY:SECRET...
import http2 from "node:http2";

const [endpoint, ...creds] = process.argv.slice(2);
if (!endpoint || creds.length === 0) {
  console.error("usage: node sigv4.mjs ENDPOINT KEY:SECRET...");
  process.exit(2);
}

let sessions = 0;
const connect = http2.connect;
http2.connect = (...args) => {
  sessions++;
  return connect.apply(http2, args);
};

const k = await import("@aws-sdk/client-kinesis");
const results = [];
for (const cred of creds) {
  const [accessKeyId, secretAccessKey] = cred.split(":");
  const client = new k.KinesisClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
  try {
    const out = await client.send(new k.ListStreamsCommand({}));
    results.push({ ok: true, streams: out.StreamNames.length });
  } catch (e) {
    results.push({ ok: false, name: e.name, status: e.$metadata?.httpStatusCode,
                   message: e.message });
  }
  client.destroy();
}
console.log(JSON.stringify({ results, sessions }));
process.exit(0);
