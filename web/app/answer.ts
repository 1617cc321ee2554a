/**
 * One assistant answer on screen: reasoning apart, then the answer's parts in stream order (its
 * markdown text, cut into a new segment wherever a tool call comes between, and the tool calls),
 * then its state and actions. Every change waits for the view's next animation frame.
 */

import {
  type StoredMessage,
  type StreamEvent,
  type StreamStatus,
  type ToolCall,
  ToolCallAccumulator,
  type ToolCallEvent,
} from "../client/index.js";
import { IncrementalRenderer, renderMarkdown } from "../render/index.js";
import { copyText, h } from "./dom.js";
import { FrameQueue } from "./frame.js";
import { ToolCallView } from "./tool-call.js";

export interface AnswerActions {
  regenerate(): void;
  retry(view: AnswerView): void;
}

/** What of a stored assistant or tool message the view shows. */
export type StoredPart = Pick<
  StoredMessage,
  "content" | "reasoning" | "status" | "finish_reason" | "error_message" | "tool_calls"
>;

const WAITING_NOTE = "Waiting for tool results: the model asked for tools to be run, and this app does not run them.";

export class AnswerView {
  readonly el: HTMLElement;
  private readonly reasoning: HTMLDetailsElement;
  private readonly reasoningText: Text;
  private readonly state: HTMLElement;
  private readonly actions: HTMLElement;
  private readonly frame: FrameQueue;
  /** The text segments and tool calls, in stream order. */
  private parts: HTMLElement[] = [];
  /** The segment the next text goes to, and its renderer; null once a tool call follows it. */
  private segment: HTMLElement | null = null;
  private renderer: IncrementalRenderer | null = null;
  private tools = new ToolCallAccumulator();
  private readonly callViews = new Map<ToolCall, ToolCallView>();
  private readonly byId = new Map<string, ToolCallView>();
  private readonly dirty = new Set<ToolCallView>();
  private pendingReasoning = "";
  /** Where the stream being read began (parts, reasoning length): what `reset` takes back. */
  private checkpoint = { parts: 0, reasoning: 0 };

  constructor(
    private readonly onPaint: () => void,
    private readonly handlers: AnswerActions,
    schedule: (run: () => void) => void = (run) => requestAnimationFrame(run),
  ) {
    this.frame = new FrameQueue(schedule, onPaint);
    this.reasoningText = document.createTextNode("");
    this.reasoning = h(
      "details",
      { class: "reasoning", hidden: true },
      h("summary", {}, "Reasoning"),
      h("div", { class: "reasoning-text" }, this.reasoningText),
    );
    this.state = h("div", { class: "state", role: "status" });
    this.actions = h("div", { class: "actions" });
    this.el = h("article", { class: "message assistant", "data-state": "streaming" },
      this.reasoning, this.state, this.actions);
    this.openText(true);
  }

  /** A stream is about to be read into this view (after what it already shows, if anything). */
  beginStream(): void {
    this.frame.flush();
    if (!this.renderer || this.renderer.text !== "") this.closeText();
    this.checkpoint = {
      parts: this.segment ? this.parts.indexOf(this.segment) : this.parts.length,
      reasoning: this.reasoningText.length,
    };
    this.tools = new ToolCallAccumulator();
    this.el.dataset.state = "streaming";
    this.state.replaceChildren();
    this.actions.replaceChildren();
  }

  /** Start the stream over (a resume from its beginning replaces what it showed so far). */
  reset(): void {
    this.frame.flush();
    for (const part of this.parts.splice(this.checkpoint.parts)) part.remove();
    for (const [call, view] of this.callViews) {
      if (this.parts.includes(view.el)) continue;
      this.callViews.delete(call);
      if (this.byId.get(view.id) === view) this.byId.delete(view.id);
    }
    this.reasoningText.data = this.reasoningText.data.slice(0, this.checkpoint.reasoning);
    this.reasoning.hidden = this.reasoningText.length === 0;
    this.pendingReasoning = "";
    this.segment = null;
    this.renderer = null;
    this.tools = new ToolCallAccumulator();
    this.openText(true);
  }

  /** A stored assistant message: shown whole at once, after what the view shows already. */
  showStored(message: StoredPart): void {
    this.frame.flush();
    if (message.reasoning) {
      this.reasoningText.appendData(message.reasoning);
      this.reasoning.hidden = false;
    }
    if (message.content) {
      if (!this.renderer || this.renderer.text !== "") {
        this.closeText();
        this.openText();
      }
      renderMarkdown(message.content, this.segment!, { decorate });
      this.segment = null;
      this.renderer = null;
    }
    const waiting = message.finish_reason === "tool_calls";
    for (const [index, stored] of (message.tool_calls ?? []).entries()) {
      const args: unknown = stored.arguments;
      const view = this.addCall({
        index,
        id: String(stored.id ?? ""),
        name: String(stored.name ?? ""),
        // The whole JSON string, as the protocol says; an object is shown as its JSON all the same.
        arguments: typeof args === "string" ? args : JSON.stringify(args ?? ""),
      }, false);
      view.complete = true;
      view.ending = waiting ? "waiting" : "unanswered";
    }
    this.frame.flush();
    const status = message.status;
    this.finishAs(status === "complete" ? (waiting ? "tool_calls" : "done") : status,
      message.error_message);
  }

  /**
   * A stored tool message, folded into the call it answers. False when no call of this view has
   * its id (the caller decides what to do with it).
   */
  showStoredResult(toolCallId: string, content: string, isError: boolean): boolean {
    const view = this.byId.get(toolCallId);
    if (!view) return false;
    view.setResult(content, isError);
    view.paint();
    this.refreshWaiting();
    return true;
  }

  handle(event: StreamEvent): void {
    switch (event.type) {
      case "delta":
        this.openText().append(event.text);
        break;
      case "reasoning":
        this.appendReasoning(event.text);
        break;
      case "tool_call":
        this.toolCall(event);
        break;
      case "tool_result":
        this.closeCalls();
        this.toolResult(event.tool_call_id, event.content, event.is_error);
        break;
      case "done": {
        const waiting = event.finish_reason === "tool_calls";
        this.end(waiting ? "waiting" : "unanswered");
        this.finishAs(waiting ? "tool_calls" : event.finish_reason === "cancelled" ? "cancelled" : "done",
          event.finish_reason === "length" ? "The answer reached its length limit." : null);
        break;
      }
      case "error":
        this.end("unanswered");
        this.finishAs("error", `${event.message} (${event.code})`, event.retryable);
        break;
      default:
    }
  }

  status(status: StreamStatus): void {
    if (status.state === "reconnecting") {
      this.el.dataset.state = "reconnecting";
      this.state.replaceChildren(h("span", { class: "spinner" }), "Reconnecting…");
    } else if (status.state === "streaming" && this.el.dataset.state === "reconnecting") {
      this.el.dataset.state = "streaming";
      this.state.replaceChildren();
    } else if (status.state === "failed" && status.error.code !== "aborted") {
      this.end("unanswered");
      this.finishAs("failed", status.error.message, true);
    }
  }

  /** Only the newest answer offers to regenerate. */
  dropActions(): void {
    this.actions.replaceChildren();
  }

  /** The segment text goes to now, opened after the last part if a tool call closed the last. */
  private openText(now = false): IncrementalRenderer {
    if (this.renderer) return this.renderer;
    const segment = h("div", { class: "markdown tw-markdown" });
    this.segment = segment;
    this.renderer = new IncrementalRenderer(segment, {
      decorate,
      schedule: (paint) => this.frame.request(paint),
    });
    this.place(segment, now);
    return this.renderer;
  }

  /** Text that follows goes after what comes next: the segment is finished (or dropped, empty). */
  private closeText(): void {
    const { segment, renderer } = this;
    if (!segment || !renderer) return;
    this.segment = null;
    this.renderer = null;
    if (renderer.text === "") {
      this.parts.splice(this.parts.indexOf(segment), 1);
      this.frame.request(() => segment.remove());
    } else {
      this.frame.request(() => renderer.finish());
    }
  }

  /** Add a part after the others: in the next frame, or `now` (a view not yet painted). */
  private place(part: HTMLElement, now = false): void {
    this.parts.push(part);
    const insert = () => this.el.insertBefore(part, this.state);
    if (now) insert();
    else this.frame.request(insert);
  }

  private addCall(call: ToolCall, open: boolean): ToolCallView {
    const view = new ToolCallView(call, open);
    this.callViews.set(call, view);
    if (call.id) this.byId.set(call.id, view);
    this.closeText();
    this.place(view.el);
    this.touch(view);
    return view;
  }

  private toolCall(event: ToolCallEvent): void {
    const call = this.tools.add(event);
    const view = this.callViews.get(call) ?? this.addCall(call, true);
    if (call.id && !this.byId.has(call.id)) this.byId.set(call.id, view);
    this.touch(view);
  }

  private toolResult(id: string, content: string, isError: boolean): void {
    // A result for a call this view never saw (its pieces were not in the stream) still shows.
    const view = this.byId.get(id) ?? this.addCall({ index: -1, id, name: "", arguments: "" }, true);
    view.setResult(content, isError);
    this.touch(view);
  }

  /** The calls still open are whole now. */
  private closeCalls(): void {
    for (const call of this.tools.close()) {
      const view = this.callViews.get(call);
      if (!view) continue;
      view.complete = true;
      this.touch(view);
    }
  }

  /** The stream is over: what has no result will get none from it; show it all now. */
  private end(ending: "waiting" | "unanswered"): void {
    this.closeCalls();
    for (const view of this.callViews.values()) {
      if (view.answered || view.ending !== null) continue;
      view.complete = true;
      view.ending = ending;
      this.touch(view);
    }
    this.closeText();
    this.frame.flush();
  }

  private touch(view: ToolCallView): void {
    if (this.dirty.size === 0) {
      this.frame.request(() => {
        for (const v of this.dirty) v.paint();
        this.dirty.clear();
      });
    }
    this.dirty.add(view);
  }

  private appendReasoning(text: string): void {
    if (this.pendingReasoning === "") {
      this.frame.request(() => {
        this.reasoning.hidden = false;
        this.reasoningText.appendData(this.pendingReasoning);
        this.pendingReasoning = "";
      });
    }
    this.pendingReasoning += text;
  }

  /** The note under a turn that ended for tools to be run, while a call has no result. */
  private refreshWaiting(): void {
    const note = this.state.querySelector<HTMLElement>(".waiting");
    if (note) note.hidden = ![...this.callViews.values()].some((v) => v.status() === "waiting");
  }

  private finishAs(state: string, note: string | null, retry = false): void {
    this.el.dataset.state = state;
    const parts: (Node | string)[] = [];
    if (state === "cancelled") parts.push("Stopped.");
    if (state === "interrupted") parts.push("The server stopped before this answer was finished.");
    if (state === "tool_calls") parts.push(h("span", { class: "waiting" }, WAITING_NOTE));
    if (note) parts.push(h("span", { class: "error-text" }, note));
    if (retry) {
      const button = h("button", { type: "button", class: "retry" }, "Retry");
      button.addEventListener("click", () => this.handlers.retry(this));
      parts.push(" ", button);
    }
    this.state.replaceChildren(...parts);
    if (state === "tool_calls") this.refreshWaiting();
    const regenerate = h("button", { type: "button", class: "regenerate" }, "↻ Regenerate");
    regenerate.addEventListener("click", () => this.handlers.regenerate());
    this.actions.replaceChildren(regenerate);
    this.onPaint();
  }
}

/** Add a copy button to each finished code block (called once per block, never again). */
function decorate(element: Element): void {
  if (element.tagName !== "PRE") return;
  const button = h("button", { type: "button", class: "copy", title: "Copy code" }, "Copy");
  button.addEventListener("click", () => {
    void copyText(element.querySelector("code")?.textContent ?? "").then(() => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    });
  });
  element.append(button);
}
