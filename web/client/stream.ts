/**
 * The one event-handling path behind every transport: order and de-duplicate by `seq`, learn the
 * stream id, and when a connection drops, stalls or ends early, resume after the last seq seen,
 * with backoff and jitter. The prompt is never sent twice; a 4xx is final.
 */

import { backoffDelay } from "./backoff.js";
import type { Connection } from "./channel.js";
import { ConnectionLost, TokenwireError } from "./errors.js";
import { isTerminal, type StreamEvent, type TerminalEvent } from "./events.js";
import { storedEnding } from "./stored.js";
import type { StoredMessage } from "./client.js";
import type { Transport } from "./transport.js";

export type StreamStatus =
  | { state: "connecting" }
  | { state: "streaming" }
  | { state: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { state: "finished"; terminal: TerminalEvent }
  | { state: "failed"; error: TokenwireError };

export interface StreamOptions {
  /** Reconnect when nothing (not even a keepalive) arrived for this long. */
  idleTimeoutMs: number;
  /** Give up when reconnecting has failed for this long since the last event. */
  giveUpAfterMs: number;
  maxDelayMs: number;
  /** The reconnection time before the server sends `retry:`. */
  retryMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  idleTimeoutMs: 45_000,
  giveUpAfterMs: 300_000,
  maxDelayMs: 30_000,
  retryMs: 1_000,
};

export interface StreamHandlers {
  onEvent?: (event: StreamEvent) => void;
  onStatus?: (status: StreamStatus) => void;
}

export class ChatStream {
  /** Known from the `X-Stream-Id` header or the `start` event. */
  streamId: string | undefined;
  conversationId: string | undefined;
  /** The seq of the last event delivered: a resume asks for what follows it. */
  lastSeq = 0;
  /** Resolves with the terminal event; rejects with a final TokenwireError. */
  readonly finished: Promise<TerminalEvent>;
  private settle!: { resolve: (t: TerminalEvent) => void; reject: (e: TokenwireError) => void };
  private connection: Connection | null = null;
  private stopped = false;
  private wakeSleep: (() => void) | null = null;
  private retryMs: number;
  private readonly handlers: StreamHandlers[] = [];
  /** Read from seq 1: only then is all the text received known, to finish from the store. */
  private seenFromStart = false;
  private textLength = 0;
  private reasoningLength = 0;
  /** @internal Loads a conversation's stored messages: the way out of a 410 `stream_expired`. */
  loadStored: ((conversationId: string) => Promise<StoredMessage[]>) | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly options: StreamOptions,
    handlers: StreamHandlers = {},
  ) {
    this.retryMs = options.retryMs;
    this.handlers.push(handlers);
    this.finished = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.finished.catch(() => {}); // a caller that only uses handlers must not see an unhandled rejection
  }

  /** Also call these handlers from now on. */
  on(handlers: StreamHandlers): this {
    this.handlers.push(handlers);
    return this;
  }

  /**
   * The events, in order, for `for await`; ends after the terminal event and throws a final
   * TokenwireError. Start iterating before awaiting anything else, or earlier events are missed.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<StreamEvent, void, undefined> {
    const queue: StreamEvent[] = [];
    let wake: (() => void) | null = null;
    let over = false;
    this.on({ onEvent: (event) => (queue.push(event), wake?.()) });
    void this.finished.finally(() => ((over = true), wake?.())).catch(() => {});
    for (;;) {
      const event = queue.shift();
      if (event) {
        yield event;
        continue;
      }
      if (over) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    await this.finished; // rethrows a final failure
  }

  /** Stop reading (the generation goes on, on the server: use `cancel` on the client to stop it). */
  abort(): void {
    this.stopped = true;
    this.connection?.close();
    this.wakeSleep?.();
  }

  /** Resume reading after `lastSeq` now, skipping any backoff (e.g. a "retry" button). */
  reconnectNow(): void {
    this.wakeSleep?.();
  }

  /** @internal */
  async run(open: () => Connection, streamId?: string, after = 0): Promise<void> {
    this.streamId = streamId;
    this.lastSeq = after;
    this.seenFromStart = after === 0;
    let attempt = 0;
    let lastProgress = Date.now();
    this.status({ state: "connecting" });
    for (;;) {
      try {
        this.connection = open();
        const terminal = await this.read(this.connection, () => {
          attempt = 0;
          lastProgress = Date.now();
        });
        this.connection.close();
        this.status({ state: "finished", terminal });
        this.settle.resolve(terminal);
        return;
      } catch (error) {
        this.connection?.close();
        const failure = error instanceof TokenwireError ? error : new ConnectionLost(String(error));
        if (this.stopped) return this.fail(new TokenwireError("aborted", "reading was stopped"));
        if (failure.code === "stream_expired" && (await this.finishFromStore())) return;
        if (!failure.retryable) return this.fail(failure);
        if (this.streamId === undefined) {
          // The chat may or may not have started: sending the prompt again could ask twice.
          return this.fail(new TokenwireError("not_started", `could not start: ${failure.message}`));
        }
        if (Date.now() - lastProgress > this.options.giveUpAfterMs) {
          return this.fail(new TokenwireError("disconnected", "the connection could not be restored"));
        }
        const delayMs = backoffDelay(attempt, this.retryMs, this.options);
        this.status({ state: "reconnecting", attempt: ++attempt, delayMs, reason: failure.message });
        await this.sleep(delayMs);
        if (this.stopped) return this.fail(new TokenwireError("aborted", "reading was stopped"));
        const id = this.streamId;
        open = () => this.transport.resume(id, this.lastSeq);
      }
    }
  }

  private async read(connection: Connection, progress: () => void): Promise<TerminalEvent> {
    let streaming = false;
    for (;;) {
      const item = await connection.next(this.options.idleTimeoutMs);
      if (item === "end") throw new ConnectionLost("the stream ended before its terminal event");
      if (item === "idle") throw new ConnectionLost("the stream went silent");
      if (item.kind === "retry") this.retryMs = item.ms;
      if (item.kind === "stream") this.streamId ??= item.streamId;
      if (item.kind !== "event" && item.kind !== "skip") continue;
      const seq = item.kind === "event" ? item.event.seq : item.seq;
      if (seq <= this.lastSeq) continue; // already shown: a resume overlapped
      if (seq !== this.lastSeq + 1) {
        throw new ConnectionLost(`events ${this.lastSeq + 1}–${seq - 1} went missing`);
      }
      if (item.kind === "skip") {
        // An event this client cannot use (a newer protocol's type): its seq is noted, nothing shown.
        this.lastSeq = seq;
        progress();
        continue;
      }
      const event = item.event;
      if (event.type === "start") {
        this.streamId ??= event.stream_id;
        this.conversationId = event.conversation_id;
      }
      this.lastSeq = event.seq;
      if (event.type === "delta") this.textLength += event.text.length;
      else if (event.type === "reasoning") this.reasoningLength += event.text.length;
      progress();
      if (!streaming) {
        streaming = true;
        this.status({ state: "streaming" });
      }
      for (const h of this.handlers) h.onEvent?.(event);
      if (isTerminal(event)) return event;
    }
  }

  /** After a 410 `stream_expired`: deliver the rest of the answer from the store, if it can. */
  private async finishFromStore(): Promise<boolean> {
    const { loadStored, conversationId, streamId } = this;
    if (!loadStored || !conversationId || !streamId || !this.seenFromStart) return false;
    let messages: StoredMessage[];
    try {
      messages = await loadStored(conversationId);
    } catch {
      return false; // the 410 stays the answer
    }
    const events = storedEnding(messages, {
      streamId,
      lastSeq: this.lastSeq,
      textLength: this.textLength,
      reasoningLength: this.reasoningLength,
    });
    for (const event of events) {
      this.lastSeq = event.seq;
      for (const h of this.handlers) h.onEvent?.(event);
    }
    const terminal = events.at(-1) as TerminalEvent;
    this.status({ state: "finished", terminal });
    this.settle.resolve(terminal);
    return true;
  }

  private fail(error: TokenwireError): void {
    this.status({ state: "failed", error });
    this.settle.reject(error);
  }

  private status(status: StreamStatus): void {
    for (const h of this.handlers) h.onStatus?.(status);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeSleep = null;
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}
