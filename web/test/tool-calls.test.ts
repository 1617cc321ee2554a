import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  collectToolCalls,
  decodeEvent,
  type StreamEvent,
  ToolCallAccumulator,
  type ToolCallPiece,
} from "../client/index.js";
import { collect, serve, START, WIRES } from "./wire.js";

const piece = (index: number, args: string, first?: { id: string; name: string }): ToolCallPiece =>
  ({ index, arguments: args, ...first });

describe("the tool call accumulator", () => {
  it("keeps interleaved parallel calls apart, by index", () => {
    const acc = new ToolCallAccumulator();
    acc.add(piece(0, "", { id: "call_a", name: "weather" }));
    acc.add(piece(1, '{"q":', { id: "call_b", name: "search" }));
    acc.add(piece(0, '{"city":'));
    acc.add(piece(1, '"tokenwire"}'));
    acc.add(piece(0, '"Paris"}'));
    assert.deepEqual(acc.calls, [
      { index: 0, id: "call_a", name: "weather", arguments: '{"city":"Paris"}' },
      { index: 1, id: "call_b", name: "search", arguments: '{"q":"tokenwire"}' },
    ]);
  });

  it("keeps the id and name of the first piece; later pieces bring only arguments", () => {
    const acc = new ToolCallAccumulator();
    const call = acc.add(piece(0, "{", { id: "call_1", name: "f" }));
    assert.equal(acc.add(piece(0, '"a"')), call); // the same object, grown
    acc.add({ index: 0, arguments: ":1", id: "call_1", name: "f" }); // repeated: still one call
    acc.add({ index: 0, arguments: "}", name: "" });
    assert.deepEqual(acc.calls, [{ index: 0, id: "call_1", name: "f", arguments: '{"a":1}' }]);
  });

  it("joins JSON split anywhere, inside strings, escapes and numbers", () => {
    const whole = '{"text":"line\\n\\"quoted\\" \\u4f60\\u597d","n":-12.5e3,"ok":true,"list":[1,{"x":null}]}';
    for (let size = 1; size <= 7; size++) {
      const acc = new ToolCallAccumulator();
      acc.add(piece(0, "", { id: "c", name: "f" }));
      for (let at = 0; at < whole.length; at += size) acc.add(piece(0, whole.slice(at, at + size)));
      const [call] = acc.calls;
      assert.equal(call?.arguments, whole, `pieces of ${size}`);
      assert.deepEqual(JSON.parse(call.arguments), {
        text: 'line\n"quoted" 你好', n: -12500, ok: true, list: [1, { x: null }],
      });
    }
  });

  it("keeps Chinese, emoji and combined characters whole", () => {
    const acc = new ToolCallAccumulator();
    const pieces = ['{"城市"', ':"北', '京","note":"🌍', '👩‍💻', '","e":"é"}'];
    acc.add(piece(0, "", { id: "c", name: "天气" }));
    for (const p of pieces) acc.add(piece(0, p));
    const [call] = acc.calls;
    assert.equal(call?.name, "天气");
    assert.deepEqual(JSON.parse(call!.arguments), { 城市: "北京", note: "🌍👩‍💻", e: "é" });
  });

  it("starts a new call when a later model turn reuses an index with a new id", () => {
    const events: StreamEvent[] = [
      { type: "tool_call", seq: 2, index: 0, id: "call_1", name: "f", arguments: "{}" },
      { type: "tool_result", seq: 3, tool_call_id: "call_1", content: "1", is_error: false },
      { type: "tool_call", seq: 4, index: 0, id: "call_2", name: "g", arguments: "{" },
      { type: "tool_call", seq: 5, index: 0, arguments: "}" },
      { type: "done", seq: 6, finish_reason: "tool_calls" },
    ];
    assert.deepEqual(collectToolCalls(events), [
      { index: 0, id: "call_1", name: "f", arguments: "{}" },
      { index: 0, id: "call_2", name: "g", arguments: "{}" },
    ]);
  });

  it("tells which calls are still open, and closes them when the turn moves on", () => {
    const acc = new ToolCallAccumulator();
    const a = acc.add(piece(0, "{", { id: "a", name: "f" }));
    const b = acc.add(piece(1, "{", { id: "b", name: "g" }));
    assert.ok(acc.isOpen(a) && acc.isOpen(b));
    assert.equal(acc.push({ type: "delta", seq: 9, text: "x" }), null);
    assert.ok(acc.isOpen(a), "text does not close a call");
    acc.push({ type: "tool_result", seq: 10, tool_call_id: "a", content: "", is_error: false });
    assert.ok(!acc.isOpen(a) && !acc.isOpen(b));
    assert.deepEqual(acc.close(), []);
  });

  it("gives copies: what it hands out does not change behind the caller's back", () => {
    const acc = new ToolCallAccumulator();
    acc.add(piece(0, "{", { id: "a", name: "f" }));
    const before = acc.calls;
    acc.add(piece(0, "}"));
    assert.equal(before[0]?.arguments, "{");
  });
});

describe("decoding tool events", () => {
  it("accepts continuation pieces without id and name (or with null ones)", () => {
    assert.deepEqual(decodeEvent({ type: "tool_call", seq: 3, index: 1, arguments: "x" }), {
      event: { type: "tool_call", seq: 3, index: 1, arguments: "x" },
    });
    assert.deepEqual(decodeEvent({ type: "tool_call", seq: 3, index: 0, id: null, name: null }), {
      event: { type: "tool_call", seq: 3, index: 0, arguments: "" },
    });
  });

  it("skips a malformed tool event by its seq rather than passing it on", () => {
    for (const bad of [
      { type: "tool_call", seq: 4, arguments: "x" },
      { type: "tool_call", seq: 4, index: -1, arguments: "x" },
      { type: "tool_call", seq: 4, index: 0, arguments: { a: 1 } },
      { type: "tool_call", seq: 4, index: 0, id: 7, arguments: "" },
      { type: "tool_result", seq: 4, content: "x" },
      { type: "tool_result", seq: 4, tool_call_id: "c", content: "x", is_error: "yes" },
    ]) {
      assert.deepEqual(decodeEvent(bad), { skip: 4 }, JSON.stringify(bad));
    }
  });

  it("defaults a result's is_error to false", () => {
    assert.deepEqual(decodeEvent({ type: "tool_result", seq: 2, tool_call_id: "c", content: "ok" }), {
      event: { type: "tool_result", seq: 2, tool_call_id: "c", content: "ok", is_error: false },
    });
  });

  const script = [
    START,
    { type: "delta", seq: 2, text: "Let me check. " },
    { type: "tool_call", seq: 3, index: 0, id: "call_w", name: "weather", arguments: "" },
    { type: "tool_call", seq: 4, index: 1, id: "call_t", name: "time", arguments: '{"tz":' },
    { type: "tool_call", seq: 5, index: 0, arguments: '{"city":"北京' },
    { type: "tool_call", seq: 6, index: 1, arguments: '"Asia/Shanghai"}' },
    { type: "tool_call", seq: 7, index: 0, arguments: '🌍"}' },
    { type: "tool_result", seq: 8, tool_call_id: "call_w", content: "晴, 25°C", is_error: false },
    { type: "tool_result", seq: 9, tool_call_id: "call_t", content: "timeout", is_error: true },
    { type: "tool_call", seq: 10, arguments: "index missing: skipped" },
    { type: "delta", seq: 11, text: "Sunny." },
    { type: "done", seq: 12, finish_reason: "stop" },
  ];

  for (const wire of WIRES) {
    it(`carries tool calls and results over ${wire}, in pieces of 3 bytes`, async () => {
      const { events, end } = await collect(serve(wire, script, 3));
      assert.equal(end, "done");
      assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
      assert.deepEqual(events[2], { type: "tool_call", seq: 3, index: 0, id: "call_w", name: "weather", arguments: "" });
      assert.deepEqual(events[4], { type: "tool_call", seq: 5, index: 0, arguments: '{"city":"北京' });
      assert.deepEqual(events[8], { type: "tool_result", seq: 9, tool_call_id: "call_t", content: "timeout", is_error: true });
      assert.deepEqual(collectToolCalls(events), [
        { index: 0, id: "call_w", name: "weather", arguments: '{"city":"北京🌍"}' },
        { index: 1, id: "call_t", name: "time", arguments: '{"tz":"Asia/Shanghai"}' },
      ]);
    });

    it(`ends a turn with finish_reason tool_calls, continued by sendToolResults, over ${wire}`, async () => {
      const served = serve(wire, [
        START,
        { type: "tool_call", seq: 2, index: 0, id: "call_1", name: "f", arguments: "{}" },
        { type: "done", seq: 3, finish_reason: "tool_calls" },
      ]);
      const first = await served.client.chat({ message: "hi" }).finished;
      assert.equal(first.type === "done" && first.finish_reason, "tool_calls");
      const results = [{ tool_call_id: "call_1", content: '{"ok":true}' }];
      await served.client.sendToolResults("c1", results).finished;
      served.client.close();
      const body = { conversation_id: "c1", tool_results: results };
      const sent = served.sent[1];
      if (wire === "websocket") assert.deepEqual(sent, { type: "chat", ...body, ref: "r2" });
      else assert.deepEqual(sent, body);
    });
  }
});
