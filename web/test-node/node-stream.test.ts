/**
 * examples/node_stream: its command prints a streamed answer, and its forwarder hands each event
 * to a renderer the way an Electron main process does (`webContents.send`), cancelling the answer
 * on the server when the window closes. Against a real `tokenwire serve`.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { EventEmitter } from "node:events";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { forwardAnswer, TokenwireClient } from "../../examples/node_stream/forward.mjs";
import { ANSWER, type RunningServer, startServer } from "./server.js";

const example = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "examples", "node_stream");
let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.stop();
});

/** Stands in for an Electron BrowserWindow: its webContents records what `send` got. */
class FakeWindow extends EventEmitter {
  readonly sent: [string, { type?: string; text?: string; state?: string }][] = [];
  readonly webContents = {
    send: (channel: string, payload: { type?: string; text?: string; state?: string }) => {
      this.sent.push([channel, payload]);
      this.emit("sent", channel, payload);
    },
  };
  events(): { type?: string; text?: string }[] {
    return this.sent.filter(([c]) => c === "tokenwire:event").map(([, p]) => p);
  }
  text(): string {
    return this.events().map((e) => (e.type === "delta" ? e.text : "")).join("");
  }
}

describe("examples/node_stream", () => {
  test("stream.mjs prints the streamed answer", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      join(example, "stream.mjs"),
      "--server",
      server.baseUrl,
      "--model",
      "slow",
      "Hello from the command line",
    ]);
    assert.equal(stdout, `${ANSWER}\n`);
  });

  test("stream.mjs exits 1 with the error's code", async () => {
    await assert.rejects(
      promisify(execFile)(process.execPath, [
        join(example, "stream.mjs"),
        "--server",
        server.baseUrl,
        "--model",
        "no-such-model",
        "hi",
      ]),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /model_not_found/);
        return true;
      },
    );
  });

  test("every event reaches the renderer through webContents.send", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const win = new FakeWindow();
    const terminal = await forwardAnswer(client, { message: "to the renderer", model: "slow" }, {
      send: (channel: string, payload: never) => win.webContents.send(channel, payload),
      onClose: (cancel: () => void) => win.once("closed", cancel),
    });
    assert.equal(terminal.type, "done");
    assert.equal(win.text(), ANSWER);
    const types = win.events().map((e) => e.type);
    assert.equal(types[0], "start");
    assert.equal(types.at(-1), "done");
    assert.ok(win.sent.some(([c, p]) => c === "tokenwire:status" && p.state === "streaming"));
    // What crosses IPC must survive structured cloning: plain data, no functions.
    for (const [, payload] of win.sent) assert.deepEqual(structuredClone(payload), payload);
  });

  test("closing the window cancels the answer on the server", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const win = new FakeWindow();
    win.on("sent", (channel: string, payload: { type?: string }) => {
      if (channel === "tokenwire:event" && payload.type === "delta") win.emit("closed");
    });
    const terminal = await forwardAnswer(client, { message: "close soon", model: "crawl" }, {
      send: (channel: string, payload: never) => win.webContents.send(channel, payload),
      onClose: (cancel: () => void) => win.once("closed", cancel),
    });
    assert.deepEqual(terminal.type === "done" && terminal.finish_reason, "cancelled");
    const shown = win.text();
    assert.ok(shown.length > 0 && shown.length < ANSWER.length, shown);
    assert.equal(win.events().at(-1)?.type, "delta"); // nothing was sent to the closed window
    const conversations = await client.conversations();
    const latest = await client.conversation(conversations[0]!.id);
    assert.equal(latest.messages[0]?.content, "close soon");
    assert.equal(latest.messages[1]?.status, "cancelled");
    assert.ok(ANSWER.startsWith(latest.messages[1]?.content ?? "?"));
  });

  test("closing the window before the answer started still cancels it", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const win = new FakeWindow();
    const finished = forwardAnswer(client, { message: "close at once", model: "crawl" }, {
      send: (channel: string, payload: never) => win.webContents.send(channel, payload),
      onClose: (cancel: () => void) => win.once("closed", cancel),
    });
    win.emit("closed");
    const terminal = await finished;
    assert.deepEqual(terminal.type === "done" && terminal.finish_reason, "cancelled");
    assert.deepEqual(win.sent, []);
  });
});
