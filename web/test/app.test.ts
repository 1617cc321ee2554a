import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import type { StoredMessage, StreamEvent } from "../client/index.js";
import { AnswerView } from "../app/answer.js";
import { type HistorySink, showHistory } from "../app/history.js";
import { prettyJson } from "../app/tool-call.js";
import { installDocument } from "./dom.js";

const HOSTILE = "<img src=x onerror=alert(1)>";

/** An answer view whose frames run only when the test says so. */
function answer(): { view: AnswerView; frame: () => void; pending: () => number; paints: () => number } {
  const frames: (() => void)[] = [];
  let paints = 0;
  const view = new AnswerView(() => paints++, { regenerate() {}, retry() {} }, (run) => frames.push(run));
  document.body.append(view.el);
  return {
    view,
    frame: () => {
      for (const run of frames.splice(0)) run();
    },
    pending: () => frames.length,
    paints: () => paints,
  };
}

let seq = 0;
function feed(view: AnswerView, ...events: Record<string, unknown>[]): void {
  for (const e of events) view.handle({ seq: ++seq, ...e } as unknown as StreamEvent);
}
const delta = (text: string) => ({ type: "delta", text });
const call = (index: number, args: string, id?: string, name?: string) =>
  ({ type: "tool_call", index, arguments: args, ...(id ? { id, name } : {}) });
const result = (id: string, content: string, isError = false) =>
  ({ type: "tool_result", tool_call_id: id, content, is_error: isError });
const done = (reason: string) => ({ type: "done", finish_reason: reason });

/** What the article shows, part by part, in order: the stable selectors a browser test uses. */
function shape(el: Element): string[] {
  return Array.from(el.children).map((child) => {
    if (child.matches(".markdown")) return `text: ${child.textContent?.trim()}`;
    if (child.matches(".tool-call")) {
      const c = child as HTMLElement;
      const text = (sel: string) => c.querySelector(sel)?.textContent;
      const res = c.querySelector<HTMLElement>(".result")!;
      return `call ${c.dataset.toolCallId} ${c.dataset.status} name=${text(".name")} ` +
        `args(${c.querySelector<HTMLElement>(".arguments")!.dataset.format})=${text(".arguments")}` +
        (res.hidden ? "" : ` result${res.dataset.error ? "(error)" : ""}=${res.textContent}`);
    }
    return (child as HTMLElement).className;
  });
}

beforeEach(() => {
  installDocument();
});

describe("the answer's tool calls, streamed", () => {
  it("shows the name, the arguments as they grow, then the result, in stream order", () => {
    const { view, frame } = answer();
    feed(view, delta("Let me check.\n\n"), call(0, "", "call_w", "weather"), call(0, '{"city":'));
    frame();
    const el = view.el.querySelector<HTMLElement>('.tool-call[data-tool-call-id="call_w"]')!;
    assert.equal(el.querySelector(".name")?.textContent, "weather");
    assert.equal(el.querySelector(".arguments")?.textContent, '{"city":');
    assert.equal(el.dataset.status, "streaming");
    assert.ok((el as HTMLDetailsElement).open, "a live call shows its arguments");
    feed(view, call(0, '"巴黎 🌍"}'));
    frame();
    assert.equal(el.querySelector(".arguments")?.textContent, '{"city":"巴黎 🌍"}'); // raw while partial
    feed(view, result("call_w", "sunny, 25°C"), delta("It is "), delta("**sunny**."));
    frame();
    assert.deepEqual(shape(view.el), [
      "reasoning",
      "text: Let me check.",
      'call call_w done name=weather args(json)={\n  "city": "巴黎 🌍"\n} result=sunny, 25°C',
      "text: It is sunny.",
      "state",
      "actions",
    ]);
    feed(view, done("stop"));
    assert.equal(view.el.dataset.state, "done");
    assert.equal(view.el.querySelectorAll(".markdown strong").length, 1); // the text is markdown
  });

  it("keeps interleaved parallel calls apart and marks a failed one", () => {
    const { view, frame } = answer();
    feed(view, call(0, "", "a", "search"), call(1, '{"q"', "b", "fetch"), call(0, '{"q":"x"}'),
      call(1, ':"y"}'), result("b", "boom", true), result("a", "[]"));
    frame();
    assert.deepEqual(shape(view.el).slice(1, 3), [
      'call a done name=search args(json)={\n  "q": "x"\n} result=[]',
      'call b error name=fetch args(json)={\n  "q": "y"\n} result(error)=boom',
    ]);
    assert.equal(view.el.querySelector(".markdown"), null, "no empty text segment is left");
  });

  it("changes nothing on the page between frames, and paints once per frame", () => {
    const { view, frame, pending, paints } = answer();
    feed(view, delta("a"), call(0, "{", "c", "f"), delta("b"), call(0, "}"), result("c", "r"));
    assert.equal(view.el.querySelector(".tool-call"), null);
    assert.equal(pending(), 1);
    for (let i = 0; i < 100; i++) feed(view, delta(" more"));
    assert.equal(pending(), 1);
    frame();
    assert.equal(paints(), 1);
    assert.deepEqual(shape(view.el).slice(1, 4).map((s) => s.split(" ")[0]), ["text:", "call", "text:"]);
  });

  it("shows hostile names, arguments and results as inert text", () => {
    const { view, frame } = answer();
    const args = JSON.stringify({ html: HOSTILE, script: "<script>alert(1)</script>" });
    feed(view, call(0, "", `x"><img src=x onerror=alert(1)>`, HOSTILE), call(0, args),
      result(`x"><img src=x onerror=alert(1)>`, HOSTILE, true), done("stop"));
    frame();
    assert.equal(view.el.querySelector("img, script"), null);
    const el = view.el.querySelector(".tool-call")!;
    assert.equal(el.querySelector(".name")?.textContent, HOSTILE);
    assert.match(el.querySelector(".arguments")?.textContent ?? "", /"html": "<img src=x onerror=alert\(1\)>"/);
    assert.equal(el.querySelector(".result")?.textContent, HOSTILE);
    assert.equal(el.getAttribute("data-tool-call-id"), `x"><img src=x onerror=alert(1)>`);
  });

  it("says plainly when the turn waits for tool results nobody runs here", () => {
    const { view } = answer();
    feed(view, delta("I'll look it up."), call(0, '{"id":12345678901234567890}', "c1", "lookup"),
      done("tool_calls"));
    assert.equal(view.el.dataset.state, "tool_calls");
    assert.match(view.el.querySelector(".state .waiting")?.textContent ?? "", /Waiting for tool results/);
    const el = view.el.querySelector<HTMLElement>(".tool-call")!;
    assert.equal(el.dataset.status, "waiting");
    assert.equal(el.querySelector<HTMLElement>(".result")!.hidden, true);
    // Pretty-printed from the text as it came: the big integer keeps its digits.
    assert.equal(el.querySelector(".arguments")?.textContent, '{\n  "id": 12345678901234567890\n}');
  });

  it("shows arguments that are not valid JSON as they came", () => {
    const { view } = answer();
    feed(view, call(0, '{"a": 1,', "c", "f"), { type: "error", code: "upstream_reset", message: "x", retryable: true });
    const args = view.el.querySelector<HTMLElement>(".tool-call .arguments")!;
    assert.equal(args.textContent, '{"a": 1,');
    assert.equal(args.dataset.format, "raw");
    assert.equal(view.el.querySelector<HTMLElement>(".tool-call")!.dataset.status, "unanswered");
  });

  it("takes back only the stream's own parts on reset", () => {
    const { view, frame } = answer();
    view.showStored(stored({ content: "earlier", tool_calls: [{ id: "c0", name: "f", arguments: "{}" }] }));
    view.beginStream();
    feed(view, delta("later"), call(0, "{}", "c1", "g"));
    frame();
    assert.equal(view.el.querySelectorAll(".tool-call").length, 2);
    view.reset();
    assert.deepEqual(shape(view.el).slice(1, -2).map((s) => s.slice(0, 14)), ["text: earlier", "call c0 unansw", "text: "]);
  });
});

function stored(fields: Partial<StoredMessage>): StoredMessage {
  return {
    id: "m", role: "assistant", content: "", reasoning: "", status: "complete", model: "x",
    stream_id: null, finish_reason: "stop", error_code: null, error_message: null, ...fields,
  };
}

/** A thread as main.ts builds it, without the page around it. */
function thread(messages: StoredMessage[]) {
  const box = document.createElement("div");
  const followed: { streamId: string; stored: StoredMessage[] }[] = [];
  const views: AnswerView[] = [];
  const sink: HistorySink = {
    user: (m) => box.append(Object.assign(document.createElement("article"), { className: "message user", textContent: m.content })),
    newAnswer: () => {
      const view = new AnswerView(() => {}, { regenerate() {}, retry() {} }, () => {});
      views.push(view);
      box.append(view.el);
      return view;
    },
    follow: (streamId, _view, s) => followed.push({ streamId, stored: s }),
  };
  showHistory(messages, sink);
  return { box, followed, views };
}

describe("tool calls from history", () => {
  const turn: StoredMessage[] = [
    stored({ role: "user", content: "Weather in Paris and the time?" }),
    stored({
      content: "Let me check.", finish_reason: "tool_calls",
      tool_calls: [
        { id: "call_w", name: "weather", arguments: '{"city":"巴黎 🌍"}' },
        { id: "call_t", name: "time", arguments: '{"tz":"Europe/Paris"}' },
      ],
    }),
    stored({ role: "tool", tool_call_id: "call_w", content: "sunny, 25°C", is_error: false }),
    stored({ role: "tool", tool_call_id: "call_t", content: "timeout", is_error: true }),
    stored({ content: "It is sunny." }),
  ];

  it("renders the same as the stream did: calls on the answer, results folded in, no tool bubbles", () => {
    const { box } = thread(turn);
    assert.deepEqual(Array.from(box.children, (c) => c.className), ["message user", "message assistant"]);
    const live = answer();
    feed(live.view, delta("Let me check."), call(0, "", "call_w", "weather"), call(1, "", "call_t", "time"),
      call(0, '{"city":"巴黎 🌍"}'), call(1, '{"tz":"Europe/Paris"}'),
      result("call_w", "sunny, 25°C"), result("call_t", "timeout", true), delta("It is sunny."), done("stop"));
    const fromHistory = box.children[1]!;
    assert.deepEqual(shape(fromHistory), shape(live.view.el));
    assert.equal(fromHistory.getAttribute("data-state"), "done");
    assert.equal(fromHistory.querySelector(".state")?.textContent, "");
  });

  it("waits for results a stored turn asked for and never got", () => {
    const { box } = thread(turn.slice(0, 2));
    const article = box.querySelector<HTMLElement>("article.assistant")!;
    assert.equal(article.dataset.state, "tool_calls");
    assert.deepEqual(Array.from(article.querySelectorAll<HTMLElement>(".tool-call"), (c) => c.dataset.status),
      ["waiting", "waiting"]);
    assert.equal(article.querySelector<HTMLElement>(".state .waiting")?.hidden, false);
    const answered = thread(turn.slice(0, 4)).box.querySelector("article.assistant")!;
    assert.equal(answered.querySelector<HTMLElement>(".state .waiting")?.hidden, true);
  });

  it("keeps hostile stored calls and results inert", () => {
    const { box } = thread([
      stored({ finish_reason: "tool_calls", tool_calls: [{ id: "h", name: HOSTILE, arguments: JSON.stringify({ x: HOSTILE }) }] }),
      stored({ role: "tool", tool_call_id: "h", content: HOSTILE }),
    ]);
    assert.equal(box.querySelector("img"), null);
    assert.equal(box.querySelector(".tool-call .name")?.textContent, HOSTILE);
    assert.equal(box.querySelector(".tool-call .result")?.textContent, HOSTILE);
    assert.equal(box.querySelector<HTMLDetailsElement>(".tool-call")?.open, false, "stored calls start folded");
  });

  it("leaves a stream still being written to its replay, shown once", () => {
    const messages = [
      stored({ role: "user", content: "q" }),
      stored({ stream_id: "s1", finish_reason: "tool_calls", tool_calls: [{ id: "c1", name: "f", arguments: "{}" }] }),
      stored({ role: "tool", tool_call_id: "c1", content: "r" }),
      stored({ stream_id: "s1", status: "streaming", finish_reason: null }),
    ];
    const { box, followed, views } = thread(messages);
    assert.equal(views.length, 1);
    assert.equal(box.querySelector(".tool-call"), null, "the replay brings the call");
    assert.deepEqual(followed.map((f) => [f.streamId, f.stored.length]), [["s1", 3]]);
  });
});

describe("prettyJson", () => {
  it("re-indents without re-serialising, and refuses what is not JSON", () => {
    assert.equal(prettyJson('{"a":[],"b":{},"s":"x,{:}\\"","n":1.50}'),
      '{\n  "a": [],\n  "b": {},\n  "s": "x,{:}\\"",\n  "n": 1.50\n}');
    assert.equal(prettyJson('{"k":1,"k":2}'), '{\n  "k": 1,\n  "k": 2\n}');
    assert.equal(prettyJson("[1, [2, 3]]"), "[\n  1,\n  [\n    2,\n    3\n  ]\n]");
    assert.equal(prettyJson('"just a string"'), '"just a string"');
    for (const bad of ["", "{", "{'a':1}", "nope"]) assert.equal(prettyJson(bad), null);
  });
});
