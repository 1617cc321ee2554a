/**
 * The browser client under Node 20 (its fetch, its web streams, no WebSocket, no EventSource,
 * no page origin), against a real `tokenwire serve` started here: what an Electron main process
 * or a Node script gets.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { type StreamEvent, TokenwireClient, TokenwireError } from "../client/index.js";
import { CuttableProxy } from "./proxy.js";
import { ANSWER, type RunningServer, startServer } from "./server.js";

let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.stop();
});

function textOf(events: StreamEvent[]): string {
  return events.map((e) => (e.type === "delta" ? e.text : "")).join("");
}

describe("the client under Node", () => {
  for (const transport of [undefined, "sse", "ndjson"] as const) {
    test(`streams a whole answer over ${transport ?? "the default transport"}`, async () => {
      const client = new TokenwireClient({ baseUrl: server.baseUrl, ...(transport && { transport }) });
      const events: StreamEvent[] = [];
      const stream = client.chat({ message: "Hello from Node", model: "slow" }, {
        onEvent: (e) => events.push(e),
      });
      const terminal = await stream.finished;
      assert.deepEqual(terminal.type === "done" && terminal.finish_reason, "stop");
      assert.equal(textOf(events), ANSWER);
      assert.ok(events.filter((e) => e.type === "delta").length > 3);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
      );
      // Under Node there is no WebSocket: the default is SSE over fetch.
      assert.equal(client.transport.name, transport ?? "sse");
      const stored = await client.conversation(stream.conversationId!);
      assert.deepEqual(
        stored.messages.map((m) => [m.role, m.content, m.status]),
        [
          ["user", "Hello from Node", "complete"],
          ["assistant", ANSWER, "complete"],
        ],
      );
    });
  }

  test("for await reads the events in order", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const types: string[] = [];
    let text = "";
    for await (const event of client.chat({ message: "iterate", model: "replay" })) {
      types.push(event.type);
      if (event.type === "delta") text += event.text;
    }
    assert.equal(types[0], "start");
    assert.equal(types.at(-1), "done");
    assert.equal(text, ANSWER);
  });

  test("a cut connection is resumed and nothing is lost or doubled", async () => {
    const proxy = await CuttableProxy.start(server.baseUrl);
    try {
      const client = new TokenwireClient({ baseUrl: proxy.url, transport: "sse" });
      const events: StreamEvent[] = [];
      const states: string[] = [];
      let cut = false;
      const stream = client.chat({ message: "survive a cut", model: "slow" }, {
        onEvent: (e) => {
          events.push(e);
          if (!cut && e.type === "delta" && events.length >= 4) {
            cut = true;
            assert.ok(proxy.cut() >= 1);
          }
        },
        onStatus: (s) => states.push(s.state),
      });
      const terminal = await stream.finished;
      assert.equal(terminal.type, "done");
      assert.ok(states.includes("reconnecting"), states.join());
      assert.equal(textOf(events), ANSWER);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
      );
      const direct = new TokenwireClient({ baseUrl: server.baseUrl });
      const stored = await direct.conversation(stream.conversationId!);
      assert.equal(stored.messages.length, 2); // one question, one answer
    } finally {
      await proxy.close();
    }
  });

  test("resume reads a running stream after a seq", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const first = client.chat({ message: "resume me", model: "replay" });
    await first.finished;
    const events: StreamEvent[] = [];
    await client.resume(first.streamId!, 3, { onEvent: (e) => events.push(e) }).finished;
    assert.equal(events[0]?.seq, 4);
    assert.ok(ANSWER.endsWith(textOf(events)) && textOf(events).length > 0);
  });

  test("cancel stops the answer on the server", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    const events: StreamEvent[] = [];
    let cancelling: Promise<string> | null = null;
    const stream = client.chat({ message: "stop soon", model: "crawl" }, {
      onEvent: (e) => {
        events.push(e);
        if (e.type === "delta" && !cancelling) cancelling = client.cancel(stream.streamId!);
      },
    });
    const terminal = await stream.finished;
    assert.equal(await cancelling, "cancelled");
    assert.deepEqual(terminal.type === "done" && terminal.finish_reason, "cancelled");
    const shown = textOf(events);
    assert.ok(shown.length < ANSWER.length);
    const stored = await client.conversation(stream.conversationId!);
    assert.deepEqual(
      [stored.messages[1]?.status, stored.messages[1]?.content],
      ["cancelled", shown],
    );
  });

  test("a 4xx is final: an unknown model rejects with its code", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    await assert.rejects(client.chat({ message: "hi", model: "no-such-model" }).finished, (e) => {
      assert.ok(e instanceof TokenwireError);
      assert.equal(e.code, "model_not_found");
      return true;
    });
  });

  test("the REST calls work: models and conversations", async () => {
    const client = new TokenwireClient({ baseUrl: server.baseUrl });
    assert.deepEqual(
      (await client.models()).map((m) => m.id),
      ["replay", "slow", "crawl"],
    );
    assert.ok((await client.conversations()).length >= 1);
  });
});

describe("mistakes a Node caller can make get clear errors", () => {
  test("no base URL (Node has no page origin to be relative to) fails at once", async () => {
    const client = new TokenwireClient();
    const states: string[] = [];
    const stream = client.chat({ message: "hi" }, { onStatus: (s) => states.push(s.state) });
    await assert.rejects(stream.finished, (e) => {
      assert.ok(e instanceof TokenwireError);
      assert.equal(e.code, "invalid_base_url");
      assert.match(e.message, /absolute/);
      return true;
    });
    assert.ok(!states.includes("reconnecting"), states.join()); // final, not retried
    await assert.rejects(client.models(), { code: "invalid_base_url" });
  });

  test("a base URL that is not a URL", async () => {
    const client = new TokenwireClient({ baseUrl: "localhost:8000" });
    await assert.rejects(client.chat({ message: "hi" }).finished, (e) => {
      assert.ok(e instanceof TokenwireError);
      assert.equal(e.code, "invalid_base_url");
      assert.match(e.message, /localhost:8000/);
      return true;
    });
  });

  for (const transport of ["eventsource", "websocket"] as const) {
    test(`the ${transport} transport, which Node 20 lacks`, () => {
      assert.throws(() => new TokenwireClient({ baseUrl: server.baseUrl, transport }), (e) => {
        assert.ok(e instanceof TokenwireError);
        assert.equal(e.code, "unsupported_transport");
        assert.match(e.message, new RegExp(transport));
        return true;
      });
    });
  }
});
