/**
 * One tool call inside an answer: its name, its arguments as they stream (raw text while partial,
 * pretty-printed once whole and valid JSON), then its result. Everything in it is the model's or
 * a tool's output, so it is only ever text: Text nodes and textContent, never HTML, no markdown.
 */

import type { ToolCall } from "../client/index.js";
import { h } from "./dom.js";

/**
 * `streaming`: arguments still arriving · `called`: whole, the server runs the tool · `waiting`:
 * the turn ended for the caller to run it · `done` / `error`: its result came · `unanswered`: the
 * stream ended another way without a result.
 */
export type ToolCallStatus = "streaming" | "called" | "waiting" | "done" | "error" | "unanswered";

const STATUS_TEXT: Record<ToolCallStatus, string> = {
  streaming: "…",
  called: "running…",
  waiting: "waiting for result",
  done: "",
  error: "failed",
  unanswered: "no result",
};

export class ToolCallView {
  readonly el: HTMLDetailsElement;
  /** Whether all of the call's arguments have come. */
  complete = false;
  /** How the stream ended for a call that got no result. */
  ending: "waiting" | "unanswered" | null = null;
  private result: { content: string; isError: boolean } | null = null;
  private readonly nameEl: HTMLElement;
  private readonly statusEl: HTMLElement;
  private readonly argsEl: HTMLElement;
  private readonly argsText: Text;
  private readonly resultEl: HTMLElement;
  /** How much of the arguments the page shows: each frame appends only what is new. */
  private shown = 0;
  private argsFinal = false;

  /** `call` is the accumulator's own object, which keeps growing; `open` unfolds it. */
  constructor(
    private readonly call: ToolCall,
    open: boolean,
  ) {
    this.nameEl = h("span", { class: "name" });
    this.statusEl = h("span", { class: "tool-status" });
    this.argsText = document.createTextNode("");
    this.argsEl = h("pre", { class: "arguments", "data-format": "raw" }, this.argsText);
    this.resultEl = h("pre", { class: "result", hidden: true });
    this.el = h(
      "details",
      { class: "tool-call", open },
      h("summary", {}, h("span", { class: "label" }, "Tool"), " ", this.nameEl, " ", this.statusEl),
      this.argsEl,
      this.resultEl,
    );
  }

  get id(): string {
    return this.call.id;
  }

  get answered(): boolean {
    return this.result !== null;
  }

  setResult(content: string, isError: boolean): void {
    this.result = { content, isError };
    this.complete = true;
  }

  status(): ToolCallStatus {
    if (this.result) return this.result.isError ? "error" : "done";
    if (!this.complete) return "streaming";
    return this.ending ?? "called";
  }

  /** Bring the element up to date (in a frame, or at once for a stored call). */
  paint(): void {
    const { el, call } = this;
    if (call.id) el.dataset.toolCallId = call.id;
    if (call.index >= 0) el.dataset.index = String(call.index);
    if (call.name) el.dataset.name = call.name;
    if (this.nameEl.textContent !== call.name) this.nameEl.textContent = call.name;
    const status = this.status();
    el.dataset.status = status;
    this.statusEl.textContent = STATUS_TEXT[status];
    this.paintArguments();
    if (this.result && this.resultEl.hidden) {
      this.resultEl.textContent = this.result.content;
      if (this.result.isError) this.resultEl.dataset.error = "true";
      this.resultEl.hidden = false;
    }
  }

  private paintArguments(): void {
    if (this.argsFinal) return;
    const text = this.call.arguments;
    if (!this.complete) {
      if (text.length > this.shown) this.argsText.appendData(text.slice(this.shown));
      this.shown = text.length;
      return;
    }
    this.argsFinal = true;
    const pretty = prettyJson(text);
    this.argsText.data = pretty ?? text;
    this.argsEl.dataset.format = pretty === null ? "raw" : "json";
  }
}

/**
 * Valid JSON re-indented, or null when it is not valid JSON. Strings and numbers are copied as they
 * came, never re-serialised: a big integer keeps its digits, and a duplicate key stays visible.
 */
export function prettyJson(text: string): string | null {
  if (text.trim() === "") return null;
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  let out = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  const newline = (): string => "\n" + "  ".repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        out += c;
        break;
      case "{":
      case "[": {
        const next = nextToken(text, i + 1);
        if (text[next] === (c === "{" ? "}" : "]")) {
          out += c + text[next]; // an empty object or array stays on its line
          i = next;
        } else {
          depth++;
          out += c + newline();
        }
        break;
      }
      case "}":
      case "]":
        depth--;
        out += newline() + c;
        break;
      case ",":
        out += "," + newline();
        break;
      case ":":
        out += ": ";
        break;
      case " ":
      case "\t":
      case "\n":
      case "\r":
        break;
      default:
        out += c;
    }
  }
  return out;
}

function nextToken(text: string, from: number): number {
  let i = from;
  while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  return i;
}
