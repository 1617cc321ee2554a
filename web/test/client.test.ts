import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  backoffDelay,
  Channel,
  ChatStream,
  type Connection,
  FetchTransport,
  NdjsonDecoder,
  type SseMessage,
  SseParser,
  type StreamEvent,
  type StreamStatus,
  TokenwireClient,
  type Transport,
} from "../client/index.js";
import { errorFromResponse } from "../client/errors.js";
import { storedEnding } from "../client/stored.js";
import type { StoredMessage } from "../client/client.js";
import { collect, serve, START, WIRES } from "./wire.js";

function parse(chunks: string[]): { messages: SseMessage[]; comments: string[]; retry: number[] } {
  const out = { messages: [] as SseMessage[], comments: [] as string[], retry: [] as number[] };
  const parser = new SseParser({
    message: (m) => out.messages.push(m),
    comment: (c) => out.comments.push(c),
    retry: (ms) => out.retry.push(ms),
  });
  for (const chunk of chunks) parser.feed(chunk);
  return out;
}

describe("SSE parser (WHATWG rules)", () => {
  it("dispatches on a blank line, with the type and id", () => {
    const { messages } = parse(["id: 3\nevent: delta\ndata: {\"a\":1}\n\n"]);
    assert.deepEqual(messages, [{ event: "delta", data: '{"a":1}', id: "3" }]);
  });
  it("accepts CRLF, CR and LF line ends, even split between chunks", () => {
    const { messages } = parse(["data: a\r", "\n\r", "\ndata: b\r\r", "data: c\n", "\n"]);
    assert.deepEqual(messages.map((m) => m.data), ["a", "b", "c"]);
  });
  it("joins data lines with a newline and drops only the last one", () => {
    assert.equal(parse(["data: x\ndata:\ndata:  y\n\n"]).messages[0]?.data, "x\n\n y");
  });
  it("ignores one leading BOM and strips one space after the colon", () => {
    assert.equal(parse(["\ufeffdata:  two\n\n"]).messages[0]?.data, " two");
  });
  it("reports comments (keepalives) and valid retry values only", () => {
    const out = parse([": keepalive\nretry: 1500\nretry: 1.5\nretry: x\n\n"]);
    assert.deepEqual(out.comments, ["keepalive"]);
    assert.deepEqual(out.retry, [1500]);
    assert.equal(out.messages.length, 0);
  });
  it("does not dispatch without data, and keeps the last id across events", () => {
    const out = parse(["id: 7\nevent: x\n\ndata: y\n\n"]);
    assert.deepEqual(out.messages, [{ event: "message", data: "y", id: "7" }]);
  });
  it("ignores an id containing NUL and unknown fields; a field without colon has empty value", () => {
    const out = parse(["id: 1\n\nid: 2\0\nfoo: bar\ndata\n\n"]);
    assert.deepEqual(out.messages, [{ event: "message", data: "", id: "1" }]);
  });
  it("does not dispatch an unterminated event at the end", () => {
    assert.equal(parse(["data: partial"]).messages.length, 0);
  });
});

describe("NDJSON decoder", () => {
  it("parses lines split anywhere and skips blank ones", () => {
    const d = new NdjsonDecoder();
    assert.deepEqual(d.decode('{"a":'), []);
    assert.deepEqual(d.decode('1}\r\n\n{"b"'), [{ a: 1 }]);
    assert.deepEqual(d.decode(":2}\n"), [{ b: 2 }]);
    assert.deepEqual(d.decode('{"c":3}'), []);
    assert.deepEqual(d.flush(), [{ c: 3 }]);
  });
});

describe("backoff", () => {
  const opts = (r: number) => ({ maxDelayMs: 30_000, random: () => r });
  it("never goes below the server's retry value", () => {
    assert.equal(backoffDelay(0, 1000, opts(0)), 1000);
    assert.equal(backoffDelay(0, 5000, opts(0)), 5000);
  });
  it("grows exponentially, with jitter, up to the cap", () => {
    assert.equal(backoffDelay(3, 1000, opts(0)), 4000);
    assert.equal(backoffDelay(3, 1000, opts(1)), 8000);
    assert.equal(backoffDelay(20, 1000, opts(1)), 30_000);
  });
});

const ev = (seq: number, type = "delta", extra: Record<string, unknown> = {}): StreamEvent =>
  ({ type, seq, text: `t${seq}`, ...extra }) as unknown as StreamEvent;
const start = ev(1, "start", { stream_id: "s1", conversation_id: "c1", message_id: "m1", model: "x" });

/** A transport whose connections are scripted: each call takes the next script. */
class ScriptedTransport implements Transport {
  readonly name = "sse" as const;
  calls: { kind: "start" | "resume"; after?: number }[] = [];
  constructor(private readonly scripts: ((c: Channel) => void)[]) {}
  start(): Connection {
    this.calls.push({ kind: "start" });
    return this.play();
  }
  resume(_id: string, after: number): Connection {
    this.calls.push({ kind: "resume", after });
    return this.play();
  }
  close(): void {}
  private play(): Connection {
    const channel = new Channel();
    const script = this.scripts.shift();
    queueMicrotask(() => (script ? script(channel) : channel.fail(new Error("no more scripts"))));
    return channel;
  }
}

const fastOptions = { idleTimeoutMs: 200, giveUpAfterMs: 5_000, maxDelayMs: 20, retryMs: 1 };

async function runScripted(scripts: ((c: Channel) => void)[]) {
  const transport = new ScriptedTransport(scripts);
  const events: StreamEvent[] = [];
  const states: StreamStatus["state"][] = [];
  const stream = new ChatStream(transport, fastOptions, {
    onEvent: (e) => events.push(e),
    onStatus: (s) => states.push(s.state),
  });
  await stream.run(() => transport.start());
  const outcome = await stream.finished.then((t) => t, (e: Error) => e);
  return { transport, events, states, outcome };
}

describe("the stream loop", () => {
  it("resumes after a drop from the last seq, showing nothing twice and nothing skipped", async () => {
    const { transport, events, outcome } = await runScripted([
      (c) => {
        c.push({ kind: "stream", streamId: "s1" });
        c.push({ kind: "event", event: start });
        c.push({ kind: "event", event: ev(2) });
        c.fail(new TypeError("network"));
      },
      (c) => {
        c.push({ kind: "event", event: ev(2) }); // overlap: dropped
        c.push({ kind: "event", event: ev(3) });
        c.end(); // ended early: resume again
      },
      (c) => {
        c.push({ kind: "event", event: ev(4, "done", { finish_reason: "stop" }) });
      },
    ]);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4]);
    assert.deepEqual(transport.calls, [
      { kind: "start" },
      { kind: "resume", after: 2 },
      { kind: "resume", after: 3 },
    ]);
    assert.equal((outcome as StreamEvent).type, "done");
  });

  it("treats a gap as a broken connection and resumes before it", async () => {
    const { transport, events } = await runScripted([
      (c) => {
        c.push({ kind: "event", event: start });
        c.push({ kind: "event", event: ev(3) });
      },
      (c) => {
        c.push({ kind: "event", event: ev(2) });
        c.push({ kind: "event", event: ev(3, "done", { finish_reason: "stop" }) });
      },
    ]);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
    assert.deepEqual(transport.calls[1], { kind: "resume", after: 1 });
  });

  it("reconnects a stream that went silent, but not one kept alive by keepalives", async () => {
    const { transport, events, states } = await runScripted([
      (c) => {
        c.push({ kind: "event", event: start });
        const alive = setInterval(() => c.push({ kind: "alive" }), 50);
        setTimeout(() => clearInterval(alive), 600); // 600 ms alive, then silence
      },
      (c) => c.push({ kind: "event", event: ev(2, "done", { finish_reason: "stop" }) }),
    ]);
    assert.deepEqual(events.map((e) => e.seq), [1, 2]);
    assert.equal(transport.calls.length, 2);
    assert.ok(states.includes("reconnecting"));
  });

  it("never sends the prompt again when the start failed before a stream id", async () => {
    const { transport, outcome } = await runScripted([(c) => c.fail(new TypeError("down"))]);
    assert.equal(transport.calls.length, 1);
    assert.equal((outcome as { code: string }).code, "not_started");
  });

  it("treats a 4xx as final", async () => {
    const transport = new FetchTransport(
      {
        baseUrl: "http://x",
        ensureSession: async () => {},
        fetch: async () =>
          new Response(JSON.stringify({ error: { code: "stream_not_found", message: "gone" } }), {
            status: 404,
          }),
      },
      "sse",
    );
    const stream = new ChatStream(transport, fastOptions);
    await stream.run(() => transport.resume("s1", 4), "s1", 4);
    await assert.rejects(stream.finished, { code: "stream_not_found" });
  });
});

describe("a stream the server's log forgot (410 stream_expired)", () => {
  const expired = () =>
    new Response(
      JSON.stringify({ error: { code: "stream_expired", message: "stream s1 has expired" } }),
      { status: 410 },
    );
  const stored: StoredMessage[] = [
    {
      id: "m1", role: "assistant", content: "t2t3 and the rest", reasoning: "", status: "complete",
      model: "x", stream_id: "s1", finish_reason: "stop", error_code: null, error_message: null,
    },
  ];

  it("finishes from the stored answer: the text past what was shown, then its ending", async () => {
    const transport = new ScriptedTransport([
      (c) => {
        c.push({ kind: "stream", streamId: "s1" });
        c.push({ kind: "event", event: start });
        c.push({ kind: "event", event: ev(2) });
        c.push({ kind: "event", event: ev(3) });
        c.fail(new TypeError("network"));
      },
      async (c) => c.fail(await errorFromResponse(expired())),
    ]);
    const events: StreamEvent[] = [];
    const loaded: string[] = [];
    const stream = new ChatStream(transport, fastOptions, { onEvent: (e) => events.push(e) });
    stream.loadStored = async (id) => (loaded.push(id), stored);
    await stream.run(() => transport.start());
    const terminal = await stream.finished;
    assert.deepEqual(loaded, ["c1"]);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5]);
    const text = events.map((e) => (e.type === "delta" ? e.text : "")).join("");
    assert.equal(text, "t2t3 and the rest");
    assert.deepEqual(terminal, { type: "done", seq: 5, finish_reason: "stop" });
  });

  it("stays a final error for a resume that did not read the stream from its start", async () => {
    const transport = new ScriptedTransport([async (c) => c.fail(await errorFromResponse(expired()))]);
    const stream = new ChatStream(transport, fastOptions);
    stream.loadStored = async () => stored;
    await stream.run(() => transport.resume("s1", 4), "s1", 4);
    await assert.rejects(stream.finished, { code: "stream_expired" });
  });

  it("maps a stored error ending to an error event", () => {
    const failed = [{ ...stored[0]!, status: "error" as const, error_code: "upstream_error" }];
    const events = storedEnding(failed, { streamId: "s1", lastSeq: 3, textLength: 4, reasoningLength: 0 });
    assert.deepEqual(events.map((e) => e.type), ["delta", "error"]);
    assert.equal((events[1] as { code: string }).code, "upstream_error");
  });
});

describe("fetch transports", () => {
  const bytes = new TextEncoder().encode(
    'retry: 10\n\n: keepalive\n\nid: 1\nevent: start\ndata: {"type":"start","seq":1,"stream_id":"s9","conversation_id":"c","message_id":"m","model":"x"}\n\n' +
      'id: 2\nevent: delta\ndata: {"type":"delta","seq":2,"text":"你好🌍"}\n\n' +
      'id: 3\nevent: done\ndata: {"type":"done","seq":3,"finish_reason":"stop"}\n\n',
  );

  function byteStream(size: number): ReadableStream<Uint8Array> {
    let at = 0;
    return new ReadableStream({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at + size)); // splits UTF-8 characters on purpose
        at += size;
      },
    });
  }

  for (const size of [1, 2, 3, 7, 64]) {
    it(`decodes SSE read ${size} byte(s) at a time, Chinese and emoji intact`, async () => {
      const seen: { url: string; init: RequestInit }[] = [];
      const client = new TokenwireClient({
        transport: "sse",
        baseUrl: "http://server",
        token: "secret",
        fetch: async (url, init) => {
          seen.push({ url: String(url), init: init ?? {} });
          return new Response(byteStream(size), { headers: { "X-Stream-Id": "s9" } });
        },
      });
      const texts: string[] = [];
      const stream = client.chat({ message: "hi" }, {
        onEvent: (e) => e.type === "delta" && texts.push(e.text),
      });
      await stream.finished;
      assert.deepEqual(texts, ["你好🌍"]);
      assert.equal(stream.streamId, "s9");
      assert.equal(seen[0]?.url, "http://server/api/chat");
      assert.equal((seen[0]?.init.headers as Record<string, string>).Authorization, "Bearer secret");
      assert.equal(seen[0]?.init.method, "POST");
    });
  }

  it("iterates events with for await", async () => {
    const client = new TokenwireClient({
      transport: "ndjson",
      fetch: async () =>
        new Response(
          '{"type":"start","seq":1,"stream_id":"s","conversation_id":"c","message_id":"m","model":"x"}\n' +
            '{"type":"delta","seq":2,"text":"a"}\n{"type":"done","seq":3,"finish_reason":"stop"}\n',
        ),
    });
    const types: string[] = [];
    for await (const event of client.chat({ message: "hi" })) types.push(event.type);
    assert.deepEqual(types, ["start", "delta", "done"]);
  });

  it("sends Last-Event-ID on resume", async () => {
    let headers: Record<string, string> = {};
    const transport = new FetchTransport(
      {
        baseUrl: "",
        ensureSession: async () => {},
        fetch: async (_url, init) => {
          headers = init?.headers as Record<string, string>;
          return new Response(null, { status: 204 });
        },
      },
      "ndjson",
    );
    const stream = new ChatStream(transport, fastOptions);
    await stream.run(() => transport.resume("s1", 41), "s1", 41);
    await assert.rejects(stream.finished, { code: "stream_ended" });
    assert.equal(headers["Last-Event-ID"], "41");
    assert.equal(headers.Accept, "application/x-ndjson");
  });
});

describe("events this client does not know", () => {
  for (const wire of WIRES) {
    it(`are skipped over ${wire}, their seq counted, not taken for lost events`, async () => {
      const { events, end } = await collect(serve(wire, [
        START,
        { type: "from_the_future", seq: 2, anything: [1, 2] },
        { type: "delta", seq: 3, text: "a" },
        { type: "done", seq: 4, finish_reason: "stop" },
      ]));
      assert.equal(end, "done");
      assert.deepEqual(events.map((e) => `${e.seq}:${e.type}`), ["1:start", "3:delta", "4:done"]);
    });
  }

  it("resuming after a skipped event asks for what follows it", async () => {
    const { transport, events } = await runScripted([
      (c) => {
        c.push({ kind: "event", event: start });
        c.push({ kind: "skip", seq: 2 });
        c.fail(new TypeError("network"));
      },
      (c) => c.push({ kind: "event", event: ev(3, "done", { finish_reason: "stop" }) }),
    ]);
    assert.deepEqual(transport.calls[1], { kind: "resume", after: 2 });
    assert.deepEqual(events.map((e) => e.seq), [1, 3]);
  });
});
