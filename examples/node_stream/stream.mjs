#!/usr/bin/env node
// Print a tokenwire answer as it streams:
//   node examples/node_stream/stream.mjs --server http://127.0.0.1:8000 [--model ID] "question"
// The answer goes to stdout, a reconnect note and errors to stderr; the exit status is 0 only for
// a complete answer.
import { parseArgs } from "node:util";
import { TokenwireClient } from "../../web/dist/client/index.js";

const { values, positionals } = parseArgs({
  options: {
    server: { type: "string", default: "http://127.0.0.1:8000" },
    model: { type: "string" },
  },
  allowPositionals: true,
});
const message = positionals.join(" ");
if (!message) {
  console.error('usage: stream.mjs [--server URL] [--model ID] "question"');
  process.exit(2);
}

const client = new TokenwireClient({ baseUrl: values.server });
try {
  const stream = client.chat(
    { message, ...(values.model && { model: values.model }) },
    {
      onStatus: (s) => s.state === "reconnecting" && console.error(`[reconnecting: ${s.reason}]`),
    },
  );
  for await (const event of stream) {
    if (event.type === "delta") process.stdout.write(event.text);
    if (event.type === "error") throw Object.assign(new Error(event.message), { code: event.code });
    if (event.type === "done" && event.finish_reason !== "stop") {
      throw Object.assign(new Error("the answer is not complete"), { code: event.finish_reason });
    }
  }
  process.stdout.write("\n");
} catch (error) {
  console.error(`\n${error.code ?? "error"}: ${error.message}`);
  process.exitCode = 1;
}
