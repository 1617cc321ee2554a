/**
 * Incremental markdown: text arrives in pieces of any size; the DOM is brought up to date at most
 * once per animation frame. Blocks that can no longer change are rendered once, highlighted and
 * sanitized, and their DOM is never touched again; only the unfinished tail is rendered anew. When
 * the stream ends, the container holds exactly what a one-shot render of the whole text gives.
 */

import { stableCut } from "./blocks.js";
import { createMarkdown, type Markdown, renderOptions } from "./markdown.js";
import { sanitizedFragment } from "./sanitize.js";

export interface RendererOptions {
  /** Called once on each element of a finished block (to add a copy button, say). */
  decorate?: (element: Element) => void;
  /** Called after each paint (to keep the view scrolled to the bottom, say). */
  onPaint?: () => void;
  /** How to wait for the next frame; `requestAnimationFrame` by default. */
  schedule?: (paint: () => void) => void;
}

let shared: Markdown | null = null;
function markdown(): Markdown {
  shared ??= createMarkdown();
  return shared;
}

/** Normalise line endings as markdown-it would, so character offsets agree with its line map. */
class LineEndings {
  private pendingCR = false;
  push(text: string): string {
    if (this.pendingCR && text.startsWith("\n")) text = text.slice(1);
    this.pendingCR = text.endsWith("\r");
    return text.replace(/\r\n?/g, "\n");
  }
}

export class IncrementalRenderer {
  private committedText = "";
  private tail = "";
  private tailNodes: Node[] = [];
  private scheduled = false;
  private finished = false;
  private readonly endings = new LineEndings();
  private readonly md = markdown();
  private readonly schedule: (paint: () => void) => void;

  constructor(
    private readonly container: Element,
    private readonly options: RendererOptions = {},
  ) {
    this.schedule = options.schedule ?? ((paint) => requestAnimationFrame(paint));
  }

  /** The text so far. */
  get text(): string {
    return this.committedText + this.tail;
  }

  append(text: string): void {
    if (this.finished || text === "") return;
    this.tail += this.endings.push(text);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        if (this.scheduled) this.paint();
      });
    }
  }

  /** Bring the DOM up to date now. */
  paint(): void {
    this.scheduled = false;
    if (this.finished) return;
    const env = {};
    const tokens = this.md.parse(this.tail, env);
    const cut = stableCut(tokens, this.tail);
    if (cut) {
      const html = this.md.renderer.render(
        tokens.slice(0, cut.tokenIndex),
        renderOptions(this.md, true),
        env,
      );
      this.insertBlocks(html);
      this.committedText += this.tail.slice(0, cut.charOffset);
      this.tail = this.tail.slice(cut.charOffset);
      tokens.splice(0, cut.tokenIndex);
      // The remaining tokens' line numbers are off by the cut, but rendering does not use them.
    }
    // Shown only, never committed: an unclosed `**` or backtick is closed so it reads as intended.
    const shown = closeDangling(this.tail);
    const tailTokens = shown === this.tail ? tokens : this.md.parse(shown, {});
    this.replaceTail(this.md.renderer.render(tailTokens, renderOptions(this.md, false), env));
    this.options.onPaint?.();
  }

  /** The stream ended: render the tail as final, highlighted, exactly as a one-shot render would. */
  finish(): void {
    if (this.finished) return;
    this.scheduled = false;
    const html = this.md.render(this.tail);
    this.removeTail();
    this.insertBlocks(html);
    this.committedText += this.tail;
    this.tail = "";
    this.finished = true;
    this.options.onPaint?.();
  }

  private insertBlocks(html: string): void {
    const fragment = sanitizedFragment(html, this.container.ownerDocument);
    const elements = Array.from(fragment.children);
    this.container.insertBefore(fragment, this.tailNodes[0] ?? null);
    if (this.options.decorate) for (const el of elements) this.options.decorate(el);
  }

  private replaceTail(html: string): void {
    this.removeTail();
    const fragment = sanitizedFragment(html, this.container.ownerDocument);
    this.tailNodes = Array.from(fragment.childNodes);
    this.container.appendChild(fragment);
  }

  private removeTail(): void {
    for (const node of this.tailNodes) node.parentNode?.removeChild(node);
    this.tailNodes = [];
  }
}

const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/gm;

/**
 * The tail as it is best shown while it grows: an unclosed inline code span or `**` in its last
 * paragraph closed, and a table header whose delimiter row has not arrived shown as a table.
 */
export function closeDangling(tail: string): string {
  if ((tail.match(FENCE_LINE)?.length ?? 0) % 2 === 1) return tail; // an open fence shows as code
  const start = tail.lastIndexOf("\n\n") + 1;
  const paragraph = tail.slice(start).replace(/^\n/, "");
  const table = tableHeaderOnly(paragraph);
  if (table !== null) return tail.slice(0, tail.length - paragraph.length) + table;
  let closer = "";
  if ((paragraph.match(/`/g)?.length ?? 0) % 2 === 1) closer = "`";
  else if ((paragraph.replace(/`[^`]*`/g, "").match(/\*\*/g)?.length ?? 0) % 2 === 1) closer = "**";
  if (!closer) return tail;
  const body = tail.trimEnd();
  return body + closer + tail.slice(body.length);
}

const TABLE_ROW = /^ {0,3}\|.*\|\s*$/;
const PARTIAL_DELIMITER = /^ {0,3}\|?[\s:|-]*$/;

/** A header row alone, or with part of its delimiter row: the same with a full delimiter row. */
function tableHeaderOnly(paragraph: string): string | null {
  const lines = paragraph.replace(/\n$/, "").split("\n");
  const header = lines[0] ?? "";
  if (lines.length > 2 || !TABLE_ROW.test(header)) return null;
  if (lines.length === 2 && !PARTIAL_DELIMITER.test(lines[1]!)) return null;
  const cells = header.trim().replace(/^\||\|$/g, "").split("|").length;
  return `${header}\n|${" --- |".repeat(cells)}\n`;
}

/** One render of a whole text: the reference the incremental renderer must match. */
export function renderMarkdown(text: string, container: Element, options: RendererOptions = {}): void {
  const md = markdown();
  const fragment = sanitizedFragment(
    md.render(new LineEndings().push(text)),
    container.ownerDocument,
  );
  const elements = Array.from(fragment.children);
  container.replaceChildren(fragment);
  if (options.decorate) for (const el of elements) options.decorate(el);
}
