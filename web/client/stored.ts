/**
 * The end of a stream the server's log has forgotten (a resume answered 410 `stream_expired`),
 * rebuilt from the stored answer: the text past what this client received, then the stored
 * ending. The stream's assistant messages (one per step when the server ran tools) hold all the
 * text it sent.
 */

import type { StoredMessage } from "./client.js";
import type { DoneEvent, StreamEvent, TerminalEvent } from "./events.js";

export interface Received {
  streamId: string;
  lastSeq: number;
  /** How much text and reasoning the stream delivered (JavaScript string lengths). */
  textLength: number;
  reasoningLength: number;
}

const FINISH_REASONS = new Set(["stop", "length", "tool_calls", "cancelled"]);

/** The events after `received.lastSeq` that the stored messages imply, terminal last. */
export function storedEnding(messages: StoredMessage[], received: Received): StreamEvent[] {
  const written = messages.filter(
    (m) => m.role === "assistant" && m.stream_id === received.streamId,
  );
  let seq = received.lastSeq;
  const last = written.at(-1);
  if (!last) {
    const message = "the stream expired and stored no answer";
    return [{ type: "error", seq: seq + 1, code: "stream_expired", message, retryable: false }];
  }
  const events: StreamEvent[] = [];
  const reasoning = joined(written, "reasoning").slice(received.reasoningLength);
  if (reasoning) events.push({ type: "reasoning", seq: ++seq, text: reasoning });
  const text = joined(written, "content").slice(received.textLength);
  if (text) events.push({ type: "delta", seq: ++seq, text });
  events.push(terminal(last, ++seq));
  return events;
}

function joined(messages: StoredMessage[], field: "content" | "reasoning"): string {
  return messages.map((m) => m[field] ?? "").join("");
}

function terminal(message: StoredMessage, seq: number): TerminalEvent {
  if (message.status === "complete") {
    const reason = FINISH_REASONS.has(message.finish_reason ?? "")
      ? (message.finish_reason as DoneEvent["finish_reason"])
      : "stop";
    return { type: "done", seq, finish_reason: reason };
  }
  if (message.status === "cancelled") return { type: "done", seq, finish_reason: "cancelled" };
  if (message.status === "streaming") {
    const text = "the stream expired while its answer was being written";
    return { type: "error", seq, code: "stream_expired", message: text, retryable: false };
  }
  return {
    type: "error",
    seq,
    code: message.error_code ?? "interrupted",
    message: message.error_message ?? "the answer did not finish",
    retryable: false,
  };
}
