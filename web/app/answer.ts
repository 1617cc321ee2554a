/** One assistant message on screen: reasoning apart, the markdown answer, its state and actions. */

import type { StreamEvent, StreamStatus } from "../client/index.js";
import { IncrementalRenderer, renderMarkdown } from "../render/index.js";
import { copyText, h } from "./dom.js";

export interface AnswerActions {
  regenerate(): void;
  retry(view: AnswerView): void;
}

export class AnswerView {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly reasoning: HTMLDetailsElement;
  private readonly reasoningText: Text;
  private readonly state: HTMLElement;
  private readonly actions: HTMLElement;
  private renderer: IncrementalRenderer;
  private pendingReasoning = "";
  private reasoningScheduled = false;

  constructor(
    private readonly onPaint: () => void,
    private readonly handlers: AnswerActions,
  ) {
    this.reasoningText = document.createTextNode("");
    this.reasoning = h(
      "details",
      { class: "reasoning", hidden: true },
      h("summary", {}, "Reasoning"),
      h("div", { class: "reasoning-text" }, this.reasoningText),
    );
    this.body = h("div", { class: "markdown" });
    this.state = h("div", { class: "state", role: "status" });
    this.actions = h("div", { class: "actions" });
    this.el = h("article", { class: "message assistant", "data-state": "streaming" },
      this.reasoning, this.body, this.state, this.actions);
    this.renderer = this.newRenderer();
  }

  private newRenderer(): IncrementalRenderer {
    return new IncrementalRenderer(this.body, { decorate, onPaint: this.onPaint });
  }

  /** Start over (a resume from the beginning after a reload replaces the stored partial text). */
  reset(): void {
    this.body.replaceChildren();
    this.reasoningText.data = "";
    this.renderer = this.newRenderer();
  }

  /** A stored, finished message. */
  showStored(content: string, reasoning: string, status: string, error: string | null): void {
    renderMarkdown(content, this.body, { decorate });
    if (reasoning) {
      this.reasoningText.data = reasoning;
      this.reasoning.hidden = false;
    }
    this.finishAs(status === "complete" ? "done" : status, error);
  }

  handle(event: StreamEvent): void {
    switch (event.type) {
      case "delta":
        this.renderer.append(event.text);
        break;
      case "reasoning":
        this.appendReasoning(event.text);
        break;
      case "done":
        this.renderer.finish();
        this.finishAs(event.finish_reason === "cancelled" ? "cancelled" : "done",
          event.finish_reason === "length" ? "The answer reached its length limit." : null);
        break;
      case "error":
        this.renderer.finish();
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
      this.renderer.finish();
      this.finishAs("failed", status.error.message, true);
    }
  }

  private appendReasoning(text: string): void {
    this.reasoning.hidden = false;
    this.pendingReasoning += text;
    if (this.reasoningScheduled) return;
    this.reasoningScheduled = true;
    requestAnimationFrame(() => {
      this.reasoningScheduled = false;
      this.reasoningText.appendData(this.pendingReasoning);
      this.pendingReasoning = "";
      this.onPaint();
    });
  }

  private finishAs(state: string, note: string | null, retry = false): void {
    this.el.dataset.state = state;
    const parts: (Node | string)[] = [];
    if (state === "cancelled") parts.push("Stopped.");
    if (state === "interrupted") parts.push("The server stopped before this answer was finished.");
    if (note) parts.push(h("span", { class: "error-text" }, note));
    if (retry) {
      const button = h("button", { type: "button", class: "retry" }, "Retry");
      button.addEventListener("click", () => this.handlers.retry(this));
      parts.push(" ", button);
    }
    this.state.replaceChildren(...parts);
    const regenerate = h("button", { type: "button", class: "regenerate" }, "↻ Regenerate");
    regenerate.addEventListener("click", () => this.handlers.regenerate());
    this.actions.replaceChildren(regenerate);
    this.onPaint();
  }

  /** Only the newest answer offers to regenerate. */
  dropActions(): void {
    this.actions.replaceChildren();
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
