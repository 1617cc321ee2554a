/** A push-to-pull queue: transports push what they read, the stream loop pulls with a deadline. */

import { decodeEvent, type StreamEvent } from "./events.js";

/**
 * What one connection yields: events, events to skip (their seq only), the stream's id as soon
 * as it is known, signs of life.
 */
export type WireItem =
  | { kind: "event"; event: StreamEvent }
  | { kind: "skip"; seq: number }
  | { kind: "stream"; streamId: string }
  | { kind: "alive" }
  | { kind: "retry"; ms: number };

/** The item a decoded JSON value stands for: anything that is not an event is a sign of life. */
export function wireItem(value: unknown): WireItem {
  const decoded = decodeEvent(value);
  if (decoded === null) return { kind: "alive" };
  return "event" in decoded ? { kind: "event", event: decoded.event } : { kind: "skip", seq: decoded.skip };
}

/** One attempt at reading a stream; `close` ends it from the reader's side. */
export interface Connection {
  next(timeoutMs: number): Promise<WireItem | "end" | "idle">;
  close(): void;
}

export class Channel implements Connection {
  private items: WireItem[] = [];
  private failure: Error | null = null;
  private ended = false;
  private wake: (() => void) | null = null;
  private onClose: (() => void)[] = [];

  push(item: WireItem): void {
    if (this.ended || this.failure) return;
    this.items.push(item);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: Error): void {
    if (this.ended || this.failure) return;
    this.failure = error;
    this.notify();
  }

  get closed(): boolean {
    return this.ended || this.failure !== null;
  }

  /** Forward everything `source` yields into this channel, until either side ends. */
  async pipeFrom(source: Connection): Promise<void> {
    this.whenClosed(() => source.close());
    try {
      for (;;) {
        const item = await source.next(2 ** 30);
        if (item === "end") return this.end();
        if (item !== "idle") this.push(item);
        if (this.closed) return;
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Run `fn` when the reader closes this connection (to abort a fetch, unsubscribe…). */
  whenClosed(fn: () => void): void {
    this.onClose.push(fn);
  }

  close(): void {
    if (this.ended && this.onClose.length === 0) return;
    this.ended = true;
    const fns = this.onClose;
    this.onClose = [];
    for (const fn of fns) fn();
    this.notify();
  }

  async next(timeoutMs: number): Promise<WireItem | "end" | "idle"> {
    for (;;) {
      const item = this.items.shift();
      if (item) return item;
      if (this.failure) throw this.failure;
      if (this.ended) return "end";
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = null;
      if (!woke) return "idle";
    }
  }

  private notify(): void {
    this.wake?.();
  }
}
