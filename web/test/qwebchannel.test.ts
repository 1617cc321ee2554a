import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";

import { type QtBridge, TokenwireClient, TokenwireError } from "../client/index.js";

/** Plays the Qt object: frames the page sends, batches (JSON arrays) the window sends back. */
class FakeBridge implements QtBridge {
  sent: Record<string, unknown>[] = [];
  private listeners: ((batch: string) => void)[] = [];
  constructor(private readonly reply: (frame: Record<string, unknown>, bridge: FakeBridge) => void) {}
  send(frame: string): void {
    const parsed = JSON.parse(frame) as Record<string, unknown>;
    this.sent.push(parsed);
    queueMicrotask(() => this.reply(parsed, this));
  }
  frames = { connect: (callback: (batch: string) => void) => void this.listeners.push(callback) };
  emit(...frames: Record<string, unknown>[]): void {
    this.emitRaw(JSON.stringify(frames));
  }
  emitRaw(batch: string): void {
    for (const listener of this.listeners) listener(batch);
  }
}

function answer(streamId: string, ref: unknown, words: string[]): Record<string, unknown>[] {
  const start = { stream_id: streamId, ref, type: "start", seq: 1, conversation_id: "c",
    message_id: "m", model: "replay" }; // prettier-ignore
  const deltas = words.map((text, i) => ({ stream_id: streamId, type: "delta", seq: i + 2, text }));
  const done = { stream_id: streamId, type: "done", seq: words.length + 2, finish_reason: "stop" };
  return [start, ...deltas, done];
}

function offer(bridge: FakeBridge): void {
  globalThis.tokenwireBridge = Promise.resolve(bridge);
}

afterEach(() => {
  globalThis.tokenwireBridge = undefined;
});

describe("the QWebChannel transport (the desktop window's)", () => {
  it("is the default where the window offers a bridge, and carries a whole answer", async () => {
    const bridge = new FakeBridge((frame, b) => {
      const frames = answer("s1", frame.ref, ["你好", "，", "世界🌍"]);
      b.emit(...frames.slice(0, 2)); // one batch may carry several frames
      b.emit(...frames.slice(2));
    });
    offer(bridge);
    const client = new TokenwireClient({ fetch: async () => new Response(null, { status: 500 }) });
    assert.equal(client.transport.name, "qwebchannel");
    const texts: string[] = [];
    const stream = client.chat({ message: "hi", model: "replay" }, {
      onEvent: (e) => e.type === "delta" && texts.push(e.text),
    });
    const terminal = await stream.finished;
    assert.equal(terminal.type, "done");
    assert.deepEqual(texts, ["你好", "，", "世界🌍"]);
    assert.equal(stream.streamId, "s1");
    assert.deepEqual(bridge.sent, [{ type: "chat", message: "hi", model: "replay", ref: "r1" }]);
  });

  it("keeps two streams apart, whatever order their frames come in", async () => {
    const pending: Record<string, unknown>[] = [];
    const bridge = new FakeBridge((frame, b) => {
      pending.push(frame);
      if (pending.length < 2) return;
      const [a, z] = [answer("sa", pending[0]!.ref, ["a1", "a2"]), answer("sz", pending[1]!.ref, ["z1"])];
      b.emit(a[0]!, z[0]!, z[1]!, a[1]!);
      b.emit(z[2]!, a[2]!, a[3]!);
    });
    offer(bridge);
    const client = new TokenwireClient();
    const collect = (message: string) => {
      const texts: string[] = [];
      const stream = client.chat({ message }, { onEvent: (e) => e.type === "delta" && texts.push(e.text) });
      return stream.finished.then(() => texts);
    };
    assert.deepEqual(await Promise.all([collect("a"), collect("z")]), [["a1", "a2"], ["z1"]]);
  });

  it("resumes a stream after the seq it names", async () => {
    const bridge = new FakeBridge((frame, b) => {
      const frames = answer("s7", frame.ref, ["x", "y", "z"]);
      b.emit(...frames.filter((f) => (f.seq as number) > (frame.after as number)));
    });
    offer(bridge);
    const texts: string[] = [];
    const stream = new TokenwireClient().resume("s7", 2, {
      onEvent: (e) => e.type === "delta" && texts.push(e.text),
    });
    await stream.finished;
    assert.deepEqual(texts, ["y", "z"]);
    assert.deepEqual(bridge.sent, [{ type: "resume", stream_id: "s7", after: 2, ref: "r1" }]);
  });

  it("turns a rejection for want of a sign-in into a 401, as over HTTP", async () => {
    offer(new FakeBridge((frame, b) => {
      b.emit({ type: "rejected", ref: frame.ref, error: { code: "unauthorized", message: "sign in" } });
    }));
    const stream = new TokenwireClient().chat({ message: "hi" });
    const error = await stream.finished.then(() => null, (e: unknown) => e);
    assert.ok(error instanceof TokenwireError);
    assert.equal(error.status, 401);
    assert.equal(error.code, "unauthorized");
  });

  it("ignores batches that are not JSON arrays of frames", async () => {
    offer(new FakeBridge((frame, b) => {
      for (const bad of ["{", "42", '"x"', "[1, null, \"y\"]"]) b.emitRaw(bad);
      b.emit(...answer("s2", frame.ref, ["ok"]));
    }));
    const stream = new TokenwireClient().chat({ message: "hi" });
    assert.equal((await stream.finished).type, "done");
  });

  it("asked for by name where no window offers one, fails without sending anything", async () => {
    const stream = new TokenwireClient({ transport: "qwebchannel" }).chat({ message: "hi" });
    await assert.rejects(stream.finished, (e: TokenwireError) => e.code === "no_bridge");
  });
});
